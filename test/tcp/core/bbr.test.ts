/**
 * BBR v1 (congestion/bbr.ts) and the delivery-rate sampler it runs on (rate.ts): the sampler against a
 * hand-computed steady stream, then two cores across a bottleneck in virtual time (path-sim.ts):
 * STARTUP leaves once the pipe is full, PROBE_RTT comes every ~10 s, cwnd stays at 4 segments or
 * more, pacing spreads the data, and 3 % random loss costs BBR little where it cripples CUBIC.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Seq } from '../../../src/tcp/seq.js';
import { maxBw, sendQuantum } from '../../../src/tcp/core/congestion/bbr.js';
import type { CongestionName, Tcb } from '../../../src/tcp/core/index.js';
import { EMPTY_LOG, logSend, logTrim, type SentLog } from '../../../src/tcp/core/rack.js';
import {
  type RateSample,
  type RateState,
  rateAppLimited,
  rateInit,
  rateOnAck,
  rateSent,
} from '../../../src/tcp/core/rate.js';
import { createHash } from 'node:crypto';
import { UsageError } from '../../../src/cli/command.js';
import { parseUpArgs, upTcpConfig } from '../../../src/cli/up.js';
import { twoHosts } from '../../../src/testing/index.js';
import { propOptions } from '../../support/props.js';
import { type PathParams, type PathResult, runPath } from './path-sim.js';
import { runSim } from './sim.js';

const at = (n: number) => (n >>> 0) as Seq;

/**
 * A sender of `mss`-byte segments, one every `gap` ms from t = 0.5, each acknowledged alone `rtt` ms
 * after it left (RTT not a multiple of the gap, so sends and ACKs never tie): the samples of the ACKs.
 * `pause` leaves out the sends in [from, to) (the application had nothing to send).
 */
function steadyStream(
  mss: number,
  gap: number,
  rtt: number,
  count: number,
  pause?: { from: number; to: number },
): { sample: RateSample; sentAt: number }[] {
  const events: { t: number; kind: 'send' | 'ack'; i: number }[] = [];
  const sent: number[] = [];
  for (let t = 0.5; sent.length < count; t += gap) {
    if (pause !== undefined && t >= pause.from && t < pause.to) continue;
    const k = sent.length;
    sent.push(t);
    events.push({ t, kind: 'send', i: k }, { t: t + rtt, kind: 'ack', i: k });
  }
  events.sort((a, b) => a.t - b.t || (a.kind === 'ack' ? -1 : 1));
  let r: RateState = rateInit(0);
  let log: SentLog = EMPTY_LOG;
  let una = 0;
  let max = 0;
  const out: { sample: RateSample; sentAt: number }[] = [];
  for (const e of events) {
    if (e.kind === 'send') {
      const wasPaused = pause !== undefined && e.t >= pause.to && e.t < pause.to + gap;
      if (wasPaused) r = rateAppLimited(r, max - una);
      r = rateSent(r, max === una, e.t, mss, 0);
      log = logSend(log, at(max), at(max + mss), e.t, at(max), r.stamp);
      max += mss;
    } else {
      const s = rateOnAck(r, log, [{ start: at(una), end: at(una + mss) }], e.t);
      r = s.rate;
      una += mss;
      log = logTrim(log, at(una));
      out.push({ sample: s.sample, sentAt: sent[e.i]! });
    }
  }
  return out;
}

