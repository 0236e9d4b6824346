/**
 * Loss recovery between two cores on the simulated wire (sim.ts, virtual time): reductions caused by
 * reordering alone are undone (RFC 3522 / RFC 3708 / RFC 4015), and under random loss with a fixed
 * RTT the sender keeps at least half the Mathis bound, MSS/RTT · 1.22/√p (RACK-TLP, PRR).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CongestionName, tcpCounters } from '../../../src/tcp/core/index.js';
import { propOptions } from '../../support/props.js';
import { runSim, type SimResult } from './sim.js';

function counters(r: SimResult) {
  const c = tcpCounters(r.a);
  return {
    reductions: c['fast-recovery'] + c['rto-expired'] + c['tlp-recovery'],
    undone: c['undo-dsack'] + c['undo-eifel'] + c['undo-frto'],
    rtos: c['rto-expired'],
  };
}

function intact(r: SimResult): void {
  expect(r.violations).toEqual([]);
  expect(r.eofB).toBe(true);
  expect(Buffer.from(r.readB).equals(Buffer.from(r.sentAB))).toBe(true);
}

describe('loss recovery over the simulated wire', () => {
  it('under reordering only, every cwnd reduction is undone', () => {
    let total = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom(10, 20, 30),
        fc.constantFrom<CongestionName>('newreno', 'cubic'),
        (seed, jitter, congestion) => {
          const r = runSim({
            seed,
            link: { loss: 0, dup: 0, delay: 10, jitter, calmAfter: Number.POSITIVE_INFINITY },
            aToB: 200_000,
            bToA: 0,
            chunk: 65_536,
            readSize: 1 << 20,
            readPause: 0,
            configA: { congestion },
          });
          intact(r);
          const c = counters(r);
          expect(c.undone, 'reductions undone').toBe(c.reductions);
          total += c.reductions;
        },
      ),
      { seed: 8985, ...propOptions(12) },
    );
    // Not vacuous: reordering did provoke reductions.
    expect(total).toBeGreaterThan(0);
  }, 120_000);

  it.each([0.01, 0.02, 0.03])('keeps at least half the Mathis bound at loss p = %s (RTT 20 ms)', (p) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom<CongestionName>('newreno', 'cubic'),
        (seed, congestion) => {
          const bytes = 3_000_000;
          const r = runSim({
            seed,
            link: { loss: p, dup: 0, delay: 10, jitter: 0, calmAfter: Number.POSITIVE_INFINITY },
            aToB: bytes,
            bToA: 0,
            chunk: 65_536,
            readSize: 1 << 20,
            readPause: 0,
            configA: { congestion },
          });
          intact(r);
          // Payload per segment: MSS 1460 less the timestamp option.
          const mathis = ((1448 / 0.02) * 1.22) / Math.sqrt(p);
          // From the handshake's end: a lost SYN costs a second and says nothing of loss recovery.
          const goodput = bytes / ((r.eofBAt! - r.establishedAAt!) / 1000);
          expect(
            goodput,
            `goodput ${Math.round(goodput)} B/s, Mathis ${Math.round(mathis)}`,
          ).toBeGreaterThanOrEqual(mathis / 2);
        },
      ),
      { seed: 6937, ...propOptions(3) },
    );
  }, 120_000);
});
