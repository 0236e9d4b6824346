/**
 * fast-check arbitraries for fragment reassembly: valid fragment sets of a random payload, cut at
 * random multiples of 8, and helpers that turn them into events.
 */
import fc from 'fast-check';
import type { FragmentEvent } from '../../src/fragments/reassembly.js';

export interface Frag {
  readonly offset: number;
  readonly data: Uint8Array;
  readonly more: boolean;
  /** What the adapter would pass as `header`; only the offset-0 one must be kept. */
  readonly header: Uint8Array;
}

export interface FragmentSet {
  readonly payload: Uint8Array;
  /** Header of the offset-0 fragment. */
  readonly header: Uint8Array;
  /** In offset order. */
  readonly fragments: readonly Frag[];
}

export interface FragmentSetOptions {
  readonly minLength?: number;
  readonly maxLength?: number;
  /** 2 excludes whole datagrams (a single fragment with offset 0 and more = false). */
  readonly minFragments?: number;
  readonly maxFragments?: number;
}

/** Cuts `payload` at the given offsets (multiples of 8, strictly inside it). */
export function cut(
  payload: Uint8Array,
  header: Uint8Array,
  cuts: readonly number[],
  other: Uint8Array,
): Frag[] {
  const points = [0, ...[...cuts].sort((a, b) => a - b), payload.length];
  const frags: Frag[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const offset = points[i]!;
    const end = points[i + 1]!;
    frags.push({
      offset,
      data: payload.subarray(offset, end),
      more: i + 2 < points.length,
      header: offset === 0 ? header : other,
    });
  }
  return frags;
}

export function fragmentSetArb(opts: FragmentSetOptions = {}): fc.Arbitrary<FragmentSet> {
  const minFragments = opts.minFragments ?? 1;
  const maxFragments = opts.maxFragments ?? 12;
  const minLength = Math.max(opts.minLength ?? 0, minFragments > 1 ? 8 * (minFragments - 1) + 1 : 0);
  const maxLength = Math.max(opts.maxLength ?? 600, minLength);
  return fc
    .tuple(
      fc.uint8Array({ minLength, maxLength }),
      fc.uint8Array({ minLength: 20, maxLength: 60 }),
      fc.uint8Array({ maxLength: 8 }),
    )
    .chain(([payload, header, other]) => {
      const maxCut = Math.floor((payload.length - 1) / 8);
      if (maxCut < 1) return fc.constant({ payload, header, fragments: cut(payload, header, [], other) });
      return fc
        .uniqueArray(fc.integer({ min: 1, max: maxCut }), {
          minLength: Math.min(minFragments - 1, maxCut),
          maxLength: Math.min(maxFragments - 1, maxCut),
        })
        .map((units) => ({
          payload,
          header,
          fragments: cut(
            payload,
            header,
            units.map((u) => u * 8),
            other,
          ),
        }));
    });
}

/** The fragments of a set with some duplicated, in a random arrival order. */
export function arrivalsArb(
  set: FragmentSet,
  maxDuplicates = set.fragments.length * 2,
): fc.Arbitrary<Frag[]> {
  const n = set.fragments.length;
  return fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: maxDuplicates }).chain((dups) => {
    const all = [...set.fragments, ...dups.map((i) => set.fragments[i]!)];
    return fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length });
  });
}

export function fragEvent(key: string, f: Frag, now = 0): FragmentEvent {
  return { kind: 'fragment', now, key, offset: f.offset, data: f.data, more: f.more, header: f.header };
}
