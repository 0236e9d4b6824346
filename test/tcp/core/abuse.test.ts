/**
 * Out-of-order and SACK abuse, and the tiny MSS (issue #14; the Linux "SACK panic" / "SACK slowness"
 * family, CVE-2019-11477, -11478, -5599, -11479): a peer that sends thousands of tiny segments at
 * scattered offsets, or SACKs every other byte, costs bounded memory and bounded work per segment,
 * and an honest peer afterwards still gets every byte. Work is measured without clocks: the bytes the
 * core copies (every copy in the core goes through `Uint8Array.prototype.set`) and the size of the
 * structures each step walks.
 *
 * Bounds under test: `maxOooRanges` ranges (and OOO_CHUNKS_BASE + length / OOO_CHUNK_BYTES blocks per
 * range) holding at most the window of out-of-order bytes; `maxSackRanges` scoreboard ranges, MAX_SENT
 * send-log entries and MAX_LOST lost ranges; `minSndMss`. The ICMP half of CVE-2019-11479 (an MTU of
 * 68 in Fragmentation Needed) is `pmtu.test.ts` "IPv4 68 (the RFC 791 minimum) is floored at 48" and
 * "never makes segments smaller than 48 bytes, whatever the MTU (68 and below)".
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Random } from '../../../src/random.js';
import { concatChunks, type SegmentOut, type TcpConfig } from '../../../src/tcp/core/index.js';
import {
  EMPTY_LOG,
  firstLost,
  logSend,
  MAX_LOST,
  MAX_SENT,
  RACK_INIT,
  rackDetectLoss,
  rangesRemove,
} from '../../../src/tcp/core/rack.js';
import {
  EMPTY_OOO,
  OOO_CHUNK_BYTES,
  OOO_CHUNKS_BASE,
  oooInsert,
  type SeqRange,
} from '../../../src/tcp/core/ranges.js';
import {
  EMPTY_ROPE,
  type Rope,
  ropeAppend,
  ropeChunks,
  ropeConcat,
  ropeCopy,
  ropeDrop,
  ropeFlatten,
} from '../../../src/tcp/core/rope.js';
import { type Seq, seqAdd, seqDiff, toSeq } from '../../../src/tcp/seq.js';
import type { SackBlock } from '../../../src/tcp/wire.js';
import { Endpoint } from './harness.js';
import { checkStep } from './invariants.js';
import { propOptions } from '../../support/props.js';

const P = 0x7fff_ff00;
const MSS = 1000;

/** The byte at stream offset `o` (both directions): every segment that carries it agrees. */
const byteAt = (o: number): number => (o * 31 + 7) & 0xff;
const stream = (from: number, len: number): Uint8Array =>
  Uint8Array.from({ length: len }, (_, i) => byteAt(from + i));

/**
 * Bytes copied by the core while `fn` runs. Every copy in the core (ropes, slabs) is a typed array's
 * `set`; shadowing it on Uint8Array.prototype counts them.
 */
function copies<T>(fn: (copied: () => number) => T): T {
  let n = 0;
  const proto = Uint8Array.prototype as unknown as Record<string, unknown>;
  const orig = Uint8Array.prototype.set;
  proto.set = function (this: Uint8Array, src: ArrayLike<number>, off?: number): void {
    n += src.length;
    orig.call(this, src, off);
  };
  try {
    return fn(() => n);
  } finally {
    Reflect.deleteProperty(proto, 'set');
  }
}

/**
 * A passive connection with the peer's SYN carrying SACK-permitted and window scale 7 (no timestamps,
 * so any sequence of segments is acceptable): `L` our first data byte, `R` the peer's.
 */
function est(overrides: Partial<Omit<TcpConfig, 'secret'>> = {}, mss = MSS) {
  const ep = new Endpoint({ timestamps: false, sndBuf: 1 << 20, ...overrides });
  ep.listen();
  ep.recv({ flags: 'SYN', seq: P, window: 65_535, options: { mss, sackPermitted: true, windowScale: 7 } });
  const synAck = ep.expectSent('SYN-ACK', { flags: 'SYN,ACK' });
  const L = seqAdd(synAck.repr.seq, 1);
  const R = seqAdd(toSeq(P), 1);
  ep.advance(20);
  ep.recv({ flags: 'ACK', seq: R, ack: L, window: 65_535 });
  ep.expectState('established', 'Established');
  ep.sent.length = 0;
  ep.notes.length = 0;
  return { ep, L, R };
}

