// The CNI reference bridge plugin (Debian's containernetworking-plugins) with
// host-local IPAM, driven as a CNI runtime drives it: per sandbox a namespace
// (made with nsnet, as a runtime makes its own), then `bridge` ADD with the
// network config on stdin; teardown is DEL, then the namespace goes.
// With ipMasq it also installs its masquerade rules (iptables). With portmap,
// the reference `portmap` plugin is chained after it (a conflist, run as
// libcni runs one: each plugin gets the previous one's result as
// prevResult, and the runtime's portMappings as runtimeConfig), and every
// sandbox publishes one port; DEL runs the chain in reverse.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Netns } from 'nsnet';

import { run } from './exec.js';
import type { PeerRun } from './ip.js';

export const CNI_PATH = '/usr/lib/cni';

export async function runCni(opts: { n: number; ipMasq?: boolean; portmap?: boolean; prefix?: string }): Promise<PeerRun> {
  const dataDir = mkdtempSync(join(tmpdir(), 'nsnet-bench-cni-'));
  const prefix = opts.prefix ?? 'nsk';
  const bridge = {
    cniVersion: '1.0.0',
    name: 'bench',
    type: 'bridge',
    bridge: 'cnibr0',
    isGateway: true,
    ipMasq: !!opts.ipMasq || !!opts.portmap,
    ipam: { type: 'host-local', subnet: '10.200.0.0/16', dataDir },
  };
  const env = (cmd: string, id: string, ns: string) => ({ ...process.env, CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: ns, CNI_IFNAME: 'eth0', CNI_PATH });
  // Host ports 20000 + i, as a runtime would ask for one published port each.
  const portmapConf = (i: number, prevResult?: unknown) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'bench',
      type: 'portmap',
      capabilities: { portMappings: true },
      snat: true,
      runtimeConfig: { portMappings: [{ hostPort: 20000 + i, containerPort: 80, protocol: 'tcp' }] },
      ...(prevResult ? { prevResult } : {}),
    });
  const add = async (name: string, i: number) => {
    const ns = await Netns.create(name);
    ns.close();
    const result = await run(`${CNI_PATH}/bridge`, [], JSON.stringify(bridge), env('ADD', name, `/run/netns/${name}`));
    if (opts.portmap) await run(`${CNI_PATH}/portmap`, [], portmapConf(i, JSON.parse(result)), env('ADD', name, `/run/netns/${name}`));
  };
  const del = async (name: string, i: number) => {
    if (opts.portmap) await run(`${CNI_PATH}/portmap`, [], portmapConf(i), env('DEL', name, `/run/netns/${name}`));
    await run(`${CNI_PATH}/bridge`, [], JSON.stringify(bridge), env('DEL', name, `/run/netns/${name}`));
    await Netns.delete(name);
  };
  try {
    await add(`${prefix}warm`, 9999);
    await del(`${prefix}warm`, 9999);
    const setupMs: number[] = [];
    const teardownMs: number[] = [];
    for (let i = 0; i < opts.n; i++) {
      const t0 = performance.now();
      await add(`${prefix}${i}`, i);
      setupMs.push(performance.now() - t0);
    }
    for (let i = 0; i < opts.n; i++) {
      const t0 = performance.now();
      await del(`${prefix}${i}`, i);
      teardownMs.push(performance.now() - t0);
    }
    return { peer: opts.portmap ? 'cni+portmap' : opts.ipMasq ? 'cni+masq' : 'cni', n: opts.n, setupMs, teardownMs, teardown: 'explicit' };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
