/**
 * BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00, as Linux's tcp_bbr.c behaves): a model of
 * the path, its bottleneck bandwidth (BtlBw) and round-trip propagation time (RTprop), sets the
 * pacing rate and cwnd; loss is not a congestion signal.
 *
 * - §4.1.1 BtlBw: the windowed maximum of the delivery-rate samples (rate.ts) over the last 10 round
 *   trips; application-limited samples count only if they raise it. A round trip ends when a segment
 *   sent after the previous round's end is delivered (rs.prior_delivered >= next_round_delivered).
 * - §4.1.2 RTprop: the minimum RTT sample over 10 s.
 * - §4.2.1 pacing rate = pacing_gain · BtlBw (less Linux's 1 % margin), only raised until the pipe is
 *   full; before a bandwidth sample, high_gain · cwnd / SRTT.
 * - §4.2.3 cwnd = cwnd_gain · BDP plus a quantization allowance (3 send quanta, rounded to an even
 *   number of segments, 2 more segments in the probing phase), approached by the bytes each ACK
 *   delivers; never below 4 segments (BBRMinPipeCwnd) outside loss recovery; 4 segments in PROBE_RTT.
 *   The ACK-aggregation allowance of later Linux versions is not modelled.
 * - §4.3.2 STARTUP: pacing and cwnd gain 2/ln 2; the pipe is full after 3 rounds in which BtlBw grew
 *   less than 25 %. §4.3.3 DRAIN: the inverse gain until the data in flight is down to one BDP.
 *   §4.3.4 PROBE_BW: the pacing gain cycles [5/4, 3/4, 1, 1, 1, 1, 1, 1], a phase lasting RTprop
 *   (5/4 until inflight reaches 5/4 BDP or a loss; 3/4 ends early once inflight is down to one BDP),
 *   from a phase other than 3/4 (Linux picks one at random: here the time chosen it, pure).
 *   §4.3.5 PROBE_RTT: when RTprop is 10 s old, cwnd 4 segments for 200 ms and a round trip, then
 *   RTprop is fresh again; the previous cwnd is restored.
 * - "Modulating cwnd in loss recovery": the first round of fast recovery is packet conservation
 *   (cwnd = inflight + delivered), newly lost bytes come off cwnd; on a retransmission timeout
 *   cwnd = 1 segment, growing again by what ACKs deliver; when recovery or the timeout's recovery
 *   ends, the cwnd from before it comes back. ECN (BBR v1 ignores it) and the long-term policer
 *   estimate (lt_bw) are not modelled.
 *
 * Units: bytes, ms, bytes per ms. The core calls `bbrAck` on every ACK after loss detection (rate.ts
 * rateCcAck, with the rate sample) and lets it own cwnd: no PRR, no reduction in `onCongestion`.
 */
import { type Seq, seqGe } from '../../seq.js';
import type { RateSample } from '../rate.js';
import { HS_OFF } from './hystart.js';
import { type CcStateBase, type CongestionControl, initialWindow } from './types.js';

export type BbrMode = 'startup' | 'drain' | 'probe-bw' | 'probe-rtt';

/** One round's maximum delivery rate (the BtlBw filter keeps the last BW_ROUNDS rounds). */
export interface BwSample {
  readonly round: number;
  readonly bw: number;
}

