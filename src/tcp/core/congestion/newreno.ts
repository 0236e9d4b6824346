/**
 * Reno/NewReno window growth (RFC 5681 §3.1): slow start grows cwnd by min(N, SMSS) per ACK (eq. 2,
 * appropriate byte counting), congestion avoidance by one SMSS per cwnd of acknowledged bytes (the
 * RECOMMENDED byte-counting method, never more than SMSS per RTT). The NewReno loss-recovery rules
 * (RFC 6582) live in the core; this module only answers how cwnd and ssthresh react. The initial
 * slow start is HyStart++'s (RFC 9406, hystart.ts) when it is on.
 */
import {
  type CcContext,
  type CcStateBase,
  type CongestionControl,
  halfFlight,
  initialWindow,
} from './types.js';
import { HS_INIT, HS_OFF, type HyStartState, slowStartAck } from './hystart.js';

export interface NewRenoState extends CcStateBase {
  readonly algo: 'newreno';
  /** Bytes acknowledged since cwnd last grew in congestion avoidance. */
  readonly caAcked: number;
}

/** Every state is made here, with one shape (it is replaced on every ACK). */
function state(cwnd: number, ssthresh: number, caAcked: number, hs: HyStartState): NewRenoState {
  return { algo: 'newreno', cwnd, ssthresh, hs, caAcked };
}

export const newReno: CongestionControl<NewRenoState> = {
  name: 'newreno',
  init(mss, iw) {
    // RFC 5681 §3.1: "The initial value of ssthresh SHOULD be set arbitrarily high".
    return state(initialWindow(mss, iw), Number.MAX_SAFE_INTEGER, 0, HS_INIT);
  },
  onAck(s, acked, c) {
    if (s.cwnd < s.ssthresh) {
      const ss = slowStartAck(s, acked, c);
      return state(ss.cwnd, ss.ssthresh, s.caAcked, ss.hs);
    }
    const caAcked = s.caAcked + acked;
    if (caAcked >= s.cwnd) return state(s.cwnd + c.mss, s.ssthresh, caAcked - s.cwnd, s.hs);
    return state(s.cwnd, s.ssthresh, caAcked, s.hs);
  },
  onCongestion(_s, c) {
    const ssthresh = halfFlight(c);
    // RFC 9406 §4.3: a loss ends HyStart++.
    return state(ssthresh, ssthresh, 0, HS_OFF);
  },
  onRto(s, c, first) {
    return state(c.mss, first ? halfFlight(c) : s.ssthresh, 0, HS_OFF);
  },
  afterIdle(s, _c, iw) {
    return state(Math.min(s.cwnd, iw), s.ssthresh, s.caAcked, s.hs);
  },
  postRecovery(s, c: CcContext) {
    // RFC 6582 §3.2 step 3 option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS).
    return state(Math.min(s.ssthresh, Math.max(c.flight, c.mss) + c.mss), s.ssthresh, 0, s.hs);
  },
};
