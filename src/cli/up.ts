/**
 * `oasis up`: an Oasis host on a TAP device. Creates or attaches the TAP, optionally configures the
 * kernel's side with iproute2, prints one line starting with `ready` once it answers, logs what it
 * does to stderr, and prints its counters on SIGINT/SIGTERM before exiting cleanly.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
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
import { IPERF3_PORT } from '../apps/iperf3/protocol.js';
import {
  formatImpairment,
  ImpairedLink,
  type ImpairOptions,
  impair,
  parseImpairment,
} from '../link/impair.js';
import type { Link } from '../link/link.js';
import { PcapWriter } from '../link/pcap.js';
import { RealScheduler } from '../link/real-clock.js';
import { PacketLink } from '../link/packet.js';
import { TapLink } from '../link/tap.js';
import type { Ipv6Cidr } from '../stack/iface.js';
import type { CongestionName, EcnMode, TcpConfig } from '../tcp/core/index.js';
import { osSecret, Stack } from '../stack/stack.js';
import { type Command, ConfigError, errorText, Interrupted, stopSignals, UsageError } from './command.js';

const USAGE = `Usage: oasis up --tap NAME --ip ADDR/LEN [options]
       oasis up --packet IFNAME --ip ADDR/LEN [options]

Runs an Oasis host on a Linux TAP device (created if absent, attached if it exists), or on an
existing interface through an AF_PACKET socket with memory-mapped rings (docs/PACKET.md).

Options:
  --tap NAME          TAP device name (this or --packet is required)
  --packet IFNAME     take over the existing interface IFNAME (a veth end, a NIC): promiscuous,
                      the kernel's ARP and IPv6 off there until exit; refused while the kernel
                      has IPv4 or global IPv6 addresses on it. Its peer must have TSO/GSO off
  --packet-ring V     v3 (default: TPACKET_V3, frames handed over by blocks, a lone frame waits
                      a few ms for its block's timer) or v2 (TPACKET_V2, woken per frame)
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
  --no-offload        open the TAP without vnet headers: no TSO/GSO super-frames, no checksum
                      offload (the default asks the kernel for them; --impair implies this)
  --tx-thread on|off  hand bursts of frames to the kernel from a thread of their own, so its work
                      for them runs on another CPU: --packet (default on with more than one CPU),
                      or a TAP with --no-offload (default off: each frame is then copied once)
  --tcp-trace FILE    log every event of the TCP core to FILE, for 'oasis replay'
  --max-connections N TCP connections held at once (default 65536); SYNs past it are ignored, counted
  --tcp-memory SIZE   bytes queued for sending across all connections (default 16M; 0: no limit);
                      past it each connection keeps 16K and writers wait. Bytes received and
                      not yet read have the same limit: past it new windows stop at 16K
  --ecn MODE          TCP ECN (RFC 3168): off, accept (answer peers that ask; the default, as
                      Linux), on (also ask in our SYNs)
  --cc ALGO           TCP congestion control: cubic (the default), newreno, or bbr (BBR v1, paced;
                      Linux's choice here)
  --seed N            seed of the MAC and the impairments (default: random, printed); the TCP
                      secret (ISNs, ports) always comes from the operating system
  -h, --help          show this help`;

/** `--tcp-memory` unless given (the core's own default is 64 MB). */
const UP_TCP_MEMORY = 16 * 1024 * 1024;

export interface UpOptions {
  /** The TAP to create or attach; or, with `packet`, undefined. */
  tap?: string;
  /** The existing interface to take over through AF_PACKET (exclusive with `tap`). */
  packet?: string;
  /** With `packet`: the ring format, TPACKET_V3 (default) or TPACKET_V2. */
  packetRing?: 2 | 3;
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
  maxConnections?: number;
  tcpMemory?: number;
  /** TCP ECN mode (RFC 3168); absent: the core's default, 'accept'. */
  ecn?: EcnMode;
  /** TCP congestion control; absent: the core's default, 'cubic'. */
  congestion?: CongestionName;
  iperf3?: boolean;
  /** Open the TAP without vnet headers (no TSO/GSO, no checksum offload). */
  noOffload?: boolean;
  /** Hand bursts to the kernel from a thread (PacketOptions / TapOptions `txThread`); absent: the link's default. */
  txThread?: boolean;
  seed: number;
}

