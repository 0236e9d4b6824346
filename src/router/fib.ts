/**
 * The router's forwarding information base: longest-prefix match for IPv4 and IPv6 (RFC 1812
 * §5.2.4.3: Basic Match, Longest Match, then Best Metric), as a pure, persistent and bounded value.
 *
 * - Persistent: `fib4Add`/`fib4Remove` return a new FIB sharing all untouched nodes with the old one
 *   (path copying in fib-trie.ts); the old FIB is unchanged and answers as before. A remove that
 *   matches nothing returns the very same FIB object.
 * - Bounded: at most `maxRoutes` routes (default 1,000,000). Adding a route past it is `err` `full`
 *   and the FIB is unchanged; replacing an existing route is allowed at the bound.
 * - Several routes may share a prefix when their (iface, gateway) differ. Among them the lowest
 *   metric wins (RFC 1812 §5.2.4.3 rule 4); on equal metrics the one added first wins. Adding a route
 *   with the same (prefix, prefixLen, iface, gateway) as an existing one replaces it in place: it keeps
 *   the age of the route it replaces for the tie-break.
 * - Routes are normalised on add: host bits beyond `prefixLen` are cleared ("the most significant
 *   route.length bits of route.dest" are the only ones that matter, RFC 1812 §5.2.4.3 rule 1), and
 *   IPv6 prefixes and gateways are copied, so a caller reusing its buffers cannot change the FIB.
 *   The route a lookup returns is that normalised copy, never the object that was passed in.
 * - A prefix length that is not an integer in 0..32 (IPv4) or 0..128 (IPv6), an IPv4 prefix that is
 *   not a u32, or an IPv6 prefix that is not 16 bytes is `err` `bad-prefix`. `fibXRemove` with such a
 *   prefix removes nothing. Metrics are compared with `<`, so they should be finite numbers.
 * - `fibXRoutes` lists every route sorted by prefix address (unsigned, byte by byte for IPv6), then
 *   prefix length, then preference (the route lookups return first).
 *
 * Lookups allocate nothing; see fib-trie.ts for the structure and bench/fib.ts for what it costs.
 */
import { type Ipv4Addr, type Ipv6Addr, ipv4Mask, ipv6Equal } from '../addr.js';
import { err, ok, type Result } from '../result.js';
import {
  childAt,
  childAtBits,
  emptyRoot,
  leafAt,
  leafAtBits,
  type TrieNode,
  type TriePath,
  type TrieShape,
  trieFind,
  trieRoutes,
  triePath,
  trieShape,
  trieUpdate,
} from './fib-trie.js';

export interface FibRoute<A> {
  /** Host bits are zero (normalised on add). */
  readonly prefix: A;
  readonly prefixLen: number;
  /** Egress interface index. */
  readonly iface: number;
  /** Absent: on-link (connected). */
  readonly gateway?: A;
  /** Lower wins. */
  readonly metric: number;
  readonly origin: 'connected' | 'static';
}

/** Same `{layer, kind}` shape as the wire errors of src/result.ts, so drops count as `fib/<kind>`. */
export interface FibError {
  readonly layer: 'fib';
  readonly kind: 'full' | 'bad-prefix';
}

declare const fib4Brand: unique symbol;
declare const fib6Brand: unique symbol;
/** An IPv4 FIB: opaque, immutable. */
export interface Fib4 {
  readonly [fib4Brand]: true;
}
/** An IPv6 FIB: opaque, immutable. */
export interface Fib6 {
  readonly [fib6Brand]: true;
}

export const DEFAULT_MAX_ROUTES = 1_000_000;

const FULL: FibError = { layer: 'fib', kind: 'full' };
const BAD_PREFIX: FibError = { layer: 'fib', kind: 'bad-prefix' };

/** What a FIB value holds; Fib4 and Fib6 are this behind a brand. */
class FibState {
  constructor(
    readonly root: TrieNode,
    readonly size: number,
    readonly maxRoutes: number,
  ) {}
}

