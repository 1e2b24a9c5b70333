// The CNM controller: the one object an embedding runtime holds. It owns the
// store, the drivers and IPAM, and turns each create into a transaction:
// intent goes to the store first (so a crash leaves something reconcile can
// find), then the kernel, and any failure undoes both.
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { hostDriver } from '../drivers/host.js';
import { bridgeDriver } from '../drivers/bridge.js';
import { nullDriver } from '../drivers/null.js';
import type { Driver, DriverContext } from '../drivers/driver.js';
import { NsnetError, ValidationError } from '../errors.js';
import { cannotPublish } from '../firewall/backend.js';
import { parsePorts, type PortOptions, type PortRequest } from '../ports.js';
import { releasePorts, reservePorts } from '../store/ports.js';
import type { FirewallBackend, FirewallKind, FirewallState, NetworkSpec, PortSpec } from '../firewall/backend.js';
import { NftablesFirewall } from '../firewall/nftables.js';
import { NoFirewall } from '../firewall/none.js';
import { Pool, pickSubnet, poolKey, defaultGateway } from '../ipam/ipam.js';
import { toBig } from '../ipaddr.js';
import { Prefix } from '../ipam/prefix.js';
import { Batch } from '../netlink/batch.js';
import { Netns, defaultRunDir } from '../netlink/netns.js';
import { SqliteStore } from '../store/sqlite.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord, Store, StoreTx, SubnetRecord } from '../store/store.js';
import { hostHostname, rewriteHosts, writeSandboxFiles, removeSandboxFiles, validExtraHost, type FileDirs } from './files.js';
import * as names from './names.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import { Teardown, Transaction, type FaultHook } from './tx.js';
import { Endpoint, Network, Sandbox } from './objects.js';

export interface ControllerOptions {
  /** Where the store lives: NSNET_STATE_DIR, else /var/lib/nsnet. */
  stateDir?: string;
  /**
   * Where sandbox files (resolv.conf, hosts, hostname) live: NSNET_FILES_DIR,
   * else /run/nsnet/<a hash of stateDir>. Runtime state, as Podman's runroot:
   * on a tmpfs they live exactly as long as the namespaces in /run/netns, and
   * creating them costs ~0.05 ms per sandbox there against ~1 ms on this
   * machine's ext4. One directory per state dir, because reconcile removes
   * what no sandbox of its store owns.
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
  /** Test hook: called before each step of a create; a throw fails that step. */
  faults?: FaultHook;
}

export interface SubnetOptions {
  subnet: string;
  gateway?: string;
  ipRange?: string;
  /** Addresses or prefixes never handed out. */
  excluded?: string[];
}

export interface NetworkOptions {
  driver?: string;
  /** Subnets with optional gateway and range; picked from the default pools when absent. */
  subnets?: (SubnetOptions | string)[];
  /** Dual stack: adds an IPv6 subnet (a random ULA /64 unless one is given). */
  ipv6?: boolean;
  /** No route out of the network. */
  internal?: boolean;
  labels?: Record<string, string>;
  /** Driver options (bridge name, MTU, ICC, masquerade ...). */
  options?: Record<string, string>;
}

export interface EndpointOptions {
  /** Static IPv4 and/or IPv6 addresses. */
  ip?: string;
  ip6?: string;
  /** Name inside the sandbox (default eth0, eth1 ... in join order). */
  ifname?: string;
  /**
   * Ports to publish, Docker's `-p` values (`8080:80`, `127.0.0.1:8080:80/udp`,
   * `8000-8002:80-82`, `80` for an ephemeral host port) or objects.
   */
  ports?: (string | PortOptions)[];
}

export interface SandboxAttachment extends EndpointOptions {
  network: string;
}

export interface SandboxOptions {
  /** 'own' (default): a new namespace; 'host': the host's namespace. */
  namespace?: 'own' | 'host';
  /** Share this sandbox's namespace, hostname, resolv.conf and hosts (Docker's container:<name>). */
  container?: string;
  hostname?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** `name:ip` lines for /etc/hosts. */
  extraHosts?: string[];
  labels?: Record<string, string>;
  /** Networks to join at creation: the endpoints are made and joined in the same transaction and kernel trip. */
  networks?: (string | SandboxAttachment)[];
  /** Existing, unjoined endpoints to join at creation. */
  join?: Endpoint[];
}

export interface DeleteOptions {
  /** Delete what depends on it too (endpoints of a network, joiners of a sandbox). */
  force?: boolean;
  /**
   * Delete interfaces explicitly and wait for the kernel, instead of
   * releasing the namespace and letting the kernel destroy them in the
   * background (about 35 ms per veth against 0.1 ms).
   */
  wait?: boolean;
}

export type ControllerEvent = {
  kind: 'sandbox' | 'network' | 'endpoint';
  action: 'create' | 'delete' | 'join' | 'leave';
  id: string;
  name: string;
};

const PREDEFINED: [string, string][] = [
  ['none', 'null'],
  ['host', 'host'],
];

const now = () => new Date().toISOString();

function defaultFilesDir(stateDir: string): string {
  return join('/run/nsnet', createHash('sha256').update(stateDir).digest('hex').slice(0, 12));
}

export class Controller extends EventEmitter {
  readonly stateDir: string;
  readonly runDir: string;
  readonly etcDir: string;
  readonly filesDir: string;
  /** @internal */ readonly store: Store;
  /** @internal */ readonly ctx: DriverContext & { firewall: FirewallBackend };
  /** @internal */ readonly faults: FaultHook | undefined;
  private readonly drivers = new Map<string, Driver>();
  /** Open namespace handles of own-namespace sandboxes, by sandbox id. */
  private readonly handles = new Map<string, Netns>();
  private closed = false;

