/**
 * IPv6 forwarding (RFC 8200 §3-§5, RFC 4443, RFC 4861 §8): the decision for one received packet.
 * Pure; the FIB is the `route6` function of the context. IPv6 is never fragmented in transit: "unlike
 * IPv4, fragmentation in IPv6 is performed only by source nodes" (RFC 8200 §4.5), so a packet over
 * the egress MTU gets a Packet Too Big (RFC 4443 §3.2), even one to a multicast group (§2.4(e.3)).
 *
 * Order of the checks in `decide6`:
 *  1. the fixed header (RFC 8200 §3: version, payload length within the frame; jumbograms are not
 *     supported) -> 'malformed';
 *  2. local: a multicast destination (no multicast routing: the host stack takes the groups it joined),
 *     or one of our addresses (weak host), where a link-local address counts only on its own link
 *     (RFC 4291 §2.5.6);
 *  3. destinations never forwarded: :: and ::1 (RFC 4291 §2.5.2, §2.5.3); sources: ::, ::1, multicast
 *     (§2.7: "must not be used as source addresses"), then our own addresses;
 *  4. a link-local destination not ours (it lives on the ingress link: "Routers must not forward any
 *     packets with Link-Local source or destination addresses to other links", RFC 4291 §2.5.6);
 *  5. the ingress reverse-path filter (RFC 3704); a link-local source passes (its only path back is
 *     the link it came from);
 *  6. the hop-by-hop options header, the only extension header a router examines (RFC 8200 §4):
 *     unrecognised options by their action bits (§4.2) -> Parameter Problem code 2 or a silent drop;
 *  7. the route: none -> Destination Unreachable code 0 (RFC 4443 §3.1);
 *  8. hop limit: the forwarded copy would have 0 -> Time Exceeded code 0 (RFC 4443 §3.3);
 *  9. a link-local source leaving its link -> Destination Unreachable code 2 "beyond scope of source
 *     address" (RFC 4443 §3.1), as Linux answers;
 * 10. size over the egress MTU -> Packet Too Big with the egress MTU;
 * 11. forward, with a redirect (RFC 4861 §8.2) when it goes back out of the ingress link to a source
 *     that is a neighbour, and the better first hop is named by a link-local address or is the
 *     destination itself.
 * Every error is subject to RFC 4443 §2.4(e) (`mayAnswerIcmpv6Error`), else the `-suppressed` drop.
 * Other extension headers (routing, fragment, destination options) are the destination's business
 * (RFC 8200 §4) and pass untouched.
 */
import { type Ipv6Addr, ipv6Equal, isIpv6LinkLocal, isIpv6Multicast } from '../addr.js';
import { IPPROTO_HOPOPTS } from '../ipproto.js';
import { OPTION_PAD1, OPTION_PADN, OPTION_ROUTER_ALERT, optionAction } from '../ipv6/ext.js';
import {
  type Icmpv6Repr,
  mayAnswerIcmpv6Error,
  PARAM_PROBLEM_OPTION,
  TIME_EXCEEDED_HOP_LIMIT,
  UNREACH_BEYOND_SCOPE,
  UNREACH_NO_ROUTE,
} from '../ipv6/icmp.js';
import { IPV6_HEADER_LEN, Ipv6Packet } from '../ipv6/wire.js';
import { clampMssFor } from './clamp.js';
import type {
  Decision6,
  ForwardContext,
  ForwardDropReason,
  ForwardInterface,
  Redirect,
  Route6,
} from './forward.js';
import { findInterface } from './forward4.js';

const LOCAL: Decision6 = Object.freeze({ kind: 'local' });

type ErrorReason = 'link-local' | 'bad-option' | 'no-route' | 'ttl-expired' | 'too-big';

function drop(reason: ForwardDropReason): Decision6 {
  return { kind: 'drop', reason };
}

