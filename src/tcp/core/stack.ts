/**
 * The TCP core's entry points: `tcpInit`, `tcpStep(state, event) -> {state, outputs, reply}` and
 * `tcpDeadline(state)` (docs/ARCHITECTURE.md "Pure cores"), plus read-only queries.
 *
 * Contract:
 * - Pure: no clock, randomness, timers or I/O; time, the secret and the configuration are data. The
 *   same state and events give the same outputs (replay, simulation, shrinking).
 * - Never mutates its input: connection records are replaced, the connection table is a persistent
 *   map and the timer heap a persistent heap, buffers are persistent ropes (rope.ts). An old state stays
 *   valid and can be stepped again.
 * - Never throws on network input; `tcpInit` throws only on a nonsensical configuration (a bug).
 * - Time never goes backwards: an event older than the state is processed at the state's time.
 * - Ownership: payloads of `segment` events and `send` data are copied when retained; payload views
 *   in outputs and in `recv` replies are never written again and stay valid.
 * - `tcpDeadline` is the earliest time at which `tick` has something to do, exactly.
 */
import { type Draft as DraftT, Draft } from './draft.js';
import { icmpError } from './icmp.js';
import { checkConfig, segmentArrives } from './input.js';
import { output } from './output.js';
import { pmapEmpty, pmapEntries, pmapGet } from './pmap.js';
import { sipKey } from './siphash.js';
import { countersOf, StackState } from './state.js';
import { connDeadline, runTimers } from './timers.js';
import {
  COUNTER_NAMES,
  type FlowKey,
  type Listener,
  type Tcb,
  TCP_DEFAULTS,
  type TcpConfig,
  type TcpCounters,
  type TcpEvent,
  type TcpReply,
  type TcpStack,
  type TcpStep,
} from './types.js';
import { abort, close, connect, listen, recv, send, setOptions, shutdown, unlisten } from './user.js';
import { assertNever } from '../../result.js';

/** RFC 6056 algorithm 4 table size. */
const PORT_TABLE = 64;

/** A full configuration from the defaults. */
export function tcpConfig(secret: Uint8Array, overrides: Partial<Omit<TcpConfig, 'secret'>> = {}): TcpConfig {
  return { ...TCP_DEFAULTS, ...overrides, secret };
}

export function tcpInit(config: TcpConfig, now = 0): TcpStack {
  checkConfig(config);
  return new StackState(
    config,
    sipKey(config.secret),
    pmapEmpty(),
    new Map(),
    null,
    new Array<number>(PORT_TABLE).fill(0),
    new Array<number>(COUNTER_NAMES.length).fill(0),
    now,
  );
}

const HOOKS = { output, deadline: connDeadline };

const NONE: TcpReply = { kind: 'none' };

export function tcpStep(s: TcpStack, e: TcpEvent): TcpStep {
  const d = new Draft(s, Math.max(e.now, s.now), HOOKS);
  return d.finish(dispatch(d, e));
}

function dispatch(d: DraftT, e: TcpEvent): TcpReply {
  switch (e.kind) {
    case 'segment':
      segmentArrives(d, { local: e.dst, remote: e.src, repr: e.repr, payload: e.payload, ecn: e.ecn });
      return NONE;
    case 'tick':
      for (let key = d.popDue(); key !== null; key = d.popDue()) runTimers(d, key);
      return NONE;
    case 'listen':
      return listen(d, e.port, e.backlog, e.addr);
    case 'unlisten':
      return unlisten(d, e.port);
    case 'connect':
      return connect(d, e.params);
    case 'send':
      return send(d, e.flow, e.data, e.shared === true);
    case 'recv':
      return recv(d, e.flow, e.max, e.into);
    case 'shutdown':
      return shutdown(d, e.flow);
    case 'close':
      return close(d, e.flow);
    case 'abort':
      return abort(d, e.flow);
    case 'set-options':
      return setOptions(d, e.flow, e.options);
    case 'icmp-error':
      icmpError(d, e);
      return NONE;
    default:
      return assertNever(e);
  }
}

/** The earliest time `tick` has something to do, `null` when no timer runs. */
export function tcpDeadline(s: TcpStack): number | null {
  return s.heap?.at ?? null;
}

export function tcpConnection(s: TcpStack, flow: FlowKey): Tcb | undefined {
  return pmapGet(s.conns, flow);
}

export function tcpConnections(s: TcpStack): Tcb[] {
  return [...pmapEntries(s.conns)].map(([, t]) => t);
}

/** Every counter by name (drops, retransmissions, timer events; TcpCounterName lists them). */
export function tcpCounters(s: TcpStack): TcpCounters {
  return countersOf(s.counterValues);
}

export function tcpListener(s: TcpStack, port: number): Listener | undefined {
  return s.listeners.get(port);
}
