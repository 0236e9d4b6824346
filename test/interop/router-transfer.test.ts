/**
 * TCP and UDP through `oasis router --clamp-mss` between Linux namespaces (test/support/topology.ts):
 * - 20 MB each way between A and B over IPv4 and IPv6 (B's address from SLAAC), SHA-256 checked;
 * - iperf3 3.12 A→B over TCP both ways and over UDP, `--json` parsed and checked;
 * - MSS clamping (first, while the neighbours are fresh): the SYN that reaches C (MTU 1280) carries MSS 1240 (IPv4) or 1220 (IPv6), the one
 *   that reaches B (MTU 1500) keeps A's 1460 or 1440;
 * - on SIGINT Oasis reports its per-interface counters, and `copiedPayloadBytes` is 0: with every
 *   neighbour resolved, no forwarded payload was copied.
 * With OASIS_ROUTER_UNDER_TEST=linux the same tests run against the Linux reference router (clamping
 * by an nftables rule; Oasis-only checks skipped).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTap } from '../support/netns.js';
import {
  capture,
  createTopology,
  type Host,
  ipPackets,
  iperf3Server,
  ping,
  routerUnderTest,
  sendSyn,
  type Topology,
  tcpTransfer,
} from '../support/topology.js';

const oasis = routerUnderTest === 'oasis';
const SIZE = 20_000_000;
/** Per transfer; measured through Oasis on 2 cores: well under 2 s. */
const TRANSFER_MS = 60_000;
/** iperf3 seconds per run: short, CI's time is shared. */
const T = '3';

interface Sum {
  bytes: number;
  bits_per_second: number;
  packets?: number;
  lost_percent?: number;
}
interface Doc {
  start: { test_start: { protocol: string; reverse: number } };
  end: { sum_sent: Sum; sum_received: Sum; sum?: Sum };
  error?: string;
}

