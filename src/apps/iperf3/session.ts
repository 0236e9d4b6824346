/**
 * What server and client share around a running test: the streams' final figures, the results
 * JSON for the peer, CPU use, and the summary lines.
 */
import type { Stack } from '../../stack/stack.js';
import type { StreamResult, TestResults } from './protocol.js';
import { formatLine, header, type LineKind, SEPARATOR, type StreamSample, sumSamples } from './results.js';
import type { TestStream } from './streams.js';

export interface CpuUse {
  readonly total: number;
  readonly user: number;
  readonly system: number;
}

/** CPU use of this process since the call, as percentages of the wall time (iperf3's cpu_util). */
export function cpuMeter(): () => CpuUse {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const d = process.cpuUsage(c0);
    const wall = Math.max(1, (performance.now() - t0) * 1000);
    return {
      total: (100 * (d.user + d.system)) / wall,
      user: (100 * d.user) / wall,
      system: (100 * d.system) / wall,
    };
  };
}

/**
 * Seconds for the UDP timestamps, on the clock iperf3 3.12 uses (iperf_time_now: CLOCK_MONOTONIC,
 * seen in a capture as sec = the host's uptime): the stack's clock shifted onto libuv's hrtime, which
 * reads CLOCK_MONOTONIC. A kernel iperf3 on the same machine then sees transit times near the real
 * one-way delay. Only differences matter for jitter (RFC 1889 §6.3.1), so any fixed offset would do.
 */
export function stackClock(stack: Stack): () => number {
  const offset = Number(process.hrtime.bigint()) / 1e6 - stack.now();
  return () => (offset + stack.now()) / 1000;
}

/** One stream's figures over the whole test, from its side. */
export function finalSample(s: TestStream, duration: number, withRetransmits: boolean): StreamSample {
  const c = s.counters();
  const base = { socket: s.socketNo, start: 0, end: duration, bytes: c.bytes, sender: s.sender };
  if (s.udp) {
    return s.sender
      ? { ...base, packets: c.packets }
      : { ...base, packets: c.packets, lost: c.lost, jitter: c.jitter, outOfOrder: c.outOfOrder };
  }
  return withRetransmits ? { ...base, retransmits: s.retransmits() ?? 0 } : base;
}

/** Our results for the peer (send_results): bytes, and for UDP the receiver's loss and jitter. */
export function ourResults(
  streams: readonly TestStream[],
  duration: number,
  cpu: CpuUse,
  withRetransmits: boolean,
): TestResults {
  const sending = streams[0]?.sender ?? false;
  const tcp = !(streams[0]?.udp ?? false);
  const out: StreamResult[] = streams.map((s) => {
    const c = s.counters();
    return {
      id: s.id,
      bytes: c.bytes,
      retransmits: sending && tcp && withRetransmits ? (s.retransmits() ?? 0) : -1,
      jitter: s.sender ? 0 : c.jitter,
      errors: s.sender ? 0 : c.lost,
      packets: c.packets,
      startTime: 0,
      endTime: duration,
    };
  });
  return {
    cpuUtilTotal: cpu.total,
    cpuUtilUser: cpu.user,
    cpuUtilSystem: cpu.system,
    senderHasRetransmits: sending ? (tcp && withRetransmits ? 1 : 0) : -1,
    streams: out,
  };
}

/** The line format for samples taken by a sender or a receiver. */
export function lineKind(udp: boolean, sender: boolean, withRetransmits: boolean): LineKind {
  if (udp) return sender ? 'udp-send' : 'udp-recv';
  return sender && withRetransmits ? 'tcp-retr' : 'tcp';
}

/**
 * Summary lines of one side (what an iperf3 server prints): the header, a line per stream and a
 * [SUM] line when there are several.
 */
export function sideSummary(
  samples: readonly StreamSample[],
  udp: boolean,
  role: 'sender' | 'receiver',
): string[] {
  const withRetr = samples.some((s) => s.retransmits !== undefined);
  // A UDP sender's summary uses the receiver's layout with no loss (as iperf3 prints it).
  const kind: LineKind = udp ? 'udp-recv' : withRetr ? 'tcp-retr' : 'tcp';
  const lines = [SEPARATOR, header(kind)];
  const shown = udp && role === 'sender' ? samples.map((s) => ({ ...s, lost: 0, jitter: 0 })) : samples;
  for (const s of shown) lines.push(formatLine(kind, s, role, s.socket));
  if (shown.length > 1) lines.push(formatLine(kind, sumSamples(shown), role, 'SUM'));
  return lines;
}
