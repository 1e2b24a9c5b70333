import { defineConfig } from 'vitest/config';

// scripts/sanitize.sh: let each worker's exit run LeakSanitizer.
const setupFiles = process.env.NSNET_SANITIZE === '1' ? ['test/sanitize-setup.ts'] : [];

const unit = ['test/codec.test.ts', 'test/global-keys.test.ts', 'test/ipaddr.test.ts', 'test/ipam.test.ts', 'test/store.test.ts', 'test/nft-values.test.ts', 'test/ports.test.ts', 'test/dump.test.ts', 'test/cni-types.test.ts', 'test/dns-answer.test.ts', 'test/docker-unit.test.ts'];

export default defineConfig({
  test: {
    // Each file gets its own process: the addon's threads and the fd checks
    // of one file never see another's.
    pool: 'forks',
    setupFiles,
    projects: [
      {
        // Pure code: no privileges, no namespaces (`npx vitest run --project unit`).
        extends: true,
        test: { name: 'unit', include: unit, testTimeout: 300_000 },
      },
      {
        // The real kernel: only inside scripts/sandbox.mjs (`npm test`).
        extends: true,
        test: {
          name: 'kernel',
          include: ['test/**/*.test.ts'],
          exclude: unit,
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // One more try for a test that failed: CI runs the suite five times
          // (README, sanitized, Node 20/22/24) on two cores, and a few
          // real-kernel tests still fail on rare timings (a veth's carrier,
          // the kernel's background namespace cleanup); a real defect fails
          // both tries.
          retry: 1,
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
