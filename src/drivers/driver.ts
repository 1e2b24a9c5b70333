// What a network driver does, in libnetwork's terms. The controller owns
// IPAM, the store and transactions; a driver only knows how its kind of
// network looks in the kernel. join() adds requests to a batch instead of
// sending them, so a sandbox's namespace, its interface, addresses and routes
// can all go to the kernel in one trip. A driver never touches the host's
// firewall: it describes what its networks need from one (neutral data), and
// the controller hands that to whichever backend it runs.
import type { NetworkSpec } from '../firewall/backend.js';
import type { Batch } from '../netlink/batch.js';
import type { Netns } from '../netlink/netns.js';
import type { HasHandle } from '../netlink/batch.js';
import type { Address, Link, Neighbour, Route } from '../netlink/types.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../store/store.js';

export interface DriverContext {
  /** The namespace playing the host: where bridges and host-side veths live. */
  readonly host: Netns;
  /**
   * Runs fn in a sandbox's namespace (the one nsnet keeps open, or a
   * runtime's, refused if its path names another namespace now), for what
   * a driver made inside it.
   */
  inNetns<T>(sb: SandboxRecord, fn: (ns: Netns) => Promise<T>): Promise<T>;
  /** The store's id: what the driver makes carries it (owner.ts's ownerTag), so that only this store touches it. */
  readonly owner: string;
  /** This host as a member of the global store, for drivers of global networks; null without one. */
  readonly overlay?: OverlayContext | null;
  /** Tests' fault injection at named steps (ControllerOptions.faults). */
  readonly faults?: ((step: string, batch?: unknown) => void) | undefined;
  /** Where the processes of this store keep the lock files they share (store/filelock.ts); absent: this process alone is known. */
  readonly locks?: string;
  /** Whether the store (shared by every process of it) has an endpoint of the network joined to a sandbox on this host, but except. */
  joinedHere?(networkId: string, except?: string): Promise<boolean>;
}

/** A remote endpoint as a VXLAN device needs it: where its MAC lives, and its addresses. */
export interface Peer {
  mac: string;
  /** Addresses without their prefix length. */
  ips: string[];
  /** Its host's underlay address (VTEP). */
  vtep: string;
}

/** What a driver of global networks needs of the global store: this host's VTEP and the other hosts' endpoints. */
export interface OverlayContext {
  /** This host's underlay address (the VXLAN devices' local address). */
  readonly address: string;
  /** The MAC address of this host's VXLAN devices. */
  readonly vtepMac: string;
  /** The endpoints of other hosts on a network, joined to a sandbox. */
  peers(networkId: string): Peer[];
  /** Told before this process makes a network's devices, whose peers it then programs itself; then told programmed(), or making(id, false) if that failed. */
  making?(networkId: string, on: boolean): void;
  /** Told when this process made a network's devices with these peers programmed (so nobody reads them back from the kernel), in `trips` trips. */
  programmed?(networkId: string, vxlan: string, peers: Peer[], ms: number, trips: number): void;
  /** Told when this process removed a network's devices. */
  removed?(networkId: string): void;
}

/** What reconcile read of the host and of one sandbox's namespace, for Driver.repair. */
export interface KernelView {
  /** The host's links, by name. */
  hostLinks: Map<string, Link>;
  links: Link[];
  addresses: Address[];
  routes: Route[];
  /** The host's routes (main table) through one interface, listed once for all the sandboxes that ask. */
  hostRoutes(oif: number): Promise<Route[]>;
  /** The host's neighbour entries on one interface, likewise. */
  hostNeighbours(ifindex: number): Promise<Neighbour[]>;
}

/** How a network's sandboxes reach their gateway. */
export interface GatewayRoutes {
  /** The gateway of each family, if it has one. */
  gateway: (family: 4 | 6) => string | null;
  /** The gateway is on no subnet of the sandbox's: reached on-link. */
  onlink?: boolean;
}

