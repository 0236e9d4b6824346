/**
 * A small seeded pseudo-random generator: xoshiro128** (Blackman & Vigna, 2018), seeded through
 * splitmix32 so that any 32-bit seed, 0 included, gives a well-mixed non-zero state.
 *
 * Not cryptographic. Used where a run must be reproducible from its seed: link impairments,
 * simulations, test schedules. Pure: no clock, no Math.random.
 */

/** One splitmix32 step: returns [output, next state]. Also a good 32-bit mixer for deriving seeds. */
export function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [(z ^ (z >>> 16)) >>> 0, next];
}

/** A seed derived from `seed` and a stream number, so one user seed can drive independent streams. */
export function deriveSeed(seed: number, stream: number): number {
  return splitmix32((seed ^ Math.imul(stream + 1, 0x632be5ab)) | 0)[0];
}

export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** `seed` is taken modulo 2^32. */
  constructor(seed: number) {
    let st = seed | 0;
    let out: number;
    [out, st] = splitmix32(st);
    this.s0 = out | 0;
    [out, st] = splitmix32(st);
    this.s1 = out | 0;
    [out, st] = splitmix32(st);
    this.s2 = out | 0;
    [out, st] = splitmix32(st);
    this.s3 = out | 0;
  }

  /** A generator with the raw xoshiro128** state (not all zero): for reference vectors and replay. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Random {
    if ((s0 | s1 | s2 | s3) === 0) throw new Error('Random.fromState: the all-zero state is invalid');
    const r = new Random(0);
    r.s0 = s0 | 0;
    r.s1 = s1 | 0;
    r.s2 = s2 | 0;
    r.s3 = s3 | 0;
    return r;
  }

  /** The next unsigned 32-bit value. */
  next(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** Uniform integer in [0, n) for 1 <= n <= 2^32 (multiply-shift; bias below 2^-32 * n, fine here). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** True with probability `p` (p <= 0 never, p >= 1 always; each call consumes one value). */
  chance(p: number): boolean {
    return this.float() < p;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
