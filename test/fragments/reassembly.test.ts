import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes } from '../../src/bytes.js';
import {
  COUNTER_NAMES,
  DEFAULT_REASSEMBLY_CONFIG,
  type DropReason,
  deadline,
  type FragmentEvent,
  initialReassembly,
  maxEntryWeight,
  type ReassemblyConfig,
  type ReassemblyEvent,
  type ReassemblyOutput,
  type ReassemblyState,
  step,
} from '../../src/fragments/reassembly.js';
import { propOptions } from '../support/props.js';
import { arrivalsArb, type Frag, type FragmentSet, fragEvent, fragmentSetArb } from './arb.js';

// ---------------------------------------------------------------------------------------------
// Harness: every step runs on a deep-frozen input state, with the event's bytes in a scratch
// buffer that is scribbled over afterwards (the core must have copied what it keeps), and the
// invariants are checked on every state produced.

/** Deep-freezes `s` (Maps get throwing mutators); returns a check that no byte it holds changed. */
function deepFreeze(s: ReassemblyState): () => void {
  const bytes: [Uint8Array, Uint8Array][] = [];
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Uint8Array) {
      bytes.push([v, v.slice()]);
      return;
    }
    if (v instanceof Map) {
      for (const [k, x] of v) {
        visit(k);
        visit(x);
      }
      if (!Object.isFrozen(v)) {
        for (const m of ['set', 'delete', 'clear']) {
          Object.defineProperty(v, m, {
            value: () => {
              throw new Error(`input state mutated: Map.${m}`);
            },
          });
        }
      }
    } else {
      for (const x of Object.values(v)) visit(x);
    }
    Object.freeze(v);
  };
  visit(s);
  return () => {
    for (const [b, copy] of bytes) if (!equalBytes(b, copy)) throw new Error('input state bytes mutated');
  };
}

const scratch = new Uint8Array(70_000);
const scratchHeader = new Uint8Array(256);

/** Passes the event's bytes through reused buffers, like a driver's receive ring. */
function viaScratch(ev: ReassemblyEvent): ReassemblyEvent {
  if (ev.kind !== 'fragment') return ev;
  scratch.set(ev.data);
  const data = scratch.subarray(0, ev.data.length);
  if (ev.header === undefined) return { ...ev, data };
  scratchHeader.set(ev.header);
  return { ...ev, data, header: scratchHeader.subarray(0, ev.header.length) };
}

function checkInvariants(s: ReassemblyState): void {
  const c = s.config;
  let total = 0;
  for (const e of s.entries.values()) {
    let received = 0;
    let prevEnd = 0;
    for (const f of e.fragments) {
      if (f.offset < prevEnd) throw new Error('fragments overlap or are unsorted');
      if (f.more && f.data.length % 8 !== 0) throw new Error('unaligned non-last fragment held');
      prevEnd = f.offset + f.data.length;
      received += f.data.length;
    }
    expect(e.fragments.length).toBeGreaterThan(0);
    expect(e.fragments.length).toBeLessThanOrEqual(c.maxFragments);
    expect(e.received).toBe(received);
    if (e.end !== undefined) expect(prevEnd).toBeLessThanOrEqual(e.end);
    expect(prevEnd + (e.header?.length ?? c.minHeaderLen)).toBeLessThanOrEqual(c.maxDatagramLen);
    // Weight recomputed from what is held: bytes plus the fixed overheads.
    const weight =
      c.entryOverhead + e.fragments.length * c.fragmentOverhead + received + (e.header?.length ?? 0);
    expect(e.weight).toBe(weight);
    total += weight;
  }
  expect(s.bytes).toBe(total);
  expect(total).toBeLessThanOrEqual(c.budgetBytes);
  expect(s.entries.size).toBeLessThanOrEqual(c.maxEntries);
  expect(s.poisoned.size).toBeLessThanOrEqual(c.maxRemembered);
  expect(s.completed.size).toBeLessThanOrEqual(c.maxRemembered);
  const expiries = [
    ...[...s.entries.values()].map((e) => e.expires),
    ...s.poisoned.values(),
    ...[...s.completed.values()].map((r) => r.until),
  ];
  expect(deadline(s)).toBe(expiries.length === 0 ? undefined : Math.min(...expiries));
}

