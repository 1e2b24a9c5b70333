// The controller's side of the global store: opening it beside the local
// one, registering this host (its underlay address and VTEP MAC, under a
// lease), putting this host's endpoints back under a new lease, and the
// global half of reconcile: etcd and the kernel brought in line both ways.
import type { OverlayContext } from '../drivers/driver.js';
import { ensureDevicesOnce, overlayState, removeDevices, withDevices } from '../drivers/overlay.js';
import { NsnetError, ValidationError } from '../errors.js';
import { Prefix } from '../ipam/prefix.js';
import { toBig } from '../ipaddr.js';
import type { Netns } from '../netlink/netns.js';
import { parseStoreUrl, type GlobalEndpoint } from '../store/global/keys.js';
import { GlobalStore } from '../store/global/store.js';
import type { EndpointRecord, NetworkRecord, Store } from '../store/store.js';
import type { CnmContext } from './context.js';
import { remotePeers, type PeerSync } from './peers.js';

export interface GlobalOptions {
  /** etcd://host:port[,host:port...][/prefix]: NSNET_GLOBAL_STORE. */
  globalStore?: string;
  /**
   * Whether this process registers the host (a lease it keeps alive, and
   * the peers it programs): the daemon and an embedding runtime do (the
   * default); a short-lived command attaches to the host's registration.
   */
  register?: boolean;
  /** This host's underlay address, the VTEP others send to (NSNET_ADVERTISE_ADDR): default, the address the host reaches etcd from. */
  advertise?: string;
  /** The lease's TTL, seconds (NSNET_HOST_TTL, default 15): how long a dead host's endpoints outlive it. */
  hostTtl?: number;
}

/** The MAC of this host's VXLAN devices: made from its id, so a restart keeps it. */
export const vtepMac = (hostId: string) => `02:${hostId.slice(0, 10).match(/../g)!.join(':')}`;

/** The global store for a controller, or null without one. */
export async function openGlobal(o: GlobalOptions, local: Store): Promise<GlobalStore | null> {
  const url = o.globalStore || process.env.NSNET_GLOBAL_STORE;
  if (!url) return null;
  // A command opened while etcd is away still does local work; a registering process needs etcd to start.
  return GlobalStore.open({ url, hostId: local.id, lazy: o.register === false });
}

/** The source address this host reaches the first etcd endpoint from. */
async function routeSource(host: Netns, url: string): Promise<string> {
  const first = new URL(parseStoreUrl(url).hosts[0]!);
  const target = first.hostname.replace(/^\[|\]$/g, '');
  const sock = await host.bindUdp(0, undefined, target.includes(':') ? 6 : 4);
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(Number(first.port), target, () => resolve());
    });
    return sock.address().address;
  } finally {
    sock.close();
  }
}

/** Registers this host: its address, its VTEP MAC, a lease kept alive; on a lost lease its keys go back under the new one. */
export async function register(ctx: CnmContext, g: GlobalStore, o: GlobalOptions): Promise<void> {
  const ttl = o.hostTtl ?? (Number(process.env.NSNET_HOST_TTL) || 15);
  if (!Number.isInteger(ttl) || ttl < 2 || ttl > 3600) throw new ValidationError('hostTtl', o.hostTtl, 'must be a whole number of seconds from 2 to 3600');
  const advertise = o.advertise ?? process.env.NSNET_ADVERTISE_ADDR ?? (await routeSource(ctx.host, g.url));
  if (!toBig(advertise)) throw new ValidationError('advertise', advertise, 'must be an IP address');
  await g.register({ address: advertise, vtepMac: vtepMac(g.hostId), ttl, republish: () => republish(ctx, g).then(() => {}) });
}

/** This host as the overlay driver needs it, from its host record (whichever process registered it); peers tells the PeerSync of this process. */
export function overlayContext(g: GlobalStore, peers: () => PeerSync | null): OverlayContext {
  const self = () => g.hosts().find((h) => h.id === g.hostId);
  return {
    get address() {
      const h = self();
      if (!h) throw NsnetError.state('ERR_NSNET_GLOBAL_STORE', 'overlay', g.url, 'this host is not registered in the global store: run `nsnet daemon --global-store ...`');
      return h.address;
    },
    vtepMac: vtepMac(g.hostId),
    peers: (id) => remotePeers(g, id),
    making: (id, on) => peers()?.making(id, on),
    programmed: (id, vxlan, list, ms, trips) => peers()?.adopt(id, vxlan, list, ms, trips),
    removed: (id) => peers()?.forget(id),
  };
}

/** The global networks, from the mirror. */
function globalNetworks(g: GlobalStore): Map<string, NetworkRecord> {
  return new Map(g.mirror.entries(g.keys.dir('networks')).filter((e) => !e.bad).map((e) => [(e.value as NetworkRecord).id, e.value as NetworkRecord]));
}

/** This host's endpoints on global networks, from its local store. */
async function ownGlobal(ctx: CnmContext, nets: Map<string, NetworkRecord>): Promise<EndpointRecord[]> {
  return (await ctx.store.view((t) => t.endpoints())).filter((e) => nets.has(e.networkId));
}

