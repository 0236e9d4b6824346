/**
 * The router's pure forwarding plane. The FIB is a persistent, bounded longest-prefix-match table
 * for IPv4 and IPv6 (RFC 1812 §5.2.4.3): `fib4Add(fib, route)` returns a new FIB and leaves the old
 * one as it was, `fib4Lookup(fib, dst)` finds the route. `decide4` / `decide6` take a received packet
 * and a {@link ForwardContext} (interfaces, a route lookup, neighbours) and say what to do: forward
 * it, answer an ICMP error (RFC 1812, RFC 4443), deliver it locally or drop it with a reason;
 * `applyForward4` / `applyForward6` then rewrite the frame in place (MACs, TTL with RFC 1624, MSS
 * clamping).
 *
 * ```ts
 * import { router, parseIpv4Addr } from 'oasis-net';
 * const route = { prefix: parseIpv4Addr('10.1.0.0')!, prefixLen: 16, iface: 1, metric: 0, origin: 'static' } as const;
 * const r = router.fib4Add(router.emptyFib4(), route);
 * if (r.ok) router.fib4Lookup(r.value, parseIpv4Addr('10.1.2.3')!); // the /16 route
 * ```
 *
 * @module
 */
export {
  DEFAULT_MAX_ROUTES,
  emptyFib4,
  emptyFib6,
  type Fib4,
  type Fib6,
  type FibError,
  type FibRoute,
  fib4Add,
  fib4Lookup,
  fib4Remove,
  fib4Routes,
  fib4Size,
  fib6Add,
  fib6Lookup,
  fib6Remove,
  fib6Routes,
  fib6Size,
} from '../router/fib.js';
export {
  applyForward4,
  applyForward6,
  clampMssFor,
  type Decision4,
  type Decision6,
  decide4,
  decide6,
  FORWARD_DROP_REASONS,
  type ForwardContext,
  type ForwardDropReason,
  type ForwardInterface,
  fragmentForward4,
  type Redirect,
  type Route4,
  type Route6,
} from '../router/forward.js';
