// The default store: one SQLite file in the state directory (engine.ts says
// which SQLite). WAL mode lets readers run beside a writer; BEGIN IMMEDIATE
// makes writers from several processes take turns, which is what keeps two
// processes from handing out the same address.
//
// Nothing here waits for another process's lock on the JS thread: SQLite
// is told never to wait (busy_timeout 0), and a transaction that finds the
// lock taken is tried again on later turns of the event loop (lockwait.ts).
//
// synchronous=NORMAL: in WAL mode a commit needs no fsync and the file
// cannot be corrupted by a power loss (OFF could). The price is the
// checkpoint every ~1000 WAL pages (~50 sandboxes created and deleted),
// whose fsync runs on the calling thread: 3-7 ms each on this machine's
// disk (bench/README.md says why a worker thread does not take them).
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

import { NsnetError } from '../errors.js';
import { LockWaiter } from './lockwait.js';
import { openEngine, type SqlEngine, type SqlStatement } from './engine.js';
import { DB_FILE, prepareStateDir } from './statedir.js';
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

/** SQLite's words for a file that is not a store, and for one it may not write. */
const DAMAGED = /file is not a database|malformed|not a valid/i;
const READ_ONLY = /readonly|read-only/i;

/** How long a transaction keeps trying for a lock another process holds. */
const LOCK_TIMEOUT_MS = 10_000;

/** SQLITE_BUSY (or one of its extended codes), from either engine: another connection holds the lock. */
const isBusy = (e: unknown) => {
  const err = e as { code?: unknown; errcode?: unknown };
  return (typeof err?.code === 'string' && err.code.startsWith('SQLITE_BUSY')) || (typeof err?.errcode === 'number' && (err.errcode & 0xff) === 5);
};

/** An error of the SQLite engine (node:sqlite's or better-sqlite3's), as opposed to one of the caller's. */
const isSqlite = (e: unknown) => {
  const err = e as { code?: unknown; name?: unknown };
  return err?.code === 'ERR_SQLITE_ERROR' || err?.name === 'SqliteError' || (typeof err?.code === 'string' && err.code.startsWith('SQLITE_'));
};

/**
 * A store failure as one line a user can act on: the file, what is wrong
 * and what to do. Errors of nsnet's own (a clash, bad input) pass as they are.
 */
export function storeError(file: string, op: string, e: unknown): NsnetError {
  if (e instanceof NsnetError) return e;
  let err = e as NodeJS.ErrnoException;
  const text = String(err?.message ?? e);
  const dir = join(file, '..');
  // SQLite says only "unable to open"; the directory says why.
  if (/unable to open/i.test(text)) {
    try {
      accessSync(dir, constants.W_OK);
    } catch (x) {
      err = x as NodeJS.ErrnoException;
    }
  }
  let why: string;
  if (isBusy(e)) why = `another process has held its lock for ${LOCK_TIMEOUT_MS / 1000} s (${text}); is an nsnet process stuck?`;
  else if (err?.code === 'ENOTDIR' || err?.code === 'EEXIST') why = `${dir} is not a directory: give --state-dir (NSNET_STATE_DIR) a directory`;
  else if (err?.code === 'EACCES' || err?.code === 'EPERM') why = `permission denied (${err.code}): nsnet reads and writes its state dir as root; run it with sudo, or give --state-dir a directory it may write`;
  else if (err?.code === 'EROFS' || READ_ONLY.test(text)) why = `${dir} is read-only, and nsnet writes its state there; give --state-dir a writable directory`;
  else if (DAMAGED.test(text)) why = `${text}: it is not an nsnet store, or it is damaged; move it away to start afresh (nsnet then forgets its networks and sandboxes)`;
  else if (/unable to open/i.test(text)) why = `${text}: check that ${dir} exists and nsnet may write it, or give --state-dir another directory`;
  else why = text;
  return new NsnetError(`state store ${file}: ${why}`, { code: 'ERR_NSNET_STORE', op, object: file }, { cause: e });
}

export class SqliteStore implements Store {
  private readonly db: SqlEngine;
  private readonly tx: StoreTx;
  private inTx = false;
  /** Writers wait in turn; readers (in WAL mode, busy only in rare moments) apart from them. */
  private readonly writers = new LockWaiter({ busy: isBusy, timeoutMs: LOCK_TIMEOUT_MS });
  private readonly readers = new LockWaiter({ busy: isBusy, timeoutMs: LOCK_TIMEOUT_MS });
  readonly id: string;

