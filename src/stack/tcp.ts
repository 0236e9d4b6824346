/**
 * TCP in the driver: demux into the pure core (src/tcp/core), the one timer at its deadline, and
 * sockets with `node:net`'s shapes: `createServer`/`connect` give `Duplex` sockets whose events,
 * errors and fields are Node's (checked side by side against node:net in test/stack/net.test.ts), so
 * `http.createServer()` (through `server.emit('connection', socket)`) and `tls.connect({ socket })`
 * run on them.
 *
 * Errors are 'error' events, never throws, carrying Node's `code`, `errno`, `syscall`, `address` and
 * `port` (src/stack/errors.ts): ECONNREFUSED for a RST to our SYN, ETIMEDOUT (or the ICMP soft error
 * seen meanwhile, RFC 1122 §4.2.3.9) when the SYN or data retransmissions run out, EHOSTUNREACH and
 * ENETUNREACH from ICMP errors or a neighbour that never answered, ECONNRESET, and EPIPE for a write
 * after the peer reset a half-closed connection (Linux's tcp_reset in CLOSE-WAIT). Only programmer
 * errors (a bad port number, listening twice) throw, as in Node.
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
import { u16, u32 } from '../bytes.js';
import type { PseudoHeader } from '../checksum/index.js';
import type { Scheduler, TimerId } from '../clock.js';
import { IPPROTO_TCP } from '../ipproto.js';
import {
  type CloseReason,
  type ConnOptions,
  type ConnStats,
  type FlowKey,
  type IpAddr,
  type KeepaliveConfig,
  type SegmentOut,
  type SoftError,
  type TcpConfig,
  type TcpEvent,
  type TcpNotification,
  type TcpReply,
  type TcpStack,
  tcpConfig,
  tcpConnection,
  tcpConnections,
  tcpDeadline,
  tcpInit,
  tcpListener,
  tcpStep,
  addrKey,
  cutSegment,
  setChunks,
} from '../tcp/core/index.js';
import { digestStep, encodeTraceLine } from '../tcp/core/trace.js';
import type { Seq } from '../tcp/seq.js';
import { emitTcp, parseTcp, tcpHeaderLen } from '../tcp/wire.js';
import { GSO_MAX_IP_LEN } from '../link/gso.js';
import { offloadsOf } from '../link/vnet.js';
import { listenError, notFoundError, type SystemError, systemError, type TransportError } from './errors.js';
import type { GsoSend, Ipv4Datagram, Ipv4Layer, Ipv4Route } from './ipv4.js';
import type { Ipv6Datagram, Ipv6Layer, Ipv6Route } from './ipv6.js';
import type { StackEnv, TimedCore } from './layer.js';

/** Payload bytes one TSO super-frame holds whatever its IP and TCP headers (at most 60 each). */
const TSO_MAX = GSO_MAX_IP_LEN - 60 - 60;

/** Whether `link` cuts TCP super-frames of the family (carrying CWR: with TSO_ECN too). */
function takesTso(link: object, v6: boolean, cwr: boolean): boolean {
  const off = offloadsOf(link);
  return off !== undefined && (v6 ? off.tso6 : off.tso4) && (!cwr || off.tsoEcn);
}

/** Parse options for a segment whose checksum the link vouches for. */
const TRUSTED = { checksum: 'ignore' } as const;

function isV6(a: IpAddr): a is Ipv6Addr {
  return typeof a !== 'number';
}

function addrText(a: IpAddr): string {
  return isV6(a) ? ipv6ToString(a) : ipv4ToString(a as Ipv4Addr);
}

function familyOf(a: IpAddr): 'IPv4' | 'IPv6' {
  return isV6(a) ? 'IPv6' : 'IPv4';
}

function parseAddr(s: string): IpAddr | undefined {
  return parseIpv4Addr(s) ?? parseIpv6Addr(s);
}

/** Node's ERR_SOCKET_BAD_PORT, thrown (a programmer error, as in Node). */
function badPort(name: string, port: unknown, allowZero: boolean): RangeError {
  const range = allowZero ? '>= 0' : '> 0';
  return Object.assign(new RangeError(`${name} should be ${range} and < 65536. Received ${String(port)}.`), {
    code: 'ERR_SOCKET_BAD_PORT',
  });
}

/** A port as Node accepts it: an integer (or a string of one) in range. */
function checkPort(port: unknown, name: string, allowZero: boolean): number {
  const n = typeof port === 'string' && port.trim() !== '' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65_535) {
    throw badPort(name, port, allowZero);
  }
  return n;
}

/** Destinations whose path MTU is remembered (the oldest is forgotten first). */
const PMTU_CACHE_MAX = 1024;
/** RFC 1191 §6.3: a learnt PMTU is forgotten after 10 minutes, so that a path that grew is found again. */
const PMTU_EXPIRY = 10 * 60_000;
/** RFC 3168 §5: ECT(0), written on the segments the core marks `ect`. */
const ECT0 = 2;

/** RFC 6335 §6: the dynamic range, where `listen(0)` picks a port (Linux: ip_local_port_range). */
const LISTEN_EPHEMERAL_FIRST = 49_152;
const LISTEN_EPHEMERAL_COUNT = 65_536 - LISTEN_EPHEMERAL_FIRST;

/**
 * Node's `onread` (a `net.connect` option): received bytes are copied into `buffer` and handed to
 * `callback` instead of being emitted as 'data'. Nothing is allocated per read, and the receive
 * queue's blocks are reused, so a reader that consumes data as it comes (iperf3's receiver) costs
 * less. 'end', 'error' and 'close' come as usual; `pause()` and `resume()` work.
 */
