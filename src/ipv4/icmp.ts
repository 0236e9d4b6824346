/**
 * ICMP for IPv4 (RFC 792; RFC 1122 §3.2.2; RFC 1191 §4 for the next-hop MTU).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Type      |     Code      |          Checksum             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |              rest of header (meaning depends on type)         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     echo data, or the quoted datagram (IP header + data) ...
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-
 *
 * Rest of header by type:
 *   echo request 8 / reply 0        identifier (16) | sequence number (16)
 *   destination unreachable 3       unused (16) | next-hop MTU (16, code 4 only: RFC 1191 §4)
 *   time exceeded 11                unused (32)
 *   parameter problem 12            pointer (8) | unused (24)
 *   redirect 5                      gateway internet address (32)
 * Every other type (source quench, timestamp, information, address mask, anything unknown) parses as
 * `other` with the four bytes kept as a number: RFC 1122 §3.2.2 says an unknown type "MUST be
 * silently discarded", which is the stack's decision, not a parse error.
 *
 * The checksum covers the whole ICMP message (RFC 792); it is verified on parse unless
 * `checksum: 'ignore'` and always filled on emit. For an echo the code must be 0 (RFC 792); a
 * non-zero code is accepted and dropped from the repr, as Linux answers such echoes anyway.
 *
 * Contract: `Icmpv4Packet.check` validates lengths once; afterwards no getter reads out of bounds.
 * `parseIcmpv4` never throws. Views alias the bytes they were built over.
 */
import { type Ipv4Addr, readIpv4, writeIpv4 } from '../addr.js';
import { setU16, setU32, u16, u32 } from '../bytes.js';
import { finish, sum16, verifies } from '../checksum/index.js';
import { assertNever, malformed, ok, type Result } from '../result.js';
import { IPPROTO_ICMP } from '../ipproto.js';

export const ICMPV4_ECHO_REPLY = 0;
export const ICMPV4_DEST_UNREACHABLE = 3;
export const ICMPV4_SOURCE_QUENCH = 4;
export const ICMPV4_REDIRECT = 5;
export const ICMPV4_ECHO_REQUEST = 8;
export const ICMPV4_TIME_EXCEEDED = 11;
export const ICMPV4_PARAMETER_PROBLEM = 12;
export const ICMPV4_TIMESTAMP = 13;
export const ICMPV4_TIMESTAMP_REPLY = 14;

/** Destination Unreachable codes (RFC 792; RFC 1122 §3.2.2.1; RFC 1812 §5.2.7.1). */
export const UNREACH_NET = 0;
export const UNREACH_HOST = 1;
export const UNREACH_PROTOCOL = 2;
export const UNREACH_PORT = 3;
export const UNREACH_FRAG_NEEDED = 4;
export const UNREACH_SOURCE_ROUTE = 5;
export const UNREACH_ADMIN_PROHIBITED = 13;

/** Time Exceeded codes (RFC 792). */
export const TIME_EXCEEDED_TTL = 0;
export const TIME_EXCEEDED_REASSEMBLY = 1;

export const ICMPV4_HEADER_LEN = 8;

/**
 * Default bytes of the offending datagram to quote in an error: RFC 1812 §4.3.2.3 says "as much of
 * the original datagram as possible without the length of the ICMP datagram exceeding 576 bytes",
 * i.e. 576 - 20 (IP header without options) - 8 (ICMP header). Linux 6.18 quotes exactly this much.
 */
export const ICMPV4_ERROR_QUOTE_MAX = 576 - 20 - ICMPV4_HEADER_LEN;

/** RFC 792's floor: the IP header (at most 60 bytes) and the first 8 data bytes. */
const QUOTE_FLOOR = 60 + 8;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;

export interface Icmpv4ParseOptions {
  /** 'verify' (default) drops a bad checksum; 'ignore' skips the check. */
  readonly checksum?: 'verify' | 'ignore';
}

export type Icmpv4Repr =
  | { readonly type: 'echo-request' | 'echo-reply'; readonly ident: number; readonly seq: number }
  | {
      readonly type: 'dest-unreachable';
      readonly code: number;
      /** RFC 1191 §4: the MTU of the next hop for code 4 (fragmentation needed); 0 otherwise. */
      readonly nextHopMtu: number;
    }
  | { readonly type: 'time-exceeded'; readonly code: number }
  /** `pointer`: offset of the offending octet in the quoted datagram (RFC 792); code 1 is RFC 1122's "required option is missing". */
  | { readonly type: 'parameter-problem'; readonly code: number; readonly pointer: number }
  | { readonly type: 'redirect'; readonly code: number; readonly gateway: Ipv4Addr }
  | { readonly type: 'other'; readonly icmpType: number; readonly code: number; readonly rest: number };