export interface BbrState extends CcStateBase {
  readonly algo: 'bbr';
  readonly mode: BbrMode;
  /** Pacing rate in bytes/ms (0: not known yet, do not pace). */
  readonly pacingRate: number;
  readonly pacingGain: number;
  readonly cwndGain: number;
  /** BtlBw max filter: at most BW_ROUNDS entries, one per round with a sample, oldest first. */
  readonly bwFilter: readonly BwSample[];
  readonly minRtt: number;
  readonly minRttStamp: number;
  /** Round-trip counting (rtt_cnt, next_rtt_delivered) and whether this ACK started a round. */
  readonly round: number;
  readonly nextRoundDelivered: number;
  readonly roundStart: boolean;
  /** Full-pipe detection: BtlBw at the last 25 % growth, rounds since without it. */
  readonly fullBw: number;
  readonly fullBwCount: number;
  readonly filledPipe: boolean;
  readonly cycleIdx: number;
  readonly cycleStamp: number;
  /** PROBE_RTT: when it may end (null until inflight is down to 4 segments), a round passed since. */
  readonly probeRttDoneAt: number | null;
  readonly probeRttRoundDone: boolean;
  /** cwnd saved on entering loss recovery, a timeout or PROBE_RTT. */
  readonly priorCwnd: number;
  /** Loss state as the last ACK saw it (Linux's prev_ca_state), and packet conservation's round. */
  readonly lossState: 'open' | 'recovery' | 'loss';
  readonly conservation: boolean;
  /** A retransmission timeout's recovery runs (until SND.UNA passes the core's recovery point). */
  readonly rtoLoss: boolean;
  /** Restarted from idle (§4.3.4.4): no PROBE_RTT until data is delivered again. */
  readonly idleRestart: boolean;
}

/** §4.3.2 2/ln 2, the smallest gain that doubles the delivery rate every round. */
export const HIGH_GAIN = 2 / Math.LN2;
export const DRAIN_GAIN = 1 / HIGH_GAIN;
export const CWND_GAIN = 2;
export const PACING_GAINS: readonly number[] = [5 / 4, 3 / 4, 1, 1, 1, 1, 1, 1];
/** §4.1.1 BtlBwFilterLen: 10 round trips. */
export const BW_ROUNDS = 10;
/** §4.1.2 RTpropFilterLen: 10 s. */
export const MIN_RTT_WINDOW = 10_000;
/** §4.3.5 ProbeRTTDuration. */
export const PROBE_RTT_TIME = 200;
/** §4.2.3 BBRMinPipeCwnd, in segments. */
export const MIN_PIPE_SEGMENTS = 4;
const FULL_BW_GROWTH = 1.25;
const FULL_BW_ROUNDS = 3;
/** Linux's bbr_pacing_margin_percent: pace 1 % below the estimate so queues drain. */
const PACING_MARGIN = 0.99;
/** Linux's TCP_INIT_CWND: the BDP assumed before an RTT is known, and the delivered bytes below which cwnd grows. */
const INIT_CWND_SEGMENTS = 10;
/** Largest burst paced at once (Linux's TSO autosizing: 64 KB or 1 ms at the pacing rate). */
export const MAX_QUANTUM = 65_536;

/** §4.2.2 send quantum: what pacing releases at once, 1 ms at the pacing rate within [2 segments, 64 KB]. */
export function sendQuantum(pacingRate: number, mss: number): number {
  return Math.min(MAX_QUANTUM, Math.max(2 * mss, pacingRate));
}

/** BtlBw: the maximum of the filter (0 before a sample). */
export function maxBw(s: BbrState): number {
  let m = 0;
  for (const b of s.bwFilter) if (b.bw > m) m = b.bw;
  return m;
}

/** §4.2.3 BBRInflight: gain · BDP plus the quantization allowance, in bytes. */
export function targetInflight(s: BbrState, bw: number, gain: number, mss: number): number {
  const bdp =
    s.minRtt === Number.POSITIVE_INFINITY ? INIT_CWND_SEGMENTS * mss : Math.ceil(gain * bw * s.minRtt);
  let cwnd = bdp + 3 * sendQuantum(s.pacingRate, mss);
  // An even number of segments (Linux: delayed ACKs of odd windows stall one segment).
  const segs = Math.ceil(cwnd / mss);
  cwnd = (segs + (segs & 1)) * mss;
  if (s.mode === 'probe-bw' && s.cycleIdx === 0) cwnd += 2 * mss;
  return cwnd;
}

