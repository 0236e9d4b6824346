export {
  combine,
  finish,
  fold,
  type PseudoHeader,
  pseudoHeaderSum,
  pseudoHeaderV4,
  pseudoHeaderV6,
  type SimdSummer,
  sum16,
  useSimdChecksum,
  sumNaive,
  updateChecksum,
  updateChecksum32,
  verifies,
} from './sum.js';
export {
  SHARED_RING_BYTES,
  sharedSimdChecksum,
  WasmChecksum,
  type WasmChecksumOptions,
  type WasmMemory,
} from './wasm.js';
