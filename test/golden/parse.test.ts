/**
 * Our parsers against tshark on every frame of the golden Linux captures (test/golden/README.md says
 * how each was made and what expected/*.json holds). Each frame is parsed down the layers as the
 * stack does (Ethernet, then ARP, or IPv4 / IPv6 with its extension headers, then ICMP, ICMPv6, UDP
 * or TCP with the pseudo-header of the IP addresses) and every field tshark reads that our parsers
 * expose is compared. Besides the values:
 * - checksum verdicts agree: tshark's 'good' parses with verification on, 'bad' is refused for its
 *   checksum; 'unverified' (a first fragment, a quote) is parsed with verification off;
 * - nothing tshark reads is rejected by us, and we reach no layer tshark does not have;
 * - ICMP errors: the quoted packet is parsed as far as it was quoted;
 * - fragments: the test reassembles each datagram (by offset, as RFC 791 §3.2 and RFC 8200 §4.5
 *   describe) and checks the upper layer of the whole datagram, its checksum included, against
 *   tshark's reading of the first fragment and its `reassembly` verdict on the last one.
 *
 * Not compared, because our parsers do not expose them: the ICMPv6 checksum field, MLDv2 records
 * (type 143 parses as `other`), the contents of RDNSS options (kept as raw option data), the Pad1/PadN
 * options of hop-by-hop headers, the order of TCP options and their NOP/EOL padding (`TcpOptions`
 * holds one value per kind), TCP's reserved/AE bits, tshark's `protocols` string and expert notes.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ipv4ToString, ipv6ToString, isIpv6Multicast, macToString } from '../../src/addr.js';
import { toHex, u16 } from '../../src/bytes.js';
import type { PseudoHeader } from '../../src/checksum/index.js';
import { ArpPacket } from '../../src/arp/wire.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, EthernetFrame } from '../../src/ethernet/wire.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipproto.js';
import { Icmpv4Packet, isIcmpv4Error } from '../../src/ipv4/icmp.js';
import { Ipv4Packet } from '../../src/ipv4/wire.js';
import {
  type ExtChain,
  extHeaderType,
  type Ipv6Option,
  routerAlert,
  walkExtHeaders,
} from '../../src/ipv6/ext.js';
import {
  type Icmpv6Repr,
  icmpv6Type,
  type Ipv6PseudoHeader,
  isIcmpv6Error,
  type NdpOption,
  parseIcmpv6,
} from '../../src/ipv6/icmp.js';
import { IPV6_HEADER_LEN, Ipv6Packet } from '../../src/ipv6/wire.js';
import { type PcapRecord, parsePcap } from '../../src/link/pcap.js';
import type { Result } from '../../src/result.js';
import { type TcpFlags, type TcpOptions, TcpPacket, parseTcp } from '../../src/tcp/wire.js';
import { UdpPacket, parseUdp } from '../../src/udp/wire.js';
import {
  type ExpectedFile,
  type ExpectedFrame,
  type ExtExp,
  type ExtOptionExp,
  FrameCheck,
  LAYER_KEYS,
  type LayerKey,
  type LayersExp,
  type NdOptionExp,
  type Status,
  showError,
  type TcpOptionExp,
} from './compare.js';

const DIR = dirname(fileURLToPath(import.meta.url));
const CAPTURES = ['arp', 'icmp', 'icmp-errors', 'icmp6', 'tcp', 'udp'] as const;

type LayerExps = Partial<Pick<ExpectedFrame, LayerKey>>;

/** The layer members of a frame (or a quote) the walk reached, to report those tshark has and we missed. */
class Layers {
  private readonly reached = new Set<LayerKey>();

  constructor(
    private readonly c: FrameCheck,
    private readonly at: string,
    private readonly exp: LayerExps,
  ) {}

  /** We parsed down to `key`: tshark's reading of it, or undefined (a disagreement) when it has none. */
  take<K extends LayerKey>(key: K): LayerExps[K] {
    this.reached.add(key);
    const e = this.exp[key];
    if (e === undefined) this.c.fail(`${this.at}${key}`, 'we read this layer; tshark has none');
    return e;
  }

  finish(): void {
    for (const key of LAYER_KEYS) {
      if (this.exp[key] !== undefined && !this.reached.has(key))
        this.c.fail(`${this.at}${key}`, 'tshark reads this layer; our walk did not reach it');
    }
  }
}

