/**
 * The whole-network TCP property (issue: seeded simulation): two stacks on a memory link that loses,
 * duplicates, reorders, delays and corrupts frames in both directions, on virtual time, with
 * fast-check choosing the data, the buffer sizes and the fault schedule. Bytes read are exactly the
 * bytes written, EOF arrives both ways, and no connection is left after 2·MSL.
 *
 * OASIS_PROP_RUNS=10000 for the long run; a failure prints fast-check's seed and path, replayed with
 * OASIS_PROP_SEED (and the same OASIS_PROP_RUNS).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { nextTurn, twoHosts } from '../../src/testing/index.js';
import { propOptions } from '../support/props.js';

interface Schedule {
  seed: number;
  loss: number;
  duplicate: number;
  reorder: number;
  corrupt: number;
  delay: number;
  aToB: number;
  bToA: number;
  rcvBuf: number;
  sndBuf: number;
}

const scheduleArb: fc.Arbitrary<Schedule> = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  loss: fc.constantFrom(0, 0.01, 0.05, 0.15),
  duplicate: fc.constantFrom(0, 0.02, 0.1),
  reorder: fc.constantFrom(0, 0.1, 0.3),
  corrupt: fc.constantFrom(0, 0.01, 0.05),
  delay: fc.constantFrom(0.05, 1, 10),
  aToB: fc.integer({ min: 0, max: 200_000 }),
  bToA: fc.integer({ min: 0, max: 50_000 }),
  rcvBuf: fc.constantFrom(8192, 65_536, 262_144),
  sndBuf: fc.constantFrom(8192, 65_536, 262_144),
});

const MSL = 5_000;

function bytesOf(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

function readAll(s: TcpSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

async function run(p: Schedule): Promise<void> {
  const tcp = { rcvBuf: p.rcvBuf, sndBuf: p.sndBuf, msl: MSL };
  const faults = {
    loss: p.loss,
    duplicate: p.duplicate,
    reorder: p.reorder,
    corrupt: p.corrupt,
    seed: p.seed,
  };
  // The faults are at a's interface, both ways: every frame crosses them once.
  const { net, a, b } = twoHosts({
    mtu: 1500,
    delay: p.delay,
    tcp,
    ipv6Enabled: false,
    a: { seed: p.seed, impair: faults },
    b: { seed: p.seed + 1 },
  });
  const toB = bytesOf(p.aToB, p.seed);
  const toA = bytesOf(p.bToA, p.seed + 7);
  let atB: Promise<Buffer> | undefined;
  b.tcp
    .createServer((s) => {
      atB = readAll(s);
      s.end(toA);
    })
    .listen(80);
  const client = a.tcp.connect({ host: '10.0.0.2', port: 80 });
  const atA = readAll(client);
  client.end(toB);
  let finished = false;
  const both = atA
    .then(async (gotA) => [gotA, await atB!] as const)
    .finally(() => {
      finished = true;
    });
  // Virtual time, with the stream machinery (nextTick and microtasks) run between timer firings.
  await net.runUntil(() => finished, { limitMs: 3_600_000 });
  expect(finished, 'both directions ended within an hour of virtual time').toBe(true);
  const [gotA, gotB] = await both;
  expect(gotB.equals(toB), 'bytes a->b').toBe(true);
  expect(gotA.equals(toA), 'bytes b->a').toBe(true);
  // 2·MSL of TIME-WAIT, and room for a FIN still retransmitted with backoff to a peer gone.
  net.scheduler.advance(4 * MSL + 1_800_000);
  await nextTurn();
  expect(a.tcp.connectionStates()).toEqual({});
  expect(b.tcp.connectionStates()).toEqual({});
}

/**
 * Reordering without loss (issue #10): every cwnd reduction the sender makes (fast recovery, timeout,
 * tail-loss-probe response) is undone by D-SACK (RFC 3708) or Eifel (RFC 3522) detection. Returns the
 * number of reductions, so the caller can check the property is not vacuous.
 */
async function reorderOnly(seed: number, reorder: number, reorderDelay: number): Promise<number> {
  const { net, a, b } = twoHosts({
    mtu: 1500,
    delay: 5,
    tcp: { msl: MSL },
    ipv6Enabled: false,
    a: { seed, impair: { reorder, reorderDelay, seed } },
    b: { seed: seed + 1 },
  });
  const toB = bytesOf(300_000, seed);
  let atB: Promise<Buffer> | undefined;
  b.tcp
    .createServer((s) => {
      atB = readAll(s);
      // b closes second: a ends in TIME-WAIT, still taking the D-SACKs of late duplicates.
      s.on('end', () => s.end());
    })
    .listen(80);
  const client = a.tcp.connect({ host: '10.0.0.2', port: 80 });
  const atA = readAll(client);
  client.end(toB);
  let finished = false;
  const both = atA
    .then(async () => await atB!)
    .finally(() => {
      finished = true;
    });
  await net.runUntil(() => finished, { limitMs: 600_000 });
  expect(finished).toBe(true);
  expect((await both).equals(toB), 'bytes a->b').toBe(true);
  // Frames still held back by the reordering (and the D-SACKs they provoke) arrive after the end.
  net.scheduler.advance(2_000);
  await nextTurn();
  const c = a.tcp.counters;
  const reductions = (c['fast-recovery'] ?? 0) + (c['rto-expired'] ?? 0) + (c['tlp-recovery'] ?? 0);
  const undone = (c['undo-dsack'] ?? 0) + (c['undo-eifel'] ?? 0) + (c['undo-frto'] ?? 0);
  expect(undone, 'every reduction undone').toBe(reductions);
  return reductions;
}

describe('TCP between two whole stacks over a hostile memory link', () => {
  it('under reordering only, every cwnd reduction is undone (D-SACK, Eifel)', async () => {
    let total = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom(0.05, 0.2),
        fc.constantFrom(3, 8),
        async (seed, reorder, reorderDelay) => {
          total += await reorderOnly(seed, reorder, reorderDelay);
        },
      ),
      { seed: 20261207, ...propOptions(10) },
    );
    expect(total, 'reordering provoked reductions').toBeGreaterThan(0);
  }, 600_000);

  it('undoes a reduction at the end of the transfer, whose D-SACK comes after the last ACK', async () => {
    // Found by the property above with OASIS_PROP_RUNS=1000: the last recovery's retransmission is
    // acknowledged with nothing left to send, and the delayed original's D-SACK follows. The episode
    // used to be forgotten at that ACK (no round of data to wait for), leaving the reduction in place.
    expect(await reorderOnly(28, 0.2, 8)).toBeGreaterThan(0);
  }, 60_000);

  it('delivers exactly the bytes written and EOF both ways, then forgets both connections', async () => {
    await fc.assert(
      fc.asyncProperty(scheduleArb, (p) => run(p)),
      // A fixed seed keeps CI deterministic; OASIS_PROP_SEED explores others.
      { seed: 20261125, ...propOptions(200) },
    );
  }, 600_000);
});
