/**
 * F-RTO (RFC 5682 §3, SACK-enhanced, with the RFC 4015 response of §4), scripted: the test plays the
 * peer. A delay spike makes the timeout fire with nothing lost: F-RTO sends new data on the first
 * ACK, the second ACK shows originals arriving, the timeout is declared spurious and undone, and the
 * flight is not sent again. A real tail loss: the new data is SACKed (or duplicate-ACKed) past the
 * recovery point, the timeout stands and go-back-N resumes. With and without SACK, with timestamps
 * (Eifel decides first) and without.
 */
import { describe, expect, it } from 'vitest';
import type { TcpConfig } from '../../../src/tcp/core/index.js';
import { type Seq, seqAdd, seqDiff } from '../../../src/tcp/seq.js';
import type { TcpOptions } from '../../../src/tcp/wire.js';
import { Endpoint, s } from './harness.js';
import { runPath } from './path-sim.js';

const P = 0x3fff_ff00;
const MSS = 1000;

/** A passive connection whose handshake took 20 ms (SRTT 20 ms, RTO 200 ms); IW 10 segments. */
function est(overrides: Partial<Omit<TcpConfig, 'secret'>>, syn: TcpOptions) {
  const ep = new Endpoint({ windowScaling: false, initialCwndSegments: 10, ...overrides });
  ep.listen();
  ep.recv({ flags: 'SYN', seq: P, options: { mss: MSS, ...syn } });
  const synAck = ep.expectSent('SYN-ACK', { flags: 'SYN,ACK' });
  const iss = synAck.repr.seq;
  ep.advance(20);
  ep.recv({
    flags: 'ACK',
    seq: P + 1,
    ack: seqAdd(iss, 1),
    ...(syn.timestamps ? { options: tsOpt(ep, 1) } : {}),
  });
  ep.expectState('established', 'Established');
  ep.sent.length = 0;
  const L = seqAdd(iss, 1);
  const R = seqAdd(s(P), 1);
  const room = MSS - (syn.timestamps ? 12 : 0);
  const at = (i: number): Seq => seqAdd(L, i * room);
  return { ep, R, at, room };
}

/** Timestamp option for a peer ACK that echoes what we sent last (or `echo`). */
function tsOpt(ep: Endpoint, tsVal: number, echo?: number): TcpOptions {
  const last = ep.tcb?.tsRecent;
  return { timestamps: { tsVal: 9000 + tsVal, tsEcr: echo ?? (last === undefined ? 0 : last) } };
}

const data = (n: number): Uint8Array => new Uint8Array(n * MSS).fill(0x61);

/** Runs timers until the retransmission timeout has fired once; returns SND.MAX at that moment. */
function untilRto(ep: Endpoint): Seq {
  for (let i = 0; i < 10 && ep.counter('rto-expired') === 0; i++) ep.advanceToDeadline();
  expect(ep.counter('rto-expired')).toBe(1);
  return ep.tcb!.sndMax;
}

const SACK_CASES = [
  { name: 'with SACK', sack: true },
  { name: 'without SACK', sack: false },
] as const;

