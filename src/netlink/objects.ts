// Links, addresses, routes and neighbours of one namespace. Each change is a batch of
// one; reads are single dumps (or a single GET) on the namespace's socket.
import { NsnetError } from '../errors.js';
import { native, type DevRef, type NativeList } from '../native.js';
import * as v from '../validate.js';
import {
  Batch,
  type AddressOptions,
  type BridgeSpec,
  type HasHandle,
  type LinkChange,
  type MacvlanSpec,
  type FdbSpec,
  type NeighbourSpec,
  type RouteSpec,
  type VethSpec,
  type VxlanSpec,
} from './batch.js';
import { retryInterrupted } from './dump.js';
import { toAddress, toFdb, toLink, toNeighbour, toRoute, type Address, type FdbEntry, type Link, type Neighbour, type Route } from './types.js';

/** A dump's items; a kernel error as an NsnetError, an interrupted dump tried again. */
export function list<T>(request: string, object: string, call: () => Promise<NativeList<T>>): Promise<T[]> {
  return retryInterrupted(() => listOnce(request, object, call));
}

async function listOnce<T>(request: string, object: string, call: () => Promise<NativeList<T>>): Promise<T[]> {
  let r: NativeList<T>;
  try {
    r = await call(); // a closed handle throws synchronously: report it the same way
  } catch (e) {
    throw NsnetError.system(object, e);
  }
  if (r.errno) throw NsnetError.kernel(request, object, r.errno, r.message || undefined);
  return r.items;
}

// A single change is a batch of one request: Batch holds the checks and the
// kernel's answer for both. Async, so that bad input rejects rather than throws.
async function one(ns: HasHandle, build: (b: Batch) => Batch): Promise<void> {
  return build(new Batch(ns)).commit();
}

/** The objects of one network namespace, changed one request at a time. */
export abstract class InNetns {
  constructor(protected readonly ns: HasHandle) {}
}

export class Links extends InNetns {
  /** A veth pair; the peer is created straight into `peer.netns` in the same request. */
  addVeth(spec: VethSpec): Promise<void> { return one(this.ns, (b) => b.addVeth(spec)); }
  addBridge(spec: BridgeSpec): Promise<void> { return one(this.ns, (b) => b.addBridge(spec)); }
  addMacvlan(spec: MacvlanSpec): Promise<void> { return one(this.ns, (b) => b.addMacvlan(spec)); }
  addVxlan(spec: VxlanSpec): Promise<void> { return one(this.ns, (b) => b.addVxlan(spec)); }

  set(dev: DevRef, change: LinkChange): Promise<void> { return one(this.ns, (b) => b.setLink(dev, change)); }
  setUp(dev: DevRef): Promise<void> { return this.set(dev, { up: true }); }
  setDown(dev: DevRef): Promise<void> { return this.set(dev, { up: false }); }
  setMaster(dev: DevRef, master: DevRef): Promise<void> { return this.set(dev, { master }); }
  setNomaster(dev: DevRef): Promise<void> { return this.set(dev, { master: null }); }
  setMtu(dev: DevRef, mtu: number): Promise<void> { return this.set(dev, { mtu }); }
  setMac(dev: DevRef, mac: string): Promise<void> { return this.set(dev, { mac }); }
  rename(dev: DevRef, name: string): Promise<void> { return this.set(dev, { name }); }

  /** Moves the link into another namespace (it keeps its name unless `name` is given). */
  moveTo(dev: DevRef, netns: HasHandle, name?: string): Promise<void> {
    return this.set(dev, name === undefined ? { netns } : { netns, name });
  }

  /** Deletes the link (a veth takes its peer with it). Waits for the kernel: an RCU grace period. */
  delete(dev: DevRef): Promise<void> { return one(this.ns, (b) => b.deleteLink(dev)); }

  /** The link, or null when there is none by that name or index. */
  async find(dev: DevRef): Promise<Link | null> {
    const d = v.dev(dev);
    let r;
    try {
      r = await native.links(this.ns.handle, typeof d === 'number' ? d : 0, typeof d === 'string' ? d : '');
    } catch (e) {
      throw NsnetError.system(`link '${d}'`, e);
    }
    if (r.errno === 19) return null; // ENODEV
    if (r.errno) throw NsnetError.kernel('RTM_GETLINK', `link '${d}'`, r.errno, r.message || undefined);
    return r.items[0] ? toLink(r.items[0]) : null;
  }

