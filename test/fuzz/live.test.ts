/**
 * Stack-level fuzzing (issue 14): hostile frames against live stacks, not against parsers alone.
 *
 * Each run builds a world (world.ts): three stacks on a simulated hub on virtual time, with TCP
 * transfers under way in both directions, listeners, UDP sockets, IPv4 and IPv6 reassembly in
 * progress and unresolved neighbours. It then injects frames into the hosts' links as if received:
 * frames of the golden Linux captures and frames the world itself sent, retargeted at the victim and
 * mutated field-aware with their checksums recomputed (mutate.ts), so that they reach the cores. Time
 * runs between frames. After every frame: no exception, every table within its bound, the TCP
 * invariants of test/tcp/core/invariants.ts on every connection and every core step.
 *
 * - blind (off-path: sequence and acknowledgement numbers not known): after the storm, the world
 *   runs to completion, every stream must have delivered exactly the bytes written, and five minutes
 *   later no connection is left;
 * - in-window (sequence numbers read from the live TCBs): the invariants only.
 * Both: after the storm, the segments sent per minute are bounded (a forged segment once started an
 * endless ACK loop between two hosts: ack-loop.test.ts).
 *
 *   npx vitest run test/fuzz/live.test.ts                              the CI slice (fixed seeds)
 *   OASIS_PROP_RUNS=1000000 npx vitest run test/fuzz/live.test.ts      10^6 frames per class
 *   OASIS_FUZZ_SEED=<seed> OASIS_FUZZ_PATH=<path> ...                 replays a failure: fast-check
 *       prints both ({ seed: ..., path: "..." }); keep the same OASIS_PROP_RUNS.
 *   OASIS_FUZZ_NO_SHRINK=1 ...                                         stops at the first failure
 *       unshrunk (a broken world runs 10 virtual minutes, ~10 s, so shrinking one takes long).
 *
 * OASIS_PROP_RUNS counts frames here (worlds = frames / FRAMES_PER_RUN, the average per world, + 2 %).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/bytes.js';
import { formatFrame } from '../../src/format.js';
import { Random } from '../../src/random.js';
import { propOptions } from '../support/props.js';
import { firstFragment, goldenFrames } from './golden.js';
import { type MutationClass, mutateFrame } from './mutate.js';
import { World } from './world.js';

const GOLDEN = goldenFrames();
/** Frame choices per world. */
const CHOICES_PER_RUN = 24;
/** Frames per choice: mostly one, sometimes a flood that fills a table. */
const BURSTS = [1, 1, 1, 1, 1, 1, 8, 40];
/** Frames per world on average. */
const FRAMES_PER_RUN = (CHOICES_PER_RUN * BURSTS.reduce((a, b) => a + b, 0)) / BURSTS.length;
/** Frames per class in CI. */
const CI_FRAMES = 2000;

interface FrameChoice {
  /** Index into the pool (modulo its size). */
  readonly base: number;
  /** From the world's own traffic rather than the golden captures. */
  readonly fromSim: boolean;
  readonly victim: number;
  /** Seeds the mutator's choices. */
  readonly seed: number;
  /** Virtual ms run after the frame. */
  readonly wait: number;
  /** Frames made from this choice, one after the other (a flood). */
  readonly burst: number;
}

interface Run {
  readonly world: number;
  readonly frames: readonly FrameChoice[];
}

const frameArb: fc.Arbitrary<FrameChoice> = fc.record({
  base: fc.nat(),
  fromSim: fc.boolean(),
  victim: fc.nat({ max: 2 }),
  seed: fc.integer(),
  wait: fc.constantFrom(0, 0, 0, 0, 0.1, 0.5, 1, 5),
  burst: fc.constantFrom(...BURSTS),
});

const runArb: fc.Arbitrary<Run> = fc.record({
  world: fc.integer({ min: 1, max: 0x7fff_ffff }),
  frames: fc.array(frameArb, { minLength: CHOICES_PER_RUN, maxLength: CHOICES_PER_RUN }),
});

/** Virtual time after which a blind storm must have left no connection behind. */
const LINGER_MS = 300_000;

