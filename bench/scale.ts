/**
 * Scale (issue #11 §4): OASIS_SCALE_CONNS (default 100,000) concurrent TCP connections between two
 * Oasis stacks in one process, on virtual time, all established and idle, through the public socket
 * API (`tcp.connect` / `createServer`, a `TcpSocket` per end).
 *
 * - Addresses and ports: one address pair, and as many server ports as keep each (address pair,
 *   server port) under PER_PORT connections — the ephemeral range holds 16,384 (RFC 6056 §2.1:
 *   49152-65535), and the port search slows down as a range fills.
 * - Memory: after a full collection (`node --expose-gc`, or the flag set at run time), heap used,
 *   RSS and off-heap bytes before the connections and with all of them held; per endpoint (one TCB
 *   and one socket, as on a host that holds one end) and per connection (both ends, both here).
 * - Per-segment cost: ECHO_CONNS connections echo OASIS_SCALE_ROUNDS (default 2000) small messages
 *   (the server writes back what it reads), timed on the wall clock and divided by the frames both
 *   links carried, first with only 10 connections open and then with all of them; the goal is a
 *   ratio within 1.5×. The process's CPU time per frame is reported beside it: on a shared machine
 *   it moves less with other load than the wall clock does.
 *
 * Virtual time is fired back to back (`scheduler.runUntil`), with one event-loop turn per batch or
 * round so that the streams' queued callbacks run: the timing measures the stack, not the runner.
 * `OASIS_SCALE_CONNS=2000` is the quick variant (a few seconds). Writes bench/results/scale.json.
 */
import { ipv4, ipv4ToString } from '../src/addr.js';
import { VirtualScheduler } from '../src/clock.js';
import type { Link } from '../src/link/link.js';
import { memoryPair } from '../src/link/memory.js';
import { Stack } from '../src/stack/stack.js';
import type { TcpSocket } from '../src/stack/tcp.js';
import { collector, cpuModel } from './measure.js';
import { type Goal, fmt, isRecord, metText, round, table, writeResults } from './summary.js';

const CONNS = Math.max(10, Number(process.env.OASIS_SCALE_CONNS ?? '100000'));
/** At most this many connections per (address pair, server port): ~70 % of the ephemeral range. */
const PER_PORT = 11_500;
/** Connections opened together: each port's share stays under the listen backlog (128). */
const BATCH = 512;
const SMALL = 10;
const ECHO_CONNS = 4;
const ECHO_ROUNDS = Number(process.env.OASIS_SCALE_ROUNDS ?? '2000');
const ECHO_BYTES = 64;
/** Runs of the echo at each size; the median is kept. */
const ECHO_RUNS = 5;
const GOAL_RATIO = 1.5;
const GOAL_KB = 4;
const CLIENT = ipv4(10, 0, 0, 1);
const SERVER = ipv4(10, 0, 0, 2);
const FIRST_PORT = 7000;
/** Past the delayed ACK (40 ms): every round ends with nothing left to send. */
const ROUND_MS = 50;

export interface MemoryFigures {
  readonly heapUsed: number;
  readonly rss: number;
  /** Off-heap memory the JS objects hold (ArrayBuffers and the like). */
  readonly external: number;
}

export interface EchoFigure {
  /** Connections open while measuring. */
  readonly open: number;
  /** Median ns of wall clock per frame carried (both directions), and every run's, sorted. */
  readonly nsPerSegment: number;
  readonly runs: readonly number[];
  /** Median ns of this process's CPU time (every thread: GC helpers too) per frame: less moved by other load. */
  readonly cpuNsPerSegment: number;
  readonly framesPerRun: number;
}

export interface ScaleResults {
  readonly date: string;
  readonly cpu: string;
  readonly node: string;
  readonly connections: number;
  readonly serverPorts: number;
  /** Whether memory was read after a full collection. */
  readonly gc: boolean;
  readonly setupSeconds: number;
  readonly before: MemoryFigures;
  readonly held: MemoryFigures;
  /** Bytes per endpoint (half a connection): heap, RSS, off-heap. */
  readonly perEndpoint: MemoryFigures;
  /** States the stacks' cores hold, checked: every connection established on both sides. */
  readonly established: { readonly client: number; readonly server: number };
  readonly echoSmall: EchoFigure;
  readonly echoLarge: EchoFigure;
  /** echoLarge over echoSmall, wall clock (the goal's figure) and CPU time. */
  readonly ratio: number;
  readonly cpuRatio: number;
}

