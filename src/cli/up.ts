/**
 * `oasis up`: an Oasis host on a TAP device. Creates or attaches the TAP, optionally configures the
 * kernel's side with iproute2, prints one line starting with `ready` once it answers, logs what it
 * does to stderr, and prints its counters on SIGINT/SIGTERM before exiting cleanly.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  type Ipv4Addr,
  type Ipv6Addr,
  ipv4ToString,
  ipv6ToString,
  type Mac,
  macToString,
  parseIpv4Addr,
  parseIpv4Cidr,
  parseIpv6Addr,
  parseIpv6Cidr,
  parseMac,
} from '../addr.js';
import { httpService } from '../apps/http.js';
import { iperf3Server } from '../apps/iperf3/server.js';
import { chargenService, discardService, echoService } from '../apps/services.js';
import { addresses } from '../ipv6/ndp.js';
import type { Interface } from '../stack/iface.js';
import { formatImpairment, type ImpairOptions, impair, parseImpairment } from '../link/impair.js';
import type { Link } from '../link/link.js';
import { PcapWriter } from '../link/pcap.js';
import { RealScheduler } from '../link/real-clock.js';
import { TapLink } from '../link/tap.js';
import type { Ipv6Cidr } from '../stack/iface.js';
import { Stack } from '../stack/stack.js';
import { type Command, UsageError } from './command.js';

const USAGE = `Usage: oasis up --tap NAME --ip ADDR/LEN [options]

Runs an Oasis host on a Linux TAP device (created if absent, attached if it exists).

Options:
  --tap NAME          TAP device name (required)
  --ip ADDR/LEN       IPv4 address of the Oasis host (repeatable)
  --ip6 ADDR/LEN      IPv6 address of the Oasis host (repeatable; a link-local one is always added)
  --gateway ADDR      default IPv4 gateway
  --gateway6 ADDR     default IPv6 gateway (e.g. the router's fe80:: address; else RAs are used)
  --mtu N             IP MTU of the link (default 1500)
  --mac MAC           Oasis's MAC address (default: random, locally administered)
  --host-ip ADDR/LEN  configure the kernel's side of the TAP with this IPv4 address and bring it up
  --host-ip6 ADDR/LEN configure the kernel's side of the TAP with this IPv6 address and bring it up
  --udp-echo PORT     run a UDP echo service (RFC 862) on PORT
  --echo PORT         TCP and UDP echo (RFC 862)
  --discard PORT      TCP and UDP discard (RFC 863)
  --chargen PORT      TCP character generator (RFC 864)
  --http PORT         HTTP: / (status and counters), /bytes/N (N bytes, SHA-256 in x-sha256), POST /sha256
  --iperf3            run an iperf3 server on port 5201 (its report lines go to stderr)
  --impair SPEC       seeded impairments in both directions, e.g. loss=3%,reorder=25%,dup=1%,delay=1ms,seed=7
  --pcap FILE         write every frame sent and received to FILE (pcap, Ethernet)
  --tcp-trace FILE    log every event of the TCP core to FILE, for 'oasis replay'
  --seed N            seed for the stack's random choices (default: random, printed)
  -h, --help          show this help`;

export interface UpOptions {
  tap: string;
  ipv4: { address: Ipv4Addr; prefixLen: number }[];
  ipv6: Ipv6Cidr[];
  gateway?: Ipv4Addr;
  gateway6?: Ipv6Addr;
  mtu: number;
  mac?: Mac;
  hostIp?: string;
  hostIp6?: string;
  udpEcho?: number;
  echo?: number;
  discard?: number;
  chargen?: number;
  http?: number;
  impair?: ImpairOptions;
  pcap?: string;
  tcpTrace?: string;
  iperf3?: boolean;
  seed: number;
}

function port(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag}: not a port: ${s}`);
  return n;
}

/** The `oasis up` options (node:util parseArgs), for commands that bring a host up too. */
export const UP_OPTIONS = {
  tap: { type: 'string' },
  ip: { type: 'string', multiple: true },
  ip6: { type: 'string', multiple: true },
  gateway: { type: 'string' },
  gateway6: { type: 'string' },
  mtu: { type: 'string' },
  mac: { type: 'string' },
  'host-ip': { type: 'string' },
  'host-ip6': { type: 'string' },
  'udp-echo': { type: 'string' },
  echo: { type: 'string' },
  discard: { type: 'string' },
  chargen: { type: 'string' },
  http: { type: 'string' },
  impair: { type: 'string' },
  pcap: { type: 'string' },
  'tcp-trace': { type: 'string' },
  seed: { type: 'string' },
  iperf3: { type: 'boolean' },
} as const;

