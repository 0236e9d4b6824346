/**
 * ARP (RFC 826) for IPv4 over Ethernet: the packet format and the neighbour cache as a pure core.
 *
 * Wire: `parse(bytes)` gives an {@link ArpRepr}; `emit(repr, buf)` writes {@link ARP_LEN} bytes.
 *
 * Cache: `init(config(ourMac, addresses), now)` makes a state; `step(state, event)` returns the next
 * state and what to do (send a request or reply, transmit the packets that waited for an answer, drop
 * some); `deadline(state)` is the time the driver must call `step` with a `tick` event. Nothing in it
 * reads a clock or throws on network input: the same events give the same outputs.
 *
 * ```ts
 * import { arp, parseIpv4Addr, parseMac } from 'oasis-net';
 * const cfg = arp.config(parseMac('02:00:00:00:00:01')!, [parseIpv4Addr('10.0.0.2')!]);
 * const [state, outputs] = arp.step(arp.init(cfg, 0), { kind: 'start', now: 0 });
 * // outputs: a gratuitous announcement (RFC 5227 §2.3) to send; arp.deadline(state): when to tick
 * ```
 *
 * @module
 */
export {
  ARP_HTYPE_ETHERNET,
  ARP_LEN,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ARP_PTYPE_IPV4,
  type ArpOperation,
  ArpPacket,
  type ArpRepr,
  arpHeaderLen as headerLen,
  emitArp as emit,
  parseArp as parse,
} from '../arp/wire.js';
export {
  ARP_DEFAULTS,
  type ArpConfig,
  type ArpCounterName,
  type ArpCounters,
  type ArpDropReason,
  type ArpEntry,
  type ArpEvent,
  type ArpIgnoreReason,
  type ArpOutput,
  type ArpState,
  arpConfig as config,
  arpDeadline as deadline,
  arpStep as step,
  initialArp as init,
  lookup,
  type QueuedPacket,
  sendableMac,
  transmitsAtOnce,
} from '../arp/cache.js';
