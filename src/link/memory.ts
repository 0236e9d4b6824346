/**
 * In-process links on a `Scheduler`: point-to-point pairs (`memoryPair`) and broadcast segments
 * (`MemoryHub`). Used by unit tests, whole-network simulations on virtual time and in-process
 * benchmarks on real time.
 *
 * - Delivery is never synchronous inside send(): a frame is delivered from a scheduler callback at
 *   now + delay (0 included), so a stack cannot recurse into itself or its peer.
 * - Frames larger than mtu + 14 (+ 4 per VLAN tag) or smaller than a header are dropped at the
 *   sender and counted.
 * - Frames are passed by reference: on a pair the receiver gets the sender's buffer (sending hands
 *   it over, and the receiver may rewrite it in place: the Link contract). On a hub every receiver
 *   but the last gets its own copy, so a receiver rewriting in place cannot corrupt another's view.
 *   A lent frame (a view of a TAP's receive slot) waits in a delivery queue, so it is copied at
 *   send() and counted under `lentCopied`.
 * - A pair can model a bottleneck: with `rate` (bit/s) each frame occupies the wire for
 *   len * 8 / rate, frames wait behind each other, and a bounded transmit queue tail-drops.
 * - Impairments (loss, reorder, ...) use the same code as for any link: see impair.ts.
 * - A pair can carry offloads as a veth with TSO and checksum offload does (`offloads`): a TCP
 *   super-frame the stack built (src/link/vnet.ts `tagGso`, partial checksum) crosses whole and
 *   reaches the peer as one segment, its header in the receiving port's `rxVnet`; a capture sees the
 *   segments a wire would carry. Impairments and a line rate act on wire frames, so they take no
 *   offloads. docs/TAP.md "Offloads" has the model.
 */
import type { Scheduler } from '../clock.js';
import { captureAsWire, MAX_GSO_FRAME } from './gso.js';
import { impair, type ImpairOptions } from './impair.js';
import {
  type CaptureHook,
  admitOutgoing,
  deliverIncoming,
  DeliveryQueue,
  type FrameHandler,
  keepable,
  type Link,
  type LinkCounters,
  newCounters,
} from './link.js';
import { emptyVnetHdr, gsoTagOf, type OffloadLink, type Offloads, type VnetHdr } from './vnet.js';

export interface MemoryLinkOptions {
  /** IP MTU (default 1500). */
  readonly mtu?: number;
  /** One-way propagation delay, ms (default 0: delivered on the next scheduler turn). */
  readonly delay?: number;
  /** Pairs only: line rate in bit/s (default unlimited). */
  readonly rate?: number;
  /** Pairs with a `rate` only: bytes that may wait for the wire before tail drop (default 64 KiB). */
  readonly queueBytes?: number;
  /** Labels of the two ends (default 'mem0', 'mem1'). */
  readonly names?: readonly [string, string];
  /**
   * Pairs only: seeded impairments applied once to each direction of the wire (the two ends draw
   * from different streams derived from `impair.seed`).
   */
  readonly impair?: ImpairOptions;
  /**
   * Pairs only: carry TCP super-frames whole and partial checksums, as a veth with TSO and checksum
   * offload does (default false: every frame fits the MTU and has its checksums). Not with `impair`
   * or `rate`, which act on wire frames.
   */
  readonly offloads?: boolean;
}

const DEFAULT_MTU = 1500;
const EMPTY_VNET = Object.freeze(emptyVnetHdr());
const DEFAULT_QUEUE_BYTES = 64 * 1024;
/** Frames in flight towards one port at most (bounds memory when a sender outruns the clock). */
const MAX_IN_FLIGHT = 1 << 17;

/** What a pair with `offloads` takes: TCP segmentation and checksum offload, no USO (as a veth has by default). */
const PAIR_OFFLOADS: Offloads = Object.freeze({
  csum: true,
  tso4: true,
  tso6: true,
  tsoEcn: true,
  uso4: false,
  uso6: false,
});

