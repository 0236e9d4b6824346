/**
 * Data transfer in ESTABLISHED (RFC 9293 §3.8, §3.7.4; RFC 5681; RFC 6298; RFC 6582; RFC 6675;
 * RFC 2018; RFC 7323), scripted: the test plays the peer.
 */
import { describe, expect, it } from 'vitest';
import type { TcpConfig } from '../../../src/tcp/core/index.js';
import { type Seq, seqAdd, seqDiff } from '../../../src/tcp/seq.js';
import type { TcpOptions } from '../../../src/tcp/wire.js';
import { establishedPassive, s } from './harness.js';

const P = 0xffff_ff00;

function est(
  overrides: Partial<Omit<TcpConfig, 'secret'>> = {},
  syn: TcpOptions = { mss: 1460 },
  window = 65_535,
) {
  const { ep, iss } = establishedPassive(
    P,
    { timestamps: false, sack: false, windowScaling: false, ...overrides },
    syn,
    window,
  );
  const L = seqAdd(iss, 1);
  const R = seqAdd(s(P), 1);
  ep.sent.length = 0;
  return { ep, L, R };
}

function bytes(n: number, fill = 0x61): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

describe('flow control (RFC 9293 §3.8.6)', () => {
  it('after a timeout resends whole timestamped segments, never the 12-byte rest cwnd leaves room for', () => {
    const { ep, R, L } = est({ timestamps: true }, { mss: 1460, timestamps: { tsVal: 1, tsEcr: 0 } });
    ep.send(bytes(20_000));
    const first = ep.sent.splice(0);
    expect(first.every((seg) => seg.payloadLen === 1448)).toBe(true);
    ep.advanceToDeadline();
    // cwnd is one Eff.snd.MSS (1460) after the timeout: one segment of 1448, then wait for its ACK.
    expect(ep.sent.splice(0).map((seg) => seg.payloadLen)).toEqual([1448]);
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 1448), options: { timestamps: { tsVal: 2, tsEcr: 0 } } });
    const next = ep.sent.splice(0).map((seg) => seg.payloadLen);
    expect(next.length).toBeGreaterThan(0);
    expect(next.every((len) => len === 1448)).toBe(true);
  });

  it('sends no more than the offered window', () => {
    const { ep, L, R } = est({}, { mss: 1460 }, 1000);
    expect(ep.send(bytes(5000))).toBe(5000);
    ep.expectSent('the window', { flags: 'ACK', seq: L, len: 1000 });
    ep.expectIdle('window full');
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 1000), window: 1000 });
    ep.expectSent('next window', { seq: seqAdd(L, 1000), len: 1000 });
  });

  it('probes a zero window at growing intervals, stays open while answered, resumes when it opens', () => {
    const { ep, L, R } = est({}, { mss: 1460 }, 0);
    ep.send(bytes(3000));
    ep.expectIdle('zero window');
    const una = L;
    let last = ep.now;
    const gaps: number[] = [];
    for (let i = 0; i < 12; i++) {
      const at = ep.advanceToDeadline();
      gaps.push(at - last);
      last = at;
      ep.expectSent('probe: SEG.SEQ = SND.UNA - 1, no data', { flags: 'ACK', seq: seqAdd(una, -1), len: 0 });
      ep.recv({ flags: 'ACK', seq: R, ack: una, window: 0 });
    }
    expect(gaps.slice(0, 4)).toEqual([200, 400, 800, 1600]);
    expect(Math.max(...gaps), 'bounded by RTO max').toBe(120_000);
    ep.expectState('the peer answers: the connection stays (MUST-37)', 'Established');
    ep.recv({ flags: 'ACK', seq: R, ack: una, window: 4000 });
    ep.expectSent('window opened', { seq: una, len: 1460 });
  });

  it('gives up an orphan whose peer answers every probe with a zero window once the backoff reaches RTO max', () => {
    const { ep, L, R } = est({}, { mss: 1460 }, 0);
    ep.send(bytes(3000));
    ep.close();
    const una = L;
    const start = ep.now;
    for (let i = 0; i < 20 && ep.tcb !== undefined; i++) {
      ep.advanceToDeadline();
      if (ep.tcb !== undefined) ep.recv({ flags: 'ACK', seq: R, ack: una, window: 0 });
    }
    ep.expectState('abandoned, as Linux abandons an orphan (tcp_orphan_retries)', 'none');
    expect(ep.counter('persist-orphan-abandoned')).toBe(1);
    // Probes after 200 ms doubling to 102.4 s, then one wait capped at 120 s: no probe after it.
    expect(ep.now - start).toBe(200 * (2 ** 10 - 1) + 120_000);
  });

  it('gives up on a zero window whose probes are never answered', () => {
    const { ep } = est({ dataRetries: 3 }, { mss: 1460 }, 0);
    ep.send(bytes(100));
    for (let i = 0; i < 10 && ep.tcb !== undefined; i++) ep.advanceToDeadline();
    ep.expectState('dropped', 'none');
    ep.expectNotes('timeout', ['closed:timeout']);
    expect(ep.counter('persist-exceeded')).toBe(1);
  });

  it('advertises the free buffer and never moves the right edge left (SHLD-14)', () => {
    const { ep, L, R } = est({ rcvBuf: 4096 });
    // The SYN-ACK offered min(65535, rcvBuf) = 4096.
    ep.recv({ flags: 'ACK', seq: R, ack: L, data: bytes(3000) });
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 3000), ack: L, data: bytes(1096) });
    ep.expectSent('ACK: window closed, edge where it was', { ack: seqAdd(R, 4096), window: 0 });
  });

  it('receiver SWS avoidance: the window reopens only by a worthwhile amount (§3.8.6.2.2)', () => {
    const { ep, L, R } = est({ rcvBuf: 4096 });
    ep.recv({ flags: 'ACK', seq: R, ack: L, data: bytes(2048) });
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 2048), ack: L, data: bytes(2048) });
    ep.expectSent('zero window', { window: 0 });
    ep.read(100);
    ep.expectIdle('100 bytes free is not worth announcing');
    ep.read(1400);
    ep.expectSent('window update', { flags: 'ACK', window: 1500 });
    expect(ep.counter('window-update')).toBe(1);
  });

  it('applies window scaling in both directions (RFC 7323 §2.3)', () => {
    const { ep, L, R } = est({ windowScaling: true, rcvBuf: 1 << 20 }, { mss: 1460, windowScale: 2 });
    ep.recv({ flags: 'ACK', seq: R, ack: L, window: 1000 });
    expect(ep.tcb?.sndWnd).toBe(4000);
    ep.send(bytes(10));
    const seg = ep.expectSent('data', { len: 10 });
    expect(seg.repr.window).toBe((1 << 20) >>> 5);
  });

  it('trims data beyond the window', () => {
    const { ep, L, R } = est({ rcvBuf: 1000 });
    ep.recv({ flags: 'ACK', seq: R, ack: L, data: bytes(1500) });
    expect(ep.tcb?.rcvq.length).toBe(1000);
    expect(ep.counter('data-trimmed')).toBe(1);
  });
});

