// Reconcile's look at each sandbox of its store: is it what the store says?
// A sandbox another live process is at work on is left alone. One whose
// create or delete was cut short (its process died) is removed, as that
// create's rollback or that delete would have. Any other is verified: its
// namespace is mounted, and each driver checks its endpoints' interfaces,
// addresses and routes, mending what it can (a veth re-attached to a bridge
// made again, a lost address or route added, a deleted veth made again). A
// sandbox that cannot be verified is removed and reported; its ports are
// never published again.
import type { KernelView } from '../drivers/driver.js';
import type { Link } from '../netlink/types.js';
import { Netns, isMounted } from '../netlink/netns.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../store/store.js';
import { release, workerAlive } from './busy.js';
import type { CnmContext } from './context.js';
import { leave } from './join.js';
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

export async function checkSandboxes(c: CnmContext, hostLinks: Map<string, Link>): Promise<SandboxCheck> {
  const out: SandboxCheck = { verified: new Set(), busy: new Set(), removed: [], addressesReleased: 0, found: [], errors: [] };
  const { sandboxes, endpoints, networks } = await c.store.view((t) => ({ sandboxes: t.sandboxes(), endpoints: t.endpoints(), networks: t.networks() }));
  const nets = new Map(networks.map((n) => [n.id, n]));
  const epsOf = (id: string) => endpoints.filter((e) => e.sandboxId === id);
  const byId = new Map(sandboxes.map((s) => [s.id, s]));
  const remove = async (sb: SandboxRecord, why: string) => {
    out.found.push(`sandbox ${sb.name}: ${why}: removed`);
    const shared = sandboxes.filter((s) => s.ownerId === sb.id);
    try {
      await deleteSandbox(c, sb, { force: true, wait: true });
      out.removed.push(sb.name, ...shared.map((s) => s.name));
      out.addressesReleased += epsOf(sb.id).reduce((n, e) => n + e.addresses.length, 0);
    } catch (e) {
      out.errors.push(`sandbox ${sb.name}: ${(e as Error).message}`);
    }
  };
  const check = async (sb: SandboxRecord) => {
    if (sb.busy && workerAlive(sb.busy, c.inFlight, sb.id)) return void out.busy.add(sb.id);
    if (sb.busy?.op === 'create' || sb.busy?.op === 'delete') return remove(sb, `its ${sb.busy.op} was cut short (process ${sb.busy.pid} is gone)`);
    if (sb.busy?.op === 'leave' && sb.busy.endpoint) {
      // Finish the leave that was cut short; what it already did counts as done.
      const ep = endpoints.find((e) => e.id === sb.busy!.endpoint && e.sandboxId === sb.id);
      if (ep) {
        try {
          await leave(c, ep);
          out.found.push(`sandbox ${sb.name}: its leave of ${ep.name} was cut short: finished`);
          endpoints.splice(endpoints.indexOf(ep), 1);
        } catch (e) {
          return remove(sb, `its leave of ${ep.name} could not be finished (${(e as Error).message})`);
        }
      }
    }
    if (sb.netnsKind === 'own') {
      if (!isMounted(sb.netnsPath)) return remove(sb, `its namespace ${sb.netnsPath} is gone`);
      try {
        const fixed = await mend(c, sb, epsOf(sb.id), nets, hostLinks);
        if (fixed.length) out.found.push(`sandbox ${sb.name}: mended: ${fixed.join('; ')}`);
      } catch (e) {
        return remove(sb, `cannot be mended (${(e as Error).message})`);
      }
    }
    out.verified.add(sb.id);
    // The dead process's mark goes with what it left undone.
    if (sb.busy) await c.store.update((t) => release(t, sb.id, sb.busy!));
  };
  const owners = sandboxes.filter((s) => !s.ownerId || !byId.has(s.ownerId));
  for (let i = 0; i < owners.length; i += PARALLEL) await Promise.all(owners.slice(i, i + PARALLEL).map(check));
  // A sandbox in another's namespace stands or falls with that one.
  for (const s of sandboxes) if (s.ownerId && out.verified.has(s.ownerId)) out.verified.add(s.id);
  for (const s of sandboxes) if (s.ownerId && out.busy.has(s.ownerId)) out.busy.add(s.id);
  return out;
}

/** Looks into a sandbox's namespace and has each endpoint's driver mend it. */
async function mend(c: CnmContext, sb: SandboxRecord, eps: EndpointRecord[], nets: Map<string, NetworkRecord>, hostLinks: Map<string, Link>): Promise<string[]> {
  const checked = eps.filter((e) => c.knownDriver(nets.get(e.networkId)?.driver ?? '')?.repair);
  if (!checked.length) return [];
  const ns = await Netns.openPath(sb.netnsPath);
  try {
    const [links, addresses, routes] = await Promise.all([ns.links.list(), ns.addresses.list(), ns.routes.list()]);
    const view: KernelView = { hostLinks, links, addresses, routes };
    const fixed: string[] = [];
    for (const ep of checked) {
      const net = nets.get(ep.networkId)!;
      fixed.push(...(await c.driver(net.driver).repair!(c, net, ep, ns, view, { gatewayEndpoint: ep.gatewayEndpoint })));
    }
    return fixed;
  } finally {
    ns.close();
  }
}
