/**
 * Arbitraries for checksum tests: byte ranges at every start alignment, with lengths biased to the
 * edges of the implementations (word/vector/block boundaries, the short-path threshold, the 64 KiB
 * copy scratch of WasmChecksum) and contents that stress carries (all 0xff) as well as random bytes.
 */
import fc from 'fast-check';

/** Lengths where some implementation changes path, plus MTU-sized and maximal IP payloads. */
export const EDGE_LENGTHS = [
  0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 40, 63, 64, 65, 79, 80, 127, 128, 129, 223, 224,
  225, 255, 256, 1499, 1500, 1501, 4095, 4096, 4097, 9000, 65535, 65536, 65537, 69999, 70000,
] as const;

export const MAX_LENGTH = 70_000;

export type Fill = 'random' | 'zero' | 'ones' | 'high';

/** A byte range: `length` bytes starting `offset` bytes into a fresh buffer, filled by `fill`. */
export interface BytesCase {
  readonly offset: number;
  readonly length: number;
  readonly fill: Fill;
  readonly seed: number;
}

export const lengthArb: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(...EDGE_LENGTHS),
  fc
    .tuple(fc.constantFrom(...EDGE_LENGTHS), fc.integer({ min: -4, max: 4 }))
    .map(([l, d]) => Math.min(MAX_LENGTH, Math.max(0, l + d))),
  fc.integer({ min: 0, max: 300 }),
  fc.integer({ min: 0, max: MAX_LENGTH }),
);

export const fillArb: fc.Arbitrary<Fill> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Fill>('random') },
  { weight: 1, arbitrary: fc.constantFrom<Fill>('zero', 'ones', 'high') },
);

export function bytesCaseArb(length: fc.Arbitrary<number> = lengthArb): fc.Arbitrary<BytesCase> {
  return fc.record({
    offset: fc.integer({ min: 0, max: 7 }),
    length,
    fill: fillArb,
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
  });
}

/** Deterministic filler (xorshift32). */
export function fillBytes(b: Uint8Array, fill: Fill, seed: number): void {
  if (fill === 'zero') return void b.fill(0);
  if (fill === 'ones') return void b.fill(0xff);
  let x = seed | 0 || 1;
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = fill === 'high' ? 0x80 | (x & 0x7f) : x & 0xff;
  }
}

/**
 * The range of `c` inside a buffer that has filled bytes on both sides (8 after the end), so reading
 * outside the range changes the sum.
 */
export function makeBytes(c: BytesCase): Uint8Array {
  const buf = new Uint8Array(c.offset + c.length + 8);
  fillBytes(buf, c.fill === 'zero' ? 'random' : c.fill, c.seed);
  const range = buf.subarray(c.offset, c.offset + c.length);
  if (c.fill === 'zero') range.fill(0);
  return range;
}
