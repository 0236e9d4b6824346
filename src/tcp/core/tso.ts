/**
 * The segments a TSO output stands for (`SegmentOut.segmentSize`, `ConnOptions.tsoMax`): what a
 * driver sends when its link cannot cut the output itself, and what the tests compare with the
 * segments sent one by one. The rule is the kernel's (Linux `tcp_gso_segment`), the same that
 * src/link/gso.ts applies to frames: each segment gets the output's header with its own sequence
 * number; PSH and FIN stay on the last segment, CWR on the first (RFC 3168 §6.1.2: once per
 * reduction).
 */
import { type Seq, seqAdd } from '../seq.js';
import type { SegmentOut } from './types.js';

/** `seg` as the segments it stands for; `[seg]` itself when it stands for one. */
export function cutSegment(seg: SegmentOut): SegmentOut[] {
  const size = seg.segmentSize;
  if (size === undefined || seg.payloadLen <= size) return [seg];
  const { segmentSize: _, ...one } = seg;
  const flags = seg.repr.flags;
  const out: SegmentOut[] = [];
  let chunk = 0;
  let chunkOff = 0;
  for (let at = 0; at < seg.payloadLen; at += size) {
    const len = Math.min(size, seg.payloadLen - at);
    const first = at === 0;
    const last = at + len === seg.payloadLen;
    // The payload views of [at, at + len): the output's chunks, cut where the segment ends.
    const payload: Uint8Array[] = [];
    for (let want = len; want > 0; ) {
      const c = seg.payload[chunk]!;
      const n = Math.min(want, c.length - chunkOff);
      payload.push(c.subarray(chunkOff, chunkOff + n));
      want -= n;
      chunkOff += n;
      if (chunkOff === c.length) {
        chunk++;
        chunkOff = 0;
      }
    }
    const repr = {
      ...seg.repr,
      seq: seqAdd(seg.repr.seq, at) as Seq,
      flags: { ...flags, psh: flags.psh && last, fin: flags.fin && last, cwr: flags.cwr && first },
    };
    out.push({ ...one, repr, payload, payloadLen: len });
  }
  return out;
}
