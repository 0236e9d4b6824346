/**
 * fast-check arbitraries for the NDP core: small configs (so every bound is hit) and scripts of
 * commands over small pools of addresses (so neighbours collide, routers come and go, prefixes are
 * renewed and our own addresses are contested).
 */
import fc from 'fast-check';
import { type Ipv6Addr, type Mac, parseIpv6Addr, solicitedNode } from '../../src/addr.js';
import type { Icmpv6Repr, NdpOption } from '../../src/ipv6/icmp.js';
import { type NdpConfig, ndpConfig } from '../../src/ipv6/ndp.js';
import { macArb as anyMacArb } from '../ethernet/arb.js';
import { icmpv6ReprArb, ipv6AddrArb } from './arb.js';

const addr = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

export const OUR_MAC = 0x02_00_00_00_00_0a as Mac;
export const OUR_LL = addr('fe80::ff:fe00:a');
export const OUR_STATIC = addr('2001:db8:9::1');
/** What SLAAC forms from PREFIXES[0] and PREFIXES[1]. */
export const OUR_SLAAC = [addr('2001:db8:1::ff:fe00:a'), addr('2001:db8:2::ff:fe00:a')];
export const PREFIXES = [addr('2001:db8:1::'), addr('2001:db8:2::'), addr('2001:db8:3::')];

export interface Peer {
  readonly ip: Ipv6Addr;
  readonly mac: Mac;
}

/** Link-local peers (also the routers) and global ones. */
export const PEERS: readonly Peer[] = [
  { ip: addr('fe80::1'), mac: 0x02_00_00_00_01_01 as Mac },
  { ip: addr('fe80::2'), mac: 0x02_00_00_00_01_02 as Mac },
  { ip: addr('2001:db8:1::1'), mac: 0x02_00_00_00_01_03 as Mac },
  { ip: addr('2001:db8:1::2'), mac: 0x02_00_00_00_01_04 as Mac },
  { ip: addr('2001:db8:9::5'), mac: 0x02_00_00_00_01_05 as Mac },
];
export const OTHER_MACS: readonly Mac[] = [0x02_00_00_00_02_01 as Mac, 0x02_00_00_00_02_02 as Mac];
export const OURS: readonly Ipv6Addr[] = [OUR_LL, OUR_STATIC, ...OUR_SLAAC];
/** Next hops the core must not resolve, or maps without resolution. */
export const SPECIAL: readonly Ipv6Addr[] = [
  addr('::'),
  addr('::1'),
  addr('ff02::1'),
  addr('ff02::1:ff00:1'),
];

const peerArb = fc.constantFrom(...PEERS);
const macArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom(...OTHER_MACS) },
);
const oursArb = fc.constantFrom(...OURS);
const targetArb = fc.oneof(
  { weight: 4, arbitrary: oursArb },
  { weight: 3, arbitrary: peerArb.map((p) => p.ip) },
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL) },
);

export interface Received {
  readonly src: Ipv6Addr;
  readonly dst: Ipv6Addr;
  readonly hopLimit: number;
  readonly srcMac: Mac;
  readonly message: Icmpv6Repr;
}

const hopLimitArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant(255) },
  { weight: 1, arbitrary: fc.constant(64) },
);

/** A Neighbor Solicitation: resolution, NUD or (rarely, from ::) someone else's DAD. */
const nsArb: fc.Arbitrary<Received> = fc
  .record({
    peer: peerArb,
    target: targetArb,
    dad: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    sllao: fc.boolean(),
    unicast: fc.boolean(),
    moved: macArb,
    hopLimit: hopLimitArb,
  })
  .map(({ peer, target, dad, sllao, unicast, moved, hopLimit }) => {
    const mac = moved ?? peer.mac;
    const options: NdpOption[] = sllao ? [{ kind: 'source-link-addr', mac }] : [];
    return {
      src: dad ? addr('::') : peer.ip,
      dst: unicast && !dad ? target : solicitedNode(target),
      hopLimit,
      srcMac: mac,
      message: { kind: 'neighbor-solicitation', target, options },
    };
  });

/** A Neighbor Advertisement, mostly a peer advertising itself. */
const naArb: fc.Arbitrary<Received> = fc
  .record({
    peer: peerArb,
    self: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    target: targetArb,
    router: fc.boolean(),
    solicited: fc.boolean(),
    override: fc.boolean(),
    tllao: fc.oneof(
      { weight: 3, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    moved: macArb,
    multicast: fc.boolean(),
    hopLimit: hopLimitArb,
  })
  .map(({ peer, self, target, router, solicited, override, tllao, moved, multicast, hopLimit }) => {
    const mac = moved ?? peer.mac;
    const options: NdpOption[] = tllao ? [{ kind: 'target-link-addr', mac }] : [];
    return {
      src: peer.ip,
      dst: multicast ? addr('ff02::1') : OUR_LL,
      hopLimit,
      srcMac: mac,
      message: {
        kind: 'neighbor-advertisement',
        router,
        solicited,
        override,
        target: self ? peer.ip : target,
        options,
      },
    };
  });

const lifetimeArb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 40 }),
  fc.constantFrom(7200, 7201, 86_400, 0xffff_ffff),
);

