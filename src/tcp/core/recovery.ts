/**
 * Loss recovery with SACK: RACK-TLP (RFC 8985) decides what is lost, Proportional Rate Reduction
 * (RFC 6937, PRR-SSRB) how much is sent per ACK while recovering, and a reduction that proves
 * spurious is undone (RFC 3708 D-SACK, RFC 3522 Eifel detection with timestamps, RFC 5682 F-RTO,
 * all with the RFC 4015 response). Without SACK the core keeps RFC 5681/6582 NewReno (input.ts);
 * Eifel and F-RTO work there too.
 */
import { type Seq, seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin } from '../seq.js';
import type { SackBlock } from '../wire.js';
import { type CcContext, type CcState, ccOf } from './congestion/index.js';
import type { Draft } from './draft.js';
import { finSent, hasUnsent, pipe, retransmit, segmentRoom, sendOverride } from './output.js';
import { logTrim, rackDelivered, rackDetectLoss, reoWnd, subtract } from './rack.js';
import { type Scoreboard, type SeqRange, scoreboardBytes, scoreboardTrim } from './ranges.js';
import type { ConnStats, MutTcb } from './types.js';

/** Adds to a per-connection counter. */
export function bump(t: MutTcb, k: keyof ConnStats, by = 1): void {
  t.stats = { ...t.stats, [k]: t.stats[k] + by };
}

/** What processAck saw of one ACK, for the rules here (SACK connections). */
export interface AckSeen {
  readonly oldUna: Seq;
  /** The scoreboard before this ACK's blocks were added. */
  readonly oldSb: Scoreboard;
  /** This ACK's SACK blocks within [SND.UNA, SND.MAX) (processAck says when a D-SACK counts). */
  readonly blocks: readonly SackBlock[];
  readonly dsack: SackBlock | null;
  /** TSecr of the ACK (null without timestamps). */
  readonly tsEcr: number | null;
  /** Loss recovery ended on this ACK. */
  readonly exited: boolean;
}

/** Our TSval for a time (output.ts tsNow, kept local to avoid a cycle of helpers). */
function tsOf(t: MutTcb, ms: number): number {
  return (Math.floor(ms) + t.tsOffset) >>> 0;
}

/** The start of a cwnd reduction that may later prove spurious (RFC 3708 §3, RFC 3522 §2). */
export function undoBegin(t: MutTcb, prior: CcState): void {
  // A reduction inside a running episode (an RTO during recovery) keeps the episode's prior state.
  if (t.undo !== null && t.undo.until === null) return;
  // Retransmissions of an earlier episode still in flight count as this one's first (Linux's
  // retrans_stamp): the ACK one of them earns must not pass for an original's (RFC 3522 §2).
  let first: number | null = null;
  for (const e of t.sent.entries) if (e.rexmit && (first === null || e.ts < first)) first = e.ts;
  t.undo = {
    prior,
    marker: t.sndUna,
    rexmitTsVal: first === null ? null : tsOf(t, first),
    retransBytes: 0,
    until: null,
    extended: false,
    quietSince: null,
    rto: false,
  };
}

/** RFC 4015 §2 response: give back cwnd and ssthresh, leave recovery, resume with new data. */
function undo(d: Draft, t: MutTcb, why: 'undo-dsack' | 'undo-eifel' | 'undo-frto'): void {
  const u = t.undo;
  if (u === null) return;
  if (u.rto) bump(t, 'spuriousRtos');
  // Eifel or a D-SACK may judge a timeout before F-RTO does (Linux runs them all): its verdict ends F-RTO.
  t.frto = null;
  const p = u.prior;
  const onUndo = ccOf(t.cc).onUndo;
  // A model-based algorithm (BBR) keeps its model and restores cwnd itself.
  t.cc =
    onUndo !== undefined
      ? onUndo(t.cc, p)
      : ({
          ...p,
          cwnd: Math.max(t.cc.cwnd, p.cwnd),
          ssthresh: Math.max(t.cc.ssthresh, p.ssthresh),
        } as CcState);
  t.undo = null;
  t.recovery = null;
  t.dupAcks = 0;
  // The losses were not losses: drop the marks; RACK finds real ones again (with a wider window).
  t.rack = { ...t.rack, lost: [], reorderingSeen: true, tlpEnd: null };
  // After a spurious timeout, go-back-N stops: what is in flight is not lost (RFC 4015 §2 step 3).
  if (seqLt(t.sndNxt, t.sndMax)) t.sndNxt = t.sndMax;
  d.count(why);
  bump(t, 'spuriousUndone');
}

