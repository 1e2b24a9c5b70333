import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file gets its own process: the addon's threads and the fd checks
    // of one file never see another's.
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
  },
});
