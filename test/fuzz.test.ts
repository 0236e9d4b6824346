/**
 * Frame fuzzing: every parser and formatFrame on random bytes and on valid frames with a few bytes
 * overwritten, cut or extended (test/support/props.ts `mutated`). The valid frames are built whole,
 * Ethernet + IP + upper layer with correct checksums, from the arbitraries in test/<proto>/arb.ts,
 * so mutations reach the deep parsers instead of dying at the first length check.
 *
 * A parser passes when it returns, on every input, either a value or one of its own errors
 * (`{layer, kind, severity}`); formatFrame when it returns a line. Nothing may throw.
 *
 *   npx vitest run test/fuzz.test.ts                               2,000 inputs per target (CI)
 *   OASIS_PROP_RUNS=1000000 npx vitest run test/fuzz.test.ts       the long run
 *   OASIS_PROP_SEED=<seed> ...                                     replays a reported failure
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Ipv4Addr } from '../src/addr.js';
import { parseArp } from '../src/arp/wire.js';
import type { PseudoHeader } from '../src/checksum/index.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  type EthernetRepr,
  emitEthernet,
  ethernetHeaderLen,
  parseEthernet,
} from '../src/ethernet/wire.js';
import { formatFrame } from '../src/format.js';
import { IPPROTO_FRAGMENT, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../src/ipproto.js';
import { emitIcmpv4, type Icmpv4Repr, parseIcmpv4 } from '../src/ipv4/icmp.js';
import { emitIpv4, type Ipv4Repr, ipv4HeaderLen, parseIpv4 } from '../src/ipv4/wire.js';
import { emitFragmentHeader, type ExtHeader, extHeaderType, walkExtHeaders } from '../src/ipv6/ext.js';
import {
  emitIcmpv6,
  emitNdpOptions,
  type Icmpv6Repr,
  icmpv6HeaderLen,
  type Ipv6PseudoHeader,
  ndpOptionsLen,
  parseIcmpv6,
  parseNdpOptions,
} from '../src/ipv6/icmp.js';
import { emitIpv6, IPV6_HEADER_LEN, type Ipv6Repr, parseIpv6 } from '../src/ipv6/wire.js';
import type { Layer, Result, WireError } from '../src/result.js';
import { emitTcp, parseTcp, tcpHeaderLen } from '../src/tcp/wire.js';
import { emitUdp, parseUdp } from '../src/udp/wire.js';
import { arpPacketArb } from './arp/arb.js';
import { ethernetReprArb } from './ethernet/arb.js';
import {
  buildExtChain,
  extChainArb,
  icmpv6PayloadArb,
  icmpv6ReprArb,
  ipv6PseudoHeaderArb,
  ipv6ReprArb,
  ndpOptionArb,
} from './ipv6/arb.js';
import { icmpv4MessageArb, ipv4ReprArb } from './ipv4/arb.js';
import { mutated, propOptions } from './support/props.js';
import { tcpReprArb } from './tcp/arb.js';
import { pseudoHeaderArb, udpReprArb } from './udp/arb.js';

/** Inputs per target by default; OASIS_PROP_RUNS raises it. */
const RUNS = 2000;
const options = propOptions(RUNS);
/** vitest's per-test limit, scaled for the long run (about 0.5 ms per input, with a wide margin). */
const TIMEOUT = 30_000 + options.numRuns! * 2;

// ---------------------------------------------------------------------------------------------------
// Valid frames, built inside-out as the stack builds them.

/** An upper-layer packet whose checksum needs the addresses: built once the IP header is known. */
interface Upper {
  readonly protocol: number;
  build(ph: PseudoHeader): Uint8Array;
}

const dataArb = fc.uint8Array({ maxLength: 200 });

const udpUpperArb: fc.Arbitrary<Upper> = fc.tuple(udpReprArb, dataArb).map(([repr, data]) => ({
  protocol: IPPROTO_UDP,
  build: (ph) => {
    const b = new Uint8Array(8 + data.length);
    b.set(data, 8);
    emitUdp(repr, b, ph);
    return b;
  },
}));

const tcpUpperArb: fc.Arbitrary<Upper> = fc.tuple(tcpReprArb, dataArb).map(([repr, data]) => ({
  protocol: IPPROTO_TCP,
  build: (ph) => {
    const hl = tcpHeaderLen(repr);
    const b = new Uint8Array(hl + data.length);
    b.set(data, hl);
    emitTcp(repr, b, ph);
    return b;
  },
}));

