/**
 * The Internet checksum (RFC 1071) in TypeScript.
 *
 * A partial sum is a number in [0, 0xffff]: the ones'-complement sum of a byte range taken as
 * big-endian 16-bit words, the range assumed to start at an even position. Partial sums of
 * consecutive chunks combine with `combine` (RFC 1071 §2(A)-(B): a chunk that starts at an odd
 * position contributes its sum byte-swapped). The transmitted checksum is `finish(sum)`.
 *
 * Fast path (CHECKSUM.md): one `Uint32Array` over the whole ArrayBuffer, summing 32-bit words in
 * native (little-endian) order into doubles with deferred carries (§2(C)), four accumulators (§2(D)),
 * the unaligned head and tail by bytes, and one byte swap at the end (§2(B)).
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Words summed before folding: 2^20 words of at most 2^32 each stays below 2^53. */
const FOLD_EVERY_WORDS = 1 << 20;

let cachedBuffer: ArrayBufferLike | undefined;
let cachedWords: Uint32Array = new Uint32Array(0);

function wordsOf(buffer: ArrayBufferLike): Uint32Array {
  // A new view costs tens of ns; frames usually come from the same receive buffer.
  if (buffer !== cachedBuffer) {
    cachedWords = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    cachedBuffer = buffer;
  }
  return cachedWords;
}

/** Folds a non-negative double into 16 bits with end-around carry. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000);
  return s;
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

/** Ones'-complement sum of `b` (as if it started at an even position), plus `initial`, folded to 16 bits. */
export function sum16(b: Uint8Array, initial = 0): number {
  if (!LITTLE_ENDIAN || b.length < 16) return sumNaive(b, initial);
  const buf = b.buffer;
  const start = b.byteOffset;
  const end = start + b.length;
  const bytes = b;
  // Native little-endian sum keyed by absolute address parity: even addresses are low bytes.
  let head = 0;
  let a = start;
  while (a & 3) {
    head += a & 1 ? bytes[a - start]! << 8 : bytes[a - start]!;
    a++;
  }
  const words = wordsOf(buf);
  let w = a >>> 2;
  const wEnd = end >>> 2;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let total = head;
  while (w < wEnd) {
    const stop = Math.min(wEnd, w + FOLD_EVERY_WORDS);
    for (; w + 3 < stop; w += 4) {
      s0 += words[w]!;
      s1 += words[w + 1]!;
      s2 += words[w + 2]!;
      s3 += words[w + 3]!;
    }
    for (; w < stop; w++) s0 += words[w]!;
    total = fold(total + fold(s0) + fold(s1) + fold(s2) + fold(s3));
    s0 = s1 = s2 = s3 = 0;
  }
  for (let t = wEnd << 2; t < end; t++) total += t & 1 ? bytes[t - start]! << 8 : bytes[t - start]!;
  let s = fold(total);
  // From an even start the native sum is the byte swap of the network-order sum (§2(B)); from an odd
  // start the range's even positions sit at odd addresses and the sum is already in network order.
  if ((start & 1) === 0) s = swap16(s);
  return fold(s + initial);
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
