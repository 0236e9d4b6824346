/**
 * Output: deciding what to send and building the segments (utcp's `tcp_output_required` /
 * `tcp_output_really` split, docs/TCP-NOTES.md §1). `output` runs once per touched connection at the end of a
 * step, so every ACK a step owes is aggregated into at most one segment (RFC 9293 MUST-58/59) and
 * piggybacked on data when there is data to send.
 *
 * Sending rules (RFC 9293 §3.7.4 Nagle, §3.8.6.2.1 sender SWS avoidance, RFC 5681 §3 and §4.1,
 * RFC 3042 limited transmit, RFC 6675 §5 pipe-based SACK recovery):
 * - a segment is full-sized (Eff.snd.MSS less the options it carries), or all queued data when Nagle
 *   allows it (nothing unacknowledged, no-delay set, or the FIN is queued: a close pushes), or at least
 *   half the largest window the peer offered when nothing is unacknowledged; otherwise data waits for an
 *   ACK, or for the persist timer when nothing is in flight (the SWS "override timeout", §3.8.6.2.1 (4));
 * - never beyond SND.UNA + min(SND.WND, cwnd) (plus two segments of limited transmit);
 * - the FIN goes with the last byte, or alone, once all data was sent (it needs no window).
 *
 * Receive window (RFC 9293 §3.8.6.2.2, SHLD-14): the right edge advances only once it would move by
 * min(RCV.BUFF / 2, RMSS), and never moves left: the window is rounded up to the scale unit when
 * keeping the old edge needs it (at most 2^scale - 1 bytes past the buffer; Linux does the same).
 */
import { type Seq, seqAdd, seqDiff, seqGe, seqGt, seqLt, seqMax, seqMin } from '../seq.js';
import { type TcpFlags, type TcpOptions, tcpFlags, tcpOptionsLen } from '../wire.js';
import { sendQuantum } from './congestion/bbr.js';
import { ccOf, initialWindow } from './congestion/index.js';
import { type Draft, receiveAllowance } from './draft.js';
import { ecnOut, synEcnFlags } from './ecn.js';
import { firstLost, logSend, PTO_MIN, rackPipe, rangesRemove, WC_DELACK } from './rack.js';
import { rateAppLimited, rateSent } from './rate.js';
import { oooSackBlocks } from './ranges.js';
import { ropeRead } from './rope.js';
import {
  type IpAddr,
  isSynchronized,
  type Mutable,
  type MutTcb,
  type Tcb,
  type TcpConfig,
  type TcpCounterName,
} from './types.js';
import type { TcpRepr } from '../wire.js';

/** RFC 5681 §3.2 / RFC 6675 DupThresh. */
export const DUP_THRESH = 3;
/** Segments one `output` call may emit (a guard; real limits are the windows). */
const BURST_LIMIT = 4096;

/** Our clock as TSval (1 ms ticks, RFC 7323 §5.4) with the connection's offset. */
export function tsNow(t: Tcb, now: number): number {
  return (Math.floor(now) + t.tsOffset) >>> 0;
}

/** Sequence number of the first byte of the send queue. */
export function sndqSeq(t: Tcb): Seq {
  return isSynchronized(t.state) ? t.sndUna : seqAdd(t.iss, 1);
}

/** Sequence number just after the last queued data byte (where the FIN goes). */
export function dataEnd(t: Tcb): Seq {
  return seqAdd(sndqSeq(t), t.sndq.length);
}

export function finSent(t: Tcb): boolean {
  return t.finSeq !== null && seqGt(t.sndMax, t.finSeq);
}

export function finAcked(t: Tcb): boolean {
  return t.finSeq !== null && seqGt(t.sndUna, t.finSeq);
}

/** Data or FIN not yet sent (from SND.NXT on). */
export function hasUnsent(t: Tcb): boolean {
  return seqLt(t.sndNxt, dataEnd(t)) || (t.finSeq !== null && t.sndNxt === t.finSeq);
}

