/**
 * Seeded link impairments, a userspace netem: `impair(link, scheduler, opts)` wraps any `Link` (a
 * memory pair, a hub port, a TAP) and applies loss, duplication, reordering, delay with jitter and
 * bit corruption to frames in either or both directions.
 *
 * Per frame, in this order, each decision drawn from the direction's own seeded stream:
 *   1. loss: dropped with probability `loss` (counted as drops['impair-loss']);
 *   2. duplicate: with probability `duplicate` a second, independent copy follows;
 *   and for each copy:
 *   3. corrupt: with probability `corrupt` one random bit of a copy of the frame is flipped;
 *   4. delay: held for `delay` + U[0, `jitter`) ms (jitter alone can reorder, as with netem);
 *   5. reorder: with probability `reorder` held back `reorderDelay` ms more, so that frames sent
 *      after it overtake it.
 * Same seed + same frames at the same times = same output, bit for bit.
 *
 * Buffers: outgoing frames are owned, so they are delayed without copying, unless lent by a
 * receiving link (a TAP's receive slot: copied, counted under `lentCopied`); incoming frames are only
 * valid during the inner handler, so one that must wait is copied first. A frame that needs no
 * waiting passes through synchronously (a lent one stays lent). A duplicate is always a buffer of its
 * own, copied before the first copy is passed on.
 */
import type { Mac } from '../addr.js';
import type { Scheduler } from '../clock.js';
import { deriveSeed, Random } from '../random.js';
import { err, ok, type Result } from '../result.js';
import {
  type CaptureHook,
  DeliveryQueue,
  type DropReason,
  deliverIncoming,
  type FrameHandler,
  keepable,
  type Link,
  type LinkCounters,
  newCounters,
} from './link.js';

export interface ImpairOptions {
  /** Probability (0..1) that a frame is dropped. */
  readonly loss?: number;
  /** Probability (0..1) that a frame is sent twice. */
  readonly duplicate?: number;
  /** Probability (0..1) that a frame is held back by `reorderDelay`. */
  readonly reorder?: number;
  /** Probability (0..1) that one bit of a frame is flipped. */
  readonly corrupt?: number;
  /** Fixed one-way delay, ms. */
  readonly delay?: number;
  /** Extra delay drawn uniformly from [0, jitter) ms per frame. */
  readonly jitter?: number;
  /** Extra hold for a reordered frame, ms (default 1). */
  readonly reorderDelay?: number;
  /** Seed of the pseudo-random streams (default 0). */
  readonly seed?: number;
  /** Which way frames are impaired (default 'both'). */
  readonly direction?: 'both' | 'in' | 'out';
}

export interface ImpairStats {
  /** Frames that went through the impairment (before loss and duplication). */
  frames: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  reordered: number;
}

const DEFAULT_REORDER_DELAY = 1;

/** Frames waiting in one direction's delay line at most; beyond that they are tail-dropped. */
const MAX_HELD = 1 << 16;

/** One direction's impairment: its own random stream, delay line and statistics. */
class Impairer {
  readonly stats: ImpairStats = { frames: 0, lost: 0, duplicated: 0, corrupted: 0, reordered: 0 };
  private readonly rng: Random;
  private readonly line: DeliveryQueue;
  private readonly loss: number;
  private readonly duplicate: number;
  private readonly reorder: number;
  private readonly corrupt: number;
  private readonly delay: number;
  private readonly jitter: number;
  private readonly reorderDelay: number;

  constructor(
    private readonly scheduler: Scheduler,
    opts: ImpairOptions,
    seed: number,
    private readonly emit: (frame: Uint8Array) => void,
    /** Whether frames given to `process` may be kept (outgoing) or must be copied to wait (incoming). */
    private readonly owned: boolean,
    /** The link whose counters count lent frames copied to wait. */
    private readonly link: Link,
  ) {
    this.rng = new Random(seed);
    this.line = new DeliveryQueue(scheduler, emit);
    this.loss = opts.loss ?? 0;
    this.duplicate = opts.duplicate ?? 0;
    this.reorder = opts.reorder ?? 0;
    this.corrupt = opts.corrupt ?? 0;
    this.delay = opts.delay ?? 0;
    this.jitter = opts.jitter ?? 0;
    this.reorderDelay = opts.reorderDelay ?? DEFAULT_REORDER_DELAY;
  }

