/**
 * Timeouts (RFC 9293 §3.10.8, RFC 6298 §5, docs/TCP-NOTES.md §2): absolute deadlines per connection, all
 * expired ones of a connection processed in one tick in a fixed order (TIME-WAIT, FIN-WAIT-2,
 * retransmit/persist, keep-alive, delayed ACK). A timer firing in a state where it makes no sense is a
 * no-op that clears it (docs/TCP-NOTES.md §2: total, no assertions).
 */
import { seqAdd, seqDiff, seqGe } from '../seq.js';
import { ccOf } from './congestion/index.js';
import type { Draft } from './draft.js';
import { ecnOnRto } from './ecn.js';
import { hasUnsent, persistInterval, sendOverride, sendProbe, sendSyn, sendSynAck } from './output.js';
import { blackHoleCheck } from './pmtu.js';
import { frtoOnRto, probeExpired, rackOnRto, rackTimerExpired } from './recovery.js';
import { rttBackoff } from './rtt.js';
import type { FlowKey, MutTcb, Tcb } from './types.js';

/** The earliest deadline of a connection, `null` if no timer runs. */
export function connDeadline(t: Tcb): number | null {
  let d = Number.POSITIVE_INFINITY;
  if (t.rexmt !== null) d = Math.min(d, t.rexmt.at);
  if (t.delackAt !== null) d = Math.min(d, t.delackAt);
  if (t.timeWaitAt !== null) d = Math.min(d, t.timeWaitAt);
  if (t.finWait2At !== null) d = Math.min(d, t.finWait2At);
  if (t.keepaliveAt !== null) d = Math.min(d, t.keepaliveAt);
  if (t.rack.reoAt !== null) d = Math.min(d, t.rack.reoAt);
  if (t.rack.ptoAt !== null) d = Math.min(d, t.rack.ptoAt);
  // BBR pacing (output.ts paceWait): data waits for its time.
  if (t.rate.paceAt !== null) d = Math.min(d, t.rate.paceAt);
  return d === Number.POSITIVE_INFINITY ? null : d;
}

/** Fires every expired timer of the connection `key`. */
export function runTimers(d: Draft, key: FlowKey): void {
  const t = d.get(key);
  if (t === undefined) return;
  const now = d.now;
  if (t.timeWaitAt !== null && t.timeWaitAt <= now) {
    if (t.state === 'TimeWait') {
      d.count('time-wait-done');
      d.remove(key, 'normal');
      return;
    }
    t.timeWaitAt = null;
  }
  if (t.finWait2At !== null && t.finWait2At <= now) {
    if (t.state === 'FinWait2') {
      d.count('fin-wait-2-timeout');
      d.remove(key, 'fin-wait-2');
      return;
    }
    t.finWait2At = null;
  }
  // RFC 8985: the reordering timer, then the probe timeout (which restarts the RTO when it probes).
  if (t.rack.reoAt !== null && t.rack.reoAt <= now) rackTimerExpired(d, t);
  if (t.rack.ptoAt !== null && t.rack.ptoAt <= now) probeExpired(d, t);
  if (t.rexmt !== null && t.rexmt.at <= now && !rexmtExpired(d, t)) return;
  if (t.keepaliveAt !== null && t.keepaliveAt <= now && !keepaliveExpired(d, t)) return;
  if (t.delackAt !== null && t.delackAt <= now) {
    t.delackAt = null;
    if (t.ackPending > 0) {
      // One segment waited out the delay; two or more were a burst acknowledged at its end.
      d.count(t.ackPending === 1 ? 'delayed-ack' : 'burst-ack');
      t.ackNow = true;
    }
  }
}

