// Name resolution served from this process (Controller.open({ dns: true }),
// and `nsnet daemon` through its DNS door): the name table in memory, kept
// current through the controller's lifecycle calls (cnm/lifecycle.ts) as
// sandboxes become live, change networks and go; a server per sandbox with a
// resolver, its sockets opened inside the sandbox's namespace (in the
// create's own trip for a new one); and the forwarder for every other name.
// On start it reads every live sandbox from the store and reopens their
// servers, so a restart serves what was served before.
import { Netns } from '../netlink/netns.js';
import type { ListenOptions, Listening } from '../netlink/sockets.js';
import type { NetworkRecord, SandboxRecord } from '../store/store.js';
import type { CnmContext } from '../cnm/context.js';
import { FALLBACK_DNS, hostResolvText, parseResolv } from '../cnm/files.js';
import { sandboxState, type SandboxLifecycle, type SandboxState } from '../cnm/lifecycle.js';
import { respond, type Forward, type Outcome } from './answer.js';
import { Forwarder } from './forward.js';
import { RESOLVER_ADDRESS, RESOLVER_LISTEN, wantsResolver } from './policy.js';
import { DEFAULT_LIMITS, SandboxServer, type Resolver, type ServerLimits, type ServerStats } from './server.js';
import { NameTable } from './table.js';

export interface DnsOptions {
  /**
   * The host's resolv.conf: its nameservers are the upstreams of sandboxes
   * without their own (--dns), asked from the host's namespace, so loopback
   * ones (127.0.0.53) work too. Default /etc/resolv.conf.
   */
  resolvConf?: string;
  /**
   * How long one upstream has to answer before the next is asked (default
   * 1500 ms). At most three are, so a client hears within 4.5 s, before
   * glibc's resolver gives up on its first try (5 s).
   */
  timeoutMs?: number;
  /** Bounds per sandbox: queries a second, queries upstream and TCP connections at once. */
  limits?: Partial<ServerLimits>;
  /** Queries upstream at once from all sandboxes together (default 4096); past it, REFUSED. */
  maxForwards?: number;
  /** Where the daemon's DNS door listens: other processes tell it of their sandboxes there (default NSNET_DNS_SOCKET, else /run/nsnet/dns.sock). */
  socket?: string;
  /** Where a line about a sandbox that could not be served goes (default: nowhere). */
  log?: (line: string) => void;
}

export class DnsService implements SandboxLifecycle, Resolver {
  readonly server = 'embedded';
  private readonly table = new NameTable();
  private readonly servers = new Map<string, SandboxServer>();
  /** Sandboxes that should have a server (one may be opening). */
  private readonly wanted = new Set<string>();
  private readonly forwarder: Forwarder;
  private readonly limits: ServerLimits;
  private closed = false;
  /**
   * Runs when a query finds no sandbox's name (the daemon's door reads the
   * lines waiting on it here): true when that served a sandbox, and the
   * query is answered again.
   */
  beforeMiss: (() => boolean) | null = null;

  constructor(
    private readonly ctx: CnmContext,
    private readonly o: DnsOptions = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.forwarder = new Forwarder({ host: ctx.host, timeoutMs: o.timeoutMs ?? 1500, maxPending: o.maxForwards ?? 4096 });
  }

  /** Reads every sandbox from the store: their names, and a server for each with a resolver. */
  async start(): Promise<void> {
    const states = await this.ctx.store.view((t) => t.sandboxes().filter((sb) => sb.netnsKind !== 'container').map((sb) => sandboxState(t, sb.id)!));
    for (const s of states) await this.live(s).catch((e) => this.o.log?.(`dns: sandbox ${s.sandbox.name} is not served: ${(e as Error).message}`));
  }

  /** Reads one sandbox from the store again (another process changed it): live as it is there, or gone. */
  async refresh(sandboxId: string): Promise<void> {
    const s = await this.ctx.store.view((t) => sandboxState(t, sandboxId));
    if (s && s.sandbox.netnsKind !== 'container') await this.live(s);
    else await this.gone({ id: sandboxId } as SandboxRecord);
  }

  async prepare(): Promise<void> {}

  serving(): boolean {
    return !this.closed;
  }

  resolver(sb: SandboxRecord, nets: Iterable<NetworkRecord>): string | null {
    return !this.closed && wantsResolver(sb, nets) ? RESOLVER_ADDRESS : null;
  }

  readonly listenFds = false;

  listen(): ListenOptions[] {
    return RESOLVER_LISTEN;
  }


  async live(s: SandboxState, opened: Listening[] | number[] = []): Promise<void> {
    const listening = opened as Listening[]; // listenFds is false: Node's sockets
    const sb = s.sandbox;
    this.table.set(sb, s.endpoints, s.networks);
    if (!sb.resolver || this.closed || this.wanted.has(sb.id)) {
      for (const l of listening) l.close();
      return;
    }
    this.wanted.add(sb.id);
    let socks = listening;
    try {
      if (!socks.length) socks = await open(sb);
    } catch (e) {
      this.wanted.delete(sb.id);
      throw e;
    }
    // Gone (or closed) while its sockets were being opened.
    if (!this.wanted.has(sb.id)) return void socks.forEach((l) => l.close());
    const [udp, tcp] = socks as [import('node:dgram').Socket, import('node:net').Server];
    this.servers.set(sb.id, new SandboxServer(sb.id, udp, tcp, this, this.limits));
  }

  async gone(sb: Pick<SandboxRecord, 'id'>): Promise<void> {
    this.table.remove(sb.id);
    this.wanted.delete(sb.id);
    this.servers.get(sb.id)?.close();
    this.servers.delete(sb.id);
  }

  respond(asker: string, msg: Buffer, transport: 'udp' | 'tcp'): Outcome {
    const out = respond(this.table, asker, msg, transport);
    // The name may be a new sandbox's whose handover waits unread.
    return this.beforeMiss && missed(out) && this.beforeMiss() ? respond(this.table, asker, msg, transport) : out;
  }

  forward(asker: string, f: Forward): Promise<Buffer> {
    return this.forwarder.forward(f, this.upstreams(asker));
  }

  /** The asker's own servers (--dns), else the host's, else Docker's fallback. */
  private upstreams(asker: string): string[] {
    const own = this.table.upstreams(asker);
    if (own.length) return own;
    const host = parseResolv(hostResolvText(this.o.resolvConf)).nameservers;
    return host.length ? host : FALLBACK_DNS;
  }

  /** A server's counts, by sandbox id (null when it has none). */
  stats(sandboxId: string): ServerStats | null {
    return this.servers.get(sandboxId)?.stats ?? null;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wanted.clear();
    for (const s of this.servers.values()) s.close();
    this.servers.clear();
    await this.forwarder.close();
  }
}

/** Whether an answer found no sandbox's name: it goes upstream, or it is NXDOMAIN (RCODE 3, the low bits of byte 3). */
function missed(out: Outcome): boolean {
  return !!out && ('forward' in out || (out.reply.length > 3 && (out.reply[3]! & 0x0f) === 3));
}

/** Opens a resolver's sockets in sb's namespace, by its path: nothing but the sockets is kept open. */
function open(sb: SandboxRecord): Promise<Listening[]> {
  return Netns.listenAt(sb.netnsPath, RESOLVER_LISTEN);
}