  /** Returns why the frame went nowhere, or undefined when at least one copy was passed on. */
  process(frame: Uint8Array): DropReason | undefined {
    const rng = this.rng;
    this.stats.frames++;
    if (rng.chance(this.loss)) {
      this.stats.lost++;
      return 'impair-loss';
    }
    const copies = rng.chance(this.duplicate) ? 2 : 1;
    // The duplicate is its own buffer, copied before the first copy is passed on: a handler may
    // rewrite that one in place (the Link contract), and each copy can be corrupted or held alone.
    const dup = copies === 2 ? new Uint8Array(frame) : undefined;
    if (dup !== undefined) this.stats.duplicated++;
    let delivered = false;
    for (let c = 0; c < copies; c++) {
      let f = c === 0 ? frame : dup!;
      if (rng.chance(this.corrupt)) {
        // Flip in a copy: the sender may still hold the original (e.g. for a retransmission).
        if (f === frame) f = new Uint8Array(frame);
        const bit = rng.int(f.length * 8);
        if (f.length > 0) f[bit >>> 3]! ^= 0x80 >>> (bit & 7);
        this.stats.corrupted++;
      }
      let wait = this.delay;
      if (this.jitter > 0) wait += rng.float() * this.jitter;
      if (rng.chance(this.reorder)) {
        wait += this.reorderDelay;
        this.stats.reordered++;
      }
      if (wait <= 0) {
        this.emit(f);
        delivered = true;
        continue;
      }
      if (this.line.size >= MAX_HELD) continue;
      // Held past the call: an incoming frame is only valid during the inner handler, and an
      // outgoing one may be lent by a receiving link that will reuse it: keep a copy of either.
      if (f === frame) f = this.owned ? keepable(this.link, f) : new Uint8Array(f);
      this.line.push(this.scheduler.now() + wait, f);
      delivered = true;
    }
    return delivered ? undefined : 'queue-full';
  }

  clear(): void {
    this.line.clear();
  }
}

export class ImpairedLink implements Link {
  readonly name: string;
  readonly mtu: number;
  readonly mac?: Mac;
  /** Out: frames handed to the inner link. In: frames handed to our handler. */
  readonly counters: LinkCounters = newCounters();
  capture?: CaptureHook | undefined;
  readonly stats: { readonly in: ImpairStats; readonly out: ImpairStats };
  private readonly outImpairer: Impairer | undefined;
  private readonly inImpairer: Impairer | undefined;
  private handler: FrameHandler | undefined;
  private closed: Promise<void> | undefined;
  private readonly toInner = (frame: Uint8Array): void => {
    this.counters.framesOut++;
    this.counters.bytesOut += frame.length;
    this.inner.send(frame);
  };
  private readonly toHandler = (frame: Uint8Array): void => {
    if (this.closed !== undefined) {
      this.counters.drops.closed++;
      return;
    }
    deliverIncoming(this, this.handler, frame);
  };

  constructor(
    readonly inner: Link,
    scheduler: Scheduler,
    opts: ImpairOptions,
  ) {
    const problem = checkImpairOptions(opts);
    if (problem !== undefined) throw new Error(`impair: ${problem}`);
    this.name = inner.name;
    this.mtu = inner.mtu;
    if (inner.mac !== undefined) this.mac = inner.mac;
    const seed = opts.seed ?? 0;
    const dir = opts.direction ?? 'both';
    const out = new Impairer(scheduler, opts, deriveSeed(seed, 0), this.toInner, true, this);
    const inn = new Impairer(scheduler, opts, deriveSeed(seed, 1), this.toHandler, false, this);
    this.outImpairer = dir === 'in' ? undefined : out;
    this.inImpairer = dir === 'out' ? undefined : inn;
    this.stats = { in: inn.stats, out: out.stats };
    inner.onFrame((frame) => {
      if (this.inImpairer === undefined) this.toHandler(frame);
      else {
        const dropped = this.inImpairer.process(frame);
        if (dropped !== undefined) this.counters.drops[dropped]++;
      }
    });
  }

  send(frame: Uint8Array): void {
    if (this.closed !== undefined) {
      this.counters.drops.closed++;
      return;
    }
    this.capture?.(frame, 'out');
    if (this.outImpairer === undefined) this.toInner(frame);
    else {
      const dropped = this.outImpairer.process(frame);
      if (dropped !== undefined) this.counters.drops[dropped]++;
    }
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    if (this.closed === undefined) {
      this.outImpairer?.clear();
      this.inImpairer?.clear();
      this.closed = this.inner.close();
    }
    return this.closed;
  }
}

/** Wraps `link` with seeded impairments (see the module comment). Throws on invalid options (a bug). */
export function impair(link: Link, scheduler: Scheduler, opts: ImpairOptions): ImpairedLink {
  return new ImpairedLink(link, scheduler, opts);
}

/** Returns a description of the first invalid option, or undefined. */
export function checkImpairOptions(opts: ImpairOptions): string | undefined {
  for (const key of ['loss', 'duplicate', 'reorder', 'corrupt'] as const) {
    const p = opts[key];
    if (p !== undefined && !(p >= 0 && p <= 1)) return `${key} must be a probability in [0, 1], got ${p}`;
  }
  for (const key of ['delay', 'jitter', 'reorderDelay'] as const) {
    const d = opts[key];
    if (d !== undefined && !(d >= 0 && d < Number.POSITIVE_INFINITY))
      return `${key} must be a finite duration >= 0 ms, got ${d}`;
  }
  const seed = opts.seed;
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffff_ffff))
    return `seed must be an integer in [0, 2^32), got ${seed}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The CLI syntax: `loss=3%,reorder=25%,dup=1%,delay=1ms[,jitter=..][,corrupt=..][,reorder-delay=..]
