// nsnet's CNI plugin on the routed and macvlan drivers ("type": "nsnet" with
// "driver"), called as a runtime calls it against a Controller whose host is
// a private namespace: ADD gives the container its interface in the
// runtime's namespace and a result that says what it got, traffic flows,
// CHECK and DEL work, and fields of another driver are refused.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { callPlugin } from './cni-helpers.js';
import { world, type World } from './cnm-helpers.js';
import { fetchTcp, ipj, serve, uniq } from './helpers.js';
import type { AddressInfo } from 'node:net';

let w: World;
let lan: Netns;
beforeAll(async () => {
  w = await world('cnid');
  lan = await Netns.create(uniq('cnl'));
  await w.host.batch().addVeth({ name: 'lan0', up: true, peer: { name: 'eth0', netns: lan } }).commit();
  await lan.batch().setUp('eth0').addAddress('eth0', '192.168.91.1/24').commit();
});
afterAll(async () => {
  await lan?.delete();
  await w.cleanup();
});

async function container(tag: string) {
  const ns = await Netns.create(uniq(`c${tag}`));
  return { ns, id: `ctr-${ns.name}`, path: ns.path! };
}

describe('CNI with a driver', () => {
  test('routed: ADD gives a /32 through 169.254.1.1 and says so in the result; two containers reach each other; CHECK passes, then sees a lost host route; DEL leaves nothing', async () => {
    const cf = { cniVersion: '1.1.0', name: uniq('cnr'), type: 'nsnet', driver: 'routed', subnet: '10.99.0.0/24' };
    const [a, b] = [await container('ra'), await container('rb')];
    const at = (c: typeof a) => ({ containerId: c.id, netns: c.path, ifname: 'eth0' });
    const ra = await callPlugin(w.c, { command: 'ADD', ...at(a) }, cf);
    expect(ra.code, ra.stdout).toBe(0);
    const hostIf = ra.json.interfaces[0].name;
    expect(hostIf).toMatch(/^nsr/);
    expect(ra.json.interfaces[1]).toMatchObject({ name: 'eth0', sandbox: a.path });
    expect(ra.json.ips).toEqual([{ interface: 1, address: expect.stringMatching(/^10\.99\.0\.\d+\/32$/), gateway: '169.254.1.1' }]);
    expect(ra.json.routes).toEqual([{ dst: '0.0.0.0/0', gw: '169.254.1.1' }]);
    expect((await callPlugin(w.c, { command: 'ADD', ...at(b) }, cf)).code).toBe(0);
    const aAddr = ra.json.ips[0].address.split('/')[0];
    const s = await serve(a.ns, 0, '0.0.0.0', 'a');
    expect(await fetchTcp(b.ns, (s.server.address() as AddressInfo).port, aAddr)).toBe('a');
    s.server.close();
    expect((await callPlugin(w.c, { command: 'CHECK', ...at(a) }, { ...cf, prevResult: ra.json })).code).toBe(0);
    await w.host.routes.delete({ dst: `${aAddr}/32`, dev: hostIf });
    const bad = await callPlugin(w.c, { command: 'CHECK', ...at(a) }, { ...cf, prevResult: ra.json });
    expect(bad.json.details).toContain(`no host route to ${aAddr}/32 through ${hostIf}`);
    for (const c of [a, b]) expect((await callPlugin(w.c, { command: 'DEL', ...at(c) }, cf)).code).toBe(0);
    await w.c.settled();
    for (const c of [a, b]) await c.ns.delete();
    await (await w.c.network(cf.name)).delete();
    await expect.poll(async () => (await ipj<any[]>(w.host.name, 'link', 'show')).map((l) => l.ifname).filter((n) => n.startsWith('nsr')), { timeout: 10_000 }).toEqual([]);
  });

  test('macvlan: master and mode as the reference macvlan plugin takes them; the container is on the LAN; ports are refused; bridge fields are refused', async () => {
    const cf = { cniVersion: '1.0.0', name: uniq('cnm'), type: 'nsnet', driver: 'macvlan', master: 'lan0', mode: 'bridge', subnet: '192.168.91.0/24', gateway: '192.168.91.1' };
    const c = await container('m');
    const at = { containerId: c.id, netns: c.path, ifname: 'eth0' };
    const r = await callPlugin(w.c, { command: 'ADD', ...at }, cf);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.interfaces).toEqual([{ name: 'eth0', mac: expect.any(String), sandbox: c.path }]);
    const [link] = await ipj<any[]>(c.ns.name!, '-d', 'link', 'show', 'eth0');
    expect(link.linkinfo).toMatchObject({ info_kind: 'macvlan', info_data: { mode: 'bridge' } });
    const s = await serve(lan, 0, '0.0.0.0', 'lan');
    expect(await fetchTcp(c.ns, (s.server.address() as AddressInfo).port, '192.168.91.1')).toBe('lan');
    s.server.close();
    const c2 = await container('m');
    const ports = await callPlugin(w.c, { command: 'ADD', containerId: c2.id, netns: c2.path, ifname: 'eth0' }, {
      ...cf, capabilities: { portMappings: true }, runtimeConfig: { portMappings: [{ hostPort: 18095, containerPort: 80 }] },
    });
    expect(ports.code).toBe(1);
    expect(ports.json.msg).toMatch(/cannot publish ports/);
    const wrong = await callPlugin(w.c, { command: 'ADD', containerId: c2.id, netns: c2.path, ifname: 'eth0' }, { ...cf, bridge: 'br9' });
    expect(wrong.json).toMatchObject({ code: 7, msg: 'invalid network configuration: bridge applies to driver bridge, not macvlan' });
    const other = await callPlugin(w.c, { command: 'ADD', containerId: c2.id, netns: c2.path, ifname: 'eth0' }, { ...cf, driver: 'ipvlan' });
    expect(other.json.code).toBe(7);
    expect((await callPlugin(w.c, { command: 'DEL', ...at }, cf)).code).toBe(0);
    expect(await ipj<any[]>(c.ns.name!, 'link', 'show', 'eth0').catch(() => [])).toEqual([]);
    await w.c.settled();
    for (const x of [c, c2]) await x.ns.delete();
    await (await w.c.network(cf.name)).delete();
  });
});