/** The shift that lets `buf` be advertised in 16 bits (RFC 7323 §2.3: at most 14). */
export function windowShiftFor(buf: number): number {
  let s = 0;
  while (s < 14 && buf >>> s > 0xffff) s++;
  return s;
}

/** Window for a SYN or SYN-ACK: never scaled (RFC 7323 §2.2). */
export function synWindow(d: Draft, t: Tcb): number {
  return Math.min(0xffff, Math.max(0, receiveAllowance(d.config, d.rcvMem) - t.rcvq.length));
}

/**
 * The window field to send now; moves RCV.ADV (the right edge) forward, never back. The buffer is
 * `rcvBuf`, less under memory pressure (draft.ts receiveAllowance).
 */
export function advertiseWindow(d: Draft, t: MutTcb): number {
  const buf = receiveAllowance(d.config, d.rcvMem);
  if (buf < d.config.rcvBuf) d.count('receive-memory-pressure');
  const unit = 1 << t.rcvScale;
  const free = Math.min(Math.max(0, buf - t.rcvq.length), 0xffff * unit);
  const cur = Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt));
  let field = Math.ceil(cur / unit);
  // RFC 9293 §3.8.6.2.2: advance the edge only by a worthwhile amount.
  const cap = Math.min(buf, 0xffff * unit);
  if (free > cur && free - cur >= Math.min(cap / 2, t.rmss)) field = Math.max(field, Math.floor(free / unit));
  field = Math.min(0xffff, field);
  t.rcvAdv = seqMax(t.rcvAdv, seqAdd(t.rcvNxt, field * unit));
  return field;
}

/** True when reading freed enough buffer to be worth a window update (RFC 1122 §4.2.3.3). */
export function windowUpdateDue(d: Draft, t: Tcb): boolean {
  const buf = receiveAllowance(d.config, d.rcvMem);
  const free = Math.min(Math.max(0, buf - t.rcvq.length), 0xffff * (1 << t.rcvScale));
  const cur = Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt));
  const cap = Math.min(buf, 0xffff * (1 << t.rcvScale));
  const grow = free - cur;
  if (grow < Math.min(t.rmss, cap / 2)) return false;
  return grow >= cap / 2 || cur < 2 * t.rmss;
}

/**
 * Timestamps (RFC 7323 §3.2: on every non-RST segment once negotiated) and SACK blocks (RFC 2018 §4),
 * a pending D-SACK block first (RFC 2883 §4: "the first SACK block ... MUST specify the contiguous
 * sequence space that triggered this ACK"; emitFrom clears it once sent).
 */
function dataOptions(t: Tcb, now: number): TcpOptions {
  const o: Mutable<TcpOptions> = {};
  if (t.tsOk) o.timestamps = { tsVal: tsNow(t, now), tsEcr: t.tsRecent };
  if (t.sackOk && (t.ooo.ranges.length > 0 || t.dsack !== null)) {
    const max = t.tsOk ? 3 : 4;
    if (t.dsack === null) o.sack = oooSackBlocks(t.ooo, max);
    else o.sack = [{ left: t.dsack.start, right: t.dsack.end }, ...oooSackBlocks(t.ooo, max - 1)];
  }
  return o;
}

function emitFrom(
  d: Draft,
  t: MutTcb,
  seq: Seq,
  flags: Partial<TcpFlags>,
  payload: Uint8Array[],
  len: number,
  options: TcpOptions,
  window: number,
  segmentSize?: number,
): void {
  let ect = false;
  if (t.ecnOk && !flags.syn) {
    // RFC 3168 §6.1: ECE / CWR flags and ECT(0) (ecn.ts).
    const e = ecnOut(t, flags, seq, len);
    flags = e.flags;
    ect = e.ect;
  }
  const repr: TcpRepr = {
    srcPort: t.localPort,
    dstPort: t.remotePort,
    seq,
    ack: flags.ack ? t.rcvNxt : (0 as Seq),
    flags: tcpFlags(flags),
    window,
    urgentPointer: 0,
    options,
  };
  d.emit(
    segmentSize === undefined
      ? { kind: 'segment', src: t.local, dst: t.remote, repr, payload, payloadLen: len, ect }
      : { kind: 'segment', src: t.local, dst: t.remote, repr, payload, payloadLen: len, ect, segmentSize },
  );
  if (options.sack !== undefined && t.dsack !== null) {
    t.dsack = null;
    d.count('dsack-sent');
  }
  if (flags.ack) {
    t.lastAckSent = t.rcvNxt;
    t.ackNow = false;
    t.ackPending = 0;
    t.delackAt = null;
  }
}

