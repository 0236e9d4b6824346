/**
 * Bounded IP fragment reassembly, shared by IPv4 and IPv6: a pure core.
 *
 *   RFC 791 §3.2 ("An Example Reassembly Procedure"): fragments are keyed by (src, dst, protocol, id),
 *   placed by offset, the offset-0 fragment's header is kept, and a timer discards incomplete datagrams.
 *   RFC 815: track what is missing; here an interval set (disjoint fragments sorted by offset) plus a
 *   byte count replaces the hole list: the datagram is complete when its end is known and the bytes
 *   held equal that end.
 *   RFC 8200 §4.5 and RFC 5722 §4: any overlap discards the whole datagram, silently; a non-last
 *   fragment whose length is not a multiple of 8 and a fragment past 65 535 octets are discarded.
 *
 * Contract: `step(state, event) -> [state, outputs]` never mutates `state`, never throws on any event
 * (only `initialReassembly` throws, on a nonsensical configuration), reads no clock (time is `now` in
 * each event, monotonic milliseconds) and copies every byte it retains, so the caller may reuse its
 * receive buffer as soon as `step` returns. Keys are opaque strings built by the IPv4/IPv6 adapters.
 * Whole datagrams should not be passed here at all (the adapter's fast path hands the original view on).
 *
 * Cost: each step that changes the entry table copies it (a `Map` of at most `maxEntries` entries,
 * insertion order = least-recently-updated first) and the fragment list of the entry it touches (at
 * most `maxFragments`); see README.md.
 */
import { equalBytes } from '../bytes.js';
import { assertNever } from '../result.js';

/** Why a fragment or a whole datagram was discarded; also the names of the drop counters. */
export type DropReason =
  /** Offset not a non-negative multiple of 8 (RFC 791 §3.1: offsets count 8-octet units). */
  | 'bad-offset'
  /** A fragment carrying no data (other than a whole datagram). */
  | 'empty'
  /** A non-last fragment whose length is not a multiple of 8 (RFC 8200 §4.5: must be discarded). */
  | 'unaligned'
  /** Would make the datagram longer than `maxDatagramLen` (RFC 8200 §4.5: 65 535 octets). */
  | 'too-big'
  /** An exact copy (offset, length, more flag, bytes) of a fragment already held: ignored. */
  | 'duplicate'
  /** A fragment of a datagram completed within `duplicateHoldMs`: ignored. */
  | 'late-duplicate'
  /** A fragment of a datagram discarded as malformed within `poisonMs` (RFC 5722 §4): ignored. */
  | 'poisoned'
  /** Overlaps a fragment held without being an exact duplicate (RFC 5722 §4, RFC 8200 §4.5). */
  | 'overlap'
  /** Data beyond the end given by the last fragment. */
  | 'past-end'
  /** A second last fragment with a different end. */
  | 'end-mismatch'
  /** More than `maxFragments` fragments. */
  | 'too-many-fragments'
  /** Least-recently-updated datagram discarded to stay within `budgetBytes`. */
  | 'evicted-budget'
  /** Least-recently-updated datagram discarded to stay within `maxEntries`. */
  | 'evicted-entries';

export type CounterName = DropReason | 'fragments' | 'reassembled' | 'expired';

/** Every counter at zero; a literal so the compiler checks that no counter is missing. */
const ZERO_COUNTERS: ReassemblyCounters = Object.freeze({
  fragments: 0,
  reassembled: 0,
  expired: 0,
  'bad-offset': 0,
  empty: 0,
  unaligned: 0,
  'too-big': 0,
  duplicate: 0,
  'late-duplicate': 0,
  poisoned: 0,
  overlap: 0,
  'past-end': 0,
  'end-mismatch': 0,
  'too-many-fragments': 0,
  'evicted-budget': 0,
  'evicted-entries': 0,
});

export const COUNTER_NAMES: readonly CounterName[] = Object.freeze(
  Object.keys(ZERO_COUNTERS) as CounterName[],
);

/** `fragments`: fragments accepted into an entry; `reassembled`, `expired`: datagrams; the rest: drops. */
export type ReassemblyCounters = Readonly<Record<CounterName, number>>;

