/**
 * Types of the NDP core (RFC 4861, RFC 4862): configuration, state, events, outputs and counters.
 * See ../ndp.ts for the contract and README.md for the decisions.
 */
import type { Ipv6Addr, Mac } from '../../addr.js';
import type { Icmpv6Repr } from '../icmp.js';

export interface StaticAddress {
  readonly address: Ipv6Addr;
  readonly prefixLen: number;
}

/** One entry of AdvPrefixList (RFC 4861 §6.2.1), sent as a Prefix Information option (§4.6.2). */
export interface NdpRouterPrefix {
  readonly prefix: Ipv6Addr;
  readonly prefixLen: number;
  /** AdvOnLinkFlag (L). */
  readonly onLink: boolean;
  /** AdvAutonomousFlag (A, RFC 4862 §5.5.3). */
  readonly autonomous: boolean;
  /** AdvValidLifetime and AdvPreferredLifetime in seconds, fixed; 0xffffffff is infinity. */
  readonly validLifetime: number;
  readonly preferredLifetime: number;
}

/** RFC 8106 §5.1: the Recursive DNS Server option we advertise. */
export interface NdpRdnssConfig {
  readonly addresses: readonly Ipv6Addr[];
  /** Seconds; 0xffffffff is infinity. */
  readonly lifetime: number;
}

/**
 * The router role on this interface (RFC 4861 §6.2.1 configuration variables). With it the node
 * joins all-routers, sets the Router flag in its advertisements, sends no Router Solicitations and
 * takes nothing for itself from other routers' advertisements. Intervals are milliseconds like the
 * rest of the config; lifetimes are seconds as they go on the wire.
 */
export interface NdpRouterConfig {
  /** AdvSendAdvertisements: send Router Advertisements and answer Router Solicitations. */
  readonly advertise: boolean;
  /** AdvPrefixList. */
  readonly prefixes: readonly NdpRouterPrefix[];
  /** AdvLinkMTU; absent: no MTU option (§6.2.3). */
  readonly mtu?: number;
  /** AdvDefaultLifetime (s): 0 (not a default router) or MaxRtrAdvInterval..9000 s. */
  readonly routerLifetime: number;
  /** AdvCurHopLimit; 0 is unspecified. */
  readonly curHopLimit: number;
  /** AdvReachableTime (ms, <= 3,600,000) and AdvRetransTimer (ms); 0 is unspecified. */
  readonly reachableTime: number;
  readonly retransTimer: number;
  /** Recursive DNS servers (RFC 8106); absent: no RDNSS option. */
  readonly rdnss?: NdpRdnssConfig;
  /** MinRtrAdvInterval (>= 3 s, <= 0.75 x max) and MaxRtrAdvInterval (4 s..1800 s), in ms. */
  readonly minInterval: number;
  readonly maxInterval: number;
}

