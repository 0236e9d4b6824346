/**
 * src/clock.ts (TimeQueue, VirtualScheduler), src/link/real-clock.ts (RealScheduler) and
 * src/random.ts. They live here, next to the links that use them most.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type TimerId, TimeQueue, VirtualScheduler } from '../../src/clock.js';
import { RealScheduler } from '../../src/link/real-clock.js';
import { deriveSeed, Random } from '../../src/random.js';
import { propOptions } from '../support/props.js';

describe('TimeQueue', () => {
  it('pops in (time, insertion) order and removes anywhere, as a sorted reference does', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), time: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('pop' as const) }),
      fc.record({ kind: fc.constant('remove' as const), which: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const q = new TimeQueue<number>();
        const handles: ReturnType<TimeQueue<number>['push']>[] = [];
        let ref: { time: number; id: number }[] = [];
        let id = 0;
        for (const o of ops) {
          if (o.kind === 'push') {
            handles.push(q.push(o.time, id));
            ref.push({ time: o.time, id });
            ref.sort((a, b) => a.time - b.time || a.id - b.id);
            id++;
          } else if (o.kind === 'pop') {
            const got = q.pop();
            const want = ref.shift();
            expect(got?.value).toBe(want?.id);
          } else if (handles.length > 0) {
            const h = handles[o.which % handles.length]!;
            const wasQueued = ref.some((r) => r.id === h.value);
            expect(q.remove(h)).toBe(wasQueued);
            ref = ref.filter((r) => r.id !== h.value);
          }
          expect(q.size).toBe(ref.length);
          expect(q.peek()?.value).toBe(ref[0]?.id);
        }
      }),
      propOptions(),
    );
  });
});

describe('VirtualScheduler', () => {
  it('fires in time order, ties in insertion order, and moves the clock to each timer', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 100 }), (times) => {
        const s = new VirtualScheduler();
        const fired: { i: number; at: number; now: number }[] = [];
        times.forEach((t, i) => {
          s.at(t, () => fired.push({ i, at: t, now: s.now() }));
        });
        expect(s.pending).toBe(times.length);
        s.runUntilIdle();
        const want = times.map((t, i) => ({ i, at: t, now: t })).sort((a, b) => a.at - b.at || a.i - b.i);
        expect(fired).toEqual(want);
        expect(s.pending).toBe(0);
      }),
      propOptions(),
    );
  });

  it('never fires a cancelled timer and fires every other one exactly once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.boolean()), { maxLength: 100 }),
        fc.integer({ min: 0, max: 40 }),
        (timers, until) => {
          const s = new VirtualScheduler();
          const count = new Map<number, number>();
          const ids: TimerId[] = timers.map(([t], i) => s.at(t, () => count.set(i, (count.get(i) ?? 0) + 1)));
          timers.forEach(([, cancel], i) => {
            if (cancel) s.cancel(ids[i]!);
          });
          s.runUntil(until);
          expect(s.now()).toBe(until);
          timers.forEach(([t, cancel], i) => {
            expect(count.get(i) ?? 0).toBe(!cancel && t <= until ? 1 : 0);
          });
          // Cancelling again, or cancelling a fired timer, is a no-op.
          for (const id of ids) s.cancel(id);
          expect(s.pending).toBe(0);
        },
      ),
      propOptions(),
    );
  });

  it('fires timers set from callbacks, including ones due now, within the same run', () => {
    const s = new VirtualScheduler(100);
    const log: string[] = [];
    s.at(110, () => {
      log.push(`a@${s.now()}`);
      s.at(s.now(), () => log.push(`b@${s.now()}`));
      s.at(115, () => log.push(`c@${s.now()}`));
      s.at(130, () => log.push(`late@${s.now()}`));
    });
    s.at(110, () => log.push(`a2@${s.now()}`));
    s.advance(20);
    expect(log).toEqual(['a@110', 'a2@110', 'b@110', 'c@115']);
    expect(s.now()).toBe(120);
    expect(s.pending).toBe(1);
    expect(s.nextTime()).toBe(130);
  });

  it('a callback can cancel a later timer due at the same time', () => {
    const s = new VirtualScheduler();
    const log: string[] = [];
    let second: TimerId | undefined;
    s.at(5, () => {
      log.push('first');
      s.cancel(second!);
    });
    second = s.at(5, () => log.push('second'));
    s.runUntilIdle();
    expect(log).toEqual(['first']);
  });

  it('clamps a time in the past to now and never runs the clock backwards', () => {
    const s = new VirtualScheduler(50);
    let at = -1;
    s.at(10, () => {
      at = s.now();
    });
    s.runUntil(40);
    expect(s.now()).toBe(50);
    expect(at).toBe(50);
  });

  it('step() fires one timer at a time', () => {
    const s = new VirtualScheduler();
    const log: number[] = [];
    s.at(3, () => log.push(3));
    s.at(1, () => log.push(1));
    expect(s.step()).toBe(true);
    expect(log).toEqual([1]);
    expect(s.now()).toBe(1);
    expect(s.step()).toBe(true);
    expect(s.step()).toBe(false);
    expect(s.firedCount).toBe(2);
  });

  it('runUntilIdle throws on a timer that keeps rescheduling itself', () => {
    const s = new VirtualScheduler();
    const tick = (): void => {
      s.at(s.now() + 1, tick);
    };
    s.at(0, tick);
    expect(() => s.runUntilIdle(1000)).toThrow(/still pending after 1000 firings/);
  });

  it('rejects NaN times and negative advances (programmer errors)', () => {
    const s = new VirtualScheduler();
    expect(() => s.at(Number.NaN, () => {})).toThrow();
    expect(() => s.advance(-1)).toThrow();
  });
});

describe('RealScheduler', () => {
  it('fires in time order with ties in insertion order, and honours cancel', async () => {
    const s = new RealScheduler();
    const log: string[] = [];
    const t0 = s.now();
    const done = new Promise<void>((resolve) => s.at(t0 + 15, resolve));
    s.at(t0 + 5, () => log.push('b1'));
    s.at(t0, () => log.push('a'));
    s.at(t0 + 5, () => log.push('b2'));
    const gone = s.at(t0 + 2, () => log.push('cancelled'));
    s.at(t0 - 100, () => log.push('past'));
    s.cancel(gone);
    await done;
    expect(log).toEqual(['past', 'a', 'b1', 'b2']);
    expect(s.pending).toBe(0);
  });

  it('never fires before the requested time', async () => {
    const s = new RealScheduler();
    const lateness: number[] = [];
    const waits = [0.3, 1, 1.5, 3, 7];
    await Promise.all(
      waits.map(
        (w) =>
          new Promise<void>((resolve) => {
            const due = s.now() + w;
            s.at(due, () => {
              lateness.push(s.now() - due);
              resolve();
            });
          }),
      ),
    );
    for (const l of lateness) expect(l).toBeGreaterThanOrEqual(0);
  });

  it('cancelAll leaves nothing armed', async () => {
    const s = new RealScheduler();
    let fired = false;
    s.at(s.now() + 1, () => {
      fired = true;
    });
    s.cancelAll();
    await new Promise((r) => setTimeout(r, 10));
    expect(fired).toBe(false);
    expect(s.pending).toBe(0);
  });
});

describe('Random', () => {
  it('matches the xoshiro128** reference outputs for state (1, 2, 3, 4)', () => {
    // Reference: xoshiro128starstar.c (Blackman & Vigna), first outputs from s = {1, 2, 3, 4}.
    const r = Random.fromState(1, 2, 3, 4);
    expect([r.next(), r.next(), r.next(), r.next(), r.next(), r.next()]).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492,
    ]);
  });

  it('is reproducible from a seed and different across seeds', () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const xs = Array.from({ length: 8 }, () => a.next());
    expect(Array.from({ length: 8 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.next())).not.toEqual(xs);
    expect(deriveSeed(42, 0)).not.toBe(deriveSeed(42, 1));
  });

  it('float() is in [0, 1) with a plausible mean, int(n) in [0, n)', () => {
    const r = new Random(7);
    let sum = 0;
    const n = 100_000;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const f = r.float();
      if (!(f >= 0 && f < 1)) outside++;
      sum += f;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < n; i++) buckets[r.int(10)]!++;
    for (const b of buckets) expect(Math.abs(b - n / 10)).toBeLessThan(n / 100);
  });

  it('seed 0 is a valid seed', () => {
    const r = new Random(0);
    const xs = new Set(Array.from({ length: 16 }, () => r.next()));
    expect(xs.size).toBe(16);
  });
});
