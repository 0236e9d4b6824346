/**
 * The Internet checksum (RFC 1071) in TypeScript.
 *
 * A partial sum is a number in [0, 0xffff]: the ones'-complement sum of a byte range taken as
 * big-endian 16-bit words, the range assumed to start at an even position. Partial sums of
 * consecutive chunks combine with `combine` (RFC 1071 §2(A)-(B): a chunk that starts at an odd
 * position contributes its sum byte-swapped). The transmitted checksum is `finish(sum)`.
 *
 * Fast path (docs/CHECKSUM.md): one `Uint32Array` over the whole ArrayBuffer, summing 32-bit words in
 * native (little-endian) order with deferred carries (§2(C)) in any order (§2(D)), the unaligned head
 * and tail by bytes, and one byte swap at the end (§2(B)). Ranges under 224 bytes take a byte loop
 * that needs no setup. The WebAssembly SIMD variant is in wasm.ts.
 *
 * Speed depends on V8's ArrayBufferDetaching protector: once any ArrayBuffer in the process has been
 * detached (a transfer, a growing WebAssembly.Memory, tsx loading a large CommonJS file), every
 * typed-array read also checks for detachment and the word loop runs ~20% slower.
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Words summed before folding: 2^20 words of at most 2^32 each, split over two accumulators, stay below 2^53. */
const FOLD_EVERY_WORDS = 1 << 20;

/** Below this length `sumSmall` wins: the word loop's setup (the `.buffer` getter, head, tail) costs ~30 ns. */
const SMALL = 224;

// The view of the last buffer summed (which it keeps alive): a new view costs tens of ns, and frames
// usually come from the same receive buffer.
let cachedBuffer: ArrayBufferLike | undefined;
let cachedWords: Uint32Array = new Uint32Array(0);

/** A `Uint32Array` over all of `buffer`, covering at least `words` words. */
function wordsOf(buffer: ArrayBufferLike, words: number): Uint32Array {
  // The length check also renews the view when a resizable buffer has grown since.
  if (buffer !== cachedBuffer || cachedWords.length < words) {
    cachedWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    cachedBuffer = buffer;
  }
  return cachedWords;
}

/**
 * Folds a non-negative integer below 2^53 into 16 bits with end-around carry (RFC 1071 §4.1).
 * A nonzero sum never folds to 0. `>>> 0` takes a double modulo 2^32 exactly, with no slow `%`.
 */
