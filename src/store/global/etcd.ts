// The connection to etcd and this host's lease. Every call has a deadline,
// so that while etcd is unreachable a global operation fails with a clear
// error within a bounded time instead of waiting for it; reconnection is
// quick (100 ms growing to 1 s) so that work resumes soon after etcd does.
// No retry policy or circuit breaker sits in between: a failed commit is
// the caller's to report, and one that conflicted is retried by the store.
// Only a start-up step that finds no connection tries again, within its
// deadline (whileUnreachable).
import type { IBackoff } from 'cockatiel';
import type { Etcd3 } from 'etcd3';

import { NsnetError } from '../../errors.js';

/** How long one call to etcd may take before it is given up: NSNET_ETCD_TIMEOUT_MS, else 3 s. */
export const DEFAULT_TIMEOUT_MS = 3000;

/**
 * A client of the etcd cluster at hosts. The client (and gRPC under it) is
 * loaded here, on first use: a process that never opens a global store
 * (every CLI command, every local-only runtime) does not pay its start-up.
 */
export async function openClient(hosts: string[], timeoutMs: number): Promise<Etcd3> {
  const [{ Etcd3 }, { ExponentialBackoff, noop }] = await Promise.all([import('etcd3'), import('cockatiel')]);
  return new Etcd3({
    hosts,
    dialTimeout: timeoutMs,
    // The client calls next() on the watch backoff: it takes the factory, whatever its types say.
    faultHandling: { host: () => noop, global: noop, watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) as unknown as IBackoff<unknown> },
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      'grpc.keepalive_time_ms': 5000,
      'grpc.keepalive_timeout_ms': 2000,
      'grpc.keepalive_permit_without_calls': 1,
    },
    defaultCallOptions: (c) => (c.isStream ? {} : { deadline: Date.now() + timeoutMs }),
  });
}

/** How long after a dropped connection a call is tried again. */
const RETRY_MS = 100;

/**
 * Runs call until it succeeds, fails otherwise than with UNAVAILABLE (no
 * connection), or the deadline is near. A dropped connection is often
 * gone for a moment only (a keepalive answered late after the machine
 * paused, etcd restarting): gRPC connects again for the next call, so a
 * start-up step that can run twice tries again rather than fail at once.
 * Nothing else is retried: a deadline passed is the caller's timeout, and
 * what etcd refused it will refuse again.
 */
export async function whileUnreachable<T>(deadline: number, call: (deadline: number) => Promise<T>): Promise<T> {
  const { GRPCUnavailableError } = await import('etcd3');
  for (;;) {
    try {
      return await call(deadline);
    } catch (e) {
      if (!(e instanceof GRPCUnavailableError) || Date.now() + RETRY_MS >= deadline) throw e;
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
}

/** An etcd failure as one line that says which store, what was being done, and why. */
export function globalError(url: string, op: string, e: unknown): NsnetError {
  if (e instanceof NsnetError) return e;
  const text = String((e as Error)?.message ?? e).split('\n')[0]!;
  const name = (e as Error)?.name ?? '';
  const why = /Unavailable|DeadlineExceeded|No connection|ECONNREFUSED|connect|Deadline|dial/i.test(`${name} ${text}`)
    ? `etcd is unreachable (${text}); local networks keep working, global ones wait for it`
    : text;
  return new NsnetError(`global store ${url}: ${op}: ${why}`, { code: 'ERR_NSNET_GLOBAL_STORE', op, object: url }, { cause: e });
}

/**
 * This host's lease: granted once, kept alive every ttl/3, and granted
 * anew when etcd says it is gone (it expired while etcd was unreachable
 * for longer than the TTL, or someone revoked it): onLost then puts this
 * host's keys under the new one. While etcd is unreachable it keeps
 * trying; etcd itself extends every lease by its TTL when it comes back.
 */
export class HostLease {
  id: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** How many times the lease was granted anew after it was lost. */
  regrants = 0;

  constructor(
    private readonly client: Etcd3,
    readonly ttl: number,
    private readonly timeoutMs: number,
    private readonly onLost: (id: string) => Promise<void>,
    private readonly log: (line: string) => void,
  ) {}

  async grant(deadline = Date.now() + this.timeoutMs): Promise<string> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: this.ttl }, { deadline });
    this.id = String(res.ID);
    this.schedule(this.ttl * 333);
    return this.id;
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.beat(), ms);
    this.timer.unref();
  }

  /** One keepalive; the TTL etcd answers with is <= 0 when the lease is gone. */
  private async keepalive(id: string): Promise<number> {
    const stream = await this.client.leaseClient.leaseKeepAlive();
    try {
      return await new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('keepalive timed out')), this.timeoutMs);
        stream.on('data', (r: { TTL: string }) => {
          clearTimeout(t);
          resolve(Number(r.TTL));
        });
        stream.on('error', (e: Error) => {
          clearTimeout(t);
          reject(e);
        });
        stream.write({ ID: id });
      });
    } finally {
      stream.end();
    }
  }

  private async beat(): Promise<void> {
    const id = this.id;
    if (this.closed || id === null) return;
    let ttl: number;
    try {
      ttl = await this.keepalive(id);
    } catch {
      // Unreachable: try again soon, so the lease is renewed as soon as etcd answers.
      return this.schedule(Math.min(500, this.ttl * 200));
    }
    if (ttl > 0) return this.schedule(this.ttl * 333);
    try {
      await this.grant();
      this.regrants++;
      this.log(`global store: lease ${id} was gone; granted ${this.id} and registered this host's keys again`);
      await this.onLost(this.id!);
    } catch (e) {
      this.log(`global store: registering again failed: ${(e as Error).message}`);
      this.schedule(500);
    }
  }

  /** Stops keeping it alive; revoke takes the host's keys away at once, else they go when the TTL runs out. */
  async close(revoke: boolean): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (revoke && this.id) await this.client.leaseClient.leaseRevoke({ ID: this.id }, { deadline: Date.now() + this.timeoutMs }).catch(() => {});
  }
}
