// Namespaces made ahead of time. Making a namespace and, above all,
// tearing one down is the kernel's dearest work for a sandbox (its cleanup
// runs in the background and serialises on rtnl_lock); a pool keeps some
// ready, each with lo up and whatever `prepare` adds (a veth on a bridge),
// made in the background at a bounded rate. take() renames one to its
// owner's name and runs the owner's batch in the same trip. recycle() takes
// one back instead of letting the kernel destroy it, and a reset (reset.ts)
// in the background proves nothing of its tenant is left before it is
// handed out again.
import { ValidationError } from '../errors.js';
import { Batch } from './batch.js';
import { Netns, defaultRunDir } from './netns.js';
import { leftSockets, resetNetns, snapshot, sysctls, type ResetResult, type Snapshot, type Sysctls } from './reset.js';
import type { NativeLink, NativeNetns } from '../native.js';

export interface NetnsPoolOptions<T> {
  /** How many namespaces to keep ready. */
  size: number;
  /** The ready namespaces' names in the run dir: prefix + a number. */
  prefix: string;
  runDir?: string;
  /** What a ready namespace holds beyond lo up (its batch, as Netns.create's then), and what the owner needs to know of it. */
  prepare?: (ns: Netns, n: number) => { batch: Batch; data: T };
  /** At most this many namespaces made per second (default 200). */
  rate?: number;
  /** A namespace that could not be made (the pool tries again later). */
  onError?: (e: unknown) => void;
}

export interface PoolStats {
  size: number;
  /** Ready now. */
  ready: number;
  /** Taken back and being reset in the background. */
  resetting: number;
  /** take() served from the pool, and not (it was empty). */
  hits: number;
  misses: number;
  /** Namespaces made, and taken back by recycle() and reset. */
  made: number;
  recycled: number;
  /** Namespaces recycle() refused, or whose reset failed (all released). */
  refused: number;
  /** Namespaces made per second while refilling, over the last refill. */
  refillRate: number;
  /** Namespaces that could not be made, and the last such error. */
  failures: number;
  lastError: string | null;
}

/** A ready namespace taken from the pool (see NetnsPool.take). */
export interface Claim<T> {
  /** What prepare said of it. */
  readonly data: T;
  /**
   * Renames it to `name` and runs the batch `then` builds, in one trip. If
   * that fails, the namespace is released and the error thrown.
   */
  use(name: string, then?: (ns: Netns, data: T) => Batch): Promise<Netns>;
  /** Returns it to the pool untouched (the caller will not use it). */
  putBack(): void;
}

interface Entry<T> {
  ns: Netns;
  data: T;
  snapshot: Snapshot;
}

export class NetnsPool<T = undefined> {
  private readonly ready: Entry<T>[] = [];
  /** Taken back by recycle(), waiting for (or in) their reset. */
  private readonly dirty: Entry<T>[] = [];
  private cleaning: Promise<void> | null = null;
  /** Namespaces given out by take(), by handle: what recycle() resets them to. */
  private readonly taken = new WeakMap<NativeNetns, Entry<T>>();
  private fresh: Sysctls | null = null;
  private seq = 0;
  /** When the last make started (performance.now()). */
  private lastStart = -Infinity;
  private wake: (() => void) | null = null;
  private filling: Promise<void> | null = null;
  private closed = false;
  private readonly runDir: string;
  private readonly counts = { hits: 0, misses: 0, made: 0, recycled: 0, refused: 0, refillRate: 0, failures: 0, lastError: null as string | null };

  constructor(private readonly o: NetnsPoolOptions<T>) {
    if (!Number.isInteger(o.size) || o.size < 0 || o.size > 4096) throw new ValidationError('pool size', o.size, 'must be an integer from 0 to 4096');
    if (o.rate !== undefined && !(o.rate > 0)) throw new ValidationError('pool rate', o.rate, 'must be a positive number');
    this.runDir = o.runDir ?? defaultRunDir();
    this.fill();
  }

  stats(): PoolStats {
    return { size: this.o.size, ready: this.ready.length, resetting: this.dirty.length + (this.cleaning ? 1 : 0), ...this.counts };
  }

  /** Resolves once every namespace taken back has been reset (or released). */
  async settled(): Promise<void> {
    while (this.cleaning) await this.cleaning;
  }

  /** Resolves once the pool is full (or closed): for callers that want it warm first. */
  async warm(): Promise<void> {
    // The refill's pauses keep no process alive; this wait does.
    const keep = setInterval(() => {}, 1 << 30);
    try {
      while (!this.closed && this.ready.length < this.o.size) await (this.filling ?? this.fill() ?? Promise.resolve());
    } finally {
      clearInterval(keep);
    }
  }

  /**
   * A ready namespace for the caller, or null when none is ready (the
   * caller makes one the usual way). It is the caller's from here: use()
   * gives it its name and batch, putBack() returns it untouched.
   */
  take(): Claim<T> | null {
    const e = this.closed ? undefined : this.ready.shift();
    this.fill();
    if (!e) {
      this.counts.misses++;
      return null;
    }
    this.counts.hits++;
    return {
      data: e.data,
      use: async (name, then) => {
        try {
          await e.ns.move(name, then ? { then: (ns) => then(ns, e.data) } : {});
        } catch (err) {
          await e.ns.delete().catch(() => {});
          throw err;
        }
        this.taken.set(e.ns.handle, e);
        return e.ns;
      },
      putBack: () => {
        if (this.closed) void e.ns.delete().catch(() => {});
        else this.ready.unshift(e);
      },
    };
  }

