/**
 * The router's forwarding decision and in-place rewrite (pure): the types shared by the IPv4 half
 * (forward4.ts), the IPv6 half (forward6.ts) and the rewrite with MSS clamping (clamp.ts), and the
 * public entry that re-exports them.
 *
 *   frame (unicast to the ingress MAC, ethertype IPv4/IPv6)
 *     -> decide4 / decide6(packet, ingress, ctx)                               pure, no allocation of bytes
 *     -> 'forward':  applyForward4/6(frame, srcMac, dstMac, clampMssTo?)       in place: MACs, TTL, MSS
 *        'fragment': fragmentForward4(packet, mtu, alloc)                      IPv4 only (RFC 8200 §5)
 *        'icmp-error': the driver quotes the packet and sends `icmp` (rate-limited there)
 *        'local': the host stack; 'drop': counted as `router/<reason>`
 *
 * The FIB is consulted through `route4`/`route6` (a lookup function), so this module does not depend
 * on how routes are stored. Interfaces are named by their `index`, never by position in the array.
 *
 * Contract: `decide4`/`decide6` never throw on any packet bytes, never mutate them, and return views
 * into the packet for addresses they hand back (IPv6 next hops): use them before the buffer is reused.
 * ForwardInterface MTUs are at least the protocol minimums (68 for IPv4, RFC 791 §3.2; 1280 for IPv6,
 * RFC 8200 §5): the driver validates its configuration.
 */
import type { Ipv4Addr, Ipv6Addr, Mac } from '../addr.js';
import type { Icmpv4Repr } from '../ipv4/icmp.js';
import type { Icmpv6Repr } from '../ipv6/icmp.js';

export interface ForwardInterface {
  readonly index: number;
  readonly mac: Mac;
  /** The IP MTU of the link. */
  readonly mtu: number;
  readonly ipv4: readonly { readonly address: Ipv4Addr; readonly prefixLen: number }[];
  /** Includes the interface's link-local fe80:: address. */
  readonly ipv6: readonly { readonly address: Ipv6Addr; readonly prefixLen: number }[];
  /** Reverse-path filter on input (BCP 38 / RFC 3704 §2): 'loose' by default. */
  readonly rpFilter: 'off' | 'loose' | 'strict';
}

/** What a FIB lookup gives: the egress interface and, unless the destination is on-link, a gateway. */
export interface Route4 {
  readonly iface: number;
  readonly gateway?: Ipv4Addr;
}

export interface Route6 {
  readonly iface: number;
  readonly gateway?: Ipv6Addr;
}

export interface ForwardContext {
  readonly interfaces: readonly ForwardInterface[];
  readonly route4: (dst: Ipv4Addr) => Route4 | undefined;
  readonly route6: (dst: Ipv6Addr) => Route6 | undefined;
  /** Lower the MSS option of forwarded TCP SYNs to what the egress MTU carries (`--clamp-mss`). */
  readonly clampMss: boolean;
  /** Send redirects (RFC 1812 §5.2.7.2, RFC 4861 §8.2); true by default, as Linux. */
  readonly sendRedirects: boolean;
}

/**
 * Why a packet was not forwarded; the driver counts `router/<reason>`. A reason that comes with an
 * ICMP error has a `-suppressed` twin for when the error may not be sent (RFC 1812 §4.3.2.7, RFC 4443
 * §2.4(e)): the packet is then dropped silently.
 */
