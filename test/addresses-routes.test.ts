// Addresses and routes through nsnet, checked against `ip -j addr` / `ip -j route`.
import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { Netns, NsnetError, ValidationError } from '../src/index.js';
import { ip, ipj, testHost } from './helpers.js';

let ns: Netns;
beforeEach(async () => {
  ns = await testHost('a');
  await ns.links.addVeth({ name: 'eth0', peer: { name: 'peer0' }, up: true });
  await ns.links.setUp('peer0');
});
afterEach(async () => {
  await ns.delete();
});

const ipAddrs = async (dev: string) =>
  ((await ipj<any[]>(ns.name, 'addr', 'show', 'dev', dev))[0]?.addr_info ?? []).map((a: any) => ({
    family: a.family === 'inet6' ? 6 : 4,
    cidr: `${a.local}/${a.prefixlen}`,
    scope: a.scope,
    broadcast: a.broadcast ?? null,
  }));

describe('addresses', () => {
  test('IPv4 and IPv6 add, list and delete agree with ip -j addr', async () => {
    await ns.addresses.add('eth0', '10.77.0.2/16');
    await ns.addresses.add('eth0', 'fd77::2/64', { nodad: true });
    const mine = (await ns.addresses.list({ dev: 'eth0' })).map((a) => ({ family: a.family, cidr: a.cidr, scope: a.scope, broadcast: a.broadcast }));
    const theirs = await ipAddrs('eth0');
    expect(new Set(mine.map((a) => JSON.stringify(a)))).toEqual(new Set(theirs.map((a: any) => JSON.stringify(a))));
    expect(mine).toContainEqual({ family: 4, cidr: '10.77.0.2/16', scope: 'global', broadcast: '10.77.255.255' });
    expect(mine).toContainEqual({ family: 6, cidr: 'fd77::2/64', scope: 'global', broadcast: null });
    const v6 = (await ns.addresses.list({ dev: 'eth0', family: 6 })).find((a) => a.address === 'fd77::2')!;
    expect(v6.flags).toContain('nodad');
    expect((await ns.addresses.list({ family: 4 })).every((a) => a.family === 4)).toBe(true);
    await ns.addresses.delete('eth0', '10.77.0.2/16');
    await ns.addresses.delete('eth0', 'fd77::2/64');
    expect((await ipAddrs('eth0')).filter((a: any) => a.scope === 'global')).toEqual([]);
  });

  test('the same address twice is EEXIST with the kernel\'s reason', async () => {
    await ns.addresses.add('eth0', '10.78.0.2/24');
    const err = await ns.addresses.add('eth0', '10.78.0.2/24').catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err.code).toBe('EEXIST');
    expect(err.op).toBe('RTM_NEWADDR');
    expect(err.object).toBe("address 10.78.0.2/24 on 'eth0'");
  });

  test('an IPv4 address with an alias label (eth0:1, as ip addr add ... label eth0:1) is listed with it, as ip -j addr shows', async () => {
    await ns.addresses.add('eth0', '10.79.0.2/24', { label: 'eth0:1' });
    await ns.addresses.add('eth0', '10.79.1.2/24');
    const ours = (await ns.addresses.list({ dev: 'eth0', family: 4 })).map((a) => [a.cidr, a.label]);
    const theirs = ((await ipj<any[]>(ns.name, 'addr', 'show', 'dev', 'eth0'))[0].addr_info as any[])
      .filter((a) => a.family === 'inet')
      .map((a) => [`${a.local}/${a.prefixlen}`, a.label]);
    expect(ours).toEqual(theirs);
    expect(ours).toContainEqual(['10.79.0.2/24', 'eth0:1']);
    expect(ours).toContainEqual(['10.79.1.2/24', 'eth0']);
    await ns.addresses.delete('eth0', '10.79.0.2/24');
    expect((await ns.addresses.list({ dev: 'eth0', family: 4 })).map((a) => a.label)).toEqual(['eth0']);
  });

  test('labels that are not interface-name-like, or on an IPv6 address, are refused with nothing changed', async () => {
    const before = await ipAddrs('eth0');
    for (const bad of ['', 'x'.repeat(16), 'eth0 1', 'eth0/1', 'eth0\n1', 'eth0\u00001', 7]) {
      const err = await ns.addresses.add('eth0', '10.79.2.2/24', { label: bad as string }).catch((e) => e);
      expect(err, JSON.stringify(bad)).toBeInstanceOf(ValidationError);
    }
    // The kernel would drop an IPv6 address's label without a word.
    const v6 = await ns.addresses.add('eth0', 'fd79::2/64', { label: 'eth0:1', nodad: true }).catch((e) => e);
    expect(v6).toBeInstanceOf(ValidationError);
    expect(await ipAddrs('eth0')).toEqual(before);
  });

  test('bad addresses and prefixes are refused with nothing changed', async () => {
    const before = await ipAddrs('eth0');
    for (const bad of ['10.0.0.256/24', '10.0.0.1/33', 'fd00::1/129', 'nonsense', '10.0.0.1/', '10.0.0.1/-1', '10.0.0.1/ 8']) {
      const err = await ns.addresses.add('eth0', bad).catch((e) => e);
      expect(err, bad).toBeInstanceOf(ValidationError);
    }
    expect(await ipAddrs('eth0')).toEqual(before);
  });
});

