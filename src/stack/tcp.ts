/**
 * TCP in the driver: demux into the pure core (src/tcp/core), the one timer at its deadline, and
 * sockets that are Node `Duplex` streams close enough to `net.Socket` for `http.createServer()`
 * (through `server.emit('connection', socket)`) and `tls.connect({ socket })`.
 *
 * Backpressure follows the TCP windows: a socket pulls from the core's receive buffer only while its
 * readable side wants data, so a slow reader closes the advertised window; a write the core's send
 * buffer cannot take whole is held (and its callback with it) until the core says it is writable.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4ToString,
  ipv6ToString,
  parseIpv4Addr,
  parseIpv6Addr,
} from '../addr.js';
import type { PseudoHeader } from '../checksum/index.js';
import type { Scheduler, TimerId } from '../clock.js';
import { IPPROTO_TCP } from '../ipproto.js';
import {
  type CloseReason,
  type FlowKey,
  type IpAddr,
  type SegmentOut,
  type TcpConfig,
  type TcpEvent,
  type TcpNotification,
  type TcpReply,
  type TcpStack,
  tcpConfig,
  tcpConnections,
  tcpDeadline,
  tcpInit,
  tcpStep,
} from '../tcp/core/index.js';
import { digestStep, encodeTraceLine } from '../tcp/core/trace.js';
import { emitTcp, parseTcp, tcpHeaderLen } from '../tcp/wire.js';
import type { Ipv4Datagram, Ipv4Layer } from './ipv4.js';
import type { Ipv6Datagram, Ipv6Layer } from './ipv6.js';
import type { StackEnv, TimedCore } from './layer.js';

function isV6(a: IpAddr): a is Ipv6Addr {
  return typeof a !== 'number';
}

function addrText(a: IpAddr): string {
  return isV6(a) ? ipv6ToString(a) : ipv4ToString(a as Ipv4Addr);
}

/** Node's error for each way a connection can end badly. */
function closeError(reason: CloseReason): NodeJS.ErrnoException | undefined {
  const codes: Partial<Record<CloseReason, [string, string]>> = {
    reset: ['ECONNRESET', 'read ECONNRESET'],
    refused: ['ECONNREFUSED', 'connect ECONNREFUSED'],
    'connect-timeout': ['ETIMEDOUT', 'connect ETIMEDOUT'],
    timeout: ['ETIMEDOUT', 'read ETIMEDOUT'],
    'keepalive-timeout': ['ETIMEDOUT', 'read ETIMEDOUT (keep-alive)'],
    'fin-wait-2': ['ETIMEDOUT', 'FIN-WAIT-2 timeout'],
  };
  const c = codes[reason];
  return c ? Object.assign(new Error(c[1]), { code: c[0] }) : undefined;
}

export interface TcpConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly noDelay?: boolean;
}

export class TcpLayer implements TimedCore {
  private core: TcpStack | undefined;
  /** Receives every trace line (the start, then each step) when set: see src/tcp/core/trace.ts. */
  trace: ((line: string) => void) | undefined;
  private readonly sockets = new Map<FlowKey, TcpSocket>();
  private readonly servers = new Map<number, TcpServer>();

  constructor(
    private readonly env: StackEnv,
    private readonly ip4: Pick<Ipv4Layer, 'route' | 'send'>,
    private readonly ip6: Pick<Ipv6Layer, 'route' | 'send'>,
    /** The largest interface MTU: the MSS to advertise follows it. */
    private readonly largestMtu: () => number,
    private readonly settings: Partial<Omit<TcpConfig, 'secret'>>,
  ) {}

  /** The core is made on first use, when the interfaces (and so the MSS to advertise) are known. */
  private get state(): TcpStack {
    if (!this.core) {
      const mtu = this.largestMtu();
      const secret = new Uint8Array(16);
      for (let i = 0; i < 16; i += 4) new DataView(secret.buffer).setUint32(i, this.env.random.next());
      const config = tcpConfig(secret, { mss4: mtu - 40, mss6: mtu - 60, ...this.settings });
      const now = this.env.now();
      this.core = tcpInit(config, now);
      this.trace?.(encodeTraceLine({ kind: 'start', now, config }));
    }
    return this.core;
  }

