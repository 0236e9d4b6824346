/**
 * Two Oasis stacks in one process over a memory pair, on the real scheduler (wall-clock time), used
 * through the public API as an application would: `tcp.connect`/`createServer`, sockets as Duplex
 * streams, the receiver only counting what it reads. The issue's goal is >= 4 Gbit/s at MSS 1460.
 *
 * - bulk: OASIS_BENCH_BYTES (default 256 MiB) client -> server at MTU 1500 (MSS 1460) frame by frame;
 *   at MTU 1500 with the pair's offloads (TSO super-frames of up to 44 MSS segments cross whole, as
 *   between two namespaces over a veth, where Linux's figures come from); and at MTU 65535, the
 *   largest the memory link and IPv4's 16-bit total length allow (~64 KiB segments). Gbit/s of
 *   payload read from the receiving socket, from 'connect' to the receiver's 'end'; the byte count
 *   must be exact. Median and best of OASIS_BENCH_RUNS runs (default 3), each on fresh stacks,
 *   after one unrecorded warm-up run.
 * - setup: OASIS_BENCH_CONNS (default 2000) connect -> accept -> close cycles, one at a time and 16 at
 *   a time; a cycle ends when both sockets have closed (the client then sits in TIME-WAIT).
 *
 * Stack settings are the defaults (1 MiB buffers, Nagle, timestamps, SACK), IPv6 off so that no
 * neighbour discovery runs beside the transfer. Writes bench/results/tcp-memory.json.
 */
import { ipv4, ipv4ToString } from '../src/addr.js';
import type { Link } from '../src/link/link.js';
import { memoryPair } from '../src/link/memory.js';
import { RealScheduler } from '../src/link/real-clock.js';
import { Stack } from '../src/stack/stack.js';
import type { TcpSocket } from '../src/stack/tcp.js';
import { writeResults } from './summary.js';

const MIB = 1024 * 1024;
const BYTES = Number(process.env.OASIS_BENCH_BYTES ?? 256 * MIB);
const RUNS = Math.max(1, Number(process.env.OASIS_BENCH_RUNS ?? '3'));
const CONNS = Number(process.env.OASIS_BENCH_CONNS ?? '2000');
const LINKS: readonly LinkCase[] = [
  { mtu: 1500, offloads: false },
  { mtu: 1500, offloads: true },
  { mtu: 65535, offloads: false },
];
const CONCURRENCY = [1, 16] as const;
/** What the sending application hands to write() at a time (iperf3's default length). */
const WRITE_LEN = 128 * 1024;
/** A transfer that moves nothing for this long is reported as a stall instead of hanging the run. */
const STALL_MS = 10_000;
const CLIENT = ipv4(10, 0, 0, 1);
const SERVER = ipv4(10, 0, 0, 2);
const PORT = 5201;

interface LinkCase {
  readonly mtu: number;
  /** The memory pair's offloads (memoryPair `offloads`): TCP super-frames cross whole. */
  readonly offloads: boolean;
}

export interface BulkResult extends LinkCase {
  /** Payload bytes per run. */
  readonly bytes: number;
  readonly runs: number;
  /** Payload Gbit/s (10^9 bits) of the median run; `gbpsBest` of the fastest. */
  readonly gbps: number;
  readonly gbpsBest: number;
  readonly seconds: number;
  /** Client -> server frames of the median run and their mean size (headers included). */
  readonly dataFrames: number;
  readonly meanDataFrame: number;
  /** Server -> client frames (ACKs, window updates). */
  readonly ackFrames: number;
  /** Process memory when the median run's transfer ended. */
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  /** Off-heap ArrayBuffer memory (frames, socket chunks) that the GC had not yet freed. */
  readonly arrayBuffersMiB: number;
}

export interface SetupResult {
  readonly concurrency: number;
  readonly connections: number;
  readonly runs: number;
  /** Completed cycles per second of the median run; `perSecondBest` of the fastest. */
  readonly perSecond: number;
  readonly perSecondBest: number;
}

export interface TcpMemoryResults {
  readonly bulk: readonly BulkResult[];
  readonly setup: readonly SetupResult[];
  /** Peak resident set of the whole process (benny and all). */
  readonly maxRssMiB: number;
  readonly node: string;
}

interface Pair {
  readonly client: Stack;
  readonly server: Stack;
  readonly links: readonly [Link, Link];
  /** Closes both stacks and drops every timer, so nothing keeps the process alive. */
  close(): Promise<void>;
  /** Connection states and drop counters, for a stall report. */
  describe(): string;
}

