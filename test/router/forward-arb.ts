/**
 * Builders and small tables for the forwarding tests: packets, frames, interfaces, and a naive
 * longest-prefix-match routing table (the FIB proper is src/router/fib.ts; these tests only need
 * its lookup shape).
 */
import type { Ipv4Addr, Ipv6Addr, Mac } from '../../src/addr.js';
import { parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { pseudoHeaderV4, pseudoHeaderV6, sumNaive } from '../../src/checksum/index.js';
import { emitIpv4, type Ipv4Repr, ipv4HeaderLen } from '../../src/ipv4/wire.js';
import { emitIpv6 } from '../../src/ipv6/wire.js';
import type { ForwardContext, ForwardInterface, Route4, Route6 } from '../../src/router/forward.js';

export function v4(s: string): Ipv4Addr {
  const a = parseIpv4Addr(s);
  if (a === undefined) throw new Error(`bad IPv4 literal ${s}`);
  return a;
}

export function v6(s: string): Ipv6Addr {
  const a = parseIpv6Addr(s);
  if (a === undefined) throw new Error(`bad IPv6 literal ${s}`);
  return a;
}

export const MAC_A = 0x02_00_00_00_00_0a as Mac;
export const MAC_B = 0x02_00_00_00_00_0b as Mac;

export interface Ipv4Spec {
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  readonly ttl?: number;
  readonly protocol?: number;
  readonly df?: boolean;
  readonly mf?: boolean;
  readonly fragOffset?: number;
  readonly options?: Uint8Array;
  readonly payload?: Uint8Array;
  readonly tos?: number;
  readonly ident?: number;
}

/** A valid IPv4 packet (checksum filled by emitIpv4). */
export function ipv4Packet(s: Ipv4Spec): Uint8Array {
  const repr: Ipv4Repr = {
    src: s.src,
    dst: s.dst,
    protocol: s.protocol ?? 17,
    ttl: s.ttl ?? 64,
    dscp: (s.tos ?? 0) >>> 2,
    ecn: (s.tos ?? 0) & 3,
    ident: s.ident ?? 0x1234,
    dontFragment: s.df ?? false,
    moreFragments: s.mf ?? false,
    fragOffset: s.fragOffset ?? 0,
    options: s.options ?? new Uint8Array(0),
  };
  const payload = s.payload ?? new Uint8Array(8);
  const hl = ipv4HeaderLen(repr);
  const buf = new Uint8Array(hl + payload.length);
  buf.set(payload, hl);
  emitIpv4(repr, buf);
  return buf;
}

/** Recomputes an IPv4 header checksum naively (RFC 1071 byte pairs). */
export function refillIpv4(b: Uint8Array): Uint8Array {
  const hl = (b[0]! & 0x0f) * 4;
  b[10] = 0;
  b[11] = 0;
  const c = ~sumNaive(b.subarray(0, hl)) & 0xffff;
  b[10] = c >>> 8;
  b[11] = c & 0xff;
  return b;
}

export function ipv4HeaderSum(b: Uint8Array): number {
  return sumNaive(b.subarray(0, (b[0]! & 0x0f) * 4));
}

export interface TcpSpec {
  readonly syn?: boolean;
  readonly ack?: boolean;
  /** Option bytes (a multiple of 4 long, at most 40). */
  readonly options?: Uint8Array;
  readonly data?: Uint8Array;
}

/** A TCP segment with the given option bytes; the checksum is filled for `pseudo` (a partial sum). */
export function tcpSegment(t: TcpSpec, pseudo: (len: number) => number): Uint8Array {
  const options = t.options ?? new Uint8Array(0);
  const data = t.data ?? new Uint8Array(0);
  const hl = 20 + options.length;
  const seg = new Uint8Array(hl + data.length);
  seg.set([0x9c, 0x40, 0x00, 0x50, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0], 0);
  seg[12] = (hl / 4) << 4;
  seg[13] = (t.syn === false ? 0 : 0x02) | (t.ack === true ? 0x10 : 0);
  seg[14] = 0xfa;
  seg[15] = 0xf0;
  seg.set(options, 20);
  seg.set(data, hl);
  const c = ~sumNaive(seg, pseudo(seg.length)) & 0xffff;
  seg[16] = c >>> 8;
  seg[17] = c & 0xff;
  return seg;
}

export function tcpPseudo4(src: Ipv4Addr, dst: Ipv4Addr): (len: number) => number {
  return (len) => pseudoHeaderV4(src, dst, 6, len);
}

export function tcpPseudo6(src: Ipv6Addr, dst: Ipv6Addr): (len: number) => number {
  return (len) => pseudoHeaderV6(src, dst, 6, len);
}

/** Sum over pseudo-header and segment: 0xffff when the TCP checksum verifies. */
export function tcpSum(seg: Uint8Array, pseudo: (len: number) => number): number {
  return sumNaive(seg, pseudo(seg.length));
}

export interface Ipv6Spec {
  readonly src: Ipv6Addr;
  readonly dst: Ipv6Addr;
  readonly hopLimit?: number;
  readonly nextHeader?: number;
  /** Everything after the fixed header (extension headers and upper layer). */
  readonly payload?: Uint8Array;
}

export function ipv6Packet(s: Ipv6Spec): Uint8Array {
  const payload = s.payload ?? new Uint8Array(8);
  const buf = new Uint8Array(40 + payload.length);
  buf.set(payload, 40);
  emitIpv6(
    {
      trafficClass: 0,
      flowLabel: 0,
      nextHeader: s.nextHeader ?? 17,
      hopLimit: s.hopLimit ?? 64,
      src: s.src,
      dst: s.dst,
    },
    buf,
  );
  return buf;
}

/** An Ethernet frame (no VLAN) around `packet`, MACs zeroed. */
export function frameOf(packet: Uint8Array, ethertype: number): Uint8Array {
  const f = new Uint8Array(14 + packet.length);
  f[12] = ethertype >>> 8;
  f[13] = ethertype & 0xff;
  f.set(packet, 14);
  return f;
}

export function iface(
  index: number,
  ipv4: readonly string[],
  ipv6: readonly string[] = [],
  more: Partial<Pick<ForwardInterface, 'mtu' | 'rpFilter'>> = {},
): ForwardInterface {
  return {
    index,
    mac: (0x02_00_00_00_01_00 + index) as Mac,
    mtu: more.mtu ?? 1500,
    rpFilter: more.rpFilter ?? 'loose',
    ipv4: ipv4.map((c) => {
      const [a, len] = c.split('/');
      return { address: v4(a!), prefixLen: Number(len) };
    }),
    ipv6: ipv6.map((c) => {
      const [a, len] = c.split('/');
      return { address: v6(a!), prefixLen: Number(len) };
    }),
  };
}

export interface TableRoute<A> {
  readonly prefix: A;
  readonly prefixLen: number;
  readonly iface: number;
  readonly gateway?: A;
}

function bitsEqual(a: ArrayLike<number>, b: ArrayLike<number>, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if ((a[byte]! & mask) !== (b[byte]! & mask)) return false;
  }
  return true;
}