const pioArb: fc.Arbitrary<NdpOption> = fc
  .record({
    prefix: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...PREFIXES) },
      { weight: 1, arbitrary: fc.constant(addr('fe80::')) },
    ),
    prefixLen: fc.oneof(
      { weight: 6, arbitrary: fc.constant(64) },
      { weight: 1, arbitrary: fc.constantFrom(48, 200) },
    ),
    onLink: fc.boolean(),
    autonomous: fc.boolean(),
    validLifetime: lifetimeArb,
    preferredLifetime: lifetimeArb,
  })
  .map((o) => ({ kind: 'prefix-info' as const, ...o }));

const raOptionArb: fc.Arbitrary<NdpOption> = fc.oneof(
  { weight: 3, arbitrary: pioArb },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1200, max: 1600 }).map((mtu) => ({ kind: 'mtu' as const, mtu })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...OTHER_MACS).map((mac) => ({ kind: 'source-link-addr' as const, mac })),
  },
);

/** A Router Advertisement from one of the link-local peers. */
const raArb: fc.Arbitrary<Received> = fc
  .record({
    router: fc.constantFrom(PEERS[0]!, PEERS[1]!, PEERS[2]!),
    sllao: fc.boolean(),
    multicast: fc.boolean(),
    routerLifetime: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 }), fc.constant(1800)),
    curHopLimit: fc.constantFrom(0, 64, 255),
    reachableTime: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40_000 })),
    retransTimer: fc.oneof(
      { weight: 5, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }) },
    ),
    options: fc.array(raOptionArb, { maxLength: 3 }),
    hopLimit: hopLimitArb,
  })
  .map(
    ({
      router,
      sllao,
      multicast,
      routerLifetime,
      curHopLimit,
      reachableTime,
      retransTimer,
      options,
      hopLimit,
    }) => ({
      src: router.ip,
      dst: multicast ? addr('ff02::1') : OUR_LL,
      hopLimit,
      srcMac: router.mac,
      message: {
        kind: 'router-advertisement',
        curHopLimit,
        managed: false,
        other: false,
        routerLifetime,
        reachableTime,
        retransTimer,
        options: sllao ? [...options, { kind: 'source-link-addr', mac: router.mac }] : options,
      },
    }),
  );

const otherArb: fc.Arbitrary<Received> = peerArb.chain((p) =>
  fc
    .constantFrom<Icmpv6Repr>(
      { kind: 'router-solicitation', options: [] },
      { kind: 'redirect', target: p.ip, destination: PREFIXES[2]!, options: [] },
      { kind: 'echo-request', ident: 1, seq: 1 },
    )
    .map((message) => ({ src: p.ip, dst: OUR_LL, hopLimit: 255, srcMac: p.mac, message })),
);

