/**
 * The persistent multibit trie under the FIB (fib.ts): fixed strides per depth, path copying on
 * update, no leaf pushing.
 *
 * Depth d consumes `strides[d]` address bits starting at bit `offsets[d]` (0 is the most significant
 * bit). A prefix of length L lives in the node at the depth whose bits contain bit L - 1 (the root for
 * L = 0), as a prefix of local length L - offsets[d] over that node's 2^stride slots. Each node stores,
 * for each slot, the best route of the longest prefix *of this node* covering it, and the child for
 * that slot. A lookup walks down, remembering the last route it met: a longer prefix always lives
 * deeper, so the last one met is the longest match (RFC 1812 §5.2.4.3 rule 2). Routes are not pushed
 * down into children, so an update rewrites one node and copies its ancestors only, whatever the
 * prefix length (adding a default route under 100,000 others copies the root alone).
 *
 * Leaves are stored once per run of slots with the same leaf (a route, or undefined where no prefix
 * of the node covers the slots), so sparse nodes stay small. A node is one array; with W = max(1,
 * slots / 16) words of 16 slots:
 *   [2i]         runs base << 16 | run bits: bit (slot & 15) set where a run starts at that slot of
 *                word i; the base counts the runs that start in the words before;
 *   [2i + 1]     children base << 16 | child bits: the same for the slots that have a child;
 *   [2W]         the index where the children start;
 *   [2W + 1]     the node's entries;
 *   [2W + 2 ..]  one leaf per run, then the children in slot order.
 * The words are small integers stored inline and interleaved, so a lookup step reads one array and
 * mostly two cache lines of it (the word pair and the leaf). Two variants were measured and dropped,
 * being no faster with random addresses over 100,000 routes (bench/fib.ts): the bit sets of the 4096-
 * slot nodes in an Int32Array (a quarter of the bytes, one more pointer to follow), and per-32-slot
 * groups holding their bits next to their leaves.
 * The entries (prefixes of the node, sorted by first slot then length) serve updates and listing.
 *
 * Nodes are never mutated after construction; an update that changes nothing returns the same root.
 */

/** A prefix that ends in a node: its routes and the one lookups return. */
export interface Entry<R> {
  /** Local length, 0..stride (0 only for the default route, in the root). */
  readonly len: number;
  /** The prefix's bits within this node's stride, right-aligned (`len` bits). */
  readonly bits: number;
  /** Every route for the prefix, in the order they were added (a replaced route keeps its place). */
  readonly routes: readonly R[];
  /** The route lookups return: lowest metric, the earliest added among equals. */
  readonly best: R;
}

/** A trie node; see the layout above. */
export type TrieNode = readonly unknown[];

/** The strides of a family's trie; `offsets[d]` is the sum of the strides above depth d. */
export interface TrieShape {
  readonly strides: readonly number[];
  readonly offsets: readonly number[];
}

export function trieShape(strides: readonly number[]): TrieShape {
  const offsets: number[] = [];
  let off = 0;
  for (const s of strides) {
    if (!Number.isInteger(s) || s < 4 || s > 12) throw new RangeError(`fib: stride ${s}`);
    offsets.push(off);
    off += s;
  }
  return { strides, offsets };
}

/** Set bits among the low 16 bits of `x` (the rank inside one word). */
export function pop16(x: number): number {
  let v = x - ((x >>> 1) & 0x5555);
  v = (v & 0x3333) + ((v >>> 2) & 0x3333);
  v = (v + (v >>> 4)) & 0x0f0f;
  return (v + (v >>> 8)) & 0x1f;
}

/** The leaf for `slot` of a node with `w` words: a route or undefined. */
export function leafAt(node: TrieNode, slot: number, w: number): unknown {
  const word = node[(slot >>> 4) << 1] as number;
  return node[2 * w + 1 + (word >>> 16) + pop16(word & ((2 << (slot & 15)) - 1))];
}

