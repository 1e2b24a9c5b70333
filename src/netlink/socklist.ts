// The sockets of a namespace (sock_diag from inside it), named as `ss`
// names them: what a tenant may have left behind in a sandbox.
import type { NativeSocket } from '../native.js';

const TCP_STATES = ['', 'ESTAB', 'SYN-SENT', 'SYN-RECV', 'FIN-WAIT-1', 'FIN-WAIT-2', 'TIME-WAIT', 'UNCONN', 'CLOSE-WAIT', 'LAST-ACK', 'LISTEN', 'CLOSING'];
const IP_PROTO: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 33: 'dccp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite', 255: 'raw' };
const FAMILY: Record<number, SocketInfo['family']> = { 1: 'unix', 2: 'inet', 10: 'inet6', 16: 'netlink', 17: 'packet' };
const SOCK_TYPE: Record<number, string> = { 1: 'stream', 2: 'dgram', 3: 'raw', 5: 'seqpacket' };

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
    inode: s.inode,
  };
}

/** One socket in a line: `tcp 10.0.0.2:80 LISTEN`, `packet 0x0003`, `unix @name`. */
export function describeSocket(s: NativeSocket): string {
  const i = toSocketInfo(s);
  const what = i.family === 'inet' || i.family === 'inet6' ? i.protocol : `${i.family}${i.protocol ? ` ${i.protocol}` : ''}`;
  return [what, i.local, i.remote ? `-> ${i.remote}` : '', i.state].filter(Boolean).join(' ');
}
