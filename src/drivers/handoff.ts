// Interfaces for a runtime that moves them into its sandboxes itself.
// libnetwork's remote drivers work so: Join answers the name of an
// interface in the host namespace, and Docker moves it into the container's
// namespace (which may not exist yet when Join is called), renames it
// (eth0, eth1 ...) and gives it its address and routes. So a driver makes
// such an interface whole in the host namespace, with its MAC and MTU but
// no address or route, under a name of its own; what it can check later is
// that the interface is still where the runtime may have put it.
import type { Link } from '../netlink/types.js';
import type { EndpointRecord } from '../store/store.js';
import type { KernelView } from './driver.js';

/** The name an endpoint's interface is made with in the host namespace, for its runtime to move: unique on the host. */
export function handoffIfname(endpointId: string): string {
  return `nsp${endpointId.slice(0, 8)}`;
}

/**
 * Why a handed-off veth is lost, or null while it is whole: its host end
 * (near) is there and its peer is either still in the host namespace under
 * its handoff name (not moved yet, or moved back on leave) or in the
 * sandbox's namespace (view.links; empty when that namespace is not there).
 * Lost, it cannot be made again: only the runtime could move it in and
 * address it.
 */
export function handoffLost(ep: EndpointRecord, near: Link | undefined, view: KernelView): string | null {
  if (!near || near.kind !== 'veth') return `${ep.hostIfname} is gone`;
  const waiting = ep.ifname ? view.hostLinks.get(ep.ifname) : undefined;
  if (waiting && waiting.kind === 'veth' && waiting.link === near.ifindex) return null;
  // Moved: the peer's ifindex (near.link) with its link back to near; an
  // ifindex alone could name another device in that namespace.
  if (view.links.some((l) => l.ifindex === near.link && l.kind === 'veth' && l.link === near.ifindex)) return null;
  return `the peer of ${ep.hostIfname} is in neither the host namespace nor the sandbox's`;
}
