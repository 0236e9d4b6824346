/**
 * Opening a connection (RFC 9293 §3.5, §3.10.1, §3.10.7.2-3), option negotiation (§3.7.1, RFC 7323,
 * RFC 2018), ISNs (RFC 6528) and ephemeral ports (RFC 6056), RFC 5961 blind-attack checks.
 */
import { describe, expect, it } from 'vitest';
import { ipv4, parseIpv6Addr } from '../../../src/addr.js';
import { sipKey } from '../../../src/tcp/core/siphash.js';
import { initialSeq } from '../../../src/tcp/core/secrets.js';
import {
  encodeSegment,
  segmentLength,
  segmentPseudoHeader,
  tcpConnections,
} from '../../../src/tcp/core/index.js';
import { parseTcp } from '../../../src/tcp/wire.js';
import { seqAdd, seqDiff } from '../../../src/tcp/seq.js';
import {
  Endpoint,
  establishedPassive,
  flagsOf,
  LOCAL,
  PEER_SYN_OPTIONS,
  REMOTE,
  REMOTE_PORT,
  s,
  SECRET,
} from './harness.js';

/** The shift that fits the default 1 MB receive buffer in a 16-bit window (2^20 >> 5 = 32,768). */
const WSCALE = 5;

describe('Listen -> SynReceived -> Established (passive open, Figure 6)', () => {
  it('answers a SYN with a SYN-ACK carrying the negotiated options, then establishes', () => {
    const ep = new Endpoint();
    ep.listen();
    ep.recv({ flags: 'SYN', seq: 1000, options: PEER_SYN_OPTIONS });
    const sa = ep.expectSent('SYN-ACK', {
      flags: 'SYN,ACK',
      ack: 1001,
      window: 65_535,
      options: { mss: 1460, sackPermitted: true, windowScale: WSCALE },
    });
    expect(sa.repr.options.timestamps?.tsEcr, 'TSecr echoes the SYN').toBe(5000);
    ep.expectState('SYN-RECEIVED', 'SynReceived');
    expect(ep.state.listeners.get(80)?.pending).toBe(1);
    ep.recv({
      flags: 'ACK',
      seq: 1001,
      ack: seqAdd(sa.repr.seq, 1),
      options: { timestamps: { tsVal: 5001, tsEcr: sa.repr.options.timestamps!.tsVal } },
    });
    ep.expectState('ESTABLISHED', 'Established');
    ep.expectIdle('nothing to send');
    ep.expectNotes('established', ['established']);
    expect(ep.state.listeners.get(80)?.pending).toBe(0);
    const t = ep.tcb!;
    expect([t.wsOk, t.sndScale, t.rcvScale, t.sackOk, t.tsOk, t.mss]).toEqual([
      true,
      7,
      WSCALE,
      true,
      true,
      1460,
    ]);
  });

  it('offers only what the peer offered, and assumes MSS 536 without the option (MUST-15)', () => {
    const ep = new Endpoint();
    ep.listen();
    ep.recv({ flags: 'SYN', seq: 1000 });
    const sa = ep.expectSent('SYN-ACK', { flags: 'SYN,ACK' });
    expect(sa.repr.options).toEqual({ mss: 1460 });
    expect(ep.tcb?.mss).toBe(536);
  });

  it('clamps a window scale above 14 (RFC 7323 §2.3) and counts it', () => {
    const ep = new Endpoint();
    ep.listen();
    ep.recv({ flags: 'SYN', seq: 1000, options: { windowScale: 20 } });
    expect(ep.tcb?.sndScale).toBe(14);
    expect(ep.counter('window-scale-clamped')).toBe(1);
  });

  it('retransmits a lost SYN-ACK with backoff and gives up after synAckRetries', () => {
    const ep = new Endpoint({ synAckRetries: 2 });
    ep.listen();
    ep.recv({ flags: 'SYN', seq: 1000 });
    ep.expectSent('SYN-ACK', { flags: 'SYN,ACK' });
    expect(ep.advanceToDeadline()).toBe(1000);
    ep.expectSent('SYN-ACK again', { flags: 'SYN,ACK' });
    expect(ep.advanceToDeadline()).toBe(3000);
    ep.expectSent('and again', { flags: 'SYN,ACK' });
    ep.advanceToDeadline();
    ep.expectState('gone', 'none');
    ep.expectNotes('never announced, never closed', []);
    expect(ep.state.listeners.get(80)?.pending).toBe(0);
  });

  it('answers a retransmitted SYN with the SYN-ACK at once', () => {
    const ep = new Endpoint();
    ep.listen();
    ep.recv({ flags: 'SYN', seq: 1000 });
    const first = ep.expectSent('SYN-ACK', { flags: 'SYN,ACK' });
    ep.recv({ flags: 'SYN', seq: 1000 });
    ep.expectSent('same SYN-ACK', { flags: 'SYN,ACK', seq: first.repr.seq, ack: 1001 });
  });

  it('drops SYNs past the backlog', () => {
    const ep = new Endpoint({ synCookies: false });
    ep.listen(80, 2);
    for (let port = 1; port <= 3; port++) ep.recv({ flags: 'SYN', seq: 1000, srcPort: port });
    expect(tcpConnections(ep.state).length).toBe(2);
    expect(ep.counter('backlog-full')).toBe(1);
  });

  it('goes back to LISTEN on a RST in SYN-RECEIVED (§3.10.7.4 second check)', () => {
    const ep = new Endpoint();
    ep.listen();
    ep.recv({ flags: 'SYN', seq: 1000 });
    ep.recv({ flags: 'RST', seq: 1001 });
    ep.expectState('embryo gone', 'none');
    ep.expectNotes('the user never knew', []);
    expect(ep.state.listeners.get(80)?.pending).toBe(0);
  });
});

