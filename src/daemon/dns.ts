// The DNS front door: the daemon serves names to every sandbox of its store
// (its Controller's embedded resolvers, see src/dns), and other processes
// sharing the store (the nsnet CLI, an embedding runtime) tell it here of
// the sandboxes they make, change and remove (dns/protocol.ts), so their
// sandboxes are served the moment those calls return; a new sandbox's
// resolver sockets come with its line, opened by its creator (the daemon
// enters no namespace for it). The socket is claimed before anything is
// served, so a second daemon is refused before it touches a sandbox.
import { closeSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

import { adoptListeners, nativeListeners, type Listening } from '../netlink/sockets.js';
import type { SandboxState } from '../cnm/lifecycle.js';
import { sandboxState } from '../cnm/lifecycle.js';
import { DoorChannel } from '../dns/channel.js';
import { RESOLVER_ADDRESS, RESOLVER_LISTEN } from '../dns/policy.js';
import type { DnsOptions, DnsService } from '../dns/service.js';
import { defaultDnsSocket, type DoorReply, type DoorRequest } from '../dns/protocol.js';
import type { DaemonContext, FrontDoor } from './frontdoor.js';
import { listenUnix, peerUid } from './unix.js';

export { defaultDnsSocket };

export class DnsDoor implements FrontDoor {
  readonly name = 'dns';
  private server: Server | null = null;
  private service: Promise<DnsService> | null = null;
  private readonly channels = new Set<DoorChannel>();

  constructor(
    readonly address: string,
    private readonly options: Omit<DnsOptions, 'socket' | 'log'> = {},
  ) {}

  async start(ctx: DaemonContext): Promise<void> {
    // Paused: the connection is read by the addon (DoorChannel), never by Node.
    const server = createServer({ pauseOnConnect: true }, (s) => this.accept(ctx, s));
    await listenUnix(server, this.address);
    this.server = server;
    this.service = ctx.controller.serveNames({ ...this.options, log: ctx.log });
    await this.service;
  }

  private accept(ctx: DaemonContext, s: Socket): void {
    s.on('error', () => {});
    if (peerUid(s) !== 0) {
      ctx.log('dns: refused a connection from a process not running as root');
      return void s.end(`${JSON.stringify({ ok: false, error: "only root may call nsnet's DNS socket" })}\n`);
    }
    // A new sandbox's state, read for its planned line, until its sockets come.
    const planned = new Map<string, SandboxState>();
    // One request at a time per connection, answered in order.
    let turn = Promise.resolve();
    const chan: DoorChannel = new DoorChannel(
      s,
      (msg, fds) => {
        turn = turn.then(async () => {
          const reply = await this.handle(ctx, msg as DoorRequest | null, fds, planned).catch((e: Error) => ({ ok: false, error: e.message }) as DoorReply);
          chan.send(reply);
        });
      },
      () => this.channels.delete(chan),
    );
    this.channels.add(chan);
  }

  private async handle(ctx: DaemonContext, req: DoorRequest | null, fds: number[], planned: Map<string, SandboxState>): Promise<DoorReply> {
    let taken = false;
    try {
      if (!req) return { ok: false, error: 'a request that is not a JSON object' };
      const store = ctx.controller.store.id;
      if (req.store !== store) return { ok: false, error: `this daemon serves store ${store}, not ${String(req.store)}` };
      if (req.op === 'hello') return { ok: true };
      if ((req.op !== 'live' && req.op !== 'gone' && req.op !== 'planned') || typeof req.sandbox !== 'string' || !/^[0-9a-f]{1,64}$/.test(req.sandbox))
        return { ok: false, error: 'a request must be hello, or planned, live or gone with a sandbox id' };
      if (fds.length && (req.op !== 'live' || fds.length !== RESOLVER_LISTEN.length))
        return { ok: false, error: `only live carries fds: a resolver's ${RESOLVER_LISTEN.length} sockets` };
      const id = req.sandbox;
      try {
        const service = await this.service!;
        if (req.op === 'planned') {
          const st = await ctx.controller.store.view((t) => sandboxState(t, id));
          if (!st) return { ok: false, error: `no sandbox ${id} in the store` };
          service.named(st);
          planned.set(id, st);
        } else if (req.op === 'live' && fds.length) {
          const st = planned.get(id) ?? (await ctx.controller.store.view((t) => sandboxState(t, id)));
          planned.delete(id);
          if (!st) return { ok: false, error: `no sandbox ${id} in the store` };
          taken = true;
          await service.live(st, resolverSockets(fds));
        } else if (req.op === 'live') {
          await service.refresh(id);
        } else {
          planned.delete(id);
          await service.gone({ id });
        }
        return { ok: true };
      } catch (e) {
        ctx.log(`dns: ${req.op} ${id}: ${(e as Error).message}`);
        return { ok: false, error: (e as Error).message };
      }
    } finally {
      if (!taken) for (const fd of fds) closeSync(fd);
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.channels) c.close();
    this.channels.clear();
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
