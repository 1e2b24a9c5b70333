// Putting a used namespace back the way it was made, or saying why it
// cannot be: what recycling a sandbox's namespace rests on (pool.ts).
//
// A snapshot taken when the namespace was made ready (its links, addresses,
// routes, rules and neighbours) and a dump of a fresh namespace's
// /proc/sys/net are the reference. First (leftSockets) nothing of the
// tenant may still run in it: any socket left (a listener, a UDP or packet
// socket, one held by another process) refuses it; TIME_WAIT entries,
// which no process holds, are closed. Then the reset (resetNetns) puts back
// what a tenant may have changed: nf_tables and conntrack, links (those it
// added are deleted; names, MACs, MTU, flags, queue length, group and
// alias restored; set down where the snapshot has them down, which flushes
// the neighbours and routes on them), sysctls, addresses, routes, rules and
// neighbours, and what else a tenant's root can leave to shape, steer or
// drop the next tenant's traffic: links' broadcast addresses and modes,
// queueing disciplines, nexthop objects, IPv6 address labels, IPsec states,
// policies and default policies, ipset sets, MPTCP endpoints and limits,
// the TCP metrics cache (the addon's "extras", put back and proved in the
// first step; legacy iptables tables in use, or an XDP program on a link,
// refuse it). Last it reads everything
// again: anything still unlike the snapshot refuses the reset. It never
// guesses: refused, the namespace is released instead.
import { NsnetError } from '../errors.js';
import {
  native,
  type NativeAddr,
  type NativeLink,
  type NativeNeigh,
  type NativeOp,
  type NativeReply,
  type NativeRoute,
  type NativeRule,
  type NativeSnapshot,
  type NativeSysctls,
} from '../native.js';
import type { Netns } from './netns.js';
import { describeSocket } from './socklist.js';

/** What a namespace looked like once made ready. */
export type Snapshot = NativeSnapshot;

/** The values under /proc/sys/net of a fresh namespace (held by the addon). */
export type Sysctls = NativeSysctls;

export type ResetResult = { ok: true; timeWaitClosed: number } | { ok: false; reason: string };

// IFF_* bits a tenant may change (dev_change_flags lets these through).
const USER_FLAGS = 0x4 | 0x20 | 0x80 | 0x100 | 0x200 | 0x1000 | 0x2000 | 0x4000 | 0x8000;
const IFF_UP = 0x1;
const LOOPBACK = 1; // lo's ifindex in every namespace

const pick = ({ links, addresses, routes, rules, neighbours }: Snapshot): Snapshot => ({ links, addresses, routes, rules, neighbours });

/** Reads what the snapshot and the checks compare, in one trip; with extras, those too (held by the addon). */
async function read(ns: Netns, extras = false): Promise<Snapshot> {
  const r = await native.snapshot(ns.handle, extras);
  if (r.errno) throw NsnetError.kernel('dump', 'namespace reset', r.errno, r.message || undefined);
  return extras ? { ...pick(r), extras: r.extras } : pick(r);
}

/**
 * One stage of the reset and the reading after it, in one job: its parts
 * never wait for the JS thread, which the next sandbox's create keeps busy.
 */
async function step(ns: Netns, o: Parameters<typeof native.resetStep>[1]): Promise<Snapshot & { left: [string, string][] }> {
  const r = await native.resetStep(ns.handle, o);
  if (r.errno) throw NsnetError.kernel(r.stage, 'namespace reset', r.errno, r.message || undefined);
  return { ...pick(r), left: r.left };
}

/** What a reset brings the namespace back to, extras included. */
export function snapshot(ns: Netns): Promise<Snapshot> {
  return read(ns, true);
}

/** What a restore brings a namespace back to: a fresh one's values (but the TCP Fast Open key, which a reset draws anew). */
export function sysctls(ns: Netns): Promise<Sysctls> {
  return native.sysctlDump(ns.handle);
}

