/**
 * Oasis on an existing interface through AF_PACKET rings (`--packet`, `kind=packet`), against Linux
 * in private network namespaces (root only; run `npm run build` first: the CLI runs from dist/):
 * - `oasis up --packet VO` in namespace O, VO a veth end whose peer VK is the kernel's in namespace
 *   K (offloads off on VK, as docs/PACKET.md asks): ping and ping6, a 20 MB `/bytes` download with
 *   curl checked by SHA-256, iperf3 both ways (short runs); the interface given back on exit;
 * - `oasis up --packet` refused while the kernel has an address on the interface;
 * - `oasis router` with two kind=packet interfaces (one `ring=v2`) in namespace R forwarding TCP
 *   (10 MB each way, SHA-256 checked) between hosts in namespaces A and B;
 * - the same picture with `--masquerade` (the NAT benchmark's setting on veths): B has no route back
 *   to A's prefix, so only the translation carries ping and 10 MB of TCP (SHA-256 checked).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTap, NetNs, uniqueIfName } from '../support/netns.js';
import { OASIS_BIN, type OasisHost, startOasis } from '../support/oasis.js';
import { createPacketTopology, ping, startRouter, tcpTransfer } from '../support/topology.js';

const OASIS4 = '10.197.0.2';
const KERNEL4 = '10.197.0.1';
const OASIS6 = 'fd97::2';
const KERNEL6 = 'fd97::1';

/** Offloads off on a kernel end: it sends wire frames with full checksums (docs/PACKET.md). */
function offloadsOff(ns: NetNs, dev: string): void {
  ns.run('ethtool', '-K', dev, 'tso', 'off', 'gso', 'off', 'tx', 'off');
}

/** A veth pair between two namespaces; `b`'s end gets `addrs` and both come up (`a`'s stays down). */
function vethPair(a: NetNs, b: NetNs, addrs: readonly string[]): { ours: string; theirs: string } {
  const ours = uniqueIfName();
  const theirs = uniqueIfName();
  a.run('ip', 'link', 'add', ours, 'type', 'veth', 'peer', 'name', theirs, 'netns', b.name);
  offloadsOff(b, theirs);
  for (const addr of addrs)
    b.run(
      'ip',
      ...(addr.includes(':') ? ['-6'] : []),
      'addr',
      'add',
      addr,
      'dev',
      theirs,
      ...(addr.includes(':') ? ['nodad'] : []),
    );
  b.run('ip', 'link', 'set', theirs, 'up');
  return { ours, theirs };
}

interface Sum {
  bytes: number;
  bits_per_second: number;
}

