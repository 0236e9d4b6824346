import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Ipv6Addr } from '../../src/addr.js';
import {
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  IPPROTO_ROUTING,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from '../../src/ipproto.js';
import type { Icmpv6Repr } from '../../src/ipv6/icmp.js';
import {
  type Decision6,
  decide6,
  FORWARD_DROP_REASONS,
  type ForwardContext,
  type ForwardDropReason,
  type ForwardInterface,
} from '../../src/router/forward.js';
import { propOptions } from '../support/props.js';
import { context, iface, ipv6Packet, route6, type TableRoute, v6 } from './forward-arb.js';

// Unit-test topology:
//   iface 1: fe80::1, 2001:db8:1::1/64; on its link a router fe80::254 (to 2001:db8:100::/48) and a
//            router known only by a global address, 2001:db8:1::254 (to 2001:db8:200::/48)
//   iface 3: fe80::3, 2001:db8:2::1/64, the default route via fe80::2:254
//   iface 5: fe80::5, 2001:db8:5::1/64, MTU 1280
const IF1 = iface(1, [], ['fe80::1/64', '2001:db8:1::1/64']);
const IF3 = iface(3, [], ['fe80::3/64', '2001:db8:2::1/64']);
const IF5 = iface(5, [], ['fe80::5/64', '2001:db8:5::1/64'], { mtu: 1280 });
const ROUTES = [
  route6('2001:db8:1::/64', 1),
  route6('2001:db8:2::/64', 3),
  route6('2001:db8:5::/64', 5),
  route6('2001:db8:100::/48', 1, 'fe80::254'),
  route6('2001:db8:200::/48', 1, '2001:db8:1::254'),
  route6('::/0', 3, 'fe80::2:254'),
];
const CTX = context([IF1, IF3, IF5], [], ROUTES);

function pkt(src: string, dst: string, more: Partial<Parameters<typeof ipv6Packet>[0]> = {}): Uint8Array {
  return ipv6Packet({ src: v6(src), dst: v6(dst), ...more });
}

/** An ICMPv6 message of `type` (checksum not filled: the router does not look at it). */
function icmp6(type: number): Uint8Array {
  return Uint8Array.of(type, 0, 0, 0, 0, 0, 0, 0, 0x60, 0, 0, 0);
}

/** A hop-by-hop header (next header UDP) holding one option of `type` with two data octets, PadN after. */
function hbh(type: number, len = 2): Uint8Array {
  const h = new Uint8Array(8);
  h[0] = IPPROTO_UDP;
  h[1] = 0;
  h[2] = type;
  h[3] = len;
  if (len === 2) {
    h[6] = 1;
    h[7] = 0;
  }
  return Uint8Array.of(...h, ...new Uint8Array(8));
}

describe('decide6: header validation (RFC 8200 §3)', () => {
  it('drops a wrong version, a truncated packet and a jumbogram, silently', () => {
    const good = pkt('2001:db8:1::7', '2001:db8:2::9');
    const v4 = Object.assign(good.slice(), { 0: 0x40 });
    const jumbo = pkt('2001:db8:1::7', '2001:db8:2::9', {
      nextHeader: IPPROTO_HOPOPTS,
      payload: hbh(0xc2, 4),
    });
    jumbo[4] = 0;
    jumbo[5] = 0;
    for (const p of [v4, good.subarray(0, 39), good.subarray(0, good.length - 1), jumbo])
      expect(decide6(p, 1, CTX)).toEqual({ kind: 'drop', reason: 'malformed' });
  });

  it('drops what arrives on an unknown interface', () => {
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:2::9'), 2, CTX)).toEqual({
      kind: 'drop',
      reason: 'unknown-interface',
    });
  });
});