  /**
   * Takes back a namespace take() gave out. What must be true of it at
   * once is checked here: no socket is left in it (a tenant's process may
   * still hold one), and the pool (ready and being reset) is under twice
   * its size; then the requests `offNetwork` adds to a batch that acts in
   * the namespace (given its links as made) are sent, and (once the reset
   * of the one before is done) it is renamed to a pool name, which frees
   * its owner's. The rest of the reset (reset.ts: everything a tenant may
   * have changed put back, then read again) runs in the background, off
   * the caller's path; a namespace it cannot prove clean is released and
   * counted as refused (see stats().lastError). Refused here, the
   * namespace is the caller's to release, and the reason says why.
   *
   * offNetwork is what must not wait for the reset: once recycle returns,
   * the caller frees what the tenant held (its address, and a MAC made
   * from it) for the next sandbox, which must not find this namespace
   * still answering for it.
   */
  async recycle(ns: Netns, offNetwork?: (b: Batch, links: readonly NativeLink[]) => void): Promise<ResetResult> {
    const e = this.taken.get(ns.handle);
    const refuse = (reason: string): ResetResult => (this.counts.refused++, { ok: false, reason });
    if (!e || e.ns !== ns) return refuse('the namespace was not made by this pool');
    if (this.closed) return refuse('the pool is closed');
    // Recycled namespaces may fill it to twice its size: a refill that
    // started when one was taken must not turn the recycling away.
    if (this.ready.length + this.dirty.length >= 2 * this.o.size) return refuse('the pool is full');
    const r = await leftSockets(ns);
    if (!r.ok) return refuse(r.reason);
    try {
      const off = new Batch(ns);
      offNetwork?.(off, e.snapshot.links);
      await off.commit();
    } catch (err) {
      return refuse(`could not take it off the network: ${(err as Error).message}`);
    }
    // One reset at a time, and the next waits for it: recycling faster than
    // the resets run would fill the pool with namespaces nobody can take.
    while (this.cleaning) await this.cleaning;
    try {
      await ns.move(this.nextName());
    } catch (err) {
      return refuse(`could not take it back: ${(err as Error).message}`);
    }
    this.taken.delete(ns.handle);
    this.dirty.push(e);
    this.clean();
    return r;
  }

  /** Resets the namespaces taken back, one at a time, into the ready list (or releases them). */
  private clean(): void {
    if (this.cleaning) return;
    const run = async () => {
      for (let e = this.dirty.shift(); e; e = this.dirty.shift()) {
        const r = this.closed ? { ok: false as const, reason: 'the pool is closed' } : await resetNetns(e.ns, e.snapshot, this.fresh!);
        if (r.ok) {
          this.ready.push(e);
          this.counts.recycled++;
        } else {
          this.counts.refused++;
          this.counts.lastError = `a recycled namespace was released: ${r.reason}`;
          await e.ns.delete().catch(() => {});
        }
      }
    };
    this.cleaning = run().finally(() => {
      this.cleaning = null;
    });
  }

  /** Stops refilling and releases the ready namespaces (taken ones are their owners'). */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.(); // a refill asleep between two makes stops now
    await this.filling;
    await this.cleaning;
    const all = this.ready.splice(0);
    await Promise.all(all.map((e) => e.ns.delete().catch(() => {})));
  }

  /** A pause of the refill that keeps no process alive, and that close() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(() => ((this.wake = null), res()), ms);
      t.unref();
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        res();
      };
    });
  }

  private nextName(): string {
    return `${this.o.prefix}${this.seq++}`;
  }

  /** Starts a refill unless one runs; returns it. */
  private fill(): Promise<void> | null {
    if (this.filling || this.closed || this.ready.length >= this.o.size) return this.filling;
    const gap = 1000 / (this.o.rate ?? 200);
    const run = async () => {
      let made = 0;
      const t0 = performance.now();
      while (!this.closed && this.ready.length < this.o.size) {
        // The rate holds across refills: a take right after one does not start the next at once.
        const wait = this.lastStart + gap - performance.now();
        if (wait > 0) await this.pause(wait);
        if (this.closed || this.ready.length >= this.o.size) break;
        this.lastStart = performance.now();
        try {
          this.ready.push(await this.make());
          made++;
          this.counts.made++;
        } catch (e) {
          this.counts.failures++;
          this.counts.lastError = (e as Error).message;
          this.o.onError?.(e);
          await this.pause(1000); // the kernel refused; try again later
        }
      }
      if (made) this.counts.refillRate = (made * 1000) / (performance.now() - t0);
    };
    this.filling = run().finally(() => {
      this.filling = null;
    });
    return this.filling;
  }

  private async make(): Promise<Entry<T>> {
    let data: T = undefined as T;
    const n = this.seq;
    const ns = await Netns.create(this.nextName(), {
      runDir: this.runDir,
      ...(this.o.prepare
        ? {
            then: (x: Netns) => {
              const p = this.o.prepare!(x, n);
              data = p.data;
              return p.batch;
            },
          }
        : {}),
    });
    try {
      this.fresh ??= await sysctls(ns);
      return { ns, data, snapshot: await snapshot(ns) };
    } catch (e) {
      await ns.delete().catch(() => {});
      throw e;
    }
  }
}