describe('delivery-rate samples (rate.ts)', () => {
  it('equal the bytes delivered over the interval on a steady path', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 100, max: 9000 }),
        fc.double({ min: 0.1, max: 5, noNaN: true }),
        // More than one segment in flight: a lone segment's rate is mss / RTT, whatever the gap.
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0.01, max: 0.99, noNaN: true }),
        (mss, gap, k, frac) => {
          const rtt = (k + frac) * gap;
          const samples = steadyStream(mss, gap, rtt, Math.ceil((3 * rtt) / gap) + 20);
          // What was sent after the first ACK (at 0.5 + rtt) is sampled over a full round at the sending rate.
          const steady = samples.filter((s) => s.sentAt > 0.5 + rtt + gap);
          expect(steady.length).toBeGreaterThan(0);
          for (const { sample } of steady) {
            expect(sample.interval).toBeGreaterThanOrEqual(rtt - 1e-9);
            expect(sample.deliveryRate).toBeCloseTo(sample.delivered / sample.interval, 9);
            expect(sample.deliveryRate / (mss / gap)).toBeCloseTo(1, 6);
            expect(sample.newlyDelivered).toBe(mss);
            expect(sample.rtt).toBeCloseTo(rtt, 9);
            expect(sample.isAppLimited).toBe(false);
          }
        },
      ),
      propOptions(100),
    );
  });

  it('ACK compression does not inflate the rate: the interval is at least the round trip', () => {
    let r: RateState = rateInit(0);
    let log: SentLog = EMPTY_LOG;
    // Ten segments at once, then an ACK of each 10 ms later, 0.01 ms apart (ACK compression).
    for (let i = 0; i < 10; i++) {
      r = rateSent(r, i === 0, 0, 1000, 0);
      log = logSend(log, at(i * 1000), at(i * 1000 + 1000), 0, at(i * 1000), r.stamp);
    }
    const rates: number[] = [];
    for (let i = 0; i < 10; i++) {
      const s = rateOnAck(r, log, [{ start: at(i * 1000), end: at(i * 1000 + 1000) }], 10 + i * 0.01);
      r = s.rate;
      rates.push(s.sample.interval);
      expect(s.sample.totalDelivered).toBe((i + 1) * 1000);
    }
    // Every interval is max(send 0, ack elapsed 10 + ...): the first one is the RTT itself.
    expect(rates[0]).toBe(10);
    expect(rates.every((x) => x >= 10)).toBe(true);
    // A segment delivered twice (a D-SACK's bytes are not new) adds nothing.
    const dup = rateOnAck(r, log, [], 11);
    expect(dup.sample.interval).toBe(-1);
    expect(dup.sample.totalDelivered).toBe(10_000);
  });

  it('an interval shorter than the minimum RTT is no sample (spurious retransmissions ACKed at once)', () => {
    let r: RateState = rateInit(0);
    let log: SentLog = EMPTY_LOG;
    let sndMax = 0;
    const send = (k: number, t: number, idle = false) => {
      r = rateSent(r, idle, t, 1000, 0);
      log = logSend(log, at(k * 1000), at(k * 1000 + 1000), t, at(Math.max(k * 1000, sndMax)), r.stamp);
      sndMax = Math.max(sndMax, k * 1000 + 1000);
    };
    const ack = (k: number, t: number) => {
      const x = rateOnAck(r, log, [{ start: at(k * 1000), end: at(k * 1000 + 1000) }], t);
      r = x.rate;
      log = logTrim(log, at(k * 1000 + 1000));
      return x.sample;
    };
    // Segment 0 at t = 0, ACKed at 10 (RTT 10); segments 1-3 at 10, segment 1 ACKed at 20.
    send(0, 0, true);
    ack(0, 10);
    for (const k of [1, 2, 3]) send(k, 10);
    expect(ack(1, 20).interval).toBe(10);
    // Segments 2 and 3 are resent (taken for lost) at 29 and 30.5, and their originals' ACKs come at
    // 30 and 31: the second sample's send and ACK intervals are 1.5 and 1 ms, below the 10 ms RTT.
    send(2, 29);
    expect(ack(2, 30).interval).toBe(19);
    send(3, 30.5);
    const s = ack(3, 31);
    expect(s.interval).toBe(-1);
    expect(s.deliveryRate).toBe(0);
    expect(s.newlyDelivered).toBe(1000);
    expect(s.totalDelivered).toBe(4000);
  });

  it('samples of what was sent after the application ran dry are app-limited, until the bubble is delivered', () => {
    const mss = 1000;
    const samples = steadyStream(mss, 1, 10.25, 200, { from: 60, to: 90 });
    const limited = samples.filter((s) => s.sample.isAppLimited).map((s) => s.sentAt);
    expect(limited.length).toBeGreaterThan(0);
    // Only segments sent after the pause, within about a round trip of it.
    expect(Math.min(...limited)).toBeGreaterThanOrEqual(90);
    expect(Math.max(...limited)).toBeLessThan(90 + 11);
    // Later samples are normal again.
    expect(samples.filter((s) => s.sentAt > 120).every((s) => !s.sample.isAppLimited)).toBe(true);
  });
});

/** 3 % loss, an LCG per run: the same drops for every algorithm. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1_664_525) + 1_013_904_223) >>> 0;
    return x / 2 ** 32;
  };
}

interface Trace {
  /** Every server step in ESTABLISHED: time, cwnd, mode and counters of interest. */
  readonly steps: {
    now: number;
    cwnd: number;
    mss: number;
    mode: string;
    loss: string;
    bw: number;
    una: number;
  }[];
  readonly result: PathResult;
  /** Goodput from the first to the last byte (bytes per ms). */
  readonly goodput: number;
}

const BUF = 8 << 20;

