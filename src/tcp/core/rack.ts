/**
 * RACK-TLP loss detection (RFC 8985) and the bookkeeping it needs: when each range of sequence space
 * in flight was last sent, which ranges are marked lost, the reordering window, D-SACK detection
 * (RFC 2883 §4) and the RFC 6675 pipe built from those marks.
 *
 * The send log is a sorted array of contiguous ranges covering [SND.UNA, SND.MAX): everything sent in
 * one step at the same time merges into one entry (RFC 8985 §6.1 keeps one time per segment; segments
 * sent at the same instant are ordered by sequence number, which is what `sentAfter` does), so a
 * window needs about one entry per ACK, not one per segment. It holds at most MAX_SENT entries: past
 * that the two lowest merge and keep the later time, which can only make loss detection later (the
 * RTO still covers them). Everything here is persistent: functions return new arrays and records.
 */
import { type Seq, seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin } from '../seq.js';
import type { SackBlock } from '../wire.js';
import type { CcState } from './congestion/index.js';
import { rangeUnion, type Scoreboard, type SeqRange } from './ranges.js';
import type { RateStamp } from './rate.js';

/**
 * A range sent at `ts` (ms) as the connection's `order`-th transmission (segments merged into one
 * entry went out one after the other, in sequence order); `rexmit`: it was a retransmission.
 */
export interface SentSeg {
  readonly start: Seq;
  readonly end: Seq;
  readonly ts: number;
  readonly order: number;
  readonly rexmit: boolean;
  /** The delivery-rate counters when it was sent (rate.ts; only rate-driven algorithms stamp). */
  readonly rate: RateStamp | undefined;
}

export interface SentLog {
  readonly entries: readonly SentSeg[];
  /** The order of the next transmission. */
  readonly next: number;
}

export const EMPTY_LOG: SentLog = { entries: [], next: 0 };

/** Entries kept in a send log (see the module comment). */
export const MAX_SENT = 1024;

/**
 * Lost ranges kept (RackState.lost): past that the highest are forgotten, as the scoreboard forgets
 * its highest ranges. They count as in flight until RACK marks them again, once the lower ones are
 * repaired, or the RTO resends them; without a cap a receiver SACKing scattered bytes could split the
 * marks into one range per hole and make every ACK's loss detection cost as much.
 */
export const MAX_LOST = 64;

/** RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time a lone probe may wait for. */
export const WC_DELACK = 200;

/**
 * Added to 2·SRTT for the probe timeout, as Linux adds TCP_TIMEOUT_MIN (2 ms): a near-zero SRTT must
 * not probe at once, and on a LAN a larger floor (10 ms here before) left a lost tail ACK idle for
 * ten round trips and more (src/tcp/README.md, "Under loss").
 */
export const PTO_MIN = 2;

/** RFC 8985 §6.2 step 4: the reordering-window multiplier persists for 16 recoveries. */
const REO_PERSIST = 16;

export interface RackState {
  /** RACK.xmit_ts / RACK.end_seq of the most recently sent segment delivered (§6.1), its order. */
  readonly xmitTs: number;
  readonly endSeq: Seq;
  readonly xmitOrder: number;
  /** RACK.rtt: the RTT of that segment. */
  readonly rtt: number;
  /** RACK.min_RTT (over the connection's life; Linux uses a windowed minimum). */
  readonly minRtt: number;
  /** RACK.fack: the highest end of any delivered range; `null` before one. */
  readonly fack: Seq | null;
  readonly reorderingSeen: boolean;
  /** RACK.reo_wnd_mult, RACK.reo_wnd_persist, RACK.dsack_round (§6.2 step 4). */
  readonly reoWndMult: number;
  readonly reoWndPersist: number;
  readonly dsackRound: Seq | null;
  /** Ranges marked lost and not sent again (disjoint, sorted, within [SND.UNA, SND.MAX)). */
  readonly lost: readonly SeqRange[];
  /** The RACK reordering timer (§6.2 step 5), the TLP probe timeout (§7.2). */
  readonly reoAt: number | null;
  readonly ptoAt: number | null;
  /** TLP.end_seq (§7.3) while a probe is unanswered, and whether it was a retransmission. */
  readonly tlpEnd: Seq | null;
  readonly tlpRetrans: boolean;
  /**
   * SND.MAX at the last retransmission timeout while SND.UNA is below it: go-back-N resends data the
   * peer may hold, so D-SACKs below it say nothing about reordering.
   */
  readonly rtoMark: Seq | null;
  /**
   * A timeout inside a recovery episode: the congestion state before it and our TSval of its first
   * retransmission, so that Eifel (RFC 3522) can undo the timeout alone (recovery.ts).
   */
  readonly rtoPrior: CcState | null;
  readonly rtoTsVal: number | null;
}

