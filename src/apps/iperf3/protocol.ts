/**
 * The iperf3 wire protocol (esnet/iperf 3.12; see docs/IPERF3.md), as pure functions:
 * control-message bytes, the cookie, the parameter and results JSON, the UDP datagram header and
 * the receiver's loss and jitter arithmetic. Nothing here reads a clock or touches a socket.
 *
 * Control connection (TCP, default port 5201):
 *   client: 37-byte cookie (36 chars of [a-z2-7] + NUL)
 *   server: 1-byte state PARAM_EXCHANGE (9)
 *   client: u32 BE length + parameter JSON
 *   server: CREATE_STREAMS (10); the client opens the data streams (TCP: cookie; UDP: "9876"/"6789")
 *   server: TEST_START (1), TEST_RUNNING (2); data flows for `time` seconds
 *   client: TEST_END (4); server: EXCHANGE_RESULTS (13)
 *   client: u32 + results JSON; server: u32 + results JSON, DISPLAY_RESULTS (14)
 *   client: IPERF_DONE (16), then half-close.
 *
 * Contract: parsers never throw on any input; they return `Result<T, string>` with kebab-case kinds.
 */
import { setU32, u32 } from '../../bytes.js';
import type { Result } from '../../result.js';

export const IPERF3_PORT = 5201;
export const COOKIE_SIZE = 37;
/** `make_cookie()` draws from this alphabet (iperf_util.c). */
const COOKIE_CHARS = 'abcdefghijklmnopqrstuvwxyz234567';

/** Control states, sent as one signed byte (iperf_api.h). */
export const TEST_START = 1;
export const TEST_RUNNING = 2;
export const TEST_END = 4;
export const PARAM_EXCHANGE = 9;
export const CREATE_STREAMS = 10;
export const SERVER_TERMINATE = 11;
export const CLIENT_TERMINATE = 12;
export const EXCHANGE_RESULTS = 13;
export const DISPLAY_RESULTS = 14;
export const IPERF_DONE = 16;
export const ACCESS_DENIED = -1;
export const SERVER_ERROR = -2;

/** i_errno values the server reports after SERVER_ERROR (iperf_api.h). */
export const IE = {
  DURATION: 5,
  NUMSTREAMS: 6,
  OMIT: 12,
  UNIMP: 13,
  UDPBLOCKSIZE: 20,
  RECVPARAMS: 114,
  RECVRESULTS: 117,
  STREAMLISTEN: 202,
  STREAMACCEPT: 204,
  STREAMID: 208,
} as const;

/** iperf3's text for the i_errno values above (iperf_error.c), for a client's error message. */
export function ieMessage(ierrno: number): string {
  const texts: Record<number, string> = {
    [IE.DURATION]: 'test duration too long',
    [IE.NUMSTREAMS]: 'number of parallel streams too large',
    [IE.OMIT]: 'bogus value for --omit',
    [IE.UNIMP]: 'an option you are trying to set is not implemented yet',
    [IE.UDPBLOCKSIZE]: 'block size invalid',
    [IE.RECVPARAMS]: 'unable to receive parameters from client',
    [IE.RECVRESULTS]: 'unable to receive results',
    [IE.STREAMLISTEN]: 'unable to start stream listener',
    [IE.STREAMACCEPT]: 'unable to accept stream connection',
    [IE.STREAMID]: 'stream has an invalid id',
  };
  return texts[ierrno] ?? `i_errno ${ierrno}`;
}

export const DEFAULT_TCP_BLKSIZE = 128 * 1024;
export const DEFAULT_UDP_BLKSIZE = 1460;
/** Default UDP rate: 1 Mbit/s (`UDP_RATE`). */
export const UDP_RATE = 1024 * 1024;
export const DEFAULT_PACING_TIMER = 1000;
export const MAX_PARAMS_JSON = 8192;
/** Results have no limit in iperf3; we bound them so a peer cannot make us buffer without end. */
export const MAX_RESULTS_JSON = 4 * 1024 * 1024;
export const MAX_STREAMS = 128;
export const MIN_UDP_BLOCKSIZE = 16;
export const MAX_UDP_BLOCKSIZE = 65507;
export const MAX_TCP_BLKSIZE = 1024 * 1024;

