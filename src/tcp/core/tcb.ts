/**
 * A fresh TCB (RFC 9293 §3.10.1 "Create a new transmission control block"), before any option is
 * negotiated: callers fill in the state-specific fields.
 */
import { type Seq, seqAdd } from '../seq.js';
import { ccInit } from './congestion/index.js';
import { windowShiftFor } from './output.js';
import { EMPTY_LOG, RACK_INIT } from './rack.js';
import { EMPTY_OOO, type Scoreboard } from './ranges.js';
import { rateInit } from './rate.js';
import { EMPTY_ROPE } from './rope.js';
import { rttInit } from './rtt.js';
import { flowKey, isV6 } from './secrets.js';
import type { ConnStats, IpAddr, MutTcb, Tcb, TcpConfig } from './types.js';

export interface NewTcb {
  readonly local: IpAddr;
  readonly localPort: number;
  readonly remote: IpAddr;
  readonly remotePort: number;
  readonly iss: Seq;
  readonly tsOffset: number;
  readonly passive: boolean;
  readonly now: number;
}

/** The scoreboard of every connection that has not seen a SACK: one array for all (never edited). */
const NO_SACKED: Scoreboard = [];
/** The delivery-rate state of every connection not run by BBR: only BBR stamps and reads it (rate.ts). */
const RATE_UNUSED = rateInit(0);
export const NO_STATS: ConnStats = {
  retransmits: 0,
  spuriousUndone: 0,
  rtos: 0,
  tlps: 0,
  fastRecoveries: 0,
  sackBlocks: 0,
  dsacks: 0,
  ceMarks: 0,
  spuriousRtos: 0,
};

export function newTcb(c: TcpConfig, p: NewTcb): MutTcb {
  const rmss = isV6(p.local) ? c.mss6 : c.mss4;
  return {
    key: flowKey(p.local, p.localPort, p.remote, p.remotePort),
    local: p.local,
    localPort: p.localPort,
    remote: p.remote,
    remotePort: p.remotePort,
    state: 'SynSent',
    passive: p.passive,
    announced: !p.passive,
    userClosed: false,
    finSeq: null,
    writeBlocked: false,
    iss: p.iss,
    sndUna: p.iss,
    sndNxt: seqAdd(p.iss, 1),
    sndMax: seqAdd(p.iss, 1),
    sndWnd: 0,
    sndWl1: 0 as Seq,
    sndWl2: p.iss,
    maxSndWnd: 0,
    sndScale: 0,
    mss: rmss,
    sndq: EMPTY_ROPE,
    irs: 0 as Seq,
    rcvNxt: 0 as Seq,
    rcvAdv: 0 as Seq,
    // The shift we offer in our SYN (RFC 7323 §2.2); reset to 0 if the peer does not scale.
    rcvScale: c.windowScaling ? windowShiftFor(c.rcvBuf) : 0,
    rmss,
    rcvq: EMPTY_ROPE,
    ooo: EMPTY_OOO,
    rcvFin: false,
    ackPending: 0,
    ackNow: false,
    wsOk: false,
    sackOk: false,
    tsOk: false,
    tsRecent: 0,
    tsRecentAt: p.now,
    lastAckSent: 0 as Seq,
    tsOffset: p.tsOffset,
    scoreboard: NO_SACKED,
    rtt: rttInit(c),
    rttSeq: null,
    rttAt: p.now,
    synRetransmitted: false,
    cc: ccInit(c.congestion, rmss, c.initialCwndSegments),
    dupAcks: 0,
    recovery: null,
    lastRecover: null,
    sent: EMPTY_LOG,
    rate: c.congestion === 'bbr' ? rateInit(p.now) : RATE_UNUSED,
    rack: RACK_INIT,
    undo: null,
    frto: null,
    dsack: null,
    stats: NO_STATS,
    lastSendAt: p.now,
    lastRecvAt: p.now,
    rexmt: null,
    delackAt: null,
    timeWaitAt: null,
    finWait2At: null,
    keepaliveAt: null,
    keepaliveProbes: 0,
    keepaliveTimes: null,
    softError: null,
    heapAt: null,
    noDelay: !c.nagle,
    keepalive: c.keepaliveDefault,
    tsoMax: 0,
    challengeWindowAt: Number.NEGATIVE_INFINITY,
    challengeCount: 0,
    ecnOk: false,
    ecnEcho: false,
    ecnCwr: false,
    ecnRecover: null,
  };
}

/**
 * A mutable copy of `t` for a step's draft. Spelled out field by field, in `newTcb`'s order, so every
 * record shares one hidden class: V8's generic `{ ...t }` took its slow path on this 66-field record
 * and was the biggest single cost of a step (perf, kernel iperf3 -> Oasis).
 */
export function copyTcb(t: Tcb): MutTcb {
  return {
    key: t.key,
    local: t.local,
    localPort: t.localPort,
    remote: t.remote,
    remotePort: t.remotePort,
    state: t.state,
    passive: t.passive,
    announced: t.announced,
    userClosed: t.userClosed,
    finSeq: t.finSeq,
    writeBlocked: t.writeBlocked,
    iss: t.iss,
    sndUna: t.sndUna,
    sndNxt: t.sndNxt,
    sndMax: t.sndMax,
    sndWnd: t.sndWnd,
    sndWl1: t.sndWl1,
    sndWl2: t.sndWl2,
    maxSndWnd: t.maxSndWnd,
    sndScale: t.sndScale,
    mss: t.mss,
    sndq: t.sndq,
    irs: t.irs,
    rcvNxt: t.rcvNxt,
    rcvAdv: t.rcvAdv,
    rcvScale: t.rcvScale,
    rmss: t.rmss,
    rcvq: t.rcvq,
    ooo: t.ooo,
    rcvFin: t.rcvFin,
    ackPending: t.ackPending,
    ackNow: t.ackNow,
    wsOk: t.wsOk,
    sackOk: t.sackOk,
    tsOk: t.tsOk,
    tsRecent: t.tsRecent,
    tsRecentAt: t.tsRecentAt,
    lastAckSent: t.lastAckSent,
    tsOffset: t.tsOffset,
    scoreboard: t.scoreboard,
    rtt: t.rtt,
    rttSeq: t.rttSeq,
    rttAt: t.rttAt,
    synRetransmitted: t.synRetransmitted,
    cc: t.cc,
    dupAcks: t.dupAcks,
    recovery: t.recovery,
    lastRecover: t.lastRecover,
    sent: t.sent,
    rate: t.rate,
    rack: t.rack,
    undo: t.undo,
    frto: t.frto,
    dsack: t.dsack,
    stats: t.stats,
    lastSendAt: t.lastSendAt,
    lastRecvAt: t.lastRecvAt,
    rexmt: t.rexmt,
    delackAt: t.delackAt,
    timeWaitAt: t.timeWaitAt,
    finWait2At: t.finWait2At,
    keepaliveAt: t.keepaliveAt,
    keepaliveProbes: t.keepaliveProbes,
    keepaliveTimes: t.keepaliveTimes,
    softError: t.softError,
    heapAt: t.heapAt,
    noDelay: t.noDelay,
    keepalive: t.keepalive,
    tsoMax: t.tsoMax,
    challengeWindowAt: t.challengeWindowAt,
    challengeCount: t.challengeCount,
    ecnOk: t.ecnOk,
    ecnEcho: t.ecnEcho,
    ecnCwr: t.ecnCwr,
    ecnRecover: t.ecnRecover,
  };
}
