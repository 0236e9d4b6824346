import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../src/bytes.js';
import {
  emitExtHeader,
  emitFragmentHeader,
  emitRouterAlertHopByHop,
  type ExtChain,
  type ExtError,
  type ExtHeader,
  extHeaderLen,
  extHeaderType,
  optionAction,
  ROUTER_ALERT_MLD,
  routerAlert,
  walkExtHeaders,
  skipExtHeaders,
} from '../../src/ipv6/ext.js';
import { parseIcmpv6 } from '../../src/ipv6/icmp.js';
import { Ipv6Packet } from '../../src/ipv6/wire.js';
import type { Result } from '../../src/result.js';
import { mutated, propOptions } from '../support/props.js';
import { buildExtChain, extChainArb, ipv6PacketArb } from './arb.js';

function packet(bytes: Uint8Array): Ipv6Packet {
  const p = Ipv6Packet.check(bytes);
  if (!p.ok) throw new Error(p.error.kind);
  return p.value;
}

function walk(bytes: Uint8Array, dstMulticast = false): Result<ExtChain, ExtError> {
  const p = packet(bytes);
  return walkExtHeaders(p.nextHeader, p.payload, { dstMulticast });
}

function chainOf(bytes: Uint8Array): ExtChain {
  const r = walk(bytes);
  if (!r.ok) throw new Error(r.error.kind);
  return r.value;
}

const hex = (...parts: string[]) => fromHex(parts.join(''));

// Captures below: Linux 6.18 in two private network namespaces joined by a veth pair, tx/rx
// checksum offload off, tcpdump -w on the veth; IPv6 packets with the Ethernet header removed.

// The MLDv2 report Linux sends when the link comes up (source ::, before DAD): a hop-by-hop header
// with Router Alert 0 and PadN, then ICMPv6 type 143.
const MLD_REPORT = hex(
  '600000000038000100000000000000000000000000000000ff020000000000000000000000000016',
  '3a00050200000100',
  '8f006d650000000204000000ff0200000000000000000001ff00000a04000000ff0200000000000000000001ff000001',
);

// ping -6 -c1 -s 3000 fd00::2 (iputils 20221126): the 3008-byte echo request leaves in three
// fragments of 1432, 1432 and 144 bytes, ident 0x714967aa. ICMP message: header and the 16-byte
// timestamp, then data bytes i & 0xff for i = 16..2999 (iputils' fill pattern).
const PING_MESSAGE = (() => {
  const m = new Uint8Array(3008);
  m.set(fromHex('800062521eae0001a29b066b000000006b4a050000000000'));
  for (let i = 16; i < 3000; i++) m[8 + i] = i & 0xff;
  return m;
})();
const PING_IP = '2c40fd000000000000000000000000000001fd000000000000000000000000000002';
/**
 * Fragments 1 and 2 rebuilt from their captured headers and the fill pattern: equal to the capture
 * byte for byte (checked when captured), and the captured checksum verifying over the reassembled
 * message below proves it again.
 */
const fragment = (header: string, from: number, to: number) => {
  const h = fromHex(header);
  const out = new Uint8Array(h.length + to - from);
  out.set(h);
  out.set(PING_MESSAGE.subarray(from, to), h.length);
  return out;
};
const PING_FRAG_1 = fragment(`600edceb05a0${PING_IP}3a000001714967aa`, 0, 1432);
const PING_FRAG_2 = fragment(`600edceb05a0${PING_IP}3a000599714967aa`, 1432, 2864);
// The last fragment, as captured.
const PING_FRAG_3 = hex(
  '600edceb0098',
  PING_IP,
  '3a000b30714967aa',
  '28292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758',
  '595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788',
  '898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7',
);

