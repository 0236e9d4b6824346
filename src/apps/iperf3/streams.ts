/**
 * iperf3 data streams on Oasis sockets, the same for server and client: TCP senders and receivers,
 * paced UDP senders and UDP receivers with loss and jitter, and the reporter that samples them
 * every second. All timing goes through the stack's scheduler, so a test on virtual time is exact.
 *
 * Bytes count only between `begin()` (TEST_RUNNING) and `halt()` (TEST_END), as iperf3 counts only
 * in TEST_RUNNING. After `halt()` a receiver keeps draining its socket (the peer may still be
 * sending until it closes the stream), and `close()` resets what is left.
 */
import type { Scheduler, TimerId } from '../../clock.js';
import type { TcpSocket } from '../../stack/tcp.js';
import { MAX_PAYLOAD_V4, UDP_MAX_SEGMENTS, type UdpSocket } from '../../stack/udp.js';
import {
  emitUdpHeader,
  parseUdpHeader,
  streamId,
  UDP_RECV_START,
  type UdpRecvStats,
  udpHeaderLen,
  udpReceive,
  udpSendTime,
} from './protocol.js';
import { type Interval, type StreamSample, sumSamples } from './results.js';

/** Where a stream goes, for the "[  5] local A port P connected to B port Q" line and the JSON. */
export interface StreamEnds {
  readonly localHost: string;
  readonly localPort: number;
  readonly remoteHost: string;
  readonly remotePort: number;
}

/** Cumulative counters of one stream. */
export interface StreamCounters {
  readonly bytes: number;
  /** UDP: datagrams sent (sender) or the highest sequence number seen (receiver). */
  readonly packets: number;
  readonly lost: number;
  readonly outOfOrder: number;
  /** UDP receiver: current jitter, seconds. */
  readonly jitter: number;
}

export abstract class TestStream {
  protected counting = false;
  bytes = 0;

  constructor(
    /** Position in creation order: stream IDs and display numbers follow it. */
    readonly index: number,
    readonly sender: boolean,
    readonly udp: boolean,
    readonly ends: StreamEnds,
  ) {}

  /** The stream ID in the results JSON. */
  get id(): number {
    return streamId(this.index);
  }

  /** The number shown in brackets (iperf3 shows its file descriptor; we number from 5 like it). */
  get socketNo(): number {
    return 5 + this.index;
  }

  /** TEST_RUNNING: count, and send if a sender. */
  abstract begin(): void;
  /** TEST_END: stop counting and sending. */
  abstract halt(): void;
  /** Drops the connection (TCP: reset if anything is unread, as iperf3's close does). */
  abstract close(): void;
  abstract counters(): StreamCounters;
  /** A TCP sender's segments retransmitted since TEST_RUNNING (its connection's own count). */
  retransmits(): number | undefined {
    return undefined;
  }
}

function quiet(socket: TcpSocket): void {
  // After TEST_END a reset from the peer is normal (docs/IPERF3.md §1.4): errors end the stream quietly.
  socket.on('error', () => socket.destroy());
}

/** `-b` for a TCP sender: iperf3 paces TCP as it paces UDP (iperf_check_throttle). */
export interface TcpPacing {
  /** Target bit/s (0: unlimited, no pacing). */
  readonly rate: number;
  /** Microseconds between pacing checks (iperf3's pacing_timer). */
  readonly pacingUs: number;
  readonly scheduler: Scheduler;
}

export class TcpSender extends TestStream {
  private running = false;
  /** Bytes the socket had handed to TCP before the test (the cookie). */
  private base: number | undefined;
  private frozen: number | undefined;
  private t0 = 0;
  /** Bytes written since begin(), for pacing. */
  private paced = 0;
  private timer: TimerId | undefined;
  /** The connection's retransmissions when the test began. */
  private retrans0 = 0;