function port(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag}: not a port: ${s}`);
  return n;
}

/**
 * `ADDR/LEN` for `flag`; a bare address is refused rather than silently taken as a host route (a
 * /32 on `--ip` leaves Oasis with no on-link subnet, so it could answer no one but by a gateway).
 */
function cidr<T>(text: string, flag: string, parse: (s: string) => T | undefined): T {
  if (!text.includes('/')) throw new UsageError(`${flag}: give the prefix length, as in ADDR/LEN: ${text}`);
  return parse(text) ?? fail(`${flag}: not ADDR/LEN: ${text}`);
}

/** Two services on one port of one protocol would clash at start-up: refused before anything opens. */
function checkPorts(o: UpOptions): void {
  const tcp = new Map<number, string>();
  const udp = new Map<number, string>();
  const claim = (table: Map<number, string>, proto: string, p: number | undefined, flag: string) => {
    if (p === undefined) return;
    const other = table.get(p);
    if (other !== undefined && other !== flag)
      throw new ConfigError(`${other} and ${flag} both want ${proto} port ${p}`);
    table.set(p, flag);
  };
  claim(tcp, 'TCP', o.echo, `--echo ${o.echo}`);
  claim(tcp, 'TCP', o.discard, `--discard ${o.discard}`);
  claim(tcp, 'TCP', o.chargen, `--chargen ${o.chargen}`);
  claim(tcp, 'TCP', o.http, `--http ${o.http}`);
  claim(tcp, 'TCP', o.iperf3 ? IPERF3_PORT : undefined, '--iperf3');
  claim(udp, 'UDP', o.udpEcho, `--udp-echo ${o.udpEcho}`);
  claim(udp, 'UDP', o.echo, `--echo ${o.echo}`);
  claim(udp, 'UDP', o.discard, `--discard ${o.discard}`);
}

/** The `oasis up` options (node:util parseArgs), for commands that bring a host up too. */
export const UP_OPTIONS = {
  tap: { type: 'string' },
  packet: { type: 'string' },
  'packet-ring': { type: 'string' },
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
  'max-connections': { type: 'string' },
  'tcp-memory': { type: 'string' },
  ecn: { type: 'string' },
  cc: { type: 'string' },
  seed: { type: 'string' },
  iperf3: { type: 'boolean' },
  'no-offload': { type: 'boolean' },
  'tx-thread': { type: 'string' },
} as const;

/** Parsed values of `UP_OPTIONS` (any subset of them). */
export interface UpValues {
  tap?: string | undefined;
  packet?: string | undefined;
  'packet-ring'?: string | undefined;
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
  'max-connections'?: string | undefined;
  'tcp-memory'?: string | undefined;
  ecn?: string | undefined;
  cc?: string | undefined;
  seed?: string | undefined;
  iperf3?: boolean | undefined;
  'no-offload'?: boolean | undefined;
  'tx-thread'?: string | undefined;
}

export function parseUpArgs(args: string[]): UpOptions {
  const { values } = parseArgs({ args, options: UP_OPTIONS, strict: true });
  return upOptionsFrom(values);
}

/** Checks parsed values and turns them into options (throws UsageError). */
export function upOptionsFrom(values: UpValues): UpOptions {
  if (values.tap !== undefined && values.packet !== undefined)
    throw new UsageError('--tap and --packet: give one of them');
  const flag = values.packet !== undefined ? '--packet' : '--tap';
  const device = values.packet ?? values.tap;
  if (!device) throw new UsageError('--tap is required (or --packet IFNAME)');
  if (device.length > 15) throw new UsageError(`${flag}: interface names are at most 15 characters`);
  if (values.packet !== undefined && (values['host-ip'] !== undefined || values['host-ip6'] !== undefined))
    throw new UsageError(
      '--host-ip/--host-ip6 with --packet: Oasis owns that interface, the kernel must have no address on it',
    );
  const ipv4 = (values.ip ?? []).map((s) => cidr(s, '--ip', parseIpv4Cidr));
  const ipv6 = (values.ip6 ?? []).map((s) => cidr(s, '--ip6', parseIpv6Cidr));
  if (ipv4.length === 0 && ipv6.length === 0) throw new UsageError('give at least one --ip or --ip6');
  const mtu = values.mtu === undefined ? 1500 : Number(values.mtu);
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65521)
    throw new UsageError(`--mtu: between 576 and 65521: ${values.mtu}`);
  const opts: UpOptions = {
    ...(values.packet !== undefined ? { packet: values.packet } : { tap: device }),
    ipv4,
    ipv6,
    mtu,
    seed: values.seed === undefined ? randomInt(2 ** 31) : Number(values.seed),
  };
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffff_ffff)
    throw new UsageError(`--seed: not an integer in [0, 2^32): ${values.seed}`);
  if (values.gateway !== undefined)
    opts.gateway = parseIpv4Addr(values.gateway) ?? fail(`--gateway: not an IPv4 address: ${values.gateway}`);
  if (values.gateway6 !== undefined)
    opts.gateway6 =
      parseIpv6Addr(values.gateway6) ?? fail(`--gateway6: not an IPv6 address: ${values.gateway6}`);
  if (values.mac !== undefined)
    opts.mac = parseMac(values.mac) ?? fail(`--mac: not a MAC address: ${values.mac}`);
  if (values['host-ip'] !== undefined) {
    cidr(values['host-ip'], '--host-ip', parseIpv4Cidr);
    opts.hostIp = values['host-ip'];
  }
  if (values['host-ip6'] !== undefined) {
    cidr(values['host-ip6'], '--host-ip6', parseIpv6Cidr);
    opts.hostIp6 = values['host-ip6'];
  }
  const ring = values['packet-ring'];
  if (ring !== undefined) {
    if (opts.packet === undefined) throw new UsageError('--packet-ring goes with --packet');
    if (ring !== 'v2' && ring !== 'v3') throw new UsageError(`--packet-ring: v2 or v3: ${ring}`);
    opts.packetRing = ring === 'v2' ? 2 : 3;
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
  const maxConn = values['max-connections'];
  if (maxConn !== undefined) {
    const n = Number(maxConn);
    if (!Number.isInteger(n) || n < 1)
      throw new UsageError(`--max-connections: not a positive integer: ${maxConn}`);
    opts.maxConnections = n;
  }
  const tcpMem = values['tcp-memory'];
  if (tcpMem !== undefined) {
    const m = /^(\d+)([kmg]?)$/i.exec(tcpMem);
    if (m === null) throw new UsageError(`--tcp-memory: a size like 64M or 0: ${tcpMem}`);
    opts.tcpMemory = Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase());
  }
  const ecn = values.ecn;
  if (ecn !== undefined) {
    if (ecn !== 'off' && ecn !== 'accept' && ecn !== 'on')
      throw new UsageError(`--ecn: off, accept or on: ${ecn}`);
    opts.ecn = ecn;
  }
  const cc = values.cc;
  if (cc !== undefined) {
    if (cc !== 'cubic' && cc !== 'newreno' && cc !== 'bbr')
      throw new UsageError(`--cc: cubic, newreno or bbr: ${cc}`);
    opts.congestion = cc;
  }
  if (values.iperf3) opts.iperf3 = true;
  if (values['no-offload']) opts.noOffload = true;
  const thread = values['tx-thread'];
  if (thread !== undefined) {
    if (thread !== 'on' && thread !== 'off') throw new UsageError(`--tx-thread: on or off: ${thread}`);
    if (thread === 'on' && opts.packet === undefined && !opts.noOffload && opts.impair === undefined)
      throw new UsageError('--tx-thread on: a TAP needs --no-offload for it');
    opts.txThread = thread === 'on';
  }
  checkPorts(opts);
  return opts;
}

/** The TCP core's configuration that the options of `oasis up` set. */
export function upTcpConfig(o: UpOptions): Partial<Omit<TcpConfig, 'secret'>> {
  return {
    ...(o.maxConnections === undefined ? {} : { maxConnections: o.maxConnections }),
    // A host on a TAP serves whoever connects: 16 MB keeps 300 never-reading peers of /bytes/N
    // under 150 MB resident (bench/hardening.ts), while a few fast transfers never reach it.
    tcpMemory: o.tcpMemory ?? UP_TCP_MEMORY,
    ...(o.ecn === undefined ? {} : { ecn: o.ecn }),
    ...(o.congestion === undefined ? {} : { congestion: o.congestion }),
  };
}

/** Lines appended to a file, written in large batches (a trace logs every TCP event). */
class LineFile {
  private readonly fd: number;
  private lines: string[] = [];
  private size = 0;

  /** Creates or truncates `path`; throws (ENOENT, EACCES...) when it cannot be written. */
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
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}

function fail(message: string): never {
  throw new UsageError(message);
}

/** How often capture and trace files are written out, and the kernel's side of the TAP looked at. */
const HOUSEKEEPING_MS = 1000;

/** Configures the kernel's side of the TAP (the user asked for it with --host-ip*). */
function configureHost(o: UpOptions, dev: string): void {
  const ip = (...args: string[]) => {
    try {
      execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new Error(
          `--host-ip${o.hostIp ? '' : '6'} needs iproute2's 'ip' command, which is not in PATH`,
        );
      throw new Error(`ip ${args.join(' ')}: ${errorText(e)}`);
    }
  };
  ip('link', 'set', 'dev', dev, 'mtu', String(o.mtu));
  if (o.hostIp) ip('addr', 'replace', o.hostIp, 'dev', dev);
  // nodad: the kernel's address is usable at once; Oasis runs DAD for its own addresses.
  if (o.hostIp6) ip('-6', 'addr', 'replace', o.hostIp6, 'dev', dev, 'nodad');
  ip('link', 'set', 'dev', dev, 'up');
}

