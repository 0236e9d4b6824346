/**
 * Field-aware mutation of real frames against a live stack (issue 14, "Stack-level fuzzing").
 *
 * A base frame (a golden Linux capture's, or one the simulation itself sent) is retargeted at the
 * victim host (its MAC, its addresses, the ports of its live connections, listeners and sockets),
 * then 1-4 mutations chosen for its protocol are applied: TCP flags, sequence and acknowledgement
 * numbers, options (kinds and lengths, valid or not), windows; IPv4 fragment offsets, MF, ids,
 * options, TTLs; IPv6 extension-header chains (hop-by-hop, routing, fragment, destination options
 * with every option action); ICMP and ICMPv6 errors quoting a live connection; NDP messages and
 * options; ARP fields; UDP lengths; truncation and extension. `assemble` then recomputes lengths and
 * checksums so that the frame reaches the cores.
 *
 * Two classes (what the attacker is assumed to know):
 * - `blind`: an off-path attacker. TCP sequence and acknowledgement numbers (and the sequence number
 *   quoted in an ICMP error) are drawn at random, never read from the live connections; and it cannot
 *   take over a live neighbour's link-layer binding (ARP or NDP naming a live neighbour's address
 *   with another MAC is what an on-link man in the middle does). After a blind storm every stream
 *   must still deliver exactly the bytes written (RFC 5961, RFC 5927).
 * - `in-window`: an on-path forger that reads the live TCBs: sequence numbers at the edges of the
 *   receive window, acknowledgements around SND.UNA / SND.NXT / SND.MAX, SACK blocks over the data in
 *   flight, ICMP errors quoting SND.UNA, neighbour spoofing. TCP cannot tell such a forger from the
 *   peer, so only the invariants are required.
 */
import {
  type Ipv4Addr,
  type Ipv6Addr,
  type Mac,
  MAC_BROADCAST,
  readIpv4,
  writeIpv4,
  writeMac,
} from '../../src/addr.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../../src/ethernet/wire.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipproto.js';
import type { Random } from '../../src/random.js';
import {
  assemble,
  clonePacket,
  dissect,
  ETH_LEN,
  EXT_DESTINATION,
  EXT_FRAGMENT,
  EXT_HOP_BY_HOP,
  EXT_ROUTING,
  type Packet,
  setIpv4Addrs,
  setIpv6Addrs,
} from './packet.js';

export type MutationClass = 'blind' | 'in-window';

/** A host's identity on the shared segment. */
export interface Endpoint {
  readonly mac: Mac;
  readonly v4: Ipv4Addr;
  readonly v6: Ipv6Addr;
  readonly ll6: Ipv6Addr;
}

/** What a forger reads of one live connection of the victim (its TCB, victim side). */
export interface LiveTcb {
  readonly v6: boolean;
  readonly local: Ipv4Addr | Ipv6Addr;
  readonly localPort: number;
  readonly remote: Ipv4Addr | Ipv6Addr;
  readonly remotePort: number;
  readonly sndUna: number;
  readonly sndNxt: number;
  readonly sndMax: number;
  readonly maxSndWnd: number;
  readonly rcvNxt: number;
  /** Right edge of the window last advertised. */
  readonly rcvAdv: number;
  /** RFC 7323 §4.3 TS.Recent: a TSval below it fails PAWS before any other check. */
  readonly tsRecent: number;
}

/** The victim and what is live on it when the frame is made. */
export interface Target {
  readonly victim: Endpoint;
  /** The other hosts on the segment: live neighbours. */
  readonly peers: readonly Endpoint[];
  readonly conns: readonly LiveTcb[];
  readonly tcpPorts: readonly number[];
  readonly udpPorts: readonly number[];
  /** A datagram held in reassembly on the victim: its source and id (IPv4 16 bits, IPv6 32 bits). */
  readonly held4?: { readonly src: Ipv4Addr; readonly id: number };
  readonly held6?: { readonly src: Ipv6Addr; readonly id: number };
  /** Neighbours the victim is resolving that never answer. */
  readonly silent4: Ipv4Addr;
  readonly silent6: Ipv6Addr;
}

/** Random sources from the benchmarking range 198.18.0.0/15 (RFC 2544), never a real network's. */
const BENCH4 = 0xc6_12_00_00;
const BENCH6 = [0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff];

const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

interface Ctx {
  readonly rng: Random;
  readonly t: Target;
  readonly cls: MutationClass;
  /** The live connection the frame was aimed at, if any. */
  conn: LiveTcb | undefined;
}

