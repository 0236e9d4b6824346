/**
 * `oasis router` as a NAT gateway and firewall between two Linux namespaces: inside (10.68.1.2)
 * and outside (10.68.9.2), where the outside namespace has no route back to the inside prefix, so
 * only masquerade can make a conversation work. A first slice of the NAT issue's interop list:
 * ping, a 2 MB HTTP download checked by SHA-256 from the inside, a port forward from outside to an
 * inside server, and a port the firewall drops.
 */
import { createHash } from 'node:crypto';
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
      expect(stats.counters['router/forwarded']).toBeGreaterThan(1000);
    }
  }, 60_000);
});
