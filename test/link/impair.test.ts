import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/bytes.js';
import { VirtualScheduler } from '../../src/clock.js';
import { formatImpairment, type ImpairOptions, impair, parseImpairment } from '../../src/link/impair.js';
import {
  addLendingArea,
  type FrameHandler,
  type Link,
  type LinkCounters,
  newCounters,
  removeLendingArea,
} from '../../src/link/link.js';
import { memoryPair } from '../../src/link/memory.js';
import { propOptions } from '../support/props.js';

function frame(id: number, len = 64): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f[12] = 0x08;
  f[14] = id >>> 8;
  f[15] = id & 0xff;
  return f;
}

function idOf(f: Uint8Array): number {
  return (f[14]! << 8) | f[15]!;
}

/** Sends `n` frames a -> b through an impaired pair, one every `gap` ms; returns what b saw. */
function run(opts: ImpairOptions, n: number, gap = 0.1) {
  const s = new VirtualScheduler();
  const [a, b] = memoryPair(s);
  const ia = impair(a, s, { ...opts, direction: 'out' });
  const got: { id: number; t: number; hex: string; bytes: Uint8Array }[] = [];
  b.onFrame((f) => got.push({ id: idOf(f), t: s.now(), hex: toHex(f), bytes: new Uint8Array(f) }));
  for (let i = 0; i < n; i++) {
    ia.send(frame(i));
    s.advance(gap);
  }
  s.runUntilIdle();
  return { got, stats: ia.stats.out, counters: ia.counters };
}

