/**
 * IPv6 (RFC 8200): the fixed header here (`parse`, `emit`, {@link Ipv6Packet}), the extension-header
 * chain under {@link ext}, ICMPv6 (RFC 4443) under {@link icmp}, and Neighbor Discovery with SLAAC
 * (RFC 4861, RFC 4862) as a pure core under {@link ndp}.
 *
 * ```ts
 * import { ipv6 } from 'oasis-net';
 * const r = ipv6.parse(packet);
 * if (r.ok) {
 *   const chain = ipv6.ext.walk(r.value.repr.nextHeader, r.value.payload, { dstMulticast: false });
 *   if (chain.ok) console.log(chain.value.nextHeader, chain.value.headers.length); // e.g. 6, 0
 * }
 * ```
 *
 * @module
 */
export {
  emitIpv6 as emit,
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  Ipv6Packet,
  type Ipv6Repr,
  ipv6HeaderLen as headerLen,
  parseIpv6 as parse,
} from '../ipv6/wire.js';
// Extension headers (RFC 8200 §4): walking the chain, options, fragment and routing headers.
export * as ext from './ipv6-ext.js';
// ICMPv6 (RFC 4443) and the Neighbor Discovery messages and options (RFC 4861 §4).
export * as icmp from './ipv6-icmp.js';
// Neighbor Discovery and SLAAC for a host or a router interface, as a pure core.
export * as ndp from './ipv6-ndp.js';
