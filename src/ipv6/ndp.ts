/**
 * IPv6 Neighbor Discovery (RFC 4861) and Stateless Address Autoconfiguration (RFC 4862) for a host,
 * or for a router's interface when `config.router` is set (RFC 4861 §6.2), as a pure core:
 * `ndpStep(state, event) -> [state, outputs]` and `ndpDeadline(state)` (docs/ARCHITECTURE.md "Pure
 * cores"). The modules are in ndp/; the decisions in README.md.
 *
 * Contract: no clock, no randomness, no timers. Time comes in as `now` (monotonic ms) on every
 * event; the random delays (RS and DAD start, RFC 4861 §6.3.7, RFC 4862 §5.4.2) and ReachableTime
 * (§6.3.2) are drawn from a splitmix32 seed held in the state, so a seed replays a run. `ndpStep`
 * never mutates the state it is given and never throws on network input; a step that changes
 * nothing returns the very same state object. `initialNdp` throws only on a nonsensical config.
 *
 * Events: `start` (the link-local address fe80::EUI-64 and the static addresses, tentative, each
 * through DAD; then Router Solicitations), `received` (an ND message already parsed by
 * `parseIcmpv6`, whose checksum, code and lengths it checked, with the IPv6 source, destination and
 * hop limit and the Ethernet source), `resolve` (an IPv6 packet for a next hop), `tick`,
 * `confirm-reachability` (upper-layer forward progress, §7.3.1), and `stop` (shutdown: an
 * advertising interface sends its final Router Advertisement, §6.2.5).
 *
 * Outputs: `send` (an ND message; the driver builds IPv6 with hop limit 255 + ICMPv6 + Ethernet),
 * `transmit` (a packet and the MAC it goes to), `dropped`, `unreachable` (the driver answers each
 * packet with ICMPv6 address unreachable, RFC 4443 §3.1 code 3, subject to RFC 4443 §2.4 (e) and
 * rate limiting), `address` (added as `tentative`, then `preferred`, `deprecated`, `duplicated`,
 * `removed`), `dad-failed`, `conflict`, `join`/`leave` (multicast receive filter: all-nodes,
 * all-routers on a router, and the solicited-node groups of our addresses; no MLD report is built
 * here), `router`, `prefix`, `mtu`. A router's Router Advertisements are `send` outputs too.
 *
 * Packet ownership: the `packet` of a `resolve` event belongs to the core from then on and comes
 * back in exactly one `transmit`, `dropped` or `unreachable` output. It is accounted at the size of
 * the buffer it pins. Addresses in received messages are copied before they are retained.
 *
 * Bounds and policies when full: neighbours (`maxNeighbours`; only STALE/REACHABLE entries are
 * evicted, and with `keepInUse` not those in use, hosts before routers, least recently confirmed
 * first; otherwise the packet is dropped as `table-full`), INCOMPLETE entries (`maxIncomplete`; past
 * it a packet for a new neighbour is dropped as `incomplete-full`), pending packets (per neighbour
 * count and bytes, global bytes; oldest dropped first, §7.2.2), routers, on-link prefixes and SLAAC
 * addresses (new ones refused past the bound). A router's advertisement is checked at `initialNdp`
 * to fit the link MTU; its pending answer to solicitations is one scheduled RA, however many
 * solicitations come.
 */
import { type Ipv6Addr, ipv6Equal, ipv6Prefix, isIpv6LinkLocal, isIpv6Multicast, type Mac } from '../addr.js';
import { assertNever } from '../result.js';
import { addressTick, linkLocalAddress, sourceFor, startAddresses } from './ndp/addresses.js';
import { raTick, stopAdvertising } from './ndp/advertise.js';
import {
  ALL_NODES,
  ALL_ROUTERS,
  DEFAULT_HOP_LIMIT,
  Draft,
  drawReachableTime,
  findAddress,
  isAssigned,
  isUnspecified,
  MAX_REACHABLE_TIME,
  MIN_RANDOM_FACTOR,
  neighbourKey,
  prefixMatch,
} from './ndp/draft.js';
import { confirmReachability, neighbourTick, resolve } from './ndp/neighbours.js';
import { received } from './ndp/receive.js';
import { routerTick } from './ndp/routers.js';
import { rsTick } from './ndp/rs.js';
import {
  type AddressState,
  COUNTER_NAMES,
  type NdpAddress,
  type NdpConfig,
  type NdpCounterName,
  type NdpEvent,
  type NdpOutput,
  type NdpRdnssConfig,
  type NdpRouterConfig,
  type NdpRouterPrefix,
  type NdpState,
  type NeighbourEntry,
} from './ndp/types.js';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU } from './wire.js';

