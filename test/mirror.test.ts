// The live mirror against `ip -j` as the oracle: after its first listing,
// after a forced overflow (a tiny socket buffer and a burst of thousands of
// changes), and after the kernel's silent IPv4 route flushes.
import { spawnSync } from 'node:child_process';

import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { mirror, Netns, type Mirror } from '../src/index.js';
import { ip, ipj, uniq } from './helpers.js';

let ns: Netns;
let m: Mirror | null = null;
beforeEach(async () => {
  ns = await Netns.create(uniq('mr'));
});
afterEach(async () => {
  m?.close();
  m = null;
  await ns.delete();
});

const TABLE: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };
const hostDst = (d: string) => d.replace(/\/(32|128)$/, '');

/** links, addresses and routes (all tables, both families) as `ip -j` sees them. */
async function oracle(n: string) {
  const links = await ipj<any[]>(n, 'link', 'show');
  const names = new Map(links.map((l) => [l.ifindex, l.ifname]));
  const routes = [
    ...(await ipj<any[]>(n, '-4', 'route', 'show', 'table', 'all')).map((r) => ({ ...r, fam: 4 })),
    ...(await ipj<any[]>(n, '-6', 'route', 'show', 'table', 'all')).map((r) => ({ ...r, fam: 6 })),
  ];
  return {
    links: links.map((l) => `${l.ifindex} ${l.ifname} ${l.mtu} ${l.address}`).sort(),
    addresses: links.flatMap((l) => (l.addr_info ?? []).map((a: any) => `${l.ifindex} ${a.local}/${a.prefixlen}`)).sort(),
    addrsOf: async () => (await ipj<any[]>(n, 'addr', 'show')).flatMap((l) => l.addr_info.map((a: any) => `${l.ifindex} ${a.local}/${a.prefixlen}`)).sort(),
    routes: routes.map((r) => `${r.fam}|${r.table ?? 'main'}|${r.type ?? 'unicast'}|${r.dst}|${r.gateway ?? ''}|${r.dev ?? ''}|${r.metric ?? ''}`).sort(),
    names,
  };
}

function view(mr: Mirror, names: Map<number, string>) {
  return {
    links: [...mr.links.values()].map((l) => `${l.ifindex} ${l.name} ${l.mtu} ${l.mac}`).sort(),
    addresses: [...mr.addresses.values()].map((a) => `${a.ifindex} ${a.address}/${a.prefixlen}`).sort(),
    routes: [...mr.routes.values()]
      .map((r) => `${r.family}|${TABLE[r.table] ?? r.table}|${r.type}|${hostDst(r.dst)}|${r.gateway ?? ''}|${r.oif ? names.get(r.oif) : ''}|${r.metric ?? ''}`)
      .sort(),
  };
}

async function expectEqual(mr: Mirror) {
  const o = await oracle(ns.name!);
  const mine = view(mr, o.names);
  expect(mine.links).toEqual(o.links);
  expect(mine.addresses).toEqual(await o.addrsOf());
  expect(mine.routes).toEqual(o.routes);
}

/** Resolves once `pred` holds for the mirror (checked after each change). */
function until(mr: Mirror, pred: () => boolean): Promise<void> {
  if (pred()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = mr.onChange(() => {
      if (pred()) (off(), resolve());
    });
  });
}

// A change made last: once the mirror shows it, it has applied (or re-listed) everything before it.
async function sentinel(mr: Mirror, name: string) {
  await ip(ns.name, 'link', 'add', name, 'type', 'bridge');
  await until(mr, () => [...mr.links.values()].some((l) => l.name === name));
}

