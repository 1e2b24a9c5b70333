// The SQLite store on each engine this Node has (node:sqlite from 22.13,
// better-sqlite3 on 20): transactions commit or roll back whole, and
// reads see the same records that were written.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { SqliteStore } from '../src/store/sqlite.js';
import type { NetworkRecord } from '../src/store/store.js';

const require = createRequire(import.meta.url);
// Available means it opens a database here: better-sqlite3's binary is built for one Node ABI.
const has = (m: string) => {
  try {
    const mod = require(m);
    if (m === 'better-sqlite3') new mod(':memory:').close();
    return true;
  } catch {
    return false;
  }
};
const engines = [
  ['node', has('node:sqlite')],
  ['better-sqlite3', has('better-sqlite3')],
] as const;

const net = (name: string): NetworkRecord => ({
  id: name.padEnd(64, '0'), name, driver: 'bridge', scope: 'local', internal: false, ipv6: false,
  subnets: [], labels: {}, options: {}, driverState: {}, created: '2026-01-01T00:00:00Z',
});

describe.each(engines)('store on %s', (engine, available) => {
  test.skipIf(!available)('a throw rolls the whole transaction back; a commit is seen by a second store on the same file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsnet-store-'));
    const before = process.env.NSNET_SQLITE;
    process.env.NSNET_SQLITE = engine;
    try {
      const a = new SqliteStore(dir);
      expect(a.engine).toBe(engine === 'node' ? 'node:sqlite' : 'better-sqlite3');
      await a.update((t) => {
        t.putNetwork(net('one'));
        t.reserve('p', '10.0.0.2', 'x');
        t.setCursor('p', '10.0.0.2');
      });
      await expect(
        a.update((t) => {
          t.putNetwork(net('two'));
          t.reserve('p', '10.0.0.3', 'y');
          t.reserve('p', '10.0.0.2', 'z'); // taken: the constraint fails the transaction
        }),
      ).rejects.toThrow();
      const b = new SqliteStore(dir);
      expect(await b.view((t) => [t.networks().map((n) => n.name), t.allocations('p'), t.cursor('p'), t.network('one')?.id])).toEqual([
        ['one'], [{ address: '10.0.0.2', owner: 'x' }], '10.0.0.2', net('one').id,
      ]);
      a.close();
      b.close();
    } finally {
      if (before === undefined) delete process.env.NSNET_SQLITE;
      else process.env.NSNET_SQLITE = before;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
