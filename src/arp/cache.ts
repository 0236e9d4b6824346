/**
 * The ARP neighbour cache (RFC 826) as a pure core: `arpStep(state, event) -> [state, outputs]` and
 * `arpDeadline(state)` (docs/ARCHITECTURE.md "Pure cores").
 *
 * Contract: no clock, no randomness, no timers; time comes in as `now` (monotonic ms) on every event.
 * `arpStep` never mutates the state it is given (entries, queues and counters are replaced, never
 * edited) and never throws on network input; `initialArp` throws only on a nonsensical config (a bug).
 * A step that changes nothing returns the very same state object, so the driver can compare by `===`.
 *
 * Entry life cycle (names after RFC 4861 §7.3.2, which describes the same machinery for IPv6):
 *   (none) --resolve--> incomplete --ARP from it--> reachable --ttl, used--> probe --ARP--> reachable
 *   incomplete --1+maxRetries requests unanswered--> failed --failedTtl--> (none)
 *   reachable --ttl, unused--> (none);  probe --1+maxRetries unicast polls unanswered--> (none)
 *
 * Ageing (RFC 1122 §2.3.2.1 "MUST provide a mechanism to flush out-of-date cache entries"): an entry is
 * trusted for `entryTtl` after it was last confirmed (an ARP packet from the neighbour, RFC 1122 mechanism
 * (1)). At expiry an entry that was not used since is removed; one that was used is re-validated by
 * unicast polls to the cached MAC (mechanism (2)) while traffic keeps flowing to it, so a busy flow
 * never stalls behind a broadcast resolution. Unanswered polls remove it.
 *
 * Packet ownership: the `packet` of a `resolve` event belongs to the core from then on (it is queued
 * without a copy and handed back in exactly one `transmit`, `dropped` or `unreachable` output). The
 * driver must not reuse its buffer. A queued packet is accounted at the size of the buffer it pins
 * (`packet.buffer.byteLength`, docs/ARCHITECTURE.md "Zero-copy and ownership"), which is its byteLength when
 * it owns its buffer.
 *
 * Bounds and policies when full:
 * - entries: at most `maxEntries`. A new entry evicts the least recently confirmed `reachable` or
 *   `failed` entry (with `keepInUse`, not one in use: RFC 6583 §7.1); `incomplete` and
 *   `probe` entries (requests in flight) and entries requested less than `retryInterval` ago are
 *   never evicted, so eviction cannot defeat the flood limit. With no
 *   candidate the new entry is refused (packet dropped as `table-full`, or the neighbour not learned).
 * - pending packets: per neighbour at most `pendingPerNeighbour` packets and `pendingBytesPerNeighbour`
 *   bytes, all neighbours together at most `maxPendingTotalBytes`. Past a bound the oldest packets are
 *   dropped first (RFC 1122 §2.3.2.2 "SHOULD save ... at least one (the latest) packet"); a packet that
 *   alone exceeds a bound is dropped as `too-big`.
 *
 * Deviations and choices:
 * - RFC 5227 address probing (§2.1) is not done: addresses are configured statically; `start` only
 *   announces them (§2.3, ANNOUNCE_NUM times, ANNOUNCE_INTERVAL apart).
 * - On a conflicting packet (§2.4) we keep the address and defend it as §2.4(c) describes: one
 *   announcement at most per DEFEND_INTERVAL (measured from the last defence); every conflicting packet
 *   yields a `conflict` output for the driver to log (rate-limit the log there).
 * - Limited broadcast and multicast destinations are mapped without ARP (RFC 1112 §6.4); a subnet
 *   broadcast needs the prefix and is the driver's business.
 */
import {
  IPV4_ANY,
  IPV4_BROADCAST,
  type Ipv4Addr,
  isIpv4Multicast,
  isMulticastMac,
  MAC_BROADCAST,
  MAC_ZERO,
  type Mac,
  readIpv4,
  ipv4MulticastMac,
} from '../addr.js';
import { assertNever } from '../result.js';
import type { ArpRepr } from './wire.js';

