// Docker as the client: Debian's dockerd 20.10, in its default
// configuration, run in a namespace that plays the host, with `nsnet daemon
// --docker --docker-user` serving it as the network and IPAM plugin nsnet
// (/run/docker/plugins/nsnet.sock, private to the test sandbox). Its data
// and run dirs, API socket and image (a busybox rootfs imported offline)
// are the test's own. After each step, what Docker shows is compared with
// nsnet's store, `ip -j` (the host's and each container's namespace) and
// `nft -j`.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { randomBytes } from 'node:crypto';

import { endpointName, NETWORK_LABEL } from '../src/docker/ids.js';
import { GRACE_MS, reconcilePools } from '../src/docker/reconcile.js';
import { CONTENT_TYPE } from '../src/docker/protocol.js';
import { Netns } from '../src/index.js';
import { startDaemon, type DaemonProcess } from './cni-helpers.js';
import { eventually, settled, world, type World } from './cnm-helpers.js';
import { pluginCall, startDockerd, type Dockerd } from './docker-helpers.js';
import { httpGet as get, ip, ipj, serve, udpRoundTrip, uniq } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';
import { busyboxRootfs, PAGE } from './rootfs.js';

const run = promisify(execFile);
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
  const rootfs = await busyboxRootfs(dir, ['httpd', 'wget', 'nc', 'true'], { 'www/index.html': `${PAGE}\n` });
  await run('tar', ['-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.']);
  await dk.docker('import', join(dir, 'rootfs.tar'), IMAGE);
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

test('docker network create -d nsnet --ipam-driver nsnet: containers reach each other over TCP (by address and by name), the outside masqueraded, and -p 8080:80 from outside, the host and by hairpin; Docker, the store, ip -j and nft -j agree', async () => {
  const net = uniq('dkn');
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.91.0.0/24', net);
  const a = await dk.docker('run', '-d', '--name', `${net}-a`, '--network', net, IMAGE, ...HTTPD);
  const ipA = JSON.parse(await dk.docker('inspect', '--format', `{{json .NetworkSettings.Networks}}`, a))[net].IPAddress as string;
  expect(ipA).toMatch(/^10\.91\.0\.\d+$/);
  expect(await dk.docker('run', '--rm', '--network', net, IMAGE, 'wget', '-qO-', `http://${ipA}/`)).toBe(PAGE);
  // By name too: Docker's embedded DNS answers for containers on a remote driver's network.
  expect(await dk.docker('run', '--rm', '--network', net, IMAGE, 'wget', '-qO-', `http://${net}-a/`)).toBe(PAGE);

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
  await nothingLeft();
}, 120_000);

/** Nothing of Docker's networks is left: no network, pool, sandbox or endpoint of theirs in the store, no interface, port or DOCKER-USER rule of nsnet's. */
async function nothingLeft(): Promise<void> {
  const store = await w.c.store.view((t) => ({
    networks: t.networks().filter((n) => n.labels[NETWORK_LABEL] || n.driver === 'ipam').map((n) => n.name),
    sandboxes: t.sandboxes().map((s) => s.name),
    endpoints: t.endpoints().map((e) => e.name),
  }));
  expect(store).toEqual({ networks: [], sandboxes: [], endpoints: [] });
  await eventually(async () => expect((await ipj<any[]>(w.host.name!, 'link', 'show')).map((l) => l.ifname).filter((n: string) => /^ns(v|p|br-)/.test(n))).toEqual([]));
  const dnat = ofKind(await nftj(w.host.name!), 'map').filter((m: any) => m.table === 'nsnet' && m.name.startsWith('dnat')).flatMap((m: any) => m.elem ?? []);
  expect(dnat).toEqual([]);
  expect((await dockerUser()).filter((r) => r.includes('nsnet '))).toEqual([]);
}

/** The rules of DOCKER-USER in the host's namespace, as iptables -S prints them. */
async function dockerUser(): Promise<string[]> {
  const { stdout } = await run('nsenter', [`--net=${w.host.path}`, 'iptables', '-w', '-S', 'DOCKER-USER']);
  return stdout.split('\n').filter((l) => l.startsWith('-A'));
}

