import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests share real daemons (dockerd, registry, sshd); files run one at a time
    // within those folders (see the `sequential` tag in each file), unit tests in parallel.
    pool: 'forks',
    // Starts (or reuses) dockerd and docker-registry through scripts/lib/common.sh.
    globalSetup: ['test/setup/services.ts'],
    reporters: ['default'],
  },
});
