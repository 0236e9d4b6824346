/**
 * Linux TAP devices through koffi (see docs/TAP.md).
 *
 * Opening: `open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)` then `ioctl(TUNSETIFF)` with
 * `IFF_TAP | IFF_NO_PI` (include/uapi/linux/if_tun.h): the named TAP is created, or attached if it
 * exists and is free; a name with `%d` lets the kernel pick the number. Addresses, MTU and up/down
 * of the kernel side are iproute2's business, not ours. The kernel side has its own MAC; the stack
 * picks its own, so `mac` is undefined.
 *
 * Waiting: the fd sits in Node's own event loop. libuv's `uv_poll_*` functions (exported by the node
 * binary for addons) are called through koffi, so readiness arrives on the main thread with no
 * thread-pool hop: an earlier design ran `poll()` on a pool thread and paid a cross-thread wakeup per
 * batch (ping p50 at one request per 10 ms: ~250 µs then, ~150 µs now). libuv polls
 * level-triggered, so a drain cut short for fairness is simply called again.
 *
 * Reading: each readable TAP is drained with synchronous non-blocking `read()`s until EAGAIN (or
 * `readBurst` frames). Each TAP `read()` returns exactly one frame. Frames are read into a small ring
 * of receive slots (`receiveSlots`, each mtu + 14 + 8 bytes and one more, so a longer frame comes
 * back truncated to the slot and is counted as oversize), carved from the process-wide WebAssembly
 * memory so that checksums run in place (plain memory once it is full). The handler gets a view of
 * the slot, from a small per-slot cache indexed by length: no allocation, Promise or closure per
 * frame in the steady state.
 *
 * Lending (the Link contract in link.ts): a handler may rewrite its frame in place and pass it to
 * any link's send(). A TapLink recognises a view of a receive slot by buffer and offset, queues it
 * without a copy and marks the slot held until it has written or dropped it. The drain keeps
 * reading into the same slot while nothing holds it (the host case) and moves to the next free slot
 * when it is held (the router case). When every slot is held, it first writes what every TAP has
 * queued, and if a TAP's writes are blocked (EAGAIN) and still hold slots, that TAP copies those
 * frames out in place in its queue (counted under `lentCopied`): the drain never waits and frames
 * are never reordered.
 *
 * Writing: frames sent during an event-loop task are queued and written in one batch with
 * synchronous `write()`s, at the end of the libuv callback that produced them (or from a microtask).
 * On EAGAIN they stay queued (a bounded queue; overflow is a counted drop) and the poll also waits
 * for writability.
 *
 * The device going away: when the kernel detaches the fd (its interface was deleted, with `ip link
 * del` or with its network namespace) the poll reports an error: the link drops what it had queued,
 * closes the fd, turns `state` to 'gone' and calls the `onGone` handler; sends are then io-error
 * drops. `reopen()` opens /dev/net/tun again and creates or attaches the same name on a fresh fd,
 * keeping this object, its handler, counters and MTU; the new device is in this process's network
 * namespace, down and without addresses, for the owner to configure again. An interface merely set
 * down keeps its fd: reads find nothing, writes fail with EIO (counted io-error drops), and frames
 * flow again once it is up.
 *
 * Offloads (`vnetHdr`, docs/TAP.md "Offloads"): the TAP is opened with IFF_VNET_HDR, a 10-byte
 * virtio-net header (src/link/vnet.ts) precedes every frame both ways, and TUNSETOFFLOAD asks for
 * checksum offload, TSO4/6 (with ECN) and USO4/6 (without USO where the kernel refuses it). Slots then
 * hold a 64 KiB super-frame; the header of the frame being handled is in `rxVnet` (the IP layers
 * read it: one TCP segment per super-frame, no verification of a checksum the kernel vouches for);
 * only frames with GSO metadata may exceed the MTU; a USO super-frame is cut here into its
 * datagrams. A super-frame the stack tagged (`gsoTagOf`) is written whole with its header from its
 * own headroom; other frames are copied behind a zero header. A received super-frame (or partial
 * checksum) lent on by a router goes through `sendOffloaded(frame, h)`: the header is written into
 * the VNET_HDR_LEN bytes its receive slot keeps in front of it, and the frame is written from the
 * slot with no copy (link.ts "Offload metadata"). Captures see frames as a wire would carry them
 * (src/link/gso.ts cuts super-frames and finishes partial checksums).
 *
 * Lifetime: an attached TAP's poll handle keeps the process alive (a stack that is up should); a
 * gone one holds nothing. close() stops and closes the handle, then closes the fd; once every TAP is
 * closed the process can exit. An exception thrown by a handler is rethrown from a
 * `process.nextTick`, so it surfaces as an uncaught exception as from any Node callback (thrown
 * straight into libuv it would be lost).
 */
