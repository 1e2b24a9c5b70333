// The CNM controller: the one object an embedding runtime holds. It opens
// the store, the host namespace and the firewall backend, registers the
// drivers, and hands each request to the module of its concern (networks,
// endpoints, sandboxes, join, reconcile), which turns it into a transaction:
// intent goes to the store first (so a crash leaves something reconcile can
// find), then the kernel, and any failure undoes both.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { bridgeDriver } from '../drivers/bridge.js';
import type { Driver } from '../drivers/driver.js';
import { hostDriver } from '../drivers/host.js';
import { macvlanDriver } from '../drivers/macvlan.js';
import { routedDriver } from '../drivers/routed.js';
import { ipamDriver } from '../drivers/ipam.js';
import { nullDriver } from '../drivers/null.js';
import { overlayDriver } from '../drivers/overlay.js';
import { NsnetError, ValidationError } from '../errors.js';
import type { FirewallKind } from '../firewall/backend.js';
import { DockerUserFirewall, iptablesRunner } from '../firewall/dockeruser.js';
import { NftablesFirewall } from '../firewall/nftables.js';
import { NoFirewall } from '../firewall/none.js';
import { Netns, defaultRunDir } from '../netlink/netns.js';
import type { GlobalStore } from '../store/global/store.js';
import { ScopedStore } from '../store/scoped.js';
import { DaemonResolver } from '../dns/client.js';
import { defaultDnsSocket } from '../dns/protocol.js';
import { DnsService, type DnsOptions } from '../dns/service.js';
import { SqliteStore } from '../store/sqlite.js';
import type { EndpointRecord, Store, StoreTx } from '../store/store.js';
import { Context, findByKey, type ControllerEvent } from './context.js';
import { openGlobal, overlayContext, register, type GlobalOptions } from './global.js';
import { defaultSandboxHooks, type SandboxHook } from './hooks.js';
import { PeerSync } from './peers.js';
import { nameServer } from './lifecycle.js';
import * as networks from './networks.js';
import type { NetworkOptions } from './networks.js';
import { Endpoint, Network, Sandbox } from './objects.js';
import { reconcile, type ReconcileOptions, type ReconcileReport } from './reconcile.js';
import * as sandboxes from './sandboxes.js';
import type { SandboxSettings } from './sandboxes.js';
import type { FaultHook } from './tx.js';
import { SandboxPools, checkPoolOptions, type PoolOptions } from './pool.js';

export type { ControllerEvent, DeleteOptions, DeleteReport } from './context.js';
export type { ControllerPoolStats, PoolOptions } from './pool.js';
export type { SandboxHook } from './hooks.js';
export type { EndpointOptions } from './endpoints.js';
export type { NetworkOptions, SubnetOptions } from './networks.js';
export type { SandboxAttachment } from './sandboxes.js';
export type { DnsOptions } from '../dns/service.js';

export interface ControllerOptions extends GlobalOptions {
  /** Where the store lives: NSNET_STATE_DIR, else /var/lib/nsnet. */
  stateDir?: string;
  /**
   * Where sandbox files (resolv.conf, hosts, hostname) live: NSNET_FILES_DIR,
   * else /run/nsnet/<a hash of stateDir>. Runtime state, as Podman's runroot:
   * on a tmpfs they live exactly as long as the namespaces in /run/netns, and
   * creating them there costs a fraction of what a disk filesystem does.
   * One directory per state dir, because reconcile removes what no sandbox
   * of its store owns.
   */
  filesDir?: string;
  /** Where sandbox namespaces are mounted: NSNET_RUN_DIR, else /run/netns. */
  runDir?: string;
  /** Where `ip netns exec` looks for per-namespace /etc files: /etc/netns. */
  etcDir?: string;
  /** The namespace that plays the host (bridges, host-side veths). Default: this process's. */
  host?: Netns;
  /** A store other than the default SQLite file. */
  store?: Store;
  /** Reconcile the store with the kernel on open (default true). */
  reconcile?: boolean;
  /**
   * Who keeps the host's firewall: 'nftables' (default), nsnet's own table
   * over netlink; 'none', nobody (networks get no isolation or NAT from
   * nsnet, and publishing a port is refused).
   */
  firewall?: FirewallKind;
  /**
   * Also keep rules for nsnet's bridges in the iptables chain DOCKER-USER
   * (firewall/dockeruser.ts), which dockerd's FORWARD drop makes nsnet's
   * networks need; nftables only.
   */
  dockerUser?: boolean;
  /** Test hook: called before each step of a create; a throw fails that step. */
  faults?: FaultHook;
  /**
   * Sandbox pools: for each of these networks, `size` namespaces made
   * ahead of time with the network's interface already plugged in, so a
   * sandbox on one of them (alone) is made in one short trip; refilled in
   * the background at a bounded rate. `sandbox.delete({ recycle: true })`
   * gives a namespace back once a reset proves it clean. See pool.ts.
   */
  pool?: PoolOptions;
  /** Steps before a sandbox's namespace goes (default: the registered ones, see hooks.ts). */
  hooks?: SandboxHook[];
  /**
   * Name resolution between sandboxes on user-defined networks (an embedded
   * resolver at 127.0.0.11 in each). By default, `nsnet daemon`'s when one
   * serves this store, else none: sandboxes get the host's resolvers. true
   * (or options): served from this process when no daemon serves this
   * store. false: none, whoever runs.
   */
  dns?: boolean | DnsOptions;
}

