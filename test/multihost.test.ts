// The acceptance of multi-host networking on one machine: hosts that are
// each a namespace with its own mount namespace and its own `nsnet daemon`,
// one etcd, real TCP between sandboxes on different hosts, and the kernel's
// forwarding and neighbour entries read with `bridge -j fdb` and `ip -j neigh`.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { eventually } from './cnm-helpers.js';
import { attempt, ipj, serve, uniq } from './helpers.js';
import { daemonHosts, type DaemonHost, type Hosts } from './multihost.js';
import { programmed } from './overlay-helpers.js';

const TTL = 3;
let k: Hosts;
const NET = uniq('mhov');
let vxlan = '';

interface Sb {
  host: DaemonHost;
  name: string;
  ip: string;
  mac: string;
}
const sandboxes: Sb[] = [];

async function sandboxOn(h: DaemonHost, name: string, net = NET): Promise<Sb> {
  await h.nsnet('run', '--keep', '--name', name, '--net', net, '--', 'true');
  const [info] = JSON.parse(await h.nsnet('sandbox', 'inspect', name));
  const ep = info.endpoints[0];
  return { host: h, name, ip: ep.addresses[0].split('/')[0], mac: ep.mac };
}

/** Every sandbox connects to every other over TCP; the failures. */
async function allPairs(sbs: Sb[]): Promise<string[]> {
  const open = await Promise.all(sbs.map((s) => Netns.openPath(s.host.netnsPath(s.name))));
  const servers = await Promise.all(sbs.map((s, i) => serve(open[i]!, 7000, s.ip, s.name)));
  const failures: string[] = [];
  try {
    for (let i = 0; i < sbs.length; i++) {
      const results = await Promise.all(sbs.map((t, j) => (i === j ? 'connected' : attempt(open[i]!, 7000, t.ip, 3000))));
      results.forEach((r, j) => r !== 'connected' && failures.push(`${sbs[i]!.name} -> ${sbs[j]!.name} (${sbs[j]!.ip}): ${r}`));
    }
  } finally {
    for (const s of servers) s.server.close();
    for (const ns of open) ns.close();
  }
  return failures;
}

beforeAll(async () => {
  k = await daemonHosts(3, TTL);
}, 120_000);
afterAll(async () => {
  await k?.close();
});

