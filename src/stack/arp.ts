/**
 * ARP in the driver (RFC 826, RFC 1122 §2.3.2): one pure cache per interface (src/arp/cache.ts),
 * stepped here; its outputs become frames. IPv4 hands packets to `resolveAndSend`, which sends at
 * once to a resolved neighbour and otherwise lets the cache queue a compact copy.
 */
import { type Ipv4Addr, type Mac, MAC_BROADCAST, macToString } from '../addr.js';
import {
  type ArpEvent,
  type ArpOutput,
  arpDeadline,
  arpStep,
  sendableMac,
  transmitsAtOnce,
} from '../arp/cache.js';
import { type ArpRepr, emitArp, parseArp } from '../arp/wire.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, emitEthernet } from '../ethernet/wire.js';
import type { Interface } from './iface.js';
import type { LinkOutput, StackEnv, TimedCore } from './layer.js';
import { compactPacket, LINK_HEADROOM, ownCopy } from './packet.js';

export class ArpLayer implements TimedCore {
  constructor(
    private readonly env: StackEnv,
    private readonly interfaces: readonly Interface[],
    private readonly link: LinkOutput,
    /** Packets of ours the neighbour never answered for (RFC 1122 §2.3.2.2). */
    private readonly unreachable: (packet: Uint8Array) => void,
  ) {}

  /** One ARP packet from `iface`, whose frame came from `frameSrc`. */
  input(iface: Interface, bytes: Uint8Array, frameSrc: Mac): void {
    const env = this.env;
    const r = parseArp(bytes);
    if (!r.ok) return env.drop(r.error);
    // ARP has no checksum: a sender address that disagrees with the frame's source is damaged (or
    // forged) and would poison the cache for a minute, so it is not believed.
    if (r.value.senderMac !== frameSrc) return env.drop('arp/sender-mac-mismatch');
    env.counters.inc('arp/received');
    this.event(iface, { kind: 'received', now: env.now(), repr: r.value });
  }

  /** Hands an IPv4 packet (made by `newPacket`) to ARP for the next hop `nextHop`. */
  resolveAndSend(iface: Interface, nextHop: Ipv4Addr, packet: Uint8Array, broadcast: boolean): void {
    if (broadcast) return this.link.transmit(iface, MAC_BROADCAST, ETHERTYPE_IPV4, packet);
    const mac = sendableMac(iface.arp, nextHop);
    if (mac !== undefined) return this.link.transmit(iface, mac, ETHERTYPE_IPV4, packet);
    // ARP may queue it until the neighbour answers: hold a compact copy, not a slab.
    this.event(iface, { kind: 'resolve', now: this.env.now(), ip: nextHop, packet: compactPacket(packet) });
    this.env.rearm();
  }

  /**
   * Sends an IPv4 packet that lies in a received frame (a router forwarding it, the frame lent by its
   * link): the cache gets the frame's own bytes when it sends at once, a compact copy when it must
   * hold the packet. Returns the bytes copied.
   */
  sendLent(iface: Interface, nextHop: Ipv4Addr, packet: Uint8Array): number {
    if (transmitsAtOnce(iface.arp, nextHop)) {
      this.event(iface, { kind: 'resolve', now: this.env.now(), ip: nextHop, packet });
      return 0;
    }
    this.resolveAndSend(iface, nextHop, ownCopy(packet), false);
    return packet.length;
  }

  event(iface: Interface, event: ArpEvent): void {
    const [state, outputs] = arpStep(iface.arp, event);
    iface.arp = state;
    for (const o of outputs) this.output(iface, o);
  }

  private output(iface: Interface, o: ArpOutput): void {
    const env = this.env;
    switch (o.kind) {
      case 'send-arp':
        this.sendArp(iface, o.repr, o.dstMac);
        break;
      case 'transmit':
        this.link.transmit(iface, o.mac, ETHERTYPE_IPV4, o.packet);
        break;
      case 'dropped':
        env.drop(`arp/${o.reason}`);
        break;
      case 'unreachable':
        env.counters.inc('arp/unreachable', o.packets.length);
        for (const p of o.packets) this.unreachable(p);
        break;
      case 'conflict':
        env.logEvent(
          `${iface.name}: address conflict: ${macToString(o.mac)} claims an address of ours${o.defended ? ' (defended)' : ''}`,
        );
        break;
    }
  }

  private sendArp(iface: Interface, repr: ArpRepr, dstMac: Mac): void {
    const frame = new Uint8Array(LINK_HEADROOM + 28);
    emitArp(repr, frame.subarray(LINK_HEADROOM));
    emitEthernet({ dst: dstMac, src: iface.mac, vlans: [], ethertype: ETHERTYPE_ARP }, frame);
    this.link.sendFrame(iface, frame);
  }

  deadline(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const iface of this.interfaces) next = Math.min(next, arpDeadline(iface.arp) ?? next);
    return next;
  }

  tick(now: number): void {
    for (const iface of this.interfaces) {
      const d = arpDeadline(iface.arp);
      if (d !== null && d <= now) this.event(iface, { kind: 'tick', now });
    }
  }
}
