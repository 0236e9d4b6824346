/**
 * Types of the pure TCP core: configuration, the connection record (RFC 9293 §3.3.1 TCB, with the
 * RFC's names), the stack state, events, outputs and counters.
 *
 * Everything here is readonly: a step builds new records and never edits the ones it was given.
 */
import type { Ipv4Addr, Ipv6Addr } from '../../addr.js';
import type { Seq } from '../seq.js';
import type { TcpRepr } from '../wire.js';
import type { CcState, CongestionName } from './congestion/index.js';
import type { PHeap } from './pheap.js';
import type { PMap } from './pmap.js';
import type { RackState, SentLog } from './rack.js';
import type { OooQueue, Scoreboard, SeqRange } from './ranges.js';
import type { RateState } from './rate.js';
import type { Rope } from './rope.js';
import type { RttState } from './rtt.js';
import type { SipKey } from './siphash.js';

/** An IPv4 address (a u32) or an IPv6 address (16 bytes), as the IP layer hands them over. */
export type IpAddr = Ipv4Addr | Ipv6Addr;

/** A connection's name: "local-address local-port remote-address remote-port" (canonical text). */
export type FlowKey = string;

/** Synchronized and handshake states (RFC 9293 §3.3.2); LISTEN lives in `listeners`, CLOSED is absence. */
export type TcpState =
  | 'SynSent'
  | 'SynReceived'
  | 'Established'
  | 'CloseWait'
  | 'FinWait1'
  | 'FinWait2'
  | 'Closing'
  | 'LastAck'
  | 'TimeWait';

export interface KeepaliveConfig {
  /** ms without any segment received before the first probe (RFC 9293 MUST-28: >= 2 h by default). */
  readonly idle: number;
  /** ms between unanswered probes. */
  readonly interval: number;
  /** Unanswered probes before the connection is dropped. */
  readonly count: number;
}

