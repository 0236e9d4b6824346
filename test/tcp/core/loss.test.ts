/**
 * Loss recovery, scripted (the test plays the peer): RACK-TLP (RFC 8985), PRR (RFC 6937), D-SACK
 * (RFC 2883, RFC 3708), Eifel detection and response (RFC 3522, RFC 4015), per-connection counters.
 */
import { describe, expect, it } from 'vitest';
import type { TcpConfig } from '../../../src/tcp/core/index.js';
import { PTO_MIN } from '../../../src/tcp/core/rack.js';
import { type Seq, seqAdd, seqDiff } from '../../../src/tcp/seq.js';
import type { TcpOptions } from '../../../src/tcp/wire.js';
import { Endpoint, s } from './harness.js';

const P = 0x7fff_ff00;
const MSS = 1000;

/** A passive connection whose handshake took 20 ms (SRTT 20 ms, RTO 200 ms), SACK on by default. */
function est(overrides: Partial<Omit<TcpConfig, 'secret'>> = {}, syn: TcpOptions = {}) {
  const ep = new Endpoint({
    timestamps: false,
    windowScaling: false,
    sack: true,
    initialCwndSegments: 10,
    ...overrides,
  });
  ep.listen();
  ep.recv({ flags: 'SYN', seq: P, options: { mss: MSS, sackPermitted: true, ...syn } });
  const synAck = ep.expectSent('SYN-ACK', { flags: 'SYN,ACK' });
  const iss = synAck.repr.seq;
  ep.advance(20);
  const ts = syn.timestamps;
  ep.recv({
    flags: 'ACK',
    seq: P + 1,
    ack: seqAdd(iss, 1),
    ...(ts === undefined
      ? {}
      : { options: { timestamps: { tsVal: ts.tsVal + 1, tsEcr: synAck.repr.options.timestamps!.tsVal } } }),
  });
  ep.expectState('established', 'Established');
  const L = seqAdd(iss, 1);
  const R = seqAdd(s(P), 1);
  ep.sent.length = 0;
  const at = (i: number): Seq => seqAdd(L, i * MSS);
  const blk = (a: number, b: number) => ({ left: at(a), right: at(b) });
  return { ep, L, R, at, blk };
}

const data = (segments: number): Uint8Array => new Uint8Array(segments * MSS).fill(0x62);

describe('RACK (RFC 8985 §6)', () => {
  it('marks a hole lost after RTT + reordering window, with a single SACKed segment', () => {
    const { ep, R, at, blk } = est();
    ep.send(data(20));
    expect(ep.sent.splice(0).length).toBe(10);
    ep.advance(20);
    // Segment 0 arrives, 1 is missing, 2 arrives: one SACKed segment, below DupThresh.
    ep.recv({ flags: 'ACK', seq: R, ack: at(1), options: { sack: [blk(2, 3)] } });
    expect(ep.sent.splice(0).map((x) => x.repr.seq)).not.toContain(at(1));
    // RACK.rtt = 20, reo_wnd = min_RTT / 4 = 5 ms: the reordering timer, not the RTO.
    expect(ep.deadline()).toBe(ep.now + 5);
    ep.advanceToDeadline();
    ep.expectSent('the hole, lost by time', { seq: at(1), len: MSS });
    expect(ep.counter('rack-reorder-timer')).toBe(1);
    expect(ep.counter('fast-recovery')).toBe(1);
    expect(ep.tcb?.recovery?.kind).toBe('sack');
  });

  it('resends a lost retransmission within RTT + reordering window, reducing cwnd once', () => {
    const { ep, R, at, blk } = est();
    ep.send(data(40));
    ep.sent.length = 0;
    ep.advance(20);
    // 2-9 arrive: more than DupThresh segments SACKed, no reordering seen: reo_wnd = 0.
    ep.recv({ flags: 'ACK', seq: R, ack: at(1), options: { sack: [blk(2, 10)] } });
    ep.expectSent('fast retransmit', { seq: at(1), len: MSS });
    const ssthresh = ep.tcb!.cc.ssthresh;
    const newData = ep.sent.splice(0);
    expect(newData.length, 'PRR lets new data go with the retransmission').toBeGreaterThan(0);
    const top = newData.reduce((m, x) => Math.max(m, seqDiff(x.repr.seq, at(0)) / MSS + 1), 0);
    ep.advance(20);
    // The new data arrives, the retransmission does not.
    ep.recv({ flags: 'ACK', seq: R, ack: at(1), options: { sack: [blk(2, top)] } });
    ep.expectSent('the retransmission again, one RTT after it was sent', { seq: at(1), len: MSS });
    expect(ep.counter('retransmit-lost-rexmit')).toBe(1);
    expect(ep.counter('rto-expired')).toBe(0);
    expect(ep.counter('fast-recovery')).toBe(1);
    expect(ep.tcb!.cc.ssthresh).toBe(ssthresh);
    ep.sent.length = 0;
    ep.advance(20);
    ep.recv({ flags: 'ACK', seq: R, ack: at(top) });
    expect(ep.tcb?.recovery).toBeNull();
    expect(ep.tcb!.cc.ssthresh, 'one reduction for the episode').toBe(ssthresh);
    expect(ep.tcb!.cc.cwnd).toBeLessThanOrEqual(ssthresh);
    expect(ep.tcb!.stats.fastRecoveries).toBe(1);
    expect(ep.tcb!.stats.retransmits).toBe(2);
  });
});

