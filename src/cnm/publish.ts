// Published ports between the store and the firewall backend: the checks a
// port request needs from the host, the neutral PortSpecs of endpoints'
// mappings, and the two ways they reach the kernel on a create or a join:
// folded into the sandbox's own kernel trip once the backend can take them
// there, else beside the trip. Also what the store says the firewall should
// hold, which is how a backend whose state went behind our back is rebuilt.
import { ValidationError } from '../errors.js';
import { cannotPublish, type FirewallState, type NetworkSpec, type PortSpec } from '../firewall/backend.js';
import { toBig } from '../ipaddr.js';
import { hostListeners, socketOwner, takes } from '../listeners.js';
import type { Batch } from '../netlink/batch.js';
import type { PortRequest } from '../ports.js';
import { isMounted } from '../netlink/netns.js';
import { choosesPort, hostPort, listened, type PortInUse } from '../store/ports.js';
import type { EndpointRecord, SandboxRecord } from '../store/store.js';
import { workerAlive } from './busy.js';
import type { CnmContext } from './context.js';
import type { Transaction } from './tx.js';

/** Where ephemeral host ports come from until the host says otherwise: Docker's default. */
const EPHEMERAL: [number, number] = [49153, 65535];

/**
 * The checks of port requests that need the host (the firewall can publish;
 * a host IP must be one of the host's addresses), before any change; the
 * range ephemeral host ports come from, read once when first needed; and
 * which of the ports host processes listen on, for the reservation to
 * refuse or skip.
 */
export async function preparePorts(ctx: CnmContext, reqs: PortRequest[]): Promise<PortInUse> {
  if (!ctx.firewall.publishes) throw cannotPublish(ctx.firewall.kind);
  const ips = reqs.map((r) => r.hostIp).filter((a): a is string => a !== null && toBig(a)!.n !== 0n);
  if (ips.length) {
    const have = new Set((await ctx.host.addresses.list()).map((a) => toBig(a.address)?.n));
    for (const ip of ips) if (!have.has(toBig(ip)!.n)) throw new ValidationError('ports', ip, 'is not an address of the host: a port can only be published on one of its addresses');
  }
  if (!ctx.ephemeralPorts && reqs.some((r) => r.hostPort === null)) {
    const [lo, hi] = (await ctx.host.sysctl('net.ipv4.ip_local_port_range').catch(() => '')).trim().split(/\s+/).map(Number);
    ctx.ephemeralPorts = lo && hi && lo <= hi ? [lo, hi] : EPHEMERAL;
  }
  const listening = await hostListeners(ctx.host, [...new Set(reqs.map((r) => r.protocol))]);
  return (protocol, port, key) => {
    const l = listening.find((x) => x.protocol === protocol && x.port === port && takes(x, key));
    return l ? { describe: () => `${socketOwner(l.inode) ?? 'a process'} listens on ${hostPort(l.address, l.port, l.protocol)}` } : null;
  };
}

/** What a reservation checks host ports against, and what finishes the check once it is stored. */
export interface PortCheck {
  /** For reservePorts (undefined: no request). */
  inUse: PortInUse | undefined;
  /** After the store's transaction, before the kernel: refuses a port a host process listens on, if that was left until then. */
  verify(): Promise<void>;
}

/**
 * preparePorts, with the host's listeners read while the store reserves
 * when nothing needs them sooner: every host port is given outright (none
 * to choose clear of them) on every address (none to look for among the
 * host's). The reservation then asks a recorder, and verify() refuses what
 * it asked about that a listener holds, as the reservation would have; the
 * caller's rollback takes the reservation back. That takes one kernel
 * round trip off the time a publish waits.
 */
export async function checkPorts(ctx: CnmContext, reqs: PortRequest[]): Promise<PortCheck> {
  if (!reqs.length) return { inUse: undefined, verify: async () => {} };
  const later = ctx.firewall.publishes && reqs.every((r) => !choosesPort(r) && (r.hostIp === null || toBig(r.hostIp)!.n === 0n));
  if (!later) return { inUse: await preparePorts(ctx, reqs), verify: async () => {} };
  const reading = preparePorts(ctx, reqs);
  reading.catch(() => {}); // awaited by verify, if the reservation asked anything
  const asked: Parameters<PortInUse>[] = [];
  return {
    inUse: (...a) => {
      asked.push(a);
      return null;
    },
    verify: async () => {
      if (!asked.length) return;
      const inUse = await reading;
      for (const [protocol, port, key] of asked) {
        const host = inUse(protocol, port, key);
        if (host) throw listened(protocol, port, key, host);
      }
    },
  };
}

/** Where ephemeral host ports come from: the host's ip_local_port_range, as Docker takes it. */
export const ephemeralRange = (ctx: CnmContext): [number, number] => ctx.ephemeralPorts ?? EPHEMERAL;

