#!/usr/bin/env node
// Placeholder until the WebAssembly checksum lands: nothing to build yet.
