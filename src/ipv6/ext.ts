/**
 * IPv6 extension headers (RFC 8200 §4): the walk from the fixed header to the upper layer.
 *
 *   Hop-by-Hop (0) / Destination Options (60), RFC 8200 §4.3, §4.6, options TLVs §4.2:
 *   +---------------+---------------+-------------------------------+
 *   |  Next Header  |  Hdr Ext Len  |  Options (TLVs: type, len, data; Pad1 is one 0 byte)
 *   +---------------+---------------+-------------------------------+
 *   Routing (43), RFC 8200 §4.4:
 *   +---------------+---------------+---------------+---------------+
 *   |  Next Header  |  Hdr Ext Len  |  Routing Type | Segments Left |  type-specific data
 *   +---------------+---------------+---------------+---------------+
 *   Fragment (44), RFC 8200 §4.5:
 *   +---------------+---------------+-------------------------+---+-+
 *   |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 *   +---------------+---------------+-------------------------+---+-+
 *   |                         Identification                        |
 *   +---------------------------------------------------------------+
 *   Hdr Ext Len counts 8-octet units after the first 8 octets.
 *
 * `walkExtHeaders` processes the headers strictly in order (§4) and stops at the first Next Header
 * that is not one of the four above: the upper-layer protocol, No Next Header (59), or a value it
 * does not know, which the caller judges (a Parameter Problem code 1 with `nextHeaderPointer` if it
 * has no handler, RFC 8200 §4). It also stops after the fragment header of a packet that needs
 * reassembly (`fragment` set). Every offset and pointer counts from the start of the IPv6 header,
 * so a rejection carries the ICMPv6 Parameter Problem to send back as it is (RFC 4443 §3.4).
 *
 * Contract: the walk never throws and reads only inside `bytes`; header views alias `bytes`.
 * Emitters write at the start of `buf` and throw only on a caller's bug (bad sizes or fields).
 */