/** A step through the harness with the docs/TCP-NOTES.md §6 invariants checked on it. */
function checked(ep: Endpoint, act: () => void): SegmentOut[] {
  const before = ep.state;
  const from = ep.sent.length;
  act();
  const out = ep.sent.slice(from);
  const v = checkStep(before, ep.state, out);
  if (v.length > 0) expect(v).toEqual([]);
  return out;
}

/** Receiver-side bounds after a step. */
function expectOooBounds(ep: Endpoint, maxRanges: number): void {
  const t = ep.tcb!;
  if (t.ooo.ranges.length > maxRanges) expect(t.ooo.ranges.length).toBeLessThanOrEqual(maxRanges);
  if (t.ooo.bytes > seqDiff(t.rcvAdv, t.rcvNxt))
    expect(t.ooo.bytes).toBeLessThanOrEqual(seqDiff(t.rcvAdv, t.rcvNxt));
  for (const r of t.ooo.ranges) {
    const c = ropeChunks(r.data);
    const bound = OOO_CHUNKS_BASE + seqDiff(r.end, r.start) / OOO_CHUNK_BYTES;
    if (c > bound) expect(c, 'blocks of a range').toBeLessThanOrEqual(bound);
  }
}

/** The peer fills the holes in order (reading as it goes) up to `end`; returns what the user read. */
function fillInOrder(ep: Endpoint, R: Seq, ack: Seq, end: number): Uint8Array {
  const got: Uint8Array[] = [];
  let at = seqDiff(ep.tcb!.rcvNxt, R);
  for (let guard = 0; at < end && guard < 10_000; guard++) {
    const len = Math.min(MSS, end - at);
    ep.recv({ flags: 'ACK', seq: seqAdd(R, at), ack, data: stream(at, len) });
    const r = ep.step({ kind: 'recv', now: ep.now, flow: ep.key });
    if (r.kind === 'data') got.push(...r.data);
    at = seqDiff(ep.tcb!.rcvNxt, R);
  }
  return concatChunks(got);
}