/** Drops that mean the datagram itself is malformed: later fragments of it are ignored for `poisonMs`. */
const POISONING: ReadonlySet<DropReason> = new Set<DropReason>([
  'overlap',
  'past-end',
  'end-mismatch',
  'too-many-fragments',
  'too-big',
]);

export interface ReassemblyConfig {
  /** Lifetime of a partial datagram from its first-arriving fragment, never extended (RFC 1122 §3.3.2). */
  readonly timeoutMs: number;
  /** Fragments per datagram (ping -s 60000 at MTU 1500 sends 41). */
  readonly maxFragments: number;
  /** Longest datagram, header (the `header` bytes of the offset-0 fragment) plus payload. */
  readonly maxDatagramLen: number;
  /** Header length assumed until the offset-0 fragment brings the real one. */
  readonly minHeaderLen: number;
  /** Global limit on the accounted weight of all partial datagrams. */
  readonly budgetBytes: number;
  /** Partial datagrams held at once. */
  readonly maxEntries: number;
  /** Weight of an entry besides its bytes: entry object, Map slot, key string, fragment array. */
  readonly entryOverhead: number;
  /** Weight of a fragment besides its bytes: record, Uint8Array, ArrayBuffer and its allocation. */
  readonly fragmentOverhead: number;
  /** How long fragments of a datagram discarded as malformed are ignored; 0 disables. */
  readonly poisonMs: number;
  /** How long fragments fitting inside a just-completed datagram are ignored; 0 disables. */
  readonly duplicateHoldMs: number;
  /** Keys remembered in each of the poisoned and completed tables (oldest forgotten first). */
  readonly maxRemembered: number;
}

/** IPv4 defaults; the IPv6 adapter sets `maxDatagramLen: 40 + 65535`, `minHeaderLen: 40` (README.md). */
export const DEFAULT_REASSEMBLY_CONFIG: ReassemblyConfig = Object.freeze({
  timeoutMs: 30_000,
  maxFragments: 64,
  maxDatagramLen: 65_535,
  minHeaderLen: 20,
  budgetBytes: 4 * 1024 * 1024,
  maxEntries: 128,
  // Measured on Node 20 (README.md): ~390-470 bytes per entry with a 31-character key, ~240-270 per
  // fragment; rounded up.
  entryOverhead: 512,
  fragmentOverhead: 320,
  poisonMs: 30_000,
  duplicateHoldMs: 1_000,
  maxRemembered: 256,
});

/** One fragment held: its own copy of the bytes. */
export interface HeldFragment {
  readonly offset: number;
  readonly data: Uint8Array;
  readonly more: boolean;
}

/** A partial datagram. */
export interface ReassemblyEntry {
  readonly created: number;
  readonly expires: number;
  /** Sorted by offset, pairwise disjoint. */
  readonly fragments: readonly HeldFragment[];
  /** Payload bytes held (the sum of the fragments' lengths). */
  readonly received: number;
  /** Payload length, known once the last fragment (more = false) arrived. */
  readonly end: number | undefined;
  /** The offset-0 fragment's header (a copy; empty if none was given); undefined until it arrives. */
  readonly header: Uint8Array | undefined;
  /** Accounted weight: bytes held plus overheads (`entryWeight`). */
  readonly weight: number;
}

export interface ReassemblyState {
  readonly config: ReassemblyConfig;
  /** Partial datagrams, least-recently-updated first. */
  readonly entries: ReadonlyMap<string, ReassemblyEntry>;
  /** Sum of the entries' weights; never above `config.budgetBytes`. */
  readonly bytes: number;
  /** Key -> until when its fragments are ignored (malformed datagrams), oldest first. */
  readonly poisoned: ReadonlyMap<string, number>;
  /** Key -> completed datagram's end and until when fragments inside it are ignored, oldest first. */
  readonly completed: ReadonlyMap<string, { readonly until: number; readonly end: number }>;
  readonly counters: ReassemblyCounters;
}

export interface FragmentEvent {
  readonly kind: 'fragment';
  readonly now: number;
  readonly key: string;
  /** Offset in bytes of `data` in the datagram's payload (fragmentable part). */
  readonly offset: number;
  /** The fragment's payload; copied if retained. */
  readonly data: Uint8Array;
  /** The MF / M flag. */
  readonly more: boolean;
  /** Opaque header (IPv4 header; IPv6 unfragmentable part) kept from the offset-0 fragment only. */
  readonly header?: Uint8Array;
}

