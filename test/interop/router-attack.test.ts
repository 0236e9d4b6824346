/**
 * `oasis router` as a NAT gateway under attack from outside, against Linux tools: inside (10.72.1.2)
 * behind a masquerade on the outside address 10.72.9.1, two port forwards (tcp 8080 → inside 8000,
 * tcp 2222 → inside 22), a drop policy on the outside interface, and a conntrack table bounded at
 * 2,000 flows (`--conntrack-max`).
 * - `nmap -sS` from the outside namespace finds exactly the forwarded ports open, every other
 *   scanned port filtered (dropped: no RST, no ICMP).
 * - A SYN flood against the forwarded port 8080 from random sources, every one inside 198.18.0.0/15
 *   (router-packets.py --syn-flood: hping3's --rand-source would draw from every address), for 5 s:
 *   the table stays within its bound, the router's RSS stays bounded, and an established
 *   inside → outside download keeps going through it. The router routes 198.18.0.0/15 back to the
 *   outside namespace, which forwards nothing and has no other interface, so no reply to a spoofed
 *   source leaves the namespaces; the test checks those facts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTap, NetNs, uniqueIfName } from '../support/netns.js';
import { type OasisRouter, startRouter } from '../support/topology.js';

const PACKETS_PY = join(import.meta.dirname, 'router-packets.py');
const CT_MAX = 2000;
const made: NetNs[] = [];
let r: NetNs;
let inside: NetNs;
let outside: NetNs;
let tapIn: string;
let tapOut: string;
let router: OasisRouter | undefined;
const servers: { kill(): void }[] = [];

/** The router process's resident set in MB (`ip netns exec` execs node in place: its pid is node's). */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

