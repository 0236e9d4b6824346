/**
 * Traces of the pure core, for replay (utcp's `trace_replay`): the configuration the core started
 * with, then every event it was stepped with and a digest of what came out. Because the core is a
 * pure function of (state, event), feeding the events back through `tcpStep` from the same start
 * must give the same digests; `replayTrace` checks exactly that.
 *
 * A trace is JSON lines. Byte arrays (payloads, IPv6 addresses, the secret) are written as
 * `{"$hex": "..."}`.
 */
import { toHex } from '../../bytes.js';
import { tcpInit, tcpStep } from './stack.js';
import type { TcpConfig, TcpEvent, TcpOutput, TcpReply, TcpStack } from './types.js';

export interface TraceStart {
  readonly kind: 'start';
  readonly now: number;
  readonly config: TcpConfig;
}

export interface TraceStep {
  readonly kind: 'step';
  readonly event: TcpEvent;
  /** Digests of the outputs and the reply, in order. */
  readonly outputs: readonly string[];
}

export type TraceLine = TraceStart | TraceStep;

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // The holder's own value: a Node Buffer has already been turned into {type, data} by its toJSON.
  const original = this[key];
  return original instanceof Uint8Array ? { $hex: toHex(original) } : value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && '$hex' in value && typeof value.$hex === 'string') {
    const hex = value.$hex;
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  return value;
}

export function encodeTraceLine(line: TraceLine): string {
  return JSON.stringify(line, replacer);
}

/** Parses one line; malformed input is an error value, not an exception. */
export function decodeTraceLine(
  text: string,
): TraceLine | { readonly kind: 'error'; readonly message: string } {
  try {
    const v = JSON.parse(text, reviver) as TraceLine;
    if (v.kind === 'start' || v.kind === 'step') return v;
    return { kind: 'error', message: 'not a trace line' };
  } catch (e) {
    return { kind: 'error', message: String(e) };
  }
}

/** A stable one-line digest of an output (payload bytes included as hex). */
export function digestOutput(o: TcpOutput | TcpReply): string {
  if ('payload' in o && o.kind === 'segment') {
    const payload = o.payload.map((c) => toHex(c)).join('');
    return JSON.stringify({ ...o, payload }, replacer);
  }
  return JSON.stringify(o, replacer);
}

export function digestStep(outputs: readonly TcpOutput[], reply: TcpReply): string[] {
  return [...outputs.map(digestOutput), `reply ${digestOutput(reply)}`];
}

export interface ReplayResult {
  readonly steps: number;
  /** The first step whose outputs differ from the recorded ones, if any. */
  readonly mismatch?: {
    readonly step: number;
    readonly expected: readonly string[];
    readonly actual: readonly string[];
  };
  readonly state: TcpStack | undefined;
}

/** Feeds a trace back through the core from its start and compares every step's outputs. */
export function replayTrace(lines: readonly TraceLine[]): ReplayResult {
  let state: TcpStack | undefined;
  let steps = 0;
  for (const line of lines) {
    if (line.kind === 'start') {
      state = tcpInit(line.config, line.now);
      continue;
    }
    if (!state) continue;
    const r = tcpStep(state, line.event);
    state = r.state;
    steps++;
    const actual = digestStep(r.outputs, r.reply);
    if (actual.length !== line.outputs.length || actual.some((d, i) => d !== line.outputs[i])) {
      return { steps, mismatch: { step: steps, expected: line.outputs, actual }, state };
    }
  }
  return { steps, state };
}
