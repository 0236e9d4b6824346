/**
 * The router: a host stack (it answers ARP, NDP and ping on every interface, and sends its own ICMP
 * errors) with a forwarding path in front of its IP layers. Every IP packet unicast to one of its
 * MACs goes through the pure decision (forward.ts) first; the driver only applies the verdict:
 * - forward: the received frame's bytes are rewritten in place (TTL, checksum, MACs) and handed to
 *   the egress link — no copy of the payload. A link lets the frame be sent on before its receive
 *   buffer is reused (docs/ link contract in src/link/link.ts). Only a packet that must outlive the
 *   call (waiting for ARP/NDP, or cut into fragments) is copied, and counted in `copiedPayloadBytes`;
 * - an ICMP error: sent by the host stack (rate-limited there) from the ingress interface's address;
 * - drop: counted under `router/<reason>`.
 * Offloads (docs/ROUTER.md "Offloads"): a frame from a link with vnet headers may be a TCP super-frame
 * or carry a partial checksum (its `rxVnet`). It is judged by the segments it stands for and
 * rewritten in its outer headers only, then lent whole, with its header, to an egress link that
 * takes it (`sendOffloaded`); anywhere else it is cut (`segmentFrame`) or its checksum finished in
 * place, and goes on as wire frames.
 * Routes live in one FIB per family (fib.ts), which is also the host stack's routing table. With
 * `filterWith`, connection tracking, the firewall and IPv4 NAT see each packet first (`Filter`, at the
 * end of this file; docs/ROUTER.md "Firewall and NAT").
 */
import {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4Mask,
  ipv6Key,
  ipv6Prefix,
  isIpv6LinkLocal,
  type Mac,
  readIpv4,
  readMac,
} from '../addr.js';
import { sendableMac as arpMac } from '../arp/cache.js';
import { setU16, u16, u32 } from '../bytes.js';
import { finish, sum16, updateChecksum32 } from '../checksum/index.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../ethernet/wire.js';
import { Ipv4Packet } from '../ipv4/wire.js';
import { linkLocalAddress } from '../ipv6/ndp/addresses.js';
import { finishPartialChecksum, gsoSegmentIpLen, needsOffload, segmentFrame } from '../link/gso.js';
import { offloadSenderOf } from '../link/link.js';
import { rxVnetOf, VNET_F_NEEDS_CSUM, VNET_GSO_NONE, type VnetHdr } from '../link/vnet.js';
import { sendableMac as ndpMac } from '../ipv6/ndp.js';
import type { Interface, InterfaceConfig } from '../stack/iface.js';
import type { Forwarder } from '../stack/layer.js';
import { finishForQuote, frameOf, newPacket, ownCopy } from '../stack/packet.js';
import { Reassembler } from '../stack/reassembler.js';
import { icmpErrorLimiter, type TokenBucket } from '../stack/ratelimit.js';
import { ipv6InPrefix, type Route, type Routes } from '../stack/routes.js';
import { Stack, type StackOptions } from '../stack/stack.js';
import {
  emptyFib4,
  emptyFib6,
  type Fib4,
  type Fib6,
  fib4Add,
  fib4Lookup,
  fib4Routes,
  fib6Add,
  fib6Lookup,
  fib6Routes,
  type FibRoute,
} from './fib.js';
import {
  carryCounters,
  compileFirewall,
  countDecision,
  createCounters,
  evaluate,
  type Firewall,
  type FirewallConfig,
  type FirewallCounters,
  firewallStats,
} from './firewall.js';
import { rejectReply } from './reject.js';
import {
  applyTranslation,
  type Masquerade,
  NAT_LOCAL,
  type NatState,
  natCreate,
  natDeadline,
  natReconfigure,
  type PortForward,
  natStep,
  type Translation,
  natTick,
} from './nat.js';
import { ctStats, ctStep } from './conntrack.js';
import {
  type Fragment6,
  firstFragmentComplete,
  fragment6Of,
  needsReassembly,
  wholeDatagram6,
} from './frag6.js';
import { packetInfo } from './packet-info.js';
import {
  applyForward4,
  applyForward6,
  decide4,
  decide6,
  type ForwardContext,
  type ForwardInterface,
  fragmentForward4,
} from './forward.js';

export type RpFilter = ForwardInterface['rpFilter'];

export interface RouterOptions extends Omit<StackOptions, 'forwarder' | 'routes'> {
  /** Lower the MSS of forwarded SYNs to what the egress MTU allows (`--clamp-mss`). */
  readonly clampMss?: boolean;
  /** ICMP Redirects when a packet leaves by the interface it came in on (default true, as Linux). */
  readonly sendRedirects?: boolean;
  /** Bound of each FIB (default: the FIB's). */
  readonly maxRoutes?: number;
}

/** What `filterWith` takes: the firewall, and IPv4 NAT by interface name. */
export interface RouterFilterOptions {
  /** nftables-like chains (firewall.ts); absent: every packet accepted, still tracked. */
  readonly firewall?: FirewallConfig;
  /** Flows from `inside` that leave by `outside` take `outside`'s IPv4 address (masquerade). */
  readonly masquerade?: readonly { readonly inside: string; readonly outside: string }[];
  /** New flows to `outside`'s address and `port` go to `to:toPort` (a port forward). */
  readonly forwards?: readonly {
    readonly outside: string;
    readonly protocol: 'tcp' | 'udp';
    readonly port: number;
    readonly to: Ipv4Addr;
    readonly toPort: number;
  }[];
  /** 16 bytes keying NAT's port choice and the table's hash; a stack's OS secret on a real network. */
  readonly secret: Uint8Array;
  /** Bound of the connection table in flows (conntrack.ts's default otherwise); fixed once on. */
  readonly conntrackMax?: number;
}

