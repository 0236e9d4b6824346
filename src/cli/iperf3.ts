/**
 * `oasis iperf3 -c HOST`: an iperf3 client on an Oasis host brought up on a TAP (the same flags as
 * `oasis up`), against any iperf3 server. Prints iperf3's interval and summary lines, or with
 * `--json` iperf3's JSON document; exits 0 when the test completed.
 */
import { release, type, hostname, machine } from 'node:os';
import { parseArgs } from 'node:util';
import { parseIpv4Addr, parseIpv6Addr } from '../addr.js';
import { Iperf3Error, iperf3Client } from '../apps/iperf3/client.js';
import { MAX_STREAMS, MAX_TCP_BLKSIZE, MAX_UDP_BLOCKSIZE } from '../apps/iperf3/protocol.js';
import { jsonReport, summaryLines } from '../apps/iperf3/report.js';
import { type Command, EXIT_INTERRUPTED, stopSignals, UsageError } from './command.js';
import { startHost, UP_OPTIONS, upOptionsFrom } from './up.js';

const USAGE = `Usage: oasis iperf3 -c HOST --tap NAME --ip ADDR/LEN [options]

Runs an iperf3 client (the protocol of iperf 3.12) on an Oasis host on a Linux TAP device.

Test options:
  -c, --client HOST   the iperf3 server's IP address (required)
  -p, --port N        server port (default 5201)
  -R, --reverse       the server sends, the client receives
  -P, --parallel N    parallel streams (default 1, at most 128)
  -u, --udp           UDP instead of TCP
  -b, --bitrate RATE  target bit/s per stream, with K/M/G suffixes, for TCP too (the sender paces,
                      as iperf3 does; default 1M for UDP, unlimited for TCP)
  -t, --time S        seconds to transmit (default 10)
  -l, --length LEN    block or datagram size, with K/M suffixes (default 128K for TCP, the MSS for UDP)
  -J, --json          print iperf3's JSON document instead of the text report

Host options (as for 'oasis up'):
  --tap NAME          TAP device name (required)
  --ip ADDR/LEN       IPv4 address of the Oasis host (repeatable)
  --ip6 ADDR/LEN      IPv6 address of the Oasis host (repeatable)
  --gateway ADDR      default IPv4 gateway
  --gateway6 ADDR     default IPv6 gateway
  --mtu N             IP MTU of the link (default 1500)
  --mac MAC           Oasis's MAC address (default: random, locally administered)
  --host-ip ADDR/LEN  configure the kernel's side of the TAP with this IPv4 address and bring it up
  --host-ip6 ADDR/LEN configure the kernel's side of the TAP with this IPv6 address and bring it up
  --pcap FILE         write every frame sent and received to FILE (pcap, Ethernet)
  --no-offload        no vnet headers on the TAP (no TSO/GSO, no checksum offload)
  --tx-thread on|off  as for 'oasis up': bursts handed to the kernel from a thread of their own
  --seed N            seed of the MAC (default: random); the TCP secret comes from the OS
  -h, --help          show this help`;

const OPTIONS = {
  tap: UP_OPTIONS.tap,
  ip: UP_OPTIONS.ip,
  ip6: UP_OPTIONS.ip6,
  gateway: UP_OPTIONS.gateway,
  gateway6: UP_OPTIONS.gateway6,
  mtu: UP_OPTIONS.mtu,
  mac: UP_OPTIONS.mac,
  'host-ip': UP_OPTIONS['host-ip'],
  'host-ip6': UP_OPTIONS['host-ip6'],
  pcap: UP_OPTIONS.pcap,
  seed: UP_OPTIONS.seed,
  'no-offload': UP_OPTIONS['no-offload'],
  'tx-thread': UP_OPTIONS['tx-thread'],
  client: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  reverse: { type: 'boolean', short: 'R' },
  parallel: { type: 'string', short: 'P' },
  udp: { type: 'boolean', short: 'u' },
  bitrate: { type: 'string', short: 'b' },
  bandwidth: { type: 'string' },
  time: { type: 'string', short: 't' },
  length: { type: 'string', short: 'l' },
  json: { type: 'boolean', short: 'J' },
} as const;