/**
 * A data and/or FIN segment carrying the current ACK and window; with `segmentSize` below `len`, a
 * TSO output standing for segments of that size (SegmentOut.segmentSize).
 */
function sendData(
  d: Draft,
  t: MutTcb,
  seq: Seq,
  len: number,
  fin: boolean,
  options: TcpOptions,
  segmentSize?: number,
): void {
  const payload = len > 0 ? ropeRead(t.sndq, seqDiff(seq, sndqSeq(t)), len) : [];
  const psh = len > 0 && seqAdd(seq, len) === dataEnd(t);
  const window = advertiseWindow(d, t);
  const size = segmentSize !== undefined && len > segmentSize ? segmentSize : undefined;
  emitFrom(d, t, seq, { ack: true, psh, fin }, payload, len, options, window, size);
  // Karn (RFC 6298 §3): time only new data, one segment at a time, when timestamps do not do it.
  if (!t.tsOk && t.rttSeq === null && seqGe(seq, t.sndMax)) {
    t.rttSeq = seq;
    t.rttAt = d.now;
  }
  if (len > 0 || fin) {
    t.lastSendAt = d.now;
    noteSent(d, t, seq, len + (fin ? 1 : 0));
  }
}

/**
 * Bookkeeping of every data/FIN transmission: the RACK send log (RFC 8985 §6.1), a retransmitted
 * range is no longer lost, PRR's prr_out (RFC 6937 §3), the bytes an undo must see D-SACKed
 * (RFC 3708) and the Eifel timestamp of the first retransmission (RFC 3522 §2).
 */
function noteSent(d: Draft, t: MutTcb, seq: Seq, len: number): void {
  const end = seqAdd(seq, len);
  // Only RACK reads the log: connections without SACK keep none (RFC 8985 §2 needs SACK).
  if (t.cc.algo === 'bbr') {
    // The delivery-rate stamp and the pacing clock (rate.ts); the sampler reads the log even without SACK.
    t.rate = rateSent(t.rate, t.sndMax === t.sndUna, d.now, len, t.cc.pacingRate);
    t.sent = logSend(t.sent, seq, end, d.now, t.sndMax, t.rate.stamp);
  } else if (t.sackOk) t.sent = logSend(t.sent, seq, end, d.now, t.sndMax);
  const r = t.recovery;
  if (r !== null && r.kind === 'sack') t.recovery = { ...r, prrOut: r.prrOut + len };
  if (seqLt(seq, t.sndMax)) {
    const rexmit = seqDiff(seqMin(end, t.sndMax), seq);
    if (t.rack.lost.length > 0) t.rack = { ...t.rack, lost: rangesRemove(t.rack.lost, seq, end) };
    t.stats = { ...t.stats, retransmits: t.stats.retransmits + 1 };
    if (t.rack.rtoPrior !== null && t.rack.rtoTsVal === null)
      t.rack = { ...t.rack, rtoTsVal: tsNow(t, d.now) };
    const u = t.undo;
    if (u !== null && u.until === null) {
      t.undo = {
        ...u,
        retransBytes: u.retransBytes + rexmit,
        rexmitTsVal: u.rexmitTsVal ?? tsNow(t, d.now),
      };
    }
  } else if (t.rack.ptoAt !== null && t.rack.tlpEnd === null) {
    // RFC 8985 §7.2: the probe timeout restarts when new data goes out (armTimers re-arms it).
    t.rack = { ...t.rack, ptoAt: null };
  }
}