describe('walkExtHeaders on Linux traffic', () => {
  it('walks the hop-by-hop Router Alert of an MLDv2 report', () => {
    const chain = chainOf(MLD_REPORT);
    expect(chain.headers).toEqual([
      { kind: 'hop-by-hop', nextHeader: 58, options: [{ type: 5, data: Uint8Array.of(0, 0) }], offset: 40 },
    ]);
    expect(chain.nextHeader).toBe(58);
    expect(chain.nextHeaderPointer).toBe(40);
    expect(chain.offset).toBe(48);
    expect(chain.payload).toEqual(MLD_REPORT.subarray(48));
    expect(chain.fragment).toBeUndefined();
    const hbh = chain.headers[0];
    expect(hbh?.kind === 'hop-by-hop' && routerAlert(hbh.options)).toBe(ROUTER_ALERT_MLD);
  });

  it('stops at each fragment of ping -s 3000, and the data reassembles to a valid echo request', () => {
    const frames = [PING_FRAG_1, PING_FRAG_2, PING_FRAG_3];
    const chains = frames.map(chainOf);
    expect(chains.map((c) => c.fragment)).toEqual([
      { kind: 'fragment', nextHeader: 58, fragOffset: 0, moreFragments: true, ident: 0x714967aa, offset: 40 },
      {
        kind: 'fragment',
        nextHeader: 58,
        fragOffset: 1432,
        moreFragments: true,
        ident: 0x714967aa,
        offset: 40,
      },
      {
        kind: 'fragment',
        nextHeader: 58,
        fragOffset: 2864,
        moreFragments: false,
        ident: 0x714967aa,
        offset: 40,
      },
    ]);
    for (const c of chains) {
      expect(c.nextHeader).toBe(58);
      expect(c.nextHeaderPointer).toBe(40);
      expect(c.offset).toBe(48);
    }
    expect(chains.map((c) => c.payload.length)).toEqual([1432, 1432, 144]);
    const whole = new Uint8Array(3008);
    for (const c of chains) whole.set(c.payload, c.fragment!.fragOffset);
    const p = packet(PING_FRAG_1);
    const icmp = parseIcmpv6(whole, { version: 6, src: p.src, dst: p.dst });
    expect(icmp.ok && icmp.value.repr).toEqual({ kind: 'echo-request', ident: 0x1eae, seq: 1 });
  });

  it('emits the fragment header and the Router Alert header as Linux does', () => {
    const buf = new Uint8Array(10).fill(0xa5);
    expect(
      emitFragmentHeader({ nextHeader: 58, fragOffset: 2864, moreFragments: false, ident: 0x714967aa }, buf),
    ).toBe(8);
    expect(buf).toEqual(Uint8Array.from([...PING_FRAG_3.subarray(40, 48), 0xa5, 0xa5]));
    buf.fill(0xa5);
    expect(
      emitFragmentHeader({ nextHeader: 58, fragOffset: 1432, moreFragments: true, ident: 0x714967aa }, buf),
    ).toBe(8);
    expect(buf.subarray(0, 8)).toEqual(PING_FRAG_2.subarray(40, 48));
    buf.fill(0xa5);
    expect(emitRouterAlertHopByHop(58, ROUTER_ALERT_MLD, buf)).toBe(8);
    expect(buf).toEqual(Uint8Array.from([...MLD_REPORT.subarray(40, 48), 0xa5, 0xa5]));
  });
});

