/**
 * An Oasis iperf3 client against an Oasis iperf3 server, two stacks on a 20 Mbit/s memory link in
 * virtual time: TCP both ways, parallel streams, UDP both ways, a busy server, and the report shapes.
 */
import { describe, expect, it } from 'vitest';
import {
  type Iperf3ClientOptions,
  type Iperf3ClientReport,
  iperf3Client,
} from '../../src/apps/iperf3/client.js';
import { jsonReport, summaryLines } from '../../src/apps/iperf3/report.js';
import { type Iperf3Server, iperf3Server, type ServerTestReport } from '../../src/apps/iperf3/server.js';
import { twoHosts } from '../../src/testing/index.js';

const RATE = 20e6;

/** Client 10.0.0.1 and server 10.0.0.2 on a 1 ms, 20 Mbit/s wire (lossy with `loss`, seed 3). */
function network(opts: { loss?: number } = {}) {
  const {
    net: sim,
    a: client,
    b: server,
  } = twoHosts({
    mtu: 1500,
    delay: 1,
    rate: RATE,
    queueBytes: 128 * 1024,
    ...(opts.loss ? { impair: { loss: opts.loss, seed: 3 } } : {}),
    ipv6Enabled: false,
    a: { seed: 21 },
    b: { seed: 22 },
  });
  const lines: string[] = [];
  const srv = iperf3Server(server, 5201, { log: (l) => lines.push(l) });
  sim.scheduler.runUntil(1000);
  return { sim, scheduler: sim.scheduler, client, server, srv, lines };
}

function nextTest(srv: Iperf3Server): Promise<ServerTestReport> {
  return new Promise((resolve, reject) => {
    srv.once('test-done', resolve);
    srv.once('test-error', reject);
  });
}

async function run(
  opts: Partial<Iperf3ClientOptions>,
  net = network(),
): Promise<{ report: Iperf3ClientReport; served: ServerTestReport; lines: string[]; clientLines: string[] }> {
  const clientLines: string[] = [];
  const served = nextTest(net.srv);
  const report = await net.sim.settle(
    iperf3Client(net.client, { host: '10.0.0.2', time: 2, log: (l) => clientLines.push(l), ...opts }),
  );
  return { report, served: await net.sim.settle(served), lines: net.lines, clientLines };
}

const sum = (xs: readonly { bytes: number }[]) => xs.reduce((a, x) => a + x.bytes, 0);