/**
 * RFC 3522 §2 Eifel detection, for an ACK that advanced SND.UNA: an echoed timestamp older than the
 * episode's first retransmission means the original reached the peer, so the reduction was spurious.
 */
export function eifelCheck(d: Draft, t: MutTcb, tsEcr: number | null): void {
  const r = t.rack;
  const rtoSpurious =
    r.rtoPrior !== null && r.rtoTsVal !== null && tsEcr !== null && seqLt(tsEcr as Seq, r.rtoTsVal as Seq);
  // The timeout's own verdict is taken on the first ACK of new data after it.
  if (r.rtoPrior !== null && r.rtoTsVal !== null) t.rack = { ...r, rtoPrior: null, rtoTsVal: null };
  const u = t.undo;
  if (u !== null && u.rexmitTsVal !== null && tsEcr !== null && tsEcr !== 0) {
    if (seqLt(tsEcr as Seq, u.rexmitTsVal as Seq)) {
      undo(d, t, 'undo-eifel');
      return;
    }
  }
  if (rtoSpurious && r.rtoPrior !== null) {
    // RFC 4015 §2 for the timeout alone: the recovery's reduction stands, the timeout's goes.
    bump(t, 'spuriousRtos');
    const onUndo = ccOf(t.cc).onUndo;
    t.cc =
      onUndo !== undefined
        ? onUndo(t.cc, r.rtoPrior)
        : ({ ...r.rtoPrior, cwnd: Math.max(t.cc.cwnd, r.rtoPrior.cwnd) } as CcState);
    if (seqLt(t.sndNxt, t.sndMax)) t.sndNxt = t.sndMax;
    d.count('undo-eifel');
    bump(t, 'spuriousUndone');
  }
}

/**
 * Enters SACK loss recovery (RFC 6675 §5, RFC 6937 §3 "on entering recovery"). `reduce` is false for
 * losses in the window a timeout already reduced for (RFC 6582 §3.2: one reduction per window).
 */
export function enterSackRecovery(d: Draft, t: MutTcb, reduce: boolean): void {
  const flight = seqDiff(t.sndMax, t.sndUna);
  if (reduce) {
    d.count('fast-recovery');
    bump(t, 'fastRecoveries');
    const prior = t.cc;
    t.cc = ccOf(t.cc).onCongestion(t.cc, { mss: t.mss, flight, now: d.now, srtt: t.rtt.srtt });
    undoBegin(t, prior);
  }
  t.recovery = {
    kind: 'sack',
    recover: t.sndMax,
    rxtNext: t.sndUna,
    partialSeen: false,
    reduced: reduce,
    recoverFs: Math.max(flight, 1),
    prrDelivered: 0,
    prrOut: 0,
  };
  // A probe in flight is part of this episode now.
  t.rack = { ...t.rack, tlpEnd: null, ptoAt: null };
}

