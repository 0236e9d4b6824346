import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, type Ipv6Addr, ipv4, parseIpv6Addr } from '../../src/addr.js';
import type { Result } from '../../src/result.js';
import {
  DEFAULT_MAX_ROUTES,
  emptyFib4,
  emptyFib6,
  type Fib4,
  type Fib6,
  type FibError,
  type FibRoute,
  fib4Add,
  fib4Lookup,
  fib4Remove,
  fib4Routes,
  fib4Size,
  fib6Add,
  fib6Lookup,
  fib6Remove,
  fib6Routes,
  fib6Size,
} from '../../src/router/fib.js';
import { propOptions } from '../support/props.js';

// ---- the naive reference: a plain array of routes, scanned bit by bit ----

/** What the reference needs of an address family, written independently of the FIB's code. */
interface RefFamily<A> {
  readonly bits: number;
  bit(a: A, i: number): number;
  /** A copy of `a` with the bits from `len` on cleared. */
  clear(a: A, len: number): A;
  equal(a: A, b: A): boolean;
  compare(a: A, b: A): number;
  /** The first and last addresses of a prefix and their neighbours outside it (wrapping around). */
  edges(prefix: A, len: number): A[];
}

const REF4: RefFamily<Ipv4Addr> = {
  bits: 32,
  bit: (a, i) => Math.floor(a / 2 ** (31 - i)) % 2,
  clear: (a, len) => {
    let out = 0;
    for (let i = 0; i < len; i++) out += REF4.bit(a, i) * 2 ** (31 - i);
    return out as Ipv4Addr;
  },
  equal: (a, b) => a === b,
  compare: (a, b) => a - b,
  edges: (prefix, len) => {
    const last = prefix + 2 ** (32 - len) - 1;
    return [prefix, last, (prefix + 2 ** 32 - 1) % 2 ** 32, (last + 1) % 2 ** 32] as Ipv4Addr[];
  },
};

const REF6: RefFamily<Ipv6Addr> = {
  bits: 128,
  bit: (a, i) => (a[Math.floor(i / 8)]! >> (7 - (i % 8))) & 1,
  clear: (a, len) => {
    const out = new Uint8Array(16);
    for (let i = 0; i < len; i++) out[Math.floor(i / 8)]! |= REF6.bit(a, i) << (7 - (i % 8));
    return out as Ipv6Addr;
  },
  equal: (a, b) => a.every((x, i) => x === b[i]),
  compare: (a, b) => {
    for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
    return 0;
  },
  edges: (prefix, len) => {
    const last = prefix.slice();
    for (let i = len; i < 128; i++) last[Math.floor(i / 8)]! |= 1 << (7 - (i % 8));
    const step = (a: Uint8Array, by: 1 | -1) => {
      const out = a.slice();
      for (let i = 15; i >= 0; i--) {
        const v = out[i]! + by;
        out[i] = v & 0xff;
        if (v >= 0 && v <= 0xff) break;
      }
      return out as Ipv6Addr;
    };
    return [prefix, last as Ipv6Addr, step(prefix, -1), step(last, 1)];
  },
};

interface Ref<A> {
  /** In the order added; a replaced route keeps its place. */
  readonly routes: readonly FibRoute<A>[];
  readonly max: number;
}

function sameGateway<A>(f: RefFamily<A>, a: A | undefined, b: A | undefined): boolean {
  return a === undefined || b === undefined ? a === b : f.equal(a, b);
}

function normalised<A>(f: RefFamily<A>, r: FibRoute<A>): FibRoute<A> {
  return { ...r, prefix: f.clear(r.prefix, r.prefixLen) };
}

function refAdd<A>(f: RefFamily<A>, ref: Ref<A>, route: FibRoute<A>): Ref<A> | 'full' | 'bad-prefix' {
  const len = route.prefixLen;
  if (!Number.isInteger(len) || len < 0 || len > f.bits) return 'bad-prefix';
  const r = normalised(f, route);
  const at = ref.routes.findIndex(
    (x) =>
      x.prefixLen === len &&
      f.equal(x.prefix, r.prefix) &&
      x.iface === r.iface &&
      sameGateway(f, x.gateway, r.gateway),
  );
  if (at >= 0) return { ...ref, routes: ref.routes.map((x, i) => (i === at ? r : x)) };
  if (ref.routes.length >= ref.max) return 'full';
  return { ...ref, routes: [...ref.routes, r] };
}

