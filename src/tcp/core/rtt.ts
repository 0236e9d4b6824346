/**
 * Retransmission timeout (RFC 6298). Times are milliseconds.
 *
 * - §2.1 before any sample RTO = `initial` (1 s);
 * - §2.2 first sample R: SRTT = R, RTTVAR = R/2;
 * - §2.3 later: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, SRTT = 7/8 SRTT + 1/8 R;
 *   RTO = SRTT + max(G, 4 RTTVAR), G = 1 ms (our clock granularity);
 * - §2.4 RTO below `min` is raised to it. DEVIATION: RFC 6298 says 1 s (SHOULD); we default to
 *   200 ms like Linux (TCP_RTO_MIN) because the stack mostly runs on LANs and against Linux peers
 *   whose delayed ACK is bounded well below that (documented in src/tcp/README.md);
 * - §2.5 RTO above `max` (default 120 s, >= 60 s) is lowered to it;
 * - §5.5 backoff doubles RTO (up to `max`) on each expiry; the backed-off value is kept until a new
 *   sample arrives (Karn's algorithm makes that "a segment sent and acknowledged without
 *   retransmission" unless timestamps are on, RFC 7323 §4.1).
 */

export interface RttConfig {
  readonly rtoInitial: number;
  readonly rtoMin: number;
  readonly rtoMax: number;
}

export interface RttState {
  /** Smoothed RTT, `null` before the first sample. */
  readonly srtt: number | null;
  readonly rttvar: number;
  /** The timeout in force, backoff included. */
  readonly rto: number;
  /** Consecutive expiries since the last sample. */
  readonly backoff: number;
}

const G = 1;
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

// New connections share one initial record (records are never edited): it depends on the initial
// RTO alone.
let initState: RttState | undefined;

export function rttInit(c: RttConfig): RttState {
  const rto = clamp(c.rtoInitial, c);
  if (initState?.rto !== rto) initState = { srtt: null, rttvar: 0, rto, backoff: 0 };
  return initState;
}

function clamp(rto: number, c: RttConfig): number {
  return Math.min(c.rtoMax, Math.max(c.rtoMin, rto));
}

/** Takes one measurement `r` (ms, >= 0); clears the backoff. */
export function rttSample(s: RttState, r: number, c: RttConfig): RttState {
  const sample = Math.max(0, r);
  if (s.srtt === null) {
    const rttvar = sample / 2;
    return { srtt: sample, rttvar, rto: clamp(sample + Math.max(G, K * rttvar), c), backoff: 0 };
  }
  const rttvar = (1 - BETA) * s.rttvar + BETA * Math.abs(s.srtt - sample);
  const srtt = (1 - ALPHA) * s.srtt + ALPHA * sample;
  return { srtt, rttvar, rto: clamp(srtt + Math.max(G, K * rttvar), c), backoff: 0 };
}

/** §5.5: the timer expired. */
export function rttBackoff(s: RttState, c: RttConfig): RttState {
  return { ...s, rto: Math.min(c.rtoMax, s.rto * 2), backoff: s.backoff + 1 };
}

/**
 * §5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP implementation is using an
 * RTO less than 3 seconds, the RTO MUST be re-initialized to 3 seconds when data transmission begins".
 */
export function rttAfterSynTimeout(s: RttState, c: RttConfig): RttState {
  if (s.srtt !== null) return s;
  return { ...s, rto: clamp(3000, c), backoff: 0 };
}
