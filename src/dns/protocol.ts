// How a process tells `nsnet daemon` about its sandboxes, so the daemon's
// resolver serves them: one JSON object a line each way, over the DNS
// door's root-only unix socket, one reply per request, in order. Requests
// name a sandbox by id only; the daemon reads the sandbox from its own
// store (which the caller shares, as `store` proves), so a caller cannot
// make it serve names the store does not say.
//   { "op": "hello", "store": id }                 -> { "ok": true } when the daemon's store is that one
//   { "op": "planned", "store": id, "sandbox": id } -> once its names resolve as the store says
//        (a new sandbox, whose kernel trip is under way: the creator asks
//        first, so the round trip runs beside the trip)
//   { "op": "live", "store": id, "sandbox": id }    -> after the daemon serves it as the store says,
//        its resolver's sockets opened by the daemon in its namespace; or
//   { ..., "op": "live", "fds": 2 } with the sockets the creator opened in
//        the new namespace (UDP, then TCP, at 127.0.0.11:53) attached
//        (SCM_RIGHTS): served with those
//   { "op": "gone", "store": id, "sandbox": id }    -> after its names and sockets are gone
//   any failure                                    -> { "ok": false, "error": "..." }

/** The DNS door's socket: NSNET_DNS_SOCKET, else beside the CNI shim's. */
export function defaultDnsSocket(): string {
  return process.env.NSNET_DNS_SOCKET || '/run/nsnet/dns.sock';
}

export interface DoorRequest {
  op: 'hello' | 'planned' | 'live' | 'gone';
  store: string;
  sandbox?: string;
  /** How many fds came with it. */
  fds?: number;
}

export type DoorReply = { ok: true } | { ok: false; error: string };

/** The longest line either side takes: requests and replies are a few dozen bytes. */
export const MAX_LINE = 4096;

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
