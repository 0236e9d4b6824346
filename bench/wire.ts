/**
 * Wire benchmark: what parsing and emitting one layer of a realistic frame costs, per layer, plus the
 * whole Ethernet/IPv4/TCP path for a data segment and an ACK.
 *
 * - `parse` runs the layer's `parseX` on its part of the frame (checksums verified where the layer
 *   has one: IPv4 header, ICMP, UDP and TCP over the pseudo-header and payload).
 * - `emit` runs `emitX` over the same bytes in a copy of the frame (payload in place, checksum filled).
 * - Layer `all`: parse chains Ethernet, IPv4 and TCP as the stack's receive path does; emit allocates
 *   the frame, copies the payload in and writes the three headers inside-out, like the output path.
 *
 * Every parse is checked once before timing (repr equal to what was emitted, payload where expected)
 * and every emit must rebuild the frame byte for byte, so a broken codec fails instead of timing an
 * error path. Writes bench/results/wire.json: `{layer, op, frame, bytes, nsPerFrame, nsBest}` rows,
 * `nsPerFrame` from benny's median sample and `nsBest` from the fastest.
 * `OASIS_BENCH_TIME` sets the seconds spent per case (default 2).
 */
import { isDeepStrictEqual } from 'node:util';
import b from 'benny';
import { ipv4, type Mac, parseIpv6Addr, parseMac } from '../src/addr.js';
import { type ArpRepr, emitArp, parseArp } from '../src/arp/wire.js';
import type { PseudoHeader } from '../src/checksum/index.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  type EthernetRepr,
  emitEthernet,
  parseEthernet,
} from '../src/ethernet/wire.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../src/ipproto.js';
import { emitIcmpv4, type Icmpv4Repr, parseIcmpv4 } from '../src/ipv4/icmp.js';
import { emitIpv4, type Ipv4Repr, parseIpv4 } from '../src/ipv4/wire.js';
import { emitIcmpv6, type Icmpv6Repr, type Ipv6PseudoHeader, parseIcmpv6 } from '../src/ipv6/icmp.js';
import { emitIpv6, type Ipv6Repr, parseIpv6 } from '../src/ipv6/wire.js';
import type { Result } from '../src/result.js';
import type { Seq } from '../src/tcp/seq.js';
import { emitTcp, parseTcp, type TcpRepr, tcpFlags, tcpHeaderLen } from '../src/tcp/wire.js';
import { emitUdp, parseUdp, type UdpRepr } from '../src/udp/wire.js';
import { writeResults } from './summary.js';

/** Seconds benchmark.js may spend on each case. */
const MAX_TIME = Number(process.env.OASIS_BENCH_TIME ?? '2');

export interface WireResult {
  readonly layer: string;
  readonly op: 'parse' | 'emit';
  readonly frame: string;
  /** Length of the whole Ethernet frame. */
  readonly bytes: number;
  readonly nsPerFrame: number;
  /** From the fastest sample: what the machine does when the neighbours leave it alone. */
  readonly nsBest: number;
}

/** One layer of a frame: its repr, and its codec bound to the addresses it needs. */
interface Layer {
  readonly layer: string;
  readonly headerLen: number;
  readonly repr: unknown;
  /** Writes the header at the start of `buf` (this layer's bytes to the end of the frame). */
  emit(buf: Uint8Array): number;
  parse(buf: Uint8Array): Result<unknown>;
}

interface Frame {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly layers: readonly Layer[];
  /** Where each layer starts in `bytes`. */
  readonly offsets: readonly number[];
}

interface Case {
  readonly layer: string;
  readonly op: 'parse' | 'emit';
  readonly frame: Frame;
  /** The timed call; its result feeds the sink. */
  readonly fn: () => number;
  /** Throws unless the call does what it should. */
  readonly check: () => void;
}

const MAC_A = parseMac('02:00:00:00:00:01')!;
const MAC_B = parseMac('02:00:00:00:00:02')!;
const IP4_A = ipv4(10, 0, 0, 1);
const IP4_B = ipv4(10, 0, 0, 2);
const IP6_A = parseIpv6Addr('2001:db8::1')!;
const IP6_B = parseIpv6Addr('2001:db8::2')!;
const PH4: PseudoHeader = { version: 4, src: IP4_A, dst: IP4_B };
const PH6: Ipv6PseudoHeader = { version: 6, src: IP6_A, dst: IP6_B };

