/**
 * Received ND messages: validation (RFC 4861 §6.1.2, §7.1.1, §7.1.2), then Neighbor Solicitations
 * (§7.2.3, §7.2.4, RFC 4862 §5.4.3), Neighbor Advertisements (§7.2.5, RFC 4862 §5.4.4) and Router
 * Advertisements (§6.3.4). A host discards Router Solicitations (§6.1.1), a router answers them
 * (§6.2.6); Redirects (§8) are counted and not followed (README).
 */
import { ipv6FromBytes, isIpv6LinkLocal, isIpv6Multicast, type Mac } from '../../addr.js';
import type { Icmpv6Repr } from '../icmp.js';
import { dadFailed, stopDad } from './addresses.js';
import { answerSolicitation } from './advertise.js';
import {
  ALL_NODES,
  type Draft,
  findAddress,
  firstLinkAddr,
  isAssigned,
  isSolicitedNode,
  isUnspecified,
  neighbourKey,
  sendMulticast,
  sendNd,
} from './draft.js';
import { dropAllNeighbours, learnFrom, markIsRouter, receiveNa } from './neighbours.js';
import { clearRouters, raFromOtherRouter, receiveRa } from './routers.js';
import type { NdpAddress, ReceivedNd } from './types.js';

type Solicitation = Extract<Icmpv6Repr, { kind: 'neighbor-solicitation' }>;
type Advertisement = Extract<Icmpv6Repr, { kind: 'neighbor-advertisement' }>;
type RouterSolicitation = Extract<Icmpv6Repr, { kind: 'router-solicitation' }>;

export function received(d: Draft, ev: ReceivedNd): void {
  const m = ev.message;
  switch (m.kind) {
    case 'router-solicitation':
    case 'router-advertisement':
    case 'neighbor-solicitation':
    case 'neighbor-advertisement':
    case 'redirect':
      break;
    default:
      d.count('not-ndp');
      return;
  }
  // RFC 4862 §5.4.5: a disabled interface "silently drop[s] any IP packets received".
  if (d.get('disabled')) {
    d.count('ignored-disabled');
    return;
  }
  // Every ND message: "The IP Hop Limit field has a value of 255, i.e., the packet could not
  // possibly have been forwarded by a router." (ICMP code, checksum and lengths: parseIcmpv6.)
  if (ev.hopLimit !== 255) {
    d.count('bad-hop-limit');
    return;
  }
  // Our own multicast reflected back is not another node (RFC 4862 §5.4.3 "loops back").
  if (ev.srcMac === d.config.mac) {
    d.count('looped');
    return;
  }
  // RFC 4291 §2.7: a multicast address is never a source.
  if (isIpv6Multicast(ev.src)) {
    d.count('bad-source');
    return;
  }
  switch (m.kind) {
    case 'router-solicitation':
      // §6.1.1: "Hosts MUST silently discard any received Router Solicitation Messages."
      if (d.config.router === undefined) d.count('rs-ignored');
      else receiveRs(d, ev, m);
      return;
    case 'redirect':
      // §8.3 is a SHOULD; without a Destination Cache in this core, redirects are not followed.
      d.count('redirect-ignored');
      return;
    case 'router-advertisement':
      // §6.1.2: "IP Source Address is a link-local address."
      if (!isIpv6LinkLocal(ev.src)) d.count('ra-bad-source');
      // Before `start` there is no link-local address to build on (RFC 4862 §5.3 comes first).
      else if (!d.get('started') || (d.config.router === undefined && !d.config.acceptRa))
        d.count('ra-ignored');
      else if (ownSource(d, ev.src)) d.count('source-is-ours');
      else if (d.config.router !== undefined) raFromOtherRouter(d, ev.src, m);
      else receiveRa(d, ev.src, ev.dst, m);
      return;
    case 'neighbor-solicitation':
      receiveNs(d, ev, m);
      return;
    case 'neighbor-advertisement':
      receiveAdvert(d, ev, m);
      return;
  }
}

/** A message from one of our assigned addresses, not from us (the MAC differs): not acted on. */
function ownSource(d: Draft, src: Uint8Array): boolean {
  const a = findAddress(d.get('addresses'), src);
  return a !== undefined && isAssigned(a);
}

/** §6.1.1 validity (hop limit, code, lengths: above and `parseIcmpv6`), then §6.2.6 on a router. */
function receiveRs(d: Draft, ev: ReceivedNd, rs: RouterSolicitation): void {
  const sllao = firstLinkAddr(rs.options, 'source-link-addr');
  const unspecified = isUnspecified(ev.src);
  // "If the IP source address is the unspecified address, there is no source link-layer address option".
  if (unspecified && sllao !== undefined) {
    d.count('rs-unspecified-with-sllao');
    return;
  }
  if (!unspecified && ownSource(d, ev.src)) {
    d.count('source-is-ours');
    return;
  }
  d.count('rs-received');
  // "Router Solicitations in which the Source Address is the unspecified address MUST NOT update the
  // router's Neighbor Cache"; otherwise a SLLAO creates or updates the entry STALE, and "Whether or
  // not a Source Link-Layer Address option is provided, if a Neighbor Cache entry for the
  // solicitation's sender exists (or is created) the entry's IsRouter flag MUST be set to FALSE."
  if (!unspecified) {
    if (sllao !== undefined) learnFrom(d, ev.src, sllao, false);
    else markIsRouter(d, ev.src, false);
  }
  answerSolicitation(d);
}

