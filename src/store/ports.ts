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
    const take = (hostPort: number, containerPort: number) => {
      for (const k of keys) {
        t.reserve(portPool(r.protocol, hostPort), k, ep.id);
        out.push({ protocol: r.protocol, hostIp: k, hostPort, containerPort });
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
      if (out.some((m) => m.protocol === r.protocol && m.hostPort === hp && keys.some((k) => clashes(m.hostIp, k))))
        throw new ValidationError('ports', `${hp}/${r.protocol}`, 'is published twice in the same request');
      const held = holder(t, r.protocol, hp, keys);
      if (held)
        throw NsnetError.state('ERR_NSNET_IN_USE', 'port.publish', `${hp}/${r.protocol}`,
          `host port ${hostPort(held.address, hp, r.protocol)} is already published by ${owner(t, held.owner)}`);
      for (const k of keys) {
        const host = inUse?.(r.protocol, hp, k);
        if (host) throw listened(r.protocol, hp, k, host);
      }
      take(hp, r.containerPort + i);
    }
  }
  return out;
}

/** Gives an endpoint's host ports back; inside a store transaction. */
export function releasePorts(t: StoreTx, ep: EndpointRecord): void {
  for (const m of ep.ports ?? []) {
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
    const pool = portPool(m.protocol, m.hostPort);
    if (t.allocation(pool, m.hostIp) === null) t.reserve(pool, m.hostIp, ep.id);
  }
}
