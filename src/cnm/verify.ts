// Reconcile's look at each network and sandbox of its store: is it what the
// store says? A network or sandbox another live process is at work on is
// left alone (networks: see checkNetworks), and so is a sandbox on such a
// network. One whose create or delete was cut short (its process died) is
// removed, as that create's rollback or that delete would have. Any other
// sandbox is verified: its namespace is mounted, and each driver checks its
// endpoints' interfaces, addresses and routes, mending what it can (a veth
// re-attached to a bridge made again, a lost address or route added, a
// deleted veth made again). A sandbox that cannot be verified is removed
// and reported; its ports are never published again. An external sandbox
// (a runtime's namespace) is verified as an own one is, by what nsnet made
// for it: its host-side veths and their bridge, its interfaces inside with
// their addresses and routes. It is gone when its path is, or names another
// namespace now; removing it takes only what nsnet made, never the namespace.
// A handoff sandbox (its runtime moves the interfaces in) is verified by its
// veth pairs: each far end waiting in the host's namespace, or in the
// sandbox's; it is gone when its namespace is and nothing waits, and what
// nsnet cannot make again (the runtime moved and addressed it) is reported
// and left to the runtime, which still knows the sandbox.
import type { KernelView } from '../drivers/driver.js';
import type { Link, Neighbour, Route } from '../netlink/types.js';
import { Netns, isMounted, netnsIdAt } from '../netlink/netns.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../store/store.js';
import { Busy, sameMark, workerAlive } from './busy.js';
import type { CnmContext } from './context.js';
import { leave } from './join.js';
import { deleteNetwork } from './networks.js';
import { deleteSandbox } from './sandboxes.js';

export interface SandboxCheck {
  /** Verified (and mended if need be): their ports are wanted. */
  verified: Set<string>;
  /** Another live process is at work on them: their ports are left as they are. */
  busy: Set<string>;
  removed: string[];
  addressesReleased: number;
  /** What was wrong with a sandbox, and what was done about it. */
  found: string[];
  errors: string[];
}

/** At most this many namespaces are looked into at once. */
const PARALLEL = 8;

/**
 * Why a sandbox's namespace is no longer there, or null while it is (or
 * the sandbox has none of its own). A handoff sandbox's namespace may not
 * be there yet while an interface of its endpoints (eps) waits in the
 * host's (hostLinks) for its runtime to move it, or is back there on leave.
 */
function netnsGone(sb: SandboxRecord, eps: EndpointRecord[], hostLinks: Map<string, Link>): string | null {
  if (sb.netnsKind === 'own') return isMounted(sb.netnsPath) ? null : `its namespace ${sb.netnsPath} is gone`;
  if (sb.netnsKind !== 'external') return null;
  if (sb.handoff) {
    if (eps.some((e) => e.sandboxId === sb.id && e.ifname && hostLinks.has(e.ifname))) return null;
    return isMounted(sb.netnsPath) ? null : `its namespace ${sb.netnsPath} is gone and none of its interfaces waits in the host's`;
  }
  const id = netnsIdAt(sb.netnsPath);
  if (id === null) return `its namespace ${sb.netnsPath} is gone`;
  return sb.netnsId && id !== sb.netnsId ? `${sb.netnsPath} names another namespace now` : null;
}

/** Whether reconcile looks into the sandbox's namespace: one it made, or a runtime's it joined. */
const looksInside = (sb: SandboxRecord) => sb.netnsKind === 'own' || sb.netnsKind === 'external';

export interface NetworkCheck {
  /** Bridges of networks that were missing and were made again. */
  restored: string[];
  found: string[];
  errors: string[];
}

/**
 * Each network of the store: one another live process is creating or
 * deleting is left alone (its bridge is not made yet, or is going); one
 * whose create or delete was cut short (its process died) is removed, as
 * that create's rollback or that delete would have; a bridge that vanished
 * (a reboot, an `ip link del`) is made again, the network held meanwhile so
 * that no delete runs under it. Links are listed after the store is read:
 * a network not busy then has its bridge by now, unless it vanished (one
 * whose create ended in between would otherwise look as if it had).
 */