function refRemove<A>(
  f: RefFamily<A>,
  ref: Ref<A>,
  prefix: A,
  len: number,
  match: { iface?: number; gateway?: A } | undefined,
): Ref<A> {
  if (!Number.isInteger(len) || len < 0 || len > f.bits) return ref;
  const p = f.clear(prefix, len);
  const doomed = (x: FibRoute<A>) =>
    x.prefixLen === len &&
    f.equal(x.prefix, p) &&
    (match?.iface === undefined || x.iface === match.iface) &&
    (match?.gateway === undefined || (x.gateway !== undefined && f.equal(x.gateway, match.gateway)));
  return { ...ref, routes: ref.routes.filter((x) => !doomed(x)) };
}

function covers<A>(f: RefFamily<A>, r: FibRoute<A>, dst: A): boolean {
  for (let i = 0; i < r.prefixLen; i++) if (f.bit(r.prefix, i) !== f.bit(dst, i)) return false;
  return true;
}

/** RFC 1812 §5.2.4.3: longest prefix, then lowest metric, then (our rule) the earliest added. */
function refLookup<A>(f: RefFamily<A>, ref: Ref<A>, dst: A): FibRoute<A> | undefined {
  let best: FibRoute<A> | undefined;
  for (const r of ref.routes) {
    if (!covers(f, r, dst)) continue;
    if (best === undefined || r.prefixLen > best.prefixLen) best = r;
    else if (r.prefixLen === best.prefixLen && r.metric < best.metric) best = r;
  }
  return best;
}

/** The documented order of fibXRoutes: prefix, length, then preference. */
function refListing<A>(f: RefFamily<A>, ref: Ref<A>): FibRoute<A>[] {
  return ref.routes
    .map((r, age) => ({ r, age }))
    .sort(
      (a, b) =>
        f.compare(a.r.prefix, b.r.prefix) ||
        a.r.prefixLen - b.r.prefixLen ||
        a.r.metric - b.r.metric ||
        a.age - b.age,
    )
    .map((x) => x.r);
}

// ---- the two FIBs behind one interface, so every property runs on both ----

interface Api<F, A> {
  readonly ref: RefFamily<A>;
  empty(limits?: { maxRoutes?: number }): F;
  add(fib: F, route: FibRoute<A>): Result<F, FibError>;
  remove(fib: F, prefix: A, len: number, match?: { iface?: number; gateway?: A }): F;
  lookup(fib: F, dst: A): FibRoute<A> | undefined;
  routes(fib: F): readonly FibRoute<A>[];
  size(fib: F): number;
}

const API4: Api<Fib4, Ipv4Addr> = {
  ref: REF4,
  empty: emptyFib4,
  add: fib4Add,
  remove: fib4Remove,
  lookup: fib4Lookup,
  routes: fib4Routes,
  size: fib4Size,
};

const API6: Api<Fib6, Ipv6Addr> = {
  ref: REF6,
  empty: emptyFib6,
  add: fib6Add,
  remove: fib6Remove,
  lookup: fib6Lookup,
  routes: fib6Routes,
  size: fib6Size,
};

// ---- arbitraries: addresses near a few bases, so prefixes nest and lookups match ----

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

/**
 * A base from the pool with its last `k` bits replaced by noise (k = 0: the base itself). Half the
 * time the noise is all zeros or all ones: the first and last slots of nodes are edge cases.
 */
function near4(pool: readonly number[]): fc.Arbitrary<Ipv4Addr> {
  return fc
    .tuple(
      fc.nat({ max: pool.length - 1 }),
      fc.integer({ min: 0, max: 32 }),
      fc.oneof(u32, fc.constantFrom(0, 0xffff_ffff)),
    )
    .map(([i, k, noise]) => {
      const keep = k === 32 ? 0 : Math.floor(pool[i]! / 2 ** k) * 2 ** k;
      return (keep + (noise % 2 ** k)) as Ipv4Addr;
    });
}

function near6(pool: readonly Uint8Array[]): fc.Arbitrary<Ipv6Addr> {
  return fc
    .tuple(
      fc.nat({ max: pool.length - 1 }),
      fc.integer({ min: 0, max: 128 }),
      fc.oneof(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.constantFrom(new Uint8Array(16), new Uint8Array(16).fill(0xff)),
      ),
    )
    .map(([i, k, noise]) => {
      const out = pool[i]!.slice();
      for (let b = 128 - k; b < 128; b++) {
        const byte = Math.floor(b / 8);
        const mask = 1 << (7 - (b % 8));
        out[byte] = (out[byte]! & ~mask) | (noise[byte]! & mask);
      }
      return out as Ipv6Addr;
    });
}

