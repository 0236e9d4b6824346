/**
 * The router role of the NDP core (RFC 4861 §6.2, RFC 8106): configuration, unsolicited and
 * solicited Router Advertisements on virtual time, their content on the wire, the Router flag, what
 * a router does with other routers' RAs and with Router Solicitations, the final RA, a property over
 * random schedules, and a host core configured by the RAs a router core sends.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Ipv6Addr,
  ipv6Equal,
  ipv6MulticastMac,
  ipv6ToString,
  isIpv6Multicast,
  type Mac,
  parseIpv6Addr,
  solicitedNode,
} from '../../src/addr.js';
import { toHex } from '../../src/bytes.js';
import {
  emitIcmpv6,
  type Icmpv6Repr,
  icmpv6HeaderLen,
  type NdpOption,
  parseIcmpv6,
} from '../../src/ipv6/icmp.js';
import {
  ALL_NODES,
  ALL_ROUTERS,
  curHopLimit,
  defaultRouter,
  initialNdp,
  isOurAddress,
  linkLocalAddress,
  linkMtu,
  MAX_INITIAL_RTR_ADVERT_INTERVAL,
  MAX_RA_DELAY_TIME,
  MIN_DELAY_BETWEEN_RAS,
  type NdpConfig,
  type NdpConfigOptions,
  type NdpEvent,
  type NdpOutput,
  type NdpRouterConfig,
  type NdpRouterOptions,
  type NdpState,
  ndpConfig,
  ndpDeadline,
  ndpRouterConfig,
  ndpStep,
  neighbour,
  onLink,
} from '../../src/ipv6/ndp.js';
import { propOptions } from '../support/props.js';
import { OUR_LL, OUR_MAC, receivedArb } from './ndp-arb.js';

const addr = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

interface Host {
  readonly ip: Ipv6Addr;
  readonly mac: Mac;
}

const R_MAC = 0x02_00_00_00_00_01 as Mac;
const R_LL = linkLocalAddress(R_MAC);
const HOST: Host = { ip: addr('fe80::c'), mac: 0x02_00_00_00_00_0c as Mac };
const HOST2: Host = { ip: addr('fe80::d'), mac: 0x02_00_00_00_00_0d as Mac };
const MOVED = 0x02_00_00_00_00_2c as Mac;
const OTHER_ROUTER: Host = { ip: addr('fe80::2'), mac: 0x02_00_00_00_01_02 as Mac };
const UNSPEC = addr('::');
const PREFIX = addr('2001:db8:1::');
const DNS = [addr('2001:db8::53'), addr('2001:db8::35')];

const ROUTER: NdpRouterOptions = {
  advertise: true,
  prefixes: [{ prefix: PREFIX, prefixLen: 64 }],
  mtu: 1480,
  rdnss: { addresses: DNS },
};
/** DAD off: the link-local address is usable at `start`, so the first RA goes out then. */
const QUICK: NdpConfigOptions = { dupAddrDetectTransmits: 0, router: ROUTER };

type Send = Extract<NdpOutput, { kind: 'send' }>;
type Ra = Extract<Icmpv6Repr, { kind: 'router-advertisement' }>;

const sllao = (mac: Mac): NdpOption => ({ kind: 'source-link-addr', mac });

/** The message as it goes on the wire and comes back: emitted, then parsed with the checksum verified. */
function wire(o: Send): { bytes: Uint8Array; repr: Icmpv6Repr } {
  const bytes = new Uint8Array(icmpv6HeaderLen(o.message));
  const ph = { version: 6 as const, src: o.src, dst: o.dst };
  emitIcmpv6(o.message, bytes, ph);
  const r = parseIcmpv6(bytes, ph);
  if (!r.ok) throw new Error(`our message does not parse: ${r.error.kind}`);
  return { bytes, repr: r.value.repr };
}

const isRa = (o: NdpOutput): o is Send & { message: Ra } =>
  o.kind === 'send' && o.message.kind === 'router-advertisement';

// ---- a script on virtual time (as in ndp.test.ts) ----

const frozen = new WeakSet<object>();
/** Freezes a state deeply; Maps get throwing mutators. */
function deepFreeze(x: unknown): void {
  if (x === null || typeof x !== 'object' || frozen.has(x)) return;
  frozen.add(x);
  if (ArrayBuffer.isView(x)) return;
  if (x instanceof Map) {
    for (const [k, v] of x) {
      deepFreeze(k);
      deepFreeze(v);
    }
    for (const m of ['set', 'delete', 'clear'])
      Object.defineProperty(x, m, {
        value: () => {
          throw new TypeError(`${m} on a frozen Map`);
        },
      });
  }
  Object.freeze(x);
  for (const v of Object.values(x)) deepFreeze(v);
}

function step(state: NdpState, event: NdpEvent): [NdpState, readonly NdpOutput[]] {
  deepFreeze(state);
  return ndpStep(state, event);
}

interface Logged {
  readonly at: number;
  readonly o: NdpOutput;
}

class Script {
  state: NdpState;
  now = 0;
  log: Logged[] = [];

  constructor(options: NdpConfigOptions = QUICK, seed = 1, mac: Mac = R_MAC) {
    this.state = initialNdp(ndpConfig(mac, options), 0, seed);
  }

