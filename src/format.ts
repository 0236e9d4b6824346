/**
 * `formatFrame(bytes)`: a one-line summary of an Ethernet frame in tcpdump's style (`tcpdump -nn`,
 * without the timestamp), for logs, `oasis pcap` and debugging.
 *
 *   02:00:00:00:00:0a > ff:ff:ff:ff:ff:ff, ARP, Request who-has 192.0.2.2 tell 192.0.2.1, length 28
 *   IP 192.0.2.1 > 192.0.2.2: ICMP echo request, id 5, seq 1, length 64
 *   IP 192.0.2.1.40000 > 192.0.2.2.80: Flags [S], seq 123, win 64240, options [mss 1460], length 0
 *   IP6 fe80::1 > ff02::1:ff00:2: ICMP6, neighbor solicitation, who has fe80::2, length 32
 *
 * Every layer is read through its own `parseX` (nothing is decoded here by hand), so the line shows
 * what the stack itself understands. What does not parse is named as its parser names it,
 * `malformed <layer>: <kind>` (or `unsupported <layer>: <kind>`), after the outer layers that did
 * parse. Checksums are verified; a bad one is shown (`[bad udp cksum]`, where `tcpdump -v` says
 * `bad udp cksum`) and the packet is decoded anyway. IPv4 fragments read `(frag id:len@offset+)`,
 * IPv6 ones `frag (offset|len)`; their upper layer is named but not decoded, since its length and
 * checksum cover the whole datagram, not the fragment.
 *
 * Contract: total. It never throws, whatever the bytes (test/fuzz.test.ts checks it), and reads only
 * inside them. Pure: no clock, no I/O.
 */
import { ipv4ToString, ipv6ToString, isIpv6Multicast, macToString } from './addr.js';
import { type ArpRepr, parseArp } from './arp/wire.js';
import type { PseudoHeader } from './checksum/index.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  parseEthernet,
  type VlanTag,
} from './ethernet/wire.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './ipproto.js';
import { type Icmpv4Repr, parseIcmpv4 } from './ipv4/icmp.js';
import { type Ipv4Repr, parseIpv4 } from './ipv4/wire.js';
import { type ExtChain, walkExtHeaders } from './ipv6/ext.js';
import { type Icmpv6Repr, parseIcmpv6 } from './ipv6/icmp.js';
import { IPV6_HEADER_LEN, parseIpv6 } from './ipv6/wire.js';
import type { Result, WireError } from './result.js';
import { seqAdd } from './tcp/seq.js';
import {
  emitTcp,
  parseTcp,
  TCP_HEADER_LEN,
  TCP_MAX_OPTIONS_LEN,
  type TcpFlags,
  type TcpOptions,
  type TcpRepr,
  tcpHeaderLen,
} from './tcp/wire.js';
import { parseUdp } from './udp/wire.js';

/** Summarises one Ethernet frame (without FCS) on one line. Never throws. */
export function formatFrame(bytes: Uint8Array): string {
  const eth = parseEthernet(bytes);
  if (!eth.ok) return problem(eth.error);
  const { repr, payload } = eth.value;
  const macs = `${macToString(repr.src)} > ${macToString(repr.dst)}`;
  const vlans = repr.vlans.map(vlanText).join('');
  switch (repr.ethertype) {
    case ETHERTYPE_ARP:
      return `${macs}, ${vlans}ARP, ${arpText(payload)}`;
    case ETHERTYPE_IPV4:
      return `${vlans}IP ${ipv4Text(payload)}`;
    case ETHERTYPE_IPV6:
      return `${vlans}IP6 ${ipv6Text(payload)}`;
    default:
      // As tcpdump: the length of what the EtherType introduces, as for ARP.
      return `${macs}, ${vlans}ethertype 0x${repr.ethertype.toString(16).padStart(4, '0')}, length ${payload.length}`;
  }
}

/** `malformed ipv4: truncated`, as the parser named it. */
function problem(e: WireError): string {
  return `${e.severity} ${e.layer}: ${e.kind}`;
}

/** tcpdump -e style: `vlan 10, p 0, ` (plus `DEI, ` when set), outermost tag first. */
function vlanText(t: VlanTag): string {
  return `vlan ${t.vid}, p ${t.pcp}, ${t.dei ? 'DEI, ' : ''}`;
}

/**
 * Parses with the checksum verified; on a bad checksum parses again without it, so the packet is
 * still shown, and says so. Other errors are returned as they are.
 */
