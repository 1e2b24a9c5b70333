// Docker's four modes on the real kernel, checked with `ip -j` and real
// traffic: each test runs twice, once with sandboxes made fresh and once
// with a controller whose networks all have a warm pool (cnm/pool.ts), so
// every mode that can take a pooled namespace is proven on one.
import { readFile, readlink } from 'node:fs/promises';

import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest';

import { createSandbox as create, defaultNetwork, type Controller, type PoolOptions } from '../src/index.js';
import { world, type World } from './cnm-helpers.js';
import { advertiseRouter, ipj, ipv6Left, nsExec, uniq } from './helpers.js';

let w: World;

async function tcp(from: { netns(): Promise<any> }, server: { netns(): Promise<any> }, host: string, port = 8080) {
  const srv = await (await server.netns()).listenTcp(port, host.includes(':') ? '::' : '0.0.0.0');
  const got = new Promise<string>((resolve) => srv.on('connection', (s: any) => s.once('data', (d: Buffer) => resolve(d.toString()) && s.end())));
  const sock = await (await from.netns()).connectTcp(port, host);
  sock.end('hello');
  const msg = await got;
  srv.close();
  return msg;
}

/** An IPv6 address as the URL standard writes it: one spelling per address. */
const canonical6 = (a: string) => new URL(`http://[${a}]`).hostname.slice(1, -1);

/** The link-local address the kernel makes from a MAC (EUI-64). */
function eui64(mac: string): string {
  const b = mac.split(':').map((h) => parseInt(h, 16));
  b[0]! ^= 2;
  const groups = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | 0xff, 0xfe00 | b[3]!, (b[4]! << 8) | b[5]!];
  return canonical6(`fe80::${groups.map((g) => g.toString(16)).join(':')}`);
}

