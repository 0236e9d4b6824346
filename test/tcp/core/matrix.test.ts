/**
 * The reply oracle (docs/TCP-NOTES.md §6, utcp's segment-shape matrix): for each state, each flag combination
 * (none, SYN, SYN+ACK, FIN, FIN+ACK, RST, RST+ACK, ACK), with and without data, in and out of the
 * window: the segment we answer with (or none) and the next state. RFC 9293 §3.10.7 with RFC 5961
 * (challenge ACKs) and RFC 1337 (RST ignored in TIME-WAIT).
 */
import { describe, expect, it } from 'vitest';
import type { TcpState } from '../../../src/tcp/core/index.js';
import { seqAdd } from '../../../src/tcp/seq.js';
import { Endpoint, flagsText } from './harness.js';

const PEER_ISS = 0x7fff_fff0; // near 2^31: catches signed comparisons
const SHAPES = ['', 'SYN', 'SYN,ACK', 'FIN', 'FIN,ACK', 'RST', 'RST,ACK', 'ACK'] as const;
type Shape = (typeof SHAPES)[number];

interface World {
  ep: Endpoint;
  /** The peer's next sequence number (our RCV.NXT). */
  peerNxt: number;
  /** What the peer acknowledges (our SND.UNA). */
  peerAck: number;
}

/** Brings a passive connection to `state` (no timestamps, so no PAWS). */
function reach(state: TcpState | 'Listen' | 'Closed'): World {
  const ep = new Endpoint({ timestamps: false, sack: false, windowScaling: false });
  if (state === 'Closed') return { ep, peerNxt: PEER_ISS, peerAck: 12345 };
  ep.listen();
  if (state === 'Listen') return { ep, peerNxt: PEER_ISS, peerAck: 12345 };
  if (state === 'SynSent') {
    ep.step({ kind: 'unlisten', now: 0, port: 80 });
    ep.connect(80);
    const syn = ep.expectSent('SYN', { flags: 'SYN' });
    return { ep, peerNxt: PEER_ISS, peerAck: seqAdd(syn.repr.seq, 1) };
  }
  ep.recv({ flags: 'SYN', seq: PEER_ISS, options: { mss: 1460 } });
  const iss = ep.expectSent('SYN-ACK', { flags: 'SYN,ACK' }).repr.seq;
  let peerNxt = PEER_ISS + 1;
  let una = seqAdd(iss, 1);
  if (state === 'SynReceived') return { ep, peerNxt, peerAck: una };
  ep.recv({ flags: 'ACK', seq: peerNxt, ack: una });
  const fin = (): void => {
    ep.recv({ flags: 'FIN,ACK', seq: peerNxt, ack: una });
    peerNxt++;
    ep.sent.length = 0;
  };
  const shut = (): void => {
    ep.shutdown();
    ep.expectSent('our FIN', { flags: 'FIN,ACK' });
  };
  switch (state) {
    case 'Established':
      break;
    case 'FinWait1':
      shut();
      break;
    case 'FinWait2':
      shut();
      una = seqAdd(una, 1);
      ep.recv({ flags: 'ACK', seq: peerNxt, ack: una });
      break;
    case 'CloseWait':
      fin();
      break;
    case 'Closing':
      shut();
      fin();
      break;
    case 'LastAck':
      fin();
      shut();
      break;
    case 'TimeWait':
      shut();
      una = seqAdd(una, 1);
      ep.recv({ flags: 'ACK', seq: peerNxt, ack: una });
      fin();
      break;
  }
  ep.sent.length = 0;
  ep.notes.length = 0;
  ep.expectState(`reached ${state}`, state);
  return { ep, peerNxt, peerAck: una };
}

type Expect = readonly [reply: string, next: TcpState | 'none'];

