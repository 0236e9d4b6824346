export {
  combine,
  finish,
  fold,
  pseudoHeaderV4,
  pseudoHeaderV6,
  sum16,
  sumNaive,
  updateChecksum,
  updateChecksum32,
  verifies,
} from './sum.js';