import { setU16, setU32, u16, u32 } from '../bytes.js';
import type { Result, WireError } from '../result.js';
import type { ParameterProblemRepr } from './icmp.js';
import { IPV6_HEADER_LEN } from './wire.js';
import {
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  IPPROTO_ROUTING,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from '../ipproto.js';

export const OPTION_PAD1 = 0;
export const OPTION_PADN = 1;
/** RFC 2711 §2.1. */
export const OPTION_ROUTER_ALERT = 5;
/** RFC 2711 §2.1: value 0 = the datagram contains a Multicast Listener Discovery message (RFC 2710). */
export const ROUTER_ALERT_MLD = 0;
export const FRAGMENT_HEADER_LEN = 8;
/** Offset of the Payload Length field in the fixed header (RFC 8200 §4.5 points there). */
const PAYLOAD_LEN_FIELD = 4;
/** Offset of the fixed header's Next Header field. */
const FIXED_NEXT_HEADER_FIELD = 6;
/** Hdr Ext Len is 8 bits of 8-octet units (RFC 8200 §4.3). */
const MAX_EXT_HEADER_LEN = 8 * 256;

/** One option of a hop-by-hop or destination options header. Pad1 and PadN are not listed. */
export interface Ipv6Option {
  readonly type: number;
  /** A view into the header on parse. */
  readonly data: Uint8Array;
}

export interface OptionsHeader {
  readonly kind: 'hop-by-hop' | 'destination-options';
  readonly nextHeader: number;
  /** Recognised options and unrecognised ones whose action is "skip"; padding dropped. */
  readonly options: readonly Ipv6Option[];
}

export interface RoutingHeader {
  readonly kind: 'routing';
  readonly nextHeader: number;
  readonly routingType: number;
  readonly segmentsLeft: number;
  /** Type-specific data after the first four octets (a view on parse). */
  readonly data: Uint8Array;
}

export interface FragmentHeader {
  readonly kind: 'fragment';
  readonly nextHeader: number;
  /** Offset of the data in bytes (a multiple of 8, at most 65528). */
  readonly fragOffset: number;
  readonly moreFragments: boolean;
  readonly ident: number;
}

export type ExtHeader = OptionsHeader | RoutingHeader | FragmentHeader;

/** A header met by the walk, with its offset from the start of the IPv6 header. */
export type WalkedHeader = ExtHeader & { readonly offset: number };

export interface ExtChain {
  readonly headers: readonly WalkedHeader[];
  /** Where the walk stopped: the upper-layer protocol, 59, or a value the walk does not know. */
  readonly nextHeader: number;
  /** Offset of the Next Header field holding `nextHeader`: the pointer for a Parameter Problem code 1. */
  readonly nextHeaderPointer: number;
  /** Offset of the upper-layer header (or of the fragment data), from the start of the IPv6 header. */
  readonly offset: number;
  /** The bytes from `offset` on: the upper-layer packet, or the fragment data when `fragment` is set. */
  readonly payload: Uint8Array;
  /**
   * The fragment header when the packet must be reassembled (offset or M non-zero). The walk stops
   * there: headers after it belong to the reassembled packet. Atomic fragments (offset 0, M 0) are
   * walked through and processed as whole packets (RFC 8200 §4.5, RFC 6946).
   */
  readonly fragment: (FragmentHeader & { readonly offset: number }) | undefined;
}

/** A rejected packet, with the Parameter Problem to send to its source or `undefined` to drop silently. */
export interface ExtError extends WireError {
  readonly icmp: ParameterProblemRepr | undefined;
}

export interface WalkOptions {
  /** The packet's destination is multicast: option action 11 then sends no ICMP (RFC 8200 §4.2). */
  readonly dstMulticast: boolean;
}

/** What RFC 8200 §4.2 says to do with an unrecognised option, from its two high-order bits. */
export type OptionAction = 'skip' | 'discard' | 'param-problem' | 'param-problem-unless-multicast';

export function optionAction(type: number): OptionAction {
  switch (type >>> 6) {
    case 0:
      return 'skip';
    case 1:
      return 'discard';
    case 2:
      return 'param-problem';
    default:
      return 'param-problem-unless-multicast';
  }
}

export function isExtensionHeader(nextHeader: number): boolean {
  return (
    nextHeader === IPPROTO_HOPOPTS ||
    nextHeader === IPPROTO_ROUTING ||
    nextHeader === IPPROTO_FRAGMENT ||
    nextHeader === IPPROTO_DSTOPTS
  );
}

function fail(
  kind: string,
  severity: 'malformed' | 'unsupported',
  icmp?: { code: number; pointer: number },
): { readonly ok: false; readonly error: ExtError } {
  return {
    ok: false,
    error: {
      layer: 'ipv6',
      kind,
      severity,
      icmp:
        icmp === undefined
          ? undefined
          : { kind: 'parameter-problem', code: icmp.code, pointer: icmp.pointer },
    },
  };
}

/** Options we act on; anything else is judged by `optionAction`. */
function recognised(type: number): boolean {
  return type === OPTION_PAD1 || type === OPTION_PADN || type === OPTION_ROUTER_ALERT;
}

/** Parses the TLVs of an options header spanning `bytes[start..end)`, `base` = its offset in the IPv6 packet minus `start`. */
function parseOptions(
  bytes: Uint8Array,
  start: number,
  end: number,
  base: number,
  opts: WalkOptions,
): Result<Ipv6Option[], ExtError> {
  const options: Ipv6Option[] = [];
  let p = start;
  while (p < end) {
    const type = bytes[p]!;
    if (type === OPTION_PAD1) {
      p++;
      continue;
    }
    if (p + 2 > end || p + 2 + bytes[p + 1]! > end) return fail('option-truncated', 'malformed');
    const len = bytes[p + 1]!;
    const data = bytes.subarray(p + 2, p + 2 + len);
    if (type === OPTION_ROUTER_ALERT && len !== 2) return fail('bad-router-alert', 'malformed');
    if (!recognised(type)) {
      const action = optionAction(type);
      const pointer = base + p;
      if (action === 'discard') return fail('unknown-option', 'unsupported');
      if (action === 'param-problem' || (action === 'param-problem-unless-multicast' && !opts.dstMulticast))
        return fail('unknown-option', 'unsupported', { code: 2, pointer });
      if (action === 'param-problem-unless-multicast') return fail('unknown-option', 'unsupported');
    }
    if (type !== OPTION_PADN) options.push({ type, data });
    p += 2 + len;
  }
  return { ok: true, value: options };
}

/** Smallest upper-layer header a first fragment must hold (RFC 8200 §4.5, RFC 7112 §5), as Linux checks. */
function upperLayerMinLen(nextHeader: number): number {
  switch (nextHeader) {
    case IPPROTO_TCP:
      return 20;
    case IPPROTO_UDP:
      return 8;
    case IPPROTO_ICMPV6:
      return 8;
    default:
      return 0;
  }
}

/** True when `bytes[from..]` holds every extension header through the upper-layer header. */
function chainComplete(bytes: Uint8Array, nextHeader: number, from: number): boolean {
  let nh = nextHeader;
  let off = from;
  while (isExtensionHeader(nh)) {
    if (off + 8 > bytes.length) return false;
    const len = nh === IPPROTO_FRAGMENT ? FRAGMENT_HEADER_LEN : (bytes[off + 1]! + 1) * 8;
    nh = bytes[off]!;
    off += len;
  }
  return off + upperLayerMinLen(nh) <= bytes.length;
}

/**
 * Walks the extension headers of one packet. `nextHeader` is the fixed header's Next Header and
 * `bytes` the packet's payload (`Ipv6Packet.payload`: everything after the 40-byte fixed header).
 */
export function walkExtHeaders(
  nextHeader: number,
  bytes: Uint8Array,
  opts: WalkOptions,
): Result<ExtChain, ExtError> {
  const headers: WalkedHeader[] = [];
  let nh = nextHeader;
  let nhPointer = FIXED_NEXT_HEADER_FIELD;
  let off = 0;
  for (;;) {
    const at = IPV6_HEADER_LEN + off;
    switch (nh) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_DSTOPTS: {
        // RFC 8200 §4: "The same action should be taken if a node encounters a Next Header value
        // of zero in any header other than an IPv6 header" (Parameter Problem code 1).
        if (nh === IPPROTO_HOPOPTS && nhPointer !== FIXED_NEXT_HEADER_FIELD)
          return fail('hop-by-hop-not-first', 'malformed', { code: 1, pointer: nhPointer });
        if (off + 8 > bytes.length) return fail('truncated-ext-header', 'malformed');
        const len = (bytes[off + 1]! + 1) * 8;
        if (off + len > bytes.length) return fail('truncated-ext-header', 'malformed');
        const options = parseOptions(bytes, off + 2, off + len, IPV6_HEADER_LEN, opts);
        if (!options.ok) return options;
        headers.push({
          kind: nh === IPPROTO_HOPOPTS ? 'hop-by-hop' : 'destination-options',
          nextHeader: bytes[off]!,
          options: options.value,
          offset: at,
        });
        nhPointer = at;
        nh = bytes[off]!;
        off += len;
        break;
      }
      case IPPROTO_ROUTING: {
        if (off + 8 > bytes.length) return fail('truncated-ext-header', 'malformed');
        const len = (bytes[off + 1]! + 1) * 8;
        if (off + len > bytes.length) return fail('truncated-ext-header', 'malformed');
        const segmentsLeft = bytes[off + 3]!;
        // RFC 8200 §4.4: an unrecognised Routing Type with Segments Left non-zero -> Parameter
        // Problem code 0 at the type; with zero, ignore the header. We route by no type: type 0
        // is handled as unrecognised (RFC 5095 §3), and so are the others.
        if (segmentsLeft !== 0)
          return fail('unknown-routing-type', 'unsupported', { code: 0, pointer: at + 2 });
        headers.push({
          kind: 'routing',
          nextHeader: bytes[off]!,
          routingType: bytes[off + 2]!,
          segmentsLeft,
          data: bytes.subarray(off + 4, off + len),
          offset: at,
        });
        nhPointer = at;
        nh = bytes[off]!;
        off += len;
        break;
      }
      case IPPROTO_FRAGMENT: {
        if (off + FRAGMENT_HEADER_LEN > bytes.length) return fail('truncated-ext-header', 'malformed');
        const word = u16(bytes, off + 2);
        const frag: FragmentHeader & { readonly offset: number } = {
          kind: 'fragment',
          nextHeader: bytes[off]!,
          fragOffset: word & 0xfff8,
          moreFragments: (word & 1) !== 0,
          ident: u32(bytes, off + 4),
          offset: at,
        };
        headers.push(frag);
        nhPointer = at;
        nh = frag.nextHeader;
        off += FRAGMENT_HEADER_LEN;
        if (frag.fragOffset === 0 && !frag.moreFragments) break;
        const dataLen = bytes.length - off;
        // RFC 8200 §4.5: "not a multiple of 8 octets and the M flag of that fragment is 1 ...
        // Parameter Problem, Code 0 ... pointing to the Payload Length field".
        if (frag.moreFragments && dataLen % 8 !== 0)
          return fail('fragment-not-multiple-of-8', 'malformed', { code: 0, pointer: PAYLOAD_LEN_FIELD });
        // RFC 8200 §4.5: reassembled Payload Length over 65,535 -> code 0 at the Fragment Offset.
        // Per-fragment headers (`at - 40`) + offset + this fragment's data.
        if (at - IPV6_HEADER_LEN + frag.fragOffset + dataLen > 0xffff)
          return fail('fragment-beyond-65535', 'malformed', { code: 0, pointer: at + 2 });
        // RFC 8200 §4.5 / RFC 7112 §5: a first fragment must hold the whole header chain -> code 3, pointer 0.
        if (frag.fragOffset === 0 && !chainComplete(bytes, nh, off))
          return fail('incomplete-header-chain', 'malformed', { code: 3, pointer: 0 });
        return done(headers, nh, nhPointer, off, bytes, frag);
      }
      default:
        return done(headers, nh, nhPointer, off, bytes, undefined);
    }
  }
}

