// Sockets created inside a namespace and handed to Node by fd, so a program
// (or a test) can talk from a sandbox without spawning a process there. A
// socket stays in the namespace it was created in, whatever thread uses it.
import dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import net from 'node:net';

import { NsnetError, ValidationError } from '../errors.js';
import { native, type NativeListener } from '../native.js';
import * as v from '../validate.js';
import type { HasHandle } from './batch.js';

async function socketIn(ns: HasHandle, family: 4 | 6, type: 'tcp' | 'udp', address?: string, port?: number) {
  try {
    return await native.socketIn(ns.handle, family, type, address, port);
  } catch (e) {
    throw NsnetError.system(`${type} socket${port !== undefined ? ` ${address || '*'}:${port}` : ''}`, e);
  }
}

// Runs start (listen, connect, bind), whose callback means success, and
// settles on that callback or on the first 'error'.
function started<T extends EventEmitter>(e: T, start: (done: () => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    e.once('error', reject);
    start(() => {
      e.off('error', reject);
      resolve(e);
    });
  });
}

export async function listenTcp(ns: HasHandle, port: number, host?: string): Promise<net.Server> {
  const p = v.uint(port, 'port', 65535);
  const family = host === undefined ? 4 : v.ip(host, 'host').family;
  const fd = await socketIn(ns, family, 'tcp', host ?? '', p);
  const server = net.createServer();
  return started(server, (done) => server.listen({ fd }, done));
}

export async function connectTcp(ns: HasHandle, port: number, host: string): Promise<net.Socket> {
  const p = v.uint(port, 'port', 65535, 1);
  const { family, address } = v.ip(host, 'host');
  const fd = await socketIn(ns, family, 'tcp');
  const sock = new net.Socket({ fd, readable: true, writable: true });
  return started(sock, (done) => sock.connect({ port: p, host: address }, done));
}

export async function bindUdp(ns: HasHandle, port: number, host?: string, family?: 4 | 6): Promise<dgram.Socket> {
  const p = v.uint(port, 'port', 65535);
  const fam = host === undefined ? (family ?? 4) : v.ip(host, 'host').family;
  const fd = await socketIn(ns, fam, 'udp', host ?? '', p);
  const sock = dgram.createSocket(fam === 6 ? 'udp6' : 'udp4');
  return started(sock, (done) => sock.bind({ fd }, done));
}

/** A server socket to open inside a namespace (Netns.listen, or CreateOptions.listen). */
export interface ListenOptions {
  type: 'udp' | 'tcp';
  /** The address to bind: one of the namespace's (127.0.0.11 is lo's). */
  host: string;
  port: number;
  /**
   * Refuse an address and port another UDP socket holds (EADDRINUSE)
   * instead of sharing it: two UDP sockets with SO_REUSEADDR share one, and
   * the one bound last takes its datagrams. TCP listeners never share one.
   */
  exclusive?: boolean;
}

/** What Netns.listen hands over: a bound UDP socket, or a listening TCP server. */
export type Listening = dgram.Socket | net.Server;

/** The listeners checked and put as the addon takes them. */
export function nativeListeners(specs: ListenOptions[] | undefined, field = 'listen'): NativeListener[] {
  if (specs === undefined) return [];
  if (!Array.isArray(specs)) throw new ValidationError(field, specs, 'must be an array of { type, host, port }');
  return specs.map((l, i) => {
    if (!l || (l.type !== 'udp' && l.type !== 'tcp')) throw new ValidationError(`${field}[${i}].type`, l?.type, "must be 'udp' or 'tcp'");
    const { family, address } = v.ip(l.host, `${field}[${i}].host`);
    return { family, type: l.type, address, port: v.uint(l.port, `${field}[${i}].port`, 65535), reuse: !(l.exclusive && l.type === 'udp') };
  });
}

/**
 * Gives fds the addon opened (for specs, in order) to Node; closes them all
 * if any cannot be taken. Synchronous: each fd is bound (and listening)
 * already, and Node takes one over within the call (its 'listening' event
 * follows), so a create that opens them waits for no turn of the loop.
 */
export function adoptListeners(specs: NativeListener[], fds: number[]): Listening[] {
  const out: Listening[] = [];
  try {
    for (let i = 0; i < fds.length; i++) {
      const fd = fds[i]!;
      if (specs[i]!.type === 'udp') {
        const sock = dgram.createSocket(specs[i]!.family === 6 ? 'udp6' : 'udp4');
        out.push(sock);
        sock.bind({ fd }); // throws if Node cannot take the fd
      } else {
        const server = net.createServer();
        out.push(server);
        server.listen({ fd });
        if (!server.listening) throw new Error(`fd ${fd} could not be listened on`);
      }
    }
  } catch (e) {
    for (const l of out) l.close();
    for (const fd of fds.slice(out.length)) closeSync(fd);
    throw NsnetError.system('listen', e);
  }
  return out;
}

/** Server sockets opened inside ns (or the namespace at a path) in one trip to the addon, all or none. */
export async function listenIn(ns: HasHandle | string, specs: ListenOptions[]): Promise<Listening[]> {
  const n = nativeListeners(specs);
  let fds: number[];
  try {
    fds = await native.listenIn(typeof ns === 'string' ? ns : ns.handle, n);
  } catch (e) {
    throw NsnetError.system(`listen ${n.map((l) => `${l.type} ${l.address}:${l.port}`).join(', ')}`, e);
  }
  return adoptListeners(n, fds);
}
