/**
 * UDP sockets with a dgram-like API (RFC 768; RFC 1122 §4.1.3): `bind`, `send`, 'message' events,
 * over IPv4 and IPv6 (a socket bound to a wildcard address receives both, like a dual-stack socket).
 * Datagrams for a port nobody bound get ICMP port unreachable from the IP layer.
 */
import { EventEmitter } from 'node:events';
import { ipv4ToString, ipv6ToString, parseIpv4Addr, parseIpv6Addr } from '../addr.js';
import { IPPROTO_UDP } from '../ipproto.js';
import type { PseudoHeader } from '../checksum/index.js';
import { emitUdp, parseUdp, UDP_HEADER_LEN } from '../udp/wire.js';
import type { Ipv4Datagram, Ipv4Layer } from './ipv4.js';
import type { Ipv6Datagram, Ipv6Layer } from './ipv6.js';
import type { StackEnv } from './layer.js';

export interface RemoteInfo {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly port: number;
  readonly size: number;
}

/** RFC 6335 §6: the dynamic port range. */
const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_COUNT = 65536 - EPHEMERAL_FIRST;
/** Largest UDP payload: 65535 - 8 (UDP), less 20 more for the IPv4 header. */
const MAX_PAYLOAD_V4 = 65507;
const MAX_PAYLOAD_V6 = 65527;

export interface UdpSocketEvents {
  message: [msg: Buffer, rinfo: RemoteInfo];
  close: [];
}

function isWildcard(address: string | undefined): boolean {
  return address === undefined || address === '0.0.0.0' || address === '::';
}

export class UdpSocket extends EventEmitter<UdpSocketEvents> {
  private open = true;

  constructor(
    private readonly layer: UdpLayer,
    readonly port: number,
    /** Bound local address in canonical text form, or undefined for every address of the stack. */
    readonly localAddress: string | undefined,
  ) {
    super();
  }

  address(): { address: string; family: 'IPv4' | 'IPv6'; port: number } {
    const address = this.localAddress ?? '::';
    return { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: this.port };
  }

  /** Sends one datagram; false when it cannot be sent (no route, too large, socket closed). */
  send(data: Uint8Array | string, port: number, address: string): boolean {
    if (!this.open) return false;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`bad port ${port}`);
    const payload = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    return this.layer.send(this, payload, address, port);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.layer.unbind(this);
    this.emit('close');
  }
}

export class UdpLayer {
  /** Sockets by local port; a port has one wildcard socket or several bound to distinct addresses. */
  private readonly sockets = new Map<number, UdpSocket[]>();

  constructor(
    private readonly env: StackEnv,
    private readonly ip4: Pick<Ipv4Layer, 'route' | 'send'>,
    private readonly ip6: Pick<Ipv6Layer, 'route' | 'send'>,
  ) {}

  /** Binds a socket; port 0 picks an ephemeral port. Throws EADDRINUSE like Node's dgram. */
  bind(port = 0, address?: string): UdpSocket {
    let local: string | undefined;
    if (!isWildcard(address)) {
      const v4 = parseIpv4Addr(address!);
      const v6 = v4 === undefined ? parseIpv6Addr(address!) : undefined;
      if (v4 === undefined && v6 === undefined) throw new TypeError(`not an IP address: ${address}`);
      local = v4 !== undefined ? ipv4ToString(v4) : ipv6ToString(v6!);
    }
    const p = port === 0 ? this.ephemeralPort() : port;
    const existing = this.sockets.get(p) ?? [];
    if (
      existing.some((s) => s.localAddress === local || s.localAddress === undefined || local === undefined)
    ) {
      throw Object.assign(new Error(`bind EADDRINUSE ${address ?? '::'}:${p}`), { code: 'EADDRINUSE' });
    }
    const socket = new UdpSocket(this, p, local);
    this.sockets.set(p, [...existing, socket]);
    return socket;
  }

  private ephemeralPort(): number {
    // RFC 6056 §3.3.1 (algorithm 1): a random start, then the next free port.
    const start = this.env.random.int(EPHEMERAL_COUNT);
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

  send(socket: UdpSocket, payload: Uint8Array, address: string, dstPort: number): boolean {
    const env = this.env;
    const header = { srcPort: socket.port, dstPort };
    const write = (ph: PseudoHeader) => (buf: Uint8Array) => {
      buf.set(payload, UDP_HEADER_LEN);
      emitUdp(header, buf, ph);
    };
    const v4 = parseIpv4Addr(address);
    if (v4 !== undefined) {
      const bound = socket.localAddress === undefined ? undefined : parseIpv4Addr(socket.localAddress);
      const route = payload.length <= MAX_PAYLOAD_V4 ? this.ip4.route(v4, bound) : undefined;
      if (!route) return this.unsent('udp/no-route');
      env.counters.inc('udp/sent');
      return this.ip4.send(
        route,
        IPPROTO_UDP,
        UDP_HEADER_LEN + payload.length,
        write({ version: 4, src: route.src, dst: v4 }),
      );
    }
    const v6 = parseIpv6Addr(address);
    if (v6 === undefined) throw new TypeError(`not an IP address: ${address}`);
    const bound = socket.localAddress === undefined ? undefined : parseIpv6Addr(socket.localAddress);
    const route = payload.length <= MAX_PAYLOAD_V6 ? this.ip6.route(v6, bound) : undefined;
    if (!route) return this.unsent('udp/no-route');
    env.counters.inc('udp/sent');
    return this.ip6.send(
      route,
      IPPROTO_UDP,
      UDP_HEADER_LEN + payload.length,
      write({ version: 6, src: route.src, dst: v6 }),
    );
  }

  private unsent(reason: 'udp/no-route'): false {
    this.env.drop(reason);
    return false;
  }

  /** Delivers an IPv4 datagram to its socket; false when no socket has the port (the caller answers ICMP). */
  input4(d: Ipv4Datagram, bytes: Uint8Array): boolean {
    return this.deliver(
      bytes,
      { version: 4, src: d.src, dst: d.dst },
      ipv4ToString(d.src),
      ipv4ToString(d.dst),
      'IPv4',
    );
  }

  /** Delivers an IPv6 datagram to its socket; false when no socket has the port. */
  input6(d: Ipv6Datagram, bytes: Uint8Array): boolean {
    return this.deliver(
      bytes,
      { version: 6, src: d.src, dst: d.dst },
      ipv6ToString(d.src),
      ipv6ToString(d.dst),
      'IPv6',
    );
  }

  private deliver(
    bytes: Uint8Array,
    ph: PseudoHeader,
    from: string,
    to: string,
    family: 'IPv4' | 'IPv6',
  ): boolean {
    const env = this.env;
    const r = parseUdp(bytes, ph);
    if (!r.ok) {
      env.drop(r.error);
      return true; // A malformed datagram is dropped silently, not answered.
    }
    const { repr, payload } = r.value;
    const list = this.sockets.get(repr.dstPort);
    const socket =
      list?.find((s) => s.localAddress === to) ?? list?.find((s) => s.localAddress === undefined);
    if (!socket) {
      env.counters.inc('udp/no-socket');
      return false;
    }
    env.counters.inc('udp/received');
    // The frame buffer is reused after this call: the message is a copy, as Node's dgram gives.
    const msg = Buffer.from(payload);
    socket.emit('message', msg, { address: from, family, port: repr.srcPort, size: msg.length });
    return true;
  }
}
