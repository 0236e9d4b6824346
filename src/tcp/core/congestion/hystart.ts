/**
 * HyStart++ (RFC 9406 §4): slow start that leaves early, before the queue it fills overflows.
 *
 * - §4.2 rounds: a round ends when the ACK for `windowEnd` (SND.MAX at its start) arrives; each round
 *   keeps the minimum RTT of its samples, and the previous round's;
 * - slow start grows cwnd by min(N, L·SMSS) per ACK, L = 8 (we do not pace);
 * - once a round has N_RTT_SAMPLE samples and its minimum RTT rose by RttThresh =
 *   clamp(lastRoundMinRTT / 8, 4 ms, 16 ms), it leaves for Conservative Slow Start (CSS), which grows
 *   a quarter as fast (CSS_GROWTH_DIVISOR);
 * - in CSS, a round whose minimum RTT falls below the one that made it leave means the exit was
 *   spurious: back to slow start; after CSS_ROUNDS rounds, ssthresh = cwnd (congestion avoidance);
 * - §4.3 a loss or ECE during either ends HyStart++ (the algorithm's own reduction applies), and it is
 *   used only in the initial slow start (ssthresh still "arbitrarily high"): later slow starts stop at
 *   the ssthresh the first one found.
 *
 * Pure: the RTT samples are the core's own (input.ts: timestamps, or Karn's timed segment).
 */
import { type Seq, seqGe, seqGt } from '../../seq.js';
import type { CcContext, CcStateBase } from './types.js';

export const MIN_RTT_THRESH = 4;
export const MAX_RTT_THRESH = 16;
export const MIN_RTT_DIVISOR = 8;
export const N_RTT_SAMPLE = 8;
export const CSS_GROWTH_DIVISOR = 4;
export const CSS_ROUNDS = 5;
/** §4.2 L for a sender that does not pace. */
export const HS_L = 8;

export interface HyStartState {
  /** 'ss': standard slow start, 'css': Conservative Slow Start, 'off': done (or never again). */
  readonly phase: 'ss' | 'css' | 'off';
  /** The round ends when SND.UNA reaches this; `null`: the round's end is not known yet. */
  readonly windowEnd: Seq | null;
  readonly lastRoundMinRtt: number;
  readonly currentRoundMinRtt: number;
  readonly rttSampleCount: number;
  readonly cssBaselineMinRtt: number;
  /** Rounds completed in CSS. */
  readonly cssRounds: number;
}

export const HS_INIT: HyStartState = {
  phase: 'ss',
  windowEnd: null,
  lastRoundMinRtt: Number.POSITIVE_INFINITY,
  currentRoundMinRtt: Number.POSITIVE_INFINITY,
  rttSampleCount: 0,
  cssBaselineMinRtt: Number.POSITIVE_INFINITY,
  cssRounds: 0,
};

export const HS_OFF: HyStartState = { ...HS_INIT, phase: 'off' };

/** What one ACK tells HyStart++: its RTT sample (null: none) and SND.UNA / SND.MAX after it. */
export interface HyStartAck {
  readonly sample: number | null;
  readonly una: Seq;
  readonly max: Seq;
}

/**
 * One ACK of `acked` new bytes in slow start (cwnd < ssthresh, ssthresh still initial): the new
 * HyStart++ state, cwnd, and ssthresh (= cwnd once CSS is over).
 */
export function hystartAck(
  hs: HyStartState,
  cwnd: number,
  ssthresh: number,
  acked: number,
  mss: number,
  a: HyStartAck,
): { hs: HyStartState; cwnd: number; ssthresh: number } {
  let h = hs;
  if (h.windowEnd !== null && seqGe(a.una, h.windowEnd)) {
    // A round ended: the ACK for windowEnd arrived.
    const cssRounds = h.phase === 'css' ? h.cssRounds + 1 : h.cssRounds;
    if (h.phase === 'css' && cssRounds >= CSS_ROUNDS) {
      // "If CSS_ROUNDS rounds are complete, enter congestion avoidance by setting the ssthresh to the
      // current cwnd."
      return { hs: HS_OFF, cwnd, ssthresh: cwnd };
    }
    h = {
      ...h,
      // windowEnd = SND.NXT; with nothing in flight it is known only once the next data went out.
      windowEnd: seqGt(a.max, a.una) ? a.max : null,
      lastRoundMinRtt: h.currentRoundMinRtt,
      currentRoundMinRtt: Number.POSITIVE_INFINITY,
      rttSampleCount: 0,
      cssRounds,
    };
  } else if (h.windowEnd === null && seqGt(a.max, a.una)) {
    // The round under way (the first one, or one that began with nothing in flight) gets its end.
    h = { ...h, windowEnd: a.max };
  }
  const grow = Math.min(acked, HS_L * mss);
  const next = cwnd + (h.phase === 'css' ? Math.floor(grow / CSS_GROWTH_DIVISOR) : grow);
  if (a.sample !== null) {
    h = {
      ...h,
      currentRoundMinRtt: Math.min(h.currentRoundMinRtt, a.sample),
      rttSampleCount: h.rttSampleCount + 1,
    };
  }
  const enough =
    h.rttSampleCount >= N_RTT_SAMPLE &&
    h.currentRoundMinRtt !== Number.POSITIVE_INFINITY &&
    h.lastRoundMinRtt !== Number.POSITIVE_INFINITY;
  if (h.phase === 'ss' && enough) {
    const thresh = Math.max(MIN_RTT_THRESH, Math.min(h.lastRoundMinRtt / MIN_RTT_DIVISOR, MAX_RTT_THRESH));
    if (h.currentRoundMinRtt >= h.lastRoundMinRtt + thresh) {
      h = { ...h, phase: 'css', cssBaselineMinRtt: h.currentRoundMinRtt, cssRounds: 0 };
    }
  } else if (
    h.phase === 'css' &&
    h.rttSampleCount >= N_RTT_SAMPLE &&
    h.currentRoundMinRtt < h.cssBaselineMinRtt
  ) {
    // The RTT fell again: the exit was spurious, back to slow start.
    h = { ...h, phase: 'ss', cssBaselineMinRtt: Number.POSITIVE_INFINITY };
  }
  return { hs: h, cwnd: next, ssthresh };
}

/**
 * Slow-start growth for one ACK (cwnd < ssthresh): HyStart++ while it runs (on, in the initial slow
 * start), else RFC 5681 §3.1 eq. (2), cwnd += min(N, SMSS).
 */
export function slowStartAck(
  s: CcStateBase,
  acked: number,
  c: CcContext,
): { hs: HyStartState; cwnd: number; ssthresh: number } {
  if (c.hystart === undefined || s.hs.phase === 'off' || s.ssthresh !== Number.MAX_SAFE_INTEGER) {
    return { hs: s.hs, cwnd: s.cwnd + Math.min(acked, c.mss), ssthresh: s.ssthresh };
  }
  return hystartAck(s.hs, s.cwnd, s.ssthresh, acked, c.mss, c.hystart);
}