/** Times are milliseconds (RFC 4861 §10 gives some in seconds; they are converted here). */
export interface NdpConfig {
  /** Our hardware address; the link-local and SLAAC interface identifier is its modified EUI-64. */
  readonly mac: Mac;
  /** The link's MTU (RFC 2464 §2: 1500). An RA's MTU option may lower LinkMTU, never raise it above this. */
  readonly mtu: number;
  /** Neighbour Cache entries of every state together. */
  readonly maxNeighbours: number;
  /**
   * INCOMPLETE entries at once (RFC 6583 §7.2: bound the resolutions in progress). Past it a packet
   * for a new neighbour is dropped as `incomplete-full`, so a scan of the prefix holds at most this
   * many entries and, as none of them is answered, provokes at most this many multicast
   * solicitations per RetransTimer (each entry solicits once per RetransTimer, §7.3.3).
   */
  readonly maxIncomplete: number;
  /**
   * Never evict an entry in use (RFC 6583 §7.1: existing, working entries before new ones): DELAY
   * and PROBE (never evicted anyway), REACHABLE when a packet was sent to it since its confirmation
   * or that confirmation came from traffic in use (an answer to our NUD probe, an upper-layer hint),
   * and STALE for one ReachableTime after it went stale in use. A scan then cannot push out the
   * neighbours in use; one left idle becomes evictable again. Off: any REACHABLE or STALE entry may
   * go.
   */
  readonly keepInUse: boolean;
  readonly pendingPerNeighbour: number;
  readonly pendingBytesPerNeighbour: number;
  readonly maxPendingTotalBytes: number;
  /** Default Router List size (RFC 4861 §6.3.4: "MUST retain at least two"). */
  readonly maxRouters: number;
  /** On-link Prefix List size. */
  readonly maxPrefixes: number;
  /** Addresses formed by SLAAC, whatever their state. */
  readonly maxAutoconfAddresses: number;
  /** RFC 4862 §5.1 DupAddrDetectTransmits; 0 turns DAD off. */
  readonly dupAddrDetectTransmits: number;
  /** RFC 4861 §10 RETRANS_TIMER: the initial RetransTimer. */
  readonly retransTimer: number;
  /** RFC 4861 §10 REACHABLE_TIME: the initial BaseReachableTime. */
  readonly reachableTime: number;
  readonly maxMulticastSolicit: number;
  readonly maxUnicastSolicit: number;
  /** RFC 4861 §10 DELAY_FIRST_PROBE_TIME (5 s). */
  readonly delayFirstProbeTime: number;
  readonly maxRtrSolicitations: number;
  /** RFC 4861 §10 RTR_SOLICITATION_INTERVAL (4 s). */
  readonly rtrSolicitationInterval: number;
  /** RFC 4861 §10 MAX_RTR_SOLICITATION_DELAY (1 s): bound of the random delays before RS and DAD. */
  readonly maxRtrSolicitationDelay: number;
  /** Configured addresses; they go through DAD like the others (RFC 4862 §5.4). */
  readonly staticAddresses: readonly StaticAddress[];
  /** Process Router Advertisements and send Router Solicitations. */
  readonly acceptRa: boolean;
  /** Form addresses from autonomous prefixes (RFC 4862 §5.5.3); needs `acceptRa`. */
  readonly slaac: boolean;
  /** The router role on this interface (README: "The router role"); absent for a host. */
  readonly router?: NdpRouterConfig;
}

export type AddressState = 'tentative' | 'preferred' | 'deprecated' | 'duplicated';
export type AddressOrigin = 'link-local' | 'static' | 'slaac';

export interface NdpAddress {
  readonly address: Ipv6Addr;
  readonly prefixLen: number;
  readonly origin: AddressOrigin;
  readonly state: AddressState;
  /** Absolute times (ms); Infinity for an infinite lifetime (RFC 4861 §4.6.2: all ones). */
  readonly preferredUntil: number;
  readonly validUntil: number;
  /** Duplicate Address Detection in progress: solicitations sent and when the next step is due. */
  readonly dad: { readonly sent: number; readonly due: number } | null;
}

export interface QueuedPacket {
  readonly packet: Uint8Array;
  /** Accounted size: the bytes the packet pins. */
  readonly bytes: number;
  /** Global enqueue order, to drop the oldest packet first when the global budget is exceeded. */
  readonly seq: number;
}

interface EntryBase {
  /** The neighbour's address (our own copy). */
  readonly addr: Ipv6Addr;
  /** RFC 4861 §5.1 IsRouter. */
  readonly isRouter: boolean;
  /** Time of creation or of the last change of link-layer address or reachability: LRU order for eviction. */
  readonly since: number;
  /** Time of the last solicitation to it (RFC 4861 §7.3.3 per-neighbour rate limit). */
  readonly lastSolicit: number | null;
}

