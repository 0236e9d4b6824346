/**
 * The Neighbour Cache (RFC 4861 §5.1, §7.2, §7.3): address resolution with a bounded queue of
 * pending packets, Neighbor Unreachability Detection, and the cache updates of Appendix C.
 */
import {
  type Ipv6Addr,
  ipv6FromBytes,
  ipv6MulticastMac,
  isIpv6Multicast,
  type Mac,
  readIpv6,
  solicitedNode,
} from '../../addr.js';
import { assertNever } from '../../result.js';
import { sourceFor } from './addresses.js';
import {
  type Draft,
  findAddress,
  isLoopback,
  isUnspecified,
  neighbourKey,
  removeRouter,
  rotateRouter,
  sendMulticast,
  sendNd,
  sourceLinkAddr,
} from './draft.js';
import type { NdpDropReason, NeighbourEntry } from './types.js';

type Incomplete = Extract<NeighbourEntry, { state: 'incomplete' }>;
type Resolved = Exclude<NeighbourEntry, Incomplete>;

// ---- resolve (§7.2.2, §7.3.3) ----

export function resolve(d: Draft, nextHop: Ipv6Addr, packet: Uint8Array): void {
  if (d.get('disabled')) {
    drop(d, nextHop, packet, pinned(packet), 'interface-disabled');
    return;
  }
  // §7.2: "Address resolution is never performed on multicast addresses" (RFC 2464 §7 maps them).
  if (isIpv6Multicast(nextHop)) {
    d.out.push({ kind: 'transmit', mac: ipv6MulticastMac(nextHop), packet });
    return;
  }
  // Never resolve ::, ::1 or ourselves (local delivery is the driver's loopback).
  const ours = findAddress(d.get('addresses'), nextHop);
  if (isUnspecified(nextHop) || isLoopback(nextHop) || (ours !== undefined && ours.state !== 'duplicated')) {
    drop(d, nextHop, packet, pinned(packet), 'invalid-address');
    return;
  }
  const key = neighbourKey(nextHop);
  const e = d.neighbours.get(key);
  if (e === undefined) {
    // RFC 6583 §7.2: resolutions in progress are bounded, so a scan of the prefix cannot fill the
    // cache with them nor make us solicit for every address it tries.
    if (d.get('incomplete') >= d.config.maxIncomplete) {
      drop(d, nextHop, packet, pinned(packet), 'incomplete-full');
      return;
    }
    if (!makeRoom(d)) {
      drop(d, nextHop, packet, pinned(packet), 'table-full');
      return;
    }
    // Copy: `nextHop` may be a view into the packet or a frame.
    const addr = ipv6FromBytes(nextHop);
    // §7.2.2: the prompting packet's source "SHOULD be placed in the IP Source Address".
    const sender = sourceFor(d.get('addresses'), addr, packetSource(packet));
    solicit(d, addr, sender, null);
    const entry: Incomplete = {
      state: 'incomplete',
      addr,
      isRouter: false,
      since: d.now,
      lastSolicit: d.now,
      sender,
      solicits: 1,
      nextSolicit: d.now + d.get('retransTimer'),
      queue: [],
      queueBytes: 0,
    };
    d.setNeighbour(key, entry);
    enqueue(d, key, entry, packet);
    return;
  }
  switch (e.state) {
    case 'reachable':
      d.out.push({ kind: 'transmit', mac: e.mac, packet });
      // §7.3.3 note: the REACHABLE -> STALE change may be deferred until a packet is sent.
      if (e.expires <= d.now) startDelay(d, key, e);
      else if (!e.inUse) d.setNeighbour(key, { ...e, inUse: true });
      return;
    case 'stale':
      d.out.push({ kind: 'transmit', mac: e.mac, packet });
      // "The first time a node sends a packet to a neighbor whose entry is STALE, the sender
      // changes the state to DELAY and sets a timer to expire in DELAY_FIRST_PROBE_TIME seconds."
      startDelay(d, key, e);
      return;
    case 'delay':
    case 'probe':
      d.out.push({ kind: 'transmit', mac: e.mac, packet });
      return;
    case 'incomplete':
      // The solicitation in flight covers this packet (§7.2.2 rate limit).
      enqueue(d, key, e, packet);
      return;
    default:
      assertNever(e);
  }
}

