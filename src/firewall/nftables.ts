// The nftables backend: nsnet's `inet nsnet` table in the host namespace,
// over netlink. Made with the first network, dropped with the last, and in
// between changed only by set and map elements (ruleset.ts). Every change is
// one nf_tables transaction; the ones that decide whether the table exists
// carry the generation they read, so two processes sharing a host cannot
// both make it (or drop it under the other's feet).
import type { NsnetError } from '../errors.js';
import type { Batch, HasHandle } from '../netlink/batch.js';
import { Nftables, toNativeNftOp, type Element, type NftOp, type SetSpec } from '../netlink/nftables.js';
import { ownerTag } from '../owner.js';
import * as diff from './diff.js';
import type { FirewallBackend, FirewallReport, FirewallState, NetworkSpec, PortSpec } from './backend.js';
import * as ruleset from './ruleset.js';

const code = (e: unknown) => (e as NsnetError)?.code;
const RETRIES = 20;

/**
 * Whether a commit that lost its generation should run again, after a
 * short random pause: other processes' element commits move the generation
 * all the time, and a reconcile that reads, compares and commits needs one
 * quiet moment; retrying at once would meet the same writers in step.
 */
async function again(e: unknown, attempt: number): Promise<void> {
  if (code(e) !== 'ERESTART' || attempt >= RETRIES) throw e;
  await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 2 ** attempt)));
}

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

/** A network in the ruleset's terms: the sets match its bridge, or every host interface its prefix starts. */
function rulesetNetwork(n: NetworkSpec): ruleset.RulesetNetwork {
  const iface = n.interface.kind === 'bridge' ? n.interface.name : `${n.interface.prefix}*`;
  return { iface, subnets: n.subnets, internal: n.internal, icc: n.icc, masquerade: n.masquerade };
}

const portAdds = (ports: PortSpec[]) => ports.flatMap(ruleset.addPortOps);

export class NftablesFirewall implements FirewallBackend {
  readonly kind = 'nftables';
  readonly publishes = true;
  readonly nft: Nftables;
  /** The table is known to exist (made or checked by this process). */
  private present = false;
  /** The comment every element this store adds carries. */
  private readonly comment: string;

  constructor(
    private readonly host: HasHandle,
    /** The store's id (owner.ts): whose elements these are. */
    private readonly owner: string,
  ) {
    this.nft = new Nftables(host);
    this.comment = ownerTag(owner);
  }

  /** Element adds tagged with this store's comment. */
  private tagged(ops: NftOp[]): NftOp[] {
    return ops.map((o) =>
      'elements' in o && (o.verb === 'add' || o.verb === 'create')
        ? ({ verb: o.verb, elements: { set: o.elements.set, elements: o.elements.elements.map((e) => ({ ...e, comment: this.comment })) } } as NftOp)
        : o,
    );
  }

  /** Only once the table is known to be there: a staged add cannot make it. */
  get canStage(): boolean {
    return this.present;
  }

