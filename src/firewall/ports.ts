// Published ports: Docker's `-p` syntax parsed and checked, and host ports
// reserved in the store, so two processes sharing a state directory never
// publish the same one (the store's writers take turns) and a clash names
// the endpoint that holds the port.
//
//   [hostIP:][hostPort[-end]:]containerPort[-end][/tcp|udp|sctp]
//   80               an ephemeral host port -> 80
//   8080:80          8080 on every host address -> 80
//   8080-8082:80-82  port by port
//   8080-8090:80     the first free host port of the range -> 80
//   127.0.0.1:8080:80, [::1]:8080:80, 10.0.0.5::80 (ephemeral on that address)
import { NsnetError, ValidationError } from '../errors.js';
import { toBig } from '../ipaddr.js';
import type { EndpointRecord, PortMapping, StoreTx } from '../store/store.js';

export type Protocol = PortMapping['protocol'];
const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp', 'sctp'];

/** A `-p` request, parsed: host ports not yet chosen. */
export interface PortRequest {
  protocol: Protocol;
  /** null: every address (of each family the endpoint has). */
  hostIp: string | null;
  /** null: an ephemeral port. */
  hostPort: number | null;
  hostPortEnd: number | null;
  containerPort: number;
  containerPortEnd: number;
}

/** The object form of a published port. */
export interface PortOptions {
  containerPort: number;
  hostPort?: number;
  hostIp?: string;
  protocol?: Protocol;
}