function startDelay(d: Draft, key: string, e: Resolved): void {
  d.setNeighbour(key, {
    state: 'delay',
    addr: e.addr,
    isRouter: e.isRouter,
    since: e.since,
    lastSolicit: e.lastSolicit,
    mac: e.mac,
    probeAt: d.now + d.config.delayFirstProbeTime,
  });
}

/** The source of an IPv6 packet (RFC 8200 §3: octets 8-23), if it looks like one. */
function packetSource(packet: Uint8Array): Ipv6Addr | undefined {
  return packet.length >= 40 && packet[0]! >> 4 === 6 ? readIpv6(packet, 8) : undefined;
}

/**
 * A Neighbor Solicitation for `target`: multicast to its solicited-node address for resolution
 * (`mac` null), unicast to the cached address for NUD (§7.3.3). Without an assigned source address
 * it goes from :: without SLLAO (§7.1.1 allows nothing else); the target then answers to all-nodes.
 */
function solicit(d: Draft, target: Ipv6Addr, sender: Ipv6Addr, mac: Mac | null): void {
  const unspecified = isUnspecified(sender);
  // §7.2.2: a multicast solicitation "MUST include its link-layer address"; unicast ones SHOULD.
  const options = unspecified ? [] : [sourceLinkAddr(d)];
  const message = { kind: 'neighbor-solicitation' as const, target, options };
  if (mac === null || unspecified) {
    sendMulticast(d, solicitedNode(target), sender, message);
    d.count('ns-sent');
  } else {
    sendNd(d, target, sender, mac, message);
    d.count('probe-sent');
  }
}

/** The sender recorded for `target`, or a fresh choice if it is no longer assigned. */
function senderFor(d: Draft, target: Ipv6Addr, recorded?: Ipv6Addr): Ipv6Addr {
  return sourceFor(d.get('addresses'), target, recorded);
}

// ---- tick (Appendix C timeouts) ----

export function neighbourTick(d: Draft): void {
  const c = d.config;
  const now = d.now;
  const retrans = d.get('retransTimer');
  for (const [key, e] of Array.from(d.neighbours)) {
    switch (e.state) {
      case 'incomplete':
        if (e.nextSolicit > now) break;
        if (e.solicits < c.maxMulticastSolicit) {
          const sender = senderFor(d, e.addr, e.sender);
          solicit(d, e.addr, sender, null);
          d.setNeighbour(key, {
            ...e,
            sender,
            solicits: e.solicits + 1,
            lastSolicit: now,
            nextSolicit: now + retrans,
          });
        } else {
          // §7.2.2: "address resolution has failed. The sender MUST return ICMP destination
          // unreachable indications with code 3 (Address Unreachable) for each packet queued";
          // §7.3.3: "the entry SHOULD be deleted".
          d.deleteNeighbour(key);
          d.set('pendingBytes', d.get('pendingBytes') - e.queueBytes);
          if (e.queue.length > 0)
            d.out.push({ kind: 'unreachable', addr: e.addr, packets: e.queue.map((q) => q.packet) });
          d.count('unreachable', e.queue.length);
          d.count('resolution-failed');
          rotateRouter(d, e.addr);
        }
        break;
      case 'reachable':
        // "When ReachableTime milliseconds have passed ... the state changes from REACHABLE to STALE."
        if (e.expires <= now) d.setNeighbour(key, toStale(d, e, e.mac, e.since));
        break;
      case 'stale':
        break;
      case 'delay': {
        if (e.probeAt > now) break;
        // §7.3.3 "MUST NOT send Neighbor Solicitations to the same neighbor more frequently than
        // once every RetransTimer milliseconds".
        const allowed = e.lastSolicit === null ? now : e.lastSolicit + retrans;
        if (allowed > now) {
          d.setNeighbour(key, { ...e, probeAt: allowed });
          break;
        }
        // "Upon entering the PROBE state, a node sends a unicast Neighbor Solicitation".
        solicit(d, e.addr, senderFor(d, e.addr), e.mac);
        d.setNeighbour(key, {
          state: 'probe',
          addr: e.addr,
          isRouter: e.isRouter,
          since: e.since,
          lastSolicit: now,
          mac: e.mac,
          probes: 1,
          nextProbe: now + retrans,
        });
        break;
      }
      case 'probe':
        if (e.nextProbe > now) break;
        if (e.probes < c.maxUnicastSolicit) {
          solicit(d, e.addr, senderFor(d, e.addr), e.mac);
          d.setNeighbour(key, { ...e, probes: e.probes + 1, lastSolicit: now, nextProbe: now + retrans });
        } else {
          // "retransmissions cease and the entry SHOULD be deleted".
          d.deleteNeighbour(key);
          d.count('probe-failed');
          rotateRouter(d, e.addr);
        }
        break;
      default:
        assertNever(e);
    }
  }
}