function pick<T>(rng: Random, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

function randomBytes(rng: Random, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.next() & 0xff;
  return b;
}

function put16(b: Uint8Array, off: number, v: number): void {
  if (off + 2 > b.length) return;
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

function put32(b: Uint8Array, off: number, v: number): void {
  if (off + 4 > b.length) return;
  put16(b, off, v >>> 16);
  put16(b, off + 2, v & 0xffff);
}

function get16(b: Uint8Array, off: number): number {
  return off + 2 > b.length ? 0 : (b[off]! << 8) | b[off + 1]!;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function randomMac(rng: Random): Mac {
  // Locally administered unicast, never one of the hosts' (theirs come from the stack's seed).
  return (0x0a_0000_0000_00 + rng.int(0x1_0000_0000)) as Mac;
}

function bench4(rng: Random): Ipv4Addr {
  return ((BENCH4 + rng.int(0x2_0000)) >>> 0) as Ipv4Addr;
}

function bench6(rng: Random): Ipv6Addr {
  const a = new Uint8Array(16);
  a.set(BENCH6, 0);
  a.set(randomBytes(rng, 10), 6);
  return a as Ipv6Addr;
}

function isV6(a: Ipv4Addr | Ipv6Addr): a is Ipv6Addr {
  return typeof a !== 'number';
}

function sameAddr(a: Ipv4Addr | Ipv6Addr, b: Ipv4Addr | Ipv6Addr): boolean {
  if (isV6(a) || isV6(b)) return isV6(a) && isV6(b) && a.every((x, i) => x === b[i]);
  return a === b;
}

// ---------------------------------------------------------------------------------------------------
// Retargeting: the frame is aimed at the victim, from a neighbour or a random source.

function source4(c: Ctx): Ipv4Addr {
  const { rng, t } = c;
  const d = rng.int(10);
  if (d < 5 && t.peers.length > 0) return pick(rng, t.peers).v4;
  if (d < 7) return bench4(rng);
  if (d < 8) return t.silent4;
  // The victim's own address (a "land" packet), broadcast, zero: each has its own rule.
  return pick(rng, [t.victim.v4, 0xffffffff, 0, 0x7f000001, 0xe0000001] as Ipv4Addr[]);
}

function source6(c: Ctx): Ipv6Addr {
  const { rng, t } = c;
  const d = rng.int(10);
  if (d < 4 && t.peers.length > 0) return pick(rng, t.peers).v6;
  if (d < 6 && t.peers.length > 0) return pick(rng, t.peers).ll6;
  if (d < 8) return bench6(rng);
  if (d < 9) return t.silent6;
  const special = [new Uint8Array(16), t.victim.v6, Uint8Array.from([0xff, 2, ...new Uint8Array(13), 1])];
  return pick(rng, special) as Ipv6Addr;
}

function dest6(c: Ctx): Ipv6Addr {
  const { rng, t } = c;
  const d = rng.int(10);
  if (d < 6) return t.victim.v6;
  if (d < 8) return t.victim.ll6;
  if (d < 9) return Uint8Array.from([0xff, 2, ...new Uint8Array(13), 1]) as Ipv6Addr;
  // The victim's solicited-node group (RFC 4291 §2.7.1).
  const v = t.victim.v6;
  return Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, v[13]!, v[14]!, v[15]!]) as Ipv6Addr;
}

function retarget(p: Packet, c: Ctx): void {
  const { rng, t } = c;
  p.dstMac =
    rng.int(10) < 9 ? t.victim.mac : pick(rng, [MAC_BROADCAST, 0x3333_0000_0001 as Mac, randomMac(rng)]);
  p.srcMac = t.peers.length > 0 && rng.chance(0.6) ? pick(rng, t.peers).mac : randomMac(rng);
  const transport = p.proto === IPPROTO_TCP || p.proto === IPPROTO_UDP;
  const conns = t.conns.filter((x) => x.v6 === (p.family === 'ipv6'));
  c.conn =
    transport && p.proto === IPPROTO_TCP && conns.length > 0 && rng.chance(0.7)
      ? pick(rng, conns)
      : undefined;
  if (p.family === 'ipv4') {
    const dst =
      rng.int(10) < 9 ? t.victim.v4 : pick(rng, [0xffffffff, (t.victim.v4 | 0xff) >>> 0] as Ipv4Addr[]);
    setIpv4Addrs(p, source4(c), dst as Ipv4Addr);
    if (c.conn !== undefined) setIpv4Addrs(p, c.conn.remote as Ipv4Addr, c.conn.local as Ipv4Addr);
  } else if (p.family === 'ipv6') {
    setIpv6Addrs(p, source6(c), dest6(c));
    if (c.conn !== undefined) setIpv6Addrs(p, c.conn.remote as Ipv6Addr, c.conn.local as Ipv6Addr);
  } else if (p.family === 'arp' && p.ip.length >= 28) {
    writeMac(p.ip, 8, p.srcMac);
    writeIpv4(p.ip, 14, source4(c));
    writeIpv4(p.ip, 24, rng.chance(0.8) ? t.victim.v4 : source4(c));
  }
  if (p.l4.length >= 4 && transport) {
    if (c.conn !== undefined) {
      put16(p.l4, 0, c.conn.remotePort);
      put16(p.l4, 2, c.conn.localPort);
    } else {
      const ports = p.proto === IPPROTO_TCP ? t.tcpPorts : t.udpPorts;
      put16(p.l4, 0, rng.chance(0.5) ? 1024 + rng.int(64_512) : get16(p.l4, 0));
      put16(p.l4, 2, ports.length > 0 && rng.chance(0.7) ? pick(rng, ports) : rng.int(65_536));
    }
  }
  if (p.proto === IPPROTO_TCP && c.conn !== undefined && c.cls === 'in-window') inWindowNumbers(p, c, c.conn);
  // ICMP errors of the captures quote other hosts' packets: make them quote the victim's.
  if (isIcmpError(p)) quote(p, c);
}

// ---------------------------------------------------------------------------------------------------
// TCP

const SEQ_EDGE = [-1, 0, 1, -2, 2];

function inWindowNumbers(p: Packet, c: Ctx, x: LiveTcb): void {
  const rng = c.rng;
  const wnd = (x.rcvAdv - x.rcvNxt) >>> 0;
  const seqDelta = pick(rng, [
    ...SEQ_EDGE,
    wnd - 1,
    wnd,
    wnd + 1,
    rng.int(wnd + 1),
    -rng.int(65_536),
    -wnd,
    0x8000_0000,
  ]);
  put32(p.l4, 4, (x.rcvNxt + seqDelta) >>> 0);
  const flight = (x.sndMax - x.sndUna) >>> 0;
  const ack = pick(rng, [
    x.sndUna,
    x.sndUna - 1,
    x.sndUna + 1,
    x.sndNxt,
    x.sndNxt + 1,
    x.sndMax,
    x.sndMax + 1,
    x.sndUna - x.maxSndWnd,
    x.sndUna - x.maxSndWnd - 1,
    x.sndUna + rng.int(flight + 1),
  ]);
  put32(p.l4, 8, ack >>> 0);
  // A timestamp that passes PAWS (RFC 7323 §5.3), so that the sequence checks are reached.
  const ts = timestampOffset(p.l4);
  if (ts >= 0 && rng.int(4) !== 0) put32(p.l4, ts, (x.tsRecent + pick(rng, [0, 1, rng.int(1 << 20)])) >>> 0);
}

/** Offset of the TSval in a TCP header's timestamps option (RFC 7323 §3.2), or -1. */
function timestampOffset(l4: Uint8Array): number {
  const end = tcpHeaderLen(l4);
  let i = 20;
  while (i < end) {
    const kind = l4[i]!;
    if (kind === 0) return -1;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = l4[i + 1] ?? 0;
    if (kind === 8 && len === 10 && i + 10 <= end) return i + 2;
    if (len < 2) return -1;
    i += len;
  }
  return -1;
}

function tcpHeaderLen(l4: Uint8Array): number {
  const hl = ((l4[12] ?? 0x50) >> 4) * 4;
  return Math.max(20, Math.min(hl, l4.length));
}

function tcpOptions(c: Ctx): Uint8Array {
  const { rng } = c;
  const parts: number[] = [];
  const n = 1 + rng.int(6);
  const edge = (): number => {
    const x = c.conn;
    if (c.cls === 'in-window' && x !== undefined) {
      const flight = (x.sndMax - x.sndUna) >>> 0;
      return (x.sndUna + pick(rng, [0, -1, 1, rng.int(flight + 2), flight, flight + 1, 0x8000_0000])) >>> 0;
    }
    return rng.next();
  };
  for (let i = 0; i < n; i++) {
    switch (rng.int(12)) {
      case 0:
        parts.push(2, 4, ...u16(pick(rng, [0, 1, 48, 64, 536, 1220, 1460, 9000, 65_535])));
        break;
      case 1:
        parts.push(3, 3, pick(rng, [0, 7, 14, 15, 255]));
        break;
      case 2:
        parts.push(4, 2);
        break;
      case 3: {
        const blocks = rng.int(6);
        parts.push(5, 2 + 8 * blocks);
        for (let b = 0; b < blocks; b++) parts.push(...u32(edge()), ...u32(edge()));
        break;
      }
      case 4:
        parts.push(8, 10, ...u32(rng.next()), ...u32(rng.chance(0.5) ? 0 : rng.next()));
        break;
      case 5:
        parts.push(1);
        break;
      case 6:
        parts.push(0);
        break;
      case 7:
        // A length that lies: 0 and 1 can loop a careless parser; 255 runs past the header.
        parts.push(pick(rng, [2, 3, 5, 8, 30, 34, 254, rng.int(256)]), pick(rng, [0, 1, 2, 40, 255]));
        break;
      case 8:
        // TCP Fast Open cookie (RFC 7413) and MPTCP (RFC 8684), not understood.
        parts.push(pick(rng, [34, 30]), 6, ...randomBytes(rng, 4));
        break;
      default: {
        const kind = rng.int(256);
        const len = 2 + rng.int(8);
        parts.push(kind, len, ...randomBytes(rng, len - 2));
      }
    }
  }
  const opts = parts.slice(0, 40);
  while (opts.length % 4 !== 0) opts.push(0);
  return Uint8Array.from(opts);
}

function u16(v: number): number[] {
  return [(v >>> 8) & 0xff, v & 0xff];
}

function u32(v: number): number[] {
  return [...u16(v >>> 16), ...u16(v & 0xffff)];
}

type Op = (p: Packet, c: Ctx) => void;

const TCP_OPS: Op[] = [
  // Flags: every combination, and the classic ones.
  (p, { rng }) => {
    if (p.l4.length < 20) return;
    const f = rng.chance(0.5)
      ? pick(rng, [
          TCP_SYN,
          TCP_SYN | TCP_ACK,
          TCP_RST,
          TCP_RST | TCP_ACK,
          0x11,
          0x18,
          0x3f,
          0x00,
          0x29,
          0xc2,
          0x03,
        ])
      : rng.int(256);
    p.l4[13] = f;
    p.l4[12] = (p.l4[12]! & 0xf0) | (rng.chance(0.1) ? rng.int(16) : 0);
  },
  (p, { rng }) => {
    if (p.l4.length >= 20) p.l4[13] = p.l4[13]! ^ (1 << rng.int(8));
  },
  (p, { rng }) => put16(p.l4, 14, pick(rng, [0, 1, 2, 512, 65_535, rng.int(65_536)])),
  (p, { rng }) => {
    put16(p.l4, 18, pick(rng, [0, 1, 0xffff, rng.int(65_536)]));
    if (p.l4.length >= 20) p.l4[13] = p.l4[13]! | 0x20;
  },
  // Options rebuilt, valid or not.
  (p, c) => {
    if (p.l4.length < 20) return;
    const hl = tcpHeaderLen(p.l4);
    const opts = tcpOptions(c);
    const head = p.l4.slice(0, 20);
    head[12] = (((20 + opts.length) / 4) << 4) | (head[12]! & 0x0f);
    p.l4 = concat(head, opts, p.l4.subarray(hl));
  },
  // A data offset that lies.
  (p, { rng }) => {
    if (p.l4.length >= 20) p.l4[12] = (rng.int(16) << 4) | (p.l4[12]! & 0x0f);
  },
  // Payload: none, cut, more.
  (p, { rng }) => {
    const hl = tcpHeaderLen(p.l4);
    const d = rng.int(3);
    if (d === 0) p.l4 = p.l4.slice(0, hl);
    else if (d === 1) p.l4 = p.l4.slice(0, hl + rng.int(Math.max(1, p.l4.length - hl)));
    else p.l4 = concat(p.l4, randomBytes(rng, 1 + rng.int(1400)));
  },
  // Sequence and acknowledgement numbers (in-window ones replace them again for that class).
  (p, c) => {
    put32(p.l4, 4, c.rng.next());
    if (c.rng.chance(0.5)) put32(p.l4, 8, c.rng.next());
    if (c.cls === 'in-window' && c.conn !== undefined) inWindowNumbers(p, c, c.conn);
  },
];

// ---------------------------------------------------------------------------------------------------
// UDP

const UDP_OPS: Op[] = [
  (p, { rng }) => put16(p.l4, 4, pick(rng, [0, 7, 8, p.l4.length + 1, 0xffff, rng.int(65_536)])),
  (p, { rng }) => {
    p.l4 = concat(p.l4.slice(0, 8), randomBytes(rng, rng.int(1400)));
    put16(p.l4, 4, p.l4.length);
  },
  // Checksum zero: "no checksum" over IPv4, forbidden over IPv6 (RFC 8200 §8.1).
  (p) => {
    p.fixChecksums = false;
    put16(p.l4, 6, 0);
  },
];

// ---------------------------------------------------------------------------------------------------
// ICMP errors quoting the victim's connections (RFC 5927 §4.1: the quoted sequence number decides).

function isIcmpError(p: Packet): boolean {
  const type = p.l4[0] ?? -1;
  if (p.family === 'ipv4' && p.proto === IPPROTO_ICMP) return [3, 4, 5, 11, 12].includes(type);
  if (p.family === 'ipv6' && p.proto === IPPROTO_ICMPV6) return type >= 1 && type <= 4;
  return false;
}

/** Rewrites the quoted packet as one the victim sent: to a live connection's peer, or anywhere. */
function quote(p: Packet, c: Ctx): void {
  const { rng, t } = c;
  const v6 = p.family === 'ipv6';
  const conns = t.conns.filter((x) => x.v6 === v6);
  const x = conns.length > 0 && rng.chance(0.8) ? pick(rng, conns) : undefined;
  const seq =
    c.cls === 'in-window' && x !== undefined
      ? (x.sndUna + pick(rng, [0, 1, -1, (x.sndNxt - x.sndUna) >>> 0, (x.sndMax - x.sndUna) >>> 0])) >>> 0
      : rng.next();
  const proto =
    x !== undefined || rng.chance(0.5) ? IPPROTO_TCP : pick(rng, [IPPROTO_UDP, IPPROTO_ICMP, rng.int(256)]);
  const tcp = new Uint8Array(pick(rng, [8, 20, 20, 32]));
  put16(tcp, 0, x?.localPort ?? rng.int(65_536));
  put16(tcp, 2, x?.remotePort ?? rng.int(65_536));
  put32(tcp, 4, seq);
  if (tcp.length >= 20) {
    tcp[12] = 0x50;
    tcp[13] = TCP_ACK;
  }
  let inner: Uint8Array;
  if (v6) {
    inner = new Uint8Array(40);
    inner[0] = 0x60;
    put16(inner, 4, tcp.length + rng.int(1400));
    inner[6] = proto;
    inner[7] = 64;
    inner.set(x !== undefined ? (x.local as Ipv6Addr) : t.victim.v6, 8);
    inner.set(x !== undefined ? (x.remote as Ipv6Addr) : bench6(rng), 24);
  } else {
    inner = new Uint8Array(20);
    inner[0] = 0x45;
    put16(inner, 2, 20 + tcp.length + rng.int(1400));
    inner[6] = 0x40;
    inner[8] = 64;
    inner[9] = proto;
    writeIpv4(inner, 12, x !== undefined ? (x.local as Ipv4Addr) : t.victim.v4);
    writeIpv4(inner, 16, x !== undefined ? (x.remote as Ipv4Addr) : bench4(rng));
  }
  const head = p.l4.slice(0, 8);
  if (head.length < 8) return;
  p.l4 = concat(head, inner, rng.chance(0.1) ? tcp.subarray(0, rng.int(8)) : tcp);
  // The error comes from the peer itself or from a router on the path (any address).
  if (x !== undefined && rng.chance(0.5)) {
    if (v6) setIpv6Addrs(p, x.remote as Ipv6Addr, x.local as Ipv6Addr);
    else setIpv4Addrs(p, x.remote as Ipv4Addr, x.local as Ipv4Addr);
  }
}

/** A fresh ICMP error about a live connection, in place of the upper layer. */
const makeIcmpError: Op = (p, c) => {
  const { rng } = c;
  if (p.family === 'ipv4') {
    p.proto = IPPROTO_ICMP;
    const type = pick(rng, [3, 3, 3, 4, 5, 11, 12]);
    const code = type === 3 ? pick(rng, [0, 1, 2, 3, 4, 4, 4, 5, 9, 10, 13, rng.int(16)]) : rng.int(3);
    p.l4 = new Uint8Array(8);
    p.l4[0] = type;
    p.l4[1] = code;
    // RFC 1191 §4: the next-hop MTU of a "fragmentation needed"; a tiny one is CVE-2019-11479's.
    if (type === 3 && code === 4) put16(p.l4, 6, pick(rng, [0, 1, 68, 296, 576, 1006, 1280, 1500, 65_535]));
    if (type === 12) p.l4[4] = rng.int(256);
    if (type === 5) put32(p.l4, 4, bench4(rng));
  } else if (p.family === 'ipv6') {
    p.ext = [];
    p.proto = IPPROTO_ICMPV6;
    const type = pick(rng, [1, 1, 2, 2, 3, 4]);
    p.l4 = new Uint8Array(8);
    p.l4[0] = type;
    p.l4[1] = type === 1 ? rng.int(8) : type === 4 ? rng.int(4) : rng.int(2);
    // RFC 8201 §4: a Packet Too Big below 1280 must not shrink the path MTU below the minimum.
    if (type === 2) put32(p.l4, 4, pick(rng, [0, 68, 1279, 1280, 1400, 1500, 65_535, 0xffffffff]));
    if (type === 4) put32(p.l4, 4, pick(rng, [0, 6, 40, rng.next()]));
  } else return;
  quote(p, c);
};

const ICMP4_OPS: Op[] = [
  makeIcmpError,
  (p, { rng }) => {
    if (p.l4.length >= 2) p.l4[0] = pick(rng, [0, 3, 4, 5, 8, 11, 12, 13, 14, 15, 17, 18, rng.int(256)]);
    if (p.l4.length >= 2) p.l4[1] = rng.int(4) === 0 ? rng.int(256) : 0;
  },
  // Echo requests of any size (the reply must fit what the victim can send).
  (p, { rng }) => {
    p.l4 = concat(
      Uint8Array.from([8, 0, 0, 0, ...u16(rng.int(65_536)), ...u16(rng.int(65_536))]),
      randomBytes(rng, rng.int(1400)),
    );
  },
];

// ---------------------------------------------------------------------------------------------------
// ICMPv6 and NDP (RFC 4443, RFC 4861)

function ndpOptions(c: Ctx): Uint8Array {
  const { rng, t } = c;
  const parts: number[] = [];
  const n = rng.int(4);
  for (let i = 0; i < n; i++) {
    switch (rng.int(8)) {
      case 0:
      case 1: {
        // Source / target link-layer address.
        const mac = rng.chance(0.5) ? randomMac(rng) : (t.peers[0]?.mac ?? randomMac(rng));
        const b = new Uint8Array(6);
        writeMac(b, 0, mac);
        parts.push(1 + rng.int(2), 1, ...b);
        break;
      }
      case 2: {
        // Prefix information: on-link and autonomous, lifetimes 0, short or infinite.
        const prefix = rng.chance(0.5) ? [0x20, 0x01, 0x0d, 0xb8, 0, 0] : [...randomBytes(rng, 6)];
        parts.push(
          3,
          4,
          pick(rng, [64, 0, 128, 48, rng.int(256)]),
          pick(rng, [0xc0, 0x80, 0x40, rng.int(256)]),
        );
        parts.push(
          ...u32(pick(rng, [0, 7200, 0xffffffff])),
          ...u32(pick(rng, [0, 3600, 0xffffffff])),
          0,
          0,
          0,
          0,
        );
        parts.push(...prefix, ...new Array<number>(10).fill(0));
        break;
      }
      case 3:
        parts.push(5, 1, 0, 0, ...u32(pick(rng, [0, 68, 1279, 1280, 1500, 9000, 0xffffffff])));
        break;
      case 4:
        // RDNSS (RFC 8106) with one address, or a length that cannot hold one.
        parts.push(25, pick(rng, [3, 1, 2]), 0, 0, ...u32(rng.next()), ...randomBytes(rng, 16));
        break;
      case 5:
        // A zero length: RFC 4861 §4.6 "Nodes MUST silently discard an ND packet that contains an option with length zero".
        parts.push(rng.int(256), 0, 0, 0, 0, 0, 0, 0);
        break;
      default: {
        const len = 1 + rng.int(3);
        parts.push(rng.int(256), len, ...randomBytes(rng, len * 8 - 2));
      }
    }
  }
  return Uint8Array.from(parts);
}

const NDP_OP: Op = (p, c) => {
  const { rng, t } = c;
  if (p.family !== 'ipv6') return;
  p.ext = [];
  p.proto = IPPROTO_ICMPV6;
  const type = pick(rng, [133, 134, 135, 135, 136, 136, 137]);
  const target = pick(rng, [t.victim.v6, t.victim.ll6, t.silent6, bench6(rng), ...t.peers.map((x) => x.v6)]);
  let body: Uint8Array;
  switch (type) {
    case 133:
      body = new Uint8Array(4);
      break;
    case 134:
      body = Uint8Array.from([
        pick(rng, [0, 1, 64, 255]),
        rng.int(256),
        ...u16(pick(rng, [0, 1, 1800, 9000, 65_535])),
        ...u32(pick(rng, [0, 1, 30_000, 3_600_001, 0xffffffff])),
        ...u32(pick(rng, [0, 1, 1000, 0xffffffff])),
      ]);
      break;
    case 137:
      body = concat(new Uint8Array(4), target, bench6(rng));
      break;
    default:
      body = concat(Uint8Array.from([type === 136 ? rng.int(8) << 5 : 0, 0, 0, 0]), target);
  }
  p.l4 = concat(Uint8Array.from([type, rng.int(8) === 0 ? rng.int(256) : 0, 0, 0]), body, ndpOptions(c));
  // RFC 4861 §7.1.1: hop limit 255 or the message is ignored; sometimes not.
  p.ip[7] = rng.int(8) === 0 ? rng.int(256) : 255;
};

const ICMP6_OPS: Op[] = [
  makeIcmpError,
  NDP_OP,
  NDP_OP,
  (p, { rng }) => {
    if (p.l4.length >= 2)
      p.l4[0] = pick(rng, [1, 2, 3, 4, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 143, rng.int(256)]);
    if (p.l4.length >= 2) p.l4[1] = rng.int(4) === 0 ? rng.int(256) : 0;
  },
  (p, { rng }) => {
    p.ext = [];
    p.proto = IPPROTO_ICMPV6;
    p.l4 = concat(
      Uint8Array.from([128, 0, 0, 0, ...u16(rng.int(65_536)), ...u16(rng.int(65_536))]),
      randomBytes(rng, rng.int(1400)),
    );
  },
];

// ---------------------------------------------------------------------------------------------------
// IPv4 (RFC 791): fragments, options, header fields

const IPV4_OPS: Op[] = [
  // Fragment fields: MF, offset, id; sometimes the id of the datagram the victim holds.
  (p, { rng, t }) => {
    const off = pick(rng, [0, 1, 2, 185, 370, 8189, 8191, rng.int(8192)]);
    const mf = rng.chance(0.6);
    p.ip[6] = (p.ip[6]! & 0x40) | (mf ? 0x20 : 0) | (off >> 8);
    p.ip[7] = off & 0xff;
    if (t.held4 !== undefined && rng.chance(0.5)) {
      put16(p.ip, 4, t.held4.id);
      writeIpv4(p.ip, 12, t.held4.src);
      p.proto = IPPROTO_ICMP;
      // Payloads of 8-byte multiples fit the hole; others overlap or are unaligned (RFC 5722 §4).
      if (rng.chance(0.5)) p.l4 = randomBytes(rng, 8 * (1 + rng.int(200)));
    } else put16(p.ip, 4, rng.int(65_536));
  },
  (p) => {
    p.ip[6] = p.ip[6]! ^ 0x40;
  },
  (p, { rng }) => {
    p.ip[8] = pick(rng, [0, 1, 2, 64, 255]);
  },
  (p, { rng }) => {
    p.ip[1] = rng.int(256);
  },
  (p, { rng }) => {
    p.proto = pick(rng, [0, 2, 4, 17, 41, 47, 50, 58, 132, 255, rng.int(256)]);
  },
  // Options: well-formed and not (RFC 791 §3.1: EOL, NOP, record route, timestamp, source routes).
  (p, { rng }) => {
    const kinds = [
      [1, 1, 1, 1],
      [0, 0, 0, 0],
      [7, 7, 4, 0, 0, 0, 0, 1],
      [68, 8, 5, 0, 0, 0, 0, 0],
      [131, 7, 4, ...u32(bench4(rng)), 1],
      [137, 7, 4, ...u32(bench4(rng)), 1],
      [148, 4, 0, 0],
      [rng.int(256), rng.int(256), rng.int(256), rng.int(256)],
    ];
    const opts: number[] = [];
    const n = 1 + rng.int(4);
    for (let i = 0; i < n; i++) opts.push(...pick(rng, kinds));
    const bytes = opts.slice(0, 40);
    while (bytes.length % 4 !== 0) bytes.push(0);
    p.ip = concat(p.ip.slice(0, 20), Uint8Array.from(bytes));
  },
  // Lengths that lie (no fix-up): total length short or long, IHL past the total.
  (p, { rng }) => {
    p.fixLengths = false;
    put16(
      p.ip,
      2,
      pick(rng, [0, 19, 20, p.ip.length + p.l4.length - 1, p.ip.length + p.l4.length + 8, 0xffff]),
    );
    if (rng.chance(0.3)) p.ip[0] = 0x40 | rng.int(16);
  },
  (p, { rng }) => {
    p.ip[0] = (rng.int(16) << 4) | (p.ip[0]! & 0x0f);
  },
];

// ---------------------------------------------------------------------------------------------------
// IPv6 (RFC 8200): extension-header chains

function optionsHeader(c: Ctx): Uint8Array {
  const { rng } = c;
  const opts: number[] = [];
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) {
    switch (rng.int(7)) {
      case 0:
        opts.push(0);
        break;
      case 1: {
        const len = rng.int(6);
        opts.push(1, len, ...new Array<number>(len).fill(0));
        break;
      }
      case 2:
        opts.push(5, 2, 0, pick(rng, [0, 1, 2, rng.int(256)]));
        break;
      case 3:
        // Jumbo payload (RFC 2675): only with a zero payload length and never with a fragment header.
        opts.push(0xc2, 4, ...u32(pick(rng, [0, 65_535, 65_536, rng.next()])));
        break;
      case 4:
        // RFC 8200 §4.2: the top two bits of an unknown option's type say skip, discard, or answer.
        opts.push((rng.int(4) << 6) | (2 + rng.int(30)), 2, rng.int(256), rng.int(256));
        break;
      case 5:
        opts.push(4, 1, rng.int(256));
        break;
      default:
        opts.push(rng.int(256), pick(rng, [0, 1, 200, 255]));
    }
  }
  // Header: next header, length in 8-octet units beyond the first; padded with Pad1s or PadN.
  const body = [0, 0, ...opts];
  while (body.length % 8 !== 0) body.push(0);
  body[1] = body.length / 8 - 1;
  return Uint8Array.from(body);
}

