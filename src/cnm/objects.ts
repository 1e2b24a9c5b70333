// Network, Endpoint and Sandbox: handles on store records. Each method reads
// the current record from the store, so several processes (or several
// handles) sharing a state directory see one truth; what changes things is
// the concern modules' work, which the handles call with the controller's
// context.
import { join as joinPath } from 'node:path';

import { gatewayAddresses, gatewaysOf } from '../drivers/inside.js';
import type { Driver } from '../drivers/driver.js';
import { NsnetError } from '../errors.js';
import type { Netns } from '../netlink/netns.js';
import type { PortOptions } from '../ports.js';
import type { EndpointRecord, NetworkRecord, PortMapping, SandboxRecord } from '../store/store.js';
import { checkEndpoint, checkNetwork } from './check.js';
import type { CnmContext, DeleteOptions, DeleteReport } from './context.js';
import { namedNetwork } from '../dns/policy.js';
import { checkPortsOn, createEndpoint, type EndpointOptions } from './endpoints.js';
import { nameServer } from './lifecycle.js';
import { deleteEndpoint, join, leave } from './join.js';
import { deleteNetwork } from './networks.js';
import { setPorts, type PublishOptions } from './ports.js';
import { deleteSandbox } from './sandboxes.js';

export interface NetworkInfo
  extends Pick<NetworkRecord, 'id' | 'name' | 'driver' | 'scope' | 'internal' | 'ipv6' | 'subnets' | 'labels' | 'options' | 'created'> {
  /** The bridge device, for bridge networks. */
  bridge: string | null;
  endpoints: number;
  /** The sandboxes on it, with their endpoints' addresses (docker network inspect's Containers). */
  sandboxes: NetworkSandbox[];
  /**
   * Whether its sandboxes reach each other by name, and who answers: this
   * process ('embedded'), `nsnet daemon`, or nobody ('off': no server runs,
   * or it is the default `bridge` network, which has no names, as docker0).
   */
  nameResolution: NameResolution;
}

export type NameResolution = 'embedded' | 'daemon' | 'off';

export interface NetworkSandbox {
  id: string;
  name: string;
  endpoint: string;
  endpointId: string;
  mac: string | null;
  /** `address/prefixlen` */
  addresses: string[];
  aliases: string[];
}

export interface EndpointInfo {
  id: string;
  name: string;
  networkId: string;
  network: string;
  sandboxId: string | null;
  /** Interface name inside the sandbox, once joined. */
  ifname: string | null;
  /** The host-side device (veth near end). */
  hostIfname: string | null;
  mac: string | null;
  /** `address/prefixlen` */
  addresses: string[];
  /** The gateways the sandbox routes through when this endpoint gives the default route. */
  gateways: string[];
  gatewayEndpoint: boolean;
  /** Published ports: one per host address (0.0.0.0 and :: for every address). */
  ports: PortMapping[];
  /** Other names of its sandbox on the network. */
  aliases: string[];
}

export interface SandboxInfo {
  id: string;
  name: string;
  /** own, host, container (sharing another sandbox's namespace), or external (one nsnet did not make). */
  kind: SandboxRecord['netnsKind'];
  /** The namespace file: `ip netns exec`/nsenter target. */
  netnsPath: string;
  /** For kind container: the sandbox that owns the namespace. */
  owner: string | null;
  hostname: string;
  /** The sandbox's files; null for an external one (its runtime owns them). */
  resolvConf: string | null;
  hosts: string | null;
  hostnameFile: string | null;
  labels: Record<string, string>;
  /** net.* sysctls set in its namespace. */
  sysctls: Record<string, string>;
  created: string;
  endpoints: EndpointInfo[];
  /** The embedded resolver its resolv.conf names (127.0.0.11), or null: it names its upstreams itself. */
  resolver: string | null;
  /** Who answers that resolver now ('off': nobody, or it has none). */
  nameResolution: NameResolution;
}

/** What the three share: the controller's context, the record, its id and name. */
abstract class Handle<R extends { id: string; name: string }> {
  /** @internal */
  constructor(
    protected readonly ctx: CnmContext,
    /** @internal */ readonly record: R,
  ) {}

  get id(): string {
    return this.record.id;
  }
  get name(): string {
    return this.record.name;
  }
}

