// What the CNM concerns share: the store, the host namespace, the firewall
// backend, the drivers, the files, the events and the fault hook. Networks,
// endpoints, ports, sandboxes, joins and reconcile each take this context,
// not the Controller, so each is a module of its own and the Controller is a
// facade over them (libnetwork's drivers get narrow callbacks the same way).
import { join } from 'node:path';

import type { Driver, DriverContext, OverlayContext, PooledInterface } from '../drivers/driver.js';
import { NsnetError, ValidationError } from '../errors.js';
import type { FirewallBackend } from '../firewall/backend.js';
import { Netns } from '../netlink/netns.js';
import type { Claim } from '../netlink/pool.js';
import type { GlobalStore } from '../store/global/store.js';
import { LOCK_DIR } from '../store/statedir.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord, Store } from '../store/store.js';
import type { FileDirs } from './files.js';
import type { SandboxHook } from './hooks.js';
import type { SandboxLifecycle } from './lifecycle.js';
import type { FaultHook } from './tx.js';

export type ControllerEvent = {
  kind: 'sandbox' | 'network' | 'endpoint';
  action: 'create' | 'delete' | 'join' | 'leave';
  id: string;
  name: string;
};

export interface DeleteOptions {
  /** Delete what depends on it too (endpoints of a network, joiners of a sandbox). */
  force?: boolean;
  /**
   * Delete interfaces explicitly and wait for the kernel, instead of
   * releasing the namespace and letting the kernel destroy them in the
   * background (about 35 ms per veth against 0.1 ms).
   */
  wait?: boolean;
  /**
   * A sandbox's namespace goes back to its network's pool instead of being
   * released, if a reset proves nothing of its tenant is left. The caller
   * asserts that no process of the tenant runs any more; nsnet checks that
   * no socket is left in the namespace. Refused, it is released as usual:
   * the delete's report says why.
   */
  recycle?: boolean;
}

/** What a sandbox's delete did with its namespace. */
export interface DeleteReport {
  /** It went back to a pool. */
  recycled: boolean;
  /** Why it did not, when recycling was asked for; null otherwise. */
  reason: string | null;
}

/** A ready namespace taken from a network's pool (see pool.ts). */
export interface PoolClaim {
  claim: Claim<PooledInterface>;
  net: NetworkRecord;
  driver: Driver;
}

/** The sandbox pools (pool.ts), as the concern modules use them. */
export interface Pools {
  /** Starts the pool of a network, if it is a pooled one. */
  start(net: NetworkRecord): void;
  /** A ready namespace of the network (name or id), or null. */
  claim(network: string): PoolClaim | null;
  /** Gives ep's namespace back to its pool; null when it did, else why not. */
  recycle(ns: Netns, ep: EndpointRecord): Promise<string | null>;
  /** Stops a network's pool (the network is going). */
  drop(networkId: string): Promise<void>;
}

