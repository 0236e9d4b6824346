/**
 * RACK's data structures (src/tcp/core/rack.ts) against byte-by-byte models: the send log, range
 * subtraction, pipe, D-SACK recognition (RFC 2883 §4), which deliveries of retransmitted data move
 * RACK.xmit_ts (RFC 8985 §6.2 step 2), the reordering window (RFC 8985 §6.2 step 4).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EMPTY_LOG,
  logSend,
  logTrim,
  MAX_SENT,
  RACK_INIT,
  rackDelivered,
  rackPipe,
  reoWnd,
  type SentLog,
  sentAfter,
  dsackBlock,
  subtract,
} from '../../../src/tcp/core/rack.js';
import type { SeqRange } from '../../../src/tcp/core/ranges.js';
import { type Seq, seqAdd, seqDiff } from '../../../src/tcp/seq.js';
import { propOptions } from '../../support/props.js';

const BASE = 0xffff_f000 as Seq;
const at = (n: number): Seq => seqAdd(BASE, n);

interface ByteSend {
  ts: number;
  op: number;
  rexmit: boolean;
}

type Op =
  | { kind: 'new'; len: number; dt: number }
  | { kind: 'rexmit'; from: number; len: number; dt: number }
  | { kind: 'ack'; upTo: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('new' as const),
    len: fc.integer({ min: 1, max: 400 }),
    dt: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({
    kind: fc.constant('rexmit' as const),
    from: fc.nat(),
    len: fc.integer({ min: 1, max: 400 }),
    dt: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({ kind: fc.constant('ack' as const), upTo: fc.nat() }),
);

/** Where each byte of the log's entries points: (entry order, ts, rexmit). */
function expand(log: SentLog, una: number): { order: number; ts: number; rexmit: boolean }[] {
  const out: { order: number; ts: number; rexmit: boolean }[] = [];
  let at0 = una;
  for (const e of log.entries) {
    expect(seqDiff(e.start, BASE)).toBe(at0);
    for (let i = seqDiff(e.start, BASE); i < seqDiff(e.end, BASE); i++)
      out.push({ order: e.order, ts: e.ts, rexmit: e.rexmit });
    at0 = seqDiff(e.end, BASE);
  }
  return out;
}

describe('send log (RFC 8985 §6.1 per-segment transmit times)', () => {
  it('records the last send time of every byte in flight, in transmission order', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        let log: SentLog = EMPTY_LOG;
        let una = 0;
        let max = 0;
        let now = 0;
        let op = 0;
        const model: ByteSend[] = [];
        for (const o of ops) {
          if (o.kind === 'ack') {
            if (max === una) continue;
            una = una + (o.upTo % (max - una + 1));
            log = logTrim(log, at(una));
            continue;
          }
          now += o.dt;
          op++;
          let from: number;
          let to: number;
          if (o.kind === 'new') {
            from = max;
            to = max + o.len;
          } else {
            if (max === una) continue;
            from = una + (o.from % (max - una));
            to = Math.min(max, from + o.len);
          }
          log = logSend(log, at(from), at(to), now, at(max));
          for (let i = from; i < to; i++) model[i] = { ts: now, op, rexmit: i < max };
          max = Math.max(max, to);
        }
        const bytes = expand(log, una);
        expect(bytes.length).toBe(max - una);
        expect(log.entries.length).toBeLessThanOrEqual(MAX_SENT);
        for (let i = 0; i < bytes.length; i++) {
          const m = model[una + i]!;
          expect(bytes[i]!.ts).toBe(m.ts);
          expect(bytes[i]!.rexmit).toBe(m.rexmit);
        }
        // sentAfter by entry order agrees with the real transmission order of any two bytes.
        for (let i = 0; i < bytes.length; i += 13) {
          for (let j = 0; j < bytes.length; j += 11) {
            const a = model[una + i]!;
            const b = model[una + j]!;
            if (a.op === b.op && i === j) continue;
            const later = a.op > b.op || (a.op === b.op && i > j);
            expect(sentAfter(bytes[i]!.order, at(una + i + 1), bytes[j]!.order, at(una + j + 1))).toBe(later);
          }
        }
      }),
      propOptions(150),
    );
  });

  it('one step of new data is one entry', () => {
    let log = logSend(EMPTY_LOG, at(0), at(1000), 5, at(0));
    log = logSend(log, at(1000), at(2000), 5, at(1000));
    expect(log.entries).toEqual([{ start: at(0), end: at(2000), ts: 5, order: 0, rexmit: false }]);
    log = logSend(log, at(500), at(1500), 9, at(2000));
    expect(log.entries.map((e) => [seqDiff(e.start, BASE), seqDiff(e.end, BASE), e.ts, e.rexmit])).toEqual([
      [0, 500, 5, false],
      [500, 1500, 9, true],
      [1500, 2000, 5, false],
    ]);
  });
});