/**
 * <SEQ=SND.MAX><ACK=RCV.NXT><CTL=ACK> with the current window. RFC 9293 writes SND.NXT, but after a
 * timeout SND.NXT goes back to SND.UNA (go-back-N) and a pure ACK carrying it is below the peer's
 * RCV.NXT once the peer has all our data: the peer drops it as unacceptable and never sees its ACK
 * field, while it does the same with ours — both sides retransmit until they give up. Like FreeBSD's
 * tcp_output, pure ACKs carry the next new sequence number, SND.MAX (found by the whole-stack property).
 */
export function sendAck(d: Draft, t: MutTcb): void {
  emitFrom(d, t, t.sndMax, { ack: true }, [], 0, dataOptions(t, d.now), advertiseWindow(d, t));
}

/**
 * RFC 5961 §7 throttled challenge ACK; true if sent. The limit is per connection rather than global:
 * a global counter is an off-path side channel (CVE-2016-5696).
 */
export function challengeAck(d: Draft, t: MutTcb, why: TcpCounterName): boolean {
  d.count(why);
  const c = d.config;
  if (d.now - t.challengeWindowAt >= c.challengeAckInterval) {
    t.challengeWindowAt = d.now;
    t.challengeCount = 0;
  }
  if (t.challengeCount >= c.challengeAckLimit) {
    d.count('challenge-ack-limited');
    return false;
  }
  t.challengeCount++;
  d.count('challenge-ack-sent');
  sendAck(d, t);
  return true;
}

/** A segment the peer must answer with an ACK: SEG.SEQ = SND.UNA - 1, no data (zero-window probe, keep-alive). */
export function sendProbe(d: Draft, t: MutTcb): void {
  emitFrom(d, t, seqAdd(t.sndUna, -1), { ack: true }, [], 0, dataOptions(t, d.now), advertiseWindow(d, t));
}

/** Our SYN (RFC 9293 §3.10.1) with every option we offer. */
export function sendSyn(d: Draft, t: MutTcb): void {
  const c = d.config;
  const o: Mutable<TcpOptions> = { mss: t.rmss };
  if (c.windowScaling) o.windowScale = t.rcvScale;
  if (c.sack) o.sackPermitted = true;
  if (c.timestamps) o.timestamps = { tsVal: tsNow(t, d.now), tsEcr: 0 };
  emitFrom(d, t, t.iss, { syn: true, ...synEcnFlags(c, t) }, [], 0, o, synWindow(d, t));
}

/** <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> with the options the peer's SYN allows (`tsVal`: a SYN cookie's). */
export function sendSynAck(d: Draft, t: MutTcb, tsVal?: number): void {
  const o: Mutable<TcpOptions> = { mss: t.rmss };
  if (t.wsOk) o.windowScale = t.rcvScale;
  if (t.sackOk) o.sackPermitted = true;
  if (t.tsOk) o.timestamps = { tsVal: tsVal ?? tsNow(t, d.now), tsEcr: t.tsRecent };
  const window = synWindow(d, t);
  // RFC 3168 §6.1.1: an ECN-setup SYN-ACK has ECE, never CWR.
  emitFrom(d, t, t.iss, { syn: true, ack: true, ece: t.ecnOk }, [], 0, o, window);
  t.rcvAdv = seqMax(t.rcvAdv, seqAdd(t.rcvNxt, window));
}

/** A reset built from the segment that provoked it (RFC 9293 §3.10.7.1). */
export function sendResetFor(
  d: Draft,
  local: IpAddr,
  remote: IpAddr,
  repr: TcpRepr,
  payloadLen: number,
): void {
  if (repr.flags.rst) return;
  const segLen = payloadLen + (repr.flags.syn ? 1 : 0) + (repr.flags.fin ? 1 : 0);
  const ackOn = !repr.flags.ack;
  const out: TcpRepr = {
    srcPort: repr.dstPort,
    dstPort: repr.srcPort,
    seq: ackOn ? (0 as Seq) : repr.ack,
    ack: ackOn ? seqAdd(repr.seq, segLen) : (0 as Seq),
    flags: tcpFlags({ rst: true, ack: ackOn }),
    window: 0,
    urgentPointer: 0,
    options: {},
  };
  d.emit({ kind: 'segment', src: local, dst: remote, repr: out, payload: [], payloadLen: 0 });
}

