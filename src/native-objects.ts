// The kernel's objects as the addon hands them to JS: each built by its
// function in native-shapes.ts, the fields in the order the addon gives them.

export interface NativeLink {
  ifindex: number;
  name: string;
  kind: string;
  flags: number;
  mtu: number;
  mac: string | null;
  master: number;
  link: number;
  linkNetnsid: number | null;
  operstate: number;
  txqlen: number;
  group: number;
  slaveKind: string;
  alias: string;
}

export interface NativeAddr {
  family: 4 | 6;
  ifindex: number;
  address: string;
  peer: string | null;
  prefixlen: number;
  scope: number;
  flags: number;
  broadcast: string | null;
  label: string;
  validLft: number;
  preferredLft: number;
}

export interface NativeRoute {
  family: 4 | 6;
  dst: string | null;
  dstLen: number;
  gateway: string | null;
  prefsrc: string | null;
  oif: number;
  table: number;
  metric: number | null;
  scope: number;
  protocol: number;
  type: number;
  flags: number;
  mtu: number;
  /** A source-specific (IPv6) route's source prefix. */
  src: string | null;
  srcLen: number;
  /** RTA_METRICS as the kernel dumps it, in hex (mtu, rto_min, initcwnd ...), or null for none. */
  metrics: string | null;
  /** An IPv6 route's router preference (RTA_PREF), or null. */
  pref: number | null;
}

/** A forwarding database entry (AF_BRIDGE). */
export interface NativeFdb {
  ifindex: number;
  lladdr: string;
  dst: string | null;
  state: number;
  flags: number;
  master: number;
  vni: number | null;
  vlan: number | null;
}

export interface NativeNeigh {
  family: 4 | 6;
  ifindex: number;
  dst: string;
  lladdr: string | null;
  /** NUD_* bits */
  state: number;
  /** NTF_* bits */
  flags: number;
  type: number;
}

/** A policy routing rule; body is the dump's message body (see RawOp). */
export interface NativeRule {
  family: number;
  priority: number;
  table: number;
  /** FR_ACT_*: 1 to table, 2 goto, 3 nop, 6 blackhole ... */
  action: number;
  body: Buffer;
}

/** One socket of a namespace, as sock_diag (or /proc/net/raw) lists it. */
export interface NativeSocket {
  /** AF_INET 2, AF_INET6 10, AF_UNIX 1, AF_PACKET 17, AF_NETLINK 16. */
  family: number;
  /** inet: IPPROTO_*; netlink: NETLINK_*; raw: the IP protocol. */
  protocol: number;
  /** unix, packet, raw: SOCK_*. */
  type: number;
  /** inet and unix: TCP_* (10 listen, 1 established, 7 close ...). */
  state: number;
  inode: number;
  uid: number;
  src: string | null;
  dst: string | null;
  sport: number;
  dport: number;
  /** netlink: its port id. */
  portid: number;
  /** packet: the protocol it listens to (ETH_P_*). */
  ethertype: number;
  /** unix: its path, or @name for an abstract one. */
  name: string;
}