export type {
  AddressEvent,
  AddressOrigin,
  AddressState,
  DefaultRouter,
  NdpAddress,
  NdpConfig,
  NdpCounterName,
  NdpCounters,
  NdpDropReason,
  NdpEvent,
  NdpIgnoreReason,
  NdpOutput,
  NdpRdnssConfig,
  NdpRouterConfig,
  NdpRouterPrefix,
  NdpState,
  NeighbourEntry,
  NeighbourState,
  OnLinkPrefix,
  QueuedPacket,
  RaState,
  ReceivedNd,
  RsState,
  StaticAddress,
} from './ndp/types.js';
export { ALL_NODES, ALL_ROUTERS, INFINITE_LIFETIME, isSolicitedNode, neighbourKey } from './ndp/draft.js';
export { linkLocalAddress } from './ndp/addresses.js';
export {
  MAX_INITIAL_RTR_ADVERT_INTERVAL,
  MAX_INITIAL_RTR_ADVERTISEMENTS,
  MAX_RA_DELAY_TIME,
  MIN_DELAY_BETWEEN_RAS,
} from './ndp/advertise.js';

/** RFC 4861 §10 and RFC 4862 §5.1 defaults, in milliseconds; bounds chosen for a small host. */
export const NDP_DEFAULTS: Omit<NdpConfig, 'mac'> = {
  mtu: 1500,
  maxNeighbours: 1024,
  // A quarter of the table: a scan keeps the rest for resolved neighbours, and provokes at most 256
  // solicitations a second (one per INCOMPLETE entry per RetransTimer).
  maxIncomplete: 256,
  keepInUse: true,
  pendingPerNeighbour: 32,
  pendingBytesPerNeighbour: 64 * 1024,
  maxPendingTotalBytes: 1024 * 1024,
  maxRouters: 8,
  maxPrefixes: 16,
  maxAutoconfAddresses: 16,
  dupAddrDetectTransmits: 1,
  retransTimer: 1_000,
  reachableTime: 30_000,
  maxMulticastSolicit: 3,
  maxUnicastSolicit: 3,
  delayFirstProbeTime: 5_000,
  maxRtrSolicitations: 3,
  rtrSolicitationInterval: 4_000,
  maxRtrSolicitationDelay: 1_000,
  staticAddresses: [],
  acceptRa: true,
  slaac: true,
};

/** RFC 4861 §6.2.1 bounds and defaults for the router role, in the config's units. */
export const ROUTER_LIMITS = {
  /** MaxRtrAdvInterval "MUST be no less than 4 seconds and no greater than 1800 seconds". */
  minMaxInterval: 4_000,
  maxMaxInterval: 1_800_000,
  /** MinRtrAdvInterval "MUST be no less than 3 seconds and no greater than .75 * MaxRtrAdvInterval". */
  minMinInterval: 3_000,
  /** AdvDefaultLifetime "MUST be either zero or between MaxRtrAdvInterval and 9000 seconds". */
  maxRouterLifetime: 9000,
  defaultMaxInterval: 600_000,
  /** AdvValidLifetime 30 days, AdvPreferredLifetime 7 days. */
  defaultValidLifetime: 2_592_000,
  defaultPreferredLifetime: 604_800,
} as const;

/** A prefix for `ndpConfig`: the flags and lifetimes default per §6.2.1 (L and A set, 30 and 7 days). */
export type NdpRouterPrefixOptions = Pick<NdpRouterPrefix, 'prefix' | 'prefixLen'> &
  Partial<Omit<NdpRouterPrefix, 'prefix' | 'prefixLen'>>;