  get counters(): Readonly<Record<string, number>> {
    return this.core?.counters ?? {};
  }

  /** Connections the core holds, by state (for status pages and tests). */
  connectionStates(): Record<string, number> {
    const out: Record<string, number> = {};
    if (this.core) for (const t of tcpConnections(this.core)) out[t.state] = (out[t.state] ?? 0) + 1;
    return out;
  }

  /** Steps the core and performs its outputs; returns the reply to a user call. */
  step(event: TcpEvent): TcpReply {
    const r = tcpStep(this.state, event);
    this.core = r.state;
    this.trace?.(encodeTraceLine({ kind: 'step', event, outputs: digestStep(r.outputs, r.reply) }));
    for (const o of r.outputs) {
      if (o.kind === 'segment') this.transmit(o);
      else this.notify(o);
    }
    this.env.rearm();
    return r.reply;
  }

  private transmit(seg: SegmentOut): void {
    const env = this.env;
    const hl = tcpHeaderLen(seg.repr);
    const write = (ph: PseudoHeader) => (buf: Uint8Array) => {
      let off = hl;
      for (const chunk of seg.payload) {
        buf.set(chunk, off);
        off += chunk.length;
      }
      emitTcp(seg.repr, buf, ph);
    };
    if (isV6(seg.dst)) {
      const route = this.ip6.route(seg.dst, seg.src as Ipv6Addr);
      if (!route) return env.drop('tcp/no-route');
      this.ip6.send(
        route,
        IPPROTO_TCP,
        hl + seg.payloadLen,
        write({ version: 6, src: route.src, dst: route.dst }),
      );
      return;
    }
    const route = this.ip4.route(seg.dst as Ipv4Addr, seg.src as Ipv4Addr);
    if (!route) return env.drop('tcp/no-route');
    // RFC 1191 §3: TCP sets DF so that the path MTU is learned rather than fragments sent.
    this.ip4.send(
      route,
      IPPROTO_TCP,
      hl + seg.payloadLen,
      write({ version: 4, src: route.src, dst: route.dst }),
      {
        dontFragment: true,
      },
    );
  }

  private notify(n: TcpNotification): void {
    if (n.kind === 'established' && n.role === 'passive') {
      const server = this.servers.get(n.localPort);
      const socket = new TcpSocket(this, n.flow, n.local, n.localPort, n.remote, n.remotePort);
      this.sockets.set(n.flow, socket);
      if (server) server.emit('connection', socket);
      else this.step({ kind: 'abort', now: this.env.now(), flow: n.flow });
      return;
    }
    const socket = this.sockets.get(n.flow);
    if (!socket) return;
    switch (n.kind) {
      case 'established':
        socket.onEstablished();
        break;
      case 'readable':
        socket.onReadable();
        break;
      case 'writable':
        socket.onWritable();
        break;
      case 'eof':
        socket.onEof();
        break;
      case 'closed':
        this.sockets.delete(n.flow);
        socket.onClosed(n.reason);
        break;
    }
  }

  input4(d: Ipv4Datagram, bytes: Uint8Array): void {
    const r = parseTcp(bytes, { version: 4, src: d.src, dst: d.dst });
    if (!r.ok) return this.env.drop(r.error);
    if (d.broadcast) return this.env.drop('tcp/broadcast');
    this.step({
      kind: 'segment',
      now: this.env.now(),
      src: d.src,
      dst: d.dst,
      repr: r.value.repr,
      payload: r.value.payload,
    });
  }

  input6(d: Ipv6Datagram, bytes: Uint8Array): void {
    const r = parseTcp(bytes, { version: 6, src: d.src, dst: d.dst });
    if (!r.ok) return this.env.drop(r.error);
    if (d.multicast) return this.env.drop('tcp/multicast');
    // The core keeps the addresses of a connection: copy them out of the frame buffer.
    const src = Uint8Array.from(d.src) as Ipv6Addr;
    const dst = Uint8Array.from(d.dst) as Ipv6Addr;
    this.step({
      kind: 'segment',
      now: this.env.now(),
      src,
      dst,
      repr: r.value.repr,
      payload: r.value.payload,
    });
  }