/** The IPv4 address Docker shows for a container on a network. */
async function ipOn(container: string, net: string, v6 = false): Promise<string> {
  const n = JSON.parse(await dk.docker('inspect', '--format', '{{json .NetworkSettings.Networks}}', container))[net];
  return v6 ? n.GlobalIPv6Address : n.IPAddress;
}

test('docker network connect and disconnect of a running container, rm -f and network rm (nsnet IPAM with IPv6, and Docker\'s own IPAM): after each, Docker, the store, ip -j and nft -j agree, and nothing is left', async () => {
  const [n1, n2] = [uniq('dkc'), uniq('dkd')];
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.92.0.0/24', '--ipv6', '--subnet', 'fd92::/64', n1);
  await dk.docker('network', 'create', '-d', 'nsnet', n2); // Docker's own IPAM picks the subnet
  const c = await dk.docker('run', '-d', '--network', n1, IMAGE, ...HTTPD);
  await agrees(n1);
  const v6 = await ipOn(c, n1, true);
  expect(v6).toMatch(/^fd92::/);
  expect(await dk.docker('run', '--rm', '--network', n1, IMAGE, 'wget', '-qO-', `http://[${v6}]/`)).toBe(PAGE);

  await dk.docker('network', 'connect', n2, c);
  await agrees(n1);
  await agrees(n2);
  expect(await dk.docker('run', '--rm', '--network', n2, IMAGE, 'wget', '-qO-', `http://${await ipOn(c, n2)}/`)).toBe(PAGE);

  await dk.docker('network', 'disconnect', n1, c);
  await agrees(n1);
  await agrees(n2);
  expect((await dockerView(n1)).containers).toEqual([]);
  expect(await dk.docker('run', '--rm', '--network', n2, IMAGE, 'wget', '-qO-', `http://${await ipOn(c, n2)}/`)).toBe(PAGE);

  await dk.docker('rm', '-f', c);
  await agrees(n1);
  await agrees(n2);
  await dk.docker('network', 'rm', n1, n2);
  await nothingLeft();
}, 120_000);

