/**
 * fast-check arbitraries for IPv6, its extension headers, ICMPv6 and NDP options, and builders of
 * valid packets from them (for round trips here and frame fuzzing elsewhere).
 */
import fc from 'fast-check';
import type { Ipv6Addr } from '../../src/addr.js';
import { setU16 } from '../../src/bytes.js';
import {
  type ExtHeader,
  emitExtHeader,
  extHeaderLen,
  extHeaderType,
  type Ipv6Option,
  OPTION_ROUTER_ALERT,
} from '../../src/ipv6/ext.js';
import {
  emitIcmpv6,
  type Icmpv6Repr,
  icmpv6HeaderLen,
  type Ipv6PseudoHeader,
  type NdpOption,
} from '../../src/ipv6/icmp.js';
import { emitIpv6, IPV6_HEADER_LEN, type Ipv6Repr } from '../../src/ipv6/wire.js';
import { macArb } from '../ethernet/arb.js';

export const ipv6AddrArb: fc.Arbitrary<Ipv6Addr> = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((a) => a as Ipv6Addr);

export const ipv6ReprArb: fc.Arbitrary<Ipv6Repr> = fc.record({
  trafficClass: fc.integer({ min: 0, max: 255 }),
  flowLabel: fc.integer({ min: 0, max: 0xf_ffff }),
  nextHeader: fc.integer({ min: 0, max: 255 }),
  hopLimit: fc.integer({ min: 0, max: 255 }),
  src: ipv6AddrArb,
  dst: ipv6AddrArb,
});

const u32Arb = fc.integer({ min: 0, max: 0xffff_ffff });
const u16Arb = fc.integer({ min: 0, max: 0xffff });

/** Options the walk keeps: Router Alert, and unrecognised types whose action is "skip" (00xxxxxx). */
export const ipv6OptionArb: fc.Arbitrary<Ipv6Option> = fc.oneof(
  u16Arb.map((v) => {
    const data = new Uint8Array(2);
    setU16(data, 0, v);
    return { type: OPTION_ROUTER_ALERT, data };
  }),
  fc.record({
    type: fc.integer({ min: 2, max: 63 }).filter((t) => t !== OPTION_ROUTER_ALERT),
    data: fc.uint8Array({ maxLength: 12 }),
  }),
);

/** Upper-layer values that end a walk: TCP, UDP, ICMPv6, No Next Header, or something unknown. */
export const upperLayerArb: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(6, 17, 58, 59),
  fc.integer({ min: 1, max: 255 }).filter((n) => n !== 43 && n !== 44 && n !== 60),
);

type HeaderShape =
  | { kind: 'destination-options'; options: Ipv6Option[] }
  | { kind: 'routing'; routingType: number; data: Uint8Array }
  | { kind: 'fragment'; ident: number };