describe('SynSent -> Established (active open)', () => {
  it('sends a SYN with every option, establishes on the SYN-ACK and acknowledges it', () => {
    const ep = new Endpoint();
    ep.connect(80);
    const syn = ep.expectSent('SYN', {
      flags: 'SYN',
      window: 65_535,
      options: { mss: 1460, windowScale: WSCALE, sackPermitted: true },
    });
    expect(syn.repr.options.timestamps?.tsEcr).toBe(0);
    ep.expectState('SYN-SENT', 'SynSent');
    ep.recv({
      flags: 'SYN,ACK',
      seq: 0xffff_ffff,
      ack: seqAdd(syn.repr.seq, 1),
      options: { ...PEER_SYN_OPTIONS, timestamps: { tsVal: 77, tsEcr: syn.repr.options.timestamps!.tsVal } },
    });
    ep.expectState('ESTABLISHED', 'Established');
    ep.expectSent('ACK of the SYN', { flags: 'ACK', seq: seqAdd(syn.repr.seq, 1), ack: 0 });
    ep.expectNotes('established', ['established']);
  });

  it('processes data and FIN that ride on the SYN-ACK', () => {
    const ep = new Endpoint({ timestamps: false });
    ep.connect(80);
    const syn = ep.expectSent('SYN', { flags: 'SYN' });
    ep.recv({ flags: 'SYN,ACK,FIN', seq: 500, ack: seqAdd(syn.repr.seq, 1), data: 'hi' });
    ep.expectState('FIN came too', 'CloseWait');
    ep.expectSent('one ACK for all', { flags: 'ACK', ack: 504 });
    ep.expectIdle('just one');
    expect(ep.read()).toEqual({ data: 'hi', eof: true });
  });

  it('simultaneous open (Figure 7, MUST-10)', () => {
    const ep = new Endpoint({ timestamps: false });
    ep.connect(80);
    const syn = ep.expectSent('SYN', { flags: 'SYN' });
    ep.recv({ flags: 'SYN', seq: 300, options: { mss: 1000 } });
    ep.expectState('crossed SYNs', 'SynReceived');
    ep.expectSent('SYN-ACK with our ISS', { flags: 'SYN,ACK', seq: syn.repr.seq, ack: 301 });
    ep.recv({ flags: 'SYN,ACK', seq: 300, ack: seqAdd(syn.repr.seq, 1) });
    ep.expectState('their SYN-ACK acknowledges our SYN (line 6)', 'Established');
    ep.expectIdle('no extra ACK');
    ep.expectNotes('active', ['established']);
  });

  it('retransmits the SYN with exponential backoff, then reports connect-timeout', () => {
    const ep = new Endpoint({ synRetries: 3 });
    ep.connect(80);
    ep.expectSent('SYN', { flags: 'SYN' });
    const times: number[] = [];
    while (ep.tcb !== undefined) {
      times.push(ep.advanceToDeadline());
      if (ep.tcb !== undefined) ep.expectSent('SYN again', { flags: 'SYN' });
    }
    expect(times).toEqual([1000, 3000, 7000, 15_000]);
    ep.expectNotes('timeout', ['closed:connect-timeout']);
  });

  it('the default SYN retries last 127 s, as Linux (a deviation from MUST-23: see icmp.test.ts)', () => {
    const ep = new Endpoint();
    ep.connect(80);
    while (ep.tcb !== undefined) ep.advanceToDeadline();
    expect(ep.now).toBe(127_000);
  });

  it('re-initializes RTO to 3 s after a SYN timeout (RFC 6298 §5.7)', () => {
    const ep = new Endpoint({ timestamps: false });
    ep.connect(80);
    const syn = ep.expectSent('SYN', { flags: 'SYN' });
    ep.advanceToDeadline();
    ep.recv({ flags: 'SYN,ACK', seq: 9, ack: seqAdd(syn.repr.seq, 1) });
    expect(ep.tcb?.rtt.rto).toBe(3000);
    expect(ep.tcb?.cc.cwnd, 'RFC 5681 §3.1: one segment after a lost SYN').toBe(536);
  });
});

