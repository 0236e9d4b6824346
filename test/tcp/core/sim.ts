/**
 * Two TCP cores wired together through a seeded, hostile, in-test "wire" in virtual time: segments are
 * lost, duplicated, delayed and reordered until `calmAfter`, then the link is reliable. No stack or
 * driver: outputs of one core become `segment` events of the other. Payloads are handed over in fresh
 * buffers that are scribbled over right after the step, so a core that kept a view instead of a copy
 * corrupts its stream and fails the comparison.
 */
import { ipv4 } from '../../../src/addr.js';
import { Random } from '../../../src/random.js';
import {
  concatChunks,
  type FlowKey,
  type SegmentOut,
  tcpConfig,
  type TcpConfig,
  tcpConnection,
  tcpConnections,
  tcpDeadline,
  type TcpEvent,
  tcpInit,
  type TcpNotification,
  type TcpStack,
  tcpStep,
} from '../../../src/tcp/core/index.js';
import { checkStep } from './invariants.js';

const NO_CHECK = process.env.SIM_NO_CHECK === '1';
export const A_ADDR = ipv4(10, 0, 0, 2);
export const B_ADDR = ipv4(10, 0, 0, 1);
export const B_PORT = 5001;

export interface LinkParams {
  readonly loss: number;
  readonly dup: number;
  /** Base one-way delay (ms). */
  readonly delay: number;
  /** Extra random delay in [0, jitter) ms: reorders. */
  readonly jitter: number;
  /** After this virtual time the link neither loses, duplicates nor reorders. */
  readonly calmAfter: number;
}

export interface SimParams {
  readonly seed: number;
  readonly link: LinkParams;
  /** Bytes A sends to B, then A shuts its sending side. */
  readonly aToB: number;
  /** Bytes B sends back once it has read A's EOF (half-close), then B closes. */
  readonly bToA: number;
  /** Largest single `send`. */
  readonly chunk: number;
  /** B reads at most this many bytes per read, and pauses `readPause` ms between reads (0: always). */
  readonly readSize: number;
  readonly readPause: number;
  readonly configA?: Partial<Omit<TcpConfig, 'secret'>>;
  readonly configB?: Partial<Omit<TcpConfig, 'secret'>>;
  /** Virtual time at which the run starts (chooses where the ISNs fall). */
  readonly start?: number;
  /** Stop with a failure after this much virtual time. */
  readonly limit?: number;
}

interface InFlight {
  readonly at: number;
  readonly order: number;
  readonly to: 'a' | 'b';
  readonly seg: SegmentOut;
  readonly payload: Uint8Array;
}

export interface SimResult {
  readonly violations: string[];
  readonly sentAB: Uint8Array;
  readonly readB: Uint8Array;
  readonly sentBA: Uint8Array;
  readonly readA: Uint8Array;
  readonly eofA: boolean;
  readonly eofB: boolean;
  readonly closedA: string[];
  readonly closedB: string[];
  readonly connsLeft: number;
  readonly time: number;
  readonly a: TcpStack;
  readonly b: TcpStack;
  readonly segments: number;
}

