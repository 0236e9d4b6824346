/**
 * `oasis router` with offloads (its default): namespaces A and B joined only through it, their TAPs
 * opened with vnet headers, so the kernel hands it TCP super-frames of up to 64 KiB and takes them
 * back whole (docs/ROUTER.md "Offloads"). Plain forwarding, then the same through --masquerade:
 * - iperf3 TCP both ways (A→B and -R) and UDP A→B, and curl of 20 MB each way (a GET from B, a POST
 *   to B), each checked by SHA-256;
 * - the kernel's checksum error counters (`nstat` TcpInCsumErrors, UdpInCsumErrors) stay 0 in A and
 *   B: the router's rewrites (TTL, NAT addresses and ports over partial checksums) are right;
 * - the router's exit counters show super-frames forwarded whole (`offload.gsoWhole`) and, with no
 *   masquerade, no payload byte copied.
 * A frame written whole with a partial checksum is CHECKSUM_PARTIAL in the receiving kernel, which
 * then trusts it: so a third run gives B's TAP `offload=off`, and the router cuts super-frames and
 * finishes partial checksums after NAT rewrote them, for B's kernel to verify every one.
 * `OASIS_ROUTER_BIN` runs another build of the CLI (one compiled outside dist/).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTap, NetNs, uniqueIfName, waitFor } from '../support/netns.js';
import { iperf3Server, type OasisRouter, startRouter } from '../support/topology.js';

const SIZE = 20_000_000;
const BIN = process.env.OASIS_ROUTER_BIN;

interface OffloadStats {
  readonly gsoWhole: number;
  readonly gsoSegmented: number;
  readonly segmentsMade: number;
  readonly csumPartialWhole: number;
  readonly csumFinished: number;
}

interface Doc {
  end: {
    sum_sent: { bytes: number; packets?: number };
    sum_received: { bytes: number; bits_per_second: number };
    sum?: { lost_percent?: number };
  };
  error?: string;
}

/** nstat's absolute `counter` (TcpInCsumErrors, UdpInCsumErrors) in `ns` (a fresh namespace starts at 0). */
function nstat(ns: NetNs, counter: string): number {
  const out = ns.run('nstat', '-asz', counter);
  const m = new RegExp(`^${counter}\\s+(\\d+)`, 'm').exec(out);
  return m ? Number(m[1]) : Number.NaN;
}

/** An HTTP server on ADDR:PORT answering a POST with the SHA-256 of its body. Prints `listening`. */
const HASHING_SERVER = `
import hashlib, http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(s):
        left, h = int(s.headers['Content-Length']), hashlib.sha256()
        while left > 0:
            chunk = s.rfile.read(min(left, 1 << 16))
            if not chunk: break
            h.update(chunk); left -= len(chunk)
        body = h.hexdigest().encode()
        s.send_response(200); s.send_header('Content-Length', str(len(body))); s.end_headers()
        s.wfile.write(body)
    def log_message(s, *a): pass
srv = http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H)
print('listening', flush=True)
srv.serve_forever()
`;

