// Networks: their options checked, created as a transaction (the store's
// record first, then the driver's kernel objects, then the firewall), and
// deleted best effort in the reverse order. The predefined networks (none,
// host) are made on open and never removed.
import { NsnetError, ValidationError } from '../errors.js';
import { fromBig, toBig } from '../ipaddr.js';
import { defaultGateway, pickSubnet, poolKey } from '../ipam/ipam.js';
import { Prefix } from '../ipam/prefix.js';
import type { NetworkBusy, NetworkRecord, StoreTx, SubnetRecord } from '../store/store.js';
import { Unknown } from '../store/global/tx.js';
import { findByKey, now, type CnmContext, type DeleteOptions } from './context.js';
import { Busy, sameMark, whileBusy } from './busy.js';
import { deleteEndpoint } from './join.js';
import * as names from './names.js';
import { firewallDo } from './publish.js';
import { Teardown, Transaction } from './tx.js';
import { noGlobalStore } from '../store/scoped.js';

export interface SubnetOptions {
  subnet: string;
  /** Default: the subnet's first host address; null: none (an address pool whose user picks its own). */
  gateway?: string | null;
  ipRange?: string;
  /** CNI host-local's bounds, given together: every address of the subnet's endpoints comes from between them. */
  rangeStart?: string;
  rangeEnd?: string;
  /** Addresses or prefixes never handed out. */
  excluded?: string[];
}

export interface NetworkOptions {
  driver?: string;
  /** Subnets with optional gateway and range; picked from the default pools when absent. */
  subnets?: (SubnetOptions | string)[];
  /** Dual stack: adds an IPv6 subnet (a random ULA /64 unless one is given). */
  ipv6?: boolean;
  /**
   * false: no IPv4 subnet is picked when none is given (an IPv6 address
   * pool, as Docker asks nsnet's IPAM driver for one); the ipam driver's
   * networks only.
   */
  ipv4?: boolean;
  /**
   * ipam networks (names or ids) whose subnets this network takes: each of
   * its subnets that overlaps one of theirs lies within it, and that
   * overlap is no clash (Docker's network on pools from nsnet's IPAM driver).
   */
  pools?: string[];
  /** No route out of the network. */
  internal?: boolean;
  labels?: Record<string, string>;
  /** Driver options (bridge name, MTU, ICC, masquerade ...). */
  options?: Record<string, string>;
}

/** Docker's networks that always exist, by name, with their drivers. */
const PREDEFINED: [string, string][] = [
  ['none', 'null'],
  ['host', 'host'],
];

/** Makes the predefined networks that the store does not have yet. */
export async function ensurePredefined(ctx: CnmContext): Promise<void> {
  await ctx.store.update((t) => {
    for (const [name, driver] of PREDEFINED) {
      if (t.network(name)) continue;
      t.putNetwork({
        id: names.newId(), name, driver, scope: 'local', internal: false, ipv6: false, subnets: [],
        labels: {}, options: {}, driverState: {}, created: now(),
      });
    }
  });
}

