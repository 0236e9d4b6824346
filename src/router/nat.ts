/**
 * IPv4 NAT on top of connection tracking (src/router/conntrack.ts), as a pure core: masquerade with
 * endpoint-independent mappings, port forwards with hairpinning, ICMP errors translated back, and the
 * in-place rewrite with every checksum patched incrementally.
 *
 * As in Linux, NAT is a property of a tracked flow: when a new flow is confirmed its reply tuple is
 * what the translated packets will carry, and every later packet of the flow, in either direction, is
 * rewritten so that its tuple becomes the inverse of the other direction's. So `natStep` decides only
 * for the first packet of a flow; afterwards it reads the entry.
 *
 * Mappings (RFC 4787, RFC 5382 for TCP, RFC 5508 for ICMP queries). A mapping binds an internal
 * endpoint (address, port or echo identifier) to an external port of an outside address.
 * - Endpoint-independent mapping (RFC 4787 REQ-1, RFC 5382 REQ-1, RFC 5508 REQ-2): every flow from the
 *   same internal endpoint through the same outside address uses the same mapping while it lives.
 * - Port preservation (RFC 4787 REQ-3): the internal port is kept when it is free; otherwise a port
 *   of `portRange` is drawn from a generator seeded by a keyed hash of the endpoint (deterministic
 *   under the secret, not guessable from outside, in the spirit of RFC 6056 §3.3), then scanned
 *   for linearly, so a free port is found whenever one exists.
 * - A mapping is never given to two internal endpoints at once: it lives while a flow uses it, and is
 *   held after its last flow for `hold` (TCP 4 minutes, RFC 5382 REQ-5's transitory idle-timeout; UDP
 *   2 minutes, so that a mapping outlives its last outbound packet by at least RFC 4787 REQ-5's two
 *   minutes; ICMP 30 s, with the 30 s flow timeout RFC 5508 REQ-1's 60 s). During the hold only the
 *   same internal endpoint may take it again. A mapping made for a flow the firewall then dropped
 *   (`natAbort`) is freed at once, so dropped packets cannot exhaust the ports.
 * - Filtering (RFC 4787 REQ-8, RFC 5382 REQ-3): a new flow from outside to a mapped port reaches the
 *   internal endpoint with `endpoint-independent` filtering from anyone, with `address-dependent`
 *   (the default) only from an address the endpoint has a flow to.
 * - Port forwards (`--forward OUTSIDE,tcp:8080=10.1.0.5:80`) are static mappings: the outside port is
 *   never allocated, new flows to it are forwarded from anyone, and flows the server opens from that
 *   internal endpoint leave with it.
 * - Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): an inside host reaching a mapped port of an outside
 *   address is translated twice: destination to the internal endpoint, and source to the inside
 *   host's own mapping on that address ("External source IP address and port", REQ-9a), so the server
 *   answers to an address only the router can translate back.
 * - ICMP errors (RFC 5508 §4.2, REQ-3 and REQ-4): an error about a translated flow gets the outer
 *   destination (and, when the flow's translation changes it, the outer source) of a packet of that
 *   flow, and its quoted packet is rewritten back to how the other side sent it: addresses, ports or
 *   echo identifier, the quoted IP checksum and, when the quote holds it, the quoted TCP/UDP/ICMP
 *   checksum.
 * - Checksums are patched by RFC 1624 eqn. 3 for each changed 16-bit word (IP header, TCP/UDP with
 *   the pseudo-header, ICMP including the quoted packet), never recomputed, so a wrong checksum stays
 *   wrong (RFC 1624 §5). A UDP checksum of zero (none, RFC 768) stays zero; one that comes out zero is
 *   sent as 0xffff.
 * - A packet conntrack judged `invalid` is dropped when it belongs to a translated flow or would leave
 *   by a masquerade untranslated: private addresses never leak.
 *
 * IPv6 is tracked, never translated (NPTv6 is not asked for): `natStep` only confirms its flows.
 *
 * The driver, for every packet received (forwarded or addressed to the router), in Linux's order:
 *   info = packetInfo(packet)                        undefined: malformed or not reassembled, drop
 *   [, v] = ctStep(nat.ct, info, now)                the flow and its state, before any rewrite
 *   egress = the forwarding decision on the packet as received; NAT_LOCAL when it is for us
 *   the firewall on v.state                          a drop here stores nothing
 *   [, r] = natStep(nat, info, v, { ingress, egress }, now)
 *   r.kind === 'drop': count nat/<reason>; else applyTranslation(packet, r.translation) and, when
 *   the destination changed (a forward, a reply to a masqueraded flow), decide again
 *   a packet dropped after natStep stored its flow (v.entry was -1): natAbort(nat, r.entry, now)
 *   timers: natDeadline(nat), natTick(nat, now)
 *
 * Ownership: `NatState` is mutable inside like the conntrack table it holds (`nat.ct`), and for the
 * same reasons; `natClone` gives a snapshot.
 */
import type { Ipv4Addr } from '../addr.js';
import { setU16, setU32, u16, u32 } from '../bytes.js';
import { updateChecksum, updateChecksum32 } from '../checksum/index.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../ipproto.js';
import { type SipKey, sipHash32, sipKey } from '../tcp/core/siphash.js';
import {
  type Conntrack,
  type CtConfig,
  type CtTuple,
  type CtVerdict,
  ctClone,
  ctConfirm,
  ctCreate,
  ctDeadline,
  ctEntries,
  ctRemove,
  ctStep,
  ctTick,
  hashTuple4,
  IntIndex,
} from './conntrack.js';
import { ICMP_ECHO_REQUEST, isIcmp4ErrorType, type PacketInfo } from './packet-info.js';

/** The router itself as an interface: `egress` of a packet addressed to it, `ingress` of one it sends. */
export const NAT_LOCAL = -1;

/** `--masquerade INSIDE,OUTSIDE`: flows from `inside` leaving by `outside` take `address`, the outside interface's. */
export interface Masquerade {
  readonly inside: number;
  readonly outside: number;
  readonly address: Ipv4Addr;
}

/** `--forward OUTSIDE,tcp:8080=10.1.0.5:80`: new flows to `address:port` go to `to:toPort`. */
export interface PortForward {
  readonly outside: number;
  readonly address: Ipv4Addr;
  readonly protocol: typeof IPPROTO_TCP | typeof IPPROTO_UDP;
  readonly port: number;
  readonly to: Ipv4Addr;
  readonly toPort: number;
}

