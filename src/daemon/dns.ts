// The DNS front door: the daemon serves names to every sandbox of its store
// (its Controller's embedded resolvers, see src/dns), and other processes
// sharing the store (the nsnet CLI, an embedding runtime) tell it here of
// the sandboxes they make, change and remove (dns/protocol.ts), so their
// sandboxes are served the moment those calls return. A new sandbox comes
// as a handover: its records and the resolver sockets its creator opened
// in its namespace, unanswered; it is served on the next turn of the
// timers, or at once when a query for a name no sandbox has comes first
// (the lines waiting on the door are read then, and the query answered
// again), so the creator's create never waits for, nor runs beside, the
// daemon's work. The socket is claimed before
// anything is served, so a second daemon is refused before it touches a
// sandbox.
import { closeSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

import { adoptListeners, nativeListeners, type Listening } from '../netlink/sockets.js';
import type { SandboxState } from '../cnm/lifecycle.js';
import { DoorChannel } from '../dns/channel.js';
import { RESOLVER_ADDRESS, RESOLVER_LISTEN } from '../dns/policy.js';
import type { DnsOptions, DnsService } from '../dns/service.js';
import { defaultDnsSocket, type DoorReply, type DoorRequest } from '../dns/protocol.js';
import type { DaemonContext, FrontDoor } from './frontdoor.js';
import { listenUnix, peerUid } from './unix.js';

export { defaultDnsSocket };

const SANDBOX_ID = /^[0-9a-f]{1,64}$/;

export class DnsDoor implements FrontDoor {
  readonly name = 'dns';
  private server: Server | null = null;
  private service: Promise<DnsService> | null = null;
  private served: DnsService | null = null;
  private readonly channels = new Set<DoorChannel>();
  /** Handovers read and not yet served, in order. */
  private handovers: { state: SandboxState; fds: number[] }[] = [];
  private flushing: NodeJS.Timeout | null = null;
  private log: (line: string) => void = () => {};
  private closed = false;

  constructor(
    readonly address: string,
    private readonly options: Omit<DnsOptions, 'socket' | 'log'> = {},
  ) {}

  async start(ctx: DaemonContext): Promise<void> {
    // Paused: the connection is read by the addon (DoorChannel), never by Node.
    const server = createServer({ pauseOnConnect: true }, (s) => this.accept(ctx, s));
    await listenUnix(server, this.address);
    this.server = server;
    this.log = ctx.log;
    this.service = ctx.controller.serveNames({ ...this.options, log: ctx.log });
    this.served = await this.service;
    this.served.beforeMiss = () => this.drain();
    this.flush();
  }

  private accept(ctx: DaemonContext, s: Socket): void {
    s.on('error', () => {});
    if (peerUid(s) !== 0) {
      ctx.log('dns: refused a connection from a process not running as root');
      return void s.end(`${JSON.stringify({ ok: false, error: "only root may call nsnet's DNS socket" })}\n`);
    }
    // One request at a time per connection, answered in order.
    let turn = Promise.resolve();
    const chan: DoorChannel = new DoorChannel(
      s,
      (msg, fds) => {
        if (fds.length) return this.handover(ctx, msg as DoorRequest | null, fds);
        turn = turn.then(async () => {
          const reply = await this.handle(ctx, msg as DoorRequest | null).catch((e: Error) => ({ ok: false, error: e.message }) as DoorReply);
          chan.send(reply);
        });
      },
      () => this.channels.delete(chan),
    );
    this.channels.add(chan);
  }

  /** Takes a handover (not answered): served by flush(). */
  private handover(ctx: DaemonContext, req: DoorRequest | null, fds: number[]): void {
    const st = req?.state;
    const ok = req?.op === 'live' && req.store === ctx.controller.store.id && fds.length === RESOLVER_LISTEN.length &&
      typeof req.sandbox === 'string' && SANDBOX_ID.test(req.sandbox) && st && typeof st === 'object' && st.sandbox?.id === req.sandbox &&
      typeof st.sandbox.name === 'string' && Array.isArray(st.endpoints) && Array.isArray(st.networks);
    if (!ok) {
      for (const fd of fds) closeSync(fd);
      return void this.log(`dns: refused a handover that is not a live sandbox of store ${ctx.controller.store.id} with a resolver's ${RESOLVER_LISTEN.length} sockets`);
    }
    this.handovers.push({ state: { sandbox: st.sandbox, endpoints: st.endpoints, networks: new Map(st.networks) }, fds });
    this.flushing ??= setTimeout(() => this.flush(), 0);
  }

  /** Serves the handovers read so far, in order (once the service runs; after close, closes their sockets). */
  private flush(): void {
    if (this.flushing) clearTimeout(this.flushing);
    this.flushing = null;
    const service = this.served;
    if (!service && !this.closed) return;
    for (const h of this.handovers.splice(0)) {
      const fail = (e: unknown) => this.log(`dns: sandbox ${h.state.sandbox.name} is not served: ${(e as Error).message}`);
      if (!service) {
        for (const fd of h.fds) closeSync(fd);
        continue;
      }
      let socks: Listening[];
      try {
        socks = resolverSockets(h.fds);
      } catch (e) {
        fail(e);
        continue;
      }
      // With its sockets given, live() has done its work when it returns; records it cannot read leave them to nobody.
      service.live(h.state, socks).catch((e) => {
        void service.gone(h.state.sandbox);
        for (const l of socks) closeQuietly(l);
        fail(e);
      });
    }
  }

  /** Reads every line waiting on the door, then serves the handovers among them: true if there were any. */
  private drain(): boolean {
    for (const c of this.channels) c.drain();
    if (!this.handovers.length) return false;
    this.flush();
    return true;
  }

  private async handle(ctx: DaemonContext, req: DoorRequest | null): Promise<DoorReply> {
    if (!req) return { ok: false, error: 'a request that is not a JSON object' };
    const store = ctx.controller.store.id;
    if (req.store !== store) return { ok: false, error: `this daemon serves store ${store}, not ${String(req.store)}` };
    if (req.op === 'hello') return { ok: true };
    if ((req.op !== 'live' && req.op !== 'gone') || typeof req.sandbox !== 'string' || !SANDBOX_ID.test(req.sandbox))
      return { ok: false, error: 'a request must be hello, or live or gone with a sandbox id' };
    // After every handover sent before it, whichever connection it came on
    // (a sandbox that another process made, then this one removes).
    this.drain();
    try {
      const service = await this.service!;
      if (req.op === 'live') await service.refresh(req.sandbox);
      else await service.gone({ id: req.sandbox });
      return { ok: true };
    } catch (e) {
      ctx.log(`dns: ${req.op} ${req.sandbox}: ${(e as Error).message}`);
      return { ok: false, error: (e as Error).message };
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.channels) c.close();
    this.channels.clear();
    this.served = null;
    this.closed = true;
    this.flush(); // closes the handovers' sockets: nothing serves them now
    await (await this.service?.catch(() => null))?.close();
    await closed;
  }
}

/**
 * A creator's resolver sockets, taken by Node: the UDP socket bound and the
 * TCP one listening at 127.0.0.11:53, as RESOLVER_LISTEN opens them, or
 * none is taken (all closed).
 */
function resolverSockets(fds: number[]): Listening[] {
  const socks = adoptListeners(nativeListeners(RESOLVER_LISTEN), fds);
  const wrong = socks.find((l) => {
    const a = l.address() as AddressInfo | string | null;
    return !a || typeof a === 'string' || a.address !== RESOLVER_ADDRESS || a.port !== 53;
  });
  if (!wrong) return socks;
  for (const l of socks) l.close();
  throw new Error(`the sockets sent are not a resolver's at ${RESOLVER_ADDRESS}:53`);
}

/** Closes a socket that may be closed already. */
function closeQuietly(l: Listening): void {
  try {
    l.close();
  } catch {}
}
