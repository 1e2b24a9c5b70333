// Sandboxes: their options checked before anything changes, created as one
// transaction (the sandbox, its new endpoints and their addresses in one
// store transaction, then one kernel trip and the files), and deleted best
// effort (ports first, then the namespace, files and records).
import { join } from 'node:path';

import { NsnetError, ValidationError } from '../errors.js';
import { poolKey } from '../ipam/ipam.js';
import { Netns, expectTrip, isMounted } from '../netlink/netns.js';
import { parsePorts } from '../ports.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../store/store.js';
import { deferKeys, findByKey, now, openExternal, type CnmContext, type DeleteOptions, type DeleteReport } from './context.js';
import { checkEndpoint, dropEndpoint, planEndpoint, planJoins, type EndpointOptions } from './endpoints.js';
import { hostHostname, ownsFiles, removeSandboxFiles, validExtraHost, writeSandboxFiles } from './files.js';
import { leaveKernel, vacate } from './join.js';
import * as names from './names.js';
import * as v from '../validate.js';
import { checkPorts, portSpecs } from './publish.js';
import { Busy, whileBusy } from './busy.js';
import { recycleRefusal } from './pool.js';
import { joinTrip, sandboxTrip } from './trip.js';
import { Teardown, Transaction } from './tx.js';

export interface SandboxAttachment extends EndpointOptions {
  network: string;
}

/** A sandbox's options but the endpoints to join (the Controller takes those as Endpoint handles). */
export interface SandboxSettings {
  /** 'own' (default): a new namespace; 'host': the host's namespace. */
  namespace?: 'own' | 'host';
  /**
   * A namespace nsnet did not make (a CNI runtime's), by its path: joined
   * like an own one, never deleted, and given no sandbox files (resolv.conf
   * and friends are its runtime's). Its interfaces are deleted on leave.
   */
  netnsPath?: string;
  /**
   * With netnsPath: its runtime moves each interface into that namespace
   * itself, which need not exist yet (Docker does so for libnetwork's
   * remote drivers). nsnet makes each interface in the host namespace
   * under the endpoint's ifname, with its MAC and MTU but no address or
   * route: the runtime moves it, renames it and gives it those (from the
   * endpoint's info). nsnet still tags, verifies and removes what it made.
   */
  handoff?: boolean;
  /** Share this sandbox's namespace, hostname, resolv.conf and hosts (Docker's container:<name>). */
  container?: string;
  hostname?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** `name:ip` lines for /etc/hosts. */
  extraHosts?: string[];
  labels?: Record<string, string>;
  /** Networks to join at creation: the endpoints are made and joined in the same transaction and kernel trip. */
  networks?: (string | SandboxAttachment)[];
  /** net.* sysctls set in its namespace once its interfaces exist (Docker's --sysctl): an own namespace only. */
  sysctls?: Record<string, string | number>;
  /**
   * Removed by the next reconcile once the process that created it has
   * exited and no process runs in it any more (what `nsnet run` makes
   * without --keep: if it is killed, nothing else would remove it). Not
   * with netnsPath: that namespace's runtime decides when it goes.
   */
  transient?: boolean;
}

/** The settings with the records of existing, unjoined endpoints to join at creation. */
export interface SandboxPlanOptions extends SandboxSettings {
  join?: EndpointRecord[];
}

/**
 * Checks a sandbox's options without changing anything (createSandbox runs
 * it first; the mode layer runs it before making the default network).
 */
