// The routed driver with real traffic: a namespace plays the host, another
// the outside world on the host's uplink. Sandboxes have a /32 (and /128)
// on a veth whose host end is on no bridge, and reach everything through
// the host's routing; the firewall tells networks apart by their host
// veths' name prefix. `ip -j` and `nft -j` are the oracles.
import type { AddressInfo, Server } from 'node:net';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createSandbox, Netns, ValidationError, type Network, type Sandbox } from '../src/index.js';
import { settled, snapshot, world, type World } from './cnm-helpers.js';
import { attempt, fetchTcp, ip, ipj, serve, uniq } from './helpers.js';
import { nftj } from './nft-helpers.js';

let w: World;
let outside: Netns;
const UP = '198.51.100.1'; // the host's uplink address
const OUT = '198.51.100.2'; // the outside machine

const addrOf = async (sb: Sandbox, family: 4 | 6 = 4, i = 0) =>
  (await sb.info()).endpoints[i]!.addresses.find((a) => a.includes(':') === (family === 6))!.split('/')[0]!;

beforeAll(async () => {
  w = await world('rt');
  outside = await Netns.create(uniq('rto'));
  await w.host.batch().addVeth({ name: 'up0', up: true, peer: { name: 'eth0', netns: outside } })
    .addAddress('up0', `${UP}/24`).addAddress('up0', '2001:db8:52::1/64', { nodad: true }).commit();
  // Forwarding is on from the first network on (as Docker leaves it), and with it IPv6's subnet-router anycast routes.
  await w.host.setSysctl('net.ipv4.ip_forward', 1);
  await w.host.setSysctl('net.ipv6.conf.all.forwarding', 1);
  // A route back to the sandboxes, so that what does not reach them is the firewall's doing.
  await outside.batch().setUp('eth0').addAddress('eth0', `${OUT}/24`).addAddress('eth0', '2001:db8:52::2/64', { nodad: true })
    .addRoute({ dst: '10.0.0.0/8', gateway: UP }).commit();
});

afterAll(async () => {
  await outside?.delete();
  await w?.cleanup();
});

