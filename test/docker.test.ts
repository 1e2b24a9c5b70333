// Docker as the client: Debian's dockerd 20.10, in its default
// configuration, run in a namespace that plays the host, with `nsnet daemon
// --docker --docker-user` serving it as the network and IPAM plugin nsnet
// (/run/docker/plugins/nsnet.sock, private to the test sandbox). Its data
// and run dirs, API socket and image (a busybox rootfs imported offline)
// are the test's own. After each step, what Docker shows is compared with
// nsnet's store, `ip -j` (the host's and each container's namespace) and
// `nft -j`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { endpointName, NETWORK_LABEL } from '../src/docker/ids.js';
import { Netns } from '../src/index.js';
import { startDaemon, type DaemonProcess } from './cni-helpers.js';
import { eventually, world, type World } from './cnm-helpers.js';
import { startDockerd, type Dockerd } from './docker-helpers.js';
import { ip, ipj, serve, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';
import { busyboxTar, PAGE } from './rootfs.js';

const PLUGIN = '/run/docker/plugins/nsnet.sock';
const IMAGE = 'nsnet-busybox:test';
const UPLINK = '198.51.100.1';
const OUTSIDE = '198.51.100.2';
const HTTPD = ['httpd', '-f', '-p', '80', '-h', '/www'];

let w: World;
let dir: string;
let outside: Netns;
let d: DaemonProcess;
let dk: Dockerd;
const cniSocket = `/run/nsnet/dk-${process.pid}.sock`;

const startNsnet = () =>
  startDaemon({ hostNetns: w.host.path!, socket: cniSocket, stateDir: w.stateDir, args: ['--docker-socket', PLUGIN, '--docker-user'], ready: 'docker' });

beforeAll(async () => {
  w = await world('dk');
  dir = mkdtempSync(join(tmpdir(), 'nsnet-docker-'));
  // A machine outside, behind the host's uplink.
  outside = await Netns.create(uniq('dko'));
  const [hostEnd, farEnd] = [uniq('dkh'), uniq('dkf')];
  await w.host.links.addVeth({ name: hostEnd, up: true, peer: { name: farEnd, netns: outside } });
  await w.host.addresses.add(hostEnd, `${UPLINK}/24`);
  await outside.batch().setUp(farEnd).addAddress(farEnd, `${OUTSIDE}/24`).addRoute({ dst: 'default', gateway: UPLINK }).commit();
  d = await startNsnet();
  dk = await startDockerd({ hostNetns: w.host.path!, dataRoot: `/var/lib/docker/dk${process.pid}`, runRoot: `/run/docker/dk${process.pid}` });
  await dk.docker('import', await busyboxTar(dir, ['sh', 'httpd', 'wget', 'nc', 'ip', 'sleep', 'cat', 'true']), IMAGE);
}, 180_000);

afterAll(async () => {
  await dk?.docker('rm', '-f', ...(await dk.docker('ps', '-aq')).split('\n').filter(Boolean)).catch(() => {});
  await dk?.stop();
  await d?.stop();
  await outside?.delete();
  await w?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** What Docker shows of a network: its containers' endpoints, addresses and MACs. */
async function dockerView(net: string) {
  const [n] = JSON.parse(await dk.docker('network', 'inspect', net));
  const containers = Object.entries(n.Containers ?? {}).map(([id, c]: [string, any]) => ({ id, endpoint: c.EndpointID as string, mac: c.MacAddress as string, ip: c.IPv4Address as string }));
  return { id: n.Id as string, containers };
}

/**
 * Docker's view of the network agrees with nsnet's store, the kernel (each
 * container's interface and its host end on the bridge) and nsnet's table.
 */
async function agrees(net: string, ports = 0): Promise<void> {
  const v = await dockerView(net);
  const rec = await w.c.store.view((t) => {
    const n = t.networks().find((x) => x.labels[NETWORK_LABEL] === v.id)!;
    return { n, eps: t.endpoints({ networkId: n.id }) };
  });
  expect(rec.eps.map((e) => e.name).sort()).toEqual(v.containers.map((c) => endpointName(c.endpoint)).sort());
  const hostLinks = await ipj<any[]>(w.host.name!, 'link', 'show');
  const bridge = hostLinks.find((l) => l.ifname === rec.n.driverState.bridge);
  expect(bridge).toBeTruthy();
  for (const c of v.containers) {
    const ep = rec.eps.find((e) => e.name === endpointName(c.endpoint))!;
    expect(ep.addresses).toContain(c.ip);
    expect(ep.mac).toBe(c.mac);
    expect(hostLinks.find((l) => l.ifname === ep.hostIfname)?.master).toBe(bridge.ifname);
    const key = JSON.parse(await dk.docker('inspect', '--format', '{{json .NetworkSettings.SandboxKey}}', c.id));
    const inside = (await ipj<any[]>(key, 'addr', 'show')).find((l) => l.address === c.mac);
    expect(inside?.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toContain(c.ip);
  }
  const dnat = ofKind(await nftj(w.host.name!), 'map').filter((m: any) => m.table === 'nsnet' && m.name.startsWith('dnat')).flatMap((m: any) => m.elem ?? []);
  expect(dnat.length).toBe(ports);
}

/** An HTTP GET over a socket from ns; resolves with the reply. */
async function get(from: Netns, port: number, host: string): Promise<string> {
  const sock = await from.connectTcp(port, host);
  return new Promise<string>((res, rej) => {
    let got = '';
    sock.on('data', (x) => (got += x));
    sock.on('end', () => res(got));
    sock.on('error', rej);
    sock.end('GET / HTTP/1.0\r\n\r\n');
  });
}

test('docker network create -d nsnet --ipam-driver nsnet: containers reach each other over TCP, the outside masqueraded, and -p 8080:80 from outside, the host and by hairpin; Docker, the store, ip -j and nft -j agree', async () => {
  const net = uniq('dkn');
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.91.0.0/24', net);
  const a = await dk.docker('run', '-d', '--network', net, IMAGE, ...HTTPD);
  const ipA = JSON.parse(await dk.docker('inspect', '--format', `{{json .NetworkSettings.Networks}}`, a))[net].IPAddress as string;
  expect(ipA).toMatch(/^10\.91\.0\.\d+$/);
  expect(await dk.docker('run', '--rm', '--network', net, IMAGE, 'wget', '-qO-', `http://${ipA}/`)).toBe(PAGE);

  // The outside sees the host's address: masqueraded.
  const ext = await serve(outside, 9000, OUTSIDE, 'outside');
  expect(await dk.docker('run', '--rm', '--network', net, IMAGE, 'nc', OUTSIDE, '9000')).toBe('outside');
  expect(ext.seen.at(-1)).toBe(UPLINK);
  ext.server.close();

  const p = await dk.docker('run', '-d', '--network', net, '-p', '8080:80', IMAGE, ...HTTPD);
  await agrees(net, 1);
  expect(await get(outside, 8080, UPLINK)).toContain(PAGE);
  expect(await get(w.host, 8080, '127.0.0.1')).toContain(PAGE);
  expect(await get(w.host, 8080, UPLINK)).toContain(PAGE);
  expect(await dk.docker('exec', p, 'wget', '-qO-', `http://${UPLINK}:8080/`)).toBe(PAGE);

  await dk.docker('rm', '-f', a, p);
  await agrees(net, 0);
  await dk.docker('network', 'rm', net);
  expect(await w.c.store.view((t) => t.networks().filter((n) => n.labels[NETWORK_LABEL] || n.driver === 'ipam').length)).toBe(0);
  await eventually(async () => expect((await ipj<any[]>(w.host.name!, 'link', 'show')).filter((l) => /^ns(v|p|br-)/.test(l.ifname))).toEqual([]));
}, 120_000);

void ip;
