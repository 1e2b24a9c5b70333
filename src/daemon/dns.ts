// The DNS front door: the daemon serves names to every sandbox of its store
// (its Controller's embedded resolvers, see src/dns), and other processes
// sharing the store (the nsnet CLI, an embedding runtime) tell it here of
// the sandboxes they make, change and remove (dns/protocol.ts), so their
// sandboxes are served the moment those calls return. The socket is
// claimed before anything is served, so a second daemon is refused before
// it touches a sandbox.
import { createServer, type Server, type Socket } from 'node:net';

import type { DnsOptions, DnsService } from '../dns/service.js';
import { defaultDnsSocket, lineReader, type DoorReply, type DoorRequest } from '../dns/protocol.js';
import type { DaemonContext, FrontDoor } from './frontdoor.js';
import { listenUnix, peerUid } from './unix.js';

export { defaultDnsSocket };

export class DnsDoor implements FrontDoor {
  readonly name = 'dns';
  private server: Server | null = null;
  private service: Promise<DnsService> | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly address: string,
    private readonly options: Omit<DnsOptions, 'socket' | 'log'> = {},
  ) {}

  async start(ctx: DaemonContext): Promise<void> {
    const server = createServer((s) => this.accept(ctx, s));
    await listenUnix(server, this.address);
    this.server = server;
    this.service = ctx.controller.serveNames({ ...this.options, log: ctx.log });
    await this.service;
  }

  private accept(ctx: DaemonContext, s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    s.on('error', () => {});
    if (peerUid(s) !== 0) {
      ctx.log('dns: refused a connection from a process not running as root');
      return void s.end(`${JSON.stringify({ ok: false, error: "only root may call nsnet's DNS socket" })}\n`);
    }
    // One request at a time per connection, answered in order.
    let turn = Promise.resolve();
    const read = lineReader((line) => {
      turn = turn.then(async () => {
        const reply = await this.handle(ctx, line);
        if (!s.destroyed) s.write(`${JSON.stringify(reply)}\n`);
      });
    });
    s.on('data', (d: Buffer) => read(d) || s.destroy());
  }

  private async handle(ctx: DaemonContext, line: string): Promise<DoorReply> {
    let req: DoorRequest;
    try {
      req = JSON.parse(line) as DoorRequest;
    } catch {
      return { ok: false, error: 'a request that is not JSON' };
    }
    const store = ctx.controller.store.id;
    if (req?.store !== store) return { ok: false, error: `this daemon serves store ${store}, not ${String(req?.store)}` };
    if (req.op === 'hello') return { ok: true };
    if ((req.op !== 'live' && req.op !== 'gone') || typeof req.sandbox !== 'string' || !/^[0-9a-f]{1,64}$/.test(req.sandbox))
      return { ok: false, error: 'a request must be hello, or live or gone with a sandbox id' };
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
    for (const s of this.sockets) s.destroy();
    await (await this.service?.catch(() => null))?.close();
    await closed;
  }
}
