/**
 * UDP sockets (RFC 768; RFC 1122 §4.1.3) with `node:dgram`'s shapes, checked side by side against
 * node:dgram in test/stack/dgram.test.ts: `createSocket('udp4' | 'udp6')`, `bind(port, address, cb)`
 * with 'listening', `send(msg, port, address, cb)` whose callback gets the error (EMSGSIZE,
 * ENETUNREACH) or the bytes sent, `connect`/`disconnect` (a connected socket sends without an
 * address, hears only its peer, and learns of ICMP errors about what it sent: RFC 1122 §4.1.3.3),
 * `address()`, `close(cb)`, and 'error' events for what goes wrong (EADDRINUSE from `bind` included).
 * Beyond dgram: `setSegmentSize` (Linux's UDP_SEGMENT), many datagrams to a send, as one USO
 * super-frame over a TAP with offloads (docs/TAP.md).
 *
 * `stack.udp.bind(port, address)` keeps the older shape the services use: a socket bound at once
 * (EADDRINUSE thrown), dual-stack on a wildcard address, sends that fail counted rather than reported.
 * Datagrams for a port nobody bound get ICMP port unreachable from the IP layer.
 */
import { EventEmitter } from 'node:events';
import {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4ToString,
  ipv6Equal,
  ipv6ToString,
  parseIpv4Addr,
  parseIpv6Addr,
} from '../addr.js';
import { u16 } from '../bytes.js';
import type { PseudoHeader } from '../checksum/index.js';
import { IPPROTO_UDP } from '../ipproto.js';
import { IPV4_MIN_HEADER_LEN } from '../ipv4/wire.js';
import { IPV6_HEADER_LEN } from '../ipv6/wire.js';
import { offloadsOf } from '../link/vnet.js';
import { emitUdp, parseUdp, UDP_HEADER_LEN, type UdpEmitOptions, type UdpRepr } from '../udp/wire.js';
import { type SystemError, systemError, type TransportError } from './errors.js';
import type { GsoSend, Ipv4Datagram, Ipv4Layer, Ipv4Route } from './ipv4.js';
import type { Ipv6Datagram, Ipv6Layer, Ipv6Route } from './ipv6.js';
import type { Random } from '../random.js';
import type { StackEnv } from './layer.js';

export interface RemoteInfo {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly port: number;
  readonly size: number;
}

export interface AddressInfo {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly port: number;
}

export type UdpSocketType = 'udp4' | 'udp6';

export interface UdpSocketOptions {
  readonly type: UdpSocketType;
}

export interface UdpBindOptions {
  readonly port?: number;
  readonly address?: string;
}

/** RFC 6335 §6: the dynamic port range. */
/** Parse options for a datagram whose checksum the link vouches for. */
const TRUSTED = { checksum: 'ignore' } as const;

const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_COUNT = 65536 - EPHEMERAL_FIRST;
/** Largest UDP payload: 65535 - 8 (UDP), less 20 more for the IPv4 header (Linux's EMSGSIZE bound). */
export const MAX_PAYLOAD_V4 = 65507;
const MAX_PAYLOAD_V6 = 65527;
/**
 * Datagrams one send may carry with a segment size (Linux's UDP_MAX_SEGMENTS: 64 until 6.9, 128
 * since; the smaller, so a super-frame is one every USO kernel takes).
 */
export const UDP_MAX_SEGMENTS = 64;

/** Where a send goes: its ports, its route, and the pseudo-header of each of its datagrams. */
interface UdpOut {
  readonly header: UdpRepr;
  readonly route: Ipv4Route | Ipv6Route;
  readonly ph: PseudoHeader;
}

export interface UdpSocketEvents {
  message: [msg: Buffer, rinfo: RemoteInfo];
  listening: [];
  connect: [];
  close: [];
  error: [err: Error];
}

type IpAddr = Ipv4Addr | Ipv6Addr;

function isWildcard(address: string | undefined): boolean {
  return address === undefined || address === '0.0.0.0' || address === '::';
}

function parseAddr(s: string): IpAddr | undefined {
  return parseIpv4Addr(s) ?? parseIpv6Addr(s);
}

function isV6(a: IpAddr): a is Ipv6Addr {
  return typeof a !== 'number';
}

function addrText(a: IpAddr): string {
  return isV6(a) ? ipv6ToString(a) : ipv4ToString(a);
}

