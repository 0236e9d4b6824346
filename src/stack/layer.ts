/**
 * The narrow interfaces the driver's layers are built from, so that each layer depends on what it
 * uses rather than on the whole stack (and a router can put its forwarding path between them):
 * - `StackEnv`: the clock, randomness, counters, the event log and the one timer;
 * - `LinkOutput`: Ethernet out of an interface (what ARP, NDP and the IP layers send through);
 * - `IpOutput`: route and send, what the transport layers need of an IP layer;
 * - `UpperProtocol`: the table of protocols an IP layer delivers to;
 * - `TimedCore`: a pure core's deadline and tick, gathered for the one timer.
 */
import type { Mac } from '../addr.js';
import type { Scheduler } from '../clock.js';
import type { Random } from '../random.js';
import type { WireError } from '../result.js';
import type { Counters, StackCounter } from './counters.js';
import type { Interface } from './iface.js';

export interface StackEnv {
  readonly scheduler: Scheduler;
  readonly random: Random;
  readonly counters: Counters;
  now(): number;
  /** Counts a drop: a parse error under its `layer/kind`, or a driver reason. */
  drop(reason: WireError | StackCounter): void;
  logEvent(message: string): void;
  /** A core's deadline may have moved earlier: re-arm the one timer. */
  rearm(): void;
}

export interface LinkOutput {
  /** Writes the Ethernet header in front of `packet` (made by `newPacket`) and sends the frame. */
  transmit(iface: Interface, dstMac: Mac, ethertype: number, packet: Uint8Array): void;
  /** Sends a whole Ethernet frame. */
  sendFrame(iface: Interface, frame: Uint8Array): void;
}

export interface SendOptions {
  /** TTL (IPv4) or hop limit (IPv6); the layer's default when absent. */
  readonly ttl?: number;
  /** IPv4 only: set DF and refuse to fragment (IPv6 routers never fragment anyway). */
  readonly dontFragment?: boolean;
  /** The IP header's ECN field (RFC 3168 §5; 2 is ECT(0)); 0 when absent. */
  readonly ecn?: number;
}

/** What a transport layer needs of an IP layer: pick a route, then send through it. */
export interface IpOutput<A, R extends { readonly src: A; readonly dst: A }> {
  route(dst: A, src?: A): R | undefined;
  /**
   * Sends an upper-layer payload of `upperLen` bytes, written by `write` into the buffer it is
   * given. False when the datagram cannot be sent.
   */
  send(
    route: R,
    protocol: number,
    upperLen: number,
    write: (buf: Uint8Array) => void,
    opts?: SendOptions,
  ): boolean;
}

/** An upper-layer protocol an IP layer delivers to. */
export interface UpperProtocol<D> {
  /** Takes one datagram's payload; false when nobody listens (the IP layer answers unreachable). */
  input(datagram: D, payload: Uint8Array): boolean;
}

/** A part of the stack with a pure core behind it: the one timer serves them all. */
export interface TimedCore {
  /** The earliest time the core must be ticked (+Infinity when never). */
  deadline(): number;
  /** Ticks the core if its deadline has come. */
  tick(now: number): void;
}

/**
 * The forwarding path of a router, between Ethernet and the IP layers' local input: it sees every
 * IP packet unicast to one of our MACs first.
 */
export interface Forwarder {
  /**
   * An IPv4 packet (`packet`, the payload of `frame`) unicast to `iface`'s MAC. True when the
   * forwarder took it (forwarded, answered or dropped); false when it is ours to deliver.
   */
  forward4(iface: Interface, frame: Uint8Array, packet: Uint8Array): boolean;
  /** The same for IPv6. */
  forward6(iface: Interface, frame: Uint8Array, packet: Uint8Array): boolean;
}
