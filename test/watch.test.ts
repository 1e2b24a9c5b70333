// Event streams on the real kernel: every kind of change, made through nsnet
// and behind its back with `ip`, seen in order with the fields `ip -j` shows.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { Controller, Netns, NsnetError, watch, type WatchEvent, type Watcher } from '../src/index.js';
import { ip, ipj, uniq } from './helpers.js';

let ns: Netns;
let w: Watcher | null = null;
beforeEach(async () => {
  ns = await Netns.create(uniq('wt'));
});
afterEach(async () => {
  w?.close();
  w = null;
  await ns.delete();
});

/** Everything the watcher delivers, and a wait for the event that matches. */
function recorder(watcher: Watcher) {
  const seen: WatchEvent[] = [];
  const waits: { pred: (e: WatchEvent) => boolean; resolve: (e: WatchEvent) => void }[] = [];
  watcher.on('event', (e: WatchEvent) => {
    seen.push(e);
    for (const x of [...waits]) if (x.pred(e)) (waits.splice(waits.indexOf(x), 1), x.resolve(e));
  });
  return {
    seen,
    next(pred: (e: WatchEvent) => boolean): Promise<WatchEvent> {
      const hit = seen.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve) => waits.push({ pred, resolve }));
    },
  };
}

const isLink = (action: string, name: string) => (e: WatchEvent) => e.kind === 'link' && e.action === action && e.link.name === name;
const isAddr = (action: string, cidr: string) => (e: WatchEvent) => e.kind === 'address' && e.action === action && e.address.cidr === cidr;
const isRoute = (action: string, dst: string) => (e: WatchEvent) => e.kind === 'route' && e.action === action && e.route.dst === dst;
const isNeigh = (action: string, dst: string) => (e: WatchEvent) => e.kind === 'neighbour' && e.action === action && e.neighbour.dst === dst;

