/**
 * `oasis router` against the Linux kernel's forwarding, same run, same machine, A→B at MTU 1500
 * (test/support/topology.ts): A and B behind Oasis (TAPs) and A' and B' behind a namespace L with
 * forwarding on (veth pairs, offloads off on every end). For each router:
 * - TCP: iperf3 3.12 A→B, the median of OASIS_BENCH_REPEAT runs (3) of OASIS_BENCH_SECONDS (5);
 * - small packets: 64-byte frames (18-byte UDP payloads) from one generator in A, as fast as it can,
 *   for the same seconds; the rate forwarded is the frames B's interface received. The generator
 *   (GENERATOR below: `sendmmsg(2)` of 256 datagrams a call through koffi) is also measured against a
 *   sink on a veth pair of its own, to show what it can offer;
 * - added latency: ping A→B (through the router) minus ping A→router (its near interface), p50 and
 *   p99 of OASIS_BENCH_PINGS (500) echoes one every 10 ms;
 * - CPU: Oasis's own (utime + stime from /proc/PID/stat) during each test, and the whole machine's
 *   busy share (/proc/stat) for both routers (the kernel forwards in softirq, in no process of its own).
 * Those rows compare like with like with offloads off on both sides (`oasis router --no-offload`:
 * every frame at most 1,514 bytes, one read() and one write() each). Then TCP again with offloads
 * on on both sides (docs/ROUTER.md "Offloads"): Linux's veths with TSO, GSO, GRO and checksum
 * offload on, and `oasis router` as it starts by default, its TAPs with vnet headers, super-frames
 * forwarded whole; reported with both ratios (against Linux with and without offloads).
 * Then the three offloads-off measurements again with `oasis router` on veth ends through AF_PACKET
 * rings (`--if NAME,kind=packet`, docs/PACKET.md): the Linux reference's picture with Oasis in
 * the middle namespace, offloads off on every end, beside the TAP figures: TPACKET_V3, TPACKET_V2,
 * and TPACKET_V3 with `tx-thread=off` (what the transmit thread buys, in the same run); and the TAP
 * router once more with `tx-thread=on` on its TAPs.
 * Writes bench/results/router.json (under the working directory), or `{ skipped }` where TAPs cannot
 * be made.
 */
import { cpus, release } from 'node:os';
import { NetNs, uniqueIfName } from '../test/support/netns.js';
import {
  createLinuxTopology,
  createOasisTopology,
  createPacketTopology,
  iperf3Server,
  offloadsOff,
  type PacketTopologyOptions,
  ping,
  type RouterStats,
  type Topology,
} from '../test/support/topology.js';
import { rttStats } from './ping.js';
import { brief, type ChartGroup, fmt, type Goal, isRecord, round, table } from './summary.js';
import {
  attempt,
  cpuModel,
  type Failed,
  iperf3Figure,
  ratio,
  type TcpFigure,
  value,
  withCpu,
} from './measure.js';
import { message, OASIS_BIN, offloadFeatures, sleep, systemBench } from './system.js';

const MTU = 1500;
const PORT = 9;
const BATCH = 256;

/**
 * The small-packet generator, run with `node --input-type=module -e` in A: one UDP socket, one
 * 18-byte payload, and an array of 256 `struct mmsghdr` (x86-64/aarch64 layout: msghdr 56 bytes,
 * msg_len, padding to 64) all pointing at it, handed to `sendmmsg(2)` until the time is up. Node's
 * dgram sends one datagram per call (about 100,000 a second here, as does `iperf3 -u -l 18`).
 * Prints `{"sent": N, "seconds": S, "errors": E}`.
 */
const GENERATOR = `
const { default: koffi } = await import('koffi');
const [addr, port, seconds] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const libc = koffi.load('libc.so.6');
const socket = libc.func('int socket(int, int, int)');
const sendmmsg = libc.func('int sendmmsg(int, void *, unsigned int, int)');
const fd = socket(2, 2, 0);
if (fd < 0) throw new Error('socket: errno ' + koffi.errno());
const mem = (n) => { const p = koffi.alloc('uint8_t', n); return [p, new DataView(koffi.view(p, n))]; };
const [name, nv] = mem(16);
nv.setUint16(0, 2, true); nv.setUint16(2, port, false);
addr.split('.').forEach((x, i) => nv.setUint8(4 + i, Number(x)));
const [payload] = mem(18);
const [iov, iv] = mem(16);
iv.setBigUint64(0, BigInt(koffi.address(payload)), true);
iv.setBigUint64(8, 18n, true);
const [msgs, mv] = mem(64 * ${BATCH});
for (let i = 0; i < ${BATCH}; i++) {
  mv.setBigUint64(i * 64, BigInt(koffi.address(name)), true);
  mv.setUint32(i * 64 + 8, 16, true);
  mv.setBigUint64(i * 64 + 16, BigInt(koffi.address(iov)), true);
  mv.setBigUint64(i * 64 + 24, 1n, true);
}
const t0 = performance.now();
const end = t0 + seconds * 1000;
let sent = 0, errors = 0;
while (performance.now() < end) {
  const n = sendmmsg(fd, msgs, ${BATCH}, 0);
  if (n > 0) sent += n; else errors++;
}
console.log(JSON.stringify({ sent, seconds: (performance.now() - t0) / 1000, errors }));
`;

