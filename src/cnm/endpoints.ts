// Endpoint planning: the store side of an endpoint. Its record with its
// addresses and host ports (planEndpoint), its release (dropEndpoint), and
// the marks that join endpoints to a sandbox (planJoins: interface names,
// which one gives the default route). All run inside a store transaction
// and touch no kernel; join.ts and sandboxes.ts send what they plan.
import { handoffIfname } from '../drivers/handoff.js';
import { NsnetError, ValidationError } from '../errors.js';
import { toBig } from '../ipaddr.js';
import { Pool, poolKey } from '../ipam/ipam.js';
import { Prefix } from '../ipam/prefix.js';
import { parsePorts, type PortOptions, type PortRequest } from '../ports.js';
import { releasePorts, reservePorts, type PortInUse } from '../store/ports.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord, StoreTx } from '../store/store.js';
import * as v from '../validate.js';
import { busyError, workerAlive } from './busy.js';
import { now, type CnmContext } from './context.js';
import * as names from './names.js';
import { ephemeralRange, preparePorts } from './publish.js';

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
  /**
   * Publish a host port even where a host process listens on it (refused
   * by default, as Docker refuses it): connections from outside then reach
   * the sandbox, not that process.
   */
  forcePublish?: boolean;
  /** The MAC address of its interface (default: the driver's choice). */
  mac?: string;
  /** Other names for the sandbox on this network (Docker's --network-alias). */
  aliases?: string[];
}

/** Reserves addresses and records an endpoint on a network; nothing reaches the kernel until join. */
export async function createEndpoint(ctx: CnmContext, network: { id: string; name: string }, name: string, o: EndpointOptions): Promise<EndpointRecord> {
  const n = names.objectName(name, 'endpoint name');
  if (o.ip !== undefined) names.ipList(o.ip, 'ip');
  if (o.ip6 !== undefined) names.ipList(o.ip6, 'ip6');
  if (o.ifname !== undefined) v.ifname(o.ifname, 'ifname');
  checkEndpoint(o);
  const ports = parsePorts(o.ports);
  const inUse = ports.length ? await preparePorts(ctx, ports) : undefined;
  const rec = await ctx.store.update((t) => {
    const net = t.network(network.id);
    if (!net) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.create', network.name, `no network ${network.name}`);
    const ep = planEndpoint(ctx, t, net, n, o, ports, inUse);
    t.putEndpoint(ep);
    return ep;
  });
  ctx.emit({ kind: 'endpoint', action: 'create', id: rec.id, name: rec.name });
  return rec;
}

/**
 * Refuses ports an endpoint of network could not publish (their syntax, a
 * driver or an internal network that publishes none, a host IP that is not
 * the host's), changing nothing: for a caller that publishes them once the
 * endpoint joined (Endpoint.publish), as a CNI runtime's second network of
 * a container does, so that bad input is refused before the join.
 */
export async function checkPortsOn(ctx: CnmContext, network: { id: string; name: string }, ports: (string | PortOptions)[]): Promise<void> {
  const reqs = parsePorts(ports);
  if (!reqs.length) return;
  const net = await ctx.store.view((t) => t.network(network.id));
  if (!net) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.publish', network.name, `no network ${network.name}`);
  refuseUnpublishable(ctx, net, ports);
  for (const r of reqs) {
    const v6 = r.hostIp?.includes(':');
    if (r.hostIp && !net.subnets.some((x) => x.subnet.includes(':') === v6))
      throw new ValidationError('ports', r.hostIp, `network ${net.name} has no IPv${v6 ? 6 : 4} subnet, so its endpoints have no address to publish on ${r.hostIp}`);
  }
  await preparePorts(ctx, reqs);
}

/** Checks the options of an endpoint that need no store (the MAC, the aliases). */
export function checkEndpoint(o: EndpointOptions): void {
  if (o.mac !== undefined) v.mac(o.mac, 'mac');
  names.stringList(o.aliases, 'aliases').forEach((a) => names.hostname(a, 'aliases'));
}