/** A Neighbour Cache entry in one of the five RFC 4861 §7.3.2 states. */
export type NeighbourEntry =
  | (EntryBase & {
      readonly state: 'incomplete';
      /** Our address the solicitations come from (the prompting packet's source, §7.2.2). */
      readonly sender: Ipv6Addr;
      /** Multicast solicitations sent so far. */
      readonly solicits: number;
      readonly nextSolicit: number;
      readonly queue: readonly QueuedPacket[];
      readonly queueBytes: number;
    })
  | (EntryBase & {
      readonly state: 'reachable';
      readonly mac: Mac;
      readonly expires: number;
      /** In use (`keepInUse`): sent to since confirmed, or confirmed by traffic in use. */
      readonly inUse: boolean;
    })
  | (EntryBase & {
      readonly state: 'stale';
      readonly mac: Mac;
      /** It went STALE in use: kept by `keepInUse` until this time; null when it was not in use. */
      readonly inUseUntil: number | null;
    })
  | (EntryBase & { readonly state: 'delay'; readonly mac: Mac; readonly probeAt: number })
  | (EntryBase & {
      readonly state: 'probe';
      readonly mac: Mac;
      /** Unicast solicitations sent so far. */
      readonly probes: number;
      readonly nextProbe: number;
    });

export type NeighbourState = NeighbourEntry['state'];

export interface DefaultRouter {
  readonly addr: Ipv6Addr;
  readonly expires: number;
}

export interface OnLinkPrefix {
  /** Masked to `prefixLen` bits. */
  readonly prefix: Ipv6Addr;
  readonly prefixLen: number;
  /** Infinity for an infinite valid lifetime. */
  readonly expires: number;
}

/** Router Solicitations (RFC 4861 §6.3.7): sent so far, how many in all, when the next is due. */
export interface RsState {
  readonly sent: number;
  readonly max: number;
  readonly due: number;
}

/**
 * Router Advertisements of an advertising interface (RFC 4861 §6.2.4, §6.2.6): the next multicast
 * RA, unsolicited or answering solicitations, and what the rate limits need.
 */
export interface RaState {
  /** Multicast RAs sent since advertising began, counted up to MAX_INITIAL_RTR_ADVERTISEMENTS. */
  readonly sent: number;
  /** When the last multicast RA went out (§6.2.6 MIN_DELAY_BETWEEN_RAS); null before the first. */
  readonly lastAt: number | null;
  /** When the next multicast RA is due. */
  readonly due: number;
  /** The next RA answers a solicitation (§6.2.6: one RA for several, the delay from the first). */
  readonly solicited: boolean;
}

/** Packets dropped before or while waiting for resolution. */
export type NdpDropReason =
  | 'queue-full'
  | 'pending-budget'
  | 'too-big'
  | 'table-full'
  | 'incomplete-full'
  | 'invalid-address'
  | 'interface-disabled';

/** Received messages discarded, by the rule that discarded them. */
export type NdpIgnoreReason =
  | 'not-ndp'
  | 'ignored-disabled'
  | 'bad-hop-limit'
  | 'looped'
  | 'bad-source'
  | 'source-is-ours'
  | 'bad-target'
  | 'ns-dad-bad-destination'
  | 'ns-dad-with-sllao'
  | 'ns-not-for-us'
  | 'ns-tentative-ignored'
  | 'na-solicited-multicast'
  | 'na-no-entry'
  | 'na-incomplete-no-tllao'
  | 'na-not-applied'
  | 'ra-bad-source'
  | 'ra-ignored'
  | 'rs-ignored'
  | 'rs-unspecified-with-sllao'
  | 'ra-ignored-routing'
  | 'redirect-ignored';