function routingHeader(c: Ctx): Uint8Array {
  const { rng, t } = c;
  const addrs = rng.int(3);
  const body = new Uint8Array(8 + 16 * addrs);
  body[1] = addrs * 2;
  // Type 0 is deprecated (RFC 5095), 2 is mobility (RFC 6275), 3 RPL, 4 segment routing (RFC 8754).
  body[2] = pick(rng, [0, 0, 2, 3, 4, rng.int(256)]);
  body[3] = pick(rng, [0, 0, 1, addrs, 255]);
  for (let i = 0; i < addrs; i++) body.set(rng.chance(0.5) ? t.victim.v6 : bench6(rng), 8 + 16 * i);
  return body;
}

function fragmentHeader(c: Ctx, p: Packet): Uint8Array {
  const { rng, t } = c;
  const b = new Uint8Array(8);
  const off = pick(rng, [0, 0, 1, 181, 8191, rng.int(8192)]);
  put16(b, 2, (off << 3) | (rng.int(4) === 0 ? rng.int(8) : rng.chance(0.6) ? 1 : 0));
  if (t.held6 !== undefined && rng.chance(0.5)) {
    put32(b, 4, t.held6.id);
    p.ip.set(t.held6.src, 8);
    p.ip.set(t.victim.v6, 24);
    p.proto = IPPROTO_ICMPV6;
    if (rng.chance(0.5)) p.l4 = randomBytes(rng, 8 * (1 + rng.int(180)));
  } else put32(b, 4, rng.next());
  return b;
}