/** In-window segments (SEG.SEQ = RCV.NXT, SEG.ACK = SND.UNA) to the synchronized states. */
function syncInWindow(state: TcpState, shape: Shape, data: boolean): Expect {
  const stay: Expect = ['', state];
  switch (shape) {
    case '':
    case 'FIN':
      return stay; // no ACK bit: dropped (fifth check)
    case 'SYN':
    case 'SYN,ACK':
      return ['ACK', state]; // RFC 5961 §4 challenge ACK
    case 'RST':
    case 'RST,ACK':
      return ['', state === 'TimeWait' ? 'TimeWait' : 'none']; // RFC 5961 §3 exact match; RFC 1337
    case 'ACK':
      // Data: accepted and acknowledged later (delayed ACK) where the peer may still send.
      return stay;
    case 'FIN,ACK': {
      const next: Record<TcpState, TcpState> = {
        SynSent: 'SynSent',
        SynReceived: 'CloseWait',
        Established: 'CloseWait',
        FinWait1: 'Closing',
        FinWait2: 'TimeWait',
        CloseWait: 'CloseWait',
        Closing: 'Closing',
        LastAck: 'LastAck',
        TimeWait: 'TimeWait',
      };
      void data;
      return ['ACK', next[state]];
    }
  }
}

const SYNC: readonly TcpState[] = [
  'Established',
  'FinWait1',
  'FinWait2',
  'CloseWait',
  'Closing',
  'LastAck',
  'TimeWait',
];

function run(w: World, shape: Shape, data: boolean, inWindow: boolean): { reply: string; state: string } {
  const seq = inWindow ? w.peerNxt : w.peerNxt + 0x4000_0000;
  w.ep.recv({ flags: shape, seq, ack: w.peerAck, ...(data ? { data: 'xyz' } : {}) });
  const reply = w.ep.sent.map((s) => flagsText(s.repr.flags)).join(' ');
  return { reply, state: w.ep.tcb?.state ?? 'none' };
}

describe.each(SYNC)('%s', (state) => {
  for (const shape of SHAPES) {
    for (const data of [false, true]) {
      it(`in window: ${shape || 'no flags'}${data ? ' + data' : ''}`, () => {
        const [reply, next] = syncInWindow(state, shape, data);
        expect(run(reach(state), shape, data, true)).toEqual({ reply, state: next });
      });
      it(`out of window: ${shape || 'no flags'}${data ? ' + data' : ''}`, () => {
        // §3.10.7.4 first check: an ACK in reply unless RST (RST: silently dropped, RFC 5961 §3).
        // A SYN to TIME-WAIT with a higher sequence number reopens the connection (RFC 9293 MAY-2).
        const reopen = state === 'TimeWait' && shape === 'SYN';
        const want = reopen
          ? { reply: 'SYN,ACK', state: 'SynReceived' }
          : { reply: shape.startsWith('RST') ? '' : 'ACK', state };
        expect(run(reach(state), shape, data, false)).toEqual(want);
      });
    }
  }
});

describe('SynReceived (passive)', () => {
  const table: Record<Shape, readonly [string, string, string]> = {
    // shape: [reply, next state without data, next state with data]
    '': ['', 'SynReceived', 'SynReceived'],
    SYN: ['', 'none', 'none'], // "return this connection to the LISTEN state"
    'SYN,ACK': ['', 'none', 'none'],
    FIN: ['', 'SynReceived', 'SynReceived'],
    'FIN,ACK': ['ACK', 'CloseWait', 'CloseWait'],
    RST: ['', 'none', 'none'],
    'RST,ACK': ['', 'none', 'none'],
    ACK: ['', 'Established', 'Established'],
  };
  for (const shape of SHAPES) {
    for (const data of [false, true]) {
      it(`in window: ${shape || 'no flags'}${data ? ' + data' : ''}`, () => {
        const [reply, plain, withData] = table[shape];
        expect(run(reach('SynReceived'), shape, data, true)).toEqual({
          reply,
          state: data ? withData : plain,
        });
      });
      it(`out of window: ${shape || 'no flags'}${data ? ' + data' : ''}`, () => {
        const want = { reply: shape.startsWith('RST') ? '' : 'ACK', state: 'SynReceived' };
        expect(run(reach('SynReceived'), shape, data, false)).toEqual(want);
      });
    }
  }

  it('answers an ACK of something not sent with a RST and stays (RFC, unlike utcp)', () => {
    const w = reach('SynReceived');
    w.ep.recv({ flags: 'ACK', seq: w.peerNxt, ack: w.peerAck + 10 });
    w.ep.expectSent('reset', { flags: 'RST', seq: w.peerAck + 10 });
    w.ep.expectState('still waiting', 'SynReceived');
  });
});