/** RDNSS for `ndpConfig`: the lifetime defaults to 3 x MaxRtrAdvInterval (RFC 8106 §5.1). */
export type NdpRdnssOptions = Pick<NdpRdnssConfig, 'addresses'> & Partial<Pick<NdpRdnssConfig, 'lifetime'>>;
/** The router role for `ndpConfig`; every field has the §6.2.1 default (AdvSendAdvertisements false). */
export type NdpRouterOptions = Partial<Omit<NdpRouterConfig, 'prefixes' | 'rdnss'>> & {
  readonly prefixes?: readonly NdpRouterPrefixOptions[];
  readonly rdnss?: NdpRdnssOptions;
};
export type NdpConfigOptions = Partial<Omit<NdpConfig, 'mac' | 'router'>> & {
  readonly router?: NdpRouterOptions;
};

/** A full config from the defaults. */
export function ndpConfig(mac: Mac, overrides: NdpConfigOptions = {}): NdpConfig {
  const { router, ...rest } = overrides;
  const c: NdpConfig = { ...NDP_DEFAULTS, ...rest, mac };
  return router === undefined ? c : { ...c, router: ndpRouterConfig(router) };
}

/** The router role with the RFC 4861 §6.2.1 and RFC 8106 §5.1 defaults filled in. */
export function ndpRouterConfig(o: NdpRouterOptions = {}): NdpRouterConfig {
  const L = ROUTER_LIMITS;
  const maxInterval = o.maxInterval ?? L.defaultMaxInterval;
  // "Default: 0.33 * MaxRtrAdvInterval If MaxRtrAdvInterval >= 9 seconds; otherwise, the Default is
  // 0.75 * MaxRtrAdvInterval" (erratum 3154). A third, as radvd: 200 s for the default 600 s.
  const minInterval =
    o.minInterval ?? Math.floor(maxInterval >= 9_000 ? maxInterval / 3 : maxInterval * 0.75);
  // "Default: 3 * MaxRtrAdvInterval", within the 9000 s limit. RFC 8106 §5.1: the RDNSS lifetime
  // "SHOULD by default be at least 3 * MaxRtrAdvInterval".
  const threeMax = Math.ceil((3 * maxInterval) / 1000);
  const c: NdpRouterConfig = {
    advertise: o.advertise ?? false,
    prefixes: (o.prefixes ?? []).map((p) => ({
      // RFC 4861 §4.6.2: the bits after the prefix length "MUST be initialized to zero".
      prefix: ipv6Prefix(p.prefix, p.prefixLen),
      prefixLen: p.prefixLen,
      onLink: p.onLink ?? true,
      autonomous: p.autonomous ?? true,
      validLifetime: p.validLifetime ?? L.defaultValidLifetime,
      preferredLifetime: p.preferredLifetime ?? L.defaultPreferredLifetime,
    })),
    routerLifetime: o.routerLifetime ?? Math.min(threeMax, L.maxRouterLifetime),
    curHopLimit: o.curHopLimit ?? DEFAULT_HOP_LIMIT,
    reachableTime: o.reachableTime ?? 0,
    retransTimer: o.retransTimer ?? 0,
    minInterval,
    maxInterval,
  };
  const withMtu = o.mtu === undefined ? c : { ...c, mtu: o.mtu };
  return o.rdnss === undefined
    ? withMtu
    : { ...withMtu, rdnss: { addresses: o.rdnss.addresses, lifetime: o.rdnss.lifetime ?? threeMax } };
}

export function initialNdp(config: NdpConfig, now: number, seed: number): NdpState {
  checkConfig(config);
  const counters = {} as Record<NdpCounterName, number>;
  for (const n of COUNTER_NAMES) counters[n] = 0;
  const s: NdpState = {
    config,
    now,
    rng: seed | 0,
    started: false,
    disabled: false,
    addresses: [],
    neighbours: new Map(),
    incomplete: 0,
    pendingBytes: 0,
    nextSeq: 0,
    routers: [],
    prefixes: [],
    rs: null,
    raSeen: false,
    linkMtu: config.mtu,
    curHopLimit: DEFAULT_HOP_LIMIT,
    baseReachableTime: config.reachableTime,
    reachableTime: Math.max(1, Math.floor(config.reachableTime * MIN_RANDOM_FACTOR)),
    reachableTimeDrawnAt: now,
    retransTimer: config.retransTimer,
    ra: null,
    raCeased: false,
    counters,
    deadline: null,
  };
  // The first ReachableTime is random like every later one (RFC 4861 §6.3.2).
  const d = new Draft(s, now);
  drawReachableTime(d);
  return d.finish()[0];
}

