// 5,000 sandboxes on one routed network on one host (issue 21's acceptance):
// created through the Controller, checked against `ip -j` and `nft -j` (a
// veth, a /32 route and a permanent neighbour each on the host, and still one
// firewall element for the whole network), a sample reached by real TCP
// among themselves, from the host and from outside, then deleted with
// nothing left. NSNET_ROUTED_N sets another count (scripts, a quick try).
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Netns, type Sandbox } from '../src/index.js';
import { eventually, world, type World } from './cnm-helpers.js';
import { fetchTcp, ipj, serve, uniq } from './helpers.js';
import { nftj } from './nft-helpers.js';

const N = Number(process.env.NSNET_ROUTED_N ?? 5000);
const UP = '198.51.100.1';

let w: World;
let outside: Netns;

beforeAll(async () => {
  w = await world('rs');
  outside = await Netns.create(uniq('rso'));
  await w.host.batch().addVeth({ name: 'up0', up: true, peer: { name: 'eth0', netns: outside } }).addAddress('up0', `${UP}/24`).commit();
  await outside.batch().setUp('eth0').addAddress('eth0', '198.51.100.2/24').addRoute({ dst: 'default', gateway: UP }).commit();
});

afterAll(async () => {
  await outside?.delete();
  await w?.cleanup();
});

test(`${N} routed sandboxes on one host: created, checked against ip -j and nft -j, a sample reached by traffic, deleted with nothing left`, async () => {
  const prefix = uniq('rsb');
  const before = { nft: await nftj(w.host.name!), links: (await ipj<any[]>(w.host.name, 'link', 'show')).map((l) => l.ifname) };
  const net = await w.c.createNetwork(`${prefix}n`, { driver: 'routed', subnets: ['10.170.0.0/18'] });
  const sbs: Sandbox[] = [];
  for (let i = 0; i < N; i++) sbs.push(await w.c.createSandbox(`${prefix}${i}`, { networks: [net.name] }));

  // The kernel holds one veth, one /32 route and one permanent neighbour per sandbox on the host ...
  const veths = (await ipj<any[]>(w.host.name, 'link', 'show', 'type', 'veth')).filter((l) => l.ifname !== 'up0');
  expect(veths.length).toBe(N);
  const netPrefix = veths[0]!.ifname.slice(0, 6);
  expect(veths.every((l) => l.ifname.startsWith(netPrefix) && l.master === undefined && l.address === 'ee:ee:ee:ee:ee:ee')).toBe(true);
  const routes = (await ipj<any[]>(w.host.name, 'route', 'show')).filter((r) => r.dev?.startsWith(netPrefix));
  expect(routes.length).toBe(N);
  const neigh = (await ipj<any[]>(w.host.name, 'neigh', 'show', 'nud', 'permanent')).filter((x) => x.dev?.startsWith(netPrefix));
  expect(neigh.length).toBe(N);
  // ... and no IPv6 on any of them (no route per interface to walk).
  expect((await ipj<any[]>(w.host.name, '-6', 'route', 'show', 'table', 'all')).filter((r) => r.dev?.startsWith(netPrefix))).toEqual([]);
  // The firewall holds the network as one element, whatever its size.
  const self = (await nftj(w.host.name!)).find((o) => o.set?.name === 'self')!.set;
  expect(self.elem.map((e: any) => e.elem?.val ?? e)).toEqual([{ concat: [`${netPrefix}*`, `${netPrefix}*`] }]);

  // A sample spread over the whole range, reached by real traffic.
  const sample = [0, 1, Math.floor(N / 3), Math.floor(N / 2), N - 2, N - 1].map((i) => sbs[i]!);
  const addr = async (sb: Sandbox) => (await sb.info()).endpoints[0]!.addresses[0]!.split('/')[0]!;
  for (let i = 0; i < sample.length; i++) {
    const to = sample[i]!;
    const from = sample[(i + 1) % sample.length]!;
    const s = await serve(await to.netns(), 0, '0.0.0.0', to.name);
    const port = (s.server.address() as AddressInfo).port;
    try {
      expect(await fetchTcp(await from.netns(), port, await addr(to))).toBe(to.name);
      expect(await fetchTcp(w.host, port, await addr(to))).toBe(to.name);
    } finally {
      s.server.close();
    }
  }
  const ext = await serve(outside, 0, '0.0.0.0', 'outside');
  try {
    expect(await fetchTcp(await sample[3]!.netns(), (ext.server.address() as AddressInfo).port, '198.51.100.2')).toBe('outside');
    expect(ext.seen.at(-1)).toBe(UP); // masqueraded
  } finally {
    ext.server.close();
  }

  for (const sb of sbs) await sb.delete();
  await net.delete();
  expect(await w.c.store.view((t) => t.endpoints({ networkId: net.id }))).toEqual([]);
  // The kernel destroys released namespaces, and their veths, in its own time.
  await eventually(async () => expect((await ipj<any[]>(w.host.name, 'link', 'show')).map((l) => l.ifname)).toEqual(before.links), 120_000);
  expect((await ipj<any[]>(w.host.name, 'route', 'show')).filter((r) => r.dev !== 'up0')).toEqual([]);
  expect((await ipj<any[]>(w.host.name, 'neigh', 'show', 'nud', 'permanent'))).toEqual([]);
  expect(await nftj(w.host.name!)).toEqual(before.nft);
  expect((await ipj<{ name: string }[]>(null, 'netns', 'list')).filter((x) => x.name.startsWith(prefix))).toEqual([]);
}, 600_000);
