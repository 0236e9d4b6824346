/**
 * The core's persistent data structures against naive models: every old version must still read the
 * same after newer versions were built from it (persistence), and the answers must match the model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { heapInsert, heapPop, type PHeap } from '../../../src/tcp/core/pheap.js';
import {
  type PMap,
  pmapEmpty,
  pmapEntries,
  pmapGet,
  pmapRemove,
  pmapSet,
} from '../../../src/tcp/core/pmap.js';
import {
  EMPTY_OOO,
  isSacked,
  lostBoundary,
  type OooQueue,
  oooInsert,
  oooSackBlocks,
  oooTake,
  rangeUnion,
  scoreboardAdd,
  scoreboardTrim,
} from '../../../src/tcp/core/ranges.js';
import {
  EMPTY_ROPE,
  type Rope,
  ropeAppend,
  ropeAppendShared,
  ropeCopy,
  ropeDrop,
  ropeRead,
  ropeTakeInto,
} from '../../../src/tcp/core/rope.js';
import { acceptable } from '../../../src/tcp/core/input.js';
import { rttBackoff, rttInit, rttSample } from '../../../src/tcp/core/rtt.js';
import { sipHash24, sipKey } from '../../../src/tcp/core/siphash.js';
import { cubic } from '../../../src/tcp/core/congestion/cubic.js';
import { newReno } from '../../../src/tcp/core/congestion/newreno.js';
import { type Seq, seqAdd, seqDiff, toSeq } from '../../../src/tcp/seq.js';
import { propOptions } from '../../support/props.js';
import { WRAP_POINTS } from '../arb.js';

describe('SipHash-2-4', () => {
  // Reference vectors from the SipHash paper (Aumasson & Bernstein 2012, appendix A; the
  // reference implementation's vectors.h): key 00..0f, message 00..(n-1).
  const key = sipKey(Uint8Array.from({ length: 16 }, (_, i) => i));
  const hex = (h: [number, number]): string => h.map((w) => w.toString(16).padStart(8, '0')).join('');
  it.each([
    [0, '726fdb47dd0e0e31'],
    [1, '74f839c593dc67fd'],
    [8, '93f5f5799a932462'],
    [15, 'a129ca6149be45e5'],
  ])('vector of length %i', (n, want) => {
    expect(
      hex(
        sipHash24(
          key,
          Uint8Array.from({ length: n }, (_, i) => i),
        ),
      ),
    ).toBe(want);
  });
});

describe('persistent map', () => {
  const opArb = fc.array(
    fc.tuple(
      fc.boolean(),
      fc.integer({ min: 0, max: 300 }).map((n) => `k${n}`),
      fc.integer(),
    ),
    { maxLength: 400 },
  );
  it('behaves like Map, and old versions never change', () => {
    fc.assert(
      fc.property(opArb, (ops) => {
        let m: PMap<number> = pmapEmpty();
        const model = new Map<string, number>();
        const versions: Array<[PMap<number>, Map<string, number>]> = [];
        for (const [set, k, v] of ops) {
          if (set) {
            m = pmapSet(m, k, v);
            model.set(k, v);
          } else {
            m = pmapRemove(m, k);
            model.delete(k);
          }
          versions.push([m, new Map(model)]);
        }
        for (const [pm, mm] of versions) {
          expect(pm.size).toBe(mm.size);
          for (const [k, v] of mm) expect(pmapGet(pm, k)).toBe(v);
          expect(new Map(pmapEntries(pm))).toEqual(mm);
        }
      }),
      propOptions(100),
    );
  }, 300_000);
});

describe('persistent heap', () => {
  it('pops in (time, key) order, and old versions are untouched', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.string({ maxLength: 2 }))),
        (items) => {
          let h: PHeap = null;
          for (const [at, key] of items) h = heapInsert(h, at, key);
          const saved = h;
          const out: Array<[number, string]> = [];
          while (h !== null) {
            out.push([h.at, h.key]);
            h = heapPop(h);
          }
          const sorted = [...items].sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
          expect(out).toEqual(sorted);
          expect(saved?.at ?? null).toBe(sorted[0]?.[0] ?? null);
        },
      ),
      propOptions(),
    );
  });
});

/** Byte equality, fast on long arrays (toEqual walks them element by element). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

describe('rope', () => {
  type Op =
    | { kind: 'append' | 'share'; n: number; from: number }
    | { kind: 'drop'; n: number }
    | { kind: 'branch'; v: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constantFrom('append' as const, 'share' as const),
      n: fc.integer({ min: 0, max: 40_000 }),
      from: fc.nat(255),
    }),
    fc.record({ kind: fc.constant('drop' as const), n: fc.integer({ min: 0, max: 50_000 }) }),
    fc.record({ kind: fc.constant('branch' as const), v: fc.nat(20) }),
  );
  it('matches a byte-array model, across branches of old versions', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const versions: Array<[Rope, Uint8Array]> = [[EMPTY_ROPE, new Uint8Array(0)]];
        let cur = 0;
        for (const op of ops) {
          const [r, model] = versions[cur]!;
          if (op.kind === 'branch') {
            cur = op.v % versions.length;
            continue;
          }
          let next: [Rope, Uint8Array];
          if (op.kind === 'append' || op.kind === 'share') {
            const data = Uint8Array.from({ length: op.n }, (_, i) => (op.from + i) & 255);
            const input = data.slice();
            // A shared append keeps `input` itself (never written again); a copying one may not.
            const nr = op.kind === 'share' ? ropeAppendShared(r, input) : ropeAppend(r, input);
            if (op.kind === 'append') input.fill(0);
            else if (op.n > 0) expect(ropeRead(nr, r.length, op.n)[0]!.buffer).toBe(input.buffer);
            const nm = new Uint8Array(model.length + data.length);
            nm.set(model);
            nm.set(data, model.length);
            next = [nr, nm];
          } else {
            next = [ropeDrop(r, op.n), model.slice(Math.min(op.n, model.length))];
          }
          versions.push(next);
          cur = versions.length - 1;
        }
        for (const [r, model] of versions) {
          expect(r.length).toBe(model.length);
          expect(same(ropeCopy(r), model)).toBe(true);
          const mid = model.length >> 1;
          expect(ropeRead(r, mid, 100).reduce((n, c) => n + c.length, 0)).toBe(
            Math.min(100, model.length - mid),
          );
        }
      }),
      propOptions(100),
    );
  }, 300_000);

  it('copies out with ropeTakeInto, and the blocks it reuses never change a live rope', () => {
    // Three receive queues (newest versions only, as a driver keeps them) sharing the spare blocks.
    const opArb = fc.record({
      rope: fc.nat(2),
      take: fc.boolean(),
      n: fc.integer({ min: 0, max: 70_000 }),
      from: fc.nat(255),
    });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const ropes: Rope[] = [EMPTY_ROPE, EMPTY_ROPE, EMPTY_ROPE];
        const models: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0), new Uint8Array(0)];
        for (const op of ops) {
          const r = ropes[op.rope]!;
          const model = models[op.rope]!;
          if (op.take) {
            const into = new Uint8Array(op.n).fill(0xee);
            const next = ropeTakeInto(r, op.n, into);
            const took = Math.min(op.n, model.length);
            expect(same(into.subarray(0, took), model.subarray(0, took))).toBe(true);
            expect(into.subarray(took).every((b) => b === 0xee)).toBe(true);
            ropes[op.rope] = next;
            models[op.rope] = model.slice(took);
          } else {
            const data = new Uint8Array(op.n);
            for (let i = 0; i < op.n; i++) data[i] = (op.from + i * 7) & 255;
            ropes[op.rope] = ropeAppend(r, data, op.from % 4 !== 0);
            const nm = new Uint8Array(model.length + data.length);
            nm.set(model);
            nm.set(data, model.length);
            models[op.rope] = nm;
          }
          for (let i = 0; i < 3; i++) expect(same(ropeCopy(ropes[i]!), models[i]!)).toBe(true);
        }
      }),
      propOptions(100),
    );
  }, 300_000);

  it('gives a block emptied by ropeTakeInto to the next super-frame-sized append', () => {
    const a = ropeAppend(EMPTY_ROPE, new Uint8Array(60_000).fill(1), true);
    const block = ropeRead(a, 0, 1)[0]!.buffer;
    expect(block.byteLength).toBe(64 * 1024);
    expect(ropeTakeInto(a, 60_000, new Uint8Array(60_000)).length).toBe(0);
    const b = ropeAppend(EMPTY_ROPE, new Uint8Array(40_000).fill(2), true);
    expect(ropeRead(b, 0, 1)[0]!.buffer).toBe(block);
    // ropeDrop keeps the views it handed out valid: its blocks are never reused.
    const c = ropeAppend(EMPTY_ROPE, new Uint8Array(60_000).fill(3), true);
    const kept = ropeRead(c, 0, 60_000)[0]!;
    ropeDrop(c, 60_000);
    ropeAppend(EMPTY_ROPE, new Uint8Array(60_000).fill(4), true);
    expect(kept.every((x) => x === 3)).toBe(true);
    // A send queue's block is exact, and small appends never take a spare block.
    expect(ropeRead(ropeAppend(EMPTY_ROPE, new Uint8Array(60_000)), 0, 1)[0]!.buffer.byteLength).toBe(60_000);
    expect(ropeRead(ropeAppend(EMPTY_ROPE, new Uint8Array(20_000), true), 0, 1)[0]!.buffer.byteLength).toBe(
      20_000,
    );
  });

  it('holds a bounded number of blocks however long a queue lives (send-buffer use: append, drop less)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 0, max: 20_000 })), {
          minLength: 500,
          maxLength: 1500,
        }),
        (ops) => {
          let r = EMPTY_ROPE;
          let maxEntries = 0;
          for (const [add, drop] of ops) {
            r = ropeDrop(ropeAppend(r, new Uint8Array(add)), Math.min(drop, r.length + add - 1));
            maxEntries = Math.max(maxEntries, r.entries.length);
          }
          // Live entries are at most the queue's bytes in blocks of >= 1 byte; the dead prefix is
          // released once it outweighs them, so the array stays within twice the live ones plus 64.
          const liveBound = r.end - r.start;
          expect(r.entries.length).toBeLessThanOrEqual(2 * Math.max(liveBound, 1) + 65);
          expect(maxEntries).toBeLessThan(ops.length);
        },
      ),
      propOptions(20),
    );
  });
});

describe('out-of-order queue', () => {
  const base = toSeq(0xffff_ff00);
  const segArb = fc.record({
    off: fc.integer({ min: -50, max: 400 }),
    len: fc.integer({ min: 0, max: 80 }),
    fin: fc.boolean(),
  });
  it('holds exactly the in-window bytes, coalesced, and delivers the stream in order', () => {
    fc.assert(
      fc.property(fc.array(segArb, { maxLength: 30 }), fc.integer({ min: 1, max: 8 }), (segs, maxRanges) => {
        const stream = Uint8Array.from({ length: 500 }, (_, i) => (i * 7) & 255);
        const wnd = 300;
        let q: OooQueue = EMPTY_OOO;
        // Data arrives above RCV.NXT = base (the hole at [base, base+1) is never filled here).
        const have = new Set<number>();
        for (const sg of segs) {
          const start = Math.max(1, sg.off);
          const data = stream.subarray(start, Math.min(stream.length, start + sg.len));
          const r = oooInsert(q, base, seqAdd(base, wnd), seqAdd(base, start), data, false, maxRanges);
          q = r.queue;
          for (let i = start; i < start + data.length && i < wnd; i++) have.add(i);
        }
        // Sorted, disjoint, non-adjacent, within the window, at most maxRanges.
        let prev = -1;
        let total = 0;
        for (const rg of q.ranges) {
          const a = seqDiff(rg.start, base);
          const b = seqDiff(rg.end, base);
          expect(a).toBeGreaterThan(prev);
          expect(b).toBeLessThanOrEqual(wnd);
          expect(ropeCopy(rg.data)).toEqual(stream.subarray(a, b));
          total += b - a;
          prev = b;
        }
        expect(q.ranges.length).toBeLessThanOrEqual(maxRanges);
        expect(q.bytes).toBe(total);
        // Held bytes are a subset of the received ones.
        for (const rg of q.ranges) {
          for (let i = seqDiff(rg.start, base); i < seqDiff(rg.end, base); i++)
            expect(have.has(i)).toBe(true);
        }
        // Filling the hole delivers the first range in order.
        const t = oooTake(q, seqAdd(base, 1));
        if (q.ranges.length > 0 && seqDiff(q.ranges[0]!.start, base) === 1) {
          expect(seqDiff(t.rcvNxt, base)).toBe(seqDiff(q.ranges[0]!.end, base));
        }
        // SACK blocks are ranges of the queue.
        for (const b of oooSackBlocks(q, 4))
          expect(q.ranges.some((r) => r.start === b.left && r.end === b.right)).toBe(true);
      }),
      propOptions(),
    );
  });

  it('keeps a FIN beyond a hole and reports it once in order', () => {
    let q = oooInsert(EMPTY_OOO, toSeq(100), toSeq(1000), toSeq(110), new Uint8Array(5), true, 4).queue;
    expect(q.fin).toBe(115);
    q = oooTake(q, toSeq(105)).queue;
    const t = oooTake(q, toSeq(110));
    expect([t.rcvNxt, t.fin]).toEqual([115, true]);
  });
});

describe('SACK scoreboard', () => {
  it('unions valid blocks, ignores invalid ones, trims below SND.UNA', () => {
    const una = toSeq(0xffff_fff0);
    const max = seqAdd(una, 10_000);
    const b = (l: number, r: number) => ({ left: seqAdd(una, l), right: seqAdd(una, r) });
    let sb = scoreboardAdd(
      [],
      [b(100, 200), b(300, 400), b(200, 300), b(-5, 50), b(9000, 20_000)],
      una,
      max,
      8,
    );
    expect(sb.map((r) => [seqDiff(r.start, una), seqDiff(r.end, una)])).toEqual([[100, 400]]);
    sb = scoreboardTrim(sb, seqAdd(una, 150));
    expect(sb.map((r) => [seqDiff(r.start, una), seqDiff(r.end, una)])).toEqual([[150, 400]]);
    expect(isSacked(sb, seqAdd(una, 399))).toBe(true);
    expect(isSacked(sb, seqAdd(una, 400))).toBe(false);
  });

  it('takes a block starting at SND.UNA (a peer whose ACK lies below it, after a forged ACK)', () => {
    // Ignored, every retransmission of that block looked lost again: a loop (test/fuzz/live.test.ts).
    const una = toSeq(0xffff_fff0);
    const b = (l: number, r: number) => ({ left: seqAdd(una, l), right: seqAdd(una, r) });
    const sb = scoreboardAdd([], [b(0, 63), b(-1428, 63)], una, seqAdd(una, 63), 8);
    expect(sb.map((r) => [seqDiff(r.start, una), seqDiff(r.end, una)])).toEqual([[0, 63]]);
  });

  it('IsLost(): DupThresh ranges or more than (DupThresh - 1) * SMSS bytes above', () => {
    const r = (a: number, b: number) => ({ start: toSeq(a), end: toSeq(b) });
    expect(lostBoundary([r(100, 200)], 3, 100)).toBeNull();
    expect(lostBoundary([r(100, 301)], 3, 100)).toBe(100);
    expect(lostBoundary([r(100, 110), r(200, 210), r(300, 310)], 3, 1000)).toBe(100);
    expect(rangeUnion([r(10, 20)], r(20, 30))).toEqual([r(10, 30)]);
  });
});

describe('RTO (RFC 6298)', () => {
  const c = { rtoInitial: 1000, rtoMin: 200, rtoMax: 120_000 };
  it('§2: first sample, later samples, clamping, backoff', () => {
    let s = rttInit(c);
    expect(s.rto).toBe(1000);
    s = rttSample(s, 100, c);
    expect([s.srtt, s.rttvar, s.rto]).toEqual([100, 50, 300]);
    s = rttSample(s, 100, c);
    expect([s.srtt, s.rttvar]).toEqual([100, 37.5]);
    expect(s.rto).toBe(250);
    for (let i = 0; i < 30; i++) s = rttSample(s, 1, c);
    expect(s.rto, 'clamped to the minimum').toBe(200);
    for (let i = 0; i < 20; i++) s = rttBackoff(s, c);
    expect(s.rto, 'clamped to the maximum').toBe(120_000);
    expect(rttSample(s, 10, c).backoff).toBe(0);
  });
});

describe('congestion control', () => {
  const ctx = { mss: 1000, flight: 10_000, now: 0, srtt: 100 };
  it('NewReno: IW per RFC 5681 §3.1, halving on loss, one segment after a timeout', () => {
    expect(newReno.init(1460, null).cwnd).toBe(4380);
    expect(newReno.init(536, null).cwnd).toBe(2144);
    expect(newReno.init(3000, null).cwnd).toBe(6000);
    const s = newReno.onCongestion(newReno.init(1000, 10), ctx);
    expect([s.cwnd, s.ssthresh]).toEqual([5000, 5000]);
    const r = newReno.onRto(s, ctx, true);
    expect([r.cwnd, r.ssthresh]).toEqual([1000, 5000]);
    expect(newReno.onRto(r, { ...ctx, flight: 2000 }, false).ssthresh, 'held on a repeated timeout').toBe(
      5000,
    );
  });

  it('NewReno congestion avoidance adds one SMSS per cwnd of acknowledged bytes', () => {
    let s = { ...newReno.init(1000, 10), ssthresh: 10_000 };
    for (let i = 0; i < 10; i++) s = newReno.onAck(s, 1000, ctx);
    expect(s.cwnd).toBe(11_000);
  });

  it('CUBIC: beta 0.7 on loss, then concave growth back towards W_max (RFC 9438 §4)', () => {
    let s = { ...cubic.init(1000, 100), ssthresh: 50_000 };
    s = cubic.onCongestion(s, ctx);
    expect(s.cwnd).toBe(70_000);
    expect(s.wMax).toBe(100);
    let now = 0;
    const seen: number[] = [];
    for (let i = 0; i < 200; i++) {
      now += 10;
      s = cubic.onAck(s, 1000, { ...ctx, now });
      seen.push(s.cwnd);
    }
    expect(seen.every((w, i) => i === 0 || w >= seen[i - 1]!)).toBe(true);
    expect(s.cwnd).toBeGreaterThan(70_000);
    // K = cbrt(W_max (1 - beta) / C) = cbrt(75) ≈ 4.2 s: not yet past W_max after 2 s.
    expect(s.cwnd).toBeLessThanOrEqual(100_000);
  });
});

describe('sequence numbers near the wrap points', () => {
  it.each(WRAP_POINTS)('ranges straddling %i', (p) => {
    const start = toSeq(p - 10) as Seq;
    const q = oooInsert(
      EMPTY_OOO,
      seqAdd(start, -5),
      seqAdd(start, 100),
      start,
      new Uint8Array(20),
      false,
      4,
    );
    expect(q.queue.ranges.map((r) => seqDiff(r.end, r.start))).toEqual([20]);
  });
});

describe('segment acceptability (RFC 9293 §3.4 Table 5)', () => {
  const N = toSeq(0xffff_fffe); // RCV.NXT two below the wrap
  it.each([
    ['len 0, wnd 0: SEG.SEQ = RCV.NXT', 0, 0, 0, true],
    ['len 0, wnd 0: anything else', 1, 0, 0, false],
    ['len 0, wnd > 0: at RCV.NXT', 0, 0, 10, true],
    ['len 0, wnd > 0: last in window', 9, 0, 10, true],
    ['len 0, wnd > 0: just past', 10, 0, 10, false],
    ['len 0, wnd > 0: just before', -1, 0, 10, false],
    ['len > 0, wnd 0: never', 0, 1, 0, false],
    ['len > 0: starts in window', 5, 100, 10, true],
    ['len > 0: ends in window', -5, 6, 10, true],
    ['len > 0: ends at RCV.NXT - 1 (old duplicate)', -5, 5, 10, false],
    ['len > 0: starts past the window', 10, 5, 10, false],
    ['len > 0: 2^31 away', 0x8000_0000, 5, 10, false],
  ] as const)('%s', (_n, off, len, wnd, want) => {
    expect(acceptable(seqAdd(N, off), len, N, wnd)).toBe(want);
  });
});
