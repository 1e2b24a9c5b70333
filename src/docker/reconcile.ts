// What Docker no longer knows in nsnet's IPAM pools, removed when the door
// starts. Docker releases an address (ReleaseAddress) after deleting the
// endpoint that held it; if nsnet's daemon was not running then, the call
// failed, Docker went on, and the address stayed reserved. For a pool that
// an nsnet network takes (Docker's network on the nsnet driver), nsnet
// knows every address Docker still uses there: the network's gateway and
// aux addresses and its endpoints' addresses. A reservation that is none
// of these, and older than any of Docker's calls could take to follow the
// RequestAddress that made it (CreateEndpoint), Docker no longer knows: it
// is released. A pool of Docker's own driver (`--ipam-driver nsnet -d
// bridge`) is left as it is: nothing tells nsnet what Docker holds there.
// The Controller's reconcile has already removed the sandboxes Docker no
// longer has (their namespace gone, with no interface waiting in the host's).
import type { Controller } from '../cnm/controller.js';
import { toBig } from '../ipaddr.js';
import { NETWORK_LABEL, POOL_LABEL } from './ids.js';

/** Longer than Docker's plugin client retries a call for. */
export const GRACE_MS = 60_000;

const key = (a: string) => String(toBig(a.split('/')[0]!)?.n);

/** Releases stale reservations; returns one line for each. */
export async function reconcilePools(c: Controller, now = Date.now()): Promise<string[]> {
  const found: string[] = [];
  const nets = await c.networks();
  const pools = nets.filter((n) => n.record.driver === 'ipam' && n.record.labels[POOL_LABEL] !== undefined);
  for (const net of nets.filter((n) => n.record.labels[NETWORK_LABEL] !== undefined)) {
    const used = new Set<string>();
    for (const s of net.record.subnets) for (const a of [...(s.gateway ? [s.gateway] : []), ...s.excluded]) used.add(key(a));
    for (const ep of await net.endpoints()) for (const a of ep.record.addresses) used.add(key(a));
    for (const pool of pools.filter((p) => p.record.subnets.some((s) => net.record.subnets.some((t) => t.subnet === s.subnet)))) {
      for (const r of await pool.endpoints()) {
        if (r.record.addresses.some((a) => used.has(key(a))) || now - Date.parse(r.record.created) < GRACE_MS) continue;
        await r.delete();
        found.push(`pool ${pool.record.subnets[0]!.subnet}: ${r.record.addresses.join(', ')} released (no endpoint of network ${net.name} holds it)`);
      }
    }
  }
  return found;
}
