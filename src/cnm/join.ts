// An endpoint in and out of a sandbox: join (all or nothing: the store
// marks it joined, then one kernel trip plugs it in), leave (best effort,
// handing the default route on), and delete (leave, then release).
import { existsSync } from 'node:fs';

import { defaultRoutes } from '../drivers/inside.js';
import { handoffIfname } from '../drivers/handoff.js';
import { NsnetError } from '../errors.js';
import type { Netns } from '../netlink/netns.js';
import { handOverPorts, promoteStandby, takers } from '../store/ports.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../store/store.js';
import { deferKeys, type CnmContext, type DeleteOptions } from './context.js';
import { dropEndpoint, planJoins } from './endpoints.js';
import { ownsFiles, rewriteHosts, rewriteResolvConf } from './files.js';
import { sandboxState, type SandboxLifecycle } from './lifecycle.js';
import { firewallDo, portSpecs } from './publish.js';
import { whileBusy, workerAlive, type Busy } from './busy.js';
import { joinTrip } from './trip.js';
import { Teardown, Transaction } from './tx.js';

/** Joins an existing sandbox (by name or id). */
export async function join(ctx: CnmContext, epRec: EndpointRecord, sbKey: string): Promise<void> {
  ctx.live();
  await ctx.lifecycle?.prepare();
  const tx = new Transaction(`endpoint ${epRec.name}`, ctx.faults);
  await whileBusy(ctx, (busy) => tx.run(async () => {
    const plan = await tx.stored('store.join', ctx.store, (t) => {
      const found = t.sandbox(sbKey);
      if (!found) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.join', sbKey, `no sandbox ${sbKey}`);
      const sb = busy.claim(t, found, 'join', epRec.id);
      const before = planJoins(ctx, t, sb, [epRec]);
      const nets = new Map([[epRec.networkId, t.network(epRec.networkId)!]]);
      return { sb, before, nets, eps: t.endpoints({ sandboxId: sb.id }) };
    }, (t, p) => t.putEndpoint(p.before[0]!));
    // An interface still being deleted (in that namespace, or this endpoint's own from where it was) may hold a name this one takes.
    await ctx.pending(deferKeys(plan.sb.netnsPath, [epRec]));
    tx.enter('kernel.open');
    const trip = (ns: Netns) => joinTrip(ctx, tx, ns, plan.sb, [epRec], plan.nets);
    // A handoff sandbox's interfaces are made in the host's namespace, for its runtime to move.
    await (plan.sb.handoff ? trip(ctx.host) : ctx.inNetns(plan.sb, trip));
    if (ownsFiles(plan.sb)) await tx.step('files', () => rewriteHosts(plan.sb, plan.eps));
    const lifecycle = ctx.lifecycle;
    if (lifecycle && plan.sb.netnsKind !== 'container') {
      // Undone before the store is: the endpoint is still joined there, so it is left out.
      await tx.step('names', () => liveAgain(ctx, lifecycle, plan.sb.id), () => liveAgain(ctx, lifecycle, plan.sb.id, epRec.id));
    }
    ctx.emit({ kind: 'endpoint', action: 'join', id: epRec.id, name: epRec.name });
  }));
}

/**
 * Tells the lifecycle service what a sandbox is now, after a join or a leave. One that
 * joined its first network with names while they are served gets its
 * resolver: recorded, and named in its resolv.conf. `except`: an endpoint
 * the store still lists that is to be left out (a join being undone).
 */
async function liveAgain(ctx: CnmContext, lifecycle: SandboxLifecycle, sandboxId: string, except?: string): Promise<void> {
  let flipped = false;
  const s = await ctx.store.update((t) => {
    const st = sandboxState(t, sandboxId);
    if (st && except) st.endpoints = st.endpoints.filter((e) => e.id !== except);
    const resolver = st && !st.sandbox.resolver && lifecycle.resolver(st.sandbox, st.networks.values());
    if (resolver) {
      st.sandbox.resolver = resolver;
      t.putSandbox(st.sandbox);
      flipped = true;
    }
    return st;
  });
  if (!s) return;
  if (flipped && ownsFiles(s.sandbox)) rewriteResolvConf(s.sandbox);
  await lifecycle.live(s);
}

