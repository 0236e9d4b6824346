/**
 * FIB benchmark (src/router/fib.ts): lookups per second, and what one add and one remove cost, with
 * 100,000 random routes.
 *
 * Tables (seeded, so every run measures the same ones): IPv4, 100,000 random prefixes of lengths drawn
 * uniformly from 8..32 plus a default route; IPv6, 100,000 random prefixes of lengths 16..64 plus a
 * default route (each route with a random gateway, so routes for one prefix coexist).
 * Lookup addresses are pre-generated, 2^20 of them, in two sets:
 * - `random`: uniform over the address space (the case: most walks end at the second level);
 * - `in-route`: inside a randomly chosen route of the table, host bits random (longer walks).
 * A timed call runs BATCH lookups over the next slice of the set, so the harness costs little per
 * lookup; lookups/s = BATCH / the median sample. `lookup` only counts the routes found; `lookup+read`
 * also reads a field of each (what a forwarding step does next: often one more cache miss).
 * Every lookup result is checked against a linear scan for the first CHECKED addresses of each set
 * before timing, so a broken FIB fails instead of being timed.
 *
 * Add and remove: each timed call adds (or removes) one route to (from) the same 100,000-route FIB, so
 * the figure is the cost at that size, path copying included, garbage collection of the copies too.
 *
 * Writes bench/results/fib.json: the machine (CPU model, Node), then one row per case:
 * `{family, op, addresses?, routes, perSecond, nsPerOp, nsBest}` (median and fastest sample), plus the
 * time to build each table from empty and the heap it holds.
 * `OASIS_BENCH_TIME` sets the seconds spent per case (default 2).
 */
import { cpus } from 'node:os';
import b from 'benny';
import { type Ipv4Addr, type Ipv6Addr, ipv4Mask } from '../src/addr.js';
import {
  emptyFib4,
  emptyFib6,
  type Fib4,
  type Fib6,
  type FibRoute,
  fib4Add,
  fib4Lookup,
  fib4Remove,
  fib4Size,
  fib6Add,
  fib6Lookup,
  fib6Remove,
  fib6Size,
} from '../src/router/fib.js';
import { fmt, type Goal, isRecord, table, writeResults } from './summary.js';
import { collector } from './measure.js';

/** Seconds benchmark.js may spend on each case. */
const MAX_TIME = Number(process.env.OASIS_BENCH_TIME ?? '2');
const ROUTES = 100_000;
const ADDRESSES = 1 << 20;
const BATCH = 4096;
const CHECKED = 2000;
/** The acceptance: IPv4 lookups per second with 100,000 random routes. */
const GOAL_LOOKUPS_V4 = 10_000_000;

export interface FibRow {
  readonly family: 'ipv4' | 'ipv6';
  /** `lookup+read`: the caller also reads a field of the route found (one more cache miss, often). */
  readonly op: 'lookup' | 'lookup+read' | 'add' | 'remove';
  readonly addresses?: 'random' | 'in-route';
  readonly routes: number;
  readonly perSecond: number;
  readonly nsPerOp: number;
  /** From the fastest sample: what the machine does when the neighbours leave it alone. */
  readonly nsBest: number;
  /**
   * Process CPU time per operation over a separate run (cpuTime): unlike the wall-clock
   * figures it leaves out the time the process waits for a core, which neighbours on a shared
   * machine inflate (their cache traffic still counts).
   */
  readonly cpuNsPerOp: number;
}

export interface FibResults {
  readonly cpu: string;
  readonly cpus: number;
  readonly node: string;
  readonly date: string;
  readonly build: readonly { family: string; routes: number; ms: number; heapMB: number | null }[];
  readonly rows: readonly FibRow[];
}

