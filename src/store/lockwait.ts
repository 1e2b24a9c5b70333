// Waiting for another process's lock without stopping the event loop.
//
// SQLite's own busy handler sleeps inside the call: with a 10 s busy
// timeout, a second process holding the write lock for a second stops this
// process's event loop for that second. So the store asks SQLite never to
// wait (busy_timeout 0) and waits here instead: a transaction that finds the
// lock taken is tried again on later turns of the loop, with a growing pause
// between tries. Writers of this process keep their order: once one waits,
// the ones after it queue behind it rather than slip past.

/** The longest pause between two tries: the most a waiter lags behind the lock's release. */
const MAX_PAUSE_MS = 8;

const pause = (ms: number) => new Promise<void>((res) => (ms === 0 ? setImmediate(res) : setTimeout(res, ms)));

export interface LockWaiterOptions {
  /** Whether an error means "the lock is taken, try again". */
  busy: (e: unknown) => boolean;
  /** How long to keep trying, ms; then the last busy error is thrown. */
  timeoutMs: number;
}

export class LockWaiter {
  /** Settles when the last queued waiter is done. */
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  constructor(private readonly o: LockWaiterOptions) {}

  /**
   * Runs attempt (synchronous: one whole transaction) now, or, if the lock is
   * taken or others of this process already wait, once they are done and
   * the lock is free.
   */
  run<T>(attempt: () => T): Promise<T> {
    const deadline = performance.now() + this.o.timeoutMs;
    let tried = false;
    if (this.queued === 0) {
      try {
        return Promise.resolve(attempt());
      } catch (e) {
        if (!this.o.busy(e)) return Promise.reject(e);
        tried = true;
      }
    }
    this.queued++;
    const mine = this.tail.then(() => this.retry(attempt, tried, deadline));
    this.tail = mine.then(
      () => this.queued--,
      () => this.queued--,
    );
    return mine;
  }

  /** Tries until the lock is free, pausing longer each time; at once if it has not tried yet. */
  private async retry<T>(attempt: () => T, tried: boolean, deadline: number): Promise<T> {
    let ms = 0;
    if (tried) await pause(ms);
    for (;;) {
      try {
        return attempt();
      } catch (e) {
        if (!this.o.busy(e) || performance.now() >= deadline) throw e;
      }
      ms = Math.min(MAX_PAUSE_MS, Math.max(1, ms * 2));
      await pause(ms);
    }
  }
}
