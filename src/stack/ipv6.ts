/**
 * IPv6 in the driver (RFC 8200): input validation and the extension-header walk, reassembly
 * through the pure core in src/fragments (RFC 8200 §4.5, RFC 5722), NDP and SLAAC through the pure
 * core in src/ipv6/ndp (RFC 4861, RFC 4862), ICMPv6 echo and errors (RFC 4443), fragmentation on
 * output, route and source selection.
 */
import {
  type Ipv6Addr,
  ipv6FromBytes,
  ipv6Key,
  ipv6MulticastMac,
  ipv6ToString,
  isIpv6Multicast,
  parseIpv6Addr,
} from '../addr.js';
import { planFragments } from '../fragments/plan.js';
import type { ReassemblyOutput } from '../fragments/reassembly.js';
import { IPPROTO_FRAGMENT, IPPROTO_ICMPV6, IPPROTO_NONE } from '../ipproto.js';
import { emitFragmentHeader, FRAGMENT_HEADER_LEN, walkExtHeaders } from '../ipv6/ext.js';
import {
  emitIcmpv6,
  type Icmpv6Repr,
  icmpv6HeaderLen,
  mayAnswerIcmpv6Error,
  type NdpOption,
  parseIcmpv6,
} from '../ipv6/icmp.js';
import {
  curHopLimit,
  defaultRouter,
  isOurAddress,
  linkMtu,
  type NdpEvent,
  type NdpOutput,
  ndpDeadline,
  ndpStep,
  onLink,
  sendableMac,
  sourceAddress,
  transmitsAtOnce,
} from '../ipv6/ndp.js';
import { emitIpv6, IPV6_HEADER_LEN, IPV6_MIN_MTU, Ipv6Packet } from '../ipv6/wire.js';
import { ETHERTYPE_IPV6 } from '../ethernet/wire.js';
import { EchoRequests } from './echo.js';
import { announcedMtu } from '../tcp/core/pmtu.js';
import {
  type IcmpClass,
  icmpv6Class,
  NEIGHBOUR_UNREACHABLE,
  PATH_MTU,
  type TransportError,
} from './errors.js';
import type { Interface } from './iface.js';
import { gsoHeader } from '../link/gso.js';
import { checksumTrusted, rxVnetOf } from '../link/vnet.js';
import { compactPacket, finishForQuote, newGsoPacket, newPacket, ownCopy } from './packet.js';
import type { GsoSend } from './ipv4.js';
import type { IpOutput, LinkOutput, SendOptions, StackEnv, TimedCore, UpperProtocol } from './layer.js';
import { icmpErrorLimiter, type TokenBucket } from './ratelimit.js';
import { Reassembler } from './reassembler.js';
import type { Routes } from './routes.js';

export interface Ipv6Route {
  readonly iface: Interface;
  readonly src: Ipv6Addr;
  readonly dst: Ipv6Addr;
  readonly nextHop: Ipv6Addr;
}

/** What the upper layers see of a received packet. */
export interface Ipv6Datagram {
  readonly iface: Interface;
  readonly src: Ipv6Addr;
  readonly dst: Ipv6Addr;
  readonly hopLimit: number;
  readonly srcMac: number;
  /** To a multicast address or as a link-layer multicast: errors only as RFC 4443 §2.4(e) allows. */
  readonly multicast: boolean;
  /** The packet as received, for quoting in ICMPv6 errors. */
  readonly original: Uint8Array;
  /** The ECN bits of the traffic class (RFC 3168 §5), for TCP. */
  readonly ecn?: number;
  /** The link vouches for the transport checksum (as Ipv4Datagram's); never for reassembled data. */
  readonly checksumTrusted?: boolean;
}

export interface Ping6Reply {
  readonly rttMs: number;
  readonly hopLimit: number;
  readonly bytes: number;
  readonly from: Ipv6Addr;
}

/** Any link-local destination: source address selection then picks our link-local address. */
const LINK_LOCAL_PREFIX = parseIpv6Addr('fe80::1')!;
/** RFC 4443 §2.4(c): an error holds as much of the invoking packet as fits in the minimum MTU. */
const ERROR_QUOTE_MAX = IPV6_MIN_MTU - IPV6_HEADER_LEN - 8;

