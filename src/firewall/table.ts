// nsnet's table in the host namespace, kept in step with the store: made
// with the first network that needs it, dropped with the last, and in
// between changed only by set and map elements (ruleset.ts). Every change is
// one nf_tables transaction; the ones that decide whether the table exists
// carry the generation they read, so two processes sharing a state
// directory cannot both make it (or drop it under the other's feet).
import type { NsnetError } from '../errors.js';
import type { Batch, HasHandle } from '../netlink/batch.js';
import { Nftables, toNativeNftOp, type Element, type NftOp, type SetSpec } from '../netlink/nftables.js';
import { setLayout } from '../netlink/nftops.js';
import { decodeTuple } from '../netlink/nftvalues.js';
import * as ruleset from './ruleset.js';

export interface FirewallHooks {
  /** Every element the store says should exist ('add' ops), and whether any network needs the table. */
  desired(): Promise<{ ops: NftOp[]; needed: boolean }>;
  /** Whether a network other than this one still needs the table. */
  othersNeed(networkId: string): Promise<boolean>;
}

export interface FirewallReport {
  /** The table was missing or not as nsnet writes it, and was made again with every element. */
  rebuilt: boolean;
  /** No network needs the table any more, and it was dropped. */
  dropped: boolean;
  /** Port elements of endpoints that no longer exist, removed. */
  elementsRemoved: number;
  /** Port elements of live endpoints that were missing, added. */
  elementsAdded: number;
  /**
   * Other tables' forward chains with policy drop (`ip filter FORWARD`):
   * their drop is final whatever nsnet's chain accepts, so nsnet's networks
   * cannot route through this host until they accept them too. nsnet never
   * writes into other tables; this says where to look.
   */
  forwardDrops: string[];
}

const code = (e: unknown) => (e as NsnetError)?.code;
const RETRIES = 5;

/** Element ops of the same verb and set folded into one message each. */
export function mergeOps(ops: NftOp[]): NftOp[] {
  const out: NftOp[] = [];
  const byKey = new Map<string, { verb: NftOp['verb']; elements: { set: SetSpec; elements: Element[] } }>();
  for (const o of ops) {
    if (!('elements' in o)) {
      out.push(o);
      continue;
    }
    const k = `${o.verb} ${o.elements.set.name}`;
    const have = byKey.get(k);
    if (have) have.elements.elements.push(...o.elements.elements);
    else {
      const m = { verb: o.verb, elements: { set: o.elements.set, elements: [...o.elements.elements] } };
      byKey.set(k, m);
      out.push(m as NftOp);
    }
  }
  return out;
}

export class Firewall {
  readonly nft: Nftables;
  /** The table is known to exist (made or checked by this process). */
  private present = false;

  constructor(
    private readonly host: HasHandle,
    private readonly hooks: FirewallHooks,
  ) {
    this.nft = new Nftables(host);
  }

  /** The table is known to be there, so elements can be added without checking first. */
  get ready(): boolean {
    return this.present;
  }

  /**
   * Puts an add of elements in someone else's batch (a sandbox's own kernel
   * trip) as its own nf_tables transaction, so it costs no job of its own.
   * Only while ready: if the table went behind our back the transaction
   * fails with ENOENT, and add() (which rebuilds it) is the way on.
   */
  stage(b: Batch, ops: NftOp[]): void {
    b.in(this.host).nftables(mergeOps(ops));
  }

  /** Adds elements; makes the table first if it is not there, and rebuilds it if someone flushed it. */
  async add(ops: NftOp[]): Promise<void> {
    if (ops.length === 0) return;
    const merged = mergeOps(ops);
    if (!this.present) return this.ensureWith(merged);
    try {
      await this.nft.commit(merged);
    } catch (e) {
      if (code(e) !== 'ENOENT') throw e;
      // The table (or a set) went behind our back: make it whole again from the store.
      this.present = false;
      await this.reconcile();
      await this.ensureWith(merged);
    }
  }

