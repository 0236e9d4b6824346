/**
 * docs/TCP-NOTES.md §6 invariants, checked after every step of a core: returns the violations (empty when all
 * hold) so property tests can report them with the failing trace.
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from '../../../src/tcp/seq.js';
import {
  flowKey,
  type SegmentOut,
  type Tcb,
  tcpConnection,
  tcpConnections,
  type TcpOutput,
  type TcpStack,
  type TcpState,
} from '../../../src/tcp/core/index.js';
import { MAX_SENT } from '../../../src/tcp/core/rack.js';

/** One-segment transitions (RFC 9293 Figure 5 plus simultaneous open and half-close); a step may chain them. */
const NEXT: Record<TcpState, readonly TcpState[]> = {
  SynSent: ['SynReceived', 'Established', 'FinWait1'],
  SynReceived: ['Established', 'FinWait1'],
  Established: ['FinWait1', 'CloseWait'],
  FinWait1: ['FinWait2', 'Closing', 'TimeWait'],
  FinWait2: ['TimeWait'],
  Closing: ['TimeWait'],
  CloseWait: ['LastAck'],
  LastAck: [],
  TimeWait: [],
};

function reachable(from: TcpState): Set<TcpState> {
  const seen = new Set<TcpState>([from]);
  const todo = [from];
  while (todo.length > 0) {
    for (const n of NEXT[todo.pop()!]) {
      if (!seen.has(n)) {
        seen.add(n);
        todo.push(n);
      }
    }
  }
  return seen;
}

const SENDING: readonly TcpState[] = ['Established', 'CloseWait', 'FinWait1', 'Closing', 'LastAck'];
const CANT_SEND_MORE: readonly TcpState[] = ['FinWait1', 'FinWait2', 'Closing', 'TimeWait', 'LastAck'];
const CANT_RCV_MORE: readonly TcpState[] = ['CloseWait', 'LastAck', 'Closing', 'TimeWait'];

function sndqSeq(t: Tcb): number {
  return t.state === 'SynSent' || t.state === 'SynReceived' ? seqAdd(t.iss, 1) : t.sndUna;
}

function hasUnsent(t: Tcb): boolean {
  const end = seqAdd(sndqSeq(t) as never, t.sndq.length);
  return seqLt(t.sndNxt, end) || (t.finSeq !== null && t.sndNxt === t.finSeq);
}

export function checkConnection(t: Tcb, s: TcpStack): string[] {
  const v: string[] = [];
  const c = s.config;
  const k = t.key;
  if (!(seqLe(t.sndUna, t.sndNxt) && seqLe(t.sndNxt, t.sndMax))) {
    v.push(`${k}: SND.UNA ${t.sndUna} <= SND.NXT ${t.sndNxt} <= SND.MAX ${t.sndMax}`);
  }
  const unsync = t.state === 'SynSent' || t.state === 'SynReceived';
  const allowance = t.sndq.length + (unsync ? 1 : 0) + (t.finSeq !== null ? 1 : 0);
  if (seqDiff(t.sndMax, t.sndUna) > allowance)
    v.push(`${k}: in flight ${seqDiff(t.sndMax, t.sndUna)} > ${allowance}`);
  if (t.sndq.length > c.sndBuf) v.push(`${k}: sndq ${t.sndq.length} > sndBuf`);
  if (t.state !== 'SynSent') {
    let prevEnd = t.rcvNxt;
    let sum = 0;
    for (const r of t.ooo.ranges) {
      if (!seqGt(r.start, prevEnd))
        v.push(`${k}: ooo range ${r.start} not above ${prevEnd} (sorted, non-adjacent)`);
      if (!seqLt(r.start, r.end)) v.push(`${k}: empty ooo range`);
      if (seqGt(r.end, t.rcvAdv)) v.push(`${k}: ooo range ends ${r.end} past RCV.ADV ${t.rcvAdv}`);
      if (r.data.length !== seqDiff(r.end, r.start)) v.push(`${k}: ooo range data length`);
      sum += seqDiff(r.end, r.start);
      prevEnd = r.end;
    }
    if (sum !== t.ooo.bytes) v.push(`${k}: ooo bytes ${t.ooo.bytes} != ${sum}`);
    if (t.ooo.ranges.length > c.maxOooRanges) v.push(`${k}: too many ooo ranges`);
    const slack = 2 ** t.rcvScale;
    if (t.rcvq.length + t.ooo.bytes > c.rcvBuf + slack)
      v.push(`${k}: receive memory ${t.rcvq.length + t.ooo.bytes}`);
  }
  if (SENDING.includes(t.state) && (t.sndMax !== t.sndUna || hasUnsent(t)) && t.rexmt === null) {
    v.push(`${k}: ${t.state} with data/FIN outstanding or waiting but no retransmit/persist timer`);
  }
  if (t.sndMax !== t.sndUna && t.rexmt?.mode === 'persist') v.push(`${k}: persist timer with data in flight`);
  if (unsync && t.rexmt?.mode !== 'syn') v.push(`${k}: ${t.state} without the SYN timer`);
  if (t.state === 'TimeWait') {
    if (t.rexmt !== null || t.delackAt !== null || t.finWait2At !== null || t.keepaliveAt !== null) {
      v.push(`${k}: TIME-WAIT with a timer other than 2MSL`);
    }
    if (t.timeWaitAt === null) v.push(`${k}: TIME-WAIT without the 2MSL timer`);
  }
  if (CANT_SEND_MORE.includes(t.state) && t.finSeq === null) v.push(`${k}: ${t.state} without a FIN queued`);
  v.push(...checkLossState(t));
  if (CANT_RCV_MORE.includes(t.state) && !t.rcvFin) v.push(`${k}: ${t.state} without the peer's FIN`);
  return v;
}

