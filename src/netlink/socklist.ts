// The sockets of a namespace (sock_diag from inside it), named as `ss`
// names them: what a tenant may have left behind in a sandbox.
import { NsnetError, ValidationError } from '../errors.js';
import { native, type NativeSocket } from '../native.js';
import type { HasHandle } from './batch.js';

const TCP_STATES = ['', 'ESTAB', 'SYN-SENT', 'SYN-RECV', 'FIN-WAIT-1', 'FIN-WAIT-2', 'TIME-WAIT', 'UNCONN', 'CLOSE-WAIT', 'LAST-ACK', 'LISTEN', 'CLOSING'];
const IP_PROTO: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite', 255: 'raw' };
const FAMILY: Record<number, SocketInfo['family']> = { 1: 'unix', 2: 'inet', 10: 'inet6', 16: 'netlink', 17: 'packet' };
const SOCK_TYPE: Record<number, string> = { 1: 'stream', 2: 'dgram', 3: 'raw', 5: 'seqpacket' };

/** The kinds of socket a SocketFilter names, in the addon's bit order. */
const KINDS = ['tcp', 'udp', 'udplite', 'sctp', 'dccp', 'raw', 'unix', 'packet', 'netlink'] as const;
export type SocketKind = (typeof KINDS)[number];

/** Which sockets Netns.sockets() lists (every one by default). */
export interface SocketFilter {
  /** Only these kinds (raw: inet raw sockets of any IP protocol). */
  protocols?: SocketKind[];
  /** Only inet sockets of this family (unix, packet and netlink ones are listed still, as protocols says). */
  family?: 4 | 6;
  /**
   * Only inet and unix sockets in these states, as `state` names them
   * (LISTEN, ESTAB, UNCONN, TIME-WAIT ...); packet and netlink sockets,
   * which have none, are left out. The kernel filters: asking for LISTEN
   * alone walks only its listening hash, not every connection's.
   */
  states?: string[];
}

/** A filter in the addon's terms: kinds, states and families bit masks. */
export function socketQuery(f: SocketFilter = {}): [kinds: number, states: number, families: number] {
  if (f === null || typeof f !== 'object') throw new ValidationError('filter', f, 'must be { protocols?, family?, states? }');
  const bits = <T>(list: T[] | undefined, what: string, index: (x: T) => number): number | undefined => {
    if (list === undefined) return undefined;
    if (!Array.isArray(list) || !list.length) throw new ValidationError(what, list, 'must be a non-empty list');
    return list.reduce((m, x) => {
      const i = index(x);
      if (i < 0) throw new ValidationError(what, x, 'is not one nsnet knows');
      return (m | (1 << i)) >>> 0;
    }, 0);
  };
  const kinds = bits(f.protocols, 'filter.protocols', (k) => KINDS.indexOf(k)) ?? (1 << KINDS.length) - 1;
  const states = bits(f.states, 'filter.states', (s) => (s ? TCP_STATES.indexOf(s) : -1)) ?? 0xffffffff;
  if (f.family !== undefined && f.family !== 4 && f.family !== 6) throw new ValidationError('filter.family', f.family, 'must be 4 or 6');
  return [kinds, states, f.family === 4 ? 1 : f.family === 6 ? 2 : 3];
}

export interface SocketInfo {
  family: 'inet' | 'inet6' | 'unix' | 'packet' | 'netlink';
  /** tcp, udp, raw/<proto> ...; for unix and packet the socket type (stream, dgram, raw); for netlink its protocol number. */
  protocol: string;
  /** TCP's state names (LISTEN, ESTAB, TIME-WAIT ...) for inet and unix; '' otherwise. */
  state: string;
  /** `address:port` for inet, the path (or @name) for unix, the ethertype for packet, the port id for netlink. */
  local: string;
  /** The peer, for a connected inet socket. */
  remote: string | null;
  /** inet: the local address (null for every address: 0.0.0.0 or ::) and port; null and 0 otherwise. */
  address: string | null;
  port: number;
  /** 0 for sockets no file holds (TIME-WAIT). */
  inode: number;
}

const hostPort = (family: number, addr: string | null, port: number) => (family === 10 ? `[${addr ?? '::'}]:${port}` : `${addr ?? '0.0.0.0'}:${port}`);

export function toSocketInfo(s: NativeSocket): SocketInfo {
  const family = FAMILY[s.family] ?? 'inet';
  const inet = s.family === 2 || s.family === 10;
  const raw = inet && s.type === 3;
  return {
    family,
    protocol: raw ? `raw/${IP_PROTO[s.protocol] ?? s.protocol}` : inet ? (IP_PROTO[s.protocol] ?? String(s.protocol)) : family === 'netlink' ? String(s.protocol) : (SOCK_TYPE[s.type] ?? String(s.type)),
    state: inet || family === 'unix' ? (TCP_STATES[s.state] ?? String(s.state)) : '',
    local: inet ? hostPort(s.family, s.src, s.sport) : family === 'unix' ? s.name : family === 'packet' ? `0x${s.ethertype.toString(16).padStart(4, '0')}` : String(s.portid),
    remote: inet && s.dport ? hostPort(s.family, s.dst, s.dport) : null,
    address: inet && s.src && s.src !== '0.0.0.0' && s.src !== '::' ? s.src : null,
    port: inet ? s.sport : 0,
    inode: s.inode,
  };
}

/** One socket in a line: `tcp 10.0.0.2:80 LISTEN`, `packet 0x0003`, `unix @name`. */
export function describeSocket(s: NativeSocket): string {
  const i = toSocketInfo(s);
  const what = i.family === 'inet' || i.family === 'inet6' ? i.protocol : `${i.family}${i.protocol ? ` ${i.protocol}` : ''}`;
  return [what, i.local, i.remote ? `-> ${i.remote}` : '', i.state].filter(Boolean).join(' ');
}

/**
 * The sockets of ns's namespace that filter names (all by default): one
 * addon job, which dumps each kind asked for from inside the namespace.
 */
export async function listSockets(ns: HasHandle, filter?: SocketFilter): Promise<SocketInfo[]> {
  const [kinds, states, families] = socketQuery(filter);
  try {
    return (await native.sockets(ns.handle, false, kinds, states, families)).items.map(toSocketInfo);
  } catch (e) {
    throw NsnetError.system('sockets', e);
  }
}
