/**
 * Path MTU (pmtu.ts): Fragmentation Needed / Packet Too Big lower the MSS of a connection, only when
 * they quote a sequence number in flight (RFC 5927 §4.1), never below the floor (Linux's
 * tcp_min_snd_mss, 48; IPv6's 1280-byte minimum MTU), and the flight is sent again at the new size;
 * a path that drops big segments silently is detected after two timeouts (RFC 4821).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Ipv6Addr, parseIpv6Addr } from '../../../src/addr.js';
import { flowKey } from '../../../src/tcp/core/index.js';
import {
  announcedMtu,
  BLACKHOLE_RTOS,
  MIN_SND_MSS,
  mssForMtu,
  searchBaseMss,
} from '../../../src/tcp/core/pmtu.js';
import { type Seq, seqAdd, seqDiff } from '../../../src/tcp/seq.js';
import { propOptions } from '../../support/props.js';
import { Endpoint, establishedPassive, LOCAL, LOCAL_PORT, REMOTE, REMOTE_PORT } from './harness.js';
import { runPath } from './path-sim.js';

/** An ICMP message announcing `mtu`, quoting our segment with sequence number `seq`. */
function tooBig(ep: Endpoint, seq: Seq, mtu: number): void {
  ep.step({
    kind: 'icmp-error',
    now: ep.now,
    local: LOCAL,
    localPort: LOCAL_PORT,
    remote: REMOTE,
    remotePort: REMOTE_PORT,
    seq,
    error: 'EHOSTUNREACH',
    mtu,
  });
}

/** A passive connection (MSS 1460, no options) with three full segments in flight. */
function fullFlight(overrides: { minSndMss?: number } = {}) {
  const { ep, iss } = establishedPassive(1000, { timestamps: false, sack: false, ...overrides });
  const L = seqAdd(iss, 1);
  expect(ep.send(new Uint8Array(3 * 1460).fill(7))).toBe(3 * 1460);
  for (let i = 0; i < 3; i++) ep.expectSent(`segment ${i}`, { seq: seqAdd(L, i * 1460), len: 1460 });
  return { ep, L };
}

describe('announced MTU and MSS', () => {
  it.each([
    ['IPv4 1280', false, 1280, 1240],
    ['IPv4 576', false, 576, 536],
    ['IPv4 68 (the RFC 791 minimum) is floored at 48', false, 68, MIN_SND_MSS],
    ['IPv4 nonsense 0 is floored too', false, 0, MIN_SND_MSS],
    ['IPv6 1280', true, 1280, 1220],
    ['IPv6 below 1280 is raised to it (RFC 8201 §4)', true, 600, 1220],
  ])('%s', (_why, v6, mtu, mss) => {
    expect(mssForMtu(v6, mtu)).toBe(mss);
  });

  it('takes an RFC 1191 §5 plateau when an old router announces 0 or a size that fitted', () => {
    expect(announcedMtu(false, 0, 1500)).toBe(1492);
    expect(announcedMtu(false, 1500, 1500)).toBe(1492);
    expect(announcedMtu(false, 0, 1006)).toBe(508);
    expect(announcedMtu(false, 0, 60)).toBe(68);
    expect(announcedMtu(false, 1280, 1500)).toBe(1280);
    expect(announcedMtu(true, 0, 0)).toBe(1280);
    expect(announcedMtu(true, 1400, 0)).toBe(1400);
  });

  it('has a search base of 984 over IPv4 (MTU 1024) and 1220 over IPv6 (MTU 1280)', () => {
    expect(searchBaseMss(false)).toBe(984);
    expect(searchBaseMss(true)).toBe(1220);
  });
});

