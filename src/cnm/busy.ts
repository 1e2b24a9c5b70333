// Which process is working on a sandbox. A create, join, leave or delete
// marks its sandbox busy in the same store transaction that records its
// intent, and clears the mark when it is done; a reconcile in any process
// leaves a sandbox alone while the process that marked it is at work, and
// finishes or undoes the work of one that died. A process is named by its
// pid and its start time since boot (and the boot), so a pid reused after a
// crash does not pass for the process that crashed.
import { NsnetError } from '../errors.js';
import { startedAt } from '../processes.js';
import type { SandboxBusy, SandboxRecord, StoreTx } from '../store/store.js';
import type { CnmContext } from './context.js';

/** When a process started (ms since the epoch, from /proc), as a mark's `start`; null when it is gone. */
function startOf(pid: number): string | null {
  const t = startedAt(pid);
  return t === null ? null : String(t);
}

let self: { pid: number; start: string } | undefined;
/** This process, as busy marks name it. */
export function me(): { pid: number; start: string } {
  if (!self || self.pid !== process.pid) self = { pid: process.pid, start: startOf(process.pid) ?? '' };
  return self;
}

/**
 * Whether the mark's process still runs (in this process: whether the op
 * is still in flight, as inFlight says).
 */
export function workerAlive(b: SandboxBusy, inFlight: ReadonlyMap<string, number>, sandboxId: string): boolean {
  const m = me();
  if (b.pid === m.pid && b.start === m.start) return inFlight.has(sandboxId);
  return startOf(b.pid) === b.start;
}

function refuseIfBusy(sb: SandboxRecord, op: SandboxBusy['op']): void {
  const m = me();
  if (!sb.busy || (sb.busy.pid === m.pid && sb.busy.start === m.start) || startOf(sb.busy.pid) !== sb.busy.start) return;
  throw NsnetError.state('ERR_NSNET_BUSY', `sandbox.${op}`, sb.name,
    `sandbox ${sb.name} is busy: process ${sb.busy.pid} is at its ${sb.busy.op}; try again when that is done`);
}

/**
 * One op's hold on a sandbox. claim() marks the sandbox busy inside the
 * store transaction that records the op's intent (and counts the op as
 * this process's work in flight, in the same tick, so this process's own
 * reconcile sees it too); end() clears the mark once the last of this
 * process's ops on that sandbox is done. Another live process's mark
 * refuses the op (ERR_NSNET_BUSY); ops of one process may overlap.
 */
export class Busy {
  private id: string | null = null;

  constructor(private readonly ctx: CnmContext) {}

  claim(t: StoreTx, sb: SandboxRecord, op: SandboxBusy['op'], endpoint?: string): SandboxRecord {
    refuseIfBusy(sb, op);
    const marked: SandboxRecord = { ...sb, busy: { op, ...me(), ...(endpoint ? { endpoint } : {}) } };
    t.putSandbox(marked);
    if (this.id === null) {
      this.id = sb.id;
      this.ctx.inFlight.set(sb.id, (this.ctx.inFlight.get(sb.id) ?? 0) + 1);
    }
    return marked;
  }

  async end(): Promise<void> {
    const id = this.id;
    if (id === null) return;
    this.id = null;
    const n = this.ctx.inFlight.get(id)! - 1;
    if (n > 0) return void this.ctx.inFlight.set(id, n);
    this.ctx.inFlight.delete(id);
    // A closed controller, or a sandbox already gone: nothing to clear, or nobody to clear it for.
    await this.ctx.store.update((t) => release(t, id)).catch(() => {});
  }
}

/** Clears the mark of process `of` (this one by default), if the sandbox still carries it. */
export function release(t: StoreTx, sandboxId: string, of: { pid: number; start: string } = me()): void {
  const sb = t.sandbox(sandboxId);
  if (!sb?.busy || sb.busy.pid !== of.pid || sb.busy.start !== of.start) return;
  delete sb.busy;
  t.putSandbox(sb);
}