export interface TickEvent {
  readonly kind: 'tick';
  readonly now: number;
}

export type ReassemblyEvent = FragmentEvent | TickEvent;

export type ReassemblyOutput =
  /** A complete datagram: `data` is one fresh buffer, `header` a fresh copy of the offset-0 header. */
  | {
      readonly kind: 'reassembled';
      readonly key: string;
      readonly header: Uint8Array;
      readonly data: Uint8Array;
    }
  /** `scope: 'datagram'` when every fragment held for `key` was discarded too. */
  | {
      readonly kind: 'dropped';
      readonly key: string;
      readonly reason: DropReason;
      readonly scope: 'fragment' | 'datagram';
    }
  /**
   * Reassembly time ran out. `header` and `data` (copies of the offset-0 fragment's header and
   * payload, for the ICMP quote) are present only if that fragment arrived: RFC 792 / RFC 1122
   * §3.3.2 / RFC 8200 §4.5 send Time Exceeded (code 1) only then.
   */
  | {
      readonly kind: 'expired';
      readonly key: string;
      readonly header?: Uint8Array;
      readonly data?: Uint8Array;
    };

const EMPTY = new Uint8Array(0);
/** Largest offset a 13-bit fragment offset field can express, in bytes. */
const MAX_OFFSET_FIELD = 8191 * 8;

function isCount(n: number, min: number): boolean {
  return Number.isSafeInteger(n) && n >= min;
}

/** A state with no partial datagram. Throws on a nonsensical configuration (a programmer error). */
export function initialReassembly(config: Partial<ReassemblyConfig> = {}): ReassemblyState {
  const c: ReassemblyConfig = Object.freeze({ ...DEFAULT_REASSEMBLY_CONFIG, ...config });
  const problems: string[] = [];
  if (!(Number.isFinite(c.timeoutMs) && c.timeoutMs > 0)) problems.push('timeoutMs must be > 0');
  for (const [name, min] of [
    ['maxFragments', 1],
    ['maxDatagramLen', 8],
    ['minHeaderLen', 0],
    ['budgetBytes', 1],
    ['maxEntries', 1],
    ['entryOverhead', 0],
    ['fragmentOverhead', 0],
    ['maxRemembered', 0],
  ] as const) {
    if (!isCount(c[name], min)) problems.push(`${name} must be an integer >= ${min}`);
  }
  for (const name of ['poisonMs', 'duplicateHoldMs'] as const) {
    if (!(Number.isFinite(c[name]) && c[name] >= 0)) problems.push(`${name} must be >= 0`);
  }
  if (c.minHeaderLen >= c.maxDatagramLen) problems.push('minHeaderLen must be below maxDatagramLen');
  // One datagram of the largest weight must fit once every other entry is evicted, so that eviction
  // always makes room and the budget holds after every step.
  if (c.budgetBytes < maxEntryWeight(c)) {
    problems.push(`budgetBytes must be >= ${maxEntryWeight(c)} (one largest datagram)`);
  }
  if (problems.length > 0) throw new RangeError(`reassembly config: ${problems.join('; ')}`);
  return Object.freeze({
    config: c,
    entries: new Map(),
    bytes: 0,
    poisoned: new Map(),
    completed: new Map(),
    counters: ZERO_COUNTERS,
  });
}

/** The heaviest an entry can get: header + payload are at most `maxDatagramLen` together. */
export function maxEntryWeight(c: ReassemblyConfig): number {
  return c.entryOverhead + c.maxFragments * c.fragmentOverhead + c.maxDatagramLen;
}

/** The accounted weight of an entry: bytes retained plus fixed per-entry and per-fragment overheads. */
export function entryWeight(
  c: ReassemblyConfig,
  fragments: number,
  received: number,
  headerLen: number,
): number {
  return c.entryOverhead + fragments * c.fragmentOverhead + received + headerLen;
}

// States are immutable and the driver asks after every packet: remember the answer per state.
const deadlines = new WeakMap<ReassemblyState, number | undefined>();