describe('iperf3 between two Oasis stacks', () => {
  it('measures a TCP test from client to server', async () => {
    const { report, served, lines, clientLines } = await run({});
    const sent = sum(report.local);
    const received = sum(report.remote.streams);
    // 2 s at 20 Mbit/s is 5 MB at most; TCP should fill most of the link.
    expect(sent).toBeGreaterThan(0.6 * ((RATE * 2) / 8));
    expect(sent).toBeLessThan(1.2 * ((RATE * 2) / 8));
    expect(received).toBeGreaterThan(0.6 * ((RATE * 2) / 8));
    expect(received).toBeLessThanOrEqual(sent);
    expect(report.remote.senderHasRetransmits).toBe(-1);
    expect(report.remote.streams.map((s) => s.id)).toEqual([1]);
    expect(report.intervals).toHaveLength(2);
    expect(served.peer?.streams[0]?.bytes).toBe(sent);
    expect(served.params).toMatchObject({ protocol: 'tcp', time: 2, parallel: 1, reverse: false });
    // The server's lines: banner, connection, header, intervals, summary.
    expect(lines.join('\n')).toMatch(/Server listening on 5201 \(test #1\)/);
    expect(lines.join('\n')).toMatch(/Accepted connection from 10\.0\.0\.1, port \d+/);
    expect(lines.join('\n')).toMatch(/\[ {2}5\] {3}0\.00-1\.00 {3}sec .*bits\/sec/);
    expect(lines.some((l) => /receiver$/.test(l))).toBe(true);
    expect(clientLines[0]).toBe('Connecting to host 10.0.0.2, port 5201');
    expect(clientLines[1]).toMatch(
      /^\[ {2}5\] local 10\.0\.0\.1 port \d+ connected to 10\.0\.0\.2 port 5201$/,
    );
    const summary = summaryLines(report);
    expect(summary.filter((l) => / sender$/.test(l))).toHaveLength(1);
    expect(summary.filter((l) => / receiver$/.test(l))).toHaveLength(1);
    expect(summary.at(-1)).toBe('iperf Done.');
  });

  it('measures a reverse TCP test (-R): the server sends', async () => {
    const { report, served } = await run({ reverse: true });
    const received = sum(report.local);
    expect(received).toBeGreaterThan(0.6 * ((RATE * 2) / 8));
    expect(report.remote.senderHasRetransmits).toBe(1);
    expect(report.remote.streams[0]!.bytes).toBeGreaterThanOrEqual(received);
    expect(served.params.reverse).toBe(true);
    const doc = jsonReport(report) as {
      end: { sum_sent: { bytes: number }; sum_received: { bytes: number } };
    };
    expect(doc.end.sum_received.bytes).toBe(received);
    expect(doc.end.sum_sent.bytes).toBe(report.remote.streams[0]!.bytes);
  });

  it('runs four parallel streams (-P 4) with IDs 1, 3, 4, 5', async () => {
    const { report, clientLines } = await run({ parallel: 4 });
    expect(report.local).toHaveLength(4);
    expect(report.remote.streams.map((s) => s.id)).toEqual([1, 3, 4, 5]);
    for (const s of report.remote.streams) expect(s.bytes).toBeGreaterThan(0);
    expect(sum(report.remote.streams)).toBeGreaterThan(0.6 * ((RATE * 2) / 8));
    expect(clientLines.some((l) => l.startsWith('[SUM]'))).toBe(true);
    const summary = summaryLines(report);
    expect(summary.filter((l) => l.startsWith('[SUM]'))).toHaveLength(2);
    const doc = jsonReport(report) as {
      start: { test_start: { num_streams: number } };
      end: { streams: unknown[] };
    };
    expect(doc.start.test_start.num_streams).toBe(4);
    expect(doc.end.streams).toHaveLength(4);
  });

  it("reports each stream's own retransmissions through loss, in the sender's results and intervals", async () => {
    const net = network({ loss: 0.02 });
    const before = net.client.tcp.counters;
    const { report, served } = await run({ parallel: 2, time: 3 }, net);
    const after = net.client.tcp.counters;
    const stackRetransmits = Object.keys(after)
      .filter((k) => k.startsWith('retransmit-'))
      .reduce((a, k) => a + (after[k] ?? 0) - (before[k] ?? 0), 0);
    const perStream = report.local.map((s) => s.retransmits ?? -1);
    // Both connections lost segments on their own (the split was once all on the first stream).
    for (const r of perStream) expect(r).toBeGreaterThan(0);
    // Sent again during the test only: at most what the stack retransmitted in all.
    expect(perStream[0]! + perStream[1]!).toBeLessThanOrEqual(stackRetransmits);
    // The intervals carry each stream's own figures too (the final one also counts what was resent
    // between the last interval and the results).
    for (const [i, r] of perStream.entries()) {
      const inIntervals = report.intervals.reduce((a, iv) => a + (iv.streams[i]!.retransmits ?? 0), 0);
      expect(inIntervals).toBeGreaterThan(0);
      expect(inIntervals).toBeLessThanOrEqual(r);
    }
    // The server receives: its results carry no retransmissions; ours do, per stream.
    expect(served.peer?.streams.map((s) => s.retransmits)).toEqual(perStream);
  });

  it('paces UDP at -b 5M with no loss on a clean link', async () => {
    const { report, served } = await run({ udp: true, bandwidth: 5e6 });
    const local = report.local[0]!;
    const remote = report.remote.streams[0]!;
    expect(report.params.len).toBe(1448);
    // 5 Mbit/s for 2 s in 1448-byte datagrams: about 863 datagrams.
    expect(local.packets).toBeGreaterThan(800);
    expect(local.packets).toBeLessThan(900);
    expect(remote.packets).toBe(local.packets);
    expect(remote.errors).toBe(0);
    // The link is not loaded: interarrival jitter stays below a millisecond.
    expect(remote.jitter).toBeLessThan(0.001);
    expect(served.streams[0]!.packets).toBe(local.packets);
    const doc = jsonReport(report) as {
      end: {
        sum: { packets: number; lost_packets: number; lost_percent: number };
        sum_received: { packets: number };
      };
    };
    expect(doc.end.sum.packets).toBe(local.packets);
    expect(doc.end.sum.lost_packets).toBe(0);
    expect(doc.end.sum_received.packets).toBe(remote.packets);
  });

  it('measures UDP loss when the rate exceeds the link (-b 40M on 20 Mbit/s)', async () => {
    const { report } = await run({ udp: true, bandwidth: 40e6, time: 2 });
    const remote = report.remote.streams[0]!;
    expect(remote.errors).toBeGreaterThan(0);
    // About half is lost at twice the line rate.
    const pct = (100 * remote.errors) / remote.packets;
    expect(pct).toBeGreaterThan(30);
    expect(pct).toBeLessThan(70);
  });

  it('receives UDP in reverse mode (-u -R) with two streams', async () => {
    const { report, served } = await run({ udp: true, reverse: true, parallel: 2, bandwidth: 2e6 });
    expect(report.local).toHaveLength(2);
    for (const s of report.local) {
      expect(s.packets).toBeGreaterThan(300);
      expect(s.lost).toBe(0);
    }
    // The server may send a datagram or two after the client stopped counting (TEST_END in flight).
    served.streams.forEach((s, i) => {
      expect(s.packets).toBeGreaterThanOrEqual(report.local[i]!.packets!);
      expect(s.packets).toBeLessThanOrEqual(report.local[i]!.packets! + 2);
    });
  });

  it('answers a second client with ACCESS_DENIED while a test runs', async () => {
    const net = network();
    const first = iperf3Client(net.client, { host: '10.0.0.2', time: 2 });
    const second = new Promise<Error>((resolve) => {
      net.scheduler.at(net.scheduler.now() + 500, () => {
        iperf3Client(net.client, { host: '10.0.0.2', time: 1 }).then(
          () => resolve(new Error('second test ran')),
          (e: Error) => resolve(e),
        );
      });
    });
    const err = await net.sim.settle(second);
    expect(err.message).toBe('the server is busy running a test. try again later');
    const report = await net.sim.settle(first);
    expect(sum(report.local)).toBeGreaterThan(0);
    // The server is free again afterwards.
    const again = await run({ time: 1 }, net);
    expect(sum(again.report.local)).toBeGreaterThan(0);
  });

  it('reports the server refusing bad parameters (SERVER_ERROR with i_errno)', async () => {
    const net = network();
    const failed = new Promise<Error>((resolve) => net.srv.once('test-error', resolve));
    await expect(
      net.sim.settle(iperf3Client(net.client, { host: '10.0.0.2', time: 1, udp: true, len: 8 })),
    ).rejects.toThrow('the server reported an error: block size invalid (i_errno 20, errno 0)');
    expect((await net.sim.settle(failed)).message).toBe('bad parameters from the client: bad-len');
    expect(net.lines).toContain('iperf3: error - bad parameters from the client: bad-len');
  });

  it('fails clearly when nothing listens', async () => {
    const net = network();
    net.srv.close();
    await expect(net.sim.settle(iperf3Client(net.client, { host: '10.0.0.2', time: 1 }))).rejects.toThrow(
      /unable to connect to server 10\.0\.0\.2 port 5201: connect ECONNREFUSED/,
    );
  });
});
