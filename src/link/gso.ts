/**
 * Generic segmentation offload in software: the reference for what the kernel does with the
 * super-frames Oasis writes to a TAP with vnet headers (Linux net/ipv4/tcp_offload.c
 * `tcp_gso_segment`, af_inet.c `inet_gso_segment`, udp_offload.c for USO), used where a frame must
 * look as a wire carries it (a capture) or a link cannot take a super-frame (no offloads), and by
 * the tests that hold the stack's super-frames to the MSS segments they stand for.
 *
 * Cutting a super-frame of payload P into segments of `gsoSize` bytes, every segment gets a copy of
 * the Ethernet, IP and transport headers, then:
 * - IPv4: Total Length of the segment, Identification + i (the kernel's rule for segments without
 *   SKB_GSO_TCP_FIXEDID), the header checksum recomputed (RFC 791 §3.1);
 * - IPv6: Payload Length of the segment (RFC 8200 §3);
 * - TCP: Sequence Number + the bytes before it; FIN and PSH only on the last segment, CWR only on
 *   the first (RFC 3168 §6.1.2: CWR once per window reduction); the full checksum (RFC 9293 §3.1);
 * - UDP (USO): each segment a datagram of its own, with its Length and full checksum (RFC 768).
 * A frame without GSO but with NEEDS_CSUM only has its checksum finished.
 *
 * The TCP core makes its super-frames itself (TSO outputs, src/tcp/core/tso.ts `cutSegment` states
 * the same rule for them).
 *
 * Pure: no Node API; never throws on any bytes (a frame it cannot cut is an error value).
 */
import { u16, u32, setU16, setU32 } from '../bytes.js';
import { finish, type PseudoHeader, pseudoHeaderSum, sum16 } from '../checksum/index.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN } from '../ethernet/wire.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../ipproto.js';
import { malformed, ok, type Result, unsupported, type WireError } from '../result.js';
import {
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP_L4,
  type VnetHdr,
} from './vnet.js';

const FIN = 0x01;
const PSH = 0x08;
const CWR = 0x80;

/** The largest IP packet a super-frame may hold (IPv4 Total Length, IPv6 Payload Length + 40). */
export const GSO_MAX_IP_LEN = 0xffff;

/** The largest super-frame: an IP packet of 64 KiB - 1 behind an Ethernet header and two VLAN tags. */
export const MAX_GSO_FRAME = GSO_MAX_IP_LEN + 14 + 8;

/** Where the headers of a frame lie. */
export interface FrameLayout {
  /** Offset of the IP header (after the Ethernet header and its VLAN tags). */
  readonly l3: number;
  readonly version: 4 | 6;
  /** Offset of the transport header. */
  readonly l4: number;
  readonly protocol: number;
  /** Offset of the payload (after the transport header). */
  readonly data: number;
  /** End of the IP packet in the frame (padding after it is not carried over). */
  readonly end: number;
}

function gsoError(kind: string): { readonly ok: false; readonly error: WireError } {
  return malformed('ethernet', `gso-${kind}`);
}