function error6(packet: Uint8Array, icmp: Icmpv6Repr, reason: ErrorReason): Decision6 {
  if (!mayAnswerIcmpv6Error(packet, icmp)) return { kind: 'drop', reason: `${reason}-suppressed` };
  return { kind: 'icmp-error', icmp, reason };
}

function inPrefix6(a: Uint8Array, prefix: Uint8Array, prefixLen: number): boolean {
  const whole = prefixLen >>> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== prefix[i]) return false;
  const bits = prefixLen & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return ((a[whole]! ^ prefix[whole]!) & mask) === 0;
}

/** `::` (unspecified) or `::1` (loopback). */
function isUnspecifiedOrLoopback(a: Uint8Array): boolean {
  for (let i = 0; i < 15; i++) if (a[i] !== 0) return false;
  return a[15] === 0 || a[15] === 1;
}

/** One of our addresses; a link-local one only on the ingress interface (its zone). */
function isOurs6(ctx: ForwardContext, ingress: ForwardInterface, a: Uint8Array): boolean {
  const linkLocal = isIpv6LinkLocal(a);
  for (const i of ctx.interfaces) {
    if (linkLocal && i.index !== ingress.index) continue;
    for (const c of i.ipv6) if (ipv6Equal(c.address, a)) return true;
  }
  return false;
}

function isAnyOurs6(ctx: ForwardContext, a: Uint8Array): boolean {
  for (const i of ctx.interfaces) for (const c of i.ipv6) if (ipv6Equal(c.address, a)) return true;
  return false;
}

function rpFilterPasses6(iface: ForwardInterface, src: Ipv6Addr, ctx: ForwardContext): boolean {
  switch (iface.rpFilter) {
    case 'off':
      return true;
    case 'loose':
      return ctx.route6(src) !== undefined;
    case 'strict':
      return ctx.route6(src)?.iface === iface.index;
  }
}

type HopByHop =
  | { readonly kind: 'ok' }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'discard' }
  | { readonly kind: 'problem'; readonly pointer: number };

/**
 * Checks the hop-by-hop options header, if the fixed header announces one, in `packet[..end)`.
 * RFC 8200 §4.2: an unrecognised option is skipped, discarded, or answered by Parameter Problem code 2
 * pointing at its type (the destination is unicast here, so action 11 answers too). Pad1, PadN and
 * Router Alert (RFC 2711, two octets of data) are recognised; a TLV running past the header is
 * malformed and dropped silently.
 */
function checkHopByHop(packet: Uint8Array, end: number): HopByHop {
  if (packet[6] !== IPPROTO_HOPOPTS) return { kind: 'ok' };
  const start = IPV6_HEADER_LEN;
  if (start + 8 > end) return { kind: 'malformed' };
  const stop = start + (packet[start + 1]! + 1) * 8;
  if (stop > end) return { kind: 'malformed' };
  let p = start + 2;
  while (p < stop) {
    const type = packet[p]!;
    if (type === OPTION_PAD1) {
      p++;
      continue;
    }
    if (p + 2 > stop || p + 2 + packet[p + 1]! > stop) return { kind: 'malformed' };
    const len = packet[p + 1]!;
    if (type === OPTION_ROUTER_ALERT && len !== 2) return { kind: 'malformed' };
    if (type !== OPTION_PADN && type !== OPTION_ROUTER_ALERT) {
      switch (optionAction(type)) {
        case 'skip':
          break;
        case 'discard':
          return { kind: 'discard' };
        case 'param-problem':
        case 'param-problem-unless-multicast':
          return { kind: 'problem', pointer: p };
      }
    }
    p += 2 + len;
  }
  return { kind: 'ok' };
}