interface Run {
  state: ReassemblyState;
  outputs: ReassemblyOutput[];
  /** Outputs of each step. */
  steps: ReassemblyOutput[][];
}

function run(events: readonly ReassemblyEvent[], s0: ReassemblyState = initialReassembly()): Run {
  let state = s0;
  const outputs: ReassemblyOutput[] = [];
  const steps: ReassemblyOutput[][] = [];
  for (const ev of events) {
    const unchanged = deepFreeze(state);
    const [next, out] = step(state, viaScratch(ev));
    scratch.fill(0xee);
    scratchHeader.fill(0xee);
    unchanged();
    checkInvariants(next);
    outputs.push(...out);
    steps.push(out);
    state = next;
  }
  return { state, outputs, steps };
}

const reassembled = (outs: readonly ReassemblyOutput[]) => outs.filter((o) => o.kind === 'reassembled');

// ---------------------------------------------------------------------------------------------
// Examples

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

/** A fragment event of `len` (or the given) bytes. */
function f(
  key: string,
  offset: number,
  data: number | Uint8Array,
  more: boolean,
  now = 0,
  header?: Uint8Array,
): FragmentEvent {
  const d = typeof data === 'number' ? bytes(data, offset) : data;
  return { kind: 'fragment', now, key, offset, data: d, more, ...(header === undefined ? {} : { header }) };
}

