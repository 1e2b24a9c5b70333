// Docker's default driver: a Linux bridge per network with the gateway
// address on it, and per endpoint a veth whose far end is created straight
// inside the sandbox (named eth0, eth1 ...) and whose near end is enslaved to
// the bridge in the same request.
import { randomBytes } from 'node:crypto';

import { NsnetError, ValidationError } from '../errors.js';
import type { Batch, HasHandle } from '../netlink/batch.js';
import { toBig } from '../ipaddr.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import { ownerOf, ownerTag, ownership } from '../owner.js';
import * as v from '../validate.js';
import {
  bool, claimHostLink, deleteHostLink, downHostLink, enableForwarding, endpointMac, hasIPv6, hostLinkOf, linkHasIPv6, randomMac, readOptions, remake, ROUTING_KEYS,
} from './common.js';
import { configureInside, mendInside, noIPv6, quietIPv6, subnetGateway, sysctlSafe } from './inside.js';
import type { Driver, DriverContext, JoinOptions } from './driver.js';
import { handoffLost } from './handoff.js';

/** The default network's bridge, as docker0 is Docker's. */
export const DEFAULT_BRIDGE = 'nsnet0';

export interface BridgeState {
  bridge: string;
  /** Whether nsnet made the bridge (and so may delete it). */
  createdBridge?: boolean;
  mtu: number | null;
  icc: boolean;
  masquerade: boolean;
  ifPrefix: string;
  mac: 'ip' | 'random';
  /** Hairpin mode on every port, not only on those of endpoints that publish ports. */
  hairpin?: boolean;
}

/** Option keys: Docker's, and short aliases. */
const KEYS: Record<string, keyof Omit<BridgeState, 'createdBridge'>> = {
  'com.docker.network.bridge.name': 'bridge',
  'bridge.name': 'bridge',
  bridge: 'bridge',
  ...ROUTING_KEYS,
  'com.docker.network.container_iface_prefix': 'ifPrefix',
  'ifname.prefix': 'ifPrefix',
  'nsnet.hairpin': 'hairpin',
  hairpin: 'hairpin',
};

export function bridgeState(n: NetworkRecord): BridgeState {
  return n.driverState as unknown as BridgeState;
}

/** Hairpin on a port: where its endpoint publishes ports, or everywhere when the network asks. */
const hairpin = (st: BridgeState, ep: EndpointRecord) => !!ep.ports?.length || !!st.hairpin;

/**
 * The veth's host end, enslaved to the bridge and up, with its far end
 * `inside` created straight in sb (a handoff's stays in the host, down: its
 * runtime moves it in). IPv6 autoconfiguration would give each end a
 * link-local address, with its DAD, MLD reports and router solicitations;
 * those the sandbox's end sends are flooded to every port of the bridge,
 * and at 1000 sandboxes that flooding is most of what a create costs. The
 * host's end is a bridge port and needs no address of its own, so it never
 * gets one (configureInside turns the sandbox's end's off on a network
 * without IPv6). The mode must be set before a link is up.
 */
function hostEnd(ctx: DriverContext, n: NetworkRecord, b: Batch, hostIfname: string, inside: string, sb: HasHandle, o: { mac?: string; alias: string; hairpin: boolean; handoff?: boolean }): void {
  const st = bridgeState(n);
  const mtu = st.mtu ? { mtu: st.mtu } : {};
  b.in(ctx.host).addVeth({ name: hostIfname, master: st.bridge, ...mtu, peer: { name: inside, ...(o.handoff ? {} : { netns: sb }), ...(o.mac ? { mac: o.mac } : {}), ...mtu } });
  const v6 = linkHasIPv6(st.mtu);
  // The alias says whose the veth is, in the first request after the create.
  if (v6) b.setLink(hostIfname, { addrGenMode: 'none', alias: o.alias });
  // Where br_netfilter DNATs while bridging, a container reaching its own
  // published port through the host sends the frame back out its own port.
  b.setLink(hostIfname, { up: true, ...(v6 ? {} : { alias: o.alias }), ...(o.hairpin ? { hairpin: true } : {}) });
}