describe('watch', () => {
  test('links made, changed and deleted through nsnet arrive as new, change, del in order, with the fields of ip -j link', async () => {
    w = watch(ns, { links: true });
    const r = recorder(w);
    await w.ready;
    await ns.links.addBridge({ name: 'br7' });
    const created = await r.next(isLink('new', 'br7'));
    const o = (await ipj<any[]>(ns.name, 'link', 'show', 'br7'))[0];
    await ns.links.setMtu('br7', 1400);
    const changed = await r.next((e) => e.kind === 'link' && e.action === 'change' && e.link.mtu === 1400);
    await ns.links.delete('br7');
    const gone = await r.next(isLink('del', 'br7'));
    expect(created.kind === 'link' && created.link).toMatchObject({ ifindex: o.ifindex, name: 'br7', kind: 'bridge', mtu: o.mtu, mac: o.address, up: false });
    expect(changed.kind === 'link' && changed.link.ifindex).toBe(o.ifindex);
    expect(gone.kind === 'link' && gone.link.ifindex).toBe(o.ifindex);
    expect(r.seen.indexOf(created)).toBeLessThan(r.seen.indexOf(changed));
    expect(r.seen.indexOf(changed)).toBeLessThan(r.seen.indexOf(gone));
  });

  test('IPv4 and IPv6 addresses added and deleted through nsnet arrive with the fields of ip -j addr', async () => {
    await ns.links.addBridge({ name: 'br8', up: true });
    w = watch(ns, { addresses: true });
    const r = recorder(w);
    await w.ready;
    await ns.addresses.add('br8', '10.71.0.1/24');
    await ns.addresses.add('br8', 'fd71::1/64', { nodad: true });
    const v4 = await r.next(isAddr('new', '10.71.0.1/24'));
    const v6 = await r.next(isAddr('new', 'fd71::1/64'));
    const o = (await ipj<any[]>(ns.name, 'addr', 'show', 'br8'))[0];
    const o4 = o.addr_info.find((a: any) => a.local === '10.71.0.1');
    const o6 = o.addr_info.find((a: any) => a.local === 'fd71::1');
    expect(v4.kind === 'address' && v4.address).toMatchObject({ ifindex: o.ifindex, family: 4, prefixlen: o4.prefixlen, scope: o4.scope, broadcast: o4.broadcast, label: o4.label });
    expect(v6.kind === 'address' && v6.address).toMatchObject({ ifindex: o.ifindex, family: 6, prefixlen: o6.prefixlen, scope: o6.scope });
    await ns.addresses.delete('br8', '10.71.0.1/24');
    await ns.addresses.delete('br8', 'fd71::1/64');
    const d4 = await r.next(isAddr('del', '10.71.0.1/24'));
    const d6 = await r.next(isAddr('del', 'fd71::1/64'));
    expect(r.seen.indexOf(v4)).toBeLessThan(r.seen.indexOf(d4));
    expect(r.seen.indexOf(v6)).toBeLessThan(r.seen.indexOf(d6));
  });

  test('routes added and deleted through nsnet arrive with the fields of ip -j route', async () => {
    await ns.batch().addBridge({ name: 'br9', up: true }).addAddress('br9', '10.72.0.1/24').commit();
    w = watch(ns, { routes: true });
    const r = recorder(w);
    await w.ready;
    await ns.routes.add({ dst: '10.73.0.0/16', gateway: '10.72.0.254', metric: 50 });
    const added = await r.next(isRoute('new', '10.73.0.0/16'));
    const o = (await ipj<any[]>(ns.name, 'route', 'show', '10.73.0.0/16'))[0];
    const br = await ns.links.get('br9');
    expect(added.kind === 'route' && added.route).toMatchObject({ family: 4, gateway: o.gateway, oif: br.ifindex, metric: o.metric, protocol: o.protocol ?? 'boot', table: 254 });
    expect(o.dev).toBe('br9');
    await ns.routes.delete({ dst: '10.73.0.0/16', gateway: '10.72.0.254', metric: 50 });
    const deleted = await r.next(isRoute('del', '10.73.0.0/16'));
    expect(r.seen.indexOf(added)).toBeLessThan(r.seen.indexOf(deleted));
  });

  test('changes made by ip commands, which nsnet did not make: link, addresses, route, neighbour, in order', async () => {
    w = watch(ns);
    const r = recorder(w);
    await w.ready;
    const n = ns.name!;
    await ip(n, 'link', 'add', 'dm0', 'type', 'bridge');
    await ip(n, 'link', 'set', 'dm0', 'up');
    await ip(n, 'addr', 'add', '10.74.0.1/24', 'dev', 'dm0');
    await ip(n, '-6', 'addr', 'add', 'fd74::1/64', 'dev', 'dm0', 'nodad');
    await ip(n, 'route', 'add', '10.75.0.0/24', 'via', '10.74.0.2');
    await ip(n, 'neigh', 'add', '10.74.0.9', 'lladdr', '02:00:00:00:74:09', 'dev', 'dm0', 'nud', 'permanent');
    const o = (await ipj<any[]>(n, 'link', 'show', 'dm0'))[0];
    const neigh = (await ipj<any[]>(n, 'neigh', 'show', 'dev', 'dm0')).find((x) => x.dst === '10.74.0.9');
    const route = (await ipj<any[]>(n, 'route', 'show', '10.75.0.0/24'))[0];
    const events = [
      await r.next(isLink('new', 'dm0')),
      await r.next((e) => e.kind === 'link' && e.action === 'change' && e.link.name === 'dm0' && e.link.up),
      await r.next(isAddr('new', '10.74.0.1/24')),
      await r.next(isAddr('new', 'fd74::1/64')),
      await r.next(isRoute('new', '10.75.0.0/24')),
      await r.next(isNeigh('new', '10.74.0.9')),
    ];
    const idx = events.map((e) => r.seen.indexOf(e));
    expect(idx).toEqual([...idx].sort((a, b) => a - b));
    const [l, , , , rt, nb] = events;
    expect(l!.kind === 'link' && l!.link).toMatchObject({ ifindex: o.ifindex, kind: 'bridge', mac: o.address, mtu: o.mtu });
    expect(rt!.kind === 'route' && rt!.route).toMatchObject({ gateway: route.gateway, oif: o.ifindex, protocol: route.protocol ?? 'boot' });
    expect(nb!.kind === 'neighbour' && nb!.neighbour).toMatchObject({ family: 4, ifindex: o.ifindex, lladdr: neigh.lladdr, state: neigh.state });

    await ip(n, 'neigh', 'del', '10.74.0.9', 'dev', 'dm0');
    await ip(n, 'route', 'del', '10.75.0.0/24');
    await ip(n, 'addr', 'del', '10.74.0.1/24', 'dev', 'dm0');
    await ip(n, 'link', 'del', 'dm0');
    const dels = [
      await r.next(isNeigh('del', '10.74.0.9')),
      await r.next(isRoute('del', '10.75.0.0/24')),
      await r.next(isAddr('del', '10.74.0.1/24')),
      await r.next(isLink('del', 'dm0')),
    ];
    const didx = dels.map((e) => r.seen.indexOf(e));
    expect(didx).toEqual([...didx].sort((a, b) => a - b));
    expect(didx[0]).toBeGreaterThan(Math.max(...idx));
  });

  test('list: true first lists what exists (resync, one new per object, synced), matching ip -j', async () => {
    await ns.batch().addBridge({ name: 'br10', up: true }).addAddress('br10', '10.76.0.1/24').commit();
    w = watch(ns, { links: true, addresses: true, list: true });
    const r = recorder(w);
    await r.next((e) => e.kind === 'synced');
    expect(r.seen[0]).toEqual({ kind: 'resync', reason: 'initial' });
    const links = r.seen.flatMap((e) => (e.kind === 'link' ? [e.link.name] : []));
    expect(links.sort()).toEqual((await ipj<any[]>(ns.name, 'link', 'show')).map((l) => l.ifname).sort());
    const addrs = r.seen.flatMap((e) => (e.kind === 'address' ? [e.address.cidr] : []));
    const theirs = (await ipj<any[]>(ns.name, 'addr', 'show')).flatMap((l) => l.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`));
    expect(addrs.sort()).toEqual(theirs.sort());
  });

  test('an async iterator yields the events in order and ends when the watcher closes', async () => {
    w = watch(ns, { links: true });
    await w.ready;
    await ns.links.addBridge({ name: 'bra' });
    await ns.links.addBridge({ name: 'brb' });
    const names: string[] = [];
    const it = w;
    setTimeout(() => void ns.links.addBridge({ name: 'brc' }), 0);
    for await (const e of it) {
      if (e.kind === 'link' && e.action === 'new') names.push(e.link.name);
      if (names.length === 3) it.close();
    }
    expect(names).toEqual(['bra', 'brb', 'brc']);
  });

  test('namespaces appearing and disappearing in the run dir, and a controller\'s sandbox lifecycle', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'nsnet-watch-'));
    const c = await Controller.open({ stateDir, host: ns });
    try {
      w = watch(null, { namespaces: true, controller: c });
      const r = recorder(w);
      await w.ready;
      const name = uniq('wn');
      const other = await Netns.create(name);
      await r.next((e) => e.kind === 'netns' && e.action === 'new' && e.name === name);
      await other.delete();
      await r.next((e) => e.kind === 'netns' && e.action === 'del' && e.name === name);
      const sbName = uniq('ws');
      const sb = await c.createSandbox(sbName, {});
      await r.next((e) => e.kind === 'sandbox' && e.action === 'create' && e.name === sbName);
      await sb.delete();
      await r.next((e) => e.kind === 'sandbox' && e.action === 'delete' && e.name === sbName);
    } finally {
      c.close();
      await rm(stateDir, { recursive: true, force: true });
    }
  });

  test('a watch whose open fails rejects ready, and a caller who catches that sees no unhandled rejection nor error event', async () => {
    const gone = await Netns.create();
    await gone.delete(); // a closed handle: the open fails
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const failed = watch(gone, { links: true });
      const err = await failed.ready.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NsnetError);
      // Rejections nobody handled are reported after the microtasks drain.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      failed.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('a watch whose open fails rejects a pending iteration and tells its error listeners', async () => {
    const gone = await Netns.create();
    await gone.delete();
    const failed = watch(gone, { links: true });
    const heard = new Promise<unknown>((resolve) => failed.once('error', resolve));
    const it = failed[Symbol.asyncIterator]();
    const [next, err] = await Promise.all([it.next().catch((e: unknown) => e), heard]);
    expect(next).toBeInstanceOf(NsnetError);
    expect(err).toBe(next);
    await expect(failed.ready).rejects.toBe(err);
    failed.close();
  });

  test('bad options are refused before any socket is opened', () => {
    expect(() => watch(ns, { rcvbuf: -1 })).toThrow(/rcvbuf/);
    expect(() => watch(ns, { queueLimit: 1 })).toThrow(/queueLimit/);
    expect(() => watch(null, { links: true })).toThrow(/netns/);
  });
});
