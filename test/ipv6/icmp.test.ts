import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Mac, parseIpv6Addr, parseMac } from '../../src/addr.js';
import { fromHex, toHex } from '../../src/bytes.js';
import {
  emitIcmpv6,
  emitNdpOptions,
  type Icmpv6Repr,
  icmpv6HeaderLen,
  isIcmpv6Error,
  type Ipv6PseudoHeader,
  ndpOptionsLen,
  parseIcmpv6,
  parseNdpOptions,
} from '../../src/ipv6/icmp.js';
import { Ipv6Packet } from '../../src/ipv6/wire.js';
import { mutated, propOptions } from '../support/props.js';
import { icmpv6MessageArb, ipv6AddrArb, ipv6PseudoHeaderArb, ndpOptionArb } from './arb.js';

const hex = (...parts: string[]) => fromHex(parts.join(''));
const addr = (s: string) => parseIpv6Addr(s)!;
const mac = (s: string) => parseMac(s)! as Mac;

function pseudoHeader(ipPacket: Uint8Array): Ipv6PseudoHeader {
  const p = Ipv6Packet.check(ipPacket);
  if (!p.ok) throw new Error(p.error.kind);
  return { version: 6, src: p.value.src, dst: p.value.dst };
}

// Captures: Linux 6.18 in two private network namespaces joined by a veth pair (A 02:00:00:00:00:0a
// fd00::1, B 02:00:00:00:00:0b fd00::2, B forwarding), tx/rx checksum offload off, tcpdump -w on the
// veth. IPv6 packets, Ethernet header removed. tshark 4.0 reads every ICMPv6 checksum as good.
// `at` is where the ICMPv6 message starts, `payloadAt` where its payload starts.
interface Golden {
  readonly name: string;
  readonly packet: Uint8Array;
  readonly at: number;
  readonly repr: Icmpv6Repr;
  readonly payloadAt: number;
}

const ECHO_REPLY = hex(
  '6002dd3000403a40fd000000000000000000000000000002fd00000000000000000000000000000181008fbd1ead0001a29b',
  '066b00000000693b050000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30313233',
  '34353637',
);

// Packet Too Big from B routing a 1400-byte packet to a route with mtu 1280: it quotes the packet up
// to 1280 bytes in all; the quoted echo data (0x5a bytes from our crafted packet) is rebuilt here.
const PACKET_TOO_BIG = (() => {
  const head = hex(
    '6006cce404d83a40fd000000000000000000000000000002fd00000000000000000000000000000102000589000005006000',
    '000005503a3ffd000000000000000000000000000001fd00000800000000000000000000000180009a854f41000c',
  );
  const out = new Uint8Array(1280).fill(0x5a);
  out.set(head);
  return out;
})();

