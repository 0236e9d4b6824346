/**
 * `oasis up` against the Linux kernel over IPv6 through a TAP, in a private network namespace:
 * DAD, NDP both ways, ping6 to the link-local and a global address (fragmented too), UDP echo,
 * a duplicate address detected, and tshark's verdict on the capture.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canTap, NetNs, uniqueIfName } from '../support/netns.js';
import { hasTshark, type OasisHost, startOasis } from '../support/oasis.js';

describe.skipIf(!canTap)('oasis up (IPv6) against Linux over a TAP', () => {
  let ns: NetNs;
  let host: OasisHost;
  let dir: string;
  const tap = uniqueIfName();
  const OASIS = '2001:db8:77::2';
  const KERNEL = '2001:db8:77::1';
  let linkLocal: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oasis-interop6-'));
    ns = NetNs.create();
    host = await startOasis(ns, [
      'up',
      '--tap',
      tap,
      '--ip6',
      `${OASIS}/64`,
      '--host-ip6',
      `${KERNEL}/64`,
      '--udp-echo',
      '7',
      '--pcap',
      join(dir, 'run.pcap'),
    ]);
    linkLocal = host.ready
      .ip6!.split(',')
      .find((a) => a.startsWith('fe80:'))!
      .split('/')[0]!;
  });

  afterAll(async () => {
    if (host && host.child.exitCode === null) await host.stop().catch(() => undefined);
    ns?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is ready with its link-local and global addresses after DAD', () => {
    expect(host.ready.ip6).toContain(`${OASIS}/64`);
    expect(linkLocal).toMatch(/^fe80::/);
  });

  it('answers ping6 to its link-local address', async () => {
    const r = await ns.exec('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', `${linkLocal}%${tap}`]);
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
  });

  it('answers ping6 to its global address, and the kernel resolved it with NDP', async () => {
    const r = await ns.exec('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', OASIS]);
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
    expect(ns.run('ip', '-6', 'neigh', 'show', OASIS)).toContain(host.ready.mac!);
  });

  it.each([3000, 60000])('answers ping6 -s %i with fragments both ways', async (size) => {
    const r = await ns.exec('ping', ['-6', '-c', '2', '-i', '0.3', '-W', '2', '-s', String(size), OASIS]);
    expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
    expect(r.stdout).toContain(`${size + 8} bytes from ${OASIS}`);
  });

  it('resolves the kernel with NDP itself (the kernel is told our MAC, so only Oasis solicits)', async () => {
    const other = '2001:db8:77::3';
    ns.run('ip', '-6', 'addr', 'add', `${other}/64`, 'dev', tap, 'nodad');
    const echo = await ns.exec('sh', ['-c', `printf 'hello oasis6' | nc -6 -u -s ${other} -w 1 ${OASIS} 7`]);
    expect(echo.stdout).toBe('hello oasis6');
  });

  it('leaves a capture tshark reads with no malformed packet and no bad checksum, and exits cleanly', async () => {
    const { counters, code } = await host.stop();
    expect(code).toBe(0);
    // DAD: one solicitation from the unspecified address per address (link-local and global), and
    // at least one more to resolve the kernel's ::3, answered by an advertisement.
    expect(counters['icmpv6/out-neighbor-solicitation']).toBeGreaterThanOrEqual(3);
    expect(counters['icmpv6/in-neighbor-advertisement']).toBeGreaterThanOrEqual(1);
    if (!hasTshark) return;
    const pcap = join(dir, 'run.pcap');
    const tshark = (filter: string) =>
      execFileSync(
        'tshark',
        ['-r', pcap, '-o', 'udp.check_checksum:TRUE', '-Y', filter, '-T', 'fields', '-e', 'frame.number'],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        },
      ).trim();
    expect(
      tshark(`icmpv6.type == 135 && ipv6.src == :: && icmpv6.nd.ns.target_address == ${OASIS}`),
    ).not.toBe('');
    expect(
      tshark(
        `icmpv6.type == 135 && eth.src == ${host.ready.mac} && icmpv6.nd.ns.target_address == ${KERNEL.replace('::1', '::3')}`,
      ),
    ).not.toBe('');
    expect(
      tshark(
        `(_ws.malformed || udp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad") && eth.src == ${host.ready.mac}`,
      ),
    ).toBe('');
  });
});

describe.skipIf(!canTap)('oasis up detects a duplicate IPv6 address', () => {
  it('logs the conflict when the kernel already holds the address', async () => {
    const ns = NetNs.create();
    const tap = uniqueIfName();
    try {
      ns.run('ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
      ns.run('ip', 'link', 'set', tap, 'up');
      ns.run('ip', '-6', 'addr', 'add', '2001:db8:78::5/64', 'dev', tap, 'nodad');
      const host = await startOasis(ns, ['up', '--tap', tap, '--ip6', '2001:db8:78::5/64']);
      expect(host.ready.ip6).not.toContain('2001:db8:78::5');
      const { code } = await host.stop();
      expect(code).toBe(0);
      expect(host.output().stderr).toContain('duplicate address 2001:db8:78::5');
    } finally {
      ns.delete();
    }
  });
});

describe.skipIf(!canTap)('oasis up --gateway6 against Linux over a TAP', () => {
  it('answers a peer beyond its link through the static IPv6 gateway', async () => {
    const ns = NetNs.create();
    try {
      const host = await startOasis(ns, [
        ...['up', '--tap', uniqueIfName(), '--ip6', '2001:db8:79::2/64', '--host-ip6', '2001:db8:79::1/64'],
        ...['--gateway6', '2001:db8:79::1'],
      ]);
      // An address of the kernel's that is not on the TAP's prefix: Oasis can only answer it through
      // its gateway (no Router Advertisement is sent on this link).
      ns.run('ip', '-6', 'addr', 'add', '2001:db8:7a::1/128', 'dev', 'lo');
      const r = await ns.exec(
        'ping',
        ['-6', '-c', '3', '-i', '0.2', '-W', '2', '-I', '2001:db8:7a::1', '2001:db8:79::2'],
        15_000,
      );
      expect(r.stdout).toMatch(/3 received/);
      const { code } = await host.stop();
      expect(code).toBe(0);
    } finally {
      ns.delete();
    }
  });
});