describe('Nagle (RFC 9293 §3.7.4) and sender SWS avoidance', () => {
  it('holds small segments while data is unacknowledged', () => {
    const { ep, L, R } = est();
    ep.send('a');
    ep.expectSent('nothing outstanding: sent', { data: 'a' });
    ep.send('b');
    ep.send('c');
    ep.expectIdle('held until the ACK');
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 1) });
    ep.expectSent('coalesced', { seq: seqAdd(L, 1), data: 'bc' });
  });

  it('no-delay sends every write at once (MUST-17)', () => {
    const { ep } = est({ nagle: false });
    ep.send('a');
    ep.send('b');
    ep.expectSent('a', { data: 'a' });
    ep.expectSent('b', { data: 'b' });
  });

  it('a window below half the largest one waits for the SWS override timer (§3.8.6.2.1 (3)-(4))', () => {
    const { ep, L, R } = est();
    ep.recv({ flags: 'ACK', seq: R, ack: L, window: 1000 });
    ep.send(bytes(5000));
    ep.expectIdle('1000 < Max(SND.WND) / 2');
    ep.advanceToDeadline();
    ep.expectSent('override: what the window takes', { seq: L, len: 1000 });
    expect(ep.tcb?.rexmt?.mode).toBe('data');
  });

  it('full-sized segments are never held', () => {
    const { ep } = est();
    ep.send('a');
    ep.send(bytes(3000));
    ep.expectSent('a', { len: 1 });
    ep.expectSent('full', { len: 1460 });
    ep.expectSent('full', { len: 1460 });
    ep.expectIdle('the 80-byte rest waits for an ACK');
  });
});