describe('F-RTO (RFC 5682 §3) without timestamps', () => {
  it.each(SACK_CASES)('a delay spike: the timeout is spurious, undone, the flight not resent ($name)', ({
    sack,
  }) => {
    const { ep, R, at } = est({ timestamps: false, sack }, sack ? { sackPermitted: true } : {});
    ep.send(data(40));
    expect(ep.sent.splice(0).length).toBe(10);
    const before = ep.tcb!.cc;
    // Nothing comes back for longer than the RTO: the path's delay spiked.
    const rp = untilRto(ep);
    const probes = ep.counter('retransmit-tlp');
    const afterRto = ep.sent.splice(0);
    expect(
      afterRto.map((x) => x.repr.seq),
      'step 1: SND.UNA again',
    ).toContain(at(0));
    expect(ep.tcb!.frto?.step).toBe(2);
    expect(ep.tcb!.cc.cwnd).toBe(MSS);
    // The originals' ACKs arrive at last, one per two segments.
    ep.advance(5);
    ep.recv({ flags: 'ACK', seq: R, ack: at(2) });
    const step2 = ep.sent.splice(0);
    expect(
      step2.map((x) => x.repr.seq),
      'step 2b: two new segments, not a retransmission',
    ).toEqual([rp, seqAdd(rp, MSS)]);
    expect(ep.counter('frto-new-data')).toBe(1);
    expect(ep.tcb!.frto?.step).toBe(3);
    ep.advance(1);
    ep.recv({ flags: 'ACK', seq: R, ack: at(4) });
    // Step 3b: data sent before the timeout was acknowledged after it.
    expect(ep.counter('frto-spurious')).toBe(1);
    expect(ep.counter('frto-real')).toBe(0);
    expect(ep.counter('undo-frto')).toBe(1);
    const t = ep.tcb!;
    expect(t.frto).toBeNull();
    expect(t.stats.spuriousRtos).toBe(1);
    expect(t.stats.spuriousUndone).toBe(1);
    expect(t.cc.ssthresh, 'ssthresh restored').toBe(before.ssthresh);
    expect(t.cc.cwnd, 'cwnd restored').toBeGreaterThanOrEqual(before.cwnd);
    // The rest of the flight's ACKs: nothing below the recovery point is ever sent again.
    for (let i = 6; seqDiff(rp, at(i)) >= 0; i += 2) {
      ep.advance(1);
      ep.recv({ flags: 'ACK', seq: R, ack: at(Math.min(i, seqDiff(rp, at(0)) / MSS)) });
    }
    const resent = ep.sent.filter((x) => x.payloadLen > 0 && seqDiff(x.repr.seq, rp) < 0);
    expect(resent, 'no go-back-N').toEqual([]);
    expect(ep.tcb!.stats.retransmits, 'only the timeout retransmission (and a resent probe)').toBe(
      1 + probes,
    );
    expect(ep.counter('retransmit-rto')).toBe(1);
  });

  it.each(SACK_CASES)('without F-RTO, the same spike resends the flight ($name)', ({ sack }) => {
    const { ep, R, at } = est({ timestamps: false, sack, frto: false }, sack ? { sackPermitted: true } : {});
    ep.send(data(40));
    ep.sent.length = 0;
    const rp = untilRto(ep);
    ep.sent.length = 0;
    for (let i = 2; seqDiff(rp, at(i)) >= 0; i += 2) {
      ep.advance(1);
      ep.recv({ flags: 'ACK', seq: R, ack: at(i) });
    }
    expect(ep.counter('frto-new-data')).toBe(0);
    expect(ep.tcb!.stats.spuriousRtos).toBe(0);
    // Go-back-N: originals the peer already held are sent again.
    expect(ep.counter('retransmit-rto')).toBeGreaterThan(3);
  });

  it.each(SACK_CASES)('a real tail loss: the timeout stands and go-back-N resumes ($name)', ({ sack }) => {
    const { ep, R, at } = est({ timestamps: false, sack }, sack ? { sackPermitted: true } : {});
    ep.send(data(60));
    ep.sent.length = 0;
    ep.advance(20);
    // Segments 0-4 arrive; 5 and everything after are lost (the tail probe too).
    ep.recv({ flags: 'ACK', seq: R, ack: at(5) });
    ep.sent.length = 0;
    const rp = untilRto(ep);
    const ssthresh = ep.tcb!.cc.ssthresh;
    // (A tail probe went before it, lost too.)
    const last = ep.sent.pop()!;
    expect(last.repr.seq, 'step 1: the first unacknowledged segment').toBe(at(5));
    ep.sent.length = 0;
    ep.advance(20);
    // The retransmission arrives and fills the first hole only.
    ep.recv({ flags: 'ACK', seq: R, ack: at(6) });
    const step2 = ep.sent.splice(0);
    expect(
      step2.map((x) => x.repr.seq),
      'step 2b: new data',
    ).toEqual([rp, seqAdd(rp, MSS)]);
    ep.advance(20);
    // The new data arrives above the hole: duplicate ACKs (with SACK blocks beyond RecoveryPoint).
    const sackOpt = (n: number) =>
      sack ? { options: { sack: [{ left: rp, right: seqAdd(rp, n * MSS) }] } } : {};
    ep.recv({ flags: 'ACK', seq: R, ack: at(6), ...sackOpt(1) });
    expect(ep.counter('frto-real'), 'step 3a').toBe(1);
    expect(ep.counter('frto-spurious')).toBe(0);
    const t = ep.tcb!;
    expect(t.frto).toBeNull();
    expect(t.stats.spuriousRtos).toBe(0);
    expect(t.cc.cwnd).toBeLessThanOrEqual(3 * MSS);
    expect(t.cc.ssthresh, 'the reduction stays').toBe(ssthresh);
    // Conventional RTO recovery resumes at the hole.
    ep.expectSent('go-back-N from the hole', { seq: at(6), len: MSS });
    ep.recv({ flags: 'ACK', seq: R, ack: at(6), ...sackOpt(2) });
    expect(ep.counter('undo-frto') + ep.counter('undo-eifel') + ep.counter('undo-dsack')).toBe(0);
  });

  it('with no new data to send, F-RTO steps aside (RFC 5682 §3 step 2b)', () => {
    const { ep, R, at } = est({ timestamps: false, sack: true }, { sackPermitted: true });
    ep.send(data(10));
    ep.sent.length = 0;
    untilRto(ep);
    ep.sent.length = 0;
    ep.advance(5);
    ep.recv({ flags: 'ACK', seq: R, ack: at(2) });
    expect(ep.tcb!.frto).toBeNull();
    expect(ep.counter('frto-new-data')).toBe(0);
    ep.expectSent('conventional recovery: go-back-N', { seq: at(2) });
  });

  it('a second timeout of the same flight does not run F-RTO again (RFC 5682 §3 step 1)', () => {
    const { ep } = est({ timestamps: false, sack: true }, { sackPermitted: true });
    ep.send(data(40));
    ep.sent.length = 0;
    untilRto(ep);
    expect(ep.tcb!.frto).not.toBeNull();
    ep.advanceToDeadline();
    expect(ep.counter('rto-expired')).toBe(2);
    expect(ep.tcb!.frto).toBeNull();
  });
});

