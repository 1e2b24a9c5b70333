// The pyroute2 peer (Debian's python3-pyroute2): runs peers/pyroute2_peer.py,
// which times itself in-process, and reads its JSON.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import type { PeerRun } from './ip.js';

const execFileAsync = promisify(execFile);

function script(): string {
  for (const rel of ['./pyroute2_peer.py', '../../../bench/peers/pyroute2_peer.py']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('pyroute2_peer.py not found next to bench/peers');
}

export async function runPyroute2(o: { n: number }): Promise<PeerRun> {
  // Debian's python (where python3-pyroute2 lives), not whatever python3 is first on PATH.
  const { stdout } = await execFileAsync('/usr/bin/python3', [script(), String(o.n)], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as PeerRun;
}
