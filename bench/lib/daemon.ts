// `nsnet daemon` as its own process, for the suites that measure a front
// door (CNI, DNS) as callers meet it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The nsnet command, built. */
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** Starts `nsnet daemon ...args`; resolves with a stop function once its last door (CNI) listens. */
export function daemon(args: string[]): Promise<() => Promise<void>> {
  const p = spawn(process.execPath, [CLI, 'daemon', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
      if (err.includes('cni: listening')) resolve(async () => (p.kill('SIGTERM'), exited));
    });
    void exited.then(() => reject(new Error(`nsnet daemon exited: ${err}`)));
  });
}
