import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Ipv4Addr } from '../../src/addr.js';
import { sumNaive } from '../../src/checksum/index.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipproto.js';
import type { Icmpv4Repr } from '../../src/ipv4/icmp.js';
import {
  type Decision4,
  decide4,
  FORWARD_DROP_REASONS,
  type ForwardContext,
  type ForwardInterface,
} from '../../src/router/forward.js';
import { propOptions } from '../support/props.js';
import { context, iface, ipv4Packet, refillIpv4, route4, type TableRoute, v4 } from './forward-arb.js';

// The topology of the unit tests:
//   iface 1: 10.0.1.1/24 (hosts and another router, 10.0.1.254, towards 172.16/16)
//   iface 3: 10.0.2.1/24 and 10.0.3.1/30 (the upstream, default via 10.0.2.254)
//   iface 5: 192.168.1.1/24, MTU 576
const IF1 = iface(1, ['10.0.1.1/24']);
const IF3 = iface(3, ['10.0.2.1/24', '10.0.3.1/30']);
const IF5 = iface(5, ['192.168.1.1/24'], [], { mtu: 576 });
const ROUTES = [
  route4('10.0.1.0/24', 1),
  route4('10.0.2.0/24', 3),
  route4('10.0.3.0/30', 3),
  route4('192.168.1.0/24', 5),
  route4('172.16.0.0/16', 1, '10.0.1.254'),
  route4('0.0.0.0/0', 3, '10.0.2.254'),
];
const CTX = context([IF1, IF3, IF5], ROUTES);

function pkt(src: string, dst: string, more: Partial<Parameters<typeof ipv4Packet>[0]> = {}): Uint8Array {
  return ipv4Packet({ src: v4(src), dst: v4(dst), ...more });
}

function icmpError(type: number): Uint8Array {
  return Uint8Array.of(type, 0, 0, 0, 0, 0, 0, 0, ...pkt('10.0.2.9', '10.0.1.7').subarray(0, 28));
}

describe('decide4: RFC 1812 §5.2.2 header validation', () => {
  it('drops a bad checksum, a wrong version, a short header or a truncated packet, silently', () => {
    const good = pkt('10.0.1.7', '10.0.2.9');
    const badSum = good.slice();
    badSum[11]! ^= 1;
    const v5 = refillIpv4(Object.assign(good.slice(), { 0: 0x55 }));
    const ihl4 = refillIpv4(Object.assign(good.slice(), { 0: 0x44 }));
    for (const p of [badSum, v5, ihl4, good.subarray(0, 19), good.subarray(0, good.length - 1)])
      expect(decide4(p, 1, CTX)).toEqual({ kind: 'drop', reason: 'malformed' });
  });

  it('accepts link padding after the total length', () => {
    const padded = new Uint8Array(60);
    padded.set(pkt('10.0.1.7', '10.0.2.9'));
    expect(decide4(padded, 1, CTX)).toMatchObject({ kind: 'forward', egress: 3 });
  });

  it('drops what arrives on an interface it does not know, and a route to a missing interface', () => {
    expect(decide4(pkt('10.0.1.7', '10.0.2.9'), 2, CTX)).toEqual({
      kind: 'drop',
      reason: 'unknown-interface',
    });
    const ctx = context([IF1, IF3], [route4('0.0.0.0/0', 9)]);
    expect(decide4(pkt('10.0.1.7', '8.8.8.8'), 1, ctx)).toEqual({
      kind: 'drop',
      reason: 'unknown-interface',
    });
  });
});

describe('decide4: RFC 1812 §5.2.3 local delivery', () => {
  it.each([
    ['our address on the ingress interface', '10.0.1.1'],
    ['our address on another interface (weak host)', '192.168.1.1'],
    ['the limited broadcast', '255.255.255.255'],
    ['a multicast group', '224.0.0.5'],
    ['the ingress subnet broadcast', '10.0.1.255'],
  ])('hands %s to the host stack', (_name, dst) => {
    expect(decide4(pkt('10.0.1.7', dst), 1, CTX)).toEqual({ kind: 'local' });
  });

  it('hands over a packet for us even with TTL 1 or bad options (the host judges it)', () => {
    expect(decide4(pkt('10.0.1.7', '10.0.2.1', { ttl: 1 }), 1, CTX)).toEqual({ kind: 'local' });
    const badOpt = pkt('10.0.1.7', '10.0.1.1', { options: Uint8Array.of(0x44, 1, 0, 0) });
    expect(decide4(badOpt, 1, CTX)).toEqual({ kind: 'local' });
  });
});