function checked<T>(parse: (checksum: 'verify' | 'ignore') => Result<T>): { r: Result<T>; bad: boolean } {
  const r = parse('verify');
  if (r.ok || r.error.kind !== 'bad-checksum') return { r, bad: false };
  return { r: parse('ignore'), bad: true };
}

// ---------------------------------------------------------------------------------------------------
// ARP (RFC 826), worded as tcpdump's print-arp.c.

function arpText(payload: Uint8Array): string {
  const r = parseArp(payload);
  if (!r.ok) return problem(r.error);
  // tcpdump's length is the whole ARP payload, Ethernet padding included.
  return `${arpOperation(r.value)}, length ${payload.length}`;
}

function arpOperation(a: ArpRepr): string {
  if (a.operation === 'reply') return `Reply ${ipv4ToString(a.senderIp)} is-at ${macToString(a.senderMac)}`;
  // A request's target MAC is normally zero (RFC 5227 §2.1.1); tcpdump shows it when it is not.
  const tha = a.targetMac === 0 ? '' : ` (${macToString(a.targetMac)})`;
  return `Request who-has ${ipv4ToString(a.targetIp)}${tha} tell ${ipv4ToString(a.senderIp)}`;
}

// ---------------------------------------------------------------------------------------------------
// IPv4 (RFC 791) and what it carries.

/** Names tcpdump uses for protocols it is not asked to decode (IANA protocol numbers). */
const PROTOCOL_NAMES: Record<number, string> = {
  1: 'ICMP',
  2: 'IGMP',
  4: 'IPIP',
  6: 'TCP',
  17: 'UDP',
  41: 'IP6',
  47: 'GRE',
  50: 'ESP',
  51: 'AH',
  58: 'ICMP6',
  59: 'no next header',
  103: 'PIM',
  112: 'VRRP',
  132: 'SCTP',
  136: 'UDPLite',
};

function protocolName(p: number): string {
  return PROTOCOL_NAMES[p] ?? `ip-proto-${p}`;
}

function ipv4Text(bytes: Uint8Array): string {
  const { r, bad } = checked((checksum) => parseIpv4(bytes, { checksum }));
  if (!r.ok) return problem(r.error);
  const { repr: ip, payload } = r.value;
  const badIp = bad ? ' [bad ip cksum]' : '';
  const src = ipv4ToString(ip.src);
  const dst = ipv4ToString(ip.dst);
  if (ip.moreFragments || ip.fragOffset !== 0) {
    // RFC 791 §3.2: only the first fragment starts with the upper-layer header.
    const what = ip.fragOffset === 0 ? protocolName(ip.protocol) : `ip-proto-${ip.protocol}`;
    const frag = `(frag ${ip.ident}:${payload.length}@${ip.fragOffset}${ip.moreFragments ? '+' : ''})`;
    return `${src} > ${dst}: ${what} ${frag}${badIp}`;
  }
  const ph: PseudoHeader = { version: 4, src: ip.src, dst: ip.dst };
  if (ip.protocol === IPPROTO_ICMP) return `${src} > ${dst}: ${icmpv4Text(payload)}${badIp}`;
  return `${transportText(ip.protocol, payload, ph, src, dst, '')}${badIp}`;
}

/** `src.port > dst.port: ...` for TCP and UDP over either IP version, `src > dst: ...` otherwise. */
function transportText(
  protocol: number,
  payload: Uint8Array,
  ph: PseudoHeader,
  src: string,
  dst: string,
  notes: string,
): string {
  if (protocol === IPPROTO_UDP) {
    const { r, bad } = checked((checksum) => parseUdp(payload, ph, { checksum }));
    if (!r.ok) return `${src} > ${dst}: ${notes}${problem(r.error)}`;
    const { repr, payload: data } = r.value;
    const cksum = bad ? ' [bad udp cksum]' : '';
    return `${src}.${repr.srcPort} > ${dst}.${repr.dstPort}: ${notes}UDP, length ${data.length}${cksum}`;
  }
  if (protocol === IPPROTO_TCP) {
    const { r, bad } = checked((checksum) => parseTcp(payload, ph, { checksum }));
    if (!r.ok) return `${src} > ${dst}: ${notes}${problem(r.error)}`;
    const { repr, payload: data } = r.value;
    const cksum = bad ? ' [bad tcp cksum]' : '';
    const body = tcpText(repr, payload, data.length, ph);
    return `${src}.${repr.srcPort} > ${dst}.${repr.dstPort}: ${notes}${body}${cksum}`;
  }
  return `${src} > ${dst}: ${notes}${protocolName(protocol)}, length ${payload.length}`;
}

