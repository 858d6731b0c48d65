import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // One file at a time: e2e tests measure latencies and rates of real services, and on a
    // 2-core machine a neighbouring file's load skews them (the whole suite takes ~6 min).
    fileParallelism: false,
    pool: 'forks',
  },
});
