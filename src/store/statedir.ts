// The state directory and the store's files are nsnet's alone: the store
// names every network, sandbox and address of the host, and whoever can
// write it can make nsnet create or delete kernel objects as root. So the
// directory is 0700 and the database with its WAL and shared-memory files
// 0600, whatever the umask or a directory made earlier said. A directory
// that is not nsnet's to tighten (someone else's, or one holding other
// files, as /tmp) is refused rather than changed.
import { chmodSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { NsnetError } from '../errors.js';

export const DB_FILE = 'nsnet.db';
/** The global store the daemon of this state dir uses, recorded for the commands run beside it. */
export const GLOBAL_FILE = 'global-store';
/** The lock files the processes of the store share (filelock.ts). */
export const LOCK_DIR = 'locks';
const STORE_FILES = new Set([DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`, `${DB_FILE}-journal`, GLOBAL_FILE, LOCK_DIR]);

function refuse(dir: string, why: string): never {
  throw new NsnetError(`state dir ${dir}: ${why}`, { code: 'ERR_NSNET_STORE', op: 'open', object: dir });
}

/**
 * Makes or tightens the state dir and the store's files; returns the
 * database's path. What the file system refuses (not a directory,
 * read-only, no permission) is thrown as it is, for storeError to explain.
 */
export function prepareStateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((st.mode & 0o777) !== 0o700) {
    if (typeof process.getuid === 'function' && st.uid !== process.getuid())
      refuse(dir, `belongs to uid ${st.uid} and is mode ${(st.mode & 0o777).toString(8)}: nsnet keeps its store only in a directory of its own, mode 0700`);
    const others = readdirSync(dir).filter((f) => !STORE_FILES.has(f));
    if (others.length)
      refuse(dir, `is mode ${(st.mode & 0o777).toString(8)} and holds files that are not nsnet's (${others.slice(0, 3).join(', ')}): nsnet keeps its store only in a directory of its own (mode 0700), and will not change this one`);
    chmodSync(dir, 0o700);
  }
  const db = join(dir, DB_FILE);
  // Made before SQLite opens it (SQLite would follow the umask); SQLite
  // gives the WAL and shared-memory files the database's mode.
  closeSync(openSync(db, 'a', 0o600));
  for (const f of STORE_FILES) {
    const p = join(dir, f);
    const mode = f === LOCK_DIR ? 0o700 : 0o600;
    try {
      if ((statSync(p).mode & 0o777) !== mode) chmodSync(p, mode);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return db;
}

/** Records (or, with null, forgets) the global store of a state dir's daemon. */
export function recordGlobalStore(dir: string, url: string | null): void {
  writeFileSync(join(dir, GLOBAL_FILE), url ? `${url}\n` : '', { mode: 0o600 });
}

/** The global store a state dir's daemon recorded, or undefined. */
export function recordedGlobalStore(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, GLOBAL_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
