/**
 * Whole stacks on in-process links in virtual time over IPv6: DAD, NDP resolution, ping6 to
 * link-local and global addresses (fragmented too), UDP, and a duplicate address detected.
 */
import { describe, expect, it } from 'vitest';
import { type Ipv6Addr, ipv6ToString, type Mac, parseIpv6Addr, readMac } from '../../src/addr.js';
import { addresses } from '../../src/ipv6/ndp.js';
import { twoHosts as sim } from '../../src/testing/index.js';

const ip6 = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

/** Global IPv6 only, on a 50 us wire; the clock runs to 3 s so that DAD is over. */
function twoHosts(addrA = '2001:db8::1', addrB = '2001:db8::2') {
  const logs: string[] = [];
  // DAD: a random delay up to 1 s, then one NS and RetransTimer (1 s) of silence.
  const { net, a, b } = sim({
    delay: 0.05,
    ipv4: false,
    a: { seed: 1, ipv6: `${addrA}/64`, onLog: (e) => logs.push(`a: ${e.message}`) },
    b: { seed: 2, ipv6: `${addrB}/64`, onLog: (e) => logs.push(`b: ${e.message}`) },
    warmUpMs: 3000,
  });
  return { net, scheduler: net.scheduler, a, b, logs };
}

describe('two IPv6 hosts on a memory link', () => {
  it('finish DAD on their link-local and static addresses', () => {
    const { a } = twoHosts();
    const states = addresses(a.interfaces[0]!.ndp).map((x) => `${ipv6ToString(x.address)} ${x.state}`);
    expect(states).toContain('2001:db8::1 preferred');
    expect(states.some((s) => s.startsWith('fe80::') && s.endsWith('preferred'))).toBe(true);
  });

  it('resolve each other with NDP and answer ping6 on global and link-local addresses', async () => {
    const { net, a, b } = twoHosts();
    const reply = await net.settle(a.ipv6.ping(ip6('2001:db8::2')));
    expect(reply && ipv6ToString(reply.from)).toBe('2001:db8::2');
    const ll = addresses(b.interfaces[0]!.ndp).find((x) => x.origin === 'link-local')!.address;
    const reply2 = await net.settle(a.ipv6.ping(ll));
    expect(reply2?.bytes).toBe(56);
    expect(a.counters.get('icmpv6/in-neighbor-advertisement')).toBeGreaterThan(0);
  });

  it.each([3000, 60000])('ping6 -s %i is fragmented and reassembled both ways', async (size) => {
    const { net, a, b } = twoHosts();
    const reply = await net.settle(a.ipv6.ping(ip6('2001:db8::2'), { size }));
    expect(reply?.bytes).toBe(size);
    expect(b.counters.get('ipv6/reassembled')).toBe(1);
    expect(b.counters.get('ipv6/fragments-sent')).toBe(Math.ceil((size + 8) / 1448));
  });

  it('send off-link traffic to a static default gateway (gateway6), and have no route without one', async () => {
    for (const withGateway of [true, false]) {
      const {
        net,
        a,
        b,
        ia,
        ib: gw,
      } = sim({
        delay: 0.05,
        ipv4: false,
        ipv6: true,
        a: { seed: 1, ...(withGateway ? { gateway6: '2001:db8::2' } : {}) },
        b: { seed: 2 },
      });
      const la = ia.link;
      const seen: { dstMac: Mac; dstIp: string }[] = [];
      la.capture = (f, dir) => {
        // An outgoing IPv6 echo request (ICMPv6 type 128).
        if (dir === 'out' && f[12] === 0x86 && f[13] === 0xdd && f[20] === 58 && f[54] === 128)
          seen.push({ dstMac: readMac(f, 0), dstIp: ipv6ToString(f.subarray(38, 54) as Ipv6Addr) });
      };
      const dropsBefore = b.counters.get('ipv6/not-for-us');
      const reply = await net.settle(a.ipv6.ping(ip6('2001:db8:99::7'), { timeoutMs: 500 }));
      expect(reply).toBeUndefined();
      if (withGateway) {
        // Resolved the gateway with NDP and handed it the packet; the gateway, a host, drops it.
        expect(seen).toEqual([{ dstMac: gw.mac, dstIp: '2001:db8:99::7' }]);
        expect(b.counters.get('ipv6/not-for-us') - dropsBefore).toBe(1);
      } else {
        expect(seen).toEqual([]);
      }
    }
  });

  it('exchange UDP over IPv6 and answer a closed port with port unreachable', async () => {
    const { net, scheduler, a, b } = twoHosts();
    const server = b.udp.bind(7);
    server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
    const client = a.udp.bind();
    const got = new Promise<string>((resolve) =>
      client.on('message', (m, r) => resolve(`${m} from ${r.address} ${r.family}`)),
    );
    client.send('hello6', 7, '2001:db8::2');
    expect(await net.settle(got)).toBe('hello6 from 2001:db8::2 IPv6');
    client.send('x', 9, '2001:db8::2');
    scheduler.runUntil(scheduler.now() + 100);
    expect(b.counters.get('icmpv6/out-dest-unreachable')).toBe(1);
  });

  it('detect a duplicate address with DAD', () => {
    const { a, b, logs } = twoHosts('2001:db8::7', '2001:db8::7');
    const stateA = addresses(a.interfaces[0]!.ndp).find(
      (x) => ipv6ToString(x.address) === '2001:db8::7',
    )?.state;
    const stateB = addresses(b.interfaces[0]!.ndp).find(
      (x) => ipv6ToString(x.address) === '2001:db8::7',
    )?.state;
    expect([stateA, stateB]).toContain('duplicated');
    expect(logs.some((l) => l.includes('duplicate address 2001:db8::7'))).toBe(true);
  });
});
