/**
 * ICMPv6 (RFC 4443) and the Neighbor Discovery messages and options (RFC 4861 §4).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |     Type      |     Code      |          Checksum             |   RFC 4443 §2.1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   | errors: unused / MTU / pointer; echo: ident, seq;             |   RFC 4443 §3, §4
 *   | NDP: flags and fields, addresses, then options (below)        |   RFC 4861 §4.1-§4.5
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 *   NDP option (RFC 4861 §4.6): Type (8) | Length (8, in 8-octet units, 0 invalid) | data ...
 *
 * The checksum covers the IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1) and is mandatory:
 * `parseIcmpv6` verifies it unless told `checksum: 'ignore'`, `emitIcmpv6` always fills it.
 * Types this module does not model (MLD, RFC 3810 reports included) and NDP types with a non-zero
 * code (RFC 4861 §6.1: "ICMP Code is 0", else not a valid ND message) parse as `other` with their
 * body as the payload; they are not errors. Validation that needs the IP header (hop limit 255,
 * source addresses) belongs to the NDP core.
 *
 * Contract: `parseIcmpv6` never throws; addresses, option data and payloads are views aliasing the
 * message. Emitters throw only on a caller's bug (buffer sizes, out-of-range fields).
 */
import { type Ipv6Addr, type Mac, readIpv6, readMac, writeMac } from '../addr.js';
import { setU16, setU32, u16, u32 } from '../bytes.js';
import { finish, type PseudoHeader, pseudoHeaderV6, sum16, verifies } from '../checksum/index.js';
import { malformed, ok, type Result } from '../result.js';
import { IPPROTO_ICMPV6 } from '../ipproto.js';
import { skipExtHeaders } from './ext.js';

export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAMETER_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_ROUTER_SOLICITATION = 133;
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
export const ICMPV6_REDIRECT = 137;
/** RFC 3810 §5.2. */
export const ICMPV6_MLDV2_REPORT = 143;

/** RFC 4443 §3.1 codes. */
export const UNREACH_NO_ROUTE = 0;
export const UNREACH_ADMIN_PROHIBITED = 1;
export const UNREACH_BEYOND_SCOPE = 2;
export const UNREACH_ADDRESS = 3;
export const UNREACH_PORT = 4;
/** RFC 4443 §3.3 codes. */
export const TIME_EXCEEDED_HOP_LIMIT = 0;
export const TIME_EXCEEDED_REASSEMBLY = 1;
/** RFC 4443 §3.4 codes; 3 is RFC 7112 §5 (incomplete header chain). */
export const PARAM_PROBLEM_HEADER_FIELD = 0;
export const PARAM_PROBLEM_NEXT_HEADER = 1;
export const PARAM_PROBLEM_OPTION = 2;
export const PARAM_PROBLEM_HEADER_CHAIN = 3;

export const NDP_OPT_SOURCE_LINK_ADDR = 1;
export const NDP_OPT_TARGET_LINK_ADDR = 2;
export const NDP_OPT_PREFIX_INFO = 3;
export const NDP_OPT_REDIRECTED_HEADER = 4;
export const NDP_OPT_MTU = 5;
/** RFC 8106 §5.1: Recursive DNS Server option. */
export const NDP_OPT_RDNSS = 25;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
/** Type, code, checksum. */
const BASE_LEN = 4;
/** Errors and echo carry four more octets before their payload. */
const SHORT_LEN = 8;
const RA_LEN = 16;
const NS_NA_LEN = 24;
const REDIRECT_LEN = 40;
const PREFIX_INFO_LEN = 32;
/** RFC 8106 §5.1: type, length, reserved (2), lifetime (4), then 16 octets per address. */
const RDNSS_HEADER_LEN = 8;

/** Maximum NDP option length: the Length field is 8 bits of 8-octet units. */
const MAX_OPTION_LEN = 255 * 8;