export class Network extends Handle<NetworkRecord> {
  async info(): Promise<NetworkInfo> {
    const r = await this.ctx.store.view((t) => {
      const net = t.network(this.id);
      if (!net) return null;
      const eps = t.endpoints({ networkId: this.id });
      const sandboxes = eps.flatMap((e): NetworkSandbox[] => {
        const sb = e.sandboxId ? t.sandbox(e.sandboxId) : null;
        if (!sb) return [];
        return [{ id: sb.id, name: sb.name, endpoint: e.name, endpointId: e.id, mac: e.mac, addresses: [...e.addresses], aliases: [...(e.aliases ?? [])] }];
      });
      return { net, count: eps.length, sandboxes };
    });
    if (!r) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'network', this.name, `no network ${this.name}`);
    const { net } = r;
    return {
      id: net.id, name: net.name, driver: net.driver, scope: net.scope, internal: net.internal, ipv6: net.ipv6,
      subnets: net.subnets.map((s) => ({ ...s })), labels: { ...net.labels }, options: { ...net.options },
      bridge: (net.driverState.bridge as string | undefined) ?? null, created: net.created, endpoints: r.count, sandboxes: r.sandboxes,
      nameResolution: namedNetwork(net) ? await nameServer(this.ctx.lifecycle) : 'off',
    };
  }

  /** Reserves addresses and records an endpoint; nothing reaches the kernel until join. */
  async createEndpoint(name: string, o: EndpointOptions = {}): Promise<Endpoint> {
    return new Endpoint(this.ctx, await createEndpoint(this.ctx, this, name, o));
  }

  async endpoints(): Promise<Endpoint[]> {
    return (await this.ctx.store.view((t) => t.endpoints({ networkId: this.id }))).map((r) => new Endpoint(this.ctx, r));
  }

  /** Refuses ports its endpoints could not publish (see Endpoint.publish), changing nothing. */
  checkPorts(ports: (string | PortOptions)[]): Promise<void> {
    return checkPortsOn(this.ctx, this, ports);
  }

  /** One of its endpoints, by name or id; ERR_NSNET_NOT_FOUND when it has none such. */
  async endpoint(nameOrId: string): Promise<Endpoint> {
    const rec = await this.ctx.store.view((t) => {
      const byId = t.endpoint(nameOrId);
      return byId?.networkId === this.id ? byId : t.endpointByName(this.id, nameOrId);
    });
    if (!rec) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint', nameOrId, `network ${this.name} has no endpoint ${nameOrId}`);
    return new Endpoint(this.ctx, rec);
  }

  /** How its kernel objects differ from its record ([] when they agree); changes nothing. */
  check(): Promise<string[]> {
    return checkNetwork(this.ctx, this.record);
  }

  /** Removes the network; refused while it has endpoints unless forced. */
  async delete(o?: DeleteOptions): Promise<void> {
    await deleteNetwork(this.ctx, this.record, o);
  }
}

export class Endpoint extends Handle<EndpointRecord> {
  async info(): Promise<EndpointInfo> {
    const r = await this.ctx.store.view((t) => {
      const ep = t.endpoint(this.id);
      return ep ? { ep, net: t.network(ep.networkId)! } : null;
    });
    if (!r) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint', this.name, `no endpoint ${this.name}`);
    return endpointInfo(r.ep, r.net, this.ctx.knownDriver(r.net.driver));
  }

  /** Plugs the endpoint into a sandbox: interface, addresses and routes, all or nothing. */
  async join(sandbox: Sandbox | string): Promise<void> {
    await join(this.ctx, this.record, typeof sandbox === 'string' ? sandbox : sandbox.id);
  }

  /**
   * Unplugs it; its addresses stay reserved until delete. Its interface is
   * deleted at once, except in an external namespace unless `wait` is set:
   * there it stops carrying traffic at once, and its deletion is left a
   * moment to the runtime's deleting the namespace (the kernel then takes
   * it in its own batches) before nsnet deletes it itself
   * (Controller.settled() does so at once).
   */
  leave(o?: DeleteOptions): Promise<void> {
    return leave(this.ctx, this.record, o);
  }

  /**
   * Replaces its published ports (Docker's `-p` values or objects; []
   * unpublishes them all), joined or not: all or nothing. Resolves with
   * the mappings now published, host ports chosen. It resolves before its
   * sandbox's busy mark is cleared, on the loop's next turn: another process
   * that acts on the sandbox in that moment gets ERR_NSNET_BUSY (try again).
   * A mapping another endpoint of its sandbox publishes already (the same
   * host address and port, protocol and container port: a CNI runtime asks
   * each network of a container for its ports) comes back `standby`: that
   * endpoint serves it, and when it leaves, or lets it go, this one takes
   * it over. A mapping one endpoint hands over, or stands by for, leaves
   * its record when it leaves the sandbox.
   */
  publish(ports: (string | PortOptions)[], o?: PublishOptions): Promise<PortMapping[]> {
    return setPorts(this.ctx, this.record, ports, o);
  }