/** UDP stream set-up: the client sends "9876", the server answers "6789" (iperf.h, little-endian). */
export const UDP_CONNECT_MSG = Uint8Array.of(0x39, 0x38, 0x37, 0x36);
export const UDP_CONNECT_REPLY = Uint8Array.of(0x36, 0x37, 0x38, 0x39);
/** 987654321 in little-endian byte order, answered by old servers. */
export const LEGACY_UDP_CONNECT_REPLY = Uint8Array.of(0xb1, 0x68, 0xde, 0x3a);

/** The signed state for one control byte. */
export function stateOf(byte: number): number {
  return byte >= 128 ? byte - 256 : byte;
}

/** The byte sent for a (possibly negative) state. */
export function stateByte(state: number): number {
  return state & 0xff;
}

/** Name of a control state, for messages. */
export function stateName(state: number): string {
  const names: Record<number, string> = {
    [TEST_START]: 'TEST_START',
    [TEST_RUNNING]: 'TEST_RUNNING',
    [TEST_END]: 'TEST_END',
    [PARAM_EXCHANGE]: 'PARAM_EXCHANGE',
    [CREATE_STREAMS]: 'CREATE_STREAMS',
    [SERVER_TERMINATE]: 'SERVER_TERMINATE',
    [CLIENT_TERMINATE]: 'CLIENT_TERMINATE',
    [EXCHANGE_RESULTS]: 'EXCHANGE_RESULTS',
    [DISPLAY_RESULTS]: 'DISPLAY_RESULTS',
    [IPERF_DONE]: 'IPERF_DONE',
    [ACCESS_DENIED]: 'ACCESS_DENIED',
    [SERVER_ERROR]: 'SERVER_ERROR',
  };
  return names[state] ?? `state ${state}`;
}

/** A cookie: 36 characters of the alphabet and a NUL; `random()` gives 32-bit unsigned numbers. */
export function makeCookie(random: () => number): Uint8Array {
  const c = new Uint8Array(COOKIE_SIZE);
  for (let i = 0; i < COOKIE_SIZE - 1; i++) c[i] = COOKIE_CHARS.charCodeAt(random() % COOKIE_CHARS.length);
  return c;
}

/** The cookie's text (up to its NUL), for the JSON output. */
export function cookieText(cookie: Uint8Array): string {
  let s = '';
  for (const b of cookie) {
    if (b === 0) break;
    s += String.fromCharCode(b);
  }
  return s;
}

/** Stream IDs: 1, then 3, 4, 5, ... (2 is skipped for old peers, iperf_add_stream). */
export function streamId(index: number): number {
  return index === 0 ? 1 : index + 2;
}

/** A length-prefixed JSON message: u32 BE byte length, then the JSON text without a NUL. */
export function frameJson(json: string): Uint8Array {
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(4 + body.length);
  setU32(out, 0, body.length);
  out.set(body, 4);
  return out;
}

/** The length in a JSON message's 4-byte prefix. */
export function jsonLength(prefix: Uint8Array): number {
  return prefix.length < 4 ? 0 : u32(prefix, 0);
}

/** What the client asks for in PARAM_EXCHANGE. */
export interface TestParams {
  readonly protocol: 'tcp' | 'udp';
  /** Seconds to omit at the start. */
  readonly omit: number;
  /** Test length in seconds (0 with `num`/`blockcount`). */
  readonly time: number;
  /** Bytes to send (`-n`), 0 for none. */
  readonly num: number;
  /** Blocks to send (`-k`), 0 for none. */
  readonly blockcount: number;
  readonly parallel: number;
  readonly reverse: boolean;
  readonly bidirectional: boolean;
  /** Block (TCP) or datagram (UDP) size. */
  readonly len: number;
  /** Target bit/s per stream; 0 means unlimited. */
  readonly bandwidth: number;
  /** Microseconds between pacing checks. */
  readonly pacingTimer: number;
  /** UDP sequence numbers are 64-bit. */
  readonly udpCounters64bit: boolean;
  readonly clientVersion?: string;
}

export function defaultParams(protocol: 'tcp' | 'udp'): TestParams {
  return {
    protocol,
    omit: 0,
    time: 10,
    num: 0,
    blockcount: 0,
    parallel: 1,
    reverse: false,
    bidirectional: false,
    len: protocol === 'tcp' ? DEFAULT_TCP_BLKSIZE : DEFAULT_UDP_BLKSIZE,
    bandwidth: protocol === 'tcp' ? 0 : UDP_RATE,
    pacingTimer: DEFAULT_PACING_TIMER,
    udpCounters64bit: false,
  };
}