/**
 * TCP segments all hosts may send in the minute after the transfers ended (or gave up): FINs,
 * retransmissions backing off, and answers to unacceptable segments, throttled to 10 a second per
 * connection (RFC 5961 §7). An unthrottled ACK loop between two hosts sends one segment per 2 ms
 * hop, 30,000 a minute (ack-loop.test.ts).
 */
const MAX_SEGMENTS_AFTER = 4_000;

const stats = { frames: 0, runs: 0, steps: 0, ms: 0, peaks: {} as Record<string, number> };

function fail(w: World, what: string, violations: readonly string[], frame?: Uint8Array): never {
  const shown = frame === undefined ? '' : `\n  frame: ${formatFrame(frame)}\n  bytes: ${toHex(frame)}`;
  throw new Error(`world ${w.seed}: ${what}:${shown}\n  ${violations.join('\n  ')}`);
}

/** Runs one storm, failing on any violated invariant; returns the streams it broke. */
async function storm(cls: MutationClass, run: Run): Promise<string[]> {
  const start = performance.now();
  const w = await World.create(run.world);
  try {
    // IPv4 and IPv6 reassembly in progress on every host: a first fragment from a neighbour.
    const ids = new Random(run.world);
    for (let v = 0; v < 3; v++) {
      const from = (v + 1) % 3;
      const id4 = ids.int(0x1_0000);
      const id6 = ids.next();
      const frames = [
        firstFragment(GOLDEN, 4, w.endpoints[from]!, w.endpoints[v]!, id4),
        firstFragment(GOLDEN, 6, w.endpoints[from]!, w.endpoints[v]!, id6),
      ];
      w.holdFragments(v, from, frames, [id4, id6]);
    }
    const ready = w.check();
    if (ready.length > 0) fail(w, 'before the storm', ready);
    for (const [i, f] of run.frames.entries()) {
      const pool = f.fromSim && w.captured.length > 0 ? w.captured : GOLDEN;
      const base = pool[f.base % pool.length]!;
      const host = w.hosts[f.victim]!;
      // A burst is a flood from one base frame: each copy mutated afresh (other sources, ports...).
      const rng = new Random(f.seed);
      for (let j = 0; j < f.burst; j++) {
        const frame = mutateFrame(base, w.target(f.victim), cls, rng);
        host.receive(host.interfaces[0]!, frame);
        stats.frames++;
        const v = w.check();
        if (v.length > 0) fail(w, `frame ${i}.${j} into ${w.net.nameOf(host)}`, v, frame);
      }
      if (i % 8 === 7) w.pokeSilent();
      if (f.wait > 0) {
        await w.net.runFor(f.wait);
        const after = w.check();
        if (after.length > 0) fail(w, `${f.wait} ms after frame ${i}`, after);
      }
    }
    w.resume();
    // Run to completion (in-window storms may break streams: then for 10 minutes), then a minute
    // more: the segments sent in it are few, or the storm started a loop.
    await w.net.runUntil(() => w.allEnded, { limitMs: 600_000 });
    const sent = w.segmentsOut();
    const before = w.tcpCounters();
    await w.net.runFor(60_000);
    const n = w.segmentsOut() - sent;
    if (n > MAX_SEGMENTS_AFTER) {
      const growth = w.tcpCountersSince(before);
      const trace = (await w.traceFor(50)).slice(0, 8).map((l) => l.slice(0, 600));
      fail(w, `${n} TCP segments in the minute after the transfers (a loop)`, [
        ...growth,
        ...w.describeConnections(),
        ...trace,
      ]);
    }
    const end = w.check();
    if (end.length > 0) fail(w, 'after the storm', end);
    stats.steps += w.steps;
    for (const [k, v] of Object.entries(w.peaks)) stats.peaks[k] = Math.max(stats.peaks[k] ?? 0, v);
    const broken = w.brokenStreams();
    if (cls === 'blind') {
      if (broken.length > 0) fail(w, 'streams after a blind storm', broken);
      // Nothing left behind: half-open connections a blind SYN made give up (RFC 9293 §3.8.1, R2
      // for the SYN-ACK), TIME-WAIT ends after 2·MSL, and every transfer has closed.
      // The streams are over: timers may fire back to back, without event-loop turns between them.
      w.net.virtual.runUntil(w.net.now() + LINGER_MS);
      const left = w.connectionsLeft();
      if (left.length > 0) fail(w, `connections ${LINGER_MS} ms after a blind storm`, left);
    }
    return broken;
  } finally {
    await w.close();
    stats.runs++;
    stats.ms += performance.now() - start;
  }
}