describe('out-of-order abuse: thousands of tiny segments (receiver)', () => {
  it('holds at most maxOooRanges ranges and a window of bytes, counts drops, and delivers once filled', () => {
    const { ep, L, R } = est();
    const rnd = new Random(11);
    const window = seqDiff(ep.tcb!.rcvAdv, ep.tcb!.rcvNxt);
    let dropsSeen = 0;
    copies((copied) => {
      let payload = 0;
      for (let k = 0; k < 2000; k++) {
        const len = k % 2 === 0 ? 1 : 10;
        const off = 1 + (rnd.next() % (window - 11));
        checked(ep, () => ep.recv({ flags: 'ACK', seq: seqAdd(R, off), ack: L, data: stream(off, len) }));
        payload += len;
        expectOooBounds(ep, 32);
        // Work per segment: the new bytes, and amortised joins of blocks (see oooInsert).
        if (copied() > payload + (k + 1) * 2 * OOO_CHUNK_BYTES)
          expect(copied()).toBe(`<= ${payload} + ${k + 1}·2 KiB`);
        dropsSeen = ep.counter('ooo-dropped');
      }
    });
    expect(dropsSeen, 'the cap dropped (and counted) segments').toBeGreaterThan(500);
    expect(ep.counter('ooo-queued')).toBeGreaterThan(32);
    // Every duplicate ACK carried the held ranges as SACK blocks, never more than 4 (RFC 2018 §3).
    for (const s of ep.sent) expect((s.repr.options.sack ?? []).length).toBeLessThanOrEqual(4);
    const end = seqDiff(ep.tcb!.rcvAdv, R);
    const got = fillInOrder(ep, R, L, end);
    expect(got.length).toBe(end);
    expect(Buffer.from(got).equals(Buffer.from(stream(0, end)))).toBe(true);
    expect(ep.tcb!.ooo.ranges.length).toBe(0);
  });

  it('tiny segments sent downwards below a big range cost their own bytes, not the range again', () => {
    // The range [100 000, 180 000) is held; then 10-byte segments arrive just below it, each one
    // joining it. Copying the range on each join (what the queue did before: 80 010 bytes for the
    // first 10) is quadratic, about 1 GB for these 8000 segments; joining blocks copies each new byte
    // once, plus amortised compaction (5.3 MB here).
    const { ep, L, R } = est();
    // (The first lies beyond the SYN-ACK's unscaled window, RFC 7323 §2.2, and is sent again.)
    for (const off of [100_000, ...Array.from({ length: 80 }, (_, i) => 100_000 + i * MSS)]) {
      ep.recv({ flags: 'ACK', seq: seqAdd(R, off), ack: L, data: stream(off, MSS) });
    }
    const total = copies((copied) => {
      let payload = 0;
      for (let k = 1; k <= 8000; k++) {
        const off = 100_000 - 10 * k;
        ep.recv({ flags: 'ACK', seq: seqAdd(R, off), ack: L, data: stream(off, 10) });
        payload += 10;
        expectOooBounds(ep, 32);
        if (copied() > payload + k * 2 * OOO_CHUNK_BYTES) expect(copied()).toBe(`<= ${payload} + ${k}·2 KiB`);
      }
      return copied();
    });
    expect(ep.tcb!.ooo.ranges.length).toBe(1);
    expect(total).toBeLessThan(20_000_000);
    const got = fillInOrder(ep, R, L, 180_000);
    expect(Buffer.from(got).equals(Buffer.from(stream(0, 180_000)))).toBe(true);
  });

  it('bridging held ranges over and over copies no held bytes', () => {
    // Below a 50 000-byte range, a byte two below its start (a range of its own), then the byte
    // between, which joins the two: 2000 times. Copying the upper range on each join (as before)
    // copied 104 MB here.
    const q0 = EMPTY_OOO;
    const nxt = toSeq(1000);
    const wnd = seqAdd(nxt, 1 << 20);
    let q = q0;
    q = oooInsert(q, nxt, wnd, seqAdd(nxt, 50_000), stream(50_000, 50_000), false, 32).queue;
    const total = copies((copied) => {
      for (let k = 0; k < 2000; k++) {
        const off = 50_000 - 2 * (k + 1);
        q = oooInsert(q, nxt, wnd, seqAdd(nxt, off), stream(off, 1), false, 32).queue;
        q = oooInsert(q, nxt, wnd, seqAdd(nxt, off + 1), stream(off + 1, 1), false, 32).queue;
      }
      return copied();
    });
    expect(q.ranges.length).toBe(1);
    expect(total).toBeLessThan(4000 + 4000 * OOO_CHUNK_BYTES);
    const r = q.ranges[0]!;
    expect(Buffer.from(ropeCopy(r.data)).equals(Buffer.from(stream(46_000, 54_000)))).toBe(true);
  });

  it('maxOooRanges is the switch: unbounded, scattered bytes grow the queue and every step with it', () => {
    // Every other byte, upwards: each segment is a range of its own.
    const run = (maxOooRanges: number) => {
      const { ep, L, R } = est({ maxOooRanges });
      let walked = 0;
      for (let k = 0; k < 2000; k++) {
        const off = 2 + 2 * k;
        ep.recv({ flags: 'ACK', seq: seqAdd(R, off), ack: L, data: stream(off, 1) });
        // oooInsert copies the range array, oooTake and the SACK blocks walk it: work ∝ its size.
        walked += ep.tcb!.ooo.ranges.length;
      }
      return { ranges: ep.tcb!.ooo.ranges.length, walked, dropped: ep.counter('ooo-dropped') };
    };
    const off = run(1_000_000);
    const on = run(32);
    expect(off.ranges, 'attack succeeds with the switch off').toBe(2000);
    expect(off.walked).toBeGreaterThan(1_500_000);
    expect(on.ranges).toBe(32);
    expect(on.walked).toBeLessThanOrEqual(32 * 2000);
    expect(on.dropped).toBe(2000 - 32);
  });
});