const GOLDENS: Golden[] = [
  {
    name: 'echo request (ping -6)',
    packet: hex(
      '600edceb00403a40fd000000000000000000000000000001fd000000000000000000000000000002',
      '800090bd1ead0001a29b066b00000000693b050000000000101112131415161718191a1b1c1d1e1f',
      '202122232425262728292a2b2c2d2e2f3031323334353637',
    ),
    at: 40,
    repr: { kind: 'echo-request', ident: 0x1ead, seq: 1 },
    payloadAt: 48,
  },
  {
    name: 'echo reply',
    packet: ECHO_REPLY,
    at: 40,
    repr: { kind: 'echo-reply', ident: 0x1ead, seq: 1 },
    payloadAt: 48,
  },
  {
    // DAD probe at link up: source ::, and Linux's Enhanced DAD nonce option (RFC 7527, type 14).
    name: 'neighbor solicitation for DAD',
    packet: hex(
      '6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff00000a8700981800000000fe80',
      '000000000000000000fffe00000a0e01b1abee9f36a6',
    ),
    at: 40,
    repr: {
      kind: 'neighbor-solicitation',
      target: addr('fe80::ff:fe00:a'),
      options: [{ kind: 'unknown', type: 14, data: fromHex('b1abee9f36a6') }],
    },
    payloadAt: 72,
  },
  {
    name: 'router solicitation at link up',
    packet: hex(
      '6000000000103afffe80000000000000000000fffe00000aff02000000000000000000000000000285007b1a000000000101',
      '02000000000a',
    ),
    at: 40,
    repr: {
      kind: 'router-solicitation',
      options: [{ kind: 'source-link-addr', mac: mac('02:00:00:00:00:0a') }],
    },
    payloadAt: 56,
  },
  {
    // radvd 2.19 on B: AdvOtherConfigFlag on, lifetime 1800, reachable 30000, retrans 1000, MTU 1480,
    // prefix fd01:2::/64 (on-link, autonomous, valid 86400, preferred 14400).
    name: 'router advertisement (radvd)',
    packet: hex(
      '600d135a00403afffe80000000000000000000fffe00000bff0200000000000000000000000000018600e435404007080000',
      '7530000003e8030440c0000151800000384000000000fd01000200000000000000000000000005010000000005c801010200',
      '0000000b',
    ),
    at: 40,
    repr: {
      kind: 'router-advertisement',
      curHopLimit: 64,
      managed: false,
      other: true,
      routerLifetime: 1800,
      reachableTime: 30000,
      retransTimer: 1000,
      options: [
        {
          kind: 'prefix-info',
          prefixLen: 64,
          onLink: true,
          autonomous: true,
          validLifetime: 86400,
          preferredLifetime: 14400,
          prefix: addr('fd01:2::'),
        },
        { kind: 'mtu', mtu: 1480 },
        { kind: 'source-link-addr', mac: mac('02:00:00:00:00:0b') },
      ],
    },
    payloadAt: 104,
  },
  {
    name: 'neighbor solicitation (address resolution)',
    packet: hex(
      '6000000000203afffd000000000000000000000000000001ff0200000000000000000001ff00000287007d8e00000000fd00',
      '0000000000000000000000000002010102000000000a',
    ),
    at: 40,
    repr: {
      kind: 'neighbor-solicitation',
      target: addr('fd00::2'),
      options: [{ kind: 'source-link-addr', mac: mac('02:00:00:00:00:0a') }],
    },
    payloadAt: 72,
  },
  {
    name: 'neighbor advertisement (router, solicited, override)',
    packet: hex(
      '6000000000203afffd000000000000000000000000000002fd00000000000000000000000000000188009c90e0000000fd00',
      '0000000000000000000000000002020102000000000b',
    ),
    at: 40,
    repr: {
      kind: 'neighbor-advertisement',
      router: true,
      solicited: true,
      override: true,
      target: addr('fd00::2'),
      options: [{ kind: 'target-link-addr', mac: mac('02:00:00:00:00:0b') }],
    },
    payloadAt: 72,
  },
  {
    // B routes fd00:9::/64 back onto the link via A's link-local address and redirects A there.
    name: 'redirect',
    packet: hex(
      '6000000000703afffe80000000000000000000fffe00000bfd0000000000000000000000000000018900531800000000fe80',
      '000000000000000000fffe00000afd000009000000000000000000000001020102000000000a040800000000000060000000',
      '00113a40fd000000000000000000000000000001fd000009000000000000000000000001800006e84f41000d6f617369732d',
      '6578',
    ),
    at: 40,
    repr: {
      kind: 'redirect',
      target: addr('fe80::ff:fe00:a'),
      destination: addr('fd00:9::1'),
      options: [
        { kind: 'target-link-addr', mac: mac('02:00:00:00:00:0a') },
        {
          kind: 'redirected-header',
          data: hex(
            '6000000000113a40fd000000000000000000000000000001fd000009000000000000000000000001',
            '800006e84f41000d6f617369732d6578',
          ),
        },
      ],
    },
    payloadAt: 152,
  },
  {
    name: 'port unreachable (nc -u -6 to a closed port)',
    packet: hex(
      '6002f5a8003b3a40fd000000000000000000000000000002fd0000000000000000000000000000010104943500000000600f',
      'ff0d000b1140fd000000000000000000000000000001fd000000000000000000000000000002ab540009000be80c68690a',
    ),
    at: 40,
    repr: { kind: 'dest-unreachable', code: 4 },
    payloadAt: 48,
  },
  {
    name: 'time exceeded (hop limit 1 through B)',
    packet: hex(
      '60005d6f00413a40fd000000000000000000000000000002fd000000000000000000000000000001030068b8000000006000',
      '000000113a01fd000000000000000000000000000001fd000009000000000000000000000001800006ea4f41000b6f617369',
      '732d657874',
    ),
    at: 40,
    repr: { kind: 'time-exceeded', code: 0 },
    payloadAt: 48,
  },
  {
    name: 'packet too big',
    packet: PACKET_TOO_BIG,
    at: 40,
    repr: { kind: 'packet-too-big', mtu: 1280 },
    payloadAt: 48,
  },
  {
    name: 'parameter problem (unknown option, code 2)',
    packet: hex(
      '600313bf00493a40fd000000000000000000000000000002fd0000000000000000000000000000010402aa3a0000002a6000',
      '000000193c40fd000000000000000000000000000001fd0000000000000000000000000000023a00800100010100800006fc',
      '4f4100016f617369732d657874',
    ),
    at: 40,
    repr: { kind: 'parameter-problem', code: 2, pointer: 42 },
    payloadAt: 48,
  },
  {
    // MLDv2 report at link up, after a hop-by-hop Router Alert header: not modelled, kept as `other`.
    name: 'MLDv2 report',
    packet: hex(
      '600000000038000100000000000000000000000000000000ff020000000000000000000000000016',
      '3a00050200000100',
      '8f006d650000000204000000ff0200000000000000000001ff00000a04000000ff0200000000000000000001ff000001',
    ),
    at: 48,
    repr: { kind: 'other', icmpType: 143, code: 0 },
    payloadAt: 52,
  },
];