/** What one ACK tells BBR (the core's view after loss detection). */
export interface BbrAck {
  readonly sample: RateSample;
  readonly now: number;
  readonly mss: number;
  /** Bytes in flight (SetPipe) after the ACK. */
  readonly inflight: number;
  /** Bytes newly marked lost by this ACK. */
  readonly lost: number;
  /** Fast recovery (RFC 6675 / 6582) is under way. */
  readonly inRecovery: boolean;
  /** SND.UNA, and the core's recovery point (where a timeout's recovery ends; null: none). */
  readonly una: Seq;
  readonly recoverPoint: Seq | null;
  readonly srtt: number | null;
}

function init(mss: number, iw: number | null): BbrState {
  // Never below BBRMinPipeCwnd (Linux starts BBR from its IW10 anyway).
  const cwnd = Math.max(initialWindow(mss, iw), MIN_PIPE_SEGMENTS * mss);
  return {
    algo: 'bbr',
    cwnd,
    ssthresh: Number.MAX_SAFE_INTEGER,
    hs: HS_OFF,
    mode: 'startup',
    pacingRate: 0,
    pacingGain: HIGH_GAIN,
    cwndGain: HIGH_GAIN,
    bwFilter: [],
    minRtt: Number.POSITIVE_INFINITY,
    minRttStamp: 0,
    round: 0,
    nextRoundDelivered: 0,
    roundStart: false,
    fullBw: 0,
    fullBwCount: 0,
    filledPipe: false,
    cycleIdx: 0,
    cycleStamp: 0,
    probeRttDoneAt: null,
    probeRttRoundDone: false,
    priorCwnd: cwnd,
    lossState: 'open',
    conservation: false,
    rtoLoss: false,
    idleRestart: false,
  };
}

/** Linux's bbr_save_cwnd: the cwnd to come back to after recovery or PROBE_RTT. */
function saveCwnd(s: BbrState): number {
  return s.lossState === 'open' && s.mode !== 'probe-rtt' ? s.cwnd : Math.max(s.priorCwnd, s.cwnd);
}

/** The state being updated by one ACK: one copy per ACK, edited in place by the steps below. */
type Work = { -readonly [K in keyof BbrState]: BbrState[K] };

/** §4.1.1: round counting and the BtlBw filter. */
function updateBw(st: Work, a: BbrAck): void {
  const rs = a.sample;
  st.roundStart = false;
  if (rs.interval <= 0 || rs.delivered <= 0) return;
  if (rs.priorDelivered >= st.nextRoundDelivered) {
    st.nextRoundDelivered = rs.totalDelivered;
    st.round++;
    st.roundStart = true;
    st.conservation = false;
  }
  const bw = rs.deliveryRate;
  if (rs.isAppLimited && bw < maxBw(st)) return;
  const f = st.bwFilter;
  const last = f[f.length - 1];
  // Most ACKs neither start a round nor raise this round's maximum: the filter stays as it is.
  if (last !== undefined && last.round === st.round && bw <= last.bw) return;
  const keep = f.filter((b) => b.round > st.round - BW_ROUNDS);
  const top = keep[keep.length - 1];
  if (top !== undefined && top.round === st.round) keep[keep.length - 1] = { round: st.round, bw };
  else keep.push({ round: st.round, bw });
  st.bwFilter = keep;
}

/** §4.3.4.3 BBRIsNextCyclePhase and the advance. */
function updateCycle(st: Work, a: BbrAck): void {
  if (st.mode !== 'probe-bw') return;
  const full = a.now - st.cycleStamp > st.minRtt;
  const gain = st.pacingGain;
  let next: boolean;
  if (gain === 1) next = full;
  else if (gain > 1) next = full && (a.lost > 0 || a.inflight >= targetInflight(st, maxBw(st), gain, a.mss));
  else next = full || a.inflight <= targetInflight(st, maxBw(st), 1, a.mss);
  if (!next) return;
  st.cycleIdx = (st.cycleIdx + 1) % PACING_GAINS.length;
  st.cycleStamp = a.now;
}

function enterProbeBw(st: Work, now: number): void {
  // Linux starts at a random phase other than 3/4 (drain); the time picks it here (pure).
  const idx = PACING_GAINS.length - 1 - (Math.floor(now) % (PACING_GAINS.length - 1));
  st.mode = 'probe-bw';
  st.cycleIdx = (idx + 1) % PACING_GAINS.length;
  st.cycleStamp = now;
}

