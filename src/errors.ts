import { constants } from 'node:os';

const names = new Map<number, string>();
for (const [name, no] of Object.entries(constants.errno)) if (!names.has(no)) names.set(no, name);

// strerror(3) texts for the errnos netlink answers with most, so messages
// read like iproute2's without a native call.
const texts: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ENOSPC: 'No space left on device',
  ERANGE: 'Numerical result out of range',
  ENAMETOOLONG: 'File name too long',
  ENOTEMPTY: 'Directory not empty',
  EMSGSIZE: 'Message too long',
  EPROTONOSUPPORT: 'Protocol not supported',
  EOPNOTSUPP: 'Operation not supported',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENETDOWN: 'Network is down',
  ENETUNREACH: 'Network is unreachable',
  ENOBUFS: 'No buffer space available',
  ENOTCONN: 'Transport endpoint is not connected',
  ETIMEDOUT: 'Connection timed out',
  ECONNREFUSED: 'Connection refused',
  EHOSTUNREACH: 'No route to host',
  ESRCH: 'No such process',
  EXFULL: 'Exchange full',
  ECANCELED: 'Operation canceled',
  EBADMSG: 'Bad message',
  ENOTSUP: 'Operation not supported',
  EPROTO: 'Protocol error',
  ERESTART: 'Interrupted system call should be restarted',
};

export function errnoName(errno: number): string {
  if (errno === 54) return 'EXFULL'; // not in Node's table, but the bridge port limit
  if (errno === 95) return 'EOPNOTSUPP'; // netlink's name for it; Node lists ENOTSUP first
  if (errno === 85) return 'ERESTART'; // nf_tables: the batch's generation is stale; not in Node's table
  return names.get(errno) ?? `E${errno}`;
}

export interface NsnetErrorFields {
  code: string;
  /** Positive errno, when the kernel or a system call said no. */
  errno?: number;
  /** The request or system call: RTM_NEWLINK, unshare, mount ... */
  op: string;
  /** What it acted on: `veth 'v1'`, `netns 'x'` ... */
  object: string;
  /** The kernel's extended-ACK text, if it gave one. */
  extack?: string;
  /** Input that was rejected before anything reached the kernel. */
  field?: string;
}

/**
 * Every failure nsnet reports. `code` is the errno name for kernel and
 * system-call errors (`EEXIST`), or `ERR_NSNET_INVALID` for input rejected
 * before the kernel was touched.
 */
export class NsnetError extends Error implements NsnetErrorFields {
  readonly code: string;
  readonly errno?: number;
  readonly op: string;
  readonly object: string;
  readonly extack?: string;
  readonly field?: string;
  /** For a failed create: the step that failed (`ipam.allocate`, `kernel.join` ...). */
  declare step?: string;
  /**
   * For a failed create whose rollback failed too: each undo that failed,
   * named after its step (what it may have left behind).
   */
  declare rollbackErrors?: Error[];

  constructor(message: string, f: NsnetErrorFields, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NsnetError';
    this.code = f.code;
    this.op = f.op;
    this.object = f.object;
    if (f.errno !== undefined) this.errno = f.errno;
    if (f.extack) this.extack = f.extack;
    if (f.field) this.field = f.field;
  }

  /** `RTM_NEWLINK veth 'v1': File exists (EEXIST): <extack>` */
  static kernel(op: string, object: string, errno: number, extack?: string): NsnetError {
    const code = errnoName(errno);
    const text = texts[code] ?? `errno ${errno}`;
    const msg = `${op} ${object}: ${text} (${code})${extack ? `: ${extack}` : ''}`;
    return new NsnetError(msg, { code, errno, op, object, ...(extack ? { extack } : {}) });
  }

  /**
   * A conflict with existing state, found before the kernel was touched:
   * ERR_NSNET_EXISTS, ERR_NSNET_NOT_FOUND, ERR_NSNET_IN_USE, ERR_NSNET_OVERLAP,
   * ERR_NSNET_EXHAUSTED ...
   */
  static state(code: string, op: string, object: string, message: string): NsnetError {
    return new NsnetError(message, { code, op, object });
  }

  /** Wraps an error the addon threw for a failed system call. */
  static system(object: string, e: unknown): NsnetError {
    const err = e as { errno?: number; syscall?: string; message?: string };
    if (typeof err?.errno !== 'number') return new NsnetError(`${object}: ${String(err?.message ?? e)}`, { code: 'EIO', op: 'nsnet', object }, { cause: e });
    const code = errnoName(err.errno);
    const op = err.syscall ?? 'syscall';
    const text = texts[code] ?? `errno ${err.errno}`;
    return new NsnetError(`${object}: ${op}: ${text} (${code})`, { code, errno: err.errno, op, object }, { cause: e });
  }
}

/**
 * A teardown (a delete) that went on past failed steps: everything else was
 * done. `errors` holds each failure, its message starting with the step.
 */
export class TeardownError extends NsnetError {
  readonly errors: Error[];

  constructor(object: string, errors: Error[]) {
    super(`${object}: ${errors.length} teardown step(s) failed: ${errors.map((e) => e.message).join('; ')}`, {
      code: 'ERR_NSNET_TEARDOWN',
      op: 'teardown',
      object,
    });
    this.name = 'TeardownError';
    this.errors = errors;
  }
}

/**
 * A rejected value as the message shows it: JSON where JSON can say it, else
 * what String() says. Never throws: a BigInt, a symbol or a cycle is bad
 * input to report, not a reason to fail with a TypeError instead.
 */
function shown(value: unknown): string {
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json.length > 200 ? `${json.slice(0, 200)}...` : json;
  } catch {
    // a BigInt, or an object that refers to itself
  }
  try {
    return typeof value === 'bigint' ? `${value}n` : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Input rejected before anything reached the kernel; nothing was changed. */
export class ValidationError extends NsnetError {
  constructor(field: string, value: unknown, why: string) {
    super(`invalid ${field} ${shown(value)}: ${why}`, {
      code: 'ERR_NSNET_INVALID',
      op: 'validate',
      object: field,
      field,
    });
    this.name = 'ValidationError';
  }
}
