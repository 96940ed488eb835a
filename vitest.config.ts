import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        // Package tests run two files at a time: each owns its PostgreSQL schema and Redis keys.
        test: { name: 'packages', include: ['packages/*/test/**/*.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // Integration suites start real server processes; run those files one at a time on this 2-core machine.
        test: { name: 'integration', include: ['test/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
