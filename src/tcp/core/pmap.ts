/**
 * A persistent (immutable) hash map from strings to values: a hash array mapped trie (Bagwell 2001)
 * with 32-way bitmap-compressed nodes and collision buckets. `set`/`remove` copy only the path to the
 * changed entry (O(log32 n) small arrays), so the TCP core can return a new connection table on every
 * step without copying the whole table and without touching the old one (docs/TCP-NOTES.md §1 "Persistence").
 *
 * Never mutates a map it was given: every operation returns a new map (or the same one when nothing
 * changed).
 */

const BITS = 5;
const MASK = 31;

interface Leaf<V> {
  readonly kind: 0;
  readonly hash: number;
  readonly key: string;
  readonly value: V;
}

interface Bucket<V> {
  readonly kind: 1;
  readonly hash: number;
  readonly entries: readonly Leaf<V>[];
}

interface Branch<V> {
  readonly kind: 2;
  readonly bitmap: number;
  readonly children: readonly PNode<V>[];
}

type PNode<V> = Leaf<V> | Bucket<V> | Branch<V>;

export interface PMap<V> {
  readonly size: number;
  readonly root: PNode<V> | null;
}

const EMPTY: PMap<never> = { size: 0, root: null };

export function pmapEmpty<V>(): PMap<V> {
  return EMPTY;
}

// A step looks the same key up several times in a row: remember the last hash.
let lastKey = '';
let lastHash = hashString('');

function hashOf(key: string): number {
  if (key !== lastKey) {
    lastHash = hashString(key);
    lastKey = key;
  }
  return lastHash;
}

/** FNV-1a over the UTF-16 code units, then a final avalanche (keys are short ASCII strings). */
function hashString(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

function popcount(x: number): number {
  let n = x - ((x >>> 1) & 0x55555555);
  n = (n & 0x33333333) + ((n >>> 2) & 0x33333333);
  return (Math.imul((n + (n >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

export function pmapGet<V>(m: PMap<V>, key: string): V | undefined {
  let node = m.root;
  if (node === null) return undefined;
  const hash = hashOf(key);
  let shift = 0;
  for (;;) {
    switch (node.kind) {
      case 0:
        return node.key === key ? node.value : undefined;
      case 1:
        for (const e of node.entries) if (e.key === key) return e.value;
        return undefined;
      case 2: {
        const bit = 1 << ((hash >>> shift) & MASK);
        if ((node.bitmap & bit) === 0) return undefined;
        node = node.children[popcount(node.bitmap & (bit - 1))]!;
        shift += BITS;
        break;
      }
    }
  }
}

export function pmapHas<V>(m: PMap<V>, key: string): boolean {
  return pmapGet(m, key) !== undefined;
}

function merge<V>(a: Leaf<V> | Bucket<V>, b: Leaf<V>, depth: number): PNode<V> {
  if (a.hash === b.hash) {
    const entries = a.kind === 0 ? [a, b] : [...a.entries, b];
    return { kind: 1, hash: a.hash, entries };
  }
  // Different hashes differ in some bit, so this recursion ends by depth 6 (bits 30-31).
  const shift = depth * BITS;
  const ia = (a.hash >>> shift) & MASK;
  const ib = (b.hash >>> shift) & MASK;
  if (ia === ib) return { kind: 2, bitmap: 1 << ia, children: [merge(a, b, depth + 1)] };
  return {
    kind: 2,
    bitmap: (1 << ia) | (1 << ib),
    children: ia < ib ? [a, b] : [b, a],
  };
}

/** [new node, added (1) or replaced (0)]. */
function insert<V>(node: PNode<V>, leaf: Leaf<V>, depth: number): [PNode<V>, number] {
  switch (node.kind) {
    case 0:
      if (node.key === leaf.key) return [leaf, 0];
      return [merge(node, leaf, depth), 1];
    case 1: {
      if (node.hash !== leaf.hash) return [merge(node, leaf, depth), 1];
      const i = node.entries.findIndex((e) => e.key === leaf.key);
      if (i >= 0) {
        const entries = node.entries.slice();
        entries[i] = leaf;
        return [{ kind: 1, hash: node.hash, entries }, 0];
      }
      return [{ kind: 1, hash: node.hash, entries: [...node.entries, leaf] }, 1];
    }
    case 2: {
      const bit = 1 << ((leaf.hash >>> (depth * BITS)) & MASK);
      const idx = popcount(node.bitmap & (bit - 1));
      const children = node.children.slice();
      if ((node.bitmap & bit) === 0) {
        children.splice(idx, 0, leaf);
        return [{ kind: 2, bitmap: node.bitmap | bit, children }, 1];
      }
      const [child, added] = insert(node.children[idx]!, leaf, depth + 1);
      children[idx] = child;
      return [{ kind: 2, bitmap: node.bitmap, children }, added];
    }
  }
}

export function pmapSet<V>(m: PMap<V>, key: string, value: V): PMap<V> {
  const leaf: Leaf<V> = { kind: 0, hash: hashOf(key), key, value };
  if (m.root === null) return { size: 1, root: leaf };
  const [root, added] = insert(m.root, leaf, 0);
  return { size: m.size + added, root };
}

/** The node without `key`, `undefined` if the key is absent, `null` if the node became empty. */
function del<V>(node: PNode<V>, key: string, hash: number, depth: number): PNode<V> | null | undefined {
  switch (node.kind) {
    case 0:
      return node.key === key ? null : undefined;
    case 1: {
      const i = node.entries.findIndex((e) => e.key === key);
      if (i < 0) return undefined;
      const entries = node.entries.filter((_, j) => j !== i);
      return entries.length === 1 ? entries[0]! : { kind: 1, hash: node.hash, entries };
    }
    case 2: {
      const bit = 1 << ((hash >>> (depth * BITS)) & MASK);
      if ((node.bitmap & bit) === 0) return undefined;
      const idx = popcount(node.bitmap & (bit - 1));
      const child = del(node.children[idx]!, key, hash, depth + 1);
      if (child === undefined) return undefined;
      if (child === null) {
        const bitmap = node.bitmap & ~bit;
        if (bitmap === 0) return null;
        const children = node.children.filter((_, j) => j !== idx);
        // A branch left with one leaf or bucket collapses into it (keeps lookups short).
        if (children.length === 1 && children[0]!.kind !== 2) return children[0]!;
        return { kind: 2, bitmap, children };
      }
      if (node.children.length === 1 && child.kind !== 2) return child;
      const children = node.children.slice();
      children[idx] = child;
      return { kind: 2, bitmap: node.bitmap, children };
    }
  }
}

export function pmapRemove<V>(m: PMap<V>, key: string): PMap<V> {
  if (m.root === null) return m;
  const r = del(m.root, key, hashOf(key), 0);
  if (r === undefined) return m;
  return { size: m.size - 1, root: r };
}

function* walk<V>(node: PNode<V> | null): Generator<[string, V]> {
  if (node === null) return;
  switch (node.kind) {
    case 0:
      yield [node.key, node.value];
      return;
    case 1:
      for (const e of node.entries) yield [e.key, e.value];
      return;
    case 2:
      for (const c of node.children) yield* walk(c);
  }
}

/** All entries, in an order fixed by the keys (deterministic, not sorted). */
export function pmapEntries<V>(m: PMap<V>): IterableIterator<[string, V]> {
  return walk(m.root);
}
