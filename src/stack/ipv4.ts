/**
 * IPv4 in the driver: input validation and local delivery (RFC 1122 §3.2.1, §3.3.6), reassembly
 * through the pure core in src/fragments, ICMP echo and errors (RFC 792, RFC 1122 §3.2.2),
 * fragmentation on output (RFC 791 §3.2), route and source selection.
 */
import { type Ipv4Addr, IPV4_BROADCAST, ipv4ToString, isIpv4Multicast, readIpv4 } from '../addr.js';
import { planFragments } from '../fragments/plan.js';
import type { ReassemblyOutput } from '../fragments/reassembly.js';
import {
  emitIcmpv4,
  ICMPV4_HEADER_LEN,
  type Icmpv4Repr,
  mayAnswerIcmpv4Error,
  parseIcmpv4,
  quoteDatagram,
  TIME_EXCEEDED_REASSEMBLY,
  UNREACH_FRAG_NEEDED,
  UNREACH_HOST,
  UNREACH_PORT,
  UNREACH_PROTOCOL,
} from '../ipv4/icmp.js';
import { emitIpv4, Ipv4Packet, ipv4HeaderLen } from '../ipv4/wire.js';
import { IPPROTO_ICMP } from '../ipproto.js';
import type { ArpLayer } from './arp.js';
import { EchoRequests } from './echo.js';
import { announcedMtu } from '../tcp/core/pmtu.js';
import {
  type IcmpClass,
  icmpv4Class,
  NEIGHBOUR_UNREACHABLE,
  PATH_MTU,
  type TransportError,
} from './errors.js';
import type { Interface } from './iface.js';
import { gsoHeader } from '../link/gso.js';
import { checksumTrusted, rxVnetOf } from '../link/vnet.js';
import type { IpOutput, SendOptions, StackEnv, TimedCore, UpperProtocol } from './layer.js';
import { finishForQuote, newGsoPacket, newPacket } from './packet.js';
import { icmpErrorLimiter, type TokenBucket } from './ratelimit.js';
import { Reassembler } from './reassembler.js';
import { ipv4InPrefix, type Routes } from './routes.js';

/** Where a datagram to some destination goes. */
export interface Ipv4Route {
  readonly iface: Interface;
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  readonly nextHop: Ipv4Addr;
  /** Sent to the link's broadcast address, without ARP. */
  readonly broadcast: boolean;
}

/** What the upper layers see of a received datagram. */
export interface Ipv4Datagram {
  readonly iface: Interface;
  readonly src: Ipv4Addr;
  readonly dst: Ipv4Addr;
  readonly protocol: number;
  readonly ttl: number;
  /** Addressed to a broadcast or multicast address: never answered with an ICMP error. */
  readonly broadcast: boolean;
  /** The datagram as received (header and data), for quoting in ICMP errors. */
  readonly original: Uint8Array;
  /** The ECN field of the TOS byte (RFC 3168 §5), for TCP. */
  readonly ecn?: number;
  /**
   * The link's offload metadata vouches for the transport checksum (virtio DATA_VALID, or
   * NEEDS_CSUM from the kernel's own stack): TCP and UDP do not verify it. Never for reassembled data.
   */
  readonly checksumTrusted?: boolean;
}

/**
 * A super-frame to send (TCP: TSO, UDP: USO): `size`-byte segments, each behind a copy of the
 * `headerLen`-byte transport header, whose checksum field holds the pseudo-header sum over the whole
 * (the device adjusts it and finishes it per segment).
 */
export interface GsoSend {
  readonly size: number;
  readonly headerLen: number;
  /** The first segment carries CWR (VIRTIO_NET_HDR_GSO_ECN). */
  readonly ecn: boolean;
}

export interface PingReply {
  readonly rttMs: number;
  readonly ttl: number;
  readonly bytes: number;
  readonly from: Ipv4Addr;
}

/** RFC 1700 / Linux default TTL. */
const DEFAULT_TTL = 64;

