// The port between the CNM layer and a host firewall. Drivers describe what
// their networks need and the controller describes published ports, both as
// the neutral data below; a backend turns that into its own operations.
// nftables.ts (nsnet's `inet nsnet` table over netlink) is the default;
// none.ts does nothing. A backend never reads the store: what it should hold
// is passed in, and what it must decide alone it reads from the kernel.
import { NsnetError } from '../errors.js';
import type { Batch } from '../netlink/batch.js';

/** The backends ControllerOptions.firewall chooses from. */
export type FirewallKind = 'nftables' | 'none';

/**
 * Where a network's traffic crosses the host. A bridge network's endpoints
 * are all ports of one bridge, so the bridge tells its traffic apart. A
 * routed network's endpoints each have a host interface of their own, all
 * named with the network's prefix (and no other interface is), so the
 * prefix tells its traffic apart, however many endpoints it has.
 */
export type NetworkInterface = { kind: 'bridge'; name: string } | { kind: 'prefix'; prefix: string };

/** One network as a firewall sees it. */
export interface NetworkSpec {
  /** The network's id: stable for its life, unlike its interface's name. */
  id: string;
  interface: NetworkInterface;
  /** Its subnets (CIDR), IPv4 and IPv6. */
  subnets: string[];
  /** Nothing leaves the network and nothing enters it from outside. */
  internal: boolean;
  /** Its endpoints may talk to each other. */
  icc: boolean;
  /** Traffic it sends out of the host leaves with the host's address (never for an internal network). */
  masquerade: boolean;
}

/** One published port: hostIp:hostPort on the host goes to containerIp:containerPort. */
export interface PortSpec {
  protocol: 'tcp' | 'udp' | 'sctp';
  hostPort: number;
  /** Host address it is published on; absent (or 0.0.0.0 / ::): every address of the container address's family. */
  hostIp?: string;
  containerIp: string;
  containerPort: number;
}

/**
 * What a backend should hold for one store: what reconcile makes true.
 * Everything else in a shared firewall (another store's networks and
 * ports, or nobody's) is left as it is and counted.
 */
export interface FirewallState {
  networks: NetworkSpec[];
  ports: PortSpec[];
  /** This store's ports that are neither wanted nor unwanted: sandboxes another process is at work on. Left as they are. */
  keep?: PortSpec[];
  /** This store's networks another process is creating or deleting: their elements are left as they are. */
  keepNetworks?: NetworkSpec[];
}

export interface FirewallReport {
  /** The backend's rules were missing or not as nsnet writes them, and were made again with every element. */
  rebuilt: boolean;
  /** No network needs them any more, and they were dropped. */
  dropped: boolean;
  /** Port elements of endpoints that no longer exist, removed. */
  elementsRemoved: number;
  /** Port elements of live endpoints that were missing, added. */
  elementsAdded: number;
  /** Elements another store's tag names (nsnet's table is shared by every state dir on the host): never touched. */
  foreignElements: number;
  /**
   * Elements no store's tag names (an older nsnet's, or someone else's in
   * nsnet's table) that this store does not want: left alone unless a gc
   * asks for orphans.
   */
  orphanElements: number;
  /** Of those, removed because a gc asked. */
  orphansRemoved: number;
  /**
   * Other tables' forward chains with policy drop (`ip filter FORWARD`):
   * their drop is final whatever nsnet's chain accepts, so nsnet's networks
   * cannot route through this host until they accept them too. nsnet never
   * writes into other tables; this says where to look.
   */
  forwardDrops: string[];
  /** With DOCKER-USER kept (dockeruser.ts): this store's rules there removed and added. */
  dockerUser?: { removed: number; added: number };
}

export interface FirewallBackend {
  readonly kind: FirewallKind;
  /** Whether it can publish ports at all: when not, a port request is refused before anything changes. */
  readonly publishes: boolean;

  /** Attaches a network: its isolation from other networks, ICC, internal, masquerade. */
  setupNetwork(n: NetworkSpec): Promise<void>;
  /** Detaches it; what is already gone counts as done. */
  teardownNetwork(n: NetworkSpec): Promise<void>;
  /** Publishes ports. A throw that lost() recognises: reconcile, then publish again. */
  publish(ports: PortSpec[]): Promise<void>;
  /** Unpublishes ports; one already gone counts as done. */
  unpublish(ports: PortSpec[]): Promise<void>;
  /** Those of ports the kernel does not hold as published (nothing is changed): what a CHECK reports. */
  unpublished(ports: PortSpec[]): Promise<PortSpec[]>;

  /** Whether publishing can ride in someone else's Batch right now (see stage). */
  readonly canStage: boolean;
  /**
   * Puts publishing ports into b (a sandbox's own kernel trip), after the
   * rest of its work, so it costs no kernel trip of its own; unpublishing
   * gone goes in the same part, before them (a host port that stays may
   * lead elsewhere now). Only while canStage; if that part fails, lost()
   * says whether unpublish() and publish() are the way on.
   */
  stage(b: Batch, ports: PortSpec[], gone?: PortSpec[]): void;
  /** Whether an error from publish(), setupNetwork() or a staged batch means the backend's state went behind its back. */
  lost(e: unknown): boolean;

  /**
   * Makes the backend hold exactly what want() says, and reports what it
   * changed. want() may be called again when the kernel changed under the
   * reconcile (another process at work, whose store changes come with it).
   */
  reconcile(want: () => Promise<FirewallState>, o?: { orphans?: boolean }): Promise<FirewallReport>;
}

/** The refusal of a backend that cannot publish ports. */
export function cannotPublish(kind: FirewallKind): NsnetError {
  return NsnetError.state('ERR_NSNET_UNSUPPORTED', 'port.publish', kind,
    `the ${kind} firewall publishes no ports: open the controller with firewall 'nftables' to publish them`);
}
