// Docker's macvlan driver: each sandbox's interface is a macvlan of a host
// interface (the parent), created straight inside the sandbox's namespace by
// one request from the host (IFLA_LINK names the parent there, and
// IFLA_NET_NS_FD the sandbox), so the sandbox sits on the parent's LAN with
// a MAC and an address of its own. Nothing is routed or translated by the
// host: no NAT, no published ports, no firewall; the network's subnet and
// gateway are the LAN's, and the gateway (the LAN's router) is never handed
// out.
//
// The host cannot reach its own macvlan children through the parent: the
// kernel hands a child's frames for the parent's MAC to the wire, never up
// the parent. The usual fix is a macvlan of the host's own on the same
// parent (bridge mode, so it and the children switch frames among
// themselves), with an address on the LAN and a route to each sandbox:
// `-o nsnet.host_shim=ADDRESS[,ADDRESS6]` makes one, named nsmv-<id>.
import { NsnetError, ValidationError } from '../errors.js';
import { toBig } from '../ipaddr.js';
import { Prefix } from '../ipam/prefix.js';
import type { MacvlanMode } from '../netlink/batch.js';
import type { NetworkRecord } from '../store/store.js';
import { ownerTag, ownership } from '../owner.js';
import * as v from '../validate.js';
import { endpointMac, readOptions, remake } from './common.js';
import { configureInside, mendInside, subnetGateway } from './inside.js';
import type { Driver } from './driver.js';

export interface MacvlanState {
  parent: string;
  mode: Exclude<MacvlanMode, 'source'>;
  mtu: number | null;
  mac: 'ip' | 'random';
  /** The host's own macvlan on the parent, with its LAN addresses (bare): how the host reaches the sandboxes. */
  shim: { name: string; addresses: string[] } | null;
}

const MODES = ['bridge', 'private', 'vepa', 'passthru'] as const;

/** Option keys: Docker's (`parent`, `macvlan_mode`), and nsnet's. */
const KEYS: Record<string, keyof Omit<MacvlanState, 'shim'> | 'shim'> = {
  parent: 'parent',
  'macvlan.parent': 'parent',
  macvlan_mode: 'mode',
  'macvlan.mode': 'mode',
  'com.docker.network.driver.mtu': 'mtu',
  mtu: 'mtu',
  'nsnet.mac': 'mac',
  mac: 'mac',
  'nsnet.host_shim': 'shim',
  host_shim: 'shim',
};

export function macvlanState(n: NetworkRecord): MacvlanState {
  return n.driverState as unknown as MacvlanState;
}

const hostPrefix = (addr: string) => `${addr}/${addr.includes(':') ? 128 : 32}`;

/** The shim's addresses, each in one of the network's subnets, none its gateway; kept out of IPAM. */
function shimAddresses(n: NetworkRecord, key: string, val: string): string[] {
  const out: string[] = [];
  for (const a of val.split(',').map((x) => x.trim())) {
    const b = toBig(a);
    if (!b) throw new ValidationError(`option ${key}`, val, 'must be the address(es) the host takes on the LAN, e.g. 192.168.1.250 or 192.168.1.250,fd00::250: one no machine there uses');
    const s = n.subnets.find((x) => Prefix.parse(x.subnet).contains(b.n) && Prefix.parse(x.subnet).family === b.family);
    if (!s) throw new ValidationError(`option ${key}`, a, `is in none of the network's subnets (${n.subnets.map((x) => x.subnet).join(', ')})`);
    const p = Prefix.parse(s.subnet);
    if (b.n === p.base || (p.family === 4 && b.n === p.last) || (s.gateway && toBig(s.gateway)!.n === b.n))
      throw new ValidationError(`option ${key}`, a, "is the subnet's network, broadcast or gateway address");
    if (out.some((x) => toBig(x)!.family === b.family)) throw new ValidationError(`option ${key}`, val, 'takes one address per IP family');
    s.excluded.push(hostPrefix(a));
    out.push(a);
  }
  return out;
}