function pair(link: LinkCase): Pair {
  const scheduler = new RealScheduler();
  const links = memoryPair(scheduler, link);
  const client = new Stack({ scheduler, seed: 1 });
  const server = new Stack({ scheduler, seed: 2 });
  client.addInterface({ link: links[0], ipv4: [{ address: CLIENT, prefixLen: 24 }], ipv6Enabled: false });
  server.addInterface({ link: links[1], ipv4: [{ address: SERVER, prefixLen: 24 }], ipv6Enabled: false });
  return {
    client,
    server,
    links,
    close: async () => {
      await Promise.all([client.close(), server.close()]);
      scheduler.cancelAll();
    },
    describe: () =>
      JSON.stringify({
        client: { tcp: client.tcp.connectionStates(), counters: client.counters.snapshot() },
        server: { tcp: server.tcp.connectionStates(), counters: server.counters.snapshot() },
        linkDrops: links.map((l) => l.counters.drops),
      }),
  };
}

/** Resolves with `p`, or rejects when `progress()` has not changed for STALL_MS. */
function watch<T>(p: Promise<T>, what: string, progress: () => number, describe: () => string): Promise<T> {
  return new Promise((resolve, reject) => {
    let last = progress();
    let lastAt = performance.now();
    const timer = setInterval(() => {
      const now = progress();
      if (now !== last) {
        last = now;
        lastAt = performance.now();
      } else if (performance.now() - lastAt > STALL_MS) {
        clearInterval(timer);
        reject(new Error(`${what}: stalled at ${now} for ${STALL_MS / 1000} s: ${describe()}`));
      }
    }, 250);
    p.then(
      (v) => {
        clearInterval(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearInterval(timer);
        reject(e);
      },
    );
  });
}

/** Writes `total` bytes (views of one buffer) honouring backpressure, then ends the socket. */
function pump(socket: TcpSocket, total: number): void {
  const chunk = Buffer.alloc(WRITE_LEN, 0x5a);
  let left = total;
  const more = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        socket.once('drain', more);
        return;
      }
    }
    socket.end();
  };
  more();
}

interface BulkRun {
  readonly seconds: number;
  readonly dataFrames: number;
  readonly dataBytes: number;
  readonly ackFrames: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly arrayBuffers: number;
}

async function bulkOnce(link: LinkCase, total: number): Promise<BulkRun> {
  const p = pair(link);
  const what = `bulk ${caseName(link)}`;
  try {
    let received = 0;
    let start = 0;
    const done = new Promise<number>((resolve, reject) => {
      p.server.tcp
        .createServer((s) => {
          s.on('data', (c: Buffer) => {
            received += c.length;
          });
          s.on('end', () => {
            resolve(performance.now());
            s.end();
          });
          s.on('error', reject);
        })
        .listen(PORT);
      const socket = p.client.tcp.connect({ host: ipv4ToString(SERVER), port: PORT }, () => {
        start = performance.now();
      });
      socket.on('error', reject);
      socket.resume();
      pump(socket, total);
    });
    const end = await watch(done, what, () => received, p.describe);
    if (received !== total) throw new Error(`${what}: received ${received} of ${total} bytes`);
    const mem = process.memoryUsage();
    const [out, back] = p.links;
    return {
      seconds: (end - start) / 1000,
      dataFrames: out.counters.framesOut,
      dataBytes: out.counters.bytesOut,
      ackFrames: back.counters.framesOut,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      arrayBuffers: mem.arrayBuffers,
    };
  } finally {
    await p.close();
  }
}

function caseName(link: LinkCase): string {
  return `mtu ${link.mtu}${link.offloads ? ' offloads' : ''}`;
}

async function bulk(link: LinkCase): Promise<BulkResult> {
  await bulkOnce(link, Math.min(BYTES, 32 * MIB));
  const runs: BulkRun[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await bulkOnce(link, BYTES));
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  const med = sorted[(sorted.length - 1) >> 1]!;
  const gbps = (r: BulkRun) => (BYTES * 8) / r.seconds / 1e9;
  return {
    ...link,
    bytes: BYTES,
    runs: RUNS,
    gbps: round(gbps(med)),
    gbpsBest: round(gbps(sorted[0]!)),
    seconds: round(med.seconds),
    dataFrames: med.dataFrames,
    meanDataFrame: Math.round(med.dataBytes / med.dataFrames),
    ackFrames: med.ackFrames,
    rssMiB: Math.round(med.rss / MIB),
    heapUsedMiB: Math.round(med.heapUsed / MIB),
    arrayBuffersMiB: Math.round(med.arrayBuffers / MIB),
  };
}

