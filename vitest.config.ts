import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Interop tests share the kernel's network namespaces and TAP devices: run files one at a time
    // in a fork each so a hung FFI call cannot wedge another file's worker.
    pool: 'forks',
    fileParallelism: true,
  },
});
