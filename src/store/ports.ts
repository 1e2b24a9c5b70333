// Host ports reserved in the store, beside the addresses IPAM reserves: two
// processes sharing a state directory never publish the same one (the
// store's writers take turns), and a clash names the endpoint that holds it.
// Each reservation is an allocation in a pool per protocol and port, keyed by
// the host address (0.0.0.0 and :: stand for every address of their family).
import { NsnetError, ValidationError } from '../errors.js';
import { toBig } from '../ipaddr.js';
import type { PortRequest, Protocol } from '../ports.js';
import type { EndpointRecord, PortMapping, StoreTx } from './store.js';

const ANY = { 4: '0.0.0.0', 6: '::' } as const;
const familyOf = (addr: string) => (addr.includes(':') ? 6 : 4);
const isAny = (addr: string) => addr === ANY[4] || addr === ANY[6];

/** The store pool one host port's holders live in; the address field is the host address. */
const portPool = (protocol: Protocol, port: number) => `port/${protocol}/${port}`;

/** Keys that clash: the same address, or "every address" and one address of the same family. */
function clashes(a: string, b: string): boolean {
  return a === b || (familyOf(a) === familyOf(b) && (isAny(a) || isAny(b)));
}

/** `0.0.0.0:8080/tcp`, `[::1]:8080/tcp` */
export const hostPort = (address: string, port: number, protocol: string) => `${address.includes(':') ? `[${address}]` : address}:${port}/${protocol}`;

function owner(t: StoreTx, id: string): string {
  const ep = t.endpoint(id);
  if (!ep) return `endpoint ${id.slice(0, 12)}`;
  const sb = ep.sandboxId ? t.sandbox(ep.sandboxId) : null;
  return sb ? `sandbox ${sb.name} (endpoint ${ep.name})` : `endpoint ${ep.name}`;
}

function holder(t: StoreTx, protocol: Protocol, port: number, keys: string[]): { address: string; owner: string } | null {
  for (const a of t.allocations(portPool(protocol, port))) if (keys.some((k) => clashes(a.address, k))) return a;
  return null;
}

const sameMapping = (a: PortMapping, b: PortMapping) =>
  a.protocol === b.protocol && a.hostIp === b.hostIp && a.hostPort === b.hostPort && a.containerPort === b.containerPort;

/** Whether holderId is another endpoint of ep's sandbox that publishes m itself (so ep may stand by for it). */
function sibling(t: StoreTx, ep: EndpointRecord, holderId: string, m: PortMapping): boolean {
  if (!ep.sandboxId || holderId === ep.id) return false;
  const h = t.endpoint(holderId);
  return !!h && h.sandboxId === ep.sandboxId && !!h.ports?.some((x) => !x.standby && sameMapping(x, m));
}

/** Whether something outside the store (a host process) holds protocol/port on key; what to call it if so. */
export type PortInUse = (protocol: Protocol, port: number, key: string) => { describe(): string } | null;

/** Whether the store chooses r's host port (an ephemeral one, or one of a range), rather than taking the one given. */
export const choosesPort = (r: PortRequest): boolean => r.hostPort === null || (r.hostPortEnd !== r.hostPort && r.containerPortEnd === r.containerPort);

/** The refusal of a host port a host process holds. */
export function listened(protocol: Protocol, port: number, key: string, host: { describe(): string }): NsnetError {
  return NsnetError.state('ERR_NSNET_IN_USE', 'port.publish', `${port}/${protocol}`,
    `host port ${hostPort(key, port, protocol)} is already allocated: ${host.describe()}, and publishing over it would take its connections (force it with forcePublish, or nsnet run --force-publish)`);
}

/**
 * Chooses and reserves the host ports of an endpoint's requests; runs inside
 * the store transaction that records the endpoint, so a clash rolls it all
 * back. `ephemeral` is the range ephemeral ports come from; a port inUse
 * says is held is skipped when choosing and refused when asked for.
 */