export type NatFiltering = 'endpoint-independent' | 'address-dependent';

/** How long a mapping is held after its last flow (ms). */
export interface NatHold {
  readonly tcp: number;
  readonly udp: number;
  readonly icmp: number;
}

export const NAT_DEFAULT_HOLD: NatHold = { tcp: 240_000, udp: 120_000, icmp: 30_000 };

export interface NatConfig {
  readonly masquerade?: readonly Masquerade[];
  readonly forwards?: readonly PortForward[];
  readonly filtering?: NatFiltering;
  /** 16 bytes: the key of the port choice hash (and the conntrack hash seed). */
  readonly secret: Uint8Array;
  /** External ports allocated when the internal one is taken; [1024, 65535] by default. */
  readonly portRange?: readonly [number, number];
  readonly hold?: Partial<NatHold>;
  /** At most this many mappings (held ones included); the conntrack table's maxEntries by default. */
  readonly maxMappings?: number;
  readonly conntrack?: CtConfig;
}

/** Where a packet came from and where routing sends it; NAT_LOCAL for the router itself. */
export interface NatPath {
  readonly ingress: number;
  readonly egress: number;
}

/** New header values for the quoted packet of an ICMP error. */
export interface InnerTranslation {
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  /** TCP/UDP ports, -1 for other protocols. */
  readonly srcPort: number;
  readonly dstPort: number;
  /** ICMP echo identifier, -1 for other packets. */
  readonly icmpId: number;
}

/** New header values for one packet; `applyTranslation` writes those that differ. */
export interface Translation extends InnerTranslation {
  readonly inner?: InnerTranslation;
}

export const NAT_DROP_REASONS = [
  /** Conntrack judged the packet invalid and it belongs to a translated flow, or would leave by a masquerade untranslated. */
  'invalid',
  /** A packet that cannot be tracked (ICMP other than echo and errors) would leave by a masquerade. */
  'untranslatable',
  /** Address-dependent filtering: the internal endpoint has no flow to the sender (RFC 4787 REQ-8). */
  'filtered',
  /** The conntrack table is full of assured flows. */
  'table-full',
  /**
   * The translated flow's reply tuple is another flow's: two inside hosts talking an address-only
   * protocol (GRE) to one peer, a port the router uses itself towards that peer, or a host hairpinned
   * to itself through its own mapping.
   */
  'clash',
  /** The mapping table is full and no held mapping can go. */
  'mapping-full',
  /** No external port is free. */
  'ports-exhausted',
] as const;
export type NatDropReason = (typeof NAT_DROP_REASONS)[number];

export type NatResult =
  | {
      readonly kind: 'accept';
      /** The flow's entry, or -1 for an untracked packet. */
      readonly entry: number;
      /** undefined: send the packet as it is. When `dst` differs from the packet's, route it again. */
      readonly translation: Translation | undefined;
    }
  | { readonly kind: 'drop'; readonly reason: NatDropReason };

export interface NatCounters {
  /** Packets rewritten. */
  translated: number;
  mappingsCreated: number;
  /** Mappings whose hold ran out. */
  mappingsExpired: number;
  /** Held mappings dropped early to make room. */
  mappingsEvicted: number;
  drops: Record<NatDropReason, number>;
}

// Protocol classes of mappings.
const PC_TCP = 0;
const PC_UDP = 1;
const PC_ICMP = 2;

// Mapping flags.
const M_USED = 1;
const M_STATIC = 2;
const M_HELD = 4;
/** In the by-internal-endpoint index (a second forward to the same server is not). */
const M_BY_IN = 8;

const NO_PORT = -1;
/** Hashed port candidates tried before the linear scan: at 90 % of the range taken, all miss with p = 0.9^32 ≈ 3 %. */
const RANDOM_PROBES = 32;

/**
 * The NAT's state: the conntrack table (`ct`, stepped with `ctStep`) and the mapping table. Owned and
 * mutable (module comment).
 */
export class NatState {
  readonly ct: Conntrack;
  /** Replaced by `natReconfigure` (a configuration reloaded); everything else stays. */
  masquerade: readonly Masquerade[];
  forwards: readonly PortForward[];
  inside: ReadonlySet<number>;
  readonly filtering: NatFiltering;
  readonly key: SipKey;
  readonly seed: number;
  readonly portLo: number;
  readonly portHi: number;
  readonly hold: Float64Array;
  readonly maxMappings: number;
  counters: NatCounters;

  /** @internal the mapping arrays */
  capacity = 0;
  count = 0;
  mExt = new Uint32Array(0);
  mIn = new Uint32Array(0);
  mInPort = new Uint16Array(0);
  mExtPort = new Uint16Array(0);
  mProto = new Uint8Array(0);
  mFlags = new Uint8Array(0);
  mUses = new Uint8Array(0);
  mRefs = new Uint32Array(0);
  mHold = new Float64Array(0);
  mPrev = new Int32Array(0);
  mNext = new Int32Array(0);
  freeHead = -1;
  hHead = new Int32Array(3).fill(-1);
  hTail = new Int32Array(3).fill(-1);
  byIn: IntIndex;
  byExt: IntIndex;
  /** Address-dependent filtering: conntrack entries of translated flows keyed by (external endpoint, remote address). */
  adf: IntIndex;

