// netavark (Podman's network stack, Debian's package) with its default
// firewall: per sandbox a namespace (made with nsnet, as Podman makes its
// own), then `netavark setup` with the network options on stdin; teardown is
// `netavark teardown`, then the namespace goes. Podman does IPAM itself and
// passes static addresses, so this peer does the same.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Netns } from 'nsnet';

import { run } from './exec.js';
import type { PeerRun } from './ip.js';

export const NETAVARK = '/usr/lib/podman/netavark';

export async function runNetavark(opts: { n: number; prefix?: string }): Promise<PeerRun> {
  const configDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-netavark-'));
  const prefix = opts.prefix ?? 'nsa';
  const options = (i: number) =>
    JSON.stringify({
      container_id: i.toString(16).padStart(64, '0'),
      container_name: `${prefix}${i}`,
      networks: { bench: { interface_name: 'eth0', static_ips: [`10.200.${(i + 2) >> 8}.${(i + 2) & 255}`] } },
      network_info: {
        bench: {
          dns_enabled: false, driver: 'bridge', id: 'b'.repeat(64), internal: false, ipv6_enabled: false, name: 'bench',
          network_interface: 'navbr0', subnets: [{ gateway: '10.200.0.1', subnet: '10.200.0.0/16' }],
        },
      },
      port_mappings: [],
    });
  // Podman writes the options to a file too (netavark cannot open a socket as /dev/stdin).
  const nv = (cmd: 'setup' | 'teardown', i: number) => {
    const file = join(configDir, `${prefix}${i}.json`);
    writeFileSync(file, options(i));
    return run(NETAVARK, ['--config', configDir, '-f', file, cmd, `/run/netns/${prefix}${i}`], '');
  };
  try {
    const warm = 60000;
    (await Netns.create(`${prefix}${warm}`)).close();
    await nv('setup', warm);
    await nv('teardown', warm);
    await Netns.delete(`${prefix}${warm}`);
    const setupMs: number[] = [];
    const teardownMs: number[] = [];
    for (let i = 0; i < opts.n; i++) {
      const t0 = performance.now();
      (await Netns.create(`${prefix}${i}`)).close();
      await nv('setup', i);
      setupMs.push(performance.now() - t0);
    }
    for (let i = 0; i < opts.n; i++) {
      const t0 = performance.now();
      await nv('teardown', i);
      await Netns.delete(`${prefix}${i}`);
      teardownMs.push(performance.now() - t0);
    }
    return { peer: 'netavark', n: opts.n, setupMs, teardownMs, teardown: 'explicit' };
  } finally {
    rmSync(configDir, { recursive: true, force: true });
  }
}
