/**
 * TCP sequence-number arithmetic (RFC 9293 §3.4, serial-number arithmetic of RFC 1982 with SERIAL_BITS
 * = 32). Sequence numbers live on a circle of 2^32; they are compared only through these functions,
 * never with raw `<` (the signed-compare bug of mirage-tcpip's `Sequence.compare`).
 *
 * `a` is before `b` when the forward distance from `a` to `b` is in (0, 2^31): `((b - a) | 0) > 0`.
 *
 * Exactly 2^31 apart (RFC 1982 §3.2 leaves this undefined): the two numbers are UNORDERED. `seqDiff`
 * returns -2^31 in both directions, and `seqLt`, `seqLe`, `seqGt`, `seqGe` are all false in both
 * directions (they are never equal). Linux's `before()` answers "each is before the other" instead; we
 * answer "neither", so a range test built from these comparisons (`seqLt(sndUna, ack) &&
 * seqLe(ack, sndNxt)`) never accepts a number half the space away from its bounds, even when the range
 * is empty. Windows are below 2^30 (RFC 7323 §2.3), so a number 2^31 away is never legitimately inside
 * one. `seqMax`/`seqMin` of an unordered pair return their first argument.
 */

/** A 32-bit sequence number (an unsigned integer in [0, 2^32)). */
export type Seq = number & { readonly __brand: 'Seq' };

const HALF = -0x8000_0000;

/** Brands a number as a sequence number, reducing it modulo 2^32. */
export function toSeq(n: number): Seq {
  return (n >>> 0) as Seq;
}

/** `a + n` modulo 2^32; `n` may be negative (any integer with |n| < 2^53). */
export function seqAdd(a: Seq, n: number): Seq {
  return ((a + n) >>> 0) as Seq;
}

/**
 * The signed distance `a - b` in [-2^31, 2^31): positive when `a` is after `b`. Exactly 2^31 apart
 * it is -2^31 both ways.
 */
export function seqDiff(a: Seq, b: Seq): number {
  return (a - b) | 0;
}

/** `a` strictly before `b`. */
export function seqLt(a: Seq, b: Seq): boolean {
  const d = (a - b) | 0;
  return d < 0 && d !== HALF;
}

/** `a` before or equal to `b`. */
export function seqLe(a: Seq, b: Seq): boolean {
  const d = (a - b) | 0;
  return d <= 0 && d !== HALF;
}

/** `a` strictly after `b`. */
export function seqGt(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) > 0;
}

/** `a` after or equal to `b`. */
export function seqGe(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) >= 0;
}

/** The later of two sequence numbers; `a` when they are unordered (2^31 apart). */
export function seqMax(a: Seq, b: Seq): Seq {
  return seqLt(a, b) ? b : a;
}

/** The earlier of two sequence numbers; `a` when they are unordered (2^31 apart). */
export function seqMin(a: Seq, b: Seq): Seq {
  return seqLt(b, a) ? b : a;
}

/**
 * `start <= x < start + len` modulo 2^32, i.e. `x` is one of the `len` numbers from `start` on.
 * `len` is a window size in [0, 2^32]; a zero-length window contains nothing (RFC 9293 §3.4's
 * acceptability tests treat RCV.WND = 0 separately).
 */
export function seqInWindow(x: Seq, start: Seq, len: number): boolean {
  return (x - start) >>> 0 < len;
}
