/**
 * A fresh TCB (RFC 9293 §3.10.1 "Create a new transmission control block"), before any option is
 * negotiated: callers fill in the state-specific fields.
 */
import { type Seq, seqAdd } from '../seq.js';
import { ccInit } from './congestion/index.js';
import { windowShiftFor } from './output.js';
import { EMPTY_OOO } from './ranges.js';
import { EMPTY_ROPE } from './rope.js';
import { rttInit } from './rtt.js';
import { flowKey, isV6 } from './secrets.js';
import type { IpAddr, MutTcb, TcpConfig } from './types.js';

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
    scoreboard: [],
    rtt: rttInit(c),
    rttSeq: null,
    rttAt: p.now,
    synRetransmitted: false,
    cc: ccInit(c.congestion, rmss, c.initialCwndSegments),
    dupAcks: 0,
    recovery: null,
    lastRecover: null,
    lastSendAt: p.now,
    lastRecvAt: p.now,
    rexmt: null,
    delackAt: null,
    timeWaitAt: null,
    finWait2At: null,
    keepaliveAt: null,
    keepaliveProbes: 0,
    heapAt: null,
    noDelay: !c.nagle,
    keepalive: c.keepaliveDefault,
    challengeWindowAt: Number.NEGATIVE_INFINITY,
    challengeCount: 0,
  };
}