export function fold(sum: number): number {
  let s = sum;
  if (s > 0xffffffff) {
    s = (s >>> 0) + Math.floor(s / 0x100000000);
    if (s > 0xffffffff) s = (s >>> 0) + 1;
  }
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

function swap16(x: number): number {
  return ((x & 0xff) << 8) | (x >>> 8);
}

/** Reference implementation: big-endian byte pairs. Slow; the oracle for tests and the baseline for benchmarks. */
export function sumNaive(b: Uint8Array, initial = 0): number {
  let s = initial;
  const n = b.length;
  let i = 0;
  for (; i + 1 < n; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < n) s += b[i]! << 8;
  return fold(s);
}

/**
 * Short ranges: the high bytes and the low bytes of the big-endian words summed apart, eight bytes per
 * iteration, combined once (RFC 1071 §2(C): no carry handling below 2^53). About twice the byte-pair loop.
 */
function sumSmall(b: Uint8Array, initial: number): number {
  const n = b.length;
  const n8 = n - 7;
  let hi = 0;
  let lo = 0;
  let i = 0;
  for (; i < n8; i += 8) {
    hi += b[i]! + b[i + 2]! + (b[i + 4]! + b[i + 6]!);
    lo += b[i + 1]! + b[i + 3]! + (b[i + 5]! + b[i + 7]!);
  }
  for (; i < n - 1; i += 2) {
    hi += b[i]!;
    lo += b[i + 1]!;
  }
  if (i < n) hi += b[i]!;
  return fold(hi * 256 + lo + initial);
}

/** The SIMD sums of wasm.ts, registered by whoever reads frames into its memory. */
export interface SimdSummer {
  readonly buffer: ArrayBufferLike;
  /** A range of `buffer`, summed where it lies. */
  sumInPlace(offset: number, length: number, initial: number): number;
  /** Any bytes, copied into the instance's memory first. */
  sumCopy(b: Uint8Array, initial: number): number;
}

let simd: SimdSummer | undefined;

/**
 * Makes `sum16` use `s` for long ranges: in place for views of `s.buffer` (the TAP driver reads
 * frames into it; ~4x the word loop at 1500 bytes), with a copy-in for the rest above COPY_MIN (~1.8x,
 * docs/CHECKSUM.md: outgoing segments). Same results, so purity is untouched. `undefined` switches it off.
 */
export function useSimdChecksum(s: SimdSummer | undefined): void {
  simd = s;
}

/** From here on the copy into WASM memory plus SIMD beats the word loop (bench/results/checksum.json). */
const COPY_MIN = 512;

/** Ones'-complement sum of `b` (as if it started at an even position), plus `initial`, folded to 16 bits. */
export function sum16(b: Uint8Array, initial = 0): number {
  // Word indices are int32 (`>> 2`, which the compiler types tightly): ranges ending past 2 GiB go the
  // byte way. Kept apart from sumWords: with both loops in one function the short path ran 2x slower.
  if (b.length < SMALL || b.byteOffset + b.length > 0x7fffffff || !LITTLE_ENDIAN) return sumSmall(b, initial);
  // Only past SMALL: `.buffer` of a small typed array kept on V8's heap would allocate an ArrayBuffer.
  if (simd !== undefined) {
    if (b.buffer === simd.buffer) return simd.sumInPlace(b.byteOffset, b.length, initial);
    if (b.length >= COPY_MIN) return simd.sumCopy(b, initial);
  }
  return sumWords(b, initial);
}

/** The word loop for `sum16`, for a range of at least 8 bytes ending below 2 GiB on a little-endian host. */
function sumWords(b: Uint8Array, initial: number): number {
  const start = b.byteOffset;
  const end = start + b.length;
  // Native little-endian sum keyed by absolute address parity: even addresses are low bytes.
  // Head: the 1-3 bytes before the first 4-aligned address.
  let total = 0;
  switch (start & 3) {
    case 1:
      total = (b[0]! << 8) + b[1]! + (b[2]! << 8);
      break;
    case 2:
      total = b[0]! | (b[1]! << 8);
      break;
    case 3:
      total = b[0]! << 8;
      break;
  }
  let w = (start + 3) >> 2;
  const wEnd = end >> 2;
  const words = wordsOf(b.buffer, wEnd);
  while (w < wEnd) {
    const stop = wEnd - w > FOLD_EVERY_WORDS ? w + FOLD_EVERY_WORDS : wEnd;
    // `w < stop16` (not `w + 15 < stop`) lets the compiler bound `w` and drop overflow checks. V8 adds
    // each bracketed group of uint32 words as 64-bit integers and converts once per group, so wide
    // groups beat one double accumulator per word (measured: 1.6x the 4-accumulator loop).
    const stop16 = stop - 15;
    let s0 = 0;
    let s1 = 0;
    for (; w < stop16; w += 16) {
      s0 +=
        words[w]! +
        words[w + 1]! +
        (words[w + 2]! + words[w + 3]!) +
        (words[w + 4]! + words[w + 5]! + (words[w + 6]! + words[w + 7]!));
      s1 +=
        words[w + 8]! +
        words[w + 9]! +
        (words[w + 10]! + words[w + 11]!) +
        (words[w + 12]! + words[w + 13]! + (words[w + 14]! + words[w + 15]!));
    }
    for (; w < stop; w++) s0 += words[w]!;
    total = fold(total + s0 + s1);
  }
  // Tail: the 0-3 bytes after the last whole word.
  const t = (wEnd << 2) - start;
  switch (end & 3) {
    case 1:
      total += b[t]!;
      break;
    case 2:
      total += b[t]! | (b[t + 1]! << 8);
      break;
    case 3:
      total += b[t]! + (b[t + 1]! << 8) + b[t + 2]!;
      break;
  }
  let s = fold(total);
  // From an even start the native sum is the byte swap of the network-order sum (§2(B)); from an odd
  // start the range's even positions sit at odd addresses and the sum is already in network order.
  if ((start & 1) === 0) s = swap16(s);
  s += initial;
  return s > 0xffff ? fold(s) : s;
}

/**
 * Adds the partial sum of a chunk that starts `offset` bytes into the checksummed range.
 * RFC 1071 §2(B): a chunk at an odd offset contributes its sum byte-swapped.
 */
export function combine(acc: number, chunkSum: number, offset: number): number {
  return fold(acc + (offset & 1 ? swap16(chunkSum) : chunkSum));
}

/** The value to transmit: the complement of the folded sum. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** Partial sum of the IPv4 pseudo-header (RFC 793 §3.1 / RFC 768): src, dst, zero, protocol, length. */
export function pseudoHeaderV4(src: number, dst: number, protocol: number, length: number): number {
  return fold((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length);
}

/** Partial sum of the IPv6 pseudo-header (RFC 8200 §8.1): src, dst, upper-layer length (32 bit), next header. */
export function pseudoHeaderV6(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number): number {
  let s = nextHeader + (length >>> 16) + (length & 0xffff);
  for (let i = 0; i < 16; i += 2) s += ((src[i]! << 8) | src[i + 1]!) + ((dst[i]! << 8) | dst[i + 1]!);
  return fold(s);
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit field changes from `oldWord` to `newWord`,
 * HC' = ~(~HC + ~m + m'). (RFC 1141's HC + m - m' can yield -0 and is not used.)
 */
export function updateChecksum(checksum: number, oldWord: number, newWord: number): number {
  return ~fold((~checksum & 0xffff) + (~oldWord & 0xffff) + newWord) & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address), as two 16-bit updates. */
export function updateChecksum32(checksum: number, oldValue: number, newValue: number): number {
  return updateChecksum(
    updateChecksum(checksum, oldValue >>> 16, newValue >>> 16),
    oldValue & 0xffff,
    newValue & 0xffff,
  );
}

/** True when a range that includes its own checksum field sums to 0xffff (RFC 1071 §1: verification). */
export function verifies(sum: number): boolean {
  return fold(sum) === 0xffff;
}

/** The addresses of an IPv4 or IPv6 pseudo-header; the protocol and length come from the upper layer. */
export type PseudoHeader =
  | { readonly version: 4; readonly src: number; readonly dst: number }
  | { readonly version: 6; readonly src: Uint8Array; readonly dst: Uint8Array };

/** Partial sum of the pseudo-header for an upper-layer segment of `length` bytes. */
export function pseudoHeaderSum(ph: PseudoHeader, protocol: number, length: number): number {
  return ph.version === 4
    ? pseudoHeaderV4(ph.src, ph.dst, protocol, length)
    : pseudoHeaderV6(ph.src, ph.dst, protocol, length);
}
