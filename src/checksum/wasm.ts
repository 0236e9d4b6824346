/**
 * The Internet checksum (RFC 1071) with WebAssembly SIMD (simd.wat), over bytes that live in a
 * `WebAssembly.Memory`.
 *
 * SIMD pays only when the frame is already in WASM memory (docs/CHECKSUM.md: with a copy-in it is about
 * the TypeScript loop), so `bytes` is meant to be the receive ring: frames read into it are summed in
 * place with `sumInPlace`. `sumCopy` sums any other bytes by copying them into a scratch area first.
 *
 * Both return the same partial sum as `sum16`: the 16-bit folded ones'-complement sum of the range as
 * big-endian words, the range taken to start at an even position, plus `initial`.
 *
 * The memory never grows, so `bytes` (and any view of `memory.buffer`) stays attached for the
 * lifetime of the instance.
 */
import { SIMD_WASM } from './simd-wasm.generated.js';
import { fold, useSimdChecksum } from './sum.js';

const PAGE = 65536;

/** Bytes copied per call in `sumCopy`: even, so every chunk starts at an even position (no swap). */
const SCRATCH = PAGE;

/** The memory of a `WasmChecksum`: a `WebAssembly.Memory`. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

// The project's `lib` (ES2023, no DOM) has no WebAssembly types: declare the few members used here
// locally rather than globally, so nothing clashes if a lib that has them is added.
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (
    module: WasmModule,
    imports: Record<string, Record<string, unknown>>,
  ) => { readonly exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
}
const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: WasmModule | undefined;

function simdModule(): WasmModule {
  // Synchronous compilation is fine: the module is under 1 KiB.
  compiled ??= new Wasm.Module(SIMD_WASM);
  return compiled;
}

export interface WasmChecksumOptions {
  /** Size of `bytes`, the area meant for the receive ring (default 1 MiB). */
  readonly ringBytes?: number;
}

export class WasmChecksum {
  /** The instance's memory: `bytes`, then a scratch area for `sumCopy`. */
  readonly memory: WasmMemory;
  /** The ring area at the start of the memory (address 0, so offsets here are memory addresses). */
  readonly bytes: Uint8Array;
  private readonly sum: (ptr: number, len: number) => number;
  private readonly ringBytes: number;
  private readonly scratchAt: number;
  private readonly memoryBytes: Uint8Array;

  constructor(opts: WasmChecksumOptions = {}) {
    const ringBytes = opts.ringBytes ?? 1 << 20;
    if (!Number.isInteger(ringBytes) || ringBytes < 0 || ringBytes > 0x7fff0000) {
      throw new RangeError(`ringBytes out of range: ${ringBytes}`);
    }
    const ringPages = Math.ceil(ringBytes / PAGE);
    const pages = ringPages + SCRATCH / PAGE;
    this.memory = new Wasm.Memory({ initial: pages, maximum: pages });
    const instance = new Wasm.Instance(simdModule(), { env: { memory: this.memory } });
    this.sum = instance.exports.sum as (ptr: number, len: number) => number;
    this.ringBytes = ringBytes;
    this.scratchAt = ringPages * PAGE;
    this.memoryBytes = new Uint8Array(this.memory.buffer);
    this.bytes = this.memoryBytes.subarray(0, ringBytes);
  }

  /** The memory's buffer: views of it are summed in place by `sum16` once registered (`useSimdChecksum`). */
  get buffer(): ArrayBuffer {
    return this.memory.buffer;
  }

  /** Partial sum of `bytes[offset, offset + length)` plus `initial`, without copying. */
  sumInPlace(offset: number, length: number, initial = 0): number {
    // Programmer errors: the WASM function would read past the ring or wrap the address.
    if (offset >>> 0 !== offset || length >>> 0 !== length || offset + length > this.ringBytes) {
      throw new RangeError(
        `range [${offset}, ${offset}+${length}) outside the ring of ${this.ringBytes} bytes`,
      );
    }
    const r = this.sum(offset, length);
    return initial === 0 ? r : fold(r + initial);
  }

  /** Partial sum of `b` plus `initial`, copying `b` into WASM memory first (in place if it already lives there). */
  sumCopy(b: Uint8Array, initial = 0): number {
    const n = b.length;
    let r: number;
    if (b.buffer === this.memory.buffer) {
      r = this.sum(b.byteOffset, n);
    } else if (n <= SCRATCH) {
      this.memoryBytes.set(b, this.scratchAt);
      r = this.sum(this.scratchAt, n);
    } else {
      // Chunks of an even size all start at even positions of the range: plain addition combines them.
      r = 0;
      for (let at = 0; at < n; at += SCRATCH) {
        const chunk = b.subarray(at, Math.min(n, at + SCRATCH));
        this.memoryBytes.set(chunk, this.scratchAt);
        r = fold(r + this.sum(this.scratchAt, chunk.length));
      }
    }
    return initial === 0 ? r : fold(r + initial);
  }
}

/** Ring of the process-wide instance: room for 16 TAP receive buffers of 64 KiB + 64 bytes. */
export const SHARED_RING_BYTES = 16 * (65536 + 64);

let shared: WasmChecksum | null | undefined;

/**
 * The process-wide instance, made on first use and registered with `sum16` (`useSimdChecksum`), so
 * every long checksum of the process runs with SIMD; drivers read frames into its ring to have them
 * summed in place. `undefined` where WebAssembly SIMD is missing (the TypeScript loop then does it all).
 */
export function sharedSimdChecksum(): WasmChecksum | undefined {
  if (shared === undefined) {
    try {
      shared = new WasmChecksum({ ringBytes: SHARED_RING_BYTES });
      useSimdChecksum(shared);
    } catch {
      shared = null;
    }
  }
  return shared ?? undefined;
}