export class Ipv6Layer implements IpOutput<Ipv6Addr, Ipv6Route>, TimedCore {
  /** The upper protocols by Next Header value (ICMPv6 is this layer's own). */
  readonly protocols = new Map<number, UpperProtocol<Ipv6Datagram>>();
  /** Where ICMPv6 errors about our own packets go, by the quoted packet's upper protocol (RFC 4443 §2.4(d)). */
  readonly transportErrors = new Map<number, (e: TransportError<Ipv6Addr>) => void>();
  /** The offset-0 fragment's headers up to and including its Fragment header are the entry's header. */
  private readonly reassembly = new Reassembler({ maxDatagramLen: 2 * 65_535, minHeaderLen: 48 });
  private ident: number;
  private readonly icmpErrors: TokenBucket;
  private readonly echoes: EchoRequests<Ping6Reply>;

  constructor(
    private readonly env: StackEnv,
    private readonly interfaces: readonly Interface[],
    private readonly routes: Routes<Uint8Array>,
    private readonly link: LinkOutput,
  ) {
    this.ident = env.random.next();
    this.echoes = new EchoRequests(env.scheduler, env.random.int(0x10000));
    this.icmpErrors = icmpErrorLimiter(env.now());
  }

  isOurs(a: Uint8Array): boolean {
    return this.interfaces.some((i) => isOurAddress(i.ndp, a));
  }

  route(dst: Ipv6Addr, src?: Ipv6Addr): Ipv6Route | undefined {
    const withNdp = this.interfaces.filter((i) => i.ipv6Enabled);
    const pick = (iface: Interface, nextHop: Ipv6Addr): Ipv6Route | undefined => {
      const s = src ?? sourceAddress(iface.ndp, dst);
      return s === undefined ? undefined : { iface, src: s, dst, nextHop };
    };
    const onLinkIface = withNdp.find((i) => onLink(i.ndp, dst));
    if (onLinkIface) return pick(onLinkIface, dst);
    const r = this.routes.lookup(dst);
    if (r) {
      const iface = this.interfaces[r.iface]!;
      return pick(iface, (r.gateway ?? dst) as Ipv6Addr);
    }
    for (const iface of withNdp) {
      const router = defaultRouter(iface.ndp);
      if (router) return pick(iface, router);
    }
    return undefined;
  }

  /** One IPv6 packet from `iface`; `srcMac` is the frame's source, `linkMulticast` if not sent to our MAC. */
  input(iface: Interface, bytes: Uint8Array, srcMac: number, linkMulticast: boolean): void {
    const env = this.env;
    if (!iface.ipv6Enabled) return env.drop('ipv6/disabled');
    const checked = Ipv6Packet.check(bytes);
    if (!checked.ok) return env.drop(checked.error);
    const p = checked.value;
    const dst = p.dst as Ipv6Addr;
    const src = p.src as Ipv6Addr;
    const multicast = isIpv6Multicast(dst);
    if (multicast ? !iface.groups.has(ipv6Key(dst)) : !this.isOurs(dst)) {
      return env.drop('ipv6/not-for-us');
    }
    // RFC 4291 §2.7: a multicast address is never a source.
    if (isIpv6Multicast(src)) return env.drop('ipv6/multicast-source');
    env.counters.inc('ipv6/received');
    const packet = bytes.subarray(0, IPV6_HEADER_LEN + p.payloadLen);
    const d: Ipv6Datagram = {
      iface,
      src,
      dst,
      hopLimit: p.hopLimit,
      srcMac,
      multicast: multicast || linkMulticast,
      original: packet,
      ecn: p.trafficClass & 3,
      checksumTrusted: checksumTrusted(rxVnetOf(iface.link)),
    };
    this.walk(d, p.nextHeader, p.payload, packet);
  }

