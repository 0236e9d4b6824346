/**
 * src/testing/time.ts: settle, runUntil and runFor move a VirtualScheduler one timer at a time with
 * an event-loop turn in between, stop where they say, and report limits, idleness and livelocks.
 */
import { describe, expect, it } from 'vitest';
import { VirtualScheduler } from '../../src/clock.js';
import { runFor, runUntil, settle } from '../../src/testing/index.js';

/** A promise resolved with `value` by a timer at `time` (virtual ms). */
function at<T>(s: VirtualScheduler, time: number, value: T): Promise<T> {
  return new Promise((resolve) => s.at(time, () => resolve(value)));
}

describe('settle', () => {
  it('returns what the promise resolves with, and stops the clock at the timer that settled it', async () => {
    const s = new VirtualScheduler();
    const later = at(s, 500, 'later');
    s.at(900, () => undefined);
    expect(await settle(s, at(s, 120, 'first'))).toBe('first');
    expect(s.now()).toBe(120);
    expect(s.pending).toBe(2);
    expect(await settle(s, later)).toBe('later');
    expect(s.now()).toBe(500);
  });

  it('returns at once, moving no time, for a promise already settled', async () => {
    const s = new VirtualScheduler(40);
    s.at(50, () => undefined);
    expect(await settle(s, Promise.resolve(7))).toBe(7);
    expect(s.now()).toBe(40);
    expect(s.firedCount).toBe(0);
  });

  it('passes a rejection on to the caller', async () => {
    const s = new VirtualScheduler();
    const boom = new Promise((_, reject) => s.at(10, () => reject(new Error('boom'))));
    await expect(settle(s, boom)).rejects.toThrow('boom');
    expect(s.now()).toBe(10);
  });

  it('runs promise jobs and nextTick callbacks between two timers, so they can set the next timer', async () => {
    const s = new VirtualScheduler();
    const order: string[] = [];
    // A chain that goes through a timer, a promise job, a nextTick and another timer: only a runner
    // that drains the event loop between timers finds the second timer.
    const chain = at(s, 10, 'a')
      .then(async (v) => {
        order.push(`${v}@${s.now()}`);
        await null;
        return new Promise<string>((resolve) =>
          process.nextTick(() => s.at(s.now() + 5, () => resolve('b'))),
        );
      })
      .then((v) => {
        order.push(`${v}@${s.now()}`);
        return v;
      });
    s.at(12, () => order.push('timer@12'));
    expect(await settle(s, chain)).toBe('b');
    expect(order).toEqual(['a@10', 'timer@12', 'b@15']);
  });

  it('gives up after limitMs of virtual time, leaving the clock at the limit', async () => {
    const s = new VirtualScheduler(100);
    // A timer every 10 ms for ever: never idle, never settling.
    const tick = (): void => void s.at(s.now() + 10, tick);
    tick();
    await expect(settle(s, new Promise(() => undefined), { limitMs: 1000 })).rejects.toThrow(
      'settle: still pending after 1000 ms of virtual time (from 100 to 1100 ms)',
    );
    expect(s.now()).toBe(1100);
  });

  it('reports an idle network: no timer left and the promise still pending', async () => {
    const s = new VirtualScheduler();
    s.at(30, () => undefined);
    await expect(settle(s, new Promise(() => undefined))).rejects.toThrow(
      'settle: still pending at 30 ms and no timer is left to settle it (the network is idle)',
    );
  });

  it('waits for work that chains through setImmediate before calling the network idle', async () => {
    const s = new VirtualScheduler();
    const p = new Promise<string>((resolve) =>
      setImmediate(() => setImmediate(() => setImmediate(() => s.at(70, () => resolve('late'))))),
    );
    expect(await settle(s, p)).toBe('late');
    expect(s.now()).toBe(70);
  });

  it('throws on a livelock: timers re-armed at the same instant for ever', async () => {
    const s = new VirtualScheduler(5);
    const again = (): void => void s.at(s.now(), again);
    again();
    await expect(settle(s, new Promise(() => undefined), { maxTimersPerInstant: 1000 })).rejects.toThrow(
      'virtual time is stuck at 5 ms: 1000 timers fired without it moving',
    );
    expect(s.firedCount).toBe(1000);
  });

  it('lets many timers fire at one instant when they end', async () => {
    const s = new VirtualScheduler();
    let n = 0;
    const p = new Promise<number>((resolve) => {
      for (let i = 0; i < 50; i++) s.at(3, () => (++n === 50 ? resolve(n) : undefined));
    });
    expect(await settle(s, p, { maxTimersPerInstant: 50 })).toBe(50);
  });
});

describe('runUntil', () => {
  it('stops as soon as the condition holds, checked before each timer', async () => {
    const s = new VirtualScheduler();
    let hits = 0;
    for (const t of [10, 20, 30, 40]) s.at(t, () => hits++);
    expect(await runUntil(s, () => hits === 2)).toBe(true);
    expect(s.now()).toBe(20);
    expect(s.pending).toBe(2);
  });

  it('says false at the limit, with the clock there', async () => {
    const s = new VirtualScheduler();
    for (const t of [10, 20, 3000]) s.at(t, () => undefined);
    expect(await runUntil(s, () => false, { limitMs: 2500 })).toBe(false);
    expect(s.now()).toBe(2500);
    expect(s.pending).toBe(1);
  });

  it('says false when the network goes idle first', async () => {
    const s = new VirtualScheduler();
    s.at(10, () => undefined);
    expect(await runUntil(s, () => false)).toBe(false);
    expect(s.now()).toBe(10);
  });

  it('rejects a negative limit', async () => {
    await expect(runUntil(new VirtualScheduler(), () => true, { limitMs: -1 })).rejects.toThrow(/limitMs/);
  });
});

describe('runFor', () => {
  it('fires the timers due up to now + ms (the last one included), and leaves the clock there', async () => {
    const s = new VirtualScheduler(1000);
    const fired: number[] = [];
    for (const t of [1000, 1250, 1500, 1501]) s.at(t, () => fired.push(s.now()));
    await runFor(s, 500);
    expect(fired).toEqual([1000, 1250, 1500]);
    expect(s.now()).toBe(1500);
  });

  it('moves the clock the whole way on an idle network', async () => {
    const s = new VirtualScheduler();
    await runFor(s, 250);
    expect(s.now()).toBe(250);
  });

  it('runs promise jobs between timers, unlike advance()', async () => {
    const order: string[] = [];
    for (const run of ['runFor', 'advance'] as const) {
      const s = new VirtualScheduler();
      s.at(1, () => void Promise.resolve().then(() => order.push(`${run}: job after timer 1`)));
      s.at(2, () => order.push(`${run}: timer 2`));
      if (run === 'runFor') await runFor(s, 10);
      else s.advance(10);
      await null;
    }
    expect(order).toEqual([
      'runFor: job after timer 1',
      'runFor: timer 2',
      'advance: timer 2',
      'advance: job after timer 1',
    ]);
  });

  it('rejects a duration that is not finite and >= 0', async () => {
    await expect(runFor(new VirtualScheduler(), Number.NaN)).rejects.toThrow(/runFor/);
    await expect(runFor(new VirtualScheduler(), -5)).rejects.toThrow(/runFor/);
  });
});
