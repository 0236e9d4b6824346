import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_UDP,
} from '../../src/ipproto.js';
import { mayAnswerIcmpv4Error } from '../../src/ipv4/icmp.js';
import { type Icmpv6Repr, mayAnswerIcmpv6Error } from '../../src/ipv6/icmp.js';
import { propOptions } from '../support/props.js';
import { ipv4Packet, ipv6Packet, v4, v6 } from './forward-arb.js';

describe('mayAnswerIcmpv4Error (RFC 1812 §4.3.2.7)', () => {
  const p = (src: string, dst: string, more: Partial<Parameters<typeof ipv4Packet>[0]> = {}) =>
    ipv4Packet({ src: v4(src), dst: v4(dst), ...more });
  const icmp = (type: number) => Uint8Array.of(type, 0, 0, 0, 0, 0, 0, 0);

  it('answers an ordinary unicast datagram, a first fragment, an echo request, an unknown ICMP type', () => {
    expect(mayAnswerIcmpv4Error(p('10.0.1.7', '10.0.2.9'))).toBe(true);
    expect(mayAnswerIcmpv4Error(p('10.0.1.7', '10.0.2.9', { mf: true }))).toBe(true);
    for (const type of [0, 8, 13, 42])
      expect(
        mayAnswerIcmpv4Error(p('10.0.1.7', '10.0.2.9', { protocol: IPPROTO_ICMP, payload: icmp(type) })),
      ).toBe(true);
  });

  it.each([3, 4, 5, 11, 12])('never answers an ICMP error of type %i', (type) => {
    expect(
      mayAnswerIcmpv4Error(p('10.0.1.7', '10.0.2.9', { protocol: IPPROTO_ICMP, payload: icmp(type) })),
    ).toBe(false);
  });

  it.each([
    ['a non-first fragment', p('10.0.1.7', '10.0.2.9', { fragOffset: 8 })],
    ['a limited broadcast', p('10.0.1.7', '255.255.255.255')],
    ['a multicast destination', p('10.0.1.7', '224.0.0.251')],
    ['a source on network 0', p('0.0.0.0', '10.0.2.9')],
    ['a loopback source', p('127.0.0.1', '10.0.2.9')],
    ['a multicast source', p('239.1.2.3', '10.0.2.9')],
    ['a class E source', p('250.1.2.3', '10.0.2.9')],
    ['a broadcast source', p('255.255.255.255', '10.0.2.9')],
    ['a truncated header', p('10.0.1.7', '10.0.2.9').subarray(0, 19)],
    ['another version', Object.assign(p('10.0.1.7', '10.0.2.9'), { 0: 0x65 })],
  ])('never answers %s', (_name, packet) => {
    expect(mayAnswerIcmpv4Error(packet)).toBe(false);
  });

  it('never answers what the caller knows was a broadcast (link layer or a directed one)', () => {
    expect(mayAnswerIcmpv4Error(p('10.0.1.7', '10.0.2.9'), { linkBroadcast: true })).toBe(false);
    expect(mayAnswerIcmpv4Error(p('10.0.1.7', '10.0.2.255'), { dstBroadcast: true })).toBe(false);
    expect(mayAnswerIcmpv4Error(p('10.0.1.7', '10.0.2.255'), {})).toBe(true);
  });

  it('is total on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (b, lb) => {
        expect(typeof mayAnswerIcmpv4Error(b, { linkBroadcast: lb })).toBe('boolean');
      }),
      propOptions(),
    );
  });
});

