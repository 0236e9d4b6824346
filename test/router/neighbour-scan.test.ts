/**
 * Neighbour cache exhaustion through the router (issue 14, RFC 6583): host A scans the far side's
 * /24 and /64 through router R — thousands of destinations behind R's B interface that never answer
 * — while a live TCP flow over each family runs between A and the real host B. In simulation on
 * virtual time: R's ARP and NDP tables on B stay within their bounds (NDP's resolutions in progress
 * within `maxIncomplete`), the packets waiting for resolution stay within their per-neighbour and
 * global budgets with the drops counted, and the flows never lose a segment: R's entries for B stay
 * resolved from start to end.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, type Ipv6Addr, parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { lookup as arpLookup } from '../../src/arp/cache.js';
import { VirtualScheduler } from '../../src/clock.js';
import { IPPROTO_UDP } from '../../src/ipproto.js';
import { lookup as ndpLookup } from '../../src/ipv6/ndp.js';
import { memoryPair } from '../../src/link/memory.js';
import { Router } from '../../src/router/driver.js';
import type { Interface } from '../../src/stack/iface.js';
import { Stack } from '../../src/stack/stack.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { runFor, settle } from '../../src/testing/time.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const ip6 = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

const B4 = ip('10.2.0.2');
const B6 = ip6('2001:db8:2::2');
/** Silent addresses that get a burst every millisecond: their queues overflow. */
const SILENT4 = ip('10.2.0.250');
const SILENT6 = ip6('2001:db8:2::dead');