/** The address-family specifics the shared update code needs. */
interface Family<A> {
  readonly bits: number;
  readonly shape: TrieShape;
  /** The `n` bits of `prefix` starting at bit `off` (0 is the most significant), right-aligned. */
  bitsAt(prefix: A, off: number, n: number): number;
  /** A well-formed address, with the bits beyond `len` cleared (a fresh copy for IPv6); or undefined. */
  normalise(prefix: A, len: number): A | undefined;
  sameGateway(a: A | undefined, b: A | undefined): boolean;
  /** What the FIB keeps of a gateway (a copy where the address is mutable). */
  keep(gateway: A): A;
}

/**
 * Strides: the root holds /0../8, depth 1 /9../20, depth 2 /21../28, depth 3 /29../32. Measured with
 * 100,000 random routes and random addresses (bench/fib.ts): with the 12-bit second level most
 * lookups read two nodes, the root and one of at most 256 second-level nodes, which stay in the
 * CPU's caches; with 8-8-8-8 most read a third, one of some 40,000 per-/16 nodes, and lookups took
 * about three times as long.
 */
const V4_STRIDES = [8, 12, 8, 4];
/**
 * /0../8, /9../20, /21../24, then a byte per level: /25../32 ... /121../128. The 4-bit level brings
 * the rest back to byte boundaries; a second 12-bit level would make every sparse /20 with a longer
 * prefix under it a 4096-slot node (4 KB of bit sets each).
 */
const V6_STRIDES = [8, 12, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8];

const V4: Family<Ipv4Addr> = {
  bits: 32,
  shape: trieShape(V4_STRIDES),
  bitsAt: (prefix, off, n) => (prefix >>> (32 - off - n)) & ((1 << n) - 1),
  normalise: (prefix, len) =>
    Number.isInteger(prefix) && prefix >= 0 && prefix <= 0xffff_ffff
      ? (((prefix & ipv4Mask(len)) >>> 0) as Ipv4Addr)
      : undefined,
  sameGateway: (a, b) => a === b,
  keep: (gateway) => gateway,
};

const V6: Family<Ipv6Addr> = {
  bits: 128,
  shape: trieShape(V6_STRIDES),
  bitsAt: (prefix, off, n) => {
    const i = off >>> 3;
    const three = (prefix[i]! << 16) | ((prefix[i + 1] ?? 0) << 8) | (prefix[i + 2] ?? 0);
    return (three >>> (24 - (off & 7) - n)) & ((1 << n) - 1);
  },
  normalise: (prefix, len) => {
    if (!(prefix instanceof Uint8Array) || prefix.length !== 16) return undefined;
    const out = new Uint8Array(16);
    const whole = len >>> 3;
    out.set(prefix.subarray(0, whole));
    if (len & 7) out[whole] = prefix[whole]! & (0xff00 >>> (len & 7));
    return out as Ipv6Addr;
  },
  sameGateway: (a, b) => (a === undefined || b === undefined ? a === b : ipv6Equal(a, b)),
  keep: (gateway) => gateway.slice() as Ipv6Addr,
};

function validLen(len: number, bits: number): boolean {
  return Number.isInteger(len) && len >= 0 && len <= bits;
}

/** Where a normalised prefix lives in the trie. */
function pathOf<A>(family: Family<A>, prefix: A, len: number): TriePath {
  const { strides, offsets } = family.shape;
  return triePath(family.shape, len, (d) => family.bitsAt(prefix, offsets[d]!, strides[d]!));
}

/** RFC 1812 §5.2.4.3 rule 4, then age: the first route with the lowest metric. */
function bestOf<A>(routes: readonly FibRoute<A>[]): FibRoute<A> {
  let best = routes[0]!;
  for (const r of routes) if (r.metric < best.metric) best = r;
  return best;
}

function emptyFib<A>(family: Family<A>, limits: { maxRoutes?: number } | undefined): FibState {
  const maxRoutes = limits?.maxRoutes ?? DEFAULT_MAX_ROUTES;
  if (!Number.isInteger(maxRoutes) || maxRoutes < 0) throw new RangeError(`fib: maxRoutes ${maxRoutes}`);
  return new FibState(emptyRoot(family.shape), 0, maxRoutes);
}

