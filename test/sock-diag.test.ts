// A namespace's listeners as publishing reads them (hostListeners, over
// the addon's one sock_diag reader), against `ss` as the oracle: listening
// TCP sockets and bound UDP ones, IPv4 and IPv6, in a namespace no process
// of ours is in (the addon makes the sockets inside it); connected sockets
// are not listeners.
import { afterAll, beforeAll, expect, test } from 'vitest';

import { hostListeners } from '../src/listeners.js';
import type { Netns } from '../src/index.js';
import { nsExec, testHost } from './helpers.js';

let ns: Netns;
beforeAll(async () => {
  ns = await testHost('sd');
});
afterAll(async () => {
  await ns.delete();
});

/** `ss` in the namespace: local address:port and inode of each socket, as the listing shows them. */
async function ss(flags: string): Promise<string[]> {
  const { stdout } = await nsExec(ns.name!, 'ss', flags, '-H', '-n', '-e');
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const f = l.trim().split(/\s+/);
      // ss writes IPv6 addresses in brackets, the IPv6 wildcard as *.
      const local = f[3]!.replace(/^\[(.*)\]:(\d+)$/, '$1:$2').replace(/^\*:/, ':::').replace(/%\w+/, '');
      return `${local} ${/ino:(\d+)/.exec(l)![1]}`;
    })
    .sort();
}

const shown = (xs: { address: string; port: number; inode: number }[]) => xs.map((x) => `${x.address}:${x.port} ${x.inode}`).sort();

test("hostListeners lists a namespace's listening TCP sockets and bound UDP sockets (IPv4, IPv6, every address), with their inodes, as ss does; a connected socket is no listener", async () => {
  const servers = [await ns.listenTcp(8081, '127.0.0.1'), await ns.listenTcp(8082, '::1'), await ns.listenTcp(8083)];
  const client = await ns.connectTcp(8081, '127.0.0.1');
  const udp = [await ns.bindUdp(5353, '127.0.0.1'), await ns.bindUdp(5354, '::', 6)];
  try {
    const tcp = await hostListeners(ns, ['tcp']);
    expect(tcp.every((s) => s.protocol === 'tcp')).toBe(true);
    expect(shown(tcp)).toEqual(await ss('-tl'));
    expect(shown(tcp).map((l) => l.split(' ')[0])).toEqual(['0.0.0.0:8083', '127.0.0.1:8081', '::1:8082']);
    const u = await hostListeners(ns, ['udp']);
    expect(shown(u)).toEqual(await ss('-ua'));
    expect(shown(u).map((l) => l.split(' ')[0])).toEqual(['127.0.0.1:5353', ':::5354']);
  } finally {
    client.destroy();
    for (const s of servers) s.close();
    for (const s of udp) s.close();
  }
});