export interface ArpConfig {
  /** Our hardware address on this interface. */
  readonly ourMac: Mac;
  /** Our IPv4 addresses on this interface; the first is the default sender address of requests. */
  readonly addresses: readonly Ipv4Addr[];
  /** Entries of every state together. */
  readonly maxEntries: number;
  /** ms an entry is trusted after its last confirmation (RFC 1122 §2.3.2.1: "on the order of a minute"). */
  readonly entryTtl: number;
  /** ms between requests for one neighbour (RFC 1122 §2.3.2.1: at most "1 per second per destination"). */
  readonly retryInterval: number;
  /** Requests after the first before a resolution (or a re-validation) gives up. */
  readonly maxRetries: number;
  /** ms a failed resolution is remembered; packets for it meanwhile are reported unreachable at once. */
  readonly failedTtl: number;
  readonly pendingPerNeighbour: number;
  readonly pendingBytesPerNeighbour: number;
  readonly maxPendingTotalBytes: number;
  /** RFC 5227 §1.1 ANNOUNCE_NUM and ANNOUNCE_INTERVAL (ms). */
  readonly announceCount: number;
  readonly announceInterval: number;
  /** RFC 5227 §1.1 DEFEND_INTERVAL (ms). */
  readonly defendInterval: number;
  /**
   * Never evict a reachable entry in use: packets were sent to it since its last confirmation, or
   * that confirmation answered our re-validation of an entry in use (RFC 6583 §7.1: existing, working
   * entries before new ones), so a scan of the prefix cannot push out the neighbours in use; such an
   * entry still ages out once unused for `entryTtl`. Off: any reachable entry may go.
   */
  readonly keepInUse: boolean;
}

export const ARP_DEFAULTS: Omit<ArpConfig, 'ourMac' | 'addresses'> = {
  maxEntries: 1024,
  entryTtl: 60_000,
  retryInterval: 1_000,
  // Linux (mcast_solicit 3): three requests a second apart, given up after 3 s ("No route to host").
  maxRetries: 2,
  failedTtl: 3_000,
  pendingPerNeighbour: 32,
  pendingBytesPerNeighbour: 64 * 1024,
  maxPendingTotalBytes: 1024 * 1024,
  announceCount: 2,
  announceInterval: 2_000,
  defendInterval: 10_000,
  keepInUse: true,
};

/** A full config from the defaults. */
export function arpConfig(
  ourMac: Mac,
  addresses: readonly Ipv4Addr[],
  overrides: Partial<Omit<ArpConfig, 'ourMac' | 'addresses'>> = {},
): ArpConfig {
  return { ...ARP_DEFAULTS, ...overrides, ourMac, addresses };
}

export interface QueuedPacket {
  readonly packet: Uint8Array;
  /** Accounted size: the bytes the packet pins. */
  readonly bytes: number;
  /** Global enqueue order, to drop the oldest packet first when the global budget is exceeded. */
  readonly seq: number;
}

/** Common to every entry: `since` orders eviction, `requestedAt` (last request sent) guards the flood limit. */
interface EntryBase {
  readonly since: number;
  readonly requestedAt: number | null;
}

export type ArpEntry =
  | (EntryBase & {
      readonly state: 'incomplete';
      /** Our address used as the sender of the requests. */
      readonly sender: Ipv4Addr;
      /** Requests sent so far. */
      readonly requests: number;
      readonly nextRequest: number;
      readonly queue: readonly QueuedPacket[];
      readonly queueBytes: number;
    })
  | (EntryBase & {
      readonly state: 'reachable';
      readonly mac: Mac;
      readonly sender: Ipv4Addr;
      readonly expires: number;
      /** A packet was sent to it since its last confirmation: re-validate rather than forget at expiry. */
      readonly used: boolean;
      /** Confirmed by our re-validation (it was in use): kept by `keepInUse` until it expires. */
      readonly revalidated?: boolean;
    })
  | (EntryBase & {
      readonly state: 'probe';
      readonly mac: Mac;
      readonly sender: Ipv4Addr;
      /** Unicast polls sent so far. */
      readonly probes: number;
      readonly nextProbe: number;
    })
  | (EntryBase & { readonly state: 'failed'; readonly until: number });

