import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Seq,
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqInWindow,
  seqLe,
  seqLt,
  seqMax,
  seqMin,
  toSeq,
} from '../../src/tcp/seq.js';
import { propOptions } from '../support/props.js';
import { seqArb, WRAP_POINTS } from './arb.js';

const s = toSeq;
const HALF = 2 ** 31;

/** A distance that keeps two numbers ordered: 1 .. 2^31 - 1. */
const orderedGapArb = fc.oneof(
  fc.integer({ min: 1, max: HALF - 1 }),
  fc.constantFrom(1, 2, HALF - 2, HALF - 1),
);

describe('seq examples', () => {
  it('wraps on addition and reduces negative steps', () => {
    expect(seqAdd(s(0xffff_ffff), 1)).toBe(0);
    expect(seqAdd(s(0xffff_fff0), 0x20)).toBe(0x10);
    expect(seqAdd(s(5), -10)).toBe(0xffff_fffb);
    expect(seqAdd(s(0x7fff_ffff), 1)).toBe(0x8000_0000);
    expect(toSeq(2 ** 32 + 7)).toBe(7);
    expect(toSeq(-1)).toBe(0xffff_ffff);
  });

  it('compares across the 2^32 wrap', () => {
    expect(seqLt(s(0xffff_fff0), s(0x10))).toBe(true);
    expect(seqGt(s(0x10), s(0xffff_fff0))).toBe(true);
    expect(seqDiff(s(0x10), s(0xffff_fff0))).toBe(0x20);
    expect(seqDiff(s(0xffff_fff0), s(0x10))).toBe(-0x20);
    expect(seqMax(s(0xffff_fff0), s(0x10))).toBe(0x10);
    expect(seqMin(s(0xffff_fff0), s(0x10))).toBe(0xffff_fff0);
  });

  it('compares across 2^31, where a signed compare would go wrong', () => {
    expect(seqLt(s(0x7fff_fff0), s(0x8000_0010))).toBe(true);
    expect(seqDiff(s(0x8000_0010), s(0x7fff_fff0))).toBe(0x20);
    // 2^31 - 1 apart is still ordered: the largest forward distance.
    expect(seqLt(s(0), s(0x7fff_ffff))).toBe(true);
    expect(seqGt(s(0), s(0x8000_0001))).toBe(true);
  });

  it('leaves numbers exactly 2^31 apart unordered (the documented choice)', () => {
    for (const a of [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 123_456_789]) {
      const x = s(a);
      const y = seqAdd(x, HALF);
      expect(seqDiff(x, y)).toBe(-HALF);
      expect(seqDiff(y, x)).toBe(-HALF);
      for (const [p, q] of [
        [x, y],
        [y, x],
      ] as const) {
        expect(seqLt(p, q)).toBe(false);
        expect(seqLe(p, q)).toBe(false);
        expect(seqGt(p, q)).toBe(false);
        expect(seqGe(p, q)).toBe(false);
      }
      expect(seqMax(x, y)).toBe(x);
      expect(seqMax(y, x)).toBe(y);
      expect(seqMin(x, y)).toBe(x);
      expect(seqMin(y, x)).toBe(y);
    }
  });

  it('a range test never accepts a number half the space away, even from an empty range', () => {
    const una = s(0xffff_fff0);
    const ack = seqAdd(una, HALF);
    expect(seqLt(una, ack) && seqLe(ack, una)).toBe(false);
  });

  it('windows are half-open and wrap', () => {
    expect(seqInWindow(s(0xffff_ffff), s(0xffff_fff0), 0x20)).toBe(true);
    expect(seqInWindow(s(0x0f), s(0xffff_fff0), 0x20)).toBe(true);
    expect(seqInWindow(s(0x10), s(0xffff_fff0), 0x20)).toBe(false);
    expect(seqInWindow(s(0xffff_ffef), s(0xffff_fff0), 0x20)).toBe(false);
    expect(seqInWindow(s(5), s(5), 0)).toBe(false);
    expect(seqInWindow(s(5), s(5), 1)).toBe(true);
    expect(seqInWindow(s(4), s(5), 2 ** 32)).toBe(true);
    expect(seqInWindow(s(0x8000_0000), s(0), HALF)).toBe(false);
    expect(seqInWindow(s(0x7fff_ffff), s(0), HALF)).toBe(true);
  });
});