/** <SEQ=seq><CTL=RST> on a connection (abort, RFC 9293 §3.10.5; data after close, SHLD-3). */
export function sendReset(d: Draft, t: Tcb, seq: Seq, withAck: boolean): void {
  const repr: TcpRepr = {
    srcPort: t.localPort,
    dstPort: t.remotePort,
    seq,
    ack: withAck ? t.rcvNxt : (0 as Seq),
    flags: tcpFlags({ rst: true, ack: withAck }),
    window: 0,
    urgentPointer: 0,
    options: {},
  };
  d.emit({ kind: 'segment', src: t.local, dst: t.remote, repr, payload: [], payloadLen: 0 });
}

/**
 * Retransmits from `seq` (at most one segment, at most `maxLen` bytes, never past what was sent);
 * returns the sequence space covered (0 if nothing could be sent).
 */
export function retransmit(d: Draft, t: MutTcb, seq: Seq, maxLen: number, why: TcpCounterName): number {
  const opts = dataOptions(t, d.now);
  const sentEnd = finSent(t) ? t.finSeq! : t.sndMax;
  const room = t.mss - tcpOptionsLen(opts);
  const len = Math.max(
    0,
    Math.min(maxLen, Math.max(1, room), seqDiff(sentEnd, seq), seqDiff(dataEnd(t), seq)),
  );
  const fin = finSent(t) && seqAdd(seq, len) === t.finSeq;
  if (len === 0 && !fin) return 0;
  sendData(d, t, seq, len, fin, opts);
  // Karn: a retransmission makes the current measurement ambiguous.
  t.rttSeq = null;
  d.count(why);
  return len + (fin ? 1 : 0);
}

/** The peer-window and congestion limit: SND.UNA + min(SND.WND, cwnd [+ limited transmit]). */
function sendLimit(t: Tcb): Seq {
  const lt = t.recovery === null ? Math.min(t.dupAcks, 2) * t.mss : 0;
  return seqAdd(t.sndUna, Math.min(t.sndWnd, t.cc.cwnd + lt));
}

/** Sends new or rewound data and the FIN from SND.NXT (the normal path, and go-back-N after a timeout). */
function transmit(d: Draft, t: MutTcb): void {
  for (let n = 0; n < BURST_LIMIT; n++) {
    const end = dataEnd(t);
    if (seqLt(t.sndNxt, end)) {
      const isRetx = seqLt(t.sndNxt, t.sndMax);
      const opts = dataOptions(t, d.now);
      const maxPay = Math.max(1, t.mss - tcpOptionsLen(opts));
      const avail = seqDiff(end, t.sndNxt);
      // The segment at SND.UNA may always be retransmitted, whatever the window: against a closed
      // window it is the probe the peer must answer (MUST-35), and a stale zero window cannot stall us.
      const head = isRetx && t.sndNxt === t.sndUna;
      const windowed = seqDiff(sendLimit(t), t.sndNxt);
      const sentData = seqDiff(finSent(t) ? t.finSeq! : t.sndMax, t.sndNxt);
      const usable = head ? Math.max(windowed, Math.min(maxPay, sentData)) : windowed;
      let len = Math.min(avail, maxPay, usable);
      if (len <= 0) return;
      // Go-back-N after a timeout: a window that has room for only part of a segment waits for
      // the next ACK, as new data does (RFC 9293 §3.8.6.2.1), instead of sending the part: cwnd
      // counts Eff.snd.MSS, 12 bytes more than a timestamped segment carries, and that remainder
      // went out as a 12-byte segment after every timeout.
      if (isRetx && !head && len < maxPay && len < Math.min(avail, sentData)) return;
      if (!isRetx && len < maxPay) {
        const outstanding = t.sndMax !== t.sndUna;
        const nagleOk = len === avail && (t.noDelay || !outstanding || t.finSeq !== null);
        const swsOk = !outstanding && len >= t.maxSndWnd / 2;
        if (!nagleOk && !swsOk) return;
      }
      if (paceWait(d, t)) return;
      if (!isRetx && len === maxPay) len = tsoLen(t, maxPay, Math.min(avail, usable));
      const fin = t.finSeq !== null && seqAdd(t.sndNxt, len) === t.finSeq;
      sendData(d, t, t.sndNxt, len, fin, opts, maxPay);
      if (isRetx) d.count('retransmit-rto');
      t.sndNxt = seqAdd(t.sndNxt, len + (fin ? 1 : 0));
      t.sndMax = seqMax(t.sndMax, t.sndNxt);
      continue;
    }
    if (t.finSeq !== null && t.sndNxt === t.finSeq) {
      if (seqLt(t.sndNxt, t.sndMax)) d.count('retransmit-rto');
      sendData(d, t, t.sndNxt, 0, true, dataOptions(t, d.now));
      t.sndNxt = seqAdd(t.sndNxt, 1);
      t.sndMax = seqMax(t.sndMax, t.sndNxt);
      continue;
    }
    return;
  }
}