describe('initial sequence numbers (RFC 6528) and ephemeral ports (RFC 6056)', () => {
  const key = sipKey(SECRET);
  const other = ipv4(10, 0, 0, 3);

  it('ISN = 4 µs clock + keyed hash of the 4-tuple', () => {
    const a = initialSeq(key, 0, LOCAL, 1, REMOTE, 2);
    expect(seqDiff(initialSeq(key, 1000, LOCAL, 1, REMOTE, 2), a)).toBe(250_000);
    expect(initialSeq(key, 0, LOCAL, 1, REMOTE, 2)).toBe(a);
    expect(initialSeq(key, 0, LOCAL, 1, other, 2)).not.toBe(a);
    expect(initialSeq(sipKey(new Uint8Array(16)), 0, LOCAL, 1, REMOTE, 2)).not.toBe(a);
  });

  it('a passive ISS follows RFC 6528', () => {
    const ep = new Endpoint();
    ep.listen();
    ep.now = 12_345;
    ep.recv({ flags: 'SYN', seq: 1 });
    ep.expectSent('SYN-ACK', {
      flags: 'SYN,ACK',
      seq: initialSeq(key, 12_345, LOCAL, 80, REMOTE, REMOTE_PORT),
    });
  });

  it('ports to one destination are consecutive (algorithm 4), others start elsewhere, all in range', () => {
    const ep = new Endpoint();
    const ports: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = ep.step({
        kind: 'connect',
        now: 0,
        params: { local: LOCAL, remote: REMOTE, remotePort: 443 },
      });
      if (r.kind !== 'connected') throw new Error('connect');
      ports.push(r.localPort);
    }
    for (let i = 1; i < 5; i++) expect((ports[i]! - ports[0]! + 16_384) % 16_384).toBe(i);
    for (const p of ports) expect(p >= 49_152 && p <= 65_535).toBe(true);
    const r = ep.step({ kind: 'connect', now: 0, params: { local: LOCAL, remote: other, remotePort: 443 } });
    expect(r.kind === 'connected' && ports.includes(r.localPort)).toBe(false);
  });

  it('skips ports in use and reports no-ports when the range is exhausted', () => {
    const ep = new Endpoint({ ephemeralMin: 50_000, ephemeralMax: 50_002 });
    const got: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = ep.step({
        kind: 'connect',
        now: 0,
        params: { local: LOCAL, remote: REMOTE, remotePort: 443 },
      });
      got.push(r.kind === 'connected' ? String(r.localPort) : r.kind === 'error' ? r.error : r.kind);
    }
    expect(new Set(got.slice(0, 3)).size).toBe(3);
    expect(got[3]).toBe('no-ports');
  });
});

