import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Ipv4Addr, Ipv6Addr } from '../../src/addr.js';
import {
  IPPROTO_HOPOPTS,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from '../../src/ipproto.js';
import { parseIcmpv4 } from '../../src/ipv4/icmp.js';
import { parseIpv4 } from '../../src/ipv4/wire.js';
import { parseIcmpv6 } from '../../src/ipv6/icmp.js';
import { parseIpv6 } from '../../src/ipv6/wire.js';
import { rejectIcmp4, rejectIcmp6, rejectReply, rejectTcpRst } from '../../src/router/reject.js';
import type { Seq } from '../../src/tcp/seq.js';
import { emitTcp, parseTcp, type TcpFlags, tcpFlags } from '../../src/tcp/wire.js';
import { mutated, propOptions } from '../support/props.js';
import { ipv4Packet, ipv6Packet, v4, v6 } from './forward-arb.js';

const ROUTER4 = v4('10.0.1.1');
const ROUTER6 = v6('fd00:1::1');

function udp(len = 8): Uint8Array {
  const u = new Uint8Array(len);
  u.set([0x9c, 0x40, 0x00, 0x35, len >> 8, len & 255]);
  return u;
}

interface SegSpec {
  readonly flags: Partial<TcpFlags>;
  readonly seq?: number;
  readonly ack?: number;
  readonly data?: number;
}

function segment(
  s: SegSpec,
  ph: { version: 4; src: number; dst: number } | { version: 6; src: Uint8Array; dst: Uint8Array },
) {
  const seg = new Uint8Array(20 + (s.data ?? 0));
  emitTcp(
    {
      srcPort: 40000,
      dstPort: 22,
      seq: (s.seq ?? 1000) as Seq,
      ack: (s.ack ?? 0) as Seq,
      flags: tcpFlags(s.flags),
      window: 65535,
      urgentPointer: 0,
      options: {},
    },
    seg,
    ph,
  );
  return seg;
}

function tcp4(s: SegSpec, src = v4('10.0.0.2'), dst = v4('192.0.2.80')): Uint8Array {
  return ipv4Packet({ src, dst, protocol: IPPROTO_TCP, payload: segment(s, { version: 4, src, dst }) });
}

function tcp6(s: SegSpec, src = v6('fd00::2'), dst = v6('2001:db8::80'), hopByHop = false): Uint8Array {
  const seg = segment(s, { version: 6, src, dst });
  if (!hopByHop) return ipv6Packet({ src, dst, nextHeader: IPPROTO_TCP, payload: seg });
  // A hop-by-hop header of 8 octets (PadN) in front of the segment.
  const payload = new Uint8Array(8 + seg.length);
  payload.set([IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0]);
  payload.set(seg, 8);
  return ipv6Packet({ src, dst, nextHeader: IPPROTO_HOPOPTS, payload });
}

/** The reset as the parsers see it: addresses, ports, seq, ack, flags; its checksums verified. */
function parseRst(reply: Uint8Array | undefined) {
  expect(reply).toBeDefined();
  const bytes = reply!;
  if (bytes[0]! >>> 4 === 4) {
    const ip = parseIpv4(bytes);
    if (!ip.ok) throw new Error(`reply IPv4 header: ${ip.error.kind}`);
    expect(ip.value.repr).toMatchObject({ protocol: IPPROTO_TCP, ttl: 64, dontFragment: true });
    const t = parseTcp(ip.value.payload, { version: 4, src: ip.value.repr.src, dst: ip.value.repr.dst });
    if (!t.ok) throw new Error(`reply TCP: ${t.error.kind}`);
    return {
      src: ip.value.repr.src as Ipv4Addr | Ipv6Addr,
      dst: ip.value.repr.dst as Ipv4Addr | Ipv6Addr,
      tcp: t.value,
    };
  }
  const ip = parseIpv6(bytes);
  if (!ip.ok) throw new Error(`reply IPv6 header: ${ip.error.kind}`);
  expect(ip.value.repr).toMatchObject({ nextHeader: IPPROTO_TCP, hopLimit: 64 });
  const t = parseTcp(ip.value.payload, { version: 6, src: ip.value.repr.src, dst: ip.value.repr.dst });
  if (!t.ok) throw new Error(`reply TCP: ${t.error.kind}`);
  return {
    src: ip.value.repr.src as Ipv4Addr | Ipv6Addr,
    dst: ip.value.repr.dst as Ipv4Addr | Ipv6Addr,
    tcp: t.value,
  };
}

describe('rejectTcpRst: RFC 9293 §3.10.7.1 (CLOSED)', () => {
  it('answers a SYN (ACK off) with <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, from the address and port it was sent to', () => {
    const r = parseRst(rejectTcpRst(tcp4({ flags: { syn: true }, seq: 1000 })));
    expect(r.src).toBe(v4('192.0.2.80'));
    expect(r.dst).toBe(v4('10.0.0.2'));
    expect(r.tcp.repr).toMatchObject({
      srcPort: 22,
      dstPort: 40000,
      seq: 0,
      ack: 1001,
      flags: tcpFlags({ rst: true, ack: true }),
      window: 0,
      urgentPointer: 0,
      options: {},
    });
    expect(r.tcp.payload.length).toBe(0);
  });

  it('counts data, SYN and FIN in SEG.LEN, modulo 2^32', () => {
    expect(
      parseRst(rejectTcpRst(tcp4({ flags: { syn: true, fin: true }, seq: 5, data: 10 }))).tcp.repr.ack,
    ).toBe(17);
    expect(parseRst(rejectTcpRst(tcp4({ flags: { psh: true }, seq: 7, data: 100 }))).tcp.repr.ack).toBe(107);
    expect(parseRst(rejectTcpRst(tcp4({ flags: {}, seq: 7 }))).tcp.repr.ack).toBe(7);
    expect(parseRst(rejectTcpRst(tcp4({ flags: { syn: true }, seq: 0xffff_ffff }))).tcp.repr.ack).toBe(0);
  });

  it('answers a segment with ACK on with <SEQ=SEG.ACK><CTL=RST>', () => {
    const r = parseRst(
      rejectTcpRst(tcp4({ flags: { ack: true, psh: true }, seq: 1000, ack: 0xdead_beef, data: 50 })),
    );
    expect(r.tcp.repr).toMatchObject({ seq: 0xdead_beef, ack: 0, flags: tcpFlags({ rst: true }) });
  });

  it('answers over IPv6, behind a hop-by-hop header too', () => {
    for (const hbh of [false, true]) {
      const r = parseRst(rejectTcpRst(tcp6({ flags: { syn: true }, seq: 41 }, undefined, undefined, hbh)));
      expect(r.src).toEqual(v6('2001:db8::80'));
      expect(r.dst).toEqual(v6('fd00::2'));
      expect(r.tcp.repr).toMatchObject({
        srcPort: 22,
        dstPort: 40000,
        seq: 0,
        ack: 42,
        flags: tcpFlags({ rst: true, ack: true }),
      });
    }
  });

  it('takes the TTL and identification asked for', () => {
    const reply = rejectTcpRst(tcp4({ flags: { syn: true } }), { ttl: 9, ident: 0x4242 })!;
    const ip = parseIpv4(reply);
    expect(ip.ok && ip.value.repr).toMatchObject({ ttl: 9, ident: 0x4242 });
  });

  it('never answers a RST, a bad checksum, a fragment or a non-unicast address', () => {
    const badSum = tcp4({ flags: { syn: true } });
    badSum[badSum.length - 1]! ^= 1;
    const frag = ipv4Packet({
      src: v4('10.0.0.2'),
      dst: v4('192.0.2.80'),
      protocol: IPPROTO_TCP,
      mf: true,
      payload: segment({ flags: { syn: true } }, { version: 4, src: v4('10.0.0.2'), dst: v4('192.0.2.80') }),
    });
    for (const p of [
      tcp4({ flags: { rst: true } }),
      tcp4({ flags: { rst: true, ack: true }, ack: 5 }),
      tcp6({ flags: { rst: true } }),
      badSum,
      frag,
      tcp4({ flags: { syn: true } }, v4('10.0.0.2'), v4('224.0.0.9')),
      tcp4({ flags: { syn: true } }, v4('10.0.0.2'), v4('255.255.255.255')),
      tcp4({ flags: { syn: true } }, v4('0.0.0.0'), v4('192.0.2.80')),
      tcp4({ flags: { syn: true } }, v4('127.0.0.1'), v4('192.0.2.80')),
      tcp6({ flags: { syn: true } }, v6('fd00::2'), v6('ff02::1')),
      tcp6({ flags: { syn: true } }, v6('::'), v6('2001:db8::80')),
      ipv4Packet({ src: v4('10.0.0.2'), dst: v4('192.0.2.80'), payload: udp() }),
      new Uint8Array(0),
    ])
      expect(rejectTcpRst(p)).toBeUndefined();
  });
});

describe('rejectIcmp4: administratively prohibited (RFC 1812 §5.2.7.1)', () => {
  it('sends type 3 code 13 from the given address to the source, quoting the whole short datagram', () => {
    const offending = ipv4Packet({ src: v4('10.0.0.2'), dst: v4('192.0.2.53'), payload: udp(20) });
    const reply = rejectIcmp4(offending, ROUTER4)!;
    const ip = parseIpv4(reply);
    if (!ip.ok) throw new Error(ip.error.kind);
    expect(ip.value.repr).toMatchObject({
      src: ROUTER4,
      dst: v4('10.0.0.2'),
      protocol: IPPROTO_ICMP,
      ttl: 64,
      dscp: 0x30,
    });
    const icmp = parseIcmpv4(ip.value.payload);
    if (!icmp.ok) throw new Error(icmp.error.kind);
    expect(icmp.value.repr).toEqual({ type: 'dest-unreachable', code: 13, nextHopMtu: 0 });
    expect(icmp.value.payload).toEqual(offending);
  });

  it('quotes at most 548 bytes, so the error fits in 576 (RFC 1812 §4.3.2.3), and never link padding', () => {
    const big = ipv4Packet({ src: v4('10.0.0.2'), dst: v4('192.0.2.53'), payload: udp(1480) });
    const reply = rejectIcmp4(big, ROUTER4)!;
    expect(reply.length).toBe(576);
    const icmp = parseIcmpv4(reply.subarray(20));
    expect(icmp.ok && icmp.value.payload).toEqual(big.subarray(0, 548));
    const padded = new Uint8Array(60);
    const small = ipv4Packet({ src: v4('10.0.0.2'), dst: v4('192.0.2.53'), payload: udp(8) });
    padded.set(small);
    expect(rejectIcmp4(padded, ROUTER4)!.length).toBe(20 + 8 + small.length);
  });

  it('answers an echo request but never an ICMP error, a broadcast, a multicast, a later fragment or a bad source', () => {
    const icmp = (type: number) => Uint8Array.of(type, 0, 0, 0, 0, 0, 0, 0);
    const echo = ipv4Packet({
      src: v4('10.0.0.2'),
      dst: v4('192.0.2.1'),
      protocol: IPPROTO_ICMP,
      payload: icmp(8),
    });
    expect(rejectIcmp4(echo, ROUTER4)).toBeDefined();
    const badSum = echo.slice();
    badSum[10]! ^= 1;
    for (const p of [
      ipv4Packet({ src: v4('10.0.0.2'), dst: v4('192.0.2.1'), protocol: IPPROTO_ICMP, payload: icmp(3) }),
      ipv4Packet({ src: v4('10.0.0.2'), dst: v4('192.0.2.1'), protocol: IPPROTO_ICMP, payload: icmp(11) }),
      ipv4Packet({ src: v4('10.0.0.2'), dst: v4('255.255.255.255'), payload: udp() }),
      ipv4Packet({ src: v4('10.0.0.2'), dst: v4('239.1.1.1'), payload: udp() }),
      ipv4Packet({ src: v4('10.0.0.2'), dst: v4('192.0.2.1'), fragOffset: 8, payload: udp() }),
      ipv4Packet({ src: v4('0.0.0.0'), dst: v4('192.0.2.1'), payload: udp() }),
      ipv4Packet({ src: v4('224.0.0.1'), dst: v4('192.0.2.1'), payload: udp() }),
      badSum,
      echo.subarray(0, 19),
    ])
      expect(rejectIcmp4(p, ROUTER4)).toBeUndefined();
  });
});

describe('rejectIcmp6: administratively prohibited (RFC 4443 §3.1)', () => {
  function parse6(reply: Uint8Array) {
    const ip = parseIpv6(reply);
    if (!ip.ok) throw new Error(ip.error.kind);
    const icmp = parseIcmpv6(ip.value.payload, {
      version: 6,
      src: ip.value.repr.src,
      dst: ip.value.repr.dst,
    });
    if (!icmp.ok) throw new Error(icmp.error.kind);
    return { ip: ip.value.repr, icmp: icmp.value };
  }

  it('sends type 1 code 1 from the given address to the source, checksum over the pseudo-header', () => {
    const offending = ipv6Packet({
      src: v6('fd00::2'),
      dst: v6('2001:db8::53'),
      nextHeader: IPPROTO_UDP,
      payload: udp(20),
    });
    const r = parse6(rejectIcmp6(offending, ROUTER6)!);
    expect(r.ip).toMatchObject({
      nextHeader: IPPROTO_ICMPV6,
      hopLimit: 64,
      src: ROUTER6,
      dst: v6('fd00::2'),
    });
    expect(r.icmp.repr).toEqual({ kind: 'dest-unreachable', code: 1 });
    expect(r.icmp.payload).toEqual(offending);
  });

  it('keeps the error within 1280 bytes (RFC 4443 §2.4(c)) and quotes no link padding', () => {
    const big = ipv6Packet({
      src: v6('fd00::2'),
      dst: v6('2001:db8::53'),
      nextHeader: IPPROTO_UDP,
      payload: udp(1460),
    });
    const reply = rejectIcmp6(big, ROUTER6)!;
    expect(reply.length).toBe(1280);
    expect(parse6(reply).icmp.payload).toEqual(big.subarray(0, 1232));
    const small = ipv6Packet({
      src: v6('fd00::2'),
      dst: v6('2001:db8::53'),
      nextHeader: IPPROTO_UDP,
      payload: udp(8),
    });
    const padded = new Uint8Array(small.length + 10);
    padded.set(small);
    expect(parse6(rejectIcmp6(padded, ROUTER6)!).icmp.payload).toEqual(small);
  });

  it('never answers an ICMPv6 error, a multicast destination, an unspecified or multicast source', () => {
    const icmp = (type: number) => Uint8Array.of(type, 0, 0, 0, 0, 0, 0, 0);
    const echo = ipv6Packet({
      src: v6('fd00::2'),
      dst: v6('2001:db8::1'),
      nextHeader: IPPROTO_ICMPV6,
      payload: icmp(128),
    });
    expect(rejectIcmp6(echo, ROUTER6)).toBeDefined();
    for (const p of [
      ipv6Packet({
        src: v6('fd00::2'),
        dst: v6('2001:db8::1'),
        nextHeader: IPPROTO_ICMPV6,
        payload: icmp(1),
      }),
      ipv6Packet({
        src: v6('fd00::2'),
        dst: v6('2001:db8::1'),
        nextHeader: IPPROTO_ICMPV6,
        payload: icmp(2),
      }),
      ipv6Packet({ src: v6('fd00::2'), dst: v6('ff0e::1'), payload: udp() }),
      ipv6Packet({ src: v6('::'), dst: v6('2001:db8::1'), payload: udp() }),
      ipv6Packet({ src: v6('ff02::1'), dst: v6('2001:db8::1'), payload: udp() }),
      echo.subarray(0, 39),
    ])
      expect(rejectIcmp6(p, ROUTER6)).toBeUndefined();
  });
});

describe('rejectReply', () => {
  it('picks the reset for TCP and the ICMP error of the version otherwise', () => {
    const src = { v4: ROUTER4, v6: ROUTER6 };
    expect(rejectReply(tcp4({ flags: { syn: true } }), src)).toEqual(
      rejectTcpRst(tcp4({ flags: { syn: true } })),
    );
    expect(rejectReply(tcp6({ flags: { syn: true } }, undefined, undefined, true), src)).toEqual(
      rejectTcpRst(tcp6({ flags: { syn: true } }, undefined, undefined, true)),
    );
    const u4 = ipv4Packet({ src: v4('10.0.0.2'), dst: v4('192.0.2.53'), payload: udp() });
    const u6 = ipv6Packet({ src: v6('fd00::2'), dst: v6('2001:db8::53'), payload: udp() });
    expect(rejectReply(u4, src)).toEqual(rejectIcmp4(u4, ROUTER4));
    expect(rejectReply(u6, src)).toEqual(rejectIcmp6(u6, ROUTER6));
    expect(rejectReply(u4, { v6: ROUTER6 })).toBeUndefined();
    expect(rejectReply(u6, { v4: ROUTER4 })).toBeUndefined();
    expect(rejectReply(tcp4({ flags: { rst: true } }), src)).toBeUndefined();
  });

  it('never throws on any bytes', () => {
    const valid = fc.oneof(
      fc.constant(tcp4({ flags: { syn: true } })),
      fc.constant(tcp6({ flags: { ack: true }, ack: 9 }, undefined, undefined, true)),
      fc.constant(ipv4Packet({ src: v4('10.0.0.2'), dst: v4('192.0.2.53'), payload: udp() })),
      fc.constant(ipv6Packet({ src: v6('fd00::2'), dst: v6('2001:db8::53'), payload: udp() })),
    );
    fc.assert(
      fc.property(mutated(valid), (bytes) => {
        rejectReply(bytes, { v4: ROUTER4, v6: ROUTER6 });
        rejectTcpRst(bytes);
        rejectIcmp4(bytes, ROUTER4);
        rejectIcmp6(bytes, ROUTER6);
      }),
      propOptions(),
    );
  });
});