/**
 * Whether `e` is in use (`keepInUse`, RFC 6583 §7.1): DELAY and PROBE (a packet went to it while
 * STALE), REACHABLE marked so, STALE within its time after it went stale in use.
 */
function inUse(e: NeighbourEntry, now: number): boolean {
  switch (e.state) {
    case 'incomplete':
      return false;
    case 'reachable':
      return e.inUse;
    case 'stale':
      return e.inUseUntil !== null && e.inUseUntil > now;
    case 'delay':
    case 'probe':
      return true;
    default:
      return assertNever(e);
  }
}

/**
 * `e` goes STALE. One in use stays so for a ReachableTime (a STALE entry has no timer to end it),
 * long enough for the next packet of a live flow to move it to DELAY; a STALE one keeps its time.
 */
function toStale(d: Draft, e: NeighbourEntry, mac: Mac, since: number): NeighbourEntry {
  const inUseUntil =
    e.state === 'stale' ? e.inUseUntil : inUse(e, d.now) ? d.now + d.get('reachableTime') : null;
  return {
    state: 'stale',
    addr: e.addr,
    isRouter: e.isRouter,
    since,
    lastSolicit: e.lastSolicit,
    mac,
    inUseUntil,
  };
}

/**
 * `e` is confirmed. It stays in use if it was (a confirmation of an entry in DELAY or PROBE answers
 * NUD, which only traffic starts), or if the confirmation is itself traffic (`byTraffic`: §7.3.1
 * upper-layer forward progress).
 */
function toReachable(
  d: Draft,
  e: NeighbourEntry,
  mac: Mac,
  isRouter: boolean,
  byTraffic = false,
): NeighbourEntry {
  return {
    state: 'reachable',
    addr: e.addr,
    isRouter,
    since: d.now,
    lastSolicit: e.lastSolicit,
    mac,
    expires: d.now + d.reachableTime(),
    inUse: byTraffic || inUse(e, d.now),
  };
}

/** An INCOMPLETE entry got a link-layer address: its queued packets go out in order. */
function flush(d: Draft, e: Incomplete, mac: Mac): void {
  for (const q of e.queue) d.out.push({ kind: 'transmit', mac, packet: q.packet });
  d.set('pendingBytes', d.get('pendingBytes') - e.queueBytes);
  d.count('resolved');
}

// ---- learning from NS, RS, RA, Redirect (Appendix C, second table) ----

/**
 * `addr` told us its link-layer address in an unsolicited message (§7.2.3, §6.3.4, §7.3.3): create
 * the entry STALE, or record a changed address and make it STALE. `isRouter` undefined leaves the
 * flag alone (an NS says nothing of it; a new entry then starts as a host, Appendix D).
 */
export function learnFrom(d: Draft, addr: Ipv6Addr, mac: Mac, isRouter: boolean | undefined): void {
  const key = neighbourKey(addr);
  const e = d.neighbours.get(key);
  if (e === undefined) {
    if (!makeRoom(d)) {
      d.count('learn-refused');
      return;
    }
    const own = ipv6FromBytes(addr);
    d.setNeighbour(key, {
      state: 'stale',
      addr: own,
      isRouter: isRouter ?? false,
      since: d.now,
      lastSolicit: null,
      mac,
      inUseUntil: null,
    });
    d.count('learned');
    return;
  }
  const flag = isRouter ?? e.isRouter;
  if (e.state === 'incomplete') {
    flush(d, e, mac);
    d.setNeighbour(key, toStale(d, { ...e, isRouter: flag }, mac, d.now));
  } else if (e.mac !== mac) {
    d.setNeighbour(key, toStale(d, { ...e, isRouter: flag }, mac, d.now));
  } else if (flag !== e.isRouter) {
    d.setNeighbour(key, { ...e, isRouter: flag });
  }
}

