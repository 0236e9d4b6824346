/**
 * `oasis-net/testing/arbitraries`: fast-check arbitraries for simulated networks, so a property test
 * can let fast-check choose the network's seed, its impairments and a schedule of actions, and
 * shrink a failure to the smallest network that still fails. Needs `fast-check` (4.x), an optional
 * peer dependency of oasis-net: install it next to it.
 *
 * ```ts
 * import fc from 'fast-check';
 * import { twoHosts } from 'oasis-net/testing';
 * import { twoHostsOptions } from 'oasis-net/testing/arbitraries';
 *
 * await fc.assert(
 *   fc.asyncProperty(twoHostsOptions(), async (opts) => {
 *     const { net, a, b } = twoHosts(opts);
 *     // ... run the protocol under test between a and b with net.settle / net.runUntil
 *     await net.close();
 *   }),
 * );
 * ```
 *
 * Replaying a failure: fast-check prints the counterexample (the options, the network's `seed`
 * included) and its own `seed` and `path`; pass `{ seed, path }` to `fc.assert` to run exactly that
 * case again, or call `twoHosts(counterexample)` directly. The simulation has no other source of
 * randomness, so the same options give the same frames at the same virtual times.
 *
 * Probabilities are drawn in steps of 0.001 and times in whole milliseconds, so that shrinking
 * reaches round values (no loss, no delay) rather than tiny fractions.
 *
 * @module oasis-net/testing/arbitraries
 */
import fc from 'fast-check';
import type { ImpairOptions } from '../link/impair.js';
import type { SimNetwork, TwoHostsOptions } from './sim.js';

/** Upper bounds of the impairments drawn; each is drawn from 0 up to its bound. */
export interface ImpairmentBounds {
  /** Largest probability of losing a frame (default 0.1). */
  readonly maxLoss?: number;
  /** Largest probability of duplicating a frame (default 0.05). */
  readonly maxDuplicate?: number;
  /** Largest probability of holding a frame back so that later ones overtake it (default 0.2). */
  readonly maxReorder?: number;
  /** Largest probability of flipping one bit of a frame (default 0.01). */
  readonly maxCorrupt?: number;
  /** Largest fixed one-way delay added, ms (default 10). */
  readonly maxDelay?: number;
  /** Largest jitter added on top of the delay, ms (default 0: frames keep their order unless reordered). */
  readonly maxJitter?: number;
}

/** Seeds as the simulator takes them: non-negative 31-bit integers. */
export function seeds(): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: 2 ** 31 - 1 });
}

function probability(max: number, name: string): fc.Arbitrary<number> {
  if (!(max >= 0 && max <= 1)) throw new RangeError(`${name} must be a probability in 0..1, got ${max}`);
  return fc.integer({ min: 0, max: Math.round(max * 1000) }).map((n) => n / 1000);
}

function milliseconds(max: number, name: string): fc.Arbitrary<number> {
  if (!(max >= 0 && Number.isFinite(max)))
    throw new RangeError(`${name} must be a duration >= 0 ms, got ${max}`);
  return fc.integer({ min: 0, max: Math.floor(max) });
}

/**
 * Seeded impairments for a link or an interface (the `impair` option of `SimNetwork.link`,
 * `twoHosts` or `impair()`): loss, duplication, reordering, corruption, delay and jitter, each from
 * zero up to its bound, with a seed of their own. Shrinks towards no impairment at all.
 */
export function impairments(bounds: ImpairmentBounds = {}): fc.Arbitrary<ImpairOptions> {
  return fc.record({
    loss: probability(bounds.maxLoss ?? 0.1, 'maxLoss'),
    duplicate: probability(bounds.maxDuplicate ?? 0.05, 'maxDuplicate'),
    reorder: probability(bounds.maxReorder ?? 0.2, 'maxReorder'),
    corrupt: probability(bounds.maxCorrupt ?? 0.01, 'maxCorrupt'),
    delay: milliseconds(bounds.maxDelay ?? 10, 'maxDelay'),
    jitter: milliseconds(bounds.maxJitter ?? 0, 'maxJitter'),
    seed: seeds(),
  });
}

/** What `twoHostsOptions` draws from. */
export interface TwoHostsBounds extends ImpairmentBounds {
  /** IP MTUs to choose from (default 1500, 1280 and 576: IPv6's minimum and a small IPv4 one). */
  readonly mtus?: readonly number[];
  /** Largest propagation delay of the wire, ms (default 5). */
  readonly maxWireDelay?: number;
  /** IPv6 on the hosts' interfaces (default false: IPv4 only, so no DAD traffic to wait for). */
  readonly ipv6?: boolean;
}

/**
 * Options for `twoHosts` (from `oasis-net/testing`): the network's seed, the wire's MTU and
 * propagation delay, and seeded impairments on the wire, both ways. The hosts are `a` (10.0.0.1)
 * and `b` (10.0.0.2).
 */
export function twoHostsOptions(bounds: TwoHostsBounds = {}): fc.Arbitrary<TwoHostsOptions> {
  const mtus = bounds.mtus ?? [1500, 1280, 576];
  if (mtus.length === 0) throw new RangeError('twoHostsOptions: mtus is empty');
  const ipv6 = bounds.ipv6 ?? false;
  return fc
    .record({
      seed: seeds(),
      mtu: fc.constantFrom(...mtus),
      delay: milliseconds(bounds.maxWireDelay ?? 5, 'maxWireDelay'),
      impair: impairments(bounds),
    })
    .map(({ seed, mtu, delay, impair }) => ({
      seed,
      mtu,
      delay,
      impair,
      ipv6Enabled: ipv6,
      ...(ipv6 ? { ipv6: true } : {}),
    }));
}

/** One action of a schedule and the virtual time, ms from the start, at which it happens. */
export interface Timed<T> {
  readonly at: number;
  readonly action: T;
}

/** Bounds of `schedules`. */
export interface ScheduleBounds {
  /** Most actions in a schedule (default 20). */
  readonly maxLength?: number;
  /** Least actions in a schedule (default 0). */
  readonly minLength?: number;
  /** Latest time of an action, ms (default 10 000). */
  readonly horizonMs?: number;
}

/**
 * A schedule: actions drawn from `action`, each at a whole millisecond in `0..horizonMs`, sorted by
 * time (actions at the same time keep the order they were drawn in). Shrinks towards fewer, earlier
 * actions. Run one with {@link playSchedule}.
 */
export function schedules<T>(action: fc.Arbitrary<T>, bounds: ScheduleBounds = {}): fc.Arbitrary<Timed<T>[]> {
  const horizon = bounds.horizonMs ?? 10_000;
  return fc
    .array(fc.record({ at: milliseconds(horizon, 'horizonMs'), action }), {
      minLength: bounds.minLength ?? 0,
      maxLength: bounds.maxLength ?? 20,
    })
    .map((items) => items.map((t, i) => ({ t, i })).sort((x, y) => x.t.at - y.t.at || x.i - y.i))
    .map((items) => items.map(({ t }) => t));
}

/**
 * Plays a schedule on a simulated network: for each action in order, runs virtual time until its
 * `at` (measured from the network's time when this is called, with event-loop turns between timers,
 * as `net.runFor` does) and then calls `play(action, at)`, awaiting it before the next action.
 */
export async function playSchedule<T>(
  net: SimNetwork,
  schedule: readonly Timed<T>[],
  play: (action: T, at: number) => void | Promise<void>,
): Promise<void> {
  const start = net.now();
  for (const { at, action } of schedule) {
    const wait = start + at - net.now();
    if (wait > 0) await net.runFor(wait);
    await play(action, at);
  }
}