  /** Opens (creating if needed) stateDir/nsnet.db. */
  private readonly file: string;

  constructor(readonly stateDir: string) {
    this.file = join(stateDir, DB_FILE);
    let db: SqlEngine | null = null;
    let id: string | undefined;
    try {
      prepareStateDir(stateDir);
      db = openEngine(this.file);
      const opened = db;
      // Only here, at open, does SQLite wait, and only for what is brief:
      // another process setting up a new store this very moment, or another
      // process's last connection to the file closing, which takes the file
      // for itself to copy the WAL back (with an fsync) and remove it.
      const waitingIfBusy = (fn: () => void) => {
        try {
          fn();
        } catch (e) {
          if (!isBusy(e)) throw e;
          opened.exec(`PRAGMA busy_timeout = ${LOCK_TIMEOUT_MS}`);
          try {
            fn();
          } finally {
            opened.exec('PRAGMA busy_timeout = 0');
          }
        }
      };
      db.exec('PRAGMA busy_timeout = 0');
      waitingIfBusy(() => {
        opened.exec('PRAGMA journal_mode = WAL');
        opened.exec('PRAGMA synchronous = NORMAL');
      });
      const readId = () => opened.prepare("SELECT value FROM meta WHERE key = 'id'").get()?.value as string | undefined;
      // Needs no lock once the schema and the id exist.
      waitingIfBusy(() => {
        opened.exec(SCHEMA);
        // Made once with the store: two processes opening a new store at once agree on the first.
        if (!readId()) opened.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('id', ?)").run(randomBytes(8).toString('hex'));
      });
      waitingIfBusy(() => void (id = readId()));
    } catch (e) {
      db?.close();
      throw storeError(this.file, 'open', e);
    }
    this.db = db;
    this.id = id!;
    this.tx = this.bind();
  }

  /** Which SQLite serves this store. */
  get engine(): SqlEngine['name'] {
    return this.db.name;
  }