export function reservePorts(t: StoreTx, ep: EndpointRecord, reqs: PortRequest[], ephemeral: [number, number], inUse?: PortInUse): PortMapping[] {
  const fams = new Set(ep.addresses.map((a) => familyOf(a.split('/')[0]!)));
  const out: PortMapping[] = [];
  for (const r of reqs) {
    let keys: string[];
    if (r.hostIp === null) keys = ([4, 6] as const).filter((f) => fams.has(f)).map((f) => ANY[f]);
    else {
      const f = familyOf(r.hostIp);
      if (!fams.has(f)) throw new ValidationError('ports', r.hostIp, `endpoint ${ep.name} has no IPv${f} address to publish on ${r.hostIp}`);
      keys = [toBig(r.hostIp)!.n === 0n ? ANY[f] : r.hostIp];
    }
    // Reserves hostPort on each key, but for those a sibling publishes alike (standby: recorded, not reserved).
    const take = (hostPort: number, containerPort: number, standby: ReadonlySet<string> = new Set()) => {
      for (const k of keys) {
        const m: PortMapping = { protocol: r.protocol, hostIp: k, hostPort, containerPort };
        if (standby.has(k)) m.standby = true;
        else t.reserve(portPool(r.protocol, hostPort), k, ep.id);
        out.push(m);
      }
    };
    const pick = (lo: number, hi: number, start: number): number | null => {
      const n = hi - lo + 1;
      for (let i = 0; i < n; i++) {
        const p = lo + ((start - lo + i) % n);
        if (holder(t, r.protocol, p, keys) || keys.some((k) => inUse?.(r.protocol, p, k))) continue;
        if (!out.some((m) => m.protocol === r.protocol && m.hostPort === p && keys.some((k) => clashes(m.hostIp, k)))) return p;
      }
      return null;
    };
    if (choosesPort(r)) {
      // One port, chosen: ephemeral ones resume after the last handed out (as IPAM does).
      const [lo, hi] = r.hostPort === null ? ephemeral : [r.hostPort, r.hostPortEnd!];
      for (let c = r.containerPort; c <= r.containerPortEnd; c++) {
        const cursorKey = `port/${r.protocol}`;
        const last = r.hostPort === null ? Number(t.cursor(cursorKey) ?? lo - 1) : lo - 1;
        const p = pick(lo, hi, last + 1 > hi || last + 1 < lo ? lo : last + 1);
        if (p === null) throw NsnetError.state('ERR_NSNET_EXHAUSTED', 'port.publish', `${lo}-${hi}/${r.protocol}`, `no free host port in ${lo}-${hi}/${r.protocol}`);
        if (r.hostPort === null) t.setCursor(cursorKey, String(p));
        take(p, c);
      }
      continue;
    }
    for (let i = 0; i <= r.containerPortEnd - r.containerPort; i++) {
      const hp = r.hostPort! + i;
      const cp = r.containerPort + i;
      if (out.some((m) => m.protocol === r.protocol && m.hostPort === hp && keys.some((k) => clashes(m.hostIp, k))))
        throw new ValidationError('ports', `${hp}/${r.protocol}`, 'is published twice in the same request');
      // Per key: shared with a sibling that publishes the same, or refused, or free.
      const standby = new Set<string>();
      for (const k of keys) {
        const held = holder(t, r.protocol, hp, [k]);
        if (held && sibling(t, ep, held.owner, { protocol: r.protocol, hostIp: k, hostPort: hp, containerPort: cp })) standby.add(k);
        else if (held)
          throw NsnetError.state('ERR_NSNET_IN_USE', 'port.publish', `${hp}/${r.protocol}`,
            `host port ${hostPort(held.address, hp, r.protocol)} is already published by ${owner(t, held.owner)}`);
        else {
          const host = inUse?.(r.protocol, hp, k);
          if (host) throw listened(r.protocol, hp, k, host);
        }
      }
      take(hp, cp, standby);
    }
  }
  return out;
}

