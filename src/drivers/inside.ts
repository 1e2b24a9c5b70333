// What a join puts inside a sandbox's namespace for an endpoint: its
// interface up, its addresses on it, and the default routes of the endpoint
// that gives them, through the network's gateways as its driver reaches
// them (a bridge network's on its subnet, a routed one's on-link). The same
// description makes it (configureInside), and compares it with what the
// kernel lists there, for a check that reports (Endpoint.check, CNI CHECK)
// and a reconcile that mends (Driver.repair).
import { ipFamily, toBig } from '../ipaddr.js';
import type { Batch, RouteSpec } from '../netlink/batch.js';
import type { Address, Link, Route } from '../netlink/types.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import { hasIPv6, linkHasIPv6 } from './common.js';
import type { Driver, GatewayRoutes, JoinOptions, KernelView, PooledInterface } from './driver.js';

/** The gateway of the network's first subnet of a family, if it has one. */
export const subnetGateway = (n: NetworkRecord) => (family: 4 | 6) =>
  n.subnets.find((s) => s.subnet.includes(':') === (family === 6) && s.gateway)?.gateway ?? null;

/** How a sandbox on n reaches its gateways: the driver's way, or the subnets' gateways. */
export const gatewaysOf = (d: Driver | undefined, n: NetworkRecord): GatewayRoutes => d?.gateways?.(n) ?? { gateway: subnetGateway(n) };

/** The gateways a sandbox on n routes through, one per family the network has (none for an internal network). */
export function gatewayAddresses(n: NetworkRecord, routes: GatewayRoutes): string[] {
  if (n.internal) return [];
  const out: string[] = [];
  for (const family of [4, 6] as const) {
    if (!n.subnets.some((s) => s.subnet.includes(':') === (family === 6))) continue;
    const g = routes.gateway(family);
    if (g) out.push(g);
  }
  return out;
}

/** The default routes an endpoint on n gives its sandbox through its interface dev. */
export function defaultRoutes(d: Driver | undefined, n: NetworkRecord, dev: string): RouteSpec[] {
  const routes = gatewaysOf(d, n);
  return gatewayAddresses(n, routes).map((gateway) => ({ dst: 'default', gateway, dev, ...(routes.onlink ? { onlink: true } : {}) }));
}

/**
 * Configures the sandbox's end of ep, named ep.ifname and already in the
 * sandbox's namespace, which b now acts in: up, its addresses, and the
 * default route through the network's gateways when it gives the sandbox
 * one. On a network without IPv6 it comes up with no IPv6 link-local
 * address: no DAD, MLD reports or router solicitations from it. In a
 * namespace of nsnet's, IPv6 is off on it too, as Docker turns it off on
 * such an interface: a router advertisement another sandbox sends on the
 * network gives it no address or route; on a network with IPv6 it takes no
 * router advertisement either (its addresses and routes are nsnet's).
 * These must be set before the link is up. A pooled interface (its mode
 * and sysctls set when the pool made it, up or down as `pooled` says)
 * first takes ep's name and MAC. Last, it waits until the interface
 * answers for its addresses (see Batch.settleAddress): a peer that connects
 * once the create returns must not lose its first ARP request or neighbour
 * solicitation, and wait a second.
 */
export function configureInside(b: Batch, n: NetworkRecord, ep: EndpointRecord, o: JoinOptions, mtu: number | null, routes: GatewayRoutes, pooled?: PooledInterface): void {
  const inside = ep.ifname!;
  const rename = pooled !== undefined && pooled.ifname !== inside;
  if (pooled !== undefined) {
    // Kernels before 6.x refuse to rename a link that is up.
    if (rename && pooled.up) b.setDown(pooled.ifname);
    b.setLink(pooled.ifname, { ...(rename ? { name: inside } : {}), mac: ep.mac! });
  } else quietIPv6(b, n, mtu, inside, !!o.ownNetns);
  if (!pooled?.up || rename) b.setUp(inside);
  for (const a of ep.addresses) b.addAddress(inside, a, a.includes(':') ? { nodad: true } : {});
  if (o.gatewayEndpoint) {
    for (const gateway of gatewayAddresses(n, routes)) b.addRoute({ dst: 'default', gateway, dev: inside, ...(routes.onlink ? { onlink: true } : {}) });
  }
  // One wait covers the link: an IPv6 address's also covers its group.
  const v6 = ep.addresses.filter((a) => a.includes(':'));
  if (v6.length) for (const a of v6) b.settleAddress(inside, a.split('/')[0]!);
  else b.settleLink(inside);
}