function portNumber(s: string, field: string, spec: unknown): number {
  if (!/^\d{1,5}$/.test(s)) throw new ValidationError(field, spec, `'${s}' is not a port number`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw new ValidationError(field, spec, `port ${n} is out of range (1 to 65535)`);
  return n;
}

function range(s: string, field: string, spec: unknown): [number, number] {
  const [a, b, more] = s.split('-');
  if (more !== undefined || a === undefined) throw new ValidationError(field, spec, `'${s}' is not a port or a range`);
  const lo = portNumber(a, field, spec);
  const hi = b === undefined ? lo : portNumber(b, field, spec);
  if (hi < lo) throw new ValidationError(field, spec, `range ${s} ends before it starts`);
  return [lo, hi];
}

function hostAddress(s: string, field: string, spec: unknown): string {
  const a = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (!toBig(a)) throw new ValidationError(field, spec, `'${s}' is not an IP address`);
  return a;
}

/** Parses one `-p` value (or its object form); throws ValidationError. */
export function parsePort(spec: string | PortOptions, field = 'ports'): PortRequest {
  if (spec && typeof spec === 'object') {
    const protocol = spec.protocol ?? 'tcp';
    if (!PROTOCOLS.includes(protocol)) throw new ValidationError(`${field}.protocol`, protocol, "must be 'tcp', 'udp' or 'sctp'");
    const c = portNumber(String(spec.containerPort), `${field}.containerPort`, spec.containerPort);
    const h = spec.hostPort === undefined ? null : portNumber(String(spec.hostPort), `${field}.hostPort`, spec.hostPort);
    return {
      protocol, hostIp: spec.hostIp === undefined ? null : hostAddress(spec.hostIp, `${field}.hostIp`, spec.hostIp),
      hostPort: h, hostPortEnd: h, containerPort: c, containerPortEnd: c,
    };
  }
  if (typeof spec !== 'string' || !spec) throw new ValidationError(field, spec, 'must be [hostIP:][hostPort:]containerPort[/protocol]');
  let body = spec;
  let protocol: Protocol = 'tcp';
  const slash = spec.lastIndexOf('/');
  if (slash >= 0) {
    const p = spec.slice(slash + 1).toLowerCase();
    if (!PROTOCOLS.includes(p as Protocol)) throw new ValidationError(field, spec, `unknown protocol '${p}' (tcp, udp or sctp)`);
    protocol = p as Protocol;
    body = spec.slice(0, slash);
  }
  // The host IP may be an IPv6 address in brackets, full of colons itself.
  let hostIp: string | null = null;
  if (body.startsWith('[')) {
    const close = body.indexOf(']:');
    if (close < 0) throw new ValidationError(field, spec, 'an IPv6 host address is written [address]:hostPort:containerPort');
    hostIp = hostAddress(body.slice(0, close + 1), field, spec);
    body = body.slice(close + 2);
  }
  const parts = body.split(':');
  if (hostIp === null && parts.length === 3) hostIp = hostAddress(parts.shift()!, field, spec);
  if (parts.length > 2 || (hostIp !== null && parts.length !== 2)) throw new ValidationError(field, spec, 'must be [hostIP:][hostPort:]containerPort[/protocol]');
  const [c, ce] = range(parts[parts.length - 1]!, field, spec);
  const hostPart = parts.length === 2 ? parts[0]! : '';
  if (!hostPart) return { protocol, hostIp, hostPort: null, hostPortEnd: null, containerPort: c, containerPortEnd: ce };
  const [h, he] = range(hostPart, field, spec);
  if (ce !== c && he - h !== ce - c) throw new ValidationError(field, spec, `host range ${hostPart} and container range ${parts[1]} differ in length`);
  return { protocol, hostIp, hostPort: h, hostPortEnd: he, containerPort: c, containerPortEnd: ce };
}

export function parsePorts(specs: unknown, field = 'ports'): PortRequest[] {
  if (specs === undefined) return [];
  if (!Array.isArray(specs)) throw new ValidationError(field, specs, 'must be a list of port mappings');
  return specs.map((s, i) => parsePort(s as string | PortOptions, `${field}[${i}]`));
}

const ANY = { 4: '0.0.0.0', 6: '::' } as const;
const familyOf = (addr: string) => (addr.includes(':') ? 6 : 4);
const isAny = (addr: string) => addr === ANY[4] || addr === ANY[6];

/** The store pool one host port's holders live in; the address field is the host address. */
export const portPool = (protocol: Protocol, port: number) => `port/${protocol}/${port}`;

/** Keys that clash: the same address, or "every address" and one address of the same family. */
function clashes(a: string, b: string): boolean {
  return a === b || (familyOf(a) === familyOf(b) && (isAny(a) || isAny(b)));
}

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

/**
 * Chooses and reserves the host ports of an endpoint's requests; runs inside
 * the store transaction that records the endpoint, so a clash rolls it all
 * back. `ephemeral` is the range ephemeral ports come from.
 */
export function reservePorts(t: StoreTx, ep: EndpointRecord, reqs: PortRequest[], ephemeral: [number, number]): PortMapping[] {
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
        if (!holder(t, r.protocol, p, keys) && !out.some((m) => m.protocol === r.protocol && m.hostPort === p && keys.some((k) => clashes(m.hostIp, k)))) return p;
      }
      return null;
    };
    if (r.hostPort === null || (r.hostPortEnd !== r.hostPort && r.containerPortEnd === r.containerPort)) {
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
      const hp = r.hostPort + i;
      if (out.some((m) => m.protocol === r.protocol && m.hostPort === hp && keys.some((k) => clashes(m.hostIp, k))))
        throw new ValidationError('ports', `${hp}/${r.protocol}`, 'is published twice in the same request');
      const held = holder(t, r.protocol, hp, keys);
      if (held)
        throw NsnetError.state('ERR_NSNET_IN_USE', 'port.publish', `${hp}/${r.protocol}`,
          `host port ${held.address.includes(':') ? `[${held.address}]` : held.address}:${hp}/${r.protocol} is already published by ${owner(t, held.owner)}`);
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

/** `0.0.0.0:8080->80/tcp`, as docker ps prints it. */
export function formatPort(m: PortMapping): string {
  return `${m.hostIp.includes(':') ? `[${m.hostIp}]` : m.hostIp}:${m.hostPort}->${m.containerPort}/${m.protocol}`;
}