const IPV6_OPS: Op[] = [
  // Hop-by-hop first, as RFC 8200 §4.3 requires, or somewhere else (a Parameter Problem).
  (p, c) => {
    const at = c.rng.chance(0.8) ? 0 : c.rng.int(p.ext.length + 1);
    p.ext.splice(at, 0, { type: EXT_HOP_BY_HOP, bytes: optionsHeader(c) });
  },
  (p, c) => p.ext.splice(c.rng.int(p.ext.length + 1), 0, { type: EXT_DESTINATION, bytes: optionsHeader(c) }),
  (p, c) => p.ext.splice(c.rng.int(p.ext.length + 1), 0, { type: EXT_ROUTING, bytes: routingHeader(c) }),
  (p, c) => p.ext.splice(c.rng.int(p.ext.length + 1), 0, { type: EXT_FRAGMENT, bytes: fragmentHeader(c, p) }),
  // A long chain of destination options, or headers of one type repeated.
  (p, c) => {
    const n = 2 + c.rng.int(30);
    for (let i = 0; i < n; i++) p.ext.push({ type: EXT_DESTINATION, bytes: optionsHeader(c) });
  },
  // A chain that lies: a header named as another type, or one removed.
  (p, { rng }) => {
    if (p.ext.length === 0) return;
    const i = rng.int(p.ext.length);
    if (rng.chance(0.5))
      p.ext[i]!.type = pick(rng, [0, 43, 44, 60, 6, 17, 58, 59, 51, 50, 135, rng.int(256)]);
    else p.ext.splice(i, 1);
  },
  (p, { rng }) => {
    p.ip[7] = pick(rng, [0, 1, 64, 255]);
  },
  (p, { rng }) => {
    p.ip[1] = rng.int(256);
    p.ip[2] = rng.int(256);
    p.ip[3] = rng.int(256);
  },
  (p, { rng }) => {
    p.proto = pick(rng, [59, 0, 41, 4, 132, 255, rng.int(256)]);
  },
  (p, { rng }) => {
    p.fixLengths = false;
    const real = p.ext.reduce((n, e) => n + e.bytes.length, 0) + p.l4.length;
    put16(p.ip, 4, pick(rng, [0, 1, real - 1, real + 1, real + 100, 0xffff]));
  },
];

