// Suite (k), Docker: `docker run --rm` of a no-op container on dockerd
// 20.10 (bench/peers/docker.ts), with nsnet as its network and IPAM plugin
// beside Docker's own bridge driver. The network's share of a run is its
// median minus that of `--network none`; a published port's cost is the
// median of the paired differences (each round has one container with and
// one without), for nsnet also as its daemon timed the calls a port
// changes (ProgramExternalConnectivity and RevokeExternalConnectivity: the
// others do the same work with a port or without). Skipped
// where dockerd is not installed. bench/run.ts runs it; alone:
//   npm run build:bench && node scripts/sandbox.mjs node build/bench/docker.js [--n 20] [--runs 3]
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { arg } from './lib/args.js';
import { inFreshNetns } from './lib/fresh.js';
import { formatTable, summarize, type Cell } from './lib/stats.js';
import { VARIANTS, type DockerRun, type Variant } from './peers/docker.js';

/** Whether dockerd and the 20.10 client are there to run. */
export const dockerPresent = () => existsSync('/usr/sbin/dockerd') && existsSync('/usr/bin/docker');

/** Per round: each variant's median ms, the ports' paired extras, and the daemon's ms per nsnet container. */
export interface DockerRound {
  runMs: Record<Variant, number>;
  /** Median of per-round differences with minus without a port, wall ms. */
  portWallMs: { nsnet: number; bridge: number };
  /** The daemon's median ms for all plugin calls of a container, and the port's extra in the calls it changes (paired). */
  pluginMs: number;
  portPluginMs: number;
}

const med = (xs: number[]) => summarize(xs).median;
const paired = (a: number[], b: number[]) => med(a.map((x, i) => x - b[i]!));

export async function runDockerSuite(o: { n: number; runs: number; before?: (round: number) => Promise<void> }): Promise<DockerRound[]> {
  const rounds: DockerRound[] = [];
  for (let r = 0; r < o.runs; r++) {
    await o.before?.(r);
    const run = await inFreshNetns<DockerRun>('docker', { n: o.n });
    rounds.push({
      runMs: Object.fromEntries(VARIANTS.map((v) => [v, med(run.runMs[v])])) as Record<Variant, number>,
      portWallMs: { nsnet: paired(run.runMs['nsnet+port'], run.runMs.nsnet), bridge: paired(run.runMs['bridge+port'], run.runMs.bridge) },
      pluginMs: med(run.pluginMs.nsnet.all),
      portPluginMs: paired(run.pluginMs['nsnet+port'].ports, run.pluginMs.nsnet.ports),
    });
  }
  return rounds;
}

/** The network's share of a run: its median minus none's. */
const share = (r: DockerRound, v: Variant) => r.runMs[v] - r.runMs.none;
/** What a network costs above the floor plugin's: the driver's own. */
const own = (r: DockerRound, v: Variant) => r.runMs[v] - r.runMs.floor;

/** The bars, per round: nsnet's share against Docker bridge's, and what one port adds under nsnet. */
export function dockerBars(rounds: DockerRound[]): { shareRatio: number[]; ownRatio: number[]; portMs: number[] } {
  return {
    shareRatio: rounds.map((r) => share(r, 'nsnet') / share(r, 'bridge')),
    ownRatio: rounds.map((r) => own(r, 'nsnet') / own(r, 'bridge')),
    portMs: rounds.map((r) => r.portPluginMs),
  };
}

export function dockerTable(rounds: DockerRound[]): string {
  const m = (f: (r: DockerRound) => number) => med(rounds.map(f));
  const rows: Cell[][] = VARIANTS.map((v) => [
    v === 'none' ? '--network none' : v === 'floor' ? 'floor plugin' : v, m((r) => r.runMs[v]), v === 'none' ? '' : m((r) => share(r, v)), ['none', 'floor'].includes(v) ? '' : m((r) => own(r, v)),
  ]);
  rows.push(
    ['one port, paired: nsnet', m((r) => r.portWallMs.nsnet), '', ''],
    ['one port, paired: bridge', m((r) => r.portWallMs.bridge), '', ''],
    ["nsnet daemon: Docker's calls per container", m((r) => r.pluginMs), '', ''],
    ['nsnet daemon: one port (Program/RevokeExternalConnectivity), paired', m((r) => r.portPluginMs), '', ''],
  );
  return formatTable(['docker run --rm (no-op)', 'ms', 'network share ms', 'above the floor ms'], rows, 2);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!dockerPresent()) {
    console.log('(k) Docker: skipped (no /usr/sbin/dockerd or /usr/bin/docker)');
  } else {
    const o = { n: arg('n', 20), runs: arg('runs', 3) };
    const rounds = await runDockerSuite({ ...o, before: async (r) => void process.stderr.write(`\r\x1b[Kround ${r + 1}/${o.runs}`) });
    process.stderr.write('\r\x1b[K');
    console.log(dockerTable(rounds));
    const b = dockerBars(rounds);
    const fmt = (xs: number[], d = 3) => `${med(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`;
    console.log(`\nnetwork share, nsnet / Docker bridge: ${fmt(b.shareRatio)} (bar: <= 0.25); above the floor plugin: ${fmt(b.ownRatio)}`);
    console.log(`one published port under nsnet: ${fmt(b.portMs)} ms (bar: <= 1 ms)`);
  }
}
