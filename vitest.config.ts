import { defineConfig } from 'vitest/config';

// Three suites, one runner: unit (pure logic), integration (real files, SQLite, ONNX,
// servers, child processes), e2e (the built UI in Debian's Chromium via playwright-core).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], testTimeout: 30_000 } },
      { test: { name: 'integration', include: ['tests/integration/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 } },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // One browser at a time: the build machines have two cores.
          fileParallelism: false,
          // A page settles later on a loaded machine: polls wait up to 10 s (not vitest's 1 s)
          // before they fail, and still fail when the condition never holds.
          expect: { poll: { timeout: 10_000, interval: 100 } },
        },
      },
    ],
  },
});
