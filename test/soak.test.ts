// The leak soak, shortened: 500 create+delete cycles through the Controller
// (a sandbox with a published port) and through the low-level API (a
// namespace with a veth, an address, a route and an nf_tables element),
// bench/soak.ts's loop (`npm run bench -- --soak 10000` runs 10,000). fds,
// the store's rows and the kernel's links, mounted namespaces and nf_tables
// elements must come back exactly to where they started, the store's file
// stay small; RSS only within a generous bound, since the heap and the
// allocator keep some of what they were given. Under scripts/sanitize.sh
// RSS is only reported: ASan's quarantine holds freed memory (up to 256 MiB)
// on purpose, to catch use after free.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { expect, test } from 'vitest';

import { runSoak, soakTable, type SoakRun } from '../bench/soak.js';
import * as nsnet from '../src/index.js';
import { testHost } from './helpers.js';

const run = promisify(execFile);
const CYCLES = Number(process.env.NSNET_SOAK_CYCLES ?? 500);

function expectFlat(r: SoakRun): void {
  const table = soakTable(r).map((row) => row.join('\t')).join('\n');
  const end = r.quarters[3]!;
  for (const k of ['fds', 'storeRows', 'links', 'namespaces', 'nftElements'] as const) expect(end[k], `${k}\n${table}`).toBe(r.start[k]);
  // The WAL grows to its checkpoint (~1000 pages) and is reused from there.
  expect(end.storeBytes, table).toBeLessThan(r.start.storeBytes + 8 * 2 ** 20);
  if (!process.env.NSNET_SANITIZE) expect(end.rssMiB - r.start.rssMiB, table).toBeLessThan(64);
}

for (const api of ['controller', 'netns'] as const) {
  test(`${CYCLES} create+delete cycles through the ${api === 'controller' ? 'Controller' : 'low-level API'} leave fds, store rows and the kernel's links, namespaces and nf_tables elements exactly as they were`, async () => {
    const host = await testHost('k');
    const runDir = await mkdtemp(join(tmpdir(), 'nsnet-soak-run-'));
    try {
      expectFlat(await runSoak(nsnet, { api, cycles: CYCLES, host, runDir, net: api === 'controller' ? 231 : 232 }));
    } finally {
      await host.delete();
      // The addon made the run dir a shared mount (as `ip netns` does its own).
      await run('umount', ['-l', runDir]).catch(() => {});
      await rm(runDir, { recursive: true, force: true });
    }
  }, 600_000);
}