function done(
  headers: WalkedHeader[],
  nextHeader: number,
  nextHeaderPointer: number,
  off: number,
  bytes: Uint8Array,
  fragment: (FragmentHeader & { readonly offset: number }) | undefined,
): { readonly ok: true; readonly value: ExtChain } {
  return {
    ok: true,
    value: {
      headers,
      nextHeader,
      nextHeaderPointer,
      offset: IPV6_HEADER_LEN + off,
      payload: bytes.subarray(off),
      fragment,
    },
  };
}

/** The Next Header value that announces `h`. */
export function extHeaderType(h: ExtHeader): number {
  switch (h.kind) {
    case 'hop-by-hop':
      return IPPROTO_HOPOPTS;
    case 'destination-options':
      return IPPROTO_DSTOPTS;
    case 'routing':
      return IPPROTO_ROUTING;
    case 'fragment':
      return IPPROTO_FRAGMENT;
  }
}

function optionsLen(options: readonly Ipv6Option[]): number {
  let n = 2;
  for (const o of options) n += o.type === OPTION_PAD1 ? 1 : 2 + o.data.length;
  return n;
}

/** Length of `h` on the wire: options headers are padded to a multiple of 8 octets. */
export function extHeaderLen(h: ExtHeader): number {
  switch (h.kind) {
    case 'hop-by-hop':
    case 'destination-options':
      return (optionsLen(h.options) + 7) & ~7;
    case 'routing':
      return 4 + h.data.length;
    case 'fragment':
      return FRAGMENT_HEADER_LEN;
  }
}

