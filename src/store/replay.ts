// A local transaction, recorded so that it can be done again later exactly
// as it was: every read with what it returned, every write with what it
// wrote (copied when written). Replaying it inside a new transaction
// re-reads each value in the same order and, if every one is still what it
// was, repeats the writes; otherwise it throws Stale and the caller runs
// the whole thing again. The scoped store uses it to commit a transaction
// that spans SQLite and etcd without holding SQLite's lock across a round
// trip to etcd (see scoped.ts).
import type { StoreTx } from './store.js';

/** The local records changed meanwhile: run the transaction again. */
export class Stale extends Error {
  constructor(what: string) {
    super(`local store changed meanwhile (${what})`);
  }
}

type Step = { m: keyof StoreTx; args: unknown[]; read: true; result: string } | { m: keyof StoreTx; args: unknown[]; read: false };

const WRITES = new Set<keyof StoreTx>(['putNetwork', 'deleteNetwork', 'putEndpoint', 'deleteEndpoint', 'putSandbox', 'deleteSandbox', 'reserve', 'release', 'releasePool', 'setCursor']);

const copy = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

export class Recording {
  private readonly steps: Step[] = [];

  get writes(): number {
    return this.steps.filter((s) => !s.read).length;
  }

  /** t, recording every call made through it. */
  wrap(t: StoreTx): StoreTx {
    const out = {} as Record<string, unknown>;
    for (const m of Object.keys(t) as (keyof StoreTx)[]) {
      const fn = t[m] as (...a: unknown[]) => unknown;
      out[m] = (...args: unknown[]) => {
        if (WRITES.has(m)) {
          this.steps.push({ m, args: copy(args), read: false });
          return fn(...args);
        }
        const r = fn(...args);
        this.steps.push({ m, args: copy(args), read: true, result: JSON.stringify(r ?? null) });
        return r;
      };
    }
    return out as unknown as StoreTx;
  }

  /** Does it all again on t; throws Stale at the first read that differs. */
  replay(t: StoreTx): void {
    for (const s of this.steps) {
      const r = (t[s.m] as (...a: unknown[]) => unknown)(...copy(s.args));
      if (s.read && JSON.stringify(r ?? null) !== s.result) throw new Stale(`${s.m}(${s.args.map((a) => JSON.stringify(a)).join(', ')})`);
    }
  }
}