export interface RouterInterfaceConfig extends InterfaceConfig {
  /** Reverse-path filter on this interface (BCP 38): loose by default. */
  readonly rpFilter?: RpFilter;
}

/** Metrics: connected routes win over static routes to the same prefix. */
const CONNECTED_METRIC = 0;
const STATIC_METRIC = 1;

/** A FIB as the host stack's routing table: the stack adds connected routes through it. */
class FibRoutes<A, F> implements Routes<A> {
  constructor(
    public fib: F,
    private readonly addTo: (fib: F, r: FibRoute<A>) => { ok: true; value: F } | { ok: false },
    private readonly find: (fib: F, dst: A) => FibRoute<A> | undefined,
  ) {}

  add(route: Route<A>, metric?: number): boolean {
    const r = this.addTo(this.fib, {
      prefix: route.prefix,
      prefixLen: route.prefixLen,
      iface: route.iface,
      ...(route.gateway === undefined ? {} : { gateway: route.gateway }),
      metric: metric ?? (route.gateway === undefined ? CONNECTED_METRIC : STATIC_METRIC),
      origin: route.gateway === undefined ? 'connected' : 'static',
    });
    if (!r.ok) return false;
    this.fib = r.value;
    return true;
  }

  lookup(dst: A): FibRoute<A> | undefined {
    return this.find(this.fib, dst);
  }
}

export class Router implements Forwarder {
  readonly stack: Stack;
  /** Payload bytes the forwarding path copied (zero when every neighbour is resolved and no fragmenting). */
  copiedPayloadBytes = 0;
  /** Frames forwarded with offload metadata (from a TAP with vnet headers), by what became of them. */
  readonly offload: OffloadCounters = {
    gsoWhole: 0,
    gsoSegmented: 0,
    segmentsMade: 0,
    csumPartialWhole: 0,
    csumFinished: 0,
  };
  private readonly fib4: FibRoutes<Ipv4Addr, Fib4>;
  private readonly fib6: FibRoutes<Ipv6Addr, Fib6>;
  private readonly views: ForwardInterface[] = [];
  /** Connection tracking, NAT and the firewall, once `filterWith` turned them on. */
  private filter: Filter | undefined;
  private readonly ctx: ForwardContext;

  constructor(opts: RouterOptions) {
    const limits = opts.maxRoutes === undefined ? {} : { maxRoutes: opts.maxRoutes };
    this.fib4 = new FibRoutes(emptyFib4(limits), fib4Add, fib4Lookup);
    this.fib6 = new FibRoutes(emptyFib6(limits), fib6Add, fib6Lookup);
    const fib4 = this.fib4;
    const fib6 = this.fib6;
    this.ctx = {
      interfaces: this.views,
      route4: (dst) => fib4.lookup(dst),
      route6: (dst) => fib6.lookup(dst),
      clampMss: opts.clampMss ?? false,
      sendRedirects: opts.sendRedirects ?? true,
    };
    this.stack = new Stack({
      ...opts,
      forwarder: this,
      routes: { v4: fib4, v6: fib6 as unknown as Routes<Uint8Array> },
    });
  }

  get interfaces(): readonly Interface[] {
    return this.stack.interfaces;
  }

  addInterface(cfg: RouterInterfaceConfig): Interface {
    const iface = this.stack.addInterface(cfg);
    this.views.push({
      index: iface.index,
      mac: iface.mac,
      mtu: iface.mtu,
      ipv4: iface.ipv4,
      // The link-local address is fe80::EUI-64 of the MAC (RFC 4291 §2.5.6; the NDP core's choice).
      ipv6: iface.ipv6Enabled ? [...iface.ipv6, { address: linkLocalAddress(iface.mac), prefixLen: 64 }] : [],
      rpFilter: cfg.rpFilter ?? 'loose',
    });
    // The stack adds the IPv4 connected routes; IPv6 prefixes of static addresses are ours to add.
    for (const c of iface.ipv6)
      this.fib6.add({
        prefix: ipv6Prefix(c.address, c.prefixLen),
        prefixLen: c.prefixLen,
        iface: iface.index,
      });
    return iface;
  }

  /** A static IPv4 route; an error when its gateway is not on a connected subnet. */
  addRoute4(
    prefix: Ipv4Addr,
    prefixLen: number,
    gateway: Ipv4Addr,
    metric = STATIC_METRIC,
  ): string | undefined {
    const via = this.interfaces.find((i) =>
      i.ipv4.some((c) => ((c.address ^ gateway) & ipv4Mask(c.prefixLen)) === 0),
    );
    if (via === undefined) return 'the gateway is not on a connected subnet';
    const masked = ((prefix & ipv4Mask(prefixLen)) >>> 0) as Ipv4Addr;
    const ok = this.fib4.add({ prefix: masked, prefixLen, gateway, iface: via.index }, metric);
    return ok ? undefined : 'the route table is full';
  }