type Op<A> =
  | { kind: 'add'; from: number; route: FibRoute<A> }
  | { kind: 'remove'; from: number; prefix: A; len: number; match?: { iface?: number; gateway?: A } }
  /** Adds again a route the version holds (picked by index) with another metric: a replacement. */
  | { kind: 'replace-held'; from: number; index: number; metric: number }
  /** Adds a route for the sibling of a held prefix (its last bit flipped): adjacent ranges. */
  | { kind: 'sibling-held'; from: number; index: number; route: FibRoute<A> }
  /** Adds a route for the prefix of a route the version holds: several routes for one prefix. */
  | { kind: 'beside-held'; from: number; index: number; route: FibRoute<A> }
  /** Removes a route the version holds (picked by index), by its own prefix. */
  | { kind: 'remove-held'; from: number; index: number; host: A; matchIface: boolean; matchGateway: boolean };

interface Script<A> {
  readonly max: number;
  readonly ops: readonly Op<A>[];
  readonly probes: readonly A[];
}

/** Prefix lengths spread over the whole range, with the stride boundaries (8/9, 20/21, 28/29) likely. */
function lenArb(bits: number): fc.Arbitrary<number> {
  const edges =
    bits === 32 ? [0, 1, 8, 9, 12, 20, 21, 28, 29, 31, 32] : [0, 8, 9, 20, 21, 32, 33, 64, 127, 128];
  return fc.oneof(fc.integer({ min: 0, max: bits }), fc.constantFrom(...edges));
}

function scriptArb<A, P>(
  bits: number,
  pool: fc.Arbitrary<P>,
  near: (p: P) => fc.Arbitrary<A>,
  maxOps = 40,
): fc.Arbitrary<Script<A>> {
  return pool.chain((p) => {
    const addr = near(p);
    const gateways = fc.array(addr, { minLength: 2, maxLength: 2 });
    return gateways.chain(([g1, g2]) => {
      const gateway = fc.option(fc.constantFrom(g1!, g2!), { nil: undefined });
      const from = fc.oneof(fc.constant(-1), fc.nat());
      const route = fc
        .record({
          prefix: addr,
          prefixLen: lenArb(bits),
          iface: fc.integer({ min: 0, max: 2 }),
          gateway,
          metric: fc.integer({ min: 0, max: 3 }),
          origin: fc.constantFrom('connected' as const, 'static' as const),
        })
        .map(({ gateway: g, ...r }) => (g === undefined ? r : { ...r, gateway: g }) as FibRoute<A>);
      const match = fc.option(
        fc
          .record({ iface: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }), gateway })
          .map(({ iface, gateway: g }) => ({
            ...(iface === undefined ? {} : { iface }),
            ...(g === undefined ? {} : { gateway: g }),
          })),
        { nil: undefined },
      );
      const op: fc.Arbitrary<Op<A>> = fc.oneof(
        { weight: 5, arbitrary: fc.record({ kind: fc.constant('add' as const), from, route }) },
        {
          weight: 1,
          arbitrary: fc
            .record({ kind: fc.constant('remove' as const), from, prefix: addr, len: lenArb(bits), match })
            .map(({ match: m, ...o }) => (m === undefined ? o : { ...o, match: m })),
        },
        {
          weight: 2,
          arbitrary: fc.record({ kind: fc.constant('beside-held' as const), from, index: fc.nat(), route }),
        },
        {
          weight: 2,
          arbitrary: fc.record({ kind: fc.constant('sibling-held' as const), from, index: fc.nat(), route }),
        },
        {
          weight: 2,
          arbitrary: fc.record({
            kind: fc.constant('replace-held' as const),
            from,
            index: fc.nat(),
            metric: fc.integer({ min: 0, max: 3 }),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({
            kind: fc.constant('remove-held' as const),
            from,
            index: fc.nat(),
            host: addr,
            matchIface: fc.boolean(),
            matchGateway: fc.boolean(),
          }),
        },
      );
      return fc.record({
        max: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constant(DEFAULT_MAX_ROUTES)),
        ops: fc.array(op, { minLength: maxOps >> 1, maxLength: maxOps }),
        probes: fc.array(addr, { maxLength: 30 }),
      });
    });
  });
}

const pool4 = fc.array(u32, { minLength: 1, maxLength: 3 });
const pool6 = fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: 3 });
const script4 = scriptArb(32, pool4, near4);
const script6 = scriptArb(128, pool6, near6);
/** Long scripts: nodes with many runs and children (the bit-set layout, not the compact one). */
const long4 = scriptArb(32, pool4, near4, 600);
const long6 = scriptArb(128, pool6, near6, 600);

interface Version<F, A> {
  readonly fib: F;
  readonly ref: Ref<A>;
}

