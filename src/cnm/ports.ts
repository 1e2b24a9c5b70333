// An endpoint's published ports, replaced after it was made. Docker hands a
// network driver the ports a container publishes when its sandbox's way
// out goes to an endpoint (ProgramExternalConnectivity), and takes them
// back when it moves on (RevokeExternalConnectivity), both while the
// endpoint is joined. The store's host ports change first, in one
// transaction; then, for a joined endpoint, the firewall unpublishes what
// went and publishes what came (in one nf_tables transaction, removals
// first), in one trip with what the driver adjusts on its port (the
// bridge's hairpin mode). A failure undoes all of it. A mapping another
// endpoint of the sandbox already publishes is stood by for, not refused;
// one this endpoint lets go that another stands by for goes to that one.
import { NsnetError } from '../errors.js';
import type { PortSpec } from '../firewall/backend.js';
import { Batch } from '../netlink/batch.js';
import { parsePorts, type PortOptions } from '../ports.js';
import { demoteStandby, holdPorts, promoteStandby, releasePorts, reservePorts, takers } from '../store/ports.js';
import type { EndpointRecord, PortMapping } from '../store/store.js';
import { whileBusy } from './busy.js';
import type { CnmContext } from './context.js';
import { refuseUnpublishable } from './endpoints.js';
import { checkPorts, ephemeralRange, portSpecs } from './publish.js';
import { commitWithPorts } from './trip.js';
import { Transaction } from './tx.js';

export interface PublishOptions {
  /** Publish a host port even where a host process listens on it (as EndpointOptions.forcePublish). */
  forcePublish?: boolean;
}

const same = (a: PortSpec, b: PortSpec) =>
  a.protocol === b.protocol && a.hostIp === b.hostIp && a.hostPort === b.hostPort && a.containerIp === b.containerIp && a.containerPort === b.containerPort;

/** Replaces ep's published ports with ports ([] unpublishes them all); resolves with the mappings now published. */
export async function setPorts(ctx: CnmContext, epRec: EndpointRecord, ports: (string | PortOptions)[], o: PublishOptions = {}): Promise<PortMapping[]> {
  ctx.live();
  const reqs = parsePorts(ports);
  const check = await checkPorts(ctx, reqs);
  const tx = new Transaction(`endpoint ${epRec.name}`, ctx.faults);
  return whileBusy(ctx, (busy) => tx.run(async () => {
    const plan = await tx.stored('store.ports', ctx.store, (t) => {
      const ep = t.endpoint(epRec.id);
      if (!ep) throw NsnetError.state('ERR_NSNET_NOT_FOUND', 'endpoint.publish', epRec.name, `no endpoint ${epRec.name}`);
      const net = t.network(ep.networkId)!;
      if (reqs.length) refuseUnpublishable(ctx, net, ports);
      const sb = ep.sandboxId ? t.sandbox(ep.sandboxId) : null;
      if (sb) busy.claim(t, sb, 'join', ep.id);
      const before: EndpointRecord = { ...ep, ...(ep.ports ? { ports: ep.ports.map((m) => ({ ...m })) } : {}) };
      releasePorts(t, ep);
      const after: EndpointRecord = { ...ep };
      delete after.ports;
      if (reqs.length) after.ports = reservePorts(t, after, reqs, ephemeralRange(ctx), o.forcePublish ? undefined : check.inUse);
      t.putEndpoint(after);
      // What it lets go that another endpoint of its sandbox stands by for goes to that one, which has the first claim.
      const gone = (before.ports ?? []).filter((m) => !m.standby);
      const promoted = sb ? promoteStandby(t, sb.id, gone, ep.id, after) : [];
      return { before, after, net, joined: sb !== null, promoted };
    }, (t, p) => {
      demoteStandby(t, p.promoted);
      releasePorts(t, p.after);
      holdPorts(t, p.before);
      t.putEndpoint(p.before);
    });
    await tx.step('store.ports', () => check.verify());
    if (plan.joined) {
      const was = portSpecs([plan.before]);
      const now = portSpecs([plan.after]);
      const gone = was.filter((p) => !now.some((q) => same(p, q)));
      // The driver's part, what goes and what comes go in one trip.
      const d = ctx.driver(plan.net.driver);
      const portsChanged = (ep: EndpointRecord) => {
        const b = new Batch(ctx.host);
        d.portsChanged?.(ctx, plan.net, ep, b);
        return b;
      };
      tx.onUndo('kernel.ports', () => portsChanged(plan.before).commit());
      const added = [...now.filter((p) => !was.some((q) => same(p, q))), ...portSpecs(takers(plan.promoted))];
      await commitWithPorts(ctx, tx, portsChanged(plan.after), added, 'kernel.ports', (e) => e, gone);
    }
    epRec.ports = plan.after.ports;
    if (!epRec.ports) delete epRec.ports;
    return (plan.after.ports ?? []).map((m) => ({ ...m }));
  }), { clearSoon: true });
}
