// What the drivers that give a sandbox an interface of its own share: reading
// their options (Docker's keys and short ones, from labels and options),
// choosing an endpoint's MAC, and configuring the sandbox's end of the
// interface once it is in the sandbox's namespace.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

import { ValidationError, type NsnetError } from '../errors.js';
import { toBig } from '../ipaddr.js';
import type { Batch, RouteSpec } from '../netlink/batch.js';
import type { Netns } from '../netlink/netns.js';
import type { Link } from '../netlink/types.js';
import { ownerOf, ownerTag, ownership } from '../owner.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import type { Driver, DriverContext, GatewayRoutes, JoinOptions, KernelView } from './driver.js';

export function bool(key: string, val: string): boolean {
  if (val === 'true' || val === '1') return true;
  if (val === 'false' || val === '0') return false;
  throw new ValidationError(`option ${key}`, val, 'must be true or false');
}

/**
 * Calls set(field, key, value) for each option a driver knows, labels first
 * (libnetwork passes them down too) and options after, so options win. An
 * option it does not know is refused, naming the ones it does; a label it
 * does not know is someone else's and left alone. Own keys only:
 * 'toString' or '__proto__' are nobody's options.
 */
export function readOptions<F extends string>(n: NetworkRecord, driver: string, keys: Record<string, F>, set: (field: F, key: string, val: string) => void): void {
  for (const [src, isOption] of [[n.labels, false], [n.options, true]] as const) {
    for (const [key, val] of Object.entries(src)) {
      const f = Object.hasOwn(keys, key) ? keys[key] : undefined;
      if (f) set(f, key, val);
      else if (isOption) throw new ValidationError(`option ${key}`, val, `is not a ${driver} option (known: ${Object.keys(keys).join(', ')})`);
    }
  }
}

/** The options of networks the host routes for (bridge, routed), by Docker's keys and short ones. */
export const ROUTING_KEYS = {
  'com.docker.network.driver.mtu': 'mtu',
  mtu: 'mtu',
  'com.docker.network.bridge.enable_icc': 'icc',
  icc: 'icc',
  'com.docker.network.bridge.enable_ip_masquerade': 'masquerade',
  masquerade: 'masquerade',
  'nsnet.mac': 'mac',
  mac: 'mac',
} as const;

export const hasIPv6 = (n: NetworkRecord) => n.subnets.some((s) => s.subnet.includes(':'));

// A kernel booted with ipv6.disable=1 has no AF_INET6 link attributes to set,
// and refuses the request that sets one (EAFNOSUPPORT). Looked up on the
// first join rather than when the module loads, so an import reads nothing.
let kernelIPv6: boolean | undefined;
const hasKernelIPv6 = () => (kernelIPv6 ??= existsSync('/proc/net/if_inet6'));
/** IPv6 below this MTU is off on a link anyway, and the kernel refuses to configure it. */
const IPV6_MIN_MTU = 1280;

/**
 * Whether a link of this MTU has IPv6 address generation to set: links
 * without IPv6 (none in the kernel, or an MTU under 1280) have none, and the
 * kernel refuses the attempt.
 */
export const linkHasIPv6 = (mtu: number | null) => hasKernelIPv6() && (mtu === null || mtu >= IPV6_MIN_MTU);

export const randomMac = () => {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
};

/**
 * The endpoint's MAC, unless the caller chose one (docker run
 * --mac-address): Docker's classic 02:42 + the IPv4 address, stable across
 * restarts of the same address, or random.
 */
export function endpointMac(ep: EndpointRecord, how: 'ip' | 'random'): void {
  if (ep.mac) return;
  const v4 = ep.addresses.find((a) => !a.includes(':'));
  if (how === 'ip' && v4) {
    const o = v4.split('/')[0]!.split('.').map((x) => Number(x).toString(16).padStart(2, '0'));
    ep.mac = `02:42:${o.join(':')}`;
  } else {
    ep.mac = randomMac();
  }
}

/**
 * Configures the sandbox's end of ep, named ep.ifname and already in the
 * sandbox's namespace, which b now acts in: up, its addresses, and the
 * default route through the network's gateways when it gives the sandbox
 * one. On a network without IPv6 it comes up with no IPv6 link-local
 * address, as Docker disables IPv6 on such an interface: no DAD, MLD
 * reports or router solicitations from it. The mode must be set before the
 * link is up. routes.gateway names the gateway of each family (a routed
 * network's is on-link, reached with no subnet around it).
 */
export function configureInside(b: Batch, n: NetworkRecord, ep: EndpointRecord, o: JoinOptions, mtu: number | null, routes: GatewayRoutes): void {
  const inside = ep.ifname!;
  if (linkHasIPv6(mtu) && !hasIPv6(n)) b.setLink(inside, { addrGenMode: 'none' });
  b.setUp(inside);
  for (const a of ep.addresses) b.addAddress(inside, a, a.includes(':') ? { nodad: true } : {});
  for (const gateway of defaultGateways(n, o, routes)) b.addRoute({ dst: 'default', gateway, dev: inside, ...(routes.onlink ? { onlink: true } : {}) });
}

