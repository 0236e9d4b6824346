/**
 * ICMP errors about our segments (RFC 1122 §4.2.3.9, RFC 5927 §4.1) and the Linux-like timeouts Node's
 * users expect: an error quoting our SYN ends the open; in a synchronized state it is only kept and
 * reported when the connection times out; an error quoting a sequence number not in flight is ignored.
 */
import { describe, expect, it } from 'vitest';
import type { TcpNotification } from '../../../src/tcp/core/index.js';
import { type Seq, seqAdd } from '../../../src/tcp/seq.js';
import { Endpoint, establishedPassive, LOCAL, REMOTE, REMOTE_PORT } from './harness.js';

const closedNotes = (ep: Endpoint) =>
  ep.notes
    .splice(0)
    .filter((n): n is Extract<TcpNotification, { kind: 'closed' }> => n.kind === 'closed')
    .map((n) => ({ reason: n.reason, error: n.error }));

function synSent() {
  const ep = new Endpoint({ timestamps: false });
  ep.connect(80);
  const syn = ep.expectSent('SYN', { flags: 'SYN' });
  return { ep, iss: syn.repr.seq };
}

describe('SYN-SENT', () => {
  it('ends the open on an error quoting our SYN, with the error, and sends nothing', () => {
    const { ep, iss } = synSent();
    ep.icmpError(iss, 'EHOSTUNREACH');
    ep.expectState('aborted', 'none');
    ep.expectIdle('no RST to an unreachable peer');
    expect(closedNotes(ep)).toEqual([{ reason: 'unreachable', error: 'EHOSTUNREACH' }]);
    expect(ep.counter('icmp-aborted')).toBe(1);
    expect(ep.deadline(), 'no timer left behind').toBeNull();
  });

  it.each([
    ['one before the ISS', -1],
    ['SND.NXT itself', 1],
    ['far away', 0x4000_0000],
  ])('ignores an error quoting a sequence number not in flight (%s, RFC 5927 §4.1)', (_why, off) => {
    const { ep, iss } = synSent();
    ep.icmpError(seqAdd(iss, off));
    ep.expectState('still opening', 'SynSent');
    expect(ep.counter('icmp-out-of-window')).toBe(1);
    ep.advanceToDeadline();
    ep.expectSent('the SYN is retransmitted as usual', { flags: 'SYN', seq: iss });
  });

  it('ignores an error about another connection', () => {
    const { ep, iss } = synSent();
    ep.icmpError(iss, 'ECONNREFUSED', REMOTE_PORT + 1);
    ep.expectState('still opening', 'SynSent');
    expect(ep.counter('icmp-no-connection')).toBe(1);
  });

  it('accepts an error quoting a retransmitted SYN', () => {
    const { ep, iss } = synSent();
    ep.advanceToDeadline();
    ep.expectSent('SYN again', { flags: 'SYN', seq: iss });
    ep.icmpError(iss, 'ENETUNREACH');
    expect(closedNotes(ep)).toEqual([{ reason: 'unreachable', error: 'ENETUNREACH' }]);
  });
});

describe('Linux-like SYN retries (tcp_syn_retries = 6)', () => {
  it('retransmits at 1, 3, 7, 15, 31 and 63 s and gives up at 127 s, about two minutes', () => {
    const ep = new Endpoint();
    ep.connect(80);
    ep.expectSent('SYN', { flags: 'SYN' });
    const times: number[] = [];
    while (ep.tcb !== undefined) {
      times.push(ep.advanceToDeadline());
      if (ep.tcb !== undefined) ep.expectSent('SYN again', { flags: 'SYN' });
    }
    expect(times).toEqual([1000, 3000, 7000, 15_000, 31_000, 63_000, 127_000]);
    expect(closedNotes(ep)).toEqual([{ reason: 'connect-timeout', error: undefined }]);
  });
});

describe('synchronized states: soft errors', () => {
  function withDataInFlight() {
    const { ep, iss } = establishedPassive(1000, { timestamps: false, sack: false, dataRetries: 3 });
    const L = seqAdd(iss, 1);
    expect(ep.send('hello')).toBe(5);
    ep.expectSent('data', { flags: 'PSH,ACK', seq: L, len: 5 });
    return { ep, L };
  }

  it('keeps the error, goes on retransmitting, and reports it when the connection times out', () => {
    const { ep, L } = withDataInFlight();
    ep.icmpError(L, 'EHOSTUNREACH');
    ep.expectState('not aborted (§4.2.3.9 "MUST NOT abort")', 'Established');
    ep.expectIdle('nothing sent at once');
    expect(ep.tcb?.softError).toBe('EHOSTUNREACH');
    expect(ep.counter('icmp-soft-error')).toBe(1);
    while (ep.tcb !== undefined) ep.advanceToDeadline();
    expect(closedNotes(ep)).toEqual([{ reason: 'timeout', error: 'EHOSTUNREACH' }]);
  });

  it('does not abort on a hard error (port unreachable) either, as Linux', () => {
    const { ep, L } = withDataInFlight();
    ep.icmpError(seqAdd(L, 4), 'ECONNREFUSED');
    ep.expectState('still there', 'Established');
    expect(ep.tcb?.softError).toBe('ECONNREFUSED');
  });

  it('forgets the error once an ACK shows the path works', () => {
    const { ep, L } = withDataInFlight();
    ep.icmpError(L, 'ENETUNREACH');
    ep.recv({ flags: 'ACK', seq: 1001, ack: seqAdd(L, 5) });
    expect(ep.tcb?.softError).toBeNull();
    ep.send('more');
    while (ep.tcb !== undefined) ep.advanceToDeadline();
    expect(closedNotes(ep)).toEqual([{ reason: 'timeout', error: undefined }]);
  });

  it('ignores an error quoting data not in flight', () => {
    const { ep, L } = withDataInFlight();
    ep.icmpError(seqAdd(L, 5), 'EHOSTUNREACH');
    ep.icmpError(seqAdd(L, -1), 'EHOSTUNREACH');
    expect(ep.tcb?.softError).toBeNull();
    expect(ep.counter('icmp-out-of-window')).toBe(2);
  });

  it('ignores errors in TIME-WAIT', () => {
    const { ep, iss } = establishedPassive(1000, { timestamps: false });
    const L = seqAdd(iss, 1);
    ep.shutdown();
    ep.recv({ flags: 'FIN,ACK', seq: 1001, ack: seqAdd(L, 1) });
    ep.expectState('time-wait', 'TimeWait');
    ep.icmpError(L);
    expect(ep.counter('icmp-no-connection')).toBe(1);
    ep.expectState('unchanged', 'TimeWait');
  });
});

