/**
 * Where this package's `oasis` executable is, for the demos' child processes (`node bin/oasis.js
 * router …`). Found upward from this module because the module lies at a different depth in tsc's
 * output (dist/cli/bin.js) and in the bundled CLI (dist/oasis.mjs, scripts/build-cli.mjs).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function oasisBin(): string {
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    const bin = join(dir, 'bin', 'oasis.js');
    if (existsSync(bin)) return bin;
    if (dirname(dir) === dir) throw new Error(`bin/oasis.js not found above ${import.meta.dirname}`);
  }
}