// Differential: packets crafted with a Python AF_PACKET socket in one namespace, sent to Linux 6.18
// (forwarding on) in the other; each entry is Linux's ICMPv6 Parameter Problem reply as captured,
// which quotes the whole offending packet. Our walk must ask for the same code and pointer.
const LINUX_PARAM_PROBLEMS: [string, string | undefined, Uint8Array][] = [
  [
    'unknown destination option 0x80 (action 10)',
    'unknown-option',
    hex(
      '600313bf00493a40fd000000000000000000000000000002fd0000000000000000000000000000010402aa3a0000002a6000',
      '000000193c40fd000000000000000000000000000001fd0000000000000000000000000000023a00800100010100800006fc',
      '4f4100016f617369732d657874',
    ),
  ],
  [
    'unknown destination option 0xc3 (action 11), unicast destination',
    'unknown-option',
    hex(
      '600313bf00493a40fd000000000000000000000000000002fd0000000000000000000000000000010402673a0000002a6000',
      '000000193c40fd000000000000000000000000000001fd0000000000000000000000000000023a00c30100010100800006fb',
      '4f4100026f617369732d657874',
    ),
  ],
  [
    'routing header type 0 with segments left 1 (RFC 5095)',
    'unknown-routing-type',
    hex(
      '6008d08400593a40fd000000000000000000000000000002fd00000000000000000000000000000104003f1a0000002a6000',
      '000000292b40fd000000000000000000000000000001fd0000000000000000000000000000023a02000100000000fd000000',
      '000000000000000000000001800006f94f4100046f617369732d657874',
    ),
  ],
  [
    'hop-by-hop after a destination options header',
    'hop-by-hop-not-first',
    hex(
      '600ee58000513a40fd000000000000000000000000000002fd00000000000000000000000000000104012928000000286000',
      '000000213c40fd000000000000000000000000000001fd00000000000000000000000000000200000104000000003a000104',
      '00000000800006f64f4100076f617369732d657874',
    ),
  ],
  [
    'fragment of 13 bytes with M=1',
    'fragment-not-multiple-of-8',
    hex(
      '6008d08400453a40fd000000000000000000000000000002fd0000000000000000000000000000010400fef9000000046000',
      '000000152c40fd000000000000000000000000000001fd0000000000000000000000000000023a0000010a0b0c0d800006f5',
      '4f4100086f61736973',
    ),
  ],
  [
    'fragment at offset 65528 with 16 bytes',
    'fragment-beyond-65535',
    hex(
      '6008d08400483a40fd000000000000000000000000000002fd0000000000000000000000000000010400992f0000002a6000',
      '000000182c40fd000000000000000000000000000001fd0000000000000000000000000000023a00fff80a0b0c0e800006f4',
      '4f4100096f617369732d6578',
    ),
  ],
  [
    'first fragment holding 16 of the 20 bytes of a TCP header',
    'incomplete-header-chain',
    hex(
      '600cb16e00483a40fd000000000000000000000000000002fd0000000000000000000000000000010403cd5c000000006000',
      '000000182c40fd000000000000000000000000000001fd000000000000000000000000000002060000010a0b0c0f12341234',
      '123412341234123412341234',
    ),
  ],
  [
    'unknown next header 253 (the walk stops; the caller answers)',
    undefined,
    hex(
      '600ee58000383a40fd000000000000000000000000000002fd0000000000000000000000000000010401aa33000000066000',
      '00000008fd40fd000000000000000000000000000001fd0000000000000000000000000000020000000000000000',
    ),
  ],
];

describe('walkExtHeaders asks for the Parameter Problem Linux sends', () => {
  it.each(LINUX_PARAM_PROBLEMS)('%s', (_name, kind, reply) => {
    const ip = packet(reply);
    const icmp = parseIcmpv6(ip.payload, { version: 6, src: ip.src, dst: ip.dst });
    if (!icmp.ok) throw new Error(icmp.error.kind);
    const linux = icmp.value.repr;
    expect(linux.kind).toBe('parameter-problem');
    const r = walk(icmp.value.payload);
    expect(r.ok ? undefined : r.error.kind).toBe(kind);
    if (r.ok) {
      // No extension-header error: the walk hands the unknown value and its pointer to the caller.
      expect(linux).toEqual({ kind: 'parameter-problem', code: 1, pointer: r.value.nextHeaderPointer });
      expect(r.value.nextHeader).toBe(253);
    } else {
      expect(r.error.icmp).toEqual(linux);
    }
  });

  it('drops an unknown option of action 01 silently, as Linux did (no reply was captured)', () => {
    const sent = hex(
      '6000000000193c40fd000000000000000000000000000001fd0000000000000000000000000000023a004301000101008000',
      '06fa4f4100036f617369732d657874',
    );
    expect(walk(sent)).toEqual({
      ok: false,
      error: { layer: 'ipv6', kind: 'unknown-option', severity: 'unsupported', icmp: undefined },
    });
  });

  it('skips a type 0 routing header with segments left 0, as Linux did (it answered the echo)', () => {
    const sent = hex(
      '6000000000292b40fd000000000000000000000000000001fd0000000000000000000000000000023a02000000000000fd00',
      '0000000000000000000000000001800006f84f4100056f617369732d657874',
    );
    const chain = chainOf(sent);
    expect(chain.headers).toEqual([
      {
        kind: 'routing',
        nextHeader: 58,
        routingType: 0,
        segmentsLeft: 0,
        data: sent.subarray(44, 64),
        offset: 40,
      },
    ]);
    expect(chain.nextHeader).toBe(58);
    expect(chain.offset).toBe(64);
  });
});

