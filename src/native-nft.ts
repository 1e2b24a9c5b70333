// The addon's nf_tables surface: expressions, set elements and operations
// as the codec takes them (native/nl/nft.h), and what the kernel lists back.
import type { NativeReply } from './native-reply.js';

/** One nf_tables expression, in the kernel's numbers (see native/nl/nft.h). */
export interface NativeNftExpr {
  expr: 'meta' | 'payload' | 'cmp' | 'bitwise' | 'lookup' | 'immediate' | 'ct' | 'nat' | 'masq' | 'counter' | 'fib';
  dreg?: number;
  sreg?: number;
  key?: number;
  dir?: number;
  base?: number;
  offset?: number;
  len?: number;
  op?: number;
  data?: Buffer;
  verdict?: { code: number; chain?: string };
  mask?: Buffer;
  xor?: Buffer;
  set?: string;
  setId?: number;
  flags?: number;
  natType?: number;
  family?: number;
  regAddrMin?: number;
  regAddrMax?: number;
  regProtoMin?: number;
  regProtoMax?: number;
  result?: number;
}

export interface NativeNftElem {
  key: Buffer;
  keyEnd?: Buffer;
  flags?: number;
  data?: Buffer;
  verdict?: { code: number; chain?: string };
  /** NFTA_SET_ELEM_USERDATA: nft's TLVs (its comment). */
  userdata?: Buffer;
}

/** One change of an nf_tables transaction; which fields apply depends on obj. */
export interface NativeNftOp {
  obj: 'table' | 'chain' | 'set' | 'elems' | 'rule';
  verb: 'add' | 'create' | 'del' | 'destroy';
  family: number;
  table: string;
  /** chain or set name */
  name?: string;
  handle?: number;
  flags?: number;
  hook?: number;
  priority?: number;
  type?: string;
  policy?: number;
  keyType?: number;
  keyLen?: number;
  dataType?: number;
  dataLen?: number;
  fieldLen?: number[];
  id?: number;
  userdata?: Buffer;
  set?: string;
  setId?: number;
  elems?: NativeNftElem[];
  chain?: string;
  position?: number;
  exprs?: NativeNftExpr[];
}

export interface NativeNftResult {
  replies: NativeReply[];
  /** The batch's own answer: errno 85 (ERESTART) when the generation moved. */
  batch: NativeReply;
  /** The generation the transaction committed, when the kernel echoed it. */
  gen: number | null;
  /** Per op: the handle the kernel gave what a NEW op created, else 0. */
  handles: number[];
}

export interface NativeNftTable { family: number; name: string; flags: number; handle: number; use: number }
export interface NativeNftChain {
  family: number;
  table: string;
  name: string;
  handle: number;
  hook?: number;
  priority?: number;
  type?: string;
  policy?: number;
  use: number;
}
export interface NativeNftSet {
  family: number;
  table: string;
  name: string;
  handle: number;
  flags: number;
  keyType: number;
  keyLen: number;
  dataType?: number;
  dataLen?: number;
  fieldLen: number[];
}
export interface NativeNftRule { family: number; table: string; chain: string; handle: number; exprs: string[]; userdata?: Buffer }