/** Every `--stats-interval` line printed so far, parsed. */
function statsLines(
  stdout: string,
): { filter?: { conntrack: { entries: number; counters: { evicted: number } } } }[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{"counters"'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
}

/** The interfaces of a namespace, by name. */
function links(ns: NetNs): string[] {
  return (JSON.parse(ns.run('ip', '-j', 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname).sort();
}

describe.skipIf(!canTap)('oasis router under attack: nmap -sS and a SYN flood', () => {
  beforeAll(async () => {
    r = NetNs.create();
    inside = NetNs.create();
    outside = NetNs.create();
    made.push(r, inside, outside);
    tapIn = uniqueIfName();
    tapOut = uniqueIfName();
    router = await startRouter(r, [
      '--if',
      `${tapIn},ip=10.72.1.1/24,netns=${inside.name},host-ip=10.72.1.2/24`,
      '--if',
      `${tapOut},ip=10.72.9.1/24,netns=${outside.name},host-ip=10.72.9.2/24`,
      '--masquerade',
      `${tapIn},${tapOut}`,
      '--forward',
      `${tapOut},tcp:8080=10.72.1.2:8000`,
      '--forward',
      `${tapOut},tcp:2222=10.72.1.2:22`,
      '--allow',
      `${tapIn},tcp,udp,icmp`,
      '--allow',
      `${tapOut},tcp:8080,tcp:2222`,
      '--policy',
      `${tapOut},drop`,
      // Replies to the flood's spoofed sources go back to the outside namespace, and die there.
      '--route',
      '198.18.0.0/15,via=10.72.9.2',
      '--conntrack-max',
      String(CT_MAX),
      '--stats-interval',
      '0.5',
    ]);
    inside.run('ip', 'route', 'add', 'default', 'via', '10.72.1.1');
    // The outside namespace: its connected route, and 198.18.0.0/15 towards the router only.
    outside.run('ip', 'route', 'add', '198.18.0.0/15', 'via', '10.72.9.1');
    servers.push(
      inside.spawn('python3', ['-m', 'http.server', '8000', '--bind', '10.72.1.2']),
      inside.spawn('python3', ['-m', 'http.server', '22', '--bind', '10.72.1.2']),
      // A slow download: 100 chunks of 1,000 bytes, one every 100 ms.
      outside.spawn('python3', [
        '-c',
        `import http.server, time\nclass H(http.server.BaseHTTPRequestHandler):\n  def do_GET(s):\n    s.send_response(200); s.send_header('Content-Length','100000'); s.end_headers()\n    for i in range(100):\n      s.wfile.write(b'y'*1000); s.wfile.flush(); time.sleep(0.1)\n  def log_message(s,*a): pass\nhttp.server.HTTPServer(('10.72.9.2',8001),H).serve_forever()`,
      ]),
    );
    await new Promise((res) => setTimeout(res, 1500));
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) s.kill();
    try {
      const stopped = await router?.stop();
      expect(stopped?.code).toBe(0);
    } finally {
      for (const ns of made) ns.delete();
    }
  }, 30_000);

  it('nmap -sS finds only the forwarded ports open, every other port filtered', async () => {
    const scan = await outside.exec(
      'nmap',
      [
        '-sS',
        '-Pn',
        '-n',
        '-T4',
        '--max-retries',
        '1',
        '-p',
        '1-1024,2222,8000,8080',
        '-oG',
        '-',
        '10.72.9.1',
      ],
      120_000,
    );
    expect(scan.code, scan.stderr).toBe(0);
    const ports = /Ports: ([^\t\n]*)/.exec(scan.stdout)?.[1] ?? '';
    const open = ports
      .split(', ')
      .filter((p) => p.includes('/open/'))
      .map((p) => Number(p.split('/')[0]));
    expect(open, scan.stdout).toEqual([2222, 8080]);
    // Nothing closed (no RST leaked), the remaining 1,025 ports filtered.
    expect(ports).not.toMatch(/\/closed\//);
    expect(scan.stdout).toMatch(/Ignored State: filtered \(1025\)/);
  }, 150_000);

  it('keeps the table bounded, RSS bounded and an established connection going through a SYN flood', async () => {
    const rt = router!;
    const rssBefore = rssMb(rt.pid);
    // The download starts first, so its flow is established (and assured) before the flood.
    const download = inside.exec('bash', ['-c', 'curl -s -m 40 http://10.72.9.2:8001/ | wc -c'], 45_000);
    await new Promise((res) => setTimeout(res, 1500));
    const rxBefore = outside.linkStats(tapOut).rxPackets;
    const flood = outside.exec(
      'python3',
      [PACKETS_PY, '--syn-flood', '10.72.9.1', '8080', '5', '20000'],
      30_000,
    );
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssMb(rt.pid));
    }, 200);
    const sent = await flood;
    clearInterval(sampler);
    const got = await download;
    const rssAfter = rssMb(rt.pid);
    const rxAfter = outside.linkStats(tapOut).rxPackets;
    const lines = statsLines(rt.output().stdout);
    const entries = lines.map((l) => l.filter?.conntrack.entries ?? 0);
    const evicted = lines.at(-1)?.filter?.conntrack.counters.evicted ?? 0;
    console.log(
      `SYN flood: ${sent.stdout.trim()}; conntrack entries max ${Math.max(...entries)} (bound ${CT_MAX}), ` +
        `evicted ${evicted}; RSS before ${rssBefore.toFixed(1)} MB, peak ${rssPeak.toFixed(1)} MB, after ${rssAfter.toFixed(1)} MB; ` +
        `frames into the outside namespace ${rxAfter - rxBefore}`,
    );
    const n = Number(/sent (\d+)/.exec(sent.stdout)?.[1] ?? 0);
    expect(n, sent.stderr).toBeGreaterThan(5 * CT_MAX);
    // The established download got every byte, through the flood.
    expect(got.stdout.trim(), got.stderr).toBe('100000');
    // The table's bound held; the flood filled it and early drop made room.
    expect(Math.max(...entries)).toBeLessThanOrEqual(CT_MAX);
    expect(Math.max(...entries)).toBeGreaterThan(CT_MAX / 2);
    expect(evicted).toBeGreaterThan(0);
    // Bounded memory: the table and every queue are; a generous margin for V8's heap.
    expect(rssPeak - rssBefore).toBeLessThan(150);
    // Replies to the spoofed sources reached the outside namespace and went nowhere else: it has no
    // interface but its end of the TAP, forwards nothing, and the router's namespace has only lo.
    expect(rxAfter - rxBefore).toBeGreaterThan(1000);
    expect(links(outside)).toEqual(['lo', tapOut].sort());
    expect(outside.run('sysctl', '-n', 'net.ipv4.ip_forward').trim()).toBe('0');
    expect(links(r)).toEqual(['lo']);
    expect(links(inside)).toEqual(['lo', tapIn].sort());
  }, 90_000);
});