describe.skipIf(!canTap)('oasis up --packet: a host on a veth end through AF_PACKET rings', () => {
  let o: NetNs;
  let k: NetNs;
  let dev: { ours: string; theirs: string };
  let host: OasisHost | undefined;
  let dir: string;
  const measured: string[] = [];

  beforeAll(async () => {
    o = NetNs.create();
    k = NetNs.create();
    dir = mkdtempSync(join(tmpdir(), 'oasis-packet-'));
    dev = vethPair(o, k, [`${KERNEL4}/24`, `${KERNEL6}/64`]);
    host = await startOasis(
      o,
      [
        'up',
        '--packet',
        dev.ours,
        '--ip',
        `${OASIS4}/24`,
        '--ip6',
        `${OASIS6}/64`,
        '--http',
        '80',
        '--iperf3',
      ],
      20_000,
    );
  }, 60_000);

  afterAll(async () => {
    if (host !== undefined && host.child.exitCode === null) host.child.kill('SIGKILL');
    o?.delete();
    k?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (measured.length > 0) console.log(`AF_PACKET interop:\n  ${measured.join('\n  ')}`);
  });

  it('says ready on the packet interface, which it has taken over', () => {
    expect(host!.ready.packet).toBe(dev.ours);
    const [info] = JSON.parse(o.run('ip', '-d', '-j', 'link', 'show', 'dev', dev.ours)) as {
      flags: string[];
      promiscuity: number;
    }[];
    expect(info!.flags).toEqual(expect.arrayContaining(['UP', 'NOARP']));
    expect(info!.promiscuity).toBe(1);
    expect(o.run('cat', `/proc/sys/net/ipv6/conf/${dev.ours}/disable_ipv6`).trim()).toBe('1');
  });

  it('answers ping and ping6 from the kernel', async () => {
    const r4 = await ping(k, OASIS4, ['-c', '3', '-i', '0.2', '-W', '2']);
    expect(r4.received).toBe(3);
    const r6 = await ping(k, OASIS6, ['-c', '3', '-i', '0.2', '-W', '2']);
    expect(r6.received).toBe(3);
    // Fragmented both ways (reassembled by Oasis, its reply fragmented).
    const big = await ping(k, OASIS4, ['-c', '2', '-s', '4000', '-W', '2']);
    expect(big.received).toBe(2);
  });

  it('serves 20 MB over HTTP to curl, SHA-256 checked', async () => {
    const body = join(dir, 'body');
    const t0 = performance.now();
    const r = await k.exec(
      'curl',
      ['-sS', '--max-time', '60', '-D', '-', '-o', body, `http://${OASIS4}/bytes/20000000`],
      70_000,
    );
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(0);
    const want = /x-sha256: ([0-9a-f]{64})/i.exec(r.stdout)?.[1];
    const data = readFileSync(body);
    expect(data.length).toBe(20_000_000);
    expect(createHash('sha256').update(data).digest('hex')).toBe(want);
    measured.push(`curl 20 MB: ${((8 * 20e6) / seconds / 1e9).toFixed(2)} Gbit/s`);
  });

  it.each([
    ['kernel → Oasis', []],
    ['Oasis → kernel (-R)', ['-R']],
  ])('carries iperf3 %s', async (name, args) => {
    const r = await k.exec('iperf3', ['-c', OASIS4, '-t', '2', '--json', ...args], 30_000);
    const doc = JSON.parse(r.stdout) as { end: { sum_sent: Sum; sum_received: Sum }; error?: string };
    expect(doc.error).toBeUndefined();
    expect(doc.end.sum_received.bytes).toBeGreaterThan(0.9 * doc.end.sum_sent.bytes);
    expect(doc.end.sum_received.bits_per_second).toBeGreaterThan(10e6);
    measured.push(`iperf3 ${name}: ${(doc.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s`);
  });

  it('prints its ring counters on SIGINT and gives the interface back as it was', async () => {
    const { code } = await host!.stop();
    expect(code).toBe(0);
    const out = host!.output().stdout;
    const stats = JSON.parse(out.slice(out.indexOf('{', out.indexOf('ready')))) as {
      link: { framesIn: number; framesOut: number; drops: Record<string, number> };
      packet: Record<string, number>;
    };
    expect(stats.link.framesIn).toBeGreaterThan(10_000);
    expect(stats.link.framesOut).toBeGreaterThan(10_000);
    expect(stats.link.drops['io-error']).toBe(0);
    expect(stats.packet.superFrames).toBe(0);
    expect(stats.packet.truncated).toBe(0);
    expect(stats.packet.blocks).toBeGreaterThan(0);
    measured.push(`ring: ${JSON.stringify(stats.packet)}`);
    const [info] = JSON.parse(o.run('ip', '-d', '-j', 'link', 'show', 'dev', dev.ours)) as {
      flags: string[];
      promiscuity: number;
    }[];
    expect(info!.flags).not.toContain('NOARP');
    expect(info!.flags).not.toContain('UP');
    expect(info!.promiscuity).toBe(0);
    expect(o.run('cat', `/proc/sys/net/ipv6/conf/${dev.ours}/disable_ipv6`).trim()).toBe('0');
    host = undefined;
  });

  it('refuses an interface on which the kernel has an address, saying so', async () => {
    o.run('ip', 'addr', 'add', '10.197.9.1/24', 'dev', dev.ours);
    try {
      const r = await o.exec(
        process.execPath,
        [OASIS_BIN, 'up', '--packet', dev.ours, '--ip', `${OASIS4}/24`],
        20_000,
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/kernel has addresses on .*10\.197\.9\.1\/24/);
      expect(r.stdout).not.toContain('ready');
    } finally {
      o.run('ip', 'addr', 'flush', 'dev', dev.ours);
    }
  });
});