function pattern(n: number, salt: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = salt | 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function runSim(p: SimParams): SimResult {
  const rng = new Random(p.seed);
  const secretA = Uint8Array.from({ length: 16 }, (_, i) => (p.seed * 31 + i * 17) & 255);
  const secretB = Uint8Array.from({ length: 16 }, (_, i) => (p.seed * 13 + i * 29 + 5) & 255);
  const start = p.start ?? 1000;
  let now = start;
  let a = tcpInit(tcpConfig(secretA, p.configA), now);
  let b = tcpInit(tcpConfig(secretB, p.configB), now);
  const violations: string[] = [];
  const queue: InFlight[] = [];
  let order = 0;
  let segments = 0;
  const dataAB = pattern(p.aToB, p.seed);
  const dataBA = pattern(p.bToA, p.seed + 1);
  const readB: Uint8Array[] = [];
  const readA: Uint8Array[] = [];
  let writtenA = 0;
  let writtenB = 0;
  let flowA: FlowKey | null = null;
  let flowB: FlowKey | null = null;
  let aShut = false;
  let bShut = false;
  let eofA = false;
  let eofB = false;
  const closedA: string[] = [];
  const closedB: string[] = [];
  let nextRead = now;
  let aReadable = false;
  let aWritable = false;
  let bWritable = true;
  const limit = start + (p.limit ?? 3_600_000);

  const transmit = (from: 'a' | 'b', seg: SegmentOut): void => {
    segments++;
    const calm = now >= p.link.calmAfter + start;
    const copies = !calm && rng.chance(p.link.dup) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (!calm && rng.chance(p.link.loss)) continue;
      const jitter = calm ? 0 : rng.float() * p.link.jitter;
      const pkt: InFlight = {
        at: now + p.link.delay + jitter,
        order: order++,
        to: from === 'a' ? 'b' : 'a',
        seg,
        payload: concatChunks(seg.payload).slice(),
      };
      // Keep the queue sorted by (arrival time, send order).
      let lo = 0;
      let hi = queue.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (queue[mid]!.at <= pkt.at) lo = mid + 1;
        else hi = mid;
      }
      queue.splice(lo, 0, pkt);
    }
  };

  const stepA = (e: TcpEvent): ReturnType<typeof tcpStep> => {
    const r = tcpStep(a, e);
    if (!NO_CHECK) for (const v of checkStep(a, r.state, r.outputs)) violations.push(`A t=${now}: ${v}`);
    a = r.state;
    for (const o of r.outputs) {
      if (o.kind === 'segment') transmit('a', o);
      else noteA(o);
    }
    return r;
  };
  const stepB = (e: TcpEvent): ReturnType<typeof tcpStep> => {
    const r = tcpStep(b, e);
    if (!NO_CHECK) for (const v of checkStep(b, r.state, r.outputs)) violations.push(`B t=${now}: ${v}`);
    b = r.state;
    for (const o of r.outputs) {
      if (o.kind === 'segment') transmit('b', o);
      else noteB(o);
    }
    return r;
  };
  const noteA = (n: TcpNotification): void => {
    if (n.kind === 'readable' || n.kind === 'eof') aReadable = true;
    if (n.kind === 'established' || n.kind === 'writable') aWritable = true;
    if (n.kind === 'closed') closedA.push(n.reason);
  };
  const noteB = (n: TcpNotification): void => {
    if (n.kind === 'established' && n.role === 'passive') flowB = n.flow;
    if (n.kind === 'writable') bWritable = true;
    if (n.kind === 'closed') closedB.push(n.reason);
  };

  stepB({ kind: 'listen', now, port: B_PORT });
  const c = stepA({ kind: 'connect', now, params: { local: A_ADDR, remote: B_ADDR, remotePort: B_PORT } });
  if (c.reply.kind === 'connected') flowA = c.reply.flow;
  else violations.push(`connect failed: ${JSON.stringify(c.reply)}`);

  const bHasData = (): boolean => {
    const t = flowB === null ? undefined : tcpConnection(b, flowB);
    return t !== undefined && (t.rcvq.length > 0 || t.rcvFin);
  };
  const apps = (): void => {
    // A writes what fits, then shuts its sending side.
    if (flowA !== null && !aShut && aWritable) {
      while (writtenA < dataAB.length) {
        const n = Math.min(p.chunk, dataAB.length - writtenA);
        const r = stepA({ kind: 'send', now, flow: flowA, data: dataAB.subarray(writtenA, writtenA + n) });
        if (r.reply.kind !== 'sent') break;
        writtenA += r.reply.accepted;
        if (r.reply.accepted < n) {
          // Wait for `writable`.
          aWritable = false;
          break;
        }
      }
      if (writtenA === dataAB.length) {
        stepA({ kind: 'shutdown', now, flow: flowA });
        aShut = true;
      }
    }
    // B reads (maybe slowly: `readSize` bytes every `readPause` ms); after A's EOF it answers and closes.
    while (flowB !== null && !eofB && bHasData() && now >= nextRead) {
      const r = stepB({ kind: 'recv', now, flow: flowB, max: p.readSize });
      if (r.reply.kind !== 'data') break;
      for (const d of r.reply.data) readB.push(d.slice());
      if (r.reply.eof) eofB = true;
      if (p.readPause > 0) nextRead = now + p.readPause;
      if (r.reply.length === 0) break;
    }
    if (flowB !== null && eofB && !bShut && bWritable) {
      while (writtenB < dataBA.length) {
        const n = Math.min(p.chunk, dataBA.length - writtenB);
        const r = stepB({ kind: 'send', now, flow: flowB, data: dataBA.subarray(writtenB, writtenB + n) });
        if (r.reply.kind !== 'sent') break;
        writtenB += r.reply.accepted;
        if (r.reply.accepted < n) {
          bWritable = false;
          break;
        }
      }
      if (writtenB === dataBA.length) {
        stepB({ kind: 'close', now, flow: flowB });
        bShut = true;
      }
    }
    // A reads everything; at EOF it closes.
    if (flowA !== null && !eofA && aReadable) {
      const r = stepA({ kind: 'recv', now, flow: flowA });
      if (r.reply.kind === 'data') {
        for (const d of r.reply.data) readA.push(d.slice());
        if (r.reply.eof) {
          eofA = true;
          stepA({ kind: 'close', now, flow: flowA });
        }
      }
      aReadable = false;
    }
  };

  for (let iter = 0; iter < 2_000_000; iter++) {
    apps();
    const candidates = [queue[0]?.at, tcpDeadline(a) ?? undefined, tcpDeadline(b) ?? undefined];
    const pendingRead = !eofB && bHasData() ? Math.max(now, nextRead) : undefined;
    candidates.push(pendingRead);
    const next = Math.min(...candidates.filter((x): x is number => x !== undefined));
    if (next === Number.POSITIVE_INFINITY) break;
    if (next > limit) {
      violations.push(`no progress: virtual time limit reached (${next - start} ms)`);
      break;
    }
    now = Math.max(now, next);
    const pkt = queue[0];
    if (pkt !== undefined && pkt.at <= now) {
      queue.shift();
      const ev: TcpEvent = {
        kind: 'segment',
        now,
        src: pkt.seg.src,
        dst: pkt.seg.dst,
        repr: pkt.seg.repr,
        payload: pkt.payload,
      };
      if (pkt.to === 'a') stepA(ev);
      else stepB(ev);
      // The sender's buffer is gone after delivery: a core must have copied what it keeps.
      pkt.payload.fill(0xee);
      continue;
    }
    const da = tcpDeadline(a) ?? Number.POSITIVE_INFINITY;
    const db = tcpDeadline(b) ?? Number.POSITIVE_INFINITY;
    if (da <= now) stepA({ kind: 'tick', now });
    if (db <= now) stepB({ kind: 'tick', now });
    if ((tcpDeadline(a) ?? Number.POSITIVE_INFINITY) <= now && da <= now) {
      violations.push(`A: tick at ${now} left a deadline <= now`);
      break;
    }
    if ((tcpDeadline(b) ?? Number.POSITIVE_INFINITY) <= now && db <= now) {
      violations.push(`B: tick at ${now} left a deadline <= now`);
      break;
    }
  }
  return {
    violations,
    sentAB: dataAB.subarray(0, writtenA),
    readB: concatChunks(readB),
    sentBA: dataBA.subarray(0, writtenB),
    readA: concatChunks(readA),
    eofA,
    eofB,
    closedA,
    closedB,
    connsLeft: tcpConnections(a).length + tcpConnections(b).length,
    time: now - start,
    a,
    b,
    segments,
  };
}
