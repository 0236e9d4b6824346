/**
 * The scratch of one step. Rules work on mutable copies of the connection records they touch
 * (`get`), never on the records of the input state; `finish` runs the output routine for every touched
 * connection, derives the notifications by comparing each record before and after the step (docs/TCP-NOTES.md
 * §1 "diffing"), writes the new records into a new persistent table and keeps the timer heap's top
 * exact. The input state is never modified, so it stays usable (snapshots, replay, shrinking).
 */
import { heapInsert, heapPop, type PHeap } from './pheap.js';
import { type PMap, pmapEntries, pmapGet, pmapRemove, pmapSet } from './pmap.js';
import { ropeRead } from './rope.js';
import type { SipKey } from './siphash.js';
import { StackState } from './state.js';
import { copyTcb } from './tcb.js';
import { TouchedSet } from './touched.js';
import {
  COUNTER_INDEX,
  SEGMENT_COUNTERS,
  type CloseReason,
  type FlowKey,
  isSynchronized,
  type Listener,
  type MutTcb,
  type SegmentOut,
  type SoftError,
  type Tcb,
  type TcpConfig,
  type TcpCounterName,
  type TcpOutput,
  type TcpReply,
  type TcpStack,
  type TcpStep,
} from './types.js';

export interface DraftHooks {
  /** Sends what may be sent and arms the send-side timers (output.ts). */
  output(d: Draft, t: MutTcb): void;
  /** The connection's earliest deadline (timers.ts). */
  deadline(t: Tcb): number | null;
}

export class Draft {
  readonly segments: SegmentOut[] = [];
  readonly config: TcpConfig;
  readonly key: SipKey;
  conns: PMap<Tcb>;
  heap: PHeap;
  portTable: readonly number[];
  /** Bytes in every send queue as of this step's start; updated as `finish` commits the records. */
  sndMem: number;
  /** The same for bytes received and not yet read (receive and out-of-order queues). */
  rcvMem: number;
  private listenerCopy: Map<number, Listener> | null = null;
  private counterCopy: number[] | null = null;
  /** Working copies (null = removed) and the records they started from (undefined = created). */
  private readonly touched = new TouchedSet();

  constructor(
    readonly s: TcpStack,
    readonly now: number,
    private readonly hooks: DraftHooks,
  ) {
    this.config = s.config;
    this.key = s.key;
    this.conns = s.conns;
    this.heap = s.heap;
    this.portTable = s.portTable;
    this.sndMem = s.sndMem;
    this.rcvMem = s.rcvMem;
  }

  get listeners(): ReadonlyMap<number, Listener> {
    return this.listenerCopy ?? this.s.listeners;
  }

  setListener(port: number, l: Listener | null): void {
    this.listenerCopy ??= new Map(this.s.listeners);
    if (l === null) this.listenerCopy.delete(port);
    else this.listenerCopy.set(port, l);
  }

  count(name: TcpCounterName, by = 1): void {
    this.countAt(COUNTER_INDEX[name], by);
  }

  /** `count` by index, for the counters of every segment (`SEGMENT_COUNTERS`). */
  countAt(index: number, by = 1): void {
    if (by === 0) return;
    this.counterCopy ??= this.s.counterValues.slice();
    this.counterCopy[index]! += by;
  }

  /** The number of connections after the changes so far. */
  get size(): number {
    return this.conns.size;
  }

  /** A mutable working copy of the connection, or undefined if there is none. */
  get(key: FlowKey): MutTcb | undefined {
    const e = this.touched.get(key);
    if (e !== undefined) return e.work ?? undefined;
    const t = pmapGet(this.conns, key);
    if (t === undefined) return undefined;
    return this.touched.add(key, copyTcb(t), t).work!;
  }

  has(key: FlowKey): boolean {
    const e = this.touched.get(key);
    if (e !== undefined) return e.work !== null;
    return pmapGet(this.conns, key) !== undefined;
  }

  /** Every connection as this step sees it (for rare whole-table operations). */
  *allConnections(): Generator<Tcb> {
    for (const [key, t] of pmapEntries(this.conns)) {
      const e = this.touched.get(key);
      if (e?.work === null) continue;
      yield e?.work ?? t;
    }
  }

  /** Adds a new connection (the key must be free). */
  create(t: MutTcb): void {
    const e = this.touched.get(t.key);
    if (e !== undefined) e.work = t;
    else this.touched.add(t.key, t, pmapGet(this.conns, t.key));
    // Keep `size` right for admission checks within the step.
    this.conns = pmapSet(this.conns, t.key, t);
  }

