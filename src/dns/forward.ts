// Passing queries upstream: to the sandbox's own servers (--dns) or the
// host's, from sockets in the host's namespace, so a loopback resolver of
// the host (systemd-resolved's 127.0.0.53) is reached as the host reaches
// it. The answer goes back byte for byte but for its id, so its TTLs and
// rcode are the upstream's. Each upstream gets timeoutMs; SERVFAIL or
// REFUSED, or no answer, moves on to the next (at most three, as glibc's
// resolver has); a truncated answer is asked again over TCP. Whatever
// happens, the client gets an answer within a bound: SERVFAIL at worst.
import { randomInt } from 'node:crypto';
import type dgram from 'node:dgram';

import type { Netns } from '../netlink/netns.js';
import { decode, failure, RCODE, type Forward } from './answer.js';
import { exchange } from './tcp.js';
import { canonical } from './table.js';

/** glibc's MAXNS: a resolver never tries more. */
const MAX_UPSTREAMS = 3;

interface Pending {
  upstream: string;
  forward: Forward;
  done(answer: Buffer | null): void;
}

/** Whether msg is an answer to f's question (one that decodes, with that question). */
function answers(msg: Buffer, f: Forward): boolean {
  try {
    const a = decode(msg);
    const q = f.packet.questions[0]!;
    const got = a.questions[0];
    return (msg.readUInt16BE(2) & 0x8000) !== 0 && !!got && got.name === q.name && got.type === q.type && got.class === q.class;
  } catch {
    return false;
  }
}

export interface ForwarderOptions {
  /** The namespace the forwarding sockets are opened in: the host's. */
  host: Netns;
  /** How long one upstream has to answer. */
  timeoutMs: number;
  /** Queries upstream at once, from every sandbox together; past it, REFUSED. */
  maxPending: number;
}

export class Forwarder {
  private readonly sockets = new Map<4 | 6, Promise<dgram.Socket>>();
  /** By family and query id on the wire. */
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  constructor(private readonly o: ForwarderOptions) {}

  /** How many queries are upstream now. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** The upstreams' answer to f (its id restored), or SERVFAIL when none gave one. */
  async forward(f: Forward, upstreams: string[]): Promise<Buffer> {
    if (this.closed || this.pending.size >= this.o.maxPending) return failure(f, RCODE.REFUSED);
    const servers = upstreams.map(canonical).filter((s): s is string => s !== null).slice(0, MAX_UPSTREAMS);
    let last: Buffer | null = null;
    for (const server of servers) {
      let answer = await this.udp(f, server).catch(() => null);
      if (answer && decode(answer).flag_tc) answer = await this.tcp(f, server).catch(() => answer);
      if (!answer) continue;
      last = answer;
      const rcode = answer.readUInt16BE(2) & 0xf;
      if (rcode !== RCODE.SERVFAIL && rcode !== RCODE.REFUSED) break;
    }
    if (!last) return failure(f, RCODE.SERVFAIL);
    last.writeUInt16BE(f.packet.id, 0);
    // Too big for the client's UDP: TC, and it asks again over TCP.
    if (last.length > f.limit) return failure(f, last.readUInt16BE(2) & 0xf, true);
    return last;
  }

  private socket(family: 4 | 6): Promise<dgram.Socket> {
    let s = this.sockets.get(family);
    if (!s) {
      s = this.o.host.bindUdp(0, undefined, family).then((sock) => {
        sock.on('message', (msg, rinfo) => this.onMessage(family, msg, rinfo));
        sock.on('error', () => {}); // an ICMP error on one query: its timeout answers for it
        return sock;
      });
      s.catch(() => this.sockets.delete(family));
      this.sockets.set(family, s);
    }
    return s;
  }

  private async udp(f: Forward, upstream: string): Promise<Buffer | null> {
    const family = upstream.includes(':') ? 6 : 4;
    const sock = await this.socket(family);
    let id: number;
    do id = randomInt(0x10000);
    while (this.pending.has(`${family}/${id}`));
    const key = `${family}/${id}`;
    const out = Buffer.from(f.query);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => p.done(null), this.o.timeoutMs);
      const p: Pending = {
        upstream, forward: f,
        done: (answer) => {
          clearTimeout(timer);
          this.pending.delete(key);
          resolve(answer);
        },
      };
      this.pending.set(key, p);
      sock.send(out, 53, upstream, (e) => e && p.done(null));
    });
  }

  /** Takes an answer only from the upstream asked, for the question asked. */
  private onMessage(family: 4 | 6, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    const p = this.pending.get(`${family}/${msg.readUInt16BE(0)}`);
    if (!p || rinfo.port !== 53 || canonical(rinfo.address) !== p.upstream || !answers(msg, p.forward)) return; // keep waiting for one that is
    p.done(msg);
  }

  private async tcp(f: Forward, upstream: string): Promise<Buffer> {
    const ms = this.o.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const connecting = this.o.host.connectTcp(53, upstream);
    let sock;
    try {
      sock = await Promise.race([
        connecting,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no TCP connection within ${ms} ms`)), ms))),
      ]);
    } catch (e) {
      void connecting.then((s) => s.destroy(), () => {}); // it may connect yet
      throw e;
    } finally {
      clearTimeout(timer);
    }
    const out = Buffer.from(f.query);
    out.writeUInt16BE(f.packet.id, 0);
    const answer = await exchange(sock, out, ms);
    if (!answers(answer, f)) throw new Error(`${upstream} answered over TCP with something else`);
    return answer;
  }

  /** Closes the sockets; queries still upstream get SERVFAIL. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of [...this.pending.values()]) p.done(null);
    for (const s of this.sockets.values()) (await s.catch(() => null))?.close();
    this.sockets.clear();
  }
}