// ---------------------------------------------------------------------------------------------------
// ARP (RFC 826, RFC 5227)

const ARP_OPS: Op[] = [
  (p, { rng }) => put16(p.ip, 6, pick(rng, [1, 2, 0, 3, 8, rng.int(65_536)])),
  (p, { rng, t }) =>
    writeIpv4(
      p.ip,
      14,
      pick(rng, [
        0,
        t.victim.v4,
        t.silent4,
        bench4(rng),
        ((t.victim.v4 & ~0xff) | rng.int(256)) >>> 0,
      ] as Ipv4Addr[]),
    ),
  (p, { rng, t }) => writeIpv4(p.ip, 24, pick(rng, [t.victim.v4, t.silent4, 0, bench4(rng)] as Ipv4Addr[])),
  (p, { rng }) => {
    const mac = pick(rng, [MAC_BROADCAST, 0 as Mac, 0x0100_5e00_0001 as Mac, randomMac(rng)]);
    writeMac(p.ip, 8, mac);
    if (rng.chance(0.8)) p.srcMac = mac;
  },
  (p, { rng }) => {
    p.ip[rng.int(6)] = rng.int(256);
  },
  (p, { rng }) => {
    p.ip = rng.chance(0.5)
      ? p.ip.slice(0, rng.int(p.ip.length))
      : concat(p.ip, randomBytes(rng, rng.int(64)));
  },
];

