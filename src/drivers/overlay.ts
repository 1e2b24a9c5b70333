// Docker's overlay driver on VXLAN: a global network spans hosts. Each host
// with a sandbox on it has a bridge and a VXLAN device (the network's VNI,
// UDP port 4789, learning off, ARP proxy on) as a port of it; a sandbox's
// interface is a veth on that bridge, as on a bridge network. Nothing is
// learnt or flooded: each remote endpoint gets a forwarding entry (its MAC
// -> its host's VTEP) and a neighbour entry (its IP -> its MAC) on the
// VXLAN device, so the device answers ARP itself and sends each frame to
// the one host that has its destination (peers.ts programs them as the
// global store changes). The host has no address on the network: an
// overlay network gives no route out; a sandbox reaches outside through a
// local bridge network it also joins, as Docker's containers do through
// docker_gwbridge.
import { NsnetError, ValidationError } from '../errors.js';
import type { Batch } from '../netlink/batch.js';
import { ownerOf, ownerTag, ownership } from '../owner.js';
import type { NetworkRecord } from '../store/store.js';
import * as v from '../validate.js';
import { bridgeDriver } from './bridge.js';
import type { Driver, DriverContext, OverlayContext, Peer } from './driver.js';
import { hold, holding, inTurn, removeInTurn } from './hostdevices.js';

/** IANA's VXLAN port, which Docker uses too; the kernel's own default is Linux's older 8472. */
export const VXLAN_PORT = 4789;
/** What VXLAN over IPv4 adds to a frame: outer IPv4 (20), UDP (8), VXLAN (8), inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;
/** Where automatic VNIs start, as Docker's do (lower ones are left to people). */
const FIRST_VNI = 4096;
const MAX_VNI = 0xffffff;

export interface OverlayState {
  vni: number;
  /** This network's bridge and VXLAN device on every host that has a sandbox on it. */
  bridge: string;
  vxlan: string;
  mtu: number;
  /** What the bridge driver's join reads (the sandbox side is the same). */
  ifPrefix: string;
  mac: 'ip';
}

export const overlayState = (n: NetworkRecord) => n.driverState as unknown as OverlayState;

const KEYS: Record<string, 'vni' | 'mtu'> = {
  'com.docker.network.driver.overlay.vxlanid_list': 'vni',
  vni: 'vni',
  'com.docker.network.driver.mtu': 'mtu',
  mtu: 'mtu',
};

function overlayOf(ctx: DriverContext): OverlayContext {
  if (!ctx.overlay) throw NsnetError.state('ERR_NSNET_UNSUPPORTED', 'overlay', 'global store', 'overlay networks need a registered host: open the controller with a global store (nsnet daemon --global-store)');
  return ctx.overlay;
}

/**
 * The requests that program peers on a network's VXLAN device: forwarding
 * entries and neighbours, replaced so that they may exist already. A peer
 * to remove with no VTEP has only its neighbours removed.
 */
export function programPeers(b: Batch, vxlan: string | number, add: Peer[], remove: Peer[]): void {
  for (const p of remove) {
    if (p.vtep) b.deleteFdb({ lladdr: p.mac, dev: vxlan });
    for (const ip of p.ips) b.deleteNeighbour({ dst: ip, dev: vxlan });
  }
  for (const p of add) {
    b.replaceFdb({ lladdr: p.mac, dev: vxlan, dst: p.vtep });
    for (const ip of p.ips) b.replaceNeighbour({ dst: ip, lladdr: p.mac, dev: vxlan });
  }
}

/** One peer to program on (or remove from) a VXLAN device. */
export interface PeerChange {
  vxlan: string | number;
  peer: Peer;
  remove: boolean;
}

/**
 * Peers per trip. A trip's requests are made and handed to the addon in
 * one turn of the JS thread, about 10 us per peer: thousands in one trip
 * held it for tens of ms, while DNS answers and every other caller waited.
 */
export const PEERS_PER_TRIP = 48;

/**
 * Sends changes in trips of PEERS_PER_TRIP peers, one after another, the
 * first in `first` (which may hold other requests before them; it is sent
 * even with no change), the rest each in a batch of next(). Removals go
 * before additions. Stops at the first trip that fails (what went before
 * stays, as with the parts of one batch). Resolves with the trips made;
 * onTrip is told of each as it is done.
 */