export class Ipv4Layer implements IpOutput<Ipv4Addr, Ipv4Route>, TimedCore {
  /** The upper protocols by IP protocol number (ICMP is this layer's own). */
  readonly protocols = new Map<number, UpperProtocol<Ipv4Datagram>>();
  /**
   * Where ICMP errors about our own datagrams go, by the quoted datagram's protocol (RFC 1122
   * §4.2.3.9 "TCP MUST act on an ICMP error message passed up from the IP layer", §4.1.3.3 for UDP).
   */
  readonly transportErrors = new Map<number, (e: TransportError<Ipv4Addr>) => void>();
  private readonly reassembly = new Reassembler();
  private ident: number;
  private readonly icmpErrors: TokenBucket;
  private readonly echoes: EchoRequests<PingReply>;

  constructor(
    private readonly env: StackEnv,
    private readonly interfaces: readonly Interface[],
    private readonly routes: Routes<Ipv4Addr>,
    private readonly arp: Pick<ArpLayer, 'resolveAndSend'>,
  ) {
    this.ident = env.random.int(0x10000);
    this.echoes = new EchoRequests(env.scheduler, env.random.int(0x10000));
    this.icmpErrors = icmpErrorLimiter(env.now());
  }

  /** Is `a` one of the stack's addresses (weak host model, RFC 1122 §3.3.4.2)? */
  isOurs(a: Ipv4Addr): boolean {
    return this.interfaces.some((i) => i.hasIpv4(a));
  }

  route(dst: Ipv4Addr, src?: Ipv4Addr): Ipv4Route | undefined {
    if (dst === IPV4_BROADCAST) {
      const iface = this.interfaces.find((i) => i.ipv4.length > 0);
      if (!iface) return undefined;
      return { iface, src: src ?? iface.ipv4[0]!.address, dst, nextHop: dst, broadcast: true };
    }
    const r = this.routes.lookup(dst);
    if (!r) return undefined;
    const iface = this.interfaces[r.iface]!;
    const nextHop = r.gateway ?? dst;
    const chosen =
      src ??
      iface.ipv4.find((c) => ipv4InPrefix(nextHop, c.address, c.prefixLen))?.address ??
      iface.ipv4[0]?.address;
    if (chosen === undefined) return undefined;
    return {
      iface,
      src: chosen,
      dst,
      nextHop,
      broadcast: iface.isIpv4SubnetBroadcast(dst) || isIpv4Multicast(dst),
    };
  }

  /** One IPv4 packet from `iface`; `linkBroadcast` when the frame was not addressed to our MAC. */
  input(iface: Interface, bytes: Uint8Array, linkBroadcast: boolean): void {
    const env = this.env;
    const checked = Ipv4Packet.check(bytes);
    if (!checked.ok) return env.drop(checked.error);
    const p = checked.value;
    const dst = p.dst;
    const src = p.src;
    const broadcast = dst === IPV4_BROADCAST || iface.isIpv4SubnetBroadcast(dst) || isIpv4Multicast(dst);
    if (!broadcast && !this.isOurs(dst)) return env.drop('ipv4/not-for-us');
    // RFC 1122 §3.3.6: a unicast datagram that arrived as a link-layer broadcast is discarded.
    if (linkBroadcast && !broadcast) return env.drop('ipv4/unicast-in-link-broadcast');
    // RFC 1122 §3.2.1.3: a source that is not a unique host address is discarded.
    if (src === IPV4_BROADCAST || isIpv4Multicast(src) || iface.isIpv4SubnetBroadcast(src)) {
      return env.drop('ipv4/bad-source');
    }
    if (isIpv4Multicast(dst) && dst !== 0xe0000001) return env.drop('ipv4/multicast-not-joined');
    env.counters.inc('ipv4/received');
    const packet = p.totalLen === bytes.length ? bytes : bytes.subarray(0, p.totalLen);
    if (p.isFragment) {
      const key = `${src}>${dst}/${p.protocol}/${p.ident}`;
      const outputs = this.reassembly.fragment(
        env.now(),
        key,
        p.fragOffset,
        p.payload,
        p.moreFragments,
        packet.subarray(0, p.headerLen),
      );
      for (const o of outputs) this.reassemblyOutput(iface, o, broadcast);
      return;
    }
    this.deliver(
      {
        iface,
        src,
        dst,
        protocol: p.protocol,
        ttl: p.ttl,
        broadcast,
        original: packet,
        ecn: p.ecn,
        checksumTrusted: checksumTrusted(rxVnetOf(iface.link)),
      },
      p.payload,
    );
  }

