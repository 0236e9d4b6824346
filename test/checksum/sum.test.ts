import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, setU16, setU32, u16, u32 } from '../../src/bytes.js';
import {
  combine,
  finish,
  fold,
  pseudoHeaderSum,
  sum16,
  sumNaive,
  updateChecksum,
  updateChecksum32,
  verifies,
  WasmChecksum,
} from '../../src/checksum/index.js';
import { propOptions } from '../support/props.js';
import { bytesCaseArb, fillBytes, makeBytes } from './arb.js';

const wasm = new WasmChecksum();

/** Reference fold: the ones'-complement residue, 0 only for 0 (RFC 1071 §4.1's end-around carry loop). */
function refFold(x: number): number {
  return x === 0 ? 0 : ((x - 1) % 0xffff) + 1;
}

const initialArb = fc.oneof(
  fc.constant(0),
  fc.constant(0xffff),
  fc.integer({ min: 0, max: 0xffff }),
  fc.integer({ min: 0, max: 2 ** 40 }),
);

describe('golden sums', () => {
  it('RFC 1071 §3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2', () => {
    const b = fromHex('0001f203f4f5f6f7');
    expect(sumNaive(b)).toBe(0xddf2);
    expect(sum16(b)).toBe(0xddf2);
    expect(wasm.sumCopy(b)).toBe(0xddf2);
  });

  it('IPv4 header 4500 0030 4422 4000 8006 [0000] 8c7c 19ac ae24 1e2b has checksum 0x442e', () => {
    // The worked example of the IPv4 header checksum published on Wikipedia ("Internet checksum").
    const h = fromHex('450000304422400080060000 8c7c19acae241e2b');
    expect(finish(sum16(h))).toBe(0x442e);
    setU16(h, 10, 0x442e);
    expect(verifies(sum16(h))).toBe(true);
  });
});

describe('every variant equals the byte-pair reference', () => {
  it('for all offsets 0-7 and lengths 0-300 (exhaustive)', () => {
    for (let length = 0; length <= 300; length++) {
      for (let offset = 0; offset < 8; offset++) {
        const b = makeBytes({ offset, length, fill: 'random', seed: length * 8 + offset + 1 });
        const ref = sumNaive(b);
        expect([length, offset, sum16(b)]).toEqual([length, offset, ref]);
        wasm.bytes.set(b, offset);
        expect([length, offset, wasm.sumInPlace(offset, length)]).toEqual([length, offset, ref]);
        expect([length, offset, wasm.sumCopy(b)]).toEqual([length, offset, ref]);
      }
    }
  });

  it('for lengths up to 70,000 biased to the edges, with any initial sum', () => {
    fc.assert(
      fc.property(bytesCaseArb(), initialArb, (c, initial) => {
        const b = makeBytes(c);
        const ref = sumNaive(b, initial);
        expect(sum16(b, initial)).toBe(ref);
        expect(wasm.sumCopy(b, initial)).toBe(ref);
        // In place at every start alignment of WASM memory.
        for (let at = 0; at < 8; at++) {
          wasm.bytes.set(b, at);
          expect(wasm.sumInPlace(at, b.length, initial)).toBe(ref);
        }
      }),
      propOptions(),
    );
  });

  it('sum16 follows a resizable buffer that grew after it was summed', () => {
    // ES2024 resizable ArrayBuffer (in Node 20), typed locally: the project's lib is ES2023.
    const Resizable = ArrayBuffer as unknown as new (
      n: number,
      o: { maxByteLength: number },
    ) => ArrayBuffer & { resize(n: number): void };
    const ab = new Resizable(512, { maxByteLength: 8192 });
    const all = () => new Uint8Array(ab);
    fillBytes(all(), 'random', 3);
    expect(sum16(all().subarray(2))).toBe(sumNaive(all().subarray(2)));
    ab.resize(8192);
    fillBytes(all(), 'random', 4);
    expect(sum16(all().subarray(2))).toBe(sumNaive(all().subarray(2)));
    ab.resize(300);
    expect(sum16(all().subarray(1))).toBe(sumNaive(all().subarray(1)));
  });

  it('past the fold interval of sum16 (4 MiB) and the 1 MiB chunks of the WASM loop', () => {
    const big = new WasmChecksum({ ringBytes: 9 << 20 });
    for (const fill of ['ones', 'random', 'high'] as const) {
      const b = new Uint8Array((9 << 20) + 8);
      fillBytes(b, fill, 7);
      for (const [offset, length] of [
        [0, 9 << 20],
        [1, (9 << 20) - 3],
        [3, (4 << 20) + 5],
        [2, (1 << 20) + 64],
      ] as const) {
        const range = b.subarray(offset, offset + length);
        const ref = sumNaive(range);
        expect(sum16(range)).toBe(ref);
        expect(wasm.sumCopy(range)).toBe(ref);
        big.bytes.set(range, offset);
        expect(big.sumInPlace(offset, length)).toBe(ref);
      }
    }
  });
});

