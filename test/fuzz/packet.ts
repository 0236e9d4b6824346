/**
 * Frames as layered parts, for field-aware mutation: an Ethernet header, an IP header (IPv4 with its
 * options, or the fixed IPv6 header), the IPv6 extension headers as a list, and the upper-layer bytes.
 * `dissect` splits a real frame (a golden capture's, or one the simulation sent); `assemble` joins
 * the parts again, writing the next-header chain, the lengths and every checksum the receiver checks
 * (IPv4 header, and TCP/UDP/ICMP/ICMPv6 over a whole datagram with the RFC 9293 §3.1 / RFC 768 /
 * RFC 8200 §8.1 pseudo-header), so that a mutated frame reaches the protocol cores instead of dying
 * at the first checksum. A fragment's upper-layer checksum covers the whole datagram and is left as
 * it is.
 */
import { type Ipv4Addr, type Mac, readIpv4, readMac, writeIpv4, writeMac } from '../../src/addr.js';
import { finish, pseudoHeaderV4, pseudoHeaderV6, sum16 } from '../../src/checksum/index.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../../src/ethernet/wire.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipproto.js';

export const ETH_LEN = 14;
export const IPV6_LEN = 40;

/** IPv6 extension headers the stack walks (RFC 8200 §4.1): hop-by-hop, routing, fragment, destination. */
export const EXT_HOP_BY_HOP = 0;
export const EXT_ROUTING = 43;
export const EXT_FRAGMENT = 44;
export const EXT_DESTINATION = 60;

export interface ExtPart {
  /** The header's type as the previous header names it (may be made to lie). */
  type: number;
  /** Its bytes; byte 0 (its own next-header field) is written by `assemble`. */
  bytes: Uint8Array;
}

export interface Packet {
  /** Destination MAC, source MAC, ethertype. */
  dstMac: Mac;
  srcMac: Mac;
  ethertype: number;
  family: 'ipv4' | 'ipv6' | 'arp' | 'other';
  /** IPv4: the header with its options; IPv6: the 40-byte fixed header; ARP/other: the payload. */
  ip: Uint8Array;
  /** IPv6 extension headers in chain order (empty for IPv4). */
  ext: ExtPart[];
  /** Upper-layer protocol (IPv4 protocol field, IPv6 last next header). */
  proto: number;
  /** Upper-layer bytes: header and payload. */
  l4: Uint8Array;
  /** `assemble` writes the IP length fields from the parts (false: the mutator set them on purpose). */
  fixLengths: boolean;
  /** `assemble` writes the checksums (false: a frame that must fail its checksum). */
  fixChecksums: boolean;
}

/** Splits a frame into parts; bytes are copied, so the parts may be mutated freely. */
export function dissect(frame: Uint8Array): Packet | undefined {
  if (frame.length < ETH_LEN) return undefined;
  const f = frame.slice();
  const ethertype = (f[12]! << 8) | f[13]!;
  const base = {
    dstMac: readMac(f, 0),
    srcMac: readMac(f, 6),
    ethertype,
    fixLengths: true,
    fixChecksums: true,
  };
  const body = f.subarray(ETH_LEN);
  if (ethertype === ETHERTYPE_IPV4 && body.length >= 20 && body[0]! >> 4 === 4) {
    const ihl = (body[0]! & 0x0f) * 4;
    const total = (body[2]! << 8) | body[3]!;
    if (ihl < 20 || ihl > body.length || total < ihl) return undefined;
    const end = Math.min(body.length, total);
    return {
      ...base,
      family: 'ipv4',
      ip: body.slice(0, ihl),
      ext: [],
      proto: body[9]!,
      l4: body.slice(ihl, end),
    };
  }
  if (ethertype === ETHERTYPE_IPV6 && body.length >= IPV6_LEN && body[0]! >> 4 === 6) {
    const plen = (body[4]! << 8) | body[5]!;
    const end = Math.min(body.length, IPV6_LEN + plen);
    const ext: ExtPart[] = [];
    let nh = body[6]!;
    let off = IPV6_LEN;
    while (isExt(nh) && off + 8 <= end) {
      const len = nh === EXT_FRAGMENT ? 8 : (body[off + 1]! + 1) * 8;
      if (off + len > end) break;
      ext.push({ type: nh, bytes: body.slice(off, off + len) });
      nh = body[off]!;
      off += len;
    }
    return { ...base, family: 'ipv6', ip: body.slice(0, IPV6_LEN), ext, proto: nh, l4: body.slice(off, end) };
  }
  const family = ethertype === ETHERTYPE_ARP ? 'arp' : 'other';
  return { ...base, family, ip: body.slice(), ext: [], proto: -1, l4: new Uint8Array(0) };
}

function isExt(nh: number): boolean {
  return nh === EXT_HOP_BY_HOP || nh === EXT_ROUTING || nh === EXT_FRAGMENT || nh === EXT_DESTINATION;
}