/** Runs a script; every op applies to the latest version or to an earlier one (`from`), so histories branch. */
function play<F, A>(api: Api<F, A>, s: Script<A>): Version<F, A>[] {
  const f = api.ref;
  const versions: Version<F, A>[] = [
    { fib: api.empty({ maxRoutes: s.max }), ref: { routes: [], max: s.max } },
  ];
  for (const op of s.ops) {
    const base = versions[op.from < 0 ? versions.length - 1 : op.from % versions.length]!;
    if (
      op.kind === 'add' ||
      op.kind === 'replace-held' ||
      op.kind === 'beside-held' ||
      op.kind === 'sibling-held'
    ) {
      const held =
        op.kind === 'add' ? undefined : base.ref.routes[op.index % Math.max(1, base.ref.routes.length)];
      if (op.kind !== 'add' && held === undefined) continue;
      const route =
        op.kind === 'add'
          ? op.route
          : op.kind === 'replace-held'
            ? { ...held!, metric: op.metric }
            : op.kind === 'beside-held'
              ? { ...op.route, prefix: held!.prefix, prefixLen: held!.prefixLen }
              : {
                  ...op.route,
                  prefix: flip(f, held!.prefix, held!.prefixLen - 1),
                  prefixLen: held!.prefixLen,
                };
      const want = refAdd(f, base.ref, route);
      const got = api.add(base.fib, route);
      if (typeof want === 'string') {
        expect(got).toEqual({ ok: false, error: { layer: 'fib', kind: want } });
        continue;
      }
      if (!got.ok) throw new Error(`add refused: ${got.error.kind}`);
      versions.push({ fib: got.value, ref: want });
    } else {
      let prefix: A;
      let len: number;
      let match: { iface?: number; gateway?: A } | undefined;
      if (op.kind === 'remove') {
        ({ prefix, len, match } = op);
      } else {
        const held = base.ref.routes[op.index % Math.max(1, base.ref.routes.length)];
        if (held === undefined) continue;
        // Any address inside the prefix names it: host bits are ignored.
        prefix = mix(f, held.prefix, op.host, held.prefixLen);
        len = held.prefixLen;
        match = {
          ...(op.matchIface ? { iface: held.iface } : {}),
          ...(op.matchGateway && held.gateway !== undefined ? { gateway: held.gateway } : {}),
        };
      }
      const want = refRemove(f, base.ref, prefix, len, match);
      const got = api.remove(base.fib, prefix, len, match);
      if (want.routes.length === base.ref.routes.length) expect(got).toBe(base.fib);
      versions.push({ fib: got, ref: want });
    }
  }
  return versions;
}

/** `a` with bit `i` flipped (0 = most significant; i = -1: unchanged). */
function flip<A>(f: RefFamily<A>, a: A, i: number): A {
  if (i < 0) return a;
  if (f.bits === 32) return ((a as number) + (f.bit(a, i) ? -1 : 1) * 2 ** (31 - i)) as A;
  const out = (a as Uint8Array).slice();
  out[Math.floor(i / 8)]! ^= 1 << (7 - (i % 8));
  return out as A;
}

/** The first `len` bits of `prefix`, the rest from `host`. */
function mix<A>(f: RefFamily<A>, prefix: A, host: A, len: number): A {
  if (f.bits === 32) {
    const p = prefix as number;
    const h = host as number;
    const hostBits = h - (REF4.clear(h as Ipv4Addr, len) as number);
    return (p + hostBits) as A;
  }
  const out = (host as Uint8Array).slice();
  for (let i = 0; i < len; i++) {
    const byte = Math.floor(i / 8);
    const mask = 1 << (7 - (i % 8));
    out[byte] = (out[byte]! & ~mask) | ((prefix as Uint8Array)[byte]! & mask);
  }
  return out as A;
}

/**
 * A version answers exactly as its reference: size, listing, and lookups of the probes and of the
 * edges of every prefix (first and last address, and the addresses just outside).
 */
function check<F, A>(api: Api<F, A>, v: Version<F, A>, probes: readonly A[]): void {
  expect(api.size(v.fib)).toBe(v.ref.routes.length);
  expect(api.routes(v.fib)).toEqual(refListing(api.ref, v.ref));
  for (const dst of [...probes, ...v.ref.routes.flatMap((r) => api.ref.edges(r.prefix, r.prefixLen))]) {
    expect(api.lookup(v.fib, dst)).toEqual(refLookup(api.ref, v.ref, dst));
  }
}

