/**
 * Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation-00), the sampler BBR's model
 * is built from: every ACK yields a sample of how many bytes the path delivered over how long.
 *
 * - §3.1 on every transmission the connection's counters are stamped on the segment (here on its
 *   send-log entry, rack.ts: a stamp is shared by everything one step sends, since the counters only
 *   move when an ACK arrives): C.delivered, C.delivered_time, C.first_sent_time, C.app_limited;
 *   when nothing is in flight the send and ACK clocks restart (first_sent_time = delivered_time = now);
 * - §3.2 on an ACK, every byte newly delivered (cumulatively or by SACK) adds to C.delivered; the
 *   most recently sent delivered entry gives the sample's start: interval = max(send elapsed, ACK
 *   elapsed), both measured from that entry's stamp, so neither ACK compression nor a sender burst
 *   inflates the rate; an interval below the minimum RTT is no sample (§3.2 "ack_elapsed ...");
 * - §3.3 application-limited phases: when the sender has nothing to send and room in cwnd, C.app_limited
 *   marks the delivered count at which the bubble is gone; samples taken of segments sent during it
 *   say `isAppLimited` (BBR takes them only if they raise its estimate).
 *
 * Units: bytes and milliseconds (rate in bytes per ms). Pure: `now` comes from the event.
 */
import { type Seq, seqDiff, seqGe, seqGt, seqLt, seqMax, seqMin } from '../seq.js';
import type { SackBlock } from '../wire.js';
import { bbrAck } from './congestion/bbr.js';
import type { Draft } from './draft.js';
import { coveredBytes, logTrim, rackPipe, type SentLog, subtract } from './rack.js';
import type { Scoreboard, SeqRange } from './ranges.js';
import type { MutTcb } from './types.js';

/** The connection's counters as stamped on a transmission (§3.1 "P.delivered" etc.). */
export interface RateStamp {
  readonly delivered: number;
  readonly deliveredTime: number;
  readonly firstSentTime: number;
  readonly appLimited: boolean;
}

/** Per-connection sampler state, plus BBR's pacing clock (output.ts). */
export interface RateState {
  /** C.delivered: bytes delivered so far (cumulatively acknowledged or SACKed). */
  readonly delivered: number;
  /** C.delivered_time: when C.delivered last grew. */
  readonly deliveredTime: number;
  /** C.first_sent_time: send time of the most recently delivered entry (start of the send interval). */
  readonly firstSentTime: number;
  /** C.app_limited: 0, or the C.delivered value past which the application-limited bubble is gone. */
  readonly appLimited: number;
  /** The smallest RTT seen in a sample (the §3.2 bound on intervals). */
  readonly minRtt: number;
  /** The stamp new transmissions get, while the counters do not change (shared, never edited). */
  readonly stamp: RateStamp | undefined;
  /** Pacing: when the bytes sent so far are due at the pacing rate (0: not pacing yet). */
  readonly nextSendAt: number;
  /** Pacing: a transmission waits until then (a timer; `null` when nothing waits). */
  readonly paceAt: number | null;
}

export interface RateSample {
  /** rs.delivery_rate in bytes/ms; 0 when the sample is invalid (`interval` < 0). */
  readonly deliveryRate: number;
  /** rs.interval in ms, -1 when this ACK gives no valid sample. */
  readonly interval: number;
  /** rs.delivered: bytes delivered over `interval`. */
  readonly delivered: number;
  /** rs.prior_delivered: C.delivered when the sample's entry was sent (round-trip counting). */
  readonly priorDelivered: number;
  readonly isAppLimited: boolean;
  /** RTT of the sample's entry (ms), -1 when it was a retransmission (Karn) or there is none. */
  readonly rtt: number;
  /** Bytes this ACK newly delivered (rs.acked_sacked). */
  readonly newlyDelivered: number;
  /** C.delivered after this ACK. */
  readonly totalDelivered: number;
}

export function rateInit(now: number): RateState {
  return {
    delivered: 0,
    deliveredTime: now,
    firstSentTime: now,
    appLimited: 0,
    minRtt: Number.POSITIVE_INFINITY,
    stamp: undefined,
    nextSendAt: 0,
    paceAt: null,
  };
}

/**
 * §3.1: the stamp for a transmission at `now`; `idle`: nothing was in flight (both clocks restart).
 * Returns the state (with the stamp cached) and the stamp.
 */
