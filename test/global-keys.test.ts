// The global store's key layout and URL, and the replay of a local
// transaction, without etcd or privileges.
import { describe, expect, test } from 'vitest';

import { Keys, malformed, parseStoreUrl } from '../src/store/global/keys.js';
import { Recording, Stale } from '../src/store/replay.js';
import type { StoreTx } from '../src/store/store.js';

const id = 'a'.repeat(64);

describe('global keys', () => {
  test('a store URL gives the client URLs and the prefix; anything else is refused', () => {
    expect(parseStoreUrl('etcd://10.0.0.1:2379')).toEqual({ hosts: ['http://10.0.0.1:2379'], prefix: '/nsnet' });
    expect(parseStoreUrl('etcd://a:1,b:2/x/y/')).toEqual({ hosts: ['http://a:1', 'http://b:2'], prefix: '/x/y' });
    expect(parseStoreUrl('etcd://[fd00::1]:2379')).toEqual({ hosts: ['http://[fd00::1]:2379'], prefix: '/nsnet' });
    for (const bad of ['etcd:/x', 'etcd://host', 'redis://a:1', 'etcd://a:1/x y', 42]) expect(() => parseStoreUrl(bad)).toThrow(/globalStore/);
  });

  test('keys are laid out under <prefix>/v1/, and a key says what it holds', () => {
    const k = new Keys('/nsnet');
    expect(k.pool(id, '10.0.0.0/24')).toBe(`/nsnet/v1/addresses/${id}/10.0.0.0_24/`);
    expect(k.kind(k.pool(id, '10.0.0.0/24') + '10.0.0.7')).toBe('address');
    expect(k.kind(k.endpoint(id, id))).toBe('endpoint');
    expect(k.kind(k.host('0123456789abcdef'))).toBe('host');
    expect(k.kind('/nsnet/v1/other/x')).toBeNull();
    expect(k.kind('/nsnet/v2/networks/x')).toBeNull();
  });

  test('a value nsnet did not write is named for what is wrong with it', () => {
    expect(malformed('name', '/p/v1/names/x', id)).toBeNull();
    expect(malformed('name', '/p/v1/names/x', 'zz')).toMatch(/not an nsnet id/);
    expect(malformed('network', `/p/v1/networks/${id}`, '{')).toMatch(/not JSON/);
    expect(malformed('network', `/p/v1/networks/${id}`, JSON.stringify({ id: 'b'.repeat(64), name: 'n' }))).toMatch(/not its key's/);
    expect(malformed('network', `/p/v1/networks/${id}`, JSON.stringify({ id, name: 'n', scope: 'local' }))).toMatch(/global network record/);
    const ep = { id, name: 'e', host: '0123456789abcdef', networkId: id, addresses: [], mac: '02:00:00:00:00:01' };
    expect(malformed('endpoint', `/p/v1/endpoints/${id}/${id}`, JSON.stringify(ep))).toBeNull();
    expect(malformed('endpoint', `/p/v1/endpoints/${id}/${id}`, JSON.stringify({ ...ep, mac: 'x' }))).toMatch(/endpoint record/);
    expect(malformed('host', '/p/v1/hosts/0123456789abcdef', JSON.stringify({ id: '0123456789abcdef', name: 'h', address: '10.0.0.1', vtepMac: '02:00:00:00:00:01' }))).toBeNull();
  });
});

describe('local replay', () => {
  /** A store of one table, enough to replay against. */
  const table = (rows: Map<string, string>) =>
    ({ cursor: (p: string) => rows.get(p) ?? null, setCursor: (p: string, a: string | null) => void (a === null ? rows.delete(p) : rows.set(p, a)) }) as unknown as StoreTx;

  test('a recorded transaction is done again exactly when what it read is unchanged, and refused (Stale) when it changed', () => {
    const rows = new Map([['p', '10.0.0.1']]);
    const rec = new Recording();
    const t = rec.wrap(table(new Map(rows)));
    if (t.cursor('p') === '10.0.0.1') t.setCursor('p', '10.0.0.2');
    expect(rec.writes).toBe(1);
    rec.replay(table(rows));
    expect(rows.get('p')).toBe('10.0.0.2');
    const moved = new Map([['p', '10.0.0.9']]);
    expect(() => rec.replay(table(moved))).toThrow(Stale);
    expect(moved.get('p')).toBe('10.0.0.9');
  });
});
