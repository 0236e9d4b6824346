/**
 * A persistent leftist min-heap of (time, key) pairs (Okasaki, "Purely Functional Data Structures"
 * §3.1): insert, pop and merge in O(log n), peek in O(1), old versions untouched. The TCP core keeps
 * one entry per connection at a lower bound of its next deadline, so `deadline(state)` is the heap's
 * minimum instead of a scan over every connection. Ties are broken by key so the order is total and
 * deterministic.
 */

export interface HeapNode {
  readonly at: number;
  readonly key: string;
  readonly rank: number;
  readonly left: HeapNode | null;
  readonly right: HeapNode | null;
}

export type PHeap = HeapNode | null;

function before(a: HeapNode, b: HeapNode): boolean {
  return a.at < b.at || (a.at === b.at && a.key < b.key);
}

function rankOf(h: PHeap): number {
  return h === null ? 0 : h.rank;
}

function make(at: number, key: string, a: PHeap, b: PHeap): HeapNode {
  const ra = rankOf(a);
  const rb = rankOf(b);
  return ra >= rb
    ? { at, key, rank: rb + 1, left: a, right: b }
    : { at, key, rank: ra + 1, left: b, right: a };
}

export function heapMerge(a: PHeap, b: PHeap): PHeap {
  if (a === null) return b;
  if (b === null) return a;
  if (before(b, a)) return make(b.at, b.key, b.left, heapMerge(a, b.right));
  return make(a.at, a.key, a.left, heapMerge(a.right, b));
}

export function heapInsert(h: PHeap, at: number, key: string): PHeap {
  return heapMerge(h, { at, key, rank: 1, left: null, right: null });
}

/** The heap without its minimum (the same empty heap when empty). */
export function heapPop(h: PHeap): PHeap {
  return h === null ? null : heapMerge(h.left, h.right);
}

export function heapSize(h: PHeap): number {
  return h === null ? 0 : 1 + heapSize(h.left) + heapSize(h.right);
}
