/**
 * TSO in the core (`ConnOptions.tsoMax`, `SegmentOut.segmentSize`): full segments of new data leave
 * as one output, which a device (here `cutSegment`) cuts back. Whatever the path does — a
 * bottleneck queue, random loss, CE marks — the segments on the wire must be exactly those the same
 * connection sends without TSO, with the same counters: TSO only changes how many outputs carry them.
 * BBR paces per output, so for it only the stream is checked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Random } from '../../../src/random.js';
import type { SegmentOut } from '../../../src/tcp/core/index.js';
import { propOptions } from '../../support/props.js';
import { type PathParams, runPath } from './path-sim.js';

/** What the largest super-frame holds (src/stack/tcp.ts TSO_MAX). */
const TSO_MAX = 0xffff - 120;

const pathArb = fc.record({
  bytes: fc.integer({ min: 1, max: 300_000 }),
  delay: fc.constantFrom(0.1, 1, 5),
  congestion: fc.constantFrom('cubic' as const, 'newreno' as const),
  sack: fc.boolean(),
  timestamps: fc.boolean(),
  ecn: fc.boolean(),
  nagle: fc.boolean(),
  mtu: fc.constantFrom(1500, 9000),
  bottleneck: fc.option(
    fc.record({ rate: fc.integer({ min: 50, max: 2000 }), queue: fc.integer({ min: 3000, max: 200_000 }) }),
    { nil: undefined },
  ),
  loss: fc.constantFrom<number>(0, 0, 0.01, 0.05),
  ceEvery: fc.constantFrom(0, 0, 7, 50),
  seed: fc.integer(),
});

type PathCase = typeof pathArb extends fc.Arbitrary<infer T> ? T : never;

function params(c: PathCase, tso?: number): PathParams {
  const rnd = new Random(c.seed);
  // The same drops in both runs: decided by the segment's index, from one seeded draw per index.
  const drops: boolean[] = [];
  const drop = (from: 'A' | 'B', n: number) => {
    if (from === 'A' || c.loss === 0) return false;
    while (drops.length <= n) drops.push(rnd.chance(c.loss));
    return drops[n]!;
  };
  const config = { congestion: c.congestion, sack: c.sack, timestamps: c.timestamps, nagle: c.nagle };
  return {
    mtu: c.mtu,
    tooBig: 'icmp',
    bytes: c.bytes,
    delay: c.delay,
    client: { ...config, ecn: c.ecn ? 'on' : 'off' },
    server: { ...config, ecn: c.ecn ? 'on' : 'off' },
    ...(c.bottleneck === undefined ? {} : { bottleneck: c.bottleneck }),
    drop,
    ...(c.ceEvery > 0 ? { ce: (n: number) => n % c.ceEvery === c.ceEvery - 1 } : {}),
    limit: 300_000,
    ...(tso === undefined ? {} : { tso }),
  };
}

/** A segment as the wire sees it. */
function onWire(s: { seg: SegmentOut; at: number }) {
  return {
    at: s.at,
    repr: s.seg.repr,
    ect: s.seg.ect === true,
    payload: Buffer.concat(s.seg.payload).toString('hex'),
  };
}

describe('TSO in the TCP core', () => {
  it('puts exactly the segments of a connection without TSO on the wire, with the same counters', () => {
    fc.assert(
      fc.property(pathArb, (c) => {
        const plain = runPath(params(c));
        const tso = runPath(params(c, TSO_MAX));
        expect(tso.done).toBe(plain.done);
        expect(tso.received).toBe(plain.received);
        expect(tso.serverSegments.map(onWire)).toEqual(plain.serverSegments.map(onWire));
        expect(tso.clientSegments).toEqual(plain.clientSegments);
        expect(tso.serverCounters).toEqual(plain.serverCounters);
      }),
      propOptions(60),
    );
  });

  it('sends outputs of many segments once the window allows, and the wire sees MSS segments', () => {
    const r = runPath({ mtu: 1500, tooBig: 'icmp', bytes: 2_000_000, delay: 1, tso: TSO_MAX });
    expect(r.done).toBe(true);
    const mss = r.serverMss ?? 0;
    for (const s of r.serverSegments) expect(s.seg.payloadLen).toBeLessThanOrEqual(mss);
    // ~1,380 segments of data in far fewer outputs.
    expect(r.tsoOutputs).toBeGreaterThan(10);
    expect(r.serverSegments.length / r.tsoOutputs).toBeGreaterThan(10);
    expect(r.serverCounters['segments-out']).toBe(r.serverSegments.length);
  });

  it('BBR with TSO delivers the stream (it paces per output: the segments may differ)', () => {
    fc.assert(
      fc.property(pathArb, (c) => {
        // Paths every BBR sender here gets through in time: SACK, at most 1 % loss, a queue of 20+ segments.
        const bn = c.bottleneck === undefined ? {} : { bottleneck: { ...c.bottleneck, queue: 30_000 } };
        const p = params({ ...c, sack: true, loss: Math.min(c.loss, 0.01) }, TSO_MAX);
        const r = runPath({ ...p, ...bn, server: { ...p.server, congestion: 'bbr' } });
        expect(r.done).toBe(true);
      }),
      propOptions(20),
    );
  });
});
