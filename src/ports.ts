// Published ports as a user writes them: Docker's `-p` syntax parsed and
// checked, with no kernel, store or firewall involved (reserving the host
// ports is the store's part: store/ports.ts; publishing them the firewall's).
//
//   [hostIP:][hostPort[-end]:]containerPort[-end][/tcp|udp|sctp]
//   80               an ephemeral host port -> 80
//   8080:80          8080 on every host address -> 80
//   8080-8082:80-82  port by port
//   8080-8090:80     the first free host port of the range -> 80
//   127.0.0.1:8080:80, [::1]:8080:80, 10.0.0.5::80 (ephemeral on that address)
import { ValidationError } from './errors.js';
import { toBig } from './ipaddr.js';
import type { PortMapping } from './store/store.js';

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

/** `0.0.0.0:8080->80/tcp`, as docker ps prints it. */
export function formatPort(m: PortMapping): string {
  return `${m.hostIp.includes(':') ? `[${m.hostIp}]` : m.hostIp}:${m.hostPort}->${m.containerPort}/${m.protocol}`;
}
