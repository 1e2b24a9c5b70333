// The state dir's lock files (store/filelock.ts), against util-linux's
// flock(1) as another process: what one holds the other sees, a killed
// holder's lock is free at once, and a lock file removed by its last
// holder is never locked in its old copy.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

import { FileLock } from '../src/store/filelock.js';

const dir = mkdtempSync(join(tmpdir(), 'nsnet-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether flock(1) in another process gets the lock now (-n: it never waits). */
const othersGet = (path: string, exclusive: boolean) => spawnSync('flock', ['-n', exclusive ? '-x' : '-s', path, 'true']).status === 0;

/** Other processes (flock(1) and its command, which inherits the open file) holding path's lock until killed; resolves once they hold it. */
async function holder(path: string, exclusive: boolean): Promise<ChildProcess> {
  const p = spawn('flock', [exclusive ? '-x' : '-s', path, 'sh', '-c', 'echo held; exec sleep 60'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  await new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()));
  return p;
}

describe('file locks', () => {
  test('shared locks go together, an exclusive one excludes every other, in this process and in others; the directory is made on first use', () => {
    const path = join(dir, 'sub', 'a');
    const s1 = FileLock.try(path, false)!;
    expect(s1).not.toBeNull();
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700);
    const s2 = FileLock.try(path, false)!;
    expect(s2).not.toBeNull();
    expect(othersGet(path, false)).toBe(true);
    expect(othersGet(path, true)).toBe(false);
    expect(FileLock.try(path, true)).toBeNull();
    s1.release();
    expect(FileLock.try(path, true)).toBeNull();
    s2.release();
    const x = FileLock.try(path, true)!;
    expect(x).not.toBeNull();
    expect(othersGet(path, false)).toBe(false);
    expect(FileLock.try(path, false)).toBeNull();
    x.release();
    expect(othersGet(path, true)).toBe(true);
  });

  test("a holder killed with SIGKILL leaves its lock free at once; take() waits for a holder and goes on when it lets go, and gives up with ERR_NSNET_BUSY after its timeout", async () => {
    const path = join(dir, 'b');
    const p = await holder(path, true);
    const kill = () => void (p.exitCode === null && p.signalCode === null && process.kill(-p.pid!, 'SIGKILL'));
    try {
      expect(FileLock.try(path, false)).toBeNull();
      await expect(FileLock.take(path, false, 50, 'a test')).rejects.toMatchObject({ code: 'ERR_NSNET_BUSY' });
      const taking = FileLock.take(path, false, 10_000, 'a test');
      setTimeout(kill, 100);
      const l = await taking;
      expect(othersGet(path, true)).toBe(false);
      l.release();
    } finally {
      kill();
    }
  });

  test('a lock file its exclusive holder removes while a take() waits for it: the waiter locks the file made again at the path, which another process then cannot lock alongside', async () => {
    const path = join(dir, 'c');
    const x = FileLock.try(path, true)!;
    const waiting = FileLock.take(path, false, 10_000, 'a test');
    await new Promise((r) => setTimeout(r, 20));
    x.remove();
    expect(existsSync(path)).toBe(false);
    const s = await waiting;
    expect(existsSync(path)).toBe(true);
    expect(othersGet(path, true)).toBe(false);
    s.release();
    expect(othersGet(path, true)).toBe(true);
  });
});
