// CNI plugins exec'd per call, as a runtime execs them: per container a
// namespace made first (as a runtime makes its own, untimed), then ADD with
// the configuration on stdin (timed); later DEL (timed), then the namespace
// goes (untimed, as a runtime deletes it after DEL). Calls are spawned
// synchronously (fork, exec, wait, as Go's exec does), which costs a
// fraction of Node's asynchronous spawn; the suite reports /bin/true's cost
// the same way, for scale.
//   nsnet-fast    the native shim, answered by `nsnet daemon` (its own process)
//   nsnet-slow    the native shim with no daemon: node runs the plugin per call
//   cni           the reference bridge plugin with host-local IPAM
//   cni+portmap   bridge (ipMasq, as portmap's SNAT needs) chained with portmap
//   (+port)       one published port per container: nsnet's portMappings capability
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Netns } from 'nsnet';

import { CLI, daemon } from '../lib/daemon.js';
import type { PeerRun } from './ip.js';

export type CniPeer = 'nsnet-fast' | 'nsnet-fast+port' | 'nsnet-slow' | 'cni' | 'cni+portmap';

const REFERENCE = '/usr/lib/cni';

/** One exec: the plugin's stdout, or a throw with what it said. */
function call(binary: string, env: NodeJS.ProcessEnv, stdin: string): string {
  const r = spawnSync(binary, [], { env, input: stdin, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${binary} ${env.CNI_COMMAND}: exit ${r.status}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

export async function runCniPlugin(o: { n: number; peer: CniPeer }): Promise<PeerRun> {
  const tmp = mkdtempSync(join(tmpdir(), 'nsnet-bench-cniplugin-'));
  const bin = join(tmp, 'bin');
  const socket = join(tmp, 'cni.sock');
  const stateDir = join(tmp, 'state');
  const nsnet = o.peer.startsWith('nsnet');
  const ports = o.peer.endsWith('+port') || o.peer === 'cni+portmap';
  let stop: (() => Promise<void>) | null = null;
  if (nsnet) {
    spawnSync(process.execPath, [CLI, 'cni', 'install', '--dir', bin, '--socket', socket, '--state-dir', stateDir], { stdio: 'ignore' });
    if (o.peer !== 'nsnet-slow') stop = await daemon(['--cni-socket', socket, '--dns-socket', join(tmp, 'dns.sock'), '--state-dir', stateDir]);
  }
  const name = 'benchcni';
  const env = (cmd: string, id: string) => ({ PATH: process.env.PATH, CNI_COMMAND: cmd, CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${id}`, CNI_IFNAME: 'eth0', CNI_PATH: nsnet ? bin : REFERENCE });
  const mapping = (i: number) => ({ portMappings: [{ hostPort: 20000 + i, containerPort: 80, protocol: 'tcp' }] });
  // The same network either way: 10.200/16 on a bridge with the gateway on it; masquerade only where portmap needs it.
  const plugins = (i: number) =>
    nsnet
      ? [{ type: 'nsnet', subnet: '10.200.0.0/16', bridge: 'cnibr0', ipMasq: ports, ...(ports ? { capabilities: { portMappings: true }, runtimeConfig: mapping(i) } : {}) }]
      : [
          { type: 'bridge', bridge: 'cnibr0', isGateway: true, ipMasq: ports, ipam: { type: 'host-local', subnet: '10.200.0.0/16', dataDir: join(tmp, 'host-local') } },
          ...(ports ? [{ type: 'portmap', capabilities: { portMappings: true }, snat: true, runtimeConfig: mapping(i) }] : []),
        ];
  const binary = (type: string) => join(nsnet ? bin : REFERENCE, type);
  const results = new Map<string, unknown>();
  // ADD through the chain (each plugin's result the next one's prevResult); DEL in reverse with the ADD's result.
  const add = (id: string, i: number) => {
    let prev: unknown;
    for (const p of plugins(i)) prev = JSON.parse(call(binary(p.type), env('ADD', id), JSON.stringify({ cniVersion: '1.0.0', name, ...p, ...(prev ? { prevResult: prev } : {}) })));
    results.set(id, prev);
  };
  const del = (id: string, i: number) => {
    for (const p of plugins(i).reverse()) call(binary(p.type), env('DEL', id), JSON.stringify({ cniVersion: '1.0.0', name, ...p, prevResult: results.get(id) }));
  };
  const mk = async (id: string) => (await Netns.create(id)).close();
  try {
    // The network (and its bridge) is made by the first ADD: not timed.
    await mk('warm');
    add('warm', 9999);
    del('warm', 9999);
    await Netns.delete('warm');
    const setupMs: number[] = [];
    const teardownMs: number[] = [];
    for (let i = 0; i < o.n; i++) {
      await mk(`c${i}`);
      const t0 = performance.now();
      add(`c${i}`, i);
      setupMs.push(performance.now() - t0);
    }
    for (let i = 0; i < o.n; i++) {
      const t0 = performance.now();
      del(`c${i}`, i);
      teardownMs.push(performance.now() - t0);
      await Netns.delete(`c${i}`);
    }
    return { peer: o.peer, n: o.n, setupMs, teardownMs, teardown: 'explicit' };
  } finally {
    await stop?.();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** VERSION through the shim, n times (no daemon and no node involved), and /bin/true the same way for scale. */
export async function runCniVersion(o: { n: number }): Promise<{ versionMs: number[]; trueMs: number[] }> {
  const tmp = mkdtempSync(join(tmpdir(), 'nsnet-bench-cniversion-'));
  try {
    spawnSync(process.execPath, [CLI, 'cni', 'install', '--dir', tmp], { stdio: 'ignore' });
    const time = (bin: string, env: NodeJS.ProcessEnv) => {
      const xs: number[] = [];
      for (let i = 0; i < o.n; i++) {
        const t0 = performance.now();
        call(bin, env, '{"cniVersion":"1.1.0"}');
        xs.push(performance.now() - t0);
      }
      return xs;
    };
    time(join(tmp, 'nsnet'), { CNI_COMMAND: 'VERSION' }); // warm the page cache
    return { versionMs: time(join(tmp, 'nsnet'), { CNI_COMMAND: 'VERSION' }), trueMs: time('/bin/true', {}) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