describe.skipIf(!canTap)('oasis router with offloads: super-frames forwarded whole', () => {
  let dir: string;
  let fileSha: string;
  const measured: string[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'oasis-router-gso-'));
    const bytes = randomBytes(SIZE);
    writeFileSync(join(dir, 'data'), bytes);
    fileSha = createHash('sha256').update(bytes).digest('hex');
  });

  afterAll(() => {
    if (measured.length > 0) console.log(`router offload:\n  ${measured.join('\n  ')}`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['routed', false, true],
    ['through --masquerade', true, true],
    ['through --masquerade to B without offloads', true, false],
  ] as const)(
    '%s: iperf3 TCP both ways and UDP, curl 20 MB each way, no checksum error',
    async (name, masquerade, offloadB) => {
      const r = NetNs.create();
      const a = NetNs.create();
      const b = NetNs.create();
      const tapA = uniqueIfName();
      const tapB = uniqueIfName();
      let router: OasisRouter | undefined;
      const children: { kill(signal?: NodeJS.Signals): boolean; exitCode: number | null }[] = [];
      try {
        router = await startRouter(
          r,
          [
            '--if',
            `${tapA},ip=10.71.1.1/24,netns=${a.name},host-ip=10.71.1.2/24`,
            '--if',
            `${tapB},ip=10.71.2.1/24,netns=${b.name},host-ip=10.71.2.2/24${offloadB ? '' : ',offload=off'}`,
            ...(masquerade ? ['--masquerade', `${tapA},${tapB}`] : []),
          ],
          BIN === undefined ? {} : { bin: BIN },
        );
        a.run('ip', 'route', 'replace', 'default', 'via', '10.71.1.1');
        // Behind the masquerade B has no route back to A's subnet: replies reach only the router.
        if (!masquerade) b.run('ip', 'route', 'replace', 'default', 'via', '10.71.2.1');
        // Every neighbour resolved before the first packet through (the hosts ask for the router).
        a.run('ping', '-c', '1', '-W', '2', '10.71.1.1');
        b.run('ping', '-c', '1', '-W', '2', '10.71.2.1');
        expect(a.run('ping', '-c', '2', '-i', '0.2', '-W', '2', '10.71.2.2')).toMatch(/2 received/);

        for (const args of [[], ['-R'], ['-u', '-b', '100M']]) {
          const server = await iperf3Server(b, ['-1']);
          children.push(server);
          const res = await a.exec('iperf3', ['-c', '10.71.2.2', '-t', '2', '--json', ...args], 30_000);
          expect(res.code, res.stdout + res.stderr).toBe(0);
          const doc = JSON.parse(res.stdout) as Doc;
          expect(doc.error).toBeUndefined();
          const udp = args.includes('-u');
          if (udp) {
            // 100 Mbit/s for 2 s in datagrams of at most 1448 bytes: over 17,000 sent.
            expect(doc.end.sum_sent.packets).toBeGreaterThan(12_000);
            expect(doc.end.sum?.lost_percent).toBeLessThan(20);
          } else {
            expect(doc.end.sum_received.bytes).toBeGreaterThan(0.9 * doc.end.sum_sent.bytes);
            expect(doc.end.sum_received.bytes).toBeGreaterThan(1_000_000);
          }
          measured.push(
            `${name} iperf3 ${udp ? 'UDP ' : ''}${args.includes('-R') ? 'B→A' : 'A→B'}: ${(doc.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s`,
          );
        }

        const http = b.spawn('python3', [
          '-m',
          'http.server',
          '8000',
          '--bind',
          '10.71.2.2',
          '--directory',
          dir,
        ]);
        children.push(http);
        await waitFor(
          'the HTTP server to listen',
          () => b.run('ss', '-ltnH', 'sport = :8000').includes('8000'),
          10_000,
        );
        const t0 = performance.now();
        const got = await a.exec(
          'sh',
          ['-c', 'curl -sS -m 60 http://10.71.2.2:8000/data | sha256sum'],
          70_000,
        );
        expect(got.code, got.stderr).toBe(0);
        expect(got.stdout.split(' ')[0]).toBe(fileSha);
        measured.push(`${name} curl 20 MB B→A: ${((performance.now() - t0) / 1000).toFixed(2)} s`);

        const hashing = b.spawn('python3', ['-c', HASHING_SERVER, '10.71.2.2', '8001']);
        children.push(hashing);
        let said = '';
        hashing.stdout?.on('data', (d: Buffer) => {
          said += d.toString();
        });
        await waitFor('the hashing server to listen', () => said.includes('listening'), 10_000);
        const t1 = performance.now();
        const sent = await a.exec(
          'curl',
          ['-sS', '-m', '60', '--data-binary', `@${join(dir, 'data')}`, 'http://10.71.2.2:8001/'],
          70_000,
        );
        expect(sent.code, sent.stderr).toBe(0);
        expect(sent.stdout.trim()).toBe(fileSha);
        measured.push(`${name} curl 20 MB A→B: ${((performance.now() - t1) / 1000).toFixed(2)} s`);

        for (const ns of [a, b]) {
          expect(nstat(ns, 'TcpInCsumErrors')).toBe(0);
          expect(nstat(ns, 'UdpInCsumErrors')).toBe(0);
        }

        const { code, stats } = await router.stop();
        expect(code).toBe(0);
        const s = stats as unknown as {
          offload: OffloadStats;
          copiedPayloadBytes: number;
          tapOffload: Record<string, { gsoIn: number; gsoOut: number; badVnet: number }>;
        };
        measured.push(`${name} counters: ${JSON.stringify(s.offload)}, copied ${s.copiedPayloadBytes}`);
        const ta = s.tapOffload[tapA]!;
        if (offloadB) {
          // Super-frames came in on both TAPs and went out whole.
          const tb = s.tapOffload[tapB]!;
          expect(s.offload.gsoWhole).toBeGreaterThan(100);
          expect(ta.gsoIn).toBeGreaterThan(0);
          expect(tb.gsoIn).toBeGreaterThan(0);
          expect(ta.gsoOut + tb.gsoOut).toBe(s.offload.gsoWhole);
          expect(ta.badVnet + tb.badVnet).toBe(0);
        } else {
          // A's super-frames were cut for B, A's partial checksums finished (after NAT) for B.
          expect(s.tapOffload[tapB]).toBeUndefined();
          expect(ta.gsoIn).toBeGreaterThan(0);
          expect(s.offload.gsoSegmented).toBeGreaterThan(0);
          expect(s.offload.csumFinished).toBeGreaterThan(0);
          expect(s.offload.gsoWhole).toBe(0);
        }
        // Whole forwarding copies nothing: the super-frame leaves from the slot it was read into.
        if (!masquerade) expect(s.copiedPayloadBytes).toBe(0);
      } finally {
        for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
        if (router !== undefined && router.child.exitCode === null) router.child.kill('SIGKILL');
        for (const ns of [a, b, r]) ns.delete();
      }
    },
    180_000,
  );
});