/** An interface a driver made ahead of time in a pooled namespace. */
export interface PooledInterface {
  hostIfname: string | null;
  ifname: string;
  /** It waits up (adopt need not bring it up unless it renames it). */
  up?: boolean;
}

export interface JoinOptions {
  /** This endpoint gives the sandbox its default route. */
  gatewayEndpoint: boolean;
  /**
   * The sandbox's runtime moves the interface in itself (a handoff
   * sandbox): the driver makes it in the host namespace under ep.ifname,
   * with its MAC and MTU but no address or route, which the runtime sets.
   */
  handoff?: boolean;
  /**
   * The sandbox's namespace is nsnet's own: the driver may set its
   * interface's sysctls there (a CNI runtime's is the runtime's).
   */
  ownNetns?: boolean;
}

export interface Driver {
  readonly name: string;
  /** Which sandboxes may join: their own namespace, or the host's. */
  readonly sandboxKind: 'own' | 'host';
  /** Whether networks of this driver have subnets and addresses. */
  readonly usesIpam: boolean;
  /** Whether more than one network of this driver may exist (host and null: one each). */
  readonly singleton: boolean;
  /**
   * Its networks' subnets are someone else's (a LAN's, whose router is the
   * gateway): they must be given, and are never picked from nsnet's pools.
   */
  readonly externalSubnets?: boolean;
  /**
   * It can make an endpoint's interface whole in the host's namespace for
   * a runtime that moves it into its sandbox itself (a handoff sandbox,
   * Docker's remote driver); one that cannot refuses such a sandbox.
   */
  readonly handsOff?: boolean;
  /** Where its networks live: 'local' (this host's store, the default) or 'global' (the global store, spanning hosts). */
  readonly scope?: 'local' | 'global';

  /**
   * Checks a network's options before anything is stored or created, and
   * returns the driver's own state for it (kept in the store).
   */
  validateNetwork(n: NetworkRecord, others: NetworkRecord[]): Record<string, unknown>;
  createNetwork(ctx: DriverContext, n: NetworkRecord): Promise<void>;
  /**
   * The host interfaces a network itself owns (its bridge, a macvlan shim,
   * a VXLAN device): never taken for an endpoint's leftover; a local
   * network's are made again by reconcile (createNetwork) when one is
   * missing. Absent: none.
   */
  networkLinks?(n: NetworkRecord): string[];
  deleteNetwork(ctx: DriverContext, n: NetworkRecord): Promise<void>;

