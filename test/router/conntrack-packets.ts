/**
 * Packet builders for the conntrack, NAT and packet-info tests: IPv4 and IPv6 packets with TCP, UDP,
 * ICMP echo and ICMP errors, every checksum computed from scratch with the naive reference sum, and
 * `checksumReport` to recompute them on a rewritten packet.
 */
import { type Ipv4Addr, type Ipv6Addr, ipv4 } from '../../src/addr.js';
import { setU16, setU32, u16, u32 } from '../../src/bytes.js';
import { finish, pseudoHeaderV4, pseudoHeaderV6, sumNaive } from '../../src/checksum/index.js';
import { type PacketInfo, packetInfo } from '../../src/router/packet-info.js';

export const A = ipv4(10, 1, 0, 5);
export const B = ipv4(10, 1, 0, 6);
export const R = ipv4(203, 0, 113, 9);
export const R2 = ipv4(198, 51, 100, 7);
export const O = ipv4(192, 0, 2, 1);
export const X = ipv4(192, 0, 2, 254);

export function v6(last: number): Ipv6Addr {
  const a = new Uint8Array(16);
  a[0] = 0xfd;
  a[1] = 0;
  a[15] = last;
  return a as Ipv6Addr;
}

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

export interface L4 {
  readonly proto: number;
  /** The upper-layer bytes with the checksum field zero; `csumAt` names it (-1: none). */
  readonly bytes: Uint8Array;
  readonly csumAt: number;
  /** ICMPv4 has no pseudo-header. */
  readonly pseudo: boolean;
}

