/**
 * Time and timers, injected (docs/ARCHITECTURE.md "The driver"): the stack asks a `Scheduler` for the time
 * and for callbacks; the real one lives in link/real-clock.ts, the virtual one here drives simulations
 * deterministically. Pure: this module reads no clock and sets no Node timer.
 *
 * Times are milliseconds on a monotonic clock, possibly fractional. A timer set in the past fires at
 * the next opportunity, never before timers already due.
 */

/** An opaque handle for one scheduled callback; cancelling a fired or cancelled timer is a no-op. */
export interface TimerId {
  readonly __brand: 'TimerId';
}

export interface Scheduler {
  /** Milliseconds on a monotonic clock (may be fractional). */
  now(): number;
  /** Calls `fn` once at `time` (ms, same clock as `now()`), or as soon as possible if that has passed. */
  at(time: number, fn: () => void): TimerId;
  cancel(id: TimerId): void;
}

/** One entry of a `TimeQueue`: its position in the heap is kept so removal is O(log n). */
export interface TimeEntry<T> {
  readonly time: number;
  /** Insertion number: equal times come out in insertion order. */
  readonly seq: number;
  readonly value: T;
  /** Heap index, or -1 once popped or removed. */
  index: number;
}

/**
 * A binary min-heap ordered by (time, insertion order): push, pop and remove in O(log n), peek in O(1).
 * Shared by the schedulers and by links that hold frames until a delivery time.
 */
export class TimeQueue<T> {
  private readonly heap: TimeEntry<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(time: number, value: T): TimeEntry<T> {
    if (Number.isNaN(time)) throw new Error('TimeQueue.push: time is NaN');
    const e: TimeEntry<T> = { time, seq: this.seq++, value, index: this.heap.length };
    this.heap.push(e);
    this.up(e.index);
    return e;
  }

  peek(): TimeEntry<T> | undefined {
    return this.heap[0];
  }

  pop(): TimeEntry<T> | undefined {
    const top = this.heap[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Removes `e` if it is still queued; returns whether it was. */
  remove(e: TimeEntry<T>): boolean {
    if (e.index < 0 || this.heap[e.index] !== e) return false;
    this.removeAt(e.index);
    return true;
  }

  clear(): void {
    for (const e of this.heap) e.index = -1;
    this.heap.length = 0;
  }

  private removeAt(i: number): void {
    const h = this.heap;
    const gone = h[i]!;
    gone.index = -1;
    const last = h.pop()!;
    if (i === h.length) return;
    h[i] = last;
    last.index = i;
    // The moved entry may belong above or below its new place.
    if (i > 0 && before(last, h[(i - 1) >> 1]!)) this.up(i);
    else this.down(i);
  }

  private up(i: number): void {
    const h = this.heap;
    const e = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!before(e, parent)) break;
      h[i] = parent;
      parent.index = i;
      i = p;
    }
    h[i] = e;
    e.index = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const e = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && before(h[r]!, h[l]!)) c = r;
      const child = h[c]!;
      if (!before(child, e)) break;
      h[i] = child;
      child.index = i;
      i = c;
    }
    h[i] = e;
    e.index = i;
  }
}

function before<T>(a: TimeEntry<T>, b: TimeEntry<T>): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/**
 * Deterministic virtual time. Nothing happens until the owner advances the clock; timers then fire
 * in time order, ties in the order they were set. A callback may set or cancel timers, including
 * ones due at the current time (they fire within the same run).
 */
export class VirtualScheduler implements Scheduler {
  private readonly queue = new TimeQueue<() => void>();
  private time: number;
  private fired = 0;

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  at(time: number, fn: () => void): TimerId {
    // A time in the past is clamped to now: virtual time never runs backwards.
    return this.queue.push(time < this.time ? this.time : time, fn) as unknown as TimerId;
  }

  cancel(id: TimerId): void {
    this.queue.remove(id as unknown as TimeEntry<() => void>);
  }

  /** Timers set and not yet fired or cancelled. */
  get pending(): number {
    return this.queue.size;
  }

  /** Total callbacks fired so far. */
  get firedCount(): number {
    return this.fired;
  }

  /** Time of the earliest pending timer, or undefined when idle. */
  nextTime(): number | undefined {
    return this.queue.peek()?.time;
  }

  /** Fires every timer due up to `now() + ms`, then sets the clock there. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new Error(`VirtualScheduler.advance: ${ms} is not a non-negative duration`);
    this.runUntil(this.time + ms);
  }

  /**
   * Fires every timer due at or before `time` (in order), then sets the clock to `time`. A time in
   * the past means now: the clock never runs backwards.
   */
  runUntil(time: number): void {
    if (Number.isNaN(time)) throw new Error('VirtualScheduler.runUntil: time is NaN');
    const target = time > this.time ? time : this.time;
    for (;;) {
      const top = this.queue.peek();
      if (top === undefined || top.time > target) break;
      this.fireTop();
    }
    this.time = target;
  }

  /** Fires only the earliest timer (moving the clock to it); returns false when idle. */
  step(): boolean {
    if (this.queue.size === 0) return false;
    this.fireTop();
    return true;
  }

  /**
   * Fires timers until none is left, moving the clock to each. Throws after `limit` firings with
   * timers still pending: something keeps rescheduling itself (a retransmission timer, a livelock).
   * Returns the number of timers fired.
   */
  runUntilIdle(limit = 1_000_000): number {
    let n = 0;
    while (this.queue.size > 0) {
      if (n >= limit) {
        throw new Error(
          `VirtualScheduler.runUntilIdle: ${this.queue.size} timers still pending after ${limit} firings`,
        );
      }
      this.fireTop();
      n++;
    }
    return n;
  }

  private fireTop(): void {
    const e = this.queue.pop()!;
    if (e.time > this.time) this.time = e.time;
    this.fired++;
    e.value();
  }
}
