/**
 * IPv4 (RFC 791) and ICMPv4 (RFC 792). `parse(bytes)` validates a header (version, lengths, header
 * checksum) and gives an {@link Ipv4Repr} and the payload, cut at the total length; `emit(repr, buf)`
 * writes the header of a datagram whose payload already sits at {@link headerLen}. The ICMP messages
 * are under {@link icmp}: `ipv4.icmp.parse`, `ipv4.icmp.emit`.
 *
 * ```ts
 * import { ipv4, ipv4ToString } from 'oasis-net';
 * const r = ipv4.parse(packet);
 * if (!r.ok) console.log(`${r.error.layer}/${r.error.kind}`); // e.g. ipv4/bad-checksum
 * else console.log(ipv4ToString(r.value.repr.src), r.value.repr.protocol);
 * ```
 *
 * @module
 */
export {
  decrementTtl,
  emitIpv4 as emit,
  IPV4_MAX_HEADER_LEN,
  IPV4_MAX_OPTIONS_LEN,
  IPV4_MAX_TOTAL_LEN,
  IPV4_MIN_HEADER_LEN,
  Ipv4Packet,
  type Ipv4ParseOptions,
  type Ipv4Repr,
  ipv4HeaderLen as headerLen,
  parseIpv4 as parse,
} from '../ipv4/wire.js';
// ICMP for IPv4 (RFC 792, RFC 1122 §3.2.2): echo, and the error messages with the datagram they quote.
export * as icmp from './ipv4-icmp.js';
