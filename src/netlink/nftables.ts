// nf_tables in one namespace: commit() sends a list of changes (see
// nftops.ts for their typed description) as ONE kernel transaction
// (NFNL_MSG_BATCH_BEGIN ... BATCH_END: all or nothing), optionally only if
// the ruleset is still at a generation read before; and the ruleset's
// tables, chains, sets, elements and rules read back.
import { NsnetError, ValidationError } from '../errors.js';
import {
  native,
  type NativeList,
  type NativeNftChain,
  type NativeNftElem,
  type NativeNftResult,
  type NativeNftRule,
  type NativeNftSet,
  type NativeNftTable,
  type NativeReply,
} from '../native.js';
import type { HasHandle } from './batch.js';
import { retryInterrupted } from './dump.js';
import { FAMILY, FAMILY_NAME, HOOK_NAME, family, objName, setLayout, toNativeNftOp, type Hook, type NftFamily, type NftOp, type SetSpec } from './nftops.js';
import { commentOf, decodeTuple, type NftValue } from './nftvalues.js';

export type { ChainSpec, Element, ElementsSpec, Hook, NftFamily, NftOp, NftVerb, RuleSpec, SetSpec, TableSpec } from './nftops.js';
export { toNativeNftOp } from './nftops.js';

export interface CommitOptions {
  /**
   * Commit only if the ruleset is still at this generation (from
   * generation()): a change by anyone in between makes the kernel refuse
   * the whole batch, and commit() throws NsnetError code 'ERESTART'.
   */
  generation?: number;
}

export interface CommitResult {
  /** The generation this transaction created. */
  generation: number | null;
  /** Per op: the handle of the table, chain, set or rule an add created, else null. */
  handles: (number | null)[];
}

export interface NftTable { family: NftFamily; name: string; handle: number }
export interface NftChain {
  family: NftFamily;
  table: string;
  name: string;
  handle: number;
  hook?: Hook;
  type?: string;
  priority?: number;
  policy?: 'accept' | 'drop';
}
export interface NftSet { family: NftFamily; table: string; name: string; handle: number; flags: number; keyLen: number; dataLen?: number }
export interface NftRule { family: NftFamily; table: string; chain: string; handle: number; exprs: string[]; comment?: string }
export interface NftElement {
  key: NftValue | NftValue[];
  keyEnd?: NftValue | NftValue[];
  /** In a one-field interval set, this element closes the range opened by the one before. */
  intervalEnd: boolean;
  data?: NftValue | NftValue[];
  verdict?: { code: number; chain?: string };
  /** The element's comment (nft's), if it has one. */
  comment?: string;
}

// ---------------------------------------------------------------- the API

export class Nftables {
  constructor(private readonly ns: HasHandle) {}

  /** The ruleset's generation id: it changes with every committed transaction. */
  async generation(): Promise<number> {
    const r = await this.list('gen', 0, '', '');
    if (r.errno) throw NsnetError.kernel('NFT_MSG_GETGEN', 'ruleset', r.errno, r.message);
    return r.gen;
  }

  /** Applies all ops in one kernel transaction: every one of them, or none. */
  async commit(ops: NftOp[], opts: CommitOptions = {}): Promise<CommitResult> {
    if (!Array.isArray(ops) || ops.length === 0) throw new ValidationError('ops', ops, 'must be a non-empty list');
    const described = ops.map((o, i) => toNativeNftOp(o, `ops[${i}]`));
    let gen: number | null = null;
    if (opts.generation !== undefined) {
      if (!Number.isInteger(opts.generation) || opts.generation < 0 || opts.generation > 0xffffffff)
        throw new ValidationError('generation', opts.generation, 'must be a 32-bit generation id');
      gen = opts.generation;
    }
    let r: NativeNftResult;
    try {
      r = await native.nftTransact(this.ns.handle, described.map((d) => d.op), gen);
    } catch (e) {
      throw NsnetError.system('nf_tables transaction', e);
    }
    if (r.batch.errno) {
      const what = gen !== null ? `ruleset at generation ${gen}` : 'ruleset';
      const extack = r.batch.message || (r.batch.errno === 85 ? 'the ruleset changed since that generation was read' : undefined);
      throw NsnetError.kernel('NFNL_MSG_BATCH_BEGIN', what, r.batch.errno, extack);
    }
    const i = r.replies.findIndex((x) => x.errno !== 0);
    if (i >= 0) {
      const d = described[i]!;
      const err = NsnetError.kernel(d.request, d.object, r.replies[i]!.errno, r.replies[i]!.message || undefined);
      throw Object.assign(err, { index: i });
    }
    return { generation: r.gen, handles: r.handles.map((h) => (h > 0 ? h : null)) };
  }