/**
 * Parses a checksummed layer the way tshark judged it: 'good' must parse with verification on and
 * 'bad' must be refused (then read with verification off); 'unverified' and 'not-present' mean
 * tshark had nothing to verify, so verification is off.
 */
function parseAs<T>(
  c: FrameCheck,
  path: string,
  status: Status,
  parse: (checksum: 'verify' | 'ignore') => Result<T>,
): T | undefined {
  if (status === 'good' || status === 'bad') {
    const verified = parse('verify');
    if (verified.ok) {
      c.field(`${path}.checksumStatus`, 'good', status);
      return verified.value;
    }
    const ignored = parse('ignore');
    if (!ignored.ok) {
      c.fail(path, `rejected (${showError(verified.error)}); tshark reads it`);
      return undefined;
    }
    const ours = verified.error.kind === 'bad-checksum' ? 'bad' : `refused (${showError(verified.error)})`;
    c.field(`${path}.checksumStatus`, ours, status);
    return ignored.value;
  }
  const r = parse('ignore');
  if (!r.ok) {
    c.fail(path, `rejected (${showError(r.error)}); tshark reads it`);
    return undefined;
  }
  return r.value;
}

/**
 * An ICMP error quotes only the start of a datagram (RFC 792; RFC 1812 §4.3.2.3; RFC 4443 §2.4(c)),
 * so its length fields count bytes that are not there. The quote is read from a copy extended with
 * zeros to the length it claims; only fields inside the quote are compared with tshark's.
 */
function zeroExtended(quote: Uint8Array, len: number): Uint8Array {
  const b = new Uint8Array(Math.max(len, quote.length));
  b.set(quote);
  return b;
}

// ---------------------------------------------------------------------------------------------------
// Fragments: reassembled in the test, only to check the upper layer of the whole datagram.

interface Datagram {
  readonly frames: number[];
  readonly pieces: { readonly offset: number; readonly data: Uint8Array }[];
  /** tshark's reading of the first fragment, which carries the upper-layer header. */
  first: ExpectedFrame | undefined;
  end: number | undefined;
}

/** One frame being checked, within the walk of its capture. */
class FrameCtx {
  readonly c: FrameCheck;
  /** Set when a datagram was reassembled at this frame. */
  reassembled = false;

  constructor(
    readonly exp: ExpectedFrame,
    private readonly open: Map<string, Datagram>,
  ) {
    this.c = new FrameCheck(exp.number);
  }

  /**
   * Adds a fragment (`offset` and `data` as the IP layer reads them) to the datagram `key`; returns
   * the datagram's data once every byte up to the piece without "more fragments" has come.
   */
  fragment(
    key: string,
    offset: number,
    more: boolean,
    data: Uint8Array,
  ): (Datagram & { data: Uint8Array }) | undefined {
    let d = this.open.get(key);
    if (d === undefined) {
      d = { frames: [], pieces: [], first: undefined, end: undefined };
      this.open.set(key, d);
    }
    d.frames.push(this.exp.number);
    d.pieces.push({ offset, data });
    if (offset === 0) d.first = this.exp;
    if (!more) d.end = offset + data.length;
    if (d.end === undefined) return undefined;
    const whole = new Uint8Array(d.end);
    let next = 0;
    for (const p of [...d.pieces].sort((a, b) => a.offset - b.offset)) {
      if (p.offset > next) return undefined;
      whole.set(p.data.subarray(0, Math.max(0, d.end - p.offset)), p.offset);
      next = Math.max(next, p.offset + p.data.length);
    }
    if (next < d.end) return undefined;
    this.open.delete(key);
    return { ...d, data: whole };
  }