describe('ropes joined by their blocks (ropeConcat, ropeFlatten)', () => {
  type RopeOp =
    | { kind: 'append'; a: number; len: number }
    | { kind: 'concat'; a: number; b: number }
    | { kind: 'drop'; a: number; n: number }
    | { kind: 'flatten'; a: number };
  const ropeOp: fc.Arbitrary<RopeOp> = fc.oneof(
    fc.record({ kind: fc.constant('append' as const), a: fc.nat(), len: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('concat' as const), a: fc.nat(), b: fc.nat() }),
    fc.record({ kind: fc.constant('drop' as const), a: fc.nat(), n: fc.nat({ max: 50 }) }),
    fc.record({ kind: fc.constant('flatten' as const), a: fc.nat() }),
  );

  it('every version reads the bytes it was made of, whatever is built on it later', () => {
    fc.assert(
      fc.property(fc.array(ropeOp, { maxLength: 60 }), (ops) => {
        const versions: { rope: Rope; bytes: number[] }[] = [{ rope: EMPTY_ROPE, bytes: [] }];
        let fill = 0;
        for (const o of ops) {
          const x = versions[o.a % versions.length]!;
          switch (o.kind) {
            case 'append': {
              const data = Uint8Array.from({ length: o.len }, () => fill++ & 0xff);
              versions.push({ rope: ropeAppend(x.rope, data), bytes: [...x.bytes, ...data] });
              break;
            }
            case 'concat': {
              const y = versions[o.b % versions.length]!;
              versions.push({ rope: ropeConcat(x.rope, y.rope), bytes: [...x.bytes, ...y.bytes] });
              break;
            }
            case 'drop':
              versions.push({ rope: ropeDrop(x.rope, o.n), bytes: x.bytes.slice(o.n) });
              break;
            case 'flatten':
              versions.push({ rope: ropeFlatten(x.rope), bytes: x.bytes });
              break;
          }
        }
        for (const v of versions) {
          expect(v.rope.length).toBe(v.bytes.length);
          expect([...ropeCopy(v.rope)]).toEqual(v.bytes);
        }
      }),
      propOptions(300),
    );
  });
});

/** The first data byte offset of `seq` relative to `L`. */
const rel = (L: Seq, q: Seq): number => seqDiff(q, L);

type Abuse = 'chop' | 'dsack' | 'beyond' | 'wrap' | 'random';

/** SACK blocks of one abusive ACK: offsets relative to SND.UNA, `flight` = SND.MAX - SND.UNA. */
function abusiveBlocks(kind: Abuse, una: Seq, max: Seq, r: number, r2: number): SackBlock[] {
  const flight = seqDiff(max, una);
  const base = 1 + (r % Math.max(1, flight - 9));
  const at = (o: number): Seq => seqAdd(una, o);
  switch (kind) {
    case 'chop':
      // Every other byte: 4 one-byte blocks, somewhere new on each ACK.
      return [0, 1, 2, 3].map((j) => ({ left: at(base + 2 * j), right: at(base + 2 * j + 1) }));
    case 'dsack':
      return [
        { left: at(-1 - (r2 % 5000)), right: at(-(r2 % 5000)) },
        { left: at(base), right: at(base + 1) },
      ];
    case 'beyond':
      return [{ left: at(base), right: seqAdd(max, 1 + (r2 % 100_000)) }];
    case 'wrap':
      // Right edge "below" the left one (a block wrapping the sequence space), and a huge one.
      return [
        { left: at(base + 5), right: at(base) },
        { left: at(base), right: seqAdd(at(base), 0x8000_0000) },
      ];
    case 'random':
      return [{ left: toSeq(r), right: toSeq(r2) }];
  }
}

/** Sender-side bounds after a step. */
function expectSackBounds(ep: Endpoint, maxSackRanges: number): void {
  const t = ep.tcb!;
  const sizes = { scoreboard: t.scoreboard.length, log: t.sent.entries.length, lost: t.rack.lost.length };
  if (sizes.scoreboard > maxSackRanges || sizes.log > MAX_SENT || sizes.lost > MAX_LOST) {
    expect(sizes).toEqual({ scoreboard: maxSackRanges, log: MAX_SENT, lost: MAX_LOST });
  }
}

/**
 * An honest receiver from now on: takes every segment the core sends, acknowledges cumulatively (no
 * SACK) and waits for the timers when nothing comes; returns the bytes it got from `from` to `end`.
 */
