/**
 * The in-place rewrite of a forwarded frame: link addresses, TTL / hop limit, and TCP MSS clamping.
 * Pure (it writes only into the frame it is given) and copy-free.
 *
 * - IPv4: the TTL goes down by one and the header checksum is patched with RFC 1624 eqn. 3
 *   (`decrementTtl`), as RFC 1812 §4.2.2.5 allows, never recomputed: a packet whose checksum was
 *   wrong leaves exactly as wrong (RFC 1624 §5), so corruption is never laundered.
 * - IPv6: the hop limit goes down by one (RFC 8200 §3); the header has no checksum.
 * - MSS clamping (what Linux's `TCPMSS --clamp-mss-to-pmtu` does): in a TCP SYN that is not a
 *   fragment, every MSS option above the limit is lowered to it and the TCP checksum patched by
 *   RFC 1624 over the 16-bit words the change touches (the option may sit at an odd offset, RFC 9293
 *   MUST-64). An MSS at or below the limit, a segment whose options do not parse, and anything but a
 *   SYN are left alone, so the MSS never rises. The IPv4 header and the pseudo-header do not change.
 */
import { type Mac, writeMac } from '../addr.js';
import { setU16, u16 } from '../bytes.js';
import { updateChecksum } from '../checksum/index.js';
import { IPPROTO_TCP } from '../ipproto.js';
import { decrementTtl } from '../ipv4/wire.js';
import { skipExtHeaders } from '../ipv6/ext.js';

const ETH_HEADER_LEN = 14;
const ETH_DST = 0;
const ETH_SRC = 6;
const IPV4_MIN_HEADER = 20;
const IPV6_HEADER = 40;
const IPV6_HOP_LIMIT = 7;

const TCP_MIN_HEADER = 20;
const TCP_DATA_OFFSET = 12;
const TCP_FLAGS = 13;
const TCP_CHECKSUM = 16;
const TCP_SYN = 0x02;
const TCP_OPT_EOL = 0;
const TCP_OPT_NOP = 1;
const TCP_OPT_MSS = 2;

/**
 * The MSS that fits a link of `mtu`: the MTU less the IP and TCP headers without options (RFC 9293
 * §3.7.1, RFC 8200 §8.3): 1500 -> 1460 for IPv4, 1440 for IPv6. An MTU below the protocol's minimum
 * (68, RFC 791 §3.2; 1280, RFC 8200 §5) is a configuration bug and throws.
 */
export function clampMssFor(mtu: number, version: 4 | 6): number {
  const min = version === 4 ? 68 : 1280;
  if (!Number.isInteger(mtu) || mtu < min) throw new RangeError(`clampMssFor: MTU ${mtu} below ${min}`);
  return Math.min(mtu - (version === 4 ? 40 : 60), 0xffff);
}

/**
 * Writes the 16-bit `value` at `at` in the TCP segment `seg` and patches its checksum by RFC 1624
 * eqn. 3 for each aligned word the two bytes fall in (the segment starts on a word boundary of the
 * checksummed data: the pseudo-header is 12 or 40 octets).
 */
function patchU16(seg: Uint8Array, at: number, value: number): void {
  let checksum = u16(seg, TCP_CHECKSUM);
  if (at % 2 === 0) {
    checksum = updateChecksum(checksum, u16(seg, at), value);
    setU16(seg, at, value);
  } else {
    const before = u16(seg, at - 1);
    const after = u16(seg, at + 1);
    setU16(seg, at, value);
    checksum = updateChecksum(checksum, before, u16(seg, at - 1));
    checksum = updateChecksum(checksum, after, u16(seg, at + 1));
  }
  setU16(seg, TCP_CHECKSUM, checksum);
}