/** Gives an endpoint's host ports back; inside a store transaction. */
export function releasePorts(t: StoreTx, ep: EndpointRecord): void {
  for (const m of ep.ports ?? []) {
    if (m.standby) continue; // held by another endpoint, if by any
    const pool = portPool(m.protocol, m.hostPort);
    if (t.allocation(pool, m.hostIp) === ep.id) t.release(pool, m.hostIp);
  }
}

/**
 * Takes back the host ports an endpoint's record lists (the undo of a
 * change of them); one another endpoint took meanwhile stays its.
 */
export function holdPorts(t: StoreTx, ep: EndpointRecord): void {
  for (const m of ep.ports ?? []) {
    if (m.standby) continue;
    const pool = portPool(m.protocol, m.hostPort);
    if (t.allocation(pool, m.hostIp) === null) t.reserve(pool, m.hostIp, ep.id);
  }
}

/** An endpoint that took over host ports it stood by for: its record before, and the mappings it took. */
export interface Promoted {
  before: EndpointRecord;
  took: PortMapping[];
}

/** Those endpoints with only the mappings they took: what the firewall publishes for them now. */
export const takers = (promoted: Promoted[]): EndpointRecord[] => promoted.map((h) => ({ ...h.before, ports: h.took }));

/** The endpoints of sandboxId but except that stand by for some mapping. */
const standing = (t: StoreTx, sandboxId: string, except: string) => t.endpoints({ sandboxId }).filter((e) => e.id !== except && e.ports?.some((m) => m.standby));

/**
 * Gives host ports that have just been let go (their reservations released)
 * to the endpoints of sandboxId (but except) standing by for them: each
 * mapping's first such endpoint reserves it, and its mapping is published
 * from now on. A port held again meanwhile (asked for again alike, or
 * overlapping another reservation) stays where it is; retaking (the
 * endpoint that let them go, as it is now) may not have taken one again
 * for another mapping (refuseRetaken). Returns, per endpoint
 * that took any, its record before and the mappings it took. Inside a store
 * transaction; the endpoints are put back.
 */
export function promoteStandby(t: StoreTx, sandboxId: string, gone: PortMapping[], except: string, retaking?: EndpointRecord): Promoted[] {
  if (!gone.length) return [];
  const eps = standing(t, sandboxId, except);
  if (retaking) refuseRetaken(t, eps, retaking, gone);
  return promoteAmong(t, eps, gone);
}

/** promoteStandby among eps, the endpoints standing by. */
function promoteAmong(t: StoreTx, eps: EndpointRecord[], gone: PortMapping[]): Promoted[] {
  const out = new Map<string, Promoted & { after: EndpointRecord }>();
  for (const m of gone) {
    const heir = eps.find((e) => e.ports!.some((x) => x.standby && sameMapping(x, m)));
    if (!heir || holder(t, m.protocol, m.hostPort, [m.hostIp])) continue;
    let h = out.get(heir.id);
    if (!h) out.set(heir.id, (h = { before: { ...heir, ports: heir.ports!.map((x) => ({ ...x })) }, after: heir, took: [] }));
    const x = heir.ports!.find((y) => y.standby && sameMapping(y, m))!;
    delete x.standby;
    t.reserve(portPool(m.protocol, m.hostPort), m.hostIp, heir.id);
    h.took.push({ ...x });
  }
  for (const h of out.values()) t.putEndpoint(h.after);
  return [...out.values()].map(({ before, took }) => ({ before, took }));
}

/**
 * Refuses (ERR_NSNET_IN_USE) ep's taking again, for another mapping, a host
 * port it let go (gone) that an endpoint standing by (eps) waits for: that
 * one has the first claim.
 */
function refuseRetaken(t: StoreTx, eps: EndpointRecord[], ep: EndpointRecord, gone: PortMapping[]): void {
  for (const m of gone) {
    if (ep.ports?.some((x) => !x.standby && sameMapping(x, m))) continue;
    const heir = eps.find((e) => e.ports!.some((x) => x.standby && sameMapping(x, m)));
    if (heir && holder(t, m.protocol, m.hostPort, [m.hostIp])?.owner === ep.id)
      throw NsnetError.state('ERR_NSNET_IN_USE', 'port.publish', `${m.hostPort}/${m.protocol}`,
        `host port ${hostPort(m.hostIp, m.hostPort, m.protocol)} is stood by for by endpoint ${heir.name} of the same sandbox, to container port ${m.containerPort}`);
  }
}