export type ArpDropReason = 'queue-full' | 'pending-budget' | 'too-big' | 'table-full' | 'invalid-address';
/** Received ARP packets ignored before any processing. */
export type ArpIgnoreReason = 'bad-sender-mac' | 'bad-sender-ip' | 'looped';
export type ArpCounterName =
  | ArpDropReason
  | ArpIgnoreReason
  | 'request-sent'
  | 'probe-sent'
  | 'reply-sent'
  | 'announcement-sent'
  | 'learned'
  | 'learn-refused'
  | 'resolved'
  | 'refreshed'
  | 'evicted'
  | 'expired'
  | 'probe-failed'
  | 'resolution-failed'
  | 'unreachable'
  | 'conflict'
  | 'defended';

const COUNTER_NAMES: readonly ArpCounterName[] = [
  'queue-full',
  'pending-budget',
  'too-big',
  'table-full',
  'invalid-address',
  'bad-sender-mac',
  'bad-sender-ip',
  'looped',
  'request-sent',
  'probe-sent',
  'reply-sent',
  'announcement-sent',
  'learned',
  'learn-refused',
  'resolved',
  'refreshed',
  'evicted',
  'expired',
  'probe-failed',
  'resolution-failed',
  'unreachable',
  'conflict',
  'defended',
];

/** Counts of events and of packets dropped per reason (`unreachable` counts packets too). */
export type ArpCounters = Readonly<Record<ArpCounterName, number>>;

export interface ArpState {
  readonly config: ArpConfig;
  /** Time of the last change. */
  readonly now: number;
  readonly entries: ReadonlyMap<Ipv4Addr, ArpEntry>;
  /** Sum of `queueBytes` over incomplete entries. */
  readonly pendingBytes: number;
  readonly nextSeq: number;
  /** RFC 5227 §2.3 announcements still to send after the first, and when the next is due. */
  readonly announce: { readonly remaining: number; readonly due: number } | null;
  /** Time of the last defence of each of our addresses (RFC 5227 §2.4). */
  readonly defendedAt: ReadonlyMap<Ipv4Addr, number>;
  readonly counters: ArpCounters;
  readonly deadline: number | null;
}

export type ArpEvent =
  | { readonly kind: 'start'; readonly now: number }
  | { readonly kind: 'received'; readonly now: number; readonly repr: ArpRepr }
  /** Send `packet` (an IPv4 packet, handed over to the core) to the next hop `ip`. */
  | { readonly kind: 'resolve'; readonly now: number; readonly ip: Ipv4Addr; readonly packet: Uint8Array }
  | { readonly kind: 'tick'; readonly now: number };

export type ArpOutput =
  /** Broadcast for requests and announcements, unicast for replies and re-validation polls. */
  | { readonly kind: 'send-arp'; readonly repr: ArpRepr; readonly dstMac: Mac }
  | { readonly kind: 'transmit'; readonly mac: Mac; readonly packet: Uint8Array }
  | {
      readonly kind: 'dropped';
      readonly reason: ArpDropReason;
      readonly ip: Ipv4Addr;
      readonly bytes: number;
      readonly packet: Uint8Array;
    }
  /** Resolution failed: the packets were not sent (the driver may answer ICMP host unreachable). */
  | { readonly kind: 'unreachable'; readonly ip: Ipv4Addr; readonly packets: readonly Uint8Array[] }
  /** Someone else claims one of our addresses (RFC 5227 §2.4); `defended` if we announced it back. */
  | { readonly kind: 'conflict'; readonly ip: Ipv4Addr; readonly mac: Mac; readonly defended: boolean };

export function initialArp(config: ArpConfig, now: number): ArpState {
  checkConfig(config);
  const counters = {} as Record<ArpCounterName, number>;
  for (const n of COUNTER_NAMES) counters[n] = 0;
  return {
    config,
    now,
    entries: new Map(),
    pendingBytes: 0,
    nextSeq: 0,
    announce: null,
    defendedAt: new Map(),
    counters,
    deadline: null,
  };
}

/** The earliest time a `tick` has something to do; `null` when nothing is scheduled. */
export function arpDeadline(state: ArpState): number | null {
  return state.deadline;
}