export interface TcpOnread {
  /** Where the bytes go: one buffer used for every read, or a function giving the buffer for each. */
  readonly buffer: Uint8Array | (() => Uint8Array);
  /** The bytes copied and the buffer they are in, valid until the callback returns; false pauses. */
  readonly callback: (bytesRead: number, buffer: Uint8Array) => boolean | undefined;
}

/** Options a socket takes from `connect` or from its server (Node's names). */
export interface TcpSocketOptions {
  /** Keep the writable side open after the peer's FIN (default false: end it too, as node:net). */
  readonly allowHalfOpen?: boolean;
  /** Turn Nagle's algorithm off (RFC 9293 SHLD-7). */
  readonly noDelay?: boolean;
  readonly keepAlive?: boolean;
  /** ms of idleness before the first keep-alive probe (with `keepAlive`). */
  readonly keepAliveInitialDelay?: number;
  /** Read into a buffer instead of 'data' events (Node's option; for a server, every accepted socket). */
  readonly onread?: TcpOnread;
}

export interface TcpConnectOptions extends TcpSocketOptions {
  /** An IPv4 or IPv6 address (Oasis has no resolver: a name fails with ENOTFOUND). */
  readonly host?: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** As `socket.setTimeout(timeout)`. */
  readonly timeout?: number;
}

export interface TcpServerOptions extends TcpSocketOptions {
  /** Accepted sockets start paused and read nothing until resumed (node:net's option). */
  readonly pauseOnConnect?: boolean;
}

export interface TcpListenOptions {
  readonly port?: number;
  readonly host?: string;
  readonly backlog?: number;
}

export interface AddressInfo {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly port: number;
}

export class TcpLayer implements TimedCore {
  private core: TcpStack | undefined;
  /** Receives every trace line (the start, then each step) when set: see src/tcp/core/trace.ts. */
  trace: ((line: string) => void) | undefined;
  private readonly sockets = new Map<FlowKey, TcpSocket>();
  private readonly servers = new Map<number, TcpServer>();
  /** Path MTUs learnt from ICMP (RFC 1191 §6.3, RFC 8201 §5.3), by destination, in learning order. */
  private readonly pmtu = new Map<string, { readonly mtu: number; readonly at: number }>();

  constructor(
    private readonly env: StackEnv,
    private readonly ip4: Pick<Ipv4Layer, 'route' | 'send' | 'isOurs' | 'transportErrors'>,
    private readonly ip6: Pick<Ipv6Layer, 'route' | 'send' | 'isOurs' | 'transportErrors'>,
    /** The largest interface MTU: the MSS to advertise follows it. */
    private readonly largestMtu: () => number,
    private readonly settings: Partial<Omit<TcpConfig, 'secret'>>,
    /** The 16-byte secret (RFC 6528 §3); derived from the stack's seeded randomness when absent. */
    private readonly secret?: Uint8Array,
  ) {
    // RFC 1122 §4.2.3.9: "TCP MUST act on an ICMP error message passed up from the IP layer".
    ip4.transportErrors.set(IPPROTO_TCP, (e) => this.icmpError(e));
    ip6.transportErrors.set(IPPROTO_TCP, (e) => this.icmpError(e));
  }