test("what a Docker user sets reaches the kernel: -o bridge name and MTU, --gateway, --ip and --mac-address, -p on one host address and -p with an ephemeral host port; --internal sends nothing out", async () => {
  const [net, br, closed] = [uniq('dko'), uniq('dkbr'), uniq('dkq')];
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.98.0.0/24', '--gateway', '10.98.0.254',
    '-o', `com.docker.network.bridge.name=${br}`, '-o', 'com.docker.network.driver.mtu=1400', net);
  const bridge = (await ipj<any[]>(w.host.name!, 'addr', 'show', 'dev', br))[0];
  expect(bridge.mtu).toBe(1400);
  expect(bridge.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toContain('10.98.0.254/24');

  const mac = '02:42:0a:62:00:32';
  const a = await dk.docker('run', '-d', '--network', net, '--ip', '10.98.0.50', '--mac-address', mac, '-p', '127.0.0.1:8091:80', '-p', '80', IMAGE, ...HTTPD);
  expect(await ipOn(a, net)).toBe('10.98.0.50');
  const key = JSON.parse(await dk.docker('inspect', '--format', '{{json .NetworkSettings.SandboxKey}}', a));
  const eth0 = (await ipj<any[]>(key, 'addr', 'show')).find((l) => l.ifname === 'eth0');
  expect([eth0.address, eth0.mtu, eth0.addr_info.filter((x: any) => x.family === 'inet').map((x: any) => `${x.local}/${x.prefixlen}`)]).toEqual([mac, 1400, ['10.98.0.50/24']]);
  expect((await ipj<any[]>(key, 'route', 'show', 'default'))[0].gateway).toBe('10.98.0.254');
  await agrees(net, 2);
  // On 127.0.0.1 only: the host reaches it there, the outside does not.
  await eventually(async () => expect(await get(w.host, 8091, '127.0.0.1')).toContain(PAGE), 10_000);
  await expect(get(outside, 8091, UPLINK)).rejects.toThrow();
  // The ephemeral host port nsnet chose (Docker shows none of a remote driver's: see the README) leads to the container.
  const chosen = await w.c.store.view((t) => t.endpoints().flatMap((e) => e.ports ?? []).filter((m) => m.containerPort === 80 && m.hostIp === '0.0.0.0'));
  expect(chosen.length).toBe(1);
  expect(await get(outside, chosen[0]!.hostPort, UPLINK)).toContain(PAGE);

  // --internal: containers reach each other, never the outside.
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--internal', '--subnet', '10.97.0.0/24', closed);
  const b = await dk.docker('run', '-d', '--network', closed, IMAGE, ...HTTPD);
  expect(await dk.docker('run', '--rm', '--network', closed, IMAGE, 'wget', '-qO-', `http://${await ipOn(b, closed)}/`)).toBe(PAGE);
  const ext = await serve(outside, 9001, OUTSIDE, 'outside');
  // The same call from the other network gets through: the refusal below is the network's.
  expect(await dk.docker('run', '--rm', '--network', net, IMAGE, 'nc', '-w', '2', OUTSIDE, '9001')).toBe('outside');
  ext.seen.length = 0;
  await expect(dk.docker('run', '--rm', '--network', closed, IMAGE, 'nc', '-w', '2', OUTSIDE, '9001')).rejects.toThrow();
  expect(ext.seen).toEqual([]);
  ext.server.close();

  await dk.docker('rm', '-f', a, b);
  await agrees(net, 0);
  await dk.docker('network', 'rm', net, closed);
  expect(d.lines.filter((l) => l.startsWith('docker ') && !l.includes('-> ok'))).toEqual([]);
  await nothingLeft();
}, 120_000);

test("a container's way out moves between nsnet networks (connect a network whose name sorts first, then disconnect it): its port moves to the endpoint Docker programs, leads to the container throughout, and one element holds it", async () => {
  // Docker's gateway is the endpoint whose network's name sorts first.
  const [late, early] = [uniq('dkz'), uniq('dka')];
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.89.0.0/24', late);
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.88.0.0/24', early);
  const c = await dk.docker('run', '-d', '--network', late, '-p', '8093:80', IMAGE, ...HTTPD);
  await eventually(async () => expect(await get(outside, 8093, UPLINK)).toContain(PAGE), 10_000);
  const portOn = async () => w.c.store.view((t) => {
    const nets = new Map(t.networks().map((n) => [n.id, n.name]));
    return t.endpoints().filter((e) => e.ports?.length).map((e) => [nets.get(e.networkId), e.ports!.map((m) => m.hostPort)]);
  });
  const networkOf = async (name: string) => (await w.c.store.view((t) => t.networks().find((n) => n.labels[NETWORK_LABEL] === name)))!.name;
  const [lateRec, earlyRec] = [await networkOf((await dockerView(late)).id), await networkOf((await dockerView(early)).id)];
  expect(await portOn()).toEqual([[lateRec, [8093]]]);
  expect(await get(outside, 8093, UPLINK)).toContain(PAGE);

  await dk.docker('network', 'connect', early, c);
  expect(await portOn()).toEqual([[earlyRec, [8093]]]);
  // One element in nsnet's table, leading to the new gateway endpoint's address.
  await agrees(late, 1);
  await agrees(early, 1);
  const target = JSON.stringify(ofKind(await nftj(w.host.name!), 'map').filter((m: any) => m.table === 'nsnet' && m.name.startsWith('dnat')).flatMap((m: any) => m.elem ?? []));
  expect([target.includes(`"${await ipOn(c, early)}"`), target.includes(`"${await ipOn(c, late)}"`)]).toEqual([true, false]);
  expect(await get(outside, 8093, UPLINK)).toContain(PAGE);

  await dk.docker('network', 'disconnect', early, c);
  expect(await portOn()).toEqual([[lateRec, [8093]]]);
  await agrees(late, 1);
  expect(await get(outside, 8093, UPLINK)).toContain(PAGE);

  await dk.docker('rm', '-f', c);
  await dk.docker('network', 'rm', late, early);
  expect(d.lines.filter((l) => l.startsWith('docker ') && !l.includes('-> ok'))).toEqual([]);
  await nothingLeft();
}, 120_000);

