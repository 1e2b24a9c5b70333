// Where a service beside the CNM layer (the embedded DNS server, src/dns)
// follows sandboxes' lives: the concern modules call it where a sandbox becomes
// live, changes networks and goes, with the records, and await it, so the
// service is current before the call that changed the sandbox returns (a
// sandbox that left no longer resolves; a new one's resolver answers
// before its first process runs). Controller events, by contrast, are
// fire-and-forget and carry only ids. Anything that makes a sandbox live
// another way (a pool handing one out) calls live() the same way.
import type { ListenOptions, Listening } from '../netlink/sockets.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord, StoreTx } from '../store/store.js';

/** A sandbox as the store has it now: its joined endpoints and their networks. */
export interface SandboxState {
  sandbox: SandboxRecord;
  endpoints: EndpointRecord[];
  /** The endpoints' networks, by id. */
  networks: ReadonlyMap<string, NetworkRecord>;
}

export interface SandboxLifecycle {
  /** Who serves: this process ('embedded') or `nsnet daemon` ('daemon'). */
  readonly server: 'embedded' | 'daemon';
  /** Before a create or a join plans in the store: a service whose answers below need I/O (is a daemon there?) finds out here. */
  prepare(): Promise<void>;
  /** Whether sandboxes are served now. */
  serving(): boolean;
  /** In the store transaction: the resolver sb's resolv.conf names on these networks, or null (it names the upstreams). */
  resolver(sb: SandboxRecord, nets: Iterable<NetworkRecord>): string | null;
  /** Sockets to open in the namespace of a new sandbox with a resolver, in its create's own kernel trip. */
  listen(sb: SandboxRecord): ListenOptions[];
  /** Whether live() takes those sockets as fds (to hand to another process) rather than as Node's. */
  readonly listenFds: boolean;
  /**
   * The sandbox is live as s says: after its create (with what listen()
   * opened: the service owns them from here), a join, a leave.
   */
  live(s: SandboxState, listening?: Listening[] | number[]): Promise<void>;
  /** The sandbox is going (before its namespace is released), or its create is undone. Never throws: teardown goes on. */
  gone(sb: SandboxRecord): Promise<void>;
  /** Stops serving: sockets closed, nothing more answered. */
  close(): Promise<void>;
}

/** A sandbox's state, read inside a store transaction (null when it is gone). */
export function sandboxState(t: StoreTx, sandboxId: string): SandboxState | null {
  const sandbox = t.sandbox(sandboxId);
  if (!sandbox) return null;
  const endpoints = t.endpoints({ sandboxId });
  const networks = new Map<string, NetworkRecord>();
  for (const e of endpoints) if (!networks.has(e.networkId)) networks.set(e.networkId, t.network(e.networkId)!);
  return { sandbox, endpoints, networks };
}

/** Who serves names now, given a controller's lifecycle service: this process, `nsnet daemon`, or nobody. */
export async function nameServer(lifecycle: SandboxLifecycle | null): Promise<'embedded' | 'daemon' | 'off'> {
  await lifecycle?.prepare();
  return lifecycle?.serving() ? lifecycle.server : 'off';
}