describe('routes', () => {
  const ipRoutes = async (...a: string[]) =>
    (await ipj<any[]>(ns.name, ...a, 'route', 'show')).map((r: any) => ({
      dst: r.dst,
      gateway: r.gateway ?? null,
      dev: r.dev,
      metric: r.metric ?? null,
    }));

  test('IPv4: default via a gateway, a prefix via a device, replace and delete, as ip sees them', async () => {
    await ns.addresses.add('eth0', '10.79.0.2/16');
    await ns.routes.add({ dst: 'default', gateway: '10.79.0.1' });
    await ns.routes.add({ dst: '192.0.2.0/24', dev: 'eth0', metric: 50 });
    const eth0 = (await ns.links.get('eth0')).ifindex;
    const mine = await ns.routes.list({ family: 4 });
    const theirs = await ipRoutes();
    expect(mine).toHaveLength(theirs.length);
    for (const t of theirs) {
      const dst = t.dst.includes('/') || t.dst === 'default' ? t.dst : `${t.dst}/32`;
      const m = mine.find((r) => r.dst === dst);
      expect(m, t.dst).toBeDefined();
      expect(m!.gateway).toBe(t.gateway);
      expect(m!.oif).toBe(eth0);
      expect(m!.metric).toBe(t.metric);
    }
    expect(mine.find((r) => r.dst === 'default')).toMatchObject({ gateway: '10.79.0.1', protocol: 'boot', scope: 'universe', table: 254 });
    expect(mine.find((r) => r.dst === '192.0.2.0/24')).toMatchObject({ gateway: null, scope: 'link', metric: 50 });
    await ns.routes.replace({ dst: 'default', gateway: '10.79.0.254' });
    expect((await ipRoutes()).find((r) => r.dst === 'default')!.gateway).toBe('10.79.0.254');
    await ns.routes.delete({ dst: 'default' });
    await ns.routes.delete({ dst: '192.0.2.0/24', dev: 'eth0' });
    expect((await ipRoutes()).map((r) => r.dst)).toEqual(['10.79.0.0/16']);
  });

  test('IPv6: default route via a link-local gateway on a device', async () => {
    await ns.addresses.add('eth0', 'fd79::2/64', { nodad: true });
    await ns.routes.add({ dst: 'default', gateway: 'fe80::1', dev: 'eth0' });
    await ns.routes.add({ dst: '2001:db8::/32', gateway: 'fd79::1' });
    const theirs = await ipRoutes('-6');
    expect(theirs.find((r) => r.dst === 'default')).toMatchObject({ gateway: 'fe80::1', dev: 'eth0' });
    const mine = await ns.routes.list({ family: 6 });
    expect(mine.find((r) => r.dst === 'default')).toMatchObject({ family: 6, gateway: 'fe80::1' });
    expect(mine.find((r) => r.dst === '2001:db8::/32')).toMatchObject({ gateway: 'fd79::1' });
    expect(mine.map((r) => r.dst).sort()).toEqual(theirs.map((r) => (r.dst.includes('/') || r.dst === 'default' ? r.dst : `${r.dst}/128`)).sort());
  });

  test('IPv6 routes to one prefix from different sources (ip route ... from) are listed apart, each with its source, as ip -j shows them', async () => {
    await ns.addresses.add('eth0', 'fd79::2/64', { nodad: true });
    await ip(ns.name, '-6', 'route', 'add', '2001:db8:5::/64', 'from', '2001:db8::/48', 'dev', 'eth0');
    await ip(ns.name, '-6', 'route', 'add', '2001:db8:5::/64', 'dev', 'eth0', 'metric', '9');
    const theirs = (await ipj<any[]>(ns.name, '-6', 'route', 'show')).filter((r) => r.dst === '2001:db8:5::/64').map((r) => r.from ?? null);
    const mine = (await ns.routes.list({ family: 6 })).filter((r) => r.dst === '2001:db8:5::/64').map((r) => r.src ?? null);
    expect(mine.sort()).toEqual(theirs.sort());
    expect(mine).toContain('2001:db8::/48');
    expect(mine).toContain(null);
  });

  test('routes in another table, and listing every table', async () => {
    await ns.addresses.add('eth0', '10.80.0.2/24');
    await ns.routes.add({ dst: 'default', gateway: '10.80.0.1', table: 100 });
    expect((await ns.routes.list({ family: 4 })).find((r) => r.dst === 'default')).toBeUndefined();
    expect((await ns.routes.list({ family: 4, table: 100 })).map((r) => r.dst)).toEqual(['default']);
    expect((await ipj<any[]>(ns.name, 'route', 'show', 'table', '100')).map((r) => r.gateway)).toEqual(['10.80.0.1']);
    const all = await ns.routes.list({ table: 'all' });
    expect(all.some((r) => r.table === 255 && r.type === 'local')).toBe(true);
  });

  test('a gateway that is not reachable is ENETUNREACH with the kernel\'s reason', async () => {
    const err = await ns.routes.add({ dst: 'default', gateway: '203.0.113.1' }).catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err.code).toBe('ENETUNREACH');
    expect(err.extack).toBeTruthy();
    expect(err.message).toBe(`RTM_NEWROUTE route default via 203.0.113.1: Network is unreachable (ENETUNREACH): ${err.extack}`);
  });

  test('bad routes are refused with nothing changed', async () => {
    const before = await ipRoutes();
    const bad: any[] = [
      { dst: '10.0.0.0/33', dev: 'eth0' },
      { dst: 'default' },
      { dst: 'default', gateway: 'fd00::1', family: 4 },
      { dst: '10.0.0.0/8', gateway: 'fd00::1' },
      { dst: 'default', gateway: 'x' },
      { dst: 'default', gateway: '10.0.0.1', metric: -1 },
      { dst: 'default', gateway: '10.0.0.1', type: 'bogus' },
      null,
    ];
    for (const spec of bad) {
      const err = await ns.routes.add(spec).catch((e) => e);
      expect(err, JSON.stringify(spec)).toBeInstanceOf(ValidationError);
    }
    expect(await ipRoutes()).toEqual(before);
  });

  test('one batch: link up, address and default route in a single sendmsg', async () => {
    await ns.batch().setUp('eth0').addAddress('eth0', '10.81.0.2/24').addRoute({ dst: 'default', gateway: '10.81.0.1' }).commit();
    expect((await ipRoutes()).find((r) => r.dst === 'default')).toMatchObject({ gateway: '10.81.0.1', dev: 'eth0' });
  });

  test('one batch of 20,000 routes, and one of 20,000 deletions, more answers than the socket holds at once: all applied, as ip sees them', async () => {
    const dsts = Array.from({ length: 20000 }, (_, i) => `10.${100 + Math.floor(i / 250)}.${i % 250}.0/24`);
    const add = ns.batch();
    for (const dst of dsts) add.addRoute({ dst, dev: 'eth0' });
    await add.commit();
    expect((await ipj<any[]>(ns.name, 'route', 'show', 'dev', 'eth0')).map((r) => `${r.dst}`).filter((d) => d.startsWith('10.')).sort()).toEqual([...dsts].sort());
    const del = ns.batch();
    for (const dst of dsts) del.deleteRoute({ dst, dev: 'eth0' });
    await del.commit();
    expect(await ipj<any[]>(ns.name, 'route', 'show', 'dev', 'eth0')).toEqual([]);
  });
});