export const GENERATOR_NAME =
  'sendmmsg(2) through koffi (bench/router.ts GENERATOR), one UDP socket, 256 datagrams of 18 bytes a call';

export interface PpsFigure {
  /** Datagrams the generator sent per second. */
  readonly offeredPps: number;
  /** Frames that reached B's interface per second. */
  readonly forwardedPps: number;
  readonly oasisCpuPercent?: number;
  readonly machineBusyPercent: number;
}

export interface LatencyFigure {
  readonly throughP50Us: number;
  readonly throughP99Us: number;
  readonly nearP50Us: number;
  readonly nearP99Us: number;
  readonly addedP50Us: number;
  readonly addedP99Us: number;
  readonly replies: number;
  readonly sent: number;
  readonly oasisCpuPercent?: number;
}

export interface RouterSide {
  readonly tcp: TcpFigure | Failed;
  readonly pps: PpsFigure | Failed;
  readonly latency: LatencyFigure | Failed;
}

export interface RouterResults {
  readonly date: string;
  /** `model name` of /proc/cpuinfo. */
  readonly cpuModel: string;
  readonly cpus: number;
  readonly kernel: string;
  readonly node: string;
  readonly mtu: number;
  readonly seconds: number;
  readonly offloads: { readonly linux: string; readonly oasis: string };
  readonly generator: { readonly name: string; readonly direct: PpsFigure | Failed };
  readonly linux: RouterSide | Failed;
  readonly oasis: RouterSide | Failed;
  /** Oasis over Linux: throughput and packet rate (higher is better), added latency (lower is better). */
  readonly ratios: {
    readonly tcp: number | null;
    readonly pps: number | null;
    readonly addedLatencyP50: number | null;
    readonly addedLatencyP99: number | null;
  };
  readonly oasisExit?: OasisExit;
  /** TCP with offloads on on both sides (absent in results from before they existed). */
  readonly offloadsOn?: OffloadsOn;
  /** `oasis router` on veth ends through AF_PACKET rings, offloads off (absent before it existed). */
  readonly packet?: PacketSide;
  /** The same with TPACKET_V2 receive rings (a wake-up per frame instead of per block). */
  readonly packetV2?: PacketSide;
  /** TPACKET_V3 with `tx-thread=off`: what the transmit thread buys (absent before it existed). */
  readonly packetNoThread?: PacketSide;
  /** The TAP router with `tx-thread=on` on its TAPs (absent before it existed). */
  readonly tapThread?: {
    readonly oasis: RouterSide | Failed;
    readonly ratios: { readonly tcp: number | null; readonly pps: number | null };
    readonly oasisExit?: OasisExit;
  };
}

type PacketRing = PacketTopologyOptions['ring'];

export interface PacketSide {
  /** The receive ring's TPACKET version (absent: v3, before both were measured). */
  readonly ring?: PacketRing;
  /** `tx-thread=off` on both interfaces (absent: the default, on with more than one CPU). */
  readonly txThread?: false;
  readonly oasis: RouterSide | Failed;
  /** Oasis over AF_PACKET over Linux, same run. */
  readonly ratios: { readonly tcp: number | null; readonly pps: number | null };
  readonly oasisExit?: OasisExit;
  /** The rings' counters Oasis printed on exit (per interface). */
  readonly rings?: Record<string, Record<string, number>>;
}

export interface OasisExit {
  readonly copiedPayloadBytes: number;
  /** Its `router/...` counters that are not zero: forwarded, and drops by reason. */
  readonly routerCounters: Record<string, number>;
  /** What became of super-frames and partial checksums (`oasis router` with offloads). */
  readonly offload?: Record<string, number>;
}

export interface OffloadsOn {
  readonly linuxOffloads: string;
  readonly oasisOffloads: string;
  readonly linux: TcpFigure | Failed;
  readonly oasis: TcpFigure | Failed;
  readonly ratios: {
    /** Oasis with offloads over Linux with offloads: like with like. */
    readonly tcp: number | null;
    /** Oasis with offloads over Linux without (the off rows' Linux figure, this run). */
    readonly tcpVsLinuxOff: number | null;
  };
  readonly oasisExit?: OasisExit;
}

// ---- the three measurements ----