/**
 * TSO (`tsoMax`): the full segments of new data that `room` bytes hold, up to tsoMax, leave as one
 * output. They are exactly the segments sent one by one would be: same options and flags (a D-SACK
 * block goes on the first segment only, so such a segment leaves alone), and the part of a segment
 * that remains goes through Nagle's test on the next round as before.
 */
function tsoLen(t: Tcb, maxPay: number, room: number): number {
  if (t.tsoMax < 2 * maxPay || t.dsack !== null) return maxPay;
  const n = Math.floor(Math.min(room, t.tsoMax) / maxPay);
  return Math.max(1, n) * maxPay;
}

/**
 * Pacing (BBR, draft-cardwell-iccrg-bbr-congestion-control-00 §4.2.1-4.2.2): true when what was
 * sent is booked more than one send quantum (1 ms at the pacing rate, at most 64 KB, rate.ts) past
 * now; the connection then waits for its pace timer. Bursts of a quantum keep the stack's 64 KB
 * super-frames whole, where a timer per segment would not.
 */
function paceWait(d: Draft, t: MutTcb): boolean {
  const cc = t.cc;
  if (cc.algo !== 'bbr' || cc.pacingRate <= 0) return false;
  const horizon = sendQuantum(cc.pacingRate, t.mss) / cc.pacingRate;
  const at = t.rate.nextSendAt - horizon;
  if (at <= d.now) return false;
  if (t.rate.paceAt !== at) {
    t.rate = { ...t.rate, paceAt: at };
    d.count('pacing-wait');
  }
  return true;
}

/** RFC 6675 §4 SetPipe() with RACK's lost marks (rack.ts): sent, not SACKed, not lost. */
export function pipe(t: Tcb): number {
  return rackPipe(t.scoreboard, t.rack.lost, t.sndUna, t.sndMax);
}

/** The payload of a full-sized data segment (Eff.snd.MSS less the timestamp option). */
export function segmentRoom(t: Tcb): number {
  return t.mss - (t.tsOk ? 12 : 0);
}

/**
 * SACK recovery, RFC 6675 §5 step (C), paced by PRR (RFC 6937: input.ts sets cwnd = pipe + sndcnt on
 * each ACK): while cwnd - pipe covers a segment, NextSeg() rule 1 with RACK's marks (the lowest lost
 * range, RFC 8985 §6.2 "lost" replacing IsLost), then rule 2 (new data). Rule 3, resending what is not
 * known to be lost, is left to RACK's timer and the tail loss probe (RFC 8985 §2.2).
 */
