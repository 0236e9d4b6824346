/**
 * An iperf3 client on Oasis sockets (`iperf3 -c`), driving a real iperf3 server (docs/IPERF3.md §1.4,
 * the client table there and the checklist in §1.11): connect, send the cookie, answer
 * PARAM_EXCHANGE with the parameters and CREATE_STREAMS with the data streams, run for `time`
 * seconds from TEST_START, send TEST_END, exchange results, and on DISPLAY_RESULTS close the
 * streams, send IPERF_DONE, half-close and drain the control connection.
 */
import { equalBytes } from '../../bytes.js';
import type { TimerId } from '../../clock.js';
import type { Stack } from '../../stack/stack.js';
import type { TcpSocket } from '../../stack/tcp.js';
import type { UdpSocket } from '../../stack/udp.js';
import { ByteReader, ConnectionClosed } from './io.js';
import {
  ACCESS_DENIED,
  cookieText,
  CREATE_STREAMS,
  DEFAULT_TCP_BLKSIZE,
  defaultParams,
  DISPLAY_RESULTS,
  EXCHANGE_RESULTS,
  frameJson,
  ieMessage,
  IPERF_DONE,
  IPERF3_PORT,
  jsonLength,
  LEGACY_UDP_CONNECT_REPLY,
  makeCookie,
  MAX_RESULTS_JSON,
  PARAM_EXCHANGE,
  paramsJson,
  parseResults,
  resultsJson,
  SERVER_ERROR,
  SERVER_TERMINATE,
  stateByte,
  stateName,
  stateOf,
  TEST_END,
  TEST_RUNNING,
  TEST_START,
  type TestParams,
  type TestResults,
  UDP_CONNECT_MSG,
  UDP_CONNECT_REPLY,
  UDP_RATE,
} from './protocol.js';
import { header, type Interval, intervalLines, type StreamSample } from './results.js';
import { type CpuUse, cpuMeter, finalSample, lineKind, ourResults, stackClock } from './session.js';
import {
  randomBlock,
  Reporter,
  type StreamEnds,
  TcpReceiver,
  TcpSender,
  type TestStream,
  UdpReceiver,
  UdpSender,
} from './streams.js';

export interface Iperf3ClientOptions {
  readonly host: string;
  readonly port?: number;
  /** `-R`: the server sends. */
  readonly reverse?: boolean;
  /** `-P`: parallel streams (1..128). */
  readonly parallel?: number;
  /** `-u`: UDP instead of TCP. */
  readonly udp?: boolean;
  /** `-b`: bit/s per stream (default: 1 Mbit/s for UDP, unlimited for TCP). */
  readonly bandwidth?: number;
  /** `-t`: seconds (default 10). */
  readonly time?: number;
  /** `-l`: block size (default 128 KiB for TCP, the control connection's MSS for UDP). */
  readonly len?: number;
  /** Lines as iperf3 prints them while the test runs (default: none). */
  readonly log?: (line: string) => void;
  /** Seconds for UDP timestamps (default: `stackClock`, CLOCK_MONOTONIC like iperf3). */
  readonly clock?: () => number;
  /** Limit for each set-up step: connecting, the UDP reply (default 10 s). */
  readonly timeoutMs?: number;
}

/** Everything a finished test measured, for the summary lines and the JSON document. */
export interface Iperf3ClientReport {
  readonly host: string;
  readonly port: number;
  readonly params: TestParams;
  readonly cookie: string;
  /** Wall-clock seconds when the test started. */
  readonly timestamp: number;
  readonly connected: readonly (StreamEnds & { readonly socket: number })[];
  readonly intervals: readonly Interval[];
  /** Our side of each stream over the whole test. */
  readonly local: readonly StreamSample[];
  /** What the server sent at EXCHANGE_RESULTS. */
  readonly remote: TestResults;
  readonly cpu: CpuUse;
}

/** A failure the user should read as is (exit code 1). */
export class Iperf3Error extends Error {}

/** The UDP datagram size iperf3 picks: the control connection's MSS, with 12 bytes of timestamps. */
export function defaultUdpLen(stack: Stack, host: string): number {
  const mtu = Math.max(576, ...stack.interfaces.map((i) => i.mtu));
  return mtu - (host.includes(':') ? 60 : 40) - 12;
}

export async function iperf3Client(stack: Stack, o: Iperf3ClientOptions): Promise<Iperf3ClientReport> {
  return new ClientTest(stack, o).run();
}

class ClientTest {
  private readonly port: number;
  private readonly params: TestParams;
  private readonly log: (line: string) => void;
  private readonly clock: () => number;
  private readonly timeoutMs: number;
  private readonly cookie: Uint8Array;
  private readonly streams: TestStream[] = [];
  private readonly tcpSockets: TcpSocket[] = [];
  private readonly udpSockets: UdpSocket[] = [];
  private readonly connected: (StreamEnds & { socket: number })[] = [];
  private ctrl: TcpSocket | undefined;
  private reporter: Reporter | undefined;
  private endTimer: TimerId | undefined;
  private runAt = 0;
  private endAt = 0;
  /** A TCP sender: the streams report their connections' retransmissions. */
  private readonly withRetransmits: boolean;