/** A number with an optional K/M/G/T suffix: powers of `base` (iperf3's unit_atof and unit_atof_rate). */
export function parseUnit(text: string, base: 1000 | 1024): number | undefined {
  const m = /^(\d+(?:\.\d*)?|\.\d+)([kKmMgGtT]?)$/.exec(text);
  if (!m) return undefined;
  const power = { '': 0, k: 1, m: 2, g: 3, t: 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Number(m[1]) * base ** power;
}

function intFlag(text: string | undefined, flag: string, min: number, max: number, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag}: between ${min} and ${max}: ${text}`);
  return n;
}

export interface Iperf3Args {
  readonly host: string;
  readonly port: number;
  readonly reverse: boolean;
  readonly parallel: number;
  readonly udp: boolean;
  readonly bandwidth?: number;
  readonly time: number;
  readonly len?: number;
  readonly json: boolean;
}

export function parseIperf3Args(args: string[]): { test: Iperf3Args; up: ReturnType<typeof upOptionsFrom> } {
  const { values } = parseArgs({ args, options: OPTIONS, strict: true });
  const host = values.client;
  if (host === undefined) throw new UsageError('-c HOST is required (only the client is implemented here)');
  if (parseIpv4Addr(host) === undefined && parseIpv6Addr(host) === undefined)
    throw new UsageError(`-c: not an IP address: ${host}`);
  const udp = values.udp ?? false;
  const rateText = values.bitrate ?? values.bandwidth;
  const bandwidth = rateText === undefined ? undefined : parseUnit(rateText, 1000);
  if (bandwidth === undefined && rateText !== undefined) throw new UsageError(`-b: not a rate: ${rateText}`);
  const len = values.length === undefined ? undefined : parseUnit(values.length, 1024);
  if (values.length !== undefined) {
    const max = udp ? MAX_UDP_BLOCKSIZE : MAX_TCP_BLKSIZE;
    const min = udp ? 16 : 1;
    if (len === undefined || !Number.isInteger(len) || len < min || len > max)
      throw new UsageError(`-l: between ${min} and ${max} bytes: ${values.length}`);
  }
  const test: Iperf3Args = {
    host,
    port: intFlag(values.port, '-p', 1, 65535, 5201),
    reverse: values.reverse ?? false,
    parallel: intFlag(values.parallel, '-P', 1, MAX_STREAMS, 1),
    udp,
    time: intFlag(values.time, '-t', 1, 86400, 10),
    json: values.json ?? false,
    ...(bandwidth === undefined ? {} : { bandwidth: Math.round(bandwidth) }),
    ...(len === undefined ? {} : { len }),
  };
  const hostValues = {
    tap: values.tap,
    ip: values.ip,
    ip6: values.ip6,
    gateway: values.gateway,
    gateway6: values.gateway6,
    mtu: values.mtu,
    mac: values.mac,
    'host-ip': values['host-ip'],
    'host-ip6': values['host-ip6'],
    pcap: values.pcap,
    seed: values.seed,
    'no-offload': values['no-offload'],
    'tx-thread': values['tx-thread'],
  };
  return { test, up: upOptionsFrom(hostValues) };
}

async function runIperf3(args: string[]): Promise<number> {
  const { test, up } = parseIperf3Args(args);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  // Before the TAP opens: a Ctrl-C during start-up or the test releases the TAP and the capture.
  const stop = stopSignals();
  try {
    const host = await startHost(up, { signal: stop.signal });
    try {
      const client = iperf3Client(host.stack, {
        host: test.host,
        port: test.port,
        reverse: test.reverse,
        parallel: test.parallel,
        udp: test.udp,
        time: test.time,
        ...(test.bandwidth === undefined ? {} : { bandwidth: test.bandwidth }),
        ...(test.len === undefined ? {} : { len: test.len }),
        ...(test.json ? {} : { log: out }),
      });
      // Settled here as well when the interrupt wins the race: no unhandled rejection later.
      client.catch(() => undefined);
      const report = await Promise.race([client, stop.stopped.then(() => undefined)]);
      if (report === undefined) {
        // As iperf3 on SIGINT: say so and fail; the capture is flushed by close().
        if (test.json)
          out(JSON.stringify({ start: {}, intervals: [], end: {}, error: 'interrupt' }, null, 2));
        process.stderr.write('oasis iperf3: interrupt - the client has terminated\n');
        return EXIT_INTERRUPTED;
      }
      if (test.json) {
        const system = `${type()} ${hostname()} ${release()} ${machine()}`;
        out(JSON.stringify(jsonReport(report, system), null, 2));
      } else {
        for (const line of summaryLines(report)) out(line);
      }
      return 0;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (test.json) out(JSON.stringify({ start: {}, intervals: [], end: {}, error: message }, null, 2));
      process.stderr.write(`oasis iperf3: error - ${message}\n`);
      if (!(e instanceof Iperf3Error) && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
      return 1;
    } finally {
      await host.close();
    }
  } finally {
    stop.dispose();
  }
}

export const iperf3Command: Command = {
  summary: 'run an iperf3 client on an Oasis host on a TAP device',
  usage: USAGE,
  run: runIperf3,
};