/** Anything `parseIcmpv6` can return, from anywhere: the core must stay total and within bounds. */
const wildArb: fc.Arbitrary<Received> = fc.record({
  src: fc.oneof(
    ipv6AddrArb,
    peerArb.map((p) => p.ip),
    fc.constant(addr('::')),
  ),
  dst: fc.oneof(ipv6AddrArb, fc.constantFrom(OUR_LL, addr('ff02::1'), solicitedNode(OUR_LL))),
  hopLimit: fc.oneof(
    { weight: 4, arbitrary: fc.constant(255) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  ),
  srcMac: fc.oneof(anyMacArb, fc.constant(OUR_MAC)),
  message: icmpv6ReprArb,
});

export const receivedArb: fc.Arbitrary<Received> = fc.oneof(
  { weight: 4, arbitrary: nsArb },
  { weight: 5, arbitrary: naArb },
  { weight: 3, arbitrary: raArb },
  { weight: 1, arbitrary: otherArb },
  { weight: 1, arbitrary: wildArb },
);

export const ndpConfigArb: fc.Arbitrary<NdpConfig> = fc
  .record({
    mtu: fc.constantFrom(1280, 1500),
    maxNeighbours: fc.integer({ min: 1, max: 4 }),
    pendingPerNeighbour: fc.integer({ min: 1, max: 3 }),
    pendingBytesPerNeighbour: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(1_000_000)),
    maxPendingTotalBytes: fc.integer({ min: 1, max: 400 }),
    maxRouters: fc.integer({ min: 2, max: 3 }),
    maxPrefixes: fc.integer({ min: 1, max: 3 }),
    maxAutoconfAddresses: fc.integer({ min: 0, max: 2 }),
    dupAddrDetectTransmits: fc.integer({ min: 0, max: 2 }),
    retransTimer: fc.integer({ min: 1, max: 1500 }),
    reachableTime: fc.integer({ min: 1, max: 40_000 }),
    maxMulticastSolicit: fc.integer({ min: 1, max: 3 }),
    maxUnicastSolicit: fc.integer({ min: 1, max: 3 }),
    delayFirstProbeTime: fc.integer({ min: 0, max: 6000 }),
    maxRtrSolicitations: fc.integer({ min: 0, max: 3 }),
    rtrSolicitationInterval: fc.integer({ min: 1, max: 5000 }),
    maxRtrSolicitationDelay: fc.integer({ min: 0, max: 1000 }),
    staticAddresses: fc.constantFrom([], [{ address: OUR_STATIC, prefixLen: 64 }]),
    acceptRa: fc.oneof(
      { weight: 5, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    slaac: fc.oneof(
      { weight: 5, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
  })
  .map((o) => ndpConfig(OUR_MAC, o));

/** One line of a script: every command but `wait`, `sleep` and `deadline` happens at the current time. */
export type NdpCommand =
  | { readonly kind: 'start' }
  | { readonly kind: 'received'; readonly received: Received }
  /** A packet of `size` bytes, optionally a view into a buffer `extra` bytes larger (pinning more). */
  | {
      readonly kind: 'resolve';
      readonly nextHop: Ipv6Addr;
      readonly size: number;
      readonly extra: number;
      /** Write an IPv6 header with this source (one of ours, or a stranger's). */
      readonly src: Ipv6Addr | undefined;
    }
  | { readonly kind: 'confirm'; readonly neighbour: Ipv6Addr }
  /** Advance time by `ms`, then tick. */
  | { readonly kind: 'wait'; readonly ms: number }
  /** Advance time by `ms` without ticking (a late driver). */
  | { readonly kind: 'sleep'; readonly ms: number }
  /** Advance to the deadline, if any, and tick. */
  | { readonly kind: 'deadline' };

const nextHopArb = fc.oneof(
  { weight: 8, arbitrary: peerArb.map((p) => p.ip) },
  { weight: 1, arbitrary: oursArb },
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL) },
);

export const ndpCommandArb: fc.Arbitrary<NdpCommand> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: 'start' as const }) },
  { weight: 6, arbitrary: receivedArb.map((received) => ({ kind: 'received' as const, received })) },
  {
    weight: 7,
    arbitrary: fc.record({
      kind: fc.constant('resolve' as const),
      nextHop: nextHopArb,
      size: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 40, max: 80 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 200 }) },
      ),
      extra: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 200 }) },
      ),
      src: fc.option(
        fc.oneof(
          oursArb,
          peerArb.map((p) => p.ip),
        ),
        { nil: undefined },
      ),
    }),
  },
  { weight: 1, arbitrary: peerArb.map((p) => ({ kind: 'confirm' as const, neighbour: p.ip })) },
  {
    weight: 4,
    arbitrary: fc
      .oneof(fc.integer({ min: 0, max: 800 }), fc.integer({ min: 0, max: 40_000 }))
      .map((ms) => ({ kind: 'wait' as const, ms })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 8000 }).map((ms) => ({ kind: 'sleep' as const, ms })) },
  { weight: 4, arbitrary: fc.constant({ kind: 'deadline' as const }) },
);

/** Mostly a script that starts first, as a driver does. */
export const ndpScriptArb: fc.Arbitrary<NdpCommand[]> = fc
  .tuple(
    fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    fc.array(ndpCommandArb, { maxLength: 120, size: 'large' }),
  )
  .map(([started, cmds]) => (started ? [{ kind: 'start' as const }, ...cmds] : cmds));

/** Fresh packets for the `resolve` commands of a script (identity matters: each is tracked by reference). */
export function packetsFor(script: readonly NdpCommand[]): Uint8Array[] {
  let n = 0;
  return script.flatMap((c) => {
    if (c.kind !== 'resolve') return [];
    const p = new Uint8Array(c.size + c.extra).subarray(0, c.size);
    if (c.src !== undefined && p.length >= 40) {
      p[0] = 0x60;
      p.set(c.src, 8);
      p.set(c.nextHop, 24);
    }
    if (p.length > 4) p[4] = n & 0xff;
    n++;
    return [p];
  });
}
