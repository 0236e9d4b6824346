/**
 * The replies of the firewall's `reject` verdict (pure): whole IP packets, checksums filled, for the
 * driver to route and send (rate limiting is the driver's, as for every ICMP error).
 *
 * - `rejectIcmp4`: Destination Unreachable code 13, "communication administratively prohibited"
 *   (RFC 1812 §5.2.7.1), quoting the offending datagram up to 548 bytes so the error fits in 576
 *   (RFC 1812 §4.3.2.3; RFC 792 asks for at least the header and 64 data bits).
 * - `rejectIcmp6`: Destination Unreachable code 1, "communication with destination administratively
 *   prohibited" (RFC 4443 §3.1), quoting as much of the packet as keeps the error within the minimum
 *   MTU of 1280 bytes (RFC 4443 §2.4(c)).
 * - `rejectTcpRst`: the reset a closed port sends (RFC 9293 §3.10.7.1, CLOSED state), from the
 *   segment's destination address and port so that its sender accepts it:
 *     ACK off:  <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>      (SEG.LEN counts SYN and FIN)
 *     ACK on:   <SEQ=SEG.ACK><CTL=RST>
 *   "An incoming segment containing a RST is discarded": a RST is never answered.
 *
 * No reply (undefined) where none may be sent: an ICMP error about an ICMP error, a non-first
 * fragment, a broadcast or multicast destination or a source that names no single host (RFC 1812
 * §4.3.2.7, RFC 4443 §2.4(e), shared with the host stack as `mayAnswerIcmpv4Error` /
 * `mayAnswerIcmpv6Error`); a TCP segment that is a RST, a fragment, has a bad checksum (it may not
 * be what its sender sent), or comes from or goes to a non-unicast address (RFC 1122 §4.2.3.10).
 * A packet that does not parse gets no reply either: these functions never throw on packet bytes.
 */
import { type Ipv4Addr, type Ipv6Addr, readIpv4 } from '../addr.js';
import { setU16, setU32, u16 } from '../bytes.js';
import { finish, type PseudoHeader, pseudoHeaderSum, sum16 } from '../checksum/index.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP } from '../ipproto.js';
import {
  emitIcmpv4,
  ICMPV4_HEADER_LEN,
  mayAnswerIcmpv4Error,
  quoteDatagram,
  UNREACH_ADMIN_PROHIBITED,
} from '../ipv4/icmp.js';
import { emitIpv4, IPV4_MIN_HEADER_LEN, Ipv4Packet } from '../ipv4/wire.js';
import {
  emitIcmpv6,
  type Icmpv6Repr,
  mayAnswerIcmpv6Error,
  UNREACH_ADMIN_PROHIBITED as UNREACH6_ADMIN_PROHIBITED,
} from '../ipv6/icmp.js';
import { emitIpv6, IPV6_HEADER_LEN, IPV6_MIN_MTU, Ipv6Packet } from '../ipv6/wire.js';
import { TCP_HEADER_LEN, TcpPacket } from '../tcp/wire.js';
import { skipExtHeaders } from '../ipv6/ext.js';

/** Linux's default TTL and hop limit (net.ipv4.ip_default_ttl, net.ipv6.conf.*.hop_limit). */
const DEFAULT_TTL = 64;
/** RFC 1812 §4.3.2.5: errors other than Source Quench "SHOULD have their precedence value set to 6". */
const DSCP_PRECEDENCE_6 = 0x30;
const ICMPV6_HEADER_LEN = 8;
/** RFC 4443 §2.4(c): the error, IPv6 header included, within the minimum MTU. */
const ICMPV6_QUOTE_MAX = IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

export interface RejectOptions {
  /** TTL / hop limit of the reply; 64 by default. */
  readonly ttl?: number;
  /** IPv4 Identification of the reply; 0 by default (the caller may keep a counter). */
  readonly ident?: number;
}

const ADMIN_PROHIBITED_V6: Icmpv6Repr = { kind: 'dest-unreachable', code: UNREACH6_ADMIN_PROHIBITED };

/**
 * ICMP Destination Unreachable, administratively prohibited, about the IPv4 datagram `packet`
 * (as received, starting at its IP header), sent from `src` (the router's address on the ingress
 * interface) to the datagram's source. Undefined when RFC 1812 §4.3.2.7 forbids an error.
 */
