// Who listens on the host's ports, read from /proc/<pid>/net (the sockets of
// that process's network namespace) and named through /proc/*/fd. Publishing
// a port a host process listens on would take its connections away (the
// DNAT comes first), so Docker refuses it ("port is already allocated") and
// so does nsnet, unless told to go ahead.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { fromBig } from './ipaddr.js';
import { processesIn, sameFile } from './processes.js';

export interface Listener {
  protocol: 'tcp' | 'udp';
  /** The bound address; 0.0.0.0 or :: for every address. */
  address: string;
  port: number;
  /** The socket's inode, by which its process is found. */
  inode: number;
}

/** /proc/net's hex address: IPv4 is one little-endian word, IPv6 four of them. */
function hexAddress(hex: string): string {
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(''));
  const n = BigInt(`0x${words.join('')}`);
  // An IPv4 address a dual-stack socket is bound to (::ffff:a.b.c.d).
  if (words.length === 4 && n >> 32n === 0xffffn) return fromBig(4, n & 0xffffffffn);
  return fromBig(words.length === 1 ? 4 : 6, n);
}

/** The listeners in one /proc/net table (tcp, tcp6, udp, udp6). */
export function parseTable(text: string, protocol: Listener['protocol']): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [addr, port] = f[1]!.split(':');
    // TCP: LISTEN (0A). UDP: a bound socket is a listener whatever its state says.
    if (protocol === 'tcp' && f[3] !== '0A') continue;
    const p = parseInt(port!, 16);
    if (!p) continue;
    out.push({ protocol, address: hexAddress(addr!), port: p, inode: Number(f[9]) });
  }
  return out;
}

/**
 * The TCP listeners and bound UDP sockets of the network namespace at
 * nsPath, for the protocols asked for. /proc shows a namespace's sockets
 * through a process in it; a namespace with no process in it shows none.
 */
export async function hostListeners(nsPath: string | null, protocols: string[]): Promise<Listener[]> {
  const own = nsPath === null || sameFile(nsPath, statSync('/proc/self/ns/net'));
  const pid = own ? 'self' : processesIn(nsPath)[0];
  if (pid === undefined) return [];
  const out: Listener[] = [];
  for (const protocol of ['tcp', 'udp'] as const) {
    if (!protocols.includes(protocol)) continue;
    for (const table of [protocol, `${protocol}6`]) {
      const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
      out.push(...parseTable(text, protocol));
    }
  }
  return out;
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
        return `${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()} (pid ${pid})`;
      } catch {
        // Closed meanwhile.
      }
    }
  }
  return null;
}