/** A host of the global store, as `nsnet host ls` shows it. */
export interface HostInfo {
  id: string;
  name: string;
  /** Its underlay address (VTEP). */
  address: string;
  vtepMac: string;
  started: string;
  /** This host. */
  self: boolean;
  /** Its endpoints on global networks. */
  endpoints: number;
  /** Seconds left on its lease (it is alive while this is above 0), or null when etcd did not say. */
  ttl: number | null;
}

export interface SandboxOptions extends SandboxSettings {
  /** Existing, unjoined endpoints to join at creation. */
  join?: Endpoint[];
}

function defaultFilesDir(stateDir: string): string {
  return join('/run/nsnet', createHash('sha256').update(stateDir).digest('hex').slice(0, 12));
}

/** A name or id to look up: a string, or the lookup would fail deep in the store with a TypeError. */
function lookupKey(value: unknown, what: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new ValidationError(`${what} name or id`, value, 'must be a non-empty string');
}

/** A network's or a sandbox's record by name or id (or a unique id prefix); ERR_NSNET_NOT_FOUND when there is none. */
async function find<T extends { id: string; name: string }>(
  ctx: Context, what: 'network' | 'sandbox', key: string, exact: (t: StoreTx) => T | null, all: (t: StoreTx) => T[],
): Promise<T> {
  ctx.live();
  lookupKey(key, what);
  const rec = await ctx.store.view((t) => findByKey(what, exact(t), () => all(t), key));
  if (!rec) throw NsnetError.state('ERR_NSNET_NOT_FOUND', what, key, `no ${what} ${key}`);
  return rec;
}

/** The options with Endpoint handles turned into the records the sandbox code takes. */
function withRecords(o: SandboxOptions): sandboxes.SandboxPlanOptions {
  const { join: eps, ...settings } = o;
  if (eps === undefined) return settings;
  const records: EndpointRecord[] = eps.map((e) => {
    if (!(e instanceof Endpoint)) throw new ValidationError('join', e, 'must be Endpoints');
    return e.record;
  });
  return { ...settings, join: records };
}

export class Controller extends EventEmitter {
  readonly stateDir: string;
  readonly runDir: string;
  readonly etcDir: string;
  readonly filesDir: string;
  /** What the concern modules work with. @internal */
  readonly ctx: Context;
  /** Programs this host's VXLAN devices as the global store changes (in the process that registered the host). */
  peers: PeerSync | null = null;

  private constructor(o: {
    stateDir: string; runDir: string; etcDir: string; filesDir: string; host: Netns; store: Store; firewall: FirewallKind; dockerUser: boolean; faults?: FaultHook; global: GlobalStore | null;
  }) {
    super();
    this.stateDir = o.stateDir;
    this.filesDir = o.filesDir;
    this.runDir = o.runDir;
    this.etcDir = o.etcDir;
    const nft = o.firewall === 'none' ? new NoFirewall() : new NftablesFirewall(o.host, o.store.id);
    const firewall = o.dockerUser ? new DockerUserFirewall(nft, o.store.id, iptablesRunner(o.host.path)) : nft;
    const emit = (e: ControllerEvent) => {
      if (this.listenerCount('event') > 0) this.emit('event', e);
    };
    this.ctx = new Context(o.host, o.store, firewall, o.runDir, { filesRoot: o.filesDir, etcDir: o.etcDir }, o.faults, o.stateDir, emit,
      o.global, o.global ? overlayContext(o.global, () => this.peers) : null);
    for (const d of [nullDriver, hostDriver, bridgeDriver, macvlanDriver, routedDriver, ipamDriver, overlayDriver]) this.ctx.drivers.set(d.name, d);
  }