const tick = (now: number): ReassemblyEvent => ({ kind: 'tick', now });
const H = Uint8Array.from([0x45, 0, 0, 0x1c, 0x12, 0x34, 0x20, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);

describe('reassembly examples', () => {
  it('reassembles in order and in reverse, with the offset-0 header', () => {
    const payload = bytes(40);
    const frags = [
      f('k', 0, payload.subarray(0, 16), true, 0, H),
      f('k', 16, payload.subarray(16, 32), true, 0, bytes(20, 9)),
      f('k', 32, payload.subarray(32), false, 0, bytes(20, 9)),
    ];
    for (const order of [frags, [...frags].reverse()]) {
      const r = run(order);
      expect(r.steps.slice(0, 2)).toEqual([[], []]);
      expect(r.steps[2]).toEqual([{ kind: 'reassembled', key: 'k', header: H, data: payload }]);
      expect(r.state.entries.size).toBe(0);
      expect(r.state.bytes).toBe(0);
      expect(r.state.counters.fragments).toBe(3);
      expect(r.state.counters.reassembled).toBe(1);
    }
  });

  it('reassembles ping -s 60000 at MTU 1500 (41 fragments) with the default limits', () => {
    const payload = bytes(60_008);
    const events: FragmentEvent[] = [];
    for (let off = 0; off < payload.length; off += 1480) {
      const end = Math.min(off + 1480, payload.length);
      events.push(
        f('k', off, payload.subarray(off, end), end < payload.length, 0, off === 0 ? H : undefined),
      );
    }
    expect(events).toHaveLength(41);
    const r = run(events.reverse());
    const out = reassembled(r.outputs);
    expect(out).toHaveLength(1);
    // equalBytes: vitest's deep equality is slow on 60 KB arrays.
    expect(
      out[0]?.kind === 'reassembled' && equalBytes(out[0].data, payload) && equalBytes(out[0].header, H),
    ).toBe(true);
  });

  it('hands out fresh buffers: the caller may reuse its receive buffer', () => {
    const rx = bytes(16);
    const hdr = H.slice();
    const [s1] = step(initialReassembly(), f('k', 0, rx, true, 0, hdr));
    rx.fill(0);
    hdr.fill(0);
    const [, out] = step(s1, f('k', 16, bytes(3), false));
    expect(out).toEqual([
      { kind: 'reassembled', key: 'k', header: H, data: Uint8Array.from([...bytes(16), ...bytes(3)]) },
    ]);
  });

  it('passes a whole datagram (offset 0, more = false) through on its own (RFC 6946)', () => {
    const [s1] = step(initialReassembly(), f('k', 8, 8, true));
    const [s2, out] = step(s1, f('k', 0, 5, false, 0, H));
    expect(out).toEqual([{ kind: 'reassembled', key: 'k', header: H, data: bytes(5, 0) }]);
    expect(s2.entries).toBe(s1.entries);
  });

  it('evicts the least-recently-updated entry when maxEntries is reached', () => {
    const r = run(
      [f('a', 0, 8, true), f('b', 0, 8, true), f('a', 8, 8, true), f('c', 0, 8, true)],
      initialReassembly({ maxEntries: 2 }),
    );
    expect(r.steps[3]).toEqual([{ kind: 'dropped', key: 'b', reason: 'evicted-entries', scope: 'datagram' }]);
    expect([...r.state.entries.keys()]).toEqual(['a', 'c']);
  });

  it('expires on tick, with the header only when the offset-0 fragment arrived (RFC 1122 §3.3.2)', () => {
    const s = run([f('a', 0, 8, true, 1_000, H), f('b', 8, 8, true, 2_000, H)]).state;
    expect(deadline(s)).toBe(31_000);
    expect(step(s, tick(30_999))[1]).toEqual([]);
    const r = run([tick(31_000)], s);
    expect(r.outputs).toEqual([{ kind: 'expired', key: 'a', header: H, data: bytes(8, 0) }]);
    expect(deadline(r.state)).toBe(32_000);
    const r2 = run([tick(40_000)], r.state);
    expect(r2.outputs).toEqual([{ kind: 'expired', key: 'b' }]);
    expect(deadline(r2.state)).toBeUndefined();
    expect(r2.state.counters.expired).toBe(2);
  });

  it('does not extend the timer when more fragments arrive (RFC 1122 §3.3.2: a fixed value)', () => {
    const r = run([f('a', 0, 8, true, 0), f('a', 16, 8, true, 29_000), f('a', 24, 8, true, 30_000)]);
    expect(r.steps[2]).toEqual([{ kind: 'expired', key: 'a', header: new Uint8Array(0), data: bytes(8, 0) }]);
    expect(r.state.entries.get('a')?.created).toBe(30_000);
  });

  it('ignores fragments of an overlapped datagram for poisonMs, then accepts the key again', () => {
    const r = run([f('k', 0, 16, true, 0), f('k', 8, 16, true, 0), f('k', 24, 8, false, 29_999)]);
    expect(r.steps[2]).toEqual([{ kind: 'dropped', key: 'k', reason: 'poisoned', scope: 'fragment' }]);
    const later = run([f('k', 24, 8, false, 30_000)], r.state);
    expect(later.outputs).toEqual([]);
    expect(later.state.entries.size).toBe(1);
  });

  it('ignores copies of a completed datagram for duplicateHoldMs, but not a new datagram reusing the id', () => {
    const done = run([f('k', 0, 8, true, 0), f('k', 8, 8, false, 0)]).state;
    expect(run([f('k', 0, 8, true, 999)], done).outputs).toEqual([
      { kind: 'dropped', key: 'k', reason: 'late-duplicate', scope: 'fragment' },
    ]);
    // Ends past the completed datagram: another datagram with the same id.
    const reuse = run([f('k', 8, 16, true, 10)], done);
    expect(reuse.outputs).toEqual([]);
    expect(reuse.state.entries.size).toBe(1);
    expect(reuse.state.completed.size).toBe(0);
    const after = run([f('k', 0, 8, true, 1_000)], done);
    expect(after.outputs).toEqual([]);
    expect(after.state.entries.size).toBe(1);
  });

  it('rejects nonsensical configurations', () => {
    expect(() => initialReassembly({ budgetBytes: 1000 })).toThrow(RangeError);
    expect(() => initialReassembly({ timeoutMs: 0 })).toThrow(RangeError);
    expect(() => initialReassembly({ maxFragments: 0 })).toThrow(RangeError);
    expect(() => initialReassembly({ minHeaderLen: 70_000 })).toThrow(RangeError);
    expect(initialReassembly().counters).toEqual(Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])));
  });
});

// Small limits so that every bound is reachable in a few fragments.
const TINY: Partial<ReassemblyConfig> = {
  maxDatagramLen: 100,
  minHeaderLen: 20,
  maxFragments: 4,
  entryOverhead: 10,
  fragmentOverhead: 10,
  budgetBytes: 150,
};

