// All-or-nothing for creates, best effort for teardown. A create registers an
// undo after each step that changed something; a failure runs the undos in
// reverse and rethrows the step's error, named after the step. Teardown runs
// every step, collects the failures and reports them together.
import { NsnetError, TeardownError } from '../errors.js';
import type { Store, StoreTx } from '../store/store.js';

/**
 * Test hook: called before each step; throwing makes that step fail. For
 * kernel steps it also gets the batch about to be sent, so a test can make
 * the kernel itself fail part-way through.
 */
export type FaultHook = (step: string, batch?: unknown) => void;

export class Transaction {
  private readonly undos: { step: string; fn: () => unknown }[] = [];
  /** The step entered last: a failure outside step() that is not an NsnetError is reported as that step's. */
  private current = 'create';

  constructor(
    private readonly what: string,
    private readonly fault?: FaultHook,
  ) {}

  /** Marks the start of a step: the fault hook may fail it here. */
  enter(step: string): void {
    this.current = step;
    this.fault?.(step);
  }

  /** Runs a step; on failure the error says which step of what failed. */
  async step<T>(step: string, fn: () => T | Promise<T>, undo?: (r: T) => unknown): Promise<T> {
    let r: T;
    try {
      this.enter(step);
      r = await fn();
    } catch (e) {
      throw stepError(this.what, step, e);
    }
    if (undo) this.undos.push({ step, fn: () => undo(r) });
    return r;
  }

  /** A step in one store transaction (apply), undone in another (undo, given what apply returned). */
  stored<T>(step: string, store: Store, apply: (t: StoreTx) => T, undo: (t: StoreTx, r: T) => void): Promise<T> {
    return this.step(step, () => store.update(apply), (r) => store.update((t) => undo(t, r)));
  }

  /** Registers an undo for work done outside step(). */
  onUndo(step: string, fn: () => unknown): void {
    this.undos.push({ step, fn });
  }

  /**
   * Undoes everything in reverse and throws `cause`, made an NsnetError
   * named after the step entered last if it is not one; undo failures go in
   * its rollbackErrors.
   */
  async rollback(cause: unknown): Promise<never> {
    const err = cause instanceof NsnetError ? cause : stepError(this.what, this.current, cause);
    const failures: Error[] = [];
    for (const u of this.undos.splice(0).reverse()) {
      try {
        await u.fn();
      } catch (e) {
        failures.push(new Error(`undo of ${u.step}: ${(e as Error)?.message ?? String(e)}`, { cause: e }));
      }
    }
    if (failures.length) err.rollbackErrors = failures;
    throw err;
  }

  /** Runs fn; on any throw, rolls back. */
  async run<T>(fn: (tx: this) => Promise<T>): Promise<T> {
    try {
      return await fn(this);
    } catch (e) {
      return this.rollback(e);
    }
  }
}

function stepError(what: string, step: string, e: unknown): NsnetError {
  if (e instanceof NsnetError) {
    if (!e.message.startsWith(`${what}: `)) {
      // Keep the original type and fields; say where it happened.
      Object.defineProperty(e, 'message', { value: `${what}: ${step}: ${e.message}` });
      e.step ??= step;
    }
    return e;
  }
  const err = new NsnetError(`${what}: ${step}: ${(e as Error)?.message ?? String(e)}`, { code: 'ERR_NSNET_STEP', op: step, object: what }, { cause: e });
  err.step = step;
  return err;
}

/** Runs every teardown step; throws one error listing all that failed. */
export class Teardown {
  private readonly errors: Error[] = [];
  constructor(
    private readonly what: string,
    private readonly fault?: FaultHook,
  ) {}

  /** Runs a step; returns whether it succeeded (later steps may depend on it). */
  async step(step: string, fn: () => unknown): Promise<boolean> {
    try {
      this.fault?.(`teardown:${step}`);
      await fn();
      return true;
    } catch (e) {
      this.errors.push(new Error(`${step}: ${(e as Error)?.message ?? String(e)}`, { cause: e }));
      return false;
    }
  }

  /** Throws a TeardownError listing every step that failed, if any did. */
  finish(): void {
    if (this.errors.length > 0) throw new TeardownError(this.what, this.errors);
  }
}
