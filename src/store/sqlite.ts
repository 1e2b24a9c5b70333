// The default store: one SQLite file in the state directory (engine.ts says
// which SQLite). WAL mode lets readers run beside a writer; BEGIN IMMEDIATE
// makes writers from several processes take turns, which is what keeps two
// processes from handing out the same address.
//
// synchronous=NORMAL: in WAL mode a commit needs no fsync and the file
// cannot be corrupted by a power loss (OFF could). The price is the
// checkpoint every ~1000 WAL pages (a few hundred sandboxes), whose fsync
// runs on the calling thread: on this machine's disk up to 14 ms, once.
import { randomBytes } from 'node:crypto';

import { NsnetError } from '../errors.js';
import { openEngine, type SqlEngine, type SqlStatement } from './engine.js';
import { prepareStateDir } from './statedir.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord, Store, StoreTx } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS networks (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS endpoints (id TEXT PRIMARY KEY, network_id TEXT NOT NULL, sandbox_id TEXT, name TEXT NOT NULL, data TEXT NOT NULL,
  UNIQUE (network_id, name));
CREATE INDEX IF NOT EXISTS endpoints_sandbox ON endpoints (sandbox_id);
CREATE TABLE IF NOT EXISTS sandboxes (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, owner_id TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sandboxes_owner ON sandboxes (owner_id);
CREATE TABLE IF NOT EXISTS allocations (pool TEXT NOT NULL, address TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (pool, address)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursors (pool TEXT PRIMARY KEY, address TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
`;

type Stmt = SqlStatement;

export class SqliteStore implements Store {
  private readonly db: SqlEngine;
  private readonly tx: StoreTx;
  private inTx = false;
  readonly id: string;

  /** Opens (creating if needed) stateDir/nsnet.db. */
  constructor(readonly stateDir: string) {
    const file = prepareStateDir(stateDir);
    this.db = openEngine(file);
    let id: string | undefined;
    try {
      // Another process's writer holds the lock for microseconds; wait rather than fail.
      this.db.exec('PRAGMA busy_timeout = 10000');
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec('PRAGMA synchronous = NORMAL');
      this.db.exec(SCHEMA);
      // Made once with the store: two processes opening a new store at once agree on the first.
      this.db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('id', ?)").run(randomBytes(8).toString('hex'));
      id = this.db.prepare("SELECT value FROM meta WHERE key = 'id'").get()?.value as string | undefined;
    } catch (e) {
      this.db.close();
      throw new NsnetError(`state store ${file}: ${(e as Error).message}`, { code: 'ERR_NSNET_STORE', op: 'open', object: file }, { cause: e });
    }
    this.id = id!;
    this.tx = this.bind();
  }

  /** Which SQLite serves this store. */
  get engine(): SqlEngine['name'] {
    return this.db.name;
  }

  private run<T>(begin: string, fn: (tx: StoreTx) => T): T {
    if (this.inTx) throw new Error('nsnet store: transactions do not nest');
    this.db.exec(begin);
    this.inTx = true;
    try {
      const r = fn(this.tx);
      this.db.exec('COMMIT');
      return r;
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    } finally {
      this.inTx = false;
    }
  }

  private write<T>(fn: (tx: StoreTx) => T): T {
    return this.run('BEGIN IMMEDIATE', fn);
  }

  private read<T>(fn: (tx: StoreTx) => T): T {
    return this.run('BEGIN', fn);
  }

  private bind(): StoreTx {
    const p = (sql: string): Stmt => this.db.prepare(sql);
    const s = {
      netById: p('SELECT data FROM networks WHERE id = ?'),
      netByName: p('SELECT data FROM networks WHERE name = ?'),
      nets: p('SELECT data FROM networks ORDER BY name'),
      putNet: p('INSERT OR REPLACE INTO networks (id, name, data) VALUES (?, ?, ?)'),
      delNet: p('DELETE FROM networks WHERE id = ?'),
      ep: p('SELECT data FROM endpoints WHERE id = ?'),
      epByName: p('SELECT data FROM endpoints WHERE network_id = ? AND name = ?'),
      eps: p('SELECT data FROM endpoints ORDER BY rowid'),
      epsNet: p('SELECT data FROM endpoints WHERE network_id = ? ORDER BY rowid'),
      epsSb: p('SELECT data FROM endpoints WHERE sandbox_id = ? ORDER BY rowid'),
      putEp: p('INSERT OR REPLACE INTO endpoints (id, network_id, sandbox_id, name, data) VALUES (?, ?, ?, ?, ?)'),
      delEp: p('DELETE FROM endpoints WHERE id = ?'),
      sb: p('SELECT data FROM sandboxes WHERE id = ?'),
      sbByName: p('SELECT data FROM sandboxes WHERE name = ?'),
      sbs: p('SELECT data FROM sandboxes ORDER BY rowid'),
      sbsOwned: p('SELECT data FROM sandboxes WHERE owner_id = ? ORDER BY rowid'),
      putSb: p('INSERT OR REPLACE INTO sandboxes (id, name, owner_id, data) VALUES (?, ?, ?, ?)'),
      delSb: p('DELETE FROM sandboxes WHERE id = ?'),
      alloc: p('SELECT owner FROM allocations WHERE pool = ? AND address = ?'),
      allocs: p('SELECT address, owner FROM allocations WHERE pool = ?'),
      reserve: p('INSERT INTO allocations (pool, address, owner) VALUES (?, ?, ?)'),
      release: p('DELETE FROM allocations WHERE pool = ? AND address = ?'),
      releasePool: p('DELETE FROM allocations WHERE pool = ?'),
      releaseCursor: p('DELETE FROM cursors WHERE pool = ?'),
      cursor: p('SELECT address FROM cursors WHERE pool = ?'),
      setCursor: p('INSERT OR REPLACE INTO cursors (pool, address) VALUES (?, ?)'),
    };
    const one = <T>(st: Stmt, ...a: unknown[]): T | null => {
      const r = st.get(...a);
      return r ? (JSON.parse(r.data as string) as T) : null;
    };
    const all = <T>(st: Stmt, ...a: unknown[]): T[] => st.all(...a).map((r) => JSON.parse(r.data as string) as T);
    return {
      network: (k) => one<NetworkRecord>(s.netByName, k) ?? (k.length === 64 ? one<NetworkRecord>(s.netById, k) : null),
      networks: () => all<NetworkRecord>(s.nets),
      putNetwork: (n) => void s.putNet.run(n.id, n.name, JSON.stringify(n)),
      deleteNetwork: (id) => void s.delNet.run(id),
      endpoint: (id) => one<EndpointRecord>(s.ep, id),
      endpointByName: (net, name) => one<EndpointRecord>(s.epByName, net, name),
      endpoints: (f) =>
        f?.networkId ? all<EndpointRecord>(s.epsNet, f.networkId) : f?.sandboxId ? all<EndpointRecord>(s.epsSb, f.sandboxId) : all<EndpointRecord>(s.eps),
      putEndpoint: (e) => void s.putEp.run(e.id, e.networkId, e.sandboxId, e.name, JSON.stringify(e)),
      deleteEndpoint: (id) => void s.delEp.run(id),
      sandbox: (k) => one<SandboxRecord>(s.sbByName, k) ?? (k.length === 64 ? one<SandboxRecord>(s.sb, k) : null),
      sandboxes: (f) => (f?.ownerId ? all<SandboxRecord>(s.sbsOwned, f.ownerId) : all<SandboxRecord>(s.sbs)),
      putSandbox: (x) => void s.putSb.run(x.id, x.name, x.ownerId, JSON.stringify(x)),
      deleteSandbox: (id) => void s.delSb.run(id),
      allocation: (pool, a) => (s.alloc.get(pool, a)?.owner as string | undefined) ?? null,
      allocations: (pool) => s.allocs.all(pool).map((r) => ({ address: r.address as string, owner: r.owner as string })),
      reserve: (pool, a, owner) => void s.reserve.run(pool, a, owner),
      release: (pool, a) => void s.release.run(pool, a),
      releasePool: (pool) => {
        s.releasePool.run(pool);
        s.releaseCursor.run(pool);
      },
      cursor: (pool) => (s.cursor.get(pool)?.address as string | undefined) ?? null,
      setCursor: (pool, a) => void (a === null ? s.releaseCursor.run(pool) : s.setCursor.run(pool, a)),
    };
  }

  async update<T>(fn: (tx: StoreTx) => T): Promise<T> {
    return this.write(fn);
  }

  async view<T>(fn: (tx: StoreTx) => T): Promise<T> {
    return this.read(fn);
  }

  close(): void {
    this.db.close();
  }
}