  constructor(config: NatConfig) {
    if (config.secret.length !== 16) throw new RangeError('nat: the secret must be 16 bytes');
    this.key = sipKey(config.secret);
    this.seed = sipHash32(this.key, new Uint8Array([0x63, 0x74])) | 0;
    this.ct = ctCreate({ hashSeed: this.seed, ...config.conntrack });
    this.masquerade = config.masquerade ?? [];
    this.forwards = config.forwards ?? [];
    this.inside = new Set(this.masquerade.map((m) => m.inside));
    this.filtering = config.filtering ?? 'address-dependent';
    const [lo, hi] = config.portRange ?? [1024, 65535];
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi)
      throw new RangeError(`nat: port range ${lo}-${hi}`);
    this.portLo = lo;
    this.portHi = hi;
    const hold = { ...NAT_DEFAULT_HOLD, ...config.hold };
    this.hold = new Float64Array([hold.tcp, hold.udp, hold.icmp]);
    if (this.hold.some((h) => !(h >= 0))) throw new RangeError('nat: hold times must not be negative');
    this.maxMappings = config.maxMappings ?? this.ct.maxEntries;
    if (!Number.isInteger(this.maxMappings) || this.maxMappings < this.forwards.length + 1)
      throw new RangeError(`nat: maxMappings ${this.maxMappings}`);
    this.counters = emptyCounters();
    this.byIn = new IntIndex((m) => this.hashIn(m), 64);
    this.byExt = new IntIndex((m) => this.hashExt(m), 64);
    this.adf = new IntIndex((e) => this.hashAdfEntry(e), 64);
    this.grow(Math.min(256, this.maxMappings));
    const problem = forwardsProblem(this.forwards);
    if (problem !== undefined) throw new RangeError(problem);
    for (const f of this.forwards) {
      const m = this.allocate(
        f.address,
        f.protocol === IPPROTO_TCP ? PC_TCP : PC_UDP,
        f.to,
        f.toPort,
        f.port,
      );
      this.mFlags[m] = this.mFlags[m]! | M_STATIC;
    }
    this.bindHook();
  }

  bindHook(): void {
    this.ct.onRemove = (e, now, why) => this.flowGone(e, now, why);
  }

  hashIn(m: number): number {
    return hashTuple4(this.seed, 0x200 | this.mProto[m]!, this.mExt[m]!, this.mIn[m]!, this.mInPort[m]!);
  }

  hashExt(m: number): number {
    return hashTuple4(this.seed, 0x300 | this.mProto[m]!, this.mExt[m]!, 0, this.mExtPort[m]!);
  }

  /** The ADF key of a translated flow, from its reply tuple (remote -> external endpoint). */
  hashAdfEntry(e: number): number {
    const ct = this.ct;
    return hashTuple4(
      this.seed,
      0x400 | ct.proto[e]!,
      ct.rDst[e]!,
      ct.rSrc[e]!,
      ct.ports[2 * e + 1]! & 0xffff,
    );
  }

  grow(n: number): void {
    const old = this.capacity;
    if (n <= old) return;
    const re = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(
      a: T,
      make: (n: number) => T,
    ) => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.mExt = re(this.mExt, (k) => new Uint32Array(k));
    this.mIn = re(this.mIn, (k) => new Uint32Array(k));
    this.mInPort = re(this.mInPort, (k) => new Uint16Array(k));
    this.mExtPort = re(this.mExtPort, (k) => new Uint16Array(k));
    this.mProto = re(this.mProto, (k) => new Uint8Array(k));
    this.mFlags = re(this.mFlags, (k) => new Uint8Array(k));
    this.mUses = re(this.mUses, (k) => new Uint8Array(k));
    this.mRefs = re(this.mRefs, (k) => new Uint32Array(k));
    this.mHold = re(this.mHold, (k) => new Float64Array(k));
    this.mPrev = re(this.mPrev, (k) => new Int32Array(k));
    this.mNext = re(this.mNext, (k) => new Int32Array(k));
    for (let m = n - 1; m >= old; m--) {
      this.mNext[m] = this.freeHead;
      this.freeHead = m;
    }
    this.capacity = n;
  }

  /** A new mapping (the caller checked the bounds and that the external port is free). */
  allocate(ext: number, pc: number, inAddr: number, inPort: number, extPort: number): number {
    if (this.freeHead < 0) this.grow(Math.min(this.capacity * 2, this.maxMappings));
    const m = this.freeHead;
    this.freeHead = this.mNext[m]!;
    this.mExt[m] = ext;
    this.mIn[m] = inAddr;
    this.mInPort[m] = inPort;
    this.mExtPort[m] = extPort;
    this.mProto[m] = pc;
    this.mFlags[m] = M_USED;
    this.mUses[m] = 0;
    this.mRefs[m] = 0;
    this.mHold[m] = 0;
    if (this.findIn(ext, pc, inAddr, inPort, Number.NEGATIVE_INFINITY) < 0) {
      this.byIn.insert(m, this.hashIn(m));
      this.mFlags[m] = M_USED | M_BY_IN;
    }
    this.byExt.insert(m, this.hashExt(m));
    this.count++;
    this.counters.mappingsCreated++;
    return m;
  }

  free(m: number): void {
    const f = this.mFlags[m]!;
    if ((f & M_HELD) !== 0) this.unlinkHeld(m);
    if ((f & M_BY_IN) !== 0) this.byIn.remove(m, this.hashIn(m));
    this.byExt.remove(m, this.hashExt(m));
    this.mFlags[m] = 0;
    this.mNext[m] = this.freeHead;
    this.freeHead = m;
    this.count--;
  }

  linkHeld(m: number): void {
    const pc = this.mProto[m]!;
    const t = this.hTail[pc]!;
    this.mPrev[m] = t;
    this.mNext[m] = -1;
    if (t >= 0) this.mNext[t] = m;
    else this.hHead[pc] = m;
    this.hTail[pc] = m;
    this.mFlags[m] = this.mFlags[m]! | M_HELD;
  }

  unlinkHeld(m: number): void {
    const pc = this.mProto[m]!;
    const p = this.mPrev[m]!;
    const n = this.mNext[m]!;
    if (p >= 0) this.mNext[p] = n;
    else this.hHead[pc] = n;
    if (n >= 0) this.mPrev[n] = p;
    else this.hTail[pc] = p;
    this.mFlags[m] = this.mFlags[m]! & ~M_HELD;
  }

  /** A held mapping whose hold ran out by `now` goes (lookups treat it as gone even before a tick). */
  expiredHeld(m: number, now: number): boolean {
    if ((this.mFlags[m]! & M_HELD) === 0 || this.mHold[m]! > now) return false;
    this.free(m);
    this.counters.mappingsExpired++;
    return true;
  }

  findIn(ext: number, pc: number, inAddr: number, inPort: number, now: number): number {
    const slots = this.byIn.slots;
    const mask = this.byIn.mask;
    for (let i = hashTuple4(this.seed, 0x200 | pc, ext, inAddr, inPort) & mask; ; i = (i + 1) & mask) {
      const m = slots[i]!;
      if (m < 0) return -1;
      if (
        this.mExt[m] === ext &&
        this.mProto[m] === pc &&
        this.mIn[m] === inAddr &&
        this.mInPort[m] === inPort
      )
        return this.expiredHeld(m, now) ? -1 : m;
    }
  }

  findExt(ext: number, pc: number, extPort: number, now: number): number {
    const slots = this.byExt.slots;
    const mask = this.byExt.mask;
    for (let i = hashTuple4(this.seed, 0x300 | pc, ext, 0, extPort) & mask; ; i = (i + 1) & mask) {
      const m = slots[i]!;
      if (m < 0) return -1;
      if (this.mExt[m] === ext && this.mProto[m] === pc && this.mExtPort[m] === extPort)
        return this.expiredHeld(m, now) ? -1 : m;
    }
  }

  /** True when a translated flow from the external endpoint (ext, extPort) to `remote` exists (ADF). */
  adfHas(proto: number, ext: number, extPort: number, remote: number): boolean {
    const ct = this.ct;
    const slots = this.adf.slots;
    const mask = this.adf.mask;
    for (let i = hashTuple4(this.seed, 0x400 | proto, ext, remote, extPort) & mask; ; i = (i + 1) & mask) {
      const e = slots[i]!;
      if (e < 0) return false;
      if (
        ct.proto[e] === proto &&
        ct.rDst[e] === ext &&
        ct.rSrc[e] === remote &&
        (ct.ports[2 * e + 1]! & 0xffff) === extPort
      )
        return true;
    }
  }

  attach(m: number): void {
    if ((this.mFlags[m]! & M_HELD) !== 0) this.unlinkHeld(m);
    this.mRefs[m] = this.mRefs[m]! + 1;
    if (this.mUses[m]! < 255) this.mUses[m] = this.mUses[m]! + 1;
  }

  release(m: number, now: number, aborted: boolean): void {
    const f = this.mFlags[m]!;
    if ((f & M_USED) === 0 || (f & M_STATIC) !== 0) return;
    const refs = this.mRefs[m]! - 1;
    this.mRefs[m] = refs;
    if (refs > 0) return;
    if (aborted && this.mUses[m]! <= 1) {
      this.free(m);
      return;
    }
    this.mHold[m] = now + this.hold[this.mProto[m]!]!;
    this.linkHeld(m);
  }

  /** The conntrack removal hook: the flow's mappings are released. */
  flowGone(e: number, now: number, why: string): void {
    const a = this.ct.tagA[e]!;
    const b = this.ct.tagB[e]!;
    if (a >= 0) {
      if (this.filtering === 'address-dependent') this.adf.remove(e, this.hashAdfEntry(e));
      this.release(a, now, why === 'aborted');
    }
    if (b >= 0) this.release(b, now, why === 'aborted');
  }

  expireHeld(now: number): void {
    for (let pc = 0; pc < 3; pc++)
      for (let m = this.hHead[pc]!; m >= 0 && this.mHold[m]! <= now; m = this.hHead[pc]!) {
        this.free(m);
        this.counters.mappingsExpired++;
      }
  }

  /** Drops the held mapping whose hold ends first; false when none is held. */
  evictHeld(): boolean {
    let best = -1;
    for (let pc = 0; pc < 3; pc++) {
      const m = this.hHead[pc]!;
      if (m >= 0 && (best < 0 || this.mHold[m]! < this.mHold[best]!)) best = m;
    }
    if (best < 0) return false;
    this.free(best);
    this.counters.mappingsEvicted++;
    return true;
  }

  /**
   * The mapping of an internal endpoint on `ext`: the existing one (EIM), else a new one with the
   * internal port if free (REQ-3), else a hashed free port; or why none can be had.
   */
  acquire(ext: number, pc: number, inAddr: number, inPort: number, now: number): number | NatDropReason {
    const found = this.findIn(ext, pc, inAddr, inPort, now);
    if (found >= 0) return found;
    if (this.count >= this.maxMappings) {
      this.expireHeld(now);
      if (this.count >= this.maxMappings && !this.evictHeld()) return 'mapping-full';
    }
    const port = this.choosePort(ext, pc, inAddr, inPort, now);
    if (port === NO_PORT) return 'ports-exhausted';
    return this.allocate(ext, pc, inAddr, inPort, port);
  }

  choosePort(ext: number, pc: number, inAddr: number, inPort: number, now: number): number {
    if (inPort !== 0 && this.findExt(ext, pc, inPort, now) < 0) return inPort;
    const lo = pc === PC_ICMP ? 1 : this.portLo;
    const hi = pc === PC_ICMP ? 0xffff : this.portHi;
    const n = hi - lo + 1;
    const msg = new Uint8Array(11);
    setU32(msg, 0, ext);
    msg[4] = pc;
    setU32(msg, 5, inAddr);
    setU16(msg, 9, inPort);
    const h = sipHash32(this.key, msg);
    // Candidates drawn from a generator seeded by the keyed hash (RFC 6056 §3.3): unlike a
    // linear probe they do not pile up behind a block of taken ports (preserved ports are often
    // contiguous). Then a linear scan, so a free port is found whenever one exists.
    let x = h || 1;
    for (let i = 0; i < RANDOM_PROBES; i++) {
      const p = lo + (x % n);
      if (this.findExt(ext, pc, p, now) < 0) return p;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
    }
    const start = h % n;
    for (let i = 0; i < n; i++) {
      const p = lo + ((start + i) % n);
      if (this.findExt(ext, pc, p, now) < 0) return p;
    }
    return NO_PORT;
  }
}