/** The earliest time `step` must be called with a tick (an entry or a remembered key expires). */
export function deadline(state: ReassemblyState): number | undefined {
  if (deadlines.has(state)) return deadlines.get(state);
  const d = computeDeadline(state);
  deadlines.set(state, d);
  return d;
}

function computeDeadline(state: ReassemblyState): number | undefined {
  let min: number | undefined;
  for (const e of state.entries.values()) if (min === undefined || e.expires < min) min = e.expires;
  // Remembered keys are appended with until = now + a constant, so the first one is the earliest.
  for (const until of [firstValue(state.poisoned), firstValue(state.completed)?.until]) {
    if (until !== undefined && (min === undefined || until < min)) min = until;
  }
  return min;
}

function firstValue<V>(m: ReadonlyMap<string, V>): V | undefined {
  for (const v of m.values()) return v;
  return undefined;
}

/** Feeds one event; returns the next state and what the driver must do. Never throws, never mutates. */
export function step(state: ReassemblyState, event: ReassemblyEvent): [ReassemblyState, ReassemblyOutput[]] {
  const w = new Work(state);
  w.expire(event.now);
  if (event.kind === 'fragment') w.fragment(event);
  return [w.finish(), w.outputs];
}

/**
 * The state being built by one step. Tables are copied on first write, so the input state is
 * never touched and untouched tables are shared with it.
 */
class Work {
  readonly c: ReassemblyConfig;
  readonly outputs: ReassemblyOutput[] = [];
  private entries: ReadonlyMap<string, ReassemblyEntry>;
  private poisoned: ReadonlyMap<string, number>;
  private completed: ReadonlyMap<string, { readonly until: number; readonly end: number }>;
  private bytes: number;
  private counters: Record<CounterName, number> | undefined;
  private own = { entries: false, poisoned: false, completed: false };

  constructor(private readonly prev: ReassemblyState) {
    this.c = prev.config;
    this.entries = prev.entries;
    this.poisoned = prev.poisoned;
    this.completed = prev.completed;
    this.bytes = prev.bytes;
  }

  finish(): ReassemblyState {
    const p = this.prev;
    if (
      this.entries === p.entries &&
      this.poisoned === p.poisoned &&
      this.completed === p.completed &&
      this.counters === undefined
    ) {
      return p;
    }
    return Object.freeze({
      config: this.c,
      entries: this.entries,
      bytes: this.bytes,
      poisoned: this.poisoned,
      completed: this.completed,
      counters: this.counters === undefined ? p.counters : Object.freeze(this.counters),
    });
  }

  private count(name: CounterName): void {
    this.counters ??= { ...this.prev.counters };
    this.counters[name] += 1;
  }

  private mutEntries(): Map<string, ReassemblyEntry> {
    if (!this.own.entries) {
      this.entries = new Map(this.entries);
      this.own.entries = true;
    }
    return this.entries as Map<string, ReassemblyEntry>;
  }

  private mutPoisoned(): Map<string, number> {
    if (!this.own.poisoned) {
      this.poisoned = new Map(this.poisoned);
      this.own.poisoned = true;
    }
    return this.poisoned as Map<string, number>;
  }

  private mutCompleted(): Map<string, { readonly until: number; readonly end: number }> {
    if (!this.own.completed) {
      this.completed = new Map(this.completed);
      this.own.completed = true;
    }
    return this.completed as Map<string, { readonly until: number; readonly end: number }>;
  }

  /** Active expiry (RFC 8200 §4.5: abandon reassembly after the timeout), and forgetting old keys. */
  expire(now: number): void {
    for (const [key, e] of this.entries) {
      if (e.expires > now) continue;
      this.removeEntry(key, e);
      this.count('expired');
      const first = e.fragments[0];
      if (e.header !== undefined && first !== undefined && first.offset === 0) {
        this.outputs.push({ kind: 'expired', key, header: copyOf(e.header), data: copyOf(first.data) });
      } else {
        this.outputs.push({ kind: 'expired', key });
      }
    }
    if (expiredFront(this.poisoned, (u) => u, now)) {
      const m = this.mutPoisoned();
      for (const [k, until] of m) {
        if (until > now) break;
        m.delete(k);
      }
    }
    if (expiredFront(this.completed, (r) => r.until, now)) {
      const m = this.mutCompleted();
      for (const [k, r] of m) {
        if (r.until > now) break;
        m.delete(k);
      }
    }
  }

