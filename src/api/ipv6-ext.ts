/**
 * IPv6 extension headers (RFC 8200 §4): `walk(nextHeader, payload, opts)` follows the chain after
 * the fixed header (hop-by-hop, routing, fragment and destination options) and stops at the
 * upper-layer header, at a fragment that needs reassembly, or at an error that carries the Parameter
 * Problem to answer (RFC 8200 §4.2, §4.4, §4.5). `emitExtHeader` and `emitFragmentHeader` write them.
 *
 * @module
 */
export {
  type ExtChain,
  type ExtError,
  type ExtHeader,
  emitExtHeader,
  emitFragmentHeader,
  emitRouterAlertHopByHop,
  extHeaderLen,
  extHeaderType,
  FRAGMENT_HEADER_LEN,
  type FragmentHeader,
  type Ipv6Option,
  isExtensionHeader,
  OPTION_PAD1,
  OPTION_PADN,
  OPTION_ROUTER_ALERT,
  type OptionAction,
  type OptionsHeader,
  optionAction,
  ROUTER_ALERT_HOP_BY_HOP_LEN,
  ROUTER_ALERT_MLD,
  type RoutingHeader,
  routerAlert,
  type WalkedHeader,
  type WalkOptions,
  walkExtHeaders as walk,
} from '../ipv6/ext.js';
