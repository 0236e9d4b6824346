/**
 * A summary of one IPv4 or IPv6 packet for connection tracking, NAT and the firewall: addresses,
 * protocol, ports, ICMP type/code/identifier, the TCP fields the window tracking needs, and for ICMP
 * errors the summary of the packet they quote. Pure; reads the packet once and never mutates it.
 *
 * - The packet must be whole: the driver reassembles fragments before tracking (as Linux's defrag
 *   does), so rules cannot be evaded with tiny or overlapping fragments (RFC 1858, RFC 3128). An IPv4
 *   packet with MF or a fragment offset, or an IPv6 packet with a non-atomic Fragment header, gives
 *   `undefined`; so does an IPv6 first fragment (RFC 7112 §5: the whole header chain must be in it).
 * - Header checksums are not verified here: the forwarding decision has already validated the IPv4
 *   header (RFC 1812 §5.2.2), and an upper-layer checksum error is the end host's to judge (a NAT
 *   patches checksums incrementally, RFC 1624 §5, so a bad one stays bad).
 * - A quoted packet (inside an ICMP error) is summarised leniently: RFC 792 quotes only the IP header
 *   and 64 bits of data (RFC 1812 §4.3.2.3 allows more), so its ports come from the first 4 bytes,
 *   TCP's sequence number from the next 4, and fields beyond the quote are 0. Its `length` is the
 *   quoted header's total length, which may exceed the bytes quoted. An error quoted inside an error
 *   is not summarised further (`inner` is never nested).
 *
 * Never throws on any bytes: malformed input gives `undefined`.
 */
import { type Ipv4Addr, type Ipv6Addr, readIpv4 } from '../addr.js';
import { u16, u32 } from '../bytes.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../ipproto.js';
import { skipExtHeaders } from '../ipv6/ext.js';

export interface PacketInfo {
  readonly version: 4 | 6;
  /** Upper-layer protocol (after IPv6 extension headers). */
  readonly protocol: number;
  /** IPv6 addresses are copies, never views into the packet: the conntrack table keeps them. */
  readonly src: Ipv4Addr | Ipv6Addr;
  readonly dst: Ipv4Addr | Ipv6Addr;
  /** TCP/UDP ports; 0 for other protocols. */
  readonly srcPort: number;
  readonly dstPort: number;
  /** ICMP / ICMPv6 type and code; -1 otherwise. Echo identifier (or -1). */
  readonly icmpType: number;
  readonly icmpCode: number;
  readonly icmpId: number;
  /** TCP only (else 0): flags byte, seq, ack, window (unscaled), payload length, window scale option or -1. */
  readonly tcpFlags: number;
  readonly seq: number;
  readonly ack: number;
  readonly window: number;
  readonly payloadLen: number;
  readonly wscale: number;
  /** Offset of the upper-layer header in the packet; total IP length. */
  readonly l4Offset: number;
  readonly length: number;
  /**
   * For ICMP errors: the summary of the quoted packet, else undefined. Its src/dst are the quoted
   * packet's own, i.e. the original flow's direction, the reverse of the error's own src/dst.
   */
  readonly inner?: PacketInfo;
}

/** TCP flag bits of the flags byte (RFC 9293 §3.1). */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

/** ICMP echo types (RFC 792; RFC 4443 §4.1, §4.2). */
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;

