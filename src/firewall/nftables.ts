// The nftables backend: nsnet's `inet nsnet` table in the host namespace,
// over netlink. Made with the first network, dropped with the last, and in
// between changed only by set and map elements (ruleset.ts). Every change is
// one nf_tables transaction; the ones that decide whether the table exists
// carry the generation they read, so two processes sharing a host cannot
// both make it (or drop it under the other's feet).
import type { NsnetError } from '../errors.js';
import type { Batch, HasHandle } from '../netlink/batch.js';
import { Nftables, toNativeNftOp, type Element, type NftOp, type SetSpec } from '../netlink/nftables.js';
import { setLayout } from '../netlink/nftops.js';
import { decodeTuple } from '../netlink/nftvalues.js';
import type { FirewallBackend, FirewallReport, FirewallState, NetworkSpec, PortSpec } from './backend.js';
import * as ruleset from './ruleset.js';

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

/** A network in the ruleset's terms: the sets match its bridge. */
function rulesetNetwork(n: NetworkSpec): ruleset.RulesetNetwork {
  return { bridge: n.interface.name, subnets: n.subnets, internal: n.internal, icc: n.icc, masquerade: n.masquerade };
}

const portAdds = (ports: PortSpec[]) => ports.flatMap(ruleset.addPortOps);

export class NftablesFirewall implements FirewallBackend {
  readonly kind = 'nftables';
  readonly publishes = true;
  readonly nft: Nftables;
  /** The table is known to exist (made or checked by this process). */
  private present = false;

  constructor(private readonly host: HasHandle) {
    this.nft = new Nftables(host);
  }

  /** Only once the table is known to be there: a staged add cannot make it. */
  get canStage(): boolean {
    return this.present;
  }

  /** The ports' elements as their own nf_tables transaction in b, in the host's group. */
  stage(b: Batch, ports: PortSpec[]): void {
    b.in(this.host).nftables(mergeOps(portAdds(ports)));
  }

  /**
   * nsnet's table or a set is gone (flushed behind its back): an element
   * change failed with ENOENT. Not when the kernel refused a staged
   * transaction as a whole, which is about that transaction, not the table.
   */
  lost(e: unknown): boolean {
    const err = e as NsnetError;
    return err?.code === 'ENOENT' && typeof err.op === 'string' && err.op.startsWith('NFT_MSG_') && !err.extack?.startsWith('the transaction as a whole');
  }

  setupNetwork(n: NetworkSpec): Promise<void> {
    return this.add(ruleset.addNetworkOps(rulesetNetwork(n)));
  }

  publish(ports: PortSpec[]): Promise<void> {
    return this.add(portAdds(ports));
  }

  unpublish(ports: PortSpec[]): Promise<void> {
    return this.remove(ports.flatMap(ruleset.removePortOps));
  }

  /** Adds elements; makes the table first if it is not known to be there. */
  private async add(ops: NftOp[]): Promise<void> {
    if (ops.length === 0) return;
    const merged = mergeOps(ops);
    if (!this.present) return this.ensureWith(merged);
    try {
      await this.nft.commit(merged);
    } catch (e) {
      // Made whole again by the caller's reconcile (it knows what the table should hold).
      if (code(e) === 'ENOENT') this.present = false;
      throw e;
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
  private async remove(ops: NftOp[]): Promise<void> {
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
   * Detaches a network: its elements go, or, when the table holds no other
   * network's bridge, the whole table (and with it everything nsnet put
   * there). The kernel decides, read under the generation the drop carries.
   */
  async teardownNetwork(n: NetworkSpec): Promise<void> {
    const mine = rulesetNetwork(n);
    for (let i = 0; ; i++) {
      const generation = await this.nft.generation();
      const bridges = await this.nft.elements(ruleset.SETS.bridges).catch((e: unknown) => {
        if (code(e) === 'ENOENT') return null;
        throw e;
      });
      if (bridges && bridges.some((el) => el.key !== mine.bridge)) return this.remove(ruleset.removeNetworkOps(mine));
      try {
        if (bridges) await this.nft.commit([{ verb: 'delete', table: ruleset.TABLE }], { generation });
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
   * Makes the table match want(): made if missing, rebuilt if its chains,
   * rules, sets or network elements are not what nsnet writes, port
   * elements of gone endpoints removed and missing ones added, and dropped
   * if no network needs it.
   */
  async reconcile(want: () => Promise<FirewallState>): Promise<FirewallReport> {
    const report: FirewallReport = { rebuilt: false, dropped: false, elementsRemoved: 0, elementsAdded: 0, forwardDrops: [] };
    for (let i = 0; ; i++) {
      const generation = await this.nft.generation();
      const state = await want();
      const ops = [...state.networks.flatMap((n) => ruleset.addNetworkOps(rulesetNetwork(n))), ...portAdds(state.ports)];
      const needed = state.networks.length > 0;
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
   * What differs between the kernel's elements and the wanted ones. Network
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
      // The wanted elements as the kernel will list them: encoded, then decoded.
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