export function rateOnSend(r: RateState, idle: boolean, now: number): RateState {
  if (idle) {
    const s = { ...r, firstSentTime: now, deliveredTime: now, stamp: undefined };
    return { ...s, stamp: stampOf(s) };
  }
  return r.stamp !== undefined ? r : { ...r, stamp: stampOf(r) };
}

/**
 * A transmission of `len` bytes at `now`: its stamp (`rateOnSend`) and the pacing clock, which books
 * `len / pacingRate` ms after the later of now and the bytes already booked (no credit for idle time).
 */
export function rateSent(
  r: RateState,
  idle: boolean,
  now: number,
  len: number,
  pacingRate: number,
): RateState {
  const s = rateOnSend(r, idle, now);
  if (pacingRate <= 0) return s;
  return { ...s, nextSendAt: Math.max(s.nextSendAt, now) + len / pacingRate };
}

function stampOf(r: RateState): RateStamp {
  return {
    delivered: r.delivered,
    deliveredTime: r.deliveredTime,
    firstSentTime: r.firstSentTime,
    appLimited: r.appLimited !== 0,
  };
}

/** §3.3: the sender ran out of data with room in cwnd; `inflight` bytes are still out. */
export function rateAppLimited(r: RateState, inflight: number): RateState {
  const appLimited = Math.max(r.delivered + inflight, 1);
  return appLimited === r.appLimited ? r : { ...r, appLimited, stamp: undefined };
}

/**
 * §3.2: the sample for an ACK that newly delivered `ranges` (disjoint; their bytes are the ACK's
 * acked-and-SACKed count), read from the send log before it is trimmed.
 */
export function rateOnAck(
  r: RateState,
  log: SentLog,
  ranges: readonly SeqRange[],
  now: number,
): { readonly rate: RateState; readonly sample: RateSample } {
  let newly = 0;
  // The sample's entry: the most recently sent one delivered (largest transmission order).
  let best = -1;
  let bestTs = 0;
  let bestRexmit = false;
  let prior: RateStamp | undefined;
  for (const d of ranges) {
    newly += seqDiff(d.end, d.start);
    for (const e of log.entries) {
      if (!seqLt(d.start, e.end)) continue;
      if (!seqLt(e.start, d.end)) break;
      if (e.rate !== undefined && e.order > best) {
        best = e.order;
        bestTs = e.ts;
        bestRexmit = e.rexmit;
        prior = e.rate;
      }
    }
  }
  let delivered = r.delivered;
  let deliveredTime = r.deliveredTime;
  let firstSentTime = r.firstSentTime;
  let appLimited = r.appLimited;
  if (newly > 0) {
    delivered += newly;
    deliveredTime = now;
  }
  // §3.3: the bubble is gone once everything sent during it is delivered.
  if (appLimited !== 0 && delivered > appLimited) appLimited = 0;
  let sample: RateSample;
  if (prior === undefined || newly === 0) {
    sample = invalid(newly, delivered, prior);
  } else {
    const sendElapsed = bestTs - prior.firstSentTime;
    const ackElapsed = deliveredTime - prior.deliveredTime;
    // The next sample's send interval starts at this entry's transmission.
    firstSentTime = bestTs;
    const interval = Math.max(sendElapsed, ackElapsed);
    const rtt = bestRexmit ? -1 : now - bestTs;
    const minRtt = rtt >= 0 && rtt < r.minRtt ? rtt : r.minRtt;
    const got = delivered - prior.delivered;
    // §3.2: an interval shorter than the minimum RTT would overestimate (a burst ACKed at once).
    if (interval <= 0 || interval < minRtt || got <= 0) {
      sample = { ...invalid(newly, delivered, prior), rtt };
    } else {
      sample = {
        deliveryRate: got / interval,
        interval,
        delivered: got,
        priorDelivered: prior.delivered,
        isAppLimited: prior.appLimited,
        rtt,
        newlyDelivered: newly,
        totalDelivered: delivered,
      };
    }
    if (minRtt !== r.minRtt) r = { ...r, minRtt };
  }
  const changed =
    delivered !== r.delivered ||
    deliveredTime !== r.deliveredTime ||
    firstSentTime !== r.firstSentTime ||
    appLimited !== r.appLimited;
  const rate = changed ? { ...r, delivered, deliveredTime, firstSentTime, appLimited, stamp: undefined } : r;
  return { rate, sample };
}