describe('combine', () => {
  const variants: ReadonlyArray<(b: Uint8Array) => number> = [
    (b) => sum16(b),
    (b) => sumNaive(b),
    (b) => wasm.sumCopy(b),
    (b) => {
      // In place at a position of the other parity from the chunk's place in the range.
      wasm.bytes.set(b, 3);
      return wasm.sumInPlace(3, b.length);
    },
  ];

  it('partial sums over any chunking, each summed as if at an even start, combine to the one-shot sum', () => {
    fc.assert(
      fc.property(
        bytesCaseArb(fc.integer({ min: 0, max: 3000 })),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: variants.length - 1 }), { minLength: 13, maxLength: 13 }),
        fc.integer({ min: 0, max: 0xffff }),
        (c, rawCuts, picks, initial) => {
          const b = makeBytes(c);
          const cuts = [...new Set(rawCuts.map((x) => x % (b.length + 1)))].sort((x, y) => x - y);
          const bounds = [0, ...cuts, b.length];
          let acc = initial;
          for (let i = 0; i + 1 < bounds.length; i++) {
            const from = bounds[i]!;
            const chunk = b.subarray(from, bounds[i + 1]!);
            acc = combine(acc, variants[picks[i]!]!(chunk), from);
          }
          expect(acc).toBe(sumNaive(b, initial));
        },
      ),
      propOptions(),
    );
  });

  it('swaps a chunk at an odd offset (RFC 1071 §2(B))', () => {
    const b = fromHex('0001f203f4f5f6f7');
    // [00] then [01 f2 03 f4 f5 f6 f7]: the second chunk starts at an odd offset.
    expect(combine(sum16(b.subarray(0, 1)), sum16(b.subarray(1)), 1)).toBe(0xddf2);
  });
});

describe('filling and verifying', () => {
  const fieldCase = fc
    .tuple(bytesCaseArb(fc.integer({ min: 2, max: 2000 })), fc.nat(), fc.integer({ min: 0, max: 0xffff }))
    .map(([c, at, pseudo]) => ({ c, field: 2 * (at % Math.floor(c.length / 2)), pseudo }));

  it('a buffer with its checksum filled in verifies, and any one changed byte is detected', () => {
    fc.assert(
      fc.property(
        fieldCase,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        ({ c, field, pseudo }, at, delta) => {
          const b = makeBytes(c);
          setU16(b, field, 0);
          setU16(b, field, finish(sum16(b, pseudo)));
          expect(verifies(sum16(b, pseudo))).toBe(true);
          expect(verifies(wasm.sumCopy(b, pseudo))).toBe(true);
          const i = at % b.length;
          b[i] = (b[i]! + delta) & 0xff;
          expect(verifies(sum16(b, pseudo))).toBe(false);
        },
      ),
      propOptions(),
    );
  });
});