  constructor(
    index: number,
    ends: StreamEnds,
    private readonly socket: TcpSocket,
    /** One block written again and again; never modified, so the core may keep references to it. */
    private readonly block: Uint8Array,
    private readonly pacing?: TcpPacing,
  ) {
    super(index, true, false, ends);
    quiet(socket);
    // The block never changes: TCP may queue it without a copy.
    socket.setZeroCopyWrites();
    socket.resume();
    socket.on('drain', this.pump);
  }

  /**
   * Writes blocks while TCP takes them and, when paced, while the bytes written stay below
   * rate × elapsed plus one block of credit (as the UDP sender does).
   */
  private readonly pump = (): void => {
    const p = this.pacing;
    const allowed =
      p === undefined || p.rate <= 0
        ? Number.POSITIVE_INFINITY
        : (p.rate * (p.scheduler.now() - this.t0)) / 8000 + this.block.length;
    while (this.running && this.paced < allowed && !this.socket.destroyed && this.socket.writable) {
      this.paced += this.block.length;
      if (!this.socket.write(this.block)) return;
    }
  };

  private readonly tick = (): void => {
    this.timer = undefined;
    if (!this.running || this.pacing === undefined) return;
    this.pump();
    const s = this.pacing.scheduler;
    this.timer = s.at(s.now() + this.pacing.pacingUs / 1000, this.tick);
  };

  begin(): void {
    this.counting = true;
    this.running = true;
    this.base = this.socket.bytesWritten;
    this.retrans0 = this.socket.stats?.retransmits ?? 0;
    if (this.pacing !== undefined && this.pacing.rate > 0) {
      this.t0 = this.pacing.scheduler.now();
      this.tick();
    } else this.pump();
  }

  halt(): void {
    this.running = false;
    this.counting = false;
    if (this.timer !== undefined) this.pacing?.scheduler.cancel(this.timer);
    this.timer = undefined;
  }

  /**
   * Ends the stream with a FIN after what TCP already holds, as the kernel's close() does when
   * nothing is left unread: a reset here would make a reverse-mode iperf3 client, which still reads,
   * fail with "Connection reset by peer". Closed for good once the peer closes too.
   */
  close(): void {
    this.halt();
    this.frozen ??= this.sent();
    if (this.socket.destroyed) return;
    this.socket.on('end', () => this.socket.destroy());
    this.socket.setTimeout(10_000, () => this.socket.destroy());
    this.socket.end();
  }

  /**
   * Bytes sent are bytes TCP accepted (as iperf3 counts what send() took). A block TCP had taken
   * in part when the test ended still goes out, and the receiver may count it: it is counted here
   * too, up to close(), so that the sender never reports less than the receiver.
   */
  private sent(): number {
    return this.base === undefined ? 0 : this.socket.bytesWritten - this.base;
  }

  counters(): StreamCounters {
    return { bytes: this.frozen ?? this.sent(), packets: 0, lost: 0, outOfOrder: 0, jitter: 0 };
  }

  override retransmits(): number {
    return this.base === undefined ? 0 : (this.socket.stats?.retransmits ?? 0) - this.retrans0;
  }
}

const RECEIVE_BUFFER = 128 * 1024;

export class TcpReceiver extends TestStream {
  constructor(
    index: number,
    ends: StreamEnds,
    private readonly socket: TcpSocket,
  ) {
    super(index, false, false, ends);
    quiet(socket);
    // Read into one buffer, as iperf3 does (128 KiB, its default read size): the bytes are only counted.
    socket.setOnread({
      buffer: new Uint8Array(RECEIVE_BUFFER),
      callback: (n) => {
        if (this.counting) this.bytes += n;
        return undefined;
      },
    });
    socket.on('end', () => socket.end());
    socket.resume();
  }

  begin(): void {
    this.counting = true;
  }

  halt(): void {
    this.counting = false;
  }

  close(): void {
    this.counting = false;
    this.socket.destroy();
  }

  counters(): StreamCounters {
    return { bytes: this.bytes, packets: 0, lost: 0, outOfOrder: 0, jitter: 0 };
  }
}

/** Datagrams sent per pacing tick at most, so one tick never hogs the event loop. */
const MAX_BURST = 256;

