// How CNI's attachments map onto nsnet's sandboxes: one sandbox per
// container (CNI_CONTAINERID), in the runtime's namespace (an external
// sandbox), with one endpoint per (network, interface) it is attached as.
// The sandbox's name is made from the container id, and a label keeps the
// whole id, so a name another sandbox holds is never taken for the
// container's.
import { createHash } from 'node:crypto';

import type { Controller } from '../../cnm/controller.js';
import type { Endpoint, Network, Sandbox } from '../../cnm/objects.js';
import type { NsnetError } from '../../errors.js';
import { CniError } from '../errors.js';
import { NSNET_ERR } from './errors.js';

/** The label that holds the container id of a CNI sandbox. */
export const CONTAINER_LABEL = 'nsnet.cni.containerID';

/**
 * The sandbox name of a container: `cni-<id>` for a short id, else a
 * prefix of it and a hash of all of it (runtimes' ids are 64 hex digits,
 * and a name has at most 63 characters).
 */
export function sandboxName(containerId: string): string {
  if (containerId.length <= 28) return `cni-${containerId}`;
  return `cni-${containerId.slice(0, 12)}-${createHash('sha256').update(containerId).digest('hex').slice(0, 12)}`;
}

/**
 * The name of an endpoint made for one attachment (an nsnet-ipam
 * reservation, or a container's second interface on a network): a prefix
 * of the container id for people, a hash of (id, interface) for uniqueness
 * (no separator character is safe: both may contain any of them).
 */
export function attachmentName(containerId: string, ifname: string): string {
  return `${containerId.slice(0, 12)}-${createHash('sha256').update(`${containerId}\0${ifname}`).digest('hex').slice(0, 16)}`;
}

const notFound = (e: unknown) => (e as NsnetError)?.code === 'ERR_NSNET_NOT_FOUND';

/** null when the store has none. */
export async function findNetwork(c: Controller, name: string): Promise<Network | null> {
  return c.network(name).catch((e: unknown) => {
    if (notFound(e)) return null;
    throw e;
  });
}

/** The container's sandbox, or null; a sandbox of that name that is not the container's is refused. */
export async function findSandbox(c: Controller, containerId: string): Promise<Sandbox | null> {
  const name = sandboxName(containerId);
  const sb = await c.sandbox(name).catch((e: unknown) => {
    if (notFound(e)) return null;
    throw e;
  });
  if (sb && sb.record.labels[CONTAINER_LABEL] !== containerId)
    throw new CniError(NSNET_ERR.CONFLICT, `sandbox ${name} exists and is not container ${containerId}'s`, { details: 'remove it (nsnet sandbox rm) or use another container id' });
  return sb;
}

/** The container's endpoint on a network with that interface name, or null. */
export async function findEndpoint(sb: Sandbox, net: Network, ifname: string): Promise<Endpoint | null> {
  return (await sb.endpoints()).find((e) => e.record.networkId === net.id && e.record.ifname === ifname) ?? null;
}