describe('decide6: local delivery', () => {
  it.each([
    ['our global address on another interface (weak host)', '2001:db8:5::1'],
    ['our link-local address on the ingress link', 'fe80::1'],
    ['all-nodes', 'ff02::1'],
    ['a site-scope group', 'ff05::1:3'],
  ])('hands %s to the host stack', (_name, dst) => {
    expect(decide6(pkt('2001:db8:1::7', dst), 1, CTX)).toEqual({ kind: 'local' });
  });

  it('does not take another link’s link-local address as ours (RFC 4291 §2.5.6 zones)', () => {
    expect(decide6(pkt('2001:db8:1::7', 'fe80::3'), 1, CTX)).toEqual({ kind: 'drop', reason: 'link-local' });
  });
});

describe('decide6: addresses never forwarded', () => {
  it.each([
    ['2001:db8:1::7', '::1', 'martian-destination'],
    ['2001:db8:1::7', '::', 'martian-destination'],
    ['::', '2001:db8:2::9', 'martian-source'],
    ['::1', '2001:db8:2::9', 'martian-source'],
    ['ff02::1', '2001:db8:2::9', 'martian-source'],
    ['2001:db8:2::1', '2001:db8:2::9', 'own-source'],
    ['fe80::5', '2001:db8:2::9', 'own-source'],
    ['2001:db8:1::7', 'fe80::99', 'link-local'],
  ])('%s -> %s: %s', (src, dst, reason) => {
    expect(decide6(pkt(src, dst), 1, CTX)).toEqual({ kind: 'drop', reason });
  });

  it('answers a link-local source leaving its link with Destination Unreachable code 2 (beyond scope)', () => {
    expect(decide6(pkt('fe80::7', '2001:db8:2::9'), 1, CTX)).toEqual({
      kind: 'icmp-error',
      icmp: { kind: 'dest-unreachable', code: 2 },
      reason: 'link-local',
    });
    expect(
      decide6(pkt('fe80::7', '2001:db8:2::9', { nextHeader: IPPROTO_ICMPV6, payload: icmp6(1) }), 1, CTX),
    ).toEqual({
      kind: 'drop',
      reason: 'link-local-suppressed',
    });
  });

  it('forwards a link-local source back onto its own link (with a redirect)', () => {
    expect(decide6(pkt('fe80::7', '2001:db8:100::9'), 1, CTX)).toEqual({
      kind: 'forward',
      egress: 1,
      nextHop: v6('fe80::254'),
      redirect: { gateway: v6('fe80::254') },
    });
  });
});

describe('decide6: reverse-path filter', () => {
  it('strict drops a source routed back elsewhere; loose needs some route; off needs none', () => {
    const strict = context([iface(1, [], ['2001:db8:1::1/64'], { rpFilter: 'strict' }), IF3], [], ROUTES);
    expect(decide6(pkt('2001:db8:2::9', '2001:db8:2::8'), 1, strict)).toEqual({
      kind: 'drop',
      reason: 'rp-filter',
    });
    const loose = context([IF1, IF3], [], ROUTES.slice(0, 2));
    expect(decide6(pkt('2001:db8:77::9', '2001:db8:2::8'), 1, loose)).toEqual({
      kind: 'drop',
      reason: 'rp-filter',
    });
    const off = context([iface(1, [], [], { rpFilter: 'off' }), IF3], [], ROUTES.slice(0, 2));
    expect(decide6(pkt('2001:db8:77::9', '2001:db8:2::8'), 1, off)).toMatchObject({
      kind: 'forward',
      egress: 3,
    });
  });
});

