/**
 * UDP sockets with a dgram-like API (RFC 768; RFC 1122 §4.1.3): `bind`, `send`, 'message' events.
 * Datagrams for a port nobody bound get ICMP port unreachable from the IP layer.
 */
import { EventEmitter } from 'node:events';
import { type Ipv4Addr, ipv4ToString, parseIpv4Addr } from '../addr.js';
import { emitUdp, parseUdp, UDP_HEADER_LEN } from '../udp/wire.js';
import { IPPROTO_UDP } from '../ipproto.js';
import type { Ipv4Datagram } from './ipv4.js';
import type { Stack } from './stack.js';

export interface RemoteInfo {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly port: number;
  readonly size: number;
}

/** RFC 6335 §6: the dynamic port range, also Linux's default ephemeral range ends there. */
const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_COUNT = 65536 - EPHEMERAL_FIRST;
/** Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP). */
const MAX_PAYLOAD_V4 = 65507;

export interface UdpSocketEvents {
  message: [msg: Buffer, rinfo: RemoteInfo];
  close: [];
}

export class UdpSocket extends EventEmitter<UdpSocketEvents> {
  private open = true;

  constructor(
    private readonly layer: UdpLayer,
    readonly port: number,
    /** Bound local address, or undefined for all of the stack's addresses. */
    readonly localAddress: Ipv4Addr | undefined,
  ) {
    super();
  }

  address(): { address: string; family: 'IPv4'; port: number } {
    return {
      address: this.localAddress === undefined ? '0.0.0.0' : ipv4ToString(this.localAddress),
      family: 'IPv4',
      port: this.port,
    };
  }

  /** Sends one datagram; false when it cannot be sent (no route, too large, socket closed). */
  send(data: Uint8Array | string, port: number, address: string): boolean {
    if (!this.open) return false;
    const payload = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const dst = parseIpv4Addr(address);
    if (dst === undefined) throw new TypeError(`not an IPv4 address: ${address}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad port ${port}`);
    return this.layer.send(this, payload, dst, port);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.layer.unbind(this);
    this.emit('close');
  }
}

export class UdpLayer {
  /** Sockets by local port; a port may have one wildcard socket and one per local address. */
  private readonly sockets = new Map<number, UdpSocket[]>();

  constructor(private readonly stack: Stack) {}

  /** Binds a socket; port 0 picks an ephemeral port. Throws EADDRINUSE like Node's dgram. */
  bind(port = 0, address?: string): UdpSocket {
    const local = address === undefined || address === '0.0.0.0' ? undefined : parseIpv4Addr(address);
    if (address !== undefined && address !== '0.0.0.0' && local === undefined)
      throw new TypeError(`not an IPv4 address: ${address}`);
    const p = port === 0 ? this.ephemeralPort() : port;
    const existing = this.sockets.get(p) ?? [];
    if (
      existing.some((s) => s.localAddress === local || s.localAddress === undefined || local === undefined)
    ) {
      throw Object.assign(new Error(`bind EADDRINUSE ${address ?? '0.0.0.0'}:${p}`), { code: 'EADDRINUSE' });
    }
    const socket = new UdpSocket(this, p, local);
    this.sockets.set(p, [...existing, socket]);
    return socket;
  }

  private ephemeralPort(): number {
    // RFC 6056 §3.3.1 (algorithm 1): a random start, then the next free port.
    const start = this.stack.random.int(EPHEMERAL_COUNT);
    for (let i = 0; i < EPHEMERAL_COUNT; i++) {
      const p = EPHEMERAL_FIRST + ((start + i) % EPHEMERAL_COUNT);
      if (!this.sockets.has(p)) return p;
    }
    throw Object.assign(new Error('bind EADDRINUSE: no ephemeral port free'), { code: 'EADDRINUSE' });
  }

  unbind(socket: UdpSocket): void {
    const rest = (this.sockets.get(socket.port) ?? []).filter((s) => s !== socket);
    if (rest.length === 0) this.sockets.delete(socket.port);
    else this.sockets.set(socket.port, rest);
  }

  closeAll(): void {
    for (const list of [...this.sockets.values()]) for (const s of list) s.close();
  }

  send(socket: UdpSocket, payload: Uint8Array, dst: Ipv4Addr, dstPort: number): boolean {
    const stack = this.stack;
    if (payload.length > MAX_PAYLOAD_V4) return false;
    const route = stack.ipv4.route(dst, socket.localAddress);
    if (!route) {
      stack.drop('udp/no-route');
      return false;
    }
    const ph = { version: 4 as const, src: route.src, dst };
    stack.counters.inc('udp/sent');
    return stack.ipv4.send(route, IPPROTO_UDP, UDP_HEADER_LEN + payload.length, (buf) => {
      buf.set(payload, UDP_HEADER_LEN);
      emitUdp({ srcPort: socket.port, dstPort }, buf, ph);
    });
  }

  /** Delivers a datagram to its socket; false when no socket has the port (the caller answers ICMP). */
  input4(d: Ipv4Datagram, bytes: Uint8Array): boolean {
    const stack = this.stack;
    const r = parseUdp(bytes, { version: 4, src: d.src, dst: d.dst });
    if (!r.ok) {
      stack.drop(r.error);
      return true; // A malformed datagram is dropped silently, not answered.
    }
    const { repr, payload } = r.value;
    const list = this.sockets.get(repr.dstPort);
    const socket =
      list?.find((s) => s.localAddress === d.dst) ?? list?.find((s) => s.localAddress === undefined);
    if (!socket) {
      stack.counters.inc('udp/no-socket');
      return false;
    }
    stack.counters.inc('udp/received');
    // The frame buffer is reused after this call: the message is a copy, as Node's dgram gives.
    const msg = Buffer.from(payload);
    socket.emit('message', msg, {
      address: ipv4ToString(d.src),
      family: 'IPv4',
      port: repr.srcPort,
      size: msg.length,
    });
    return true;
  }
}
