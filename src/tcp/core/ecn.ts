/**
 * Explicit Congestion Notification in TCP (RFC 3168 §6.1).
 *
 * - Negotiation (§6.1.1): an ECN-setup SYN carries ECE and CWR, an ECN-setup SYN-ACK ECE only. The
 *   configuration says whether we ask (`ecn: 'on'`, Linux's tcp_ecn=1) or only answer (`'accept'`,
 *   Linux's default tcp_ecn=2). A SYN sent again after a timeout does not ask (§6.1.1.1: a middlebox
 *   may drop ECN-setup SYNs), and connections opened by SYN cookies never use ECN (the cookie does
 *   not remember it).
 * - Sender: new data goes with ECT(0) in the IP header (the driver writes it, `ect` on the segment);
 *   SYNs, pure ACKs, retransmissions and window probes do not (§6.1.1, §6.1.4-§6.1.6). On an ACK with
 *   ECE the window is reduced as for a loss, at most once per window of data (§6.1.2: "should not
 *   react ... more than once per window"), and CWR goes on the next new data segment. An ECE during
 *   loss recovery reduces nothing more (the window was reduced already) but is answered with CWR, so
 *   the receiver stops echoing.
 * - Receiver: a CE mark (§5: ECN field 3) makes every ACK carry ECE until a segment with CWR arrives
 *   (§6.1.3); the first mark of an episode is acknowledged at once, as Linux does, so the sender
 *   learns of the congestion within an RTT.
 */
import { type Seq, seqDiff, seqGe } from '../seq.js';
import type { TcpFlags, TcpRepr } from '../wire.js';
import { ccOf } from './congestion/index.js';
import type { Draft } from './draft.js';
import type { MutTcb, Tcb, TcpConfig } from './types.js';

/** The IP ECN field's values (RFC 3168 §5). */
export const ECN_NOT_ECT = 0;
export const ECN_ECT1 = 1;
export const ECN_ECT0 = 2;
export const ECN_CE = 3;

/** Flags of our SYN: ECE and CWR when we ask for ECN, but not on a retransmitted SYN (§6.1.1.1). */
export function synEcnFlags(c: TcpConfig, t: Tcb): Pick<TcpFlags, 'ece' | 'cwr'> {
  const ask = c.ecn === 'on' && !t.synRetransmitted;
  return { ece: ask, cwr: ask };
}

/** A listener's new connection: the peer's SYN asks for ECN (ECE and CWR, §6.1.1) and we accept. */
export function ecnOnSyn(d: Draft, t: MutTcb, repr: TcpRepr): void {
  t.ecnOk = d.config.ecn !== 'off' && repr.flags.ece && repr.flags.cwr;
  if (t.ecnOk) d.count('ecn-negotiated');
}

/** SYN-SENT: the SYN-ACK agrees to ECN if it has ECE without CWR (§6.1.1) and our SYN asked. */
export function ecnOnSynAck(d: Draft, t: MutTcb, repr: TcpRepr): void {
  t.ecnOk = d.config.ecn === 'on' && !t.synRetransmitted && repr.flags.ece && !repr.flags.cwr;
  if (t.ecnOk) d.count('ecn-negotiated');
}

/**
 * ECN's part of an acceptable segment on an ECN connection, after its ACK was processed: CWR stops
 * our echo, CE starts it, ECE reduces the congestion window once per window.
 */
export function ecnArrived(d: Draft, t: MutTcb, repr: TcpRepr, ecn: number | undefined): void {
  const f = repr.flags;
  // §6.1.3: CWR first, so a CE mark on the CWR segment itself starts a new episode.
  if (f.cwr && t.ecnEcho) {
    d.count('ecn-cwr-received');
    t.ecnEcho = false;
  }
  if (ecn === ECN_CE) {
    d.count('ecn-ce-received');
    t.stats = { ...t.stats, ceMarks: t.stats.ceMarks + 1 };
    if (!t.ecnEcho) t.ackNow = true;
    t.ecnEcho = true;
  }
  if (f.ece && f.ack && !f.syn) eceReceived(d, t);
}

function eceReceived(d: Draft, t: MutTcb): void {
  d.count('ecn-ece-received');
  if (t.ecnRecover !== null && !seqGe(t.sndUna, t.ecnRecover)) return;
  t.ecnRecover = t.sndMax;
  t.ecnCwr = true;
  // Loss recovery has reduced the window for this flight already (§6.1.2).
  if (t.recovery !== null) return;
  d.count('ecn-reduced');
  const flight = seqDiff(t.sndMax, t.sndUna);
  t.cc = ccOf(t.cc).onCongestion(t.cc, { mss: t.mss, flight, now: d.now, srtt: t.rtt.srtt });
  // A congestion mark is never spurious: no later undo (D-SACK, Eifel) may restore the window from
  // before it (as Linux's tcp_enter_cwr clears undo_marker).
  t.undo = null;
}

/**
 * The ECN marks of an outgoing segment of an ECN connection (not a SYN or RST): ECE on ACKs while we
 * echo, CWR on the first new data after a reduction; returns the flags and whether the segment is
 * ECT(0) (new data only).
 */
export function ecnOut(
  t: MutTcb,
  flags: Partial<TcpFlags>,
  seq: Seq,
  len: number,
): { flags: Partial<TcpFlags>; ect: boolean } {
  const newData = len > 0 && seqGe(seq, t.sndMax);
  const cwr = newData && t.ecnCwr;
  if (cwr) t.ecnCwr = false;
  const ece = t.ecnEcho && flags.ack === true;
  return { flags: ece || cwr ? { ...flags, ece, cwr } : flags, ect: newData };
}

/** A retransmission timeout reduced the window: the next new data carries CWR (§6.1.2). */
export function ecnOnRto(t: MutTcb): void {
  if (t.ecnOk) t.ecnCwr = true;
}