export type NdpCounterName =
  | NdpDropReason
  | NdpIgnoreReason
  | 'ns-sent'
  | 'probe-sent'
  | 'dad-ns-sent'
  | 'na-sent'
  | 'rs-sent'
  | 'ra-accepted'
  | 'learned'
  | 'learn-refused'
  | 'resolved'
  | 'confirmed'
  | 'evicted'
  | 'resolution-failed'
  | 'probe-failed'
  | 'unreachable'
  | 'dad-succeeded'
  | 'dad-failed'
  | 'conflict'
  | 'router-added'
  | 'router-removed'
  | 'router-list-full'
  | 'prefix-added'
  | 'prefix-removed'
  | 'prefix-list-full'
  | 'pio-ignored'
  | 'slaac-added'
  | 'slaac-ignored'
  | 'slaac-list-full'
  | 'address-expired'
  | 'mtu-changed'
  | 'mtu-ignored'
  | 'rs-received'
  | 'ra-sent-unsolicited'
  | 'ra-sent-solicited'
  | 'ra-sent-final';

export const COUNTER_NAMES: readonly NdpCounterName[] = [
  'queue-full',
  'pending-budget',
  'too-big',
  'table-full',
  'incomplete-full',
  'invalid-address',
  'interface-disabled',
  'not-ndp',
  'ignored-disabled',
  'bad-hop-limit',
  'looped',
  'bad-source',
  'source-is-ours',
  'bad-target',
  'ns-dad-bad-destination',
  'ns-dad-with-sllao',
  'ns-not-for-us',
  'ns-tentative-ignored',
  'na-solicited-multicast',
  'na-no-entry',
  'na-incomplete-no-tllao',
  'na-not-applied',
  'ra-bad-source',
  'ra-ignored',
  'rs-ignored',
  'rs-unspecified-with-sllao',
  'ra-ignored-routing',
  'redirect-ignored',
  'ns-sent',
  'probe-sent',
  'dad-ns-sent',
  'na-sent',
  'rs-sent',
  'ra-accepted',
  'learned',
  'learn-refused',
  'resolved',
  'confirmed',
  'evicted',
  'resolution-failed',
  'probe-failed',
  'unreachable',
  'dad-succeeded',
  'dad-failed',
  'conflict',
  'router-added',
  'router-removed',
  'router-list-full',
  'prefix-added',
  'prefix-removed',
  'prefix-list-full',
  'pio-ignored',
  'slaac-added',
  'slaac-ignored',
  'slaac-list-full',
  'address-expired',
  'mtu-changed',
  'mtu-ignored',
  'rs-received',
  'ra-sent-unsolicited',
  'ra-sent-solicited',
  'ra-sent-final',
];

/** Counts of events, of packets dropped per reason and of messages discarded per rule. */
export type NdpCounters = Readonly<Record<NdpCounterName, number>>;

export interface NdpState {
  readonly config: NdpConfig;
  /** Time of the last change. */
  readonly now: number;
  /** splitmix32 state: every random delay is drawn from it, so a seed replays a run. */
  readonly rng: number;
  readonly started: boolean;
  /** RFC 4862 §5.4.5: IP operation stopped after our link-local address was found duplicated. */
  readonly disabled: boolean;
  /** Link-local first, then the static addresses, then SLAAC ones in order of creation. */
  readonly addresses: readonly NdpAddress[];
  readonly neighbours: ReadonlyMap<string, NeighbourEntry>;
  /** INCOMPLETE entries in `neighbours` (kept by the draft, so the `maxIncomplete` check is O(1)). */
  readonly incomplete: number;
  /** Sum of `queueBytes` over incomplete entries. */
  readonly pendingBytes: number;
  readonly nextSeq: number;
  /** In selection order: a router whose resolution failed moves to the end (§6.3.6 round robin). */
  readonly routers: readonly DefaultRouter[];
  readonly prefixes: readonly OnLinkPrefix[];
  readonly rs: RsState | null;
  /** An RA with a non-zero router lifetime was accepted (§6.3.7: then at most one more RS). */
  readonly raSeen: boolean;
  /** RFC 4861 §6.3.2 host variables. */
  readonly linkMtu: number;
  readonly curHopLimit: number;
  readonly baseReachableTime: number;
  readonly reachableTime: number;
  /** When `reachableTime` was drawn: it is redrawn at least every few hours (§6.3.4). */
  readonly reachableTimeDrawnAt: number;
  readonly retransTimer: number;
  /** Router Advertisements while this is an advertising interface (§6.2.2); null otherwise. */
  readonly ra: RaState | null;
  /** `stop` came: the interface ceased to be an advertising one (§6.2.5) and never becomes one again. */
  readonly raCeased: boolean;
  readonly counters: NdpCounters;
  readonly deadline: number | null;
}

