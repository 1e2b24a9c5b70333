// A front door of the daemon: one protocol through which outside callers
// reach the daemon's Controller (the CNI shim's socket, the DNS door;
// Docker's plugin socket later). Each is an adapter in a module of
// its own: it translates its protocol into Controller calls and back, and
// never talks to netlink.
import type { Controller } from '../cnm/controller.js';

/** What the daemon gives each front door. */
export interface DaemonContext {
  readonly controller: Controller;
  /** One line per operation (stderr; journald under systemd). */
  log(line: string): void;
}

export interface FrontDoor {
  /** Names it in the log: `cni`. */
  readonly name: string;
  /** Where it listens, for the log. */
  readonly address: string;
  /** Starts serving; rejects if it cannot (the socket is taken, say). */
  start(ctx: DaemonContext): Promise<void>;
  /** Stops taking calls and waits, within a bound, for those under way. */
  close(): Promise<void>;
}
