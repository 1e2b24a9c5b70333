// What the Docker front door stands on, through the Controller alone:
// handoff sandboxes (a runtime that moves the interfaces in itself, as
// Docker does for libnetwork's remote drivers), ports published on an
// endpoint after it joined (Endpoint.publish), and networks that take an
// ipam network's pool, go without IPv4, or have a subnet with no gateway.
// The runtime is played here with `ip`: it moves the interface into its
// namespace, renames it and addresses it, as Docker's osl does.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, test } from 'vitest';

import { Busy } from '../src/cnm/busy.js';
import { Controller, Netns, type Endpoint, type Network } from '../src/index.js';
import { openEngine } from '../src/store/engine.js';
import { settled, world, type World } from './cnm-helpers.js';
import { problems } from './consistency.js';
import { fetchTcp, ip, ipj, uniq } from './helpers.js';
import { nft, nftj, ofKind } from './nft-helpers.js';

let w: World;
/** Runtimes' namespaces live here, outside nsnet's run dir. */
let runtimeDir: string;
beforeAll(async () => {
  w = await world('hof');
  runtimeDir = mkdtempSync(join(tmpdir(), 'nsnet-hof-'));
});
afterAll(async () => {
  await w.cleanup();
  // A mount point once a test made a runtime's namespace in it (Netns.create makes its run dir one); not when none ran.
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === runtimeDir);
  if (mounted) execFileSync('umount', ['-l', runtimeDir]);
  rmSync(runtimeDir, { recursive: true, force: true });
});

const hostLinks = async () => ipj<any[]>(w.host.name!, 'link', 'show');
const dnat = async () => ofKind(await nftj(w.host.name!), 'map').filter((m: any) => String(m.name).startsWith('dnat')).flatMap((m: any) => m.elem ?? []);

/** A network with one endpoint joined to a handoff sandbox for a namespace at path (made later, or never). */
async function handedOff(subnet: string, path: string, o: { mtu?: string } = {}) {
  const net = await w.c.createNetwork(uniq('hon'), { subnets: [subnet], ...(o.mtu ? { options: { mtu: o.mtu } } : {}) });
  const ep = await net.createEndpoint(uniq('hoe'));
  const sb = await w.c.createSandbox(uniq('hos'), { netnsPath: path, handoff: true, join: [ep] });
  return { net, ep, sb, info: await ep.info() };
}

/** What the runtime does with a handed-off interface: move it into ns, rename it eth0, address it, bring it up. */
async function moveIn(ns: Netns, ifname: string, address: string) {
  await ip(w.host.name!, 'link', 'set', ifname, 'netns', ns.path!);
  await ip(ns.path!, 'link', 'set', ifname, 'name', 'eth0');
  await ip(ns.path!, 'addr', 'add', address, 'dev', 'eth0');
  await ip(ns.path!, 'link', 'set', 'eth0', 'up');
}

