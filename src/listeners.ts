// Who listens on the host's ports, as the kernel lists its sockets
// (sock_diag, through the addon) and named through /proc/*/fd. Publishing
// a port a host process listens on would take its connections away (the
// DNAT comes first), so Docker refuses it ("port is already allocated") and
// so does nsnet, unless told to go ahead.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

import type { HasHandle } from './netlink/batch.js';
import { listSockets } from './netlink/socklist.js';

export interface Listener {
  protocol: 'tcp' | 'udp';
  /** The bound address; 0.0.0.0 or :: for every address. */
  address: string;
  port: number;
  /** The socket's inode, by which its process is found. */
  inode: number;
}

/**
 * The TCP listeners and bound UDP sockets (whatever their state says) of
 * the namespace ns, for the protocols asked for.
 */
export async function hostListeners(ns: HasHandle, protocols: string[]): Promise<Listener[]> {
  const wanted = (['tcp', 'udp'] as const).filter((p) => protocols.includes(p));
  // Listening TCP sockets alone: the kernel then walks only its listening hash.
  const found = await Promise.all(wanted.map((p) => listSockets(ns, { protocols: [p], ...(p === 'tcp' ? { states: ['LISTEN'] } : {}) })));
  return found.flat().filter((x) => x.port !== 0).map((x) => {
    // An IPv4 address a dual-stack socket took is given as IPv4.
    const mapped = x.address !== null && /^::ffff:\d+\.\d+\.\d+\.\d+$/.test(x.address);
    const address = mapped ? x.address!.slice(7) : (x.address ?? (x.family === 'inet6' ? '::' : '0.0.0.0'));
    return { protocol: x.protocol as Listener['protocol'], address, port: x.port, inode: x.inode };
  });
}

const isAny = (a: string) => a === '0.0.0.0' || a === '::';
const familyOf = (a: string) => (a.includes(':') ? 6 : 4);

/**
 * Whether a listener takes what publishing on `key` (a host address, or
 * 0.0.0.0 / :: for every address of the family) would: the same address,
 * or every address on either side. A socket on :: takes IPv4 too, as it
 * does where net.ipv6.bindv6only is 0 (the default).
 */
export function takes(l: Listener, key: string): boolean {
  if (l.address === '::' && familyOf(key) === 4) return true;
  return familyOf(l.address) === familyOf(key) && (l.address === key || isAny(l.address) || isAny(key));
}

/**
 * A process's program, as the user started it: its executable's file name.
 * comm names the main thread, which a program may rename (Node 24 calls it
 * MainThread); comm is the fallback where exe cannot be read.
 */
function programName(pid: string): string {
  try {
    return basename(readlinkSync(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, '');
  } catch {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  }
}

/** The process that holds a socket, as `name (pid N)`, or null if /proc does not tell. */
export function socketOwner(inode: number): string | null {
  const target = `socket:[${inode}]`;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== target) continue;
        return `${programName(pid)} (pid ${pid})`;
      } catch {
        // Closed meanwhile.
      }
    }
  }
  return null;
}
