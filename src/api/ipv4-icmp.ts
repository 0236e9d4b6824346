/**
 * ICMP for IPv4 (RFC 792, RFC 1122 §3.2.2, RFC 1191 for "fragmentation needed"). `parse(bytes)`
 * checks the checksum and gives an {@link Icmpv4Repr}: echo request and reply, or an error with the
 * start of the datagram it is about; `emit(repr, buf)` writes one. `mayAnswerError` applies the rules
 * of RFC 1122 §3.2.2 on which datagrams must never be answered with an error.
 *
 * @module
 */
export {
  emitIcmpv4 as emit,
  ICMPV4_DEST_UNREACHABLE,
  ICMPV4_ECHO_REPLY,
  ICMPV4_ECHO_REQUEST,
  ICMPV4_ERROR_QUOTE_MAX,
  ICMPV4_HEADER_LEN,
  ICMPV4_PARAMETER_PROBLEM,
  ICMPV4_REDIRECT,
  ICMPV4_SOURCE_QUENCH,
  ICMPV4_TIME_EXCEEDED,
  ICMPV4_TIMESTAMP,
  ICMPV4_TIMESTAMP_REPLY,
  type Icmpv4ErrorContext,
  Icmpv4Packet,
  type Icmpv4ParseOptions,
  type Icmpv4Repr,
  icmpv4HeaderLen as headerLen,
  isIcmpv4Error as isError,
  mayAnswerIcmpv4Error as mayAnswerError,
  parseIcmpv4 as parse,
  quoteDatagram,
  TIME_EXCEEDED_REASSEMBLY,
  TIME_EXCEEDED_TTL,
  UNREACH_ADMIN_PROHIBITED,
  UNREACH_FRAG_NEEDED,
  UNREACH_HOST,
  UNREACH_NET,
  UNREACH_PORT,
  UNREACH_PROTOCOL,
  UNREACH_SOURCE_ROUTE,
} from '../ipv4/icmp.js';