  private removeEntry(key: string, e: ReassemblyEntry): void {
    this.mutEntries().delete(key);
    this.bytes -= e.weight;
  }

  private dropDatagram(key: string, e: ReassemblyEntry, reason: DropReason, now: number): void {
    this.removeEntry(key, e);
    this.count(reason);
    this.outputs.push({ kind: 'dropped', key, reason, scope: 'datagram' });
    if (POISONING.has(reason)) this.remember(this.mutPoisoned(), key, now + this.c.poisonMs, this.c.poisonMs);
  }

  private remember<V>(m: Map<string, V>, key: string, value: V, hold: number): void {
    m.delete(key);
    if (hold <= 0 || this.c.maxRemembered === 0) return;
    for (const k of m.keys()) {
      if (m.size < this.c.maxRemembered) break;
      m.delete(k);
    }
    m.set(key, value);
  }

  fragment(ev: FragmentEvent): void {
    const v = this.judge(ev);
    switch (v.kind) {
      case 'whole':
        this.count('reassembled');
        this.outputs.push({
          kind: 'reassembled',
          key: ev.key,
          header: copyOf(ev.header ?? EMPTY),
          data: copyOf(ev.data),
        });
        return;
      case 'drop-fragment':
        this.count(v.reason);
        this.outputs.push({ kind: 'dropped', key: ev.key, reason: v.reason, scope: 'fragment' });
        return;
      case 'drop-datagram':
        this.dropDatagram(ev.key, v.entry, v.reason, ev.now);
        return;
      case 'insert':
        this.insert(ev, v.entry, v.index);
        return;
      default:
        assertNever(v);
    }
  }

  /** The rules, in order; decides without changing anything. */
  private judge(ev: FragmentEvent): Verdict {
    const { key, now, offset: off, data, more } = ev;
    const len = data.length;
    if (!Number.isSafeInteger(off) || off < 0 || off % 8 !== 0 || off > MAX_OFFSET_FIELD) {
      return dropFragment('bad-offset');
    }
    // RFC 8200 §4.5 / RFC 6946: a whole datagram is processed on its own, whatever is held for its key.
    if (off === 0 && !more) return { kind: 'whole' };
    if (len === 0) return dropFragment('empty');
    // RFC 8200 §4.5: "that fragment must be discarded" when M = 1 and the length is not a multiple of 8.
    if (more && len % 8 !== 0) return dropFragment('unaligned');
    const end = off + len;

    const until = this.poisoned.get(key);
    if (until !== undefined && until > now) return dropFragment('poisoned');
    const done = this.completed.get(key);
    // Inside the datagram just completed: a copy. Anything else is a new datagram reusing the id.
    if (done !== undefined && done.until > now && end <= done.end && (more || end === done.end)) {
      return dropFragment('late-duplicate');
    }

    const entry = this.entries.get(key);
    const headerLen = off === 0 ? (ev.header?.length ?? 0) : (entry?.header?.length ?? this.c.minHeaderLen);
    const limit = this.c.maxDatagramLen - headerLen;
    // RFC 8200 §4.5: a fragment making the datagram longer than 65 535 octets "must be discarded".
    if (end > limit) return dropFragment('too-big');
    if (entry === undefined) return { kind: 'insert', entry, index: 0 };

    const frags = entry.fragments;
    const last = frags[frags.length - 1];
    const maxEnd = last === undefined ? 0 : last.offset + last.data.length;
    const drop = (reason: DropReason): Verdict => ({ kind: 'drop-datagram', reason, entry });
    // The offset-0 header is longer than assumed, and data already held no longer fits.
    if (off === 0 && entry.header === undefined && maxEnd > limit) return drop('too-big');
    if (entry.end !== undefined) {
      if (!more && end !== entry.end) return drop('end-mismatch');
      if (more && end > entry.end) return drop('past-end');
    } else if (!more && maxEnd > end) {
      return drop('past-end');
    }

    // Interval-set insertion: i is the first fragment starting at or after `off`.
    const i = lowerBound(frags, off);
    const next = frags[i];
    const prev = frags[i - 1];
    if (next !== undefined && next.offset === off && next.data.length === len && next.more === more) {
      // RFC 8200 §4.5 lets exact duplicates be dropped while keeping the datagram; a same-range
      // fragment with different bytes is the ambiguity RFC 5722 forbids, so it counts as overlap.
      return equalBytes(next.data, data) ? dropFragment('duplicate') : drop('overlap');
    }
    // RFC 5722 §4: "the entire datagram (and any constituent fragments) MUST be silently discarded".
    if (
      (next !== undefined && next.offset < end) ||
      (prev !== undefined && prev.offset + prev.data.length > off)
    ) {
      return drop('overlap');
    }
    if (frags.length >= this.c.maxFragments) return drop('too-many-fragments');
    return { kind: 'insert', entry, index: i };
  }