  /** The core is made on first use, when the interfaces (and so the MSS to advertise) are known. */
  private get state(): TcpStack {
    if (!this.core) {
      const mtu = this.largestMtu();
      let secret = this.secret;
      if (secret === undefined) {
        secret = new Uint8Array(16);
        for (let i = 0; i < 16; i += 4) new DataView(secret.buffer).setUint32(i, this.env.random.next());
      }
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

  /** Bytes queued for sending across every connection (held against the `tcpMemory` limit). */
  get sendMemory(): number {
    return this.core?.sndMem ?? 0;
  }

  /** Bytes received and not yet read across every connection (held against the same limit). */
  get receiveMemory(): number {
    return this.core?.rcvMem ?? 0;
  }

  /** A connection's own counters (retransmissions, RTOs, tail probes...), while the core holds it. */
  connectionStats(flow: FlowKey): ConnStats | undefined {
    return this.core === undefined ? undefined : tcpConnection(this.core, flow)?.stats;
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
    const outputs = r.outputs;
    for (let i = 0; i < outputs.length; i++) {
      const o = outputs[i]!;
      if (o.kind !== 'segment') {
        this.notify(o);
        continue;
      }
      this.transmit(o);
    }
    this.env.rearm();
    return r.reply;
  }

  /**
   * Sends one output of the core. A TSO output (`segmentSize`: several segments, the connection's
   * `tsoMax` set from the link's offloads) leaves as one super-frame with a partial checksum where
   * the route's link cuts TCP for the family (docs/TAP.md "Offloads"), else as the segments it
   * stands for (`cutSegment`): the route may have moved to a link without offloads.
   */
  private transmit(seg: SegmentOut): void {
    const env = this.env;
    const hl = tcpHeaderLen(seg.repr);
    const size = seg.segmentSize;
    const v6 = isV6(seg.dst);
    const route = this.routeTo(seg.dst, seg.src);
    if (!route) return env.drop('tcp/no-route');
    let gso: GsoSend | undefined;
    if (size !== undefined) {
      const cwr = seg.repr.flags.cwr;
      if (!takesTso(route.iface.link, v6, cwr)) {
        for (const one of cutSegment(seg)) this.transmit(one);
        return;
      }
      gso = { size, headerLen: hl, ecn: cwr };
    }
    const checksum = gso === undefined ? 'fill' : 'offload';
    const write = (ph: PseudoHeader) => (buf: Uint8Array) => {
      setChunks(buf, seg.payload, hl);
      emitTcp(seg.repr, buf, ph, { checksum });
    };
    const ecn = seg.ect ? { ecn: ECT0 } : {};
    const upper = hl + seg.payloadLen;
    if (v6) {
      const r = route as Ipv6Route;
      const ph = { version: 6, src: r.src, dst: r.dst } as const;
      this.ip6.send(r, IPPROTO_TCP, upper, write(ph), gso === undefined ? ecn : { ...ecn, gso });
      return;
    }
    const r = route as Ipv4Route;
    const ph = { version: 4, src: r.src, dst: r.dst } as const;
    // RFC 1191 §3: TCP sets DF so that the path MTU is learned rather than fragments sent.
    const opts = gso === undefined ? { dontFragment: true, ...ecn } : { dontFragment: true, ...ecn, gso };
    this.ip4.send(r, IPPROTO_TCP, upper, write(ph), opts);
  }

  private notify(n: TcpNotification): void {
    // A new connection starts with what the driver knows of its path: the MTU learnt, TSO.
    if (n.kind === 'established') this.applyPathOptions(n.flow, n.local, n.remote);
    if (n.kind === 'established' && n.role === 'passive') {
      const server = this.servers.get(n.localPort);
      if (!server?.listening) {
        this.step({ kind: 'abort', now: this.env.now(), flow: n.flow });
        return;
      }
      const socket = new TcpSocket(this, server.socketOptions);
      socket.accepted(
        n.flow,
        n.local,
        n.localPort,
        n.remote,
        n.remotePort,
        server.socketOptions.pauseOnConnect ?? false,
      );
      this.sockets.set(n.flow, socket);
      server.accept(socket);
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
        socket.onClosed(n.reason, n.error, n.unread);
        break;
    }
  }

  input4(d: Ipv4Datagram, bytes: Uint8Array): void {
    // A checksum the link's offload vouches for (virtio DATA_VALID / NEEDS_CSUM) is not summed again.
    const r = parseTcp(
      bytes,
      { version: 4, src: d.src, dst: d.dst },
      d.checksumTrusted ? TRUSTED : undefined,
    );
    if (!r.ok) return this.env.drop(r.error);
    if (d.broadcast) return this.env.drop('tcp/broadcast');
    this.step({
      kind: 'segment',
      now: this.env.now(),
      src: d.src,
      dst: d.dst,
      repr: r.value.repr,
      payload: r.value.payload,
      ecn: d.ecn ?? 0,
    });
  }

  input6(d: Ipv6Datagram, bytes: Uint8Array): void {
    const r = parseTcp(
      bytes,
      { version: 6, src: d.src, dst: d.dst },
      d.checksumTrusted ? TRUSTED : undefined,
    );
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
      ecn: d.ecn ?? 0,
    });
  }

  /**
   * An ICMP error (or a neighbour that never answered) about one of our segments: the quoted header
   * names the connection and the sequence number the core checks (RFC 5927 §4.1). It is stepped from
   * a task at the same instant, as Linux handles it apart from the send that failed: a failure found
   * while a step is still sending (a neighbour already known to be unreachable) must not re-enter it.
   */
  private icmpError(e: TransportError<IpAddr>): void {
    const h = e.header;
    const localPort = u16(h, 0);
    const remotePort = u16(h, 2);
    const seq = u32(h, 4) as Seq;
    // The addresses may be views of the frame: copy what outlives this call.
    const local = isV6(e.local) ? (Uint8Array.from(e.local) as Ipv6Addr) : e.local;
    const remote = isV6(e.remote) ? (Uint8Array.from(e.remote) as Ipv6Addr) : e.remote;
    const error = e.kind.error;
    const mtu = e.mtu;
    if (mtu === undefined) this.env.counters.inc('tcp/icmp-error');
    else this.env.counters.inc('tcp/icmp-path-mtu');
    const scheduler = this.env.scheduler;
    scheduler.at(scheduler.now(), () => {
      const now = this.env.now();
      const event = { kind: 'icmp-error', now, local, localPort, remote, remotePort, seq, error } as const;
      if (mtu === undefined) return void this.step(event);
      // Learnt only if the core believed it (RFC 5927 §4.1: it quotes a sequence number in flight).
      const before = this.core?.counters['pmtu-lowered'] ?? 0;
      this.step({ ...event, mtu });
      if ((this.core?.counters['pmtu-lowered'] ?? 0) > before) this.learnPathMtu(remote, mtu, now);
    });
  }

  /** Remembers a smaller path MTU towards `remote` (bounded: the entry learnt first goes first). */
  private learnPathMtu(remote: IpAddr, mtu: number, now: number): void {
    const key = addrKey(remote);
    const old = this.pathMtu(key, now);
    if (old !== undefined && old <= mtu) return;
    this.pmtu.delete(key);
    if (this.pmtu.size >= PMTU_CACHE_MAX) {
      const oldest = this.pmtu.keys().next();
      if (!oldest.done) this.pmtu.delete(oldest.value);
    }
    this.pmtu.set(key, { mtu, at: now });
  }

  /** The path MTU learnt towards a destination less than 10 minutes ago (RFC 1191 §6.3), if any. */
  private pathMtu(key: string, now: number): number | undefined {
    const e = this.pmtu.get(key);
    if (e === undefined) return undefined;
    if (now - e.at >= PMTU_EXPIRY) {
      this.pmtu.delete(key);
      return undefined;
    }
    return e.mtu;
  }

  /** The path MTU the driver knows towards `remote` (for tests and status pages). */
  knownPathMtu(remote: IpAddr): number | undefined {
    return this.pathMtu(addrKey(remote), this.env.now());
  }