/** The undo of promoteStandby: the endpoints stand by again, and their reservations go. */
export function demoteStandby(t: StoreTx, promoted: Promoted[]): void {
  for (const { before, took } of promoted) {
    for (const m of took) {
      const pool = portPool(m.protocol, m.hostPort);
      if (t.allocation(pool, m.hostIp) === before.id) t.release(pool, m.hostIp);
    }
    t.putEndpoint(before);
  }
}

/**
 * An endpoint leaving sandboxId hands over the host ports that other
 * endpoints of the sandbox stand by for: its reservation goes to them and
 * the mapping leaves its record (as the default route goes to an heir), as
 * do the mappings it stood by for itself.
 * Returns what promoteStandby returns; the caller puts ep back.
 */
export function handOverPorts(t: StoreTx, ep: EndpointRecord, sandboxId: string): Promoted[] {
  if (!ep.ports?.length) return [];
  const eps = standing(t, sandboxId, ep.id);
  const gone = ep.ports.filter((m) => !m.standby && eps.some((e) => e.ports!.some((w) => w.standby && sameMapping(w, m))));
  for (const m of gone) {
    const pool = portPool(m.protocol, m.hostPort);
    if (t.allocation(pool, m.hostIp) === ep.id) t.release(pool, m.hostIp);
  }
  // What it stood by for stays with the sandbox: it is another endpoint's there.
  const kept = (ep.ports ?? []).filter((m) => !m.standby && !gone.includes(m));
  if (kept.length) ep.ports = kept;
  else delete ep.ports;
  return promoteAmong(t, eps, gone);
}

/**
 * Mappings stood by for whose holder went without handing them over (a
 * leave that failed before its hand-over): one whose host port nobody holds
 * (nor overlaps) and no other endpoint of its sandbox lists as published is
 * taken over; one that no endpoint of its sandbox publishes alike (or of an
 * endpoint in no sandbox) goes. Sandboxes busy says are at work are left
 * alone. Returns what it found (dry: only that, changing nothing); the
 * firewall then follows the store.
 */
export function repairStandby(t: StoreTx, busy: (sandboxId: string) => boolean, dry = false): string[] {
  const found: string[] = [];
  for (const e of t.endpoints()) {
    if (!e.ports?.some((m) => m.standby) || (e.sandboxId && busy(e.sandboxId))) continue;
    const siblings = e.sandboxId ? t.endpoints({ sandboxId: e.sandboxId }).filter((x) => x.id !== e.id) : [];
    const kept: PortMapping[] = [];
    let changed = false;
    for (const m of e.ports) {
      if (!m.standby) {
        kept.push(m);
        continue;
      }
      const key = hostPort(m.hostIp, m.hostPort, m.protocol);
      const held = holder(t, m.protocol, m.hostPort, [m.hostIp]);
      const listed = siblings.find((x) => x.ports?.some((y) => !y.standby && sameMapping(y, m)));
      if (e.sandboxId && !held && !listed) {
        if (!dry) {
          delete m.standby;
          t.reserve(portPool(m.protocol, m.hostPort), m.hostIp, e.id);
        }
        kept.push(m);
        changed = true;
        found.push(`endpoint ${e.name}: took over host port ${key}, which it stood by for and nobody held`);
      } else if (held && held.address === m.hostIp && listed?.id === held.owner) {
        kept.push(m);
      } else {
        changed = true;
        found.push(`endpoint ${e.name}: stood by for host port ${key}, which no other endpoint of its sandbox publishes alike; dropped`);
      }
    }
    if (!changed || dry) continue;
    if (kept.length) e.ports = kept;
    else delete e.ports;
    t.putEndpoint(e);
  }
  return found;
}