describe('decide4: destinations and sources never forwarded', () => {
  it.each([
    ['127.0.0.1', 'martian-destination'],
    ['0.1.2.3', 'martian-destination'],
    ['240.0.0.1', 'martian-destination'],
    // RFC 2644: directed broadcasts to another connected subnet are not forwarded by default.
    ['10.0.2.255', 'directed-broadcast'],
    ['10.0.3.3', 'directed-broadcast'],
    ['192.168.1.255', 'directed-broadcast'],
    // RFC 1812 §4.2.3.1(2): {prefix, 0} SHOULD be silently discarded.
    ['10.0.2.0', 'obsolete-broadcast'],
    ['10.0.1.0', 'obsolete-broadcast'],
  ])('drops a packet to %s: %s', (dst, reason) => {
    expect(decide4(pkt('10.0.1.7', dst), 1, CTX)).toEqual({ kind: 'drop', reason });
  });

  it.each([
    ['0.0.0.0', 'martian-source'],
    ['0.9.9.9', 'martian-source'],
    ['127.0.0.1', 'martian-source'],
    ['224.0.0.1', 'martian-source'],
    ['240.1.2.3', 'martian-source'],
    ['255.255.255.255', 'martian-source'],
    ['10.0.1.255', 'martian-source'],
    ['10.0.2.255', 'martian-source'],
    ['10.0.2.1', 'own-source'],
    ['10.0.1.1', 'own-source'],
  ])('drops a packet from %s: %s', (src, reason) => {
    expect(decide4(pkt(src, '10.0.2.9'), 1, CTX)).toEqual({ kind: 'drop', reason });
  });

  it('never forwards IPv4 link-local, source or destination, even with a route (RFC 3927 §7)', () => {
    expect(decide4(pkt('169.254.7.7', '10.0.2.9'), 1, context([IF1, IF3], ROUTES, [], {}))).toEqual({
      kind: 'drop',
      reason: 'link-local',
    });
    expect(decide4(pkt('10.0.1.7', '169.254.7.7'), 1, CTX)).toEqual({ kind: 'drop', reason: 'link-local' });
    // Even back out of the same link.
    const ctx = context(
      [iface(1, ['169.254.0.1/16'], [], { rpFilter: 'off' })],
      [route4('169.254.0.0/16', 1)],
    );
    expect(decide4(pkt('169.254.1.1', '169.254.2.2'), 1, ctx)).toEqual({
      kind: 'drop',
      reason: 'link-local',
    });
  });
});

describe('decide4: reverse-path filter (BCP 38, RFC 3704)', () => {
  const strict = iface(1, ['10.0.1.1/24'], [], { rpFilter: 'strict' });
  const off = iface(1, ['10.0.1.1/24'], [], { rpFilter: 'off' });

  it('strict: drops a source whose route back leaves by another interface', () => {
    const ctx = context([strict, IF3, IF5], ROUTES);
    expect(decide4(pkt('10.0.2.9', '192.168.1.7'), 1, ctx)).toEqual({ kind: 'drop', reason: 'rp-filter' });
    expect(decide4(pkt('10.0.1.9', '192.168.1.7'), 1, ctx)).toMatchObject({ kind: 'forward' });
  });

  it('loose: any route back will do, the default one included', () => {
    expect(decide4(pkt('8.8.8.8', '192.168.1.7'), 1, CTX)).toMatchObject({ kind: 'forward' });
    const noDefault = context([IF1, IF3, IF5], ROUTES.slice(0, 4));
    expect(decide4(pkt('8.8.8.8', '192.168.1.7'), 1, noDefault)).toEqual({
      kind: 'drop',
      reason: 'rp-filter',
    });
  });

  it('off: no check at all', () => {
    const noDefault = context([off, IF3, IF5], ROUTES.slice(0, 4));
    expect(decide4(pkt('8.8.8.8', '192.168.1.7'), 1, noDefault)).toMatchObject({ kind: 'forward' });
  });
});

