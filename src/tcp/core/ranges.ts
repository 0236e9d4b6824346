/**
 * Sequence-space ranges: the receiver's out-of-order queue (RFC 9293 §3.10.7.4 "Segments with higher
 * beginning sequence numbers SHOULD be held", SHLD-31) with the SACK blocks it reports (RFC 2018 §4),
 * and the sender's SACK scoreboard (RFC 2018 §5, RFC 6675 §2-4).
 *
 * Both are sorted arrays of disjoint, non-adjacent ranges, compared only with serial arithmetic
 * (seq.ts), replaced on every change, never edited.
 *
 * Out-of-order queue policy (docs/TCP-NOTES.md §3): only data inside [RCV.NXT, RCV.NXT + RCV.WND) is kept
 * (the caller passes the window's right edge); both edges of a segment are trimmed; neighbours are
 * coalesced; at most `maxRanges` ranges, and past that the highest-sequence data is dropped first
 * (a new range above all others is simply not stored). Bytes are copied in (ropes), so no view of a
 * receive buffer is retained.
 */
import { type Seq, seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin } from '../seq.js';
import {
  EMPTY_ROPE,
  type Rope,
  ropeAppend,
  ropeChunks,
  ropeConcat,
  ropeDrop,
  ropeFlatten,
  ropeRead,
} from './rope.js';
import type { SackBlock } from '../wire.js';

/** `[start, end)` in sequence space. */
export interface SeqRange {
  readonly start: Seq;
  readonly end: Seq;
}

export interface OooRange extends SeqRange {
  readonly data: Rope;
}

export interface OooQueue {
  /** Sorted, disjoint, non-adjacent, all above RCV.NXT. */
  readonly ranges: readonly OooRange[];
  /** Sum of the ranges' lengths. */
  readonly bytes: number;
  /** Sequence number of a FIN received beyond a hole (RFC 9293: processed once RCV.NXT reaches it). */
  readonly fin: Seq | null;
  /** Starts of the most recently received out-of-order segments, newest first (RFC 2018 §4 order). */
  readonly recent: readonly Seq[];
}

export const EMPTY_OOO: OooQueue = { ranges: [], bytes: 0, fin: null, recent: [] };

const RECENT = 4;

/**
 * Blocks an out-of-order range may hold: OOO_CHUNKS_BASE + its length / OOO_CHUNK_BYTES (tiny
 * segments joined by their blocks, see oooInsert), past which it is copied into one block.
 */
export const OOO_CHUNKS_BASE = 16;
export const OOO_CHUNK_BYTES = 1024;

export function rangeLen(r: SeqRange): number {
  return seqDiff(r.end, r.start);
}

export interface OooInsert {
  readonly queue: OooQueue;
  /** Bytes stored that were not held before. */
  readonly stored: number;
  /** Bytes of the segment, or of older ranges, dropped because of the range cap. */
  readonly dropped: number;
}

/**
 * Holds `data` (starting at `seq`) for later. `rcvNxt` < data must hold after trimming; anything
 * outside [rcvNxt, wndEnd) is cut off. `fin` marks a FIN right after the data.
 */