describe('decide6: hop-by-hop options (RFC 8200 §4.2)', () => {
  const through = (type: number, len = 2) =>
    decide6(
      pkt('2001:db8:1::7', '2001:db8:2::9', { nextHeader: IPPROTO_HOPOPTS, payload: hbh(type, len) }),
      1,
      CTX,
    );

  it('skips an unknown option of action 00 and passes Router Alert', () => {
    expect(through(0x1e)).toMatchObject({ kind: 'forward' });
    expect(through(5)).toMatchObject({ kind: 'forward' });
  });

  it('drops action 01 silently and answers 10 and 11 with Parameter Problem code 2 at the option', () => {
    expect(through(0x5e)).toEqual({ kind: 'drop', reason: 'unknown-option' });
    for (const type of [0x9e, 0xde])
      expect(through(type)).toEqual({
        kind: 'icmp-error',
        icmp: { kind: 'parameter-problem', code: 2, pointer: 42 },
        reason: 'bad-option',
      });
  });

  it('drops an option running past the header, and a Router Alert of the wrong length', () => {
    expect(through(0x1e, 9)).toEqual({ kind: 'drop', reason: 'malformed' });
    expect(through(5, 3)).toEqual({ kind: 'drop', reason: 'malformed' });
  });

  it('leaves the other extension headers to the destination (RFC 8200 §4)', () => {
    // A routing header with segments left and an unknown type: not ours to judge.
    const rh = Uint8Array.of(IPPROTO_UDP, 0, 77, 3, 0, 0, 0, 0, ...new Uint8Array(8));
    expect(
      decide6(pkt('2001:db8:1::7', '2001:db8:2::9', { nextHeader: IPPROTO_ROUTING, payload: rh }), 1, CTX),
    ).toMatchObject({
      kind: 'forward',
    });
  });
});

describe('decide6: no route, hop limit, size (RFC 4443 §3.1-§3.3)', () => {
  const noDefault = context([IF1, IF3, IF5], [], ROUTES.slice(0, 5));

  it('answers no route with Destination Unreachable code 0, but never an ICMPv6 error or a redirect', () => {
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:99::9'), 1, noDefault)).toEqual({
      kind: 'icmp-error',
      icmp: { kind: 'dest-unreachable', code: 0 },
      reason: 'no-route',
    });
    for (const type of [1, 2, 3, 4, 137])
      expect(
        decide6(
          pkt('2001:db8:1::7', '2001:db8:99::9', { nextHeader: IPPROTO_ICMPV6, payload: icmp6(type) }),
          1,
          noDefault,
        ),
      ).toEqual({ kind: 'drop', reason: 'no-route-suppressed' });
    // Behind a destination options header it is still an error message (RFC 4443 §2.4(e.1)).
    const behind = Uint8Array.of(IPPROTO_ICMPV6, 0, 1, 4, 0, 0, 0, 0, ...icmp6(3));
    expect(
      decide6(
        pkt('2001:db8:1::7', '2001:db8:99::9', { nextHeader: IPPROTO_DSTOPTS, payload: behind }),
        1,
        noDefault,
      ),
    ).toEqual({ kind: 'drop', reason: 'no-route-suppressed' });
  });

  it('answers a non-first fragment too (IPv6 has no such exception)', () => {
    const frag = Uint8Array.of(IPPROTO_ICMPV6, 0, 0x05, 0xc8, 0, 0, 0, 1, ...icmp6(1));
    expect(
      decide6(
        pkt('2001:db8:1::7', '2001:db8:99::9', { nextHeader: IPPROTO_FRAGMENT, payload: frag }),
        1,
        noDefault,
      ).kind,
    ).toBe('icmp-error');
  });

  it.each([0, 1])('answers hop limit %i with Time Exceeded code 0', (hopLimit) => {
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:2::9', { hopLimit }), 1, CTX)).toEqual({
      kind: 'icmp-error',
      icmp: { kind: 'time-exceeded', code: 0 },
      reason: 'ttl-expired',
    });
  });

  it('forwards hop limit 2', () => {
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:2::9', { hopLimit: 2 }), 1, CTX)).toEqual({
      kind: 'forward',
      egress: 3,
      nextHop: v6('2001:db8:2::9'),
    });
  });

  it('never fragments: Packet Too Big with the egress MTU, forwarded at exactly the MTU', () => {
    const big = pkt('2001:db8:1::7', '2001:db8:5::9', { payload: new Uint8Array(1241) });
    expect(decide6(big, 1, CTX)).toEqual({
      kind: 'icmp-error',
      icmp: { kind: 'packet-too-big', mtu: 1280 },
      reason: 'too-big',
    });
    const fits = pkt('2001:db8:1::7', '2001:db8:5::9', { payload: new Uint8Array(1240) });
    expect(decide6(fits, 1, CTX)).toMatchObject({ kind: 'forward', egress: 5 });
  });
});