/** Creates a network: all or nothing. */
export async function createNetwork(ctx: CnmContext, name: string, o: NetworkOptions = {}): Promise<NetworkRecord> {
  ctx.live();
  const n = names.objectName(name, 'network name');
  const driver = ctx.driver(o.driver ?? 'bridge');
  const labels = names.stringMap(o.labels, 'labels');
  const options = names.stringMap(o.options, 'options');
  const given = names.list(o.subnets, 'subnets').map((s, i) => checkSubnet(typeof s === 'string' ? { subnet: s } : (s as SubnetOptions), `subnets[${i}]`));
  if (!driver.usesIpam && given.length) throw new ValidationError('subnets', o.subnets, `the ${driver.name} driver takes no subnets`);
  const v4 = checkIpv4(o, driver.name, given.map((g) => g.p));
  const pools = names.stringList(o.pools, 'pools');
  for (let i = 0; i < given.length; i++)
    for (let j = i + 1; j < given.length; j++)
      if (given[i]!.p.overlaps(given[j]!.p)) throw new ValidationError('subnets', o.subnets, `${given[i]!.rec.subnet} and ${given[j]!.rec.subnet} overlap`);
  if (driver.externalSubnets && (given.length === 0 || (o.ipv6 && !given.some((g) => g.p.family === 6))))
    throw new ValidationError('subnets', o.subnets,
      `a ${driver.name} network takes the subnets of the LAN it joins: give them (--subnet${o.ipv6 ? ', an IPv6 one too' : ''}), with that LAN's router as the gateway`);
  const scope = driver.scope ?? 'local';
  if (scope === 'global' && !ctx.global) throw noGlobalStore(`a ${driver.name} network`);
  const rec: NetworkRecord = {
    id: names.newId(), name: n, driver: driver.name, scope, internal: !!o.internal,
    ipv6: !!o.ipv6 || given.some((g) => g.p.family === 6), subnets: given.map((g) => g.rec),
    labels, options, driverState: {}, created: now(),
  };
  // Routes of the host count as taken for automatic subnets (Docker's rule).
  const picks = driver.usesIpam && !driver.externalSubnets;
  const needAuto = picks && ((v4 && !given.some((g) => g.p.family === 4)) || (rec.ipv6 && !given.some((g) => g.p.family === 6)));
  const routes = needAuto ? (await ctx.host.routes.list({ table: 'all' })).filter((r) => r.dst !== 'default' && r.type === 'unicast') : [];

  const tx = new Transaction(`network ${n}`, ctx.faults);
  // Marked busy from its intent on, until it is whole or undone: another
  // process's reconcile would otherwise take the record without a bridge
  // for a bridge that vanished, and make it under this create. Only a
  // local network is marked: a mark names a process of this host, which
  // other hosts cannot tell alive or dead, and a global network's devices
  // are made by each host's first join, not here.
  return whileBusy(ctx, (busy) => tx.run(async () => {
    await tx.step(
      'store.network',
      () =>
        ctx.store.update((t) => {
          if (nameTaken(t, n, scope)) throw NsnetError.state('ERR_NSNET_EXISTS', 'network.create', n, `network ${n} already exists`);
          const others = t.networks();
          if (driver.singleton && others.some((x) => x.driver === driver.name))
            throw NsnetError.state('ERR_NSNET_EXISTS', 'network.create', n, `only one ${driver.name} network may exist`);
          const taken = others.flatMap((x) => x.subnets.map((s) => Prefix.parse(s.subnet)));
          const realised = poolsOf(t, pools, given);
          for (const g of given) {
            const clash = others.find((x) => !realised.has(x.id) && x.subnets.some((s) => Prefix.parse(s.subnet).overlaps(g.p)));
            if (clash) throw NsnetError.state('ERR_NSNET_OVERLAP', 'network.create', g.rec.subnet, `subnet ${g.rec.subnet} overlaps network ${clash.name}`);
          }
          if (picks) {
            const routeTaken = routes.map((r) => Prefix.parse(r.dst, 'route', true));
            const auto = (family: 4 | 6) => {
              const p = pickSubnet(family, [...taken, ...routeTaken, ...rec.subnets.map((s) => Prefix.parse(s.subnet))]);
              rec.subnets.push({ subnet: String(p), gateway: defaultGateway(p), ipRange: null, excluded: [] });
            };
            if (v4 && !rec.subnets.some((s) => !s.subnet.includes(':'))) auto(4);
            if (rec.ipv6 && !rec.subnets.some((s) => s.subnet.includes(':'))) auto(6);
          }
          rec.driverState = driver.validateNetwork(rec, others);
          if (scope === 'local') busy.claimNetwork(t, rec, 'create');
          else t.putNetwork(rec);
        }),
      () => ctx.store.update((t) => t.deleteNetwork(rec.id)),
    );
    await tx.step('kernel.network', () => driver.createNetwork(ctx, rec), () => driver.deleteNetwork(ctx, rec));
    const fw = driver.firewall?.(rec);
    if (fw) {
      // Undone even if it fails: recovering a lost table may have put the network there before the failure.
      tx.onUndo('firewall', () => ctx.firewall.teardownNetwork(fw));
      await tx.step('firewall', () => firewallDo(ctx, () => ctx.firewall.setupNetwork(fw)));
    }
    // The driver may have learnt something about its objects (did it create the bridge?); the record goes without its mark.
    await tx.step('store.driverState', () => ctx.store.update((t) => t.putNetwork(rec)));
    ctx.emit({ kind: 'network', action: 'create', id: rec.id, name: rec.name });
    ctx.pools?.start(rec);
    return rec;
  }));
}

/**
 * Whether a network has the name. A local network's name is checked
 * against the global ones only while etcd is known: local work goes on
 * while it is unreachable.
 */
function nameTaken(t: StoreTx, name: string, scope: NetworkRecord['scope']): boolean {
  try {
    return t.network(name) !== null;
  } catch (e) {
    if (scope === 'local' && e instanceof Unknown) return false;
    throw e;
  }
}

