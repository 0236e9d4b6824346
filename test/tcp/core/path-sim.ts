/**
 * Two TCP cores across one router hop, in virtual time, for the path-signal tests (pmtu, ecn): the
 * hop has an MTU and either answers a packet too big with Fragmentation Needed (`'icmp'`, RFC 1191)
 * or drops it silently (`'blackhole'`, RFC 4821 §3), and it may mark ECT packets CE (RFC 3168 §5).
 * The server (B) sends `bytes` to the client (A), as `oasis up` serves curl; the wire is otherwise
 * lossless and in order.
 */
import { ipv4 } from '../../../src/addr.js';
import {
  cutSegment,
  type FlowKey,
  type SegmentOut,
  type Tcb,
  tcpConfig,
  type TcpConfig,
  tcpConnection,
  tcpCounters,
  type TcpCounters,
  tcpDeadline,
  type TcpEvent,
  tcpInit,
  type TcpStack,
  tcpStep,
} from '../../../src/tcp/core/index.js';
import { tcpHeaderLen } from '../../../src/tcp/wire.js';

export const CLIENT = ipv4(10, 1, 0, 2);
export const SERVER = ipv4(10, 2, 0, 2);
const PORT = 80;
const SECRET_A = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const SECRET_B = Uint8Array.from({ length: 16 }, (_, i) => 200 - i);

export interface PathParams {
  /** The hop's MTU (IPv4 total length). */
  readonly mtu: number;
  readonly tooBig: 'icmp' | 'blackhole';
  /** Bytes the server sends. */
  readonly bytes: number;
  /** One-way delay per hop direction (ms). */
  readonly delay: number;
  /** Mark the n-th ECT packet CE (n counts ECT packets from 0). */
  readonly ce?: (n: number) => boolean;
  readonly client?: Partial<Omit<TcpConfig, 'secret'>>;
  readonly server?: Partial<Omit<TcpConfig, 'secret'>>;
  /** Give up after this much virtual time (ms). */
  readonly limit?: number;
  /**
   * A bottleneck on the server's way out: `rate` bytes per ms, a drop-tail queue of `queue` bytes
   * (the packet in service included); it may `pause` (serve nothing) for a while, a delay spike that
   * keeps order and spacing. Without it the hop is as fast as the cores send.
   */
  readonly bottleneck?: {
    readonly rate: number;
    readonly queue: number;
    readonly pause?: { readonly at: number; readonly for: number };
  };
  /** Extra delay (ms) for a segment `from` sends at `now` (a delay spike; it keeps their spacing). */
  readonly extraDelay?: (now: number, from: 'A' | 'B') => number;
  /** Drop the n-th segment `from` sends (n counts that side's segments from 0): random loss (BBR tests). */
  readonly drop?: (from: 'A' | 'B', n: number) => boolean;
  /**
   * Once the client has read every byte, still deliver what is in flight (timers stay off), so the
   * server sees the last ACKs — an ECE echoing a CE mark on the final segment among them.
   */
  readonly drain?: boolean;
  /**
   * The server connection's `tsoMax` (set once it is established): its TSO outputs are cut into the
   * segments they stand for (`cutSegment`, as a device does) before they reach the wire.
   */
  readonly tso?: number;
  /** Called after every step of the server with its connection (HyStart++ and F-RTO tests). */
  readonly onServer?: (now: number, conn: Tcb | undefined, counters: TcpCounters) => void;
}

export interface PathResult {
  readonly received: number;
  readonly done: boolean;
  readonly now: number;
  /** Every segment the server sent, with its IP length and whether it got through. */
  readonly serverSegments: { readonly seg: SegmentOut; readonly ipLen: number; readonly at: number }[];
  readonly clientSegments: SegmentOut[];
  readonly serverCounters: TcpCounters;
  readonly clientCounters: TcpCounters;
  /** The server connection's MSS at the end (null if gone). */
  readonly serverMss: number | null;
  readonly serverCeMarks: number;
  readonly clientCeMarks: number;
  /** Each ECN reduction of the server: when, SND.UNA after it, and SND.MAX at the previous one. */
  readonly reductions: { readonly at: number; readonly una: number; readonly prevMax: number | null }[];
  /** When the bottleneck's queue dropped a segment of the server's. */
  readonly drops: number[];
  /** Outputs of the server's core that stood for several segments (TSO, `tso`). */
  readonly tsoOutputs: number;
}

