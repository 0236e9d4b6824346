import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // A fork per file, so a hung FFI call cannot wedge another file's worker. Interop files ask for
    // their own subnets and namespaces (test/support/subnets.ts) and mostly wait on timers and the
    // kernel, so at least two run at once even on two CPUs (vitest's default there is one).
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