export interface CnmContext extends DriverContext {
  readonly store: Store;
  joinedHere(networkId: string, except?: string): Promise<boolean>;
  /** The global store (etcd) beside the local one, or null: global networks need it. */
  readonly global: GlobalStore | null;
  readonly firewall: FirewallBackend;
  /** Where sandbox namespaces are mounted. */
  readonly runDir: string;
  readonly files: FileDirs;
  /** Test hook: called before each step of a create; a throw fails that step. */
  readonly faults: FaultHook | undefined;
  /** The host's ephemeral port range once read (see publish.ts's preparePorts). */
  ephemeralPorts: [number, number] | null;
  /** Front doors' steps before a sandbox's namespace goes (hooks.ts). */
  readonly hooks: readonly SandboxHook[];
  /** Throws once the controller is closed. */
  live(): void;
  /** A registered driver; a ValidationError naming the known ones otherwise. */
  driver(name: string): Driver;
  /** A registered driver or undefined: the store may name one this process has not registered. */
  knownDriver(name: string): Driver | undefined;
  emit(e: ControllerEvent): void;
  /** The namespace of a sandbox (opened once and kept). */
  netnsOf(sb: SandboxRecord): Promise<Netns>;
  /**
   * Runs fn with a sandbox's namespace: the kept handle, except for an
   * external namespace, which gets a handle of its own that is closed after
   * fn (a kept one would keep the runtime's namespace alive after the
   * runtime deleted it). Refuses a path that names another namespace now.
   */
  inNetns<T>(sb: SandboxRecord, fn: (ns: Netns) => Promise<T>): Promise<T>;
  /**
   * Defers kernel work the caller need not wait for, keyed by what it
   * frees (deferKeys): deleting an external sandbox's interface, which
   * holds the kernel's rtnl lock for a grace period. It runs after
   * LATER_MS, by when a runtime has usually deleted the namespace, and the
   * kernel's batched namespace teardown has taken the interface with it.
   */
  later(keys: string[], work: () => Promise<void>): void;
  /**
   * Runs store work the caller need not wait for once this turn of the
   * event loop is over (the caller's answer is out by then): a busy mark's
   * clearing (see whileBusy). pending() waits for it; close() starts what
   * has not started yet and closes the store once it is done.
   */
  soon(work: () => Promise<void>): void;
  /** Runs the deferred work under any of keys (or all of it, and all of soon's) now, and resolves once it is done. */
  pending(keys?: string[]): Promise<void>;
  /** Failures of that work since the last call (the interfaces it left are reconcile's to remove). */
  laterErrors(): Error[];
  /** Keeps the handle a create made, for netnsOf. */
  keepNetns(sandboxId: string, ns: Netns): void;
  /** Closes and forgets a sandbox's handle (the sandbox is going). */
  dropNetns(sandboxId: string): void;
  /** The namespace handles kept, by sandbox id. */
  heldNetns(): [string, Netns][];
  /** Sandboxes and networks this process is at work on (through any controller on this store), with how many ops each (see busy.ts). */
  readonly inFlight: Map<string, number>;
  /** The sandbox pools, when the controller has them. */
  pools: Pools | null;
  /** Forgets a sandbox's handle without closing it (its namespace went back to a pool). */
  handOver(sandboxId: string): void;
  /** The service that follows sandboxes (name resolution), if any: see lifecycle.ts. */
  lifecycle: SandboxLifecycle | null;
}

/**
 * Ops in flight in this process, by store and record id. Shared by every
 * controller this process opens on one store: each marks a record busy
 * with the same pid, so the mark may only be cleared once the last op of
 * any of them is done, and each one's reconcile must see the others' ops.
 */
const inFlightByStore = new Map<string, Map<string, number>>();
function inFlightOn(storeId: string): Map<string, number> {
  let m = inFlightByStore.get(storeId);
  if (!m) inFlightByStore.set(storeId, (m = new Map()));
  return m;
}

/** The controller's context: its drivers, its open namespace handles and whether it is closed. */
export class Context implements CnmContext {
  readonly drivers = new Map<string, Driver>();
  ephemeralPorts: [number, number] | null = null;
  hooks: readonly SandboxHook[] = [];
  /** Open namespace handles of own-namespace sandboxes, by sandbox id. */
  private readonly handles = new Map<string, Netns>();
  /** Deferred kernel work, by the namespace it touches. */
  private readonly deferred = new Map<string, Deferred>();
  /** soon()'s work not started yet, and started but not done. */
  private readonly queued = new Map<NodeJS.Immediate, () => Promise<void>>();
  private readonly running = new Set<Promise<void>>();
  private failures: Error[] = [];
  readonly inFlight: Map<string, number>;
  pools: Pools | null = null;
  lifecycle: SandboxLifecycle | null = null;
  readonly owner: string;
  readonly locks: string;
  readonly overlay: OverlayContext | null;
  private closed = false;