  /** A static IPv6 route; an error when its gateway is neither link-local nor on a connected prefix. */
  addRoute6(
    prefix: Ipv6Addr,
    prefixLen: number,
    gateway: Ipv6Addr,
    opts: { iface?: number; metric?: number } = {},
  ): string | undefined {
    const linkLocal = isIpv6LinkLocal(gateway);
    const via = linkLocal
      ? this.interfaces[opts.iface ?? -1]
      : this.interfaces.find((i) => i.ipv6.some((c) => ipv6InPrefix(gateway, c.address, c.prefixLen)));
    if (via === undefined)
      return linkLocal
        ? 'a link-local gateway needs its interface'
        : 'the gateway is not on a connected prefix';
    const ok = this.fib6.add(
      { prefix: ipv6Prefix(prefix, prefixLen), prefixLen, gateway, iface: via.index },
      opts.metric,
    );
    return ok ? undefined : 'the route table is full';
  }

  /**
   * Turns on connection tracking, the firewall and IPv4 NAT for every packet unicast to the router
   * (forwarded or its own), after the interfaces are added. Returns an error for a name that is no
   * interface or an outside interface without an IPv4 address.
   */
  filterWith(opts: RouterFilterOptions): string | undefined {
    const rules = this.natRules(opts);
    if (typeof rules === 'string') return rules;
    const nat = natCreate({
      ...rules,
      secret: opts.secret,
      ...(opts.conntrackMax === undefined ? {} : { conntrack: { maxEntries: opts.conntrackMax } }),
    });
    const fw = compileFirewall(opts.firewall ?? { ...DEFAULT_FILTER });
    this.filter = new Filter(this.stack, nat, fw);
    this.stack.addTimedCore(this.filter);
    return undefined;
  }

  /** Masquerades and forwards by interface index and address, or what is wrong with them. */
  private natRules(
    opts: Omit<RouterFilterOptions, 'secret'>,
  ): { masquerade: Masquerade[]; forwards: PortForward[] } | string {
    const byName = (name: string) => this.interfaces.find((i) => i.name === name);
    const masquerade: Masquerade[] = [];
    for (const m of opts.masquerade ?? []) {
      const inside = byName(m.inside);
      const outside = byName(m.outside);
      if (inside === undefined || outside === undefined)
        return `--masquerade ${m.inside},${m.outside}: no such interface`;
      const address = outside.ipv4[0]?.address;
      if (address === undefined) return `--masquerade: ${m.outside} has no IPv4 address`;
      masquerade.push({ inside: inside.index, outside: outside.index, address });
    }
    const forwards: PortForward[] = [];
    for (const f of opts.forwards ?? []) {
      const outside = byName(f.outside);
      const address = outside?.ipv4[0]?.address;
      if (outside === undefined || address === undefined)
        return `--forward ${f.outside}: no such interface with an IPv4 address`;
      const protocol = f.protocol === 'tcp' ? (6 as const) : (17 as const);
      forwards.push({ outside: outside.index, address, protocol, port: f.port, to: f.to, toPort: f.toPort });
    }
    return { masquerade, forwards };
  }

  /**
   * A configuration reloaded: new firewall rules, masquerades and port forwards. Tracked flows, NAT
   * mappings and the counters of rules that stay are kept; flows already translated keep their
   * translation (`natReconfigure`). Turns the filter on first (with `secret`) when it was off.
   * Returns why the new configuration was refused (then nothing changed), else undefined.
   */
  reloadFilter(opts: Omit<RouterFilterOptions, 'secret'>, secret: Uint8Array): string | undefined {
    if (this.filter === undefined) return this.filterWith({ ...opts, secret });
    const rules = this.natRules(opts);
    if (typeof rules === 'string') return rules;
    const fw = compileFirewall(opts.firewall ?? DEFAULT_FILTER);
    const refused = natReconfigure(this.filter.nat, rules, this.stack.now());
    if (refused !== undefined) return refused;
    this.filter.reload(fw);
    return undefined;
  }

  /**
   * New firewall rules (a configuration reloaded): tracked flows, NAT mappings and the counters of
   * rules that stay are kept. Turns the filter on first (with `secret`) when it was off.
   */
  reloadFirewall(config: FirewallConfig | undefined, secret: Uint8Array): void {
    if (this.filter === undefined)
      this.filterWith({ ...(config === undefined ? {} : { firewall: config }), secret });
    else this.filter.reload(compileFirewall(config ?? DEFAULT_FILTER));
  }

  /** The firewall's per-rule counters and the connection table's, for the exit and stats JSON. */
  filterStats(): object | undefined {
    return this.filter?.stats();
  }

  routes4(): readonly FibRoute<Ipv4Addr>[] {
    return fib4Routes(this.fib4.fib);
  }

  routes6(): readonly FibRoute<Ipv6Addr>[] {
    return fib6Routes(this.fib6.fib);
  }

  forward4(iface: Interface, frame: Uint8Array, packet: Uint8Array): boolean {
    // With the firewall on, fragments are reassembled first so that rules and NAT see whole
    // packets (as Linux's defrag before conntrack; RFC 1858: tiny or overlapping fragments cannot
    // slip past a rule); the whole packet then goes on like any other, fragmented again if need be.
    if (this.filter !== undefined && packet.length >= 20 && (u16(packet, 6) & 0x3fff) !== 0) {
      const whole = this.filter.defragment(packet);
      if (whole === undefined) return true;
      this.copiedPayloadBytes += whole.length;
      // Its frame: the MACs are written on the way out, the type here.
      const frame = frameOf(whole);
      setU16(frame, 12, ETHERTYPE_IPV4);
      if (!this.route4(iface, frame, whole, undefined)) this.stack.ipv4.input(iface, whole, false);
      return true;
    }
    return this.route4(iface, frame, packet, offloadOf(iface));
  }