  run(event: NdpEvent): this {
    const [s, out] = step(this.state, event);
    this.state = s;
    for (const o of out) this.log.push({ at: this.now, o });
    return this;
  }
  start(): this {
    return this.run({ kind: 'start', now: this.now });
  }
  stop(): this {
    return this.run({ kind: 'stop', now: this.now });
  }
  advanceTo(t: number): this {
    this.now = t;
    return this.run({ kind: 'tick', now: t });
  }
  advance(ms: number): this {
    return this.advanceTo(this.now + ms);
  }
  advanceToDeadline(): this {
    const d = ndpDeadline(this.state);
    if (d === null) throw new Error('no deadline');
    return this.advanceTo(Math.max(this.now, d));
  }
  recv(from: Host, message: Icmpv6Repr, o: { src?: Ipv6Addr; dst?: Ipv6Addr; hopLimit?: number } = {}): this {
    return this.run({
      kind: 'received',
      now: this.now,
      src: o.src ?? from.ip,
      dst: o.dst ?? (message.kind === 'router-solicitation' ? ALL_ROUTERS : R_LL),
      hopLimit: o.hopLimit ?? 255,
      srcMac: from.mac,
      message,
    });
  }
  /** A Router Solicitation from `from`, with its SLLAO unless told otherwise (§4.1). */
  rs(from: Host, o: { src?: Ipv6Addr; sllao?: boolean } = {}): this {
    const options = (o.sllao ?? true) ? [sllao(from.mac)] : [];
    return this.recv(
      from,
      { kind: 'router-solicitation', options },
      o.src === undefined ? {} : { src: o.src },
    );
  }
  /** Times of the Router Advertisements sent so far. */
  raTimes(): number[] {
    return this.log.filter((l) => isRa(l.o)).map((l) => l.at);
  }
  ras(): (Send & { message: Ra })[] {
    return this.log.flatMap((l) => (isRa(l.o) ? [l.o] : []));
  }
  take(): NdpOutput[] {
    const out = this.log.map((l) => l.o);
    this.log = [];
    return out;
  }
  counter(name: keyof NdpState['counters']): number {
    return this.state.counters[name];
  }
}

// ---- configuration ----

describe('router configuration (RFC 4861 §6.2.1, RFC 8106 §5.1)', () => {
  it('fills the defaults: no advertising, 200 s/600 s, lifetime 1800 s, hop limit 64, no MTU or RDNSS', () => {
    const r = ndpConfig(R_MAC, { router: {} }).router!;
    expect(r).toEqual({
      advertise: false,
      prefixes: [],
      routerLifetime: 1800,
      curHopLimit: 64,
      reachableTime: 0,
      retransTimer: 0,
      minInterval: 200_000,
      maxInterval: 600_000,
    } satisfies NdpRouterConfig);
    expect(ndpConfig(R_MAC).router, 'a host has no router role').toBeUndefined();
  });

  it('defaults each prefix to L and A, 30 days valid and 7 days preferred, and RDNSS to 3 x MaxRtrAdvInterval', () => {
    const r = ndpRouterConfig({ ...ROUTER, maxInterval: 100_000 });
    expect(r.prefixes).toEqual([
      {
        prefix: PREFIX,
        prefixLen: 64,
        onLink: true,
        autonomous: true,
        validLifetime: 2_592_000,
        preferredLifetime: 604_800,
      },
    ]);
    expect(r.rdnss).toEqual({ addresses: DNS, lifetime: 300 });
    expect([r.minInterval, r.routerLifetime, r.mtu]).toEqual([33_333, 300, 1480]);
  });

  it('advertises a prefix with the bits after its length cleared (RFC 4861 §4.6.2)', () => {
    const address = parseIpv6Addr('2001:db8:7:8:1:2:3:4')!;
    const r = ndpRouterConfig({ prefixes: [{ prefix: address, prefixLen: 64 }] });
    expect(ipv6ToString(r.prefixes[0]!.prefix)).toBe('2001:db8:7:8::');
  });

  it('defaults MinRtrAdvInterval to 0.75 x MaxRtrAdvInterval below 9 s (erratum 3154)', () => {
    expect(ndpRouterConfig({ maxInterval: 8_000 }).minInterval).toBe(6_000);
    expect(ndpRouterConfig({ maxInterval: 4_000 }).minInterval).toBe(3_000);
    expect(ndpRouterConfig({ maxInterval: 1_800_000 }).routerLifetime).toBe(5400);
  });

  const bad: [string, NdpRouterOptions, number?][] = [
    ['MaxRtrAdvInterval under 4 s', { maxInterval: 3_999 }],
    ['MaxRtrAdvInterval over 1800 s', { maxInterval: 1_800_001 }],
    ['MinRtrAdvInterval under 3 s', { minInterval: 2_999 }],
    ['MinRtrAdvInterval over 0.75 x max', { maxInterval: 10_000, minInterval: 7_501 }],
    ['a router lifetime under MaxRtrAdvInterval', { routerLifetime: 599 }],
    ['a router lifetime over 9000 s', { routerLifetime: 9001 }],
    ['a hop limit over 255', { curHopLimit: 256 }],
    ['a reachable time over an hour', { reachableTime: 3_600_001 }],
    ['an MTU under 1280', { mtu: 1279 }],
    ['an MTU over the link MTU', { mtu: 1501 }],
    ['a link-local prefix', { prefixes: [{ prefix: addr('fe80::'), prefixLen: 64 }] }],
    ['a prefix length over 128', { prefixes: [{ prefix: PREFIX, prefixLen: 129 }] }],
    [
      'a preferred lifetime above the valid one',
      { prefixes: [{ prefix: PREFIX, prefixLen: 64, validLifetime: 10, preferredLifetime: 11 }] },
    ],
    ['RDNSS without a server', { rdnss: { addresses: [] } }],
    ['RDNSS with a multicast server', { rdnss: { addresses: [ALL_NODES] } }],
    [
      'an advertisement larger than the link MTU',
      { prefixes: Array.from({ length: 39 }, () => ({ prefix: PREFIX, prefixLen: 64 })) },
      1280,
    ],
  ];
  it.each(bad)('refuses %s', (_name, router, mtu = 1500) => {
    expect(() => initialNdp(ndpConfig(R_MAC, { mtu, router }), 0, 1)).toThrow(RangeError);
  });

  it('accepts the bounds themselves and a zero router lifetime', () => {
    for (const router of [
      { maxInterval: 4_000, minInterval: 3_000, routerLifetime: 4 },
      { maxInterval: 1_800_000, minInterval: 1_350_000, routerLifetime: 9000 },
      { routerLifetime: 0, reachableTime: 3_600_000, mtu: 1280 },
      { prefixes: Array.from({ length: 38 }, () => ({ prefix: PREFIX, prefixLen: 64 })) },
    ])
      expect(() => initialNdp(ndpConfig(R_MAC, { mtu: 1280, router }), 0, 1)).not.toThrow();
  });
});

