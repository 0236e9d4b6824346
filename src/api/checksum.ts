/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624). `sum16(bytes)` is the
 * ones'-complement sum of a byte range, partial sums of consecutive chunks `combine`, `finish(sum)`
 * is the value to transmit and `verifies(sum)` checks a received one. `pseudoHeaderSum` adds the
 * IPv4 or IPv6 pseudo-header of UDP, TCP and ICMPv6. {@link WasmChecksum} is the WebAssembly SIMD
 * variant the stack uses for long frames.
 *
 * ```ts
 * import { checksum } from 'oasis-net';
 * const header = new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
 * const value = checksum.finish(checksum.sum16(header)); // what goes in the checksum field
 * ```
 *
 * @module
 */
export {
  combine,
  finish,
  fold,
  type PseudoHeader,
  pseudoHeaderSum,
  pseudoHeaderV4,
  pseudoHeaderV6,
  SHARED_RING_BYTES,
  type SimdSummer,
  sharedSimdChecksum,
  sum16,
  sumNaive,
  updateChecksum,
  updateChecksum32,
  useSimdChecksum,
  verifies,
  WasmChecksum,
  type WasmChecksumOptions,
  type WasmMemory,
} from '../checksum/index.js';