/** The MAC to send to `ip`, if the cache holds a usable one (reachable or being re-validated). */
export function lookup(state: ArpState, ip: Ipv4Addr): Mac | undefined {
  const e = state.entries.get(ip);
  return e?.state === 'reachable' || e?.state === 'probe' ? e.mac : undefined;
}

/**
 * The MAC a packet for `ip` goes to when a `resolve` event would do nothing else: transmit to it and
 * leave the state as it is (a reachable entry already marked used, or one being probed). The driver's
 * per-packet fast path; otherwise it feeds `resolve`.
 */
export function sendableMac(state: ArpState, ip: Ipv4Addr): Mac | undefined {
  const e = state.entries.get(ip);
  if (e === undefined) return undefined;
  if ((e.state === 'reachable' && e.used) || e.state === 'probe') return e.mac;
  return undefined;
}

/**
 * Whether a `resolve` event for `ip` gives its packet straight back in a `transmit` output (a
 * reachable or probed entry) rather than queueing it: a router may then hand over a view of a
 * received frame, which the core does not keep.
 */
export function transmitsAtOnce(state: ArpState, ip: Ipv4Addr): boolean {
  const e = state.entries.get(ip);
  return e !== undefined && (e.state === 'reachable' || e.state === 'probe');
}

export function arpStep(state: ArpState, event: ArpEvent): [ArpState, readonly ArpOutput[]] {
  const d = new Draft(state, event.now);
  switch (event.kind) {
    case 'start':
      start(d);
      break;
    case 'received':
      received(d, event.repr);
      break;
    case 'resolve':
      resolve(d, event.ip, event.packet);
      break;
    case 'tick':
      tick(d);
      break;
    default:
      assertNever(event);
  }
  return d.finish();
}

function checkConfig(c: ArpConfig): void {
  const positive: (keyof ArpConfig)[] = [
    'maxEntries',
    'retryInterval',
    'pendingPerNeighbour',
    'pendingBytesPerNeighbour',
    'maxPendingTotalBytes',
    'announceInterval',
  ];
  for (const k of positive) {
    if (!((c[k] as number) > 0)) throw new RangeError(`ArpConfig.${k} must be positive`);
  }
  for (const k of ['maxRetries', 'failedTtl', 'announceCount', 'defendInterval'] as const) {
    if (!(c[k] >= 0)) throw new RangeError(`ArpConfig.${k} must not be negative`);
  }
  // Otherwise a confirmed entry could be polled sooner than the flood limit allows.
  if (!(c.entryTtl >= c.retryInterval)) throw new RangeError('ArpConfig.entryTtl must be >= retryInterval');
}

/** The mutable scratch of one step: copies are made on first write, the input state is never touched. */
class Draft {
  readonly out: ArpOutput[] = [];
  private entryCopy: Map<Ipv4Addr, ArpEntry> | null = null;
  private counterCopy: Record<ArpCounterName, number> | null = null;
  private defendedCopy: Map<Ipv4Addr, number> | null = null;
  pendingBytes: number;
  nextSeq: number;
  announce: ArpState['announce'];
  changed = false;
  timersChanged = false;

  constructor(
    readonly s: ArpState,
    readonly now: number,
  ) {
    this.pendingBytes = s.pendingBytes;
    this.nextSeq = s.nextSeq;
    this.announce = s.announce;
  }

  get config(): ArpConfig {
    return this.s.config;
  }

  get entries(): ReadonlyMap<Ipv4Addr, ArpEntry> {
    return this.entryCopy ?? this.s.entries;
  }

  private writable(): Map<Ipv4Addr, ArpEntry> {
    this.changed = true;
    this.timersChanged = true;
    this.entryCopy ??= new Map(this.s.entries);
    return this.entryCopy;
  }

  set(ip: Ipv4Addr, e: ArpEntry): void {
    this.writable().set(ip, e);
  }

  delete(ip: Ipv4Addr): void {
    this.writable().delete(ip);
  }

