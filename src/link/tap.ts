/**
 * Linux TAP devices through koffi (see shared/design/TAP.md).
 *
 * Opening: `open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)` then `ioctl(TUNSETIFF)` with
 * `IFF_TAP | IFF_NO_PI` (include/uapi/linux/if_tun.h): the named TAP is created, or attached if it
 * exists and is free; a name with `%d` lets the kernel pick the number. Addresses, MTU and up/down
 * of the kernel side are iproute2's business, not ours. The kernel side has its own MAC; the stack
 * picks its own, so `mac` is undefined.
 *
 * Reading: one async `poll()` (koffi runs it on a libuv thread-pool thread) watches every open TAP
 * of the process plus an eventfd used to wake it. When it returns, each readable TAP is drained
 * with synchronous non-blocking `read()`s until EAGAIN into ONE preallocated buffer, and the handler
 * gets a view of it per frame (views are cached per length: no allocation, Promise or closure per
 * frame). Each TAP `read()` returns exactly one frame.
 *
 * Writing: frames sent during an event-loop task are queued and written in one batch from a
 * microtask, with synchronous `write()`s. On EAGAIN they stay queued (a bounded queue; overflow is
 * a counted drop) and the poll also waits for POLLOUT.
 *
 * Lifetime: while any TAP is open a poll is in flight, which keeps the process alive (a stack that
 * is up should). close() wakes the poller through the eventfd, waits for the poll to return (the
 * fd must not be closed under a poll running on another thread), then closes the fd; once the last
 * TAP is closed nothing is pending and the process can exit.
 *
 * The poll occupies one of libuv's thread-pool threads (4 by default) for as long as a TAP is open,
 * whatever the number of TAPs; raise UV_THREADPOOL_SIZE if the process also leans on the pool.
 */
import koffi from 'koffi';
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

// include/uapi/asm-generic/fcntl.h, poll.h; include/uapi/linux/if_tun.h, if.h, eventfd.h.
const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = O_NONBLOCK;
const EFD_CLOEXEC = O_CLOEXEC;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
const IFR_FLAGS = 16;
const POLLFD_SIZE = 8;

/** A TAP frame is at most 64 KiB; a larger buffer lets us see (and count) oversize frames whole. */
const READ_BUFFER_SIZE = 65536 + 64;
/** Safety net against a lost wakeup: the poll returns at least this often (ms). */
const POLL_TIMEOUT_MS = 500;

interface Libc {
  open: (path: string, flags: number) => number;
  ioctl: (fd: number, req: number, type: string, arg: Uint8Array) => number;
  read: (fd: number, buf: Uint8Array, n: number) => number;
  write: (fd: number, buf: Uint8Array, n: number) => number;
  close: ((fd: number) => number) & { async: (fd: number, cb: (err: unknown, r: number) => void) => void };
  eventfd: (initval: number, flags: number) => number;
  poll: {
    async: (fds: unknown, nfds: number, timeout: number, cb: (err: unknown, n: number) => void) => void;
  };
  errno: () => number;
  EAGAIN: number;
  names: Map<number, string>;
}