describe('tail loss probe (RFC 8985 §7)', () => {
  it('probes a lost tail at 2·SRTT + 2 ms with the last segment, and RACK repairs the rest before the RTO', () => {
    const { ep, R, at, blk } = est();
    ep.send(data(5));
    ep.sent.length = 0;
    ep.advance(20);
    ep.recv({ flags: 'ACK', seq: R, ack: at(1) });
    // Segments 1-4 are lost: no ACK comes. PTO = 2·SRTT + 2 ms (Linux's floor) = 42 ms; the RTO 200 ms.
    expect(ep.deadline()).toBe(ep.now + 2 * 20 + PTO_MIN);
    expect(ep.tcb!.rexmt!.at).toBe(ep.now + 200);
    ep.advanceToDeadline();
    ep.expectSent('the probe: the last segment again', { seq: at(4), len: MSS });
    expect(ep.counter('tlp-probe')).toBe(1);
    expect(ep.tcb!.stats.tlps).toBe(1);
    ep.advance(20);
    ep.recv({ flags: 'ACK', seq: R, ack: at(1), options: { sack: [blk(4, 5)] } });
    ep.expectSent('the first hole, found by RACK from the probe', { seq: at(1), len: MSS });
    expect(ep.counter('rto-expired')).toBe(0);
  });

  it('probes with new data when some waits (cwnd-limited), whatever cwnd says', () => {
    const { ep, at } = est();
    ep.send(data(12));
    expect(ep.sent.splice(0).length, 'cwnd: 10 segments').toBe(10);
    const t0 = ep.now;
    ep.advanceToDeadline();
    expect(ep.now).toBe(t0 + 2 * 20 + PTO_MIN);
    expect(ep.counter('tlp-probe')).toBe(1);
    expect(ep.counter('tlp-new-data')).toBe(1);
    ep.expectSent('new data as the probe', { seq: at(10), len: MSS });
    ep.expectIdle('one probe');
    expect(ep.tcb!.rack.tlpEnd).toBe(at(11));
    expect(ep.deadline(), 'the RTO keeps its time: probes do not put it off').toBe(t0 + 200);
  });
});

