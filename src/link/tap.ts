/**
 * Linux TAP devices through koffi (see shared/design/TAP.md).
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
 * `readBurst` frames) into ONE preallocated buffer, a slot of the process-wide WebAssembly memory so
 * that checksums run in place, and the handler gets a view of it per frame (views are cached per
 * length: no allocation, Promise or closure per frame). Each TAP `read()` returns exactly one frame.
 *
 * Writing: frames sent during an event-loop task are queued and written in one batch with
 * synchronous `write()`s, at the end of the libuv callback that produced them (or from a microtask).
 * On EAGAIN they stay queued (a bounded queue; overflow is a counted drop) and the poll also waits
 * for writability.
 *
 * Lifetime: an open TAP's poll handle keeps the process alive (a stack that is up should). close()
 * stops and closes the handle, then closes the fd; once every TAP is closed the process can exit.
 * An exception thrown by a handler is rethrown from a `process.nextTick`, so it surfaces as an
 * uncaught exception as from any Node callback (thrown straight into libuv it would be lost).
 */
import koffi from 'koffi';
import { SHARED_RING_BYTES, sharedSimdChecksum } from '../checksum/index.js';
import {
  admitOutgoing,
  checkFrameSize,
  deliverIncoming,
  type CaptureHook,
  type FrameHandler,
  type Link,
  type LinkCounters,
  maxFrameLen,
  newCounters,
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
}

// include/uapi/asm-generic/fcntl.h; include/uapi/linux/if_tun.h, if.h; libuv's uv.h.
const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
const IFR_FLAGS = 16;
const UV_POLL = 8; // uv_handle_type
const UV_READABLE = 1;
const UV_WRITABLE = 2;

/** A TAP frame is at most 64 KiB; a larger buffer lets us see (and count) oversize frames whole. */
const READ_BUFFER_SIZE = 65536 + 64;
/**
 * Receive buffers are slots of the process-wide WebAssembly memory registered with `sum16`
 * (`sharedSimdChecksum`), so the checksums of received frames run in place with SIMD (about 4x the
 * TypeScript loop at 1500 bytes, CHECKSUM.md). TAPs past its slots read into plain memory.
 */
const freeSlots: number[] = [];
let slotsMade = false;

function receiveBuffer(): Uint8Array {
  const ring = sharedSimdChecksum();
  if (!slotsMade && ring !== undefined) {
    for (let i = Math.floor(SHARED_RING_BYTES / READ_BUFFER_SIZE) - 1; i >= 0; i--) freeSlots.push(i);
    slotsMade = true;
  }
  const slot = freeSlots.pop();
  if (ring === undefined || slot === undefined) return new Uint8Array(READ_BUFFER_SIZE);
  return ring.bytes.subarray(slot * READ_BUFFER_SIZE, (slot + 1) * READ_BUFFER_SIZE);
}

function releaseReceiveBuffer(buf: Uint8Array): void {
  if (buf.buffer === sharedSimdChecksum()?.buffer) freeSlots.push(buf.byteOffset / READ_BUFFER_SIZE);
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

let libc: Libc | undefined;
let uv: Uv | undefined;
/** Open links by the address of their poll handle. */
const byHandle = new Map<bigint, TapLink>();

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
        guarded(handle, (l) => l.handleEvents(status, events)),
      koffi.pointer(pollCb),
    ),
    onClose: koffi.register(
      (handle: unknown) => guarded(handle, (l) => l.handleClosed()),
      koffi.pointer(closeCb),
    ),
  };
  return uv;
}

/** Links with frames queued for writing (each also has a flush microtask pending). */
const unflushed: TapLink[] = [];

/**
 * Runs a libuv callback for the link of `handle`, then writes what it queued on any TAP (a router
 * forwards to other interfaces): the microtask queue is drained only some 25 µs after a callback
 * made through koffi returns (measured), which would add that to every reply. An exception would
 * vanish into libuv, so it is rethrown from a tick.
 */
