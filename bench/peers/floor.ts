// The C floor peer: runs bench/floor/floor.c (built on demand) and reads its
// --json report.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PeerOptions, PeerRun } from './ip.js';

const execFileAsync = promisify(execFile);

interface FloorReport {
  peer: string;
  n: number;
  setup_ms: number[];
  teardown_ms: number[];
  teardown: 'release' | 'explicit';
}

// Works both from bench/peers/ (sources) and from dist/bench/peers/ (compiled).
function floorSource(): string {
  for (const rel of ['../floor/floor.c', '../../../bench/floor/floor.c']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('floor.c not found next to bench/peers');
}

async function mtime(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Suite (h): the floor building one sandbox's requests (no I/O), ns per sandbox. */
export async function runFloorEncode(k: number, binary: string): Promise<{ nsPerSandbox: number }> {
  const { stdout } = await execFileAsync(binary, ['--encode', String(k)]);
  return { nsPerSandbox: (JSON.parse(stdout) as { ns_per_sandbox: number }).ns_per_sandbox };
}

/** Compiles floor.c to outPath unless the binary is already newer than the source. */
export async function buildFloor(outPath: string, source: string = floorSource()): Promise<string> {
  const [bin, src] = await Promise.all([mtime(outPath), mtime(source)]);
  if (src === undefined) throw new Error(`floor source missing: ${source}`);
  if (bin !== undefined && bin >= src) return outPath;
  await mkdir(dirname(outPath), { recursive: true });
  try {
    await execFileAsync('cc', ['-O2', '-Wall', '-o', outPath, source]);
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`cc floor.c: ${err.stderr?.trim() || err.message}`, { cause: e });
  }
  return outPath;
}

export async function runFloor(opts: PeerOptions & { binary: string }): Promise<PeerRun> {
  const args = ['--n', String(opts.n), '--json'];
  if (opts.rundir !== undefined) args.push('--rundir', opts.rundir);
  if (opts.prefix !== undefined) args.push('--prefix', opts.prefix);
  if (opts.explicit) args.push('--explicit');

  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(opts.binary, args, { maxBuffer: 64 << 20 }));
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${opts.binary} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`, { cause: e });
  }
  const r = JSON.parse(stdout) as FloorReport;
  if (r.peer !== 'floor' || r.n !== opts.n || r.setup_ms.length !== r.n || r.teardown_ms.length !== r.n) {
    throw new Error(`floor: unexpected report: ${stdout.slice(0, 200)}`);
  }
  return { peer: r.peer, n: r.n, setupMs: r.setup_ms, teardownMs: r.teardown_ms, teardown: r.teardown };
}

/** Suite (f): the C floor's single round trip (set lo up, or read lo), K times, in microseconds. */
export async function runFloorOp(k: number, binary: string, get = false): Promise<{ peer: string; n: number; opUs: number[] }> {
  const { stdout } = await execFileAsync(binary, ['--op', String(k), ...(get ? ['--get'] : [])]);
  const r = JSON.parse(stdout) as { n: number; op_us: number[] };
  return { peer: 'floor', n: r.n, opUs: r.op_us };
}
