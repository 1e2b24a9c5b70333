// The ruleset (src/firewall/ruleset.ts) on the real kernel: it loads
// in one transaction into a namespace playing "the host", nft lists what it
// describes, networks and published ports are set elements only, and real
// TCP goes through it: from an outside namespace through a published port
// (a DNAT map element, IPv4 and IPv6) to a container, from the host via 127.0.0.1, back to
// itself (hairpin) unless ICC is off, out masqueraded unless the network is
// internal, and not between two isolated networks.
import type { AddressInfo, Server } from 'node:net';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import * as ruleset from '../src/firewall/ruleset.js';
import { Netns, Nftables } from '../src/index.js';
import { attempt, ip, uniq } from './helpers.js';
import { chainText, nftj, ofKind } from './nft-helpers.js';

let host: Netns; // "the host": bridges, the ruleset, the uplink
let c1: Netns; // a container on network 1 (nb1, 10.71.0.0/24)
let c2: Netns; // a container on network 2 (nb2, 10.72.0.0/24)
let c3: Netns; // another container on network 2
let outside: Netns; // a machine on the host's uplink (192.0.2.0/24)
let nft: Nftables;
let server: Server;
const seen: string[] = []; // remote addresses the container's server saw

const net1 = { iface: 'nb1', subnets: ['10.71.0.0/24', 'fd71::/64'] };
const net2 = { iface: 'nb2', subnets: ['10.72.0.0/24'] };
const port = { protocol: 'tcp', hostPort: 8080, containerIp: '10.71.0.2', containerPort: 80 } as const;

async function container(ns: Netns, bridge: string, veth: string, addr: string, gw: string, newBridge = true): Promise<void> {
  if (newBridge) {
    await host.links.addBridge({ name: bridge, up: true });
    await host.addresses.add(bridge, `${gw}/24`);
  }
  await host.batch().addVeth({ name: veth, master: bridge, up: true, peer: { name: 'eth0', netns: ns } }).commit();
  await ns.batch().setUp('eth0').addAddress('eth0', addr).addRoute({ dst: 'default', gateway: gw }).commit();
}

beforeAll(async () => {
  host = await Netns.create(uniq('rh'));
  c1 = await Netns.create(uniq('rc'));
  c2 = await Netns.create(uniq('rc'));
  c3 = await Netns.create(uniq('rc'));
  outside = await Netns.create(uniq('ro'));
  await host.setSysctl('net.ipv4.ip_forward', 1);
  await host.setSysctl('net.ipv6.conf.all.forwarding', 1);
  await container(c1, 'nb1', 'v1', '10.71.0.2/24', '10.71.0.1');
  await container(c2, 'nb2', 'v2', '10.72.0.2/24', '10.72.0.1');
  await container(c3, 'nb2', 'v3', '10.72.0.3/24', '10.72.0.1', false);
  await host.batch().addVeth({ name: 'up0', up: true, peer: { name: 'eth0', netns: outside } }).addAddress('up0', '192.0.2.1/24').commit();
  await outside.batch().setUp('eth0').addAddress('eth0', '192.0.2.2/24').addRoute({ dst: 'default', gateway: '192.0.2.1' }).commit();
  await host.batch().addAddress('nb1', 'fd71::1/64', { nodad: true }).addAddress('up0', '2001:db8::1/64', { nodad: true }).commit();
  await c1.batch().addAddress('eth0', 'fd71::2/64', { nodad: true }).addRoute({ dst: 'default', gateway: 'fd71::1', dev: 'eth0' }).commit();
  await outside.batch().addAddress('eth0', '2001:db8::2/64', { nodad: true }).commit();
  server = await c1.listenTcp(80, '10.71.0.2');
  server.on('connection', (s) => {
    seen.push(s.remoteAddress!);
    s.end('hello from c1');
  });
  nft = new Nftables(host);
  await nft.commit(ruleset.rulesetOps());
});

afterAll(async () => {
  server?.close();
  for (const ns of [outside, c3, c2, c1, host]) await ns?.delete();
});

