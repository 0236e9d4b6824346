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
  lentFrom,
  maxFrameLen,
  newCounters,
  removeLendingArea,
} from './link.js';

export interface TapOptions {
  /** IP MTU of the link (default 1500); should match the kernel side's `ip link set mtu`. */
  readonly mtu?: number;
  /** `IFF_VNET_HDR` offloads: not implemented yet. */
  readonly vnetHdr?: false;
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
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
const IFR_FLAGS = 16;
const UV_POLL = 8; // uv_handle_type
const UV_READABLE = 1;
const UV_WRITABLE = 2;

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
  ) {
    this.buffer = memory.buffer;
    this.start = memory.byteOffset;
    this.end = this.start + memory.length;
    this.holds = new Int32Array(count);
    for (let i = 0; i < count; i++) this.slot.push(memory.subarray(i * size, (i + 1) * size));
  }

  /** The slot a view of this memory starts in. */
  slotOf(frame: Uint8Array): number {
    return ((frame.byteOffset - this.start) / this.size) | 0;
  }
}

interface Libc {
  open: (path: string, flags: number) => number;
  ioctl: (fd: number, req: number, type: string, arg: Uint8Array) => number;
  read: (fd: number, buf: Uint8Array, n: number) => number;
  write: (fd: number, buf: Uint8Array, n: number) => number;
  close: ((fd: number) => number) & { async: (fd: number, cb: (err: unknown, r: number) => void) => void };
  errno: () => number;
  EAGAIN: number;
  names: Map<number, string>;
}

/** The libuv calls, made on the main thread's default loop. */
interface Uv {
  loop: unknown;
  pollSize: number;
  pollInit: (loop: unknown, handle: unknown, fd: number) => number;
  pollStart: (handle: unknown, events: number, cb: unknown) => number;
  pollStop: (handle: unknown) => number;
  close: (handle: unknown, cb: unknown) => void;
  strerror: (err: number) => string;
  /** The one registered poll and close callbacks; they find the link by the handle's address. */
  onPoll: unknown;
  onClose: unknown;
}

/** An fd of a TAP with its uv_poll handle (koffi-allocated: its address must stay put while libuv knows it). */
interface Attachment {
  readonly link: TapLink;
  readonly fd: number;
  readonly handle: unknown;
  readonly address: bigint;
}

let libc: Libc | undefined;
let uv: Uv | undefined;
/** Attachments by the address of their poll handle, until libuv has closed the handle. */
const byHandle = new Map<bigint, Attachment>();
/** Links not closed: the queues a lender's frames may wait in. */
const openLinks = new Set<TapLink>();

function loadLibc(): Libc {
  if (libc !== undefined) return libc;
  if (process.platform !== 'linux') throw new Error('TapLink: Linux only');
  const lib = koffi.load('libc.so.6');
  const errnos = koffi.os.errno;
  libc = {
    open: lib.func('int open(const char *path, int flags, ...)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long req, ...)'),
    read: lib.func('long read(int fd, void *buf, unsigned long n)'),
    write: lib.func('long write(int fd, const void *buf, unsigned long n)'),
    close: lib.func('int close(int fd)'),
    errno: () => koffi.errno(),
    EAGAIN: errnos.EAGAIN ?? 11,
    names: new Map(Object.entries(errnos).map(([k, v]) => [v, k])),
  };
  return libc;
}