  deadline(): number {
    return this.core ? (tcpDeadline(this.core) ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
  }

  tick(now: number): void {
    const d = this.core && tcpDeadline(this.core);
    if (d !== null && d !== undefined && d <= now) this.step({ kind: 'tick', now });
  }

  /** Like `net.createServer`: 'connection' events with sockets. */
  createServer(onConnection?: (socket: TcpSocket) => void): TcpServer {
    const server = new TcpServer(this);
    if (onConnection) server.on('connection', onConnection);
    return server;
  }

  /** @internal used by TcpServer */
  listen(server: TcpServer, port: number, host?: string): void {
    const addr = host === undefined || host === '::' || host === '0.0.0.0' ? undefined : parseAddr(host);
    const r = this.step({
      kind: 'listen',
      now: this.env.now(),
      port,
      ...(addr === undefined ? {} : { addr }),
    });
    if (r.kind === 'error')
      throw Object.assign(new Error(`listen ${r.error} :${port}`), {
        code: r.error === 'port-in-use' ? 'EADDRINUSE' : 'EINVAL',
      });
    this.servers.set(port, server);
  }

  /** @internal used by TcpServer */
  unlisten(port: number): void {
    this.servers.delete(port);
    this.step({ kind: 'unlisten', now: this.env.now(), port });
  }

  /** Like `net.connect`: the socket emits 'connect' once established. */
  connect(opts: TcpConnectOptions, onConnect?: () => void): TcpSocket {
    const remote = parseAddr(opts.host);
    const socket = new TcpSocket(this, '', undefined, 0, remote, opts.port);
    if (onConnect) socket.once('connect', onConnect);
    const route = isV6(remote) ? this.ip6.route(remote) : this.ip4.route(remote as Ipv4Addr);
    const local = opts.localAddress !== undefined ? parseAddr(opts.localAddress) : route?.src;
    if (local === undefined) {
      process.nextTick(() =>
        socket.destroy(Object.assign(new Error(`connect ENETUNREACH ${opts.host}`), { code: 'ENETUNREACH' })),
      );
      return socket;
    }
    const r = this.step({
      kind: 'connect',
      now: this.env.now(),
      params: {
        local,
        remote,
        remotePort: opts.port,
        ...(opts.localPort === undefined ? {} : { localPort: opts.localPort }),
        ...(opts.noDelay === undefined ? {} : { options: { noDelay: opts.noDelay } }),
      },
    });
    if (r.kind !== 'connected') {
      const code = r.kind === 'error' && r.error === 'no-ports' ? 'EADDRNOTAVAIL' : 'EINVAL';
      process.nextTick(() => socket.destroy(Object.assign(new Error(`connect ${code}`), { code })));
      return socket;
    }
    socket.attach(r.flow, local, r.localPort);
    this.sockets.set(r.flow, socket);
    return socket;
  }

  /** @internal */
  user(event: TcpEvent): TcpReply {
    return this.step(event);
  }

  get now(): number {
    return this.env.now();
  }

  get scheduler(): Scheduler {
    return this.env.scheduler;
  }

  closeAll(): void {
    for (const s of [...this.sockets.values()]) s.destroy();
    for (const port of [...this.servers.keys()]) this.unlisten(port);
  }
}

function parseAddr(s: string): IpAddr {
  const v4 = parseIpv4Addr(s);
  if (v4 !== undefined) return v4;
  const v6 = parseIpv6Addr(s);
  if (v6 !== undefined) return v6;
  throw Object.assign(new TypeError(`not an IP address: ${s}`), { code: 'ERR_INVALID_IP_ADDRESS' });
}

export class TcpServer extends EventEmitter<{
  connection: [TcpSocket];
  listening: [];
  close: [];
  error: [Error];
}> {
  private port: number | undefined;

  constructor(private readonly layer: TcpLayer) {
    super();
  }

  listen(port: number, host?: string | (() => void), cb?: () => void): this {
    const done = typeof host === 'function' ? host : cb;
    this.layer.listen(this, port, typeof host === 'string' ? host : undefined);
    this.port = port;
    if (done) this.once('listening', done);
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  address(): { port: number; address: string; family: string } | null {
    return this.port === undefined ? null : { port: this.port, address: '::', family: 'IPv6' };
  }

  close(cb?: () => void): this {
    if (this.port !== undefined) this.layer.unlisten(this.port);
    this.port = undefined;
    if (cb) this.once('close', cb);
    process.nextTick(() => this.emit('close'));
    return this;
  }
}

/** The receive window, not the stream, bounds buffering: keep the stream's own buffers small. */
const STREAM_OPTIONS = {
  allowHalfOpen: true,
  readableHighWaterMark: 64 * 1024,
  writableHighWaterMark: 64 * 1024,
};

/** A TCP connection as a Node Duplex stream with the parts of `net.Socket` that servers and TLS use. */
export class TcpSocket extends Duplex {
  private flow: FlowKey;
  private localAddr: IpAddr | undefined;
  private localPortNumber: number;
  private connected = false;
  private wantsData = false;
  /** pull() is running; `forcePull`: a call during it asked for everything. */
  private pulling = false;
  private forcePull = false;
  /** A read is queued for the end of this burst (onReadable). */
  private pullQueued = false;
  private readDone = false;
  private coreClosed = false;
  /** A write the send buffer could not take whole: the rest and its callback. */
  private pending: { data: Uint8Array; cb: (err?: Error | null) => void } | undefined;
  private idleTimeout = 0;
  private idleTimer: TimerId | undefined;
  bytesRead = 0;
  bytesWritten = 0;

  constructor(
    private readonly layer: TcpLayer,
    flow: FlowKey,
    local: IpAddr | undefined,
    localPort: number,
    private readonly remote: IpAddr,
    private readonly remotePortNumber: number,
  ) {
    super(STREAM_OPTIONS);
    this.flow = flow;
    this.localAddr = local;
    this.localPortNumber = localPort;
    this.connected = flow !== '' && local !== undefined;
  }

  /** @internal */
  attach(flow: FlowKey, local: IpAddr, localPort: number): void {
    this.flow = flow;
    this.localAddr = local;
    this.localPortNumber = localPort;
  }

  get remoteAddress(): string {
    return addrText(this.remote);
  }
  get remotePort(): number {
    return this.remotePortNumber;
  }
  get remoteFamily(): 'IPv4' | 'IPv6' {
    return isV6(this.remote) ? 'IPv6' : 'IPv4';
  }
  get localAddress(): string | undefined {
    return this.localAddr === undefined ? undefined : addrText(this.localAddr);
  }
  get localPort(): number {
    return this.localPortNumber;
  }
  get connecting(): boolean {
    return !this.connected && !this.destroyed;
  }

  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress ?? '', family: this.remoteFamily, port: this.localPortNumber };
  }

