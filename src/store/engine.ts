// The SQLite engine under SqliteStore. Node 22.13+ ships one (node:sqlite);
// Node 20 does not, so there better-sqlite3 (12.x) serves. better-sqlite3
// 12.x is also what aborts Node 24 at exit (its statements' destructors run
// after the environment is gone), another reason to prefer the built-in one
// where it exists. NSNET_SQLITE=better-sqlite3|node picks one explicitly.
import { createRequire } from 'node:module';

import { NsnetError } from '../errors.js';

export interface SqlStatement {
  get(...params: unknown[]): Record<string, unknown> | undefined;
  all(...params: unknown[]): Record<string, unknown>[];
  /** changes: the rows it inserted, updated or deleted (both engines report it). */
  run(...params: unknown[]): { changes: number | bigint };
}

export interface SqlEngine {
  readonly name: 'node:sqlite' | 'better-sqlite3';
  prepare(sql: string): SqlStatement;
  exec(sql: string): void;
  close(): void;
}

const require = createRequire(import.meta.url);

function nodeSqlite(): ((file: string) => SqlEngine) | null {
  // Loading it prints an ExperimentalWarning on some versions; nsnet's users
  // did not ask for SQLite, so that one warning is kept out of their stderr.
  const emit = process.emitWarning;
  process.emitWarning = ((w: string | Error, ...rest: unknown[]) => {
    if (String((w as Error)?.message ?? w).includes('SQLite is an experimental feature')) return;
    (emit as (...a: unknown[]) => void).call(process, w, ...rest);
  }) as typeof process.emitWarning;
  try {
    // Typed by hand: @types/node 20 does not know node:sqlite.
    const { DatabaseSync } = require('node:sqlite') as {
      DatabaseSync: new (file: string) => { prepare(sql: string): unknown; exec(sql: string): void; close(): void; readonly isOpen: boolean };
    };
    return (file) => {
      const db = new DatabaseSync(file);
      return {
        name: 'node:sqlite',
        prepare: (sql) => db.prepare(sql) as unknown as SqlStatement,
        exec: (sql) => db.exec(sql),
        close: () => {
          if (db.isOpen) db.close();
        },
      };
    };
  } catch {
    return null;
  } finally {
    process.emitWarning = emit;
  }
}

function betterSqlite(): ((file: string) => SqlEngine) | null {
  let Database: typeof import('better-sqlite3');
  try {
    Database = require('better-sqlite3') as typeof import('better-sqlite3');
  } catch {
    return null;
  }
  return (file) => {
    const db = new Database(file);
    return {
      name: 'better-sqlite3',
      prepare: (sql) => db.prepare(sql) as unknown as SqlStatement,
      exec: (sql) => void db.exec(sql),
      close: () => {
        if (db.open) db.close();
      },
    };
  };
}

export function openEngine(file: string): SqlEngine {
  const want = process.env.NSNET_SQLITE;
  const make = want === 'better-sqlite3' ? betterSqlite() : want === 'node' ? nodeSqlite() : (nodeSqlite() ?? betterSqlite());
  if (!make) {
    throw new NsnetError(
      `state store ${file}: no SQLite engine: this Node has no node:sqlite (it came in 22.13) and better-sqlite3 is not installed`,
      { code: 'ERR_NSNET_STORE', op: 'open', object: file },
    );
  }
  return make(file);
}