function emptyCounters(): NatCounters {
  const drops = {} as Record<NatDropReason, number>;
  for (const r of NAT_DROP_REASONS) drops[r] = 0;
  return { translated: 0, mappingsCreated: 0, mappingsExpired: 0, mappingsEvicted: 0, drops };
}

export function natCreate(config: NatConfig): NatState {
  return new NatState(config);
}

function drop(nat: NatState, reason: NatDropReason): NatResult {
  nat.counters.drops[reason]++;
  return { kind: 'drop', reason };
}

function accept(nat: NatState, entry: number, translation: Translation | undefined): NatResult {
  if (translation !== undefined) nat.counters.translated++;
  return { kind: 'accept', entry, translation };
}

/** The mapping protocol class of a packet that may start a mapped flow, else -1 (address-only). */
function protoClass(info: PacketInfo): number {
  if (info.protocol === IPPROTO_TCP) return PC_TCP;
  if (info.protocol === IPPROTO_UDP) return PC_UDP;
  if (info.protocol === IPPROTO_ICMP && info.icmpType === ICMP_ECHO_REQUEST) return PC_ICMP;
  return -1;
}

function masqueradeFor(nat: NatState, path: NatPath): Masquerade | undefined {
  for (const m of nat.masquerade) if (m.inside === path.ingress && m.outside === path.egress) return m;
  return undefined;
}