describe('impair', () => {
  it('is deterministic: same seed and inputs give the same frames at the same times', () => {
    const opts = { loss: 0.1, duplicate: 0.1, reorder: 0.2, corrupt: 0.1, delay: 1, jitter: 0.5 };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (seed) => {
        const x = run({ ...opts, seed }, 200);
        const y = run({ ...opts, seed }, 200);
        expect(y.got.map((g) => [g.t, g.hex])).toEqual(x.got.map((g) => [g.t, g.hex]));
        expect(y.stats).toEqual(x.stats);
      }),
      propOptions(20),
    );
    expect(run({ ...opts, seed: 1 }, 200).got.map((g) => g.hex)).not.toEqual(
      run({ ...opts, seed: 2 }, 200).got.map((g) => g.hex),
    );
  });

  it('observed loss, duplication and corruption rates are within tolerance on 10k frames', () => {
    const n = 10_000;
    const { got, stats, counters } = run({ loss: 0.1, duplicate: 0.05, seed: 3 }, n);
    // Tolerances are about 5 standard deviations of a binomial count.
    const near = (count: number, p: number, base: number) =>
      expect(Math.abs(count - p * base)).toBeLessThan(5 * Math.sqrt(base * p * (1 - p)));
    const ids = got.map((g) => g.id);
    const distinct = new Set(ids).size;
    near(n - distinct, 0.1, n);
    near(ids.length - distinct, 0.05, distinct);
    expect(stats.lost).toBe(n - distinct);
    expect(stats.duplicated).toBe(ids.length - distinct);
    expect(counters.drops['impair-loss']).toBe(stats.lost);
    expect(counters.framesOut).toBe(ids.length);
    // Corruption alone (it may hit the id bytes, so it is measured on its own run).
    const c = run({ corrupt: 0.02, seed: 4 }, n);
    expect(c.got.length).toBe(n);
    const corrupted = c.got.filter((g, i) => g.hex !== toHex(frame(i))).length;
    near(corrupted, 0.02, n);
    expect(c.stats.corrupted).toBe(corrupted);
  });

  it('corruption flips exactly one bit, in a copy', () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s);
    const ia = impair(a, s, { corrupt: 1, seed: 5 });
    const sent = frame(7);
    const original = new Uint8Array(sent);
    let got: Uint8Array | undefined;
    b.onFrame((f) => {
      got = new Uint8Array(f);
    });
    ia.send(sent);
    s.runUntilIdle();
    expect(sent).toEqual(original);
    let bits = 0;
    for (let i = 0; i < original.length; i++) {
      let x = original[i]! ^ got![i]!;
      for (; x !== 0; x &= x - 1) bits++;
    }
    expect(bits).toBe(1);
  });

  it('reorder really reorders, and loses nothing', () => {
    const n = 1000;
    const { got, stats } = run({ reorder: 0.25, reorderDelay: 3, seed: 11 }, n, 1);
    const ids = got.map((g) => g.id);
    expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    let overtaken = 0;
    for (let i = 1; i < ids.length; i++) if (ids[i]! < ids[i - 1]!) overtaken++;
    expect(overtaken).toBeGreaterThan(150);
    expect(Math.abs(stats.reordered - 250)).toBeLessThan(70);
  });

  it('delays by delay + U[0, jitter)', () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s);
    const ia = impair(a, s, { delay: 2, jitter: 1, seed: 1 });
    const lat: number[] = [];
    const sentAt = new Map<number, number>();
    b.onFrame((f) => lat.push(s.now() - sentAt.get(idOf(f))!));
    for (let i = 0; i < 500; i++) {
      sentAt.set(i, s.now());
      ia.send(frame(i));
      s.advance(0.37);
    }
    s.runUntilIdle();
    expect(lat.length).toBe(500);
    expect(Math.min(...lat)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...lat)).toBeLessThan(3);
    expect(Math.max(...lat) - Math.min(...lat)).toBeGreaterThan(0.9);
  });

  it('passes frames through synchronously when nothing needs to wait', () => {
    const s = new VirtualScheduler();
    const fake = new FakeLink();
    const il = impair(fake, s, {});
    const f = frame(1);
    il.send(f);
    expect(fake.sent).toEqual([f]);
    expect(fake.sent[0]).toBe(f);
    const seen: Uint8Array[] = [];
    il.onFrame((x) => seen.push(x));
    fake.deliver(frame(2));
    expect(seen.map(idOf)).toEqual([2]);
  });

  it('copies incoming frames that must wait (the driver reuses its buffer)', () => {
    const s = new VirtualScheduler();
    const fake = new FakeLink();
    const il = impair(fake, s, { delay: 1, direction: 'in' });
    const seen: number[] = [];
    il.onFrame((x) => seen.push(idOf(x)));
    const buf = frame(1);
    fake.deliver(buf);
    buf.set(frame(2));
    fake.deliver(buf);
    buf.fill(0);
    s.runUntilIdle();
    expect(seen).toEqual([1, 2]);
    // direction 'in' leaves sends alone.
    il.send(frame(3));
    expect(fake.sent.map(idOf)).toEqual([3]);
  });

  it('a duplicate is a buffer of its own, copied before a handler can rewrite the first in place', () => {
    for (const delay of [0, 1]) {
      const s = new VirtualScheduler();
      const fake = new FakeLink();
      const il = impair(fake, s, { duplicate: 1, delay, direction: 'in' });
      const seen: Uint8Array[] = [];
      const buffers: Uint8Array[] = [];
      il.onFrame((x) => {
        seen.push(new Uint8Array(x));
        buffers.push(x);
        x.fill(0xee, 6); // a router rewriting MACs and TTL in place
      });
      const buf = frame(4);
      const pristine = new Uint8Array(buf);
      fake.deliver(buf);
      s.runUntilIdle();
      expect(seen).toEqual([pristine, pristine]);
      expect(buffers[0]).not.toBe(buffers[1]);
      expect(il.stats.in.duplicated).toBe(1);
    }
    // Outgoing too: the two copies handed to the inner link are distinct.
    const s = new VirtualScheduler();
    const fake = new FakeLink();
    const il = impair(fake, s, { duplicate: 1, direction: 'out' });
    il.send(frame(5));
    expect(fake.sent.map(idOf)).toEqual([5, 5]);
    expect(fake.sent[0]).not.toBe(fake.sent[1]);
  });

  it('an outgoing frame lent by a receiving link is copied when it must wait, not when it passes through', () => {
    const slots = new Uint8Array(512);
    const area = { buffer: slots.buffer, start: 0, end: slots.length };
    addLendingArea(area);
    try {
      const s = new VirtualScheduler();
      const fake = new FakeLink();
      const il = impair(fake, s, { delay: 1, direction: 'out' });
      const lent = slots.subarray(0, 64);
      lent.set(frame(6));
      il.send(lent);
      slots.fill(0); // the lender reuses its slot once its handler has returned
      s.runUntilIdle();
      expect(fake.sent.map(idOf)).toEqual([6]);
      expect(fake.sent[0]).not.toBe(lent);
      expect(il.counters).toMatchObject({ lent: 1, lentCopied: 1 });
      // Nothing to wait for: passed on as it is, still lent, for the inner link to deal with.
      const now = impair(fake, s, { direction: 'out' });
      const again = slots.subarray(64, 128);
      now.send(again);
      expect(fake.sent.at(-1)).toBe(again);
      expect(now.counters.lentCopied).toBe(0);
    } finally {
      removeLendingArea(area);
    }
  });

  it('impairs both directions with independent streams by default', () => {
    const s = new VirtualScheduler();
    const fake = new FakeLink();
    const il = impair(fake, s, { loss: 0.5, seed: 8 });
    let inCount = 0;
    il.onFrame(() => inCount++);
    for (let i = 0; i < 1000; i++) {
      il.send(frame(i));
      fake.deliver(frame(i));
    }
    expect(il.stats.out.lost).toBe(1000 - fake.sent.length);
    expect(il.stats.in.lost).toBe(1000 - inCount);
    expect(Math.abs(il.stats.out.lost - 500)).toBeLessThan(100);
    expect(Math.abs(il.stats.in.lost - 500)).toBeLessThan(100);
    expect(il.counters.drops['impair-loss']).toBe(il.stats.out.lost + il.stats.in.lost);
  });

  it('close() cancels held frames and closes the inner link', async () => {
    const s = new VirtualScheduler();
    const fake = new FakeLink();
    const il = impair(fake, s, { delay: 5 });
    il.send(frame(1));
    expect(s.pending).toBe(1);
    await il.close();
    expect(s.pending).toBe(0);
    expect(fake.closed).toBe(true);
    il.send(frame(2));
    expect(il.counters.drops.closed).toBe(1);
  });

  it('the capture hook sees frames as the stack sent and received them', () => {
    const s = new VirtualScheduler();
    const fake = new FakeLink();
    const il = impair(fake, s, { loss: 1 });
    const cap: string[] = [];
    il.capture = (f, dir) => cap.push(`${dir}${idOf(f)}`);
    il.onFrame(() => {});
    il.send(frame(1));
    fake.deliver(frame(2));
    expect(cap).toEqual(['out1']);
    expect(fake.sent).toEqual([]);
  });

  it.each<[string, ImpairOptions]>([
    ['loss above 1', { loss: 1.5 }],
    ['negative duplicate', { duplicate: -0.1 }],
    ['NaN reorder', { reorder: Number.NaN }],
    ['negative delay', { delay: -1 }],
    ['infinite jitter', { jitter: Number.POSITIVE_INFINITY }],
    ['fractional seed', { seed: 1.5 }],
  ])('rejects invalid options (%s) as a programmer error', (_name, opts) => {
    expect(() => impair(new FakeLink(), new VirtualScheduler(), opts)).toThrow(/impair: /);
  });
});