describe('PRR (RFC 6937)', () => {
  it('spreads the reduction over the ACKs of the recovery round (NewReno halves: ssthresh = RecoverFS / 2)', () => {
    const { ep, R, at, blk } = est({ initialCwndSegments: 20, congestion: 'newreno' });
    ep.send(data(60));
    expect(ep.sent.splice(0).length).toBe(20);
    ep.advance(20);
    // Segment 0 is lost; the other 19 are SACKed one ACK at a time.
    // (Limited transmit, RFC 3042, sends one new segment for each of the first two.)
    const perAck: number[] = [];
    for (let i = 2; i <= 20; i++) {
      ep.recv({ flags: 'ACK', seq: R, ack: at(0), options: { sack: [blk(1, i)] } });
      const n = ep.sent.splice(0).length;
      if (ep.tcb!.recovery !== null) perAck.push(n);
    }
    const r = ep.tcb!.recovery!;
    expect(r.kind).toBe('sack');
    // RFC 6937 §3: sndcnt = ceil(prr_delivered * ssthresh / RecoverFS) - prr_out while pipe > ssthresh:
    // by the end of the round, about ssthresh / RecoverFS of what was delivered has been sent.
    const ssthresh = ep.tcb!.cc.ssthresh;
    expect(ssthresh).toBe(r.recoverFs / 2);
    const total = perAck.reduce((a, b) => a + b, 0);
    expect(total * MSS).toBe(r.prrOut);
    expect(r.prrOut).toBeLessThanOrEqual(Math.ceil((r.prrDelivered * ssthresh) / r.recoverFs) + MSS);
    expect(r.prrOut).toBeGreaterThanOrEqual(Math.ceil((r.prrDelivered * ssthresh) / r.recoverFs) - MSS);
    // Sending starts with the recovery, not once pipe has drained below cwnd (RFC 6675 alone).
    expect(perAck.slice(0, 6).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
    expect(Math.max(...perAck), 'no bursts').toBeLessThanOrEqual(2);
  });
});

describe('D-SACK (RFC 2883) and undo (RFC 3708, RFC 3522, RFC 4015)', () => {
  it('reports a duplicate segment in the first SACK block', () => {
    const { ep, R, at } = est();
    ep.recv({ flags: 'ACK', seq: R, ack: at(0), data: 'abc' });
    ep.advanceToDeadline();
    ep.expectSent('delayed ACK', { ack: seqAdd(R, 3) });
    ep.recv({ flags: 'ACK', seq: R, ack: at(0), data: 'abc' });
    ep.expectSent('D-SACK', { ack: seqAdd(R, 3), options: { sack: [{ left: R, right: seqAdd(R, 3) }] } });
    // Out of order, twice: the second copy is a D-SACK inside the SACK block that follows it.
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 10), ack: at(0), data: 'xyz' });
    ep.sent.length = 0;
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 10), ack: at(0), data: 'xyz' });
    ep.tick();
    const b = { left: seqAdd(R, 10), right: seqAdd(R, 13) };
    ep.expectSent('D-SACK, then the block', { options: { sack: [b, b] } });
    expect(ep.counter('dsack-sent')).toBe(2);
  });

  it('undoes a fast retransmit that a D-SACK shows was spurious (reordering)', () => {
    const { ep, R, at, blk } = est();
    ep.send(data(40));
    ep.sent.length = 0;
    ep.advance(20);
    ep.recv({ flags: 'ACK', seq: R, ack: at(1) });
    const before = ep.tcb!.cc;
    ep.sent.length = 0;
    ep.recv({ flags: 'ACK', seq: R, ack: at(1), options: { sack: [blk(2, 10)] } });
    ep.expectSent('fast retransmit', { seq: at(1), len: MSS });
    expect(ep.tcb!.cc.ssthresh).toBeLessThan(before.cwnd);
    const recover = ep.tcb!.recovery!.recover;
    ep.advance(1);
    // The original was only late: everything is acknowledged, then its copy comes back as D-SACK.
    ep.recv({ flags: 'ACK', seq: R, ack: recover });
    expect(ep.tcb!.recovery).toBeNull();
    ep.advance(19);
    ep.recv({ flags: 'ACK', seq: R, ack: recover, options: { sack: [blk(1, 2)] } });
    expect(ep.counter('undo-dsack')).toBe(1);
    expect(ep.tcb!.cc.cwnd).toBeGreaterThanOrEqual(before.cwnd);
    expect(ep.tcb!.cc.ssthresh).toBe(before.ssthresh);
    expect(ep.tcb!.stats.spuriousUndone).toBe(1);
    expect(ep.tcb!.stats.dsacks).toBe(1);
    expect(ep.tcb!.rack.reorderingSeen).toBe(true);
  });

  it('undoes a spurious timeout by the echoed timestamp (Eifel) and resumes after SND.MAX', () => {
    const { ep, R, at } = est({ sack: false, timestamps: true }, { timestamps: { tsVal: 5000, tsEcr: 0 } });
    ep.send(data(3));
    const first = ep.sent.splice(0);
    expect(first.length).toBe(3);
    const before = ep.tcb!.cc;
    ep.advanceToDeadline();
    ep.expectSent('RTO retransmission', { seq: at(0), len: MSS - 12 });
    expect(ep.tcb!.cc.cwnd).toBe(MSS);
    ep.advance(10);
    // The ACK of the originals was only slow: it echoes the first transmission's TSval.
    const tsEcr = first[2]!.repr.options.timestamps!.tsVal;
    const end = seqAdd(at(0), 3 * (MSS - 12));
    ep.recv({ flags: 'ACK', seq: R, ack: end, options: { timestamps: { tsVal: 5002, tsEcr } } });
    expect(ep.counter('undo-eifel')).toBe(1);
    expect(ep.tcb!.cc.cwnd).toBeGreaterThanOrEqual(before.cwnd);
    expect(ep.tcb!.cc.ssthresh).toBe(before.ssthresh);
    expect(ep.tcb!.sndNxt).toBe(ep.tcb!.sndMax);
    expect(ep.tcb!.stats.rtos).toBe(1);
    expect(ep.tcb!.stats.spuriousUndone).toBe(1);
  });

  it('keeps the reduction when the retransmission was needed', () => {
    const { ep, R, at } = est({ sack: false, timestamps: true }, { timestamps: { tsVal: 5000, tsEcr: 0 } });
    ep.send(data(3));
    ep.sent.length = 0;
    ep.advanceToDeadline();
    const rx = ep.expectSent('RTO retransmission', { seq: at(0) });
    ep.advance(10);
    const tsEcr = rx.repr.options.timestamps!.tsVal;
    ep.recv({
      flags: 'ACK',
      seq: R,
      ack: seqAdd(at(0), MSS - 12),
      options: { timestamps: { tsVal: 5002, tsEcr } },
    });
    expect(ep.counter('undo-eifel')).toBe(0);
    expect(ep.tcb!.cc.ssthresh).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });
});

