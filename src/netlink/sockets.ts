// Sockets created inside a namespace and handed to Node by fd, so a program
// (or a test) can talk from a sandbox without spawning a process there. A
// socket stays in the namespace it was created in, whatever thread uses it.
// And the sockets a namespace has, as sock_diag lists them (`ss`).
import dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';
import net from 'node:net';

import { NsnetError } from '../errors.js';
import { native } from '../native.js';
import * as v from '../validate.js';
import type { HasHandle } from './batch.js';
import { list } from './objects.js';

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

/** A socket of a namespace: its protocol, state and local address. */
export interface SocketInfo {
  protocol: 'tcp' | 'udp';
  family: 4 | 6;
  /** TCP_*: 10 is LISTEN; an unconnected UDP socket is 7 (CLOSE). */
  state: number;
  /** The local address: 0.0.0.0 or :: for every address; an IPv4 one a dual-stack socket took is given as IPv4. */
  address: string;
  port: number;
  /** The socket's inode (as /proc/<pid>/fd links name it). */
  inode: number;
}

const TCP_LISTEN = 10;

/**
 * ns's TCP sockets that listen, or all its UDP sockets (`ss -tln`, `ss
 * -uan`): a sock_diag dump of each family, in one job. Asking for listening TCP sockets
 * walks only the kernel's listening hash, unlike reading /proc/net/tcp.
 */
export async function listSockets(ns: HasHandle, protocol: 'tcp' | 'udp'): Promise<SocketInfo[]> {
  const states = protocol === 'tcp' ? 1 << TCP_LISTEN : 0xffffffff;
  const all = await list('SOCK_DIAG_BY_FAMILY', `${protocol} sockets`, () => native.sockets(ns.handle, 0, protocol, states));
  return all.map((s) => {
    const mapped = s.family === 6 && /^::ffff:\d+\.\d+\.\d+\.\d+$/.test(s.address);
    return { protocol, family: mapped ? 4 : s.family, state: s.state, address: mapped ? s.address.slice(7) : s.address, port: s.port, inode: s.inode };
  });
}