describe('delayed ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2)', () => {
  it('acknowledges every second segment without delay, a single one within the delay', () => {
    const { ep, L, R } = est();
    ep.recv({ flags: 'ACK', seq: R, ack: L, data: bytes(100) });
    ep.expectIdle('delayed');
    expect(ep.deadline()).toBe(ep.now + 40);
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 100), ack: L, data: bytes(100) });
    // Due now, once the segments that arrived together are in (one ACK per burst, as GRO gives).
    expect(ep.deadline()).toBe(ep.now);
    ep.advanceToDeadline();
    ep.expectSent('second segment', { flags: 'ACK', ack: seqAdd(R, 200) });
    expect(ep.counter('burst-ack')).toBe(1);
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 200), ack: L, data: bytes(100) });
    ep.expectIdle('delayed again');
    ep.advanceToDeadline();
    ep.expectSent('timer', { flags: 'ACK', ack: seqAdd(R, 300) });
    expect(ep.counter('delayed-ack')).toBe(1);
  });

  it('acknowledges a burst once at its end, and at least every 44 segments', () => {
    const { ep, L, R } = est();
    for (let i = 0; i < 10; i++) ep.recv({ flags: 'ACK', seq: seqAdd(R, 100 * i), ack: L, data: bytes(100) });
    ep.expectIdle('ten segments taken in together');
    ep.advanceToDeadline();
    ep.expectSent('one ACK for the burst', { flags: 'ACK', ack: seqAdd(R, 1000) });
    for (let i = 10; i < 54; i++)
      ep.recv({ flags: 'ACK', seq: seqAdd(R, 100 * i), ack: L, data: bytes(100) });
    ep.expectSent('the 44th segment of a burst', { flags: 'ACK', ack: seqAdd(R, 5400) });
  });

  it('piggybacks the ACK on data', () => {
    const { ep, L, R } = est();
    ep.recv({ flags: 'ACK', seq: R, ack: L, data: bytes(100) });
    ep.send('reply');
    ep.expectSent('data carries the ACK', { ack: seqAdd(R, 100), data: 'reply' });
    expect(ep.tcb?.delackAt).toBeNull();
  });
});

