// Suite (i), name resolution (bench/peers/dns.ts): what a sandbox's resolver
// adds to its create, paired in one process, served from that process
// (dns: true) and through `nsnet daemon`; and queries from inside
// sandboxes to the daemon's resolvers, one at a time (latency) and
// pipelined over 100 sandboxes from one process (throughput). Each run is
// its own fresh private network namespace. bench/run.ts runs it; alone:
//   npm run build:bench && node scripts/sandbox.mjs node build/bench/dns.js [--n 100] [--runs 3]
import { fileURLToPath } from 'node:url';

import { inFreshNetns } from './lib/fresh.js';
import { arg } from './lib/args.js';
import { formatTable, summarize, type Cell } from './lib/stats.js';
import type { DnsCreateRun, DnsQueryRun } from './peers/dns.js';

export interface DnsOptions {
  n: number;
  runs: number;
  /** Queries timed one at a time per run, and seconds of pipelined queries. */
  latencyN: number;
  seconds: number;
  before?: (label: string, round: number) => Promise<void>;
}

export interface DnsRound {
  /** Median ms a resolver adds to a create: paired, per mode. */
  addedMs: Record<'embedded' | 'daemon', number>;
  /** Median ms of a create without one (the embedded run's). */
  plainMs: number;
  p50Ms: number;
  p99Ms: number;
  qps: number;
  wrong: number;
}

export async function runDnsSuite(o: DnsOptions): Promise<DnsRound[]> {
  const rounds: DnsRound[] = [];
  for (let r = 0; r < o.runs; r++) {
    const round = { addedMs: {} } as DnsRound;
    for (const mode of r % 2 ? (['daemon', 'embedded'] as const) : (['embedded', 'daemon'] as const)) {
      await o.before?.(`create with a resolver (${mode})`, r);
      const run = await inFreshNetns<DnsCreateRun>('dns-create', { n: o.n, mode });
      round.addedMs[mode] = summarize(run.pairMs).median;
      if (mode === 'embedded') round.plainMs = summarize(run.withoutMs).median;
    }
    await o.before?.('queries', r);
    const q = await inFreshNetns<DnsQueryRun>('dns-query', { n: o.n, latencyN: o.latencyN, seconds: o.seconds, window: 4 });
    const lat = summarize(q.latencyMs);
    Object.assign(round, { p50Ms: lat.median, p99Ms: lat.p99, qps: q.qps, wrong: q.wrong });
    rounds.push(round);
  }
  return rounds;
}

const med = (xs: number[]) => summarize(xs).median;
const span = (xs: number[], d = 3) => `${med(xs).toFixed(d)} (per run ${xs.map((x) => x.toFixed(d)).join(', ')})`;

export function dnsTable(rounds: DnsRound[], n: number): string {
  const rows: Cell[][] = [
    ['create: a resolver adds, served in this process (paired)', med(rounds.map((r) => r.addedMs.embedded)), 'ms'],
    ['create: a resolver adds, served by nsnet daemon (paired)', med(rounds.map((r) => r.addedMs.daemon)), 'ms'],
    ['create without one', med(rounds.map((r) => r.plainMs)), 'ms'],
    ['a name on the network, from inside, one at a time: p50', med(rounds.map((r) => r.p50Ms)), 'ms'],
    ['  p99', med(rounds.map((r) => r.p99Ms)), 'ms'],
    [`queries a second, pipelined from one process over ${n} sandboxes`, Math.round(med(rounds.map((r) => r.qps))), '/s'],
    ['wrong answers', rounds.reduce((a, r) => a + r.wrong, 0), ''],
  ];
  return formatTable(['figure', 'median', ''], rows);
}

/** The bars: [bar, measured, met]. */
export function dnsBars(rounds: DnsRound[], n: number): [string, string, boolean][] {
  const added = rounds.map((r) => r.addedMs.embedded);
  const p50 = rounds.map((r) => r.p50Ms);
  const p99 = rounds.map((r) => r.p99Ms);
  const qps = rounds.map((r) => r.qps);
  return [
    ['a resolver adds <= 0.2 ms to a create', `${span(added)} ms; through nsnet daemon ${med(rounds.map((r) => r.addedMs.daemon)).toFixed(3)} ms`, med(added) <= 0.2],
    ['a name on the network: p50 <= 0.2 ms, p99 <= 1 ms', `p50 ${span(p50)}, p99 ${span(p99)} ms`, med(p50) <= 0.2 && med(p99) <= 1],
    [`>= 20,000 queries/s from one process over ${n} sandboxes`, `${Math.round(med(qps))}/s (per run ${qps.map((x) => Math.round(x)).join(', ')}); wrong answers: ${rounds.reduce((a, r) => a + r.wrong, 0)}`, med(qps) >= 20_000 && rounds.every((r) => r.wrong === 0)],
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const o = { n: arg('n', 100), runs: arg('runs', 3), latencyN: arg('latency-n', 5000), seconds: arg('seconds', 3) };
  const rounds = await runDnsSuite({ ...o, before: async (label, r) => void process.stderr.write(`\r\x1b[Kround ${r + 1}/${o.runs}: ${label}`) });
  process.stderr.write('\r\x1b[K');
  console.log(dnsTable(rounds, o.n));
  console.log(formatTable(['bar', 'measured', 'met'], dnsBars(rounds, o.n).map(([a, b, c]) => [a, b, c ? 'yes' : 'NO'])));
}