/** Finds the headers of an IPv4 or IPv6 TCP/UDP frame (no IPv6 extension headers: Oasis sends none). */
export function frameLayout(frame: Uint8Array): Result<FrameLayout, WireError> {
  let l3 = 14;
  if (frame.length < l3) return gsoError('short');
  let type = u16(frame, 12);
  for (let tags = 0; (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && tags < 2; tags++) {
    if (frame.length < l3 + 4) return gsoError('short');
    type = u16(frame, l3 + 2);
    l3 += 4;
  }
  let l4: number;
  let protocol: number;
  let end: number;
  let version: 4 | 6;
  if (type === ETHERTYPE_IPV4) {
    if (frame.length < l3 + 20 || frame[l3]! >> 4 !== 4) return gsoError('bad-ip');
    l4 = l3 + (frame[l3]! & 0x0f) * 4;
    protocol = frame[l3 + 9]!;
    end = l3 + u16(frame, l3 + 2);
    version = 4;
    if ((u16(frame, l3 + 6) & 0x3fff) !== 0) return unsupported('ethernet', 'gso-fragment');
  } else if (type === ETHERTYPE_IPV6) {
    if (frame.length < l3 + 40 || frame[l3]! >> 4 !== 6) return gsoError('bad-ip');
    l4 = l3 + 40;
    protocol = frame[l3 + 6]!;
    end = l4 + u16(frame, l3 + 4);
    version = 6;
  } else {
    return unsupported('ethernet', 'gso-not-ip');
  }
  if (end > frame.length || end < l4) return gsoError('bad-length');
  let data: number;
  if (protocol === IPPROTO_TCP) {
    if (end < l4 + 20) return gsoError('bad-length');
    data = l4 + (frame[l4 + 12]! >> 4) * 4;
    if (data < l4 + 20) return gsoError('bad-tcp');
  } else if (protocol === IPPROTO_UDP) {
    data = l4 + 8;
  } else {
    return unsupported('ethernet', 'gso-protocol');
  }
  if (data > end) return gsoError('bad-length');
  return ok({ l3, version, l4, protocol, data, end });
}

function pseudoHeaderOf(frame: Uint8Array, at: FrameLayout): PseudoHeader {
  return at.version === 4
    ? { version: 4, src: u32(frame, at.l3 + 12), dst: u32(frame, at.l3 + 16) }
    : { version: 6, src: frame.subarray(at.l3 + 8, at.l3 + 24), dst: frame.subarray(at.l3 + 24, at.l3 + 40) };
}

/**
 * Finishes a NEEDS_CSUM checksum in place: the field at `start + offset` holds the pseudo-header
 * sum, so the sum of `[start, end)` with it is the full one. False when the offsets lie outside.
 */
export function finishPartialChecksum(
  frame: Uint8Array,
  start: number,
  offset: number,
  end = frame.length,
): boolean {
  const at = start + offset;
  if (start >= end || at + 2 > end || end > frame.length) return false;
  setU16(frame, at, finish(sum16(frame.subarray(start, end))));
  return true;
}

/** The full transport checksum of the segment at `at` (field zeroed first), written in place. */
function fillTransportChecksum(seg: Uint8Array, at: FrameLayout): void {
  const field = at.l4 + (at.protocol === IPPROTO_TCP ? 16 : 6);
  setU16(seg, field, 0);
  const len = at.end - at.l4;
  const c = finish(
    sum16(seg.subarray(at.l4, at.end), pseudoHeaderSum(pseudoHeaderOf(seg, at), at.protocol, len)),
  );
  // RFC 768: a computed 0 is sent as all ones (0 means "no checksum" for UDP over IPv4).
  setU16(seg, field, at.protocol === IPPROTO_UDP && c === 0 ? 0xffff : c);
}

function fillIpv4HeaderChecksum(seg: Uint8Array, l3: number, l4: number): void {
  setU16(seg, l3 + 10, 0);
  setU16(seg, l3 + 10, finish(sum16(seg.subarray(l3, l4))));
}

/**
 * Cuts `frame` (an Ethernet frame, without its vnet header `h`) into the frames a wire would carry,
 * each in a buffer of its own with full checksums, handed to `out` in order. Returns how many.
 */
export function segmentFrame(
  frame: Uint8Array,
  h: VnetHdr,
  out: (segment: Uint8Array) => void,
): Result<number, WireError> {
  const laid = frameLayout(frame);
  if (!laid.ok) return laid;
  const at = laid.value;
  const base = h.gsoType & ~VNET_GSO_ECN;
  if (base === VNET_GSO_NONE) {
    const copy = frame.slice(0, at.end);
    if ((h.flags & VNET_F_NEEDS_CSUM) !== 0 && !finishPartialChecksum(copy, h.csumStart, h.csumOffset))
      return gsoError('bad-csum-offsets');
    out(copy);
    return ok(1);
  }
  const wantProto = base === VNET_GSO_UDP_L4 ? IPPROTO_UDP : IPPROTO_TCP;
  const wantVersion = base === VNET_GSO_TCPV6 ? 6 : base === VNET_GSO_TCPV4 ? 4 : at.version;
  if (at.protocol !== wantProto || at.version !== wantVersion) return gsoError('type-mismatch');
  const size = h.gsoSize;
  if (size === 0) return gsoError('no-gso-size');
  const total = at.end - at.data;
  const count = Math.max(1, Math.ceil(total / size));
  const ident = at.version === 4 ? u16(frame, at.l3 + 4) : 0;
  const seq = at.protocol === IPPROTO_TCP ? u32(frame, at.l4 + 4) : 0;
  const flags = at.protocol === IPPROTO_TCP ? frame[at.l4 + 13]! : 0;
  for (let i = 0; i < count; i++) {
    const off = i * size;
    const len = Math.min(size, total - off);
    const segEnd = at.data + len;
    const seg = new Uint8Array(segEnd);
    seg.set(frame.subarray(0, at.data));
    seg.set(frame.subarray(at.data + off, at.data + off + len), at.data);
    const segAt: FrameLayout = { ...at, end: segEnd };
    if (at.version === 4) {
      setU16(seg, at.l3 + 2, segEnd - at.l3);
      setU16(seg, at.l3 + 4, (ident + i) & 0xffff);
      fillIpv4HeaderChecksum(seg, at.l3, at.l4);
    } else {
      setU16(seg, at.l3 + 4, segEnd - at.l4);
    }
    if (at.protocol === IPPROTO_TCP) {
      setU32(seg, at.l4 + 4, (seq + off) >>> 0);
      let f = flags;
      if (i < count - 1) f &= ~(FIN | PSH);
      if (i > 0) f &= ~CWR;
      seg[at.l4 + 13] = f;
    } else {
      setU16(seg, at.l4 + 4, segEnd - at.l4);
    }
    fillTransportChecksum(seg, segAt);
    out(seg);
  }
  return ok(count);
}

/**
 * Whether a frame with header `h` is not a wire frame as it stands: a super-frame, or a partial
 * checksum (NEEDS_CSUM) that someone must finish. DATA_VALID alone changes nothing on the wire.
 */
export function needsOffload(h: VnetHdr | undefined): h is VnetHdr {
  return h !== undefined && (h.gsoType !== VNET_GSO_NONE || (h.flags & VNET_F_NEEDS_CSUM) !== 0);
}

/**
 * The IP length of the largest packet that super-frame `packet` (its IP packet, header `h`) stands
 * for: its headers plus `gsoSize` payload bytes, at most the packet itself. What a router judges
 * against the egress MTU (RFC 1812 §5.2.6: the packets on the wire are the segments). The packet's
 * own IP length for a frame without GSO, or one whose headers cannot be read.
 */
export function gsoSegmentIpLen(packet: Uint8Array, h: VnetHdr): number {
  const n = packet.length;
  if (n < 1) return n;
  const version = packet[0]! >> 4;
  let total: number;
  let l4: number;
  if (version === 4 && n >= 20) {
    total = u16(packet, 2);
    l4 = (packet[0]! & 0x0f) * 4;
  } else if (version === 6 && n >= 40) {
    total = 40 + u16(packet, 4);
    l4 = 40;
  } else {
    return n;
  }
  total = Math.min(total, n);
  if (h.gsoType === VNET_GSO_NONE || h.gsoSize === 0 || l4 + 20 > total) return total;
  const proto = version === 4 ? packet[9]! : packet[6]!;
  const data = proto === IPPROTO_TCP ? l4 + (packet[l4 + 12]! >> 4) * 4 : l4 + 8;
  return Math.min(total, data + h.gsoSize);
}

/**
 * The vnet header for a super-frame the stack built: partial checksum, `size`-byte segments of
 * `protocol` (TCP: TSO for the IP version, with ECN when the first segment carries CWR; UDP: USO).
 */
export function gsoHeader(
  version: 4 | 6,
  protocol: number,
  l4: number,
  dataOffset: number,
  size: number,
  ecn: boolean,
): VnetHdr {
  const udp = protocol === IPPROTO_UDP;
  const tso = version === 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6;
  return {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: udp ? VNET_GSO_UDP_L4 : tso | (ecn ? VNET_GSO_ECN : 0),
    hdrLen: dataOffset,
    gsoSize: size,
    csumStart: l4,
    csumOffset: udp ? 6 : 16,
  };
}

/**
 * Shows a capture `frame` as a wire would carry it: a super-frame cut into its segments, a partial
 * checksum finished (copies); a frame with nothing to finish as it is; one the segmenter cannot
 * read, as it is too.
 */
export function captureAsWire(
  cap: (frame: Uint8Array, direction: 'in' | 'out') => void,
  frame: Uint8Array,
  h: VnetHdr,
  direction: 'in' | 'out',
): void {
  if (h.gsoType === VNET_GSO_NONE && (h.flags & VNET_F_NEEDS_CSUM) === 0) return cap(frame, direction);
  if (!segmentFrame(frame, h, (seg) => cap(seg, direction)).ok) cap(frame, direction);
}