describe('decide4: options (RFC 791 §3.1, RFC 1812 §5.3.13)', () => {
  it.each([
    ['an option with no room for its length', [1, 1, 1, 0x44], 23],
    ['a length below 2', [0x44, 1, 0, 0], 21],
    ['a length past the header', [0x88, 6, 0, 0], 21],
    ['a record route with pointer 3', [7, 7, 3, 0, 0, 0, 0, 0], 22],
    ['a loose source route shorter than 3', [131, 2, 1, 0], 21],
    ['a timestamp with pointer 4', [68, 8, 4, 0, 0, 0, 0, 0], 22],
    ['a second source route', [131, 7, 4, 10, 0, 2, 9, 137, 3, 4, 0, 0], 27],
  ])('answers %s with Parameter Problem pointing at the octet', (_name, options, pointer) => {
    const p = pkt('10.0.1.7', '10.0.2.9', { options: Uint8Array.from(options) });
    expect(decide4(p, 1, CTX)).toEqual({
      kind: 'icmp-error',
      icmp: { type: 'parameter-problem', code: 0, pointer },
      reason: 'bad-option',
    });
  });

  it('passes unknown options, NOPs and valid ones through', () => {
    const opts = Uint8Array.of(1, 0x9e, 4, 0xaa, 0xbb, 7, 7, 4, 0, 0, 0, 0, 0, 0, 0, 0);
    expect(decide4(pkt('10.0.1.7', '10.0.2.9', { options: opts }), 1, CTX)).toMatchObject({
      kind: 'forward',
    });
  });

  it('answers a strict source route whose next hop is behind a gateway with code 5 (source route failed)', () => {
    const ssrr = Uint8Array.of(137, 7, 4, 1, 2, 3, 4, 0);
    expect(decide4(pkt('10.0.1.7', '8.8.8.8', { options: ssrr }), 1, CTX)).toEqual({
      kind: 'icmp-error',
      icmp: { type: 'dest-unreachable', code: 5, nextHopMtu: 0 },
      reason: 'source-route-failed',
    });
    expect(decide4(pkt('10.0.1.7', '10.0.2.9', { options: ssrr }), 1, CTX)).toMatchObject({
      kind: 'forward',
    });
  });
});

describe('decide4: no route (RFC 1812 §5.2.7.1)', () => {
  const ctx = context([IF1, IF3, IF5], ROUTES.slice(0, 4), [], {});
  const off = context([iface(1, ['10.0.1.1/24'], [], { rpFilter: 'off' }), IF3, IF5], ROUTES.slice(0, 4));

  it('answers Destination Unreachable, net (code 0)', () => {
    expect(decide4(pkt('10.0.1.7', '8.8.8.8'), 1, ctx)).toEqual({
      kind: 'icmp-error',
      icmp: { type: 'dest-unreachable', code: 0, nextHopMtu: 0 },
      reason: 'no-route',
    });
  });

  it('sends no error about an ICMP error, a non-first fragment, or (after rp-filter off) a bad source (§4.3.2.7)', () => {
    for (const type of [3, 4, 5, 11, 12])
      expect(
        decide4(pkt('10.0.1.7', '8.8.8.8', { protocol: IPPROTO_ICMP, payload: icmpError(type) }), 1, ctx),
      ).toEqual({
        kind: 'drop',
        reason: 'no-route-suppressed',
      });
    expect(decide4(pkt('10.0.1.7', '8.8.8.8', { fragOffset: 1480 }), 1, ctx)).toEqual({
      kind: 'drop',
      reason: 'no-route-suppressed',
    });
    // An echo request and a first fragment are answered.
    const echo = Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 1);
    expect(decide4(pkt('10.0.1.7', '8.8.8.8', { protocol: IPPROTO_ICMP, payload: echo }), 1, ctx).kind).toBe(
      'icmp-error',
    );
    expect(decide4(pkt('10.0.1.7', '8.8.8.8', { mf: true }), 1, off).kind).toBe('icmp-error');
  });
});

describe('decide4: TTL (RFC 1812 §5.3.1, §5.2.7.3)', () => {
  it.each([0, 1])('answers TTL %i with Time Exceeded code 0', (ttl) => {
    expect(decide4(pkt('10.0.1.7', '10.0.2.9', { ttl }), 1, CTX)).toEqual({
      kind: 'icmp-error',
      icmp: { type: 'time-exceeded', code: 0 },
      reason: 'ttl-expired',
    });
  });

  it('forwards TTL 2 (it leaves with 1)', () => {
    expect(decide4(pkt('10.0.1.7', '10.0.2.9', { ttl: 2 }), 1, CTX)).toEqual({
      kind: 'forward',
      egress: 3,
      nextHop: v4('10.0.2.9'),
    });
  });

  it('drops an expiring ICMP error silently, but answers an expiring echo request (traceroute)', () => {
    expect(
      decide4(
        pkt('10.0.1.7', '10.0.2.9', { ttl: 1, protocol: IPPROTO_ICMP, payload: icmpError(11) }),
        1,
        CTX,
      ),
    ).toEqual({
      kind: 'drop',
      reason: 'ttl-expired-suppressed',
    });
    const echo = Uint8Array.of(8, 0, 0, 0, 0, 1, 0, 1);
    expect(
      decide4(pkt('10.0.1.7', '10.0.2.9', { ttl: 1, protocol: IPPROTO_ICMP, payload: echo }), 1, CTX).kind,
    ).toBe('icmp-error');
  });
});