  private reassemblyOutput(iface: Interface, o: ReassemblyOutput, broadcast: boolean): void {
    const env = this.env;
    switch (o.kind) {
      case 'reassembled': {
        env.counters.inc('ipv4/reassembled');
        const h = o.header;
        const original = new Uint8Array(h.length + o.data.length);
        original.set(h);
        original.set(o.data, h.length);
        const src = readIpv4(h, 12);
        const dst = readIpv4(h, 16);
        // RFC 3168 §5.3: the first fragment's ECN field stands for the datagram (a CE on any other is lost).
        const ecn = h[1]! & 3;
        this.deliver({ iface, src, dst, protocol: h[9]!, ttl: h[8]!, broadcast, original, ecn }, o.data);
        break;
      }
      case 'dropped':
        env.drop(`ipv4/reassembly-${o.reason}`);
        break;
      case 'expired':
        env.counters.inc('ipv4/reassembly-expired');
        // RFC 792 / RFC 1122 §3.3.2: Time Exceeded (code 1) only if the first fragment arrived.
        if (o.header && o.data) {
          const quoted = new Uint8Array(o.header.length + Math.min(8, o.data.length));
          quoted.set(o.header);
          quoted.set(o.data.subarray(0, 8), o.header.length);
          this.sendError(quoted, false, { type: 'time-exceeded', code: TIME_EXCEEDED_REASSEMBLY });
        }
        break;
    }
  }

  private deliver(d: Ipv4Datagram, payload: Uint8Array): void {
    if (d.protocol === IPPROTO_ICMP) return this.icmpInput(d, payload);
    const upper = this.protocols.get(d.protocol);
    if (upper === undefined) {
      this.env.drop('ipv4/unknown-protocol');
      this.sendError(d.original, d.broadcast, {
        type: 'dest-unreachable',
        code: UNREACH_PROTOCOL,
        nextHopMtu: 0,
      });
      return;
    }
    // RFC 1122 §4.1.3.1: a datagram for a port nobody listens on gets Port Unreachable.
    if (!upper.input(d, payload)) {
      if (d.checksumTrusted) finishForQuote(d.iface.link, d.original);
      this.sendError(d.original, d.broadcast, {
        type: 'dest-unreachable',
        code: UNREACH_PORT,
        nextHopMtu: 0,
      });
    }
  }

  private icmpInput(d: Ipv4Datagram, payload: Uint8Array): void {
    const env = this.env;
    const r = parseIcmpv4(payload);
    if (!r.ok) return env.drop(r.error);
    const { repr, payload: data } = r.value;
    env.counters.inc(`icmpv4/in-${repr.type}`);
    switch (repr.type) {
      case 'echo-request': {
        // Like Linux (icmp_echo_ignore_broadcasts = 1): broadcast echo invites amplification (RFC 1122 §3.2.2.6 MAY).
        if (d.broadcast) return env.drop('icmpv4/echo-to-broadcast');
        const route = this.route(d.src, d.dst);
        if (!route) return env.drop('ipv4/no-route');
        const reply: Icmpv4Repr = { type: 'echo-reply', ident: repr.ident, seq: repr.seq };
        this.send(route, IPPROTO_ICMP, ICMPV4_HEADER_LEN + data.length, (buf) => {
          buf.set(data, ICMPV4_HEADER_LEN);
          emitIcmpv4(reply, buf);
        });
        return;
      }
      case 'echo-reply':
        this.echoes.answer(repr.ident, repr.seq, (rttMs) => ({
          rttMs,
          ttl: d.ttl,
          bytes: data.length,
          from: d.src,
        }));
        return;
      case 'dest-unreachable':
        // RFC 1191 §4: Fragmentation Needed carries the next-hop MTU, for path MTU discovery.
        if (repr.code === UNREACH_FRAG_NEEDED) return this.quotedError(data, PATH_MTU, repr.nextHopMtu);
        return this.quotedError(data, icmpv4Class(repr.type, repr.code));
      case 'time-exceeded':
      case 'parameter-problem': {
        const kind = icmpv4Class(repr.type, repr.code);
        if (kind !== undefined) this.quotedError(data, kind);
        return;
      }
      default:
        return;
    }
  }