/** Another protocol's bytes: not one formatFrame decodes, nor an IPv6 extension header. */
const rawUpperArb: fc.Arbitrary<Upper> = fc
  .tuple(
    fc.integer({ min: 0, max: 255 }).filter((p) => ![0, 1, 6, 17, 43, 44, 58, 60].includes(p)),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([protocol, data]) => ({ protocol, build: () => data }));

const icmpv6UpperArb: fc.Arbitrary<Upper> = icmpv6ReprArb
  .chain((repr) => fc.tuple(fc.constant(repr), icmpv6PayloadArb(repr)))
  .map(([repr, payload]) => ({ protocol: IPPROTO_ICMPV6, build: (ph) => icmpv6Message(repr, payload, ph) }));

function icmpv6Message(repr: Icmpv6Repr, payload: Uint8Array, ph: PseudoHeader): Uint8Array {
  const hl = icmpv6HeaderLen(repr);
  const b = new Uint8Array(hl + payload.length);
  b.set(payload, hl);
  if (ph.version !== 6) throw new Error('ICMPv6 over IPv4');
  emitIcmpv6(repr, b, ph);
  return b;
}

function ipv4Datagram(repr: Ipv4Repr, upper: Upper): Uint8Array {
  const payload = upper.build({ version: 4, src: repr.src, dst: repr.dst });
  const ip: Ipv4Repr = { ...repr, protocol: upper.protocol };
  const hl = ipv4HeaderLen(ip);
  const b = new Uint8Array(hl + payload.length);
  b.set(payload, hl);
  emitIpv4(ip, b);
  return b;
}

/** Mostly whole datagrams (so the upper layer is reached), sometimes a fragment. */
const ipv4HeaderArb: fc.Arbitrary<Ipv4Repr> = fc
  .tuple(ipv4ReprArb, fc.integer({ min: 0, max: 9 }))
  .map(([r, dice]) => (dice === 0 ? r : { ...r, moreFragments: false, fragOffset: 0 }));

/** An IPv4 datagram carrying UDP, TCP, an ICMP message or other bytes. */
const ipv4InnerArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    ipv4HeaderArb,
    fc.oneof(
      { arbitrary: udpUpperArb, weight: 2 },
      { arbitrary: tcpUpperArb, weight: 3 },
      { arbitrary: rawUpperArb, weight: 1 },
      {
        arbitrary: icmpv4MessageArb.map((m): Upper => ({ protocol: IPPROTO_ICMP, build: () => m })),
        weight: 2,
      },
    ),
  )
  .map(([repr, upper]) => ipv4Datagram(repr, upper));

/** An ICMPv4 error quoting (the start of) a valid datagram, as RFC 792 and RFC 1812 §4.3.2.3 say. */
const icmpv4ErrorArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.oneof(
      fc.record({
        type: fc.constant('dest-unreachable' as const),
        code: fc.integer({ min: 0, max: 15 }),
        nextHopMtu: fc.integer({ min: 0, max: 0xffff }),
      }),
      fc.record({ type: fc.constant('time-exceeded' as const), code: fc.integer({ min: 0, max: 1 }) }),
      fc.record({
        type: fc.constant('parameter-problem' as const),
        code: fc.integer({ min: 0, max: 2 }),
        pointer: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({
        type: fc.constant('redirect' as const),
        code: fc.integer({ min: 0, max: 3 }),
        gateway: fc.nat({ max: 0xffff_ffff }).map((n) => n as Ipv4Addr),
      }),
    ),
    ipv4InnerArb,
    fc.integer({ min: 0, max: 600 }),
  )
  .map(([repr, inner, keep]) => {
    const quote = inner.subarray(0, Math.max(28, keep));
    const b = new Uint8Array(8 + quote.length);
    b.set(quote, 8);
    emitIcmpv4(
      repr.type === 'dest-unreachable' && repr.code !== 4 ? { ...repr, nextHopMtu: 0 } : (repr as Icmpv4Repr),
      b,
    );
    return b;
  });

const ipv4PacketArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: ipv4InnerArb, weight: 3 },
  {
    arbitrary: fc
      .tuple(ipv4HeaderArb, icmpv4ErrorArb)
      .map(([repr, m]) => ipv4Datagram(repr, { protocol: IPPROTO_ICMP, build: () => m })),
    weight: 1,
  },
);