describe('mayAnswerIcmpv6Error (RFC 4443 §2.4(e))', () => {
  const TOO_BIG: Icmpv6Repr = { kind: 'packet-too-big', mtu: 1280 };
  const UNREACH: Icmpv6Repr = { kind: 'dest-unreachable', code: 0 };
  const OPTION: Icmpv6Repr = { kind: 'parameter-problem', code: 2, pointer: 42 };
  const HEADER: Icmpv6Repr = { kind: 'parameter-problem', code: 0, pointer: 4 };
  const p = (src: string, dst: string, nextHeader = IPPROTO_UDP, payload = new Uint8Array(8)) =>
    ipv6Packet({ src: v6(src), dst: v6(dst), nextHeader, payload });
  const icmp = (type: number) => Uint8Array.of(type, 0, 0, 0, 0, 0, 0, 0);

  it('answers unicast packets, echo requests, and non-first fragments', () => {
    expect(mayAnswerIcmpv6Error(p('2001:db8::1', '2001:db8::2'), UNREACH)).toBe(true);
    expect(mayAnswerIcmpv6Error(p('2001:db8::1', '2001:db8::2', IPPROTO_ICMPV6, icmp(128)), UNREACH)).toBe(
      true,
    );
    const frag = Uint8Array.of(IPPROTO_ICMPV6, 0, 0, 0x09, 0, 0, 0, 1, ...icmp(1));
    expect(mayAnswerIcmpv6Error(p('2001:db8::1', '2001:db8::2', IPPROTO_FRAGMENT, frag), UNREACH)).toBe(true);
  });

  it.each([
    1, 2, 3, 4, 100, 127, 137,
  ])('never answers ICMPv6 type %i (errors and Redirect), even behind extension headers', (type) => {
    expect(mayAnswerIcmpv6Error(p('2001:db8::1', '2001:db8::2', IPPROTO_ICMPV6, icmp(type)), TOO_BIG)).toBe(
      false,
    );
    const dst = Uint8Array.of(IPPROTO_ICMPV6, 0, 1, 4, 0, 0, 0, 0, ...icmp(type));
    expect(mayAnswerIcmpv6Error(p('2001:db8::1', '2001:db8::2', IPPROTO_DSTOPTS, dst), UNREACH)).toBe(false);
    // An authentication header: 4 * (1 + 2) = 12 octets.
    const ah = Uint8Array.of(IPPROTO_ICMPV6, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, ...icmp(type));
    expect(mayAnswerIcmpv6Error(p('2001:db8::1', '2001:db8::2', IPPROTO_AH, ah), UNREACH)).toBe(false);
    const firstFrag = Uint8Array.of(IPPROTO_ICMPV6, 0, 0, 0x01, 0, 0, 0, 1, ...icmp(type));
    expect(mayAnswerIcmpv6Error(p('2001:db8::1', '2001:db8::2', IPPROTO_FRAGMENT, firstFrag), UNREACH)).toBe(
      false,
    );
  });

  it('does not answer an ICMPv6 message too short to show its type', () => {
    expect(
      mayAnswerIcmpv6Error(p('2001:db8::1', '2001:db8::2', IPPROTO_ICMPV6, new Uint8Array(0)), UNREACH),
    ).toBe(false);
  });

  it('answers a multicast destination or link-layer multicast only with Packet Too Big or Parameter Problem code 2', () => {
    const group = p('2001:db8::1', 'ff05::1:3');
    expect(mayAnswerIcmpv6Error(group, UNREACH)).toBe(false);
    expect(mayAnswerIcmpv6Error(group, HEADER)).toBe(false);
    expect(mayAnswerIcmpv6Error(group, TOO_BIG)).toBe(true);
    expect(mayAnswerIcmpv6Error(group, OPTION)).toBe(true);
    const unicast = p('2001:db8::1', '2001:db8::2');
    expect(mayAnswerIcmpv6Error(unicast, UNREACH, true)).toBe(false);
    expect(mayAnswerIcmpv6Error(unicast, TOO_BIG, true)).toBe(true);
  });

  it.each([
    '::',
    '::1',
    'ff02::1',
  ])('never answers a packet from %s (e.6), not even Packet Too Big', (src) => {
    expect(mayAnswerIcmpv6Error(p(src, '2001:db8::2'), TOO_BIG)).toBe(false);
  });

  it('is total on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (b, lm) => {
        if (b.length > 0) b[0] = 0x60 | (b[0]! & 0x0f);
        expect(typeof mayAnswerIcmpv6Error(b, UNREACH, lm)).toBe('boolean');
      }),
      propOptions(),
    );
  });
});