function receiveNs(d: Draft, ev: ReceivedNd, ns: Solicitation): void {
  // §7.1.1: "Target Address is not a multicast address."
  if (isIpv6Multicast(ns.target)) {
    d.count('bad-target');
    return;
  }
  const unspecified = isUnspecified(ev.src);
  const sllao = firstLinkAddr(ns.options, 'source-link-addr');
  if (unspecified) {
    // "If the IP source address is the unspecified address, the IP destination address is a
    // solicited-node multicast address" and "there is no source link-layer address option".
    if (!isSolicitedNode(ev.dst)) {
      d.count('ns-dad-bad-destination');
      return;
    }
    if (sllao !== undefined) {
      d.count('ns-dad-with-sllao');
      return;
    }
  } else if (ownSource(d, ev.src)) {
    d.count('source-is-ours');
    return;
  }
  // §7.2.3: discard unless the target is assigned to us or tentative.
  const target = findAddress(d.get('addresses'), ns.target);
  if (target === undefined || target.state === 'duplicated') {
    d.count('ns-not-for-us');
    return;
  }
  if (target.state === 'tentative') {
    // RFC 4862 §5.4.3: from a unicast source it is someone resolving the address: "silently
    // ignored". From :: it is another node's DAD for the same address: a duplicate. "In all cases,
    // a node MUST NOT respond to a Neighbor Solicitation for a tentative address."
    if (unspecified) conflict(d, target, ev.srcMac);
    else d.count('ns-tentative-ignored');
    return;
  }
  // §7.2.3: "If the Source Address is not the unspecified address and ... the solicitation includes
  // a Source Link-Layer Address option, then the recipient SHOULD create or update the Neighbor
  // Cache entry"; "If the Source Address is the unspecified address, the node MUST NOT".
  if (!unspecified && sllao !== undefined) learnFrom(d, ev.src, sllao, undefined);
  sendAdvert(d, ev, target, sllao);
}

/**
 * §7.2.4: the solicited advertisement. We always include the TLLAO, so Override is 1 (no anycast,
 * no proxy); the Router flag is 1 on a router's interface (§4.4), else 0. To :: it goes to
 * all-nodes with Solicited 0.
 */
function sendAdvert(d: Draft, ev: ReceivedNd, target: NdpAddress, sllao: Mac | undefined): void {
  const unspecified = isUnspecified(ev.src);
  const message = {
    kind: 'neighbor-advertisement' as const,
    router: d.config.router !== undefined,
    solicited: !unspecified,
    override: true,
    target: target.address,
    options: [{ kind: 'target-link-addr' as const, mac: d.config.mac }],
  };
  if (unspecified) {
    sendMulticast(d, ALL_NODES, target.address, message);
  } else {
    // The solicitation's SLLAO, the cache, or else the frame's source: it came from that station on
    // this link, so no resolution round trip is needed before answering (README: deviations).
    const cached = d.neighbours.get(neighbourKey(ev.src));
    const mac = sllao ?? (cached !== undefined && cached.state !== 'incomplete' ? cached.mac : ev.srcMac);
    sendNd(d, ipv6FromBytes(ev.src), target.address, mac, message);
  }
  d.count('na-sent');
}

function receiveAdvert(d: Draft, ev: ReceivedNd, na: Advertisement): void {
  // §7.1.2: "Target Address is not a multicast address" and "If the IP Destination Address is a
  // multicast address the Solicited flag is zero."
  if (isIpv6Multicast(na.target)) {
    d.count('bad-target');
    return;
  }
  if (na.solicited && isIpv6Multicast(ev.dst)) {
    d.count('na-solicited-multicast');
    return;
  }
  const tllao = firstLinkAddr(na.options, 'target-link-addr');
  const ours = findAddress(d.get('addresses'), na.target);
  if (ours !== undefined && ours.state !== 'duplicated') {
    // RFC 4862 §5.4.4: "If the target address is tentative, the tentative address is not unique."
    if (ours.state === 'tentative') conflict(d, ours, tllao ?? ev.srcMac);
    else {
      // An assigned address advertised by another node: DAD missed it; how to handle it "is
      // beyond the scope" of RFC 4862. Reported, not acted on.
      d.out.push({ kind: 'conflict', address: ours.address, mac: tllao ?? ev.srcMac });
      d.count('conflict');
    }
    return;
  }
  receiveNa(d, {
    target: na.target,
    router: na.router,
    solicited: na.solicited,
    override: na.override,
    mac: tllao,
  });
}

/** DAD failed for `a`; for the link-local address IP operation stops (RFC 4862 §5.4.5). */
function conflict(d: Draft, a: NdpAddress, mac: Mac): void {
  if (!dadFailed(d, a, mac)) return;
  d.set('disabled', true);
  dropAllNeighbours(d);
  clearRouters(d);
  stopDad(d);
}
