// The kernel trips of a create or a join, and their undo. A new sandbox's
// namespace, its interfaces, addresses and routes go to the kernel in one
// batch (Netns.create runs it), and so does a join into an existing
// sandbox or into an external namespace. Once the firewall backend can take them, the published ports
// ride in the same batch as its last part; if that part fails because the
// backend's state went behind our back, they are published on their own
// (which rebuilds it) and the trip is made again without them.
import { Batch } from '../netlink/batch.js';
import { Netns } from '../netlink/netns.js';
import type { PortSpec } from '../firewall/backend.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../store/store.js';
import { ownerTag } from '../owner.js';
import type { CnmContext, PoolClaim } from './context.js';
import { firewallDo, foldPorts, portSpecs, publish, stagePorts } from './publish.js';
import type { Transaction } from './tx.js';

/** The kernel requests that join eps to sb (whose namespace is sbNs, or the host's for a handoff sandbox), added to b. */
function buildJoins(ctx: CnmContext, b: Batch, sbNs: Netns, sb: SandboxRecord, eps: EndpointRecord[], nets: Map<string, NetworkRecord>): void {
  for (const ep of eps) {
    const net = nets.get(ep.networkId)!;
    ctx.driver(net.driver).join(ctx, net, ep, sbNs, b, {
      gatewayEndpoint: ep.gatewayEndpoint,
      ...(sb.handoff ? { handoff: true } : {}),
      ...(sb.netnsKind === 'own' ? { ownNetns: true } : {}),
    });
    ctx.faults?.(`kernel.join:${net.name}`, b);
  }
}

/**
 * What the drivers of eps need on the host before their joins (a global
 * network's devices), once per network; undone by their leave, which takes
 * such devices away again when no sandbox here uses them. Resolves with
 * what the caller calls once the joins' trip is done, succeeded or not
 * (the drivers' releases: till then these joins count as using what was
 * made). null when no driver needs anything: the caller then goes on
 * without yielding, so a new sandbox's trip is under way before its files
 * are written (see sandboxTrip).
 */
function prepareJoins(ctx: CnmContext, tx: Transaction, eps: EndpointRecord[], nets: Map<string, NetworkRecord>): Promise<() => void> | null {
  const todo = new Map<string, () => Promise<void | (() => void)>>();
  for (const ep of eps) {
    const net = nets.get(ep.networkId)!;
    const d = ctx.driver(net.driver);
    if (!d.prepareJoin || todo.has(net.id)) continue;
    todo.set(net.id, () => {
      tx.onUndo('kernel.prepare', () => d.leave(ctx, net, ep, null));
      return d.prepareJoin!(ctx, net);
    });
  }
  if (!todo.size) return null;
  return (async () => {
    const releases: (() => void)[] = [];
    const done = () => releases.splice(0).forEach((r) => r());
    try {
      for (const prepare of todo.values()) {
        const r = await prepare();
        if (r) releases.push(r);
      }
    } catch (e) {
      done();
      throw e;
    }
    return done;
  })();
}

/** A kernel error from a join, as clear as the drivers of eps can make it. */
function explain(ctx: CnmContext, e: unknown, eps: EndpointRecord[], nets: Map<string, NetworkRecord>): unknown {
  for (const ep of eps) {
    const net = nets.get(ep.networkId)!;
    const d = ctx.driver(net.driver);
    if (d.explain) e = d.explain(e, net);
  }
  return e;
}

/** What a new sandbox's trip is under way with: the kernel part (the namespace, for an own one) and the ports published beside it. */
export interface SandboxTrip {
  kernel: Promise<Netns | null>;
  published: Promise<void>;
}

/**
 * Starts the kernel side of a new sandbox with eps joined: its own
 * namespace in one trip (ports folded in when they can be), or the host's
 * namespace's batch. The caller awaits both parts as its steps; the
 * caller's files are written while the addon's threads do this work.
 */
export function sandboxTrip(ctx: CnmContext, tx: Transaction, sb: SandboxRecord, eps: EndpointRecord[], nets: Map<string, NetworkRecord>, pooled?: PoolClaim): SandboxTrip {
  const own = sb.netnsKind === 'own';
  const ports = portSpecs(eps);
  if (own) tx.enter('kernel.sandbox');
  const fold = own && foldPorts(ctx, tx, ports);
  const published = fold ? Promise.resolve() : publish(ctx, tx, ports);
  let kernel: Promise<Netns | null>;
  if (own) {
    kernel = newNetns(ctx, tx, sb, eps, nets, fold ? ports : [], pooled);
  } else if (eps.length) {
    const b = new Batch(ctx.host);
    buildJoins(ctx, b, ctx.host, sb, eps, nets);
    kernel = b.commit().then(() => null);
  } else {
    kernel = Promise.resolve(null);
  }
  kernel.catch(() => {}); // awaited by the caller's step; a failure before it must not be left unhandled
  return { kernel, published };
}

/**
 * Makes the namespace with eps joined (and staged ports last), or with a
 * pooled one takes that and has the driver adopt its interface for the
 * (single) endpoint; registers its deletion as the undo. What the drivers
 * prepared for the joins is released once the trip is done.
 */
async function newNetns(ctx: CnmContext, tx: Transaction, sb: SandboxRecord, eps: EndpointRecord[], nets: Map<string, NetworkRecord>, staged: PortSpec[], pooled?: PoolClaim): Promise<Netns> {
  const preparing = prepareJoins(ctx, tx, eps, nets);
  const prepared = preparing ? await preparing : null;
  try {
    return await makeNetns(ctx, tx, sb, eps, nets, staged, pooled);
  } finally {
    prepared?.();
  }
}