/** A received ND message with what the driver knows of it from the IPv6 and Ethernet headers. */
export interface ReceivedNd {
  readonly kind: 'received';
  readonly now: number;
  readonly src: Ipv6Addr;
  readonly dst: Ipv6Addr;
  readonly hopLimit: number;
  /** The Ethernet source address of the frame. */
  readonly srcMac: Mac;
  readonly message: Icmpv6Repr;
}

export type NdpEvent =
  | { readonly kind: 'start'; readonly now: number }
  | ReceivedNd
  /** Send `packet` (an IPv6 packet, handed over to the core) to the next hop `nextHop`. */
  | {
      readonly kind: 'resolve';
      readonly now: number;
      readonly nextHop: Ipv6Addr;
      readonly packet: Uint8Array;
    }
  | { readonly kind: 'tick'; readonly now: number }
  /** Shutdown (RFC 4861 §6.2.5): an advertising interface sends its final RA with router lifetime 0. */
  | { readonly kind: 'stop'; readonly now: number }
  /** RFC 4861 §7.3.1: an upper layer saw forward progress through `neighbour`. */
  | { readonly kind: 'confirm-reachability'; readonly now: number; readonly neighbour: Ipv6Addr };

export type AddressEvent = 'tentative' | 'preferred' | 'deprecated' | 'duplicated' | 'removed';

export type NdpOutput =
  /** An ND message: the driver emits IPv6 (hop limit 255, RFC 4861 §4) + ICMPv6 + Ethernet. */
  | {
      readonly kind: 'send';
      readonly dst: Ipv6Addr;
      readonly src: Ipv6Addr;
      readonly dstMac: Mac;
      readonly hopLimit: 255;
      readonly message: Icmpv6Repr;
    }
  | { readonly kind: 'transmit'; readonly mac: Mac; readonly packet: Uint8Array }
  | {
      readonly kind: 'dropped';
      readonly reason: NdpDropReason;
      readonly addr: Ipv6Addr;
      readonly bytes: number;
      readonly packet: Uint8Array;
    }
  /** Resolution failed (§7.2.2): the driver answers each with ICMPv6 address unreachable (RFC 4443 §3.1 code 3). */
  | { readonly kind: 'unreachable'; readonly addr: Ipv6Addr; readonly packets: readonly Uint8Array[] }
  /** An address was added (`tentative`) or changed state; the driver filters and logs on it. */
  | {
      readonly kind: 'address';
      readonly address: Ipv6Addr;
      readonly prefixLen: number;
      readonly state: AddressEvent;
    }
  /** RFC 4862 §5.4.5 "SHOULD log": `mac` is the other node's; `disabled` when IP operation stopped. */
  | { readonly kind: 'dad-failed'; readonly address: Ipv6Addr; readonly mac: Mac; readonly disabled: boolean }
  /** An advertisement for one of our assigned addresses from another node (RFC 4862 §5.4.4, not handled). */
  | { readonly kind: 'conflict'; readonly address: Ipv6Addr; readonly mac: Mac }
  /** Receive filter: start or stop accepting a multicast group (no MLD report is sent by the core). */
  | { readonly kind: 'join'; readonly group: Ipv6Addr }
  | { readonly kind: 'leave'; readonly group: Ipv6Addr }
  | { readonly kind: 'router'; readonly router: Ipv6Addr; readonly state: 'added' | 'removed' }
  | {
      readonly kind: 'prefix';
      readonly prefix: Ipv6Addr;
      readonly prefixLen: number;
      readonly state: 'added' | 'removed';
    }
  | { readonly kind: 'mtu'; readonly mtu: number };