// ---------------------------------------------------------------------------------------------------
// Any frame

const ANY_OPS: Op[] = [
  (p, { rng }) => {
    if (p.l4.length > 0) p.l4 = p.l4.slice(0, rng.int(p.l4.length));
  },
  (p, { rng }) => {
    p.l4 = concat(p.l4, randomBytes(rng, 1 + rng.int(200)));
  },
  // A byte changed before the checksums are made, so that it is believed.
  (p, { rng }) => {
    if (p.l4.length > 0) p.l4[rng.int(p.l4.length)] = rng.int(256);
  },
  (p, { rng }) => {
    if (rng.int(4) === 0) p.fixChecksums = false;
  },
];

function opsFor(p: Packet): Op[][] {
  if (p.family === 'arp') return [ARP_OPS];
  if (p.family === 'other') return [];
  const ip = p.family === 'ipv4' ? IPV4_OPS : IPV6_OPS;
  const upper =
    p.proto === IPPROTO_TCP
      ? TCP_OPS
      : p.proto === IPPROTO_UDP
        ? UDP_OPS
        : p.proto === IPPROTO_ICMP
          ? ICMP4_OPS
          : p.proto === IPPROTO_ICMPV6
            ? ICMP6_OPS
            : [];
  // The upper layer is where the cores are: it gets most of the mutations.
  return [upper, upper, upper, ip, ANY_OPS, p.family === 'ipv4' ? ICMP4_OPS : ICMP6_OPS];
}