/** An IPv6 packet: fixed header, an accepted extension chain, then `upper` (or a fragment of it). */
function ipv6Packet(
  repr: Ipv6Repr,
  headers: readonly ExtHeader[],
  upper: Upper,
  fragment: { offset: number; more: boolean } | undefined,
): Uint8Array {
  const ph: PseudoHeader = { version: 6, src: repr.src, dst: repr.dst };
  let payload = upper.build(ph);
  let chain = [...headers];
  let last = upper.protocol;
  if (fragment !== undefined && (fragment.offset !== 0 || fragment.more)) {
    // A real fragment: a fragment header last, then (a piece of) the upper layer. RFC 8200 §4.5:
    // all but the last fragment hold a multiple of 8 bytes, so pad those with zeros.
    const dataLen = fragment.more ? Math.max(8, (payload.length + 7) & ~7) : payload.length;
    const f = new Uint8Array(8 + dataLen);
    emitFragmentHeader(
      { nextHeader: upper.protocol, fragOffset: fragment.offset, moreFragments: fragment.more, ident: 7 },
      f,
    );
    f.set(payload, 8);
    payload = f;
    last = IPPROTO_FRAGMENT;
  }
  // Relink the chain so its last Next Header names what follows it.
  chain = chain.map((h, i) => (i === chain.length - 1 ? { ...h, nextHeader: last } : h));
  const body = buildExtChain(chain, payload);
  const first = chain[0] === undefined ? last : extHeaderType(chain[0]);
  const b = new Uint8Array(IPV6_HEADER_LEN + body.length);
  b.set(body, IPV6_HEADER_LEN);
  emitIpv6({ ...repr, nextHeader: first }, b);
  return b;
}

const fragmentArb = fc.option(
  fc.record({ offset: fc.integer({ min: 0, max: 200 }).map((n) => n * 8), more: fc.boolean() }),
  { nil: undefined, freq: 5 },
);

/** Half the packets have no extension header at all, so the upper layer is reached more often. */
const extHeadersArb: fc.Arbitrary<readonly ExtHeader[]> = fc.oneof(
  fc.constant([]),
  extChainArb.map((c) => c.headers),
);

const ipv6InnerArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    ipv6ReprArb,
    extHeadersArb,
    fc.oneof(
      { arbitrary: udpUpperArb, weight: 2 },
      { arbitrary: tcpUpperArb, weight: 3 },
      { arbitrary: icmpv6UpperArb, weight: 3 },
      { arbitrary: rawUpperArb, weight: 1 },
    ),
    fragmentArb,
  )
  .map(([repr, headers, upper, frag]) => ipv6Packet(repr, headers, upper, frag));

/** An ICMPv6 error quoting (the start of) a valid packet (RFC 4443 §2.4(c)). */
const icmpv6ErrorUpperArb: fc.Arbitrary<Upper> = fc
  .tuple(
    fc.oneof(
      fc.record({ kind: fc.constant('dest-unreachable' as const), code: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('packet-too-big' as const), mtu: fc.integer({ min: 1280, max: 9000 }) }),
      fc.record({ kind: fc.constant('time-exceeded' as const), code: fc.integer({ min: 0, max: 1 }) }),
      fc.record({
        kind: fc.constant('parameter-problem' as const),
        code: fc.integer({ min: 0, max: 3 }),
        pointer: fc.integer({ min: 0, max: 200 }),
      }),
    ),
    ipv6InnerArb,
    fc.integer({ min: 0, max: 1300 }),
  )
  .map(([repr, inner, keep]) => {
    const quote = inner.subarray(0, Math.max(48, keep));
    return { protocol: IPPROTO_ICMPV6, build: (ph) => icmpv6Message(repr as Icmpv6Repr, quote, ph) };
  });

const ipv6PacketArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { arbitrary: ipv6InnerArb, weight: 3 },
  {
    arbitrary: fc
      .tuple(ipv6ReprArb, extHeadersArb, icmpv6ErrorUpperArb)
      .map(([repr, headers, upper]) => ipv6Packet(repr, headers, upper, undefined)),
    weight: 1,
  },
);

