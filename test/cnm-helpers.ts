// A private world per test: a namespace playing the host, its own state
// directory, and snapshots of kernel + store + files to prove "nothing changed".
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Controller, Netns, type ControllerOptions } from '../src/index.js';
import { ipj, uniq } from './helpers.js';
import { nftj } from './nft-helpers.js';

export interface World {
  c: Controller;
  host: Netns;
  stateDir: string;
  /** Reopens the controller on the same state (a restart). */
  reopen(o?: Partial<ControllerOptions>): Promise<Controller>;
  /** Removes everything: sandboxes, networks, the host namespace, the state. */
  cleanup(): Promise<void>;
}

export async function world(tag: string, o: Partial<ControllerOptions> = {}): Promise<World> {
  const host = await Netns.create(uniq(`w${tag}`));
  const stateDir = await mkdtemp(join(tmpdir(), `nsnet-${tag}-`));
  const w: World = {
    c: await Controller.open({ stateDir, host, ...o }),
    host,
    stateDir,
    async reopen(more = {}) {
      await w.c.close();
      w.c = await Controller.open({ stateDir, host, ...o, ...more });
      return w.c;
    },
    async cleanup() {
      for (const sb of await w.c.sandboxes().catch(() => [])) await sb.delete({ force: true }).catch(() => {});
      await w.c.close();
      await host.delete();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
  return w;
}

/** snapshot() once the kernel has stopped changing (two equal readings in a row). */
export async function settled(w: World, sandboxPrefix: string) {
  let prev = JSON.stringify(await snapshot(w, sandboxPrefix));
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const cur = await snapshot(w, sandboxPrefix);
    if (JSON.stringify(cur) === prev) return cur;
    prev = JSON.stringify(cur);
  }
}

/** Everything a failed create must leave as it found: kernel (nf_tables included), store rows, files. */
export async function snapshot(w: World, sandboxPrefix: string) {
  const hostName = w.host.name!;
  const links = (await ipj<any[]>(hostName, 'link', 'show')).map((l) => `${l.ifname} ${l.link_type} ${l.master ?? ''} ${l.operstate}`).sort();
  // IPv6 link-local addresses and their routes are the kernel's own, added
  // whenever a link comes up; they are not nsnet's to create or remove.
  const addrs = (await ipj<any[]>(hostName, 'addr', 'show'))
    .flatMap((l) => l.addr_info.filter((a: any) => a.scope !== 'link' || a.family !== 'inet6').map((a: any) => `${l.ifname} ${a.local}/${a.prefixlen}`))
    .sort();
  const routes = (await ipj<any[]>(hostName, 'route', 'show', 'table', 'all'))
    .filter((r) => !String(r.dst).startsWith('fe80:') && r.dst !== 'ff00::/8')
    .map((r) => JSON.stringify(r))
    .sort();
  const netns = (await ipj<{ name: string }[]>(null, 'netns', 'list')).map((n) => n.name).filter((n) => n.startsWith(sandboxPrefix)).sort();
  const store = await w.c.store.view((t) => {
    const nets = t.networks();
    return {
      networks: nets,
      endpoints: t.endpoints(),
      sandboxes: t.sandboxes(),
      allocations: nets.flatMap((n) => n.subnets.map((s) => t.allocations(`${n.id}/${s.subnet}`))),
      cursors: nets.flatMap((n) => n.subnets.map((s) => t.cursor(`${n.id}/${s.subnet}`))),
    };
  });
  const files = await readdir(join(w.stateDir, 'sandboxes')).catch(() => []);
  const etc = (await readdir('/etc/netns').catch(() => [] as string[])).filter((n) => n.startsWith(sandboxPrefix));
  // The firewall too: nsnet's table, its rules and every element.
  const nft = await nftj(hostName);
  return { links, addrs, routes, netns, store, files, etc, nft };
}

/** Polls until fn stops throwing: the kernel destroys released namespaces in the background. */
export async function eventually<T>(fn: () => Promise<T>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
