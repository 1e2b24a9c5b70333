// Simulated hosts in one process for the overlay tests: each a namespace
// on the underlay with its own state dir and Controller, all against one
// etcd. (test/multihost.ts runs each host as its own daemon process.)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Controller, Netns, type ControllerOptions } from '../src/index.js';
import { Etcd, underlay, type Underlay } from './etcd-helpers.js';
import { ipj, uniq } from './helpers.js';

export interface SimHost {
  ns: Netns;
  address: string;
  stateDir: string;
  c: Controller;
  reopen(o?: Partial<ControllerOptions>): Promise<Controller>;
}

export interface Cluster {
  ul: Underlay;
  etcd: Etcd;
  hosts: SimHost[];
  /** Another host on the same underlay and etcd. */
  add(o?: Partial<ControllerOptions>): Promise<SimHost>;
  close(): Promise<void>;
}

export async function cluster(n: number, o: Partial<ControllerOptions> = {}): Promise<Cluster> {
  const ul = await underlay();
  await ul.plugSelf();
  const etcd = new Etcd(ul.ns, `${ul.net}.1`);
  await etcd.start();
  const hosts: SimHost[] = [];
  const add = async (more: Partial<ControllerOptions> = {}) => {
    const ns = await Netns.create(uniq('hs'));
    const address = await ul.plug(ns, 10 + hosts.length);
    const stateDir = await mkdtemp(join(tmpdir(), 'nsnet-ov-'));
    const opts = { stateDir, host: ns, globalStore: etcd.url, advertise: address, hostTtl: 3, firewall: 'none' as const, ...o, ...more };
    const h: SimHost = {
      ns, address, stateDir,
      c: await Controller.open(opts),
      async reopen(again = {}) {
        h.c.close();
        h.c = await Controller.open({ ...opts, ...again });
        return h.c;
      },
    };
    hosts.push(h);
    return h;
  };
  for (let i = 0; i < n; i++) await add();
  return {
    ul, etcd, hosts, add,
    async close() {
      for (const h of hosts) {
        for (const sb of await h.c.sandboxes().catch(() => [])) await sb.delete({ force: true }).catch(() => {});
      }
      for (const h of hosts) {
        for (const net of await h.c.networks().catch(() => [])) if (net.record.scope === 'global') await net.delete().catch(() => {});
        h.c.close();
        await h.ns.delete();
        await rm(h.stateDir, { recursive: true, force: true });
      }
      await etcd.close();
      await ul.close();
    },
  };
}

/** A VXLAN device's remote entries as `bridge -j fdb` shows them (mac -> dst), and its neighbours as `ip -j neigh` does (ip -> mac). */
export async function programmed(ns: Netns, dev: string): Promise<{ fdb: Map<string, string>; neigh: Map<string, string> }> {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile('nsenter', [`--net=${ns.path}`, 'bridge', '-j', 'fdb', 'show', 'dev', dev], (e, so) => (e ? reject(e) : resolve(so))));
  const fdb = new Map<string, string>((JSON.parse(out || '[]') as any[]).filter((e) => e.dst && (e.flags ?? []).includes('self')).map((e) => [e.mac, e.dst]));
  const neigh = new Map<string, string>((await ipj<any[]>(ns.path!, 'neigh', 'show', 'dev', dev)).map((e) => [e.dst, e.lladdr]));
  return { fdb, neigh };
}