function run(
  congestion: CongestionName,
  o: {
    bytes: number;
    rate: number;
    delay: number;
    loss?: number;
    seed?: number;
    limit?: number;
    /** The client's ACKs leave in batches every this many ms (ACK compression). */
    ackBatch?: number;
    /** Everything the server sends from `at` ms after the connection is up, for `for` ms, is lost. */
    blackout?: { readonly at: number; readonly for: number };
  },
): Trace {
  const steps: Trace['steps'][number][] = [];
  const rnd = lcg(o.seed ?? 1);
  const loss = o.loss ?? 0;
  let start: number | null = null;
  let serverNow = 0;
  const p: PathParams = {
    mtu: 1500,
    tooBig: 'icmp',
    bytes: o.bytes,
    delay: o.delay,
    // A queue of one bandwidth-delay product (RTT = 4 · delay).
    bottleneck: { rate: o.rate, queue: o.rate * 4 * o.delay },
    drop: (from) => {
      if (from !== 'B') return false;
      const b = o.blackout;
      // `now` of the server's step that is sending (onServer runs after each).
      const since = start === null ? -1 : serverNow - start;
      if (b !== undefined && since >= b.at && since < b.at + b.for) return true;
      return loss > 0 && rnd() < loss;
    },
    server: { congestion, sndBuf: BUF, rcvBuf: BUF },
    client: { sndBuf: BUF, rcvBuf: BUF },
    limit: o.limit ?? 600_000,
    ...(o.ackBatch === undefined
      ? {}
      : {
          extraDelay: (now: number, from: 'A' | 'B') =>
            from === 'A' ? Math.ceil(now / o.ackBatch!) * o.ackBatch! - now : 0,
        }),
    onServer: (now, c: Tcb | undefined) => {
      serverNow = now;
      if (c === undefined || c.state !== 'Established') return;
      start ??= now;
      const cc = c.cc;
      steps.push({
        now,
        cwnd: cc.cwnd,
        mss: c.mss,
        mode: cc.algo === 'bbr' ? cc.mode : cc.algo,
        loss: cc.algo === 'bbr' ? cc.lossState : '',
        bw: cc.algo === 'bbr' ? maxBw(cc) : 0,
        una: c.sndUna,
      });
    },
  };
  const result = runPath(p);
  expect(result.done, `${congestion} finished`).toBe(true);
  return { steps, result, goodput: o.bytes / (result.now - (start ?? 0)) };
}

