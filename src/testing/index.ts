/**
 * `oasis-net/testing`: whole networks of Oasis stacks in one process, on virtual time, with seeded
 * impairments, for tests of the stack and of code built on it. See sim.ts (the network) and time.ts
 * (running virtual time under Node's event loop).
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
