// The state store: what nsnet intends to exist (networks, endpoints,
// sandboxes, IP allocations). The kernel is the truth about what does exist;
// the controller reconciles the two on open.
//
// Writes go through update(fn): fn runs synchronously against a transaction
// and must not await. That shape suits SQLite (one BEGIN IMMEDIATE ...
// COMMIT) and a distributed store alike (etcd's STM re-runs fn on conflict),
// so fn must be free of side effects outside the transaction.

export interface SubnetRecord {
  /** `172.18.0.0/16` */
  subnet: string;
  /** The bridge's address in the subnet, e.g. `172.18.0.1`. */
  gateway: string | null;
  /** Where dynamic addresses come from: the subnet, or a part of it. */
  ipRange: string | null;
  /**
   * CNI host-local's bounds (rangeStart, rangeEnd): every address, dynamic
   * or asked for, comes from between them. Absent in records made before them.
   */
  rangeStart?: string;
  rangeEnd?: string;
  /** Addresses and prefixes never handed out. */
  excluded: string[];
}

export interface NetworkRecord {
  id: string;
  name: string;
  driver: string;
  /** 'local': this host's store; 'global': the global store, spanning hosts (an overlay network). */
  scope: 'local' | 'global';
  internal: boolean;
  ipv6: boolean;
  subnets: SubnetRecord[];
  labels: Record<string, string>;
  options: Record<string, string>;
  /** What the driver needs to find its kernel objects again (bridge name, whether it created it ...). */
  driverState: Record<string, unknown>;
  created: string;
  /** Set while a process creates or deletes it (see cnm/busy.ts): reconcile leaves it alone while that process lives. */
  busy?: NetworkBusy;
}

export interface EndpointRecord {
  id: string;
  name: string;
  networkId: string;
  /** The sandbox it is joined to, or null. */
  sandboxId: string | null;
  /** Name inside the sandbox: eth0 ... */
  ifname: string | null;
  /** Host-side device (the veth's near end), when the driver made one. */
  hostIfname: string | null;
  mac: string | null;
  /** `address/prefixlen`, one per subnet of the network. */
  addresses: string[];
  /** Whether this endpoint gives its sandbox the default route. */
  gatewayEndpoint: boolean;
  /** Static addresses asked for, kept so a restart can report them. */
  requested: string[];
  /** Published ports, one per host address key (each also held in the allocations table). */
  ports?: PortMapping[];
  /** Other names of its sandbox on the network (Docker's network-scoped aliases). */
  aliases?: string[];
  created: string;
}

/** One published port: hostIp:hostPort on the host DNATs to the endpoint's address:containerPort. */
export interface PortMapping {
  protocol: 'tcp' | 'udp' | 'sctp';
  /** A host address, or 0.0.0.0 / :: for every address of that family. */
  hostIp: string;
  hostPort: number;
  containerPort: number;
  /**
   * Asked for, but published by another endpoint of the same sandbox that
   * asked for this same mapping first (a CNI runtime asks each network of a
   * container for its ports): neither reserved nor published for this
   * endpoint until that one leaves and hands it over (see handOverPorts).
   */
  standby?: true;
}

export interface SandboxRecord {
  id: string;
  name: string;
  /**
   * own: a namespace of its own; host: the host's; container: another
   * sandbox's; external: one nsnet did not make (a CNI runtime's), joined by
   * its path and never deleted.
   */
  netnsKind: 'own' | 'host' | 'container' | 'external';
  /** The namespace file (bind mount under the run dir, /proc/self/ns/net, or the path an external one was given by). */
  netnsPath: string;
  /**
   * For external: the namespace's identity (`dev:ino`) when it was joined,
   * so that reconcile can tell a path that now names another namespace
   * (a reused /proc/<pid>/ns/net) from the one the sandbox is in.
   */
  netnsId?: string;
  /** For container mode: the sandbox whose namespace and files this one shares. */
  ownerId: string | null;
  hostname: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /**
   * The embedded resolver its resolv.conf names (127.0.0.11), when name
   * resolution was on as it joined a network with names; its `dns` servers
   * are then that resolver's upstreams. Absent: resolv.conf names the
   * upstreams themselves.
   */
  resolver?: string;
  extraHosts: string[];
  /** Directory holding resolv.conf, hosts and hostname; '' for external (its runtime owns those files). */
  filesDir: string;
  labels: Record<string, string>;
  created: string;
  /** The process that created it. */
  pid: number;
  /** net.* sysctls set in its namespace. */
  sysctls?: Record<string, string>;
  /** Removed once its creator has exited and nothing runs in it (SandboxSettings.transient). */
  transient?: boolean;
  /** Set while a process works on it (see cnm/busy.ts): reconcile leaves it alone while that process lives. */
  busy?: SandboxBusy;
  /**
   * For external: its runtime moves each interface into the namespace
   * itself (Docker, as libnetwork's remote drivers want): nsnet makes them
   * in the host namespace, and the namespace need not exist yet.
   */
  handoff?: true;
}

/** Which process is at work on a record. */
export interface BusyMark {
  pid: number;
  /** The process's boot and start time, so a reused pid does not pass for it. */
  start: string;
}

export interface SandboxBusy extends BusyMark {
  op: 'create' | 'join' | 'leave' | 'delete' | 'mend';
  /** The endpoint a join or leave is about. */
  endpoint?: string;
}

export interface NetworkBusy extends BusyMark {
  /** mend: a reconcile making its vanished bridge again. */
  op: 'create' | 'delete' | 'mend';
}

export interface StoreTx {
  network(idOrName: string): NetworkRecord | null;
  networks(): NetworkRecord[];
  putNetwork(n: NetworkRecord): void;
  deleteNetwork(id: string): void;

  endpoint(id: string): EndpointRecord | null;
  endpointByName(networkId: string, name: string): EndpointRecord | null;
  endpoints(filter?: { networkId?: string; sandboxId?: string }): EndpointRecord[];
  putEndpoint(e: EndpointRecord): void;
  deleteEndpoint(id: string): void;

  sandbox(idOrName: string): SandboxRecord | null;
  /** All sandboxes, or those sharing ownerId's namespace. */
  sandboxes(filter?: { ownerId?: string }): SandboxRecord[];
  putSandbox(s: SandboxRecord): void;
  deleteSandbox(id: string): void;

  /** The owner of an address in a pool (a network's subnet), or null if free. */
  allocation(pool: string, address: string): string | null;
  allocations(pool: string): { address: string; owner: string }[];
  reserve(pool: string, address: string, owner: string): void;
  release(pool: string, address: string): void;
  releasePool(pool: string): void;
  /** Where the next dynamic search in a pool starts (the last address handed out). */
  cursor(pool: string): string | null;
  /** null forgets it (the search starts at the pool's beginning). */
  setCursor(pool: string, address: string | null): void;
}

export interface Store {
  /**
   * The store's id (16 hex digits), made once with it. Kernel objects
   * carry it (an interface alias, an nf_tables element comment), so that
   * each store's reconcile and teardown touch only what that store made.
   */
  readonly id: string;
  /** Runs fn in one atomic transaction; a throw rolls everything in it back. */
  update<T>(fn: (tx: StoreTx) => T): Promise<T>;
  /** A consistent read. */
  view<T>(fn: (tx: StoreTx) => T): Promise<T>;
  close(): void;
}