  private async ensureWith(ops: NftOp[]): Promise<void> {
    for (let i = 0; ; i++) {
      const generation = await this.nft.generation();
      const exists = (await this.nft.tables('inet')).some((t) => t.name === ruleset.TABLE.name);
      try {
        await this.nft.commit(exists ? ops : [...ruleset.rulesetOps(), ...ops], { generation });
        this.present = true;
        return;
      } catch (e) {
        if (code(e) !== 'ERESTART' || i >= RETRIES) throw e;
      }
    }
  }

  /** Removes elements; one already gone (or a table already gone) is what was wanted. */
  async remove(ops: NftOp[]): Promise<void> {
    if (ops.length === 0) return;
    try {
      await this.nft.commit(mergeOps(ops));
    } catch (e) {
      if (code(e) !== 'ENOENT') throw e;
      // One missing element fails the whole transaction: take them one by one.
      for (const o of ops) {
        const single: NftOp[] = 'elements' in o ? o.elements.elements.map((el) => ({ verb: o.verb, elements: { set: o.elements.set, elements: [el] } }) as NftOp) : [o];
        for (const s of single) {
          await this.nft.commit([s]).catch((e2: unknown) => {
            if (code(e2) !== 'ENOENT') throw e2;
          });
        }
      }
    }
  }

  /**
   * Detaches a network: its elements go, or, when no other network needs
   * the table, the whole table (and with it everything nsnet put there).
   */
  async removeNetwork(networkId: string, ops: NftOp[]): Promise<void> {
    for (let i = 0; ; i++) {
      const generation = await this.nft.generation();
      if (await this.hooks.othersNeed(networkId)) return this.remove(ops);
      try {
        await this.nft.commit([{ verb: 'delete', table: ruleset.TABLE }], { generation });
        this.present = false;
        return;
      } catch (e) {
        if (code(e) === 'ENOENT') {
          this.present = false;
          return;
        }
        if (code(e) !== 'ERESTART' || i >= RETRIES) throw e;
      }
    }
  }

  /**
   * Makes the table match the store: made if missing, rebuilt if its
   * chains, rules, sets or network elements are not what nsnet writes,
   * port elements of gone endpoints removed and missing ones added, and
   * dropped if no network needs it.
   */
  async reconcile(): Promise<FirewallReport> {
    const report: FirewallReport = { rebuilt: false, dropped: false, elementsRemoved: 0, elementsAdded: 0, forwardDrops: [] };
    for (let i = 0; ; i++) {
      const generation = await this.nft.generation();
      const { ops, needed } = await this.hooks.desired();
      const exists = (await this.nft.tables('inet')).some((t) => t.name === ruleset.TABLE.name);
      let change: NftOp[] = [];
      if (!needed) {
        if (exists) change = [{ verb: 'delete', table: ruleset.TABLE }];
        report.dropped = exists;
      } else if (!exists || !(await this.shapeOk())) {
        change = [...(exists ? [{ verb: 'delete', table: ruleset.TABLE } as NftOp] : []), ...ruleset.rulesetOps(), ...mergeOps(ops)];
        report.rebuilt = true;
      } else {
        const diff = await this.diff(ops);
        if (diff === 'rebuild') {
          change = [{ verb: 'delete', table: ruleset.TABLE }, ...ruleset.rulesetOps(), ...mergeOps(ops)];
          report.rebuilt = true;
        } else {
          change = mergeOps([...diff.remove, ...diff.add]);
          report.elementsRemoved = diff.remove.length;
          report.elementsAdded = diff.add.length;
        }
      }
      try {
        if (change.length) await this.nft.commit(change, { generation });
        this.present = needed;
        if (needed) {
          report.forwardDrops = (await this.nft.chains())
            .filter((c) => c.hook === 'forward' && c.policy === 'drop' && !(c.family === 'inet' && c.table === ruleset.TABLE.name))
            .map((c) => `${c.family} ${c.table} ${c.name}`);
        }
        return report;
      } catch (e) {
        if (code(e) !== 'ERESTART' || i >= RETRIES) throw e;
        Object.assign(report, { rebuilt: false, dropped: false, elementsRemoved: 0, elementsAdded: 0, forwardDrops: [] });
      }
    }
  }

