/**
 * The client's summary as iperf3 prints it (sender and receiver lines per stream, [SUM] lines for
 * several streams) and its `--json` document (start / intervals / end, iperf_json_* in iperf_api.c).
 * Pure: it only reshapes a finished `Iperf3ClientReport`.
 */
import type { Iperf3ClientReport } from './client.js';
import { lostPercent, type StreamResult, streamId } from './protocol.js';
import {
  bitsPerSecond,
  formatLine,
  header,
  type LineKind,
  SEPARATOR,
  type StreamSample,
  sampleJson,
  seconds,
  sumSamples,
  usec,
} from './results.js';

/** The peer's figures for one stream, as a sample of the peer's side. */
function remoteSample(
  r: StreamResult | undefined,
  local: StreamSample,
  remoteSends: boolean,
  hasRetransmits: boolean,
  udp: boolean,
): StreamSample {
  const start = r?.startTime ?? 0;
  const end = r?.endTime !== undefined && r.endTime > start ? r.endTime : local.end;
  const base = {
    socket: local.socket,
    start: 0,
    end: end - start,
    bytes: r?.bytes ?? 0,
    sender: local.sender,
  };
  if (udp) {
    return remoteSends
      ? { ...base, packets: r?.packets ?? 0 }
      : { ...base, packets: r?.packets ?? 0, lost: r?.errors ?? 0, jitter: r?.jitter ?? 0 };
  }
  return remoteSends && hasRetransmits ? { ...base, retransmits: Math.max(0, r?.retransmits ?? 0) } : base;
}

/** Sender and receiver samples of every stream: ours from our counters, the peer's from its results. */
export function sides(report: Iperf3ClientReport): { sent: StreamSample[]; received: StreamSample[] } {
  const udp = report.params.protocol === 'udp';
  const weSend = !report.params.reverse;
  const hasRetr = report.remote.senderHasRetransmits === 1;
  const remote = report.local.map((l, i) =>
    remoteSample(
      report.remote.streams.find((r) => r.id === streamId(i)),
      l,
      !weSend,
      hasRetr,
      udp,
    ),
  );
  return weSend
    ? { sent: [...report.local], received: remote }
    : { sent: remote, received: [...report.local] };
}

/** The lines after the intervals: a separator, the header, sender and receiver lines, "iperf Done." */
export function summaryLines(report: Iperf3ClientReport): string[] {
  const udp = report.params.protocol === 'udp';
  const { sent, received } = sides(report);
  const withRetr = !udp && sent.some((s) => s.retransmits !== undefined);
  const sendKind: LineKind = udp ? 'udp-recv' : withRetr ? 'tcp-retr' : 'tcp';
  const recvKind: LineKind = udp ? 'udp-recv' : 'tcp';
  // A UDP sender line shows no loss and no jitter, and the datagrams it sent.
  const sentShown = udp ? sent.map((s) => ({ ...s, lost: 0, jitter: 0 })) : sent;
  const lines = [SEPARATOR, header(sendKind)];
  for (let i = 0; i < sent.length; i++) {
    lines.push(formatLine(sendKind, sentShown[i]!, 'sender', sent[i]!.socket));
    lines.push(formatLine(recvKind, received[i]!, 'receiver', received[i]!.socket));
  }
  if (sent.length > 1) {
    lines.push(formatLine(sendKind, sumSamples(sentShown), 'sender', 'SUM'));
    lines.push(formatLine(recvKind, sumSamples(received), 'receiver', 'SUM'));
  }
  lines.push('', 'iperf Done.');
  return lines;
}

function withoutOmitted(s: StreamSample, udp: boolean): object {
  return sampleJson(s, udp, { omitted: false });
}

/** A UDP stream's end entry: our bytes and rate, the receiver's loss and jitter. */
function udpEnd(sent: StreamSample, received: StreamSample, local: StreamSample): object {
  const packets = sent.packets ?? 0;
  const lost = received.lost ?? 0;
  return {
    ...(local.socket === 0 ? {} : { socket: local.socket }),
    start: usec(local.start),
    end: usec(local.end),
    seconds: usec(seconds(local)),
    bytes: local.bytes,
    bits_per_second: bitsPerSecond(local),
    jitter_ms: (received.jitter ?? 0) * 1000,
    lost_packets: lost,
    packets,
    lost_percent: lostPercent(lost, packets),
    out_of_order: received.outOfOrder ?? 0,
    sender: local.sender,
  };
}

/** iperf3's `--json` document for a finished test. */
export function jsonReport(report: Iperf3ClientReport, systemInfo = ''): object {
  const p = report.params;
  const udp = p.protocol === 'udp';
  const weSend = !p.reverse;
  const { sent, received } = sides(report);
  const as = (s: StreamSample) => ({ ...s, sender: weSend });
  const sumSent = sumSamples(sent.map(as));
  const sumReceived = sumSamples(received.map(as));
  const cpu = report.cpu;
  const end: Record<string, unknown> = {};
  if (udp) {
    end.streams = report.local.map((l, i) => ({ udp: udpEnd(sent[i]!, received[i]!, l) }));
    end.sum = udpEnd(sumSent, sumReceived, sumSamples(report.local.map(as)));
    end.sum_sent = sampleJson({ ...sumSent, lost: 0, jitter: 0 }, true);
    end.sum_received = sampleJson({ ...sumReceived, sender: false }, true);
  } else {
    end.streams = sent.map((s, i) => ({
      sender: sampleJson(as(s), false),
      receiver: sampleJson(as(received[i]!), false),
    }));
    end.sum_sent = sampleJson(sumSent, false);
    end.sum_received = sampleJson(sumReceived, false);
  }
  end.cpu_utilization_percent = {
    host_total: cpu.total,
    host_user: cpu.user,
    host_system: cpu.system,
    remote_total: report.remote.cpuUtilTotal,
    remote_user: report.remote.cpuUtilUser,
    remote_system: report.remote.cpuUtilSystem,
  };
  if (report.remote.congestionUsed !== undefined) end.receiver_tcp_congestion = report.remote.congestionUsed;
  return {
    start: {
      connected: report.connected.map((c) => ({
        socket: c.socket,
        local_host: c.localHost,
        local_port: c.localPort,
        remote_host: c.remoteHost,
        remote_port: c.remotePort,
      })),
      version: 'oasis iperf3 (protocol of iperf 3.12)',
      system_info: systemInfo,
      timestamp: {
        time: new Date(report.timestamp * 1000).toUTCString(),
        timesecs: Math.floor(report.timestamp),
      },
      connecting_to: { host: report.host, port: report.port },
      cookie: report.cookie,
      test_start: {
        protocol: udp ? 'UDP' : 'TCP',
        num_streams: p.parallel,
        blksize: p.len,
        omit: p.omit,
        duration: p.time,
        bytes: p.num,
        blocks: p.blockcount,
        reverse: p.reverse ? 1 : 0,
        tos: 0,
        target_bitrate: p.bandwidth,
      },
    },
    intervals: report.intervals.map((iv) => ({
      streams: iv.streams.map((s) => withoutOmitted(s, udp)),
      sum: withoutOmitted(iv.sum, udp),
    })),
    end,
  };
}