export interface TcpConfig {
  /**
   * 16 secret bytes (from a CSPRNG, chosen by the driver at start): the key of RFC 6528 ISNs, RFC 6056
   * ephemeral ports, RFC 7323 §5.4 timestamp offsets and SYN cookies.
   */
  readonly secret: Uint8Array;
  /** MSS we advertise over IPv4 / IPv6 (link MTU - 40 / - 60). */
  readonly mss4: number;
  readonly mss6: number;
  /** Send and receive buffer sizes in bytes (per connection). */
  readonly sndBuf: number;
  readonly rcvBuf: number;
  /**
   * Bytes queued for sending across every connection (Linux's tcp_mem hard limit), 0 for no limit;
   * the same limit applies, separately, to bytes received and not yet read. Past it a connection may
   * hold only `min(sndBuf, PRESSURE_FLOOR)` to send (draft.ts): peers that never read cannot pin
   * `sndBuf` each, and writers wait ('writable' later) instead of the queue growing; and receive
   * windows grow only to `min(rcvBuf, PRESSURE_FLOOR)` (windows already offered are kept).
   */
  readonly tcpMemory: number;
  /** Offer window scaling (RFC 7323 §2), SACK (RFC 2018), timestamps (RFC 7323 §3). */
  readonly windowScaling: boolean;
  readonly sack: boolean;
  readonly timestamps: boolean;
  /** Maximum segment lifetime (ms); TIME-WAIT lasts 2·MSL (RFC 9293 MUST-13). */
  readonly msl: number;
  readonly rtoInitial: number;
  readonly rtoMin: number;
  readonly rtoMax: number;
  /**
   * Retransmissions of a SYN before giving up (R2 for SYN, RFC 9293 §3.8.3). The default is Linux's
   * tcp_syn_retries, 6: with a 1 s initial RTO the open gives up after 127 s, short of MUST-23's
   * 3 minutes (a deviation, in src/tcp/README.md).
   */
  readonly synRetries: number;
  /** Retransmissions of a SYN-ACK before the embryonic connection is dropped. */
  readonly synAckRetries: number;
  /** Retransmissions of data/FIN (R2), and unanswered zero-window probes, before giving up. */
  readonly dataRetries: number;
  /** ms a connection closed by `close()` may stay in FIN-WAIT-2 (an orphan) before it is dropped. */
  readonly finWait2Timeout: number;
  /** Delayed-ACK timeout in ms (RFC 9293 MUST-40: < 500). */
  readonly delayedAckTimeout: number;
  /** Nagle's algorithm for new connections (RFC 9293 SHLD-7); `setOptions({noDelay})` per connection. */
  readonly nagle: boolean;
  readonly keepalive: KeepaliveConfig;
  /** Keep-alives on new connections (RFC 9293 MUST-25: default off). */
  readonly keepaliveDefault: boolean;
  readonly maxConnections: number;
  /** SYN-RECEIVED connections per listener when `listen` gives no backlog. */
  readonly defaultBacklog: number;
  /** Out-of-order ranges held per connection. */
  readonly maxOooRanges: number;
  /** SACK scoreboard ranges kept per connection. */
  readonly maxSackRanges: number;
  /**
   * The smallest MSS the peer's MSS option may set (Linux's tcp_min_snd_mss, 48): an MSS of 1 in a
   * SYN would otherwise cut every write into 1-byte segments (CVE-2019-11479).
   */
  readonly minSndMss: number;
  readonly congestion: CongestionName;
  /** Initial window in segments; `null` for RFC 5681 §3.1's 2-4 segments. */
  readonly initialCwndSegments: number | null;
  /** Ephemeral port range (RFC 6056 §2.1). */
  readonly ephemeralMin: number;
  readonly ephemeralMax: number;
  /** RFC 5961 §7 challenge-ACK throttling: at most `challengeAckLimit` per `challengeAckInterval` ms per connection. */
  readonly challengeAckLimit: number;
  readonly challengeAckInterval: number;
  /**
   * RFC 5961 §3-4 against blind in-window attacks (default true): a RST must carry exactly RCV.NXT
   * and a SYN in a synchronized state draws only a challenge ACK. Off: RFC 793's rules, under which a
   * RST or a SYN anywhere in the receive window resets the connection (the hardening tests' switch).
   */
  readonly rfc5961: boolean;
  /**
   * RFC 5927 §4.1 (default true): an ICMP error is believed only when the sequence number it quotes is
   * in flight. Off: every error about the connection is believed (the hardening tests' switch).
   */
  readonly rfc5927: boolean;
  /** Answer SYNs past a full backlog with SYN cookies (RFC 4987 §3.6) instead of dropping them. */
  readonly synCookies: boolean;
  /**
   * ECN (RFC 3168): `'accept'` answers an ECN-setup SYN but never asks (Linux's default, tcp_ecn=2),
   * `'on'` asks in our SYNs too (tcp_ecn=1), `'off'` neither (ecn.ts).
   */
  readonly ecn: EcnMode;
  /**
   * F-RTO (RFC 5682 §3, SACK-enhanced): after a timeout, new data on the first ACK instead of
   * go-back-N, so that the next ACK tells a spurious timeout from a real one (recovery.ts).
   */
  readonly frto: boolean;
  /** HyStart++ (RFC 9406 §4) in the initial slow start (congestion/hystart.ts); on, as Linux's HyStart. */
  readonly hystart: boolean;
}

export type EcnMode = 'off' | 'accept' | 'on';

export const TCP_DEFAULTS: Omit<TcpConfig, 'secret'> = {
  mss4: 1460,
  mss6: 1440,
  // 1 MB each: a hole at SND.UNA must leave room to send new data past it, or a lost retransmission
  // there is found by no later delivery and waits for the RTO; 256 KB did so at 3 % loss
  // (bench/loss.ts). Linux's buffers grow to 4 MB (tcp_wmem) and 6 MB (tcp_rmem).
  sndBuf: 1024 * 1024,
  rcvBuf: 1024 * 1024,
  tcpMemory: 64 * 1024 * 1024,
  windowScaling: true,
  sack: true,
  timestamps: true,
  msl: 30_000,
  rtoInitial: 1_000,
  rtoMin: 200,
  rtoMax: 120_000,
  synRetries: 6,
  synAckRetries: 5,
  dataRetries: 15,
  finWait2Timeout: 60_000,
  delayedAckTimeout: 40,
  nagle: true,
  keepalive: { idle: 2 * 3600_000, interval: 75_000, count: 9 },
  keepaliveDefault: false,
  maxConnections: 65_536,
  defaultBacklog: 128,
  maxOooRanges: 32,
  maxSackRanges: 32,
  minSndMss: 48,
  congestion: 'cubic',
  initialCwndSegments: null,
  ephemeralMin: 49_152,
  ephemeralMax: 65_535,
  challengeAckLimit: 10,
  challengeAckInterval: 1_000,
  rfc5961: true,
  rfc5927: true,
  synCookies: true,
  ecn: 'accept',
  frto: true,
  hystart: true,
};