export function oooInsert(
  q: OooQueue,
  rcvNxt: Seq,
  wndEnd: Seq,
  seq: Seq,
  data: Uint8Array,
  fin: boolean,
  maxRanges: number,
): OooInsert {
  let start = seq;
  let bytes = data;
  // Trim the left edge to RCV.NXT and the right edge to the window.
  if (seqLt(start, rcvNxt)) {
    const cut = Math.min(bytes.length, seqDiff(rcvNxt, start));
    bytes = bytes.subarray(cut);
    start = rcvNxt;
  }
  const room = Math.max(0, seqDiff(wndEnd, start));
  const finInWindow = fin && bytes.length <= room;
  if (bytes.length > room) bytes = bytes.subarray(0, room);
  let out: OooQueue = q;
  if (finInWindow) {
    const finSeq = seqAdd(start, bytes.length);
    out = { ...out, fin: out.fin === null ? finSeq : seqMin(out.fin, finSeq) };
  }
  if (bytes.length === 0) return { queue: out, stored: 0, dropped: 0 };
  const end = seqAdd(start, bytes.length);
  out = { ...out, recent: [start, ...out.recent.filter((s) => s !== start)].slice(0, RECENT) };
  // Ranges that overlap or touch [start, end) merge with it.
  const ranges = out.ranges;
  let lo = 0;
  while (lo < ranges.length && seqLt(ranges[lo]!.end, start)) lo++;
  let hi = lo;
  while (hi < ranges.length && seqLe(ranges[hi]!.start, end)) hi++;
  const merging = ranges.slice(lo, hi);
  let mStart = start;
  let mEnd = end;
  let held = 0;
  for (const r of merging) {
    mStart = seqMin(mStart, r.start);
    mEnd = seqMax(mEnd, r.end);
    held += rangeLen(r);
  }
  // Assemble [mStart, mEnd) from the existing ranges and the new bytes, copying each new byte once
  // and no held byte: held ranges are joined by their blocks (a segment just below a big range, or
  // bridging two, would otherwise copy the range again: quadratic for tiny segments sent downwards).
  let rope: Rope = EMPTY_ROPE;
  let at = mStart;
  let mi = 0;
  while (seqLt(at, mEnd)) {
    const r = merging[mi];
    if (r !== undefined && seqLe(r.start, at)) {
      // Held ranges are disjoint and non-adjacent, so `at` is at the start of this one.
      rope = ropeConcat(rope, r.data);
      at = seqMax(at, r.end);
      mi++;
      continue;
    }
    // New bytes from `at` up to the next held range (or the end of the segment).
    const stop = r === undefined ? end : seqMin(r.start, end);
    rope = ropeAppend(rope, bytes.subarray(seqDiff(at, start), seqDiff(stop, start)));
    at = stop;
  }
  // Joining leaves one block per piece: past OOO_CHUNKS_BASE + length / OOO_CHUNK_BYTES blocks the
  // range is copied into one, so a range costs at most that many blocks (memory) and the copy is
  // amortised over the segments that made the blocks (at most OOO_CHUNK_BYTES bytes per segment).
  if (ropeChunks(rope) > OOO_CHUNKS_BASE + seqDiff(mEnd, mStart) / OOO_CHUNK_BYTES) rope = ropeFlatten(rope);
  const merged: OooRange = { start: mStart, end: mEnd, data: rope };
  let next = [...ranges.slice(0, lo), merged, ...ranges.slice(hi)];
  let total = out.bytes - held + rangeLen(merged);
  let dropped = 0;
  while (next.length > maxRanges) {
    // Drop the highest-sequence range: if that is the new data, it was simply not stored.
    const last = next[next.length - 1]!;
    next = next.slice(0, -1);
    total -= rangeLen(last);
    dropped += rangeLen(last);
  }
  return {
    queue: { ranges: next, bytes: total, fin: out.fin, recent: out.recent },
    stored: Math.max(0, total - q.bytes),
    dropped,
  };
}

export interface OooTake {
  readonly queue: OooQueue;
  /** In-order bytes now deliverable (views into the queue's ropes). */
  readonly data: readonly Uint8Array[];
  readonly rcvNxt: Seq;
  /** The held FIN is now in order. */
  readonly fin: boolean;
}

/** Moves whatever is now in order at `rcvNxt` out of the queue; drops ranges that fell below it. */
export function oooTake(q: OooQueue, rcvNxt: Seq): OooTake {
  let nxt = rcvNxt;
  const data: Uint8Array[] = [];
  let i = 0;
  let bytes = q.bytes;
  while (i < q.ranges.length && seqLe(q.ranges[i]!.start, nxt)) {
    const r = q.ranges[i]!;
    if (seqGt(r.end, nxt)) {
      const skip = seqDiff(nxt, r.start);
      data.push(...ropeRead(ropeDrop(r.data, skip), 0, r.data.length - skip));
      nxt = r.end;
    }
    bytes -= rangeLen(r);
    i++;
  }
  let fin = false;
  let finSeq = q.fin;
  if (finSeq !== null && seqLe(finSeq, nxt)) {
    fin = finSeq === nxt;
    finSeq = null;
  }
  if (i === 0 && finSeq === q.fin) return { queue: q, data, rcvNxt: nxt, fin };
  const ranges = q.ranges.slice(i);
  const recent = q.recent.filter((s) => ranges.some((r) => seqGe(s, r.start) && seqLt(s, r.end)));
  return { queue: { ranges, bytes, fin: finSeq, recent }, data, rcvNxt: nxt, fin };
}

