// The iproute2 peer: the bridge-mode sandbox scripted the way a user would,
// one `ip` process per step (bench/peers/ip.sh, timed inside bash so the
// figure is ip's own cost, not Node's cost of starting a shell).
//
// `ip netns` always works under /run/netns (NETNS_RUN_DIR is compiled in), so
// this peer cannot honour another rundir. The bench harness runs it inside a
// private network+mount namespace with a tmpfs mounted on /run/netns, which
// keeps the host's namespaces and links out of reach.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface PeerRun {
  peer: string;
  n: number;
  setupMs: number[];
  teardownMs: number[];
  teardown: 'release' | 'explicit';
}

export interface PeerOptions {
  n: number;
  rundir?: string;
  prefix?: string;
  explicit?: boolean;
}

const IP_RUNDIR = '/run/netns';

/** 10.200.X.Y for sandbox i, with X.Y = i + 2 (.0.1 is the bridge). */
export function sandboxAddress(i: number): string {
  const host = i + 2;
  return `10.200.${host >> 8}.${host & 255}`;
}

function script(): string {
  for (const rel of ['./ip.sh', '../../../bench/peers/ip.sh']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('ip.sh not found next to bench/peers');
}

export async function runIp(opts: PeerOptions): Promise<PeerRun> {
  const { n, prefix = 'nsb', explicit = false } = opts;
  if (opts.rundir !== undefined && opts.rundir !== IP_RUNDIR) {
    throw new Error(`ip peer: iproute2 only uses ${IP_RUNDIR}, not ${opts.rundir}`);
  }
  if (!Number.isInteger(n) || n < 1 || n > 65533) throw new Error(`ip peer: bad n ${n}`);
  const { stdout } = await execFileAsync('bash', [script(), String(n), explicit ? 'explicit' : 'release', prefix], { maxBuffer: 64 << 20 });
  const r = JSON.parse(stdout) as { n: number; setup_us: number[]; teardown_us: number[] };
  if (r.n !== n || r.setup_us.length !== n || r.teardown_us.length !== n) throw new Error(`ip peer: unexpected report ${stdout.slice(0, 200)}`);
  return { peer: 'ip', n, setupMs: r.setup_us.map((u) => u / 1000), teardownMs: r.teardown_us.map((u) => u / 1000), teardown: explicit ? 'explicit' : 'release' };
}