const dropTable: [
  string,
  Partial<ReassemblyConfig>,
  ReassemblyEvent[],
  DropReason,
  'fragment' | 'datagram',
][] = [
  ['offset not a multiple of 8', {}, [f('k', 3, 8, true)], 'bad-offset', 'fragment'],
  ['negative offset', {}, [f('k', -8, 8, true)], 'bad-offset', 'fragment'],
  ['offset past the 13-bit field', {}, [f('k', 65_536, 8, false)], 'bad-offset', 'fragment'],
  ['fractional offset', {}, [f('k', 8.5, 8, true)], 'bad-offset', 'fragment'],
  ['empty last fragment', {}, [f('k', 8, 0, false)], 'empty', 'fragment'],
  ['non-last fragment of 7 bytes', {}, [f('k', 0, 7, true)], 'unaligned', 'fragment'],
  ['fragment ending past 65535 - 20', {}, [f('k', 65_512, 8, false)], 'too-big', 'fragment'],
  ['fragment past maxDatagramLen - minHeaderLen', TINY, [f('k', 80, 8, false)], 'too-big', 'fragment'],
  [
    'offset-0 header too long for data held',
    TINY,
    [f('k', 72, 8, false), f('k', 0, 8, true, 0, bytes(30))],
    'too-big',
    'datagram',
  ],
  ['exact duplicate', {}, [f('k', 0, 8, true), f('k', 0, 8, true)], 'duplicate', 'fragment'],
  [
    'copy of a completed datagram',
    {},
    [f('k', 0, 8, true), f('k', 8, 1, false), f('k', 8, 1, false)],
    'late-duplicate',
    'fragment',
  ],
  [
    'fragment of an overlapped datagram',
    {},
    [f('k', 0, 16, true), f('k', 8, 16, true), f('k', 32, 8, false)],
    'poisoned',
    'fragment',
  ],
  ['partial overlap', {}, [f('k', 0, 16, true), f('k', 8, 16, true)], 'overlap', 'datagram'],
  ['contained in a held fragment', {}, [f('k', 0, 24, true), f('k', 8, 8, true)], 'overlap', 'datagram'],
  ['covering a held fragment', {}, [f('k', 8, 8, true), f('k', 0, 24, true)], 'overlap', 'datagram'],
  ['same range, other bytes', {}, [f('k', 0, 8, true), f('k', 0, bytes(8, 99), true)], 'overlap', 'datagram'],
  ['same range, other more flag', {}, [f('k', 8, 8, true), f('k', 8, 8, false)], 'overlap', 'datagram'],
  [
    'non-last fragment past the known end',
    {},
    [f('k', 16, 8, false), f('k', 24, 8, true)],
    'past-end',
    'datagram',
  ],
  ['last fragment before data held', {}, [f('k', 16, 8, true), f('k', 8, 8, false)], 'past-end', 'datagram'],
  [
    'second last fragment, other end',
    {},
    [f('k', 16, 8, false), f('k', 24, 8, false)],
    'end-mismatch',
    'datagram',
  ],
  [
    'fifth fragment with maxFragments 4',
    TINY,
    [0, 8, 16, 24, 32].map((o) => f('k', o, 8, true)),
    'too-many-fragments',
    'datagram',
  ],
  [
    'over the byte budget',
    TINY,
    [f('a', 0, 48, true), f('b', 0, 48, true), f('c', 0, 48, true)],
    'evicted-budget',
    'datagram',
  ],
  [
    'over maxEntries',
    { maxEntries: 1 },
    [f('a', 0, 8, true), f('b', 0, 8, true)],
    'evicted-entries',
    'datagram',
  ],
];