describe.each([
  [
    'IPv4',
    API4 as Api<unknown, unknown>,
    script4 as fc.Arbitrary<Script<unknown>>,
    long4 as fc.Arbitrary<Script<unknown>>,
  ],
  [
    'IPv6',
    API6 as Api<unknown, unknown>,
    script6 as fc.Arbitrary<Script<unknown>>,
    long6 as fc.Arbitrary<Script<unknown>>,
  ],
])('%s FIB against a linear scan', (_name, api, script, long) => {
  it('answers every lookup as the reference after random adds and removes', () => {
    fc.assert(
      fc.property(script, (s) => {
        const versions = play(api, s);
        check(api, versions[versions.length - 1]!, s.probes);
      }),
      propOptions(200),
    );
  });

  it('answers as the reference with hundreds of routes near a few addresses (large nodes)', () => {
    fc.assert(
      fc.property(long, (s) => {
        const versions = play(api, s);
        check(api, versions[versions.length - 1]!, s.probes);
        // And an earlier version, past many later updates.
        check(api, versions[versions.length >> 1]!, s.probes);
      }),
      propOptions(15),
    );
  });

  it('is persistent: every earlier version still answers as it did, after later and branching updates', () => {
    fc.assert(
      fc.property(script, (s) => {
        for (const v of play(api, s)) check(api, v, s.probes);
      }),
      propOptions(100),
    );
  });
});

// ---- examples ----

const r4 = (
  prefix: Ipv4Addr,
  prefixLen: number,
  more: Partial<Omit<FibRoute<Ipv4Addr>, 'prefix' | 'prefixLen'>> = {},
): FibRoute<Ipv4Addr> => ({ prefix, prefixLen, iface: 1, metric: 0, origin: 'static', ...more });

const v6 = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

const r6 = (
  prefix: string,
  prefixLen: number,
  more: Partial<Omit<FibRoute<Ipv6Addr>, 'prefix' | 'prefixLen'>> = {},
): FibRoute<Ipv6Addr> => ({ prefix: v6(prefix), prefixLen, iface: 1, metric: 0, origin: 'static', ...more });

function ok<T>(r: Result<T, FibError>): T {
  if (!r.ok) throw new Error(`unexpected ${r.error.kind}`);
  return r.value;
}

function build4(routes: readonly FibRoute<Ipv4Addr>[], maxRoutes?: number): Fib4 {
  return routes.reduce(
    (fib, r) => ok(fib4Add(fib, r)),
    emptyFib4(maxRoutes === undefined ? {} : { maxRoutes }),
  );
}

function build6(routes: readonly FibRoute<Ipv6Addr>[], maxRoutes?: number): Fib6 {
  return routes.reduce(
    (fib, r) => ok(fib6Add(fib, r)),
    emptyFib6(maxRoutes === undefined ? {} : { maxRoutes }),
  );
}

