/**
 * Closing a connection (RFC 9293 §3.6, §3.10.4-3.10.5, §3.10.7.4 eighth step, §3.10.8): one describe
 * per closing state, scripted like the RFC's figures.
 */
import { describe, expect, it } from 'vitest';
import { concatChunks } from '../../../src/tcp/core/index.js';
import { ropeRead } from '../../../src/tcp/core/rope.js';
import { seqAdd } from '../../../src/tcp/seq.js';
import { establishedPassive, s } from './harness.js';

const MSL = 30_000;
const P = 0xffff_fff8; // peer ISS near 2^32

function established() {
  const { ep, iss } = establishedPassive(P, { timestamps: false, sack: false, windowScaling: false });
  return { ep, L: seqAdd(iss, 1), R: seqAdd(s(P), 1) };
}

describe('FinWait1 / FinWait2 / TimeWait (active close, Figure 12)', () => {
  it('goes FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, and forgets the connection after 2·MSL', () => {
    const { ep, L, R } = established();
    ep.shutdown();
    ep.expectState('CLOSE: enter FIN-WAIT-1', 'FinWait1');
    ep.expectSent('FIN', { flags: 'FIN,ACK', seq: L, ack: R });
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 1) });
    ep.expectState('FIN acknowledged', 'FinWait2');
    expect(ep.deadline(), 'no timer in FIN-WAIT-2 after a half-close').toBeNull();
    ep.recv({ flags: 'FIN,ACK', seq: R, ack: seqAdd(L, 1) });
    ep.expectSent('ACK of the FIN', { flags: 'ACK', seq: seqAdd(L, 1), ack: seqAdd(R, 1) });
    ep.expectState('their FIN', 'TimeWait');
    ep.expectNotes('eof, then over for the user', ['eof', 'closed:normal']);
    expect(ep.deadline()).toBe(ep.now + 2 * MSL);
    ep.advanceToDeadline();
    ep.expectState('2·MSL later', 'none');
    ep.expectNotes('no second closed', []);
    expect(ep.counter('time-wait-done')).toBe(1);
  });

  it('FIN-WAIT-1 goes straight to TIME-WAIT on a FIN that also acknowledges ours (note 2)', () => {
    const { ep, L, R } = established();
    ep.shutdown();
    ep.sent.length = 0;
    ep.recv({ flags: 'FIN,ACK', seq: R, ack: seqAdd(L, 1) });
    ep.expectState('FIN + ACK of FIN', 'TimeWait');
    ep.expectSent('ACK', { flags: 'ACK', ack: seqAdd(R, 1) });
  });

  it('retransmits the FIN until acknowledged, with backoff', () => {
    const { ep, L } = established();
    ep.shutdown();
    ep.expectSent('FIN', { flags: 'FIN,ACK', seq: L });
    const t1 = ep.advanceToDeadline();
    ep.expectSent('FIN again', { flags: 'FIN,ACK', seq: L });
    const t2 = ep.advanceToDeadline();
    ep.expectSent('FIN again', { flags: 'FIN,ACK', seq: L });
    const t3 = ep.deadline()!;
    expect(t3 - t2).toBe(2 * (t2 - t1));
  });

  it('drops an orphan in FIN-WAIT-2 after finWait2Timeout (close, not shutdown)', () => {
    const { ep, L, R } = established();
    ep.close();
    ep.sent.length = 0;
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 1) });
    ep.expectState('FIN acked', 'FinWait2');
    expect(ep.deadline()).toBe(ep.now + 60_000);
    ep.advanceToDeadline();
    ep.expectState('orphan dropped', 'none');
    ep.expectNotes('closed', ['closed:fin-wait-2']);
  });

  it('still receives after a half-close (§3.6.1)', () => {
    const { ep, L, R } = established();
    ep.shutdown();
    ep.sent.length = 0;
    ep.recv({ flags: 'ACK', seq: R, ack: seqAdd(L, 1) });
    ep.recv({ flags: 'ACK,PSH', seq: R, ack: seqAdd(L, 1), data: 'more' });
    expect(ep.read()).toEqual({ data: 'more', eof: false });
    ep.recv({ flags: 'FIN,ACK', seq: seqAdd(R, 4), ack: seqAdd(L, 1) });
    expect(ep.read()).toEqual({ data: '', eof: true });
    ep.expectState('done', 'TimeWait');
  });

  it('answers data after close() with a RST (SHLD-3)', () => {
    const { ep, L, R } = established();
    ep.close();
    ep.sent.length = 0;
    ep.notes.length = 0;
    ep.recv({ flags: 'ACK,PSH', seq: R, ack: seqAdd(L, 1), data: 'late' });
    ep.expectSent('reset', { flags: 'RST,ACK' });
    ep.expectState('gone', 'none');
    ep.expectNotes('aborted', ['closed:aborted']);
  });
});

