/**
 * The real `Scheduler`: `performance.now()` and Node timers.
 *
 * All timers live in one `TimeQueue` and a single Node timer is armed for the earliest, so many
 * connections re-arming timers cost heap operations, not Node timer churn, and timers fire in
 * (time, insertion) order exactly like the virtual scheduler. Timers already due run from one
 * `setImmediate` (Node's `setTimeout` has whole-millisecond resolution and a 1 ms minimum).
 *
 * Keeping the process alive: by default the armed Node timer is ref'd, so a pending timer keeps the
 * process alive, as a stack that is up should (a TAP link keeps it alive too, through its in-flight
 * poll). A stack that is closed cancels its timers and stops holding the process. Pass
 * `{ unref: true }` for background timers that must never hold the process open on their own.
 */
import { type Scheduler, type TimeEntry, type TimerId, TimeQueue } from '../clock.js';

export interface RealSchedulerOptions {
  /** Do not keep the process alive for pending timers (default false). */
  readonly unref?: boolean;
}

export class RealScheduler implements Scheduler {
  private readonly queue = new TimeQueue<() => void>();
  private readonly unref: boolean;
  private timeout: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** Time the armed Node timer targets (Infinity when none). */
  private armedFor = Number.POSITIVE_INFINITY;
  private readonly onTimer = (): void => this.fire();

  constructor(opts: RealSchedulerOptions = {}) {
    this.unref = opts.unref ?? false;
  }

  now(): number {
    return performance.now();
  }

  at(time: number, fn: () => void): TimerId {
    const e = this.queue.push(time, fn);
    if (e.index === 0) this.arm();
    return e as unknown as TimerId;
  }

  cancel(id: TimerId): void {
    const e = id as unknown as TimeEntry<() => void>;
    const wasFirst = e.index === 0;
    if (this.queue.remove(e) && wasFirst) this.arm();
  }

  /** Timers set and not yet fired or cancelled. */
  get pending(): number {
    return this.queue.size;
  }

  /** Cancels every timer (for shutdown). */
  cancelAll(): void {
    this.queue.clear();
    this.disarm();
  }

  private fire(): void {
    this.timeout = undefined;
    this.immediate = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    // Only what was due on entry: a callback that re-arms for "now" runs on the next turn, so a
    // self-rescheduling timer cannot starve I/O.
    for (;;) {
      const top = this.queue.peek();
      if (top === undefined || top.time > now) break;
      this.queue.pop();
      try {
        top.value();
      } catch (e) {
        // Keep the remaining timers armed, then surface the error as an uncaught exception.
        this.arm();
        throw e;
      }
    }
    this.arm();
  }

  private arm(): void {
    const top = this.queue.peek();
    if (top === undefined) {
      this.disarm();
      return;
    }
    if (top.time >= this.armedFor && (this.timeout !== undefined || this.immediate !== undefined)) return;
    this.disarm();
    const delay = top.time - performance.now();
    this.armedFor = top.time;
    if (delay <= 0) {
      this.immediate = setImmediate(this.onTimer);
      if (this.unref) this.immediate.unref();
    } else {
      // Node may fire up to ~1 ms early (libuv's clock is whole ms): fire() then re-arms.
      this.timeout = setTimeout(this.onTimer, Math.ceil(delay));
      if (this.unref) this.timeout.unref();
    }
  }

  private disarm(): void {
    if (this.timeout !== undefined) clearTimeout(this.timeout);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.timeout = undefined;
    this.immediate = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }
}