// ---- becoming an advertising interface ----

describe('a router interface starts (RFC 4861 §6.2.2)', () => {
  it('joins all-nodes and all-routers, and sends the first RA once the link-local address is preferred', () => {
    const t = new Script().start();
    const out = t.take();
    expect(out.slice(0, 4)).toEqual([
      { kind: 'join', group: ALL_NODES },
      { kind: 'join', group: ALL_ROUTERS },
      { kind: 'join', group: solicitedNode(R_LL) },
      { kind: 'address', address: R_LL, prefixLen: 64, state: 'preferred' },
    ]);
    expect(out.slice(4).map((o) => o.kind === 'send' && o.message.kind)).toEqual(['router-advertisement']);
    expect(t.counter('ra-sent-unsolicited')).toBe(1);
  });

  it('sends no RA while the link-local address is tentative, and does not answer solicitations then', () => {
    const t = new Script({ router: ROUTER }).start();
    t.rs(HOST);
    const dadDue = t.state.addresses[0]!.dad!.due;
    t.advanceTo(dadDue).advance(999);
    expect(t.ras(), 'nothing during DAD').toEqual([]);
    expect(t.state.ra).toBeNull();
    t.advance(1);
    expect(t.raTimes(), 'RetransTimer after the DAD solicitation: preferred, then the RA').toEqual([
      dadDue + 1000,
    ]);
    expect(t.counter('rs-sent'), 'a router sends no Router Solicitation').toBe(0);
    expect(t.state.rs).toBeNull();
  });

  it('never advertises when AdvSendAdvertisements is off, but still routes (R flag, all-routers)', () => {
    const t = new Script({ dupAddrDetectTransmits: 0, router: { ...ROUTER, advertise: false } }).start();
    expect(t.take().filter((o) => o.kind === 'join')).toContainEqual({ kind: 'join', group: ALL_ROUTERS });
    t.rs(HOST).advance(3_600_000);
    expect(t.ras()).toEqual([]);
    expect([ndpDeadline(t.state), t.counter('rs-received')]).toEqual([null, 1]);
    t.recv(
      HOST,
      { kind: 'neighbor-solicitation', target: R_LL, options: [sllao(HOST.mac)] },
      {
        dst: solicitedNode(R_LL),
      },
    );
    const na = t.take().find((o) => o.kind === 'send');
    expect(na?.kind === 'send' && na.message).toMatchObject({ kind: 'neighbor-advertisement', router: true });
  });

  it('does not advertise after a duplicated link-local address (RFC 4862 §5.4.5)', () => {
    const t = new Script({ router: ROUTER }).start();
    t.recv(
      HOST,
      { kind: 'neighbor-solicitation', target: R_LL, options: [] },
      {
        src: UNSPEC,
        dst: solicitedNode(R_LL),
      },
    );
    t.advance(3_600_000);
    expect(t.ras()).toEqual([]);
    expect(t.state.disabled).toBe(true);
  });
});

// ---- the advertisement ----

describe('Router Advertisement content (RFC 4861 §6.2.3, RFC 8106 §5.1)', () => {
  it('goes to all-nodes from the link-local address, hop limit 255, with every option, byte for byte', () => {
    const t = new Script().start();
    const [ra] = t.ras();
    expect([ra!.src, ra!.dst, ra!.dstMac, ra!.hopLimit]).toEqual([
      R_LL,
      ALL_NODES,
      ipv6MulticastMac(ALL_NODES),
      255,
    ]);
    const { bytes, repr } = wire(ra!);
    const hex = toHex(bytes);
    // Type 134, code 0, checksum (verified by the parse), hop limit 64, M=O=0, lifetime 1800 s,
    // reachable 0, retrans 0; SLLAO; MTU 1480; PIO /64 L A, 2592000 s, 604800 s; RDNSS 1800 s.
    expect(hex.slice(0, 4) + hex.slice(8)).toBe(
      [
        '8600',
        '40000708',
        '00000000',
        '00000000',
        '0101020000000001',
        '05010000000005c8',
        '030440c000278d0000093a800000000020010db8000100000000000000000000',
        '1905000000000708',
        '20010db8000000000000000000000053',
        '20010db8000000000000000000000035',
      ].join(''),
    );
    expect(repr).toEqual(ra!.message);
    expect(repr).toEqual({
      kind: 'router-advertisement',
      curHopLimit: 64,
      managed: false,
      other: false,
      routerLifetime: 1800,
      reachableTime: 0,
      retransTimer: 0,
      options: [
        sllao(R_MAC),
        { kind: 'mtu', mtu: 1480 },
        {
          kind: 'prefix-info',
          prefixLen: 64,
          onLink: true,
          autonomous: true,
          validLifetime: 2_592_000,
          preferredLifetime: 604_800,
          prefix: PREFIX,
        },
        { kind: 'rdnss', lifetime: 1800, addresses: DNS },
      ],
    });
  });

  it('carries the configured fields and omits the MTU and RDNSS options when not configured', () => {
    const router = {
      advertise: true,
      curHopLimit: 0,
      reachableTime: 30_000,
      retransTimer: 1_000,
      routerLifetime: 0,
    };
    const [ra] = new Script({ dupAddrDetectTransmits: 0, router }).start().ras();
    expect(wire(ra!).repr).toEqual({
      kind: 'router-advertisement',
      curHopLimit: 0,
      managed: false,
      other: false,
      routerLifetime: 0,
      reachableTime: 30_000,
      retransTimer: 1_000,
      options: [sllao(R_MAC)],
    });
  });
});

// ---- unsolicited advertisements ----

