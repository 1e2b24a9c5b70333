// The processes that run in a sandbox, read from /proc: those whose network
// namespace is the sandbox's, and those that carry its id in their
// environment (what `nsnet run` started in a sandbox that shares another's
// namespace, or the host's). Stopping them is SIGTERM, then SIGKILL after a
// grace period, as `docker stop` does.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The variable `nsnet run` sets for the command it starts: the sandbox's id. */
export const SANDBOX_ENV = 'NSNET_SANDBOX';

/** Every process but this one. */
function pids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((p) => p !== process.pid);
}

/** Alive and not a zombie waiting for its parent. */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export function sameFile(a: string, b: { dev: number; ino: number }): boolean {
  try {
    const s = statSync(a);
    return s.dev === b.dev && s.ino === b.ino;
  } catch {
    return false;
  }
}

function carries(pid: number, entries: string[]): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    return entries.some((e) => env.includes(e));
  } catch {
    return false;
  }
}

/** When a process started (ms since the epoch), from /proc: to tell a pid reused since from the process that had it. */
export function startedAt(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const boot = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    // USER_HZ is 100 on every architecture Linux runs Node on.
    return Number.isFinite(ticks) && boot ? boot * 1000 + ticks * 10 : null;
  } catch {
    return null;
  }
}

/**
 * The processes in a sandbox: those whose network namespace is the file at
 * netnsPath (when given), or whose environment names one of ids. Processes
 * that end meanwhile are skipped.
 */
export function sandboxProcesses(o: { netnsPath?: string | null; ids?: string[] }): number[] {
  let ns: { dev: number; ino: number } | null = null;
  if (o.netnsPath) {
    try {
      ns = statSync(o.netnsPath);
    } catch {
      // No namespace any more: only the environment can tell.
    }
  }
  // Never the namespace this process or init runs in: that is a host's, not a sandbox's.
  if (ns && (sameFile('/proc/self/ns/net', ns) || sameFile('/proc/1/ns/net', ns))) ns = null;
  const entries = (o.ids ?? []).map((id) => `${SANDBOX_ENV}=${id}`);
  return pids().filter((p) => running(p) && ((ns && sameFile(`/proc/${p}/ns/net`, ns)) || (entries.length > 0 && carries(p, entries))));
}

/** How long a SIGKILLed process may take to go (one in uninterruptible sleep may not). */
const KILL_WAIT_MS = 5000;

/** SIGTERM, then SIGKILL to those still running after graceMs; resolves to those that did not go. */
export async function stopProcesses(list: number[], graceMs: number): Promise<number[]> {
  const signal = (sig: NodeJS.Signals) => {
    for (const p of list) {
      try {
        process.kill(p, sig);
      } catch {
        // Already gone.
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  let killed = false;
  for (;;) {
    list = list.filter(running);
    if (!list.length || Date.now() >= deadline + KILL_WAIT_MS) return list;
    if (!killed && Date.now() >= deadline) {
      signal('SIGKILL');
      killed = true;
    }
    await sleep(20);
  }
}