describe('ICMPv6 on Linux traffic', () => {
  it.each(GOLDENS)('parses $name', ({ packet, at, repr, payloadAt }) => {
    const r = parseIcmpv6(packet.subarray(at), pseudoHeader(packet));
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.repr).toEqual(repr);
    expect(r.value.payload).toEqual(packet.subarray(payloadAt));
    expect(r.value.payload.byteOffset).toBe(packet.byteOffset + payloadAt);
  });

  it.each(GOLDENS)('emits $name byte for byte over a buffer pre-filled with 0xa5', ({
    packet,
    at,
    repr,
    payloadAt,
  }) => {
    const message = packet.subarray(at);
    const buf = new Uint8Array(message.length).fill(0xa5);
    const headerLen = icmpv6HeaderLen(repr);
    expect(headerLen).toBe(payloadAt - at);
    buf.set(packet.subarray(payloadAt), headerLen);
    expect(emitIcmpv6(repr, buf, pseudoHeader(packet))).toBe(headerLen);
    expect(buf).toEqual(message);
  });

  it('tells errors from informational messages', () => {
    expect(GOLDENS.filter((g) => isIcmpv6Error(g.repr)).map((g) => g.repr.kind)).toEqual([
      'dest-unreachable',
      'time-exceeded',
      'packet-too-big',
      'parameter-problem',
    ]);
  });
});

const NS = GOLDENS[5]!.packet;
const PH_NS = pseudoHeader(NS);
/** The NS message with its options replaced (checksum left stale: parse these with `checksum: 'ignore'`). */
const nsWith = (options: string) => hex(toHex(NS.subarray(40, 64)), options);