// ---------------------------------------------------------------------------------------------------
// TCP (RFC 9293 §3.1), worded as tcpdump's print-tcp.c.

/** tcpdump's flag letters, in its order: F S R P . U E W; `none` when no flag is set. */
function flagsText(f: TcpFlags): string {
  const s =
    (f.fin ? 'F' : '') +
    (f.syn ? 'S' : '') +
    (f.rst ? 'R' : '') +
    (f.psh ? 'P' : '') +
    (f.ack ? '.' : '') +
    (f.urg ? 'U' : '') +
    (f.ece ? 'E' : '') +
    (f.cwr ? 'W' : '');
  return s === '' ? 'none' : s;
}

function tcpText(t: TcpRepr, segment: Uint8Array, dataLen: number, ph: PseudoHeader): string {
  const parts = [`Flags [${flagsText(t.flags)}]`];
  // As tcpdump: the sequence number when the segment occupies sequence space or resets.
  if (dataLen > 0 || t.flags.syn || t.flags.fin || t.flags.rst)
    parts.push(dataLen > 0 ? `seq ${t.seq}:${seqAdd(t.seq, dataLen)}` : `seq ${t.seq}`);
  if (t.flags.ack) parts.push(`ack ${t.ack}`);
  parts.push(`win ${t.window}`);
  if (t.flags.urg) parts.push(`urg ${t.urgentPointer}`);
  const optionBytes = segment.subarray(TCP_HEADER_LEN, segment.length - dataLen);
  if (optionBytes.length > 0) parts.push(`options [${tcpOptionsText(t, optionBytes, ph)}]`);
  parts.push(`length ${dataLen}`);
  return parts.join(', ');
}

/** One option as tcpdump words it. */
function tcpOptionText(o: TcpOptions, key: keyof TcpOptions): string {
  switch (key) {
    case 'mss':
      return `mss ${o.mss}`;
    case 'windowScale':
      return `wscale ${o.windowScale}`;
    case 'sackPermitted':
      return 'sackOK';
    case 'timestamps':
      return `TS val ${o.timestamps?.tsVal} ecr ${o.timestamps?.tsEcr}`;
    case 'sack': {
      const blocks = o.sack ?? [];
      return `sack ${blocks.length} ${blocks.map((b) => `{${b.left}:${b.right}}`).join('')}`;
    }
  }
}

/**
 * The options list. The parsed repr keeps values, not layout (no NOPs, no order), so the line is
 * written in the layout Linux (and Oasis) use, NOPs included exactly where tcpdump would show them,
 * when the segment's option bytes are that layout; otherwise the options are listed without padding.
 */
function tcpOptionsText(t: TcpRepr, optionBytes: Uint8Array, ph: PseudoHeader): string {
  const o = t.options;
  if (isLinuxLayout(t, optionBytes, ph)) {
    const parts: string[] = [];
    if (o.mss !== undefined) parts.push(tcpOptionText(o, 'mss'));
    if (o.timestamps !== undefined) {
      if (o.sackPermitted) parts.push('sackOK');
      else parts.push('nop', 'nop');
      parts.push(tcpOptionText(o, 'timestamps'));
    } else if (o.sackPermitted) parts.push('nop', 'nop', 'sackOK');
    if (o.windowScale !== undefined) parts.push('nop', tcpOptionText(o, 'windowScale'));
    if (o.sack !== undefined) parts.push('nop', 'nop', tcpOptionText(o, 'sack'));
    return parts.join(',');
  }
  // The parser fills the repr in the order the options came.
  const keys = Object.keys(o) as (keyof TcpOptions)[];
  return keys.length === 0 ? `${optionBytes.length} bytes` : keys.map((k) => tcpOptionText(o, k)).join(',');
}