/** The retransmission slot (docs/TCP-NOTES.md §2): one timer whose mode says what it retransmits. */
export interface RexmtTimer {
  readonly mode: 'syn' | 'data' | 'persist';
  readonly at: number;
  /** Expiries so far in this mode without an answer (retransmissions or probes). */
  readonly count: number;
  /** Persist mode: probes sent so far, for the exponential interval (answers do not reset it). */
  readonly backoff: number;
}

/** Loss recovery in progress (RFC 6582 §3.2 or RFC 6675 §5). */
export interface Recovery {
  readonly kind: 'newreno' | 'sack';
  /** RFC 6582 `recover` / RFC 6675 RecoveryPoint: SND.MAX when recovery started. */
  readonly recover: Seq;
  /** RFC 6675 HighRxt + 1: retransmissions continue from here. */
  readonly rxtNext: Seq;
  /** RFC 6582: the timer is reset only on the first partial ACK. */
  readonly partialSeen: boolean;
  /**
   * The episode reduced cwnd (false: RACK found losses of data a timeout is already resending, RFC
   * 6582 §3.2 `recover`; recovery then paces without a second reduction and ends without one).
   */
  readonly reduced: boolean;
  /** RFC 6937 §3 PRR: RecoverFS, prr_delivered and prr_out (bytes; SACK recovery only). */
  readonly recoverFs: number;
  readonly prrDelivered: number;
  readonly prrOut: number;
}

/**
 * What a cwnd reduction may have to give back (RFC 3708, RFC 3522 Eifel detection, RFC 4015 response):
 * the congestion state before it, our TSval of the episode's first retransmission, and the bytes
 * retransmitted that no D-SACK has shown to be duplicates yet.
 */
export interface UndoState {
  readonly prior: CcState;
  /** SND.UNA when the reduction happened: D-SACKs of older data are not ours to count. */
  readonly marker: Seq;
  readonly rexmitTsVal: number | null;
  readonly retransBytes: number;
  /**
   * Forget the episode once SND.UNA passes this (set when recovery ends; `null` while it runs): the
   * duplicates a D-SACK reports may still be on their way, so it is moved on once (`extended`), and the
   * episode is forgotten a round trip of data after the recovery.
   */
  readonly until: Seq | null;
  readonly extended: boolean;
  /**
   * When SND.UNA reached `until` with nothing sent since (the end of a transfer): no round of data
   * will come to wait for, so the episode is kept for one RTO of time instead (its D-SACKs trail the
   * last ACK by the reordering delay).
   */
  readonly quietSince: number | null;
  /** A retransmission timeout fired during the episode: undoing it undoes a spurious timeout. */
  readonly rto: boolean;
}

/**
 * F-RTO after a timeout (RFC 5682 §3): step 2 waits for the ACK of the retransmission, step 3 for the
 * ACK after the new data sent on it. `recoveryPoint` is SND.MAX when the timer fired; `rewind` the
 * go-back-N position to resume from if the timeout proves real.
 */
export interface FrtoState {
  readonly step: 2 | 3;
  readonly recoveryPoint: Seq;
  readonly rewind: Seq;
}

/** Per-connection counters (readable through `tcpConnection(state, flow).stats`). */
export interface ConnStats {
  /** Segments sent again (any reason). */
  readonly retransmits: number;
  /** cwnd reductions undone as spurious (D-SACK or Eifel). */
  readonly spuriousUndone: number;
  readonly rtos: number;
  readonly tlps: number;
  readonly fastRecoveries: number;
  readonly sackBlocks: number;
  readonly dsacks: number;
  /** CE-marked segments received (RFC 3168, ecn.ts). */
  readonly ceMarks: number;
  /** Retransmission timeouts found spurious (F-RTO, RFC 5682; or Eifel, RFC 3522). */
  readonly spuriousRtos: number;
}