export type NdpOption =
  | { readonly kind: 'source-link-addr'; readonly mac: Mac }
  | { readonly kind: 'target-link-addr'; readonly mac: Mac }
  | {
      readonly kind: 'prefix-info';
      readonly prefixLen: number;
      /** L flag. */
      readonly onLink: boolean;
      /** A flag (SLAAC). */
      readonly autonomous: boolean;
      /** Seconds; 0xffffffff is infinity. */
      readonly validLifetime: number;
      readonly preferredLifetime: number;
      readonly prefix: Ipv6Addr;
    }
  | { readonly kind: 'mtu'; readonly mtu: number }
  /**
   * RFC 8106 §5.1 Recursive DNS Servers: `lifetime` in seconds (0xffffffff is infinity, 0 means
   * "no longer used"), one or more addresses. Unicast-ness (§5.3.1) is the consumer's check.
   */
  | { readonly kind: 'rdnss'; readonly lifetime: number; readonly addresses: readonly Ipv6Addr[] }
  /** IP header + data of the redirected packet, with the option's padding (RFC 4861 §4.6.3). */
  | { readonly kind: 'redirected-header'; readonly data: Uint8Array }
  /** An option we do not interpret; RFC 4861 §4.6: receivers "MUST skip the option". */
  | { readonly kind: 'unknown'; readonly type: number; readonly data: Uint8Array };

export interface ParameterProblemRepr {
  readonly kind: 'parameter-problem';
  readonly code: number;
  /** Offset of the offending octet from the start of the invoking packet's IPv6 header. */
  readonly pointer: number;
}

export type Icmpv6Repr =
  | { readonly kind: 'dest-unreachable'; readonly code: number }
  | { readonly kind: 'packet-too-big'; readonly mtu: number }
  | { readonly kind: 'time-exceeded'; readonly code: number }
  | ParameterProblemRepr
  | { readonly kind: 'echo-request'; readonly ident: number; readonly seq: number }
  | { readonly kind: 'echo-reply'; readonly ident: number; readonly seq: number }
  | { readonly kind: 'router-solicitation'; readonly options: readonly NdpOption[] }
  | {
      readonly kind: 'router-advertisement';
      readonly curHopLimit: number;
      /** M flag. */
      readonly managed: boolean;
      /** O flag. */
      readonly other: boolean;
      /** Seconds. */
      readonly routerLifetime: number;
      /** Milliseconds. */
      readonly reachableTime: number;
      /** Milliseconds. */
      readonly retransTimer: number;
      readonly options: readonly NdpOption[];
    }
  | {
      readonly kind: 'neighbor-solicitation';
      readonly target: Ipv6Addr;
      readonly options: readonly NdpOption[];
    }
  | {
      readonly kind: 'neighbor-advertisement';
      readonly router: boolean;
      readonly solicited: boolean;
      readonly override: boolean;
      readonly target: Ipv6Addr;
      readonly options: readonly NdpOption[];
    }
  | {
      readonly kind: 'redirect';
      readonly target: Ipv6Addr;
      readonly destination: Ipv6Addr;
      readonly options: readonly NdpOption[];
    }
  /** Any other message: its body (after type, code, checksum) is the payload. */
  | { readonly kind: 'other'; readonly icmpType: number; readonly code: number };

/** The addresses the ICMPv6 checksum covers. */
export type Ipv6PseudoHeader = Extract<PseudoHeader, { readonly version: 6 }>;

export interface Icmpv6ParseOptions {
  readonly checksum?: 'verify' | 'ignore';
}

/** RFC 4443 §2.1: types 0-127 are errors (never answered with an error, §2.4(e)). */
export function isIcmpv6ErrorType(type: number): boolean {
  return type < 128;
}

export function isIcmpv6Error(repr: Icmpv6Repr): boolean {
  return isIcmpv6ErrorType(icmpv6Type(repr));
}

/** The Type field for `repr`. */
export function icmpv6Type(repr: Icmpv6Repr): number {
  switch (repr.kind) {
    case 'dest-unreachable':
      return ICMPV6_DEST_UNREACHABLE;
    case 'packet-too-big':
      return ICMPV6_PACKET_TOO_BIG;
    case 'time-exceeded':
      return ICMPV6_TIME_EXCEEDED;
    case 'parameter-problem':
      return ICMPV6_PARAMETER_PROBLEM;
    case 'echo-request':
      return ICMPV6_ECHO_REQUEST;
    case 'echo-reply':
      return ICMPV6_ECHO_REPLY;
    case 'router-solicitation':
      return ICMPV6_ROUTER_SOLICITATION;
    case 'router-advertisement':
      return ICMPV6_ROUTER_ADVERTISEMENT;
    case 'neighbor-solicitation':
      return ICMPV6_NEIGHBOR_SOLICITATION;
    case 'neighbor-advertisement':
      return ICMPV6_NEIGHBOR_ADVERTISEMENT;
    case 'redirect':
      return ICMPV6_REDIRECT;
    case 'other':
      return repr.icmpType;
  }
}

