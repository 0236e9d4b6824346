/**
 * The NAT tests' simulated line: inside host A (10.1.0.2) — router (`in` 10.1.0.1, `out` 10.9.0.1) —
 * outside host B (10.9.0.2), where B has no route back to the inside prefix, so only NAT can make a
 * conversation work. The router filters with `filter` (connection tracking, firewall, NAT).
 */
import { expect } from 'vitest';
import { type Ipv4Addr, parseIpv4Addr } from '../../src/addr.js';
import { VirtualScheduler } from '../../src/clock.js';
import { memoryPair } from '../../src/link/memory.js';
import { Router, type RouterFilterOptions } from '../../src/router/driver.js';
import { Stack } from '../../src/stack/stack.js';

export const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;

export function natLine(filter: Omit<RouterFilterOptions, 'secret'>, secret: Uint8Array) {
  const { scheduler, aEnd, bEnd, router } = natLinks(filter, secret);
  const a = new Stack({ scheduler, seed: 1 });
  const b = new Stack({ scheduler, seed: 2 });
  a.addInterface({
    link: aEnd,
    ipv4: [{ address: ip('10.1.0.2'), prefixLen: 24 }],
    gateway4: ip('10.1.0.1'),
  });
  // B knows nothing of 10.1.0.0/24: no gateway.
  b.addInterface({ link: bEnd, ipv4: [{ address: ip('10.9.0.2'), prefixLen: 24 }] });
  return { scheduler, a, b, router };
}

/** The line without its hosts: the router (`in` its interface 0) and the ends where A and B go. */
export function natLinks(filter: Omit<RouterFilterOptions, 'secret'>, secret: Uint8Array) {
  const scheduler = new VirtualScheduler();
  const [aEnd, inEnd] = memoryPair(scheduler, { delay: 0.05, names: ['a', 'in'] });
  const [outEnd, bEnd] = memoryPair(scheduler, { delay: 0.05, names: ['out', 'b'] });
  const router = new Router({ scheduler, seed: 3 });
  router.addInterface({
    link: inEnd,
    ipv4: [{ address: ip('10.1.0.1'), prefixLen: 24 }],
    ipv6Enabled: false,
  });
  router.addInterface({
    link: outEnd,
    ipv4: [{ address: ip('10.9.0.1'), prefixLen: 24 }],
    ipv6Enabled: false,
  });
  expect(router.filterWith({ ...filter, secret })).toBeUndefined();
  return { scheduler, aEnd, bEnd, router };
}