/** True when the flow's reply tuple is not the inverse of its original one. */
function translated(ct: Conntrack, e: number): boolean {
  const o = ct.ports[2 * e]!;
  const r = ct.ports[2 * e + 1]!;
  return ct.oSrc[e] !== ct.rDst[e] || ct.oDst[e] !== ct.rSrc[e] || o !== ((r << 16) | (r >>> 16)) >>> 0;
}

/**
 * The NAT decision for one packet, after `ctStep` gave `verdict` (and the firewall accepted it). For a
 * `new` packet not yet stored this chooses the translation and confirms the flow; for a packet of a
 * stored flow it reads the translation from the entry. The driver applies the translation with
 * `applyTranslation` and, if the destination changed, routes the packet again. If the packet is then
 * dropped after all, `natAbort(nat, entry)` undoes a flow this call confirmed. Mutates and returns `nat`.
 */
export function natStep(
  nat: NatState,
  info: PacketInfo,
  verdict: CtVerdict,
  path: NatPath,
  now: number,
): [NatState, NatResult] {
  const ct = nat.ct;
  const v4 = info.version === 4;
  if (verdict.state === 'invalid') {
    if (verdict.entry >= 0 && v4 && translated(ct, verdict.entry)) return [nat, drop(nat, 'invalid')];
    if (v4 && masqueradeFor(nat, path) !== undefined) return [nat, drop(nat, 'invalid')];
    return [nat, accept(nat, verdict.entry, undefined)];
  }
  if (verdict.entry >= 0) {
    if (!v4) return [nat, accept(nat, verdict.entry, undefined)];
    const t =
      verdict.state === 'related'
        ? relatedTranslation(ct, verdict.entry, verdict.dir, info)
        : flowTranslation(ct, verdict.entry, verdict.dir, info);
    return [nat, accept(nat, verdict.entry, t)];
  }
  if (verdict.untracked === true) {
    if (v4 && masqueradeFor(nat, path) !== undefined) return [nat, drop(nat, 'untranslatable')];
    return [nat, accept(nat, -1, undefined)];
  }
  if (!v4) {
    const [, c] = ctConfirm(ct, info, now);
    return [
      nat,
      c.ok ? accept(nat, c.entry, undefined) : drop(nat, c.reason === 'clash' ? 'clash' : 'table-full'),
    ];
  }
  return [nat, newFlow(nat, info, path, now)];
}

/** `ctStep` then `natStep`, for a path with no firewall in between. */
export function natTrack(
  nat: NatState,
  info: PacketInfo,
  path: NatPath,
  now: number,
): [NatState, { readonly verdict: CtVerdict; readonly result: NatResult }] {
  const [, verdict] = ctStep(nat.ct, info, now);
  const [, result] = natStep(nat, info, verdict, path, now);
  return [nat, { verdict, result }];
}

function newFlow(nat: NatState, info: PacketInfo, path: NatPath, now: number): NatResult {
  const pc = protoClass(info);
  const src = info.src as number;
  const dst = info.dst as number;
  const echo = pc === PC_ICMP;
  let sAddr = src;
  let sPort = echo ? info.icmpId : info.srcPort;
  let dAddr = dst;
  let dPort = info.dstPort;
  let sMap = -1;
  let dMap = -1;
  // DNAT: a new TCP/UDP flow to a mapped port of one of our addresses (a forward, or a mapping's EIF/ADF).
  if (path.egress === NAT_LOCAL && (pc === PC_TCP || pc === PC_UDP)) {
    const m = nat.findExt(dst, pc, info.dstPort, now);
    if (m >= 0 && ingressAllowed(nat, m, path.ingress)) {
      const hairpin = nat.inside.has(path.ingress);
      if ((nat.mFlags[m]! & M_STATIC) === 0 && nat.filtering === 'address-dependent') {
        // RFC 4787 REQ-8: only from an address the internal endpoint has sent to (for a hairpinned
        // flow, the sender's external address, REQ-9).
        if (!nat.adfHas(info.protocol, dst, info.dstPort, hairpin ? dst : src)) return drop(nat, 'filtered');
      }
      dMap = m;
      dAddr = nat.mIn[m]!;
      dPort = nat.mInPort[m]!;
    }
  }
  // Mappings are pinned (attached) as soon as they are chosen, so that making room for another
  // mapping or entry below can never free one of them; a failure releases them as aborted.
  if (dMap >= 0) nat.attach(dMap);
  let snatAddr = -1;
  if (dMap >= 0 && nat.inside.has(path.ingress)) snatAddr = dst;
  else if (dMap < 0) {
    const mq = masqueradeFor(nat, path);
    if (mq !== undefined) snatAddr = mq.address;
  }
  if (snatAddr >= 0) {
    if (pc < 0) sAddr = snatAddr;
    else {
      const m = nat.acquire(snatAddr, pc, src, sPort, now);
      if (typeof m === 'string') {
        if (dMap >= 0) nat.release(dMap, now, true);
        return drop(nat, m);
      }
      sMap = m;
      nat.attach(sMap);
      sAddr = snatAddr;
      sPort = nat.mExtPort[m]!;
    }
  }
  // The reply tuple (key form): TCP/UDP ports swapped; an echo reply carries the identifier in dstPort.
  const reply: CtTuple =
    pc === PC_TCP || pc === PC_UDP
      ? { src: dAddr as Ipv4Addr, dst: sAddr as Ipv4Addr, srcPort: dPort, dstPort: sPort }
      : { src: dAddr as Ipv4Addr, dst: sAddr as Ipv4Addr, srcPort: 0, dstPort: echo ? sPort : 0 };
  const [, c] = ctConfirm(nat.ct, info, now, reply);
  if (!c.ok || !c.created) {
    // Not stored, or already stored with its own translation: a mapping made for this flow alone goes at once.
    if (sMap >= 0) nat.release(sMap, now, true);
    if (dMap >= 0) nat.release(dMap, now, true);
    if (!c.ok) return drop(nat, c.reason === 'clash' ? 'clash' : 'table-full');
    return accept(nat, c.entry, flowTranslation(nat.ct, c.entry, 0, info));
  }
  const e = c.entry;
  const ct = nat.ct;
  ct.tagA[e] = sMap;
  ct.tagB[e] = dMap;
  if (sMap >= 0 && nat.filtering === 'address-dependent') nat.adf.insert(e, nat.hashAdfEntry(e));
  return accept(nat, e, flowTranslation(ct, e, 0, info));
}

