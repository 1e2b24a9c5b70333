// nsnet's own nf_tables ruleset, as data. One table, `inet nsnet`, holds a
// fixed set of chains and rules written once; everything that changes with
// networks, endpoints and published ports lives in sets and maps, so adding
// or removing one is a set-element change in one transaction and never
// rewrites a chain (Docker's nftables backend re-populates chains and gets
// slower with ports x rules, moby#53466).
//
// It is the layout of the nftables backend (src/firewall/nftables.ts). A
// network's traffic is told apart by its interface: a bridge network's
// bridge, or a routed network's host veths, which all start with the
// network's prefix and so are matched by one wildcard element ("nsr0ab*",
// as nft writes it). Every set keyed by interface is a concatenation of
// two (pipapo, the kernel's set for ranges in concatenations), so a
// wildcard works in each: `iifname . iifname @self` asks "is the input
// interface one of nsnet's networks?". What the drivers do besides, in the
// kernel: net.ipv4.ip_forward=1; route_localnet=1 on the bridge (on each
// routed host veth) for 127.0.0.1 publishing; and hairpin mode on the
// bridge port of an endpoint that publishes ports, for where br_netfilter
// is loaded (the DNAT then happens while bridging, and the frame must go
// back out the port it came in on).
//
//   sets              what their elements are
//   self              (iface . iface) for each network         ifname . ifname (intervals)
//   internal          the same, of internal networks           ifname . ifname (intervals)
//   icc_off           the same, of networks whose containers   ifname . ifname (intervals)
//                     may not talk to each other
//   masq4 / masq6     subnets to masquerade on the way out     address intervals
//   nets4 / nets6     each subnet with its network's iface     (address interval . ifname)
//   dnat4 / dnat6     ports published on one host address:
//                     (host address . l4proto . port) -> (container address . port)
//   dnat4_any / ...6  ports published on every host address:
//                     (l4proto . port) -> (container address . port)
// The port maps are plain hash maps (no intervals): adding the 1001st port
// costs what adding the first did, where an interval map (pipapo) rebuilds
// its lookup tables on every commit. The interface sets change with
// networks only, and hold one element per network whatever its size.
import { endianness } from 'node:os';

import type { Expr, Reg } from '../netlink/nftexpr.js';
import { CT_STATE, CT_STATUS, REG, reg32 } from '../netlink/nftexpr.js';
import type { ChainSpec, Element, NftOp, NftVerb, RuleSpec, SetSpec } from '../netlink/nftables.js';
import { ValidationError } from '../errors.js';
import { toBig } from '../ipaddr.js';
import * as v from '../validate.js';
import type { PortSpec } from './backend.js';

export const TABLE = { family: 'inet', name: 'nsnet' } as const;
const T = { family: 'inet', table: TABLE.name } as const;

export const SETS = {
  self: { ...T, name: 'self', key: ['ifname', 'ifname'], interval: true },
  internal: { ...T, name: 'internal', key: ['ifname', 'ifname'], interval: true },
  iccOff: { ...T, name: 'icc_off', key: ['ifname', 'ifname'], interval: true },
  masq4: { ...T, name: 'masq4', key: 'ipv4_addr', interval: true },
  masq6: { ...T, name: 'masq6', key: 'ipv6_addr', interval: true },
  nets4: { ...T, name: 'nets4', key: ['ipv4_addr', 'ifname'], interval: true },
  nets6: { ...T, name: 'nets6', key: ['ipv6_addr', 'ifname'], interval: true },
  dnat4: { ...T, name: 'dnat4', key: ['ipv4_addr', 'inet_proto', 'inet_service'], data: ['ipv4_addr', 'inet_service'] },
  dnat6: { ...T, name: 'dnat6', key: ['ipv6_addr', 'inet_proto', 'inet_service'], data: ['ipv6_addr', 'inet_service'] },
  dnat4Any: { ...T, name: 'dnat4_any', key: ['inet_proto', 'inet_service'], data: ['ipv4_addr', 'inet_service'] },
  dnat6Any: { ...T, name: 'dnat6_any', key: ['inet_proto', 'inet_service'], data: ['ipv6_addr', 'inet_service'] },
} satisfies Record<string, SetSpec>;
// Frozen, so the codec works out each set's layout once (see setLayout).
for (const s of Object.values(SETS) as SetSpec[]) {
  if (Array.isArray(s.key)) Object.freeze(s.key);
  if (Array.isArray(s.data)) Object.freeze(s.data);
  Object.freeze(s);
}