  private constructor(o: Required<Pick<ControllerOptions, 'stateDir' | 'runDir' | 'etcDir' | 'filesDir'>> & { host: Netns; store: Store; firewall: FirewallBackend; faults?: FaultHook }) {
    super();
    this.stateDir = o.stateDir;
    this.filesDir = o.filesDir;
    this.runDir = o.runDir;
    this.etcDir = o.etcDir;
    this.store = o.store;
    this.ctx = { host: o.host, firewall: o.firewall };
    this.faults = o.faults;
    for (const d of [nullDriver, hostDriver, bridgeDriver]) this.drivers.set(d.name, d);
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
    const kind = opts.firewall ?? 'nftables';
    if (kind !== 'nftables' && kind !== 'none') throw new ValidationError('firewall', opts.firewall, "must be 'nftables' or 'none'");
    const host = opts.host ?? (await Netns.host());
    const firewall = kind === 'none' ? new NoFirewall() : new NftablesFirewall(host);
    const store = opts.store ?? new SqliteStore(stateDir);
    const c = new Controller({ stateDir, runDir, etcDir, filesDir, host, store, firewall, ...(opts.faults ? { faults: opts.faults } : {}) });
    try {
      await c.ensurePredefined();
      if (opts.reconcile !== false) await c.reconcile();
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  /** Adds a driver (one per name). */
  registerDriver(d: Driver): void {
    if (this.drivers.has(d.name)) throw new ValidationError('driver', d.name, 'is already registered');
    this.drivers.set(d.name, d);
  }

  /** @internal */
  driver(name: string): Driver {
    const d = this.drivers.get(name);
    if (!d) throw new ValidationError('driver', name, `is not a known driver (known: ${[...this.drivers.keys()].join(', ')})`);
    return d;
  }

  /** @internal */
  get files(): FileDirs {
    return { filesRoot: this.filesDir, etcDir: this.etcDir };
  }

  private live(): void {
    if (this.closed) throw NsnetError.state('ERR_NSNET_CLOSED', 'controller', this.stateDir, 'the controller is closed');
  }

  /** @internal */
  emitEvent(e: ControllerEvent): void {
    if (this.listenerCount('event') > 0) this.emit('event', e);
  }

  private async ensurePredefined(): Promise<void> {
    await this.store.update((t) => {
      for (const [name, driver] of PREDEFINED) {
        if (t.network(name)) continue;
        t.putNetwork({
          id: names.newId(), name, driver, scope: 'local', internal: false, ipv6: false, subnets: [],
          labels: {}, options: {}, driverState: {}, created: now(),
        });
      }
    });
  }

  // ---- networks ----

  async createNetwork(name: string, o: NetworkOptions = {}): Promise<Network> {
    this.live();
    const n = names.objectName(name, 'network name');
    const driver = this.driver(o.driver ?? 'bridge');
    const labels = names.stringMap(o.labels, 'labels');
    const options = names.stringMap(o.options, 'options');
    const given = (o.subnets ?? []).map((s, i) => checkSubnet(typeof s === 'string' ? { subnet: s } : s, `subnets[${i}]`));
    if (!driver.usesIpam && given.length) throw new ValidationError('subnets', o.subnets, `the ${driver.name} driver takes no subnets`);
    for (let i = 0; i < given.length; i++)
      for (let j = i + 1; j < given.length; j++)
        if (given[i]!.p.overlaps(given[j]!.p)) throw new ValidationError('subnets', o.subnets, `${given[i]!.rec.subnet} and ${given[j]!.rec.subnet} overlap`);
    const rec: NetworkRecord = {
      id: names.newId(), name: n, driver: driver.name, scope: 'local', internal: !!o.internal,
      ipv6: !!o.ipv6 || given.some((g) => g.p.family === 6), subnets: given.map((g) => g.rec),
      labels, options, driverState: {}, created: now(),
    };
    // Routes of the host count as taken for automatic subnets (Docker's rule).
    const needAuto = driver.usesIpam && (!given.some((g) => g.p.family === 4) || (rec.ipv6 && !given.some((g) => g.p.family === 6)));
    const routes = needAuto ? (await this.ctx.host.routes.list({ table: 'all' })).filter((r) => r.dst !== 'default' && r.type === 'unicast') : [];

    const tx = new Transaction(`network ${n}`, this.faults);
    return tx.run(async () => {
      await tx.step(
        'store.network',
        () =>
          this.store.update((t) => {
            if (t.network(n)) throw NsnetError.state('ERR_NSNET_EXISTS', 'network.create', n, `network ${n} already exists`);
            const others = t.networks();
            if (driver.singleton && others.some((x) => x.driver === driver.name))
              throw NsnetError.state('ERR_NSNET_EXISTS', 'network.create', n, `only one ${driver.name} network may exist`);
            const taken = others.flatMap((x) => x.subnets.map((s) => Prefix.parse(s.subnet)));
            for (const g of given) {
              const clash = others.find((x) => x.subnets.some((s) => Prefix.parse(s.subnet).overlaps(g.p)));
              if (clash) throw NsnetError.state('ERR_NSNET_OVERLAP', 'network.create', g.rec.subnet, `subnet ${g.rec.subnet} overlaps network ${clash.name}`);
            }
            if (driver.usesIpam) {
              const routeTaken = routes.map((r) => Prefix.parse(r.dst, 'route', true));
              const auto = (family: 4 | 6) => {
                const p = pickSubnet(family, [...taken, ...routeTaken, ...rec.subnets.map((s) => Prefix.parse(s.subnet))]);
                rec.subnets.push({ subnet: String(p), gateway: defaultGateway(p), ipRange: null, excluded: [] });
              };
              if (!rec.subnets.some((s) => !s.subnet.includes(':'))) auto(4);
              if (rec.ipv6 && !rec.subnets.some((s) => s.subnet.includes(':'))) auto(6);
            }
            rec.driverState = driver.validateNetwork(rec, others);
            t.putNetwork(rec);
          }),
        () => this.store.update((t) => t.deleteNetwork(rec.id)),
      );
      await tx.step('kernel.network', () => driver.createNetwork(this.ctx, rec), () => driver.deleteNetwork(this.ctx, rec));
      const fw = driver.firewall?.(rec);
      if (fw) {
        // Undone even if it fails: recovering a lost table may have put the network there before the failure.
        tx.onUndo('firewall', () => this.ctx.firewall.teardownNetwork(fw));
        await tx.step('firewall', () => this.firewallDo(() => this.ctx.firewall.setupNetwork(fw)));
      }
      // The driver may have learnt something about its objects (did it create the bridge?).
      await tx.step('store.driverState', () => this.store.update((t) => t.putNetwork(rec)));
      this.emitEvent({ kind: 'network', action: 'create', id: rec.id, name: rec.name });
      return new Network(this, rec);
    });
  }

  /** A network by name or id (or a unique id prefix). */
  async network(nameOrId: string): Promise<Network> {
    this.live();
    const rec = await this.store.view((t) => findByKey(t.network(nameOrId), () => t.networks(), nameOrId));
    if (!rec) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'network', nameOrId, `no network ${nameOrId}`);
    return new Network(this, rec);
  }

  async networks(): Promise<Network[]> {
    this.live();
    return (await this.store.view((t) => t.networks())).map((r) => new Network(this, r));
  }

  // ---- endpoints (called by Network / Endpoint) ----

  /** Makes an endpoint's record with its addresses; runs inside a store transaction. @internal */
  planEndpoint(t: StoreTx, net: NetworkRecord, name: string, o: EndpointOptions, ports: PortRequest[] = []): EndpointRecord {
    const driver = this.driver(net.driver);
    const ep: EndpointRecord = {
      id: names.newId(), name, networkId: net.id, sandboxId: null, ifname: o.ifname ?? null, hostIfname: null, mac: null,
      addresses: [], gatewayEndpoint: false, requested: [o.ip, o.ip6].filter((x): x is string => !!x), created: now(),
    };
    if (t.endpointByName(net.id, name))
      throw NsnetError.state('ERR_NSNET_EXISTS', 'endpoint.create', name, `endpoint ${name} already exists on network ${net.name}`);
    if (driver.usesIpam) {
      for (const s of net.subnets) {
        const pool = new Pool(poolKey(net.id, s.subnet), s);
        const want = pool.family === 4 ? o.ip : o.ip6;
        ep.addresses.push(pool.cidr(pool.allocate(t, ep.id, want)));
      }
      this.faults?.('ipam.allocate');
      if (o.ip && !net.subnets.some((s) => !s.subnet.includes(':'))) throw new ValidationError('ip', o.ip, `network ${net.name} has no IPv4 subnet`);
      if (o.ip6 && !net.subnets.some((s) => s.subnet.includes(':'))) throw new ValidationError('ip6', o.ip6, `network ${net.name} has no IPv6 subnet`);
    } else if (o.ip || o.ip6) {
      throw new ValidationError('ip', o.ip ?? o.ip6, `network ${net.name} (${net.driver}) has no addresses to give`);
    }
    driver.prepareEndpoint(net, ep);
    if (ports.length) {
      if (!driver.publishesPorts) throw new ValidationError('ports', o.ports, `network ${net.name} (${net.driver}) cannot publish ports`);
      if (net.internal) throw new ValidationError('ports', o.ports, `network ${net.name} is internal: nothing leaves it, so nothing can be published`);
      ep.ports = reservePorts(t, ep, ports, this.ephemeralPorts);
    }
    this.faults?.('store.endpoint');
    return ep;
  }

  /** Releases an endpoint's addresses and its row; runs inside a store transaction. @internal */
  dropEndpoint(t: StoreTx, ep: EndpointRecord): void {
    const net = t.network(ep.networkId);
    if (net) {
      for (const a of ep.addresses) {
        const addr = a.split('/')[0]!;
        const s = net.subnets.find((x) => Prefix.parse(x.subnet).contains(toBig(addr)!.n));
        if (s && t.allocation(poolKey(net.id, s.subnet), addr) === ep.id) t.release(poolKey(net.id, s.subnet), addr);
      }
    }
    releasePorts(t, ep);
    t.deleteEndpoint(ep.id);
  }

  /**
   * Marks eps as joined to sb (interface names, which one gives the default
   * route); runs inside a store transaction. Returns the records as they were.
   * @internal
   */
  planJoins(
    t: StoreTx,
    sb: SandboxRecord,
    eps: EndpointRecord[],
    /** What the caller made in this same transaction, so it need not be read back. */
    known?: { newSandbox: boolean; created: Set<string>; nets: Map<string, NetworkRecord> },
  ): EndpointRecord[] {
    if (eps.length === 0) return [];
    if (sb.netnsKind === 'container')
      throw NsnetError.state('ERR_NSNET_IN_USE', 'endpoint.join', sb.name, `sandbox ${sb.name} shares another sandbox's namespace and cannot join networks`);
    const current = known?.newSandbox ? [] : t.endpoints({ sandboxId: sb.id });
    const used = new Set(current.map((e) => e.ifname));
    let hasGateway = current.some((e) => e.gatewayEndpoint);
    const before: EndpointRecord[] = [];
    for (const ep of eps) {
      const fresh = known?.created.has(ep.id) ? ep : t.endpoint(ep.id);
      if (!fresh) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.join', ep.name, `endpoint ${ep.name} no longer exists`);
      if (fresh.sandboxId) throw NsnetError.state('ERR_NSNET_IN_USE', 'endpoint.join', ep.name, `endpoint ${ep.name} is already joined to a sandbox`);
      const net = known?.nets.get(fresh.networkId) ?? t.network(fresh.networkId)!;
      const driver = this.driver(net.driver);
      if (driver.sandboxKind !== sb.netnsKind)
        throw NsnetError.state('ERR_NSNET_IN_USE', 'endpoint.join', ep.name, `a ${driver.name} endpoint needs a sandbox in ${driver.sandboxKind === 'host' ? "the host's" : 'its own'} namespace`);
      if (current.some((e) => e.networkId === net.id))
        throw NsnetError.state('ERR_NSNET_EXISTS', 'endpoint.join', ep.name, `sandbox ${sb.name} is already on network ${net.name}`);
      before.push({ ...fresh });
      const prefix = (net.driverState.ifPrefix as string | undefined) ?? 'eth';
      if (driver.usesIpam) {
        if (fresh.ifname === null) {
          let i = 0;
          while (used.has(`${prefix}${i}`)) i++;
          fresh.ifname = `${prefix}${i}`;
        } else if (used.has(fresh.ifname)) {
          throw NsnetError.state('ERR_NSNET_EXISTS', 'endpoint.join', ep.name, `sandbox ${sb.name} already has an interface ${fresh.ifname}`);
        }
        used.add(fresh.ifname);
      }
      // The first joined network with a way out gives the default route.
      fresh.gatewayEndpoint = !hasGateway && !net.internal && net.subnets.some((s) => s.gateway);
      hasGateway ||= fresh.gatewayEndpoint;
      fresh.sandboxId = sb.id;
      t.putEndpoint(fresh);
      current.push(fresh);
      if (fresh !== ep) Object.assign(ep, fresh);
    }
    return before;
  }

  /** The kernel requests that join eps to sb, added to b. @internal */
  buildJoins(b: Batch, sbNs: Netns, eps: EndpointRecord[], nets: Map<string, NetworkRecord>): void {
    for (const ep of eps) {
      const net = nets.get(ep.networkId)!;
      this.driver(net.driver).join(this.ctx, net, ep, sbNs, b, { gatewayEndpoint: ep.gatewayEndpoint });
      this.faults?.(`kernel.join:${net.name}`, b);
    }
  }

  /** @internal */
  explain(e: unknown, eps: EndpointRecord[], nets: Map<string, NetworkRecord>): unknown {
    for (const ep of eps) {
      const net = nets.get(ep.networkId)!;
      const d = this.driver(net.driver);
      if (d.explain) e = d.explain(e, net);
    }
    return e;
  }

  // ---- published ports ----

  /** Where ephemeral host ports come from: the host's ip_local_port_range, as Docker takes it. */
  private ephemeralPorts: [number, number] = [49153, 65535];
  private ephemeralRead = false;

  /**
   * The checks of port requests that need the kernel (a host IP must be one
   * of the host's addresses), and the ephemeral range; before any change. @internal
   */
  async preparePorts(reqs: PortRequest[]): Promise<void> {
    if (!this.ctx.firewall.publishes) throw cannotPublish(this.ctx.firewall.kind);
    const ips = reqs.map((r) => r.hostIp).filter((a): a is string => a !== null && toBig(a)!.n !== 0n);
    if (ips.length) {
      const have = new Set((await this.ctx.host.addresses.list()).map((a) => toBig(a.address)?.n));
      for (const ip of ips) if (!have.has(toBig(ip)!.n)) throw new ValidationError('ports', ip, 'is not an address of the host: a port can only be published on one of its addresses');
    }
    if (!this.ephemeralRead && reqs.some((r) => r.hostPort === null)) {
      const [lo, hi] = (await this.ctx.host.sysctl('net.ipv4.ip_local_port_range').catch(() => '')).trim().split(/\s+/).map(Number);
      if (lo && hi && lo <= hi) this.ephemeralPorts = [lo, hi];
      this.ephemeralRead = true;
    }
  }

  /** What eps publish, for the firewall: each mapping to the endpoint's address of the host address's family. @internal */
  portSpecs(eps: EndpointRecord[]): PortSpec[] {
    const out: PortSpec[] = [];
    for (const ep of eps) {
      for (const m of ep.ports ?? []) {
        const v6 = m.hostIp.includes(':');
        const addr = ep.addresses.find((a) => a.includes(':') === v6);
        if (!addr) continue; // reservePorts only keys families the endpoint has
        out.push({ protocol: m.protocol, hostPort: m.hostPort, hostIp: m.hostIp, containerIp: addr.split('/')[0]!, containerPort: m.containerPort });
      }
    }
    return out;
  }

  /**
   * Runs a firewall change; when the backend's state went behind our back,
   * makes it whole again from the store and runs the change once more.
   */
  private async firewallDo(change: () => Promise<void>): Promise<void> {
    try {
      await change();
    } catch (e) {
      if (!this.ctx.firewall.lost(e)) throw e;
      await this.ctx.firewall.reconcile(() => this.firewallState());
      await change();
    }
  }

  /**
   * Starts adding eps' port elements beside the kernel trip, and registers
   * their removal as an undo: the undo waits for the add and removes what
   * it added, so a rollback never races it. Returns what to await.
   */
  private publish(tx: Transaction, ports: PortSpec[]): Promise<void> {
    if (!ports.length) return Promise.resolve();
    tx.enter('firewall');
    const added = this.firewallDo(() => this.ctx.firewall.publish(ports));
    added.catch(() => {}); // awaited by the caller's step
    tx.onUndo('firewall', async () => {
      if (await added.then(() => true, () => false)) await this.ctx.firewall.unpublish(ports);
    });
    return added;
  }

  /**
   * Whether eps' port elements (adds) can ride in their own kernel trip:
   * only once nsnet's table is known to be there. If so, enters the firewall
   * step and registers their removal as an undo now, before the trip: a
   * reconcile (or another create's recovery) rebuilds from the store, which
   * already holds these endpoints, so the elements may exist even if the
   * trip fails (removing one already gone is fine).
   */
  private foldPorts(tx: Transaction, ports: PortSpec[]): boolean {
    if (!ports.length || !this.ctx.firewall.canStage) return false;
    tx.enter('firewall');
    tx.onUndo('firewall', () => this.ctx.firewall.unpublish(ports));
    return true;
  }

  /** Puts folded ports last in the trip's batch. */
  private stagePorts(b: Batch, ports: PortSpec[]): void {
    this.ctx.firewall.stage(b, ports);
    this.faults?.('kernel.firewall', b);
  }

  /** What the store says the firewall should hold: networks of drivers that need it, ports of joined endpoints on them. @internal */
  async firewallState(): Promise<FirewallState> {
    const { nets, eps } = await this.store.view((t) => ({ nets: t.networks(), eps: t.endpoints() }));
    const networks: NetworkSpec[] = [];
    for (const n of nets) {
      const spec = this.drivers.get(n.driver)?.firewall?.(n);
      if (spec) networks.push(spec);
    }
    const on = new Set(networks.map((n) => n.id));
    return { networks, ports: this.portSpecs(eps.filter((e) => e.sandboxId && on.has(e.networkId))) };
  }

  // ---- sandboxes ----

  /**
   * Checks a sandbox's options without changing anything (createSandbox runs
   * it first; the mode layer runs it before making the default network).
   * @internal
   */
  checkSandbox(name: string, o: SandboxOptions = {}) {
    const n = names.objectName(name, 'sandbox name');
    const kind = o.container !== undefined ? 'container' : (o.namespace ?? 'own');
    if (kind !== 'own' && kind !== 'host' && kind !== 'container') throw new ValidationError('namespace', o.namespace, "must be 'own' or 'host'");
    if (o.container !== undefined && o.namespace !== undefined) throw new ValidationError('namespace', o.namespace, 'cannot be given with container');
    const sb: SandboxRecord = {
      id: names.newId(), name: n, netnsKind: kind, netnsPath: kind === 'own' ? join(this.runDir, n) : this.ctx.host.path ?? '/proc/self/ns/net',
      ownerId: null,
      hostname: o.hostname !== undefined ? names.hostname(o.hostname) : kind === 'host' ? hostHostname() : n.length <= 64 ? n : n.slice(0, 12),
      dns: names.ipList(o.dns, 'dns'),
      dnsSearch: names.stringList(o.dnsSearch, 'dnsSearch', (s) => !/\s/.test(s), 'must be a domain without spaces'),
      dnsOptions: names.stringList(o.dnsOptions, 'dnsOptions', (s) => !/\s/.test(s), 'must be an option without spaces'),
      extraHosts: names.stringList(o.extraHosts, 'extraHosts', validExtraHost, 'must be name:ip'),
      filesDir: '', labels: names.stringMap(o.labels, 'labels'), created: now(), pid: process.pid,
    };
    sb.filesDir = join(this.files.filesRoot, sb.id);
    const attach = (o.networks ?? []).map((a, i) => {
      const x = typeof a === 'string' ? { network: a } : a;
      if (!x || typeof x.network !== 'string') throw new ValidationError(`networks[${i}]`, a, 'must be a network name or { network, ip?, ip6?, ifname? }');
      if (x.ip !== undefined && names.ipList(x.ip, 'ip')[0]!.includes(':')) throw new ValidationError('ip', x.ip, 'must be an IPv4 address (use ip6)');
      if (x.ip6 !== undefined && !names.ipList(x.ip6, 'ip6')[0]!.includes(':')) throw new ValidationError('ip6', x.ip6, 'must be an IPv6 address');
      return { ...x, portReqs: parsePorts(x.ports, `networks[${i}].ports`) };
    });
    const joinEps = (o.join ?? []).map((e) => {
      if (!(e instanceof Endpoint)) throw new ValidationError('join', e, 'must be Endpoints');
      return e.record;
    });
    if (kind === 'container' && (attach.length || joinEps.length))
      throw new ValidationError('networks', o.networks ?? o.join, "a sandbox in another sandbox's namespace cannot join networks");

    return { n, kind, sb, attach, joinEps };
  }

  async createSandbox(name: string, o: SandboxOptions = {}): Promise<Sandbox> {
    this.live();
    const { n, kind, sb, attach, joinEps } = this.checkSandbox(name, o);
    const reqs = attach.flatMap((a) => a.portReqs);
    if (reqs.length) await this.preparePorts(reqs);
    const tx = new Transaction(`sandbox ${n}`, this.faults);
    let handle: Netns | null = null;
    return tx.run(async () => {
      // 1. Intent: the sandbox, its new endpoints and their addresses, in one store transaction.
      const plan = await tx.step(
        'store.sandbox',
        () =>
          this.store.update((t) => {
            if (t.sandbox(n)) throw NsnetError.state('ERR_NSNET_EXISTS', 'sandbox.create', n, `sandbox ${n} already exists`);
            if (kind === 'container') {
              let owner = findByKey(t.sandbox(o.container!), () => t.sandboxes(), o.container!);
              if (!owner) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox.create', o.container!, `no sandbox ${o.container} to share a namespace with`);
              if (owner.ownerId) owner = t.sandbox(owner.ownerId)!;
              sb.ownerId = owner.id;
              sb.netnsPath = owner.netnsPath;
              sb.hostname = owner.hostname;
              sb.filesDir = owner.filesDir;
            }
            const nets = new Map<string, NetworkRecord>();
            const created: EndpointRecord[] = [];
            const cursors = new Map<string, string | null>();
            for (const a of attach) {
              const net = findByKey(t.network(a.network), () => t.networks(), a.network);
              if (!net) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox.create', a.network, `no network ${a.network}`);
              nets.set(net.id, net);
              // Kept so an undo leaves the pool's search position as it found it.
              for (const s of net.subnets) cursors.set(poolKey(net.id, s.subnet), t.cursor(poolKey(net.id, s.subnet)));
              created.push(this.planEndpoint(t, net, n, a, a.portReqs)); // stored by planJoins below
            }
            for (const e of joinEps) if (!nets.has(e.networkId)) nets.set(e.networkId, t.network(e.networkId)!);
            t.putSandbox(sb);
            const eps = [...created, ...joinEps];
            const before = this.planJoins(t, sb, eps, { newSandbox: true, created: new Set(created.map((e) => e.id)), nets });
            return { nets, created, eps, before: before.slice(created.length), cursors };
          }),
        (p) =>
          this.store.update((t) => {
            for (const ep of p.created) this.dropEndpoint(t, ep);
            for (const ep of p.before) t.putEndpoint(ep);
            for (const [pool, c] of p.cursors) t.setCursor(pool, c);
            t.deleteSandbox(sb.id);
          }),
      );
      const addresses = plan.eps.flatMap((e) => e.addresses);

      // 2. The kernel: namespace, interfaces, addresses, routes in one trip,
      //    which also carries the published ports' elements as its last
      //    nf_tables transaction once nsnet's table is known to be there
      //    (until then they go beside it, and publish() makes the table).
      //    The files are written while the addon's threads do that work.
      const adds = this.portSpecs(plan.eps);
      if (kind === 'own') tx.enter('kernel.sandbox');
      const fold = kind === 'own' && this.foldPorts(tx, adds);
      const published = fold ? Promise.resolve() : this.publish(tx, adds);
      let kernel: Promise<void>;
      if (kind === 'own') {
        const trip = (withPorts: boolean) =>
          Netns.create(n, {
            runDir: this.runDir,
            then: (ns) => {
              handle = ns;
              const b = new Batch(ns);
              this.buildJoins(b, ns, plan.eps, plan.nets);
              if (withPorts) this.stagePorts(b, adds);
              return b;
            },
          });
        kernel = (async () => {
          let ns: Netns;
          try {
            ns = await trip(fold);
          } catch (e) {
            if (!fold || !this.ctx.firewall.lost(e)) throw e;
            // nsnet's table (or a set) went behind our back, and the addon
            // released the namespace with the failed trip: publish on their
            // own (which rebuilds the table from the store), then make it
            // again. The failed trip's veths die with that namespace in the
            // kernel's own time; their host ends go now, to free the names.
            for (const ep of plan.eps) {
              const net = plan.nets.get(ep.networkId)!;
              await this.driver(net.driver).leave(this.ctx, net, ep, null);
            }
            await this.publish(tx, adds);
            ns = await trip(false);
          }
          handle = ns;
          tx.onUndo('kernel.sandbox', () => ns.delete());
        })().catch((e: unknown) => {
          handle = null;
          throw this.explain(e, plan.eps, plan.nets);
        });
      } else if (plan.eps.length) {
        const b = new Batch(this.ctx.host);
        this.buildJoins(b, this.ctx.host, plan.eps, plan.nets);
        kernel = b.commit();
      } else {
        kernel = Promise.resolve();
      }
      kernel.catch(() => {}); // awaited below; a files failure must not leave it unhandled
      try {
        if (kind !== 'container') {
          await tx.step('files', () => writeSandboxFiles(this.files, sb, addresses), () => removeSandboxFiles(this.files, sb));
        }
      } catch (e) {
        await kernel.catch(() => {});
        throw e;
      }
      await tx.step('kernel.sandbox', () => kernel);
      await tx.step('firewall', () => published);
      if (handle) this.handles.set(sb.id, handle);
      this.emitEvent({ kind: 'sandbox', action: 'create', id: sb.id, name: sb.name });
      for (const ep of plan.eps) this.emitEvent({ kind: 'endpoint', action: 'join', id: ep.id, name: ep.name });
      return new Sandbox(this, sb);
    });
  }

  /** A sandbox by name or id (or a unique id prefix). */
  async sandbox(nameOrId: string): Promise<Sandbox> {
    this.live();
    const rec = await this.store.view((t) => findByKey(t.sandbox(nameOrId), () => t.sandboxes(), nameOrId));
    if (!rec) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox', nameOrId, `no sandbox ${nameOrId}`);
    return new Sandbox(this, rec);
  }

  async sandboxes(): Promise<Sandbox[]> {
    this.live();
    return (await this.store.view((t) => t.sandboxes())).map((r) => new Sandbox(this, r));
  }

  /** The namespace of a sandbox (opened once and kept). @internal */
  async netnsOf(sb: SandboxRecord): Promise<Netns> {
    if (sb.netnsKind === 'host') return this.ctx.host;
    const key = sb.ownerId ?? sb.id;
    let h = this.handles.get(key);
    if (!h || h.closed) {
      h = await Netns.openPath(sb.netnsPath);
      this.handles.set(key, h);
    }
    return h;
  }

  /** Joins an existing sandbox. @internal */
  async join(epRec: EndpointRecord, sbKey: string): Promise<void> {
    this.live();
    const tx = new Transaction(`endpoint ${epRec.name}`, this.faults);
    await tx.run(async () => {
      const plan = await tx.step(
        'store.join',
        () =>
          this.store.update((t) => {
            const sb = t.sandbox(sbKey);
            if (!sb) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.join', sbKey, `no sandbox ${sbKey}`);
            const before = this.planJoins(t, sb, [epRec]);
            const nets = new Map([[epRec.networkId, t.network(epRec.networkId)!]]);
            const addresses = t.endpoints({ sandboxId: sb.id }).flatMap((e) => e.addresses);
            return { sb, before, nets, addresses };
          }),
        (p) => this.store.update((t) => t.putEndpoint(p.before[0]!)),
      );
      const ns = await tx.step('kernel.open', () => this.netnsOf(plan.sb));
      const net = plan.nets.get(epRec.networkId)!;
      const driver = this.driver(net.driver);
      const b = new Batch(ns);
      this.buildJoins(b, ns, [epRec], plan.nets);
      // The ports' elements ride in the same trip, last, when the table is known to be there (see createSandbox).
      const adds = this.portSpecs([epRec]);
      const fold = this.foldPorts(tx, adds);
      if (fold) this.stagePorts(b, adds);
      const published = fold ? Promise.resolve() : this.publish(tx, adds);
      // A batch that fails part-way has made the veth: leave() takes it away.
      tx.onUndo('kernel.join', () => driver.leave(this.ctx, net, epRec, plan.sb));
      await tx.step('kernel.join', async () => {
        try {
          await b.commit();
        } catch (e) {
          await published.catch(() => {});
          // The ports' transaction is sent only after every other request succeeded.
          if (fold && this.ctx.firewall.lost(e)) return void (await this.publish(tx, adds));
          throw this.explain(e, [epRec], plan.nets);
        }
      });
      await tx.step('firewall', () => published);
      if (plan.sb.netnsKind !== 'host') await tx.step('files', () => rewriteHosts(plan.sb, plan.addresses));
      this.emitEvent({ kind: 'endpoint', action: 'join', id: epRec.id, name: epRec.name });
    });
  }

  /**
   * Leaves the sandbox: its interface is deleted at once (the sandbox lives
   * on, so waiting for the kernel is the only way). Hands the default route
   * to another endpoint if this one had it. @internal
   */
  async leave(epRec: EndpointRecord): Promise<void> {
    this.live();
    const td = new Teardown(`endpoint ${epRec.name}`, this.faults);
    const cur = await this.store.view((t) => {
      const ep = t.endpoint(epRec.id);
      return ep && ep.sandboxId ? { ep, sb: t.sandbox(ep.sandboxId), net: t.network(ep.networkId)! } : null;
    });
    if (!cur) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.leave', epRec.name, `endpoint ${epRec.name} is not joined to a sandbox`);
    const unpublish = this.portSpecs([cur.ep]);
    if (unpublish.length) await td.step('firewall', () => this.ctx.firewall.unpublish(unpublish));
    await td.step('kernel.leave', () => this.driver(cur.net.driver).leave(this.ctx, cur.net, cur.ep, cur.sb));
    const next = await this.store.update((t) => {
      const ep = t.endpoint(cur.ep.id)!;
      const had = ep.gatewayEndpoint;
      ep.sandboxId = null;
      ep.gatewayEndpoint = false;
      if (ep.ifname && /^\D+\d+$/.test(ep.ifname)) ep.ifname = null; // a generated name is given again on the next join
      t.putEndpoint(ep);
      Object.assign(epRec, ep);
      if (!had || !cur.sb) return null;
      const heir = t.endpoints({ sandboxId: cur.sb.id }).find((e) => {
        const n = t.network(e.networkId);
        return n && !n.internal && n.subnets.some((s) => s.gateway);
      });
      if (!heir) return null;
      heir.gatewayEndpoint = true;
      t.putEndpoint(heir);
      return { heir, net: t.network(heir.networkId)! };
    });
    if (cur.sb) {
      const sb = cur.sb;
      if (next) {
        await td.step('kernel.route', async () => {
          const b = (await this.netnsOf(sb)).batch();
          for (const s of next.net.subnets) if (s.gateway) b.replaceRoute({ dst: 'default', gateway: s.gateway, dev: next.heir.ifname! });
          await b.commit();
        });
      }
      if (sb.netnsKind !== 'host') {
        await td.step('files', async () => rewriteHosts(sb, (await this.store.view((t) => t.endpoints({ sandboxId: sb.id }))).flatMap((e) => e.addresses)));
      }
    }
    this.emitEvent({ kind: 'endpoint', action: 'leave', id: epRec.id, name: epRec.name });
    td.finish();
  }

  /** @internal */
  async deleteEndpoint(epRec: EndpointRecord): Promise<void> {
    this.live();
    const td = new Teardown(`endpoint ${epRec.name}`, this.faults);
    const cur = await this.store.view((t) => t.endpoint(epRec.id));
    if (!cur) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.delete', epRec.name, `no endpoint ${epRec.name}`);
    if (cur.sandboxId) await td.step('leave', () => this.leave(cur));
    await td.step('store.endpoint', () => this.store.update((t) => this.dropEndpoint(t, cur)));
    this.emitEvent({ kind: 'endpoint', action: 'delete', id: cur.id, name: cur.name });
    td.finish();
  }

  /** @internal */
  async deleteSandbox(sbRec: SandboxRecord, o: DeleteOptions = {}): Promise<void> {
    this.live();
    const cur = await this.store.view((t) => {
      const sb = t.sandbox(sbRec.id);
      if (!sb) return null;
      const eps = t.endpoints({ sandboxId: sb.id });
      return { sb, eps, nets: new Map(eps.map((e) => [e.networkId, t.network(e.networkId)!])), joiners: t.sandboxes({ ownerId: sb.id }) };
    });
    if (!cur) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox.delete', sbRec.name, `no sandbox ${sbRec.name}`);
    if (cur.joiners.length && !o.force)
      throw NsnetError.state('ERR_NSNET_IN_USE', 'sandbox.delete', sbRec.name,
        `sandbox ${sbRec.name} is shared by ${cur.joiners.map((j) => j.name).join(', ')}; delete those first or force`);
    const td = new Teardown(`sandbox ${sbRec.name}`, this.faults);
    for (const j of cur.joiners) await td.step(`joiner ${j.name}`, () => this.deleteSandbox(j, o));
    const { sb } = cur;
    // The ports' elements go first, whatever became of the namespace.
    const unpublish = this.portSpecs(cur.eps);
    if (unpublish.length) await td.step('firewall', () => this.ctx.firewall.unpublish(unpublish));
    if (sb.netnsKind === 'own') {
      if (o.wait) {
        for (const ep of cur.eps) {
          const net = cur.nets.get(ep.networkId)!;
          await td.step(`leave ${ep.name}`, () => this.driver(net.driver).leave(this.ctx, net, ep, sb));
        }
      }
      // Releasing the namespace destroys everything in it, veths included,
      // in the kernel's own time (see DeleteOptions.wait).
      const h = this.handles.get(sb.id);
      this.handles.delete(sb.id);
      h?.close();
      const released = await td.step('kernel.netns', () =>
        Netns.delete(sb.name, { runDir: this.runDir }).catch((e: NsnetError) => {
          if (e.code !== 'ENOENT' && e.code !== 'EINVAL') throw e;
        }),
      );
      // The namespace (and so its interfaces) still exists: keep the record
      // and its addresses, so a second delete can finish the job.
      if (!released) td.finish();
    } else if (sb.netnsKind === 'host') {
      for (const ep of cur.eps) {
        const net = cur.nets.get(ep.networkId)!;
        await td.step(`leave ${ep.name}`, () => this.driver(net.driver).leave(this.ctx, net, ep, sb));
      }
    }
    if (sb.netnsKind !== 'container') await td.step('files', () => removeSandboxFiles(this.files, sb));
    await td.step('store.sandbox', () =>
      this.store.update((t) => {
        for (const ep of t.endpoints({ sandboxId: sb.id })) this.dropEndpoint(t, ep);
        t.deleteSandbox(sb.id);
      }),
    );
    this.emitEvent({ kind: 'sandbox', action: 'delete', id: sb.id, name: sb.name });
    td.finish();
  }

  /** @internal */
  async deleteNetwork(netRec: NetworkRecord, o: DeleteOptions = {}): Promise<void> {
    this.live();
    const cur = await this.store.view((t) => {
      const net = t.network(netRec.id);
      return net ? { net, eps: t.endpoints({ networkId: net.id }) } : null;
    });
    if (!cur) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'network.delete', netRec.name, `no network ${netRec.name}`);
    if (PREDEFINED.some(([n]) => n === cur.net.name))
      throw NsnetError.state('ERR_NSNET_IN_USE', 'network.delete', cur.net.name, `${cur.net.name} is a predefined network and cannot be removed`);
    if (cur.eps.length && !o.force)
      throw NsnetError.state('ERR_NSNET_IN_USE', 'network.delete', cur.net.name,
        `network ${cur.net.name} has ${cur.eps.length} endpoint(s) (${cur.eps.slice(0, 5).map((e) => e.name).join(', ')}); remove them first or force`);
    const td = new Teardown(`network ${cur.net.name}`, this.faults);
    for (const ep of cur.eps) await td.step(`endpoint ${ep.name}`, () => this.deleteEndpoint(ep));
    const driver = this.driver(cur.net.driver);
    const fw = driver.firewall?.(cur.net);
    // The firewall first, as the network's traffic stops being forwarded before its bridge goes.
    if (fw) await td.step('firewall', () => this.ctx.firewall.teardownNetwork(fw));
    await td.step('kernel.network', () => driver.deleteNetwork(this.ctx, cur.net));
    await td.step('store.network', () =>
      this.store.update((t) => {
        for (const s of cur.net.subnets) t.releasePool(poolKey(cur.net.id, s.subnet));
        t.deleteNetwork(cur.net.id);
      }),
    );
    this.emitEvent({ kind: 'network', action: 'delete', id: cur.net.id, name: cur.net.name });
    td.finish();
  }