  /** Deletes the connection (its TCB) with the reason (and soft error) reported to the user. */
  remove(key: FlowKey, reason: CloseReason, error: SoftError | null = null): void {
    const e = this.touched.get(key);
    if (e !== undefined) {
      const rcvq = e.work?.rcvq;
      e.work = null;
      e.reason = reason;
      e.error = error;
      if (rcvq !== undefined && rcvq.length > 0) e.unread = rcvq;
    } else {
      const old = pmapGet(this.conns, key);
      const t = this.touched.add(key, null, old, reason, error);
      if (old !== undefined && old.rcvq.length > 0) t.unread = old.rcvq;
    }
    this.conns = pmapRemove(this.conns, key);
  }

  emit(seg: SegmentOut): void {
    this.segments.push(seg);
    // A TSO output counts as the segments it stands for.
    const size = seg.segmentSize;
    this.countAt(SEGMENT_COUNTERS.segmentsOut, size === undefined ? 1 : Math.ceil(seg.payloadLen / size));
    if (seg.payloadLen > 0) this.countAt(SEGMENT_COUNTERS.bytesOut, seg.payloadLen);
    if (seg.repr.flags.rst) this.count('rst-sent');
  }

  finish(reply: TcpReply): TcpStep {
    const notes: TcpOutput[] = [];
    const touched = this.touched.list;
    for (let i = 0; i < touched.length; i++) {
      const w = touched[i]!.work;
      if (w !== null) this.hooks.output(this, w);
    }
    for (const { key, work: w, before: old, reason, error, unread } of touched) {
      this.sndMem += (w?.sndq.length ?? 0) - (old?.sndq.length ?? 0);
      this.rcvMem += received(w) - received(old);
      if (w === null) {
        if (old?.announced) {
          notes.push({
            kind: 'closed',
            flow: key,
            reason: reason ?? 'local',
            ...(error === null ? {} : { error }),
            // What arrived before the end is still the user's (a RST after data: read, then the error).
            ...(unread === null ? {} : { unread: ropeRead(unread, 0, unread.length) }),
          });
        }
        if (old !== undefined) this.listenerDelta(old, undefined);
        continue;
      }
      this.listenerDelta(old, w);
      const wasSync = old !== undefined && isSynchronized(old.state);
      if (!wasSync && isSynchronized(w.state)) {
        w.announced = true;
        this.count(w.passive ? 'established-passive' : 'established-active');
        notes.push({
          kind: 'established',
          flow: key,
          role: w.passive ? 'passive' : 'active',
          local: w.local,
          localPort: w.localPort,
          remote: w.remote,
          remotePort: w.remotePort,
        });
      }
      if (w.announced && w.rcvq.length > (old?.rcvq.length ?? 0)) {
        notes.push({ kind: 'readable', flow: key, available: w.rcvq.length });
      }
      if (w.announced && w.rcvFin && !(old?.rcvFin ?? false)) notes.push({ kind: 'eof', flow: key });
      const allowance = sendAllowance(this.config, this.sndMem);
      if (w.writeBlocked && canWrite(w) && allowance - w.sndq.length >= allowance / 2) {
        w.writeBlocked = false;
        notes.push({ kind: 'writable', flow: key, space: allowance - w.sndq.length });
      }
      if (w.state === 'TimeWait' && old?.state !== 'TimeWait' && w.announced) {
        // Over for the user; TIME-WAIT itself is the stack's business (the record stays readable).
        w.announced = false;
        notes.push({ kind: 'closed', flow: key, reason: 'normal' });
      }
      this.schedule(w);
      this.conns = pmapSet(this.conns, key, w);
    }
    this.normalizeHeap();
    const outputs: TcpOutput[] = this.segments;
    outputs.push(...notes);
    const changed =
      touched.length > 0 ||
      this.listenerCopy !== null ||
      this.counterCopy !== null ||
      this.heap !== this.s.heap ||
      this.portTable !== this.s.portTable ||
      this.now !== this.s.now;
    const state: TcpStack = changed
      ? new StackState(
          this.config,
          this.key,
          this.conns,
          this.listeners,
          this.heap,
          this.portTable,
          this.counterCopy ?? this.s.counterValues,
          Math.max(this.now, this.s.now),
          this.sndMem,
          this.rcvMem,
        )
      : this.s;
    return { state, outputs, reply };
  }

