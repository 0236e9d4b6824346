/**
 * A thread that makes a transmit ring's `send()` calls for a PacketLink (docs/PACKET.md "The
 * transmit thread").
 *
 * `send(fd, NULL, 0, MSG_DONTWAIT)` on a PACKET_TX_RING socket does far more than hand frames over:
 * the kernel takes each marked frame through the device in the calling thread, and for a veth that
 * means the peer's whole receive path (its TCP, the ACKs it sends back, the sender's reaction to
 * them) in softirq on the caller's CPU. In a router forwarding TCP that was two thirds of Oasis's
 * thread. A worker thread that makes the call instead moves that work to another CPU while the
 * event loop goes on with the next frames.
 *
 * The worker sleeps in `Atomics.wait` on one shared word until `kick()` sets it, sends, and sleeps
 * again once nothing is pending; a kick while it sends makes it send again. Two threads may call
 * `send()` on the same ring: the kernel serialises them (pg_vec_lock) and walks the ring in order,
 * so frames still leave in the order they were marked. Stopping sends once more, so frames marked
 * before it still leave. The worker's code is a string evaluated in
 * the worker, so it works from the bundled CLI as from `dist/`; it loads koffi itself.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// The shared words: [0] the request, [1] the worker's state.
const REQUEST = 0;
const STATE = 1;
const IDLE = 0;
const KICKED = 1;
const STOP = 2;
const SLEEPING = 0;
const SENDING = 1;
const EXITED = 2;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const koffi = require(workerData.koffi);
const send = koffi.load('libc.so.6').func('long send(int fd, const void *buf, size_t len, int flags)');
const words = new Int32Array(workerData.words);
const fd = workerData.fd;
for (;;) {
  Atomics.wait(words, ${REQUEST}, ${IDLE});
  const request = Atomics.exchange(words, ${REQUEST}, ${IDLE});
  Atomics.store(words, ${STATE}, ${SENDING});
  // Also on the way out: what was marked before stop() still leaves.
  send(fd, null, 0, ${0x40} /* MSG_DONTWAIT */);
  if (request === ${STOP}) break;
  Atomics.store(words, ${STATE}, ${SLEEPING});
}
Atomics.store(words, ${STATE}, ${EXITED});
Atomics.notify(words, ${STATE});
`;

export class TransmitThread {
  private readonly words = new Int32Array(new SharedArrayBuffer(8));
  private stopped = false;

  /** Starts the worker for `fd` (a PACKET_TX_RING socket); it does not keep the process alive. */
  constructor(fd: number) {
    const koffi = createRequire(import.meta.url).resolve('koffi');
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { koffi, fd, words: this.words.buffer },
    });
    worker.unref();
  }

  /** The worker is calling `send()` now, or has a kick pending. */
  get busy(): boolean {
    return Atomics.load(this.words, STATE) === SENDING || Atomics.load(this.words, REQUEST) === KICKED;
  }

  /** Has the worker call `send()` once more after this (one wake-up for any number of kicks). */
  kick(): void {
    if (this.stopped) return;
    if (Atomics.exchange(this.words, REQUEST, KICKED) === IDLE) Atomics.notify(this.words, REQUEST);
  }

  /**
   * Stops the worker and waits (at most `timeoutMs`) until it has made its last `send()` and left
   * its loop. After this the fd may be closed (the worker would otherwise call
   * `send()` on whatever file reuses the number).
   */
  stop(timeoutMs = 1000): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.words, REQUEST, STOP);
    Atomics.notify(this.words, REQUEST);
    const deadline = Date.now() + timeoutMs;
    for (let s = Atomics.load(this.words, STATE); s !== EXITED; s = Atomics.load(this.words, STATE)) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      Atomics.wait(this.words, STATE, s, left);
    }
  }
}
