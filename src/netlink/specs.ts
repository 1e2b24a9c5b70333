// What the requests of a Batch take: links to create or change, addresses,
// routes and neighbours, described as plain data, with the kernel's numbers
// for the names they use. The checks and the conversion live in batch.ts.
import type { DevRef, NativeNetns } from '../native.js';

/** Anything that owns an open namespace handle (a Netns). */
export interface HasHandle {
  readonly handle: NativeNetns;
}

export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
export const MACVLAN_MODE: Record<MacvlanMode, number> = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 };

export interface CommonLink {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** Create the link in, or move it to, this namespace. */
  netns?: HasHandle;
  txqlen?: number;
}

export interface VethSpec extends CommonLink {
  name: string;
  /** Bridge (or other master) to enslave the near end to, in the same request. */
  master?: DevRef;
  /** The far end, created directly in `peer.netns` when given. */
  peer: { name: string; netns?: HasHandle; mac?: string; mtu?: number };
}

export interface BridgeSpec extends CommonLink {
  name: string;
  stp?: boolean;
  vlanFiltering?: boolean;
}

export interface MacvlanSpec extends CommonLink {
  name: string;
  /** The lower (parent) device. */
  link: DevRef;
  mode?: MacvlanMode;
}

export interface VxlanSpec extends CommonLink {
  name: string;
  vni: number;
  /** Unicast remote or multicast group. */
  remote?: string;
  local?: string;
  /** UDP destination port; the kernel's default is 8472, IANA's is 4789. */
  port?: number;
  link?: DevRef;
  ttl?: number;
  learning?: boolean;
  /** Answer ARP and neighbour solicitations from the device's own neighbour table (ARP suppression). */
  proxy?: boolean;
}

export interface LinkChange {
  up?: boolean;
  mtu?: number;
  mac?: string;
  /** A master to enslave to, or null to detach (nomaster). */
  master?: DevRef | null;
  /** A new name. */
  name?: string;
  netns?: HasHandle;
  txqlen?: number;
  /**
   * A bridge port's hairpin mode: frames may go back out the port they came
   * in on (a container reaching its own published port through the host).
   */
  hairpin?: boolean;
  /**
   * A bridge port forgets the MACs it learned (iproute2's bridge_slave
   * fdb_flush): its next tenant's frames must not go to the last one's.
   */
  fdbFlush?: boolean;
  /**
   * How IPv6 makes the link's addresses when it comes up (iproute2's
   * addrgenmode). 'none' makes no link-local address, so the link stays
   * silent in IPv6 (no DAD, router solicitation or MLD report): on a bridge
   * every such packet is flooded to every port. Set it before the link is up.
   */
  addrGenMode?: AddrGenMode;
  /** The alias (`ip -j link`'s ifalias), up to 255 bytes, '' removes it; a create ignores it, so set it right after. */
  alias?: string;
  /**
   * IPv4 settings of the link, by their names under net.ipv4.conf.<dev>
   * (`{ route_localnet: 1 }`). Sent in the request itself (IFLA_INET_CONF),
   * so a new link is set up without writing to /proc/sys. An existing link
   * only: the kernel ignores them in a create.
   */
  ipv4Conf?: Partial<Record<Ipv4ConfKey, number>>;
}

/** The net.ipv4.conf.<dev> settings a LinkChange takes, with their IPV4_DEVCONF_* indexes. */
export const IPV4_CONF = { forwarding: 1, proxy_arp: 3, accept_redirects: 4, send_redirects: 6, rp_filter: 8, arp_ignore: 19, accept_local: 23, route_localnet: 26 } as const;
export type Ipv4ConfKey = keyof typeof IPV4_CONF;

export type AddrGenMode = 'eui64' | 'none' | 'stable_secret' | 'random';
export const ADDR_GEN_MODE: Record<AddrGenMode, number> = { eui64: 0, none: 1, stable_secret: 2, random: 3 };

export interface AddressOptions {
  /** Point-to-point peer address. */
  peer?: string;
  scope?: 'global' | 'link' | 'host' | 'site';
  /** IPv6: skip duplicate address detection, so the address works at once. */
  nodad?: boolean;
  /** IPv4 only: the interface name, or it with an alias (`eth0:1`); the kernel's default is the interface name. */
  label?: string;
}

export interface RouteSpec {
  /** `default` or a prefix like `10.0.0.0/8`. */
  dst: string;
  gateway?: string;
  dev?: DevRef;
  /** Needed only for a default route without a gateway; otherwise inferred. */
  family?: 4 | 6;
  table?: number;
  metric?: number;
  scope?: 'global' | 'universe' | 'link' | 'host';
  protocol?: number;
  type?: 'unicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'local';
  onlink?: boolean;
  prefsrc?: string;
  mtu?: number;
}

export const RTM_TYPE = { unicast: 1, local: 2, blackhole: 6, unreachable: 7, prohibit: 8 } as const;


/** NUD states a neighbour entry can be given (`ip neigh ... nud STATE`). */
export const NUD = { reachable: 0x02, stale: 0x04, noarp: 0x40, permanent: 0x80 } as const;

export interface NeighbourSpec {
  /** The neighbour's IPv4 or IPv6 address. */
  dst: string;
  dev: DevRef;
  /** Its link-layer address: needed to add or replace. */
  lladdr?: string;
  /** Default 'permanent': never probed, never expires, never garbage-collected. */
  state?: keyof typeof NUD;
}

/**
 * A forwarding database entry (`bridge fdb ... LLADDR dev DEV [dst DST] self`):
 * on a VXLAN device, where frames for lladdr go (the remote VTEP dst).
 */
export interface FdbSpec {
  lladdr: string;
  dev: DevRef;
  /** A VXLAN device's remote for lladdr. */
  dst?: string;
  /** The VNI frames for lladdr carry, if not the device's own. */
  vni?: number;
  /** The entry of the device's master bridge (`master`) rather than the device's own (`self`, the default). */
  master?: boolean;
}