/**
 * Removes ep's kernel side from sb. Its interface is deleted (the sandbox
 * lives on, so the kernel must be waited for), except in an external
 * namespace without o.wait: there the driver stops its traffic at once and
 * the deletion is deferred (ctx.later). A runtime deletes its namespace
 * right after its DEL, and the kernel's namespace teardown then destroys the
 * interface in its own batches, as releasing an own namespace does; if the
 * namespace lives on, nsnet deletes it. A join into that namespace, or of
 * this endpoint anywhere, runs the deferred deletion first.
 */
export async function leaveKernel(ctx: CnmContext, net: NetworkRecord, ep: EndpointRecord, sb: SandboxRecord | null, o: DeleteOptions = {}): Promise<void> {
  const d = ctx.driver(net.driver);
  if (!o.wait && sb?.netnsKind === 'external' && d.detach) {
    await d.detach(ctx, net, ep);
    ctx.later(deferKeys(sb.netnsPath, [ep]), () => d.leave(ctx, net, ep, sb));
    return;
  }
  await d.leave(ctx, net, ep, sb);
}

/**
 * Leaves the sandbox: its interface is deleted (see leaveKernel for when
 * that finishes). Hands the default route to another endpoint if this one
 * had it.
 */
export async function leave(ctx: CnmContext, epRec: EndpointRecord, o: DeleteOptions = {}): Promise<void> {
  ctx.live();
  await whileBusy(ctx, (busy) => leaveSandbox(ctx, epRec, busy, o));
}

async function leaveSandbox(ctx: CnmContext, epRec: EndpointRecord, busy: Busy, o: DeleteOptions): Promise<void> {
  const td = new Teardown(`endpoint ${epRec.name}`, ctx.faults);
  const cur = await ctx.store.update((t) => {
    const ep = t.endpoint(epRec.id);
    if (!ep || !ep.sandboxId) return null;
    const sb = t.sandbox(ep.sandboxId);
    return { ep, sb: sb && busy.claim(t, sb, 'leave', ep.id), net: t.network(ep.networkId)! };
  });
  if (!cur) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.leave', epRec.name, `endpoint ${epRec.name} is not joined to a sandbox`);
  const unpublish = portSpecs([cur.ep]);
  if (unpublish.length) await td.step('firewall', () => ctx.firewall.unpublish(unpublish));
  await td.step('kernel.leave', () => leaveKernel(ctx, cur.net, cur.ep, cur.sb, o));
  let handed: EndpointRecord[] = [];
  const next = await ctx.store.update((t) => {
    const ep = t.endpoint(cur.ep.id)!;
    const had = ep.gatewayEndpoint;
    // Host ports the sandbox's other endpoints stand by for go to them, as the default route goes to an heir.
    handed = cur.sb ? takers(handOverPorts(t, ep, cur.sb.id)) : [];
    ep.sandboxId = null;
    ep.gatewayEndpoint = false;
    // A generated name is given again on the next join.
    if (ep.ifname && (/^\D+\d+$/.test(ep.ifname) || ep.ifname === handoffIfname(ep.id))) ep.ifname = null;
    t.putEndpoint(ep);
    Object.assign(epRec, ep);
    if (!ep.ports) delete epRec.ports;
    if (!had || !cur.sb) return null;
    const heir = t.endpoints({ sandboxId: cur.sb.id }).find((e) => {
      const n = t.network(e.networkId);
      return n && !n.internal && n.subnets.some((s) => s.gateway);
    });
    if (!heir) return null;
    heir.gatewayEndpoint = true;
    t.putEndpoint(heir);
    return { heir, net: t.network(heir.networkId)! };
  });
  const takenOver = portSpecs(handed);
  if (takenOver.length) await td.step('firewall', () => firewallDo(ctx, () => ctx.firewall.publish(takenOver)));
  // Its veth went with its leave: nothing of it is on its way out.
  await td.step('kernel.vacate', () => vacate(ctx, [cur.net], []));
  const lifecycle = ctx.lifecycle;
  if (lifecycle && cur.sb && cur.sb.netnsKind !== 'container') await td.step('names', () => liveAgain(ctx, lifecycle, cur.sb!.id));
  if (cur.sb) {
    const sb = cur.sb;
    // An external namespace that is gone needs no route (its runtime deleted
    // it before DEL); a handoff sandbox's routes are its runtime's.
    if (next && !sb.handoff && (sb.netnsKind !== 'external' || existsSync(sb.netnsPath))) {
      await td.step('kernel.route', () =>
        ctx.inNetns(sb, async (ns) => {
          const b = ns.batch();
          for (const r of defaultRoutes(ctx.knownDriver(next.net.driver), next.net, next.heir.ifname!)) b.replaceRoute(r);
          await b.commit();
        }),
      );
    }
    if (ownsFiles(sb)) {
      await td.step('files', async () => rewriteHosts(sb, await ctx.store.view((t) => t.endpoints({ sandboxId: sb.id }))));
    }
  }
  ctx.emit({ kind: 'endpoint', action: 'leave', id: epRec.id, name: epRec.name });
  td.finish();
}