/** RFC 6937 §3 PRR-SSRB: cwnd = pipe + sndcnt for the data this ACK delivered. */
function prrAck(t: MutTcb, delivered: number): void {
  const r = t.recovery;
  // A model-based algorithm (BBR) sets cwnd in recovery itself (rate.ts, onRateAck).
  if (r === null || r.kind !== 'sack' || t.cc.algo === 'bbr') return;
  const prrDelivered = r.prrDelivered + Math.max(0, delivered);
  const p = pipe(t);
  const ssthresh = t.cc.ssthresh;
  let sndcnt: number;
  if (p > ssthresh) {
    // Proportional part: spread the reduction over the round trip.
    sndcnt = Math.ceil((prrDelivered * ssthresh) / r.recoverFs) - r.prrOut;
  } else {
    // Slow-start reduction bound: catch up to ssthresh, at most one segment more than delivered.
    sndcnt = Math.min(ssthresh - p, Math.max(prrDelivered - r.prrOut, delivered) + t.mss);
  }
  sndcnt = Math.max(0, sndcnt);
  // The fast retransmit itself always goes out (RFC 6937 §3: the first ACK "sends at least one").
  if (r.prrOut === 0 && t.rack.lost.length > 0) sndcnt = Math.max(sndcnt, segmentRoom(t));
  t.recovery = { ...r, prrDelivered };
  t.cc = { ...t.cc, cwnd: p + sndcnt };
}

/** Newly delivered ranges of this ACK: cumulatively [oldUna, SND.UNA) and SACK blocks, minus what was SACKed. */
function newlyDelivered(t: MutTcb, a: AckSeen): SeqRange[] {
  const out: SeqRange[] = [];
  if (seqGt(t.sndUna, a.oldUna)) out.push(...subtract(a.oldSb, a.oldUna, t.sndUna));
  for (const b of a.blocks) {
    const s = seqMax(b.left, t.sndUna);
    const e = seqMin(b.right, t.sndMax);
    if (seqLt(s, e)) out.push(...subtract(a.oldSb, s, e));
  }
  return out;
}

/**
 * Everything RACK-TLP, PRR and undo do with one ACK on a SACK connection, after processAck moved
 * SND.UNA and the scoreboard (RFC 8985 §6.2 steps 1-5, §7.4; RFC 3708; RFC 6937).
 */
export function rackOnAck(d: Draft, t: MutTcb, a: AckSeen): void {
  const now = d.now;
  const delivered = newlyDelivered(t, a);
  if (delivered.length > 0) {
    const before = t.rack.reorderingSeen;
    t.rack = rackDelivered(t.rack, t.sent, delivered, {
      now,
      una: t.sndUna,
      tsEcr: t.tsOk ? a.tsEcr : null,
      tsOf: (ms) => tsOf(t, ms),
    });
    if (!before && t.rack.reorderingSeen) d.count('reordering-seen');
  }
  if (seqGt(t.sndUna, a.oldUna)) {
    t.sent = logTrim(t.sent, t.sndUna);
    const lost = t.rack.lost.length > 0 ? scoreboardTrim(t.rack.lost, t.sndUna) : t.rack.lost;
    const m = t.rack.rtoMark;
    const rtoMark = m !== null && seqGe(t.sndUna, m) ? null : m;
    // RFC 8985 §7.2: an ACK of new data restarts the probe timeout (armTimers re-arms it).
    t.rack = { ...t.rack, lost, rtoMark, ptoAt: null };
  }
  // D-SACK (RFC 3708 §3): each duplicate of a retransmission since the reduction counts it off.
  if (a.dsack !== null) {
    d.count('dsack-in');
    bump(t, 'dsacks');
    const u = t.undo;
    if (u !== null && u.retransBytes > 0 && seqGt(a.dsack.right, u.marker)) {
      const left = u.retransBytes - seqDiff(a.dsack.right, a.dsack.left);
      if (left <= 0) undo(d, t, 'undo-dsack');
      else t.undo = { ...u, retransBytes: left };
    }
  }
  tlpAck(d, t, a);
  // Forget an episode a round of data after everything sent during it is acknowledged: its D-SACKs
  // (duplicates delayed less than a round trip) came by then. With nothing sent since (the end of a
  // transfer) there is no such round: wait one RTO of time instead.
  const u = t.undo;
  if (u !== null && u.until !== null && seqGe(t.sndUna, u.until)) {
    if (u.extended) t.undo = null;
    else if (t.sndMax !== u.until) t.undo = { ...u, until: t.sndMax, extended: true, quietSince: null };
    else if (u.quietSince === null) t.undo = { ...u, quietSince: now };
    else if (now - u.quietSince >= t.rtt.rto) t.undo = null;
  }
  const sackedNow = scoreboardBytes(t.scoreboard);
  // Duplicates of go-back-N after a timeout are no sign of reordering.
  const m = t.rack.rtoMark;
  const reordered = a.dsack !== null && (m === null || seqGt(a.dsack.right, m));
  rackDetect(d, t, reordered, a.exited);
  const deliveredBytes =
    seqDiff(t.sndUna, a.oldUna) + sackedNow - scoreboardBytes(scoreboardTrim(a.oldSb, t.sndUna));
  prrAck(t, deliveredBytes);
}

