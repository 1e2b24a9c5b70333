// The published-port bars, measured on their own (`npm run build:bench &&
// node scripts/sandbox.mjs node build/bench/ports.js [--n 100] [--runs 5]`):
//   - a sandbox with one published port against one without (controller);
//   - the same with 1000 ports already published;
//   - against the CNI reference bridge (ipMasq) + portmap chain doing the
//     same work (one published port per sandbox).
// Each run is its own fresh private network namespace, as in run.ts, the
// peers interleaved; figures are medians over runs of per-run medians, and
// ratios are taken per round.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { formatTable, summarize } from './lib/stats.js';
import type { PeerRun } from './peers/ip.js';

const execFileAsync = promisify(execFile);
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('n', 100);
const RUNS = arg('runs', 5);
const CNI_N = arg('cni-n', 30);

async function fresh(peer: string, opts: object): Promise<PeerRun> {
  const child = fileURLToPath(new URL('./child.js', import.meta.url));
  const { stdout } = await execFileAsync(
    'unshare',
    ['--net', '--mount', '--propagation', 'private', 'sh', '-c',
      'mkdir -p /run/netns /etc/netns && mount -t tmpfs nsnet-bench /run/netns && mount -t tmpfs nsnet-bench /etc/netns && ip link set lo up && exec "$@"', 'sh',
      process.execPath, child, peer, JSON.stringify(opts)],
    { maxBuffer: 64 << 20 },
  );
  return JSON.parse(stdout) as PeerRun;
}

const median = (xs: number[]) => summarize(xs).median;

async function main(): Promise<void> {
  const configs: [string, string, object][] = [
    ['controller', 'controller', { n: N }],
    ['controller+port', 'controller', { n: N, ports: true }],
    ['controller+port@1000', 'controller', { n: N, ports: true, published: 1000 }],
    ['cni+portmap', 'cni+portmap', { n: CNI_N }],
  ];
  const per = new Map<string, number[]>(configs.map(([k]) => [k, []]));
  const extra: number[] = [];
  const scale: number[] = [];
  const vsCni: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const round = new Map<string, number>();
    for (let i = 0; i < configs.length; i++) {
      const [label, peer, o] = configs[(i + r) % configs.length]!;
      if (label === 'cni+portmap' && r >= 3) continue; // exec'ing peers: three rounds tell enough
      process.stderr.write(`\r\x1b[Kround ${r + 1}/${RUNS}: ${label}`);
      const run = await fresh(peer, o);
      const m = median(run.setupMs);
      per.get(label)!.push(m);
      round.set(label, m);
    }
    extra.push(round.get('controller+port')! - round.get('controller')!);
    scale.push(round.get('controller+port@1000')! / round.get('controller+port')!);
    if (round.has('cni+portmap')) vsCni.push(round.get('cni+portmap')! / round.get('controller+port')!);
  }
  process.stderr.write('\r\x1b[K');
  const rows = configs.map(([label]) => {
    const s = summarize(per.get(label)!);
    return [label, s.median, s.min, s.max];
  });
  console.log(formatTable(['setup, ms per sandbox', 'median', 'min', 'max'], rows));
  const fmt = (xs: number[], d = 3) => `${median(xs).toFixed(d)} (${Math.min(...xs).toFixed(d)}-${Math.max(...xs).toFixed(d)})`;
  console.log(`\none published port costs ${fmt(extra)} ms more (bar: <= 0.3 ms)`);
  console.log(`with 1000 ports published: ${fmt(scale)}x the cost with none (bar: <= 1.2x)`);
  console.log(`cni bridge+ipMasq+portmap: ${fmt(vsCni, 1)}x the controller's cost with one port (bar: >= 20x)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
