// A batch of rtnetlink changes to one namespace, sent in as few sendmsg
// calls as possible (one, unless an op names a link an earlier op creates).
// Every method validates its input at once, so a bad batch throws before
// anything reaches the kernel. The single-op methods of Links, Addresses,
// Routes and Neighbours are batches of one. What each request takes is in
// specs.ts.
import { NsnetError, ValidationError } from '../errors.js';
import { native, type NativeGroup, type NativeNftOp, type AddrOp, type DevRef, type LinkAddOp, type LinkFields, type LinkSetOp } from '../native.js';
import type { NativeOp, NativeReply, NeighOp, RouteOp } from '../native.js';
import * as v from '../validate.js';
import { toNativeNftOp, type NftOp } from './nftops.js';
import { ADDR_GEN_MODE, IPV4_CONF, MACVLAN_MODE, NUD, RTM_TYPE } from './specs.js';
import type { AddressOptions, BridgeSpec, CommonLink, FdbSpec, HasHandle, LinkChange, MacvlanSpec, NeighbourSpec, RouteSpec, VethSpec, VxlanSpec } from './specs.js';
import { SCOPE_ID } from './types.js';

/** The address family of forwarding database entries, and their NTF_* flags. */
const AF_BRIDGE = 7;
const NTF_SELF = 0x02;
const NTF_MASTER = 0x04;

export type { AddrGenMode, AddressOptions, BridgeSpec, FdbSpec, HasHandle, Ipv4ConfKey, LinkChange, MacvlanMode, MacvlanSpec } from './specs.js';
export type { NeighbourSpec, RouteSpec, VethSpec, VxlanSpec } from './specs.js';

interface Pending {
  op: NativeOp | NativeNftOp | [string, string];
  request: string;
  object: string;
}

interface Group {
  target: HasHandle;
  ops: Pending[];
  /** One nf_tables transaction, or sysctl writes, rather than rtnetlink requests. */
  nft?: true;
  sysctl?: true;
}

const q = (d: DevRef) => (typeof d === 'number' ? `ifindex ${d}` : `'${d}'`);

function ipv4Conf(conf: LinkChange['ipv4Conf']): [number, number][] {
  if (!conf || typeof conf !== 'object') throw new ValidationError('ipv4Conf', conf, 'must be an object of net.ipv4.conf settings');
  return Object.entries(conf).map(([k, val]) => {
    if (!Object.hasOwn(IPV4_CONF, k)) throw new ValidationError('ipv4Conf', k, `is not one of ${Object.keys(IPV4_CONF).join(', ')}`);
    return [IPV4_CONF[k as keyof typeof IPV4_CONF], v.uint(val, `ipv4Conf.${k}`)];
  });
}

function common(spec: CommonLink): LinkFields {
  const o: LinkFields = {};
  if (spec.up !== undefined) o.up = !!spec.up;
  if (spec.mtu !== undefined) o.mtu = v.mtu(spec.mtu);
  if (spec.mac !== undefined) o.mac = v.mac(spec.mac);
  if (spec.netns !== undefined) o.netns = v.handle(spec.netns, 'netns');
  if (spec.txqlen !== undefined) o.txqlen = v.uint(spec.txqlen, 'txqlen');
  return o;
}

export class Batch {
  private readonly groups: Group[];

  constructor(target: HasHandle) {
    this.groups = [{ target, ops: [] }];
  }

  get size(): number {
    return this.groups.reduce((n, g) => n + g.ops.length, 0);
  }

  /**
   * Switches the namespace that the following requests act on. A batch that
   * spans namespaces (a veth from the host, then its far end inside the
   * sandbox) is still one trip to the addon's threads.
   */
  in(target: HasHandle): this {
    this.start({ target, ops: [] });
    return this;
  }

  private get last(): Group {
    return this.groups[this.groups.length - 1]!;
  }

  /** Makes g the last group; an empty last group (nothing asked of it yet) gives way to it. */
  private start(g: Group): Group {
    if (this.last.ops.length === 0) this.groups[this.groups.length - 1] = g;
    else this.groups.push(g);
    return g;
  }

  private push(op: NativeOp, request: string, object: string): this {
    const g = this.last.nft || this.last.sysctl ? this.start({ target: this.last.target, ops: [] }) : this.last;
    g.ops.push({ op, request, object });
    return this;
  }