export interface UdpSenderOptions {
  readonly len: number;
  /** Target bit/s; 0 for as fast as MAX_BURST per tick allows. */
  readonly rate: number;
  /** Microseconds between pacing checks (iperf3's pacing_timer). */
  readonly pacingUs: number;
  readonly counters64: boolean;
  readonly scheduler: Scheduler;
  /** Seconds for the datagram timestamps (see session.ts `stackClock`). */
  readonly clock: () => number;
}

export class UdpSender extends TestStream {
  private running = false;
  private timer: TimerId | undefined;
  private t0 = 0;
  private seq = 0;
  /** Bytes sent since begin(), for pacing. */
  private paced = 0;
  /** Datagrams one send carries: many with a segment size (UDP_SEGMENT, USO on a TAP), else one. */
  private readonly perSend: number;
  private readonly buf: Uint8Array;

  constructor(
    index: number,
    ends: StreamEnds,
    private readonly socket: UdpSocket,
    private readonly o: UdpSenderOptions,
  ) {
    super(index, true, true, ends);
    // Datagrams that fit the path unfragmented go out many to a send, as Linux senders batch them
    // with UDP_SEGMENT; longer ones (iperf3 -l past the MTU) one by one, fragmented.
    const batch = o.len <= socket.maxSegmentSize(ends.remoteHost);
    this.perSend = batch ? Math.max(1, Math.min(UDP_MAX_SEGMENTS, Math.floor(MAX_PAYLOAD_V4 / o.len))) : 1;
    socket.setSegmentSize(this.perSend > 1 ? o.len : 0);
    this.buf = new Uint8Array(o.len * this.perSend);
  }

  begin(): void {
    this.counting = true;
    this.running = true;
    this.t0 = this.o.scheduler.now();
    this.tick();
  }

  /**
   * iperf3 keeps the average at the target rate, checking every pacing_timer µs (iperf_check_throttle):
   * send while the bytes sent so far are below rate × elapsed (plus one datagram of credit).
   */
  private readonly tick = (): void => {
    this.timer = undefined;
    if (!this.running) return;
    const s = this.o.scheduler;
    const now = s.now();
    const len = this.o.len;
    const credit = (this.o.rate * (now - this.t0)) / 8000 + len - this.paced;
    let due = this.o.rate > 0 ? Math.min(MAX_BURST, Math.ceil(credit / len)) : MAX_BURST;
    while (due > 0 && this.running) {
      const n = Math.min(due, this.perSend);
      this.sendBatch(n);
      due -= n;
    }
    this.timer = s.at(now + this.o.pacingUs / 1000, this.tick);
  };

  /** `n` datagrams, each with its own sequence number and timestamp, in one send. */
  private sendBatch(n: number): void {
    const wall = this.o.clock();
    const sec = Math.floor(wall);
    const usec = Math.min(999_999, Math.floor((wall - sec) * 1e6));
    const len = this.o.len;
    for (let i = 0; i < n; i++) {
      this.seq++;
      emitUdpHeader({ sec: sec >>> 0, usec, seq: this.seq }, this.buf.subarray(i * len), this.o.counters64);
    }
    // UdpSocket.send copies the payload into the packet before returning: the buffer is reused.
    this.socket.send(this.buf.subarray(0, n * len), this.ends.remotePort, this.ends.remoteHost);
    this.paced += n * len;
    if (this.counting) this.bytes += n * len;
  }

  halt(): void {
    this.running = false;
    this.counting = false;
    if (this.timer !== undefined) this.o.scheduler.cancel(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.halt();
  }

  counters(): StreamCounters {
    return { bytes: this.bytes, packets: this.seq, lost: 0, outOfOrder: 0, jitter: 0 };
  }
}

export class UdpReceiver extends TestStream {
  private stats: UdpRecvStats = UDP_RECV_START;

  constructor(
    index: number,
    ends: StreamEnds,
    private readonly counters64: boolean,
    /** Seconds on the sender's kind of clock, for the transit times behind jitter. */
    private readonly clock: () => number,
  ) {
    super(index, false, true, ends);
  }

