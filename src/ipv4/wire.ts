/**
 * IPv4 headers (RFC 791 §3.1).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version|  IHL  |   DSCP    |ECN|          Total Length         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Identification        |R|D|M|     Fragment Offset     |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       Source Address                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Destination Address                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Options                    |    Padding    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The old Type of Service octet is DSCP (RFC 2474 §3) and ECN (RFC 3168 §5). Flags: R reserved,
 * D don't fragment, M more fragments. The fragment offset is exposed in bytes (the field counts
 * 8-byte units).
 *
 * Receive rules: version 4 (RFC 1122 §3.2.1.1), IHL >= 5, total length within the frame, header
 * checksum verified (RFC 1122 §3.2.1.2) unless `checksum: 'ignore'`. Bytes after the total length are
 * link padding and are cut from `payload`. The reserved flag ("must be zero", RFC 791 §3.1) is
 * ignored on receive, as Linux does, and always sent as zero. Options are kept as raw bytes (with
 * their padding); interpreting them is the stack's business.
 *
 * Contract: `Ipv4Packet.check` validates lengths once; afterwards no getter reads out of bounds.
 * `parseIpv4` never throws. Views alias the bytes they were built over. `emitIpv4` throws only on a
 * programmer error (buffer too small or too large, options over 40 bytes, unaligned fragment offset).
 */
import { type Ipv4Addr, readIpv4, writeIpv4 } from '../addr.js';
import { setU16, u16 } from '../bytes.js';
import { finish, fold, updateChecksum } from '../checksum/index.js';
import { malformed, ok, type Result } from '../result.js';

export const IPV4_MIN_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MAX_OPTIONS_LEN = 40;
export const IPV4_MAX_TOTAL_LEN = 0xffff;

const VER_IHL = 0;
const TOS = 1;
const TOTAL_LEN = 2;
const IDENT = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_MASK = 0x1fff;

export interface Ipv4ParseOptions {
  /** 'verify' (default) drops a bad header checksum; 'ignore' skips the check (e.g. offloaded input). */
  readonly checksum?: 'verify' | 'ignore';
}

export interface Ipv4Repr {
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  readonly protocol: number;
  readonly ttl: number;
  /** Differentiated services code point, 6 bits (RFC 2474). */
  readonly dscp: number;
  /** Explicit congestion notification, 2 bits (RFC 3168). */
  readonly ecn: number;
  readonly ident: number;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  /** In bytes: a multiple of 8, at most 65528. */
  readonly fragOffset: number;
  /** Raw option bytes. Parsed: a view of the whole option area, padding included. Emit pads with EOL to a multiple of 4. */
  readonly options: Uint8Array;
}

/** Ones'-complement sum of the first `len` bytes (an even count); inlined because headers are short. */
function headerSum(b: Uint8Array, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  return fold(s);
}

export class Ipv4Packet {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array, opts: Ipv4ParseOptions = {}): Result<Ipv4Packet> {
    if (bytes.length < IPV4_MIN_HEADER_LEN) return malformed('ipv4', 'truncated');
    const vi = bytes[VER_IHL]!;
    if (vi >>> 4 !== 4) return malformed('ipv4', 'bad-version');
    const hl = (vi & 0x0f) * 4;
    if (hl < IPV4_MIN_HEADER_LEN) return malformed('ipv4', 'bad-header-length');
    if (bytes.length < hl) return malformed('ipv4', 'truncated');
    const total = u16(bytes, TOTAL_LEN);
    if (total < hl) return malformed('ipv4', 'bad-total-length');
    if (total > bytes.length) return malformed('ipv4', 'truncated-payload');
    if (opts.checksum !== 'ignore' && headerSum(bytes, hl) !== 0xffff)
      return malformed('ipv4', 'bad-checksum');
    return ok(new Ipv4Packet(bytes));
  }

  get version(): number {
    return this.bytes[VER_IHL]! >>> 4;
  }

  /** IHL * 4, 20 to 60. */
  get headerLen(): number {
    return (this.bytes[VER_IHL]! & 0x0f) * 4;
  }

  get dscp(): number {
    return this.bytes[TOS]! >>> 2;
  }

  get ecn(): number {
    return this.bytes[TOS]! & 3;
  }

  get totalLen(): number {
    return u16(this.bytes, TOTAL_LEN);
  }

  get ident(): number {
    return u16(this.bytes, IDENT);
  }

  get dontFragment(): boolean {
    return (u16(this.bytes, FLAGS_FRAG) & FLAG_DF) !== 0;
  }

  get moreFragments(): boolean {
    return (u16(this.bytes, FLAGS_FRAG) & FLAG_MF) !== 0;
  }

  /** In bytes (the field is in 8-byte units, RFC 791 §3.1). */
  get fragOffset(): number {
    return (u16(this.bytes, FLAGS_FRAG) & FRAG_MASK) * 8;
  }

  /** True for any piece of a fragmented datagram (RFC 791 §3.2: MF set or a non-zero offset). */
  get isFragment(): boolean {
    return (u16(this.bytes, FLAGS_FRAG) & (FLAG_MF | FRAG_MASK)) !== 0;
  }

  get ttl(): number {
    return this.bytes[TTL]!;
  }

  get protocol(): number {
    return this.bytes[PROTOCOL]!;
  }

  get checksum(): number {
    return u16(this.bytes, CHECKSUM);
  }

  get src(): Ipv4Addr {
    return readIpv4(this.bytes, SRC);
  }

  get dst(): Ipv4Addr {
    return readIpv4(this.bytes, DST);
  }

  /** The option area, padding included (empty when IHL is 5). */
  get options(): Uint8Array {
    return this.bytes.subarray(IPV4_MIN_HEADER_LEN, this.headerLen);
  }

  /** From the header to the total length: link-layer padding is not part of it. */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen, this.totalLen);
  }

  verifyChecksum(): boolean {
    return headerSum(this.bytes, this.headerLen) === 0xffff;
  }

  /** Recomputes the header checksum in place (after editing header fields). */
  fillChecksum(): void {
    setU16(this.bytes, CHECKSUM, 0);
    setU16(this.bytes, CHECKSUM, finish(headerSum(this.bytes, this.headerLen)));
  }

  repr(): Ipv4Repr {
    return {
      src: this.src,
      dst: this.dst,
      protocol: this.protocol,
      ttl: this.ttl,
      dscp: this.dscp,
      ecn: this.ecn,
      ident: this.ident,
      dontFragment: this.dontFragment,
      moreFragments: this.moreFragments,
      fragOffset: this.fragOffset,
      options: this.options,
    };
  }
}