/** A fixed header (src fd00::1, dst `dst`) in front of `body`. */
function ip6(nextHeader: number, body: string, dst = 'fd000000000000000000000000000002'): Uint8Array {
  const b = fromHex(body);
  const len = b.length.toString(16).padStart(4, '0');
  return hex(
    '60000000',
    len,
    nextHeader.toString(16).padStart(2, '0'),
    '40',
    'fd000000000000000000000000000001',
    dst,
    body,
  );
}

describe('walkExtHeaders rejections', () => {
  const pp = (code: number, pointer: number) => ({ kind: 'parameter-problem', code, pointer });
  it.each([
    [
      'destination options cut short',
      ip6(60, '3a01000000000000'),
      'truncated-ext-header',
      'malformed',
      undefined,
    ],
    ['fewer than 8 bytes of header', ip6(60, '3a000100'), 'truncated-ext-header', 'malformed', undefined],
    [
      'routing header cut short',
      ip6(43, '3a0100000000000000'),
      'truncated-ext-header',
      'malformed',
      undefined,
    ],
    ['fragment header cut short', ip6(44, '3a000000'), 'truncated-ext-header', 'malformed', undefined],
    [
      'option running past its header',
      ip6(60, '3a00010500000000'),
      'option-truncated',
      'malformed',
      undefined,
    ],
    [
      'option type without length at the end',
      ip6(60, '3a000000000000' + '01'),
      'option-truncated',
      'malformed',
      undefined,
    ],
    ['Router Alert of 3 bytes', ip6(0, '3a00050300000000'), 'bad-router-alert', 'malformed', undefined],
    [
      'action 10 option to multicast',
      ip6(60, '3a00000081000000', 'ff020000000000000000000000000001'),
      'unknown-option',
      'unsupported',
      pp(2, 44),
    ],
    [
      'action 11 option to multicast',
      ip6(60, '3a000000c1000000', 'ff020000000000000000000000000001'),
      'unknown-option',
      'unsupported',
      undefined,
    ],
    [
      'second hop-by-hop header',
      ip6(0, '0000010400000000 3a00010400000000'),
      'hop-by-hop-not-first',
      'malformed',
      pp(1, 40),
    ],
    [
      'routing type 4 with segments left 2',
      ip6(43, '3a00040200000000'),
      'unknown-routing-type',
      'unsupported',
      pp(0, 42),
    ],
    [
      'first fragment with a cut options header',
      ip6(44, '3c000001000000003a01000000000000'),
      'incomplete-header-chain',
      'malformed',
      pp(3, 0),
    ],
  ])('rejects %s', (_name, bytes, kind, severity, icmp) => {
    const dstMulticast = bytes[24] === 0xff;
    const r = walk(bytes, dstMulticast);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer: 'ipv6', kind, severity, icmp });
  });

  it('maps option types to their RFC 8200 §4.2 actions', () => {
    expect([0x1e, 0x43, 0x80, 0xc2].map(optionAction)).toEqual([
      'skip',
      'discard',
      'param-problem',
      'param-problem-unless-multicast',
    ]);
  });

  it('walks through an atomic fragment and keeps an unknown skippable option', () => {
    const chain = chainOf(ip6(60, '2c0003010000000011000000000000ab 0000'));
    expect(chain.headers).toEqual([
      {
        kind: 'destination-options',
        nextHeader: 44,
        options: [{ type: 3, data: Uint8Array.of(0) }],
        offset: 40,
      },
      { kind: 'fragment', nextHeader: 17, fragOffset: 0, moreFragments: false, ident: 0xab, offset: 48 },
    ]);
    expect(chain.fragment).toBeUndefined();
    expect(chain.nextHeaderPointer).toBe(48);
    expect(chain.offset).toBe(56);
    expect(chain.payload).toEqual(Uint8Array.of(0, 0));
  });

  it('stops at No Next Header', () => {
    const chain = chainOf(ip6(59, 'deadbeef'));
    expect(chain).toMatchObject({ headers: [], nextHeader: 59, nextHeaderPointer: 6, offset: 40 });
  });
});