/** Error messages (RFC 1122 §3.2.2): never answered with another ICMP error. */
export function isIcmpv4Error(icmpType: number): boolean {
  return (
    icmpType === ICMPV4_DEST_UNREACHABLE ||
    icmpType === ICMPV4_SOURCE_QUENCH ||
    icmpType === ICMPV4_REDIRECT ||
    icmpType === ICMPV4_TIME_EXCEEDED ||
    icmpType === ICMPV4_PARAMETER_PROBLEM
  );
}

export class Icmpv4Packet {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array, opts: Icmpv4ParseOptions = {}): Result<Icmpv4Packet> {
    if (bytes.length < ICMPV4_HEADER_LEN) return malformed('icmpv4', 'truncated');
    if (opts.checksum !== 'ignore' && !verifies(sum16(bytes))) return malformed('icmpv4', 'bad-checksum');
    return ok(new Icmpv4Packet(bytes));
  }

  /** The numeric type (the repr's `type` is the named variant). */
  get icmpType(): number {
    return this.bytes[TYPE]!;
  }

  get code(): number {
    return this.bytes[CODE]!;
  }

  get checksum(): number {
    return u16(this.bytes, CHECKSUM);
  }

  /** The 32 bits after the checksum, whatever the type. */
  get rest(): number {
    return u32(this.bytes, REST);
  }

  /** Echo identifier. */
  get ident(): number {
    return u16(this.bytes, REST);
  }

  /** Echo sequence number. */
  get seq(): number {
    return u16(this.bytes, REST + 2);
  }

  /** Low 16 bits of the rest (RFC 1191 §4); meaningful for Destination Unreachable code 4 only. */
  get nextHopMtu(): number {
    return u16(this.bytes, REST + 2);
  }

  /** Parameter Problem pointer. */
  get pointer(): number {
    return this.bytes[REST]!;
  }

  /** Redirect gateway. */
  get gateway(): Ipv4Addr {
    return readIpv4(this.bytes, REST);
  }

  /** Echo data, or for errors the quoted datagram (its IP header first). */
  get payload(): Uint8Array {
    return this.bytes.subarray(ICMPV4_HEADER_LEN);
  }

  verifyChecksum(): boolean {
    return verifies(sum16(this.bytes));
  }

  /** Recomputes the checksum over the whole message in place. */
  fillChecksum(): void {
    setU16(this.bytes, CHECKSUM, 0);
    setU16(this.bytes, CHECKSUM, finish(sum16(this.bytes)));
  }

  repr(): Icmpv4Repr {
    const code = this.code;
    switch (this.icmpType) {
      case ICMPV4_ECHO_REQUEST:
        return { type: 'echo-request', ident: this.ident, seq: this.seq };
      case ICMPV4_ECHO_REPLY:
        return { type: 'echo-reply', ident: this.ident, seq: this.seq };
      case ICMPV4_DEST_UNREACHABLE:
        return {
          type: 'dest-unreachable',
          code,
          nextHopMtu: code === UNREACH_FRAG_NEEDED ? this.nextHopMtu : 0,
        };
      case ICMPV4_TIME_EXCEEDED:
        return { type: 'time-exceeded', code };
      case ICMPV4_PARAMETER_PROBLEM:
        return { type: 'parameter-problem', code, pointer: this.pointer };
      case ICMPV4_REDIRECT:
        return { type: 'redirect', code, gateway: this.gateway };
      default:
        return { type: 'other', icmpType: this.icmpType, code, rest: this.rest };
    }
  }
}

export function parseIcmpv4(
  bytes: Uint8Array,
  opts: Icmpv4ParseOptions = {},
): Result<{ repr: Icmpv4Repr; payload: Uint8Array }> {
  const r = Icmpv4Packet.check(bytes, opts);
  if (!r.ok) return r;
  return ok({ repr: r.value.repr(), payload: r.value.payload });
}

/** Always 8: every ICMPv4 message has a fixed 8-byte header. */
export function icmpv4HeaderLen(_repr?: Icmpv4Repr): number {
  return ICMPV4_HEADER_LEN;
}

/**
 * Writes the header at the start of `buf`, which holds exactly the message: the payload must
 * already sit at byte 8, because the checksum (always filled) covers it. Unused fields are sent as
 * zero. An `other` repr whose `icmpType` names a known type is written as given (and parses back
 * as that type). Returns 8.
 */
