/**
 * IP fragmentation, shared by IPv4 and IPv6. `plan(payloadLen, mtu, ...)` cuts a payload into
 * fragments (RFC 791 §3.2, RFC 8200 §4.5); reassembly is a pure, bounded core: `init(config)`,
 * `step(state, event)` with a `fragment` or `tick` event returns the datagrams completed and the ones
 * given up, and `deadline(state)` says when to tick. Any overlap drops the whole datagram
 * (RFC 5722 §4); a byte budget with a per-entry overhead bounds memory.
 *
 * @module
 */
export {
  COUNTER_NAMES,
  type CounterName,
  DEFAULT_REASSEMBLY_CONFIG,
  type DropReason,
  deadline,
  entryWeight,
  type FragmentEvent,
  type HeldFragment,
  initialReassembly as init,
  maxEntryWeight,
  type ReassemblyConfig,
  type ReassemblyCounters,
  type ReassemblyEntry,
  type ReassemblyEvent,
  type ReassemblyOutput,
  type ReassemblyState,
  step,
  type TickEvent,
} from '../fragments/reassembly.js';
export { type FragmentPlan, planFragments as plan } from '../fragments/plan.js';