export const CHAINS = {
  guard: { ...T, name: 'guard', hook: 'prerouting', type: 'filter', priority: -300, policy: 'accept' },
  forward: { ...T, name: 'forward', hook: 'forward', type: 'filter', priority: 0, policy: 'accept' },
  prerouting: { ...T, name: 'prerouting', hook: 'prerouting', type: 'nat', priority: -100 },
  output: { ...T, name: 'output', hook: 'output', type: 'nat', priority: -100 },
  postrouting: { ...T, name: 'postrouting', hook: 'postrouting', type: 'nat', priority: 100 },
} satisfies Record<string, ChainSpec>;

// ---------------------------------------------------------------- expressions

const u32host = (n: number) => {
  const b = Buffer.alloc(4);
  // ct state/status and fib's type are host-order u32 in the registers.
  if (endianness() === 'LE') b.writeUInt32LE(n);
  else b.writeUInt32BE(n);
  return b;
};
const meta = (key: 'iifname' | 'oifname' | 'nfproto' | 'l4proto', dreg: Reg = REG.r1): Expr => ({ expr: 'meta', key, dreg });
const eq = (data: Buffer, sreg: Reg = REG.r1): Expr => ({ expr: 'cmp', op: 'eq', sreg, data });
const neq = (data: Buffer, sreg: Reg = REG.r1): Expr => ({ expr: 'cmp', op: 'neq', sreg, data });
/** meta iifname loads IFNAMSIZ bytes: the name NUL-padded. */
const LO = Buffer.concat([Buffer.from('lo'), Buffer.alloc(14)]);
const daddrByte0 = (b: number): Expr[] => [{ expr: 'payload', base: 'network', offset: 16, len: 1, dreg: REG.r1 }, eq(Buffer.from([b]))];
const inSet = (set: SetSpec, sreg: Reg = REG.r1, invert = false): Expr => ({ expr: 'lookup', set: set.name, sreg, invert });
/** `iifname . iifname @set`: the interface belongs to a network the set holds. */
const isNet = (key: 'iifname' | 'oifname', set: SetSpec, invert = false): Expr[] => [meta(key), meta(key, REG.r2), inSet(set, REG.r1, invert)];
/** `iifname . oifname @self`: both interfaces belong to one network. */
const sameNet = (invert = false): Expr[] => [meta('iifname'), meta('oifname', REG.r2), inSet(SETS.self, REG.r1, invert)];
const verdict = (v: 'accept' | 'drop'): Expr => ({ expr: 'immediate', verdict: v });
// (reg & bits) != 0: any of the bits set.
const anyBit = (load: Expr, bits: number): Expr[] => [
  load,
  { expr: 'bitwise', sreg: REG.r1, dreg: REG.r1, mask: u32host(bits), xor: u32host(0) },
  { expr: 'cmp', op: 'neq', sreg: REG.r1, data: u32host(0) },
];
const ctState = (bits: number) => anyBit({ expr: 'ct', key: 'state', dreg: REG.r1 }, bits);
const ctStatus = (bits: number) => anyBit({ expr: 'ct', key: 'status', dreg: REG.r1 }, bits);
const nfproto = (p: 'ip' | 'ip6') => [meta('nfproto'), eq(Buffer.from([p === 'ip' ? 2 : 10]))];
const IPV6_LOOPBACK = Buffer.from('00000000000000000000000000000001', 'hex');
// fib daddr type local: the packet is for this host (any of its addresses).
const toLocal: Expr[] = [{ expr: 'fib', lookup: ['daddr'], result: 'type', dreg: REG.r1 }, eq(u32host(2 /* RTN_LOCAL */))];