  /** The upper layer of a datagram just reassembled, against the first fragment's and the last one's readings. */
  checkReassembled(d: Datagram, proto: number, data: Uint8Array, ph: PseudoHeader): void {
    const c = this.c;
    const r = this.exp.reassembly;
    this.reassembled = true;
    if (r === undefined)
      return c.fail('reassembly', `we reassembled frames ${d.frames.join(',')}; tshark did not`);
    c.field('reassembly.fragments', d.frames.join(','), r.fragments.join(','));
    c.field('reassembly.length', data.length, r.length);
    if (d.first === undefined) return c.fail('reassembly', 'no first fragment');
    // Header fields as tshark read them in the first fragment, the checksum as it verified the whole.
    const status = r.checksumStatus ?? 'unverified';
    const f = d.first;
    const exp: LayersExp = {
      ...(f.icmpv4 && { icmpv4: { ...f.icmpv4, checksumStatus: status } }),
      ...(f.icmpv6 && { icmpv6: { ...f.icmpv6, checksumStatus: status } }),
      ...(f.udp && { udp: { ...f.udp, checksumStatus: status } }),
      ...(f.tcp && { tcp: { ...f.tcp, checksumStatus: status } }),
    };
    const at = `reassembled(${d.frames[0]}-${d.frames.at(-1)}).`;
    const layers = new Layers(c, at, exp);
    upper(proto, data, ph, layers, c, at, false);
    layers.finish();
  }
}

// ---------------------------------------------------------------------------------------------------
// The layers.

function checkFrame(rec: PcapRecord | undefined, frame: FrameCtx): FrameCheck {
  const { c, exp } = frame;
  if (rec === undefined) {
    c.fail('frame', 'not in the pcap as parsePcap reads it');
    return c;
  }
  c.field('frame.length', rec.originalLength, exp.length);
  c.field('frame.capturedLength', rec.bytes.length, exp.capturedLength);
  c.field('frame.timestampMicros', rec.timestampMicros, exp.timestampMicros);
  const layers = new Layers(c, '', exp);
  const eth = layers.take('eth');
  const r = EthernetFrame.check(rec.bytes);
  if (!r.ok) {
    c.fail('eth', `rejected (${showError(r.error)}); tshark reads it`);
  } else if (eth !== undefined) {
    const e = r.value;
    c.field('eth.dst', macToString(e.dst), eth.dst);
    c.field('eth.src', macToString(e.src), eth.src);
    c.field('eth.type', e.ethertype, eth.type);
    switch (e.ethertype) {
      case ETHERTYPE_ARP:
        arpLayer(e.payload, layers, c);
        break;
      case ETHERTYPE_IPV4:
        ipv4Layer(e.payload, layers, c, '', frame);
        break;
      case ETHERTYPE_IPV6:
        ipv6Layer(e.payload, layers, c, '', frame);
        break;
    }
  }
  layers.finish();
  if (exp.reassembly !== undefined && !frame.reassembled)
    c.fail('reassembly', `tshark reassembles frames ${exp.reassembly.fragments.join(',')} here; we did not`);
  return c;
}

function arpLayer(bytes: Uint8Array, layers: Layers, c: FrameCheck): void {
  const exp = layers.take('arp');
  if (exp === undefined) return;
  const r = ArpPacket.check(bytes);
  if (!r.ok) return c.fail('arp', `rejected (${showError(r.error)}); tshark reads it`);
  const p = r.value;
  c.field('arp.hardwareType', p.hardwareType, exp.hardwareType);
  c.field('arp.protocolType', p.protocolType, exp.protocolType);
  c.field('arp.hardwareSize', p.hardwareLen, exp.hardwareSize);
  c.field('arp.protocolSize', p.protocolLen, exp.protocolSize);
  c.field('arp.opcode', p.opcode, exp.opcode);
  c.field('arp.senderMac', macToString(p.senderMac), exp.senderMac);
  c.field('arp.senderIp', ipv4ToString(p.senderIp), exp.senderIp);
  c.field('arp.targetMac', macToString(p.targetMac), exp.targetMac);
  c.field('arp.targetIp', ipv4ToString(p.targetIp), exp.targetIp);
}