/** May a new flow arriving on `ingress` use mapping `m` as its destination? */
function ingressAllowed(nat: NatState, m: number, ingress: number): boolean {
  if (nat.inside.has(ingress)) return true;
  const ext = nat.mExt[m]!;
  if ((nat.mFlags[m]! & M_STATIC) !== 0) {
    for (const f of nat.forwards) if (f.address === ext && f.outside === ingress) return true;
    return false;
  }
  for (const q of nat.masquerade) if (q.address === ext && q.outside === ingress) return true;
  return false;
}

/** The header values a packet of flow `e` in direction `d` leaves with: the inverse of the other direction's tuple. */
function flowTranslation(ct: Conntrack, e: number, d: 0 | 1, info: PacketInfo): Translation | undefined {
  const o = ct.tuple(e, (d ^ 1) as 0 | 1);
  const src = o.dst as Ipv4Addr;
  const dst = o.src as Ipv4Addr;
  let srcPort = -1;
  let dstPort = -1;
  let icmpId = -1;
  let same = src === info.src && dst === info.dst;
  if (info.protocol === IPPROTO_TCP || info.protocol === IPPROTO_UDP) {
    srcPort = o.dstPort;
    dstPort = o.srcPort;
    same &&= srcPort === info.srcPort && dstPort === info.dstPort;
  } else if (info.protocol === IPPROTO_ICMP && info.icmpId >= 0) {
    // A request's identifier is its tuple's srcPort, a reply's its dstPort (conntrack.ts).
    icmpId = info.icmpType === ICMP_ECHO_REQUEST ? o.dstPort : o.srcPort;
    same &&= icmpId === info.icmpId;
  }
  return same ? undefined : { src, dst, srcPort, dstPort, icmpId };
}

/**
 * An ICMP error travelling in direction `d` of flow `e` (RFC 5508 §4.2): the outer header is translated
 * like a packet of the flow in that direction where the flow's translation changes it, the quoted
 * packet back to the other direction's tuple.
 */
function relatedTranslation(ct: Conntrack, e: number, d: 0 | 1, info: PacketInfo): Translation | undefined {
  const q = info.inner;
  if (q === undefined) return undefined;
  const here = ct.tuple(e, d);
  const there = ct.tuple(e, (d ^ 1) as 0 | 1);
  const src = (here.src !== there.dst ? there.dst : info.src) as Ipv4Addr;
  const dst = (here.dst !== there.src ? there.src : info.dst) as Ipv4Addr;
  let srcPort = -1;
  let dstPort = -1;
  let icmpId = -1;
  let same = src === info.src && dst === info.dst && there.src === q.src && there.dst === q.dst;
  if (q.protocol === IPPROTO_TCP || q.protocol === IPPROTO_UDP) {
    srcPort = there.srcPort;
    dstPort = there.dstPort;
    same &&= srcPort === q.srcPort && dstPort === q.dstPort;
  } else if (q.protocol === IPPROTO_ICMP && q.icmpId >= 0) {
    icmpId = q.icmpType === ICMP_ECHO_REQUEST ? there.srcPort : there.dstPort;
    same &&= icmpId === q.icmpId;
  }
  if (same) return undefined;
  return {
    src,
    dst,
    srcPort: -1,
    dstPort: -1,
    icmpId: -1,
    inner: { src: there.src as Ipv4Addr, dst: there.dst as Ipv4Addr, srcPort, dstPort, icmpId },
  };
}

/**
 * Undoes a flow `natStep` confirmed for a packet that was dropped after all (the firewall's verdict):
 * its entry goes, and a mapping made for it alone is freed at once. Mutates and returns `nat`.
 */
export function natAbort(nat: NatState, entry: number, now: number): NatState {
  ctRemove(nat.ct, entry, now, 'aborted');
  return nat;
}

/** Why a list of port forwards cannot be used (a port forwarded twice, a bad port or protocol), or undefined. */
function forwardsProblem(forwards: readonly PortForward[]): string | undefined {
  const seen = new Set<string>();
  for (const f of forwards) {
    const k = forwardKey(f);
    if (seen.has(k)) return `nat: two forwards of port ${f.port}`;
    if (f.port < 1 || f.port > 65535 || f.toPort < 1 || f.toPort > 65535)
      return `nat: forward port ${f.port}=${f.toPort}`;
    if (f.protocol !== IPPROTO_TCP && f.protocol !== IPPROTO_UDP)
      return `nat: forward protocol ${f.protocol}`;
    seen.add(k);
  }
  return undefined;
}

/** The outside endpoint a forward owns. */
function forwardKey(f: PortForward): string {
  return `${f.address}/${f.protocol}/${f.port}`;
}

function sameForward(a: PortForward, b: PortForward): boolean {
  return forwardKey(a) === forwardKey(b) && a.outside === b.outside && a.to === b.to && a.toPort === b.toPort;
}

/** Flows of the table whose translation uses mapping `m`. */
function flowsUsing(nat: NatState, m: number): number {
  const ct = nat.ct;
  let n = 0;
  for (const e of ctEntries(ct)) if (ct.tagA[e] === m || ct.tagB[e] === m) n++;
  return n;
}