function honestReceiver(ep: Endpoint, L: Seq, seq: Seq, from: number, end: number): Uint8Array {
  const got = new Uint8Array(end - from);
  const have = new Uint8Array(end - from);
  let ack = from;
  for (let guard = 0; ack < end && guard < 20_000; guard++) {
    const out = ep.sent.splice(0);
    for (const o of out) {
      let at = rel(L, o.repr.seq);
      for (const c of o.payload) {
        for (let i = 0; i < c.length; i++, at++) {
          if (at >= from && at < end) {
            got[at - from] = c[i]!;
            have[at - from] = 1;
          }
        }
      }
    }
    while (ack < end && have[ack - from] === 1) ack++;
    if (out.length > 0) {
      ep.advance(10);
      checked(ep, () => ep.recv({ flags: 'ACK', seq, ack: seqAdd(L, ack), window: 65_535 }));
    } else {
      checked(ep, () => ep.advanceToDeadline());
    }
  }
  expect(ack, 'the honest receiver got everything').toBe(end);
  return got;
}

describe('SACK abuse (sender): blocks that chop the send queue', () => {
  const setup = (overrides: Partial<Omit<TcpConfig, 'secret'>> = {}) => {
    const { ep, L, R } = est({ initialCwndSegments: 64, ...overrides });
    const total = 400_000;
    expect(ep.send(stream(0, total))).toBe(total);
    expect(ep.sent.length).toBe(64);
    return { ep, L, R, total };
  };

  it.each<Abuse>([
    'chop',
    'dsack',
    'beyond',
    'wrap',
    'random',
  ])('%s blocks: bounded scoreboard, send log, lost marks and per-ACK work; no tiny retransmissions', (kind) => {
    const { ep, L, R, total } = setup();
    const rnd = new Random(kind.length * 977);
    let retxSegs = 0;
    let retxBytes = 0;
    let tinyRetx = 0;
    let mostPerAck = 0;
    let una = L;
    for (let k = 0; k < 1500; k++) {
      const t = ep.tcb!;
      // The cumulative ACK creeps up now and then (SND.UNA moves, the marks are trimmed).
      if (k % 50 === 49) una = seqAdd(una, Math.min(seqDiff(t.sndMax, una), rnd.next() % 3000));
      const sack = abusiveBlocks(kind, una, t.sndMax, rnd.next(), rnd.next());
      ep.now += rnd.next() % 8;
      const out = checked(ep, () =>
        ep.recv({ flags: 'ACK', seq: R, ack: una, window: 65_535, options: { sack } }),
      );
      if (ep.deadline() !== null && ep.deadline()! <= ep.now) checked(ep, () => ep.tick());
      expectSackBounds(ep, 32);
      mostPerAck = Math.max(mostPerAck, out.length);
      const max = ep.tcb!.sndMax;
      for (const o of out) {
        if (o.payloadLen === 0 || seqDiff(o.repr.seq, t.sndMax) >= 0) continue;
        retxSegs++;
        retxBytes += o.payloadLen;
        // Short although more sent data followed it: a segment cut to a hole between SACKed bytes.
        const more = seqDiff(max, seqAdd(o.repr.seq, o.payloadLen)) > 0;
        if (o.payloadLen < MSS / 2 && more) tinyRetx++;
      }
    }
    // Before firstLost joined holes, 'chop' sent 475 short retransmissions of 713, up to 20 a step.
    expect(mostPerAck).toBeLessThanOrEqual(8);
    expect(tinyRetx, `${retxSegs} retransmissions, ${retxBytes} bytes`).toBeLessThanOrEqual(
      Math.max(8, retxSegs / 10),
    );
    ep.sent.length = 0;
    // The same receiver turns honest: every byte it did not acknowledge arrives.
    const from = rel(L, una);
    const got = honestReceiver(ep, L, R, from, total);
    expect(Buffer.from(got).equals(Buffer.from(stream(from, total - from)))).toBe(true);
  });

  it('a peer that took forged data for ours SACKs past SND.MAX: its duplicate ACKs retransmit nothing', () => {
    // Found by the in-window live fuzz (test/fuzz/live.test.ts): the peer holds bytes beyond what we
    // sent and misses the first two. The scoreboard ignored the block, but RACK took its part below
    // SND.MAX as delivered, so the rest of the segment looked lost, and so did its retransmission
    // on the next duplicate ACK: one retransmission per round trip, forever. Now only the RTO
    // retransmits, backing off.
    const { ep, L, R } = est();
    expect(ep.send(stream(0, 63))).toBe(63);
    ep.sent.length = 0;
    const sack = [{ left: seqAdd(L, 2), right: seqAdd(L, 63 + 300) }];
    let retransmitted = 0;
    for (let k = 0; k < 1000; k++) {
      ep.advance(25);
      if (ep.deadline() !== null && ep.deadline()! <= ep.now) checked(ep, () => ep.tick());
      checked(ep, () => ep.recv({ flags: 'ACK', seq: R, ack: L, window: 65_535, options: { sack } }));
      retransmitted += ep.sent.splice(0).filter((o) => o.payloadLen > 0).length;
    }
    // 25 s of duplicate ACKs: the RTO's backoff (1 s, 2 s, 4 s...), not one per ACK.
    expect(retransmitted).toBeLessThanOrEqual(8);
  });

  it('a peer behind a forged ACK D-SACKs our probes: they stop, the RTO backs off', () => {
    // Found by the in-window live fuzz: a forged ACK moved SND.UNA past the peer's RCV.NXT. The
    // peer answers each probe of data it holds with a D-SACK of it inside a block that straddles
    // SND.UNA. Both blocks were ignored, so every probe drew the same answer and the next probe
    // (a TLP every two round trips, forever); the D-SACK block now SACKs the probed data.
    const { ep, L, R } = est();
    expect(ep.send(stream(0, 3 * MSS))).toBe(3 * MSS);
    ep.sent.length = 0;
    // The first segment was lost; the peer holds the other two. The forger acknowledges half of it.
    ep.advance(5);
    checked(ep, () => ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 1500), window: 65_535 }));
    let probes = 0;
    const until = ep.now + 60_000;
    while (ep.now < until && ep.deadline() !== null) {
      checked(ep, () => ep.advanceToDeadline());
      for (const o of ep.sent.splice(0)) {
        if (o.payloadLen === 0) continue;
        probes++;
        const dsack = { left: o.repr.seq, right: seqAdd(o.repr.seq, o.payloadLen) };
        const holds = { left: seqAdd(L, MSS), right: seqAdd(L, 3 * MSS) };
        ep.advance(20);
        checked(ep, () =>
          ep.recv({ flags: 'ACK', seq: R, ack: L, window: 65_535, options: { sack: [dsack, holds] } }),
        );
      }
    }
    // A minute: a probe, then the RTOs backing off (6 of them, each resending the flight), not a
    // probe every two round trips (2,601 before).
    expect(probes).toBeLessThanOrEqual(24);
  });

  it('retransmits a run of one-byte holes as one segment, not one per hole (firstLost)', () => {
    // Bytes 8001, 8003, ... 8063 SACKed: [0, 8001) lost below them, then 31 one-byte holes.
    const at = (o: number): Seq => seqAdd(toSeq(0xffff_f000), o);
    const sb = Array.from({ length: 32 }, (_, i) => ({ start: at(8001 + 2 * i), end: at(8002 + 2 * i) }));
    const lost = [
      { start: at(0), end: at(8001) },
      ...Array.from({ length: 31 }, (_, i) => ({ start: at(8002 + 2 * i), end: at(8003 + 2 * i) })),
    ];
    // Full segments below the holes; then one segment from 8000 repairs all 32 (SACKed bytes again).
    expect(firstLost(sb, lost, at(6000), MSS)).toEqual({ start: at(6000), end: at(8001) });
    expect(firstLost(sb, lost, at(8000), MSS)).toEqual({ start: at(8000), end: at(8063) });
    expect(firstLost(sb, lost, at(8030), MSS)).toEqual({ start: at(8030), end: at(8063) });
    // Holes further apart than a segment stay apart; without a span, one hole at a time.
    expect(firstLost(sb, [lost[0]!, { start: at(9500), end: at(9600) }], at(8000), MSS)).toEqual({
      start: at(8000),
      end: at(8001),
    });
    expect(firstLost(sb, lost, at(8000))).toEqual({ start: at(8000), end: at(8001) });
  });

  it('lost marks stay within MAX_LOST ranges however the scoreboard chops them', () => {
    const at = (o: number): Seq => seqAdd(toSeq(0xffff_f000), o);
    // A scoreboard of 500 one-byte ranges (as maxSackRanges: 500 would keep), all sent at once.
    const sb = Array.from({ length: 500 }, (_, i) => ({ start: at(1 + 2 * i), end: at(2 + 2 * i) }));
    const log = logSend(EMPTY_LOG, at(0), at(2000), 0, at(0));
    const rack = { ...RACK_INIT, xmitTs: 0, endSeq: at(1000), xmitOrder: 0, rtt: 10, minRtt: 10 };
    const r = rackDetectLoss(rack, log, sb, 0, 100);
    expect(r.marked).toBeGreaterThan(0);
    expect(r.lost.length).toBe(MAX_LOST);
    // The lowest are kept: the next retransmissions come from the bottom.
    expect(r.lost[0]).toEqual({ start: at(0), end: at(1) });
    // Retransmitting from the middle of marks splits them: still within the bound.
    const many = Array.from({ length: MAX_LOST }, (_, i) => ({ start: at(10 * i), end: at(10 * i + 5) }));
    let l: readonly SeqRange[] = many;
    for (let i = 0; i < MAX_LOST; i++) l = rangesRemove(l, at(10 * i + 2), at(10 * i + 3));
    expect(l.length).toBe(MAX_LOST);
  });

  it('maxSackRanges is the switch: unbounded, a chopping receiver grows the scoreboard every ACK walks', () => {
    const run = (maxSackRanges: number) => {
      const { ep, L, R } = setup({ maxSackRanges });
      let walked = 0;
      for (let k = 0; k < 200; k++) {
        // Four new one-byte blocks per ACK, every other byte, upwards.
        const sack = [0, 1, 2, 3].map((j) => ({
          left: seqAdd(L, 1 + 2 * (4 * k + j)),
          right: seqAdd(L, 2 + 2 * (4 * k + j)),
        }));
        ep.recv({ flags: 'ACK', seq: R, ack: L, window: 65_535, options: { sack } });
        walked += ep.tcb!.scoreboard.length;
      }
      return { sb: ep.tcb!.scoreboard.length, walked };
    };
    const off = run(1_000_000);
    const on = run(32);
    expect(off.sb, 'attack succeeds with the switch off').toBe(800);
    expect(off.walked).toBeGreaterThan(60_000);
    expect(on.sb).toBe(32);
    expect(on.walked).toBeLessThanOrEqual(32 * 200);
  });
});