describe('decide4: MTU (RFC 1812 §5.2.6, RFC 1191 §4)', () => {
  const big = (df: boolean) => pkt('10.0.1.7', '192.168.1.7', { df, payload: new Uint8Array(980) });

  it('answers DF and too big with Fragmentation Needed carrying the egress MTU', () => {
    expect(decide4(big(true), 1, CTX)).toEqual({
      kind: 'icmp-error',
      icmp: { type: 'dest-unreachable', code: 4, nextHopMtu: 576 },
      reason: 'too-big',
    });
  });

  it('fragments without DF, also a packet that is itself a fragment', () => {
    const expected = { kind: 'fragment', egress: 5, nextHop: v4('192.168.1.7'), mtu: 576 };
    expect(decide4(big(false), 1, CTX)).toEqual(expected);
    const frag = pkt('10.0.1.7', '192.168.1.7', {
      mf: true,
      fragOffset: 1480,
      payload: new Uint8Array(1000),
    });
    expect(decide4(frag, 1, CTX)).toEqual(expected);
  });

  it('forwards exactly the MTU', () => {
    const p = pkt('10.0.1.7', '192.168.1.7', { df: true, payload: new Uint8Array(556) });
    expect(p.length).toBe(576);
    expect(decide4(p, 1, CTX)).toMatchObject({ kind: 'forward', egress: 5 });
  });

  it('drops (does not throw) when a misconfigured MTU leaves no room for 8 data octets', () => {
    const tiny = context(
      [IF1, iface(7, ['10.9.0.1/24'], [], { mtu: 27 })],
      [route4('10.9.0.0/24', 7), ...ROUTES],
    );
    expect(decide4(pkt('10.0.1.7', '10.9.0.5', { payload: new Uint8Array(100) }), 1, tiny)).toEqual({
      kind: 'drop',
      reason: 'mtu-too-small',
    });
  });
});

describe('decide4: redirects (RFC 1812 §5.2.7.2)', () => {
  it('forwards back out of the ingress interface and redirects to the better gateway', () => {
    expect(decide4(pkt('10.0.1.7', '172.16.3.3'), 1, CTX)).toEqual({
      kind: 'forward',
      egress: 1,
      nextHop: v4('10.0.1.254'),
      redirect: { gateway: v4('10.0.1.254') },
    });
  });

  it('redirects to the destination itself when it is on the sender’s link', () => {
    expect(decide4(pkt('10.0.1.7', '10.0.1.9'), 1, CTX)).toMatchObject({
      redirect: { gateway: v4('10.0.1.9') },
    });
  });

  it('does not redirect: switched off, a source off the next hop’s subnet, a source route, an ICMP error', () => {
    const noRedirects = context([IF1, IF3, IF5], ROUTES, [], { sendRedirects: false });
    expect(decide4(pkt('10.0.1.7', '172.16.3.3'), 1, noRedirects)).not.toHaveProperty('redirect');
    expect(decide4(pkt('8.8.8.8', '172.16.3.3'), 1, CTX)).not.toHaveProperty('redirect');
    const lsrr = Uint8Array.of(131, 7, 4, 1, 2, 3, 4, 0);
    expect(decide4(pkt('10.0.1.7', '172.16.3.3', { options: lsrr }), 1, CTX)).not.toHaveProperty('redirect');
    const err = pkt('10.0.1.7', '172.16.3.3', { protocol: IPPROTO_ICMP, payload: icmpError(3) });
    expect(decide4(err, 1, CTX)).toEqual({ kind: 'forward', egress: 1, nextHop: v4('10.0.1.254') });
  });

  it('redirects a packet it fragments too', () => {
    const frag = context(
      [iface(1, ['10.0.1.1/24'], [], { mtu: 576 }), IF3],
      ROUTES.slice(0, 2).concat(ROUTES[4]!),
    );
    expect(decide4(pkt('10.0.1.7', '172.16.3.3', { payload: new Uint8Array(1000) }), 1, frag)).toEqual({
      kind: 'fragment',
      egress: 1,
      nextHop: v4('10.0.1.254'),
      mtu: 576,
      redirect: { gateway: v4('10.0.1.254') },
    });
  });
});

describe('decide4: forwarding', () => {
  it('forwards to an on-link destination and to a gateway', () => {
    expect(decide4(pkt('10.0.1.7', '10.0.2.9'), 1, CTX)).toEqual({
      kind: 'forward',
      egress: 3,
      nextHop: v4('10.0.2.9'),
    });
    expect(decide4(pkt('10.0.1.7', '8.8.8.8'), 1, CTX)).toEqual({
      kind: 'forward',
      egress: 3,
      nextHop: v4('10.0.2.254'),
    });
  });

  it('tells the MSS clamp of the egress link when asked to clamp', () => {
    const ctx = context([IF1, IF3, IF5], ROUTES, [], { clampMss: true });
    expect(decide4(pkt('10.0.1.7', '10.0.2.9', { protocol: IPPROTO_TCP }), 1, ctx)).toMatchObject({
      clampMssTo: 1460,
    });
    expect(decide4(pkt('10.0.1.7', '192.168.1.9'), 1, ctx)).toMatchObject({ clampMssTo: 536 });
  });

  it('does not read or write outside the packet, nor change it', () => {
    const p = pkt('10.0.1.7', '10.0.2.9', { ttl: 9 });
    const copy = p.slice();
    decide4(p, 1, CTX);
    expect(p).toEqual(copy);
  });
});