// ip[6] daddr . meta l4proto . th dport looked up in dnat4/6 (a port
// published on that address), or meta l4proto . th dport in dnat4/6_any (on
// every address); the map's (address . port) lands in r1 and the port's
// register, and nat uses both. A matching nat ends the chain, so a port
// published on one address wins over the same port published on all.
//
// From the host, [::1] is left alone: IPv6 has no route_localnet, and the
// kernel drops a reply whose address NAT turns back into ::1 on its way in
// from the bridge (RFC 4291 2.5.3), so a DNAT'd connection to [::1] would
// hang; left alone, it is refused at once like any port nothing listens on.
function dnat(p: 'ip' | 'ip6', any: boolean, fromHost = false): Expr[] {
  const v4 = p === 'ip';
  const notLoopback6: Expr[] =
    fromHost && !v4 ? [{ expr: 'payload', base: 'network', offset: 24, len: 16, dreg: REG.r1 }, { expr: 'cmp', op: 'neq', sreg: REG.r1, data: IPV6_LOOPBACK }] : [];
  const portReg = reg32(v4 ? 1 : 4);
  const key: Expr[] = any
    ? [meta('l4proto', REG.r1), { expr: 'payload', base: 'transport', offset: 2, len: 2, dreg: reg32(1) }]
    : [
        { expr: 'payload', base: 'network', offset: v4 ? 16 : 24, len: v4 ? 4 : 16, dreg: REG.r1 },
        meta('l4proto', reg32(v4 ? 1 : 4)),
        { expr: 'payload', base: 'transport', offset: 2, len: 2, dreg: reg32(v4 ? 2 : 5) },
      ];
  const map = any ? (v4 ? SETS.dnat4Any : SETS.dnat6Any) : v4 ? SETS.dnat4 : SETS.dnat6;
  return [
    ...nfproto(p),
    ...notLoopback6,
    ...toLocal,
    ...key,
    { expr: 'lookup', set: map.name, sreg: REG.r1, dreg: REG.r1 },
    { expr: 'nat', type: 'dnat', family: p, addr: REG.r1, proto: portReg },
  ];
}

// A container reaching a published port on its own bridge: its source is
// in a subnet of the bridge the packet leaves by. Not iifname: where
// br_netfilter is loaded that DNAT happens while bridging, and postrouting
// then has no input device.
function hairpin(p: 'ip' | 'ip6'): Expr[] {
  const v4 = p === 'ip';
  return [
    ...nfproto(p),
    ...ctStatus(CT_STATUS.dnat),
    { expr: 'payload', base: 'network', offset: v4 ? 12 : 8, len: v4 ? 4 : 16, dreg: REG.r1 },
    meta('oifname', reg32(v4 ? 1 : 4)),
    inSet(v4 ? SETS.nets4 : SETS.nets6),
    { expr: 'masq' },
  ];
}

function masquerade(p: 'ip' | 'ip6'): Expr[] {
  const v4 = p === 'ip';
  return [
    ...nfproto(p),
    { expr: 'payload', base: 'network', offset: v4 ? 12 : 8, len: v4 ? 4 : 16, dreg: REG.r1 },
    inSet(v4 ? SETS.masq4 : SETS.masq6),
    ...isNet('oifname', SETS.self, true),
    { expr: 'masq' },
  ];
}

const rule = (chain: ChainSpec, comment: string, exprs: Expr[]): RuleSpec => ({ ...T, chain: chain.name, comment, exprs });