describe('RFC 5961 (blind reset, SYN and data injection)', () => {
  const P = 0x7fff_fff0;
  function est(overrides = {}) {
    const { ep, iss } = establishedPassive(P, { timestamps: false, sack: false, ...overrides });
    return { ep, L: seqAdd(iss, 1), R: seqAdd(s(P), 1) };
  }

  it('§3.2: a RST exactly at RCV.NXT resets', () => {
    const { ep, R } = est();
    ep.recv({ flags: 'RST', seq: R });
    ep.expectState('reset', 'none');
  });

  it('§3.2: a RST in the window but not at RCV.NXT gets one challenge ACK', () => {
    const { ep, L, R } = est();
    ep.recv({ flags: 'RST', seq: seqAdd(R, 10) });
    ep.expectSent('challenge ACK', { flags: 'ACK', seq: L, ack: R });
    ep.expectIdle('exactly one');
    ep.expectState('still open', 'Established');
  });

  it('§3.2: a RST outside the window is dropped silently', () => {
    const { ep, R } = est();
    ep.recv({ flags: 'RST', seq: seqAdd(R, 0x4000_0000) });
    ep.expectIdle('silence');
    ep.expectState('still open', 'Established');
  });

  it('§4.2: a SYN in a synchronized state gets a challenge ACK, whatever its sequence number', () => {
    const { ep, L, R } = est();
    ep.recv({ flags: 'SYN', seq: R });
    ep.expectSent('challenge ACK', { flags: 'ACK', seq: L, ack: R });
    ep.expectState('still open', 'Established');
  });

  it('§5.2: an ACK outside [SND.UNA - MAX.SND.WND, SND.NXT] gets a challenge ACK and is not processed', () => {
    const { ep, L, R } = est();
    ep.recv({ flags: 'ACK,PSH', seq: R, ack: seqAdd(L, 5), data: 'injected' });
    ep.expectSent('challenge ACK', { flags: 'ACK', seq: L, ack: R });
    expect(ep.tcb?.rcvq.length, 'the data was not taken').toBe(0);
    ep.recv({ flags: 'ACK,PSH', seq: R, ack: seqAdd(L, -70_000), data: 'injected' });
    ep.expectSent('challenge ACK', { flags: 'ACK', seq: L, ack: R });
    expect(ep.counter('ack-unsent')).toBe(1);
    expect(ep.counter('ack-old')).toBe(1);
  });

  it('rfc5961 is the switch: off, a blind RST or SYN anywhere in the window resets (RFC 793)', () => {
    // The attack: an off-path sender who knows the 4-tuple but not RCV.NXT, hitting the window.
    const off = est({ rfc5961: false });
    off.ep.recv({ flags: 'RST', seq: seqAdd(off.R, 10) });
    off.ep.expectState('reset by a guess', 'none');
    const syn = est({ rfc5961: false });
    syn.ep.recv({ flags: 'SYN', seq: seqAdd(syn.R, 10) });
    syn.ep.expectSent('RST', { flags: 'RST', seq: syn.L });
    syn.ep.expectState('reset by a guess', 'none');
    expect(syn.ep.counter('syn-in-window-reset')).toBe(1);
    // On (the default): the same segments only draw challenge ACKs.
    const on = est();
    on.ep.recv({ flags: 'RST', seq: seqAdd(on.R, 10) });
    on.ep.recv({ flags: 'SYN', seq: seqAdd(on.R, 10) });
    on.ep.expectState('still open', 'Established');
    expect(on.ep.counter('rst-challenged') + on.ep.counter('syn-challenged')).toBe(2);
  });

  it('§7: challenge ACKs are throttled per connection', () => {
    const { ep, R } = est({ challengeAckLimit: 3, challengeAckInterval: 1000 });
    for (let i = 0; i < 5; i++) ep.recv({ flags: 'RST', seq: seqAdd(R, 1 + i) });
    expect(ep.sent.length).toBe(3);
    expect(ep.counter('challenge-ack-limited')).toBe(2);
    ep.sent.length = 0;
    ep.now += 1000;
    ep.recv({ flags: 'SYN', seq: R });
    expect(ep.sent.length, 'a new interval').toBe(1);
  });
});

describe('SYN cookies past the backlog (RFC 4987 §3.6)', () => {
  function flood(overrides = {}) {
    const ep = new Endpoint(overrides);
    ep.listen(80, 1);
    ep.recv({ flags: 'SYN', seq: 1, srcPort: 1000 });
    ep.sent.length = 0;
    return ep;
  }

  it('answers statelessly and rebuilds the connection from the ACK, options included', () => {
    const ep = flood();
    ep.recv({ flags: 'SYN', seq: 5000, options: PEER_SYN_OPTIONS });
    const sa = ep.expectSent('cookie SYN-ACK', {
      flags: 'SYN,ACK',
      ack: 5001,
      options: { windowScale: WSCALE, sackPermitted: true },
    });
    expect(ep.tcb, 'no state kept').toBeUndefined();
    expect(ep.counter('syn-cookie-sent')).toBe(1);
    const tsv = sa.repr.options.timestamps!.tsVal;
    ep.recv({
      flags: 'ACK,PSH',
      seq: 5001,
      ack: seqAdd(sa.repr.seq, 1),
      options: { timestamps: { tsVal: 5001, tsEcr: tsv } },
      data: 'GET /',
    });
    ep.expectState('established from the cookie', 'Established');
    ep.expectNotes('accepted', ['established', 'readable']);
    const t = ep.tcb!;
    expect([t.mss, t.wsOk, t.sndScale, t.sackOk, t.tsOk]).toEqual([1460, true, 7, true, true]);
    expect(ep.read().data).toBe('GET /');
    expect(ep.counter('syn-cookie-accepted')).toBe(1);
  });

  it('offers neither window scaling nor SACK without timestamps (nothing could carry them back)', () => {
    const ep = flood({ timestamps: false });
    ep.recv({ flags: 'SYN', seq: 5000, options: { mss: 1400, windowScale: 7, sackPermitted: true } });
    const sa = ep.expectSent('cookie SYN-ACK', { flags: 'SYN,ACK' });
    expect(sa.repr.options).toEqual({ mss: 1460 });
    ep.recv({ flags: 'ACK', seq: 5001, ack: seqAdd(sa.repr.seq, 1) });
    expect(ep.tcb?.mss, 'MSS from the cookie table').toBe(1400);
  });

  it('drops a forged cookie while cookies are out, resets a stale one', () => {
    const ep = flood({ timestamps: false });
    ep.recv({ flags: 'SYN', seq: 5000 });
    const sa = ep.expectSent('cookie SYN-ACK', { flags: 'SYN,ACK' });
    ep.recv({ flags: 'ACK', seq: 5001, ack: seqAdd(sa.repr.seq, 2) });
    ep.recv({ flags: 'ACK', seq: 5002, ack: seqAdd(sa.repr.seq, 1) });
    ep.expectIdle('forged or reordered: dropped silently (the peer retransmits)');
    expect(ep.counter('syn-cookie-rejected')).toBe(2);
    ep.now += 130_000;
    ep.recv({ flags: 'ACK', seq: 5001, ack: seqAdd(sa.repr.seq, 1) });
    ep.expectSent('stale', { flags: 'RST' });
    expect(ep.tcb).toBeUndefined();
  });
});