/**
 * What an interface of n needs of IPv6 before it comes up (b acts in its
 * namespace): on a network without IPv6 no link-local address and, with
 * sysctls (a namespace of nsnet's), IPv6 off; on one with IPv6, with
 * sysctls, no router advertisements. Nothing where the link's MTU leaves
 * it no IPv6.
 */
export function quietIPv6(b: Batch, n: NetworkRecord, mtu: number | null, ifname: string, sysctls: boolean): void {
  if (!linkHasIPv6(mtu)) return;
  if (sysctls && sysctlSafe(ifname)) {
    if (hasIPv6(n)) b.sysctl(noRA(ifname), 0);
    else b.sysctl(noIPv6(ifname), 1);
  }
  if (!hasIPv6(n)) b.setLink(ifname, { addrGenMode: 'none' });
}

/** The sysctl that turns IPv6 off on an interface (slashes: a name may hold dots). */
export const noIPv6 = (ifname: string) => `net/ipv6/conf/${ifname}/disable_ipv6`;
/** The sysctl that has an interface take no router advertisements (0). */
const noRA = (ifname: string) => `net/ipv6/conf/${ifname}/accept_ra`;
/**
 * Whether an interface's name can go into a sysctl key (nsnet's keys take
 * letters, digits, '_', '.' and '-'): a name with another character (the
 * kernel allows most) keeps the kernel's defaults, and so takes router
 * advertisements.
 */
export const sysctlSafe = (ifname: string) => /^[A-Za-z0-9_.-]+$/.test(ifname);

export interface Lacking {
  /** The endpoint's addresses (`address/len`) missing from its interface. */
  addresses: string[];
  /** Gateways with no default route via them. */
  gateways: string[];
}

const same = (a: string, b: string) => toBig(a)?.n === toBig(b)?.n;

/**
 * What the namespace lacks of ep's: addresses on the interface ifindex,
 * and a default route via each of gateways (those of the network when ep
 * gives the default route: gatewayAddresses, else none).
 */
export function lacking(ep: EndpointRecord, ifindex: number, addresses: Address[], routes: Route[], gateways: string[]): Lacking {
  const out: Lacking = { addresses: [], gateways: [] };
  for (const a of ep.addresses) {
    const [addr, len] = a.split('/');
    if (!addresses.some((x) => x.ifindex === ifindex && x.prefixlen === Number(len) && same(x.address, addr!))) out.addresses.push(a);
  }
  for (const g of gateways) {
    const fam = ipFamily(g);
    if (!routes.some((r) => r.family === fam && r.dst === 'default' && r.gateway !== null && same(r.gateway, g))) out.gateways.push(g);
  }
  return out;
}

/**
 * What the sandbox's end of ep (far, as reconcile saw it in view) lacks of
 * what configureInside made: up, its addresses, the default route. The
 * requests that mend it go into b; the return says what they mend.
 */
export function mendInside(b: Batch, n: NetworkRecord, ep: EndpointRecord, far: Link, view: KernelView, o: JoinOptions, routes: GatewayRoutes): string[] {
  const fixed: string[] = [];
  if (!far.up) {
    b.setUp(far.ifindex);
    fixed.push(`${far.name} up`);
  }
  const lacks = lacking(ep, far.ifindex, view.addresses, view.routes, o.gatewayEndpoint ? gatewayAddresses(n, routes) : []);
  for (const a of lacks.addresses) {
    b.addAddress(far.ifindex, a, a.includes(':') ? { nodad: true } : {});
    fixed.push(`${a} on ${far.name}`);
  }
  for (const gateway of lacks.gateways) {
    b.replaceRoute({ dst: 'default', gateway, dev: far.ifindex, ...(routes.onlink ? { onlink: true } : {}) });
    fixed.push(`default via ${gateway}`);
  }
  return fixed;
}