function isNdpType(type: number): boolean {
  return type >= ICMPV6_ROUTER_SOLICITATION && type <= ICMPV6_REDIRECT;
}

/** Parses the options of an ND message (RFC 4861 §4.6), `bytes` holding exactly the options. */
export function parseNdpOptions(bytes: Uint8Array): Result<NdpOption[]> {
  const options: NdpOption[] = [];
  let p = 0;
  while (p < bytes.length) {
    if (p + 2 > bytes.length) return malformed('ndp', 'option-truncated');
    const type = bytes[p]!;
    const len = bytes[p + 1]! * 8;
    // RFC 4861 §4.6: "Nodes MUST silently discard an ND packet that contains an option with length zero."
    if (len === 0) return malformed('ndp', 'option-length-zero');
    if (p + len > bytes.length) return malformed('ndp', 'option-truncated');
    const body = bytes.subarray(p + 2, p + len);
    switch (type) {
      case NDP_OPT_SOURCE_LINK_ADDR:
      case NDP_OPT_TARGET_LINK_ADDR:
        // RFC 4861 §4.6.1 / RFC 2464 §6: an Ethernet address option is one unit long.
        if (len !== 8) return malformed('ndp', 'bad-link-addr-length');
        options.push({
          kind: type === NDP_OPT_SOURCE_LINK_ADDR ? 'source-link-addr' : 'target-link-addr',
          mac: readMac(body, 0),
        });
        break;
      case NDP_OPT_PREFIX_INFO:
        // RFC 4861 §4.6.2: Length 4.
        if (len !== PREFIX_INFO_LEN) return malformed('ndp', 'bad-prefix-info-length');
        options.push({
          kind: 'prefix-info',
          prefixLen: body[0]!,
          onLink: (body[1]! & 0x80) !== 0,
          autonomous: (body[1]! & 0x40) !== 0,
          validLifetime: u32(body, 2),
          preferredLifetime: u32(body, 6),
          prefix: readIpv6(body, 14),
        });
        break;
      case NDP_OPT_MTU:
        // RFC 4861 §4.6.4: Length 1.
        if (len !== 8) return malformed('ndp', 'bad-mtu-length');
        options.push({ kind: 'mtu', mtu: u32(body, 2) });
        break;
      case NDP_OPT_RDNSS: {
        // RFC 8106 §5.3.1: valid when "the value of the Length field ... is greater than or equal to
        // the minimum value (3) and satisfies the requirement that (Length - 1) % 2 == 0". Stricter
        // than "discard the options": the message is malformed, like every mis-sized option here.
        const units = len / 8;
        if (units < 3 || units % 2 === 0) return malformed('ndp', 'bad-rdnss-length');
        const addresses: Ipv6Addr[] = [];
        for (let a = RDNSS_HEADER_LEN - 2; a < body.length; a += 16) addresses.push(readIpv6(body, a));
        options.push({ kind: 'rdnss', lifetime: u32(body, 2), addresses });
        break;
      }
      case NDP_OPT_REDIRECTED_HEADER:
        // RFC 4861 §4.6.3: six reserved octets, then the redirected packet.
        options.push({ kind: 'redirected-header', data: body.subarray(6) });
        break;
      default:
        options.push({ kind: 'unknown', type, data: body });
    }
    p += len;
  }
  return ok(options);
}

function ndpOptionLen(o: NdpOption): number {
  switch (o.kind) {
    case 'source-link-addr':
    case 'target-link-addr':
    case 'mtu':
      return 8;
    case 'prefix-info':
      return PREFIX_INFO_LEN;
    case 'rdnss':
      return RDNSS_HEADER_LEN + 16 * o.addresses.length;
    case 'redirected-header':
      return (8 + o.data.length + 7) & ~7;
    case 'unknown':
      return (2 + o.data.length + 7) & ~7;
  }
}

/** Bytes the options take on the wire (variable data is zero-padded to 8-octet units). */
export function ndpOptionsLen(options: readonly NdpOption[]): number {
  let n = 0;
  for (const o of options) n += ndpOptionLen(o);
  return n;
}

