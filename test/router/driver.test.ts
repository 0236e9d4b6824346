/**
 * The router driver in simulation: host A — router R — host B on memory links in virtual time,
 * B's link with MTU 1280 and IPv6 configured only from R's Router Advertisements.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, type Ipv6Addr, ipv6ToString, parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { VirtualScheduler } from '../../src/clock.js';
import { ETHERTYPE_IPV4, EthernetFrame } from '../../src/ethernet/wire.js';
import { IPPROTO_UDP } from '../../src/ipproto.js';
import { Ipv4Packet } from '../../src/ipv4/wire.js';
import { addresses, defaultRouter } from '../../src/ipv6/ndp.js';
import { linkLocalAddress } from '../../src/ipv6/ndp/addresses.js';
import { MemoryHub, memoryPair } from '../../src/link/memory.js';
import { Router } from '../../src/router/driver.js';
import { Stack } from '../../src/stack/stack.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { parseTcp } from '../../src/tcp/wire.js';
import { runFor, settle } from '../../src/testing/time.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const ip6 = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

function line(opts: { clampMss?: boolean } = {}) {
  const scheduler = new VirtualScheduler();
  const [aEnd, raEnd] = memoryPair(scheduler, { mtu: 1500, delay: 0.05, names: ['a', 'r-a'] });
  const [rbEnd, bEnd] = memoryPair(scheduler, { mtu: 1280, delay: 0.05, names: ['r-b', 'b'] });
  const a = new Stack({ scheduler, seed: 1 });
  const b = new Stack({ scheduler, seed: 2 });
  const router = new Router({ scheduler, seed: 3, clampMss: opts.clampMss ?? false });
  router.addInterface({
    link: raEnd,
    ipv4: [{ address: ip('10.1.0.1'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:1::1'), prefixLen: 64 }],
    ndpRouter: { advertise: false },
  });
  router.addInterface({
    link: rbEnd,
    ipv4: [{ address: ip('10.2.0.1'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:2::1'), prefixLen: 64 }],
    ndpRouter: {
      advertise: true,
      prefixes: [{ prefix: ip6('2001:db8:2::'), prefixLen: 64 }],
      mtu: 1280,
    },
  });
  a.addInterface({
    link: aEnd,
    ipv4: [{ address: ip('10.1.0.2'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:1::2'), prefixLen: 64 }],
    gateway4: ip('10.1.0.1'),
    gateway6: ip6('2001:db8:1::1'),
  });
  const bIface = b.addInterface({
    link: bEnd,
    ipv4: [{ address: ip('10.2.0.2'), prefixLen: 24 }],
    gateway4: ip('10.2.0.1'),
  });
  /** B's address from SLAAC, once R's advertisement has configured it. */
  const bGlobal = (): Ipv6Addr | undefined =>
    addresses(bIface.ndp).find((x) => x.state === 'preferred' && x.address[0] === 0x20)?.address;
  return { scheduler, a, b, router, bIface, bEnd, bGlobal };
}