interface Pending {
  readonly at: number;
  readonly order: number;
  readonly to: 'A' | 'B';
  readonly event: (now: number) => TcpEvent;
}

export function runPath(p: PathParams): PathResult {
  let a: TcpStack = tcpInit(tcpConfig(SECRET_A, p.client ?? {}), 0);
  let b: TcpStack = tcpInit(tcpConfig(SECRET_B, p.server ?? {}), 0);
  const queue: Pending[] = [];
  let order = 0;
  let now = 0;
  let received = 0;
  let sent = 0;
  let ectSeen = 0;
  let sentA = 0;
  let sentB = 0;
  let serverFlow: FlowKey | null = null;
  let clientFlow: FlowKey | null = null;
  const serverSegments: PathResult['serverSegments'] = [];
  const clientSegments: SegmentOut[] = [];
  const reductions: { at: number; una: number; prevMax: number | null }[] = [];
  const chunk = new Uint8Array(64 * 1024).map((_, i) => (i * 31) & 0xff);
  const limit = p.limit ?? 600_000;
  const drops: number[] = [];
  let linkFreeAt = 0;
  /** What the bottleneck holds: when each packet leaves it, and its length (FIFO). */
  const held: { leave: number; len: number }[] = [];
  let heldBytes = 0;

  const push = (at: number, to: 'A' | 'B', event: (now: number) => TcpEvent) => {
    queue.push({ at, order: order++, to, event });
  };

  let tsoOutputs = 0;
  const wire = (from: 'A' | 'B', out: SegmentOut) => {
    if (out.segmentSize !== undefined) tsoOutputs++;
    for (const seg of cutSegment(out)) wireOne(from, seg);
  };

  const wireOne = (from: 'A' | 'B', seg: SegmentOut) => {
    const ipLen = 20 + tcpHeaderLen(seg.repr) + seg.payloadLen;
    if (from === 'B') serverSegments.push({ seg, ipLen, at: now });
    else clientSegments.push(seg);
    // Only the server's data crosses the narrow hop (the client's ACKs are small anyway).
    if (ipLen > p.mtu) {
      if (p.tooBig === 'icmp') {
        const to = from;
        push(now + p.delay, to, (t) => ({
          kind: 'icmp-error',
          now: t,
          local: seg.src,
          localPort: seg.repr.srcPort,
          remote: seg.dst,
          remotePort: seg.repr.dstPort,
          seq: seg.repr.seq,
          error: 'EHOSTUNREACH',
          mtu: p.mtu,
        }));
      }
      return;
    }
    if (p.drop?.(from, from === 'A' ? sentA++ : sentB++) === true) return;
    let ecn = seg.ect === true ? 2 : 0;
    if (ecn === 2 && p.ce?.(ectSeen++) === true) ecn = 3;
    // A copy: the core may reuse nothing of ours, and we keep nothing of its.
    const payload = new Uint8Array(seg.payloadLen);
    let off = 0;
    for (const c of seg.payload) {
      payload.set(c, off);
      off += c.length;
    }
    const to = from === 'A' ? 'B' : 'A';
    let leaves = now;
    const bn = p.bottleneck;
    if (from === 'B' && bn !== undefined) {
      while (held.length > 0 && held[0]!.leave <= now) heldBytes -= held.shift()!.len;
      // Drop-tail: what waits (and is in service) plus this packet must fit the queue. (Without a
      // pause, what is left to serialise; a pause makes that count its idle time too.)
      const backlog = bn.pause === undefined ? Math.max(0, linkFreeAt - now) * bn.rate : heldBytes;
      if (backlog + ipLen > bn.queue) {
        drops.push(now);
        return;
      }
      let start = Math.max(linkFreeAt, now);
      const pz = bn.pause;
      if (pz !== undefined && start + ipLen / bn.rate > pz.at && start < pz.at + pz.for)
        start = pz.at + pz.for;
      linkFreeAt = start + ipLen / bn.rate;
      leaves = linkFreeAt;
      held.push({ leave: leaves, len: ipLen });
      heldBytes += ipLen;
    }
    push(leaves + 2 * p.delay + (p.extraDelay?.(now, from) ?? 0), to, (t) => ({
      kind: 'segment',
      now: t,
      src: seg.src,
      dst: seg.dst,
      repr: seg.repr,
      payload,
      ecn,
    }));
  };

  const stepB = (e: TcpEvent) => {
    const before = serverFlow === null ? undefined : tcpConnection(b, serverFlow);
    const reducedBefore = tcpCounters(b)['ecn-reduced'];
    const r = tcpStep(b, e);
    b = r.state;
    const after = serverFlow === null ? undefined : tcpConnection(b, serverFlow);
    if (tcpCounters(b)['ecn-reduced'] > reducedBefore && before !== undefined && after !== undefined) {
      reductions.push({ at: now, una: after.sndUna, prevMax: before.ecnRecover });
    }
    p.onServer?.(now, after, tcpCounters(b));
    for (const o of r.outputs) {
      if (o.kind === 'segment') wire('B', o);
      else if (o.kind === 'established') {
        serverFlow = o.flow;
        if (p.tso !== undefined)
          b = tcpStep(b, { kind: 'set-options', now, flow: o.flow, options: { tsoMax: p.tso } }).state;
      }
    }
    feedServer();
    return r.reply;
  };

  const feedServer = () => {
    if (serverFlow === null) return;
    while (sent < p.bytes) {
      const n = Math.min(chunk.length, p.bytes - sent);
      const r = tcpStep(b, { kind: 'send', now, flow: serverFlow, data: chunk.subarray(0, n) });
      b = r.state;
      for (const o of r.outputs) if (o.kind === 'segment') wire('B', o);
      const took = r.reply.kind === 'sent' ? r.reply.accepted : 0;
      sent += took;
      if (took < n) break;
    }
  };

  const stepA = (e: TcpEvent) => {
    const r = tcpStep(a, e);
    a = r.state;
    let readable = false;
    for (const o of r.outputs) {
      if (o.kind === 'segment') wire('A', o);
      else if (o.kind === 'readable') readable = true;
    }
    if (readable && clientFlow !== null) {
      const rr = tcpStep(a, { kind: 'recv', now, flow: clientFlow });
      a = rr.state;
      for (const o of rr.outputs) if (o.kind === 'segment') wire('A', o);
      if (rr.reply.kind === 'data') received += rr.reply.length;
    }
  };

  stepB({ kind: 'listen', now, port: PORT });
  const c = tcpStep(a, { kind: 'connect', now, params: { local: CLIENT, remote: SERVER, remotePort: PORT } });
  a = c.state;
  if (c.reply.kind === 'connected') clientFlow = c.reply.flow;
  for (const o of c.outputs) if (o.kind === 'segment') wire('A', o);

  /** The index of the next delivery (earliest, then first queued), or -1. */
  const nextDelivery = (): number => {
    let qi = -1;
    for (let i = 0; i < queue.length; i++) {
      const q = queue[i]!;
      const best = qi < 0 ? undefined : queue[qi]!;
      if (best === undefined || q.at < best.at || (q.at === best.at && q.order < best.order)) qi = i;
    }
    return qi;
  };
  const deliver = (qi: number) => {
    const q = queue.splice(qi, 1)[0]!;
    now = Math.max(now, q.at);
    if (q.to === 'A') stepA(q.event(now));
    else stepB(q.event(now));
  };

  for (let guard = 0; guard < 2_000_000 && received < p.bytes && now <= limit; guard++) {
    const da = tcpDeadline(a) ?? Number.POSITIVE_INFINITY;
    const db = tcpDeadline(b) ?? Number.POSITIVE_INFINITY;
    const qi = nextDelivery();
    const qa = qi < 0 ? Number.POSITIVE_INFINITY : queue[qi]!.at;
    const next = Math.min(da, db, qa);
    if (next === Number.POSITIVE_INFINITY) break;
    now = Math.max(now, next);
    if (qa === next) deliver(qi);
    else if (da === next) stepA({ kind: 'tick', now });
    else stepB({ kind: 'tick', now });
  }
  if (p.drain === true && received >= p.bytes) {
    // Replies to these deliveries (none are expected once the data is acknowledged) join the queue.
    for (let guard = 0; guard < 10_000 && queue.length > 0; guard++) deliver(nextDelivery());
  }
  const st = serverFlow === null ? undefined : tcpConnection(b, serverFlow);
  const ct = clientFlow === null ? undefined : tcpConnection(a, clientFlow);
  return {
    received,
    done: received >= p.bytes,
    now,
    serverSegments,
    clientSegments,
    serverCounters: tcpCounters(b),
    clientCounters: tcpCounters(a),
    serverMss: st?.mss ?? null,
    serverCeMarks: st?.stats.ceMarks ?? 0,
    clientCeMarks: ct?.stats.ceMarks ?? 0,
    reductions,
    drops,
    tsoOutputs,
  };
}