export const RACK_INIT: RackState = {
  xmitTs: Number.NEGATIVE_INFINITY,
  endSeq: 0 as Seq,
  xmitOrder: -1,
  rtt: 0,
  minRtt: Number.POSITIVE_INFINITY,
  fack: null,
  reorderingSeen: false,
  reoWndMult: 1,
  reoWndPersist: 0,
  dsackRound: null,
  lost: [],
  reoAt: null,
  ptoAt: null,
  tlpEnd: null,
  tlpRetrans: false,
  rtoMark: null,
  rtoPrior: null,
  rtoTsVal: null,
};

/**
 * RACK_sent_after (§6.2): o1/seq1 was sent after o2/seq2. The RFC compares transmit times and breaks
 * ties by sequence number; transmission order is what the times stand for, and it has no ties
 * (several segments go out at the same instant here, retransmissions among them).
 */
export function sentAfter(o1: number, seq1: Seq, o2: number, seq2: Seq): boolean {
  return o1 > o2 || (o1 === o2 && seqGt(seq1, seq2));
}

/** Records that [seq, end) was sent at `now`: new data past `sndMax` is appended, the rest is a retransmission. */
export function logSend(
  log: SentLog,
  seq: Seq,
  end: Seq,
  now: number,
  sndMax: Seq,
  rate: RateStamp | undefined = undefined,
): SentLog {
  if (!seqLt(seq, end)) return log;
  let out = log;
  if (seqLt(seq, sndMax)) out = logRetransmit(out, seq, seqMin(end, sndMax), now, rate);
  if (seqGt(end, sndMax)) out = logAppend(out, seqMax(seq, sndMax), end, now, rate);
  return out;
}

function logAppend(log: SentLog, start: Seq, end: Seq, now: number, rate: RateStamp | undefined): SentLog {
  const es = log.entries;
  const last = es[es.length - 1];
  if (
    last !== undefined &&
    last.end === start &&
    last.ts === now &&
    last.order === log.next - 1 &&
    !last.rexmit &&
    last.rate === rate
  ) {
    // The previous transmission, continued: one entry.
    const out = es.slice();
    out[out.length - 1] = { start: last.start, end, ts: now, order: last.order, rexmit: false, rate };
    return { entries: out, next: log.next };
  }
  const out = [...es, { start, end, ts: now, order: log.next, rexmit: false, rate }];
  return { entries: out.length > MAX_SENT ? mergeLowest(out) : out, next: log.next + 1 };
}