export const bridgeDriver: Driver = {
  name: 'bridge',
  sandboxKind: 'own',
  usesIpam: true,
  singleton: false,
  publishesPorts: true,
  handsOff: true,

  validateNetwork(n, others) {
    const st: BridgeState = {
      bridge: n.name === 'bridge' ? DEFAULT_BRIDGE : `nsbr-${n.id.slice(0, 10)}`,
      mtu: null,
      icc: true,
      masquerade: true,
      ifPrefix: 'eth',
      mac: 'ip',
    };
    readOptions(n, 'bridge', KEYS, (f, key, val) => {
      if (f === 'bridge') st.bridge = v.ifname(val, `option ${key}`);
      else if (f === 'mtu') st.mtu = v.mtu(Number(val), `option ${key}`);
      else if (f === 'icc' || f === 'masquerade' || f === 'hairpin') st[f] = bool(key, val);
      else if (f === 'ifPrefix') {
        if (!/^[a-z][a-z0-9]{0,9}$/.test(val)) throw new ValidationError(`option ${key}`, val, 'must be 1 to 10 lowercase letters and digits, starting with a letter');
        st.ifPrefix = val;
      } else if (f === 'mac') {
        if (val !== 'ip' && val !== 'random') throw new ValidationError(`option ${key}`, val, 'must be ip or random');
        st.mac = val;
      }
    });
    const clash = others.find((o) => o.driver === 'bridge' && bridgeState(o).bridge === st.bridge);
    if (clash) throw NsnetError.state('ERR_NSNET_IN_USE', 'network.create', st.bridge, `bridge ${st.bridge} already belongs to network ${clash.name}`);
    return st as unknown as Record<string, unknown>;
  },

  async createNetwork(ctx, n) {
    const st = bridgeState(n);
    if (!st.icc) {
      // Traffic between two ports of one bridge never reaches the IP hooks
      // unless br_netfilter sends it there. nsnet does not turn that on
      // itself: it would send every bridge of the host through every
      // table's forward hook (Docker's FORWARD drop then cuts libvirt's).
      const fams = hasIPv6(n) ? ['iptables', 'ip6tables'] : ['iptables'];
      for (const f of fams) {
        const on = await ctx.host.sysctl(`net.bridge.bridge-nf-call-${f}`).then((x) => x.trim() === '1', () => false);
        if (!on)
          throw NsnetError.state('ERR_NSNET_UNSUPPORTED', 'network.create', n.name,
            `enable_icc=false needs br_netfilter with net.bridge.bridge-nf-call-${f}=1 in the host namespace (modprobe br_netfilter), so that traffic between containers of one bridge passes nsnet's forward chain`);
      }
    }
    let existing = await ctx.host.links.find(st.bridge);
    if (existing && existing.kind !== 'bridge')
      throw NsnetError.state('ERR_NSNET_IN_USE', 'network.create', st.bridge, `${st.bridge} exists and is a ${existing.kind || 'device'}, not a bridge`);
    if (existing && ownership(ctx.owner, existing.alias) === 'other') {
      // Another store's bridge is never shared: its teardown would take this network's with it.
      if (st.bridge !== DEFAULT_BRIDGE)
        throw NsnetError.state('ERR_NSNET_IN_USE', 'network.create', st.bridge,
          `bridge ${st.bridge} belongs to another nsnet store (${ownerOf(existing.alias)}, another state dir); give this network a bridge of its own`);
      // Another store has the default bridge: this store's default network gets one of its own.
      st.bridge = `nsbr-${n.id.slice(0, 10)}`;
      existing = await ctx.host.links.find(st.bridge);
      if (existing) throw NsnetError.state('ERR_NSNET_IN_USE', 'network.create', st.bridge, `${st.bridge} exists`);
    }
    const b = ctx.host.batch();
    if (!existing) {
      // A fixed MAC: otherwise the bridge takes its lowest port's, and the
      // gateway's MAC changes as sandboxes come and go. The alias says it is
      // this store's, set in the request right after the create.
      b.addBridge({ name: st.bridge, up: true, mac: randomMac(), ...(st.mtu ? { mtu: st.mtu } : {}) });
      b.setLink(st.bridge, { alias: ownerTag(ctx.owner, n.id) });
      // The host's side of a network without IPv6 has none either, as Docker
      // turns it off: a router advertisement a sandbox sends on it would give
      // the host an address and a default route through that sandbox.
      if (!hasIPv6(n) && linkHasIPv6(st.mtu) && sysctlSafe(st.bridge)) b.sysctl(noIPv6(st.bridge), 1);
    }
    for (const s of n.subnets) {
      if (!s.gateway) continue;
      const len = s.subnet.split('/')[1];
      b.addAddress(st.bridge, `${s.gateway}/${len}`, s.gateway.includes(':') ? { nodad: true } : {});
    }
    if (existing) b.setUp(st.bridge);
    try {
      await b.commit();
    } catch (e) {
      if (!existing) await ctx.host.links.delete(st.bridge).catch(() => {});
      throw e;
    }
    st.createdBridge = !existing;
    try {
      await enableForwarding(ctx, n);
      // The host reaches published ports on 127.0.0.1: DNAT'd packets keep
      // that source until postrouting masquerades them, and routing drops
      // them on the bridge unless it accepts loopback addresses (the guard
      // chain keeps containers from using that to reach the host's loopback).
      await ctx.host.setSysctl(`net.ipv4.conf.${st.bridge}.route_localnet`, 1);
    } catch (e) {
      await this.deleteNetwork(ctx, n).catch(() => {});
      throw e;
    }
  },

  networkLinks: (n) => [bridgeState(n).bridge],

  async deleteNetwork(ctx, n) {
    const st = bridgeState(n);
    if (st.createdBridge) {
      // Made again by another store since (its alias says so): not ours to delete.
      const l = await ctx.host.links.find(st.bridge);
      if (!l || ownership(ctx.owner, l.alias) === 'other') return;
      try {
        await ctx.host.links.delete(l.ifindex);
      } catch (e) {
        if ((e as NsnetError).code !== 'ENODEV') throw e;
      }
    } else {
      // Someone else's bridge: take back only the gateway addresses.
      for (const s of n.subnets) {
        if (!s.gateway) continue;
        await ctx.host.addresses.delete(st.bridge, `${s.gateway}/${s.subnet.split('/')[1]}`).catch((e: NsnetError) => {
          if (e.code !== 'EADDRNOTAVAIL' && e.code !== 'ENODEV') throw e;
        });
      }
    }
  },

  prepareEndpoint(n, ep) {
    ep.hostIfname = `nsv${ep.id.slice(0, 8)}`;
    endpointMac(ep, bridgeState(n).mac);
  },

  join(ctx: DriverContext, n: NetworkRecord, ep: EndpointRecord, sb: HasHandle, b: Batch, o: JoinOptions) {
    const st = bridgeState(n);
    hostEnd(ctx, n, b, ep.hostIfname!, ep.ifname!, sb, { mac: ep.mac!, alias: ownerTag(ctx.owner, ep.id), hairpin: hairpin(st, ep), handoff: !!o.handoff });
    if (o.handoff) return;
    // The peer cannot be brought up by the request that creates it: it is
    // not paired yet, and the kernel answers ENOTCONN. The sandbox's own
    // group, which runs next, brings it up.
    configureInside(b.in(sb), n, ep, o, st.mtu, { gateway: subnetGateway(n) });
    // The bridge port as the link watcher leaves it once the far end is up
    // (enabled, its queue attached): see Batch.settleAddress.
    b.in(ctx.host).settleLink(ep.hostIfname!).in(sb);
  },

  prepool(ctx, n, ns, b, tag) {
    const st = bridgeState(n);
    const hostIfname = `nsv${randomBytes(4).toString('hex')}`;
    const ifname = `${st.ifPrefix}0`;
    hostEnd(ctx, n, b, hostIfname, ifname, ns, { alias: tag, hairpin: !!st.hairpin });
    // The pool's namespaces are nsnet's own: its sysctls too.
    quietIPv6(b.in(ns), n, st.mtu, ifname, true);
    if (hasIPv6(n)) {
      // The kernel makes a link-local address from the MAC a link has when
      // it comes up, so this one waits down for its owner's MAC (adopt).
      // It goes up and down once now, as a recycled one has, so both look
      // the same (a link gets its queueing discipline on its first up).
      b.setUp(ifname).setDown(ifname);
      return { hostIfname, ifname, up: false };
    }
    // Without IPv6 it waits up, with IPv6 off (no router advertisement a
    // tenant sends on the network reaches it) and no address: adopt()
    // changes its MAC live (a veth allows that), and bringing a link up,
    // the dearest request of a create's trip, is paid here, off its path.
    b.setUp(ifname);
    return { hostIfname, ifname, up: true };
  },

  adopt(ctx, n, ep, ns, b, o, pooled) {
    const st = bridgeState(n);
    b.in(ctx.host).setLink(ep.hostIfname!, { alias: ownerTag(ctx.owner, ep.id), ...(hairpin(st, ep) ? { hairpin: true } : {}) });
    configureInside(b.in(ns), n, ep, o, st.mtu, { gateway: subnetGateway(n) }, pooled);
    // One that waited down (IPv6), or went down for its rename, came up:
    // its bridge port, as join's.
    if (!pooled.up || pooled.ifname !== ep.ifname) b.in(ctx.host).settleLink(ep.hostIfname!).in(ns);
  },

  unadopt(ctx, n, ep, b, tag) {
    // Back to the network's own hairpin setting. The port forgets the
    // tenant's MAC, which the next sandbox to get its address (and so its
    // MAC) may have on another port: the far end has just gone down, but
    // the bridge hears of a lost carrier later, in the kernel's own time.
    b.in(ctx.host).setLink(ep.hostIfname!, { alias: tag, fdbFlush: true, ...(hairpin(bridgeState(n), ep) ? { hairpin: !!bridgeState(n).hairpin } : {}) });
  },

  async repair(ctx, n, ep, sb, view, o) {
    const st = bridgeState(n);
    const bridge = view.hostLinks.get(st.bridge);
    if (!bridge) throw new Error(`bridge ${st.bridge} of network ${n.name} is missing`);
    const near = await hostLinkOf(ctx, ep, view);
    const far = view.links.find((l) => l.name === ep.ifname);
    // A handed-off interface that is lost cannot be made again: its runtime moved it in and addressed it.
    const lost = o.handoff ? handoffLost(ep, near, view) : null;
    if (lost) throw new Error(lost);
    if (!near || near.kind !== 'veth' || (!o.handoff && !far)) return remake(ctx, this, n, ep, sb, { host: near, inside: far }, o);
    const fixed = await claimHostLink(ctx, near, ep.id, o.apply);
    if (near.master !== bridge.ifindex || !near.up) {
      // Port settings (hairpin) apply only once it is a port: a request of their own.
      if (o.apply) await ctx.host.batch().setLink(near.ifindex, { master: bridge.ifindex }).setLink(near.ifindex, { up: true, ...(hairpin(st, ep) ? { hairpin: true } : {}) }).commit();
      fixed.push(`${near.name} attached to ${st.bridge}`);
    }
    // Inside, the interface and what is on it are the runtime's.
    if (o.handoff || !far) return fixed;
    const b = sb.batch();
    const inside = mendInside(b, n, ep, far, view, o, { gateway: subnetGateway(n) });
    fixed.push(...inside);
    if (o.apply && inside.length) await b.commit();
    return fixed;
  },

  leave: (ctx, _n, ep) => deleteHostLink(ctx, ep),

  // A port that is down forwards nothing either way.
  detach: (ctx, _n, ep) => downHostLink(ctx, ep),

  portsChanged(ctx, n, ep, b) {
    if (ep.hostIfname) b.in(ctx.host).setLink(ep.hostIfname, { hairpin: hairpin(bridgeState(n), ep) });
  },

  async check(ctx, n, ep) {
    if (!ep.hostIfname) return [];
    const st = bridgeState(n);
    const [veth, bridge] = await Promise.all([ctx.host.links.find(ep.hostIfname), ctx.host.links.find(st.bridge)]);
    if (!veth) return [`host interface ${ep.hostIfname} is missing`];
    const problems: string[] = [];
    if (!veth.up) problems.push(`host interface ${ep.hostIfname} is down`);
    if (!bridge || veth.master !== bridge.ifindex) problems.push(`host interface ${ep.hostIfname} is not a port of bridge ${st.bridge}`);
    return problems;
  },

  async checkNetwork(ctx, n) {
    const st = bridgeState(n);
    const bridge = await ctx.host.links.find(st.bridge);
    if (!bridge || bridge.kind !== 'bridge') return [`bridge ${st.bridge} of network ${n.name} is missing`];
    const problems = bridge.up ? [] : [`bridge ${st.bridge} of network ${n.name} is down`];
    const have = await ctx.host.addresses.list({ dev: bridge.ifindex });
    for (const s of n.subnets) {
      if (!s.gateway) continue;
      if (!have.some((a) => toBig(a.address)?.n === toBig(s.gateway!)?.n)) problems.push(`bridge ${st.bridge} lacks its gateway address ${s.gateway}`);
    }
    return problems;
  },

  firewall(n) {
    const st = bridgeState(n);
    return {
      id: n.id, interface: { kind: 'bridge', name: st.bridge }, subnets: n.subnets.map((s) => s.subnet),
      internal: n.internal, icc: st.icc, masquerade: st.masquerade,
    };
  },

  explain(e, n) {
    if ((e as NsnetError)?.code === 'EXFULL') {
      const err = e as NsnetError;
      const st = bridgeState(n);
      Object.defineProperty(err, 'message', {
        value: `bridge ${st.bridge} of network ${n.name} is full: the kernel allows at most 1023 ports on a bridge (BR_MAX_PORTS is 1024 and port 0 is reserved); ${err.message}`,
      });
    }
    return e;
  },
};