test("docker restart, stop and start of a container with ports keep its address (--ip) and bring its ports back each time; a UDP port, and a port over IPv6, reach it from outside", async () => {
  const net = uniq('dkr');
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.87.0.0/24', '--ipv6', '--subnet', 'fd87::/64', net);
  // IPv6 on the uplink too, for the port over IPv6.
  const uplink = (await ipj<any[]>(w.host.name!, '-4', 'addr', 'show')).find((l) => l.addr_info.some((a: any) => a.local === UPLINK)).ifname as string;
  const far = (await ipj<any[]>(outside.name!, '-4', 'addr', 'show')).find((l) => l.addr_info.some((a: any) => a.local === OUTSIDE)).ifname as string;
  await ip(w.host.name!, '-6', 'addr', 'add', '2001:db8:87::1/64', 'dev', uplink, 'nodad');
  await ip(outside.name!, '-6', 'addr', 'add', '2001:db8:87::2/64', 'dev', far, 'nodad');
  await ip(outside.name!, '-6', 'route', 'add', 'default', 'via', '2001:db8:87::1');
  const c = await dk.docker('run', '-d', '--network', net, '--ip', '10.87.0.40', '-p', '8085:80', '-p', '8086:81/udp', IMAGE, ...HTTPD);
  /** A UDP echo on 81 inside the container's namespace (busybox has no UDP server), for one round trip. */
  const echoing = async () => {
    const ns = await Netns.openPath(JSON.parse(await dk.docker('inspect', '--format', '{{json .NetworkSettings.SandboxKey}}', c)));
    const s = await ns.bindUdp(81, '0.0.0.0', 4);
    s.on('message', (m, r) => s.send(`echo ${m}`, r.port, r.address));
    return () => {
      s.close();
      ns.close();
    };
  };
  const reached = async () => {
    await eventually(async () => expect(await get(outside, 8085, UPLINK)).toContain(PAGE), 10_000);
    expect(await get(outside, 8085, '2001:db8:87::1')).toContain(PAGE);
    const stop = await echoing();
    try {
      expect(await udpRoundTrip(outside, 8086, UPLINK)).toBe('echo ping');
    } finally {
      stop();
    }
    expect(await ipOn(c, net)).toBe('10.87.0.40');
    // tcp and udp, each on 0.0.0.0 and ::
    await agrees(net, 4);
  };
  await reached();
  await dk.docker('restart', '-t', '0', c);
  await reached();
  await dk.docker('stop', '-t', '0', c);
  await agrees(net, 0);
  await dk.docker('start', c);
  await reached();

  await dk.docker('rm', '-f', c);
  await dk.docker('network', 'rm', net);
  await ip(outside.name!, '-6', 'route', 'del', 'default', 'via', '2001:db8:87::1');
  await ip(outside.name!, '-6', 'addr', 'del', '2001:db8:87::2/64', 'dev', far);
  await ip(w.host.name!, '-6', 'addr', 'del', '2001:db8:87::1/64', 'dev', uplink);
  expect(d.lines.filter((l) => l.startsWith('docker ') && !l.includes('-> ok'))).toEqual([]);
  await nothingLeft();
}, 120_000);

