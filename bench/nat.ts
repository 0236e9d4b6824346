/**
 * NAT: `oasis router --masquerade` against Linux nftables masquerade, same run, same machine, A→B at
 * MTU 1500, B with no route back to A's prefix (only the translation makes a conversation work).
 * - Oasis: namespaces R, A, B; `oasis router` in R with a TAP into A (10.61.1.0/24) and one into B
 *   (10.61.2.0/24), `--masquerade A,B --no-offload`; the TAPs' kernel ends with offloads off.
 * - Linux: namespace L with forwarding on and a veth pair to each of A', B' (test/support/topology.ts,
 *   offloads off on every end) and `type nat hook postrouting` ... `oif B masquerade` in nftables.
 * - Oasis on veths: Linux's picture with `oasis router --masquerade` in L's place on its veth ends
 *   through AF_PACKET (`kind=packet,ring=v2`), the issue's own setting (veth, offloads off).
 * For each:
 * - TCP: iperf3 3.12 A→B, the median of OASIS_BENCH_REPEAT runs (3) of OASIS_BENCH_SECONDS (5);
 * - new connections: CONNECTOR (one python3 process in A) connects, waits for the server's close and
 *   closes, in a loop, round-robin over PORTS server ports of ACCEPTOR in B, for the same seconds;
 *   the median rate of the same number of runs. B closes first, so TIME-WAIT stays in B and A's
 *   ephemeral ports come back at once; spreading over ports keeps the RFC 5382 holds on a closed
 *   mapping (a new flow from the same inside port to the same server) from throttling the loop.
 * - CPU: Oasis's own (utime + stime) during each run, and the machine's busy share.
 * Writes bench/results/nat.json, or `{ skipped }` where TAPs cannot be made.
 */
import { cpus, release } from 'node:os';
import { NetNs, uniqueIfName, waitFor } from '../test/support/netns.js';
import {
  createLinuxTopology,
  createPacketTopology,
  iperf3Server,
  offloadsOff,
  ping,
  type RouterStats,
  startRouter,
} from '../test/support/topology.js';
import { brief, fmt, type Goal, isRecord, round, table } from './summary.js';
import {
  attempt,
  cpuModel,
  type Failed,
  iperf3Figure,
  median,
  ratio,
  type TcpFigure,
  value,
  withCpu,
} from './measure.js';
import { message, OASIS_BIN, sleep, systemBench } from './system.js';

const MTU = 1500;
const A_NET = { router: '10.61.1.1/24', host: '10.61.1.2/24', gw: '10.61.1.1' };
const B_NET = { router: '10.61.2.1/24', host: '10.61.2.2/24', ip: '10.61.2.2' };
const BASE_PORT = 7100;
const PORTS = 16;

/** B's server: accepts on PORTS ports and closes each connection at once. Prints `listening`. */
const ACCEPTOR = `
import selectors, socket, sys
addr, base, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sel = selectors.DefaultSelector()
for p in range(base, base + n):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, p)); s.listen(4096); s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
print('listening', flush=True)
while True:
    for key, _ in sel.select():
        while True:
            try:
                c, _ = key.fileobj.accept()
            except BlockingIOError:
                break
            c.close()
`;

/** A's client: connect, read to the server's FIN, close; round-robin over ports until time is up. */
const CONNECTOR = `
import json, socket, sys, time
addr, base, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
done = failed = 0
t0 = time.monotonic(); end = t0 + seconds; i = 0
while time.monotonic() < end:
    try:
        s = socket.create_connection((addr, base + i % n), timeout=2)
        s.recv(1)
        s.close()
        done += 1
    except OSError:
        failed += 1
    i += 1
print(json.dumps({'connections': done, 'failed': failed, 'seconds': time.monotonic() - t0}))
`;

export interface ConnFigure {
  /** Completed connections (SYN to close) per second, the median run. */
  readonly perSecond: number;
  readonly runs: readonly number[];
  /** Connection attempts that failed (timeout, refused) in the median run. */
  readonly failed: number;
  readonly oasisCpuPercent?: number;
  readonly machineBusyPercent: number;
}

export interface NatSide {
  readonly tcp: TcpFigure | Failed;
  readonly connections: ConnFigure | Failed;
}