/** The earliest time a `tick` has something to do; `null` when nothing is scheduled. */
export function ndpDeadline(state: NdpState): number | null {
  return state.deadline;
}

export function ndpStep(state: NdpState, event: NdpEvent): [NdpState, readonly NdpOutput[]] {
  const d = new Draft(state, event.now);
  switch (event.kind) {
    case 'start':
      start(d);
      break;
    case 'received':
      received(d, event);
      break;
    case 'resolve':
      resolve(d, event.nextHop, event.packet);
      break;
    case 'tick':
      addressTick(d);
      rsTick(d);
      raTick(d);
      routerTick(d);
      neighbourTick(d);
      break;
    case 'confirm-reachability':
      confirmReachability(d, event.neighbour);
      break;
    case 'stop':
      stopAdvertising(d);
      break;
    default:
      assertNever(event);
  }
  return d.finish();
}

function start(d: Draft): void {
  if (d.get('started')) return;
  d.set('started', true);
  // RFC 4861 §6.3.3 and §7.2.1: "join the all-nodes multicast address".
  d.out.push({ kind: 'join', group: ALL_NODES });
  // §6.2.2: "A router MUST join the all-routers multicast address on an advertising interface"; we
  // join on every router interface (RFC 4291 §2.8: a router recognises it).
  if (d.config.router !== undefined) d.out.push({ kind: 'join', group: ALL_ROUTERS });
  startAddresses(d);
}

// ---- queries ----

/** Our addresses in every state, link-local first. */
export function addresses(state: NdpState): readonly NdpAddress[] {
  return state.addresses;
}

export function addressState(state: NdpState, a: Uint8Array): AddressState | undefined {
  return findAddress(state.addresses, a)?.state;
}

/** Assigned to us (preferred or deprecated): a destination we accept (RFC 4862 §5.5.4). */
export function isOurAddress(state: NdpState, a: Uint8Array): boolean {
  const x = findAddress(state.addresses, a);
  return x !== undefined && isAssigned(x);
}

/** The source address for a packet to `dst` (RFC 4861 §7.2.2 choice; `undefined` when none is assigned). */
export function sourceAddress(state: NdpState, dst: Uint8Array): Ipv6Addr | undefined {
  const a = sourceFor(state.addresses, dst);
  return isUnspecified(a) ? undefined : a;
}

/**
 * RFC 4861 §6.3.6: the first router on the list that is reachable or probably reachable (its entry
 * in any state but INCOMPLETE); otherwise the first one, which is the round robin because a router
 * whose resolution or probing fails moves to the end of the list.
 */
export function defaultRouter(state: NdpState): Ipv6Addr | undefined {
  for (const r of state.routers) {
    const e = state.neighbours.get(neighbourKey(r.addr));
    if (e !== undefined && e.state !== 'incomplete') return r.addr;
  }
  return state.routers[0]?.addr;
}

/**
 * Whether `a` is on-link (RFC 4861 §2.1, §5.2): multicast and link-local addresses, the prefixes of
 * static addresses, the Prefix List, and on a router the prefixes it advertises with L set (§6.2.1
 * AdvPrefixList: "prefixes ... on-link for the interface"). Prefixes of SLAAC addresses are not
 * (RFC 5942 §4).
 */
export function onLink(state: NdpState, a: Uint8Array): boolean {
  if (isIpv6Multicast(a) || isIpv6LinkLocal(a)) return true;
  for (const p of state.prefixes) if (prefixMatch(a, p.prefix, p.prefixLen)) return true;
  for (const p of state.config.router?.prefixes ?? [])
    if (p.onLink && prefixMatch(a, p.prefix, p.prefixLen)) return true;
  return state.addresses.some(
    (x) => x.origin === 'static' && isAssigned(x) && prefixMatch(a, x.address, x.prefixLen),
  );
}