/**
 * Removes a network; refused while it has endpoints unless forced, and for
 * the predefined ones. It is marked busy while it goes (as a create marks
 * it), so another process's reconcile does not make its bridge again
 * (a local one: see createNetwork).
 * With `cutShort` (a dead process's mark that reconcile saw), only if the
 * record still carries that mark: one whose create ended since stays.
 * Resolves to whether it went.
 */
export async function deleteNetwork(ctx: CnmContext, netRec: NetworkRecord, o: DeleteOptions = {}, cutShort?: NetworkBusy): Promise<boolean> {
  ctx.live();
  const busy = new Busy(ctx);
  try {
    const cur = await ctx.store.update((t) => {
      const net = t.network(netRec.id);
      if (cutShort && !(net && sameMark(net.busy, cutShort))) return null;
      if (!net) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'network.delete', netRec.name, `no network ${netRec.name}`);
      if (PREDEFINED.some(([n]) => n === net.name))
        throw NsnetError.state('ERR_NSNET_IN_USE', 'network.delete', net.name, `${net.name} is a predefined network and cannot be removed`);
      const eps = t.endpoints({ networkId: net.id });
      if (eps.length && !o.force)
        throw NsnetError.state('ERR_NSNET_IN_USE', 'network.delete', net.name,
          `network ${net.name} has ${eps.length} endpoint(s) (${eps.slice(0, 5).map((e) => e.name).join(', ')}); remove them first or force`);
      return { net: net.scope === 'global' ? net : busy.claimNetwork(t, net, 'delete'), eps };
    });
    if (!cur) return false;
    const td = new Teardown(`network ${cur.net.name}`, ctx.faults);
    // Its pool's namespaces hold ports of its bridge.
    if (ctx.pools) await td.step('pool', () => ctx.pools!.drop(cur.net.id));
    for (const ep of cur.eps) await td.step(`endpoint ${ep.name}`, () => deleteEndpoint(ctx, ep));
    // The firewall first, so the network's traffic stops being forwarded before its bridge goes.
    const fw = ctx.knownDriver(cur.net.driver)?.firewall?.(cur.net);
    if (fw) await td.step('firewall', () => ctx.firewall.teardownNetwork(fw));
    // An unknown driver fails this step only: the records still go.
    await td.step('kernel.network', () => ctx.driver(cur.net.driver).deleteNetwork(ctx, cur.net));
    const forgotten = await td.step('store.network', () =>
      ctx.store.update((t) => {
        for (const s of cur.net.subnets) t.releasePool(poolKey(cur.net.id, s.subnet));
        t.deleteNetwork(cur.net.id);
      }),
    );
    // Its mark went with its record.
    if (forgotten) busy.gone();
    ctx.emit({ kind: 'network', action: 'delete', id: cur.net.id, name: cur.net.name });
    td.finish();
    return true;
  } finally {
    await busy.end();
  }
}

/** Whether a network gets IPv4 (NetworkOptions.ipv4), checked against what else it asks for. */
function checkIpv4(o: NetworkOptions, driver: string, given: Prefix[]): boolean {
  if (o.ipv4 === undefined || o.ipv4 === true) return true;
  if (o.ipv4 !== false) throw new ValidationError('ipv4', o.ipv4, 'must be true or false');
  if (driver !== 'ipam') throw new ValidationError('ipv4', o.ipv4, `a ${driver} network has IPv4; only the ipam driver's address pools go without`);
  if (given.some((p) => p.family === 4)) throw new ValidationError('ipv4', o.ipv4, 'an IPv4 subnet is given');
  if (!o.ipv6 && !given.some((p) => p.family === 6)) throw new ValidationError('ipv4', o.ipv4, 'a network without IPv4 needs IPv6 (ipv6, or an IPv6 subnet)');
  return false;
}

/**
 * The ipam networks a network realises (NetworkOptions.pools), by id;
 * runs inside the create's store transaction. Each given subnet that
 * overlaps one of them must lie within it.
 */
function poolsOf(t: StoreTx, keys: string[], given: { p: Prefix; rec: SubnetRecord }[]): Set<string> {
  const out = new Set<string>();
  for (const key of keys) {
    const pool = findByKey('network', t.network(key), () => t.networks(), key);
    if (!pool) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'network.create', key, `no network ${key} to take a pool from`);
    if (pool.driver !== 'ipam') throw new ValidationError('pools', key, `network ${pool.name} is a ${pool.driver} network, not an address pool (driver ipam)`);
    for (const g of given)
      for (const s of pool.subnets) {
        const p = Prefix.parse(s.subnet);
        if (p.overlaps(g.p) && (g.p.base < p.base || g.p.last > p.last)) throw new ValidationError('subnets', g.rec.subnet, `overlaps pool ${pool.name} (${p}) without lying within it`);
      }
    out.add(pool.id);
  }
  return out;
}