  constructor(
    readonly host: Netns,
    readonly store: Store,
    readonly firewall: FirewallBackend,
    readonly runDir: string,
    readonly files: FileDirs,
    readonly faults: FaultHook | undefined,
    /** Names the controller in the error a closed one throws. */
    private readonly stateDir: string,
    readonly emit: (e: ControllerEvent) => void,
    readonly global: GlobalStore | null,
    overlay: OverlayContext | null,
  ) {
    this.owner = store.id;
    this.locks = join(stateDir, LOCK_DIR);
    this.inFlight = inFlightOn(store.id);
    this.overlay = overlay;
  }

  joinedHere(networkId: string, except?: string): Promise<boolean> {
    // Unfiltered, the endpoints are this host's, from the local store: no global mirror to lag behind another process.
    return this.store.view((t) => t.endpoints().some((e) => e.networkId === networkId && !!e.sandboxId && e.id !== except));
  }

  live(): void {
    if (this.closed) throw NsnetError.state('ERR_NSNET_CLOSED', 'controller', this.stateDir, 'the controller is closed');
  }

  driver(name: string): Driver {
    const d = this.drivers.get(name);
    if (!d) throw new ValidationError('driver', name, `is not a known driver (known: ${[...this.drivers.keys()].join(', ')})`);
    return d;
  }

  knownDriver(name: string): Driver | undefined {
    return this.drivers.get(name);
  }

  async netnsOf(sb: SandboxRecord): Promise<Netns> {
    if (sb.netnsKind === 'host') return this.host;
    const key = sb.ownerId ?? sb.id;
    let h = this.handles.get(key);
    if (!h || h.closed) {
      h = await Netns.openPath(sb.netnsPath);
      this.handles.set(key, h);
    }
    return h;
  }

  async inNetns<T>(sb: SandboxRecord, fn: (ns: Netns) => Promise<T>): Promise<T> {
    if (sb.netnsKind !== 'external') return fn(await this.netnsOf(sb));
    const ns = await openExternal(sb.netnsPath);
    try {
      if (sb.netnsId && ns.handle.id !== sb.netnsId)
        throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox.netns', sb.netnsPath, `${sb.netnsPath} is no longer the namespace sandbox ${sb.name} joined`);
      return await fn(ns);
    } finally {
      ns.close();
    }
  }

  later(keys: string[], work: () => Promise<void>): void {
    const job: Job = { work, run: null };
    for (const key of keys) {
      let d = this.deferred.get(key);
      if (!d) this.deferred.set(key, (d = { jobs: [], timer: null, running: null }));
      d.jobs.push(job);
      if (!d.timer) {
        d.timer = setTimeout(() => void this.flush(key), LATER_MS);
        d.timer.unref(); // a process that exits without settled() leaves it to reconcile
      }
    }
  }

  /** Runs a job once, whichever of its keys is flushed first; the others wait for the same run. */
  private start(job: Job): Promise<void> {
    return (job.run ??= job.work().catch((e: unknown) => void this.failures.push(e as Error)));
  }

  private flush(key: string): Promise<void> {
    const d = this.deferred.get(key);
    if (!d) return Promise.resolve();
    if (d.timer) clearTimeout(d.timer);
    d.timer = null;
    const jobs = d.jobs.splice(0);
    const run = (d.running ?? Promise.resolve()).then(async () => {
      for (const job of jobs) await this.start(job);
    });
    d.running = run;
    void run.then(() => {
      if (d.running === run && !d.jobs.length && !d.timer) this.deferred.delete(key);
    });
    return run;
  }

  soon(work: () => Promise<void>): void {
    const im = setImmediate(() => this.startSoon(im));
    this.queued.set(im, work);
  }

  private startSoon(im: NodeJS.Immediate): void {
    const work = this.queued.get(im);
    if (!work) return;
    clearImmediate(im);
    this.queued.delete(im);
    const run = work().catch((e: unknown) => void this.failures.push(e as Error));
    this.running.add(run);
    void run.then(() => this.running.delete(run));
  }

