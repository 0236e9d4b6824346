/** The pure TCP core (see stack.ts for the contract and src/tcp/README.md for the feature list). */
export type { CcState, CongestionName } from './congestion/index.js';
export { connDeadline } from './timers.js';
export { encodeSegment, segmentLength, segmentPseudoHeader } from './encode.js';
export { addrKey, flowKey } from './secrets.js';
export { concatChunks, ropeCopy, setChunks } from './rope.js';
export { cutSegment } from './tso.js';
export {
  tcpConfig,
  tcpConnection,
  tcpConnections,
  tcpCounters,
  tcpDeadline,
  tcpInit,
  tcpListener,
  tcpStep,
} from './stack.js';
export * from './types.js';
