/**
 * `oasis up` against the Linux kernel over IPv6 through a TAP, in a private network namespace:
 * DAD, NDP both ways, ping6 to the link-local and a global address (fragmented too), UDP echo,
 * a duplicate address detected, and tshark's verdict on the capture.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { Lab, type OasisOnTap, useLab } from '../support/lab.js';
import { canTap, type NetNs } from '../support/netns.js';
import { hasTshark, type OasisHost } from '../support/oasis.js';

describe.skipIf(!canTap)('oasis up (IPv6) against Linux over a TAP', () => {
  const lab = useLab();
  let o: OasisOnTap;
  let ns: NetNs;
  let host: OasisHost;
  let tap: string;
  let OASIS: string;
  let linkLocal: string;

  beforeAll(async () => {
    o = await lab.oasisOnTap({ ipv4: false, ipv6: true, args: ['--udp-echo', '7'], pcap: 'run.pcap' });
    ({ ns, host, tap, oasis6: OASIS } = o);
    linkLocal = host.ready
      .ip6!.split(',')
      .find((a) => a.startsWith('fe80:'))!
      .split('/')[0]!;
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
    const other = o.subnet.ip6(3);
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
    const pcap = o.pcap!;
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
        `icmpv6.type == 135 && eth.src == ${host.ready.mac} && icmpv6.nd.ns.target_address == ${o.subnet.ip6(3)}`,
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
    const lab = new Lab();
    try {
      const ns = lab.namespace();
      const tap = lab.tapName();
      const taken = lab.subnet().ip6(5);
      ns.run('ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
      ns.run('ip', 'link', 'set', tap, 'up');
      ns.run('ip', '-6', 'addr', 'add', `${taken}/64`, 'dev', tap, 'nodad');
      const host = await lab.oasis(ns, ['up', '--tap', tap, '--ip6', `${taken}/64`]);
      expect(host.ready.ip6).not.toContain(taken);
      const { code } = await host.stop();
      expect(code).toBe(0);
      expect(host.output().stderr).toContain(`duplicate address ${taken}`);
    } finally {
      await lab.close();
    }
  });
});

describe.skipIf(!canTap)('oasis up --gateway6 against Linux over a TAP', () => {
  it('answers a peer beyond its link through the static IPv6 gateway', async () => {
    const lab = new Lab();
    try {
      const subnet = lab.subnet();
      const { ns, host, oasis6 } = await lab.oasisOnTap({
        subnet,
        ipv4: false,
        ipv6: true,
        args: ['--gateway6', subnet.ip6(1)],
      });
      // An address of the kernel's that is not on the TAP's prefix: Oasis can only answer it through
      // its gateway (no Router Advertisement is sent on this link).
      const beyond = lab.subnet().ip6(1);
      ns.run('ip', '-6', 'addr', 'add', `${beyond}/128`, 'dev', 'lo');
      const r = await ns.exec(
        'ping',
        ['-6', '-c', '3', '-i', '0.2', '-W', '2', '-I', beyond, oasis6],
        15_000,
      );
      expect(r.stdout).toMatch(/3 received/);
      const { code } = await host.stop();
      expect(code).toBe(0);
    } finally {
      await lab.close();
    }
  });
});