export const FORWARD_DROP_REASONS = [
  /** Failed IPv4 header validation (RFC 1812 §5.2.2: length, checksum, version, IHL) or IPv6's (RFC 8200 §3). */
  'malformed',
  /** The ingress index or a route's egress index names no interface: a configuration bug. */
  'unknown-interface',
  /** Source 0/8, 127/8, multicast, class E, limited broadcast, or a directed broadcast of ours (RFC 1812 §5.3.7); IPv6 ::, ::1, multicast (RFC 4291 §2.5.2, §2.5.3, §2.7). */
  'martian-source',
  /** Destination 0/8, 127/8 or class E (RFC 1812 §5.3.7); IPv6 :: or ::1. */
  'martian-destination',
  /** The source is one of the router's own addresses: a loop or a spoof. */
  'own-source',
  /** IPv4 169.254/16 source or destination (RFC 3927 §7); IPv6 fe80::/10 leaving its link (RFC 4291 §2.5.6). */
  'link-local',
  'link-local-suppressed',
  /** A directed broadcast to a connected subnet other than the ingress one (RFC 2644: off by default). */
  'directed-broadcast',
  /** The network address {prefix, 0} of a connected subnet, an obsolete broadcast (RFC 1812 §4.2.3.1(2)). */
  'obsolete-broadcast',
  /** Failed the reverse-path check of the ingress interface (BCP 38, RFC 3704 §2.2-§2.4). */
  'rp-filter',
  /** An IPv4 option with a bad length or pointer, or an IPv6 hop-by-hop option to answer (Parameter Problem). */
  'bad-option',
  'bad-option-suppressed',
  /** An unrecognised IPv6 hop-by-hop option whose type says "discard silently" (RFC 8200 §4.2). */
  'unknown-option',
  /** No route to the destination (Destination Unreachable, net / no route). */
  'no-route',
  'no-route-suppressed',
  /** A strict source route whose next hop is not directly connected (RFC 791 §3.1, Destination Unreachable code 5). */
  'source-route-failed',
  'source-route-failed-suppressed',
  /** TTL or hop limit would reach zero (RFC 1812 §5.3.1, RFC 8200 §3: Time Exceeded code 0). */
  'ttl-expired',
  'ttl-expired-suppressed',
  /** Bigger than the egress MTU with DF set, or any IPv6 packet (Fragmentation Needed / Packet Too Big). */
  'too-big',
  'too-big-suppressed',
  /** An IPv4 packet to fragment whose headers leave no room for 8 data bytes at this MTU. */
  'mtu-too-small',
] as const;

export type ForwardDropReason = (typeof FORWARD_DROP_REASONS)[number];

/** Sent alongside the forwarded packet: the sender should use `gateway` for this destination. */
export interface Redirect<A> {
  readonly gateway: A;
}

export type Decision4 =
  /** Addressed to the router (weak host) or a limited/ingress-subnet broadcast or multicast: the host stack's. */
  | { readonly kind: 'local' }
  | {
      readonly kind: 'forward';
      readonly egress: number;
      readonly nextHop: Ipv4Addr;
      readonly redirect?: Redirect<Ipv4Addr>;
      /** Present when `ctx.clampMss`: pass it to `applyForward4`. */
      readonly clampMssTo?: number;
    }
  /** Bigger than the egress MTU and DF clear: `fragmentForward4(packet, mtu, alloc)`. */
  | {
      readonly kind: 'fragment';
      readonly egress: number;
      readonly nextHop: Ipv4Addr;
      readonly mtu: number;
      readonly redirect?: Redirect<Ipv4Addr>;
    }
  | { readonly kind: 'icmp-error'; readonly icmp: Icmpv4Repr; readonly reason: ForwardDropReason }
  | { readonly kind: 'drop'; readonly reason: ForwardDropReason };

/** IPv6 has no 'fragment': routers never fragment (RFC 8200 §4.5, §5). */
export type Decision6 =
  | { readonly kind: 'local' }
  | {
      readonly kind: 'forward';
      readonly egress: number;
      /** A view into the packet when the destination is on-link. */
      readonly nextHop: Ipv6Addr;
      readonly redirect?: Redirect<Ipv6Addr>;
      readonly clampMssTo?: number;
    }
  | { readonly kind: 'icmp-error'; readonly icmp: Icmpv6Repr; readonly reason: ForwardDropReason }
  | { readonly kind: 'drop'; readonly reason: ForwardDropReason };

export { applyForward4, applyForward6, clampMssFor } from './clamp.js';
export { decide4, fragmentForward4 } from './forward4.js';
export { decide6 } from './forward6.js';