function ethernet(ethertype: number): Layer {
  const repr: EthernetRepr = { dst: MAC_B, src: MAC_A, vlans: [], ethertype };
  return {
    layer: 'ethernet',
    headerLen: 14,
    repr,
    emit: (buf) => emitEthernet(repr, buf),
    parse: parseEthernet,
  };
}

function arp(): Layer {
  const repr: ArpRepr = {
    operation: 'request',
    senderMac: MAC_A,
    senderIp: IP4_A,
    targetMac: 0 as Mac,
    targetIp: IP4_B,
  };
  // parseArp returns the bare repr (ARP carries no payload): parseCase's check allows for it.
  return { layer: 'arp', headerLen: 28, repr, emit: (buf) => emitArp(repr, buf), parse: parseArp };
}

function ip4(protocol: number): Layer {
  const repr: Ipv4Repr = {
    src: IP4_A,
    dst: IP4_B,
    protocol,
    ttl: 64,
    dscp: 0,
    ecn: 0,
    ident: 0x1c46,
    dontFragment: true,
    moreFragments: false,
    fragOffset: 0,
    options: new Uint8Array(0),
  };
  return {
    layer: 'ipv4',
    headerLen: 20,
    repr,
    emit: (buf) => emitIpv4(repr, buf),
    parse: (buf) => parseIpv4(buf),
  };
}

function ip6(nextHeader: number): Layer {
  const repr: Ipv6Repr = {
    trafficClass: 0,
    flowLabel: 0x5_a1b2,
    nextHeader,
    hopLimit: 64,
    src: IP6_A,
    dst: IP6_B,
  };
  return { layer: 'ipv6', headerLen: 40, repr, emit: (buf) => emitIpv6(repr, buf), parse: parseIpv6 };
}

function icmp4(): Layer {
  const repr: Icmpv4Repr = { type: 'echo-request', ident: 0x4d2, seq: 1 };
  return {
    layer: 'icmpv4',
    headerLen: 8,
    repr,
    emit: (buf) => emitIcmpv4(repr, buf),
    parse: (buf) => parseIcmpv4(buf),
  };
}

function icmp6(): Layer {
  const repr: Icmpv6Repr = { kind: 'echo-request', ident: 0x4d2, seq: 1 };
  return {
    layer: 'icmpv6',
    headerLen: 8,
    repr,
    emit: (buf) => emitIcmpv6(repr, buf, PH6),
    parse: (buf) => parseIcmpv6(buf, PH6),
  };
}

function udp(ph: PseudoHeader): Layer {
  const repr: UdpRepr = { srcPort: 5353, dstPort: 5001 };
  return {
    layer: 'udp',
    headerLen: 8,
    repr,
    emit: (buf) => emitUdp(repr, buf, ph),
    parse: (buf) => parseUdp(buf, ph),
  };
}

function tcp(ph: PseudoHeader, repr: TcpRepr): Layer {
  return {
    layer: 'tcp',
    headerLen: tcpHeaderLen(repr),
    repr,
    emit: (buf) => emitTcp(repr, buf, ph),
    parse: (buf) => parseTcp(buf, ph),
  };
}

/** A segment as Linux sends it in bulk transfer: ACK (+PSH on data) with timestamps. */
function segment(push: boolean): TcpRepr {
  return {
    srcPort: 40_000,
    dstPort: 5201,
    seq: 0x1234_5678 as Seq,
    ack: 0x9abc_def0 as Seq,
    flags: tcpFlags({ ack: true, psh: push }),
    window: 502,
    urgentPointer: 0,
    options: { timestamps: { tsVal: 0x0102_0304, tsEcr: 0x0506_0708 } },
  };
}

/** Linux's SYN: MSS, SACK-permitted, timestamps and window scale (40 option bytes, 74-byte frame). */
const SYN: TcpRepr = {
  ...segment(false),
  ack: 0 as Seq,
  flags: tcpFlags({ syn: true }),
  window: 64_240,
  options: { mss: 1460, sackPermitted: true, timestamps: { tsVal: 0x0102_0304, tsEcr: 0 }, windowScale: 7 },
};