export async function commitPeers(first: Batch, next: () => Batch, changes: PeerChange[], onTrip?: () => void): Promise<number> {
  const ordered = [...changes.filter((c) => c.remove), ...changes.filter((c) => !c.remove)];
  let trips = 0;
  for (let i = 0; i === 0 || i < ordered.length; i += PEERS_PER_TRIP) {
    const b = i === 0 ? first : next();
    for (const c of ordered.slice(i, i + PEERS_PER_TRIP)) programPeers(b, c.vxlan, c.remove ? [] : [c.peer], c.remove ? [c.peer] : []);
    await b.commit();
    trips++;
    onTrip?.();
  }
  return trips;
}

/**
 * Makes a network's bridge and VXLAN device on this host if they are not
 * there, with every current peer programmed: the devices and the first
 * peers in one trip, all or nothing, the other peers in the trips after
 * it. Returns whether it made them.
 */
export async function ensureDevices(ctx: DriverContext, n: NetworkRecord, again = false): Promise<boolean> {
  const st = overlayState(n);
  const o = overlayOf(ctx);
  // Every join asks: one lookup answers when the devices are there (the VXLAN device is a port of its bridge).
  const vx = await ctx.host.links.find(st.vxlan);
  if (vx && vx.master !== null && ownership(ctx.owner, vx.alias) === 'mine') return false;
  const br = await ctx.host.links.find(st.bridge);
  for (const l of [vx, br]) {
    if (l && ownership(ctx.owner, l.alias) === 'other')
      throw NsnetError.state('ERR_NSNET_IN_USE', 'overlay.devices', l.name, `${l.name} belongs to another nsnet store (${ownerOf(l.alias)})`);
  }
  if (vx && br && vx.master === br.ifindex) return false;
  if (!vx) await checkUnderlay(ctx, o, st);
  const b = ctx.host.batch();
  if (!br) {
    b.addBridge({ name: st.bridge, up: true, mtu: st.mtu });
    b.setLink(st.bridge, { alias: ownerTag(ctx.owner, n.id) });
  }
  if (!vx) {
    b.addVxlan({ name: st.vxlan, vni: st.vni, port: VXLAN_PORT, local: o.address, learning: false, proxy: true, mtu: st.mtu, mac: o.vtepMac });
    b.setLink(st.vxlan, { alias: ownerTag(ctx.owner, n.id), addrGenMode: 'none' });
  }
  b.setLink(st.vxlan, { master: st.bridge, up: true });
  const peers = o.peers(n.id);
  o.making?.(n.id, true);
  const t0 = performance.now();
  let trips = 0;
  try {
    const next = () => {
      ctx.faults?.('overlay.peers');
      return ctx.host.batch();
    };
    await commitPeers(b, next, peers.map((peer) => ({ vxlan: st.vxlan, peer, remove: false })), () => trips++);
    o.programmed?.(n.id, st.vxlan, peers, performance.now() - t0, trips);
  } catch (e) {
    // Once the first trip made the devices, another join may use them: they
    // stay, and the peers a later trip missed are the peer sync's to program
    // (making(false) has it read the device back).
    if (trips > 0) {
      o.making?.(n.id, false);
      return true;
    }
    // A device whose making found one there already is not ours to delete:
    // another process came first.
    // The bridge is the trip's first request: if it was there, the trip made nothing.
    const found = (name: string) => (e as NsnetError).code === 'EEXIST' && String((e as NsnetError).object ?? '').includes(`'${name}'`);
    if (!found(st.bridge)) {
      if (!br) await ctx.host.links.delete(st.bridge).catch(() => {});
      if (!vx && !found(st.vxlan)) await ctx.host.links.delete(st.vxlan).catch(() => {});
    }
    o.making?.(n.id, false);
    // Look again, once: devices of this network that came meanwhile do.
    if (!again && (found(st.bridge) || (found(st.vxlan) && (await ctx.host.links.find(st.vxlan))))) return ensureDevices(ctx, n, true);
    if ((e as NsnetError).code === 'EEXIST' && !vx)
      throw NsnetError.state('ERR_NSNET_IN_USE', 'overlay.devices', String(st.vni),
        `VNI ${st.vni} on UDP port ${VXLAN_PORT} is in use by another VXLAN device on this host (${(e as Error).message})`);
    throw e;
  }
  return true;
}