describe('SynSent', () => {
  // Segments answering our SYN; "good" ACKs acknowledge it, "bad" ones do not.
  const cases: ReadonlyArray<readonly [string, Shape, 'good' | 'bad' | 'none', string, string]> = [
    ['no flags', '', 'none', '', 'SynSent'],
    ['SYN: simultaneous open', 'SYN', 'none', 'SYN,ACK', 'SynReceived'],
    ['SYN-ACK', 'SYN,ACK', 'good', 'ACK', 'Established'],
    ['SYN-ACK acking something else', 'SYN,ACK', 'bad', 'RST', 'SynSent'],
    ['FIN without ACK', 'FIN', 'none', '', 'SynSent'],
    ['FIN-ACK without SYN', 'FIN,ACK', 'good', '', 'SynSent'],
    ['RST without ACK', 'RST', 'none', '', 'SynSent'],
    ['RST acking our SYN: refused', 'RST,ACK', 'good', '', 'none'],
    ['RST with a bad ACK', 'RST,ACK', 'bad', '', 'SynSent'],
    ['ACK of our SYN without SYN', 'ACK', 'good', '', 'SynSent'],
    ['ACK of something else', 'ACK', 'bad', 'RST', 'SynSent'],
  ];
  it.each(cases)('%s', (_name, shape, ack, reply, next) => {
    const w = reach('SynSent');
    const a = ack === 'bad' ? w.peerAck + 1000 : w.peerAck;
    w.ep.recv({ flags: shape, seq: PEER_ISS, ack: a, dstPort: 80 });
    expect({
      reply: w.ep.sent.map((x) => flagsText(x.repr.flags)).join(' '),
      state: w.ep.tcb?.state ?? 'none',
    }).toEqual({ reply, state: next });
  });
});

describe('Listen', () => {
  it.each([
    ['no flags', '', '', 'none'],
    ['SYN', 'SYN', 'SYN,ACK', 'SynReceived'],
    ['SYN-ACK', 'SYN,ACK', 'RST', 'none'],
    ['FIN', 'FIN', '', 'none'],
    ['FIN-ACK', 'FIN,ACK', 'RST', 'none'],
    ['RST', 'RST', '', 'none'],
    ['RST-ACK', 'RST,ACK', '', 'none'],
    ['ACK', 'ACK', 'RST', 'none'],
  ] as const)('%s', (_n, shape, reply, next) => {
    const w = reach('Listen');
    w.ep.recv({ flags: shape, seq: PEER_ISS, ack: 777 });
    expect({
      reply: w.ep.sent.map((x) => flagsText(x.repr.flags)).join(' '),
      state: w.ep.tcb?.state ?? 'none',
    }).toEqual({ reply, state: next });
    if (reply === 'RST') w.ep.expectSent('<SEQ=SEG.ACK><CTL=RST>', { flags: 'RST', seq: 777 });
  });
});

describe('Closed (no connection, no listener): §3.10.7.1', () => {
  it.each([
    ['no flags', '', false, 'RST,ACK'],
    ['SYN', 'SYN', false, 'RST,ACK'],
    ['SYN + data', 'SYN', true, 'RST,ACK'],
    ['FIN', 'FIN', false, 'RST,ACK'],
    ['SYN-ACK', 'SYN,ACK', false, 'RST'],
    ['ACK + data', 'ACK', true, 'RST'],
    ['RST', 'RST', false, ''],
    ['RST-ACK', 'RST,ACK', false, ''],
  ] as const)('%s', (_n, shape, data, reply) => {
    const w = reach('Closed');
    w.ep.recv({ flags: shape, seq: 1000, ack: 777, ...(data ? { data: 'hello' } : {}) });
    expect(w.ep.sent.map((x) => flagsText(x.repr.flags)).join(' ')).toBe(reply);
    if (reply === 'RST') w.ep.expectSent('<SEQ=SEG.ACK><CTL=RST>', { flags: 'RST', seq: 777 });
    if (reply === 'RST,ACK') {
      const len = (data ? 5 : 0) + (shape.includes('SYN') ? 1 : 0) + (shape.includes('FIN') ? 1 : 0);
      w.ep.expectSent('<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>', {
        flags: 'RST,ACK',
        seq: 0,
        ack: 1000 + len,
      });
    }
  });
});
