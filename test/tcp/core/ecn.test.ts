/**
 * ECN (RFC 3168 §6.1, ecn.ts): negotiation on SYN / SYN-ACK, ECT(0) on new data only, CE echoed with
 * ECE until CWR, and the sender reducing its window on ECE at most once per window of data.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TcpConfig } from '../../../src/tcp/core/index.js';
import { type Seq, seqAdd, seqGe, toSeq } from '../../../src/tcp/seq.js';
import type { TcpRepr } from '../../../src/tcp/wire.js';
import { propOptions } from '../../support/props.js';
import {
  bytesOf,
  Endpoint,
  flagsOf,
  flagsText,
  LOCAL,
  LOCAL_PORT,
  REMOTE,
  REMOTE_PORT,
  type SegSpec,
} from './harness.js';
import { runPath } from './path-sim.js';

const CE = 3;

/** The peer sends a segment whose IP header had ECN field `ecn`. */
function recvEcn(ep: Endpoint, spec: SegSpec, ecn: number): void {
  const repr: TcpRepr = {
    srcPort: REMOTE_PORT,
    dstPort: LOCAL_PORT,
    seq: toSeq(spec.seq ?? 0),
    ack: toSeq(spec.ack ?? 0),
    flags: flagsOf(spec.flags),
    window: spec.window ?? 65_535,
    urgentPointer: 0,
    options: spec.options ?? {},
  };
  ep.step({ kind: 'segment', now: ep.now, src: REMOTE, dst: LOCAL, repr, payload: bytesOf(spec.data), ecn });
}

type Config = Partial<Omit<TcpConfig, 'secret'>>;
const PLAIN: Config = { timestamps: false, sack: false };

/** A passive connection whose peer's SYN carried `synFlags`; returns our ISS. */
function passive(synFlags: string, config: Config = {}): { ep: Endpoint; iss: Seq; synAck: string } {
  const ep = new Endpoint({ ...PLAIN, ...config });
  ep.listen();
  ep.recv({ flags: synFlags, seq: 1000, options: { mss: 1460 } });
  const sa = ep.sent.shift()!;
  ep.recv({ flags: 'ACK', seq: 1001, ack: seqAdd(sa.repr.seq, 1) });
  ep.expectState('established', 'Established');
  return { ep, iss: sa.repr.seq, synAck: flagsText(sa.repr.flags) };
}

describe('negotiation (RFC 3168 §6.1.1)', () => {
  it('accepts an ECN-setup SYN by default (Linux tcp_ecn=2): SYN-ACK with ECE, not CWR', () => {
    const { ep, synAck } = passive('SYN,ECE,CWR');
    expect(synAck).toBe('SYN,ACK,ECE');
    expect(ep.tcb?.ecnOk).toBe(true);
    expect(ep.counter('ecn-negotiated')).toBe(1);
  });

  it.each([
    ['a SYN without ECN', 'SYN', {}],
    ['a SYN with ECE only', 'SYN,ECE', {}],
    ['ECN switched off', 'SYN,ECE,CWR', { ecn: 'off' } as Config],
  ])('does not use ECN after %s', (_why, flags, config) => {
    const { ep, synAck } = passive(flags, config);
    expect(synAck).toBe('SYN,ACK');
    expect(ep.tcb?.ecnOk).toBe(false);
    ep.send('data');
    expect(ep.sent.shift()?.ect).toBe(false);
  });

  it('does not ask by default, asks with ecn: on, and not on a retransmitted SYN (§6.1.1.1)', () => {
    const quiet = new Endpoint(PLAIN);
    quiet.connect();
    quiet.expectSent('plain SYN', { flags: 'SYN' });
    const ep = new Endpoint({ ...PLAIN, ecn: 'on' });
    ep.connect();
    ep.expectSent('ECN-setup SYN', { flags: 'SYN,ECE,CWR' });
    ep.advanceToDeadline();
    ep.expectSent('retransmitted without ECN', { flags: 'SYN' });
  });

  it.each([
    ['SYN,ACK,ECE', true],
    ['SYN,ACK', false],
    ['SYN,ACK,ECE,CWR', false],
  ])('an active open with ecn: on uses ECN after a %s: %s', (flags, ok) => {
    const ep = new Endpoint({ ...PLAIN, ecn: 'on' });
    ep.connect();
    const syn = ep.sent.shift()!;
    ep.recv({ flags, seq: 5000, ack: seqAdd(syn.repr.seq, 1), options: { mss: 1460 } });
    ep.expectState('established', 'Established');
    expect(ep.tcb?.ecnOk).toBe(ok);
  });
});

