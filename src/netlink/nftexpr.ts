// Rule expressions: a small typed description of the nf_tables expressions
// nsnet's rulesets use (meta, payload, cmp, bitwise, lookup, immediate, ct,
// nat, masq, counter, fib), checked and turned into the addon's shape.
// Registers are the kernel's: NFT_REG_1..4 (16 bytes), NFT_REG32_00..15.
import { ValidationError } from '../errors.js';
import type { NativeNftExpr } from '../native.js';

/** A register: REG.verdict, REG.r1..r4 (16 bytes) or reg32(0..15) (4 bytes, as nft uses). */
export type Reg = number;
export const REG = { verdict: 0, r1: 1, r2: 2, r3: 3, r4: 4 } as const;
export const reg32 = (i: number): Reg => 8 + i;

export type Verdict = 'accept' | 'drop' | 'continue' | 'return' | { jump: string } | { goto: string };

const META = {
  len: 0, protocol: 1, mark: 3, iif: 4, oif: 5, iifname: 6, oifname: 7, iiftype: 8, oiftype: 9, nfproto: 15, l4proto: 16,
  pkttype: 19,
} as const;
export type MetaKey = keyof typeof META;

const CT = {
  state: 0, direction: 1, status: 2, mark: 3, l3protocol: 7, src: 8, dst: 9, protocol: 10, 'proto-src': 11, 'proto-dst': 12,
} as const;
export type CtKey = keyof typeof CT;

const CMP = { eq: 0, neq: 1, lt: 2, lte: 3, gt: 4, gte: 5 } as const;
const PAYLOAD_BASE = { link: 0, network: 1, transport: 2 } as const;
const FIB_FLAGS = { saddr: 1, daddr: 2, mark: 4, iif: 8, oif: 16 } as const;
const FIB_RESULT = { oif: 1, oifname: 2, type: 3 } as const;
const VERDICT = { drop: 0, accept: 1, continue: -1, return: -5 } as const;
const NFPROTO = { ip: 2, ip6: 10 } as const;

/** ct state bits (IP_CT_* as nft's ct_state type), for a bitwise mask on `ct state`. */
export const CT_STATE = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 } as const;
/** ct status bits (IPS_*). */
export const CT_STATUS = { expected: 1, seenReply: 2, assured: 4, confirmed: 8, snat: 16, dnat: 32 } as const;

export type Expr =
  | { expr: 'meta'; key: MetaKey; dreg: Reg }
  | { expr: 'payload'; base: keyof typeof PAYLOAD_BASE; offset: number; len: number; dreg: Reg }
  | { expr: 'cmp'; op: keyof typeof CMP; sreg: Reg; data: Buffer }
  /** dreg = (sreg & mask) ^ xor, over mask.length bytes. */
  | { expr: 'bitwise'; sreg: Reg; dreg: Reg; mask: Buffer; xor: Buffer }
  /** Matches if sreg's key is in the set; with dreg, loads the map's data (a verdict map needs none). */
  | { expr: 'lookup'; set: string; sreg: Reg; dreg?: Reg; invert?: boolean }
  | { expr: 'immediate'; dreg: Reg; data: Buffer }
  | { expr: 'immediate'; verdict: Verdict }
  | { expr: 'ct'; key: CtKey; dreg: Reg; dir?: 'original' | 'reply' }
  | { expr: 'nat'; type: 'snat' | 'dnat'; family: 'ip' | 'ip6'; addr?: Reg; addrMax?: Reg; proto?: Reg; protoMax?: Reg; persistent?: boolean }
  | { expr: 'masq'; proto?: Reg; protoMax?: Reg; random?: boolean; persistent?: boolean }
  | { expr: 'counter' }
  /** Routes the packet (as fib does) and loads the result: `fib daddr type` is { lookup: ['daddr'], result: 'type' }. */
  | { expr: 'fib'; lookup: (keyof typeof FIB_FLAGS)[]; result: keyof typeof FIB_RESULT; dreg: Reg };

function reg(v: unknown, field: string, verdictOk = false): number {
  const ok = typeof v === 'number' && Number.isInteger(v) && ((v >= 1 && v <= 4) || (v >= 8 && v <= 23) || (verdictOk && v === 0));
  if (!ok) throw new ValidationError(field, v, 'must be a data register: 1 to 4, or reg32(0) to reg32(15)');
  return v as number;
}

function key<T extends Record<string, number>>(table: T, v: unknown, field: string): number {
  if (typeof v !== 'string' || !Object.hasOwn(table, v))
    throw new ValidationError(field, v, `must be one of ${Object.keys(table).join(', ')}`);
  return table[v]!;
}

function bytes(v: unknown, field: string, max = 64): Buffer {
  if (!Buffer.isBuffer(v) || v.length === 0 || v.length > max) throw new ValidationError(field, v, `must be a Buffer of 1 to ${max} bytes`);
  return v;
}

function name(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v) > 255 || v.includes('\0'))
    throw new ValidationError(field, v, 'must be a name of 1 to 255 bytes');
  return v;
}

