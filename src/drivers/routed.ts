// A routed network, as Calico and CNI's ptp build one: no bridge. Each
// sandbox gets a veth whose host end is on nothing; the sandbox's end has a
// /32 (and /128) address and a default route through a link-local gateway
// on-link, and the host routes the sandbox's address to its veth. Sandboxes
// of one network reach each other through the host's routing, and the
// firewall tells a network's traffic apart by its host veths' names: all of
// them start with the network's prefix, so one set element matches them all.
//
// Nothing here grows with the number of sandboxes: a bridge port costs more
// with every port already there (and a bridge holds 1023), a /32 route, a
// permanent neighbour entry and a veth do not. Every sandbox's gateway is
// 169.254.1.1 (IPv6: fe80::1), as in Calico, and every host end has the same
// MAC: each veth is a link of its own. Neither end ever asks who the other
// is: the sandbox has a permanent neighbour entry for the gateway with the
// host end's MAC, and the host one for the sandbox's addresses with its
// MAC, all in the sandbox's one kernel trip. (Proxy ARP would answer for the
// gateway too, but the sandbox would still ask, the host would need a
// sysctl written per veth, and the host's dynamic ARP entries are capped by
// gc_thresh3, 1024 by default, where permanent ones are not counted.)
import { NsnetError, ValidationError } from '../errors.js';
import { fromBig, toBig } from '../ipaddr.js';
import { ownerOf, ownerTag, ownership } from '../owner.js';
import type { NetworkRecord } from '../store/store.js';
import * as v from '../validate.js';
import {
  bool, claimHostLink, deleteHostLink, downHostLink, enableForwarding, endpointMac, hasIPv6, hostLinkOf, linkHasIPv6, readOptions, remake, ROUTING_KEYS,
} from './common.js';
import { configureInside, mendInside } from './inside.js';
import type { Driver, GatewayRoutes } from './driver.js';

export interface RoutedState {
  /** The start of every host veth's name on this network: `nsr` and three base-36 digits. */
  prefix: string;
  mtu: number | null;
  icc: boolean;
  masquerade: boolean;
  mac: 'ip' | 'random';
}

/** Option keys: the bridge driver's for the same things (Docker's and short ones). */
const KEYS: Record<string, keyof Omit<RoutedState, 'prefix'>> = ROUTING_KEYS;

export const GATEWAY4 = '169.254.1.1';
export const GATEWAY6 = 'fe80::1';
/** Every host end's MAC (Calico's): locally administered, unicast. */
export const HOST_MAC = 'ee:ee:ee:ee:ee:ee';

const PREFIXES = 36 ** 3;
const prefixOf = (i: number) => `nsr${i.toString(36).padStart(3, '0')}`;

export function routedState(n: NetworkRecord): RoutedState {
  return n.driverState as unknown as RoutedState;
}

/** A host veth's name: the network's prefix and nine base-36 digits of the endpoint's id (46 bits). */
export const hostVeth = (st: RoutedState, epId: string) => `${st.prefix}${BigInt(`0x${epId.slice(0, 12)}`).toString(36).padStart(10, '0').slice(-9)}`;

const bare = (a: string) => a.split('/')[0]!;
const host = (a: string) => `${bare(a)}/${a.includes(':') ? 128 : 32}`;

const gateways: GatewayRoutes = { gateway: (family) => (family === 4 ? GATEWAY4 : GATEWAY6), onlink: true };