export const macvlanDriver: Driver = {
  name: 'macvlan',
  sandboxKind: 'own',
  usesIpam: true,
  singleton: false,
  externalSubnets: true,
  publishesPorts: "a macvlan sandbox has an address of its own on the parent's LAN, where its ports are reached directly; the host forwards nothing to it",

  validateNetwork(n, others) {
    const st: MacvlanState = { parent: '', mode: 'bridge', mtu: null, mac: 'ip', shim: null };
    let shim: { key: string; val: string } | null = null;
    readOptions(n, 'macvlan', KEYS, (f, key, val) => {
      if (f === 'parent') st.parent = v.ifname(val, `option ${key}`);
      else if (f === 'mode') {
        if (!(MODES as readonly string[]).includes(val)) throw new ValidationError(`option ${key}`, val, `must be one of ${MODES.join(', ')}`);
        st.mode = val as MacvlanState['mode'];
      } else if (f === 'mtu') st.mtu = v.mtu(Number(val), `option ${key}`);
      else if (f === 'mac') {
        if (val !== 'ip' && val !== 'random') throw new ValidationError(`option ${key}`, val, 'must be ip or random');
        st.mac = val;
      } else if (f === 'shim' && val !== '' && val !== 'false') shim = { key, val };
    });
    if (!st.parent) throw new ValidationError('option parent', undefined, 'a macvlan network needs the host interface on the LAN: -o parent=<interface>');
    if (shim) {
      const { key, val } = shim;
      if (st.mode !== 'bridge')
        throw new ValidationError(`option ${key}`, val, `needs macvlan_mode=bridge: in ${st.mode} mode the kernel does not switch frames between the host's macvlan and the sandboxes'`);
      st.shim = { name: `nsmv-${n.id.slice(0, 10)}`, addresses: shimAddresses(n, key, val) };
    }
    if (st.mode === 'passthru') {
      const clash = others.find((o) => o.driver === 'macvlan' && macvlanState(o).parent === st.parent);
      if (clash) throw NsnetError.state('ERR_NSNET_IN_USE', 'network.create', st.parent, `passthru takes the whole of ${st.parent}, which network ${clash.name} already uses`);
    }
    return st as unknown as Record<string, unknown>;
  },

  async createNetwork(ctx, n) {
    const st = macvlanState(n);
    const parent = await ctx.host.links.find(st.parent);
    if (!parent) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'network.create', st.parent, `parent ${st.parent} does not exist in the host's namespace (nsnet makes no VLAN subinterface for it)`);
    if (!st.shim) return;
    // The alias says whose it is, in the request right after the create.
    const b = ctx.host.batch()
      .addMacvlan({ name: st.shim.name, link: parent.ifindex, mode: 'bridge', up: true, ...(st.mtu ? { mtu: st.mtu } : {}) })
      .setLink(st.shim.name, { alias: ownerTag(ctx.owner, n.id) });
    for (const a of st.shim.addresses) b.addAddress(st.shim.name, hostPrefix(a), a.includes(':') ? { nodad: true } : {});
    try {
      await b.commit();
    } catch (e) {
      await this.deleteNetwork(ctx, n).catch(() => {});
      throw e;
    }
  },

  networkLinks: (n) => (macvlanState(n).shim ? [macvlanState(n).shim!.name] : []),

  async deleteNetwork(ctx, n) {
    const st = macvlanState(n);
    if (!st.shim) return;
    // Made again by another store since (its alias says so): not ours to delete.
    const l = await ctx.host.links.find(st.shim.name);
    if (!l || ownership(ctx.owner, l.alias) === 'other') return;
    // The shim's routes to the sandboxes go with it.
    await ctx.host.links.delete(l.ifindex).catch((e: NsnetError) => {
      if (e.code !== 'ENODEV') throw e;
    });
  },

  async checkNetwork(ctx, n) {
    const st = macvlanState(n);
    const problems = (await ctx.host.links.find(st.parent)) ? [] : [`parent ${st.parent} of network ${n.name} is missing`];
    if (st.shim && !(await ctx.host.links.find(st.shim.name))) problems.push(`${st.shim.name}, the host's macvlan of network ${n.name}, is missing`);
    return problems;
  },

  async check(ctx, n, ep) {
    const st = macvlanState(n);
    if (!st.shim) return [];
    const shim = await ctx.host.links.find(st.shim.name);
    if (!shim) return [`${st.shim.name}, the host's macvlan, is missing`];
    const have = new Set((await ctx.host.routes.list()).filter((r) => r.oif === shim.ifindex).map((r) => r.dst));
    return ep.addresses.map((a) => hostPrefix(a.split('/')[0]!)).filter((d) => !have.has(d)).map((d) => `no host route to ${d} through ${st.shim!.name}`);
  },

  prepareEndpoint(n, ep) {
    endpointMac(ep, macvlanState(n).mac);
  },

  join(ctx, n, ep, sb, b, o) {
    const st = macvlanState(n);
    // Made by the host's socket, so IFLA_LINK names the parent in the host's
    // namespace, and created straight in the sandbox's.
    b.in(ctx.host).addMacvlan({ name: ep.ifname!, link: st.parent, mode: st.mode, netns: sb, mac: ep.mac!, ...(st.mtu ? { mtu: st.mtu } : {}) });
    configureInside(b.in(sb), n, ep, o, st.mtu, { gateway: subnetGateway(n) });
    // Last, once the sandbox's address exists: a replace, so a route left
    // by a create that died half-way is taken over rather than refused.
    if (st.shim) for (const a of ep.addresses) b.in(ctx.host).replaceRoute({ dst: hostPrefix(a.split('/')[0]!), dev: st.shim.name });
  },

  async repair(ctx, n, ep, sb, view, o) {
    const st = macvlanState(n);
    const far = view.links.find((l) => l.name === ep.ifname);
    if (!far || far.kind !== 'macvlan') return remake(ctx, this, n, ep, sb, { inside: far }, o);
    const b = sb.batch();
    const fixed = mendInside(b, n, ep, far, view, o, { gateway: subnetGateway(n) });
    if (st.shim) {
      const shim = view.hostLinks.get(st.shim.name);
      if (!shim) throw new Error(`${st.shim.name}, the host's macvlan of network ${n.name}, is missing`);
      const have = new Set((await view.hostRoutes(shim.ifindex)).map((r) => r.dst));
      for (const a of ep.addresses) {
        const dst = hostPrefix(a.split('/')[0]!);
        if (have.has(dst)) continue;
        b.in(ctx.host).replaceRoute({ dst, dev: shim.ifindex });
        fixed.push(`route to ${dst} through ${st.shim.name}`);
      }
    }
    if (o.apply && fixed.length) await b.commit();
    return fixed;
  },

  leave(ctx, n, ep, sb) {
    return this.release!(ctx, n, ep, sb);
  },

  // The sandbox's macvlan is deleted, not left to the namespace's release:
  // the kernel destroys a released namespace's devices in its own time, and
  // until then the parent refuses a new macvlan with the same MAC (the next
  // sandbox given the same address, EADDRINUSE). The shim's routes go too.
  async release(ctx, n, ep, sb) {
    if (sb && (sb.netnsKind === 'own' || sb.netnsKind === 'external') && ep.ifname) {
      await ctx.inNetns(sb, (ns) => ns.links.delete(ep.ifname!)).catch((e: NsnetError) => {
        // The macvlan is gone, or its namespace (and it with it).
        if (e.code !== 'ENODEV' && e.code !== 'ENOENT' && e.code !== 'ERR_NSNET_NOT_FOUND') throw e;
      });
    }
    const st = macvlanState(n);
    if (!st.shim) return;
    for (const a of ep.addresses) {
      await ctx.host.routes.delete({ dst: hostPrefix(a.split('/')[0]!), dev: st.shim.name }).catch((e: NsnetError) => {
        // Already gone, or the shim with it.
        if (e.code !== 'ESRCH' && e.code !== 'ENODEV') throw e;
      });
    }
  },
};
