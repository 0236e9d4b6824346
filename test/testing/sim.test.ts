/**
 * src/testing/sim.ts: a network of N stacks on virtual time. A line of three hosts (the middle one
 * with two interfaces) works end to end; addresses, names and seeds follow the documented plan; a run
 * is a function of its seed (same seed, same counters and the same bytes on every medium); hubs,
 * captures, interface impairments and `twoHosts` do what their doc comments say.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, ipv4ToString, ipv6ToString, parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import type { ImpairedLink } from '../../src/link/impair.js';
import { RealScheduler } from '../../src/link/real-clock.js';
import type { Interface } from '../../src/stack/iface.js';
import type { Stack } from '../../src/stack/stack.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { SimNetwork, twoHosts } from '../../src/testing/index.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const v4 = (i: Interface): string[] => i.ipv4.map((c) => `${ipv4ToString(c.address)}/${c.prefixLen}`);
const v6 = (i: Interface): string[] => i.ipv6.map((c) => `${ipv6ToString(c.address)}/${c.prefixLen}`);

function collect(s: TcpSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

/** Echoes one stream through `server`'s port 7 from `client` and returns what came back. */
async function echo(net: SimNetwork, client: Stack, server: Stack, host: string, data: Buffer) {
  server.tcp.createServer((s) => s.pipe(s)).listen(7);
  const c = client.tcp.connect({ host, port: 7 });
  const got = collect(c);
  c.end(data);
  return net.settle(got);
}

describe('a line of three hosts: a -- r -- b, r with two interfaces', () => {
  function line() {
    const net = new SimNetwork({ seed: 3 });
    const a = net.host({ name: 'a' });
    const r = net.host({ name: 'r' });
    const b = net.host({ name: 'b' });
    const [a0, r0] = net.link(a, r, { delay: 1 });
    const [r1, b1] = net.link(r, b, { delay: 2, mtu: 1280, ipv6: true });
    return { net, a, r, b, a0, r0, r1, b1 };
  }

  it('numbers segments and hosts as documented, and names ports <host>.eth<n>', () => {
    const { r, a0, r0, r1, b1 } = line();
    expect([v4(a0), v4(r0), v4(r1), v4(b1)]).toEqual([
      ['10.0.0.1/24'],
      ['10.0.0.2/24'],
      ['10.1.0.1/24'],
      ['10.1.0.2/24'],
    ]);
    expect([v6(a0), v6(r0), v6(r1), v6(b1)]).toEqual([[], [], ['2001:db8:1::1/64'], ['2001:db8:1::2/64']]);
    expect([a0.name, r0.name, r1.name, b1.name]).toEqual(['a.eth0', 'r.eth0', 'r.eth1', 'b.eth0']);
    expect(r.interfaces).toEqual([r0, r1]);
    expect([r0.mtu, r1.mtu]).toEqual([1500, 1280]);
  });

  it('lets the middle host reach both ends over their own links, with each link its MTU and delay', async () => {
    const { net, r, a, b } = line();
    const toA = await net.settle(r.ipv4.ping(ip('10.0.0.1'), { size: 1400 }));
    const toB = await net.settle(r.ipv4.ping(ip('10.1.0.2'), { size: 1400 }));
    expect(toA?.bytes).toBe(1400);
    expect(toB?.bytes).toBe(1400);
    // 1400 + 8 + 20 fits 1500 but not 1280: only the second link fragments, both ways.
    expect(a.counters.get('ipv4/fragments-sent')).toBe(0);
    expect(b.counters.get('ipv4/fragments-sent')).toBe(2);
    expect(r.counters.get('ipv4/fragments-sent')).toBe(2);
    // ARP (one round trip) then the echo (another) on a 1 ms and a 2 ms wire.
    const again = await net.settle(r.ipv4.ping(ip('10.1.0.2')));
    expect(again?.rttMs).toBe(4);
    expect((await net.settle(r.ipv4.ping(ip('10.0.0.1'))))?.rttMs).toBe(2);
  });

  it('carries TCP from each end to the address of the middle host on its link, and IPv6 on the second', async () => {
    const { net, r, a, b } = line();
    const data = Buffer.alloc(100_000, 0x42);
    expect((await echo(net, a, r, '10.0.0.2', data)).equals(data)).toBe(true);
    await net.runFor(3000); // DAD on the second link's IPv6 addresses
    const c = b.tcp.connect({ host: '2001:db8:1::1', port: 7 });
    const got = collect(c);
    c.end('over v6');
    expect((await net.settle(got)).toString()).toBe('over v6');
  });

  it('sends off-link traffic to the gateway an interface names (r, a host, drops it)', async () => {
    const net = new SimNetwork();
    const a = net.host();
    const r = net.host();
    const [, r0] = net.link(a, r, { a: { gateway4: '10.0.0.2' } });
    net.link(r, net.host());
    const before = r.counters.get('ipv4/not-for-us');
    expect(await net.settle(a.ipv4.ping(ip('10.1.0.2'), { timeoutMs: 100 }))).toBeUndefined();
    expect(r.counters.get('ipv4/not-for-us') - before).toBe(1);
    expect(r0.ipv4[0]!.address).toBe(ip('10.0.0.2'));
  });
});