interface World {
  readonly scheduler: VirtualScheduler;
  readonly client: Stack;
  readonly server: Stack;
  readonly links: readonly [Link, Link];
  readonly clients: TcpSocket[];
  readonly servers: TcpSocket[];
  readonly ports: number;
  close(): Promise<void>;
}

/** One event-loop turn: nextTick and promise jobs queued by the streams run. */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function world(conns: number): World {
  const scheduler = new VirtualScheduler();
  const links = memoryPair(scheduler, { mtu: 1500 });
  // Room for every connection; buffers stay at their defaults (they are not allocated while idle).
  const tcp = { maxConnections: conns + 1024 };
  const client = new Stack({ scheduler, seed: 1, tcp });
  const server = new Stack({ scheduler, seed: 2, tcp });
  client.addInterface({ link: links[0], ipv4: [{ address: CLIENT, prefixLen: 24 }], ipv6Enabled: false });
  server.addInterface({ link: links[1], ipv4: [{ address: SERVER, prefixLen: 24 }], ipv6Enabled: false });
  const ports = Math.ceil(conns / PER_PORT);
  const servers: TcpSocket[] = [];
  for (let p = 0; p < ports; p++) server.tcp.createServer((s) => servers.push(s)).listen(FIRST_PORT + p);
  return {
    scheduler,
    client,
    server,
    links,
    clients: [],
    servers,
    ports,
    close: async () => {
      await Promise.all([client.close(), server.close()]);
    },
  };
}

/** Fires every timer due now, then moves time on by `ms` (firing what falls due), then one turn. */
async function step(w: World, ms: number): Promise<void> {
  w.scheduler.runUntil(w.scheduler.now());
  w.scheduler.advance(ms);
  await turn();
}

/** Opens `n` more connections, BATCH at a time, and waits until both ends of each are up. */
async function open(w: World, n: number): Promise<void> {
  let connected = w.clients.length;
  let failed: Error | undefined;
  const target = w.clients.length + n;
  while (w.clients.length < target) {
    const k = Math.min(BATCH, target - w.clients.length);
    for (let i = 0; i < k; i++) {
      const port = FIRST_PORT + (w.clients.length % w.ports);
      const s = w.client.tcp.connect({ host: ipv4ToString(SERVER), port }, () => {
        connected++;
      });
      s.on('error', (e) => {
        failed ??= e;
      });
      w.clients.push(s);
    }
    // A handshake takes one instant on a link without delay. A SYN lost meanwhile (the first batch
    // waits for ARP, whose queue is bounded) is sent again after the initial RTO (1 s).
    const limit = w.scheduler.now() + 5_000;
    while (connected < w.clients.length || w.servers.length < w.clients.length) {
      if (failed !== undefined) throw new Error(`scale: a connection failed: ${failed.message}`);
      if (w.scheduler.now() > limit)
        throw new Error(`scale: stuck at ${connected} of ${w.clients.length} connected`);
      await step(w, 1);
    }
  }
  await step(w, ROUND_MS);
}

/** Heap, RSS and off-heap memory, after a full collection when one is available. */
function memory(gc: (() => void) | undefined): MemoryFigures {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external };
}

function frames(w: World): number {
  return w.links[0].counters.framesOut + w.links[1].counters.framesOut;
}

/**
 * ECHO_ROUNDS rounds on the first ECHO_CONNS connections: each client writes ECHO_BYTES, the
 * server writes them back; a round ends when every echo is read and the delayed ACKs have gone.
 */