export async function checkNetworks(c: CnmContext): Promise<NetworkCheck> {
  const out: NetworkCheck = { restored: [], found: [], errors: [] };
  const networks = await c.store.view((t) => t.networks());
  const links = new Map((await c.host.links.list()).map((l) => [l.name, l] as const));
  for (const seen of networks) {
    if (seen.busy && workerAlive(seen.busy, c.inFlight, seen.id)) continue;
    const why = seen.busy && `its ${seen.busy.op} was cut short (process ${seen.busy.pid} is gone)`;
    if (seen.busy && seen.busy.op !== 'mend') {
      // Only while it still carries that mark: the process may have ended
      // its work (and cleared it) since the store was read, or another
      // reconcile taken it over.
      try {
        if (await deleteNetwork(c, seen, { force: true }, seen.busy)) out.found.push(`network ${seen.name}: ${why}: removed`);
      } catch (e) {
        out.errors.push(`network ${seen.name}: ${why}: ${(e as Error).message}`);
      }
      continue;
    }
    // Bridges, macvlan shims: what the driver makes per network.
    // A global network's devices are made on a host's first join, not with the network.
    const driver = c.knownDriver(seen.driver);
    const own = (driver?.scope ?? 'local') === 'local' ? (driver?.networkLinks?.(seen) ?? []) : [];
    const missing = own.filter((l) => !links.has(l));
    const gone = missing.length > 0;
    // A reconcile that died while it made a bridge again leaves its mark: looked at again, and cleared.
    if (!gone && !seen.busy) continue;
    const hold = new Busy(c);
    try {
      const net = await c.store.update((t) => {
        const cur = t.network(seen.id);
        return cur && sameMark(cur.busy, seen.busy) ? hold.claimNetwork(t, cur, 'mend') : null;
      });
      if (!net || !gone) continue;
      await c.driver(net.driver).createNetwork(c, net);
      await c.store.update((t) => t.putNetwork(net));
      out.restored.push(...missing);
      out.found.push(`network ${net.name}: ${missing.join(', ')} ${missing.length > 1 ? 'were' : 'was'} gone: made again`);
    } catch (e) {
      out.errors.push(`network ${seen.name}: ${(e as Error).message}`);
    } finally {
      await hold.end();
    }
  }
  return out;
}

export async function checkSandboxes(c: CnmContext): Promise<SandboxCheck> {
  const out: SandboxCheck = { verified: new Set(), busy: new Set(), removed: [], addressesReleased: 0, found: [], errors: [] };
  const { sandboxes, endpoints, networks } = await c.store.view((t) => ({ sandboxes: t.sandboxes(), endpoints: t.endpoints(), networks: t.networks() }));
  // Listed after the store was read: a sandbox that was not busy then has
  // all its interfaces by now.
  const links = async () => new Map((await c.host.links.list()).map((l) => [l.name, l] as const));
  const seenLinks = await links();
  const seenTables = hostTables(c);
  const nets = new Map(networks.map((n) => [n.id, n]));
  const byId = new Map(sandboxes.map((s) => [s.id, s]));

  const remove = async (sb: SandboxRecord, why: string) => {
    const eps = await c.store.view((t) => t.endpoints({ sandboxId: sb.id }));
    out.found.push(`sandbox ${sb.name}: ${why}: removed`);
    const shared = sandboxes.filter((s) => s.ownerId === sb.id);
    await deleteSandbox(c, sb, { force: true, wait: true });
    out.removed.push(sb.name, ...shared.map((s) => s.name));
    out.addressesReleased += eps.reduce((n, e) => n + e.addresses.length, 0);
  };

  /** What is wrong with a sandbox as first seen, without changing anything; null when it is whole. */
  const look = async (sb: SandboxRecord): Promise<string | null> => {
    if (sb.busy) return `its ${sb.busy.op} was cut short (process ${sb.busy.pid} is gone)`;
    if (!looksInside(sb)) return null;
    const eps = endpoints.filter((e) => e.sandboxId === sb.id);
    const gone = netnsGone(sb, eps, seenLinks);
    if (gone) return gone;
    const need = await mend(c, sb, eps, nets, seenLinks, seenTables, false).catch((e: Error) => [e.message]);
    return need.length ? `needs mending: ${need.join('; ')}` : null;
  };

  /** Acts on a sandbox it holds: finishes or undoes what a dead process left, mends, or removes. */
  const act = async (seen: SandboxRecord, sb: SandboxRecord, why: string) => {
    const dead = seen.busy;
    if (dead?.op === 'create' || dead?.op === 'delete') return remove(sb, why);
    if (dead?.op === 'leave' && dead.endpoint) {
      const ep = (await c.store.view((t) => t.endpoint(dead.endpoint!)));
      if (ep?.sandboxId === sb.id) {
        // What the leave already did counts as done; what is left is deleted now, not deferred.
        try {
          await leave(c, ep, { wait: true });
          out.found.push(`sandbox ${sb.name}: its leave of ${ep.name} was cut short: finished`);
        } catch (e) {
          return remove(sb, `its leave of ${ep.name} could not be finished (${(e as Error).message})`);
        }
      }
    }
    if (looksInside(sb)) {
      const eps = await c.store.view((t) => t.endpoints({ sandboxId: sb.id }));
      const now = await links();
      const gone = netnsGone(sb, eps, now);
      if (gone) return remove(sb, gone);
      try {
        const fixed = await mend(c, sb, eps, nets, now, hostTables(c), true);
        if (fixed.length) out.found.push(`sandbox ${sb.name}: mended: ${fixed.join('; ')}`);
      } catch (e) {
        // What nsnet handed to a runtime it cannot make again; the sandbox
        // is the runtime's to remove (its namespace is there: it still knows it).
        if (sb.handoff) return void out.errors.push(`sandbox ${sb.name}: ${(e as Error).message}: left to its runtime`);
        return remove(sb, `cannot be mended (${(e as Error).message})`);
      }
    } else if (dead) {
      out.found.push(`sandbox ${sb.name}: ${why}: its records kept`);
    }
    out.verified.add(sb.id);
  };

  // A network another live process is making again, or deleting (with its endpoints), is no ground to mend or remove its sandboxes.
  const busyNets = new Set(networks.filter((n) => n.busy && workerAlive(n.busy, c.inFlight, n.id)).map((n) => n.id));
  const check = async (seen: SandboxRecord) => {
    if (seen.busy && workerAlive(seen.busy, c.inFlight, seen.id)) return void out.busy.add(seen.id);
    if (endpoints.some((e) => e.sandboxId === seen.id && busyNets.has(e.networkId))) return void out.busy.add(seen.id);
    // Interfaces this process left to delete later in that namespace are
    // deleted first, so what is looked at is what will stay.
    if (seen.netnsKind === 'external') await c.pending([seen.netnsPath]);
    // Read-only first: a whole sandbox costs no store write.
    const why = await look(seen);
    if (why === null) return void out.verified.add(seen.id);
    // Something to do: hold the sandbox first (so no other process acts on
    // it meanwhile), and only if it is still as it was seen: a mark that was
    // cleared, or a sandbox that went, since then is left to the next look.
    const hold = new Busy(c);
    try {
      const sb = await c.store.update((t) => {
        const cur = t.sandbox(seen.id);
        return cur && sameMark(cur.busy, seen.busy) ? hold.claim(t, cur, 'mend') : null;
      });
      if (sb) await act(seen, sb, why);
    } catch (e) {
      out.errors.push(`sandbox ${seen.name}: ${(e as Error).message}`);
    } finally {
      await hold.end();
    }
  };
  const owners = sandboxes.filter((s) => !s.ownerId || !byId.has(s.ownerId));
  // External sandboxes last: one may be in the namespace of another sandbox
  // of this store (a cni:<network> sandbox whose first plugin is nsnet's),
  // whose removal runs its CNI DEL through the plugin, in another process
  // that would find the external one held by this look and fail.
  const batches = [owners.filter((s) => s.netnsKind !== 'external'), owners.filter((s) => s.netnsKind === 'external')];
  for (const batch of batches) for (let i = 0; i < batch.length; i += PARALLEL) await Promise.all(batch.slice(i, i + PARALLEL).map(check));
  // A sandbox in another's namespace stands or falls with that one.
  for (const s of sandboxes) if (s.ownerId && out.verified.has(s.ownerId)) out.verified.add(s.id);
  for (const s of sandboxes) if (s.ownerId && out.busy.has(s.ownerId)) out.busy.add(s.id);
  return out;
}