/** Transmission Control Block: one connection (RFC 9293 §3.3.1). */
export interface Tcb {
  readonly key: FlowKey;
  readonly local: IpAddr;
  readonly localPort: number;
  readonly remote: IpAddr;
  readonly remotePort: number;
  readonly state: TcpState;
  /** Opened by a listener (RFC 9293 MUST-11: SYN-RECEIVED must know where it came from). */
  readonly passive: boolean;
  /** The user knows this connection (active opens at once, passive ones once established). */
  readonly announced: boolean;
  /** `close()` was called: the user reads no more, so new data is answered with RST (SHLD-3). */
  readonly userClosed: boolean;
  /** The user shut the sending side: the sequence number of our FIN, right after the last data byte. */
  readonly finSeq: Seq | null;
  /** A `send` took less than offered: `writable` is due when space frees up. */
  readonly writeBlocked: boolean;

  // Send sequence variables (RFC 9293 §3.3.1 Table 2).
  readonly iss: Seq;
  readonly sndUna: Seq;
  /** Next sequence number to send; below SND.MAX after a timeout (go-back-N). */
  readonly sndNxt: Seq;
  /** Highest sequence number sent + 1. */
  readonly sndMax: Seq;
  /** Peer's window in bytes (scaled). */
  readonly sndWnd: number;
  readonly sndWl1: Seq;
  readonly sndWl2: Seq;
  /** Largest window the peer offered (RFC 5961 §5 MAX.SND.WND; SWS sender estimate of RCV.BUFF). */
  readonly maxSndWnd: number;
  /** Shift to apply to the peer's window field (0 without window scaling). */
  readonly sndScale: number;
  /** Eff.snd.MSS for a header without options (RFC 9293 §3.7.1). */
  readonly mss: number;
  /** Data from the first unacknowledged byte on (sent or not). */
  readonly sndq: Rope;

  // Receive sequence variables (Table 3).
  readonly irs: Seq;
  readonly rcvNxt: Seq;
  /** Right edge of the window last advertised: RCV.NXT + RCV.WND never moves left of it (SHLD-14). */
  readonly rcvAdv: Seq;
  /** Our window shift (0 without window scaling). */
  readonly rcvScale: number;
  /** The MSS we advertised (RMSS). */
  readonly rmss: number;
  /** Received in order, not yet read. */
  readonly rcvq: Rope;
  readonly ooo: OooQueue;
  /** The peer's FIN was received in order (RCV.NXT is past it). */
  readonly rcvFin: boolean;
  /** In-order segments received since our last ACK (delayed ACK, RFC 5681 §4.2). */
  readonly ackPending: number;
  /** An ACK must go out in this step. */
  readonly ackNow: boolean;

  // Options.
  /** Window scaling negotiated (both SYNs carried the option, RFC 7323 §2.2). */
  readonly wsOk: boolean;
  readonly sackOk: boolean;
  readonly tsOk: boolean;
  /** RFC 7323 §4.3 TS.Recent and when it was set (PAWS 24-day rule, §5.5). */
  readonly tsRecent: number;
  readonly tsRecentAt: number;
  /** RFC 7323 §4.3 Last.ACK.sent. */
  readonly lastAckSent: Seq;
  /** Per-connection offset added to our clock in TSval (RFC 7323 §5.4). */
  readonly tsOffset: number;
  /** SACKed ranges above SND.UNA (RFC 6675 scoreboard). */
  readonly scoreboard: Scoreboard;

  // RTT and retransmission (RFC 6298).
  readonly rtt: RttState;
  /** Karn: the segment being timed (without timestamps) and when it was sent. */
  readonly rttSeq: Seq | null;
  readonly rttAt: number;
  /** A SYN was retransmitted (RFC 6298 §5.7). */
  readonly synRetransmitted: boolean;

  // Congestion control.
  readonly cc: CcState;
  readonly dupAcks: number;
  readonly recovery: Recovery | null;
  /** RFC 6582 §3.2 `recover` left by the last recovery or timeout: no new fast retransmit below it. */
  readonly lastRecover: Seq | null;
  /** RFC 8985 RACK-TLP: per-range send times, RACK's state, lost marks and its two timers (rack.ts). */
  readonly sent: SentLog;
  /** Delivery-rate sampling and the pacing clock, for rate-driven congestion control (rate.ts, BBR). */
  readonly rate: RateState;
  readonly rack: RackState;
  /** The last cwnd reduction, while it may still prove spurious. */
  readonly undo: UndoState | null;
  /** F-RTO detection in progress after a timeout (RFC 5682 §3), else `null`. */
  readonly frto: FrtoState | null;
  /** Receiver: a duplicate range to report in the first SACK block of the next ACK (RFC 2883). */
  readonly dsack: SeqRange | null;
  readonly stats: ConnStats;
  /** Last time data was sent / a segment was received (RFC 5681 §4.1; keep-alive idle). */
  readonly lastSendAt: number;
  readonly lastRecvAt: number;