  /**
   * `forward4` for a packet that is whole: true when taken, false when it is the host's. `vnet`:
   * the frame's offload metadata when it is not a wire frame as it stands (a super-frame, a partial
   * checksum).
   */
  private route4(
    iface: Interface,
    frame: Uint8Array,
    packet: Uint8Array,
    vnet: VnetHdr | undefined,
  ): boolean {
    const stack = this.stack;
    const segLen =
      vnet !== undefined && vnet.gsoType !== VNET_GSO_NONE ? gsoSegmentIpLen(packet, vnet) : undefined;
    let d = decide4(packet, iface.index, this.ctx, segLen);
    if (this.filter !== undefined && (d.kind === 'local' || d.kind === 'forward' || d.kind === 'fragment')) {
      const r = this.filter.pass(iface, packet, d.kind === 'local' ? NAT_LOCAL : d.egress, vnet);
      if (r === 'dropped') return true;
      // NAT gave the packet another destination (a reply to a masqueraded flow, a port forward).
      if (r === 'rerouted') d = decide4(packet, iface.index, this.ctx, segLen);
    }
    switch (d.kind) {
      case 'local':
        return false;
      case 'drop':
        stack.counters.inc(`router/${d.reason}`);
        return true;
      case 'icmp-error':
        stack.counters.inc(`router/${d.reason}`);
        finishForQuote(iface.link, packet);
        stack.ipv4.sendError(packet, false, d.icmp, iface.ipv4[0]?.address);
        return true;
      case 'fragment': {
        const out = this.interfaces[d.egress]!;
        if (d.redirect !== undefined) this.redirect4(iface, packet, d.redirect.gateway);
        if (vnet !== undefined) {
          this.fragmentOffloaded(out, d.nextHop, d.mtu, frame, packet, vnet);
          return true;
        }
        const fragments = fragmentForward4(packet, d.mtu, newPacket);
        if (fragments === undefined) {
          stack.counters.inc('router/fragment-failed');
          return true;
        }
        stack.counters.inc('router/fragmented');
        for (const f of fragments) {
          this.copiedPayloadBytes += f.length;
          stack.arp.resolveAndSend(out, d.nextHop, f, false);
        }
        return true;
      }
      case 'forward': {
        const out = this.interfaces[d.egress]!;
        if (d.redirect !== undefined) this.redirect4(iface, packet, d.redirect.gateway);
        stack.counters.inc('router/forwarded');
        const clampTo = d.clampMssTo;
        const mac = arpMac(out.arp, d.nextHop);
        if (vnet !== undefined) {
          applyKeepingPartial(frame, vnet, () => applyForward4(frame, out.mac, mac ?? (0 as Mac), clampTo));
          this.sendOffloaded(out, mac, frame, packet, vnet, (p) =>
            stack.arp.resolveAndSend(out, d.nextHop, p, false),
          );
          return true;
        }
        if (mac !== undefined) {
          applyForward4(frame, out.mac, mac, clampTo);
          stack.sendFrame(out, frame);
          return true;
        }
        // The neighbour's entry needs the ARP core (to mark it used, or to resolve it first).
        applyForward4(frame, out.mac, 0 as Mac, clampTo);
        this.copiedPayloadBytes += stack.arp.sendLent(
          out,
          d.nextHop,
          packet.subarray(0, ipPacketLength(packet)),
        );
        return true;
      }
    }
  }

  forward6(iface: Interface, frame: Uint8Array, packet: Uint8Array): boolean {
    // With the firewall on, a fragment waits for its datagram (only packets with an extension header
    // can be one: the common packet is not looked at further).
    if (this.filter !== undefined && packet.length >= 40 && EXTENSION_HEADERS.has(packet[6]!)) {
      const f = fragment6Of(packet);
      if (f !== undefined && needsReassembly(f))
        return this.defragment6(this.filter, iface, frame, packet, f);
    }
    return this.route6(
      iface,
      frame,
      packet,
      this.filter === undefined ? 'accepted' : 'filter',
      offloadOf(iface),
    );
  }

  /**
   * An IPv6 fragment with the firewall on: held (a copy) until its datagram is whole, which is then
   * judged as one packet; if accepted its original fragments go on, each through the forwarding
   * decision as it came in (the router never fragments IPv6, RFC 8200 §5; src/router/frag6.ts).
   */
  private defragment6(
    filter: Filter,
    iface: Interface,
    frame: Uint8Array,
    packet: Uint8Array,
    f: Fragment6,
  ): boolean {
    const stack = this.stack;
    // RFC 7112 §5: a first fragment without the whole header chain may be dropped, and is.
    if (f.fragOffset === 0 && !firstFragmentComplete(packet, f)) {
      stack.counters.inc('router/fragment6-incomplete-chain');
      return true;
    }
    const r = filter.defragment6(iface, packet, f);
    if (r === undefined) return true;
    const first = r.parts.find((p) => fragment6Of(p.packet)?.fragOffset === 0) ?? r.parts[0]!;
    const d = decide6(first.packet, first.iface.index, this.ctx);
    let accepted = false;
    if (d.kind === 'local' || d.kind === 'forward') {
      accepted = filter.pass(iface, r.whole, d.kind === 'local' ? NAT_LOCAL : d.egress) !== 'dropped';
      if (!accepted) return true;
      if (d.kind === 'local') {
        // The host stack takes the whole packet (its Fragment header is atomic now).
        stack.ipv6.input(iface, r.whole, readMac(frame, 6), false);
        return true;
      }
    }
    for (const p of r.parts) {
      this.copiedPayloadBytes += p.packet.length;
      // Its frame: the MACs are written on the way out, the type here.
      const frame = frameOf(p.packet);
      setU16(frame, 12, ETHERTYPE_IPV6);
      this.route6(p.iface, frame, p.packet, accepted ? 'accepted' : 'refused', undefined);
    }
    return true;
  }

