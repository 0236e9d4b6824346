/**
 * Stream semantics between two cores over a hostile wire (TCP-NOTES §6 "Stream semantics"): bytes
 * read == bytes written (no loss, duplication or reordering), EOF arrives both ways (half-close), the
 * invariants hold after every step, and both sides end with no connection after 2·MSL.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { propOptions } from '../../support/props.js';
import { runSim, type SimParams } from './sim.js';

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
  })
  .map(({ reader, ...rest }) => ({
    ...rest,
    // A byte-at-a-time reader makes one step per byte: keep its stream short.
    aToB: reader.readSize === 1 ? Math.min(rest.aToB, 5000) : rest.aToB,
    ...reader,
    limit: 3_600_000 + Math.ceil(rest.aToB / reader.readSize) * reader.readPause * 2,
  }));

function check(p: SimParams): void {
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
  expect(r.closedB, 'B closed once, normally').toEqual(['normal']);
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

  it('delivers the stream and EOF both ways, then forgets both connections', () => {
    fc.assert(fc.property(simArb, check), propOptions(40));
  }, 600_000);
});