  /** Whether the table's chains, sets and rules are the ones nsnet writes. */
  private async shapeOk(): Promise<boolean> {
    const t = ruleset.TABLE.name;
    const [chains, sets, rules] = await Promise.all([this.nft.chains('inet', t), this.nft.sets('inet', t), this.nft.rules('inet', t)]);
    const want = Object.values(ruleset.CHAINS);
    if (chains.length !== want.length || !want.every((c) => chains.some((k) => k.name === c.name && k.hook === c.hook && k.priority === c.priority))) return false;
    const wantSets = Object.values(ruleset.SETS).map((s) => toNativeNftOp({ verb: 'add', set: s }).op);
    if (sets.length !== wantSets.length || !wantSets.every((s) => sets.some((k) => k.name === s.name && k.keyLen === s.keyLen && k.flags === s.flags && (k.dataLen ?? 0) === (s.dataLen ?? 0))))
      return false;
    const got = rules.map((r) => `${r.chain}|${r.comment}|${r.exprs.join(',')}`);
    const wantRules = ruleset.rules().map((r) => `${r.chain}|${r.comment}|${r.exprs.map((x) => x.expr).join(',')}`);
    return JSON.stringify(got) === JSON.stringify(wantRules);
  }

  /**
   * What differs between the kernel's elements and the store's. Network
   * sets are few and change with networks only: any difference there means
   * a rebuild. Port maps are diffed element by element.
   */
  private async diff(ops: NftOp[]): Promise<'rebuild' | { add: NftOp[]; remove: NftOp[] }> {
    const want = new Map<string, Element[]>();
    for (const o of ops) if ('elements' in o) want.set(o.elements.set.name, [...(want.get(o.elements.set.name) ?? []), ...o.elements.elements]);
    const ports = new Set<SetSpec>([ruleset.SETS.dnat4, ruleset.SETS.dnat6, ruleset.SETS.dnat4Any, ruleset.SETS.dnat6Any]);
    const add: NftOp[] = [];
    const remove: NftOp[] = [];
    const sets = Object.values(ruleset.SETS) as SetSpec[];
    const actual = await Promise.all(sets.map((s) => this.nft.elements(s)));
    for (const [i, set] of sets.entries()) {
      const l = setLayout(set, 'set');
      const norm = (x: { key: unknown; keyEnd?: unknown; intervalEnd?: boolean; data?: unknown }) =>
        JSON.stringify([x.key, x.keyEnd ?? null, !!x.intervalEnd, x.data ?? null]);
      // The store's elements as the kernel will list them: encoded, then decoded.
      const wanted = new Map<string, Element>();
      for (const el of want.get(set.name) ?? []) {
        const op = toNativeNftOp({ verb: 'add', elements: { set, elements: [el] } }).op;
        const parts = (op.elems ?? []).map((n) =>
          norm({
            key: decodeTuple(l.key, n.key),
            ...(n.keyEnd ? { keyEnd: decodeTuple(l.key, n.keyEnd) } : {}),
            intervalEnd: ((n.flags ?? 0) & 1) !== 0,
            ...(n.data && l.data ? { data: decodeTuple(l.data, n.data) } : {}),
          }),
        );
        for (const p of parts) wanted.set(p, el);
      }
      const have = new Map(actual[i]!.map((e) => [norm(e), e] as const));
      const missing = [...wanted.keys()].filter((k) => !have.has(k));
      const extra = [...have.keys()].filter((k) => !wanted.has(k));
      if (!missing.length && !extra.length) continue;
      if (!ports.has(set)) return 'rebuild';
      for (const k of missing) add.push({ verb: 'add', elements: { set, elements: [wanted.get(k)!] } });
      for (const k of extra) remove.push({ verb: 'delete', elements: { set, elements: [{ key: have.get(k)!.key }] } });
    }
    return { add, remove };
  }
}
