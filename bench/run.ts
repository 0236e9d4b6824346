/**
 * Runs the benchmarks: `npm run bench` runs every one in BENCHES, `npm run bench -- checksum` only the
 * named ones. Each writes its JSON results under bench/results/.
 */
const BENCHES: Record<string, () => Promise<{ run: () => Promise<unknown> }>> = {
  checksum: () => import('./checksum.js'),
};

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown bench: ${unknown.join(', ')} (known: ${Object.keys(BENCHES).join(', ')})`);
  process.exit(2);
}
for (const name of requested.length > 0 ? requested : Object.keys(BENCHES)) {
  const bench = await BENCHES[name]!();
  await bench.run();
}
