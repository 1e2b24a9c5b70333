// Three things a CNI user meets past the basics, through the native shim
// and `nsnet daemon` (its own process in a namespace playing the host) as
// a runtime execs the plugins: CHECK of published ports against nsnet's
// nf_tables elements; host-local's ranges (rangeStart, rangeEnd) in nsnet's
// and nsnet-ipam's ipam sections; and one container attached to one
// network twice, under two interface names.
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { sandboxName } from '../src/cni/plugin/attachments.js';
import { execPlugin, pluginHost, runtimeEnv, startDaemon, type CniCall, type DaemonProcess, type PluginHost } from './cni-helpers.js';
import { REFERENCE } from './cni-runtime-helpers.js';
import { eventually, settled, type World } from './cnm-helpers.js';
import { ipj, uniq } from './helpers.js';
import { nft, nftj, ofKind } from './nft-helpers.js';

let h: PluginHost;
let w: World;
let d: DaemonProcess;

beforeAll(async () => {
  h = await pluginHost('cnia');
  w = h.w;
  d = await startDaemon({ hostNetns: w.host.path!, socket: h.socket, stateDir: w.stateDir });
});
afterAll(async () => {
  await d.stop();
  await h.cleanup();
});

/** The shim, exec'd as a runtime execs it, in the namespace playing the host. */
const shim = (call: CniCall, conf: unknown, plugin = 'nsnet') =>
  execPlugin(join(h.bin, plugin), call, conf, { hostNetns: w.host.path!, env: runtimeEnv, path: `${h.bin}:${REFERENCE}` });

const containers: Netns[] = [];
async function container(tag: string) {
  const ns = await Netns.create(uniq(tag));
  containers.push(ns);
  return { ns, at: { containerId: `${tag}-${ns.name}`, netns: ns.path! } };
}
afterAll(async () => {
  for (const ns of containers) await ns.delete().catch(() => {});
});

/** The IPv4 addresses of a container's interface, as ip -j lists them. */
const addrs = async (ns: Netns, ifname: string) =>
  (await ipj<any[]>(ns.name!, 'addr', 'show', ifname))[0].addr_info.filter((a: any) => a.family === 'inet').map((a: any) => `${a.local}/${a.prefixlen}`);

const dnatAny = async () => ofKind(await nftj(w.host.name!), 'map').find((m: any) => m.name === 'dnat4_any')?.elem ?? [];

describe('CHECK and published ports', () => {
  test('CHECK verifies the portMappings\' nf_tables elements: one deleted behind nsnet\'s back with nft fails CHECK with 106 naming the port, as does a mapping the attachment lacks; DEL and ADD restore it', async () => {
    const net = uniq('cp');
    const { at } = await container('cp');
    const conf = {
      cniVersion: '1.0.0', name: net, type: 'nsnet', subnet: '10.131.0.0/24', capabilities: { portMappings: true },
      runtimeConfig: { portMappings: [{ hostPort: 18131, containerPort: 80, protocol: 'tcp' }, { hostPort: 18132, containerPort: 53, protocol: 'udp' }] },
    };
    const call = (command: CniCall['command'], more: Record<string, unknown> = {}) => shim({ command, ...at, ifname: 'eth0' }, { ...conf, ...more });
    const add = await call('ADD');
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect((await call('CHECK', { prevResult: add.json })).code).toBe(0);
    // A mapping the runtime asks about that ADD never published.
    const other = await call('CHECK', { prevResult: add.json, runtimeConfig: { portMappings: [{ hostPort: 18133, containerPort: 80 }] } });
    expect([other.code, other.json.code]).toEqual([1, 106]);
    expect(other.json.msg).toContain(':18133->80/tcp');
    // The udp element goes behind nsnet's back.
    await nft(w.host.name!, 'delete', 'element', 'inet', 'nsnet', 'dnat4_any', '{ udp . 18132 }');
    const bad = await call('CHECK', { prevResult: add.json });
    expect([bad.code, bad.json.code]).toEqual([1, 106]);
    expect(bad.json.msg).toContain('port 0.0.0.0:18132->10.131.0.2:53/udp is not published');
    expect(bad.json.msg).not.toContain('18131');
    // The runtime's remedy: DEL and ADD again.
    expect((await call('DEL')).code).toBe(0);
    const again = await call('ADD');
    expect(again.code, again.stdout).toBe(0);
    expect((await call('CHECK', { prevResult: again.json })).code).toBe(0);
    expect((await dnatAny()).map((e: any) => JSON.stringify(e))).toEqual(expect.arrayContaining([expect.stringContaining('18131'), expect.stringContaining('18132')]));
    expect((await call('DEL')).code).toBe(0);
    expect(await dnatAny()).toEqual([]);
    await (await w.c.network(net)).delete();
  });
});