function pattern(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

export interface TcpSpec {
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly ack?: number;
  readonly flags: number;
  readonly window?: number;
  readonly wscale?: number;
  readonly payload?: number;
}

export function tcpL4(s: TcpSpec): L4 {
  const opts = s.wscale === undefined ? 0 : 4;
  const len = s.payload ?? 0;
  const b = new Uint8Array(20 + opts + len);
  setU16(b, 0, s.sport);
  setU16(b, 2, s.dport);
  setU32(b, 4, s.seq >>> 0);
  setU32(b, 8, (s.ack ?? 0) >>> 0);
  b[12] = ((20 + opts) / 4) << 4;
  b[13] = s.flags;
  setU16(b, 14, s.window ?? 65535);
  if (s.wscale !== undefined) b.set([1, 3, 3, s.wscale], 20);
  b.set(pattern(len, s.seq & 0xff), 20 + opts);
  return { proto: 6, bytes: b, csumAt: 16, pseudo: true };
}

export function udpL4(sport: number, dport: number, payload = 12, zeroChecksum = false): L4 {
  const b = new Uint8Array(8 + payload);
  setU16(b, 0, sport);
  setU16(b, 2, dport);
  setU16(b, 4, 8 + payload);
  b.set(pattern(payload, sport & 0xff), 8);
  return { proto: 17, bytes: b, csumAt: zeroChecksum ? -1 : 6, pseudo: true };
}

export function echoL4(version: 4 | 6, request: boolean, id: number, seq = 1, payload = 16): L4 {
  const b = new Uint8Array(8 + payload);
  b[0] = version === 4 ? (request ? 8 : 0) : request ? 128 : 129;
  setU16(b, 4, id);
  setU16(b, 6, seq);
  b.set(pattern(payload, id & 0xff), 8);
  return { proto: version === 4 ? 1 : 58, bytes: b, csumAt: 2, pseudo: version === 6 };
}

/** An ICMP error quoting `quote` (a whole packet or its start). */
export function errorL4(version: 4 | 6, type: number, code: number, quote: Uint8Array): L4 {
  const b = new Uint8Array(8 + quote.length);
  b[0] = type;
  b[1] = code;
  b.set(quote, 8);
  return { proto: version === 4 ? 1 : 58, bytes: b, csumAt: 2, pseudo: version === 6 };
}

/** A generic payload for another protocol (e.g. GRE, 47). */
export function rawL4(proto: number, n = 8): L4 {
  return { proto, bytes: pattern(n), csumAt: -1, pseudo: false };
}

function fillL4Checksum(l4: L4, ph: number): Uint8Array {
  const b = l4.bytes.slice();
  if (l4.csumAt >= 0) {
    let c = finish(sumNaive(b, l4.pseudo ? ph : 0));
    if (l4.proto === 17 && c === 0) c = 0xffff;
    setU16(b, l4.csumAt, c);
  }
  return b;
}

export function ip4(
  src: Ipv4Addr,
  dst: Ipv4Addr,
  l4: L4,
  opts: { ttl?: number; id?: number } = {},
): Uint8Array {
  const body = fillL4Checksum(l4, pseudoHeaderV4(src, dst, l4.proto, l4.bytes.length));
  const p = new Uint8Array(20 + body.length);
  p[0] = 0x45;
  setU16(p, 2, p.length);
  setU16(p, 4, opts.id ?? 0x1234);
  p[8] = opts.ttl ?? 64;
  p[9] = l4.proto;
  setU32(p, 12, src);
  setU32(p, 16, dst);
  setU16(p, 10, finish(sumNaive(p.subarray(0, 20))));
  p.set(body, 20);
  return p;
}

export function ip6(
  src: Ipv6Addr,
  dst: Ipv6Addr,
  l4: L4,
  ext: Uint8Array = new Uint8Array(0),
  firstNh?: number,
): Uint8Array {
  const body = fillL4Checksum(l4, pseudoHeaderV6(src, dst, l4.proto, l4.bytes.length));
  const p = new Uint8Array(40 + ext.length + body.length);
  p[0] = 0x60;
  setU16(p, 4, ext.length + body.length);
  p[6] = firstNh ?? l4.proto;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  p.set(ext, 40);
  p.set(body, 40 + ext.length);
  return p;
}

export function info(p: Uint8Array): PacketInfo {
  const i = packetInfo(p);
  if (i === undefined) throw new Error('test packet does not parse');
  return i;
}

export interface ChecksumReport {
  readonly ip: boolean;
  readonly l4: boolean;
  /** undefined when there is no quoted packet or it is too short to check. */
  readonly innerIp: boolean | undefined;
  readonly innerL4: boolean | undefined;
}

/** Recomputes every checksum of an IPv4 packet (and of a whole quoted packet) from scratch. */
export function checksumReport(p: Uint8Array): ChecksumReport {
  const ihl = (p[0]! & 15) * 4;
  const total = u16(p, 2);
  const ip = sumNaive(p.subarray(0, ihl)) === 0xffff;
  const proto = p[9]!;
  const seg = p.subarray(ihl, total);
  const l4 = l4Ok(proto, seg, u32(p, 12), u32(p, 16));
  let innerIp: boolean | undefined;
  let innerL4: boolean | undefined;
  if (proto === 1 && [3, 4, 5, 11, 12].includes(seg[0]!)) {
    const q = seg.subarray(8);
    if (q.length >= 20) {
      const qihl = (q[0]! & 15) * 4;
      innerIp = sumNaive(q.subarray(0, qihl)) === 0xffff;
      const qtotal = u16(q, 2);
      if (qtotal <= q.length) innerL4 = l4Ok(q[9]!, q.subarray(qihl, qtotal), u32(q, 12), u32(q, 16));
    }
  }
  return { ip, l4, innerIp, innerL4 };
}

function l4Ok(proto: number, seg: Uint8Array, src: number, dst: number): boolean {
  if (proto === 1) return sumNaive(seg) === 0xffff;
  if (proto === 17 && u16(seg, 6) === 0) return true;
  if (proto === 6 || proto === 17)
    return sumNaive(seg, pseudoHeaderV4(src, dst, proto, seg.length)) === 0xffff;
  return true;
}

// Shorthands used throughout the tests.
export const tcp4 = (src: Ipv4Addr, dst: Ipv4Addr, s: TcpSpec) => ip4(src, dst, tcpL4(s));
export const udp4 = (src: Ipv4Addr, dst: Ipv4Addr, sport: number, dport: number, payload = 12) =>
  ip4(src, dst, udpL4(sport, dport, payload));
export const ping4 = (src: Ipv4Addr, dst: Ipv4Addr, request: boolean, id: number) =>
  ip4(src, dst, echoL4(4, request, id));