  setNoDelay(noDelay = true): this {
    if (this.flow && !this.coreClosed)
      this.layer.user({ kind: 'set-options', now: this.layer.now, flow: this.flow, options: { noDelay } });
    return this;
  }

  setKeepAlive(enable = false, _initialDelay = 0): this {
    if (this.flow && !this.coreClosed)
      this.layer.user({
        kind: 'set-options',
        now: this.layer.now,
        flow: this.flow,
        options: { keepalive: enable },
      });
    return this;
  }

  /** Like net.Socket: 'timeout' after `ms` without activity (0 turns it off). */
  setTimeout(ms: number, cb?: () => void): this {
    this.idleTimeout = ms;
    if (cb) this.once('timeout', cb);
    this.touch();
    return this;
  }

  private touch(): void {
    const scheduler = this.layer.scheduler;
    if (this.idleTimer) scheduler.cancel(this.idleTimer);
    this.idleTimer = undefined;
    if (this.idleTimeout > 0 && !this.destroyed) {
      this.idleTimer = scheduler.at(scheduler.now() + this.idleTimeout, () => this.emit('timeout'));
    }
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  // Core notifications.
  onEstablished(): void {
    this.connected = true;
    this.emit('connect');
    this.emit('ready');
  }

  onReadable(): void {
    // Read once the frames that arrived together are all in (a timer at the same instant): one read
    // step per burst instead of one per segment, and the burst's ACK then shows the freed window.
    if (!this.wantsData || this.pullQueued) return;
    this.pullQueued = true;
    // Made on first use: an idle connection does not carry it.
    this.queuedPull ??= () => {
      this.pullQueued = false;
      if (this.wantsData && this.flow && this.connected && !this.coreClosed) this.pull();
    };
    this.layer.scheduler.at(this.layer.scheduler.now(), this.queuedPull);
  }

  private queuedPull: (() => void) | undefined;

  onWritable(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    this.writeChunk(p.data, p.cb);
  }

  onEof(): void {
    // The peer sends nothing more: move what is left into the stream now, whatever its backpressure
    // (at most a receive buffer), since the core forgets the receive queue once the close completes.
    this.pull(true);
  }

  onClosed(reason: CloseReason): void {
    const err = closeError(reason);
    if (err) {
      this.coreClosed = true;
      this.destroy(err);
      return;
    }
    // A normal close: take whatever is still readable, then end the readable side.
    this.pull(true);
    this.coreClosed = true;
    this.endReadable();
  }

  private endReadable(): void {
    if (this.readDone) return;
    this.readDone = true;
    this.push(null);
  }

  /** Moves received data from the core into the stream while it wants data (or all of it, `force`). */
  private pull(force = false): void {
    // push() may call back into _read (and so here) while chunks of an earlier read are still to be
    // pushed: a nested read would overtake them and reorder the stream. The running loop goes on
    // instead, as asked.
    this.forcePull ||= force;
    if (this.pulling) return;
    this.pulling = true;
    try {
      while ((this.forcePull || this.wantsData) && !this.readDone) {
        const r = this.layer.user({ kind: 'recv', now: this.layer.now, flow: this.flow, max: 64 * 1024 });
        if (r.kind !== 'data') return;
        for (const chunk of r.data) {
          this.bytesRead += chunk.length;
          // Views from the core are never written again: hand them over without a copy.
          this.wantsData = this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
        }
        if (r.length > 0) this.touch();
        if (r.eof) return this.endReadable();
        // Asking again for an empty queue would cost a whole core step per received segment.
        if (r.remaining === 0) return;
      }
    } finally {
      this.pulling = false;
      this.forcePull = false;
    }
  }

  override _read(): void {
    this.wantsData = true;
    if (this.flow && this.connected && !this.coreClosed) this.pull();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.connected) {
      this.once('connect', () => this._write(chunk, _enc, cb));
      return;
    }
    this.writeChunk(chunk, cb);
  }