let libc: Libc | undefined;

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
    eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
    poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
    errno: () => koffi.errno(),
    EAGAIN: errnos.EAGAIN ?? 11,
    names: new Map(Object.entries(errnos).map(([k, v]) => [v, k])),
  };
  return libc;
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

  /** @internal poller state */
  closing = false;
  /** @internal set when the device went away (POLLERR): no longer polled, sends are io-errors. */
  failed = false;

  private handler: FrameHandler | undefined;
  private readonly rbuf = new Uint8Array(READ_BUFFER_SIZE);
  /** views[n] = rbuf.subarray(0, n), made on first use. */
  private readonly views: (Uint8Array | undefined)[];
  private readonly maxFrame: number;
  private readonly readBurst: number;
  /** Transmit ring. */
  private readonly tx: (Uint8Array | undefined)[];
  private txHead = 0;
  private txCount = 0;
  private flushQueued = false;
  /** @internal a write hit EAGAIN: poll for POLLOUT. */
  blocked = false;
  private closed: Promise<void> | undefined;
  private resolveClosed: (() => void) | undefined;
  private readonly flushTask = (): void => this.flush();

  private constructor(
    private readonly fd: number,
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
    const link = new TapLink(fd, actual, opts);
    poller.add(link);
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
      poller.remove();
    }
    return this.closed;
  }

  /** @internal The fd to poll. */
  get pollFd(): number {
    return this.fd;
  }

  /** @internal Called by the poller (never while its poll is running) to release the fd. */
  finishClose(): void {
    for (; this.txCount > 0; this.txCount--) {
      this.tx[this.txHead] = undefined;
      this.txHead = (this.txHead + 1) % this.tx.length;
      this.counters.drops.closed++;
    }
    // Closing a TAP fd waits for an RCU grace period in the kernel (about 15 ms measured): do it on
    // the thread pool rather than stall the event loop.
    loadLibc().close.async(this.fd, () => this.resolveClosed?.());
  }

  /** @internal Called by the poller with this TAP's revents. */
  handleEvents(revents: number): void {
    if (revents & POLLOUT) {
      this.blocked = false;
      this.flush();
    }
    if (revents & POLLIN) this.drain();
    else if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
      // The device is gone (tun_chr_poll reports EPOLLERR once detached): stop polling it.
      this.failed = true;
      this.counters.drops['io-error']++;
    }
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

  private flush(): void {
    this.flushQueued = false;
    if (this.closing) return;
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
            poller.wake();
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

/**
 * The one poll loop of the process: an async poll() over [eventfd, TAP fds...] on the thread pool.
 * The pollfd array lives in koffi-allocated memory, so its address is stable while the worker
 * thread uses it; it is only resized between polls.
 */
class Poller {
  private readonly links: TapLink[] = [];
  /** Links in the order of the pollfd array of the poll in flight (slot i + 1). */
  private polled: TapLink[] = [];
  private polling = false;
  private inCallback = false;
  private efd = -1;
  private pfdPtr: unknown;
  private pfd: DataView | undefined;
  private capacity = 0;
  private readonly one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
  private readonly scratch = new Uint8Array(8);
  private readonly onPolled = (err: unknown, n: number): void => this.afterPoll(err, n);

  add(link: TapLink): void {
    this.links.push(link);
    if (this.polling) this.wake();
    else if (!this.inCallback) this.start();
  }

  /** `link` has set `closing`: its fd is released once no poll uses it. */
  remove(): void {
    // Release now only if no poll is running and we are not inside the poll callback; otherwise
    // the callback releases it once the poll has returned.
    if (this.polling) this.wake();
    else if (!this.inCallback) this.release();
  }

  /** Makes the poll in flight return now. */
  wake(): void {
    if (!this.polling) return;
    loadLibc().write(this.efd, this.one, 8);
  }

  private start(): void {
    const c = loadLibc();
    if (this.links.length === 0) {
      this.idle();
      return;
    }
    if (this.efd < 0) {
      this.efd = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (this.efd < 0) throw systemError('TapLink: eventfd', c.errno());
    }
    const active = this.links.filter((l) => !l.failed);
    const nfds = active.length + 1;
    if (nfds > this.capacity) {
      if (this.pfdPtr !== undefined) koffi.free(this.pfdPtr);
      this.capacity = Math.max(8, nfds * 2);
      this.pfdPtr = koffi.alloc('uint8_t', this.capacity * POLLFD_SIZE);
      this.pfd = new DataView(koffi.view(this.pfdPtr, this.capacity * POLLFD_SIZE));
    }
    const pfd = this.pfd!;
    pfd.setInt32(0, this.efd, true);
    pfd.setInt16(4, POLLIN, true);
    pfd.setInt16(6, 0, true);
    for (let i = 0; i < active.length; i++) {
      const l = active[i]!;
      const off = (i + 1) * POLLFD_SIZE;
      pfd.setInt32(off, l.pollFd, true);
      pfd.setInt16(off + 4, POLLIN | (l.blocked ? POLLOUT : 0), true);
      pfd.setInt16(off + 6, 0, true);
    }
    this.polled = active;
    this.polling = true;
    c.poll.async(this.pfdPtr, nfds, POLL_TIMEOUT_MS, this.onPolled);
  }

  private afterPoll(_err: unknown, n: number): void {
    this.polling = false;
    this.inCallback = true;
    try {
      const pfd = this.pfd!;
      if (n > 0) {
        if (pfd.getInt16(6, true) & POLLIN) loadLibc().read(this.efd, this.scratch, 8);
        const polled = this.polled;
        for (let i = 0; i < polled.length; i++) {
          const l = polled[i]!;
          if (l.closing) continue;
          const revents = pfd.getInt16((i + 1) * POLLFD_SIZE + 6, true);
          if (revents !== 0) l.handleEvents(revents);
        }
      }
    } finally {
      this.inCallback = false;
      this.release();
      this.start();
    }
  }

  /** Closes the fds of links that asked to close (only called while no poll is running). */
  private release(): void {
    for (let i = this.links.length - 1; i >= 0; i--) {
      const l = this.links[i]!;
      if (!l.closing) continue;
      this.links.splice(i, 1);
      l.finishClose();
    }
    if (this.links.length === 0 && !this.polling) this.idle();
  }

  /** No TAP left: close the eventfd and free the pollfd array so nothing is left behind. */
  private idle(): void {
    if (this.efd >= 0) loadLibc().close(this.efd);
    this.efd = -1;
    if (this.pfdPtr !== undefined) koffi.free(this.pfdPtr);
    this.pfdPtr = undefined;
    this.pfd = undefined;
    this.capacity = 0;
    this.polled = [];
  }
}

const poller = new Poller();