/** Builds the frame inside-out with the layers' own emitters, over a deterministic payload. */
function frame(layers: readonly Layer[], payloadLen: number, label: string): Frame {
  const offsets: number[] = [];
  let off = 0;
  for (const l of layers) {
    offsets.push(off);
    off += l.headerLen;
  }
  const bytes = new Uint8Array(off + payloadLen);
  for (let i = off, x = 1; i < bytes.length; i++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0;
    bytes[i] = x >>> 24;
  }
  for (let i = layers.length - 1; i >= 0; i--) layers[i]!.emit(bytes.subarray(offsets[i]));
  return { name: `${label}-${bytes.length}`, bytes, layers, offsets };
}

function parseCase(f: Frame, i: number): Case {
  const l = f.layers[i]!;
  const view = f.bytes.subarray(f.offsets[i]);
  return {
    layer: l.layer,
    op: 'parse',
    frame: f,
    fn: () => (l.parse(view).ok ? 1 : 0),
    check: () => {
      const r = l.parse(view);
      if (!r.ok) throw new Error(`${l.layer} parse of ${f.name}: ${JSON.stringify(r.error)}`);
      const v = r.value as { repr?: unknown; payload?: Uint8Array };
      const repr = l.layer === 'arp' ? r.value : v.repr;
      if (!isDeepStrictEqual(repr, l.repr)) throw new Error(`${l.layer} parse of ${f.name}: wrong repr`);
      // The payload must be the view right after this header, running to the end of the frame.
      const p = v.payload;
      if (
        p !== undefined &&
        (p.byteOffset !== view.byteOffset + l.headerLen || p.length !== view.length - l.headerLen)
      )
        throw new Error(`${l.layer} parse of ${f.name}: wrong payload`);
    },
  };
}

function emitCase(f: Frame, i: number): Case {
  const l = f.layers[i]!;
  const out = f.bytes.slice();
  const view = out.subarray(f.offsets[i]);
  return {
    layer: l.layer,
    op: 'emit',
    frame: f,
    fn: () => l.emit(view),
    check: () => {
      out.fill(0xa5, f.offsets[i], f.offsets[i]! + l.headerLen);
      l.emit(view);
      if (!sameBytes(out, f.bytes)) throw new Error(`${l.layer} emit of ${f.name}: bytes differ`);
    },
  };
}

/** The whole receive path of an Ethernet/IPv4/TCP frame; returns the payload length (-1 on error). */
function parseAll(bytes: Uint8Array): number {
  const e = parseEthernet(bytes);
  if (!e.ok || e.value.repr.ethertype !== ETHERTYPE_IPV4) return -1;
  const i = parseIpv4(e.value.payload);
  if (!i.ok || i.value.repr.protocol !== IPPROTO_TCP) return -1;
  const t = parseTcp(i.value.payload, { version: 4, src: i.value.repr.src, dst: i.value.repr.dst });
  return t.ok ? t.value.payload.length : -1;
}