describe('tiny MSS (CVE-2019-11479): the MSS option is floored at minSndMss (48)', () => {
  it.each([1, 12, 40, 47])('MSS %i in a SYN becomes 48', (mss) => {
    const { ep } = est({}, mss);
    expect(ep.tcb!.mss).toBe(48);
    ep.send(stream(0, 4000));
    for (const o of ep.sent) expect(o.payloadLen).toBe(48);
  });

  it('MSS 1 in a SYN-ACK becomes 48', () => {
    const ep = new Endpoint({ timestamps: false });
    ep.connect(1234);
    const syn = ep.expectSent('SYN', { flags: 'SYN' });
    ep.recv({ flags: 'SYN,ACK', seq: P, ack: seqAdd(syn.repr.seq, 1), dstPort: 1234, options: { mss: 1 } });
    ep.expectState('established', 'Established');
    expect(ep.tcb!.mss).toBe(48);
  });

  it('48 and above are kept', () => {
    expect(est({}, 48).ep.tcb!.mss).toBe(48);
    expect(est({}, 536).ep.tcb!.mss).toBe(536);
  });

  it('minSndMss is the switch: at 1, MSS 1 makes a segment per byte', () => {
    const count = (minSndMss: number) => {
      const { ep, L, R } = est({ minSndMss, initialCwndSegments: 10 }, 1);
      ep.send(stream(0, 2000));
      let segs = 0;
      let acked = 0;
      for (let k = 0; k < 200 && acked < 2000; k++) {
        const out = ep.sent.splice(0);
        segs += out.length;
        for (const o of out) acked = Math.max(acked, rel(L, o.repr.seq) + o.payloadLen);
        ep.advance(1);
        ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, acked), window: 65_535 });
      }
      return { segs, mss: ep.tcb!.mss };
    };
    const off = count(1);
    const on = count(48);
    expect(off.mss).toBe(1);
    expect(off.segs, 'attack succeeds with the switch off: 2000 one-byte segments').toBeGreaterThanOrEqual(
      2000,
    );
    expect(on.mss).toBe(48);
    expect(on.segs).toBeLessThanOrEqual(Math.ceil(2000 / 48));
  });
});