function loadUv(): Uv {
  if (uv !== undefined) return uv;
  // The running node binary itself: it exports libuv for native addons.
  const self = koffi.load(null as unknown as string);
  const pollCb = koffi.proto('void oasis_uv_poll_cb(void *handle, int status, int events)');
  const closeCb = koffi.proto('void oasis_uv_close_cb(void *handle)');
  let api: Omit<Uv, 'onPoll' | 'onClose'>;
  try {
    api = {
      loop: self.func('void *uv_default_loop()')(),
      pollSize: Number(self.func('size_t uv_handle_size(int type)')(UV_POLL)),
      pollInit: self.func('int uv_poll_init(void *loop, void *handle, int fd)'),
      pollStart: self.func('int uv_poll_start(void *handle, int events, oasis_uv_poll_cb *cb)'),
      pollStop: self.func('int uv_poll_stop(void *handle)'),
      close: self.func('void uv_close(void *handle, oasis_uv_close_cb *cb)'),
      strerror: self.func('const char *uv_strerror(int err)'),
    };
  } catch (e) {
    throw new Error(`TapLink: this node binary does not export libuv's poll functions (${String(e)})`);
  }
  uv = {
    ...api,
    onPoll: koffi.register(
      (handle: unknown, status: number, events: number) =>
        guarded(handle, (a) => a.link.handleEvents(a, status, events)),
      koffi.pointer(pollCb),
    ),
    onClose: koffi.register(
      (handle: unknown) => guarded(handle, (a) => a.link.handleClosed(a)),
      koffi.pointer(closeCb),
    ),
  };
  return uv;
}

/** Links with frames queued for writing (each also has a flush microtask pending). */
const unflushed: TapLink[] = [];

function flushAll(): void {
  while (unflushed.length > 0) unflushed.pop()!.flush();
}

/**
 * Runs a libuv callback for the attachment of `handle`, then writes what it queued on any TAP (a
 * router forwards to other interfaces): the microtask queue is drained only some 25 µs after a
 * callback made through koffi returns (measured), which would add that to every reply. An exception
 * would vanish into libuv, so it is rethrown from a tick.
 */
function guarded(handle: unknown, fn: (a: Attachment) => void): void {
  const a = byHandle.get(koffi.address(handle));
  if (a === undefined) return;
  try {
    fn(a);
    flushAll();
  } catch (e) {
    process.nextTick(() => {
      throw e;
    });
  }
}

function systemError(what: string, errno: number): Error & { code: string; errno: number } {
  const code = loadLibc().names.get(errno) ?? `errno ${errno}`;
  return Object.assign(new Error(`${what}: ${code}`), { code, errno });
}

/**
 * Opens /dev/net/tun and creates or attaches the TAP `name` on it, with a poll handle for the fd.
 * Throws an Error with `code` when the kernel refuses; leaves nothing open then.
 */
function attachDevice(
  name: string,
  sendBuffer: number | undefined,
): { fd: number; handle: unknown; name: string } {
  const c = loadLibc();
  const u = loadUv();
  const fd = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw systemError('TapLink.open: open /dev/net/tun', c.errno());
  const ifr = new Uint8Array(IFREQ_SIZE);
  ifr.set(new TextEncoder().encode(name));
  const flags = IFF_TAP | IFF_NO_PI;
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
  const end = ifr.indexOf(0);
  const actual = new TextDecoder().decode(ifr.subarray(0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end));
  const handle = koffi.alloc('uint8_t', u.pollSize);
  const r = u.pollInit(u.loop, handle, fd);
  if (r < 0) {
    koffi.free(handle);
    c.close(fd);
    throw new Error(`TapLink.open(${name}): uv_poll_init: ${u.strerror(r)}`);
  }
  return { fd, handle, name: actual };
}

export class TapLink implements Link {
  /** The interface name the kernel gave (a `%d` in the requested name is filled in). */
  readonly name: string;
  readonly mtu: number;
  readonly counters: LinkCounters = newCounters();
  capture?: CaptureHook | undefined;

  private stateNow: TapState = 'up';
  private closing = false;
  private handler: FrameHandler | undefined;
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
  private txHead = 0;
  private txCount = 0;
  private flushQueued = false;
  /** A write hit EAGAIN: the poll waits for writability too. */
  private blocked = false;
  private closed: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  private readonly flushTask = (): void => this.flush();

