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
 * Below the second level (COMPACT_FROM), a node with at most COMPACT_MAX runs and children together
 * (most nodes there in a big table, and every node of a chain down to a lone long IPv6 prefix) is
 * compact instead, a third of the size: [0] = -(number of runs R), [1] = number of children K, [2] the entries, then the R run
 * starts (ascending, the first is 0), the R leaves, the K child slots and the K children; a lookup
 * scans these few. Word 0 of the bit-set layout is never negative (bit 0 always starts a run).
 * The entries (prefixes of the node, sorted by first slot then length) serve updates and listing.
 *
 * Nodes are never mutated after construction; an update that changes nothing returns the same root.
 */

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

/** The leaf for `slot` of a bit-set node with `w` words: a route or undefined. */
export function leafAtBits(node: TrieNode, slot: number, w: number): unknown {
  const word = node[(slot >>> 4) << 1] as number;
  return node[2 * w + 1 + (word >>> 16) + pop16(word & ((2 << (slot & 15)) - 1))];
}

/** The child for `slot` of a bit-set node with `w` words, or undefined. */
export function childAtBits(node: TrieNode, slot: number, w: number): TrieNode | undefined {
  const word = node[((slot >>> 4) << 1) + 1] as number;
  if (((word >>> (slot & 15)) & 1) === 0) return undefined;
  return node[
    (node[2 * w] as number) - 1 + (word >>> 16) + pop16(word & ((2 << (slot & 15)) - 1))
  ] as TrieNode;
}

/** The leaf for `slot` of a node (either layout) with `w` words: a route or undefined. */
export function leafAt(node: TrieNode, slot: number, w: number): unknown {
  const head = node[0] as number;
  if (head >= 0) return leafAtBits(node, slot, w);
  // Compact: the last run starting at or before the slot (the first starts at 0).
  let r = -head - 1;
  while ((node[COMPACT_STARTS + r] as number) > slot) r--;
  return node[COMPACT_STARTS - head + r];
}

/** The child for `slot` of a node (either layout) with `w` words, or undefined. */
export function childAt(node: TrieNode, slot: number, w: number): TrieNode | undefined {
  const head = node[0] as number;
  if (head >= 0) return childAtBits(node, slot, w);
  const kids = node[1] as number;
  const at = COMPACT_STARTS - 2 * head;
  for (let k = 0; k < kids; k++) if (node[at + k] === slot) return node[at + kids + k] as TrieNode;
  return undefined;
}

/** Where things are in a node at a given depth (bit-set layout). */
interface Layout {
  readonly stride: number;
  /** 16-slot words. */
  readonly w: number;
  /** Whether nodes at this depth may be compact. */
  readonly compact: boolean;
  readonly kidsAtIx: number;
  readonly entriesIx: number;
  readonly leavesIx: number;
}

function layoutOf(shape: TrieShape, depth: number): Layout {
  const stride = shape.strides[depth]!;
  const w = stride <= 4 ? 1 : 1 << (stride - 4);
  return {
    stride,
    w,
    compact: depth >= COMPACT_FROM,
    kidsAtIx: 2 * w,
    entriesIx: 2 * w + 1,
    leavesIx: 2 * w + 2,
  };
}

/** A node with at most this many runs and children together is compact... */
const COMPACT_MAX = 8;
/** ...from this depth on: the first two levels are always bit sets, so lookups there need no test. */
export const COMPACT_FROM = 2;
const COMPACT_ENTRIES = 2;
const COMPACT_STARTS = 3;

function isCompact(node: TrieNode): boolean {
  return (node[0] as number) < 0;
}

/** Index of the child for `slot` (which must have one). */
function childIx(node: TrieNode, lay: Layout, slot: number): number {
  if (isCompact(node)) {
    const kids = node[1] as number;
    const at = COMPACT_STARTS - 2 * (node[0] as number);
    let k = 0;
    while (node[at + k] !== slot) k++;
    return at + kids + k;
  }
  const word = node[((slot >>> 4) << 1) + 1] as number;
  return (node[lay.kidsAtIx] as number) - 1 + (word >>> 16) + pop16(word & ((2 << (slot & 15)) - 1));
}