  private writeChunk(data: Uint8Array, cb: (err?: Error | null) => void): void {
    if (this.coreClosed) return cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    const r = this.layer.user({ kind: 'send', now: this.layer.now, flow: this.flow, data });
    if (r.kind === 'error') return cb(Object.assign(new Error(`write ${r.error}`), { code: 'EPIPE' }));
    const accepted = r.kind === 'sent' ? r.accepted : 0;
    this.bytesWritten += accepted;
    this.touch();
    if (accepted >= data.length) return cb();
    this.pending = { data: data.subarray(accepted), cb };
  }

  override _final(cb: (err?: Error | null) => void): void {
    const finish = () => {
      if (!this.coreClosed) this.layer.user({ kind: 'shutdown', now: this.layer.now, flow: this.flow });
      cb();
    };
    if (!this.connected) this.once('connect', finish);
    else finish();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.idleTimer) this.layer.scheduler.cancel(this.idleTimer);
    if (this.flow && !this.coreClosed) {
      this.coreClosed = true;
      // After a graceful end both ways the core closes normally; destroy() before that resets (RST).
      const graceful = this.readableEnded && this.writableFinished && !err;
      this.layer.user({ kind: graceful ? 'close' : 'abort', now: this.layer.now, flow: this.flow });
    }
    const p = this.pending;
    this.pending = undefined;
    p?.cb(err ?? undefined);
    cb(err);
  }
}