describe('BBR over a bottleneck (path-sim, virtual time)', () => {
  // 100 Mbit/s (12,500 bytes/ms of IP packets), RTT 20 ms: a BDP of 250 KB, the queue as much.
  const path = { rate: 12_500, delay: 5 };
  // What the bottleneck carries of payload: 1448 of each 1500-byte packet.
  const payloadRate = (path.rate * 1448) / 1500;

  it('STARTUP ends once the pipe is full, with BtlBw the bottleneck rate, then DRAIN and PROBE_BW', () => {
    const t = run('bbr', { ...path, bytes: 6_000_000 });
    const modes = t.steps.map((s) => s.mode).filter((m, i, a) => i === 0 || a[i - 1] !== m);
    // DRAIN may end on the ACK that began it (inflight already down to one BDP, as in Linux).
    expect(modes[0]).toBe('startup');
    expect(modes.slice(1, 3).filter((m) => m !== 'drain')[0]).toBe('probe-bw');
    expect(t.result.serverCounters['bbr-full-pipe']).toBe(1);
    const exit = t.steps.find((s) => s.mode !== 'startup')!;
    // The filter holds the bottleneck's rate (within 5 %), learnt in a few round trips of 20 ms.
    expect(exit.bw / payloadRate).toBeGreaterThan(0.95);
    expect(exit.bw / payloadRate).toBeLessThan(1.05);
    expect(exit.now).toBeLessThan(40 * 20);
    // Paced at the model's rate, the queue of one BDP overflows only in STARTUP.
    expect(t.result.drops.length).toBeGreaterThan(0);
    expect(t.result.drops.filter((d) => d > exit.now + 100)).toEqual([]);
    // Once out of STARTUP the model stays at the bottleneck rate.
    const later = t.steps.filter((s) => s.now > exit.now + 200);
    expect(later.length).toBeGreaterThan(0);
    for (const s of later) expect(Math.abs(s.bw / payloadRate - 1)).toBeLessThan(0.05);
    // And from then on the goodput is the bottleneck's (over 200 ms, before the transfer's tail).
    const a = later[0]!;
    const b = later.filter((s) => s.now <= a.now + 200).pop()!;
    expect(b.now - a.now).toBeGreaterThan(150);
    const goodput = ((b.una - a.una) >>> 0) / (b.now - a.now);
    expect(goodput / payloadRate).toBeGreaterThan(0.95);
  }, 60_000);

  it('enters PROBE_RTT about every 10 s for about 200 ms, at 4 segments', () => {
    // 4 Mbit/s for ~25 s of virtual time: two PROBE_RTT episodes.
    const t = run('bbr', { rate: 500, delay: 5, bytes: 12_000_000 });
    const entries: number[] = [];
    const exits: number[] = [];
    for (let i = 1; i < t.steps.length; i++) {
      const [a, b] = [t.steps[i - 1]!, t.steps[i]!];
      if (a.mode !== 'probe-rtt' && b.mode === 'probe-rtt') entries.push(b.now);
      if (a.mode === 'probe-rtt' && b.mode !== 'probe-rtt') exits.push(b.now);
      if (b.mode === 'probe-rtt') expect(b.cwnd).toBeLessThanOrEqual(4 * b.mss);
    }
    expect(t.result.now).toBeGreaterThan(20_000);
    expect(entries.length).toBeGreaterThanOrEqual(2);
    expect(t.result.serverCounters['bbr-probe-rtt']).toBe(entries.length);
    for (let i = 1; i < entries.length; i++) {
      const gap = entries[i]! - entries[i - 1]!;
      expect(gap).toBeGreaterThan(10_000);
      expect(gap).toBeLessThan(10_600);
    }
    // 200 ms once inflight is down to 4 segments and a round trip has passed.
    for (let i = 0; i < exits.length; i++) {
      const dur = exits[i]! - entries[i]!;
      expect(dur).toBeGreaterThanOrEqual(200);
      expect(dur).toBeLessThan(400);
    }
  }, 60_000);

  it('keeps cwnd at 4 segments or more, except between a timeout and the next ACK', () => {
    // Random loss alone no longer ends in a timeout here (RACK finds lost retransmissions): the last
    // run loses everything the server sends for 500 ms, its tail loss probe and retransmissions too.
    const runs = [
      { loss: 0 },
      { loss: 0.03 },
      { loss: 0.15 },
      { loss: 0.03, blackout: { at: 100, for: 500 } },
    ];
    for (const o of runs) {
      const t = run('bbr', { ...path, bytes: 2_000_000, seed: 5, ...o });
      for (const s of t.steps) {
        if (s.loss === 'loss' && s.cwnd === s.mss) continue;
        expect(s.cwnd, `${JSON.stringify(o)} at ${s.now}`).toBeGreaterThanOrEqual(4 * s.mss);
      }
      if (o.blackout !== undefined) expect(t.result.serverCounters['rto-expired']).toBeGreaterThan(0);
    }
  }, 60_000);

  it('paces: after STARTUP, no 1 ms slot carries more than a send quantum and a segment above the rate', () => {
    // ACKs arrive in batches every 5 ms: the ACK clock alone would send 5 ms of data at once.
    const t = run('bbr', { ...path, bytes: 10_000_000, ackBatch: 5 });
    const exit = t.steps.find((s) => s.mode === 'probe-bw')!.now;
    const slots = new Map<number, number>();
    for (const s of t.result.serverSegments) {
      if (s.at <= exit + 100) continue;
      const k = Math.floor(s.at);
      slots.set(k, (slots.get(k) ?? 0) + s.seg.payloadLen);
    }
    const quantum = sendQuantum((5 / 4) * payloadRate, 1460);
    const worst = Math.max(...slots.values());
    // Not vacuous: PROBE_BW sent for a good while (unpaced, STARTUP's losses last until the end).
    expect(slots.size).toBeGreaterThan(300);
    expect(worst).toBeLessThanOrEqual((5 / 4) * payloadRate + quantum + 1460);
    expect(t.result.serverCounters['pacing-wait']).toBeGreaterThan(100);
  }, 60_000);

  it('at 3 % random loss keeps at least half its clean goodput; CUBIC does not', () => {
    const bytes = 4_000_000;
    const lines: string[] = [];
    for (const congestion of ['bbr', 'cubic'] as const) {
      const clean = run(congestion, { ...path, bytes }).goodput;
      const shares: number[] = [];
      for (const seed of [1, 2, 3]) {
        const lossy = run(congestion, { ...path, bytes, loss: 0.03, seed, limit: 120_000 }).goodput;
        shares.push(lossy / clean);
      }
      lines.push(
        `${congestion}: clean ${clean.toFixed(0)} B/ms, at 3 % ${shares.map((x) => x.toFixed(2)).join(' ')}`,
      );
      for (const x of shares) {
        if (congestion === 'bbr') expect(x).toBeGreaterThanOrEqual(0.5);
        else expect(x).toBeLessThan(0.5);
      }
    }
    console.log(lines.join('; '));
  }, 120_000);

  it('replays identically (pure: same events, same outputs)', () => {
    const a = run('bbr', { ...path, bytes: 1_000_000, loss: 0.03, seed: 9 });
    const b = run('bbr', { ...path, bytes: 1_000_000, loss: 0.03, seed: 9 });
    expect(a.result.now).toBe(b.result.now);
    expect(a.steps).toEqual(b.steps);
  }, 60_000);

  it('works without SACK: cumulative ACKs alone give the samples', () => {
    const steps: number[] = [];
    const r = runPath({
      mtu: 1500,
      tooBig: 'icmp',
      bytes: 3_000_000,
      delay: 5,
      bottleneck: { rate: 12_500, queue: 250_000 },
      server: { congestion: 'bbr', sndBuf: BUF, rcvBuf: BUF, sack: false },
      client: { sndBuf: BUF, rcvBuf: BUF, sack: false },
      onServer: (_now, c) => {
        if (c?.cc.algo === 'bbr' && c.state === 'Established') {
          steps.push(maxBw(c.cc));
          // The send log is trimmed at SND.UNA by the sampler itself.
          expect(c.sent.entries.every((e) => ((e.end - c.sndUna) | 0) > 0)).toBe(true);
        }
      },
    });
    expect(r.done).toBe(true);
    expect(Math.max(...steps) / payloadRate).toBeGreaterThan(0.95);
    expect(Math.max(...steps) / payloadRate).toBeLessThan(1.05);
  }, 60_000);
});

