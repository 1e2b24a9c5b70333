// Suite (o), pools (cnm/pool.ts, netlink/pool.ts): a create from a warm
// pool, through the Controller and through the low-level NetnsPool, each
// timed alone (the pool full before each); and churn, create + delete one
// at a time through the Controller with recycling, against the floor
// creating and releasing a namespace per cycle (floor --churn).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { Batch, Controller, createSandbox, Netns, NetnsPool } from 'nsnet';

import { bridge } from './nsnet.js';

const execFileAsync = promisify(execFile);

export interface PoolCreateRun {
  /** Controller create from a warm pool, ms each. */
  controllerMs: number[];
  /** NetnsPool take + use (rename and the sandbox's batch in one trip), ms each. */
  lowLevelMs: number[];
  hits: number;
  misses: number;
}

export interface ChurnCyclesRun {
  cycles: number;
  perCycleMs: number;
  /** Namespaces the pool took back, and refused (released instead). */
  recycled?: number;
  refused?: number;
}

const addr = (i: number) => `10.200.${(i + 2) >> 8}.${(i + 2) & 255}/16`;

async function withController<T>(pool: number, fn: (c: Controller) => Promise<T>): Promise<T> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-pool-'));
  try {
    const first = await Controller.open({ stateDir });
    await first.createNetwork('bench', { subnets: ['10.200.0.0/16'] });
    await first.close();
    const c = await Controller.open({ stateDir, pool: { size: pool, networks: ['bench'] } });
    try {
      await c.pool!.warm();
      return await fn(c);
    } finally {
      await c.close();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

export async function runPoolCreate(n: number): Promise<PoolCreateRun> {
  const controllerMs: number[] = [];
  const stats = await withController(4, async (c) => {
    for (let i = -20; i < n; i++) {
      await c.pool!.warm();
      const t0 = performance.now();
      const sb = await createSandbox(c, { name: `pc${i + 20}`, mode: { network: 'bench' } });
      if (i >= 0) controllerMs.push(performance.now() - t0);
      await sb.delete({ recycle: true });
    }
    return c.pool!.stats();
  });
  // The same take, low level: a namespace whose veth is on the bridge and
  // waits up, as the bridge driver's pooled one does on a network without
  // IPv6, given its address and route.
  const host = await Netns.host();
  const br = await bridge(host);
  const pool = new NetnsPool<string>({
    size: 4,
    prefix: 'npb',
    prepare: (ns, k) => ({
      batch: new Batch(host)
        .addVeth({ name: `npv${k}`, master: br, peer: { name: 'eth0', netns: ns } })
        .setLink(`npv${k}`, { addrGenMode: 'none' })
        .setUp(`npv${k}`)
        .in(ns)
        .setLink('eth0', { addrGenMode: 'none' })
        .setUp('eth0'),
      data: `npv${k}`,
    }),
  });
  const lowLevelMs: number[] = [];
  try {
    for (let i = -20; i < n; i++) {
      await pool.warm();
      const t0 = performance.now();
      const ns = await pool.take()!.use(`npt${i + 20}`, (x) => new Batch(x).addAddress('eth0', addr(i + 20)).addRoute({ dst: 'default', gateway: '10.200.0.1' }));
      if (i >= 0) lowLevelMs.push(performance.now() - t0);
      await ns.delete();
    }
  } finally {
    await pool.close();
    await host.links.delete('nsbr0');
  }
  return { controllerMs, lowLevelMs, hits: stats.hits, misses: stats.misses };
}

/** Create + delete, one at a time through the Controller, with recycling. */
export async function runPoolChurn(cycles: number): Promise<ChurnCyclesRun> {
  return withController(4, async (c) => {
    const cycle = async (name: string) => (await createSandbox(c, { name, mode: { network: 'bench' } })).delete({ recycle: true });
    for (let i = 0; i < 50; i++) await cycle(`pw${i}`); // warm-up: threads, caches, JIT
    await c.pool!.warm();
    const before = c.pool!.stats();
    const t0 = performance.now();
    for (let i = 0; i < cycles; i++) await cycle(`pch${i}`);
    const perCycleMs = (performance.now() - t0) / cycles;
    const s = c.pool!.stats();
    return { cycles, perCycleMs, recycled: s.recycled - before.recycled, refused: s.refused - before.refused };
  });
}

/** The floor's churn: create and release a namespace (veth, address, route) per cycle. */
export async function runFloorChurn(cycles: number, binary: string): Promise<ChurnCyclesRun> {
  const { stdout } = await execFileAsync(binary, ['--churn', String(cycles)]);
  const r = JSON.parse(stdout) as { cycles: number; per_cycle_ms: number };
  return { cycles: r.cycles, perCycleMs: r.per_cycle_ms };
}