describe('IPv6 and listeners', () => {
  it('works over IPv6 addresses, with the IPv6 MSS defaults (MUST-15: 1220 without the option)', () => {
    const ep = new Endpoint();
    const local = parseIpv6Addr('2001:db8::1')!;
    const remote = parseIpv6Addr('2001:db8::2')!;
    ep.listen();
    ep.step({
      kind: 'segment',
      now: 0,
      src: remote,
      dst: local,
      repr: {
        srcPort: 1234,
        dstPort: 80,
        seq: s(7),
        ack: s(0),
        flags: flagsOf('SYN'),
        window: 1000,
        urgentPointer: 0,
        options: {},
      },
      payload: new Uint8Array(0),
    });
    const sa = ep.expectSent('SYN-ACK', { flags: 'SYN,ACK', ack: 8, options: { mss: 1440 } });
    expect(sa.dst).toBe(remote);
    const t = tcpConnections(ep.state)[0]!;
    expect(t.key).toBe('2001:db8::1 80 2001:db8::2 1234');
    expect(t.mss).toBe(1220);
    const bytes = new Uint8Array(segmentLength(sa));
    encodeSegment(sa, bytes);
    expect(parseTcp(bytes, segmentPseudoHeader(sa)).ok, 'checksummed over the IPv6 pseudo-header').toBe(true);
  });

  it('a listener bound to one address ignores the others (RST from CLOSED)', () => {
    const ep = new Endpoint();
    ep.step({ kind: 'listen', now: 0, port: 80, addr: ipv4(10, 9, 9, 9) });
    ep.recv({ flags: 'SYN', seq: 1 });
    ep.expectSent('no listener for this address', { flags: 'RST,ACK', ack: 2 });
  });

  it('refuses a second listener on a port, and unlisten resets embryonic connections', () => {
    const ep = new Endpoint();
    ep.listen();
    expect(ep.step({ kind: 'listen', now: 0, port: 80 })).toEqual({ kind: 'error', error: 'port-in-use' });
    ep.recv({ flags: 'SYN', seq: 1 });
    ep.sent.length = 0;
    ep.step({ kind: 'unlisten', now: 0, port: 80 });
    ep.expectSent('reset the embryo', { flags: 'RST' });
    ep.expectState('gone', 'none');
    ep.recv({ flags: 'SYN', seq: 1 });
    ep.expectSent('no listener any more', { flags: 'RST,ACK' });
  });

  it('user calls on unknown flows are errors, never exceptions', () => {
    const ep = new Endpoint();
    for (const kind of ['send', 'recv', 'shutdown', 'close', 'abort'] as const) {
      const e =
        kind === 'send' ? { kind, now: 0, flow: 'x', data: new Uint8Array(1) } : { kind, now: 0, flow: 'x' };
      expect(ep.step(e)).toEqual({ kind: 'error', error: 'no-connection' });
    }
    expect(
      ep.step({ kind: 'connect', now: 0, params: { local: LOCAL, remote: REMOTE, remotePort: 0 } }),
    ).toEqual({ kind: 'error', error: 'invalid-argument' });
  });
});