  /**
   * Adds one nf_tables transaction (see Nftables.commit) on the current
   * namespace, sent in the same trip as the rest: all of its ops apply or
   * none does. Like any request, it is not sent if an earlier one failed;
   * put it last, and an rtnetlink failure leaves the ruleset untouched.
   */
  nftables(ops: NftOp[]): this {
    if (!Array.isArray(ops) || ops.length === 0) throw new ValidationError('ops', ops, 'must be a non-empty list');
    this.start({ target: this.last.target, ops: ops.map((o, i) => toNativeNftOp(o, `ops[${i}]`)), nft: true });
    return this;
  }

  /**
   * Writes a net.* sysctl as the current namespace sees it (`sysctl -w`),
   * in the same trip, between the requests before and after it: for what
   * netlink cannot set (an interface's disable_ipv6). The addon enters the
   * namespace to write it, so a batch with one runs on its namespace thread.
   */
  sysctl(key: string, value: string | number): this {
    const k = v.sysctlKey(key, 'sysctl key');
    const val = String(v.sysctlValue(value, `sysctl ${k}`));
    const g = this.last.sysctl ? this.last : this.start({ target: this.last.target, ops: [], sysctl: true });
    g.ops.push({ op: [k, val], request: 'sysctl', object: `sysctl ${k}` });
    return this;
  }

  addVeth(spec: VethSpec): this {
    const name = v.ifname(v.spec(spec, 'veth').name, 'veth name');
    const p = v.spec(spec.peer, 'veth peer');
    const peer: NonNullable<LinkFields['peer']> = { name: v.ifname(p.name, 'veth peer name') };
    if (p.netns !== undefined) peer.netns = v.handle(p.netns, 'veth peer netns');
    if (p.mac !== undefined) peer.mac = v.mac(p.mac, 'peer mac');
    if (p.mtu !== undefined) peer.mtu = v.mtu(p.mtu, 'peer mtu');
    const op: LinkAddOp = { op: 'link.add', kind: 'veth', name, ...common(spec), peer };
    if (spec.master !== undefined) op.master = v.dev(spec.master, 'master');
    return this.push(op, 'RTM_NEWLINK', `veth '${name}'`);
  }

  addBridge(spec: BridgeSpec): this {
    const name = v.ifname(v.spec(spec, 'bridge').name, 'bridge name');
    const op: LinkAddOp = { op: 'link.add', kind: 'bridge', name, ...common(spec) };
    if (spec.stp !== undefined) op.stp = !!spec.stp;
    if (spec.vlanFiltering !== undefined) op.vlanFiltering = !!spec.vlanFiltering;
    return this.push(op, 'RTM_NEWLINK', `bridge '${name}'`);
  }

  addMacvlan(spec: MacvlanSpec): this {
    const name = v.ifname(v.spec(spec, 'macvlan').name, 'macvlan name');
    const mode = spec.mode ?? 'bridge';
    if (!Object.hasOwn(MACVLAN_MODE, mode)) throw new ValidationError('macvlan mode', mode, `must be one of ${Object.keys(MACVLAN_MODE).join(', ')}`);
    const op: LinkAddOp = { op: 'link.add', kind: 'macvlan', name, ...common(spec), link: v.dev(spec.link, 'macvlan link'), mode: MACVLAN_MODE[mode] };
    return this.push(op, 'RTM_NEWLINK', `macvlan '${name}'`);
  }

  addVxlan(spec: VxlanSpec): this {
    const name = v.ifname(v.spec(spec, 'vxlan').name, 'vxlan name');
    const op: LinkAddOp = { op: 'link.add', kind: 'vxlan', name, ...common(spec), vni: v.uint(spec.vni, 'vni', 0xffffff) };
    if (spec.remote !== undefined) op.remote = v.ip(spec.remote, 'vxlan remote').address;
    if (spec.local !== undefined) op.local = v.ip(spec.local, 'vxlan local').address;
    if (spec.port !== undefined) op.port = v.uint(spec.port, 'vxlan port', 65535, 1);
    if (spec.link !== undefined) op.link = v.dev(spec.link, 'vxlan link');
    if (spec.ttl !== undefined) op.ttl = v.uint(spec.ttl, 'vxlan ttl', 255);
    if (spec.learning !== undefined) op.learning = !!spec.learning;
    if (spec.proxy !== undefined) op.proxy = !!spec.proxy;
    return this.push(op, 'RTM_NEWLINK', `vxlan '${name}'`);
  }