// ---------------------------------------------------------------------------------------------
// A naive reference model, written from RFC 1812 without looking at forward4.ts's helpers: fields
// read with arithmetic, subnets compared by division, rules as one ordered list.

interface Fields {
  readonly ihl: number;
  readonly total: number;
  readonly df: boolean;
  readonly offset: number;
  readonly ttl: number;
  readonly proto: number;
  readonly src: number;
  readonly dst: number;
  readonly options: number[];
  readonly firstPayloadByte: number | undefined;
}

function readFields(b: Uint8Array): Fields | undefined {
  if (b.length < 20) return undefined;
  const ver = Math.floor(b[0]! / 16);
  const ihl = (b[0]! % 16) * 4;
  const total = b[2]! * 256 + b[3]!;
  if (ver !== 4 || ihl < 20 || b.length < ihl || total < ihl || total > b.length) return undefined;
  if (sumNaive(b.subarray(0, ihl)) !== 0xffff) return undefined;
  const flags = b[6]! * 256 + b[7]!;
  const word = (i: number) => ((b[i]! * 256 + b[i + 1]!) * 256 + b[i + 2]!) * 256 + b[i + 3]!;
  return {
    ihl,
    total,
    df: Math.floor(flags / 0x4000) % 2 === 1,
    offset: (flags % 0x2000) * 8,
    ttl: b[8]!,
    proto: b[9]!,
    src: word(12),
    dst: word(16),
    options: Array.from(b.subarray(20, ihl)),
    firstPayloadByte: total > ihl ? b[ihl] : undefined,
  };
}

function block(len: number): number {
  return 2 ** (32 - len);
}
function sameNet(a: number, b: number, len: number): boolean {
  return Math.floor(a / block(len)) === Math.floor(b / block(len));
}
function bcastOf(c: { address: number; prefixLen: number }): number | undefined {
  return c.prefixLen > 30
    ? undefined
    : Math.floor(c.address / block(c.prefixLen)) * block(c.prefixLen) + block(c.prefixLen) - 1;
}
function netOf(c: { address: number; prefixLen: number }): number | undefined {
  return c.prefixLen > 30 ? undefined : Math.floor(c.address / block(c.prefixLen)) * block(c.prefixLen);
}

/** The options as a list of TLVs, or the offset (from the IP header) of the first octet in error. */
function tokenise(
  opts: number[],
): { error: number } | { tlvs: { at: number; type: number; len: number; ptr: number }[] } {
  const tlvs: { at: number; type: number; len: number; ptr: number }[] = [];
  for (let i = 0; i < opts.length; ) {
    const t = opts[i]!;
    if (t === 0) break;
    if (t === 1) {
      i += 1;
      continue;
    }
    if (i + 1 >= opts.length) return { error: 20 + i };
    const len = opts[i + 1]!;
    if (len < 2 || i + len > opts.length) return { error: 21 + i };
    tlvs.push({ at: 20 + i, type: t, len, ptr: len >= 3 ? opts[i + 2]! : -1 });
    i += len;
  }
  return { tlvs };
}

function optionError(opts: number[]): number | undefined {
  const t = tokenise(opts);
  if ('error' in t) return t.error;
  let routes = 0;
  for (const o of t.tlvs) {
    const isRoute = o.type === 131 || o.type === 137;
    if (isRoute && ++routes > 1) return o.at;
    if (isRoute || o.type === 7) {
      if (o.len < 3) return o.at + 1;
      if (o.ptr < 4) return o.at + 2;
    }
    if (o.type === 68) {
      if (o.len < 4) return o.at + 1;
      if (o.ptr < 5) return o.at + 2;
    }
  }
  return undefined;
}

function hasOption(opts: number[], types: number[]): boolean {
  const t = tokenise(opts);
  return 'tlvs' in t && t.tlvs.some((o) => types.includes(o.type));
}

function copiedLen(opts: number[]): number {
  const t = tokenise(opts);
  if ('error' in t) return 0;
  return t.tlvs.filter((o) => o.type >= 128).reduce((n, o) => n + o.len, 0);
}