  /**
   * `forward6` for a packet that is whole, or an original fragment whose datagram was judged:
   * 'filter' passes it through the firewall, 'accepted' does not, 'refused' forwards nothing (errors
   * and drops of the decision still happen). True when taken, false when it is the host's. `vnet`
   * as for `route4`.
   */
  private route6(
    iface: Interface,
    frame: Uint8Array,
    packet: Uint8Array,
    mode: 'filter' | 'accepted' | 'refused',
    vnet: VnetHdr | undefined,
  ): boolean {
    const stack = this.stack;
    const segLen =
      vnet !== undefined && vnet.gsoType !== VNET_GSO_NONE ? gsoSegmentIpLen(packet, vnet) : undefined;
    const d = decide6(packet, iface.index, this.ctx, segLen);
    if (d.kind === 'local' || d.kind === 'forward') {
      if (mode === 'refused') {
        stack.counters.inc('router/fragment6-refused');
        return true;
      }
      // IPv6 is filtered, never translated.
      if (
        mode === 'filter' &&
        this.filter !== undefined &&
        this.filter.pass(iface, packet, d.kind === 'local' ? NAT_LOCAL : d.egress, vnet) === 'dropped'
      )
        return true;
    }
    switch (d.kind) {
      case 'local':
        return false;
      case 'drop':
        stack.counters.inc(`router/${d.reason}`);
        return true;
      case 'icmp-error': {
        stack.counters.inc(`router/${d.reason}`);
        finishForQuote(iface.link, packet);
        const src = packet.subarray(8, 24);
        const from = this.views[iface.index]!.ipv6.find(
          (c) => !isIpv6LinkLocal(c.address) || isIpv6LinkLocal(src),
        );
        stack.ipv6.sendError(stack.ipv6.forwarded(iface, packet), d.icmp, from?.address);
        return true;
      }
      case 'forward': {
        const out = this.interfaces[d.egress]!;
        // RFC 4861 §8.2: the packet is forwarded as well.
        if (d.redirect !== undefined) stack.ipv6.sendRedirect(iface, packet, d.redirect.gateway);
        stack.counters.inc('router/forwarded');
        const clampTo = d.clampMssTo;
        const mac = ndpMac(out.ndp, d.nextHop, stack.now());
        if (vnet !== undefined) {
          applyKeepingPartial(frame, vnet, () => applyForward6(frame, out.mac, mac ?? (0 as Mac), clampTo));
          this.sendOffloaded(out, mac, frame, packet, vnet, (p) =>
            stack.ipv6.resolveAndSend(out, d.nextHop, p),
          );
          return true;
        }
        if (mac !== undefined) {
          applyForward6(frame, out.mac, mac, clampTo);
          stack.sendFrame(out, frame);
          return true;
        }
        applyForward6(frame, out.mac, 0 as Mac, clampTo);
        this.copiedPayloadBytes += stack.ipv6.sendLent(
          out,
          d.nextHop,
          packet.subarray(0, ipPacketLength(packet)),
        );
        return true;
      }
    }
  }

  /**
   * Sends on a forwarded frame (rewritten already) that carries offload metadata `h`: lent whole with
   * its header to an egress link that takes it and a resolved neighbour; else made into wire frames
   * — a super-frame cut into segments (copies, counted), a partial checksum finished in place — and
   * sent as any frame, `resolve` taking a packet (with link headroom) the neighbour cache may hold.
   */
  private sendOffloaded(
    out: Interface,
    mac: Mac | undefined,
    frame: Uint8Array,
    packet: Uint8Array,
    h: VnetHdr,
    resolve: (packet: Uint8Array) => void,
  ): void {
    const stack = this.stack;
    const oc = this.offload;
    const gso = h.gsoType !== VNET_GSO_NONE;
    const len = ipPacketLength(packet);
    const wire = frame.subarray(0, packet.byteOffset - frame.byteOffset + len);
    const sender = offloadSenderOf(out.link);
    // A datagram's partial checksum is finished here, for what may quote it: a UDP probe answered
    // with Port Unreachable by its destination (traceroute) would quote the pseudo-header sum. A
    // TCP segment keeps it: finished, if ever, by whoever must.
    const udp = !gso && h.csumOffset === UDP_CHECKSUM_OFFSET;
    // An unresolved neighbour (or one the cache must see first) takes the software path: the caches
    // hold wire packets only.
    if (!udp && mac !== undefined && sender !== undefined && sender.sendOffloaded(wire, h)) {
      stack.counters.inc('ethernet/sent');
      if (gso) oc.gsoWhole++;
      else oc.csumPartialWhole++;
      return;
    }
    if (gso) {
      oc.gsoSegmented++;
      const r = segmentFrame(wire, h, (seg) => {
        oc.segmentsMade++;
        this.copiedPayloadBytes += seg.length;
        if (mac !== undefined) stack.sendFrame(out, seg);
        // The segment's buffer is its own, with the Ethernet header as link headroom.
        else resolve(seg.subarray(packet.byteOffset - frame.byteOffset));
      });
      if (!r.ok) stack.counters.inc('router/gso-malformed');
      return;
    }
    // A partial checksum finished in place: the frame is ours until the handler returns.
    if (!finishPartialChecksum(wire, h.csumStart, h.csumOffset)) {
      stack.counters.inc('router/gso-malformed');
      return;
    }
    oc.csumFinished++;
    if (mac !== undefined) {
      stack.sendFrame(out, wire);
      return;
    }
    this.copiedPayloadBytes += len;
    resolve(ownCopy(packet.subarray(0, len)));
  }

