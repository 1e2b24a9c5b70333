// Sockets created inside a namespace and handed to Node by fd, so a program
// (or a test) can talk from a sandbox without spawning a process there. A
// socket stays in the namespace it was created in, whatever thread uses it.
import dgram from 'node:dgram';
import net from 'node:net';

import { NsnetError } from '../errors.js';
import { native } from '../native.js';
import * as v from '../validate.js';
import type { HasHandle } from './batch.js';

async function socketIn(ns: HasHandle, family: 4 | 6, type: 'tcp' | 'udp', address?: string, port?: number) {
  try {
    return await native.socketIn(ns.handle, family, type, address, port);
  } catch (e) {
    throw NsnetError.system(`${type} socket${port !== undefined ? ` ${address || '*'}:${port}` : ''}`, e);
  }
}

export async function listenTcp(ns: HasHandle, port: number, host?: string): Promise<net.Server> {
  const p = v.uint(port, 'port', 65535);
  const family = host === undefined ? 4 : v.ip(host, 'host').family;
  const fd = await socketIn(ns, family, 'tcp', host ?? '', p);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export async function connectTcp(ns: HasHandle, port: number, host: string): Promise<net.Socket> {
  const p = v.uint(port, 'port', 65535, 1);
  const { family, address } = v.ip(host, 'host');
  const fd = await socketIn(ns, family, 'tcp');
  const sock = new net.Socket({ fd, readable: true, writable: true });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.connect({ port: p, host: address }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return sock;
}

export async function bindUdp(ns: HasHandle, port: number, host?: string, family?: 4 | 6): Promise<dgram.Socket> {
  const p = v.uint(port, 'port', 65535);
  const fam = host === undefined ? (family ?? 4) : v.ip(host, 'host').family;
  const fd = await socketIn(ns, fam, 'udp', host ?? '', p);
  const sock = dgram.createSocket(fam === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ fd }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return sock;
}
