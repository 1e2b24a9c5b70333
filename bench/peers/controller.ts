// nsnet through its CNM Controller, with persistence: per sandbox one SQLite
// transaction (sandbox, endpoint, address), the files (resolv.conf, hosts,
// hostname) and one kernel trip (namespace, veth into it on the bridge,
// eth0 up, address, default route). The network (bridge + gateway) is made
// once, as every peer's is.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Controller, createSandbox, type Sandbox } from 'nsnet';

import type { PeerRun } from './ip.js';

export async function runController(opts: { n: number; explicit?: boolean; prefix?: string }): Promise<PeerRun> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-'));
  const c = await Controller.open({ stateDir });
  const prefix = opts.prefix ?? 'nsc';
  try {
    await c.createNetwork('bench', { subnets: ['10.200.0.0/16'] });
    // One sandbox first, outside the timing, as every peer's first call pays for loading.
    await (await createSandbox(c, { name: `${prefix}warm`, mode: { network: 'bench' } })).delete({ wait: true });
    const setupMs: number[] = [];
    const teardownMs: number[] = [];
    const sbs: Sandbox[] = [];
    for (let i = 0; i < opts.n; i++) {
      const t0 = performance.now();
      sbs.push(await createSandbox(c, { name: `${prefix}${i}`, mode: { network: 'bench' } }));
      setupMs.push(performance.now() - t0);
    }
    for (const sb of sbs) {
      const t0 = performance.now();
      await sb.delete({ wait: !!opts.explicit });
      teardownMs.push(performance.now() - t0);
    }
    return { peer: 'controller', n: opts.n, setupMs, teardownMs, teardown: opts.explicit ? 'explicit' : 'release' };
  } finally {
    c.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