describe('neighbours', () => {
  const ipNeigh = async () =>
    (await ipj<any[]>(ns.name, 'neigh', 'show', 'dev', 'eth0')).map((n) => ({ dst: n.dst, lladdr: n.lladdr, state: n.state })).sort((a, b) => a.dst.localeCompare(b.dst));

  test('permanent IPv4 and IPv6 entries: add, replace, list and delete agree with ip -j neigh', async () => {
    await ns.batch()
      .addNeighbour({ dst: '169.254.1.1', dev: 'eth0', lladdr: 'ee:ee:ee:ee:ee:ee' })
      .addNeighbour({ dst: 'fe80::1', dev: 'eth0', lladdr: 'ee:ee:ee:ee:ee:ee' })
      .commit();
    expect(await ipNeigh()).toEqual([
      { dst: '169.254.1.1', lladdr: 'ee:ee:ee:ee:ee:ee', state: ['PERMANENT'] },
      { dst: 'fe80::1', lladdr: 'ee:ee:ee:ee:ee:ee', state: ['PERMANENT'] },
    ]);
    const eth0 = (await ns.links.get('eth0')).ifindex;
    // `ip neigh show` leaves out NOARP entries (the multicast ones IPv6 makes for MLD when the link comes up, in its own time): so does the comparison.
    const mine = (await ns.neighbours.list()).filter((n) => n.ifindex === eth0 && !n.state.includes('NOARP')).map((n) => ({ dst: n.dst, lladdr: n.lladdr, state: n.state }));
    expect(mine.sort((a, b) => a.dst.localeCompare(b.dst))).toEqual(await ipNeigh());
    expect((await ns.neighbours.list({ family: 6 })).every((n) => n.family === 6)).toBe(true);
    const dup = await ns.neighbours.add({ dst: '169.254.1.1', dev: 'eth0', lladdr: '02:00:00:00:00:01' }).catch((e) => e);
    expect(dup).toMatchObject({ code: 'EEXIST', op: 'RTM_NEWNEIGH' });
    await ns.neighbours.replace({ dst: '169.254.1.1', dev: 'eth0', lladdr: '02:00:00:00:00:01' });
    expect((await ipNeigh())[0]).toMatchObject({ dst: '169.254.1.1', lladdr: '02:00:00:00:00:01' });
    await ns.neighbours.delete({ dst: '169.254.1.1', dev: 'eth0' });
    await ns.neighbours.delete({ dst: 'fe80::1', dev: 'eth0' });
    expect(await ipNeigh()).toEqual([]);
  });

  test('bad neighbours are refused before the kernel: no address, no lladdr, a state the kernel has no name for', async () => {
    for (const spec of [
      { dst: 'x', dev: 'eth0', lladdr: 'ee:ee:ee:ee:ee:ee' },
      { dst: '10.0.0.1', dev: 'eth0' },
      { dst: '10.0.0.1', dev: 'eth0', lladdr: 'zz' },
      { dst: '10.0.0.1', dev: 'eth0', lladdr: 'ee:ee:ee:ee:ee:ee', state: 'toString' },
    ] as any[])
      expect(() => ns.batch().addNeighbour(spec), JSON.stringify(spec)).toThrow(ValidationError);
    expect(await ipNeigh()).toEqual([]);
  });
});

