// IPAM policy against a real SQLite store, without privileges: allocation
// order, static requests, exclusions, exhaustion, and a cost per allocation
// that does not grow with the number of addresses already handed out.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, test } from 'vitest';

import { Pool, pickSubnet } from '../src/ipam/ipam.js';
import { fromBig, toBig } from '../src/ipaddr.js';
import { Prefix } from '../src/ipam/prefix.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { StoreTx } from '../src/store/store.js';

let dir: string;
let store: SqliteStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nsnet-ipam-'));
  store = new SqliteStore(dir);
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const pool = (subnet: string, o: { gateway?: string; ipRange?: string; excluded?: string[]; rangeStart?: string; rangeEnd?: string } = {}) =>
  new Pool(`net/${subnet}`, { gateway: null, ipRange: null, excluded: [], ...o, subnet });

describe('prefix arithmetic', () => {
  test('round-trips IPv4 and IPv6 and prints IPv6 the way ip does', () => {
    for (const a of ['10.0.0.1', '255.255.255.255', '0.0.0.0', 'fd00::1', '2001:db8:0:1:0:0:0:1', 'fe80::', '::']) {
      const b = toBig(a)!;
      expect(toBig(fromBig(b.family, b.n))).toEqual(b);
    }
    expect(fromBig(6, toBig('2001:db8:0:1:0:0:0:1')!.n)).toBe('2001:db8:0:1::1');
    expect(fromBig(6, toBig('2001:0:0:1:0:0:0:1')!.n)).toBe('2001:0:0:1::1');
    expect(Prefix.parse('10.1.0.0/16').overlaps(Prefix.parse('10.1.200.0/24'))).toBe(true);
    expect(Prefix.parse('10.1.0.0/16').overlaps(Prefix.parse('10.2.0.0/16'))).toBe(false);
    expect(() => Prefix.parse('10.1.0.1/16')).toThrow(/host bits/);
  });
});

describe('IPAM', () => {
  test('hands out addresses in order, skipping the gateway, network and broadcast addresses, then reports exhaustion', async () => {
    const p = pool('10.0.0.0/29', { gateway: '10.0.0.1' });
    const got = await store.update((t) => Array.from({ length: 5 }, (_, i) => p.allocate(t, `e${i}`)));
    expect(got).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    await expect(store.update((t) => p.allocate(t, 'more'))).rejects.toMatchObject({ code: 'ERR_NSNET_EXHAUSTED' });
    // A released address is found again after the search wraps around.
    await store.update((t) => t.release(p.key, '10.0.0.4'));
    expect(await store.update((t) => p.allocate(t, 'again'))).toBe('10.0.0.4');
  });

  test('static requests: in the subnet, not the gateway, not taken, and IPv6 alike', async () => {
    const p = pool('10.0.0.0/24', { gateway: '10.0.0.1' });
    expect(await store.update((t) => p.allocate(t, 'a', '10.0.0.50'))).toBe('10.0.0.50');
    await expect(store.update((t) => p.allocate(t, 'b', '10.0.0.50'))).rejects.toMatchObject({ code: 'ERR_NSNET_IN_USE', message: expect.stringContaining('in use by a') });
    await expect(store.update((t) => p.allocate(t, 'b', '10.0.1.5'))).rejects.toMatchObject({ code: 'ERR_NSNET_INVALID', message: expect.stringContaining('outside') });
    await expect(store.update((t) => p.allocate(t, 'b', '10.0.0.1'))).rejects.toMatchObject({ code: 'ERR_NSNET_INVALID', message: expect.stringContaining('gateway') });
    await expect(store.update((t) => p.allocate(t, 'b', '10.0.0.255'))).rejects.toMatchObject({ message: expect.stringContaining('broadcast') });
    const p6 = pool('fd00:1::/64', { gateway: 'fd00:1::1' });
    expect(await store.update((t) => [p6.allocate(t, 'x'), p6.allocate(t, 'y', 'fd00:1::abcd')])).toEqual(['fd00:1::2', 'fd00:1::abcd']);
  });

  test('ip ranges and exclusions narrow what dynamic allocation gives out', async () => {
    const p = pool('10.0.0.0/24', { gateway: '10.0.0.1', ipRange: '10.0.0.128/30', excluded: ['10.0.0.129/32'] });
    const got = await store.update((t) => [p.allocate(t, 'a'), p.allocate(t, 'b'), p.allocate(t, 'c')]);
    expect(got).toEqual(['10.0.0.128', '10.0.0.130', '10.0.0.131']);
    await expect(store.update((t) => p.allocate(t, 'd'))).rejects.toMatchObject({ code: 'ERR_NSNET_EXHAUSTED' });
  });

  test('rangeStart and rangeEnd bound dynamic and static addresses alike, the gateway outside them; exhaustion names them', async () => {
    const p = pool('10.0.0.0/24', { gateway: '10.0.0.1', rangeStart: '10.0.0.254', rangeEnd: '10.0.0.255' });
    // The broadcast address stays out even inside the bounds.
    expect(await store.update((t) => p.allocate(t, 'a'))).toBe('10.0.0.254');
    await expect(store.update((t) => p.allocate(t, 'b'))).rejects.toMatchObject({ code: 'ERR_NSNET_EXHAUSTED', message: 'no free address left in 10.0.0.254-10.0.0.255' });
    await expect(store.update((t) => p.allocate(t, 'b', '10.0.0.20'))).rejects.toMatchObject({ code: 'ERR_NSNET_INVALID', message: expect.stringContaining('outside the range 10.0.0.254-10.0.0.255') });
  });

  test('10,000 allocations on a /16 each probe a constant number of addresses (no scans)', async () => {
    const p = pool('10.1.0.0/16', { gateway: '10.1.0.1' });
    let probes = 0;
    const counting = (t: StoreTx): StoreTx => ({ ...t, allocation: (pool, a) => (probes++, t.allocation(pool, a)) });
    let worst = 0;
    for (let i = 0; i < 10_000; i++) {
      const before = probes;
      await store.update((t) => p.allocate(counting(t), `e${i}`));
      worst = Math.max(worst, probes - before);
    }
    expect(worst).toBe(1);
    // After churn in the middle, the search still starts where it left off.
    await store.update((t) => {
      for (let i = 100; i < 200; i++) t.release(p.key, fromBig(4, toBig('10.1.0.0')!.n + BigInt(i)));
    });
    const before = probes;
    expect(await store.update((t) => p.allocate(counting(t), 'next'))).toBe('10.1.39.18');
    expect(probes - before).toBe(1);
  });

  test('default pools skip what is taken: 172.17-31/16 first, then 192.168/20s', () => {
    expect(String(pickSubnet(4, []))).toBe('172.17.0.0/16');
    expect(String(pickSubnet(4, [Prefix.parse('172.17.5.0/24')]))).toBe('172.18.0.0/16');
    const all172 = Array.from({ length: 15 }, (_, i) => Prefix.parse(`172.${17 + i}.0.0/16`));
    expect(String(pickSubnet(4, [...all172, Prefix.parse('192.168.0.0/24')]))).toBe('192.168.16.0/20');
    expect(pickSubnet(6, []).toString()).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
  });
});
