// Suite (p), the store's lock: another process holds the store's write
// lock for a second while this one creates sandboxes that wait for it. The
// event loop's delay (monitorEventLoopDelay) during the wait is the figure,
// beside the same monitor over a pure-JS loop of the same length (this
// VM's own hiccups): a wait inside SQLite would stop the loop for the whole
// second.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { Controller, createSandbox } from 'nsnet';

export interface LockRun {
  holdMs: number;
  /** How long the creates took, from the lock taken to the last one done. */
  waitedMs: number;
  loop: { maxMs: number; p99Ms: number };
  control: { maxMs: number; p99Ms: number };
}

const HOLDER = fileURLToPath(new URL('../../../test/fixtures/hold-lock.mjs', import.meta.url));

export async function runLock(holdMs = 1000): Promise<LockRun> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-lock-'));
  const c = await Controller.open({ stateDir });
  try {
    await c.createNetwork('bench', { subnets: ['10.200.0.0/16'] });
    await (await createSandbox(c, { name: 'lkwarm', mode: { network: 'bench' } })).delete();
    const holder = spawn(process.execPath, [HOLDER, stateDir, String(holdMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((res) => holder.once('exit', res));
    const lines = createInterface({ input: holder.stdout! });
    await new Promise<void>((res) => lines.once('line', () => res()));
    const mon = monitorEventLoopDelay({ resolution: 1 });
    mon.enable();
    const t0 = performance.now();
    const sbs = await Promise.all([0, 1, 2, 3].map((i) => createSandbox(c, { name: `lk${i}`, mode: { network: 'bench' } })));
    const waitedMs = performance.now() - t0;
    mon.disable();
    for (const sb of sbs) await sb.delete();
    await exited;
    const ctl = monitorEventLoopDelay({ resolution: 1 });
    ctl.enable();
    for (const end = performance.now() + waitedMs; performance.now() < end; ) await new Promise((res) => setImmediate(res));
    ctl.disable();
    const h = (x: ReturnType<typeof monitorEventLoopDelay>) => ({ maxMs: x.max / 1e6, p99Ms: x.percentile(99) / 1e6 });
    return { holdMs, waitedMs, loop: h(mon), control: h(ctl) };
  } finally {
    await c.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
