/**
 * Stream semantics between two cores over a hostile wire (docs/TCP-NOTES.md §6 "Stream semantics"): bytes
 * read == bytes written (no loss, duplication or reordering), EOF arrives both ways (half-close), the
 * invariants hold after every step, and both sides end with no connection after 2·MSL.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tcpCounters } from '../../../src/tcp/core/index.js';
import { propOptions } from '../../support/props.js';
import { runSim, type SimParams, type SimResult } from './sim.js';

const configArb = fc.record({
  sack: fc.boolean(),
  timestamps: fc.boolean(),
  windowScaling: fc.boolean(),
  congestion: fc.constantFrom('newreno' as const, 'cubic' as const),
  nagle: fc.boolean(),
  rcvBuf: fc.constantFrom(4096, 16_384, 65_536, 262_144),
  sndBuf: fc.constantFrom(4096, 32_768, 262_144),
  mss4: fc.constantFrom(536, 1000, 1460),
  // 2·MSL must outlast the peer's FIN retransmissions, or its LAST-ACK ends in a RST (by design).
  msl: fc.constant(30_000),
});

const simArb: fc.Arbitrary<SimParams> = fc
  .record({
    seed: fc.integer(),
    link: fc.record({
      loss: fc.constantFrom(0, 0.02, 0.1, 0.25),
      dup: fc.constantFrom(0, 0.05, 0.2),
      delay: fc.integer({ min: 0, max: 50 }),
      jitter: fc.constantFrom(0, 5, 40, 200),
      calmAfter: fc.constantFrom(10_000, 60_000),
    }),
    aToB: fc.integer({ min: 0, max: 300_000 }),
    bToA: fc.integer({ min: 0, max: 20_000 }),
    chunk: fc.integer({ min: 1, max: 70_000 }),
    reader: fc.constantFrom(
      { readSize: 1e9, readPause: 0 },
      { readSize: 1, readPause: 0 },
      { readSize: 5000, readPause: 10 },
      { readSize: 20_000, readPause: 300 },
    ),
    configA: configArb,
    configB: configArb,
    // Start times that put the clock part of the ISNs anywhere, including near 2^31 and 2^32.
    start: fc.constantFrom(1000, 8_589_934, 17_179_869, 12_345_678_901),
    // Backlog 0: every handshake goes through SYN cookies.
    backlogB: fc.constantFrom(-1, -1, 0),
    // Both ISNs a little below 2^32 or 2^31 (or wherever the clocks put them).
    issNear: fc.constantFrom(-1, 0xffff_f000, 0x7fff_f000),
  })
  .map(({ reader, backlogB, issNear, ...rest }) => ({
    ...rest,
    ...(backlogB >= 0 ? { backlogB } : {}),
    ...(issNear >= 0 ? { issNear } : {}),
    // Byte-at-a-time readers and tiny writes make one step per byte or so: keep those streams short.
    aToB: reader.readSize === 1 || rest.chunk < 100 ? Math.min(rest.aToB, 5000) : rest.aToB,
    ...reader,
    limit: 3_600_000 + Math.ceil(rest.aToB / reader.readSize) * reader.readPause * 2,
  }));

function check(p: SimParams): SimResult {
  const r = runSim(p);
  expect(r.violations, 'invariants').toEqual([]);
  expect(r.readB.length, 'A -> B length').toBe(r.sentAB.length);
  expect(r.sentAB.length, 'A wrote everything').toBe(p.aToB);
  expect(Buffer.compare(r.readB, r.sentAB), 'A -> B bytes').toBe(0);
  expect(r.eofB, 'B saw EOF').toBe(true);
  expect(Buffer.compare(r.readA, r.sentBA), 'B -> A bytes after the half-close').toBe(0);
  expect(r.eofA, 'A saw EOF').toBe(true);
  expect(r.connsLeft, 'no connection left after 2·MSL').toBe(0);
  expect(r.closedA, 'A closed once, normally').toEqual(['normal']);
  // B's LAST-ACK normally ends with A's ACK; under heavy loss B's FIN retransmission may come after
  // A's 2·MSL and meet a RST instead (by design: RTO backoff can exceed 2·MSL).
  expect([['normal'], ['reset']], 'B closed once').toContainEqual(r.closedB);
  return r;
}

describe('two cores over a hostile wire', () => {
  it('clean link, defaults', () => {
    check({
      seed: 1,
      link: { loss: 0, dup: 0, delay: 5, jitter: 0, calmAfter: 0 },
      aToB: 1_000_000,
      bToA: 10_000,
      chunk: 65_536,
      readSize: 1e9,
      readPause: 0,
    });
  });

  it.each([0xffff_f000, 0x7fff_f000])('both ISNs near %i: the stream crosses the wrap point', (issNear) => {
    const r = check({
      seed: 3,
      link: { loss: 0.05, dup: 0.05, delay: 2, jitter: 0, calmAfter: 5000 },
      aToB: 100_000,
      bToA: 100_000,
      chunk: 10_000,
      readSize: 1e9,
      readPause: 0,
      issNear,
    });
    void r;
  });

  it('is deterministic: the same seed replays the same run (docs/TCP-NOTES.md §6 "Determinism")', () => {
    const p: SimParams = {
      seed: 99,
      link: { loss: 0.1, dup: 0.1, delay: 7, jitter: 30, calmAfter: 20_000 },
      aToB: 150_000,
      bToA: 3000,
      chunk: 4000,
      readSize: 10_000,
      readPause: 10,
      configA: { congestion: 'cubic' },
    };
    const a = runSim(p);
    const b = runSim(p);
    expect([b.segments, b.time, [...b.a.counterValues], [...b.b.counterValues]]).toEqual([
      a.segments,
      a.time,
      [...a.a.counterValues],
      [...a.b.counterValues],
    ]);
  });

  it('a reader that stops: the sender probes the zero window for as long as it lasts, then completes', () => {
    const p: SimParams = {
      seed: 7,
      link: { loss: 0.05, dup: 0, delay: 10, jitter: 5, calmAfter: 0 },
      aToB: 200_000,
      bToA: 0,
      chunk: 16_384,
      readSize: 1e9,
      readPause: 0,
      configB: { rcvBuf: 16_384 },
      stall: { after: 50_000, for: 30 * 60_000 },
    };
    const r = check(p);
    expect(tcpCounters(r.a)['persist-probe']).toBeGreaterThan(10);
    expect(tcpCounters(r.a)['persist-exceeded']).toBe(0);
  });

  it('when the peer vanishes and the users close, every connection goes away (no leak in any state)', () => {
    fc.assert(
      fc.property(simArb, fc.integer({ min: 0, max: 20_000 }), (p, dieAt) => {
        const r = runSim({ ...p, dieAt, limit: 3_600_000 });
        expect(r.violations).toEqual([]);
        expect(r.connsLeft).toBe(0);
        expect(Buffer.compare(r.readB, r.sentAB.subarray(0, r.readB.length)), 'what B read is a prefix').toBe(
          0,
        );
      }),
      propOptions(40),
    );
  }, 600_000);

  it('delivers the stream and EOF both ways, then forgets both connections', () => {
    fc.assert(
      fc.property(simArb, (p) => {
        check(p);
      }),
      propOptions(40),
    );
  }, 600_000);
});
