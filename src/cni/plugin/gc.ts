// STATUS and GC (CNI 1.1) of the nsnet plugin. STATUS answers whether ADD
// can work: 50 when nsnet's store cannot be opened, 51 when the network's
// kernel objects are damaged (its containers' connectivity with them).
// GC removes every attachment of the network that the runtime's list of
// valid ones does not name, and nothing else: other networks' attachments
// and sandboxes nsnet made for anyone but a CNI runtime stay.
import type { Controller } from '../../cnm/controller.js';
import type { Endpoint } from '../../cnm/objects.js';
import { CniError, ERR } from '../errors.js';
import { CONTAINER_LABEL, findNetwork } from './attachments.js';
import { NSNET_ERR, toCniError } from './errors.js';
import { read, wrongType, type CniRequest } from './request.js';

/** A store that cannot be opened or read: nsnet cannot serve ADD (code 50). */
export async function reachable<T>(what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (e) {
    throw new CniError(ERR.NOT_AVAILABLE, "nsnet's store cannot be opened", { details: toCniError(e).message, cause: e });
  }
}

export async function status(network: string, open: () => Promise<Controller>): Promise<void> {
  const c = await reachable(open);
  const net = await reachable(() => findNetwork(c, network));
  if (!net) return; // made by the first ADD
  const problems = await net.check();
  if (problems.length) throw new CniError(ERR.LIMITED_CONNECTIVITY, `network ${network} is damaged`, { details: problems.join('; ') });
}

/** The runtime's list of valid attachments as `containerID\0ifname` keys (1.1's key, or the draft's cni.dev/attachments). */
export function validAttachments(req: CniRequest): Set<string> {
  const key = req.conf['cni.dev/valid-attachments'] !== undefined ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const list = read.list(req.conf, key);
  if (!list) throw new CniError(ERR.INVALID_CONFIG, 'invalid network configuration: GC needs cni.dev/valid-attachments');
  return new Set(
    list.map((a, i) => {
      const o = a && typeof a === 'object' && !Array.isArray(a) ? (a as Record<string, unknown>) : null;
      if (!o || typeof o.containerID !== 'string' || typeof o.ifname !== 'string') throw wrongType(`${key}[${i}]`, a, '{ containerID, ifname }');
      return `${o.containerID}\0${o.ifname}`;
    }),
  );
}

/** Deletes each endpoint, goes on past failures, and reports them together (the spec asks GC to remove as much as it can). */
export async function removeAll(eps: Endpoint[], after?: (ep: Endpoint) => Promise<void>): Promise<void> {
  const errors: string[] = [];
  for (const ep of eps) {
    try {
      await ep.delete();
      await after?.(ep);
    } catch (e) {
      errors.push(`${ep.name}: ${(e as Error).message}`);
    }
  }
  if (errors.length) throw new CniError(NSNET_ERR.FAILED, `GC could not remove ${errors.length} attachment(s)`, { details: errors.join('; ') });
}

export async function collect(network: string, req: CniRequest, open: () => Promise<Controller>): Promise<void> {
  const valid = validAttachments(req);
  const c = await open();
  const net = await findNetwork(c, network);
  if (!net) return;
  const stale: Endpoint[] = [];
  const sandboxes = new Map((await c.sandboxes()).map((s) => [s.id, s]));
  for (const ep of await net.endpoints()) {
    const sb = ep.record.sandboxId ? sandboxes.get(ep.record.sandboxId) : undefined;
    const container = sb?.record.labels[CONTAINER_LABEL];
    if (container === undefined) continue; // not a CNI attachment
    if (!valid.has(`${container}\0${ep.record.ifname}`)) stale.push(ep);
  }
  await removeAll(stale, async (ep) => {
    const sb = sandboxes.get(ep.record.sandboxId!)!;
    if ((await sb.endpoints()).length === 0) await sb.delete();
  });
}
