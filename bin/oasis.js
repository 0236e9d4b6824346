#!/usr/bin/env node
// The CLI is one bundled module (scripts/build-cli.mjs): loading it costs ~10 MB less than loading
// dist/cli/main.js with its ~130 imports.
import { main } from '../dist/oasis.mjs';

process.exitCode = await main(process.argv.slice(2));
