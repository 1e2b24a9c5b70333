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