describe('SEND and RECEIVE without copies', () => {
  it("send `shared` queues the caller's bytes themselves; a plain send copies them", () => {
    const { ep } = established();
    const shared = new TextEncoder().encode('shared bytes');
    ep.step({ kind: 'send', now: ep.now, flow: ep.key, data: shared, shared: true });
    const copied = new TextEncoder().encode('copied');
    ep.step({ kind: 'send', now: ep.now, flow: ep.key, data: copied });
    const views = ropeRead(ep.tcb!.sndq, 0, ep.tcb!.sndq.length);
    expect(views[0]!.buffer).toBe(shared.buffer);
    expect(views.some((v) => v.buffer === copied.buffer)).toBe(false);
    expect(new TextDecoder().decode(concatChunks(views))).toBe('shared bytescopied');
  });

  it('recv `into` copies at most the buffer (and `max`), returns no views, and reports what remains and EOF', () => {
    const { ep, L, R } = established();
    ep.recv({ flags: 'ACK,PSH', seq: R, ack: L, data: 'hello world' });
    ep.recv({ flags: 'FIN,ACK', seq: seqAdd(R, 11), ack: L });
    const into = new Uint8Array(8).fill(0x2e);
    const first = ep.step({ kind: 'recv', now: ep.now, flow: ep.key, into, max: 5 });
    expect(first).toEqual({ kind: 'data', data: [], length: 5, remaining: 6, eof: false });
    expect(new TextDecoder().decode(into)).toBe('hello...');
    const second = ep.step({ kind: 'recv', now: ep.now, flow: ep.key, into });
    expect(second).toEqual({ kind: 'data', data: [], length: 6, remaining: 0, eof: true });
    expect(new TextDecoder().decode(into.subarray(0, 6))).toBe(' world');
  });
});

describe('Closing (simultaneous close, Figure 13)', () => {
  it('FIN-WAIT-1 -> CLOSING -> TIME-WAIT', () => {
    const { ep, L, R } = established();
    ep.shutdown();
    ep.sent.length = 0;
    ep.recv({ flags: 'FIN,ACK', seq: R, ack: L });
    ep.expectState('their FIN crossed ours', 'Closing');
    ep.expectSent('ACK', { flags: 'ACK', seq: seqAdd(L, 1), ack: seqAdd(R, 1) });
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 1), ack: seqAdd(L, 1) });
    ep.expectState('our FIN acked', 'TimeWait');
  });
});

describe('CloseWait / LastAck (passive close)', () => {
  it('CLOSE-WAIT on their FIN, LAST-ACK on ours, gone when acknowledged', () => {
    const { ep, L, R } = established();
    ep.recv({ flags: 'FIN,ACK', seq: R, ack: L });
    ep.expectSent('ACK of FIN', { flags: 'ACK', ack: seqAdd(R, 1) });
    ep.expectState('their FIN', 'CloseWait');
    ep.expectNotes('eof', ['eof']);
    expect(ep.send('bye')).toBe(3);
    ep.expectSent('data still flows', { flags: 'ACK,PSH', data: 'bye' });
    ep.shutdown();
    ep.expectState('our FIN', 'LastAck');
    ep.expectSent('FIN', { flags: 'FIN,ACK', seq: seqAdd(L, 3) });
    ep.recv({ flags: 'ACK', seq: seqAdd(R, 1), ack: seqAdd(L, 4) });
    ep.expectState('FIN acknowledged', 'none');
    ep.expectNotes('closed', ['closed:normal']);
    expect(ep.deadline()).toBeNull();
  });

  it('LAST-ACK gives up after the retransmissions are exhausted', () => {
    const { ep, R, L } = established();
    ep.recv({ flags: 'FIN,ACK', seq: R, ack: L });
    ep.shutdown();
    for (let i = 0; i < 30 && ep.tcb !== undefined; i++) ep.advanceToDeadline();
    ep.expectState('gone', 'none');
    expect(ep.notes.map((n) => (n.kind === 'closed' ? n.reason : n.kind))).toContain('timeout');
    expect(ep.counter('rexmt-exceeded')).toBe(1);
  });
});

