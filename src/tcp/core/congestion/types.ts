/**
 * The congestion-control interface (docs/TCP-NOTES.md §1: FreeBSD-style hooks `onAck`, `onCongestion` (the
 * duplicate-ACK / SACK loss signal), `onRto`, `afterIdle`, `postRecovery`). An algorithm only decides
 * cwnd and ssthresh; loss detection and recovery (RFC 6582 NewReno, RFC 6675 SACK) are the core's.
 * All functions are pure and return a new state. Units are bytes and milliseconds.
 */
import type { HyStartAck, HyStartState } from './hystart.js';

export type CongestionName = 'newreno' | 'cubic' | 'bbr';

export interface CcContext {
  /** Sender MSS (SMSS) in bytes. */
  readonly mss: number;
  /** Bytes in flight (RFC 5681 FlightSize) when the event happened. */
  readonly flight: number;
  readonly now: number;
  /** Smoothed RTT in ms, `null` before the first sample. */
  readonly srtt: number | null;
  /** For `onAck` with HyStart++ on (RFC 9406): this ACK's RTT sample and sequence numbers. */
  readonly hystart?: HyStartAck | undefined;
}

export interface CcStateBase {
  readonly algo: CongestionName;
  readonly cwnd: number;
  readonly ssthresh: number;
  /** HyStart++ (RFC 9406) in the initial slow start, `HS_OFF` once it is over. */
  readonly hs: HyStartState;
}

export interface CongestionControl<S extends CcStateBase> {
  readonly name: CongestionName;
  /** Initial window (RFC 5681 §3.1 IW, or `iwSegments` * SMSS when configured). */
  init(mss: number, iwSegments: number | null): S;
  /** New data `acked` bytes was cumulatively acknowledged outside loss recovery. */
  onAck(s: S, acked: number, c: CcContext): S;
  /** Loss detected by duplicate ACKs or SACK (RFC 5681 §3.2 step 2): set ssthresh, cwnd = ssthresh. */
  onCongestion(s: S, c: CcContext): S;
  /**
   * The retransmission timer expired (RFC 5681 §3.1 eq. 4 and the loss window). `first` is false when
   * the segment had already been retransmitted by the timer: ssthresh is then held constant.
   */
  onRto(s: S, c: CcContext, first: boolean): S;
  /** Nothing was sent for more than an RTO (RFC 5681 §4.1): restart from RW = min(IW, cwnd). */
  afterIdle(s: S, c: CcContext, iw: number): S;
  /** Loss recovery ended (RFC 6582 §3.2 step 3 full ACK / RFC 6675 §5 RecoveryPoint reached). */
  postRecovery(s: S, c: CcContext): S;
  /** A reduction proved spurious (RFC 4015): the state to go on with, instead of `prior` restored. */
  onUndo?(s: S, prior: S): S;
}

/** RFC 5681 §3.1 IW as an upper bound. */
export function initialWindow(mss: number, iwSegments: number | null): number {
  if (iwSegments !== null) return iwSegments * mss;
  if (mss > 2190) return 2 * mss;
  if (mss > 1095) return 3 * mss;
  return 4 * mss;
}

/** RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2 * SMSS). */
export function halfFlight(c: CcContext): number {
  return Math.max(Math.floor(c.flight / 2), 2 * c.mss);
}