/** RFC 8985 §6.2 steps 4-5 and the reordering timer; enters recovery when something is lost. */
function rackDetect(d: Draft, t: MutTcb, dsack: boolean, exited: boolean): void {
  const w = reoWnd(t.rack, {
    dsack,
    exited,
    inRecovery: t.recovery !== null,
    sacked: scoreboardBytes(t.scoreboard),
    mss: t.mss,
    sndUna: t.sndUna,
    sndNxt: t.sndMax,
    srtt: t.rtt.srtt,
  });
  const r = rackDetectLoss(w.rack, t.sent, t.scoreboard, w.wnd, d.now);
  t.rack =
    r.lost === w.rack.lost && r.timerAt === w.rack.reoAt
      ? w.rack
      : { ...w.rack, lost: r.lost, reoAt: r.timerAt };
  if (r.marked === 0) return;
  d.count('rack-lost');
  if (r.rexmitLost) d.count('retransmit-lost-rexmit');
  // Go-back-N after a timeout resends everything anyway; RFC 6582's `recover` keeps one reduction
  // per window of data (later losses in that window are repaired without another). While F-RTO
  // waits for its verdict (RFC 5682 §3 step 3) the next ACK decides, not RACK.
  const fresh = t.lastRecover === null || seqGe(t.sndUna, t.lastRecover);
  if (t.recovery === null && t.sndNxt === t.sndMax && t.frto === null) enterSackRecovery(d, t, fresh);
}

/** The RACK reordering timer fired (RFC 8985 §6.3). */
export function rackTimerExpired(d: Draft, t: MutTcb): void {
  t.rack = { ...t.rack, reoAt: null };
  if (!t.sackOk || t.sndMax === t.sndUna) return;
  d.count('rack-reorder-timer');
  rackDetect(d, t, false, false);
  prrAck(t, 0);
}

/**
 * RFC 8985 §7.4: what the ACKs after a probe say. A probe of new data needs nothing (RACK sees any
 * loss); a retransmitted probe answered by a D-SACK repaired nothing; one acknowledged with data
 * beyond it and no D-SACK repaired a loss, which gets the congestion response of a recovery.
 */
function tlpAck(d: Draft, t: MutTcb, a: AckSeen): void {
  const end = t.rack.tlpEnd;
  if (end === null) return;
  if (!t.rack.tlpRetrans) {
    if (seqGe(t.sndUna, end)) t.rack = { ...t.rack, tlpEnd: null };
    return;
  }
  if (a.dsack !== null && seqGe(a.dsack.right, end) && seqLe(a.dsack.left, end)) {
    t.rack = { ...t.rack, tlpEnd: null };
    return;
  }
  if (!seqGt(t.sndUna, end) && !(seqGe(t.sndUna, end) && a.blocks.length > 0)) return;
  t.rack = { ...t.rack, tlpEnd: null };
  if (t.recovery !== null) return;
  d.count('tlp-recovery');
  const prior = t.cc;
  const flight = seqDiff(t.sndMax, t.sndUna);
  t.cc = ccOf(t.cc).onCongestion(t.cc, { mss: t.mss, flight, now: d.now, srtt: t.rtt.srtt });
  t.cc = { ...t.cc, cwnd: Math.max(t.cc.cwnd, 2 * t.mss) };
  // A later D-SACK of the probe still shows it was not needed.
  t.undo = {
    prior,
    marker: seqAdd(end, -1),
    rexmitTsVal: null,
    retransBytes: 1,
    until: t.sndMax,
    extended: false,
    quietSince: null,
    rto: false,
  };
  t.lastRecover = t.sndMax;
}

