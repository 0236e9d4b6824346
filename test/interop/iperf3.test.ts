/**
 * iperf3 interop with Debian's iperf3 3.12 over a TAP, in private network namespaces:
 * - the kernel's `iperf3 -c` against `oasis up --iperf3` (plain, -R, -P 4, -u -b 200M, --json parsed);
 * - `oasis iperf3 -c` against the kernel's one-off `iperf3 -s -1 -J` (the same four, and the text report).
 * Each side's figures are checked against the other's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useLab } from '../support/lab.js';
import { collect, canTap, type NetNs, waitFor } from '../support/netns.js';
import { OASIS_BIN, type OasisHost } from '../support/oasis.js';

// The acceptance runs: -t 5 for every mode, both roles.
const T = '3';

interface Sum {
  bytes: number;
  bits_per_second: number;
  seconds: number;
  retransmits?: number;
  packets?: number;
  lost_packets?: number;
  lost_percent?: number;
  jitter_ms?: number;
}

interface Doc {
  start: { test_start: { protocol: string; num_streams: number; reverse: number } };
  intervals: { streams: unknown[]; sum: Sum }[];
  end: { streams: unknown[]; sum_sent: Sum; sum_received: Sum; sum?: Sum };
  error?: string;
}

const CASES: [string, string[]][] = [
  ['plain', []],
  ['-R', ['-R']],
  ['-P 4', ['-P', '4']],
  ['-u -b 200M', ['-u', '-b', '200M']],
];

/** What every document must show, whoever wrote it. */
function checkDoc(doc: Doc, args: string[]): void {
  expect(doc.error).toBeUndefined();
  const streams = args.includes('-P') ? 4 : 1;
  const udp = args.includes('-u');
  expect(doc.start.test_start.num_streams).toBe(streams);
  expect(doc.start.test_start.protocol).toBe(udp ? 'UDP' : 'TCP');
  expect(doc.start.test_start.reverse).toBe(args.includes('-R') ? 1 : 0);
  expect(doc.end.streams).toHaveLength(streams);
  expect(doc.intervals.length).toBeGreaterThanOrEqual(2);
  expect(doc.end.sum_sent.bits_per_second).toBeGreaterThan(0);
  expect(doc.end.sum_received.bits_per_second).toBeGreaterThan(0);
  expect(doc.end.sum_received.bytes).toBeLessThanOrEqual(doc.end.sum_sent.bytes);
  if (udp) {
    // 200 Mbit/s for 2 s in datagrams of at most 1448 bytes: at least 34000 sent.
    expect(doc.end.sum_sent.packets).toBeGreaterThan(30_000);
    expect(doc.end.sum_received.packets).toBeGreaterThan(30_000);
    expect(doc.end.sum_received.lost_percent).toBeLessThan(20);
    expect(doc.end.sum?.packets).toBe(doc.end.sum_sent.packets);
  } else {
    // TCP delivers what was sent, bar what was in flight when the test stopped.
    expect(doc.end.sum_received.bytes).toBeGreaterThan(0.9 * doc.end.sum_sent.bytes);
  }
}

/** `s` as a regular expression that matches it literally. */
const re = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function mbps(s: Sum): string {
  return `${(s.bits_per_second / 1e6).toFixed(0)} Mbit/s`;
}