/** §4.3.2.2 BBRCheckFullPipe, §4.3.3 DRAIN entry and exit. */
function checkFullPipeAndDrain(st: Work, a: BbrAck): void {
  if (!st.filledPipe && st.roundStart && !a.sample.isAppLimited) {
    const bw = maxBw(st);
    if (bw >= st.fullBw * FULL_BW_GROWTH) {
      st.fullBw = bw;
      st.fullBwCount = 0;
    } else {
      st.fullBwCount++;
      st.filledPipe = st.fullBwCount >= FULL_BW_ROUNDS;
    }
  }
  if (st.mode === 'startup' && st.filledPipe) {
    st.mode = 'drain';
    st.ssthresh = targetInflight(st, maxBw(st), 1, a.mss);
  }
  if (st.mode === 'drain' && a.inflight <= targetInflight(st, maxBw(st), 1, a.mss)) enterProbeBw(st, a.now);
}

/** §4.1.2 RTprop and §4.3.5 PROBE_RTT. */
function updateMinRtt(st: Work, a: BbrAck): void {
  const rs = a.sample;
  const expired = a.now > st.minRttStamp + MIN_RTT_WINDOW;
  if (rs.rtt >= 0 && (rs.rtt < st.minRtt || expired)) {
    st.minRtt = rs.rtt;
    st.minRttStamp = a.now;
  }
  if (expired && !st.idleRestart && st.mode !== 'probe-rtt') {
    st.priorCwnd = saveCwnd(st);
    st.mode = 'probe-rtt';
    st.probeRttDoneAt = null;
    st.probeRttRoundDone = false;
  }
  if (st.mode === 'probe-rtt') {
    if (st.probeRttDoneAt === null && a.inflight <= MIN_PIPE_SEGMENTS * a.mss) {
      st.probeRttDoneAt = a.now + PROBE_RTT_TIME;
      st.probeRttRoundDone = false;
      st.nextRoundDelivered = rs.totalDelivered;
    } else if (st.probeRttDoneAt !== null) {
      if (st.roundStart) st.probeRttRoundDone = true;
      if (st.probeRttRoundDone && a.now > st.probeRttDoneAt) {
        // RTprop is fresh: leave with the cwnd from before.
        st.minRttStamp = a.now;
        st.cwnd = Math.max(st.cwnd, st.priorCwnd);
        if (st.filledPipe) enterProbeBw(st, a.now);
        else st.mode = 'startup';
      }
    }
  }
  if (rs.newlyDelivered > 0) st.idleRestart = false;
}

function updateGains(st: Work): void {
  switch (st.mode) {
    case 'startup':
      st.pacingGain = HIGH_GAIN;
      st.cwndGain = HIGH_GAIN;
      break;
    case 'drain':
      st.pacingGain = DRAIN_GAIN;
      st.cwndGain = HIGH_GAIN;
      break;
    case 'probe-bw':
      st.pacingGain = PACING_GAINS[st.cycleIdx]!;
      st.cwndGain = CWND_GAIN;
      break;
    case 'probe-rtt':
      st.pacingGain = 1;
      st.cwndGain = 1;
      break;
  }
}

/** §4.2.1 BBRSetPacingRate (BBRInitPacingRate before a bandwidth sample). */
function setPacingRate(st: Work, a: BbrAck): void {
  const bw = maxBw(st);
  if (bw === 0) {
    if (a.srtt === null || a.srtt <= 0) return;
    const init = (HIGH_GAIN * st.cwnd) / Math.max(a.srtt, 1);
    if (init > st.pacingRate) st.pacingRate = init;
    return;
  }
  const rate = st.pacingGain * bw * PACING_MARGIN;
  if (st.filledPipe || rate > st.pacingRate) st.pacingRate = rate;
}