/** The retransmission slot expired; false if the connection was dropped. */
function rexmtExpired(d: Draft, t: MutTcb): boolean {
  const c = d.config;
  const r = t.rexmt!;
  const now = d.now;
  switch (r.mode) {
    case 'syn': {
      if (t.state !== 'SynSent' && t.state !== 'SynReceived') {
        t.rexmt = null;
        return true;
      }
      const limit = t.state === 'SynSent' ? c.synRetries : c.synAckRetries;
      if (r.count >= limit) {
        d.count('rexmt-exceeded');
        // RFC 1122 §4.2.3.9: a soft error seen meanwhile is what the user is told.
        d.remove(t.key, t.passive ? 'timeout' : 'connect-timeout', t.softError);
        return false;
      }
      t.rtt = rttBackoff(t.rtt, c);
      t.synRetransmitted = true;
      t.rttSeq = null;
      // When the latest SYN / SYN-ACK left: older echoes are no RTT samples (input.ts establish).
      t.rttAt = now;
      if (t.state === 'SynSent') {
        d.count('retransmit-syn');
        sendSyn(d, t);
      } else {
        d.count('retransmit-synack');
        sendSynAck(d, t);
      }
      t.rexmt = { mode: 'syn', at: now + t.rtt.rto, count: r.count + 1, backoff: 0 };
      return true;
    }
    case 'data': {
      if (t.sndMax === t.sndUna || t.state === 'TimeWait') {
        t.rexmt = null;
        return true;
      }
      // RFC 9293 SHLD-17: against a window the peer shrank to zero, an answering peer is not dead.
      const answering = t.sndWnd === 0 && t.lastRecvAt > r.at - t.rtt.rto;
      const count = answering ? r.count : r.count + 1;
      if (count > c.dataRetries) {
        d.count('rexmt-exceeded');
        d.remove(t.key, 'timeout', t.softError);
        return false;
      }
      d.count('rto-expired');
      const flight = seqDiff(t.sndMax, t.sndUna);
      const prior = t.cc;
      // RFC 5681 §3.1 eq. (4) on the first timeout of this segment only; cwnd = loss window.
      t.cc = ccOf(t.cc).onRto(t.cc, { mss: t.mss, flight, now, srtt: t.rtt.srtt }, r.count === 0);
      // RFC 3522 / 4015: a timeout may be spurious (Eifel, recovery.ts); RACK starts over.
      // No recovery or earlier timeout covers SND.UNA: a new undo episode (recovery.ts), and F-RTO
      // may judge it (RFC 5682 §3 step 1).
      const fresh = t.recovery === null && (t.lastRecover === null || seqGe(t.sndUna, t.lastRecover));
      rackOnRto(t, prior, r.count === 0, fresh);
      t.rtt = rttBackoff(t.rtt, c);
      // RFC 6582 §3.2 step 4; RFC 2018 §8: forget SACK information (the peer may have reneged).
      t.recovery = null;
      t.dupAcks = 0;
      t.lastRecover = t.sndMax;
      t.scoreboard = [];
      t.rttSeq = null;
      // Go back N: output.ts sends again from SND.UNA, within the one-segment loss window; F-RTO
      // (RFC 5682, recovery.ts) then judges the timeout on the next two ACKs.
      t.sndNxt = t.sndUna;
      frtoOnRto(d, t, r.count === 0, fresh);
      // RFC 4821 black-hole detection; RFC 3168 §6.1.2 CWR after any reduction.
      blackHoleCheck(d, t, count);
      ecnOnRto(t);
      t.rexmt = { mode: 'data', at: now + t.rtt.rto, count, backoff: 0 };
      return true;
    }
    case 'persist': {
      if (t.sndMax !== t.sndUna || !hasUnsent(t)) {
        // Something is in flight (the retransmit timer covers it) or nothing waits: not ours.
        t.rexmt = null;
        return true;
      }
      if (r.count >= c.dataRetries) {
        d.count('persist-exceeded');
        d.remove(t.key, 'timeout', t.softError);
        return false;
      }
      // An orphan (closed by its user) whose peer answers every probe with a zero window would hold
      // its queued data for good: given up once the probes' backoff reaches rtoMax, as Linux gives up
      // an orphan whose probe timer reached TCP_RTO_MAX (tcp_probe_timer, tcp_orphan_retries).
      if (t.userClosed && persistInterval(t, c, r.backoff) >= c.rtoMax) {
        d.count('persist-orphan-abandoned');
        d.remove(t.key, 'timeout', t.softError);
        return false;
      }
      d.count('persist-probe');
      const usable = seqDiff(seqAdd(t.sndUna, Math.min(t.sndWnd, t.cc.cwnd)), t.sndNxt);
      t.rexmt = {
        mode: 'persist',
        at: now + persistInterval(t, c, r.backoff + 1),
        count: r.count + 1,
        backoff: r.backoff + 1,
      };
      // The SWS override timeout (RFC 9293 §3.8.6.2.1 (4)) sends what the window takes; a zero
      // window gets a probe that the peer must answer with its current window.
      if (usable <= 0 || !sendOverride(d, t)) sendProbe(d, t);
      return true;
    }
  }
}

/** Keep-alive (RFC 9293 §3.8.4): probe an idle connection; false if it was dropped. */
function keepaliveExpired(d: Draft, t: MutTcb): boolean {
  const k = t.keepaliveTimes ?? d.config.keepalive;
  const now = d.now;
  const idle = t.sndMax === t.sndUna && !hasUnsent(t);
  if (!t.keepalive || !idle || (t.state !== 'Established' && t.state !== 'CloseWait')) {
    t.keepaliveAt = null;
    return true;
  }
  if (t.keepaliveProbes === 0 && now - t.lastRecvAt < k.idle) {
    t.keepaliveAt = t.lastRecvAt + k.idle;
    return true;
  }
  if (t.keepaliveProbes >= k.count) {
    d.count('keepalive-exceeded');
    d.remove(t.key, 'keepalive-timeout', t.softError);
    return false;
  }
  d.count('keepalive-probe');
  sendProbe(d, t);
  t.keepaliveProbes++;
  t.keepaliveAt = now + k.interval;
  return true;
}
