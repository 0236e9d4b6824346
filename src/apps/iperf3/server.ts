/**
 * An iperf3 server on Oasis sockets (`iperf3 -s`), driven by the real iperf3 client (docs/IPERF3.md §1.3,
 * §1.4 and the server checklist in §1.11). One test at a time: a connection while busy gets
 * ACCESS_DENIED (0xFF) and is closed, as `iperf_accept` does.
 *
 * Per test: read the cookie, send PARAM_EXCHANGE, read the parameters, (UDP: bind the port), send
 * CREATE_STREAMS, accept `parallel` streams (TCP: a connection starting with the cookie; UDP: a
 * "9876" datagram from a new peer, answered "6789"), send TEST_START and TEST_RUNNING, then on
 * TEST_END close the streams, send EXCHANGE_RESULTS, read the client's results, send ours and
 * DISPLAY_RESULTS, and wait for IPERF_DONE or the end of the connection.
 */
import { EventEmitter } from 'node:events';
import { equalBytes } from '../../bytes.js';
import type { TimerId } from '../../clock.js';
import type { Stack } from '../../stack/stack.js';
import type { TcpSocket } from '../../stack/tcp.js';
import type { RemoteInfo, UdpSocket } from '../../stack/udp.js';
import { ByteReader, ConnectionClosed } from './io.js';
import {
  ACCESS_DENIED,
  CLIENT_TERMINATE,
  COOKIE_SIZE,
  CREATE_STREAMS,
  DISPLAY_RESULTS,
  EXCHANGE_RESULTS,
  frameJson,
  IE,
  IPERF_DONE,
  IPERF3_PORT,
  jsonLength,
  MAX_PARAMS_JSON,
  MAX_RESULTS_JSON,
  PARAM_EXCHANGE,
  parseParams,
  parseResults,
  resultsJson,
  SERVER_ERROR,
  stateByte,
  stateName,
  stateOf,
  TEST_END,
  TEST_RUNNING,
  TEST_START,
  type TestParams,
  type TestResults,
  UDP_CONNECT_REPLY,
} from './protocol.js';
import { type Interval, intervalLines, header, type StreamSample } from './results.js';
import { cpuMeter, finalSample, lineKind, ourResults, sideSummary, stackClock } from './session.js';
import {
  randomBlock,
  Reporter,
  TcpReceiver,
  TcpSender,
  type TestStream,
  UdpReceiver,
  UdpSender,
} from './streams.js';

/** Time for a new connection to send its cookie, and for a test to get its streams. */
const HANDSHAKE_MS = 10_000;
/** iperf3's server safety margin past duration + omit (max_rtt 4 s × 10 state transitions). */
const SAFETY_MS = 40_000;

export interface Iperf3ServerOptions {
  /** Where the server's lines go (default: stderr). */
  readonly log?: (line: string) => void;
  /** Seconds for UDP timestamps (default: `stackClock`, CLOCK_MONOTONIC like iperf3). */
  readonly clock?: () => number;
}

/** What a finished test measured on the server's side. */
export interface ServerTestReport {
  readonly params: TestParams;
  readonly client: string;
  readonly intervals: readonly Interval[];
  readonly streams: readonly StreamSample[];
  /** The client's results, as it sent them. */
  readonly peer: TestResults | undefined;
}

export class Iperf3Server extends EventEmitter<{ 'test-done': [ServerTestReport]; 'test-error': [Error] }> {
  private test: ServerTest | undefined;
  private tests = 0;
  private readonly log: (line: string) => void;
  readonly clock: () => number;
  private readonly listener;

  constructor(
    readonly stack: Stack,
    readonly port: number,
    opts: Iperf3ServerOptions,
  ) {
    super();
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.clock = opts.clock ?? stackClock(stack);
    this.listener = stack.tcp.createServer((s) => this.onConnection(s)).listen(port);
    this.banner();
  }

  /** Whether a test is in progress. */
  get busy(): boolean {
    return this.test !== undefined;
  }

  close(): void {
    this.test?.abort(new Error('server closed'));
    this.listener.close();
  }

  private banner(): void {
    const rule = '-----------------------------------------------------------';
    this.log(rule);
    this.log(`Server listening on ${this.port} (test #${this.tests + 1})`);
    this.log(rule);
  }

