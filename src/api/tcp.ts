/**
 * TCP (RFC 9293): the segment format and the whole protocol as a pure core.
 *
 * Wire: `parse(bytes, pseudoHeader)` checks the checksum and the options and gives a
 * {@link TcpRepr} and the payload; `emit(repr, buf, pseudoHeader)` writes a header (options
 * included) in front of a payload already at {@link headerLen}. Sequence numbers are compared with
 * `seqLt` and friends (RFC 9293 §3.4: modulo 2^32), never with `<`.
 *
 * Core: `init(config(secret), now)` makes a {@link TcpStack} (every connection and listener of one
 * host), `step(state, event)` returns `{ state, outputs, reply }`: segments to send, notifications
 * (established, readable, writable, eof, closed) and the answer to a user call (`connect`, `send`,
 * `recv`...). `deadline(state)` is when to step with a `tick`. The state is never mutated, so an old
 * state can be stepped again, and the same events give the same outputs: `replayTrace` checks a trace
 * written by `oasis up --tcp-trace` step by step. The 16-byte `secret` keys the initial sequence
 * numbers (RFC 6528), the ephemeral ports (RFC 6056) and SYN cookies: draw it from
 * `crypto.getRandomValues` outside simulations.
 *
 * ```ts
 * import { tcp, parseIpv4Addr } from 'oasis-net';
 * let state = tcp.init(tcp.config(crypto.getRandomValues(new Uint8Array(16))), 0);
 * const local = parseIpv4Addr('10.0.0.1')!;
 * const remote = parseIpv4Addr('10.0.0.2')!;
 * const r = tcp.step(state, { kind: 'connect', now: 0, params: { local, remote, remotePort: 80 } });
 * state = r.state; // r.outputs[0] is the SYN to send, r.reply the flow key of the new connection
 * ```
 *
 * @module
 */
export {
  emitTcp as emit,
  parseTcp as parse,
  type SackBlock,
  TCP_HEADER_LEN,
  TCP_MAX_OPTIONS_LEN,
  TCP_MAX_SACK_BLOCKS,
  TCP_OPT_EOL,
  TCP_OPT_MSS,
  TCP_OPT_NOP,
  TCP_OPT_SACK,
  TCP_OPT_SACK_PERMITTED,
  TCP_OPT_TIMESTAMPS,
  TCP_OPT_WINDOW_SCALE,
  type TcpEmitOptions,
  type TcpFlags,
  type TcpOptions,
  TcpPacket,
  type TcpParseOptions,
  type TcpRepr,
  type TcpTimestamps,
  tcpFlagBits as flagBits,
  tcpFlags as flags,
  tcpFlagsFromBits as flagsFromBits,
  tcpHeaderLen as headerLen,
  tcpOptionsLen as optionsLen,
} from '../tcp/wire.js';
export {
  type Seq,
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqInWindow,
  seqLe,
  seqLt,
  seqMax,
  seqMin,
  toSeq,
} from '../tcp/seq.js';
export {
  type CcState,
  type CloseReason,
  COUNTER_NAMES,
  type CongestionName,
  type ConnectParams,
  type ConnOptions,
  type ConnStats,
  connDeadline,
  type EcnMode,
  encodeSegment,
  type FlowKey,
  flowKey,
  type IpAddr,
  isSynchronized,
  type KeepaliveConfig,
  type Listener,
  type Recovery,
  type RexmtTimer,
  type SegmentOut,
  type SoftError,
  segmentLength,
  segmentPseudoHeader,
  TCP_DEFAULTS,
  type Tcb,
  type TcpConfig,
  type TcpCounterName,
  type TcpCounters,
  type TcpEvent,
  type TcpNotification,
  type TcpOutput,
  type TcpReply,
  type TcpStack,
  type TcpState,
  type TcpStep,
  type TcpUserError,
  tcpConfig as config,
  tcpConnection as connection,
  tcpConnections as connections,
  tcpCounters as counters,
  tcpDeadline as deadline,
  tcpInit as init,
  tcpListener as listener,
  tcpStep as step,
} from '../tcp/core/index.js';
export {
  decodeTraceLine,
  encodeTraceLine,
  type ReplayResult,
  replayTrace,
  type TraceLine,
  type TraceStart,
  type TraceStep,
} from '../tcp/core/trace.js';
