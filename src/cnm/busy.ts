// Which process is working on a sandbox or a network. A sandbox's create,
// join, leave or delete, and a network's create or delete, marks it busy in
// the same store transaction that records its intent, and clears the mark
// when it is done; a reconcile in any process leaves it alone while the
// process that marked it is at work, and finishes or undoes the work of
// one that died. A process is named by its pid and its start time since
// boot (and the boot), so a pid reused after a crash does not pass for the
// process that crashed.
import { NsnetError } from '../errors.js';
import { startedAt } from '../processes.js';
import type { BusyMark, NetworkBusy, NetworkRecord, SandboxBusy, SandboxRecord, StoreTx } from '../store/store.js';
import type { CnmContext } from './context.js';

/** When a process started (ms since the epoch, from /proc), as a mark's `start`; null when it is gone. */
function startOf(pid: number): string | null {
  const t = startedAt(pid);
  return t === null ? null : String(t);
}

let self: BusyMark | undefined;
/** This process, as busy marks name it. */
export function me(): BusyMark {
  if (!self || self.pid !== process.pid) self = { pid: process.pid, start: startOf(process.pid) ?? '' };
  return self;
}

/** Whether the process a mark or a pool names is still the one that made it. */
export function alive(p: { pid: number; start: string }): boolean {
  return startOf(p.pid) === p.start;
}

/** Whether a mark is this process's. */
function isMine(b: BusyMark): boolean {
  const m = me();
  return b.pid === m.pid && b.start === m.start;
}

/**
 * Whether the mark's process still runs (in this process: whether the op
 * on the record `id` is still in flight, as inFlight says).
 */
export function workerAlive(b: BusyMark, inFlight: ReadonlyMap<string, number>, id: string): boolean {
  if (isMine(b)) return inFlight.has(id);
  return alive(b);
}

/** Whether two marks (or their absence) are the same process's same op. */
export const sameMark = (a?: BusyMark & { op: string }, b?: BusyMark & { op: string }) => a?.pid === b?.pid && a?.start === b?.start && a?.op === b?.op;

/** The refusal of op on a record another process (or another op of this one) is at work on. */
export function busyError(rec: { name: string; busy?: BusyMark & { op: string } }, what: 'sandbox' | 'network', op: string): NsnetError {
  return NsnetError.state('ERR_NSNET_BUSY', op, rec.name, `${what} ${rec.name} is busy: process ${rec.busy?.pid} is at its ${rec.busy?.op}; try again when that is done`);
}

/** Refuses op on a sandbox or network that another live process has marked (ERR_NSNET_BUSY); a dead process's mark is no bar. */
export function refuseIfBusy(rec: { name: string; busy?: BusyMark & { op: string } }, what: 'sandbox' | 'network', op: string): void {
  const b = rec.busy;
  if (!b || isMine(b) || !alive(b)) return;
  throw busyError(rec, what, op);
}

/**
 * One op's hold on a sandbox or a network. claim() marks it busy inside
 * the store transaction that records the op's intent (and counts the op as
 * this process's work in flight, in the same tick, so this process's own
 * reconcile sees it too); end() clears the mark once the last of this
 * process's ops on it is done. Another live process's mark refuses the op
 * (ERR_NSNET_BUSY); ops of one process may overlap.
 */
export class Busy {
  private id: string | null = null;
  private unmark: ((t: StoreTx) => void) | null = null;
  private deleted = false;

  constructor(private readonly ctx: CnmContext) {}

  claim(t: StoreTx, sb: SandboxRecord, op: SandboxBusy['op'], endpoint?: string): SandboxRecord {
    refuseIfBusy(sb, 'sandbox', `sandbox.${op}`);
    const marked: SandboxRecord = { ...sb, busy: { op, ...me(), ...(endpoint ? { endpoint } : {}) } };
    t.putSandbox(marked);
    this.hold(sb.id, (tx) => unmark(tx.sandbox(sb.id), (x) => tx.putSandbox(x)));
    return marked;
  }

  /** The same for a network's create or delete: reconcile leaves its bridge and its firewall elements alone meanwhile. */
  claimNetwork(t: StoreTx, net: NetworkRecord, op: NetworkBusy['op']): NetworkRecord {
    refuseIfBusy(net, 'network', `network.${op}`);
    const marked: NetworkRecord = { ...net, busy: { op, ...me() } };
    t.putNetwork(marked);
    this.hold(net.id, (tx) => unmark(tx.network(net.id), (n) => tx.putNetwork(n)));
    return marked;
  }

  private hold(id: string, clear: (t: StoreTx) => void): void {
    if (this.id !== null) return;
    this.id = id;
    this.unmark = clear;
    this.ctx.inFlight.set(id, (this.ctx.inFlight.get(id) ?? 0) + 1);
  }

  /** The op's last transaction deleted the record: end() has no mark to clear. */
  gone(): void {
    this.deleted = true;
  }

  async end(): Promise<void> {
    const id = this.id;
    const clear = this.unmark;
    if (id === null || !clear) return;
    this.id = this.unmark = null;
    const n = this.ctx.inFlight.get(id)! - 1;
    if (n > 0) return void this.ctx.inFlight.set(id, n);
    this.ctx.inFlight.delete(id);
    if (this.deleted) return;
    // A closed controller, or a record already gone: nothing to clear, or nobody to clear it for.
    await this.ctx.store.update(clear).catch(() => {});
  }
}

/**
 * Runs op with a Busy of its own, whose mark is cleared however op ends.
 * clearSoon: when op succeeds, the mark is cleared right after the caller
 * has its answer (CnmContext.soon) instead of before, which takes a store
 * transaction off the caller's wait. Until then this process counts the op
 * as in flight, and another process that comes at once still finds the
 * record busy (ERR_NSNET_BUSY), for that moment after the answer. Only for
 * ops whose mark does no harm when a process dies between its work and the
 * clearing: a reconcile then finds the sandbox whole (a 'join' mark sends
 * an own or external sandbox to a mend, which has nothing to do; of another
 * kind it only reports the mark) and clears it.
 */
export async function whileBusy<T>(ctx: CnmContext, op: (busy: Busy) => Promise<T>, o: { clearSoon?: boolean } = {}): Promise<T> {
  const busy = new Busy(ctx);
  let done = false;
  try {
    const r = await op(busy);
    done = true;
    return r;
  } finally {
    if (done && o.clearSoon) ctx.soon(() => busy.end());
    else await busy.end();
  }
}

/** Puts rec back without its mark, if it still carries this process's. */
function unmark<T extends { busy?: BusyMark }>(rec: T | null, put: (r: T) => void): void {
  if (!rec?.busy || !isMine(rec.busy)) return;
  delete rec.busy;
  put(rec);
}