describe.skipIf(!canTap)('iperf3 interop with Linux over a TAP', () => {
  const measured: string[] = [];

  afterAll(() => {
    if (measured.length > 0) console.log(`iperf3 interop throughput:\n  ${measured.join('\n  ')}`);
  });

  describe('kernel iperf3 -c against oasis up --iperf3', () => {
    const lab = useLab();
    let ns: NetNs;
    let host: OasisHost;
    let OASIS: string;
    let KERNEL: string;

    beforeAll(async () => {
      ({ ns, host, oasis4: OASIS, kernel4: KERNEL } = await lab.oasisOnTap({ args: ['--iperf3'] }));
    });

    it.each(CASES)('%s, with --json', async (name, args) => {
      const r = await ns.exec('iperf3', ['-c', OASIS, '-t', T, '--json', ...args], 30_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as Doc;
      checkDoc(doc, args);
      const s = doc.end.sum_received;
      measured.push(
        `kernel iperf3 -c ${name} against oasis up --iperf3: received ${mbps(s)}` +
          (args.includes('-u')
            ? `, loss ${s.lost_packets}/${s.packets} (${s.lost_percent?.toFixed(2)}%)`
            : ''),
      );
      if (args.includes('-R')) {
        // Our server sends and reports its retransmissions (sender_has_retransmits 1).
        expect(doc.end.sum_sent.retransmits).toBeGreaterThanOrEqual(0);
      }
    });

    it('prints iperf3 text reports on both sides', async () => {
      const r = await ns.exec('iperf3', ['-c', OASIS, '-t', '1'], 30_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/\[ {2}5\] {3}0\.00-1\.\d\d {3}sec .* sender\n/);
      expect(r.stdout).toMatch(/ receiver\n\n?iperf Done\./);
      const { stderr } = host.output();
      expect(stderr).toMatch(new RegExp(`Accepted connection from ${re(KERNEL)}, port \\d+`));
      expect(stderr).toMatch(
        new RegExp(`\\[ {2}5\\] local ${re(OASIS)} port 5201 connected to ${re(KERNEL)} port \\d+`),
      );
      expect(stderr).toMatch(/\[SUM\] +\d+\.\d\d-\d+\.\d\d +sec/);
      expect(stderr).toMatch(/Lost\/Total Datagrams/);
      expect(stderr).not.toMatch(/iperf3: error/);
    });

    it('answers a second client with "the server is busy" while a test runs', async () => {
      const first = ns.exec('iperf3', ['-c', OASIS, '-t', '2'], 30_000);
      await new Promise((r) => setTimeout(r, 700));
      const second = await ns.exec('iperf3', ['-c', OASIS, '-t', '1'], 30_000);
      expect(second.code).not.toBe(0);
      expect(second.stdout + second.stderr).toMatch(/the server is busy running a test/);
      expect((await first).code).toBe(0);
    });

    it('exits cleanly', async () => {
      const { code, counters } = await host.stop();
      expect(code).toBe(0);
      expect(counters['ethernet/sent']).toBeGreaterThan(0);
    });
  });

  describe('oasis iperf3 -c against the kernel iperf3 -s -1', () => {
    const lab = useLab();
    let ns: NetNs;
    let run = 0;

    beforeAll(() => {
      ns = lab.namespace();
    });

    /** A one-off kernel server (JSON report), then our client on a fresh TAP and subnet. */
    async function oasisClient(args: string[], json: boolean) {
      const n = ++run;
      const subnet = lab.subnet();
      const kernel = subnet.ip4(1);
      const server = ns.spawn('iperf3', ['-s', '-1', '-J']);
      const serverDone = collect(server, 60_000);
      await waitFor(
        'iperf3 -s to listen',
        () => ns.run('ss', '-ltnH', 'sport = :5201').includes('5201'),
        5000,
      );
      const tap = lab.tapName();
      const client = await ns.exec(
        process.execPath,
        [
          OASIS_BIN,
          'iperf3',
          '-c',
          kernel,
          '-t',
          T,
          ...(json ? ['--json'] : []),
          ...args,
          '--tap',
          tap,
          '--ip',
          subnet.cidr4(2),
          '--host-ip',
          subnet.cidr4(1),
          '--seed',
          String(n),
        ],
        30_000,
      );
      const srv = await serverDone;
      return { client, server: srv, subnet };
    }

    it.each(CASES)('%s, with --json', async (name, args) => {
      const { client, server } = await oasisClient(args, true);
      expect(client.code, client.stdout + client.stderr).toBe(0);
      const doc = JSON.parse(client.stdout) as Doc;
      checkDoc(doc, args);
      // The kernel server's own view agrees with what our client reports for the receiving side.
      expect(server.code, server.stdout + server.stderr).toBe(0);
      const kdoc = JSON.parse(server.stdout) as Doc;
      expect(kdoc.error).toBeUndefined();
      if (args.includes('-u')) {
        expect(kdoc.end.sum?.packets ?? kdoc.end.sum_received.packets).toBeGreaterThan(30_000);
      }
      if (args.includes('-R')) {
        expect(kdoc.end.sum_sent.bytes).toBe(doc.end.sum_sent.bytes);
      } else if (!args.includes('-u')) {
        expect(kdoc.end.sum_received.bytes).toBe(doc.end.sum_received.bytes);
      }
      const s = doc.end.sum_received;
      measured.push(
        `oasis iperf3 -c ${name} against the kernel iperf3 -s: received ${mbps(s)}` +
          (args.includes('-u')
            ? `, loss ${s.lost_packets}/${s.packets} (${s.lost_percent?.toFixed(2)}%)`
            : ''),
      );
    });

    it('prints the iperf3 text report', async () => {
      const { client, server, subnet } = await oasisClient([], false);
      expect(client.code, client.stdout + client.stderr).toBe(0);
      expect(server.code).toBe(0);
      const [us, them] = [re(subnet.ip4(2)), re(subnet.ip4(1))];
      expect(client.stdout).toMatch(new RegExp(`^Connecting to host ${them}, port 5201\\n`));
      expect(client.stdout).toMatch(
        new RegExp(`\\[ {2}5\\] local ${us} port \\d+ connected to ${them} port 5201`),
      );
      // Interval ends are the measured times, as iperf3's own: a busy event loop makes 1.00 into 1.01.
      expect(client.stdout).toMatch(/\[ {2}5\] {3}1\.\d\d-2\.\d\d {3}sec .*bits\/sec/);
      expect(client.stdout).toMatch(/ sender\n.* receiver\n\niperf Done\.\n$/);
    });

    it('fails with a clear message when no server listens', async () => {
      const subnet = lab.subnet();
      const r = await ns.exec(
        process.execPath,
        [
          OASIS_BIN,
          'iperf3',
          '-c',
          subnet.ip4(1),
          '-t',
          '1',
          '--tap',
          lab.tapName(),
          '--ip',
          subnet.cidr4(2),
          '--host-ip',
          subnet.cidr4(1),
        ],
        30_000,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/oasis iperf3: error - unable to connect to server .*ECONNREFUSED/);
    });
  });

  describe('over IPv6', () => {
    const lab = useLab();
    let ns: NetNs;
    let OASIS6: string;

    beforeAll(async () => {
      ({ ns, oasis6: OASIS6 } = await lab.oasisOnTap({ ipv4: false, ipv6: true, args: ['--iperf3'] }));
    });

    it('kernel iperf3 -c -u against oasis up --iperf3', async () => {
      const r = await ns.exec('iperf3', ['-c', OASIS6, '-t', '1', '-u', '-b', '50M', '--json'], 30_000);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as Doc;
      // The datagram size follows the control connection's MSS over IPv6: 1500 - 40 - 20 - 12.
      expect(doc.start.test_start).toMatchObject({ protocol: 'UDP', blksize: 1428 });
      expect(doc.end.sum_received.packets).toBeGreaterThan(4000);
    });

    it('oasis iperf3 -c against the kernel iperf3 -s -1', async () => {
      const server = ns.spawn('iperf3', ['-s', '-1']);
      const serverDone = collect(server, 60_000);
      await waitFor(
        'iperf3 -s to listen',
        () => ns.run('ss', '-ltnH', 'sport = :5201').includes('5201'),
        5000,
      );
      const subnet = lab.subnet();
      const r = await ns.exec(
        process.execPath,
        [
          OASIS_BIN,
          'iperf3',
          '-c',
          subnet.ip6(1),
          '-t',
          '1',
          '--json',
          '--tap',
          lab.tapName(),
          '--ip6',
          subnet.cidr6(2),
          '--host-ip6',
          subnet.cidr6(1),
        ],
        30_000,
      );
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as Doc;
      expect(doc.end.sum_received.bits_per_second).toBeGreaterThan(0);
      expect((await serverDone).code).toBe(0);
    });
  });
});
