/**
 * Connection tracking and NAT through the pure cores alone (src/router/conntrack.ts, nat.ts): new
 * flows per second, packets of known flows per second, and bytes per tracked flow. The goals:
 * >= 200,000 new flows/s through the pure core, <= 200 bytes per tracked flow, 1,000,000 tracked flows
 * in <= 256 MB.
 *
 * Speed (each case on a fresh table; the packet summaries are built before each timed slice of
 * SLICE flows, so what is timed is the core; the median of RUNS runs, CPU time per flow beside it):
 * - `new-udp`, `new-tcp-syn`: `ctStep` then `ctConfirm` for FLOWS distinct flows (a table with room
 *   for all of them): what a SYN flood or a scan costs, and a fresh connection's first packet;
 * - `known-udp`: `ctStep` on the reply of each of those flows (lookup, state update, timer);
 * - `parse+new-udp`: `packetInfo` on the packet bytes too (the whole pure path of a first packet);
 * - `early-drop`: FLOWS new flows into the default 65,536-entry table: past the bound each one
 *   evicts the oldest unassured entry;
 * - `nat-new-eim`: `natTrack` masquerading FLOWS flows from 1,000 inside endpoints to 1,000
 *   destinations each (endpoint-independent mappings reused), `nat-new-mapping`: 50,000 flows from
 *   50,000 endpoints (a mapping allocated for each: port preservation, else the hashed probe).
 *
 * Memory, after a full collection (`node --expose-gc`, or the flag set at run time): V8 heap plus
 * ArrayBuffer memory held, before and after filling a table, per flow:
 * - 1,000,000 IPv4 flows (the goal), the same masqueraded (1,000 endpoints, address-dependent
 *   filtering), 100,000 IPv6 flows;
 * - the alternative the choice was made against: a persistent table as the TCP core keeps its
 *   connections (src/tcp/core/pmap.ts, a hash trie with path copying), one frozen record per flow
 *   under both of its tuple keys, 200,000 flows: bytes per flow and inserts per second.
 *
 * Writes bench/results/conntrack.json. `OASIS_BENCH_FLOWS` (default 1,000,000), `OASIS_BENCH_RUNS`
 * (default 3).
 */
import { cpus } from 'node:os';
import { type Ipv4Addr, type Ipv6Addr, ipv4 } from '../src/addr.js';
import { setU16, setU32 } from '../src/bytes.js';
import { finish, pseudoHeaderV4, sum16 } from '../src/checksum/index.js';
import { type PMap, pmapEmpty, pmapSet } from '../src/tcp/core/pmap.js';
import { type Conntrack, ctConfirm, ctCreate, ctStats, ctStep } from '../src/router/conntrack.js';
import { type NatPath, natCreate, natMappings, natTrack } from '../src/router/nat.js';
import { type PacketInfo, packetInfo } from '../src/router/packet-info.js';
import { fmt, type Goal, isRecord, round, table, writeResults } from './summary.js';
import { collector } from './measure.js';

const FLOWS = Number(process.env.OASIS_BENCH_FLOWS ?? 1_000_000);
const RUNS = Math.max(1, Number(process.env.OASIS_BENCH_RUNS ?? '3'));
const SLICE = 50_000;
const GOAL_NEW_PER_S = 200_000;
const GOAL_BYTES_PER_FLOW = 200;
const GOAL_MB_PER_MILLION = 256;

const OUTSIDE = ipv4(192, 0, 2, 1);
const OUT: NatPath = { ingress: 1, egress: 2 };

export interface SpeedRow {
  readonly case: string;
  readonly flows: number;
  /** Flows (or packets) per second of the median run, wall clock; `perSecondBest` of the fastest. */
  readonly perSecond: number;
  readonly perSecondBest: number;
  /** Process CPU time per flow of the median run (leaves out waiting for a core on a shared machine). */
  readonly cpuNsPerFlow: number;
}

export interface MemoryRow {
  readonly case: string;
  readonly flows: number;
  /** Heap + ArrayBuffer bytes held per flow, and in all (MB = 10^6 bytes). */
  readonly bytesPerFlow: number | null;
  readonly totalMB: number | null;
  /** For the persistent baseline: inserts per second while it was built. */
  readonly perSecond?: number;
}

export interface ConntrackResults {
  readonly cpu: string;
  readonly cpus: number;
  readonly node: string;
  readonly date: string;
  readonly speed: readonly SpeedRow[];
  readonly memory: readonly MemoryRow[];
  readonly goals: readonly Goal[];
}

