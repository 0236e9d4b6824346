/**
 * iperf3 interop with Debian's iperf3 3.12 over a TAP, in private network namespaces:
 * - the kernel's `iperf3 -c` against `oasis up --iperf3` (plain, -R, -P 4, -u -b 200M, --json parsed);
 * - `oasis iperf3 -c` against the kernel's one-off `iperf3 -s -1 -J` (the same four, and the text report).
 * Each side's figures are checked against the other's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, canTap, NetNs, uniqueIfName, waitFor } from '../support/netns.js';
import { OASIS_BIN, type OasisHost, startOasis } from '../support/oasis.js';

// The acceptance runs: -t 5 for every mode, both roles.
const T = '5';

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

function mbps(s: Sum): string {
  return `${(s.bits_per_second / 1e6).toFixed(0)} Mbit/s`;
}

describe.skipIf(!canTap)('iperf3 interop with Linux over a TAP', () => {
  const measured: string[] = [];

  afterAll(() => {
    if (measured.length > 0) console.log(`iperf3 interop throughput:\n  ${measured.join('\n  ')}`);
  });

  describe('kernel iperf3 -c against oasis up --iperf3', () => {
    let ns: NetNs;
    let host: OasisHost;
    const tap = uniqueIfName();
    const OASIS = '10.78.0.2';
    const KERNEL = '10.78.0.1';

    beforeAll(async () => {
      ns = NetNs.create();
      host = await startOasis(ns, [
        'up',
        '--tap',
        tap,
        '--ip',
        `${OASIS}/24`,
        '--host-ip',
        `${KERNEL}/24`,
        '--iperf3',
      ]);
    });

    afterAll(async () => {
      if (host && host.child.exitCode === null) await host.stop().catch(() => undefined);
      ns?.delete();
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
      expect(stderr).toMatch(/Accepted connection from 10\.78\.0\.1, port \d+/);
      expect(stderr).toMatch(/\[ {2}5\] local 10\.78\.0\.2 port 5201 connected to 10\.78\.0\.1 port \d+/);
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
    let ns: NetNs;
    let run = 0;

    beforeAll(() => {
      ns = NetNs.create();
    });

    afterAll(() => {
      ns?.delete();
    });

    /** A one-off kernel server (JSON report), then our client on a fresh TAP and subnet. */
    async function oasisClient(args: string[], json: boolean) {
      const n = ++run;
      const kernel = `10.79.${n}.1`;
      const server = ns.spawn('iperf3', ['-s', '-1', '-J']);
      const serverDone = collect(server, 60_000);
      await waitFor(
        'iperf3 -s to listen',
        () => ns.run('ss', '-ltnH', 'sport = :5201').includes('5201'),
        5000,
      );
      const tap = uniqueIfName();
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
          `10.79.${n}.2/24`,
          '--host-ip',
          `${kernel}/24`,
          '--seed',
          String(n),
        ],
        30_000,
      );
      const srv = await serverDone;
      return { client, server: srv };
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
      const { client, server } = await oasisClient([], false);
      expect(client.code, client.stdout + client.stderr).toBe(0);
      expect(server.code).toBe(0);
      expect(client.stdout).toMatch(/^Connecting to host 10\.79\.\d+\.1, port 5201\n/);
      expect(client.stdout).toMatch(
        /\[ {2}5\] local 10\.79\.\d+\.2 port \d+ connected to 10\.79\.\d+\.1 port 5201/,
      );
      expect(client.stdout).toMatch(/\[ {2}5\] {3}1\.00-2\.00 {3}sec .*bits\/sec/);
      expect(client.stdout).toMatch(/ sender\n.* receiver\n\niperf Done\.\n$/);
    });

    it('fails with a clear message when no server listens', async () => {
      const n = ++run;
      const r = await ns.exec(
        process.execPath,
        [
          OASIS_BIN,
          'iperf3',
          '-c',
          `10.79.${n}.1`,
          '-t',
          '1',
          '--tap',
          uniqueIfName(),
          '--ip',
          `10.79.${n}.2/24`,
          '--host-ip',
          `10.79.${n}.1/24`,
        ],
        30_000,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/oasis iperf3: error - unable to connect to server .*ECONNREFUSED/);
    });
  });

  describe('over IPv6', () => {
    let ns: NetNs;
    let host: OasisHost;

    beforeAll(async () => {
      ns = NetNs.create();
      host = await startOasis(ns, [
        'up',
        '--tap',
        uniqueIfName(),
        '--ip6',
        'fd78::2/64',
        '--host-ip6',
        'fd78::1/64',
        '--iperf3',
      ]);
    });

    afterAll(async () => {
      if (host && host.child.exitCode === null) await host.stop().catch(() => undefined);
      ns?.delete();
    });

    it('kernel iperf3 -c -u against oasis up --iperf3', async () => {
      const r = await ns.exec('iperf3', ['-c', 'fd78::2', '-t', '1', '-u', '-b', '50M', '--json'], 30_000);
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
      const r = await ns.exec(
        process.execPath,
        [
          OASIS_BIN,
          'iperf3',
          '-c',
          'fd79::1',
          '-t',
          '1',
          '--json',
          '--tap',
          uniqueIfName(),
          '--ip6',
          'fd79::2/64',
          '--host-ip6',
          'fd79::1/64',
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