  /** How the kernel differs from its record: interface, MAC, addresses, routes, host side ([] when they agree); changes nothing. */
  check(): Promise<string[]> {
    return checkEndpoint(this.ctx, this.record);
  }

  /** Leaves if joined (as leave() does), then releases its addresses. */
  delete(o?: DeleteOptions): Promise<void> {
    return deleteEndpoint(this.ctx, this.record, o);
  }
}

export function endpointInfo(ep: EndpointRecord, net: NetworkRecord, driver: Driver | undefined): EndpointInfo {
  return {
    id: ep.id, name: ep.name, networkId: net.id, network: net.name, sandboxId: ep.sandboxId, ifname: ep.ifname,
    hostIfname: ep.hostIfname, mac: ep.mac, addresses: [...ep.addresses],
    gateways: gatewayAddresses(net, gatewaysOf(driver, net)),
    gatewayEndpoint: ep.gatewayEndpoint,
    ports: (ep.ports ?? []).map((m) => ({ ...m })),
    aliases: [...(ep.aliases ?? [])],
  };
}

/** One of a sandbox's files, or null where nsnet writes none. */
const fileOf = (sb: SandboxRecord, f: string): string | null => (sb.filesDir ? joinPath(sb.filesDir, f) : null);

export class Sandbox extends Handle<SandboxRecord> {
  get kind(): SandboxRecord['netnsKind'] {
    return this.record.netnsKind;
  }
  /** The namespace file, for nsenter or `ip netns exec`. */
  get netnsPath(): string {
    return this.record.netnsPath;
  }
  get hostname(): string {
    return this.record.hostname;
  }
  get resolvConf(): string | null {
    return fileOf(this.record, 'resolv.conf');
  }
  get hosts(): string | null {
    return fileOf(this.record, 'hosts');
  }
  get hostnameFile(): string | null {
    return fileOf(this.record, 'hostname');
  }

  /** The sandbox's namespace, to configure further or to open sockets in (owned by the controller: do not close). */
  netns(): Promise<Netns> {
    return this.ctx.netnsOf(this.record);
  }

  async endpoints(): Promise<Endpoint[]> {
    return (await this.ctx.store.view((t) => t.endpoints({ sandboxId: this.id }))).map((r) => new Endpoint(this.ctx, r));
  }

  async info(): Promise<SandboxInfo> {
    const r = await this.ctx.store.view((t) => {
      const sb = t.sandbox(this.id);
      if (!sb) return null;
      // A sandbox sharing another's namespace sees that one's interfaces.
      const eps = t.endpoints({ sandboxId: sb.ownerId ?? sb.id }).map((e) => {
        const net = t.network(e.networkId)!;
        return endpointInfo(e, net, this.ctx.knownDriver(net.driver));
      });
      const ownerRec = sb.ownerId ? t.sandbox(sb.ownerId) : null;
      const owner = sb.ownerId ? (ownerRec?.name ?? sb.ownerId) : null;
      // A sandbox sharing another's namespace has that one's resolv.conf too.
      return { sb, eps, owner, resolver: (ownerRec ?? sb).resolver ?? null };
    });
    if (!r) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox', this.name, `no sandbox ${this.name}`);
    const { sb } = r;
    return {
      id: sb.id, name: sb.name, kind: sb.netnsKind, netnsPath: sb.netnsPath, owner: r.owner, hostname: sb.hostname,
      resolvConf: fileOf(sb, 'resolv.conf'), hosts: fileOf(sb, 'hosts'), hostnameFile: fileOf(sb, 'hostname'),
      labels: { ...sb.labels }, sysctls: { ...sb.sysctls }, created: sb.created, endpoints: r.eps,
      resolver: r.resolver, nameResolution: r.resolver ? await nameServer(this.ctx.lifecycle) : 'off',
    };
  }

  /**
   * Tears the sandbox down; refused while others share its namespace unless
   * forced. With recycle, says whether its namespace went back to the pool.
   */
  delete(o?: DeleteOptions): Promise<DeleteReport> {
    return deleteSandbox(this.ctx, this.record, o);
  }
}
