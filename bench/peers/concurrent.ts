// Suite (c): N sandboxes with `inflight` setups in flight at once from one
// process, through the low-level API (nsnet) and through the Controller.
// The figure is wall time per sandbox: what concurrency buys in throughput.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Controller, createSandbox, Netns } from 'nsnet';

import { bridge, setup } from './nsnet.js';

export interface ConcurrentRun {
  peer: string;
  n: number;
  inflight: number;
  /** Total wall time divided by n. */
  perSandboxMs: number;
  /** Each setup's own latency, start to finish. */
  latencyMs: number[];
}

async function pool(n: number, inflight: number, one: (i: number) => Promise<void>): Promise<{ wall: number; lat: number[] }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      for (let i = next++; i < n; i = next++) {
        const s = performance.now();
        await one(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  return { wall: performance.now() - t0, lat };
}

export async function runConcurrent(o: { peer: 'nsnet' | 'controller'; n: number; inflight: number }): Promise<ConcurrentRun> {
  if (o.peer === 'nsnet') {
    const host = await Netns.host();
    const br = await bridge(host);
    const sbs: Netns[] = [];
    const r = await pool(o.n, o.inflight, async (i) => {
      sbs.push(await setup(host, br, `ncc${i}`, i));
    });
    for (const sb of sbs) await sb.delete();
    return { peer: o.peer, n: o.n, inflight: o.inflight, perSandboxMs: r.wall / o.n, latencyMs: r.lat };
  }
  const stateDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-cc-'));
  const c = await Controller.open({ stateDir });
  try {
    await c.createNetwork('bench', { subnets: ['10.200.0.0/16'] });
    const sbs: Awaited<ReturnType<typeof createSandbox>>[] = [];
    const r = await pool(o.n, o.inflight, async (i) => {
      sbs.push(await createSandbox(c, { name: `ncs${i}`, mode: { network: 'bench' } }));
    });
    for (const sb of sbs) await sb.delete();
    return { peer: o.peer, n: o.n, inflight: o.inflight, perSandboxMs: r.wall / o.n, latencyMs: r.lat };
  } finally {
    c.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/**
 * Suite (f): one low-level operation through the public API, K times, each
 * timed in microseconds: a change (set lo up by ifindex) or a read (lo).
 */
export async function runOp(k: number, get = false): Promise<{ peer: string; n: number; opUs: number[] }> {
  const host = await Netns.host();
  const op = get ? () => host.links.get(1) : () => host.links.setUp(1);
  for (let i = 0; i < 50; i++) await op();
  const us: number[] = [];
  for (let i = 0; i < k; i++) {
    const t0 = performance.now();
    await op();
    us.push((performance.now() - t0) * 1000);
  }
  return { peer: 'nsnet', n: k, opUs: us };
}