describe('unsolicited Router Advertisements (RFC 4861 §6.2.4)', () => {
  /** Intervals between the first `n` RAs when the driver ticks at every deadline. */
  const intervals = (router: NdpRouterOptions, seed: number, n: number): number[] => {
    const t = new Script({ dupAddrDetectTransmits: 0, router: { ...ROUTER, ...router } }, seed).start();
    while (t.raTimes().length < n) t.advanceToDeadline();
    const times = t.raTimes();
    return times.slice(1).map((x, i) => x - times[i]!);
  };

  it('sends the first three 16 s apart, then at random intervals in [MinRtrAdvInterval, MaxRtrAdvInterval]', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const gaps = intervals({}, seed, 12);
      expect(gaps.slice(0, 2), 'MAX_INITIAL_RTR_ADVERT_INTERVAL caps 200-600 s').toEqual([16_000, 16_000]);
      for (const g of gaps.slice(2))
        expect(g >= 200_000 && g <= 600_000, `${g} in [200 s, 600 s]`).toBe(true);
    }
    const later = Array.from({ length: 10 }, (_, i) => intervals({}, i + 1, 5).slice(2)).flat();
    expect(new Set(later).size, 'randomised (§6.2.4 "not strictly periodic")').toBeGreaterThan(15);
  });

  it('keeps random intervals below 16 s as drawn, and caps only the first ones', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const small = intervals({ minInterval: 3_000, maxInterval: 4_000 }, seed, 8);
      for (const g of small) expect(g >= 3_000 && g <= 4_000).toBe(true);
      const mid = intervals({ minInterval: 10_000, maxInterval: 20_000 }, seed, 10);
      for (const g of mid.slice(0, 2)) expect(g >= 10_000 && g <= MAX_INITIAL_RTR_ADVERT_INTERVAL).toBe(true);
      for (const g of mid.slice(2)) expect(g >= 10_000 && g <= 20_000).toBe(true);
    }
  });

  it('keeps the next RA in the deadline, and a tick before it changes nothing', () => {
    const t = new Script().start();
    const due = t.state.ra!.due;
    expect(ndpDeadline(t.state)).toBe(due);
    const before = t.state;
    t.advanceTo(due - 1);
    expect(t.state, 'same state object').toBe(before);
    expect(t.ras()).toHaveLength(1);
  });
});

// ---- solicitations ----

describe('Router Solicitations (RFC 4861 §6.1.1, §6.2.6)', () => {
  /** A router past its initial RAs: the next unsolicited RA is at least 200 s away. */
  const settled = (seed = 1): Script => {
    const t = new Script(QUICK, seed).start();
    while (t.raTimes().length < 3) t.advanceToDeadline();
    t.advance(10_000);
    t.take();
    return t;
  };

  it('answers within MAX_RA_DELAY_TIME with a multicast RA, and restarts the interval timer', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const t = settled(seed);
      const at = t.now;
      t.rs(HOST);
      expect(ndpDeadline(t.state)! - at).toBeLessThanOrEqual(MAX_RA_DELAY_TIME);
      t.advanceToDeadline();
      const [ra] = t.ras();
      expect(ra?.dst, 'to all-nodes').toEqual(ALL_NODES);
      expect(t.now - at).toBeLessThanOrEqual(MAX_RA_DELAY_TIME);
      expect([t.counter('ra-sent-solicited'), t.counter('rs-received')]).toEqual([1, 1]);
      const next = t.state.ra!.due - t.now;
      expect(next >= 200_000 && next <= 600_000, 'a new random interval').toBe(true);
    }
  });

  it('answers several solicitations with one RA, the delay from the first', () => {
    const t = settled();
    const at = t.now;
    t.rs(HOST);
    const due = ndpDeadline(t.state)!;
    expect(due - at, 'this seed draws a delay over 100 ms').toBeGreaterThan(100);
    t.advance(100).rs(HOST2);
    expect(ndpDeadline(t.state), 'unchanged by the second').toBe(due);
    t.advanceTo(at + 2_000)
      .rs(HOST)
      .advanceTo(at + 2_999);
    expect(
      t.raTimes().filter((x) => x < at + MIN_DELAY_BETWEEN_RAS),
      'one multicast RA in 3 s',
    ).toHaveLength(1);
    const first = t.raTimes()[0]!;
    t.advanceToDeadline();
    const second = t.raTimes()[1]!;
    expect(second - first, 'the third solicitation waits for MIN_DELAY_BETWEEN_RAS').toBeGreaterThanOrEqual(
      MIN_DELAY_BETWEEN_RAS,
    );
    expect(second - first).toBeLessThanOrEqual(MIN_DELAY_BETWEEN_RAS + MAX_RA_DELAY_TIME);
    expect(t.counter('rs-received')).toBe(3);
  });

  it('delays the answer to MIN_DELAY_BETWEEN_RAS after an unsolicited RA', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const t = new Script(QUICK, seed).start();
      t.advance(1_000).rs(HOST);
      const due = ndpDeadline(t.state)!;
      expect(due >= 3_000 && due <= 3_000 + MAX_RA_DELAY_TIME, `${due}`).toBe(true);
    }
  });

  it('keeps an unsolicited RA due sooner than the random delay', () => {
    const t = new Script(QUICK, 3).start();
    const due = t.state.ra!.due;
    t.advanceTo(due - 1).rs(HOST);
    expect(ndpDeadline(t.state)).toBe(due);
    t.advanceTo(due);
    expect(t.ras()).toHaveLength(2);
    expect(t.counter('ra-sent-solicited'), 'it answers the solicitation').toBe(1);
  });

  it('learns the soliciting host STALE, a host (IsRouter FALSE), from its SLLAO', () => {
    const t = settled();
    t.recv(
      OTHER_ROUTER,
      {
        kind: 'router-advertisement',
        curHopLimit: 0,
        managed: false,
        other: false,
        routerLifetime: 1800,
        reachableTime: 0,
        retransTimer: 0,
        options: [sllao(OTHER_ROUTER.mac)],
      },
      { dst: ALL_NODES },
    );
    expect(neighbour(t.state, OTHER_ROUTER.ip)).toMatchObject({ state: 'stale', isRouter: true });
    t.rs(OTHER_ROUTER, { sllao: false });
    expect(neighbour(t.state, OTHER_ROUTER.ip), '"MUST be set to FALSE" without SLLAO too').toMatchObject({
      state: 'stale',
      isRouter: false,
    });
    t.rs(HOST);
    expect(neighbour(t.state, HOST.ip)).toMatchObject({ state: 'stale', isRouter: false, mac: HOST.mac });
    t.rs({ ip: HOST.ip, mac: MOVED });
    expect(neighbour(t.state, HOST.ip), 'a new address: updated, STALE').toMatchObject({
      state: 'stale',
      mac: MOVED,
    });
  });

  it('answers a solicitation from :: without learning it; one from :: with a SLLAO is invalid', () => {
    const t = settled();
    t.rs(HOST, { src: UNSPEC, sllao: true });
    expect([t.counter('rs-unspecified-with-sllao'), t.counter('rs-received'), t.state.ra!.solicited]).toEqual(
      [1, 0, false],
    );
    t.rs(HOST, { src: UNSPEC, sllao: false });
    expect([t.counter('rs-received'), t.state.ra!.solicited]).toEqual([1, true]);
    expect(t.state.neighbours.size).toBe(0);
  });

  it('discards solicitations with a hop limit under 255 (§6.1.1) and does nothing with them', () => {
    const t = settled();
    const before = t.state.ra;
    t.recv(
      HOST,
      { kind: 'router-solicitation', options: [sllao(HOST.mac)] },
      { dst: ALL_ROUTERS, hopLimit: 64 },
    );
    expect([t.state.ra, t.counter('bad-hop-limit'), t.state.neighbours.size]).toEqual([before, 1, 0]);
  });

  it('a host still discards them (§6.1.1)', () => {
    const t = new Script({ dupAddrDetectTransmits: 0, maxRtrSolicitations: 0 }, 1, HOST2.mac).start();
    t.take();
    t.rs(HOST);
    expect([t.counter('rs-ignored'), t.counter('rs-received'), t.take()]).toEqual([1, 0, []]);
  });
});