  async tables(fam?: NftFamily): Promise<NftTable[]> {
    const r = await this.list('tables', fam ? family(fam, 'family') : 0, '', '');
    if (r.errno) throw NsnetError.kernel('NFT_MSG_GETTABLE', 'tables', r.errno, r.message);
    return r.items.map((t) => ({ family: FAMILY_NAME.get(t.family) ?? 'inet', name: t.name, handle: t.handle }));
  }

  async chains(fam?: NftFamily, table = ''): Promise<NftChain[]> {
    const r = await this.list('chains', fam ? family(fam, 'family') : 0, table, '');
    if (r.errno) throw NsnetError.kernel('NFT_MSG_GETCHAIN', `chains of ${table || 'all tables'}`, r.errno, r.message);
    return r.items.map((c) => {
      const out: NftChain = { family: FAMILY_NAME.get(c.family) ?? 'inet', table: c.table, name: c.name, handle: c.handle };
      if (c.hook !== undefined) {
        out.hook = c.family === FAMILY.netdev ? 'ingress' : HOOK_NAME[c.hook];
        out.type = c.type;
        out.priority = c.priority;
      }
      if (c.policy !== undefined) out.policy = c.policy === 1 ? 'accept' : 'drop';
      return out;
    });
  }

  async sets(fam?: NftFamily, table = ''): Promise<NftSet[]> {
    const r = await this.list('sets', fam ? family(fam, 'family') : 0, table, '');
    if (r.errno) throw NsnetError.kernel('NFT_MSG_GETSET', `sets of ${table || 'all tables'}`, r.errno, r.message);
    return r.items.map((s) => {
      const out: NftSet = { family: FAMILY_NAME.get(s.family) ?? 'inet', table: s.table, name: s.name, handle: s.handle, flags: s.flags, keyLen: s.keyLen };
      if (s.dataLen !== undefined) out.dataLen = s.dataLen;
      return out;
    });
  }

  async rules(fam?: NftFamily, table = ''): Promise<NftRule[]> {
    const r = await this.list('rules', fam ? family(fam, 'family') : 0, table, '');
    if (r.errno) throw NsnetError.kernel('NFT_MSG_GETRULE', `rules of ${table || 'all tables'}`, r.errno, r.message);
    return r.items.map((x) => {
      const out: NftRule = { family: FAMILY_NAME.get(x.family) ?? 'inet', table: x.table, chain: x.chain, handle: x.handle, exprs: x.exprs };
      const c = commentOf(x.userdata);
      if (c !== undefined) out.comment = c;
      return out;
    });
  }

  /** A set's elements, decoded by its spec's types. */
  async elements(set: SetSpec): Promise<NftElement[]> {
    const l = setLayout(set, 'set');
    const r = await this.list('elems', family(set.family, 'set.family'), objName(set.table, 'set.table'), objName(set.name, 'set.name'));
    if (r.errno) throw NsnetError.kernel('NFT_MSG_GETSETELEM', `elements of ${set.family} ${set.table} ${set.name}`, r.errno, r.message);
    return r.items.map((e) => {
      const out: NftElement = { key: decodeTuple(l.key, e.key), intervalEnd: ((e.flags ?? 0) & 1) !== 0 };
      if (e.keyEnd) out.keyEnd = decodeTuple(l.key, e.keyEnd);
      if (e.verdict) out.verdict = e.verdict;
      else if (e.data && l.data) out.data = decodeTuple(l.data, e.data);
      const c = commentOf(e.userdata);
      if (c !== undefined) out.comment = c;
      return out;
    });
  }

  private list<W extends keyof ListKinds>(what: W, fam: number, table: string, set: string): Promise<ListKinds[W]> {
    return retryInterrupted(async () => {
      try {
        const list = native.nftList as (ns: unknown, w: W, f: number, t: string, s: string) => Promise<ListKinds[W]>;
        return await list(this.ns.handle, what, fam, table, set);
      } catch (e) {
        throw NsnetError.system(`nf_tables ${what}`, e);
      }
    });
  }
}

interface ListKinds {
  gen: NativeReply & { gen: number };
  tables: NativeList<NativeNftTable>;
  chains: NativeList<NativeNftChain>;
  sets: NativeList<NativeNftSet>;
  rules: NativeList<NativeNftRule>;
  elems: NativeList<NativeNftElem>;
}
