/**
 * src/testing/arbitraries.ts: what each arbitrary draws stays within its bounds, shrinks towards no
 * impairment and fewer, earlier actions, and replays from fast-check's seed; `twoHostsOptions` gives
 * options `twoHosts` takes; `playSchedule` plays each action at its virtual time, in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4Addr } from '../../src/addr.js';
import {
  impairments,
  playSchedule,
  schedules,
  seeds,
  type Timed,
  twoHostsOptions,
} from '../../src/testing/arbitraries.js';
import { SimNetwork, twoHosts } from '../../src/testing/index.js';
import { propOptions } from '../support/props.js';

/** A multiple of 0.001, as the probabilities are drawn. */
const inThousandths = (p: number) => Math.abs(p * 1000 - Math.round(p * 1000)) < 1e-9;

describe('impairments', () => {
  it('draws every field from 0 up to its bound, probabilities in steps of 0.001, times in whole ms', () => {
    const bounds = {
      maxLoss: 0.3,
      maxDuplicate: 0.02,
      maxReorder: 0.5,
      maxCorrupt: 0,
      maxDelay: 7,
      maxJitter: 3,
    };
    fc.assert(
      fc.property(impairments(bounds), (o) => {
        expect(o.loss).toBeGreaterThanOrEqual(0);
        expect(o.loss).toBeLessThanOrEqual(0.3);
        expect(o.duplicate).toBeLessThanOrEqual(0.02);
        expect(o.reorder).toBeLessThanOrEqual(0.5);
        expect(o.corrupt).toBe(0);
        for (const p of [o.loss!, o.duplicate!, o.reorder!]) expect(inThousandths(p)).toBe(true);
        expect(Number.isInteger(o.delay) && o.delay! <= 7).toBe(true);
        expect(Number.isInteger(o.jitter) && o.jitter! <= 3).toBe(true);
        expect(Number.isInteger(o.seed) && o.seed! >= 0 && o.seed! < 2 ** 31).toBe(true);
      }),
      propOptions(200),
    );
  });

  it('reaches its bounds, and defaults to no jitter', () => {
    const drawn = fc.sample(impairments({ maxLoss: 0.002 }), { numRuns: 300, seed: 5 });
    expect(new Set(drawn.map((o) => o.loss))).toEqual(new Set([0, 0.001, 0.002]));
    expect(drawn.every((o) => o.jitter === 0)).toBe(true);
  });

  it('shrinks a failure to the smallest impairment that still fails', () => {
    // A made-up fault: "fails whenever the loss is at least 4%".
    const r = fc.check(
      fc.property(impairments(), (o) => o.loss! < 0.04),
      { seed: 42 },
    );
    expect(r.failed).toBe(true);
    expect(r.counterexample?.[0]).toEqual({
      loss: 0.04,
      duplicate: 0,
      reorder: 0,
      corrupt: 0,
      delay: 0,
      jitter: 0,
      seed: 0,
    });
  });

  it.each([
    [{ maxLoss: 1.5 }, /maxLoss must be a probability/],
    [{ maxReorder: -0.1 }, /maxReorder must be a probability/],
    [{ maxDelay: Number.POSITIVE_INFINITY }, /maxDelay must be a duration/],
  ])('rejects the bounds %o', (bounds, message) => {
    expect(() => impairments(bounds)).toThrow(message);
  });
});

describe('seeds', () => {
  it('are 31-bit non-negative integers, the same ones from the same fast-check seed', () => {
    const a = fc.sample(seeds(), { numRuns: 50, seed: 9 });
    expect(a.every((s) => Number.isInteger(s) && s >= 0 && s < 2 ** 31)).toBe(true);
    expect(fc.sample(seeds(), { numRuns: 50, seed: 9 })).toEqual(a);
  });
});