  count(name: ArpCounterName, by = 1): void {
    if (by === 0) return;
    this.changed = true;
    this.counterCopy ??= { ...this.s.counters };
    this.counterCopy[name] += by;
  }

  defendedAt(ip: Ipv4Addr): number | undefined {
    return (this.defendedCopy ?? this.s.defendedAt).get(ip);
  }

  setDefended(ip: Ipv4Addr, at: number): void {
    this.changed = true;
    this.defendedCopy ??= new Map(this.s.defendedAt);
    this.defendedCopy.set(ip, at);
  }

  setAnnounce(a: ArpState['announce']): void {
    this.changed = true;
    this.timersChanged = true;
    this.announce = a;
  }

  finish(): [ArpState, readonly ArpOutput[]] {
    if (!this.changed) return [this.s, this.out];
    const entries = this.entries;
    return [
      {
        config: this.s.config,
        now: this.now,
        entries,
        pendingBytes: this.pendingBytes,
        nextSeq: this.nextSeq,
        announce: this.announce,
        defendedAt: this.defendedCopy ?? this.s.defendedAt,
        counters: this.counterCopy ?? this.s.counters,
        deadline: this.timersChanged ? computeDeadline(entries, this.announce) : this.s.deadline,
      },
      this.out,
    ];
  }
}

function computeDeadline(
  entries: ReadonlyMap<Ipv4Addr, ArpEntry>,
  announce: ArpState['announce'],
): number | null {
  let t = announce?.due ?? Number.POSITIVE_INFINITY;
  for (const e of entries.values()) t = Math.min(t, entryDue(e));
  return t === Number.POSITIVE_INFINITY ? null : t;
}

function entryDue(e: ArpEntry): number {
  switch (e.state) {
    case 'incomplete':
      return e.nextRequest;
    case 'reachable':
      return e.expires;
    case 'probe':
      return e.nextProbe;
    case 'failed':
      return e.until;
    default:
      return assertNever(e);
  }
}

// ---- sending ----

function sendRequest(d: Draft, ip: Ipv4Addr, sender: Ipv4Addr): void {
  // RFC 826: target hardware address unknown; RFC 5227 §2.1.1 asks for zero there.
  d.out.push({
    kind: 'send-arp',
    repr: {
      operation: 'request',
      senderMac: d.config.ourMac,
      senderIp: sender,
      targetMac: MAC_ZERO,
      targetIp: ip,
    },
    dstMac: MAC_BROADCAST,
  });
  d.count('request-sent');
}

/** RFC 1122 §2.3.2.1 (2) "Unicast Poll": a point-to-point request to the cached address. */
function sendProbe(d: Draft, ip: Ipv4Addr, mac: Mac, sender: Ipv4Addr): void {
  d.out.push({
    kind: 'send-arp',
    repr: {
      operation: 'request',
      senderMac: d.config.ourMac,
      senderIp: sender,
      targetMac: mac,
      targetIp: ip,
    },
    dstMac: mac,
  });
  d.count('probe-sent');
}

/** RFC 5227 §2.3: an ARP Request with sender and target IP both ours, broadcast. */
function sendAnnouncement(d: Draft, ip: Ipv4Addr): void {
  d.out.push({
    kind: 'send-arp',
    repr: {
      operation: 'request',
      senderMac: d.config.ourMac,
      senderIp: ip,
      targetMac: MAC_ZERO,
      targetIp: ip,
    },
    dstMac: MAC_BROADCAST,
  });
  d.count('announcement-sent');
}

// ---- events ----

function start(d: Draft): void {
  const c = d.config;
  if (c.addresses.length === 0 || c.announceCount === 0) return;
  for (const ip of c.addresses) sendAnnouncement(d, ip);
  const remaining = c.announceCount - 1;
  d.setAnnounce(remaining > 0 ? { remaining, due: d.now + c.announceInterval } : null);
}

