// nsnet's own CNI error codes (the spec leaves 100 and up to plugins) and
// the translation of nsnet's errors into the spec's: bad input the
// configuration carried is 7, a namespace that is gone 3, a busy kernel,
// store, sandbox or network 11, and everything nsnet itself refused or failed at one of its
// own codes, with the error's message, step and kernel text as details.
import { NsnetError, TeardownError } from '../../errors.js';
import { CniError, ERR } from '../errors.js';

export const NSNET_ERR = {
  /** A failure of the kernel or the store (details say which step and what it said). */
  FAILED: 100,
  /** The attachment, or a sandbox holding its name, exists already. */
  CONFLICT: 101,
  /** Something asked for is in use: an address, a host port, a bridge. */
  IN_USE: 102,
  /** No address or port left to hand out. */
  EXHAUSTED: 103,
  /** A subnet overlaps another network's. */
  OVERLAP: 104,
  /** The configuration asks for something this host or firewall cannot do. */
  UNSUPPORTED: 105,
  /** CHECK found the kernel or the store different from what ADD made. */
  CHECK_FAILED: 106,
} as const;

const BY_CODE: Record<string, number> = {
  ERR_NSNET_INVALID: ERR.INVALID_CONFIG,
  ERR_NSNET_EXISTS: NSNET_ERR.CONFLICT,
  ERR_NSNET_IN_USE: NSNET_ERR.IN_USE,
  ERR_NSNET_EXHAUSTED: NSNET_ERR.EXHAUSTED,
  ERR_NSNET_OVERLAP: NSNET_ERR.OVERLAP,
  ERR_NSNET_UNSUPPORTED: NSNET_ERR.UNSUPPORTED,
  // A store another writer holds, a netlink socket out of buffers, a
  // sandbox or network another call is at work on: worth a retry.
  ERR_NSNET_BUSY: ERR.TRY_AGAIN_LATER,
  EBUSY: ERR.TRY_AGAIN_LATER,
  EAGAIN: ERR.TRY_AGAIN_LATER,
  ENOBUFS: ERR.TRY_AGAIN_LATER,
};

/** Any failure as the spec's error. */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof NsnetError) {
    const code = e.code === 'ERR_NSNET_NOT_FOUND' && e.op === 'sandbox.netns' ? ERR.UNKNOWN_CONTAINER : (BY_CODE[e.code] ?? NSNET_ERR.FAILED);
    const details = [
      e.step && `step ${e.step}`,
      e.op && e.object && `${e.op} ${e.object}`,
      e.extack && `kernel: ${e.extack}`,
      ...(e instanceof TeardownError ? e.errors.map((x) => x.message) : []),
      ...(e.rollbackErrors ?? []).map((x) => `rollback: ${x.message}`),
    ].filter(Boolean);
    return new CniError(code, e.message, { details: details.join('; '), cause: e });
  }
  return new CniError(NSNET_ERR.FAILED, (e as Error)?.message ?? String(e), { cause: e });
}
