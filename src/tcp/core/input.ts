/**
 * SEGMENT ARRIVES (RFC 9293 §3.10.7), one function per state group, in the RFC's order of checks.
 *
 * Choices (all listed in src/tcp/README.md):
 * - RFC 5961 is implemented: RST must match RCV.NXT exactly (else a challenge ACK if in window), a SYN in
 *   a synchronized state gets a challenge ACK, and an ACK outside [SND.UNA - MAX.SND.WND, SND.MAX] gets
 *   a challenge ACK; challenge ACKs are throttled per connection (output.ts `challengeAck`).
 * - RFC 7323: PAWS (§5.3) before the sequence check; TS.Recent updated by §4.3's rule; once timestamps
 *   are negotiated a non-RST segment without them is dropped (§3.2 SHOULD).
 * - A bad ACK in SYN-RECEIVED and a bad SYN-ACK in SYN-SENT are answered with a RST, the connection
 *   stays (the RFC, unlike utcp); simultaneous open is supported (MUST-10).
 * - Data on a SYN is not accepted (not acknowledged, so the peer sends it again); data and FIN on the
 *   SYN-ACK and on the handshake-completing ACK are processed (utcp ignores the latter).
 * - A retransmitted SYN in SYN-RECEIVED is answered with the SYN-ACK again (as Linux), a retransmitted
 *   FIN in TIME-WAIT is acknowledged and restarts the 2·MSL timer (§3.10.7.4 "TIME-WAIT STATE").
 * - TIME-WAIT accepts a new SYN (MAY-2) when its timestamp (RFC 6191) or, without timestamps, its
 *   sequence number is above the old connection's, and a listener exists; the new ISS is above
 *   anything the old incarnation used.
 * - The URG bit and urgent pointer are ignored: urgent data is delivered in line (SHLD-13).
 */