/** Whether the kernel's side of the TAP is up (IFF_UP), as sysfs says; undefined when it cannot tell. */
export function kernelSideUp(name: string): boolean | undefined {
  try {
    const flags = Number.parseInt(readFileSync(`/sys/class/net/${name}/flags`, 'utf8'), 16);
    return Number.isNaN(flags) ? undefined : (flags & 1) === 1; // IFF_UP, include/uapi/linux/if.h
  } catch {
    return undefined;
  }
}

/** An Oasis host up on its TAP (see `startHost`). */
export interface UpHost {
  readonly stack: Stack;
  readonly iface: Interface;
  /** The TAP, or undefined on `--packet`. */
  readonly tap: TapLink | undefined;
  /** The device: the TAP, or the AF_PACKET link on `--packet`. */
  readonly device: TapLink | PacketLink;
  /** The link the stack uses: the TAP, or the impairments around it. */
  readonly link: Link;
  /** The `ready ...` line `oasis up` prints. */
  readonly readyLine: string;
  /** The kernel's side of the TAP now: 'down' drops every frame Oasis writes (counted as io-error). */
  kernelSide(): 'up' | 'down' | 'unknown';
  /** The counters `oasis up` prints when it stops: stack, TCP, link (impairment drops included). */
  status(): Record<string, unknown>;
  /** Closes the stack, its timers, the TAP and the capture and trace files. */
  close(): Promise<void>;
}