  setLink(dev: DevRef, change: LinkChange): this {
    const d = v.dev(dev);
    const op: LinkSetOp = { op: 'link.set', dev: d, ...common(v.spec(change, 'link change')) };
    if (change.name !== undefined) op.name = v.ifname(change.name, 'new name');
    if (change.master === null) op.master = null;
    else if (change.master !== undefined) op.master = v.dev(change.master, 'master');
    if (change.hairpin !== undefined) op.hairpin = !!change.hairpin;
    if (change.fdbFlush) op.fdbFlush = true;
    if (change.alias !== undefined) {
      if (typeof change.alias !== 'string' || Buffer.byteLength(change.alias) > 255 || change.alias.includes('\0'))
        throw new ValidationError('alias', change.alias, 'must be a string of at most 255 bytes without NUL');
      op.alias = change.alias;
    }
    if (change.addrGenMode !== undefined) {
      if (!Object.hasOwn(ADDR_GEN_MODE, change.addrGenMode))
        throw new ValidationError('addrGenMode', change.addrGenMode, `must be one of ${Object.keys(ADDR_GEN_MODE).join(', ')}`);
      op.addrGenMode = ADDR_GEN_MODE[change.addrGenMode];
    }
    if (change.ipv4Conf !== undefined) op.ipv4Conf = ipv4Conf(change.ipv4Conf);
    return this.push(op, 'RTM_NEWLINK', `link ${q(d)}`);
  }

  setUp(dev: DevRef): this {
    return this.setLink(dev, { up: true });
  }

  setDown(dev: DevRef): this {
    return this.setLink(dev, { up: false });
  }

  deleteLink(dev: DevRef): this {
    const d = v.dev(dev);
    return this.push({ op: 'link.del', dev: d }, 'RTM_DELLINK', `link ${q(d)}`);
  }

  private address(op: 'addr.add' | 'addr.del', dev: DevRef, cidr: string, o: AddressOptions = {}): this {
    const d = v.dev(dev);
    const c = v.cidr(cidr);
    const n: AddrOp = { op, dev: d, address: c.address, prefixlen: c.prefixlen };
    if (o.peer !== undefined) n.peer = v.ip(o.peer, 'peer').address;
    if (o.scope !== undefined) {
      if (!Object.hasOwn(SCOPE_ID, o.scope)) throw new ValidationError('scope', o.scope, 'must be global, site, link or host');
      n.scope = SCOPE_ID[o.scope];
    }
    if (o.nodad) n.flags = 0x2; // IFA_F_NODAD
    if (o.label !== undefined) {
      if (c.family !== 4) throw new ValidationError('label', o.label, 'applies to IPv4 addresses only (the kernel ignores it for IPv6)');
      n.label = v.addrLabel(o.label);
    }
    return this.push(n, op === 'addr.add' ? 'RTM_NEWADDR' : 'RTM_DELADDR', `address ${c.address}/${c.prefixlen} on ${q(d)}`);
  }

  addAddress(dev: DevRef, cidr: string, options?: AddressOptions): this {
    return this.address('addr.add', dev, cidr, options);
  }

  deleteAddress(dev: DevRef, cidr: string): this {
    return this.address('addr.del', dev, cidr);
  }

  /**
   * Waits, on the addon's thread and for 20 ms at most, until dev answers
   * ARP or neighbour solicitations for `address`. The kernel's answer to a
   * request comes before two things it does later, from work queues: its
   * link watcher's handling of a link that came up (till then a veth's far
   * end, a bridge port, may drop what comes for it), and, for an IPv6
   * address added with nodad, joining its solicited-node group. A peer's
   * solicitation before that goes unanswered, and its first connection
   * waits a second for the next one: 1 to 8 creates in 600 here. Sends
   * nothing; what follows waits for it.
   */
  settleAddress(dev: DevRef, address: string): this {
    const d = v.dev(dev);
    const a = v.ip(address, 'address');
    return this.push({ op: 'addr.settle', dev: d, address: a.address }, 'settle (RTM_GETLINK, RTM_GETMULTICAST)', `address ${a.address} on ${q(d)} answering`);
  }