// IFA_F_* an address keeps (NODAD, DADFAILED, HOMEADDRESS, DEPRECATED,
// PERMANENT, MANAGETEMPADDR, NOPREFIXROUTE, MCAUTOJOIN): not SECONDARY,
// which follows the order addresses came in, nor the passing states of DAD.
const ADDR_FLAGS = 0x7ba;
// Those a request may set.
const ADDR_SET_FLAGS = 0x712;
const FOREVER = 0xffffffff;
// With its lifetimes (forever or not) and label: a tenant may leave lo's
// 127.0.0.1 to expire a minute later, under the same address.
const addrKey = (a: NativeAddr) =>
  `${a.family} ${a.ifindex} ${a.address}/${a.prefixlen} ${a.peer ?? ''} ${a.scope} ${a.flags & ADDR_FLAGS} ${a.validLft === FOREVER} ${a.preferredLft === FOREVER} ${a.label}`;
// With its metrics and preference: a tenant can change those of a route
// the namespace was made with (ip route change ... mtu lock 552 rto_min 5s
// on lo's) and keep everything else; the reset cannot put them back, so
// such a namespace is refused.
const routeKey = (r: NativeRoute) =>
  `${r.family} ${r.table} ${r.type} ${r.dst ?? ''}/${r.dstLen} from ${r.src ?? ''}/${r.srcLen} ${r.gateway ?? ''} ${r.oif} ${r.protocol} ${r.scope} ${r.metric ?? ''} ${r.prefsrc ?? ''} ${r.metrics ?? ''} ${r.pref ?? ''}`;
const ruleKey = (r: NativeRule) => r.body.toString('hex');
const neighKey = (n: NativeNeigh) => `${n.family} ${n.ifindex} ${n.dst} ${n.lladdr ?? ''} ${n.state} ${n.flags}`;
// With whether it is held dormant or testing (IF_OPER_DORMANT, _TESTING):
// a mode put back does not bring it out of that until its next event.
const linkKey = (l: NativeLink) =>
  `${l.ifindex} ${l.name} ${l.kind} ${l.mtu} ${l.mac ?? ''} ${l.flags & (USER_FLAGS | IFF_UP)} ${l.txqlen} ${l.group} ${l.alias} ${l.master} ${l.operstate === 4 || l.operstate === 5}`;

/** What differs between two readings, one line per difference ('' when nothing does). */
function differences(want: Snapshot, got: Snapshot): string {
  const out: string[] = [];
  const diff = <T>(what: string, key: (x: T) => string, a: T[], b: T[]) => {
    const wa = new Set(a.map(key));
    const gb = new Set(b.map(key));
    for (const k of gb) if (!wa.has(k)) out.push(`${what} ${k} is new`);
    for (const k of wa) if (!gb.has(k)) out.push(`${what} ${k} is missing`);
  };
  diff('link', linkKey, want.links, got.links);
  diff('address', addrKey, want.addresses, got.addresses);
  diff('route', routeKey, want.routes, got.routes);
  diff('rule', (r: NativeRule) => `${r.family} pref ${r.priority} table ${r.table} (${ruleKey(r)})`, want.rules, got.rules);
  diff('neighbour', neighKey, want.neighbours, got.neighbours);
  return out.join('; ');
}

/** Sends ops on ns's socket in one batch; the first failure, named. */
async function exec(ns: Netns, ops: NativeOp[]): Promise<void> {
  const replies: NativeReply[] = await native.exec([{ ns: ns.handle, ops }]);
  const bad = replies.find((r) => r.errno && r.errno !== 125);
  if (bad) throw NsnetError.kernel('reset', 'namespace reset', bad.errno, bad.message || undefined);
}

/**
 * The requests that bring each link of `want` back. A link goes down only
 * where it must (down in the snapshot, or its name or MAC to change), and
 * up again where the snapshot has it up: taking a link down makes the
 * kernel wait for an RCU grace period, and lo, up in every namespace, need
 * not pay it each time.
 */