function sameAddr(a: IpAddr, b: IpAddr): boolean {
  return isV6(a) ? isV6(b) && ipv6Equal(a, b) : a === b;
}

/** Node's errors for programmer mistakes (thrown, as Node does). */
function nodeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function checkPort(port: unknown, allowZero: boolean): number {
  const n = typeof port === 'string' && port.trim() !== '' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65_535) {
    const range = allowZero ? '>= 0' : '> 0';
    throw Object.assign(new RangeError(`Port should be ${range} and < 65536. Received ${String(port)}.`), {
      code: 'ERR_SOCKET_BAD_PORT',
    });
  }
  return n;
}

export type SendCallback = (error: Error | null, bytes?: number) => void;

/**
 * A UDP socket like `dgram.Socket`. Made by `stack.udp.createSocket(type)` (unbound, Node's rules) or
 * by `stack.udp.bind(port, address)` (bound, dual-stack, quiet sends: the older API).
 */
export class UdpSocket extends EventEmitter<UdpSocketEvents> {
  private state: 'unbound' | 'bound' | 'closed' = 'unbound';
  private boundPort = 0;
  private bound: string | undefined;
  private peer: { readonly ip: IpAddr; readonly address: string; readonly port: number } | undefined;
  private connectPending = false;
  private segment = 0;

  constructor(
    private readonly layer: UdpLayer,
    /** 'udp4' hears IPv4 only; 'udp6' and the older sockets hear both on a wildcard address. */
    readonly type: UdpSocketType | 'dual',
  ) {
    super();
  }

  /** The bound port (0 before `bind`). */
  get port(): number {
    return this.boundPort;
  }

  /** Bound local address in canonical text form, or undefined for every address of the stack. */
  get localAddress(): string | undefined {
    return this.bound;
  }

  /** @internal */
  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  /** @internal */
  get connectedPeer(): { readonly ip: IpAddr; readonly port: number } | undefined {
    return this.peer;
  }

  /** @internal the older API: bound at once. */
  boundAt(port: number, address: string | undefined): void {
    this.state = 'bound';
    this.boundPort = port;
    this.bound = address;
  }

  /** Hears `family` datagrams on a wildcard address? */
  hears(family: 'IPv4' | 'IPv6'): boolean {
    return this.type === 'dual' || this.type === 'udp6' || family === 'IPv4';
  }

  /**
   * Like `dgram.Socket.address()`; throws (Node's `getsockname EBADF`) before the socket is bound.
   */
  address(): AddressInfo {
    if (this.state !== 'bound') throw systemError('getsockname', 'EBADF');
    const address = this.bound ?? (this.type === 'udp4' ? '0.0.0.0' : '::');
    return { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: this.boundPort };
  }