  /**
   * Hands an error about `quote` (a datagram we sent, as quoted: its header and at least 8 bytes of
   * its data, RFC 792) to the transport that sent it. The quote is believed only if it names one of
   * our addresses as its source and holds the start of the transport header (offset 0); the
   * transport checks the rest (ports, sequence numbers: RFC 5927 §4).
   */
  private quotedError(quote: Uint8Array, kind: IcmpClass | undefined, nextHopMtu?: number): void {
    if (kind === undefined) return;
    const env = this.env;
    const ihl = quote.length >= 20 ? (quote[0]! & 0x0f) * 4 : 0;
    const fragOffset = ihl > 0 ? ((quote[6]! << 8) | quote[7]!) & 0x1fff : 0;
    if (ihl < 20 || quote[0]! >> 4 !== 4 || quote.length < ihl + 8 || fragOffset !== 0) {
      return env.counters.inc('ipv4/icmp-error-bad-quote');
    }
    const local = readIpv4(quote, 12);
    if (!this.isOurs(local)) return env.counters.inc('ipv4/icmp-error-bad-quote');
    const handler = this.transportErrors.get(quote[9]!);
    if (handler === undefined) return;
    const remote = readIpv4(quote, 16);
    const header = quote.subarray(ihl);
    if (nextHopMtu === undefined) return handler({ kind, local, remote, header });
    // The quoted datagram's total length picks the RFC 1191 §5 plateau when the router gave no MTU.
    handler({
      kind,
      local,
      remote,
      header,
      mtu: announcedMtu(false, nextHopMtu, (quote[2]! << 8) | quote[3]!),
    });
  }

  /**
   * Sends an ICMP error about `offending` (an IPv4 datagram as received) unless RFC 1122 §3.2.2
   * forbids it (`mayAnswerIcmpv4Error`: not about an ICMP error, a datagram to a broadcast or
   * multicast address, a fragment other than the first, or from a source that does not name a single
   * host); rate-limited (§3.2.2 and RFC 1812 §4.3.2.8).
   * `from` picks the source address (a router answers from the interface the packet came in on);
   * by default the destination the offending packet was sent to, when it is ours.
   */
  sendError(offending: Uint8Array, toBroadcast: boolean, repr: Icmpv4Repr, from?: Ipv4Addr): void {
    const env = this.env;
    if (!mayAnswerIcmpv4Error(offending, { dstBroadcast: toBroadcast })) return;
    const dst = readIpv4(offending, 16);
    const src = readIpv4(offending, 12);
    if (!this.icmpErrors.take(env.now())) return env.drop('icmpv4/error-rate-limited');
    const route = this.route(src, from ?? (this.isOurs(dst) ? dst : undefined));
    if (!route) return env.drop('ipv4/no-route');
    const quote = quoteDatagram(offending);
    env.counters.inc(`icmpv4/out-${repr.type}`);
    this.send(route, IPPROTO_ICMP, ICMPV4_HEADER_LEN + quote.length, (buf) => {
      buf.set(quote, ICMPV4_HEADER_LEN);
      emitIcmpv4(repr, buf);
    });
  }

  /**
   * A packet of ours that ARP could not deliver (RFC 1122 §2.3.2.2); reported as host unreachable
   * locally, to the transport that sent it.
   */
  hostUnreachable(packet: Uint8Array): void {
    this.env.counters.inc('ipv4/host-unreachable');
    if (packet.length < 20) return;
    this.env.logEvent(`ipv4: ${ipv4ToString(readIpv4(packet, 16))} unreachable (no ARP reply)`);
    // Linux answers itself with host unreachable (ipv4_link_failure): a connect fails with EHOSTUNREACH.
    if (this.isOurs(readIpv4(packet, 12))) this.quotedError(packet, NEIGHBOUR_UNREACHABLE);
    // A forwarded packet (only a router has them): RFC 1812 §5.2.7.1, Host Unreachable to its source.
    else this.sendError(packet, false, { type: 'dest-unreachable', code: UNREACH_HOST, nextHopMtu: 0 });
  }

  /** The MTU packets on `route` are sized for. */
  mtuOf(route: Ipv4Route): number {
    return route.iface.mtu;
  }