export interface NatResults {
  readonly date: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly kernel: string;
  readonly node: string;
  readonly mtu: number;
  readonly seconds: number;
  readonly repeat: number;
  readonly generator: string;
  readonly linux: NatSide | Failed;
  /** Oasis on TAPs. */
  readonly oasis: NatSide | Failed;
  /** Oasis on veth ends through AF_PACKET rings (absent in runs before it was measured). */
  readonly oasisPacket?: NatSide | Failed;
  /** Oasis over Linux (higher is better). */
  readonly ratios: {
    readonly tcp: number | null;
    readonly connections: number | null;
    readonly tcpPacket?: number | null;
    readonly connectionsPacket?: number | null;
  };
  readonly oasisExit?: {
    readonly routerCounters: Record<string, number>;
    /** The exit JSON's `nat` section (mappings made, refused, ...) as the router printed it. */
    readonly nat?: unknown;
  };
}

// ---- the two measurements ----

async function tcp(a: NetNs, b: NetNs, pid: number | undefined, seconds: number, repeat: number) {
  const server = await iperf3Server(b);
  try {
    return await iperf3Figure(a, B_NET.ip, seconds, repeat, pid);
  } finally {
    server.kill('SIGKILL');
  }
}

async function connections(
  a: NetNs,
  b: NetNs,
  pid: number | undefined,
  seconds: number,
  repeat: number,
): Promise<ConnFigure> {
  const server = b.spawn('python3', ['-c', ACCEPTOR, B_NET.ip, `${BASE_PORT}`, `${PORTS}`]);
  let out = '';
  server.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  try {
    await waitFor(
      'the acceptor to listen',
      () => out.includes('listening') || server.exitCode !== null,
      10_000,
    );
    if (server.exitCode !== null) throw new Error('the acceptor exited');
    const runs: Omit<ConnFigure, 'runs'>[] = [];
    for (let i = 0; i < repeat; i++) {
      const { value: r, ...cpu } = await withCpu(pid, () =>
        a.exec(
          'python3',
          ['-c', CONNECTOR, B_NET.ip, `${BASE_PORT}`, `${PORTS}`, `${seconds}`],
          (seconds + 30) * 1000,
        ),
      );
      let doc: { connections: number; failed: number; seconds: number };
      try {
        doc = JSON.parse(r.stdout) as typeof doc;
      } catch {
        throw new Error(`connector: ${r.stderr.trim() || r.stdout.trim()}`);
      }
      if (doc.connections === 0) throw new Error(`no connection completed (${doc.failed} failed)`);
      runs.push({ perSecond: round(doc.connections / doc.seconds), failed: doc.failed, ...cpu });
      // Let the last closes finish before the next run.
      await sleep(500);
    }
    return { ...median(runs, (r) => r.perSecond), runs: runs.map((r) => r.perSecond) };
  } finally {
    server.kill('SIGKILL');
  }
}

async function side(
  name: string,
  a: NetNs,
  b: NetNs,
  pid: number | undefined,
  seconds: number,
  repeat: number,
) {
  // B has no route back: only the masquerade lets A reach it.
  const r = await ping(a, B_NET.ip, ['-c', '3', '-i', '0.2', '-W', '1']);
  if (r.received === 0) throw new Error(`${name}: no path from A to B through the NAT`);
  return {
    tcp: await attempt('nat', `${name} TCP`, () => tcp(a, b, pid, seconds, repeat)),
    connections: await attempt('nat', `${name} new connections`, () =>
      connections(a, b, pid, seconds, repeat),
    ),
  };
}

async function linuxSide(seconds: number, repeat: number): Promise<NatSide> {
  const topo = createLinuxTopology({ withC: false });
  try {
    const { a, b } = topo.hosts;
    b.ns.run('ip', 'route', 'del', 'default');
    const l = topo.routerNs;
    l.run('nft', 'add table ip oasis_nat');
    l.run('nft', 'add chain ip oasis_nat post { type nat hook postrouting priority srcnat; }');
    l.run('nft', `add rule ip oasis_nat post oif ${topo.routerDevs.b} masquerade`);
    return await side('Linux', a.ns, b.ns, undefined, seconds, repeat);
  } finally {
    topo.delete();
  }
}