  /** Adds an accepted fragment at index `i`; completes the datagram or makes room and stores it. */
  private insert(ev: FragmentEvent, entry: ReassemblyEntry | undefined, i: number): void {
    const { key, now, offset: off, data, more } = ev;
    this.count('fragments');
    // Copy: the caller's receive buffer may be reused after this step (docs/ARCHITECTURE.md ownership).
    const held: HeldFragment = Object.freeze({ offset: off, data: copyOf(data), more });
    const old = entry?.fragments ?? [];
    const fragments = Object.freeze([...old.slice(0, i), held, ...old.slice(i)]);
    const received = (entry?.received ?? 0) + data.length;
    const end = more ? entry?.end : off + data.length;
    const header = off === 0 ? copyOf(ev.header ?? EMPTY) : entry?.header;
    if (entry !== undefined) this.removeEntry(key, entry);
    if (this.completed.has(key)) this.mutCompleted().delete(key); // a new datagram reusing the id

    if (end !== undefined && received === end) {
      // Disjoint fragments inside [0, end) whose lengths sum to end cover it: complete (RFC 815 §3 step 8).
      const out = new Uint8Array(end);
      for (const f of fragments) out.set(f.data, f.offset);
      this.count('reassembled');
      this.outputs.push({ kind: 'reassembled', key, header: copyOf(header ?? EMPTY), data: out });
      this.remember(
        this.mutCompleted(),
        key,
        { until: now + this.c.duplicateHoldMs, end },
        this.c.duplicateHoldMs,
      );
      return;
    }

    const weight = entryWeight(this.c, fragments.length, received, header?.length ?? 0);
    const entries = this.mutEntries();
    // Make room, least-recently-updated first; the entry being updated was removed above, and one
    // entry alone always fits (checked by initialReassembly).
    for (const [k, e] of entries) {
      if (entries.size < this.c.maxEntries) break;
      this.dropDatagram(k, e, 'evicted-entries', now);
    }
    for (const [k, e] of entries) {
      if (this.bytes + weight <= this.c.budgetBytes) break;
      this.dropDatagram(k, e, 'evicted-budget', now);
    }
    const created = entry?.created ?? now;
    entries.set(
      key,
      Object.freeze({
        created,
        expires: entry?.expires ?? now + this.c.timeoutMs,
        fragments,
        received,
        end,
        header,
        weight,
      }),
    );
    this.bytes += weight;
  }
}

type Verdict =
  | { readonly kind: 'whole' }
  | { readonly kind: 'drop-fragment'; readonly reason: DropReason }
  | { readonly kind: 'drop-datagram'; readonly reason: DropReason; readonly entry: ReassemblyEntry }
  | { readonly kind: 'insert'; readonly entry: ReassemblyEntry | undefined; readonly index: number };

function dropFragment(reason: DropReason): Verdict {
  return { kind: 'drop-fragment', reason };
}

function expiredFront<V>(m: ReadonlyMap<string, V>, until: (v: V) => number, now: number): boolean {
  const v = firstValue(m);
  return v !== undefined && until(v) <= now;
}

function lowerBound(frags: readonly HeldFragment[], off: number): number {
  let lo = 0;
  let hi = frags.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (frags[mid]!.offset < off) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A private copy of bytes we retain or hand out (never alias the caller's buffer or our state's). */
function copyOf(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c;
}
