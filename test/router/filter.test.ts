/**
 * The router with connection tracking, the firewall and NAT on (`Router.filterWith`), in simulation:
 * inside host A — router — outside host B, where B has no route back to the inside prefix, so only
 * NAT can make a conversation work.
 */
import { describe, expect, it } from 'vitest';
import { writeMac } from '../../src/addr.js';
import { setU16, u16 } from '../../src/bytes.js';
import { ETHERTYPE_IPV4 } from '../../src/ethernet/wire.js';
import { IPPROTO_TCP } from '../../src/ipproto.js';
import type { RouterFilterOptions } from '../../src/router/driver.js';
import { Stack } from '../../src/stack/stack.js';
import { firewallFromFlags, parseFirewallConfig } from '../../src/router/firewall-config.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { runFor, settle } from '../../src/testing/time.js';
import { frameOf, ipv4Packet, MAC_A } from './forward-arb.js';
import { ip, natLine as natLineWith, natLinks } from './nat-line.js';

const SECRET = new Uint8Array(16).fill(7);

function natLine(filter: Omit<RouterFilterOptions, 'secret'>) {
  return natLineWith(filter, SECRET);
}

function collect(s: TcpSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

describe('a NAT router', () => {
  it('masquerades ping and TCP from the inside behind its outside address', async () => {
    const { scheduler, a, b, router } = natLine({ masquerade: [{ inside: 'in', outside: 'out' }] });
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.9.0.2')));
    expect(reply?.from).toBe(ip('10.9.0.2'));
    const peers: string[] = [];
    b.tcp
      .createServer((s) => {
        peers.push(s.remoteAddress ?? '');
        s.end('hello through NAT');
      })
      .listen(80);
    const got = await settle(scheduler, collect(a.tcp.connect({ host: '10.9.0.2', port: 80 })));
    expect(got.toString()).toBe('hello through NAT');
    expect(peers).toEqual(['10.9.0.1']);
    expect(router.stack.counters.get('router/forwarded')).toBeGreaterThan(4);
  });

  it('reassembles fragments before tracking and translating, and fragments again on the way out', async () => {
    const { scheduler, a, b, router } = natLine({ masquerade: [{ inside: 'in', outside: 'out' }] });
    const reply = await settle(scheduler, a.ipv4.ping(ip('10.9.0.2'), { size: 4000 }));
    expect(reply?.bytes).toBe(4000);
    expect(b.counters.get('ipv4/reassembled')).toBe(1);
    expect(router.stack.counters.get('router/untracked')).toBe(0);
    expect(router.stack.counters.get('router/fragmented')).toBe(2);
  });

  it('without NAT the outside host cannot answer', async () => {
    const { scheduler, a } = natLine({});
    expect(await settle(scheduler, a.ipv4.ping(ip('10.9.0.2'), { timeoutMs: 500 }))).toBeUndefined();
  });

  it('forwards a port of its outside address to an inside server', async () => {
    const { scheduler, a, b } = natLine({
      masquerade: [{ inside: 'in', outside: 'out' }],
      forwards: [{ outside: 'out', protocol: 'tcp', port: 8080, to: ip('10.1.0.2'), toPort: 80 }],
    });
    a.tcp.createServer((s) => s.end(`inside server, peer ${s.remoteAddress}`)).listen(80);
    const got = await settle(scheduler, collect(b.tcp.connect({ host: '10.9.0.1', port: 8080 })));
    expect(got.toString()).toBe('inside server, peer 10.9.0.2');
  });

  it('passes what --allow allows and drops the rest of what --policy drops', async () => {
    const flags = firewallFromFlags(['in,tcp:22'], ['in,drop'], ['in', 'out']);
    if (!flags.ok) throw new Error(flags.error);
    const { scheduler, a, b, router } = natLine({
      masquerade: [{ inside: 'in', outside: 'out' }],
      firewall: flags.value,
    });
    b.tcp.createServer((s) => s.end('ssh')).listen(22);
    b.tcp.createServer((s) => s.end('web')).listen(80);
    expect((await settle(scheduler, collect(a.tcp.connect({ host: '10.9.0.2', port: 22 })))).toString()).toBe(
      'ssh',
    );
    const blocked = a.tcp.connect({ host: '10.9.0.2', port: 80 });
    const outcome = await settle(
      scheduler,
      new Promise<string>((resolve) => {
        blocked.on('connect', () => resolve('connected'));
        blocked.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      }),
      { limitMs: 10_000 },
    ).catch(() => 'still waiting');
    expect(outcome).toBe('still waiting');
    expect(router.stack.counters.get('router/firewall-drop')).toBeGreaterThan(0);
    const stats = router.filterStats() as { firewall: { forward: unknown } };
    expect(JSON.stringify(stats.firewall)).toContain('dport 22');
  });

  it('rejects with a reset (connection refused) and with ICMP administratively prohibited', async () => {
    const config = parseFirewallConfig({
      forward: [
        { protocol: 'tcp', dport: 80, verdict: 'reject' },
        { protocol: 'icmp', 'icmp-type': 'echo-request', verdict: 'reject' },
      ],
    });
    if (!config.ok) throw new Error(config.error);
    const { scheduler, a, b } = natLine({
      masquerade: [{ inside: 'in', outside: 'out' }],
      firewall: config.value,
    });
    b.tcp.createServer((s) => s.end('web')).listen(80);
    const socket = a.tcp.connect({ host: '10.9.0.2', port: 80 });
    const err = await settle(
      scheduler,
      new Promise<NodeJS.ErrnoException>((resolve) => socket.on('error', resolve)),
    );
    expect(err.code).toBe('ECONNREFUSED');
    expect(await settle(scheduler, a.ipv4.ping(ip('10.9.0.2'), { timeoutMs: 500 }))).toBeUndefined();
    expect(a.counters.get('icmpv4/in-dest-unreachable')).toBe(1);
  });
});

/**
 * RFC 1858 §3 (tiny fragments) and §4 (overlapping fragments), RFC 3128: a rule judges the
 * reassembled packet (Linux's defrag before conntrack), and what leaves is that packet, so neither
 * trick gets a forbidden port past the firewall. Raw fragments go in at the inside; B's link
 * records what it receives.
 */
describe('a NAT router against fragments crafted to evade its rules', () => {
  const SPORT = 40000;

  function rawLine() {
    const flags = firewallFromFlags(['in,tcp:80'], ['in,drop'], ['in', 'out']);
    if (!flags.ok) throw new Error(flags.error);
    const { scheduler, aEnd, bEnd, router } = natLinks(
      { masquerade: [{ inside: 'in', outside: 'out' }], firewall: flags.value },
      SECRET,
    );
    const inside = router.interfaces[0]!;
    const b = new Stack({ scheduler, seed: 2 });
    b.addInterface({ link: bEnd, ipv4: [{ address: ip('10.9.0.2'), prefixLen: 24 }], ipv6Enabled: false });
    // The destination ports of the TCP packets (or first fragments) B's link delivers.
    const ports: number[] = [];
    bEnd.capture = (frame, direction) => {
      if (direction !== 'in' || u16(frame, 12) !== ETHERTYPE_IPV4 || frame[23] !== IPPROTO_TCP) return;
      if ((u16(frame, 20) & 0x1fff) === 0) ports.push(u16(frame, 14 + (frame[14]! & 0x0f) * 4 + 2));
    };
    aEnd.onFrame(() => {});
    const send = (fragOffset: number, more: boolean, data: Uint8Array): void => {
      const packet = ipv4Packet({
        src: ip('10.1.0.2'),
        dst: ip('10.9.0.2'),
        protocol: IPPROTO_TCP,
        ident: 7,
        mf: more,
        fragOffset,
        payload: data,
      });
      const frame = frameOf(packet, ETHERTYPE_IPV4);
      writeMac(frame, 0, inside.mac);
      writeMac(frame, 6, MAC_A);
      aEnd.send(frame);
    };
    return { scheduler, router, ports, send };
  }

  /** A 20-byte TCP SYN header to `dport` (its checksum is not what is at stake here). */
  function syn(dport: number): Uint8Array {
    const t = new Uint8Array(20);
    setU16(t, 0, SPORT);
    setU16(t, 2, dport);
    t[12] = 5 << 4;
    t[13] = 0x02;
    setU16(t, 14, 65535);
    return t;
  }

  it('forwards a fragmented SYN to the allowed port (the control: fragments do get through)', async () => {
    const { scheduler, ports, send } = rawLine();
    const s = syn(80);
    send(0, true, s.subarray(0, 8));
    send(8, false, s.subarray(8));
    await runFor(scheduler, 1000);
    expect(ports).toContain(80);
  });

  it('drops a tiny first fragment that leaves the forbidden port to be judged alone (RFC 1858 §3)', async () => {
    const { scheduler, router, ports, send } = rawLine();
    const s = syn(23);
    send(0, true, s.subarray(0, 8));
    send(8, false, s.subarray(8));
    await runFor(scheduler, 1000);
    expect(ports).toEqual([]);
    expect(router.stack.counters.get('router/firewall-drop')).toBeGreaterThan(0);
  });

  it('never lets an overlapping fragment turn an allowed port into a forbidden one (RFC 1858 §4)', async () => {
    const { scheduler, router, ports, send } = rawLine();
    // The first fragment says port 80; a second one at offset 0 (overlapping it) says port 23.
    send(0, true, syn(80).subarray(0, 16));
    send(0, false, syn(23));
    await runFor(scheduler, 1000);
    // Whichever bytes the reassembly keeps, the rule judged them: port 23 never reaches B (here the
    // later fragment won, and the firewall dropped the whole).
    expect(ports.filter((p) => p !== 80)).toEqual([]);
    expect(router.stack.counters.get('router/firewall-drop') ?? 0).toBe(ports.length === 0 ? 1 : 0);
  });
});