describe('F-RTO and Eifel (RFC 3522) with timestamps', () => {
  it('Eifel decides on the first ACK (it echoes an original), F-RTO stops there', () => {
    const { ep, R, at } = est(
      { timestamps: true, sack: true },
      { sackPermitted: true, timestamps: { tsVal: 9000, tsEcr: 0 } },
    );
    ep.send(data(40));
    const first = ep.sent.splice(0);
    const before = ep.tcb!.cc;
    untilRto(ep);
    expect(ep.tcb!.frto?.step).toBe(2);
    ep.sent.length = 0;
    ep.advance(5);
    ep.recv({
      flags: 'ACK',
      seq: R,
      ack: at(2),
      options: tsOpt(ep, 2, first[0]!.repr.options.timestamps!.tsVal),
    });
    expect(ep.counter('undo-eifel')).toBe(1);
    expect(ep.counter('frto-new-data')).toBe(0);
    const t = ep.tcb!;
    expect(t.frto).toBeNull();
    expect(t.stats.spuriousRtos).toBe(1);
    expect(t.cc.ssthresh).toBe(before.ssthresh);
    expect(t.sndNxt).toBe(t.sndMax);
  });

  it("when the echo is the retransmission's, F-RTO still finds the timeout spurious", () => {
    const { ep, R, at } = est(
      { timestamps: true, sack: true },
      { sackPermitted: true, timestamps: { tsVal: 9000, tsEcr: 0 } },
    );
    ep.send(data(40));
    ep.sent.length = 0;
    const before = ep.tcb!.cc;
    untilRto(ep);
    const rx = ep.sent.filter((x) => x.repr.seq === at(0)).pop()!;
    const echo = rx.repr.options.timestamps!.tsVal;
    ep.sent.length = 0;
    ep.advance(5);
    ep.recv({ flags: 'ACK', seq: R, ack: at(2), options: tsOpt(ep, 2, echo) });
    expect(ep.counter('undo-eifel')).toBe(0);
    expect(ep.counter('frto-new-data')).toBe(1);
    ep.advance(1);
    ep.recv({ flags: 'ACK', seq: R, ack: at(4), options: tsOpt(ep, 3, echo) });
    expect(ep.counter('frto-spurious')).toBe(1);
    expect(ep.tcb!.stats.spuriousRtos).toBe(1);
    expect(ep.tcb!.cc.ssthresh).toBe(before.ssthresh);
  });
});

describe('F-RTO over a path whose bottleneck stalls for a second (path-sim, virtual time)', () => {
  /** 3 MB across 10 Mbit/s whose queue stops serving at 1 s for 1 s: the RTO fires, nothing is lost. */
  function stalled(timestamps: boolean, sack: boolean, frto: boolean) {
    let spurious = 0;
    let retransmits = 0;
    const r = runPath({
      mtu: 1500,
      tooBig: 'icmp',
      bytes: 3_000_000,
      delay: 5,
      // A queue and buffers larger than any window: the stall is the only event.
      bottleneck: { rate: 1250, queue: 8_000_000, pause: { at: 1000, for: 1000 } },
      server: { timestamps, sack, frto, sndBuf: 4 << 20 },
      client: { timestamps, sack, rcvBuf: 8 << 20 },
      onServer: (_now, conn) => {
        if (conn === undefined) return;
        spurious = conn.stats.spuriousRtos;
        retransmits = conn.stats.retransmits;
      },
    });
    expect(r.done).toBe(true);
    expect(r.drops).toEqual([]);
    expect(r.serverCounters['rto-expired']).toBeGreaterThan(0);
    return { time: r.now, spurious, retransmits, c: r.serverCounters };
  }

  it.each(SACK_CASES)('without timestamps, F-RTO finds the timeout spurious; no go-back-N ($name)', ({
    sack,
  }) => {
    const on = stalled(false, sack, true);
    const off = stalled(false, sack, false);
    expect(on.c['frto-spurious']).toBe(1);
    expect(on.spurious).toBe(1);
    expect(on.retransmits, 'the timeout retransmission and at most a probe').toBeLessThanOrEqual(2);
    // (With SACK, the D-SACKs of all that go-back-N resent undo the timeout in the end.)
    expect(off.spurious).toBe(sack ? 1 : 0);
    expect(off.retransmits, 'go-back-N resends the flight').toBeGreaterThan(100);
    expect(on.time).toBeLessThan(off.time);
  });

  it('with timestamps, Eifel finds it first, with F-RTO on or off', () => {
    for (const frto of [true, false]) {
      const r = stalled(true, true, frto);
      expect(r.c['undo-eifel']).toBeGreaterThan(0);
      expect(r.spurious).toBeGreaterThan(0);
      expect(r.retransmits).toBeLessThanOrEqual(r.c['rto-expired'] + r.c['retransmit-tlp']);
    }
  });
});