  /** Walks the extension headers of `bytes` (starting at next header `nh`) and delivers the upper layer. */
  private walk(d: Ipv6Datagram, nh: number, bytes: Uint8Array, packet: Uint8Array): void {
    const env = this.env;
    const chain = walkExtHeaders(nh, bytes, { dstMulticast: isIpv6Multicast(d.dst) });
    if (!chain.ok) {
      env.drop(chain.error);
      const icmp = chain.error.icmp;
      if (icmp) this.sendError(d, icmp);
      return;
    }
    const c = chain.value;
    if (c.fragment) {
      const f = c.fragment;
      const key = `${ipv6Key(d.src)}>${ipv6Key(d.dst)}/${f.ident}`;
      const outputs = this.reassembly.fragment(
        env.now(),
        key,
        f.fragOffset,
        c.payload,
        f.moreFragments,
        packet.subarray(0, f.offset + FRAGMENT_HEADER_LEN),
      );
      for (const o of outputs) this.reassemblyOutput(d, o);
      return;
    }
    this.deliver(d, c.nextHeader, c.payload, c.nextHeaderPointer);
  }

  private reassemblyOutput(d: Ipv6Datagram, o: ReassemblyOutput): void {
    const env = this.env;
    switch (o.kind) {
      case 'reassembled': {
        env.counters.inc('ipv6/reassembled');
        const fragmentAt = o.header.length - FRAGMENT_HEADER_LEN;
        const original = new Uint8Array(o.header.length + o.data.length);
        original.set(o.header);
        original.set(o.data, o.header.length);
        // Headers after the Fragment header belong to the reassembled packet (RFC 8200 §4.5).
        this.walk({ ...d, original, checksumTrusted: false }, o.header[fragmentAt]!, o.data, original);
        break;
      }
      case 'dropped':
        env.drop(`ipv6/reassembly-${o.reason}`);
        break;
      case 'expired':
        env.counters.inc('ipv6/reassembly-expired');
        // RFC 8200 §4.5: Time Exceeded code 1 only if the first fragment arrived.
        if (o.header && o.data) {
          const quoted = new Uint8Array(o.header.length + o.data.length);
          quoted.set(o.header);
          quoted.set(o.data, o.header.length);
          this.sendError({ ...d, original: quoted, multicast: false }, { kind: 'time-exceeded', code: 1 });
        }
        break;
    }
  }

  private deliver(d: Ipv6Datagram, nextHeader: number, payload: Uint8Array, nextHeaderPointer: number): void {
    if (nextHeader === IPPROTO_ICMPV6) return this.icmpInput(d, payload);
    if (nextHeader === IPPROTO_NONE) return;
    const upper = this.protocols.get(nextHeader);
    if (upper === undefined) {
      // RFC 8200 §4: an unrecognised Next Header -> Parameter Problem code 1 pointing at it.
      this.env.drop('ipv6/unknown-next-header');
      this.sendError(d, { kind: 'parameter-problem', code: 1, pointer: nextHeaderPointer });
      return;
    }
    // RFC 4443 §3.1: code 4, port unreachable, when nobody listens on the port.
    if (!upper.input(d, payload)) {
      if (d.checksumTrusted) finishForQuote(d.iface.link, d.original);
      this.sendError(d, { kind: 'dest-unreachable', code: 4 });
    }
  }

  private icmpInput(d: Ipv6Datagram, bytes: Uint8Array): void {
    const env = this.env;
    const r = parseIcmpv6(bytes, { version: 6, src: d.src, dst: d.dst });
    if (!r.ok) return env.drop(r.error);
    const { repr, payload } = r.value;
    env.counters.inc(`icmpv6/in-${repr.kind}`);
    switch (repr.kind) {
      case 'router-solicitation':
      case 'router-advertisement':
      case 'neighbor-solicitation':
      case 'neighbor-advertisement':
      case 'redirect':
        this.ndpEvent(d.iface, {
          kind: 'received',
          now: env.now(),
          src: d.src,
          dst: d.dst,
          hopLimit: d.hopLimit,
          srcMac: d.srcMac as never,
          message: repr,
        });
        return;
      case 'echo-request': {
        // RFC 4443 §4.1: reply to unicast requests; replies to multicast requests are a MAY (Linux answers).
        const route = this.route(d.src, d.multicast ? undefined : d.dst);
        if (!route) return env.drop('ipv6/no-route');
        const reply: Icmpv6Repr = { kind: 'echo-reply', ident: repr.ident, seq: repr.seq };
        this.sendIcmp(route, reply, payload);
        return;
      }
      case 'echo-reply':
        this.echoes.answer(repr.ident, repr.seq, (rttMs) => ({
          rttMs,
          hopLimit: d.hopLimit,
          bytes: payload.length,
          from: d.src,
        }));
        return;
      case 'dest-unreachable':
      case 'time-exceeded':
      case 'parameter-problem': {
        const kind = icmpv6Class(repr.kind, repr.code);
        if (kind !== undefined) this.quotedError(payload, kind);
        return;
      }
      case 'packet-too-big':
        // RFC 8201 §4: the MTU is for path MTU discovery (never below 1280).
        this.quotedError(payload, PATH_MTU, announcedMtu(true, repr.mtu, 0));
        return;
      default:
        return;
    }
  }

