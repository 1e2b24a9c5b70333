// Suite (d), published ports: every sandbox publishes one port, with 0, 10
// and 1000 ports already published (by another sandbox), beside the same
// sandboxes without a port, and the CNI reference bridge (ipMasq) + portmap
// chain doing the same work. bench/run.ts runs it; alone:
//   npm run build:bench && node scripts/sandbox.mjs node build/bench/ports.js [--n 100] [--runs 5]
// Each run is its own fresh private network namespace, the configurations
// interleaved and rotated per round, so differences and ratios are taken
// within a round; figures are medians over rounds of per-run medians.
// The cost of one port is read from a paired run: in one process, sandboxes
// with and without a port alternate, and each pair gives a difference. Two
// separate runs differ by more than that cost on this VM (their medians
// moved by ±0.5 ms between rounds), so their difference cannot show it.
import { fileURLToPath } from 'node:url';

import { inFreshNetns } from './lib/fresh.js';
import { inRounds } from './lib/rounds.js';
import { arg } from './lib/args.js';
import { formatTable, summarize, type Cell } from './lib/stats.js';
import type { ControllerRun } from './peers/controller.js';

export interface PortsOptions {
  n: number;
  runs: number;
  /** CNI + portmap costs ~0.1 s a sandbox and as much to remove: fewer tell enough. */
  cniN: number;
  /** Called before each run (run.ts waits for the machine to go idle and shows progress). */
  before?: (label: string, round: number) => Promise<void>;
}

/** Per round, each configuration's median ms per sandbox. */
export type PortsRound = Record<string, number>;

/** The paired run's row: its figure is the median difference within pairs. */
const PAIRED = 'port - none, paired';

// label -> [peer in child.ts, its options]
const configs = (o: PortsOptions): [string, string, object][] => [
  ['controller', 'controller', { n: o.n }],
  ['controller+port', 'controller', { n: o.n, ports: true }],
  ['controller+port@10', 'controller', { n: o.n, ports: true, published: 10 }],
  ['controller+port@1000', 'controller', { n: o.n, ports: true, published: 1000 }],
  ['cni+portmap', 'cni+portmap', { n: o.cniN }],
  [PAIRED, 'controller', { n: o.n, paired: true }],
];


export function runPortsSuite(o: PortsOptions): Promise<PortsRound[]> {
  // Exec'ing peers: three rounds tell enough.
  return inRounds(configs(o), o.runs, { skip: ([label], r) => label === 'cni+portmap' && r >= 3, before: o.before }, async ([label, peer, opts]) => {
    const run = await inFreshNetns<ControllerRun>(peer, opts);
    return summarize(label === PAIRED ? run.pairMs! : run.setupMs).median;
  });
}

/** The three bars, per round. */
export function portBars(rounds: PortsRound[]): { extraMs: number[]; at1000: number[]; at10: number[]; vsCni: number[] } {
  const per = (f: (r: PortsRound) => number) => rounds.map(f).filter((x) => !Number.isNaN(x));
  return {
    extraMs: per((r) => r[PAIRED] ?? NaN),
    at1000: per((r) => r['controller+port@1000']! / r['controller+port']!),
    at10: per((r) => r['controller+port@10']! / r['controller+port']!),
    vsCni: per((r) => (r['cni+portmap'] ?? NaN) / r['controller+port']!),
  };
}

/** The suite's table: each configuration's median, min and max, and its ratio to controller+port. */
export function portsTable(rounds: PortsRound[], cniN: number): string {
  const rows: Cell[][] = configs({ n: 0, runs: 0, cniN }).map(([label]) => {
    const xs = rounds.map((r) => r[label]).filter((x): x is number => x !== undefined);
    const s = summarize(xs);
    const ratios = rounds.filter((r) => r[label] !== undefined).map((r) => r[label]! / r['controller+port']!);
    return [label === 'cni+portmap' ? `cni+portmap (N=${cniN})` : label, s.median, s.min, s.max, label === PAIRED ? '' : summarize(ratios).median];
  });
  return formatTable(['peer', 'setup', 'min', 'max', 'x controller+port'], rows);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = { n: arg('n', 100), runs: arg('runs', 5), cniN: arg('cni-n', 30) };
  const rounds = await runPortsSuite({ ...o, before: async (label, r) => void process.stderr.write(`\r\x1b[Kround ${r + 1}/${o.runs}: ${label}`) });
  process.stderr.write('\r\x1b[K');
  console.log(portsTable(rounds, o.cniN));
  const b = portBars(rounds);
  const median = (xs: number[]) => summarize(xs).median;
  const fmt = (xs: number[], d = 3) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`;
  console.log(`\none published port costs ${fmt(b.extraMs)} ms more (bar: <= 0.3 ms)`);
  console.log(`with 1000 ports published: ${fmt(b.at1000)}x the cost with none (bar: <= 1.2x)`);
  console.log(`cni bridge+ipMasq+portmap: ${fmt(b.vsCni, 1)}x the controller's cost with one port (bar: >= 20x)`);
}