// ---- the router's other duties ----

describe('a router on the link (RFC 4861 §4.4, §6.2.5, §6.2.7)', () => {
  it('sets the Router flag in its Neighbor Advertisements', () => {
    const t = new Script().start();
    t.take();
    t.recv(
      HOST,
      { kind: 'neighbor-solicitation', target: R_LL, options: [sllao(HOST.mac)] },
      {
        dst: solicitedNode(R_LL),
      },
    );
    expect(t.take()).toEqual([
      {
        kind: 'send',
        dst: HOST.ip,
        src: R_LL,
        dstMac: HOST.mac,
        hopLimit: 255,
        message: {
          kind: 'neighbor-advertisement',
          router: true,
          solicited: true,
          override: true,
          target: R_LL,
          options: [{ kind: 'target-link-addr', mac: R_MAC }],
        },
      },
    ]);
  });

  it("takes no default router, prefix, MTU, hop limit or timers from another router's RA", () => {
    const t = new Script().start();
    const ra: Icmpv6Repr = {
      kind: 'router-advertisement',
      curHopLimit: 7,
      managed: false,
      other: false,
      routerLifetime: 1800,
      reachableTime: 12_345,
      retransTimer: 2_222,
      options: [
        sllao(OTHER_ROUTER.mac),
        { kind: 'mtu', mtu: 1300 },
        {
          kind: 'prefix-info',
          prefixLen: 64,
          onLink: true,
          autonomous: true,
          validLifetime: 86_400,
          preferredLifetime: 14_400,
          prefix: addr('2001:db8:2::'),
        },
      ],
    };
    t.take();
    t.recv(OTHER_ROUTER, ra, { dst: ALL_NODES });
    expect(t.take(), 'no router, prefix, mtu or address output').toEqual([]);
    expect(defaultRouter(t.state)).toBeUndefined();
    expect([curHopLimit(t.state), linkMtu(t.state), t.state.retransTimer, t.state.baseReachableTime]).toEqual(
      [64, 1500, 1000, 30_000],
    );
    expect([t.state.prefixes, t.state.addresses.length]).toEqual([[], 1]);
    expect(onLink(t.state, addr('2001:db8:2::1'))).toBe(false);
    expect(t.counter('ra-ignored-routing')).toBe(1);
    expect(neighbour(t.state, OTHER_ROUTER.ip), 'the cache still learns it (Appendix C)').toMatchObject({
      state: 'stale',
      isRouter: true,
    });
  });

  it('counts its own advertised on-link prefixes as on-link', () => {
    const t = new Script().start();
    expect(onLink(t.state, addr('2001:db8:1::99'))).toBe(true);
    const noL = new Script({
      dupAddrDetectTransmits: 0,
      router: { prefixes: [{ prefix: PREFIX, prefixLen: 64, onLink: false }] },
    }).start();
    expect(onLink(noL.state, addr('2001:db8:1::99'))).toBe(false);
  });

  it('on stop sends one final RA with router lifetime 0, then no RA and no answers', () => {
    const t = new Script().start().advance(5_000);
    t.take();
    t.stop();
    const out = t.take();
    expect(out).toHaveLength(1);
    const ra = out[0] as Send & { message: Ra };
    expect(isRa(ra) && ra.dst).toEqual(ALL_NODES);
    expect(wire(ra).repr).toMatchObject({ kind: 'router-advertisement', routerLifetime: 0 });
    expect(ra.message.options, 'the same options').toEqual(new Script().start().ras()[0]!.message.options);
    expect([t.counter('ra-sent-final'), t.state.ra, ndpDeadline(t.state)]).toEqual([1, null, null]);
    const stopped = t.state;
    t.stop();
    expect(t.state, 'a second stop changes nothing').toBe(stopped);
    t.rs(HOST).advance(3_600_000);
    expect(t.ras()).toEqual([]);
  });

  it('on stop before its first RA sends nothing, and never starts advertising', () => {
    const t = new Script({ router: ROUTER }).start().stop();
    t.advance(3_600_000);
    expect(t.ras()).toEqual([]);
    expect([t.state.raCeased, t.counter('ra-sent-final')]).toEqual([true, 0]);
  });

  it('a stop on a host changes nothing', () => {
    const t = new Script({ dupAddrDetectTransmits: 0 }, 1, HOST2.mac).start();
    const before = t.state;
    expect(t.stop().state).toBe(before);
  });
});