describe('ranges with rangeStart and rangeEnd', () => {
  test('nsnet: ADDs are given exactly rangeStart..rangeEnd (ip -j), the next one 103 with nothing changed; bad ranges and another range for the network are code 7 with nothing changed', async () => {
    const net = uniq('rr');
    const ipam = (range: Record<string, unknown>) => ({ type: 'host-local', ranges: [[{ subnet: '10.132.0.0/24', ...range }]] });
    const conf = (range: Record<string, unknown> = { rangeStart: '10.132.0.10', rangeEnd: '10.132.0.13' }, name = net) =>
      ({ cniVersion: '1.0.0', name, type: 'nsnet', ipam: ipam(range) });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { ns, at } = await container('rr');
      const r = await shim({ command: 'ADD', ...at, ifname: 'eth0' }, conf());
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await addrs(ns, 'eth0')).toEqual([r.json.ips[0].address]);
      got.push(r.json.ips[0].address);
    }
    expect(got.sort()).toEqual(['10.132.0.10/24', '10.132.0.11/24', '10.132.0.12/24', '10.132.0.13/24']);
    const before = await settled(w, 'cni-');
    const { ns, at } = await container('rr');
    const full = await shim({ command: 'ADD', ...at, ifname: 'eth0' }, conf());
    expect([full.code, full.json.code]).toEqual([1, 103]);
    expect(full.json.msg).toContain('10.132.0.10-10.132.0.13');
    const cases: [string, unknown][] = [
      ['a static address outside the range', { ...conf(), runtimeConfig: { ips: ['10.132.0.50'] } }],
      ['another range for the same network', conf({ rangeStart: '10.132.0.10', rangeEnd: '10.132.0.20' })],
      ['a range start outside the subnet', conf({ rangeStart: '10.133.0.10', rangeEnd: '10.132.0.20' }, uniq('rb'))],
      ['a range end before its start', conf({ rangeStart: '10.132.0.20', rangeEnd: '10.132.0.10' }, uniq('rb'))],
      ['a range start that is not an address', conf({ rangeStart: 'ten', rangeEnd: '10.132.0.10' }, uniq('rb'))],
      ['an IPv6 range end in an IPv4 subnet', conf({ rangeStart: '10.132.0.10', rangeEnd: 'fd00::1' }, uniq('rb'))],
    ];
    for (const [what, c] of cases) {
      const r = await shim({ command: 'ADD', ...at, ifname: 'eth0' }, c);
      expect([what, r.code, r.json.code]).toEqual([what, 1, 7]);
    }
    expect((await shim({ command: 'ADD', ...at, ifname: 'eth0' }, conf({ rangeStart: '10.132.0.10', rangeEnd: '10.132.0.20' }))).json.msg).toMatch(/exists with subnets "10\.132\.0\.0\/24 10\.132\.0\.10-10\.132\.0\.13"; the configuration says "10\.132\.0\.0\/24 10\.132\.0\.10-10\.132\.0\.20"/);
    expect(await addrs(ns, 'lo')).toEqual(['127.0.0.1/8']);
    expect((await ipj<any[]>(ns.name!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
    expect(await settled(w, 'cni-')).toEqual(before);
    // DEL of one frees its address for the next ADD.
    const first = containers.at(-5)!;
    expect((await shim({ command: 'DEL', containerId: `rr-${first.name}`, netns: first.path!, ifname: 'eth0' }, conf())).code).toBe(0);
    const next = await shim({ command: 'ADD', ...at, ifname: 'eth0' }, conf());
    expect(next.code, next.stdout).toBe(0);
    expect(await addrs(ns, 'eth0')).toEqual([next.json.ips[0].address]);
    expect(got).toContain(next.json.ips[0].address);
    for (const sb of await w.c.sandboxes()) await sb.delete();
    await (await w.c.network(net)).delete();
  });

  test('nsnet-ipam under the reference bridge plugin: its ranges bound the addresses the bridge plugin gives (ip -j), then 103', async () => {
    const name = uniq('ri');
    const bridge = {
      type: 'bridge', bridge: uniq('cbr'), isGateway: true,
      ipam: { type: 'nsnet-ipam', ranges: [[{ subnet: '10.134.0.0/24', rangeStart: '10.134.0.200', rangeEnd: '10.134.0.201', gateway: '10.134.0.1' }]] },
    };
    await h.conf.write(`${name}.conflist`, { name, cniVersion: '1.0.0', plugins: [bridge] });
    const cs = [await container('ri'), await container('ri'), await container('ri')];
    for (const [i, c] of cs.slice(0, 2).entries()) {
      const r = (await h.cni.add(name, c.at)) as any;
      expect(r.ips[0].address).toBe(`10.134.0.${200 + i}/24`);
      expect(await addrs(c.ns, 'eth0')).toEqual([r.ips[0].address]);
    }
    await expect(h.cni.add(name, cs[2]!.at)).rejects.toMatchObject({ cniCode: 103, msg: expect.stringContaining('10.134.0.200-10.134.0.201') });
    for (const c of cs) await h.cni.del(name, c.at);
    expect(await (await w.c.network(name)).endpoints()).toEqual([]);
    await (await w.c.network(name)).delete();
  });
});

describe('one container, one network, two interfaces', () => {
  test('ADD as eth0 and as eth1 on one network: each its own address and veth (ip -j); DEL of one leaves the other working; ADD of an ifname taken is 101', async () => {
    const net = uniq('tw');
    const { ns, at } = await container('tw');
    const conf = { cniVersion: '1.0.0', name: net, type: 'nsnet', subnet: '10.135.0.0/24' };
    const a0 = await shim({ command: 'ADD', ...at, ifname: 'eth0' }, conf);
    const a1 = await shim({ command: 'ADD', ...at, ifname: 'eth1' }, conf);
    expect([a0.code, a1.code], a1.stdout).toEqual([0, 0]);
    const [ip0, ip1] = [a0.json.ips[0].address, a1.json.ips[0].address];
    expect(ip0).not.toBe(ip1);
    expect(await addrs(ns, 'eth0')).toEqual([ip0]);
    expect(await addrs(ns, 'eth1')).toEqual([ip1]);
    const eps = (await (await w.c.sandbox(sandboxName(at.containerId))).info()).endpoints;
    expect(eps.map((e) => e.ifname).sort()).toEqual(['eth0', 'eth1']);
    const veths = eps.map((e) => e.hostIfname!);
    expect(new Set(veths).size).toBe(2);
    const hostLinks = async () => (await ipj<any[]>(w.host.name!, 'link', 'show')).map((l) => l.ifname);
    expect(await hostLinks()).toEqual(expect.arrayContaining(veths));
    // Each CHECKs against its own result; the interface taken is refused.
    expect((await shim({ command: 'CHECK', ...at, ifname: 'eth1' }, { ...conf, prevResult: a1.json })).code).toBe(0);
    expect((await shim({ command: 'ADD', ...at, ifname: 'eth1' }, conf)).json.code).toBe(101);
    // DEL of eth0: eth1, its address and veth stay, and the host still reaches it.
    expect((await shim({ command: 'DEL', ...at, ifname: 'eth0' }, conf)).code).toBe(0);
    // The daemon finishes a deletion after it answers.
    await eventually(async () => expect((await ipj<any[]>(ns.name!, 'link', 'show')).map((l) => l.ifname).sort()).toEqual(['eth1', 'lo']));
    expect(await addrs(ns, 'eth1')).toEqual([ip1]);
    expect(await hostLinks()).not.toContain(eps.find((e) => e.ifname === 'eth0')!.hostIfname);
    expect(await hostLinks()).toContain(eps.find((e) => e.ifname === 'eth1')!.hostIfname);
    const server = await ns.listenTcp(80, ip1.split('/')[0]);
    const got = new Promise<string>((res) => server.once('connection', (s) => s.once('data', (x) => res(String(x)))));
    const sock = await w.host.connectTcp(80, ip1.split('/')[0]);
    sock.end('to eth1');
    expect(await got).toBe('to eth1');
    server.close();
    expect((await shim({ command: 'CHECK', ...at, ifname: 'eth1' }, { ...conf, prevResult: a1.json })).code).toBe(0);
    expect((await shim({ command: 'DEL', ...at, ifname: 'eth1' }, conf)).code).toBe(0);
    await expect(w.c.sandbox(sandboxName(at.containerId))).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
    expect(await (await w.c.network(net)).endpoints()).toEqual([]);
    await eventually(async () => expect((await ipj<any[]>(ns.name!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']));
    await (await w.c.network(net)).delete();
  });
});