  async pending(keys?: string[]): Promise<void> {
    if (keys !== undefined) return void (await Promise.all(keys.map((k) => this.flush(k))));
    // Until nothing is left: work may queue more while it runs.
    for (;;) {
      for (const im of [...this.queued.keys()]) this.startSoon(im);
      if (this.running.size) await Promise.all(this.running);
      else if (this.deferred.size) await Promise.all([...this.deferred.keys()].map((k) => this.flush(k)));
      else return;
    }
  }

  laterErrors(): Error[] {
    const f = this.failures;
    this.failures = [];
    return f;
  }

  keepNetns(sandboxId: string, ns: Netns): void {
    this.handles.set(sandboxId, ns);
  }

  dropNetns(sandboxId: string): void {
    const h = this.handles.get(sandboxId);
    this.handles.delete(sandboxId);
    h?.close();
  }

  handOver(sandboxId: string): void {
    this.handles.delete(sandboxId);
  }

  heldNetns(): [string, Netns][] {
    return [...this.handles];
  }

  /**
   * Closes the namespace handles, and the store once soon()'s work is done
   * (at once when there is none, as there mostly is); deferred kernel work
   * not yet run is left to reconcile.
   */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const im of [...this.queued.keys()]) this.startSoon(im);
    for (const d of this.deferred.values()) if (d.timer) clearTimeout(d.timer);
    this.deferred.clear();
    for (const h of this.handles.values()) h.close();
    this.handles.clear();
    // A mark's clearing that waits for another process's lock must not find the store closed under it.
    if (!this.running.size) return Promise.resolve(this.store.close());
    return Promise.allSettled([...this.running]).then(() => this.store.close());
  }
}

/** How long deferred kernel work waits for a runtime to delete the namespace itself (see later). */
export const LATER_MS = 1000;

/** Deferred work, listed under each of its keys. */
interface Job {
  work: () => Promise<void>;
  /** Its run, once one of its keys was flushed. */
  run: Promise<void> | null;
}

interface Deferred {
  jobs: Job[];
  timer: NodeJS.Timeout | null;
  /** The last flush's run: the next one starts after it. */
  running: Promise<void> | null;
}

export const now = () => new Date().toISOString();

/**
 * What deferred work on eps's interfaces is keyed by, and what a join of
 * eps into the namespace at netnsPath waits for: that namespace (an
 * interface being deleted there may hold a name the join takes) and each
 * endpoint's host-side name (an endpoint may join another namespace before
 * the interface it left is gone).
 */
export function deferKeys(netnsPath: string, eps: EndpointRecord[]): string[] {
  return [netnsPath, ...eps.flatMap((e) => (e.hostIfname ? [`host link ${e.hostIfname}`] : []))];
}

/**
 * Opens a namespace nsnet did not make, by its path. A path that is gone
 * means the container is gone (ERR_NSNET_NOT_FOUND); one that is there but
 * names no network namespace is bad input (ValidationError).
 */
export async function openExternal(path: string): Promise<Netns> {
  try {
    return await Netns.openPath(path);
  } catch (e) {
    const code = (e as NsnetError).code;
    if (code === 'ENOENT') throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox.netns', path, `no network namespace at ${path}`);
    if (code === 'EINVAL' || code === 'ENOTDIR' || code === 'EISDIR') throw new ValidationError('netnsPath', path, 'is not a network namespace');
    throw e;
  }
}

/**
 * As Docker finds a network or a container: by full id or name, else by an
 * id prefix of any length that only one id has. A prefix several ids share
 * is an error, not a guess.
 */
export function findByKey<T extends { id: string; name: string }>(what: string, exact: T | null, all: () => T[], key: string): T | null {
  if (exact) return exact;
  if (!/^[0-9a-f]+$/.test(key)) return null;
  const m = all().filter((x) => x.id.startsWith(key));
  if (m.length > 1) throw NsnetError.state('ERR_NSNET_AMBIGUOUS', what, key, `${what} ${key} is ambiguous (${m.length} matches found based on ID prefix)`);
  return m[0] ?? null;
}
