// Root-only unix sockets for the front doors. Connecting to a unix socket
// needs write permission on its file, so a root-owned socket of mode 0600
// admits root alone; each connection's peer is checked again with
// SO_PEERCRED, the kernel's record of who connected.
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';

import { socketFd } from '../dns/channel.js';
import { NsnetError } from '../errors.js';
import { native } from '../native.js';

/** Whether something answers at path (a daemon that is running). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Listens on path with mode 0600. A socket file nobody answers at is a
 * crashed daemon's and is replaced; one that answers belongs to a daemon
 * that runs, and is refused.
 */
export async function listenUnix(server: Server, path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (await answers(path)) throw NsnetError.state('ERR_NSNET_IN_USE', 'daemon.listen', path, `another daemon listens at ${path}`);
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
}

/** The uid of the process at the far end of an accepted connection, or null if it cannot be told. */
export function peerUid(socket: Socket): number | null {
  // Node has no API for SO_PEERCRED.
  const fd = socketFd(socket);
  if (fd === null) return null;
  try {
    return native.peerCred(fd).uid;
  } catch {
    return null;
  }
}