import { type Seq, seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from '../seq.js';
import type { SackBlock, TcpRepr } from '../wire.js';
import { ccInit, ccOf } from './congestion/index.js';
import { cookieCheck, cookieIss, cookieTsOptions, cookieTsVal } from './cookies.js';
import type { Draft } from './draft.js';
import { ecnArrived, ecnOnSyn, ecnOnSynAck } from './ecn.js';
import {
  challengeAck,
  DUP_THRESH,
  finAcked,
  retransmit,
  sendReset,
  sendResetFor,
  sendSynAck,
  sndqSeq,
  synWindow,
  tsNow,
  windowShiftFor,
} from './output.js';
import {
  EMPTY_OOO,
  oooInsert,
  type OooQueue,
  oooTake,
  rangeLen,
  type Scoreboard,
  sackBlockValid,
  scoreboardAdd,
  scoreboardTrim,
} from './ranges.js';
import { ropeAppend, ropeDrop } from './rope.js';
import { dsackBlock } from './rack.js';
import { rateAck, rateCcAck } from './rate.js';
import { bump, ccAck, eifelCheck, frtoAck, rackOnAck, recoveryEnded, undoBegin } from './recovery.js';
import { rttAfterSynTimeout, rttSample } from './rtt.js';
import { addrEqual, flowKey, initialSeq, isV6, tsOffset } from './secrets.js';
import { newTcb } from './tcb.js';
import { type IpAddr, type Listener, type MutTcb, SEGMENT_COUNTERS, type TcpConfig } from './types.js';

/**
 * In-order segments taken in before an ACK goes out even within one batch (see processText): 44
 * full-sized segments are 64 KiB, the most one GRO super-packet of Linux's holds (and so the most one
 * of its ACKs covers). Measured against 16: +3 % kernel -> Oasis, fewer ACK writes.
 */
const ACK_BURST_SEGMENTS = 44;

/** RFC 7323 §5.5: TS.Recent is invalid after 24 days of idleness. */
const PAWS_IDLE = 24 * 24 * 3600_000;

export interface Arrival {
  readonly local: IpAddr;
  readonly remote: IpAddr;
  readonly repr: TcpRepr;
  readonly payload: Uint8Array;
  /** The IP ECN field (RFC 3168 §5), when the driver passed it. */
  readonly ecn?: number | undefined;
}

/** SEG.LEN: data plus SYN and FIN. */
function segLen(a: Arrival): number {
  return a.payload.length + (a.repr.flags.syn ? 1 : 0) + (a.repr.flags.fin ? 1 : 0);
}

export function segmentArrives(d: Draft, a: Arrival): void {
  d.countAt(SEGMENT_COUNTERS.segmentsIn);
  if (a.payload.length > 0) d.countAt(SEGMENT_COUNTERS.bytesIn, a.payload.length);
  const { repr } = a;
  if (repr.srcPort === 0 || repr.dstPort === 0) {
    d.count('bad-port');
    return;
  }
  const t = d.get(flowKey(a.local, repr.dstPort, a.remote, repr.srcPort));
  if (t !== undefined) {
    if (t.state === 'SynSent') synSent(d, t, a);
    else otherStates(d, t, a);
    return;
  }
  const l = findListener(d, a.local, repr.dstPort);
  if (l !== undefined) listenState(d, l, a, null);
  else closedState(d, a);
}

export function findListener(d: Draft, local: IpAddr, port: number): Listener | undefined {
  const l = d.listeners.get(port);
  if (l === undefined || (l.addr !== null && !addrEqual(l.addr, local))) return undefined;
  return l;
}

/** §3.10.7.1 CLOSED: RST for anything but a RST. */
function closedState(d: Draft, a: Arrival): void {
  d.count('no-connection');
  sendResetFor(d, a.local, a.remote, a.repr, a.payload.length);
}

/** Options of the peer's SYN, applied to a new TCB (RFC 9293 §3.7.1, RFC 7323 §2-3, RFC 2018 §2). */
function negotiate(d: Draft, t: MutTcb, repr: TcpRepr): void {
  const c = d.config;
  const o = repr.options;
  // MUST-15: 536 (IPv4) or 1220 (IPv6) without the option; MUST-16: never above what we can send.
  const peerMss = o.mss ?? (isV6(t.local) ? 1220 : 536);
  // A tiny MSS makes segments mostly header (CVE-2019-11479) and 0 would stall: floored like Linux's
  // tcp_min_snd_mss (48 by default).
  t.mss = Math.max(c.minSndMss, Math.min(peerMss, t.rmss));
  t.wsOk = c.windowScaling && o.windowScale !== undefined;
  if (t.wsOk) {
    const shift = o.windowScale!;
    if (shift > 14) d.count('window-scale-clamped');
    t.sndScale = Math.min(14, shift);
    t.rcvScale = windowShiftFor(c.rcvBuf);
  } else {
    t.sndScale = 0;
    t.rcvScale = 0;
  }
  t.sackOk = c.sack && o.sackPermitted === true;
  t.tsOk = c.timestamps && o.timestamps !== undefined;
  if (t.tsOk) {
    t.tsRecent = o.timestamps!.tsVal;
    t.tsRecentAt = d.now;
  }
}

/** §3.10.7.2 LISTEN. `iss` is forced when reopening from TIME-WAIT. */
export function listenState(d: Draft, l: Listener, a: Arrival, iss: Seq | null): void {
  const { repr } = a;
  const c = d.config;
  if (repr.flags.rst) {
    d.count('listen-rst-ignored');
    return;
  }
  if (repr.flags.ack) {
    if (!repr.flags.syn && cookiesRecent(d, l)) {
      // While cookies are out, a segment that is not the first one after the handshake (reordered,
      // or forged) is dropped without a RST, as Linux does: the peer retransmits, in order.
      if (!cookieAccept(d, a)) d.count('syn-cookie-rejected');
      return;
    }
    d.count('listen-bad-ack');
    sendResetFor(d, a.local, a.remote, repr, a.payload.length);
    return;
  }
  if (!repr.flags.syn) {
    d.count('listen-no-syn');
    return;
  }
  if (d.size >= c.maxConnections) {
    d.count('too-many-connections');
    return;
  }
  if (l.pending >= l.backlog) {
    if (c.synCookies) sendCookie(d, l, a);
    else d.count('backlog-full');
    return;
  }
  const now = d.now;
  const t = newTcb(d.config, {
    local: a.local,
    localPort: repr.dstPort,
    remote: a.remote,
    remotePort: repr.srcPort,
    iss: iss ?? initialSeq(d.key, now, a.local, repr.dstPort, a.remote, repr.srcPort),
    tsOffset: tsOffset(d.key, a.local, repr.dstPort, a.remote, repr.srcPort),
    passive: true,
    now,
  });
  negotiate(d, t, repr);
  ecnOnSyn(d, t, repr);
  t.state = 'SynReceived';
  t.irs = repr.seq;
  t.rcvNxt = seqAdd(repr.seq, 1);
  t.rcvAdv = t.rcvNxt;
  t.lastAckSent = t.rcvNxt;
  // A SYN's window is never scaled (RFC 7323 §2.2).
  t.sndWnd = repr.window;
  t.maxSndWnd = repr.window;
  t.sndWl1 = repr.seq;
  t.sndWl2 = t.iss;
  t.rexmt = { mode: 'syn', at: now + t.rtt.rto, count: 0, backoff: 0 };
  t.rttSeq = t.iss;
  t.rttAt = now;
  t.lastRecvAt = now;
  sendSynAck(d, t);
  d.create(t);
}

/** RFC 4987 §3.6: a stateless SYN-ACK whose ISS is a cookie (cookies.ts). */
function sendCookie(d: Draft, l: Listener, a: Arrival): void {
  const { repr } = a;
  const now = d.now;
  const t = newTcb(d.config, {
    local: a.local,
    localPort: repr.dstPort,
    remote: a.remote,
    remotePort: repr.srcPort,
    iss: 0 as Seq,
    tsOffset: tsOffset(d.key, a.local, repr.dstPort, a.remote, repr.srcPort),
    passive: true,
    now,
  });
  negotiate(d, t, repr);
  if (!t.tsOk) {
    // Nothing can carry window scaling and SACK back to us: do not offer them (as Linux).
    t.wsOk = false;
    t.sackOk = false;
    t.rcvScale = 0;
    t.sndScale = 0;
  }
  t.iss = cookieIss(d.key, now, t, repr.seq, repr.options.mss ?? (isV6(t.local) ? 1220 : 536));
  t.irs = repr.seq;
  t.rcvNxt = seqAdd(repr.seq, 1);
  t.rcvAdv = t.rcvNxt;
  const tsVal = t.tsOk ? cookieTsVal(tsNow(t, now), t.wsOk ? t.sndScale : null, t.sackOk) : undefined;
  sendSynAck(d, t, tsVal);
  d.setListener(l.port, { ...l, cookieAt: now });
  d.count('syn-cookie-sent');
}

/** Cookies are checked only while the listener has been sending them (two slots). */
function cookiesRecent(d: Draft, l: Listener): boolean {
  return d.config.synCookies && l.cookieAt !== null && d.now - l.cookieAt < 2 * 64_000;
}

/** The ACK of a cookie SYN-ACK: rebuild the connection, ESTABLISHED at once; false if not a cookie. */
function cookieAccept(d: Draft, a: Arrival): boolean {
  const { repr } = a;
  const c = d.config;
  const now = d.now;
  const tuple = { local: a.local, localPort: repr.dstPort, remote: a.remote, remotePort: repr.srcPort };
  const mss = cookieCheck(d.key, now, tuple, repr.ack, repr.seq);
  if (mss === null) return false;
  if (d.size >= c.maxConnections) {
    d.count('too-many-connections');
    return true;
  }
  const t = newTcb(c, {
    ...tuple,
    iss: seqAdd(repr.ack, -1),
    tsOffset: tsOffset(d.key, a.local, repr.dstPort, a.remote, repr.srcPort),
    passive: true,
    now,
  });
  t.mss = Math.max(c.minSndMss, Math.min(mss, t.rmss));
  const ts = repr.options.timestamps;
  t.rcvScale = 0;
  if (c.timestamps && ts !== undefined) {
    t.tsOk = true;
    t.tsRecent = ts.tsVal;
    t.tsRecentAt = now;
    const o = cookieTsOptions(ts.tsEcr);
    if (o.wscale !== null && c.windowScaling) {
      t.wsOk = true;
      t.sndScale = Math.min(14, o.wscale);
      t.rcvScale = windowShiftFor(c.rcvBuf);
    }
    t.sackOk = c.sack && o.sack;
  }
  t.state = 'Established';
  t.irs = seqAdd(repr.seq, -1);
  t.rcvNxt = repr.seq;
  t.rcvAdv = seqAdd(t.rcvNxt, synWindow(d, t));
  t.lastAckSent = t.rcvNxt;
  t.sndUna = repr.ack;
  t.sndNxt = repr.ack;
  t.sndMax = repr.ack;
  t.sndWnd = repr.window * (1 << t.sndScale);
  t.maxSndWnd = t.sndWnd;
  t.sndWl1 = repr.seq;
  t.sndWl2 = repr.ack;
  t.cc = ccInit(c.congestion, t.mss, c.initialCwndSegments);
  t.lastRecvAt = now;
  d.create(t);
  d.count('syn-cookie-accepted');
  processText(d, t, repr.seq, a.payload, repr.flags.fin);
  return true;
}

/** §3.10.7.3 SYN-SENT. */
function synSent(d: Draft, t: MutTcb, a: Arrival): void {
  const { repr } = a;
  const f = repr.flags;
  let ackOk = false;
  if (f.ack) {
    if (seqLe(repr.ack, t.iss) || seqGt(repr.ack, t.sndMax)) {
      d.count('syn-sent-bad-ack');
      sendResetFor(d, a.local, a.remote, repr, a.payload.length);
      return;
    }
    ackOk = true;
  }
  if (f.rst) {
    if (ackOk) {
      d.count('rst-received');
      d.remove(t.key, 'refused');
    } else {
      d.count('syn-sent-dropped');
    }
    return;
  }
  if (!f.syn) {
    d.count('syn-sent-dropped');
    return;
  }
  negotiate(d, t, repr);
  t.irs = repr.seq;
  t.rcvNxt = seqAdd(repr.seq, 1);
  t.lastRecvAt = d.now;
  t.sndWnd = repr.window;
  t.maxSndWnd = Math.max(t.maxSndWnd, repr.window);
  t.sndWl1 = repr.seq;
  t.sndWl2 = repr.ack;
  if (ackOk) {
    // Our SYN is acknowledged: ESTABLISHED (or FIN-WAIT-1 if the user already shut the sending side).
    ecnOnSynAck(d, t, repr);
    establish(d, t, a);
    t.rcvAdv = seqAdd(t.rcvNxt, synWindow(d, t));
    t.ackNow = true;
    if (a.payload.length > 0 || f.fin) processText(d, t, seqAdd(repr.seq, 1), a.payload, f.fin);
    return;
  }
  // Simultaneous open (Figure 7): SYN-RECEIVED, SYN-ACK with our ISS. Text waits for ESTABLISHED.
  t.state = 'SynReceived';
  t.rcvAdv = t.rcvNxt;
  t.lastAckSent = t.rcvNxt;
  sendSynAck(d, t);
}

/** Our SYN was acknowledged (from SYN-SENT or SYN-RECEIVED). */
function establish(d: Draft, t: MutTcb, a: Arrival): void {
  const c = d.config;
  const ts = a.repr.options.timestamps;
  let sample: number | null = null;
  // After a retransmitted SYN (SYN-ACK), an echo of an earlier one times the peer's retransmission
  // timer as much as the path (Karn, RFC 6298 §3): only an echo of the latest one is a sample.
  const stale = ts !== undefined && t.synRetransmitted && seqLt(ts.tsEcr as Seq, tsNow(t, t.rttAt) as Seq);
  if (t.tsOk && ts !== undefined && ts.tsEcr !== 0) sample = stale ? null : tsSample(t, d.now, ts.tsEcr);
  else if (t.rttSeq !== null) sample = d.now - t.rttAt;
  if (sample !== null) t.rtt = rttSample(t.rtt, sample, c);
  if (t.synRetransmitted) t.rtt = rttAfterSynTimeout(t.rtt, c);
  t.rttSeq = null;
  t.sndUna = seqAdd(t.iss, 1);
  if (seqLt(t.sndNxt, t.sndUna)) t.sndNxt = t.sndUna;
  t.state = t.finSeq !== null ? 'FinWait1' : 'Established';
  t.rexmt = null;
  // RFC 5681 §3.1: a lost SYN or SYN-ACK leaves an initial window of one segment.
  t.cc = ccInit(c.congestion, t.mss, t.synRetransmitted ? 1 : c.initialCwndSegments);
  t.lastSendAt = d.now;
}

/** RTT from an echoed timestamp (RFC 7323 §4.1), or null if it is not plausible. */
function tsSample(t: MutTcb, now: number, tsEcr: number): number | null {
  const r = (tsNow(t, now) - tsEcr) | 0;
  return r >= 0 ? r : null;
}

/** §3.4 Table 5: the four cases of segment acceptability. */
export function acceptable(seq: Seq, len: number, rcvNxt: Seq, rcvWnd: number): boolean {
  if (len === 0)
    return rcvWnd === 0 ? seq === rcvNxt : seqGe(seq, rcvNxt) && seqLt(seq, seqAdd(rcvNxt, rcvWnd));
  if (rcvWnd === 0) return false;
  const inWnd = (x: Seq): boolean => seqGe(x, rcvNxt) && seqLt(x, seqAdd(rcvNxt, rcvWnd));
  return inWnd(seq) || inWnd(seqAdd(seq, len - 1));
}

/** §3.10.7.4: SYN-RECEIVED and the synchronized states. */
function otherStates(d: Draft, t: MutTcb, a: Arrival): void {
  const { repr, payload } = a;
  const f = repr.flags;
  const now = d.now;
  const len = segLen(a);

  if (t.state === 'TimeWait' && f.syn && !f.ack && !f.rst && timeWaitReopen(d, t, a)) return;
  if (t.state === 'SynReceived' && f.syn && !f.ack && !f.rst && repr.seq === t.irs) {
    // Our SYN-ACK was lost: answer the retransmitted SYN at once, echoing its TSval (RFC 7323 §4.3:
    // it starts at or below Last.ACK.sent), so the peer measures this exchange, not our timer.
    const sts = repr.options.timestamps;
    if (t.tsOk && sts !== undefined && seqGe(sts.tsVal as Seq, t.tsRecent as Seq)) {
      t.tsRecent = sts.tsVal;
      t.tsRecentAt = d.now;
    }
    d.count('retransmit-synack');
    sendSynAck(d, t);
    return;
  }

  // RFC 7323 §5.3 R1 (PAWS), before the sequence number check.
  const ts = repr.options.timestamps;
  if (t.tsOk && !f.rst) {
    if (ts === undefined) {
      d.count('timestamp-missing');
      return;
    }
    if (
      seqLt(ts.tsVal as Seq, t.tsRecent as Seq) &&
      now - t.tsRecentAt <= PAWS_IDLE &&
      !disorderedAck(t, repr, len, ts.tsVal)
    ) {
      // §5.3 R1 wants an ACK; for a segment without data it is throttled (as below).
      if (len > 0 && !f.syn) {
        d.count('paws-rejected');
        t.ackNow = true;
      } else challengeAck(d, t, 'paws-rejected');
      return;
    }
  }

  if (
    t.state === 'SynReceived' &&
    !t.passive &&
    f.syn &&
    f.ack &&
    !f.rst &&
    payload.length === 0 &&
    repr.seq === t.irs &&
    seqLt(t.sndUna, repr.ack) &&
    seqLe(repr.ack, t.sndMax)
  ) {
    // Figure 7 line 6: in a simultaneous open the peer's SYN-ACK acknowledges our SYN (it fails the
    // sequence check only because it repeats the SYN we already have; Linux accepts it too).
    establish(d, t, a);
    t.sndWnd = repr.window;
    t.maxSndWnd = Math.max(t.maxSndWnd, repr.window);
    t.sndWl1 = repr.seq;
    t.sndWl2 = repr.ack;
    return;
  }

  if (t.state === 'TimeWait' && f.fin && !f.rst && seqAdd(repr.seq, len) === t.rcvNxt) {
    // A retransmission of the peer's FIN: acknowledge it and restart the 2·MSL timeout.
    t.timeWaitAt = now + 2 * d.config.msl;
    t.ackNow = true;
    return;
  }

  // First: sequence number (Table 6).
  const rcvWnd = Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt));
  if (!acceptable(repr.seq, len, t.rcvNxt, rcvWnd)) {
    // An ACK for an unacceptable segment with neither data nor FIN (or with a SYN) is throttled as
    // challenge ACKs are (RFC 5961 §7): two ends that disagree (after a forgery) would otherwise
    // answer each other's ACKs forever. Linux does the same (tcp_oow_rate_limited).
    if (f.rst) d.count('rst-out-of-window');
    else if (len > 0 && !f.syn) {
      d.count('out-of-window');
      t.ackNow = true;
    } else challengeAck(d, t, 'out-of-window');
    // RFC 2883 §4 (1): data we already have is reported in a D-SACK block.
    if (!f.rst && payload.length > 0 && seqLe(seqAdd(repr.seq, payload.length), t.rcvNxt)) {
      noteDuplicate(t, repr.seq, payload.length);
    }
    return;
  }
  t.lastRecvAt = now;
  t.keepaliveProbes = 0;
  t.keepaliveAt = null;
  if (t.rexmt?.mode === 'persist') t.rexmt = { ...t.rexmt, count: 0 };
  // RFC 7323 §4.3: TS.Recent from a segment that starts at or before what we last acknowledged.
  if (
    t.tsOk &&
    ts !== undefined &&
    !f.rst &&
    seqGe(ts.tsVal as Seq, t.tsRecent as Seq) &&
    seqLe(repr.seq, t.lastAckSent)
  ) {
    t.tsRecent = ts.tsVal;
    t.tsRecentAt = now;
  }

  // Second: RST (RFC 5961 §3.2).
  if (f.rst) {
    if (t.state === 'TimeWait') {
      // RFC 1337 ("TIME-WAIT assassination"): a RST must not cut TIME-WAIT short.
      d.count('time-wait-rst-ignored');
      return;
    }
    if (repr.seq !== t.rcvNxt && d.config.rfc5961) {
      challengeAck(d, t, 'rst-challenged');
      return;
    }
    // Counted apart: a half-open connection reset is no established connection lost.
    d.count(t.state === 'SynReceived' ? 'rst-in-syn-received' : 'rst-received');
    d.remove(t.key, t.state === 'SynReceived' ? 'refused' : 'reset');
    return;
  }

  // Fourth: SYN (RFC 5961 §4).
  if (f.syn) {
    if (t.state === 'SynReceived' && t.passive) {
      // "return this connection to the LISTEN state": the listener is still there.
      d.count('syn-received-reset');
      d.remove(t.key, 'refused');
      return;
    }
    if (!d.config.rfc5961) {
      // RFC 793 §3.9 "check the SYN bit": a SYN in the window is an error; reset, enter CLOSED.
      d.count('syn-in-window-reset');
      sendReset(d, t, t.sndMax, false);
      d.remove(t.key, 'reset');
      return;
    }
    challengeAck(d, t, 'syn-challenged');
    return;
  }

  // Fifth: ACK.
  if (!f.ack) {
    d.count('no-ack-flag');
    return;
  }
  if (t.state === 'SynReceived') {
    if (!(seqLt(t.sndUna, repr.ack) && seqLe(repr.ack, t.sndMax))) {
      d.count('syn-received-bad-ack');
      sendResetFor(d, t.local, t.remote, repr, payload.length);
      return;
    }
    establish(d, t, a);
    t.sndWnd = repr.window * (1 << t.sndScale);
    t.maxSndWnd = Math.max(t.maxSndWnd, t.sndWnd);
    t.sndWl1 = repr.seq;
    t.sndWl2 = repr.ack;
  } else if (!(seqLe(seqAdd(t.sndUna, -t.maxSndWnd), repr.ack) && seqLe(repr.ack, t.sndMax))) {
    // RFC 5961 §5.2: outside [SND.UNA - MAX.SND.WND, SND.MAX].
    d.count(seqGt(repr.ack, t.sndMax) ? 'ack-unsent' : 'ack-old');
    challengeAck(d, t, 'ack-challenged');
    return;
  }
  processAck(d, t, a);
  if (t.ecnOk) ecnArrived(d, t, repr, a.ecn);
  switch (t.state) {
    case 'FinWait1':
      if (finAcked(t)) {
        t.state = 'FinWait2';
        if (t.userClosed) t.finWait2At = now + d.config.finWait2Timeout;
      }
      break;
    case 'Closing':
      if (finAcked(t)) enterTimeWait(d, t);
      break;
    case 'LastAck':
      if (finAcked(t)) {
        d.remove(t.key, 'normal');
        return;
      }
      break;
    default:
      break;
  }

  // Sixth (URG) is ignored. Seventh: segment text; eighth: FIN.
  processText(d, t, repr.seq, payload, f.fin);
}