/** True when `emitTcp` would write exactly these option bytes for `t`. */
function isLinuxLayout(t: TcpRepr, optionBytes: Uint8Array, ph: PseudoHeader): boolean {
  const o = t.options;
  // An upper bound of what emitTcp would need, so it is only called when it cannot refuse.
  const bound =
    (o.mss !== undefined ? 4 : 0) +
    (o.timestamps !== undefined ? 12 : 0) +
    (o.sackPermitted ? 4 : 0) +
    (o.windowScale !== undefined ? 4 : 0) +
    (o.sack !== undefined ? 4 + 8 * o.sack.length : 0);
  const blocks = o.sack?.length ?? 1;
  if (bound > TCP_MAX_OPTIONS_LEN || blocks < 1 || blocks > 4) return false;
  const len = tcpHeaderLen(t);
  if (len - TCP_HEADER_LEN !== optionBytes.length) return false;
  const scratch = new Uint8Array(len);
  emitTcp(t, scratch, ph);
  for (let i = 0; i < optionBytes.length; i++)
    if (scratch[TCP_HEADER_LEN + i] !== optionBytes[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// ICMP errors quote the offending datagram. tcpdump names its destination and ports.

interface Quoted {
  readonly dst: string;
  readonly protocol: number;
  readonly dstPort: number | undefined;
}

/**
 * A quote holds only the start of the datagram (RFC 792; RFC 1812 §4.3.2.3; RFC 4443 §2.4(c)), so
 * its length fields claim more bytes than it has and the parsers, rightly, call it truncated. It is
 * parsed again from a copy extended with zeros to the largest length a field can claim; only fields
 * inside the quote itself are then used (a port whose bytes are missing reads as a zero length and
 * fails to parse).
 */
function zeroExtended(quote: Uint8Array, len: number): Uint8Array {
  const b = new Uint8Array(Math.max(len, quote.length));
  b.set(quote);
  return b;
}

/** Destination port of a quoted UDP or TCP header; checksums are not checked (they cover bytes not quoted). */
function quotedPort(protocol: number, upper: Uint8Array, ph: PseudoHeader): number | undefined {
  if (protocol === IPPROTO_UDP) {
    const u = parseUdp(upper, ph, { checksum: 'ignore' });
    return u.ok ? u.value.repr.dstPort : undefined;
  }
  if (protocol === IPPROTO_TCP) {
    const t = parseTcp(upper, ph, { checksum: 'ignore' });
    return t.ok ? t.value.repr.dstPort : undefined;
  }
  return undefined;
}

function quotedIpv4(quote: Uint8Array): Quoted | undefined {
  let r = parseIpv4(quote, { checksum: 'ignore' });
  if (!r.ok && r.error.kind === 'truncated-payload')
    r = parseIpv4(zeroExtended(quote, 0xffff), { checksum: 'ignore' });
  if (!r.ok) return undefined;
  const ip: Ipv4Repr = r.value.repr;
  const ph: PseudoHeader = { version: 4, src: ip.src, dst: ip.dst };
  // Only a first fragment (or a whole datagram) starts with the upper-layer header.
  const dstPort = ip.fragOffset === 0 ? quotedPort(ip.protocol, r.value.payload, ph) : undefined;
  return { dst: ipv4ToString(ip.dst), protocol: ip.protocol, dstPort };
}

function quotedIpv6(quote: Uint8Array): Quoted | undefined {
  let r = parseIpv6(quote);
  if (!r.ok && r.error.kind === 'truncated-payload')
    r = parseIpv6(zeroExtended(quote, IPV6_HEADER_LEN + 0xffff));
  if (!r.ok) return undefined;
  const ip = r.value.repr;
  const dst = ipv6ToString(ip.dst);
  const walk = walkExtHeaders(ip.nextHeader, r.value.payload, { dstMulticast: isIpv6Multicast(ip.dst) });
  if (!walk.ok) return { dst, protocol: ip.nextHeader, dstPort: undefined };
  const chain = walk.value;
  const ph: PseudoHeader = { version: 6, src: ip.src, dst: ip.dst };
  const first = chain.fragment === undefined || chain.fragment.fragOffset === 0;
  const dstPort = first ? quotedPort(chain.nextHeader, chain.payload, ph) : undefined;
  return { dst, protocol: chain.nextHeader, dstPort };
}

// ---------------------------------------------------------------------------------------------------
// ICMPv4 (RFC 792, RFC 1122 §3.2.2), worded as tcpdump's print-icmp.c.

/** tcpdump's words for Destination Unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
function unreachableText(code: number, mtu: number, q: Quoted | undefined): string {
  const dst = q?.dst ?? '?';
  switch (code) {
    case 0:
      return `net ${dst} unreachable`;
    case 1:
      return `host ${dst} unreachable`;
    case 2:
      return `${dst} protocol ${q?.protocol ?? '?'} unreachable`;
    case 3: {
      const proto = q === undefined ? 'ip' : protocolName(q.protocol).toLowerCase();
      return `${dst} ${proto} port ${q?.dstPort ?? '?'} unreachable`;
    }
    case 4:
      return `${dst} unreachable - need to frag (mtu ${mtu})`;
    case 5:
      return `${dst} unreachable - source route failed`;
    case 6:
      return `net ${dst} unreachable - unknown`;
    case 7:
      return `host ${dst} unreachable - unknown`;
    case 8:
      return `${dst} unreachable - source host isolated`;
    case 9:
      return `net ${dst} unreachable - admin prohibited`;
    case 10:
      return `host ${dst} unreachable - admin prohibited`;
    case 11:
      return `net ${dst} unreachable - tos prohibited`;
    case 12:
      return `host ${dst} unreachable - tos prohibited`;
    case 13:
      return `host ${dst} unreachable - admin prohibited filter`;
    case 14:
      return `host ${dst} unreachable - host precedence violation`;
    case 15:
      return `host ${dst} unreachable - precedence cutoff`;
    default:
      return `${dst} unreachable - #${code}`;
  }
}

const ICMPV4_OTHER_NAMES: Record<number, string> = {
  4: 'source quench',
  9: 'router advertisement',
  10: 'router solicitation',
  13: 'time stamp request',
  14: 'time stamp reply',
  15: 'information request',
  16: 'information reply',
  17: 'address mask request',
  18: 'address mask reply',
};

function icmpv4Body(m: Icmpv4Repr, quote: Uint8Array): string {
  switch (m.type) {
    case 'echo-request':
      return `echo request, id ${m.ident}, seq ${m.seq}`;
    case 'echo-reply':
      return `echo reply, id ${m.ident}, seq ${m.seq}`;
    case 'dest-unreachable':
      return unreachableText(m.code, m.nextHopMtu, quotedIpv4(quote));
    case 'time-exceeded':
      if (m.code === 0) return 'time exceeded in-transit';
      if (m.code === 1) return 'ip reassembly time exceeded';
      return `time exceeded-#${m.code}`;
    case 'parameter-problem':
      return m.code === 0 ? `parameter problem - octet ${m.pointer}` : `parameter problem - code ${m.code}`;
    case 'redirect': {
      const dst = quotedIpv4(quote)?.dst ?? '?';
      const to = ['net', 'host', 'net', 'host'][m.code];
      const what = m.code === 2 || m.code === 3 ? 'redirect-tos' : 'redirect';
      const gw = ipv4ToString(m.gateway);
      return to === undefined ? `redirect-#${m.code} ${dst} to ${gw}` : `${what} ${dst} to ${to} ${gw}`;
    }
    case 'other':
      return ICMPV4_OTHER_NAMES[m.icmpType] ?? `type-#${m.icmpType}`;
  }
}

function icmpv4Text(bytes: Uint8Array): string {
  const { r, bad } = checked((checksum) => parseIcmpv4(bytes, { checksum }));
  if (!r.ok) return problem(r.error);
  const cksum = bad ? ' [bad icmp cksum]' : '';
  return `ICMP ${icmpv4Body(r.value.repr, r.value.payload)}, length ${bytes.length}${cksum}`;
}

// ---------------------------------------------------------------------------------------------------
// IPv6 (RFC 8200) with its extension headers, and ICMPv6 (RFC 4443, RFC 4861) as print-icmp6.c words it.

/** What the walk passed through, as tcpdump notes it before the upper layer: `HBH`, `DSTOPT`, ... */
function extNotes(chain: ExtChain, payloadLen: number): string {
  let s = '';
  for (const h of chain.headers) {
    switch (h.kind) {
      case 'hop-by-hop':
        s += 'HBH ';
        break;
      case 'destination-options':
        s += 'DSTOPT ';
        break;
      case 'routing':
        s += `srcrt (type ${h.routingType}, segleft ${h.segmentsLeft}) `;
        break;
      case 'fragment':
        // An atomic fragment (RFC 6946) the walk went through; a real fragment is `chain.fragment`.
        if (h.offset !== chain.fragment?.offset)
          s += `frag (0|${payloadLen - (h.offset - IPV6_HEADER_LEN) - 8}) `;
        break;
    }
  }
  return s;
}

function ipv6Text(bytes: Uint8Array): string {
  const r = parseIpv6(bytes);
  if (!r.ok) return problem(r.error);
  const { repr: ip, payload } = r.value;
  const src = ipv6ToString(ip.src);
  const dst = ipv6ToString(ip.dst);
  const walk = walkExtHeaders(ip.nextHeader, payload, { dstMulticast: isIpv6Multicast(ip.dst) });
  if (!walk.ok) return `${src} > ${dst}: ${problem(walk.error)}`;
  const chain = walk.value;
  const notes = extNotes(chain, payload.length);
  const frag = chain.fragment;
  if (frag !== undefined) {
    // RFC 8200 §4.5: only the first fragment carries the upper-layer header.
    const what = frag.fragOffset === 0 ? ` ${protocolName(chain.nextHeader)}` : '';
    return `${src} > ${dst}: ${notes}frag (${frag.fragOffset}|${chain.payload.length})${what}`;
  }
  const ph = { version: 6 as const, src: ip.src, dst: ip.dst };
  if (chain.nextHeader === IPPROTO_ICMPV6) return `${src} > ${dst}: ${notes}${icmpv6Text(chain.payload, ph)}`;
  return transportText(chain.nextHeader, chain.payload, ph, src, dst, notes);
}

const ICMPV6_OTHER_NAMES: Record<number, string> = {
  130: 'multicast listener query',
  131: 'multicast listener report',
  132: 'multicast listener done',
  138: 'router renumbering',
  139: 'node information query',
  140: 'node information reply',
  141: 'inverse neighbor solicitation',
  142: 'inverse neighbor advertisement',
  143: 'multicast listener report v2',
};

/** RFC 4443 §3.1 codes 0-3 (4, port, names the port); tcpdump's words. */
const UNREACH6 = ['unreachable route', 'unreachable prohibited', 'beyond scope', 'unreachable address'];
/** RFC 4443 §3.4 codes 0-2 and RFC 7112 §5's code 3; tcpdump's words. */
const PARAM_PROBLEM6 = ['erroneous header field', 'next header', 'option', 'incomplete header chain'];

function icmpv6Body(m: Icmpv6Repr, quote: Uint8Array): string {
  switch (m.kind) {
    case 'dest-unreachable': {
      const q = quotedIpv6(quote);
      const dst = q?.dst ?? '?';
      if (m.code === 4) {
        const proto = q === undefined ? 'ip' : protocolName(q.protocol).toLowerCase();
        return `destination unreachable, unreachable port, ${dst} ${proto} port ${q?.dstPort ?? '?'}`;
      }
      const what = UNREACH6[m.code];
      return what === undefined
        ? `destination unreachable, unknown unreach code (${m.code})`
        : `destination unreachable, ${what} ${dst}`;
    }
    case 'packet-too-big':
      return `packet too big, mtu ${m.mtu}`;
    case 'time-exceeded':
      if (m.code === 0) return `time exceeded in-transit for ${quotedIpv6(quote)?.dst ?? '?'}`;
      if (m.code === 1) return 'time exceeded in-transit (reassembly)';
      return `time exceeded, unknown code (${m.code})`;
    case 'parameter-problem': {
      const what = PARAM_PROBLEM6[m.code] ?? `code ${m.code}`;
      return `parameter problem, ${what} - octet ${m.pointer}`;
    }
    case 'echo-request':
      return `echo request, id ${m.ident}, seq ${m.seq}`;
    case 'echo-reply':
      return `echo reply, id ${m.ident}, seq ${m.seq}`;
    case 'router-solicitation':
      return 'router solicitation';
    case 'router-advertisement':
      return 'router advertisement';
    case 'neighbor-solicitation':
      return `neighbor solicitation, who has ${ipv6ToString(m.target)}`;
    case 'neighbor-advertisement':
      return `neighbor advertisement, tgt is ${ipv6ToString(m.target)}`;
    case 'redirect':
      return `redirect, ${ipv6ToString(m.destination)} to ${ipv6ToString(m.target)}`;
    case 'other': {
      const name = ICMPV6_OTHER_NAMES[m.icmpType] ?? `type ${m.icmpType}`;
      return m.code === 0 ? name : `${name}, code ${m.code}`;
    }
  }
}

function icmpv6Text(bytes: Uint8Array, ph: Extract<PseudoHeader, { version: 6 }>): string {
  const { r, bad } = checked((checksum) => parseIcmpv6(bytes, ph, { checksum }));
  if (!r.ok) return problem(r.error);
  const cksum = bad ? ' [bad icmp6 cksum]' : '';
  return `ICMP6, ${icmpv6Body(r.value.repr, r.value.payload)}, length ${bytes.length}${cksum}`;
}
