/**
 * The stack: the effectful driver around the pure cores (docs/ARCHITECTURE.md "The driver"). It owns the
 * interfaces, parses each frame down the layers, steps the right core, performs the outputs, and
 * keeps one timer armed at the earliest deadline of every core. Clock and scheduler are injected:
 * a `VirtualScheduler` runs whole networks of stacks deterministically in one process.
 */
import { getRandomValues } from 'node:crypto';
import { type Ipv4Addr, ipv4Mask, type Mac, MAC_BROADCAST, macToString } from '../addr.js';
import { arpConfig, initialArp } from '../arp/cache.js';
import { sharedSimdChecksum } from '../checksum/index.js';
import { initialNdp, ndpConfig } from '../ipv6/ndp.js';
import { IPV6_MIN_MTU } from '../ipv6/wire.js';
import type { Scheduler, TimerId } from '../clock.js';
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  EthernetFrame,
  emitEthernet,
} from '../ethernet/wire.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../ipproto.js';
import { Random } from '../random.js';
import { errorKey, type WireError } from '../result.js';
import type { TcpConfig } from '../tcp/core/index.js';
import { ArpLayer } from './arp.js';
import { Counters, type StackCounter } from './counters.js';
import { Interface, type InterfaceConfig } from './iface.js';
import { Ipv4Layer } from './ipv4.js';
import { Ipv6Layer } from './ipv6.js';
import type { Forwarder, LinkOutput, StackEnv, TimedCore } from './layer.js';
import { EventLog, type LogEvent } from './log.js';
import { frameOf } from './packet.js';
import { ipv4Routes, ipv6Routes, type Routes } from './routes.js';
import { TcpLayer } from './tcp.js';
import { UdpLayer } from './udp.js';

/**
 * Packets queued per unresolved neighbour (ARP and NDP): room for a whole 64 KiB datagram's
 * fragments while the first request is out (Linux's unres_qlen_bytes is 212992).
 */
const PENDING = { pendingPerNeighbour: 64, pendingBytesPerNeighbour: 256 * 1024 };

/** Bytes in the secret behind ISNs, ephemeral ports, timestamp offsets and SYN cookies. */
export const SECRET_LEN = 16;

/**
 * 16 bytes from the operating system's CSPRNG (`crypto.getRandomValues`): the secret of a stack on
 * a real network. RFC 6528 §3 wants it unguessable; a seed printed in a log, or brute-forced from
 * 2^31 candidates against one observed ISN, is not.
 */
export function osSecret(): Uint8Array {
  return getRandomValues(new Uint8Array(SECRET_LEN));
}

export interface StackOptions {
  readonly scheduler: Scheduler;
  /**
   * Seeds every random choice (MACs, identifiers, delays), so a simulation replays exactly. With a
   * seed and no `secret`, the TCP secret is derived from the seed too. Default: drawn from the
   * operating system, so that two stacks made without one get different MAC addresses.
   */
  readonly seed?: number;
  /**
   * The 16-byte secret behind ISNs (RFC 6528), ephemeral ports (RFC 6056), timestamp offsets and
   * SYN cookies (RFC 4987). Default: derived from `seed` when one is given (simulations and tests
   * replay exactly), else `osSecret()`. A stack on a real network should pass `osSecret()`.
   */
  readonly secret?: Uint8Array;
  /** Receives every log event as it happens (e.g. to print it). */
  readonly onLog?: (event: LogEvent) => void;
  /** TCP settings (buffer sizes, MSL, congestion control...) over the core's defaults. */
  readonly tcp?: Partial<Omit<TcpConfig, 'secret'>>;
  /** A router's forwarding path: sees IP packets unicast to us before local delivery. */
  readonly forwarder?: Forwarder;
  /** Routing tables to use instead of the host's own (a router passes its FIB). */
  readonly routes?: { readonly v4: Routes<Ipv4Addr>; readonly v6: Routes<Uint8Array> };
}

export class Stack implements StackEnv, LinkOutput {
  readonly scheduler: Scheduler;
  readonly counters = new Counters();
  readonly log: EventLog;
  readonly interfaces: Interface[] = [];
  readonly routes4: Routes<Ipv4Addr>;
  readonly routes6: Routes<Uint8Array>;
  readonly random: Random;
  readonly arp: ArpLayer;
  readonly ipv4: Ipv4Layer;
  readonly ipv6: Ipv6Layer;
  readonly udp: UdpLayer;
  readonly tcp: TcpLayer;
  /** Every part with a pure core behind it, in the order the timer ticks them. */
  private readonly timed: TimedCore[];
  private readonly forwarder: Forwarder | undefined;
  private timer: TimerId | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;

