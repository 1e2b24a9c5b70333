// Another process holding the store's write lock never stops this one's
// event loop: transactions that find the lock taken wait for it between
// turns of the loop (src/store/lockwait.ts), not inside SQLite's busy handler.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

import { afterEach, beforeEach, expect, test } from 'vitest';

import { createSandbox } from '../src/index.js';
import { world, type World } from './cnm-helpers.js';
import { uniq } from './helpers.js';

const HOLD_MS = 1000;

let w: World;
beforeEach(async () => {
  w = await world('lk');
});
afterEach(async () => {
  await w.cleanup();
});

/** Starts the lock holder; resolves once it holds the lock, with a promise of the time it let go. */
async function holdLock(stateDir: string): Promise<{ released: Promise<number> }> {
  const child = spawn(process.execPath, ['test/fixtures/hold-lock.mjs', stateDir, String(HOLD_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const seen = (what: string) =>
    new Promise<number>((res, rej) => {
      lines.on('line', (l) => l === what && res(performance.now()));
      child.on('exit', (code) => rej(new Error(`lock holder exited (${code}) before "${what}"`)));
    });
  const locked = seen('locked');
  const released = seen('released');
  released.catch(() => {});
  await locked;
  return { released: released.then(async (t) => (await once(child, 'exit'), t)) };
}

test('sandboxes created while another process holds the write lock wait for it with the event loop running, then succeed', async () => {
  const net = await w.c.createNetwork(uniq('lk'), { subnets: ['10.93.0.0/24'] });
  const { released } = await holdLock(w.stateDir);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const done: number[] = [];
  const created = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const sb = await createSandbox(w.c, { name: uniq(`lk${i}`), mode: { network: net.name } });
      done.push(performance.now());
      return sb;
    }),
  );
  loop.disable();
  clearInterval(timer);
  const releasedAt = await released;
  // They waited for the lock: none finished before the holder let go.
  for (const t of done) expect(t).toBeGreaterThanOrEqual(releasedAt);
  // And the loop kept turning meanwhile: a wait inside SQLite would have
  // stopped it for the whole hold (one gap of HOLD_MS, and no ticks).
  console.log(`event loop during a ${HOLD_MS} ms lock wait: max ${(loop.max / 1e6).toFixed(2)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(2)} ms, ${ticks} ticks of a 1 ms timer`);
  expect(ticks).toBeGreaterThan(20);
  expect(loop.max / 1e6).toBeLessThan(HOLD_MS / 4);
  const addrs = await Promise.all(created.map(async (sb) => (await sb.info()).endpoints[0]!.addresses[0]));
  expect(new Set(addrs).size).toBe(3);
  for (const sb of created) await sb.delete();
});

test('a store transaction waiting for the lock keeps its place: writers of one process commit in the order they asked', async () => {
  const { released } = await holdLock(w.stateDir);
  const order: number[] = [];
  const writes = [0, 1, 2, 3].map((i) => w.c.store.update((t) => {
    t.setCursor(`order-${i}`, '10.0.0.1');
    order.push(i);
  }));
  await Promise.all(writes);
  await released;
  expect(order).toEqual([0, 1, 2, 3]);
  await w.c.store.update((t) => [0, 1, 2, 3].forEach((i) => t.setCursor(`order-${i}`, null)));
});
