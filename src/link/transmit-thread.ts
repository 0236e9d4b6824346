/**
 * Threads that hand a link's frames to the kernel beside the event loop (docs/PACKET.md "The
 * transmit thread", docs/TAP.md "The transmit thread").
 *
 * Handing a frame to a virtual device does far more than copy it: the kernel takes it through the
 * device in the calling thread, and for a veth or a TAP that means the receiving namespace's whole
 * receive path (its TCP, the ACK it sends back, the sender's reaction to that) in softirq on the
 * caller's CPU. In a router forwarding TCP without offloads that was two thirds of Oasis's thread.
 * A worker thread that makes the call instead moves that work to another CPU while the event loop
 * goes on with the next frames.
 *
 * - `TransmitThread` (PacketLink): the frames already lie in the socket's mapped transmit ring; the
 *   thread only calls `send(fd, NULL, 0, MSG_DONTWAIT)` when kicked. Two threads may call it on one
 *   ring: the kernel serialises them (pg_vec_lock) and walks the ring in order.
 * - `WriteThread` (TapLink without vnet headers): frames are copied into a ring of fixed slots in
 *   shared memory, and the thread `write()`s them in order; a full ring makes `push` wait.
 *
 * Both sleep in `Atomics.wait` on a shared word until kicked, work until nothing is pending, and
 * sleep again. Stopping makes them finish what was handed over first, and waits for that, so the fd
 * may then be closed (a thread would otherwise use whatever file reuses the number); a thread that
 * has not ended by then (one still starting on a loaded machine) keeps the fd until `exited`. The
 * worker's code is a string evaluated in the worker, so it works from the bundled CLI as from
 * `dist/`; it loads koffi itself. Each thread is a V8 isolate of its own (~9.5 MB of RSS).
 *
 * Both links hand a flush to their thread when it holds `TX_THREAD_BURST` frames or more, or while
 * the thread is still at work (order); a frame or two with the thread idle go out at once (latency).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Words of the shared control array.
const REQUEST = 0;
const EXITED = 1;
/** WriteThread: frames pushed, frames written (both counting up, wrapping at 2^32). */
const PRODUCED = 2;
const CONSUMED = 3;
/** WriteThread: the event loop waits for room (the thread then notifies on CONSUMED). */
const WAITING = 4;
/** WriteThread: `write()`s that failed (not EAGAIN), counted up. */
const ERRORS = 5;
/** TransmitThread: 1 while it is in `send()`. */
const SENDING = 6;
const CONTROL_WORDS = 7;

const IDLE = 0;
const KICKED = 1;
const STOP = 2;

/** Frames from which a link's flush goes to its thread rather than a system call of its own. */
export const TX_THREAD_BURST = 4;

/** The worker's loop around `work()`: sleep until kicked, work, and once more on the way out. */
function loop(prelude: string, work: string): string {
  return `
const { workerData } = require('node:worker_threads');
const koffi = require(workerData.koffi);
const libc = koffi.load('libc.so.6');
const ctrl = new Int32Array(workerData.ctrl);
const fd = workerData.fd;
${prelude}
for (;;) {
  Atomics.wait(ctrl, ${REQUEST}, ${IDLE});
  const request = Atomics.exchange(ctrl, ${REQUEST}, ${IDLE});
  ${work}
  if (request === ${STOP}) break;
}
Atomics.store(ctrl, ${EXITED}, 1);
Atomics.notify(ctrl, ${EXITED});
`;
}

const SEND_SOURCE = loop(
  `const send = libc.func('long send(int fd, const void *buf, size_t len, int flags)');`,
  `Atomics.store(ctrl, ${SENDING}, 1);
  send(fd, null, 0, ${0x40} /* MSG_DONTWAIT */);
  Atomics.store(ctrl, ${SENDING}, 0);`,
);

const WRITE_SOURCE = loop(
  `const write = libc.func('long write(int fd, const void *buf, unsigned long n)');
const poll = libc.func('int poll(void *fds, unsigned long n, int timeout)');
const lens = new Int32Array(workerData.lens);
const data = new Uint8Array(workerData.data);
const { slots, slotSize } = workerData;
// struct pollfd: fd, events POLLOUT, revents.
const pfd = new Int32Array([fd, 4]);
const EAGAIN = koffi.os.errno.EAGAIN ?? 11;`,
  `let c = Atomics.load(ctrl, ${CONSUMED});
  while (c !== Atomics.load(ctrl, ${PRODUCED})) {
    const i = (c >>> 0) % slots;
    const len = lens[i];
    let n = write(fd, data.subarray(i * slotSize, i * slotSize + len), len);
    // A send buffer that is full (TUNSETSNDBUF): wait for room, then the same frame again.
    while (n < 0 && koffi.errno() === EAGAIN) {
      poll(pfd, 1, 100);
      n = write(fd, data.subarray(i * slotSize, i * slotSize + len), len);
    }
    if (n < 0) Atomics.add(ctrl, ${ERRORS}, 1);
    c = (c + 1) | 0;
    Atomics.store(ctrl, ${CONSUMED}, c);
    if (Atomics.load(ctrl, ${WAITING}) !== 0) Atomics.notify(ctrl, ${CONSUMED});
  }`,
);