describe('parseImpairment', () => {
  it.each<[string, ImpairOptions]>([
    ['loss=3%,reorder=25%,dup=1%,delay=1ms', { loss: 0.03, reorder: 0.25, duplicate: 0.01, delay: 1 }],
    [
      'loss=3%,reorder=25%,dup=1%,delay=1ms,seed=42',
      { loss: 0.03, reorder: 0.25, duplicate: 0.01, delay: 1, seed: 42 },
    ],
    ['loss=0.5', { loss: 0.5 }],
    ['loss=100%', { loss: 1 }],
    ['loss=0', { loss: 0 }],
    ['duplicate=.5%', { duplicate: 0.005 }],
    ['corrupt=0.1%', { corrupt: 0.001 }],
    ['delay=500us', { delay: 0.5 }],
    ['delay=0.2s', { delay: 200 }],
    ['delay=3', { delay: 3 }],
    ['jitter=2ms,reorder-delay=5ms', { jitter: 2, reorderDelay: 5 }],
    [' loss = 1% , delay = 2ms ', { loss: 0.01, delay: 2 }],
    ['LOSS=1%', { loss: 0.01 }],
    ['seed=0x10', { seed: 16 }],
    ['seed=4294967295', { seed: 4294967295 }],
  ])('parses %j', (spec, want) => {
    expect(parseImpairment(spec)).toEqual({ ok: true, value: want });
  });

  it.each<[string, RegExp]>([
    ['', /empty impairment/],
    ['   ', /empty impairment/],
    ['loss', /"loss": expected key=value/],
    ['loss=3%,', /"": expected key=value/],
    ['los=3%', /unknown key "los"/],
    ['constructor=1%', /unknown key "constructor"/],
    ['__proto__=1', /unknown key "__proto__"/],
    ['=1%', /unknown key ""/],
    ['loss=150%', /loss must be a percentage/],
    ['loss=1.5', /loss must be a percentage/],
    ['loss=-1%', /loss must be a percentage/],
    ['loss=abc', /loss must be a percentage/],
    ['loss=', /loss must be a percentage/],
    ['loss=3%%', /loss must be a percentage/],
    ['delay=1h', /delay must be a duration/],
    ['delay=-1ms', /delay must be a duration/],
    ['delay=1e3ms', /delay must be a duration/],
    ['seed=-1', /seed must be an integer/],
    ['seed=4294967296', /seed must be an integer/],
    ['seed=1.5', /seed must be an integer/],
    ['loss=1%,loss=2%', /loss given twice/],
    ['dup=1%,duplicate=2%', /duplicate given twice/],
  ])('rejects %j', (spec, message) => {
    const r = parseImpairment(spec);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });

  it('never throws, and formatImpairment round-trips', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        parseImpairment(s);
      }),
      propOptions(),
    );
    const opts = fc.record(
      {
        loss: fc.integer({ min: 0, max: 10000 }).map((x) => x / 10000),
        duplicate: fc.integer({ min: 0, max: 100 }).map((x) => x / 100),
        reorder: fc.integer({ min: 0, max: 100 }).map((x) => x / 100),
        corrupt: fc.integer({ min: 0, max: 1000 }).map((x) => x / 1000),
        delay: fc.integer({ min: 0, max: 100_000 }).map((x) => x / 1000),
        jitter: fc.integer({ min: 0, max: 1000 }),
        reorderDelay: fc.integer({ min: 0, max: 50 }),
        seed: fc.integer({ min: 0, max: 0xffff_ffff }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(opts, (o) => {
        fc.pre(Object.keys(o).length > 0);
        const back = parseImpairment(formatImpairment(o));
        expect(back.ok).toBe(true);
        if (!back.ok) return;
        for (const [k, v] of Object.entries(o))
          expect((back.value as Record<string, number>)[k]).toBeCloseTo(v, 9);
        expect(Object.keys(back.value).sort()).toEqual(Object.keys(o).sort());
      }),
      propOptions(),
    );
  });
});

/** A link that records what is sent and lets the test deliver frames, as a driver would. */
class FakeLink implements Link {
  readonly name = 'fake';
  readonly mtu = 1500;
  readonly counters: LinkCounters = newCounters();
  readonly sent: Uint8Array[] = [];
  closed = false;
  private handler: FrameHandler | undefined;

  send(frame: Uint8Array): void {
    this.sent.push(frame);
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  deliver(frame: Uint8Array): void {
    this.handler?.(frame);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