async function oasisSide(
  seconds: number,
  repeat: number,
): Promise<{ side: NatSide; exit?: NonNullable<NatResults['oasisExit']> }> {
  const spaces: NetNs[] = [];
  try {
    for (let i = 0; i < 3; i++) spaces.push(NetNs.create());
    const [r, a, b] = spaces as [NetNs, NetNs, NetNs];
    const [tapA, tapB] = [uniqueIfName(), uniqueIfName()];
    const router = await startRouter(
      r,
      [
        '--if',
        `${tapA},ip=${A_NET.router},mtu=${MTU},netns=${a.name},host-ip=${A_NET.host}`,
        '--if',
        `${tapB},ip=${B_NET.router},mtu=${MTU},netns=${b.name},host-ip=${B_NET.host}`,
        '--masquerade',
        `${tapA},${tapB}`,
        // Like the veths of the nftables side: no offloads (no vnet headers on the TAPs).
        '--no-offload',
      ],
      { bin: OASIS_BIN },
    );
    try {
      for (const [ns, dev] of [
        [a, tapA],
        [b, tapB],
      ] as const) {
        offloadsOff(ns, dev);
      }
      a.run('ip', 'route', 'add', 'default', 'via', A_NET.gw);
      const s = await side('Oasis', a, b, router.pid, seconds, repeat);
      const { stats } = await router.stop();
      return { side: s, exit: exitFigures(stats) };
    } finally {
      if (router.child.exitCode === null) router.child.kill('SIGKILL');
    }
  } finally {
    for (const ns of spaces) ns.delete();
  }
}

/** `oasis router --masquerade` on the veth ends of Linux's picture, through AF_PACKET rings. */
async function oasisPacketSide(seconds: number, repeat: number): Promise<NatSide> {
  const topo = await createPacketTopology({
    ring: 'v2',
    bin: OASIS_BIN,
    extraArgs: (devs) => ['--masquerade', `${devs.a},${devs.b}`],
  });
  try {
    const { a, b } = topo.hosts;
    b.ns.run('ip', 'route', 'del', 'default');
    return await side('Oasis over AF_PACKET', a.ns, b.ns, topo.router!.pid, seconds, repeat);
  } finally {
    topo.delete();
  }
}

function exitFigures(stats: RouterStats): NonNullable<NatResults['oasisExit']> {
  const nat = (stats as RouterStats & { nat?: unknown }).nat;
  return {
    ...(nat === undefined ? {} : { nat }),
    routerCounters: Object.fromEntries(
      Object.entries(stats.counters).filter(
        ([k, v]) => (k.startsWith('router/') || k.startsWith('conntrack/') || k.startsWith('nat/')) && v > 0,
      ),
    ),
  };
}

export function run(): Promise<unknown> {
  return systemBench('nat', ['iperf3', 'ping', 'ethtool', 'nft', 'python3', 'getconf'], measure);
}

async function measure(): Promise<NatResults> {
  const seconds = Number(process.env.OASIS_BENCH_SECONDS ?? '5');
  if (!Number.isInteger(seconds) || seconds < 1)
    throw new Error('OASIS_BENCH_SECONDS: not a whole number ≥ 1');
  const repeat = Math.max(1, Number(process.env.OASIS_BENCH_REPEAT ?? '3'));

  let linux: NatSide | Failed;
  try {
    linux = await linuxSide(seconds, repeat);
  } catch (e) {
    linux = { error: message(e) };
  }
  let oasis: NatSide | Failed;
  let oasisExit: NatResults['oasisExit'];
  try {
    const o = await oasisSide(seconds, repeat);
    oasis = o.side;
    oasisExit = o.exit;
  } catch (e) {
    oasis = { error: message(e) };
  }
  let oasisPacket: NatSide | Failed;
  try {
    oasisPacket = await oasisPacketSide(seconds, repeat);
  } catch (e) {
    oasisPacket = { error: message(e) };
  }
  const l = value(linux);
  const o = value(oasis);
  const op = value(oasisPacket);
  return {
    date: new Date().toISOString(),
    cpuModel: cpuModel(),
    cpus: cpus().length,
    kernel: release(),
    node: process.version,
    mtu: MTU,
    seconds,
    repeat,
    generator: `python3 connect/recv-to-FIN/close loop, one process, round-robin over ${PORTS} server ports`,
    linux,
    oasis,
    oasisPacket,
    ratios: {
      tcp: ratio(value(o?.tcp)?.gbps, value(l?.tcp)?.gbps),
      connections: ratio(value(o?.connections)?.perSecond, value(l?.connections)?.perSecond),
      tcpPacket: ratio(value(op?.tcp)?.gbps, value(l?.tcp)?.gbps),
      connectionsPacket: ratio(value(op?.connections)?.perSecond, value(l?.connections)?.perSecond),
    },
    ...(oasisExit === undefined ? {} : { oasisExit }),
  };
}

// ---- summary ----