  /**
   * Fills the endpoint's driver fields (host-side name, MAC ...); no kernel
   * work. A driver that makes an interface chooses its MAC here; a MAC left
   * null says it makes none, and a MAC the caller asks for is then refused.
   */
  prepareEndpoint(n: NetworkRecord, ep: EndpointRecord): void;
  /**
   * Makes what joins to a network need on this host first (a global
   * network's devices, made on a host's first join). May resolve with a
   * release, called once the join's trip is done, whether it succeeded or
   * not: until then the join counts as using what was made.
   */
  prepareJoin?(ctx: DriverContext, n: NetworkRecord): Promise<void | (() => void)>;
  /**
   * No sandbox of this host is on n any more (the last one left, or was
   * deleted and its namespace released): removes what prepareJoin made.
   * leaving: the host ends of the going sandboxes' interfaces, which may
   * still be there, on their way out with a released namespace.
   */
  vacate?(ctx: DriverContext, n: NetworkRecord, leaving: string[]): Promise<void>;
  /** Adds the requests that plug ep into sb's namespace to b. */
  join(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord, sb: HasHandle, b: Batch, o: JoinOptions): void;
  /**
   * Pools (cnm/pool.ts): adds to b the requests that make, in the new
   * namespace ns, an interface of network n ahead of time (no name, MAC or
   * address of an endpoint yet), its kernel objects tagged with `tag`.
   * Returns the host-side name (null if none) and the name inside. Absent:
   * the driver's networks have no pools. A recycle takes the interface
   * down at once: a link that waits up must carry nothing its going down
   * loses (an address, a route or a neighbour, IPv6's link-local), or the
   * reset cannot prove the namespace as made and releases it.
   */
  prepool?(ctx: DriverContext, n: NetworkRecord, ns: HasHandle, b: Batch, tag: string): PooledInterface;
  /** Adds the requests that give a pooled interface (see prepool) to ep: what join does, but create it. */
  adopt?(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord, ns: HasHandle, b: Batch, o: JoinOptions, pooled: PooledInterface): void;
  /**
   * Adds the host-side requests that give ep's interface back to a pool
   * (tagged `tag` again), sent once the namespace's links are down and
   * before the delete returns (b acts in the namespace until the driver
   * switches it); the namespace's side is the pool's reset.
   */
  unadopt?(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord, b: Batch, tag: string): void;
  /**
   * Checks what join made for ep (sb is its sandbox's namespace, view what
   * reconcile read) and, with apply, mends what is missing or detached.
   * Returns what needs mending (or was mended); throws what cannot be.
   * Without apply it changes nothing. Absent: nothing to check.
   */
  repair?(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord, sb: Netns, view: KernelView, o: JoinOptions & { apply: boolean }): Promise<string[]>;
  /** Removes what join made. Must succeed when it is already gone. */
  leave(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord, sb: SandboxRecord | null): Promise<void>;
  /**
   * Removes, before a sandbox's namespace is released, what releasing it
   * would not take with it, or not soon enough: a host route through an
   * interface the network shares, or an interface whose address the next
   * sandbox may want at once while the kernel is still destroying the old
   * namespace. Runs on every delete, and after a failed create (sb null:
   * the namespace is gone). Must succeed when it is already gone. Absent:
   * there is no such thing.
   */
  release?(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord, sb: SandboxRecord | null): Promise<void>;
  /**
   * Stops ep's traffic at once, without waiting for the kernel, so that
   * leave (which may wait for it: deleting an interface does) can finish
   * after the caller has its answer. Absent: leave is always waited for.
   */
  detach?(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord): Promise<void>;
  /** Lists how the host side of ep differs from what join made ([] when it agrees). */
  check?(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord): Promise<string[]>;
  /** Lists how a network's kernel objects differ from what createNetwork made. */
  checkNetwork?(ctx: DriverContext, n: NetworkRecord): Promise<string[]>;
  /**
   * What a network needs from the host's firewall (isolation, ICC, internal,
   * masquerade), for drivers whose networks route through the host. Absent:
   * the firewall has nothing to do with its networks.
   */
  firewall?(n: NetworkRecord): NetworkSpec;
  /**
   * Whether its endpoints can publish ports (the host forwards them to the
   * endpoint's addresses), or, when they cannot, why: said to whoever asks.
   */
  readonly publishesPorts?: true | string;
  /** How its sandboxes reach their gateways. Absent: through each subnet's gateway, on the subnet. */
  gateways?(n: NetworkRecord): GatewayRoutes;
  /**
   * The published ports of a joined endpoint changed (Endpoint.publish):
   * adds to b (a batch on the host) what depends on them (the bridge's
   * hairpin mode), so it goes in the trip that publishes them.
   */
  portsChanged?(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord, b: Batch): void;
  /** Turns a kernel error from join into a clearer one, if the driver knows better. */
  explain?(e: unknown, n: NetworkRecord): unknown;
}

/**
 * A driver that makes no kernel objects at all (null and host): joining it
 * changes nothing, so leaving and deleting must change nothing either.
 */
export function inertDriver(name: string, sandboxKind: Driver['sandboxKind']): Driver {
  return {
    name,
    sandboxKind,
    usesIpam: false,
    singleton: true,
    validateNetwork: () => ({}),
    createNetwork: async () => {},
    deleteNetwork: async () => {},
    prepareEndpoint: () => {},
    join: () => {},
    leave: async () => {},
  };
}
