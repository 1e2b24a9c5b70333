// The CNI spec's errors: a numeric code (1-99 are the spec's, 100 and up a
// plugin's own), a message and details. A plugin prints them as JSON; a
// runtime reports them with the plugin, command and network they came from.
import { NsnetError } from '../errors.js';

/** The spec's well-known error codes. */
export const ERR = {
  /** libcni's code for a plugin that failed without saying why (types.ErrUnknown). */
  UNKNOWN: 0,
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENVIRONMENT: 4,
  IO: 5,
  DECODE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  NOT_AVAILABLE: 50,
  LIMITED_CONNECTIVITY: 51,
} as const;

/** Where a CNI error happened, as far as it is known. */
export interface CniErrorContext {
  /** The plugin's type (its binary's name). */
  plugin?: string;
  /** ADD, DEL, CHECK, STATUS, GC, VERSION, or the runtime's own step (load, validate). */
  command?: string;
  network?: string;
}

/**
 * A CNI failure. `cniCode` is the spec's code: the plugin's own when a
 * plugin answered with an error, else the one the spec gives the condition
 * (1 an unsupported version, 6 output that does not decode, 7 an invalid
 * configuration, 11 a plugin killed at its timeout, 50 a plugin not found,
 * 0 a plugin that failed without printing an error, as libcni reports it).
 * `code` is always ERR_NSNET_CNI.
 */
export class CniError extends NsnetError implements CniErrorContext {
  readonly cniCode: number;
  readonly msg: string;
  readonly details?: string;
  readonly plugin?: string;
  readonly command?: string;
  readonly network?: string;
  /** What the plugin wrote to stderr, when it failed. */
  declare stderr?: string;

  constructor(cniCode: number, msg: string, o: CniErrorContext & { details?: string; cause?: unknown } = {}) {
    const where = [o.network && `network ${o.network}`, o.plugin && `plugin ${o.plugin}${o.command ? ` (${o.command})` : ''}`].filter(Boolean).join(': ');
    super(`${where ? `${where}: ` : ''}${msg} (CNI code ${cniCode})${o.details ? `: ${o.details}` : ''}`, {
      code: 'ERR_NSNET_CNI',
      op: o.command ? `CNI ${o.command}` : 'CNI',
      object: o.plugin ?? o.network ?? 'cni',
    }, o.cause !== undefined ? { cause: o.cause } : undefined);
    this.name = 'CniError';
    this.cniCode = cniCode;
    this.msg = msg;
    if (o.details) this.details = o.details;
    if (o.plugin) this.plugin = o.plugin;
    if (o.command) this.command = o.command;
    if (o.network) this.network = o.network;
  }

  /** The same error with more of its context filled in (what is already known stays). */
  within(ctx: CniErrorContext): CniError {
    const e = new CniError(this.cniCode, this.msg, {
      ...ctx, ...Object.fromEntries(Object.entries({ plugin: this.plugin, command: this.command, network: this.network }).filter(([, v]) => v)),
      ...(this.details ? { details: this.details } : {}), cause: this.cause,
    });
    if (this.stderr) e.stderr = this.stderr;
    return e;
  }

  /** The spec's error object, as a plugin prints it. */
  toJSON(): { code: number; msg: string; details?: string } {
    return { code: this.cniCode, msg: this.msg, ...(this.details ? { details: this.details } : {}) };
  }
}