/**
 * For each network in nets that no sandbox of this host is on any more,
 * the driver's vacate (a global network's devices go with the host's last
 * sandbox on it).
 */
export async function vacate(ctx: CnmContext, nets: Iterable<NetworkRecord>, leaving: EndpointRecord[]): Promise<void> {
  const withHook = [...nets].filter((n) => ctx.knownDriver(n.driver)?.vacate);
  if (!withHook.length) return;
  const joined = new Set((await ctx.store.view((t) => t.endpoints())).filter((e) => e.sandboxId).map((e) => e.networkId));
  const going = (n: NetworkRecord) => leaving.filter((e) => e.networkId === n.id && e.hostIfname).map((e) => e.hostIfname!);
  for (const n of withHook) if (!joined.has(n.id)) await ctx.driver(n.driver).vacate!(ctx, n, going(n));
}

/** Leaves if joined, then releases the endpoint's addresses and host ports. */
export async function deleteEndpoint(ctx: CnmContext, epRec: EndpointRecord, o: DeleteOptions = {}): Promise<void> {
  ctx.live();
  const td = new Teardown(`endpoint ${epRec.name}`, ctx.faults);
  const cur = await ctx.store.view((t) => t.endpoint(epRec.id));
  if (!cur) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.delete', epRec.name, `no endpoint ${epRec.name}`);
  const left = cur.sandboxId ? await td.step('leave', () => leave(ctx, cur, o)) : true;
  // Still joined, its leave having failed before its hand-over: its
  // elements go first, while it still holds their keys; then what its
  // sandbox's other endpoints stand by for goes to them, unless another op
  // is at work on the sandbox (reconcile hands it over then).
  const still = left ? null : await ctx.store.view((t) => t.endpoint(cur.id));
  const stale = still?.sandboxId ? portSpecs([still]) : [];
  if (stale.length) await td.step('firewall', () => ctx.firewall.unpublish(stale));
  let heirs: EndpointRecord[] = [];
  const dropped = await td.step('store.endpoint', async () => {
    heirs = await ctx.store.update((t) => {
      const now = t.endpoint(cur.id) ?? cur;
      dropEndpoint(t, now);
      const sb = now.sandboxId ? t.sandbox(now.sandboxId) : null;
      if (!sb || (sb.busy && workerAlive(sb.busy, ctx.inFlight, sb.id))) return [];
      return takers(promoteStandby(t, sb.id, (now.ports ?? []).filter((m) => !m.standby), now.id));
    });
  });
  const takenOver = dropped ? portSpecs(heirs) : [];
  if (takenOver.length) await td.step('firewall', () => firewallDo(ctx, () => ctx.firewall.publish(takenOver)));
  ctx.emit({ kind: 'endpoint', action: 'delete', id: cur.id, name: cur.name });
  td.finish();
}
