// Whether this process may do what nsnet does: make namespaces (setns,
// unshare, mount: CAP_SYS_ADMIN) and change links, addresses, routes and
// nf_tables (CAP_NET_ADMIN). Read from /proc before anything reaches the
// kernel, so a user without them gets one line that says what to do rather
// than the first system call's EPERM.
import { readFileSync } from 'node:fs';

import { NsnetError } from '../errors.js';

/** The capability bits nsnet needs (linux/capability.h). */
const NEEDED = { CAP_NET_ADMIN: 12, CAP_SYS_ADMIN: 21 } as const;

/** The capabilities of NEEDED that `status` (a /proc/<pid>/status text) lacks in its effective set. */
export function missingCapabilities(status: string): string[] {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  // Without the line (no procfs?) nothing can be said: the kernel will.
  if (!m) return [];
  const eff = BigInt(`0x${m[1]}`);
  return Object.entries(NEEDED)
    .filter(([, bit]) => ((eff >> BigInt(bit)) & 1n) === 0n)
    .map(([name]) => name);
}

/** Throws, naming the command, if this process lacks what nsnet needs. */
export function checkPrivileges(command: string): void {
  let status = '';
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return;
  }
  const missing = missingCapabilities(status);
  if (!missing.length) return;
  const who = process.getuid?.() === 0 ? 'root without' : `user ${process.getuid?.()} without`;
  throw new NsnetError(
    `'${command}' needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), and this process is ${who} ${missing.join(' and ')}: run it with sudo`,
    { code: 'EPERM', op: 'capabilities', object: command },
  );
}