  /**
   * An IPv4 frame with offload metadata whose packets exceed the egress MTU, DF clear: cut into
   * segments first when it is a super-frame, its checksum finished otherwise, then each packet
   * fragmented as any (RFC 1812 §5.2.6).
   */
  private fragmentOffloaded(
    out: Interface,
    nextHop: Ipv4Addr,
    mtu: number,
    frame: Uint8Array,
    packet: Uint8Array,
    h: VnetHdr,
  ): void {
    const stack = this.stack;
    const l3 = packet.byteOffset - frame.byteOffset;
    const wire = frame.subarray(0, l3 + ipPacketLength(packet));
    const fragment = (p: Uint8Array): void => {
      const fragments = fragmentForward4(p, mtu, newPacket);
      if (fragments === undefined) {
        stack.counters.inc('router/fragment-failed');
        return;
      }
      stack.counters.inc('router/fragmented');
      for (const f of fragments) {
        this.copiedPayloadBytes += f.length;
        stack.arp.resolveAndSend(out, nextHop, f, false);
      }
    };
    if (h.gsoType === VNET_GSO_NONE) {
      if (!finishPartialChecksum(wire, h.csumStart, h.csumOffset)) {
        stack.counters.inc('router/gso-malformed');
        return;
      }
      this.offload.csumFinished++;
      fragment(wire.subarray(l3));
      return;
    }
    this.offload.gsoSegmented++;
    const r = segmentFrame(wire, h, (seg) => {
      this.offload.segmentsMade++;
      fragment(seg.subarray(l3));
    });
    if (!r.ok) stack.counters.inc('router/gso-malformed');
  }

  /** RFC 1812 §5.2.7.2: a Redirect for the host (code 1), from the interface the packet came in on. */
  private redirect4(iface: Interface, packet: Uint8Array, gateway: Ipv4Addr): void {
    this.stack.ipv4.sendError(packet, false, { type: 'redirect', code: 1, gateway }, iface.ipv4[0]?.address);
  }

  close(): Promise<void> {
    return this.stack.close();
  }
}

/** Next Header values behind which a Fragment header may sit (RFC 8200 §4.1 order; AH, RFC 4302). */
const EXTENSION_HEADERS: ReadonlySet<number> = new Set([0, 43, 44, 51, 60]);

/** An original IPv6 fragment held while its datagram is reassembled, with the interface it came in on. */
interface HeldFragment {
  readonly iface: Interface;
  /** A copy with link headroom (`ownCopy`): forwarded as it is once the datagram is accepted. */
  readonly packet: Uint8Array;
}

/** The IP packet's own length (an Ethernet payload may carry padding after it). */
function ipPacketLength(packet: Uint8Array): number {
  if (packet[0]! >> 4 === 4) return Math.min(packet.length, (packet[2]! << 8) | packet[3]!);
  return Math.min(packet.length, 40 + ((packet[4]! << 8) | packet[5]!));
}

/** What became of frames forwarded with offload metadata (`Router.offload`). */
export interface OffloadCounters {
  /** Super-frames (TCP GSO) lent whole, with their vnet header, to the egress link. */
  gsoWhole: number;
  /** Super-frames cut in software (an egress without offloads, an unresolved neighbour, fragmenting). */
  gsoSegmented: number;
  /** The segments those made. */
  segmentsMade: number;
  /** Frames with a partial checksum lent whole with their header. */
  csumPartialWhole: number;
  /** Frames whose partial checksum the router finished. */
  csumFinished: number;
}

/** Where UDP's checksum lies in its header (RFC 768), as a vnet header's csum_offset says. */
const UDP_CHECKSUM_OFFSET = 6;

/** The offload metadata of the frame `iface` is delivering, when it is not a wire frame as it stands. */
function offloadOf(iface: Interface): VnetHdr | undefined {
  const h = rxVnetOf(iface.link);
  return needsOffload(h) ? h : undefined;
}

/**
 * Runs a header rewrite of `frame` keeping a partial checksum (NEEDS_CSUM) as it is: MSS clamping
 * patches the transport checksum for the option it lowers, but a partial checksum field holds only
 * the pseudo-header sum, and whoever finishes it sums the new option anyway.
 */
function applyKeepingPartial(frame: Uint8Array, h: VnetHdr, rewrite: () => void): void {
  const at = h.csumStart + h.csumOffset;
  if ((h.flags & VNET_F_NEEDS_CSUM) === 0 || at + 2 > frame.length) {
    rewrite();
    return;
  }
  const field = u16(frame, at);
  rewrite();
  setU16(frame, at, field);
}

/**
 * Where the partial checksum of IPv4 `packet` (at offset `l3` in its frame, header `h`) lies in the
 * packet when it is its TCP or UDP checksum field; -1 when the packet has none; undefined when it
 * has one elsewhere (a header NAT cannot keep right).
 */
export function partialChecksumAt(
  packet: Uint8Array,
  l3: number,
  h: VnetHdr | undefined,
): number | undefined {
  if (h === undefined || (h.flags & VNET_F_NEEDS_CSUM) === 0) return -1;
  if (packet.length < 20) return undefined;
  const l4 = (packet[0]! & 0x0f) * 4;
  const proto = packet[9];
  const field = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (field < 0 || h.csumStart !== l3 + l4 || h.csumOffset !== field || l4 + field + 2 > packet.length)
    return undefined;
  return l4 + field;
}