async function tcp(topo: Topology, pid: number | undefined, seconds: number): Promise<TcpFigure> {
  const { a, b } = topo.hosts;
  const repeat = Math.max(1, Number(process.env.OASIS_BENCH_REPEAT ?? '3'));
  const server = await iperf3Server(b.ns);
  try {
    return await iperf3Figure(a.ns, b.ip, seconds, repeat, pid);
  } finally {
    server.kill('SIGKILL');
  }
}

/** The generator from `from` to `to:PORT`; the frames `to` received on `dev` per second. */
async function pps(
  from: NetNs,
  to: NetNs,
  dev: string,
  addr: string,
  pid: number | undefined,
  seconds: number,
): Promise<PpsFigure> {
  const rx0 = to.linkStats(dev).rxPackets;
  const { value: r, ...cpu } = await withCpu(pid, () =>
    from.exec(
      process.execPath,
      ['--input-type=module', '-e', GENERATOR, addr, `${PORT}`, `${seconds}`],
      (seconds + 30) * 1000,
    ),
  );
  // Let the router's queues drain into B before counting.
  await sleep(300);
  const rx = to.linkStats(dev).rxPackets - rx0;
  let out: { sent: number; seconds: number };
  try {
    out = JSON.parse(r.stdout) as { sent: number; seconds: number };
  } catch {
    throw new Error(`generator: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return { offeredPps: round(out.sent / out.seconds), forwardedPps: round(rx / out.seconds), ...cpu };
}

async function latency(topo: Topology, pid: number | undefined): Promise<LatencyFigure> {
  const { a, b } = topo.hosts;
  const count = Number(process.env.OASIS_BENCH_PINGS ?? '500');
  const run = async (target: string) => {
    const r = await ping(
      a.ns,
      target,
      ['-c', `${count}`, '-i', '0.01', '-W', '1'],
      (count * 0.01 + 30) * 1000,
    );
    const s = rttStats(r.output);
    if (s.received === 0) throw new Error(`ping ${target}: ${r.output.trim().split('\n').at(-1)}`);
    return s;
  };
  const near = await run(a.router);
  const { value: through, oasisCpuPercent } = await withCpu(pid, () => run(b.ip));
  return {
    throughP50Us: through.p50Us,
    throughP99Us: through.p99Us,
    nearP50Us: near.p50Us,
    nearP99Us: near.p99Us,
    addedP50Us: through.p50Us - near.p50Us,
    addedP99Us: through.p99Us - near.p99Us,
    replies: through.received,
    sent: through.sent,
    ...(oasisCpuPercent === undefined ? {} : { oasisCpuPercent }),
  };
}

async function side(
  name: string,
  topo: Topology,
  pid: number | undefined,
  seconds: number,
): Promise<RouterSide> {
  const { a, b } = topo.hosts;
  // Neighbours resolved on every hop before anything is timed (each host asks for the router first,
  // so that no forwarded packet waits for a resolution).
  for (const [from, target] of [
    [b, b.router],
    [a, a.router],
    [a, b.ip],
  ] as const) {
    const r = await ping(from.ns, target, ['-c', '3', '-i', '0.2', '-W', '1']);
    if (r.received === 0) throw new Error(`${name}: no path to ${target}`);
  }
  return {
    tcp: await attempt('router', `${name} TCP`, () => tcp(topo, pid, seconds)),
    pps: await attempt('router', `${name} 64-byte frames`, () => pps(a.ns, b.ns, b.dev, b.ip, pid, seconds)),
    latency: await attempt('router', `${name} latency`, () => latency(topo, pid)),
  };
}

/** Two namespaces on a veth pair (offloads off): the generator straight into a sink. */
async function direct(seconds: number): Promise<PpsFigure> {
  const [src, dst] = [NetNs.create(), NetNs.create()];
  try {
    const [ds, dd] = [uniqueIfName(), uniqueIfName()];
    src.run('ip', 'link', 'add', ds, 'mtu', `${MTU}`, 'type', 'veth', 'peer', 'name', dd, 'netns', dst.name);
    for (const [ns, dev, ip] of [
      [src, ds, '10.62.0.1/24'],
      [dst, dd, '10.62.0.2/24'],
    ] as const) {
      offloadsOff(ns, dev);
      ns.run('ip', 'addr', 'add', ip, 'dev', dev);
      ns.run('ip', 'link', 'set', dev, 'up');
    }
    await ping(src, '10.62.0.2', ['-c', '1', '-W', '1']);
    return await pps(src, dst, dd, '10.62.0.2', undefined, seconds);
  } finally {
    src.delete();
    dst.delete();
  }
}

export function run(): Promise<unknown> {
  return systemBench('router', ['iperf3', 'ping', 'ethtool', 'ss', 'getconf'], measure);
}

async function measure(): Promise<RouterResults> {
  const seconds = Number(process.env.OASIS_BENCH_SECONDS ?? '5');
  if (!Number.isInteger(seconds) || seconds < 1)
    throw new Error('OASIS_BENCH_SECONDS: not a whole number ≥ 1');

  const generatorDirect = await attempt('router', 'generator into a directly connected sink', () =>
    direct(seconds),
  );

  let linux: RouterSide | Failed;
  let linuxOffloads = '?';
  const reference = createLinuxTopology({ withC: false });
  try {
    linuxOffloads = `veth, every end: ${offloadFeatures(reference.hosts.a.ns, reference.hosts.a.dev)}`;
    linux = await side('Linux', reference, undefined, seconds);
  } catch (e) {
    linux = { error: message(e) };
  } finally {
    reference.delete();
  }

  const { oasis, oasisOffloads, oasisExit } = await tapSide(seconds, false);
  const l = value(linux);
  const o = value(oasis);
  const tapThread = await tapSide(seconds, true);
  const packet = await packetSide(seconds, l, 'v3');
  const packetV2 = await packetSide(seconds, l, 'v2');
  const packetNoThread = await packetSide(seconds, l, 'v3', false);
  const offloadsOn = await withOffloads(seconds, value(l?.tcp)?.gbps);
  return {
    date: new Date().toISOString(),
    cpuModel: cpuModel(),
    cpus: cpus().length,
    kernel: release(),
    node: process.version,
    mtu: MTU,
    seconds,
    offloads: { linux: linuxOffloads, oasis: oasisOffloads },
    generator: { name: GENERATOR_NAME, direct: generatorDirect },
    linux,
    oasis,
    ratios: {
      ...sideRatios(o, l),
      addedLatencyP50: ratio(value(o?.latency)?.addedP50Us, value(l?.latency)?.addedP50Us),
      addedLatencyP99: ratio(value(o?.latency)?.addedP99Us, value(l?.latency)?.addedP99Us),
    },
    ...(oasisExit === undefined ? {} : { oasisExit }),
    offloadsOn,
    packet,
    packetV2,
    packetNoThread,
    tapThread: {
      oasis: tapThread.oasis,
      ratios: sideRatios(value(tapThread.oasis), l),
      ...(tapThread.oasisExit === undefined ? {} : { oasisExit: tapThread.oasisExit }),
    },
  };
}

/** `oasis router --no-offload` on TAPs (`tx-thread=on` on each with `txThread`), offloads off on the kernel ends. */
async function tapSide(
  seconds: number,
  txThread: boolean,
): Promise<{ oasis: RouterSide | Failed; oasisOffloads: string; oasisExit?: OasisExit }> {
  let oasisOffloads = '?';
  const run = await onRouter(
    () =>
      createOasisTopology({
        wantSlaac: false,
        bin: OASIS_BIN,
        extraArgs: ['--no-offload'],
        ...(txThread ? { ifOptions: ['tx-thread=on'] } : {}),
      }),
    (topo) => {
      // The TAPs' kernel ends set like the veths; Oasis itself opens its TAPs without IFF_VNET_HDR
      // (--no-offload), so it gets and gives whole, checksummed frames: no offload on its side at all.
      for (const h of [topo.hosts.a, topo.hosts.b]) {
        offloadsOff(h.ns, h.dev); // what it keeps (fixed features) is recorded below
      }
      oasisOffloads = `TAP without IFF_VNET_HDR (no offloads in Oasis); kernel end: ${offloadFeatures(topo.hosts.a.ns, topo.hosts.a.dev)}`;
      return side(txThread ? 'Oasis, tx-thread=on' : 'Oasis', topo, topo.router!.pid, seconds);
    },
  );
  return { oasis: run.figure, oasisOffloads, ...(run.exit === undefined ? {} : { oasisExit: run.exit }) };
}

/**
 * Measures `oasis router` on a topology made by `create`, then stops the router and deletes the
 * topology: the figure (or the error that stopped it), and the router's exit figures and statistics.
 */
async function onRouter<F>(
  create: () => Promise<Topology>,
  measure: (topo: Topology) => Promise<F>,
): Promise<{ figure: F | Failed; exit?: OasisExit; stats?: RouterStats }> {
  let topo: Topology | undefined;
  try {
    topo = await create();
    const figure = await measure(topo);
    const { stats } = await topo.router!.stop();
    return { figure, exit: exitFigures(stats), stats };
  } catch (e) {
    return { figure: { error: message(e) } };
  } finally {
    topo?.delete();
  }
}

/** An Oasis side's TCP and 64-byte frame rates over Linux's in the same run. */
function sideRatios(
  oasis: RouterSide | undefined,
  linux: RouterSide | undefined,
): { tcp: number | null; pps: number | null } {
  return {
    tcp: ratio(value(oasis?.tcp)?.gbps, value(linux?.tcp)?.gbps),
    pps: ratio(value(oasis?.pps)?.forwardedPps, value(linux?.pps)?.forwardedPps),
  };
}

/** TCP, 64-byte frames and latency through `oasis router` over AF_PACKET, against this run's Linux. */
async function packetSide(
  seconds: number,
  linux: RouterSide | undefined,
  ring: PacketRing,
  txThread?: false,
): Promise<PacketSide> {
  const what = `Oasis over AF_PACKET (${ring}${txThread === false ? ', tx-thread=off' : ''})`;
  const run = await onRouter(
    () => createPacketTopology({ ring, bin: OASIS_BIN, ...(txThread === false ? { txThread } : {}) }),
    (topo) => side(what, topo, topo.router!.pid, seconds),
  );
  const rings = (run.stats as { packet?: Record<string, Record<string, number>> } | undefined)?.packet;
  return {
    ring,
    ...(txThread === false ? { txThread } : {}),
    oasis: run.figure,
    ratios: sideRatios(value(run.figure), linux),
    ...(run.exit === undefined ? {} : { oasisExit: run.exit }),
    ...(rings === undefined ? {} : { rings }),
  };
}

/** Every offload of a veth end on (ethtool -K), as a kernel sets them by default. */
function offloadsOn(ns: NetNs, dev: string): void {
  ns.run('ethtool', '-K', dev, ...['tx', 'rx', 'sg', 'tso', 'gso', 'gro'].flatMap((o) => [o, 'on']));
}

/** Neighbours resolved on every hop before anything is timed (as `side` does). */
async function warmUp(name: string, topo: Topology): Promise<void> {
  const { a, b } = topo.hosts;
  for (const [from, target] of [
    [b, b.router],
    [a, a.router],
    [a, b.ip],
  ] as const) {
    const r = await ping(from.ns, target, ['-c', '3', '-i', '0.2', '-W', '1']);
    if (r.received === 0) throw new Error(`${name}: no path to ${target}`);
  }
}

/** TCP A→B with offloads on on both sides; `linuxOffGbps` is this run's Linux figure without. */
async function withOffloads(seconds: number, linuxOffGbps: number | undefined): Promise<OffloadsOn> {
  let linux: TcpFigure | Failed;
  let linuxOffloads = '?';
  const reference = createLinuxTopology({ withC: false });
  try {
    for (const h of [reference.hosts.a, reference.hosts.b]) {
      offloadsOn(h.ns, h.dev);
      offloadsOn(reference.routerNs, reference.routerDevs[h.link]);
    }
    linuxOffloads = `veth, every end: ${offloadFeatures(reference.hosts.a.ns, reference.hosts.a.dev)}`;
    await warmUp('Linux with offloads', reference);
    linux = await attempt('router', 'Linux with offloads TCP', () => tcp(reference, undefined, seconds));
  } catch (e) {
    linux = { error: message(e) };
  } finally {
    reference.delete();
  }

  let oasisOffloads = '?';
  const run = await onRouter(
    // `oasis router` as it starts by default: TAPs with vnet headers, TSO and checksum offload.
    () => createOasisTopology({ wantSlaac: false, bin: OASIS_BIN }),
    async (topo): Promise<TcpFigure | Failed> => {
      oasisOffloads = `TAP with IFF_VNET_HDR (TSO4/6, checksum offload; super-frames forwarded whole); kernel end: ${offloadFeatures(topo.hosts.a.ns, topo.hosts.a.dev)}`;
      await warmUp('Oasis with offloads', topo);
      const pid = topo.router!.pid;
      return attempt('router', 'Oasis with offloads TCP', () => tcp(topo, pid, seconds));
    },
  );
  const og = value(run.figure)?.gbps;
  return {
    linuxOffloads,
    oasisOffloads,
    linux,
    oasis: run.figure,
    ratios: { tcp: ratio(og, value(linux)?.gbps), tcpVsLinuxOff: ratio(og, linuxOffGbps) },
    ...(run.exit === undefined ? {} : { oasisExit: run.exit }),
  };
}

function exitFigures(stats: RouterStats): OasisExit {
  const routerCounters = Object.fromEntries(
    Object.entries(stats.counters).filter(([k, v]) => k.startsWith('router/') && v > 0),
  );
  const offload = (stats as unknown as { offload?: Record<string, number> }).offload;
  return {
    copiedPayloadBytes: stats.copiedPayloadBytes,
    routerCounters,
    ...(offload === undefined ? {} : { offload }),
  };
}

// ---- summary ----

function results(x: unknown): RouterResults | undefined {
  return isRecord(x) && typeof x.date === 'string' && 'ratios' in x
    ? (x as unknown as RouterResults)
    : undefined;
}

export function chart(x: unknown): ChartGroup[] {
  const r = results(x);
  if (r === undefined) return [];
  return [
    {
      label: 'A→B through a router, TCP',
      bars: [
        { series: 'Oasis', gbps: value(value(r.oasis)?.tcp)?.gbps ?? null },
        { series: 'kernel', gbps: value(value(r.linux)?.tcp)?.gbps ?? null },
      ],
    },
    ...(r.offloadsOn === undefined
      ? []
      : [
          {
            label: 'A→B through a router, TCP, offloads on',
            bars: [
              { series: 'Oasis' as const, gbps: value(r.offloadsOn.oasis)?.gbps ?? null },
              { series: 'kernel' as const, gbps: value(r.offloadsOn.linux)?.gbps ?? null },
            ],
          },
        ]),
  ];
}

/** The router issue's goals: TCP and 64-byte forwarding at half the kernel's or better, added latency. */
export function goals(x: unknown): Goal[] {
  const r = results(x);
  const oasis = r === undefined ? undefined : value(r.oasis);
  const added = value(oasis?.latency)?.addedP50Us;
  const ratioGoal = (what: string, v: number | null | undefined): Goal => ({
    what,
    target: '≥ 0.5× Linux',
    ...(v === null || v === undefined ? {} : { figure: `${fmt(v, 2)}×`, met: v >= 0.5 }),
  });
  return [
    ratioGoal('router on TAPs, TCP A→B vs Linux forwarding on veths (offloads off both)', r?.ratios.tcp),
    ...(r?.tapThread === undefined
      ? []
      : [
          ratioGoal(
            'router on TAPs with tx-thread=on, TCP A→B vs Linux (offloads off both)',
            r.tapThread.ratios.tcp,
          ),
        ]),
    ...[r?.packet, r?.packetV2].flatMap((p) =>
      p === undefined
        ? []
        : [
            ratioGoal(
              `router on veths through AF_PACKET ${p.ring ?? 'v3'}, TCP A→B vs Linux on veths (offloads off both; the issue's setting)`,
              p.ratios.tcp,
            ),
          ],
    ),
    ratioGoal(
      'router, TCP A→B through Oasis vs Linux forwarding (offloads on both)',
      r?.offloadsOn?.ratios.tcp,
    ),
    ratioGoal('router, 64-byte frames forwarded vs Linux', r?.ratios.pps),
    {
      what: 'router, added latency p50 (through − to the near interface)',
      target: '≤ 100 µs',
      ...(added === undefined ? {} : { figure: `${Math.round(added)} µs`, met: added <= 100 }),
    },
  ];
}