/** Makes an endpoint's record with its addresses and host ports; runs inside a store transaction. */
export function planEndpoint(
  ctx: CnmContext, t: StoreTx, net: NetworkRecord, name: string, o: EndpointOptions, ports: PortRequest[] = [], inUse?: PortInUse,
): EndpointRecord {
  const driver = ctx.driver(net.driver);
  // A network being made or removed (by another process, or by another op of this one) takes no endpoint: its bridge is not there yet, or is going.
  if (net.busy && workerAlive(net.busy, ctx.inFlight, net.id)) throw busyError(net, 'network', 'endpoint.create');
  const ep: EndpointRecord = {
    id: names.newId(), name, networkId: net.id, sandboxId: null, ifname: o.ifname ?? null, hostIfname: null, mac: null,
    addresses: [], gatewayEndpoint: false, requested: [o.ip, o.ip6].filter((x): x is string => !!x), created: now(),
    ...(o.aliases?.length ? { aliases: [...o.aliases] } : {}),
  };
  if (t.endpointByName(net.id, name))
    throw NsnetError.state('ERR_NSNET_EXISTS', 'endpoint.create', name, `endpoint ${name} already exists on network ${net.name}`);
  if (driver.usesIpam) {
    for (const s of net.subnets) {
      const pool = new Pool(poolKey(net.id, s.subnet), s);
      const want = pool.family === 4 ? o.ip : o.ip6;
      ep.addresses.push(pool.cidr(pool.allocate(t, ep.id, want)));
    }
    ctx.faults?.('ipam.allocate');
    if (o.ip && !net.subnets.some((s) => !s.subnet.includes(':'))) throw new ValidationError('ip', o.ip, `network ${net.name} has no IPv4 subnet`);
    if (o.ip6 && !net.subnets.some((s) => s.subnet.includes(':'))) throw new ValidationError('ip6', o.ip6, `network ${net.name} has no IPv6 subnet`);
  } else if (o.ip || o.ip6) {
    throw new ValidationError('ip', o.ip ?? o.ip6, `network ${net.name} (${net.driver}) has no addresses to give`);
  }
  driver.prepareEndpoint(net, ep);
  // A driver that chose no MAC makes no interface (null, host, ipam); a MAC
  // the caller chose (docker run --mac-address) replaces the driver's.
  if (o.mac !== undefined) {
    if (ep.mac === null) throw new ValidationError('mac', o.mac, `network ${net.name} (${net.driver}) makes no interface to give a MAC address`);
    ep.mac = v.mac(o.mac, 'mac');
  }
  if (ports.length) {
    refuseUnpublishable(ctx, net, o.ports);
    ep.ports = reservePorts(t, ep, ports, ephemeralRange(ctx), o.forcePublish ? undefined : inUse);
  }
  ctx.faults?.('store.endpoint');
  return ep;
}

/** Refuses ports (value, for the error) on a network whose endpoints cannot publish any. */
export function refuseUnpublishable(ctx: CnmContext, net: NetworkRecord, value: unknown): void {
  const can = ctx.driver(net.driver).publishesPorts;
  if (can !== true) throw new ValidationError('ports', value, `network ${net.name} (${net.driver}) cannot publish ports${can ? `: ${can}` : ''}`);
  if (net.internal) throw new ValidationError('ports', value, `network ${net.name} is internal: nothing leaves it, so nothing can be published`);
}

/** Releases an endpoint's addresses, its host ports and its row; runs inside a store transaction. */
export function dropEndpoint(t: StoreTx, ep: EndpointRecord): void {
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
 */
export function planJoins(
  ctx: CnmContext,
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
    const driver = ctx.driver(net.driver);
    // An external namespace is joined as an own one is.
    if (driver.sandboxKind !== (sb.netnsKind === 'external' ? 'own' : sb.netnsKind))
      throw NsnetError.state('ERR_NSNET_IN_USE', 'endpoint.join', ep.name, `a ${driver.name} endpoint needs a sandbox in ${driver.sandboxKind === 'host' ? "the host's" : 'its own'} namespace`);
    // Endpoint names are unique per network, and the store holds the ones
    // made before: this catches two planned in one go (createSandbox with a
    // network listed twice, whose endpoints all take the sandbox's name).
    // Endpoints of other names may put a sandbox on a network twice, as CNI
    // attaches a container under two interface names.
    if (current.some((e) => e.networkId === net.id && e.name === fresh.name))
      throw NsnetError.state('ERR_NSNET_EXISTS', 'endpoint.join', ep.name, `sandbox ${sb.name} is already on network ${net.name}`);
    before.push({ ...fresh });
    const prefix = (net.driverState.ifPrefix as string | undefined) ?? 'eth';
    if (driver.usesIpam && sb.handoff && !driver.handsOff)
      throw new ValidationError('handoff', true, `a ${driver.name} network cannot hand its interfaces to sandbox ${sb.name}'s runtime to move in (a bridge network can)`);
    if (driver.usesIpam && sb.handoff) {
      // Its runtime names it inside; until it moves it, it needs a name no other host interface has.
      if (fresh.ifname !== null) throw new ValidationError('ifname', fresh.ifname, `sandbox ${sb.name}'s runtime names its interfaces itself`);
      fresh.ifname = handoffIfname(fresh.id);
    } else if (driver.usesIpam) {
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