function network() {
  const scheduler = new VirtualScheduler();
  const [aEnd, raEnd] = memoryPair(scheduler, { mtu: 1500, delay: 0.05, names: ['a', 'r-a'] });
  const [rbEnd, bEnd] = memoryPair(scheduler, { mtu: 1500, delay: 0.05, names: ['r-b', 'b'] });
  const a = new Stack({ scheduler, seed: 1 });
  const b = new Stack({ scheduler, seed: 2 });
  const router = new Router({ scheduler, seed: 3 });
  router.addInterface({
    link: raEnd,
    ipv4: [{ address: ip('10.1.0.1'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:1::1'), prefixLen: 64 }],
    ndpRouter: { advertise: false },
  });
  const rb = router.addInterface({
    link: rbEnd,
    ipv4: [{ address: ip('10.2.0.1'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:2::1'), prefixLen: 64 }],
    ndpRouter: { advertise: false },
  });
  a.addInterface({
    link: aEnd,
    ipv4: [{ address: ip('10.1.0.2'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:1::2'), prefixLen: 64 }],
    gateway4: ip('10.1.0.1'),
    gateway6: ip6('2001:db8:1::1'),
  });
  b.addInterface({
    link: bEnd,
    ipv4: [{ address: B4, prefixLen: 24 }],
    ipv6: [{ address: B6, prefixLen: 64 }],
    gateway4: ip('10.2.0.1'),
    gateway6: ip6('2001:db8:2::1'),
  });
  return { scheduler, a, b, router, rb };
}

/** A UDP datagram of `size` payload bytes from A to `dst` (its content does not matter to R). */
function udpFrom(a: Stack, dst: Ipv4Addr | Ipv6Addr, size: number): void {
  const write = (buf: Uint8Array) => buf.fill(0x5a);
  if (typeof dst === 'number') {
    const route = a.ipv4.route(dst);
    if (route !== undefined) a.ipv4.send(route, IPPROTO_UDP, 8 + size, write);
  } else {
    const route = a.ipv6.route(dst);
    if (route !== undefined) a.ipv6.send(route, IPPROTO_UDP, 8 + size, write);
  }
}

/** The `i`th address of the /64 behind B (never B's, the router's or the silent one). */
const scanned6 = (i: number): Ipv6Addr =>
  ip6(`2001:db8:2::1:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
/** The `i`th address of the /24 behind B, sweeping .3 to .254 again and again. */
const scanned4 = (i: number): Ipv4Addr => ((ip('10.2.0.3') + (i % 252)) >>> 0) as Ipv4Addr;

/** The largest values seen on R's B interface, sampled every millisecond of the scan. */
interface Seen {
  arpEntries: number;
  arpPending: number;
  arpQueue: number;
  ndpEntries: number;
  ndpIncomplete: number;
  ndpPending: number;
  ndpQueue: number;
  /** Samples where R had no usable entry for B. */
  bUnresolved4: number;
  bUnresolved6: number;
}

function sample(rb: Interface, seen: Seen): void {
  seen.arpEntries = Math.max(seen.arpEntries, rb.arp.entries.size);
  seen.arpPending = Math.max(seen.arpPending, rb.arp.pendingBytes);
  for (const e of rb.arp.entries.values())
    if (e.state === 'incomplete') seen.arpQueue = Math.max(seen.arpQueue, e.queue.length);
  seen.ndpEntries = Math.max(seen.ndpEntries, rb.ndp.neighbours.size);
  seen.ndpIncomplete = Math.max(seen.ndpIncomplete, rb.ndp.incomplete);
  seen.ndpPending = Math.max(seen.ndpPending, rb.ndp.pendingBytes);
  for (const e of rb.ndp.neighbours.values())
    if (e.state === 'incomplete') seen.ndpQueue = Math.max(seen.ndpQueue, e.queue.length);
  if (arpLookup(rb.arp, B4) === undefined) seen.bUnresolved4++;
  if (ndpLookup(rb.ndp, B6) === undefined) seen.bUnresolved6++;
}

function collect(s: TcpSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('a scan of the far side through the router', () => {
  it('keeps R’s neighbour tables and queues bounded while a live flow to B goes on untouched', async () => {
    const { scheduler, a, b, router, rb } = network();
    // DAD of every static address (RFC 4862 §5.4) is over by then.
    await runFor(scheduler, 3_000);
    const start = scheduler.now();
    const scanMs = 5_000;

    // The live flows: A writes 1 KB every 10 ms to an echo server on B, over IPv4 and IPv6.
    b.tcp.createServer((s) => s.pipe(s)).listen(7);
    const flows = ['10.2.0.2', '2001:db8:2::2'].map((host, k) => {
      const sock = a.tcp.connect({ host, port: 7 });
      const sent: Buffer[] = [];
      const echoed = collect(sock);
      let n = 0;
      const write = () => {
        if (scheduler.now() >= start + scanMs + 500) {
          sock.end();
          return;
        }
        const chunk = Buffer.alloc(1000, (n++ * 7 + k) & 0xff);
        sent.push(chunk);
        sock.write(chunk);
        scheduler.at(scheduler.now() + 10, write);
      };
      scheduler.at(scheduler.now() + 1, write);
      return { sock, sent, echoed };
    });

    // The scan: every millisecond one new address of the /64, one of the /24 (swept again and
    // again), and a burst of three to one silent address of each family, 500-byte datagrams.
    const seen: Seen = {
      arpEntries: 0,
      arpPending: 0,
      arpQueue: 0,
      ndpEntries: 0,
      ndpIncomplete: 0,
      ndpPending: 0,
      ndpQueue: 0,
      bUnresolved4: 0,
      bUnresolved6: 0,
    };
    let i = 0;
    const scan = () => {
      if (scheduler.now() >= start + scanMs) return;
      udpFrom(a, scanned6(i), 500);
      udpFrom(a, scanned4(i), 500);
      for (let k = 0; k < 3; k++) {
        udpFrom(a, SILENT4, 500);
        udpFrom(a, SILENT6, 500);
      }
      i++;
      // From the first echo on, R must hold B resolved in both families.
      if (i > 100) sample(rb, seen);
      scheduler.at(scheduler.now() + 1, scan);
    };
    scheduler.at(scheduler.now() + 1, scan);

    const echoed = await settle(scheduler, Promise.all(flows.map((f) => f.echoed)), {
      limitMs: scanMs + 60_000,
    });

    expect(i).toBeGreaterThanOrEqual(scanMs - 1);
    const arpConfig = rb.arp.config;
    const ndpConfig = rb.ndp.config;
    // Tables within their bounds; NDP's resolutions in progress within maxIncomplete (it was reached).
    expect(seen.arpEntries).toBeLessThanOrEqual(arpConfig.maxEntries);
    expect(seen.ndpEntries).toBeLessThanOrEqual(ndpConfig.maxNeighbours);
    expect(seen.ndpIncomplete).toBe(ndpConfig.maxIncomplete);
    // Waiting packets within the per-neighbour and global budgets.
    expect(seen.arpQueue).toBeLessThanOrEqual(arpConfig.pendingPerNeighbour);
    expect(seen.ndpQueue).toBeLessThanOrEqual(ndpConfig.pendingPerNeighbour);
    expect(seen.arpPending).toBeLessThanOrEqual(arpConfig.maxPendingTotalBytes);
    expect(seen.ndpPending).toBeLessThanOrEqual(ndpConfig.maxPendingTotalBytes);
    // The drops are counted: overflowing queues, the NDP cap, failed resolutions.
    const c = router.stack.counters;
    expect(c.get('arp/queue-full')).toBeGreaterThan(0);
    expect(c.get('ndp/queue-full')).toBeGreaterThan(0);
    expect(c.get('ndp/incomplete-full')).toBeGreaterThan(1_000);
    expect(c.get('arp/unreachable')).toBeGreaterThan(0);
    expect(c.get('ndp/unreachable')).toBeGreaterThan(0);
    // R solicited each INCOMPLETE slot at most once per RetransTimer (RFC 4861 §7.3.3) over the scan
    // and the last resolutions' retransmissions: not once per scanned address.
    const nsBound =
      ndpConfig.maxIncomplete * (scanMs / ndpConfig.retransTimer + ndpConfig.maxMulticastSolicit);
    expect(rb.ndp.counters['ns-sent']).toBeLessThan(i);
    expect(rb.ndp.counters['ns-sent']).toBeLessThanOrEqual(nsBound);

    // The live flows: R never lost B, every byte came back, nothing was retransmitted.
    expect(seen.bUnresolved4).toBe(0);
    expect(seen.bUnresolved6).toBe(0);
    for (const [k, f] of flows.entries()) {
      const all = Buffer.concat(f.sent);
      expect(all.length).toBeGreaterThanOrEqual(scanMs * 100);
      expect(sha(echoed[k]!)).toBe(sha(all));
      expect(f.sock.stats?.retransmits).toBe(0);
    }
    expect(b.counters.get('udp/no-socket')).toBe(0);
  });
});
