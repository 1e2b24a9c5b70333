// nsnet through its CNM Controller, with persistence: per sandbox one SQLite
// transaction (sandbox, endpoint, address), the files (resolv.conf, hosts,
// hostname) and one kernel trip (namespace, veth into it on the bridge,
// eth0 up, address, default route). The network (bridge + gateway) is made
// once, as every peer's is. With ports, every sandbox publishes one port
// (host 20000 + i -> 80); with published, that many ports are published
// (by one sandbox) before the timing starts. With paired, sandboxes come in
// pairs, one with a port and one without, in alternating order (n pairs), so the cost
// of a port is read within the same process and moment (pairMs).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Controller, Netns, createSandbox, type Sandbox } from 'nsnet';

import type { PeerRun } from './ip.js';

export interface ControllerRun extends PeerRun {
  /** paired: per pair, ms with the port minus ms without. */
  pairMs?: number[];
}

export async function runController(opts: {
  n: number; explicit?: boolean; prefix?: string; ports?: boolean; published?: number; paired?: boolean;
  /** The network's driver: bridge (default) or routed; none: sandboxes with only lo (no network). */
  driver?: 'bridge' | 'routed' | 'none';
  /**
   * Give the namespace an uplink with an address first, as every host has:
   * the kernel picks a host route's source by walking the interfaces in
   * the order they were made until one has an IPv4 address.
   */
  uplink?: boolean;
}): Promise<ControllerRun> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-'));
  if (opts.uplink) await (await Netns.host()).batch().addVeth({ name: 'up0', up: true, peer: { name: 'up1' } }).addAddress('up0', '192.0.2.1/24').setUp('up1').commit();
  const c = await Controller.open({ stateDir });
  const prefix = opts.prefix ?? 'nsc';
  try {
    if (opts.driver !== 'none') await c.createNetwork('bench', { driver: opts.driver ?? 'bridge', subnets: ['10.200.0.0/16'] });
    const mode = opts.driver === 'none' ? 'none' : { network: 'bench' };
    // One sandbox first, outside the timing, as every peer's first call pays for loading.
    await (await createSandbox(c, { name: `${prefix}warm`, mode, ...(opts.ports || opts.paired ? { ports: ['19999:80'] } : {}) })).delete({ wait: true });
    if (opts.published) {
      const n = opts.published;
      await createSandbox(c, { name: `${prefix}held`, mode: { network: 'bench' }, ports: [`30000-${30000 + n - 1}:1000-${1000 + n - 1}`] });
    }
    const setupMs: number[] = [];
    const teardownMs: number[] = [];
    const sbs: Sandbox[] = [];
    if (opts.paired) {
      const pairMs: number[] = [];
      await (await createSandbox(c, { name: `${prefix}warm`, mode: { network: 'bench' } })).delete({ wait: true });
      for (let i = 0; i < opts.n; i++) {
        const ms: Record<string, number> = {};
        for (const port of i % 2 ? [false, true] : [true, false]) {
          const t0 = performance.now();
          sbs.push(await createSandbox(c, { name: `${prefix}${i}${port ? 'p' : ''}`, mode: { network: 'bench' }, ...(port ? { ports: [`${20000 + i}:80`] } : {}) }));
          ms[String(port)] = performance.now() - t0;
          setupMs.push(ms[String(port)]!);
        }
        pairMs.push(ms.true! - ms.false!);
      }
      for (const sb of sbs) await sb.delete();
      return { peer: 'controller±port', n: opts.n, setupMs, teardownMs, teardown: 'release', pairMs };
    }
    for (let i = 0; i < opts.n; i++) {
      const t0 = performance.now();
      sbs.push(await createSandbox(c, { name: `${prefix}${i}`, mode, ...(opts.ports ? { ports: [`${20000 + i}:80`] } : {}) }));
      setupMs.push(performance.now() - t0);
    }
    for (const sb of sbs) {
      const t0 = performance.now();
      await sb.delete({ wait: !!opts.explicit });
      teardownMs.push(performance.now() - t0);
    }
    const peer = opts.driver === 'routed' || opts.driver === 'none' ? `controller/${opts.driver}` : opts.published ? `controller+port@${opts.published}` : opts.ports ? 'controller+port' : 'controller';
    return { peer, n: opts.n, setupMs, teardownMs, teardown: opts.explicit ? 'explicit' : 'release' };
  } finally {
    c.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