/**
 * An exception to PAWS (RFC 7323 §5.3 R1) after Linux's tcp_disordered_ack: a pure ACK that reordering
 * delivered after a newer segment is no old duplicate, and its SACK / D-SACK blocks are what loss
 * recovery needs (RFC 8985, RFC 3708). Accepted when it carries no data, SYN or FIN, sits at RCV.NXT,
 * acknowledges nothing new (its window is then ignored, §3.10.7.4) and is at most an RTO older than
 * TS.Recent (TSval in ms). Linux also requires ACK = SND.UNA, and so loses the D-SACK of an ACK that
 * a newer one overtook.
 */
function disorderedAck(t: MutTcb, repr: TcpRepr, len: number, tsVal: number): boolean {
  const f = repr.flags;
  return (
    len === 0 &&
    f.ack &&
    !f.syn &&
    !f.fin &&
    repr.seq === t.rcvNxt &&
    seqLe(repr.ack, t.sndUna) &&
    seqDiff(t.tsRecent as Seq, tsVal as Seq) <= t.rtt.rto
  );
}

/** Seventh and eighth steps: queue the text (in order or held), then the FIN if it is in order. */
function processText(d: Draft, t: MutTcb, seq: Seq, payload: Uint8Array, fin: boolean): void {
  if (payload.length === 0 && !fin) return;
  const receiving = t.state === 'Established' || t.state === 'FinWait1' || t.state === 'FinWait2';
  if (!receiving) {
    // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer's FIN came already; text is ignored, a FIN
    // is acknowledged again (eighth step: "send an acknowledgment for the FIN").
    if (payload.length > 0) d.count('data-ignored');
    if (fin) t.ackNow = true;
    return;
  }
  if (payload.length > 0 && t.userClosed) {
    // SHLD-3: the user cannot read any more; tell the peer the data was lost.
    d.count('data-after-close');
    sendReset(d, t, t.sndNxt, true);
    d.remove(t.key, 'aborted');
    return;
  }
  const c = d.config;
  if (seqGt(seq, t.rcvNxt)) {
    // Above a hole: hold it (inside the window only) and send a duplicate ACK (RFC 5681 §4.2).
    const r = oooInsert(t.ooo, t.rcvNxt, t.rcvAdv, seq, payload, fin, c.maxOooRanges);
    // RFC 2883 §4 (2): a segment we held already is reported as a duplicate.
    if (r.stored === 0 && r.dropped === 0 && isHeld(t.ooo, seq, payload.length)) {
      noteDuplicate(t, seq, payload.length);
    }
    t.ooo = r.queue;
    if (r.stored > 0) d.count('ooo-queued');
    if (r.dropped > 0) d.count('ooo-dropped');
    // Without SACK the sender counts duplicate ACKs: one per segment, at once. With SACK the ACK is
    // due now but goes out once the segments that arrived together are all taken in (as a burst's
    // below): one ACK carries the SACK blocks of all of them, as a Linux receiver behind GRO sends,
    // and the sender's RACK needs the blocks, not a count. Under loss every segment of the round
    // after a hole is out of order; an ACK each cost the receiver a write per segment.
    t.ackPending++;
    if (!t.sackOk || t.ackPending >= ACK_BURST_SEGMENTS) t.ackNow = true;
    else t.delackAt = d.now;
    return;
  }
  // In order, possibly starting before RCV.NXT: keep only the new part, inside the window.
  const skip = Math.min(payload.length, seqDiff(t.rcvNxt, seq));
  if (skip > 0) noteDuplicate(t, seq, skip);
  let data = payload.subarray(skip);
  let finInOrder = fin;
  const room = Math.max(0, seqDiff(t.rcvAdv, t.rcvNxt));
  if (data.length > room) {
    d.count('data-trimmed');
    data = data.subarray(0, room);
    finInOrder = false;
  }
  if (data.length > 0) {
    t.rcvq = ropeAppend(t.rcvq, data, true);
    t.rcvNxt = seqAdd(t.rcvNxt, data.length);
  }
  if (finInOrder && seqAdd(seq, payload.length) === t.rcvNxt) {
    processFin(d, t);
    return;
  }
  let filled = false;
  if (t.ooo.ranges.length > 0 || t.ooo.fin !== null) {
    const tk = oooTake(t.ooo, t.rcvNxt);
    for (const v of tk.data) t.rcvq = ropeAppend(t.rcvq, v, true);
    filled = tk.rcvNxt !== t.rcvNxt || tk.fin;
    t.rcvNxt = tk.rcvNxt;
    t.ooo = tk.queue;
    if (tk.fin) {
      processFin(d, t);
      return;
    }
  }
  if (filled) {
    // RFC 5681 §4.2: an ACK at once when a gap is (partly) filled.
    t.ackNow = true;
  } else if (data.length > 0) {
    // Delayed ACK: at least every second segment, and within `delayedAckTimeout` (RFC 9293 §3.8.6.3).
    // From the second segment on the ACK is due now, but as a timer: it goes out once the segments
    // that arrived together have all been taken in (one driver batch, like Linux's GRO), so a burst
    // is acknowledged by one ACK rather than one per two segments; a long burst still gets one per
    // ACK_BURST_SEGMENTS.
    t.ackPending++;
    if (t.ackPending === 1) {
      if (t.delackAt === null) t.delackAt = d.now + c.delayedAckTimeout;
    } else if (t.ackPending >= ACK_BURST_SEGMENTS || c.rcvBuf - t.rcvq.length < t.rmss) {
      // A long burst, or a full buffer (the sender must stop, and probe, now).
      t.ackNow = true;
    } else {
      t.delackAt = d.now;
    }
  } else if (payload.length > 0) {
    // Nothing new (all before RCV.NXT or beyond the window): say where we are.
    t.ackNow = true;
  }
}