export interface StartHostOptions {
  /** Where the stack's log events go (default: stderr with the time). */
  readonly onLog?: (time: number, message: string) => void;
  /** Starts services on the stack before it is declared ready. */
  readonly services?: (stack: Stack) => void;
  /** Aborting it cuts the start-up short: what was opened is released, and `Interrupted` thrown. */
  readonly signal?: AbortSignal;
}

/**
 * Brings an Oasis host up on the TAP: link (with impairments and capture), stack, interface, the
 * kernel's side if asked, and waits until its IPv6 addresses have passed duplicate address detection.
 *
 * Every start-up failure releases what was opened before it is thrown: the files first (a path that
 * cannot be written is refused before the TAP exists), then the TAP, the kernel's side, the services.
 * The TCP secret comes from the operating system (`osSecret`); `o.seed` drives MACs and impairments.
 */
export async function startHost(o: UpOptions, opts: StartHostOptions = {}): Promise<UpHost> {
  const onLog =
    opts.onLog ?? ((time, message) => process.stderr.write(`[${(time / 1000).toFixed(3)}] ${message}\n`));
  const undo: (() => void | Promise<void>)[] = [];
  /** Undoes everything, last first, each step whatever the others did; returns the first failure. */
  const release = async (): Promise<unknown> => {
    let failure: unknown;
    for (let f = undo.pop(); f !== undefined; f = undo.pop()) {
      try {
        await f();
      } catch (e) {
        failure ??= e;
      }
    }
    return failure;
  };
  const interrupted = () => {
    if (opts.signal?.aborted)
      throw opts.signal.reason instanceof Error ? opts.signal.reason : new Interrupted();
  };
  try {
    interrupted();
    const openFile = <T>(flag: string, path: string, open: (path: string) => T): T => {
      try {
        return open(path);
      } catch (e) {
        throw new ConfigError(`${flag} ${path}: cannot write: ${errorText(e)}`);
      }
    };
    const pcap =
      o.pcap === undefined
        ? undefined
        : openFile('--pcap', o.pcap, (p) => PcapWriter.open(p, { flushIntervalMs: HOUSEKEEPING_MS }));
    if (pcap) undo.push(() => pcap.close());
    const trace =
      o.tcpTrace === undefined ? undefined : openFile('--tcp-trace', o.tcpTrace, (p) => new LineFile(p));
    if (trace) undo.push(() => trace.close());

    // Offloads (docs/TAP.md): vnet headers and super-frames, unless refused or impaired (the
    // impairments' queues carry frames, not their offload metadata).
    // AF_PACKET (docs/PACKET.md): the interface is taken over, and given back on close.
    const thread = o.txThread === undefined ? {} : { txThread: o.txThread };
    const tap =
      o.packet !== undefined
        ? PacketLink.open(o.packet, { mtu: o.mtu, version: o.packetRing ?? 3, ...thread })
        : TapLink.open(o.tap!, { mtu: o.mtu, vnetHdr: !(o.noOffload || o.impair), ...thread });
    undo.push(() => tap.close());
    const scheduler = new RealScheduler();
    undo.push(() => scheduler.cancelAll());
    const started = Date.now() * 1000 - performance.now() * 1000;
    const link: Link = o.impair ? impair(tap, scheduler, o.impair) : tap;
    if (pcap) tap.capture = (frame) => pcap.write(frame, Math.round(started + performance.now() * 1000));
    const stack = new Stack({
      scheduler,
      seed: o.seed,
      secret: osSecret(),
      onLog: (e) => onLog(e.time, e.message),
      tcp: upTcpConfig(o),
    });
    undo.push(() => stack.close());
    const iface = stack.addInterface({
      link,
      mtu: o.mtu,
      ipv4: o.ipv4,
      ipv6: o.ipv6,
      ...(o.mac === undefined ? {} : { mac: o.mac }),
      ...(o.gateway === undefined ? {} : { gateway4: o.gateway }),
      ...(o.gateway6 === undefined ? {} : { gateway6: o.gateway6 }),
    });
    if (o.hostIp || o.hostIp6) configureHost(o, tap.name);
    if (trace !== undefined) stack.tcp.trace = (line) => trace.write(line);
    opts.services?.(stack);

    // Without --host-ip* the kernel's side is the user's to configure; while it is down, the kernel
    // refuses every frame Oasis writes (EIO, counted as io-error): say so, and say when it changes.
    // A PacketLink brings its interface up itself.
    const configured = o.hostIp !== undefined || o.hostIp6 !== undefined || o.packet !== undefined;
    let kernel = configured ? true : kernelSideUp(tap.name);
    if (kernel === false)
      stack.logEvent(
        `${tap.name}: the kernel's side is down (no --host-ip given): frames Oasis sends are dropped ` +
          `(counted as io-error) until 'ip link set ${tap.name} up'`,
      );
    const housekeeping = setInterval(() => {
      trace?.flush();
      if (configured) return;
      const now = kernelSideUp(tap.name);
      if (now !== kernel && now !== undefined)
        stack.logEvent(`${tap.name}: the kernel's side is ${now ? 'up' : 'down'} now`);
      kernel = now;
    }, HOUSEKEEPING_MS);
    housekeeping.unref();
    undo.push(() => clearInterval(housekeeping));

    // Ready means answering: IPv6 addresses answer once duplicate address detection is over.
    const settled = () => addresses(iface.ndp).every((a) => a.state !== 'tentative');
    for (let waited = 0; iface.ipv6Enabled && !settled() && waited < 10_000; waited += 50) {
      interrupted();
      await new Promise((r) => setTimeout(r, 50));
    }
    interrupted();
    const addrs = o.ipv4.map((c) => `${ipv4ToString(c.address)}/${c.prefixLen}`).join(',');
    const addrs6 = addresses(iface.ndp)
      .filter((a) => a.state === 'preferred')
      .map((a) => `${ipv6ToString(a.address)}/${a.prefixLen}`)
      .join(',');
    const readyLine =
      `ready ${o.packet !== undefined ? 'packet' : 'tap'}=${tap.name} mac=${macToString(iface.mac)} ip=${addrs || '-'} ip6=${addrs6 || '-'} mtu=${o.mtu} seed=${o.seed}` +
      (kernel === false ? ' kernel=down' : '') +
      (o.impair ? ` impair=${formatImpairment(o.impair)}` : '') +
      ` offload=${offloadText(tap)}`;
    const kernelSide = (): 'up' | 'down' | 'unknown' =>
      kernel === undefined ? 'unknown' : kernel ? 'up' : 'down';
    return {
      stack,
      iface,
      tap: tap instanceof TapLink ? tap : undefined,
      device: tap,
      link,
      readyLine,
      kernelSide,
      status: () => hostStatus(stack, tap, link, kernelSide()),
      async close() {
        const failure = await release();
        if (failure !== undefined) throw failure;
      },
    };
  } catch (e) {
    await release();
    throw e;
  }
}

