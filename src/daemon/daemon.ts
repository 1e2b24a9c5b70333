// `nsnet daemon`: one long-running process per host holding one Controller,
// for callers that cannot load a Node module (runtimes exec'ing the CNI
// shim, the sandboxes asking for names; dockerd later). It reconciles the store
// with the kernel when it starts (a crash or a reboot left them apart),
// then serves each front door; on SIGTERM it stops taking calls, lets those
// under way finish, waits for the kernel work they handed on, and exits.
import { Controller, type ControllerOptions, type ControllerPoolStats } from '../cnm/controller.js';
import type { ReconcileReport } from '../cnm/reconcile.js';
import type { FrontDoor } from './frontdoor.js';
import { recordGlobalStore } from '../store/statedir.js';

export interface DaemonOptions extends Pick<ControllerOptions, 'stateDir' | 'runDir' | 'firewall' | 'dockerUser' | 'globalStore' | 'advertise' | 'hostTtl' | 'pool'> {
  doors: FrontDoor[];
  /** Where a line goes (default: stderr). */
  log?: (line: string) => void;
}

export interface Daemon {
  readonly controller: Controller;
  readonly doors: FrontDoor[];
  /** What the daemon reports of itself, one line each (its pools'); written on SIGUSR1 by runDaemon. */
  metrics(): string[];
  /** Stops every door, waits for the calls under way and their kernel work, closes the Controller (its pools' namespaces released). */
  close(): Promise<void>;
}

/** A pool's figures in one line (see PoolStats). */
function poolLine(what: string, s: Omit<ControllerPoolStats, 'networks'>): string {
  return `${what}: size ${s.size}, ready ${s.ready}, resetting ${s.resetting}, hits ${s.hits}, misses ${s.misses}, made ${s.made}, recycled ${s.recycled}, refused ${s.refused}, refill ${s.refillRate.toFixed(1)}/s, failures ${s.failures}${s.lastError ? ` (last: ${s.lastError})` : ''}`;
}

/** What reconcile found and did, and what of others' it left alone, in one line. */
function summary(r: ReconcileReport): string {
  const parts = [
    r.sandboxesRemoved.length && `sandbox(es) removed: ${r.sandboxesRemoved.join(', ')}`,
    ...r.found,
    r.foreignInterfaces.length && `another store's interface(s) left alone: ${r.foreignInterfaces.join(', ')}`,
    r.orphanInterfaces.length && `interface(s) no store claims left alone: ${r.orphanInterfaces.join(', ')}`,
    r.firewall?.rebuilt && 'firewall table rebuilt',
    r.firewall && r.firewall.elementsRemoved + r.firewall.elementsAdded > 0 && `${r.firewall.elementsRemoved} port element(s) removed, ${r.firewall.elementsAdded} added`,
    r.firewall?.dockerUser && r.firewall.dockerUser.removed + r.firewall.dockerUser.added > 0 && `DOCKER-USER: ${r.firewall.dockerUser.removed} rule(s) removed, ${r.firewall.dockerUser.added} added`,
    ...r.errors.map((e) => `error: ${e}`),
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'store and kernel agree';
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { doors, log: _log, ...copts } = o;
  const controller = await Controller.open({ ...copts, reconcile: false });
  // The commands run beside the daemon find its global store here, and attach to its registration.
  recordGlobalStore(controller.stateDir, controller.ctx.global?.url ?? null);
  const started: FrontDoor[] = [];
  const daemon: Daemon = {
    controller,
    doors,
    metrics() {
      const st = controller.pool?.stats();
      if (!st) return ['pool: none'];
      return [poolLine('pool', st), ...Object.entries(st.networks).map(([net, s]) => poolLine(`pool ${net}`, s))];
    },
    async close() {
      await Promise.all(started.map((d) => d.close()));
      for (const e of await controller.settled()) log(`kernel work left to reconcile: ${e.message}`);
      await controller.close();
      log('nsnet daemon stopped');
    },
  };
  try {
    log(`reconcile: ${summary(await controller.reconcile())}`);
    const g = controller.ctx.global;
    if (g) log(`global store ${g.url}: host ${g.hostId} registered (${g.hosts().find((h) => h.id === g.hostId)?.address})`);
    for (const d of doors) {
      await d.start({ controller, log });
      started.push(d);
      log(`${d.name}: listening on ${d.address}`);
    }
  } catch (e) {
    await daemon.close();
    throw e;
  }
  return daemon;
}

/** Runs until SIGTERM or SIGINT, then closes cleanly; resolves with the exit code. SIGUSR1 logs its metrics. */
export async function runDaemon(o: DaemonOptions): Promise<number> {
  const daemon = await startDaemon(o);
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const metrics = () => daemon.metrics().forEach((l) => log(l));
  process.on('SIGUSR1', metrics);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  process.off('SIGUSR1', metrics);
  await daemon.close();
  return 0;
}