/** RFC 2883: remember a received duplicate for the first SACK block of the next ACK. */
function noteDuplicate(t: MutTcb, seq: Seq, len: number): void {
  if (!t.sackOk || len <= 0) return;
  t.dsack = { start: seq, end: seqAdd(seq, len) };
}

/** [seq, seq + len) lies inside one held out-of-order range. */
function isHeld(q: OooQueue, seq: Seq, len: number): boolean {
  const end = seqAdd(seq, len);
  for (const r of q.ranges) if (seqLe(r.start, seq) && seqLe(end, r.end)) return true;
  return false;
}

/** Eighth step: the FIN is in order. */
function processFin(d: Draft, t: MutTcb): void {
  t.rcvNxt = seqAdd(t.rcvNxt, 1);
  t.rcvFin = true;
  t.ackNow = true;
  t.ooo = EMPTY_OOO;
  d.count('fin-received');
  switch (t.state) {
    case 'SynReceived':
    case 'Established':
      t.state = 'CloseWait';
      break;
    case 'FinWait1':
      if (finAcked(t)) enterTimeWait(d, t);
      else t.state = 'Closing';
      break;
    case 'FinWait2':
      enterTimeWait(d, t);
      break;
    case 'TimeWait':
      t.timeWaitAt = d.now + 2 * d.config.msl;
      break;
    default:
      break;
  }
}