  constructor(
    private readonly stack: Stack,
    private readonly o: Iperf3ClientOptions,
  ) {
    const udp = o.udp ?? false;
    const d = defaultParams(udp ? 'udp' : 'tcp');
    this.port = o.port ?? IPERF3_PORT;
    this.params = {
      ...d,
      time: o.time ?? d.time,
      parallel: o.parallel ?? 1,
      reverse: o.reverse ?? false,
      len: o.len ?? (udp ? defaultUdpLen(stack, o.host) : DEFAULT_TCP_BLKSIZE),
      bandwidth: o.bandwidth ?? (udp ? UDP_RATE : 0),
      clientVersion: '3.12',
    };
    this.log = o.log ?? (() => undefined);
    this.clock = o.clock ?? stackClock(stack);
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.cookie = makeCookie(() => stack.random.next());
    this.withRetransmits = !udp && !this.params.reverse;
  }

  private within<T>(p: Promise<T>, what: string): Promise<T> {
    const s = this.stack.scheduler;
    let timer: TimerId | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = s.at(s.now() + this.timeoutMs, () => reject(new Iperf3Error(`${what}: timed out`)));
    });
    return Promise.race([p, timeout]).finally(() => {
      if (timer !== undefined) s.cancel(timer);
    });
  }

  private connectTcp(what: string): Promise<TcpSocket> {
    const socket = this.stack.tcp.connect({ host: this.o.host, port: this.port, noDelay: true });
    this.tcpSockets.push(socket);
    const connected = new Promise<TcpSocket>((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('error', (e) => reject(new Iperf3Error(`${what}: ${e.message}`)));
    });
    return this.within(connected, what);
  }

  async run(): Promise<Iperf3ClientReport> {
    const p = this.params;
    const cpu = cpuMeter();
    const timestamp = Date.now() / 1000;
    try {
      this.log(`Connecting to host ${this.o.host}, port ${this.port}`);
      if (p.reverse) this.log(`Reverse mode, remote host ${this.o.host} is sending`);
      const ctrl = await this.connectTcp(`unable to connect to server ${this.o.host} port ${this.port}`);
      this.ctrl = ctrl;
      ctrl.on('error', () => undefined);
      const reader = new ByteReader(ctrl);
      ctrl.write(this.cookie);
      let remote: TestResults | undefined;
      for (;;) {
        const state = stateOf((await reader.read(1))[0]!);
        switch (state) {
          case PARAM_EXCHANGE:
            ctrl.write(frameJson(paramsJson(p)));
            break;
          case CREATE_STREAMS:
            await this.createStreams();
            break;
          case TEST_START:
            this.start();
            break;
          case TEST_RUNNING:
            for (const s of this.streams) s.begin();
            break;
          case EXCHANGE_RESULTS: {
            // The client sends its results first, then reads the server's (iperf_api.c).
            const duration = this.duration();
            ctrl.write(
              frameJson(resultsJson(ourResults(this.streams, duration, cpu(), this.withRetransmits))),
            );
            const len = jsonLength(await reader.read(4));
            if (len > MAX_RESULTS_JSON) throw new Iperf3Error(`server results of ${len} bytes are too long`);
            const r = parseResults((await reader.read(len)).toString('utf8'));
            if (!r.ok) throw new Iperf3Error(`unable to read the server's results: ${r.error}`);
            const known = new Set(this.streams.map((s) => s.id));
            if (r.value.streams.some((s) => !known.has(s.id)))
              throw new Iperf3Error('the server reported a stream ID we do not know');
            remote = r.value;
            break;
          }
          case DISPLAY_RESULTS: {
            if (!remote) throw new Iperf3Error('DISPLAY_RESULTS before the results');
            this.closeStreams();
            ctrl.write(Uint8Array.of(stateByte(IPERF_DONE)));
            // iperf_sync_close_socket: shutdown(SHUT_WR), read to EOF, close.
            ctrl.end();
            await this.within(reader.closed, 'closing the control connection').catch(() => undefined);
            ctrl.destroy();
            const duration = this.duration();
            return {
              host: this.o.host,
              port: this.port,
              params: p,
              cookie: cookieText(this.cookie),
              timestamp,
              connected: this.connected,
              intervals: this.reporter?.intervals ?? [],
              local: this.streams.map((s) => finalSample(s, duration, this.withRetransmits)),
              remote,
              cpu: cpu(),
            };
          }
          case ACCESS_DENIED:
            throw new Iperf3Error('the server is busy running a test. try again later');
          case SERVER_ERROR: {
            const codes = await reader.read(8).catch(() => undefined);
            const dv = codes && new DataView(codes.buffer, codes.byteOffset, 8);
            throw new Iperf3Error(
              dv
                ? `the server reported an error: ${ieMessage(dv.getInt32(0))} (i_errno ${dv.getInt32(0)}, errno ${dv.getInt32(4)})`
                : 'the server reported an error',
            );
          }
          case SERVER_TERMINATE:
            throw new Iperf3Error('the server has terminated');
          default:
            throw new Iperf3Error(`received an unknown control message (${stateName(state)})`);
        }
      }
    } catch (e) {
      if (e instanceof ConnectionClosed) throw new Iperf3Error('control socket has closed unexpectedly');
      throw e;
    } finally {
      this.cleanup();
    }
  }

  private duration(): number {
    return ((this.endAt || this.stack.now()) - this.runAt) / 1000;
  }

  private describe(index: number, ends: StreamEnds): void {
    const socket = 5 + index;
    this.connected.push({ ...ends, socket });
    this.log(
      `[${String(socket).padStart(3)}] local ${ends.localHost} port ${ends.localPort} connected to ${ends.remoteHost} port ${ends.remotePort}`,
    );
  }

  /** iperf_create_streams: one connection per stream, each starting with the cookie. */
  private async createStreams(): Promise<void> {
    const p = this.params;
    const block =
      p.reverse || p.protocol === 'udp' ? undefined : randomBlock(p.len, () => this.stack.random.next());
    for (let i = 0; i < p.parallel; i++) {
      if (p.protocol === 'udp') {
        await this.createUdpStream(i);
        continue;
      }
      const s = await this.connectTcp(`unable to connect stream ${i + 1}`);
      s.write(this.cookie);
      const ends = {
        localHost: s.localAddress ?? '',
        localPort: s.localPort ?? 0,
        remoteHost: s.remoteAddress ?? '',
        remotePort: s.remotePort ?? 0,
      };
      this.describe(i, ends);
      const pacing = { rate: p.bandwidth, pacingUs: p.pacingTimer, scheduler: this.stack.scheduler };
      this.streams.push(block ? new TcpSender(i, ends, s, block, pacing) : new TcpReceiver(i, ends, s));
    }
  }

  /** iperf_udp_connect: "9876" to the server, then wait for "6789" (or the legacy reply). */
  private async createUdpStream(index: number): Promise<void> {
    const p = this.params;
    const sock = this.stack.udp.bind(0);
    this.udpSockets.push(sock);
    const ends = {
      localHost: this.ctrl?.localAddress ?? '',
      localPort: sock.port,
      remoteHost: this.o.host,
      remotePort: this.port,
    };
    let receiver: UdpReceiver | undefined;
    const replied = new Promise<void>((resolve) => {
      let answered = false;
      sock.on('message', (msg, rinfo) => {
        if (rinfo.port !== this.port) return;
        if (!answered) {
          const b = new Uint8Array(msg.buffer, msg.byteOffset, msg.length);
          if (
            b.length === 4 &&
            (equalBytes(b, UDP_CONNECT_REPLY) || equalBytes(b, LEGACY_UDP_CONNECT_REPLY))
          ) {
            answered = true;
            resolve();
          }
          // In reverse mode data may overtake the reply (MAX_REVERSE_OUT_OF_ORDER_PACKETS): ignored.
          return;
        }
        receiver?.onDatagram(msg);
      });
    });
    sock.send(UDP_CONNECT_MSG, this.port, this.o.host);
    await this.within(replied, `no UDP reply from ${this.o.host} port ${this.port}`);
    this.describe(index, ends);
    if (p.reverse) {
      receiver = new UdpReceiver(index, ends, p.udpCounters64bit, this.clock);
      this.streams.push(receiver);
    } else {
      this.streams.push(
        new UdpSender(index, ends, sock, {
          len: p.len,
          rate: p.bandwidth,
          pacingUs: p.pacingTimer,
          counters64: p.udpCounters64bit,
          scheduler: this.stack.scheduler,
          clock: this.clock,
        }),
      );
    }
  }

  /** TEST_START: the clock of the test starts; TEST_END goes out `time` seconds later. */
  private start(): void {
    const p = this.params;
    const s = this.stack.scheduler;
    const kind = lineKind(p.protocol === 'udp', !p.reverse, this.withRetransmits);
    this.reporter = new Reporter(
      this.streams,
      s,
      (iv) => {
        for (const line of intervalLines(kind, iv)) this.log(line);
      },
      this.withRetransmits,
    );
    this.log(header(kind));
    this.runAt = s.now();
    this.reporter.start();
    this.endTimer = s.at(s.now() + (p.time + p.omit) * 1000, () => this.end());
  }

  private end(): void {
    this.endTimer = undefined;
    for (const s of this.streams) s.halt();
    this.endAt = this.stack.now();
    this.reporter?.finish();
    this.ctrl?.write(Uint8Array.of(stateByte(TEST_END)));
  }

  private closeStreams(): void {
    for (const s of this.streams) s.close();
    for (const u of this.udpSockets) u.close();
  }

  private cleanup(): void {
    if (this.endTimer !== undefined) this.stack.scheduler.cancel(this.endTimer);
    this.endTimer = undefined;
    this.reporter?.finish();
    this.closeStreams();
    for (const s of this.tcpSockets) s.destroy();
  }
}