  /**
   * What the driver knows of a new connection's path: the path MTU already learnt towards the peer
   * (RFC 1191 §6.3), and TSO where the route's link cuts TCP for the family (docs/TAP.md "Offloads").
   */
  private applyPathOptions(flow: FlowKey, local: IpAddr, remote: IpAddr): void {
    const mtu = this.pathMtu(addrKey(remote), this.env.now());
    const route = this.routeTo(remote, local);
    const tso = route !== undefined && takesTso(route.iface.link, isV6(remote), false);
    if (mtu === undefined && !tso) return;
    const options = { ...(mtu === undefined ? {} : { pathMtu: mtu }), ...(tso ? { tsoMax: TSO_MAX } : {}) };
    this.step({ kind: 'set-options', now: this.env.now(), flow, options });
  }

  /** The route from `src` (any of our addresses when absent) towards `dst`. */
  private routeTo(dst: IpAddr, src: IpAddr | undefined): Ipv4Route | Ipv6Route | undefined {
    return isV6(dst)
      ? this.ip6.route(dst, src as Ipv6Addr | undefined)
      : this.ip4.route(dst as Ipv4Addr, src as Ipv4Addr | undefined);
  }

  deadline(): number {
    return this.core ? (tcpDeadline(this.core) ?? Number.POSITIVE_INFINITY) : Number.POSITIVE_INFINITY;
  }

  tick(now: number): void {
    const d = this.core && tcpDeadline(this.core);
    if (d !== null && d !== undefined && d <= now) this.step({ kind: 'tick', now });
  }

  /** Like `net.createServer([options][, connectionListener])`. */
  createServer(onConnection?: (socket: TcpSocket) => void): TcpServer;
  createServer(options: TcpServerOptions, onConnection?: (socket: TcpSocket) => void): TcpServer;
  createServer(
    a?: TcpServerOptions | ((socket: TcpSocket) => void),
    b?: (socket: TcpSocket) => void,
  ): TcpServer {
    const options = typeof a === 'object' && a !== null ? a : {};
    const onConnection = typeof a === 'function' ? a : b;
    const server = new TcpServer(this, options);
    if (onConnection) server.on('connection', onConnection);
    return server;
  }

  /**
   * @internal used by TcpServer: takes the port (a free one for 0), or says why not as Node's error.
   * Listening is per port in the core: a second listener on another address of the same port is
   * EADDRINUSE.
   */
  listen(server: TcpServer, port: number, host: string | undefined, backlog?: number): number | Error {
    const wildcard = host === undefined || host === '::' || host === '0.0.0.0';
    const addr = wildcard ? undefined : parseAddr(host);
    const shown = host ?? '::';
    if (!wildcard && addr === undefined) return notFoundError(host);
    if (addr !== undefined && !(isV6(addr) ? this.ip6.isOurs(addr) : this.ip4.isOurs(addr as Ipv4Addr))) {
      return listenError('EADDRNOTAVAIL', shown, port);
    }
    const candidates = port === 0 ? this.freePorts() : [port];
    for (const p of candidates) {
      const r = this.step({
        kind: 'listen',
        now: this.env.now(),
        port: p,
        ...(backlog === undefined || !(backlog >= 0) ? {} : { backlog: Math.floor(backlog) }),
        ...(addr === undefined ? {} : { addr }),
      });
      if (r.kind === 'ok') {
        this.servers.set(p, server);
        return p;
      }
      if (r.kind !== 'error' || r.error !== 'port-in-use') return listenError('EINVAL', shown, port);
    }
    return listenError('EADDRINUSE', shown, port);
  }

  /** RFC 6056 §3.3.1 (algorithm 1) for `listen(0)`: from a random start, the ports no listener holds. */
  private *freePorts(): Generator<number> {
    const start = this.env.random.int(LISTEN_EPHEMERAL_COUNT);
    for (let i = 0; i < LISTEN_EPHEMERAL_COUNT; i++) {
      const p = LISTEN_EPHEMERAL_FIRST + ((start + i) % LISTEN_EPHEMERAL_COUNT);
      if (tcpListener(this.state, p) === undefined) yield p;
    }
  }

  /** @internal used by TcpServer */
  unlisten(port: number): void {
    this.servers.delete(port);
    this.step({ kind: 'unlisten', now: this.env.now(), port });
  }

