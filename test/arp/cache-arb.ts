/**
 * fast-check arbitraries for the ARP cache: small configs (so every bound is hit) and scripts of
 * commands over small pools of addresses (so neighbours collide, conflict and come back).
 */
import fc from 'fast-check';
import {
  IPV4_ANY,
  IPV4_BROADCAST,
  type Ipv4Addr,
  ipv4,
  MAC_BROADCAST,
  MAC_ZERO,
  type Mac,
} from '../../src/addr.js';
import { type ArpConfig, arpConfig } from '../../src/arp/cache.js';
import type { ArpRepr } from '../../src/arp/wire.js';

export const OUR_MAC = 0x02_00_00_00_00_01 as Mac;
export const OUR_IPS: readonly Ipv4Addr[] = [ipv4(10, 0, 0, 1), ipv4(192, 168, 1, 1)];
export const PEER_MACS: readonly Mac[] = [
  0x02_00_00_00_00_02 as Mac,
  0x02_00_00_00_00_03 as Mac,
  0x0a_00_00_00_00_04 as Mac,
];
export const PEER_IPS: readonly Ipv4Addr[] = [
  ipv4(10, 0, 0, 2),
  ipv4(10, 0, 0, 3),
  ipv4(10, 0, 0, 4),
  ipv4(192, 168, 1, 5),
  ipv4(10, 0, 0, 6),
];
/** Addresses the core must never ARP for or learn. */
export const SPECIAL_IPS: readonly Ipv4Addr[] = [IPV4_ANY, IPV4_BROADCAST, ipv4(224, 0, 0, 251)];

const ipArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PEER_IPS) },
  { weight: 2, arbitrary: fc.constantFrom(...OUR_IPS) },
  { weight: 1, arbitrary: fc.constantFrom(...SPECIAL_IPS) },
);
const macArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...PEER_MACS) },
  { weight: 1, arbitrary: fc.constantFrom(OUR_MAC, MAC_BROADCAST, MAC_ZERO, 0x01_00_5e_00_00_fb as Mac) },
);

const randomReprArb: fc.Arbitrary<ArpRepr> = fc.record({
  operation: fc.constantFrom('request' as const, 'reply' as const),
  senderMac: macArb,
  senderIp: ipArb,
  targetMac: macArb,
  targetIp: ipArb,
});

/** A peer speaking with its own addresses (sometimes from a new MAC), mostly to us. */
const peerReprArb: fc.Arbitrary<ArpRepr> = fc
  .record({
    operation: fc.constantFrom('request' as const, 'reply' as const),
    peer: fc.nat({ max: PEER_IPS.length - 1 }),
    moved: fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: macArb }),
    target: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...OUR_IPS) },
      { weight: 1, arbitrary: fc.constantFrom(...PEER_IPS) },
    ),
  })
  .map(({ operation, peer, moved, target }) => ({
    operation,
    senderMac: moved ?? PEER_MACS[peer % PEER_MACS.length]!,
    senderIp: PEER_IPS[peer]!,
    targetMac: operation === 'reply' ? OUR_MAC : MAC_ZERO,
    targetIp: target,
  }));

export const arpReprArb: fc.Arbitrary<ArpRepr> = fc.oneof(
  { weight: 3, arbitrary: peerReprArb },
  { weight: 1, arbitrary: randomReprArb },
);

export const arpConfigArb: fc.Arbitrary<ArpConfig> = fc
  .record({
    addresses: fc.constantFrom(OUR_IPS, OUR_IPS.slice(0, 1), []),
    maxEntries: fc.integer({ min: 1, max: 4 }),
    retryInterval: fc.integer({ min: 1, max: 1500 }),
    ttlFactor: fc.integer({ min: 1, max: 5 }),
    maxRetries: fc.integer({ min: 0, max: 3 }),
    failedTtl: fc.integer({ min: 0, max: 3000 }),
    pendingPerNeighbour: fc.integer({ min: 1, max: 3 }),
    pendingBytesPerNeighbour: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(1_000_000)),
    maxPendingTotalBytes: fc.integer({ min: 1, max: 400 }),
    announceCount: fc.integer({ min: 0, max: 3 }),
    announceInterval: fc.integer({ min: 1, max: 3000 }),
    defendInterval: fc.integer({ min: 0, max: 10_000 }),
  })
  .map(({ addresses, ttlFactor, ...rest }) =>
    arpConfig(OUR_MAC, addresses, { ...rest, entryTtl: rest.retryInterval * ttlFactor }),
  );

/** One line of a script: every command but `sleep` and `deadline`/`wait` happens at the current time. */
export type ArpCommand =
  | { readonly kind: 'start' }
  | { readonly kind: 'received'; readonly repr: ArpRepr }
  /** A packet of `size` bytes, optionally a view into a buffer `extra` bytes larger (pinning more). */
  | { readonly kind: 'resolve'; readonly ip: Ipv4Addr; readonly size: number; readonly extra: number }
  /** Advance time by `ms`, then tick. */
  | { readonly kind: 'wait'; readonly ms: number }
  /** Advance time by `ms` without ticking (a late driver). */
  | { readonly kind: 'sleep'; readonly ms: number }
  /** Advance to the deadline, if any, and tick. */
  | { readonly kind: 'deadline' };

export const arpCommandArb: fc.Arbitrary<ArpCommand> = fc.oneof(
  { weight: 1, arbitrary: fc.constant({ kind: 'start' as const }) },
  { weight: 5, arbitrary: arpReprArb.map((repr) => ({ kind: 'received' as const, repr })) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('resolve' as const),
      ip: ipArb,
      size: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 60 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 200 }) },
      ),
      extra: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 1, arbitrary: fc.integer({ min: 1, max: 200 }) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc
      .oneof(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 15_000 }))
      .map((ms) => ({ kind: 'wait' as const, ms })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 4000 }).map((ms) => ({ kind: 'sleep' as const, ms })) },
  { weight: 3, arbitrary: fc.constant({ kind: 'deadline' as const }) },
);

export const arpScriptArb = fc.array(arpCommandArb, { maxLength: 120, size: 'large' });

/** Fresh packets for the `resolve` commands of a script (identity matters: each is tracked by reference). */
export function packetsFor(script: readonly ArpCommand[]): Uint8Array[] {
  let n = 0;
  return script.flatMap((c) => {
    if (c.kind !== 'resolve') return [];
    const p = new Uint8Array(c.size + c.extra).subarray(0, c.size);
    if (p.length > 0) p[0] = n & 0xff;
    n++;
    return [p];
  });
}
