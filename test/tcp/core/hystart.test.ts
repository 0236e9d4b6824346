/**
 * HyStart++ (RFC 9406 §4): the algorithm on scripted rounds of ACKs, a property (a constant RTT never
 * ends slow start early), and two cores across a bottleneck with a drop-tail queue (path-sim.ts,
 * virtual time): slow start leaves before the queue overflows, and the transfer is no slower.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CSS_GROWTH_DIVISOR,
  CSS_ROUNDS,
  HS_INIT,
  HS_L,
  type HyStartState,
  hystartAck,
  N_RTT_SAMPLE,
} from '../../../src/tcp/core/congestion/hystart.js';
import type { CongestionName, Tcb } from '../../../src/tcp/core/index.js';
import { type Seq, seqAdd } from '../../../src/tcp/seq.js';
import { propOptions } from '../../support/props.js';
import { runPath } from './path-sim.js';

const MSS = 1000;
const MAX = Number.MAX_SAFE_INTEGER;

/** Drives `hystartAck` through whole rounds: `rtts[i]` is the RTT of every ACK of round i. */
class Rounds {
  hs: HyStartState = HS_INIT;
  cwnd = 10 * MSS;
  ssthresh = MAX;
  una = 1000 as Seq;
  max = 1000 as Seq;

  /**
   * One round: cwnd is sent, then acknowledged `per` bytes per ACK, ACK i with RTT `rtt(i)`. The ACK
   * of the last byte ends HyStart++'s round and so counts in the next: it carries no sample here.
   */
  round(rtt: number | ((i: number) => number), per = MSS): void {
    this.max = seqAdd(this.una, this.cwnd);
    const end = this.max;
    for (let i = 0; this.una !== end; i++) {
      const n = Math.min(per, end - this.una);
      const last = seqAdd(this.una, n) === end;
      this.ack(n, last ? null : typeof rtt === 'number' ? rtt : rtt(i));
    }
  }

  ack(n: number, sample: number | null): void {
    this.una = seqAdd(this.una, n);
    if (this.cwnd >= this.ssthresh) return;
    const r = hystartAck(this.hs, this.cwnd, this.ssthresh, n, MSS, { sample, una: this.una, max: this.max });
    this.hs = r.hs;
    this.cwnd = r.cwnd;
    this.ssthresh = r.ssthresh;
  }
}

describe('HyStart++ rounds (RFC 9406 §4.2)', () => {
  it('slow start grows by min(N, L·SMSS) per ACK, L = 8', () => {
    const r = new Rounds();
    r.max = seqAdd(r.una, 100 * MSS);
    r.ack(20 * MSS, 20);
    expect(r.cwnd).toBe(10 * MSS + HS_L * MSS);
    r.ack(3 * MSS, 20);
    expect(r.cwnd).toBe(21 * MSS);
  });

  it("leaves for CSS when a round's minimum RTT rises by RttThresh, then returns when it falls", () => {
    const r = new Rounds();
    r.round(40);
    r.round(40);
    expect(r.hs.phase).toBe('ss');
    // RttThresh = clamp(40 / 8, 4, 16) = 5 ms: 44 ms is not enough.
    r.round(44);
    expect(r.hs.phase).toBe('ss');
    const before = r.cwnd;
    // Now RttThresh = 44 / 8 = 5.5 ms; the eighth sample makes the round's minimum 50.
    r.round((i) => (i < N_RTT_SAMPLE - 1 ? 60 : 50));
    expect(r.hs.phase, 'min 50 >= 44 + 5.5').toBe('css');
    expect(r.hs.cssBaselineMinRtt).toBe(50);
    expect(r.ssthresh).toBe(MAX);
    // In CSS, cwnd grows a quarter as fast.
    const c0 = r.cwnd;
    r.ack(2 * MSS, 50);
    expect(r.cwnd - c0).toBe((2 * MSS) / CSS_GROWTH_DIVISOR);
    expect(before).toBeLessThan(c0);
    r.round(50);
    expect(r.hs.phase).toBe('css');
    // The RTT falls below the baseline: the exit was spurious, back to slow start.
    r.round(45);
    expect(r.hs.phase).toBe('ss');
  });

  it('after CSS_ROUNDS rounds in CSS, ssthresh = cwnd: congestion avoidance', () => {
    const r = new Rounds();
    r.round(20);
    r.round(30);
    expect(r.hs.phase).toBe('css');
    // The round CSS began in is the first of CSS_ROUNDS.
    for (let i = 0; i < CSS_ROUNDS - 2; i++) {
      r.round(30);
      expect(r.hs.phase).toBe('css');
    }
    // The ACK that completes the fifth round ends CSS; cwnd stays where it was.
    r.round(30);
    expect(r.hs.phase).toBe('off');
    expect(r.ssthresh).toBe(r.cwnd);
  });

  it('needs N_RTT_SAMPLE samples in a round before judging it', () => {
    const r = new Rounds();
    r.round(20);
    // 8 ACKs of a round of which only 7 carry an RTT sample (no timestamps on one).
    r.max = seqAdd(r.una, 9 * MSS);
    for (let i = 0; i < 8; i++) r.ack(MSS, i === 0 ? null : 60);
    expect(r.hs.rttSampleCount).toBe(N_RTT_SAMPLE - 1);
    expect(r.hs.phase).toBe('ss');
  });

  it('never leaves slow start early while the RTT is constant (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 64 * MSS }), fc.boolean()), {
          minLength: 1,
          maxLength: 400,
        }),
        fc.integer({ min: 1, max: 40 }),
        (rtt, acks, window) => {
          const r = new Rounds();
          r.max = seqAdd(r.una, window * MSS);
          for (const [n, sampled] of acks) {
            // A new window goes out whenever the last one is acknowledged.
            if (r.una === r.max || ((r.una - r.max) | 0) > 0) r.max = seqAdd(r.una, r.cwnd);
            r.ack(n, sampled ? rtt : null);
            expect(r.hs.phase).toBe('ss');
            expect(r.ssthresh).toBe(MAX);
          }
        },
      ),
      { seed: 9406, ...propOptions(300) },
    );
  });
});