describe('the nsnet ruleset', () => {
  test('loads in one transaction, and nft lists the chains and rules it describes, rule by rule', async () => {
    expect(await chainText(host.name!, 'inet', 'nsnet', 'forward')).toEqual([
      'ct state established,related accept comment "nsnet: established"',
      'iifname . iifname @self oifname . oifname @self iifname . oifname != @self drop comment "nsnet: isolate networks"',
      'iifname . iifname @icc_off oifname . oifname @self drop comment "nsnet: icc off"',
      'iifname . iifname @internal iifname . oifname != @self drop comment "nsnet: internal in"',
      'oifname . oifname @internal iifname . oifname != @self drop comment "nsnet: internal out"',
      'oifname . oifname @self ct status dnat accept comment "nsnet: published"',
      'iifname . iifname @self accept comment "nsnet: from containers"',
      'oifname . oifname @self drop comment "nsnet: unpublished"',
    ]);
    expect(await chainText(host.name!, 'inet', 'nsnet', 'prerouting')).toEqual([
      'fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @dnat4 comment "nsnet: publish v4"',
      'meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @dnat4_any comment "nsnet: publish v4 any"',
      'fib daddr type local dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6 comment "nsnet: publish v6"',
      'meta nfproto ipv6 fib daddr type local dnat ip6 to meta l4proto . th dport map @dnat6_any comment "nsnet: publish v6 any"',
    ]);
    // From the host, [::1] is left alone (NAT cannot carry it back: README, Firewall).
    expect(await chainText(host.name!, 'inet', 'nsnet', 'output')).toEqual([
      'fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @dnat4 comment "nsnet: publish v4 from host"',
      'meta nfproto ipv4 fib daddr type local dnat ip to meta l4proto . th dport map @dnat4_any comment "nsnet: publish v4 any from host"',
      'ip6 daddr != ::1 fib daddr type local dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6 comment "nsnet: publish v6 from host"',
      'ip6 daddr != ::1 fib daddr type local dnat ip6 to meta l4proto . th dport map @dnat6_any comment "nsnet: publish v6 any from host"',
    ]);
    expect(await chainText(host.name!, 'inet', 'nsnet', 'guard')).toEqual([
      'iifname != "lo" ip daddr 127.0.0.0/8 drop comment "nsnet: loopback only from lo"',
      'iifname != "lo" ip6 daddr ::1 drop comment "nsnet: loopback6 only from lo"',
    ]);
    expect(await chainText(host.name!, 'inet', 'nsnet', 'postrouting')).toEqual([
      'ct status dnat ip saddr . oifname @nets4 masquerade comment "nsnet: hairpin v4"',
      'ct status dnat ip6 saddr . oifname @nets6 masquerade comment "nsnet: hairpin v6"',
      'ip saddr 127.0.0.0/8 oifname . oifname @self masquerade comment "nsnet: from host loopback"',
      'ip saddr @masq4 oifname . oifname != @self masquerade comment "nsnet: masquerade v4"',
      'ip6 saddr @masq6 oifname . oifname != @self masquerade comment "nsnet: masquerade v6"',
    ]);
    const objs = await nftj(host.name!);
    expect(ofKind(objs, 'chain').map((c) => `${c.name} ${c.type} ${c.hook} ${c.prio}`).sort()).toEqual([
      'forward filter forward 0',
      'guard filter prerouting -300',
      'output nat output -100',
      'postrouting nat postrouting 100',
      'prerouting nat prerouting -100',
    ]);
    expect([...ofKind(objs, 'set'), ...ofKind(objs, 'map')].map((s) => s.name).sort()).toEqual(
      ['dnat4', 'dnat4_any', 'dnat6', 'dnat6_any', 'icc_off', 'internal', 'masq4', 'masq6', 'nets4', 'nets6', 'self'],
    );
  });

  test('a network and a published port are set and map elements only: every rule keeps its handle, and removing them restores the sets', async () => {
    const before = await nftj(host.name!);
    await nft.commit([...ruleset.addNetworkOps(net1), ...ruleset.addNetworkOps({ ...net2, icc: false }), ...ruleset.addPortOps(port)]);
    const mid = await nftj(host.name!);
    expect(ofKind(mid, 'rule')).toEqual(ofKind(before, 'rule'));
    const sets = Object.fromEntries([...ofKind(mid, 'set'), ...ofKind(mid, 'map')].map((s) => [s.name, s.elem]));
    expect(sets.self).toEqual([{ concat: ['nb1', 'nb1'] }, { concat: ['nb2', 'nb2'] }]);
    expect(sets.icc_off).toEqual([{ concat: ['nb2', 'nb2'] }]);
    expect(sets.masq4).toEqual([{ prefix: { addr: '10.71.0.0', len: 24 } }, { prefix: { addr: '10.72.0.0', len: 24 } }]);
    expect(sets.masq6).toEqual([{ prefix: { addr: 'fd71::', len: 64 } }]);
    expect(sets.nets4).toEqual([{ concat: [{ prefix: { addr: '10.71.0.0', len: 24 } }, 'nb1'] }, { concat: [{ prefix: { addr: '10.72.0.0', len: 24 } }, 'nb2'] }]);
    expect(sets.dnat4_any).toHaveLength(1);
    await nft.commit([...ruleset.removeNetworkOps({ ...net2, icc: false }), ...ruleset.removePortOps(port), ...ruleset.removeNetworkOps(net1)]);
    expect(await nftj(host.name!)).toEqual(before);
  });

  test('TCP from an outside machine reaches the container through the published port, keeping its source address; without the element it is refused', async () => {
    await nft.commit([...ruleset.addNetworkOps(net1), ...ruleset.addPortOps(port)]);
    const s = await outside.connectTcp(8080, '192.0.2.1');
    const chunks: Buffer[] = [];
    for await (const d of s) chunks.push(d as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('hello from c1');
    expect(seen.at(-1)).toBe('192.0.2.2'); // DNAT, not a proxy: the container sees the real client
    await nft.commit(ruleset.removePortOps(port));
    expect(await attempt(outside, 8080, '192.0.2.1')).toBe('refused'); // the host itself has nothing on 8080
    await nft.commit(ruleset.removeNetworkOps(net1));
  });

  test('IPv6: a published port maps [host]:8080 to [container]:80 through dnat6, keeping the client address', async () => {
    const port6 = { protocol: 'tcp', hostPort: 8080, containerIp: 'fd71::2', containerPort: 80 } as const;
    const server6 = await c1.listenTcp(80, 'fd71::2');
    server6.on('connection', (s) => {
      seen.push(s.remoteAddress!);
      s.end('hello6');
    });
    try {
      await nft.commit([...ruleset.addNetworkOps(net1), ...ruleset.addPortOps(port6)]);
      const s = await outside.connectTcp(8080, '2001:db8::1');
      const chunks: Buffer[] = [];
      for await (const d of s) chunks.push(d as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('hello6');
      expect(seen.at(-1)).toBe('2001:db8::2');
      await nft.commit([...ruleset.removePortOps(port6), ...ruleset.removeNetworkOps(net1)]);
    } finally {
      server6.close();
    }
  });

  test('the host reaches the published port on 127.0.0.1 (DNAT in output, masqueraded onto the bridge)', async () => {
    await host.setSysctl('net.ipv4.conf.nb1.route_localnet', 1);
    await nft.commit([...ruleset.addNetworkOps(net1), ...ruleset.addPortOps(port)]);
    const s = await host.connectTcp(8080, '127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const d of s) chunks.push(d as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('hello from c1');
    expect(seen.at(-1)).toBe('10.71.0.1');
    await nft.commit([...ruleset.removePortOps(port), ...ruleset.removeNetworkOps(net1)]);
  });

  test('hairpin: a container reaches its own published port through the host address (masqueraded); with ICC off it cannot', async () => {
    // Where br_netfilter is loaded (here it is), the DNAT happens while the
    // frame is being bridged and the bridge must send it back out the port
    // it came in on: the bridge driver will set hairpin mode, as Docker does.
    await ip(host.name!, 'link', 'set', 'v1', 'type', 'bridge_slave', 'hairpin', 'on');
    await nft.commit([...ruleset.addNetworkOps(net1), ...ruleset.addPortOps(port)]);
    const s = await c1.connectTcp(8080, '192.0.2.1');
    const chunks: Buffer[] = [];
    for await (const d of s) chunks.push(d as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('hello from c1');
    expect(seen.at(-1)).toBe('10.71.0.1'); // masqueraded, so the reply goes back through the host's NAT
    await nft.commit([...ruleset.removeNetworkOps(net1), ...ruleset.addNetworkOps({ ...net1, icc: false })]);
    expect(await attempt(c1, 8080, '192.0.2.1')).toBe('timeout');
    await nft.commit([...ruleset.removePortOps(port), ...ruleset.removeNetworkOps({ ...net1, icc: false })]);
  });

  test("a network's traffic leaves masqueraded as the host; an internal network's does not leave, yet its containers still talk", async () => {
    const peer = await c3.listenTcp(0, '10.72.0.3');
    const peerPort = (peer.address() as AddressInfo).port;
    peer.on('connection', (s) => s.end());
    const ext = await outside.listenTcp(0, '192.0.2.2');
    const extPort = (ext.address() as AddressInfo).port;
    const from: string[] = [];
    ext.on('connection', (s) => {
      from.push(s.remoteAddress!);
      s.end();
    });
    try {
      await nft.commit(ruleset.addNetworkOps(net2));
      expect(await attempt(c2, extPort, '192.0.2.2')).toBe('connected');
      expect(from).toEqual(['192.0.2.1']);
      await nft.commit([...ruleset.removeNetworkOps(net2), ...ruleset.addNetworkOps({ ...net2, internal: true })]);
      expect(await attempt(c2, extPort, '192.0.2.2')).toBe('timeout');
      expect(from).toHaveLength(1);
      expect(await attempt(c2, peerPort, '10.72.0.3')).toBe('connected');
      await nft.commit(ruleset.removeNetworkOps({ ...net2, internal: true }));
    } finally {
      ext.close();
      peer.close();
    }
  });

  test('two nsnet networks are isolated from each other; the same traffic flows while the second is not an nsnet network', async () => {
    const other = await c2.listenTcp(0, '10.72.0.2');
    const otherPort = (other.address() as AddressInfo).port;
    other.on('connection', (s) => s.end());
    try {
      await nft.commit(ruleset.addNetworkOps(net1));
      expect(await attempt(c1, otherPort, '10.72.0.2')).toBe('connected');
      await nft.commit(ruleset.addNetworkOps(net2));
      expect(await attempt(c1, otherPort, '10.72.0.2')).toBe('timeout');
      expect(await attempt(c2, 80, '10.71.0.2')).toBe('timeout');
      await nft.commit([...ruleset.removeNetworkOps(net2), ...ruleset.removeNetworkOps(net1)]);
    } finally {
      other.close();
    }
  });
});