describe('out-of-order data and SACK (RFC 2018)', () => {
  it('holds data above a hole, ACKs at the end of the batch with a SACK block, delivers when the hole fills', () => {
    const { ep, L, R } = est({ sack: true }, { mss: 1460, sackPermitted: true });
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 100), ack: L, data: 'world' });
    ep.expectIdle('due, but not before the batch it arrived in is taken in');
    ep.tick();
    ep.expectSent('duplicate ACK', {
      flags: 'ACK',
      ack: R,
      options: { sack: [{ left: seqAdd(R, 100), right: seqAdd(R, 105) }] },
    });
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 200), ack: L, data: 'again' });
    ep.tick();
    const dup = ep.expectSent('second duplicate: newest block first', { ack: R });
    expect(dup.repr.options.sack?.map((b) => b.left)).toEqual([seqAdd(R, 200), seqAdd(R, 100)]);
    ep.recv({ flags: 'ACK', seq: R, ack: L, data: bytes(100, 0x2d) });
    ep.expectSent('gap filled: ACK at once', {
      ack: seqAdd(R, 105),
      options: { sack: [{ left: seqAdd(R, 200), right: seqAdd(R, 205) }] },
    });
    expect(ep.read().data).toBe(`${'-'.repeat(100)}world`);
  });

  it('acknowledges out-of-order segments that arrived together once, with every block (as behind GRO)', () => {
    const { ep, L, R } = est({ sack: true }, { mss: 1460, sackPermitted: true });
    for (const off of [100, 200, 300]) ep.recv({ flags: 'ACK', seq: seqAdd(R, off), ack: L, data: 'x' });
    ep.tick();
    const ack = ep.expectSent('one ACK for the batch', { ack: R });
    expect(ack.repr.options.sack?.map((b) => seqDiff(b.left, R))).toEqual([300, 200, 100]);
    ep.expectIdle('and only one');
  });

  it('without SACK sends a duplicate ACK for every out-of-order segment at once (the sender counts them)', () => {
    const { ep, L, R } = est({ sack: false });
    for (const off of [100, 200, 300]) {
      ep.recv({ flags: 'ACK', seq: seqAdd(R, off), ack: L, data: 'x' });
      ep.expectSent('duplicate ACK', { ack: R });
    }
  });

  it('keeps at most maxOooRanges ranges, dropping the highest', () => {
    const { ep, L, R } = est({ maxOooRanges: 2 });
    for (const off of [300, 100, 500, 200]) ep.recv({ flags: 'ACK', seq: seqAdd(R, off), ack: L, data: 'x' });
    const t = ep.tcb!;
    expect(t.ooo.ranges.map((r) => r.start - R)).toEqual([100, 200]);
    expect(ep.counter('ooo-dropped')).toBe(2);
  });

  it('does not hold data beyond the window (utcp #20)', () => {
    const { ep, L, R } = est({ rcvBuf: 1000 });
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 900), ack: L, data: bytes(500) });
    expect(ep.tcb?.ooo.bytes).toBe(100);
  });
});

describe('retransmission timeout (RFC 6298)', () => {
  it('retransmits at RTO, doubles it, and gives up after dataRetries (R2)', () => {
    const { ep, L } = est({ dataRetries: 3 });
    ep.send('data');
    ep.expectSent('first', { seq: L, data: 'data' });
    const rto0 = ep.tcb!.rtt.rto;
    const at: number[] = [];
    while (ep.tcb !== undefined) {
      at.push(ep.advanceToDeadline());
      if (ep.tcb !== undefined) ep.expectSent('again', { seq: L, data: 'data' });
    }
    expect(at.map((x, i) => x - (at[i - 1] ?? 0))).toEqual([rto0, 2 * rto0, 4 * rto0, 8 * rto0]);
    ep.expectNotes('timeout', ['closed:timeout']);
  });

  it('takes RTT samples (Karn: not from retransmitted segments) and clears the backoff', () => {
    const { ep, L, R } = est();
    ep.send('x');
    ep.advance(100);
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 1) });
    const t = ep.tcb!;
    expect(t.rtt.srtt).toBeGreaterThan(0);
    ep.send('y');
    ep.advanceToDeadline();
    expect(ep.tcb!.rtt.backoff).toBe(1);
    ep.advance(50);
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 2) });
    expect(ep.tcb!.rtt.backoff, 'no sample from a retransmission: backoff kept').toBe(1);
    ep.send('z');
    ep.advance(30);
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 3) });
    expect(ep.tcb!.rtt.backoff, 'new sample').toBe(0);
  });

  it('after a timeout, cwnd is one segment and sending goes back to SND.UNA', () => {
    const { ep, L, R } = est({ initialCwndSegments: 4 });
    ep.send(bytes(4 * 1460));
    for (let i = 0; i < 4; i++) ep.expectSent(`segment ${i}`, { seq: seqAdd(L, i * 1460), len: 1460 });
    ep.advanceToDeadline();
    ep.expectSent('go back N: one segment', { seq: L, len: 1460 });
    ep.expectIdle('loss window');
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 1460) });
    ep.expectSent('slow start: two', { seq: seqAdd(L, 1460), len: 1460 });
    ep.expectSent('slow start: two', { seq: seqAdd(L, 2920), len: 1460 });
  });
});

