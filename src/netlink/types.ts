// The plain objects the low-level API returns, named as `ip -j` names them
// where it can, so results compare directly with iproute2's view.
import type { NativeAddr, NativeFdb, NativeLink, NativeNeigh, NativeRoute } from '../native.js';

export interface Link {
  ifindex: number;
  name: string;
  /** rtnl kind: veth, bridge, macvlan, vxlan ...; '' for lo and physical devices. */
  kind: string;
  up: boolean;
  /** IFF_* names as `ip -j link` prints them: UP, BROADCAST, LOWER_UP ... */
  flags: string[];
  mtu: number;
  mac: string | null;
  /** ifindex of the master (a bridge), or null. */
  master: number | null;
  /** IFLA_LINK: the veth peer or lower device's ifindex, or null. */
  link: number | null;
  /** Namespace id of `link` when it lives in another namespace, or null. */
  linkNetnsid: number | null;
  operstate: string;
  txqlen: number;
  /** IFLA_IFALIAS (`ifalias` in `ip -j link`), or null. */
  alias: string | null;
}

export interface Address {
  family: 4 | 6;
  ifindex: number;
  address: string;
  prefixlen: number;
  /** `address/prefixlen` */
  cidr: string;
  scope: string;
  broadcast: string | null;
  label: string;
  flags: string[];
}

export interface Route {
  family: 4 | 6;
  /** `default` or `prefix/len` */
  dst: string;
  gateway: string | null;
  /** ifindex of the output device, or null. */
  oif: number | null;
  prefsrc: string | null;
  table: number;
  metric: number | null;
  protocol: string;
  scope: string;
  type: string;
  mtu: number | null;
  /** A source-specific (IPv6) route's source prefix, `prefix/len` (`ip route ... from`); absent on the others. */
  src?: string;
}

export interface Neighbour {
  family: 4 | 6;
  ifindex: number;
  dst: string;
  lladdr: string | null;
  /** NUD_* names as `ip -j neigh` prints them: REACHABLE, STALE, PERMANENT ... */
  state: string[];
  /** NTF_* names: router, proxy, extern_learn ... */
  flags: string[];
}

/** A forwarding database entry, as `bridge -j fdb show` prints it. */
export interface FdbEntry {
  ifindex: number;
  /** The bridge it is a port of (NDA_MASTER), or null. */
  master: number | null;
  lladdr: string;
  /** A VXLAN remote, or null. */
  dst: string | null;
  vni: number | null;
  vlan: number | null;
  /** NUD_* names: PERMANENT (`bridge fdb add`'s), NOARP (static) ... */
  state: string[];
  /** NTF_* names: self, master, extern_learn ... */
  flags: string[];
}

const IFF: [number, string][] = [
  [0x1, 'UP'], [0x2, 'BROADCAST'], [0x4, 'DEBUG'], [0x8, 'LOOPBACK'], [0x10, 'POINTOPOINT'],
  [0x20, 'NOTRAILERS'], [0x40, 'RUNNING'], [0x80, 'NOARP'], [0x100, 'PROMISC'], [0x200, 'ALLMULTI'],
  [0x400, 'MASTER'], [0x800, 'SLAVE'], [0x1000, 'MULTICAST'], [0x2000, 'PORTSEL'], [0x4000, 'AUTOMEDIA'],
  [0x8000, 'DYNAMIC'], [0x10000, 'LOWER_UP'], [0x20000, 'DORMANT'], [0x40000, 'ECHO'],
];
const OPERSTATE = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];
const IFA_F: [number, string][] = [
  [0x1, 'secondary'], [0x2, 'nodad'], [0x4, 'optimistic'], [0x8, 'dadfailed'], [0x10, 'home'],
  [0x20, 'deprecated'], [0x40, 'tentative'], [0x80, 'permanent'], [0x100, 'mngtmpaddr'],
  [0x200, 'noprefixroute'], [0x400, 'autojoin'], [0x800, 'stable-privacy'],
];
export const SCOPE: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };
export const SCOPE_ID: Record<string, number> = { global: 0, universe: 0, site: 200, link: 253, host: 254 };
const ROUTE_SCOPE: Record<number, string> = { ...SCOPE, 0: 'universe' };
export const PROTOCOL: Record<number, string> = {
  0: 'unspec', 1: 'redirect', 2: 'kernel', 3: 'boot', 4: 'static', 16: 'dhcp', 186: 'bgp', 188: 'ospf',
};
export const RTN: Record<number, string> = {
  1: 'unicast', 2: 'local', 3: 'broadcast', 4: 'anycast', 5: 'multicast', 6: 'blackhole', 7: 'unreachable',
  8: 'prohibit', 9: 'throw', 10: 'nat',
};

const NUD: [number, string][] = [
  [0x1, 'INCOMPLETE'], [0x2, 'REACHABLE'], [0x4, 'STALE'], [0x8, 'DELAY'], [0x10, 'PROBE'], [0x20, 'FAILED'],
  [0x40, 'NOARP'], [0x80, 'PERMANENT'],
];
const NTF: [number, string][] = [
  [0x1, 'use'], [0x2, 'self'], [0x4, 'master'], [0x8, 'proxy'], [0x10, 'extern_learn'], [0x20, 'offloaded'],
  [0x40, 'sticky'], [0x80, 'router'],
];

const bits = (table: [number, string][], v: number) => table.filter(([b]) => v & b).map(([, n]) => n);

export function toLink(l: NativeLink): Link {
  return {
    ifindex: l.ifindex,
    name: l.name,
    kind: l.kind,
    up: (l.flags & 1) !== 0,
    flags: bits(IFF, l.flags),
    mtu: l.mtu,
    mac: l.mac,
    master: l.master || null,
    link: l.link || null,
    linkNetnsid: l.linkNetnsid,
    operstate: OPERSTATE[l.operstate] ?? 'UNKNOWN',
    txqlen: l.txqlen,
    alias: l.alias || null,
  };
}

export function toAddress(a: NativeAddr): Address {
  return {
    family: a.family,
    ifindex: a.ifindex,
    address: a.address,
    prefixlen: a.prefixlen,
    cidr: `${a.address}/${a.prefixlen}`,
    scope: SCOPE[a.scope] ?? String(a.scope),
    broadcast: a.broadcast,
    label: a.label,
    flags: bits(IFA_F, a.flags),
  };
}

export function toRoute(r: NativeRoute): Route {
  return {
    family: r.family,
    dst: r.dstLen === 0 ? 'default' : `${r.dst}/${r.dstLen}`,
    gateway: r.gateway,
    oif: r.oif || null,
    prefsrc: r.prefsrc,
    table: r.table,
    metric: r.metric,
    protocol: PROTOCOL[r.protocol] ?? String(r.protocol),
    scope: ROUTE_SCOPE[r.scope] ?? String(r.scope),
    type: RTN[r.type] ?? String(r.type),
    mtu: r.mtu || null,
    ...(r.src && r.srcLen ? { src: `${r.src}/${r.srcLen}` } : {}),
  };
}

export function toNeighbour(n: NativeNeigh): Neighbour {
  const { family, ifindex, dst, lladdr } = n;
  return { family, ifindex, dst, lladdr, state: n.state === 0 ? ['NONE'] : bits(NUD, n.state), flags: bits(NTF, n.flags) };
}

export function toFdb(f: NativeFdb): FdbEntry {
  return {
    ifindex: f.ifindex, master: f.master || null, lladdr: f.lladdr, dst: f.dst, vni: f.vni, vlan: f.vlan,
    state: f.state === 0 ? ['NONE'] : bits(NUD, f.state), flags: bits(NTF, f.flags),
  };
}