function add<A>(family: Family<A>, fib: FibState, route: FibRoute<A>): Result<FibState, FibError> {
  const len = route.prefixLen;
  if (!validLen(len, family.bits)) return err(BAD_PREFIX);
  const prefix = family.normalise(route.prefix, len);
  if (prefix === undefined) return err(BAD_PREFIX);
  // Gateway last: routes with and without one share the layout of the other fields.
  const stored: FibRoute<A> = {
    prefix,
    prefixLen: len,
    iface: route.iface,
    metric: route.metric,
    origin: route.origin,
    ...(route.gateway === undefined ? {} : { gateway: family.keep(route.gateway) }),
  };
  const path = pathOf(family, prefix, len);
  const same = (r: FibRoute<A>) => r.iface === stored.iface && family.sameGateway(r.gateway, stored.gateway);
  if (fib.size >= fib.maxRoutes) {
    // Only a replacement fits at the bound.
    const existing = trieFind<FibRoute<A>>(family.shape, fib.root, path);
    if (existing === undefined || !existing.some(same)) return err(FULL);
  }
  let added = 0;
  const root = trieUpdate<FibRoute<A>>(
    family.shape,
    fib.root,
    path,
    (old) => {
      const at = old === undefined ? -1 : old.findIndex(same);
      if (old === undefined || at < 0) {
        added = 1;
        return [...(old ?? []), stored];
      }
      const routes = old.slice();
      routes[at] = stored;
      return routes;
    },
    bestOf,
  );
  return ok(new FibState(root, fib.size + added, fib.maxRoutes));
}

function remove<A>(
  family: Family<A>,
  fib: FibState,
  prefix: A,
  len: number,
  match: { iface?: number; gateway?: A } | undefined,
): FibState {
  if (!validLen(len, family.bits)) return fib;
  const normal = family.normalise(prefix, len);
  if (normal === undefined) return fib;
  const path = pathOf(family, normal, len);
  const doomed = (r: FibRoute<A>) =>
    (match?.iface === undefined || r.iface === match.iface) &&
    (match?.gateway === undefined ||
      (r.gateway !== undefined && family.sameGateway(r.gateway, match.gateway)));
  let removed = 0;
  const root = trieUpdate<FibRoute<A>>(
    family.shape,
    fib.root,
    path,
    (old) => {
      if (old === undefined) return old;
      const kept = old.filter((r) => !doomed(r));
      removed = old.length - kept.length;
      if (removed === 0) return old;
      return kept.length === 0 ? undefined : kept;
    },
    bestOf,
  );
  return root === fib.root ? fib : new FibState(root, fib.size - removed, fib.maxRoutes);
}

function routes<A>(family: Family<A>, fib: FibState, compare: (a: A, b: A) => number): FibRoute<A>[] {
  const out: FibRoute<A>[] = [];
  for (const prefixRoutes of trieRoutes<FibRoute<A>>(family.shape, fib.root)) {
    // Preference order within a prefix: by metric, the earlier added first (a stable sort).
    out.push(...[...prefixRoutes].sort((a, b) => (a.metric < b.metric ? -1 : b.metric < a.metric ? 1 : 0)));
  }
  // Stable, so the preference order within a prefix survives.
  return out.sort((a, b) => compare(a.prefix, b.prefix) || a.prefixLen - b.prefixLen);
}

