// DNS over TCP: each message goes with its length in two bytes before it
// (RFC 1035 4.2.2). Shared by the server's TCP side and the forwarder's
// retry of a truncated answer.
import type { Socket } from 'node:net';

/** A message with its length before it. */
export function frame(msg: Buffer): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(msg.length);
  return Buffer.concat([head, msg]);
}

/**
 * Splits a TCP stream into messages. A message longer than `max` is an
 * error (the connection is to be dropped), so a peer cannot make the
 * reader hold more than max bytes.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly max: number) {}

  /** The whole messages data completes, in order; throws on one longer than max. */
  push(data: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    const out: Buffer[] = [];
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (len > this.max) throw new Error(`a ${len}-byte message is more than the ${this.max} taken`);
      if (this.buf.length < 2 + len) break;
      out.push(this.buf.subarray(2, 2 + len));
      this.buf = this.buf.subarray(2 + len);
    }
    if (!this.buf.length) this.buf = Buffer.alloc(0);
    return out;
  }
}

/** Sends one message on a connected socket and resolves with the first message back; rejects after ms. */
export function exchange(sock: Socket, msg: Buffer, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader(0xffff);
    const done = (e: Error | null, reply?: Buffer) => {
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve(reply!);
    };
    const timer = setTimeout(() => done(new Error(`no answer over TCP within ${ms} ms`)), ms);
    sock.on('data', (d: Buffer) => {
      const [reply] = reader.push(d);
      if (reply) done(null, reply);
    });
    sock.once('error', (e) => done(e));
    sock.once('end', () => done(new Error('the upstream closed the connection without an answer')));
    sock.write(frame(msg));
  });
}
