/**
 * Shared fast-check settings. `OASIS_PROP_RUNS` scales every property (e.g. 1000000 for the long run);
 * `OASIS_PROP_SEED` replays a reported failure.
 */
import fc from 'fast-check';

const scale = Number(process.env.OASIS_PROP_RUNS ?? '0');

/** Options for a property whose default run count is `runs` (raised to OASIS_PROP_RUNS when that is larger). */
export function propOptions(runs = 200): fc.Parameters<unknown> {
  const seed = process.env.OASIS_PROP_SEED;
  return {
    numRuns: Math.max(runs, scale),
    ...(seed === undefined ? {} : { seed: Number(seed) }),
  };
}

/** Arbitrary bytes, and valid frames with a few bytes overwritten, truncated or extended. */
export function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 1600 }),
    fc
      .tuple(
        valid,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.nat(),
      )
      .map(([frame, edits, cut]) => {
        const out = frame.slice();
        for (const [at, v] of edits) if (out.length > 0) out[at % out.length] = v;
        return cut % 3 === 0 ? out.subarray(0, cut % (out.length + 1)) : out;
      }),
  );
}