function ethernetFrame(eth: EthernetRepr, ethertype: number, payload: Uint8Array, padTo: number): Uint8Array {
  const repr = { ...eth, ethertype };
  const hl = ethernetHeaderLen(repr);
  const b = new Uint8Array(Math.max(hl + payload.length, padTo));
  b.set(payload, hl);
  emitEthernet(repr, b);
  return b;
}

/** Whole frames: ARP, IPv4, IPv6 or another EtherType, sometimes padded to 60 bytes as on a wire. */
const frameArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    ethernetReprArb,
    fc.oneof(
      { arbitrary: arpPacketArb.map((p) => [ETHERTYPE_ARP, p] as const), weight: 1 },
      { arbitrary: ipv4PacketArb.map((p) => [ETHERTYPE_IPV4, p] as const), weight: 4 },
      { arbitrary: ipv6PacketArb.map((p) => [ETHERTYPE_IPV6, p] as const), weight: 4 },
      {
        arbitrary: fc
          .tuple(ethernetReprArb, fc.uint8Array({ maxLength: 100 }))
          .filter(([e]) => ![ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6].includes(e.ethertype))
          .map(([e, p]) => [e.ethertype, p] as const),
        weight: 1,
      },
    ),
    fc.constantFrom(0, 60),
  )
  .map(([eth, [ethertype, payload], padTo]) => ethernetFrame(eth, ethertype, payload, padTo));

// ---------------------------------------------------------------------------------------------------

const LAYERS: readonly Layer[] = ['ethernet', 'arp', 'ipv4', 'icmpv4', 'ipv6', 'icmpv6', 'ndp', 'udp', 'tcp'];

/** A parse result is a value or the parser's own error, never anything else. */
function expectResult(r: Result<unknown, WireError>): void {
  if (r.ok) return;
  expect(LAYERS).toContain(r.error.layer);
  expect(r.error.kind).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  expect(['malformed', 'unsupported']).toContain(r.error.severity);
}

/**
 * `mutated` from test/support/props.ts picks edit positions and cuts with `fc.nat()`, which favours
 * small numbers: the Ethernet and IP headers. This one spreads one to four byte edits (and sometimes a
 * cut or an extension) uniformly over the frame, so the checksums and the deep layers are hit too.
 */