const middleHeaderArb: fc.Arbitrary<HeaderShape> = fc.oneof(
  fc.record({
    kind: fc.constant('destination-options' as const),
    options: fc.array(ipv6OptionArb, { maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant('routing' as const),
    routingType: fc.integer({ min: 0, max: 255 }),
    data: fc
      .integer({ min: 0, max: 3 })
      .chain((k) => fc.uint8Array({ minLength: 8 * k + 4, maxLength: 8 * k + 4 })),
  }),
  fc.record({ kind: fc.constant('fragment' as const), ident: u32Arb }),
);

/**
 * A chain the walk accepts whole: an optional hop-by-hop header first, then destination options,
 * routing headers with Segments Left 0 and atomic fragments, each Next Header naming the next one.
 */
export const extChainArb: fc.Arbitrary<{ headers: ExtHeader[]; upper: number }> = fc
  .tuple(
    fc.option(fc.array(ipv6OptionArb, { maxLength: 3 }), { nil: undefined }),
    fc.array(middleHeaderArb, { maxLength: 4 }),
    upperLayerArb,
  )
  .map(([hbh, middle, upper]) => {
    const shapes: (HeaderShape | { kind: 'hop-by-hop'; options: Ipv6Option[] })[] = [
      ...(hbh === undefined ? [] : [{ kind: 'hop-by-hop' as const, options: hbh }]),
      ...middle,
    ];
    const headers: ExtHeader[] = [];
    for (let i = shapes.length - 1; i >= 0; i--) {
      const s = shapes[i]!;
      const nextHeader = headers.length === 0 ? upper : extHeaderType(headers[0]!);
      const h: ExtHeader =
        s.kind === 'routing'
          ? { kind: 'routing', nextHeader, routingType: s.routingType, segmentsLeft: 0, data: s.data }
          : s.kind === 'fragment'
            ? { kind: 'fragment', nextHeader, fragOffset: 0, moreFragments: false, ident: s.ident }
            : { kind: s.kind, nextHeader, options: s.options };
      headers.unshift(h);
    }
    return { headers, upper };
  });

/** Emits `headers` followed by `payload`; the first header's type is `extHeaderType(headers[0])`. */
export function buildExtChain(headers: readonly ExtHeader[], payload: Uint8Array): Uint8Array {
  let len = payload.length;
  for (const h of headers) len += extHeaderLen(h);
  const out = new Uint8Array(len);
  let off = 0;
  for (const h of headers) off += emitExtHeader(h, out.subarray(off));
  out.set(payload, off);
  return out;
}

/** A whole IPv6 packet: fixed header, a chain the walk accepts, and an upper-layer payload. */
export const ipv6PacketArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(ipv6ReprArb, extChainArb, fc.uint8Array({ minLength: 1, maxLength: 64 }))
  .map(([repr, chain, payload]) => {
    const body = buildExtChain(chain.headers, payload);
    const first = chain.headers[0];
    const buf = new Uint8Array(IPV6_HEADER_LEN + body.length);
    buf.set(body, IPV6_HEADER_LEN);
    emitIpv6({ ...repr, nextHeader: first === undefined ? chain.upper : extHeaderType(first) }, buf);
    return buf;
  });

export const ndpOptionArb: fc.Arbitrary<NdpOption> = fc.oneof(
  fc.record({ kind: fc.constant('source-link-addr' as const), mac: macArb }),
  fc.record({ kind: fc.constant('target-link-addr' as const), mac: macArb }),
  fc.record({
    kind: fc.constant('prefix-info' as const),
    prefixLen: fc.integer({ min: 0, max: 255 }),
    onLink: fc.boolean(),
    autonomous: fc.boolean(),
    validLifetime: u32Arb,
    preferredLifetime: u32Arb,
    prefix: ipv6AddrArb,
  }),
  fc.record({ kind: fc.constant('mtu' as const), mtu: u32Arb }),
  fc.record({
    kind: fc.constant('redirected-header' as const),
    data: fc.integer({ min: 0, max: 6 }).chain((k) => fc.uint8Array({ minLength: 8 * k, maxLength: 8 * k })),
  }),
  fc.record({
    kind: fc.constant('unknown' as const),
    type: fc.integer({ min: 0, max: 255 }).filter((t) => (t < 1 || t > 5) && t !== 25),
    data: fc
      .integer({ min: 1, max: 3 })
      .chain((k) => fc.uint8Array({ minLength: 8 * k - 2, maxLength: 8 * k - 2 })),
  }),
);

const ndpOptionsArb = fc.array(ndpOptionArb, { maxLength: 4 });
const codeArb = fc.integer({ min: 0, max: 255 });
/** Types that parse as something other than `other` when their code is 0. */
const MODELLED = new Set([1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137]);

export const icmpv6ReprArb: fc.Arbitrary<Icmpv6Repr> = fc.oneof(
  fc.record({ kind: fc.constant('dest-unreachable' as const), code: codeArb }),
  fc.record({ kind: fc.constant('packet-too-big' as const), mtu: u32Arb }),
  fc.record({ kind: fc.constant('time-exceeded' as const), code: codeArb }),
  fc.record({ kind: fc.constant('parameter-problem' as const), code: codeArb, pointer: u32Arb }),
  fc.record({
    kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const),
    ident: u16Arb,
    seq: u16Arb,
  }),
  fc.record({ kind: fc.constant('router-solicitation' as const), options: ndpOptionsArb }),
  fc.record({
    kind: fc.constant('router-advertisement' as const),
    curHopLimit: fc.integer({ min: 0, max: 255 }),
    managed: fc.boolean(),
    other: fc.boolean(),
    routerLifetime: u16Arb,
    reachableTime: u32Arb,
    retransTimer: u32Arb,
    options: ndpOptionsArb,
  }),
  fc.record({
    kind: fc.constant('neighbor-solicitation' as const),
    target: ipv6AddrArb,
    options: ndpOptionsArb,
  }),
  fc.record({
    kind: fc.constant('neighbor-advertisement' as const),
    router: fc.boolean(),
    solicited: fc.boolean(),
    override: fc.boolean(),
    target: ipv6AddrArb,
    options: ndpOptionsArb,
  }),
  fc.record({
    kind: fc.constant('redirect' as const),
    target: ipv6AddrArb,
    destination: ipv6AddrArb,
    options: ndpOptionsArb,
  }),
  fc.oneof(
    fc.record({
      kind: fc.constant('other' as const),
      icmpType: fc.integer({ min: 0, max: 255 }).filter((t) => !MODELLED.has(t)),
      code: codeArb,
    }),
    // ND types with a non-zero code are not ND messages (RFC 4861 §6.1).
    fc.record({
      kind: fc.constant('other' as const),
      icmpType: fc.integer({ min: 133, max: 137 }),
      code: fc.integer({ min: 1, max: 255 }),
    }),
  ),
);

export const ipv6PseudoHeaderArb: fc.Arbitrary<Ipv6PseudoHeader> = fc.record({
  version: fc.constant(6 as const),
  src: ipv6AddrArb,
  dst: ipv6AddrArb,
});

/** Payload a repr can carry: ND messages carry none (trailing bytes would parse as options). */
export function icmpv6PayloadArb(repr: Icmpv6Repr): fc.Arbitrary<Uint8Array> {
  switch (repr.kind) {
    case 'router-solicitation':
    case 'router-advertisement':
    case 'neighbor-solicitation':
    case 'neighbor-advertisement':
    case 'redirect':
      return fc.constant(new Uint8Array(0));
    default:
      return fc.uint8Array({ maxLength: 64 });
  }
}

/** A valid ICMPv6 message with its pseudo-header. */
export const icmpv6MessageArb: fc.Arbitrary<{
  repr: Icmpv6Repr;
  payload: Uint8Array;
  ph: Ipv6PseudoHeader;
  bytes: Uint8Array;
}> = icmpv6ReprArb
  .chain((repr) => fc.tuple(fc.constant(repr), icmpv6PayloadArb(repr), ipv6PseudoHeaderArb))
  .map(([repr, payload, ph]) => {
    const len = icmpv6HeaderLen(repr);
    const bytes = new Uint8Array(len + payload.length);
    bytes.set(payload, len);
    emitIcmpv6(repr, bytes, ph);
    return { repr, payload, ph, bytes };
  });