  // Timers: absolute deadlines in ms, `null` when off.
  readonly rexmt: RexmtTimer | null;
  readonly delackAt: number | null;
  readonly timeWaitAt: number | null;
  readonly finWait2At: number | null;
  readonly keepaliveAt: number | null;
  readonly keepaliveProbes: number;
  /** This connection's keep-alive times (`null`: the configuration's), as Node's setKeepAlive sets. */
  readonly keepaliveTimes: KeepaliveConfig | null;
  /**
   * The last ICMP error about a segment in flight (RFC 1122 §4.2.3.9 soft error), reported if the
   * connection later times out; cleared when an ACK shows the path works (as Linux's sk_err_soft).
   */
  readonly softError: SoftError | null;
  /** The time at which this connection sits in the stack's timer heap (a lower bound of its deadline). */
  readonly heapAt: number | null;

  // Per-connection switches.
  readonly noDelay: boolean;
  readonly keepalive: boolean;
  /**
   * Largest payload of one output of new data (`ConnOptions.tsoMax`); 0: one segment per output.
   * Past one segment, the output stands for several (`SegmentOut.segmentSize`).
   */
  readonly tsoMax: number;

  // RFC 5961 §7 throttling.
  readonly challengeWindowAt: number;
  readonly challengeCount: number;

  // Path signals (pmtu.ts, ecn.ts).
  /** ECN negotiated on the handshake (RFC 3168 §6.1.1). */
  readonly ecnOk: boolean;
  /** Receiver: a CE mark arrived, ECE goes on every ACK until the peer's CWR (§6.1.3). */
  readonly ecnEcho: boolean;
  /** Sender: the window was reduced, CWR goes on the next new data segment (§6.1.2). */
  readonly ecnCwr: boolean;
  /** Sender: SND.MAX at the last reduction for ECE; none again until SND.UNA passes it (once per window). */
  readonly ecnRecover: Seq | null;
}

export interface Listener {
  readonly port: number;
  /** Only connections to this address (`null`: any of ours). */
  readonly addr: IpAddr | null;
  /** SYN-RECEIVED connections allowed at once. */
  readonly backlog: number;
  /** SYN-RECEIVED connections now. */
  readonly pending: number;
  /** When the last SYN cookie was sent (`null`: never); cookie ACKs are accepted only soon after. */
  readonly cookieAt: number | null;
}