function pattern(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
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

describe('a router between two hosts', () => {
  it('forwards ping both ways, decrementing the TTL once', async () => {
    const { scheduler, a, router } = line();
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.2.0.2')));
    expect(reply?.from).toBe(ip('10.2.0.2'));
    expect(reply?.ttl).toBe(63);
    expect(router.stack.counters.get('router/forwarded')).toBeGreaterThanOrEqual(2);
    // The router answers on its own addresses too, the far one included.
    expect((await settle(scheduler, a.ipv4.ping(ip('10.2.0.1'))))?.ttl).toBe(64);
  });

  it('fragments towards the 1280-byte link and the far host reassembles', async () => {
    const { scheduler, a, b, router } = line();
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.2.0.2'), { size: 3000 }));
    expect(reply?.bytes).toBe(3000);
    expect(router.stack.counters.get('router/fragmented')).toBeGreaterThan(0);
    expect(b.counters.get('ipv4/reassembled')).toBe(1);
  });

  it('answers TTL 1 with Time Exceeded and an unknown network with Net Unreachable', async () => {
    const { scheduler, a } = line();
    await settle(scheduler, a.ipv4.ping(ip('10.2.0.2')));
    const route = a.ipv4.route(ip('10.2.0.2'))!;
    a.ipv4.send(route, IPPROTO_UDP, 8, (buf) => buf.fill(0), { ttl: 1 });
    await runFor(scheduler, 100);
    expect(a.counters.get('icmpv4/in-time-exceeded')).toBe(1);
    expect(await settle(scheduler, a.ipv4.ping(ip('10.9.9.9'), { timeoutMs: 500 }))).toBeUndefined();
    expect(a.counters.get('icmpv4/in-dest-unreachable')).toBe(1);
  });

  it('answers Host / Address Unreachable when the next hop never answers ARP or NDP', async () => {
    const { scheduler, a } = line();
    await runFor(scheduler, 3_000);
    expect(await settle(scheduler, a.ipv4.ping(ip('10.2.0.99'), { timeoutMs: 6_000 }))).toBeUndefined();
    expect(await settle(scheduler, a.ipv6.ping(ip6('2001:db8:2::99'), { timeoutMs: 6_000 }))).toBeUndefined();
    expect(a.counters.get('icmpv4/in-dest-unreachable')).toBe(1);
    expect(a.counters.get('icmpv6/in-dest-unreachable')).toBe(1);
  });

  it('configures the far host by its Router Advertisements alone, and forwards IPv6 to it', async () => {
    const { scheduler, a, b, router, bIface, bGlobal } = line();
    await runFor(scheduler, 5_000);
    const global = bGlobal();
    expect(global && ipv6ToString(global).startsWith('2001:db8:2:')).toBe(true);
    expect(defaultRouter(bIface.ndp)).toBeDefined();
    const reply = await settle(scheduler, a.ipv6.ping(global!));
    expect(reply?.hopLimit).toBe(63);
    expect(b.counters.get('icmpv6/in-echo-request')).toBe(1);
    expect(router.stack.counters.get('router/forwarded')).toBeGreaterThanOrEqual(2);
  });

  it('sends Packet Too Big for an IPv6 packet bigger than the far link, never fragmenting it', async () => {
    const { scheduler, a, b, router, bGlobal } = line();
    await runFor(scheduler, 5_000);
    await settle(scheduler, a.ipv6.ping(bGlobal()!, { size: 3000, timeoutMs: 500 }));
    expect(a.counters.get('icmpv6/in-packet-too-big')).toBeGreaterThan(0);
    expect(b.counters.get('icmpv6/in-echo-request')).toBe(0);
    expect(router.stack.counters.get('router/fragmented')).toBe(0);
  });

  it.each([
    '10.2.0.2',
    'v6',
  ])('carries 1 MB each way over TCP to %s intact, copying no payload', async (to) => {
    const { scheduler, a, b, router, bGlobal } = line();
    await runFor(scheduler, 5_000);
    const host = to === 'v6' ? ipv6ToString(bGlobal()!) : to;
    // Resolve the neighbours first: a packet that waits for ARP/NDP is the one copy allowed.
    if (to === 'v6') await settle(scheduler, a.ipv6.ping(bGlobal()!));
    else await settle(scheduler, a.ipv4.ping(ip(host)));
    const copiedBefore = router.copiedPayloadBytes;
    const up = pattern(1_000_000, 1);
    const down = pattern(1_000_000, 2);
    const atB = new Promise<Buffer>((resolve, reject) => {
      b.tcp
        .createServer((s) => {
          collect(s).then(resolve, reject);
          s.end(down);
        })
        .listen(9);
    });
    const client = a.tcp.connect({ host, port: 9 });
    const atA = collect(client);
    client.end(up);
    expect(sha(await settle(scheduler, atB))).toBe(sha(up));
    expect(sha(await settle(scheduler, atA))).toBe(sha(down));
    expect(router.copiedPayloadBytes).toBe(copiedBefore);
  });

  it.each([
    [true, 1240],
    [false, 1460],
  ])('with clampMss=%s the SYN reaching the 1280-byte link carries MSS %i', async (clampMss, mss) => {
    const { scheduler, a, b, bEnd } = line({ clampMss });
    const seen: number[] = [];
    bEnd.capture = (frame, dir) => {
      if (dir !== 'in') return;
      const eth = EthernetFrame.check(frame);
      if (!eth.ok || eth.value.ethertype !== ETHERTYPE_IPV4) return;
      const p = Ipv4Packet.check(eth.value.payload);
      if (!p.ok || p.value.protocol !== 6) return;
      const t = parseTcp(p.value.payload, { version: 4, src: p.value.src, dst: p.value.dst });
      if (t.ok && t.value.repr.flags.syn) seen.push(t.value.repr.options.mss ?? -1);
    };
    b.tcp.createServer((s) => s.end()).listen(9);
    const client = a.tcp.connect({ host: '10.2.0.2', port: 9 });
    await settle(scheduler, collect(client));
    expect(seen).toEqual([mss]);
  });
});

describe('a router that sends a packet back out of the link it came in on', () => {
  /**
   * A, the router R and another router G on one link; R routes 10.9/16 and 2001:db8:9::/48 via G (by
   * its link-local address: RFC 4861 §8.1 accepts only a link-local target for a router).
   */
  function triangle() {
    const scheduler = new VirtualScheduler();
    const hub = new MemoryHub(scheduler, { mtu: 1500, delay: 0.05 });
    const a = new Stack({ scheduler, seed: 1 });
    const g = new Stack({ scheduler, seed: 2 });
    const router = new Router({ scheduler, seed: 3 });
    router.addInterface({
      link: hub.port('r'),
      ipv4: [{ address: ip('10.1.0.1'), prefixLen: 24 }],
      ipv6: [{ address: ip6('2001:db8:1::1'), prefixLen: 64 }],
      ndpRouter: { advertise: false },
    });
    router.addInterface({
      link: memoryPair(scheduler)[0],
      ipv4: [{ address: ip('10.2.0.1'), prefixLen: 24 }],
    });
    a.addInterface({
      link: hub.port('a'),
      ipv4: [{ address: ip('10.1.0.2'), prefixLen: 24 }],
      ipv6: [{ address: ip6('2001:db8:1::2'), prefixLen: 64 }],
      gateway4: ip('10.1.0.1'),
      gateway6: ip6('2001:db8:1::1'),
    });
    const gIface = g.addInterface({
      link: hub.port('g'),
      ipv4: [{ address: ip('10.1.0.3'), prefixLen: 24 }],
      ipv6: [{ address: ip6('2001:db8:1::3'), prefixLen: 64 }],
    });
    expect(router.addRoute4(ip('10.9.0.0'), 16, ip('10.1.0.3'))).toBeUndefined();
    expect(
      router.addRoute6(ip6('2001:db8:9::'), 48, linkLocalAddress(gIface.mac), { iface: 0 }),
    ).toBeUndefined();
    return { scheduler, a, g, router };
  }

  it('forwards it and tells the sender the better first hop (RFC 1812 §5.2.7.2, RFC 4861 §8.2)', async () => {
    const { scheduler, a, g, router } = triangle();
    await runFor(scheduler, 3_000);
    await settle(scheduler, a.ipv4.ping(ip('10.9.0.5'), { timeoutMs: 200 }));
    await settle(scheduler, a.ipv6.ping(ip6('2001:db8:9::5'), { timeoutMs: 200 }));
    expect(a.counters.get('icmpv4/in-redirect')).toBe(1);
    expect(a.counters.get('icmpv6/in-redirect')).toBe(1);
    // The packets went on to G all the same (G is no router: it drops the one it can tell apart).
    expect(g.counters.get('ipv4/not-for-us')).toBe(1);
    expect(router.stack.counters.get('router/forwarded')).toBe(2);
  });

  it('refuses a static route whose gateway is on no connected subnet', () => {
    const { router } = triangle();
    expect(router.addRoute4(ip('10.8.0.0'), 16, ip('10.7.0.1'))).toMatch(/not on a connected subnet/);
    expect(router.addRoute6(ip6('2001:db8:8::'), 48, ip6('2001:db8:7::1'))).toMatch(
      /not on a connected prefix/,
    );
    expect(router.addRoute6(ip6('2001:db8:8::'), 48, ip6('fe80::1'))).toMatch(/needs its interface/);
  });
});