  /**
   * Like `net.connect(options[, connectListener])` / `net.connect(port[, host][, connectListener])`:
   * the socket emits 'connect' once established, or 'error' then 'close' with `hadError`.
   */
  connect(options: TcpConnectOptions, onConnect?: () => void): TcpSocket;
  connect(port: number, host?: string, onConnect?: () => void): TcpSocket;
  connect(port: number, onConnect?: () => void): TcpSocket;
  connect(a: TcpConnectOptions | number, b?: string | (() => void), c?: () => void): TcpSocket {
    const opts: TcpConnectOptions =
      typeof a === 'object' ? a : { port: a, ...(typeof b === 'string' ? { host: b } : {}) };
    const onConnect = typeof b === 'function' ? b : c;
    const port = checkPort(opts.port, 'Port', false);
    if (opts.localPort !== undefined) checkPort(opts.localPort, 'options.localPort', true);
    const socket = new TcpSocket(this, opts);
    if (onConnect) socket.once('connect', onConnect);
    if (opts.timeout !== undefined) socket.setTimeout(opts.timeout);
    const host = opts.host ?? 'localhost';
    const fail = (err: Error) => {
      process.nextTick(() => socket.destroy(err));
      return socket;
    };
    const remote = parseAddr(host);
    if (remote === undefined) return fail(notFoundError(host));
    socket.connecting = true;
    socket.target(remote, port);
    const wildcard = isV6(remote) ? '::' : '0.0.0.0';
    let local: IpAddr | undefined;
    if (opts.localAddress !== undefined) {
      local = parseAddr(opts.localAddress);
      const ours =
        local !== undefined &&
        isV6(local) === isV6(remote) &&
        (isV6(local) ? this.ip6.isOurs(local) : this.ip4.isOurs(local as Ipv4Addr));
      if (!ours) return fail(systemError('bind', 'EADDRNOTAVAIL', opts.localAddress, opts.localPort ?? 0));
    }
    const route = this.routeTo(remote, local);
    // Linux's connect() fails at once without a route; Node adds the (unbound) local end.
    if (!route) return fail(systemError('connect', 'ENETUNREACH', host, port, `${wildcard}:0`));
    local ??= route.src;
    const options = socket.connOptions();
    const r = this.step({
      kind: 'connect',
      now: this.env.now(),
      params: {
        local,
        remote,
        remotePort: port,
        ...(opts.localPort === undefined || opts.localPort === 0 ? {} : { localPort: opts.localPort }),
        ...(options === undefined ? {} : { options }),
      },
    });
    if (r.kind !== 'connected') {
      const code =
        r.kind === 'error'
          ? { 'no-ports': 'EADDRNOTAVAIL', 'connection-exists': 'EADDRINUSE', 'no-resources': 'ENOBUFS' }[
              r.error as string
            ]
          : undefined;
      return fail(systemError('connect', code ?? 'EINVAL', host, port));
    }
    socket.attach(r.flow, local, r.localPort);
    this.sockets.set(r.flow, socket);
    return socket;
  }

  /** @internal the socket is gone for the user: notifications about its connection are not its any more. */
  forget(flow: FlowKey): void {
    this.sockets.delete(flow);
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
    for (const server of [...this.servers.values()]) server.close();
  }
}

