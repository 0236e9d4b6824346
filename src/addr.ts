/**
 * Link and network addresses.
 * - `Mac`: a 48-bit number (exact in a double), usable as a Map key.
 * - `Ipv4Addr`: an unsigned 32-bit number, usable as a Map key.
 * - `Ipv6Addr`: 16 bytes; `ipv6Key` gives a Map key.
 */
import { setU16, setU32, u16, u32 } from './bytes.js';

export type Mac = number & { readonly __brand: 'Mac' };
export type Ipv4Addr = number & { readonly __brand: 'Ipv4Addr' };
export type Ipv6Addr = Uint8Array & { readonly __brand: 'Ipv6Addr' };

export const MAC_BROADCAST = 0xffff_ffff_ffff as Mac;
export const MAC_ZERO = 0 as Mac;

export function readMac(b: Uint8Array, off: number): Mac {
  return (u16(b, off) * 0x1_0000_0000 + u32(b, off + 2)) as Mac;
}

export function writeMac(b: Uint8Array, off: number, mac: Mac): void {
  const high = Math.floor(mac / 0x1_0000_0000);
  setU16(b, off, high);
  // A subtraction, not `%`: a remainder of doubles is a call into the C library on every frame.
  setU32(b, off + 2, mac - high * 0x1_0000_0000);
}

export function macToString(mac: Mac): string {
  const parts: string[] = [];
  for (let i = 5; i >= 0; i--)
    parts.push((Math.floor(mac / 2 ** (8 * i)) % 256).toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function parseMac(s: string): Mac | undefined {
  const m =
    /^([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})$/i.exec(
      s,
    );
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + Number.parseInt(m[i]!, 16);
  return v as Mac;
}

/** Group bit (I/G) of the first octet: multicast or broadcast. */
export function isMulticastMac(mac: Mac): boolean {
  return Math.floor(mac / 0x100_0000_0000) % 2 === 1;
}

export function readIpv4(b: Uint8Array, off: number): Ipv4Addr {
  return u32(b, off) as Ipv4Addr;
}

export function writeIpv4(b: Uint8Array, off: number, a: Ipv4Addr): void {
  setU32(b, off, a);
}

export function ipv4(a: number, b: number, c: number, d: number): Ipv4Addr {
  return (((a << 24) | (b << 16) | (c << 8) | d) >>> 0) as Ipv4Addr;
}

export function ipv4ToString(a: Ipv4Addr): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export function parseIpv4Addr(s: string): Ipv4Addr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1, 5).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ipv4(parts[0]!, parts[1]!, parts[2]!, parts[3]!);
}

export const IPV4_ANY = 0 as Ipv4Addr;
export const IPV4_BROADCAST = 0xffff_ffff as Ipv4Addr;

export function isIpv4Multicast(a: Ipv4Addr): boolean {
  return a >>> 28 === 0xe;
}

/** RFC 1112 §6.4: 01-00-5E-00-00-00 plus the low-order 23 bits of the group address. */
export function ipv4MulticastMac(ip: Ipv4Addr): Mac {
  return (0x01005e000000 + (ip & 0x7fffff)) as Mac;
}

/** Network mask of a prefix length, e.g. 24 -> 255.255.255.0. */
export function ipv4Mask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffff_ffff << (32 - prefixLen)) >>> 0;
}

export function readIpv6(b: Uint8Array, off: number): Ipv6Addr {
  // A view, not a copy: it aliases the frame like every other field view.
  return b.subarray(off, off + 16) as Ipv6Addr;
}

export function ipv6FromBytes(bytes: ArrayLike<number>): Ipv6Addr {
  if (bytes.length !== 16) throw new Error('ipv6FromBytes: need 16 bytes');
  return Uint8Array.from(bytes) as Ipv6Addr;
}

export function ipv6Equal(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Canonical text form (RFC 5952 §4): lower case, longest run of two or more zero groups as `::`. */
export function ipv6ToString(a: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(u16(a, 2 * i));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Map key for an IPv6 address. */
export const ipv6Key = ipv6ToString;

export function parseIpv6Addr(s: string): Ipv6Addr | undefined {
  let text = s;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const a = parseIpv4Addr(v4[2]!);
    if (a === undefined) return undefined;
    tail.push(a >>> 16, a & 0xffff);
    text = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const groups = [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) setU16(out, 2 * i, groups[i]!);
  return out as Ipv6Addr;
}

export const IPV6_UNSPECIFIED = new Uint8Array(16) as Ipv6Addr;

export function isIpv6Multicast(a: Uint8Array): boolean {
  return a[0] === 0xff;
}

/** `a` with every bit past `prefixLen` cleared: the prefix it lies in. */
export function ipv6Prefix(a: Uint8Array, prefixLen: number): Ipv6Addr {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    out[i] = a[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out as Ipv6Addr;
}

export function isIpv6LinkLocal(a: Uint8Array): boolean {
  return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
}

/** Solicited-node multicast address ff02::1:ffXX:XXXX (RFC 4291 §2.7.1). */
export function solicitedNode(a: Uint8Array): Ipv6Addr {
  const out = parseIpv6Addr('ff02::1:ff00:0')!;
  out[13] = a[13]!;
  out[14] = a[14]!;
  out[15] = a[15]!;
  return out;
}

/** Ethernet multicast MAC for an IPv6 multicast address, 33:33:XX:XX:XX:XX (RFC 2464 §7). */
export function ipv6MulticastMac(a: Uint8Array): Mac {
  return (0x3333 * 0x1_0000_0000 + u32(a, 12)) as Mac;
}

/** Modified EUI-64 interface identifier from a MAC (RFC 4291 appendix A). */
export function eui64InterfaceId(mac: Mac): Uint8Array {
  const m = new Uint8Array(6);
  writeMac(m, 0, mac);
  return Uint8Array.of(m[0]! ^ 0x02, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!);
}

/** `10.0.0.2/24` -> address and prefix length; a bare address is a /32. */
export function parseIpv4Cidr(s: string): { address: Ipv4Addr; prefixLen: number } | undefined {
  const [a, len, extra] = s.split('/');
  if (extra !== undefined || a === undefined) return undefined;
  const address = parseIpv4Addr(a);
  const prefixLen = len === undefined ? 32 : Number(len);
  if (address === undefined || !/^\d{1,2}$/.test(len ?? '32') || prefixLen > 32) return undefined;
  return { address, prefixLen };
}

/** `2001:db8::2/64` -> address and prefix length; a bare address is a /128. */
export function parseIpv6Cidr(s: string): { address: Ipv6Addr; prefixLen: number } | undefined {
  const [a, len, extra] = s.split('/');
  if (extra !== undefined || a === undefined) return undefined;
  const address = parseIpv6Addr(a);
  const prefixLen = len === undefined ? 128 : Number(len);
  if (address === undefined || !/^\d{1,3}$/.test(len ?? '128') || prefixLen > 128) return undefined;
  return { address, prefixLen };
}