/** The probe timeout fired (RFC 8985 §7.3): new data if the window allows, else the last segment again. */
export function probeExpired(d: Draft, t: MutTcb): void {
  t.rack = { ...t.rack, ptoAt: null };
  if (!t.sackOk || t.sndMax === t.sndUna || t.recovery !== null || t.rack.tlpEnd !== null) return;
  d.count('tlp-probe');
  bump(t, 'tlps');
  const before = t.sndMax;
  if (t.sndNxt === t.sndMax && hasUnsent(t)) sendOverride(d, t);
  let retrans = false;
  if (t.sndMax !== before) {
    d.count('tlp-new-data');
  } else {
    const end = finSent(t) ? t.finSeq! : t.sndMax;
    const start = seqMax(t.sndUna, seqAdd(end, -segmentRoom(t)));
    retransmit(d, t, start, seqDiff(end, start), 'retransmit-tlp');
    retrans = true;
  }
  t.rack = { ...t.rack, tlpEnd: t.sndMax, tlpRetrans: retrans };
  // §7.3: the RTO must be armed after the probe. A running one keeps its time (as Linux, relative to
  // the oldest segment): were each probe to push it back, probes answered only by D-SACKs could put
  // off forever the timeout that resends a hole RACK cannot see.
  if (t.rexmt === null || t.rexmt.mode !== 'data') {
    t.rexmt = { mode: 'data', at: d.now + t.rtt.rto, count: 0, backoff: 0 };
  }
}

/**
 * A retransmission timeout: RACK's marks and timers start over (RFC 8985 §6.3, §7.5). `fresh`: no
 * recovery or earlier timeout covers SND.UNA, so an episode still open is over and this one is new.
 */
export function rackOnRto(t: MutTcb, prior: CcState, first: boolean, fresh: boolean): void {
  if (fresh) t.undo = null;
  // Inside a running episode the episode keeps its own prior state; the timeout alone may still
  // prove spurious (its retransmission answered by an ACK for the original).
  const nested = t.undo !== null && t.undo.until === null;
  undoBegin(t, prior);
  t.undo = { ...t.undo!, rto: true };
  bump(t, 'rtos');
  t.rack = {
    ...t.rack,
    lost: [],
    reoAt: null,
    ptoAt: null,
    tlpEnd: null,
    rtoMark: t.sndMax,
    rtoPrior: nested && first ? prior : first ? null : t.rack.rtoPrior,
    rtoTsVal: null,
  };
}

/** Recovery ended (full ACK): the episode's D-SACKs may still come until what was sent is acknowledged. */
export function recoveryEnded(t: MutTcb): void {
  const u = t.undo;
  if (u !== null && u.until === null) t.undo = { ...u, until: t.sndMax };
}

/**
 * Congestion-window growth for an ACK of new data outside recovery, with HyStart++ (RFC 9406) fed
 * this ACK's RTT sample when it is on; counts its transitions.
 */
export function ccAck(d: Draft, t: MutTcb, acked: number, ctx: CcContext, sample: number | null): void {
  const before = t.cc.hs.phase;
  const c = d.config.hystart ? { ...ctx, hystart: { sample, una: t.sndUna, max: t.sndMax } } : ctx;
  t.cc = ccOf(t.cc).onAck(t.cc, acked, c);
  const after = t.cc.hs.phase;
  if (before === after) return;
  if (after === 'css') d.count('hystart-css');
  else if (after === 'ss') d.count('hystart-css-resumed');
  else if (before === 'css') d.count('hystart-exit');
}

/**
 * RFC 5682 §3 step 1, at a retransmission timeout (after timers.ts rewound SND.NXT): F-RTO runs on
 * the first timeout of an episode only. "If the TCP sender is already in RTO recovery AND
 * RecoveryPoint is larger than or equal to SND.UNA, do not enter step 2"; a timeout during fast
 * recovery is left out the same way (§3: retransmitted segments acknowledged then would pass for
 * originals). `fresh`: no recovery or timeout covered SND.UNA when the timer fired.
 */