/** What eps publish, for the firewall: each mapping goes to the endpoint's address of its host address's family. */
export function portSpecs(eps: EndpointRecord[]): PortSpec[] {
  const out: PortSpec[] = [];
  for (const ep of eps) {
    for (const m of ep.ports ?? []) {
      if (m.standby) continue; // another endpoint of the sandbox publishes it
      const v6 = m.hostIp.includes(':');
      const addr = ep.addresses.find((a) => a.includes(':') === v6);
      if (!addr) continue; // reservePorts only keys families the endpoint has
      out.push({ protocol: m.protocol, hostPort: m.hostPort, hostIp: m.hostIp, containerIp: addr.split('/')[0]!, containerPort: m.containerPort });
    }
  }
  return out;
}

/**
 * What this store says the firewall should hold: networks of drivers that
 * need it, and the ports of sandboxes known to be whole: those reconcile
 * verified, or (without that) those no live process is at work on whose
 * namespace is there. Ports of the rest are kept as they are, and so are a
 * network's elements, and its endpoints' ports, while a live process
 * creates or deletes it: that process adds or removes them.
 */
export async function firewallState(ctx: CnmContext, verified?: { verified: Set<string> }): Promise<FirewallState> {
  const { nets, eps, sbs } = await ctx.store.view((t) => ({ nets: t.networks(), eps: t.endpoints(), sbs: t.sandboxes() }));
  const networks: NetworkSpec[] = [];
  const keepNetworks: NetworkSpec[] = [];
  for (const n of nets) {
    const spec = ctx.knownDriver(n.driver)?.firewall?.(n);
    if (spec) (n.busy && workerAlive(n.busy, ctx.inFlight, n.id) ? keepNetworks : networks).push(spec);
  }
  const on = new Set(networks.map((n) => n.id));
  const busyNets = new Set(keepNetworks.map((n) => n.id));
  // A sandbox some process is at work on (a delete under way, say) is never
  // published anew, even if a reconcile verified it a moment ago.
  const whole = (sb: SandboxRecord) =>
    !(sb.busy && workerAlive(sb.busy, ctx.inFlight, sb.id)) && (verified ? verified.verified.has(sb.id) : sb.netnsKind !== 'own' || isMounted(sb.netnsPath));
  const ok = new Set(sbs.filter(whole).map((s) => s.id));
  const joined = eps.filter((e) => e.sandboxId && (on.has(e.networkId) || busyNets.has(e.networkId)));
  const wanted = (e: EndpointRecord) => ok.has(e.sandboxId!) && on.has(e.networkId);
  return { networks, keepNetworks, ports: portSpecs(joined.filter(wanted)), keep: portSpecs(joined.filter((e) => !wanted(e))) };
}

/**
 * Runs a firewall change; when the backend's state went behind our back,
 * makes it whole again from the store and runs the change once more.
 */
export async function firewallDo(ctx: CnmContext, change: () => Promise<void>): Promise<void> {
  try {
    await change();
  } catch (e) {
    if (!ctx.firewall.lost(e)) throw e;
    await ctx.firewall.reconcile(() => firewallState(ctx));
    await change();
  }
}

/**
 * Starts publishing ports beside the kernel trip, and registers their
 * removal as an undo: the undo waits for the add and removes what it
 * added, so a rollback never races it. Returns what to await.
 */
export function publish(ctx: CnmContext, tx: Transaction, ports: PortSpec[]): Promise<void> {
  if (!ports.length) return Promise.resolve();
  tx.enter('firewall');
  const added = firewallDo(ctx, () => ctx.firewall.publish(ports));
  added.catch(() => {}); // awaited by the caller's step
  tx.onUndo('firewall', async () => {
    if (await added.then(() => true, () => false)) await ctx.firewall.unpublish(ports);
  });
  return added;
}

/**
 * Whether ports can ride in their own kernel trip: only once the backend
 * can take them there (nftables: its table is known to be there). If so,
 * enters the firewall step and registers their removal as an undo now,
 * before the trip: a reconcile (or another create's recovery) rebuilds from
 * the store, which already holds these endpoints, so the ports may be
 * published even if the trip fails (unpublishing one already gone is fine).
 * Ports that go (gone) ride with them; their undo publishes them again,
 * which is fine if the trip never took them away.
 */
export function foldPorts(ctx: CnmContext, tx: Transaction, ports: PortSpec[], gone: PortSpec[] = []): boolean {
  if (!(ports.length || gone.length) || !ctx.firewall.canStage) return false;
  tx.enter('firewall');
  tx.onUndo('firewall', async () => {
    await ctx.firewall.unpublish(ports);
    if (gone.length) await firewallDo(ctx, () => ctx.firewall.publish(gone));
  });
  return true;
}

/** Puts folded ports (and the removal of those that go) last in the trip's batch. */
export function stagePorts(ctx: CnmContext, b: Batch, ports: PortSpec[], gone?: PortSpec[]): void {
  ctx.firewall.stage(b, ports, gone);
  ctx.faults?.('kernel.firewall', b);
}