  private onConnection(socket: TcpSocket): void {
    socket.on('error', () => socket.destroy());
    const t = this.test;
    // iperf_accept: busy outside stream creation means ACCESS_DENIED without reading anything.
    if (t && !t.acceptingStreams) return deny(this.stack, socket);
    const reader = new ByteReader(socket);
    const timer = this.stack.scheduler.at(this.stack.now() + HANDSHAKE_MS, () => socket.destroy());
    reader.read(COOKIE_SIZE).then(
      (cookie) => {
        this.stack.scheduler.cancel(timer);
        const cur = this.test;
        if (cur === undefined) {
          this.tests++;
          const test = new ServerTest(this, socket, reader, cookie, this.log);
          this.test = test;
          test.run().then(
            (report) => this.finished(test, report),
            (e: Error) => this.finished(test, e),
          );
        } else if (cur.acceptingStreams && equalBytes(cookie, cur.cookie)) {
          cur.addTcpStream(socket, reader.detach());
        } else {
          // iperf_tcp_accept: a wrong cookie on a data connection is denied.
          reader.detach();
          deny(this.stack, socket);
        }
      },
      () => {
        this.stack.scheduler.cancel(timer);
        socket.destroy();
      },
    );
  }

  private finished(test: ServerTest, outcome: ServerTestReport | Error): void {
    if (this.test !== test) return;
    this.test = undefined;
    if (outcome instanceof Error) {
      this.log(`iperf3: error - ${outcome.message}`);
      this.emit('test-error', outcome);
    } else {
      this.emit('test-done', outcome);
    }
    this.banner();
  }
}

/** Writes ACCESS_DENIED and closes (the client reads the byte, then EOF). */
function deny(stack: Stack, socket: TcpSocket): void {
  socket.resume();
  socket.on('end', () => socket.destroy());
  socket.end(Uint8Array.of(stateByte(ACCESS_DENIED)));
  stack.scheduler.at(stack.now() + HANDSHAKE_MS, () => socket.destroy());
}

class ServerTest {
  acceptingStreams = false;
  private params: TestParams | undefined;
  private streams: TestStream[] = [];
  private udp: UdpSocket | undefined;
  private readonly udpPeers = new Map<string, UdpReceiver | UdpSender>();
  private streamsReady: (() => void) | undefined;
  private reporter: Reporter | undefined;
  private timers: TimerId[] = [];
  private failed: ((e: Error) => void) | undefined;
  private readonly aborted: Promise<never>;
  private readonly stack: Stack;
  private block: Uint8Array | undefined;
  private runAt = 0;
  private endAt = 0;

  constructor(
    private readonly server: Iperf3Server,
    private readonly ctrl: TcpSocket,
    private readonly reader: ByteReader,
    readonly cookie: Uint8Array,
    private readonly log: (line: string) => void,
  ) {
    this.stack = server.stack;
    this.aborted = new Promise<never>((_, reject) => {
      this.failed = reject;
    });
    // Unhandled otherwise when the test ends normally.
    this.aborted.catch(() => undefined);
  }

  /** Ends the test at once: streams and control connection are reset. */
  abort(e: Error): void {
    this.cleanup();
    this.ctrl.destroy();
    this.failed?.(e);
  }

  private after(ms: number, what: string): void {
    this.timers.push(this.stack.scheduler.at(this.stack.now() + ms, () => this.abort(new Error(what))));
  }

  private cleanup(): void {
    for (const t of this.timers) this.stack.scheduler.cancel(t);
    this.timers = [];
    this.reporter?.finish();
    for (const s of this.streams) s.close();
    this.udp?.close();
    this.udp = undefined;
    this.acceptingStreams = false;
  }

  private send(...states: number[]): void {
    this.ctrl.write(Uint8Array.from(states.map(stateByte)));
  }

  /** Reads a control byte or JSON, failing when the test is aborted or the client goes away. */
  private read(n: number): Promise<Buffer> {
    return Promise.race([this.reader.read(n), this.aborted]);
  }

  private async readJson(max: number): Promise<string> {
    const len = jsonLength(await this.read(4));
    if (len > max) throw new Error(`JSON of ${len} bytes from the client is too long`);
    return (await this.read(len)).toString('utf8');
  }