import koffi from 'koffi';
import { sharedSimdChecksum } from '../checksum/index.js';
import {
  addLendingArea,
  admitOutgoing,
  type CaptureHook,
  checkFrameSize,
  deliverIncoming,
  type FrameHandler,
  keepable,
  type LendingArea,
  type Link,
  type LinkCounters,
  type OffloadSender,
  lentFrom,
  maxFrameLen,
  newCounters,
  removeLendingArea,
} from './link.js';
import { captureAsWire, MAX_GSO_FRAME, segmentFrame } from './gso.js';
import {
  type Attachment,
  attachPoll,
  flushAll,
  freePollHandle,
  libcLibrary,
  loadUv,
  markUnflushed,
  newPollHandle,
  startPoll,
  stopPoll,
  systemError,
  UV_READABLE,
  UV_WRITABLE,
} from './uv-poll.js';
import { TX_THREAD_BURST, WriteThread } from './transmit-thread.js';
import {
  emptyVnetHdr,
  gsoTagOf,
  recycleGsoBuffer,
  type MutableVnetHdr,
  type OffloadLink,
  type Offloads,
  readVnetHdr,
  TUN_F_CSUM,
  TUN_F_TSO_ECN,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_USO4,
  TUN_F_USO6,
  emitVnetHdr,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP_L4,
  VNET_HDR_LEN,
  type VnetHdr,
} from './vnet.js';

export interface TapOptions {
  /** IP MTU of the link (default 1500); should match the kernel side's `ip link set mtu`. */
  readonly mtu?: number;
  /**
   * Open with `IFF_VNET_HDR` and ask for offloads (`TUNSETOFFLOAD`: checksum, TSO4/6 with ECN, USO4/6
   * where the kernel has them): frames then carry a virtio-net header both ways, the kernel may hand
   * up super-frames of up to 64 KiB, and the stack may send them (see `offloads`). Default false.
   */
  readonly vnetHdr?: boolean;
  /** Frames that may wait for the fd to become writable before tail drop (default 1024). */
  readonly txQueueLen?: number;
  /** Frames read per TAP per wakeup before polling again, for fairness (default 256). */
  readonly readBurst?: number;
  /**
   * Receive slots (default 16, at most 1024): how many received frames handlers may have lent to
   * sends at once before the drain writes every TAP's queue early (see the module comment).
   */
  readonly receiveSlots?: number;
  /**
   * The fd's kernel send buffer in bytes (`TUNSETSNDBUF`; default the kernel's, unlimited). Frames
   * longer than about a page are charged to it until the kernel frees them; when it is full, writes
   * wait for writability (EAGAIN).
   */
  readonly sendBuffer?: number;
  /**
   * Without vnet headers: write bursts from a thread of their own (default false), so the kernel's
   * receive path for them (the namespace's TCP behind the TAP) runs beside the event loop; a frame
   * or two with the thread idle are written at once. Each frame is then copied once, into the
   * thread's ring (counted in `txThreadBytes`): a forwarded frame is no longer written from its
   * receive slot. See transmit-thread.ts and docs/TAP.md "The transmit thread".
   */
  readonly txThread?: boolean;
}

/**
 * 'up': attached to its device (whatever the kernel side's administrative state); 'gone': the
 * device went away, see `reopen()`; 'closed': after close().
 */
export type TapState = 'up' | 'gone' | 'closed';

// include/uapi/asm-generic/fcntl.h; include/uapi/linux/if_tun.h, if.h; libuv's uv.h.
const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const TUNSETIFF = 0x400454ca;
const TUNSETSNDBUF = 0x400454d4;
const TUNSETOFFLOAD = 0x400454d0;
const TUNSETVNETHDRSZ = 0x400454d8;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const EINVAL = 22;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
const IFR_FLAGS = 16;

const DEFAULT_RECEIVE_SLOTS = 16;
const MAX_RECEIVE_SLOTS = 1024;
/** Slot sizes are rounded up to this (cache lines; keeps every slot at an even address for sum16). */
const SLOT_ALIGN = 64;
/** Views cached per slot, indexed by the frame length modulo this (a power of two). */
const VIEW_WAYS = 64;

/**
 * Free byte ranges [start, end) of the shared WebAssembly ring, in order and never adjacent; made on
 * first use. One range per TAP at most, so a handful.
 */
let ringFree: [number, number][] | undefined;

/**
 * `bytes` bytes for receive slots: from the process-wide WebAssembly memory registered with `sum16`
 * (`sharedSimdChecksum`), so the checksums of received frames run in place with SIMD (about 4x the
 * TypeScript loop at 1500 bytes, docs/CHECKSUM.md); plain memory once that is full (or missing).
 */
function allocSlotMemory(bytes: number): Uint8Array {
  const ring = sharedSimdChecksum();
  if (ring !== undefined) {
    ringFree ??= [[0, ring.bytes.length]];
    for (let i = 0; i < ringFree.length; i++) {
      const r = ringFree[i]!;
      if (r[1] - r[0] < bytes) continue;
      const start = r[0];
      r[0] += bytes;
      if (r[0] === r[1]) ringFree.splice(i, 1);
      return ring.bytes.subarray(start, start + bytes);
    }
  }
  return new Uint8Array(bytes);
}

function freeSlotMemory(b: Uint8Array): void {
  const ring = sharedSimdChecksum();
  if (ring === undefined || ringFree === undefined || b.buffer !== ring.buffer) return;
  const start = b.byteOffset;
  let i = 0;
  while (i < ringFree.length && ringFree[i]![0] < start) i++;
  ringFree.splice(i, 0, [start, start + b.length]);
  const next = ringFree[i + 1];
  if (next !== undefined && ringFree[i]![1] === next[0]) {
    ringFree[i]![1] = next[1];
    ringFree.splice(i + 1, 1);
  }
  const prev = ringFree[i - 1];
  if (prev !== undefined && prev[1] === ringFree[i]![0]) {
    prev[1] = ringFree[i]![1];
    ringFree.splice(i, 1);
  }
}

