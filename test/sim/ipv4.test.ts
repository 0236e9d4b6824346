/**
 * Whole stacks on in-process links in virtual time: ARP, ping (fragmented too), UDP, ICMP errors.
 */
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, MAC_BROADCAST, MAC_ZERO, parseIpv4Addr, parseMac } from '../../src/addr.js';
import { lookup } from '../../src/arp/cache.js';
import { emitArp } from '../../src/arp/wire.js';
import { ETHERTYPE_ARP, emitEthernet } from '../../src/ethernet/wire.js';
import { VirtualScheduler } from '../../src/clock.js';
import { impair } from '../../src/link/impair.js';
import { MemoryHub, memoryPair } from '../../src/link/memory.js';
import { Stack } from '../../src/stack/stack.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;

interface Impairments {
  loss?: number;
  duplicate?: number;
  reorder?: number;
}

function twoHosts(opts: { mtu?: number; seed?: number } & Impairments = {}) {
  const scheduler = new VirtualScheduler();
  const [la, lb] = memoryPair(scheduler, { mtu: opts.mtu ?? 1500, delay: 0.05 });
  const a = new Stack({ scheduler, seed: 1 });
  const b = new Stack({ scheduler, seed: 2 });
  const { loss = 0, duplicate = 0, reorder = 0 } = opts;
  const linkA =
    loss + duplicate + reorder > 0
      ? impair(la, scheduler, { loss, duplicate, reorder, seed: opts.seed ?? 7 })
      : la;
  a.addInterface({ link: linkA, ipv4: [{ address: ip('10.0.0.1'), prefixLen: 24 }] });
  b.addInterface({ link: lb, ipv4: [{ address: ip('10.0.0.2'), prefixLen: 24 }] });
  return { scheduler, a, b };
}

async function settle<T>(scheduler: VirtualScheduler, p: Promise<T>): Promise<T> {
  let done = false;
  const out = p.finally(() => {
    done = true;
  });
  for (let i = 0; i < 10_000 && !done; i++) {
    if (scheduler.step() === false) await Promise.resolve();
    await Promise.resolve();
  }
  return out;
}

describe('two IPv4 hosts on a memory link', () => {
  it('resolve each other with ARP and answer ping', async () => {
    const { scheduler, a, b } = twoHosts();
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.0.0.2')));
    expect(reply?.from).toBe(ip('10.0.0.2'));
    expect(reply?.bytes).toBe(56);
    expect(b.counters.get('icmpv4/in-echo-request')).toBe(1);
    expect(a.counters.get('arp/received')).toBeGreaterThan(0);
  });

  it.each([1472, 3000, 60000, 65507])('ping -s %i is fragmented and reassembled both ways', async (size) => {
    const { scheduler, a, b } = twoHosts();
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.0.0.2'), { size }));
    expect(reply?.bytes).toBe(size);
    const fragments = size + 8 > 1480 ? Math.ceil((size + 8) / 1480) : 0;
    expect(b.counters.get('ipv4/fragments-sent')).toBe(fragments);
    expect(b.counters.get('ipv4/reassembled')).toBe(fragments > 0 ? 1 : 0);
  });

  it.each([
    1, 2, 3, 4, 5,
  ])('reassemble ping -s 60000 through reordering and duplication (seed %i)', async (seed) => {
    const { scheduler, a, b } = twoHosts({ duplicate: 0.1, reorder: 0.3, seed });
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.0.0.2'), { size: 60000 }));
    expect(reply?.bytes).toBe(60000);
    expect(b.counters.get('ipv4/reassembled')).toBe(1);
  });

  it('exchange UDP datagrams and answer a closed port with port unreachable', async () => {
    const { scheduler, a, b } = twoHosts();
    const server = b.udp.bind(7);
    server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
    const client = a.udp.bind();
    const got = new Promise<string>((resolve) => client.on('message', (m) => resolve(m.toString())));
    client.send('hello', 7, '10.0.0.2');
    expect(await settle(scheduler, got)).toBe('hello');
    client.send('nobody', 9, '10.0.0.2');
    scheduler.runUntil(scheduler.now() + 100);
    expect(b.counters.get('icmpv4/out-dest-unreachable')).toBe(1);
    expect(a.counters.get('icmpv4/in-dest-unreachable')).toBe(1);
  });

  it('report an unreachable neighbour after the ARP retries', async () => {
    const { scheduler, a } = twoHosts();
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.0.0.9'), { timeoutMs: 10_000 }));
    expect(reply).toBeUndefined();
    expect(a.counters.get('arp/unreachable')).toBe(1);
  });

  it('keep reassembly memory bounded under a flood of incomplete fragments, and still answer', async () => {
    const { scheduler, a, b } = twoHosts({ mtu: 576, loss: 0.2 });
    // A fifth of a's frames are lost: most 8000-byte datagrams (15 fragments) stay incomplete at b.
    let peak = 0;
    for (let i = 0; i < 400; i++) {
      void a.ipv4.ping(ip('10.0.0.2'), { size: 8000, timeoutMs: 100 });
      scheduler.runUntil(scheduler.now() + 1);
      peak = Math.max(peak, b.ipv4.reassemblyBytes);
    }
    expect(
      b.counters.get('ipv4/reassembly-evicted-budget') + b.counters.get('ipv4/reassembly-evicted-entries'),
    ).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(4 * 1024 * 1024);
    scheduler.runUntil(scheduler.now() + 60_000);
    expect(b.ipv4.reassemblyBytes).toBe(0);
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await settle(scheduler, a.ipv4.ping(ip('10.0.0.2'))));
    expect(replies.some((r) => r !== undefined)).toBe(true);
  });
});