function bytes4(a: number): number[] {
  return [
    Math.floor(a / 2 ** 24) % 256,
    Math.floor(a / 2 ** 16) % 256,
    Math.floor(a / 2 ** 8) % 256,
    a % 256,
  ];
}

/** Naive longest-prefix match: bit by bit over every route; the first of equal lengths wins. */
export function lpm4(routes: readonly TableRoute<Ipv4Addr>[]): (dst: Ipv4Addr) => Route4 | undefined {
  return (dst) => {
    let best: TableRoute<Ipv4Addr> | undefined;
    for (const r of routes)
      if (
        bitsEqual(bytes4(dst), bytes4(r.prefix), r.prefixLen) &&
        (best === undefined || r.prefixLen > best.prefixLen)
      )
        best = r;
    if (best === undefined) return undefined;
    return best.gateway === undefined ? { iface: best.iface } : { iface: best.iface, gateway: best.gateway };
  };
}

export function lpm6(routes: readonly TableRoute<Ipv6Addr>[]): (dst: Ipv6Addr) => Route6 | undefined {
  return (dst) => {
    let best: TableRoute<Ipv6Addr> | undefined;
    for (const r of routes)
      if (bitsEqual(dst, r.prefix, r.prefixLen) && (best === undefined || r.prefixLen > best.prefixLen))
        best = r;
    if (best === undefined) return undefined;
    return best.gateway === undefined ? { iface: best.iface } : { iface: best.iface, gateway: best.gateway };
  };
}

export function context(
  interfaces: readonly ForwardInterface[],
  routes4: readonly TableRoute<Ipv4Addr>[],
  routes6: readonly TableRoute<Ipv6Addr>[] = [],
  more: Partial<Pick<ForwardContext, 'clampMss' | 'sendRedirects'>> = {},
): ForwardContext {
  return {
    interfaces,
    route4: lpm4(routes4),
    route6: lpm6(routes6),
    clampMss: more.clampMss ?? false,
    sendRedirects: more.sendRedirects ?? true,
  };
}

export function route4(cidr: string, ifaceIndex: number, gateway?: string): TableRoute<Ipv4Addr> {
  const [a, len] = cidr.split('/');
  return gateway === undefined
    ? { prefix: v4(a!), prefixLen: Number(len), iface: ifaceIndex }
    : { prefix: v4(a!), prefixLen: Number(len), iface: ifaceIndex, gateway: v4(gateway) };
}

export function route6(cidr: string, ifaceIndex: number, gateway?: string): TableRoute<Ipv6Addr> {
  const [a, len] = cidr.split('/');
  return gateway === undefined
    ? { prefix: v6(a!), prefixLen: Number(len), iface: ifaceIndex }
    : { prefix: v6(a!), prefixLen: Number(len), iface: ifaceIndex, gateway: v6(gateway) };
}
