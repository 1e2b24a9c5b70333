// Docker's port bindings (libnetwork's types.PortBinding, as JSON in the
// options com.docker.network.portmap) and nsnet's `-p` values. Docker
// passes a container's bindings as it parsed them from `-p` and `-P`: a
// host port of 0 is an ephemeral one, HostPort-HostPortEnd a range to
// choose one from, an empty HostIP every address.
import type { PortMapping } from '../store/store.js';
import { badRequest, type Body } from './protocol.js';

export const PORTMAP = 'com.docker.network.portmap';
export const EXPOSED = 'com.docker.network.endpoint.exposedports';

const PROTOCOLS: Record<number, PortMapping['protocol']> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const NUMBERS: Record<PortMapping['protocol'], number> = { tcp: 6, udp: 17, sctp: 132 };

function port(b: Body, k: string, min: number): number {
  const v = b[k] ?? 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 65535) throw badRequest(`${PORTMAP}: ${k} ${JSON.stringify(v)} is not a port`);
  return v;
}

/** The `-p` value of one binding, for Endpoint.publish. */
function spec(b: Body): string {
  const proto = PROTOCOLS[b.Proto as number];
  if (!proto) throw badRequest(`${PORTMAP}: Proto ${JSON.stringify(b.Proto)} is not tcp (6), udp (17) or sctp (132)`);
  const containerPort = port(b, 'Port', 1);
  const hostPort = port(b, 'HostPort', 0);
  const end = port(b, 'HostPortEnd', 0);
  const ip = b.HostIP ?? '';
  if (typeof ip !== 'string') throw badRequest(`${PORTMAP}: HostIP must be a string`);
  const host = hostPort === 0 ? '' : end > hostPort ? `${hostPort}-${end}` : String(hostPort);
  const addr = ip.includes(':') ? `[${ip}]` : ip;
  return `${addr ? `${addr}:` : ''}${addr || host ? `${host}:` : ''}${containerPort}/${proto}`;
}

/** The bindings in a call's options, as `-p` values; [] when it has none. */
export function portSpecs(options: Body): string[] {
  const v = options[PORTMAP];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => x === null || typeof x !== 'object')) throw badRequest(`${PORTMAP} must be a list of port bindings`);
  return (v as Body[]).map(spec);
}

/** nsnet's published ports as Docker's bindings (each with its chosen host port). */
export function portBindings(ports: PortMapping[]): Body[] {
  return ports.map((m) => ({ Proto: NUMBERS[m.protocol], IP: '', Port: m.containerPort, HostIP: m.hostIp, HostPort: m.hostPort, HostPortEnd: m.hostPort }));
}