function linkOps(want: NativeLink[], now: Map<number, NativeLink>): NativeOp[] {
  const ops: NativeOp[] = [];
  for (const w of want) {
    const l = now.get(w.ifindex)!;
    const set: NativeOp & { op: 'link.set' } = { op: 'link.set', dev: w.ifindex };
    const [wantUp, isUp] = [!!(w.flags & IFF_UP), !!(l.flags & IFF_UP)];
    const mac = !!w.mac && l.mac !== w.mac && w.ifindex !== LOOPBACK;
    const down = isUp && (!wantUp || l.name !== w.name || mac);
    if (down) set.up = false;
    if (l.name !== w.name) set.name = w.name;
    if (l.mtu !== w.mtu) set.mtu = w.mtu;
    if (mac) set.mac = w.mac!;
    if (l.txqlen !== w.txqlen) set.txqlen = w.txqlen;
    if (l.group !== w.group) set.group = w.group;
    if (l.alias !== w.alias) set.alias = w.alias;
    if (l.master && !w.master) set.master = null;
    const changed = (l.flags ^ w.flags) & USER_FLAGS;
    if (changed) set.flags = { mask: changed, value: w.flags & changed };
    if (Object.keys(set).length > 2) ops.push(set);
    if (wantUp && (down || !isUp)) ops.push({ op: 'link.set', dev: w.ifindex, up: true });
  }
  return ops;
}

/**
 * Refuses a namespace in which a socket is left (a tenant's process may
 * still hold it); closes TIME_WAIT entries, which no process holds.
 */
export async function leftSockets(ns: Netns): Promise<ResetResult> {
  const socks = await native.sockets(ns.handle, true);
  if (!socks.items.length) return { ok: true, timeWaitClosed: socks.destroyed };
  const shown = socks.items.slice(0, 5).map(describeSocket).join(', ');
  return { ok: false, reason: `${socks.items.length} socket(s) still open in the namespace: ${shown}${socks.items.length > 5 ? ', ...' : ''}` };
}

/**
 * Resets ns to `want` (its snapshot) and the sysctls of a fresh namespace,
 * once leftSockets found no socket in it. Never throws for what it finds:
 * a refusal says why.
 */