/** The fixed rules, in chain order. Their comments name them in `nft list`. */
export function rules(): RuleSpec[] {
  const { guard, forward, prerouting, output, postrouting } = CHAINS;
  return [
    // Loopback addresses are the host's own: only lo may bring them. With
    // route_localnet on the bridges (for 127.0.0.1 publishing) and the DNAT
    // of published ports matching before routing would call such a packet
    // martian, a container (CVE-2020-8558) or a neighbour on any link that
    // sends to 127.0.0.1 with the host's MAC would reach ports published on
    // 127.0.0.1 and the host's loopback services; Docker 28 drops these too.
    rule(guard, 'nsnet: loopback only from lo', [meta('iifname'), neq(LO), ...nfproto('ip'), ...daddrByte0(127), verdict('drop')]),
    rule(guard, 'nsnet: loopback6 only from lo', [meta('iifname'), neq(LO), ...nfproto('ip6'),
      { expr: 'payload', base: 'network', offset: 24, len: 16, dreg: REG.r1 }, eq(IPV6_LOOPBACK), verdict('drop')]),
    // A connection this chain let through keeps going without another look
    // (none of the drops below applies to one): most packets end here.
    rule(forward, 'nsnet: established', [...ctState(CT_STATE.established | CT_STATE.related), verdict('accept')]),
    // Between two different networks: never.
    rule(forward, 'nsnet: isolate networks', [...isNet('iifname', SETS.self), ...isNet('oifname', SETS.self), ...sameNet(true), verdict('drop')]),
    // Within a network, routed (a routed network always; a bridge by hairpin or br_netfilter): only where ICC is on.
    rule(forward, 'nsnet: icc off', [...isNet('iifname', SETS.iccOff), ...isNet('oifname', SETS.self), verdict('drop')]),
    // Internal networks never leave themselves. Their containers still talk
    // among themselves, which br_netfilter shows here too (iif = oif = the bridge).
    rule(forward, 'nsnet: internal in', [...isNet('iifname', SETS.internal), ...sameNet(true), verdict('drop')]),
    rule(forward, 'nsnet: internal out', [...isNet('oifname', SETS.internal), ...sameNet(true), verdict('drop')]),
    rule(forward, 'nsnet: published', [...isNet('oifname', SETS.self), ...ctStatus(CT_STATUS.dnat), verdict('accept')]),
    rule(forward, 'nsnet: from containers', [...isNet('iifname', SETS.self), verdict('accept')]),
    // Nothing else reaches a container from outside: only published ports do.
    rule(forward, 'nsnet: unpublished', [...isNet('oifname', SETS.self), verdict('drop')]),
    rule(prerouting, 'nsnet: publish v4', dnat('ip', false)),
    rule(prerouting, 'nsnet: publish v4 any', dnat('ip', true)),
    rule(prerouting, 'nsnet: publish v6', dnat('ip6', false)),
    rule(prerouting, 'nsnet: publish v6 any', dnat('ip6', true)),
    // From the host itself, 127.0.0.1 included (needs route_localnet on the way out).
    rule(output, 'nsnet: publish v4 from host', dnat('ip', false, true)),
    rule(output, 'nsnet: publish v4 any from host', dnat('ip', true, true)),
    rule(output, 'nsnet: publish v6 from host', dnat('ip6', false, true)),
    rule(output, 'nsnet: publish v6 any from host', dnat('ip6', true, true)),
    // A container reaching a published port of its own network: masquerade, so replies come back through us.
    rule(postrouting, 'nsnet: hairpin v4', hairpin('ip')),
    rule(postrouting, 'nsnet: hairpin v6', hairpin('ip6')),
    rule(postrouting, 'nsnet: from host loopback', [
      ...nfproto('ip'),
      { expr: 'payload', base: 'network', offset: 12, len: 1, dreg: REG.r1 },
      eq(Buffer.from([127])),
      ...isNet('oifname', SETS.self),
      { expr: 'masq' },
    ]),
    rule(postrouting, 'nsnet: masquerade v4', masquerade('ip')),
    rule(postrouting, 'nsnet: masquerade v6', masquerade('ip6')),
  ];
}

/**
 * Everything, as one transaction. With replace, an existing `inet nsnet`
 * is destroyed first in the same transaction: the switch is atomic, but
 * the elements must be added again.
 */
export function rulesetOps(opts: { replace?: boolean } = {}): NftOp[] {
  const ops: NftOp[] = [];
  if (opts.replace) ops.push({ verb: 'destroy', table: TABLE });
  ops.push({ verb: 'add', table: TABLE });
  for (const c of Object.values(CHAINS)) ops.push({ verb: 'add', chain: c });
  for (const s of Object.values(SETS)) ops.push({ verb: 'add', set: s });
  for (const r of rules()) ops.push({ verb: 'add', rule: r });
  return ops;
}