export function checkSandbox(ctx: CnmContext, name: string, o: SandboxPlanOptions = {}) {
  const n = names.objectName(name, 'sandbox name');
  const kind = o.netnsPath !== undefined ? 'external' : o.container !== undefined ? 'container' : (o.namespace ?? 'own');
  if (kind !== 'own' && kind !== 'host' && kind !== 'container' && kind !== 'external') throw new ValidationError('namespace', o.namespace, "must be 'own' or 'host'");
  if (o.container !== undefined && o.namespace !== undefined) throw new ValidationError('namespace', o.namespace, 'cannot be given with container');
  if (kind === 'external' && (o.container !== undefined || o.namespace !== undefined))
    throw new ValidationError('netnsPath', o.netnsPath, 'cannot be given with namespace or container');
  if (kind === 'external' && (typeof o.netnsPath !== 'string' || !o.netnsPath.startsWith('/') || o.netnsPath.includes('\0')))
    throw new ValidationError('netnsPath', o.netnsPath, 'must be an absolute path');
  // An external namespace lives as long as its runtime keeps it (CNI DEL or
  // GC, or reconcile once its path is gone), not as long as a process of nsnet's.
  if (kind === 'external' && o.transient) throw new ValidationError('transient', o.transient, 'cannot be given with netnsPath: the namespace is its runtime\'s');
  if (o.handoff !== undefined && typeof o.handoff !== 'boolean') throw new ValidationError('handoff', o.handoff, 'must be true or false');
  if (o.handoff && kind !== 'external') throw new ValidationError('handoff', o.handoff, 'needs netnsPath: the namespace its runtime moves the interfaces into');
  const sb: SandboxRecord = {
    id: names.newId(), name: n, netnsKind: kind,
    netnsPath: kind === 'own' ? join(ctx.runDir, n) : kind === 'external' ? o.netnsPath! : ctx.host.path ?? '/proc/self/ns/net',
    ownerId: null,
    hostname: o.hostname !== undefined ? names.hostname(o.hostname) : kind === 'host' ? hostHostname() : n.length <= 64 ? n : n.slice(0, 12),
    dns: names.ipList(o.dns, 'dns'),
    dnsSearch: names.stringList(o.dnsSearch, 'dnsSearch', (s) => !/\s/.test(s), 'must be a domain without spaces'),
    dnsOptions: names.stringList(o.dnsOptions, 'dnsOptions', (s) => !/\s/.test(s), 'must be an option without spaces'),
    extraHosts: names.stringList(o.extraHosts, 'extraHosts', validExtraHost, 'must be name:ip'),
    filesDir: '', labels: names.stringMap(o.labels, 'labels'), created: now(), pid: process.pid,
    ...(o.transient ? { transient: true } : {}),
    ...(o.handoff ? { handoff: true } : {}),
  };
  const sysctls = checkSysctls(o.sysctls, kind);
  if (Object.keys(sysctls).length) sb.sysctls = sysctls;
  if (ownsFiles(sb)) sb.filesDir = join(ctx.files.filesRoot, sb.id);
  const attach = names.list(o.networks, 'networks').map((a, i) => {
    const x = typeof a === 'string' ? { network: a } : (a as SandboxAttachment);
    if (!x || typeof x.network !== 'string') throw new ValidationError(`networks[${i}]`, a, 'must be a network name or { network, ip?, ip6?, ifname? }');
    if (x.ip !== undefined && names.ipList(x.ip, 'ip')[0]!.includes(':')) throw new ValidationError('ip', x.ip, 'must be an IPv4 address (use ip6)');
    if (x.ip6 !== undefined && !names.ipList(x.ip6, 'ip6')[0]!.includes(':')) throw new ValidationError('ip6', x.ip6, 'must be an IPv6 address');
    checkEndpoint(x);
    return { ...x, portReqs: parsePorts(x.ports, `networks[${i}].ports`) };
  });
  const joinEps = o.join ?? [];
  if (kind === 'container' && (attach.length || joinEps.length))
    throw new ValidationError('networks', o.networks ?? o.join, "a sandbox in another sandbox's namespace cannot join networks");
  return { n, kind, sb, attach, joinEps };
}

const NO_SYSCTLS: Record<Exclude<SandboxRecord['netnsKind'], 'own'>, string> = {
  host: "net.* sysctls are not allowed in the host's network namespace",
  container: "net.* sysctls are not allowed in another sandbox's network namespace",
  // nsnet would change a namespace it never deletes, so nothing would undo
  // them; the runtime sets its own (CNI's tuning plugin, podman --sysctl).
  external: 'net.* sysctls of a namespace nsnet did not make are its runtime\'s to set (the CNI tuning plugin, podman --sysctl)',
};