export const COUNTER_NAMES = [
  'segments-in',
  'segments-out',
  'bad-port',
  'bytes-in',
  'bytes-out',
  'rst-sent',
  'rst-received',
  'rst-in-syn-received',
  'no-connection',
  'listen-bad-ack',
  'listen-rst-ignored',
  'listen-no-syn',
  'backlog-full',
  'syn-cookie-sent',
  'syn-cookie-accepted',
  'syn-cookie-rejected',
  'too-many-connections',
  'syn-sent-bad-ack',
  'syn-sent-dropped',
  'syn-received-bad-ack',
  'syn-received-reset',
  'syn-in-window-reset',
  'out-of-window',
  'paws-rejected',
  'timestamp-missing',
  'rst-out-of-window',
  'rst-challenged',
  'syn-challenged',
  'ack-challenged',
  'challenge-ack-sent',
  'challenge-ack-limited',
  'no-ack-flag',
  'ack-unsent',
  'ack-old',
  'dup-ack',
  'data-trimmed',
  'data-after-close',
  'data-ignored',
  'ooo-queued',
  'ooo-dropped',
  'fin-received',
  'retransmit-syn',
  'retransmit-synack',
  'retransmit-rto',
  'retransmit-fast',
  'retransmit-sack',
  'retransmit-partial',
  'fast-recovery',
  'rto-expired',
  'rexmt-exceeded',
  'persist-probe',
  'persist-exceeded',
  /** A closed connection whose peer kept its window shut until the probe backoff reached rtoMax. */
  'persist-orphan-abandoned',
  'keepalive-probe',
  'keepalive-exceeded',
  'delayed-ack',
  'burst-ack',
  'window-update',
  'fin-wait-2-timeout',
  'time-wait-done',
  'time-wait-reused',
  'time-wait-rst-ignored',
  'aborted',
  'established-active',
  'established-passive',
  'window-scale-clamped',
  'sack-blocks-in',
  'dsack-in',
  'dsack-sent',
  'rack-lost',
  'rack-reorder-timer',
  'reordering-seen',
  'retransmit-lost-rexmit',
  'tlp-probe',
  'tlp-new-data',
  'retransmit-tlp',
  'tlp-recovery',
  'prr-limited',
  'undo-dsack',
  'undo-eifel',
  'undo-frto',
  'frto-new-data',
  'frto-spurious',
  'frto-real',
  'hystart-css',
  'hystart-css-resumed',
  'hystart-exit',
  'icmp-no-connection',
  'icmp-out-of-window',
  'icmp-soft-error',
  'icmp-aborted',
  'pmtu-lowered',
  'pmtu-ignored',
  'pmtu-blackhole',
  'ecn-negotiated',
  'ecn-ce-received',
  'ecn-ece-received',
  'ecn-reduced',
  'ecn-cwr-received',
  'send-memory-pressure',
  'receive-memory-pressure',
  'bbr-full-pipe',
  'bbr-probe-rtt',
  'pacing-wait',
] as const;

export type TcpCounterName = (typeof COUNTER_NAMES)[number];
export type TcpCounters = Readonly<Record<TcpCounterName, number>>;

/** Index of each counter in `TcpStack.counterValues`. */
export const COUNTER_INDEX: Readonly<Record<TcpCounterName, number>> = Object.fromEntries(
  COUNTER_NAMES.map((n, i) => [n, i]),
) as Record<TcpCounterName, number>;

/**
 * Indices of the counters bumped for every segment: looked up once here, since `count(name)` with
 * some 70 names goes through a megamorphic lookup (perf: ~2 % of the receive path).
 */
export const SEGMENT_COUNTERS = {
  segmentsIn: COUNTER_INDEX['segments-in'],
  bytesIn: COUNTER_INDEX['bytes-in'],
  segmentsOut: COUNTER_INDEX['segments-out'],
  bytesOut: COUNTER_INDEX['bytes-out'],
} as const;

export interface TcpStack {
  readonly config: TcpConfig;
  readonly key: SipKey;
  readonly conns: PMap<Tcb>;
  readonly listeners: ReadonlyMap<number, Listener>;
  /** Lower bounds of every connection's deadline (see `heapAt`). */
  readonly heap: PHeap;
  /** RFC 6056 algorithm 4 table of per-bucket increments. */
  readonly portTable: readonly number[];
  /** Counter values by `COUNTER_INDEX` (a typed array: one copy per step). */
  readonly counterValues: readonly number[];
  /** The same by name (built on each read). */
  readonly counters: TcpCounters;
  /** The latest `now` seen. */
  readonly now: number;
  /** Bytes in every connection's send queue (`sndq`), against `config.tcpMemory`. */
  readonly sndMem: number;
  /** Bytes received and not yet read (`rcvq`, out-of-order queue), against `config.tcpMemory`. */
  readonly rcvMem: number;
}

/** What the driver can set per connection. */
export interface ConnOptions {
  readonly noDelay?: boolean;
  readonly keepalive?: boolean;
  /**
   * Keep-alive times for this connection (RFC 9293 §3.8.4): Node's `setKeepAlive(true, delay)` sets the
   * idle time to `delay` and, through libuv, a 1 s interval and 10 probes.
   */
  readonly keepaliveTimes?: KeepaliveConfig;
  /**
   * The path MTU the driver already knows towards the peer (its RFC 1191 §6.3 cache): the
   * connection's segments are sized for it (pmtu.ts); only ever lowers the MSS.
   */
  readonly pathMtu?: number;
  /**
   * TCP segmentation offload (docs/TAP.md "Offloads"): full segments of new data leave as one output
   * of up to this many payload bytes (`SegmentOut.segmentSize`), which the driver hands to a link
   * that cuts it, or cuts itself. 0 (the default) or less than two segments: one segment per output.
   */
  readonly tsoMax?: number;
}