describe('mirror', () => {
  test('ready: links, addresses and routes of every table equal ip -j', async () => {
    await ns.batch().addBridge({ name: 'mb0', up: true }).addAddress('mb0', '10.81.0.1/24').addAddress('mb0', 'fd81::1/64', { nodad: true })
      .addRoute({ dst: '10.82.0.0/16', gateway: '10.81.0.254' }).commit();
    m = mirror(ns);
    await m.ready;
    await expectEqual(m);
  });

  test('a forced overflow (tiny buffer, thousands of changes) gives resync and a dump, and the mirror ends exactly equal to ip -j', async () => {
    await ns.batch().addBridge({ name: 'mb1', up: true }).addAddress('mb1', '10.83.0.1/16').commit();
    // A small queue that JS cannot drain while the burst runs (the burst is
    // run synchronously, so the JS thread pulls nothing): the watch thread
    // stops reading at the queue's limit and the kernel must drop, whatever
    // the machine's speed.
    m = mirror(ns, { rcvbuf: 2048, queueLimit: 64 });
    await m.ready;
    const resyncs: string[] = [];
    m.on('resync', (why: string) => resyncs.push(why));
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) lines.push(`addr add 10.83.${(i >> 8) + 1}.${i & 255}/32 dev mb1`);
    for (let i = 0; i < 1000; i++) lines.push(`route add 10.84.${i >> 8}.${i & 255}/32 via 10.83.0.254`);
    for (let i = 0; i < 1000; i += 2) lines.push(`addr del 10.83.${(i >> 8) + 1}.${i & 255}/32 dev mb1`);
    const r = spawnSync('ip', ['-n', ns.name!, '-force', '-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'inherit'] });
    expect(r.status).toBe(0);
    await sentinel(m, 'mbs1');
    expect(resyncs.length).toBeGreaterThan(0);
    expect(resyncs[0]).toBe('overflow');
    expect(m.resyncs).toBe(resyncs.length);
    await expectEqual(m);
    expect(m.addresses.size).toBeGreaterThan(1500);
  });

  test('routes the kernel flushes without RTM_DELROUTE (address removed, its last IPv4 address gone, link down) leave the mirror too', async () => {
    await ns.batch().addBridge({ name: 'mb2', up: true }).addAddress('mb2', '10.85.0.1/24').addAddress('mb2', '10.86.0.1/24')
      .addRoute({ dst: '10.87.0.0/16', gateway: '10.85.0.254' })
      .addRoute({ dst: '10.88.0.0/16', dev: 'mb2', prefsrc: '10.86.0.1' }).commit();
    await ns.batch().addBridge({ name: 'mb3', up: true }).addAddress('mb3', '10.89.0.1/24').addRoute({ dst: '10.90.0.0/16', gateway: '10.89.0.254' }).commit();
    m = mirror(ns);
    await m.ready;
    const has = (dst: string) => [...m!.routes.values()].some((r) => r.dst === dst);
    expect(has('10.88.0.0/16') && has('10.87.0.0/16') && has('10.90.0.0/16')).toBe(true);

    // Its preferred source goes: the route goes, silently.
    await ip(ns.name, 'addr', 'del', '10.86.0.1/24', 'dev', 'mb2');
    await sentinel(m, 'mbs2');
    expect(has('10.88.0.0/16')).toBe(false);
    await expectEqual(m);

    // The link's last IPv4 address goes: every IPv4 route through it goes.
    await ip(ns.name, 'addr', 'del', '10.85.0.1/24', 'dev', 'mb2');
    await sentinel(m, 'mbs3');
    expect(has('10.87.0.0/16')).toBe(false);
    await expectEqual(m);

    // The link goes down: its IPv4 routes go, its local ones stay.
    await ip(ns.name, 'link', 'set', 'mb3', 'down');
    await sentinel(m, 'mbs4');
    expect(has('10.90.0.0/16')).toBe(false);
    await expectEqual(m);
  });

  test('change callbacks report new and del for what changes after ready', async () => {
    m = mirror(ns);
    await m.ready;
    const changes: string[] = [];
    m.onChange((c) => changes.push(`${c.kind} ${c.action} ${c.kind === 'link' ? c.link.name : c.kind === 'address' ? c.address.cidr : c.route.dst}`));
    await ns.links.addBridge({ name: 'mb4', up: true });
    await ns.addresses.add('mb4', '10.91.0.1/24');
    await ns.links.delete('mb4');
    await sentinel(m, 'mbs5');
    expect(changes).toContain('link new mb4');
    expect(changes).toContain('address new 10.91.0.1/24');
    expect(changes).toContain('route new 10.91.0.0/24');
    expect(changes).toContain('address del 10.91.0.1/24');
    expect(changes).toContain('link del mb4');
    expect(changes.indexOf('link new mb4')).toBeLessThan(changes.indexOf('link del mb4'));
    await expectEqual(m);
  });
});