describe('Fragmentation Needed on an established connection', () => {
  it('lowers the MSS to 1240 for an MTU of 1280 and sends the flight again at that size', () => {
    const { ep, L } = fullFlight();
    tooBig(ep, L, 1280);
    expect(ep.tcb?.mss).toBe(1240);
    expect(ep.counter('pmtu-lowered')).toBe(1);
    // cwnd (3 × 1460 bytes) is not reduced: 4380 bytes go again as 1240 + 1240 + 1240 + 660.
    ep.expectSent('first at the new size', { seq: L, len: 1240 });
    ep.expectSent('second', { seq: seqAdd(L, 1240), len: 1240 });
    ep.expectSent('third', { seq: seqAdd(L, 2480), len: 1240 });
    ep.expectSent('the rest', { seq: seqAdd(L, 3720), len: 660 });
    ep.expectIdle('nothing more than the flight');
    ep.expectState('no error, no abort', 'Established');
    expect(ep.tcb?.softError).toBeNull();
  });

  it('goes on with segments of the new size once the flight is acknowledged', () => {
    const { ep, L } = fullFlight();
    tooBig(ep, seqAdd(L, 1460), 1280);
    ep.sent.splice(0);
    ep.recv({ flags: 'ACK', seq: 1001, ack: seqAdd(L, 3 * 1460) });
    expect(ep.send(new Uint8Array(5000))).toBe(5000);
    for (const seg of ep.sent.splice(0)) expect(seg.payloadLen).toBeLessThanOrEqual(1240);
  });

  it('is ignored when it would not lower the MSS (RFC 1191 §6.1: never raise it)', () => {
    const { ep, L } = fullFlight();
    tooBig(ep, L, 1500);
    tooBig(ep, L, 9000);
    expect(ep.tcb?.mss).toBe(1460);
    expect(ep.counter('pmtu-ignored')).toBe(2);
    ep.expectIdle('nothing sent again');
  });

  it('never makes segments smaller than 48 bytes, whatever the MTU (68 and below)', () => {
    const { ep, L } = fullFlight();
    tooBig(ep, L, 68);
    expect(ep.tcb?.mss).toBe(MIN_SND_MSS);
    const first = ep.sent[0];
    expect(first?.payloadLen).toBe(MIN_SND_MSS);
    tooBig(ep, L, 1);
    expect(ep.tcb?.mss).toBe(MIN_SND_MSS);
  });

  it('takes its floor from minSndMss, the switch that floors a SYN MSS option too', () => {
    const { ep, L } = fullFlight({ minSndMss: 536 });
    tooBig(ep, L, 68);
    expect(ep.tcb?.mss).toBe(536);
  });

  it('applies the path MTU the driver already knows to a new connection (set-options)', () => {
    const { ep } = establishedPassive(1000, { timestamps: false, sack: false });
    ep.step({ kind: 'set-options', now: ep.now, flow: ep.key, options: { pathMtu: 1280 } });
    expect(ep.tcb?.mss).toBe(1240);
    ep.send(new Uint8Array(3000));
    for (const seg of ep.sent.splice(0)) expect(seg.payloadLen).toBeLessThanOrEqual(1240);
  });

  it('over IPv6 never goes below the 1280-byte minimum MTU', () => {
    const local = parseIpv6Addr('fd00::1') as Ipv6Addr;
    const remote = parseIpv6Addr('fd00::2') as Ipv6Addr;
    const ep = new Endpoint({ timestamps: false, sack: false });
    ep.listen();
    const repr = (flags: string, seq: number, ack: number) => ({
      srcPort: REMOTE_PORT,
      dstPort: LOCAL_PORT,
      seq: seq as Seq,
      ack: ack as Seq,
      flags: {
        syn: flags.includes('SYN'),
        ack: flags.includes('ACK'),
        fin: false,
        rst: false,
        psh: false,
        urg: false,
        ece: false,
        cwr: false,
      },
      window: 65_535,
      urgentPointer: 0,
      options: flags === 'SYN' ? { mss: 1440 } : {},
    });
    const seg = (flags: string, seq: number, ack: number) =>
      ep.step({
        kind: 'segment',
        now: 0,
        src: remote,
        dst: local,
        repr: repr(flags, seq, ack),
        payload: new Uint8Array(0),
      });
    seg('SYN', 1000, 0);
    const iss = ep.sent.shift()!.repr.seq;
    seg('ACK', 1001, seqAdd(iss, 1));
    ep.flow = flowKey(local, LOCAL_PORT, remote, REMOTE_PORT);
    expect(ep.tcb?.mss).toBe(1440);
    ep.send(new Uint8Array(3000));
    ep.sent.splice(0);
    ep.step({
      kind: 'icmp-error',
      now: 0,
      local,
      localPort: LOCAL_PORT,
      remote,
      remotePort: REMOTE_PORT,
      seq: seqAdd(iss, 1),
      error: 'EHOSTUNREACH',
      mtu: 600,
    });
    expect(ep.tcb?.mss).toBe(1220);
  });
});