/** RFC 4861 §8.2, for a packet leaving by the link it came in on. */
function redirect6(
  src: Ipv6Addr,
  ingress: ForwardInterface,
  route: Route6,
  nextHop: Ipv6Addr,
  ctx: ForwardContext,
): Redirect<Ipv6Addr> | undefined {
  if (route.iface !== ingress.index || !ctx.sendRedirects) return undefined;
  // "the Source Address field of the packet identifies a neighbor": link-local, or in an on-link prefix.
  if (!isIpv6LinkLocal(src) && !ingress.ipv6.some((c) => inPrefix6(src, c.address, c.prefixLen)))
    return undefined;
  // "the target address in a Redirect message identifies the neighbor router by its link-local
  // address"; when the destination itself is the better first hop, the target is the destination.
  if (route.gateway !== undefined && !isIpv6LinkLocal(route.gateway)) return undefined;
  return { gateway: nextHop };
}

/**
 * What to do with `packet` (the Ethernet payload of a frame unicast to interface `ingress`);
 * `segmentLen` as for `decide4` (a super-frame is judged by its segments, RFC 8200 §5).
 */
export function decide6(
  packet: Uint8Array,
  ingress: number,
  ctx: ForwardContext,
  segmentLen?: number,
): Decision6 {
  const inIface = findInterface(ctx, ingress);
  if (inIface === undefined) return drop('unknown-interface');
  const checked = Ipv6Packet.check(packet);
  if (!checked.ok) return drop('malformed');
  const p = checked.value;
  const src = p.src;
  const dst = p.dst;

  if (isIpv6Multicast(dst) || isOurs6(ctx, inIface, dst)) return LOCAL;
  if (isUnspecifiedOrLoopback(dst)) return drop('martian-destination');
  if (isUnspecifiedOrLoopback(src) || isIpv6Multicast(src)) return drop('martian-source');
  if (isAnyOurs6(ctx, src)) return drop('own-source');
  if (isIpv6LinkLocal(dst)) return drop('link-local');
  const srcLinkLocal = isIpv6LinkLocal(src);
  if (!srcLinkLocal && !rpFilterPasses6(inIface, src, ctx)) return drop('rp-filter');

  const end = IPV6_HEADER_LEN + p.payloadLen;
  const hbh = checkHopByHop(packet, end);
  switch (hbh.kind) {
    case 'ok':
      break;
    case 'malformed':
      return drop('malformed');
    case 'discard':
      return drop('unknown-option');
    case 'problem':
      return error6(
        packet,
        { kind: 'parameter-problem', code: PARAM_PROBLEM_OPTION, pointer: hbh.pointer },
        'bad-option',
      );
  }

  const route = ctx.route6(dst);
  if (route === undefined)
    return error6(packet, { kind: 'dest-unreachable', code: UNREACH_NO_ROUTE }, 'no-route');
  const out = findInterface(ctx, route.iface);
  if (out === undefined) return drop('unknown-interface');
  // RFC 8200 §3: "decremented by 1 by each node that forwards the packet"; RFC 4443 §3.3: "If a
  // router receives a packet with a Hop Limit of zero, or if a router decrements a packet's Hop Limit
  // to zero, it MUST discard the packet and originate an ICMPv6 Time Exceeded message".
  if (p.hopLimit <= 1)
    return error6(packet, { kind: 'time-exceeded', code: TIME_EXCEEDED_HOP_LIMIT }, 'ttl-expired');
  if (srcLinkLocal && out.index !== inIface.index)
    return error6(packet, { kind: 'dest-unreachable', code: UNREACH_BEYOND_SCOPE }, 'link-local');
  if ((segmentLen ?? end) > out.mtu)
    return error6(packet, { kind: 'packet-too-big', mtu: out.mtu }, 'too-big');

  const nextHop = route.gateway ?? dst;
  const redirect = redirect6(src, inIface, route, nextHop, ctx);
  const clamp = ctx.clampMss ? clampMssFor(out.mtu, 6) : undefined;
  return {
    kind: 'forward',
    egress: out.index,
    nextHop,
    ...(redirect === undefined ? {} : { redirect }),
    ...(clamp === undefined ? {} : { clampMssTo: clamp }),
  };
}