function options(seed: number): fc.Parameters<[Run]> {
  const frames = propOptions(CI_FRAMES).numRuns ?? CI_FRAMES;
  const envSeed = process.env.OASIS_FUZZ_SEED ?? process.env.OASIS_PROP_SEED;
  const path = process.env.OASIS_FUZZ_PATH;
  return {
    // Bursts are drawn at random, so worlds carry FRAMES_PER_RUN frames only on average: 2 % more
    // worlds make the frames reach the count asked (10^6 gave 997,002 and 999,355 without).
    numRuns: Math.ceil((frames / FRAMES_PER_RUN) * 1.02),
    seed: envSeed === undefined ? seed : Number(envSeed),
    ...(path === undefined ? {} : { path }),
    ...(process.env.OASIS_FUZZ_NO_SHRINK === '1' ? { endOnFailure: true } : {}),
  };
}

const TIMEOUT = 120_000 + (propOptions(CI_FRAMES).numRuns ?? 0) * 20;

describe('live stacks under hostile frames', () => {
  afterAll(() => {
    // The measured figures, for the long run's report.
    console.log(
      `live fuzz: ${stats.frames} frames in ${stats.runs} worlds, ${stats.steps} TCP steps checked, ` +
        `${(stats.ms / 1000).toFixed(1)} s; table peaks ${JSON.stringify(stats.peaks)}`,
    );
  });

  it(
    'blind frames: invariants after every frame, and every stream delivers exactly the bytes written',
    async () => {
      await fc.assert(
        fc.asyncProperty(runArb, async (run) => {
          await storm('blind', run);
        }),
        options(20261207),
      );
    },
    TIMEOUT,
  );

  it(
    'in-window frames: invariants after every frame',
    async () => {
      await fc.assert(
        fc.asyncProperty(runArb, async (run) => {
          await storm('in-window', run);
        }),
        options(20261208),
      );
    },
    TIMEOUT,
  );

  it(
    'the stream check has teeth: storms that know the sequence numbers do break streams',
    async () => {
      // The same storms as above with the live TCBs' numbers: if none broke a stream, the blind
      // property's stream comparison would prove nothing.
      let broken = 0;
      for (const run of fc.sample(runArb, { seed: 20261209, numRuns: 6 }))
        broken += (await storm('in-window', run)).length;
      expect(broken).toBeGreaterThan(0);
    },
    TIMEOUT,
  );

  it('the mutator reaches the cores: most frames pass the checksums and are not dropped as malformed', async () => {
    // A fuzzer whose frames all die at the first checksum tests nothing: count what the IP and
    // transport layers took in from a blind storm of golden frames.
    const w = await World.create(7);
    try {
      const rng = new Random(7);
      const host = w.hosts[0]!;
      const before = host.counters.snapshot();
      // No time runs meanwhile: every segment the core counts is one of these frames.
      const segmentsBefore = host.tcp.counters['segments-in'] ?? 0;
      const n = 300;
      for (let i = 0; i < n; i++) {
        const frame = mutateFrame(GOLDEN[rng.int(GOLDEN.length)]!, w.target(0), 'blind', rng);
        host.receive(host.interfaces[0]!, frame);
      }
      const after = host.counters.snapshot();
      const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      const checksumDrops = Object.keys(after)
        .filter((k) => k.includes('checksum'))
        .reduce((s, k) => s + delta(k), 0);
      const tcp = (host.tcp.counters['segments-in'] ?? 0) - segmentsBefore;
      expect(checksumDrops, 'frames dropped for a bad checksum').toBeLessThan(n * 0.1);
      expect(tcp, 'segments that reached the TCP core').toBeGreaterThan(n * 0.1);
    } finally {
      await w.close();
    }
  });
});
