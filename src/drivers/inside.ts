// What a join puts inside a sandbox's namespace for an endpoint (its
// addresses on its interface, and the default routes of the endpoint that
// gives them): the requests that make it, and its comparison with what the
// kernel lists there. One comparison serves a check that reports
// (Endpoint.check, CNI CHECK) and a reconcile that mends (Driver.repair).
import { ipFamily, toBig } from '../ipaddr.js';
import type { Batch, HasHandle } from '../netlink/batch.js';
import type { Address, Route } from '../netlink/types.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import type { JoinOptions } from './driver.js';

export interface Lacking {
  /** The endpoint's addresses (`address/len`) missing from its interface. */
  addresses: string[];
  /** Gateways of the network with no default route via them. */
  gateways: string[];
}

const same = (a: string, b: string) => toBig(a)?.n === toBig(b)?.n;

/**
 * What the namespace lacks of ep's: addresses on the interface ifindex,
 * and, if ep gives the default route (and the network is not internal), a
 * default route via each gateway of the network.
 */
export function lacking(n: NetworkRecord, ep: EndpointRecord, ifindex: number, addresses: Address[], routes: Route[], gatewayEndpoint: boolean): Lacking {
  const out: Lacking = { addresses: [], gateways: [] };
  for (const a of ep.addresses) {
    const [addr, len] = a.split('/');
    if (!addresses.some((x) => x.ifindex === ifindex && x.prefixlen === Number(len) && same(x.address, addr!))) out.addresses.push(a);
  }
  if (gatewayEndpoint && !n.internal) {
    for (const s of n.subnets) {
      if (!s.gateway) continue;
      const fam = ipFamily(s.gateway);
      if (!routes.some((r) => r.family === fam && r.dst === 'default' && r.gateway !== null && same(r.gateway, s.gateway!))) out.gateways.push(s.gateway);
    }
  }
  return out;
}

/**
 * Adds to b, inside sb: ep's interface up, with its addresses and, for the
 * gateway endpoint, the default route. The peer of a veth cannot be brought
 * up by the request that creates it: it is not paired yet, and the kernel
 * answers ENOTCONN; this group, which runs next, brings it up. v6Off: turn
 * IPv6 address generation off first. A pooled interface (named `pooled`,
 * down) first takes ep's name and MAC.
 */
export function buildInside(n: NetworkRecord, ep: EndpointRecord, sb: HasHandle, b: Batch, o: JoinOptions, how: { v6Off: boolean; pooled?: string }): void {
  const inside = ep.ifname!;
  b.in(sb);
  if (how.pooled !== undefined) b.setLink(how.pooled, { ...(how.pooled !== inside ? { name: inside } : {}), mac: ep.mac! });
  else if (how.v6Off) b.setLink(inside, { addrGenMode: 'none' });
  b.setUp(inside);
  for (const a of ep.addresses) b.addAddress(inside, a, a.includes(':') ? { nodad: true } : {});
  if (o.gatewayEndpoint && !n.internal) {
    for (const s of n.subnets) if (s.gateway) b.addRoute({ dst: 'default', gateway: s.gateway, dev: inside });
  }
}