describe('RTT after a lost SYN or SYN-ACK (RFC 6298 §3 Karn, RFC 7323 §4.3)', () => {
  it('an echo of an earlier SYN is no RTT sample; an echo of the latest one is', () => {
    for (const latest of [false, true]) {
      const ep = new Endpoint({ windowScaling: false });
      ep.connect();
      const syn1 = ep.expectSent('SYN', { flags: 'SYN' });
      ep.advanceToDeadline();
      const syn2 = ep.expectSent('SYN again', { flags: 'SYN' });
      ep.advance(10);
      const echoed = (latest ? syn2 : syn1).repr.options.timestamps!.tsVal;
      ep.recv({
        flags: 'SYN,ACK',
        seq: P,
        ack: seqAdd(syn1.repr.seq, 1),
        options: { mss: MSS, timestamps: { tsVal: 7000, tsEcr: echoed } },
      });
      ep.expectState('established', 'Established');
      // An echo of the first SYN would make SRTT 1010 ms, and RTO and PTO seconds long.
      expect(ep.tcb!.rtt.srtt).toBe(latest ? 10 : null);
    }
  });

  it('the passive side echoes the retransmitted SYN', () => {
    const ep = new Endpoint({ windowScaling: false });
    ep.listen();
    ep.recv({ flags: 'SYN', seq: P, options: { mss: MSS, timestamps: { tsVal: 100, tsEcr: 0 } } });
    ep.expectSent('SYN-ACK', { flags: 'SYN,ACK' });
    ep.advance(1000);
    ep.recv({ flags: 'SYN', seq: P, options: { mss: MSS, timestamps: { tsVal: 1100, tsEcr: 0 } } });
    const again = ep.sent.pop()!;
    expect(again.repr.flags.syn && again.repr.flags.ack).toBe(true);
    expect(again.repr.options.timestamps?.tsEcr).toBe(1100);
  });
});