describe('seq properties (values near 0, 2^31 and 2^32)', () => {
  it('the wrap points are exercised', () => {
    expect(WRAP_POINTS).toEqual([0, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff]);
  });

  it('seqAdd stays a u32 and seqDiff undoes it for distances below 2^31', () => {
    fc.assert(
      fc.property(seqArb, fc.integer({ min: -(HALF - 1), max: HALF - 1 }), (a, n) => {
        const b = seqAdd(a, n);
        expect(Number.isInteger(b) && b >= 0 && b < 2 ** 32).toBe(true);
        expect(seqDiff(b, a)).toBe(n);
        expect(seqAdd(b, -n)).toBe(a);
      }),
      propOptions(),
    );
  });

  it('a number is before every number 1 .. 2^31-1 ahead of it, and after it is never', () => {
    fc.assert(
      fc.property(seqArb, orderedGapArb, (a, gap) => {
        const b = seqAdd(a, gap);
        expect(seqLt(a, b)).toBe(true);
        expect(seqLe(a, b)).toBe(true);
        expect(seqGt(b, a)).toBe(true);
        expect(seqGe(b, a)).toBe(true);
        expect(seqLt(b, a)).toBe(false);
        expect(seqLe(b, a)).toBe(false);
        expect(seqGt(a, b)).toBe(false);
        expect(seqGe(a, b)).toBe(false);
        expect(seqMax(a, b)).toBe(b);
        expect(seqMax(b, a)).toBe(b);
        expect(seqMin(a, b)).toBe(a);
        expect(seqMin(b, a)).toBe(a);
      }),
      propOptions(),
    );
  });

  it('equal numbers: le and ge, not lt or gt', () => {
    fc.assert(
      fc.property(seqArb, (a) => {
        expect([seqLt(a, a), seqLe(a, a), seqGt(a, a), seqGe(a, a)]).toEqual([false, true, false, true]);
        expect(seqDiff(a, a)).toBe(0);
      }),
      propOptions(),
    );
  });

  it('for any pair: lt/gt are converses, le = lt or equal, and exactly one of lt/eq/gt holds unless 2^31 apart', () => {
    const pairArb = fc.oneof(
      fc.tuple(seqArb, seqArb),
      fc.tuple(seqArb, fc.integer({ min: -3, max: 3 })).map(([a, d]): [Seq, Seq] => [a, seqAdd(a, HALF + d)]),
    );
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        expect(seqLt(a, b)).toBe(seqGt(b, a));
        expect(seqLe(a, b)).toBe(seqGe(b, a));
        expect(seqLe(a, b)).toBe(seqLt(a, b) || a === b);
        expect(seqGe(a, b)).toBe(seqGt(a, b) || a === b);
        const held = [seqLt(a, b), a === b, seqGt(a, b)].filter(Boolean).length;
        expect(held).toBe((b - a) >>> 0 === HALF ? 0 : 1);
        expect(seqDiff(a, b)).toBeGreaterThanOrEqual(-HALF);
        expect(seqDiff(a, b)).toBeLessThan(HALF);
        expect(seqLt(a, b)).toBe(seqDiff(a, b) < 0 && seqDiff(a, b) !== -HALF);
      }),
      propOptions(),
    );
  });

  it('seqInWindow agrees with unbounded arithmetic on unwrapped numbers', () => {
    fc.assert(
      fc.property(
        seqArb,
        fc.nat({ max: 2 ** 32 }),
        fc.integer({ min: -10, max: 2 ** 32 + 10 }),
        (start, len, off) => {
          const x = seqAdd(start, off);
          // Reference: unwrap x to the first representative at or after start.
          const unwrapped = ((off % 2 ** 32) + 2 ** 32) % 2 ** 32;
          expect(seqInWindow(x, start, len)).toBe(unwrapped < len);
        },
      ),
      propOptions(),
    );
  });

  it('inside a window shorter than 2^31, seqInWindow is start <= x < start + len', () => {
    fc.assert(
      fc.property(
        seqArb,
        fc.integer({ min: 1, max: HALF - 1 }),
        seqArb,
        fc.integer({ min: -2, max: 2 }),
        (start, len, y, d) => {
          // x anywhere, or within 2 of either edge.
          const x = d === 0 ? y : seqAdd(d < 0 ? start : seqAdd(start, len), d > 0 ? d - 2 : d + 1);
          const end = seqAdd(start, len);
          expect(seqInWindow(x, start, len)).toBe(seqLe(start, x) && seqLt(x, end));
        },
      ),
      propOptions(),
    );
  });
});