/** A TAP's receive slots: the memory it lends, and how many queued writes hold each slot. */
class ReceiveSlots implements LendingArea {
  readonly buffer: ArrayBufferLike;
  readonly start: number;
  readonly end: number;
  /** Queued writes (on any TAP) of a frame in each slot; the drain reads only into a slot at 0. */
  readonly holds: Int32Array;
  /** Each slot whole. */
  readonly slot: Uint8Array[] = [];

  constructor(
    readonly memory: Uint8Array,
    count: number,
    readonly size: number,
    headroom: number,
  ) {
    this.headroom = headroom;
    this.buffer = memory.buffer;
    this.start = memory.byteOffset;
    this.end = this.start + memory.length;
    this.holds = new Int32Array(count);
    for (let i = 0; i < count; i++) this.slot.push(memory.subarray(i * size, (i + 1) * size));
  }

  /** Bytes of each slot before the frame read into it: the vnet header (0 without offloads). */
  readonly headroom: number;

  /** Bytes of the slot of `frame` before it. */
  roomBefore(frame: Uint8Array): number {
    return frame.byteOffset - this.start - this.slotOf(frame) * this.size;
  }

  /** The slot a view of this memory starts in. */
  slotOf(frame: Uint8Array): number {
    return ((frame.byteOffset - this.start) / this.size) | 0;
  }
}

interface Libc {
  open: (path: string, flags: number) => number;
  ioctl: (fd: number, req: number, type: string, arg: Uint8Array | number) => number;
  read: (fd: number, buf: Uint8Array, n: number) => number;
  write: (fd: number, buf: Uint8Array, n: number) => number;
  close: ((fd: number) => number) & { async: (fd: number, cb: (err: unknown, r: number) => void) => void };
  errno: () => number;
  EAGAIN: number;
}

let libc: Libc | undefined;
/** Links not closed: the queues a lender's frames may wait in. */
const openLinks = new Set<TapLink>();

function loadLibc(): Libc {
  if (libc !== undefined) return libc;
  if (process.platform !== 'linux') throw new Error('TapLink: Linux only');
  const lib = libcLibrary();
  const errnos = koffi.os.errno;
  libc = {
    open: lib.func('int open(const char *path, int flags, ...)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long req, ...)'),
    read: lib.func('long read(int fd, void *buf, unsigned long n)'),
    write: lib.func('long write(int fd, const void *buf, unsigned long n)'),
    close: lib.func('int close(int fd)'),
    errno: () => koffi.errno(),
    EAGAIN: errnos.EAGAIN ?? 11,
  };
  return libc;
}

/**
 * Opens /dev/net/tun and creates or attaches the TAP `name` on it, with a poll handle for the fd.
 * Throws an Error with `code` when the kernel refuses; leaves nothing open then.
 */
function attachDevice(
  name: string,
  sendBuffer: number | undefined,
  vnet: boolean,
): { fd: number; handle: unknown; name: string; offloads: Offloads | undefined } {
  const c = loadLibc();
  loadUv();
  const fd = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw systemError('TapLink.open: open /dev/net/tun', c.errno());
  const ifr = new Uint8Array(IFREQ_SIZE);
  ifr.set(new TextEncoder().encode(name));
  const flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  ifr[IFR_FLAGS] = flags & 0xff; // native (little-endian) short on x86-64 and arm64
  ifr[IFR_FLAGS + 1] = flags >>> 8;
  if (c.ioctl(fd, TUNSETIFF, 'void *', ifr) < 0) {
    const e = c.errno();
    c.close(fd);
    throw systemError(`TapLink.open(${name}): TUNSETIFF`, e);
  }
  if (sendBuffer !== undefined) {
    const arg = new Uint8Array(4);
    new DataView(arg.buffer).setInt32(0, sendBuffer, true); // native int
    if (c.ioctl(fd, TUNSETSNDBUF, 'void *', arg) < 0) {
      const e = c.errno();
      c.close(fd);
      throw systemError(`TapLink.open(${name}): TUNSETSNDBUF`, e);
    }
  }
  let offloads: Offloads | undefined;
  if (vnet) {
    try {
      offloads = enableOffloads(c, fd, name);
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }
  const end = ifr.indexOf(0);
  const actual = new TextDecoder().decode(ifr.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end));
  let handle: unknown;
  try {
    handle = newPollHandle(fd, `TapLink.open(${name})`);
  } catch (e) {
    c.close(fd);
    throw e;
  }
  return { fd, handle, name: actual, offloads };
}

/**
 * Sets the vnet header size and asks for offloads, USO first and without it when the kernel
 * refuses (EINVAL before Linux 6.2). 10 bytes rather than 12: the mergeable-buffers count of the
 * 12-byte header means nothing on a TAP, 10 is the kernel's default, and it puts the IP header of a
 * frame read at a 64-byte-aligned slot at offset 24, 8-aligned, for the checksum's word loop.
 */
function enableOffloads(c: Libc, fd: number, name: string): Offloads {
  const size = new Uint8Array(4);
  new DataView(size.buffer).setInt32(0, VNET_HDR_LEN, true); // native int
  if (c.ioctl(fd, TUNSETVNETHDRSZ, 'void *', size) < 0)
    throw systemError(`TapLink.open(${name}): TUNSETVNETHDRSZ`, c.errno());
  const tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  // TUNSETOFFLOAD takes its argument by value, not through a pointer (drivers/net/tun.c set_offload).
  for (const bits of [tso | TUN_F_USO4 | TUN_F_USO6, tso, TUN_F_CSUM]) {
    if (c.ioctl(fd, TUNSETOFFLOAD, 'unsigned long', bits) >= 0) {
      return {
        csum: true,
        tso4: (bits & TUN_F_TSO4) !== 0,
        tso6: (bits & TUN_F_TSO6) !== 0,
        tsoEcn: (bits & TUN_F_TSO_ECN) !== 0,
        uso4: (bits & TUN_F_USO4) !== 0,
        uso6: (bits & TUN_F_USO6) !== 0,
      };
    }
    if (c.errno() !== EINVAL) break;
  }
  throw systemError(`TapLink.open(${name}): TUNSETOFFLOAD`, c.errno());
}

