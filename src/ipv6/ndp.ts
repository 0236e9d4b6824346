/**
 * IPv6 Neighbor Discovery (RFC 4861) and Stateless Address Autoconfiguration (RFC 4862) for a host,
 * as a pure core: `ndpStep(state, event) -> [state, outputs]` and `ndpDeadline(state)`
 * (ARCHITECTURE.md "Pure cores"). The modules are in ndp/; the decisions in README.md.
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
 * hop limit and the Ethernet source), `resolve` (an IPv6 packet for a next hop), `tick`, and
 * `confirm-reachability` (upper-layer forward progress, §7.3.1).
 *
 * Outputs: `send` (an ND message; the driver builds IPv6 with hop limit 255 + ICMPv6 + Ethernet),
 * `transmit` (a packet and the MAC it goes to), `dropped`, `unreachable` (the driver answers each
 * packet with ICMPv6 address unreachable, RFC 4443 §3.1 code 3, subject to RFC 4443 §2.4 (e) and
 * rate limiting), `address` (added as `tentative`, then `preferred`, `deprecated`, `duplicated`,
 * `removed`), `dad-failed`, `conflict`, `join`/`leave` (multicast receive filter: all-nodes and the
 * solicited-node groups of our addresses; no MLD report is built here), `router`, `prefix`, `mtu`.
 *
 * Packet ownership: the `packet` of a `resolve` event belongs to the core from then on and comes
 * back in exactly one `transmit`, `dropped` or `unreachable` output. It is accounted at the size of
 * the buffer it pins. Addresses in received messages are copied before they are retained.
 *
 * Bounds and policies when full: neighbours (`maxNeighbours`; only STALE/REACHABLE entries are
 * evicted, hosts before routers, least recently confirmed first; otherwise the packet is dropped as
 * `table-full`), pending packets (per neighbour count and bytes, global bytes; oldest dropped first,
 * §7.2.2), routers, on-link prefixes and SLAAC addresses (new ones refused past the bound).
 */
import { type Ipv6Addr, ipv6Equal, isIpv6LinkLocal, isIpv6Multicast, type Mac } from '../addr.js';
import { assertNever } from '../result.js';
import { addressTick, linkLocalAddress, sourceFor, startAddresses } from './ndp/addresses.js';
import {
  ALL_NODES,
  DEFAULT_HOP_LIMIT,
  Draft,
  drawReachableTime,
  findAddress,
  isAssigned,
  isUnspecified,
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
  type NdpState,
  type NeighbourEntry,
} from './ndp/types.js';
import { IPV6_MIN_MTU } from './wire.js';

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
  NdpState,
  NeighbourEntry,
  NeighbourState,
  OnLinkPrefix,
  QueuedPacket,
  ReceivedNd,
  RsState,
  StaticAddress,
} from './ndp/types.js';
export { ALL_NODES, ALL_ROUTERS, INFINITE_LIFETIME, isSolicitedNode, neighbourKey } from './ndp/draft.js';
export { linkLocalAddress } from './ndp/addresses.js';

/** RFC 4861 §10 and RFC 4862 §5.1 defaults, in milliseconds; bounds chosen for a small host. */
export const NDP_DEFAULTS: Omit<NdpConfig, 'mac'> = {
  mtu: 1500,
  maxNeighbours: 1024,
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

/** A full config from the defaults. */
export function ndpConfig(mac: Mac, overrides: Partial<Omit<NdpConfig, 'mac'>> = {}): NdpConfig {
  return { ...NDP_DEFAULTS, ...overrides, mac };
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
      routerTick(d);
      neighbourTick(d);
      break;
    case 'confirm-reachability':
      confirmReachability(d, event.neighbour);
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
 * static addresses, and the Prefix List. Prefixes of SLAAC addresses are not (RFC 5942 §4).
 */
export function onLink(state: NdpState, a: Uint8Array): boolean {
  if (isIpv6Multicast(a) || isIpv6LinkLocal(a)) return true;
  for (const p of state.prefixes) if (prefixMatch(a, p.prefix, p.prefixLen)) return true;
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
 * leave the state as it is (REACHABLE and not yet expired, DELAY or PROBE, on an enabled interface,
 * `a` not ours). The driver's per-packet fast path; otherwise it feeds `resolve`.
 */
export function sendableMac(state: NdpState, a: Uint8Array, now: number): Mac | undefined {
  const e = state.neighbours.get(neighbourKey(a));
  if (e === undefined || state.disabled || findAddress(state.addresses, a) !== undefined) return undefined;
  if ((e.state === 'reachable' && e.expires > now) || e.state === 'delay' || e.state === 'probe')
    return e.mac;
  return undefined;
}

/** The Neighbour Cache entry of `a`. */
export function neighbour(state: NdpState, a: Uint8Array): NeighbourEntry | undefined {
  return state.neighbours.get(neighbourKey(a));
}

function checkConfig(c: NdpConfig): void {
  const positive = [
    'maxNeighbours',
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
}