/** SACK blocks to report (RFC 2018 §4): the most recently touched ranges first, then the others. */
export function oooSackBlocks(q: OooQueue, max: number): SackBlock[] {
  const out: SackBlock[] = [];
  const used = new Set<number>();
  const add = (i: number): void => {
    if (out.length >= max || used.has(i)) return;
    used.add(i);
    const r = q.ranges[i]!;
    out.push({ left: r.start, right: r.end });
  };
  for (const s of q.recent) {
    const i = q.ranges.findIndex((r) => seqGe(s, r.start) && seqLt(s, r.end));
    if (i >= 0) add(i);
  }
  for (let i = q.ranges.length - 1; i >= 0; i--) add(i);
  return out;
}

// --- Sender scoreboard (RFC 6675 §3) -------------------------------------------------------------

/** Sorted, disjoint, non-adjacent SACKed ranges, all within [SND.UNA, SND.MAX). */
export type Scoreboard = readonly SeqRange[];

/** Whether a received SACK block lies within [SND.UNA, SND.MAX), the blocks that carry news (RFC 2018 §5). */
export function sackBlockValid(b: SackBlock, sndUna: Seq, sndMax: Seq): boolean {
  return seqLe(sndUna, b.left) && seqLt(b.left, b.right) && seqLe(b.right, sndMax);
}

/**
 * Adds the valid blocks of a received SACK option. A block is used only if SND.UNA <= left < right <=
 * SND.MAX (RFC 2018 §5; D-SACK blocks below SND.UNA carry nothing for us). A block may start at
 * SND.UNA only when the peer's cumulative ACK lies below SND.UNA, i.e. it never received data we
 * took as acknowledged (a forged ACK): ignoring the block made every retransmission of that data
 * look lost again, a loop at the reordering timer's pace (found by test/fuzz/live.test.ts); taken,
 * the data waits for the RTO and its backoff like any unacknowledged data (Linux accepts such
 * blocks, tcp_is_sackblock_valid). At most `max` ranges are kept; past that the highest are
 * forgotten (they only make recovery less precise).
 */
export function scoreboardAdd(
  sb: Scoreboard,
  blocks: readonly SackBlock[],
  sndUna: Seq,
  sndMax: Seq,
  max: number,
): Scoreboard {
  let out = sb;
  for (const b of blocks) {
    if (!sackBlockValid(b, sndUna, sndMax)) continue;
    out = rangeUnion(out, { start: b.left, end: b.right });
  }
  return out.length > max ? out.slice(0, max) : out;
}

/** The scoreboard without anything below `sndUna`. */
export function scoreboardTrim(sb: Scoreboard, sndUna: Seq): Scoreboard {
  let i = 0;
  while (i < sb.length && seqLe(sb[i]!.end, sndUna)) i++;
  if (i === 0 && (sb.length === 0 || seqGe(sb[0]!.start, sndUna))) return sb;
  const rest = sb.slice(i);
  if (rest.length > 0 && seqLt(rest[0]!.start, sndUna)) rest[0] = { start: sndUna, end: rest[0]!.end };
  return rest;
}

/** Inserts `r` into sorted disjoint ranges, coalescing overlapping and adjacent ones. */
export function rangeUnion(ranges: readonly SeqRange[], r: SeqRange): SeqRange[] {
  let lo = 0;
  while (lo < ranges.length && seqLt(ranges[lo]!.end, r.start)) lo++;
  let hi = lo;
  let start = r.start;
  let end = r.end;
  while (hi < ranges.length && seqLe(ranges[hi]!.start, end)) {
    start = seqMin(start, ranges[hi]!.start);
    end = seqMax(end, ranges[hi]!.end);
    hi++;
  }
  return [...ranges.slice(0, lo), { start, end }, ...ranges.slice(hi)];
}

/** SACKed bytes in total. */
export function scoreboardBytes(sb: Scoreboard): number {
  let n = 0;
  for (const r of sb) n += rangeLen(r);
  return n;
}

/** True if `seq` is inside a SACKed range. */
export function isSacked(sb: Scoreboard, seq: Seq): boolean {
  for (const r of sb) {
    if (seqLt(seq, r.start)) return false;
    if (seqLt(seq, r.end)) return true;
  }
  return false;
}

/**
 * The RFC 6675 §4 IsLost() boundary: every unSACKed sequence number below it has at least DupThresh
 * SACKed ranges, or more than (DupThresh - 1) * SMSS SACKed bytes, above it. `null` if none is lost.
 */
export function lostBoundary(sb: Scoreboard, dupThresh: number, smss: number): Seq | null {
  let bytes = 0;
  for (let i = sb.length - 1; i >= 0; i--) {
    bytes += rangeLen(sb[i]!);
    if (sb.length - i >= dupThresh || bytes > (dupThresh - 1) * smss) return sb[i]!.start;
  }
  return null;
}