/** net.* sysctls, checked: the keys the kernel keeps per namespace, for a sandbox with a namespace of its own. */
function checkSysctls(value: unknown, kind: SandboxRecord['netnsKind']): Record<string, string> {
  const m = names.stringMap(value, 'sysctls');
  const keys = Object.keys(m);
  if (keys.length && kind !== 'own') throw new ValidationError('sysctls', value, NO_SYSCTLS[kind]);
  for (const k of keys) {
    v.sysctlKey(k, 'sysctls');
    v.sysctlValue(m[k], `sysctls.${k}`);
  }
  return m;
}

/** Creates a sandbox: all or nothing. */
export async function createSandbox(ctx: CnmContext, name: string, o: SandboxPlanOptions = {}): Promise<SandboxRecord> {
  ctx.live();
  const { n, kind, sb, attach, joinEps } = checkSandbox(ctx, name, o);
  const reqs = attach.flatMap((a) => a.portReqs);
  const check = await checkPorts(ctx, reqs);
  // An external namespace is opened first: a path that names none is bad
  // input, found before anything changes, and its identity is recorded.
  // A handoff one need not exist yet: its interfaces are made in the host's.
  const ext = kind === 'external' && !sb.handoff ? await openExternal(sb.netnsPath) : null;
  if (ext) sb.netnsId = ext.handle.id ?? undefined;
  await ctx.lifecycle?.prepare();
  const tx = new Transaction(`sandbox ${n}`, ctx.faults);
  const busy = new Busy(ctx);
  // One network of a pool: a namespace made ahead, if one is ready.
  const pooled = kind === 'own' && attach.length === 1 && !joinEps.length ? (ctx.pools?.claim(attach[0]!.network) ?? undefined) : undefined;
  // A new namespace's trip comes after the plan is stored: the namespace thread wakes now.
  if (kind === 'own' && !pooled) expectTrip();
  let used = false;
  const made = tx.run(async () => {
    // 1. Intent: the sandbox, its new endpoints and their addresses, in one store transaction.
    const plan = await tx.step(
      'store.sandbox',
      () =>
        ctx.store.update((t) => {
          if (t.sandbox(n)) throw NsnetError.state('ERR_NSNET_EXISTS', 'sandbox.create', n, `sandbox ${n} already exists`);
          if (kind === 'container') {
            let owner = findByKey('sandbox', t.sandbox(o.container!), () => t.sandboxes(), o.container!);
            if (!owner) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox.create', o.container!, `no sandbox ${o.container} to share a namespace with`);
            if (owner.ownerId) owner = t.sandbox(owner.ownerId)!;
            sb.ownerId = owner.id;
            sb.netnsPath = owner.netnsPath;
            sb.hostname = owner.hostname;
            sb.filesDir = owner.filesDir;
          }
          const nets = new Map<string, NetworkRecord>();
          const created: EndpointRecord[] = [];
          const cursors = new Map<string, string | null>();
          for (const a of attach) {
            const net = findByKey('network', t.network(a.network), () => t.networks(), a.network);
            if (!net) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox.create', a.network, `no network ${a.network}`);
            nets.set(net.id, net);
            // Kept so an undo leaves the pool's search position as it found it.
            for (const s of net.subnets) cursors.set(poolKey(net.id, s.subnet), t.cursor(poolKey(net.id, s.subnet)));
            created.push(planEndpoint(ctx, t, net, n, a, a.portReqs, check.inUse)); // stored by planJoins below
          }
          // The pooled namespace's interface is the endpoint's.
          if (pooled && created[0]!.networkId === pooled.net.id) created[0]!.hostIfname = pooled.claim.data.hostIfname;
          for (const e of joinEps) if (!nets.has(e.networkId)) nets.set(e.networkId, t.network(e.networkId)!);
          const resolver = ctx.lifecycle?.resolver(sb, nets.values());
          if (resolver) sb.resolver = resolver;
          busy.claim(t, sb, 'create');
          const eps = [...created, ...joinEps];
          const before = planJoins(ctx, t, sb, eps, { newSandbox: true, created: new Set(created.map((e) => e.id)), nets });
          return { nets, created, eps, before: before.slice(created.length), cursors };
        }),
      (p) =>
        ctx.store.update((t) => {
          for (const ep of p.created) dropEndpoint(t, ep);
          for (const ep of p.before) t.putEndpoint(ep);
          for (const [pool, c] of p.cursors) t.setCursor(pool, c);
          t.deleteSandbox(sb.id);
        }),
    );
    await tx.step('store.sandbox', () => check.verify());

    // 2. The kernel: namespace, interfaces, addresses, routes (and the
    //    published ports, once they can ride along) in one trip, while the
    //    files are written. An external namespace exists already: its
    //    interfaces go in as a join's do (a handoff one's are made in the
    //    host's namespace). Either waits for any deletion still under way
    //    whose names they may take again (in that namespace, or of an
    //    endpoint joined here that left another one).
    await ctx.pending(deferKeys(sb.netnsPath, plan.eps));
    if (kind === 'external') {
      await joinTrip(ctx, tx, ext ?? ctx.host, sb, plan.eps, plan.nets);
    } else {
      const adopt = pooled && plan.eps[0]?.networkId === pooled.net.id ? pooled : undefined;
      const trip = sandboxTrip(ctx, tx, sb, plan.eps, plan.nets, adopt);
      used = !!adopt;
      try {
        if (ownsFiles(sb)) await tx.step('files', () => writeSandboxFiles(ctx.files, sb, plan.eps), () => removeSandboxFiles(ctx.files, sb));
      } catch (e) {
        await trip.kernel.catch(() => {});
        throw e;
      }
      const ns = await tx.step('kernel.sandbox', () => trip.kernel);
      await tx.step('firewall', () => trip.published);
      // After the trip, so keys of its interfaces (net.ipv4.conf.eth0.*) exist; undone with the namespace.
      if (ns && sb.sysctls) {
        const sysctls = sb.sysctls;
        await tx.step('kernel.sysctl', async () => {
          for (const [k, val] of Object.entries(sysctls)) await ns.setSysctl(k, val);
        });
      }
      if (ns) ctx.keepNetns(sb.id, ns);
    }
    const lifecycle = ctx.lifecycle;
    if (lifecycle && kind !== 'container') {
      const ns = kind === 'external' ? null : await ctx.netnsOf(sb);
      // Taken inside the step: a failure before it leaves them to the namespace's undo, which closes them.
      const opened = () => (lifecycle.listenFds ? ns?.takeListeningFds() : ns?.takeListening());
      await tx.step('names', () => lifecycle.live({ sandbox: sb, endpoints: plan.eps, networks: plan.nets }, opened()), () => lifecycle.gone(sb));
    }
    await busy.end();
    ctx.emit({ kind: 'sandbox', action: 'create', id: sb.id, name: sb.name });
    for (const ep of plan.eps) ctx.emit({ kind: 'endpoint', action: 'join', id: ep.id, name: ep.name });
    return sb;
  }).finally(() => {
    // Not taken into use (the create failed first): back to the pool as it was.
    if (pooled && !used) pooled.claim.putBack();
    return busy.end();
  });
  // The external namespace's handle is not kept: it would keep the namespace alive after its runtime deleted it.
  return ext ? made.finally(() => ext.close()) : made;
}