describe('determinism', () => {
  /** A hostile run: lossy, duplicating, reordering, corrupting wire and interface; TCP and pings. */
  async function run(seed: number) {
    const frames = createHash('sha256');
    let count = 0;
    const net = new SimNetwork({
      seed,
      capture: (frame, info) => {
        count++;
        frames.update(`${info.time} ${info.port} ${info.direction} `).update(frame);
      },
    });
    const a = net.host();
    const b = net.host();
    const [, ib] = net.link(a, b, {
      delay: 0.5,
      ipv6: true,
      impair: { loss: 0.03, duplicate: 0.03, reorder: 0.1, corrupt: 0.01, jitter: 0.3 },
      a: { impair: { loss: 0.02 } },
    });
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) ^ (i >> 8);
    const back = await echo(net, a, b, '10.0.0.2', data);
    const pings = [];
    for (let i = 0; i < 5; i++) pings.push(await net.settle(a.ipv6.ping(parseIpv6Addr('2001:db8::2')!)));
    await net.runFor(60_000);
    return {
      intact: back.equals(data),
      frames: frames.digest('hex'),
      count,
      counters: [a.counters.snapshot(), b.counters.snapshot()],
      rtts: pings.map((p) => p?.rttMs),
      now: net.now(),
      // b's end is the wire's impairment wrapper (a's has its own interface impairment around it).
      wire: (ib.link as ImpairedLink).stats.out,
    };
  }

  it('gives the same counters, bytes and times for the same seed, and other bytes for another seed', async () => {
    const first = await run(5);
    const second = await run(5);
    const other = await run(6);
    expect(first.intact).toBe(true);
    expect(first.count).toBeGreaterThan(300);
    // The impairments did act, or equal runs would prove little.
    expect(first.wire.lost).toBeGreaterThan(0);
    expect(first.wire.duplicated).toBeGreaterThan(0);
    expect(first.wire.reordered).toBeGreaterThan(0);
    expect(second).toEqual(first);
    expect(other.intact).toBe(true);
    expect(other.frames).not.toBe(first.frames);
  });

  it('derives host seeds (hence MACs) from the network seed unless given', () => {
    const macs = (seed: number, explicit?: number) => {
      const net = new SimNetwork({ seed });
      const a = net.host(explicit === undefined ? {} : { seed: explicit });
      const b = net.host();
      const [ia, ib] = net.link(a, b);
      return [ia.mac, ib.mac];
    };
    expect(macs(1)).toEqual(macs(1));
    expect(macs(1)[0]).not.toBe(macs(1)[1]);
    expect(macs(2)).not.toEqual(macs(1));
    expect(macs(1, 99)[0]).toBe(macs(2, 99)[0]);
  });
});