/** Writes `options` at the start of `buf`; returns the bytes written. */
export function emitNdpOptions(options: readonly NdpOption[], buf: Uint8Array): number {
  const total = ndpOptionsLen(options);
  if (buf.length < total) throw new RangeError('emitNdpOptions: buffer too small');
  let p = 0;
  for (const o of options) {
    const len = ndpOptionLen(o);
    if (len > MAX_OPTION_LEN) throw new RangeError('emitNdpOptions: option over 2040 bytes');
    // Zero first: reserved fields and padding (RFC 4861 §4.6: reserved fields are zero on send).
    buf.fill(0, p, p + len);
    buf[p + 1] = len / 8;
    switch (o.kind) {
      case 'source-link-addr':
      case 'target-link-addr':
        buf[p] = o.kind === 'source-link-addr' ? NDP_OPT_SOURCE_LINK_ADDR : NDP_OPT_TARGET_LINK_ADDR;
        writeMac(buf, p + 2, o.mac);
        break;
      case 'prefix-info':
        buf[p] = NDP_OPT_PREFIX_INFO;
        buf[p + 2] = o.prefixLen;
        buf[p + 3] = (o.onLink ? 0x80 : 0) | (o.autonomous ? 0x40 : 0);
        setU32(buf, p + 4, o.validLifetime);
        setU32(buf, p + 8, o.preferredLifetime);
        buf.set(o.prefix, p + 16);
        break;
      case 'mtu':
        buf[p] = NDP_OPT_MTU;
        setU32(buf, p + 4, o.mtu);
        break;
      case 'rdnss':
        // RFC 8106 §5.1: "one or more 128-bit IPv6 addresses".
        if (o.addresses.length === 0) throw new RangeError('emitNdpOptions: RDNSS without an address');
        buf[p] = NDP_OPT_RDNSS;
        setU32(buf, p + 4, o.lifetime);
        for (let i = 0; i < o.addresses.length; i++) buf.set(o.addresses[i]!, p + RDNSS_HEADER_LEN + 16 * i);
        break;
      case 'redirected-header':
        buf[p] = NDP_OPT_REDIRECTED_HEADER;
        buf.set(o.data, p + 8);
        break;
      case 'unknown':
        buf[p] = o.type;
        buf.set(o.data, p + 2);
        break;
    }
    p += len;
  }
  return total;
}

/** Length of the fixed part of a message of `type`; a shorter message is malformed. */
function minLen(type: number): number {
  switch (type) {
    case ICMPV6_DEST_UNREACHABLE:
    case ICMPV6_PACKET_TOO_BIG:
    case ICMPV6_TIME_EXCEEDED:
    case ICMPV6_PARAMETER_PROBLEM:
    case ICMPV6_ECHO_REQUEST:
    case ICMPV6_ECHO_REPLY:
    case ICMPV6_ROUTER_SOLICITATION:
      return SHORT_LEN;
    case ICMPV6_ROUTER_ADVERTISEMENT:
      return RA_LEN;
    case ICMPV6_NEIGHBOR_SOLICITATION:
    case ICMPV6_NEIGHBOR_ADVERTISEMENT:
      return NS_NA_LEN;
    case ICMPV6_REDIRECT:
      return REDIRECT_LEN;
    default:
      return BASE_LEN;
  }
}

function options(bytes: Uint8Array, from: number): Result<NdpOption[]> {
  return parseNdpOptions(bytes.subarray(from));
}

/**
 * Parses one ICMPv6 message, `bytes` being the whole upper-layer packet (from `ExtChain.payload`).
 * `payload` is the echo data, the invoking packet of an error, the body of an `other` message, and
 * empty for ND messages (their options are in the repr).
 */