describe('BBR over a lossy, duplicating, reordering wire (sim.ts)', () => {
  it('delivers the stream intact both ways, with the core invariants after every step', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom(0, 0.02, 0.1),
        fc.boolean(),
        (seed, loss, sack) => {
          const r = runSim({
            seed,
            link: { loss, dup: 0.02, delay: 5, jitter: 4, calmAfter: 30_000 },
            aToB: 300_000,
            bToA: 50_000,
            chunk: 65_536,
            readSize: 1 << 20,
            readPause: 0,
            configA: { congestion: 'bbr', sack },
            configB: { congestion: 'bbr' },
          });
          expect(r.violations).toEqual([]);
          expect(r.eofB).toBe(true);
          expect(Buffer.from(r.readB).equals(Buffer.from(r.sentAB))).toBe(true);
        },
      ),
      { seed: 1010, ...propOptions(12) },
    );
  }, 120_000);
});

describe('BBR between two whole stacks (memory link, virtual time)', () => {
  it.each([
    1, 2,
  ])('moves 1 MB intact through loss, duplication and reordering, paced by the driver (seed %i)', async (seed) => {
    const tcp = { congestion: 'bbr' as const };
    const { net, a, b } = twoHosts({
      mtu: 1500,
      delay: 2,
      a: { seed: 11, tcp, impair: { loss: 0.02, duplicate: 0.01, reorder: 0.05, seed } },
      b: { seed: 12, tcp },
    });
    const received = new Promise<Buffer>((resolve, reject) => {
      b.tcp
        .createServer((s) => {
          const chunks: Buffer[] = [];
          s.on('data', (c: Buffer) => chunks.push(c));
          s.on('end', () => resolve(Buffer.concat(chunks)));
          s.on('error', reject);
        })
        .listen(9);
    });
    const data = Buffer.alloc(1_000_000, 0).map((_, i) => (i * 7919 + seed) & 0xff);
    const client = a.tcp.connect({ host: '10.0.0.2', port: 9 });
    client.end(data);
    const got = await net.settle(received);
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
    expect(a.tcp.counters['pacing-wait']).toBeGreaterThan(0);
  }, 60_000);
});

describe('oasis up --cc', () => {
  const base = ['--tap', 'oasis0', '--ip', '10.0.0.2/24'];

  it.each(['cubic', 'newreno', 'bbr'] as const)('takes --cc %s into the TCP configuration', (cc) => {
    const o = parseUpArgs([...base, '--cc', cc]);
    expect(o.congestion).toBe(cc);
    expect(upTcpConfig(o).congestion).toBe(cc);
  });

  it("leaves the core's default (CUBIC) when absent, and refuses other names", () => {
    expect(upTcpConfig(parseUpArgs(base))).not.toHaveProperty('congestion');
    for (const v of ['', 'BBR', 'reno', 'vegas']) {
      expect(() => parseUpArgs([...base, `--cc=${v}`])).toThrow(UsageError);
    }
  });
});