/**
 * What an ICMP error about one of our segments says (RFC 1122 §4.2.3.9, RFC 4443 §3.1), named by the
 * errno Linux maps it to (icmp_err_convert, icmpv6_err_convert); a neighbour that never answered ARP
 * or NDP is EHOSTUNREACH, as Linux reports it. The core only keeps and reports it.
 */
export type SoftError =
  | 'ENETUNREACH'
  | 'EHOSTUNREACH'
  | 'ENOPROTOOPT'
  | 'ECONNREFUSED'
  | 'EOPNOTSUPP'
  | 'EHOSTDOWN'
  | 'ENONET'
  | 'EACCES'
  | 'EPROTO';

export interface ConnectParams {
  readonly local: IpAddr;
  readonly remote: IpAddr;
  readonly remotePort: number;
  /** Chosen by RFC 6056 algorithm 4 when absent. */
  readonly localPort?: number;
  readonly options?: ConnOptions;
}

export type TcpEvent =
  /** A segment for one of our addresses: `src` is the peer. The payload is read, never retained. */
  | {
      readonly kind: 'segment';
      readonly now: number;
      readonly src: IpAddr;
      readonly dst: IpAddr;
      readonly repr: TcpRepr;
      readonly payload: Uint8Array;
      /** The IP header's ECN field (RFC 3168 §5: 3 is CE); absent: not ECN-capable. */
      readonly ecn?: number;
    }
  /** Fire every deadline <= now. */
  | { readonly kind: 'tick'; readonly now: number }
  | {
      readonly kind: 'listen';
      readonly now: number;
      readonly port: number;
      readonly backlog?: number;
      readonly addr?: IpAddr;
    }
  | { readonly kind: 'unlisten'; readonly now: number; readonly port: number }
  | { readonly kind: 'connect'; readonly now: number; readonly params: ConnectParams }
  /**
   * Queue bytes for sending; the reply says how many were taken. They are copied, unless `shared`:
   * then the queue keeps `data` itself, and the caller must never write it again (TCP reads it until
   * the peer acknowledges it, retransmissions included).
   */
  | {
      readonly kind: 'send';
      readonly now: number;
      readonly flow: FlowKey;
      readonly data: Uint8Array;
      readonly shared?: boolean;
    }
  /**
   * Take up to `max` bytes of received data (all when absent), as views, or copied into `into` (up
   * to its length; the reply's `data` is then empty). With `into` the receive queue's emptied blocks
   * are reused, so the state stepped must be the newest: no older state is stepped or read again.
   */
  | {
      readonly kind: 'recv';
      readonly now: number;
      readonly flow: FlowKey;
      readonly max?: number;
      readonly into?: Uint8Array;
    }
  /** Close the sending side (FIN after the queued data): half-close. */
  | { readonly kind: 'shutdown'; readonly now: number; readonly flow: FlowKey }
  /** Close both sides: FIN, no more reads; RST if unread data remains (RFC 9293 SHLD-3). */
  | { readonly kind: 'close'; readonly now: number; readonly flow: FlowKey }
  /** RFC 9293 §3.10.5 ABORT: RST and forget. */
  | { readonly kind: 'abort'; readonly now: number; readonly flow: FlowKey }
  | {
      readonly kind: 'set-options';
      readonly now: number;
      readonly flow: FlowKey;
      readonly options: ConnOptions;
    }
  /**
   * An ICMP error about a segment we sent (or its next hop never resolved): the quoted segment's
   * addresses and ports as we sent them (`local` is its source), and its sequence number.
   */
  | {
      readonly kind: 'icmp-error';
      readonly now: number;
      readonly local: IpAddr;
      readonly localPort: number;
      readonly remote: IpAddr;
      readonly remotePort: number;
      readonly seq: Seq;
      readonly error: SoftError;
      /**
       * Fragmentation Needed (RFC 1191) / Packet Too Big (RFC 8201): the MTU the path announced.
       * The error is then path-MTU information, not a soft error (pmtu.ts).
       */
      readonly mtu?: number;
    };

