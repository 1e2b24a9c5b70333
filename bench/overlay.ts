// Suite (l), overlay (bench/peers/overlay.ts does the work): convergence
// between hosts, overlay create + join against a bridge network's, and the
// scale of programming 200 hosts' endpoints. bench/run.ts runs it; alone:
//   npm run build:bench && node scripts/sandbox.mjs node build/bench/overlay.js [--runs 3] [--joins 100] [--pairs 100]
import { fileURLToPath } from 'node:url';

import { holds, inFreshNetns } from './lib/fresh.js';
import { arg } from './lib/args.js';
import { formatTable, summarize } from './lib/stats.js';
import type { OverlayRun } from './peers/overlay.js';

export interface OverlayOptions {
  runs: number;
  joins: number;
  pairs: number;
  sizes: number[];
  burst: number;
  before?: (round: number) => Promise<void>;
}

export async function runOverlaySuite(o: OverlayOptions): Promise<OverlayRun[]> {
  const out: OverlayRun[] = [];
  for (let r = 0; r < o.runs; r++) {
    await o.before?.(r);
    out.push(await inFreshNetns<OverlayRun>('overlay', { joins: o.joins, pairs: o.pairs, sizes: o.sizes, burst: o.burst }));
  }
  return out;
}

const med = (xs: number[]) => summarize(xs).median;

/** The bars, from all runs' samples together. */
export function overlayBars(runs: OverlayRun[]): [string, string, boolean][] {
  const conv = summarize(runs.flatMap((r) => r.convergenceMs));
  const pair = runs.map((r) => med(r.pairMs));
  const per = (size: number) => med(runs.map((r) => r.scale.find((s) => s.peers === size)!.perEntryUs));
  const sizes = runs[0]!.scale.map((s) => s.peers);
  // Flat: what a peer costs does not grow with how many there are (a trip's fixed part makes small ones dearer per peer).
  const flat = per(sizes[sizes.length - 1]!) / per(sizes[0]!);
  const burstTrips = runs.map((r) => r.burst.trips);
  return [
    ['overlay convergence A -> B, p50 <= 50 ms', `${conv.median.toFixed(2)} ms (${runs.flatMap((r) => r.convergenceMs).length} joins)`, conv.median <= 50],
    ['overlay convergence A -> B, p99 <= 250 ms', `${conv.p99.toFixed(2)} ms`, conv.p99 <= 250],
    ['overlay create+join <= 3 ms above a bridge network', `+${med(pair).toFixed(2)} ms, paired (per-run ${pair.map((x) => x.toFixed(2)).join(', ')}); a host's first join +${med(runs.map((r) => med(r.firstPairMs))).toFixed(2)}`, med(pair) <= 3],
    ['overlay programming per entry flat, 1k -> 4k peers', `${sizes.map((s) => `${per(s).toFixed(1)}`).join(' / ')} us per peer at ${sizes.join('/')} (4k/1k ${flat.toFixed(2)})`, flat <= 1.5],
    ['overlay burst of 1000 changes in batched trips', `${med(runs.map((r) => r.burst.ms)).toFixed(1)} ms, ${med(burstTrips)} trips (${med(runs.map((r) => r.burst.perEntryUs)).toFixed(1)} us per change)`, Math.max(...burstTrips) < runs[0]!.burst.changes / 10],
  ];
}

export function overlayTable(runs: OverlayRun[]): string {
  const s = (xs: number[]) => summarize(xs);
  const conv = s(runs.flatMap((r) => r.convergenceMs));
  const join = s(runs.flatMap((r) => r.joinMs));
  const rows: (string | number)[][] = [
    ['convergence: join on A until B programmed, ms', conv.median, conv.p99, conv.max],
    ["A's create + join on the overlay (within it), ms", join.median, join.p99, join.max],
    ['create + join, bridge network, ms', med(runs.flatMap((r) => r.bridgeMs)), s(runs.flatMap((r) => r.bridgeMs)).p99, s(runs.flatMap((r) => r.bridgeMs)).max],
    ['create + join, overlay network, ms', med(runs.flatMap((r) => r.overlayMs)), s(runs.flatMap((r) => r.overlayMs)).p99, s(runs.flatMap((r) => r.overlayMs)).max],
    ['overlay minus bridge (paired), ms', med(runs.flatMap((r) => r.pairMs)), s(runs.flatMap((r) => r.pairMs)).p99, s(runs.flatMap((r) => r.pairMs)).max],
    ["create + join, overlay, A's first join (makes its devices), ms", med(runs.flatMap((r) => r.firstOverlayMs)), s(runs.flatMap((r) => r.firstOverlayMs)).p99, s(runs.flatMap((r) => r.firstOverlayMs)).max],
    ["first join minus bridge (paired), ms", med(runs.flatMap((r) => r.firstPairMs)), s(runs.flatMap((r) => r.firstPairMs)).p99, s(runs.flatMap((r) => r.firstPairMs)).max],
  ];
  for (const size of runs[0]!.scale.map((x) => x.peers)) {
    const xs = runs.map((r) => r.scale.find((x) => x.peers === size)!);
    rows.push([`first join programming ${size} peers (${med(xs.map((x) => x.trips))} trips): us per peer (max: the whole join, ms)`, med(xs.map((x) => x.perEntryUs)), '', med(xs.map((x) => x.ms))]);
  }
  const b = runs.map((r) => r.burst);
  rows.push([`burst of ${b[0]!.changes} changes: ${med(b.map((x) => x.trips))} trips, ${med(b.map((x) => x.entries))} entries, us per change`, med(b.map((x) => x.perEntryUs)), '', med(b.map((x) => x.ms))]);
  return formatTable(['figure', 'median', 'p99', 'max (ms for the scale rows)'], rows);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = { runs: arg('runs', 3), joins: arg('joins', 100), pairs: arg('pairs', 100), sizes: [1000, 2000, 4000], burst: 1000 };
  const runs = await runOverlaySuite({ ...o, before: async (r) => void process.stderr.write(`\r\x1b[Koverlay round ${r + 1}/${o.runs}`) });
  process.stderr.write('\r\x1b[K');
  console.log(overlayTable(runs));
  console.log(formatTable(['bar', 'measured', 'met'], overlayBars(runs).map(([a, b, c]) => [a, b, c ? 'yes' : 'NO'])));
  console.log(`the addon's longest hold on the JS thread, per run: ${holds.map((h) => `${h.addon.maxDrainCpuMs.toFixed(2)} ms CPU`).join(', ')}`);
}