  /** Like `dgram.Socket.remoteAddress()`: the connected peer (throws when not connected, as Node). */
  remoteAddress(): AddressInfo {
    const p = this.peer;
    if (p === undefined || this.connectPending)
      throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: p.address, family: isV6(p.ip) ? 'IPv6' : 'IPv4', port: p.port };
  }

  /**
   * Like `dgram.Socket.bind([port][, address][, callback])` or `bind(options[, callback])`:
   * 'listening' (and `callback`) on the next tick, or an 'error' event (EADDRINUSE, EADDRNOTAVAIL).
   */
  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port?: number, callback?: () => void): this;
  bind(callback?: () => void): this;
  bind(options: UdpBindOptions, callback?: () => void): this;
  bind(...args: unknown[]): this {
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    const first = args[0];
    const { port, address } =
      first !== null && typeof first === 'object'
        ? (first as UdpBindOptions)
        : { port: first as number | undefined, address: args[1] as string | undefined };
    if (this.state === 'bound') throw nodeError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    if (this.state === 'closed') throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    const p = port === undefined ? 0 : checkPort(port, true);
    if (cb) this.once('listening', cb);
    const r = this.layer.attach(this, p, address);
    if (r instanceof Error) process.nextTick(() => this.emit('error', r));
    else process.nextTick(() => this.emit('listening'));
    return this;
  }

  /** Binds to an ephemeral port when a send or connect needs one (Node's implicit bind). */
  private ensureBound(): Error | undefined {
    if (this.state !== 'unbound') return undefined;
    const r = this.layer.attach(this, 0, undefined);
    if (r instanceof Error) return r;
    process.nextTick(() => this.emit('listening'));
    return undefined;
  }

  /**
   * Like `dgram.Socket.connect(port[, address][, callback])`: afterwards `send` takes no address,
   * only the peer's datagrams are delivered, and ICMP errors about what it sent are 'error' events.
   */
  connect(port: number, address?: string | (() => void), callback?: () => void): void {
    const cb = typeof address === 'function' ? address : callback;
    const host = typeof address === 'string' ? address : this.type === 'udp4' ? '127.0.0.1' : '::1';
    if (this.peer !== undefined) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    if (this.state === 'closed') throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    const p = checkPort(port, false);
    if (cb) this.once('connect', cb);
    const bindErr = this.ensureBound();
    const ip = parseAddr(host);
    const err =
      bindErr ??
      (ip === undefined
        ? systemError('connect', 'EINVAL', host, p)
        : this.layer.routable(this, ip)
          ? undefined
          : systemError('connect', 'ENETUNREACH', host, p));
    if (err !== undefined || ip === undefined) {
      process.nextTick(() => this.emit('error', err ?? systemError('connect', 'EINVAL', host, p)));
      return;
    }
    this.peer = { ip, address: addrText(ip), port: p };
    this.connectPending = true;
    process.nextTick(() => {
      this.connectPending = false;
      if (this.state !== 'closed') this.emit('connect');
    });
  }

  /** Like `dgram.Socket.disconnect()`. */
  disconnect(): void {
    if (this.peer === undefined) throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.peer = undefined;
  }

  /**
   * Like `dgram.Socket.send(msg[, offset, length][, port][, address][, callback])`: the callback
   * gets `(null, bytes)` or the error (EMSGSIZE past 65507 bytes over IPv4, ENETUNREACH without a
   * route); without a callback a failed send is silently dropped, as Node's is. Unbound sockets are
   * bound to an ephemeral port first.
   */
  send(
    msg: Uint8Array | string | readonly (Uint8Array | string)[],
    offset?: unknown,
    length?: unknown,
    port?: unknown,
    address?: unknown,
    callback?: unknown,
  ): void {
    // Node's own argument rules (lib/dgram.js), quirks included: (msg[, offset, length][, port]
    // [, address][, callback]); on a connected socket a port or address is an error.
    let data = toBytes(msg);
    let cb = callback;
    const slice = () => {
      if (typeof offset === 'number' && typeof length === 'number')
        data = data.subarray(offset, offset + length);
    };
    if (this.peer === undefined) {
      if (address || (port && typeof port !== 'function')) slice();
      else [cb, port, address] = [port, offset, length];
    } else {
      if (typeof length === 'number') {
        slice();
        if (typeof port === 'function') [cb, port] = [port, undefined];
      } else {
        cb = offset;
      }
      if (port || address) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    }
    if (typeof address === 'function') [cb, address] = [address, undefined];
    const done = typeof cb === 'function' ? (cb as SendCallback) : undefined;
    if (this.state === 'closed') {
      if (this.type === 'dual') return;
      throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    }
    let to: string;
    let toPort: number;
    if (this.peer !== undefined) {
      to = this.peer.address;
      toPort = this.peer.port;
    } else {
      toPort = checkPort(port, false);
      to =
        typeof address === 'string' && address !== '' ? address : this.type === 'udp6' ? '::1' : '127.0.0.1';
    }
    const bindErr = this.ensureBound();
    const err = bindErr ?? this.layer.send(this, data, to, toPort);
    if (err !== undefined) {
      if (done) process.nextTick(done, err);
      return;
    }
    if (done) process.nextTick(done, null, data.length);
  }

  /**
   * Linux's UDP_SEGMENT socket option (Node's dgram has none): with a size, a send longer than it is
   * cut into datagrams of `size` bytes (the last shorter), written as one USO super-frame where the
   * link takes them (a TAP with offloads), else datagram by datagram. Such a send fails with EINVAL
   * when one datagram would not fit the route's MTU or it would make more than 64 (UDP_MAX_SEGMENTS).
   * 0 (the default) turns it off.
   */
  setSegmentSize(size: number): void {
    if (!Number.isInteger(size) || size < 0 || size > MAX_PAYLOAD_V4)
      throw new RangeError(`segment size must be an integer from 0 to ${MAX_PAYLOAD_V4}: ${size}`);
    this.segment = size;
  }

  get segmentSize(): number {
    return this.segment;
  }

  /**
   * The largest segment size that fits the route to `address` (Linux's IP_MTU less the headers),
   * 0 without a route: datagrams up to this size leave unfragmented.
   */
  maxSegmentSize(address: string): number {
    return this.layer.maxSegmentSize(this, address);
  }

  /** Like `dgram.Socket.close([callback])`: 'close' on the next tick. */
  close(callback?: () => void): this {
    if (this.state === 'closed') {
      if (this.type === 'dual') return this;
      throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    }
    if (callback) this.once('close', callback);
    if (this.state === 'bound') this.layer.unbind(this);
    this.state = 'closed';
    process.nextTick(() => this.emit('close'));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}