describe('ICMPv6 rejections', () => {
  it.each([
    ['3 bytes', fromHex('800000'), 'icmpv6', 'truncated'],
    ['echo of 7 bytes', fromHex('80000000000000'), 'icmpv6', 'truncated'],
    ['router advertisement of 15 bytes', fromHex(`8600${'00'.repeat(13)}`), 'icmpv6', 'truncated'],
    ['neighbor solicitation of 23 bytes', NS.subarray(40, 63), 'icmpv6', 'truncated'],
    ['redirect of 39 bytes', fromHex(`8900${'00'.repeat(37)}`), 'icmpv6', 'truncated'],
    ['option of length zero', nsWith('0100 000000000000'), 'ndp', 'option-length-zero'],
    ['option past the message', nsWith('0102 000000000000'), 'ndp', 'option-truncated'],
    ['one stray byte after the options', nsWith('010102000000000a 01'), 'ndp', 'option-truncated'],
    [
      'link-layer address option of two units',
      nsWith(`0102${'00'.repeat(14)}`),
      'ndp',
      'bad-link-addr-length',
    ],
    ['prefix information of three units', nsWith(`0303${'00'.repeat(22)}`), 'ndp', 'bad-prefix-info-length'],
    ['MTU option of two units', nsWith(`0502${'00'.repeat(14)}`), 'ndp', 'bad-mtu-length'],
  ])('rejects %s', (_name, bytes, layer, kind) => {
    const r = parseIcmpv6(bytes, PH_NS, { checksum: 'ignore' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer, kind, severity: 'malformed' });
  });

  it('verifies the checksum unless told to ignore it', () => {
    const bad = NS.slice(40);
    bad[10]! ^= 1;
    expect(parseIcmpv6(bad, PH_NS)).toEqual({
      ok: false,
      error: { layer: 'icmpv6', kind: 'bad-checksum', severity: 'malformed' },
    });
    expect(parseIcmpv6(bad, PH_NS, { checksum: 'ignore' }).ok).toBe(true);
    // The pseudo-header counts: the same message from another source fails.
    expect(parseIcmpv6(NS.subarray(40), { ...PH_NS, src: addr('fd00::3') }).ok).toBe(false);
  });

  it('keeps ND types with a non-zero code and unknown types as `other`', () => {
    const ns = NS.slice(40);
    ns[1] = 1;
    expect(parseIcmpv6(ns, PH_NS, { checksum: 'ignore' })).toMatchObject({
      ok: true,
      value: { repr: { kind: 'other', icmpType: 135, code: 1 }, payload: ns.subarray(4) },
    });
    for (const type of [0, 5, 127, 130, 200, 255]) {
      const r = parseIcmpv6(Uint8Array.of(type, 9, 0, 0), PH_NS, { checksum: 'ignore' });
      expect(r.ok && r.value.repr).toEqual({ kind: 'other', icmpType: type, code: 9 });
    }
  });

  it('throws on a buffer too small for the header', () => {
    expect(() => emitIcmpv6({ kind: 'echo-request', ident: 1, seq: 1 }, new Uint8Array(7), PH_NS)).toThrow(
      RangeError,
    );
    expect(() => emitNdpOptions([{ kind: 'mtu', mtu: 1500 }], new Uint8Array(7))).toThrow(RangeError);
  });
});

describe('ICMPv6 properties', () => {
  it('parse(emit(r)) equals r, with the payload', () => {
    fc.assert(
      fc.property(icmpv6MessageArb, ({ repr, payload, ph, bytes }) => {
        const r = parseIcmpv6(bytes, ph);
        if (!r.ok) throw new Error(r.error.kind);
        expect(r.value.repr).toEqual(repr);
        expect(r.value.payload).toEqual(payload);
      }),
      propOptions(),
    );
  });

  it('NDP options round-trip on their own', () => {
    fc.assert(
      fc.property(fc.array(ndpOptionArb, { maxLength: 6 }), (options) => {
        const buf = new Uint8Array(ndpOptionsLen(options)).fill(0xa5);
        expect(emitNdpOptions(options, buf)).toBe(buf.length);
        const r = parseNdpOptions(buf);
        expect(r.ok && r.value).toEqual(options);
      }),
      propOptions(),
    );
  });

  it('parse is total on arbitrary and mutated messages', () => {
    const valid = icmpv6MessageArb.map((m) => m.bytes);
    fc.assert(
      fc.property(mutated(valid), ipv6PseudoHeaderArb, fc.boolean(), (bytes, ph, ignore) => {
        const r = parseIcmpv6(bytes, ph, { checksum: ignore ? 'ignore' : 'verify' });
        if (r.ok) expect(r.value.payload.length).toBeLessThanOrEqual(bytes.length);
        else expect(['icmpv6', 'ndp']).toContain(r.error.layer);
      }),
      propOptions(500),
    );
  });
});

// ---- RDNSS (RFC 8106 §5.1) ----