  private run<T>(begin: string, fn: (tx: StoreTx) => T): T {
    if (this.inTx) throw new Error('nsnet store: transactions do not nest');
    try {
      this.db.exec(begin);
    } catch (e) {
      if (isBusy(e)) throw e; // the caller tries again (lockwait.ts)
      throw storeError(this.file, begin, e);
    }
    this.inTx = true;
    try {
      const r = fn(this.tx);
      this.db.exec('COMMIT');
      return r;
    } catch (e) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // A failed COMMIT may have rolled back already.
      }
      throw isSqlite(e) && !isBusy(e) ? storeError(this.file, begin === 'BEGIN' ? 'read' : 'write', e) : e;
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
      setNet: p('UPDATE networks SET data = ? WHERE id = ? AND name = ?'),
      delNet: p('DELETE FROM networks WHERE id = ?'),
      ep: p('SELECT data FROM endpoints WHERE id = ?'),
      epByName: p('SELECT data FROM endpoints WHERE network_id = ? AND name = ?'),
      eps: p('SELECT data FROM endpoints ORDER BY rowid'),
      epsNet: p('SELECT data FROM endpoints WHERE network_id = ? ORDER BY rowid'),
      epsSb: p('SELECT data FROM endpoints WHERE sandbox_id = ? ORDER BY rowid'),
      putEp: p('INSERT OR REPLACE INTO endpoints (id, network_id, sandbox_id, name, data) VALUES (?, ?, ?, ?, ?)'),
      setEp: p('UPDATE endpoints SET data = ? WHERE id = ? AND network_id = ? AND sandbox_id IS ? AND name = ?'),
      delEp: p('DELETE FROM endpoints WHERE id = ?'),
      sb: p('SELECT data FROM sandboxes WHERE id = ?'),
      sbByName: p('SELECT data FROM sandboxes WHERE name = ?'),
      sbs: p('SELECT data FROM sandboxes ORDER BY rowid'),
      sbsOwned: p('SELECT data FROM sandboxes WHERE owner_id = ? ORDER BY rowid'),
      putSb: p('INSERT OR REPLACE INTO sandboxes (id, name, owner_id, data) VALUES (?, ?, ?, ?)'),
      setSb: p('UPDATE sandboxes SET data = ? WHERE id = ? AND name = ? AND owner_id IS ?'),
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
    // A row that does not parse stops here, named, rather than as a TypeError somewhere above.
    const row = <T>(table: string, r: Record<string, unknown>): T => {
      let v: unknown;
      try {
        v = JSON.parse(r.data as string);
      } catch (e) {
        throw new NsnetError(`state store ${this.file}: a row of ${table} is not valid JSON (${(e as Error).message}): the store is damaged; move it away to start afresh (nsnet then forgets its networks and sandboxes)`,
          { code: 'ERR_NSNET_STORE', op: 'read', object: this.file }, { cause: e });
      }
      const o = v as { id?: unknown; name?: unknown } | null;
      if (!o || typeof o !== 'object' || typeof o.id !== 'string' || typeof o.name !== 'string')
        throw new NsnetError(`state store ${this.file}: a row of ${table} is not a record nsnet wrote (no id and name): the store is damaged; move it away to start afresh (nsnet then forgets its networks and sandboxes)`,
          { code: 'ERR_NSNET_STORE', op: 'read', object: this.file });
      return v as T;
    };
    const one = <T>(table: string, st: Stmt, ...a: unknown[]): T | null => {
      const r = st.get(...a);
      return r ? row<T>(table, r) : null;
    };
    const all = <T>(table: string, st: Stmt, ...a: unknown[]): T[] => st.all(...a).map((r) => row<T>(table, r));
    // A record whose keys stay is rewritten in place: only its row's page
    // changes, where a REPLACE rewrites every index the row is in (in a
    // micro-benchmark, 1 WAL frame and 15 us a transaction against 5.8 and
    // 41). A new record, or one whose keys change, is a REPLACE as before.
    const rewrite = (set: Stmt, put: Stmt, data: string, ...keys: unknown[]) => {
      if (Number(set.run(data, ...keys).changes) === 0) put.run(...keys, data);
    };
    return {
      network: (k) => one<NetworkRecord>('networks', s.netByName, k) ?? (k.length === 64 ? one<NetworkRecord>('networks', s.netById, k) : null),
      networks: () => all<NetworkRecord>('networks', s.nets),
      putNetwork: (n) => rewrite(s.setNet, s.putNet, JSON.stringify(n), n.id, n.name),
      deleteNetwork: (id) => void s.delNet.run(id),
      endpoint: (id) => one<EndpointRecord>('endpoints', s.ep, id),
      endpointByName: (net, name) => one<EndpointRecord>('endpoints', s.epByName, net, name),
      endpoints: (f) =>
        f?.networkId ? all<EndpointRecord>('endpoints', s.epsNet, f.networkId) : f?.sandboxId ? all<EndpointRecord>('endpoints', s.epsSb, f.sandboxId) : all<EndpointRecord>('endpoints', s.eps),
      putEndpoint: (e) => rewrite(s.setEp, s.putEp, JSON.stringify(e), e.id, e.networkId, e.sandboxId, e.name),
      deleteEndpoint: (id) => void s.delEp.run(id),
      sandbox: (k) => one<SandboxRecord>('sandboxes', s.sbByName, k) ?? (k.length === 64 ? one<SandboxRecord>('sandboxes', s.sb, k) : null),
      sandboxes: (f) => (f?.ownerId ? all<SandboxRecord>('sandboxes', s.sbsOwned, f.ownerId) : all<SandboxRecord>('sandboxes', s.sbs)),
      putSandbox: (x) => rewrite(s.setSb, s.putSb, JSON.stringify(x), x.id, x.name, x.ownerId),
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

  update<T>(fn: (tx: StoreTx) => T): Promise<T> {
    return this.writers.run(() => this.write(fn)).catch((e) => this.fail('write', e));
  }

  view<T>(fn: (tx: StoreTx) => T): Promise<T> {
    return this.readers.run(() => this.read(fn)).catch((e) => this.fail('read', e));
  }

  private fail(op: string, e: unknown): never {
    throw isBusy(e) ? storeError(this.file, op, e) : e;
  }

  close(): void {
    this.db.close();
  }
}