// ---------------------------------------------------------------------------------------------------
// What a blind attacker cannot know or cannot do

function enforceBlind(p: Packet, c: Ctx): void {
  const { rng, t } = c;
  if (p.proto === IPPROTO_TCP && (p.family === 'ipv4' || p.family === 'ipv6')) {
    put32(p.l4, 4, rng.next());
    put32(p.l4, 8, rng.next());
  }
  // ARP: a live neighbour's address bound to another MAC is a man in the middle, not a blind forger.
  if (p.family === 'arp' && p.ip.length >= 28) {
    const sender = readIpv4(p.ip, 14);
    const peer = t.peers.find((x) => x.v4 === sender);
    if (peer !== undefined) writeIpv4(p.ip, 14, bench4(rng));
  }
  // NDP: the same for a neighbour advertisement, solicitation or redirect naming a live neighbour.
  if (p.family === 'ipv6' && p.proto === IPPROTO_ICMPV6 && (p.l4[0] ?? 0) >= 133 && (p.l4[0] ?? 0) <= 137) {
    const src = p.ip.subarray(8, 24);
    const named = (a: Uint8Array) =>
      t.peers.some((x) => sameAddr(x.v6, a as Ipv6Addr) || sameAddr(x.ll6, a as Ipv6Addr));
    if (named(src)) p.ip.set(bench6(rng), 8);
    if (p.l4.length >= 24 && named(p.l4.subarray(8, 24))) p.l4.set(bench6(rng), 8);
    if (p.l4.length >= 40 && (p.l4[0] ?? 0) === 137 && named(p.l4.subarray(24, 40)))
      p.l4.set(bench6(rng), 24);
  }
}

/**
 * One mutated frame aimed at `t.victim`, made from `base` with `rng`'s choices; the same base,
 * target and generator state always give the same bytes.
 */
export function mutateFrame(base: Uint8Array, t: Target, cls: MutationClass, rng: Random): Uint8Array {
  const parsed = dissect(base);
  if (parsed === undefined)
    return concat(base.slice(0, Math.min(base.length, ETH_LEN)), randomBytes(rng, rng.int(100)));
  const p = clonePacket(parsed);
  const c: Ctx = { rng, t, cls, conn: undefined };
  retarget(p, c);
  const groups = opsFor(p);
  const n = 1 + rng.int(4);
  for (let i = 0; i < n && groups.length > 0; i++) {
    const ops = pick(rng, groups);
    if (ops.length > 0) pick(rng, ops)(p, c);
  }
  if (cls === 'blind') enforceBlind(p, c);
  // An IPv6 ethertype for IPv6, IPv4 for IPv4: a mismatch is the Ethernet layer's business, rarely.
  if (rng.int(50) === 0)
    p.ethertype = pick(rng, [ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_ARP, 0x8100, rng.int(65_536)]);
  return assemble(p);
}