/** §4.2.3 BBRSetCwnd with the loss-recovery modulation (Linux's bbr_set_cwnd_to_recover_or_restore). */
function setCwnd(st: Work, a: BbrAck): void {
  const acked = a.sample.newlyDelivered;
  const minCwnd = MIN_PIPE_SEGMENTS * a.mss;
  let cwnd = st.cwnd;
  if (acked > 0) {
    if (a.lost > 0) cwnd = Math.max(cwnd - a.lost, a.mss);
    if (st.rtoLoss && (a.recoverPoint === null || seqGe(a.una, a.recoverPoint))) st.rtoLoss = false;
    const state = st.rtoLoss ? 'loss' : a.inRecovery ? 'recovery' : 'open';
    if (state === 'recovery' && st.lossState !== 'recovery') {
      // The first round of recovery is packet conservation; the cwnd before it is kept.
      if (st.lossState === 'open') st.priorCwnd = saveCwnd(st);
      st.conservation = true;
      st.nextRoundDelivered = a.sample.totalDelivered;
      cwnd = a.inflight + acked;
    } else if (st.lossState !== 'open' && state === 'open') {
      cwnd = Math.max(cwnd, st.priorCwnd);
      st.conservation = false;
    }
    st.lossState = state;
    if (st.conservation) {
      // Our floor applies here too (Linux allows 1 segment): 4 segments keep the ACK clock going.
      cwnd = Math.max(cwnd, a.inflight + acked, minCwnd);
    } else {
      const target = targetInflight(st, maxBw(st), st.cwndGain, a.mss);
      if (st.filledPipe) cwnd = Math.min(cwnd + acked, target);
      else if (cwnd < target || a.sample.totalDelivered < INIT_CWND_SEGMENTS * a.mss) cwnd += acked;
      cwnd = Math.max(cwnd, minCwnd);
    }
  }
  if (st.mode === 'probe-rtt') cwnd = Math.min(cwnd, minCwnd);
  st.cwnd = cwnd;
}

/** One ACK (bbr_main): update the model, then the pacing rate and cwnd. A new state; `s` is not edited. */
export function bbrAck(s: BbrState, a: BbrAck): BbrState {
  const st: Work = { ...s };
  updateBw(st, a);
  updateCycle(st, a);
  checkFullPipeAndDrain(st, a);
  updateMinRtt(st, a);
  updateGains(st);
  setPacingRate(st, a);
  setCwnd(st, a);
  return st;
}

export const bbr: CongestionControl<BbrState> = {
  name: 'bbr',
  init,
  // cwnd follows the model on every ACK (bbrAck), not per acknowledged byte.
  onAck: (s) => s,
  // Loss is no congestion signal; recovery is seen by bbrAck (its first round is packet conservation).
  onCongestion: (s) => s,
  onRto(s, c) {
    // Linux: tcp_enter_loss leaves one segment (everything in flight counts as lost), the cwnd from
    // before comes back when the timeout's recovery ends; the round restarts the full-pipe count.
    return {
      ...s,
      priorCwnd: saveCwnd(s),
      cwnd: c.mss,
      rtoLoss: true,
      lossState: 'loss',
      conservation: false,
      fullBw: 0,
    };
  },
  afterIdle(s, c, iw) {
    // §4.3.4.4 restarting from idle: pace at BtlBw in PROBE_BW; no PROBE_RTT until data is delivered.
    const bw = maxBw(s);
    const pacingRate = s.mode === 'probe-bw' && bw > 0 ? bw * PACING_MARGIN : s.pacingRate;
    const cwnd = Math.max(Math.min(s.cwnd, iw), MIN_PIPE_SEGMENTS * c.mss);
    return { ...s, cwnd, idleRestart: true, pacingRate };
  },
  postRecovery: (s) => s,
  onUndo(s) {
    // The model stays; the next ACK sees recovery over and restores the cwnd from before it. Linux's
    // bbr_undo_cwnd also restarts full-pipe detection: not here, since BBR slowed nothing down for
    // the loss, and undos that come every few rounds (Eifel on long flights) kept STARTUP running.
    return s.rtoLoss ? { ...s, rtoLoss: false } : s;
  },
};