/** The gateways of the sandbox's default routes (one per family the network has), when ep gives it its default route. */
function defaultGateways(n: NetworkRecord, o: JoinOptions, routes: GatewayRoutes): string[] {
  return o.gatewayEndpoint ? gatewayAddresses(n, routes) : [];
}

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

/** How a sandbox on n reaches its gateways: the driver's way, or the subnets' gateways. */
export const gatewaysOf = (d: Driver | undefined, n: NetworkRecord): GatewayRoutes => d?.gateways?.(n) ?? { gateway: subnetGateway(n) };

/** The default routes an endpoint on n gives its sandbox through its interface dev. */
export function defaultRoutes(d: Driver | undefined, n: NetworkRecord, dev: string): RouteSpec[] {
  const routes = gatewaysOf(d, n);
  return gatewayAddresses(n, routes).map((gateway) => ({ dst: 'default', gateway, dev, ...(routes.onlink ? { onlink: true } : {}) }));
}

const sameIp = (a: string, b: string) => toBig(a)?.n === toBig(b)?.n;

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
  for (const a of ep.addresses) {
    const [addr, len] = a.split('/');
    if (view.addresses.some((x) => x.ifindex === far.ifindex && x.prefixlen === Number(len) && sameIp(x.address, addr!))) continue;
    b.addAddress(far.ifindex, a, a.includes(':') ? { nodad: true } : {});
    fixed.push(`${a} on ${far.name}`);
  }
  for (const gateway of defaultGateways(n, o, routes)) {
    if (view.routes.some((r) => r.dst === 'default' && r.gateway !== null && sameIp(r.gateway, gateway))) continue;
    b.replaceRoute({ dst: 'default', gateway, dev: far.ifindex, ...(routes.onlink ? { onlink: true } : {}) });
    fixed.push(`default via ${gateway}`);
  }
  return fixed;
}

/**
 * A host interface of ep's, checked for its owner's tag: another store's is
 * not ours to mend (a throw); one without a tag (made before interfaces
 * carried one) is tagged, with apply. Returns what that mends.
 */
export async function claimHostLink(ctx: DriverContext, l: Link, objectId: string, apply: boolean): Promise<string[]> {
  const whose = ownership(ctx.owner, l.alias);
  if (whose === 'other') throw new Error(`${l.name} belongs to another nsnet store (${ownerOf(l.alias)})`);
  if (whose === 'mine') return [];
  if (apply) await ctx.host.links.set(l.ifindex, { alias: ownerTag(ctx.owner, objectId) });
  return [`${l.name} tagged`];
}

/** The gateway of the network's first subnet of a family, if it has one. */
export const subnetGateway = (n: NetworkRecord) => (family: 4 | 6) =>
  n.subnets.find((s) => s.subnet.includes(':') === (family === 6) && s.gateway)?.gateway ?? null;

/** Routing between a network and the outside needs forwarding on in the host, as Docker turns it on. */
export async function enableForwarding(ctx: DriverContext, n: NetworkRecord): Promise<void> {
  if ((await ctx.host.sysctl('net.ipv4.ip_forward')).trim() !== '1') await ctx.host.setSysctl('net.ipv4.ip_forward', 1);
  if (hasIPv6(n) && (await ctx.host.sysctl('net.ipv6.conf.all.forwarding')).trim() !== '1') await ctx.host.setSysctl('net.ipv6.conf.all.forwarding', 1);
}

/** Deletes ep's host-side veth (its peer goes with it); one already gone is what was wanted. */
export async function deleteHostLink(ctx: DriverContext, ep: EndpointRecord): Promise<void> {
  if (!ep.hostIfname) return;
  await ctx.host.links.delete(ep.hostIfname).catch((e: NsnetError) => {
    if (e.code !== 'ENODEV') throw e;
  });
}

/** ep's host-side link as reconcile saw it, looked up again when the listing lacks it: only what is surely gone is made again. */
export async function hostLinkOf(ctx: DriverContext, ep: EndpointRecord, view: KernelView): Promise<Link | undefined> {
  if (!ep.hostIfname) return undefined;
  return view.hostLinks.get(ep.hostIfname) ?? (await ctx.host.links.find(ep.hostIfname)) ?? undefined;
}

/**
 * Makes ep's interface again, as join made it: what is left of it (one end
 * of a veth does not outlive the other, or an impostor by its name) goes
 * first. Without apply, only says so. Returns what that mends.
 */
export async function remake(
  ctx: DriverContext, d: Driver, n: NetworkRecord, ep: EndpointRecord, sb: Netns, left: { host?: Link; inside?: Link }, o: JoinOptions & { apply: boolean },
): Promise<string[]> {
  const what = ep.hostIfname ? `${ep.hostIfname} and ${ep.ifname}` : `${ep.ifname}`;
  if (!o.apply) return [`${what} to be made again`];
  const gone = (e: NsnetError) => {
    if (e.code !== 'ENODEV') throw e;
  };
  if (left.host) await ctx.host.links.delete(left.host.ifindex).catch(gone);
  if (left.inside) await sb.links.delete(left.inside.ifindex).catch(gone);
  const b = sb.batch();
  d.join(ctx, n, ep, sb, b, o);
  await b.commit();
  return [`${what} made again`];
}