function received(d: Draft, r: ArpRepr): void {
  const c = d.config;
  const ignore = ignoreReason(c, r);
  if (ignore !== undefined) {
    d.count(ignore);
    return;
  }
  // RFC 5227 §2.4: a packet whose sender IP is ours but whose sender MAC is not.
  if (c.addresses.includes(r.senderIp)) {
    conflict(d, r);
    return;
  }

  const forUs = c.addresses.includes(r.targetIp);
  // Sender IP 0 is an RFC 5227 §2.1.1 probe: nothing to learn, but a request for us is answered.
  if (r.senderIp !== IPV4_ANY) {
    // RFC 826 "Packet Reception": update an existing entry (Merge_flag), add one only when we are the target.
    const e = d.entries.get(r.senderIp);
    if (e !== undefined) confirm(d, r.senderIp, e, r.senderMac, forUs ? r.targetIp : undefined);
    else if (forUs) learn(d, r.senderIp, r.senderMac, r.targetIp);
  }
  if (forUs && r.operation === 'request') {
    // RFC 826: swap the fields, put ours in the sender fields, send to the requester's hardware address.
    d.out.push({
      kind: 'send-arp',
      repr: {
        operation: 'reply',
        senderMac: c.ourMac,
        senderIp: r.targetIp,
        targetMac: r.senderMac,
        targetIp: r.senderIp,
      },
      dstMac: r.senderMac,
    });
    d.count('reply-sent');
  }
}

/** Packets we neither learn from nor answer. */
function ignoreReason(c: ArpConfig, r: ArpRepr): ArpIgnoreReason | undefined {
  // Our own packet reflected back (a hub, a bridge loop) is not a conflict (RFC 5227 §2.4 compares MACs).
  if (r.senderMac === c.ourMac) return 'looped';
  // Never cache or answer a broadcast, multicast or zero hardware address.
  if (r.senderMac === MAC_ZERO || isMulticastMac(r.senderMac)) return 'bad-sender-mac';
  if (r.senderIp === IPV4_BROADCAST || isIpv4Multicast(r.senderIp)) return 'bad-sender-ip';
  return undefined;
}

function conflict(d: Draft, r: ArpRepr): void {
  d.count('conflict');
  const last = d.defendedAt(r.senderIp);
  // RFC 5227 §2.4(c): "if ... the previous conflicting ARP packet is within DEFEND_INTERVAL seconds,
  // then the host MUST NOT send another defensive ARP Announcement".
  const defend = last === undefined || d.now - last >= d.config.defendInterval;
  if (defend) {
    sendAnnouncement(d, r.senderIp);
    d.setDefended(r.senderIp, d.now);
    d.count('defended');
  }
  d.out.push({ kind: 'conflict', ip: r.senderIp, mac: r.senderMac, defended: defend });
}

/** The neighbour `ip` told us its MAC: the entry becomes (or stays) reachable; queued packets go out. */
function confirm(d: Draft, ip: Ipv4Addr, e: ArpEntry, mac: Mac, sender: Ipv4Addr | undefined): void {
  const expires = d.now + d.config.entryTtl;
  const fresh = (was: Ipv4Addr, used = false, revalidated = false): ArpEntry => ({
    state: 'reachable',
    mac,
    sender: sender ?? was,
    expires,
    used,
    ...(revalidated ? { revalidated } : {}),
    since: d.now,
    requestedAt: e.requestedAt,
  });
  switch (e.state) {
    case 'incomplete':
      for (const q of e.queue) d.out.push({ kind: 'transmit', mac, packet: q.packet });
      d.pendingBytes -= e.queueBytes;
      d.set(ip, fresh(e.sender));
      d.count('resolved');
      return;
    case 'reachable':
      // Still in use if it was: a neighbour's own refresh must not make it evictable (keepInUse).
      d.set(ip, fresh(e.sender, e.used, e.revalidated === true));
      d.count('refreshed');
      return;
    case 'probe':
      d.set(ip, fresh(e.sender, false, true));
      d.count('refreshed');
      return;
    case 'failed':
      d.set(ip, fresh(defaultSender(d.config)));
      d.count('refreshed');
      return;
    default:
      assertNever(e);
  }
}

function learn(d: Draft, ip: Ipv4Addr, mac: Mac, sender: Ipv4Addr): void {
  if (!makeRoom(d)) {
    d.count('learn-refused');
    return;
  }
  d.set(ip, {
    state: 'reachable',
    mac,
    sender,
    expires: d.now + d.config.entryTtl,
    used: false,
    since: d.now,
    requestedAt: null,
  });
  d.count('learned');
}