/**
 * RACK-TLP and recovery state (src/tcp/core/rack.ts, recovery.ts): the send log covers exactly
 * [SND.UNA, SND.MAX) in order and within its bound, lost marks lie inside it, PRR never counts more
 * sent than it allowed, the RACK timers only run with data in flight.
 */
function checkLossState(t: Tcb): string[] {
  const v: string[] = [];
  const k = t.key;
  const es = t.sent.entries;
  if (es.length > MAX_SENT) v.push(`${k}: send log ${es.length} entries > ${MAX_SENT}`);
  // BBR's delivery-rate sampler (rate.ts) keeps the log without SACK too.
  const logged = t.sackOk || t.cc.algo === 'bbr';
  if (!logged && es.length > 0) v.push(`${k}: send log without SACK`);
  if (logged && SENDING.includes(t.state) && t.sndMax !== t.sndUna) {
    if (es.length === 0) v.push(`${k}: data in flight but no send log`);
    else {
      if (es[0]!.start !== t.sndUna) v.push(`${k}: send log starts at ${es[0]!.start}, SND.UNA ${t.sndUna}`);
      if (es[es.length - 1]!.end !== t.sndMax)
        v.push(`${k}: send log ends at ${es[es.length - 1]!.end}, SND.MAX ${t.sndMax}`);
      for (let i = 0; i < es.length; i++) {
        if (!seqLt(es[i]!.start, es[i]!.end)) v.push(`${k}: empty send log entry`);
        if (i > 0 && es[i]!.start !== es[i - 1]!.end) v.push(`${k}: send log not contiguous`);
        if (es[i]!.order >= t.sent.next) v.push(`${k}: send log order past next`);
      }
    }
  }
  for (const l of t.rack.lost) {
    if (seqLt(l.start, t.sndUna) || seqGt(l.end, t.sndMax))
      v.push(`${k}: lost mark outside [SND.UNA, SND.MAX)`);
  }
  if (t.sndMax === t.sndUna && t.rack.ptoAt !== null && SENDING.includes(t.state))
    v.push(`${k}: probe timer with nothing in flight`);
  if (t.recovery !== null && t.recovery.prrOut < 0) v.push(`${k}: negative prr_out`);
  return v;
}

/** Which connection an emitted segment belongs to. */
function keyOfOut(o: SegmentOut, s: TcpStack): Tcb | undefined {
  return tcpConnection(s, flowKey(o.src, o.repr.srcPort, o.dst, o.repr.dstPort));
}

/** Checks a step: every connection after it, its changes against before, and its segments. */
export function checkStep(before: TcpStack, after: TcpStack, outputs: readonly TcpOutput[]): string[] {
  const v: string[] = [];
  for (const t of tcpConnections(after)) {
    v.push(...checkConnection(t, after));
    const old = tcpConnection(before, t.key);
    if (old === undefined || old.iss !== t.iss) continue;
    if (!reachable(old.state).has(t.state)) v.push(`${t.key}: transition ${old.state} -> ${t.state}`);
    if (old.state !== 'SynSent') {
      if (seqLt(t.rcvNxt, old.rcvNxt)) v.push(`${t.key}: RCV.NXT went back ${old.rcvNxt} -> ${t.rcvNxt}`);
      if (seqLt(t.rcvAdv, old.rcvAdv)) v.push(`${t.key}: right edge moved left ${old.rcvAdv} -> ${t.rcvAdv}`);
      if (old.rcvFin && t.rcvq.length > old.rcvq.length) v.push(`${t.key}: rcvq grew after the FIN`);
    }
    if (seqLt(t.sndUna, old.sndUna)) v.push(`${t.key}: SND.UNA went back`);
  }
  for (const o of outputs) {
    if (o.kind !== 'segment') continue;
    const r = o.repr;
    if (r.flags.rst) continue;
    const t = keyOfOut(o, after) ?? keyOfOut(o, before);
    if (t === undefined) continue;
    const old = tcpConnection(before, t.key);
    if (r.flags.ack && !r.flags.syn && t.state !== 'SynSent') {
      const lo = old !== undefined && old.iss === t.iss && old.state !== 'SynSent' ? old.rcvNxt : r.ack;
      if (!(seqGe(r.ack, lo) && seqLe(r.ack, t.rcvNxt)))
        v.push(`${t.key}: ACK ${r.ack} outside [${lo}, ${t.rcvNxt}]`);
    }
    if (r.flags.syn) continue;
    const end = seqAdd(r.seq, o.payloadLen);
    if (o.payloadLen > 0) {
      if (seqGt(end, t.sndMax)) v.push(`${t.key}: data past SND.MAX`);
      const oldMax = old !== undefined && old.iss === t.iss ? old.sndMax : t.sndUna;
      // New data must fit the window offered (a window probe carries none: ours are empty).
      if (
        seqGt(end, oldMax) &&
        seqGt(end, seqAdd(t.sndUna, Math.max(t.sndWnd, 1))) &&
        seqGt(end, seqAdd(old?.sndUna ?? t.sndUna, Math.max(old?.sndWnd ?? 0, 1)))
      ) {
        v.push(`${t.key}: new data [${r.seq}, ${end}) beyond SND.UNA + SND.WND`);
      }
    }
    if (seqLt(r.seq, seqAdd(old?.sndUna ?? t.sndUna, -1))) v.push(`${t.key}: segment below SND.UNA - 1`);
  }
  return v;
}