function mutatedAnywhere(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return valid.chain((frame) => {
    const at = fc.integer({ min: 0, max: Math.max(0, frame.length - 1) });
    return fc
      .tuple(
        fc.array(fc.tuple(at, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.oneof(fc.constant(undefined), at, fc.uint8Array({ minLength: 1, maxLength: 16 })),
      )
      .map(([edits, end]) => {
        const out = frame.slice();
        for (const [i, v] of edits) if (i < out.length) out[i] = v;
        if (end === undefined) return out;
        if (typeof end === 'number') return out.subarray(0, end);
        const longer = new Uint8Array(out.length + end.length);
        longer.set(out);
        longer.set(end, out.length);
        return longer;
      });
  });
}

/** What every target is fed: random bytes and valid input mutated both ways. */
function fuzzed(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(mutated(valid), mutatedAnywhere(valid));
}

const checksumArb = fc.constantFrom('verify' as const, 'ignore' as const);

/** A valid segment or datagram with its pseudo-header, as bytes mutated afterwards. */
function withPseudoHeader(upper: fc.Arbitrary<Upper>): fc.Arbitrary<{ ph: PseudoHeader; bytes: Uint8Array }> {
  return fc.tuple(pseudoHeaderArb, upper).map(([ph, u]) => ({ ph, bytes: u.build(ph) }));
}

function mutatedWith<T extends { bytes: Uint8Array }>(valid: fc.Arbitrary<T>): fc.Arbitrary<[T, Uint8Array]> {
  return valid.chain((v) => fc.tuple(fc.constant(v), fuzzed(fc.constant(v.bytes))));
}

describe('every parser is total on random and mutated input', () => {
  it(
    'parseEthernet',
    () => {
      fc.assert(
        fc.property(fuzzed(frameArb), (b) => expectResult(parseEthernet(b))),
        options,
      );
    },
    TIMEOUT,
  );

  it(
    'parseArp',
    () => {
      fc.assert(
        fc.property(fuzzed(arpPacketArb), (b) => expectResult(parseArp(b))),
        options,
      );
    },
    TIMEOUT,
  );

  it(
    'parseIpv4',
    () => {
      fc.assert(
        fc.property(fuzzed(ipv4PacketArb), checksumArb, (b, checksum) =>
          expectResult(parseIpv4(b, { checksum })),
        ),
        options,
      );
    },
    TIMEOUT,
  );

  it(
    'parseIcmpv4',
    () => {
      fc.assert(
        fc.property(fuzzed(fc.oneof(icmpv4MessageArb, icmpv4ErrorArb)), checksumArb, (b, checksum) =>
          expectResult(parseIcmpv4(b, { checksum })),
        ),
        options,
      );
    },
    TIMEOUT,
  );

  it(
    'parseIpv6',
    () => {
      fc.assert(
        fc.property(fuzzed(ipv6PacketArb), (b) => expectResult(parseIpv6(b))),
        options,
      );
    },
    TIMEOUT,
  );

  it(
    'walkExtHeaders',
    () => {
      // The walk's input is a packet's payload and its fixed header's Next Header.
      const arb = ipv6PacketArb.map((p) => ({ nh: p[6]!, bytes: p.subarray(IPV6_HEADER_LEN) }));
      fc.assert(
        fc.property(mutatedWith(arb), fc.boolean(), ([v, b], dstMulticast) => {
          const r = walkExtHeaders(v.nh, b, { dstMulticast });
          expectResult(r);
          if (r.ok) expect(r.value.offset - IPV6_HEADER_LEN + r.value.payload.length).toBe(b.length);
        }),
        options,
      );
    },
    TIMEOUT,
  );

  it(
    'parseIcmpv6',
    () => {
      const arb = fc
        .tuple(ipv6PseudoHeaderArb, fc.oneof(icmpv6UpperArb, icmpv6ErrorUpperArb))
        .map(([ph, u]) => ({ ph, bytes: u.build(ph) }));
      fc.assert(
        fc.property(mutatedWith(arb), checksumArb, ([v, b], checksum) =>
          expectResult(parseIcmpv6(b, v.ph as Ipv6PseudoHeader, { checksum })),
        ),
        options,
      );
    },
    TIMEOUT,
  );

  it(
    'parseNdpOptions',
    () => {
      const arb = fc.array(ndpOptionArb, { maxLength: 5 }).map((opts) => {
        const b = new Uint8Array(ndpOptionsLen(opts));
        emitNdpOptions(opts, b);
        return b;
      });
      fc.assert(
        fc.property(fuzzed(arb), (b) => expectResult(parseNdpOptions(b))),
        options,
      );
    },
    TIMEOUT,
  );

  it(
    'parseUdp',
    () => {
      fc.assert(
        fc.property(mutatedWith(withPseudoHeader(udpUpperArb)), checksumArb, ([v, b], checksum) =>
          expectResult(parseUdp(b, v.ph, { checksum })),
        ),
        options,
      );
    },
    TIMEOUT,
  );

  it(
    'parseTcp',
    () => {
      fc.assert(
        fc.property(mutatedWith(withPseudoHeader(tcpUpperArb)), checksumArb, ([v, b], checksum) =>
          expectResult(parseTcp(b, v.ph, { checksum })),
        ),
        options,
      );
    },
    TIMEOUT,
  );
});

describe('formatFrame', () => {
  it(
    'reads every valid frame without complaint',
    () => {
      // Fragments and No Next Header aside, a valid frame has nothing to report.
      fc.assert(
        fc.property(frameArb, (b) => {
          const line = formatFrame(b);
          expect(line).not.toMatch(/malformed|bad .* cksum|undefined|NaN|\[object/);
        }),
        propOptions(RUNS / 4),
      );
    },
    TIMEOUT,
  );

  it(
    'is total on random and mutated frames',
    () => {
      fc.assert(
        fc.property(fuzzed(frameArb), (b) => {
          const line = formatFrame(b);
          expect(typeof line).toBe('string');
          expect(line.length).toBeGreaterThan(0);
          expect(line).not.toMatch(/undefined|NaN|\[object|\n/);
        }),
        options,
      );
    },
    TIMEOUT,
  );
});