/** xorshift32: the same tables and addresses on every run. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function between(next: () => number, lo: number, hi: number): number {
  return lo + (next() % (hi - lo + 1));
}

function route4(next: () => number): FibRoute<Ipv4Addr> {
  const prefixLen = between(next, 8, 32);
  return {
    prefix: ((next() & ipv4Mask(prefixLen)) >>> 0) as Ipv4Addr,
    prefixLen,
    iface: next() % 8,
    gateway: next() as Ipv4Addr,
    metric: next() % 4,
    origin: 'static',
  };
}

function bytes16(next: () => number): Ipv6Addr {
  const a = new Uint8Array(16);
  for (let i = 0; i < 16; i += 4) new DataView(a.buffer).setUint32(i, next());
  return a as Ipv6Addr;
}

function masked6(a: Uint8Array, len: number): Ipv6Addr {
  const out = a.slice();
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, len - 8 * i));
    out[i] = out[i]! & (0xff00 >>> keep);
  }
  return out as Ipv6Addr;
}

function route6(next: () => number): FibRoute<Ipv6Addr> {
  const prefixLen = between(next, 16, 64);
  return {
    prefix: masked6(bytes16(next), prefixLen),
    prefixLen,
    iface: next() % 8,
    gateway: bytes16(next),
    metric: next() % 4,
    origin: 'static',
  };
}

function unwrap<T>(r: { ok: true; value: T } | { ok: false; error: unknown }): T {
  if (!r.ok) throw new Error(`fib bench: add failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

/** Heap in use after a full collection (undefined when no collection can be forced). */
function heapMB(): number | undefined {
  const gc = collector();
  if (gc === undefined) return undefined;
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

function heldSince(before: number | undefined): number | null {
  const after = heapMB();
  return before === undefined || after === undefined ? null : round(after - before);
}

/** The longest match, lowest metric: the reference the FIB must agree with before it is timed. */
function scan4(routes: readonly FibRoute<Ipv4Addr>[], dst: number): FibRoute<Ipv4Addr> | undefined {
  let best: FibRoute<Ipv4Addr> | undefined;
  for (const r of routes) {
    if ((dst & ipv4Mask(r.prefixLen)) >>> 0 !== r.prefix) continue;
    if (best === undefined || r.prefixLen > best.prefixLen) best = r;
    else if (r.prefixLen === best.prefixLen && r.metric < best.metric) best = r;
  }
  return best;
}

function in6(dst: Uint8Array, r: FibRoute<Ipv6Addr>): boolean {
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, r.prefixLen - 8 * i));
    if ((dst[i]! & (0xff00 >>> keep)) !== r.prefix[i]) return false;
  }
  return true;
}

function scan6(routes: readonly FibRoute<Ipv6Addr>[], dst: Uint8Array): FibRoute<Ipv6Addr> | undefined {
  let best: FibRoute<Ipv6Addr> | undefined;
  for (const r of routes) {
    if (!in6(dst, r)) continue;
    if (best === undefined || r.prefixLen > best.prefixLen) best = r;
    else if (r.prefixLen === best.prefixLen && r.metric < best.metric) best = r;
  }
  return best;
}

/** Routes as the reference sees them: later duplicates of (prefix, len, iface, gateway) replace earlier ones. */
function dedupe<A>(routes: readonly FibRoute<A>[], key: (r: FibRoute<A>) => string): FibRoute<A>[] {
  const byKey = new Map<string, FibRoute<A>>();
  // A Map keeps the first insertion's place when a key is set again: the FIB's replace-in-place.
  for (const r of routes) byKey.set(key(r), r);
  return [...byKey.values()];
}

function same<A>(a: FibRoute<A> | undefined, b: FibRoute<A> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.prefixLen === b.prefixLen && a.metric === b.metric && a.iface === b.iface;
}

// Results feed this so the JIT cannot drop the calls as dead code.
let sink = 0;

interface Case {
  readonly row: Omit<FibRow, 'perSecond' | 'nsPerOp' | 'nsBest' | 'cpuNsPerOp'>;
  /** Operations per timed call. */
  readonly per: number;
  readonly fn: () => void;
}