  /**
   * RFC 4443 §2.4(d): hands an error about `quote` (a packet we sent, as much of it as the error
   * holds) to the upper-layer protocol that sent it. Believed only when its source is one of our
   * addresses; a Fragment header (offset 0, where the upper header starts) is stepped over, other
   * extension headers are ours never to send.
   */
  /** A packet this node forwarded, as a received datagram for `sendError`. */
  forwarded(iface: Interface, packet: Uint8Array): Ipv6Datagram {
    return {
      iface,
      src: packet.subarray(8, 24) as Ipv6Addr,
      dst: packet.subarray(24, 40) as Ipv6Addr,
      hopLimit: packet[7]!,
      srcMac: 0,
      multicast: isIpv6Multicast(packet.subarray(24, 40)),
      original: packet,
    };
  }

  private quotedError(quote: Uint8Array, kind: IcmpClass, mtu?: number): void {
    const env = this.env;
    if (quote.length < IPV6_HEADER_LEN || quote[0]! >> 4 !== 6) {
      return env.counters.inc('ipv6/icmp-error-bad-quote');
    }
    let nh = quote[6]!;
    let at = IPV6_HEADER_LEN;
    if (nh === IPPROTO_FRAGMENT) {
      const fragOffset = quote.length >= at + 8 ? ((quote[at + 2]! << 8) | quote[at + 3]!) >> 3 : -1;
      if (fragOffset !== 0) return env.counters.inc('ipv6/icmp-error-bad-quote');
      nh = quote[at]!;
      at += FRAGMENT_HEADER_LEN;
    }
    const local = quote.subarray(8, 24) as Ipv6Addr;
    if (quote.length < at + 8 || !this.isOurs(local)) return env.counters.inc('ipv6/icmp-error-bad-quote');
    const handler = this.transportErrors.get(nh);
    if (handler === undefined) return;
    const remote = quote.subarray(24, 40) as Ipv6Addr;
    if (mtu === undefined) return handler({ kind, local, remote, header: quote.subarray(at) });
    handler({ kind, local, remote, header: quote.subarray(at), mtu });
  }

  private sendIcmp(route: Ipv6Route, repr: Icmpv6Repr, body: Uint8Array): void {
    const hl = icmpv6HeaderLen(repr);
    const ph = { version: 6 as const, src: route.src, dst: route.dst };
    this.send(route, IPPROTO_ICMPV6, hl + body.length, (buf) => {
      buf.set(body, hl);
      emitIcmpv6(repr, buf, ph);
    });
  }

  /**
   * Sends an ICMPv6 error about `d` unless RFC 4443 §2.4(e) forbids it (`mayAnswerIcmpv6Error`:
   * never about an error message, never to a multicast destination or link-layer multicast except
   * Packet Too Big and Parameter Problem code 2, never to an unspecified or multicast source);
   * rate-limited (§2.4(f)).
   * `from` picks the source address (a router answers from the interface the packet came in on);
   * by default the destination the offending packet was sent to, when it is ours.
   */
  sendError(d: Ipv6Datagram, repr: Icmpv6Repr, from?: Ipv6Addr): void {
    const env = this.env;
    const o = d.original;
    if (!mayAnswerIcmpv6Error(o, repr, d.multicast)) return;
    if (!this.icmpErrors.take(env.now())) return env.drop('icmpv6/error-rate-limited');
    const route = this.route(d.src, from ?? (this.isOurs(d.dst) ? d.dst : undefined));
    if (!route) return env.drop('ipv6/no-route');
    env.counters.inc(`icmpv6/out-${repr.kind}`);
    this.sendIcmp(route, repr, o.subarray(0, Math.min(o.length, ERROR_QUOTE_MAX)));
  }