export function parseIpv4(
  bytes: Uint8Array,
  opts: Ipv4ParseOptions = {},
): Result<{ repr: Ipv4Repr; payload: Uint8Array }> {
  const r = Ipv4Packet.check(bytes, opts);
  if (!r.ok) return r;
  return ok({ repr: r.value.repr(), payload: r.value.payload });
}

/** 20 plus the options rounded up to a multiple of 4. */
export function ipv4HeaderLen(repr: Pick<Ipv4Repr, 'options'>): number {
  return IPV4_MIN_HEADER_LEN + ((repr.options.length + 3) & ~3);
}

/**
 * Writes the header at the start of `buf`, which holds exactly one datagram: the total length is
 * `buf.length` and the payload must already sit at `ipv4HeaderLen(repr)`. The header checksum is
 * always filled (no NIC offloads it for us). Returns the header length.
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array): number {
  if (repr.options.length > IPV4_MAX_OPTIONS_LEN) throw new RangeError('emitIpv4: options over 40 bytes');
  const hl = ipv4HeaderLen(repr);
  if (buf.length < hl) throw new RangeError('emitIpv4: buffer smaller than the header');
  if (buf.length > IPV4_MAX_TOTAL_LEN) throw new RangeError('emitIpv4: datagram over 65535 bytes');
  if (repr.fragOffset % 8 !== 0 || repr.fragOffset < 0 || repr.fragOffset > FRAG_MASK * 8)
    throw new RangeError('emitIpv4: fragment offset not a multiple of 8 in range');
  buf[VER_IHL] = 0x40 | (hl >>> 2);
  buf[TOS] = ((repr.dscp & 0x3f) << 2) | (repr.ecn & 3);
  setU16(buf, TOTAL_LEN, buf.length);
  setU16(buf, IDENT, repr.ident);
  setU16(
    buf,
    FLAGS_FRAG,
    (repr.dontFragment ? FLAG_DF : 0) | (repr.moreFragments ? FLAG_MF : 0) | (repr.fragOffset / 8),
  );
  buf[TTL] = repr.ttl;
  buf[PROTOCOL] = repr.protocol;
  setU16(buf, CHECKSUM, 0);
  writeIpv4(buf, SRC, repr.src);
  writeIpv4(buf, DST, repr.dst);
  buf.set(repr.options, IPV4_MIN_HEADER_LEN);
  // RFC 791 §3.1: "The internet header padding is used to ensure that the internet header ends on
  // a 32 bit boundary. The padding is zero." Zero is also End of Option List.
  buf.fill(0, IPV4_MIN_HEADER_LEN + repr.options.length, hl);
  setU16(buf, CHECKSUM, finish(headerSum(buf, hl)));
  return hl;
}

/**
 * Decrements the TTL of the IPv4 header at `at` in `bytes` (its start by default) in place and
 * patches the header checksum incrementally (RFC 1624 eqn. 3 on the TTL/protocol word), as a router
 * does when it forwards (RFC 1812 §5.3.1). A bad checksum stays bad, as RFC 1624 §5 intends.
 * Returns the new TTL. Calling it on TTL 0 is a bug: the caller drops (and answers Time Exceeded)
 * before forwarding.
 */
export function decrementTtl(bytes: Uint8Array, at = 0): number {
  const ttl = bytes[at + TTL];
  if (ttl === undefined || bytes.length < at + IPV4_MIN_HEADER_LEN)
    throw new RangeError('decrementTtl: no header');
  if (ttl === 0) throw new RangeError('decrementTtl: TTL already 0');
  const oldWord = u16(bytes, at + TTL);
  const newWord = oldWord - 0x100;
  bytes[at + TTL] = ttl - 1;
  setU16(bytes, at + CHECKSUM, updateChecksum(u16(bytes, at + CHECKSUM), oldWord, newWord));
  return ttl - 1;
}