/** The parameter JSON in the key order a 3.12 client uses (send_parameters, iperf_api.c). */
export function paramsJson(p: TestParams): string {
  const o: Record<string, unknown> = { [p.protocol]: true };
  o.omit = p.omit;
  o.time = p.time;
  o.num = p.num;
  o.blockcount = p.blockcount;
  o.parallel = p.parallel;
  if (p.reverse) o.reverse = true;
  if (p.bidirectional) o.bidirectional = true;
  o.len = p.len;
  if (p.bandwidth > 0) o.bandwidth = p.bandwidth;
  o.pacing_timer = p.pacingTimer;
  if (p.udpCounters64bit) o.udp_counters_64bit = 1;
  if (p.clientVersion !== undefined) o.client_version = p.clientVersion;
  return JSON.stringify(o);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function num(o: Record<string, unknown>, key: string, dflt: number): number | undefined {
  const v = o[key];
  if (v === undefined) return dflt;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function int(
  o: Record<string, unknown>,
  key: string,
  dflt: number,
  min: number,
  max: number,
): number | undefined {
  const v = num(o, key, dflt);
  return v !== undefined && Number.isInteger(v) && v >= min && v <= max ? v : undefined;
}

/** A parameter error: the kind, and the i_errno a server answers with. */
export interface ParamsError {
  readonly kind: string;
  readonly ierrno: number;
}

/**
 * Parses and validates the client's parameters like `get_parameters` (iperf_api.c): booleans must be
 * JSON `true`; unknown keys are ignored. What we do not implement (SCTP, --bidir) is an error.
 */
export function parseParams(text: string): Result<TestParams, ParamsError> {
  const bad = (kind: string, ierrno: number = IE.RECVPARAMS) =>
    ({ ok: false, error: { kind, ierrno } }) as const;
  if (text.length > MAX_PARAMS_JSON) return bad('params-too-long');
  const o = parseObject(text);
  if (!o) return bad('bad-json');
  const protocol = o.tcp === true ? 'tcp' : o.udp === true ? 'udp' : undefined;
  if (protocol === undefined) return bad(o.sctp === true ? 'sctp-unsupported' : 'no-protocol', IE.UNIMP);
  const d = defaultParams(protocol);
  const omit = int(o, 'omit', 0, 0, 600);
  if (omit === undefined) return bad('bad-omit', IE.OMIT);
  const time = int(o, 'time', d.time, 0, 86400);
  if (time === undefined) return bad('bad-time', IE.DURATION);
  const n = int(o, 'num', 0, 0, Number.MAX_SAFE_INTEGER);
  const blockcount = int(o, 'blockcount', 0, 0, Number.MAX_SAFE_INTEGER);
  if (n === undefined || blockcount === undefined) return bad('bad-end-condition');
  const parallel = int(o, 'parallel', 1, 1, MAX_STREAMS);
  if (parallel === undefined) return bad('bad-parallel', IE.NUMSTREAMS);
  if (o.bidirectional === true) return bad('bidirectional-unsupported', IE.UNIMP);
  const counters64 = o.udp_counters_64bit === true || o.udp_counters_64bit === 1;
  const minLen = protocol === 'udp' ? (counters64 ? MIN_UDP_BLOCKSIZE : 12) : 1;
  const maxLen = protocol === 'udp' ? MAX_UDP_BLOCKSIZE : MAX_TCP_BLKSIZE;
  const len = int(o, 'len', d.len, minLen, maxLen);
  if (len === undefined) return bad('bad-len', IE.UDPBLOCKSIZE);
  // A client leaves `bandwidth` out for an unlimited rate (send_parameters writes it only when set).
  const bandwidth = int(o, 'bandwidth', 0, 0, Number.MAX_SAFE_INTEGER);
  if (bandwidth === undefined) return bad('bad-bandwidth');
  const pacingTimer = int(o, 'pacing_timer', DEFAULT_PACING_TIMER, 1, 1_000_000) ?? DEFAULT_PACING_TIMER;
  const version = o.client_version;
  return {
    ok: true,
    value: {
      protocol,
      omit,
      time,
      num: n,
      blockcount,
      parallel,
      reverse: o.reverse === true,
      bidirectional: false,
      len,
      bandwidth,
      pacingTimer,
      udpCounters64bit: counters64,
      ...(typeof version === 'string' ? { clientVersion: version } : {}),
    },
  };
}

/** One stream in the results JSON (send_results / get_results, iperf_api.c). */
export interface StreamResult {
  readonly id: number;
  /** Sender: bytes sent; receiver: bytes received. */
  readonly bytes: number;
  /** -1 when not the sender or not known. */
  readonly retransmits: number;
  /** UDP receiver: jitter in seconds. */
  readonly jitter: number;
  /** UDP receiver: datagrams lost. */
  readonly errors: number;
  /** UDP: datagrams sent (sender) or the highest sequence number seen (receiver). */
  readonly packets: number;
  /** Seconds from the start of the test. */
  readonly startTime?: number;
  readonly endTime?: number;
}

export interface TestResults {
  readonly cpuUtilTotal: number;
  readonly cpuUtilUser: number;
  readonly cpuUtilSystem: number;
  /** 1 when the writer sent and knows its retransmissions, 0 when it does not know, -1 as receiver. */
  readonly senderHasRetransmits: number;
  readonly congestionUsed?: string;
  readonly streams: readonly StreamResult[];
}

export function resultsJson(r: TestResults): string {
  const o: Record<string, unknown> = {
    cpu_util_total: r.cpuUtilTotal,
    cpu_util_user: r.cpuUtilUser,
    cpu_util_system: r.cpuUtilSystem,
    sender_has_retransmits: r.senderHasRetransmits,
  };
  if (r.congestionUsed !== undefined) o.congestion_used = r.congestionUsed;
  o.streams = r.streams.map((s) => ({
    id: s.id,
    bytes: s.bytes,
    retransmits: s.retransmits,
    jitter: s.jitter,
    errors: s.errors,
    packets: s.packets,
    ...(s.startTime === undefined ? {} : { start_time: s.startTime }),
    ...(s.endTime === undefined ? {} : { end_time: s.endTime }),
  }));
  return JSON.stringify(o);
}

/**
 * A 3.12 receiver writes uint64 -1 as 18446744073709551615, which JSON.parse reads as
 * 18446744073709552000: anything at or above 2^63 is -1.
 */
export function signed64(v: number): number {
  return v >= 2 ** 63 ? -1 : v;
}

/** Parses the peer's results like `get_results`: the required fields must be numbers. */
export function parseResults(text: string): Result<TestResults, string> {
  if (text.length > MAX_RESULTS_JSON) return { ok: false, error: 'results-too-long' };
  const o = parseObject(text);
  if (!o) return { ok: false, error: 'bad-json' };
  const top = ['cpu_util_total', 'cpu_util_user', 'cpu_util_system', 'sender_has_retransmits'].map((k) =>
    num(o, k, Number.NaN),
  );
  if (top.some((v) => v === undefined || Number.isNaN(v)) || !Array.isArray(o.streams))
    return { ok: false, error: 'missing-field' };
  const streams: StreamResult[] = [];
  for (const s of o.streams as unknown[]) {
    if (typeof s !== 'object' || s === null) return { ok: false, error: 'bad-stream' };
    const so = s as Record<string, unknown>;
    const f = ['id', 'bytes', 'retransmits', 'jitter', 'errors', 'packets'].map((k) =>
      num(so, k, Number.NaN),
    );
    if (f.some((v) => v === undefined || Number.isNaN(v))) return { ok: false, error: 'bad-stream' };
    const [id, bytes, retransmits, jitter, errors, packets] = f as number[];
    const start = num(so, 'start_time', Number.NaN);
    const end = num(so, 'end_time', Number.NaN);
    streams.push({
      id: id!,
      bytes: bytes!,
      retransmits: signed64(retransmits!),
      jitter: jitter!,
      errors: signed64(errors!),
      packets: signed64(packets!),
      ...(start === undefined || Number.isNaN(start) ? {} : { startTime: start }),
      ...(end === undefined || Number.isNaN(end) ? {} : { endTime: end }),
    });
  }
  const [total, user, system, has] = top as number[];
  const congestion = o.congestion_used;
  return {
    ok: true,
    value: {
      cpuUtilTotal: total!,
      cpuUtilUser: user!,
      cpuUtilSystem: system!,
      senderHasRetransmits: signed64(has!),
      ...(typeof congestion === 'string' ? { congestionUsed: congestion } : {}),
      streams,
    },
  };
}

/**
 * The UDP datagram header (iperf_udp.c), big-endian:
 *   [sec u32][usec u32][seq u32]            default
 *   [sec u32][usec u32][seq u64]            with udp_counters_64bit
 * followed by padding up to `len`. `seq` starts at 1.
 */
export interface UdpHeader {
  readonly sec: number;
  readonly usec: number;
  readonly seq: number;
}

export function udpHeaderLen(counters64: boolean): number {
  return counters64 ? 16 : 12;
}

/** Writes the header at the start of `buf`; `buf` must hold it (a bug otherwise). */
export function emitUdpHeader(h: UdpHeader, buf: Uint8Array, counters64: boolean): number {
  const n = udpHeaderLen(counters64);
  if (buf.length < n) throw new RangeError(`emitUdpHeader: buffer of ${buf.length} < ${n}`);
  setU32(buf, 0, h.sec);
  setU32(buf, 4, h.usec);
  if (counters64) {
    setU32(buf, 8, Math.floor(h.seq / 2 ** 32));
    setU32(buf, 12, h.seq >>> 0);
  } else {
    setU32(buf, 8, h.seq);
  }
  return n;
}

export function parseUdpHeader(bytes: Uint8Array, counters64: boolean): Result<UdpHeader, string> {
  if (bytes.length < udpHeaderLen(counters64)) return { ok: false, error: 'datagram-too-short' };
  const seq = counters64 ? u32(bytes, 8) * 2 ** 32 + u32(bytes, 12) : u32(bytes, 8);
  return { ok: true, value: { sec: u32(bytes, 0), usec: u32(bytes, 4), seq } };
}

/** The header's timestamp as seconds (for jitter). */
export function udpSendTime(h: UdpHeader): number {
  return h.sec + h.usec / 1e6;
}

/** Receiver statistics of one UDP stream (iperf_udp_recv). */
export interface UdpRecvStats {
  /** Highest sequence number seen. */
  readonly highestSeq: number;
  /** Datagrams lost: sequence gaps, less the late ones that filled them. */
  readonly lost: number;
  readonly outOfOrder: number;
  /** Datagrams received. */
  readonly received: number;
  /** RFC 1889 interarrival jitter, in seconds. */
  readonly jitter: number;
  /** Transit time (arrival - send) of the previous datagram, seconds; null before the first. */
  readonly prevTransit: number | null;
}

export const UDP_RECV_START: UdpRecvStats = {
  highestSeq: 0,
  lost: 0,
  outOfOrder: 0,
  received: 0,
  jitter: 0,
  prevTransit: null,
};

/**
 * One datagram received with sequence number `seq`, sent at `sent` and arriving at `arrival`
 * (seconds on the sender's clock and ours; only differences matter).
 *
 * Loss as iperf3 counts it: a forward gap adds the missing numbers; a datagram below the highest
 * seen is out of order and takes one back. Jitter per RFC 1889 §6.3.1 and A.8:
 * D = (Rj - Ri) - (Sj - Si), J += (|D| - J) / 16, in seconds. The first datagram only sets the
 * transit (iperf3's "first packet" hack; older iperf3 started from a transit of 0, which put the
 * clocks' offset into the first sample).
 */
export function udpReceive(s: UdpRecvStats, seq: number, sent: number, arrival: number): UdpRecvStats {
  let { highestSeq, lost, outOfOrder } = s;
  if (seq > highestSeq) {
    if (seq > highestSeq + 1) lost += seq - 1 - highestSeq;
    highestSeq = seq;
  } else {
    outOfOrder++;
    if (lost > 0) lost--;
  }
  const transit = arrival - sent;
  let jitter = s.jitter;
  if (s.prevTransit !== null) {
    const d = Math.abs(transit - s.prevTransit);
    jitter += (d - jitter) / 16;
  }
  return { highestSeq, lost, outOfOrder, received: s.received + 1, jitter, prevTransit: transit };
}

/** Lost percentage as iperf3 prints it: lost / total, where total is the highest sequence seen. */
export function lostPercent(lost: number, total: number): number {
  return total > 0 ? (100 * lost) / total : 0;
}