function guarded(handle: unknown, fn: (link: TapLink) => void): void {
  const link = byHandle.get(koffi.address(handle));
  if (link === undefined) return;
  try {
    fn(link);
    while (unflushed.length > 0) unflushed.pop()!.flush();
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

export class TapLink implements Link {
  /** The interface name the kernel gave (a `%d` in the requested name is filled in). */
  readonly name: string;
  readonly mtu: number;
  readonly counters: LinkCounters = newCounters();
  capture?: CaptureHook | undefined;

  private closing = false;
  /** The device went away (a poll error): sends are io-errors. */
  private failed = false;
  private handler: FrameHandler | undefined;
  private readonly rbuf = receiveBuffer();
  /** views[n] = rbuf.subarray(0, n), made on first use. */
  private readonly views: (Uint8Array | undefined)[];
  private readonly maxFrame: number;
  private readonly readBurst: number;
  /** Transmit ring. */
  private readonly tx: (Uint8Array | undefined)[];
  private txHead = 0;
  private txCount = 0;
  private flushQueued = false;
  /** A write hit EAGAIN: the poll waits for writability too. */
  private blocked = false;
  private closed: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  private readonly flushTask = (): void => this.flush();

  private constructor(
    private readonly fd: number,
    /** koffi-allocated uv_poll_t: its address must stay put while libuv knows it. */
    private readonly handle: unknown,
    name: string,
    opts: TapOptions,
  ) {
    this.name = name;
    this.mtu = opts.mtu ?? 1500;
    this.maxFrame = maxFrameLen(this.mtu, 2);
    this.views = new Array(this.maxFrame + 1);
    this.readBurst = opts.readBurst ?? 256;
    this.tx = new Array(opts.txQueueLen ?? 1024);
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
    for (const key of ['txQueueLen', 'readBurst'] as const) {
      const v = opts[key];
      if (v !== undefined && !(Number.isInteger(v) && v >= 1))
        throw new Error(`TapLink.open: ${key} must be a positive integer, got ${v}`);
    }
    const nameBytes = new TextEncoder().encode(name);
    if (nameBytes.length === 0 || nameBytes.length >= IFNAMSIZ || /[\s/]/.test(name) || name.includes('\0'))
      throw new Error(`TapLink.open: invalid interface name ${JSON.stringify(name)}`);
    const c = loadLibc();
    const u = loadUv();
    const fd = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw systemError('TapLink.open: open /dev/net/tun', c.errno());
    const ifr = new Uint8Array(IFREQ_SIZE);
    ifr.set(nameBytes);
    const flags = IFF_TAP | IFF_NO_PI;
    ifr[IFR_FLAGS] = flags & 0xff; // native (little-endian) short on x86-64 and arm64
    ifr[IFR_FLAGS + 1] = flags >>> 8;
    if (c.ioctl(fd, TUNSETIFF, 'void *', ifr) < 0) {
      const e = c.errno();
      c.close(fd);
      throw systemError(`TapLink.open(${name}): TUNSETIFF`, e);
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
    const link = new TapLink(fd, handle, actual, opts);
    byHandle.set(koffi.address(handle), link);
    link.watch();
    return link;
  }

  /** Frames waiting to be written. */
  get txQueued(): number {
    return this.txCount;
  }

  send(frame: Uint8Array): void {
    if (!admitOutgoing(this, frame, this.closing)) return;
    const cap = this.tx.length;
    if (this.txCount >= cap) {
      this.counters.drops['queue-full']++;
      return;
    }
    this.tx[(this.txHead + this.txCount) % cap] = frame;
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
   * Writes what is queued (best effort), stops polling this TAP and closes its fd. The TAP device
   * disappears unless it is persistent. Idempotent.
   */
  close(): Promise<void> {
    if (this.closed === undefined) {
      this.flush();
      this.closing = true;
      this.closed = new Promise((resolve) => {
        this.resolveClosed = resolve;
      });
      const u = loadUv();
      u.pollStop(this.handle);
      u.close(this.handle, u.onClose);
    }
    return this.closed;
  }

  /** @internal libuv has let go of the handle: free it and release the fd. */
  handleClosed(): void {
    byHandle.delete(koffi.address(this.handle));
    koffi.free(this.handle);
    releaseReceiveBuffer(this.rbuf);
    for (; this.txCount > 0; this.txCount--) {
      this.tx[this.txHead] = undefined;
      this.txHead = (this.txHead + 1) % this.tx.length;
      this.counters.drops.closed++;
    }
    // Closing a TAP fd waits for an RCU grace period in the kernel (about 15 ms measured): do it on
    // the thread pool rather than stall the event loop.
    loadLibc().close.async(this.fd, () => this.resolveClosed?.());
  }

  /** @internal libuv's poll callback. */
  handleEvents(status: number, events: number): void {
    if (this.closing) return;
    if (status < 0) {
      // The device is gone (tun_chr_poll reports EPOLLERR once detached): stop polling it.
      this.failed = true;
      this.counters.drops['io-error']++;
      loadUv().pollStop(this.handle);
      return;
    }
    if (events & UV_WRITABLE) {
      this.blocked = false;
      this.flush();
      if (!this.blocked) this.watch();
    }
    if (events & UV_READABLE) this.drain();
  }

  /** (Re)starts the poll for what we wait for now. */
  private watch(): void {
    const u = loadUv();
    const r = u.pollStart(this.handle, UV_READABLE | (this.blocked ? UV_WRITABLE : 0), u.onPoll);
    if (r < 0) throw new Error(`TapLink(${this.name}): uv_poll_start: ${u.strerror(r)}`);
  }

  private drain(): void {
    const c = loadLibc();
    const fd = this.fd;
    const rbuf = this.rbuf;
    const counters = this.counters;
    for (let i = 0; i < this.readBurst && !this.closing; i++) {
      const n = c.read(fd, rbuf, rbuf.length);
      if (n <= 0) {
        if (n < 0 && c.errno() !== c.EAGAIN) counters.drops['io-error']++;
        return;
      }
      if (n > this.maxFrame) {
        counters.drops.oversize++;
        continue;
      }
      let view = this.views[n];
      if (view === undefined) {
        view = rbuf.subarray(0, n);
        this.views[n] = view;
      }
      const bad = checkFrameSize(view, this.mtu);
      if (bad !== undefined) {
        counters.drops[bad]++;
        continue;
      }
      deliverIncoming(this, this.handler, view);
    }
  }

  /** @internal Writes what is queued, until EAGAIN. */
  flush(): void {
    this.flushQueued = false;
    if (this.closing || this.blocked) return;
    const c = loadLibc();
    const cap = this.tx.length;
    const counters = this.counters;
    while (this.txCount > 0) {
      const f = this.tx[this.txHead]!;
      if (this.failed) {
        counters.drops['io-error']++;
      } else {
        const n = c.write(this.fd, f, f.length);
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
      this.tx[this.txHead] = undefined;
      this.txHead = (this.txHead + 1) % cap;
      this.txCount--;
    }
  }
}
