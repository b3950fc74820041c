import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/**/src/**/*.test.ts', 'services/**/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    // One Redis and one S3 server for the whole run (containers, or local processes without Docker).
    globalSetup: ['test/support/global-setup.ts'],
    // vitest's summary, then the plain closing line `N passed, N failed` that CI reads.
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Stopping containers can take longer than the 10 s default.
    teardownTimeout: 30_000,
    // Child processes rather than threads: native addons (onnxruntime, sharp) and process-wide state
    // (signal handlers, env) stay per file.
    pool: 'forks',
    // Two workers for the two cores of the CI machine. Files running side by side against the shared
    // servers are isolated by the helpers in test/support/helpers.ts: one Redis database per worker
    // (VITEST_POOL_ID) and a fresh bucket per file. Tests that need the whole machine (timing-sensitive
    // stall recovery, benchmarks) belong in their own harness, not here. `--no-file-parallelism` runs
    // files one at a time when debugging.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