function logRetransmit(
  log: SentLog,
  start: Seq,
  end: Seq,
  now: number,
  rate: RateStamp | undefined,
): SentLog {
  const es = log.entries;
  let lo = 0;
  while (lo < es.length && seqLe(es[lo]!.end, start)) lo++;
  let hi = lo;
  while (hi < es.length && seqLt(es[hi]!.start, end)) hi++;
  const mid: SentSeg[] = [];
  const first = es[lo];
  if (first !== undefined && seqLt(first.start, start)) mid.push({ ...first, end: start });
  const prev = mid.length > 0 ? undefined : es[lo - 1];
  let from = lo;
  let s = start;
  let order = log.next;
  let next = log.next + 1;
  if (
    prev !== undefined &&
    prev.end === start &&
    prev.ts === now &&
    prev.order === log.next - 1 &&
    prev.rexmit &&
    prev.rate === rate
  ) {
    // Consecutive retransmissions (go-back-N) continue one entry.
    from = lo - 1;
    s = prev.start;
    order = prev.order;
    next = log.next;
  }
  mid.push({ start: s, end, ts: now, order, rexmit: true, rate });
  const last = es[hi - 1];
  if (last !== undefined && hi > lo && seqGt(last.end, end)) mid.push({ ...last, start: end });
  const out = [...es.slice(0, from), ...mid, ...es.slice(hi)];
  return { entries: out.length > MAX_SENT ? mergeLowest(out) : out, next };
}

function mergeLowest(log: SentSeg[]): SentSeg[] {
  const [a, b] = [log[0]!, log[1]!];
  const later = a.order > b.order ? a : b;
  const m = {
    start: a.start,
    end: b.end,
    ts: later.ts,
    order: later.order,
    rexmit: a.rexmit || b.rexmit,
    rate: later.rate,
  };
  return [m, ...log.slice(2)];
}

/** The log without anything below `una`. */
export function logTrim(log: SentLog, una: Seq): SentLog {
  const es = log.entries;
  let i = 0;
  while (i < es.length && seqLe(es[i]!.end, una)) i++;
  if (i === 0 && (es.length === 0 || seqGe(es[0]!.start, una))) return log;
  const out = es.slice(i);
  if (out.length > 0 && seqLt(out[0]!.start, una)) out[0] = { ...out[0]!, start: una };
  return { entries: out, next: log.next };
}

/** Parts of [from, to) outside the sorted ranges `rs`. */
export function subtract(rs: readonly SeqRange[], from: Seq, to: Seq): SeqRange[] {
  const out: SeqRange[] = [];
  let at = from;
  for (const r of rs) {
    if (seqLe(r.end, at)) continue;
    if (seqGe(r.start, to)) break;
    if (seqLt(at, r.start)) out.push({ start: at, end: r.start });
    at = seqMax(at, r.end);
  }
  if (seqLt(at, to)) out.push({ start: at, end: to });
  return out;
}

/** Sorted lost ranges without [start, end), at most MAX_LOST of them (the highest go). */
export function rangesRemove(rs: readonly SeqRange[], start: Seq, end: Seq): readonly SeqRange[] {
  if (rs.length === 0) return rs;
  const out: SeqRange[] = [];
  for (const r of rs) {
    if (seqLe(r.end, start) || seqGe(r.start, end)) out.push(r);
    else {
      if (seqLt(r.start, start)) out.push({ start: r.start, end: start });
      if (seqGt(r.end, end)) out.push({ start: end, end: r.end });
    }
  }
  return out.length > MAX_LOST ? out.slice(0, MAX_LOST) : out;
}

/** Bytes of [from, to) covered by the sorted ranges `rs`. */
export function coveredBytes(rs: readonly SeqRange[], from: Seq, to: Seq): number {
  let n = 0;
  for (const r of rs) {
    const s = seqMax(r.start, from);
    const e = seqMin(r.end, to);
    if (seqLt(s, e)) n += seqDiff(e, s);
  }
  return n;
}

/**
 * RFC 2883 §4: the first SACK block is a D-SACK when it lies at or below the cumulative ACK, or inside
 * the second block.
 */
export function dsackBlock(blocks: readonly SackBlock[] | undefined, ack: Seq): SackBlock | null {
  const b0 = blocks?.[0];
  if (b0 === undefined || !seqLt(b0.left, b0.right)) return null;
  if (seqLe(b0.right, ack)) return b0;
  const b1 = blocks![1];
  if (b1 !== undefined && seqGe(b0.left, b1.left) && seqLe(b0.right, b1.right)) return b0;
  return null;
}