describe('IPv4 link settings in the request', () => {
  test('ipv4Conf sets net.ipv4.conf.<dev>.* with no /proc write, beside addrGenMode', async () => {
    await ns.links.setDown('eth0');
    await ns.batch().setLink('eth0', { addrGenMode: 'none', ipv4Conf: { route_localnet: 1, proxy_arp: 1 } }).setUp('eth0').commit();
    expect((await ns.sysctl('net.ipv4.conf.eth0.route_localnet')).trim()).toBe('1');
    expect((await ns.sysctl('net.ipv4.conf.eth0.proxy_arp')).trim()).toBe('1');
    expect((await ipj<any[]>(ns.name, '-d', 'link', 'show', 'eth0'))[0].inet6_addr_gen_mode).toBe('none');
    await ns.links.set('eth0', { ipv4Conf: { proxy_arp: 0 } });
    expect((await ns.sysctl('net.ipv4.conf.eth0.proxy_arp')).trim()).toBe('0');
    expect(() => ns.batch().setLink('eth0', { ipv4Conf: { bogus: 1 } as any })).toThrow(ValidationError);
    expect(() => ns.batch().setLink('eth0', { ipv4Conf: { rp_filter: -1 } })).toThrow(ValidationError);
  });
});

describe('sysctls in a batch', () => {
  test('a batch writes a sysctl between its requests: IPv6 turned off on a new veth before it comes up leaves it no IPv6 route at all', async () => {
    await ns.batch()
      .addVeth({ name: 'v6off', peer: { name: 'v6offp' } })
      .sysctl('net.ipv6.conf.v6off.disable_ipv6', 1)
      .setUp('v6off')
      .setUp('v6offp')
      .commit();
    expect((await ns.sysctl('net.ipv6.conf.v6off.disable_ipv6')).trim()).toBe('1');
    const v6 = (await ipj<any[]>(ns.name, '-6', 'route', 'show', 'table', 'all')).filter((r) => r.dev === 'v6off');
    expect(v6).toEqual([]);
    expect((await ipj<any[]>(ns.name, '-6', 'route', 'show', 'table', 'all')).some((r) => r.dev === 'v6offp')).toBe(true);
  });

  test('a key the namespace lacks fails that write, names it, and nothing after it is sent', async () => {
    const err = await ns.batch().sysctl('net.ipv6.conf.nosuch0.disable_ipv6', 1).setDown('eth0').commit().catch((e) => e);
    expect(err).toBeInstanceOf(NsnetError);
    expect(err).toMatchObject({ code: 'ENOENT', op: 'sysctl', object: 'sysctl net.ipv6.conf.nosuch0.disable_ipv6' });
    expect((await ns.links.get('eth0')).up).toBe(true);
    expect(() => ns.batch().sysctl('kernel.hostname', 'x')).toThrow(ValidationError);
  });
});