describe('decide6: redirects (RFC 4861 §8.2)', () => {
  it('redirects a neighbour to a router named by its link-local address, or to an on-link destination', () => {
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:100::9'), 1, CTX)).toEqual({
      kind: 'forward',
      egress: 1,
      nextHop: v6('fe80::254'),
      redirect: { gateway: v6('fe80::254') },
    });
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:1::9'), 1, CTX)).toMatchObject({
      redirect: { gateway: v6('2001:db8:1::9') },
    });
  });

  it('does not redirect: a gateway known only by a global address, a source off-link, switched off', () => {
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:200::9'), 1, CTX)).toEqual({
      kind: 'forward',
      egress: 1,
      nextHop: v6('2001:db8:1::254'),
    });
    expect(decide6(pkt('2001:db8:77::7', '2001:db8:100::9'), 1, CTX)).not.toHaveProperty('redirect');
    const off = context([IF1, IF3, IF5], [], ROUTES, { sendRedirects: false });
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:100::9'), 1, off)).not.toHaveProperty('redirect');
  });

  it('tells the MSS clamp of the egress link', () => {
    const ctx = context([IF1, IF3, IF5], [], ROUTES, { clampMss: true });
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:2::9', { nextHeader: IPPROTO_TCP }), 1, ctx)).toMatchObject(
      {
        clampMssTo: 1440,
      },
    );
    expect(decide6(pkt('2001:db8:1::7', '2001:db8:5::9'), 1, ctx)).toMatchObject({ clampMssTo: 1220 });
  });
});

// ---------------------------------------------------------------------------------------------
// Naive reference model.

