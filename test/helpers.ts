// Shared by the integration tests: unique names, and iproute2 as the
// independent oracle (`ip -j`), run against namespaces by name or path.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { Server, Socket } from 'node:net';

import { Netns } from '../src/index.js';
import { parseIPv6 } from '../src/ipaddr.js';

const run = promisify(execFile);

let counter = 0;
/** A name unique to this test process, short enough for an interface (<= 15 bytes). */
export function uniq(prefix: string): string {
  counter++;
  return `${prefix}${(process.pid % 10000).toString(36)}${counter.toString(36)}`.slice(0, 15);
}

/** `ip` in ns: a name in /run/netns (`ip -n`), a path anywhere (a runtime's namespace, entered with nsenter), or null for this one. */
function ipIn(ns: string | null, args: string[]) {
  // Thousands of links or routes (the scale tests) print megabytes.
  const o = { maxBuffer: 256 << 20 };
  return ns?.startsWith('/') ? run('nsenter', [`--net=${ns}`, 'ip', ...args], o) : run('ip', [...(ns ? ['-n', ns] : []), ...args], o);
}

/** `ip -j [-n ns] ...args`, parsed. */
export async function ipj<T = any>(ns: string | null, ...args: string[]): Promise<T> {
  const { stdout } = await ipIn(ns, ['-j', ...args]);
  return (stdout.trim() ? JSON.parse(stdout) : []) as T;
}

/** Runs `ip [-n ns] ...args` for changes made behind nsnet's back. */
export async function ip(ns: string | null, ...args: string[]): Promise<string> {
  return (await ipIn(ns, args)).stdout;
}

/** Runs a command inside a named namespace (`ip netns exec`). */
export async function nsExec(ns: string, cmd: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args]);
}

/**
 * A fresh named namespace that plays "the host" for one test, so tests that
 * run in parallel never see each other's bridges and routes.
 */
export async function testHost(tag = 'h'): Promise<Netns> {
  return Netns.create(uniq(`t${tag}`));
}

/** Open fds of this process. */
export async function fdCount(): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir('/proc/self/fd')).length;
}

/** Connects and says how it went, without waiting for TCP's own (minutes long) give-up. */
export async function attempt(from: Netns, port: number, to: string, ms = 1200): Promise<'connected' | 'refused' | 'timeout'> {
  let sock: Socket | undefined;
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms));
  const conn = from.connectTcp(port, to).then(
    (s) => {
      sock = s;
      return 'connected' as const;
    },
    (e: { code?: string }) => (e.code === 'ECONNREFUSED' ? ('refused' as const) : Promise.reject(e)),
  );
  const r = await Promise.race([conn, timer]);
  sock?.destroy();
  if (r === 'timeout') void conn.then(() => sock?.destroy(), () => {});
  return r;
}

/** Everything a stream says until it ends. */
export async function readAll(s: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const d of s) chunks.push(d as Buffer);
  return Buffer.concat(chunks).toString();
}

/** Reads what the server says. */
export async function fetchTcp(from: Netns, port: number, to: string): Promise<string> {
  return readAll(await from.connectTcp(port, to));
}

/** An HTTP/1.0 GET of / from `from`; resolves with the whole reply. */
export async function httpGet(from: Netns, port: number, to: string): Promise<string> {
  const sock = await from.connectTcp(port, to);
  sock.end('GET / HTTP/1.0\r\n\r\n');
  return readAll(sock);
}

/** Sends 'ping' over UDP (IPv4) from `from` to to:port; resolves with the one reply, or fails after 2 s. */
export async function udpRoundTrip(from: Netns, port: number, to: string): Promise<string> {
  const s = await from.bindUdp(0, undefined, 4);
  try {
    const reply = new Promise<string>((res, rej) => {
      s.once('message', (m) => res(m.toString()));
      setTimeout(() => rej(new Error('no UDP reply')), 2000);
    });
    s.send('ping', port, to);
    return await reply;
  } finally {
    s.close();
  }
}

/** A TCP server that answers its name and records who connected. */
export async function serve(ns: Netns, port: number, host: string, name: string): Promise<{ server: Server; seen: string[] }> {
  const server = await ns.listenTcp(port, host);
  const seen: string[] = [];
  server.on('connection', (s) => {
    s.on('error', () => {}); // a client that gives up resets
    seen.push(s.remoteAddress!);
    s.end(name);
  });
  return { server, seen };
}


