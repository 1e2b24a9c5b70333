// The firewall through the controller, with real traffic: a namespace plays
// the host, another plays the LAN/internet on the host's uplink, and nsnet's
// networks and sandboxes are made as a runtime makes them. nft -j is the
// oracle for what the ruleset holds.
import type { AddressInfo, Server } from 'node:net';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createSandbox, Netns, NsnetError, type Sandbox } from '../src/index.js';
import { settled, snapshot, world, type World } from './cnm-helpers.js';
import { attempt, fetchTcp, ip, ndReady, neighboursOnFailure, serve, udpRoundTrip, uniq } from './helpers.js';
import { nft, nftj, ofKind } from './nft-helpers.js';

let w: World;
let outside: Netns;
const UP = '198.51.100.1'; // the host's uplink address
const OUT = '198.51.100.2'; // the outside machine

const ipOf = async (sb: Sandbox, family: 4 | 6 = 4) =>
  (await sb.info()).endpoints[0]!.addresses.find((a) => a.includes(':') === (family === 6))!.split('/')[0]!;

beforeAll(async () => {
  w = await world('fw');
  outside = await Netns.create(uniq('fwo'));
  await w.host.batch().addVeth({ name: 'up0', up: true, peer: { name: 'eth0', netns: outside } }).addAddress('up0', `${UP}/24`).commit();
  await outside.batch().setUp('eth0').addAddress('eth0', `${OUT}/24`).commit();
});

afterAll(async () => {
  await outside?.delete();
  await w?.cleanup();
});