function results(x: unknown): NatResults | undefined {
  return isRecord(x) && typeof x.date === 'string' && 'ratios' in x
    ? (x as unknown as NatResults)
    : undefined;
}

/** The NAT issue's goals: TCP throughput and new-connection rate at half nftables' or better. */
export function goals(x: unknown): Goal[] {
  const r = results(x);
  const ratioGoal = (what: string, v: number | null | undefined): Goal => ({
    what,
    target: '≥ 0.5× nftables',
    ...(v === null || v === undefined ? {} : { figure: `${fmt(v, 2)}×`, met: v >= 0.5 }),
  });
  return [
    ratioGoal('NAT, TCP A→B through Oasis masquerade vs nftables masquerade (TAPs)', r?.ratios.tcp),
    ratioGoal(
      'NAT, TCP A→B through Oasis masquerade on veths (AF_PACKET v2) vs nftables',
      r?.ratios.tcpPacket,
    ),
    ratioGoal('NAT, new TCP connections per second vs nftables (TAPs)', r?.ratios.connections),
    ratioGoal(
      'NAT, new TCP connections per second on veths (AF_PACKET v2) vs nftables',
      r?.ratios.connectionsPacket,
    ),
  ];
}

export function markdown(x: unknown): string {
  const r = results(x);
  if (r === undefined) return '## nat\n\nno results';
  const cell = <T extends object>(
    all: NatSide | Failed,
    pick: (s: NatSide) => T | Failed,
    show: (v: T) => string,
  ) => {
    if ('error' in all) return `failed: ${brief(all.error)}`;
    const v = pick(all);
    return 'error' in v ? `failed: ${brief((v as Failed).error)}` : show(v as T);
  };
  const cpu = (v: { oasisCpuPercent?: number; machineBusyPercent: number }) =>
    `${v.oasisCpuPercent === undefined ? '' : `; Oasis CPU ${fmt(v.oasisCpuPercent)} %`}; machine ${fmt(v.machineBusyPercent)} %`;
  const packet = r.oasisPacket ?? { error: 'not measured' };
  const rows = [
    [
      'TCP, iperf3 A→B, Gbit/s (median; runs)',
      ...[r.oasis, packet, r.linux].map((s) =>
        cell(
          s,
          (x) => x.tcp,
          (v: TcpFigure) => `${fmt(v.gbps)} (${v.runs.map((g) => fmt(g)).join(', ')})${cpu(v)}`,
        ),
      ),
      `${fmt(r.ratios.tcp, 2)} / ${fmt(r.ratios.tcpPacket, 2)}`,
    ],
    [
      'new TCP connections/s (median; runs)',
      ...[r.oasis, packet, r.linux].map((s) =>
        cell(
          s,
          (x) => x.connections,
          (v: ConnFigure) =>
            `${fmt(v.perSecond)} (${v.runs.map((g) => fmt(g)).join(', ')}); failed ${v.failed}${cpu(v)}`,
        ),
      ),
      `${fmt(r.ratios.connections, 2)} / ${fmt(r.ratios.connectionsPacket, 2)}`,
    ],
  ];
  return [
    `## NAT: A→B through \`oasis router --masquerade\` and through nftables masquerade (MTU ${r.mtu}, ${r.seconds} s × ${r.repeat})`,
    '',
    `Measured ${r.date} on ${r.cpuModel} (${r.cpus} CPUs), kernel ${r.kernel}, Node ${r.node}.`,
    'Linux: a namespace with forwarding on, veths with offloads off, `nft ... type nat hook postrouting ...',
    "masquerade`. Oasis: TAPs without vnet headers (`--no-offload`), kernel ends' offloads off; and on Linux's veth",
    "ends through AF_PACKET rings (`kind=packet,ring=v2`), offloads off. B has no route back to A's prefix.",
    `New connections: ${r.generator}; B accepts and closes first. Ratios are Oasis/Linux.`,
    '',
    table(
      ['A→B', 'Oasis, TAPs', 'Oasis, AF_PACKET v2', 'Linux (nftables)', 'Oasis/Linux (TAPs / AF_PACKET)'],
      rows,
    ),
    ...(r.oasisExit === undefined
      ? []
      : [
          '',
          `On exit Oasis's counters: ${
            Object.entries(r.oasisExit.routerCounters)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || 'none'
          }${r.oasisExit.nat === undefined ? '' : `; NAT: \`${JSON.stringify(r.oasisExit.nat)}\``}.`,
        ]),
  ].join('\n');
}
