/**
 * Reno/NewReno window growth (RFC 5681 §3.1): slow start grows cwnd by min(N, SMSS) per ACK (eq. 2,
 * appropriate byte counting), congestion avoidance by one SMSS per cwnd of acknowledged bytes (the
 * RECOMMENDED byte-counting method, never more than SMSS per RTT). The NewReno loss-recovery rules
 * (RFC 6582) live in the core; this module only answers how cwnd and ssthresh react.
 */
import {
  type CcContext,
  type CcStateBase,
  type CongestionControl,
  halfFlight,
  initialWindow,
} from './types.js';

export interface NewRenoState extends CcStateBase {
  readonly algo: 'newreno';
  /** Bytes acknowledged since cwnd last grew in congestion avoidance. */
  readonly caAcked: number;
}

export const newReno: CongestionControl<NewRenoState> = {
  name: 'newreno',
  init(mss, iw) {
    // RFC 5681 §3.1: "The initial value of ssthresh SHOULD be set arbitrarily high".
    return { algo: 'newreno', cwnd: initialWindow(mss, iw), ssthresh: Number.MAX_SAFE_INTEGER, caAcked: 0 };
  },
  onAck(s, acked, c) {
    if (s.cwnd < s.ssthresh) return { ...s, cwnd: s.cwnd + Math.min(acked, c.mss) };
    const caAcked = s.caAcked + acked;
    if (caAcked >= s.cwnd) return { ...s, cwnd: s.cwnd + c.mss, caAcked: caAcked - s.cwnd };
    return { ...s, caAcked };
  },
  onCongestion(s, c) {
    const ssthresh = halfFlight(c);
    return { ...s, ssthresh, cwnd: ssthresh, caAcked: 0 };
  },
  onRto(s, c, first) {
    return { ...s, ssthresh: first ? halfFlight(c) : s.ssthresh, cwnd: c.mss, caAcked: 0 };
  },
  afterIdle(s, _c, iw) {
    return { ...s, cwnd: Math.min(s.cwnd, iw) };
  },
  postRecovery(s, c: CcContext) {
    // RFC 6582 §3.2 step 3 option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS).
    return { ...s, cwnd: Math.min(s.ssthresh, Math.max(c.flight, c.mss) + c.mss), caAcked: 0 };
  },
};