/** Parsed values of `UP_OPTIONS` (any subset of them). */
export interface UpValues {
  tap?: string | undefined;
  ip?: string[] | undefined;
  ip6?: string[] | undefined;
  gateway?: string | undefined;
  gateway6?: string | undefined;
  mtu?: string | undefined;
  mac?: string | undefined;
  'host-ip'?: string | undefined;
  'host-ip6'?: string | undefined;
  'udp-echo'?: string | undefined;
  echo?: string | undefined;
  discard?: string | undefined;
  chargen?: string | undefined;
  http?: string | undefined;
  impair?: string | undefined;
  pcap?: string | undefined;
  'tcp-trace'?: string | undefined;
  seed?: string | undefined;
  iperf3?: boolean | undefined;
}

export function parseUpArgs(args: string[]): UpOptions {
  const { values } = parseArgs({ args, options: UP_OPTIONS, strict: true });
  return upOptionsFrom(values);
}

/** Checks parsed values and turns them into options (throws UsageError). */
export function upOptionsFrom(values: UpValues): UpOptions {
  if (!values.tap) throw new UsageError('--tap is required');
  if (values.tap.length > 15) throw new UsageError('--tap: interface names are at most 15 characters');
  const ipv4 = (values.ip ?? []).map((s) => parseIpv4Cidr(s) ?? fail(`--ip: not ADDR/LEN: ${s}`));
  const ipv6 = (values.ip6 ?? []).map((s) => parseIpv6Cidr(s) ?? fail(`--ip6: not ADDR/LEN: ${s}`));
  if (ipv4.length === 0 && ipv6.length === 0) throw new UsageError('give at least one --ip or --ip6');
  const mtu = values.mtu === undefined ? 1500 : Number(values.mtu);
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65521)
    throw new UsageError(`--mtu: between 576 and 65521: ${values.mtu}`);
  const opts: UpOptions = {
    tap: values.tap,
    ipv4,
    ipv6,
    mtu,
    seed: values.seed === undefined ? randomInt(2 ** 31) : Number(values.seed),
  };
  if (!Number.isInteger(opts.seed)) throw new UsageError(`--seed: not an integer: ${values.seed}`);
  if (values.gateway !== undefined)
    opts.gateway = parseIpv4Addr(values.gateway) ?? fail(`--gateway: not an IPv4 address: ${values.gateway}`);
  if (values.gateway6 !== undefined)
    opts.gateway6 =
      parseIpv6Addr(values.gateway6) ?? fail(`--gateway6: not an IPv6 address: ${values.gateway6}`);
  if (values.mac !== undefined)
    opts.mac = parseMac(values.mac) ?? fail(`--mac: not a MAC address: ${values.mac}`);
  if (values['host-ip'] !== undefined) {
    parseIpv4Cidr(values['host-ip']) ?? fail(`--host-ip: not ADDR/LEN: ${values['host-ip']}`);
    opts.hostIp = values['host-ip'];
  }
  if (values['host-ip6'] !== undefined) {
    parseIpv6Cidr(values['host-ip6']) ?? fail(`--host-ip6: not ADDR/LEN: ${values['host-ip6']}`);
    opts.hostIp6 = values['host-ip6'];
  }
  if (values['udp-echo'] !== undefined) opts.udpEcho = port(values['udp-echo'], '--udp-echo');
  for (const name of ['echo', 'discard', 'chargen', 'http'] as const) {
    const v = values[name];
    if (v !== undefined) opts[name] = port(v, `--${name}`);
  }
  if (values.impair !== undefined) {
    const r = parseImpairment(values.impair);
    if (!r.ok) throw new UsageError(`--impair: ${r.error}`);
    // The stack's seed seeds the impairments too unless the spec gives its own: one number replays a run.
    opts.impair = { seed: opts.seed, ...r.value };
  }
  if (values.pcap !== undefined) opts.pcap = values.pcap;
  if (values['tcp-trace'] !== undefined) opts.tcpTrace = values['tcp-trace'];
  if (values.iperf3) opts.iperf3 = true;
  return opts;
}

/** Lines appended to a file, written in large batches (a trace logs every TCP event). */
class LineFile {
  private readonly fd: number;
  private lines: string[] = [];
  private size = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  write(line: string): void {
    this.lines.push(line);
    this.size += line.length;
    if (this.size > 1 << 20) this.flush();
  }

