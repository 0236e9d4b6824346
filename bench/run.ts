/**
 * Runs the benchmarks: `npm run bench` runs every one in BENCHES, `npm run bench -- checksum` only the
 * named ones. Each writes its JSON results under bench/results/.
 */
const BENCHES: Record<string, () => Promise<{ run: () => Promise<unknown> }>> = {
  checksum: () => import('./checksum.js'),
  iperf3: () => import('./iperf3.js'),
  ping: () => import('./ping.js'),
  rss: () => import('./rss.js'),
  scale: () => import('./scale.js'),
  wire: () => import('./wire.js'),
  'tcp-memory': () => import('./tcp-memory.js'),
  fib: () => import('./fib.js'),
  router: () => import('./router.js'),
  nat: () => import('./nat.js'),
  conntrack: () => import('./conntrack.js'),
  loss: () => import('./loss.js'),
  hardening: () => import('./hardening.js'),
  // Gathers every results file into SUMMARY.md and the chart; always run last.
  summary: () => import('./summary.js'),
};

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown bench: ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
  process.exit(2);
}
// The summary always comes last, so SUMMARY.md and the chart follow whatever was measured.
const names =
  requested.length > 0 ? [...requested.filter((n) => n !== 'summary'), 'summary'] : Object.keys(BENCHES);
for (const name of names) {
  const bench = await BENCHES[name]!();
  await bench.run();
}