// Hand-assembled from the RFC 8106 §5.1 diagram (no Linux capture: the kernel does not send RAs):
// fe80::1 to ff02::1, hop limit 64, router lifetime 1800, SLLAO 02:00:00:00:01:01, then RDNSS of
// Length 5 with lifetime 1800 and 2001:db8::53, 2001:db8::35. tshark 4.0.17 dissects it as
// "Recursive DNS Server 2001:db8::53 2001:db8::35", Lifetime 1800, checksum 0xb4ed correct.
const RA_RDNSS = hex(
  '6000000000403afffe800000000000000000000000000001ff020000000000000000000000000001',
  '8600b4ed40000708000000000000000001010200000001011905000000000708',
  '20010db8000000000000000000000053',
  '20010db8000000000000000000000035',
);
const RA_RDNSS_REPR: Icmpv6Repr = {
  kind: 'router-advertisement',
  curHopLimit: 64,
  managed: false,
  other: false,
  routerLifetime: 1800,
  reachableTime: 0,
  retransTimer: 0,
  options: [
    { kind: 'source-link-addr', mac: mac('02:00:00:00:01:01') },
    { kind: 'rdnss', lifetime: 1800, addresses: [addr('2001:db8::53'), addr('2001:db8::35')] },
  ],
};
/** The RA's fixed part followed by `options` (checksum stale: parse with `checksum: 'ignore'`). */
const raWith = (options: string) => hex(toHex(RA_RDNSS.subarray(40, 56)), options);
const rdnssArb = fc.record({
  kind: fc.constant('rdnss' as const),
  lifetime: fc.oneof(fc.constantFrom(0, 0xffff_ffff), fc.integer({ min: 0, max: 0xffff_ffff })),
  addresses: fc.oneof(
    { weight: 9, arbitrary: fc.array(ipv6AddrArb, { minLength: 1, maxLength: 8 }) },
    { weight: 1, arbitrary: fc.array(ipv6AddrArb, { minLength: 127, maxLength: 127 }) },
  ),
});

describe('RDNSS option (RFC 8106 §5.1, §5.3.1)', () => {
  it('parses the servers and lifetime, the addresses aliasing the message', () => {
    const r = parseIcmpv6(RA_RDNSS.subarray(40), pseudoHeader(RA_RDNSS));
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.repr).toEqual(RA_RDNSS_REPR);
    const o = r.value.repr.kind === 'router-advertisement' ? r.value.repr.options[1] : undefined;
    expect(o?.kind === 'rdnss' && o.addresses[1]!.byteOffset).toBe(
      RA_RDNSS.byteOffset + 40 + 16 + 8 + 8 + 16,
    );
  });

  it('emits it byte for byte over a buffer pre-filled with 0xa5', () => {
    const buf = new Uint8Array(RA_RDNSS.length - 40).fill(0xa5);
    expect(emitIcmpv6(RA_RDNSS_REPR, buf, pseudoHeader(RA_RDNSS))).toBe(buf.length);
    expect(toHex(buf)).toBe(toHex(RA_RDNSS.subarray(40)));
  });

  it.each([
    ['Length 1 (no room for an address)', `1901${'00'.repeat(6)}`],
    ['Length 2 (half an address)', `1902${'00'.repeat(14)}`],
    ['Length 4 (even: one and a half addresses)', `1904${'00'.repeat(30)}`],
    ['Length 6 (even)', `1906${'00'.repeat(46)}`],
  ])('rejects %s as malformed, without throwing', (_name, option) => {
    const r = parseIcmpv6(raWith(option), PH_NS, { checksum: 'ignore' });
    expect(r).toEqual({
      ok: false,
      error: { layer: 'ndp', kind: 'bad-rdnss-length', severity: 'malformed' },
    });
  });

  it('accepts the smallest (3) and largest odd Length (255, 127 servers)', () => {
    for (const units of [3, 255]) {
      const r = parseIcmpv6(
        raWith(`19${units.toString(16).padStart(2, '0')}${'00'.repeat(units * 8 - 2)}`),
        PH_NS,
        {
          checksum: 'ignore',
        },
      );
      const o = r.ok && r.value.repr.kind === 'router-advertisement' ? r.value.repr.options[0] : undefined;
      expect(o?.kind === 'rdnss' && o.addresses.length).toBe((units - 1) / 2);
    }
  });

  it('refuses to emit an option without a server or over 127 servers (a caller bug)', () => {
    const rdnss = (n: number) => [
      { kind: 'rdnss' as const, lifetime: 1, addresses: Array(n).fill(addr('2001:db8::53')) },
    ];
    expect(() => emitNdpOptions(rdnss(0), new Uint8Array(8))).toThrow(RangeError);
    expect(() => emitNdpOptions(rdnss(128), new Uint8Array(8 + 16 * 128))).toThrow(RangeError);
    expect(emitNdpOptions(rdnss(127), new Uint8Array(2040))).toBe(2040);
  });

  it('round-trips among the other options', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(rdnssArb, ndpOptionArb), { maxLength: 5 }), (options) => {
        const buf = new Uint8Array(ndpOptionsLen(options)).fill(0xa5);
        expect(emitNdpOptions(options, buf)).toBe(buf.length);
        expect(parseNdpOptions(buf)).toEqual({ ok: true, value: options });
      }),
      propOptions(),
    );
  });
});