export const routedDriver: Driver = {
  name: 'routed',
  sandboxKind: 'own',
  usesIpam: true,
  singleton: false,
  publishesPorts: true,

  validateNetwork(n, others) {
    const st: RoutedState = { prefix: '', mtu: null, icc: true, masquerade: true, mac: 'ip' };
    readOptions(n, 'routed', KEYS, (f, key, val) => {
      if (f === 'mtu') st.mtu = v.mtu(Number(val), `option ${key}`);
      else if (f === 'icc' || f === 'masquerade') st[f] = bool(key, val);
      else if (val !== 'ip' && val !== 'random') throw new ValidationError(`option ${key}`, val, 'must be ip or random');
      else st.mac = val;
    });
    st.prefix = freePrefix(n, new Set(others.filter((o) => o.driver === 'routed').map((o) => routedState(o).prefix)));
    return st as unknown as Record<string, unknown>;
  },

  async createNetwork(ctx, n) {
    const st = routedState(n);
    // Another store's routed network may have the same prefix: its veths say so.
    const theirs = (await ctx.host.links.list()).filter((l) => l.name.startsWith(st.prefix) && ownership(ctx.owner, l.alias) === 'other');
    if (theirs.length)
      throw NsnetError.state('ERR_NSNET_IN_USE', 'network.create', st.prefix,
        `host veths named ${st.prefix}* belong to another nsnet store (${ownerOf(theirs[0]!.alias)}); create the network again to get another prefix`);
    await enableForwarding(ctx, n);
  },

  // Its host veths go with their sandboxes: the network has nothing of its own in the kernel.
  async deleteNetwork() {},

  prepareEndpoint(n, ep) {
    const st = routedState(n);
    ep.hostIfname = hostVeth(st, ep.id);
    // The sandbox holds its addresses alone: nothing else is on its link.
    ep.addresses = ep.addresses.map(host);
    endpointMac(ep, st.mac);
  },

  join(ctx, n, ep, sb, b, o) {
    const st = routedState(n);
    const mtu = st.mtu ? { mtu: st.mtu } : {};
    const near = ep.hostIfname!;
    b.in(ctx.host).addVeth({ name: near, mac: HOST_MAC, ...mtu, peer: { name: ep.ifname!, netns: sb, mac: ep.mac!, ...mtu } });
    // Before it is up. The kernel keeps a route per IPv6 interface to the
    // same prefixes (ff00::/8 for every one, fe80::/64 for every one with a
    // link-local address) in one list that each new one walks, and walks
    // all its routes on each interface's state change: at thousands of
    // veths that is most of what a create costs. On a network without
    // IPv6 the host end has no IPv6 at all (a sysctl, as netlink cannot
    // turn it off); on one with IPv6 it needs it, but no link-local address.
    // route_localnet lets the host reach ports published on 127.0.0.1
    // through it (the guard chain keeps sandboxes off the host's loopback).
    const v6 = linkHasIPv6(st.mtu);
    if (v6 && !hasIPv6(n)) b.sysctl(`net.ipv6.conf.${near}.disable_ipv6`, 1);
    b.setLink(near, { alias: ownerTag(ctx.owner, ep.id), ipv4Conf: { route_localnet: 1 }, ...(v6 && hasIPv6(n) ? { addrGenMode: 'none' } : {}) });
    b.setLink(near, { up: true });
    for (const a of ep.addresses) {
      b.addRoute({ dst: host(a), dev: near });
      b.addNeighbour({ dst: bare(a), dev: near, lladdr: ep.mac! });
    }
    b.in(sb);
    configureInside(b, n, ep, o, st.mtu, gateways);
    for (const family of [4, 6] as const) {
      const subnets = n.subnets.filter((s) => s.subnet.includes(':') === (family === 6));
      if (!subnets.length) continue;
      const gateway = gateways.gateway(family)!;
      b.addNeighbour({ dst: gateway, dev: ep.ifname!, lladdr: HOST_MAC });
      // Without the default route (another network gives it, or none leaves
      // an internal one), the network's own subnets still go to the host.
      if (!o.gatewayEndpoint || n.internal) for (const s of subnets) b.addRoute({ dst: s.subnet, gateway, dev: ep.ifname!, onlink: true });
    }
    // The host end as the link watcher leaves it once the far end is up
    // (its queue attached; till then it drops): see Batch.settleAddress.
    b.in(ctx.host).settleLink(near).in(sb);
  },

  async repair(ctx, n, ep, sb, view, o) {
    const near = await hostLinkOf(ctx, ep, view);
    const far = view.links.find((l) => l.name === ep.ifname);
    if (!near || !far || near.kind !== 'veth') return remake(ctx, this, n, ep, sb, { host: near, inside: far }, o);
    const fixed = await claimHostLink(ctx, near, ep.id, o.apply);
    const b = sb.batch();
    const before = fixed.length;
    if (near.master !== null || !near.up) {
      b.in(ctx.host).setLink(near.ifindex, { master: null, up: true });
      fixed.push(`${near.name} up, on no master`);
    }
    const routes = new Set((await view.hostRoutes(near.ifindex)).map((r) => r.dst));
    const neighbours = new Set((await view.hostNeighbours(near.ifindex)).filter((x) => x.state.includes('PERMANENT')).map((x) => `${x.dst} ${x.lladdr}`));
    for (const a of ep.addresses) {
      if (!routes.has(canon(host(a)))) {
        b.in(ctx.host).replaceRoute({ dst: host(a), dev: near.ifindex });
        fixed.push(`route to ${host(a)} through ${near.name}`);
      }
      if (!neighbours.has(`${canon(bare(a))} ${ep.mac}`)) {
        b.in(ctx.host).replaceNeighbour({ dst: bare(a), dev: near.ifindex, lladdr: ep.mac! });
        fixed.push(`neighbour ${bare(a)} on ${near.name}`);
      }
    }
    fixed.push(...mendInside(b.in(sb), n, ep, far, view, o, gateways));
    const inside = new Set((await sb.neighbours.list()).filter((x) => x.ifindex === far.ifindex && x.state.includes('PERMANENT')).map((x) => `${x.dst} ${x.lladdr}`));
    for (const family of [4, 6] as const) {
      if (!n.subnets.some((s) => s.subnet.includes(':') === (family === 6))) continue;
      const gateway = gateways.gateway(family)!;
      if (inside.has(`${gateway} ${HOST_MAC}`)) continue;
      b.in(sb).replaceNeighbour({ dst: gateway, dev: far.ifindex, lladdr: HOST_MAC });
      fixed.push(`neighbour ${gateway} on ${far.name}`);
    }
    if (o.apply && fixed.length > before) await b.commit();
    return fixed;
  },

  leave: (ctx, _n, ep) => deleteHostLink(ctx, ep),

  // A veth whose host end is down carries nothing either way.
  detach: (ctx, _n, ep) => downHostLink(ctx, ep),

  async check(ctx, _n, ep) {
    if (!ep.hostIfname) return [];
    const veth = await ctx.host.links.find(ep.hostIfname);
    if (!veth) return [`host interface ${ep.hostIfname} is missing`];
    const problems: string[] = [];
    if (!veth.up) problems.push(`host interface ${ep.hostIfname} is down`);
    if (veth.master !== null) problems.push(`host interface ${ep.hostIfname} is a port of a master`);
    const routes = new Set((await ctx.host.routes.list()).filter((r) => r.oif === veth.ifindex).map((r) => r.dst));
    for (const a of ep.addresses) if (!routes.has(canon(host(a)))) problems.push(`no host route to ${host(a)} through ${ep.hostIfname}`);
    return problems;
  },

  gateways: () => gateways,

  firewall(n) {
    const st = routedState(n);
    return {
      id: n.id, interface: { kind: 'prefix', prefix: st.prefix }, subnets: n.subnets.map((s) => s.subnet),
      internal: n.internal, icc: st.icc, masquerade: st.masquerade,
    };
  },
};

/** An address (or address/len) as the kernel lists it. */
function canon(a: string): string {
  const [addr, len] = a.split('/');
  const b = toBig(addr!);
  const text = b ? fromBig(b.family, b.n) : addr!;
  return len === undefined ? text : `${text}/${len}`;
}

/** A prefix no other routed network of this store has, starting from the network's id. */
function freePrefix(n: NetworkRecord, taken: Set<string>): string {
  const start = Number(BigInt(`0x${n.id.slice(0, 12)}`) % BigInt(PREFIXES));
  for (let i = 0; i < PREFIXES; i++) {
    const p = prefixOf((start + i) % PREFIXES);
    if (!taken.has(p)) return p;
  }
  throw NsnetError.state('ERR_NSNET_EXHAUSTED', 'network.create', n.name, `all ${PREFIXES} routed network prefixes are taken`);
}
