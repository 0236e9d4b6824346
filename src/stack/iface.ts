/**
 * One network interface of a stack: a link, a MAC, addresses, an MTU and its neighbour caches.
 */
import { type Ipv4Addr, type Ipv6Addr, type Mac, ipv4Mask } from '../addr.js';
import type { ArpState } from '../arp/cache.js';
import type { NdpRouterOptions, NdpState } from '../ipv6/ndp.js';
import type { Link } from '../link/link.js';

export interface Ipv4Cidr {
  readonly address: Ipv4Addr;
  readonly prefixLen: number;
}

export interface Ipv6Cidr {
  readonly address: Ipv6Addr;
  readonly prefixLen: number;
}

export interface InterfaceConfig {
  readonly link: Link;
  /** Our MAC; by default one derived from the stack's seed (locally administered, unicast). */
  readonly mac?: Mac;
  /** The IP MTU; by default the link's. */
  readonly mtu?: number;
  readonly ipv4?: readonly Ipv4Cidr[];
  readonly ipv6?: readonly Ipv6Cidr[];
  /** Default IPv4 gateway reached through this interface. */
  readonly gateway4?: Ipv4Addr;
  /**
   * Default IPv6 gateway reached through this interface (often the router's link-local address). It
   * takes precedence over routers learnt from Router Advertisements (RFC 4861 §6.3.4).
   */
  readonly gateway6?: Ipv6Addr;
  /** IPv6 with a link-local address, DAD and router discovery (default true, as on Linux). */
  readonly ipv6Enabled?: boolean;
  /**
   * The IPv6 router role on this link (RFC 4861 §6.2): the Router flag, no autoconfiguration from
   * other routers, and Router Advertisements when `advertise` is set.
   */
  readonly ndpRouter?: NdpRouterOptions;
}

export class Interface {
  arp: ArpState;
  ndp: NdpState;
  /** IPv6 multicast groups we receive (keys from `ipv6Key`), as the NDP core joins and leaves them. */
  readonly groups = new Set<string>();

  constructor(
    readonly index: number,
    readonly link: Link,
    readonly mac: Mac,
    readonly mtu: number,
    readonly ipv4: readonly Ipv4Cidr[],
    readonly ipv6: readonly Ipv6Cidr[],
    readonly ipv6Enabled: boolean,
    arp: ArpState,
    ndp: NdpState,
  ) {
    this.arp = arp;
    this.ndp = ndp;
  }

  get name(): string {
    return this.link.name;
  }

  hasIpv4(a: Ipv4Addr): boolean {
    return this.ipv4.some((c) => c.address === a);
  }

  /** The directed broadcast address of one of our subnets (RFC 1122 §3.3.6), for /30 and wider. */
  isIpv4SubnetBroadcast(a: Ipv4Addr): boolean {
    return this.ipv4.some((c) => c.prefixLen <= 30 && (c.address | ~ipv4Mask(c.prefixLen)) >>> 0 === a);
  }
}