  /** A datagram of this stream arrived. */
  onDatagram(msg: Uint8Array): void {
    if (!this.counting || msg.length < udpHeaderLen(this.counters64)) return;
    const h = parseUdpHeader(msg, this.counters64);
    if (!h.ok) return;
    this.bytes += msg.length;
    this.stats = udpReceive(this.stats, h.value.seq, udpSendTime(h.value), this.clock());
  }

  begin(): void {
    this.counting = true;
  }

  halt(): void {
    this.counting = false;
  }

  close(): void {
    this.counting = false;
  }

  counters(): StreamCounters {
    const s = this.stats;
    return {
      bytes: this.bytes,
      packets: s.highestSeq,
      lost: s.lost,
      outOfOrder: s.outOfOrder,
      jitter: s.jitter,
    };
  }
}

/**
 * Samples every stream once a second from the start of the test (iperf3's stats/reporter timers),
 * and once more at the end for a last partial interval of at least a tenth of a second.
 */
export class Reporter {
  readonly intervals: Interval[] = [];
  private t0 = 0;
  private lastAt = 0;
  private last: StreamCounters[] = [];
  private lastRetrans: number[] = [];
  private timer: TimerId | undefined;
  private finished = false;

  constructor(
    private readonly streams: readonly TestStream[],
    private readonly scheduler: Scheduler,
    private readonly onInterval: (iv: Interval) => void,
    /** TCP sender: report each stream's retransmissions. */
    private readonly withRetransmits = false,
  ) {}

  start(): void {
    this.t0 = this.lastAt = this.scheduler.now();
    this.last = this.streams.map((s) => s.counters());
    this.lastRetrans = this.streams.map((s) => s.retransmits() ?? 0);
    this.arm(1);
  }

  private arm(k: number): void {
    this.timer = this.scheduler.at(this.t0 + 1000 * k, () => {
      this.sample(this.scheduler.now());
      this.arm(k + 1);
    });
  }

  /** Time since start, seconds. */
  elapsed(now = this.scheduler.now()): number {
    return (now - this.t0) / 1000;
  }

  /** Stops the timer; samples the last partial interval if long enough. Idempotent. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer !== undefined) this.scheduler.cancel(this.timer);
    this.timer = undefined;
    const now = this.scheduler.now();
    if (now - this.lastAt >= 100) this.sample(now);
  }

  private sample(now: number): void {
    const start = (this.lastAt - this.t0) / 1000;
    const end = (now - this.t0) / 1000;
    const samples = this.streams.map((s, i): StreamSample => {
      const c = s.counters();
      const p = this.last[i]!;
      this.last[i] = c;
      const base = { socket: s.socketNo, start, end, bytes: c.bytes - p.bytes, sender: s.sender };
      if (s.udp) {
        return s.sender
          ? { ...base, packets: c.packets - p.packets }
          : {
              ...base,
              packets: c.packets - p.packets,
              lost: c.lost - p.lost,
              jitter: c.jitter,
              outOfOrder: c.outOfOrder - p.outOfOrder,
            };
      }
      if (!this.withRetransmits || !s.sender) return base;
      const retrans = s.retransmits() ?? 0;
      const since = retrans - this.lastRetrans[i]!;
      this.lastRetrans[i] = retrans;
      return { ...base, retransmits: since };
    });
    this.lastAt = now;
    const iv = { streams: samples, sum: sumSamples(samples) };
    this.intervals.push(iv);
    this.onInterval(iv);
  }
}

/** Fills a block with pseudo-random bytes (iperf3 sends random data by default). */
export function randomBlock(len: number, next: () => number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i += 4) {
    const v = next();
    b[i] = v;
    if (i + 1 < len) b[i + 1] = v >>> 8;
    if (i + 2 < len) b[i + 2] = v >>> 16;
    if (i + 3 < len) b[i + 3] = v >>> 24;
  }
  return b;
}
