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
import { ip, ipj, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';
import { podman as podmanFor, type Podman } from './podman-helpers.js';

const run = promisify(execFile);

let h: PluginHost;
let w: World;
let pm: Podman;
let d: DaemonProcess;
const NET = `nsnetpod${process.pid % 10000}`;

const podman = (...args: string[]) => pm.ok(...args);

beforeAll(async () => {
  h = await pluginHost('pod');
  w = h.w;
  await h.conf.write(`${NET}.conflist`, {
    cniVersion: '1.0.0',
    name: NET,
    plugins: [{ type: 'nsnet', subnet: '10.130.0.0/24', capabilities: { portMappings: true } }],
  });
  // The image: busybox-static with its applets, and a page to serve.
  pm = await podmanFor({
    hostNetns: w.host.path!, confDir: h.conf.dir, pluginDirs: [h.bin, REFERENCE],
    applets: ['httpd', 'wget'], files: { 'www/index.html': 'served by a container on an nsnet network\n' },
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