export interface Delivery {
  readonly now: number;
  /** SND.UNA after the ACK: what lies below it was delivered cumulatively. */
  readonly una: Seq;
  /** The peer's TSecr (`null` without timestamps): RFC 8985 §6.2 step 2. */
  readonly tsEcr: number | null;
  /** Our TSval for a send time. */
  readonly tsOf: (ts: number) => number;
}

/**
 * RFC 8985 §6.2 steps 1-3 for the ranges newly delivered by one ACK (cumulatively or by SACK):
 * RACK.xmit_ts/end_seq/rtt, min_RTT, RACK.fack, reordering detection.
 */
export function rackDelivered(
  r: RackState,
  log: SentLog,
  delivered: readonly SeqRange[],
  x: Delivery,
): RackState {
  let { xmitTs, endSeq, xmitOrder, rtt, minRtt, fack, reorderingSeen } = r;
  let changed = false;
  for (const d of delivered) {
    for (const e of log.entries) {
      if (seqLe(e.end, d.start)) continue;
      if (seqGe(e.start, d.end)) break;
      const end = seqMin(e.end, d.end);
      if (e.rexmit) {
        // Step 2: an ACK for the original transmission says nothing of the retransmission's RTT. The
        // TSecr tells which arrived only for data acknowledged cumulatively: the segment that filled
        // the hole set TS.Recent (RFC 7323 §4.3). Above a hole it still echoes the segment that last
        // advanced the left edge, older than any retransmission there, so SACKed data takes the
        // min_RTT test (as Linux's tcp_rack_advance): with the TSecr test a lost retransmission
        // under SACKed ones went unnoticed until the RTO (bench/loss.ts, 3 % loss).
        const byTs = x.tsEcr !== null && seqLe(end, x.una);
        if (byTs ? seqLt(x.tsEcr as Seq, x.tsOf(e.ts) as Seq) : x.now - e.ts < minRtt) continue;
      } else if (fack !== null && seqLt(end, fack)) {
        // Step 3: a never-retransmitted range delivered below the highest one: reordering.
        reorderingSeen = true;
      }
      const sample = x.now - e.ts;
      if (sample < minRtt) minRtt = sample;
      if (sentAfter(e.order, end, xmitOrder, endSeq)) {
        xmitTs = e.ts;
        endSeq = end;
        xmitOrder = e.order;
        rtt = sample;
      }
      if (fack === null || seqGt(end, fack)) fack = end;
      changed = true;
    }
  }
  if (!changed) return r;
  return { ...r, xmitTs, endSeq, xmitOrder, rtt, minRtt, fack, reorderingSeen };
}

/**
 * RFC 8985 §6.2 step 4: the reordering window. `dsack`: this ACK carried a D-SACK; `exited`: loss
 * recovery just ended. Returns the updated state and the window (ms).
 */
export function reoWnd(
  r: RackState,
  x: {
    readonly dsack: boolean;
    readonly exited: boolean;
    readonly inRecovery: boolean;
    readonly sacked: number;
    readonly mss: number;
    readonly sndUna: Seq;
    readonly sndNxt: Seq;
    readonly srtt: number | null;
  },
): { readonly rack: RackState; readonly wnd: number } {
  let { dsackRound, reoWndMult, reoWndPersist } = r;
  if (dsackRound !== null && seqGe(x.sndUna, dsackRound)) dsackRound = null;
  if (dsackRound === null && x.dsack) {
    // At most one growth per round trip.
    dsackRound = x.sndNxt;
    reoWndMult++;
    reoWndPersist = REO_PERSIST;
  } else if (x.exited && reoWndPersist > 0) {
    reoWndPersist--;
    if (reoWndPersist === 0) reoWndMult = 1;
  }
  const rack =
    dsackRound === r.dsackRound && reoWndMult === r.reoWndMult && reoWndPersist === r.reoWndPersist
      ? r
      : { ...r, dsackRound, reoWndMult, reoWndPersist };
  if (!r.reorderingSeen && (x.inRecovery || x.sacked > 3 * x.mss)) return { rack, wnd: 0 };
  const base = r.minRtt === Number.POSITIVE_INFINITY ? 0 : (r.minRtt / 4) * reoWndMult;
  return { rack, wnd: Math.min(base, x.srtt ?? base) };
}