  /** The elements of gone's removal and then of ports as one nf_tables transaction in b, in the host's group. */
  stage(b: Batch, ports: PortSpec[], gone: PortSpec[] = []): void {
    b.in(this.host).nftables([...mergeOps(gone.flatMap(ruleset.removePortOps)), ...mergeOps(this.tagged(portAdds(ports)))]);
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

  /** A port is held when every element publishing it is, whoever tagged it; a table that is gone holds none. */
  async unpublished(ports: PortSpec[]): Promise<PortSpec[]> {
    if (ports.length === 0) return [];
    const held = await diff.listing(this.nft);
    return ports.filter((p) => !diff.holdsAll(held, portAdds([p])));
  }

  /** Adds elements; makes the table first if it is not known to be there. */
  private async add(ops: NftOp[]): Promise<void> {
    if (ops.length === 0) return;
    const merged = mergeOps(this.tagged(ops));
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
        // Only making the table decides whether it exists, and needs the
        // generation it read. Elements for a table that is there do not:
        // with several writers at once (a daemon's concurrent calls, slow
        // path processes) every commit would move the generation under the
        // others until they ran out of retries. If the table goes meanwhile,
        // the commit fails with ENOENT and the caller's reconcile makes it whole.
        await this.nft.commit(exists ? ops : [...ruleset.rulesetOps(), ...ops], exists ? {} : { generation });
        this.present = true;
        return;
      } catch (e) {
        await again(e, i);
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
   * Detaches a network: its elements go, or, when the table holds nothing
   * else (no other network's or port's element, whichever store's or
   * nobody's), the whole table. The kernel decides, read under the
   * generation the drop carries.
   */
  async teardownNetwork(n: NetworkSpec): Promise<void> {
    const mine = rulesetNetwork(n);
    for (let i = 0; ; i++) {
      const generation = await this.nft.generation();
      if (!(await this.nft.tables('inet')).some((t) => t.name === ruleset.TABLE.name)) {
        this.present = false;
        return;
      }
      if (!diff.holdsOnly(await diff.listing(this.nft), ruleset.addNetworkOps(mine))) return this.remove(ruleset.removeNetworkOps(mine));
      try {
        await this.nft.commit([{ verb: 'delete', table: ruleset.TABLE }], { generation });
        this.present = false;
        return;
      } catch (e) {
        if (code(e) === 'ENOENT') {
          this.present = false;
          return;
        }
        await again(e, i);
      }
    }
  }

  /**
   * Makes the table hold what want() says this store needs: made if
   * missing; rebuilt if its chains, rules or sets are not what nsnet writes
   * (keeping every element it held, whoever's); wanted elements that are
   * missing added, and this store's elements with stale data replaced.
   * The table is shared by every store on the host: elements nobody here
   * wants are counted, never removed, and the table is dropped only when
   * no store's network is left in it. The kernel decides, under the
   * generation every change carries.
   */
  async reconcile(want: () => Promise<FirewallState>, o: { orphans?: boolean } = {}): Promise<FirewallReport> {
    const empty = (): FirewallReport => ({ rebuilt: false, dropped: false, elementsRemoved: 0, elementsAdded: 0, foreignElements: 0, orphanElements: 0, orphansRemoved: 0, forwardDrops: [] });
    const report = empty();
    for (let i = 0; ; i++) {
      const generation = await this.nft.generation();
      const state = await want();
      const wanted = this.tagged([...state.networks.flatMap((n) => ruleset.addNetworkOps(rulesetNetwork(n))), ...portAdds(state.ports)]);
      const kept = [...(state.keepNetworks ?? []).flatMap((n) => ruleset.addNetworkOps(rulesetNetwork(n))), ...portAdds(state.keep ?? [])];
      const exists = (await this.nft.tables('inet')).some((t) => t.name === ruleset.TABLE.name);
      const held = exists ? await diff.listing(this.nft) : null;
      const d = held ? diff.diff(this.owner, held, wanted, kept) : null;
      const dropOrphans = !!o.orphans && !!d && d.orphans.length > 0;
      // Nothing of anyone's would be left: the table goes.
      const left = !!d && (d.foreign > 0 || (d.orphans.length > 0 && !dropOrphans) || kept.length > 0);
      let change: NftOp[] = [];
      if (!state.networks.length && !left) {
        if (exists) change = [{ verb: 'delete', table: ruleset.TABLE }];
        report.dropped = exists;
      } else if (!exists) {
        change = [...ruleset.rulesetOps(), ...mergeOps(wanted)];
        report.rebuilt = true;
      } else {
        report.foreignElements = d!.foreign;
        report.orphanElements = diff.count(d!.orphans);
        if (!(await this.shapeOk())) {
          // Every element goes back as it was (another store's, nobody's), with what this store misses.
          change = [{ verb: 'delete', table: ruleset.TABLE }, ...ruleset.rulesetOps(), ...mergeOps([...diff.asOps(held!), ...d!.add])];
          report.rebuilt = true;
        } else {
          change = [...mergeOps(d!.remove), ...(dropOrphans ? mergeOps(d!.orphans) : []), ...mergeOps(d!.add)];
          report.elementsRemoved = diff.count(d!.remove);
          report.elementsAdded = diff.count(d!.add);
          if (dropOrphans) report.orphansRemoved = report.orphanElements;
        }
      }
      try {
        if (change.length) await this.nft.commit(change, { generation });
        this.present = !report.dropped && (exists || change.length > 0);
        if (this.present) {
          report.forwardDrops = (await this.nft.chains())
            .filter((c) => c.hook === 'forward' && c.policy === 'drop' && !(c.family === 'inet' && c.table === ruleset.TABLE.name))
            .map((c) => `${c.family} ${c.table} ${c.name}`);
        }
        return report;
      } catch (e) {
        await again(e, i);
        Object.assign(report, empty());
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
}