function resolve(d: Draft, ip: Ipv4Addr, packet: Uint8Array): void {
  const c = d.config;
  if (ip === IPV4_BROADCAST || isIpv4Multicast(ip)) {
    d.out.push({
      kind: 'transmit',
      mac: ip === IPV4_BROADCAST ? MAC_BROADCAST : ipv4MulticastMac(ip),
      packet,
    });
    return;
  }
  // Never ARP for 0.0.0.0 or for ourselves (local delivery is the driver's loopback).
  if (ip === IPV4_ANY || c.addresses.includes(ip)) {
    drop(d, ip, packet, pinned(packet), 'invalid-address');
    return;
  }

  const e = d.entries.get(ip);
  if (e === undefined) {
    if (!makeRoom(d)) {
      drop(d, ip, packet, pinned(packet), 'table-full');
      return;
    }
    const sender = senderFor(c, packet);
    sendRequest(d, ip, sender);
    const entry: ArpEntry = {
      state: 'incomplete',
      sender,
      requests: 1,
      nextRequest: d.now + c.retryInterval,
      queue: [],
      queueBytes: 0,
      since: d.now,
      requestedAt: d.now,
    };
    d.set(ip, entry);
    enqueue(d, ip, entry, packet);
    return;
  }
  switch (e.state) {
    case 'reachable':
      if (!e.used) d.set(ip, { ...e, used: true });
      d.out.push({ kind: 'transmit', mac: e.mac, packet });
      return;
    case 'probe':
      d.out.push({ kind: 'transmit', mac: e.mac, packet });
      return;
    case 'incomplete':
      // The request in flight covers this packet: no new request (RFC 1122 §2.3.2.1 flood limit).
      enqueue(d, ip, e, packet);
      return;
    case 'failed':
      // Negative caching: report at once instead of asking again (RFC 1122 §2.3.2.1 flood limit).
      d.out.push({ kind: 'unreachable', ip, packets: [packet] });
      d.count('unreachable');
      return;
    default:
      assertNever(e);
  }
}

function tick(d: Draft): void {
  const c = d.config;
  const now = d.now;
  const a = d.announce;
  if (a !== null && a.due <= now) {
    for (const ip of c.addresses) sendAnnouncement(d, ip);
    d.setAnnounce(a.remaining > 1 ? { remaining: a.remaining - 1, due: now + c.announceInterval } : null);
  }
  // Iterate the input map: the draft's copy may change under us.
  for (const [ip, e] of d.s.entries) {
    switch (e.state) {
      case 'incomplete':
        if (e.nextRequest > now) break;
        if (e.requests <= c.maxRetries) {
          sendRequest(d, ip, e.sender);
          d.set(ip, { ...e, requests: e.requests + 1, requestedAt: now, nextRequest: now + c.retryInterval });
        } else {
          d.pendingBytes -= e.queueBytes;
          d.out.push({ kind: 'unreachable', ip, packets: e.queue.map((q) => q.packet) });
          d.count('unreachable', e.queue.length);
          d.count('resolution-failed');
          d.set(ip, { state: 'failed', until: now + c.failedTtl, since: now, requestedAt: e.requestedAt });
        }
        break;
      case 'reachable':
        if (e.expires > now) break;
        if (e.used) {
          sendProbe(d, ip, e.mac, e.sender);
          d.set(ip, {
            state: 'probe',
            mac: e.mac,
            sender: e.sender,
            probes: 1,
            nextProbe: now + c.retryInterval,
            since: e.since,
            requestedAt: now,
          });
        } else {
          d.delete(ip);
          d.count('expired');
        }
        break;
      case 'probe':
        if (e.nextProbe > now) break;
        if (e.probes <= c.maxRetries) {
          sendProbe(d, ip, e.mac, e.sender);
          d.set(ip, { ...e, probes: e.probes + 1, requestedAt: now, nextProbe: now + c.retryInterval });
        } else {
          // Forget it: the next packet resolves by broadcast, which finds a neighbour that moved.
          d.delete(ip);
          d.count('probe-failed');
        }
        break;
      case 'failed':
        if (e.until <= now) d.delete(ip);
        break;
      default:
        assertNever(e);
    }
  }
}