describe('ranges', () => {
  const r = (a: number, b: number): SeqRange => ({ start: at(a), end: at(b) });
  const bytesIn = (rs: readonly SeqRange[]): Set<number> => {
    const s = new Set<number>();
    for (const x of rs) for (let i = seqDiff(x.start, BASE); i < seqDiff(x.end, BASE); i++) s.add(i);
    return s;
  };
  const sortedDisjoint = fc
    .uniqueArray(fc.integer({ min: 0, max: 400 }), { maxLength: 12 })
    .map((xs) => xs.sort((a, b) => a - b))
    .map((xs) => {
      const out: SeqRange[] = [];
      for (let i = 0; i + 1 < xs.length; i += 2) out.push(r(xs[i]!, xs[i + 1]!));
      return out;
    });

  it('subtract and pipe match a byte model', () => {
    fc.assert(
      fc.property(sortedDisjoint, sortedDisjoint, fc.integer({ min: 0, max: 200 }), (sb, lost, una) => {
        const max = 420;
        const s = bytesIn(sb);
        const l = bytesIn(lost);
        const holes = bytesIn(subtract(sb, at(una), at(max)));
        let pipe = 0;
        for (let i = una; i < max; i++) {
          expect(holes.has(i)).toBe(!s.has(i));
          if (!s.has(i) && !l.has(i)) pipe++;
        }
        expect(rackPipe(sb, lost, at(una), at(max))).toBe(pipe);
      }),
      propOptions(300),
    );
  });

  it('recognises D-SACK blocks (RFC 2883 §4)', () => {
    expect(dsackBlock([{ left: at(0), right: at(10) }], at(20))).toEqual({ left: at(0), right: at(10) });
    expect(dsackBlock([{ left: at(30), right: at(40) }], at(20))).toBeNull();
    const inside = [
      { left: at(32), right: at(34) },
      { left: at(30), right: at(40) },
    ];
    expect(dsackBlock(inside, at(20))).toEqual(inside[0]);
    expect(dsackBlock([inside[1]!, inside[0]!], at(20))).toBeNull();
    expect(dsackBlock(undefined, at(20))).toBeNull();
  });
});

describe('delivered retransmissions (RFC 8985 §6.2 step 2)', () => {
  // [0, 3000) sent at 0; [0, 1000) resent at 10, [2000, 3000) at 12. min_RTT 5 ms; TSval = ms.
  let log = logSend(EMPTY_LOG, at(0), at(3000), 0, at(0));
  log = logSend(log, at(0), at(1000), 10, at(3000));
  log = logSend(log, at(2000), at(3000), 12, at(3000));
  const rack = { ...RACK_INIT, minRtt: 5 };
  const tsOf = (ms: number) => Math.floor(ms);
  const range = (from: number, to: number) => [{ start: at(from), end: at(to) }];

  it('a SACKed retransmission counts once min_RTT has passed, whatever the TSecr', () => {
    // Above the hole at 0 the peer echoes the TSval of the segment that last advanced its left
    // edge (RFC 7323 §4.3): older than the retransmission, yet it was the retransmission that came.
    const x = { una: at(0), tsEcr: tsOf(0), tsOf };
    expect(rackDelivered(rack, log, range(2000, 3000), { ...x, now: 20 }).xmitTs).toBe(12);
    expect(rackDelivered(rack, log, range(2000, 3000), { ...x, now: 14 }), 'sooner: the original').toBe(rack);
  });

  it('cumulatively acknowledged retransmitted data counts when the TSecr is the retransmission', () => {
    const x = { una: at(1000), tsOf, now: 20 };
    expect(rackDelivered(rack, log, range(0, 1000), { ...x, tsEcr: tsOf(10) }).xmitTs).toBe(10);
    expect(rackDelivered(rack, log, range(0, 1000), { ...x, tsEcr: tsOf(0) }), 'the original').toBe(rack);
  });
});

describe('reordering window (RFC 8985 §6.2 step 4)', () => {
  const base = { exited: false, inRecovery: false, sacked: 0, mss: 1000, sndUna: at(0), sndNxt: at(5000) };
  it('is min_RTT/4, 0 in recovery until reordering is seen, capped by SRTT, grown by D-SACK once per round', () => {
    const r = { ...RACK_INIT, minRtt: 40 };
    expect(reoWnd(r, { ...base, dsack: false, srtt: 50 }).wnd).toBe(10);
    expect(reoWnd(r, { ...base, dsack: false, inRecovery: true, srtt: 50 }).wnd).toBe(0);
    expect(
      reoWnd({ ...r, reorderingSeen: true }, { ...base, dsack: false, inRecovery: true, srtt: 50 }).wnd,
    ).toBe(10);
    const g = reoWnd({ ...r, reorderingSeen: true }, { ...base, dsack: true, srtt: 50 });
    expect(g.rack.reoWndMult).toBe(2);
    expect(g.wnd).toBe(20);
    const again = reoWnd(g.rack, { ...base, dsack: true, srtt: 50 });
    expect(again.rack.reoWndMult, 'same round').toBe(2);
    const next = reoWnd(again.rack, { ...base, dsack: true, sndUna: at(5000), srtt: 50 });
    expect(next.rack.reoWndMult).toBe(3);
    expect(reoWnd(next.rack, { ...base, dsack: false, srtt: 15 }).wnd, 'capped by SRTT').toBe(15);
  });
});
