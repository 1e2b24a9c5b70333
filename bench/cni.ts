// Suite (h), CNI: nsnet's plugin exec'd per call as a runtime execs it,
// through the fast path (the native shim and `nsnet daemon`) and the slow
// path (the shim with no daemon: node per call), beside the reference
// bridge + host-local plugins doing the same work, and with one published
// port beside bridge + portmap; and VERSION through the shim. Each run is
// its own fresh private network namespace; ratios are taken within a round.
// bench/run.ts runs it; alone:
//   npm run build:bench && node scripts/sandbox.mjs node build/bench/cni.js [--n 100] [--runs 3] [--slow-n 20] [--portmap-n 30]
import { fileURLToPath } from 'node:url';

import { inFreshNetns } from './lib/fresh.js';
import { arg } from './lib/args.js';
import { formatTable, summarize, type Cell } from './lib/stats.js';
import type { PeerRun } from './peers/ip.js';

export interface CniOptions {
  n: number;
  runs: number;
  /** The slow path starts node twice per container, and bridge + portmap costs ~0.2 s a container: fewer tell enough. */
  slowN: number;
  portmapN: number;
  before?: (label: string, round: number) => Promise<void>;
}

/** Per round, each peer's median ADD and DEL ms; and VERSION's. */
export interface CniRound {
  add: Record<string, number>;
  del: Record<string, number>;
  versionMs: number;
  trueMs: number;
}

const PEERS = ['nsnet-fast', 'cni', 'nsnet-fast+port', 'cni+portmap', 'nsnet-slow'] as const;
const sizeOf = (p: string, o: { n: number; slowN: number; portmapN: number }) => (p === 'nsnet-slow' ? o.slowN : p === 'cni+portmap' ? o.portmapN : o.n);

export async function runCniSuite(o: CniOptions): Promise<CniRound[]> {
  const rounds: CniRound[] = [];
  for (let r = 0; r < o.runs; r++) {
    const round: CniRound = { add: {}, del: {}, versionMs: NaN, trueMs: NaN };
    for (let i = 0; i < PEERS.length; i++) {
      const peer = PEERS[(i + r) % PEERS.length]!;
      await o.before?.(peer, r);
      const run = await inFreshNetns<PeerRun>('cni-plugin', { peer, n: sizeOf(peer, o) });
      round.add[peer] = summarize(run.setupMs).median;
      round.del[peer] = summarize(run.teardownMs).median;
    }
    await o.before?.('VERSION', r);
    const v = await inFreshNetns<{ versionMs: number[]; trueMs: number[] }>('cni-version', { n: 200 });
    round.versionMs = summarize(v.versionMs).median;
    round.trueMs = summarize(v.trueMs).median;
    rounds.push(round);
  }
  return rounds;
}

const both = (r: CniRound, p: string) => r.add[p]! + r.del[p]!;

/** The bars, per round: fast path against the reference (without and with a port), VERSION. */
export function cniBars(rounds: CniRound[]): { vsBridge: number[]; vsPortmap: number[]; versionMs: number[] } {
  return {
    vsBridge: rounds.map((r) => both(r, 'nsnet-fast') / both(r, 'cni')),
    vsPortmap: rounds.map((r) => both(r, 'nsnet-fast+port') / both(r, 'cni+portmap')),
    versionMs: rounds.map((r) => r.versionMs),
  };
}

export function cniTable(rounds: CniRound[], o: { n: number; slowN: number; portmapN: number }): string {
  const med = (xs: number[]) => summarize(xs).median;
  const rows: Cell[][] = PEERS.map((p) => {
    const ref = p.includes('port') ? 'cni+portmap' : 'cni';
    return [
      `${p} (N=${sizeOf(p, o)})`,
      med(rounds.map((r) => r.add[p]!)), med(rounds.map((r) => r.del[p]!)), med(rounds.map((r) => both(r, p))),
      p.startsWith('cni') ? '' : med(rounds.map((r) => both(r, p) / both(r, ref))),
    ];
  });
  rows.push(['VERSION through the shim', med(rounds.map((r) => r.versionMs)), '', '', ''], ['(/bin/true, exec\'d the same way)', med(rounds.map((r) => r.trueMs)), '', '', '']);
  return formatTable(['peer', 'ADD', 'DEL', 'ADD+DEL', 'x reference'], rows);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = { n: arg('n', 100), runs: arg('runs', 3), slowN: arg('slow-n', 20), portmapN: arg('portmap-n', 30) };
  const rounds = await runCniSuite({ ...o, before: async (label, r) => void process.stderr.write(`\r\x1b[Kround ${r + 1}/${o.runs}: ${label}`) });
  process.stderr.write('\r\x1b[K');
  console.log(cniTable(rounds, o));
  const b = cniBars(rounds);
  const fmt = (xs: number[], d = 3) => `${summarize(xs).median.toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`;
  console.log(`\nADD+DEL, fast path: ${fmt(b.vsBridge)}x bridge + host-local (bar: <= 0.25)`);
  console.log(`ADD+DEL with one port: ${fmt(b.vsPortmap)}x bridge + portmap (bar: <= 0.1)`);
  console.log(`VERSION through the shim: ${fmt(b.versionMs)} ms (bar: <= 2 ms)`);
}
