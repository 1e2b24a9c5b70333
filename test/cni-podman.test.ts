// Podman as the client: Debian's podman 4.3 with its CNI backend, as root,
// running in a namespace that plays the host, with nsnet's plugin installed
// in a private plugin dir and `nsnet daemon` serving it. Its configuration,
// storage (vfs) and image (a busybox rootfs imported offline) are the
// test's own; nothing of the host's Podman setup is read or changed.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Netns } from '../src/index.js';
import { pluginHost, startDaemon, type DaemonProcess, type PluginHost } from './cni-helpers.js';
import { REFERENCE } from './cni-runtime-helpers.js';
import { eventually, type World } from './cnm-helpers.js';
import { httpGet as get, ip, ipj, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';
import { podman as podmanFor, type Podman } from './podman-helpers.js';

const run = promisify(execFile);

let h: PluginHost;
let w: World;
let pm: Podman;
let d: DaemonProcess;
const NET = `nsnetpod${process.pid % 10000}`;
/** A second network, whose plugin takes a static address and MAC (runtimeConfig's ips and mac). */
const NET2 = `nsnetpoe${process.pid % 10000}`;

const podman = (...args: string[]) => pm.ok(...args);

beforeAll(async () => {
  h = await pluginHost('pod');
  w = h.w;
  await h.conf.write(`${NET}.conflist`, {
    cniVersion: '1.0.0',
    name: NET,
    plugins: [{ type: 'nsnet', subnet: '10.130.0.0/24', capabilities: { portMappings: true } }],
  });
  await h.conf.write(`${NET2}.conflist`, {
    cniVersion: '1.0.0',
    name: NET2,
    plugins: [{ type: 'nsnet', subnet: '10.131.0.0/24', capabilities: { portMappings: true, ips: true, mac: true } }],
  });
  // The image: busybox-static with its applets, and a page to serve.
  pm = await podmanFor({
    hostNetns: w.host.path!, confDir: h.conf.dir, pluginDirs: [h.bin, REFERENCE],
    applets: ['httpd', 'wget'], files: { 'www/index.html': 'served by a container on an nsnet network\n', 'bin/pause': '#!/bin/sh\nexec sleep 2147483647\n' },
  });
  d = await startDaemon({ hostNetns: w.host.path!, socket: h.socket, stateDir: w.stateDir });
}, 120_000);

afterAll(async () => {
  await pm?.cleanup();
  await d?.stop();
  await h.cleanup();
});

const serve = ['httpd', '-f', '-p', '80', '-h', '/www'];

test('podman run --network on an nsnet conflist: podman inspect shows the address; containers reach each other over TCP; -p 8080:80 is reachable from outside; podman rm -f leaves nothing behind', async () => {
  expect(await podman('network', 'ls', '--format', '{{.Name}}')).toContain(NET);

  // Two containers: one serves, the other fetches from it by address.
  const a = await podman('run', '-d', '--name', uniq('pa'), '--network', NET, pm.image, ...serve);
  const inspected = JSON.parse(await podman('inspect', a))[0];
  const settings = inspected.NetworkSettings.Networks[NET];
  expect(settings.IPAddress).toMatch(/^10\.130\.0\.\d+$/);
  expect(settings.Gateway).toBe('10.130.0.1');
  expect(settings.IPPrefixLen).toBe(24);
  // What podman shows is what the container's namespace has.
  const sandboxKey = inspected.NetworkSettings.SandboxKey as string;
  const [eth0] = await run('nsenter', [`--net=${sandboxKey}`, 'ip', '-j', 'addr', 'show', 'eth0']).then((r) => JSON.parse(r.stdout));
  expect(eth0.addr_info.map((x: any) => x.local)).toContain(settings.IPAddress);
  expect(eth0.address).toBe(settings.MacAddress);
  const fetched = await podman('run', '--rm', '--network', NET, pm.image, 'wget', '-qO-', `http://${settings.IPAddress}/`);
  expect(fetched).toBe('served by a container on an nsnet network');

  // A published port, reached from a namespace playing a machine outside.
  const p = await podman('run', '-d', '--name', uniq('pp'), '--network', NET, '-p', '8080:80', pm.image, ...serve);
  const outside = await Netns.create(uniq('pout'));
  const [hostEnd, farEnd] = [uniq('vh'), uniq('vo')];
  await w.host.links.addVeth({ name: hostEnd, up: true, peer: { name: farEnd, netns: outside } });
  await w.host.addresses.add(hostEnd, '198.51.100.1/24');
  await outside.batch().setUp(farEnd).addAddress(farEnd, '198.51.100.2/24').addRoute({ dst: 'default', gateway: '198.51.100.1' }).commit();
  const sock = await outside.connectTcp(8080, '198.51.100.1');
  const reply = await new Promise<string>((res, rej) => {
    let got = '';
    sock.on('data', (x) => (got += x));
    sock.on('end', () => res(got));
    sock.on('error', rej);
    sock.end('GET / HTTP/1.0\r\n\r\n');
  });
  expect(reply).toMatch(/^HTTP\/1\.[01] 200/);
  expect(reply).toContain('served by a container on an nsnet network');

  // The daemon served every call: one ADD and one DEL per container so far, the --rm one's included.
  expect(d.lines.filter((l) => l.startsWith('cni ADD nsnet')).length).toBe(3);

  // podman rm -f: nothing of the containers is left in the kernel, nsnet's table or its store.
  await podman('rm', '-f', '-t', '0', a, p);
  await eventually(async () => {
    const links = (await ipj<any[]>(w.host.name!, 'link', 'show')).map((l) => l.ifname as string);
    expect(links.filter((l) => l.startsWith('nsv'))).toEqual([]);
  }, 10_000);
  const dnat = ofKind(await nftj(w.host.name!), 'map').filter((m: any) => m.name.startsWith('dnat')).flatMap((m: any) => m.elem ?? []);
  expect(dnat).toEqual([]);
  const store = await w.c.store.view((t) => {
    const n = t.network(NET)!;
    return { sandboxes: t.sandboxes().length, endpoints: t.endpoints().length, allocations: n.subnets.flatMap((s) => t.allocations(`${n.id}/${s.subnet}`)).length };
  });
  expect(store).toEqual({ sandboxes: 0, endpoints: 0, allocations: 0 });
  expect(d.lines.filter((l) => l.startsWith('cni DEL nsnet') && l.includes('-> ok')).length).toBe(3);
  await ip(w.host.name!, 'link', 'del', hostEnd);
  await outside.delete();
}, 180_000);

test("what Podman users do: --ip and --mac-address, stop and start (the same address, the port back), network reload, restart, network connect and disconnect, a pod's published port, a port on a container of two networks that keeps working when one goes; ip -j, nft -j and the store agree, and nothing is left", async () => {
  const outside = await Netns.create(uniq('pou'));
  const [hostEnd, farEnd] = [uniq('vh'), uniq('vo')];
  await w.host.links.addVeth({ name: hostEnd, up: true, peer: { name: farEnd, netns: outside } });
  await w.host.addresses.add(hostEnd, '198.51.100.1/24');
  await outside.batch().setUp(farEnd).addAddress(farEnd, '198.51.100.2/24').addRoute({ dst: 'default', gateway: '198.51.100.1' }).commit();
  const page = 'served by a container on an nsnet network';
  const dnat = async () => ofKind(await nftj(w.host.name!), 'map').filter((m: any) => m.name.startsWith('dnat')).flatMap((m: any) => m.elem ?? []);
  /** The container's interfaces as its namespace has them: name, MAC and IPv4 addresses. */
  const inside = async (c: string) => {
    const key = JSON.parse(await podman('inspect', c))[0].NetworkSettings.SandboxKey as string;
    const links = await run('nsenter', [`--net=${key}`, 'ip', '-j', 'addr', 'show']).then((r) => JSON.parse(r.stdout) as any[]);
    return links.filter((l) => l.ifname !== 'lo').map((l) => [l.ifname, l.address, l.addr_info.filter((x: any) => x.family === 'inet').map((x: any) => x.local)]);
  };

  // A static address and MAC from runtimeConfig, with a port.
  const mac = '02:42:0a:83:00:32';
  const a = await podman('run', '-d', '--name', uniq('ps'), '--network', NET2, '--ip', '10.131.0.50', '--mac-address', mac, '-p', '8082:80', pm.image, ...serve);
  expect(await inside(a)).toEqual([['eth0', mac, ['10.131.0.50']]]);
  await eventually(async () => expect(await get(outside, 8082, '198.51.100.1')).toContain(page), 10_000);

  // Stopped, nothing of it is left in the kernel; started again, it has the same address and its port back.
  await podman('stop', '-t', '0', a);
  expect(await dnat()).toEqual([]);
  expect(await w.c.store.view((t) => t.endpoints().length)).toBe(0);
  await podman('start', a);
  expect(await inside(a)).toEqual([['eth0', mac, ['10.131.0.50']]]);
  await eventually(async () => expect(await get(outside, 8082, '198.51.100.1')).toContain(page), 10_000);
  // podman network reload (after a firewall reload, say) sets its networks up again: the same address, the port back.
  await podman('network', 'reload', a);
  expect(await inside(a)).toEqual([['eth0', mac, ['10.131.0.50']]]);
  await eventually(async () => expect(await get(outside, 8082, '198.51.100.1')).toContain(page), 10_000);
  expect((await dnat()).length).toBe(1);
  await podman('restart', '-t', '0', a);
  await eventually(async () => expect(await get(outside, 8082, '198.51.100.1')).toContain(page), 10_000);
  expect((await dnat()).length).toBe(1);

  // Connected to a second network, reached on it; disconnected, gone from it.
  await podman('network', 'connect', NET, a);
  const on = await inside(a);
  expect(on.map((l) => l[0]).sort()).toEqual(['eth0', 'eth1']);
  const second = on.find((l) => l[0] === 'eth1')![2][0] as string;
  expect(second).toMatch(/^10\.130\.0\./);
  expect(await podman('run', '--rm', '--network', NET, pm.image, 'wget', '-qO-', `http://${second}/`)).toBe(page);
  await podman('network', 'disconnect', NET, a);
  // Its interface stops carrying traffic at once and goes a moment later (the namespace lives on: see Endpoint.leave).
  await eventually(async () => expect((await inside(a)).map((l) => l[0])).toEqual(['eth0']), 10_000);
  expect(await w.c.store.view((t) => t.endpoints().length)).toBe(1);

  // A pod: its infra container holds the namespace and the port; a container in it serves on it.
  const pod = uniq('pod');
  // Its infra container from the test's image (Podman's own pause image is built from catatonit, which this machine lacks).
  await podman('pod', 'create', '--name', pod, '--network', NET2, '-p', '8083:80', '--infra-image', pm.image, '--infra-command', '/bin/pause');
  await podman('run', '-d', '--pod', pod, pm.image, ...serve);
  await eventually(async () => expect(await get(outside, 8083, '198.51.100.1')).toContain(page), 10_000);
  expect((await dnat()).length).toBe(2);

  // On two networks from the start, with a port (Podman asks each network for it): one publishes it, the other stands by;
  // disconnected from the one that publishes it, the container keeps its port through the other.
  const b = await podman('run', '-d', '--name', uniq('pm'), '--network', `${NET2},${NET}`, '-p', '8084:80', pm.image, ...serve);
  await eventually(async () => expect(await get(outside, 8084, '198.51.100.1')).toContain(page), 10_000);
  const mappings = async () => w.c.store.view((t) => t.endpoints().flatMap((e) => (e.ports ?? []).filter((m) => m.hostPort === 8084).map((m) => [t.network(e.networkId)!.name, !!m.standby])).sort());
  const both = await mappings();
  expect(both.map((m) => m[1]).sort()).toEqual([false, true]);
  const [holder, heir] = [both.find((m) => !m[1])![0] as string, both.find((m) => m[1])![0] as string];
  await podman('network', 'disconnect', holder, b);
  expect(await mappings()).toEqual([[heir, false]]);
  await eventually(async () => expect(await get(outside, 8084, '198.51.100.1')).toContain(page), 10_000);
  expect((await dnat()).length).toBe(3);
  await podman('rm', '-f', '-t', '0', b);

  await podman('pod', 'rm', '-f', '-t', '0', pod);
  await podman('rm', '-f', '-t', '0', a);
  await eventually(async () => {
    const links = (await ipj<any[]>(w.host.name!, 'link', 'show')).map((l) => l.ifname as string);
    expect(links.filter((l) => l.startsWith('nsv'))).toEqual([]);
  }, 10_000);
  expect(await dnat()).toEqual([]);
  expect(await w.c.store.view((t) => ({ sandboxes: t.sandboxes().length, endpoints: t.endpoints().length }))).toEqual({ sandboxes: 0, endpoints: 0 });
  expect(d.lines.filter((l) => l.startsWith('cni ') && !l.includes('-> ok'))).toEqual([]);
  await ip(w.host.name!, 'link', 'del', hostEnd);
  await outside.delete();
}, 180_000);