function model4(b: Uint8Array, ingress: number, ctx: ForwardContext): Decision4 {
  const ifs = ctx.interfaces;
  const inI = ifs.find((i) => i.index === ingress);
  const dropped = (reason: (typeof FORWARD_DROP_REASONS)[number]): Decision4 => ({ kind: 'drop', reason });
  if (!inI) return dropped('unknown-interface');
  const f = readFields(b);
  if (!f) return dropped('malformed');
  const cidrs = ifs.flatMap((i) => i.ipv4);
  const first = (a: number) => Math.floor(a / 2 ** 24);
  if (
    f.dst === 2 ** 32 - 1 ||
    (first(f.dst) >= 224 && first(f.dst) <= 239) ||
    cidrs.some((c) => c.address === f.dst) ||
    inI.ipv4.some((c) => bcastOf(c) === f.dst)
  )
    return { kind: 'local' };
  if ([0, 127].includes(first(f.dst)) || first(f.dst) >= 240) return dropped('martian-destination');
  if (cidrs.some((c) => bcastOf(c) === f.dst)) return dropped('directed-broadcast');
  if (cidrs.some((c) => netOf(c) === f.dst)) return dropped('obsolete-broadcast');
  if ([0, 127].includes(first(f.src)) || first(f.src) >= 224 || cidrs.some((c) => bcastOf(c) === f.src))
    return dropped('martian-source');
  if (cidrs.some((c) => c.address === f.src)) return dropped('own-source');
  if (Math.floor(f.src / 65536) === 169 * 256 + 254 || Math.floor(f.dst / 65536) === 169 * 256 + 254)
    return dropped('link-local');
  const back = ctx.route4(f.src as Ipv4Addr);
  if ((inI.rpFilter === 'loose' && !back) || (inI.rpFilter === 'strict' && back?.iface !== inI.index))
    return dropped('rp-filter');
  // RFC 1812 §4.3.2.7, for this packet (its destination is unicast by now).
  const answerable =
    f.offset === 0 && !(f.proto === 1 && [3, 4, 5, 11, 12].includes(f.firstPayloadByte ?? -1));
  const err = (
    icmp: Icmpv4Repr,
    reason: 'bad-option' | 'no-route' | 'ttl-expired' | 'source-route-failed' | 'too-big',
  ): Decision4 =>
    answerable ? { kind: 'icmp-error', icmp, reason } : { kind: 'drop', reason: `${reason}-suppressed` };
  const bad = optionError(f.options);
  if (bad !== undefined) return err({ type: 'parameter-problem', code: 0, pointer: bad }, 'bad-option');
  const r = ctx.route4(f.dst as Ipv4Addr);
  if (!r) return err({ type: 'dest-unreachable', code: 0, nextHopMtu: 0 }, 'no-route');
  const out = ifs.find((i) => i.index === r.iface);
  if (!out) return dropped('unknown-interface');
  if (f.ttl < 2) return err({ type: 'time-exceeded', code: 0 }, 'ttl-expired');
  if (hasOption(f.options, [137]) && r.gateway !== undefined)
    return err({ type: 'dest-unreachable', code: 5, nextHopMtu: 0 }, 'source-route-failed');
  const nextHop = (r.gateway ?? f.dst) as Ipv4Addr;
  const redirect =
    out.index === inI.index &&
    ctx.sendRedirects &&
    !hasOption(f.options, [131, 137]) &&
    answerable &&
    inI.ipv4.some((c) => sameNet(c.address, f.src, c.prefixLen) && sameNet(c.address, nextHop, c.prefixLen));
  const extra = redirect ? { redirect: { gateway: nextHop } } : {};
  if (f.total > out.mtu) {
    if (f.df) return err({ type: 'dest-unreachable', code: 4, nextHopMtu: out.mtu }, 'too-big');
    const later = 20 + Math.ceil(copiedLen(f.options) / 4) * 4;
    if (out.mtu - f.ihl < 8 || out.mtu - later < 8) return dropped('mtu-too-small');
    return { kind: 'fragment', egress: out.index, nextHop, mtu: out.mtu, ...extra };
  }
  return {
    kind: 'forward',
    egress: out.index,
    nextHop,
    ...extra,
    ...(ctx.clampMss ? { clampMssTo: out.mtu - 40 } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Random topologies and packets around them.

const CIDR_POOL = [
  '10.0.1.1/24',
  '10.0.2.1/24',
  '10.0.3.1/30',
  '10.0.4.0/31',
  '10.0.5.1/32',
  '192.168.1.1/24',
  '172.16.0.1/16',
  '169.254.0.1/16',
];
const ROUTE_POOL = [
  '0.0.0.0/0',
  '10.0.0.0/8',
  '10.0.1.0/24',
  '10.0.2.0/24',
  '10.0.3.0/30',
  '192.168.1.0/24',
  '172.16.0.0/16',
  '8.8.0.0/16',
  '169.254.0.0/16',
  '10.0.1.128/25',
];
const ADDR_POOL = [
  ...CIDR_POOL.map((c) => c.split('/')[0]!),
  '10.0.1.255',
  '10.0.2.255',
  '10.0.3.3',
  '10.0.1.0',
  '10.0.3.0',
  '192.168.1.255',
  '172.16.255.255',
  '10.0.1.7',
  '10.0.1.200',
  '10.0.2.9',
  '10.0.2.254',
  '10.0.3.2',
  '10.0.4.1',
  '192.168.1.50',
  '172.16.5.5',
  '8.8.8.8',
  '8.8.4.4',
  '203.0.113.9',
  '0.0.0.0',
  '0.1.2.3',
  '127.0.0.1',
  '224.0.0.1',
  '239.1.1.1',
  '240.0.0.1',
  '255.255.255.255',
  '169.254.3.3',
].map(v4);

const addrArb: fc.Arbitrary<Ipv4Addr> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ADDR_POOL) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }).map((n) => n as Ipv4Addr) },
);