export type CloseReason =
  /** Both FINs exchanged and ours acknowledged (TIME-WAIT or LAST-ACK done). */
  | 'normal'
  /** A valid RST from the peer. */
  | 'reset'
  /** RST (or an unacceptable state) while opening: "connection refused". */
  | 'refused'
  /** SYN retransmissions exhausted. */
  | 'connect-timeout'
  /** Data/FIN retransmissions or zero-window probes exhausted (RFC 9293 §3.8.3 R2). */
  | 'timeout'
  | 'keepalive-timeout'
  /** Orphaned in FIN-WAIT-2 for `finWait2Timeout`. */
  | 'fin-wait-2'
  /** `abort()`, or `close()` with unread data, or new data after `close()`. */
  | 'aborted'
  /** `close()` before the connection was established. */
  | 'local'
  /** An ICMP error (or a failed neighbour resolution) about our SYN in SYN-SENT (RFC 1122 §4.2.3.9). */
  | 'unreachable';

/** Notifications are derived by comparing each touched connection before and after a step. */
export type TcpNotification =
  /** Reached a synchronized state (edge). */
  | {
      readonly kind: 'established';
      readonly flow: FlowKey;
      readonly role: 'active' | 'passive';
      readonly local: IpAddr;
      readonly localPort: number;
      readonly remote: IpAddr;
      readonly remotePort: number;
    }
  /** New bytes arrived in order (edge: emitted when the readable amount grew). */
  | { readonly kind: 'readable'; readonly flow: FlowKey; readonly available: number }
  /** A blocked writer may write again (edge: after a short `send`, once half the buffer is free). */
  | { readonly kind: 'writable'; readonly flow: FlowKey; readonly space: number }
  /** The peer's FIN arrived in order: after the readable bytes, nothing more comes (edge). */
  | { readonly kind: 'eof'; readonly flow: FlowKey }
  /**
   * The connection is over for the user (once; TIME-WAIT continues silently). `error`: the ICMP error
   * that aborted the open (`unreachable`), or the soft error last seen before a timeout.
   */
  | {
      readonly kind: 'closed';
      readonly flow: FlowKey;
      readonly reason: CloseReason;
      readonly error?: SoftError;
      /** Received bytes never read (views, never written again): they come before the end. */
      readonly unread?: readonly Uint8Array[];
    };

export interface SegmentOut {
  readonly kind: 'segment';
  /** Our address (IP source) and the peer's (IP destination). */
  readonly src: IpAddr;
  readonly dst: IpAddr;
  readonly repr: TcpRepr;
  /** Payload as views (never written again); copy them into the frame. */
  readonly payload: readonly Uint8Array[];
  readonly payloadLen: number;
  /** Send with ECT(0) in the IP header (RFC 3168 §6.1.2: new data of an ECN connection). */
  readonly ect?: boolean;
  /**
   * Set when the output stands for several segments (TSO, `ConnOptions.tsoMax`): payloads of this
   * many bytes, the last one possibly shorter, each with this header but for its sequence number;
   * PSH and FIN on the last only, CWR on the first only (`cutSegment`, src/link/gso.ts for frames).
   * It is never sent as one segment: the peer's MSS is `segmentSize`.
   */
  readonly segmentSize?: number;
}

export type TcpOutput = SegmentOut | TcpNotification;

export type TcpUserError =
  | 'no-connection'
  | 'connection-exists'
  | 'port-in-use'
  | 'no-ports'
  | 'no-resources'
  | 'closing'
  | 'not-connected'
  | 'invalid-argument';

export type TcpReply =
  | { readonly kind: 'none' }
  | { readonly kind: 'error'; readonly error: TcpUserError }
  | { readonly kind: 'connected'; readonly flow: FlowKey; readonly localPort: number }
  | { readonly kind: 'sent'; readonly accepted: number }
  | {
      readonly kind: 'data';
      readonly data: readonly Uint8Array[];
      readonly length: number;
      /** Bytes still queued after this read (so a reader knows when to stop asking). */
      readonly remaining: number;
      readonly eof: boolean;
    }
  | { readonly kind: 'ok' };

export interface TcpStep {
  readonly state: TcpStack;
  readonly outputs: readonly TcpOutput[];
  readonly reply: TcpReply;
}

/** Helpers for the mutable working copy of a record inside one step. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };
export type MutTcb = Mutable<Tcb>;

export function isSynchronized(s: TcpState): boolean {
  return s !== 'SynSent' && s !== 'SynReceived';
}
