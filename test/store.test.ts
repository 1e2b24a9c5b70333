// The SQLite store on each engine this Node has (node:sqlite from 22.13,
// better-sqlite3 on 20): transactions commit or roll back whole, and
// reads see the same records that were written.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { NsnetError } from '../src/errors.js';
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

/** Runs fn against a fresh state dir with NSNET_SQLITE set to engine; puts both back after. */
async function onEngine(engine: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nsnet-store-'));
  const before = process.env.NSNET_SQLITE;
  process.env.NSNET_SQLITE = engine;
  try {
    await fn(dir);
  } finally {
    if (before === undefined) delete process.env.NSNET_SQLITE;
    else process.env.NSNET_SQLITE = before;
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.each(engines)('store on %s', (engine, available) => {
  test.skipIf(!available)('a throw rolls the whole transaction back; a commit is seen by a second store on the same file', async () => {
    await onEngine(engine, async (dir) => {
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
    });
  });

  test.skipIf(!available)('a record rewritten with its keys kept keeps its place and has its new data; one whose keys change is found by the new keys only, and a name another record holds still takes it over', async () => {
    await onEngine(engine, async (dir) => {
      const st = new SqliteStore(dir);
      const ep = (id: string, name: string, sandboxId: string | null, mac: string | null = null) => ({
        id: id.padEnd(64, '0'), name, networkId: net('one').id, sandboxId, ifname: null, hostIfname: null, mac, addresses: [], gatewayEndpoint: false,
      }) as never;
      await st.update((t) => {
        t.putNetwork(net('one'));
        for (const n of ['a', 'b', 'c']) t.putEndpoint(ep(n, `ep-${n}`, null));
      });
      // In place: same keys, new data; the order of rows stays.
      await st.update((t) => t.putEndpoint(ep('a', 'ep-a', null, '02:00:00:00:00:01')));
      await st.update((t) => t.putNetwork({ ...net('one'), labels: { k: 'v' } }));
      expect(await st.view((t) => [t.endpoints().map((e) => e.name), t.endpoint('a'.padEnd(64, '0'))?.mac, t.network('one')?.labels])).toEqual([
        ['ep-a', 'ep-b', 'ep-c'], '02:00:00:00:00:01', { k: 'v' },
      ]);
      // A key changes (joined to a sandbox, renamed): the indexes follow.
      await st.update((t) => t.putEndpoint(ep('b', 'ep-b2', 's'.padEnd(64, '0'))));
      expect(await st.view((t) => [t.endpointByName(net('one').id, 'ep-b'), t.endpointByName(net('one').id, 'ep-b2')?.id, t.endpoints({ sandboxId: 's'.padEnd(64, '0') }).map((e) => e.name)])).toEqual([
        null, 'b'.padEnd(64, '0'), ['ep-b2'],
      ]);
      // A name another record holds: the new one replaces it, as before.
      await st.update((t) => t.putEndpoint(ep('d', 'ep-c', null)));
      expect(await st.view((t) => [t.endpoint('c'.padEnd(64, '0')), t.endpointByName(net('one').id, 'ep-c')?.id])).toEqual([null, 'd'.padEnd(64, '0')]);
      st.close();
    });
  });

  test.skipIf(!available)("a store opened while another process's last connection to the file closes (which takes the file for itself to copy the WAL back and remove it) waits for that rather than failing", async () => {
    await onEngine(engine, async (dir) => {
      new SqliteStore(dir).close();
      const file = join(dir, 'nsnet.db');
      // Another process opens the file, writes 1 MB and closes, over and over: each close copies the WAL back.
      const other = spawn(process.execPath, ['--no-warnings', '-e', `
        const open = ${JSON.stringify(engine)} === 'node' ? (f) => new (require('node:sqlite').DatabaseSync)(f) : (f) => new (require(${JSON.stringify(require.resolve('better-sqlite3'))}))(f);
        const end = Date.now() + 2000;
        while (Date.now() < end) {
          const db = open(${JSON.stringify(file)});
          db.exec('PRAGMA busy_timeout = 10000');
          db.exec('CREATE TABLE IF NOT EXISTS other (x TEXT)');
          db.exec('BEGIN IMMEDIATE');
          for (let i = 0; i < 250; i++) db.prepare('INSERT INTO other (x) VALUES (?)').run('x'.repeat(4000));
          db.exec('DELETE FROM other');
          db.exec('COMMIT');
          db.close();
        }`], { stdio: 'inherit' });
      const exited = new Promise<number | null>((r) => other.once('exit', r));
      let opens = 0;
      let running = true;
      void exited.then(() => (running = false));
      try {
        while (running) {
          const s = new SqliteStore(dir);
          expect(await s.view((t) => t.networks())).toEqual([]);
          s.close();
          opens++;
          await new Promise((r) => setImmediate(r));
        }
      } finally {
        if (running) other.kill();
        await exited;
      }
      expect(await exited).toBe(0);
      expect(opens).toBeGreaterThan(10);
    });
  });
});

describe('the state dir is nsnet\'s alone', () => {
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
  const withUmask = <T>(u: number, fn: () => T): T => {
    const old = process.umask(u);
    try {
      return fn();
    } finally {
      process.umask(old);
    }
  };

  test('a new store under umask 000 is a 0700 dir with nsnet.db, -wal and -shm 0600; its id is made once and kept', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'nsnet-perm-'));
    try {
      const dir = join(parent, 'state');
      const s = withUmask(0, () => new SqliteStore(dir));
      await s.update((t) => t.putNetwork(net('one')));
      expect(mode(dir)).toBe('700');
      expect(readdirSync(dir).sort()).toEqual(['nsnet.db', 'nsnet.db-shm', 'nsnet.db-wal']);
      for (const f of readdirSync(dir)) expect([f, mode(join(dir, f))]).toEqual([f, '600']);
      expect(s.id).toMatch(/^[0-9a-f]{16}$/);
      const again = new SqliteStore(dir);
      expect(again.id).toBe(s.id);
      const other = new SqliteStore(join(parent, 'other'));
      expect(other.id).not.toBe(s.id);
      s.close();
      again.close();
      other.close();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  test('an existing 0755 state dir, a 0644 nsnet.db (and its -wal) and a 0755 locks/ are tightened to 0700, 0600 and 0700 (a directory, which must stay searchable)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsnet-perm-'));
    try {
      chmodSync(dir, 0o755);
      writeFileSync(join(dir, 'nsnet.db'), '', { mode: 0o644 });
      writeFileSync(join(dir, 'nsnet.db-wal'), '', { mode: 0o644 });
      chmodSync(join(dir, 'nsnet.db'), 0o644);
      chmodSync(join(dir, 'nsnet.db-wal'), 0o644);
      mkdirSync(join(dir, 'locks'));
      chmodSync(join(dir, 'locks'), 0o755);
      const s = new SqliteStore(dir);
      expect([mode(dir), mode(join(dir, 'nsnet.db')), mode(join(dir, 'nsnet.db-wal')), mode(join(dir, 'locks'))]).toEqual(['700', '600', '600', '700']);
      s.close();
      // Opened again (a second process), the directory keeps its search bit.
      new SqliteStore(dir).close();
      expect(mode(join(dir, 'locks'))).toBe('700');
      s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a 0755 dir that holds other files (as /tmp would) is refused with ERR_NSNET_STORE and left as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsnet-perm-'));
    try {
      chmodSync(dir, 0o755);
      writeFileSync(join(dir, 'notes.txt'), 'mine');
      let err: any;
      try {
        new SqliteStore(dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NsnetError);
      expect(err.code).toBe('ERR_NSNET_STORE');
      expect(err.message).toMatch(/holds files that are not nsnet's \(notes\.txt\)/);
      expect([mode(dir), readdirSync(dir)]).toEqual(['755', ['notes.txt']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a path that is a file is refused with ERR_NSNET_STORE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nsnet-perm-'));
    try {
      writeFileSync(join(dir, 'f'), '');
      expect(() => new SqliteStore(join(dir, 'f'))).toThrow(expect.objectContaining({ code: 'ERR_NSNET_STORE' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
