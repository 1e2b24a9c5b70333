// Event streams: how many events per second reach a JS consumer, side by
// side with `ip monitor` reading the same burst, and how long one change
// takes to reach JS. Run alone:
//   npm run build:bench && node scripts/sandbox.mjs node build/bench/events.js [--n 20000] [--runs 3] [--latency 1000]
// (bench/run.ts can call runEventsBench()).
//
// Flush: a link with n IPv6 routes on it is deleted, and its veth peer with
// n permanent neighbours goes with it: one request, ~2n deletions emitted by
// the kernel at its own speed. The clock runs from the request to the last
// deletion in JS, beside `ip monitor route neigh` on the same burst.
//
// Burst: in a fresh namespace, n blackhole /32 routes added, then deleted,
// through nsnet in batches of 1000 (one sendmsg each): 2n events (routes,
// because the kernel adds them in O(log n); n addresses on one device cost
// it O(n) each and the kernel, not the stream, would set the pace). Live:
// the clock starts before the first commit and stops when the consumer
// holds the last event, while `ip -n ns monitor route` counts its lines over
// the same burst; the kernel's pace of changes bounds this figure. Drain:
// the same burst made while nobody reads, so it sits parsed in the addon's
// queue; then the clock times its delivery to JS alone. Latency: single
// changes, one at a time, from just
// before the call to the event's arrival in JS. The event loop's delay is
// sampled during the burst (monitorEventLoopDelay), with the addon's
// longest hold of the JS thread per batch.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { addonStats, Netns, watch, type WatchEvent } from 'nsnet';

import { arg } from './lib/args.js';
import { ownTurn } from './lib/fresh.js';
import { formatTable, summarize } from './lib/stats.js';
import { run } from './peers/exec.js';

export interface EventsRun {
  n: number;
  /** Live: from the first change sent to the last event in JS (the kernel's pace bounds it). */
  liveEventsPerSec: number;
  /** Events the kernel produced per second in the live burst (2n over the time the changes took). */
  kernelEventsPerSec: number;
  /** Live: from the last change acknowledged to the last event in JS. */
  tailMs: number;
  /**
   * Kernel-speed burst: one link deleted with n IPv6 routes on it, its veth
   * peer with n neighbours: the kernel emits ~2n deletions from one request,
   * far faster than any stream of requests can make them.
   */
  flushEvents: number;
  flushEventsPerSec: number;
  flushResyncs: number;
  ipMonitorFlushLines: number;
  /** Delivery alone: the same burst already parsed and queued, handed to JS. */
  drainEventsPerSec: number;
  resyncs: number;
  /** ip monitor over the live burst: lines it printed (of 2n events) and its pace. */
  ipMonitorLines: number;
  ipMonitorLinesPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  maxBatchHoldMs: number;
  /** The addon's longest delivery of one batch to JS (conversion + callbacks), wall and CPU time. */
  maxDeliveryMs: number;
  maxDeliveryCpuMs: number;
}


const addr = (i: number) => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

