/**
 * The IPv4 layer alone, without a stack: a fake environment, one interface and a recording ARP.
 * What it shows: the layer needs only its narrow interfaces (src/stack/layer.ts), delivers by its
 * protocol table, and answers a protocol nobody listens on with ICMP.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, type Mac, parseIpv4Addr } from '../../src/addr.js';
import { arpConfig, initialArp } from '../../src/arp/cache.js';
import { VirtualScheduler } from '../../src/clock.js';
import { emitIcmpv4, ICMPV4_HEADER_LEN, parseIcmpv4 } from '../../src/ipv4/icmp.js';
import { emitIpv4, Ipv4Packet } from '../../src/ipv4/wire.js';
import { initialNdp, ndpConfig } from '../../src/ipv6/ndp.js';
import { memoryPair } from '../../src/link/memory.js';
import { Random } from '../../src/random.js';
import { Counters } from '../../src/stack/counters.js';
import type { TransportError } from '../../src/stack/errors.js';
import { Interface } from '../../src/stack/iface.js';
import { type Ipv4Datagram, Ipv4Layer } from '../../src/stack/ipv4.js';
import type { StackEnv } from '../../src/stack/layer.js';
import { ipv4Routes } from '../../src/stack/routes.js';
import { propOptions } from '../support/props.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const MAC = 0x02_00_00_00_00_01 as Mac;

function layer() {
  const scheduler = new VirtualScheduler();
  const counters = new Counters();
  const env: StackEnv = {
    scheduler,
    random: new Random(1),
    counters,
    now: () => scheduler.now(),
    drop: (reason) => counters.add(typeof reason === 'string' ? reason : `${reason.layer}/${reason.kind}`),
    logEvent: () => {},
    rearm: () => {},
  };
  const [link] = memoryPair(scheduler);
  const cidr = { address: ip('10.0.0.1'), prefixLen: 24 };
  const iface = new Interface(
    0,
    link,
    MAC,
    1500,
    [cidr],
    [],
    false,
    initialArp(arpConfig(MAC, [cidr.address]), 0),
    initialNdp(ndpConfig(MAC), 0, 1),
  );
  const routes = ipv4Routes();
  routes.add({ prefix: ip('10.0.0.0'), prefixLen: 24, iface: 0 });
  const sent: { nextHop: Ipv4Addr; packet: Uint8Array }[] = [];
  const arp = {
    resolveAndSend: (_i: Interface, nextHop: Ipv4Addr, packet: Uint8Array) => sent.push({ nextHop, packet }),
  };
  const ipv4 = new Ipv4Layer(env, [iface], routes, arp);
  return { ipv4, iface, sent, counters };
}

function datagram(protocol: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p.set(payload, 20);
  emitIpv4(
    {
      src: ip('10.0.0.2'),
      dst: ip('10.0.0.1'),
      protocol,
      ttl: 64,
      dscp: 0,
      ecn: 0,
      ident: 7,
      dontFragment: false,
      moreFragments: false,
      fragOffset: 0,
      options: new Uint8Array(0),
    },
    p,
  );
  return p;
}

describe('the IPv4 layer on its own', () => {
  it('delivers to the protocol registered for the datagram', () => {
    const { ipv4, iface, sent } = layer();
    const got: [Ipv4Datagram, Uint8Array][] = [];
    ipv4.protocols.set(99, { input: (d, p) => got.push([d, p.slice()]) > 0 });
    ipv4.input(iface, datagram(99, new Uint8Array([1, 2, 3])), false);
    expect(got).toHaveLength(1);
    expect(got[0]![0].src).toBe(ip('10.0.0.2'));
    expect([...got[0]![1]]).toEqual([1, 2, 3]);
    expect(sent).toEqual([]);
  });

  it('answers Port Unreachable when the protocol says nobody listens, Protocol Unreachable when none is registered', () => {
    const { ipv4, iface, sent, counters } = layer();
    ipv4.protocols.set(17, { input: () => false });
    ipv4.input(iface, datagram(17, new Uint8Array(8)), false);
    ipv4.input(iface, datagram(98, new Uint8Array(8)), false);
    const codes = sent.map((s) => {
      const p = Ipv4Packet.check(s.packet);
      if (!p.ok) throw new Error('not IPv4');
      const icmp = parseIcmpv4(p.value.payload);
      if (!icmp.ok || icmp.value.repr.type !== 'dest-unreachable') throw new Error('not an unreachable');
      return icmp.value.repr.code;
    });
    expect(codes).toEqual([3, 2]);
    expect(sent.every((s) => s.nextHop === ip('10.0.0.2'))).toBe(true);
    expect(counters.get('ipv4/unknown-protocol')).toBe(1);
  });
});

/** An ICMP error (type 3 or 11) from 10.0.0.2 to us, holding `quote` after its 8-byte header. */
function icmpError(type: 'dest-unreachable' | 'time-exceeded', code: number, quote: Uint8Array): Uint8Array {
  const icmp = new Uint8Array(ICMPV4_HEADER_LEN + quote.length);
  icmp.set(quote, ICMPV4_HEADER_LEN);
  emitIcmpv4(type === 'dest-unreachable' ? { type, code, nextHopMtu: 0 } : { type, code }, icmp);
  return datagram(1, icmp);
}