async function time(title: string, cases: readonly Case[]): Promise<FibRow[]> {
  // Building the tables leaves garbage that V8 would otherwise collect on the other core while the
  // first case is timed; collect it now, then warm every case up so that each is timed optimised.
  collector()?.();
  for (const c of cases) for (let i = 0; i < 200; i++) c.fn();
  const summary = await b.suite(
    title,
    ...cases.map((c, i) => b.add(`${i}`, c.fn, { maxTime: MAX_TIME })),
    b.cycle(),
  );
  return summary.results.map((r) => {
    const c = cases[Number(r.name)]!;
    const ns = (r.details.median * 1e9) / c.per;
    return {
      ...c.row,
      perSecond: round(1e9 / ns),
      nsPerOp: round(ns),
      nsBest: round((r.details.min * 1e9) / c.per),
      cpuNsPerOp: round(cpuTime(c)),
    };
  });
}

/** Operations timed by CPU time: lookups, and adds or removes (about a second each on this machine). */
const CPU_LOOKUPS = 1 << 21;
const CPU_UPDATES = 1 << 15;

function cpuTime(c: Case): number {
  const calls = c.per === 1 ? CPU_UPDATES : Math.ceil(CPU_LOOKUPS / c.per);
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) c.fn();
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1000) / (calls * c.per);
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}

async function bench4(build: FibResults['build'][number][]): Promise<FibRow[]> {
  const next = rng(4);
  const input = [
    { prefix: 0 as Ipv4Addr, prefixLen: 0, iface: 0, metric: 0, origin: 'static' as const },
    ...Array.from({ length: ROUTES }, () => route4(next)),
  ];
  const before = heapMB();
  const t0 = process.hrtime.bigint();
  let fib: Fib4 = emptyFib4();
  for (const r of input) fib = unwrap(fib4Add(fib, r));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  build.push({ family: 'ipv4', routes: fib4Size(fib), ms: round(ms), heapMB: heldSince(before) });
  const size = fib4Size(fib);

  const random = new Uint32Array(ADDRESSES).map(() => next());
  const inRoute = new Uint32Array(ADDRESSES).map(() => {
    const r = input[next() % input.length]!;
    return (r.prefix | (next() & ~ipv4Mask(r.prefixLen))) >>> 0;
  });
  const reference = dedupe(input, (r) => `${r.prefix}/${r.prefixLen}/${r.iface}/${r.gateway}`);
  for (const set of [random, inRoute]) {
    for (let i = 0; i < CHECKED; i++) {
      if (!same(fib4Lookup(fib, set[i]! as Ipv4Addr), scan4(reference, set[i]!))) {
        throw new Error(`fib bench: IPv4 lookup of ${set[i]} disagrees with the linear scan`);
      }
    }
  }

  const lookups = (set: Uint32Array, read: boolean): (() => void) => {
    let at = 0;
    return read
      ? () => {
          const end = at + BATCH;
          let n = 0;
          for (let i = at; i < end; i++) n += fib4Lookup(fib, set[i]! as Ipv4Addr)?.iface ?? 1;
          at = end === set.length ? 0 : end;
          sink ^= n;
        }
      : () => {
          const end = at + BATCH;
          let n = 0;
          for (let i = at; i < end; i++) if (fib4Lookup(fib, set[i]! as Ipv4Addr) !== undefined) n++;
          at = end === set.length ? 0 : end;
          sink ^= n;
        };
  };
  const fresh = Array.from({ length: 1 << 16 }, () => route4(next));
  let a = 0;
  let d = 0;
  return time(`fib IPv4, ${size} routes`, [
    {
      row: { family: 'ipv4', op: 'lookup', addresses: 'random', routes: size },
      per: BATCH,
      fn: lookups(random, false),
    },
    {
      row: { family: 'ipv4', op: 'lookup+read', addresses: 'random', routes: size },
      per: BATCH,
      fn: lookups(random, true),
    },
    {
      row: { family: 'ipv4', op: 'lookup', addresses: 'in-route', routes: size },
      per: BATCH,
      fn: lookups(inRoute, false),
    },
    {
      row: { family: 'ipv4', op: 'add', routes: size },
      per: 1,
      fn: () => {
        sink ^= unwrap(fib4Add(fib, fresh[a++ & 0xffff]!)) === fib ? 1 : 0;
      },
    },
    {
      row: { family: 'ipv4', op: 'remove', routes: size },
      per: 1,
      fn: () => {
        const r = input[1 + (d++ % ROUTES)]!;
        sink ^= fib4Remove(fib, r.prefix, r.prefixLen) === fib ? 1 : 0;
      },
    },
  ]);
}