type Ev =
  | { kind: 'data'; len: number }
  | { kind: 'ooo'; off: number; len: number }
  | { kind: 'sack'; abuse: Abuse; r: number; r2: number; adv: number }
  | { kind: 'ack'; adv: number }
  | { kind: 'send'; len: number }
  | { kind: 'read' }
  | { kind: 'wait'; ms: number };

const evArb: fc.Arbitrary<Ev> = fc.oneof(
  fc.record({ kind: fc.constant('data' as const), len: fc.integer({ min: 1, max: 2 * MSS }) }),
  fc.record({
    kind: fc.constant('ooo' as const),
    off: fc.integer({ min: 1, max: 300_000 }),
    len: fc.constantFrom(1, 10, 100),
  }),
  fc.record({
    kind: fc.constant('sack' as const),
    abuse: fc.constantFrom<Abuse>('chop', 'dsack', 'beyond', 'wrap', 'random'),
    r: fc.nat(),
    r2: fc.nat(),
    adv: fc.nat({ max: 3000 }),
  }),
  fc.record({ kind: fc.constant('ack' as const), adv: fc.nat({ max: 5000 }) }),
  fc.record({ kind: fc.constant('send' as const), len: fc.integer({ min: 1, max: 20_000 }) }),
  fc.constant({ kind: 'read' as const }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 500 }) }),
);

