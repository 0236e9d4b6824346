import fc from 'fast-check';
import type { Ipv4Addr } from '../../src/addr.js';
import { type Icmpv4Repr, emitIcmpv4, icmpv4HeaderLen } from '../../src/ipv4/icmp.js';
import { emitIpv4, type Ipv4Repr, ipv4HeaderLen } from '../../src/ipv4/wire.js';

export const ipv4AddrArb = fc.integer({ min: 0, max: 0xffff_ffff }).map((n) => n as Ipv4Addr);

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });

/** IPv4 option bytes of any length up to 40 (emit pads them). */
export const ipv4OptionsArb = fc.uint8Array({ maxLength: 40 });

/** Reprs that round-trip exactly: options already a multiple of 4 bytes long. */
export const ipv4ReprArb: fc.Arbitrary<Ipv4Repr> = fc.record({
  src: ipv4AddrArb,
  dst: ipv4AddrArb,
  protocol: u8,
  ttl: u8,
  dscp: fc.integer({ min: 0, max: 63 }),
  ecn: fc.integer({ min: 0, max: 3 }),
  ident: u16,
  dontFragment: fc.boolean(),
  moreFragments: fc.boolean(),
  fragOffset: fc.integer({ min: 0, max: 0x1fff }).map((n) => n * 8),
  options: fc
    .integer({ min: 0, max: 10 })
    .chain((words) => fc.uint8Array({ minLength: 4 * words, maxLength: 4 * words })),
});

/** A whole datagram (header, checksum filled, and payload) for frame-level fuzzing. */
export const ipv4PacketArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(ipv4ReprArb, fc.uint8Array({ maxLength: 64 }))
  .map(([repr, payload]) => {
    const hl = ipv4HeaderLen(repr);
    const buf = new Uint8Array(hl + payload.length);
    buf.set(payload, hl);
    emitIpv4(repr, buf);
    return buf;
  });

/** Types that parse as a named variant; `other` avoids them so the round trip is exact. */
const NAMED_TYPES = [0, 3, 5, 8, 11, 12];

export const icmpv4ReprArb: fc.Arbitrary<Icmpv4Repr> = fc.oneof(
  fc.record({ type: fc.constantFrom('echo-request' as const, 'echo-reply' as const), ident: u16, seq: u16 }),
  fc
    .tuple(u8, u16)
    .map(([code, mtu]): Icmpv4Repr => ({ type: 'dest-unreachable', code, nextHopMtu: code === 4 ? mtu : 0 })),
  fc.record({ type: fc.constant('time-exceeded' as const), code: u8 }),
  fc.record({ type: fc.constant('parameter-problem' as const), code: u8, pointer: u8 }),
  fc.record({ type: fc.constant('redirect' as const), code: u8, gateway: ipv4AddrArb }),
  fc.record({
    type: fc.constant('other' as const),
    icmpType: u8.filter((t) => !NAMED_TYPES.includes(t)),
    code: u8,
    rest: u32,
  }),
);

/** A whole ICMPv4 message with its checksum filled. */
export const icmpv4MessageArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(icmpv4ReprArb, fc.uint8Array({ maxLength: 96 }))
  .map(([repr, payload]) => {
    const buf = new Uint8Array(icmpv4HeaderLen(repr) + payload.length);
    buf.set(payload, icmpv4HeaderLen(repr));
    emitIcmpv4(repr, buf);
    return buf;
  });