/** The underlay must carry a full overlay frame plus VXLAN's 50 bytes, from the address the other hosts send to. */
async function checkUnderlay(ctx: DriverContext, o: OverlayContext, st: OverlayState): Promise<void> {
  const a = (await ctx.host.addresses.list()).find((x) => x.address === o.address);
  if (!a) throw NsnetError.state('ERR_NSNET_INVALID', 'overlay.devices', o.address, `${o.address}, this host's advertised address, is none of its addresses`);
  const dev = await ctx.host.links.get(a.ifindex);
  if (dev.mtu < st.mtu + VXLAN_OVERHEAD)
    throw NsnetError.state('ERR_NSNET_INVALID', 'overlay.devices', dev.name,
      `${dev.name} (MTU ${dev.mtu}) cannot carry the overlay's MTU ${st.mtu} plus VXLAN's ${VXLAN_OVERHEAD} bytes: give the network -o mtu=${dev.mtu - VXLAN_OVERHEAD} or less`);
}

/** A network's devices on this host, as hostdevices.ts coordinates them (its key and lock file). */
const devices = (n: NetworkRecord) => `overlay-${n.id}`;

/** ensureDevices in its turn: a join (or a reconcile) that comes meanwhile waits and then finds the devices. */
export function ensureDevicesOnce(ctx: DriverContext, n: NetworkRecord): Promise<boolean> {
  return inTurn(ctx, devices(n), () => ensureDevices(ctx, n));
}

/**
 * Removes this host's devices of a network unless a sandbox here uses them
 * or a join is under way (hostdevices.ts removeInTurn). A sandbox uses them
 * if a port of the bridge (but the VXLAN device and going's veths) is there
 * while the store (which every process of it shares) has an endpoint of
 * the network joined here: a port alone may be a released namespace's veth
 * the kernel has yet to take away, a record alone a failed join's being
 * undone.
 */
export function removeDevices(ctx: DriverContext, n: NetworkRecord, going: Going = {}): Promise<boolean> {
  return removeInTurn(ctx, devices(n), () => removeDevicesNow(ctx, n, going));
}

/** fn while holding a network's devices as a join does: no process of this store removes them meanwhile. */
export const withDevices = <T>(ctx: DriverContext, n: NetworkRecord, what: string, fn: () => Promise<T>): Promise<T> => holding(ctx, devices(n), what, fn);

/** What is on its way out when devices may go: veths that released namespaces take away later, and an endpoint whose leave (or failed join) is still joined in the store. */
export interface Going {
  ifnames?: string[];
  endpoint?: string;
}

/** Whether it removed devices (null: something still uses them, so they stay). */
async function removeDevicesNow(ctx: DriverContext, n: NetworkRecord, going: Going): Promise<boolean | null> {
  const st = overlayState(n);
  const links = await ctx.host.links.list();
  const br = links.find((l) => l.name === st.bridge);
  const vx = links.find((l) => l.name === st.vxlan);
  const port = br && links.some((l) => l.master === br.ifindex && l.ifindex !== vx?.ifindex && !going.ifnames?.includes(l.name));
  if (port && (await ctx.joinedHere?.(n.id, going.endpoint)) !== false) return null;
  let removed = false;
  ctx.overlay?.removed?.(n.id);
  for (const l of [vx, br]) {
    if (!l || ownership(ctx.owner, l.alias) !== 'mine') continue;
    await ctx.host.links.delete(l.ifindex).catch((e: NsnetError) => {
      if (e.code !== 'ENODEV') throw e;
    });
    removed = true;
  }
  return removed;
}

/** The smallest VNI from 4096 up that no network has. */
function freeVni(used: Set<number>): number {
  for (let vni = FIRST_VNI; vni <= MAX_VNI; vni++) if (!used.has(vni)) return vni;
  throw NsnetError.state('ERR_NSNET_EXHAUSTED', 'network.create', 'vni', 'every VNI is taken');
}