/** What the TAP's offloads are, for the ready line: 'off', or the accepted ones ('csum,tso4,...'). */
function offloadText(tap: TapLink | PacketLink): string {
  const o = tap instanceof TapLink ? tap.offloads : undefined;
  if (o === undefined) return 'off';
  return (Object.keys(o) as (keyof typeof o)[]).filter((k) => o[k]).join(',');
}

/**
 * The counters printed at exit. `link` is the TAP's, except that frames the impairments dropped are
 * counted there too (under `impair-loss`): the TAP never saw them, yet they are the link's drops.
 */
function hostStatus(
  stack: Stack,
  tap: TapLink | PacketLink,
  link: Link,
  kernel: 'up' | 'down' | 'unknown',
): Record<string, unknown> {
  const impaired = link instanceof ImpairedLink ? link : undefined;
  const drops = { ...tap.counters.drops };
  if (impaired) drops['impair-loss'] += impaired.counters.drops['impair-loss'];
  const notes: string[] = [];
  if (kernel === 'down' && tap.counters.drops['io-error'] > 0)
    notes.push(
      `the kernel's side of ${tap.name} is down: ${tap.counters.drops['io-error']} frames could not be written (io-error)`,
    );
  return {
    counters: stack.counters.snapshot(),
    tcp: stack.tcp.counters,
    link: { ...tap.counters, drops },
    offload: tap instanceof TapLink && tap.offloads !== undefined ? { ...tap.offloadCounters } : 'off',
    ...(tap instanceof PacketLink ? { packet: packetStatus(tap) } : {}),
    ...(impaired ? { impair: impaired.stats } : {}),
    kernelSide: kernel,
    reassemblyPeakBytes: Math.max(stack.ipv4.reassemblyPeakBytes, stack.ipv6.reassemblyPeakBytes),
    log: stack.log.recent().map((e) => e.message),
    ...(notes.length > 0 ? { notes } : {}),
  };
}

/** The ring's counters, with the kernel's receive-ring drops read now. */
function packetStatus(link: PacketLink): Record<string, number> {
  link.readKernelStats();
  return { ...link.packetCounters };
}

export async function runUp(o: UpOptions): Promise<number> {
  // Listen for the stop signals before anything else, so a signal right after `ready` is never lost.
  const stop = stopSignals();
  try {
    const host = await startHost(o, {
      signal: stop.signal,
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
    console.log(host.readyLine);
    await stop.stopped;
    try {
      console.log(JSON.stringify(host.status(), null, 2));
    } finally {
      await host.close();
    }
    return 0;
  } finally {
    stop.dispose();
  }
}

export const upCommand: Command = {
  summary: 'run an Oasis host on a TAP device or an existing interface (AF_PACKET)',
  usage: USAGE,
  run: (args) => runUp(parseUpArgs(args)),
};