describe('drop reasons', () => {
  it.each(dropTable)('%s', (_name, config, events, reason, scope) => {
    const r = run(events, initialReassembly(config));
    const last = r.steps[r.steps.length - 1]!;
    const key = reason === 'evicted-budget' || reason === 'evicted-entries' ? 'a' : 'k';
    expect(last).toEqual([{ kind: 'dropped', key, reason, scope }]);
    expect(r.state.counters[reason]).toBe(1);
    if (scope === 'datagram') expect(r.state.entries.has(key)).toBe(false);
    expect(reassembled(r.outputs).length).toBe(reason === 'late-duplicate' ? 1 : 0);
  });

  it('counts every drop reason in the table', () => {
    expect(new Set(dropTable.map((row) => row[3]))).toEqual(
      new Set(COUNTER_NAMES.filter((n) => !['fragments', 'reassembled', 'expired'].includes(n))),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

describe('reassembly properties', () => {
  it('any permutation with any duplication yields the payload exactly once, with the offset-0 header', () => {
    const arb = fragmentSetArb({ minFragments: 2 }).chain((set) =>
      arrivalsArb(set).map((seq) => ({ set, seq })),
    );
    fc.assert(
      fc.property(arb, ({ set, seq }) => {
        const r = run(seq.map((fr) => fragEvent('k', fr)));
        expect(reassembled(r.outputs)).toEqual([
          { kind: 'reassembled', key: 'k', header: set.header, data: set.payload },
        ]);
        for (const o of r.outputs) {
          if (o.kind === 'dropped') expect(['duplicate', 'late-duplicate']).toContain(o.reason);
          else expect(o.kind).toBe('reassembled');
        }
        expect(r.state.entries.size).toBe(0);
        expect(r.state.bytes).toBe(0);
        expect(r.state.counters.fragments).toBe(set.fragments.length);
      }),
      propOptions(),
    );
  });

  it('a whole datagram comes out as is', () => {
    fc.assert(
      fc.property(fragmentSetArb({ maxFragments: 1 }), (set) => {
        const r = run(set.fragments.map((fr) => fragEvent('k', fr)));
        expect(r.outputs).toEqual([{ kind: 'reassembled', key: 'k', header: set.header, data: set.payload }]);
      }),
      propOptions(50),
    );
  });

  it('a set with a non-identical overlap yields nothing and frees the entry', () => {
    fc.assert(fc.property(overlapCaseArb, checkOverlapCase), propOptions());
  });

  it('stays within the budget over random interleavings of many keys, and is deterministic', () => {
    fc.assert(
      fc.property(manyKeysArb, ({ config, events, sets }) => {
        const s0 = initialReassembly(config);
        const r = run(events, s0);
        for (const o of reassembled(r.outputs)) {
          if (!o.key.startsWith('k')) continue; // junk keys may carry whole datagrams
          const set = sets[Number(o.key.slice(1))]!;
          expect(o.data).toEqual(set.payload);
          expect(o.header).toEqual(set.header);
        }
        // Same state and same events: same outputs (replay).
        let s = s0;
        const again: ReassemblyOutput[] = [];
        for (const ev of events) {
          const [next, out] = step(s, ev);
          again.push(...out);
          s = next;
        }
        expect(again).toEqual(r.outputs);
      }),
      propOptions(100),
    );
  });

  it('has a generator that reaches the bounds that property is about (a fixed sample: random runs reached expiry only mostly)', () => {
    const seen = new Map<string, number>();
    for (const { config, events } of fc.sample(manyKeysArb, { numRuns: 200, seed: 20261207 })) {
      const r = run(events, initialReassembly(config));
      for (const [name, n] of Object.entries(r.state.counters)) seen.set(name, (seen.get(name) ?? 0) + n);
    }
    for (const name of ['reassembled', 'expired', 'evicted-budget', 'evicted-entries', 'late-duplicate']) {
      expect(seen.get(name), name).toBeGreaterThan(0);
    }
  });

  it('never throws and keeps every invariant on arbitrary events', () => {
    const eventArb: fc.Arbitrary<ReassemblyEvent> = fc.oneof(
      fc.record({
        kind: fc.constant('fragment' as const),
        now: fc.integer({ min: 0, max: 100_000 }),
        key: fc.constantFrom('a', 'b', 'c'),
        offset: fc.oneof(
          fc.integer({ min: 0, max: 40 }).map((u) => u * 8),
          fc.integer({ min: -16, max: 70_000 }),
          fc.double(),
        ),
        data: fc.uint8Array({ maxLength: 80 }),
        more: fc.boolean(),
        header: fc.uint8Array({ maxLength: 80 }),
      }),
      fc.record({ kind: fc.constant('tick' as const), now: fc.integer({ min: 0, max: 100_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), (events) => {
        const sorted = [...events].sort((x, y) => x.now - y.now);
        run(sorted, initialReassembly({ ...TINY, maxEntries: 2, maxRemembered: 1 }));
      }),
      propOptions(),
    );
  });

  it('entries older than the timeout are gone after tick, and said so once', () => {
    fc.assert(
      fc.property(expiryArb, ({ batches, tickAt }) => {
        const events: ReassemblyEvent[] = batches.flatMap((b) =>
          b.frags.map((fr) => fragEvent(b.key, fr, b.at)),
        );
        const r = run([...events, tick(tickAt)]);
        for (const b of batches) {
          const expired = r.outputs.filter((o) => o.kind === 'expired' && o.key === b.key);
          if (b.at + 30_000 <= tickAt) {
            expect(r.state.entries.has(b.key)).toBe(false);
            const first = b.frags.find((fr) => fr.offset === 0);
            expect(expired).toEqual([
              first === undefined
                ? { kind: 'expired', key: b.key }
                : { kind: 'expired', key: b.key, header: first.header, data: first.data },
            ]);
          } else {
            expect(expired).toEqual([]);
            expect(r.state.entries.get(b.key)?.created).toBe(b.at);
          }
        }
        expect(r.outputs.filter((o) => o.kind !== 'expired')).toEqual([]);
      }),
      propOptions(),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Arbitraries for the properties above

interface OverlapCase {
  readonly set: FragmentSet;
  readonly seq: readonly Frag[];
  readonly conflict: boolean;
}

/**
 * A valid set plus one bad fragment that overlaps it and can never be part of a complete tiling:
 * either it starts strictly inside a genuine fragment, or it ends strictly inside one and claims more
 * fragments ('straddle'), or it is a genuine fragment's range with other bytes ('conflict') arriving
 * after that fragment. It always arrives
 * before the last genuine fragment, so the datagram cannot complete first.
 */
const overlapCaseArb: fc.Arbitrary<OverlapCase> = fragmentSetArb({ minFragments: 2, minLength: 32 }).chain(
  (set) => {
    const n = set.fragments.length;
    return fc
      .record({
        perm: fc.shuffledSubarray([...set.fragments], { minLength: n, maxLength: n }),
        conflict: fc.boolean(),
        pick: fc.nat(),
        at: fc.nat(),
        units: fc.integer({ min: 1, max: 40 }),
        tail: fc.integer({ min: 1, max: 40 }),
        forward: fc.boolean(),
        more: fc.boolean(),
        flip: fc.integer({ min: 1, max: 255 }),
        pos: fc.nat(),
      })
      .map((p): OverlapCase | undefined => {
        const { perm } = p;
        const fill = (offset: number, len: number): Uint8Array => {
          const d = new Uint8Array(len).fill(0x5a);
          d.set(set.payload.subarray(offset, Math.min(offset + len, set.payload.length)));
          return d;
        };
        if (p.conflict) {
          const gi = p.pick % (n - 1); // any but the last to arrive
          const g = perm[gi]!;
          const data = g.data.slice();
          const i = p.at % data.length;
          data[i] = (data[i] ?? 0) ^ p.flip;
          const bad: Frag = { offset: g.offset, data, more: g.more, header: g.header };
          const where = gi + 1 + (p.pos % (n - 1 - gi));
          return { set, conflict: true, seq: [...perm.slice(0, where), bad, ...perm.slice(where)] };
        }
        const wide = set.fragments.filter((g) => g.data.length >= 16);
        if (wide.length === 0) return undefined;
        const g = wide[p.pick % wide.length]!;
        const x = g.offset + 8 * (1 + (p.at % Math.floor((g.data.length - 1) / 8)));
        let bad: Frag;
        if (p.forward) {
          const len = p.more ? 8 * p.units : 8 * p.units + p.tail;
          bad = { offset: x, data: fill(x, len), more: p.more, header: g.header };
        } else {
          const start = Math.max(0, x - 8 * p.units);
          // Ending inside g, it must claim more fragments: as a last fragment it would describe a shorter
          // datagram that the genuine fragments before g complete without any overlap.
          bad = { offset: start, data: fill(start, x - start), more: true, header: g.header };
        }
        const where = p.pos % n;
        return { set, conflict: false, seq: [...perm.slice(0, where), bad, ...perm.slice(where)] };
      })
      .filter((c): c is OverlapCase => c !== undefined);
  },
);

function checkOverlapCase({ seq, conflict }: OverlapCase): void {
  const r = run(seq.map((fr) => fragEvent('k', fr)));
  expect(reassembled(r.outputs)).toEqual([]);
  const datagramDrops = r.outputs.filter((o) => o.kind === 'dropped' && o.scope === 'datagram');
  expect(datagramDrops).toHaveLength(1);
  const drop = datagramDrops[0]!;
  if (drop.kind === 'dropped') {
    expect(['overlap', 'past-end', 'end-mismatch']).toContain(drop.reason);
    if (conflict) expect(drop.reason).toBe('overlap');
  }
  // Freed at once: the step that dropped it left no entry, and nothing came back after it.
  const at = r.steps.findIndex((o) => o.some((x) => x.kind === 'dropped' && x.scope === 'datagram'));
  for (const later of r.steps.slice(at + 1)) {
    expect(later).toEqual([{ kind: 'dropped', key: 'k', reason: 'poisoned', scope: 'fragment' }]);
  }
  expect(r.state.entries.size).toBe(0);
  expect(r.state.bytes).toBe(0);
}

/** Many keys with valid (possibly incomplete, duplicated) sets, junk keys, ticks and time, interleaved. */
const manyKeysArb = fc
  .record({
    sets: fc.array(fragmentSetArb({ minLength: 400, maxLength: 1_100, minFragments: 2, maxFragments: 10 }), {
      minLength: 1,
      maxLength: 6,
    }),
    junk: fc.array(
      fc.record({
        key: fc.integer({ min: 0, max: 3 }).map((i) => `j${i}`),
        offset: fc.integer({ min: 0, max: 140 }).map((u) => u * 8),
        data: fc.uint8Array({ minLength: 0, maxLength: 64 }),
        more: fc.boolean(),
      }),
      { maxLength: 20 },
    ),
    maxEntries: fc.integer({ min: 1, max: 6 }),
    extra: fc.integer({ min: 0, max: 1_500 }),
    ticks: fc.integer({ min: 0, max: 5 }),
  })
  .chain(({ sets, junk, maxEntries, extra, ticks }) => {
    const config: Partial<ReassemblyConfig> = {
      timeoutMs: 20_000,
      maxDatagramLen: 1_200,
      minHeaderLen: 20,
      maxFragments: 10,
      entryOverhead: 50,
      fragmentOverhead: 20,
      maxEntries,
      maxRemembered: 3,
      duplicateHoldMs: 500,
    };
    const budgetBytes = maxEntryWeight({ ...DEFAULT_REASSEMBLY_CONFIG, ...config }) + extra;
    type Item = { key: string; frag: Frag } | { tick: true };
    const items: Item[] = [
      ...sets.flatMap((s, i) => s.fragments.map((frag) => ({ key: `k${i}`, frag }))),
      ...sets.flatMap((s, i) => s.fragments.slice(0, 2).map((frag) => ({ key: `k${i}`, frag }))),
      ...junk.map((j) => ({ key: j.key, frag: { offset: j.offset, data: j.data, more: j.more, header: H } })),
      ...Array.from({ length: ticks }, () => ({ tick: true as const })),
    ];
    const n = items.length;
    return fc
      .tuple(
        fc.shuffledSubarray(items, { minLength: n, maxLength: n }),
        // About one item in ten is lost; time advances by up to 1 s per item.
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }),
        fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: n, maxLength: n }),
      )
      .map(([order, loss, gaps]) => {
        let now = 0;
        const events = order.flatMap((it, i): ReassemblyEvent[] => {
          now += gaps[i]!;
          if (loss[i] === 0) return [];
          return ['tick' in it ? tick(now) : fragEvent(it.key, it.frag, now)];
        });
        return { config: { ...config, budgetBytes }, events, sets };
      });
  });

/** Incomplete datagrams on distinct keys, each sent in one batch at its own time, then one tick. */
const expiryArb = fc
  .array(
    fc.tuple(
      fragmentSetArb({ minFragments: 2, maxFragments: 6 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    ),
    { minLength: 1, maxLength: 8 },
  )
  .chain((raw) => {
    const batches = raw
      .map(([set, at, keep], i) => {
        let frags = set.fragments.filter((_, j) => keep[j]);
        if (frags.length === set.fragments.length) frags = frags.slice(1);
        if (frags.length === 0) frags = [set.fragments[set.fragments.length - 1]!];
        return { key: `k${i}`, at, frags };
      })
      .sort((a, b) => a.at - b.at);
    const last = batches[batches.length - 1]!.at;
    return fc.integer({ min: last, max: last + 60_000 }).map((tickAt) => ({ batches, tickAt }));
  });
