/**
 * The `Link` every driver implements (memory pairs and hubs, impairment wrappers, Linux TAP), and
 * small helpers the drivers share.
 *
 * Frames are Ethernet frames without the FCS (what TAP devices and pcap captures carry).
 *
 * Buffer ownership (docs/ARCHITECTURE.md "Zero-copy and ownership"):
 * - `send(frame)` hands the buffer to the link: the caller never touches it again, so a driver may
 *   queue it without copying. The bytes written are the bytes as they are when the link writes them.
 * - An `onFrame` handler gets a view of a buffer the receiving link owns. During the call it may
 *   read the view, modify it in place (a router rewrites TTL, checksum and MACs) and lend it: pass
 *   it, or a subarray of it, to `send()` of any link, this one included, once or to several links.
 *   The receiving link does not reuse lent bytes until every link they were lent to has written or
 *   dropped them. A handler that lends must not modify the view after the first send() (the writes
 *   happen later, at the end of the driver's callback); different bytes for different links need a
 *   copy.
 * - A link that would keep a lent frame beyond what its lender can see (a memory delivery queue, an
 *   impairment's delay line, a TAP write blocked by EAGAIN while the lender needs its buffer back)
 *   copies it first and counts it under `lentCopied`; `lent` counts the lent frames a link was given.
 *   Lenders register the memory they lend (`addLendingArea`) so a sender recognises a lent frame by
 *   buffer identity and offset (`lentFrom`).
 * - Anything else that retains the view past the call (a socket queue, reassembly, a capture) copies
 *   it: after the call the receiving link may reuse the bytes.
 * - Each receiver owns what it gets: a hub gives every receiver but the last its own copy, and an
 *   impairment's duplicate is a buffer of its own, so one receiver rewriting in place is never seen
 *   by another.
 *
 * Offload metadata (docs/TAP.md "Offloads"): a link with vnet headers (a TAP) may hand its handler a
 * super-frame longer than the MTU or a frame whose transport checksum is partial (NEEDS_CSUM); the
 * header of the frame being handled is its `rxVnet`, valid during the call only. Such a frame is
 * not a wire frame: it may be lent on only with its metadata, through `sendOffloaded(frame, h)` of
 * a link that has it (`offloadSenderOf`), which either takes it whole (true) or refuses it (false,
 * nothing done); everywhere else the lender makes wire frames of it first (src/link/gso.ts
 * `segmentFrame`, `finishPartialChecksum`). Metadata is never carried by the frame's buffer for a
 * lent frame: a TAP's receive slot keeps VNET_HDR_LEN bytes in front of each frame, and a TAP
 * sending a frame lent from such a slot writes the header there (no copy); for any other frame it
 * keeps a copy of the header. The stack's own super-frames are tagged by buffer (vnet.ts `tagGso`).
 *
 * Errors on the data path are never thrown: a frame that cannot be carried is dropped and counted
 * under `counters.drops[reason]`.
 */
import type { Mac } from '../addr.js';
import { type Scheduler, type TimerId, TimeQueue } from '../clock.js';
import { ETHERTYPE_QINQ, ETHERTYPE_VLAN } from '../ethernet/wire.js';
import { captureAsWire } from './gso.js';
import type { VnetHdr } from './vnet.js';

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
  /** Frames given to send() that lay in another link's receive buffer (see "lend" above). */
  lent: number;
  /** Of those, frames this link copied because it had to keep them longer than the lender could wait. */
  lentCopied: number;
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
   * Present on links that deliver frames in bursts (all a poll wake-up drains): sets (replaces) a
   * function called after the last frame of each burst, so a handler can leave work that may wait
   * until then (re-arming a timer) out of its per-frame path. No timer can run within a burst.
   */
  onBurstEnd?(fn: () => void): void;
  /**
   * Stops the link: frames queued for writing are flushed where the driver can (TAP) or dropped and
   * counted; frames travelling towards this end are dropped. Resolves once the driver has released
   * its resources. Idempotent (returns the same promise).
   */
  close(): Promise<void>;
}

/** A link that takes frames with their offload metadata (see "Offload metadata" above). */
export interface OffloadSender {
  /**
   * Sends `frame` with metadata `h` (read at once): true when taken (written, queued, or a counted
   * drop), false when this link cannot carry that kind of offload now (nothing done).
   */
  sendOffloaded(frame: Uint8Array, h: VnetHdr): boolean;
}

/** `link` as an OffloadSender when it is one. */
export function offloadSenderOf(link: object): OffloadSender | undefined {
  return typeof (link as Partial<OffloadSender>).sendOffloaded === 'function'
    ? (link as OffloadSender)
    : undefined;
}

export const ETHERNET_HEADER_LEN = 14;
const TAG_LEN = 4;

export function newCounters(): LinkCounters {
  const drops = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) drops[r] = 0;
  return { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, lent: 0, lentCopied: 0, drops };
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

/**
 * The receive side every driver shares: count the frame, show it to the capture hook, hand it over.
 * With the frame's offload metadata `vnet` (a super-frame, a partial checksum), the capture sees the
 * frame as a wire would carry it (`captureAsWire`).
 */
export function deliverIncoming(
  link: Link,
  handler: FrameHandler | undefined,
  frame: Uint8Array,
  vnet?: VnetHdr,
): void {
  if (handler === undefined) {
    link.counters.drops['no-handler']++;
    return;
  }
  link.counters.framesIn++;
  link.counters.bytesIn += frame.length;
  const capture = link.capture;
  if (capture !== undefined) {
    if (vnet === undefined) capture(frame, 'in');
    else captureAsWire(capture, frame, vnet, 'in');
  }
  handler(frame);
}

/** Memory a link lends to senders: `buffer[start, end)` (a TAP's receive slots). */
export interface LendingArea {
  readonly buffer: ArrayBufferLike;
  readonly start: number;
  readonly end: number;
}

/** Registered lending areas: one per lending link, so a handful; scanned on every send(). */
const lendingAreas: LendingArea[] = [];

/** Registers memory whose views a link's handlers may lend (until `removeLendingArea`). */
export function addLendingArea(area: LendingArea): void {
  if (!lendingAreas.includes(area)) lendingAreas.push(area);
}

export function removeLendingArea(area: LendingArea): void {
  const i = lendingAreas.indexOf(area);
  if (i >= 0) lendingAreas.splice(i, 1);
}

/** The lending area `frame` starts in, or undefined for a frame its sender owns. */
export function lentFrom(frame: Uint8Array): LendingArea | undefined {
  const n = lendingAreas.length;
  if (n === 0) return undefined;
  const buf = frame.buffer;
  const at = frame.byteOffset;
  for (let i = 0; i < n; i++) {
    const a = lendingAreas[i]!;
    if (a.buffer === buf && at >= a.start && at < a.end) return a;
  }
  return undefined;
}

/**
 * For a link about to keep a sent frame where its lender cannot see it: a copy when `frame` is
 * lent (counted on `link`), else `frame` itself.
 */
export function keepable(link: Link, frame: Uint8Array): Uint8Array {
  if (lentFrom(frame) === undefined) return frame;
  link.counters.lent++;
  link.counters.lentCopied++;
  // A copy: the lender reuses its buffer once the handler that lent it has returned.
  return new Uint8Array(frame);
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