export function frtoOnRto(d: Draft, t: MutTcb, first: boolean, fresh: boolean): void {
  t.frto =
    d.config.frto && first && fresh && t.state !== 'SynReceived'
      ? { step: 2, recoveryPoint: t.sndMax, rewind: t.sndUna }
      : null;
}

/** What F-RTO needs of one acceptable ACK (processAck). */
export interface FrtoAck {
  readonly oldUna: Seq;
  /** The scoreboard before this ACK's blocks (SACK connections). */
  readonly oldSb: Scoreboard;
  /** This ACK's SACK blocks within [SND.UNA, SND.MAX) (processAck says when a D-SACK counts). */
  readonly blocks: readonly SackBlock[];
  /** A duplicate ACK by RFC 5681 §2 (RFC 6675 with SACK). */
  readonly dup: boolean;
}

/**
 * RFC 5682 §3 steps 2 and 3 (SACK-enhanced F-RTO; without SACK the same rules read cumulative ACKs
 * and duplicate ACKs only, as Linux does), for an ACK after the window update.
 */
export function frtoAck(d: Draft, t: MutTcb, a: FrtoAck): void {
  const f = t.frto;
  if (f === null) return;
  const advanced = seqGt(t.sndUna, a.oldUna);
  if (f.step === 2) {
    // Step 2: duplicate ACKs only update the scoreboard; the ACK of the retransmission decides.
    if (!advanced) return;
    if (seqGe(t.sndUna, f.recoveryPoint)) {
      // 2a: everything sent before the timeout is acknowledged: conventional recovery (nothing left).
      t.frto = null;
      return;
    }
    // 2b: up to two new segments instead of resending (go-back-N waits at `rewind`).
    const rewind = seqMax(t.sndNxt, t.sndUna);
    t.sndNxt = t.sndMax;
    const before = t.sndMax;
    if (hasUnsent(t)) sendOverride(d, t);
    if (hasUnsent(t)) sendOverride(d, t);
    if (t.sndMax === before) {
      // Nothing new can go (no data, or the peer's window): "refrain from entering step 3".
      t.sndNxt = rewind;
      t.frto = null;
      return;
    }
    d.count('frto-new-data');
    t.frto = { step: 3, recoveryPoint: f.recoveryPoint, rewind };
    return;
  }
  // Step 3: "Either a duplicate ACK or a new cumulative ACK ... Other types of ACKs are ignored".
  if (!advanced && !a.dup) return;
  const rp = f.recoveryPoint;
  const beyond = seqGt(t.sndUna, rp) || a.blocks.some((b) => seqGt(b.right, rp));
  let newBelow = advanced;
  for (const b of a.blocks) {
    const s = seqMax(b.left, t.sndUna);
    const e = seqMin(b.right, rp);
    if (seqLt(s, e) && subtract(a.oldSb, s, e).length > 0) newBelow = true;
  }
  t.frto = null;
  if (!beyond && newBelow) {
    // 3b: data sent before the timeout was acknowledged after it: the timeout was spurious. §4: the
    // RFC 4015 response, and no go-back-N (SND.NXT stays at SND.MAX).
    d.count('frto-spurious');
    // RACK took the ACK of the timeout's retransmission for its delivery (nothing tells them apart
    // without timestamps, RFC 8985 §6.2 step 2): the original got there, and every original sent
    // before that retransmission would now pass for lost. RACK's most recent delivery starts over.
    t.rack = { ...t.rack, xmitTs: Number.NEGATIVE_INFINITY, xmitOrder: -1 };
    if (t.undo !== null) undo(d, t, 'undo-frto');
    else bump(t, 'spuriousRtos');
    return;
  }
  // 3a: the new data got through and the hole did not: the timeout was real. "set the congestion
  // window to no more than 3 * MSS and proceed with the conventional RTO recovery".
  d.count('frto-real');
  t.sndNxt = seqMax(f.rewind, t.sndUna);
  t.cc = { ...t.cc, cwnd: Math.min(t.cc.cwnd, 3 * t.mss) };
}
