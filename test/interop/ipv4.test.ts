/**
 * `oasis up` against the Linux kernel through a TAP, in a private network namespace: ARP, ping with
 * and without fragments, UDP echo with nc, port unreachable, a fragment flood, and tshark's verdict
 * on the capture of the whole run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type OasisOnTap, useLab } from '../support/lab.js';
import { canTap, type NetNs } from '../support/netns.js';
import { hasTshark, type OasisHost } from '../support/oasis.js';

/**
 * Which `arping` this machine has: iputils' (`iputils-arping`: `-I IFACE`, "Received 2 response(s)")
 * or Thomas Habets's (Debian's `arping` package: `-i IFACE`, "2 packets transmitted, 2 packets
 * received"). Both are common; each answers `--help` with its own banner.
 */
const arpingIsHabets = (() => {
  const r = spawnSync('arping', ['--help'], { encoding: 'utf8' });
  return /Habets/.test(`${r.stdout}${r.stderr}`);
})();

describe.skipIf(!canTap)('oasis up (IPv4) against Linux over a TAP', () => {
  const lab = useLab();
  let o: OasisOnTap;
  let ns: NetNs;
  let host: OasisHost;
  let tap: string;
  let OASIS: string;
  let KERNEL: string;

  beforeAll(async () => {
    o = await lab.oasisOnTap({ args: ['--udp-echo', '7'], pcap: 'run.pcap' });
    ({ ns, host, tap, oasis4: OASIS, kernel4: KERNEL } = o);
  });

  it('answers the kernel ping (ARP first)', async () => {
    const r = await ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', OASIS]);
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
    const neigh = ns.run('ip', 'neigh', 'show', OASIS);
    expect(neigh).toContain(host.ready.mac!);
  });

  it('answers arping', async () => {
    const r = await ns.exec('arping', ['-c', '2', '-w', '5', arpingIsHabets ? '-i' : '-I', tap, OASIS]);
    expect(r.stdout).toMatch(
      arpingIsHabets ? /2 packets transmitted, 2 packets received/ : /Received 2 response/,
    );
    expect(r.stdout.toLowerCase()).toContain(host.ready.mac!);
  });

  it.each([3000, 60000])('answers ping -s %i with fragments both ways', async (size) => {
    const r = await ns.exec('ping', ['-c', '2', '-i', '0.3', '-W', '2', '-s', String(size), OASIS]);
    expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
    expect(r.stdout).toContain(`${size + 8} bytes from ${OASIS}`);
  });

  it('echoes UDP to nc and answers a closed port with port unreachable', async () => {
    const echo = await ns.exec('sh', ['-c', `printf 'hello oasis' | nc -u -w 1 ${OASIS} 7`]);
    expect(echo.stdout).toBe('hello oasis');
    // A connected UDP socket sees ECONNREFUSED when ICMP port unreachable comes back (RFC 1122 §4.1.3.3).
    const probe = [
      'import socket',
      's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
      's.settimeout(2)',
      `s.connect(("${OASIS}", 9))`,
      's.send(b"x")',
      'try:\n  s.recv(16)\n  print("answered")\nexcept ConnectionRefusedError:\n  print("refused")\nexcept socket.timeout:\n  print("timeout")',
    ].join('\n');
    const closed = await ns.exec('python3', ['-c', probe]);
    expect(closed.stdout.trim()).toBe('refused');
  });

  it('survives a flood of overlapping and incomplete fragments within its reassembly budget', async () => {
    const script = resolve(import.meta.dirname, 'fragment-flood.py');
    const flood = await ns.exec(
      'python3',
      [script, tap, host.ready.mac!, KERNEL, OASIS, '3000', '42'],
      60_000,
    );
    expect(flood.code, flood.stderr).toBe(0);
    const r = await ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '2', '-s', '3000', OASIS]);
    expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
  });

  it('leaves a capture tshark reads with no malformed packet and no bad checksum, and exits cleanly', async () => {
    const { counters, reassemblyPeakBytes, code } = await host.stop();
    expect(code).toBe(0);
    expect(counters['ipv4/reassembly-overlap']).toBeGreaterThan(0);
    expect(reassemblyPeakBytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(counters['icmpv4/out-dest-unreachable']).toBeGreaterThan(0);
    if (!hasTshark) return;
    const pcap = o.pcap!;
    const all = execFileSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'frame.number'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(all.trim().split('\n').length).toBeGreaterThan(50);
    const bad = execFileSync(
      'tshark',
      [
        '-r',
        pcap,
        '-o',
        'ip.check_checksum:TRUE',
        '-o',
        'udp.check_checksum:TRUE',
        '-Y',
        // The flood's overlapping fragments are malformed on purpose; only frames Oasis sent count.
        `(_ws.malformed || ip.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad") && eth.src == ${host.ready.mac}`,
        '-T',
        'fields',
        '-e',
        'frame.number',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    expect(bad.trim()).toBe('');
  });
});