  flush(): void {
    if (this.lines.length > 0) writeSync(this.fd, `${this.lines.join('\n')}\n`);
    this.lines = [];
    this.size = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

function fail(message: string): never {
  throw new UsageError(message);
}

/** Configures the kernel's side of the TAP (the user asked for it with --host-ip*). */
function configureHost(o: UpOptions): void {
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ip('link', 'set', 'dev', o.tap, 'mtu', String(o.mtu));
  if (o.hostIp) ip('addr', 'replace', o.hostIp, 'dev', o.tap);
  // nodad: the kernel's address is usable at once; Oasis runs DAD for its own addresses.
  if (o.hostIp6) ip('-6', 'addr', 'replace', o.hostIp6, 'dev', o.tap, 'nodad');
  ip('link', 'set', 'dev', o.tap, 'up');
}

/** An Oasis host up on its TAP (see `startHost`). */
export interface UpHost {
  readonly stack: Stack;
  readonly iface: Interface;
  readonly tap: TapLink;
  /** The `ready ...` line `oasis up` prints. */
  readonly readyLine: string;
  /** Closes the stack, its timers, the TAP and the capture and trace files. */
  close(): Promise<void>;
}

export interface StartHostOptions {
  /** Where the stack's log events go (default: stderr with the time). */
  readonly onLog?: (time: number, message: string) => void;
  /** Starts services on the stack before it is declared ready. */
  readonly services?: (stack: Stack) => void;
}

/**
 * Brings an Oasis host up on the TAP: link (with impairments and capture), stack, interface, the
 * kernel's side if asked, and waits until its IPv6 addresses have passed duplicate address detection.
 */
export async function startHost(o: UpOptions, opts: StartHostOptions = {}): Promise<UpHost> {
  const tap = TapLink.open(o.tap, { mtu: o.mtu });
  const scheduler = new RealScheduler();
  const started = Date.now() * 1000 - performance.now() * 1000;
  let link: Link = tap;
  if (o.impair) link = impair(tap, scheduler, o.impair);
  const pcap = o.pcap ? PcapWriter.open(o.pcap) : undefined;
  if (pcap) tap.capture = (frame) => pcap.write(frame, Math.round(started + performance.now() * 1000));
  const onLog =
    opts.onLog ?? ((time, message) => process.stderr.write(`[${(time / 1000).toFixed(3)}] ${message}\n`));
  const stack = new Stack({ scheduler, seed: o.seed, onLog: (e) => onLog(e.time, e.message) });
  const iface = stack.addInterface({
    link,
    mtu: o.mtu,
    ipv4: o.ipv4,
    ipv6: o.ipv6,
    ...(o.mac === undefined ? {} : { mac: o.mac }),
    ...(o.gateway === undefined ? {} : { gateway4: o.gateway }),
    ...(o.gateway6 === undefined ? {} : { gateway6: o.gateway6 }),
  });
  if (o.hostIp || o.hostIp6) configureHost(o);
  const trace = o.tcpTrace === undefined ? undefined : new LineFile(o.tcpTrace);
  if (trace !== undefined) stack.tcp.trace = (line) => trace.write(line);
  opts.services?.(stack);
  // Ready means answering: IPv6 addresses answer once duplicate address detection is over.
  const settled = () => addresses(iface.ndp).every((a) => a.state !== 'tentative');
  for (let waited = 0; iface.ipv6Enabled && !settled() && waited < 10_000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const addrs = o.ipv4.map((c) => `${ipv4ToString(c.address)}/${c.prefixLen}`).join(',');
  const addrs6 = addresses(iface.ndp)
    .filter((a) => a.state === 'preferred')
    .map((a) => `${ipv6ToString(a.address)}/${a.prefixLen}`)
    .join(',');
  const readyLine =
    `ready tap=${tap.name} mac=${macToString(iface.mac)} ip=${addrs || '-'} ip6=${addrs6 || '-'} mtu=${o.mtu} seed=${o.seed}` +
    (o.impair ? ` impair=${formatImpairment(o.impair)}` : '');
  return {
    stack,
    iface,
    tap,
    readyLine,
    async close() {
      await stack.close();
      scheduler.cancelAll();
      pcap?.close();
      trace?.close();
    },
  };
}

export async function runUp(o: UpOptions): Promise<number> {
  // Listen for the stop signals before anything else, so a signal right after `ready` is never lost.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  const host = await startHost(o, {
    services: (stack) => {
      if (o.udpEcho !== undefined) {
        const echo = stack.udp.bind(o.udpEcho);
        echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
      }
      if (o.echo !== undefined) echoService(stack, o.echo);
      if (o.discard !== undefined) discardService(stack, o.discard);
      if (o.chargen !== undefined) chargenService(stack, o.chargen);
      if (o.http !== undefined) httpService(stack, o.http);
      if (o.iperf3) iperf3Server(stack);
    },
  });
  const { stack, tap } = host;
  console.log(host.readyLine);
  await stopped;
  console.log(
    JSON.stringify(
      {
        counters: stack.counters.snapshot(),
        tcp: stack.tcp.counters,
        link: tap.counters,
        reassemblyPeakBytes: Math.max(stack.ipv4.reassemblyPeakBytes, stack.ipv6.reassemblyPeakBytes),
        log: stack.log.recent().map((e) => e.message),
      },
      null,
      2,
    ),
  );
  await host.close();
  return 0;
}

export const upCommand: Command = {
  summary: 'run an Oasis host on a TAP device',
  usage: USAGE,
  run: (args) => runUp(parseUpArgs(args)),
};