// ---- queue and table ----

function enqueue(d: Draft, ip: Ipv4Addr, e: ArpEntry & { state: 'incomplete' }, packet: Uint8Array): void {
  const c = d.config;
  const bytes = pinned(packet);
  if (bytes > c.pendingBytesPerNeighbour || bytes > c.maxPendingTotalBytes) {
    drop(d, ip, packet, bytes, 'too-big');
    return;
  }
  const queue = [...e.queue, { packet, bytes, seq: d.nextSeq++ }];
  let queueBytes = e.queueBytes + bytes;
  d.pendingBytes += bytes;
  // RFC 1122 §2.3.2.2: keep the latest, so the oldest go first.
  while (queue.length > c.pendingPerNeighbour || queueBytes > c.pendingBytesPerNeighbour) {
    const old = queue.shift()!;
    queueBytes -= old.bytes;
    d.pendingBytes -= old.bytes;
    drop(d, ip, old.packet, old.bytes, 'queue-full');
  }
  d.set(ip, { ...e, queue, queueBytes });
  while (d.pendingBytes > c.maxPendingTotalBytes) dropOldestPending(d);
}

/** Drops the globally oldest queued packet (the newest one fits, so this ends before reaching it). */
function dropOldestPending(d: Draft): void {
  let victim: Ipv4Addr | undefined;
  let oldest = Number.POSITIVE_INFINITY;
  for (const [ip, e] of d.entries) {
    if (e.state === 'incomplete' && e.queue.length > 0 && e.queue[0]!.seq < oldest) {
      oldest = e.queue[0]!.seq;
      victim = ip;
    }
  }
  const e = victim === undefined ? undefined : d.entries.get(victim);
  if (victim === undefined || e?.state !== 'incomplete')
    throw new Error('arp: pending bytes without a queue');
  const [old, ...rest] = e.queue;
  d.set(victim, { ...e, queue: rest, queueBytes: e.queueBytes - old!.bytes });
  d.pendingBytes -= old!.bytes;
  drop(d, victim, old!.packet, old!.bytes, 'pending-budget');
}

/** Room for one more entry: evicts the least recently confirmed evictable entry when full. */
function makeRoom(d: Draft): boolean {
  if (d.entries.size < d.config.maxEntries) return true;
  let victim: Ipv4Addr | undefined;
  let oldest = Number.POSITIVE_INFINITY;
  for (const [ip, e] of d.entries) {
    const inUse = e.state === 'reachable' && (e.used || e.revalidated === true) && d.config.keepInUse;
    const evictable =
      (e.state === 'failed' || (e.state === 'reachable' && !inUse)) &&
      (e.requestedAt === null || e.requestedAt + d.config.retryInterval <= d.now);
    if (evictable && e.since < oldest) {
      oldest = e.since;
      victim = ip;
    }
  }
  if (victim === undefined) return false;
  d.delete(victim);
  d.count('evicted');
  return true;
}

function drop(d: Draft, ip: Ipv4Addr, packet: Uint8Array, bytes: number, reason: ArpDropReason): void {
  d.out.push({ kind: 'dropped', reason, ip, bytes, packet });
  d.count(reason);
}

/** What a retained packet costs: the whole buffer it keeps alive. */
function pinned(packet: Uint8Array): number {
  return Math.max(packet.byteLength, packet.buffer.byteLength);
}

function defaultSender(c: ArpConfig): Ipv4Addr {
  return c.addresses[0] ?? IPV4_ANY;
}

/** The packet's own source address when it is ours (RFC 791 §3.1: bytes 12-15), so replies reach the right subnet. */
function senderFor(c: ArpConfig, packet: Uint8Array): Ipv4Addr {
  if (packet.byteLength >= 20 && packet[0]! >> 4 === 4) {
    const src = readIpv4(packet, 12);
    if (c.addresses.includes(src)) return src;
  }
  return defaultSender(c);
}