describe('fast retransmit and recovery', () => {
  function lossy(sack: boolean) {
    const w = est(
      { initialCwndSegments: 10, sack, congestion: 'newreno' },
      { mss: 1000, ...(sack ? { sackPermitted: true } : {}) },
    );
    w.ep.send(bytes(8 * 1000));
    for (let i = 0; i < 8; i++) w.ep.expectSent(`segment ${i}`, { seq: seqAdd(w.L, i * 1000), len: 1000 });
    return w;
  }
  const block = (L: Seq, from: number, to: number) => ({
    left: seqAdd(L, from * 1000),
    right: seqAdd(L, to * 1000),
  });

  it('NewReno: three duplicate ACKs retransmit, a partial ACK retransmits the next hole (RFC 6582)', () => {
    const { ep, L, R } = lossy(false);
    for (let i = 0; i < 3; i++) ep.recv({ flags: 'ACK', seq: R, ack: L });
    ep.expectSent('fast retransmit', { seq: L, len: 1000 });
    expect(ep.tcb?.recovery?.kind).toBe('newreno');
    expect(ep.tcb?.cc.ssthresh).toBe(4000);
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 2000) });
    ep.expectSent('partial ACK: next hole', { seq: seqAdd(L, 2000), len: 1000 });
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 8000) });
    expect(ep.tcb?.recovery).toBeNull();
    expect(ep.counter('fast-recovery')).toBe(1);
    expect(ep.counter('retransmit-partial')).toBe(1);
  });

  it('SACK: retransmits only the holes (RFC 6675)', () => {
    const { ep, L, R } = lossy(true);
    // Segments 0 and 3 lost; 1-2 and 4-7 arrive.
    ep.recv({ flags: 'ACK', seq: R, ack: L, options: { sack: [block(L, 1, 2)] } });
    ep.recv({ flags: 'ACK', seq: R, ack: L, options: { sack: [block(L, 1, 3)] } });
    ep.recv({ flags: 'ACK', seq: R, ack: L, options: { sack: [block(L, 4, 5), block(L, 1, 3)] } });
    ep.expectSent('first hole', { seq: L, len: 1000 });
    expect(ep.tcb?.recovery?.kind).toBe('sack');
    ep.recv({ flags: 'ACK', seq: R, ack: L, options: { sack: [block(L, 4, 8), block(L, 1, 3)] } });
    ep.expectSent('second hole, now lost by the IsLost() rule', { seq: seqAdd(L, 3000), len: 1000 });
    ep.expectIdle('nothing else is missing');
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 8000) });
    expect(ep.tcb?.recovery).toBeNull();
    expect(ep.counter('retransmit-rto')).toBe(0);
  });
});