async function burst(n: number, name: string, drain: boolean, batch: number): Promise<{ events: number; seconds: number; resyncs: number; lines: number; linesSeconds: number; loopP99: number; loopMax: number; hold: number; kernelPerSec: number; tailMs: number; deliveryMs: number; deliveryCpuMs: number }> {
  const ns = await Netns.create(name);
  const w = watch(ns, { routes: true, rcvbuf: 64 << 20, queueLimit: 1 << 22, batch });
  await w.ready;
  const mon = spawn('ip', ['-n', name, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let lines = 0;
  let lastLine = 0;
  mon.stdout.on('data', (d: Buffer) => {
    for (const b of d) if (b === 10) lines++;
    lastLine = performance.now();
  });
  await new Promise((r) => setTimeout(r, 200)); // ip monitor subscribed
  const expected = 2 * n;
  let got = 0;
  let resyncs = 0;
  let maxHold = 0;
  const lastDst = `${addr(n - 1)}/32`;
  let t1 = 0;
  let seenLastDel = false;
  let release!: () => void;
  const start = new Promise<void>((r) => (release = r));
  const done = new Promise<void>((resolve) => {
    const onBatch = (evs: WatchEvent[]) => {
      const h0 = performance.now();
      for (const e of evs) {
        if (e.kind === 'resync') resyncs++;
        else if (e.kind === 'route') {
          got++;
          if (e.action === 'del' && e.route.dst === lastDst) seenLastDel = true;
        }
      }
      const now = performance.now();
      maxHold = Math.max(maxHold, now - h0);
      if (seenLastDel) {
        t1 = now;
        resolve();
      }
    };
    if (drain) start.then(() => w.on('batch', onBatch));
    else w.on('batch', onBatch);
  });
  // Batches of 1000 changes, one sendmsg each (the ACKs of a much larger one overflow the request socket).
  const CHUNK = 1000;
  const batches: ReturnType<typeof ns.batch>[] = [];
  for (const verb of ['add', 'del'] as const) {
    for (let i = 0; i < n; i += CHUNK) {
      const b = ns.batch();
      for (let j = i; j < Math.min(n, i + CHUNK); j++) {
        const spec = { dst: `${addr(j)}/32`, type: 'blackhole' as const };
        if (verb === 'add') b.addRoute(spec);
        else b.deleteRoute(spec);
      }
      batches.push(b);
    }
  }
  const h = monitorEventLoopDelay({ resolution: 1 });
  addonStats(true);
  let t0 = performance.now();
  if (!drain) h.enable();
  for (const b of batches) await b.commit();
  const committed = performance.now();
  if (drain) {
    // Everything is parsed and queued in the addon; now time only the delivery to JS.
    while (w.stats().queued < expected) await new Promise((r) => setTimeout(r, 10));
    h.enable();
    t0 = performance.now();
    release();
  }
  await done;
  h.disable();
  const st = addonStats();
  await new Promise((r) => setTimeout(r, 500)); // let ip monitor catch up with what it will get
  mon.kill();
  w.close();
  await ns.delete();
  return {
    events: got,
    seconds: (t1 - t0) / 1000,
    resyncs,
    lines,
    linesSeconds: (lastLine - t0) / 1000,
    loopP99: h.percentile(99) / 1e6,
    loopMax: h.max / 1e6,
    hold: maxHold,
    kernelPerSec: expected / ((committed - t0) / 1000),
    tailMs: t1 - committed,
    deliveryMs: st.maxWatchDeliveryUs / 1000,
    deliveryCpuMs: st.maxWatchDeliveryCpuUs / 1000,
  };
}

async function flush(n: number, name: string, batch: number): Promise<{ events: number; seconds: number; resyncs: number; lines: number }> {
  const ns = await Netns.create(name);
  await ns.batch().addVeth({ name: 'fa', up: true, peer: { name: 'fb' } }).setUp('fb').addAddress('fb', '10.0.0.1/8').commit();
  await ownTurn();
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`route add 2001:db8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::/64 dev fa`);
  const h = (x: number) => x.toString(16).padStart(2, '0');
  for (let i = 0; i < n; i++) {
    lines.push(`neigh add 10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255} lladdr 02:00:00:00:${h((i >> 8) & 255)}:${h(i & 255)} dev fb nud permanent`);
  }
  // Setup (untimed) through `ip -batch`: nsnet's batch has no neighbour verbs.
  await run('ip', ['-n', name, '-batch', '-'], `${lines.join('\n')}\n`);
  const w = watch(ns, { routes: true, neighbours: true, rcvbuf: 64 << 20, queueLimit: 1 << 22, batch });
  await w.ready;
  const mon = spawn('ip', ['-n', name, 'monitor', 'route', 'neigh'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let monLines = 0;
  mon.stdout.on('data', (d: Buffer) => {
    for (const b of d) if (b === 10) monLines++;
  });
  await new Promise((r) => setTimeout(r, 200)); // ip monitor subscribed
  let got = 0;
  let resyncs = 0;
  let last = 0;
  w.on('batch', (evs: WatchEvent[]) => {
    for (const e of evs) {
      if (e.kind === 'resync') resyncs++;
      else if ((e.kind === 'route' || e.kind === 'neighbour') && e.action === 'del') got++;
    }
    last = performance.now();
  });
  const t0 = performance.now();
  await ns.links.delete('fa');
  // Done when the stream has been quiet for 300 ms (every deletion counted, or lost and resynced).
  while (last === 0 || performance.now() - last < 300) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300)); // ip monitor catches up with what it will get
  mon.kill();
  w.close();
  await ns.delete();
  return { events: got, seconds: (last - t0) / 1000, resyncs, lines: monLines };
}

async function latency(count: number, name: string): Promise<number[]> {
  const ns = await Netns.create(name);
  await ns.batch().addBridge({ name: 'evl0', up: true }).commit();
  const w = watch(ns, { addresses: true });
  await w.ready;
  const started = new Map<string, number>();
  const out: number[] = [];
  let waiting: (() => void) | null = null;
  w.on('event', (e: WatchEvent) => {
    if (e.kind !== 'address' || e.action !== 'new') return;
    const t = started.get(e.address.address);
    if (t === undefined) return;
    out.push(performance.now() - t);
    started.delete(e.address.address);
    waiting?.();
  });
  for (let i = 0; i < count; i++) {
    const a = addr(i);
    const arrived = new Promise<void>((r) => (waiting = r));
    started.set(a, performance.now());
    await ns.addresses.add('evl0', `${a}/32`);
    await arrived;
  }
  w.close();
  await ns.delete();
  return out;
}

export async function runEventsBench(o: { n?: number; flushN?: number; runs?: number; latency?: number; batch?: number } = {}): Promise<EventsRun[]> {
  const n = o.n ?? 50000;
  const runs: EventsRun[] = [];
  for (let r = 0; r < (o.runs ?? 3); r++) {
    const live = await burst(n, `evb${r}`, false, o.batch ?? 256);
    const drained = await burst(n, `evd${r}`, true, o.batch ?? 256);
    const fl = await flush(o.flushN ?? 50000, `evf${r}`, o.batch ?? 256);
    const lat = summarize(await latency(o.latency ?? 1000, `evl${r}`));
    runs.push({
      n,
      liveEventsPerSec: live.events / live.seconds,
      drainEventsPerSec: drained.events / drained.seconds,
      flushEvents: fl.events,
      flushEventsPerSec: fl.events / fl.seconds,
      flushResyncs: fl.resyncs,
      ipMonitorFlushLines: fl.lines,
      kernelEventsPerSec: live.kernelPerSec,
      tailMs: live.tailMs,
      resyncs: live.resyncs + drained.resyncs,
      ipMonitorLines: live.lines,
      ipMonitorLinesPerSec: live.lines / live.linesSeconds,
      latencyP50Ms: lat.median,
      latencyP99Ms: lat.p99,
      loopDelayP99Ms: Math.max(live.loopP99, drained.loopP99),
      loopDelayMaxMs: Math.max(live.loopMax, drained.loopMax),
      maxBatchHoldMs: Math.max(live.hold, drained.hold),
      maxDeliveryMs: Math.max(live.deliveryMs, drained.deliveryMs),
      maxDeliveryCpuMs: Math.max(live.deliveryCpuMs, drained.deliveryCpuMs),
    });
  }
  return runs;
}

/**
 * The bar, >= 100k events/s to a JS consumer: met live (the kernel-speed
 * flush, median, with nothing lost) and by delivery from a full queue in
 * every run.
 */
export function eventsBarMet(runs: EventsRun[]): boolean {
  return (
    summarize(runs.map((r) => r.flushEventsPerSec)).median >= 100_000 &&
    Math.min(...runs.map((r) => r.drainEventsPerSec)) >= 100_000 &&
    runs.every((r) => r.flushResyncs === 0)
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = await runEventsBench({ n: arg('n', 50000), runs: arg('runs', 3), latency: arg('latency', 1000), batch: arg('batch', 256) });
  console.log(
    formatTable(
      ['run', 'n', 'flush events', 'flush events/s (JS)', 'flush resyncs', 'ip monitor flush lines', 'kernel events/s', 'live events/s (JS)', 'tail ms', 'drain events/s (JS)', 'resyncs', 'ip monitor lines', 'ip lines/s', 'p50 ms', 'p99 ms', 'loop p99 ms', 'loop max ms', 'delivery max ms', 'delivery cpu ms'],
      runs.map((r, i) => [i + 1, r.n, r.flushEvents, Math.round(r.flushEventsPerSec), r.flushResyncs, r.ipMonitorFlushLines, Math.round(r.kernelEventsPerSec), Math.round(r.liveEventsPerSec), r.tailMs, Math.round(r.drainEventsPerSec), r.resyncs, r.ipMonitorLines, Math.round(r.ipMonitorLinesPerSec), r.latencyP50Ms, r.latencyP99Ms, r.loopDelayP99Ms, r.loopDelayMaxMs, r.maxDeliveryMs, r.maxDeliveryCpuMs]),
    ),
  );
  const live = summarize(runs.map((r) => r.liveEventsPerSec));
  const drain = summarize(runs.map((r) => r.drainEventsPerSec));
  console.log(
    `\nlive kernel-speed burst (a link with n IPv6 routes deleted, its peer's n neighbours with it): median ${Math.round(summarize(runs.map((r) => r.flushEventsPerSec)).median)} events/s to JS, ` +
      `ip monitor printed ${summarize(runs.map((r) => r.ipMonitorFlushLines)).median} lines of the same burst` +
    `\nbar: >= 100,000 events/s delivered to a JS consumer (live flush, and from a full queue): delivery median ${Math.round(drain.median)} (min ${Math.round(drain.min)}) -> ${eventsBarMet(runs) ? 'met' : 'NOT met'}; ` +
      `live median ${Math.round(live.median)} events/s, paced by the kernel (median ${Math.round(summarize(runs.map((r) => r.kernelEventsPerSec)).median)} events/s produced), last event ${summarize(runs.map((r) => r.tailMs)).median.toFixed(1)} ms after the last change (median)`,
  );
  console.log(JSON.stringify(runs));
  process.exit(0);
}
