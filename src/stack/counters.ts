/**
 * Named counters: every drop reason, every protocol event worth counting. Keys are `layer/kind`
 * (the same keys as parse errors, see `errorKey`), so a drop is traceable to the rule that made it.
 *
 * The driver's own names are typed (`StackCounter`), as the pure cores' counters are: a misspelt
 * name is a compile error, not a counter nobody reads. Parse errors arrive as `WireError` values and
 * are counted under their `errorKey`.
 */
import type { ArpDropReason } from '../arp/cache.js';
import type { DropReason as ReassemblyDropReason } from '../fragments/reassembly.js';
import type { Icmpv4Repr } from '../ipv4/icmp.js';
import type { Icmpv6Repr } from '../ipv6/icmp.js';
import type { NdpDropReason } from '../ipv6/ndp.js';

/** The fixed names the driver counts under. */
export const STACK_COUNTERS = [
  'ethernet/sent',
  'ethernet/not-for-us',
  'ethernet/vlan-unsupported',
  'ethernet/unknown-ethertype',
  'arp/received',
  'arp/sender-mac-mismatch',
  'arp/unreachable',
  'ipv4/received',
  'ipv4/sent',
  'ipv4/fragments-sent',
  'ipv4/reassembled',
  'ipv4/reassembly-expired',
  'ipv4/not-for-us',
  'ipv4/unicast-in-link-broadcast',
  'ipv4/bad-source',
  'ipv4/multicast-not-joined',
  'ipv4/unknown-protocol',
  'ipv4/no-route',
  'ipv4/too-big-with-df',
  'ipv4/host-unreachable',
  'ipv4/icmp-error-bad-quote',
  'icmpv4/echo-to-broadcast',
  'icmpv4/error-rate-limited',
  'ipv6/received',
  'ipv6/sent',
  'ipv6/fragments-sent',
  'ipv6/reassembled',
  'ipv6/reassembly-expired',
  'ipv6/disabled',
  'ipv6/not-for-us',
  'ipv6/multicast-source',
  'ipv6/unknown-next-header',
  'ipv6/no-route',
  'ipv6/icmp-error-bad-quote',
  'icmpv6/error-rate-limited',
  'ndp/unreachable',
  'udp/sent',
  'udp/uso-sent',
  'udp/received',
  'udp/no-socket',
  'udp/no-route',
  'udp/icmp-error',
  'udp/icmp-error-ignored',
  'udp/not-from-peer',
  'tcp/no-route',
  'tcp/broadcast',
  'tcp/multicast',
  'tcp/icmp-error',
  'tcp/icmp-path-mtu',
] as const;

export type StackCounter =
  | (typeof STACK_COUNTERS)[number]
  | `arp/${ArpDropReason}`
  | `ndp/${NdpDropReason}`
  | `${'ipv4' | 'ipv6'}/reassembly-${ReassemblyDropReason}`
  | `icmpv4/${'in' | 'out'}-${Icmpv4Repr['type']}`
  | `icmpv6/${'in' | 'out'}-${Icmpv6Repr['kind']}`
  | `router/${string}`;

export class Counters {
  private readonly values = new Map<string, number>();

  inc(key: StackCounter, by = 1): void {
    this.add(key, by);
  }

  /** Counts under a key made elsewhere (a parse error's `errorKey`). */
  add(key: string, by = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(key: string): number {
    return this.values.get(key) ?? 0;
  }

  /** A sorted plain object, for printing and JSON. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