function toBytes(msg: Uint8Array | string | readonly (Uint8Array | string)[]): Uint8Array {
  if (typeof msg === 'string') return Buffer.from(msg);
  if (msg instanceof Uint8Array) return msg;
  return Buffer.concat(msg.map((m) => (typeof m === 'string' ? Buffer.from(m) : m)));
}

export class UdpLayer {
  /** Sockets by local port; a port has one wildcard socket or several bound to distinct addresses. */
  private readonly sockets = new Map<number, UdpSocket[]>();

  constructor(
    private readonly env: StackEnv,
    private readonly ip4: Pick<Ipv4Layer, 'route' | 'mtuOf' | 'send' | 'isOurs' | 'transportErrors'>,
    private readonly ip6: Pick<Ipv6Layer, 'route' | 'mtuOf' | 'send' | 'isOurs' | 'transportErrors'>,
    /** Picks ephemeral ports. */
    private readonly ports: Random,
  ) {
    // RFC 1122 §4.1.3.3: "UDP MUST pass to the application layer all ICMP error messages that it
    // receives from the IP layer" (Linux does so for connected sockets; see icmpError).
    ip4.transportErrors.set(IPPROTO_UDP, (e) => this.icmpError(e));
    ip6.transportErrors.set(IPPROTO_UDP, (e) => this.icmpError(e));
  }

  /** Like `dgram.createSocket(type[, callback])`: an unbound socket with Node's rules. */
  createSocket(
    type: UdpSocketType | UdpSocketOptions,
    onMessage?: (msg: Buffer, rinfo: RemoteInfo) => void,
  ): UdpSocket {
    const t = typeof type === 'string' ? type : type.type;
    if (t !== 'udp4' && t !== 'udp6') {
      throw Object.assign(new TypeError(`Bad socket type specified. Valid types are: udp4, udp6`), {
        code: 'ERR_SOCKET_BAD_TYPE',
      });
    }
    const socket = new UdpSocket(this, t);
    if (onMessage) socket.on('message', onMessage);
    return socket;
  }

  /**
   * The older API: a dual-stack socket bound at once; port 0 picks an ephemeral port. Throws
   * EADDRINUSE (callers need the port at once); its failed sends are counted drops.
   */
  bind(port = 0, address?: string): UdpSocket {
    const socket = new UdpSocket(this, 'dual');
    const r = this.attach(socket, port, address);
    if (r instanceof Error) throw r;
    return socket;
  }

  /** @internal binds `socket` to `port` (0: ephemeral) and `address`, or says why not. */
  attach(socket: UdpSocket, port: number, address: string | undefined): SystemError | undefined {
    let local: string | undefined;
    if (!isWildcard(address)) {
      const ip = parseAddr(address!);
      const ours = ip !== undefined && (isV6(ip) ? this.ip6.isOurs(ip) : this.ip4.isOurs(ip));
      if (ip === undefined || (socket.type === 'udp4' && isV6(ip))) {
        return systemError('bind', 'EINVAL', address, port);
      }
      if (!ours) return systemError('bind', 'EADDRNOTAVAIL', address, port);
      local = addrText(ip);
    }
    const shown = address ?? (socket.type === 'udp4' ? '0.0.0.0' : '::');
    const p = port === 0 ? this.ephemeralPort() : port;
    if (p === undefined) return systemError('bind', 'EADDRINUSE', shown, port);
    const existing = this.sockets.get(p) ?? [];
    if (
      existing.some((s) => s.localAddress === local || s.localAddress === undefined || local === undefined)
    ) {
      return systemError('bind', 'EADDRINUSE', shown, p);
    }
    socket.boundAt(p, local);
    this.sockets.set(p, [...existing, socket]);
    return undefined;
  }

