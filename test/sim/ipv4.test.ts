/**
 * Whole stacks on in-process links in virtual time: ARP, ping (fragmented too), UDP, ICMP errors.
 */
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, MAC_BROADCAST, MAC_ZERO, parseIpv4Addr, parseMac } from '../../src/addr.js';
import { lookup } from '../../src/arp/cache.js';
import { emitArp } from '../../src/arp/wire.js';
import { ETHERTYPE_ARP, emitEthernet } from '../../src/ethernet/wire.js';
import { SimNetwork, twoHosts as sim } from '../../src/testing/index.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;

interface Impairments {
  loss?: number;
  duplicate?: number;
  reorder?: number;
}

/** 10.0.0.1 and 10.0.0.2 on a 50 us wire; impairments at a's interface, both ways (seed 7 by default). */
function twoHosts(opts: { mtu?: number; seed?: number } & Impairments = {}) {
  const { loss = 0, duplicate = 0, reorder = 0 } = opts;
  const impaired = loss + duplicate + reorder > 0;
  return sim({
    mtu: opts.mtu ?? 1500,
    delay: 0.05,
    a: { seed: 1, ...(impaired ? { impair: { loss, duplicate, reorder, seed: opts.seed ?? 7 } } : {}) },
    b: { seed: 2 },
  });
}

describe('two IPv4 hosts on a memory link', () => {
  it('resolve each other with ARP and answer ping', async () => {
    const { net, a, b } = twoHosts();
    const reply = await net.settle(a.ipv4.ping(ip('10.0.0.2')));
    expect(reply?.from).toBe(ip('10.0.0.2'));
    expect(reply?.bytes).toBe(56);
    expect(b.counters.get('icmpv4/in-echo-request')).toBe(1);
    expect(a.counters.get('arp/received')).toBeGreaterThan(0);
  });

  it.each([1472, 3000, 60000, 65507])('ping -s %i is fragmented and reassembled both ways', async (size) => {
    const { net, b, a } = twoHosts();
    const reply = await net.settle(a.ipv4.ping(ip('10.0.0.2'), { size }));
    expect(reply?.bytes).toBe(size);
    const fragments = size + 8 > 1480 ? Math.ceil((size + 8) / 1480) : 0;
    expect(b.counters.get('ipv4/fragments-sent')).toBe(fragments);
    expect(b.counters.get('ipv4/reassembled')).toBe(fragments > 0 ? 1 : 0);
  });

  it.each([
    1, 2, 3, 4, 5,
  ])('reassemble ping -s 60000 through reordering and duplication (seed %i)', async (seed) => {
    const { net, a, b } = twoHosts({ duplicate: 0.1, reorder: 0.3, seed });
    const reply = await net.settle(a.ipv4.ping(ip('10.0.0.2'), { size: 60000 }));
    expect(reply?.bytes).toBe(60000);
    expect(b.counters.get('ipv4/reassembled')).toBe(1);
  });

  it('exchange UDP datagrams and answer a closed port with port unreachable', async () => {
    const { net, scheduler, a, b } = twoHosts();
    const server = b.udp.bind(7);
    server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
    const client = a.udp.bind();
    const got = new Promise<string>((resolve) => client.on('message', (m) => resolve(m.toString())));
    client.send('hello', 7, '10.0.0.2');
    expect(await net.settle(got)).toBe('hello');
    client.send('nobody', 9, '10.0.0.2');
    scheduler.runUntil(scheduler.now() + 100);
    expect(b.counters.get('icmpv4/out-dest-unreachable')).toBe(1);
    expect(a.counters.get('icmpv4/in-dest-unreachable')).toBe(1);
  });

  it('report an unreachable neighbour after the ARP retries', async () => {
    const { net, a } = twoHosts();
    const reply = await net.settle(a.ipv4.ping(ip('10.0.0.9'), { timeoutMs: 10_000 }));
    expect(reply).toBeUndefined();
    expect(a.counters.get('arp/unreachable')).toBe(1);
  });

  it('keep reassembly memory bounded under a flood of incomplete fragments, and still answer', async () => {
    const { net, scheduler, a, b } = twoHosts({ mtu: 576, loss: 0.2 });
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
    for (let i = 0; i < 5; i++) replies.push(await net.settle(a.ipv4.ping(ip('10.0.0.2'))));
    expect(replies.some((r) => r !== undefined)).toBe(true);
  });
});

describe('ARP hardening', () => {
  it('does not believe an ARP packet whose sender MAC is not the frame source (ARP has no checksum)', () => {
    const net = new SimNetwork();
    const scheduler = net.virtual;
    const hub = net.hub({ mtu: 1500, subnet4: '10.2.0.0/24' });
    const host = net.host({ seed: 5 });
    hub.attach(host, { ipv6Enabled: false });
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
    const net = new SimNetwork();
    const hub = net.hub({ mtu: 1500, delay: 0.01, subnet4: '10.1.0.0/24' });
    const hosts = [1, 2, 3].map((n) => {
      const s = net.host({ seed: n });
      // The n-th host attached is 10.1.0.n.
      hub.attach(s);
      return s;
    });
    expect(await net.settle(hosts[0]!.ipv4.ping(ip('10.1.0.3')))).toBeDefined();
    expect(await net.settle(hosts[1]!.ipv4.ping(ip('10.1.0.1')))).toBeDefined();
    expect(hosts[2]!.counters.get('ethernet/not-for-us')).toBeGreaterThan(0);
  });
});