  /**
   * Tells the source of `packet` (received on `iface`) a better first hop, `target`, for its
   * destination (RFC 4861 §8.2): from our link-local address with hop limit 255, with the target's
   * link-layer address when known and as much of the packet as keeps the Redirect within the minimum
   * MTU (§4.5). Rate-limited like errors (§8.2: "MUST limit the rate").
   */
  sendRedirect(iface: Interface, packet: Uint8Array, target: Ipv6Addr): void {
    const env = this.env;
    const now = env.now();
    const src = sourceAddress(iface.ndp, LINK_LOCAL_PREFIX);
    if (src === undefined || packet.length < IPV6_HEADER_LEN) return;
    if (!this.icmpErrors.take(now)) return env.drop('icmpv6/error-rate-limited');
    const dst = ipv6FromBytes(packet.subarray(8, 24));
    const mac = sendableMac(iface.ndp, target, now);
    const options: NdpOption[] = mac === undefined ? [] : [{ kind: 'target-link-addr', mac }];
    // IPv6 header, Redirect header (40), the options so far, the Redirected Header option's own 8.
    const room = IPV6_MIN_MTU - IPV6_HEADER_LEN - 40 - 8 * options.length - 8;
    options.push({ kind: 'redirected-header', data: packet.subarray(0, Math.min(packet.length, room & ~7)) });
    const repr: Icmpv6Repr = {
      kind: 'redirect',
      target,
      destination: ipv6FromBytes(packet.subarray(24, 40)),
      options,
    };
    env.counters.inc('icmpv6/out-redirect');
    const route: Ipv6Route = { iface, src, dst, nextHop: dst };
    const ph = { version: 6 as const, src, dst };
    this.send(route, IPPROTO_ICMPV6, icmpv6HeaderLen(repr), (buf) => emitIcmpv6(repr, buf, ph), { ttl: 255 });
  }

  /** The MTU packets on `route` are sized for: the interface's, or less when a router advertised less. */
  mtuOf(route: Ipv6Route): number {
    return Math.max(IPV6_MIN_MTU, Math.min(route.iface.mtu, linkMtu(route.iface.ndp)));
  }

  /**
   * Sends an upper-layer payload of `upperLen` bytes written by `write`, fragmenting with a Fragment
   * header when it exceeds the link MTU (RFC 8200 §4.5; only the source fragments in IPv6).
   */
  send(
    route: Ipv6Route,
    nextHeader: number,
    upperLen: number,
    write: (buf: Uint8Array) => void,
    opts: SendOptions & { readonly gso?: GsoSend } = {},
  ): boolean {
    const env = this.env;
    const iface = route.iface;
    const mtu = this.mtuOf(route);
    const repr = {
      trafficClass: opts.ecn ?? 0,
      flowLabel: 0,
      nextHeader,
      hopLimit: opts.ttl ?? (isIpv6Multicast(route.dst) ? 1 : curHopLimit(iface.ndp)),
      src: route.src,
      dst: route.dst,
    };
    if (upperLen > 0xffff) return false;
    const gso = opts.gso;
    const segmentFits = gso !== undefined && IPV6_HEADER_LEN + gso.headerLen + gso.size <= mtu;
    if (gso !== undefined && IPV6_HEADER_LEN + upperLen > mtu && segmentFits) {
      // A super-frame, cut by the device into segments that fit the MTU (src/link/gso.ts).
      const l4 = 14 + IPV6_HEADER_LEN;
      const packet = newGsoPacket(
        IPV6_HEADER_LEN + upperLen,
        gsoHeader(6, nextHeader, l4, l4 + gso.headerLen, gso.size, gso.ecn),
      );
      write(packet.subarray(IPV6_HEADER_LEN));
      emitIpv6(repr, packet);
      env.counters.inc('ipv6/sent');
      this.resolveAndSend(route.iface, route.nextHop, packet);
      return true;
    }
    if (IPV6_HEADER_LEN + upperLen <= mtu) {
      const packet = newPacket(IPV6_HEADER_LEN + upperLen);
      write(packet.subarray(IPV6_HEADER_LEN));
      emitIpv6(repr, packet);
      env.counters.inc('ipv6/sent');
      this.resolveAndSend(route.iface, route.nextHop, packet);
      return true;
    }
    const body = new Uint8Array(upperLen);
    write(body);
    const ident = this.ident;
    this.ident = (this.ident + 1) >>> 0;
    const start = IPV6_HEADER_LEN + FRAGMENT_HEADER_LEN;
    for (const f of planFragments(upperLen, mtu, IPV6_HEADER_LEN, FRAGMENT_HEADER_LEN)) {
      const packet = newPacket(start + f.length);
      packet.set(body.subarray(f.offset, f.offset + f.length), start);
      emitFragmentHeader(
        { nextHeader, fragOffset: f.offset, moreFragments: f.more, ident },
        packet.subarray(IPV6_HEADER_LEN),
      );
      emitIpv6({ ...repr, nextHeader: IPPROTO_FRAGMENT }, packet);
      env.counters.inc('ipv6/fragments-sent');
      this.resolveAndSend(route.iface, route.nextHop, packet);
    }
    return true;
  }