/** The summary of a UDP packet of flow `i` (distinct source address and port per flow). */
function udpInfo(i: number, reply = false): PacketInfo {
  const src = ((0x0a00_0000 + (i >>> 6)) >>> 0) as Ipv4Addr;
  const port = 1024 + (i & 63);
  const dst = ipv4(203, 0, 113, 9);
  return {
    version: 4,
    protocol: 17,
    src: reply ? dst : src,
    dst: reply ? src : dst,
    srcPort: reply ? 53 : port,
    dstPort: reply ? port : 53,
    icmpType: -1,
    icmpCode: -1,
    icmpId: -1,
    tcpFlags: 0,
    seq: 0,
    ack: 0,
    window: 0,
    payloadLen: 0,
    wscale: -1,
    l4Offset: 20,
    length: 40,
  };
}

function synInfo(i: number): PacketInfo {
  return {
    ...udpInfo(i),
    protocol: 6,
    tcpFlags: 0x02,
    seq: Math.imul(i, 2654435761) >>> 0,
    window: 64240,
    wscale: 7,
  };
}

/** Flow `i` of `endpoints` inside endpoints, each talking to FLOWS / endpoints destinations. */
function natInfo(i: number, endpoints: number): PacketInfo {
  const e = i % endpoints;
  const d = Math.floor(i / endpoints);
  return {
    ...udpInfo(0),
    src: ipv4(10, 1, e >>> 8, e & 255),
    srcPort: 20000 + (e % 20000),
    dst: ((0xc633_0000 + d) >>> 0) as Ipv4Addr,
  };
}

function v6Info(i: number): PacketInfo {
  const src = new Uint8Array(16);
  src[0] = 0xfd;
  setU32(src, 12, i);
  const dst = new Uint8Array(16);
  dst[0] = 0x20;
  dst[1] = 0x01;
  dst[15] = 1;
  return { ...udpInfo(i), version: 6, src: src as Ipv6Addr, dst: dst as Ipv6Addr };
}

/** `work(i)` for i in [0, n), in slices whose inputs `make` builds untimed. Wall and CPU ms. */
function timed<T>(
  n: number,
  make: (i: number) => T,
  work: (x: T, i: number) => void,
): { ms: number; cpuMs: number } {
  let ms = 0;
  let cpu = 0;
  for (let from = 0; from < n; from += SLICE) {
    const to = Math.min(n, from + SLICE);
    const inputs: T[] = [];
    for (let i = from; i < to; i++) inputs.push(make(i));
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = from; i < to; i++) work(inputs[i - from]!, i);
    ms += performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpu += (c.user + c.system) / 1000;
  }
  return { ms, cpuMs: cpu };
}

function track(ct: Conntrack, info: PacketInfo, now: number): void {
  const [, v] = ctStep(ct, info, now);
  if (v.state === 'new' && v.entry < 0) ctConfirm(ct, info, now);
}

/** A UDP packet whose source address and port the loop rewrites in place (checksum left stale: not read). */
function udpPacket(): Uint8Array {
  const p = new Uint8Array(40);
  p[0] = 0x45;
  setU16(p, 2, 40);
  p[8] = 64;
  p[9] = 17;
  setU32(p, 12, 0x0a00_0001);
  setU32(p, 16, ipv4(203, 0, 113, 9));
  setU16(p, 10, finish(sum16(p.subarray(0, 20))));
  setU16(p, 20, 1024);
  setU16(p, 22, 53);
  setU16(p, 24, 20);
  setU16(p, 26, finish(sum16(p.subarray(20), pseudoHeaderV4(0x0a00_0001, ipv4(203, 0, 113, 9), 17, 20))));
  return p;
}

function speedCase(name: string, flows: number, once: () => { ms: number; cpuMs: number }): SpeedRow {
  const runs: { ms: number; cpuMs: number }[] = [];
  for (let r = 0; r < RUNS; r++) runs.push(once());
  runs.sort((a, b) => a.ms - b.ms);
  const median = runs[Math.floor(runs.length / 2)]!;
  const row: SpeedRow = {
    case: name,
    flows,
    perSecond: round((flows / median.ms) * 1000),
    perSecondBest: round((flows / runs[0]!.ms) * 1000),
    cpuNsPerFlow: round((median.cpuMs * 1e6) / flows),
  };
  console.log(
    `conntrack ${name}: ${row.perSecond}/s (best ${row.perSecondBest}), ${row.cpuNsPerFlow} CPU ns/flow`,
  );
  return row;
}