/** One end of a memory medium. */
export class MemoryPort implements Link, OffloadLink {
  readonly counters: LinkCounters = newCounters();
  capture?: CaptureHook | undefined;
  /** PAIR_OFFLOADS on a pair made with `offloads`, else undefined. */
  readonly offloads: Offloads | undefined;
  /** The vnet header of the frame being delivered (empty for a wire frame); read during the handler. */
  private rx: VnetHdr = EMPTY_VNET;
  private handler: FrameHandler | undefined;
  private closedFlag = false;
  /** Frames travelling towards this port. */
  private readonly inbound: DeliveryQueue;

  constructor(
    readonly name: string,
    readonly mtu: number,
    scheduler: Scheduler,
    private readonly medium: Medium,
    offloads = false,
  ) {
    this.offloads = offloads ? PAIR_OFFLOADS : undefined;
    this.inbound = new DeliveryQueue(scheduler, (frame) => this.receive(frame));
  }

  get rxVnet(): VnetHdr {
    return this.rx;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  send(frame: Uint8Array): void {
    const tag = this.offloads === undefined ? undefined : gsoTagOf(frame);
    if (tag === undefined) {
      if (admitOutgoing(this, frame, this.closedFlag)) this.medium.transmit(this, keepable(this, frame));
      return;
    }
    // A super-frame the stack built: its own buffer, never a lent one.
    if (this.closedFlag) this.counters.drops.closed++;
    else if (frame.length > MAX_GSO_FRAME) this.counters.drops.oversize++;
    else {
      if (this.capture !== undefined) captureAsWire(this.capture, frame, tag, 'out');
      this.medium.transmit(this, frame);
    }
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    if (!this.closedFlag) {
      this.closedFlag = true;
      this.inbound.clear();
      this.medium.detach(this);
    }
    return Promise.resolve();
  }

  /** Called by the medium: schedules `frame` to arrive here at `time`. */
  arriveAt(time: number, frame: Uint8Array): boolean {
    if (this.closedFlag) {
      this.counters.drops.closed++;
      return false;
    }
    if (this.inbound.size >= MAX_IN_FLIGHT) {
      this.counters.drops['queue-full']++;
      return false;
    }
    this.inbound.push(time, frame);
    return true;
  }

  private receive(frame: Uint8Array): void {
    if (this.offloads === undefined) return deliverIncoming(this, this.handler, frame);
    // The header travels with the super-frame's buffer (tagGso); a wire frame has an empty one.
    const tag = gsoTagOf(frame) ?? EMPTY_VNET;
    this.rx = tag;
    deliverIncoming(this, this.handler, frame, tag);
  }
}

interface Medium {
  transmit(from: MemoryPort, frame: Uint8Array): void;
  detach(port: MemoryPort): void;
}

/** A point-to-point wire between two ports, optionally rate-limited. */
class Wire implements Medium {
  /** Per sending end: when its transmitter is next free (rate-limited pairs only). */
  private readonly freeAt = new Map<MemoryPort, number>();
  ends: [MemoryPort, MemoryPort] | undefined;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly delay: number,
    private readonly rate: number | undefined,
    private readonly queueBytes: number,
  ) {}

  transmit(from: MemoryPort, frame: Uint8Array): void {
    const [a, b] = this.ends!;
    const to = from === a ? b : a;
    const now = this.scheduler.now();
    let time = now;
    if (this.rate !== undefined) {
      const free = Math.max(now, this.freeAt.get(from) ?? now);
      // Bytes still waiting for (or on) the wire, from the time the transmitter needs to drain them.
      const backlog = ((free - now) * this.rate) / 8000;
      if (backlog + frame.length > this.queueBytes) {
        from.counters.drops['queue-full']++;
        return;
      }
      time = free + (frame.length * 8000) / this.rate;
      this.freeAt.set(from, time);
    }
    if (to.arriveAt(time + this.delay, frame)) {
      from.counters.framesOut++;
      from.counters.bytesOut += frame.length;
    }
  }