async function bench6(build: FibResults['build'][number][]): Promise<FibRow[]> {
  const next = rng(6);
  const input = [
    { prefix: new Uint8Array(16) as Ipv6Addr, prefixLen: 0, iface: 0, metric: 0, origin: 'static' as const },
    ...Array.from({ length: ROUTES }, () => route6(next)),
  ];
  const before = heapMB();
  const t0 = process.hrtime.bigint();
  let fib: Fib6 = emptyFib6();
  for (const r of input) fib = unwrap(fib6Add(fib, r));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  build.push({ family: 'ipv6', routes: fib6Size(fib), ms: round(ms), heapMB: heldSince(before) });
  const size = fib6Size(fib);

  // Addresses packed in one buffer; each lookup first copies its 16 bytes into one reused Uint8Array,
  // as a receive path reads addresses from a buffer it reuses (16 copied bytes cost ~2 ns).
  const pack = (make: (a: Uint8Array) => void): Uint32Array => {
    const all = new Uint8Array(16 * ADDRESSES);
    for (let i = 0; i < ADDRESSES; i++) make(all.subarray(16 * i, 16 * i + 16));
    return new Uint32Array(all.buffer);
  };
  const random = pack((a) => a.set(bytes16(next)));
  const inRoute = pack((a) => {
    const r = input[next() % input.length]!;
    const host = bytes16(next);
    for (let i = 0; i < 16; i++) {
      const keep = Math.max(0, Math.min(8, r.prefixLen - 8 * i));
      a[i] = r.prefix[i]! | (host[i]! & ~(0xff00 >>> keep) & 0xff);
    }
  });
  const dst = new Uint8Array(16) as Ipv6Addr;
  const dst32 = new Uint32Array(dst.buffer);
  const load = (set: Uint32Array, i: number): Ipv6Addr => {
    dst32[0] = set[4 * i]!;
    dst32[1] = set[4 * i + 1]!;
    dst32[2] = set[4 * i + 2]!;
    dst32[3] = set[4 * i + 3]!;
    return dst;
  };
  const key = (r: FibRoute<Ipv6Addr>) =>
    `${r.prefix.join('.')}/${r.prefixLen}/${r.iface}/${r.gateway?.join('.')}`;
  const reference = dedupe(input, key);
  for (const set of [random, inRoute]) {
    for (let i = 0; i < CHECKED; i++) {
      if (!same(fib6Lookup(fib, load(set, i)), scan6(reference, load(set, i)))) {
        throw new Error(`fib bench: IPv6 lookup of ${load(set, i).join('.')} disagrees with the linear scan`);
      }
    }
  }

  const lookups = (set: Uint32Array, read: boolean): (() => void) => {
    let at = 0;
    return read
      ? () => {
          const end = at + BATCH;
          let n = 0;
          for (let i = at; i < end; i++) n += fib6Lookup(fib, load(set, i))?.iface ?? 1;
          at = end === ADDRESSES ? 0 : end;
          sink ^= n;
        }
      : () => {
          const end = at + BATCH;
          let n = 0;
          for (let i = at; i < end; i++) if (fib6Lookup(fib, load(set, i)) !== undefined) n++;
          at = end === ADDRESSES ? 0 : end;
          sink ^= n;
        };
  };
  const fresh = Array.from({ length: 1 << 16 }, () => route6(next));
  let a = 0;
  let d = 0;
  return time(`fib IPv6, ${size} routes`, [
    {
      row: { family: 'ipv6', op: 'lookup', addresses: 'random', routes: size },
      per: BATCH,
      fn: lookups(random, false),
    },
    {
      row: { family: 'ipv6', op: 'lookup+read', addresses: 'random', routes: size },
      per: BATCH,
      fn: lookups(random, true),
    },
    {
      row: { family: 'ipv6', op: 'lookup', addresses: 'in-route', routes: size },
      per: BATCH,
      fn: lookups(inRoute, false),
    },
    {
      row: { family: 'ipv6', op: 'add', routes: size },
      per: 1,
      fn: () => {
        sink ^= unwrap(fib6Add(fib, fresh[a++ & 0xffff]!)) === fib ? 1 : 0;
      },
    },
    {
      row: { family: 'ipv6', op: 'remove', routes: size },
      per: 1,
      fn: () => {
        const r = input[1 + (d++ % ROUTES)]!;
        sink ^= fib6Remove(fib, r.prefix, r.prefixLen) === fib ? 1 : 0;
      },
    },
  ]);
}