function sackTransmit(d: Draft, t: MutTcb): void {
  for (let n = 0; n < BURST_LIMIT; n++) {
    const r = t.recovery;
    if (r === null || r.kind !== 'sack') return;
    const room = t.cc.cwnd - pipe(t);
    if (room < segmentRoom(t)) {
      if (hasUnsent(t) || t.rack.lost.length > 0) d.count('prr-limited');
      return;
    }
    if (paceWait(d, t)) return;
    const lost = firstLost(t.scoreboard, t.rack.lost, t.sndUna, segmentRoom(t));
    if (lost !== null) {
      const sent = retransmit(d, t, lost.start, seqDiff(lost.end, lost.start), 'retransmit-sack');
      if (sent === 0) return;
      continue;
    }
    // Rule 2: new data, if the peer's window allows.
    if (t.sndNxt === t.sndMax && hasUnsent(t)) {
      const before = t.sndMax;
      const saved = t.cc;
      // One segment of new data within the receive window (cwnd is governed by pipe here); with
      // TSO, the full segments this loop would send one by one while pipe stays under cwnd.
      t.cc = { ...saved, cwnd: Number.MAX_SAFE_INTEGER };
      const limit = seqAdd(t.sndUna, t.sndWnd);
      if (seqLt(t.sndNxt, limit) || (t.finSeq !== null && t.sndNxt === t.finSeq))
        transmitOne(d, t, room - segmentRoom(t));
      t.cc = saved;
      if (t.sndMax !== before) continue;
    }
    return;
  }
}

/**
 * Sends at most one new segment (or the FIN) from SND.NXT, no Nagle (RFC 6675 NextSeg rule 2). With
 * TSO and `more` bytes of congestion window left after one segment, the full segments that fit
 * leave as one output.
 */
function transmitOne(d: Draft, t: MutTcb, more = 0): void {
  const end = dataEnd(t);
  const opts = dataOptions(t, d.now);
  if (seqLt(t.sndNxt, end)) {
    const maxPay = Math.max(1, t.mss - tcpOptionsLen(opts));
    const room = Math.min(seqDiff(end, t.sndNxt), seqDiff(seqAdd(t.sndUna, t.sndWnd), t.sndNxt));
    let len = Math.min(room, maxPay);
    if (len <= 0) return;
    if (len === maxPay) len = tsoLen(t, maxPay, Math.min(room, more + maxPay));
    const fin = t.finSeq !== null && seqAdd(t.sndNxt, len) === t.finSeq;
    sendData(d, t, t.sndNxt, len, fin, opts, maxPay);
    t.sndNxt = seqAdd(t.sndNxt, len + (fin ? 1 : 0));
  } else if (t.finSeq !== null && t.sndNxt === t.finSeq) {
    sendData(d, t, t.sndNxt, 0, true, opts);
    t.sndNxt = seqAdd(t.sndNxt, 1);
  }
  t.sndMax = seqMax(t.sndMax, t.sndNxt);
}

/** Sends one segment of new data within the window, ignoring Nagle and SWS; false if none fits. */
export function sendOverride(d: Draft, t: MutTcb): boolean {
  const before = t.sndMax;
  transmitOne(d, t);
  return t.sndMax !== before;
}

/** Persist interval after `backoff` probes: RTO doubled each time, at most RTO max (RFC 9293 SHLD-29/30). */
export function persistInterval(t: Tcb, c: TcpConfig, backoff: number): number {
  return Math.min(c.rtoMax, t.rtt.rto * 2 ** backoff);
}

/** Arms or clears the retransmit/persist slot and keep-alive after sending (RFC 6298 §5.1-5.2). */
function armTimers(d: Draft, t: MutTcb): void {
  const now = d.now;
  if (t.sndMax !== t.sndUna) {
    if (t.rexmt === null || t.rexmt.mode !== 'data') {
      t.rexmt = { mode: 'data', at: now + t.rtt.rto, count: 0, backoff: 0 };
    }
  } else if (hasUnsent(t)) {
    // Nothing in flight yet data waits: the window is closed or too small (SWS).
    if (t.rexmt === null || t.rexmt.mode !== 'persist') {
      t.rexmt = { mode: 'persist', at: now + persistInterval(t, d.config, 0), count: 0, backoff: 0 };
    }
  } else {
    t.rexmt = null;
  }
  armProbe(t, now);
  const idle = t.sndMax === t.sndUna && !hasUnsent(t);
  if (t.keepalive && idle && (t.state === 'Established' || t.state === 'CloseWait')) {
    if (t.keepaliveAt === null)
      t.keepaliveAt = Math.max(now, t.lastRecvAt) + (t.keepaliveTimes ?? d.config.keepalive).idle;
  } else {
    t.keepaliveAt = null;
    t.keepaliveProbes = 0;
  }
}