function invalid(newly: number, total: number, prior: RateStamp | undefined): RateSample {
  return {
    deliveryRate: 0,
    interval: -1,
    delivered: 0,
    priorDelivered: prior?.delivered ?? 0,
    isAppLimited: prior?.appLimited ?? false,
    rtt: -1,
    newlyDelivered: newly,
    totalDelivered: total,
  };
}

/** Newly delivered ranges of one ACK: [oldUna, SND.UNA) and the SACK blocks, less what was SACKed before. */
export function deliveredRanges(
  t: MutTcb,
  oldUna: Seq,
  oldSb: Scoreboard,
  blocks: readonly SackBlock[],
): SeqRange[] {
  const out: SeqRange[] = [];
  if (seqGt(t.sndUna, oldUna)) out.push(...subtract(oldSb, oldUna, t.sndUna));
  for (const b of blocks) {
    const s = seqMax(b.left, t.sndUna);
    const e = seqMin(b.right, t.sndMax);
    if (seqLt(s, e)) out.push(...subtract(rangesAbove(oldSb, out), s, e));
  }
  return out;
}

/** The scoreboard plus the ranges already counted (SACK blocks may overlap one another). */
function rangesAbove(sb: Scoreboard, counted: readonly SeqRange[]): SeqRange[] {
  return [...sb, ...counted].sort((a, b) => seqDiff(a.start, b.start));
}

/** What the core hands the rate-driven algorithm after one ACK (rate.ts glue, input.ts). */
export interface RateAck {
  readonly sample: RateSample;
  /** Lost bytes marked before loss detection ran on this ACK (to count the newly lost ones). */
  readonly lostBefore: number;
}

/** Bytes RACK holds lost within [SND.UNA, SND.MAX). */
export function lostBytes(t: MutTcb): number {
  return t.rack.lost.length === 0 ? 0 : coveredBytes(t.rack.lost, t.sndUna, t.sndMax);
}

/**
 * §3.2 for one ACK of the connection `t` (SND.UNA and the scoreboard already moved): the sample,
 * taken before RACK trims the send log. Without SACK nobody else trims it: done here.
 */
export function rateAck(
  t: MutTcb,
  oldUna: Seq,
  oldSb: Scoreboard,
  blocks: readonly SackBlock[],
  now: number,
): RateAck {
  const ranges = deliveredRanges(t, oldUna, oldSb, blocks);
  const lostBefore = lostBytes(t);
  const r = rateOnAck(t.rate, t.sent, ranges, now);
  t.rate = r.rate;
  if (!t.sackOk && seqGe(t.sndUna, oldUna)) t.sent = logTrim(t.sent, t.sndUna);
  return { sample: r.sample, lostBefore };
}

/** Bytes in flight as RFC 6675 SetPipe counts them (sent, not SACKed, not lost). */
export function inflightOf(t: MutTcb): number {
  return rackPipe(t.scoreboard, t.rack.lost, t.sndUna, t.sndMax);
}

/**
 * Hands one ACK to the rate-driven algorithm (BBR's onRateAck) after loss detection ran, with the
 * bytes in flight and the bytes it newly marked lost; counts its transitions.
 */
export function rateCcAck(d: Draft, t: MutTcb, ra: RateAck): void {
  const cc = t.cc;
  if (cc.algo !== 'bbr') return;
  const inflight = inflightOf(t);
  const next = bbrAck(cc, {
    sample: ra.sample,
    now: d.now,
    mss: t.mss,
    inflight,
    lost: Math.max(0, lostBytes(t) - ra.lostBefore),
    inRecovery: t.recovery !== null,
    una: t.sndUna,
    recoverPoint: t.lastRecover,
    srtt: t.rtt.srtt,
  });
  if (!cc.filledPipe && next.filledPipe) d.count('bbr-full-pipe');
  if (cc.mode !== 'probe-rtt' && next.mode === 'probe-rtt') d.count('bbr-probe-rtt');
  t.cc = next;
  // PROBE_RTT sends less than the path takes: its samples are app-limited (Linux's bbr_update_min_rtt).
  if (next.mode === 'probe-rtt') t.rate = rateAppLimited(t.rate, inflight);
}