/** `frame` is undefined inside a quote: no reassembly there, and the datagram may be cut. */
function ipv4Layer(bytes: Uint8Array, layers: Layers, c: FrameCheck, at: string, frame?: FrameCtx): void {
  const exp = layers.take('ipv4');
  if (exp === undefined) return;
  const path = `${at}ipv4`;
  const p = parseAs(c, path, exp.checksumStatus, (checksum) => {
    const r = Ipv4Packet.check(bytes, { checksum });
    if (frame === undefined && !r.ok && r.error.kind === 'truncated-payload')
      return Ipv4Packet.check(zeroExtended(bytes, u16(bytes, 2)), { checksum });
    return r;
  });
  if (p === undefined) return;
  c.field(`${path}.version`, p.version, exp.version);
  c.field(`${path}.headerLength`, p.headerLen, exp.headerLength);
  c.field(`${path}.dscp`, p.dscp, exp.dscp);
  c.field(`${path}.ecn`, p.ecn, exp.ecn);
  c.field(`${path}.totalLength`, p.totalLen, exp.totalLength);
  c.field(`${path}.id`, p.ident, exp.id);
  c.field(`${path}.df`, p.dontFragment, exp.df);
  c.field(`${path}.mf`, p.moreFragments, exp.mf);
  c.field(`${path}.fragmentOffset`, p.fragOffset, exp.fragmentOffset);
  c.field(`${path}.ttl`, p.ttl, exp.ttl);
  c.field(`${path}.protocol`, p.protocol, exp.protocol);
  c.field(`${path}.checksum`, p.checksum, exp.checksum);
  c.field(`${path}.src`, ipv4ToString(p.src), exp.src);
  c.field(`${path}.dst`, ipv4ToString(p.dst), exp.dst);
  c.field(`${path}.options`, p.headerLen > 20 ? toHex(p.options) : undefined, exp.options);
  const ph: PseudoHeader = { version: 4, src: p.src, dst: p.dst };
  if (p.isFragment && frame !== undefined) {
    const key = `4 ${p.src} ${p.dst} ${p.protocol} ${p.ident}`;
    const whole = frame.fragment(key, p.fragOffset, p.moreFragments, p.payload);
    if (whole !== undefined) frame.checkReassembled(whole, p.protocol, whole.data, ph);
  }
  // RFC 791 §3.2: only the first fragment carries the upper-layer header.
  if (p.fragOffset !== 0) return;
  upper(p.protocol, p.payload, ph, layers, c, at, p.isFragment);
}

function ipv6Layer(bytes: Uint8Array, layers: Layers, c: FrameCheck, at: string, frame?: FrameCtx): void {
  const exp = layers.take('ipv6');
  if (exp === undefined) return;
  const path = `${at}ipv6`;
  let r = Ipv6Packet.check(bytes);
  if (frame === undefined && !r.ok && r.error.kind === 'truncated-payload')
    r = Ipv6Packet.check(zeroExtended(bytes, IPV6_HEADER_LEN + u16(bytes, 4)));
  if (!r.ok) return c.fail(path, `rejected (${showError(r.error)}); tshark reads it`);
  const p = r.value;
  c.field(`${path}.version`, p.version, exp.version);
  c.field(`${path}.trafficClass`, p.trafficClass, exp.trafficClass);
  c.field(`${path}.flowLabel`, p.flowLabel, exp.flowLabel);
  c.field(`${path}.payloadLength`, p.payloadLen, exp.payloadLength);
  c.field(`${path}.nextHeader`, p.nextHeader, exp.nextHeader);
  c.field(`${path}.hopLimit`, p.hopLimit, exp.hopLimit);
  c.field(`${path}.src`, ipv6ToString(p.src), exp.src);
  c.field(`${path}.dst`, ipv6ToString(p.dst), exp.dst);
  const walkOpts = { dstMulticast: isIpv6Multicast(p.dst) };
  const walk = walkExtHeaders(p.nextHeader, p.payload, walkOpts);
  if (!walk.ok) return c.fail(`${path}.extensions`, `rejected (${showError(walk.error)}); tshark reads them`);
  const chain = walk.value;
  extensions(chain, exp.extensions, c, `${path}.extensions`);
  const ph: Ipv6PseudoHeader = { version: 6, src: p.src, dst: p.dst };
  const frag = chain.fragment;
  if (frag !== undefined && frame !== undefined) {
    const key = `6 ${ipv6ToString(p.src)} ${ipv6ToString(p.dst)} ${frag.ident}`;
    const whole = frame.fragment(key, frag.fragOffset, frag.moreFragments, chain.payload);
    if (whole !== undefined) {
      // The reassembled data starts with what followed the fragment header (RFC 8200 §4.5).
      const inner = walkExtHeaders(frag.nextHeader, whole.data, walkOpts);
      if (!inner.ok) c.fail('reassembled', `rejected (${showError(inner.error)})`);
      else frame.checkReassembled(whole, inner.value.nextHeader, inner.value.payload, ph);
    }
  }
  // RFC 8200 §4.5: only the first fragment carries the upper-layer header.
  if (frag !== undefined && frag.fragOffset !== 0) return;
  upper(chain.nextHeader, chain.payload, ph, layers, c, at, frag !== undefined);
}