describe('TimeWait', () => {
  function timeWait() {
    const w = established();
    w.ep.shutdown();
    w.ep.recv({ flags: 'FIN,ACK', seq: w.R, ack: seqAdd(w.L, 1) });
    w.ep.sent.length = 0;
    w.ep.notes.length = 0;
    return w;
  }

  it('acknowledges a retransmitted FIN and restarts the 2·MSL timer', () => {
    const { ep, L, R } = timeWait();
    ep.advance(10_000);
    ep.recv({ flags: 'FIN,ACK', seq: R, ack: seqAdd(L, 1) });
    ep.expectSent('ACK again', { flags: 'ACK', ack: seqAdd(R, 1) });
    expect(ep.deadline()).toBe(ep.now + 2 * MSL);
  });

  it('ignores a RST (RFC 1337)', () => {
    const { ep, R } = timeWait();
    ep.recv({ flags: 'RST', seq: seqAdd(R, 1) });
    ep.expectState('still in TIME-WAIT', 'TimeWait');
    expect(ep.counter('time-wait-rst-ignored')).toBe(1);
  });

  it('reopens on a new SYN with a higher sequence number (MAY-2), with a larger ISS', () => {
    const { ep, L, R } = timeWait();
    ep.recv({ flags: 'SYN', seq: seqAdd(R, 100_000), options: { mss: 1460 } });
    const sa = ep.expectSent('SYN-ACK of the new incarnation', { flags: 'SYN,ACK', ack: seqAdd(R, 100_001) });
    expect(sa.repr.seq).toBe(seqAdd(L, 1 + 65_535 + 2));
    ep.expectState('new connection', 'SynReceived');
    expect(ep.counter('time-wait-reused')).toBe(1);
  });

  it('keeps only the 2·MSL timer', () => {
    const { ep } = timeWait();
    const t = ep.tcb!;
    expect([t.rexmt, t.delackAt, t.finWait2At, t.keepaliveAt]).toEqual([null, null, null, null]);
    expect(t.timeWaitAt).toBe(ep.now + 2 * MSL);
  });
});

describe('abort and close with unread data', () => {
  it('ABORT sends <SEQ=SND.NXT><CTL=RST> and forgets the connection', () => {
    const { ep, L } = established();
    ep.abort();
    ep.expectSent('RST', { flags: 'RST', seq: L });
    ep.expectState('gone', 'none');
    ep.expectNotes('aborted', ['closed:aborted']);
  });

  it('close() with unread data resets the connection (SHLD-3)', () => {
    const { ep, L, R } = established();
    ep.recv({ flags: 'ACK,PSH', seq: R, ack: L, data: 'unread' });
    ep.notes.length = 0;
    ep.close();
    ep.expectSent('RST', { flags: 'RST,ACK', seq: L });
    ep.expectState('gone', 'none');
    ep.expectNotes('aborted', ['closed:aborted']);
  });

  it('a RST from the peer closes with reason reset (MUST-12: the user learns it was aborted)', () => {
    const { ep, R } = established();
    ep.recv({ flags: 'RST', seq: R });
    ep.expectState('gone', 'none');
    ep.expectNotes('reset', ['closed:reset']);
  });

  it('a RST right behind unread data hands the data over with the close (read, then the error)', () => {
    const { ep, R, L } = established();
    ep.recv({ flags: 'PSH,ACK', seq: R, ack: L, data: 'last words' });
    ep.recv({ flags: 'RST', seq: seqAdd(R, 10) });
    const closed = ep.notes.find((n) => n.kind === 'closed');
    expect(closed?.kind === 'closed' && closed.reason).toBe('reset');
    const unread = closed?.kind === 'closed' ? (closed.unread ?? []) : [];
    expect(new TextDecoder().decode(concatChunks(unread))).toBe('last words');
  });
});