/**
 * New masquerades and port forwards (a configuration reloaded), keeping every tracked flow and its
 * mappings. Flows already translated keep their translation to their end, as Linux's conntrack
 * entries keep their NAT binding; only new flows see the new rules. A forward taken away takes no new
 * flow from then on: its mapping lives on as an ordinary one while flows use it, then is held and
 * expires like any. A forward added needs its outside port: a held mapping there goes; one that live
 * flows use refuses the reload. Returns the reason of a refusal (then nothing changed), else
 * undefined. Mutates `nat`.
 */
export function natReconfigure(
  nat: NatState,
  config: { readonly masquerade?: readonly Masquerade[]; readonly forwards?: readonly PortForward[] },
  now: number,
): string | undefined {
  const masquerade = config.masquerade ?? [];
  const forwards = config.forwards ?? [];
  const problem = forwardsProblem(forwards);
  if (problem !== undefined) return problem;
  if (nat.maxMappings < forwards.length + 1) return `nat: ${forwards.length} forwards need more mappings`;
  const pcOf = (f: PortForward) => (f.protocol === IPPROTO_TCP ? PC_TCP : PC_UDP);
  const kept = forwards.filter((f) => nat.forwards.some((o) => sameForward(o, f)));
  const gone = nat.forwards.filter((o) => !forwards.some((f) => sameForward(o, f)));
  const added = forwards.filter((f) => !nat.forwards.some((o) => sameForward(o, f)));
  const goneMaps = gone.map((o) => nat.findExt(o.address, pcOf(o), o.port, now));
  const goneUses = goneMaps.map((m) => (m < 0 ? 0 : flowsUsing(nat, m)));
  // Check every added forward's port before changing anything.
  const evict: number[] = [];
  for (const f of added) {
    const m = nat.findExt(f.address, pcOf(f), f.port, now);
    if (m < 0) continue;
    const i = goneMaps.indexOf(m);
    const busy = i >= 0 ? goneUses[i]! > 0 : (nat.mFlags[m]! & M_HELD) === 0;
    if (busy) return `nat: port ${f.port} of the outside address is in use by a tracked flow`;
    if (i < 0) evict.push(m);
  }
  const freeing = goneMaps.filter((m, i) => m >= 0 && goneUses[i] === 0).length + evict.length;
  let held = 0;
  for (let pc = 0; pc < 3; pc++) for (let m = nat.hHead[pc]!; m >= 0; m = nat.mNext[m]!) held++;
  if (nat.count - freeing + added.length > nat.maxMappings + held - evict.length)
    return 'nat: the mapping table is full';
  // Apply.
  goneMaps.forEach((m, i) => {
    if (m < 0) return;
    nat.mFlags[m] = nat.mFlags[m]! & ~M_STATIC;
    nat.mRefs[m] = goneUses[i]!;
    if (goneUses[i] === 0) nat.free(m);
  });
  for (const m of evict) {
    nat.free(m);
    nat.counters.mappingsEvicted++;
  }
  for (const f of added) {
    if (nat.count >= nat.maxMappings) {
      nat.expireHeld(now);
      if (nat.count >= nat.maxMappings) nat.evictHeld();
    }
    const m = nat.allocate(f.address, pcOf(f), f.to, f.toPort, f.port);
    nat.mFlags[m] = nat.mFlags[m]! | M_STATIC;
  }
  nat.forwards = [...kept, ...added];
  nat.masquerade = masquerade;
  nat.inside = new Set(masquerade.map((m) => m.inside));
  return undefined;
}

/** Expires flows and held mappings due by `now`. Mutates and returns `nat`. */
export function natTick(nat: NatState, now: number): NatState {
  ctTick(nat.ct, now);
  nat.expireHeld(now);
  return nat;
}

/** The earliest time a flow or a held mapping expires, or `null`. */
export function natDeadline(nat: NatState): number | null {
  let best = ctDeadline(nat.ct) ?? Number.POSITIVE_INFINITY;
  for (let pc = 0; pc < 3; pc++) {
    const m = nat.hHead[pc]!;
    if (m >= 0) best = Math.min(best, nat.mHold[m]!);
  }
  return best === Number.POSITIVE_INFINITY ? null : best;
}

/** A snapshot: an independent state with the same flows, mappings and counters. */
export function natClone(nat: NatState): NatState {
  const c = Object.create(NatState.prototype) as NatState;
  Object.assign(c, nat);
  const mut = c as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(nat)) if (ArrayBuffer.isView(v)) mut[k] = (v as Uint8Array).slice();
  mut.ct = ctClone(nat.ct);
  mut.counters = { ...nat.counters, drops: { ...nat.counters.drops } };
  mut.byIn = nat.byIn.clone((m) => c.hashIn(m));
  mut.byExt = nat.byExt.clone((m) => c.hashExt(m));
  mut.adf = nat.adf.clone((e) => c.hashAdfEntry(e));
  c.bindHook();
  return c;
}

/** One mapping, for inspection. */
export interface NatMapping {
  readonly protocol: 'tcp' | 'udp' | 'icmp';
  readonly external: Ipv4Addr;
  readonly externalPort: number;
  readonly internal: Ipv4Addr;
  readonly internalPort: number;
  readonly flows: number;
  readonly static: boolean;
  /** When a held mapping goes, or undefined while flows use it. */
  readonly heldUntil: number | undefined;
}