// ---- two cores on one link ----

interface Node {
  readonly name: string;
  readonly mac: Mac;
  state: NdpState;
  readonly sent: Logged[];
}

/** Delivers `out` of `from` to every node it reaches (multicast to all, unicast by MAC), over the wire. */
function deliver(nodes: readonly Node[], from: Node, out: readonly NdpOutput[], now: number): void {
  const queue: [Node, NdpOutput][] = out.map((o) => [from, o]);
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [src, o] = next;
    src.sent.push({ at: now, o });
    if (o.kind !== 'send') continue;
    const message = wire(o).repr;
    for (const n of nodes) {
      if (n === src || !(isIpv6Multicast(o.dst) || o.dstMac === n.mac)) continue;
      const ev: NdpEvent = {
        kind: 'received',
        now,
        src: o.src,
        dst: o.dst,
        hopLimit: 255,
        srcMac: src.mac,
        message,
      };
      const [s, more] = step(n.state, ev);
      n.state = s;
      for (const m of more) queue.push([n, m]);
    }
  }
}

/** Ticks every node at its deadlines up to `until`. */
function runUntil(nodes: readonly Node[], until: number): void {
  for (;;) {
    const dues = nodes.map((n) => ndpDeadline(n.state) ?? Number.POSITIVE_INFINITY);
    const now = Math.min(...dues);
    if (now > until) return;
    const n = nodes[dues.indexOf(now)]!;
    const [s, out] = step(n.state, { kind: 'tick', now });
    n.state = s;
    deliver(nodes, n, out, now);
  }
}

function event(nodes: readonly Node[], n: Node, ev: NdpEvent): void {
  const [s, out] = step(n.state, ev);
  n.state = s;
  deliver(nodes, n, out, ev.now);
}

describe('a host core configured by a router core', () => {
  it('forms a SLAAC address, takes the router, MTU and prefix, reaches it, and drops it at stop', () => {
    const H_MAC = 0x02_00_00_00_00_0a as Mac;
    const router: Node = {
      name: 'router',
      mac: R_MAC,
      state: initialNdp(ndpConfig(R_MAC, { router: ROUTER }), 0, 11),
      sent: [],
    };
    const host: Node = { name: 'host', mac: H_MAC, state: initialNdp(ndpConfig(H_MAC), 0, 12), sent: [] };
    const nodes = [router, host];
    // The host comes up after the router's first RA, so its solicitation is what configures it.
    event(nodes, router, { kind: 'start', now: 0 });
    runUntil(nodes, 5_000);
    expect(router.state.counters['ra-sent-unsolicited']).toBe(1);
    event(nodes, host, { kind: 'start', now: 5_000 });
    runUntil(nodes, 60_000);

    const slaac = addr('2001:db8:1::ff:fe00:a');
    expect(isOurAddress(host.state, slaac), 'prefix + EUI-64, through DAD').toBe(true);
    expect(defaultRouter(host.state)).toEqual(R_LL);
    expect([linkMtu(host.state), onLink(host.state, addr('2001:db8:1::5'))]).toEqual([1480, true]);
    const ras = router.sent.flatMap((l) => (isRa(l.o) ? [l.o.message] : []));
    expect(ras.length).toBeGreaterThanOrEqual(3);
    expect(ras[0]!.options, 'the host saw the RDNSS option').toContainEqual({
      kind: 'rdnss',
      lifetime: 1800,
      addresses: DNS,
    });
    expect(router.state.counters['ra-sent-solicited'], "the host's RS was answered").toBe(1);
    expect(host.state.counters['rs-sent']).toBeGreaterThanOrEqual(1);
    expect(neighbour(router.state, linkLocalAddress(H_MAC)), 'learnt from the RS').toMatchObject({
      isRouter: false,
    });

    // Traffic to the router: STALE -> DELAY -> PROBE, answered by an NA with R=1 (§7.3.3, §4.4).
    const packet = new Uint8Array(40);
    packet[0] = 0x60;
    packet.set(slaac, 8);
    packet.set(R_LL, 24);
    event(nodes, host, { kind: 'resolve', now: 60_000, nextHop: R_LL, packet });
    runUntil(nodes, 70_000);
    expect(neighbour(host.state, R_LL)).toMatchObject({ state: 'reachable', isRouter: true, mac: R_MAC });
    const nas = router.sent.flatMap((l) =>
      l.o.kind === 'send' && l.o.message.kind === 'neighbor-advertisement' ? [l.o.message] : [],
    );
    expect(nas.length).toBeGreaterThanOrEqual(1);
    for (const na of nas) expect(na.router).toBe(true);

    // §6.2.5: the final RA times the router out at once on the host (§6.3.4).
    event(nodes, router, { kind: 'stop', now: 70_000 });
    expect(defaultRouter(host.state)).toBeUndefined();
    expect(isOurAddress(host.state, slaac), 'the prefix lifetimes still hold').toBe(true);
  });
});

// ---- properties ----

function check(ok: boolean, what: string, detail?: unknown): void {
  if (!ok) throw new Error(detail === undefined ? what : `${what}: ${JSON.stringify(detail)}`);
}

const PEERS: readonly Host[] = [
  HOST,
  HOST2,
  OTHER_ROUTER,
  { ip: addr('fe80::e'), mac: 0x02_00_00_00_00_0e as Mac },
];