export function rejectIcmp4(
  packet: Uint8Array,
  src: Ipv4Addr,
  opts: RejectOptions = {},
): Uint8Array | undefined {
  if (!Ipv4Packet.check(packet).ok || !mayAnswerIcmpv4Error(packet)) return undefined;
  const quote = quoteDatagram(packet);
  const out = new Uint8Array(IPV4_MIN_HEADER_LEN + ICMPV4_HEADER_LEN + quote.length);
  out.set(quote, IPV4_MIN_HEADER_LEN + ICMPV4_HEADER_LEN);
  emitIcmpv4(
    { type: 'dest-unreachable', code: UNREACH_ADMIN_PROHIBITED, nextHopMtu: 0 },
    out.subarray(IPV4_MIN_HEADER_LEN),
  );
  emitIpv4(
    {
      src,
      dst: readIpv4(packet, 12),
      protocol: IPPROTO_ICMP,
      ttl: opts.ttl ?? DEFAULT_TTL,
      dscp: DSCP_PRECEDENCE_6,
      ecn: 0,
      ident: opts.ident ?? 0,
      dontFragment: false,
      moreFragments: false,
      fragOffset: 0,
      options: new Uint8Array(0),
    },
    out,
  );
  return out;
}

/**
 * ICMPv6 Destination Unreachable, administratively prohibited, about the IPv6 packet `packet`, sent
 * from `src` to the packet's source. Undefined when RFC 4443 §2.4(e) forbids an error.
 */
export function rejectIcmp6(
  packet: Uint8Array,
  src: Ipv6Addr,
  opts: RejectOptions = {},
): Uint8Array | undefined {
  const p = Ipv6Packet.check(packet);
  if (!p.ok || !mayAnswerIcmpv6Error(packet, ADMIN_PROHIBITED_V6)) return undefined;
  // The packet without link padding, cut to what fits in 1280 bytes.
  const quote = packet.subarray(0, Math.min(IPV6_HEADER_LEN + p.value.payloadLen, ICMPV6_QUOTE_MAX));
  const out = new Uint8Array(IPV6_HEADER_LEN + ICMPV6_HEADER_LEN + quote.length);
  out.set(quote, IPV6_HEADER_LEN + ICMPV6_HEADER_LEN);
  const dst = p.value.src;
  emitIcmpv6(ADMIN_PROHIBITED_V6, out.subarray(IPV6_HEADER_LEN), { version: 6, src, dst });
  emitIpv6(
    {
      trafficClass: 0,
      flowLabel: 0,
      nextHeader: IPPROTO_ICMPV6,
      hopLimit: opts.ttl ?? DEFAULT_TTL,
      src,
      dst,
    },
    out,
  );
  return out;
}

/** 0/8, 127/8, class D and E, and the limited broadcast: not one host's address (RFC 1812 §5.3.7). */
function isUnicast4(a: number): boolean {
  const net = a >>> 24;
  return net !== 0 && net !== 127 && net < 224;
}

function isUnicast6(a: Uint8Array): boolean {
  if (a[0] === 0xff) return false;
  for (let i = 0; i < 15; i++) if (a[i] !== 0) return true;
  return a[15] !== 0 && a[15] !== 1;
}

/**
 * The TCP segment of an unfragmented IPv6 packet, behind hop-by-hop, routing, destination options
 * and AH headers; undefined for anything else (a fragment, no TCP, a chain that runs off the end).
 */
function tcpOf6(packet: Uint8Array, end: number): number | undefined {
  const upper = skipExtHeaders(packet, end, 'atomic');
  return upper?.protocol === IPPROTO_TCP ? upper.offset : undefined;
}

/**
 * The TCP reset answering the segment in `packet` (a whole IPv4 or IPv6 packet), by RFC 9293
 * §3.10.7.1; addresses and ports are the segment's swapped. Undefined where no reset may be sent.
 */