  private ephemeralPort(): number | undefined {
    // RFC 6056 §3.3.1 (algorithm 1): a random start, then the next free port.
    const start = this.ports.int(EPHEMERAL_COUNT);
    for (let i = 0; i < EPHEMERAL_COUNT; i++) {
      const p = EPHEMERAL_FIRST + ((start + i) % EPHEMERAL_COUNT);
      if (!this.sockets.has(p)) return p;
    }
    return undefined;
  }

  unbind(socket: UdpSocket): void {
    const rest = (this.sockets.get(socket.port) ?? []).filter((s) => s !== socket);
    if (rest.length === 0) this.sockets.delete(socket.port);
    else this.sockets.set(socket.port, rest);
  }

  closeAll(): void {
    for (const list of [...this.sockets.values()]) for (const s of list) if (s.isOpen) s.close();
  }

  /** @internal can `socket` reach `ip`? */
  routable(socket: UdpSocket, ip: IpAddr): boolean {
    return this.routeFor(socket, ip) !== undefined;
  }

  /** The route a datagram from `socket` to `ip` takes: from its bound address, if it has one. */
  private routeFor(socket: UdpSocket, ip: IpAddr): Ipv4Route | Ipv6Route | undefined {
    const bound = socket.localAddress === undefined ? undefined : parseAddr(socket.localAddress);
    if (isV6(ip)) return this.ip6.route(ip, bound !== undefined && isV6(bound) ? bound : undefined);
    return this.ip4.route(ip, bound !== undefined && !isV6(bound) ? bound : undefined);
  }

  /** The largest UDP payload a datagram on `route` carries unfragmented. */
  private segmentRoom(route: Ipv4Route | Ipv6Route, v6: boolean): number {
    const mtu = v6 ? this.ip6.mtuOf(route as Ipv6Route) : this.ip4.mtuOf(route as Ipv4Route);
    return mtu - (v6 ? IPV6_HEADER_LEN : IPV4_MIN_HEADER_LEN) - UDP_HEADER_LEN;
  }

  /** See UdpSocket.maxSegmentSize. */
  maxSegmentSize(socket: UdpSocket, address: string): number {
    const ip = parseAddr(address);
    const route = ip === undefined ? undefined : this.routeFor(socket, ip);
    return route === undefined ? 0 : this.segmentRoom(route, isV6(ip!));
  }

  /**
   * Sends one datagram; the error Node would report, or undefined once it is handed to IP. Sockets of
   * the older API count failures instead (`udp/no-route`) and report nothing.
   */
  send(socket: UdpSocket, payload: Uint8Array, address: string, dstPort: number): SystemError | undefined {
    const quiet = socket.type === 'dual';
    const fail = (code: string): SystemError | undefined => {
      this.env.drop('udp/no-route');
      return quiet ? undefined : systemError('send', code, address, dstPort);
    };
    const invalid = () => (quiet ? fail('EINVAL') : systemError('send', 'EINVAL', address, dstPort));
    const dst = parseAddr(address);
    // A udp4 socket has no IPv6 (Linux: EAFNOSUPPORT-like failure in Node's lookup; EINVAL here).
    if (dst === undefined || (isV6(dst) && socket.type === 'udp4')) return invalid();
    const v6 = isV6(dst);
    if (payload.length > (v6 ? MAX_PAYLOAD_V6 : MAX_PAYLOAD_V4)) return fail('EMSGSIZE');
    const route = this.routeFor(socket, dst);
    if (!route) return fail('ENETUNREACH');
    const header = { srcPort: socket.port, dstPort };
    const out: UdpOut = v6
      ? { header, route, ph: { version: 6, src: (route as Ipv6Route).src, dst } }
      : { header, route, ph: { version: 4, src: (route as Ipv4Route).src, dst } };
    const size = socket.segmentSize;
    if (size === 0 || payload.length <= size) {
      this.sendDatagram(out, payload);
      return undefined;
    }
    // UDP_SEGMENT (Linux udp_send_skb): every segment must fit the link, and there are at most
    // UDP_MAX_SEGMENTS of them; otherwise EINVAL and nothing is sent.
    if (size > this.segmentRoom(route, v6) || payload.length > size * UDP_MAX_SEGMENTS) return invalid();
    const off = offloadsOf(route.iface.link);
    const uso = off !== undefined && (v6 ? off.uso6 : off.uso4);
    if (uso && payload.length > this.segmentRoom(route, v6)) {
      // One super-frame; the kernel cuts it into datagrams (USO, src/link/gso.ts).
      const segments = Math.ceil(payload.length / size);
      this.env.counters.inc('udp/sent', segments);
      this.env.counters.inc('udp/uso-sent');
      const gso = { size, headerLen: UDP_HEADER_LEN, ecn: false };
      this.emit(out, payload, { checksum: 'offload' }, { gso });
      return undefined;
    }
    for (let at = 0; at < payload.length; at += size)
      this.sendDatagram(out, payload.subarray(at, Math.min(payload.length, at + size)));
    return undefined;
  }

