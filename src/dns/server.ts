// One sandbox's resolver at 127.0.0.11:53: its UDP socket and TCP listener,
// opened inside its namespace (a query's socket says which sandbox asks,
// and so which networks' names it sees). Each sandbox has its own sockets,
// so the kernel queues each one's queries apart and Node reads a bounded
// number from each per turn: a sandbox that floods fills only its own
// queue. On top of that, a sandbox's queries pass a token bucket before
// they are decoded, its queries upstream and its TCP connections are
// bounded, and a message longer than MAX_QUERY is dropped unread.
import type dgram from 'node:dgram';
import type net from 'node:net';

import { failure, RCODE, type Forward, type Outcome } from './answer.js';
import { frame, FrameReader } from './tcp.js';

/** The longest query taken: a stub resolver's are far shorter (one question, an EDNS record). */
export const MAX_QUERY = 4096;
/** What a TCP client may leave unread before it is dropped. */
const MAX_UNREAD = 64 * 1024;

export interface ServerLimits {
  /** Queries a second one sandbox may send, and how many at once above that (a token bucket); past it they are dropped unread. */
  rate: number;
  burst: number;
  /** One sandbox's queries upstream at once; past it, REFUSED. */
  maxForwards: number;
  /** One sandbox's TCP connections at once. */
  maxConnections: number;
  /** How long a TCP connection may stay idle (RFC 7766 asks for a few seconds). */
  idleMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = { rate: 20_000, burst: 20_000, maxForwards: 256, maxConnections: 16, idleMs: 10_000 };

/** What a server asks of the DNS service for each query. */
export interface Resolver {
  respond(asker: string, msg: Buffer, transport: 'udp' | 'tcp'): Outcome;
  forward(asker: string, f: Forward): Promise<Buffer>;
}

/** What a server has seen, for tests and monitoring. */
export interface ServerStats {
  answered: number;
  /** Dropped unread: over the rate, or longer than MAX_QUERY. */
  dropped: number;
  /** Refused: over the bound of queries upstream. */
  refused: number;
}

export class SandboxServer {
  readonly stats: ServerStats = { answered: 0, dropped: 0, refused: 0 };
  private tokens: number;
  private last = performance.now();
  private forwards = 0;
  private readonly conns = new Set<net.Socket>();
  private closed = false;

  constructor(
    readonly sandboxId: string,
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
    private readonly resolver: Resolver,
    private readonly limits: ServerLimits,
  ) {
    this.tokens = limits.burst;
    udp.on('message', (msg, rinfo) =>
      this.query(msg, 'udp', (r) => {
        if (!this.closed) udp.send(r, rinfo.port, rinfo.address, () => {}); // an answer from upstream may come after close
      }),
    );
    udp.on('error', () => {}); // a send to a client that went away
    tcp.maxConnections = limits.maxConnections;
    tcp.on('connection', (s) => this.connection(s));
    tcp.on('error', () => {});
  }

  /** A token, if the sandbox has one left: refilled at `rate` a second up to `burst`. */
  private take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.limits.burst, this.tokens + ((now - this.last) * this.limits.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  private query(msg: Buffer, transport: 'udp' | 'tcp', send: (reply: Buffer) => void): void {
    if (msg.length > MAX_QUERY || !this.take()) {
      this.stats.dropped++;
      return;
    }
    const out = this.resolver.respond(this.sandboxId, msg, transport);
    if (!out) return;
    if ('reply' in out) {
      this.stats.answered++;
      return send(out.reply);
    }
    if (this.forwards >= this.limits.maxForwards) {
      this.stats.refused++;
      return send(failure(out.forward, RCODE.REFUSED));
    }
    this.forwards++;
    void this.resolver
      .forward(this.sandboxId, out.forward)
      .catch(() => failure(out.forward, RCODE.SERVFAIL)) // whatever went wrong upstream, the client hears
      .then((r) => {
        this.stats.answered++;
        send(r);
      })
      .finally(() => this.forwards--);
  }

  private connection(s: net.Socket): void {
    this.conns.add(s);
    s.once('close', () => this.conns.delete(s));
    s.on('error', () => {});
    s.setTimeout(this.limits.idleMs, () => s.destroy());
    const reader = new FrameReader(MAX_QUERY);
    s.on('data', (d: Buffer) => {
      let msgs: Buffer[];
      try {
        msgs = reader.push(d);
      } catch {
        return void s.destroy(); // a message longer than any query: not a DNS client
      }
      for (const m of msgs)
        this.query(m, 'tcp', (r) => {
          if (s.destroyed) return;
          if (s.writableLength > MAX_UNREAD) return void s.destroy(); // it does not read its answers
          s.write(frame(r));
        });
    });
  }

  /** Closes both sockets and every connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.udp.close();
    this.tcp.close();
    for (const s of this.conns) s.destroy();
  }
}