/**
 * The checkout and this node binary as user 65534 can reach them: a clone in
 * a 0700 directory (mktemp -d, /root) or Node from a cache under it is
 * otherwise out of that user's reach, and every test run as that user would
 * fail on MODULE_NOT_FOUND instead of proving anything. Bind mounts under a
 * 0755 directory, made in the sandbox's private mount namespace (the host's
 * mounts never see them); undo() removes them.
 */
export async function nobodyView(): Promise<{ node: string; root: string; env: NodeJS.ProcessEnv; undo: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'nsnet-nobody-'));
  await chmod(dir, 0o755);
  const node = join(dir, 'node');
  const root = join(dir, 'checkout');
  await writeFile(node, '');
  await mkdir(root);
  await run('mount', ['--bind', process.execPath, node]);
  await run('mount', ['--bind', process.cwd(), root]);
  // A build the suite was told to load (scripts/sanitize.sh's) is seen through the view too.
  const addon = process.env.NSNET_ADDON;
  const env = addon?.startsWith(`${process.cwd()}/`) ? { NSNET_ADDON: join(root, addon.slice(process.cwd().length + 1)) } : {};
  return {
    node,
    root,
    env,
    undo: async () => {
      await run('umount', [node]).catch(() => {});
      await run('umount', [root]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * From inside namespace `ns`, what a hostile tenant does: turns IPv6 on on
 * its eth0, takes a link-local address, and advertises itself as a router
 * with the prefix 2001:db8:1::/64 (autoconf) to every node on the link.
 */
export async function advertiseRouter(ns: string): Promise<void> {
  await nsExec(ns, 'sh', '-c', 'sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0; ip addr add fe80::99/64 dev eth0 nodad');
  await nsExec(ns, 'python3', '-c', `import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
ifi = socket.if_nametoindex('eth0')
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifi)
ra = struct.pack('!BBHBBHII', 134, 0, 0, 64, 0, 1800, 0, 0)
pio = struct.pack('!BBBBIII', 3, 4, 64, 0xc0, 86400, 14400, 0) + socket.inet_pton(socket.AF_INET6, '2001:db8:1::')
for _ in range(3): s.sendto(ra + pio, ('ff02::1', 0, 0, ifi))
`);
  // The receivers act on it in softirq, at once; a moment for the last one.
  await new Promise((res) => setTimeout(res, 300));
}

/** A namespace's IPv6 default routes and eth0's IPv6 addresses: none for a sandbox no router advertisement reached. */
export async function ipv6Left(ns: string): Promise<{ routes: unknown[]; addresses: string[] }> {
  return {
    routes: await ipj<unknown[]>(ns, '-6', 'route', 'show', 'default'),
    addresses: ((await ipj<any[]>(ns, '-6', 'addr', 'show', 'dev', 'eth0'))[0]?.addr_info ?? []).map((a: any) => a.local),
  };
}

/**
 * Waits until `dev` in namespace `ns` answers neighbour solicitations for the
 * IPv6 address `addr`. An address added with nodad is usable at once, but the
 * kernel joins its solicited-node group a moment later, from a work queue
 * that takes rtnl (0.1 ms median here, 6.6 ms at most with namespaces torn
 * down beside), and a solicitation that comes first is not answered.
 */
export async function ndReady(ns: string, dev: string, addr: string): Promise<void> {
  const g = parseIPv6(addr)!;
  const group = `ff02::1:ff${(g[6]! & 0xff).toString(16).padStart(2, '0')}:${g[7]!.toString(16)}`;
  for (let i = 0; i < 500; i++) {
    const m = await ipj<any[]>(ns, 'maddr', 'show', 'dev', dev);
    if ((m[0]?.maddr ?? []).some((e: any) => e.family === 'inet6' && e.address === group)) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`${dev} in ${ns} never joined ${group} for ${addr}`);
}

/**
 * p, or its failure with each namespace's IPv6 neighbour table added: a
 * connect that fails with EHOSTUNREACH after three seconds is a neighbour
 * that never answered, and the tables say whose.
 */
export async function neighboursOnFailure<T>(p: Promise<T>, namespaces: Record<string, string>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const tables = await Promise.all(Object.entries(namespaces).map(async ([who, ns]) => `${who}: ${await ip(ns, '-6', 'neigh', 'show').catch((x) => String(x))}`));
    (e as Error).message += `\nIPv6 neighbours:\n${tables.join('\n')}`;
    throw e;
  }
}