/**
 * Writes `h` at the start of `buf`; returns its length. Options go in the order given (the caller
 * orders them for alignment, RFC 8200 §4.2) and the header is padded at the end with Pad1 or PadN.
 */
export function emitExtHeader(h: ExtHeader, buf: Uint8Array): number {
  const len = extHeaderLen(h);
  if (len > MAX_EXT_HEADER_LEN) throw new RangeError('emitExtHeader: header over 2048 bytes');
  if (len % 8 !== 0) throw new RangeError('emitExtHeader: routing data must make the header a multiple of 8');
  if (buf.length < len) throw new RangeError('emitExtHeader: buffer too small');
  buf[0] = h.nextHeader;
  switch (h.kind) {
    case 'hop-by-hop':
    case 'destination-options': {
      buf[1] = len / 8 - 1;
      let p = 2;
      for (const o of h.options) {
        if (o.type === OPTION_PAD1) {
          buf[p++] = OPTION_PAD1;
          continue;
        }
        if (o.data.length > 255) throw new RangeError('emitExtHeader: option data over 255 bytes');
        buf[p] = o.type;
        buf[p + 1] = o.data.length;
        buf.set(o.data, p + 2);
        p += 2 + o.data.length;
      }
      const pad = len - p;
      // RFC 8200 §4.2: Pad1 for one octet, PadN (N-2 zero octets of data) for more.
      if (pad === 1) buf[p] = OPTION_PAD1;
      else if (pad > 1) {
        buf[p] = OPTION_PADN;
        buf[p + 1] = pad - 2;
        buf.fill(0, p + 2, len);
      }
      return len;
    }
    case 'routing':
      buf[1] = len / 8 - 1;
      buf[2] = h.routingType;
      buf[3] = h.segmentsLeft;
      buf.set(h.data, 4);
      return len;
    case 'fragment':
      return emitFragmentHeader(h, buf);
  }
}