describe.skipIf(!canTap)('oasis router with two kind=packet interfaces', () => {
  let r: NetNs;
  let a: NetNs;
  let b: NetNs;
  let dir: string;

  beforeAll(() => {
    r = NetNs.create();
    a = NetNs.create();
    b = NetNs.create();
    dir = mkdtempSync(join(tmpdir(), 'oasis-packet-router-'));
  });

  afterAll(() => {
    for (const ns of [r, a, b]) ns?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('forwards TCP both ways between two namespaces, SHA-256 checked, and reports its rings', async () => {
    const ra = vethPair(r, a, ['10.196.1.2/24']);
    const rb = vethPair(r, b, ['10.196.2.2/24']);
    a.run('ip', 'route', 'add', 'default', 'via', '10.196.1.1');
    b.run('ip', 'route', 'add', 'default', 'via', '10.196.2.1');
    const router = await startRouter(r, [
      '--if',
      `${ra.ours},kind=packet,ip=10.196.1.1/24`,
      '--if',
      // One TPACKET_V3 and one TPACKET_V2 interface: a frame lent from either ring to the other.
      `${rb.ours},kind=packet,ring=v2,ip=10.196.2.1/24`,
    ]);
    try {
      expect(router.ready[ra.ours]).toBe('10.196.1.1/24');
      for (const [ns, target] of [
        [a, '10.196.1.1'],
        [b, '10.196.2.1'],
        [a, '10.196.2.2'],
      ] as const) {
        const p = await ping(ns, target, ['-c', '2', '-i', '0.2', '-W', '2']);
        expect(p.received, `${target}: ${p.output}`).toBeGreaterThan(0);
      }
      const file = join(dir, 'data');
      const bytes = randomBytes(10_000_000);
      writeFileSync(file, bytes);
      const sha = createHash('sha256').update(bytes).digest('hex');
      const there = await tcpTransfer(a, b, '10.196.2.2', 5001, file);
      expect(there).toMatchObject({ sha, length: bytes.length });
      const back = await tcpTransfer(b, a, '10.196.1.2', 5002, file);
      expect(back).toMatchObject({ sha, length: bytes.length });
    } finally {
      const { code, stats } = await router.stop();
      expect(code).toBe(0);
      const s = stats as unknown as {
        counters: Record<string, number>;
        packet: Record<string, Record<string, number>>;
      };
      expect(s.counters['router/forwarded'] ?? 0).toBeGreaterThan(10_000);
      expect(Object.keys(s.packet).sort()).toEqual([ra.ours, rb.ours].sort());
      for (const c of Object.values(s.packet)) {
        expect(c.superFrames).toBe(0);
        // Where there is more than one CPU, bursts went out through the transmit thread.
        if (availableParallelism() > 1) expect(c.txThreadKicks).toBeGreaterThan(0);
      }
    }
  });
});

describe.skipIf(!canTap)('oasis router --masquerade on two kind=packet interfaces', () => {
  it("carries ping and 10 MB of TCP from A to B, which has no route back to A's prefix", async () => {
    const topo = await createPacketTopology({
      ring: 'v2',
      extraArgs: (devs) => ['--masquerade', `${devs.a},${devs.b}`],
    });
    const dir = mkdtempSync(join(tmpdir(), 'oasis-packet-nat-'));
    try {
      const { a, b } = topo.hosts;
      b.ns.run('ip', 'route', 'del', 'default');
      const p = await ping(a.ns, b.ip, ['-c', '2', '-i', '0.2', '-W', '2']);
      expect(p.received, p.output).toBeGreaterThan(0);
      const file = join(dir, 'data');
      const bytes = randomBytes(10_000_000);
      writeFileSync(file, bytes);
      const sha = createHash('sha256').update(bytes).digest('hex');
      expect(await tcpTransfer(a.ns, b.ns, b.ip, 5003, file)).toMatchObject({ sha, length: bytes.length });
      const { code, stats } = await topo.router!.stop();
      expect(code).toBe(0);
      const nat = (stats as unknown as { filter: { nat: { translated: number; mappingsCreated: number } } })
        .filter.nat;
      // Every data segment (and every ACK back) was rewritten; a mapping for the ping, one for the TCP.
      expect(nat.translated).toBeGreaterThan(bytes.length / 1500);
      expect(nat.mappingsCreated).toBeGreaterThanOrEqual(2);
    } finally {
      topo.delete();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