function hex(a: ArrayLike<number>): string {
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

function prefixMatch(a: Uint8Array, p: Uint8Array, len: number): boolean {
  const bits = (x: Uint8Array) => Array.from(x, (b) => b.toString(2).padStart(8, '0')).join('');
  return bits(a).slice(0, len) === bits(p).slice(0, len);
}

function model6(b: Uint8Array, ingress: number, ctx: ForwardContext): Decision6 {
  const dropped = (reason: ForwardDropReason): Decision6 => ({ kind: 'drop', reason });
  const inI = ctx.interfaces.find((i) => i.index === ingress);
  if (!inI) return dropped('unknown-interface');
  if (b.length < 40 || b[0]! >> 4 !== 6) return dropped('malformed');
  const plen = b[4]! * 256 + b[5]!;
  if (plen === 0 && b[6] === 0) return dropped('malformed');
  if (40 + plen > b.length) return dropped('malformed');
  const end = 40 + plen;
  const src = b.slice(8, 24) as Ipv6Addr;
  const dst = b.slice(24, 40) as Ipv6Addr;
  const s = hex(src);
  const d = hex(dst);
  const ll = (h: string) =>
    h.startsWith('fe8') || h.startsWith('fe9') || h.startsWith('fea') || h.startsWith('feb');
  const mine = ctx.interfaces.flatMap((i) => i.ipv6.map((c) => ({ i: i.index, h: hex(c.address) })));
  if (d.startsWith('ff') || mine.some((m) => m.h === d && (!ll(d) || m.i === inI.index)))
    return { kind: 'local' };
  const ZERO = '0'.repeat(32);
  const ONE = `${'0'.repeat(31)}1`;
  if (d === ZERO || d === ONE) return dropped('martian-destination');
  if (s === ZERO || s === ONE || s.startsWith('ff')) return dropped('martian-source');
  if (mine.some((m) => m.h === s)) return dropped('own-source');
  if (ll(d)) return dropped('link-local');
  if (!ll(s)) {
    const back = ctx.route6(src);
    if ((inI.rpFilter === 'loose' && !back) || (inI.rpFilter === 'strict' && back?.iface !== inI.index))
      return dropped('rp-filter');
  }
  // RFC 4443 §2.4(e) for this unicast packet: is it an ICMPv6 error or redirect, past the ext headers?
  let nh = b[6]!;
  let at = 40;
  let isErr = false;
  for (;;) {
    if (nh === 0 || nh === 43 || nh === 60) {
      if (at + 2 > end) break;
      nh = b[at]!;
      at += 8 * (b[at + 1]! + 1);
    } else if (nh === 51) {
      if (at + 2 > end) break;
      nh = b[at]!;
      at += 4 * (b[at + 1]! + 2);
    } else if (nh === 44) {
      if (at + 8 > end || (b[at + 2]! * 256 + b[at + 3]!) >> 3 !== 0) break;
      nh = b[at]!;
      at += 8;
    } else {
      if (nh === 58) isErr = at >= end || b[at]! < 128 || b[at] === 137;
      break;
    }
  }
  const err = (
    icmp: Icmpv6Repr,
    reason: 'link-local' | 'bad-option' | 'no-route' | 'ttl-expired' | 'too-big',
  ): Decision6 =>
    isErr ? { kind: 'drop', reason: `${reason}-suppressed` } : { kind: 'icmp-error', icmp, reason };
  if (b[6] === 0) {
    if (end < 48) return dropped('malformed');
    const stop = 40 + 8 * (b[41]! + 1);
    if (stop > end) return dropped('malformed');
    for (let i = 42; i < stop; ) {
      const t = b[i]!;
      if (t === 0) {
        i += 1;
        continue;
      }
      if (i + 1 >= stop || i + 2 + b[i + 1]! > stop) return dropped('malformed');
      const l = b[i + 1]!;
      if (t === 5 && l !== 2) return dropped('malformed');
      if (t !== 1 && t !== 5) {
        const action = t >> 6;
        if (action === 1) return dropped('unknown-option');
        if (action >= 2) return err({ kind: 'parameter-problem', code: 2, pointer: i }, 'bad-option');
      }
      i += 2 + l;
    }
  }
  const r = ctx.route6(dst);
  if (!r) return err({ kind: 'dest-unreachable', code: 0 }, 'no-route');
  const out = ctx.interfaces.find((i) => i.index === r.iface);
  if (!out) return dropped('unknown-interface');
  if (b[7]! < 2) return err({ kind: 'time-exceeded', code: 0 }, 'ttl-expired');
  if (ll(s) && out.index !== inI.index) return err({ kind: 'dest-unreachable', code: 2 }, 'link-local');
  if (end > out.mtu) return err({ kind: 'packet-too-big', mtu: out.mtu }, 'too-big');
  const nextHop = r.gateway ?? dst;
  const redirect =
    out.index === inI.index &&
    ctx.sendRedirects &&
    (ll(s) || inI.ipv6.some((c) => prefixMatch(src, c.address, c.prefixLen))) &&
    (r.gateway === undefined || ll(hex(r.gateway)));
  return {
    kind: 'forward',
    egress: out.index,
    nextHop,
    ...(redirect ? { redirect: { gateway: nextHop } } : {}),
    ...(ctx.clampMss ? { clampMssTo: out.mtu - 60 } : {}),
  };
}

const CIDR6_POOL = [
  'fe80::1/64',
  'fe80::2/64',
  '2001:db8:1::1/64',
  '2001:db8:2::1/64',
  '2001:db8:3::1/127',
  '2001:db8:4::1/128',
  'fd00::1/48',
];
const ROUTE6_POOL = [
  '::/0',
  '2001:db8::/32',
  '2001:db8:1::/64',
  '2001:db8:2::/64',
  'fd00::/48',
  'fe80::/64',
  '2001:db8:1:0:8000::/65',
];
const ADDR6_POOL = [
  ...CIDR6_POOL.map((c) => c.split('/')[0]!),
  'fe80::7',
  'fe80::254',
  '2001:db8:1::7',
  '2001:db8:1::254',
  '2001:db8:1:0:8000::5',
  '2001:db8:2::9',
  '2001:db8:3::',
  '2001:db8:9::9',
  'fd00::9',
  '2606:4700::1111',
  '::',
  '::1',
  'ff02::1',
  'ff05::2',
  '::ffff:10.0.0.1',
].map(v6);

const addr6Arb: fc.Arbitrary<Ipv6Addr> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ADDR6_POOL) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => a as Ipv6Addr) },
);