/** Every mapping, in table order. */
export function natMappings(nat: NatState): NatMapping[] {
  const out: NatMapping[] = [];
  for (let m = 0; m < nat.capacity; m++) {
    const f = nat.mFlags[m]!;
    if ((f & M_USED) === 0) continue;
    out.push({
      protocol: (['tcp', 'udp', 'icmp'] as const)[nat.mProto[m]!]!,
      external: nat.mExt[m]! as Ipv4Addr,
      externalPort: nat.mExtPort[m]!,
      internal: nat.mIn[m]! as Ipv4Addr,
      internalPort: nat.mInPort[m]!,
      flows: nat.mRefs[m]!,
      static: (f & M_STATIC) !== 0,
      heldUntil: (f & M_HELD) !== 0 ? nat.mHold[m]! : undefined,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The rewrite.

/** The current header values of a packet: applying them to a translated packet translates it back. */
export function translationOf(info: PacketInfo): Translation {
  const fields = (p: PacketInfo): InnerTranslation => ({
    src: p.src as Ipv4Addr,
    dst: p.dst as Ipv4Addr,
    srcPort: p.protocol === IPPROTO_TCP || p.protocol === IPPROTO_UDP ? p.srcPort : -1,
    dstPort: p.protocol === IPPROTO_TCP || p.protocol === IPPROTO_UDP ? p.dstPort : -1,
    icmpId: p.protocol === IPPROTO_ICMP ? p.icmpId : -1,
  });
  const outer = fields(info);
  return info.inner === undefined ? outer : { ...outer, inner: fields(info.inner) };
}

/**
 * Rewrites the IPv4 packet (whole, as `packetInfo` saw it) in place to `t`, patching every checksum
 * by RFC 1624 (module comment). Fields already equal are left alone; -1 ports / identifiers are kept.
 * Throws only on a caller's bug (a packet too short for the header the translation needs).
 */
export function applyTranslation(packet: Uint8Array, t: Translation): void {
  const p = packet;
  if (p.length < 20 || p[0]! >>> 4 !== 4) throw new RangeError('applyTranslation: not an IPv4 packet');
  const ihl = (p[0]! & 0x0f) * 4;
  const end = Math.min(u16(p, 2), p.length);
  const proto = p[9]!;
  const oldSrc = u32(p, 12);
  const oldDst = u32(p, 16);
  const l4 = ihl;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    const at = l4 + (proto === IPPROTO_TCP ? 16 : 6);
    if (at + 2 > end) throw new RangeError('applyTranslation: truncated transport header');
    const none = proto === IPPROTO_UDP && u16(p, at) === 0;
    let c = u16(p, at);
    c = patch32(c, oldSrc, t.src);
    c = patch32(c, oldDst, t.dst);
    if (t.srcPort >= 0) c = patch16(c, u16(p, l4), t.srcPort);
    if (t.dstPort >= 0) c = patch16(c, u16(p, l4 + 2), t.dstPort);
    if (t.srcPort >= 0) setU16(p, l4, t.srcPort);
    if (t.dstPort >= 0) setU16(p, l4 + 2, t.dstPort);
    // RFC 768: zero means "no checksum" and stays so; a computed zero is sent as all ones.
    if (!none) setU16(p, at, proto === IPPROTO_UDP && c === 0 ? 0xffff : c);
  } else if (proto === IPPROTO_ICMP) {
    if (l4 + 8 > end) throw new RangeError('applyTranslation: truncated ICMP header');
    let c = u16(p, l4 + 2);
    if (t.icmpId >= 0) c = put16(p, l4 + 4, t.icmpId, c);
    if (t.inner !== undefined && isIcmp4ErrorType(p[l4]!)) c = rewriteQuote(p, l4 + 8, end, t.inner, c);
    setU16(p, l4 + 2, c);
  }
  let ipc = u16(p, 10);
  ipc = patch32(ipc, oldSrc, t.src);
  ipc = patch32(ipc, oldDst, t.dst);
  setU32(p, 12, t.src);
  setU32(p, 16, t.dst);
  setU16(p, 10, ipc);
}

/** `checksum` patched for a 16-bit word going from `old` to `value` (RFC 1624 eqn. 3); unchanged when equal. */
function patch16(checksum: number, old: number, value: number): number {
  return old === value ? checksum : updateChecksum(checksum, old, value);
}

/** `checksum` patched for a 32-bit field (an address) going from `old` to `value`. */
function patch32(checksum: number, old: number, value: number): number {
  return old === value ? checksum : updateChecksum32(checksum, old, value);
}

/** Writes `value` at `at` and returns `checksum` patched for the change (RFC 1624 eqn. 3). */
function put16(p: Uint8Array, at: number, value: number, checksum: number): number {
  const old = u16(p, at);
  setU16(p, at, value);
  return patch16(checksum, old, value);
}

/**
 * Rewrites the quoted packet at `q` (up to `end`) of an ICMP error and returns the ICMP checksum
 * patched for every word changed in it (RFC 5508 §4.2: addresses, ports or identifier, and the
 * quoted checksums when the quote holds them). Every field is word-aligned in the ICMP message.
 */
function rewriteQuote(
  p: Uint8Array,
  q: number,
  end: number,
  t: InnerTranslation,
  icmpChecksum: number,
): number {
  let c = icmpChecksum;
  if (q + 20 > end || p[q]! >>> 4 !== 4) return c;
  const ihl = (p[q]! & 0x0f) * 4;
  const proto = p[q + 9]!;
  const oldSrc = u32(p, q + 12);
  const oldDst = u32(p, q + 16);
  const l4 = q + ihl;
  if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP) && l4 + 4 <= end) {
    const at = l4 + (proto === IPPROTO_TCP ? 16 : 6);
    const oldSport = u16(p, l4);
    const oldDport = u16(p, l4 + 2);
    if (t.srcPort >= 0) c = put16(p, l4, t.srcPort, c);
    if (t.dstPort >= 0) c = put16(p, l4 + 2, t.dstPort, c);
    if (at + 2 <= end && !(proto === IPPROTO_UDP && u16(p, at) === 0)) {
      let k = u16(p, at);
      k = patch32(k, oldSrc, t.src);
      k = patch32(k, oldDst, t.dst);
      if (t.srcPort >= 0) k = patch16(k, oldSport, t.srcPort);
      if (t.dstPort >= 0) k = patch16(k, oldDport, t.dstPort);
      if (proto === IPPROTO_UDP && k === 0) k = 0xffff;
      c = put16(p, at, k, c);
    }
  } else if (proto === IPPROTO_ICMP && t.icmpId >= 0 && l4 + 6 <= end) {
    const old = u16(p, l4 + 4);
    c = put16(p, l4 + 4, t.icmpId, c);
    c = put16(p, l4 + 2, patch16(u16(p, l4 + 2), old, t.icmpId), c);
  }
  let ipc = u16(p, q + 10);
  ipc = patch32(ipc, oldSrc, t.src);
  ipc = patch32(ipc, oldDst, t.dst);
  c = put16(p, q + 12, t.src >>> 16, c);
  c = put16(p, q + 14, t.src & 0xffff, c);
  c = put16(p, q + 16, t.dst >>> 16, c);
  c = put16(p, q + 18, t.dst & 0xffff, c);
  c = put16(p, q + 10, ipc, c);
  return c;
}