  constructor(opts: StackOptions) {
    // Long checksums (every full segment sent or received) with WebAssembly SIMD.
    sharedSimdChecksum();
    this.scheduler = opts.scheduler;
    this.random = new Random(opts.seed ?? getRandomValues(new Uint32Array(1))[0]!);
    const secret = opts.secret ?? (opts.seed === undefined ? osSecret() : undefined);
    if (secret !== undefined && secret.length !== SECRET_LEN)
      throw new RangeError(`Stack: the secret must be ${SECRET_LEN} bytes, got ${secret.length}`);
    this.log = new EventLog(256, opts.onLog);
    this.forwarder = opts.forwarder;
    this.routes4 = opts.routes?.v4 ?? ipv4Routes();
    this.routes6 = opts.routes?.v6 ?? ipv6Routes();
    this.arp = new ArpLayer(this, this.interfaces, this, (p) => this.ipv4.hostUnreachable(p));
    this.ipv4 = new Ipv4Layer(this, this.interfaces, this.routes4, this.arp);
    this.ipv6 = new Ipv6Layer(this, this.interfaces, this.routes6, this);
    // UDP's ephemeral ports (RFC 6056 §3.3.1) start where the secret says, when there is one: the
    // seed, which a log may show, must not predict them.
    const ports = secret === undefined ? this.random : new Random(secretWord(secret));
    this.udp = new UdpLayer(this, this.ipv4, this.ipv6, ports);
    const largestMtu = () => Math.max(576, ...this.interfaces.map((i) => i.mtu));
    // A copy: the caller's array may change later; the core's never does.
    this.tcp = new TcpLayer(this, this.ipv4, this.ipv6, largestMtu, opts.tcp ?? {}, secret?.slice());
    // TCP answers every segment itself (a RST for a closed port); UDP leaves that to ICMP.
    const tcp = this.tcp;
    const udp = this.udp;
    this.ipv4.protocols.set(IPPROTO_TCP, {
      input: (d, p) => {
        tcp.input4(d, p);
        return true;
      },
    });
    this.ipv4.protocols.set(IPPROTO_UDP, { input: (d, p) => udp.input4(d, p) });
    this.ipv6.protocols.set(IPPROTO_TCP, {
      input: (d, p) => {
        tcp.input6(d, p);
        return true;
      },
    });
    this.ipv6.protocols.set(IPPROTO_UDP, { input: (d, p) => udp.input6(d, p) });
    this.timed = [this.arp, this.ipv4, this.ipv6, this.tcp];
  }

  now(): number {
    return this.scheduler.now();
  }

  /** Serves one more timed core with the stack's one timer (a router's connection tracking). */
  addTimedCore(core: TimedCore): void {
    this.timed.push(core);
    this.rearm();
  }

  logEvent(message: string): void {
    this.log.add(this.now(), message);
  }

  /** Counts a drop: a parse error under its `layer/kind` key, or a driver reason. */
  drop(reason: WireError | StackCounter): void {
    if (typeof reason === 'string') this.counters.inc(reason);
    else this.counters.add(errorKey(reason));
  }

  addInterface(cfg: InterfaceConfig): Interface {
    const index = this.interfaces.length;
    // A locally administered unicast MAC (IEEE 802: bit 1 set, bit 0 clear of the first octet).
    const mac =
      cfg.mac ?? ((0x02_0000_0000_00 + (this.random.next() % 0x1_0000_0000) * 0x100 + index) as Mac);
    const ipv4 = cfg.ipv4 ?? [];
    const now = this.now();
    const arp = initialArp(
      arpConfig(
        mac,
        ipv4.map((c) => c.address),
        PENDING,
      ),
      now,
    );
    const mtu = cfg.mtu ?? cfg.link.mtu;
    const ipv6 = cfg.ipv6 ?? [];
    // RFC 8200 §5: IPv6 needs a link MTU of at least 1280; below it the interface is IPv4 only.
    const ipv6Enabled = (cfg.ipv6Enabled ?? true) && mtu >= IPV6_MIN_MTU;
    const ndp = initialNdp(
      ndpConfig(mac, {
        mtu: Math.max(mtu, IPV6_MIN_MTU),
        staticAddresses: ipv6,
        ...PENDING,
        ...(cfg.ndpRouter === undefined ? {} : { router: cfg.ndpRouter }),
      }),
      now,
      this.random.next(),
    );
    const iface = new Interface(index, cfg.link, mac, mtu, ipv4, ipv6, ipv6Enabled, arp, ndp);
    this.interfaces.push(iface);
    for (const c of ipv4) {
      this.routes4.add({
        prefix: ((c.address & ipv4Mask(c.prefixLen)) >>> 0) as Ipv4Addr,
        prefixLen: c.prefixLen,
        iface: index,
      });
    }
    if (cfg.gateway4 !== undefined)
      this.routes4.add({ prefix: 0 as Ipv4Addr, prefixLen: 0, gateway: cfg.gateway4, iface: index });
    if (cfg.gateway6 !== undefined)
      this.routes6.add({ prefix: new Uint8Array(16), prefixLen: 0, gateway: cfg.gateway6, iface: index });
    const link = cfg.link;
    if (link.onBurstEnd !== undefined) {
      // The timer is re-armed once per burst, not after every frame: asking every core for its
      // deadline took ~6 % of a router's event loop.
      link.onFrame((frame) => this.input(iface, frame));
      link.onBurstEnd(this.rearmTask);
    } else link.onFrame((frame) => this.receive(iface, frame));
    this.logEvent(`${iface.name}: up, mac ${macToString(mac)}, mtu ${iface.mtu}`);
    if (ipv4.length > 0) this.arp.event(iface, { kind: 'start', now });
    if (iface.ipv6Enabled) this.ipv6.ndpEvent(iface, { kind: 'start', now });
    return iface;
  }