describe('outbound', () => {
  test('a sandbox reaches a TCP server outside, which sees the host address; with masquerade off it sees the sandbox address', async () => {
    const ext = await serve(outside, 0, OUT, 'outside');
    const port = (ext.server.address() as AddressInfo).port;
    const masq = await w.c.createNetwork(uniq('fm'), { subnets: ['10.141.0.0/24'] });
    const plain = await w.c.createNetwork(uniq('fp'), { subnets: ['10.142.0.0/24'], options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false' } });
    // Without masquerade the outside needs a route back to the sandbox's subnet.
    await outside.routes.add({ dst: '10.142.0.0/24', gateway: UP });
    try {
      const a = await createSandbox(w.c, { name: uniq('fa'), mode: { network: masq.name } });
      expect(await fetchTcp(await a.netns(), port, OUT)).toBe('outside');
      expect(ext.seen.at(-1)).toBe(UP);
      const b = await createSandbox(w.c, { name: uniq('fb'), mode: { network: plain.name } });
      expect(await fetchTcp(await b.netns(), port, OUT)).toBe('outside');
      expect(ext.seen.at(-1)).toBe(await ipOf(b));
      await a.delete();
      await b.delete();
    } finally {
      ext.server.close();
      await masq.delete({ force: true });
      await plain.delete({ force: true });
    }
  });
});

describe('published ports', () => {
  let net: string;
  let sb: Sandbox;
  let ns: Netns;
  const servers: Server[] = [];
  let seen: string[];
  let emptyNet: any[];

  beforeAll(async () => {
    net = (await w.c.createNetwork(uniq('fq'), { subnets: ['10.143.0.0/24', 'fd43::/64'] })).name;
    emptyNet = await nftj(w.host.name!);
    sb = await createSandbox(w.c, { name: uniq('fs'), mode: { network: net }, ports: ['8080:80', '8081:81/udp', '9000-9001:90-91', '[::]:8086:86'] });
    ns = await sb.netns();
    const web = await serve(ns, 80, '0.0.0.0', 'web');
    seen = web.seen;
    servers.push(web.server, (await serve(ns, 90, '0.0.0.0', 'ninety')).server, (await serve(ns, 91, '0.0.0.0', 'ninety-one')).server);
    servers.push((await serve(ns, 86, '::', 'six')).server);
    const udp = await ns.bindUdp(81, '0.0.0.0', 4);
    udp.on('message', (m, r) => udp.send(`echo ${m}`, r.port, r.address));
    servers.push({ close: () => udp.close() } as unknown as Server);
    // The IPv6 test's addresses, made here so that a retry of it finds them.
    await w.host.addresses.add('up0', '2001:db8:51::1/64', { nodad: true });
    await outside.addresses.add('eth0', '2001:db8:51::2/64', { nodad: true });
  });

  afterAll(async () => {
    for (const s of servers) s.close();
    await (await w.c.network(net)).delete({ force: true });
  });

  test('the endpoint records its ports (IPv4 and IPv6 for "every address"), each one a map element', async () => {
    const ports = (await sb.info()).endpoints[0]!.ports.map((m) => `${m.hostIp}:${m.hostPort}->${m.containerPort}/${m.protocol}`);
    expect(ports).toEqual([
      '0.0.0.0:8080->80/tcp', ':::8080->80/tcp', '0.0.0.0:8081->81/udp', ':::8081->81/udp',
      '0.0.0.0:9000->90/tcp', ':::9000->90/tcp', '0.0.0.0:9001->91/tcp', ':::9001->91/tcp', ':::8086->86/tcp',
    ]);
    const maps = Object.fromEntries(ofKind(await nftj(w.host.name!), 'map').map((m) => [m.name, m.elem ?? []]));
    expect(maps.dnat4_any).toHaveLength(4);
    expect(maps.dnat6_any).toHaveLength(5);
  });

  test('from outside, host:8080 reaches the sandbox on :80 keeping the client address, over TCP and UDP, and a range maps port by port', async () => {
    expect(await fetchTcp(outside, 8080, UP)).toBe('web');
    expect(seen.at(-1)).toBe(OUT);
    expect(await udpRoundTrip(outside, 8081, UP)).toBe('echo ping');
    expect(await fetchTcp(outside, 9000, UP)).toBe('ninety');
    expect(await fetchTcp(outside, 9001, UP)).toBe('ninety-one');
    expect(await attempt(outside, 9002, UP)).toBe('refused'); // not published: the host itself answers
  });

  test('IPv6: outside to [host]:8086 reaches the sandbox, and so does the sandbox itself (hairpin)', async () => {
    await ndReady(w.host.name!, 'up0', '2001:db8:51::1');
    await ndReady(outside.name!, 'eth0', '2001:db8:51::2');
    const tables = { host: w.host.name!, outside: outside.name!, sandbox: ns.path ?? ns.name! };
    expect(await neighboursOnFailure(fetchTcp(outside, 8086, '2001:db8:51::1'), tables)).toBe('six');
    // And hairpin over IPv6: the sandbox through the host's IPv6 address.
    expect(await neighboursOnFailure(fetchTcp(ns, 8086, '2001:db8:51::1'), tables)).toBe('six');
  });

  test('from the host: 127.0.0.1:8080 and the host address reach it', async () => {
    expect(await fetchTcp(w.host, 8080, '127.0.0.1')).toBe('web');
    expect(await fetchTcp(w.host, 8080, UP)).toBe('web');
  });

  test('a port published on 127.0.0.1 (and one on every address, via 127.0.0.1) stays local: a neighbour that sends to 127.0.0.1 with the host\'s MAC cannot connect, the host can', async () => {
    const local = await createSandbox(w.c, { name: uniq('fl'), mode: { network: net }, ports: ['127.0.0.1:8090:80'] });
    const lns = await local.netns();
    const s = await serve(lns, 80, '0.0.0.0', 'local');
    // The neighbour plays an attacker on another link of the host: it lets
    // itself route 127/8 out of its interface, to the host's MAC.
    const nb = await Netns.create(uniq('fnb'));
    try {
      await w.host.batch().addVeth({ name: 'up1', up: true, peer: { name: 'eth0', netns: nb } }).addAddress('up1', '198.51.101.1/24').commit();
      await nb.batch().setUp('eth0').addAddress('eth0', '198.51.101.2/24').commit();
      const hostMac = (await w.host.links.get('up1')).mac!;
      await nb.setSysctl('net.ipv4.conf.eth0.route_localnet', 1);
      await ip(nb.name, 'addr', 'del', '127.0.0.1/8', 'dev', 'lo');
      await ip(nb.name, 'route', 'add', '127.0.0.0/8', 'dev', 'eth0', 'src', '198.51.101.2');
      await ip(nb.name, 'neigh', 'replace', '127.0.0.1', 'lladdr', hostMac, 'dev', 'eth0', 'nud', 'permanent');
      // The way there works: the host itself answers on port 9 (refused) over that link.
      expect(await attempt(nb, 9, '198.51.101.1')).toBe('refused');
      expect(await attempt(nb, 8090, '127.0.0.1')).toBe('timeout');
      expect(await attempt(nb, 8080, '127.0.0.1')).toBe('timeout');
      expect(await fetchTcp(w.host, 8090, '127.0.0.1')).toBe('local');
      expect(await fetchTcp(outside, 8080, UP)).toBe('web');
    } finally {
      s.server.close();
      await nb.delete();
      await w.host.links.delete('up1').catch(() => {});
      await local.delete();
    }
  });

  test('hairpin: the sandbox reaches its own published port through the host address', async () => {
    expect(await fetchTcp(ns, 8080, UP)).toBe('web');
  });

  test('deleting the sandbox removes exactly its elements: nft -j is what it was before it existed', async () => {
    await sb.delete();
    expect(await nftj(w.host.name!)).toEqual(emptyNet);
  });
});

describe('isolation', () => {
  test('two networks cannot reach each other; with ICC off two sandboxes on one network cannot; an internal network sends nothing out', async () => {
    const n1 = await w.c.createNetwork(uniq('fi'), { subnets: ['10.144.0.0/24'] });
    const n2 = await w.c.createNetwork(uniq('fi'), { subnets: ['10.145.0.0/24'] });
    const closed = await w.c.createNetwork(uniq('fc'), { subnets: ['10.146.0.0/24'], options: { 'com.docker.network.bridge.enable_icc': 'false' } });
    const internal = await w.c.createNetwork(uniq('fn'), { subnets: ['10.147.0.0/24'], internal: true });
    const ext = await serve(outside, 0, OUT, 'outside');
    const extPort = (ext.server.address() as AddressInfo).port;
    const servers: Server[] = [ext.server];
    try {
      const mk = async (n: string) => {
        const sb = await createSandbox(w.c, { name: uniq('fx'), mode: { network: n } });
        const s = await serve(await sb.netns(), 7000, '0.0.0.0', sb.name);
        servers.push(s.server);
        return { sb, ns: await sb.netns(), ip: await ipOf(sb) };
      };
      const a = await mk(n1.name);
      const a2 = await mk(n1.name);
      const b = await mk(n2.name);
      const c1 = await mk(closed.name);
      const c2 = await mk(closed.name);
      const i1 = await mk(internal.name);
      const i2 = await mk(internal.name);
      // Controls: what is allowed works.
      expect(await attempt(a.ns, 7000, a2.ip)).toBe('connected');
      expect(await attempt(i1.ns, 7000, i2.ip)).toBe('connected');
      expect(await attempt(c1.ns, extPort, OUT)).toBe('connected');
      // And what is not does not.
      expect(await attempt(a.ns, 7000, b.ip)).toBe('timeout');
      expect(await attempt(b.ns, 7000, a.ip)).toBe('timeout');
      expect(await attempt(c1.ns, 7000, c2.ip)).toBe('timeout');
      const before = ext.seen.length;
      // The internal sandbox has no default route; give it one, as a container that tries would.
      await i1.ns.routes.add({ dst: 'default', gateway: '10.147.0.1' });
      expect(await attempt(i1.ns, extPort, OUT)).toBe('timeout');
      expect(ext.seen.length).toBe(before);
    } finally {
      for (const s of servers) s.close();
      for (const n of [n1, n2, closed, internal]) await n.delete({ force: true });
    }
  });
});

describe('lifecycle of the table', () => {
  test('the first network makes the table, the last one removes it: nft -j is as before', async () => {
    // (No network of this world is left by the tests above.)
    const empty = await nftj(w.host.name!);
    expect(ofKind(empty, 'table').map((t) => t.name)).not.toContain('nsnet');
    const n = await w.c.createNetwork(uniq('fl'), { subnets: ['10.148.0.0/24'] });
    expect(ofKind(await nftj(w.host.name!), 'table').map((t) => `${t.family} ${t.name}`)).toContain('inet nsnet');
    const sb = await createSandbox(w.c, { name: uniq('fl'), mode: { network: n.name }, ports: ['8090:80'] });
    // Its namespace goes behind nsnet's back: deleting it still removes exactly its elements.
    const netOnly = async () => ofKind(await nftj(w.host.name!), 'map').map((m) => [m.name, m.elem ?? []]);
    await Netns.delete(sb.name, { runDir: w.c.runDir });
    await sb.delete();
    expect((await netOnly()).filter(([, e]) => (e as unknown[]).length)).toEqual([]);
    await n.delete();
    expect(await nftj(w.host.name!)).toEqual(empty);
  });

  test("reconcile on open: a flushed table is rebuilt with every element, elements of gone endpoints are removed; another store's element is left, nobody's left until gc asks for orphans, this store's leftover goes", async () => {
    const n = await w.c.createNetwork(uniq('fr'), { subnets: ['10.149.0.0/24'] });
    try {
      const keep = await createSandbox(w.c, { name: uniq('fk'), mode: { network: n.name }, ports: ['8100:80'] });
      const gone = await createSandbox(w.c, { name: uniq('fg'), mode: { network: n.name }, ports: ['8101:80'] });
      const whole = await nftj(w.host.name!);
      // Someone flushes nsnet's table (rules and elements) behind its back.
      await nft(w.host.name!, 'flush', 'table', 'inet', 'nsnet');
      await w.reopen(); // reconciles
      // Rebuilt on open, so a second look finds nothing to do.
      expect((await w.c.reconcile()).firewall).toEqual({ rebuilt: false, dropped: false, elementsRemoved: 0, elementsAdded: 0, foreignElements: 0, orphanElements: 0, orphansRemoved: 0, forwardDrops: [] });
      const rules = (x: any[]) => ofKind(x, 'rule').map((r) => r.comment);
      expect(rules(await nftj(w.host.name!))).toEqual(rules(whole));
      const elems = (x: any[]) => ofKind(x, 'map').map((m) => [m.name, m.elem ?? []]);
      expect(elems(await nftj(w.host.name!))).toEqual(elems(whole));
      // One sandbox's namespace disappears while nobody watches: on open it
      // is removed, and with it its published port's element.
      await Netns.delete(gone.name, { runDir: w.c.runDir });
      await w.reopen();
      const maps = Object.fromEntries(ofKind(await nftj(w.host.name!), 'map').map((m) => [m.name, m.elem ?? []]));
      expect(JSON.stringify(maps.dnat4_any)).toContain('8100');
      expect(JSON.stringify(maps.dnat4_any)).not.toContain('8101');
      // The table is shared: an element another store tagged is reported
      // and left; one nobody tagged too, until a gc asks for orphans; one
      // this store tagged but does not want (a crash, say) goes.
      const me = w.c.store.id;
      await nft(w.host.name!, 'add', 'element', 'inet', 'nsnet', 'dnat4_any', '{ tcp . 8102 comment "nsnet 00000000000000aa" : 10.149.0.99 . 80 }');
      await nft(w.host.name!, 'add', 'element', 'inet', 'nsnet', 'dnat4_any', '{ tcp . 8103 : 10.149.0.98 . 80 }');
      await nft(w.host.name!, 'add', 'element', 'inet', 'nsnet', 'dnat4_any', `{ tcp . 8104 comment "nsnet ${me}" : 10.149.0.97 . 80 }`);
      const r = await w.c.reconcile();
      expect(r.firewall).toEqual({ rebuilt: false, dropped: false, elementsRemoved: 1, elementsAdded: 0, foreignElements: 1, orphanElements: 1, orphansRemoved: 0, forwardDrops: [] });
      const mapText = async () => JSON.stringify(ofKind(await nftj(w.host.name!), 'map'));
      expect(await mapText()).toContain('8102');
      expect(await mapText()).toContain('8103');
      expect(await mapText()).not.toContain('8104');
      expect((await w.c.gc({ orphans: true })).firewall).toMatchObject({ orphansRemoved: 1, foreignElements: 1 });
      expect(await mapText()).not.toContain('8103');
      expect(await mapText()).toContain('8102');
      await nft(w.host.name!, 'delete', 'element', 'inet', 'nsnet', 'dnat4_any', '{ tcp . 8102 }');
      // The port of the gone sandbox is free again.
      const again = await createSandbox(w.c, { name: uniq('fh'), mode: { network: n.name }, ports: ['8101:80'] });
      await again.delete();
      await (await w.c.sandbox(keep.name)).delete();
    } finally {
      await (await w.c.network(n.name)).delete({ force: true });
    }
  });
});

describe('the table removed while nsnet runs', () => {
  test('the next sandbox with a port (its elements ride in its own kernel trip) rebuilds the table from the store, and both sandboxes are reachable', async () => {
    const n = await w.c.createNetwork(uniq('fl'), { subnets: ['10.152.0.0/24'] });
    try {
      const first = await createSandbox(w.c, { name: uniq('fa'), mode: { network: n.name }, ports: ['8110:80'] });
      const a = await serve(await first.netns(), 80, '0.0.0.0', 'first');
      // Someone deletes nsnet's table while the controller believes it is there.
      await nft(w.host.name!, 'delete', 'table', 'inet', 'nsnet');
      const second = await createSandbox(w.c, { name: uniq('fb'), mode: { network: n.name }, ports: ['8111:80'] });
      const b = await serve(await second.netns(), 80, '0.0.0.0', 'second');
      try {
        const maps = Object.fromEntries(ofKind(await nftj(w.host.name!), 'map').map((m) => [m.name, JSON.stringify(m.elem ?? [])]));
        expect(maps.dnat4_any).toContain('8110');
        expect(maps.dnat4_any).toContain('8111');
        expect(await fetchTcp(outside, 8110, UP)).toBe('first');
        expect(await fetchTcp(outside, 8111, UP)).toBe('second');
        // Nothing left to fix: the rebuilt table is what the store says.
        expect((await w.c.reconcile()).firewall).toMatchObject({ rebuilt: false, elementsRemoved: 0, elementsAdded: 0 });
      } finally {
        a.server.close();
        b.server.close();
      }
      await first.delete();
      await second.delete();
    } finally {
      await (await w.c.network(n.name)).delete({ force: true });
    }
  });
});

describe('coexistence', () => {
  test("another table's forward drop still drops nsnet's traffic (nf_tables semantics); nsnet leaves that table alone and reconcile names it", async () => {
    const n = await w.c.createNetwork(uniq('fd'), { subnets: ['10.151.0.0/24'] });
    const ext = await serve(outside, 0, OUT, 'outside');
    const port = (ext.server.address() as AddressInfo).port;
    try {
      const sb = await createSandbox(w.c, { name: uniq('fd'), mode: { network: n.name } });
      const ns = await sb.netns();
      expect(await attempt(ns, port, OUT)).toBe('connected');
      // What Docker (iptables-nft) or an admin leaves: FORWARD with policy drop.
      await nft(w.host.name!, 'add', 'table', 'ip', 'filter');
      await nft(w.host.name!, 'add', 'chain', 'ip', 'filter', 'FORWARD', '{ type filter hook forward priority 0; policy drop; }');
      const theirs = ofKind(await nftj(w.host.name!), 'table').filter((t) => t.name === 'filter');
      expect(await attempt(ns, port, OUT)).toBe('timeout');
      expect((await w.c.reconcile()).firewall!.forwardDrops).toEqual(['ip filter FORWARD']);
      // Untouched by nsnet, through a sandbox's life and the reconcile.
      expect(ofKind(await nftj(w.host.name!), 'table').filter((t) => t.name === 'filter')).toEqual(theirs);
      expect(ofKind(await nftj(w.host.name!), 'chain').filter((c) => c.table === 'filter').map((c) => `${c.name} ${c.policy}`)).toEqual(['FORWARD drop']);
      await sb.delete();
    } finally {
      await nft(w.host.name!, 'delete', 'table', 'ip', 'filter').catch(() => {});
      ext.server.close();
      await n.delete({ force: true });
    }
  });
});

describe('bad input: a clear error and nothing changed', () => {
  test('port 0 or 65536, a host port already published (naming its owner), an unknown protocol, a host IP not the host\'s', async () => {
    const n = await w.c.createNetwork(uniq('fb'), { subnets: ['10.150.0.0/24'] });
    const owner = await createSandbox(w.c, { name: uniq('fo'), mode: { network: n.name }, ports: ['127.0.0.1:8200:80', '8201:80/udp'] });
    const prefix = 'fbx';
    const before = { ...(await settled(w, prefix)), nft: await nftj(w.host.name!) };
    const cases: [string, string[], string, RegExp][] = [
      ['port 0', ['0:80'], 'ERR_NSNET_INVALID', /port 0 is out of range/],
      ['port 65536', ['65536:80'], 'ERR_NSNET_INVALID', /port 65536 is out of range/],
      ['container port 0', ['8300:0'], 'ERR_NSNET_INVALID', /port 0 is out of range/],
      ['taken on that address', ['127.0.0.1:8200:80'], 'ERR_NSNET_IN_USE', new RegExp(`127.0.0.1:8200/tcp is already published by sandbox ${owner.name}`)],
      ['taken by every-address', ['8200:80'], 'ERR_NSNET_IN_USE', new RegExp(`already published by sandbox ${owner.name}`)],
      ['taken, udp', ['8201:80/udp'], 'ERR_NSNET_IN_USE', /0.0.0.0:8201\/udp is already published/],
      ['unknown protocol', ['8300:80/icmp'], 'ERR_NSNET_INVALID', /unknown protocol 'icmp'/],
      ['host IP not the host\'s', ['203.0.113.9:8300:80'], 'ERR_NSNET_INVALID', /not an address of the host/],
      ['ranges of different length', ['8300-8302:80-81'], 'ERR_NSNET_INVALID', /differ in length/],
      ['the same port twice', ['8300:80', '8300:81'], 'ERR_NSNET_INVALID', /published twice/],
    ];
    for (const [what, ports, code, msg] of cases) {
      const err = await createSandbox(w.c, { name: `${prefix}1`, mode: { network: n.name }, ports }).then(() => null, (e: unknown) => e as NsnetError);
      expect(err, what).toBeInstanceOf(NsnetError);
      expect(err!.code, what).toBe(code);
      expect(err!.message, what).toMatch(msg);
      expect({ ...(await snapshot(w, prefix)), nft: await nftj(w.host.name!) }, what).toEqual(before);
    }
    // The same port on another address is no clash.
    const other = await createSandbox(w.c, { name: `${prefix}2`, mode: { network: n.name }, ports: [`${UP}:8200:80`] });
    await other.delete();
    await owner.delete();
    await n.delete();
  });
});
