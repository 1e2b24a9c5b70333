// Suite (m), the routed driver: the Controller's cost per sandbox created
// on a routed network with N = 10, 100 and 1000 sandboxes on it (and 5000
// with --routed-5000), beside the bridge driver at 100 and 1000 (a bridge
// holds at most 1023). bench/run.ts runs it; alone:
//   npm run build:bench && node scripts/sandbox.mjs node build/bench/routed.js [--runs 3] [--routed-5000]
// Each run is its own fresh private network namespace with an uplink that
// has an address, as a host has (see runController's uplink); the
// configurations are interleaved and rotated per round, and ratios are
// taken within a round. The cost at N is the median of the N creates, as
// suite (b) reads it; the table also shows the median of the last tenth
// (what the sandboxes made with N - N/10 to N there cost), which shows
// growth at its full size but also any burst of other work on the machine
// that falls in that stretch.
import { fileURLToPath } from 'node:url';

import { inFreshNetns, settle } from './lib/fresh.js';
import { inRounds } from './lib/rounds.js';
import { arg } from './lib/args.js';
import { formatTable, summarize, type Cell } from './lib/stats.js';
import type { ControllerRun } from './peers/controller.js';

export interface RoutedOptions {
  runs: number;
  /** Run routed at N=5000 too (about half a minute a run here). */
  big: boolean;
  before?: (label: string, round: number) => Promise<void>;
}

/** Per round, each configuration's median over its N creates and over their last tenth, ms per sandbox. */
export type RoutedRound = Record<string, { median: number; tail: number }>;

const configs = (o: Pick<RoutedOptions, 'big'>): [string, 'routed' | 'bridge', number][] => [
  ['routed@10', 'routed', 10],
  ['routed@100', 'routed', 100],
  ['bridge@100', 'bridge', 100],
  ['routed@1000', 'routed', 1000],
  ['bridge@1000', 'bridge', 1000],
  ...(o.big ? [['routed@5000', 'routed', 5000] as [string, 'routed', number]] : []),
];

/** The median of the last tenth of the creates (of all of them below 100). */
export function tailMedian(setupMs: number[]): number {
  const tail = setupMs.length >= 100 ? setupMs.slice(Math.floor(setupMs.length * 0.9)) : setupMs;
  return summarize(tail).median;
}

export function runRoutedSuite(o: RoutedOptions): Promise<RoutedRound[]> {
  // The big run is long and flat: two rounds tell enough.
  return inRounds(configs(o), o.runs, { skip: ([, , n], r) => n >= 5000 && r >= 2, before: o.before }, async ([, driver, n]) => {
    const run = await inFreshNetns<ControllerRun>('controller', { n, driver, uplink: true });
    return { median: summarize(run.setupMs).median, tail: tailMedian(run.setupMs) };
  });
}

const ratio = (rounds: RoutedRound[], a: string, b: string) =>
  rounds.filter((r) => r[a] && r[b]).map((r) => r[a]!.median / r[b]!.median);

/** The three bars, per round: routed@5000 / routed@10 (<= 1.2), bridge@1000 / routed@1000 (>= 3), routed@100 / bridge@100 (<= 1.2). */
export function routedBars(rounds: RoutedRound[]): { flat: number[]; vsBridge1000: number[]; vsBridge100: number[] } {
  return {
    flat: ratio(rounds, 'routed@5000', 'routed@10'),
    vsBridge1000: ratio(rounds, 'bridge@1000', 'routed@1000'),
    vsBridge100: ratio(rounds, 'routed@100', 'bridge@100'),
  };
}

export function routedTable(rounds: RoutedRound[], big: boolean): string {
  const rows: Cell[][] = configs({ big }).map(([label]) => {
    const have = rounds.filter((r) => r[label]);
    const m = summarize(have.map((r) => r[label]!.median));
    return [label, m.median, m.min, m.max, summarize(have.map((r) => r[label]!.tail)).median];
  });
  return formatTable(['network@N', 'ms per sandbox', 'min', 'max', 'last tenth'], rows);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = { runs: arg('runs', 3), big: process.argv.includes('--routed-5000') };
  const rounds = await runRoutedSuite({
    ...o,
    before: async (label, r) => {
      await settle(300);
      process.stderr.write(`\r\x1b[Kround ${r + 1}/${o.runs}: ${label}`);
    },
  });
  process.stderr.write('\r\x1b[K');
  console.log(routedTable(rounds, o.big));
  const b = routedBars(rounds);
  const median = (xs: number[]) => summarize(xs).median;
  const fmt = (xs: number[]) => (xs.length ? `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})` : 'not run (--routed-5000)');
  console.log(`\nrouted at N=5000: ${fmt(b.flat)}x its cost at N=10 (bar: <= 1.2x)`);
  console.log(`bridge at N=1000: ${fmt(b.vsBridge1000)}x routed's at N=1000 (bar: >= 3x)`);
  console.log(`routed at N=100: ${fmt(b.vsBridge100)}x bridge's at N=100 (bar: <= 1.2x)`);
}