test('eight containers started at once and removed at once: every call succeeds, each gets its own address, Docker, the store, ip -j and nft -j agree, and nothing is left', async () => {
  const net = uniq('dkp');
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.99.0.0/24', net);
  const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => dk.docker('run', '-d', '--network', net, ...(i % 2 ? ['-p', `${9100 + i}:80`] : []), IMAGE, ...HTTPD)));
  const addrs = await Promise.all(ids.map((c) => ipOn(c, net)));
  expect(new Set(addrs).size).toBe(8);
  await agrees(net, 4);
  await Promise.all(ids.map((c) => dk.docker('rm', '-f', c)));
  await dk.docker('network', 'rm', net);
  expect(d.lines.filter((l) => l.startsWith('docker ') && !l.includes('-> ok'))).toEqual([]);
  await nothingLeft();
}, 120_000);

test("nsnet's IPAM under Docker's own bridge driver: a pool picked as nsnet picks (clear of the host's routes, docker0's among them), its gateway and each container's address kept in nsnet's store, all released with the network", async () => {
  const net = uniq('dki');
  await dk.docker('network', 'create', '--ipam-driver', 'nsnet', net);
  const [n] = JSON.parse(await dk.docker('network', 'inspect', net));
  const subnet = n.IPAM.Config[0].Subnet as string;
  const pool = await w.c.store.view((t) => t.networks().find((x) => x.driver === 'ipam')!);
  expect(pool.subnets.map((x) => [x.subnet, x.gateway])).toEqual([[subnet, n.IPAM.Config[0].Gateway]]);
  const docker0 = (await ipj<any[]>(w.host.name!, 'route', 'show', 'dev', 'docker0')).map((r) => r.dst);
  expect(docker0).toContain('172.17.0.0/16');
  expect(subnet).not.toBe('172.17.0.0/16');
  const c = await dk.docker('run', '-d', '--network', net, IMAGE, ...HTTPD);
  const addr = await ipOn(c, net);
  const held = await w.c.store.view((t) => t.endpoints({ networkId: pool.id }).flatMap((e) => e.addresses));
  expect(held).toEqual([`${addr}/${subnet.split('/')[1]}`]);
  expect(await dk.docker('run', '--rm', '--network', net, IMAGE, 'wget', '-qO-', `http://${addr}/`)).toBe(PAGE);
  await dk.docker('rm', '-f', c);
  await dk.docker('network', 'rm', net);
  await nothingLeft();
}, 120_000);

test('the nsnet daemon SIGKILLed and restarted while two containers run: they still talk (a published port too), its reconcile keeps them, Docker\'s later calls succeed, and removing them leaves nothing', async () => {
  const net = uniq('dkk');
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.93.0.0/24', net);
  const a = await dk.docker('run', '-d', '--network', net, '-p', '8081:80', IMAGE, ...HTTPD);
  const b = await dk.docker('run', '-d', '--network', net, IMAGE, 'sleep', '600');
  const ipA = await ipOn(a, net);
  expect(await d.stop('SIGKILL')).toBe('SIGKILL');
  // No daemon: the kernel carries on.
  expect(await dk.docker('exec', b, 'wget', '-qO-', `http://${ipA}/`)).toBe(PAGE);
  d = await startNsnet();
  expect(d.lines.find((l) => l.startsWith('reconcile:'))).toBe('reconcile: store and kernel agree');
  await agrees(net, 1);
  expect(await dk.docker('exec', b, 'wget', '-qO-', `http://${ipA}/`)).toBe(PAGE);
  expect(await get(outside, 8081, UPLINK)).toContain(PAGE);
  await dk.docker('rm', '-f', a, b);
  await dk.docker('network', 'rm', net);
  expect(d.lines.filter((l) => l.startsWith('docker ') && !l.includes('-> ok'))).toEqual([]);
  await nothingLeft();
}, 120_000);