/** Writes an 8-byte fragment header (RFC 8200 §4.5) at the start of `buf`; returns 8. */
export function emitFragmentHeader(h: Omit<FragmentHeader, 'kind'>, buf: Uint8Array): number {
  if (buf.length < FRAGMENT_HEADER_LEN) throw new RangeError('emitFragmentHeader: buffer too small');
  if (h.fragOffset % 8 !== 0 || h.fragOffset < 0 || h.fragOffset > 0xfff8)
    throw new RangeError('emitFragmentHeader: offset must be a multiple of 8 up to 65528');
  buf[0] = h.nextHeader;
  buf[1] = 0;
  setU16(buf, 2, h.fragOffset | (h.moreFragments ? 1 : 0));
  setU32(buf, 4, h.ident);
  return FRAGMENT_HEADER_LEN;
}

/** Length of a hop-by-hop header holding only a Router Alert. */
export const ROUTER_ALERT_HOP_BY_HOP_LEN = 8;

/**
 * Writes a hop-by-hop header with a Router Alert option (RFC 2711) and PadN, as MLD needs
 * (RFC 3810 §5: "sent with ... an IPv6 Router Alert option"). Returns 8.
 */
export function emitRouterAlertHopByHop(nextHeader: number, value: number, buf: Uint8Array): number {
  if (buf.length < ROUTER_ALERT_HOP_BY_HOP_LEN)
    throw new RangeError('emitRouterAlertHopByHop: buffer too small');
  buf[0] = nextHeader;
  buf[1] = 0;
  buf[2] = OPTION_ROUTER_ALERT;
  buf[3] = 2;
  setU16(buf, 4, value);
  // PadN with no data fills the last two octets, as Linux sends it.
  buf[6] = OPTION_PADN;
  buf[7] = 0;
  return ROUTER_ALERT_HOP_BY_HOP_LEN;
}

/** The value of a Router Alert among `options`, if there is one. */
export function routerAlert(options: readonly Ipv6Option[]): number | undefined {
  for (const o of options) if (o.type === OPTION_ROUTER_ALERT && o.data.length === 2) return u16(o.data, 0);
  return undefined;
}

/**
 * The upper-layer protocol of an IPv6 packet and the offset of its header, found by skipping the
 * extension headers by their lengths alone (no option is interpreted, nothing validated: for a
 * packet passing through, such as a router's). A Fragment header is passed only as `fragments`
 * allows: 'none' never, 'atomic' for an atomic fragment (offset 0 and M clear, RFC 6946: a whole
 * packet), 'first' for any first fragment (its upper-layer header is there, not all its data).
 * Undefined when the chain runs past `end` or meets a fragment it may not pass.
 */
export function skipExtHeaders(
  packet: Uint8Array,
  end: number,
  fragments: 'none' | 'atomic' | 'first',
): { readonly protocol: number; readonly offset: number } | undefined {
  let nh = packet[6]!;
  let off = IPV6_HEADER_LEN;
  // Each extension header is at least 8 octets, so the walk ends within (end - 40) / 8 steps.
  for (;;) {
    switch (nh) {
      case IPPROTO_HOPOPTS:
      case IPPROTO_ROUTING:
      case IPPROTO_DSTOPTS:
        if (off + 8 > end) return undefined;
        nh = packet[off]!;
        off += (packet[off + 1]! + 1) * 8;
        break;
      case IPPROTO_AH:
        // RFC 4302 §2.2: the AH Payload Length counts 32-bit words, minus 2.
        if (off + 8 > end) return undefined;
        nh = packet[off]!;
        off += (packet[off + 1]! + 2) * 4;
        break;
      case IPPROTO_FRAGMENT: {
        if (off + 8 > end || fragments === 'none') return undefined;
        // Offset (13 bits) and M (the low bit): a first fragment has offset 0, an atomic one M clear too.
        const fo = u16(packet, off + 2);
        if ((fo & (fragments === 'atomic' ? 0xfff9 : 0xfff8)) !== 0) return undefined;
        nh = packet[off]!;
        off += 8;
        break;
      }
      default:
        return off > end ? undefined : { protocol: nh, offset: off };
    }
  }
}