/**
 * Marks a queued frame whose vnet header was written into the bytes in front of it (a frame lent
 * from an offload TAP's receive slot, `sendOffloaded`): the write starts VNET_HDR_LEN bytes earlier.
 */
const VNET_IN_FRONT: VnetHdr = Object.freeze(emptyVnetHdr());

/** What the vnet header path did (all 0 without offloads). */
export interface OffloadCounters {
  /** Super-frames received whole (TCP GSO) and their bytes (Ethernet frames, no vnet header). */
  gsoIn: number;
  gsoInBytes: number;
  /** Super-frames written to the kernel and their bytes. */
  gsoOut: number;
  gsoOutBytes: number;
  /** Frames received with NEEDS_CSUM and with DATA_VALID (checksums the stack does not verify). */
  csumPartialIn: number;
  csumValidIn: number;
  /** Frames cut in software: received USO super-frames, and super-frames for a link without offloads. */
  softSegmented: number;
  /** Frames dropped for a vnet header Oasis cannot act on. */
  badVnet: number;
}

export class TapLink implements Link, OffloadLink, OffloadSender {
  /** The interface name the kernel gave (a `%d` in the requested name is filled in). */
  readonly name: string;
  readonly mtu: number;
  readonly counters: LinkCounters = newCounters();
  readonly offloadCounters: OffloadCounters = {
    gsoIn: 0,
    gsoInBytes: 0,
    gsoOut: 0,
    gsoOutBytes: 0,
    csumPartialIn: 0,
    csumValidIn: 0,
    softSegmented: 0,
    badVnet: 0,
  };
  /** Flushes handed to the transmit thread, and the bytes copied into its ring (`TapOptions.txThread`). */
  txThreadFlushes = 0;
  txThreadBytes = 0;
  /** The vnet header of the frame being handled (all zero without offloads); valid during the handler. */
  readonly rxVnet: MutableVnetHdr = emptyVnetHdr();
  capture?: CaptureHook | undefined;
  private offloadsNow: Offloads | undefined;
  /** Bytes of vnet header before every frame read or written: VNET_HDR_LEN with offloads, else 0. */
  private readonly vnetLen: number;
  /** Frames without a header of their own are copied here behind a zero vnet header to be written. */
  private readonly stage: Uint8Array | undefined;

  private stateNow: TapState = 'up';
  private closing = false;
  private handler: FrameHandler | undefined;
  private burstEnd: (() => void) | undefined;
  private goneHandler: (() => void) | undefined;
  private lastErrorNow: Error | undefined;
  /** The fd and poll handle; undefined once the device is gone or the link closed. */
  private att: Attachment | undefined;
  /** Attachments whose handle or fd is still being closed. */
  private retiring = 0;
  private readonly sendBuffer: number | undefined;
  private readonly slots: ReceiveSlots;
  /** The slot the next frame is read into (while nothing holds it). */
  private slot = 0;
  /** views[slot * VIEW_WAYS + len % VIEW_WAYS]: a view of that slot, valid when its length is len. */
  private readonly views: (Uint8Array | undefined)[];
  private readonly maxFrame: number;
  private readonly readBurst: number;
  /** Transmit ring; for a lent frame, the slots it lies in and its slot. */
  private readonly tx: (Uint8Array | undefined)[];
  private readonly txFrom: (ReceiveSlots | undefined)[];
  private readonly txSlot: Int32Array;
  /** The vnet header of a queued super-frame (written in its own headroom). */
  private readonly txVnet: (VnetHdr | undefined)[];
  private txHead = 0;
  private txCount = 0;
  private flushQueued = false;
  /** Writes bursts beside the event loop (`TapOptions.txThread`); made at the first burst. */
  private readonly useTxThread: boolean;
  /** By the fd each writes to (a reopened link has a new fd while the old one is being closed). */
  private readonly writers = new Map<number, WriteThread>();
  /** A write hit EAGAIN: the poll waits for writability too. */
  private blocked = false;
  private closed: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;

  private constructor(name: string, opts: TapOptions, offloads: Offloads | undefined) {
    this.name = name;
    this.mtu = opts.mtu ?? 1500;
    this.offloadsNow = offloads;
    this.vnetLen = offloads === undefined ? 0 : VNET_HDR_LEN;
    this.maxFrame =
      offloads === undefined ? maxFrameLen(this.mtu, 2) : Math.max(MAX_GSO_FRAME, maxFrameLen(this.mtu, 2));
    this.stage = offloads === undefined ? undefined : new Uint8Array(VNET_HDR_LEN + this.maxFrame);
    this.readBurst = opts.readBurst ?? 256;
    this.useTxThread = offloads === undefined && opts.txThread === true;
    this.sendBuffer = opts.sendBuffer;
    const txLen = opts.txQueueLen ?? 1024;
    this.tx = new Array(txLen);
    this.txFrom = new Array(txLen);
    this.txSlot = new Int32Array(txLen);
    this.txVnet = new Array(txLen);
    const count = opts.receiveSlots ?? DEFAULT_RECEIVE_SLOTS;
    // One byte more than the largest legal frame (and its vnet header): a longer one is read
    // truncated to the slot.
    const size = Math.ceil((this.vnetLen + this.maxFrame + 1) / SLOT_ALIGN) * SLOT_ALIGN;
    this.slots = new ReceiveSlots(allocSlotMemory(count * size), count, size, this.vnetLen);
    this.views = new Array(count * VIEW_WAYS);
  }