/** A network as the sets see it: its traffic is told apart by its interface. */
export interface RulesetNetwork {
  /** Its bridge, or `prefix*` for the host interfaces whose names start with prefix. */
  iface: string;
  /** Subnets (CIDR) of the network, IPv4 and IPv6. */
  subnets: string[];
  /** No traffic in or out of the network's subnet(s): no masquerade, no routing. */
  internal?: boolean;
  /** Containers on the network may talk to each other (default true). */
  icc?: boolean;
  /** Masquerade traffic leaving the host (default true; never for internal networks). */
  masquerade?: boolean;
}

const els = (set: SetSpec, elements: Element[], verb: NftVerb): NftOp[] => (elements.length ? [{ verb, elements: { set, elements } }] : []);

function network(n: RulesetNetwork, verb: NftVerb): NftOp[] {
  const f = n.iface?.endsWith('*') ? `${v.ifname(n.iface.slice(0, -1), 'iface prefix')}*` : v.ifname(n.iface, 'iface');
  if (!Array.isArray(n.subnets)) throw new ValidationError('subnets', n.subnets, 'must be a list of CIDR prefixes');
  const subnets = n.subnets.map((s, i) => {
    const c = v.cidr(s, `subnets[${i}]`);
    return { family: c.family, prefix: `${c.address}/${c.prefixlen}` };
  });
  const masq = !n.internal && n.masquerade !== false;
  return [
    ...els(SETS.self, [{ key: [f, f] }], verb),
    ...els(SETS.internal, n.internal ? [{ key: [f, f] }] : [], verb),
    ...els(SETS.iccOff, n.icc === false ? [{ key: [f, f] }] : [], verb),
    ...els(SETS.masq4, masq ? subnets.filter((s) => s.family === 4).map((s) => ({ key: s.prefix })) : [], verb),
    ...els(SETS.masq6, masq ? subnets.filter((s) => s.family === 6).map((s) => ({ key: s.prefix })) : [], verb),
    ...els(SETS.nets4, subnets.filter((s) => s.family === 4).map((s) => ({ key: [s.prefix, f] })), verb),
    ...els(SETS.nets6, subnets.filter((s) => s.family === 6).map((s) => ({ key: [s.prefix, f] })), verb),
  ];
}

/** The element changes that attach a network to the ruleset. */
export function addNetworkOps(n: RulesetNetwork): NftOp[] {
  return network(n, 'add');
}
/** ... and detach it: exactly the elements addNetworkOps added. */
export function removeNetworkOps(n: RulesetNetwork): NftOp[] {
  return network(n, 'delete');
}

function port(p: PortSpec, verb: NftVerb): NftOp[] {
  const { family, address } = v.ip(p.containerIp, 'containerIp');
  const host = p.hostIp === undefined ? null : v.ip(p.hostIp, 'hostIp');
  if (host && host.family !== family) throw new ValidationError('hostIp', p.hostIp, `must be an IPv${family} address, as containerIp is`);
  if (!['tcp', 'udp', 'sctp'].includes(p.protocol)) throw new ValidationError('protocol', p.protocol, "must be 'tcp', 'udp' or 'sctp'");
  const hostPort = v.uint(p.hostPort, 'hostPort', 65535, 1);
  const containerPort = v.uint(p.containerPort, 'containerPort', 65535, 1);
  // The store keeps "every address" as 0.0.0.0 or ::; other spellings of it still count.
  const any = !host || host.address === '0.0.0.0' || host.address === '::' || toBig(host.address)!.n === 0n;
  const set = any ? (family === 4 ? SETS.dnat4Any : SETS.dnat6Any) : family === 4 ? SETS.dnat4 : SETS.dnat6;
  const element: Element = { key: any ? [p.protocol, hostPort] : [host!.address, p.protocol, hostPort] };
  if (verb === 'add' || verb === 'create') element.data = [address, containerPort];
  return [{ verb, elements: { set, elements: [element] } }];
}

/** Publishes a port: one map element. */
export function addPortOps(p: PortSpec): NftOp[] {
  return port(p, 'add');
}
export function removePortOps(p: PortSpec): NftOp[] {
  return port(p, 'delete');
}