export function markdown(x: unknown): string {
  const r = results(x);
  if (r === undefined) return '## router\n\nno results';
  const o = value(r.oasis);
  const l = value(r.linux);
  const failed = (s: RouterSide | undefined, f: (s: RouterSide) => unknown, all: RouterSide | Failed) => {
    if (s === undefined) return `failed: ${brief((all as Failed).error)}`;
    const v = f(s);
    return isRecord(v) && typeof v.error === 'string' ? `failed: ${brief(v.error)}` : undefined;
  };
  const cell = <T extends object>(
    s: RouterSide | undefined,
    all: RouterSide | Failed,
    pick: (s: RouterSide) => T | Failed,
    show: (v: T) => string,
  ) => failed(s, pick, all) ?? show(pick(s!) as T);
  const cpu = (v: { oasisCpuPercent?: number }) =>
    v.oasisCpuPercent === undefined ? '' : `; Oasis CPU ${fmt(v.oasisCpuPercent)} %`;
  const rows: string[][] = [
    [
      'TCP, iperf3 A→B, Gbit/s (median; runs)',
      cell(
        o,
        r.oasis,
        (s) => s.tcp,
        (v: TcpFigure) => `${fmt(v.gbps)} (${v.runs.map((g) => fmt(g)).join(', ')})${cpu(v)}`,
      ),
      cell(
        l,
        r.linux,
        (s) => s.tcp,
        (v: TcpFigure) => `${fmt(v.gbps)} (${v.runs.map((g) => fmt(g)).join(', ')})`,
      ),
      fmt(r.ratios.tcp, 2),
    ],
    [
      '64-byte frames forwarded, packets/s (offered)',
      cell(
        o,
        r.oasis,
        (s) => s.pps,
        (v: PpsFigure) => `${fmt(v.forwardedPps)} (${fmt(v.offeredPps)})${cpu(v)}`,
      ),
      cell(
        l,
        r.linux,
        (s) => s.pps,
        (v: PpsFigure) => `${fmt(v.forwardedPps)} (${fmt(v.offeredPps)})`,
      ),
      fmt(r.ratios.pps, 2),
    ],
    [
      'added latency p50 / p99, µs (through − near)',
      cell(
        o,
        r.oasis,
        (s) => s.latency,
        (v: LatencyFigure) => `${v.addedP50Us} / ${v.addedP99Us}${cpu(v)}`,
      ),
      cell(
        l,
        r.linux,
        (s) => s.latency,
        (v: LatencyFigure) => `${v.addedP50Us} / ${v.addedP99Us}`,
      ),
      `${fmt(r.ratios.addedLatencyP50, 2)} / ${fmt(r.ratios.addedLatencyP99, 2)}`,
    ],
    [
      'ping through / to the near interface, p50 µs',
      cell(
        o,
        r.oasis,
        (s) => s.latency,
        (v: LatencyFigure) => `${v.throughP50Us} / ${v.nearP50Us}`,
      ),
      cell(
        l,
        r.linux,
        (s) => s.latency,
        (v: LatencyFigure) => `${v.throughP50Us} / ${v.nearP50Us}`,
      ),
      '',
    ],
  ];
  const busy = (s: RouterSide | undefined) => {
    const t = value(s?.tcp);
    const p = value(s?.pps);
    return `${t ? fmt(t.machineBusyPercent) : '—'} % (TCP), ${p ? fmt(p.machineBusyPercent) : '—'} % (64-byte frames)`;
  };
  const d = value(r.generator.direct);
  return [
    `## Router: A→B through \`oasis router\` and through Linux (MTU ${r.mtu}, ${r.seconds} s per case)`,
    '',
    `Measured ${r.date} on ${r.cpuModel} (${r.cpus} CPUs), kernel ${r.kernel}, Node ${r.node}.`,
    `Linux reference: a namespace with forwarding on, ${r.offloads.linux}. Oasis: ${r.offloads.oasis}.`,
    `64-byte frames come from one generator, ${r.generator.name}; into a directly connected sink it`,
    `offers ${d ? fmt(d.offeredPps) : '—'} packets/s and the sink receives ${d ? fmt(d.forwardedPps) : '—'}.`,
    "Through Linux on veths the forwarding runs in the sender's own softirq, on the generator's CPU, so",
    "Linux's packet rate is bounded by the generator's (offered = forwarded); through Oasis the TAP queues",
    "the frames for Oasis's process and drops what does not fit. Oasis answers a ping to itself through",
    'its host stack, a longer path than forwarding: "added" latency can come out below zero. Machine busy',
    `(all CPUs, other load included): Oasis ${busy(o)}; Linux ${busy(l)}. Ratios are Oasis/Linux.`,
    '',
    table(['A→B', 'Oasis', 'Linux', 'Oasis/Linux'], rows),
    ...(r.packet === undefined ? [] : packetLines(r.packet, r)),
    ...(r.packetV2 === undefined ? [] : packetLines(r.packetV2, r)),
    ...(r.packetNoThread === undefined ? [] : packetLines(r.packetNoThread, r)),
    ...(r.tapThread === undefined ? [] : tapThreadLines(r.tapThread)),
    ...(r.offloadsOn === undefined ? [] : offloadLines(r.offloadsOn)),
    ...(r.oasisExit === undefined
      ? []
      : [
          '',
          `On exit Oasis reported copiedPayloadBytes ${r.oasisExit.copiedPayloadBytes}; router counters: ${
            Object.entries(r.oasisExit.routerCounters ?? {})
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || 'none'
          }.`,
        ]),
  ].join('\n');
}

