/**
 * Two TCP cores wired together through a seeded, hostile, in-test "wire" in virtual time: segments are
 * lost, duplicated, delayed and reordered until `calmAfter`, then the link is reliable. No stack or
 * driver: outputs of one core become `segment` events of the other. Payloads are handed over in fresh
 * buffers that are scribbled over right after the step, so a core that kept a view instead of a copy
 * corrupts its stream and fails the comparison.
 */
import { ipv4 } from '../../../src/addr.js';
import { Random } from '../../../src/random.js';
import { parseTcp } from '../../../src/tcp/wire.js';
import { initialSeq } from '../../../src/tcp/core/secrets.js';
import { sipKey } from '../../../src/tcp/core/siphash.js';
import {
  concatChunks,
  encodeSegment,
  type FlowKey,
  segmentLength,
  segmentPseudoHeader,
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
  /** B's listen backlog (0: every handshake goes through SYN cookies). */
  readonly backlogB?: number;
  /** B stops reading once it has read `after` bytes, for `for` ms (its window closes). */
  readonly stall?: { readonly after: number; readonly for: number };
  /** From this time on (after start) the link drops everything, and both users call `close()`. */
  readonly dieAt?: number;
  /**
   * Put both initial sequence numbers within a few thousand of this value (e.g. 0xffff_ff00 or
   * 0x7fff_ff00) by giving each stack its own clock offset (RFC 6528's M is the clock).
   */
  readonly issNear?: number;
  /** Print every segment sent (for debugging a failing seed). */
  readonly trace?: boolean;
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
  readonly bytes: Uint8Array;
}

export interface SimResult {
  readonly violations: string[];
  readonly sentAB: Uint8Array;
  readonly readB: Uint8Array;
  readonly sentBA: Uint8Array;
  readonly readA: Uint8Array;
  readonly eofA: boolean;
  readonly eofB: boolean;
  /** Virtual time (since start) at which B read A's EOF: every byte A sent had arrived. */
  readonly eofBAt: number | null;
  /** Virtual time (since start) at which A's connection was established. */
  readonly establishedAAt: number | null;
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
  // Each stack has its own monotonic clock: sim time + offset.
  let offA = 0;
  let offB = 0;
  const A_PORT = 40_000;
  if (p.issNear !== undefined) {
    const fa = initialSeq(sipKey(secretA), 0, A_ADDR, A_PORT, B_ADDR, B_PORT);
    const fb = initialSeq(sipKey(secretB), 0, B_ADDR, B_PORT, A_ADDR, A_PORT);
    // Whole milliseconds keep the clock arithmetic exact.
    offA = Math.ceil(((p.issNear - fa) >>> 0) / 250 - now);
    offB = Math.ceil(((p.issNear - fb) >>> 0) / 250 - (now + p.link.delay));
    if (offA < 0) offA += 2 ** 32 / 250;
    if (offB < 0) offB += 2 ** 32 / 250;
  }
  let a = tcpInit(tcpConfig(secretA, p.configA), now + offA);
  let b = tcpInit(tcpConfig(secretB, p.configB), now + offB);
  const deadlineA = (): number => (tcpDeadline(a) ?? Number.POSITIVE_INFINITY) - offA;
  const deadlineB = (): number => (tcpDeadline(b) ?? Number.POSITIVE_INFINITY) - offB;
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
  let eofBAt: number | null = null;
  let establishedAAt: number | null = null;
  const closedA: string[] = [];
  const closedB: string[] = [];
  let nextRead = now;
  let aReadable = false;
  let aWritable = false;
  let bWritable = true;
  const limit = start + (p.limit ?? 3_600_000);

