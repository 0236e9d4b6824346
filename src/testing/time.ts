/**
 * Running code that lives on Node's event loop (streams, promises, `http`, `tls`) against a
 * `VirtualScheduler`: virtual time only moves when one of these functions fires the next timer, and
 * between two timers every `process.nextTick` callback and promise job that the last one queued runs
 * to completion (one turn of the event loop, through `setImmediate`).
 *
 * - `settle(scheduler, promise)` runs until the promise settles and returns its outcome;
 * - `runUntil(scheduler, condition)` runs until `condition()` holds and says whether it did;
 * - `runFor(scheduler, ms)` runs for that long and leaves the clock exactly `ms` later.
 *
 * Each step is: one event-loop turn, then the check, then the earliest timer (one callback). So
 * stream machinery sees every frame as it arrives, as it would on a real clock. Code under test must
 * take its time from the scheduler: a real `setTimeout` never fires while virtual time is frozen
 * between steps, and a network with no timer left and nothing settling is reported as idle.
 */
import type { VirtualScheduler } from '../clock.js';

/** Options of `settle` and `runUntil`. */
export interface RunOptions {
  /**
   * Virtual milliseconds from now after which to give up (default 600 000, ten minutes): `settle`
   * rejects, `runUntil` returns false, and the clock is left at the limit.
   */
  readonly limitMs?: number;
  /**
   * Timers that may fire at one instant before the run counts as a livelock and throws: something
   * re-arms itself at the current time forever, so virtual time never reaches the limit
   * (default 1 000 000).
   */
  readonly maxTimersPerInstant?: number;
}

/** Default limit of `settle` and `runUntil`, in virtual milliseconds. */
export const DEFAULT_LIMIT_MS = 600_000;

/**
 * Event-loop turns allowed with no timer pending before the network counts as idle: work that
 * chains through `setImmediate` (a few Node internals do) gets this many turns to set a timer.
 */
const IDLE_TURNS = 8;

const MAX_TIMERS_PER_INSTANT = 1_000_000;

/** One turn of Node's event loop: what nextTick and promise jobs queued so far (and queue) has run. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

type Outcome = 'done' | 'limit' | 'idle';

/**
 * The loop behind every runner: until `done()`, a turn then a timer. Returns why it stopped; on
 * 'limit' the clock is at `end`. Throws on a livelock (`maxPerInstant` timers at one instant).
 */
async function drive(
  scheduler: VirtualScheduler,
  done: () => boolean,
  end: number,
  maxPerInstant = MAX_TIMERS_PER_INSTANT,
): Promise<Outcome> {
  let idle = 0;
  let instant = scheduler.now();
  // Timers fired at `instant` so far.
  let fired = 0;
  for (;;) {
    await nextTurn();
    if (done()) return 'done';
    const next = scheduler.nextTime();
    if (next === undefined) {
      if (++idle > IDLE_TURNS) return 'idle';
      continue;
    }
    idle = 0;
    if (next > end) {
      scheduler.runUntil(end);
      return 'limit';
    }
    if (next !== instant) {
      instant = next;
      fired = 0;
    } else if (fired >= maxPerInstant) {
      throw new Error(`virtual time is stuck at ${instant} ms: ${fired} timers fired without it moving`);
    }
    fired++;
    scheduler.step();
  }
}

function limitOf(opts: RunOptions): number {
  const limit = opts.limitMs ?? DEFAULT_LIMIT_MS;
  if (!(limit >= 0)) throw new Error(`limitMs must be a duration >= 0 ms, got ${limit}`);
  return limit;
}

/**
 * Runs virtual time until `promise` settles, and returns (or throws) what it settled with.
 *
 * Rejects with an Error when `limitMs` of virtual time pass first, or when nothing is left that
 * could settle it (no timer pending: the network is idle). A rejection of `promise` met while time
 * still runs is not reported as unhandled: it is passed on to the caller.
 *
 * ```ts
 * const reply = await settle(scheduler, stack.ipv4.ping(addr));
 * ```
 */
export async function settle<T>(
  scheduler: VirtualScheduler,
  promise: Promise<T>,
  opts: RunOptions = {},
): Promise<T> {
  const limit = limitOf(opts);
  let done = false;
  const out = promise.finally(() => {
    done = true;
  });
  out.catch(() => undefined);
  const start = scheduler.now();
  const why = await drive(scheduler, () => done, start + limit, opts.maxTimersPerInstant);
  if (why === 'done') return out;
  throw new Error(
    why === 'limit'
      ? `settle: still pending after ${limit} ms of virtual time (from ${start} to ${scheduler.now()} ms)`
      : `settle: still pending at ${scheduler.now()} ms and no timer is left to settle it (the network is idle)`,
  );
}

/**
 * Runs virtual time until `condition()` holds (checked after every event-loop turn, so before each
 * timer), for at most `limitMs`. Returns whether it held; false also when the network went idle
 * without it (the clock then stays where the last timer left it).
 *
 * ```ts
 * expect(await runUntil(scheduler, () => server.connections === 0, { limitMs: 60_000 })).toBe(true);
 * ```
 */
export async function runUntil(
  scheduler: VirtualScheduler,
  condition: () => boolean,
  opts: RunOptions = {},
): Promise<boolean> {
  const limit = limitOf(opts);
  return (await drive(scheduler, condition, scheduler.now() + limit, opts.maxTimersPerInstant)) === 'done';
}

/**
 * Runs virtual time for `ms` milliseconds, an event-loop turn before each timer, and leaves the
 * clock at exactly `now + ms` (timers due then have fired). Unlike `scheduler.advance(ms)`, which
 * fires timers back to back, promises and stream callbacks run in between.
 */
export async function runFor(scheduler: VirtualScheduler, ms: number): Promise<void> {
  if (!(ms >= 0 && ms < Number.POSITIVE_INFINITY))
    throw new Error(`runFor: ${ms} is not a finite duration >= 0 ms`);
  const end = scheduler.now() + ms;
  const why = await drive(scheduler, () => false, end);
  if (why === 'idle') scheduler.runUntil(end);
  // Timers due exactly at `end` have fired (drive stops only past it); let their callbacks run.
  await nextTurn();
}