  static async open(opts: ControllerOptions = {}): Promise<Controller> {
    const abs = (v: unknown, f: string) => {
      if (typeof v !== 'string' || !v.startsWith('/')) throw new ValidationError(f, v, 'must be an absolute path');
      return v;
    };
    const stateDir = abs(opts.stateDir ?? process.env.NSNET_STATE_DIR ?? '/var/lib/nsnet', 'stateDir');
    const runDir = abs(opts.runDir ?? defaultRunDir(), 'runDir');
    const etcDir = abs(opts.etcDir ?? '/etc/netns', 'etcDir');
    const filesDir = abs(opts.filesDir ?? (process.env.NSNET_FILES_DIR || defaultFilesDir(stateDir)), 'filesDir');
    const firewall = opts.firewall ?? 'nftables';
    if (firewall !== 'nftables' && firewall !== 'none') throw new ValidationError('firewall', opts.firewall, "must be 'nftables' or 'none'");
    const dockerUser = opts.dockerUser ?? false;
    if (typeof dockerUser !== 'boolean') throw new ValidationError('dockerUser', opts.dockerUser, 'must be true or false');
    if (dockerUser && firewall !== 'nftables') throw new ValidationError('dockerUser', dockerUser, "needs firewall 'nftables': the none backend makes no rules to let through");
    const host = opts.host ?? (await Netns.host());
    const local = opts.store ?? new SqliteStore(stateDir);
    let global: GlobalStore | null;
    try {
      global = await openGlobal(opts, local);
    } catch (e) {
      local.close();
      throw e;
    }
    const store = global ? new ScopedStore(local, global) : local;
    const pool = opts.pool === undefined ? null : checkPoolOptions(opts.pool);
    const c = new Controller({ stateDir, runDir, etcDir, filesDir, host, store, firewall, dockerUser, global, ...(opts.faults ? { faults: opts.faults } : {}) });
    c.ctx.hooks = opts.hooks ?? defaultSandboxHooks();
    try {
      if (global && opts.register !== false) await register(c.ctx, global, opts);
      await networks.ensurePredefined(c.ctx);
      // Before reconcile: a sandbox it removes (a killed `nsnet run`'s) is one the daemon must forget.
      const o = typeof opts.dns === 'object' ? opts.dns : {};
      const daemon = opts.dns === false ? null : new DaemonResolver(o.socket ?? defaultDnsSocket(), store.id);
      c.ctx.lifecycle = daemon;
      if (opts.reconcile !== false) await c.reconcile();
      if (global?.registered) {
        c.peers = new PeerSync(host, global, (line) => process.stderr.write(`nsnet: ${line}\n`));
        await c.peers.start();
      }
      if (daemon && opts.dns) {
        await daemon.prepare();
        if (!daemon.serving()) await c.serveNames(o);
      }
      if (pool) {
        const pools = new SandboxPools(c.ctx, pool);
        c.ctx.pools = pools;
        for (const n of await c.ctx.store.view((t) => t.networks())) {
          if (pool.networks.includes(n.name) && !c.ctx.knownDriver(n.driver)?.prepool)
            throw new ValidationError('pool.networks', n.name, `is a ${n.driver} network, whose driver cannot pool`);
          pools.start(n);
        }
      }
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  /**
   * The sandbox pools (Controller.open's pool option), or null: stats()
   * (size, ready, hits, misses, refill rate ...) and warm() (resolves once
   * every pool is full).
   */
  get pool(): Pick<SandboxPools, 'stats' | 'warm'> | null {
    return (this.ctx.pools as SandboxPools | null) ?? null;
  }

  /** The store the controller records its intent in. @internal */
  get store(): Store {
    return this.ctx.store;
  }

  /** Adds a driver (one per name). */
  registerDriver(d: Driver): void {
    if (this.ctx.drivers.has(d.name)) throw new ValidationError('driver', d.name, 'is already registered');
    this.ctx.drivers.set(d.name, d);
  }

  async createNetwork(name: string, o: NetworkOptions = {}): Promise<Network> {
    return new Network(this.ctx, await networks.createNetwork(this.ctx, name, o));
  }

  /** A network by name or id (or a unique id prefix). */
  async network(nameOrId: string): Promise<Network> {
    return new Network(this.ctx, await find(this.ctx, 'network', nameOrId, (t) => t.network(nameOrId), (t) => t.networks()));
  }

  async networks(): Promise<Network[]> {
    this.ctx.live();
    return (await this.ctx.store.view((t) => t.networks())).map((r) => new Network(this.ctx, r));
  }

  /**
   * Checks a sandbox's options without changing anything: what
   * createSandbox would refuse as bad input, it refuses here too.
   */
  checkSandbox(name: string, o: SandboxOptions = {}): void {
    sandboxes.checkSandbox(this.ctx, name, withRecords(o));
  }

  async createSandbox(name: string, o: SandboxOptions = {}): Promise<Sandbox> {
    this.ctx.live();
    return new Sandbox(this.ctx, await sandboxes.createSandbox(this.ctx, name, withRecords(o)));
  }

  /** A sandbox by name or id (or a unique id prefix). */
  async sandbox(nameOrId: string): Promise<Sandbox> {
    return new Sandbox(this.ctx, await find(this.ctx, 'sandbox', nameOrId, (t) => t.sandbox(nameOrId), (t) => t.sandboxes()));
  }

  async sandboxes(): Promise<Sandbox[]> {
    this.ctx.live();
    return (await this.ctx.store.view((t) => t.sandboxes())).map((r) => new Sandbox(this.ctx, r));
  }

  /** Makes the store and the kernel agree again (runs on open), touching only this store's objects. */
  async reconcile(): Promise<ReconcileReport> {
    return reconcile(this.ctx);
  }

  /**
   * Runs the kernel work deferred by earlier calls now (deleting interfaces
   * external sandboxes left, see Endpoint.leave) and resolves once it is
   * done, with what of it failed: a process that is about to exit awaits
   * this first. What a process that did not wait leaves, reconcile removes.
   */
  async settled(): Promise<Error[]> {
    await this.ctx.pending();
    return this.ctx.laterErrors();
  }

  /**
   * A reconcile that also looks into every namespace of the run dir (its
   * lo's alias says whose it is), and may remove what nobody's tag claims
   * (with orphans: interfaces named as nsnet names them and elements in
   * nsnet's table that no store tagged, as an nsnet from before tags left
   * them). Another store's objects are never touched.
   */
  async gc(o: ReconcileOptions = {}): Promise<ReconcileReport> {
    return reconcile(this.ctx, { namespaces: true, ...o });
  }

  /** The hosts of the global store (empty without one), this one marked. */
  async hosts(): Promise<HostInfo[]> {
    this.ctx.live();
    const g = this.ctx.global;
    if (!g) return [];
    const counts = new Map<string, number>();
    for (const d of g.mirror.dirsUnder(g.keys.dir('endpoints'))) {
      for (const e of g.mirror.entries(d)) {
        const host = (e.value as { host?: string } | null)?.host;
        if (host) counts.set(host, (counts.get(host) ?? 0) + 1);
      }
    }
    return Promise.all(g.hosts().map(async (h) => ({
      id: h.id, name: h.name, address: h.address, vtepMac: h.vtepMac, started: h.started, self: h.id === g.hostId,
      endpoints: counts.get(h.id) ?? 0, ttl: await g.ttlOf(h.lease).catch(() => null),
    })));
  }

  /**
   * Serves names from this process (what open({ dns: true }) does when no
   * daemon serves this store; `nsnet daemon`'s DNS door calls it): every
   * sandbox of the store is read, and those with a resolver get their
   * sockets again.
   */
  async serveNames(o: DnsOptions = {}): Promise<DnsService> {
    this.ctx.live();
    const service = new DnsService(this.ctx, o);
    const before = this.ctx.lifecycle;
    this.ctx.lifecycle = service;
    await before?.close();
    await service.start();
    return service;
  }

  /** Who serves names to this store's sandboxes now: this process, `nsnet daemon`, or nobody. */
  nameResolution(): Promise<'embedded' | 'daemon' | 'off'> {
    return nameServer(this.ctx.lifecycle);
  }

  /**
   * Closes the store (and the global store's watch and lease keepalive),
   * the namespace handles and, when it serves names, its resolvers.
   * Sandboxes and networks stay; the pools' namespaces are released (the
   * returned promise says when; a process that exits first leaves them to
   * the next reconcile).
   */
  close(): Promise<void> {
    const pools = this.ctx.pools as SandboxPools | null;
    this.ctx.pools = null;
    this.peers?.close();
    this.peers = null;
    void this.ctx.lifecycle?.close();
    this.ctx.lifecycle = null;
    const closing = this.ctx.close();
    return Promise.all([closing, pools?.close()]).then(() => {});
  }

  /** Waits for settled(), then closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.settled();
    await this.close();
  }
}