/** The child for `slot` of a node with `w` words, or undefined. */
export function childAt(node: TrieNode, slot: number, w: number): TrieNode | undefined {
  const word = node[((slot >>> 4) << 1) + 1] as number;
  if (((word >>> (slot & 15)) & 1) === 0) return undefined;
  return node[
    (node[2 * w] as number) - 1 + (word >>> 16) + pop16(word & ((2 << (slot & 15)) - 1))
  ] as TrieNode;
}

/** Where things are in a node of a given stride. */
interface Layout {
  readonly stride: number;
  /** 16-slot words. */
  readonly w: number;
  readonly kidsAtIx: number;
  readonly entriesIx: number;
  readonly leavesIx: number;
}

function layoutOf(stride: number): Layout {
  const w = stride <= 4 ? 1 : 1 << (stride - 4);
  return { stride, w, kidsAtIx: 2 * w, entriesIx: 2 * w + 1, leavesIx: 2 * w + 2 };
}

/** Index of the child for `slot` (which must have one). */
function childIx(node: TrieNode, lay: Layout, slot: number): number {
  const word = node[((slot >>> 4) << 1) + 1] as number;
  return (node[lay.kidsAtIx] as number) - 1 + (word >>> 16) + pop16(word & ((2 << (slot & 15)) - 1));
}

/**
 * A node's entries in slot order (by first slot, then length), with their keys (first slot << 4 |
 * local length) and best routes in arrays of their own, so that a search or a rebuild of the node's
 * leaves reads two compact arrays instead of every entry object.
 */
interface Entries<R> {
  readonly keys: readonly number[];
  readonly bests: readonly R[];
  readonly items: readonly Entry<R>[];
}

const NO_ENTRIES: Entries<never> = { keys: [], bests: [], items: [] };

function entriesOf<R>(node: TrieNode | undefined, lay: Layout): Entries<R> {
  return node === undefined ? NO_ENTRIES : (node[lay.entriesIx] as Entries<R>);
}

function keyOf(len: number, bits: number, stride: number): number {
  return ((bits << (stride - len)) << 4) | len;
}

/** The entries with the one at index `i` replaced (`found`) or inserted, or removed (`next` undefined). */
function withEntry<R>(
  entries: Entries<R>,
  i: number,
  found: boolean,
  next: Entry<R> | undefined,
  stride: number,
): Entries<R> {
  const keys = entries.keys.slice();
  const bests = entries.bests.slice();
  const items = entries.items.slice();
  if (next === undefined) {
    keys.splice(i, 1);
    bests.splice(i, 1);
    items.splice(i, 1);
  } else if (found) {
    bests[i] = next.best;
    items[i] = next;
  } else {
    keys.splice(i, 0, keyOf(next.len, next.bits, stride));
    bests.splice(i, 0, next.best);
    items.splice(i, 0, next);
  }
  return { keys, bests, items };
}

/** A node's children: the child bits of each word and the children in slot order. */
interface Kids {
  readonly bits: readonly number[];
  readonly nodes: readonly TrieNode[];
}

function kidsOf(node: TrieNode, lay: Layout): Kids {
  const bits: number[] = [];
  for (let i = 0; i < lay.w; i++) bits.push((node[2 * i + 1] as number) & 0xffff);
  return { bits, nodes: node.slice(node[lay.kidsAtIx] as number) as TrieNode[] };
}

/** The children with the one for `slot` set to `kid` (added, replaced) or removed (undefined). */
function withKid(kids: Kids, slot: number, kid: TrieNode | undefined): Kids {
  const i = slot >>> 4;
  const bit = 1 << (slot & 15);
  let at = 0;
  for (let j = 0; j < i; j++) at += pop16(kids.bits[j]!);
  at += pop16(kids.bits[i]! & (bit - 1));
  const has = (kids.bits[i]! & bit) !== 0;
  const bits = kids.bits.slice();
  const nodes = kids.nodes.slice();
  if (kid === undefined) {
    bits[i] = bits[i]! & ~bit;
    if (has) nodes.splice(at, 1);
  } else {
    bits[i] = bits[i]! | bit;
    if (has) nodes[at] = kid;
    else nodes.splice(at, 0, kid);
  }
  return { bits, nodes };
}