describe('property: honest data interleaved with abusive segments', () => {
  it('keeps the invariants and the bounds, and an honest peer then gets both streams whole', () => {
    fc.assert(
      fc.property(fc.array(evArb, { minLength: 1, maxLength: 120 }), (evs) => {
        const { ep, L, R } = est({ maxOooRanges: 8, maxSackRanges: 8 });
        let written = 0;
        let peerNext = 0; // the peer's next in-order byte
        let una = L; // the peer's cumulative ACK of our data
        const read: Uint8Array[] = [];
        const takeReads = () => {
          const r = ep.step({ kind: 'recv', now: ep.now, flow: ep.key });
          if (r.kind === 'data') read.push(...r.data);
        };
        for (const e of evs) {
          const t = ep.tcb;
          if (t === undefined) break; // the abuse ended the connection (it must not): checked below
          checked(ep, () => {
            switch (e.kind) {
              case 'data': {
                const room = Math.max(0, seqDiff(t.rcvAdv, seqAdd(R, peerNext)));
                const len = Math.min(e.len, room);
                if (len === 0) return;
                ep.recv({ flags: 'ACK', seq: seqAdd(R, peerNext), ack: una, data: stream(peerNext, len) });
                peerNext += len;
                return;
              }
              case 'ooo': {
                const off = peerNext + e.off;
                ep.recv({ flags: 'ACK', seq: seqAdd(R, off), ack: una, data: stream(off, e.len) });
                return;
              }
              case 'sack':
              case 'ack': {
                una = seqAdd(una, Math.min(e.adv, seqDiff(t.sndMax, una)));
                const options =
                  e.kind === 'sack' ? { sack: abusiveBlocks(e.abuse, una, t.sndMax, e.r, e.r2) } : {};
                ep.recv({ flags: 'ACK', seq: seqAdd(R, peerNext), ack: una, window: 65_535, options });
                return;
              }
              case 'send':
                written += Math.max(0, ep.send(stream(written, e.len)));
                return;
              case 'read':
                takeReads();
                return;
              case 'wait':
                ep.advance(e.ms);
                return;
            }
          });
          expectOooBounds(ep, 8);
          expectSackBounds(ep, 8);
          peerNext = Math.max(peerNext, seqDiff(ep.tcb!.rcvNxt, R));
        }
        expect(ep.tcb, 'the connection survives').toBeDefined();
        // The peer turns honest: fills its stream up to 50 000 bytes in order, we read it all.
        takeReads();
        const end = Math.max(peerNext, 50_000);
        const rest = fillInOrder(ep, R, una, end);
        const all = concatChunks([...read, rest]);
        expect(all.length).toBe(end);
        expect(Buffer.from(all).equals(Buffer.from(stream(0, end)))).toBe(true);
        // And receives everything we wrote that it had not acknowledged.
        ep.sent.length = 0;
        const from = rel(L, una);
        if (written > from) {
          const got = honestReceiver(ep, L, ep.tcb!.rcvNxt, from, written);
          expect(Buffer.from(got).equals(Buffer.from(stream(from, written - from)))).toBe(true);
        }
      }),
      propOptions(40),
    );
  });
});