const INDICES = [1, 2, 4];

const iface6Arb = (index: number): fc.Arbitrary<ForwardInterface> =>
  fc
    .record({
      cidrs: fc.subarray(CIDR6_POOL, { maxLength: 3 }),
      mtu: fc.oneof(fc.constantFrom(1280, 1500, 9000), fc.integer({ min: 1280, max: 9000 })),
      rpFilter: fc.constantFrom('off' as const, 'loose' as const, 'strict' as const),
    })
    .map(({ cidrs, mtu, rpFilter }) => iface(index, [], cidrs, { mtu, rpFilter }));

const route6Arb: fc.Arbitrary<TableRoute<Ipv6Addr>> = fc
  .record({
    cidr: fc.constantFrom(...ROUTE6_POOL),
    iface: fc.constantFrom(...INDICES, 9),
    gateway: fc.option(fc.constantFrom(...ADDR6_POOL.slice(0, 14)), { nil: undefined }),
  })
  .map(({ cidr, iface: i, gateway }) => {
    const r = route6(cidr, i);
    return gateway === undefined ? r : { ...r, gateway };
  });

const context6Arb: fc.Arbitrary<ForwardContext> = fc
  .record({
    count: fc.integer({ min: 1, max: 3 }),
    ifs: fc.tuple(iface6Arb(1), iface6Arb(2), iface6Arb(4)),
    routes: fc.array(route6Arb, { maxLength: 6 }),
    clampMss: fc.boolean(),
    sendRedirects: fc.boolean(),
  })
  .map(({ count, ifs, routes, clampMss, sendRedirects }) =>
    context(ifs.slice(0, count), [], routes, { clampMss, sendRedirects }),
  );

/** An extension header of 8 octets, or a hop-by-hop one with a chosen option. */
/** An 8-octet extension header: `body` is what follows its Next Header octet. */
const extArb = fc.oneof(
  // Destination options with a PadN; a routing header of an unknown type with segments left.
  fc.constantFrom(IPPROTO_DSTOPTS, IPPROTO_ROUTING).map((t) => ({ type: t, body: [0, 1, 4, 0, 0, 0, 0] })),
  fc
    .tuple(fc.constantFrom(0, 1, 5, 0x1e, 0x5e, 0x9e, 0xde, 0xc2), fc.integer({ min: 0, max: 5 }))
    .map(([opt, len]) => ({ type: IPPROTO_HOPOPTS, body: [0, opt, opt === 0 ? 0 : len, 0, 0, 0, 0] })),
  fc.tuple(fc.integer({ min: 0, max: 8191 }), fc.boolean()).map(([off, m]) => ({
    type: IPPROTO_FRAGMENT,
    body: [0, (off * 8) >> 8, ((off * 8) & 0xf8) | (m ? 1 : 0), 0, 0, 0, 9],
  })),
);