describe('timestamps (RFC 7323)', () => {
  function tsEst() {
    const { ep, iss } = establishedPassive(
      P,
      { sack: false, windowScaling: false },
      {
        mss: 1460,
        timestamps: { tsVal: 5000, tsEcr: 0 },
      },
    );
    ep.sent.length = 0;
    return { ep, L: seqAdd(iss, 1), R: seqAdd(s(P), 1) };
  }

  it('echoes TS.Recent and updates it from in-order segments', () => {
    const { ep, L, R } = tsEst();
    ep.recv({ flags: 'ACK', seq: R, ack: L, data: 'a', options: { timestamps: { tsVal: 6000, tsEcr: 0 } } });
    ep.send('b');
    const seg = ep.expectSent('data', { data: 'b' });
    expect(seg.repr.options.timestamps?.tsEcr).toBe(6000);
  });

  it('PAWS drops a segment with an older timestamp and answers with an ACK (§5.3)', () => {
    const { ep, L, R } = tsEst();
    ep.recv({
      flags: 'ACK',
      seq: R,
      ack: L,
      data: 'old',
      options: { timestamps: { tsVal: 4000, tsEcr: 0 } },
    });
    ep.expectSent('ACK', { flags: 'ACK', ack: R });
    expect(ep.tcb?.rcvq.length).toBe(0);
    expect(ep.counter('paws-rejected')).toBe(1);
  });

  it('drops a non-RST segment without timestamps once they are negotiated (§3.2)', () => {
    const { ep, L, R } = tsEst();
    ep.recv({ flags: 'ACK', seq: R, ack: L, data: 'x' });
    expect(ep.tcb?.rcvq.length).toBe(0);
    expect(ep.counter('timestamp-missing')).toBe(1);
    ep.recv({ flags: 'RST', seq: R });
    ep.expectState('a RST needs none', 'none');
  });

  it('measures RTT from TSecr, retransmissions included', () => {
    const { ep, L, R } = tsEst();
    ep.send('x');
    const seg = ep.expectSent('data', { data: 'x' });
    ep.advanceToDeadline();
    ep.expectSent('again', { data: 'x' });
    ep.advance(40);
    ep.recv({
      flags: 'ACK',
      seq: R,
      ack: seqAdd(L, 1),
      options: { timestamps: { tsVal: 5001, tsEcr: seg.repr.options.timestamps!.tsVal } },
    });
    expect(ep.tcb?.rtt.backoff).toBe(0);
  });
});

describe('keep-alive (RFC 9293 §3.8.4)', () => {
  it('is off by default (MUST-25)', () => {
    const { ep } = est();
    expect(ep.deadline()).toBeNull();
  });

  it('probes after the idle time, every interval, and drops the connection after `count` unanswered', () => {
    const { ep, L, R } = est({
      keepaliveDefault: true,
      keepalive: { idle: 10_000, interval: 1000, count: 3 },
    });
    expect(ep.advanceToDeadline()).toBe(10_000);
    ep.expectSent('probe', { flags: 'ACK', seq: seqAdd(L, -1), len: 0 });
    ep.recv({ flags: 'ACK', seq: R, ack: L });
    expect(ep.deadline(), 'answered: idle again').toBe(ep.now + 10_000);
    ep.advanceToDeadline();
    for (let i = 0; i < 3; i++) {
      ep.expectSent('probe', { seq: seqAdd(L, -1) });
      ep.advanceToDeadline();
    }
    ep.expectState('dead', 'none');
    ep.expectNotes('keepalive', ['closed:keepalive-timeout']);
  });
});

describe('congestion control', () => {
  it('CUBIC is selectable', () => {
    const { ep } = est({ congestion: 'cubic' });
    expect(ep.tcb?.cc.algo).toBe('cubic');
  });

  it('slow start grows cwnd by at most one SMSS per ACK (RFC 5681 eq. 2)', () => {
    // Without HyStart++, whose slow start takes min(N, 8 SMSS) per ACK (RFC 9406 §4.2; hystart.test.ts).
    const { ep, L, R } = est({ initialCwndSegments: 2, hystart: false });
    ep.send(bytes(20_000));
    ep.sent.length = 0;
    const before = ep.tcb!.cc.cwnd;
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 2920) });
    expect(ep.tcb!.cc.cwnd).toBe(before + 1460);
  });
});