describe('multi-host', { timeout: 180_000 }, () => {
  test('3 hosts x 10 sandboxes on one overlay network: unique addresses, and every sandbox reaches every other over TCP across hosts', async () => {
    const [a] = k.hosts;
    await a!.nsnet('network', 'create', '-d', 'overlay', '--subnet', '10.60.0.0/24', NET);
    const ls = await k.hosts[1]!.nsnet('network', 'ls', '--filter', `name=${NET}`, '--format', '{{.Name}} {{.Driver}} {{.Scope}}');
    expect(ls.trim()).toBe(`${NET} overlay global`);
    vxlan = `nsvx-${JSON.parse(await a!.nsnet('network', 'inspect', NET))[0].id.slice(0, 10)}`;
    await Promise.all(k.hosts.map(async (h, i) => {
      for (let j = 0; j < 10; j++) sandboxes.push(await sandboxOn(h, `s${i}x${j}`));
    }));
    const ips = sandboxes.map((s) => s.ip);
    expect(new Set(ips).size).toBe(30);
    // Each host holds the other hosts' 20 endpoints, and none of its own.
    for (const h of k.hosts) {
      await eventually(async () => {
        const p = await programmed(h.ns, vxlan);
        const remote = sandboxes.filter((s) => s.host !== h);
        expect([...p.fdb.keys()].sort()).toEqual(remote.map((s) => s.mac).sort());
        for (const s of remote) expect(p.fdb.get(s.mac)).toBe(s.host.address);
        for (const s of remote) expect(p.neigh.get(s.ip)).toBe(s.mac);
      });
    }
    expect(await allPairs(sandboxes)).toEqual([]);
    const hosts = JSON.parse(await a!.nsnet('host', 'ls', '--json'));
    expect(hosts.map((x: { address: string }) => x.address).sort()).toEqual(k.hosts.map((h) => h.address).sort());
  });

  test('two hosts allocating 250 addresses each at the same time on one network: no duplicates', async () => {
    const net = uniq('mhal');
    await k.hosts[0]!.nsnet('network', 'create', '-d', 'overlay', '--subnet', '10.61.0.0/22', net);
    const [r0, r1] = await Promise.all([0, 1].map(async (i) => JSON.parse(await k.hosts[i]!.fixture('overlay-allocate.mjs', k.etcd.url, net, '250', `h${i}`))));
    const all = [...r0.got, ...r1.got];
    expect(all.length).toBe(500);
    expect(new Set(all).size).toBe(500);
    // etcd agrees: 500 address keys, each owned once.
    const keys = k.etcd.ctl('get', '--prefix', '--keys-only', `/nsnet/v1/addresses/`).split('\n').filter((l) => l.includes('10.61.'));
    expect(keys.length).toBe(500);
    // They raced: some commits conflicted and ran again.
    console.log(`allocation retries: ${r0.retries} + ${r1.retries}`);
  });

  test("a host's daemon SIGKILLed: within the lease TTL the others drop its entries and its addresses are free; when it comes back, reconcile restores it", async () => {
    const [a, b, c] = k.hosts as [DaemonHost, DaemonHost, DaemonHost];
    const onC = sandboxes.filter((s) => s.host === c);
    const t0 = Date.now();
    await c.kill('SIGKILL');
    for (const h of [a, b]) {
      await eventually(async () => {
        const p = await programmed(h.ns, vxlan);
        for (const s of onC) expect(p.fdb.has(s.mac)).toBe(false);
        for (const s of onC) expect(p.neigh.has(s.ip)).toBe(false);
      }, (TTL + 5) * 1000);
    }
    const gone = Date.now() - t0;
    const held = k.etcd.ctl('get', '--prefix', '/nsnet/v1/addresses/').split('\n');
    for (const s of onC) expect(held.some((l) => l.endsWith(`/${s.ip}`))).toBe(false);
    expect(gone).toBeLessThan((TTL + 5) * 1000);
    // C's sandboxes are still there (its kernel kept them); its daemon comes back and puts them back.
    await c.start();
    for (const h of [a, b]) {
      await eventually(async () => {
        const p = await programmed(h.ns, vxlan);
        for (const s of onC) expect(p.fdb.get(s.mac)).toBe(c.address);
      }, 10_000);
    }
    expect(await allPairs([sandboxes.find((s) => s.host === a)!, ...onC.slice(0, 3)])).toEqual([]);
  });

  test("six `nsnet run --rm` at once, three rounds, on a host with no sandbox on a network (each its own process beside the daemon): every one reaches a sandbox on another host, and the host's devices of the network go with the last", async () => {
    const [a, b] = k.hosts as [DaemonHost, DaemonHost];
    const net = uniq('mhrm');
    await a.nsnet('network', 'create', '-d', 'overlay', '--subnet', '10.66.0.0/24', net);
    const far = uniq('far');
    try {
      const target = (await sandboxOn(a, far, net)).ip;
      const id = JSON.parse(await a.nsnet('network', 'inspect', net))[0].id as string;
      const st = { vxlan: `nsvx-${id.slice(0, 10)}`, bridge: `nsov-${id.slice(0, 10)}` };
      for (let round = 0; round < 3; round++) {
        // The first joins of b race to make its devices, and the last leaves to remove them.
        const runs = await Promise.allSettled(Array.from({ length: 6 }, () => b.nsnet('run', '--rm', '--net', net, '--', 'ping', '-c', '1', '-W', '5', target)));
        expect(runs.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason).slice(0, 400))).toEqual([]);
        expect(await b.ns.links.find(st.vxlan)).toBeNull();
        expect(await b.ns.links.find(st.bridge)).toBeNull();
      }
    } finally {
      await a.nsnet('sandbox', 'rm', '-f', far).catch(() => {});
      await a.nsnet('network', 'rm', net).catch(() => {});
    }
  });

  test('etcd stopped for 10 s and started again: traffic keeps flowing, joins succeed afterwards, nothing is lost', async () => {
    const [a, b] = k.hosts as [DaemonHost, DaemonHost];
    const before = k.etcd.ctl('get', '--prefix', '--keys-only', '/nsnet/v1/').split('\n').filter(Boolean).sort();
    const from = sandboxes.find((s) => s.host === a)!;
    const to = sandboxes.find((s) => s.host === b)!;
    const src = await Netns.openPath(from.host.netnsPath(from.name));
    const dst = await Netns.openPath(to.host.netnsPath(to.name));
    const srv = await serve(dst, 7100, to.ip, 'b');
    let ok = 0;
    const failed: string[] = [];
    let going = true;
    const traffic = (async () => {
      while (going) {
        const r = await attempt(src, 7100, to.ip, 1000);
        if (r === 'connected') ok++;
        else failed.push(r);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    await k.etcd.stop();
    // A global create fails, clearly and soon, while etcd is away; a local one goes on.
    const t0 = Date.now();
    const err = await a.nsnet('run', '--keep', '--name', uniq('down'), '--net', NET, '--', 'true').catch((e: { stderr: string }) => e.stderr);
    expect(err).toMatch(/global store .*(unreachable|etcd)/);
    expect(Date.now() - t0).toBeLessThan(15_000);
    await a.nsnet('network', 'create', uniq('loc'));
    await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - t0))));
    await k.etcd.start();
    await new Promise((r) => setTimeout(r, 2 * TTL * 1000));
    going = false;
    await traffic;
    srv.server.close();
    src.close();
    dst.close();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    // The hosts kept their leases (or registered again): every key is still there.
    const after = k.etcd.ctl('get', '--prefix', '--keys-only', '/nsnet/v1/').split('\n').filter(Boolean).sort();
    expect(after).toEqual(before);
    const late = await sandboxOn(a, uniq('late'));
    await eventually(async () => expect((await programmed(b.ns, vxlan)).fdb.get(late.mac)).toBe(a.address));
    expect(await allPairs([late, to])).toEqual([]);
  });
});