/**
 * RFC 8985 §7.2: the probe timeout runs while SACK is on, data is in flight, no recovery or probe is
 * under way, the RTO has not fired and F-RTO is not judging a timeout (RFC 5682): PTO = 2·SRTT + 2 ms
 * (PTO_MIN), plus WCDelAckT when one segment is in flight, and never later than the RTO. It is (re)armed whenever it is off: sending new data and ACKs of new
 * data switch it off (output.ts noteSent, recovery.ts).
 */
function armProbe(t: MutTcb, now: number): void {
  const r = t.rack;
  const x = t.rexmt;
  const eligible =
    t.sackOk &&
    x !== null &&
    x.mode === 'data' &&
    x.count === 0 &&
    t.recovery === null &&
    r.tlpEnd === null &&
    r.lost.length === 0 &&
    t.frto === null;
  if (!eligible) {
    if (r.ptoAt !== null) t.rack = { ...r, ptoAt: null };
    return;
  }
  if (r.ptoAt !== null) return;
  const srtt = t.rtt.srtt;
  // RFC 8985 §7.2: PTO = 2·SRTT (+ WCDelAckT for a lone segment), plus Linux's 2 ms floor.
  let pto = srtt === null ? 1000 : 2 * srtt + PTO_MIN;
  if (seqDiff(t.sndMax, t.sndUna) <= t.mss) pto += WC_DELACK;
  t.rack = { ...r, ptoAt: Math.min(now + pto, x.at) };
}

/** Everything a connection owes after a step's rules ran. */
export function output(d: Draft, t: MutTcb): void {
  // The pace timer (paceWait) has done its job once due: the send loops below set it again.
  if (t.rate.paceAt !== null && t.rate.paceAt <= d.now) t.rate = { ...t.rate, paceAt: null };
  switch (t.state) {
    case 'SynSent':
      // Handshake segments are sent by the rules and the SYN timer.
      return;
    case 'SynReceived':
      // An unacceptable segment is still answered (§3.10.7.4 first check).
      if (t.ackNow) sendAck(d, t);
      return;
    case 'TimeWait':
    case 'FinWait2':
      if (t.ackNow) sendAck(d, t);
      if (t.state === 'FinWait2') armTimers(d, t);
      return;
    case 'Established':
    case 'CloseWait':
    case 'FinWait1':
    case 'Closing':
    case 'LastAck':
      break;
  }
  const c = d.config;
  // RFC 5681 §4.1: after an idle period longer than the RTO, restart from RW = min(IW, cwnd).
  if (t.sndMax === t.sndUna && hasUnsent(t) && d.now - t.lastSendAt > t.rtt.rto) {
    const iw = initialWindow(t.mss, c.initialCwndSegments);
    t.cc = ccOf(t.cc).afterIdle(t.cc, { mss: t.mss, flight: 0, now: d.now, srtt: t.rtt.srtt }, iw);
  }
  if (t.recovery?.kind === 'sack') sackTransmit(d, t);
  else transmit(d, t);
  // Delivery-rate estimation §3.3: out of data with room in cwnd, the samples to come are app-limited.
  if (t.cc.algo === 'bbr' && !hasUnsent(t) && t.rack.lost.length === 0) {
    const inflight = pipe(t);
    if (inflight < t.cc.cwnd) t.rate = rateAppLimited(t.rate, inflight);
  }
  if (t.ackNow) sendAck(d, t);
  armTimers(d, t);
}