/**
 * Sets IsRouter of an existing entry without a link-layer address to learn: §6.3.4 (an RA without
 * SLLAO marks a router), §6.2.6 (an RS "MUST" make it FALSE "whether or not" it has a SLLAO).
 */
export function markIsRouter(d: Draft, addr: Ipv6Addr, isRouter: boolean): void {
  const key = neighbourKey(addr);
  const e = d.neighbours.get(key);
  if (e !== undefined && e.isRouter !== isRouter) d.setNeighbour(key, { ...e, isRouter });
}

// ---- Neighbor Advertisements (§7.2.5, Appendix C first table) ----

export interface Advert {
  readonly target: Ipv6Addr;
  readonly router: boolean;
  readonly solicited: boolean;
  readonly override: boolean;
  /** The Target Link-Layer Address option. */
  readonly mac: Mac | undefined;
}

export function receiveNa(d: Draft, na: Advert): void {
  const key = neighbourKey(na.target);
  const e = d.neighbours.get(key);
  // "If no entry exists, the advertisement SHOULD be silently discarded."
  if (e === undefined) {
    d.count('na-no-entry');
    return;
  }
  if (e.state === 'incomplete') {
    // "If the link layer has addresses and no Target Link-Layer Address option is included, the
    // receiving node SHOULD silently discard the received advertisement."
    if (na.mac === undefined) {
      d.count('na-incomplete-no-tllao');
      return;
    }
    flush(d, e, na.mac);
    d.setNeighbour(
      key,
      na.solicited
        ? toReachable(d, e, na.mac, na.router)
        : toStale(d, { ...e, isRouter: na.router }, na.mac, d.now),
    );
    routerFlag(d, e.isRouter, na.router, e.addr);
    return;
  }
  const differs = na.mac !== undefined && na.mac !== e.mac;
  // I. "If the Override flag is clear and the supplied link-layer address differs from that in the cache":
  if (!na.override && differs) {
    // a. REACHABLE -> STALE, "but do not update the entry in any other way"; b. otherwise ignore.
    if (e.state === 'reachable') d.setNeighbour(key, toStale(d, e, e.mac, e.since));
    else d.count('na-not-applied');
    return;
  }
  // II. Override set, same address, or no option: the advertisement updates the entry.
  const mac = na.mac ?? e.mac;
  let next: NeighbourEntry;
  if (na.solicited) next = toReachable(d, e, mac, na.router);
  else if (differs) next = toStale(d, { ...e, isRouter: na.router }, mac, d.now);
  else next = e.isRouter === na.router ? e : { ...e, isRouter: na.router };
  if (next !== e) d.setNeighbour(key, next);
  routerFlag(d, e.isRouter, na.router, e.addr);
}

/** §7.2.5: IsRouter TRUE -> FALSE removes the neighbour from the Default Router List. */
function routerFlag(d: Draft, was: boolean, now: boolean, addr: Ipv6Addr): void {
  if (was && !now) removeRouter(d, addr);
}

/** §7.3.1, §7.3.3: upper-layer confirmation makes any entry but INCOMPLETE REACHABLE. */
export function confirmReachability(d: Draft, addr: Ipv6Addr): void {
  const key = neighbourKey(addr);
  const e = d.neighbours.get(key);
  if (e === undefined || e.state === 'incomplete') return;
  // Appendix E.1 lets the upper layer rate-limit; we absorb confirmations within RetransTimer of the
  // last one, so a per-segment hint does not copy the cache for every ACK.
  if (e.state === 'reachable' && e.inUse && e.since + d.get('retransTimer') > d.now && e.expires > d.now)
    return;
  d.setNeighbour(key, toReachable(d, e, e.mac, e.isRouter, true));
  d.count('confirmed');
}

// ---- queue and table ----

