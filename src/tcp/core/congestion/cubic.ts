/**
 * CUBIC (RFC 9438) window growth. Windows are computed in segments as in the RFC and kept in bytes.
 *
 * - §4.2 W_cubic(t) = C (t - K)^3 + W_max, K = cbrt((W_max - cwnd_epoch) / C), C = 0.4;
 * - §4.3 the Reno-friendly estimate W_est grows by alpha_cubic = 3 (1 - beta) / (1 + beta) segments per
 *   window of acknowledged bytes, and 1 once it passed W_max; cwnd follows W_est when that is larger;
 * - §4.4-4.5 otherwise cwnd moves towards target = W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd];
 * - §4.6 on congestion ssthresh = max(cwnd * beta, 2 SMSS) with beta = 0.7 (cwnd, as Linux, not the
 *   flight size); §4.7 fast convergence; §4.8 on timeout cwnd = 1 SMSS and the epoch restarts.
 * - §4.10 slow start is HyStart++ (RFC 9406, hystart.ts) when on, else RFC 5681's. When HyStart++
 *   ends slow start without a loss, W_max is still 0: congestion avoidance starts its epoch with
 *   W_max = cwnd and K = 0, as §4.10 asks.
 */
import { HS_INIT, HS_OFF, slowStartAck } from './hystart.js';
import { type CcContext, type CcStateBase, type CongestionControl, initialWindow } from './types.js';

export interface CubicState extends CcStateBase {
  readonly algo: 'cubic';
  /** W_max in segments (0 before the first congestion event). */
  readonly wMax: number;
  /** Start of the current congestion-avoidance epoch (ms), `null` when none. */
  readonly epochStart: number | null;
  /** K in seconds. */
  readonly k: number;
  /** W_est in segments. */
  readonly wEst: number;
  /** Bytes acknowledged since cwnd last grew in slow start (byte counting). */
  readonly caAcked: number;
}

const C = 0.4;
const BETA = 0.7;
const ALPHA = (3 * (1 - BETA)) / (1 + BETA);

function reduce(s: CubicState, c: CcContext): { wMax: number; ssthresh: number } {
  const cwndSeg = s.cwnd / c.mss;
  // §4.7 fast convergence: release bandwidth when W_max keeps dropping.
  const wMax = cwndSeg < s.wMax ? (cwndSeg * (1 + BETA)) / 2 : cwndSeg;
  const ssthresh = Math.max(Math.floor(s.cwnd * BETA), 2 * c.mss);
  return { wMax, ssthresh };
}

export const cubic: CongestionControl<CubicState> = {
  name: 'cubic',
  init(mss, iw) {
    return {
      algo: 'cubic',
      cwnd: initialWindow(mss, iw),
      ssthresh: Number.MAX_SAFE_INTEGER,
      hs: HS_INIT,
      wMax: 0,
      epochStart: null,
      k: 0,
      wEst: 0,
      caAcked: 0,
    };
  },
  onAck(s, acked, c) {
    if (s.cwnd < s.ssthresh) return { ...s, ...slowStartAck(s, acked, c) };
    const mss = c.mss;
    let st = s;
    const cwndSeg = s.cwnd / mss;
    if (st.epochStart === null) {
      const wMax = st.wMax > cwndSeg ? st.wMax : cwndSeg;
      const k = Math.cbrt((wMax - cwndSeg) / C);
      st = { ...st, epochStart: c.now, wMax, k, wEst: cwndSeg };
    }
    const rtt = (c.srtt ?? 100) / 1000;
    const t = (c.now - st.epochStart!) / 1000;
    const wCubic = (x: number): number => C * (x - st.k) ** 3 + st.wMax;
    // §4.3 Reno-friendly region.
    const alpha = st.wEst >= st.wMax ? 1 : ALPHA;
    const wEst = st.wEst + (alpha * acked) / s.cwnd;
    if (wCubic(t) < wEst) {
      return { ...st, wEst, cwnd: Math.max(s.cwnd, Math.floor(wEst * mss)) };
    }
    // §4.4/4.5 concave and convex regions.
    const target = Math.min(Math.max(wCubic(t + rtt), cwndSeg), 1.5 * cwndSeg);
    const inc = ((target - cwndSeg) / cwndSeg) * (acked / mss) * mss;
    return { ...st, wEst, cwnd: s.cwnd + Math.max(0, Math.floor(inc)) };
  },
  onCongestion(s, c) {
    const { wMax, ssthresh } = reduce(s, c);
    // RFC 9406 §4.3: a loss or ECE ends HyStart++.
    return { ...s, wMax, ssthresh, cwnd: ssthresh, epochStart: null, k: 0, wEst: 0, caAcked: 0, hs: HS_OFF };
  },
  onRto(s, c, first) {
    if (!first) return { ...s, cwnd: c.mss, epochStart: null, hs: HS_OFF };
    const { wMax, ssthresh } = reduce(s, c);
    return { ...s, wMax, ssthresh, cwnd: c.mss, epochStart: null, k: 0, wEst: 0, caAcked: 0, hs: HS_OFF };
  },
  afterIdle(s, _c, iw) {
    // The epoch restarts so that the idle time does not count as growth time (RFC 9438 §5.8).
    return { ...s, cwnd: Math.min(s.cwnd, iw), epochStart: null };
  },
  postRecovery(s) {
    return { ...s, cwnd: s.ssthresh };
  },
};