export function rejectTcpRst(packet: Uint8Array, opts: RejectOptions = {}): Uint8Array | undefined {
  if (packet.length < 1) return undefined;
  let seg: Uint8Array;
  let ph: PseudoHeader;
  let reply: PseudoHeader;
  const version = packet[0]! >>> 4;
  if (version === 4) {
    const p = Ipv4Packet.check(packet);
    if (!p.ok || packet[9] !== IPPROTO_TCP) return undefined;
    const ip = p.value;
    if (ip.moreFragments || ip.fragOffset !== 0) return undefined;
    const src = readIpv4(packet, 12);
    const dst = readIpv4(packet, 16);
    if (!isUnicast4(src) || !isUnicast4(dst)) return undefined;
    seg = packet.subarray(ip.headerLen, ip.totalLen);
    ph = { version: 4, src, dst };
    reply = { version: 4, src: dst, dst: src };
  } else if (version === 6) {
    const p = Ipv6Packet.check(packet);
    if (!p.ok) return undefined;
    const end = IPV6_HEADER_LEN + p.value.payloadLen;
    const at = tcpOf6(packet, end);
    if (at === undefined) return undefined;
    const src = packet.subarray(8, 24);
    const dst = packet.subarray(24, 40);
    if (!isUnicast6(src) || !isUnicast6(dst)) return undefined;
    seg = packet.subarray(at, end);
    ph = { version: 6, src, dst };
    reply = { version: 6, src: dst, dst: src };
  } else {
    return undefined;
  }
  const t = TcpPacket.check(seg);
  if (!t.ok) return undefined;
  const tcp = t.value;
  const flags = tcp.flagBits;
  if ((flags & TCP_RST) !== 0 || !tcp.verifyChecksum(ph)) return undefined;
  const segLen = tcp.payload.length + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0);
  const acked = (flags & TCP_ACK) !== 0;
  const ipLen = version === 4 ? IPV4_MIN_HEADER_LEN : IPV6_HEADER_LEN;
  const out = new Uint8Array(ipLen + TCP_HEADER_LEN);
  const rst = out.subarray(ipLen);
  setU16(rst, 0, tcp.dstPort);
  setU16(rst, 2, tcp.srcPort);
  setU32(rst, 4, acked ? tcp.ack : 0);
  setU32(rst, 8, acked ? 0 : (tcp.seq + segLen) >>> 0);
  rst[12] = (TCP_HEADER_LEN / 4) << 4;
  rst[13] = acked ? TCP_RST : TCP_RST | TCP_ACK;
  // Window, checksum and urgent pointer start at zero.
  setU16(rst, 16, finish(sum16(rst, pseudoHeaderSum(reply, IPPROTO_TCP, TCP_HEADER_LEN))));
  const ttl = opts.ttl ?? DEFAULT_TTL;
  if (reply.version === 4) {
    emitIpv4(
      {
        src: reply.src as Ipv4Addr,
        dst: reply.dst as Ipv4Addr,
        protocol: IPPROTO_TCP,
        ttl,
        dscp: 0,
        ecn: 0,
        ident: opts.ident ?? 0,
        // As Linux's nf_reject: a 40-byte reset never needs fragmenting.
        dontFragment: true,
        moreFragments: false,
        fragOffset: 0,
        options: new Uint8Array(0),
      },
      out,
    );
  } else {
    emitIpv6(
      {
        trafficClass: 0,
        flowLabel: 0,
        nextHeader: IPPROTO_TCP,
        hopLimit: ttl,
        src: reply.src as Ipv6Addr,
        dst: reply.dst as Ipv6Addr,
      },
      out,
    );
  }
  return out;
}

/**
 * The reply for a `reject` verdict: a reset for TCP, else the ICMP error of the packet's version
 * from `src` (the router's address of that version on the ingress interface). Undefined when no
 * reply may be sent: the packet is then dropped.
 */
export function rejectReply(
  packet: Uint8Array,
  src: { readonly v4?: Ipv4Addr; readonly v6?: Ipv6Addr },
  opts: RejectOptions = {},
): Uint8Array | undefined {
  if (packet.length < 1) return undefined;
  const version = packet[0]! >>> 4;
  const protocol = version === 4 ? packet[9] : tcpOf6Protocol(packet);
  if (protocol === IPPROTO_TCP) return rejectTcpRst(packet, opts);
  if (version === 4) return src.v4 === undefined ? undefined : rejectIcmp4(packet, src.v4, opts);
  if (version === 6) return src.v6 === undefined ? undefined : rejectIcmp6(packet, src.v6, opts);
  return undefined;
}

function tcpOf6Protocol(packet: Uint8Array): number | undefined {
  if (packet.length < IPV6_HEADER_LEN) return undefined;
  const end = Math.min(packet.length, IPV6_HEADER_LEN + u16(packet, 4));
  return tcpOf6(packet, end) === undefined ? undefined : IPPROTO_TCP;
}