/** True for an ICMPv4 error type (RFC 792, RFC 1812 §4.3.2): unreachable, quench, redirect, time exceeded, parameter problem. */
export function isIcmp4ErrorType(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** True for an ICMPv6 error type (RFC 4443 §2.1: types 0-127; 1-4 are defined). */
export function isIcmp6ErrorType(type: number): boolean {
  return type >= 1 && type <= 4;
}

const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;
const TCP_MIN_HEADER = 20;
const UDP_HEADER = 8;
const ICMP_HEADER = 8;
const TCP_OPT_EOL = 0;
const TCP_OPT_NOP = 1;
const TCP_OPT_WSCALE = 3;
/** RFC 7323 §2.3: a shift count above 14 is used as 14. */
const MAX_WSCALE = 14;

/** Summarises a whole IPv4 or IPv6 packet; `undefined` when it is malformed or a fragment. */
export function packetInfo(packet: Uint8Array): PacketInfo | undefined {
  if (packet.length === 0) return undefined;
  const version = packet[0]! >>> 4;
  if (version === 4) return info4(packet, false);
  if (version === 6) return info6(packet, false);
  return undefined;
}

function info4(p: Uint8Array, quoted: boolean): PacketInfo | undefined {
  if (p.length < IPV4_MIN_HEADER) return undefined;
  const ihl = (p[0]! & 0x0f) * 4;
  const total = u16(p, 2);
  if (ihl < IPV4_MIN_HEADER || total < ihl || ihl > p.length) return undefined;
  if (!quoted && total > p.length) return undefined;
  const frag = u16(p, 6);
  // Not reassembled (the caller's job); a quote may be a first fragment (offset 0, MF set).
  if ((frag & 0x1fff) !== 0 || (!quoted && (frag & 0x2000) !== 0)) return undefined;
  const end = Math.min(total, p.length);
  return upper(p, 4, p[9]!, readIpv4(p, 12), readIpv4(p, 16), ihl, end, total, quoted);
}

function info6(p: Uint8Array, quoted: boolean): PacketInfo | undefined {
  if (p.length < IPV6_HEADER) return undefined;
  const total = IPV6_HEADER + u16(p, 4);
  if (!quoted && total > p.length) return undefined;
  const end = Math.min(total, p.length);
  // Only atomic fragments (RFC 6946) are whole packets; a quote may be a first fragment.
  const at = skipExtHeaders(p, end, quoted ? 'first' : 'atomic');
  if (at === undefined) return undefined;
  // Copies (slice, not subarray): the conntrack table keeps these beyond the frame's lifetime.
  const src = p.slice(8, 24) as Ipv6Addr;
  const dst = p.slice(24, 40) as Ipv6Addr;
  return upper(p, 6, at.protocol, src, dst, at.offset, end, total, quoted);
}

function upper(
  p: Uint8Array,
  version: 4 | 6,
  protocol: number,
  src: Ipv4Addr | Ipv6Addr,
  dst: Ipv4Addr | Ipv6Addr,
  l4: number,
  end: number,
  total: number,
  quoted: boolean,
): PacketInfo | undefined {
  const avail = end - l4;
  let srcPort = 0;
  let dstPort = 0;
  let icmpType = -1;
  let icmpCode = -1;
  let icmpId = -1;
  let tcpFlags = 0;
  let seq = 0;
  let ack = 0;
  let window = 0;
  let payloadLen = 0;
  let wscale = -1;
  let inner: PacketInfo | undefined;
  if (protocol === IPPROTO_TCP) {
    if (quoted) {
      // RFC 792: the quote holds at least the ports and the sequence number.
      if (avail < 8) return undefined;
      seq = u32(p, l4 + 4);
      if (avail >= 12) ack = u32(p, l4 + 8);
      if (avail >= 14) tcpFlags = p[l4 + 13]!;
      if (avail >= 16) window = u16(p, l4 + 14);
      if (avail >= 13) payloadLen = Math.max(0, total - l4 - (p[l4 + 12]! >>> 4) * 4);
    } else {
      if (avail < TCP_MIN_HEADER) return undefined;
      const doff = (p[l4 + 12]! >>> 4) * 4;
      if (doff < TCP_MIN_HEADER || doff > avail) return undefined;
      seq = u32(p, l4 + 4);
      ack = u32(p, l4 + 8);
      tcpFlags = p[l4 + 13]!;
      window = u16(p, l4 + 14);
      payloadLen = avail - doff;
      // RFC 7323 §2.2: the Window Scale option is meaningful only in a SYN.
      if ((tcpFlags & TCP_SYN) !== 0 && doff > TCP_MIN_HEADER) wscale = windowScale(p, l4 + 20, l4 + doff);
    }
    srcPort = u16(p, l4);
    dstPort = u16(p, l4 + 2);
  } else if (protocol === IPPROTO_UDP) {
    if (quoted) {
      if (avail < 4) return undefined;
    } else {
      if (avail < UDP_HEADER) return undefined;
      const ulen = u16(p, l4 + 4);
      if (ulen < UDP_HEADER || ulen > avail) return undefined;
    }
    srcPort = u16(p, l4);
    dstPort = u16(p, l4 + 2);
  } else if ((version === 4 && protocol === IPPROTO_ICMP) || (version === 6 && protocol === IPPROTO_ICMPV6)) {
    if (avail < (quoted ? 2 : ICMP_HEADER)) return undefined;
    icmpType = p[l4]!;
    icmpCode = p[l4 + 1]!;
    const echo =
      version === 4
        ? icmpType === ICMP_ECHO_REQUEST || icmpType === ICMP_ECHO_REPLY
        : icmpType === ICMPV6_ECHO_REQUEST || icmpType === ICMPV6_ECHO_REPLY;
    if (echo && avail >= 6) icmpId = u16(p, l4 + 4);
    const error = version === 4 ? isIcmp4ErrorType(icmpType) : isIcmp6ErrorType(icmpType);
    if (error && !quoted) {
      const q = p.subarray(l4 + ICMP_HEADER, end);
      if (q.length > 0 && q[0]! >>> 4 === version) inner = version === 4 ? info4(q, true) : info6(q, true);
    }
  }
  const base = {
    version,
    protocol,
    src,
    dst,
    srcPort,
    dstPort,
    icmpType,
    icmpCode,
    icmpId,
    tcpFlags,
    seq,
    ack,
    window,
    payloadLen,
    wscale,
    l4Offset: l4,
    length: total,
  };
  return inner === undefined ? base : { ...base, inner };
}

/** The shift count of a Window Scale option in the options bytes [from, to), or -1 without one. */
function windowScale(p: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const kind = p[i]!;
    if (kind === TCP_OPT_EOL) break;
    if (kind === TCP_OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= to) break;
    const len = p[i + 1]!;
    if (len < 2 || i + len > to) break;
    if (kind === TCP_OPT_WSCALE && len === 3) return Math.min(p[i + 2]!, MAX_WSCALE);
    i += len;
  }
  return -1;
}
