// nsnet doing the benchmark's work through its public TS API: per sandbox a
// namespace (lo up), a veth created into it and enslaved to the bridge in
// one request, then one batch inside: eth0 up, address, default route.
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { addonStats, Netns } from 'nsnet';

import type { PeerRun } from './ip.js';

export interface LoopRun {
  /** perf_hooks.monitorEventLoopDelay over a 100-sandbox run, ms. */
  nsnet: { maxMs: number; p99Ms: number; p50Ms: number };
  /** The same monitor over a pure-JS busy loop of the same length: this VM's own hiccups. */
  control: { maxMs: number; p99Ms: number; p50Ms: number };
  /** The addon's longest hold on the JS thread (settling + continuations), ms: wall and CPU time. */
  maxDrainMs: number;
  maxDrainCpuMs: number;
  drains: number;
  drainsOver2ms: number;
}

const addr = (i: number) => `10.200.${(i + 2) >> 8}.${(i + 2) & 255}/16`;

/** The bench's bridge (10.200.0.1/16); its ifindex. */
export async function bridge(host: Netns): Promise<number> {
  await host.links.addBridge({ name: 'nsbr0', up: true });
  await host.addresses.add('nsbr0', '10.200.0.1/16');
  return (await host.links.get('nsbr0')).ifindex;
}

/** One sandbox on bridge br, the work every peer does (the concurrency suite shares it). */
export async function setup(host: Netns, br: number, name: string, i: number, runDir?: string): Promise<Netns> {
  // One trip to the addon: the namespace, the veth into it from the host,
  // then the far end configured inside; all or nothing. Both ends come up
  // without IPv6 link-local addresses, as the bridge driver's do.
  return Netns.create(name, {
    runDir,
    then: (sb) =>
      host
        .batch()
        .addVeth({ name: `nsv${i}`, master: br, peer: { name: 'eth0', netns: sb } })
        .setLink(`nsv${i}`, { addrGenMode: 'none' })
        .setUp(`nsv${i}`)
        .in(sb)
        .setLink('eth0', { addrGenMode: 'none' })
        .setUp('eth0')
        .addAddress('eth0', addr(i))
        .addRoute({ dst: 'default', gateway: '10.200.0.1' }),
  });
}

export async function runNsnet(opts: { n: number; rundir?: string; prefix?: string; explicit?: boolean }): Promise<PeerRun> {
  const prefix = opts.prefix ?? 'nsb';
  const host = await Netns.host();
  const br = await bridge(host);
  const setupMs: number[] = [];
  const teardownMs: number[] = [];
  const sbs: Netns[] = [];
  for (let i = 0; i < opts.n; i++) {
    const t0 = performance.now();
    sbs.push(await setup(host, br, `${prefix}${i}`, i, opts.rundir));
    setupMs.push(performance.now() - t0);
  }
  for (let i = 0; i < opts.n; i++) {
    const t0 = performance.now();
    if (opts.explicit) await host.links.delete(`nsv${i}`);
    await sbs[i]!.delete();
    teardownMs.push(performance.now() - t0);
  }
  await host.links.delete('nsbr0');
  return { peer: 'nsnet', n: opts.n, setupMs, teardownMs, teardown: opts.explicit ? 'explicit' : 'release' };
}

const hist = (h: ReturnType<typeof monitorEventLoopDelay>) => ({
  maxMs: h.max / 1e6,
  p99Ms: h.percentile(99) / 1e6,
  p50Ms: h.percentile(50) / 1e6,
});

/**
 * The event loop during a 100-sandbox run (setup and teardown), measured
 * apart from the timed runs: the monitor's 1 ms timer itself costs wake-ups.
 */
export async function runLoop(n: number): Promise<LoopRun> {
  const host = await Netns.host();
  const br = await bridge(host);
  addonStats(true);
  const mon = monitorEventLoopDelay({ resolution: 1 });
  mon.enable();
  const t0 = performance.now();
  const sbs: Netns[] = [];
  for (let i = 0; i < n; i++) sbs.push(await setup(host, br, `loop${i}`, i));
  for (const sb of sbs) await sb.delete();
  const took = performance.now() - t0;
  mon.disable();
  const st = addonStats();
  await host.links.delete('nsbr0');
  const ctl = monitorEventLoopDelay({ resolution: 1 });
  ctl.enable();
  for (const end = performance.now() + took; performance.now() < end; ) await new Promise((r) => setImmediate(r));
  ctl.disable();
  return {
    nsnet: hist(mon),
    control: hist(ctl),
    maxDrainMs: st.maxDrainUs / 1000,
    maxDrainCpuMs: st.maxDrainCpuUs / 1000,
    drains: st.drains,
    drainsOver2ms: st.drainsOver2ms,
  };
}

export interface ChurnRun {
  cycles: number;
  fdsBefore: number;
  fdsAfter: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** RSS after each quarter of the cycles: flat means no growth after warm-up. */
  rssQuartersMiB: number[];
  perCycleMs: number;
}

/** create + attach + delete, `cycles` times: fds and RSS must come back flat. */
export async function runChurn(cycles: number): Promise<ChurnRun> {
  const host = await Netns.host();
  const br = await bridge(host);
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  // One counter over the warm-up and the run: a name comes back only 1000
  // cycles later. The kernel destroys a released namespace's veth in its own
  // time, and the run's first cycles once reused the warm-up's names while
  // the old veths were still there (EEXIST).
  let k = 0;
  const cycle = async () => {
    const i = k++;
    await (await setup(host, br, `churn${i}`, i % 1000)).delete();
  };
  for (let i = 0; i < 50; i++) await cycle(); // warm-up: threads, caches, JIT
  gc();
  const fdsBefore = readdirSync('/proc/self/fd').length;
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const rssQuartersMiB: number[] = [];
  for (let i = 0; i < cycles; i++) {
    await cycle();
    if ((i + 1) % Math.ceil(cycles / 4) === 0 || i + 1 === cycles) {
      gc();
      if (rssQuartersMiB.length < 4) rssQuartersMiB.push(process.memoryUsage().rss / 2 ** 20);
    }
  }
  const perCycleMs = (performance.now() - t0) / cycles;
  gc();
  const out = {
    cycles,
    fdsBefore,
    fdsAfter: readdirSync('/proc/self/fd').length,
    rssBeforeMiB: rssBefore / 2 ** 20,
    rssAfterMiB: process.memoryUsage().rss / 2 ** 20,
    rssQuartersMiB,
    perCycleMs,
  };
  await host.links.delete('nsbr0');
  return out;
}