/** newNetns once the drivers have prepared the joins. */
async function makeNetns(ctx: CnmContext, tx: Transaction, sb: SandboxRecord, eps: EndpointRecord[], nets: Map<string, NetworkRecord>, staged: PortSpec[], pooled?: PoolClaim): Promise<Netns> {
  // Its resolver's sockets ride in the same trip (see lifecycle.ts); a
  // pooled namespace's are opened by lifecycle.live after it, as after a join.
  const listen = sb.resolver && ctx.lifecycle && !pooled ? ctx.lifecycle.listen(sb) : [];
  const finish = (b: Batch, ns: Netns, ports: PortSpec[]) => {
    // Whose namespace it is, on its lo (the joins end inside it, so this rides in their last group there).
    b.in(ns).setLink('lo', { alias: ownerTag(ctx.owner, sb.id) });
    if (ports.length) stagePorts(ctx, b, ports);
    return b;
  };
  const trip = (ports: PortSpec[]) =>
    Netns.create(sb.name, {
      runDir: ctx.runDir,
      listen,
      listenFds: ctx.lifecycle?.listenFds,
      then: (ns) => {
        const b = new Batch(ns);
        buildJoins(ctx, b, ns, sb, eps, nets);
        return finish(b, ns, ports);
      },
    });
  const adopt = (p: PoolClaim, ports: PortSpec[]) =>
    p.claim.use(sb.name, (ns, iface) => {
      const b = new Batch(ns);
      p.driver.adopt!(ctx, p.net, eps[0]!, ns, b, { gatewayEndpoint: eps[0]!.gatewayEndpoint }, iface);
      return finish(b, ns, ports);
    });
  // What the trip puts outside the namespace goes on any rollback, the
  // trip's own failure included (the namespace takes the rest with it).
  tx.onUndo('kernel.sandbox', async () => {
    for (const ep of eps) {
      const net = nets.get(ep.networkId)!;
      await ctx.driver(net.driver).release?.(ctx, net, ep, null);
    }
  });
  try {
    let ns: Netns;
    try {
      ns = await (pooled ? adopt(pooled, staged) : trip(staged));
    } catch (e) {
      if (!staged.length || !ctx.firewall.lost(e)) throw e;
      // The firewall's state went behind our back, and the addon released
      // the namespace with the failed trip: publish on their own (which
      // rebuilds it from the store), then make the namespace again. The
      // failed trip's veths die with that namespace in the kernel's own
      // time; their host ends go now, to free the names.
      for (const ep of eps) {
        const net = nets.get(ep.networkId)!;
        await ctx.driver(net.driver).leave(ctx, net, ep, null);
      }
      await publish(ctx, tx, staged);
      ns = await trip([]);
    }
    tx.onUndo('kernel.sandbox', () => ns.delete());
    return ns;
  } catch (e) {
    throw explain(ctx, e, eps, nets);
  }
}

/**
 * Joins eps to an existing namespace ns (a sandbox that exists, an
 * external one, or the host's for a handoff sandbox), in one batch that carries their ports last when it can;
 * runs the kernel.join and firewall steps. A batch that fails part-way has
 * made veths: the undo (the drivers' leave) takes them away.
 */
export async function joinTrip(ctx: CnmContext, tx: Transaction, ns: Netns, sb: SandboxRecord, eps: EndpointRecord[], nets: Map<string, NetworkRecord>): Promise<void> {
  const prepared = await tx.step('kernel.prepare', () => prepareJoins(ctx, tx, eps, nets));
  try {
    const b = new Batch(ns);
    buildJoins(ctx, b, ns, sb, eps, nets);
    tx.onUndo('kernel.join', async () => {
      for (const ep of eps) {
        const net = nets.get(ep.networkId)!;
        await ctx.driver(net.driver).leave(ctx, net, ep, sb);
      }
    });
    await commitWithPorts(ctx, tx, b, portSpecs(eps), 'kernel.join', (e) => explain(ctx, e, eps, nets));
  } finally {
    prepared?.();
  }
}

/**
 * Sends b with ports' elements as its last part when the backend can take
 * them there, else publishes them beside it; runs the `step` and firewall
 * steps, and registers the ports' undo. Ports that go (gone) are taken
 * away in that same part, before the new ones, or else on their own before
 * b. If the folded part fails because the backend's state went behind our
 * back, they are unpublished and published on their own (which rebuilds
 * it) instead.
 */
export async function commitWithPorts(ctx: CnmContext, tx: Transaction, b: Batch, ports: PortSpec[], step: string, explain: (e: unknown) => unknown, gone: PortSpec[] = []): Promise<void> {
  const fold = foldPorts(ctx, tx, ports, gone);
  if (fold) stagePorts(ctx, b, ports, gone);
  else if (gone.length) {
    tx.onUndo('firewall.unpublish', () => firewallDo(ctx, () => ctx.firewall.publish(gone)));
    await tx.step('firewall.unpublish', () => ctx.firewall.unpublish(gone));
  }
  const published = fold ? Promise.resolve() : publish(ctx, tx, ports);
  await tx.step(step, async () => {
    try {
      await b.commit();
    } catch (e) {
      await published.catch(() => {});
      // The ports' transaction is sent only after every other request succeeded.
      if (fold && ctx.firewall.lost(e)) {
        if (gone.length) await ctx.firewall.unpublish(gone);
        return void (await publish(ctx, tx, ports));
      }
      throw explain(e);
    }
  });
  await tx.step('firewall', () => published);
}