export const overlayDriver: Driver = {
  name: 'overlay',
  sandboxKind: 'own',
  usesIpam: true,
  singleton: false,
  scope: 'global',

  validateNetwork(n, others) {
    const st: OverlayState = { vni: 0, bridge: `nsov-${n.id.slice(0, 10)}`, vxlan: `nsvx-${n.id.slice(0, 10)}`, mtu: 1500 - VXLAN_OVERHEAD, ifPrefix: 'eth', mac: 'ip' };
    let vni: number | null = null;
    for (const [key, val] of Object.entries(n.options)) {
      const f = Object.hasOwn(KEYS, key) ? KEYS[key] : undefined;
      if (!f) throw new ValidationError(`option ${key}`, val, `is not an overlay option (known: ${Object.keys(KEYS).join(', ')})`);
      if (f === 'mtu') st.mtu = v.mtu(Number(val), `option ${key}`);
      else if (!/^\d+$/.test(val) || Number(val) < 1 || Number(val) > MAX_VNI) throw new ValidationError(`option ${key}`, val, `must be a VNI from 1 to ${MAX_VNI}`);
      else vni = Number(val);
    }
    const used = new Map(others.filter((o) => o.driver === 'overlay').map((o) => [overlayState(o).vni, o.name]));
    if (vni !== null && used.has(vni)) throw NsnetError.state('ERR_NSNET_IN_USE', 'network.create', String(vni), `VNI ${vni} is in use by network ${used.get(vni)}`);
    st.vni = vni ?? freeVni(new Set(used.keys()));
    // No host routes for the network: it has no gateway, and addresses start at the subnet's first.
    for (const s of n.subnets) s.gateway = null;
    return st as unknown as Record<string, unknown>;
  },

  // The devices are made on each host by its first join (prepareJoin).
  createNetwork: async () => {},

  async deleteNetwork(ctx, n) {
    // Its endpoints here have left (their veths deleted): a port still on the bridge is another process's sandbox.
    await removeDevices(ctx, n);
  },

  networkLinks(n) {
    const st = overlayState(n);
    return [st.bridge, st.vxlan];
  },

  async prepareJoin(ctx, n) {
    const release = await hold(ctx, devices(n), `joining network ${n.name}`);
    try {
      await ensureDevicesOnce(ctx, n);
    } catch (e) {
      release();
      throw e;
    }
    return release;
  },

  prepareEndpoint: (n, ep) => bridgeDriver.prepareEndpoint(n, ep),

  join: (ctx, n, ep, sb, b, o) => bridgeDriver.join(ctx, n, ep, sb, b, { ...o, gatewayEndpoint: false }),

  // A veth plugged (or made) again under the devices' lock: no removal in another process meanwhile.
  repair: (ctx, n, ep, sb, view, o) => withDevices(ctx, n, `repairing ${ep.name}`, () => bridgeDriver.repair!(ctx, n, ep, sb, view, o)),

  async leave(ctx, n, ep, sb) {
    await bridgeDriver.leave(ctx, n, ep, sb);
    // The last port of this host's bridge: the devices go too (a failed join's undo), ep's own record not counting.
    await removeDevices(ctx, n, { endpoint: ep.id });
  },

  async vacate(ctx, n, leaving) {
    // The leaving sandboxes' veths may still be ports, their released namespaces on their way out.
    await removeDevices(ctx, n, { ifnames: leaving });
  },

  detach: (ctx, n, ep) => bridgeDriver.detach!(ctx, n, ep),

  check: (ctx, n, ep) => bridgeDriver.check!(ctx, n, ep),

  async checkNetwork(ctx, n) {
    const st = overlayState(n);
    const [br, vx] = await Promise.all([ctx.host.links.find(st.bridge), ctx.host.links.find(st.vxlan)]);
    if (!br && !vx) return [];
    const problems: string[] = [];
    if (!br) problems.push(`bridge ${st.bridge} of network ${n.name} is missing`);
    if (!vx) problems.push(`VXLAN device ${st.vxlan} of network ${n.name} is missing`);
    else if (br && vx.master !== br.ifindex) problems.push(`VXLAN device ${st.vxlan} is not a port of ${st.bridge}`);
    return problems;
  },
};