const EXT_NAMES = {
  'hop-by-hop': 'hop-by-hop',
  'destination-options': 'destination',
  routing: 'routing',
  fragment: 'fragment',
} as const;

function extensions(chain: ExtChain, exp: readonly ExtExp[], c: FrameCheck, path: string): void {
  const ours = chain.headers;
  c.field(`${path}.count`, ours.length, exp.length);
  ours.forEach((h, i) => {
    const e = exp[i];
    if (e === undefined) return;
    const p = `${path}[${i}]`;
    c.field(`${p}.type`, EXT_NAMES[h.kind], e.type);
    c.field(`${p}.header`, extHeaderType(h), e.header);
    c.field(`${p}.nextHeader`, h.nextHeader, e.nextHeader);
    if (h.kind === 'fragment') {
      if (e.type !== 'fragment') return;
      c.field(`${p}.offset`, h.fragOffset, e.offset);
      c.field(`${p}.more`, h.moreFragments, e.more);
      c.field(`${p}.ident`, h.ident, e.ident);
      return;
    }
    if (e.type === 'fragment') return;
    // The walk gives each header's offset; its length runs to the next header.
    c.field(`${p}.length`, (ours[i + 1]?.offset ?? chain.offset) - h.offset, e.length);
    if (h.kind !== 'routing') hopOptions(h.options, e.options, c, `${p}.options`);
  });
}

/** Our walk drops Pad1 and PadN (RFC 8200 §4.2), so tshark's are left out of the comparison. */
function hopOptions(
  ours: readonly Ipv6Option[],
  all: readonly ExtOptionExp[],
  c: FrameCheck,
  path: string,
): void {
  const exp = all.filter((o) => o.type !== 0 && o.type !== 1);
  c.field(`${path}.count (without padding)`, ours.length, exp.length);
  ours.forEach((o, i) => {
    const e = exp[i];
    if (e === undefined) return;
    c.field(`${path}[${i}].type`, o.type, e.type);
    c.field(`${path}[${i}].length`, o.data.length, e.length);
    c.field(`${path}[${i}].routerAlert`, routerAlert([o]), e.routerAlert);
  });
}

/** The header after IP; `firstFragment` when the datagram continues in other frames. */
function upper(
  proto: number,
  bytes: Uint8Array,
  ph: PseudoHeader,
  layers: Layers,
  c: FrameCheck,
  at: string,
  firstFragment: boolean,
): void {
  switch (proto) {
    case IPPROTO_ICMP:
      if (ph.version === 4) icmpv4Layer(bytes, layers, c, at);
      return;
    case IPPROTO_ICMPV6:
      if (ph.version === 6) icmpv6Layer(bytes, ph, layers, c, at);
      return;
    case IPPROTO_UDP:
      // parseUdp takes a whole datagram (RFC 768: Length counts header and data), so it refuses a
      // first fragment, whose Length counts bytes still to come; its header is compared once the
      // datagram is reassembled (`checkReassembled`).
      if (firstFragment) layers.take('udp');
      else udpLayer(bytes, ph, layers, c, at);
      return;
    case IPPROTO_TCP:
      tcpLayer(bytes, ph, layers, c, at);
      return;
  }
}

function icmpv4Layer(bytes: Uint8Array, layers: Layers, c: FrameCheck, at: string): void {
  const exp = layers.take('icmpv4');
  if (exp === undefined) return;
  const path = `${at}icmpv4`;
  const p = parseAs(c, path, exp.checksumStatus, (checksum) => Icmpv4Packet.check(bytes, { checksum }));
  if (p === undefined) return;
  const m = p.repr();
  const echo = m.type === 'echo-request' || m.type === 'echo-reply' ? m : undefined;
  c.field(`${path}.type`, p.icmpType, exp.type);
  c.field(`${path}.code`, p.code, exp.code);
  c.field(`${path}.checksum`, p.checksum, exp.checksum);
  c.field(`${path}.id`, echo?.ident, exp.id);
  c.field(`${path}.seq`, echo?.seq, exp.seq);
  c.field(`${path}.mtu`, m.type === 'dest-unreachable' ? m.nextHopMtu : undefined, exp.mtu);
  c.field(`${path}.gateway`, m.type === 'redirect' ? ipv4ToString(m.gateway) : undefined, exp.gateway);
  if (isIcmpv4Error(p.icmpType)) quote(p.payload, 4, exp.quoted, c, `${path}.quoted.`);
  else if (exp.quoted !== undefined)
    c.fail(`${path}.quoted`, 'tshark reads a quoted packet; ours is no error');
}