test("a handoff sandbox's interface is made in the host namespace, down, with the endpoint's MAC and the network's MTU and no address, beside a tagged host end on the bridge; once its runtime moved it in, reconcile verifies it and leave takes the pair", async () => {
  const path = join(runtimeDir, uniq('hrt'));
  const x = await handedOff('10.151.0.0/24', path, { mtu: '1400' });
  expect(x.sb.kind).toBe('external');
  expect(x.info.ifname).toMatch(/^nsp[0-9a-f]{8}$/);
  const links = await hostLinks();
  const peer = links.find((l) => l.ifname === x.info.ifname)!;
  const near = links.find((l) => l.ifname === x.info.hostIfname)!;
  expect({ mac: peer.address, mtu: peer.mtu, up: peer.flags.includes('UP'), addr: (await ipj<any[]>(w.host.name!, 'addr', 'show', 'dev', x.info.ifname!))[0].addr_info }).toEqual({ mac: x.info.mac, mtu: 1400, up: false, addr: [] });
  expect({ master: near.master, alias: near.ifalias, up: near.flags.includes('UP') }).toEqual({ master: (await x.net.info()).bridge, alias: `nsnet ${w.c.store.id} ${x.info.id}`, up: true });
  // Waiting in the host before the namespace exists is whole.
  let r = await w.c.reconcile();
  expect(r.sandboxesRemoved).toEqual([]);
  expect(r.errors).toEqual([]);

  const rt = await Netns.create(path.split('/').pop()!, { runDir: runtimeDir });
  await moveIn(rt, x.info.ifname!, x.info.addresses[0]!);
  r = await w.c.reconcile();
  expect({ removed: r.sandboxesRemoved, found: r.found, errors: r.errors }).toEqual({ removed: [], found: [], errors: [] });
  expect(await x.ep.check()).toEqual([]);
  // Detached at once, deleted a moment later (settled() runs it now): the pair goes from the runtime's namespace too.
  await x.ep.leave();
  expect((await hostLinks()).find((l) => l.ifname === x.info.hostIfname)?.flags).not.toContain('UP');
  expect(await w.c.settled()).toEqual([]);
  expect((await ipj<any[]>(rt.path!, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo']);
  await x.sb.delete();
  await rt.delete();
  await x.net.delete({ force: true });
});

test('reconcile of handoff sandboxes: a namespace gone with nothing waiting in the host removes the sandbox (its interface went with the namespace); a lost interface while the namespace is there is reported and left to the runtime', async () => {
  const pathA = join(runtimeDir, uniq('hra'));
  const pathB = join(runtimeDir, uniq('hrb'));
  const a = await handedOff('10.152.0.0/24', pathA);
  const b = await handedOff('10.153.0.0/24', pathB);
  const rtA = await Netns.create(pathA.split('/').pop()!, { runDir: runtimeDir });
  const rtB = await Netns.create(pathB.split('/').pop()!, { runDir: runtimeDir });
  await moveIn(rtA, a.info.ifname!, a.info.addresses[0]!);
  await moveIn(rtB, b.info.ifname!, b.info.addresses[0]!);
  // The runtime of a deleted its namespace (the veth pair went with it) while nsnet was away.
  await rtA.delete();
  // Someone deleted b's interface inside; its namespace is still there.
  await ip(rtB.path!, 'link', 'del', 'eth0');
  const r = await w.c.reconcile();
  expect(r.sandboxesRemoved).toEqual([a.sb.name]);
  expect(r.errors).toEqual([expect.stringContaining(`sandbox ${b.sb.name}: `)]);
  expect(r.errors[0]).toContain('left to its runtime');
  expect(await w.c.store.view((t) => [t.sandbox(a.sb.id), t.endpoint(a.ep.id), !!t.sandbox(b.sb.id), !!t.endpoint(b.ep.id)])).toEqual([null, null, true, true]);
  await b.sb.delete({ force: true });
  await rtB.delete();
  await w.c.settled();
  await a.net.delete({ force: true });
  await b.net.delete({ force: true });
});

test('Endpoint.publish on a joined endpoint: its ports reach the firewall and its bridge port turns hairpin; a new set unpublishes what went, a host port may lead elsewhere; a clash changes nothing; [] takes them all back and hairpin off, even with an element gone already', async () => {
  const x = await handedOff('10.154.0.0/24', join(runtimeDir, uniq('hrp')));
  const other = await x.net.createEndpoint(uniq('hoo'), { ports: ['9090:90'] });
  const hairpin = async () => (await ipj<any[]>(w.host.name!, '-d', 'link', 'show', 'dev', x.info.hostIfname!))[0].linkinfo.info_slave_data.hairpin;
  expect(await hairpin()).toBe(false);
  const m = await x.ep.publish(['8080:80', '8443:443']);
  expect(m.map((p) => `${p.hostIp}:${p.hostPort}->${p.containerPort}`)).toEqual(['0.0.0.0:8080->80', '0.0.0.0:8443->443']);
  expect((await dnat()).length).toBe(2);
  expect(await hairpin()).toBe(true);
  await x.ep.publish(['8080:80']);
  expect((await dnat()).length).toBe(1);
  expect((await x.ep.info()).ports.map((p) => p.hostPort)).toEqual([8080]);
  // The same host port led elsewhere: its old element goes and its new one comes in one trip.
  await x.ep.publish(['8080:81']);
  expect((await dnat()).map((e: any) => [e[0].elem.val.concat, e[1].concat])).toEqual([[['tcp', 8080], [x.info.addresses[0]!.split('/')[0], 81]]]);
  await x.ep.publish(['8080:80']);

  // 9090 is another endpoint's: refused, and nothing changed.
  const before = await settled(w, 'hof-none');
  await expect(x.ep.publish(['8080:80', '9090:90'])).rejects.toMatchObject({ code: 'ERR_NSNET_IN_USE' });
  expect(await settled(w, 'hof-none')).toEqual(before);

  // Its element taken away behind nsnet's back: taking the ports back still succeeds, and takes the hairpin off.
  await nft(w.host.name!, 'delete', 'element', 'inet', 'nsnet', 'dnat4_any', '{ tcp . 8080 }');
  await x.ep.publish([]);
  expect(await dnat()).toEqual([]);
  expect(await hairpin()).toBe(false);
  expect((await x.ep.info()).ports).toEqual([]);
  await other.delete();
  await x.sb.delete({ force: true });
  // Its interfaces' deletion is deferred (a runtime would delete the namespace): done before the next test's snapshots.
  expect(await w.c.settled()).toEqual([]);
  await x.net.delete({ force: true });
});

test("a host port two endpoints of one sandbox ask for alike (as a CNI runtime asks each network of a container): the second stands by, the first publishes it; when the first leaves, lets it go, or is deleted after a failed leave, the second takes it over and the port still reaches the sandbox; a reconcile hands over what a holder gone from the store left; a different mapping, or another sandbox, is refused", async () => {
  const [n1, n2] = [await w.c.createNetwork(uniq('hsa'), { subnets: ['10.160.0.0/24'] }), await w.c.createNetwork(uniq('hsb'), { subnets: ['10.161.0.0/24'] })];
  const [e1, e2] = [await n1.createEndpoint(uniq('hse'), { ports: ['8096:80'] }), await n2.createEndpoint(uniq('hse'))];
  const sb = await w.c.createSandbox(uniq('hss'), { join: [e1, e2] });
  const server = await (await sb.netns()).listenTcp(80, '0.0.0.0');
  server.on('connection', (c) => c.end(`from ${c.localAddress}`));
  const fetch = () => fetchTcp(w.host, 8096, '127.0.0.1');
  const target = async () => (await dnat()).map((e: any) => e[1].concat[0]);
  const [a1, a2] = [(await e1.info()).addresses[0]!.split('/')[0], (await e2.info()).addresses[0]!.split('/')[0]];
  expect(await fetch()).toBe(`from ${a1}`);

  // The second asks alike: it stands by; the kernel still has the one element, to the first.
  expect(await e2.publish(['8096:80'])).toEqual([{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8096, containerPort: 80, standby: true }]);
  expect(await target()).toEqual([a1]);
  // Not alike (another container port), or from another sandbox: refused, as before.
  await expect(e2.publish(['8096:81'])).rejects.toMatchObject({ code: 'ERR_NSNET_IN_USE' });
  expect((await e2.info()).ports).toEqual([{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8096, containerPort: 80, standby: true }]);
  const stranger = await n2.createEndpoint(uniq('hse'));
  const sb2 = await w.c.createSandbox(uniq('hss'), { join: [stranger] });
  await expect(stranger.publish(['8096:80'])).rejects.toMatchObject({ code: 'ERR_NSNET_IN_USE' });
  expect(await problems(w.c, w.host.name!, 'hss')).toEqual([]);

  // The first leaves: the second takes the port over, and it leads to the second's address.
  await e1.leave();
  expect((await e1.info()).ports).toEqual([]);
  expect((await e2.info()).ports).toEqual([{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8096, containerPort: 80 }]);
  expect(await target()).toEqual([a2]);
  expect(await fetch()).toBe(`from ${a2}`);
  expect(await problems(w.c, w.host.name!, 'hss')).toEqual([]);

  // Back the other way by publish: the first joins again and stands by; the second lets the port go, and the first takes it.
  await e1.join(sb);
  expect(await e1.publish(['8096:80'])).toEqual([{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8096, containerPort: 80, standby: true }]);
  expect(await e2.publish([])).toEqual([]);
  expect((await e1.info()).ports).toEqual([{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8096, containerPort: 80 }]);
  expect(await target()).toEqual([a1]);
  expect(await fetch()).toBe(`from ${a1}`);
  expect(await problems(w.c, w.host.name!, 'hss')).toEqual([]);
  // The holder asking for the host port to another container port: the one standing by has the first claim; nothing changes.
  expect(await e2.publish(['8096:80'])).toEqual([{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8096, containerPort: 80, standby: true }]);
  const snap = await settled(w, 'hss');
  await expect(e1.publish(['8096:81'])).rejects.toMatchObject({ code: 'ERR_NSNET_IN_USE', message: expect.stringContaining(`stood by for by endpoint ${e2.name}`) });
  // Nor on one host address of those it stands by for.
  await expect(e1.publish(['127.0.0.1:8096:80'])).rejects.toMatchObject({ code: 'ERR_NSNET_IN_USE', message: expect.stringContaining(`stood by for by endpoint ${e2.name}`) });
  expect(await settled(w, 'hss')).toEqual(snap);
  // A reopen's reconcile finds store and kernel agreeing.
  expect((await (await w.reopen()).reconcile()).found).toEqual([]);

  // The holder gone without handing over (its leave failed before the hand-over, and the endpoint was dropped):
  // the endpoint standing by takes the port over, here at once, and a reconcile finds nothing more to do.
  const failing = await w.reopen({ faults: (step) => { if (step === 'teardown:leave') throw new Error('injected'); } });
  await expect((await (await failing.network(n1.name)).endpoint(e1.name)).delete()).rejects.toThrow(/injected/);
  expect((await (await (await failing.network(n2.name)).endpoint(e2.name)).info()).ports).toEqual([{ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8096, containerPort: 80 }]);
  expect(await target()).toEqual([a2]);
  expect(await fetch()).toBe(`from ${a2}`);
  // What the failed leave left (the first's interface) is a reconcile's to remove; the port stays.
  expect((await (await w.reopen({ reconcile: false })).reconcile()).found.filter((f) => f.includes('host port'))).toEqual([]);
  expect(await fetch()).toBe(`from ${a2}`);

  // A holder's mapping gone from the store with nothing handed over (as a crash between the two could leave it):
  // a reconcile gives the port to the endpoint standing by, and the kernel follows.
  const e3 = await (await w.c.network(n1.name)).createEndpoint(uniq('hse'));
  await e3.join(sb.name);
  expect((await e3.publish(['8096:80']))[0]!.standby).toBe(true);
  await w.c.store.update((t) => {
    const e = t.endpoint(e2.id)!;
    t.release('port/tcp/8096', '0.0.0.0');
    delete e.ports;
    t.putEndpoint(e);
  });
  const a3 = (await e3.info()).addresses[0]!.split('/')[0];
  expect((await w.c.reconcile()).found).toEqual([`endpoint ${e3.name}: took over host port 0.0.0.0:8096/tcp, which it stood by for and nobody held`]);
  expect(await target()).toEqual([a3]);
  expect(await fetch()).toBe(`from ${a3}`);
  expect(await problems(w.c, w.host.name!, 'hss')).toEqual([]);

  server.close();
  await (await w.c.sandbox(sb.name)).delete();
  await (await w.c.sandbox(sb2.name)).delete();
  expect(await dnat()).toEqual([]);
  for (const n of [n1, n2]) await (await w.c.network(n.name)).delete({ force: true });
});

test('Endpoint.publish of a port a host process listens on is refused, naming the process, and changes nothing; the same port on UDP is no clash', async () => {
  const x = await handedOff('10.157.0.0/24', join(runtimeDir, uniq('hrl')));
  const l = spawn('ip', ['netns', 'exec', w.host.name!, process.execPath, '-e', "require('net').createServer().listen(18470, '0.0.0.0', () => console.log('ready'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      l.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
      l.once('exit', (c) => reject(new Error(`listener exited with ${c}`)));
    });
    const before = await settled(w, 'hof-none');
    const err = await x.ep.publish(['18470:80']).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_NSNET_IN_USE' });
    expect(err.message).toContain('host port 0.0.0.0:18470/tcp is already allocated: node');
    expect(await settled(w, 'hof-none')).toEqual(before);
    expect((await x.ep.info()).ports).toEqual([]);
    expect(await dnat()).toEqual([]);
    await x.ep.publish(['18470:80/udp']);
    expect((await x.ep.info()).ports.map((p) => `${p.hostPort}/${p.protocol}`)).toEqual(['18470/udp']);
  } finally {
    l.kill('SIGKILL');
  }
  await x.sb.delete({ force: true });
  expect(await w.c.settled()).toEqual([]);
  await x.net.delete({ force: true });
});

test("Endpoint.publish answers before it clears its sandbox's busy mark: the mark goes on the loop's next turn, or when the controller closes first, even while another connection holds the store's lock; a reopen finds no op cut short", async () => {
  const x = await handedOff('10.158.0.0/24', join(runtimeDir, uniq('hrs')));
  const mark = async () => (await w.c.sandbox(x.sb.name)).record.busy;
  await x.ep.publish(['8085:80']);
  // Still this process's, as while the op ran: another process would find the sandbox busy.
  expect(await mark()).toMatchObject({ op: 'join', pid: process.pid, endpoint: x.ep.id });
  await new Promise(setImmediate);
  expect(await mark()).toBeUndefined();

  // Closed before the loop turns: the close clears it.
  await x.ep.publish(['8086:80']);
  const c = await w.reopen({ reconcile: false });
  expect((await c.sandbox(x.sb.name)).record.busy).toBeUndefined();
  expect((await (await (await c.network(x.net.name)).endpoint(x.ep.name)).info()).ports.map((p) => p.hostPort)).toEqual([8086]);
  expect((await dnat()).length).toBe(1);
  expect((await c.reconcile()).found).toEqual([]);

  // Closed while another connection holds the store's write lock: the close waits for the clearing, which waits for the lock.
  await (await (await c.network(x.net.name)).endpoint(x.ep.name)).publish(['8087:80']);
  // A connection of its own, as another process would hold one.
  const other = openEngine(join(w.stateDir, 'nsnet.db'));
  other.exec('BEGIN IMMEDIATE');
  other.exec("INSERT OR REPLACE INTO cursors (pool, address) VALUES ('hof-lock', '0.0.0.0')");
  setTimeout(() => {
    other.exec("DELETE FROM cursors WHERE pool = 'hof-lock'");
    other.exec('COMMIT');
    other.close();
  }, 100);
  const c2 = await w.reopen({ reconcile: false });
  expect((await c2.sandbox(x.sb.name)).record.busy).toBeUndefined();
  expect((await c2.reconcile()).found).toEqual([]);
  // Back to a controller as the other tests open it.
  const d = await w.reopen();
  await (await d.sandbox(x.sb.name)).delete({ force: true });
  expect(await d.settled()).toEqual([]);
  await (await d.network(x.net.name)).delete({ force: true });
});

test("two controllers on one store in one process share what is in flight: one's op ending leaves the mark of the other's op on the same sandbox, and neither's reconcile takes the other's op for one cut short", async () => {
  const x = await handedOff('10.159.0.0/24', join(runtimeDir, uniq('hrt')));
  const other = await Controller.open({ stateDir: w.stateDir, host: w.host });
  try {
    const claim = async (c: Controller) => {
      const busy = new Busy(c.ctx);
      await c.store.update((t) => void busy.claim(t, t.sandbox(x.sb.id)!, 'join', x.ep.id));
      return busy;
    };
    const mark = async () => (await w.c.sandbox(x.sb.name)).record.busy;
    const a = await claim(w.c);
    const b = await claim(other);
    await a.end();
    // b's op runs on: its mark stays, and a reconcile through either controller leaves the sandbox alone.
    expect(await mark()).toMatchObject({ op: 'join', pid: process.pid });
    expect((await w.c.reconcile()).found).toEqual([]);
    expect((await other.reconcile()).found).toEqual([]);
    expect(await mark()).toMatchObject({ op: 'join', pid: process.pid });
    await b.end();
    expect(await mark()).toBeUndefined();
  } finally {
    await other.close();
  }
  await x.sb.delete({ force: true });
  expect(await w.c.settled()).toEqual([]);
  await x.net.delete({ force: true });
});

test("networks on an ipam network's pool: a bridge network may take a pool's subnet (pools), only within it, and only one network may; a pool may go without IPv4 or a gateway; bad combinations are refused before anything changes", async () => {
  const pool4 = await w.c.createNetwork(uniq('hop'), { driver: 'ipam', subnets: [{ subnet: '10.155.0.0/24', gateway: null }] });
  const pool6 = await w.c.createNetwork(uniq('hop'), { driver: 'ipam', ipv6: true, ipv4: false });
  expect(pool4.record.subnets).toEqual([{ subnet: '10.155.0.0/24', gateway: null, ipRange: null, excluded: [] }]);
  expect(pool6.record.subnets.map((s) => s.subnet)).toEqual([expect.stringMatching(/^fd[0-9a-f:]+::\/64$/)]);
  // Without pools, the subnet clashes with the pool's.
  await expect(w.c.createNetwork(uniq('hon'), { subnets: ['10.155.0.0/24'] })).rejects.toMatchObject({ code: 'ERR_NSNET_OVERLAP' });
  const v6 = pool6.record.subnets[0]!.subnet;
  const taking: Network = await w.c.createNetwork(uniq('hon'), { subnets: ['10.155.0.0/24', v6], pools: [pool4.id, pool6.name] });
  expect((await taking.info()).subnets.map((s) => s.subnet)).toEqual(['10.155.0.0/24', v6]);
  // A second network may not take it too, nor may one reach out of the pool.
  await expect(w.c.createNetwork(uniq('hon'), { subnets: ['10.155.0.0/25'], pools: [pool4.id] })).rejects.toMatchObject({ code: 'ERR_NSNET_OVERLAP' });
  await expect(w.c.createNetwork(uniq('hon'), { subnets: ['10.155.0.0/23'], pools: [pool4.id] })).rejects.toMatchObject({ code: 'ERR_NSNET_INVALID' });
  const ep: Endpoint = await pool4.createEndpoint(uniq('hoa'));
  expect(ep.record.addresses).toEqual(['10.155.0.1/24']); // no gateway holds the first address
  const before = await settled(w, 'hof-none');
  for (const bad of [
    { subnets: ['10.156.0.0/24'], pools: [taking.id] }, // not an ipam network
    { subnets: ['10.156.0.0/24'], pools: ['nosuchnetwork'] },
    { driver: 'ipam', ipv4: false }, // nothing left
    { driver: 'ipam', ipv4: false, subnets: ['10.156.0.0/24'] },
    { ipv4: false, ipv6: true }, // a bridge network keeps IPv4
  ] as const) {
    await expect(w.c.createNetwork(uniq('hob'), bad as never)).rejects.toThrow();
  }
  expect(await settled(w, 'hof-none')).toEqual(before);
  await ep.delete();
  await taking.delete();
  await pool4.delete();
  await pool6.delete();
});

test('a routed or macvlan network cannot hand its interfaces to a runtime: a handoff sandbox on one is refused before the kernel or the store change', async () => {
  const parent = uniq('hop');
  await w.host.batch().addVeth({ name: parent, up: true, peer: { name: `${parent}b`, up: true } }).commit();
  const routed = await w.c.createNetwork(uniq('hor'), { driver: 'routed', subnets: ['10.155.0.0/24'] });
  const lan = await w.c.createNetwork(uniq('hom'), { driver: 'macvlan', subnets: [{ subnet: '10.156.0.0/24', gateway: '10.156.0.1' }], options: { parent } });
  try {
    for (const net of [routed, lan]) {
      const ep = await net.createEndpoint(uniq('hoe'));
      const before = { links: await hostLinks(), routes: await ipj<any[]>(w.host.name!, 'route', 'show', 'table', 'all'), sandboxes: (await w.c.sandboxes()).length };
      const err = await w.c.createSandbox(uniq('hos'), { netnsPath: join(runtimeDir, uniq('hrx')), handoff: true, join: [ep] }).catch((e) => e);
      expect(err).toMatchObject({ name: 'ValidationError', field: 'handoff' });
      expect(err.message).toContain(`a ${net.record.driver} network cannot hand its interfaces`);
      expect({ links: await hostLinks(), routes: await ipj<any[]>(w.host.name!, 'route', 'show', 'table', 'all'), sandboxes: (await w.c.sandboxes()).length }).toEqual(before);
      expect((await ep.info()).sandboxId).toBeNull();
      await ep.delete();
    }
  } finally {
    await routed.delete();
    await lan.delete();
    await w.host.links.delete(parent);
  }
});