/** `total` cycles, `concurrency` at a time; returns the seconds from the first connect to the last close. */
async function setupOnce(total: number, concurrency: number): Promise<number> {
  const p = pair({ mtu: 1500, offloads: false });
  try {
    let serverClosed = 0;
    let onServerClosed = (): void => {};
    p.server.tcp
      .createServer((s) => {
        s.on('end', () => s.end());
        s.on('close', () => {
          serverClosed++;
          onServerClosed();
        });
        s.resume();
      })
      .listen(PORT);
    const cycle = () =>
      new Promise<void>((resolve, reject) => {
        const s = p.client.tcp.connect({ host: ipv4ToString(SERVER), port: PORT }, () => s.end());
        s.on('close', () => resolve());
        s.on('error', reject);
        s.resume();
      });
    // Resolves ARP outside the timed part.
    await cycle();
    let started = 0;
    let clientClosed = 0;
    const worker = async () => {
      while (started < total) {
        started++;
        await cycle();
        clientClosed++;
      }
    };
    const allServerClosed = new Promise<void>((resolve) => {
      onServerClosed = () => {
        if (serverClosed === total + 1) resolve();
      };
      onServerClosed();
    });
    const t0 = performance.now();
    const all = Promise.all([...Array.from({ length: concurrency }, worker), allServerClosed]);
    await watch(all, `setup x${concurrency}`, () => clientClosed + serverClosed, p.describe);
    return (performance.now() - t0) / 1000;
  } finally {
    await p.close();
  }
}

async function setup(concurrency: number): Promise<SetupResult> {
  const seconds: number[] = [];
  for (let i = 0; i < RUNS; i++) seconds.push(await setupOnce(CONNS, concurrency));
  seconds.sort((a, b) => a - b);
  return {
    concurrency,
    connections: CONNS,
    runs: RUNS,
    perSecond: Math.round(CONNS / seconds[(seconds.length - 1) >> 1]!),
    perSecondBest: Math.round(CONNS / seconds[0]!),
  };
}

export async function run(): Promise<TcpMemoryResults> {
  const bulkRows: BulkResult[] = [];
  for (const link of LINKS) {
    const r = await bulk(link);
    bulkRows.push(r);
    console.log(`tcp-memory bulk ${caseName(link)}: ${r.gbps} Gbit/s (best ${r.gbpsBest})`);
  }
  const setupRows: SetupResult[] = [];
  for (const c of CONCURRENCY) {
    const r = await setup(c);
    setupRows.push(r);
    console.log(`tcp-memory setup x${c}: ${r.perSecond} conn/s (best ${r.perSecondBest})`);
  }
  const results: TcpMemoryResults = {
    bulk: bulkRows,
    setup: setupRows,
    maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    node: process.version,
  };
  console.log(markdown(results));

  writeResults('tcp-memory', results);
  return results;
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}

function mdTable(head: readonly string[], body: readonly (readonly (string | number)[])[]): string[] {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...body.map(line)];
}

/** A Markdown section from the parsed contents of bench/results/tcp-memory.json. */
export function markdown(results: unknown): string {
  const r = results as TcpMemoryResults;
  const mib = (n: number) => `${Math.round(n / MIB)} MiB`;
  return [
    '## TCP between two stacks in one process (memory link, real time)',
    '',
    `Payload delivered to the receiving socket, median of ${r.bulk[0]?.runs ?? '?'} runs; goal >= 4 Gbit/s.`,
    '',
    ...mdTable(
      [
        'MTU',
        'offloads',
        'bytes',
        'Gbit/s',
        'best',
        'data frames',
        'mean frame',
        'ACK frames',
        'RSS',
        'heap used',
        'ArrayBuffers',
      ],
      r.bulk.map((b) => [
        b.mtu,
        b.offloads === true ? 'on' : 'off',
        mib(b.bytes),
        b.gbps,
        b.gbpsBest,
        b.dataFrames,
        b.meanDataFrame,
        b.ackFrames,
        `${b.rssMiB} MiB`,
        `${b.heapUsedMiB} MiB`,
        `${b.arrayBuffersMiB} MiB`,
      ]),
    ),
    '',
    'Connection setup: connect, accept, close on both sides (MTU 1500).',
    '',
    ...mdTable(
      ['concurrent', 'connections', 'conn/s', 'best'],
      r.setup.map((s) => [s.concurrency, s.connections, s.perSecond, s.perSecondBest]),
    ),
    '',
    `Peak RSS ${r.maxRssMiB} MiB, Node ${r.node}.`,
    '',
  ].join('\n');
}