type Command =
  | {
      readonly kind: 'rs';
      readonly peer: Host;
      readonly unspecified: boolean;
      readonly sllao: boolean;
      readonly hopLimit: number;
    }
  | {
      readonly kind: 'received';
      readonly received: Omit<Extract<NdpEvent, { kind: 'received' }>, 'kind' | 'now'>;
    }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'sleep'; readonly ms: number }
  | { readonly kind: 'deadline' }
  | { readonly kind: 'stop' };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('rs' as const),
      peer: fc.constantFrom(...PEERS),
      unspecified: fc.oneof(
        { weight: 4, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      sllao: fc.boolean(),
      hopLimit: fc.oneof(
        { weight: 10, arbitrary: fc.constant(255) },
        { weight: 1, arbitrary: fc.constant(1) },
      ),
    }),
  },
  { weight: 2, arbitrary: receivedArb.map((received) => ({ kind: 'received' as const, received })) },
  {
    weight: 5,
    arbitrary: fc
      .oneof(fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 30_000 }))
      .map((ms) => ({ kind: 'wait' as const, ms })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 8_000 }).map((ms) => ({ kind: 'sleep' as const, ms })) },
  { weight: 5, arbitrary: fc.constant({ kind: 'deadline' as const }) },
);

/** Commands, and sometimes a `stop` followed by more commands (nothing may be advertised after it). */
const scriptArb = (maxLength: number): fc.Arbitrary<Command[]> =>
  fc
    .tuple(
      fc.array(commandArb, { maxLength, size: 'large' }),
      fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      fc.array(commandArb, { maxLength: 20 }),
    )
    .map(([before, stop, after]) => (stop ? [...before, { kind: 'stop' as const }, ...after] : before));