export function emitIcmpv4(repr: Icmpv4Repr, buf: Uint8Array): number {
  if (buf.length < ICMPV4_HEADER_LEN) throw new RangeError('emitIcmpv4: buffer too small');
  switch (repr.type) {
    case 'echo-request':
    case 'echo-reply':
      buf[TYPE] = repr.type === 'echo-request' ? ICMPV4_ECHO_REQUEST : ICMPV4_ECHO_REPLY;
      buf[CODE] = 0;
      setU16(buf, REST, repr.ident);
      setU16(buf, REST + 2, repr.seq);
      break;
    case 'dest-unreachable':
      buf[TYPE] = ICMPV4_DEST_UNREACHABLE;
      buf[CODE] = repr.code;
      // RFC 1191 §4: the high 16 bits stay unused (zero); the MTU only goes with code 4.
      setU32(buf, REST, repr.code === UNREACH_FRAG_NEEDED ? repr.nextHopMtu & 0xffff : 0);
      break;
    case 'time-exceeded':
      buf[TYPE] = ICMPV4_TIME_EXCEEDED;
      buf[CODE] = repr.code;
      setU32(buf, REST, 0);
      break;
    case 'parameter-problem':
      buf[TYPE] = ICMPV4_PARAMETER_PROBLEM;
      buf[CODE] = repr.code;
      setU32(buf, REST, ((repr.pointer & 0xff) << 24) >>> 0);
      break;
    case 'redirect':
      buf[TYPE] = ICMPV4_REDIRECT;
      buf[CODE] = repr.code;
      writeIpv4(buf, REST, repr.gateway);
      break;
    case 'other':
      buf[TYPE] = repr.icmpType;
      buf[CODE] = repr.code;
      setU32(buf, REST, repr.rest);
      break;
    default:
      assertNever(repr);
  }
  setU16(buf, CHECKSUM, 0);
  setU16(buf, CHECKSUM, finish(sum16(buf)));
  return ICMPV4_HEADER_LEN;
}

/**
 * The part of an offending IPv4 datagram to quote in an ICMP error: its first `maxLen` bytes
 * (default `ICMPV4_ERROR_QUOTE_MAX` = 548, so the error fits in 576 bytes as RFC 1812 §4.3.2.3
 * asks), or the whole datagram if shorter. When the bytes start with a plausible IPv4 header the
 * quote stops at its total length, so link padding is never quoted. The bytes are quoted unchanged
 * (RFC 1122 §3.2.2). A `maxLen` below 68 (a 60-byte header plus RFC 792's 8 data bytes) is a bug.
 * Returns a view: copy it into the error's buffer.
 */
export function quoteDatagram(
  ipPacketBytes: Uint8Array,
  maxLen: number = ICMPV4_ERROR_QUOTE_MAX,
): Uint8Array {
  if (maxLen < QUOTE_FLOOR) throw new RangeError('quoteDatagram: maxLen below IP header + 8 bytes');
  let end = ipPacketBytes.length;
  if (end >= 4 && ipPacketBytes[0]! >>> 4 === 4) {
    const total = u16(ipPacketBytes, 2);
    if (total >= 20 && total < end) end = total;
  }
  return ipPacketBytes.subarray(0, Math.min(end, maxLen));
}

/** What the caller knows about how a packet arrived, beyond its own bytes. */
export interface Icmpv4ErrorContext {
  /** The frame was a link-layer broadcast or multicast (RFC 1812 §4.3.2.7 bullet 4). */
  readonly linkBroadcast?: boolean;
  /** The destination is a directed broadcast of one of our subnets (the bytes cannot tell). */
  readonly dstBroadcast?: boolean;
}

/**
 * May an ICMP error be sent about `packet` (an IPv4 datagram as received, already validated by the
 * caller)? RFC 1812 §4.3.2.7 (RFC 1122 §3.2.2 says the same for hosts): never about an ICMP error,
 * a datagram to a broadcast or multicast address or received as a link-layer broadcast, a fragment
 * other than the first, or a source that does not name one host: network 0 ("a network prefix of
 * zero"), loopback 127/8 (RFC 1812 §5.3.7), multicast, class E and the limited broadcast ("not a
 * unicast address", §5.3.7). An ICMP datagram too short to show its type is treated as not an error.
 * Pure; rate limiting is the caller's.
 */
export function mayAnswerIcmpv4Error(packet: Uint8Array, ctx: Icmpv4ErrorContext = {}): boolean {
  if (ctx.linkBroadcast === true || ctx.dstBroadcast === true) return false;
  if (packet.length < 20 || packet[0]! >>> 4 !== 4) return false;
  const headerLen = (packet[0]! & 0x0f) * 4;
  if (headerLen < 20) return false;
  // A non-zero offset: not the first fragment.
  if ((u16(packet, 6) & 0x1fff) !== 0) return false;
  const src = readIpv4(packet, 12);
  const dst = readIpv4(packet, 16);
  const srcNet = src >>> 24;
  if (srcNet === 0 || srcNet === 127 || srcNet >= 224) return false;
  if (dst >>> 28 === 0xe || dst === 0xffff_ffff) return false;
  const end = Math.min(packet.length, u16(packet, 2));
  if (packet[9] === IPPROTO_ICMP && end > headerLen && isIcmpv4Error(packet[headerLen]!)) return false;
  return true;
}
