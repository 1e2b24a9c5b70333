// Makes the store and the kernel agree after a crash, a reboot or someone
// else's cleanup, touching only what this store made. The store says what
// nsnet meant to exist; the kernel says what does. Bridges of this store's
// networks that vanished (a reboot) are made again; each sandbox is
// verified, mended or removed (verify.ts); veths this store's endpoints
// left behind are removed; nsnet's table is brought in line with this
// store's verified sandboxes. Things that look like nsnet's but are not
// this store's (another state dir's, or nobody's) are reported, never
// removed: several stores, and other tenants, share one host; nor is a
// namespace nsnet did not make (an external sandbox's, a runtime's), nor
// anything inside one but what nsnet put there. Transient sandboxes whose
// creator has exited are removed once nothing runs in them.
import { lstatSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { NsnetError } from '../errors.js';
import type { FirewallReport } from '../firewall/backend.js';
import type { Link } from '../netlink/types.js';
import { repairStandby } from '../store/ports.js';
import type { SandboxRecord, StoreTx } from '../store/store.js';
import { ownership } from '../owner.js';
import { workerAlive } from './busy.js';
import type { CnmContext } from './context.js';
import { firewallState } from './publish.js';
import { Netns, isMounted, netnsIdAt } from '../netlink/netns.js';
import { checkNetworks, checkSandboxes } from './verify.js';
import { poolAlive, poolOwner } from './pool.js';
import { deleteSandbox } from './sandboxes.js';
import { reconcileGlobal } from './global.js';
import { deleteEndpoint } from './join.js';
import type { GlobalStore } from '../store/global/store.js';
import { sandboxProcesses, startedAt } from '../processes.js';

export interface ReconcileReport {
  /**
   * Sandboxes removed: their namespace was gone, their create or delete
   * was cut short, they could not be mended, or they were transient ones
   * left by their creator.
   */
  sandboxesRemoved: string[];
  addressesReleased: number;
  /** Host-side interfaces this store's endpoints left behind, removed. */
  interfacesRemoved: string[];
  /** Bridges (and other interfaces, a macvlan shim) of this store's networks that were missing and were made again. */
  bridgesRestored: string[];
  /** Leftover sandbox files and /etc/netns links with no sandbox. */
  filesRemoved: number;
  /** What the firewall backend needed (null if that step failed: see errors). */
  firewall: FirewallReport | null;
  /** What was found wrong, one line each, and what was done about it. */
  found: string[];
  /** Namespaces this store made that no sandbox of it owns (a gc that looked into namespaces): removed. */
  namespacesRemoved: string[];
  /** Namespaces another store made (a gc that looked into namespaces): never touched. */
  foreignNamespaces: string[];
  /** Interfaces another store made (their alias says so): never touched. */
  foreignInterfaces: string[];
  /**
   * Interfaces named as nsnet names its bridges and veths that no store's
   * tag claims and this store does not know (an older nsnet's, or someone
   * else's): left alone unless a gc asks for orphans.
   */
  orphanInterfaces: string[];
  errors: string[];
}

const HOST_VETH = /^nsv[0-9a-f]{8}$/;
const ROUTED_VETH = /^nsr[0-9a-z]{12}$/;
const NSNET_BRIDGE = /^nsbr-[0-9a-f]{10}$/;

export interface ReconcileOptions {
  /** Also remove what nobody's tag claims (orphanInterfaces, orphan elements): `nsnet gc --orphans`. */
  orphans?: boolean;
  /**
   * Also look into each namespace in the run dir that is not one of this
   * store's sandboxes, by its lo's alias: this store's leftovers go, another
   * store's are listed (gc does; it costs a namespace opened for each).
   */
  namespaces?: boolean;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process that created sb is gone: exited, or its pid since taken by a process that started later. */
function creatorGone(sb: SandboxRecord): boolean {
  if (!alive(sb.pid)) return true;
  const started = startedAt(sb.pid);
  // /proc's boot time has a resolution of a second.
  return started !== null && started > Date.parse(sb.created) + 2000;
}

/** 0. Transient sandboxes (nsnet run's) whose creator is gone and in which nothing runs: removed as a delete would. */
async function removeLeftTransients(c: CnmContext, report: ReconcileReport): Promise<void> {
  const left = (await c.store.view((t) => t.sandboxes())).filter((sb) => sb.transient && sb.pid !== process.pid && creatorGone(sb));
  for (const sb of left) {
    if (sandboxProcesses({ netnsPath: sb.netnsKind === 'own' ? sb.netnsPath : null, ids: [sb.id] }).length) continue;
    try {
      await deleteSandbox(c, sb, { force: true });
      report.sandboxesRemoved.push(sb.name);
    } catch (e) {
      const code = (e as NsnetError).code;
      // Gone already, or another process's delete is at it.
      if (code !== 'ERR_NSNET_NOT_FOUND' && code !== 'ERR_NSNET_BUSY') report.errors.push(`sandbox ${sb.name}: ${(e as Error).message}`);
    }
  }
}

export async function reconcile(c: CnmContext, o: ReconcileOptions = {}): Promise<ReconcileReport> {
  c.live();
  const report: ReconcileReport = {
    sandboxesRemoved: [], addressesReleased: 0, interfacesRemoved: [], bridgesRestored: [], filesRemoved: 0, firewall: null, found: [], foreignInterfaces: [],
    orphanInterfaces: [], namespacesRemoved: [], foreignNamespaces: [], errors: [],
  };
  // Listed before the store is read: a sandbox's row is written before its
  // files, so files seen here whose row is missing below have no sandbox
  // (and another process's create in flight is never taken for a leftover).
  const files = listFiles(c);
  await removeLeftTransients(c, report);

  // 1. Networks: left alone, removed, or their vanished bridges made again (verify.ts).
  const byName = async () => new Map((await c.host.links.list()).map((l) => [l.name, l] as const));
  const nets = await checkNetworks(c);
  report.bridgesRestored.push(...nets.restored);
  report.found.push(...nets.found);
  report.errors.push(...nets.errors);

  // 1b. Global networks: this host's endpoints back in etcd and etcd's in
  //     line with this host; their devices where sandboxes here need them.
  // Not while etcd has been unreachable since open: its networks (and so
  // which interfaces are theirs) are unknown then, and nothing is removed.
  const globalUnknown = !!c.global && !c.global.mirror.synced;
  if (globalUnknown) report.errors.push(`global store ${c.global!.url}: unreachable, so global networks were not reconciled and no interface was taken for a leftover`);
  else if (c.global) await globalPart(c, c.global, report);

  // 2. Each sandbox: left alone, verified (and mended), or removed.
  const sb = await checkSandboxes(c);
  report.sandboxesRemoved.push(...sb.removed);
  report.addressesReleased += sb.addressesReleased;
  report.found.push(...sb.found);
  report.errors.push(...sb.errors);

  // 3. Pools of processes that died: their namespaces go (and the veths in them with those).
  await deadPools(c, report);

  // 4. Host-side interfaces: this store's leftovers go, the rest is reported.
  if (!globalUnknown) await leftovers(c, [...(await byName()).values()], report, !!o.orphans);

  if (o.namespaces) await namespaces(c, report);

  // 4b. Host ports stood by for whose holder went without handing them over.
  try {
    const busy = (t: StoreTx) => (id: string) => {
      const s = t.sandbox(id);
      return !!s?.busy && workerAlive(s.busy, c.inFlight, s.id);
    };
    // A write only when there is something to mend.
    if ((await c.store.view((t) => repairStandby(t, busy(t), true))).length) report.found.push(...(await c.store.update((t) => repairStandby(t, busy(t)))));
  } catch (e) {
    report.errors.push(`ports: ${(e as Error).message}`);
  }

  // 5. nsnet's table: made if missing, rebuilt if not as nsnet writes it,
  //    and holding the ports of verified sandboxes (never of others).
  try {
    report.firewall = await c.firewall.reconcile(() => firewallState(c, sb), { orphans: !!o.orphans });
  } catch (e) {
    report.errors.push(`firewall: ${(e as Error).message}`);
  }

  // 6. Files of sandboxes that no longer exist; handles of namespaces that went.
  const live = await c.store.view((t) => t.sandboxes());
  removeFiles(c, files, new Set(live.map((s) => s.filesDir)), report);
  const ids = new Map(live.map((s) => [s.id, s]));
  for (const [id, ns] of c.heldNetns()) {
    const rec = ids.get(id);
    if (rec && !ns.closed && isMounted(rec.netnsPath) && netnsIdAt(rec.netnsPath) === ns.id) continue;
    c.dropNetns(id);
  }
  return report;
}

/**
 * Interfaces that look like nsnet's (named so, or tagged): this store's
 * leftovers go (veths of endpoints no longer joined, bridges of networks
 * no longer there); another store's are reported; nobody's (untagged, and
 * not this store's) are reported, and removed only when asked (gc).
 */
async function leftovers(c: CnmContext, links: Link[], report: ReconcileReport, orphans: boolean): Promise<void> {
  const { endpoints, networks } = await c.store.view((t) => ({ endpoints: t.endpoints(), networks: t.networks() }));
  const eps = new Map(endpoints.filter((e) => e.hostIfname).map((e) => [e.hostIfname!, e]));
  const bridges = new Set(networks.flatMap((n) => c.knownDriver(n.driver)?.networkLinks?.(n) ?? [n.driverState.bridge as string | undefined].filter((x): x is string => !!x)));
  let peers: Set<string> | undefined;
  for (const l of links) {
    const named = ((HOST_VETH.test(l.name) || ROUTED_VETH.test(l.name)) && l.kind === 'veth') || (NSNET_BRIDGE.test(l.name) && l.kind === 'bridge');
    const whose = ownership(c.owner, l.alias);
    if (!named && whose === 'nobody') continue;
    if (whose === 'other') {
      report.foreignInterfaces.push(l.name);
      continue;
    }
    // A live process's pool holds veths no endpoint has yet.
    const inUse = bridges.has(l.name) || (l.kind !== 'bridge' && (!!eps.get(l.name)?.sandboxId || poolAlive(c.owner, l.alias?.split(' ')[2] ?? '')));
    if (inUse) continue;
    const ours = whose === 'mine' || (l.kind === 'bridge' ? false : eps.has(l.name));
    if (!ours) report.orphanInterfaces.push(l.name);
    if (!ours && !orphans) continue;
    // Deleting a veth deletes its peer: nobody's veth whose peer is in a
    // namespace that is not this store's (a runtime's, another store's) is never removed.
    if (!ours && l.kind === 'veth' && l.linkNetnsid !== null && !(peers ??= await ownNetnsPeers(c)).has(`${l.link}:${l.ifindex}`)) {
      report.found.push(`${l.name}: nobody's, its peer in a namespace that is not this store's: left alone`);
      continue;
    }
    try {
      await c.host.links.delete(l.ifindex);
      report.interfacesRemoved.push(l.name);
      report.found.push(ours ? `${l.name}: this store's, used by nothing: removed` : `${l.name}: nobody's: removed (orphans asked for)`);
    } catch (e) {
      if ((e as NsnetError).code !== 'ENODEV') report.errors.push(`link ${l.name}: ${(e as Error).message}`);
    }
  }
}

/** reconcileGlobal, reported; this host's endpoints whose address another host took meanwhile leave their sandboxes. */
async function globalPart(c: CnmContext, g: GlobalStore, report: ReconcileReport): Promise<void> {
  const gr = await reconcileGlobal(c, g);
  report.found.push(...gr.found);
  report.errors.push(...gr.errors);
  for (const ep of gr.lost) {
    try {
      await deleteEndpoint(c, ep, { wait: true });
      report.addressesReleased += ep.addresses.length;
    } catch (e) {
      report.errors.push(`endpoint ${ep.name}: ${(e as Error).message}`);
    }
  }
}

/** Runs fn on each of the named namespaces of the run dir that is mounted, opened for the call. */
async function eachRunDirNetns(c: CnmContext, names: string[], fn: (name: string, ns: Netns) => Promise<void>): Promise<void> {
  for (const name of names) {
    const path = join(c.runDir, name);
    if (!isMounted(path)) continue;
    const ns = await Netns.openPath(path).catch(() => null);
    if (!ns) continue;
    try {
      await fn(name, ns);
    } finally {
      ns.close();
    }
  }
}

/** Namespaces in the run dir by their lo's alias: this store's that no sandbox owns go, another store's are listed. */
async function namespaces(c: CnmContext, report: ReconcileReport): Promise<void> {
  // Listed before the store is read: a namespace seen here whose sandbox is alive has its row by then.
  const names = await Netns.list({ runDir: c.runDir });
  const mine = new Set((await c.store.view((t) => t.sandboxes())).map((s) => s.name));
  await eachRunDirNetns(c, names.filter((n) => !mine.has(n) && !poolAlive(c.owner, n)), async (name, ns) => {
    try {
      const whose = ownership(c.owner, (await ns.links.find('lo'))?.alias);
      if (whose === 'other') report.foreignNamespaces.push(name);
      if (whose !== 'mine') return;
      ns.close();
      await Netns.delete(name, { runDir: c.runDir });
      report.namespacesRemoved.push(name);
      report.found.push(`namespace ${name}: this store's, no sandbox of it: removed`);
    } catch (e) {
      report.errors.push(`namespace ${name}: ${(e as Error).message}`);
    }
  });
}

/**
 * The veths in this store's namespaces whose peer is in another namespace,
 * as `ifindex:peer ifindex`: the peers an orphan veth of the host may have
 * for gc to remove it. The run dir is not nsnet's alone (/run/netns is
 * where `ip netns` and Podman put theirs too): a namespace there is this
 * store's only when its lo carries this store's tag, and no other is
 * looked into. This store's external sandboxes' namespaces are passed
 * over: they are their runtimes'.
 */
async function ownNetnsPeers(c: CnmContext): Promise<Set<string>> {
  const external = new Set((await c.store.view((t) => t.sandboxes())).filter((s) => s.netnsKind === 'external').map((s) => s.netnsPath));
  const out = new Set<string>();
  const names = (await Netns.list({ runDir: c.runDir })).filter((n) => !external.has(join(c.runDir, n)));
  await eachRunDirNetns(c, names, async (_name, ns) => {
    if (ownership(c.owner, (await ns.links.find('lo').catch(() => null))?.alias) !== 'mine') return;
    for (const l of await ns.links.list().catch(() => [])) if (l.kind === 'veth' && l.link !== null && l.linkNetnsid !== null) out.add(`${l.ifindex}:${l.link}`);
  });
  return out;
}

/** The pooled namespaces (pool.ts) of this store's processes that are gone. */
async function deadPools(c: CnmContext, report: ReconcileReport): Promise<void> {
  for (const name of await Netns.list({ runDir: c.runDir })) {
    if (!poolOwner(c.owner, name) || poolAlive(c.owner, name)) continue;
    try {
      await Netns.delete(name, { runDir: c.runDir });
      report.namespacesRemoved.push(name);
      report.found.push(`namespace ${name}: the pool of a process that is gone: removed`);
    } catch (e) {
      if ((e as NsnetError).code !== 'ENOENT') report.errors.push(`namespace ${name}: ${(e as Error).message}`);
    }
  }
}

interface Listed {
  dirs: string[];
  links: string[];
}

function listFiles(c: CnmContext): Listed {
  const ls = (d: string) => {
    try {
      return readdirSync(d).map((e) => join(d, e));
    } catch {
      return [];
    }
  };
  return { dirs: ls(c.files.filesRoot), links: ls(c.files.etcDir) };
}

/** The files directory is this store's alone; /etc/netns links count only when they point into it. */
function removeFiles(c: CnmContext, listed: Listed, live: Set<string>, report: ReconcileReport): void {
  for (const dir of listed.dirs) {
    if (live.has(dir)) continue;
    rmSync(dir, { recursive: true, force: true });
    report.filesRemoved++;
  }
  for (const link of listed.links) {
    try {
      if (!lstatSync(link).isSymbolicLink()) continue;
      const target = readlinkSync(link);
      if (target.startsWith(c.files.filesRoot + '/') && !live.has(target)) {
        rmSync(link);
        report.filesRemoved++;
      }
    } catch {
      /* raced with someone else's cleanup */
    }
  }
}