/** A node's leaves: the run bits of each word and one leaf per run. */
interface Runs {
  readonly bits: readonly number[];
  readonly leaves: readonly unknown[];
}

function runsOf(node: TrieNode, lay: Layout): Runs {
  const bits: number[] = [];
  for (let i = 0; i < lay.w; i++) bits.push((node[2 * i] as number) & 0xffff);
  return { bits, leaves: node.slice(lay.leavesIx, node[lay.kidsAtIx] as number) };
}

/**
 * Leaf runs of a node from its entries, by one sweep over them in slot order: the entries' slot ranges
 * nest (they are prefixes), so a stack of the open ranges gives the longest one covering each slot.
 */
function runsFrom<R>(entries: Entries<R>, lay: Layout): Runs {
  const stride = lay.stride;
  const { keys, bests } = entries;
  const starts: number[] = [0];
  const leaves: unknown[] = [undefined];
  // The open ranges, outermost first: where each ends and its route.
  const ends: number[] = [];
  const open: R[] = [];
  for (let k = 0; k <= keys.length; k++) {
    // Past the last entry, close every range that ends on a slot (not those reaching 2^stride).
    const key = k < keys.length ? keys[k]! : ((1 << stride) - 1) << 4;
    const start = key >>> 4;
    while (ends.length > 0 && ends[ends.length - 1]! <= start) {
      const end = ends.pop()!;
      open.pop();
      pushRun(starts, leaves, end, open.length > 0 ? open[open.length - 1] : undefined);
    }
    if (k === keys.length) break;
    pushRun(starts, leaves, start, bests[k]);
    ends.push(start + (1 << (stride - (key & 15))));
    open.push(bests[k]!);
  }
  const bits: number[] = new Array<number>(lay.w).fill(0);
  for (const at of starts) bits[at >>> 4]! |= 1 << (at & 15);
  return { bits, leaves };
}

/** A run starts at `at` with `leaf`: it overrides a run starting at the same slot; equal neighbours merge. */
function pushRun(starts: number[], leaves: unknown[], at: number, leaf: unknown): void {
  if (starts[starts.length - 1] === at) {
    starts.pop();
    leaves.pop();
  }
  if (leaves.length > 0 && leaves[leaves.length - 1] === leaf) return;
  starts.push(at);
  leaves.push(leaf);
}

function assemble<R>(entries: Entries<R>, runs: Runs, kids: Kids, lay: Layout): TrieNode {
  const { w, leavesIx } = lay;
  const kidsAt = leavesIx + runs.leaves.length;
  const node: unknown[] = new Array(kidsAt + kids.nodes.length);
  let runBase = 0;
  let kidBase = 0;
  for (let i = 0; i < w; i++) {
    const runBits = runs.bits[i]!;
    const kidBits = kids.bits[i]!;
    node[2 * i] = (runBase << 16) | runBits;
    node[2 * i + 1] = (kidBase << 16) | kidBits;
    runBase += pop16(runBits);
    kidBase += pop16(kidBits);
  }
  node[lay.kidsAtIx] = kidsAt;
  node[lay.entriesIx] = entries;
  for (let i = 0; i < runs.leaves.length; i++) node[leavesIx + i] = runs.leaves[i];
  for (let i = 0; i < kids.nodes.length; i++) node[kidsAt + i] = kids.nodes[i];
  return node;
}

function noKids(lay: Layout): Kids {
  return { bits: new Array<number>(lay.w).fill(0), nodes: [] };
}

/** The empty root of a trie with this shape. */
export function emptyRoot(shape: TrieShape): TrieNode {
  const lay = layoutOf(shape.strides[0]!);
  return assemble(NO_ENTRIES, runsFrom(NO_ENTRIES, lay), noKids(lay), lay);
}

/**
 * Where an update goes: the depth of the node holding the prefix, the prefix's local length and bits
 * there, and the slot of the prefix's address at each depth above it (the path).
 */
export interface TriePath {
  readonly depth: number;
  readonly len: number;
  readonly bits: number;
  readonly slotAt: (depth: number) => number;
}

