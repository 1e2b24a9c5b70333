// What the drivers that give a sandbox an interface of its own share: reading
// their options (Docker's keys and short ones, from labels and options),
// choosing an endpoint's MAC, turning forwarding on, and the host-side
// interface's life (its owner's tag, its deletion, making it again).
// inside.ts has the sandbox's side.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

import { ValidationError, type NsnetError } from '../errors.js';
import type { Netns } from '../netlink/netns.js';
import type { Link } from '../netlink/types.js';
import { ownerOf, ownerTag, ownership } from '../owner.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import type { Driver, DriverContext, JoinOptions, KernelView } from './driver.js';

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

/** Routing between a network and the outside needs forwarding on in the host, as Docker turns it on. */
export async function enableForwarding(ctx: DriverContext, n: NetworkRecord): Promise<void> {
  if ((await ctx.host.sysctl('net.ipv4.ip_forward')).trim() !== '1') await ctx.host.setSysctl('net.ipv4.ip_forward', 1);
  if (hasIPv6(n) && (await ctx.host.sysctl('net.ipv6.conf.all.forwarding')).trim() !== '1') await ctx.host.setSysctl('net.ipv6.conf.all.forwarding', 1);
}

/** Runs op on ep's host-side interface; one that is gone (or never was) counts as done. */
export async function onHostEnd(ep: EndpointRecord, op: (name: string) => Promise<void>): Promise<void> {
  if (!ep.hostIfname) return;
  await op(ep.hostIfname).catch((e: NsnetError) => {
    if (e.code !== 'ENODEV') throw e;
  });
}

/** Deletes ep's host-side veth (its peer goes with it). */
export const deleteHostLink = (ctx: DriverContext, ep: EndpointRecord) => onHostEnd(ep, (name) => ctx.host.links.delete(name));

/** Takes ep's host-side veth down: its traffic stops at once, with no grace period to wait for, as deleting it has. */
export const downHostLink = (ctx: DriverContext, ep: EndpointRecord) => onHostEnd(ep, (name) => ctx.host.links.setDown(name));

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