  private sendDatagram(out: UdpOut, payload: Uint8Array): void {
    this.env.counters.inc('udp/sent');
    this.emit(out, payload, undefined, {});
  }

  /** Hands one datagram (or a USO super-frame, with `ip.gso`) to the IP layer of its route. */
  private emit(
    out: UdpOut,
    payload: Uint8Array,
    udp: UdpEmitOptions | undefined,
    ip: { gso?: GsoSend },
  ): void {
    const write = (buf: Uint8Array) => {
      buf.set(payload, UDP_HEADER_LEN);
      emitUdp(out.header, buf, out.ph, udp);
    };
    const len = UDP_HEADER_LEN + payload.length;
    if (out.ph.version === 6) this.ip6.send(out.route as Ipv6Route, IPPROTO_UDP, len, write, ip);
    else this.ip4.send(out.route as Ipv4Route, IPPROTO_UDP, len, write, ip);
  }

  /**
   * An ICMP error about a datagram we sent. As Linux's udp_err (and so Node's dgram): only a socket
   * connected to the quoted destination hears it, and only a hard error (port or protocol
   * unreachable, administratively prohibited...), as an 'error' event from `recvmsg`.
   */
  private icmpError(e: TransportError<IpAddr>): void {
    const localPort = u16(e.header, 0);
    const remotePort = u16(e.header, 2);
    const socket = (this.sockets.get(localPort) ?? []).find((s) => {
      const p = s.connectedPeer;
      return p !== undefined && p.port === remotePort && sameAddr(p.ip, e.remote);
    });
    if (socket === undefined || !e.kind.hard) return this.env.counters.inc('udp/icmp-error-ignored');
    this.env.counters.inc('udp/icmp-error');
    socket.emit('error', systemError('recvmsg', e.kind.error));
  }

  /** Delivers an IPv4 datagram to its socket; false when no socket has the port (the caller answers ICMP). */
  input4(d: Ipv4Datagram, bytes: Uint8Array): boolean {
    const ph = { version: 4, src: d.src, dst: d.dst } as const;
    return this.deliver(bytes, ph, d.src, ipv4ToString(d.dst), 'IPv4', d.checksumTrusted);
  }

  /** Delivers an IPv6 datagram to its socket; false when no socket has the port. */
  input6(d: Ipv6Datagram, bytes: Uint8Array): boolean {
    const ph = { version: 6, src: d.src, dst: d.dst } as const;
    return this.deliver(bytes, ph, d.src, ipv6ToString(d.dst), 'IPv6', d.checksumTrusted);
  }

  private deliver(
    bytes: Uint8Array,
    ph: PseudoHeader,
    src: IpAddr,
    to: string,
    family: 'IPv4' | 'IPv6',
    trusted = false,
  ): boolean {
    const env = this.env;
    // A checksum the link's offload vouches for (virtio DATA_VALID / NEEDS_CSUM) is not summed again.
    const r = parseUdp(bytes, ph, trusted ? TRUSTED : undefined);
    if (!r.ok) {
      env.drop(r.error);
      return true; // A malformed datagram is dropped silently, not answered.
    }
    const { repr, payload } = r.value;
    const list = this.sockets.get(repr.dstPort);
    const socket =
      list?.find((s) => s.localAddress === to) ??
      list?.find((s) => s.localAddress === undefined && s.hears(family));
    if (!socket) {
      env.counters.inc('udp/no-socket');
      return false;
    }
    // A connected socket hears its peer only (as connect(2) on a datagram socket).
    const peer = socket.connectedPeer;
    if (peer !== undefined && (peer.port !== repr.srcPort || !sameAddr(peer.ip, src))) {
      env.counters.inc('udp/not-from-peer');
      return true;
    }
    env.counters.inc('udp/received');
    // The frame buffer is reused after this call: the message is a copy, as Node's dgram gives.
    const msg = Buffer.from(payload);
    socket.emit('message', msg, { address: addrText(src), family, port: repr.srcPort, size: msg.length });
    return true;
  }
}
