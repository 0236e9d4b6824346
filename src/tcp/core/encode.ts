/**
 * Encoding an output segment for the wire: the driver sizes one buffer (headroom for its lower layers
 * plus `segmentLength(seg)`), and `encodeSegment` writes the TCP header, options and payload into it
 * (inside-out, docs/ARCHITECTURE.md "Zero-copy and ownership"). The pseudo-header comes from the segment's
 * addresses.
 */
import type { PseudoHeader } from '../../checksum/index.js';
import { emitTcp, type TcpEmitOptions, tcpHeaderLen } from '../wire.js';
import { setChunks } from './rope.js';
import { isV6 } from './secrets.js';
import type { SegmentOut } from './types.js';

/** Bytes the segment takes on the wire (header, options and payload). */
export function segmentLength(seg: SegmentOut): number {
  return tcpHeaderLen(seg.repr) + seg.payloadLen;
}

/** The pseudo-header of a segment we send. */
export function segmentPseudoHeader(seg: SegmentOut): PseudoHeader {
  return isV6(seg.src) && isV6(seg.dst)
    ? { version: 6, src: seg.src, dst: seg.dst }
    : { version: 4, src: seg.src as number, dst: seg.dst as number };
}

/** Writes the segment into `buf` (exactly `segmentLength(seg)` bytes) with its checksum. */
export function encodeSegment(seg: SegmentOut, buf: Uint8Array, opts?: TcpEmitOptions): void {
  if (buf.length !== segmentLength(seg))
    throw new RangeError('encodeSegment: buffer must be segmentLength bytes');
  setChunks(buf, seg.payload, tcpHeaderLen(seg.repr));
  emitTcp(seg.repr, buf, segmentPseudoHeader(seg), opts);
}