describe('sender marks (§6.1.2, §6.1.4, §6.1.5)', () => {
  it('sends new data ECT(0), pure ACKs and retransmissions not ECT', () => {
    const { ep } = passive('SYN,ECE,CWR');
    ep.send('hello');
    expect(ep.sent.shift()?.ect, 'new data').toBe(true);
    ep.advanceToDeadline();
    const rx = ep.sent.shift()!;
    expect(rx.payloadLen).toBe(5);
    expect(rx.ect, 'retransmission').toBe(false);
    ep.recv({ flags: 'ACK', seq: 1001, ack: seqAdd(rx.repr.seq, 5), data: 'x' });
    ep.advance(1000);
    const ack = ep.sent.find((s) => s.payloadLen === 0);
    expect(ack?.ect, 'pure ACK').toBe(false);
  });

  it('reduces cwnd on ECE and sets CWR on the next new data, once per window', () => {
    const { ep, iss } = passive('SYN,ECE,CWR', { initialCwndSegments: 10 });
    const L = seqAdd(iss, 1);
    ep.send(new Uint8Array(10 * 1460));
    expect(ep.sent.splice(0).length).toBe(10);
    const cwnd = ep.tcb!.cc.cwnd;
    recvEcn(ep, { flags: 'ACK,ECE', seq: 1001, ack: seqAdd(L, 1460) }, 0);
    expect(ep.counter('ecn-reduced')).toBe(1);
    expect(ep.tcb!.cc.cwnd).toBeLessThan(cwnd);
    // More ECE within the same window (up to SND.MAX at the reduction): no further reduction.
    recvEcn(ep, { flags: 'ACK,ECE', seq: 1001, ack: seqAdd(L, 2 * 1460) }, 0);
    recvEcn(ep, { flags: 'ACK,ECE', seq: 1001, ack: seqAdd(L, 9 * 1460) }, 0);
    expect(ep.counter('ecn-reduced')).toBe(1);
    expect(ep.counter('ecn-ece-received')).toBe(3);
    ep.send(new Uint8Array(20 * 1460));
    const after = ep.sent.splice(0);
    expect(after.length).toBeGreaterThan(1);
    expect(after[0]?.repr.flags.cwr, 'CWR on the first new data').toBe(true);
    expect(after.filter((s) => s.repr.flags.cwr).length, 'and only there').toBe(1);
    // The next window: an ECE reduces again.
    recvEcn(ep, { flags: 'ACK,ECE', seq: 1001, ack: seqAdd(L, 10 * 1460 + 1460) }, 0);
    expect(ep.counter('ecn-reduced')).toBe(2);
  });
});

