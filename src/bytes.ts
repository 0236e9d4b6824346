/**
 * Big-endian field access over `Uint8Array` views, and `Slabs` to cut many small buffers from few.
 * Callers check bounds first (views are checked once at construction), so the field helpers do no
 * checking of their own.
 */

export function u16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

export function u32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function setU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

export function setU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/** Copies `src` into `dst` at `off` (a bounds error here is a bug in the caller's sizing). */
export function put(dst: Uint8Array, off: number, src: Uint8Array): void {
  dst.set(src, off);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lower-case hex, for logs, errors and test expectations. */
export function toHex(b: Uint8Array, sep = ''): string {
  let s = '';
  for (let i = 0; i < b.length; i++) {
    if (i > 0) s += sep;
    s += b[i]!.toString(16).padStart(2, '0');
  }
  return s;
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/[^0-9a-fA-F]/g, '');
  if (clean.length % 2 !== 0) throw new Error('fromHex: odd number of digits');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Zeroed pieces cut one after another out of shared slabs, instead of an ArrayBuffer each: at a
 * hundred thousand pieces a second, V8's background sweeper freeing per-piece buffers contends with
 * the main thread on malloc's lock (perf: 5-8 % of a core in futex wake-ups). A slab is never reused:
 * the garbage collector frees it once no piece cut from it is referenced, so a piece kept for long
 * pins its whole slab. Pieces above `maxPiece` get a buffer of their own.
 */
export class Slabs {
  private slab: Uint8Array;
  private used = 0;

  constructor(
    private readonly slabBytes: number,
    private readonly maxPiece: number,
  ) {
    this.slab = new Uint8Array(slabBytes);
  }

  /** `n` zeroed bytes that nothing else uses. */
  take(n: number): Uint8Array {
    if (n > this.maxPiece) return new Uint8Array(n);
    if (this.used + n > this.slabBytes) {
      this.slab = new Uint8Array(this.slabBytes);
      this.used = 0;
    }
    const start = this.used;
    // 8-byte alignment keeps every piece's words aligned for the checksum's wide reads.
    this.used = (start + n + 7) & ~7;
    return this.slab.subarray(start, start + n);
  }
}
