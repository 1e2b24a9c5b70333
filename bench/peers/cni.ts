// The CNI reference bridge plugin (Debian's containernetworking-plugins) with
// host-local IPAM, driven as a CNI runtime drives it: per sandbox a namespace
// (made with nsnet, as a runtime makes its own), then `bridge` ADD with the
// network config on stdin; teardown is DEL, then the namespace goes.
// With ipMasq it also installs its masquerade rules (iptables).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Netns } from 'nsnet';

import { run } from './exec.js';
import type { PeerRun } from './ip.js';

export const CNI_PATH = '/usr/lib/cni';

export async function runCni(opts: { n: number; ipMasq?: boolean; prefix?: string }): Promise<PeerRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-cni-'));
  const prefix = opts.prefix ?? 'nsk';
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: 'bench',
    type: 'bridge',
    bridge: 'cnibr0',
    isGateway: true,
    ipMasq: !!opts.ipMasq,
    ipam: { type: 'host-local', subnet: '10.200.0.0/16', dataDir },
  });
  const env = (cmd: string, id: string, ns: string) => ({ ...process.env, CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: ns, CNI_IFNAME: 'eth0', CNI_PATH });
  const one = async (name: string) => {
    const ns = await Netns.create(name);
    ns.close();
    await run(`${CNI_PATH}/bridge`, [], conf, env('ADD', name, `/run/netns/${name}`));
  };
  try {
    await one(`${prefix}warm`);
    await run(`${CNI_PATH}/bridge`, [], conf, env('DEL', `${prefix}warm`, `/run/netns/${prefix}warm`));
    await Netns.delete(`${prefix}warm`);
    const setupMs: number[] = [];
    const teardownMs: number[] = [];
    for (let i = 0; i < opts.n; i++) {
      const t0 = performance.now();
      await one(`${prefix}${i}`);
      setupMs.push(performance.now() - t0);
    }
    for (let i = 0; i < opts.n; i++) {
      const t0 = performance.now();
      await run(`${CNI_PATH}/bridge`, [], conf, env('DEL', `${prefix}${i}`, `/run/netns/${prefix}${i}`));
      await Netns.delete(`${prefix}${i}`);
      teardownMs.push(performance.now() - t0);
    }
    return { peer: opts.ipMasq ? 'cni+masq' : 'cni', n: opts.n, setupMs, teardownMs, teardown: 'explicit' };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