/**
 * NAT's translation of `packet` written in place, with a partial checksum (`partialAt`, from
 * `partialChecksumAt`) kept right: that field holds the pseudo-header sum, not a complemented
 * checksum, so only the addresses (which the pseudo-header holds) change it, by RFC 1624 eqn. 3 on
 * its complement; the ports are summed by whoever finishes it.
 */
export function translateKeepingPartial(packet: Uint8Array, t: Translation, partialAt: number): void {
  if (partialAt < 0) {
    applyTranslation(packet, t);
    return;
  }
  const sum = u16(packet, partialAt);
  const oldSrc = u32(packet, 12);
  const oldDst = u32(packet, 16);
  applyTranslation(packet, t);
  let c = ~sum & 0xffff;
  c = updateChecksum32(c, oldSrc, u32(packet, 12));
  c = updateChecksum32(c, oldDst, u32(packet, 16));
  setU16(packet, partialAt, ~c & 0xffff);
}

/** Stateful, and every chain accepts: tracking and NAT without rules. */
const DEFAULT_FILTER: FirewallConfig = {
  acceptEstablished: true,
  dropInvalid: true,
  input: { policy: 'accept', rules: [] },
  forward: { policy: 'accept', rules: [] },
};

/**
 * The router's netfilter: for each packet, in Linux's order (src/router/nat.ts), conntrack's view of
 * its flow, the firewall's verdict on it (input chain for the router, forward chain for the rest),
 * then NAT's translation written into the packet in place.
 */
class Filter {
  private counters: FirewallCounters;
  private readonly rejects: TokenBucket;
  /** IPv4 fragments of forwarded packets, bounded like the host's. */
  private readonly reassembly = new Reassembler();
  /**
   * IPv6 fragments, bounded like the host's (the key and header as src/stack/ipv6.ts builds them;
   * the whole may be 40 + 65,535 bytes, RFC 8200 §4.5). Beside it the original fragments of each
   * datagram it holds, dropped whenever the reassembler drops, expires or completes that datagram:
   * their bytes are those the reassembler accounts plus one header each, so its budget bounds them.
   */
  private readonly reassembly6 = new Reassembler({ maxDatagramLen: 40 + 65_535, minHeaderLen: 48 });
  private readonly held6 = new Map<string, HeldFragment[]>();

  constructor(
    private readonly stack: Stack,
    readonly nat: NatState,
    private fw: Firewall,
  ) {
    this.counters = createCounters(fw);
    this.rejects = icmpErrorLimiter(stack.now());
  }

  /**
   * Adds an IPv4 fragment; returns the whole datagram once its last piece is in (a packet of its
   * own with link headroom: MF and offset cleared, length and header checksum new), else undefined.
   */
  defragment(packet: Uint8Array): Uint8Array | undefined {
    const stack = this.stack;
    const checked = Ipv4Packet.check(packet);
    if (!checked.ok) {
      stack.counters.inc('router/malformed');
      return undefined;
    }
    const p = checked.value;
    const key = `${p.src}>${p.dst}/${p.protocol}/${p.ident}`;
    const outputs = this.reassembly.fragment(
      stack.now(),
      key,
      p.fragOffset,
      p.payload,
      p.moreFragments,
      packet.subarray(0, p.headerLen),
    );
    let whole: Uint8Array | undefined;
    for (const o of outputs) {
      if (o.kind === 'reassembled') whole = wholeDatagram(o.header, o.data);
      else if (o.kind === 'dropped') stack.counters.inc(`router/reassembly-${o.reason}`);
    }
    return whole;
  }

  /**
   * Adds an IPv6 fragment (`f` its Fragment header); once its datagram is whole, returns the whole
   * packet (its Fragment header atomic, for tracking and the rules) and the original fragments.
   */
  defragment6(
    iface: Interface,
    packet: Uint8Array,
    f: Fragment6,
  ): { whole: Uint8Array; parts: readonly HeldFragment[] } | undefined {
    const stack = this.stack;
    const length = 40 + u16(packet, 4);
    if (length > packet.length) {
      stack.counters.inc('router/malformed');
      return undefined;
    }
    const key = `${ipv6Key(packet.subarray(8, 24))}>${ipv6Key(packet.subarray(24, 40))}/${f.ident}`;
    const outputs = this.reassembly6.fragment(
      stack.now(),
      key,
      f.fragOffset,
      packet.subarray(f.at + 8, length),
      f.more,
      packet.subarray(0, f.at + 8),
    );
    let taken = true;
    let whole: Uint8Array | undefined;
    for (const o of outputs) {
      if (o.kind === 'reassembled') {
        if (o.key === key) whole = wholeDatagram6(o.header, o.data, newPacket);
      } else if (o.kind === 'dropped') {
        stack.counters.inc(`router/reassembly6-${o.reason}`);
        if (o.scope === 'datagram') this.held6.delete(o.key);
        if (o.key === key) taken = false;
      }
    }
    const held = this.held6.get(key) ?? [];
    if (whole !== undefined) {
      this.held6.delete(key);
      held.push({ iface, packet: ownCopy(packet.subarray(0, length)) });
      return { whole, parts: held };
    }
    if (taken) {
      held.push({ iface, packet: ownCopy(packet.subarray(0, length)) });
      this.held6.set(key, held);
    }
    return undefined;
  }

