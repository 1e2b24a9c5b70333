// The global store's transactions against a real etcd at its default
// limit of 128 operations per transaction (--max-txn-ops): work that
// reads or removes more keys than that still goes through.
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { GlobalStore } from '../src/index.js';
import type { ScopedStore } from '../src/store/scoped.js';
import { eventually } from './cnm-helpers.js';
import { uniq } from './helpers.js';
import { cluster, type Cluster } from './overlay-helpers.js';

const MANY = 200;
const newId = () => randomBytes(32).toString('hex');

let k: Cluster;
beforeAll(async () => {
  k = await cluster(1);
});
afterAll(async () => {
  await k?.close();
});

describe('global transactions beyond 128 operations', { timeout: 60_000 }, () => {
  test('a commit that passed over 200 taken addresses and then conflicted fails as a conflict (mirror refreshed), not with etcd\'s "too many operations", and its retry commits', async () => {
    const g = await GlobalStore.open({ url: k.etcd.url, hostId: randomBytes(8).toString('hex'), timeoutMs: 3000 });
    const net = newId();
    const subnet = '10.9.0.0/16';
    const key = (n: number) => g.keys.pool(net, subnet) + `10.9.${n >> 8}.${n & 255}`;
    try {
      await g.register({ address: '192.0.2.1', vtepMac: '02:00:00:00:00:01', ttl: 10, republish: async () => {} });
      const other = newId();
      for (let i = 1; i <= MANY; i += 50) {
        await g.client.kv.txn({ compare: [], success: Array.from({ length: 50 }, (_, j) => ({ request_put: { key: Buffer.from(key(i + j)), value: Buffer.from(other) } })), failure: [] });
      }
      await eventually(async () => expect(g.mirror.entries(g.keys.pool(net, subnet)).length).toBe(MANY));
      const mine = newId();
      // As IPAM searches: every address read, the first free one taken.
      const allocate = () => {
        const t = g.begin();
        let n = 1;
        while (t.allocation(net, subnet, key(n).slice(g.keys.pool(net, subnet).length)) !== null) n++;
        t.reserve(net, subnet, key(n).slice(g.keys.pool(net, subnet).length), mine);
        return { t, n };
      };
      const first = allocate();
      expect(first.n).toBe(MANY + 1);
      expect(first.t.touched.size).toBeGreaterThan(128);
      // Another host takes that address before this commit.
      k.etcd.ctl('put', key(MANY + 1), other);
      const c1 = await g.commit(first.t);
      expect(c1.ok).toBe(false);
      expect(g.mirror.get(key(MANY + 1))?.raw).toBe(other);
      // A refresh of more keys than one transaction may read goes in batches.
      await g.mirror.refresh([...first.t.touched.keys()], [g.keys.pool(net, subnet)]);
      expect(g.mirror.entries(g.keys.pool(net, subnet)).length).toBe(MANY + 1);
      const second = allocate();
      expect(second.n).toBe(MANY + 2);
      expect((await g.commit(second.t)).ok).toBe(true);
      expect(k.etcd.ctl('get', '--print-value-only', key(MANY + 2)).trim()).toBe(mine);
    } finally {
      await g.close({ leave: true });
      k.etcd.ctl('del', '--prefix', g.keys.dir('addresses', net));
    }
  });

  test('reconcile removes 150 endpoints of this host that its local store does not know, with their addresses, from etcd', async () => {
    const h = k.hosts[0]!;
    const g = (h.c.store as ScopedStore).global;
    const net = await h.c.createNetwork(uniq('gtx'), { driver: 'overlay', subnets: ['10.78.0.0/24'] });
    const lease = g.leaseId()!;
    expect(lease).toBeTruthy();
    const ghosts = Array.from({ length: 150 }, (_, i) => ({
      id: newId(), name: `ghost${i}`, networkId: net.id, sandboxId: null, ifname: null, hostIfname: null, mac: null,
      addresses: [`10.78.0.${i + 2}/24`], gatewayEndpoint: false, requested: [], created: new Date().toISOString(), host: g.hostId,
    }));
    for (const e of ghosts) {
      await g.client.kv.txn({ compare: [], success: [
        { request_put: { key: Buffer.from(g.keys.endpoint(net.id, e.id)), value: Buffer.from(JSON.stringify(e)), lease } },
        { request_put: { key: Buffer.from(g.keys.pool(net.id, '10.78.0.0/24') + e.addresses[0]!.split('/')[0]), value: Buffer.from(e.id), lease } },
      ], failure: [] });
    }
    await eventually(async () => expect(g.mirror.entries(g.keys.dir('endpoints', net.id)).length).toBe(150));
    const report = await h.c.reconcile();
    expect(report.errors).toEqual([]);
    expect(report.found.filter((f) => f.includes('in the global store but unknown here')).length).toBe(150);
    const left = (dir: string) => k.etcd.ctl('get', '--prefix', '--keys-only', dir).split('\n').filter(Boolean);
    expect(left(g.keys.dir('endpoints', net.id))).toEqual([]);
    expect(left(g.keys.dir('addresses', net.id))).toEqual([]);
    await net.delete();
  });
});
