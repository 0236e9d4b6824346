import { describe, expect, it } from 'vitest';
import { VirtualScheduler } from '../../src/clock.js';
import { addLendingArea, type Link, newCounters, removeLendingArea } from '../../src/link/link.js';
import { MemoryHub, memoryPair } from '../../src/link/memory.js';
import { RealScheduler } from '../../src/link/real-clock.js';

/** A frame of `len` bytes whose first payload bytes carry `id` (header bytes arbitrary but fixed). */
function frame(id: number, len = 60): Uint8Array {
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

/** Records the ids (and, given a scheduler, the arrival times) of frames received on `link`. */
function record(link: Link, s?: VirtualScheduler): { ids: number[]; times: number[] } {
  const out = { ids: [] as number[], times: [] as number[] };
  link.onFrame((f) => {
    out.ids.push(idOf(f));
    out.times.push(s?.now() ?? -1);
  });
  return out;
}

describe('memoryPair', () => {
  it('delivers in order in both directions, never inside send()', () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s);
    const ra = record(a);
    const rb = record(b);
    for (let i = 0; i < 5; i++) a.send(frame(i));
    b.send(frame(100));
    expect(rb.ids).toEqual([]);
    expect(ra.ids).toEqual([]);
    s.runUntilIdle();
    expect(rb.ids).toEqual([0, 1, 2, 3, 4]);
    expect(ra.ids).toEqual([100]);
    expect(a.counters).toMatchObject({ framesOut: 5, bytesOut: 300, framesIn: 1, bytesIn: 60 });
    expect(b.counters).toMatchObject({ framesOut: 1, framesIn: 5 });
  });

  it('passes the same buffer (no copy) and delivers after the delay', () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s, { delay: 2.5 });
    const f = frame(1);
    let got: Uint8Array | undefined;
    let when = -1;
    b.onFrame((x) => {
      got = x;
      when = s.now();
    });
    s.advance(1);
    a.send(f);
    s.advance(2);
    expect(got).toBeUndefined();
    s.advance(0.5);
    expect(got).toBe(f);
    expect(when).toBe(3.5);
  });

  it('a reply sent from a handler is not delivered until the scheduler runs again', () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s);
    let depth = 0;
    let maxDepth = 0;
    let bounces = 0;
    const bounce = (self: Link) => (f: Uint8Array) => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      if (++bounces < 100) self.send(frame(idOf(f) + 1));
      depth--;
    };
    a.onFrame(bounce(a));
    b.onFrame(bounce(b));
    a.send(frame(0));
    s.runUntilIdle();
    expect(bounces).toBe(100);
    expect(maxDepth).toBe(1);
  });

  it('drops and counts oversize and runt frames at the sender', () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s, { mtu: 1500 });
    const rb = record(b);
    a.send(frame(1, 1514));
    a.send(frame(2, 1515));
    a.send(new Uint8Array(13));
    // One 802.1Q tag allows 4 more bytes; two (QinQ) allow 8.
    const tagged = frame(3, 1518);
    tagged.set([0x81, 0x00, 0, 5, 0x08, 0x00], 12);
    a.send(tagged);
    const tooTagged = frame(4, 1519);
    tooTagged.set([0x81, 0x00, 0, 5, 0x08, 0x00], 12);
    a.send(tooTagged);
    const qinq = frame(5, 1522);
    qinq.set([0x88, 0xa8, 0, 5, 0x81, 0x00, 0, 6, 0x08, 0x00], 12);
    a.send(qinq);
    s.runUntilIdle();
    expect(rb.ids.length).toBe(3);
    expect(a.counters.drops.oversize).toBe(2);
    expect(a.counters.drops.runt).toBe(1);
    expect(a.counters.framesOut).toBe(3);
  });

  it('counts frames that arrive before a handler is set, and sends after close', async () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s);
    a.send(frame(1));
    s.runUntilIdle();
    expect(b.counters.drops['no-handler']).toBe(1);
    await b.close();
    await b.close();
    b.send(frame(2));
    expect(b.counters.drops.closed).toBe(1);
    a.send(frame(3));
    s.runUntilIdle();
    expect(b.counters.drops.closed).toBe(2);
    expect(s.pending).toBe(0);
  });

  it('close() drops frames in flight and leaves no timer behind', async () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s, { delay: 10 });
    const rb = record(b);
    a.send(frame(1));
    expect(s.pending).toBe(1);
    await b.close();
    expect(s.pending).toBe(0);
    s.runUntilIdle();
    expect(rb.ids).toEqual([]);
  });

  it('models a rate-limited bottleneck with a bounded queue', () => {
    const s = new VirtualScheduler();
    // 1 Mbit/s: a 125-byte frame takes 1 ms on the wire. Queue of 500 bytes.
    const [a, b] = memoryPair(s, { rate: 1_000_000, delay: 5, queueBytes: 500 });
    const rb = record(b, s);
    for (let i = 0; i < 6; i++) a.send(frame(i, 125));
    s.runUntilIdle();
    // Four fit in the queue (500 bytes), the rest are tail-dropped.
    expect(rb.ids).toEqual([0, 1, 2, 3]);
    expect(rb.times).toEqual([6, 7, 8, 9]);
    expect(a.counters.drops['queue-full']).toBe(2);
  });

  it('applies impairments once per direction, deterministically per seed', () => {
    const run = (seed: number): number[][] => {
      const s = new VirtualScheduler();
      const [a, b] = memoryPair(s, { impair: { loss: 0.3, reorder: 0.3, delay: 1, seed } });
      const ra = record(a);
      const rb = record(b);
      for (let i = 0; i < 200; i++) {
        a.send(frame(i));
        b.send(frame(i));
        s.advance(0.1);
      }
      s.runUntilIdle();
      return [ra.ids, rb.ids];
    };
    const [x, y] = run(9);
    expect(run(9)).toEqual([x, y]);
    expect(run(10)).not.toEqual([x, y]);
    // Loss 30% applied once, not twice (which would give about 49%).
    expect(x!.length).toBeGreaterThan(110);
    expect(x!.length).toBeLessThan(170);
    expect(x).not.toEqual(y);
  });

  it('works on the real scheduler', async () => {
    const s = new RealScheduler();
    const [a, b] = memoryPair(s, { delay: 1 });
    const got = new Promise<number>((resolve) => b.onFrame((f) => resolve(idOf(f))));
    a.send(frame(77));
    expect(await got).toBe(77);
    await a.close();
    await b.close();
    expect(s.pending).toBe(0);
  });
});