/** A verdict as the kernel codes it (NF_ACCEPT, NFT_JUMP ... with its chain). */
export function verdictCode(v: unknown, field: string): { code: number; chain?: string } {
  if (typeof v === 'string') return { code: key(VERDICT, v, field) };
  if (v && typeof v === 'object') {
    if ('jump' in v) return { code: -3, chain: name((v as { jump: unknown }).jump, `${field}.jump`) };
    if ('goto' in v) return { code: -4, chain: name((v as { goto: unknown }).goto, `${field}.goto`) };
  }
  throw new ValidationError(field, v, "must be 'accept', 'drop', 'continue', 'return', { jump } or { goto }");
}

/** Checks one expression and converts it for the addon. */
export function toNativeExpr(e: Expr, field: string): NativeNftExpr {
  if (!e || typeof e !== 'object') throw new ValidationError(field, e, 'must be an expression object');
  switch (e.expr) {
    case 'meta':
      return { expr: 'meta', key: key(META, e.key, `${field}.key`), dreg: reg(e.dreg, `${field}.dreg`) };
    case 'payload': {
      const offset = e.offset, len = e.len;
      if (!Number.isInteger(offset) || offset < 0 || offset > 255) throw new ValidationError(`${field}.offset`, offset, 'must be 0 to 255');
      if (!Number.isInteger(len) || len < 1 || len > 64) throw new ValidationError(`${field}.len`, len, 'must be 1 to 64');
      return { expr: 'payload', base: key(PAYLOAD_BASE, e.base, `${field}.base`), offset, len, dreg: reg(e.dreg, `${field}.dreg`) };
    }
    case 'cmp':
      return { expr: 'cmp', op: key(CMP, e.op, `${field}.op`), sreg: reg(e.sreg, `${field}.sreg`), data: bytes(e.data, `${field}.data`) };
    case 'bitwise': {
      const mask = bytes(e.mask, `${field}.mask`);
      const xor = bytes(e.xor, `${field}.xor`);
      if (xor.length !== mask.length) throw new ValidationError(`${field}.xor`, xor, 'must be as long as mask');
      return { expr: 'bitwise', sreg: reg(e.sreg, `${field}.sreg`), dreg: reg(e.dreg, `${field}.dreg`), len: mask.length, mask, xor };
    }
    case 'lookup': {
      const out: NativeNftExpr = { expr: 'lookup', set: name(e.set, `${field}.set`), sreg: reg(e.sreg, `${field}.sreg`) };
      if (e.dreg !== undefined) out.dreg = reg(e.dreg, `${field}.dreg`, true);
      if (e.invert) out.flags = 1; // NFT_LOOKUP_F_INV
      return out;
    }
    case 'immediate':
      if ('verdict' in e) return { expr: 'immediate', dreg: 0, verdict: verdictCode(e.verdict, `${field}.verdict`) };
      return { expr: 'immediate', dreg: reg(e.dreg, `${field}.dreg`), data: bytes(e.data, `${field}.data`, 16) };
    case 'ct': {
      const out: NativeNftExpr = { expr: 'ct', key: key(CT, e.key, `${field}.key`), dreg: reg(e.dreg, `${field}.dreg`) };
      if (e.dir !== undefined) out.dir = key({ original: 0, reply: 1 }, e.dir, `${field}.dir`);
      return out;
    }
    case 'nat': {
      const out: NativeNftExpr = {
        expr: 'nat',
        natType: key({ snat: 0, dnat: 1 }, e.type, `${field}.type`),
        family: key(NFPROTO, e.family, `${field}.family`),
      };
      if (e.addr !== undefined) out.regAddrMin = reg(e.addr, `${field}.addr`);
      if (e.addrMax !== undefined) out.regAddrMax = reg(e.addrMax, `${field}.addrMax`);
      if (e.proto !== undefined) out.regProtoMin = reg(e.proto, `${field}.proto`);
      if (e.protoMax !== undefined) out.regProtoMax = reg(e.protoMax, `${field}.protoMax`);
      if (e.addr === undefined && e.proto === undefined) throw new ValidationError(field, e, 'needs an addr or a proto register');
      // NF_NAT_RANGE_PERSISTENT; the kernel infers MAP_IPS and PROTO_SPECIFIED from the registers.
      if (e.persistent) out.flags = 8;
      return out;
    }
    case 'masq': {
      const out: NativeNftExpr = { expr: 'masq' };
      if (e.proto !== undefined) out.regProtoMin = reg(e.proto, `${field}.proto`);
      if (e.protoMax !== undefined) out.regProtoMax = reg(e.protoMax, `${field}.protoMax`);
      const flags = (e.random ? 4 : 0) | (e.persistent ? 8 : 0);
      if (flags) out.flags = flags;
      return out;
    }
    case 'counter':
      return { expr: 'counter' };
    case 'fib': {
      if (!Array.isArray(e.lookup) || e.lookup.length === 0) throw new ValidationError(`${field}.lookup`, e.lookup, 'must list what to route by');
      let flags = 0;
      for (const f of e.lookup) flags |= key(FIB_FLAGS, f, `${field}.lookup`);
      return { expr: 'fib', flags, result: key(FIB_RESULT, e.result, `${field}.result`), dreg: reg(e.dreg, `${field}.dreg`) };
    }
    default:
      throw new ValidationError(`${field}.expr`, (e as { expr: unknown }).expr, 'is not a known expression');
  }
}