/** TIME-WAIT: only the 2·MSL timer runs (docs/TCP-NOTES.md §6 timer invariants). */
export function enterTimeWait(d: Draft, t: MutTcb): void {
  t.state = 'TimeWait';
  t.timeWaitAt = d.now + 2 * d.config.msl;
  t.rexmt = null;
  t.delackAt = null;
  t.finWait2At = null;
  t.keepaliveAt = null;
  t.recovery = null;
  t.rack = { ...t.rack, reoAt: null, ptoAt: null };
}

/** RFC 9293 §3.6.1 MAY-2 with RFC 6191: a new SYN may reopen a TIME-WAIT connection. */
function timeWaitReopen(d: Draft, t: MutTcb, a: Arrival): boolean {
  const l = findListener(d, t.local, t.localPort);
  if (l === undefined) return false;
  const ts = a.repr.options.timestamps;
  const newer =
    t.tsOk && ts !== undefined ? seqGt(ts.tsVal as Seq, t.tsRecent as Seq) : seqGt(a.repr.seq, t.rcvNxt);
  if (!newer) return false;
  d.count('time-wait-reused');
  // (1) "assigns its initial sequence number for the new connection to be larger than the largest
  // sequence number it used on the previous connection incarnation".
  const iss = seqAdd(t.sndMax, 65_535 + 2);
  d.remove(t.key, 'normal');
  listenState(d, l, a, iss);
  return true;
}

