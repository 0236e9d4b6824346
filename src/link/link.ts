/**
 * The `Link` every driver implements (memory pairs and hubs, impairment wrappers, Linux TAP), and
 * small helpers the drivers share.
 *
 * Frames are Ethernet frames without the FCS (what TAP devices and pcap captures carry).
 *
 * Buffer ownership (ARCHITECTURE.md "Zero-copy and ownership"):
 * - `send(frame)` hands the buffer to the link: the caller never touches it again, so a driver may
 *   queue it without copying.
 * - `onFrame` handlers receive a view that is valid only during the call and must not be modified:
 *   the driver reuses the buffer after the handler returns, and a hub hands one buffer to several
 *   receivers. Whatever is retained past the call is copied by the receiver.
 *
 * Errors on the data path are never thrown: a frame that cannot be carried is dropped and counted
 * under `counters.drops[reason]`.
 */
import type { Mac } from '../addr.js';
import { type Scheduler, type TimerId, TimeQueue } from '../clock.js';
import { ETHERTYPE_QINQ, ETHERTYPE_VLAN } from '../ethernet/wire.js';

export type Direction = 'in' | 'out';
export type FrameHandler = (frame: Uint8Array) => void;
/** Sees every frame sent ('out', when handed to the link) and received ('in', before the handler). */
export type CaptureHook = (frame: Uint8Array, direction: Direction) => void;

export const DROP_REASONS = [
  /** Longer than mtu + 14 (+ 4 per VLAN tag). */
  'oversize',
  /** Shorter than an Ethernet header. */
  'runt',
  /** A bounded queue was full (tail drop). */
  'queue-full',
  /** Sent or received after close(). */
  'closed',
  /** Received before any handler was set. */
  'no-handler',
  /** The operating system refused the frame (errno other than EAGAIN). */
  'io-error',
  /** Dropped on purpose by a seeded impairment. */
  'impair-loss',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Mutable counters a driver updates in place; read them, do not write them. */
export interface LinkCounters {
  /** Frames handed to the handler. */
  framesIn: number;
  /** Frames put on the medium (written, or scheduled for delivery). */
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  readonly drops: Record<DropReason, number>;
}

export interface Link {
  /** A name for logs (the TAP's interface name, or a memory port's label). */
  readonly name: string;
  /** The IP MTU: frames may be up to mtu + 14 bytes, plus 4 per VLAN tag. */
  readonly mtu: number;
  /** A MAC the medium assigned, if any (a TAP has none: the stack picks its own). */
  readonly mac?: Mac;
  readonly counters: LinkCounters;
  /** Optional tap for a pcap writer; called synchronously, the frame is valid only during the call. */
  capture?: CaptureHook | undefined;
  /** Transmits `frame`, taking ownership of the buffer. Never throws; failures are counted drops. */
  send(frame: Uint8Array): void;
  /** Sets (replaces) the receive handler. */
  onFrame(handler: FrameHandler): void;
  /**
   * Stops the link: frames queued for writing are flushed where the driver can (TAP) or dropped and
   * counted; frames travelling towards this end are dropped. Resolves once the driver has released
   * its resources. Idempotent (returns the same promise).
   */
  close(): Promise<void>;
}

export const ETHERNET_HEADER_LEN = 14;
const TAG_LEN = 4;

export function newCounters(): LinkCounters {
  const drops = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) drops[r] = 0;
  return { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, drops };
}

/** Largest frame carrying `mtu` bytes of payload with `tags` VLAN tags. */
export function maxFrameLen(mtu: number, tags = 0): number {
  return mtu + ETHERNET_HEADER_LEN + TAG_LEN * tags;
}

/**
 * Whether `frame` is a legal size for a link of `mtu`: at least a header, at most the MTU plus the
 * header and its VLAN tags (IEEE 802.1Q §9.6; up to two, as 802.1ad QinQ gives).
 * Returns the drop reason, or undefined when it fits.
 */
export function checkFrameSize(frame: Uint8Array, mtu: number): DropReason | undefined {
  const n = frame.length;
  if (n < ETHERNET_HEADER_LEN) return 'runt';
  if (n <= mtu + ETHERNET_HEADER_LEN) return undefined;
  let tags = 0;
  let off = 12;
  while (tags < 2 && off + TAG_LEN + 2 <= n) {
    const type = (frame[off]! << 8) | frame[off + 1]!;
    if (type !== ETHERTYPE_VLAN && type !== ETHERTYPE_QINQ) break;
    tags++;
    off += TAG_LEN;
  }
  return n <= maxFrameLen(mtu, tags) ? undefined : 'oversize';
}

/**
 * The send side every driver shares: a frame sent after close or of an illegal size is a counted
 * drop; an accepted one is shown to the capture hook. Returns whether the driver should carry it.
 */
export function admitOutgoing(link: Link, frame: Uint8Array, closed: boolean): boolean {
  if (closed) {
    link.counters.drops.closed++;
    return false;
  }
  const bad = checkFrameSize(frame, link.mtu);
  if (bad !== undefined) {
    link.counters.drops[bad]++;
    return false;
  }
  link.capture?.(frame, 'out');
  return true;
}

/** The receive side every driver shares: count the frame, show it to the capture hook, hand it over. */
export function deliverIncoming(link: Link, handler: FrameHandler | undefined, frame: Uint8Array): void {
  if (handler === undefined) {
    link.counters.drops['no-handler']++;
    return;
  }
  link.counters.framesIn++;
  link.counters.bytesIn += frame.length;
  link.capture?.(frame, 'in');
  handler(frame);
}

/**
 * Frames waiting for their delivery time on a scheduler, delivered in (time, insertion) order with a
 * single timer armed for the earliest (no timer or closure per frame).
 */
export class DeliveryQueue {
  private readonly queue = new TimeQueue<Uint8Array>();
  private timer: TimerId | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private firing = false;
  private readonly onTimer = (): void => this.fire();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly deliver: (frame: Uint8Array) => void,
  ) {}

  get size(): number {
    return this.queue.size;
  }

  push(time: number, frame: Uint8Array): void {
    this.queue.push(time, frame);
    // While firing, the loop in fire() delivers or re-arms for whatever is pushed.
    if (!this.firing && time < this.armedFor) this.arm(time);
  }

  /** Drops everything queued and disarms. */
  clear(): void {
    this.queue.clear();
    if (this.timer !== undefined) this.scheduler.cancel(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private arm(time: number): void {
    if (this.timer !== undefined) this.scheduler.cancel(this.timer);
    this.armedFor = time;
    this.timer = this.scheduler.at(time, this.onTimer);
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.scheduler.now();
    this.firing = true;
    try {
      for (;;) {
        const top = this.queue.peek();
        if (top === undefined || top.time > now) break;
        this.queue.pop();
        // A frame pushed during this delivery for `now` is delivered later in this same loop, after
        // the ones already due: still in order, and still never inside send().
        this.deliver(top.value);
      }
    } finally {
      this.firing = false;
      const next = this.queue.peek();
      if (next !== undefined) this.arm(next.time);
    }
  }
}
