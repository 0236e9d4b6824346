/**
 * Router and prefix discovery on a host (RFC 4861 §6.3): Router Advertisement processing (§6.3.4),
 * the Default Router List and the Prefix List with their lifetimes (§6.3.5).
 */
import { type Ipv6Addr, ipv6Equal, ipv6FromBytes, isIpv6LinkLocal, isIpv6Multicast } from '../../addr.js';
import { IPV6_MIN_MTU } from '../wire.js';
import type { Icmpv6Repr, NdpOption } from '../icmp.js';
import { slaacPrefix } from './addresses.js';
import {
  type Draft,
  drawReachableTime,
  firstLinkAddr,
  lifetimeMs,
  MAX_REACHABLE_TIME,
  maskPrefix,
  removePrefixAt,
  removeRouter,
  routerIndex,
} from './draft.js';
import { learnFrom, markIsRouter } from './neighbours.js';
import { desistRs } from './rs.js';

type RouterAdvert = Extract<Icmpv6Repr, { kind: 'router-advertisement' }>;
type PrefixInfo = Extract<NdpOption, { kind: 'prefix-info' }>;

/** A valid RA (§6.1.2 already checked) from the link-local address `src` to `dst`. */
export function receiveRa(d: Draft, src: Ipv6Addr, dst: Ipv6Addr, ra: RouterAdvert): void {
  d.count('ra-accepted');
  defaultRouterList(d, src, ra.routerLifetime);

  // "If the received Cur Hop Limit value is non-zero, the host SHOULD set its CurHopLimit".
  if (ra.curHopLimit !== 0) d.set('curHopLimit', ra.curHopLimit);
  // Reachable Time: a new BaseReachableTime means a new random ReachableTime.
  if (ra.reachableTime !== 0) {
    const base = Math.min(ra.reachableTime, MAX_REACHABLE_TIME);
    if (base !== d.get('baseReachableTime')) {
      d.set('baseReachableTime', base);
      drawReachableTime(d);
    }
  }
  // "The RetransTimer variable SHOULD be copied from the Retrans Timer field, if ... non-zero."
  if (ra.retransTimer !== 0) d.set('retransTimer', ra.retransTimer);

  // "If the advertisement contains a Source Link-Layer Address option, the link-layer address SHOULD
  // be recorded in the Neighbor Cache entry for the router ... and the IsRouter flag ... set to TRUE."
  const sllao = firstLinkAddr(ra.options, 'source-link-addr');
  if (sllao !== undefined) learnFrom(d, src, sllao, true);
  else markIsRouter(d, src, true);

  const multicast = isIpv6Multicast(dst);
  for (const o of ra.options) {
    if (o.kind === 'mtu') linkMtu(d, o.mtu);
    else if (o.kind === 'prefix-info') {
      onLinkPrefix(d, o);
      slaacPrefix(d, o, multicast);
    }
  }
  if (ra.routerLifetime !== 0) desistRs(d);
}

/**
 * A valid RA from another router while we are one (README: "The router role"). As Linux with
 * forwarding=1 and accept_ra=1, it only updates the Neighbour Cache (Appendix C: the link-layer
 * address, IsRouter TRUE); default router, hop limit, timers, MTU and prefixes are not taken
 * (§6.2.7: any other action by a router "is beyond the scope of this document").
 */
export function raFromOtherRouter(d: Draft, src: Ipv6Addr, ra: RouterAdvert): void {
  d.count('ra-ignored-routing');
  const sllao = firstLinkAddr(ra.options, 'source-link-addr');
  if (sllao !== undefined) learnFrom(d, src, sllao, true);
  else markIsRouter(d, src, true);
}

/** §6.3.4: create, refresh or time out the sender's Default Router List entry. */
function defaultRouterList(d: Draft, src: Ipv6Addr, lifetimeSeconds: number): void {
  const routers = d.get('routers');
  const i = routerIndex(routers, src);
  if (i < 0) {
    if (lifetimeSeconds === 0) return;
    // A host "MUST retain at least two router addresses and SHOULD retain more": we keep the ones
    // we have (they work) and refuse new ones past the bound.
    if (routers.length >= d.config.maxRouters) {
      d.count('router-list-full');
      return;
    }
    const addr = ipv6FromBytes(src);
    d.set('routers', [...routers, { addr, expires: d.now + lifetimeSeconds * 1000 }]);
    d.out.push({ kind: 'router', router: addr, state: 'added' });
    d.count('router-added');
  } else if (lifetimeSeconds === 0) {
    // "immediately time-out the entry as specified in Section 6.3.5".
    removeRouter(d, src);
  } else {
    const expires = d.now + lifetimeSeconds * 1000;
    if (routers[i]!.expires !== expires)
      d.set(
        'routers',
        routers.map((r, j) => (j === i ? { ...r, expires } : r)),
      );
  }
}

/** "hosts SHOULD copy the option's value into LinkMTU so long as" 1280 <= value <= the link's maximum. */
function linkMtu(d: Draft, mtu: number): void {
  if (mtu < IPV6_MIN_MTU || mtu > d.config.mtu) {
    d.count('mtu-ignored');
    return;
  }
  if (mtu === d.get('linkMtu')) return;
  d.set('linkMtu', mtu);
  d.out.push({ kind: 'mtu', mtu });
  d.count('mtu-changed');
}

/** §6.3.4: "For each Prefix Information option with the on-link flag set". */
function onLinkPrefix(d: Draft, o: PrefixInfo): void {
  if (!o.onLink) return;
  // "If the prefix is the link-local prefix, silently ignore"; lengths past 128 mean nothing.
  if (o.prefixLen > 128 || isIpv6LinkLocal(o.prefix)) {
    d.count('pio-ignored');
    return;
  }
  const prefix = maskPrefix(o.prefix, o.prefixLen);
  const prefixes = d.get('prefixes');
  const i = prefixes.findIndex((p) => p.prefixLen === o.prefixLen && ipv6Equal(p.prefix, prefix));
  const valid = lifetimeMs(o.validLifetime);
  if (i < 0) {
    // "If the Prefix Information option's Valid Lifetime field is zero, and the prefix is not present
    // in the host's Prefix List, silently ignore the option."
    if (valid === 0) return;
    if (prefixes.length >= d.config.maxPrefixes) {
      d.count('prefix-list-full');
      return;
    }
    d.set('prefixes', [...prefixes, { prefix, prefixLen: o.prefixLen, expires: d.now + valid }]);
    d.out.push({ kind: 'prefix', prefix, prefixLen: o.prefixLen, state: 'added' });
    d.count('prefix-added');
  } else if (valid === 0) {
    // "If the new Lifetime value is zero, time-out the prefix immediately".
    removePrefixAt(d, i);
  } else {
    const expires = d.now + valid;
    if (prefixes[i]!.expires !== expires)
      d.set(
        'prefixes',
        prefixes.map((p, j) => (j === i ? { ...p, expires } : p)),
      );
  }
}

/** §6.3.5: expired routers and prefixes are discarded. */
export function routerTick(d: Draft): void {
  for (const r of d.get('routers')) if (r.expires <= d.now) removeRouter(d, r.addr);
  for (;;) {
    const i = d.get('prefixes').findIndex((p) => p.expires <= d.now);
    if (i < 0) break;
    removePrefixAt(d, i);
  }
}

/** The interface is disabled: the lists are emptied. */
export function clearRouters(d: Draft): void {
  for (const r of d.get('routers')) removeRouter(d, r.addr);
  while (d.get('prefixes').length > 0) removePrefixAt(d, 0);
  d.set('rs', null);
}