test('dockerd stopped and started: its nsnet networks are still there and usable, a --restart always container joins again, and what it stopped left nothing behind', async () => {
  const net = uniq('dks');
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.94.0.0/24', net);
  const a = await dk.docker('run', '-d', '--restart', 'always', '--network', net, IMAGE, ...HTTPD);
  const id = (await dockerView(net)).id;
  await dk.stop();
  // Without live-restore dockerd stopped the container: its endpoint left and went; the network stays.
  const left = await w.c.store.view((t) => {
    const n = t.networks().find((x) => x.labels[NETWORK_LABEL] !== undefined)!;
    return { network: n.labels[NETWORK_LABEL], sandboxes: t.sandboxes().length, endpoints: t.endpoints({ networkId: n.id }).length };
  });
  expect(left).toEqual({ network: id, sandboxes: 0, endpoints: 0 });
  await dk.start();
  expect(await dk.docker('network', 'ls', '--filter', `name=${net}`, '--format', '{{.Name}} {{.Driver}}')).toBe(`${net} nsnet`);
  await eventually(async () => expect(await dk.docker('inspect', '--format', '{{.State.Running}}', a)).toBe('true'), 30_000);
  const ipA = await ipOn(a, net);
  expect(await dk.docker('run', '--rm', '--network', net, IMAGE, 'wget', '-qO-', `http://${ipA}/`)).toBe(PAGE);
  await agrees(net);
  await dk.docker('rm', '-f', a);
  await dk.docker('network', 'rm', net);
  await nothingLeft();
}, 180_000);