/**
 * A node's entries (the prefixes that end in it) in slot order, as one flat array of triples:
 * key (first slot << 4 | local length, so keys sort by first slot, then length), the best route (the
 * one lookups return) and every route for the prefix. One array per node keeps a search or a rebuild
 * of the node's leaves within a few cache lines, and the memory per prefix small.
 */
type Entries<R> = readonly (number | R | readonly R[])[];

const NO_ENTRIES: Entries<never> = [];

function entriesOf<R>(node: TrieNode | undefined, lay: Layout): Entries<R> {
  if (node === undefined) return NO_ENTRIES;
  return node[isCompact(node) ? COMPACT_ENTRIES : lay.entriesIx] as Entries<R>;
}

function keyOf(len: number, bits: number, stride: number): number {
  return ((bits << (stride - len)) << 4) | len;
}

/** A node's children: the child bits of each word and the children in slot order. */
interface Kids {
  readonly bits: readonly number[];
  readonly nodes: readonly TrieNode[];
}

function kidsOf(node: TrieNode, lay: Layout): Kids {
  if (isCompact(node)) {
    const bits: number[] = new Array<number>(lay.w).fill(0);
    const kids = node[1] as number;
    const at = COMPACT_STARTS - 2 * (node[0] as number);
    for (let k = 0; k < kids; k++) {
      const slot = node[at + k] as number;
      bits[slot >>> 4]! |= 1 << (slot & 15);
    }
    return { bits, nodes: node.slice(at + kids) as TrieNode[] };
  }
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
  if (isCompact(node)) {
    const bits: number[] = new Array<number>(lay.w).fill(0);
    const runs = -(node[0] as number);
    for (let r = 0; r < runs; r++) {
      const slot = node[COMPACT_STARTS + r] as number;
      bits[slot >>> 4]! |= 1 << (slot & 15);
    }
    return { bits, leaves: node.slice(COMPACT_STARTS + runs, COMPACT_STARTS + 2 * runs) };
  }
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
  const starts: number[] = [0];
  const leaves: unknown[] = [undefined];
  // The open ranges, outermost first: where each ends and its route.
  const ends: number[] = [];
  const open: unknown[] = [];
  for (let k = 0; k <= entries.length; k += 3) {
    // Past the last entry, close every range that ends on a slot (not those reaching 2^stride).
    const key = k < entries.length ? (entries[k] as number) : ((1 << stride) - 1) << 4;
    const start = key >>> 4;
    while (ends.length > 0 && ends[ends.length - 1]! <= start) {
      const end = ends.pop()!;
      open.pop();
      pushRun(starts, leaves, end, open.length > 0 ? open[open.length - 1] : undefined);
    }
    if (k === entries.length) break;
    pushRun(starts, leaves, start, entries[k + 1]);
    ends.push(start + (1 << (stride - (key & 15))));
    open.push(entries[k + 1]);
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
  if (lay.compact && runs.leaves.length + kids.nodes.length <= COMPACT_MAX) {
    return assembleCompact(entries, runs, kids);
  }
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

function slotsOf(bits: readonly number[]): number[] {
  const slots: number[] = [];
  for (let i = 0; i < bits.length; i++) {
    for (let b = 0; bits[i]! >>> b !== 0; b++) if ((bits[i]! >>> b) & 1) slots.push(16 * i + b);
  }
  return slots;
}

function assembleCompact<R>(entries: Entries<R>, runs: Runs, kids: Kids): TrieNode {
  const starts = slotsOf(runs.bits);
  const kidSlots = slotsOf(kids.bits);
  return [-starts.length, kidSlots.length, entries, ...starts, ...runs.leaves, ...kidSlots, ...kids.nodes];
}

function noKids(lay: Layout): Kids {
  return { bits: new Array<number>(lay.w).fill(0), nodes: [] };
}

/** The empty root of a trie with this shape. */
export function emptyRoot(shape: TrieShape): TrieNode {
  const lay = layoutOf(shape, 0);
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
 * Replaces the routes of the prefix at `path` by `change(old)` (undefined: none, or remove the
 * prefix), copying the nodes on the path; `best` picks the route lookups return. Returns the same
 * root when `change` returns the old routes. Nodes left with no entry and no child are pruned (the
 * root stays).
 */
export function trieUpdate<R>(
  shape: TrieShape,
  root: TrieNode,
  path: TriePath,
  change: (old: readonly R[] | undefined) => readonly R[] | undefined,
  best: (routes: readonly R[]) => R,
): TrieNode {
  return updateAt(shape, root, 0, path, change, best) ?? emptyRoot(shape);
}

/** Where (an index of a triple) the entry with `key` is, or would go, among sorted entries. */
function searchEntries<R>(entries: Entries<R>, key: number): number {
  let lo = 0;
  let hi = entries.length / 3;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((entries[3 * mid] as number) < key) lo = mid + 1;
    else hi = mid;
  }
  return 3 * lo;
}

function updateAt<R>(
  shape: TrieShape,
  node: TrieNode | undefined,
  depth: number,
  path: TriePath,
  change: (old: readonly R[] | undefined) => readonly R[] | undefined,
  best: (routes: readonly R[]) => R,
): TrieNode | undefined {
  const lay = layoutOf(shape, depth);
  if (depth === path.depth) {
    const entries = entriesOf<R>(node, lay);
    const key = keyOf(path.len, path.bits, lay.stride);
    const i = searchEntries(entries, key);
    const found = entries[i] === key ? (entries[i + 2] as readonly R[]) : undefined;
    const next = change(found);
    if (next === found) return node;
    const updated = entries.slice();
    if (next === undefined) updated.splice(i, 3);
    else if (found === undefined) updated.splice(i, 0, key, best(next), next);
    else updated.splice(i + 1, 2, best(next), next);
    const kids = node === undefined ? noKids(lay) : kidsOf(node, lay);
    if (updated.length === 0 && kids.nodes.length === 0 && depth > 0) return undefined;
    return assemble(updated, runsFrom(updated, lay), kids, lay);
  }
  const slot = path.slotAt(depth);
  const kid = node === undefined ? undefined : childAt(node, slot, lay.w);
  const next = updateAt(shape, kid, depth + 1, path, change, best);
  if (next === kid) return node;
  if (node !== undefined && kid !== undefined && next !== undefined) {
    // Same set of children: copy the node and swap one pointer.
    const copy = node.slice();
    copy[childIx(node, lay, slot)] = next;
    return copy;
  }
  const entries = entriesOf<R>(node, lay);
  const kids = withKid(node === undefined ? noKids(lay) : kidsOf(node, lay), slot, next);
  if (entries.length === 0 && kids.nodes.length === 0 && depth > 0) return undefined;
  return assemble(entries, node === undefined ? runsFrom(entries, lay) : runsOf(node, lay), kids, lay);
}

/** The routes of the prefix at `path`, or undefined. */
export function trieFind<R>(shape: TrieShape, root: TrieNode, path: TriePath): readonly R[] | undefined {
  let node: TrieNode | undefined = root;
  for (let depth = 0; depth < path.depth && node !== undefined; depth++) {
    node = childAt(node, path.slotAt(depth), layoutOf(shape, depth).w);
  }
  if (node === undefined) return undefined;
  const lay = layoutOf(shape, path.depth);
  const entries = entriesOf<R>(node, lay);
  const key = keyOf(path.len, path.bits, lay.stride);
  const i = searchEntries(entries, key);
  return entries[i] === key ? (entries[i + 2] as readonly R[]) : undefined;
}

/** The routes of every prefix in the trie, depth first. */
export function trieRoutes<R>(shape: TrieShape, root: TrieNode): (readonly R[])[] {
  const out: (readonly R[])[] = [];
  const walk = (node: TrieNode, depth: number) => {
    const lay = layoutOf(shape, depth);
    const entries = entriesOf<R>(node, lay);
    for (let i = 2; i < entries.length; i += 3) out.push(entries[i] as readonly R[]);
    for (const kid of kidsOf(node, lay).nodes) walk(kid, depth + 1);
  };
  walk(root, 0);
  return out;
}