/** LinkMTU (RFC 4861 §6.3.2): the config's MTU, or lower if an RA said so. */
export function linkMtu(state: NdpState): number {
  return state.linkMtu;
}

/** CurHopLimit (RFC 4861 §6.3.2) for the packets we originate. */
export function curHopLimit(state: NdpState): number {
  return state.curHopLimit;
}

/** The MAC of `a` if the cache holds one (any state but INCOMPLETE). */
export function lookup(state: NdpState, a: Uint8Array): Mac | undefined {
  const e = state.neighbours.get(neighbourKey(a));
  return e === undefined || e.state === 'incomplete' ? undefined : e.mac;
}

/**
 * The MAC a packet for `a` goes to when a `resolve` event would do nothing else: transmit to it and
 * leave the state as it is (REACHABLE, marked in use and not yet expired, DELAY or PROBE, on an
 * enabled interface, `a` not ours). The driver's per-packet fast path; otherwise it feeds `resolve`
 * (which marks a REACHABLE entry in use, once per confirmation).
 */
export function sendableMac(state: NdpState, a: Uint8Array, now: number): Mac | undefined {
  const e = state.neighbours.get(neighbourKey(a));
  if (e === undefined || state.disabled || findAddress(state.addresses, a) !== undefined) return undefined;
  if ((e.state === 'reachable' && e.inUse && e.expires > now) || e.state === 'delay' || e.state === 'probe')
    return e.mac;
  return undefined;
}

/**
 * Whether a `resolve` event for next hop `a` gives its packet straight back in a `transmit` output
 * (an entry past INCOMPLETE, §7.2.2 and §7.3.3) rather than queueing it: a router may then hand over
 * a view of a received frame, which the core does not keep.
 */
export function transmitsAtOnce(state: NdpState, a: Uint8Array): boolean {
  const e = state.neighbours.get(neighbourKey(a));
  if (e === undefined || state.disabled || findAddress(state.addresses, a) !== undefined) return false;
  return e.state !== 'incomplete';
}

/** The Neighbour Cache entry of `a`. */
export function neighbour(state: NdpState, a: Uint8Array): NeighbourEntry | undefined {
  return state.neighbours.get(neighbourKey(a));
}

function checkConfig(c: NdpConfig): void {
  const positive = [
    'maxNeighbours',
    'maxIncomplete',
    'pendingPerNeighbour',
    'pendingBytesPerNeighbour',
    'maxPendingTotalBytes',
    'maxPrefixes',
    'retransTimer',
    'reachableTime',
    'maxMulticastSolicit',
    'maxUnicastSolicit',
    'rtrSolicitationInterval',
  ] as const;
  for (const k of positive) if (!(c[k] > 0)) throw new RangeError(`NdpConfig.${k} must be positive`);
  for (const k of [
    'maxAutoconfAddresses',
    'dupAddrDetectTransmits',
    'delayFirstProbeTime',
    'maxRtrSolicitations',
    'maxRtrSolicitationDelay',
  ] as const) {
    if (!(c[k] >= 0)) throw new RangeError(`NdpConfig.${k} must not be negative`);
  }
  // RFC 4861 §6.3.4: "a host MUST retain at least two router addresses".
  if (!(c.maxRouters >= 2)) throw new RangeError('NdpConfig.maxRouters must be at least 2');
  if (!(c.mtu >= IPV6_MIN_MTU)) throw new RangeError('NdpConfig.mtu must be at least 1280 (RFC 8200 §5)');
  const seen: Uint8Array[] = [linkLocalAddress(c.mac)];
  for (const s of c.staticAddresses) {
    const a = s.address;
    if (a.length !== 16 || isIpv6Multicast(a) || isUnspecified(a))
      throw new RangeError('NdpConfig.staticAddresses: not a unicast address');
    if (!(s.prefixLen >= 0 && s.prefixLen <= 128))
      throw new RangeError('NdpConfig.staticAddresses: bad prefixLen');
    if (seen.some((x) => ipv6Equal(x, a)))
      throw new RangeError('NdpConfig.staticAddresses: duplicate address');
    seen.push(a);
  }
  if (c.router !== undefined) checkRouterConfig(c.router, c.mtu);
}

