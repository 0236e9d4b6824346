/**
 * UDP datagrams (RFC 768). `parse(bytes, pseudoHeader)` checks the length and the checksum against
 * the IP pseudo-header (RFC 768; zero means "no checksum" over IPv4 only, RFC 8200 §8.1) and gives a
 * {@link UdpRepr} and the payload; `emit(repr, buf, pseudoHeader)` writes the header and checksum
 * into a buffer that already holds the payload at {@link headerLen}.
 *
 * ```ts
 * import { udp } from 'oasis-net';
 * const r = udp.parse(bytes, { version: 4, src, dst });
 * if (r.ok) console.log(r.value.repr.dstPort, r.value.payload.length);
 * ```
 *
 * @module
 */
export {
  emitUdp as emit,
  parseUdp as parse,
  UDP_HEADER_LEN,
  UDP_MAX_LEN,
  type UdpEmitOptions,
  UdpPacket,
  type UdpParseOptions,
  type UdpRepr,
  udpHeaderLen as headerLen,
} from '../udp/wire.js';
