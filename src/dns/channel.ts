// One end of a DNS door connection (protocol.ts), read and written by the
// addon once connected: a request may carry fds (the resolver sockets a
// process opened in its new sandbox's namespace, handed to the daemon with
// SCM_RIGHTS), and Node reads its own sockets with read(), which drops
// them. Node connects or accepts; the addon then takes a copy of the fd
// and Node's socket is closed before it reads anything.
import type { Socket } from 'node:net';
import { closeSync } from 'node:fs';

import { native, type NativeChannel } from '../native.js';
import { lineReader } from './protocol.js';

/** The fd of a connected Node socket (Node keeps it on the socket's handle and has no API for it), or null. */
export function socketFd(s: Socket): number | null {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

export class DoorChannel {
  private readonly ch: NativeChannel;
  /** Fds received and not yet taken by a line. */
  private readonly fds: number[] = [];
  private ended = false;

  /**
   * Takes over s (connected). onMessage gets each line parsed (null when it
   * is not JSON) with the fds it declared (`fds: n`), which are its to
   * close; a line that declares more than came, or one longer than
   * MAX_LINE, ends the channel. onEnd runs once, when the peer closes or
   * the channel breaks (not on close()).
   */
  constructor(s: Socket, onMessage: (msg: Record<string, unknown> | null, fds: number[]) => void, onEnd: () => void) {
    const fd = socketFd(s);
    if (fd === null) throw new Error('the connection has no fd');
    const end = () => {
      if (this.ended) return;
      this.close();
      onEnd();
    };
    const read = lineReader((line) => {
      if (this.ended) return;
      let msg: Record<string, unknown> | null = null;
      try {
        const v = JSON.parse(line) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) msg = v as Record<string, unknown>;
      } catch {}
      const n = msg?.fds ?? 0;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > this.fds.length) return end();
      onMessage(msg, this.fds.splice(0, n));
    });
    this.ch = new native.Channel(
      fd,
      (data, fds) => {
        // The kernel delivers a message's fds with its first byte, so they are here before its line ends.
        this.fds.push(...fds);
        if (!read(data)) return end();
        // Ones no line declared, with nothing left to read that could: a peer's mistake, closed.
        if (!read.pending()) this.closeFds();
      },
      () => end(),
    );
    s.destroy();
  }

  /** Sends msg as a line, with fds (copies of which the peer gets; the caller keeps its own). False if it could not be sent: the channel is then ended. */
  send(msg: object, fds: number[] = []): boolean {
    if (this.ended) return false;
    const line = JSON.stringify(fds.length ? { ...msg, fds: fds.length } : msg);
    if (this.ch.send(Buffer.from(`${line}\n`), fds) === 0) return true;
    this.close();
    return false;
  }

  /** Reads what is waiting now: onMessage runs within the call. */
  drain(): void {
    if (!this.ended) this.ch.drain();
  }

  ref(): void {
    if (!this.ended) this.ch.ref();
  }

  unref(): void {
    if (!this.ended) this.ch.unref();
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.ch.close();
    this.closeFds();
  }

  private closeFds(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }
}