describe('ARP hardening', () => {
  it('does not believe an ARP packet whose sender MAC is not the frame source (ARP has no checksum)', () => {
    const scheduler = new VirtualScheduler();
    const hub = new MemoryHub(scheduler, { mtu: 1500 });
    const host = new Stack({ scheduler, seed: 5 });
    host.addInterface({
      link: hub.port('host'),
      ipv4: [{ address: ip('10.2.0.1'), prefixLen: 24 }],
      ipv6Enabled: false,
    });
    const raw = hub.port('raw');
    const frame = new Uint8Array(14 + 28);
    emitEthernet(
      { dst: MAC_BROADCAST, src: parseMac('02:00:00:00:00:99')!, vlans: [], ethertype: ETHERTYPE_ARP },
      frame,
    );
    const arp = { senderIp: ip('10.2.0.9'), targetMac: MAC_ZERO, targetIp: ip('10.2.0.1') };
    emitArp({ operation: 'request', senderMac: parseMac('02:00:00:00:00:98')!, ...arp }, frame.subarray(14));
    raw.send(frame.slice());
    scheduler.runUntil(10);
    expect(host.counters.get('arp/sender-mac-mismatch')).toBe(1);
    expect(lookup(host.interfaces[0]!.arp, ip('10.2.0.9'))).toBeUndefined();
    emitArp({ operation: 'request', senderMac: parseMac('02:00:00:00:00:99')!, ...arp }, frame.subarray(14));
    raw.send(frame);
    scheduler.runUntil(20);
    expect(lookup(host.interfaces[0]!.arp, ip('10.2.0.9'))).toBe(parseMac('02:00:00:00:00:99'));
  });
});

describe('three hosts on a hub', () => {
  it('reach each other and ignore frames for others', async () => {
    const scheduler = new VirtualScheduler();
    const hub = new MemoryHub(scheduler, { mtu: 1500, delay: 0.01 });
    const hosts = [1, 2, 3].map((n) => {
      const s = new Stack({ scheduler, seed: n });
      s.addInterface({ link: hub.port(`h${n}`), ipv4: [{ address: ip(`10.1.0.${n}`), prefixLen: 24 }] });
      return s;
    });
    expect(await settle(scheduler, hosts[0]!.ipv4.ping(ip('10.1.0.3')))).toBeDefined();
    expect(await settle(scheduler, hosts[1]!.ipv4.ping(ip('10.1.0.1')))).toBeDefined();
    expect(hosts[2]!.counters.get('ethernet/not-for-us')).toBeGreaterThan(0);
  });
});