// [,seed=N]`. Probabilities as a percentage or a fraction; durations in us, ms (the default) or s.

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

type Field = 'loss' | 'duplicate' | 'reorder' | 'corrupt' | 'delay' | 'jitter' | 'reorderDelay' | 'seed';

/** CLI key -> option and value kind (a Map: no prototype keys like "constructor" can match). */
const KEYS = new Map<string, [Field, 'probability' | 'duration' | 'seed']>([
  ['loss', ['loss', 'probability']],
  ['dup', ['duplicate', 'probability']],
  ['duplicate', ['duplicate', 'probability']],
  ['reorder', ['reorder', 'probability']],
  ['corrupt', ['corrupt', 'probability']],
  ['delay', ['delay', 'duration']],
  ['jitter', ['jitter', 'duration']],
  ['reorder-delay', ['reorderDelay', 'duration']],
  ['seed', ['seed', 'seed']],
]);
const KEY_LIST = 'loss, dup, reorder, corrupt, delay, jitter, reorder-delay, seed';

/** Parses the CLI impairment syntax. Never throws; the error is a message for the user. */
export function parseImpairment(spec: string): Result<ImpairOptions, string> {
  const opts: Mutable<ImpairOptions> = {};
  const seen = new Set<string>();
  const text = spec.trim();
  if (text === '') return fail(`empty impairment (expected e.g. loss=3%,delay=1ms; keys: ${KEY_LIST})`);
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const eq = item.indexOf('=');
    if (eq < 0) return fail(`impairment "${item}": expected key=value`);
    const key = item.slice(0, eq).trim().toLowerCase();
    const value = item.slice(eq + 1).trim();
    const known = KEYS.get(key);
    if (known === undefined) return fail(`impairment "${item}": unknown key "${key}" (keys: ${KEY_LIST})`);
    const [field, kind] = known;
    if (seen.has(field)) return fail(`impairment "${item}": ${key} given twice`);
    seen.add(field);
    if (kind === 'seed') {
      const seed = parseSeed(value);
      if (seed === undefined) return fail(`impairment "${item}": seed must be an integer in [0, 4294967295]`);
      opts.seed = seed;
    } else if (kind === 'probability') {
      const p = parseProbability(value);
      if (p === undefined)
        return fail(`impairment "${item}": ${key} must be a percentage (3%) or a fraction (0.03) in [0, 1]`);
      opts[field as 'loss'] = p;
    } else {
      const ms = parseDuration(value);
      if (ms === undefined)
        return fail(`impairment "${item}": ${key} must be a duration like 1ms, 500us, 0.2s`);
      opts[field as 'delay'] = ms;
    }
  }
  return ok(opts);
}

/** The canonical CLI form of `opts` (for logs: it shows the seed a run can be replayed with). */
export function formatImpairment(opts: ImpairOptions): string {
  const parts: string[] = [];
  const pct = (p: number): string => `${Number((p * 100).toPrecision(12))}%`;
  const ms = (d: number): string => `${Number(d.toPrecision(12))}ms`;
  if (opts.loss !== undefined) parts.push(`loss=${pct(opts.loss)}`);
  if (opts.duplicate !== undefined) parts.push(`dup=${pct(opts.duplicate)}`);
  if (opts.reorder !== undefined) parts.push(`reorder=${pct(opts.reorder)}`);
  if (opts.corrupt !== undefined) parts.push(`corrupt=${pct(opts.corrupt)}`);
  if (opts.delay !== undefined) parts.push(`delay=${ms(opts.delay)}`);
  if (opts.jitter !== undefined) parts.push(`jitter=${ms(opts.jitter)}`);
  if (opts.reorderDelay !== undefined) parts.push(`reorder-delay=${ms(opts.reorderDelay)}`);
  if (opts.seed !== undefined) parts.push(`seed=${opts.seed}`);
  return parts.join(',');
}

function fail(message: string): Result<never, string> {
  return err(message);
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

function parseProbability(s: string): number | undefined {
  let p: number;
  if (s.endsWith('%')) {
    const n = s.slice(0, -1).trim();
    if (!DECIMAL.test(n)) return undefined;
    p = Number(n) / 100;
  } else {
    if (!DECIMAL.test(s)) return undefined;
    p = Number(s);
  }
  return p >= 0 && p <= 1 ? p : undefined;
}

function parseDuration(s: string): number | undefined {
  const m = /^((?:\d+(?:\.\d*)?|\.\d+))\s*(us|µs|ms|s)?$/i.exec(s);
  if (m === null) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'ms').toLowerCase();
  const ms = unit === 's' ? n * 1000 : unit === 'ms' ? n : n / 1000;
  return Number.isFinite(ms) ? ms : undefined;
}

function parseSeed(s: string): number | undefined {
  if (!/^(?:\d+|0x[0-9a-f]+)$/i.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) && n <= 0xffff_ffff ? n : undefined;
}