describe('keep-alive idle time per connection (Node setKeepAlive(true, delay))', () => {
  it('sends the first probe after the connection own idle time, not the configured two hours', () => {
    const { ep, iss } = establishedPassive(1000, { timestamps: false });
    ep.step({
      kind: 'set-options',
      now: ep.now,
      flow: ep.key,
      options: { keepalive: true, keepaliveTimes: { idle: 5000, interval: 1000, count: 10 } },
    });
    expect(ep.deadline()).toBe(5000);
    ep.advanceToDeadline();
    ep.expectSent('probe: SND.UNA - 1', { flags: 'ACK', seq: seqAdd(iss, 0), len: 0 });
    expect(ep.counter('keepalive-probe')).toBe(1);
  });

  it('refuses a non-positive idle time', () => {
    const { ep } = establishedPassive(1000);
    const r = ep.step({
      kind: 'set-options',
      now: ep.now,
      flow: ep.key,
      options: { keepaliveTimes: { idle: 0, interval: 1000, count: 10 } },
    });
    expect(r).toEqual({ kind: 'error', error: 'invalid-argument' });
  });
});

describe('Fragmentation Needed / Packet Too Big (path MTU information, pmtu.ts)', () => {
  const tooBig = (ep: Endpoint, seq: number, mtu: number) =>
    ep.step({
      kind: 'icmp-error',
      now: ep.now,
      local: LOCAL,
      localPort: 80,
      remote: REMOTE,
      remotePort: REMOTE_PORT,
      seq: seq as Seq,
      error: 'EHOSTUNREACH',
      mtu,
    });

  it('does not end an open in SYN-SENT: it is no error', () => {
    const { ep, iss } = synSent();
    tooBig(ep, iss, 1280);
    ep.expectState('still opening', 'SynSent');
    expect(ep.counter('icmp-aborted')).toBe(0);
    expect(closedNotes(ep)).toEqual([]);
  });

  it('is not kept as a soft error in a synchronized state, and is not reported at a timeout', () => {
    const { ep, iss } = establishedPassive(1000, { timestamps: false, sack: false, dataRetries: 2 });
    const L = seqAdd(iss, 1);
    ep.send('hello');
    ep.sent.splice(0);
    tooBig(ep, L, 1280);
    expect(ep.tcb?.softError).toBeNull();
    expect(ep.counter('icmp-soft-error')).toBe(0);
    while (ep.tcb !== undefined) ep.advanceToDeadline();
    expect(closedNotes(ep)).toEqual([{ reason: 'timeout', error: undefined }]);
  });

  it('is checked like any error: outside the flight it is counted and dropped', () => {
    const { ep, iss } = establishedPassive(1000, { timestamps: false, sack: false });
    ep.send(new Uint8Array(1460));
    tooBig(ep, seqAdd(iss, 1 + 1460), 576);
    expect(ep.counter('icmp-out-of-window')).toBe(1);
    expect(ep.tcb?.mss).toBe(1460);
  });

  it('rfc5927 is the switch: off, a forged Packet Too Big quoting no data in flight lowers the MSS', () => {
    // The attack (CVE-2004-0790 family, RFC 5927 §7): an off-path sender forges errors quoting any
    // sequence number; with the check off, each is believed.
    const off = establishedPassive(1000, { timestamps: false, sack: false, rfc5927: false });
    off.ep.send(new Uint8Array(1460));
    tooBig(off.ep, seqAdd(off.iss, 1 + 100_000), 576);
    expect(off.ep.tcb?.mss).toBe(576 - 40);
    expect(off.ep.counter('icmp-out-of-window')).toBe(0);
    const on = establishedPassive(1000, { timestamps: false, sack: false });
    on.ep.send(new Uint8Array(1460));
    tooBig(on.ep, seqAdd(on.iss, 1 + 100_000), 576);
    expect(on.ep.tcb?.mss).toBe(1460);
    expect(on.ep.counter('icmp-out-of-window')).toBe(1);
  });
});