describe('RFC 5927 §4.1: a message must quote a sequence number in flight', () => {
  it('a forged message (any MTU) quoting anything outside [SND.UNA, SND.MAX) changes nothing', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -0x7fff_ffff, max: -1 }), fc.integer({ min: 3 * 1460, max: 0x7fff_ffff })),
        fc.integer({ min: 0, max: 70_000 }),
        (off, mtu) => {
          const { ep, L } = fullFlight();
          const { heapAt: _h, ...before } = ep.tcb!;
          tooBig(ep, seqAdd(L, off), mtu);
          const { heapAt: _a, ...after } = ep.tcb!;
          expect(after).toEqual(before);
          expect(ep.tcb?.mss).toBe(1460);
          expect(ep.tcb?.sndNxt).toBe(seqAdd(L, 3 * 1460));
          expect(ep.counter('icmp-out-of-window')).toBe(1);
          expect(ep.counter('pmtu-lowered')).toBe(0);
          ep.expectIdle('nothing sent');
        },
      ),
      propOptions(),
    );
  });

  it('a message quoting a sequence number in flight lowers the MSS to max(48, min(MSS, MTU - 40))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 * 1460 - 1 }),
        fc.integer({ min: 0, max: 70_000 }),
        (off, mtu) => {
          const { ep, L } = fullFlight();
          tooBig(ep, seqAdd(L, off), mtu);
          const want = Math.max(MIN_SND_MSS, Math.min(1460, Math.max(68, mtu) - 40));
          expect(ep.tcb?.mss).toBe(want);
          for (const seg of ep.sent) expect(seg.payloadLen).toBeLessThanOrEqual(want);
          if (want < 1460) expect(ep.sent[0]?.repr.seq, 'sent again from SND.UNA').toBe(L);
          else expect(ep.sent).toEqual([]);
        },
      ),
      propOptions(),
    );
  });
});

describe('RFC 4821 black-hole detection', () => {
  it(`drops the MSS to the search base after ${BLACKHOLE_RTOS} timeouts of a full-sized segment`, () => {
    const { ep, L } = fullFlight();
    for (let n = 1; n < BLACKHOLE_RTOS; n++) {
      ep.advanceToDeadline();
      ep.expectSent(`timeout ${n}: the same size`, { seq: L, len: 1460 });
      expect(ep.counter('pmtu-blackhole')).toBe(0);
    }
    ep.advanceToDeadline();
    ep.expectSent(`timeout ${BLACKHOLE_RTOS}: the search base`, { seq: L, len: 984 });
    expect(ep.counter('pmtu-blackhole')).toBe(1);
    expect(ep.tcb?.mss).toBe(984);
    ep.recv({ flags: 'ACK', seq: 1001, ack: seqAdd(L, 984) });
    for (const seg of ep.sent.splice(0)) expect(seg.payloadLen).toBeLessThanOrEqual(984);
  });

  it('leaves the MSS alone when only small segments time out (plain loss)', () => {
    const { ep, iss } = establishedPassive(1000, { timestamps: false, sack: false, dataRetries: 4 });
    ep.send('hello');
    for (let i = 0; i < 4; i++) ep.advanceToDeadline();
    expect(ep.tcb?.mss).toBe(1460);
    expect(ep.counter('pmtu-blackhole')).toBe(0);
    expect(seqDiff(ep.tcb!.sndMax, iss)).toBe(6);
  });
});

describe('across a router hop (two cores, virtual time)', () => {
  it('a clean path keeps an MSS of 1460 and delivers everything', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400_000 }), fc.integer({ min: 1, max: 20 }), (bytes, delay) => {
        const r = runPath({ mtu: 1500, tooBig: 'icmp', bytes, delay });
        expect(r.done).toBe(true);
        expect(r.serverMss).toBe(1460);
        expect(r.serverCounters['pmtu-lowered']).toBe(0);
        expect(r.serverCounters['pmtu-blackhole']).toBe(0);
      }),
      propOptions(20),
    );
  });

  it('a 1280-byte hop that answers: MSS 1240 after its first message, every later segment fits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 5000, max: 400_000 }),
        fc.integer({ min: 1, max: 20 }),
        (bytes, delay) => {
          const r = runPath({ mtu: 1280, tooBig: 'icmp', bytes, delay });
          expect(r.done).toBe(true);
          expect(r.serverMss).toBe(1240);
          const firstSmall = r.serverSegments.findIndex((s) => s.ipLen <= 1280 && s.seg.payloadLen > 0);
          const late = r.serverSegments.filter((s) => s.at > r.serverSegments[firstSmall]!.at + 4 * delay);
          for (const s of late) expect(s.ipLen).toBeLessThanOrEqual(1280);
          expect(r.serverCounters['rto-expired'], 'no timeout needed').toBe(0);
        },
      ),
      propOptions(20),
    );
  });

  it('a hop that drops big packets silently: the transfer still completes at the search base', () => {
    const r = runPath({ mtu: 1300, tooBig: 'blackhole', bytes: 300_000, delay: 2 });
    expect(r.done).toBe(true);
    expect(r.serverCounters['pmtu-blackhole']).toBe(1);
    expect(r.serverMss).toBe(984);
  });
});