export function parseIcmpv6(
  bytes: Uint8Array,
  ph: Ipv6PseudoHeader,
  opts: Icmpv6ParseOptions = {},
): Result<{ repr: Icmpv6Repr; payload: Uint8Array }> {
  if (bytes.length < BASE_LEN) return malformed('icmpv6', 'truncated');
  if (opts.checksum !== 'ignore') {
    const sum = sum16(bytes, pseudoHeaderV6(ph.src, ph.dst, IPPROTO_ICMPV6, bytes.length));
    if (!verifies(sum)) return malformed('icmpv6', 'bad-checksum');
  }
  const type = bytes[TYPE]!;
  const code = bytes[CODE]!;
  if (isNdpType(type) && code !== 0)
    return ok({ repr: { kind: 'other', icmpType: type, code }, payload: bytes.subarray(BASE_LEN) });
  if (bytes.length < minLen(type)) return malformed('icmpv6', 'truncated');
  // Errors and echo: the payload follows the first eight octets.
  const rest = bytes.subarray(SHORT_LEN);
  switch (type) {
    case ICMPV6_DEST_UNREACHABLE:
      return ok({ repr: { kind: 'dest-unreachable', code }, payload: rest });
    case ICMPV6_PACKET_TOO_BIG:
      // RFC 4443 §3.2: the code is "ignored by the receiver".
      return ok({ repr: { kind: 'packet-too-big', mtu: u32(bytes, 4) }, payload: rest });
    case ICMPV6_TIME_EXCEEDED:
      return ok({ repr: { kind: 'time-exceeded', code }, payload: rest });
    case ICMPV6_PARAMETER_PROBLEM:
      return ok({ repr: { kind: 'parameter-problem', code, pointer: u32(bytes, 4) }, payload: rest });
    case ICMPV6_ECHO_REQUEST:
    case ICMPV6_ECHO_REPLY:
      return ok({
        repr: {
          kind: type === ICMPV6_ECHO_REQUEST ? 'echo-request' : 'echo-reply',
          ident: u16(bytes, 4),
          seq: u16(bytes, 6),
        },
        payload: rest,
      });
    case ICMPV6_ROUTER_SOLICITATION: {
      const o = options(bytes, SHORT_LEN);
      if (!o.ok) return o;
      return ok({
        repr: { kind: 'router-solicitation', options: o.value },
        payload: bytes.subarray(bytes.length),
      });
    }
    case ICMPV6_ROUTER_ADVERTISEMENT: {
      const o = options(bytes, RA_LEN);
      if (!o.ok) return o;
      return ok({
        repr: {
          kind: 'router-advertisement',
          curHopLimit: bytes[4]!,
          managed: (bytes[5]! & 0x80) !== 0,
          other: (bytes[5]! & 0x40) !== 0,
          routerLifetime: u16(bytes, 6),
          reachableTime: u32(bytes, 8),
          retransTimer: u32(bytes, 12),
          options: o.value,
        },
        payload: bytes.subarray(bytes.length),
      });
    }
    case ICMPV6_NEIGHBOR_SOLICITATION: {
      const o = options(bytes, NS_NA_LEN);
      if (!o.ok) return o;
      return ok({
        repr: { kind: 'neighbor-solicitation', target: readIpv6(bytes, 8), options: o.value },
        payload: bytes.subarray(bytes.length),
      });
    }
    case ICMPV6_NEIGHBOR_ADVERTISEMENT: {
      const o = options(bytes, NS_NA_LEN);
      if (!o.ok) return o;
      return ok({
        repr: {
          kind: 'neighbor-advertisement',
          router: (bytes[4]! & 0x80) !== 0,
          solicited: (bytes[4]! & 0x40) !== 0,
          override: (bytes[4]! & 0x20) !== 0,
          target: readIpv6(bytes, 8),
          options: o.value,
        },
        payload: bytes.subarray(bytes.length),
      });
    }
    case ICMPV6_REDIRECT: {
      const o = options(bytes, REDIRECT_LEN);
      if (!o.ok) return o;
      return ok({
        repr: {
          kind: 'redirect',
          target: readIpv6(bytes, 8),
          destination: readIpv6(bytes, 24),
          options: o.value,
        },
        payload: bytes.subarray(bytes.length),
      });
    }
    default:
      return ok({ repr: { kind: 'other', icmpType: type, code }, payload: bytes.subarray(BASE_LEN) });
  }
}

/** Bytes before the payload: the fixed part of the message and, for ND messages, the options. */
export function icmpv6HeaderLen(repr: Icmpv6Repr): number {
  switch (repr.kind) {
    case 'dest-unreachable':
    case 'packet-too-big':
    case 'time-exceeded':
    case 'parameter-problem':
    case 'echo-request':
    case 'echo-reply':
      return SHORT_LEN;
    case 'router-solicitation':
      return SHORT_LEN + ndpOptionsLen(repr.options);
    case 'router-advertisement':
      return RA_LEN + ndpOptionsLen(repr.options);
    case 'neighbor-solicitation':
    case 'neighbor-advertisement':
      return NS_NA_LEN + ndpOptionsLen(repr.options);
    case 'redirect':
      return REDIRECT_LEN + ndpOptionsLen(repr.options);
    case 'other':
      return BASE_LEN;
  }
}

/**
 * Writes the message header at the start of `buf` and fills the checksum over all of `buf`, which
 * holds exactly the message (the payload already at `icmpv6HeaderLen(repr)`). Returns the header length.
 */
