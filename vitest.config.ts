import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // e2e tests filter their probes to their own processes or containers, so files may run side by side.
    fileParallelism: true,
    pool: 'forks',
  },
});