  /** Sends an IPv6 packet (made by `newPacket`) to `nextHop` on `iface`, through NDP when unresolved. */
  resolveAndSend(iface: Interface, nextHop: Ipv6Addr, packet: Uint8Array): void {
    if (isIpv6Multicast(nextHop)) {
      this.link.transmit(iface, ipv6MulticastMac(nextHop), ETHERTYPE_IPV6, packet);
      return;
    }
    const now = this.env.now();
    const mac = sendableMac(iface.ndp, nextHop, now);
    if (mac !== undefined) return this.link.transmit(iface, mac, ETHERTYPE_IPV6, packet);
    // NDP may queue it until the neighbour answers: hold a compact copy, not a slab.
    this.ndpEvent(iface, { kind: 'resolve', now, nextHop, packet: compactPacket(packet) });
  }

  /**
   * Sends an IPv6 packet that lies in a received frame (a router forwarding it, the frame lent by its
   * link): the NDP core gets the frame's own bytes when it sends at once, a copy when it must hold
   * the packet. Returns the bytes copied.
   */
  sendLent(iface: Interface, nextHop: Ipv6Addr, packet: Uint8Array): number {
    if (transmitsAtOnce(iface.ndp, nextHop)) {
      this.ndpEvent(iface, { kind: 'resolve', now: this.env.now(), nextHop, packet });
      return 0;
    }
    this.resolveAndSend(iface, nextHop, ownCopy(packet));
    return packet.length;
  }

  ndpEvent(iface: Interface, event: NdpEvent): void {
    const [state, outputs] = ndpStep(iface.ndp, event);
    iface.ndp = state;
    for (const o of outputs) this.ndpOutput(iface, o);
    this.env.rearm();
  }

