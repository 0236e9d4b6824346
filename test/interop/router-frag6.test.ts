/**
 * IPv6 fragments through `oasis router`'s firewall, against Linux: two namespaces reach each other
 * only through the router, whose forward chain drops by policy and accepts ICMPv6 echo requests and
 * UDP to port 5353. `ping -6 -s 3000` (three fragments each way at MTU 1500) is answered, a 3000-byte
 * UDP datagram to 5353 arrives whole while one to 5354 does not: the router reassembled each
 * datagram to judge it and forwarded the original fragments (docs/ROUTER.md "Firewall and NAT").
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canTap, NetNs, uniqueIfName } from '../support/netns.js';
import { startRouter } from '../support/topology.js';

const made: NetNs[] = [];

afterAll(() => {
  for (const ns of made) ns.delete();
});

/** A UDP server on [addr]:port that answers each datagram with its length. */
const LENGTH_SERVER = (addr: string, port: number) =>
  `import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.bind(('${addr}',${port}))\nwhile True:\n  d,a=s.recvfrom(65535)\n  s.sendto(str(len(d)).encode(),a)`;

/** Sends `size` bytes to [addr]:port up to three times; prints the answer or `none`. */
const UDP_CLIENT = (addr: string, port: number, size: number) =>
  `import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.settimeout(1)\nans='none'\nfor i in range(3):\n  s.sendto(b'q'*${size},('${addr}',${port}))\n  try:\n    d,a=s.recvfrom(2048); ans=d.decode(); break\n  except socket.timeout: pass\nprint(ans)`;

describe.skipIf(!canTap)('oasis router: IPv6 fragments through the firewall', () => {
  it('passes fragmented ping6 and UDP the rules accept, and nothing of what they drop', async () => {
    const r = NetNs.create();
    const a = NetNs.create();
    const b = NetNs.create();
    made.push(r, a, b);
    const tapA = uniqueIfName();
    const tapB = uniqueIfName();
    const config = join(tmpdir(), `oasis-frag6-${process.pid}-${tapA}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        firewall: {
          policy: { forward: 'drop' },
          forward: [
            { protocol: 'icmpv6', 'icmp-type': 'echo-request', verdict: 'accept' },
            { protocol: 'udp', dport: 5353, verdict: 'accept' },
          ],
        },
      }),
    );
    const servers: { kill(): void }[] = [];
    let router: Awaited<ReturnType<typeof startRouter>> | undefined;
    let stopped: Awaited<ReturnType<NonNullable<typeof router>['stop']>> | undefined;
    try {
      router = await startRouter(r, [
        '--if',
        `${tapA},ip6=fd70:1::1/64,netns=${a.name},host-ip6=fd70:1::2/64`,
        '--if',
        `${tapB},ip6=fd70:2::1/64,netns=${b.name},host-ip6=fd70:2::2/64`,
        '--config',
        config,
      ]);
      a.run('ip', '-6', 'route', 'add', 'default', 'via', 'fd70:1::1');
      b.run('ip', '-6', 'route', 'add', 'default', 'via', 'fd70:2::1');
      const ping = await a.exec(
        'ping',
        ['-6', '-c', '3', '-i', '0.3', '-W', '2', '-s', '3000', 'fd70:2::2'],
        15_000,
      );
      expect(ping.stdout, ping.stderr).toMatch(/3 received/);
      expect(ping.stdout).toMatch(/3008 bytes from fd70:2::2/);

      servers.push(
        b.spawn('python3', ['-c', LENGTH_SERVER('fd70:2::2', 5353)]),
        b.spawn('python3', ['-c', LENGTH_SERVER('fd70:2::2', 5354)]),
      );
      await new Promise((res) => setTimeout(res, 1000));
      const allowed = await a.exec('python3', ['-c', UDP_CLIENT('fd70:2::2', 5353, 3000)], 10_000);
      expect(allowed.stdout.trim(), allowed.stderr).toBe('3000');
      const dropped = await a.exec('python3', ['-c', UDP_CLIENT('fd70:2::2', 5354, 3000)], 10_000);
      expect(dropped.stdout.trim(), dropped.stderr).toBe('none');
      // Both servers answer from B itself: the silence is the router's.
      const direct = await b.exec('python3', ['-c', UDP_CLIENT('fd70:2::2', 5354, 3000)], 10_000);
      expect(direct.stdout.trim()).toBe('3000');
    } finally {
      for (const s of servers) s.kill();
      rmSync(config, { force: true });
      stopped = await router?.stop();
    }
    expect(stopped?.code).toBe(0);
    const c = stopped!.stats.counters;
    expect(c['router/untracked'] ?? 0).toBe(0);
    // 3 requests + 3 replies of 3 fragments, and the 3000-byte datagram's 3 (or more, if resent).
    expect(c['router/forwarded']).toBeGreaterThanOrEqual(21);
    // The datagram to 5354 was judged whole and dropped once (its fragments are never forwarded).
    expect(c['router/firewall-drop']).toBeGreaterThanOrEqual(1);
    expect(c['router/fragment6-refused'] ?? 0).toBe(0);
    const filter = (
      stopped!.stats as unknown as { filter: { defrag: { v6PeakBytes: number; v6Bytes: number } } }
    ).filter;
    expect(filter.defrag.v6PeakBytes).toBeGreaterThan(3000);
  }, 60_000);
});