  /** Keeps each listener's count of SYN-RECEIVED children right. */
  private listenerDelta(old: Tcb | undefined, now: Tcb | undefined): void {
    const was = old?.passive === true && old.state === 'SynReceived';
    const is = now?.passive === true && now.state === 'SynReceived';
    if (was === is) return;
    const t = (now ?? old)!;
    const l = this.listeners.get(t.localPort);
    if (l === undefined) return;
    this.setListener(t.localPort, { ...l, pending: Math.max(0, l.pending + (is ? 1 : -1)) });
  }

  private schedule(t: MutTcb): void {
    const d = this.hooks.deadline(t);
    if (d !== null && (t.heapAt === null || d < t.heapAt)) {
      this.heap = heapInsert(this.heap, d, t.key);
      t.heapAt = d;
    }
  }

  /** Pops stale entries off the top until the top is some connection's exact deadline. */
  private normalizeHeap(): void {
    for (;;) {
      const top = this.heap;
      if (top === null) return;
      const t = pmapGet(this.conns, top.key);
      if (t === undefined || t.heapAt !== top.at) {
        this.heap = heapPop(top);
        continue;
      }
      const exact = this.hooks.deadline(t);
      if (exact === top.at) return;
      this.heap = heapPop(top);
      // The deadline moved later (e.g. the retransmit timer restarted): re-file it there. A record this
      // step wrote is its own copy and is updated in place; one it did not touch is copied first.
      if (exact !== null) this.heap = heapInsert(this.heap, exact, t.key);
      const own = this.touched.get(t.key)?.work === t ? (t as MutTcb) : copyTcb(t);
      own.heapAt = exact;
      if (own !== t) this.conns = pmapSet(this.conns, t.key, own);
    }
  }

  /** Pops the entry at the top of the heap if it is due; the connection's `heapAt` is cleared. */
  popDue(): FlowKey | null {
    for (;;) {
      const top = this.heap;
      if (top === null || top.at > this.now) return null;
      this.heap = heapPop(top);
      const e = this.touched.get(top.key);
      const cur = e === undefined ? pmapGet(this.conns, top.key) : (e.work ?? undefined);
      if (cur === undefined || cur.heapAt !== top.at) continue;
      const t = this.get(top.key)!;
      t.heapAt = null;
      return top.key;
    }
  }
}

/** States in which the user may still queue data. */
export function canWrite(t: Tcb): boolean {
  return (
    t.finSeq === null &&
    (t.state === 'Established' ||
      t.state === 'CloseWait' ||
      t.state === 'SynSent' ||
      t.state === 'SynReceived')
  );
}

/** Bytes the user may still queue. */
export function sendSpace(t: Tcb, c: TcpConfig, sndMem: number): number {
  return Math.max(0, sendAllowance(c, sndMem) - t.sndq.length);
}

/**
 * What a connection may hold under memory pressure: Linux's initial send buffer (tcp_wmem[1], 16 KB).
 * Every connection keeps this much, so a writer whose own data is acknowledged is always woken, and
 * a receiver can always be sent this much.
 */
export const PRESSURE_FLOOR = 16 * 1024;

/**
 * A connection's send-buffer size: `sndBuf`, or the floor once the stack's queued bytes reach
 * `tcpMemory` (Linux's tcp_mem hard limit: sk_wmem_schedule fails past it, sk_stream_wait_memory).
 * Below the limit one write may overshoot it by at most one `sndBuf`.
 */
export function sendAllowance(c: TcpConfig, sndMem: number): number {
  return allowance(c, c.sndBuf, sndMem);
}

/**
 * A connection's receive-buffer size for the window it offers: `rcvBuf`, or the floor once the bytes
 * received and not yet read reach `tcpMemory` (Linux clamps rcv_ssthresh to 4 segments under
 * pressure, tcp_adjust_rcv_ssthresh). A window already offered is never taken back (RFC 9293
 * §3.8.6.2.2): the stack holds at most the limit, the windows offered before it, and a floor each.
 */
export function receiveAllowance(c: TcpConfig, rcvMem: number): number {
  return allowance(c, c.rcvBuf, rcvMem);
}

/** `buf`, or at most the floor once `mem` bytes reach `tcpMemory` (0: no limit). */
function allowance(c: TcpConfig, buf: number, mem: number): number {
  return c.tcpMemory > 0 && mem >= c.tcpMemory ? Math.min(buf, PRESSURE_FLOOR) : buf;
}

/** Bytes a connection holds received and not yet read. */
function received(t: Tcb | null | undefined): number {
  return t === null || t === undefined ? 0 : t.rcvq.length + t.ooo.bytes;
}
