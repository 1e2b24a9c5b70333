// Makes the store and the kernel agree after a crash, a reboot or someone
// else's cleanup. The store says what nsnet meant to exist; the kernel says
// what does. Sandboxes whose namespace is gone give back their addresses;
// interfaces nsnet made that nothing owns are removed; bridges of known
// networks that vanished (a reboot) are made again. Transient sandboxes
// whose creator has exited are removed once nothing runs in them.
import { lstatSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { NsnetError } from '../errors.js';
import type { FirewallReport } from '../firewall/backend.js';
import type { SandboxRecord } from '../store/store.js';
import type { CnmContext } from './context.js';
import { dropEndpoint } from './endpoints.js';
import { removeSandboxFiles } from './files.js';
import { firewallState } from './publish.js';
import { deleteSandbox } from './sandboxes.js';
import { sandboxProcesses, startedAt } from '../processes.js';

export interface ReconcileReport {
  /** Sandboxes whose namespace was gone, or transient ones left by their creator: removed, addresses released. */
  sandboxesRemoved: string[];
  addressesReleased: number;
  /** Host-side interfaces nsnet made that no endpoint owned. */
  interfacesRemoved: string[];
  /** Bridges of stored networks that were missing and were made again. */
  bridgesRestored: string[];
  /** Leftover sandbox files and /etc/netns links with no sandbox. */
  filesRemoved: number;
  /** What the firewall backend needed (null if that step failed: see errors). */
  firewall: FirewallReport | null;
  errors: string[];
}

const HOST_VETH = /^nsv[0-9a-f]{8}$/;
const NSNET_BRIDGE = /^nsbr-[0-9a-f]{10}$/;

/** A namespace bind mount: the file exists and is not on its directory's filesystem. */
function mounted(path: string): boolean {
  try {
    return statSync(path).dev !== statSync(dirname(path)).dev;
  } catch {
    return false;
  }
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
      if ((e as NsnetError).code !== 'ERR_NSNET_NOT_FOUND') report.errors.push(`sandbox ${sb.name}: ${(e as Error).message}`);
    }
  }
}

export async function reconcile(c: CnmContext): Promise<ReconcileReport> {
  c.live();
  const report: ReconcileReport = {
    sandboxesRemoved: [], addressesReleased: 0, interfacesRemoved: [], bridgesRestored: [], filesRemoved: 0, firewall: null, errors: [],
  };
  await removeLeftTransients(c, report);
  const snapshot = await c.store.view((t) => ({ sandboxes: t.sandboxes(), networks: t.networks() }));

  // 1. Sandboxes without a namespace (and the sandboxes sharing theirs).
  const gone = new Set<string>();
  for (const sb of snapshot.sandboxes) {
    if (sb.netnsKind !== 'own' || mounted(sb.netnsPath)) continue;
    // Still being created by a live process (its row comes before its namespace).
    if (sb.pid !== process.pid && alive(sb.pid) && Date.now() - Date.parse(sb.created) < 60_000) continue;
    gone.add(sb.id);
  }
  for (const sb of snapshot.sandboxes) if (sb.ownerId && gone.has(sb.ownerId)) gone.add(sb.id);
  for (const sb of snapshot.sandboxes.filter((s) => gone.has(s.id))) {
    for (const h of c.hooks) await h.beforeDelete(sb, c.host, { netnsGone: true }).catch((e: Error) => report.errors.push(`sandbox ${sb.name}: hook ${h.name}: ${e.message}`));
    try {
      const released = await c.store.update((t) => {
        let n = 0;
        for (const ep of t.endpoints({ sandboxId: sb.id })) {
          n += ep.addresses.length;
          dropEndpoint(t, ep);
        }
        t.deleteSandbox(sb.id);
        return n;
      });
      if (sb.netnsKind !== 'container') removeSandboxFiles(c.files, sb);
      report.sandboxesRemoved.push(sb.name);
      report.addressesReleased += released;
    } catch (e) {
      report.errors.push(`sandbox ${sb.name}: ${(e as Error).message}`);
    }
  }

  // 2. Kernel objects: restore missing bridges, remove orphaned interfaces.
  const links = await c.host.links.list();
  const byName = new Map(links.map((l) => [l.name, l]));
  const state = await c.store.view((t) => ({ networks: t.networks(), endpoints: t.endpoints() }));
  for (const net of state.networks) {
    const bridge = net.driverState.bridge as string | undefined;
    if (net.driver !== 'bridge' || !bridge || byName.has(bridge)) continue;
    try {
      await c.driver(net.driver).createNetwork(c, net);
      await c.store.update((t) => t.putNetwork(net));
      report.bridgesRestored.push(bridge);
    } catch (e) {
      report.errors.push(`network ${net.name}: ${(e as Error).message}`);
    }
  }
  const owned = new Set(state.endpoints.filter((e) => e.sandboxId && e.hostIfname).map((e) => e.hostIfname!));
  const bridges = new Set(state.networks.map((n) => n.driverState.bridge as string | undefined).filter(Boolean));
  const orphans = links.filter((l) => (HOST_VETH.test(l.name) && l.kind === 'veth' && !owned.has(l.name)) || (NSNET_BRIDGE.test(l.name) && l.kind === 'bridge' && !bridges.has(l.name)));
  for (const l of orphans) {
    try {
      await c.host.links.delete(l.ifindex);
      report.interfacesRemoved.push(l.name);
    } catch (e) {
      if ((e as NsnetError).code !== 'ENODEV') report.errors.push(`link ${l.name}: ${(e as Error).message}`);
    }
  }

  // 3. nsnet's table: rebuilt if someone flushed it, port elements of gone
  //    endpoints removed (their sandboxes went in step 1 or behind our back).
  try {
    report.firewall = await c.firewall.reconcile(() => firewallState(c));
  } catch (e) {
    report.errors.push(`firewall: ${(e as Error).message}`);
  }

  // 4. Files of sandboxes that no longer exist.
  const live = await c.store.view((t) => t.sandboxes());
  const dirs = new Set(live.map((s: SandboxRecord) => s.filesDir));
  let entries: string[] = [];
  try {
    entries = readdirSync(c.files.filesRoot);
  } catch {
    /* no sandboxes yet */
  }
  for (const e of entries) {
    const dir = join(c.files.filesRoot, e);
    if (dirs.has(dir)) continue;
    rmSync(dir, { recursive: true, force: true });
    report.filesRemoved++;
  }
  try {
    for (const e of readdirSync(c.files.etcDir)) {
      const link = join(c.files.etcDir, e);
      try {
        if (!lstatSync(link).isSymbolicLink()) continue;
        const target = readlinkSync(link);
        if (target.startsWith(c.files.filesRoot + '/') && !dirs.has(target)) {
          rmSync(link);
          report.filesRemoved++;
        }
      } catch {
        /* raced with someone else's cleanup */
      }
    }
  } catch {
    /* no etc dir */
  }
  return report;
}