describe('twoHostsOptions', () => {
  it('gives options twoHosts takes: an MTU from the list, IPv4 only by default', async () => {
    for (const opts of fc.sample(twoHostsOptions({ mtus: [1280, 9000], maxWireDelay: 2 }), {
      numRuns: 20,
      seed: 3,
    })) {
      expect([1280, 9000]).toContain(opts.mtu);
      expect(opts.delay).toBeLessThanOrEqual(2);
      const { net, ia, ib } = twoHosts(opts);
      expect([ia.mtu, ib.mtu]).toEqual([opts.mtu, opts.mtu]);
      expect([ia.ipv6Enabled, ib.ipv6Enabled]).toEqual([false, false]);
      await net.close();
    }
  });

  it('with ipv6: global IPv6 addresses on both hosts', async () => {
    const [opts] = fc.sample(twoHostsOptions({ ipv6: true, mtus: [1500] }), { numRuns: 1, seed: 1 });
    const { net, ia, ib } = twoHosts(opts!);
    expect([ia.ipv6.length, ib.ipv6.length]).toEqual([1, 1]);
    await net.close();
  });

  it('a run is a function of the options drawn: two networks from one draw see the same frames', async () => {
    const [opts] = fc.sample(twoHostsOptions({ maxLoss: 0.3 }), { numRuns: 1, seed: 77 });
    const trace = async () => {
      const frames: string[] = [];
      const { net, a } = twoHosts({
        ...opts!,
        capture: (f, info) => frames.push(`${info.time} ${info.port} ${Buffer.from(f).toString('hex')}`),
      });
      await net.settle(a.ipv4.ping(parseIpv4Addr('10.0.0.2')!, { timeoutMs: 1000 })).catch(() => undefined);
      await net.close();
      return frames;
    };
    const first = await trace();
    expect(first.length).toBeGreaterThan(0);
    expect(await trace()).toEqual(first);
  });
});

describe('schedules', () => {
  it('are sorted by time, within the horizon and the length bounds', () => {
    fc.assert(
      fc.property(schedules(fc.nat(9), { minLength: 2, maxLength: 8, horizonMs: 500 }), (s) => {
        expect(s.length).toBeGreaterThanOrEqual(2);
        expect(s.length).toBeLessThanOrEqual(8);
        for (let i = 0; i < s.length; i++) {
          expect(Number.isInteger(s[i]!.at) && s[i]!.at >= 0 && s[i]!.at <= 500).toBe(true);
          if (i > 0) expect(s[i]!.at).toBeGreaterThanOrEqual(s[i - 1]!.at);
        }
      }),
      propOptions(200),
    );
  });

  it('shrink towards fewer, earlier actions', () => {
    // A made-up fault: "fails when two actions come 100 ms or more apart".
    const r = fc.check(
      fc.property(schedules(fc.constant('x')), (s) => s.length < 2 || s[s.length - 1]!.at - s[0]!.at < 100),
      { seed: 1 },
    );
    expect(r.failed).toBe(true);
    expect(r.counterexample?.[0]).toEqual([
      { at: 0, action: 'x' },
      { at: 100, action: 'x' },
    ]);
  });
});

describe('playSchedule', () => {
  it('plays each action at its virtual time from the start, in order, awaiting each', async () => {
    const net = new SimNetwork({ seed: 1 });
    await net.runFor(250);
    const schedule: Timed<string>[] = [
      { at: 0, action: 'a' },
      { at: 10, action: 'b' },
      { at: 10, action: 'c' },
      { at: 1500, action: 'd' },
    ];
    const played: string[] = [];
    await playSchedule(net, schedule, async (action, at) => {
      played.push(`${action}@${net.now() - 250}/${at}`);
      // An action that takes virtual time itself: the next one still comes at its own time, or
      // at once if that has passed.
      if (action === 'b') await net.runFor(5);
    });
    expect(played).toEqual(['a@0/0', 'b@10/10', 'c@15/10', 'd@1500/1500']);
    await net.close();
  });
});