async function echoOnce(w: World, rounds: number): Promise<{ ns: number; cpuNs: number; frames: number }> {
  const msg = Buffer.alloc(ECHO_BYTES, 0x61);
  const clients = w.clients.slice(0, ECHO_CONNS);
  let received = 0;
  const onData = (d: Buffer) => {
    received += d.length;
  };
  for (const c of clients) c.on('data', onData);
  const f0 = frames(w);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    const want = received + clients.length * ECHO_BYTES;
    for (const c of clients) c.write(msg);
    for (let tries = 0; received < want; tries++) {
      if (tries > 10) throw new Error(`scale: echo round ${r} stuck at ${received} of ${want} bytes`);
      await step(w, 0);
    }
    await step(w, ROUND_MS);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(c0);
  for (const c of clients) c.off('data', onData);
  return { ns, cpuNs: (cpu.user + cpu.system) * 1000, frames: frames(w) - f0 };
}

/** Echo servers on every accepted socket: what is read is written back. */
function echoServers(w: World): void {
  for (const s of w.servers) s.on('data', (d: Buffer) => s.write(d));
}

async function echo(w: World): Promise<EchoFigure> {
  echoServers(w);
  // Warm-up (JIT), not recorded.
  await echoOnce(w, Math.ceil(ECHO_ROUNDS / 4));
  const runs: { ns: number; cpuNs: number; frames: number }[] = [];
  for (let i = 0; i < ECHO_RUNS; i++) runs.push(await echoOnce(w, ECHO_ROUNDS));
  const per = runs.map((r) => r.ns / r.frames).sort((a, b) => a - b);
  const cpu = runs.map((r) => r.cpuNs / r.frames).sort((a, b) => a - b);
  return {
    open: w.clients.length,
    nsPerSegment: round(per[per.length >> 1]!),
    runs: per.map(round),
    cpuNsPerSegment: round(cpu[cpu.length >> 1]!),
    framesPerRun: runs[0]!.frames,
  };
}

function established(s: Stack): number {
  return s.tcp.connectionStates().Established ?? 0;
}

async function measure(): Promise<ScaleResults> {
  const gc = collector();
  // Ten connections: the reference cost per segment.
  const small = world(SMALL);
  let echoSmall: EchoFigure;
  try {
    await open(small, SMALL);
    echoSmall = await echo(small);
  } finally {
    await small.close();
  }
  console.log(`scale: ${SMALL} connections: ${echoSmall.nsPerSegment} ns/segment`);

  const w = world(CONNS);
  try {
    // ARP before the baseline: one connection, counted with the rest.
    await open(w, 1);
    const before = memory(gc);
    const t0 = performance.now();
    await open(w, CONNS - 1);
    const setupSeconds = round((performance.now() - t0) / 1000);
    const held = memory(gc);
    const est = { client: established(w.client), server: established(w.server) };
    if (est.client !== CONNS || est.server !== CONNS)
      throw new Error(`scale: established ${JSON.stringify(est)}, wanted ${CONNS} each`);
    const endpoints = 2 * (CONNS - 1);
    const perEndpoint = {
      heapUsed: Math.round((held.heapUsed - before.heapUsed) / endpoints),
      rss: Math.round((held.rss - before.rss) / endpoints),
      external: Math.round((held.external - before.external) / endpoints),
    };
    console.log(
      `scale: ${CONNS} connections in ${setupSeconds} s; per endpoint ${perEndpoint.heapUsed} B heap, ${perEndpoint.rss} B RSS`,
    );
    const echoLarge = await echo(w);
    console.log(`scale: ${CONNS} connections: ${echoLarge.nsPerSegment} ns/segment`);
    const results: ScaleResults = {
      date: new Date().toISOString(),
      cpu: cpuModel(),
      node: process.version,
      connections: CONNS,
      serverPorts: w.ports,
      gc: gc !== undefined,
      setupSeconds,
      before,
      held,
      perEndpoint,
      established: est,
      echoSmall,
      echoLarge,
      ratio: round(echoLarge.nsPerSegment / echoSmall.nsPerSegment),
      cpuRatio: round(echoLarge.cpuNsPerSegment / echoSmall.cpuNsPerSegment),
    };
    return results;
  } finally {
    await w.close();
  }
}