describe('receiver echo (§6.1.3)', () => {
  it('echoes a CE mark with ECE on every ACK until a CWR arrives, and counts the marks', () => {
    const { ep, iss } = passive('SYN,ECE,CWR');
    const ack = seqAdd(iss, 1);
    recvEcn(ep, { flags: 'ACK', seq: 1001, ack, data: 'a' }, CE);
    ep.expectSent('at once, with ECE', { flags: 'ACK,ECE', ack: 1002 });
    recvEcn(ep, { flags: 'ACK', seq: 1002, ack, data: 'b' }, 2);
    ep.advance(1000);
    ep.expectSent('still ECE', { flags: 'ACK,ECE', ack: 1003 });
    recvEcn(ep, { flags: 'ACK,CWR', seq: 1003, ack, data: 'c' }, 2);
    ep.advance(1000);
    ep.expectSent('CWR ends the echo', { flags: 'ACK', ack: 1004 });
    expect(ep.tcb?.stats.ceMarks).toBe(1);
    expect(ep.counter('ecn-ce-received')).toBe(1);
    expect(ep.counter('ecn-cwr-received')).toBe(1);
  });

  it('starts a new echo for a CE mark on the CWR segment itself', () => {
    const { ep, iss } = passive('SYN,ECE,CWR');
    const ack = seqAdd(iss, 1);
    recvEcn(ep, { flags: 'ACK', seq: 1001, ack, data: 'a' }, CE);
    ep.sent.splice(0);
    recvEcn(ep, { flags: 'ACK,CWR', seq: 1002, ack, data: 'b' }, CE);
    ep.expectSent('ECE again', { flags: 'ACK,ECE', ack: 1003 });
    expect(ep.tcb?.stats.ceMarks).toBe(2);
  });

  it('ignores CE on a connection without ECN', () => {
    const { ep, iss } = passive('SYN');
    recvEcn(ep, { flags: 'ACK', seq: 1001, ack: seqAdd(iss, 1), data: 'a' }, CE);
    ep.advance(1000);
    ep.expectSent('no ECE', { flags: 'ACK', ack: 1002 });
    expect(ep.tcb?.stats.ceMarks).toBe(0);
  });
});

describe('across a marking router (two cores, virtual time)', () => {
  it('on CE marks the sender reduces cwnd, at most once per window, and the transfer completes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 50 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 50_000, max: 400_000 }),
        (percent, salt, delay, bytes) => {
          // A deterministic pseudo-random choice of marked packets, like numgen random mod 100 < p.
          const ce = (n: number) => ((n * 2_654_435_761 + salt * 40_503) >>> 0) % 100 < percent;
          const r = runPath({
            mtu: 1500,
            tooBig: 'icmp',
            bytes,
            delay,
            ce,
            client: { ecn: 'on' },
            drain: true,
          });
          expect(r.done).toBe(true);
          expect(r.clientCeMarks).toBe(r.clientCounters['ecn-ce-received']);
          // A small transfer at a low marking rate may see no mark at all.
          fc.pre(r.clientCeMarks > 0);
          expect(r.serverCounters['ecn-reduced']).toBeGreaterThan(0);
          expect(r.reductions.length).toBe(r.serverCounters['ecn-reduced']);
          for (const red of r.reductions) {
            if (red.prevMax !== null) expect(seqGe(toSeq(red.una), toSeq(red.prevMax))).toBe(true);
          }
          // A reduction is followed by a CWR on the next new data, which ends the echo (a mark on the
          // last segment is echoed and reduces the window, but no data follows to carry a CWR).
          const first = r.reductions[0]!;
          if (r.serverSegments.some((s) => s.at > first.at && s.seg.payloadLen > 0)) {
            const cwrs = r.serverSegments.filter((s) => s.seg.repr.flags.cwr).length;
            expect(cwrs).toBeGreaterThan(0);
            expect(r.clientCounters['ecn-cwr-received']).toBeGreaterThan(0);
          }
        },
      ),
      propOptions(20),
    );
  });

  it('without marks nothing is reduced and nothing echoed', () => {
    const r = runPath({ mtu: 1500, tooBig: 'icmp', bytes: 200_000, delay: 2, client: { ecn: 'on' } });
    expect(r.done).toBe(true);
    expect(r.serverCounters['ecn-negotiated']).toBe(1);
    expect(r.serverCounters['ecn-reduced']).toBe(0);
    expect(r.clientSegments.some((s) => s.repr.flags.ece && !s.repr.flags.syn)).toBe(false);
    expect(r.serverSegments.every((s) => s.seg.payloadLen === 0 || s.seg.ect !== undefined)).toBe(true);
  });
});
