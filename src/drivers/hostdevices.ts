// Devices on the host that a network's joins share and its last leave
// removes (an overlay network's bridge and VXLAN device), kept whole when
// several joins and leaves come at once, in one process or in several of
// one store (the daemon and a CLI beside it).
//
// In this process, per controller and key: how many joins are under way
// (from their prepareJoin until their trip is done), and one queue that
// makes and removes the devices one at a time. Joins that start at once
// wait for one making instead of racing to make the devices twice (the
// loser's clean-up deleted the winner's); a leave or a failed join does
// not remove devices that a join under way is about to plug into.
//
// Across the store's processes, a lock file in the state dir (flock, so a
// dead process's lock goes with it): a join holds it shared, a removal
// exclusively while it looks whether anything still uses the devices and
// removes them. A making that finds a device another process made
// meanwhile leaves it and looks again (overlay.ts ensureDevices).
import { join } from 'node:path';

import { FileLock } from '../store/filelock.js';
import type { DriverContext } from './driver.js';

interface UnderWay {
  joins: number;
  queue: Promise<unknown> | null;
}

const underWay = new WeakMap<object, Map<string, UnderWay>>();

/** How long a join waits for a removal (a few links deleted), and a removal for joins under way, at most. */
const LOCK_WAIT_MS = 10_000;

function joinsOf(ctx: DriverContext, key: string): UnderWay {
  const owner = ctx.overlay ?? ctx.host;
  let m = underWay.get(owner);
  if (!m) underWay.set(owner, (m = new Map()));
  let u = m.get(key);
  if (!u) m.set(key, (u = { joins: 0, queue: null }));
  return u;
}

const lockFile = (ctx: DriverContext, key: string) => join(ctx.locks!, key);

/** Runs fn after what is queued for the devices in this process (their making and removal, one at a time). */
export async function inTurn<T>(ctx: DriverContext, key: string, fn: () => Promise<T>): Promise<T> {
  const u = joinsOf(ctx, key);
  const before = u.queue;
  const mine = (async () => {
    if (before) await before.catch(() => {});
    return fn();
  })();
  u.queue = mine;
  try {
    return await mine;
  } finally {
    if (u.queue === mine) u.queue = null;
  }
}

/** Holds the devices as a join does (counted here, the lock shared) until the release it returns is called. */
export async function hold(ctx: DriverContext, key: string, what: string): Promise<() => void> {
  const u = joinsOf(ctx, key);
  u.joins++;
  let lock: FileLock | null = null;
  let released = false;
  const release = () => {
    if (!released) {
      u.joins--;
      lock?.release();
    }
    released = true;
  };
  try {
    if (ctx.locks) lock = await FileLock.take(lockFile(ctx, key), false, LOCK_WAIT_MS, what);
  } catch (e) {
    release();
    throw e;
  }
  return release;
}

/** fn while holding the devices as a join does: no process of this store removes them meanwhile. */
export async function holding<T>(ctx: DriverContext, key: string, what: string, fn: () => Promise<T>): Promise<T> {
  const release = await hold(ctx, key, what);
  try {
    return await fn();
  } finally {
    release();
  }
}

/**
 * remove() in its turn (after any making), once no join is under way: in
 * this process (a join that starts meanwhile is counted before it queues),
 * or in another of the store (the lock is then taken exclusively, so what
 * remove() reads of the kernel and the store cannot change under it).
 * remove() says whether it removed them, or null if something still uses
 * them. Removed, the lock file goes too; a join that opened it meanwhile
 * takes the next one's. Resolves with whether they were removed.
 */
export function removeInTurn(ctx: DriverContext, key: string, remove: () => Promise<boolean | null>): Promise<boolean> {
  return inTurn(ctx, key, async () => {
    const u = joinsOf(ctx, key);
    // A join of this process that starts while this waits holds the lock
    // shared, and its making queues behind this: give way to it.
    const joining = () => u.joins > 0;
    if (joining()) return false;
    const lock = ctx.locks ? await FileLock.poll(lockFile(ctx, key), true, LOCK_WAIT_MS, joining) : null;
    if (ctx.locks && !lock) return false;
    try {
      const removed = await remove();
      if (removed !== null) lock?.remove();
      return removed === true;
    } finally {
      lock?.release();
    }
  });
}
