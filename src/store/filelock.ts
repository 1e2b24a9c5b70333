// Advisory locks on files of the state dir, for what the processes of one
// store must not do at once and the store's records cannot say (a join of
// one process finding a network's devices while another's leave removes
// them). flock: the kernel drops a dead process's locks, so a crash never
// leaves one held. Taking one never waits on the JS thread: a lock another
// process holds is tried again after a pause.
import { closeSync, fstatSync, mkdirSync, openSync, constants, statSync, unlinkSync } from 'node:fs';
import { constants as os } from 'node:os';
import { dirname } from 'node:path';

import { NsnetError } from '../errors.js';
import { native } from '../native.js';

export class FileLock {
  private fd: number | null;

  private constructor(
    fd: number,
    private readonly path: string,
  ) {
    this.fd = fd;
  }

  /**
   * The lock on path (made if missing, with its directory), shared or
   * exclusive, if no other holder stands in the way now; else null. A lock
   * taken on a file that was removed meanwhile (its last holder let go of
   * it) is taken again on the one now at that path.
   */
  static try(path: string, exclusive: boolean): FileLock | null {
    let made = false;
    for (;;) {
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDONLY | constants.O_CREAT, 0o600);
      } catch (e) {
        // Once: a directory made that still gives ENOENT (a dangling symlink) is an error, not a loop.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || made) throw e;
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        made = true;
        continue;
      }
      const r = native.flock(fd, exclusive);
      if (r !== 0) {
        closeSync(fd);
        if (r === os.errno.EWOULDBLOCK) return null;
        throw NsnetError.kernel('flock', path, r);
      }
      if (sameFile(fd, path)) return new FileLock(fd, path);
      closeSync(fd);
    }
  }

  /**
   * try() until it succeeds, pausing a little longer each time; null once
   * giveUp() says so (asked before each try) or after timeoutMs.
   */
  static async poll(path: string, exclusive: boolean, timeoutMs: number, giveUp: () => boolean = () => false): Promise<FileLock | null> {
    const deadline = performance.now() + timeoutMs;
    for (let pause = 1; !giveUp(); pause = Math.min(pause * 2, 50)) {
      const l = FileLock.try(path, exclusive);
      if (l) return l;
      if (performance.now() > deadline) break;
      await new Promise((r) => setTimeout(r, pause));
    }
    return null;
  }

  /** poll() that never gives up but with a clear error after timeoutMs. */
  static async take(path: string, exclusive: boolean, timeoutMs: number, what: string): Promise<FileLock> {
    const l = await FileLock.poll(path, exclusive, timeoutMs);
    if (!l) throw NsnetError.state('ERR_NSNET_BUSY', 'lock', path, `${what}: another process of this state dir held ${path} for over ${timeoutMs} ms`);
    return l;
  }

  /**
   * Removes the file, then lets go: for an exclusive holder whose lock
   * nobody needs any more. A file that cannot be removed is left: an empty
   * file in the state dir, which the next holder takes as it is.
   */
  remove(): void {
    if (this.fd === null) return;
    try {
      unlinkSync(this.path);
    } catch {
      // Left for the next holder.
    }
    this.release();
  }

  release(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

function sameFile(fd: number, path: string): boolean {
  try {
    const [a, b] = [fstatSync(fd), statSync(path)];
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}