/** The path of a prefix of length `len` whose slots are `slotAt(depth)`. */
export function triePath(shape: TrieShape, len: number, slotAt: (depth: number) => number): TriePath {
  let depth = 0;
  while (len > shape.offsets[depth]! + shape.strides[depth]!) depth++;
  const stride = shape.strides[depth]!;
  const local = len - shape.offsets[depth]!;
  return { depth, len: local, bits: slotAt(depth) >>> (stride - local), slotAt };
}

/**
 * Replaces the entry at `path` by `change(old)` (undefined: none, or remove it), copying the nodes on
 * the path. Returns the same root when `change` returns the old entry. Nodes left with no entry and no
 * child are pruned (the root stays).
 */
export function trieUpdate<R>(
  shape: TrieShape,
  root: TrieNode,
  path: TriePath,
  change: (old: Entry<R> | undefined) => Entry<R> | undefined,
): TrieNode {
  return updateAt(shape, root, 0, path, change) ?? emptyRoot(shape);
}

/** Where the entry for `path` is, or would go, among sorted entries. */
function searchEntries<R>(entries: Entries<R>, path: TriePath, stride: number): number {
  const key = keyOf(path.len, path.bits, stride);
  const keys = entries.keys;
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function updateAt<R>(
  shape: TrieShape,
  node: TrieNode | undefined,
  depth: number,
  path: TriePath,
  change: (old: Entry<R> | undefined) => Entry<R> | undefined,
): TrieNode | undefined {
  const lay = layoutOf(shape.strides[depth]!);
  if (depth === path.depth) {
    const entries = entriesOf<R>(node, lay);
    const i = searchEntries(entries, path, lay.stride);
    const found = entries.keys[i] === keyOf(path.len, path.bits, lay.stride) ? entries.items[i] : undefined;
    const next = change(found);
    if (next === found) return node;
    const updated = withEntry(entries, i, found !== undefined, next, lay.stride);
    const kids = node === undefined ? noKids(lay) : kidsOf(node, lay);
    if (updated.keys.length === 0 && kids.nodes.length === 0 && depth > 0) return undefined;
    return assemble(updated, runsFrom(updated, lay), kids, lay);
  }
  const slot = path.slotAt(depth);
  const kid = node === undefined ? undefined : childAt(node, slot, lay.w);
  const next = updateAt(shape, kid, depth + 1, path, change);
  if (next === kid) return node;
  if (node !== undefined && kid !== undefined && next !== undefined) {
    // Same set of children: copy the node and swap one pointer.
    const copy = node.slice();
    copy[childIx(node, lay, slot)] = next;
    return copy;
  }
  const entries = entriesOf<R>(node, lay);
  const kids = withKid(node === undefined ? noKids(lay) : kidsOf(node, lay), slot, next);
  if (entries.keys.length === 0 && kids.nodes.length === 0 && depth > 0) return undefined;
  return assemble(entries, node === undefined ? runsFrom(entries, lay) : runsOf(node, lay), kids, lay);
}

/** The entry at `path`, or undefined. */
export function trieFind<R>(shape: TrieShape, root: TrieNode, path: TriePath): Entry<R> | undefined {
  let node: TrieNode | undefined = root;
  for (let depth = 0; depth < path.depth && node !== undefined; depth++) {
    node = childAt(node, path.slotAt(depth), layoutOf(shape.strides[depth]!).w);
  }
  if (node === undefined) return undefined;
  const lay = layoutOf(shape.strides[path.depth]!);
  const entries = entriesOf<R>(node, lay);
  const i = searchEntries(entries, path, lay.stride);
  return entries.keys[i] === keyOf(path.len, path.bits, lay.stride) ? entries.items[i] : undefined;
}

/** Every entry of the trie, depth first. */
export function trieEntries<R>(shape: TrieShape, root: TrieNode): Entry<R>[] {
  const out: Entry<R>[] = [];
  const walk = (node: TrieNode, depth: number) => {
    const lay = layoutOf(shape.strides[depth]!);
    out.push(...entriesOf<R>(node, lay).items);
    for (const kid of kidsOf(node, lay).nodes) walk(kid, depth + 1);
  };
  walk(root, 0);
  return out;
}