/**
 * A worker for `fd` running `source`, sharing `ctrl`; it does not keep the process alive. Resolves
 * when it has ended.
 */
function startWorker(
  source: string,
  fd: number,
  ctrl: Int32Array,
  more: Record<string, unknown> = {},
): Promise<void> {
  const koffi = createRequire(import.meta.url).resolve('koffi');
  const worker = new Worker(source, { eval: true, workerData: { koffi, fd, ctrl: ctrl.buffer, ...more } });
  worker.unref();
  return new Promise((resolve) => worker.once('exit', () => resolve()));
}

/**
 * What both threads share: the control words, a worker, the kick and the stop. `more` goes to the
 * worker beside the fd and the control words.
 */
abstract class KickedThread {
  /** The worker has ended (after `stop`). */
  readonly exited: Promise<void>;
  protected readonly ctrl = new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS));
  private stopped = false;

  protected constructor(source: string, fd: number, more: Record<string, unknown> = {}) {
    this.exited = startWorker(source, fd, this.ctrl, more);
  }

  /** Has the thread work once more after this (one wake-up for any number of kicks). */
  kick(): void {
    if (this.stopped) return;
    if (Atomics.exchange(this.ctrl, REQUEST, KICKED) === IDLE) Atomics.notify(this.ctrl, REQUEST);
  }

  /**
   * Has the thread finish what it was handed, then end; false when it has not ended within
   * `timeoutMs` (the fd must then stay open until `exited`).
   */
  stop(timeoutMs = 1000): boolean {
    this.stopped = true;
    Atomics.store(this.ctrl, REQUEST, STOP);
    Atomics.notify(this.ctrl, REQUEST);
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(this.ctrl, EXITED) === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(this.ctrl, EXITED, 0, left);
    }
    return true;
  }
}

/** Calls `send()` on a PACKET_TX_RING socket when kicked (see the module comment). */
export class TransmitThread extends KickedThread {
  constructor(fd: number) {
    super(SEND_SOURCE, fd);
  }

  /** The thread is calling `send()` now, or has a kick pending. */
  get busy(): boolean {
    return Atomics.load(this.ctrl, SENDING) === 1 || Atomics.load(this.ctrl, REQUEST) === KICKED;
  }
}

/** Bytes of shared ring a WriteThread takes (fewer, larger slots for a larger MTU). */
const WRITE_RING_BYTES = 8 << 20;

/** `write()`s frames to an fd from a ring of slots in shared memory (see the module comment). */
export class WriteThread extends KickedThread {
  private readonly lens: Int32Array;
  private readonly data: Uint8Array;
  private readonly slots: number;
  private readonly slotSize: number;
  private produced = 0;
  private errorsSeen = 0;

  /** For frames of at most `maxFrame` bytes. */
  constructor(fd: number, maxFrame: number) {
    let slotSize = 64;
    while (slotSize < maxFrame) slotSize *= 2;
    const slots = Math.max(16, Math.min(4096, Math.floor(WRITE_RING_BYTES / slotSize)));
    const lens = new Int32Array(new SharedArrayBuffer(4 * slots));
    const data = new Uint8Array(new SharedArrayBuffer(slots * slotSize));
    super(WRITE_SOURCE, fd, { lens: lens.buffer, data: data.buffer, slots, slotSize });
    this.lens = lens;
    this.data = data;
    this.slots = slots;
    this.slotSize = slotSize;
  }

  /** Every frame pushed has been written. */
  get idle(): boolean {
    return Atomics.load(this.ctrl, CONSUMED) === this.produced;
  }

  /**
   * Copies `frame` into the next slot; false (nothing done) when it is longer than a slot.
   * While the ring is full it waits for the thread to write one, as a `write()` of its own would
   * have taken that long.
   */
  push(frame: Uint8Array): boolean {
    if (frame.length > this.slotSize) return false;
    for (;;) {
      const written = Atomics.load(this.ctrl, CONSUMED);
      if (((this.produced - written) | 0) < this.slots) break;
      Atomics.store(this.ctrl, WAITING, 1);
      this.kick();
      Atomics.wait(this.ctrl, CONSUMED, written, 10);
      Atomics.store(this.ctrl, WAITING, 0);
    }
    const i = (this.produced >>> 0) % this.slots;
    this.data.set(frame, i * this.slotSize);
    this.lens[i] = frame.length;
    this.produced = (this.produced + 1) | 0;
    Atomics.store(this.ctrl, PRODUCED, this.produced);
    return true;
  }

  /** `write()`s that failed since the last call. */
  takeErrors(): number {
    const all = Atomics.load(this.ctrl, ERRORS);
    const n = (all - this.errorsSeen) | 0;
    this.errorsSeen = all;
    return n;
  }
}