  /**
   * Creates or attaches the TAP `name` (at most 15 bytes; `%d` picks a free number). Needs
   * CAP_NET_ADMIN, or a persistent TAP owned by this user (`ip tuntap add ... user UID`).
   * Throws an Error with `code` (e.g. 'EPERM', 'EBUSY') when the kernel refuses.
   */
  static open(name: string, opts: TapOptions = {}): TapLink {
    const mtu = opts.mtu ?? 1500;
    if (!(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535))
      throw new Error(`TapLink.open: mtu must be an integer in [68, 65535], got ${mtu}`);
    for (const [key, max] of [
      ['txQueueLen', Number.MAX_SAFE_INTEGER],
      ['readBurst', Number.MAX_SAFE_INTEGER],
      ['receiveSlots', MAX_RECEIVE_SLOTS],
      ['sendBuffer', 0x7fffffff],
    ] as const) {
      const v = opts[key];
      if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= max))
        throw new Error(`TapLink.open: ${key} must be an integer in [1, ${max}], got ${v}`);
    }
    const nameBytes = new TextEncoder().encode(name);
    if (nameBytes.length === 0 || nameBytes.length >= IFNAMSIZ || /[\s/]/.test(name) || name.includes('\0'))
      throw new Error(`TapLink.open: invalid interface name ${JSON.stringify(name)}`);
    const dev = attachDevice(name, opts.sendBuffer, opts.vnetHdr === true);
    const link = new TapLink(dev.name, opts, dev.offloads);
    openLinks.add(link);
    addLendingArea(link.slots);
    link.attach(dev.fd, dev.handle);
    return link;
  }

  /**
   * What the kernel accepted in TUNSETOFFLOAD (the stack sends super-frames only where this says
   * so); undefined when the link was opened without `vnetHdr`.
   */
  get offloads(): Offloads | undefined {
    return this.offloadsNow;
  }

  /** Frames waiting to be written. */
  get txQueued(): number {
    return this.txCount;
  }

  /** Whether the link is attached to its device, lost it, or is closed. */
  get state(): TapState {
    return this.stateNow;
  }

  /** Why the last reopen() failed (an Error with `code`), if it did. */
  get lastError(): Error | undefined {
    return this.lastErrorNow;
  }

  send(frame: Uint8Array): void {
    const tag = gsoTagOf(frame);
    if (tag !== undefined) return this.sendSuper(frame, tag);
    if (!admitOutgoing(this, frame, this.closing)) return;
    this.enqueue(frame, undefined);
  }

  /**
   * A super-frame the stack built (tagged with its vnet header): written whole when the kernel took
   * its kind of offload, else cut here (docs/TAP.md). A capture sees the segments a wire would carry.
   */
  private sendSuper(frame: Uint8Array, tag: VnetHdr): void {
    if (!this.accepts(tag)) {
      this.offloadCounters.softSegmented++;
      const r = segmentFrame(frame, tag, (seg) => this.send(seg));
      if (!r.ok) this.counters.drops.oversize++;
      return;
    }
    if (this.closing) {
      this.counters.drops.closed++;
      return;
    }
    if (frame.length > MAX_GSO_FRAME || frame.length < 14) {
      this.counters.drops.oversize++;
      return;
    }
    if (this.capture !== undefined) captureAsWire(this.capture, frame, tag, 'out');
    this.offloadCounters.gsoOut++;
    this.offloadCounters.gsoOutBytes += frame.length;
    this.enqueue(frame, tag);
  }

  /**
   * A frame with its offload metadata `h` (a super-frame, or a partial checksum), typically one a
   * router received on an offload TAP and lends on (link.ts "Offload metadata"): written whole with
   * its vnet header when the kernel took that kind of offload, and then true; false when it did not
   * (nothing done: the caller segments or finishes it in software). `h` is read at once (it may be
   * the ingress link's `rxVnet`). A frame lent from a TAP's receive slot gets its header written in
   * the slot's headroom in front of it, so nothing is copied; any other frame keeps a copy of `h`.
   */
  sendOffloaded(frame: Uint8Array, h: VnetHdr): boolean {
    if (!this.accepts(h)) return false;
    if (this.closing) {
      this.counters.drops.closed++;
      return true;
    }
    const gso = (h.gsoType & ~VNET_GSO_ECN) !== VNET_GSO_NONE;
    if (
      gso ? frame.length > MAX_GSO_FRAME || frame.length < 14 : checkFrameSize(frame, this.mtu) !== undefined
    ) {
      this.counters.drops[frame.length < 14 ? 'runt' : 'oversize']++;
      return true;
    }
    if (this.capture !== undefined) captureAsWire(this.capture, frame, h, 'out');
    if (gso) {
      this.offloadCounters.gsoOut++;
      this.offloadCounters.gsoOutBytes += frame.length;
    }
    const from = lentFrom(frame);
    if (
      from instanceof ReceiveSlots &&
      from.headroom >= VNET_HDR_LEN &&
      from.roomBefore(frame) >= VNET_HDR_LEN
    ) {
      // The lender's slot keeps VNET_HDR_LEN bytes before the frame for exactly this header.
      emitVnetHdr(h, new Uint8Array(frame.buffer, frame.byteOffset - VNET_HDR_LEN, VNET_HDR_LEN));
      this.enqueue(frame, VNET_IN_FRONT);
    } else {
      this.enqueue(frame, { ...h });
    }
    return true;
  }

  /** Whether the kernel takes super-frames of this kind whole. */
  private accepts(tag: VnetHdr): boolean {
    const o = this.offloadsNow;
    if (o === undefined) return false;
    const ecn = (tag.gsoType & VNET_GSO_ECN) !== 0;
    switch (tag.gsoType & ~VNET_GSO_ECN) {
      case VNET_GSO_NONE:
        return o.csum;
      case VNET_GSO_TCPV4:
        return o.tso4 && (!ecn || o.tsoEcn);
      case VNET_GSO_TCPV6:
        return o.tso6 && (!ecn || o.tsoEcn);
      case VNET_GSO_UDP_L4:
        return o.uso4 && o.uso6;
      default:
        return false;
    }
  }

  private enqueue(frame: Uint8Array, tag: VnetHdr | undefined): void {
    if (this.att === undefined) {
      this.counters.drops['io-error']++;
      return;
    }
    const cap = this.tx.length;
    if (this.txCount >= cap) {
      this.counters.drops['queue-full']++;
      return;
    }
    const i = (this.txHead + this.txCount) % cap;
    const from = lentFrom(frame);
    // A plain frame lent from an offload TAP's slot: a zero header written in front of it (the slot
    // keeps room for one) saves copying it behind one in the staging buffer.
    if (
      tag === undefined &&
      this.vnetLen > 0 &&
      from instanceof ReceiveSlots &&
      from.headroom >= VNET_HDR_LEN &&
      from.roomBefore(frame) >= VNET_HDR_LEN
    ) {
      new Uint8Array(frame.buffer, frame.byteOffset - VNET_HDR_LEN, VNET_HDR_LEN).fill(0);
      tag = VNET_IN_FRONT;
    }
    this.txVnet[i] = tag;
    if (from instanceof ReceiveSlots) {
      // Lent by a TAP (this one included): written from its slot, which it will not reuse until then.
      const s = from.slotOf(frame);
      from.holds[s]!++;
      this.txFrom[i] = from;
      this.txSlot[i] = s;
      this.counters.lent++;
      this.tx[i] = frame;
    } else {
      // Lent by a link that cannot be told when we are done: copied. Owned: kept as it is.
      this.tx[i] = from === undefined ? frame : keepable(this, frame);
    }
    this.txCount++;
    if (!this.flushQueued && !this.blocked) {
      this.flushQueued = true;
      markUnflushed(this);
    }
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  onBurstEnd(fn: () => void): void {
    this.burstEnd = fn;
  }

  /**
   * Sets (replaces) what is called when the device goes away (state 'gone'), from the poll callback
   * that saw it; the handler may call reopen().
   */
  onGone(handler: () => void): void {
    this.goneHandler = handler;
  }

  /**
   * After the device went away: opens /dev/net/tun again and creates (or attaches) the TAP of the
   * same name on a fresh fd, keeping this link's handlers, counters and MTU. The new device lives in
   * this process's namespace, down and unaddressed. Returns whether the link is attached now (true
   * at once when it already was; false after close(), or when the kernel refused: see `lastError`).
   */
  reopen(): boolean {
    if (this.closing) return false;
    if (this.att !== undefined) return true;
    try {
      const dev = attachDevice(this.name, this.sendBuffer, this.vnetLen > 0);
      // The frames' layout is fixed at open: a kernel that now takes less is asked for less.
      this.offloadsNow = dev.offloads;
      this.attach(dev.fd, dev.handle);
    } catch (e) {
      this.lastErrorNow = e as Error;
      return false;
    }
    this.lastErrorNow = undefined;
    this.stateNow = 'up';
    return true;
  }

  /**
   * Writes what is queued (best effort), stops polling this TAP and closes its fd. The TAP device
   * disappears unless it is persistent. Idempotent.
   */
  close(): Promise<void> {
    if (this.closed === undefined) {
      this.flush();
      this.closing = true;
      this.stateNow = 'closed';
      this.closed = new Promise((resolve) => {
        this.resolveClosed = resolve;
      });
      this.dropQueued('closed');
      if (this.att !== undefined) this.retire(this.att);
      // Frames lent from our slots and still queued elsewhere are copied before the memory goes
      // back to the shared ring, where another TAP may read into it.
      for (const l of openLinks) l.copyLent(this.slots);
      openLinks.delete(this);
      removeLendingArea(this.slots);
      freeSlotMemory(this.slots.memory);
      this.settleClose();
    }
    return this.closed;
  }

  /** @internal libuv has let go of a handle: free it and release its fd. */
  handleClosed(a: Attachment): void {
    freePollHandle(a);
    // Closing a TAP fd waits for an RCU grace period in the kernel (about 15 ms measured): do it on
    // the thread pool rather than stall the event loop.
    const close = () =>
      loadLibc().close.async(a.fd, () => {
        this.retiring--;
        this.settleClose();
      });
    // The transmit thread writes what it holds before the fd goes; one that has not ended by then
    // keeps the fd until it has.
    const writer = this.writers.get(a.fd);
    this.writers.delete(a.fd);
    if (writer === undefined || writer.stop()) close();
    else void writer.exited.then(close);
  }

  /** @internal libuv's poll callback. */
  handleEvents(a: Attachment, status: number, events: number): void {
    if (a !== this.att || this.closing) return;
    if (status < 0) {
      this.lose(a);
      return;
    }
    if (events & UV_WRITABLE) {
      this.blocked = false;
      this.flush();
      if (!this.blocked) this.watch();
    }
    if (events & UV_READABLE) {
      try {
        this.drain();
      } finally {
        this.burstEnd?.();
      }
    }
  }

  /** @internal Writes what is queued, until EAGAIN. */
  flush(): void {
    this.flushQueued = false;
    if (this.closing || this.blocked) return;
    const a = this.att;
    // A burst goes to the transmit thread; so does anything while it still writes (order).
    if (
      a !== undefined &&
      this.useTxThread &&
      (this.txCount >= TX_THREAD_BURST || !(this.writers.get(a.fd)?.idle ?? true))
    ) {
      return this.flushToThread(a);
    }
    const c = loadLibc();
    const cap = this.tx.length;
    const counters = this.counters;
    while (this.txCount > 0) {
      const h = this.txHead;
      if (a === undefined) {
        counters.drops['io-error']++;
      } else {
        const f = this.tx[h]!;
        const n =
          this.vnetLen === 0 ? c.write(a.fd, f, f.length) : this.writeVnet(c, a.fd, f, this.txVnet[h]);
        if (n < 0) {
          const e = c.errno();
          if (e === c.EAGAIN) {
            this.blocked = true;
            this.watch();
            return;
          }
          // EIO while the interface is down, for instance.
          counters.drops['io-error']++;
        } else {
          counters.framesOut++;
          counters.bytesOut += n - this.vnetLen;
        }
        // Written (or lost): a super-frame the stack made is done with, its buffer reusable.
        if (this.txVnet[h] !== undefined) recycleGsoBuffer(f);
      }
      this.release(h);
      this.txHead = (h + 1) % cap;
      this.txCount--;
    }
  }

  /** Hands every queued frame to the transmit thread, copied: their slots and buffers are free at once. */
  private flushToThread(a: Attachment): void {
    let w = this.writers.get(a.fd);
    if (w === undefined) {
      w = new WriteThread(a.fd, this.maxFrame);
      this.writers.set(a.fd, w);
    }
    const cap = this.tx.length;
    const counters = this.counters;
    while (this.txCount > 0) {
      const h = this.txHead;
      const f = this.tx[h]!;
      if (w.push(f)) {
        counters.framesOut++;
        counters.bytesOut += f.length;
        this.txThreadBytes += f.length;
      } else {
        counters.drops.oversize++;
      }
      this.release(h);
      this.txHead = (h + 1) % cap;
      this.txCount--;
    }
    w.kick();
    this.txThreadFlushes++;
    counters.drops['io-error'] += w.takeErrors();
  }

  /**
   * @internal Replaces every queued frame lent from `slots` by a copy (in place: the order stays),
   * so the lender may reuse its slots.
   */
  copyLent(slots: ReceiveSlots): void {
    const cap = this.tx.length;
    for (let k = 0; k < this.txCount; k++) {
      const h = (this.txHead + k) % cap;
      if (this.txFrom[h] !== slots) continue;
      const f = this.tx[h]!;
      // A header written in front of the frame (VNET_IN_FRONT) travels with it.
      const front = this.txVnet[h] === VNET_IN_FRONT ? VNET_HDR_LEN : 0;
      const copy = new Uint8Array(front + f.length);
      copy.set(new Uint8Array(f.buffer, f.byteOffset - front, front + f.length));
      const tag = this.txVnet[h];
      this.release(h);
      this.tx[h] = copy.subarray(front);
      this.txVnet[h] = tag;
      this.counters.lentCopied++;
    }
  }

  private attach(fd: number, handle: unknown): void {
    this.att = attachPoll(this, fd, handle);
    this.blocked = false;
    this.watch();
  }

  /** Stops polling `a` and closes it (handle, then fd); settleClose() sees when it is done. */
  private retire(a: Attachment): void {
    if (this.att === a) this.att = undefined;
    this.retiring++;
    stopPoll(a);
  }

  private settleClose(): void {
    if (this.closing && this.retiring === 0) this.resolveClosed?.();
  }

  /** The kernel detached the fd (tun_chr_poll reports EPOLLERR once its device is deleted). */
  private lose(a: Attachment): void {
    this.counters.drops['io-error']++;
    this.retire(a);
    this.blocked = false;
    this.stateNow = 'gone';
    this.dropQueued('io-error');
    this.goneHandler?.();
  }

  /**
   * Writes `f` behind its vnet header: a super-frame's header goes in the headroom its buffer keeps
   * for it (stack/packet.ts `newGsoPacket`); any other frame is copied behind a zero header (no
   * offload asked: the kernel takes it as a plain frame), a memcpy next to the syscall.
   */
  private writeVnet(c: Libc, fd: number, f: Uint8Array, tag: VnetHdr | undefined): number {
    if (tag === VNET_IN_FRONT) {
      const whole = new Uint8Array(f.buffer, f.byteOffset - VNET_HDR_LEN, f.length + VNET_HDR_LEN);
      return c.write(fd, whole, whole.length);
    }
    // Only the stack's own super-frames (newGsoPacket) keep headroom for the header in their buffer.
    if (tag !== undefined && f.byteOffset >= VNET_HDR_LEN && gsoTagOf(f) === tag) {
      const whole = new Uint8Array(f.buffer, f.byteOffset - VNET_HDR_LEN, f.length + VNET_HDR_LEN);
      emitVnetHdr(tag, whole);
      return c.write(fd, whole, whole.length);
    }
    const stage = this.stage!;
    if (tag !== undefined) emitVnetHdr(tag, stage);
    stage.set(f, VNET_HDR_LEN);
    const n = c.write(fd, stage, VNET_HDR_LEN + f.length);
    if (tag !== undefined) stage.fill(0, 0, VNET_HDR_LEN);
    return n;
  }

  /** Forgets transmit ring entry `h`, releasing the slot it held. */
  private release(h: number): void {
    this.tx[h] = undefined;
    this.txVnet[h] = undefined;
    const from = this.txFrom[h];
    if (from !== undefined) {
      from.holds[this.txSlot[h]!]!--;
      this.txFrom[h] = undefined;
    }
  }

  private dropQueued(reason: 'closed' | 'io-error'): void {
    const cap = this.tx.length;
    for (; this.txCount > 0; this.txCount--) {
      this.release(this.txHead);
      this.txHead = (this.txHead + 1) % cap;
      this.counters.drops[reason]++;
    }
  }

  /** (Re)starts the poll for what we wait for now. */
  private watch(): void {
    if (this.att !== undefined) startPoll(this.att, this.blocked, `TapLink(${this.name})`);
  }

  /**
   * The next slot nothing holds, after the current one. When every slot is held: write what every
   * TAP has queued, then have the TAPs whose writes are blocked copy out what they hold.
   */
  private nextFreeSlot(): number {
    const holds = this.slots.holds;
    const count = holds.length;
    for (let round = 0; ; round++) {
      for (let k = 1; k <= count; k++) {
        const s = (this.slot + k) % count;
        if (holds[s] === 0) {
          this.slot = s;
          return s;
        }
      }
      if (round === 0) flushAll();
      else if (round === 1) for (const l of openLinks) l.copyLent(this.slots);
      else throw new Error(`TapLink(${this.name}): receive slots still held after copying them out`);
    }
  }

  private drain(): void {
    const c = loadLibc();
    const fd = this.att!.fd;
    const slots = this.slots;
    const holds = slots.holds;
    const views = this.views;
    const counters = this.counters;
    const maxFrame = this.maxFrame;
    const hl = this.vnetLen;
    for (let i = 0; i < this.readBurst && !this.closing; i++) {
      const s = holds[this.slot] === 0 ? this.slot : this.nextFreeSlot();
      const buf = slots.slot[s]!;
      const n = c.read(fd, buf, buf.length);
      if (n <= 0) {
        if (n < 0 && c.errno() !== c.EAGAIN) counters.drops['io-error']++;
        return;
      }
      // Longer than any legal frame (read truncated to the slot when longer than the slot).
      if (n - hl > maxFrame) {
        counters.drops.oversize++;
        continue;
      }
      const len = n - hl;
      const k = s * VIEW_WAYS + (len & (VIEW_WAYS - 1));
      let view = views[k];
      if (view === undefined || view.length !== len) {
        view = buf.subarray(hl, n);
        views[k] = view;
      }
      if (hl > 0) {
        this.receiveVnet(buf, view);
        continue;
      }
      const bad = checkFrameSize(view, this.mtu);
      if (bad !== undefined) {
        counters.drops[bad]++;
        continue;
      }
      deliverIncoming(this, this.handler, view);
    }
  }

  /**
   * A frame read behind its vnet header (at the start of `slot`). Only a frame with GSO metadata may
   * exceed the MTU; a TCP super-frame goes up whole (one segment for the TCP core), a USO one is cut
   * here into the datagrams it stands for. The capture sees frames as a wire carries them.
   */
  private receiveVnet(slot: Uint8Array, view: Uint8Array): void {
    const counters = this.counters;
    const oc = this.offloadCounters;
    const h = this.rxVnet;
    if (!readVnetHdr(slot, h)) {
      oc.badVnet++;
      return;
    }
    const base = h.gsoType & ~VNET_GSO_ECN;
    if (base === VNET_GSO_NONE) {
      const bad = checkFrameSize(view, this.mtu);
      if (bad !== undefined) {
        counters.drops[bad]++;
        return;
      }
    } else if (view.length < 14) {
      counters.drops.runt++;
      return;
    }
    if ((h.flags & VNET_F_NEEDS_CSUM) !== 0) oc.csumPartialIn++;
    else if ((h.flags & VNET_F_DATA_VALID) !== 0) oc.csumValidIn++;
    if (base === VNET_GSO_UDP_L4) {
      // Each segment is a datagram of its own: cut (with full checksums) and delivered one by one.
      oc.softSegmented++;
      const r = segmentFrame(view, h, (seg) => {
        h.flags = VNET_F_DATA_VALID;
        h.gsoType = VNET_GSO_NONE;
        deliverIncoming(this, this.handler, seg);
      });
      if (!r.ok) oc.badVnet++;
      return;
    }
    if (base !== VNET_GSO_NONE) {
      oc.gsoIn++;
      oc.gsoInBytes += view.length;
    }
    deliverIncoming(this, this.handler, view, h);
  }
}
