/**
 * `oasis router` as a NAT gateway and firewall between two Linux namespaces: inside (10.68.1.2)
 * and outside (10.68.9.2), where the outside namespace has no route back to the inside prefix, so
 * only masquerade can make a conversation work. A first slice of the NAT issue's interop list:
 * ping, a 2 MB HTTP download checked by SHA-256 from the inside, a port forward from outside to an
 * inside server, and a port the firewall drops. Then traceroute through the masquerade (ICMP Time
 * Exceeded from beyond translated back, RFC 5508), a DNS-like UDP exchange, and a port the firewall
 * rejects (TCP RST).
 */
import { createHash } from 'node:crypto';
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

describe.skipIf(!canTap)('oasis router --masquerade, --forward, --allow, --policy', () => {
  it('translates inside traffic, forwards a port inwards and drops what the firewall does not allow', async () => {
    const r = NetNs.create();
    const inside = NetNs.create();
    const outside = NetNs.create();
    made.push(r, inside, outside);
    const tapIn = uniqueIfName();
    const tapOut = uniqueIfName();
    const router = await startRouter(r, [
      '--if',
      `${tapIn},ip=10.68.1.1/24,netns=${inside.name},host-ip=10.68.1.2/24`,
      '--if',
      `${tapOut},ip=10.68.9.1/24,netns=${outside.name},host-ip=10.68.9.2/24`,
      '--masquerade',
      `${tapIn},${tapOut}`,
      '--forward',
      `${tapOut},tcp:8080=10.68.1.2:8000`,
      '--allow',
      `${tapIn},tcp:8001,icmp`,
      '--allow',
      `${tapOut},tcp:8080`,
      '--policy',
      `${tapIn},drop`,
      '--policy',
      `${tapOut},drop`,
    ]);
    const servers: { kill(): void }[] = [];
    try {
      inside.run('ip', 'route', 'add', 'default', 'via', '10.68.1.1');
      // The outside namespace has only its connected route: no way back to 10.68.1.0/24.
      expect(inside.run('ping', '-c', '2', '-i', '0.3', '-W', '2', '10.68.9.2')).toMatch(/2 received/);

      const body = 'x'.repeat(2_000_000);
      servers.push(
        outside.spawn('python3', [
          '-c',
          `import http.server\nclass H(http.server.BaseHTTPRequestHandler):\n  def do_GET(s):\n    b=b'x'*2000000\n    s.send_response(200); s.send_header('Content-Length',str(len(b))); s.end_headers(); s.wfile.write(b)\n    s.wfile.flush()\n  def log_message(s,*a): pass\nhttp.server.HTTPServer(('10.68.9.2',8001),H).serve_forever()`,
        ]),
        outside.spawn('python3', ['-m', 'http.server', '8002', '--bind', '10.68.9.2']),
        inside.spawn('python3', ['-m', 'http.server', '8000', '--bind', '10.68.1.2']),
      );
      await new Promise((res) => setTimeout(res, 1500));
      const got = await inside.exec(
        'bash',
        ['-c', 'curl -s -m 10 http://10.68.9.2:8001/ | sha256sum'],
        20_000,
      );
      expect(got.stdout.split(' ')[0]).toBe(createHash('sha256').update(body).digest('hex'));
      // From outside, the router's address and port 8080 reach the inside server.
      const fwd = await outside.exec('curl', [
        '-s',
        '-m',
        '5',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        'http://10.68.9.1:8080/',
      ]);
      expect(fwd.stdout).toBe('200');
      // Port 8002 is not allowed from the inside: dropped, so curl times out.
      const dropped = await inside.exec('curl', ['-s', '-m', '2', 'http://10.68.9.2:8002/']);
      expect(dropped.code).toBe(28);
    } finally {
      for (const s of servers) s.kill();
      const { code, stats } = await router.stop();
      expect(code).toBe(0);
      expect(stats.counters['router/firewall-drop']).toBeGreaterThan(0);
      // With offloads (the default) a 2 MB response crosses as some 40 super-frames, not 1,400 frames.
      expect(stats.counters['router/forwarded']).toBeGreaterThan(60);
    }
  }, 60_000);

  it('shows the hops beyond in traceroute, carries a UDP exchange and resets a rejected port', async () => {
    const r = NetNs.create();
    const inside = NetNs.create();
    const outside = NetNs.create();
    made.push(r, inside, outside);
    const tapIn = uniqueIfName();
    const tapOut = uniqueIfName();
    const config = join(tmpdir(), `oasis-nat-${process.pid}-${tapIn}.json`);
    // The forward chain rejects new connections to port 8003 and accepts the rest (policy accept).
    writeFileSync(
      config,
      JSON.stringify({
        firewall: { forward: [{ protocol: 'tcp', dport: 8003, verdict: 'reject', comment: 'test' }] },
      }),
    );
    const servers: { kill(): void }[] = [];
    let router: Awaited<ReturnType<typeof startRouter>> | undefined;
    let stopped: Awaited<ReturnType<NonNullable<typeof router>['stop']>> | undefined;
    try {
      router = await startRouter(r, [
        '--if',
        `${tapIn},ip=10.68.1.1/24,netns=${inside.name},host-ip=10.68.1.2/24`,
        '--if',
        `${tapOut},ip=10.68.9.1/24,netns=${outside.name},host-ip=10.68.9.2/24`,
        '--masquerade',
        `${tapIn},${tapOut}`,
        '--route',
        '10.68.99.0/24,via=10.68.9.2',
        '--config',
        config,
      ]);
      inside.run('ip', 'route', 'add', 'default', 'via', '10.68.1.1');
      // Beyond the outside host: 10.68.99.0/24 leads into one end of a veth pair of its own, so
      // the outside host forwards there and answers a probe arriving with TTL 1 with Time Exceeded.
      const [beyond, peer] = [uniqueIfName(), uniqueIfName()];
      outside.run('sysctl', '-qw', 'net.ipv4.ip_forward=1');
      outside.run('ip', 'link', 'add', beyond, 'type', 'veth', 'peer', 'name', peer);
      outside.run('ip', 'link', 'set', beyond, 'up');
      outside.run('ip', 'link', 'set', peer, 'up');
      outside.run('ip', 'route', 'add', '10.68.99.0/24', 'dev', beyond);
      expect(inside.run('ping', '-c', '1', '-W', '2', '10.68.9.2')).toMatch(/1 received/);

      // UDP probes (traceroute's default), two hops: the router answers TTL 1 itself; the outside
      // host's Time Exceeded for TTL 2 quotes the masqueraded probe and only reaches traceroute in
      // the inside namespace if Oasis translated the quoted header back (RFC 5508 §4).
      const tr = await inside.exec(
        'traceroute',
        ['-n', '-m', '2', '-q', '3', '-w', '2', '10.68.99.7'],
        20_000,
      );
      const hops = tr.stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l));
      expect(hops, tr.stdout + tr.stderr).toHaveLength(2);
      expect(hops[0]).toMatch(/^\s*1\s+10\.68\.1\.1\s/);
      expect(hops[1]).toMatch(/^\s*2\s+10\.68\.9\.2\s/);

      // A DNS-like exchange: one datagram out, one back; the server sees the router's address.
      const udpServer = outside.spawn('python3', [
        '-c',
        "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('10.68.9.2',5353))\nwhile True:\n  d,a=s.recvfrom(2048)\n  s.sendto(d[::-1]+b' from '+a[0].encode(),a)",
      ]);
      servers.push(udpServer, outside.spawn('python3', ['-m', 'http.server', '8003', '--bind', '10.68.9.2']));
      await new Promise((res) => setTimeout(res, 1000));
      const udp = await inside.exec(
        'python3',
        [
          '-c',
          "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(2)\nfor i in range(3):\n  s.sendto(b'query-1234',('10.68.9.2',5353))\n  try:\n    d,a=s.recvfrom(2048); print(d.decode(), a[0], a[1]); break\n  except socket.timeout: pass",
        ],
        15_000,
      );
      expect(udp.stdout.trim(), udp.stderr).toBe('4321-yreuq from 10.68.9.1 10.68.9.2 5353');

      // The reject verdict answers the SYN with a RST: curl says "Connection refused" (exit 7)
      // at once, where a drop would time out (exit 28).
      const rejected = await inside.exec('curl', ['-sS', '-m', '5', 'http://10.68.9.2:8003/'], 10_000);
      expect(rejected.code).toBe(7);
      expect(rejected.stderr).toMatch(/Connection refused|Couldn't connect/);
      // The same server is reachable from the outside itself: the refusal is the router's.
      const direct = await outside.exec('curl', [
        '-s',
        '-m',
        '5',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        'http://10.68.9.2:8003/',
      ]);
      expect(direct.stdout).toBe('200');
    } finally {
      for (const s of servers) s.kill();
      rmSync(config, { force: true });
      stopped = await router?.stop();
    }
    expect(stopped?.code).toBe(0);
    expect(stopped?.stats.counters['router/forwarded']).toBeGreaterThan(0);
  }, 60_000);
});