  /**
   * `iface`'s link was replaced (a TAP device deleted and made again): its neighbours are forgotten,
   * with the packets waiting for them, and its addresses announced again (ARP, DAD) as at start.
   */
  restartInterface(iface: Interface): void {
    const now = this.now();
    iface.arp = initialArp(iface.arp.config, now);
    iface.ndp = initialNdp(iface.ndp.config, now, this.random.next());
    iface.groups.clear();
    this.logEvent(`${iface.name}: link replaced, neighbours forgotten`);
    if (iface.ipv4.length > 0) this.arp.event(iface, { kind: 'start', now });
    if (iface.ipv6Enabled) this.ipv6.ndpEvent(iface, { kind: 'start', now });
    this.rearm();
  }

  /** Receives one frame from `iface`'s link; the frame is only valid during the call. */
  receive(iface: Interface, frame: Uint8Array): void {
    this.input(iface, frame);
    this.rearm();
  }

  /** `receive` without re-arming the timer (the caller does, at the end of the burst). */
  private input(iface: Interface, frame: Uint8Array): void {
    if (this.closed) return;
    const eth = EthernetFrame.check(frame);
    if (!eth.ok) return this.drop(eth.error);
    const f = eth.value;
    const dst = f.dst;
    if (dst !== iface.mac && dst !== MAC_BROADCAST && !this.acceptsMulticast(iface, dst)) {
      return this.drop('ethernet/not-for-us');
    }
    if (f.tagged) return this.drop('ethernet/vlan-unsupported');
    switch (f.ethertype) {
      case ETHERTYPE_ARP:
        this.arp.input(iface, f.payload, f.src);
        break;
      case ETHERTYPE_IPV4:
        if (dst === iface.mac && this.forwarder?.forward4(iface, frame, f.payload)) break;
        this.ipv4.input(iface, f.payload, dst !== iface.mac);
        break;
      case ETHERTYPE_IPV6:
        if (dst === iface.mac && this.forwarder?.forward6(iface, frame, f.payload)) break;
        this.ipv6.input(iface, f.payload, f.src, dst !== iface.mac);
        break;
      default:
        this.drop('ethernet/unknown-ethertype');
    }
  }

  private acceptsMulticast(_iface: Interface, dst: Mac): boolean {
    // IPv4 multicast (01:00:5e:...) and IPv6 multicast (33:33:...): the IP layers filter by group.
    const top = Math.floor(dst / 0x1_0000_0000);
    return top === 0x3333 || Math.floor(dst / 0x100_0000) === 0x01005e;
  }

  /** Writes the Ethernet header in front of `packet` (made by `newPacket`) and sends the frame. */
  transmit(iface: Interface, dstMac: Mac, ethertype: number, packet: Uint8Array): void {
    const frame = frameOf(packet);
    emitEthernet({ dst: dstMac, src: iface.mac, vlans: [], ethertype }, frame);
    this.sendFrame(iface, frame);
  }

  sendFrame(iface: Interface, frame: Uint8Array): void {
    this.counters.inc('ethernet/sent');
    iface.link.send(frame);
  }

  /** Arms the one timer at the earliest deadline of every core. Called after every event. */
  rearm(): void {
    if (this.closed) return;
    let next = Number.POSITIVE_INFINITY;
    for (const core of this.timed) next = Math.min(next, core.deadline());
    // A timer armed earlier than needed is left alone: it fires, finds nothing due and re-arms. Moving
    // it on every packet (each ACK pushes the retransmit deadline later) cost a heap update per packet.
    if (next >= this.timerAt) return;
    if (this.timer !== undefined) this.scheduler.cancel(this.timer);
    this.timerAt = next;
    this.timer = this.scheduler.at(next, this.onTimerTask);
  }

  private readonly onTimerTask = (): void => this.onTimer();
  private readonly rearmTask = (): void => this.rearm();

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (const core of this.timed) core.tick(now);
    this.rearm();
  }

  /** Stops timers and closes every link. */
  async close(): Promise<void> {
    if (this.closed) return;
    // RFC 4861 §6.2.5: an advertising interface says goodbye with a router lifetime of 0.
    for (const iface of this.interfaces)
      if (iface.ipv6Enabled) this.ipv6.ndpEvent(iface, { kind: 'stop', now: this.now() });
    this.closed = true;
    if (this.timer !== undefined) this.scheduler.cancel(this.timer);
    this.udp.closeAll();
    this.tcp.closeAll();
    await Promise.all(this.interfaces.map((i) => i.link.close()));
  }
}

/** The secret's four words folded into one, to seed a generator. */
function secretWord(secret: Uint8Array): number {
  const v = new DataView(secret.buffer, secret.byteOffset, secret.byteLength);
  let w = 0;
  for (let i = 0; i < SECRET_LEN; i += 4) w = Math.imul(w ^ v.getUint32(i), 0x9e3779b1);
  return w >>> 0;
}
