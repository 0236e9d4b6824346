/**
 * Path MTU in the driver (src/stack/tcp.ts): Fragmentation Needed from a router reaches the TCP core
 * (RFC 1191), and the learnt MTU is kept per destination for 10 minutes (RFC 1191 §6.3) so the next
 * connection starts with it. Two Oasis hosts and an Oasis router on virtual time; the router's link
 * towards the client carries 1280 bytes.
 */
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, parseIpv4Addr } from '../../src/addr.js';
import { VirtualScheduler } from '../../src/clock.js';
import { memoryPair } from '../../src/link/memory.js';
import { Router } from '../../src/router/driver.js';
import { Stack } from '../../src/stack/stack.js';
import { runFor, settle } from '../../src/testing/time.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const SIZE = 300_000;

/** Client a (10.1.0.2) — router (1280-byte MTU towards a) — server b (10.2.0.2) serving SIZE bytes on 80. */
function narrowPath() {
  const scheduler = new VirtualScheduler();
  const [aEnd, raEnd] = memoryPair(scheduler, { mtu: 1500, delay: 0.5, names: ['a', 'r-a'] });
  const [rbEnd, bEnd] = memoryPair(scheduler, { mtu: 1500, delay: 0.5, names: ['r-b', 'b'] });
  const a = new Stack({ scheduler, seed: 1 });
  const b = new Stack({ scheduler, seed: 2 });
  const router = new Router({ scheduler, seed: 3 });
  router.addInterface({ link: raEnd, mtu: 1280, ipv4: [{ address: ip('10.1.0.1'), prefixLen: 24 }] });
  router.addInterface({ link: rbEnd, ipv4: [{ address: ip('10.2.0.1'), prefixLen: 24 }] });
  a.addInterface({
    link: aEnd,
    ipv4: [{ address: ip('10.1.0.2'), prefixLen: 24 }],
    gateway4: ip('10.1.0.1'),
  });
  b.addInterface({
    link: bEnd,
    ipv4: [{ address: ip('10.2.0.2'), prefixLen: 24 }],
    gateway4: ip('10.2.0.1'),
  });
  b.tcp.createServer((s) => s.end(new Uint8Array(SIZE).fill(0x5a))).listen(80);
  return { scheduler, a, b };
}

/** Fetches everything the server sends; the number of bytes received. */
async function fetch(scheduler: VirtualScheduler, a: Stack): Promise<number> {
  const s = a.tcp.connect({ host: '10.2.0.2', port: 80 });
  let n = 0;
  s.on('data', (c: Uint8Array) => {
    n += c.length;
  });
  await settle(scheduler, new Promise<void>((resolve) => s.on('close', () => resolve())), {
    limitMs: 120_000,
  });
  return n;
}

describe('path MTU through a router that sends Fragmentation Needed', () => {
  it('the transfer completes, the server learns 1280 and the next connection starts with it', async () => {
    const { scheduler, a, b } = narrowPath();
    expect(await fetch(scheduler, a)).toBe(SIZE);
    const learnt = b.counters.get('tcp/icmp-path-mtu') ?? 0;
    expect(learnt).toBeGreaterThan(0);
    expect(b.tcp.knownPathMtu(ip('10.1.0.2'))).toBe(1280);
    expect(b.tcp.counters['pmtu-lowered']).toBeGreaterThan(0);
    // The second connection sends 1240-byte segments from the start: no new Fragmentation Needed.
    expect(await fetch(scheduler, a)).toBe(SIZE);
    expect(b.counters.get('tcp/icmp-path-mtu') ?? 0).toBe(learnt);
    // Neither needed a timeout: the first resent its flight at once on the router's message.
    expect(b.tcp.counters['rto-expired']).toBe(0);
  });

  it('forgets the learnt MTU after 10 minutes (RFC 1191 §6.3)', async () => {
    const { scheduler, a, b } = narrowPath();
    expect(await fetch(scheduler, a)).toBe(SIZE);
    expect(b.tcp.knownPathMtu(ip('10.1.0.2'))).toBe(1280);
    await runFor(scheduler, 10 * 60_000);
    expect(b.tcp.knownPathMtu(ip('10.1.0.2'))).toBeUndefined();
  });
});
