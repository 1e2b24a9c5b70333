// Runs one peer (bench/child.ts) in a fresh private network + mount
// namespace (tmpfs over /run/netns and /etc/netns, lo up) and returns the
// figures it prints as JSON: every bench run starts from a clean kernel and
// never touches the host's network.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** How long nsnet held the JS thread in each run (bench/child.ts reports it), ms. */
export interface AddonHold {
  maxDrainCpuMs: number;
  maxDrainMs: number;
  maxWaitMs: number;
  maxDeliveryCpuMs: number;
}

/**
 * Resolves in a turn of the event loop of its own. The addon's hold counts
 * every continuation its settled promises run, the bench's own included:
 * the bench's heavy work (thousands of records or lines to build) starts
 * after this, so that the hold it reports is nsnet's.
 */
export const ownTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Every run's hold, by peer, in the order they ran. */
export const holds: { peer: string; addon: AddonHold }[] = [];

export async function inFreshNetns<T>(peer: string, opts: object, env?: Record<string, string>): Promise<T> {
  const child = fileURLToPath(new URL('../child.js', import.meta.url));
  const { stdout } = await execFileAsync(
    'unshare',
    ['--net', '--mount', '--propagation', 'private', 'sh', '-c',
      'mkdir -p /run/netns /etc/netns && mount -t tmpfs nsnet-bench /run/netns && mount -t tmpfs nsnet-bench /etc/netns && ip link set lo up && exec "$@"', 'sh',
      process.execPath, '--expose-gc', child, peer, JSON.stringify(opts)],
    { maxBuffer: 64 << 20, ...(env ? { env: { ...process.env, ...env } } : {}) },
  );
  const r = JSON.parse(stdout) as T & { addon?: AddonHold };
  if (r && typeof r === 'object' && !Array.isArray(r) && r.addon) holds.push({ peer, addon: r.addon });
  return r;
}

// Waits until the machine is idle: the kernel destroys a finished run's
// namespaces in the background for seconds, and that work would be billed
// to whichever run comes next.
export async function settle(ms: number): Promise<void> {
  const { readFile } = await import('node:fs/promises');
  const sample = async () => {
    const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
  };
  const deadline = Date.now() + 30_000;
  await new Promise((res) => setTimeout(res, ms));
  while (Date.now() < deadline) {
    const a = await sample();
    await new Promise((res) => setTimeout(res, 250));
    const b = await sample();
    if (b.total > a.total && (b.idle - a.idle) / (b.total - a.total) > 0.97) return;
  }
}