function speed(): SpeedRow[] {
  const big = { maxEntries: Math.max(FLOWS, 1024), maxBytes: 2 ** 31 };
  const rows: SpeedRow[] = [];
  rows.push(
    speedCase('new-udp', FLOWS, () => {
      const ct = ctCreate(big);
      return timed(
        FLOWS,
        (i) => udpInfo(i),
        (x) => track(ct, x, 0),
      );
    }),
  );
  rows.push(
    speedCase('new-tcp-syn', FLOWS, () => {
      const ct = ctCreate(big);
      return timed(
        FLOWS,
        (i) => synInfo(i),
        (x) => track(ct, x, 0),
      );
    }),
  );
  const known = ctCreate(big);
  timed(
    FLOWS,
    (i) => udpInfo(i),
    (x) => track(known, x, 0),
  );
  rows.push(
    speedCase('known-udp', FLOWS, () =>
      timed(
        FLOWS,
        (i) => udpInfo(i, true),
        (x) => void ctStep(known, x, 1),
      ),
    ),
  );
  rows.push(
    speedCase('parse+new-udp', FLOWS, () => {
      const ct = ctCreate(big);
      const p = udpPacket();
      return timed(
        FLOWS,
        (i) => i,
        (i) => {
          setU32(p, 12, (0x0a00_0000 + (i >>> 6)) >>> 0);
          setU16(p, 20, 1024 + (i & 63));
          const info = packetInfo(p);
          if (info !== undefined) track(ct, info, 0);
        },
      );
    }),
  );
  rows.push(
    speedCase('early-drop', FLOWS, () => {
      const ct = ctCreate();
      const t = timed(
        FLOWS,
        (i) => udpInfo(i),
        (x) => track(ct, x, 0),
      );
      if (ctStats(ct).counters.evicted !== Math.max(0, FLOWS - 65_536))
        throw new Error('early-drop: evictions miscounted');
      return t;
    }),
  );
  const natConfig = (endpoints: number) => ({
    secret: new Uint8Array(16).fill(1),
    masquerade: [{ inside: 1, outside: 2, address: OUTSIDE }],
    maxMappings: Math.max(endpoints, 1024),
    conntrack: big,
  });
  rows.push(
    speedCase('nat-new-eim', FLOWS, () => {
      const nat = natCreate(natConfig(1000));
      const t = timed(
        FLOWS,
        (i) => natInfo(i, 1000),
        (x) => void natTrack(nat, x, OUT, 0),
      );
      if (natMappings(nat).length !== 1000) throw new Error('nat-new-eim: expected 1,000 mappings');
      return t;
    }),
  );
  const fresh = Math.min(FLOWS, 50_000);
  rows.push(
    speedCase('nat-new-mapping', fresh, () => {
      const nat = natCreate(natConfig(fresh));
      const t = timed(
        fresh,
        (i) => natInfo(i, fresh),
        (x) => void natTrack(nat, x, OUT, 0),
      );
      if (natMappings(nat).length !== fresh) throw new Error('nat-new-mapping: expected a mapping per flow');
      return t;
    }),
  );
  return rows;
}

/** Heap plus ArrayBuffer bytes in use after a full collection. */
function held(): number | undefined {
  const gc = collector();
  if (gc === undefined) return undefined;
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function memoryCase(name: string, flows: number, fill: () => unknown): MemoryRow {
  const before = held();
  const keep = fill();
  const after = held();
  const bytes = before === undefined || after === undefined ? null : after - before;
  // `keep` stays reachable until here, so the collection above could not free the table.
  if (keep === undefined) throw new Error('memory case kept nothing');
  const row: MemoryRow = {
    case: name,
    flows,
    bytesPerFlow: bytes === null ? null : round(bytes / flows),
    totalMB: bytes === null ? null : round(bytes / 1e6),
  };
  console.log(`conntrack memory ${name}: ${row.bytesPerFlow} bytes/flow, ${row.totalMB} MB`);
  return row;
}

/** The persistent alternative: a hash trie of frozen records, each flow under both tuple keys. */
interface FlowRecord {
  readonly proto: number;
  readonly orig: readonly [number, number, number];
  readonly reply: readonly [number, number, number];
  readonly state: number;
  readonly flags: number;
  readonly td: readonly number[];
  readonly seen: number;
}

function persistentFill(n: number): { map: PMap<FlowRecord>; perSecond: number } {
  let map = pmapEmpty<FlowRecord>();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const x = udpInfo(i);
    const ports = ((x.srcPort << 16) | x.dstPort) >>> 0;
    const rports = ((x.dstPort << 16) | x.srcPort) >>> 0;
    const rec: FlowRecord = Object.freeze({
      proto: 17,
      orig: [x.src as number, x.dst as number, ports] as const,
      reply: [x.dst as number, x.src as number, rports] as const,
      state: 9,
      flags: 0,
      td: [0, 0, 0, 0, 0, 0],
      seen: 0,
    });
    map = pmapSet(map, `17|${x.src}|${x.dst}|${ports}`, rec);
    map = pmapSet(map, `17|${x.dst}|${x.src}|${rports}`, rec);
  }
  return { map, perSecond: round((n / (performance.now() - t0)) * 1000) };
}