  const dead = (): boolean => p.dieAt !== undefined && now >= start + p.dieAt;
  let gaveUp = false;
  let closedFlowA = false;
  let closedFlowB = false;
  let stallUntil: number | null = null;
  let readBytesB = 0;
  const transmit = (from: 'a' | 'b', seg: SegmentOut): void => {
    segments++;
    if (p.trace === true) {
      const r = seg.repr;
      const f = ['syn', 'fin', 'rst', 'ack'].filter((k) => r.flags[k as 'syn']).join(',');
      const sack = r.options.sack?.map((b) => `${b.left}-${b.right}`).join(' ') ?? '';
      console.log(
        `${now.toFixed(1)} ${from}> ${f} seq=${r.seq} ack=${r.ack} win=${r.window} len=${seg.payloadLen} ${sack}`,
      );
    }
    if (dead()) return;
    const calm = now >= p.link.calmAfter + start;
    const copies = !calm && rng.chance(p.link.dup) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (!calm && rng.chance(p.link.loss)) continue;
      // Whole milliseconds: sim time + clock offset stays exact.
      const jitter = calm ? 0 : Math.floor(rng.float() * p.link.jitter);
      // Through the real codec: bytes on the wire, parsed (checksum verified) at the other end.
      const bytes = new Uint8Array(segmentLength(seg));
      encodeSegment(seg, bytes);
      const pkt: InFlight = {
        at: now + p.link.delay + jitter,
        order: order++,
        to: from === 'a' ? 'b' : 'a',
        seg,
        bytes,
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

  // Events carry sim time; `raw` events already carry the stack's own clock (timer ticks, exactly at
  // the stack's deadline, so no rounding of sim time + offset can leave a deadline unfired).
  const stepA = (ev: TcpEvent, raw = false): ReturnType<typeof tcpStep> => {
    const e = raw ? ev : ({ ...ev, now: ev.now + offA } as TcpEvent);
    const r = tcpStep(a, e);
    if (!NO_CHECK) for (const v of checkStep(a, r.state, r.outputs)) violations.push(`A t=${now}: ${v}`);
    a = r.state;
    for (const o of r.outputs) {
      if (o.kind === 'segment') transmit('a', o);
      else noteA(o);
    }
    return r;
  };
  const stepB = (ev: TcpEvent, raw = false): ReturnType<typeof tcpStep> => {
    const e = raw ? ev : ({ ...ev, now: ev.now + offB } as TcpEvent);
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
    if (n.kind === 'established') establishedAAt ??= now - start;
    if (n.kind === 'closed') closedA.push(n.reason);
  };
  const noteB = (n: TcpNotification): void => {
    if (n.kind === 'established' && n.role === 'passive') {
      // A new connection (possibly re-created from a SYN cookie by a late duplicate): B's user owns it.
      flowB = n.flow;
      closedFlowB = false;
    }
    if (n.kind === 'writable') bWritable = true;
    if (n.kind === 'closed') closedB.push(n.reason);
  };

  stepB({ kind: 'listen', now, port: B_PORT, ...(p.backlogB === undefined ? {} : { backlog: p.backlogB }) });
  const c = stepA({
    kind: 'connect',
    now,
    params: {
      local: A_ADDR,
      remote: B_ADDR,
      remotePort: B_PORT,
      ...(p.issNear === undefined ? {} : { localPort: A_PORT }),
    },
  });
  if (c.reply.kind === 'connected') flowA = c.reply.flow;
  else violations.push(`connect failed: ${JSON.stringify(c.reply)}`);

  const bHasData = (): boolean => {
    const t = flowB === null ? undefined : tcpConnection(b, flowB);
    return t !== undefined && (t.rcvq.length > 0 || t.rcvFin);
  };
  const apps = (): void => {
    if (dead()) {
      // The users give up: every connection must now go away on its own (docs/TCP-NOTES.md §6 liveness).
      // (Connections that get established later, from segments still in flight, are closed too.)
      gaveUp = true;
      if (flowA !== null && !closedFlowA) {
        closedFlowA = true;
        stepA({ kind: 'close', now, flow: flowA });
      }
      if (flowB !== null && !closedFlowB) {
        closedFlowB = true;
        stepB({ kind: 'close', now, flow: flowB });
      }
      return;
    }
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
    if (p.stall !== undefined && stallUntil === null && readBytesB >= p.stall.after) {
      stallUntil = now + p.stall.for;
      nextRead = Math.max(nextRead, stallUntil);
    }
    while (flowB !== null && !eofB && bHasData() && now >= nextRead) {
      const r = stepB({ kind: 'recv', now, flow: flowB, max: p.readSize });
      if (r.reply.kind !== 'data') break;
      for (const d of r.reply.data) readB.push(d.slice());
      readBytesB += r.reply.length;
      if (p.stall !== undefined && stallUntil === null && readBytesB >= p.stall.after) break;
      if (r.reply.eof) {
        eofB = true;
        eofBAt = now - start;
      }
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
    const candidates = [queue[0]?.at, deadlineA(), deadlineB()];
    const pendingRead = !eofB && bHasData() && !dead() ? Math.max(now, nextRead) : undefined;
    candidates.push(pendingRead);
    if (p.dieAt !== undefined && !gaveUp) candidates.push(start + p.dieAt);
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
      const parsed = parseTcp(pkt.bytes, segmentPseudoHeader(pkt.seg));
      if (!parsed.ok) {
        violations.push(`t=${now}: a segment does not parse: ${JSON.stringify(parsed.error)}`);
        continue;
      }
      const ev: TcpEvent = {
        kind: 'segment',
        now,
        src: pkt.seg.src,
        dst: pkt.seg.dst,
        repr: parsed.value.repr,
        payload: parsed.value.payload,
      };
      if (pkt.to === 'a') stepA(ev);
      else stepB(ev);
      // The frame buffer is reused after delivery: a core must have copied what it keeps.
      pkt.bytes.fill(0xee);
      continue;
    }
    const da = deadlineA();
    const db = deadlineB();
    const ta = tcpDeadline(a);
    const tb = tcpDeadline(b);
    if (da <= now && ta !== null) stepA({ kind: 'tick', now: Math.max(ta, now + offA) }, true);
    if (db <= now && tb !== null) stepB({ kind: 'tick', now: Math.max(tb, now + offB) }, true);
    if (da <= now && ta !== null && tcpDeadline(a) === ta) {
      violations.push(`A: tick at ${now} left a deadline <= now`);
      break;
    }
    if (db <= now && tb !== null && tcpDeadline(b) === tb) {
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
    eofBAt,
    establishedAAt,
    closedA,
    closedB,
    connsLeft: tcpConnections(a).length + tcpConnections(b).length,
    time: now - start,
    a,
    b,
    segments,
  };
}
