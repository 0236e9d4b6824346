/**
 * Connection tracking as a pure core: flows keyed by their 5-tuple in both directions, classified
 * new / established / related / invalid, TCP followed through its handshake and close with
 * sequence-window checks, timeouts per state, a bounded table with early drop.
 *
 * Flows. An entry has an original tuple (as its first packet carried it) and a reply tuple (what the
 * answers carry: the inverse of the original, or what NAT made of it, src/router/nat.ts); a packet
 * matches either. A tuple is (protocol, src, dst, srcPort, dstPort); ICMP echo flows are keyed by the
 * identifier, carried in `srcPort` by requests and in `dstPort` by replies, so that the inverse of a
 * request's tuple is its reply's (Linux keys them by identifier and type). One corner is lost: while
 * A pings B with identifier 0, B's own pings to A with identifier 0 look like replies of A's flow and
 * are `invalid` (icmp-type). Protocols other than TCP, UDP and ICMP(v6) echo are tracked by their
 * addresses alone.
 *
 * States (the verdict): a packet of an unknown flow that may start one is `new` and is not stored
 * until `ctConfirm` (Linux's unconfirmed entries: a packet the firewall drops leaves no entry); the
 * original-direction packets of a flow that has had no reply yet stay `new`; every other packet of a
 * tracked flow is `established`; an ICMP error quoting a packet of a tracked flow is `related`; a
 * packet that breaks the flow's rules is `invalid` and changes nothing.
 *
 * TCP. States after Linux's nf_conntrack_proto_tcp (SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT,
 * CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, SYN_SENT2 for a simultaneous open) with its default
 * timeouts; the transitions are written here from RFC 9293 §3.3.2 (the connection state diagram):
 * a flow starts only with a SYN (no mid-stream pickup), a SYN-ACK answers it, the originator's ACK
 * establishes it, FINs and the ACKs that cover them close it, an acceptable RST ends it (in SYN_SENT
 * only one that acknowledges the SYN, RFC 9293 §3.10.7.3), and a SYN in TIME_WAIT or CLOSE reopens it.
 * Every segment is checked against the windows in the manner of Guido van Rooij's "Real Stateful TCP
 * Packet Filtering in IP Filter": per direction the highest sequence sent (`td_end`), the highest
 * right edge the peer advertised (`td_maxend`) and the largest window sent (`td_maxwin`), with window
 * scaling when both SYNs carried the option (RFC 7323 §2.2, §2.3). A segment is acceptable when
 *   I   seq <= sender.td_maxend                  (it starts inside what the receiver allowed)
 *   II  end >= sender.td_end - receiver.td_maxwin (it is not older than a window)
 *   III ack <= receiver.td_end                   (it acknowledges nothing never sent)
 *   IV  ack >= receiver.td_end - sender.td_maxwin (or 66000 before a window is known)
 * so an out-of-window RST or data segment is `invalid`.
 *
 * UDP: unreplied 30 s, then assured at the first reply, 120 s (Linux's defaults). ICMP echo: 30 s.
 * Other protocols: 600 s. ICMP errors are `related` to the flow whose packet they quote (the quoted
 * tuple reversed is a tuple of the flow, the error's destination is the quoted packet's source, and a
 * quoted TCP sequence number lies in the sender's window, as OpenBSD pf checks); they never refresh it.
 *
 * Bounds: at most `maxEntries` entries (65,536 by default) and `maxBytes` bytes of entries. When full
 * and a new flow is confirmed, expired entries go first, then the oldest unassured entry (Linux's early
 * drop; assured = TCP established or beyond, UDP or another protocol replied); an assured entry is never
 * evicted: with no unassured entry left the new flow is refused. Evictions, refusals and expiries are
 * counted, and invalid packets per reason.
 *
 * Memory and purity. The table is struct-of-arrays in typed arrays with an open-addressing index.
 * Measured (bench/conntrack.ts, bench/results/conntrack.json): 104 bytes per IPv4 flow held in V8
 * (1,000,000 flows in 104 MB; 112 with masquerade, 192 per IPv6 flow) and 730,000 new flows/s
 * through `ctStep` + `ctConfirm`. A persistent table as the TCP core keeps its connections (the hash
 * trie of src/tcp/core/pmap.ts, a frozen record per flow under both tuple keys) held 588 bytes per
 * flow and took 143,000 inserts/s before any classification: 5.7 times the memory, a fifth of the
 * speed, and 1,000,000 flows would not fit the 256 MB. So this is the one owned, mutable core
 * of the router: `ctStep`, `ctConfirm`, `ctTick` and `ctRemove` update the table they are given and
 * return it. It stays deterministic (no clock, no randomness: time comes in `now`, the hash seed in
 * the config), so the same events on the same table give the same verdicts, and `ctClone` takes a
 * snapshot that can be stepped again and compared (the tests replay this way). Never throws on
 * packet input.
 */