  private ndpOutput(iface: Interface, o: NdpOutput): void {
    const env = this.env;
    switch (o.kind) {
      case 'send': {
        const route: Ipv6Route = { iface, src: o.src, dst: o.dst, nextHop: o.dst };
        const hl = icmpv6HeaderLen(o.message);
        const packet = newPacket(IPV6_HEADER_LEN + hl);
        emitIcmpv6(o.message, packet.subarray(IPV6_HEADER_LEN), { version: 6, src: o.src, dst: o.dst });
        emitIpv6(
          {
            trafficClass: 0,
            flowLabel: 0,
            nextHeader: IPPROTO_ICMPV6,
            hopLimit: o.hopLimit,
            src: route.src,
            dst: route.dst,
          },
          packet,
        );
        env.counters.inc(`icmpv6/out-${o.message.kind}`);
        this.link.transmit(iface, o.dstMac, ETHERTYPE_IPV6, packet);
        break;
      }
      case 'transmit':
        this.link.transmit(iface, o.mac, ETHERTYPE_IPV6, o.packet);
        break;
      case 'dropped':
        env.drop(`ndp/${o.reason}`);
        break;
      case 'unreachable':
        env.counters.inc('ndp/unreachable', o.packets.length);
        env.logEvent(`${iface.name}: ${ipv6ToString(o.addr)} unreachable (no neighbour advertisement)`);
        // Linux answers its own packets with address unreachable (ip6_link_failure): EHOSTUNREACH.
        // A router answers a forwarded one's source with code 3, address unreachable (RFC 4443 §3.1).
        for (const p of o.packets) {
          if (p.length < IPV6_HEADER_LEN) continue;
          if (this.isOurs(p.subarray(8, 24))) this.quotedError(p, NEIGHBOUR_UNREACHABLE);
          else this.sendError(this.forwarded(iface, p), { kind: 'dest-unreachable', code: 3 });
        }
        break;
      case 'address':
        env.logEvent(`${iface.name}: ${ipv6ToString(o.address)}/${o.prefixLen} ${o.state}`);
        break;
      case 'dad-failed':
        env.logEvent(
          `${iface.name}: duplicate address ${ipv6ToString(o.address)} (also used by another node)`,
        );
        break;
      case 'conflict':
        env.logEvent(`${iface.name}: another node advertises our address ${ipv6ToString(o.address)}`);
        break;
      case 'join':
        iface.groups.add(ipv6Key(o.group));
        break;
      case 'leave':
        iface.groups.delete(ipv6Key(o.group));
        break;
      case 'router':
        env.logEvent(`${iface.name}: default router ${ipv6ToString(o.router)} ${o.state}`);
        break;
      case 'prefix':
        env.logEvent(`${iface.name}: on-link prefix ${ipv6ToString(o.prefix)}/${o.prefixLen} ${o.state}`);
        break;
      case 'mtu':
        env.logEvent(`${iface.name}: link MTU ${o.mtu} from a router advertisement`);
        break;
    }
  }

  /** Sends one ICMPv6 echo request; resolves with the reply, or undefined after `timeoutMs`. */
  ping(dst: Ipv6Addr, opts: { size?: number; timeoutMs?: number } = {}): Promise<Ping6Reply | undefined> {
    const route = this.route(dst);
    if (!route) return Promise.resolve(undefined);
    const body = new Uint8Array(opts.size ?? 56).map((_, i) => i & 0xff);
    return this.echoes.request(opts.timeoutMs ?? 1000, (seq) => {
      this.sendIcmp(route, { kind: 'echo-request', ident: this.echoes.ident, seq }, body);
      this.env.rearm();
    });
  }

  get reassemblyBytes(): number {
    return this.reassembly.bytes;
  }

  get reassemblyPeakBytes(): number {
    return this.reassembly.peakBytes;
  }

  deadline(): number {
    let next = this.reassembly.deadline();
    for (const i of this.interfaces)
      if (i.ipv6Enabled) next = Math.min(next, ndpDeadline(i.ndp) ?? Number.POSITIVE_INFINITY);
    return next;
  }

  tick(now: number): void {
    for (const iface of this.interfaces) {
      if (!iface.ipv6Enabled) continue;
      const d = ndpDeadline(iface.ndp);
      if (d !== null && d <= now) this.ndpEvent(iface, { kind: 'tick', now });
    }
    const iface = this.interfaces[0]!;
    for (const o of this.reassembly.tick(now)) {
      // Only 'expired' reaches here; its quote carries the addresses the error goes back to.
      const src = (
        o.kind === 'expired' && o.header ? o.header.subarray(8, 24) : new Uint8Array(16)
      ) as Ipv6Addr;
      const dst = (
        o.kind === 'expired' && o.header ? o.header.subarray(24, 40) : new Uint8Array(16)
      ) as Ipv6Addr;
      this.reassemblyOutput(
        { iface, src, dst, hopLimit: 0, srcMac: 0, multicast: false, original: new Uint8Array(0) },
        o,
      );
    }
  }
}