/** Lowers the MSS options of the TCP SYN `seg` above `limit` to it; true if one was lowered. */
function clampSynMss(seg: Uint8Array, limit: number): boolean {
  if (seg.length < TCP_MIN_HEADER || (seg[TCP_FLAGS]! & TCP_SYN) === 0) return false;
  const headerLen = (seg[TCP_DATA_OFFSET]! >>> 4) * 4;
  if (headerLen < TCP_MIN_HEADER || headerLen > seg.length) return false;
  let lowered = false;
  let p = TCP_MIN_HEADER;
  while (p < headerLen) {
    const kind = seg[p]!;
    if (kind === TCP_OPT_EOL) break;
    if (kind === TCP_OPT_NOP) {
      p++;
      continue;
    }
    if (p + 1 >= headerLen) break;
    const len = seg[p + 1]!;
    if (len < 2 || p + len > headerLen) break;
    if (kind === TCP_OPT_MSS && len === 4 && u16(seg, p + 2) > limit) {
      patchU16(seg, p + 2, limit);
      lowered = true;
    }
    p += len;
  }
  return lowered;
}

function writeMacs(frame: Uint8Array, srcMac: Mac, dstMac: Mac): void {
  writeMac(frame, ETH_DST, dstMac);
  writeMac(frame, ETH_SRC, srcMac);
}

/**
 * Rewrites a forwarded IPv4 frame in place (14-byte Ethernet header, no VLAN tag; the packet as
 * `decide4` saw it): MACs, TTL - 1 with the checksum patched, and with `clampMssTo` the MSS of a
 * TCP SYN. Returns true when an MSS was lowered. Throws (a caller's bug) on a frame without an IPv4
 * header or with TTL 0, which `decide4` never forwards.
 */
export function applyForward4(frame: Uint8Array, srcMac: Mac, dstMac: Mac, clampMssTo?: number): boolean {
  if (frame.length < ETH_HEADER_LEN + IPV4_MIN_HEADER) throw new RangeError('applyForward4: no IPv4 header');
  if (frame[ETH_HEADER_LEN + 8] === 0) throw new RangeError('applyForward4: TTL already 0');
  writeMacs(frame, srcMac, dstMac);
  decrementTtl(frame, ETH_HEADER_LEN);
  if (clampMssTo === undefined || frame[ETH_HEADER_LEN + 9] !== IPPROTO_TCP) return false;
  const ip = frame.subarray(ETH_HEADER_LEN);
  // MF or a fragment offset: the options of a SYN are in the first fragment only, and a fragment's
  // TCP checksum covers bytes we do not see; leave all fragments alone.
  if ((u16(ip, 6) & 0x3fff) !== 0) return false;
  const headerLen = (ip[0]! & 0x0f) * 4;
  const end = Math.min(u16(ip, 2), ip.length);
  if (headerLen < IPV4_MIN_HEADER || end < headerLen) return false;
  return clampSynMss(ip.subarray(headerLen, end), clampMssTo);
}

/**
 * Rewrites a forwarded IPv6 frame in place: MACs, hop limit - 1, and with `clampMssTo` the MSS of a
 * TCP SYN found behind hop-by-hop, routing, destination options or AH headers (a packet with a
 * Fragment header is left alone). Returns true when an MSS was lowered. Throws on a frame without an
 * IPv6 header or with hop limit 0.
 */
export function applyForward6(frame: Uint8Array, srcMac: Mac, dstMac: Mac, clampMssTo?: number): boolean {
  if (frame.length < ETH_HEADER_LEN + IPV6_HEADER) throw new RangeError('applyForward6: no IPv6 header');
  const ip = frame.subarray(ETH_HEADER_LEN);
  const hopLimit = ip[IPV6_HOP_LIMIT]!;
  if (hopLimit === 0) throw new RangeError('applyForward6: hop limit already 0');
  writeMacs(frame, srcMac, dstMac);
  ip[IPV6_HOP_LIMIT] = hopLimit - 1;
  if (clampMssTo === undefined) return false;
  const end = Math.min(IPV6_HEADER + u16(ip, 4), ip.length);
  // A packet with a Fragment header is left alone, as in IPv4.
  const upper = skipExtHeaders(ip, end, 'none');
  return upper?.protocol === IPPROTO_TCP ? clampSynMss(ip.subarray(upper.offset, end), clampMssTo) : false;
}