/**
 * Puts this host's endpoints and their addresses (kept in its local store)
 * under its lease, where they are missing (its lease expired) or under an
 * old one. Returns those whose address another host took meanwhile.
 */
export async function republish(ctx: CnmContext, g: GlobalStore): Promise<EndpointRecord[]> {
  const nets = globalNetworks(g);
  const eps = await ownGlobal(ctx, nets);
  const entries: { key: string; raw: string; expect: 'absent-or-same' }[] = [];
  const keysOf = new Map<string, EndpointRecord>();
  for (const e of eps) {
    const net = nets.get(e.networkId)!;
    const ek = g.keys.endpoint(e.networkId, e.id);
    entries.push({ key: ek, raw: JSON.stringify({ ...e, host: g.hostId } satisfies GlobalEndpoint), expect: 'absent-or-same' });
    keysOf.set(ek, e);
    for (const a of e.addresses) {
      const addr = a.split('/')[0]!;
      const s = net.subnets.find((x) => Prefix.parse(x.subnet).contains(toBig(addr)!.n));
      if (!s) continue;
      const ak = g.keys.pool(net.id, s.subnet) + addr;
      entries.push({ key: ak, raw: e.id, expect: 'absent-or-same' });
      keysOf.set(ak, e);
    }
  }
  const refused = await g.putLeased(entries);
  return [...new Set(refused.map((k) => keysOf.get(k)!))];
}

export interface GlobalReport {
  found: string[];
  errors: string[];
  /** This host's endpoints whose address another host holds now: removed from their sandboxes. */
  lost: EndpointRecord[];
}

/**
 * The global half of reconcile, before sandboxes are verified: this
 * host's endpoints back in etcd, its endpoints in etcd that its local
 * store does not know removed, the devices of every global network with a
 * sandbox here made (with their peers) and those of networks without one
 * removed.
 */
export async function reconcileGlobal(ctx: CnmContext, g: GlobalStore): Promise<GlobalReport> {
  const out: GlobalReport = { found: [], errors: [], lost: [] };
  const nets = globalNetworks(g);
  // etcd's side is the registering process's (the daemon's): a command beside it leaves that to it.
  if (g.registered) await etcdSide(ctx, g, nets, out);
  await kernelSide(ctx, nets, out);
  return out;
}

/** This host's endpoints back in etcd; its endpoints in etcd that its local store does not know removed. */
async function etcdSide(ctx: CnmContext, g: GlobalStore, nets: Map<string, NetworkRecord>, out: GlobalReport): Promise<void> {
  try {
    out.lost = await republish(ctx, g);
    for (const e of out.lost) out.found.push(`endpoint ${e.name}: an address of it is another host's now (this host was away longer than its lease): removed`);
    const mine = new Set((await ownGlobal(ctx, nets)).map((e) => e.id));
    // One transaction per endpoint: however many there are, each stays
    // within etcd's limit on a transaction's operations. Each is whole on
    // its own (an endpoint goes with the addresses it holds, checked as
    // one), and one that conflicts is left to the next reconcile.
    for (const net of nets.values()) {
      for (const e of g.mirror.entries(g.keys.dir('endpoints', net.id))) {
        const ep = e.value as GlobalEndpoint | null;
        if (!ep || ep.host !== g.hostId || mine.has(ep.id)) continue;
        const t = g.begin();
        t.deleteEndpoint(net.id, ep.id);
        for (const s of net.subnets) for (const a of t.allocations(net.id, s.subnet)) if (a.owner === ep.id) t.release(net.id, s.subnet, a.address);
        if (t.dirty && !(await g.commit(t)).ok) out.errors.push(`endpoint ${ep.name} on ${net.name}: removing it from the global store conflicted; the next reconcile retries`);
        else out.found.push(`endpoint ${ep.name} on ${net.name}: in the global store but unknown here: removed from it`);
      }
    }
  } catch (e) {
    out.errors.push((e as Error).message);
  }
}

/** The devices of every global network with a sandbox here made (with their peers), those of networks without one removed. */
async function kernelSide(ctx: CnmContext, nets: Map<string, NetworkRecord>, out: GlobalReport): Promise<void> {
  const joined = new Set((await ctx.store.view((t) => t.endpoints())).filter((e) => e.sandboxId && nets.has(e.networkId)).map((e) => e.networkId));
  const links = new Map((await ctx.host.links.list()).map((l) => [l.name, l] as const));
  for (const net of nets.values()) {
    if (net.driver !== 'overlay') continue;
    try {
      if (joined.has(net.id)) {
        // As a join does, under the devices' lock, the store asked again: a removal in another process may have come first.
        const made = await withDevices(ctx, net, `reconciling network ${net.name}`, async () => (await ctx.joinedHere(net.id)) && ensureDevicesOnce(ctx, net));
        if (made) out.found.push(`network ${net.name}: ${overlayState(net).vxlan} was gone: made again`);
      } else if (links.has(overlayState(net).vxlan) || links.has(overlayState(net).bridge)) {
        if (await removeDevices(ctx, net)) out.found.push(`network ${net.name}: no sandbox here: its devices removed`);
      }
    } catch (e) {
      out.errors.push(`network ${net.name}: ${(e as Error).message}`);
    }
  }
}