describe('emitExtHeader', () => {
  it('pads an options header with Pad1 or PadN, over a buffer pre-filled with 0xa5', () => {
    const buf = new Uint8Array(17).fill(0xa5);
    const padN: ExtHeader = {
      kind: 'destination-options',
      nextHeader: 6,
      options: [{ type: 0x1e, data: Uint8Array.of(7) }],
    };
    expect(emitExtHeader(padN, buf)).toBe(8);
    expect(buf.subarray(0, 9)).toEqual(fromHex('06 00 1e0107 010100 a5'));
    buf.fill(0xa5);
    const pad1: ExtHeader = {
      kind: 'hop-by-hop',
      nextHeader: 17,
      options: [{ type: 0x1f, data: fromHex('010203') }],
    };
    expect(emitExtHeader(pad1, buf)).toBe(8);
    expect(buf.subarray(0, 9)).toEqual(fromHex('11 00 1f03010203 00 a5'));
    buf.fill(0xa5);
    const twoUnits: ExtHeader = {
      kind: 'hop-by-hop',
      nextHeader: 17,
      options: [{ type: 0x1f, data: fromHex('010203040506') }],
    };
    expect(emitExtHeader(twoUnits, buf)).toBe(16);
    expect(buf).toEqual(fromHex('11 01 1f06010203040506 010400000000 a5'));
  });

  it('emits a routing header', () => {
    const buf = new Uint8Array(9).fill(0xa5);
    const h: ExtHeader = {
      kind: 'routing',
      nextHeader: 58,
      routingType: 2,
      segmentsLeft: 0,
      data: fromHex('01020304'),
    };
    expect(emitExtHeader(h, buf)).toBe(8);
    expect(buf).toEqual(fromHex('3a 00 02 00 01020304 a5'));
  });

  it('throws on what it cannot encode', () => {
    const odd: ExtHeader = {
      kind: 'routing',
      nextHeader: 58,
      routingType: 2,
      segmentsLeft: 0,
      data: new Uint8Array(5),
    };
    expect(() => emitExtHeader(odd, new Uint8Array(16))).toThrow(RangeError);
    const frag = { nextHeader: 58, fragOffset: 12, moreFragments: false, ident: 1 };
    expect(() => emitFragmentHeader(frag, new Uint8Array(8))).toThrow(RangeError);
    expect(() => emitFragmentHeader({ ...frag, fragOffset: 8 }, new Uint8Array(7))).toThrow(RangeError);
    const big: ExtHeader = {
      kind: 'hop-by-hop',
      nextHeader: 58,
      options: [{ type: 0x1e, data: new Uint8Array(256) }],
    };
    expect(() => emitExtHeader(big, new Uint8Array(extHeaderLen(big)))).toThrow(RangeError);
  });
});

