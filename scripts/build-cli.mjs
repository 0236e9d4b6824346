#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts and everything it imports) into one module, dist/oasis.mjs, which
// bin/oasis.js loads. Node resolves, reads and compiles ~130 separate ES modules otherwise, and that
// alone holds ~10 MB of an idle `oasis up` (bench/rss.ts: 64 MB loading dist/cli/main.js, 56 MB
// bundled). The library (`import 'oasis-net'`) stays tsc's one-file-per-module output in dist/.
// Dependencies (koffi's native module, pcap-parser) stay outside the bundle, loaded from node_modules.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [resolve(ROOT, 'src/cli/main.ts')],
  outfile: resolve(ROOT, 'dist/oasis.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // Not minified: stack traces keep the names of functions (the source map maps lines to src/).
  sourcemap: true,
  logLevel: 'warning',
});