describe('hubs, captures and impairments', () => {
  it('joins any number of hosts on a hub, numbered in order, with a bare port that sees every frame', async () => {
    const net = new SimNetwork();
    const hub = net.hub({ subnet4: '192.168.7.0/24', delay: 0.1 });
    const hosts = [net.host(), net.host(), net.host()];
    const ifaces = hosts.map((h) => hub.attach(h, { ipv6Enabled: false }));
    const raw = hub.port('tap');
    let seen = 0;
    raw.onFrame(() => seen++);
    expect(ifaces.map((i) => v4(i)[0])).toEqual(['192.168.7.1/24', '192.168.7.2/24', '192.168.7.3/24']);
    expect(hub.medium.size).toBe(4);
    expect(await net.settle(hosts[2]!.ipv4.ping(ip('192.168.7.1')))).toBeDefined();
    // The reply may reach the bare port after the pinging host: same instant, its own timer.
    await net.runFor(1);
    // ARP request and reply, echo request and reply.
    expect(seen).toBe(4);
  });

  it('captures at the medium: under an interface impairment nothing lost reaches it', async () => {
    const captured: string[] = [];
    const net = new SimNetwork({ capture: (_f, i) => captured.push(`${i.port} ${i.direction}`) });
    const a = net.host({ name: 'a' });
    const b = net.host({ name: 'b' });
    const [ia] = net.link(a, b, {
      a: { ipv6Enabled: false, impair: { loss: 1, direction: 'out' } },
      b: { ipv6Enabled: false },
    });
    expect(await net.settle(a.ipv4.ping(ip('10.0.0.2'), { timeoutMs: 500 }))).toBeUndefined();
    // b's gratuitous ARP crosses the medium; nothing of a's does.
    expect(captured).toContain('b.eth0 out');
    expect(captured).toContain('a.eth0 in');
    expect(captured.filter((c) => c.startsWith('a.eth0 out'))).toEqual([]);
    expect((ia.link as ImpairedLink).stats.out.lost).toBeGreaterThan(0);
    // Without the impairment every frame is seen leaving one port and entering the other.
    captured.length = 0;
    const { net: net2, a: a2 } = twoHosts({
      ipv6Enabled: false,
      capture: (_f, i) => captured.push(`${i.port} ${i.direction}`),
    });
    expect(await net2.settle(a2.ipv4.ping(ip('10.0.0.2')))).toBeDefined();
    await net2.runFor(1);
    const count = (what: string) => captured.filter((c) => c === what).length;
    expect(count('a.eth0 out')).toBeGreaterThanOrEqual(2);
    expect(count('a.eth0 out')).toBe(count('b.eth0 in'));
    expect(count('b.eth0 out')).toBe(count('a.eth0 in'));
  });

  it('applies wire impairments with a seed derived per link unless given', () => {
    const lost = (seed: number | undefined) => {
      const net = new SimNetwork({ seed: 9 });
      const [ia] = net.link(net.host(), net.host(), {
        impair: { loss: 0.5, ...(seed === undefined ? {} : { seed }) },
      });
      for (let i = 0; i < 64; i++) ia.link.send(new Uint8Array(60));
      return (ia.link as ImpairedLink).stats.out.lost;
    };
    expect(lost(undefined)).toBe(lost(undefined));
    expect(lost(1)).toBe(lost(1));
    expect([lost(1), lost(2), lost(3)].some((n) => n !== lost(undefined))).toBe(true);
  });

  it('takes explicit addresses (a bare one gets the segment prefix), none, and rejects bad ones', () => {
    const net = new SimNetwork();
    const [ia, ib] = net.link(net.host(), net.host(), {
      subnet4: '172.16.0.0/16',
      subnet6: 'fd00:1::/48',
      a: { ipv4: ['172.16.9.9', '10.9.0.1/8'], ipv6: 'fd00:1::abc' },
      b: { ipv4: false, ipv6: true },
    });
    expect(v4(ia)).toEqual(['172.16.9.9/16', '10.9.0.1/8']);
    expect(v6(ia)).toEqual(['fd00:1::abc/48']);
    expect(v4(ib)).toEqual([]);
    expect(v6(ib)).toEqual(['fd00:1::2/48']);
    // A segment's defaults hold for every interface that does not say otherwise.
    const hub = net.hub({ ipv4: false, ipv6: true, ipv6Enabled: false });
    const [h1, h2] = [hub.attach(net.host()), hub.attach(net.host(), { ipv4: true, ipv6Enabled: true })];
    expect([v4(h1), v6(h1), v4(h2), v6(h2)]).toEqual([
      [],
      ['2001:db8:1::1/64'],
      ['10.1.0.2/24'],
      ['2001:db8:1::2/64'],
    ]);
    expect(() => net.link(net.host(), net.host(), { a: { ipv4: '10.0.0.300' } })).toThrow(/bad IPv4/);
    expect(() => net.hub({ subnet6: 'nope' })).toThrow(/bad IPv6 subnet/);
    expect(() => net.host({ name: 'h1' })).toThrow(/already named/);
    const h = net.host();
    expect(() => net.link(h, h)).toThrow(/itself/);
  });
});

describe('twoHosts', () => {
  it('gives 10.0.0.1 and 10.0.0.2 by default, without global IPv6 and without running the clock', () => {
    const { net, a, b, ia, ib } = twoHosts();
    expect([v4(ia), v4(ib), v6(ia), v6(ib)]).toEqual([['10.0.0.1/24'], ['10.0.0.2/24'], [], []]);
    expect([net.nameOf(a), net.nameOf(b)]).toEqual(['a', 'b']);
    expect(net.now()).toBe(0);
  });

  it('with IPv6 runs the clock past DAD, so the addresses answer at once', async () => {
    const { net, a } = twoHosts({ ipv6: true, ipv4: false });
    expect(net.now()).toBe(3000);
    const reply = await net.settle(a.ipv6.ping(parseIpv6Addr('2001:db8::2')!));
    expect(reply && ipv6ToString(reply.from)).toBe('2001:db8::2');
  });

  it('passes per-host options (seeds, addresses) over the shared ones', () => {
    const { ia, ib } = twoHosts({ ipv4: false, a: { seed: 4, ipv4: '10.5.0.9/16' }, b: { seed: 4 } });
    expect(v4(ia)).toEqual(['10.5.0.9/16']);
    expect(v4(ib)).toEqual([]);
    // The same seed makes the same MAC (both are their host's first interface).
    expect(ia.mac).toBe(ib.mac);
  });

  it('runs on a real scheduler too, where the virtual-time runners refuse to run', async () => {
    const scheduler = new RealScheduler();
    const { net } = twoHosts({ scheduler, ipv6Enabled: false });
    try {
      expect(net.scheduler).toBe(scheduler);
      expect(() => net.settle(Promise.resolve())).toThrow(/VirtualScheduler/);
      expect(() => twoHosts({ scheduler, ipv6: true })).toThrow(/warmUpMs needs a VirtualScheduler/);
    } finally {
      await net.close();
      scheduler.cancelAll();
    }
  });
});