/** The ICMP code, where our repr keeps it; ND messages have code 0 or parse as `other` (RFC 4861 §6.1). */
function icmpv6Code(m: Icmpv6Repr): number | undefined {
  switch (m.kind) {
    case 'dest-unreachable':
    case 'time-exceeded':
    case 'parameter-problem':
    case 'other':
      return m.code;
    case 'router-solicitation':
    case 'router-advertisement':
    case 'neighbor-solicitation':
    case 'neighbor-advertisement':
    case 'redirect':
      return 0;
    default:
      // Echo and Packet Too Big: the code is not kept.
      return undefined;
  }
}

function icmpv6Layer(
  bytes: Uint8Array,
  ph: Ipv6PseudoHeader,
  layers: Layers,
  c: FrameCheck,
  at: string,
): void {
  const exp = layers.take('icmpv6');
  if (exp === undefined) return;
  const path = `${at}icmpv6`;
  const r = parseAs(c, path, exp.checksumStatus, (checksum) => parseIcmpv6(bytes, ph, { checksum }));
  if (r === undefined) return;
  const m = r.repr;
  c.field(`${path}.type`, icmpv6Type(m), exp.type);
  const code = icmpv6Code(m);
  if (code !== undefined) c.field(`${path}.code`, code, exp.code);
  const echo = m.kind === 'echo-request' || m.kind === 'echo-reply' ? m : undefined;
  c.field(`${path}.id`, echo?.ident, exp.id);
  c.field(`${path}.seq`, echo?.seq, exp.seq);
  c.field(`${path}.mtu`, m.kind === 'packet-too-big' ? m.mtu : undefined, exp.mtu);
  c.field(`${path}.pointer`, m.kind === 'parameter-problem' ? m.pointer : undefined, exp.pointer);
  const ra = m.kind === 'router-advertisement' ? m : undefined;
  c.field(`${path}.curHopLimit`, ra?.curHopLimit, exp.curHopLimit);
  c.field(`${path}.managed`, ra?.managed, exp.managed);
  c.field(`${path}.other`, ra?.other, exp.other);
  c.field(`${path}.routerLifetime`, ra?.routerLifetime, exp.routerLifetime);
  c.field(`${path}.reachableTime`, ra?.reachableTime, exp.reachableTime);
  c.field(`${path}.retransTimer`, ra?.retransTimer, exp.retransTimer);
  c.field(`${path}.target`, 'target' in m ? ipv6ToString(m.target) : undefined, exp.target);
  const na = m.kind === 'neighbor-advertisement' ? m : undefined;
  c.field(`${path}.router`, na?.router, exp.router);
  c.field(`${path}.solicited`, na?.solicited, exp.solicited);
  c.field(`${path}.override`, na?.override, exp.override);
  if (exp.options !== undefined) {
    if (!('options' in m)) c.fail(`${path}.options`, `tshark reads ND options; ours is ${m.kind}`);
    else ndOptions(m.options, exp.options, c, `${path}.options`);
  }
  if (isIcmpv6Error(m)) quote(r.payload, 6, exp.quoted, c, `${path}.quoted.`);
  else if (exp.quoted !== undefined)
    c.fail(`${path}.quoted`, 'tshark reads a quoted packet; ours is no error');
}

/** Option type and length in bytes as on the wire (RFC 4861 §4.6). */
function ndOptionTypeAndLength(o: NdpOption): [number, number] {
  switch (o.kind) {
    case 'source-link-addr':
      return [1, 8];
    case 'target-link-addr':
      return [2, 8];
    case 'prefix-info':
      return [3, 32];
    case 'redirected-header':
      return [4, 8 + o.data.length];
    case 'mtu':
      return [5, 8];
    case 'rdnss':
      return [25, 8 + 16 * o.addresses.length];
    case 'unknown':
      return [o.type, 2 + o.data.length];
  }
}