describe.skipIf(!canTap)(`router (${routerUnderTest}): TCP and UDP through it, MSS clamping`, () => {
  let topo: Topology;
  let dir: string;
  let file: string;
  let fileSha: string;
  let a: Host;
  let b: Host;
  let c: Host;
  const measured: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oasis-router-tcp-'));
    file = join(dir, 'data');
    const bytes = randomBytes(SIZE);
    writeFileSync(file, bytes);
    fileSha = createHash('sha256').update(bytes).digest('hex');
    topo = await createTopology({ clampMss: true });
    ({ a, b, c } = topo.hosts);
    // Resolve every neighbour first, without a forwarded packet ever waiting for one: each host asks
    // for the router's address itself (RFC 826 and RFC 4861 §7.2.3: the router learns the asker's
    // MAC from the request), then the paths through are tried.
    for (const h of [a, b, c]) {
      for (const target of [h.router, h.router6]) {
        const r = await ping(h.ns, target, ['-c', '1', '-W', '2']);
        if (r.received === 0) throw new Error(`no answer from ${target}: ${r.output}`);
      }
    }
    for (const target of [b.ip, b.ip6, c.ip, c.ip6]) {
      const r = await ping(a.ns, target, ['-c', '2', '-i', '0.2', '-W', '2']);
      if (r.received === 0) throw new Error(`no path to ${target}: ${r.output}`);
    }
  }, 90_000);

  afterAll(async () => {
    if (measured.length > 0) console.log(`router (${routerUnderTest}):\n  ${measured.join('\n  ')}`);
    if (topo?.router && topo.router.child.exitCode === null) await topo.router.stop().catch(() => undefined);
    topo?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('with --clamp-mss, the SYN that reaches C carries MSS 1240 (1220 over IPv6); towards B it keeps 1460', async () => {
    a.ns.run('ip', 'route', 'flush', 'cache');
    a.ns.run('ip', '-6', 'route', 'flush', 'cache');
    const inC = join(dir, 'c.pcap');
    const inB = join(dir, 'b.pcap');
    const capC = await capture(c.ns, c.dev, inC, ['tcp']);
    const capB = await capture(b.ns, b.dev, inB, ['tcp']);
    for (const target of [c.ip, c.ip6, b.ip, b.ip6]) await sendSyn(a.ns, target, 9);
    await capC.stop();
    await capB.stop();
    const mss = (f: string) =>
      ipPackets(f)
        .filter((p) => p.synMss !== undefined && (p.src === a.ip || p.src === a.ip6))
        .map((p) => [p.version, p.synMss]);
    // C's link: 1280 - 20 - 20 and 1280 - 40 - 20 (RFC 9293 §3.7.1, RFC 8200 §8.3).
    expect(mss(inC)).toEqual([
      [4, 1240],
      [6, 1220],
    ]);
    // B's link is as wide as A's: nothing to clamp.
    expect(mss(inB)).toEqual([
      [4, 1460],
      [6, 1440],
    ]);
  });

  it.each([
    ['IPv4', 4],
    ['IPv6', 6],
  ] as const)(
    'moves 20 MB each way between A and B over %s, SHA-256 checked',
    async (_, v) => {
      const [aAddr, bAddr] = v === 4 ? [a.ip, b.ip] : [a.ip6, b.ip6];
      const ab = await tcpTransfer(a.ns, b.ns, bAddr, 5001, file, TRANSFER_MS);
      expect(ab).toMatchObject({ sha: fileSha, length: SIZE });
      const ba = await tcpTransfer(b.ns, a.ns, aAddr, 5002, file, TRANSFER_MS);
      expect(ba).toMatchObject({ sha: fileSha, length: SIZE });
      measured.push(`20 MB IPv${v}: A→B ${ab.seconds.toFixed(2)} s, B→A ${ba.seconds.toFixed(2)} s`);
    },
    2 * TRANSFER_MS + 10_000,
  );

  it.each([
    ['TCP A→B', []],
    ['TCP B→A (-R)', ['-R']],
    ['TCP A→B over IPv6', ['-6']],
    ['UDP A→B at 100 Mbit/s', ['-u', '-b', '100M']],
  ])('iperf3 %s, --json', async (name, args) => {
    const server = await iperf3Server(b.ns, ['-1']);
    try {
      const target = args.includes('-6') ? b.ip6 : b.ip;
      const r = await a.ns.exec('iperf3', ['-c', target, '-t', T, '--json', ...args], 30_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as Doc;
      expect(doc.error).toBeUndefined();
      const udp = args.includes('-u');
      expect(doc.start.test_start.protocol).toBe(udp ? 'UDP' : 'TCP');
      expect(doc.start.test_start.reverse).toBe(args.includes('-R') ? 1 : 0);
      const sent = doc.end.sum_sent;
      const got = doc.end.sum_received;
      expect(got.bits_per_second).toBeGreaterThan(0);
      if (udp) {
        // 100 Mbit/s for 3 s in datagrams of at most 1448 bytes: over 25,000 sent.
        expect(sent.packets).toBeGreaterThan(20_000);
        expect(doc.end.sum?.lost_percent).toBeLessThan(20);
      } else {
        // TCP delivers what was sent, bar what was in flight when the test stopped.
        expect(got.bytes).toBeGreaterThan(0.9 * sent.bytes);
        expect(got.bytes).toBeGreaterThan(1_000_000);
      }
      const loss = udp ? `, loss ${doc.end.sum?.lost_percent?.toFixed(2)} %` : '';
      measured.push(`iperf3 ${name}: ${(got.bits_per_second / 1e6).toFixed(0)} Mbit/s${loss}`);
    } finally {
      if (server.exitCode === null) server.kill('SIGKILL');
    }
  });

  it.skipIf(!oasis)('reports per-interface counters on SIGINT, and copied no forwarded payload', async () => {
    const { code, stats } = await topo.router!.stop();
    expect(code).toBe(0);
    const ia = stats.interfaces[topo.routerDevs.a]!;
    const ib = stats.interfaces[topo.routerDevs.b]!;
    // Two 20 MB transfers each way per version went through A's and B's interfaces.
    for (const s of [ia, ib]) {
      expect(s.bytesIn).toBeGreaterThan(2 * SIZE);
      expect(s.bytesOut).toBeGreaterThan(2 * SIZE);
      expect(s.framesIn).toBeGreaterThan(2 * (SIZE / 1514));
    }
    // Forwarding rewrites headers in place and hands the same buffer to the egress TAP; with every
    // neighbour resolved before the first packet through, nothing had to wait in a queue.
    expect(stats.copiedPayloadBytes).toBe(0);
  });
});
