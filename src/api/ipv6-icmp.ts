/**
 * ICMPv6 (RFC 4443) and the Neighbor Discovery messages (RFC 4861 §4). `parse(bytes, pseudoHeader)`
 * checks the checksum over the IPv6 pseudo-header and gives an {@link Icmpv6Repr} (echo, errors with
 * their quoted packet, router and neighbour solicitations and advertisements, redirects, with their
 * options); `emit(repr, buf, pseudoHeader)` writes one into a buffer of {@link headerLen} bytes.
 * `mayAnswerError` applies RFC 4443 §2.4 (e): which packets must never be answered with an error.
 *
 * @module
 */
export {
  emitIcmpv6 as emit,
  emitNdpOptions,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_MLDV2_REPORT,
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERTISEMENT,
  ICMPV6_ROUTER_SOLICITATION,
  ICMPV6_TIME_EXCEEDED,
  type Icmpv6ParseOptions,
  type Icmpv6Repr,
  type Ipv6PseudoHeader,
  icmpv6HeaderLen as headerLen,
  icmpv6Type as typeOf,
  isIcmpv6Error as isError,
  isIcmpv6ErrorType as isErrorType,
  mayAnswerIcmpv6Error as mayAnswerError,
  NDP_OPT_MTU,
  NDP_OPT_PREFIX_INFO,
  NDP_OPT_RDNSS,
  NDP_OPT_REDIRECTED_HEADER,
  NDP_OPT_SOURCE_LINK_ADDR,
  NDP_OPT_TARGET_LINK_ADDR,
  type NdpOption,
  ndpOptionsLen,
  PARAM_PROBLEM_HEADER_CHAIN,
  PARAM_PROBLEM_HEADER_FIELD,
  PARAM_PROBLEM_NEXT_HEADER,
  PARAM_PROBLEM_OPTION,
  type ParameterProblemRepr,
  parseIcmpv6 as parse,
  parseNdpOptions,
  TIME_EXCEEDED_HOP_LIMIT,
  TIME_EXCEEDED_REASSEMBLY,
  UNREACH_ADDRESS,
  UNREACH_ADMIN_PROHIBITED,
  UNREACH_BEYOND_SCOPE,
  UNREACH_NO_ROUTE,
  UNREACH_PORT,
} from '../ipv6/icmp.js';