/** The host's routes and neighbours by interface, each listed on first use and then kept. */
function hostTables(c: CnmContext): Pick<KernelView, 'hostRoutes' | 'hostNeighbours'> {
  const byIf = <T>(list: () => Promise<T[]>, key: (x: T) => number | null) => {
    let index: Promise<Map<number, T[]>> | undefined;
    return async (i: number) => {
      index ??= list().then((xs) => {
        const m = new Map<number, T[]>();
        for (const x of xs) {
          const k = key(x);
          if (k === null) continue;
          const at = m.get(k);
          if (at) at.push(x);
          else m.set(k, [x]);
        }
        return m;
      });
      return (await index).get(i) ?? [];
    };
  };
  return {
    hostRoutes: byIf(() => c.host.routes.list(), (r: Route) => r.oif),
    hostNeighbours: byIf(() => c.host.neighbours.list(), (n: Neighbour) => n.ifindex),
  };
}

/** Looks into a sandbox's namespace and has each endpoint's driver check it (and, with apply, mend it). */
async function mend(
  c: CnmContext, sb: SandboxRecord, eps: EndpointRecord[], nets: Map<string, NetworkRecord>, hostLinks: Map<string, Link>,
  host: Pick<KernelView, 'hostRoutes' | 'hostNeighbours'>, apply: boolean,
): Promise<string[]> {
  const checked = eps.filter((e) => c.knownDriver(nets.get(e.networkId)?.driver ?? '')?.repair);
  if (!checked.length) return [];
  // null: a handoff sandbox's namespace that is not there (yet); the drivers look at the host's side.
  const look = async (ns: Netns | null) => {
    const [links, addresses, routes] = ns ? await Promise.all([ns.links.list(), ns.addresses.list(), ns.routes.list()]) : [[], [], []];
    const view: KernelView = { hostLinks, links, addresses, routes, ...host };
    const fixed: string[] = [];
    for (const ep of checked) {
      const net = nets.get(ep.networkId)!;
      const o = { gatewayEndpoint: ep.gatewayEndpoint, apply, ...(sb.handoff ? { handoff: true } : {}), ...(sb.netnsKind === 'own' ? { ownNetns: true } : {}) };
      fixed.push(...(await c.driver(net.driver).repair!(c, net, ep, ns ?? c.host, view, o)));
    }
    return fixed;
  };
  if (sb.handoff && !isMounted(sb.netnsPath)) return look(null);
  // An external namespace through inNetns: refused if its path names another namespace by now.
  if (sb.netnsKind === 'external') return c.inNetns(sb, look);
  const ns = await Netns.openPath(sb.netnsPath);
  try {
    return await look(ns);
  } finally {
    ns.close();
  }
}