const U32 = 0xffff_ffff;
const isU32 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= U32;

/** RFC 4861 §6.2.1 ranges and RFC 8106 §5.1 for the router role; the RA must fit the link MTU. */
function checkRouterConfig(r: NdpRouterConfig, linkMtu: number): void {
  const L = ROUTER_LIMITS;
  const fail = (what: string): never => {
    throw new RangeError(`NdpConfig.router: ${what}`);
  };
  if (
    !Number.isInteger(r.maxInterval) ||
    r.maxInterval < L.minMaxInterval ||
    r.maxInterval > L.maxMaxInterval
  )
    fail('maxInterval must be 4 s..1800 s (RFC 4861 §6.2.1)');
  if (
    !Number.isInteger(r.minInterval) ||
    r.minInterval < L.minMinInterval ||
    r.minInterval > 0.75 * r.maxInterval
  )
    fail('minInterval must be 3 s..0.75 x maxInterval (RFC 4861 §6.2.1)');
  const lifetime = r.routerLifetime;
  if (
    !Number.isInteger(lifetime) ||
    (lifetime !== 0 && (lifetime * 1000 < r.maxInterval || lifetime > L.maxRouterLifetime))
  )
    fail('routerLifetime must be 0 or maxInterval..9000 s (RFC 4861 §6.2.1)');
  if (!Number.isInteger(r.curHopLimit) || r.curHopLimit < 0 || r.curHopLimit > 255)
    fail('curHopLimit 0..255');
  if (!Number.isInteger(r.reachableTime) || r.reachableTime < 0 || r.reachableTime > MAX_REACHABLE_TIME)
    fail('reachableTime must be 0..3,600,000 ms (RFC 4861 §6.2.1)');
  if (!isU32(r.retransTimer)) fail('retransTimer must fit 32 bits');
  if (r.mtu !== undefined && !(Number.isInteger(r.mtu) && r.mtu >= IPV6_MIN_MTU && r.mtu <= linkMtu))
    fail('mtu must be 1280..the link MTU');
  for (const p of r.prefixes) {
    if (p.prefix.length !== 16 || !Number.isInteger(p.prefixLen) || p.prefixLen < 0 || p.prefixLen > 128)
      fail('a prefix needs 16 bytes and a length 0..128');
    // "The link-local prefix SHOULD NOT be included in the list of advertised prefixes."
    if (isIpv6LinkLocal(p.prefix) || isIpv6Multicast(p.prefix)) fail('a link-local or multicast prefix');
    if (!isU32(p.validLifetime) || !isU32(p.preferredLifetime)) fail('prefix lifetimes must fit 32 bits');
    // AdvPreferredLifetime "MUST NOT be larger than AdvValidLifetime".
    if (p.preferredLifetime > p.validLifetime) fail('a preferred lifetime above the valid lifetime');
  }
  if (r.rdnss !== undefined) {
    const n = r.rdnss.addresses.length;
    // RFC 8106 §5.1: "one or more" addresses; the 8-bit Length (1 + 2n units) holds at most 127.
    if (n < 1 || n > 127) fail('rdnss needs 1..127 addresses');
    for (const a of r.rdnss.addresses)
      if (a.length !== 16 || isIpv6Multicast(a) || isUnspecified(a)) fail('rdnss: not a unicast address');
    if (!isU32(r.rdnss.lifetime)) fail('rdnss lifetime must fit 32 bits');
  }
  // §6.2.3 allows several RAs when the options do not fit the MTU; we send one, so it must fit.
  const raLen =
    16 +
    8 +
    (r.mtu === undefined ? 0 : 8) +
    32 * r.prefixes.length +
    (r.rdnss === undefined ? 0 : 8 + 16 * r.rdnss.addresses.length);
  if (IPV6_HEADER_LEN + raLen > linkMtu) fail('the Router Advertisement does not fit the link MTU');
}