describe('routed', () => {
  test('two sandboxes reach each other through the host (IPv4 and IPv6), the host, and the outside masqueraded; /32 addresses, an on-link gateway answered by permanent neighbours, no bridge; teardown leaves ip -j and nft -j as they were', async () => {
    const prefix = uniq('rta');
    const before = await settled(w, prefix);
    const net = await w.c.createNetwork(`${prefix}n`, { driver: 'routed', subnets: ['10.151.0.0/24', 'fd51::/64'] });
    const servers: Server[] = [];
    try {
      const a = await createSandbox(w.c, { name: `${prefix}a`, mode: { network: net.name } });
      const b = await createSandbox(w.c, { name: `${prefix}b`, mode: { network: net.name } });
      const [a4, b4, a6, b6] = [await addrOf(a), await addrOf(b), await addrOf(a, 6), await addrOf(b, 6)];
      const ep = (await a.info()).endpoints[0]!;
      expect(ep.addresses).toEqual([`${a4}/32`, `${a6}/128`]);
      expect(ep.gateways).toEqual(['169.254.1.1', 'fe80::1']);

      // Inside: the address alone on its link, the gateway on-link, its MAC known for good.
      const [addr] = await ipj<any[]>(a.record.name, 'addr', 'show', 'eth0');
      expect(addr.addr_info.filter((x: any) => x.scope === 'global').map((x: any) => `${x.local}/${x.prefixlen}`)).toEqual([`${a4}/32`, `${a6}/128`]);
      expect(await ipj<any[]>(a.record.name, 'route', 'show', 'default')).toMatchObject([{ gateway: '169.254.1.1', dev: 'eth0', flags: ['onlink'] }]);
      expect(await ipj<any[]>(a.record.name, '-6', 'route', 'show', 'default')).toMatchObject([{ gateway: 'fe80::1', dev: 'eth0' }]);
      const inside = await ipj<any[]>(a.record.name, 'neigh', 'show', 'dev', 'eth0', 'nud', 'permanent');
      expect(inside.map((n) => `${n.dst} ${n.lladdr}`).sort()).toEqual(['169.254.1.1 ee:ee:ee:ee:ee:ee', 'fe80::1 ee:ee:ee:ee:ee:ee']);

      // The host: a veth on no master, named with the network's prefix, and a route and a neighbour per address.
      const hostIf = ep.hostIfname!;
      expect(hostIf).toMatch(/^nsr[0-9a-z]{12}$/);
      expect((await b.info()).endpoints[0]!.hostIfname!.slice(0, 6)).toBe(hostIf.slice(0, 6));
      const [veth] = await ipj<any[]>(w.host.name, '-d', 'link', 'show', hostIf);
      expect(veth).toMatchObject({ address: 'ee:ee:ee:ee:ee:ee', operstate: 'UP' });
      expect(veth.master).toBeUndefined();
      expect((await ipj<any[]>(w.host.name, 'link', 'show', 'type', 'bridge')).length).toBe(0);
      expect(await ipj<any[]>(w.host.name, 'route', 'show', `${a4}/32`)).toMatchObject([{ dst: a4, dev: hostIf, scope: 'link' }]);
      const near = await ipj<any[]>(w.host.name, 'neigh', 'show', 'dev', hostIf, 'nud', 'permanent');
      expect(near.map((n) => `${n.dst} ${n.lladdr}`).sort()).toEqual([`${a4} ${ep.mac}`, `${a6} ${ep.mac}`].sort());
      // No link-local address on the host's end: no fe80::/64 route per veth.
      expect((await ipj<any[]>(w.host.name, '-6', 'addr', 'show', 'dev', hostIf))[0]?.addr_info ?? []).toEqual([]);

      // Sandbox to sandbox through the host, with their own addresses.
      const onB = await serve(await b.netns(), 0, '::', 'b');
      servers.push(onB.server);
      const port = (onB.server.address() as AddressInfo).port;
      expect(await fetchTcp(await a.netns(), port, b4)).toBe('b');
      expect(onB.seen.at(-1)).toMatch(new RegExp(`${a4.replace(/\./g, '\\.')}$`));
      expect(await fetchTcp(await a.netns(), port, b6)).toBe('b');
      expect(onB.seen.at(-1)).toBe(a6);
      // The host, and the host to a sandbox.
      const onHost = await serve(w.host, 0, '::', 'host');
      servers.push(onHost.server);
      expect(await fetchTcp(await a.netns(), (onHost.server.address() as AddressInfo).port, UP)).toBe('host');
      expect(await fetchTcp(w.host, port, b4)).toBe('b');
      // The outside sees the host's address.
      const ext = await serve(outside, 0, '::', 'outside');
      servers.push(ext.server);
      expect(await fetchTcp(await a.netns(), (ext.server.address() as AddressInfo).port, OUT)).toBe('outside');
      expect(ext.seen.at(-1)).toMatch(new RegExp(`${UP.replace(/\./g, '\\.')}$`));
      expect(await fetchTcp(await a.netns(), (ext.server.address() as AddressInfo).port, '2001:db8:52::2')).toBe('outside');
      expect(ext.seen.at(-1)).toBe('2001:db8:52::1');
      // Nothing reaches a sandbox from outside unless published.
      expect(await attempt(outside, port, b4)).toBe('timeout');

      // The network's one element matches all its veths, in nft's own words.
      const self = (await nftj(w.host.name!)).find((o) => o.set?.name === 'self')!.set;
      const prefixOf = hostIf.slice(0, 6);
      expect(JSON.stringify(self.elem)).toContain(`"${prefixOf}*"`);
      await a.delete();
      await b.delete();
    } finally {
      for (const s of servers) s.close();
      await net.delete({ force: true });
    }
    expect(await settled(w, prefix)).toEqual(before);
  });

  test('a published port works from outside, from the host (its address and 127.0.0.1) and from the sandbox itself (hairpin)', async () => {
    const net = await w.c.createNetwork(uniq('rtp'), { driver: 'routed', subnets: ['10.152.0.0/24'] });
    const emptyNet = await nftj(w.host.name!);
    try {
      const sb = await createSandbox(w.c, { name: uniq('rtq'), mode: { network: net.name }, ports: ['8180:80'] });
      const ns = await sb.netns();
      const s = await serve(ns, 80, '0.0.0.0', 'web');
      try {
        expect(await fetchTcp(outside, 8180, UP)).toBe('web');
        expect(s.seen.at(-1)).toBe(OUT); // DNAT only: the sandbox sees who came
        expect(await fetchTcp(w.host, 8180, UP)).toBe('web');
        expect(await fetchTcp(w.host, 8180, '127.0.0.1')).toBe('web');
        expect(await fetchTcp(ns, 8180, UP)).toBe('web');
      } finally {
        s.server.close();
      }
      await sb.delete();
      expect(await nftj(w.host.name!)).toEqual(emptyNet);
    } finally {
      await net.delete({ force: true });
    }
  });

  test('routed networks are isolated from each other and from bridge networks; ICC off keeps a network\'s sandboxes apart; an internal one talks only within', async () => {
    const nets: Network[] = [];
    const servers: Server[] = [];
    const ext = await serve(outside, 0, OUT, 'outside');
    servers.push(ext.server);
    const extPort = (ext.server.address() as AddressInfo).port;
    try {
      const mkNet = async (o: Parameters<typeof w.c.createNetwork>[1]) => {
        const n = await w.c.createNetwork(uniq('rti'), o);
        nets.push(n);
        return n.name;
      };
      const r1 = await mkNet({ driver: 'routed', subnets: ['10.153.0.0/24'] });
      const r2 = await mkNet({ driver: 'routed', subnets: ['10.154.0.0/24'] });
      const br = await mkNet({ subnets: ['10.155.0.0/24'] });
      const closed = await mkNet({ driver: 'routed', subnets: ['10.156.0.0/24'], options: { icc: 'false' } });
      const internal = await mkNet({ driver: 'routed', subnets: ['10.157.0.0/24'], internal: true });
      const mk = async (n: string) => {
        const sb = await createSandbox(w.c, { name: uniq('rtx'), mode: { network: n } });
        const s = await serve(await sb.netns(), 7000, '0.0.0.0', sb.name);
        servers.push(s.server);
        return { sb, ns: await sb.netns(), ip: await addrOf(sb) };
      };
      const [a, a2, b, c, k1, k2, i1, i2] = await Promise.all([r1, r1, r2, br, closed, closed, internal, internal].map(mk));
      // Controls: what is allowed works.
      expect(await attempt(a!.ns, 7000, a2!.ip)).toBe('connected');
      expect(await attempt(i1!.ns, 7000, i2!.ip)).toBe('connected');
      expect(await attempt(k1!.ns, extPort, OUT)).toBe('connected');
      // Between routed networks, both ways; between routed and bridge, both ways.
      expect(await attempt(a!.ns, 7000, b!.ip)).toBe('timeout');
      expect(await attempt(b!.ns, 7000, a!.ip)).toBe('timeout');
      expect(await attempt(a!.ns, 7000, c!.ip)).toBe('timeout');
      expect(await attempt(c!.ns, 7000, a!.ip)).toBe('timeout');
      // ICC off: no br_netfilter needed, every packet between them is routed.
      expect(await attempt(k1!.ns, 7000, k2!.ip)).toBe('timeout');
      // Internal: nothing out, nothing in.
      expect(await ipj<any[]>(i1!.sb.record.name, 'route', 'show', 'default')).toEqual([]);
      await expect(attempt(i1!.ns, extPort, OUT)).rejects.toMatchObject({ code: 'ENETUNREACH' }); // no route out at all
      // Given one, as a container that tries would: the firewall still lets nothing out.
      await ip(i1!.sb.record.name, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0', 'onlink');
      expect(await attempt(i1!.ns, extPort, OUT)).toBe('timeout');
      expect(await attempt(outside, 7000, i1!.ip)).toBe('timeout');
      expect(await attempt(a!.ns, 7000, i1!.ip)).toBe('timeout');
      for (const x of [a, a2, b, c, k1, k2, i1, i2]) await x!.sb.delete();
    } finally {
      for (const s of servers) s.close();
      for (const n of nets) await n.delete({ force: true });
    }
  });

  test('a sandbox on a bridge network and a routed one: the default route by the bridge, the routed subnet through 169.254.1.1 on its own interface', async () => {
    const br = await w.c.createNetwork(uniq('rtb'), { subnets: ['10.158.0.0/24'] });
    const rn = await w.c.createNetwork(uniq('rtr'), { driver: 'routed', subnets: ['10.159.0.0/24'] });
    try {
      const peer = await createSandbox(w.c, { name: uniq('rtc'), mode: { network: rn.name } });
      const s = await serve(await peer.netns(), 7000, '0.0.0.0', 'peer');
      const both = await w.c.createSandbox(uniq('rtd'), { networks: [br.name, rn.name] });
      expect(await ipj<any[]>(both.record.name, 'route', 'show', 'default')).toMatchObject([{ gateway: '10.158.0.1', dev: 'eth0' }]);
      expect(await ipj<any[]>(both.record.name, 'route', 'show', '10.159.0.0/24')).toMatchObject([{ gateway: '169.254.1.1', dev: 'eth1', flags: ['onlink'] }]);
      expect(await fetchTcp(await both.netns(), 7000, await addrOf(peer))).toBe('peer');
      // Leaving the bridge network hands the default route to the routed one, through its on-link gateway.
      const brEp = (await both.info()).endpoints.find((e) => e.network === br.name)!;
      await (await br.endpoints()).find((e) => e.name === brEp.name)!.leave();
      expect(await ipj<any[]>(both.record.name, 'route', 'show', 'default')).toMatchObject([{ gateway: '169.254.1.1', dev: 'eth1' }]);
      s.server.close();
      await both.delete();
      await peer.delete();
    } finally {
      await br.delete({ force: true });
      await rn.delete({ force: true });
    }
  });

  test('reconcile mends a routed sandbox whose host route, neighbours or veth went behind its back, and removes a veth no endpoint owns', async () => {
    const net = await w.c.createNetwork(uniq('rtm'), { driver: 'routed', subnets: ['10.160.0.0/24'] });
    try {
      const a = await createSandbox(w.c, { name: uniq('rtn'), mode: { network: net.name } });
      const a4 = await addrOf(a);
      const hostIf = (await a.info()).endpoints[0]!.hostIfname!;
      const s = await serve(await a.netns(), 7000, '0.0.0.0', 'a');
      // Nothing amiss with it. (Earlier tests' veths may still be there, held by their timed-out connects: those go.)
      const mine = (r: { found: string[] }) => r.found.filter((f) => f.includes(hostIf) || f.includes(a.record.name));
      expect(mine(await w.c.reconcile())).toEqual([]);
      await ip(w.host.name, 'route', 'del', `${a4}/32`, 'dev', hostIf);
      await ip(w.host.name, 'neigh', 'del', a4, 'dev', hostIf);
      await ip(a.record.name, 'neigh', 'del', '169.254.1.1', 'dev', 'eth0');
      let r = await w.c.reconcile();
      expect(mine(r).join('\n')).toMatch(new RegExp(`route to ${a4}/32 through ${hostIf}.*neighbour ${a4} on ${hostIf}.*neighbour 169\\.254\\.1\\.1 on eth0`));
      expect(await fetchTcp(w.host, 7000, a4)).toBe('a');
      s.server.close();
      // The veth deleted: made again, with everything on both ends.
      await ip(w.host.name, 'link', 'del', hostIf);
      r = await w.c.reconcile();
      expect(r.found.join('\n')).toMatch(/made again/);
      const again = await serve(await a.netns(), 7000, '0.0.0.0', 'a');
      expect(await fetchTcp(w.host, 7000, a4)).toBe('a');
      again.server.close();
      // A veth of this store's on the network that no endpoint owns (a create that died half-way): removed.
      const stray = `${hostIf.slice(0, 6)}stray0`;
      await ip(w.host.name, 'link', 'add', stray, 'type', 'veth', 'peer', 'name', 'strayp0');
      await ip(w.host.name, 'link', 'set', stray, 'alias', `nsnet ${w.c.ctx.owner} 0123`);
      r = await w.c.reconcile();
      expect(r.interfacesRemoved).toContain(stray);
      expect((await ipj<any[]>(w.host.name, 'link', 'show')).map((l) => l.ifname)).not.toContain(stray);
      await a.delete();
    } finally {
      await net.delete({ force: true });
    }
  });

  test('bad options are refused before anything is stored or made', async () => {
    const prefix = uniq('rtz');
    const before = await settled(w, prefix);
    for (const [o, msg] of [
      [{ options: { parent: 'eth0' } }, /is not a routed option/],
      [{ options: { icc: 'maybe' } }, /must be true or false/],
      [{ options: { mtu: '20' } }, /mtu/],
      [{ options: { mac: 'x' } }, /must be ip or random/],
    ] as const) {
      const err = await w.c.createNetwork(`${prefix}n`, { driver: 'routed', ...o }).catch((e) => e);
      expect(err, JSON.stringify(o)).toBeInstanceOf(ValidationError);
      expect(err.message).toMatch(msg);
    }
    expect(await snapshot(w, prefix)).toEqual(before);
  });
});