function compareV6(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

const state4 = (fib: Fib4) => fib as unknown as FibState;
const state6 = (fib: Fib6) => fib as unknown as FibState;
const wrap4 = (s: FibState) => s as unknown as Fib4;
const wrap6 = (s: FibState) => s as unknown as Fib6;

export function emptyFib4(limits?: { maxRoutes?: number }): Fib4 {
  return wrap4(emptyFib(V4, limits));
}

export function fib4Add(fib: Fib4, route: FibRoute<Ipv4Addr>): Result<Fib4, FibError> {
  const r = add(V4, state4(fib), route);
  return r.ok ? ok(wrap4(r.value)) : r;
}

/**
 * Removes the routes for `prefix/prefixLen` (host bits ignored) that match `match`: all of them
 * without `match`; with `match.iface` only those on that interface; with `match.gateway` only those
 * via that gateway.
 */
export function fib4Remove(
  fib: Fib4,
  prefix: Ipv4Addr,
  prefixLen: number,
  match?: { iface?: number; gateway?: Ipv4Addr },
): Fib4 {
  return wrap4(remove(V4, state4(fib), prefix, prefixLen, match));
}

/**
 * The best route for `dst`, or undefined (RFC 1812 §5.2.4.3: the packet is then unreachable).
 * Unrolled over V4_STRIDES: walk down while there are children, then take the deepest node's leaf,
 * or the one above where it has none (a longer prefix always lives deeper). Leaves above are only
 * read when needed: with a big table most addresses find one at the second level.
 */
export function fib4Lookup(fib: Fib4, dst: Ipv4Addr): FibRoute<Ipv4Addr> | undefined {
  const root = state4(fib).root;
  // The first two levels are always bit-set nodes (fib-trie.ts COMPACT_FROM).
  const s0 = dst >>> 24;
  const n1 = childAtBits(root, s0, 16);
  if (n1 === undefined) return leafAtBits(root, s0, 16) as FibRoute<Ipv4Addr> | undefined;
  const s1 = (dst >>> 12) & 0xfff;
  const n2 = childAtBits(n1, s1, 256);
  let leaf: unknown;
  if (n2 !== undefined) {
    const s2 = (dst >>> 4) & 0xff;
    const n3 = childAt(n2, s2, 16);
    if (n3 !== undefined) leaf = leafAt(n3, dst & 0xf, 1);
    leaf ??= leafAt(n2, s2, 16);
  }
  leaf ??= leafAtBits(n1, s1, 256) ?? leafAtBits(root, s0, 16);
  return leaf as FibRoute<Ipv4Addr> | undefined;
}

export function fib4Routes(fib: Fib4): readonly FibRoute<Ipv4Addr>[] {
  return routes<Ipv4Addr>(V4, state4(fib), (a, b) => a - b);
}

export function fib4Size(fib: Fib4): number {
  return state4(fib).size;
}

export function emptyFib6(limits?: { maxRoutes?: number }): Fib6 {
  return wrap6(emptyFib(V6, limits));
}

export function fib6Add(fib: Fib6, route: FibRoute<Ipv6Addr>): Result<Fib6, FibError> {
  const r = add(V6, state6(fib), route);
  return r.ok ? ok(wrap6(r.value)) : r;
}

/** As fib4Remove. */
export function fib6Remove(
  fib: Fib6,
  prefix: Ipv6Addr,
  prefixLen: number,
  match?: { iface?: number; gateway?: Ipv6Addr },
): Fib6 {
  return wrap6(remove(V6, state6(fib), prefix, prefixLen, match));
}

/** The best route for `dst` (16 bytes, read in place), or undefined. Unrolled over V6_STRIDES. */
export function fib6Lookup(fib: Fib6, dst: Ipv6Addr): FibRoute<Ipv6Addr> | undefined {
  let node: TrieNode | undefined = state6(fib).root;
  let best = leafAtBits(node, dst[0]!, 16);
  node = childAtBits(node, dst[0]!, 16);
  if (node === undefined) return best as FibRoute<Ipv6Addr> | undefined;
  const s1 = (dst[1]! << 4) | (dst[2]! >>> 4);
  let leaf = leafAtBits(node, s1, 256);
  if (leaf !== undefined) best = leaf;
  node = childAtBits(node, s1, 256);
  if (node === undefined) return best as FibRoute<Ipv6Addr> | undefined;
  leaf = leafAt(node, dst[2]! & 0xf, 1);
  if (leaf !== undefined) best = leaf;
  node = childAt(node, dst[2]! & 0xf, 1);
  // Then a byte per level.
  for (let i = 3; node !== undefined; i++) {
    leaf = leafAt(node, dst[i]!, 16);
    if (leaf !== undefined) best = leaf;
    node = i === 15 ? undefined : childAt(node, dst[i]!, 16);
  }
  return best as FibRoute<Ipv6Addr> | undefined;
}

export function fib6Routes(fib: Fib6): readonly FibRoute<Ipv6Addr>[] {
  return routes<Ipv6Addr>(V6, state6(fib), compareV6);
}

export function fib6Size(fib: Fib6): number {
  return state6(fib).size;
}