export async function run(): Promise<FibResults> {
  const build: FibResults['build'][number][] = [];
  const rows = [...(await bench4(build)), ...(await bench6(build))];
  if (sink === -1) console.log(sink);
  const cpu = cpus();
  const results: FibResults = {
    cpu: cpu[0]?.model ?? '?',
    cpus: cpu.length,
    node: process.version,
    date: new Date().toISOString(),
    build,
    rows,
  };
  console.log(markdown(results));
  writeResults('fib', results);
  return results;
}

function valid(results: unknown): FibResults | undefined {
  return isRecord(results) && Array.isArray(results.rows) && Array.isArray(results.build)
    ? (results as unknown as FibResults)
    : undefined;
}

function v4RandomLookups(r: FibResults): FibRow | undefined {
  return r.rows.find((x) => x.family === 'ipv4' && x.op === 'lookup' && x.addresses === 'random');
}

export function goals(results: unknown): Goal[] {
  const r = valid(results);
  const row = r === undefined ? undefined : v4RandomLookups(r);
  return [
    {
      what: `FIB, IPv4 lookups with ${ROUTES.toLocaleString('en')} random routes`,
      target: `≥ ${GOAL_LOOKUPS_V4 / 1e6} M/s`,
      ...(row === undefined
        ? {}
        : { figure: `${fmt(row.perSecond / 1e6)} M/s`, met: row.perSecond >= GOAL_LOOKUPS_V4 }),
    },
  ];
}

export function markdown(results: unknown): string {
  const r = valid(results);
  if (r === undefined) return '## fib\n\nno results';
  return [
    '## FIB (src/router/fib.ts)',
    '',
    `Measured ${r.date} on ${r.cpu} (${r.cpus} CPUs), Node ${r.node}. Lookups are timed in batches of`,
    `${BATCH} pre-generated addresses (\`random\`: uniform; \`in-route\`: inside a random route of the table);`,
    '`lookup` counts the routes found, `lookup+read` also reads a field of each (often one more cache miss);',
    'add and remove change one route of the full table (the old FIB is kept: persistent).',
    'Per-op figures from the median sample, the fastest sample in brackets; "CPU ns" is process CPU',
    'time per op over a separate run (the time spent waiting for a core on a shared machine left out).',
    '',
    table(
      ['family', 'op', 'addresses', 'routes', 'per second', 'ns per op', 'CPU ns per op'],
      r.rows.map((x) => [
        x.family,
        x.op,
        x.addresses ?? '',
        String(x.routes),
        x.perSecond >= 1e6 ? `${fmt(x.perSecond / 1e6)} M` : `${fmt(x.perSecond / 1e3)} k`,
        `${fmt(x.nsPerOp)} (${fmt(x.nsBest)})`,
        fmt(x.cpuNsPerOp),
      ]),
    ),
    '',
    table(
      ['table built from empty', 'routes', 'ms', 'µs per add', 'heap held, MB'],
      r.build.map((x) => [
        x.family,
        String(x.routes),
        fmt(x.ms),
        fmt((x.ms * 1000) / x.routes),
        fmt(x.heapMB),
      ]),
    ),
  ].join('\n');
}
