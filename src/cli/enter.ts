// Runs a command inside a sandbox the way `docker run` does for networking:
// its network namespace, plus a private mount namespace where the sandbox's
// resolv.conf, hosts and hostname are bind-mounted over /etc, and a UTS
// namespace for its hostname. nsenter and unshare (util-linux) do the
// entering in the child, so no thread of this process ever calls setns.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';

import type { SandboxInfo } from '../cnm/objects.js';

// $1 resolv.conf, $2 hosts, $3 hostname file, $4 hostname; then the command.
const SCRIPT = `set -e
[ -e /etc/resolv.conf ] || : > /etc/resolv.conf 2>/dev/null || true
mount --bind "$1" /etc/resolv.conf
mount --bind "$2" /etc/hosts
if [ -e /etc/hostname ]; then mount --bind "$3" /etc/hostname; fi
printf %s "$4" > /proc/sys/kernel/hostname
shift 4
exec "$@"`;

/**
 * Starts argv in the sandbox. Detached, it runs in a session of its own
 * with no stdio, and this process may exit before it (docker run -d).
 */
export function enter(sb: SandboxInfo, argv: string[], env: NodeJS.ProcessEnv = process.env, o: { detach?: boolean } = {}): ChildProcess {
  // An external sandbox's files are its runtime's: only its namespace is entered.
  const files = sb.resolvConf !== null && sb.hosts !== null && sb.hostnameFile !== null && existsSync(sb.resolvConf);
  const args = [`--net=${sb.netnsPath}`, '--', 'unshare', '--mount', '--uts', '--propagation', 'private', '--'];
  const cmd = files ? [...args, '/bin/sh', '-c', SCRIPT, 'sh', sb.resolvConf!, sb.hosts!, sb.hostnameFile!, sb.hostname, ...argv] : [...args, ...argv];
  if (!o.detach) return spawn('nsenter', cmd, { stdio: 'inherit', env });
  const child = spawn('nsenter', cmd, { stdio: 'ignore', env, detached: true });
  child.unref();
  return child;
}

/** Resolves once the child has started (nsenter was found and exec'd). */
export function spawned(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
}

/** Waits for the child; its exit code, or 128 + signal number as a shell reports it. */
export function waitExit(child: ChildProcess): Promise<number> {
  // Ctrl-C reaches the child through the terminal's process group; this
  // process must outlive it to clean up, so it only passes signals on.
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      if (code !== null) resolve(code);
      else resolve(128 + (constants.signals[signal as NodeJS.Signals] ?? 0));
    });
  });
}