const configArb: fc.Arbitrary<NdpConfig> = fc
  .record({
    maxInterval: fc.integer({ min: 4_000, max: 40_000 }),
    minFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    lifetime: fc.constantFrom(undefined, 0, 9000),
    advertise: fc.oneof(
      { weight: 6, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    dupAddrDetectTransmits: fc.integer({ min: 0, max: 2 }),
    maxNeighbours: fc.integer({ min: 1, max: 4 }),
    mtu: fc.constantFrom(undefined, 1280, 1500),
    rdnss: fc.boolean(),
  })
  .map((o) => {
    const cap = Math.floor(0.75 * o.maxInterval);
    const router: NdpRouterOptions = {
      advertise: o.advertise,
      maxInterval: o.maxInterval,
      minInterval: 3_000 + Math.floor(o.minFraction * (cap - 3_000)),
      prefixes: [{ prefix: PREFIX, prefixLen: 64 }],
      ...(o.lifetime === undefined ? {} : { routerLifetime: o.lifetime }),
      ...(o.mtu === undefined ? {} : { mtu: o.mtu }),
      ...(o.rdnss ? { rdnss: { addresses: DNS } } : {}),
    };
    // The MAC the noise of ndp-arb.ts solicits and contests.
    return ndpConfig(OUR_MAC, {
      dupAddrDetectTransmits: o.dupAddrDetectTransmits,
      maxNeighbours: o.maxNeighbours,
      router,
    });
  });

/** The earliest time anything is due, computed apart from the core. */
function due(s: NdpState): number | null {
  let t = s.ra?.due ?? Number.POSITIVE_INFINITY;
  if (s.rs !== null) t = Math.min(t, s.rs.due);
  for (const a of s.addresses) {
    if (a.dad !== null) t = Math.min(t, a.dad.due);
    if (a.state === 'preferred') t = Math.min(t, a.preferredUntil);
    t = Math.min(t, a.validUntil);
  }
  for (const e of s.neighbours.values()) {
    const when =
      e.state === 'incomplete'
        ? e.nextSolicit
        : e.state === 'reachable'
          ? e.expires
          : e.state === 'delay'
            ? e.probeAt
            : e.state === 'probe'
              ? e.nextProbe
              : Number.POSITIVE_INFINITY;
    t = Math.min(t, when);
  }
  return t === Number.POSITIVE_INFINITY ? null : t;
}

/** Runs a script and checks the RFC 4861 §6.2.4/§6.2.6 timing rules and the bounds after every step. */
function runRouter(config: NdpConfig, seed: number, script: readonly Command[]): string {
  const r = config.router!;
  let state = initialNdp(config, 0, seed);
  let now = 0;
  let lastRa: number | null = null;
  let ras = 0;
  let stopped = false;
  const trace: unknown[] = [];
  const expected = (lifetime: number): Icmpv6Repr => {
    const options: NdpOption[] = [sllao(OUR_MAC)];
    if (r.mtu !== undefined) options.push({ kind: 'mtu', mtu: r.mtu });
    for (const p of r.prefixes) options.push({ kind: 'prefix-info', ...p });
    if (r.rdnss !== undefined) options.push({ kind: 'rdnss', ...r.rdnss });
    return {
      kind: 'router-advertisement',
      curHopLimit: r.curHopLimit,
      managed: false,
      other: false,
      routerLifetime: lifetime,
      reachableTime: r.reachableTime,
      retransTimer: r.retransTimer,
      options,
    };
  };

  const apply = (event: NdpEvent): void => {
    const prev = state;
    const [s, out] = step(prev, event);
    state = s;
    trace.push(out, s.ra, s.deadline);
    const assigned = (a: Uint8Array) => isOurAddress(prev, a) || isOurAddress(s, a);
    for (const o of out) {
      if (o.kind !== 'send') continue;
      const m = o.message;
      expect(wire(o).repr, 're-parses').toEqual(m);
      check(m.kind !== 'router-solicitation', 'a router sends no RS');
      if (m.kind === 'neighbor-advertisement') check(m.router, 'NA with R=1');
      if (m.kind !== 'router-advertisement') continue;
      check(r.advertise, 'RAs only from an advertising interface');
      check(!stopped, 'nothing after stop');
      check(ipv6Equal(o.src, OUR_LL) && assigned(o.src), 'from the assigned link-local address');
      check(ipv6Equal(o.dst, ALL_NODES) && o.dstMac === ipv6MulticastMac(ALL_NODES), 'to all-nodes');
      if (event.kind === 'stop') {
        expect(m, 'final RA: lifetime 0, same content').toEqual(expected(0));
        continue;
      }
      expect(m, 'RA content').toEqual(expected(r.routerLifetime));
      // §6.2.6: "consecutive Router Advertisements sent to the all-nodes multicast address MUST be
      // rate limited to no more than one advertisement every MIN_DELAY_BETWEEN_RAS seconds".
      if (lastRa !== null)
        check(event.now - lastRa >= MIN_DELAY_BETWEEN_RAS, 'MIN_DELAY_BETWEEN_RAS', event.now - lastRa);
      const solicited = s.counters['ra-sent-solicited'] > prev.counters['ra-sent-solicited'];
      // §6.2.6: "unsolicited multicast advertisements MUST NOT be sent more frequently than
      // indicated by MinRtrAdvInterval" (the first few: at most 16 s apart, §6.2.4).
      const floor = ras < 3 ? Math.min(r.minInterval, MAX_INITIAL_RTR_ADVERT_INTERVAL) : r.minInterval;
      if (lastRa !== null && !solicited)
        check(event.now - lastRa >= floor, 'MinRtrAdvInterval', event.now - lastRa);
      // A timer never fires early (an answer may go at once, on the solicitation).
      if (prev.ra !== null && event.kind === 'tick') check(event.now >= prev.ra.due, 'not before its time');
      // §6.2.4: the timer is reset to a random value in [Min, Max], capped at 16 s for the first ones.
      const next = s.ra!.due - event.now;
      ras++;
      const [lo, hi] =
        ras < 3
          ? [
              Math.min(r.minInterval, MAX_INITIAL_RTR_ADVERT_INTERVAL),
              Math.min(r.maxInterval, MAX_INITIAL_RTR_ADVERT_INTERVAL),
            ]
          : [r.minInterval, r.maxInterval];
      check(next >= lo && next <= hi, 'next interval within bounds', { next, lo, hi, ras });
      lastRa = event.now;
    }
    // Only an RA moves the next one later (§6.2.6: an answer never postpones the scheduled RA).
    const sentRa = out.some((o) => isRa(o));
    if (!sentRa && prev.ra !== null && s.ra !== null)
      check(s.ra.due <= prev.ra.due, 'the next RA never recedes');
    // §6.2.6: a valid solicitation is answered within MAX_RA_DELAY_TIME, after the rate limit.
    if (s.counters['rs-received'] > prev.counters['rs-received'] && s.ra !== null && prev.ra !== null) {
      const answered = s.counters['ra-sent-solicited'] > prev.counters['ra-sent-solicited'];
      const bound = Math.max(event.now, (lastRa ?? 0) + MIN_DELAY_BETWEEN_RAS) + MAX_RA_DELAY_TIME;
      check(answered || (s.ra.solicited && s.ra.due <= bound), 'RS answered in time', {
        due: s.ra.due,
        bound,
      });
    }
    if (event.kind === 'stop') stopped = true;
    // Bounds, and nothing taken from other routers.
    check(s.ra === null || (s.ra.sent >= 0 && s.ra.sent <= 3), 'initial count bounded');
    check(s.neighbours.size <= config.maxNeighbours, 'neighbours bounded');
    check(s.routers.length === 0 && s.prefixes.length === 0 && s.rs === null, 'no routers, prefixes or RS');
    check(
      s.addresses.every((a) => a.origin !== 'slaac'),
      'no SLAAC address',
    );
    check(s.linkMtu === config.mtu && s.curHopLimit === 64, 'link variables untouched');
    check(ndpDeadline(s) === due(s), 'deadline is the earliest due time', [ndpDeadline(s), due(s)]);
    // Pure: a tick before the deadline returns the very same state and sends nothing.
    const d = ndpDeadline(s);
    if (d === null || d > event.now) {
      const at = d === null ? event.now + 1e9 : d - 1e-3;
      const [same, nothing] = step(s, { kind: 'tick', now: Math.max(event.now, at) });
      check(same === s && nothing.length === 0, 'tick before the deadline changes nothing');
    }
  };

  apply({ kind: 'start', now });
  for (const c of script) {
    switch (c.kind) {
      case 'rs': {
        const options = c.sllao ? [sllao(c.peer.mac)] : [];
        apply({
          kind: 'received',
          now,
          src: c.unspecified ? UNSPEC : c.peer.ip,
          dst: ALL_ROUTERS,
          hopLimit: c.hopLimit,
          srcMac: c.peer.mac,
          message: { kind: 'router-solicitation', options },
        });
        break;
      }
      case 'received':
        apply({ kind: 'received', now, ...c.received });
        break;
      case 'wait':
        now += c.ms;
        apply({ kind: 'tick', now });
        break;
      case 'sleep':
        now += c.ms;
        break;
      case 'deadline': {
        const d = ndpDeadline(state);
        if (d === null) break;
        now = Math.max(now, d);
        apply({ kind: 'tick', now });
        break;
      }
      case 'stop':
        apply({ kind: 'stop', now });
        break;
    }
  }
  return JSON.stringify(trace, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v).join('.') : v));
}

describe('router properties', () => {
  it('random solicitations, traffic and driver timing never break §6.2.4/§6.2.6 or the bounds', () => {
    fc.assert(
      fc.property(configArb, fc.integer(), scriptArb(100), (config, seed, script) => {
        runRouter(config, seed, script);
      }),
      propOptions(),
    );
  });

  it('is deterministic for a seed', () => {
    fc.assert(
      fc.property(configArb, fc.integer(), scriptArb(60), (config, seed, script) => {
        const [a, b] = [runRouter(config, seed, script), runRouter(config, seed, script)];
        check(a === b, 'same outputs, schedule and deadlines for the same seed', a.length);
      }),
      propOptions(50),
    );
  });
});