export async function resetNetns(ns: Netns, want: Snapshot, fresh: Sysctls): Promise<ResetResult> {
  const h = ns.handle;
  try {
    // 1. (The caller has made sure no socket is left: leftSockets.)
    // 2. nf_tables and conntrack (counters under /proc/sys/net follow them);
    //    the extras (above) as the snapshot had them.
    // 3. Links the tenant added go (one at a time: deleting one end of a veth takes the other).
    let now: Snapshot = await step(ns, { clear: true, ...(want.extras ? { extras: want.extras } : {}) });
    const links = new Map(now.links.map((l) => [l.ifindex, l]));
    const gone = want.links.filter((w) => !links.has(w.ifindex));
    if (gone.length) return { ok: false, reason: `link(s) ${gone.map((l) => l.name).join(', ')} left the namespace` };
    const mine = new Set(want.links.map((l) => l.ifindex));
    const added = now.links.filter((l) => !mine.has(l.ifindex));
    for (const l of added) await exec(ns, [{ op: 'link.del', dev: l.ifindex }]).catch(noSuchDevice);
    if (added.length) now = await read(ns);
    // 4. One batch: routes, rules and addresses not in the snapshot go, the
    //    missing rules come back; then the links are put back (a link set
    //    down loses its neighbours and the routes through it).
    const has = <T>(xs: T[], key: (x: T) => string) => new Set(xs.map(key));
    const [wantAddr, wantRoute, wantRule, nowRule] = [has(want.addresses, addrKey), has(want.routes, routeKey), has(want.rules, ruleKey), has(now.rules, ruleKey)];
    const addrOp = (op: 'addr.add' | 'addr.del', a: NativeAddr): NativeOp => ({
      op, dev: a.ifindex, address: a.address, prefixlen: a.prefixlen, scope: a.scope, broadcast: a.broadcast !== null, ...(a.peer && a.peer !== a.address ? { peer: a.peer } : {}),
      ...(op === 'addr.add' ? { flags: a.flags & ADDR_SET_FLAGS, ...(a.family === 4 && a.label ? { label: a.label } : {}) } : {}),
    });
    const ops = [
      // Routes first, while the addresses and links they need are still there.
      ...now.routes.filter((r) => !wantRoute.has(routeKey(r)) && r.protocol !== 2 /* the kernel's own follow their addresses */).map(routeDel),
      ...now.rules.filter((r) => !wantRule.has(ruleKey(r))).map((r): NativeOp => ({ op: 'raw', type: 33 /* RTM_DELRULE */, body: r.body })),
      ...want.rules.filter((r) => !nowRule.has(ruleKey(r))).map((r): NativeOp => ({ op: 'raw', type: 32 /* RTM_NEWRULE */, flags: 0x600, body: r.body })),
      ...now.addresses.filter((a) => !wantAddr.has(addrKey(a))).map((a) => addrOp('addr.del', a)),
      ...linkOps(want.links, links),
    ];
    // 5. /proc/sys/net, once the links have their names (and MTUs) back; the
    //    TCP Fast Open key drawn anew. Read again in the same job.
    const after = await step(ns, { groups: ops.length ? [{ ns: h, ops }] : [], sysctls: fresh });
    if (after.left.length) return { ok: false, reason: `sysctls that cannot be put back: ${after.left.map(([k, v]) => `${k}=${v.trim()}`).join(', ')}` };
    // 6. Addresses the tenant removed come back (the kernel gives lo's back
    //    by itself once IPv6 is on again), and neighbour entries not in the
    //    snapshot go (the tenant's on lo; and turning IPv6 forwarding off in
    //    the sysctls' restore sends an MLD report, which makes one); then
    //    everything is read again: only an exact match goes back to the pool.
    now = pick(after);
    const back = has(now.addresses, addrKey);
    const wantNeigh = has(want.neighbours, neighKey);
    const fix: NativeOp[] = [
      ...want.addresses.filter((a) => !back.has(addrKey(a))).map((a) => addrOp('addr.add', a)),
      ...now.neighbours.filter((n) => !wantNeigh.has(neighKey(n))).map((n): NativeOp => ({ op: 'neigh.del', dev: n.ifindex, dst: n.dst, flags: n.flags & 0x8 })),
    ];
    if (fix.length) {
      await exec(ns, fix);
      now = await read(ns);
    }
    // A prefix route a fresh namespace lacks (lo's ::1 comes with none when
    // lo comes up, and gets one when added again or changed): it goes.
    const stray = now.routes.filter((r) => r.protocol === 2 && r.table === 254 && !wantRoute.has(routeKey(r)));
    if (stray.length) {
      await exec(ns, stray.map(routeDel));
      now = await read(ns);
    }
    let diff = differences(want, now);
    // An IPv6 address added again gets its local route once the kernel's
    // address worker has run (after the request's answer): a moment more.
    for (let i = 0; diff && fix.some((o) => o.op === 'addr.add' && o.address.includes(':')) && i < 5; i++) {
      await new Promise((res) => setTimeout(res, 2));
      now = await read(ns);
      diff = differences(want, now);
    }
    return diff ? { ok: false, reason: `still unlike a fresh namespace: ${diff}` } : { ok: true, timeWaitClosed: 0 };
  } catch (e) {
    return { ok: false, reason: `reset failed: ${(e as Error).message}` };
  }
}

const noSuchDevice = (e: NsnetError) => {
  if (e.code !== 'ENODEV') throw e;
};

function routeDel(r: NativeRoute): NativeOp {
  return {
    op: 'route.del', family: r.family === 6 ? 10 : 2, ...(r.dst ? { dst: r.dst } : {}), dstLen: r.dstLen,
    ...(r.src ? { src: r.src, srcLen: r.srcLen } : {}), table: r.table, type: r.type,
    protocol: r.protocol, scope: r.scope, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.oif ? { dev: r.oif } : {}),
    ...(r.metric !== null ? { metric: r.metric } : {}),
  };
}