  /** Rules replaced; the counters of the rules that stay carried over. */
  reload(fw: Firewall): void {
    this.counters = carryCounters(this.fw, this.counters, fw);
    this.fw = fw;
  }

  /**
   * What became of `packet`: passed as it is, dropped, or given another destination. `vnet`: its
   * frame's offload metadata (a super-frame is judged by its headers; the TCP window check sees its
   * whole payload; a partial checksum is translated as one).
   */
  pass(
    ingress: Interface,
    packet: Uint8Array,
    egress: number,
    vnet?: VnetHdr,
  ): 'pass' | 'dropped' | 'rerouted' {
    const stack = this.stack;
    const info = packetInfo(packet);
    // A fragment is tracked once reassembled; the router does not reassemble in transit yet.
    if (info === undefined) {
      stack.counters.inc('router/untracked');
      return 'dropped';
    }
    const now = stack.now();
    const [, v] = ctStep(this.nat.ct, info, now);
    const chain = egress === NAT_LOCAL ? 'input' : 'forward';
    const egressName = egress === NAT_LOCAL ? undefined : stack.interfaces[egress]?.name;
    const verdict = evaluate(this.fw, chain, info, v.state, ingress.name, egressName, packet[7]!);
    countDecision(this.counters, chain, verdict, info.length);
    if (verdict.verdict !== 'accept') {
      stack.counters.inc(`router/firewall-${verdict.verdict}`);
      if (verdict.verdict === 'reject') {
        // The reply is made only for a packet whose checksum verifies: a partial one is finished
        // first (the packet goes no further).
        if (vnet !== undefined && (vnet.flags & VNET_F_NEEDS_CSUM) !== 0 && vnet.csumStart >= 14)
          finishPartialChecksum(packet, vnet.csumStart - 14, vnet.csumOffset);
        this.reject(ingress, packet);
      }
      return 'dropped';
    }
    const [, r] = natStep(this.nat, info, v, { ingress: ingress.index, egress }, now);
    if (r.kind === 'drop') {
      stack.counters.inc(`router/nat-${r.reason}`);
      return 'dropped';
    }
    if (r.translation === undefined) return 'pass';
    const dst = r.translation.dst !== info.dst;
    // The packet follows its Ethernet header in the frame (the frame's offsets are what `vnet` gives).
    const partialAt = partialChecksumAt(packet, 14, vnet);
    if (partialAt === undefined) {
      stack.counters.inc('router/nat-partial-checksum');
      return 'dropped';
    }
    translateKeepingPartial(packet, r.translation, partialAt);
    return dst ? 'rerouted' : 'pass';
  }

  /** A TCP reset or an ICMP administratively prohibited, rate-limited like any error. */
  private reject(ingress: Interface, packet: Uint8Array): void {
    const stack = this.stack;
    if (!this.rejects.take(stack.now())) return stack.drop('icmpv4/error-rate-limited');
    const v6 = ingress.ipv6.find((c) => !isIpv6LinkLocal(c.address))?.address;
    const reply = rejectReply(packet, {
      ...(ingress.ipv4[0] === undefined ? {} : { v4: ingress.ipv4[0].address }),
      ...(v6 === undefined ? {} : { v6 }),
    });
    if (reply === undefined) return;
    if (reply[0]! >>> 4 === 4) {
      const route = stack.ipv4.route(readIpv4(reply, 16));
      if (route !== undefined) stack.arp.resolveAndSend(route.iface, route.nextHop, ownCopy(reply), false);
      return;
    }
    const route = stack.ipv6.route(reply.subarray(24, 40) as Ipv6Addr);
    if (route !== undefined) stack.ipv6.resolveAndSend(route.iface, route.nextHop, ownCopy(reply));
  }

  deadline(): number {
    return Math.min(
      natDeadline(this.nat) ?? Number.POSITIVE_INFINITY,
      this.reassembly.deadline(),
      this.reassembly6.deadline(),
    );
  }

  tick(now: number): void {
    if ((natDeadline(this.nat) ?? Number.POSITIVE_INFINITY) <= now) natTick(this.nat, now);
    for (const o of this.reassembly.tick(now))
      if (o.kind === 'expired') this.stack.counters.inc('router/reassembly-expired');
    for (const o of this.reassembly6.tick(now)) {
      // A router sends no Time Exceeded for fragments in transit: that is the destination's (RFC 8200 §4.5).
      if (o.kind === 'expired') this.stack.counters.inc('router/reassembly6-expired');
      this.held6.delete(o.key);
    }
  }

  stats(): object {
    return {
      firewall: firewallStats(this.fw, this.counters),
      conntrack: ctStats(this.nat.ct),
      nat: this.nat.counters,
      defrag: {
        v4Bytes: this.reassembly.bytes,
        v4PeakBytes: this.reassembly.peakBytes,
        v6Bytes: this.reassembly6.bytes,
        v6PeakBytes: this.reassembly6.peakBytes,
        v6Datagrams: this.held6.size,
      },
    };
  }
}

/** The IPv4 datagram of a reassembled `header` (the first fragment's) and `data`. */
function wholeDatagram(header: Uint8Array, data: Uint8Array): Uint8Array {
  const out = newPacket(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  setU16(out, 2, out.length);
  // Not a fragment any more: MF and the offset cleared, DF and the reserved bit kept.
  setU16(out, 6, u16(out, 6) & 0xc000);
  setU16(out, 10, 0);
  setU16(out, 10, finish(sum16(out.subarray(0, header.length))));
  return out;
}
