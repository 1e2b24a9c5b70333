// How a process tells `nsnet daemon` about its sandboxes, so the daemon's
// resolver serves them: one JSON object a line each way, over the DNS
// door's root-only unix socket, one reply per request, in order, but for a
// handover. Requests name a sandbox by id, and the daemon reads it from
// its own store (which the caller shares, as `store` proves), but for a
// handover, which carries the creator's records as it just stored them.
//   { "op": "hello", "store": id }              -> { "ok": true } when the daemon's store is that one
//   { "op": "live", "store": id, "sandbox": id } -> after the daemon serves it as the store says
//        (opening its resolver's sockets in its namespace if it has none)
//   { "op": "gone", "store": id, "sandbox": id } -> after its names and sockets are gone
//   any failure                                 -> { "ok": false, "error": "..." }
//   a handover: a new sandbox, with the sockets its creator opened in its
//   namespace (UDP, then TCP, at 127.0.0.11:53) attached (SCM_RIGHTS):
//   { "op": "live", "store": id, "sandbox": id, "state": SandboxState, "fds": 2 }
//        -> no answer. Its sockets take queries from the moment they were
//        opened (they wait in them), and a query for a name no sandbox
//        has makes the daemon read every line waiting on its door (and
//        every request does) before it answers, so a new sandbox's name
//        resolves as soon as its create returns; another holder of an
//        alias joins the alias's addresses on the daemon's next turn. The
//        creator waits for nothing, and the daemon does no work while it
//        runs.

import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../store/store.js';

/** The DNS door's socket: NSNET_DNS_SOCKET, else beside the CNI shim's. */
export function defaultDnsSocket(): string {
  return process.env.NSNET_DNS_SOCKET || '/run/nsnet/dns.sock';
}

export interface DoorRequest {
  op: 'hello' | 'live' | 'gone';
  store: string;
  sandbox?: string;
  /** A handover's: the sandbox as its creator stored it (networks as [id, record] pairs). */
  state?: { sandbox: SandboxRecord; endpoints: EndpointRecord[]; networks: [string, NetworkRecord][] };
  /** How many fds came with it. */
  fds?: number;
}

export type DoorReply = { ok: true } | { ok: false; error: string };

/** The longest line either side takes: a handover's records are a few KiB at most. */
export const MAX_LINE = 1 << 20;

/**
 * Splits a stream into lines, each handed to `line`; false (and nothing
 * more) once a line is longer than MAX_LINE. pending(): whether part of a
 * line is waiting for its end.
 */
export function lineReader(line: (text: string) => void): ((data: Buffer) => boolean) & { pending(): boolean } {
  let buf = '';
  const read = (data: Buffer) => {
    buf += data.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      line(l);
    }
    return buf.length <= MAX_LINE;
  };
  return Object.assign(read, { pending: () => buf.length > 0 });
}