const INDICES = [1, 2, 4];

const ifaceArb = (index: number): fc.Arbitrary<ForwardInterface> =>
  fc
    .record({
      cidrs: fc.subarray(CIDR_POOL, { maxLength: 2 }),
      mtu: fc.oneof(fc.constantFrom(68, 576, 1280, 1500, 9000), fc.integer({ min: 68, max: 9000 })),
      rpFilter: fc.constantFrom('off' as const, 'loose' as const, 'strict' as const),
    })
    .map(({ cidrs, mtu, rpFilter }) => iface(index, cidrs, [], { mtu, rpFilter }));

const routeArb: fc.Arbitrary<TableRoute<Ipv4Addr>> = fc
  .record({
    cidr: fc.constantFrom(...ROUTE_POOL),
    // 9 names no interface: a configuration bug the decision must survive.
    iface: fc.constantFrom(...INDICES, 9),
    gateway: fc.option(fc.constantFrom(...ADDR_POOL.slice(0, 20)), { nil: undefined }),
  })
  .map(({ cidr, iface: i, gateway }) => {
    const r = route4(cidr, i);
    return gateway === undefined ? r : { ...r, gateway };
  });

const contextArb: fc.Arbitrary<ForwardContext> = fc
  .record({
    count: fc.integer({ min: 1, max: 3 }),
    ifs: fc.tuple(ifaceArb(1), ifaceArb(2), ifaceArb(4)),
    routes: fc.array(routeArb, { maxLength: 6 }),
    clampMss: fc.boolean(),
    sendRedirects: fc.boolean(),
  })
  .map(({ count, ifs, routes, clampMss, sendRedirects }) =>
    context(ifs.slice(0, count), routes, [], { clampMss, sendRedirects }),
  );

const OPTION_CHOICES: number[][] = [
  [],
  [1, 1, 1, 1],
  [7, 7, 4, 0, 0, 0, 0, 0],
  [7, 7, 3, 0, 0, 0, 0, 0],
  [131, 7, 4, 8, 8, 8, 8, 0],
  [137, 7, 4, 8, 8, 8, 8, 0],
  [137, 7, 8, 8, 8, 8, 8, 1, 131, 3, 4, 0],
  [68, 8, 5, 0, 0, 0, 0, 0],
  [68, 3, 5, 0],
  [0x94, 4, 0, 0],
  [0x1e, 2, 1, 1],
  [0x44, 1, 0, 0],
  [0x88, 9, 0, 0],
  [1, 1, 1, 0x44],
  [0, 0x44, 1, 0],
];

/** ICMP payloads: echo request and reply, every error type, an unknown type, and none. */
const icmpPayloadArb = fc
  .tuple(fc.constantFrom(0, 3, 4, 5, 8, 11, 12, 13, 42), fc.uint8Array({ minLength: 7, maxLength: 7 }))
  .map(([t, rest]) => Uint8Array.of(t, ...rest));