import type { Ipv4Addr, Ipv6Addr } from '../addr.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../ipproto.js';
import { type Seq, seqGe, seqGt, seqLe } from '../tcp/seq.js';
import {
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  isIcmp4ErrorType,
  isIcmp6ErrorType,
  type PacketInfo,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from './packet-info.js';

export type CtState = 'new' | 'established' | 'related' | 'invalid';

/** The per-flow state, for inspection: TCP states as Linux names them, then the other protocols'. */
export const CT_FLOW_STATES = [
  'syn-sent',
  'syn-recv',
  'established',
  'fin-wait',
  'close-wait',
  'last-ack',
  'time-wait',
  'close',
  'syn-sent2',
  'udp-unreplied',
  'udp-replied',
  'icmp',
  'generic',
] as const;
export type CtFlowState = (typeof CT_FLOW_STATES)[number];

/** Why a packet is `invalid`; counted under `conntrack/<reason>`. */
export const CT_INVALID_REASONS = [
  /** A TCP flag combination no TCP sends (SYN+FIN, SYN+RST, no ACK outside SYN and RST, ...). */
  'tcp-bad-flags',
  /** A TCP segment other than a SYN for a flow not tracked (no mid-stream pickup). */
  'tcp-no-flow',
  /** A segment the flow's state does not allow (an ACK before the SYN-ACK, a SYN when established). */
  'tcp-state',
  /** A segment outside the windows (checks I-IV). */
  'tcp-out-of-window',
  /** An ICMP echo reply without its request. */
  'icmp-no-flow',
  /** An ICMP echo of the wrong kind for its direction. */
  'icmp-type',
  /** An ICMP error whose quoted packet cannot be summarised. */
  'icmp-error-unquoted',
  /** An ICMP error about no tracked flow. */
  'icmp-error-no-flow',
  /** An ICMP error whose destination is not the quoted packet's source. */
  'icmp-error-mismatch',
  /** An ICMP error quoting a TCP sequence number outside the sender's window. */
  'icmp-error-out-of-window',
] as const;
export type CtInvalidReason = (typeof CT_INVALID_REASONS)[number];

export interface CtVerdict {
  readonly state: CtState;
  /** The entry the packet belongs to, or -1: a flow not yet confirmed, an untracked packet, an invalid one without a flow. */
  readonly entry: number;
  /** 0: the original direction, 1: the reply direction (for `related`: the direction the error travels). */
  readonly dir: 0 | 1;
  readonly reason?: CtInvalidReason;
  /**
   * True for a `new` packet that no flow can be made of: ICMP messages other than echo and errors
   * (NDP, router advertisements, timestamps). Confirming it does nothing.
   */
  readonly untracked?: boolean;
}

/** Timeouts in milliseconds (Linux's defaults, net/netfilter/nf_conntrack_proto_*.c). */
export interface CtTimeouts {
  readonly synSent: number;
  readonly synRecv: number;
  readonly established: number;
  readonly finWait: number;
  readonly closeWait: number;
  readonly lastAck: number;
  readonly timeWait: number;
  readonly close: number;
  readonly udpUnreplied: number;
  readonly udpAssured: number;
  readonly icmp: number;
  readonly generic: number;
}

export const CT_DEFAULT_TIMEOUTS: CtTimeouts = {
  synSent: 120_000,
  synRecv: 60_000,
  established: 432_000_000,
  finWait: 120_000,
  closeWait: 60_000,
  lastAck: 30_000,
  timeWait: 120_000,
  close: 10_000,
  udpUnreplied: 30_000,
  udpAssured: 120_000,
  icmp: 30_000,
  generic: 600_000,
};

export interface CtConfig {
  /** At most this many entries (65,536 by default, as the issue asks). */
  readonly maxEntries?: number;
  /**
   * At most this many bytes of entries, counted at CT_ENTRY_BYTES each (IPv6 ones CT_ENTRY_BYTES_V6);
   * 64 MiB by default. The arrays grow by doubling up to the bound, so while the table grows the
   * memory held can be up to twice what its entries count.
   */
  readonly maxBytes?: number;
  readonly timeouts?: Partial<CtTimeouts>;
  /** Seed of the table's hash: keep it secret so that flows cannot be chosen to collide. */
  readonly hashSeed?: number;
}

export interface CtCounters {
  /** Entries confirmed. */
  created: number;
  /** Entries that timed out. */
  expired: number;
  /** Unassured entries dropped to make room (early drop). */
  evicted: number;
  /** New flows refused: the table full of assured entries. */
  refused: number;
  /** New flows refused because their reply tuple is another flow's. */
  clashes: number;
  /** Entries removed by `ctRemove` (the caller dropped the packet that made them, or a reopened TCP flow). */
  removed: number;
  invalid: Record<CtInvalidReason, number>;
}

/** Why an entry went away, for the removal hook (NAT releases its mappings). */
export type CtRemoval = 'expired' | 'evicted' | 'removed' | 'aborted';

/** A tuple in key form: for ICMP echo the identifier is `srcPort` of requests and `dstPort` of replies. */
export interface CtTuple {
  readonly src: Ipv4Addr | Ipv6Addr;
  readonly dst: Ipv4Addr | Ipv6Addr;
  readonly srcPort: number;
  readonly dstPort: number;
}

/** What an entry holds, for inspection and for NAT. */
export interface CtEntryInfo {
  readonly version: 4 | 6;
  readonly protocol: number;
  readonly original: CtTuple;
  readonly reply: CtTuple;
  readonly state: CtFlowState;
  readonly assured: boolean;
  readonly seenReply: boolean;
  /** When the entry times out unless a packet refreshes it (ms). */
  readonly expires: number;
}

/** Bytes per entry: the entry arrays (87) and four index slots (16); the bench measures it in V8. */
export const CT_ENTRY_BYTES = 103;
/** An IPv6 entry also holds its four addresses (64 bytes) in the address pool. */
export const CT_ENTRY_BYTES_V6 = CT_ENTRY_BYTES + 64;

// Flow states, stored as a byte; each is also a timeout class with its own FIFO list.
const S_SYN_SENT = 0;
const S_SYN_RECV = 1;
const S_ESTABLISHED = 2;
const S_FIN_WAIT = 3;
const S_CLOSE_WAIT = 4;
const S_LAST_ACK = 5;
const S_TIME_WAIT = 6;
const S_CLOSE = 7;
const S_SYN_SENT2 = 8;
const S_UDP_UNREPLIED = 9;
const S_UDP_REPLIED = 10;
const S_ICMP = 11;
const S_GENERIC = 12;
const NCLASS = 13;

// Entry flags.
const F_SEEN_REPLY = 1;
const F_ASSURED = 2;
const F_V6 = 4;
const F_USED = 8;

// Per-direction TCP flags.
const D_WSCALE = 1;
const D_FIN = 2;
const D_FIN_ACKED = 4;

/** Linux's MAXACKWINDOW before the sender's window is known. */
const MAX_ACK_WINDOW_UNKNOWN = 66000;
/** A quoted TCP segment may start up to one IP datagram before its end. */
const MAX_SEGMENT = 65535;

const INITIAL_CAPACITY = 1024;

function timeoutsArray(t: CtTimeouts): Float64Array {
  const a = new Float64Array(NCLASS);
  a[S_SYN_SENT] = t.synSent;
  a[S_SYN_RECV] = t.synRecv;
  a[S_ESTABLISHED] = t.established;
  a[S_FIN_WAIT] = t.finWait;
  a[S_CLOSE_WAIT] = t.closeWait;
  a[S_LAST_ACK] = t.lastAck;
  a[S_TIME_WAIT] = t.timeWait;
  a[S_CLOSE] = t.close;
  a[S_SYN_SENT2] = t.synSent;
  a[S_UDP_UNREPLIED] = t.udpUnreplied;
  a[S_UDP_REPLIED] = t.udpAssured;
  a[S_ICMP] = t.icmp;
  a[S_GENERIC] = t.generic;
  return a;
}

// ---------------------------------------------------------------------------------------------------
// Hashing and the open-addressing index.

/** Mixes one 32-bit word into a running hash (multiply and xor-shift; seeded, not cryptographic). */
function mix(h: number, k: number): number {
  const x = Math.imul(h ^ k, 0x9e3779b1);
  return x ^ (x >>> 15);
}

function finalMix(h: number): number {
  let x = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The hash of an IPv4 tuple. */
export function hashTuple4(seed: number, proto: number, src: number, dst: number, ports: number): number {
  return finalMix(mix(mix(mix(mix(seed, proto), src), dst), ports));
}

function addrWords(h: number, a: Uint8Array, off: number): number {
  let x = h;
  for (let i = off; i < off + 16; i += 4)
    x = mix(x, (a[i]! << 24) | (a[i + 1]! << 16) | (a[i + 2]! << 8) | a[i + 3]!);
  return x;
}

/**
 * A set of non-negative int32 values in an open-addressing table with linear probing, kept at most
 * half full; the caller probes it directly (`slots`, `mask`) and gives the hash of every value it
 * inserts or removes. Several values may share a hash (a multimap). Deletion shifts the following run
 * back (no tombstones), which needs each value's hash again: `hashOf`.
 */
export class IntIndex {
  slots: Int32Array;
  mask: number;
  size = 0;

  constructor(
    private readonly hashOf: (value: number) => number,
    minSlots = 16,
  ) {
    let n = 16;
    while (n < minSlots) n *= 2;
    this.slots = new Int32Array(n).fill(-1);
    this.mask = n - 1;
  }

  insert(value: number, hash: number): void {
    if ((this.size + 1) * 2 > this.slots.length) this.resize(this.slots.length * 2);
    const slots = this.slots;
    let i = hash & this.mask;
    while (slots[i]! >= 0) i = (i + 1) & this.mask;
    slots[i] = value;
    this.size++;
  }

  /** Removes `value` (inserted with `hash`); false when absent. */
  remove(value: number, hash: number): boolean {
    const slots = this.slots;
    const mask = this.mask;
    let i = hash & mask;
    for (;;) {
      const v = slots[i]!;
      if (v < 0) return false;
      if (v === value) break;
      i = (i + 1) & mask;
    }
    // Shift back every later value of the run whose home is not cyclically in (i, j].
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const w = slots[j]!;
      if (w < 0) break;
      const home = this.hashOf(w) & mask;
      const between = i <= j ? i < home && home <= j : i < home || home <= j;
      if (!between) {
        slots[i] = w;
        i = j;
      }
    }
    slots[i] = -1;
    this.size--;
    return true;
  }

  /** Bytes of the slots. */
  get bytes(): number {
    return this.slots.byteLength;
  }

  clone(hashOf: (value: number) => number): IntIndex {
    const c = new IntIndex(hashOf);
    c.slots = this.slots.slice();
    c.mask = this.mask;
    c.size = this.size;
    return c;
  }

  private resize(n: number): void {
    const old = this.slots;
    this.slots = new Int32Array(n).fill(-1);
    this.mask = n - 1;
    for (let i = 0; i < old.length; i++) {
      const v = old[i]!;
      if (v < 0) continue;
      let k = this.hashOf(v) & this.mask;
      while (this.slots[k]! >= 0) k = (k + 1) & this.mask;
      this.slots[k] = v;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The table.

/**
 * The connection tracking table. Owned and mutable (see the module comment): treat it as opaque and
 * go through the `ct*` functions; `ctClone` for a snapshot.
 */
export class Conntrack {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly seed: number;
  readonly timeouts: Float64Array;
  readonly timeoutConfig: CtTimeouts;
  counters: CtCounters;
  /** Called when an entry goes away (NAT releases the mappings in its tags). */
  onRemove: ((entry: number, now: number, why: CtRemoval) => void) | undefined;

  /** @internal entry arrays, indexed by entry (or 2 × entry + direction) */
  capacity = 0;
  count = 0;
  count6 = 0;
  oSrc = new Uint32Array(0);
  oDst = new Uint32Array(0);
  rSrc = new Uint32Array(0);
  rDst = new Uint32Array(0);
  /** srcPort << 16 | dstPort of the original (2e) and reply (2e + 1) tuples. */
  ports = new Uint32Array(0);
  proto = new Uint8Array(0);
  state = new Uint8Array(0);
  flags = new Uint8Array(0);
  tdEnd = new Uint32Array(0);
  tdMaxend = new Uint32Array(0);
  tdMaxwin = new Uint32Array(0);
  tdScale = new Uint8Array(0);
  dflags = new Uint8Array(0);
  seen = new Float64Array(0);
  tPrev = new Int32Array(0);
  tNext = new Int32Array(0);
  uPrev = new Int32Array(0);
  uNext = new Int32Array(0);
  /** Two words for the NAT: the mappings of the source and destination translations, -1 for none. */
  tagA = new Int32Array(0);
  tagB = new Int32Array(0);
  /** IPv6 addresses, 64 bytes per slot (original src, dst, reply src, dst); `oSrc` holds the slot. */
  pool6 = new Uint8Array(0);
  free6: number[] = [];
  pool6Used = 0;
  freeHead = -1;
  head = new Int32Array(NCLASS).fill(-1);
  tail = new Int32Array(NCLASS).fill(-1);
  uHead = -1;
  uTail = -1;
  index: IntIndex;

  constructor(config: CtConfig = {}) {
    const maxEntries = config.maxEntries ?? 65_536;
    if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > 0x3fff_ffff)
      throw new RangeError(`conntrack: maxEntries ${maxEntries}`);
    this.maxEntries = maxEntries;
    this.maxBytes = config.maxBytes ?? 64 * 1024 * 1024;
    if (this.maxBytes < CT_ENTRY_BYTES_V6) throw new RangeError(`conntrack: maxBytes ${this.maxBytes}`);
    this.seed = (config.hashSeed ?? 0x5eed) | 0;
    this.timeoutConfig = { ...CT_DEFAULT_TIMEOUTS, ...config.timeouts };
    for (const [k, v] of Object.entries(this.timeoutConfig))
      if (!(v > 0)) throw new RangeError(`conntrack: timeout ${k} must be positive`);
    this.timeouts = timeoutsArray(this.timeoutConfig);
    this.counters = emptyCounters();
    this.onRemove = undefined;
    this.index = new IntIndex((v) => this.hashOfKey(v), 64);
    this.grow(Math.min(INITIAL_CAPACITY, this.limitEntries()));
  }

  /** The entry count the bounds allow at most. */
  limitEntries(): number {
    return Math.min(this.maxEntries, Math.floor(this.maxBytes / CT_ENTRY_BYTES));
  }

  get bytes(): number {
    return this.count * CT_ENTRY_BYTES + this.count6 * (CT_ENTRY_BYTES_V6 - CT_ENTRY_BYTES);
  }

  /** The hash of the tuple of key `v` (entry << 1 | direction), as stored. */
  hashOfKey(v: number): number {
    const e = v >>> 1;
    const d = v & 1;
    const p = this.proto[e]!;
    const ports = this.ports[2 * e + d]!;
    if ((this.flags[e]! & F_V6) === 0) {
      return d === 0
        ? hashTuple4(this.seed, p, this.oSrc[e]!, this.oDst[e]!, ports)
        : hashTuple4(this.seed, p, this.rSrc[e]!, this.rDst[e]!, ports);
    }
    const off = this.oSrc[e]! * 64 + d * 32;
    return finalMix(
      mix(addrWords(addrWords(mix(this.seed, p | 0x100), this.pool6, off), this.pool6, off + 16), ports),
    );
  }

  grow(n: number): void {
    const old = this.capacity;
    if (n <= old) return;
    const u32 = (a: Uint32Array, k = 1) => {
      const b = new Uint32Array(n * k);
      b.set(a);
      return b;
    };
    const u8 = (a: Uint8Array, k = 1) => {
      const b = new Uint8Array(n * k);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.oSrc = u32(this.oSrc);
    this.oDst = u32(this.oDst);
    this.rSrc = u32(this.rSrc);
    this.rDst = u32(this.rDst);
    this.ports = u32(this.ports, 2);
    this.proto = u8(this.proto);
    this.state = u8(this.state);
    this.flags = u8(this.flags);
    this.tdEnd = u32(this.tdEnd, 2);
    this.tdMaxend = u32(this.tdMaxend, 2);
    this.tdMaxwin = u32(this.tdMaxwin, 2);
    this.tdScale = u8(this.tdScale, 2);
    this.dflags = u8(this.dflags, 2);
    const seen = new Float64Array(n);
    seen.set(this.seen);
    this.seen = seen;
    this.tPrev = i32(this.tPrev);
    this.tNext = i32(this.tNext);
    this.uPrev = i32(this.uPrev);
    this.uNext = i32(this.uNext);
    this.tagA = i32(this.tagA);
    this.tagB = i32(this.tagB);
    // The new entries join the free list (linked through tNext), lowest index first.
    for (let e = n - 1; e >= old; e--) {
      this.tNext[e] = this.freeHead;
      this.freeHead = e;
    }
    this.capacity = n;
  }

  // Lists: one FIFO per timeout class (ordered by `seen`), and the unassured entries by age.

  linkTimer(e: number, c: number): void {
    const t = this.tail[c]!;
    this.tPrev[e] = t;
    this.tNext[e] = -1;
    if (t >= 0) this.tNext[t] = e;
    else this.head[c] = e;
    this.tail[c] = e;
  }

  unlinkTimer(e: number, c: number): void {
    const p = this.tPrev[e]!;
    const n = this.tNext[e]!;
    if (p >= 0) this.tNext[p] = n;
    else this.head[c] = n;
    if (n >= 0) this.tPrev[n] = p;
    else this.tail[c] = p;
  }

  linkUnassured(e: number): void {
    const t = this.uTail;
    this.uPrev[e] = t;
    this.uNext[e] = -1;
    if (t >= 0) this.uNext[t] = e;
    else this.uHead = e;
    this.uTail = e;
  }

  unlinkUnassured(e: number): void {
    const p = this.uPrev[e]!;
    const n = this.uNext[e]!;
    if (p >= 0) this.uNext[p] = n;
    else this.uHead = n;
    if (n >= 0) this.uPrev[n] = p;
    else this.uTail = p;
  }

  /** Marks `e` seen at `now` in state `s`: its timer restarts (kept in order even if `now` goes back). */
  touch(e: number, s: number, now: number): void {
    this.unlinkTimer(e, this.state[e]!);
    const t = this.tail[s]!;
    this.state[e] = s;
    this.seen[e] = t >= 0 && this.seen[t]! > now ? this.seen[t]! : now;
    this.linkTimer(e, s);
  }

  expiresAt(e: number): number {
    return this.seen[e]! + this.timeouts[this.state[e]!]!;
  }

  assure(e: number): void {
    const f = this.flags[e]!;
    if ((f & F_ASSURED) !== 0) return;
    this.flags[e] = f | F_ASSURED;
    this.unlinkUnassured(e);
  }

  remove(e: number, now: number, why: CtRemoval): void {
    const f = this.flags[e]!;
    if ((f & F_USED) === 0) return;
    this.index.remove(e << 1, this.hashOfKey(e << 1));
    this.index.remove((e << 1) | 1, this.hashOfKey((e << 1) | 1));
    this.unlinkTimer(e, this.state[e]!);
    if ((f & F_ASSURED) === 0) this.unlinkUnassured(e);
    if ((f & F_V6) !== 0) {
      this.free6.push(this.oSrc[e]!);
      this.count6--;
    }
    this.onRemove?.(e, now, why);
    this.flags[e] = 0;
    this.tagA[e] = -1;
    this.tagB[e] = -1;
    this.tNext[e] = this.freeHead;
    this.freeHead = e;
    this.count--;
  }

  /** Removes every entry whose timer ran out by `now`; the number removed. */
  expire(now: number): number {
    let n = 0;
    for (let c = 0; c < NCLASS; c++) {
      const to = this.timeouts[c]!;
      for (let e = this.head[c]!; e >= 0 && this.seen[e]! + to <= now; e = this.head[c]!) {
        this.remove(e, now, 'expired');
        n++;
      }
    }
    this.counters.expired += n;
    return n;
  }

  deadline(): number | null {
    let best = Number.POSITIVE_INFINITY;
    for (let c = 0; c < NCLASS; c++) {
      const e = this.head[c]!;
      if (e >= 0) best = Math.min(best, this.seen[e]! + this.timeouts[c]!);
    }
    return best === Number.POSITIVE_INFINITY ? null : best;
  }

  /** The key (entry << 1 | direction) of a tuple, or -1. */
  find4(proto: number, src: number, dst: number, ports: number): number {
    const slots = this.index.slots;
    const mask = this.index.mask;
    for (let i = hashTuple4(this.seed, proto, src, dst, ports) & mask; ; i = (i + 1) & mask) {
      const v = slots[i]!;
      if (v < 0) return -1;
      const e = v >>> 1;
      if (this.proto[e] !== proto || (this.flags[e]! & F_V6) !== 0 || this.ports[v] !== ports) continue;
      if (
        (v & 1) === 0
          ? this.oSrc[e] === src && this.oDst[e] === dst
          : this.rSrc[e] === src && this.rDst[e] === dst
      )
        return v;
    }
  }

  find6(proto: number, src: Uint8Array, dst: Uint8Array, ports: number): number {
    const slots = this.index.slots;
    const mask = this.index.mask;
    const h = finalMix(mix(addrWords(addrWords(mix(this.seed, proto | 0x100), src, 0), dst, 0), ports));
    const pool = this.pool6;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = slots[i]!;
      if (v < 0) return -1;
      const e = v >>> 1;
      if (this.proto[e] !== proto || (this.flags[e]! & F_V6) === 0 || this.ports[v] !== ports) continue;
      const off = this.oSrc[e]! * 64 + (v & 1) * 32;
      let same = true;
      for (let k = 0; k < 16 && same; k++) same = pool[off + k] === src[k] && pool[off + 16 + k] === dst[k];
      if (same) return v;
    }
  }

  find(
    version: 4 | 6,
    proto: number,
    src: Ipv4Addr | Ipv6Addr,
    dst: Ipv4Addr | Ipv6Addr,
    ports: number,
  ): number {
    return version === 4
      ? this.find4(proto, src as number, dst as number, ports)
      : this.find6(proto, src as Uint8Array, dst as Uint8Array, ports);
  }

  /** `find`, treating an entry whose timer ran out as gone (and removing it). */
  lookup(
    version: 4 | 6,
    proto: number,
    src: Ipv4Addr | Ipv6Addr,
    dst: Ipv4Addr | Ipv6Addr,
    ports: number,
    now: number,
  ): number {
    const v = this.find(version, proto, src, dst, ports);
    if (v < 0) return -1;
    if (this.expiresAt(v >>> 1) <= now) {
      this.remove(v >>> 1, now, 'expired');
      this.counters.expired++;
      return -1;
    }
    return v;
  }

  tuple(e: number, d: 0 | 1): CtTuple {
    const p = this.ports[2 * e + d]!;
    if ((this.flags[e]! & F_V6) !== 0) {
      const off = this.oSrc[e]! * 64 + d * 32;
      return {
        src: this.pool6.slice(off, off + 16) as Ipv6Addr,
        dst: this.pool6.slice(off + 16, off + 32) as Ipv6Addr,
        srcPort: p >>> 16,
        dstPort: p & 0xffff,
      };
    }
    return d === 0
      ? {
          src: this.oSrc[e]! as Ipv4Addr,
          dst: this.oDst[e]! as Ipv4Addr,
          srcPort: p >>> 16,
          dstPort: p & 0xffff,
        }
      : {
          src: this.rSrc[e]! as Ipv4Addr,
          dst: this.rDst[e]! as Ipv4Addr,
          srcPort: p >>> 16,
          dstPort: p & 0xffff,
        };
  }
}

function emptyCounters(): CtCounters {
  const invalid = {} as Record<CtInvalidReason, number>;
  for (const r of CT_INVALID_REASONS) invalid[r] = 0;
  return { created: 0, expired: 0, evicted: 0, refused: 0, clashes: 0, removed: 0, invalid };
}

// ---------------------------------------------------------------------------------------------------
// Tuples of packets.

const enum Kind {
  Tcp = 0,
  Udp = 1,
  Echo = 2,
  Generic = 3,
  /** ICMP that is neither echo nor an error: not tracked. */
  Untracked = 4,
  IcmpError = 5,
}

function kindOf(info: PacketInfo): Kind {
  const p = info.protocol;
  if (p === IPPROTO_TCP) return Kind.Tcp;
  if (p === IPPROTO_UDP) return Kind.Udp;
  if ((info.version === 4 && p === IPPROTO_ICMP) || (info.version === 6 && p === IPPROTO_ICMPV6)) {
    const t = info.icmpType;
    if (info.version === 4 ? isIcmp4ErrorType(t) : isIcmp6ErrorType(t)) return Kind.IcmpError;
    return isEchoRequest(info) || isEchoReply(info) ? Kind.Echo : Kind.Untracked;
  }
  return Kind.Generic;
}

function isEchoRequest(info: PacketInfo): boolean {
  return info.version === 4 ? info.icmpType === ICMP_ECHO_REQUEST : info.icmpType === ICMPV6_ECHO_REQUEST;
}

function isEchoReply(info: PacketInfo): boolean {
  return info.version === 4 ? info.icmpType === ICMP_ECHO_REPLY : info.icmpType === ICMPV6_ECHO_REPLY;
}

/** The ports word of a packet's tuple (srcPort << 16 | dstPort, ICMP echo identifiers as the module says). */
function portsOf(info: PacketInfo, kind: Kind): number {
  switch (kind) {
    case Kind.Tcp:
    case Kind.Udp:
      return ((info.srcPort << 16) | info.dstPort) >>> 0;
    case Kind.Echo:
      return isEchoRequest(info) ? (info.icmpId << 16) >>> 0 : info.icmpId & 0xffff;
    default:
      return 0;
  }
}

/** The key-form tuple of a packet (what `ctConfirm` stores as the original tuple). */
export function ctTupleOf(info: PacketInfo): CtTuple {
  const ports = portsOf(info, kindOf(info));
  return { src: info.src, dst: info.dst, srcPort: ports >>> 16, dstPort: ports & 0xffff };
}

// ---------------------------------------------------------------------------------------------------
// The API.

export function ctCreate(config: CtConfig = {}): Conntrack {
  return new Conntrack(config);
}

function verdict(state: CtState, entry: number, dir: 0 | 1): CtVerdict {
  return { state, entry, dir };
}

function invalid(ct: Conntrack, reason: CtInvalidReason, entry = -1, dir: 0 | 1 = 0): CtVerdict {
  ct.counters.invalid[reason]++;
  return { state: 'invalid', entry, dir, reason };
}

/**
 * Classifies one packet and updates its flow (window data, state, timer). A packet of an unknown flow
 * that may start one is `new` with entry -1 and nothing is stored: `ctConfirm` stores it once the
 * packet is accepted. Mutates and returns `ct` (module comment).
 */
export function ctStep(ct: Conntrack, info: PacketInfo, now: number): [Conntrack, CtVerdict] {
  const kind = kindOf(info);
  if (kind === Kind.IcmpError) return [ct, related(ct, info, now)];
  if (kind === Kind.Untracked) return [ct, { state: 'new', entry: -1, dir: 0, untracked: true }];
  const ports = portsOf(info, kind);
  const v = ct.lookup(info.version, info.protocol, info.src, info.dst, ports, now);
  if (v < 0) return [ct, unknownFlow(ct, info, kind)];
  const e = v >>> 1;
  const d = (v & 1) as 0 | 1;
  switch (kind) {
    case Kind.Tcp:
      return [ct, tcpPacket(ct, e, d, info, now)];
    case Kind.Echo:
      if (d === 0 ? !isEchoRequest(info) : !isEchoReply(info)) return [ct, invalid(ct, 'icmp-type', e, d)];
      return [ct, simplePacket(ct, e, d, now, S_ICMP, S_ICMP, false)];
    case Kind.Udp:
      return [ct, simplePacket(ct, e, d, now, S_UDP_UNREPLIED, S_UDP_REPLIED, true)];
    default:
      return [ct, simplePacket(ct, e, d, now, S_GENERIC, S_GENERIC, true)];
  }
}

/** A packet of no tracked flow: `new` if it may start one. */
function unknownFlow(ct: Conntrack, info: PacketInfo, kind: Kind): CtVerdict {
  if (kind === Kind.Tcp) {
    const f = info.tcpFlags;
    if (!validTcpFlags(f)) return invalid(ct, 'tcp-bad-flags');
    // A flow starts with a SYN alone (no mid-stream pickup, as pf's "flags S/SA").
    if ((f & (TCP_SYN | TCP_ACK)) !== TCP_SYN) return invalid(ct, 'tcp-no-flow');
  } else if (kind === Kind.Echo && !isEchoRequest(info)) return invalid(ct, 'icmp-no-flow');
  return verdict('new', -1, 0);
}

function simplePacket(
  ct: Conntrack,
  e: number,
  d: 0 | 1,
  now: number,
  unreplied: number,
  replied: number,
  assureOnReply: boolean,
): CtVerdict {
  let f = ct.flags[e]!;
  if (d === 1 && (f & F_SEEN_REPLY) === 0) {
    f |= F_SEEN_REPLY;
    ct.flags[e] = f;
    if (assureOnReply) ct.assure(e);
  }
  ct.touch(e, (f & F_SEEN_REPLY) !== 0 ? replied : unreplied, now);
  return verdict(d === 0 && (f & F_SEEN_REPLY) === 0 ? 'new' : 'established', e, d);
}

/**
 * Flag combinations a TCP may send (ECE, CWR, PSH and URG aside): SYN, SYN+ACK, RST with or without
 * ACK, and otherwise ACK with or without FIN.
 */
function validTcpFlags(f: number): boolean {
  const syn = (f & TCP_SYN) !== 0;
  const rst = (f & TCP_RST) !== 0;
  const fin = (f & TCP_FIN) !== 0;
  const ack = (f & TCP_ACK) !== 0;
  if (rst) return !syn && !fin;
  if (syn) return !fin;
  return ack;
}

function tcpPacket(ct: Conntrack, e: number, d: 0 | 1, info: PacketInfo, now: number): CtVerdict {
  const f = info.tcpFlags;
  if (!validTcpFlags(f)) return invalid(ct, 'tcp-bad-flags', e, d);
  const st = ct.state[e]!;
  const syn = (f & TCP_SYN) !== 0;
  const ack = (f & TCP_ACK) !== 0;
  let next = st;
  let reinit = false;
  if ((f & TCP_RST) !== 0) {
    // RFC 9293 §3.10.7.3: in SYN-SENT a reset is acceptable only if it acknowledges the SYN.
    if (st === S_SYN_SENT && d === 1 && (!ack || info.ack !== ct.tdEnd[2 * e]))
      return invalid(ct, 'tcp-state', e, d);
    next = S_CLOSE;
  } else if (syn && !ack) {
    if (d === 0) {
      if (st === S_TIME_WAIT || st === S_CLOSE) {
        // A new connection on the same tuple (RFC 9293 §3.6.1, TIME-WAIT reuse): the old flow goes.
        ct.remove(e, now, 'removed');
        ct.counters.removed++;
        return verdict('new', -1, 0);
      }
      if (st === S_SYN_SENT) reinit = true;
      else if (st !== S_SYN_RECV && st !== S_SYN_SENT2) return invalid(ct, 'tcp-state', e, d);
    } else if (st === S_SYN_SENT) next = S_SYN_SENT2;
    else if (st !== S_SYN_SENT2) return invalid(ct, 'tcp-state', e, d);
  } else if (syn) {
    // SYN-ACK: the responder's (or either side's after a simultaneous open), or a retransmission.
    if (st === S_SYN_SENT2 || (d === 1 && st === S_SYN_SENT)) next = S_SYN_RECV;
    else if (!(st === S_SYN_RECV || (d === 1 && st === S_ESTABLISHED))) return invalid(ct, 'tcp-state', e, d);
  } else {
    if (st === S_SYN_SENT || st === S_SYN_SENT2) return invalid(ct, 'tcp-state', e, d);
    if (st === S_SYN_RECV && d === 0) next = S_ESTABLISHED;
  }
  if (!tcpWindow(ct, e, d, info, reinit)) return invalid(ct, 'tcp-out-of-window', e, d);
  // Closing (RFC 9293 §3.6): the state follows the FINs seen and the ACKs that cover them.
  if (next >= S_ESTABLISHED && next <= S_TIME_WAIT) next = closingState(ct, e, d, info);
  let fl = ct.flags[e]!;
  if (d === 1 && (fl & F_SEEN_REPLY) === 0) {
    fl |= F_SEEN_REPLY;
    ct.flags[e] = fl;
  }
  // Linux assures a TCP flow once its handshake completes.
  if (next >= S_ESTABLISHED && next <= S_TIME_WAIT && (fl & F_SEEN_REPLY) !== 0) ct.assure(e);
  ct.touch(e, next, now);
  return verdict(d === 0 && (fl & F_SEEN_REPLY) === 0 ? 'new' : 'established', e, d);
}

function closingState(ct: Conntrack, e: number, d: 0 | 1, info: PacketInfo): number {
  const s = 2 * e + d;
  const r = s ^ 1;
  if ((info.tcpFlags & TCP_FIN) !== 0) ct.dflags[s] = ct.dflags[s]! | D_FIN;
  // The FIN of the other side is acknowledged once an ACK reaches its end (td_end: nothing follows a FIN).
  const rf = ct.dflags[r]!;
  if ((info.tcpFlags & TCP_ACK) !== 0 && (rf & D_FIN) !== 0 && seqGe(info.ack as Seq, ct.tdEnd[r]! as Seq))
    ct.dflags[r] = rf | D_FIN_ACKED;
  const a = ct.dflags[2 * e]!;
  const b = ct.dflags[2 * e + 1]!;
  const finA = (a & D_FIN) !== 0;
  const finB = (b & D_FIN) !== 0;
  if (!finA && !finB) return S_ESTABLISHED;
  if (finA && finB) return (a & D_FIN_ACKED) !== 0 && (b & D_FIN_ACKED) !== 0 ? S_TIME_WAIT : S_LAST_ACK;
  return ((finA ? a : b) & D_FIN_ACKED) !== 0 ? S_CLOSE_WAIT : S_FIN_WAIT;
}

/**
 * The window checks I-IV (module comment); on success the window data of both directions is updated,
 * on failure nothing changes. `reinit`: a SYN retransmitted by the originator in SYN_SENT starts its
 * direction afresh (it may carry a new ISN, RFC 9293 §3.4.1).
 */
function tcpWindow(ct: Conntrack, e: number, d: 0 | 1, info: PacketInfo, reinit: boolean): boolean {
  const s = 2 * e + d;
  const r = s ^ 1;
  const f = info.tcpFlags;
  const syn = (f & TCP_SYN) !== 0;
  const hasAck = (f & TCP_ACK) !== 0;
  let sEnd = ct.tdEnd[s]!;
  let sMaxend = ct.tdMaxend[s]!;
  let sMaxwin = ct.tdMaxwin[s]!;
  let sScale = ct.tdScale[s]!;
  let sFlags = ct.dflags[s]!;
  let rScale = ct.tdScale[r]!;
  let rMaxend = ct.tdMaxend[r]!;
  const rEnd = ct.tdEnd[r]!;
  const rMaxwin = ct.tdMaxwin[r]!;
  const seq = info.seq >>> 0;
  const end = (seq + info.payloadLen + (syn ? 1 : 0) + ((f & TCP_FIN) !== 0 ? 1 : 0)) >>> 0;
  let win = info.window;
  if (sMaxwin === 0 || reinit) {
    // The first segment this side sends.
    if (syn) {
      sEnd = end;
      sMaxend = end;
      sMaxwin = Math.max(win, 1);
      if (info.wscale >= 0) {
        sFlags |= D_WSCALE;
        sScale = info.wscale;
      } else {
        sFlags &= ~D_WSCALE;
        sScale = 0;
      }
      // RFC 7323 §2.2: scaling is on only if both SYNs carried the option.
      if (rMaxwin !== 0 && ((sFlags & D_WSCALE) === 0 || (ct.dflags[r]! & D_WSCALE) === 0)) {
        sScale = 0;
        rScale = 0;
      }
      if (!hasAck) {
        ct.tdEnd[s] = sEnd;
        ct.tdMaxend[s] = sMaxend;
        ct.tdMaxwin[s] = sMaxwin;
        ct.tdScale[s] = sScale;
        ct.tdScale[r] = rScale;
        ct.dflags[s] = sFlags;
        return true;
      }
    } else {
      // Only a reset from the responder in SYN_SENT gets here (no mid-stream pickup).
      sEnd = end;
      sMaxwin = Math.max(win, 1);
      sMaxend = (end + sMaxwin) >>> 0;
    }
  } else if (!syn) {
    // A shift, not `2 **` (a pow() call per packet): the scale is at most 14 (packet-info.ts).
    win = win * (1 << sScale);
  }
  const ack = hasAck ? info.ack >>> 0 : rEnd;
  const maxAckWin = sMaxwin === 0 ? MAX_ACK_WINDOW_UNKNOWN : sMaxwin;
  const ok =
    seqLe(seq as Seq, sMaxend as Seq) &&
    seqGe(end as Seq, ((sEnd - rMaxwin) >>> 0) as Seq) &&
    seqLe(ack as Seq, rEnd as Seq) &&
    seqGe(ack as Seq, ((rEnd - maxAckWin) >>> 0) as Seq);
  if (!ok) return false;
  if (sMaxwin < win) sMaxwin = win;
  if (seqGt(end as Seq, sEnd as Seq)) sEnd = end;
  // The receiver may send up to what this segment acknowledges plus its window (+1 for a probe into a zero window).
  const edge = (ack + win + (win === 0 ? 1 : 0)) >>> 0;
  if (seqGt(edge as Seq, rMaxend as Seq)) rMaxend = edge;
  ct.tdEnd[s] = sEnd;
  ct.tdMaxend[s] = sMaxend;
  ct.tdMaxwin[s] = sMaxwin;
  ct.tdScale[s] = sScale;
  ct.dflags[s] = sFlags;
  ct.tdScale[r] = rScale;
  ct.tdMaxend[r] = rMaxend;
  return true;
}

/** An ICMP error: `related` to the flow of the packet it quotes, or `invalid`. */
function related(ct: Conntrack, info: PacketInfo, now: number): CtVerdict {
  const q = info.inner;
  if (q === undefined) return invalid(ct, 'icmp-error-unquoted');
  const kind = kindOf(q);
  if (kind === Kind.IcmpError || kind === Kind.Untracked) return invalid(ct, 'icmp-error-no-flow');
  const p = portsOf(q, kind);
  // The error travels back along the flow: the quoted tuple reversed is the error's direction.
  const v = ct.lookup(q.version, q.protocol, q.dst, q.src, ((p << 16) | (p >>> 16)) >>> 0, now);
  if (v < 0) return invalid(ct, 'icmp-error-no-flow');
  const e = v >>> 1;
  const d = (v & 1) as 0 | 1;
  if (!sameAddr(info.dst, q.src)) return invalid(ct, 'icmp-error-mismatch', e, d);
  if (kind === Kind.Tcp) {
    // The quoted segment was sent by the other direction: its sequence number lies in that sender's window.
    const s = 2 * e + (d ^ 1);
    const lo = (ct.tdEnd[s]! - Math.max(ct.tdMaxwin[s ^ 1]!, 1) - MAX_SEGMENT) >>> 0;
    const seq = q.seq as Seq;
    if (ct.tdMaxwin[s] === 0 || !seqLe(seq, ct.tdMaxend[s]! as Seq) || !seqGe(seq, lo as Seq))
      return invalid(ct, 'icmp-error-out-of-window', e, d);
  }
  return verdict('related', e, d);
}

function sameAddr(a: Ipv4Addr | Ipv6Addr, b: Ipv4Addr | Ipv6Addr): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

export type CtConfirm =
  | { readonly ok: true; readonly entry: number; readonly created: boolean }
  | { readonly ok: false; readonly reason: 'table-full' | 'clash' | 'untracked' };

/**
 * Stores the flow of a `new` packet (entry -1) once it is accepted: original tuple from the packet,
 * reply tuple its inverse or `reply` (NAT). If the flow is already stored, its entry is returned. When
 * the table is at a bound, expired entries go, then the oldest unassured entry; with none, the flow is
 * refused. Mutates and returns `ct`.
 */
export function ctConfirm(
  ct: Conntrack,
  info: PacketInfo,
  now: number,
  reply?: CtTuple,
): [Conntrack, CtConfirm] {
  const kind = kindOf(info);
  if (kind === Kind.IcmpError || kind === Kind.Untracked) return [ct, { ok: false, reason: 'untracked' }];
  if (kind === Kind.Tcp && (info.tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN)) !== TCP_SYN)
    return [ct, { ok: false, reason: 'untracked' }];
  const ports = portsOf(info, kind);
  const existing = ct.lookup(info.version, info.protocol, info.src, info.dst, ports, now);
  if (existing >= 0) return [ct, { ok: true, entry: existing >>> 1, created: false }];
  const rSrc = reply?.src ?? info.dst;
  const rDst = reply?.dst ?? info.src;
  const rPorts =
    reply === undefined
      ? ((ports << 16) | (ports >>> 16)) >>> 0
      : ((reply.srcPort << 16) | reply.dstPort) >>> 0;
  // A translation that makes the reply tuple the original one (a host hairpinned to itself through
  // its own mapping) would make the two directions indistinguishable: refused like a clash.
  const selfReply =
    reply !== undefined && sameAddr(rSrc, info.src) && sameAddr(rDst, info.dst) && rPorts === ports;
  if (selfReply || ct.lookup(info.version, info.protocol, rSrc, rDst, rPorts, now) >= 0) {
    ct.counters.clashes++;
    return [ct, { ok: false, reason: 'clash' }];
  }
  const v6 = info.version === 6;
  if (!makeRoom(ct, v6, now)) {
    ct.counters.refused++;
    return [ct, { ok: false, reason: 'table-full' }];
  }
  if (ct.freeHead < 0) ct.grow(Math.min(ct.capacity * 2, ct.limitEntries()));
  const e = ct.freeHead;
  ct.freeHead = ct.tNext[e]!;
  ct.proto[e] = info.protocol;
  ct.flags[e] = F_USED | (v6 ? F_V6 : 0);
  if (v6) {
    let slot = ct.free6.pop();
    if (slot === undefined) {
      slot = ct.pool6Used++;
      if (ct.pool6.length < (slot + 1) * 64) {
        const pool = new Uint8Array(Math.max(64 * 64, ct.pool6.length * 2));
        pool.set(ct.pool6);
        ct.pool6 = pool;
      }
    }
    const off = slot * 64;
    ct.pool6.set(info.src as Uint8Array, off);
    ct.pool6.set(info.dst as Uint8Array, off + 16);
    ct.pool6.set(rSrc as Uint8Array, off + 32);
    ct.pool6.set(rDst as Uint8Array, off + 48);
    ct.oSrc[e] = slot;
    ct.count6++;
  } else {
    ct.oSrc[e] = info.src as number;
    ct.oDst[e] = info.dst as number;
    ct.rSrc[e] = rSrc as number;
    ct.rDst[e] = rDst as number;
  }
  ct.ports[2 * e] = ports;
  ct.ports[2 * e + 1] = rPorts;
  ct.tagA[e] = -1;
  ct.tagB[e] = -1;
  ct.tdEnd.fill(0, 2 * e, 2 * e + 2);
  ct.tdMaxend.fill(0, 2 * e, 2 * e + 2);
  ct.tdMaxwin.fill(0, 2 * e, 2 * e + 2);
  ct.tdScale.fill(0, 2 * e, 2 * e + 2);
  ct.dflags.fill(0, 2 * e, 2 * e + 2);
  let s: number;
  if (kind === Kind.Tcp) {
    s = S_SYN_SENT;
    tcpWindow(ct, e, 0, info, true);
  } else s = kind === Kind.Udp ? S_UDP_UNREPLIED : kind === Kind.Echo ? S_ICMP : S_GENERIC;
  ct.state[e] = s;
  const t = ct.tail[s]!;
  ct.seen[e] = t >= 0 && ct.seen[t]! > now ? ct.seen[t]! : now;
  ct.linkTimer(e, s);
  ct.linkUnassured(e);
  ct.index.insert(e << 1, ct.hashOfKey(e << 1));
  ct.index.insert((e << 1) | 1, ct.hashOfKey((e << 1) | 1));
  ct.count++;
  ct.counters.created++;
  return [ct, { ok: true, entry: e, created: true }];
}

/** Makes room for one more entry: expired ones first, then early drop of the oldest unassured. */
function makeRoom(ct: Conntrack, v6: boolean, now: number): boolean {
  const full = () =>
    ct.count >= ct.limitEntries() || ct.bytes + (v6 ? CT_ENTRY_BYTES_V6 : CT_ENTRY_BYTES) > ct.maxBytes;
  if (!full()) return true;
  ct.expire(now);
  while (full()) {
    const victim = ct.uHead;
    if (victim < 0) return false;
    ct.remove(victim, now, 'evicted');
    ct.counters.evicted++;
  }
  return true;
}

/**
 * Removes an entry: `aborted` when the packet that confirmed it was dropped after all (the firewall),
 * so NAT frees a mapping made for it at once. Mutates and returns `ct`.
 */
export function ctRemove(
  ct: Conntrack,
  entry: number,
  now: number,
  why: 'removed' | 'aborted' = 'removed',
): Conntrack {
  if (entry >= 0 && entry < ct.capacity && (ct.flags[entry]! & F_USED) !== 0) {
    ct.remove(entry, now, why);
    ct.counters.removed++;
  }
  return ct;
}

/** Expires every entry whose timer ran out by `now`. Mutates and returns `ct`. */
export function ctTick(ct: Conntrack, now: number): Conntrack {
  ct.expire(now);
  return ct;
}

/** The earliest time an entry times out (`null` when the table is empty): call `ctTick` then. */
export function ctDeadline(ct: Conntrack): number | null {
  return ct.deadline();
}

/** A snapshot: an independent table with the same entries, counters and configuration (no removal hook). */
export function ctClone(ct: Conntrack): Conntrack {
  const c = Object.create(Conntrack.prototype) as Conntrack;
  Object.assign(c, ct);
  const mut = c as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(ct)) if (ArrayBuffer.isView(v)) mut[k] = (v as Uint8Array).slice();
  mut.free6 = ct.free6.slice();
  mut.counters = { ...ct.counters, invalid: { ...ct.counters.invalid } };
  mut.onRemove = undefined;
  mut.index = ct.index.clone((v) => c.hashOfKey(v));
  return c;
}

export interface CtStats {
  readonly entries: number;
  readonly bytes: number;
  readonly counters: CtCounters;
}

/** A copy of the table's size and counters. */
export function ctStats(ct: Conntrack): CtStats {
  const c = ct.counters;
  return { entries: ct.count, bytes: ct.bytes, counters: { ...c, invalid: { ...c.invalid } } };
}

/** What entry `e` holds, or undefined for a free slot. */
export function ctEntry(ct: Conntrack, e: number): CtEntryInfo | undefined {
  if (e < 0 || e >= ct.capacity || (ct.flags[e]! & F_USED) === 0) return undefined;
  const f = ct.flags[e]!;
  return {
    version: (f & F_V6) !== 0 ? 6 : 4,
    protocol: ct.proto[e]!,
    original: ct.tuple(e, 0),
    reply: ct.tuple(e, 1),
    state: CT_FLOW_STATES[ct.state[e]!]!,
    assured: (f & F_ASSURED) !== 0,
    seenReply: (f & F_SEEN_REPLY) !== 0,
    expires: ct.expiresAt(e),
  };
}

/** Every stored entry's index, in index order. */
export function ctEntries(ct: Conntrack): number[] {
  const out: number[] = [];
  for (let e = 0; e < ct.capacity; e++) if ((ct.flags[e]! & F_USED) !== 0) out.push(e);
  return out;
}
