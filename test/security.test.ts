// What a sandbox can and cannot reach, with real traffic, as SECURITY.md
// states it: not the host's loopback (even sending to 127.0.0.1 with the
// gateway's MAC, CVE-2020-8558), not an unpublished port from outside (even
// with a route to its subnet); but the host's own addresses, a
// metadata-style address on the host, and the outside world, which nsnet
// does not filter (the host's own rules must, if they should be refused).
import type { Server } from 'node:net';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createSandbox, Netns, type Sandbox } from '../src/index.js';
import { world, type World } from './cnm-helpers.js';
import { attempt, ip, serve, uniq } from './helpers.js';

let w: World;
let outside: Netns;
let sb: Sandbox;
let ns: Netns;
const servers: Server[] = [];
const UP = '198.51.100.1';
const GW = '10.197.0.1';

beforeAll(async () => {
  w = await world('sec');
  outside = await Netns.create(uniq('seco'));
  await w.host.batch().addVeth({ name: 'up0', up: true, peer: { name: 'eth0', netns: outside } }).addAddress('up0', `${UP}/24`).commit();
  await outside.batch().setUp('eth0').addAddress('eth0', '198.51.100.2/24').commit();
  const net = await w.c.createNetwork(uniq('secn'), { subnets: ['10.197.0.0/24'] });
  sb = await createSandbox(w.c, { name: uniq('secs'), mode: { network: net.name }, ports: ['8601:80'] });
  ns = await sb.netns();
  for (const p of [80, 81]) servers.push((await serve(ns, p, '0.0.0.0', `sandbox:${p}`)).server);
  // The host's services: one on loopback only, one on all its addresses, one on a metadata-style address.
  await w.host.addresses.add('up0', '169.254.169.254/32');
  servers.push((await serve(w.host, 7001, '127.0.0.1', 'host loopback')).server);
  servers.push((await serve(w.host, 7002, '0.0.0.0', 'host')).server);
  servers.push((await serve(w.host, 7003, '169.254.169.254', 'metadata')).server);
});

afterAll(async () => {
  for (const s of servers) s.close();
  await outside?.delete();
  await w?.cleanup();
});

describe('what a sandbox reaches', () => {
  test("the host's loopback, never: not at 127.0.0.1 through the gateway's MAC (CVE-2020-8558), though route_localnet is on for the bridge", async () => {
    const bridge = (await (await w.c.network((await sb.info()).endpoints[0]!.network)).info()).bridge!;
    expect((await w.host.sysctl(`net.ipv4.conf.${bridge}.route_localnet`)).trim()).toBe('1');
    const gwMac = (await w.host.links.get(bridge)).mac!;
    await ns.setSysctl('net.ipv4.conf.eth0.route_localnet', 1);
    await ip(sb.name, 'addr', 'del', '127.0.0.1/8', 'dev', 'lo');
    await ip(sb.name, 'route', 'add', '127.0.0.1/32', 'dev', 'eth0', 'src', (await sb.info()).endpoints[0]!.addresses[0]!.split('/')[0]!);
    await ip(sb.name, 'neigh', 'replace', '127.0.0.1', 'lladdr', gwMac, 'dev', 'eth0', 'nud', 'permanent');
    try {
      expect(await attempt(ns, 7001, '127.0.0.1')).toBe('timeout');
      // The same path reaches the host's other services: the route is sound, only loopback is refused.
      expect(await attempt(ns, 7002, GW)).toBe('connected');
    } finally {
      await ip(sb.name, 'route', 'del', '127.0.0.1/32', 'dev', 'eth0');
      await ip(sb.name, 'addr', 'add', '127.0.0.1/8', 'dev', 'lo');
    }
  });

  test("the host's own addresses and a metadata-style address on the host: reachable (nsnet has no input filter; the host's rules decide)", async () => {
    expect(await attempt(ns, 7002, GW)).toBe('connected');
    expect(await attempt(ns, 7002, UP)).toBe('connected');
    expect(await attempt(ns, 7003, '169.254.169.254')).toBe('connected');
  });

  test('from outside, with a route to its subnet: the published port answers, an unpublished one does not', async () => {
    await outside.routes.add({ dst: '10.197.0.0/24', gateway: UP });
    expect(await attempt(outside, 8601, UP)).toBe('connected');
    expect(await attempt(outside, 81, (await sb.info()).endpoints[0]!.addresses[0]!.split('/')[0]!)).toBe('timeout');
  });
});