  /** Makes the store and the kernel agree again (runs on open). */
  async reconcile(): Promise<ReconcileReport> {
    this.live();
    return reconcile(this);
  }

  /** Closes the store and the namespace handles. Sandboxes and networks stay. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.handles.values()) h.close();
    this.handles.clear();
    this.store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** By name or full id, else by a unique id prefix (the list is read only then). */
function findByKey<T extends { id: string; name: string }>(exact: T | null, all: () => T[], key: string): T | null {
  if (exact) return exact;
  if (key.length < 4 || !/^[0-9a-f]+$/.test(key)) return null;
  const m = all().filter((x) => x.id.startsWith(key));
  return m.length === 1 ? m[0]! : null;
}

function checkSubnet(s: SubnetOptions, field: string): { p: Prefix; rec: SubnetRecord } {
  if (!s || typeof s !== 'object') throw new ValidationError(field, s, 'must be a subnet string or { subnet, gateway?, ipRange?, excluded? }');
  const p = Prefix.parse(s.subnet, `${field}.subnet`);
  if (p.family === 4 && p.len > 30) throw new ValidationError(`${field}.subnet`, s.subnet, 'must be /30 or larger to hold a gateway and an endpoint');
  if (p.family === 6 && p.len > 126) throw new ValidationError(`${field}.subnet`, s.subnet, 'must be /126 or larger');
  let gateway: string;
  if (s.gateway !== undefined) {
    const g = toBig(typeof s.gateway === 'string' ? s.gateway : '');
    if (!g || g.family !== p.family) throw new ValidationError(`${field}.gateway`, s.gateway, `must be an IPv${p.family} address`);
    if (!p.contains(g.n)) throw new ValidationError(`${field}.gateway`, s.gateway, `is outside the subnet ${p}`);
    if (g.n === p.base || (p.family === 4 && g.n === p.last)) throw new ValidationError(`${field}.gateway`, s.gateway, "is the subnet's network or broadcast address");
    gateway = s.gateway;
  } else {
    gateway = defaultGateway(p);
  }
  let ipRange: string | null = null;
  if (s.ipRange !== undefined) {
    const r = Prefix.parse(s.ipRange, `${field}.ipRange`);
    if (r.family !== p.family || r.base < p.base || r.last > p.last) throw new ValidationError(`${field}.ipRange`, s.ipRange, `must lie inside ${p}`);
    ipRange = String(r);
  }
  const excluded = (s.excluded ?? []).map((x, i) => {
    const e = Prefix.parse(x.includes('/') ? x : `${x}/${p.family === 4 ? 32 : 128}`, `${field}.excluded[${i}]`);
    if (!e.overlaps(p)) throw new ValidationError(`${field}.excluded[${i}]`, x, `is outside ${p}`);
    return String(e);
  });
  return { p, rec: { subnet: String(p), gateway, ipRange, excluded } };
}