/** ACK processing for SYN-RECEIVED (after `establish`) and the synchronized states. */
function processAck(d: Draft, t: MutTcb, a: Arrival): void {
  const { repr, payload } = a;
  const c = d.config;
  const now = d.now;
  const ack = repr.ack;
  const opts = repr.options;
  const segWnd = repr.window * (1 << t.sndScale);
  const oldUna = t.sndUna;
  const oldSb = t.scoreboard;
  let newlySacked = false;
  let dsack: SackBlock | null = null;
  let blocks: readonly SackBlock[] = [];
  if (t.sackOk && opts.sack !== undefined) {
    d.count('sack-blocks-in', opts.sack.length);
    bump(t, 'sackBlocks', opts.sack.length);
    // RFC 2883 §4: a first block below the ACK or inside the second reports a duplicate.
    dsack = dsackBlock(opts.sack, ack);
    // Blocks outside [SND.UNA, SND.MAX) carry nothing for us (RFC 2018 §5): not for the
    // scoreboard, and not for RACK either, which once took data beyond SND.MAX (from a peer that
    // accepted forged data) for our retransmission delivered, and then lost, on every ACK. The
    // D-SACK block is left out where the block holding it counts; where that one does not (it
    // straddles SND.UNA after a forged ACK), the D-SACK block still reports data the peer holds
    // (Linux tcp_sacktag_one), else every probe of it drew the same D-SACK and the next probe.
    // Both loops were found by test/fuzz/live.test.ts.
    const valid = (b: SackBlock) => sackBlockValid(b, t.sndUna, t.sndMax);
    const covered = dsack !== null && opts.sack[1] !== undefined && valid(opts.sack[1]);
    blocks = opts.sack.filter((b, i) => valid(b) && !(i === 0 && covered));
    const before = sackedBytes(t.scoreboard);
    t.scoreboard = scoreboardAdd(t.scoreboard, blocks, t.sndUna, t.sndMax, c.maxSackRanges);
    newlySacked = sackedBytes(t.scoreboard) > before;
  }
  let exited = false;
  let dupAck = false;
  const wndUnchanged = segWnd === t.sndWnd;
  if (seqGt(ack, t.sndUna)) {
    const acked = seqDiff(ack, t.sndUna);
    const dataAcked = Math.max(0, Math.min(t.sndq.length, seqDiff(ack, sndqSeq(t))));
    t.sndq = ropeDrop(t.sndq, dataAcked);
    let sample: number | null = null;
    const ts = opts.timestamps;
    if (t.tsOk && ts !== undefined && ts.tsEcr !== 0) sample = tsSample(t, now, ts.tsEcr);
    else if (t.rttSeq !== null && seqGt(ack, t.rttSeq)) sample = now - t.rttAt;
    if (t.rttSeq !== null && seqGt(ack, t.rttSeq)) t.rttSeq = null;
    if (sample !== null) t.rtt = rttSample(t.rtt, sample, c);
    const flight = seqDiff(t.sndMax, t.sndUna);
    t.sndUna = ack;
    // New data acknowledged: the path works, an earlier ICMP soft error is stale (as Linux).
    t.softError = null;
    if (seqLt(t.sndNxt, ack)) t.sndNxt = ack;
    t.scoreboard = scoreboardTrim(t.scoreboard, ack);
    // RFC 3522: was the last reduction spurious? (recovery.ts; needs timestamps)
    eifelCheck(d, t, t.tsOk && ts !== undefined ? ts.tsEcr : null);
    const ctx = { mss: t.mss, flight, now, srtt: t.rtt.srtt };
    let restart = true;
    const r = t.recovery;
    if (r !== null) {
      if (seqGe(ack, r.recover)) {
        // Full ACK: recovery is over (RFC 6582 §3.2 step 3, RFC 6675 §5).
        if (r.reduced) t.cc = ccOf(t.cc).postRecovery(t.cc, { ...ctx, flight: seqDiff(t.sndMax, t.sndUna) });
        t.lastRecover = r.recover;
        t.recovery = null;
        t.dupAcks = 0;
        exited = true;
        recoveryEnded(t);
      } else if (r.kind === 'newreno') {
        // Partial ACK (RFC 6582 §3.2 step 5): retransmit the next hole, deflate by what was acked.
        retransmit(d, t, t.sndUna, t.mss, 'retransmit-partial');
        const cwnd = Math.max(t.mss, t.cc.cwnd - acked + (acked >= t.mss ? t.mss : 0));
        t.cc = { ...t.cc, cwnd };
        restart = !r.partialSeen;
        t.recovery = { ...r, partialSeen: true };
      } else {
        // SACK recovery: PRR sets cwnd for this ACK (recovery.ts).
        t.recovery = { ...r, rxtNext: seqMax(r.rxtNext, t.sndUna) };
      }
    } else {
      t.dupAcks = 0;
      // Growth, with HyStart++ (RFC 9406) fed this ACK's RTT sample (recovery.ts).
      ccAck(d, t, acked, ctx, sample);
    }
    // RFC 6298 §5.2-5.3.
    if (t.sndUna === t.sndMax) {
      if (t.rexmt?.mode === 'data') t.rexmt = null;
    } else if (restart || t.rexmt === null || t.rexmt.mode !== 'data') {
      t.rexmt = { mode: 'data', at: now + t.rtt.rto, count: 0, backoff: 0 };
    }
  } else if (ack === t.sndUna) {
    // Duplicate ACK (RFC 5681 §2 "DUPLICATE ACKNOWLEDGMENT" (a)-(e)). With SACK, RFC 6675 §2
    // "DupAck" is an ACK that newly SACKs data, whatever its window: Linux grows its window on
    // almost every ACK, and requiring it unchanged would leave losses to the RTO.
    const outstanding = t.sndMax !== t.sndUna;
    const dup = t.sackOk ? newlySacked || wndUnchanged : wndUnchanged;
    if (outstanding && payload.length === 0 && !repr.flags.syn && !repr.flags.fin && dup) {
      dupAck = true;
      t.dupAcks++;
      d.count('dup-ack');
      if (t.recovery === null) {
        // With SACK, RACK-TLP decides what is lost (RFC 8985, recovery.ts); without it, DupThresh.
        const fresh = t.lastRecover === null || seqGt(ack, t.lastRecover);
        if (!t.sackOk && t.dupAcks >= DUP_THRESH && fresh) enterRecovery(d, t);
      } else if (t.recovery.kind === 'newreno') {
        // RFC 5681 §3.2 step 4: inflate by one segment per further duplicate.
        t.cc = { ...t.cc, cwnd: t.cc.cwnd + t.mss };
      }
    }
  }
  // Window update (RFC 9293 §3.10.7.4), from segments no older than the last one used.
  if (seqGe(ack, oldUna) && (seqLt(t.sndWl1, repr.seq) || (t.sndWl1 === repr.seq && seqLe(t.sndWl2, ack)))) {
    t.sndWnd = segWnd;
    t.sndWl1 = repr.seq;
    t.sndWl2 = ack;
    t.maxSndWnd = Math.max(t.maxSndWnd, segWnd);
  }
  // The delivery-rate sample (rate.ts) before anything is sent or RACK trims the send log.
  const rate = t.cc.algo === 'bbr' ? rateAck(t, oldUna, oldSb, blocks, now) : null;
  // RFC 5682 §3 steps 2-3 after a timeout (recovery.ts), with the window this ACK opened.
  if (t.frto !== null) frtoAck(d, t, { oldUna, oldSb, blocks, dup: dupAck });
  if (
    t.sackOk &&
    (t.sndUna !== oldUna || opts.sack !== undefined || t.recovery !== null || t.rack.tlpEnd !== null)
  ) {
    const ts = opts.timestamps;
    rackOnAck(d, t, {
      oldUna,
      oldSb,
      blocks,
      dsack,
      tsEcr: t.tsOk && ts !== undefined ? ts.tsEcr : null,
      exited,
    });
  }
  // BBR's model, pacing rate and cwnd, after loss detection (rate.ts).
  if (rate !== null) rateCcAck(d, t, rate);
}