describe.each([
  ['made fresh', undefined],
  ['taken from a warm pool', { size: 2, networks: ['*'] }],
] as [string, PoolOptions | undefined][])('modes, sandboxes %s', (_, pool) => {
  let hits = 0;
  beforeEach(async () => {
    w = await world('m', pool ? { pool } : {});
  });
  afterEach(async () => {
    hits += w.c.pool?.stats().hits ?? 0;
    await w.cleanup();
  });
  // The pooled tests must have been served by the pool, not by fresh creates.
  afterAll(() => {
    if (pool) expect(hits).toBeGreaterThan(5);
  });
  // With a pool, each create waits until it is full (the default network
  // made first, for the modes that use it), so it hits whenever its mode can.
  const warm = async (c: Controller, o?: Parameters<typeof create>[1]) => {
    if (!c.pool) return;
    if (o && (o.mode === undefined || o.mode === 'bridge')) await defaultNetwork(c);
    await c.pool.warm();
  };
  const createSandbox = async (c: Controller, o: Parameters<typeof create>[1]) => {
    await warm(c, o);
    return create(c, o);
  };
  const ctlCreate = async (name: string, o: Parameters<Controller['createSandbox']>[1]) => {
    await warm(w.c);
    return w.c.createSandbox(name, o);
  };

  test('none: only lo, up, and no route out', async () => {
    const sb = await createSandbox(w.c, { name: uniq('mn'), mode: 'none' });
    const links = await ipj<any[]>(sb.name, 'link', 'show');
    expect(links.map((l) => l.ifname)).toEqual(['lo']);
    expect(links[0].flags).toContain('UP');
    expect(await ipj(sb.name, 'route', 'show')).toEqual([]);
    expect((await ipj<any[]>(sb.name, '-6', 'route', 'show')).filter((r) => r.dev !== 'lo')).toEqual([]);
    await expect((await sb.netns()).connectTcp(80, '172.17.0.1')).rejects.toMatchObject({ code: 'ENETUNREACH' });
    expect((await sb.info()).endpoints.map((e) => [e.network, e.addresses])).toEqual([['none', []]]);
  });

  test('host: sees the host namespace, creates nothing, and removing it changes nothing', async () => {
    const before = await ipj<any[]>(w.host.name!, 'link', 'show');
    const addrsBefore = await ipj<any[]>(w.host.name!, 'addr', 'show');
    const sb = await createSandbox(w.c, { name: uniq('mh'), mode: 'host' });
    const ns = await sb.netns();
    expect(ns.id).toBe(w.host.id);
    expect((await ns.links.list()).map((l) => l.name).sort()).toEqual(before.map((l) => l.ifname).sort());
    expect(await ipj(w.host.name!, 'link', 'show')).toEqual(before);
    expect((await sb.info()).kind).toBe('host');
    await sb.delete();
    expect(await ipj(w.host.name!, 'link', 'show')).toEqual(before);
    expect(await ipj(w.host.name!, 'addr', 'show')).toEqual(addrsBefore);
    expect(w.host.closed).toBe(false);
  });

  test("container:<a>: the same namespace, addresses, resolv.conf and hostname as a, and a's 127.0.0.1 server is reachable", async () => {
    const a = await createSandbox(w.c, { name: uniq('ma'), hostname: 'alpha', dns: ['10.1.2.3'] });
    const b = await createSandbox(w.c, { name: uniq('mb'), mode: { container: a.name } });
    const [ai, bi] = [await a.info(), await b.info()];
    expect(bi.kind).toBe('container');
    expect(bi.owner).toBe(a.name);
    expect((await b.netns()).id).toBe((await a.netns()).id);
    expect(bi.netnsPath).toBe(ai.netnsPath);
    expect(bi.hostname).toBe('alpha');
    expect(bi.resolvConf).toBe(ai.resolvConf);
    expect(await readFile(bi.resolvConf, 'utf8')).toContain('nameserver 10.1.2.3');
    expect(bi.endpoints.map((e) => e.addresses)).toEqual(ai.endpoints.map((e) => e.addresses));
    expect(await tcp(b, a, '127.0.0.1')).toBe('hello');
    // The owner cannot go while b shares its namespace ...
    await expect(a.delete()).rejects.toMatchObject({ code: 'ERR_NSNET_IN_USE' });
    // ... and deleting the joiner leaves the owner's network alone.
    await b.delete();
    expect((await ipj<any[]>(a.name, 'addr', 'show', 'eth0'))[0].addr_info[0].local).toBe(ai.endpoints[0]!.addresses[0]!.split('/')[0]);
    await expect(createSandbox(w.c, { name: uniq('mc'), mode: 'container:nosuch' })).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
  });

  test('forced delete of an owner takes its joiners with it', async () => {
    const a = await createSandbox(w.c, { name: uniq('ma') });
    const b = await createSandbox(w.c, { name: uniq('mb'), mode: `container:${a.name}` });
    await a.delete({ force: true });
    await expect(w.c.sandbox(b.name)).rejects.toMatchObject({ code: 'ERR_NSNET_NOT_FOUND' });
    expect(await w.c.sandboxes()).toEqual([]);
  });

  test('bridge: two sandboxes reach each other over TCP and ping their gateway; ip -j agrees with Endpoint info and the store', async () => {
    const a = await createSandbox(w.c, { name: uniq('ma') });
    const b = await createSandbox(w.c, { name: uniq('mb'), mode: 'bridge' });
    const net = await (await w.c.network('bridge')).info();
    expect(net.bridge).toBe('nsnet0');
    for (const sb of [a, b]) {
      const info = await sb.info();
      const ep = info.endpoints[0]!;
      const [link] = await ipj<any[]>(sb.name, 'addr', 'show', 'eth0');
      expect(ep.ifname).toBe('eth0');
      expect(link.address).toBe(ep.mac);
      expect(link.operstate).toBe('UP');
      expect(link.addr_info.filter((x: any) => x.family === 'inet').map((x: any) => `${x.local}/${x.prefixlen}`)).toEqual(ep.addresses);
      expect(await ipj(sb.name, 'route', 'show', 'default')).toEqual([{ dst: 'default', gateway: net.subnets[0]!.gateway, dev: 'eth0', flags: [] }]);
      // The host end: on the bridge, up, named as the store says.
      const [hostEnd] = await ipj<any[]>(w.host.name!, 'link', 'show', ep.hostIfname!);
      expect(hostEnd.master).toBe('nsnet0');
      expect(hostEnd.operstate).toBe('UP');
      const rec = await w.c.store.view((t) => t.endpoint(ep.id));
      expect(rec).toMatchObject({ addresses: ep.addresses, mac: ep.mac, hostIfname: ep.hostIfname, sandboxId: info.id });
      await nsExec(sb.name, 'ping', '-c1', '-W2', net.subnets[0]!.gateway!);
    }
    const bAddr = (await b.info()).endpoints[0]!.addresses[0]!.split('/')[0]!;
    expect(await tcp(a, b, bAddr)).toBe('hello');
    // No IPv6 on an IPv4-only network, as Docker: neither end has a
    // link-local address, so neither floods the bridge with DAD or MLD.
    const ep = (await a.info()).endpoints[0]!;
    expect((await ipj<any[]>(a.name, '-6', 'addr', 'show', 'eth0'))[0]?.addr_info ?? []).toEqual([]);
    expect((await ipj<any[]>(w.host.name!, '-6', 'addr', 'show', ep.hostIfname!))[0]?.addr_info ?? []).toEqual([]);
  });

  test('bridge without IPv6: a router advertisement another sandbox sends on the network gives a sandbox no IPv6 address or route', async () => {
    const [a, b] = [await createSandbox(w.c, { name: uniq('ra'), mode: 'bridge' }), await createSandbox(w.c, { name: uniq('rb'), mode: 'bridge' })];
    expect((await nsExec(b.name, 'sysctl', '-n', 'net.ipv6.conf.eth0.disable_ipv6')).stdout.trim()).toBe('1');
    await advertiseRouter(a.name);
    expect(await ipv6Left(b.name)).toEqual({ routes: [], addresses: [] });
    // Nor the host: the network's bridge has no IPv6 either.
    expect(await ipj(w.host.name!, '-6', 'route', 'show', 'default')).toEqual([]);
    expect(JSON.stringify(await ipj(w.host.name!, '-6', 'addr', 'show'))).not.toContain('2001:db8:1:');
  });

  test('bridge dual stack: IPv6 addresses and default route, and TCP over IPv6 between sandboxes', async () => {
    await w.c.createNetwork(uniq('n6'), { subnets: ['10.66.0.0/24', 'fd66::/64'] });
    const net = (await w.c.networks()).find((n) => n.name.startsWith('n6'))!;
    const a = await createSandbox(w.c, { name: uniq('ma'), mode: { network: net.name } });
    const b = await createSandbox(w.c, { name: uniq('mb'), mode: { network: net.name }, ip6: 'fd66::99' });
    const bi = await b.info();
    expect(bi.endpoints[0]!.addresses).toEqual(['10.66.0.3/24', 'fd66::99/64']);
    const v6 = (await ipj<any[]>(b.name, '-6', 'addr', 'show', 'eth0'))[0].addr_info.filter((x: any) => x.scope === 'global');
    expect(v6.map((x: any) => `${x.local}/${x.prefixlen}`)).toEqual(['fd66::99/64']);
    expect((await ipj<any[]>(b.name, '-6', 'route', 'show', 'default'))[0]).toMatchObject({ gateway: 'fd66::1', dev: 'eth0' });
    expect(await tcp(a, b, 'fd66::99')).toBe('hello');
    await nsExec(a.name, 'ping', '-6', '-c1', '-W2', 'fd66::1');
    // A router advertisement a takes upon itself to send gives b no route or address: its own are nsnet's.
    await advertiseRouter(a.name);
    expect((await ipj<any[]>(b.name, '-6', 'route', 'show', 'default')).map((r) => r.gateway)).toEqual(['fd66::1']);
    expect(JSON.stringify(await ipj(b.name, '-6', 'addr', 'show'))).not.toContain('2001:db8:1:');
    // Dual stack keeps the sandbox's link-local address; the host's end, a bridge port, has none.
    // Its link-local address is made from its own MAC (EUI-64), which a
    // pooled interface must have had before it came up.
    const all6 = (await ipj<any[]>(b.name, '-6', 'addr', 'show', 'eth0'))[0].addr_info.map((x: any) => x.local);
    expect(all6.filter((x: string) => x.startsWith('fe80:')).map(canonical6)).toEqual([eui64(bi.endpoints[0]!.mac!)]);
    expect((await ipj<any[]>(w.host.name!, '-6', 'addr', 'show', bi.endpoints[0]!.hostIfname!))[0]?.addr_info ?? []).toEqual([]);
  });

  test('two bridge networks on their own bridges; a sandbox on both has two interfaces and one default route', async () => {
    const n1 = await w.c.createNetwork(uniq('n1'), { subnets: ['10.51.0.0/24'] });
    const n2 = await w.c.createNetwork(uniq('n2'), { subnets: ['10.52.0.0/24'], options: { 'com.docker.network.bridge.name': uniq('br') } });
    const [i1, i2] = [await n1.info(), await n2.info()];
    expect(i1.bridge).not.toBe(i2.bridge);
    for (const i of [i1, i2]) {
      const [br] = await ipj<any[]>(w.host.name!, 'addr', 'show', i.bridge!);
      expect(br.addr_info.map((a: any) => a.local)).toContain(i.subnets[0]!.gateway);
    }
    const sb = await ctlCreate(uniq('mm'), { networks: [n1.name, { network: n2.name, ip: '10.52.0.77' }] });
    const links = (await ipj<any[]>(sb.name, 'addr', 'show')).map((l) => [l.ifname, l.addr_info.filter((a: any) => a.family === 'inet').map((a: any) => a.local)]);
    expect(links).toEqual([['lo', ['127.0.0.1']], ['eth0', ['10.51.0.2']], ['eth1', ['10.52.0.77']]]);
    expect(await ipj(sb.name, 'route', 'show', 'default')).toEqual([{ dst: 'default', gateway: '10.51.0.1', dev: 'eth0', flags: [] }]);
    // Leaving the network that gave the default route hands it to the other.
    const [e1] = (await sb.endpoints()).filter((e) => e.record.networkId === n1.id);
    await e1!.leave();
    expect(await ipj(sb.name, 'route', 'show', 'default')).toEqual([{ dst: 'default', gateway: '10.52.0.1', dev: 'eth1', flags: [] }]);
    // Joining again (CNM join into an existing sandbox) gives eth0 back, without a second default route.
    await e1!.join(sb);
    expect((await ipj<any[]>(sb.name, 'link', 'show')).map((l) => l.ifname)).toEqual(['lo', 'eth1', 'eth0']);
    expect(await ipj<any[]>(sb.name, 'route', 'show', 'default')).toHaveLength(1);
  });

  test('bridge options: MTU, interface prefix, MAC policy; internal networks give no default route', async () => {
    const net = await w.c.createNetwork(uniq('no'), {
      subnets: ['10.53.0.0/24'],
      options: { mtu: '1400', 'com.docker.network.container_iface_prefix': 'net', mac: 'random' },
    });
    const sb = await ctlCreate(uniq('mo'), { networks: [net.name] });
    const [l] = await ipj<any[]>(sb.name, 'link', 'show', 'net0');
    expect(l.mtu).toBe(1400);
    expect(l.address.startsWith('02:42:0a')).toBe(false);
    const [br] = await ipj<any[]>(w.host.name!, 'link', 'show', (await net.info()).bridge!);
    expect(br.mtu).toBe(1400);
    const internal = await w.c.createNetwork(uniq('ni'), { subnets: ['10.54.0.0/24'], internal: true });
    const sb2 = await ctlCreate(uniq('mi'), { networks: [internal.name] });
    expect(await ipj(sb2.name, 'route', 'show', 'default')).toEqual([]);
    await nsExec(sb2.name, 'ping', '-c1', '-W2', '10.54.0.1');
  });

  test('an MTU below IPv6\'s minimum (1000): the links have no IPv6 to configure, and sandboxes are made and reach their gateway', async () => {
    const net = await w.c.createNetwork(uniq('nm'), { subnets: ['10.57.0.0/24'], options: { mtu: '1000' } });
    const sb = await ctlCreate(uniq('mm'), { networks: [net.name] });
    const [l] = await ipj<any[]>(sb.name, 'link', 'show', 'eth0');
    expect(l.mtu).toBe(1000);
    await nsExec(sb.name, 'ping', '-c1', '-W2', '10.57.0.1');
  });

  test('sandbox files: resolv.conf, hosts and hostname, where ip netns exec finds them', async () => {
    const sb = await createSandbox(w.c, {
      name: uniq('mf'), hostname: 'web1', dns: ['10.0.0.53'], dnsSearch: ['corp.example'], dnsOptions: ['ndots:2'], extraHosts: ['db:10.9.9.9'],
    });
    const info = await sb.info();
    expect(await readlink(`/etc/netns/${sb.name}`)).toBe(info.resolvConf.replace(/\/resolv\.conf$/, ''));
    const { stdout: resolv } = await nsExec(sb.name, 'cat', '/etc/resolv.conf');
    expect(resolv).toBe('# Generated by nsnet\nnameserver 10.0.0.53\nsearch corp.example\noptions ndots:2\n');
    const { stdout: hosts } = await nsExec(sb.name, 'cat', '/etc/hosts');
    expect(hosts).toContain('127.0.0.1\tlocalhost\n');
    expect(hosts).toContain(`${info.endpoints[0]!.addresses[0]!.split('/')[0]}\tweb1 ${sb.name}\n`);
    expect(hosts).toContain('10.9.9.9\tdb\n');
    expect(await readFile(info.hostnameFile, 'utf8')).toBe('web1\n');
    // Without dns options: the host's resolvers, minus loopback ones.
    const plain = await createSandbox(w.c, { name: uniq('mf'), mode: 'none' });
    const text = await readFile((await plain.info()).resolvConf, 'utf8');
    expect(text).not.toMatch(/nameserver 127\./);
    expect(text).toMatch(/nameserver /);
    await sb.delete();
    await expect(readlink(`/etc/netns/${sb.name}`)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(readFile(info.resolvConf)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('the controller reports sandbox, network and endpoint lifecycle as events, in order', async () => {
    const seen: string[] = [];
    w.c.on('event', (e) => seen.push(`${e.kind} ${e.action} ${e.name}`));
    const net = await w.c.createNetwork('evnet', { subnets: ['10.55.0.0/24'] });
    const other = await w.c.createNetwork('evother', { subnets: ['10.56.0.0/24'] });
    const sb = await createSandbox(w.c, { name: uniq('me'), mode: { network: 'evnet' } });
    const ep = await other.createEndpoint('extra');
    await ep.join(sb);
    await ep.leave();
    await ep.delete();
    await sb.delete();
    await net.delete();
    expect(seen).toEqual([
      'network create evnet',
      'network create evother',
      `sandbox create ${sb.name}`,
      `endpoint join ${sb.name}`,
      'endpoint create extra',
      'endpoint join extra',
      'endpoint leave extra',
      'endpoint delete extra',
      `sandbox delete ${sb.name}`,
      'network delete evnet',
    ]);
  });
});