test('bad requests (malformed JSON, a field of the wrong type, unknown network, endpoint and pool ids, a pool or network overlapping another, an address never handed out, an unknown method) answer {"Err": ...} with a non-200 status, and change nothing; the plugin socket is root\'s alone', async () => {
  const net = uniq('dkb');
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.95.0.0/24', net);
  const netId = (await dockerView(net)).id;
  const pool = await w.c.store.view((t) => t.networks().find((n) => n.driver === 'ipam')!.id);
  const before = await settled(w, 'dk-none');
  const unknown = 'f'.repeat(64);
  const calls: [string, unknown, number][] = [
    ['NetworkDriver.CreateNetwork', '{"NetworkID": ', 400],
    ['NetworkDriver.CreateNetwork', '[1, 2]', 400],
    ['NetworkDriver.CreateNetwork', { NetworkID: 'not-an-id' }, 400],
    ['NetworkDriver.CreateNetwork', { NetworkID: unknown, Options: { 'com.docker.network.generic': { 'no.such.option': 'x' } } }, 400],
    ['NetworkDriver.CreateNetwork', { NetworkID: unknown, IPv4Data: [{ AddressSpace: 'nsnet', Pool: '10.95.0.0/24', Gateway: '10.95.0.1/24' }] }, 500],
    ['NetworkDriver.CreateEndpoint', { NetworkID: unknown, EndpointID: unknown, Interface: { Address: '10.95.0.9/24' } }, 500],
    ['NetworkDriver.CreateEndpoint', { NetworkID: netId, EndpointID: unknown, Interface: { Address: 7 } }, 400],
    ['NetworkDriver.Join', { NetworkID: netId, EndpointID: unknown, SandboxKey: '/run/docker/netns/none' }, 500],
    ['NetworkDriver.Leave', { NetworkID: unknown, EndpointID: unknown }, 500],
    ['NetworkDriver.ProgramExternalConnectivity', { NetworkID: netId, EndpointID: unknown, Options: {} }, 500],
    ['NetworkDriver.DeleteEndpoint', { NetworkID: netId, EndpointID: unknown }, 500],
    ['NetworkDriver.DeleteNetwork', { NetworkID: unknown }, 500],
    ['IpamDriver.RequestPool', { AddressSpace: 'nsnet', Pool: '10.95.0.0/25', Options: {}, V6: false }, 500],
    ['IpamDriver.RequestPool', { AddressSpace: 'nsnet-global', Pool: '', Options: {}, V6: false }, 500],
    ['IpamDriver.RequestAddress', { PoolID: unknown, Address: '', Options: null }, 500],
    ['IpamDriver.RequestAddress', { PoolID: pool, Address: '10.96.0.9', Options: null }, 400],
    ['IpamDriver.ReleaseAddress', { PoolID: pool, Address: '10.95.0.77' }, 500],
    ['IpamDriver.ReleasePool', { PoolID: unknown }, 500],
    ['NetworkDriver.AllocateNetwork', { NetworkID: unknown }, 404],
  ];
  for (const [method, body, status] of calls) {
    const r = await pluginCall(PLUGIN, method, body);
    expect({ method, status: r.status, type: r.type }).toEqual({ method, status, type: CONTENT_TYPE });
    expect(r.json.Err).toMatch(/\w/);
  }
  // The socket is root's alone (its mode), and if its mode let others in, the daemon refuses them.
  const st = statSync(PLUGIN);
  expect([st.uid, st.mode & 0o777]).toEqual([0, 0o600]);
  const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e'];
  const client = `const s=require('net').connect(${JSON.stringify(PLUGIN)});s.on('error',e=>{console.log(e.code);process.exit(0)});s.on('connect',()=>s.end('POST /Plugin.Activate HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\n\\r\\n'));let o='';s.on('data',x=>o+=x);s.on('end',()=>console.log(o))`;
  expect((await run('setpriv', [...asNobody, client])).stdout.trim()).toBe('EACCES');
  chmodSync(PLUGIN, 0o666);
  const refused = (await run('setpriv', [...asNobody, client])).stdout;
  chmodSync(PLUGIN, 0o600);
  expect(refused).toMatch(/^HTTP\/1\.1 403/);
  expect(refused).toContain('only root');
  // Through Docker too: a subnet another network holds.
  await expect(dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.95.0.128/25', uniq('dkb'))).rejects.toThrow(/overlaps/);
  expect(await settled(w, 'dk-none')).toEqual(before);
  await dk.docker('network', 'rm', net);
  await nothingLeft();
}, 120_000);

test("dockerd's FORWARD drop: nsnet's tagged rules in DOCKER-USER let its network through; without them the drop is final; the daemon's reconcile puts back exactly its own and leaves the host's own rule there", async () => {
  const net = uniq('dku');
  await dk.docker('network', 'create', '-d', 'nsnet', '--ipam-driver', 'nsnet', '--subnet', '10.97.0.0/24', net);
  const n = await w.c.store.view((t) => t.networks().find((x) => x.labels[NETWORK_LABEL] !== undefined)!);
  const ipt = (...args: string[]) => run('nsenter', [`--net=${w.host.path}`, 'iptables', '-w', ...args]);
  await ipt('-I', 'DOCKER-USER', '-s', '203.0.113.9/32', '-j', 'DROP');
  const tag = `nsnet ${w.c.store.id} ${n.id}`;
  const mine = async () => (await dockerUser()).filter((r) => r.includes(tag));
  const first = await mine();
  expect(first.length).toBe(5);
  expect(first.every((r) => r.includes(`${n.driverState.bridge}`))).toBe(true);
  expect((await dockerUser()).at(-1)).toBe('-A DOCKER-USER -j RETURN');

  const ext = await serve(outside, 9001, OUTSIDE, 'outside');
  const reach = () => dk.docker('run', '--rm', '--network', net, IMAGE, 'nc', '-w', '2', OUTSIDE, '9001').catch(() => '');
  expect(await reach()).toBe('outside');
  for (const r of first) await ipt(...r.replace(/^-A /, '-D ').match(/"[^"]*"|\S+/g)!.map((x) => x.replace(/^"|"$/g, '')));
  expect(await reach()).toBe('');

  await d.stop();
  d = await startNsnet();
  expect(d.lines.find((l) => l.startsWith('reconcile:'))).toContain('DOCKER-USER: 0 rule(s) removed, 5 added');
  expect(await mine()).toEqual(first);
  expect(await dockerUser()).toContain('-A DOCKER-USER -s 203.0.113.9/32 -j DROP');
  expect(await reach()).toBe('outside');
  ext.server.close();

  await dk.docker('network', 'rm', net);
  expect(await dockerUser()).toEqual(['-A DOCKER-USER -s 203.0.113.9/32 -j DROP', '-A DOCKER-USER -j RETURN']);
  await ipt('-D', 'DOCKER-USER', '-s', '203.0.113.9/32', '-j', 'DROP');
  await nothingLeft();
}, 120_000);

test('what Docker no longer knows goes, and only that: a container removed while the daemon was down is removed on its start (its namespace gone), and pool addresses that no endpoint holds are released once older than Docker retries a call; the gateway and a live container stay', async () => {
  const id = () => randomBytes(32).toString('hex');
  const call = async (method: string, body: object) => {
    const r = await pluginCall(PLUGIN, method, body);
    expect({ method, status: r.status, err: r.json.Err }).toEqual({ method, status: 200, err: undefined });
    return r.json;
  };
  // Docker's calls for `network create` and two containers, as dockerd makes them.
  const [netId, epA, epB] = [id(), id(), id()];
  const { PoolID } = await call('IpamDriver.RequestPool', { AddressSpace: 'nsnet', Pool: '10.98.0.0/24', SubPool: '', Options: {}, V6: false });
  const gw = (await call('IpamDriver.RequestAddress', { PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } })).Address;
  await call('NetworkDriver.CreateNetwork', { NetworkID: netId, Options: {}, IPv4Data: [{ AddressSpace: 'nsnet', Pool: '10.98.0.0/24', Gateway: gw }], IPv6Data: [] });
  const rts: Netns[] = [];
  const container = async (ep: string) => {
    const { Address } = await call('IpamDriver.RequestAddress', { PoolID, Address: '', Options: null });
    await call('NetworkDriver.CreateEndpoint', { NetworkID: netId, EndpointID: ep, Interface: { Address }, Options: {} });
    const rt = await Netns.create(uniq('dkr'));
    rts.push(rt);
    const join = await call('NetworkDriver.Join', { NetworkID: netId, EndpointID: ep, SandboxKey: rt.path, Options: {} });
    await ip(w.host.name!, 'link', 'set', join.InterfaceName.SrcName, 'netns', rt.path!); // Docker moves it in
    return Address as string;
  };
  const [a, b] = [await container(epA), await container(epB)];
  // An address Docker asked for and never used (its CreateEndpoint failed).
  const unused = (await call('IpamDriver.RequestAddress', { PoolID, Address: '', Options: null })).Address;

  // The daemon is down while Docker removes container A: its calls fail, Docker goes on, A's namespace goes.
  await d.stop('SIGKILL');
  await rts[0]!.delete();
  d = await startNsnet();
  expect(d.lines.find((l) => l.startsWith('reconcile:'))).toMatch(/sandbox\(es\) removed: docker-/);
  const eps = async () => (await w.c.store.view((t) => t.endpoints())).map((e) => e.name);
  expect(await eps()).not.toContain(endpointName(epA));
  expect(await eps()).toContain(endpointName(epB));
  // The door's start kept A's address: it is younger than Docker's retries. Later, it goes, with the unused one.
  const pool = await w.c.network(PoolID);
  const held = async () => (await pool.endpoints()).flatMap((e) => e.record.addresses).sort();
  // A pool Docker gave the subnet of holds its gateway as an address too.
  expect(await held()).toEqual([gw, a, b, unused].sort());
  const found = await reconcilePools(w.c, Date.now() + GRACE_MS + 1000);
  expect(found.length).toBe(2);
  expect(await held()).toEqual([gw, b].sort());

  // Docker removes B and the network: every call still succeeds.
  await call('NetworkDriver.Leave', { NetworkID: netId, EndpointID: epB });
  await call('NetworkDriver.DeleteEndpoint', { NetworkID: netId, EndpointID: epB });
  await call('IpamDriver.ReleaseAddress', { PoolID, Address: b.split('/')[0] });
  await call('IpamDriver.ReleaseAddress', { PoolID, Address: gw.split('/')[0] });
  await call('IpamDriver.ReleasePool', { PoolID });
  await call('NetworkDriver.DeleteNetwork', { NetworkID: netId });
  await rts[1]!.delete();
  await nothingLeft();
}, 120_000);