function sackedBytes(sb: Scoreboard): number {
  let n = 0;
  for (const r of sb) n += rangeLen(r);
  return n;
}

/** Fast retransmit (RFC 5681 §3.2 steps 2-3) into NewReno recovery (RFC 6582): the connections without SACK. */
function enterRecovery(d: Draft, t: MutTcb): void {
  d.count('fast-recovery');
  bump(t, 'fastRecoveries');
  const flight = seqDiff(t.sndMax, t.sndUna);
  const prior = t.cc;
  t.cc = ccOf(t.cc).onCongestion(t.cc, { mss: t.mss, flight, now: d.now, srtt: t.rtt.srtt });
  undoBegin(t, prior);
  t.recovery = {
    kind: 'newreno',
    recover: t.sndMax,
    rxtNext: t.sndUna,
    partialSeen: false,
    reduced: true,
    recoverFs: flight,
    prrDelivered: 0,
    prrOut: 0,
  };
  retransmit(d, t, t.sndUna, t.mss, 'retransmit-fast');
  t.cc = { ...t.cc, cwnd: t.cc.ssthresh + 3 * t.mss };
}

/** Used by user.ts and tests: is `c` sane? (Throws on a configuration bug, never on input.) */
export function checkConfig(c: TcpConfig): void {
  if (c.secret.length !== 16) throw new RangeError('TcpConfig.secret must be 16 bytes');
  for (const k of ['mss4', 'mss6', 'sndBuf', 'rcvBuf', 'msl', 'rtoInitial', 'rtoMin', 'rtoMax'] as const) {
    if (!(c[k] > 0)) throw new RangeError(`TcpConfig.${k} must be positive`);
  }
  if (c.rtoMin > c.rtoMax) throw new RangeError('TcpConfig.rtoMin must be <= rtoMax');
  if (!(c.delayedAckTimeout > 0 && c.delayedAckTimeout < 500)) {
    throw new RangeError('TcpConfig.delayedAckTimeout must be in (0, 500) ms (RFC 9293 MUST-40)');
  }
  if (!(c.ephemeralMin >= 1 && c.ephemeralMin <= c.ephemeralMax && c.ephemeralMax <= 65_535)) {
    throw new RangeError('TcpConfig ephemeral range must be within 1..65535');
  }
  if (!(c.maxOooRanges >= 1 && c.maxSackRanges >= 1 && c.minSndMss >= 1))
    throw new RangeError('TcpConfig range caps and minSndMss must be >= 1');
}