function valid(results: unknown): ScaleResults | undefined {
  return isRecord(results) && typeof results.ratio === 'number'
    ? (results as unknown as ScaleResults)
    : undefined;
}

const KIB = 1024;

export function goals(results: unknown): Goal[] {
  const r = valid(results);
  const n = r === undefined ? '' : ` (${r.connections.toLocaleString('en')} held)`;
  return [
    {
      what: `in-process stacks: memory per idle TCP endpoint${n}, RSS`,
      target: `≤ ${GOAL_KB} KB`,
      ...(r === undefined
        ? {}
        : { figure: `${fmt(r.perEndpoint.rss / KIB)} KB`, met: r.perEndpoint.rss <= GOAL_KB * KIB }),
    },
    {
      what: `cost per segment with ${r === undefined ? 'all' : r.connections.toLocaleString('en')} connections open vs ${SMALL}`,
      target: `≤ ${GOAL_RATIO}×`,
      ...(r === undefined ? {} : { figure: `${fmt(r.ratio)}×`, met: r.ratio <= GOAL_RATIO }),
    },
  ];
}

export function markdown(results: unknown): string {
  const r = valid(results);
  if (r === undefined) return '## scale\n\nno results';
  const mem = (b: number) => `${fmt(b / KIB / KIB)} MiB`;
  const per = (b: number) => `${fmt(b / KIB)} KB`;
  return [
    '## Scale: idle connections between two stacks in one process (virtual time)',
    '',
    `${r.connections.toLocaleString('en')} TCP connections over one address pair and ${r.serverPorts} server`,
    `ports, opened in ${fmt(r.setupSeconds)} s, measured ${r.date} on ${r.cpu}, Node ${r.node}; memory read`,
    `${r.gc ? 'after a full collection' : 'without a collection (no gc available)'}. An endpoint is one end of`,
    'a connection (a TCB and a socket), as a host holding one end keeps it; KB is 2^10 bytes.',
    '',
    table(
      ['', 'heap used', 'RSS', 'off-heap'],
      [
        ['before', mem(r.before.heapUsed), mem(r.before.rss), mem(r.before.external)],
        ['all established', mem(r.held.heapUsed), mem(r.held.rss), mem(r.held.external)],
        [
          'per endpoint',
          per(r.perEndpoint.heapUsed),
          `${per(r.perEndpoint.rss)} (goal ≤ ${GOAL_KB} KB: ${metText(r.perEndpoint.rss <= GOAL_KB * KIB)})`,
          per(r.perEndpoint.external),
        ],
        [
          'per connection (both ends)',
          per(2 * r.perEndpoint.heapUsed),
          per(2 * r.perEndpoint.rss),
          per(2 * r.perEndpoint.external),
        ],
      ],
    ),
    '',
    `Echo of ${ECHO_BYTES} bytes on ${ECHO_CONNS} connections, ${r.echoSmall.framesPerRun} frames a run;`,
    `ns per frame carried, median of ${ECHO_RUNS} runs: wall clock (every run), then CPU time of the process:`,
    '',
    table(
      ['connections open', 'ns/segment', 'runs', 'CPU ns/segment'],
      [r.echoSmall, r.echoLarge].map((e) => [
        e.open.toLocaleString('en'),
        fmt(e.nsPerSegment),
        e.runs.map((x) => fmt(x)).join(', '),
        fmt(e.cpuNsPerSegment),
      ]),
    ),
    '',
    `Ratio ${fmt(r.ratio)}× on the wall clock (goal ≤ ${GOAL_RATIO}×: ${metText(r.ratio <= GOAL_RATIO)}),`,
    `${fmt(r.cpuRatio)}× in CPU time.`,
  ].join('\n');
}

export async function run(): Promise<unknown> {
  let results: unknown;
  try {
    results = await measure();
  } catch (e) {
    console.log(`scale: failed: ${e instanceof Error ? e.message : String(e)}`);
    results = { error: e instanceof Error ? e.message : String(e) };
  }
  writeResults('scale', results);
  return results;
}