  /**
   * Sends an upper-layer payload of `upperLen` bytes, written by `write` into the buffer it is given,
   * fragmenting to the interface MTU unless `dontFragment` (RFC 791 §3.2, RFC 1122 §3.3.3).
   * Returns false when the datagram cannot be sent (too big with DF, or no route).
   */
  send(
    route: Ipv4Route,
    protocol: number,
    upperLen: number,
    write: (buf: Uint8Array) => void,
    opts: SendOptions & { readonly gso?: GsoSend } = {},
  ): boolean {
    const env = this.env;
    const repr = {
      src: route.src,
      dst: route.dst,
      protocol,
      ttl: opts.ttl ?? DEFAULT_TTL,
      dscp: 0,
      ecn: opts.ecn ?? 0,
      ident: this.ident,
      dontFragment: opts.dontFragment ?? false,
      moreFragments: false,
      fragOffset: 0,
      options: new Uint8Array(0),
    };
    this.ident = (this.ident + 1) & 0xffff;
    const hl = ipv4HeaderLen(repr);
    const mtu = this.mtuOf(route);
    if (hl + upperLen > 0xffff) return false;
    const gso = opts.gso;
    if (gso !== undefined && hl + upperLen > mtu && hl + gso.headerLen + gso.size <= mtu) {
      // A super-frame: the device cuts it into segments that fit the MTU (src/link/gso.ts), each
      // with the next Identification, so the next datagram's skips them.
      const packet = newGsoPacket(
        hl + upperLen,
        gsoHeader(4, protocol, 14 + hl, 14 + hl + gso.headerLen, gso.size, gso.ecn),
      );
      write(packet.subarray(hl));
      emitIpv4(repr, packet);
      this.ident = (repr.ident + Math.ceil((upperLen - gso.headerLen) / gso.size)) & 0xffff;
      env.counters.inc('ipv4/sent');
      this.arp.resolveAndSend(route.iface, route.nextHop, packet, route.broadcast);
      return true;
    }
    if (hl + upperLen <= mtu) {
      const packet = newPacket(hl + upperLen);
      write(packet.subarray(hl));
      emitIpv4(repr, packet);
      env.counters.inc('ipv4/sent');
      this.arp.resolveAndSend(route.iface, route.nextHop, packet, route.broadcast);
      return true;
    }
    if (repr.dontFragment) {
      env.drop('ipv4/too-big-with-df');
      return false;
    }
    const body = new Uint8Array(upperLen);
    write(body);
    for (const f of planFragments(upperLen, mtu, hl, 0)) {
      const packet = newPacket(hl + f.length);
      packet.set(body.subarray(f.offset, f.offset + f.length), hl);
      emitIpv4({ ...repr, moreFragments: f.more, fragOffset: f.offset }, packet);
      env.counters.inc('ipv4/fragments-sent');
      this.arp.resolveAndSend(route.iface, route.nextHop, packet, route.broadcast);
    }
    return true;
  }

  /** Sends one ICMP echo request; resolves with the reply, or undefined after `timeoutMs`. */
  ping(dst: Ipv4Addr, opts: { size?: number; timeoutMs?: number } = {}): Promise<PingReply | undefined> {
    const route = this.route(dst);
    if (!route) return Promise.resolve(undefined);
    const size = opts.size ?? 56;
    return this.echoes.request(opts.timeoutMs ?? 1000, (seq) => {
      this.send(route, IPPROTO_ICMP, ICMPV4_HEADER_LEN + size, (buf) => {
        for (let i = ICMPV4_HEADER_LEN; i < buf.length; i++) buf[i] = i & 0xff;
        emitIcmpv4({ type: 'echo-request', ident: this.echoes.ident, seq }, buf);
      });
      this.env.rearm();
    });
  }

  /** Current reassembly memory, for tests and the status page. */
  get reassemblyBytes(): number {
    return this.reassembly.bytes;
  }

  /** The most reassembly memory ever held at once. */
  get reassemblyPeakBytes(): number {
    return this.reassembly.peakBytes;
  }

  deadline(): number {
    return this.reassembly.deadline();
  }

  tick(now: number): void {
    for (const o of this.reassembly.tick(now)) this.reassemblyOutput(this.interfaces[0]!, o, false);
  }
}