/** A datagram we sent (10.0.0.1 -> 10.0.0.9) with an 8-byte transport header, as a router quotes it. */
function ours(protocol: number, fragOffset = 0): Uint8Array {
  const p = new Uint8Array(28);
  emitIpv4(
    {
      src: ip('10.0.0.1'),
      dst: ip('10.0.0.9'),
      protocol,
      ttl: 64,
      dscp: 0,
      ecn: 0,
      ident: 9,
      dontFragment: true,
      moreFragments: false,
      fragOffset,
      options: new Uint8Array(0),
    },
    p,
  );
  p.set([0xc0, 0x01, 0x00, 0x50, 1, 2, 3, 4], 20);
  return p;
}

describe('ICMP errors about our datagrams go to the transport that sent them (RFC 1122 §4.2.3.9)', () => {
  function withHandler() {
    const l = layer();
    const got: TransportError<Ipv4Addr>[] = [];
    l.ipv4.transportErrors.set(6, (e) => got.push({ ...e, header: e.header.slice() }));
    return { ...l, got };
  }

  it.each([
    ['net unreachable', 'dest-unreachable', 0, 'ENETUNREACH', false],
    ['host unreachable', 'dest-unreachable', 1, 'EHOSTUNREACH', false],
    ['port unreachable', 'dest-unreachable', 3, 'ECONNREFUSED', true],
    ['administratively prohibited', 'dest-unreachable', 13, 'EHOSTUNREACH', true],
    ['time exceeded', 'time-exceeded', 0, 'EHOSTUNREACH', false],
  ] as const)('%s: handed over as %s, with the quoted addresses and header', (_w, type, code, error, hard) => {
    const { ipv4, iface, got } = withHandler();
    ipv4.input(iface, icmpError(type, code, ours(6)), false);
    expect(got).toHaveLength(1);
    expect(got[0]!.kind).toEqual({ error, hard });
    expect(got[0]!.local).toBe(ip('10.0.0.1'));
    expect(got[0]!.remote).toBe(ip('10.0.0.9'));
    expect([...got[0]!.header]).toEqual([0xc0, 0x01, 0x00, 0x50, 1, 2, 3, 4]);
  });

  it('hands Fragmentation Needed to TCP as path-MTU information (RFC 1191), other protocols not to TCP', () => {
    const { ipv4, iface, got } = withHandler();
    ipv4.input(iface, icmpError('dest-unreachable', 4, ours(6)), false);
    ipv4.input(iface, icmpError('dest-unreachable', 3, ours(17)), false);
    // No next-hop MTU (a pre-RFC 1191 router) and a 28-byte quote: the lowest plateau, 68 (§5).
    expect(got.map((e) => ({ hard: e.kind.hard, mtu: e.mtu }))).toEqual([{ hard: false, mtu: 68 }]);
  });

  it.each([
    ['a quote shorter than a header and 8 bytes', ours(6).subarray(0, 27)],
    ['a quote of a non-first fragment (no transport header in it)', ours(6, 64)],
    [
      'a quote of a datagram that is not ours',
      (() => {
        const q = ours(6);
        q.set([10, 0, 0, 7], 12);
        return q;
      })(),
    ],
    [
      'a quote that is not IPv4',
      (() => {
        const q = ours(6);
        q[0] = 0x65;
        return q;
      })(),
    ],
  ])('drops %s, counted', (_w, quote) => {
    const { ipv4, iface, got, counters } = withHandler();
    ipv4.input(iface, icmpError('dest-unreachable', 1, quote), false);
    expect(got).toEqual([]);
    expect(counters.get('ipv4/icmp-error-bad-quote')).toBe(1);
  });

  it('never throws, whatever the error quotes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 15 }), (quote, code) => {
        const { ipv4, iface } = withHandler();
        ipv4.input(iface, icmpError('dest-unreachable', code, quote), false);
      }),
      propOptions(300),
    );
  });
});