function ndOptions(
  ours: readonly NdpOption[],
  exp: readonly NdOptionExp[],
  c: FrameCheck,
  path: string,
): void {
  c.field(`${path}.count`, ours.length, exp.length);
  ours.forEach((o, i) => {
    const e = exp[i];
    if (e === undefined) return;
    const p = `${path}[${i}]`;
    const [type, length] = ndOptionTypeAndLength(o);
    c.field(`${p}.type`, type, e.type);
    c.field(`${p}.length`, length, e.length);
    const link = o.kind === 'source-link-addr' || o.kind === 'target-link-addr' ? o : undefined;
    c.field(`${p}.linkLayerAddress`, link && macToString(link.mac), e.linkLayerAddress);
    const pi = o.kind === 'prefix-info' ? o : undefined;
    c.field(`${p}.prefixLength`, pi?.prefixLen, e.prefixLength);
    c.field(`${p}.onLink`, pi?.onLink, e.onLink);
    c.field(`${p}.autonomous`, pi?.autonomous, e.autonomous);
    c.field(`${p}.validLifetime`, pi?.validLifetime, e.validLifetime);
    c.field(`${p}.preferredLifetime`, pi?.preferredLifetime, e.preferredLifetime);
    c.field(`${p}.prefix`, pi && ipv6ToString(pi.prefix), e.prefix);
    c.field(`${p}.mtu`, o.kind === 'mtu' ? o.mtu : undefined, e.mtu);
    // RDNSS (type 25, RFC 8106) lifetime and addresses: raw option data for us, not compared.
  });
}

/** The packet an ICMP error quotes (an IPv4 one for ICMP, an IPv6 one for ICMPv6). */
function quote(
  bytes: Uint8Array,
  version: 4 | 6,
  exp: LayersExp | undefined,
  c: FrameCheck,
  at: string,
): void {
  if (exp === undefined) return c.fail(at.slice(0, -1), 'we read an error; tshark reads no quoted packet');
  const layers = new Layers(c, at, exp);
  if (version === 4) ipv4Layer(bytes, layers, c, at);
  else ipv6Layer(bytes, layers, c, at);
  layers.finish();
}

function udpLayer(bytes: Uint8Array, ph: PseudoHeader, layers: Layers, c: FrameCheck, at: string): void {
  const exp = layers.take('udp');
  if (exp === undefined) return;
  const path = `${at}udp`;
  const p = parseAs(c, path, exp.checksumStatus, (checksum) => {
    const r = parseUdp(bytes, ph, { checksum });
    return r.ok ? UdpPacket.check(bytes) : r;
  });
  if (p === undefined) return;
  c.field(`${path}.srcPort`, p.srcPort, exp.srcPort);
  c.field(`${path}.dstPort`, p.dstPort, exp.dstPort);
  c.field(`${path}.length`, p.length, exp.length);
  c.field(`${path}.checksum`, p.checksum, exp.checksum);
  c.field(`${path}.payloadLength`, p.payload.length, exp.payloadLength);
}

const FLAG_NAMES: readonly (readonly [keyof TcpFlags, string])[] = [
  ['fin', 'FIN'],
  ['syn', 'SYN'],
  ['rst', 'RST'],
  ['psh', 'PSH'],
  ['ack', 'ACK'],
  ['urg', 'URG'],
  ['ece', 'ECE'],
  ['cwr', 'CWR'],
];

function tcpLayer(bytes: Uint8Array, ph: PseudoHeader, layers: Layers, c: FrameCheck, at: string): void {
  const exp = layers.take('tcp');
  if (exp === undefined) return;
  const path = `${at}tcp`;
  const p = parseAs(c, path, exp.checksumStatus, (checksum) => {
    const r = parseTcp(bytes, ph, { checksum });
    return r.ok ? TcpPacket.check(bytes) : r;
  });
  if (p === undefined) return;
  c.field(`${path}.srcPort`, p.srcPort, exp.srcPort);
  c.field(`${path}.dstPort`, p.dstPort, exp.dstPort);
  c.field(`${path}.seq`, p.seq, exp.seq);
  c.field(`${path}.ack`, p.ack, exp.ack);
  c.field(`${path}.headerLength`, p.headerLen, exp.headerLength);
  // Our flags are the eight control bits; the four bits before them (reserved, AE) are ignored.
  c.field(`${path}.flags`, p.flagBits, exp.flags & 0xff);
  const flags = p.flags;
  const names = FLAG_NAMES.filter(([k]) => flags[k]).map(([, n]) => n);
  c.field(`${path}.flagNames`, names.join(' '), exp.flagNames.filter((n) => n !== 'AE').join(' '));
  c.field(`${path}.window`, p.window, exp.window);
  c.field(`${path}.checksum`, p.checksum, exp.checksum);
  c.field(`${path}.urgent`, p.urgentPointer, exp.urgent);
  tcpOptions(p.options, exp.options, c, `${path}.options`);
  c.field(`${path}.payloadLength`, p.payload.length, exp.payloadLength);
}