  private constructor(name: string, opts: TapOptions) {
    this.name = name;
    this.mtu = opts.mtu ?? 1500;
    this.maxFrame = maxFrameLen(this.mtu, 2);
    this.readBurst = opts.readBurst ?? 256;
    this.sendBuffer = opts.sendBuffer;
    const txLen = opts.txQueueLen ?? 1024;
    this.tx = new Array(txLen);
    this.txFrom = new Array(txLen);
    this.txSlot = new Int32Array(txLen);
    const count = opts.receiveSlots ?? DEFAULT_RECEIVE_SLOTS;
    // One byte more than the largest legal frame: a longer one is read truncated to the slot.
    const size = Math.ceil((this.maxFrame + 1) / SLOT_ALIGN) * SLOT_ALIGN;
    this.slots = new ReceiveSlots(allocSlotMemory(count * size), count, size);
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
    if (opts.vnetHdr) throw new Error('TapLink.open: vnetHdr is not implemented yet');
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
    const dev = attachDevice(name, opts.sendBuffer);
    const link = new TapLink(dev.name, opts);
    openLinks.add(link);
    addLendingArea(link.slots);
    link.attach(dev.fd, dev.handle);
    return link;
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
    if (!admitOutgoing(this, frame, this.closing)) return;
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
      unflushed.push(this);
      queueMicrotask(this.flushTask);
    }
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
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
      const dev = attachDevice(this.name, this.sendBuffer);
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
    byHandle.delete(a.address);
    koffi.free(a.handle);
    // Closing a TAP fd waits for an RCU grace period in the kernel (about 15 ms measured): do it on
    // the thread pool rather than stall the event loop.
    loadLibc().close.async(a.fd, () => {
      this.retiring--;
      this.settleClose();
    });
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
    if (events & UV_READABLE) this.drain();
  }

  /** @internal Writes what is queued, until EAGAIN. */
  flush(): void {
    this.flushQueued = false;
    if (this.closing || this.blocked) return;
    const a = this.att;
    const c = loadLibc();
    const cap = this.tx.length;
    const counters = this.counters;
    while (this.txCount > 0) {
      const h = this.txHead;
      if (a === undefined) {
        counters.drops['io-error']++;
      } else {
        const f = this.tx[h]!;
        const n = c.write(a.fd, f, f.length);
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
          counters.bytesOut += n;
        }
      }
      this.release(h);
      this.txHead = (h + 1) % cap;
      this.txCount--;
    }
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
      const copy = new Uint8Array(this.tx[h]!);
      this.release(h);
      this.tx[h] = copy;
      this.counters.lentCopied++;
    }
  }

  private attach(fd: number, handle: unknown): void {
    const a: Attachment = { link: this, fd, handle, address: koffi.address(handle) };
    byHandle.set(a.address, a);
    this.att = a;
    this.blocked = false;
    this.watch();
  }

  /** Stops polling `a` and closes it (handle, then fd); settleClose() sees when it is done. */
  private retire(a: Attachment): void {
    if (this.att === a) this.att = undefined;
    this.retiring++;
    const u = loadUv();
    u.pollStop(a.handle);
    u.close(a.handle, u.onClose);
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

  /** Forgets transmit ring entry `h`, releasing the slot it held. */
  private release(h: number): void {
    this.tx[h] = undefined;
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
    const a = this.att;
    if (a === undefined) return;
    const u = loadUv();
    const r = u.pollStart(a.handle, UV_READABLE | (this.blocked ? UV_WRITABLE : 0), u.onPoll);
    if (r < 0) throw new Error(`TapLink(${this.name}): uv_poll_start: ${u.strerror(r)}`);
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
    for (let i = 0; i < this.readBurst && !this.closing; i++) {
      const s = holds[this.slot] === 0 ? this.slot : this.nextFreeSlot();
      const buf = slots.slot[s]!;
      const n = c.read(fd, buf, buf.length);
      if (n <= 0) {
        if (n < 0 && c.errno() !== c.EAGAIN) counters.drops['io-error']++;
        return;
      }
      // Longer than any legal frame (read truncated to the slot when longer than the slot).
      if (n > maxFrame) {
        counters.drops.oversize++;
        continue;
      }
      const k = s * VIEW_WAYS + (n & (VIEW_WAYS - 1));
      let view = views[k];
      if (view === undefined || view.length !== n) {
        view = buf.subarray(0, n);
        views[k] = view;
      }
      const bad = checkFrameSize(view, this.mtu);
      if (bad !== undefined) {
        counters.drops[bad]++;
        continue;
      }
      deliverIncoming(this, this.handler, view);
    }
  }
}