function memory(): MemoryRow[] {
  const rows: MemoryRow[] = [];
  rows.push(
    memoryCase('ipv4', FLOWS, () => {
      const ct = ctCreate({ maxEntries: FLOWS, maxBytes: 2 ** 31 });
      for (let i = 0; i < FLOWS; i++) track(ct, udpInfo(i), 0);
      return ct;
    }),
  );
  rows.push(
    memoryCase('ipv4-masquerade', FLOWS, () => {
      const nat = natCreate({
        secret: new Uint8Array(16).fill(1),
        masquerade: [{ inside: 1, outside: 2, address: OUTSIDE }],
        maxMappings: 1024,
        conntrack: { maxEntries: FLOWS, maxBytes: 2 ** 31 },
      });
      for (let i = 0; i < FLOWS; i++) natTrack(nat, natInfo(i, 1000), OUT, 0);
      return nat;
    }),
  );
  const n6 = Math.min(FLOWS, 100_000);
  rows.push(
    memoryCase('ipv6', n6, () => {
      const ct = ctCreate({ maxEntries: n6, maxBytes: 2 ** 31 });
      for (let i = 0; i < n6; i++) track(ct, v6Info(i), 0);
      return ct;
    }),
  );
  const np = Math.min(FLOWS, 200_000);
  let perSecond = 0;
  const baseline = memoryCase('persistent-pmap-baseline', np, () => {
    const r = persistentFill(np);
    perSecond = r.perSecond;
    return r.map;
  });
  rows.push({ ...baseline, perSecond });
  console.log(`conntrack persistent baseline: ${perSecond} inserts/s`);
  return rows;
}

export async function run(): Promise<ConntrackResults> {
  const speedRows = speed();
  const memRows = memory();
  const best = (c: string) => speedRows.find((r) => r.case === c)!;
  const v4 = memRows.find((r) => r.case === 'ipv4')!;
  const perMillion = v4.totalMB === null ? null : (v4.totalMB * 1e6) / v4.flows;
  const newUdp = best('new-udp');
  const goals: Goal[] = [
    {
      what: 'conntrack, new flows per second through the pure core',
      target: `≥ ${GOAL_NEW_PER_S.toLocaleString('en')}`,
      figure: `${fmt(newUdp.perSecond / 1e3)} k/s`,
      met: newUdp.perSecond >= GOAL_NEW_PER_S,
    },
    {
      what: 'conntrack, bytes per tracked IPv4 flow',
      target: `≤ ${GOAL_BYTES_PER_FLOW}`,
      ...(v4.bytesPerFlow === null
        ? {}
        : { figure: fmt(v4.bytesPerFlow), met: v4.bytesPerFlow <= GOAL_BYTES_PER_FLOW }),
    },
    {
      what: 'conntrack, MB for 1,000,000 tracked flows',
      target: `≤ ${GOAL_MB_PER_MILLION}`,
      ...(perMillion === null ? {} : { figure: fmt(perMillion), met: perMillion <= GOAL_MB_PER_MILLION }),
    },
  ];
  const results: ConntrackResults = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    node: process.version,
    date: new Date().toISOString(),
    speed: speedRows,
    memory: memRows,
    goals,
  };
  writeResults('conntrack', results);
  return results;
}

function valid(results: unknown): ConntrackResults | undefined {
  return isRecord(results) && Array.isArray(results.speed) && Array.isArray(results.memory)
    ? (results as unknown as ConntrackResults)
    : undefined;
}

export function goals(results: unknown): Goal[] {
  return valid(results)?.goals.slice() ?? [];
}

export function markdown(results: unknown): string {
  const r = valid(results);
  if (r === undefined) return '## conntrack\n\nno results';
  return [
    '## conntrack',
    '',
    `Connection tracking and NAT through the pure cores alone (${r.cpu}, Node ${r.node}). Flows per`,
    'second of the median run, the fastest in brackets; CPU ns per flow of the median run.',
    '',
    table(
      ['case', 'flows', 'per second', 'CPU ns per flow'],
      r.speed.map((x) => [
        x.case,
        x.flows.toLocaleString('en'),
        `${fmt(x.perSecond / 1e3)} k (${fmt(x.perSecondBest / 1e3)} k)`,
        fmt(x.cpuNsPerFlow),
      ]),
    ),
    '',
    table(
      ['memory held', 'flows', 'bytes per flow', 'MB', 'inserts per second'],
      r.memory.map((x) => [
        x.case,
        x.flows.toLocaleString('en'),
        fmt(x.bytesPerFlow),
        fmt(x.totalMB),
        x.perSecond === undefined ? '' : `${fmt(x.perSecond / 1e3)} k`,
      ]),
    ),
  ].join('\n');
}