describe('RFC 1624 incremental update', () => {
  it('RFC 1624 §4 example: HC 0xdd2f, field 0x5555 -> 0x3285 gives 0x0000, not -0 (0xffff)', () => {
    expect(updateChecksum(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it.each([
    // RFC 1624 errata 5864: an unchanged field leaves HC 0x0000 as +0; a change carries around twice.
    [0x0000, 0x5555, 0x5555, 0x0000],
    [0x0000, 0x5555, 0x5556, 0xfffe],
  ])('HC %i, %i -> %i gives %i', (hc, m, m2, want) => {
    expect(updateChecksum(hc, m, m2)).toBe(want);
  });

  /** A header with a filled checksum field and a changed 16- or 32-bit field that does not overlap it. */
  const updateCase = (width: 2 | 4) =>
    fc
      .tuple(
        fc.uint8Array({ minLength: 8, maxLength: 60 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: width === 2 ? 0xffff : 0xffffffff }),
      )
      .map(([h, a, b, value]) => {
        const words = Math.floor(h.length / 2);
        const csum = 2 * (a % words);
        let field = 2 * (b % (words - width / 2 + 1));
        // Move a field that overlaps the checksum just past it, or before it if there is no room.
        if (field < csum + 2 && csum < field + width) field = csum + 2 + width <= 2 * words ? csum + 2 : 0;
        return { h, csum, field, value };
      })
      .filter(({ csum, field }) => !(field < csum + 2 && csum < field + width));

  function recomputed(h: Uint8Array, csum: number): number {
    setU16(h, csum, 0);
    return finish(sum16(h));
  }

  function allZero(b: Uint8Array): boolean {
    return b.every((x) => x === 0);
  }

  it('updateChecksum equals recomputation for any header and changed field', () => {
    fc.assert(
      fc.property(updateCase(2), ({ h, csum, field, value }) => {
        const hc = recomputed(h, csum);
        const old = u16(h, field);
        setU16(h, field, value);
        // All-zero data is the one case where recomputation gives -0 (0xffff) and RFC 1624 gives +0.
        fc.pre(!allZero(h));
        expect(updateChecksum(hc, old, value)).toBe(recomputed(h, csum));
      }),
      propOptions(),
    );
  });

  it('updateChecksum32 equals recomputation for any header and changed 32-bit field', () => {
    fc.assert(
      fc.property(updateCase(4), ({ h, csum, field, value }) => {
        const hc = recomputed(h, csum);
        const old = u32(h, field);
        setU32(h, field, value);
        fc.pre(!allZero(h));
        expect(updateChecksum32(hc, old, value)).toBe(recomputed(h, csum));
      }),
      propOptions(),
    );
  });

  it('never produces -0 (0xffff) from a checksum that is not itself 0xffff', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xfffe }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 0xffffffff }),
        (hc, m, m2, a, a2) => {
          expect(updateChecksum(hc, m, m2)).not.toBe(0xffff);
          expect(updateChecksum32(hc, a, a2)).not.toBe(0xffff);
        },
      ),
      propOptions(),
    );
  });
});

describe('pseudoHeaderSum', () => {
  it('IPv4 (RFC 793 §3.1 / RFC 768): src, dst, zero, protocol, length', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 0xffffffff }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        (src, dst, proto, len) => {
          const ph = new Uint8Array(12);
          setU32(ph, 0, src);
          setU32(ph, 4, dst);
          ph[9] = proto;
          setU16(ph, 10, len);
          expect(pseudoHeaderSum({ version: 4, src, dst }, proto, len)).toBe(sumNaive(ph));
        },
      ),
      propOptions(),
    );
  });

  it('IPv6 (RFC 8200 §8.1): src, dst, 32-bit length, three zero bytes, next header', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 255 }),
        fc.nat({ max: 0xffffffff }),
        (src, dst, nh, len) => {
          const ph = new Uint8Array(40);
          ph.set(src, 0);
          ph.set(dst, 16);
          setU32(ph, 32, len);
          ph[39] = nh;
          expect(pseudoHeaderSum({ version: 6, src, dst }, nh, len)).toBe(sumNaive(ph));
        },
      ),
      propOptions(),
    );
  });
});

describe('fold and finish', () => {
  it.each([
    [0, 0],
    [1, 1],
    [0xffff, 0xffff],
    [0x10000, 1],
    [0x1fffe, 0xffff],
    [0x1ffff, 1],
    [0xffffffff, 0xffff],
    [0x100000000, 1],
    [0x1000000000, 0x10],
    [Number.MAX_SAFE_INTEGER, refFold(Number.MAX_SAFE_INTEGER)],
  ])('fold(%i) = %i', (x, want) => {
    expect(fold(x)).toBe(want);
  });

  it('fold equals the ones-complement residue for every safe integer', () => {
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeNat(), fc.nat({ max: 0x3ffff }), fc.nat({ max: 2 ** 34 })), (x) => {
        expect(fold(x)).toBe(refFold(x));
      }),
      propOptions(),
    );
  });

  it('finish complements: +0 and -0 swap, and fold(sum) + finish(sum) is always 0xffff', () => {
    expect(finish(0)).toBe(0xffff);
    expect(finish(0xffff)).toBe(0);
    expect(finish(0x10000)).toBe(0xfffe);
    expect(verifies(0xffff)).toBe(true);
    expect(verifies(0)).toBe(false);
    fc.assert(
      fc.property(fc.maxSafeNat(), (x) => {
        expect(fold(x) + finish(x)).toBe(0xffff);
      }),
      propOptions(),
    );
  });
});
