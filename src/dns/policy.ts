// Docker's rules for embedded name resolution: which networks have names,
// and which sandboxes get a server at 127.0.0.11.
import type { ListenOptions } from '../netlink/sockets.js';
import type { NetworkRecord, SandboxRecord } from '../store/store.js';

/** Where a sandbox's embedded resolver listens, inside its namespace (Docker's address). */
export const RESOLVER_ADDRESS = '127.0.0.11';

/** A resolver's sockets: UDP and TCP at 127.0.0.11:53; UDP exclusive, so a second server is refused, not given a share. */
export const RESOLVER_LISTEN: ListenOptions[] = [
  { type: 'udp', host: RESOLVER_ADDRESS, port: 53, exclusive: true },
  { type: 'tcp', host: RESOLVER_ADDRESS, port: 53 },
];

/**
 * A network whose sandboxes find each other by name: a user-defined one
 * that gives addresses. The default `bridge` network has none, as docker0
 * has none; an `ipam` network only hands addresses to other CNI plugins.
 */
export function namedNetwork(net: Pick<NetworkRecord, 'name' | 'driver' | 'subnets'>): boolean {
  return net.name !== 'bridge' && net.driver !== 'ipam' && net.subnets.length > 0;
}

/**
 * Whether a sandbox gets a server: one with a namespace of its own (a
 * container: sandbox shares its owner's; an external one's resolv.conf is
 * its runtime's; a host one has the host's) on a network with names.
 */
export function wantsResolver(sb: Pick<SandboxRecord, 'netnsKind'>, nets: Iterable<Pick<NetworkRecord, 'name' | 'driver' | 'subnets'>>): boolean {
  if (sb.netnsKind !== 'own') return false;
  for (const n of nets) if (namedNetwork(n)) return true;
  return false;
}