export function emitIcmpv6(repr: Icmpv6Repr, buf: Uint8Array, ph: Ipv6PseudoHeader): number {
  const len = icmpv6HeaderLen(repr);
  if (buf.length < len) throw new RangeError('emitIcmpv6: buffer too small');
  buf[TYPE] = icmpv6Type(repr);
  buf[CODE] = 0;
  setU16(buf, CHECKSUM, 0);
  switch (repr.kind) {
    case 'dest-unreachable':
    case 'time-exceeded':
      buf[CODE] = repr.code;
      setU32(buf, 4, 0);
      break;
    case 'packet-too-big':
      setU32(buf, 4, repr.mtu);
      break;
    case 'parameter-problem':
      buf[CODE] = repr.code;
      setU32(buf, 4, repr.pointer);
      break;
    case 'echo-request':
    case 'echo-reply':
      setU16(buf, 4, repr.ident);
      setU16(buf, 6, repr.seq);
      break;
    case 'router-solicitation':
      setU32(buf, 4, 0);
      emitNdpOptions(repr.options, buf.subarray(SHORT_LEN));
      break;
    case 'router-advertisement':
      buf[4] = repr.curHopLimit;
      buf[5] = (repr.managed ? 0x80 : 0) | (repr.other ? 0x40 : 0);
      setU16(buf, 6, repr.routerLifetime);
      setU32(buf, 8, repr.reachableTime);
      setU32(buf, 12, repr.retransTimer);
      emitNdpOptions(repr.options, buf.subarray(RA_LEN));
      break;
    case 'neighbor-solicitation':
      setU32(buf, 4, 0);
      buf.set(repr.target, 8);
      emitNdpOptions(repr.options, buf.subarray(NS_NA_LEN));
      break;
    case 'neighbor-advertisement':
      setU32(buf, 4, 0);
      buf[4] = (repr.router ? 0x80 : 0) | (repr.solicited ? 0x40 : 0) | (repr.override ? 0x20 : 0);
      buf.set(repr.target, 8);
      emitNdpOptions(repr.options, buf.subarray(NS_NA_LEN));
      break;
    case 'redirect':
      setU32(buf, 4, 0);
      buf.set(repr.target, 8);
      buf.set(repr.destination, 24);
      emitNdpOptions(repr.options, buf.subarray(REDIRECT_LEN));
      break;
    case 'other':
      buf[CODE] = repr.code;
      break;
  }
  const sum = sum16(buf, pseudoHeaderV6(ph.src, ph.dst, IPPROTO_ICMPV6, buf.length));
  setU16(buf, CHECKSUM, finish(sum));
  return len;
}

/**
 * May `error` be sent about `packet` (an IPv6 packet as received)? RFC 4443 §2.4(e): not about an
 * ICMPv6 error or a Redirect (e.1, e.2; the extension headers are skipped to find out, and an ICMPv6
 * message too short to show its type is not answered, as Linux does); not about a packet to a
 * multicast address or received as a link-layer multicast or broadcast (e.3-e.5), except a Packet
 * Too Big and a Parameter Problem code 2 (an unrecognised option whose type says "send even to
 * multicast", RFC 8200 §4.2); and not to a source that does not name one node (e.6): unspecified,
 * multicast, or the loopback address (never valid on a link, RFC 4291 §2.5.3). Unlike IPv4, a
 * non-first fragment may be answered. Pure; rate limiting (§2.4(f)) is the caller's.
 */
export function mayAnswerIcmpv6Error(packet: Uint8Array, error: Icmpv6Repr, linkMulticast = false): boolean {
  if (packet.length < 40 || packet[0]! >>> 4 !== 6) return false;
  const src = packet.subarray(8, 24);
  if (src[0] === 0xff) return false;
  let zeroPrefix = true;
  for (let i = 0; i < 15; i++) if (src[i] !== 0) zeroPrefix = false;
  if (zeroPrefix && (src[15] === 0 || src[15] === 1)) return false;
  const toGroup = linkMulticast || packet[24] === 0xff;
  const evenMulticast =
    error.kind === 'packet-too-big' ||
    (error.kind === 'parameter-problem' && error.code === PARAM_PROBLEM_OPTION);
  if (toGroup && !evenMulticast) return false;
  const end = Math.min(packet.length, 40 + u16(packet, 4));
  const upper = skipExtHeaders(packet, end, 'first');
  if (upper?.protocol === IPPROTO_ICMPV6) {
    if (upper.offset >= end) return false;
    const type = packet[upper.offset]!;
    if (isIcmpv6ErrorType(type) || type === ICMPV6_REDIRECT) return false;
  }
  return true;
}