const packet6Arb = fc
  .record({
    src: addr6Arb,
    dst: addr6Arb,
    hopLimit: fc.oneof(fc.constantFrom(0, 1, 2, 64, 255), fc.integer({ min: 0, max: 255 })),
    exts: fc.array(extArb, { maxLength: 2 }),
    upper: fc.constantFrom(IPPROTO_ICMPV6, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP),
    icmpType: fc.constantFrom(1, 2, 3, 4, 128, 129, 135, 137, 200),
    size: fc.oneof(
      fc.integer({ min: 0, max: 64 }),
      fc.constantFrom(1224, 1231, 1232, 1233, 1240, 1241, 1460, 1461, 8960, 8961),
      fc.integer({ min: 0, max: 9100 }),
    ),
    corrupt: fc.constantFrom('none', 'none', 'none', 'none', 'version', 'truncate', 'zero-length'),
  })
  .map((r) => {
    const types = [...r.exts.map((e) => e.type), r.upper];
    const exts = new Uint8Array(r.exts.length * 8);
    for (const [i, e] of r.exts.entries()) exts.set([types[i + 1]!, ...e.body], i * 8);
    const upper = new Uint8Array(Math.max(r.size, 8));
    if (r.upper === IPPROTO_ICMPV6) upper[0] = r.icmpType;
    const payload = Uint8Array.of(...exts, ...upper);
    const p = ipv6Packet({ src: r.src, dst: r.dst, hopLimit: r.hopLimit, nextHeader: types[0]!, payload });
    switch (r.corrupt) {
      case 'version':
        p[0] = 0x40;
        return p;
      case 'truncate':
        return p.subarray(0, p.length - 1);
      case 'zero-length':
        p[4] = 0;
        p[5] = 0;
        return p;
      default:
        return p;
    }
  });

describe('decide6 properties', () => {
  it('agrees with the naive reference model on random packets and topologies', () => {
    fc.assert(
      fc.property(context6Arb, packet6Arb, fc.constantFrom(...INDICES), (ctx, p, ingress) => {
        expect(decide6(p, ingress, ctx)).toEqual(model6(p, ingress, ctx));
      }),
      propOptions(2000),
    );
  });

  it('never fragments, never answers an ICMPv6 error, and every reason is listed', () => {
    const reasons = new Set<string>(FORWARD_DROP_REASONS);
    fc.assert(
      fc.property(context6Arb, packet6Arb, fc.constantFrom(...INDICES), (ctx, p, ingress) => {
        const d = decide6(p, ingress, ctx);
        if (d.kind === 'drop' || d.kind === 'icmp-error') expect(reasons.has(d.reason)).toBe(true);
        if (d.kind === 'forward') {
          const out = ctx.interfaces.find((i) => i.index === d.egress)!;
          expect(40 + ((p[4]! << 8) | p[5]!)).toBeLessThanOrEqual(out.mtu);
          expect(p[7]).toBeGreaterThanOrEqual(2);
        }
        if (d.kind === 'icmp-error' && p[6] === IPPROTO_ICMPV6) expect(p[40]).toBeGreaterThanOrEqual(128);
        expect(['local', 'forward', 'icmp-error', 'drop']).toContain(d.kind);
      }),
      propOptions(1000),
    );
  });

  it('reaches every kind of decision and the IPv6 reasons (the generators are not too narrow)', () => {
    const seen = new Set<string>();
    const samples = fc.sample(fc.tuple(context6Arb, packet6Arb, fc.constantFrom(...INDICES)), {
      numRuns: 20_000,
      seed: 42,
    });
    for (const [ctx, p, ingress] of samples) {
      const d = decide6(p, ingress, ctx);
      seen.add(d.kind);
      if (d.kind === 'drop' || d.kind === 'icmp-error') seen.add(d.reason);
      if (d.kind === 'forward' && d.redirect) seen.add('redirect');
    }
    for (const k of ['local', 'forward', 'icmp-error', 'drop', 'redirect']) expect(seen).toContain(k);
    const expected = [
      'malformed',
      'unknown-interface',
      'martian-source',
      'martian-destination',
      'own-source',
      'link-local',
      'link-local-suppressed',
      'rp-filter',
      'bad-option',
      'bad-option-suppressed',
      'unknown-option',
      'no-route',
      'no-route-suppressed',
      'ttl-expired',
      'ttl-expired-suppressed',
      'too-big',
      'too-big-suppressed',
    ];
    expect(expected.filter((r) => !seen.has(r))).toEqual([]);
  });
});