/** Oasis over AF_PACKET beside Oasis over TAP and Linux, offloads off everywhere. */
function packetLines(p: PacketSide, r: RouterResults): string[] {
  const o = value(p.oasis);
  const tap = value(r.oasis);
  const l = value(r.linux);
  const fail = (v: unknown) => `failed: ${brief((v as Failed).error)}`;
  const cpu = (t: { oasisCpuPercent?: number }) =>
    t.oasisCpuPercent === undefined ? '' : `; Oasis CPU ${fmt(t.oasisCpuPercent)} %`;
  const tcpCell = (v: TcpFigure | Failed | undefined) => {
    const t = value(v);
    if (t === undefined) return v === undefined ? '—' : fail(v);
    return `${fmt(t.gbps)} (${t.runs.map((g) => fmt(g)).join(', ')})${cpu(t)}`;
  };
  const ppsCell = (v: PpsFigure | Failed | undefined) => {
    const t = value(v);
    if (t === undefined) return v === undefined ? '—' : fail(v);
    return `${fmt(t.forwardedPps)} (${fmt(t.offeredPps)})${cpu(t)}`;
  };
  const latCell = (v: LatencyFigure | Failed | undefined) => {
    const t = value(v);
    if (t === undefined) return v === undefined ? '—' : fail(v);
    return `${t.addedP50Us} / ${t.addedP99Us} (through: ${t.throughP50Us} p50)`;
  };
  const all = o === undefined ? fail(p.oasis) : undefined;
  return [
    '',
    p.txThread === false
      ? 'The same (TPACKET_V3) with `tx-thread=off`: every `send()` made by the event loop, so the kernel ' +
        'delivers to the veth\'s peer on the event loop\'s thread (docs/PACKET.md "The transmit thread"):'
      : p.ring === 'v2'
        ? 'The same with TPACKET_V2 receive rings (`ring=v2`: fixed slots, a wake-up per frame):'
        : 'Oasis on veth ends through AF_PACKET rings (`--if NAME,kind=packet`: a TPACKET_V3 receive ring whose ' +
          'blocks go up when full or at their retire timer, a PACKET_TX_RING; docs/PACKET.md), the Linux ' +
          "reference's picture with Oasis in the middle namespace, offloads off on every end:",
    '',
    table(
      [
        'A→B, offloads off',
        `Oasis, AF_PACKET ${p.ring ?? 'v3'}${p.txThread === false ? ', tx-thread=off' : ''}`,
        'Oasis, TAP',
        'Linux',
        'AF_PACKET/Linux',
      ],
      [
        [
          'TCP, iperf3 A→B, Gbit/s (median; runs)',
          all ?? tcpCell(o!.tcp),
          tcpCell(tap?.tcp),
          tcpCell(l?.tcp),
          fmt(p.ratios.tcp, 2),
        ],
        [
          '64-byte frames forwarded, packets/s (offered)',
          all ?? ppsCell(o!.pps),
          ppsCell(tap?.pps),
          ppsCell(l?.pps),
          fmt(p.ratios.pps, 2),
        ],
        [
          'added latency p50 / p99, µs',
          all ?? latCell(o!.latency),
          latCell(tap?.latency),
          latCell(l?.latency),
          '',
        ],
      ],
    ),
    ...(p.rings === undefined
      ? []
      : [
          '',
          `AF_PACKET rings on exit: ${Object.entries(p.rings)
            .map(
              ([name, c]) =>
                `${name}: ${Object.entries(c)
                  .filter(([, v]) => v > 0)
                  .map(([k, v]) => `${k} ${v}`)
                  .join(', ')}`,
            )
            .join('; ')}.`,
        ]),
  ];
}