/** Tears a sandbox down; refused while others share its namespace unless forced. */
export async function deleteSandbox(ctx: CnmContext, sbRec: SandboxRecord, o: DeleteOptions = {}): Promise<DeleteReport> {
  ctx.live();
  return whileBusy(ctx, (busy) => teardown(ctx, sbRec, o, busy));
}

async function teardown(ctx: CnmContext, sbRec: SandboxRecord, o: DeleteOptions, busy: Busy): Promise<DeleteReport> {
  const cur = await ctx.store.update((t) => {
    const sb = t.sandbox(sbRec.id);
    if (!sb) return null;
    const joiners = t.sandboxes({ ownerId: sb.id });
    if (joiners.length && !o.force)
      throw NsnetError.state('ERR_NSNET_IN_USE', 'sandbox.delete', sbRec.name,
        `sandbox ${sbRec.name} is shared by ${joiners.map((j) => j.name).join(', ')}; delete those first or force`);
    const eps = t.endpoints({ sandboxId: sb.id });
    return { sb: busy.claim(t, sb, 'delete'), eps, nets: new Map(eps.map((e) => [e.networkId, t.network(e.networkId)!])), joiners };
  });
  if (!cur) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'sandbox.delete', sbRec.name, `no sandbox ${sbRec.name}`);
  const td = new Teardown(`sandbox ${sbRec.name}`, ctx.faults);
  for (const j of cur.joiners) await td.step(`joiner ${j.name}`, () => deleteSandbox(ctx, j, o));
  const { sb } = cur;
  // Its names go first, and its resolver's sockets before its namespace is released.
  const lifecycle = ctx.lifecycle;
  if (lifecycle) await td.step('names', () => lifecycle.gone(sb));
  const netnsGone = sb.netnsKind === 'own' && !isMounted(sb.netnsPath);
  for (const h of ctx.hooks) await td.step(`hook ${h.name}`, () => h.beforeDelete(sb, ctx.host, { netnsGone }));
  // The ports go first, whatever became of the namespace.
  const unpublish = portSpecs(cur.eps);
  if (unpublish.length) await td.step('firewall', () => ctx.firewall.unpublish(unpublish));
  const leaveAll = async () => {
    for (const ep of cur.eps) {
      const net = cur.nets.get(ep.networkId)!;
      await td.step(`leave ${ep.name}`, () => leaveKernel(ctx, net, ep, sb, o));
    }
  };
  // Back to the pool, if a reset proves it clean; else released as any other.
  let reason = o.recycle ? recycleRefusal(ctx.pools, sb.netnsKind === 'own', cur.eps, cur.joiners.length) : null;
  let recycled = false;
  if (o.recycle && reason === null) {
    reason = await ctx.netnsOf(sb).then((ns) => ctx.pools!.recycle(ns, cur.eps[0]!), (e: Error) => `its namespace cannot be opened: ${e.message}`);
    recycled = reason === null;
    if (recycled) ctx.handOver(sb.id);
  }
  if (recycled) {
    // The pool has it now.
  } else if (sb.netnsKind === 'own') {
    // Unmounted behind our back, the namespace may live on (a process in
    // it holds it), and releasing it would not take its veths: they go now.
    if (o.wait || !isMounted(sb.netnsPath)) await leaveAll();
    else {
      // What would outlive the release, or linger too long (see Driver.release).
      for (const ep of cur.eps) {
        const net = cur.nets.get(ep.networkId)!;
        const d = ctx.knownDriver(net.driver);
        if (d?.release) await td.step(`release ${ep.name}`, () => d.release!(ctx, net, ep, sb));
      }
    }
    // Releasing the namespace destroys everything in it, veths included,
    // in the kernel's own time (see DeleteOptions.wait).
    ctx.dropNetns(sb.id);
    const released = await td.step('kernel.netns', () =>
      Netns.delete(sb.name, { runDir: ctx.runDir }).catch((e: NsnetError) => {
        if (e.code !== 'ENOENT' && e.code !== 'EINVAL') throw e;
      }),
    );
    // The namespace (and so its interfaces) still exists: keep the record
    // and its addresses, so a second delete can finish the job.
    if (!released) td.finish();
  } else if (sb.netnsKind === 'host' || sb.netnsKind === 'external') {
    await leaveAll();
  }
  if (ownsFiles(sb)) await td.step('files', () => removeSandboxFiles(ctx.files, sb));
  const forgotten = await td.step('store.sandbox', () =>
    ctx.store.update((t) => {
      for (const ep of t.endpoints({ sandboxId: sb.id })) dropEndpoint(t, ep);
      t.deleteSandbox(sb.id);
    }),
  );
  // Its mark went with its record.
  if (forgotten) busy.gone();
  await td.step('kernel.vacate', () => vacate(ctx, cur.nets.values(), cur.eps));
  ctx.emit({ kind: 'sandbox', action: 'delete', id: sb.id, name: sb.name });
  td.finish();
  return { recycled, reason };
}