/**
 * `TcpOptions` holds one value per kind, the last one as Linux keeps it, without order or NOP/EOL
 * padding: each kind tshark lists is compared with ours, and ours may hold no kind tshark lacks.
 */
function tcpOptions(ours: TcpOptions, exp: readonly TcpOptionExp[], c: FrameCheck, path: string): void {
  const last = new Map<number, TcpOptionExp>();
  for (const e of exp) if (e.kind > 1) last.set(e.kind, e);
  for (const e of last.values()) {
    switch (e.kind) {
      case 2:
        c.field(`${path}.mss`, ours.mss, e.mss);
        break;
      case 3:
        c.field(`${path}.wscale`, ours.windowScale, e.shift);
        break;
      case 4:
        c.field(`${path}.sack-permitted`, ours.sackPermitted, true);
        break;
      case 5:
        c.field(`${path}.sack.blocks`, ours.sack?.length, e.blocks.length);
        e.blocks.forEach((b, i) => {
          c.field(`${path}.sack[${i}].left`, ours.sack?.[i]?.left, b.left);
          c.field(`${path}.sack[${i}].right`, ours.sack?.[i]?.right, b.right);
        });
        break;
      case 8:
        c.field(`${path}.timestamps.tsval`, ours.timestamps?.tsVal, e.tsval);
        c.field(`${path}.timestamps.tsecr`, ours.timestamps?.tsEcr, e.tsecr);
        break;
    }
  }
  const kinds: [number, string, unknown][] = [
    [2, 'mss', ours.mss],
    [3, 'wscale', ours.windowScale],
    [4, 'sack-permitted', ours.sackPermitted],
    [5, 'sack', ours.sack],
    [8, 'timestamps', ours.timestamps],
  ];
  for (const [kind, name, value] of kinds) {
    if (value !== undefined && !last.has(kind))
      c.fail(`${path}.${name}`, 'we read this option; tshark does not');
  }
}

// ---------------------------------------------------------------------------------------------------

for (const name of CAPTURES) {
  const expected = JSON.parse(readFileSync(join(DIR, 'expected', `${name}.json`), 'utf8')) as ExpectedFile;
  const file = readFileSync(join(DIR, `${name}.pcap`));
  const pcap = parsePcap(new Uint8Array(file.buffer, file.byteOffset, file.byteLength));
  const open = new Map<string, Datagram>();
  // Frames in capture order: a datagram is checked at its last fragment.
  const checks = expected.frames.map((exp, i) =>
    checkFrame(pcap.ok ? pcap.value.frames[i] : undefined, new FrameCtx(exp, open)),
  );
  const fields = checks.reduce((n, c) => n + c.fields, 0);

  describe(`${name}.pcap: ${checks.length} frames, ${fields} fields compared with tshark ${expected.tshark}`, () => {
    it('is read by parsePcap as tshark read it', () => {
      expect(pcap.ok && pcap.value.linkType).toBe(expected.linkType);
      expect(pcap.ok && pcap.value.frames.length).toBe(expected.frameCount);
      expect(expected.frames.map((f) => f.number)).toEqual(expected.frames.map((_, i) => i + 1));
      expect(expected.frames.filter((f) => f.malformed)).toEqual([]);
    });

    it.each(checks.map((c) => [c.frame, c] as const))('frame %i agrees with tshark', (_n, check) => {
      expect(check.diffs).toEqual([]);
      expect(check.fields).toBeGreaterThan(0);
    });

    it('leaves no fragmented datagram incomplete', () => {
      expect([...open.keys()]).toEqual([]);
    });
  });
}