/**
 * Address blocks a network cannot take (RFC 6890): hosts on a link cannot
 * use them, because the kernel or every peer treats them apart (loopback,
 * link-local, multicast, "this network", reserved, IPv4-mapped).
 */
const RESERVED: [Prefix, string][] = [
  ['0.0.0.0/8', '"this network"'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved, broadcast included'],
  ['::/127', 'unspecified and loopback'],
  ['::ffff:0:0/96', 'IPv4-mapped'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
].map(([p, why]) => [Prefix.parse(p!), why!]);

/** A subnet option checked: its prefix, and the record the store keeps. */
function checkSubnet(s: SubnetOptions, field: string): { p: Prefix; rec: SubnetRecord } {
  if (!s || typeof s !== 'object') throw new ValidationError(field, s, 'must be a subnet string or { subnet, gateway?, ipRange?, excluded? }');
  const p = Prefix.parse(s.subnet, `${field}.subnet`);
  if (p.family === 4 && p.len > 30) throw new ValidationError(`${field}.subnet`, s.subnet, 'must be /30 or larger to hold a gateway and an endpoint');
  if (p.family === 6 && p.len > 126) throw new ValidationError(`${field}.subnet`, s.subnet, 'must be /126 or larger');
  const reserved = RESERVED.find(([r]) => r.family === p.family && r.overlaps(p));
  if (reserved) throw new ValidationError(`${field}.subnet`, s.subnet, `overlaps ${reserved[0]} (${reserved[1]}), which no network can use`);
  let gateway: string | null;
  if (s.gateway === null) {
    gateway = null;
  } else if (s.gateway !== undefined) {
    const g = toBig(typeof s.gateway === 'string' ? s.gateway : '');
    if (!g || g.family !== p.family) throw new ValidationError(`${field}.gateway`, s.gateway, `must be an IPv${p.family} address`);
    if (!p.contains(g.n)) throw new ValidationError(`${field}.gateway`, s.gateway, `is outside the subnet ${p}`);
    if (g.n === p.base || (p.family === 4 && g.n === p.last)) throw new ValidationError(`${field}.gateway`, s.gateway, "is the subnet's network or broadcast address");
    gateway = s.gateway;
  } else {
    gateway = defaultGateway(p);
  }
  let ipRange: string | null = null;
  if (s.ipRange !== undefined) {
    const r = Prefix.parse(s.ipRange, `${field}.ipRange`);
    if (r.family !== p.family || r.base < p.base || r.last > p.last) throw new ValidationError(`${field}.ipRange`, s.ipRange, `must lie inside ${p}`);
    ipRange = String(r);
  }
  const bounds = checkBounds(s, p, field);
  const excluded = names.list(s.excluded, `${field}.excluded`).map((x, i) => {
    if (typeof x !== 'string') throw new ValidationError(`${field}.excluded[${i}]`, x, 'must be an address or a prefix');
    const e = Prefix.parse(x.includes('/') ? x : `${x}/${p.family === 4 ? 32 : 128}`, `${field}.excluded[${i}]`);
    if (!e.overlaps(p)) throw new ValidationError(`${field}.excluded[${i}]`, x, `is outside ${p}`);
    return String(e);
  });
  return { p, rec: { subnet: String(p), gateway, ipRange, ...bounds, excluded } };
}

/** rangeStart and rangeEnd: both or neither, addresses of the subnet, in order; canonical in the record. */
function checkBounds(s: SubnetOptions, p: Prefix, field: string): { rangeStart?: string; rangeEnd?: string } {
  if (s.rangeStart === undefined && s.rangeEnd === undefined) return {};
  const at = (k: 'rangeStart' | 'rangeEnd') => {
    const v = s[k];
    if (v === undefined) throw new ValidationError(`${field}.${k}`, v, `must be given with ${k === 'rangeStart' ? 'rangeEnd' : 'rangeStart'}`);
    const a = toBig(typeof v === 'string' ? v : '');
    if (!a || a.family !== p.family) throw new ValidationError(`${field}.${k}`, v, `must be an IPv${p.family} address`);
    if (!p.contains(a.n)) throw new ValidationError(`${field}.${k}`, v, `is outside the subnet ${p}`);
    return a.n;
  };
  const [start, end] = [at('rangeStart'), at('rangeEnd')];
  if (start > end) throw new ValidationError(`${field}.rangeEnd`, s.rangeEnd, `comes before rangeStart ${s.rangeStart}`);
  return { rangeStart: fromBig(p.family, start), rangeEnd: fromBig(p.family, end) };
}
