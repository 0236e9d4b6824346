/**
 * `oasis-net/testing`: whole networks of Oasis stacks in one process, on virtual time, with seeded
 * impairments, for tests of the stack and of code built on it.
 *
 * - {@link SimNetwork} builds the network: `host()` makes a stack, `link(a, b)` joins two hosts with
 *   a wire, `hub()` makes a shared segment; every link and interface can carry seeded impairments
 *   (loss, duplication, reordering, corruption, delay). {@link twoHosts} is the common case: two
 *   hosts on one wire, 10.0.0.1 and 10.0.0.2.
 * - Virtual time moves only when the test says so: {@link settle} runs it until a promise settles,
 *   {@link runUntil} until a condition holds, {@link runFor} for a duration, each with an event-loop
 *   turn before every timer so that streams, promises and `http` work as on a real clock. (They are
 *   also methods of `SimNetwork`.)
 * - Every random choice comes from the network's seed: the same seed gives the same frames at the
 *   same virtual times, so a failing seed is a test case.
 *
 * fast-check arbitraries for these networks (impairments, options of `twoHosts`, schedules of
 * actions) are in `oasis-net/testing/arbitraries`, which needs the optional peer `fast-check`.
 *
 * ```ts
 * import { connect, createServer } from 'oasis-net';
 * import { twoHosts } from 'oasis-net/testing';
 *
 * const { net, a, b } = twoHosts({ seed: 7, impair: { loss: 0.05 } });
 * createServer(b, (s) => s.pipe(s)).listen(7);
 * const socket = connect(a, { host: '10.0.0.2', port: 7 });
 * socket.end('ping');
 * const reply = await net.settle(new Promise<string>((resolve) => socket.on('data', (d) => resolve(String(d)))));
 * await net.close();
 * ```
 *
 * @module oasis-net/testing
 */
export {
  type AddressSpec,
  type AttachOptions,
  type CaptureInfo,
  type HostOptions,
  type HubOptions,
  type LinkOptions,
  type NetworkCapture,
  type SegmentOptions,
  SimHub,
  SimNetwork,
  type SimNetworkOptions,
  type TwoHosts,
  type TwoHostsOptions,
  twoHosts,
} from './sim.js';
export { DEFAULT_LIMIT_MS, nextTurn, type RunOptions, runFor, runUntil, settle } from './time.js';