/** Cases for the whole Ethernet/IPv4/TCP frame `f` (layers ethernet, ipv4, tcp). */
function allCases(f: Frame): Case[] {
  const [eth, ip, seg] = f.layers as [Layer, Layer, Layer];
  const headers = f.offsets[2]! + seg.headerLen;
  const payload = f.bytes.subarray(headers);
  const emitAll = (): Uint8Array => {
    // One allocation with the payload copied in, as the stack's output path does.
    const buf = new Uint8Array(f.bytes.length);
    buf.set(payload, headers);
    seg.emit(buf.subarray(f.offsets[2]));
    ip.emit(buf.subarray(f.offsets[1]));
    eth.emit(buf);
    return buf;
  };
  return [
    {
      layer: 'all',
      op: 'parse',
      frame: f,
      fn: () => parseAll(f.bytes),
      check: () => {
        if (parseAll(f.bytes) !== payload.length) throw new Error(`parse of ${f.name} failed`);
      },
    },
    {
      layer: 'all',
      op: 'emit',
      frame: f,
      fn: () => emitAll().length,
      check: () => {
        if (!sameBytes(emitAll(), f.bytes)) throw new Error(`emit of ${f.name}: bytes differ`);
      },
    },
  ];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function cases(): Case[] {
  const tcpData = frame(
    [ethernet(ETHERTYPE_IPV4), ip4(IPPROTO_TCP), tcp(PH4, segment(true))],
    1448,
    'tcp4-data',
  );
  const tcpAck = frame([ethernet(ETHERTYPE_IPV4), ip4(IPPROTO_TCP), tcp(PH4, segment(false))], 0, 'tcp4-ack');
  const tcpSyn = frame([ethernet(ETHERTYPE_IPV4), ip4(IPPROTO_TCP), tcp(PH4, SYN)], 0, 'tcp4-syn');
  const tcp6 = frame(
    [ethernet(ETHERTYPE_IPV6), ip6(IPPROTO_TCP), tcp(PH6, segment(true))],
    1428,
    'tcp6-data',
  );
  const udp4 = frame([ethernet(ETHERTYPE_IPV4), ip4(IPPROTO_UDP), udp(PH4)], 1472, 'udp4');
  // ping's default: 56 data bytes (a 98-byte frame over IPv4).
  const ping4 = frame([ethernet(ETHERTYPE_IPV4), ip4(IPPROTO_ICMP), icmp4()], 56, 'ping4');
  const ping6 = frame([ethernet(ETHERTYPE_IPV6), ip6(IPPROTO_ICMPV6), icmp6()], 56, 'ping6');
  const arpReq = frame([ethernet(ETHERTYPE_ARP), arp()], 0, 'arp');
  const at: [Frame, number][] = [
    [tcpData, 0],
    [arpReq, 1],
    [tcpData, 1],
    [tcp6, 1],
    [ping4, 2],
    [ping6, 2],
    [udp4, 2],
    [tcpData, 2],
    [tcpAck, 2],
    [tcpSyn, 2],
    [tcp6, 2],
  ];
  return [
    ...at.flatMap(([f, i]) => [parseCase(f, i), emitCase(f, i)]),
    ...allCases(tcpData),
    ...allCases(tcpAck),
  ];
}

// Results feed this so the JIT cannot drop the calls as dead code.
let sink = 0;

export async function run(): Promise<WireResult[]> {
  const all = cases();
  for (const c of all) c.check();
  const rows: WireResult[] = [];
  for (const layer of [...new Set(all.map((c) => c.layer))]) {
    const group = all.filter((c) => c.layer === layer);
    const summary = await b.suite(
      `wire ${layer}`,
      ...group.map((c) =>
        b.add(
          `${c.op} ${c.frame.name}`,
          () => {
            sink ^= c.fn();
          },
          { maxTime: MAX_TIME },
        ),
      ),
      b.cycle(),
    );
    for (const c of group) {
      const r = summary.results.find((x) => x.name === `${c.op} ${c.frame.name}`)!;
      // The median sample, not benny's mean: on a shared 2-vCPU machine the mean follows the neighbours.
      rows.push({
        layer,
        op: c.op,
        frame: c.frame.name,
        bytes: c.frame.bytes.length,
        nsPerFrame: round(r.details.median * 1e9),
        nsBest: round(r.details.min * 1e9),
      });
    }
  }
  // Still intact after being emitted over and over: the timed calls did real work.
  for (const c of all) c.check();
  if (sink === -1) console.log(sink);
  console.log(table(rows).join('\n'));

  writeResults('wire', rows);
  return rows;
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}

/** One line per (layer, frame): parse and emit side by side. */
function table(rows: readonly WireResult[]): string[] {
  const head = ['layer', 'frame', 'bytes', 'parse ns (best)', 'emit ns (best)'];
  const keys = [...new Set(rows.map((r) => `${r.layer} ${r.frame}`))];
  const cell = (r: WireResult | undefined) => (r === undefined ? '-' : `${r.nsPerFrame} (${r.nsBest})`);
  const body = keys.map((k) => {
    const [layer, frame] = k.split(' ') as [string, string];
    const of = (op: string) => rows.find((r) => r.layer === layer && r.frame === frame && r.op === op);
    const any = of('parse') ?? of('emit')!;
    return [layer, frame, String(any.bytes), cell(of('parse')), cell(of('emit'))];
  });
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)];
}

/** A Markdown section from the parsed contents of bench/results/wire.json. */
export function markdown(results: unknown): string {
  const rows = results as readonly WireResult[];
  return [
    '## Wire: parse and emit per layer',
    '',
    'ns per frame, median sample (fastest in parentheses). `all` is Ethernet + IPv4 + TCP; its emit',
    'allocates the frame and copies the payload in.',
    '',
    ...table(rows),
    '',
  ].join('\n');
}