function enqueue(d: Draft, key: string, e: Incomplete, packet: Uint8Array): void {
  const c = d.config;
  const bytes = pinned(packet);
  if (bytes > c.pendingBytesPerNeighbour || bytes > c.maxPendingTotalBytes) {
    drop(d, e.addr, packet, bytes, 'too-big');
    return;
  }
  const seq = d.get('nextSeq');
  d.set('nextSeq', seq + 1);
  const queue = [...e.queue, { packet, bytes, seq }];
  let queueBytes = e.queueBytes + bytes;
  let pending = d.get('pendingBytes') + bytes;
  // §7.2.2: "When a queue overflows, the new arrival SHOULD replace the oldest entry."
  while (queue.length > c.pendingPerNeighbour || queueBytes > c.pendingBytesPerNeighbour) {
    const old = queue.shift()!;
    queueBytes -= old.bytes;
    pending -= old.bytes;
    drop(d, e.addr, old.packet, old.bytes, 'queue-full');
  }
  d.setNeighbour(key, { ...e, queue, queueBytes });
  d.set('pendingBytes', pending);
  while (d.get('pendingBytes') > c.maxPendingTotalBytes) dropOldestPending(d);
}

/** Drops the globally oldest queued packet (the newest one fits, so this ends before reaching it). */
function dropOldestPending(d: Draft): void {
  let victim: string | undefined;
  let oldest = Number.POSITIVE_INFINITY;
  for (const [key, e] of d.neighbours) {
    if (e.state === 'incomplete' && e.queue.length > 0 && e.queue[0]!.seq < oldest) {
      oldest = e.queue[0]!.seq;
      victim = key;
    }
  }
  const e = victim === undefined ? undefined : d.neighbours.get(victim);
  if (victim === undefined || e?.state !== 'incomplete')
    throw new Error('ndp: pending bytes without a queue');
  const [old, ...rest] = e.queue;
  d.setNeighbour(victim, { ...e, queue: rest, queueBytes: e.queueBytes - old!.bytes });
  d.set('pendingBytes', d.get('pendingBytes') - old!.bytes);
  drop(d, e.addr, old!.packet, old!.bytes, 'pending-budget');
}

/**
 * Room for one more entry (§5.3: LRU garbage collection when the cache is full). Only STALE and
 * REACHABLE entries are evicted, with `keepInUse` not those in use (RFC 6583 §7.1), hosts before
 * routers, least recently confirmed first, and never one solicited less than RetransTimer ago (a
 * re-created entry would solicit again at once).
 */
function makeRoom(d: Draft): boolean {
  if (d.neighbours.size < d.config.maxNeighbours) return true;
  const retrans = d.get('retransTimer');
  const keepInUse = d.config.keepInUse;
  let victim: string | undefined;
  let best: [number, number] = [2, Number.POSITIVE_INFINITY];
  for (const [key, e] of d.neighbours) {
    if (e.state !== 'stale' && e.state !== 'reachable') continue;
    if (e.lastSolicit !== null && e.lastSolicit + retrans > d.now) continue;
    if (keepInUse && inUse(e, d.now)) continue;
    const rank: [number, number] = [e.isRouter ? 1 : 0, e.since];
    if (rank[0] < best[0] || (rank[0] === best[0] && rank[1] < best[1])) {
      best = rank;
      victim = key;
    }
  }
  if (victim === undefined) return false;
  d.deleteNeighbour(victim);
  d.count('evicted');
  return true;
}

/** The interface is disabled: every queued packet is dropped and the cache emptied. */
export function dropAllNeighbours(d: Draft): void {
  for (const e of d.neighbours.values()) {
    if (e.state !== 'incomplete') continue;
    for (const q of e.queue) drop(d, e.addr, q.packet, q.bytes, 'interface-disabled');
  }
  if (d.neighbours.size > 0) d.clearNeighbours();
  d.set('pendingBytes', 0);
}

function drop(d: Draft, addr: Ipv6Addr, packet: Uint8Array, bytes: number, reason: NdpDropReason): void {
  d.out.push({ kind: 'dropped', reason, addr, bytes, packet });
  d.count(reason);
}

/** What a retained packet costs: the whole buffer it keeps alive. */
function pinned(packet: Uint8Array): number {
  return Math.max(packet.byteLength, packet.buffer.byteLength);
}