/**
 * RFC 8985 §6.2 step 5 RACK_detect_loss: marks lost every unSACKed, unmarked range sent before
 * RACK.xmit_ts/end_seq more than RACK.rtt + reo_wnd ago. Returns the new lost ranges, the bytes newly
 * marked and when the reordering timer must fire (`null`: not needed).
 */
export function rackDetectLoss(
  r: RackState,
  log: SentLog,
  sb: Scoreboard,
  wnd: number,
  now: number,
): {
  readonly lost: readonly SeqRange[];
  readonly marked: number;
  readonly rexmitLost: boolean;
  readonly timerAt: number | null;
} {
  let lost = r.lost;
  let marked = 0;
  let rexmitLost = false;
  let timeout = 0;
  if (r.xmitOrder < 0) return { lost, marked, rexmitLost, timerAt: null };
  for (const e of log.entries) {
    const same = e.order === r.xmitOrder;
    if (!sentAfter(r.xmitOrder, r.endSeq, e.order, e.end)) {
      // Sent in the same burst as RACK's segment but ending above it: its part below RACK.end_seq
      // was sent before it (a burst goes out in sequence order).
      if (!same || !seqLt(e.start, r.endSeq)) continue;
    }
    const to = same ? seqMin(e.end, r.endSeq) : e.end;
    const holes = subtract(sb, e.start, to);
    let pending = false;
    for (const h of holes) if (subtract(lost, h.start, h.end).length > 0) pending = true;
    if (!pending) continue;
    const remaining = e.ts + r.rtt + wnd - now;
    if (remaining <= 0) {
      if (e.rexmit) rexmitLost = true;
      for (const h of holes) {
        for (const p of subtract(lost, h.start, h.end)) {
          marked += seqDiff(p.end, p.start);
          lost = rangeUnion(lost, p);
          if (lost.length > MAX_LOST) lost = lost.slice(0, MAX_LOST);
        }
      }
    } else if (remaining > timeout) {
      timeout = remaining;
    }
  }
  return { lost, marked, rexmitLost, timerAt: timeout > 0 ? now + timeout : null };
}

/** RFC 6675 §4 SetPipe() with RACK's marks (as Linux: sent - SACKed - lost, retransmissions in flight once). */
export function rackPipe(sb: Scoreboard, lost: readonly SeqRange[], una: Seq, max: Seq): number {
  let n = seqDiff(max, una);
  for (const r of sb) n -= Math.max(0, seqDiff(seqMin(r.end, max), seqMax(r.start, una)));
  for (const l of lost) {
    for (const h of subtract(sb, seqMax(l.start, una), seqMin(l.end, max))) n -= seqDiff(h.end, h.start);
  }
  return Math.max(0, n);
}

/**
 * The first lost, unSACKed range at or above `from` (NextSeg rule 1 with RACK's marks), stretched to
 * the end of every further lost, unSACKed piece that starts within `span` bytes of its start: one
 * retransmission then repairs them all, the SACKed bytes between them sent again, rather than one
 * segment per hole. A receiver that SACKs every other byte would otherwise get 1-byte segments, a
 * header per byte (Linux's "SACK slowness", CVE-2019-11478, came from splitting its queue that way).
 */
export function firstLost(sb: Scoreboard, lost: readonly SeqRange[], from: Seq, span = 0): SeqRange | null {
  let start: Seq | null = null;
  let end = from;
  for (const l of lost) {
    if (seqLe(l.end, from)) continue;
    for (const h of subtract(sb, seqMax(l.start, from), l.end)) {
      if (start === null) start = h.start;
      else if (!seqLt(h.start, seqAdd(start, span))) return { start, end };
      end = h.end;
    }
  }
  return start === null ? null : { start, end };
}