const packetArb = fc
  .record({
    src: addrArb,
    dst: addrArb,
    ttl: fc.oneof(fc.constantFrom(0, 1, 2, 3, 64, 255), fc.integer({ min: 0, max: 255 })),
    df: fc.boolean(),
    frag: fc.oneof(
      { weight: 4, arbitrary: fc.constant({ mf: false, fragOffset: 0 }) },
      {
        weight: 1,
        arbitrary: fc.record({
          mf: fc.boolean(),
          fragOffset: fc.integer({ min: 0, max: 8000 }).map((n) => n * 8),
        }),
      },
    ),
    protocol: fc.constantFrom(IPPROTO_ICMP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, 47),
    icmp: icmpPayloadArb,
    options: fc.constantFrom(...OPTION_CHOICES),
    size: fc.oneof(
      fc.integer({ min: 0, max: 64 }),
      fc.constantFrom(
        47,
        48,
        49,
        527,
        528,
        529,
        536,
        556,
        557,
        1232,
        1260,
        1261,
        1452,
        1480,
        1481,
        8960,
        8981,
      ),
      fc.integer({ min: 0, max: 9100 }),
    ),
    corrupt: fc.constantFrom('none', 'none', 'none', 'none', 'none', 'checksum', 'version', 'truncate'),
    tos: fc.integer({ min: 0, max: 255 }),
  })
  .map((r) => {
    const payload = new Uint8Array(Math.max(r.size, r.protocol === IPPROTO_ICMP ? 8 : 0));
    if (r.protocol === IPPROTO_ICMP) payload.set(r.icmp);
    const p = ipv4Packet({
      src: r.src,
      dst: r.dst,
      ttl: r.ttl,
      df: r.df,
      ...r.frag,
      protocol: r.protocol,
      options: Uint8Array.from(r.options),
      payload,
      tos: r.tos,
    });
    switch (r.corrupt) {
      case 'checksum':
        p[10]! ^= 0x40;
        return p;
      case 'version':
        p[0] = (p[0]! & 0x0f) | 0x60;
        return refillIpv4(p);
      case 'truncate':
        return p.subarray(0, Math.max(0, p.length - 3));
      default:
        return p;
    }
  });

const ERROR_TYPES = new Set([3, 4, 5, 11, 12]);

function isIcmpError(p: Uint8Array): boolean {
  const hl = (p[0]! & 0x0f) * 4;
  return p.length > hl && p[9] === IPPROTO_ICMP && ERROR_TYPES.has(p[hl]!);
}

describe('decide4 properties', () => {
  it('reaches every kind of decision and most reasons (the generators are not too narrow)', () => {
    const seen = new Set<string>();
    const samples = fc.sample(fc.tuple(contextArb, packetArb, fc.constantFrom(...INDICES)), {
      numRuns: 20_000,
      seed: 42,
    });
    for (const [ctx, p, ingress] of samples) {
      const d = decide4(p, ingress, ctx);
      seen.add(d.kind);
      if (d.kind === 'drop' || d.kind === 'icmp-error') seen.add(d.reason);
      if ((d.kind === 'forward' || d.kind === 'fragment') && d.redirect) seen.add('redirect');
    }
    for (const k of ['local', 'forward', 'fragment', 'icmp-error', 'drop', 'redirect'])
      expect(seen).toContain(k);
    const unreached = FORWARD_DROP_REASONS.filter((r) => !seen.has(r));
    // IPv6-only reasons; 'mtu-too-small' needs an MTU below the contract's 68.
    expect(unreached.sort()).toEqual(['link-local-suppressed', 'mtu-too-small', 'unknown-option']);
  });

  it('agrees with the naive reference model on random packets and topologies', () => {
    fc.assert(
      fc.property(contextArb, packetArb, fc.constantFrom(...INDICES), (ctx, p, ingress) => {
        expect(decide4(p, ingress, ctx)).toEqual(model4(p, ingress, ctx));
      }),
      propOptions(2000),
    );
  });

  it('never answers an ICMP error or a non-first fragment; every reason is listed; sizes hold', () => {
    const reasons = new Set<string>(FORWARD_DROP_REASONS);
    fc.assert(
      fc.property(contextArb, packetArb, fc.constantFrom(...INDICES), (ctx, p, ingress) => {
        const d = decide4(p, ingress, ctx);
        if (d.kind === 'drop' || d.kind === 'icmp-error') expect(reasons.has(d.reason)).toBe(true);
        const nonFirst = p.length >= 8 && ((p[6]! << 8) | p[7]!) % 0x2000 !== 0;
        if (isIcmpError(p) || nonFirst) {
          expect(d.kind).not.toBe('icmp-error');
          expect(d).not.toHaveProperty('redirect');
        }
        const total = p.length >= 4 ? (p[2]! << 8) | p[3]! : 0;
        const mtuOf = (i: number) => ctx.interfaces.find((x) => x.index === i)!.mtu;
        if (d.kind === 'forward') expect(total).toBeLessThanOrEqual(mtuOf(d.egress));
        if (d.kind === 'fragment') {
          expect(total).toBeGreaterThan(d.mtu);
          expect(p[6]! & 0x40).toBe(0);
        }
        if (d.kind === 'forward' || d.kind === 'fragment') expect(p[8]).toBeGreaterThanOrEqual(2);
      }),
      propOptions(1000),
    );
  });
});
