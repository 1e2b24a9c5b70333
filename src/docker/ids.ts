// How Docker's objects map onto nsnet's. A Docker network is an nsnet
// bridge network named `docker-<first 12 digits of its id>`, whose label
// keeps the whole id (so a name another network took is never taken for
// it); a Docker endpoint is an endpoint of that network named by its id
// (all but its last digit: names have at most 63 characters); a Docker
// sandbox (SandboxKey, the path of a container's namespace) is a handoff
// sandbox named after the key's last part, its label keeping the key. A
// pool of nsnet's IPAM driver is a network of the ipam driver whose id is
// the PoolID Docker holds, and each address Docker asks for in it is an
// endpoint there.
import { createHash } from 'node:crypto';

import type { Controller } from '../cnm/controller.js';
import type { Endpoint, Network, Sandbox } from '../cnm/objects.js';
import type { NsnetError } from '../errors.js';
import { PluginError } from './protocol.js';

/** The label that holds the Docker network id of an nsnet network. */
export const NETWORK_LABEL = 'nsnet.docker.network';
/** The label that holds the SandboxKey of an nsnet sandbox. */
export const SANDBOX_LABEL = 'nsnet.docker.sandbox';
/** The label of an address pool of nsnet's IPAM driver: its address space. */
export const POOL_LABEL = 'nsnet.docker.pool';

/** An id Docker holds that nsnet does not know (404 would say "not implemented"). */
const unknown = (what: string) => new PluginError(500, `nsnet knows no ${what}`);

const notFound = (e: unknown) => (e as NsnetError)?.code === 'ERR_NSNET_NOT_FOUND';

export const networkName = (id: string) => `docker-${id.slice(0, 12)}`;
export const endpointName = (id: string) => id.slice(0, 63);

/** `docker-<key's last part>`, or a hash of the key when that part is not a name. */
export function sandboxName(key: string): string {
  const base = key.slice(key.lastIndexOf('/') + 1);
  if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,55}$/.test(base)) return `docker-${base}`;
  return `docker-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

/** The nsnet network of a Docker network id, or null. */
export async function findNetwork(c: Controller, id: string): Promise<Network | null> {
  const net = await c.network(networkName(id)).catch((e: unknown) => {
    if (notFound(e)) return null;
    throw e;
  });
  return net && net.record.labels[NETWORK_LABEL] === id ? net : null;
}

export async function network(c: Controller, id: string): Promise<Network> {
  const net = await findNetwork(c, id);
  if (!net) throw unknown(`network ${id}`);
  return net;
}

export async function endpoint(c: Controller, networkId: string, id: string): Promise<{ net: Network; ep: Endpoint }> {
  const net = await network(c, networkId);
  const ep = await net.endpoint(endpointName(id)).catch((e: unknown) => {
    if (notFound(e)) throw unknown(`endpoint ${id} on network ${networkId}`);
    throw e;
  });
  return { net, ep };
}

/** The sandbox of a SandboxKey, or null; one of that name that is not the key's is refused. */
export async function findSandbox(c: Controller, key: string): Promise<Sandbox | null> {
  const sb = await c.sandbox(sandboxName(key)).catch((e: unknown) => {
    if (notFound(e)) return null;
    throw e;
  });
  if (sb && sb.record.labels[SANDBOX_LABEL] !== key) throw new PluginError(500, `sandbox ${sb.name} exists and is not Docker's ${key}`);
  return sb;
}

/** An address pool of nsnet's IPAM driver by its PoolID. */
export async function pool(c: Controller, id: string): Promise<Network> {
  const net = /^[0-9a-f]+$/.test(id) ? await c.network(id).catch((e: unknown) => (notFound(e) ? null : Promise.reject(e))) : null;
  if (!net || net.id !== id || net.record.driver !== 'ipam' || net.record.labels[POOL_LABEL] === undefined) throw unknown(`pool ${id}`);
  return net;
}