  detach(_port: MemoryPort): void {}
}

/**
 * Two connected links on `scheduler`. With `opts.impair`, each end is wrapped by `impair()` on its
 * outgoing side, so every frame crosses exactly one impairment.
 */
export function memoryPair(scheduler: Scheduler, opts: MemoryLinkOptions = {}): [Link, Link] {
  const mtu = opts.mtu ?? DEFAULT_MTU;
  const delay = opts.delay ?? 0;
  checkMedium(mtu, delay);
  if (opts.rate !== undefined && !(opts.rate > 0 && opts.rate < Number.POSITIVE_INFINITY))
    throw new Error(`memoryPair: rate must be a positive number of bit/s, got ${opts.rate}`);
  const offloads = opts.offloads ?? false;
  if (offloads && (opts.impair !== undefined || opts.rate !== undefined))
    throw new Error('memoryPair: offloads cannot be combined with impair or rate, which act on wire frames');
  const wire = new Wire(scheduler, delay, opts.rate, opts.queueBytes ?? DEFAULT_QUEUE_BYTES);
  const [na, nb] = opts.names ?? ['mem0', 'mem1'];
  const a = new MemoryPort(na, mtu, scheduler, wire, offloads);
  const b = new MemoryPort(nb, mtu, scheduler, wire, offloads);
  wire.ends = [a, b];
  const im = opts.impair;
  if (im === undefined) return [a, b];
  const seed = im.seed ?? 0;
  return [
    impair(a, scheduler, { ...im, direction: 'out', seed }),
    impair(b, scheduler, { ...im, direction: 'out', seed: (seed + 1) >>> 0 }),
  ];
}

export interface MemoryHubOptions {
  /** IP MTU of every port (default 1500). */
  readonly mtu?: number;
  /** Propagation delay, ms (default 0). */
  readonly delay?: number;
}

/**
 * A broadcast segment (an Ethernet hub): a frame sent by one port arrives at every other open port,
 * whatever its destination MAC; filtering is the receiving stack's business, as on a shared medium.
 * Ports join with `port()` and leave with `close()`.
 */
export class MemoryHub implements Medium {
  readonly mtu: number;
  private readonly delay: number;
  private readonly ports: MemoryPort[] = [];
  private count = 0;

  constructor(
    private readonly scheduler: Scheduler,
    opts: MemoryHubOptions = {},
  ) {
    this.mtu = opts.mtu ?? DEFAULT_MTU;
    this.delay = opts.delay ?? 0;
    checkMedium(this.mtu, this.delay);
  }

  /** A new port on the segment. */
  port(name = `hub${this.count}`): MemoryPort {
    this.count++;
    const p = new MemoryPort(name, this.mtu, this.scheduler, this);
    this.ports.push(p);
    return p;
  }

  /** Open ports. */
  get size(): number {
    return this.ports.length;
  }

  transmit(from: MemoryPort, frame: Uint8Array): void {
    const time = this.scheduler.now() + this.delay;
    const ports = this.ports;
    let last = ports.length - 1;
    if (ports[last] === from) last--;
    // Each receiver may rewrite its frame in place (the Link contract): all but the last get a copy.
    for (let i = 0; i <= last; i++) {
      const p = ports[i]!;
      if (p !== from) p.arriveAt(time, i === last ? frame : new Uint8Array(frame));
    }
    from.counters.framesOut++;
    from.counters.bytesOut += frame.length;
  }

  detach(port: MemoryPort): void {
    const i = this.ports.indexOf(port);
    if (i >= 0) this.ports.splice(i, 1);
  }
}

function checkMedium(mtu: number, delay: number): void {
  if (!(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535))
    throw new Error(`memory link: mtu must be an integer in [68, 65535], got ${mtu}`);
  if (!(delay >= 0 && delay < Number.POSITIVE_INFINITY))
    throw new Error(`memory link: delay must be a finite duration >= 0 ms, got ${delay}`);
}