  async run(): Promise<ServerTestReport> {
    const ctrl = this.ctrl;
    ctrl.setNoDelay(true);
    const client = `${ctrl.remoteAddress}, port ${ctrl.remotePort}`;
    this.log(`Accepted connection from ${client}`);
    const cpu = cpuMeter();
    try {
      this.after(HANDSHAKE_MS, 'the client did not set up the test in time');
      this.send(PARAM_EXCHANGE);
      const parsed = parseParams(await this.readJson(MAX_PARAMS_JSON));
      if (!parsed.ok) {
        this.serverError(parsed.error.ierrno);
        throw new Error(`bad parameters from the client: ${parsed.error.kind}`);
      }
      const p = parsed.value;
      this.params = p;
      if (p.protocol === 'udp') {
        try {
          this.bindUdp(p);
        } catch (e) {
          this.serverError(IE.STREAMLISTEN);
          throw e;
        }
      }
      const ready = new Promise<void>((resolve) => {
        this.streamsReady = resolve;
      });
      this.acceptingStreams = true;
      this.send(CREATE_STREAMS);
      await Promise.race([ready, this.aborted, this.reader.closed.then((e) => Promise.reject(e))]);
      this.acceptingStreams = false;
      for (const t of this.timers) this.stack.scheduler.cancel(t);
      this.timers = [];
      if (p.time > 0) this.after((p.time + p.omit) * 1000 + SAFETY_MS, 'the test ran past its duration');

      const sending = p.reverse;
      const withRetransmits = sending && p.protocol === 'tcp';
      const kind = lineKind(p.protocol === 'udp', sending, withRetransmits);
      const reporter = new Reporter(
        this.streams,
        this.stack.scheduler,
        (iv) => {
          for (const line of intervalLines(kind, iv)) this.log(line);
        },
        withRetransmits,
      );
      this.reporter = reporter;
      this.send(TEST_START, TEST_RUNNING);
      this.log(header(kind));
      this.runAt = this.stack.now();
      reporter.start();
      for (const s of this.streams) s.begin();

      let peer: TestResults | undefined;
      for (;;) {
        const byte = await this.read(1).catch((e: unknown) => {
          // After the results, a close without IPERF_DONE still ends the test well.
          if (peer !== undefined && e instanceof ConnectionClosed) return undefined;
          throw e;
        });
        if (byte === undefined) break;
        const state = stateOf(byte[0]!);
        if (state === TEST_END) {
          // iperf_server_api.c: close the data streams on TEST_END (unread data makes it a reset).
          for (const s of this.streams) s.halt();
          this.endAt = this.stack.now();
          reporter.finish();
          for (const s of this.streams) s.close();
          this.udp?.close();
          this.udp = undefined;
          this.send(EXCHANGE_RESULTS);
          const r = parseResults(await this.readJson(MAX_RESULTS_JSON));
          if (!r.ok) {
            this.serverError(IE.RECVRESULTS);
            throw new Error(`bad results from the client: ${r.error}`);
          }
          peer = r.value;
          const known = new Set(this.streams.map((s) => s.id));
          if (peer.streams.some((s) => !known.has(s.id))) {
            this.serverError(IE.STREAMID);
            throw new Error('the client reported a stream ID we do not know');
          }
          const duration = this.duration();
          const ours = ourResults(this.streams, duration, cpu(), withRetransmits);
          ctrl.write(frameJson(resultsJson(ours)));
          this.send(DISPLAY_RESULTS);
          const samples = this.streams.map((s) => finalSample(s, duration, withRetransmits));
          for (const line of sideSummary(samples, p.protocol === 'udp', sending ? 'sender' : 'receiver'))
            this.log(line);
          continue;
        }
        if (state === IPERF_DONE) break;
        if (state === CLIENT_TERMINATE) throw new Error('the client has terminated');
        throw new Error(`unexpected ${stateName(state)} from the client`);
      }
      this.cleanup();
      await this.closeControl();
      return {
        params: p,
        client,
        intervals: reporter.intervals,
        streams: this.streams.map((s) => finalSample(s, this.duration(), withRetransmits)),
        peer,
      };
    } catch (e) {
      this.cleanup();
      // A FIN after what was written (a SERVER_ERROR reaches the client), a reset if it lingers.
      this.ctrl.end();
      this.stack.scheduler.at(this.stack.now() + 2000, () => this.ctrl.destroy());
      if (e instanceof ConnectionClosed) throw new Error('the client has unexpectedly closed the connection');
      throw e;
    }
  }