/** An independent copy of the parts. */
export function clonePacket(p: Packet): Packet {
  return {
    ...p,
    ip: p.ip.slice(),
    ext: p.ext.map((e) => ({ type: e.type, bytes: e.bytes.slice() })),
    l4: p.l4.slice(),
  };
}

/** Is this datagram a fragment (its upper-layer checksum then covers bytes it does not hold)? */
export function isFragment(p: Packet): boolean {
  // Offset (13 bits) or MF (RFC 791 §3.1).
  if (p.family === 'ipv4') return (((p.ip[6]! & 0x3f) << 8) | p.ip[7]!) !== 0;
  const frag = p.ext.find((e) => e.type === EXT_FRAGMENT && e.bytes.length >= 8);
  return frag !== undefined && (((frag.bytes[2]! << 8) | frag.bytes[3]!) & 0xfff9) !== 0;
}

export function setIpv4Addrs(p: Packet, src: Ipv4Addr, dst: Ipv4Addr): void {
  writeIpv4(p.ip, 12, src);
  writeIpv4(p.ip, 16, dst);
}
export function setIpv6Addrs(p: Packet, src: Uint8Array, dst: Uint8Array): void {
  p.ip.set(src, 8);
  p.ip.set(dst, 24);
}

/** Checksum field offset within the upper layer, or -1 for a protocol without one we fill. */
function checksumOffset(proto: number, family: Packet['family']): number {
  if (proto === IPPROTO_TCP) return 16;
  if (proto === IPPROTO_UDP) return 6;
  if (proto === IPPROTO_ICMP && family === 'ipv4') return 2;
  if (proto === IPPROTO_ICMPV6 && family === 'ipv6') return 2;
  return -1;
}

/** The frame: parts joined, next headers chained, lengths and checksums written (as the flags say). */
export function assemble(p: Packet): Uint8Array {
  const extLen = p.ext.reduce((n, e) => n + e.bytes.length, 0);
  const len = ETH_LEN + p.ip.length + extLen + p.l4.length;
  const f = new Uint8Array(len);
  writeMac(f, 0, p.dstMac);
  writeMac(f, 6, p.srcMac);
  f[12] = p.ethertype >> 8;
  f[13] = p.ethertype & 0xff;
  let off = ETH_LEN;
  f.set(p.ip, off);
  const ipOff = off;
  off += p.ip.length;
  if (p.family === 'ipv4') {
    f[ipOff + 9] = p.proto & 0xff;
    if (p.fixLengths) {
      f[ipOff] = (f[ipOff]! & 0xf0) | ((p.ip.length >> 2) & 0x0f);
      const total = Math.min(0xffff, p.ip.length + p.l4.length);
      f[ipOff + 2] = total >> 8;
      f[ipOff + 3] = total & 0xff;
    }
  } else if (p.family === 'ipv6') {
    f[ipOff + 6] = p.ext.length > 0 ? p.ext[0]!.type : p.proto & 0xff;
    for (let i = 0; i < p.ext.length; i++) {
      const e = p.ext[i]!;
      f.set(e.bytes, off);
      if (e.bytes.length > 0) f[off] = i + 1 < p.ext.length ? p.ext[i + 1]!.type : p.proto & 0xff;
      off += e.bytes.length;
    }
    if (p.fixLengths) {
      const plen = Math.min(0xffff, extLen + p.l4.length);
      f[ipOff + 4] = plen >> 8;
      f[ipOff + 5] = plen & 0xff;
    }
  }
  const l4Off = off;
  f.set(p.l4, l4Off);
  if (!p.fixChecksums) return f;
  if (p.family === 'ipv4' && p.ip.length >= 20) {
    f[ipOff + 10] = 0;
    f[ipOff + 11] = 0;
    const c = finish(sum16(f.subarray(ipOff, ipOff + p.ip.length)));
    f[ipOff + 10] = c >> 8;
    f[ipOff + 11] = c & 0xff;
  }
  const at = checksumOffset(p.proto, p.family);
  if ((p.family === 'ipv4' || p.family === 'ipv6') && at >= 0 && p.l4.length >= at + 2 && !isFragment(p)) {
    const l4 = f.subarray(l4Off);
    l4[at] = 0;
    l4[at + 1] = 0;
    let initial = 0;
    if (p.family === 'ipv4') {
      if (p.proto !== IPPROTO_ICMP)
        initial = pseudoHeaderV4(readIpv4(p.ip, 12), readIpv4(p.ip, 16), p.proto, l4.length);
    } else {
      initial = pseudoHeaderV6(p.ip.subarray(8, 24), p.ip.subarray(24, 40), p.proto, l4.length);
    }
    let c = finish(sum16(l4, initial));
    // RFC 768: a computed UDP checksum of zero is sent as all ones (zero means "none" over IPv4).
    if (p.proto === IPPROTO_UDP && c === 0) c = 0xffff;
    l4[at] = c >> 8;
    l4[at + 1] = c & 0xff;
  }
  return f;
}
