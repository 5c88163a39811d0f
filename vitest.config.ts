import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests share real daemons (dockerd, registry, sshd); tests within a file run in
    // order (the `sequential` tag), files that own the `taupageapp` container take turns through
    // test/harness/app-lock.ts, everything else uses its own ports, names and scratch dirs.
    pool: 'forks',
    // Most files wait on daemons and child processes rather than compute, so even 2 cores run two
    // files at a time (vitest's default, cores - 1, would run one: 3.5 instead of 2 min here).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // Starts (or reuses) dockerd and docker-registry through scripts/lib/common.sh.
    globalSetup: ['test/harness/services.ts'],
    // In every file: its scratch roots removed after it.
    setupFiles: ['test/harness/per-file.ts'],
    reporters: ['default'],
  },
});