describe('MemoryHub', () => {
  it('broadcasts a frame to every other port, not back to the sender', () => {
    const s = new VirtualScheduler();
    const hub = new MemoryHub(s, { delay: 1 });
    const ports = [hub.port('p0'), hub.port('p1'), hub.port('p2')];
    const recs = ports.map((p) => record(p));
    ports[0]!.send(frame(1));
    ports[2]!.send(frame(2));
    expect(recs.map((r) => r.ids)).toEqual([[], [], []]);
    s.runUntilIdle();
    expect(recs.map((r) => r.ids)).toEqual([[2], [1, 2], [1]]);
    expect(ports[1]!.counters.framesIn).toBe(2);
    expect(ports[0]!.counters.framesOut).toBe(1);
  });

  it('a closed port leaves the segment; MTU is enforced', async () => {
    const s = new VirtualScheduler();
    const hub = new MemoryHub(s, { mtu: 100 });
    const [p0, p1, p2] = [hub.port(), hub.port(), hub.port()];
    const r1 = record(p1);
    const r2 = record(p2);
    await p2.close();
    expect(hub.size).toBe(2);
    p0.send(frame(1, 114));
    p0.send(frame(2, 115));
    s.runUntilIdle();
    expect(r1.ids).toEqual([1]);
    expect(r2.ids).toEqual([]);
    expect(p0.counters.drops.oversize).toBe(1);
  });
});

describe('in-place rewriting by receivers (the Link contract)', () => {
  /** Records a copy of each arrival and its buffer, then rewrites the frame in place. */
  function rewriter(link: Link): { seen: Uint8Array[]; buffers: Uint8Array[] } {
    const out = { seen: [] as Uint8Array[], buffers: [] as Uint8Array[] };
    link.onFrame((f) => {
      out.seen.push(new Uint8Array(f));
      out.buffers.push(f);
      f.fill(0xee, 6); // as a router rewrites MACs and TTL
    });
    return out;
  }

  it('a hub gives every receiver but the last its own copy, so rewriting in place is not seen by others', () => {
    const s = new VirtualScheduler();
    const hub = new MemoryHub(s);
    const ports = [hub.port('p0'), hub.port('p1'), hub.port('p2'), hub.port('p3')];
    const recs = ports.map(rewriter);
    for (const from of [0, 3]) {
      const f = frame(from, 100);
      const pristine = new Uint8Array(f);
      ports[from]!.send(f);
      s.runUntilIdle();
      const others = [0, 1, 2, 3].filter((i) => i !== from);
      for (const i of others) expect(recs[i]!.seen.at(-1)).toEqual(pristine);
      // Distinct buffers; the last receiver in port order gets the sender's own.
      const got = others.map((i) => recs[i]!.buffers.at(-1)!);
      expect(new Set(got).size).toBe(3);
      expect(got.at(-1)).toBe(f);
      expect(got.slice(0, -1)).not.toContain(f);
    }
  });

  it("a pair hands the receiver the sender's buffer, which it may rewrite", () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s);
    const rec = rewriter(b);
    const f = frame(7);
    a.send(f);
    s.runUntilIdle();
    expect(rec.buffers[0]).toBe(f);
    expect(idOf(rec.seen[0]!)).toBe(7);
    expect(a.counters.lent).toBe(0);
  });

  it('a lent frame is copied at send(): the lender may reuse its buffer after its handler returns', () => {
    const s = new VirtualScheduler();
    const [a, b] = memoryPair(s, { delay: 1 });
    const slots = new Uint8Array(256);
    const area = { buffer: slots.buffer, start: slots.byteOffset, end: slots.byteOffset + slots.length };
    addLendingArea(area);
    try {
      const rec = rewriter(b);
      const lent = slots.subarray(64, 164);
      lent.set(frame(9, 100));
      const pristine = new Uint8Array(lent);
      a.send(lent);
      slots.fill(0x55); // the lender reads the next frame into the same slot
      s.runUntilIdle();
      expect(rec.seen).toEqual([pristine]);
      expect(rec.buffers[0]).not.toBe(lent);
      expect(a.counters).toMatchObject({ lent: 1, lentCopied: 1, framesOut: 1 });
      // An owned frame is still passed by reference.
      a.send(frame(10));
      s.runUntilIdle();
      expect(a.counters).toMatchObject({ lent: 1, lentCopied: 1, framesOut: 2 });
    } finally {
      removeLendingArea(area);
    }
  });
});

describe('newCounters', () => {
  it('starts every drop reason at zero', () => {
    const c = newCounters();
    expect(Object.values(c.drops).every((v) => v === 0)).toBe(true);
    expect(Object.keys(c.drops)).toContain('oversize');
  });
});