export class TcpServer extends EventEmitter<{
  connection: [TcpSocket];
  listening: [];
  close: [];
  error: [Error];
}> {
  private bound: { readonly port: number; readonly host: string | undefined } | undefined;
  /** `listen(port, host)` was called: the port is taken on the next tick, as Node's lookup. */
  private binding = false;
  private connections = 0;

  constructor(
    private readonly layer: TcpLayer,
    /** @internal what accepted sockets are made with */
    readonly socketOptions: TcpServerOptions = {},
  ) {
    super();
  }

  /** Like net.Server: true from a successful `listen()` to `close()`. */
  get listening(): boolean {
    return this.bound !== undefined;
  }

  /**
   * Like `net.Server.listen`: port 0 (or none) picks a free port, which `address()` reports at once
   * (with a host, a tick later: Node looks the host up first), and 'listening' follows on the next
   * tick; a port in use is an 'error' event (EADDRINUSE), not a throw.
   */
  listen(port?: number, host?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number, host?: string, listeningListener?: () => void): this;
  listen(port?: number, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number, listeningListener?: () => void): this;
  listen(options: TcpListenOptions, listeningListener?: () => void): this;
  listen(listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    let port: unknown;
    let host: unknown;
    let backlog: unknown;
    const first = args[0];
    if (first !== null && typeof first === 'object') {
      ({ port, host, backlog } = first as TcpListenOptions);
    } else {
      [port, host, backlog] = args;
      if (typeof host === 'number') [host, backlog] = [undefined, host];
    }
    if (this.bound !== undefined || this.binding) {
      throw Object.assign(new Error('Listen method has been called more than once without closing.'), {
        code: 'ERR_SERVER_ALREADY_LISTEN',
      });
    }
    const p = port === undefined || port === null ? 0 : checkPort(port, 'options.port', true);
    const h = typeof host === 'string' ? host : undefined;
    if (cb) this.once('listening', cb);
    const bind = () => {
      // close() before the lookup was over: nothing to bind.
      if (!this.binding) return;
      this.binding = false;
      const r = this.layer.listen(this, p, h, typeof backlog === 'number' ? backlog : undefined);
      if (typeof r !== 'number') {
        process.nextTick(() => this.emit('error', r));
        return;
      }
      this.bound = { port: r, host: h };
      process.nextTick(() => {
        if (this.bound !== undefined) this.emit('listening');
      });
    };
    // Node binds at once without a host, and after looking the host up (a tick later) with one.
    this.binding = true;
    if (h === undefined) bind();
    else process.nextTick(bind);
    return this;
  }

  address(): AddressInfo | null {
    const b = this.bound;
    if (b === undefined) return null;
    const host = b.host ?? '::';
    const a = parseAddr(host);
    return {
      address: a === undefined ? host : addrText(a),
      family: a === undefined ? 'IPv6' : familyOf(a),
      port: b.port,
    };
  }

  /**
   * Like `net.Server.close`: stops accepting at once; 'close' (and `cb`) once every accepted connection
   * has closed. Not listening: `cb` gets ERR_SERVER_NOT_RUNNING.
   */
  close(cb?: (err?: Error) => void): this {
    if (cb) {
      const running = this.bound !== undefined;
      this.once('close', () =>
        running
          ? cb()
          : cb(Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' })),
      );
    }
    if (this.bound !== undefined) this.layer.unlisten(this.bound.port);
    this.bound = undefined;
    this.binding = false;
    this.closeIfDrained();
    return this;
  }

  /** Like `net.Server.getConnections`. */
  getConnections(cb: (err: Error | null, count: number) => void): this {
    process.nextTick(() => cb(null, this.connections));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** @internal a connection the core established on our port. */
  accept(socket: TcpSocket): void {
    this.connections++;
    // A reference rather than a closure: an idle connection carries no function of its own.
    socket.owner = this;
    this.emit('connection', socket);
  }

  /** @internal an accepted socket was destroyed: counted out before its own 'close' (net.Socket's _destroy). */
  released(): void {
    this.connections--;
    if (this.bound === undefined) this.closeIfDrained();
  }

  private closeIfDrained(): void {
    if (this.connections > 0) return;
    process.nextTick(() => this.emit('close'));
  }
}

/** The receive window, not the stream, bounds buffering: keep the stream's own buffers small. */
const HIGH_WATER_MARK = 64 * 1024;
/**
 * What a writer may queue beyond the TCP send buffer before write() says wait: Node's net.Socket
 * default (16 KB). The send buffer does the buffering; more here only held bytes per peer that does
 * not read (500 such peers held ~64 MB more with 64 KB, bench/hardening.ts).
 */
const WRITABLE_HIGH_WATER_MARK = 16 * 1024;

/** The options of a socket given none (most of them): one object for all, replaced and never edited. */
const NO_OPTIONS: ConnOptions = Object.freeze({});

/** A write waiting for the connection or for room in the send buffer. */
interface PendingWrite {
  data: Uint8Array;
  readonly cb: (err?: Error | null) => void;
}

/**
 * A TCP connection as a Node Duplex stream with `net.Socket`'s fields and events: 'connect' and
 * 'ready', 'data', 'end' (the peer's FIN; not after `destroy()`), 'timeout', 'error', and 'close'
 * with `hadError`.
 */
export class TcpSocket extends Duplex {
  private flow: FlowKey = '';
  private localAddr: IpAddr | undefined;
  private localPortNumber: number | undefined;
  private remote: IpAddr | undefined;
  private remotePortNumber: number | undefined;
  private connected = false;
  /** `connect()` was called and the connection is not established yet. */
  connecting = false;
  private wantsData = false;
  /** pull() is running; `forcePull`: a call during it asked for everything. */
  private pulling = false;
  private forcePull = false;
  /** A read is queued for the end of this burst (onReadable). */
  private pullQueued = false;
  private readDone = false;
  /** The core forgot the connection (or was told to): no more user calls for it. */
  private coreClosed = false;
  /** The peer's FIN arrived / our FIN was queued (shutdown). */
  private eofSeen = false;
  private finQueued = false;
  /** The peer reset the connection after its FIN: the next write fails with EPIPE. */
  private peerReset = false;
  /** destroy() should reset (RST) rather than close: `resetAndDestroy()`. */
  private resetOnDestroy = false;
  /** Node's handle would be reading (libuv fills the stream's buffer up to its high-water mark). */
  private reading = false;
  private held: PendingWrite | undefined;
  /** `end()` before the connection was established: the FIN waits for it. */
  private pendingFinal: ((err?: Error | null) => void) | undefined;
  private options: ConnOptions;
  private onread: TcpOnread | undefined;
  private zeroCopyWrites = false;
  /** @internal the server that accepted it, told when it is destroyed (it counts its connections). */
  owner: TcpServer | undefined;
  private idleTimeout = 0;
  private idleTimer: TimerId | undefined;
  bytesRead = 0;
  bytesWritten = 0;
  /** The connection's counters as last seen (kept once the core has forgotten it). */
  private lastStats: ConnStats | undefined;

  constructor(
    private readonly layer: TcpLayer,
    opts: TcpSocketOptions = {},
  ) {
    // Node's sockets emit 'close' themselves, with `hadError` (net.js: emitClose false).
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      emitClose: false,
      readableHighWaterMark: HIGH_WATER_MARK,
      writableHighWaterMark: WRITABLE_HIGH_WATER_MARK,
    });
    this.options =
      opts.noDelay === undefined && opts.keepAlive === undefined
        ? NO_OPTIONS
        : {
            ...(opts.noDelay === undefined ? {} : { noDelay: opts.noDelay }),
            ...(opts.keepAlive === undefined ? {} : { keepalive: opts.keepAlive }),
            ...keepAliveIdle(opts.keepAlive ?? false, opts.keepAliveInitialDelay ?? 0),
          };
    if (opts.onread !== undefined) this.setOnread(opts.onread);
  }

  /**
   * Switches to reading into a buffer (`onread`), as the `onread` option does from the start: what
   * the stream already holds is handed over first, in order. Not in Node's API, whose servers take no
   * `onread`; here a server's socket can switch after reading a header with 'data' events.
   */
  setOnread(onread: TcpOnread): void {
    const first = this.onread === undefined;
    this.onread = onread;
    if (!first) return;
    const start = () => {
      this.handOverHeld();
      this.wantsData = true;
      if (this.connected) this.pull();
    };
    // Nothing is pushed into the stream any more, so Readable never asks again (_read): resuming does.
    // (Emitted before the stream flows again, so what it holds goes to the callback, not to 'data'.)
    this.on('resume', start);
    if (!this.isPaused()) start();
  }

  private onreadBuffer(): Uint8Array {
    const b = this.onread!.buffer;
    return typeof b === 'function' ? b() : b;
  }

  /** Copies `bytes` through the `onread` buffer to its callback, as many times as it takes. */
  private callOnread(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) {
      const into = this.onreadBuffer();
      const n = Math.min(into.length, bytes.length - at);
      into.set(bytes.subarray(at, at + n));
      at += n;
      if (this.onread!.callback(n, into) === false) this.pause();
    }
  }

  /** With `onread`: what the stream holds (read before the switch, or kept while paused) goes first. */
  private handOverHeld(): void {
    for (let held = this.read() as Buffer | null; held !== null; held = this.read() as Buffer | null) {
      this.callOnread(held);
    }
  }

  /**
   * The connection's own counters (`ConnStats`: segments retransmitted, RTOs, tail loss probes,
   * recoveries, spurious reductions undone, CE marks); after the connection ended, its last ones.
   * Undefined before it was opened.
   */
  get stats(): ConnStats | undefined {
    if (this.flow !== '') this.lastStats = this.layer.connectionStats(this.flow) ?? this.lastStats;
    return this.lastStats;
  }

  /** @internal the options to open the connection with (applied by the core at `connect`). */
  connOptions(): ConnOptions | undefined {
    return Object.keys(this.options).length === 0 ? undefined : this.options;
  }

  /** @internal where `connect()` goes. */
  target(remote: IpAddr, port: number): void {
    this.remote = remote;
    // `| 0`: a port read from a record's double field arrives boxed; a small integer is stored unboxed.
    this.remotePortNumber = port | 0;
  }

  /** @internal the core accepted `connect`. */
  attach(flow: FlowKey, local: IpAddr, localPort: number): void {
    this.flow = flow;
    this.localAddr = local;
    this.localPortNumber = localPort | 0;
  }

  /** @internal a connection accepted by a server: established already. */
  accepted(
    flow: FlowKey,
    local: IpAddr,
    localPort: number,
    remote: IpAddr,
    remotePort: number,
    paused: boolean,
  ): void {
    this.attach(flow, local, localPort);
    this.target(remote, remotePort);
    this.connected = true;
    // Node starts reading an accepted socket at once, unless the server pauses them on connect.
    if (paused) this.pause();
    else this.reading = true;
    const o = this.connOptions();
    if (o !== undefined) this.layer.user({ kind: 'set-options', now: this.layer.now, flow, options: o });
  }

  get remoteAddress(): string | undefined {
    return this.connected && this.remote !== undefined ? addrText(this.remote) : undefined;
  }
  get remotePort(): number | undefined {
    return this.connected ? this.remotePortNumber : undefined;
  }
  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.connected && this.remote !== undefined ? familyOf(this.remote) : undefined;
  }
  get localAddress(): string | undefined {
    return this.connected && this.localAddr !== undefined ? addrText(this.localAddr) : undefined;
  }
  get localPort(): number | undefined {
    return this.connected ? this.localPortNumber : undefined;
  }
  get localFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.connected && this.localAddr !== undefined ? familyOf(this.localAddr) : undefined;
  }
  /** Like net.Socket: true until connected. */
  get pending(): boolean {
    return !this.connected;
  }
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }
  get timeout(): number | undefined {
    return this.idleTimeout > 0 ? this.idleTimeout : undefined;
  }

  /** The local end, like `net.Socket.address()` (an empty object before the connection is up). */
  address(): AddressInfo | Record<string, never> {
    if (!this.connected || this.localAddr === undefined || this.localPortNumber === undefined) return {};
    return {
      address: addrText(this.localAddr),
      family: familyOf(this.localAddr),
      port: this.localPortNumber,
    };
  }

  setNoDelay(noDelay = true): this {
    this.setOptions({ noDelay });
    return this;
  }

  /**
   * Zero-copy writes (not in Node; Linux's MSG_ZEROCOPY without its completion notices): each chunk
   * written afterwards is queued as it is, not copied, so the writer must never modify a chunk once
   * written — TCP reads it until the peer acknowledges it, retransmissions included. For data that
   * never changes (a file's cached bytes, iperf3's block).
   */
  setZeroCopyWrites(enable = true): this {
    this.zeroCopyWrites = enable;
    return this;
  }

  /** Like net.Socket: `initialDelay` ms (whole seconds, as Node) before the first probe; 0 keeps it. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.setOptions({ keepalive: enable, ...keepAliveIdle(enable, initialDelay) });
    return this;
  }

  private setOptions(o: ConnOptions): void {
    this.options = { ...this.options, ...o };
    if (this.flow && !this.coreClosed)
      this.layer.user({ kind: 'set-options', now: this.layer.now, flow: this.flow, options: o });
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

  /** Like net.Socket: closes the connection with a RST (RFC 9293 §3.10.5 ABORT) and destroys the stream. */
  resetAndDestroy(): this {
    this.resetOnDestroy = true;
    return this.destroy();
  }

  // Core notifications.
  onEstablished(): void {
    this.connected = true;
    this.connecting = false;
    // net.js afterConnect: reading starts unless the user paused the socket.
    if (!this.isPaused()) this.reading = true;
    this.emit('connect');
    this.emit('ready');
    const p = this.held;
    this.held = undefined;
    if (p) this.writeChunk(p.data, p.cb);
    const f = this.pendingFinal;
    this.pendingFinal = undefined;
    if (f) this._final(f);
    if (this.wantsData) this.pull();
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
    const p = this.held;
    if (!p) return;
    this.held = undefined;
    this.writeChunk(p.data, p.cb);
  }

  onEof(): void {
    this.eofSeen = true;
    // The peer sends nothing more: move what is left into the stream now, whatever its backpressure
    // (at most a receive buffer), since the core forgets the receive queue once the close completes.
    this.pull(true);
  }

  onClosed(reason: CloseReason, error: SoftError | undefined, unread?: readonly Uint8Array[]): void {
    const host = this.remote === undefined ? undefined : addrText(this.remote);
    const port = this.remotePortNumber;
    const connectError = (code: string) => systemError('connect', code, host, port);
    // Bytes that arrived before the end are read first, as from a kernel socket (then EOF or the error).
    if (unread !== undefined && !this.readDone) {
      for (const chunk of unread) {
        this.bytesRead += chunk.length;
        if (this.onread !== undefined && !this.isPaused()) this.callOnread(chunk);
        else this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      }
    }
    switch (reason) {
      case 'normal':
        // Take whatever is still readable, then end the readable side.
        this.pull(true);
        this.coreClosed = true;
        this.endReadable();
        return;
      case 'refused':
        return this.fail(connectError('ECONNREFUSED'));
      case 'connect-timeout':
        return this.fail(connectError(error ?? 'ETIMEDOUT'));
      case 'unreachable':
        return this.fail(connectError(error ?? 'EHOSTUNREACH'));
      case 'reset':
        if (this.eofSeen && !this.finQueued) {
          // Linux's tcp_reset: a RST in CLOSE-WAIT is EPIPE, seen by the next write (the reading side
          // is over), and nothing at all if the user only ends the socket (Node's shutdown ENOTCONN).
          this.coreClosed = true;
          this.peerReset = true;
          const p = this.held;
          this.held = undefined;
          p?.cb(systemError('write', 'EPIPE'));
          return;
        }
        return this.fail(systemError('read', 'ECONNRESET'));
      case 'timeout':
      case 'keepalive-timeout':
        return this.fail(systemError('read', error ?? 'ETIMEDOUT'));
      case 'fin-wait-2':
      case 'aborted':
      case 'local':
        // Our own doing (close/abort): the stream is destroyed already or is now.
        this.coreClosed = true;
        this.destroy();
        return;
    }
  }

  private fail(err: SystemError): void {
    this.coreClosed = true;
    this.destroy(err);
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
    if (this.pulling || this.coreClosed || !this.flow) return;
    this.pulling = true;
    try {
      if (this.onread !== undefined) return this.pullInto(this.onread);
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

  /** pull() for `onread`: copies into the buffer and calls back until the queue is empty or paused. */
  private pullInto(onread: TcpOnread): void {
    while ((this.forcePull || this.wantsData) && !this.isPaused() && !this.readDone && !this.coreClosed) {
      const into = this.onreadBuffer();
      const r = this.layer.user({ kind: 'recv', now: this.layer.now, flow: this.flow, into });
      if (r.kind !== 'data') return;
      if (r.length > 0) {
        this.bytesRead += r.length;
        this.touch();
        if (onread.callback(r.length, into) === false) this.pause();
      }
      if (r.eof) {
        this.endReadable();
        // With nothing in the stream, a read ends it ('end') whether it flows or not, as net.js does.
        this.read(0);
        return;
      }
      if (r.remaining === 0) return;
    }
  }

  override _read(): void {
    this.wantsData = true;
    this.reading = true;
    if (this.connected) this.pull();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.connected) {
      // Sent once the connection is up (net.Socket holds it the same way).
      this.held = { data: chunk, cb };
      return;
    }
    this.writeChunk(chunk, cb);
  }

  private writeChunk(data: Uint8Array, cb: (err?: Error | null) => void): void {
    if (this.peerReset) return cb(systemError('write', 'EPIPE'));
    if (this.coreClosed) return cb(systemError('write', 'EPIPE'));
    const shared = this.zeroCopyWrites;
    const r = this.layer.user({ kind: 'send', now: this.layer.now, flow: this.flow, data, shared });
    if (r.kind === 'error') return cb(systemError('write', 'EPIPE'));
    const accepted = r.kind === 'sent' ? r.accepted : 0;
    this.bytesWritten += accepted;
    this.touch();
    if (accepted >= data.length) return cb();
    this.held = { data: data.subarray(accepted), cb };
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.connected) {
      this.pendingFinal = cb;
      return;
    }
    // After a RST the FIN has nowhere to go: Node's shutdown() ignores ENOTCONN, and so do we.
    if (!this.coreClosed) {
      this.finQueued = true;
      this.layer.user({ kind: 'shutdown', now: this.layer.now, flow: this.flow });
    }
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.idleTimer) this.layer.scheduler.cancel(this.idleTimer);
    this.connecting = false;
    if (this.flow && !this.coreClosed) {
      this.coreClosed = true;
      // Like close(2) on the socket: no more events for it; FIN after what is queued, or RST when
      // received data was left unread (RFC 9293 SHLD-3, as Linux). `resetAndDestroy()` resets.
      this.layer.forget(this.flow);
      // What Node's reading handle would have taken into the stream's buffer is not unread for the
      // kernel: take (and drop) as much here, so that the same close is a FIN on both.
      const room = this.readableHighWaterMark - this.readableLength;
      if (this.reading && !this.resetOnDestroy && room > 0)
        this.layer.user({ kind: 'recv', now: this.layer.now, flow: this.flow, max: room });
      this.layer.user({
        kind: this.resetOnDestroy ? 'abort' : 'close',
        now: this.layer.now,
        flow: this.flow,
      });
    }
    const p = this.held;
    this.held = undefined;
    p?.cb(err ?? undefined);
    const owner = this.owner;
    this.owner = undefined;
    owner?.released();
    cb(err);
    // After the stream's own 'error' (queued by cb above): 'close' with hadError, as net.Socket.
    process.nextTick(() => this.emit('close', err !== null && err !== undefined));
  }
}

/**
 * Node's `setKeepAlive(true, initialDelay)` on Linux (libuv 1.46 uv__tcp_keepalive): TCP_KEEPIDLE in
 * whole seconds, TCP_KEEPINTVL 1 s and TCP_KEEPCNT 10; a delay under a second keeps the current times.
 */
function keepAliveIdle(enable: boolean, initialDelay: number): { keepaliveTimes?: KeepaliveConfig } {
  const seconds = Math.trunc(initialDelay / 1000);
  return enable && seconds > 0 ? { keepaliveTimes: { idle: seconds * 1000, interval: 1000, count: 10 } } : {};
}