describe('extension header properties', () => {
  it('walk(emit(chain)) gives the chain back', () => {
    fc.assert(
      fc.property(extChainArb, fc.uint8Array({ maxLength: 32 }), ({ headers, upper }, payload) => {
        const bytes = buildExtChain(headers, payload);
        const first = headers[0] === undefined ? upper : extHeaderType(headers[0]);
        const r = walkExtHeaders(first, bytes, { dstMulticast: false });
        if (!r.ok) throw new Error(r.error.kind);
        expect(r.value.headers.map(({ offset: _o, ...h }) => h)).toEqual(headers);
        let off = 40;
        for (const h of r.value.headers) {
          expect(h.offset).toBe(off);
          off += extHeaderLen(h);
        }
        expect(r.value.nextHeader).toBe(upper);
        expect(r.value.offset).toBe(off);
        expect(r.value.nextHeaderPointer).toBe(r.value.headers.at(-1)?.offset ?? 6);
        expect(r.value.payload).toEqual(payload);
      }),
      propOptions(),
    );
  });

  it('a non-atomic fragment ends the walk with its data', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4000 }).map((n) => n * 8),
        fc.boolean(),
        fc.integer({ min: 1, max: 8 }).map((n) => n * 8),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (fragOffset, moreFragments, dataLen, ident) => {
          fc.pre(fragOffset !== 0 || moreFragments);
          const h = { kind: 'fragment', nextHeader: 17, fragOffset, moreFragments, ident } as const;
          const bytes = buildExtChain([h], new Uint8Array(dataLen));
          const r = walkExtHeaders(44, bytes, { dstMulticast: false });
          if (!r.ok) throw new Error(r.error.kind);
          expect(r.value.fragment).toEqual({ ...h, offset: 40 });
          expect(r.value.payload.length).toBe(dataLen);
        },
      ),
      propOptions(),
    );
  });

  it('the walk is total on arbitrary and mutated packets, and stays inside them', () => {
    fc.assert(
      fc.property(mutated(ipv6PacketArb), fc.boolean(), (bytes, dstMulticast) => {
        const p = Ipv6Packet.check(bytes);
        if (!p.ok) return;
        const r = walkExtHeaders(p.value.nextHeader, p.value.payload, { dstMulticast });
        const end = 40 + p.value.payload.length;
        if (r.ok) {
          expect(r.value.offset + r.value.payload.length).toBe(end);
          for (const h of r.value.headers) expect(h.offset).toBeLessThan(end);
          expect(r.value.nextHeaderPointer).toBeLessThan(end);
        } else if (r.error.icmp !== undefined) {
          expect(r.error.icmp.pointer).toBeLessThan(end);
        }
      }),
      propOptions(500),
    );
  });
});

describe('skipExtHeaders', () => {
  /** An IPv6 header whose chain is `headers` (each [type, 8-byte body's next header]) then TCP. */
  function packet(chain: number[], fragment?: { offset: number; more: boolean }): Uint8Array {
    const p = new Uint8Array(40 + 8 * chain.length + 20);
    p[0] = 0x60;
    p[6] = chain[0] ?? 6;
    chain.forEach((type, i) => {
      const at = 40 + 8 * i;
      p[at] = chain[i + 1] ?? 6;
      if (type === 44 && fragment !== undefined)
        p[at + 3] = ((fragment.offset << 3) | (fragment.more ? 1 : 0)) & 0xff;
    });
    return p;
  }

  it('finds TCP behind hop-by-hop, routing and destination options', () => {
    const p = packet([0, 43, 60]);
    expect(skipExtHeaders(p, p.length, 'none')).toEqual({ protocol: 6, offset: 64 });
  });

  it('passes a Fragment header only as asked: atomic, first, or never', () => {
    const atomic = packet([44], { offset: 0, more: false });
    const first = packet([44], { offset: 0, more: true });
    const later = packet([44], { offset: 1, more: false });
    expect(skipExtHeaders(atomic, atomic.length, 'none')).toBeUndefined();
    expect(skipExtHeaders(atomic, atomic.length, 'atomic')).toEqual({ protocol: 6, offset: 48 });
    expect(skipExtHeaders(first, first.length, 'atomic')).toBeUndefined();
    expect(skipExtHeaders(first, first.length, 'first')).toEqual({ protocol: 6, offset: 48 });
    expect(skipExtHeaders(later, later.length, 'first')).toBeUndefined();
  });

  it('stops at the end of the packet, and never throws on any bytes', () => {
    const p = packet([0, 60]);
    expect(skipExtHeaders(p, 44, 'none')).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 200 }), (bytes) => {
        const r = skipExtHeaders(bytes, bytes.length, 'first');
        return r === undefined || r.offset <= bytes.length;
      }),
      propOptions(),
    );
  });
});