describe('FIB examples', () => {
  it('finds nothing in an empty FIB, and everything through a default route (RFC 1812 §5.2.4.3)', () => {
    expect(fib4Lookup(emptyFib4(), ipv4(10, 0, 0, 1))).toBeUndefined();
    expect(fib6Lookup(emptyFib6(), v6('2001:db8::1'))).toBeUndefined();
    const gw = ipv4(192, 168, 1, 1);
    const fib = build4([r4(ipv4(0, 0, 0, 0), 0, { gateway: gw, iface: 2 }), r4(ipv4(192, 168, 1, 0), 24)]);
    expect(fib4Lookup(fib, ipv4(8, 8, 8, 8))).toEqual(r4(ipv4(0, 0, 0, 0), 0, { gateway: gw, iface: 2 }));
    expect(fib4Lookup(fib, ipv4(255, 255, 255, 255))?.prefixLen).toBe(0);
    expect(fib4Lookup(fib, ipv4(192, 168, 1, 7))?.prefixLen).toBe(24);
    const fib6 = build6([r6('::', 0, { gateway: v6('fe80::1') }), r6('2001:db8::', 32, { iface: 3 })]);
    expect(fib6Lookup(fib6, v6('ffff::1'))?.gateway).toEqual(v6('fe80::1'));
    expect(fib6Lookup(fib6, v6('2001:db8:1::1'))?.iface).toBe(3);
  });

  it('matches a /32 host route only for its address', () => {
    const fib = build4([r4(ipv4(10, 0, 0, 0), 8, { iface: 1 }), r4(ipv4(10, 1, 2, 3), 32, { iface: 2 })]);
    expect(fib4Lookup(fib, ipv4(10, 1, 2, 3))?.iface).toBe(2);
    expect(fib4Lookup(fib, ipv4(10, 1, 2, 2))?.iface).toBe(1);
    expect(fib4Lookup(fib, ipv4(10, 1, 2, 4))?.iface).toBe(1);
    expect(fib4Lookup(fib, ipv4(11, 1, 2, 3))).toBeUndefined();
  });

  it('matches a /128 host route only for its address', () => {
    const fib = build6([r6('2001:db8::', 64, { iface: 1 }), r6('2001:db8::5', 128, { iface: 2 })]);
    expect(fib6Lookup(fib, v6('2001:db8::5'))?.iface).toBe(2);
    expect(fib6Lookup(fib, v6('2001:db8::4'))?.iface).toBe(1);
    expect(fib6Lookup(fib, v6('2001:db8::5:0'))?.iface).toBe(1);
    expect(fib6Lookup(fib, v6('2001:db9::5'))).toBeUndefined();
  });

  it('picks the longest of nested prefixes of every length, across every stride boundary', () => {
    const dst = ipv4(0xb5, 0x3c, 0x96, 0xa7); // alternating bits, so each length names another prefix
    let fib = emptyFib4();
    for (let len = 0; len <= 32; len++) fib = ok(fib4Add(fib, r4(dst, len, { iface: len })));
    for (let len = 0; len < 32; len++) {
      // Flip bit `len` (0 = most significant): the longest match is then exactly /len.
      const other = (dst ^ (1 << (31 - len))) >>> 0;
      expect(fib4Lookup(fib, other as Ipv4Addr)?.iface).toBe(len);
    }
    expect(fib4Lookup(fib, dst)?.iface).toBe(32);
    const d6 = v6('b53c:96a7:5a5a:a5a5:0f0f:f0f0:3c3c:c3c3');
    let f6 = emptyFib6();
    for (let len = 0; len <= 128; len++)
      f6 = ok(fib6Add(f6, { ...r6('::', 0), prefix: d6, prefixLen: len, iface: len }));
    for (let len = 0; len < 128; len++) {
      const other = d6.slice() as Ipv6Addr;
      other[len >> 3]! ^= 0x80 >> (len & 7);
      expect(fib6Lookup(f6, other)?.iface).toBe(len);
    }
    expect(fib6Lookup(f6, d6)?.iface).toBe(128);
  });

  it('answers at the first and last slots of a node, where ranges of adjacent prefixes meet', () => {
    // In the node for 10/8 (bits 8..19), 10.255.224/19 covers the last two slots, 10.255.224/20 the
    // first of them, and 10.0.0/20 and its sibling 10.0.16/20 the first two slots.
    const fib = build4([
      r4(ipv4(10, 0, 0, 0), 8, { iface: 1 }),
      r4(ipv4(10, 255, 224, 0), 19, { iface: 2 }),
      r4(ipv4(10, 255, 224, 0), 20, { iface: 3 }),
      r4(ipv4(10, 0, 0, 0), 20, { iface: 4 }),
      r4(ipv4(10, 0, 16, 0), 20, { iface: 5 }),
    ]);
    const at = (a: number, b: number, c: number, d: number) => fib4Lookup(fib, ipv4(a, b, c, d))?.iface;
    expect([at(10, 255, 239, 255), at(10, 255, 240, 0), at(10, 255, 255, 255)]).toEqual([3, 2, 2]);
    expect([at(10, 255, 223, 255), at(10, 0, 15, 255), at(10, 0, 16, 0), at(10, 0, 32, 0)]).toEqual([
      1, 4, 5, 1,
    ]);
    expect(at(11, 0, 0, 0)).toBeUndefined();
  });

  it('answers in dense nodes: many runs and children in every 16-slot word, at every level', () => {
    const routes: FibRoute<Ipv4Addr>[] = [r4(ipv4(10, 0, 0, 0), 8, { iface: 0 })];
    const add = (prefix: number, prefixLen: number) =>
      routes.push(r4(prefix as Ipv4Addr, prefixLen, { iface: routes.length }));
    const base = ipv4(10, 0, 0, 0);
    for (let i = 0; i < 256; i++) add(base + i * 2 ** 16, 16);
    for (let j = 0; j < 4096; j += 3) add(base + j * 2 ** 12, 20);
    for (let j = 0; j < 4096; j += 2) add(base + j * 2 ** 12, 24);
    for (let k = 0; k < 256; k += 1) add(base + k * 16, 28);
    for (let k = 0; k < 16; k += 1) add(base + k, 32);
    const fib = build4(routes);
    expect(fib4Size(fib)).toBe(routes.length);
    // A fast linear scan (the same rule as refLookup, masks instead of bit loops).
    const scan = (dst: number) => {
      let best: FibRoute<Ipv4Addr> | undefined;
      for (const r of routes) {
        const covers = r.prefixLen === 0 || (dst ^ r.prefix) >>> (32 - r.prefixLen) === 0;
        if (covers && (best === undefined || r.prefixLen > best.prefixLen)) best = r;
      }
      return best;
    };
    const probes: number[] = [];
    for (let i = 0; i < 4096; i += 1)
      probes.push(base + i * 2 ** 12, base + i * 2 ** 12 + 0xfff, base + i * 2 ** 12 + 0x100);
    for (let k = 0; k < 4096; k += 5) probes.push(base + k);
    for (const dst of probes) expect(fib4Lookup(fib, dst as Ipv4Addr)).toEqual(scan(dst));
  });

  it('prefers the lowest metric for one prefix, the first added among equals, and replaces by (iface, gateway)', () => {
    const p = ipv4(10, 0, 0, 0);
    const a = r4(p, 8, { iface: 1, metric: 20 });
    const b = r4(p, 8, { iface: 2, metric: 10 });
    const c = r4(p, 8, { iface: 3, metric: 10 });
    let fib = build4([a, b, c]);
    expect(fib4Size(fib)).toBe(3);
    expect(fib4Lookup(fib, ipv4(10, 9, 9, 9))).toEqual(b); // lowest metric; b was added before c
    expect(fib4Lookup(build4([c, b, a]), ipv4(10, 9, 9, 9))).toEqual(c);
    // Same (prefix, len, iface, gateway): a replacement, not a fourth route; it keeps b's age.
    fib = ok(fib4Add(fib, { ...b, metric: 30 }));
    expect(fib4Size(fib)).toBe(3);
    expect(fib4Lookup(fib, ipv4(10, 9, 9, 9))).toEqual(c);
    fib = ok(fib4Add(fib, { ...b, metric: 10 }));
    expect(fib4Lookup(fib, ipv4(10, 9, 9, 9))).toEqual(b);
    // A different gateway on the same interface is another route.
    fib = ok(fib4Add(fib, { ...b, gateway: ipv4(10, 0, 0, 254), metric: 1 }));
    expect(fib4Size(fib)).toBe(4);
    expect(fib4Lookup(fib, ipv4(10, 9, 9, 9))?.gateway).toBe(ipv4(10, 0, 0, 254));
    expect(fib4Routes(fib).map((r) => [r.iface, r.metric])).toEqual([
      [2, 1],
      [2, 10],
      [3, 10],
      [1, 20],
    ]);
    // Removing by interface takes both routes on iface 2; by gateway only the one via it.
    expect(fib4Size(fib4Remove(fib, p, 8, { iface: 2 }))).toBe(2);
    const viaGw = fib4Remove(fib, p, 8, { gateway: ipv4(10, 0, 0, 254) });
    expect(fib4Routes(viaGw).map((r) => r.iface)).toEqual([2, 3, 1]);
    expect(fib4Size(fib4Remove(fib, p, 8))).toBe(0);
  });

  it('clears host bits on add, and ignores them on remove', () => {
    const fib = ok(fib4Add(emptyFib4(), r4(ipv4(10, 1, 2, 3), 8)));
    expect(fib4Routes(fib)).toEqual([r4(ipv4(10, 0, 0, 0), 8)]);
    expect(fib4Lookup(fib, ipv4(10, 200, 0, 1))?.prefix).toBe(ipv4(10, 0, 0, 0));
    expect(fib4Size(fib4Remove(fib, ipv4(10, 9, 9, 9), 8))).toBe(0);
    expect(fib4Remove(fib, ipv4(10, 9, 9, 9), 16)).toBe(fib);

    const prefix = v6('2001:db8:abcd:12ff::1');
    const gateway = v6('fe80::1');
    const f6 = ok(fib6Add(emptyFib6(), { ...r6('::', 0), prefix, prefixLen: 52, gateway }));
    // The FIB keeps copies: the caller's buffers may be reused.
    prefix.fill(0xff);
    gateway.fill(0);
    expect(fib6Routes(f6)).toEqual([r6('2001:db8:abcd:1000::', 52, { gateway: v6('fe80::1') })]);
    expect(fib6Lookup(f6, v6('2001:db8:abcd:1fff::9'))?.prefixLen).toBe(52);
    expect(fib6Lookup(f6, v6('2001:db8:abcd:2000::'))).toBeUndefined();
    expect(fib6Size(fib6Remove(f6, v6('2001:db8:abcd:1234::'), 52))).toBe(0);
  });

  it.each([
    -1,
    33,
    8.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ])('refuses IPv4 prefix length %s as bad-prefix', (len) => {
    const fib = emptyFib4();
    expect(fib4Add(fib, r4(ipv4(10, 0, 0, 0), len))).toEqual({
      ok: false,
      error: { layer: 'fib', kind: 'bad-prefix' },
    });
    expect(fib4Remove(fib, ipv4(10, 0, 0, 0), len)).toBe(fib);
  });

  it.each([-1, 129, 64.5, Number.NaN])('refuses IPv6 prefix length %s as bad-prefix', (len) => {
    const fib = emptyFib6();
    expect(fib6Add(fib, r6('2001:db8::', len))).toEqual({
      ok: false,
      error: { layer: 'fib', kind: 'bad-prefix' },
    });
    expect(fib6Remove(fib, v6('2001:db8::'), len)).toBe(fib);
  });

  it('refuses a prefix that is not an address as bad-prefix', () => {
    const bad = { ok: false, error: { layer: 'fib', kind: 'bad-prefix' } };
    expect(fib4Add(emptyFib4(), r4(-1 as Ipv4Addr, 8))).toEqual(bad);
    expect(fib4Add(emptyFib4(), r4((2 ** 32) as Ipv4Addr, 8))).toEqual(bad);
    expect(fib4Add(emptyFib4(), r4(1.5 as Ipv4Addr, 8))).toEqual(bad);
    expect(fib6Add(emptyFib6(), { ...r6('::', 0), prefix: new Uint8Array(4) as Ipv6Addr })).toEqual(bad);
  });

  it('refuses a route past maxRoutes as full and stays unchanged, but replaces one at the bound', () => {
    const fib = build4([r4(ipv4(10, 0, 0, 0), 8), r4(ipv4(10, 1, 0, 0), 16, { iface: 2 })], 2);
    const full = fib4Add(fib, r4(ipv4(10, 1, 1, 0), 24));
    expect(full).toEqual({ ok: false, error: { layer: 'fib', kind: 'full' } });
    expect(fib4Size(fib)).toBe(2);
    expect(fib4Lookup(fib, ipv4(10, 1, 1, 1))?.prefixLen).toBe(16);
    // The same prefix via another interface is a new route too.
    expect(fib4Add(fib, r4(ipv4(10, 1, 0, 0), 16, { iface: 3 })).ok).toBe(false);
    const replaced = ok(fib4Add(fib, r4(ipv4(10, 1, 0, 0), 16, { iface: 2, metric: 7 })));
    expect(fib4Size(replaced)).toBe(2);
    expect(fib4Lookup(replaced, ipv4(10, 1, 1, 1))?.metric).toBe(7);
    expect(fib4Lookup(fib, ipv4(10, 1, 1, 1))?.metric).toBe(0);
    // After a remove there is room again.
    expect(fib4Add(fib4Remove(fib, ipv4(10, 0, 0, 0), 8), r4(ipv4(10, 1, 1, 0), 24)).ok).toBe(true);
    const six = build6([r6('2001:db8::', 32)], 1);
    expect(fib6Add(six, r6('2001:db9::', 32))).toEqual({ ok: false, error: { layer: 'fib', kind: 'full' } });
    expect(fib6Size(ok(fib6Add(six, r6('2001:db8::', 32, { metric: 5 }))))).toBe(1);
    expect(fib4Add(emptyFib4({ maxRoutes: 0 }), r4(ipv4(0, 0, 0, 0), 0)).ok).toBe(false);
  });

  it('defaults to a bound of 1,000,000 routes and refuses a nonsensical one', () => {
    expect(DEFAULT_MAX_ROUTES).toBe(1_000_000);
    expect(() => emptyFib4({ maxRoutes: -1 })).toThrow(RangeError);
    expect(() => emptyFib6({ maxRoutes: 1.5 })).toThrow(RangeError);
  });

  it('returns the same FIB from a remove that matches nothing', () => {
    const fib = build4([r4(ipv4(10, 0, 0, 0), 8, { iface: 1 })]);
    expect(fib4Remove(fib, ipv4(10, 0, 0, 0), 8, { iface: 2 })).toBe(fib);
    expect(fib4Remove(fib, ipv4(10, 0, 0, 0), 8, { gateway: ipv4(1, 2, 3, 4) })).toBe(fib);
    expect(fib4Remove(fib, ipv4(11, 0, 0, 0), 8)).toBe(fib);
    expect(fib4Remove(fib, ipv4(10, 0, 0, 0), 9)).toBe(fib);
  });

  it('lists routes by prefix, then length, then preference', () => {
    const fib = build4([
      r4(ipv4(192, 168, 0, 0), 16),
      r4(ipv4(10, 0, 0, 0), 8, { metric: 5 }),
      r4(ipv4(10, 0, 0, 0), 8, { iface: 2, metric: 1 }),
      r4(ipv4(0, 0, 0, 0), 0),
      r4(ipv4(10, 0, 0, 0), 24),
      r4(ipv4(200, 0, 0, 0), 8),
    ]);
    expect(fib4Routes(fib).map((r) => [r.prefix, r.prefixLen, r.iface])).toEqual([
      [ipv4(0, 0, 0, 0), 0, 1],
      [ipv4(10, 0, 0, 0), 8, 2],
      [ipv4(10, 0, 0, 0), 8, 1],
      [ipv4(10, 0, 0, 0), 24, 1],
      [ipv4(192, 168, 0, 0), 16, 1],
      [ipv4(200, 0, 0, 0), 8, 1],
    ]);
  });
});