const RATE = 1250; // bytes per ms: 10 Mbit/s
const BYTES = 4_000_000;

interface Run {
  readonly time: number;
  readonly cssAt: number | null;
  readonly firstDrop: number | null;
  readonly drops: number;
  readonly exits: number;
}

/** The server sends BYTES to the client across a bottleneck of RATE with a `queue`-byte buffer. */
function across(congestion: CongestionName, hystart: boolean, delay: number, queue: number): Run {
  let cssAt: number | null = null;
  let last: Tcb | undefined;
  const r = runPath({
    mtu: 1500,
    tooBig: 'icmp',
    bytes: BYTES,
    delay,
    limit: 60_000,
    bottleneck: { rate: RATE, queue },
    // Buffers past the path's BDP + queue: the window, not the buffers, is what fills the queue.
    server: { congestion, hystart, sndBuf: 8 << 20 },
    client: { rcvBuf: 8 << 20 },
    onServer: (now, conn, c) => {
      if (cssAt === null && c['hystart-css'] > 0) cssAt = now;
      last = conn ?? last;
    },
  });
  expect(r.done).toBe(true);
  expect(last).toBeDefined();
  return {
    time: r.now,
    cssAt,
    firstDrop: r.drops[0] ?? null,
    drops: r.drops.length,
    exits: r.serverCounters['hystart-css'],
  };
}

describe('HyStart++ across a bottleneck (path-sim, virtual time)', () => {
  // One-way delay 20 ms per hop direction: RTT 80 ms, BDP 100 kB (67 segments).
  const delay = 20;
  const bdp = RATE * 4 * delay;

  it.each<CongestionName>([
    'cubic',
    'newreno',
  ])('%s: slow start ends before the queue overflows, and the transfer is no slower', (cc) => {
    const on = across(cc, true, delay, 3 * bdp);
    const off = across(cc, false, delay, 3 * bdp);
    expect(on.cssAt, 'HyStart++ left slow start').not.toBeNull();
    expect(
      on.firstDrop === null || on.cssAt! < on.firstDrop,
      `CSS at ${on.cssAt}, first drop ${on.firstDrop}`,
    ).toBe(true);
    // Without it, slow start runs into the full queue.
    expect(off.cssAt).toBeNull();
    expect(off.firstDrop).not.toBeNull();
    expect(on.time, `with ${on.time} ms, without ${off.time} ms`).toBeLessThanOrEqual(off.time * 1.05);
  }, 60_000);

  it('a constant RTT (no queue) never ends slow start early', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.constantFrom<CongestionName>('cubic', 'newreno'),
        (d, cc) => {
          let exits = 0;
          let cwnd = 0;
          const r = runPath({
            mtu: 1500,
            tooBig: 'icmp',
            bytes: 2_000_000,
            delay: d,
            server: { congestion: cc },
            onServer: (_now, conn, c) => {
              exits = c['hystart-css'];
              if (conn !== undefined) cwnd = Math.max(cwnd, conn.cc.cwnd);
            },
          });
          expect(r.done).toBe(true);
          expect(exits).toBe(0);
          expect(r.serverCounters['fast-recovery'] + r.serverCounters['rto-expired']).toBe(0);
        },
      ),
      { seed: 4406, ...propOptions(6) },
    );
  }, 60_000);
});