  /** The link part of settleAddress: waits until the link watcher has seen dev (up) as it is. */
  settleLink(dev: DevRef): this {
    const d = v.dev(dev);
    return this.push({ op: 'addr.settle', dev: d }, 'settle (RTM_GETLINK)', `link ${q(d)} settled`);
  }

  private route(op: 'route.add' | 'route.replace' | 'route.del', spec: RouteSpec): this {
    v.spec(spec, 'route');
    let family: 4 | 6 | undefined = spec.family;
    const n: RouteOp = { op, family: 2, dstLen: 0 };
    if (spec.dst !== 'default') {
      const c = v.cidr(spec.dst, 'route dst');
      family = c.family;
      n.dst = c.address;
      n.dstLen = c.prefixlen;
    }
    if (spec.gateway !== undefined) {
      const g = v.ip(spec.gateway, 'gateway');
      if (family !== undefined && g.family !== family) throw new ValidationError('gateway', spec.gateway, `is not an IPv${family} address`);
      family = g.family;
      n.gateway = g.address;
    }
    if (spec.prefsrc !== undefined) n.prefsrc = v.ip(spec.prefsrc, 'prefsrc').address;
    if (spec.dev !== undefined) n.dev = v.dev(spec.dev);
    if (spec.table !== undefined) n.table = v.uint(spec.table, 'table', 0xffffffff, 1);
    if (spec.metric !== undefined) n.metric = v.uint(spec.metric, 'metric');
    if (spec.scope !== undefined) {
      if (!Object.hasOwn(SCOPE_ID, spec.scope)) throw new ValidationError('scope', spec.scope, 'must be universe, link or host');
      n.scope = SCOPE_ID[spec.scope];
    }
    if (spec.protocol !== undefined) n.protocol = v.uint(spec.protocol, 'protocol', 255);
    if (spec.type !== undefined) {
      if (!Object.hasOwn(RTM_TYPE, spec.type)) throw new ValidationError('route type', spec.type, `must be one of ${Object.keys(RTM_TYPE).join(', ')}`);
      n.type = RTM_TYPE[spec.type];
    }
    if (spec.onlink) n.onlink = true;
    if (spec.mtu !== undefined) n.mtu = v.mtu(spec.mtu, 'route mtu');
    if (op !== 'route.del' && n.gateway === undefined && n.dev === undefined && (n.type ?? 1) === 1)
      throw new ValidationError('route', spec, 'needs a gateway or a dev');
    n.family = (family ?? 4) === 6 ? 10 : 2; // AF_INET6 : AF_INET
    const what = `route ${spec.dst}${n.gateway ? ` via ${n.gateway}` : ''}${n.dev !== undefined ? ` dev ${q(n.dev)}` : ''}`;
    return this.push(n, op === 'route.del' ? 'RTM_DELROUTE' : 'RTM_NEWROUTE', what);
  }

  addRoute(spec: RouteSpec): this { return this.route('route.add', spec); }
  replaceRoute(spec: RouteSpec): this { return this.route('route.replace', spec); }
  deleteRoute(spec: RouteSpec): this { return this.route('route.del', spec); }

  /** The start of a neighbour or FDB entry's request: op on spec's device. */
  private neighOp(op: NeighOp['op'], spec: { dev: DevRef }, what: string): NeighOp {
    if (!spec || typeof spec !== 'object') throw new ValidationError(what, spec, 'must be an object');
    return { op, dev: v.dev(spec.dev) };
  }

  private neighbour(op: NeighOp['op'], spec: NeighbourSpec): this {
    const n = this.neighOp(op, spec, 'neighbour');
    const address = v.ip(spec.dst, 'neighbour dst').address;
    n.dst = address;
    if (op !== 'neigh.del') {
      if (spec.lladdr === undefined) throw new ValidationError('lladdr', spec.lladdr, 'a neighbour entry needs its link-layer address');
      n.lladdr = v.mac(spec.lladdr, 'lladdr');
      const state = spec.state ?? 'permanent';
      if (!Object.hasOwn(NUD, state)) throw new ValidationError('state', spec.state, `must be one of ${Object.keys(NUD).join(', ')}`);
      n.state = NUD[state];
    }
    return this.push(n, op === 'neigh.del' ? 'RTM_DELNEIGH' : 'RTM_NEWNEIGH', `neighbour ${address} dev ${q(n.dev)}`);
  }