  private duration(): number {
    return ((this.endAt || this.stack.now()) - this.runAt) / 1000;
  }

  /** SERVER_ERROR, then i_errno and errno as int32 BE (iperf_exchange_parameters). */
  private serverError(ierrno: number): void {
    const b = new Uint8Array(9);
    b[0] = stateByte(SERVER_ERROR);
    new DataView(b.buffer).setInt32(1, ierrno);
    this.ctrl.write(b);
  }

  /** Half-closes, waits for the client's end (it half-closes after IPERF_DONE), then closes. */
  private async closeControl(): Promise<void> {
    this.ctrl.end();
    const done = this.reader.closed.then(() => undefined);
    const timeout = new Promise<void>((resolve) =>
      this.stack.scheduler.at(this.stack.now() + HANDSHAKE_MS, resolve),
    );
    await Promise.race([done, timeout]);
    this.ctrl.destroy();
  }

  addTcpStream(socket: TcpSocket, leftover: Buffer): void {
    const p = this.params;
    if (!p || p.protocol !== 'tcp' || this.streams.length >= p.parallel) {
      deny(this.stack, socket);
      return;
    }
    const index = this.streams.length;
    const ends = {
      localHost: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      remoteHost: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
    };
    // The client sends nothing before TEST_RUNNING: anything already here is not counted.
    void leftover;
    const block = p.reverse ? this.makeBlock(p.len) : undefined;
    const pacing = { rate: p.bandwidth, pacingUs: p.pacingTimer, scheduler: this.stack.scheduler };
    const stream = block
      ? new TcpSender(index, ends, socket, block, pacing)
      : new TcpReceiver(index, ends, socket);
    this.addStream(stream);
  }

  /** One random block shared by every sending stream. */
  private makeBlock(len: number): Uint8Array {
    this.block ??= randomBlock(len, () => this.stack.random.next());
    return this.block;
  }

  private addStream(stream: TestStream): void {
    this.streams.push(stream);
    const e = stream.ends;
    this.log(
      `[${String(stream.socketNo).padStart(3)}] local ${e.localHost} port ${e.localPort} connected to ${e.remoteHost} port ${e.remotePort}`,
    );
    if (this.streams.length === this.params?.parallel) {
      this.acceptingStreams = false;
      this.streamsReady?.();
    }
  }

  private bindUdp(p: TestParams): void {
    const udp = this.stack.udp.bind(this.server.port);
    this.udp = udp;
    udp.on('message', (msg, rinfo) => this.onDatagram(udp, p, msg, rinfo));
  }

  /** Demultiplexes the UDP streams on the one port by the peer's address and port. */
  private onDatagram(udp: UdpSocket, p: TestParams, msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    const known = this.udpPeers.get(key);
    if (known) {
      if (known instanceof UdpReceiver) known.onDatagram(msg);
      return;
    }
    if (!this.acceptingStreams || this.streams.length >= p.parallel) return;
    // iperf_udp_accept: the first datagram's content is not checked; the reply makes it a stream.
    const index = this.streams.length;
    const ends = {
      localHost: this.ctrl.localAddress ?? '',
      localPort: this.server.port,
      remoteHost: rinfo.address,
      remotePort: rinfo.port,
    };
    const stream = p.reverse
      ? new UdpSender(index, ends, udp, {
          len: p.len,
          rate: p.bandwidth,
          pacingUs: p.pacingTimer,
          counters64: p.udpCounters64bit,
          scheduler: this.stack.scheduler,
          clock: this.server.clock,
        })
      : new UdpReceiver(index, ends, p.udpCounters64bit, this.server.clock);
    this.udpPeers.set(key, stream);
    udp.send(UDP_CONNECT_REPLY, rinfo.port, rinfo.address);
    this.addStream(stream);
  }
}

/** Starts an iperf3 server on `port` (TCP, and UDP while a UDP test runs). */
export function iperf3Server(stack: Stack, port = IPERF3_PORT, opts: Iperf3ServerOptions = {}): Iperf3Server {
  return new Iperf3Server(stack, port, opts);
}
