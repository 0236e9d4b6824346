/**
 * The router side of router discovery (RFC 4861 §6.2): unsolicited Router Advertisements at random
 * intervals (§6.2.4), answers to Router Solicitations (§6.2.6) and the final advertisement when the
 * interface stops advertising (§6.2.5); the advertisement's content (§6.2.3) with RDNSS (RFC 8106).
 * Every RA is multicast to all-nodes from the link-local address (§6.1.2: hosts discard others).
 */
import type { Icmpv6Repr, NdpOption } from '../icmp.js';
import { ALL_NODES, type Draft, isAssigned, sendMulticast, sourceLinkAddr } from './draft.js';
import type { NdpAddress, NdpRouterConfig } from './types.js';

/** RFC 4861 §10 router constants, in milliseconds. */
export const MAX_INITIAL_RTR_ADVERT_INTERVAL = 16_000;
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
export const MIN_DELAY_BETWEEN_RAS = 3_000;
export const MAX_RA_DELAY_TIME = 500;

/** The RA as §6.2.3 fills it; `routerLifetime` 0 for the final one (§6.2.5). */
export function routerAdvertisement(d: Draft, r: NdpRouterConfig, routerLifetime: number): Icmpv6Repr {
  // The SLLAO "MAY be omitted" only for load balancing; hosts use it to skip resolution (§6.3.4).
  const options: NdpOption[] = [sourceLinkAddr(d)];
  if (r.mtu !== undefined) options.push({ kind: 'mtu', mtu: r.mtu });
  for (const p of r.prefixes)
    options.push({
      kind: 'prefix-info',
      prefixLen: p.prefixLen,
      onLink: p.onLink,
      autonomous: p.autonomous,
      validLifetime: p.validLifetime,
      preferredLifetime: p.preferredLifetime,
      prefix: p.prefix,
    });
  if (r.rdnss !== undefined)
    options.push({ kind: 'rdnss', lifetime: r.rdnss.lifetime, addresses: r.rdnss.addresses });
  return {
    kind: 'router-advertisement',
    curHopLimit: r.curHopLimit,
    // AdvManagedFlag and AdvOtherConfigFlag: no DHCPv6 here.
    managed: false,
    other: false,
    routerLifetime,
    reachableTime: r.reachableTime,
    retransTimer: r.retransTimer,
    options,
  };
}

function linkLocal(d: Draft): NdpAddress | undefined {
  return d.get('addresses').find((a) => a.origin === 'link-local' && isAssigned(a));
}

/**
 * §6.2.2: the interface becomes an advertising one when it has a unicast address (the link-local
 * one, which RAs come from) and AdvSendAdvertisements is set. The first RA goes out at once.
 */
export function startAdvertising(d: Draft): void {
  const r = d.config.router;
  if (r === undefined || !r.advertise || d.get('raCeased') || d.get('disabled') || d.get('ra') !== null)
    return;
  d.set('ra', { sent: 0, lastAt: null, due: d.now, solicited: false });
  raTick(d);
}

/** Sends the multicast RA that is due and draws the time of the next one (§6.2.4). */
export function raTick(d: Draft): void {
  const ra = d.get('ra');
  const r = d.config.router;
  if (ra === null || ra.due > d.now || r === undefined) return;
  const ll = linkLocal(d);
  if (ll === undefined || d.get('disabled')) {
    d.set('ra', null);
    return;
  }
  sendMulticast(d, ALL_NODES, ll.address, routerAdvertisement(d, r, r.routerLifetime));
  d.count(ra.solicited ? 'ra-sent-solicited' : 'ra-sent-unsolicited');
  const sent = Math.min(ra.sent + 1, MAX_INITIAL_RTR_ADVERTISEMENTS);
  // "reset to a uniformly distributed random value between ... MinRtrAdvInterval and MaxRtrAdvInterval".
  let interval = r.minInterval + Math.floor(d.random() * (r.maxInterval - r.minInterval + 1));
  // "For the first few advertisements (up to MAX_INITIAL_RTR_ADVERTISEMENTS) ... if the randomly
  // chosen interval is greater than MAX_INITIAL_RTR_ADVERT_INTERVAL, the timer SHOULD be set to
  // MAX_INITIAL_RTR_ADVERT_INTERVAL instead": the first three RAs are at most 16 s apart.
  if (sent < MAX_INITIAL_RTR_ADVERTISEMENTS) interval = Math.min(interval, MAX_INITIAL_RTR_ADVERT_INTERVAL);
  d.set('ra', { sent, lastAt: d.now, due: d.now + interval, solicited: false });
}

/**
 * §6.2.6: a valid Router Solicitation on an advertising interface. The answer is the next multicast
 * RA (to all-nodes, "the usual case"), after a random delay in [0, MAX_RA_DELAY_TIME], no sooner
 * than MIN_DELAY_BETWEEN_RAS after the previous multicast RA, and no later than the one already due.
 */
export function answerSolicitation(d: Draft): void {
  const ra = d.get('ra');
  // Not (yet, or any more) advertising; or an answer is already scheduled: "If a single advertisement
  // is sent in response to multiple solicitations, the delay is relative to the first solicitation."
  if (ra === null || ra.solicited) return;
  const delay = Math.floor(d.random() * (MAX_RA_DELAY_TIME + 1));
  const recent = ra.lastAt !== null && d.now - ra.lastAt < MIN_DELAY_BETWEEN_RAS;
  // "schedule the advertisement to be sent at a time corresponding to MIN_DELAY_BETWEEN_RAS plus the
  // random value after the previous advertisement was sent".
  const at = recent ? ra.lastAt! + MIN_DELAY_BETWEEN_RAS + delay : d.now + delay;
  // "If the computed value corresponds to a time later than the time the next multicast Router
  // Advertisement is scheduled to be sent, ignore the random delay and send the advertisement at
  // the already-scheduled time."
  d.set('ra', { ...ra, due: Math.min(at, ra.due), solicited: true });
  // A zero delay answers in this step rather than at the next tick.
  raTick(d);
}

/**
 * `stop` (§6.2.5, shutting down): "one or more (but not more than MAX_FINAL_RTR_ADVERTISEMENTS)
 * final multicast Router Advertisements on the interface with a Router Lifetime field of zero".
 * One, at once: the driver is shutting down and would not wait (README).
 */
export function stopAdvertising(d: Draft): void {
  const r = d.config.router;
  if (r === undefined || !r.advertise || d.get('raCeased')) return;
  d.set('raCeased', true);
  const ra = d.get('ra');
  if (ra === null) return;
  d.set('ra', null);
  const ll = linkLocal(d);
  if (ll === undefined || d.get('disabled')) return;
  sendMulticast(d, ALL_NODES, ll.address, routerAdvertisement(d, r, 0));
  d.count('ra-sent-final');
}