  async get(dev: DevRef): Promise<Link> {
    const l = await this.find(dev);
    if (!l) throw NsnetError.kernel('RTM_GETLINK', `link ${typeof dev === 'number' ? `ifindex ${dev}` : `'${dev}'`}`, 19);
    return l;
  }

  async list(): Promise<Link[]> {
    return (await list('RTM_GETLINK', 'links', () => native.links(this.ns.handle, 0, ''))).map(toLink);
  }
}

export class Addresses extends InNetns {
  add(dev: DevRef, cidr: string, options?: AddressOptions): Promise<void> { return one(this.ns, (b) => b.addAddress(dev, cidr, options)); }
  delete(dev: DevRef, cidr: string): Promise<void> { return one(this.ns, (b) => b.deleteAddress(dev, cidr)); }

  /** Addresses of every link, or of one (`dev`), of one family or both. */
  async list(filter: { dev?: DevRef; family?: 4 | 6 } = {}): Promise<Address[]> {
    let ifindex = 0;
    if (filter.dev !== undefined) {
      const d = v.dev(filter.dev);
      ifindex = typeof d === 'number' ? d : (await new Links(this.ns).get(d)).ifindex;
    }
    return (await list('RTM_GETADDR', 'addresses', () => native.addrs(this.ns.handle, filter.family ?? 0, ifindex))).map(toAddress);
  }
}

export class Routes extends InNetns {
  add(spec: RouteSpec): Promise<void> { return one(this.ns, (b) => b.addRoute(spec)); }
  replace(spec: RouteSpec): Promise<void> { return one(this.ns, (b) => b.replaceRoute(spec)); }
  delete(spec: RouteSpec): Promise<void> { return one(this.ns, (b) => b.deleteRoute(spec)); }

  /** Routes of the main table by default; `table: 'all'` for every table. */
  async list(filter: { family?: 4 | 6; table?: number | 'all' } = {}): Promise<Route[]> {
    const table = filter.table === 'all' ? 0 : v.uint(filter.table ?? 254, 'table', 0xffffffff, 1);
    return (await list('RTM_GETROUTE', 'routes', () => native.routes(this.ns.handle, filter.family ?? 0, table))).map(toRoute);
  }
}

export class Neighbours extends InNetns {
  add(spec: NeighbourSpec): Promise<void> { return one(this.ns, (b) => b.addNeighbour(spec)); }
  replace(spec: NeighbourSpec): Promise<void> { return one(this.ns, (b) => b.replaceNeighbour(spec)); }
  delete(spec: Pick<NeighbourSpec, 'dst' | 'dev'>): Promise<void> { return one(this.ns, (b) => b.deleteNeighbour(spec)); }

  /** ARP and NDP entries, of one family or both (bridge FDB entries are not: see fdb()). */
  async list(filter: { family?: 4 | 6 } = {}): Promise<Neighbour[]> {
    return (await list('RTM_GETNEIGH', 'neighbours', () => native.neighs(this.ns.handle, filter.family ?? 0))).map(toNeighbour);
  }
}

/** Forwarding database entries (`bridge fdb`): of bridge ports, and VXLAN devices' remotes. */
export class Fdb extends InNetns {
  add(spec: FdbSpec): Promise<void> { return one(this.ns, (b) => b.addFdb(spec)); }
  replace(spec: FdbSpec): Promise<void> { return one(this.ns, (b) => b.replaceFdb(spec)); }
  append(spec: FdbSpec): Promise<void> { return one(this.ns, (b) => b.appendFdb(spec)); }
  delete(spec: FdbSpec): Promise<void> { return one(this.ns, (b) => b.deleteFdb(spec)); }

  /** Every entry, or those of one device (ifindex). */
  async list(filter: { ifindex?: number } = {}): Promise<FdbEntry[]> {
    const all = (await list('RTM_GETNEIGH', 'fdb', () => native.fdb(this.ns.handle))).map(toFdb);
    return filter.ifindex === undefined ? all : all.filter((e) => e.ifindex === filter.ifindex);
  }
}