  /** Equivalent to `ip neigh add DST lladdr LLADDR dev DEV nud permanent`. */
  addNeighbour(spec: NeighbourSpec): this { return this.neighbour('neigh.add', spec); }

  /** Equivalent to `ip neigh replace ...`: adds, or changes an existing entry. */
  replaceNeighbour(spec: NeighbourSpec): this { return this.neighbour('neigh.replace', spec); }

  /** Equivalent to `ip neigh del DST dev DEV`. */
  deleteNeighbour(spec: Pick<NeighbourSpec, 'dst' | 'dev'>): this { return this.neighbour('neigh.del', spec); }

  private fdb(op: NeighOp['op'], spec: FdbSpec): this {
    // NOARP and PERMANENT, as `bridge fdb add ... permanent` sends them: never aged out.
    const n: NeighOp = { ...this.neighOp(op, spec, 'fdb'), family: AF_BRIDGE, lladdr: v.anyMac(spec.lladdr, 'lladdr'), state: NUD.noarp | NUD.permanent, flags: spec.master ? NTF_MASTER : NTF_SELF };
    if (spec.dst !== undefined) n.dst = v.ip(spec.dst, 'fdb dst').address;
    if (spec.vni !== undefined) n.vni = v.uint(spec.vni, 'vni', 0xffffff);
    return this.push(n, op === 'neigh.del' ? 'RTM_DELNEIGH' : 'RTM_NEWNEIGH', `fdb ${n.lladdr}${n.dst ? ` dst ${n.dst}` : ''} dev ${q(n.dev)}`);
  }

  /** Equivalent to `bridge fdb add LLADDR dev DEV [dst DST] self permanent`. */
  addFdb(spec: FdbSpec): this { return this.fdb('neigh.add', spec); }

  /** Equivalent to `bridge fdb replace ...`: adds, or points an existing entry elsewhere. */
  replaceFdb(spec: FdbSpec): this { return this.fdb('neigh.replace', spec); }

  /** Equivalent to `bridge fdb append ...`: one more remote for lladdr (00:00:00:00:00:00 floods to every remote). */
  appendFdb(spec: FdbSpec): this { return this.fdb('neigh.append', spec); }

  /** Equivalent to `bridge fdb del LLADDR dev DEV [dst DST] self`: without dst, every remote of lladdr. */
  deleteFdb(spec: FdbSpec): this { return this.fdb('neigh.del', spec); }

  /**
   * Takes the recorded requests out of the batch, in the addon's shape, with
   * a function that turns the addon's replies into the first error (or null).
   * For the layers that send a batch as part of something bigger.
   */
  take(): { groups: NativeGroup[]; check: (replies: NativeReply[]) => NsnetError | null; first: string } {
    const all = this.groups.splice(0);
    this.groups.push({ target: all[all.length - 1]!.target, ops: [] }); // reusable afterwards
    const groups = all.filter((g) => g.ops.length > 0);
    const ops = groups.flatMap((g) => g.ops);
    const check = (replies: NativeReply[]) => {
      const failed = replies.findIndex((r) => r.errno !== 0 && r.errno !== 125 /* ECANCELED: not sent */);
      if (failed < 0) return null;
      const p = ops[failed]!;
      const r = replies[failed]!;
      return NsnetError.kernel(p.request, p.object, r.errno, r.message || undefined);
    };
    const native = groups.map((g): NativeGroup => {
      const ops = g.ops.map((p) => p.op);
      if (g.sysctl) return { ns: g.target.handle, sysctl: ops as [string, string][] };
      return g.nft ? { ns: g.target.handle, nft: ops as NativeNftOp[] } : { ns: g.target.handle, ops: ops as NativeOp[] };
    });
    return { groups: native, check, first: ops[0]?.object ?? 'batch' };
  }

  /**
   * Sends the batch. The kernel applies requests in order; on the first
   * failure nothing after it is sent, and the error names that request.
   * Requests before it have taken effect (callers that need all-or-nothing
   * undo them).
   */
  async commit(): Promise<void> {
    const { groups, check, first } = this.take();
    if (groups.length === 0) return;
    let replies;
    try {
      replies = await native.exec(groups);
    } catch (e) {
      throw NsnetError.system(first, e);
    }
    const err = check(replies);
    if (err) throw err;
  }
}