/** The TAP router with `tx-thread=on`: its TCP and 64-byte figures against this run's Linux. */
function tapThreadLines(t: NonNullable<RouterResults['tapThread']>): string[] {
  const o = value(t.oasis);
  if (o === undefined)
    return ['', `The TAP router with \`tx-thread=on\`: failed: ${brief((t.oasis as Failed).error)}`];
  const tcp = value(o.tcp);
  const pps = value(o.pps);
  return [
    '',
    'The TAP router with `tx-thread=on` on its TAPs (each frame copied once into a thread that writes it,',
    "so the kernel's receive path behind the TAP runs beside the event loop; docs/TAP.md): TCP " +
      `${tcp ? `${fmt(tcp.gbps)} Gbit/s (${tcp.runs.map((g) => fmt(g)).join(', ')}; Oasis CPU ${fmt(tcp.oasisCpuPercent)} %)` : 'failed'}` +
      `, ${fmt(t.ratios.tcp, 2)}× Linux; 64-byte frames ${pps ? `${fmt(pps.forwardedPps)} /s (offered ${fmt(pps.offeredPps)})` : 'failed'}` +
      `, ${fmt(t.ratios.pps, 2)}× Linux.`,
  ];
}

/** The offloads-on TCP row: both figures, and Oasis against Linux with and without offloads. */
function offloadLines(on: OffloadsOn): string[] {
  const show = (v: TcpFigure | Failed) => {
    const t = value(v);
    if (t === undefined) return `failed: ${brief((v as Failed).error)}`;
    const cpu = t.oasisCpuPercent === undefined ? '' : `; Oasis CPU ${fmt(t.oasisCpuPercent)} %`;
    return `${fmt(t.gbps)} (${t.runs.map((g) => fmt(g)).join(', ')})${cpu}`;
  };
  return [
    '',
    `With offloads on on both sides (Linux: ${on.linuxOffloads}; Oasis: ${on.oasisOffloads}):`,
    '',
    table(
      ['A→B, offloads on', 'Oasis', 'Linux', 'Oasis/Linux', 'Oasis/Linux without offloads'],
      [
        [
          'TCP, iperf3 A→B, Gbit/s (median; runs)',
          show(on.oasis),
          show(on.linux),
          fmt(on.ratios.tcp, 2),
          fmt(on.ratios.tcpVsLinuxOff, 2),
        ],
      ],
    ),
    ...(on.oasisExit?.offload === undefined
      ? []
      : [
          '',
          `Oasis's exit counters: ${Object.entries(on.oasisExit.offload)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}; copiedPayloadBytes ${on.oasisExit.copiedPayloadBytes}.`,
        ]),
  ];
}
