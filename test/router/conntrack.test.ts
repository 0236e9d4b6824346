import { describe, expect, it } from 'vitest';
import type { Ipv4Addr } from '../../src/addr.js';
import {
  CT_DEFAULT_TIMEOUTS,
  CT_ENTRY_BYTES_V6,
  type Conntrack,
  type CtConfig,
  type CtVerdict,
  ctClone,
  ctConfirm,
  ctCreate,
  ctDeadline,
  ctEntries,
  ctEntry,
  ctRemove,
  ctStats,
  ctStep,
  ctTick,
} from '../../src/router/conntrack.js';
import {
  A,
  ACK,
  B,
  echoL4,
  errorL4,
  FIN,
  info,
  ip4,
  ip6,
  ping4,
  R,
  RST,
  rawL4,
  SYN,
  type TcpSpec,
  tcp4,
  tcpL4,
  udp4,
  udpL4,
  v6,
} from './conntrack-packets.js';

/** Steps `p`; a `new` packet of an unknown flow is confirmed, as a driver that accepts it would. */
function track(ct: Conntrack, p: Uint8Array, now = 0): CtVerdict {
  const i = info(p);
  const [, v] = ctStep(ct, i, now);
  if (v.state === 'new' && v.entry < 0 && v.untracked !== true) {
    const [, c] = ctConfirm(ct, i, now);
    if (c.ok) return { ...v, entry: c.entry };
  }
  return v;
}

const ISN_A = 1000;
const ISN_B = 5000;

/** A TCP conversation between A:40000 (originator) and R:80. */
class Conv {
  constructor(
    readonly ct: Conntrack,
    readonly now = { t: 0 },
  ) {}
  a(s: Omit<TcpSpec, 'sport' | 'dport'>): CtVerdict {
    return track(this.ct, tcp4(A, R, { sport: 40000, dport: 80, ...s }), this.now.t);
  }
  b(s: Omit<TcpSpec, 'sport' | 'dport'>): CtVerdict {
    return track(this.ct, tcp4(R, A, { sport: 80, dport: 40000, ...s }), this.now.t);
  }
  state(e: number) {
    return ctEntry(this.ct, e)?.state;
  }
  /** SYN, SYN-ACK, ACK: returns the entry. */
  open(opts: { wa?: number; wb?: number; window?: number } = {}): number {
    const v = this.a({
      seq: ISN_A,
      flags: SYN,
      window: opts.window ?? 65535,
      ...(opts.wa === undefined ? {} : { wscale: opts.wa }),
    });
    this.b({
      seq: ISN_B,
      ack: ISN_A + 1,
      flags: SYN | ACK,
      window: opts.window ?? 65535,
      ...(opts.wb === undefined ? {} : { wscale: opts.wb }),
    });
    this.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: ACK, window: opts.window ?? 65535 });
    return v.entry;
  }
}

describe('conntrack: TCP handshake and close', () => {
  it('a SYN is new and not stored until confirmed', () => {
    const ct = ctCreate();
    const [, v] = ctStep(ct, info(tcp4(A, R, { sport: 1, dport: 2, seq: 0, flags: SYN })), 0);
    expect(v).toEqual({ state: 'new', entry: -1, dir: 0 });
    expect(ctStats(ct).entries).toBe(0);
  });

  it('walks SYN_SENT, SYN_RECV, ESTABLISHED and the close to TIME_WAIT', () => {
    const c = new Conv(ctCreate());
    const syn = c.a({ seq: ISN_A, flags: SYN });
    expect(syn.state).toBe('new');
    const e = syn.entry;
    expect(c.state(e)).toBe('syn-sent');
    expect(c.a({ seq: ISN_A, flags: SYN })).toMatchObject({ state: 'new', entry: e });
    expect(c.b({ seq: ISN_B, ack: ISN_A + 1, flags: SYN | ACK })).toEqual({
      state: 'established',
      entry: e,
      dir: 1,
    });
    expect(c.state(e)).toBe('syn-recv');
    expect(ctEntry(c.ct, e)?.assured).toBe(false);
    expect(c.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: ACK }).state).toBe('established');
    expect(c.state(e)).toBe('established');
    expect(ctEntry(c.ct, e)?.assured).toBe(true);
    expect(c.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: ACK, payload: 500 }).state).toBe('established');
    expect(c.b({ seq: ISN_B + 1, ack: ISN_A + 501, flags: ACK, payload: 1000 }).state).toBe('established');
    // A closes: FIN_WAIT, its FIN acknowledged: CLOSE_WAIT, R's FIN: LAST_ACK, acknowledged: TIME_WAIT.
    expect(c.a({ seq: ISN_A + 501, ack: ISN_B + 1001, flags: FIN | ACK }).state).toBe('established');
    expect(c.state(e)).toBe('fin-wait');
    c.b({ seq: ISN_B + 1001, ack: ISN_A + 502, flags: ACK });
    expect(c.state(e)).toBe('close-wait');
    c.b({ seq: ISN_B + 1001, ack: ISN_A + 502, flags: FIN | ACK });
    expect(c.state(e)).toBe('last-ack');
    c.a({ seq: ISN_A + 502, ack: ISN_B + 1002, flags: ACK });
    expect(c.state(e)).toBe('time-wait');
    // A retransmitted FIN in TIME_WAIT is still accepted.
    expect(c.b({ seq: ISN_B + 1001, ack: ISN_A + 502, flags: FIN | ACK }).state).toBe('established');
    expect(c.state(e)).toBe('time-wait');
  });

  it('goes to LAST_ACK when both FINs cross, then TIME_WAIT', () => {
    const c = new Conv(ctCreate());
    const e = c.open();
    c.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: FIN | ACK });
    c.b({ seq: ISN_B + 1, ack: ISN_A + 1, flags: FIN | ACK });
    expect(c.state(e)).toBe('last-ack');
    c.a({ seq: ISN_A + 2, ack: ISN_B + 2, flags: ACK });
    expect(c.state(e)).toBe('last-ack');
    c.b({ seq: ISN_B + 2, ack: ISN_A + 2, flags: ACK });
    expect(c.state(e)).toBe('time-wait');
  });

  it('a SYN in TIME_WAIT reopens the tuple as a new flow', () => {
    const c = new Conv(ctCreate());
    const e = c.open();
    c.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: FIN | ACK });
    c.b({ seq: ISN_B + 1, ack: ISN_A + 2, flags: FIN | ACK });
    c.a({ seq: ISN_A + 2, ack: ISN_B + 2, flags: ACK });
    expect(c.state(e)).toBe('time-wait');
    const [, v] = ctStep(c.ct, info(tcp4(A, R, { sport: 40000, dport: 80, seq: 90000, flags: SYN })), 1);
    expect(v).toEqual({ state: 'new', entry: -1, dir: 0 });
    expect(ctStats(c.ct).entries).toBe(0);
    expect(ctStats(c.ct).counters.removed).toBe(1);
  });

  it('an acceptable RST closes; an out-of-window one is invalid and changes nothing', () => {
    const c = new Conv(ctCreate());
    const e = c.open();
    const far = c.b({ seq: ISN_B + 1 + 10_000_000, flags: RST });
    expect(far).toMatchObject({ state: 'invalid', reason: 'tcp-out-of-window', entry: e });
    expect(c.state(e)).toBe('established');
    const old = c.b({ seq: ISN_B - 200_000, flags: RST });
    expect(old.state).toBe('invalid');
    expect(c.b({ seq: ISN_B + 1, flags: RST }).state).toBe('established');
    expect(c.state(e)).toBe('close');
    expect(ctStats(c.ct).counters.invalid['tcp-out-of-window']).toBe(2);
  });

  it('in SYN_SENT a reset must acknowledge the SYN (RFC 9293 §3.10.7.3)', () => {
    const c = new Conv(ctCreate());
    const e = c.a({ seq: ISN_A, flags: SYN }).entry;
    expect(c.b({ seq: 0, flags: RST })).toMatchObject({ state: 'invalid', reason: 'tcp-state' });
    expect(c.b({ seq: 0, ack: ISN_A + 7, flags: RST | ACK }).state).toBe('invalid');
    expect(c.state(e)).toBe('syn-sent');
    expect(c.b({ seq: 0, ack: ISN_A + 1, flags: RST | ACK }).state).toBe('established');
    expect(c.state(e)).toBe('close');
  });

  it('rejects data beyond the window and acknowledgements of data never sent', () => {
    const c = new Conv(ctCreate());
    const e = c.open({ window: 1000 });
    expect(c.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: ACK, payload: 1000 }).state).toBe('established');
    // Starts past R's right edge (ISN_A + 1 + 1000).
    expect(c.a({ seq: ISN_A + 1002, ack: ISN_B + 1, flags: ACK, payload: 10 }).reason).toBe(
      'tcp-out-of-window',
    );
    expect(c.b({ seq: ISN_B + 1, ack: ISN_A + 5000, flags: ACK }).reason).toBe('tcp-out-of-window');
    // Older than a window before the highest byte sent.
    expect(c.a({ seq: ISN_A - 5000, ack: ISN_B + 1, flags: ACK, payload: 10 }).reason).toBe(
      'tcp-out-of-window',
    );
    expect(c.state(e)).toBe('established');
  });

  it('scales windows only when both SYNs carry the option (RFC 7323 §2.2)', () => {
    const both = new Conv(ctCreate());
    both.open({ wa: 4, wb: 4, window: 1000 });
    // R's window 1000 << 4 = 16000: 15,000 bytes in flight are in the window.
    expect(
      both.a({ seq: ISN_A + 1 + 15_000, ack: ISN_B + 1, flags: ACK, window: 1000, payload: 10 }).state,
    ).toBe('invalid');
    both.b({ seq: ISN_B + 1, ack: ISN_A + 1, flags: ACK, window: 1000 });
    expect(
      both.a({ seq: ISN_A + 1 + 15_000, ack: ISN_B + 1, flags: ACK, window: 1000, payload: 10 }).state,
    ).toBe('established');
    const one = new Conv(ctCreate());
    one.open({ wa: 4, window: 1000 });
    one.b({ seq: ISN_B + 1, ack: ISN_A + 1, flags: ACK, window: 1000 });
    expect(
      one.a({ seq: ISN_A + 1 + 15_000, ack: ISN_B + 1, flags: ACK, window: 1000, payload: 10 }).state,
    ).toBe('invalid');
  });

  it('follows a simultaneous open through SYN_SENT2', () => {
    const c = new Conv(ctCreate());
    const e = c.a({ seq: ISN_A, flags: SYN }).entry;
    c.b({ seq: ISN_B, flags: SYN });
    expect(c.state(e)).toBe('syn-sent2');
    c.a({ seq: ISN_A, ack: ISN_B + 1, flags: SYN | ACK });
    expect(c.state(e)).toBe('syn-recv');
    c.b({ seq: ISN_B, ack: ISN_A + 1, flags: SYN | ACK });
    c.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: ACK });
    expect(c.state(e)).toBe('established');
  });

  it('a retransmitted SYN in SYN_SENT may carry a new ISN', () => {
    const c = new Conv(ctCreate());
    const e = c.a({ seq: ISN_A, flags: SYN }).entry;
    expect(c.a({ seq: 777_777, flags: SYN }).entry).toBe(e);
    expect(c.b({ seq: ISN_B, ack: 777_778, flags: SYN | ACK }).state).toBe('established');
    expect(c.state(e)).toBe('syn-recv');
  });

  it('refuses segments the state does not allow', () => {
    const c = new Conv(ctCreate());
    expect(c.a({ seq: 1, ack: 1, flags: ACK })).toMatchObject({ state: 'invalid', reason: 'tcp-no-flow' });
    expect(c.a({ seq: 1, flags: SYN | FIN })).toMatchObject({ state: 'invalid', reason: 'tcp-bad-flags' });
    expect(c.a({ seq: 1, flags: FIN })).toMatchObject({ reason: 'tcp-bad-flags' });
    expect(c.a({ seq: 1, flags: 0 })).toMatchObject({ reason: 'tcp-bad-flags' });
    const e = c.a({ seq: ISN_A, flags: SYN }).entry;
    expect(c.a({ seq: ISN_A + 1, ack: 1, flags: ACK })).toMatchObject({ reason: 'tcp-state', entry: e });
    expect(c.a({ seq: ISN_A, ack: 1, flags: SYN | ACK })).toMatchObject({ reason: 'tcp-state' });
    c.b({ seq: ISN_B, ack: ISN_A + 1, flags: SYN | ACK });
    c.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: ACK });
    expect(c.a({ seq: ISN_A + 1, flags: SYN })).toMatchObject({ reason: 'tcp-state' });
    expect(c.state(e)).toBe('established');
  });

  it('times out each state after its own timeout, driven by the deadline', () => {
    const t = CT_DEFAULT_TIMEOUTS;
    const ct = ctCreate();
    const now = { t: 0 };
    const c = new Conv(ct, now);
    const e = c.a({ seq: ISN_A, flags: SYN }).entry;
    expect(ctDeadline(ct)).toBe(t.synSent);
    now.t = 1000;
    c.b({ seq: ISN_B, ack: ISN_A + 1, flags: SYN | ACK });
    expect(ctDeadline(ct)).toBe(1000 + t.synRecv);
    c.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: ACK });
    expect(ctDeadline(ct)).toBe(1000 + t.established);
    c.a({ seq: ISN_A + 1, ack: ISN_B + 1, flags: FIN | ACK });
    expect(ctDeadline(ct)).toBe(1000 + t.finWait);
    c.b({ seq: ISN_B + 1, ack: ISN_A + 2, flags: ACK });
    expect(ctDeadline(ct)).toBe(1000 + t.closeWait);
    c.b({ seq: ISN_B + 1, ack: ISN_A + 2, flags: FIN | ACK });
    expect(ctDeadline(ct)).toBe(1000 + t.lastAck);
    c.a({ seq: ISN_A + 2, ack: ISN_B + 2, flags: ACK });
    expect(ctDeadline(ct)).toBe(1000 + t.timeWait);
    ctTick(ct, 1000 + t.timeWait - 1);
    expect(ctEntry(ct, e)).toBeDefined();
    ctTick(ct, 1000 + t.timeWait);
    expect(ctEntry(ct, e)).toBeUndefined();
    expect(ctDeadline(ct)).toBeNull();
    expect(ctStats(ct).counters.expired).toBe(1);
  });

  it('a reset flow lingers in CLOSE for 10 s', () => {
    const c = new Conv(ctCreate());
    c.open();
    c.a({ seq: ISN_A + 1, flags: RST });
    expect(ctDeadline(c.ct)).toBe(CT_DEFAULT_TIMEOUTS.close);
  });

  it('treats an entry whose timer ran out as gone even before a tick', () => {
    const ct = ctCreate();
    track(ct, tcp4(A, R, { sport: 1, dport: 2, seq: 0, flags: SYN }), 0);
    const [, v] = ctStep(
      ct,
      info(tcp4(R, A, { sport: 2, dport: 1, seq: 9, ack: 1, flags: SYN | ACK })),
      120_000,
    );
    expect(v).toMatchObject({ state: 'invalid', reason: 'tcp-no-flow' });
    expect(ctStats(ct).entries).toBe(0);
  });
});

describe('conntrack: UDP, ICMP and other protocols', () => {
  it('UDP is new until the first reply, then established and assured, with 30 s / 120 s timeouts', () => {
    const ct = ctCreate();
    const v = track(ct, udp4(A, R, 5000, 53), 0);
    expect(v.state).toBe('new');
    expect(ctDeadline(ct)).toBe(30_000);
    expect(track(ct, udp4(A, R, 5000, 53), 10).state).toBe('new');
    expect(track(ct, udp4(R, A, 53, 5000), 20)).toEqual({ state: 'established', entry: v.entry, dir: 1 });
    expect(ctEntry(ct, v.entry)).toMatchObject({ state: 'udp-replied', assured: true, seenReply: true });
    expect(track(ct, udp4(A, R, 5000, 53), 30).state).toBe('established');
    expect(ctDeadline(ct)).toBe(30 + 120_000);
  });

  it('ICMP echo: the reply is established, a reply without request invalid, 30 s', () => {
    const ct = ctCreate();
    expect(track(ct, ping4(R, A, false, 9)).reason).toBe('icmp-no-flow');
    const v = track(ct, ping4(A, R, true, 9), 0);
    expect(v.state).toBe('new');
    expect(track(ct, ping4(R, A, false, 9), 5)).toEqual({ state: 'established', entry: v.entry, dir: 1 });
    expect(ctDeadline(ct)).toBe(30_005);
    // Another identifier is another flow.
    expect(track(ct, ping4(R, A, false, 10)).state).toBe('invalid');
  });

  it('tracks other protocols by address, 600 s', () => {
    const ct = ctCreate();
    const v = track(ct, ip4(A, R, rawL4(47)), 0);
    expect(track(ct, ip4(R, A, rawL4(47)), 1)).toMatchObject({
      state: 'established',
      entry: v.entry,
      dir: 1,
    });
    expect(ctDeadline(ct)).toBe(600_001);
  });

  it('leaves ICMP that is neither echo nor error untracked', () => {
    const ct = ctCreate();
    const ts = ip4(A, R, {
      proto: 1,
      bytes: Uint8Array.of(13, 0, 0, 0, 0, 1, 0, 1, ...new Uint8Array(12)),
      csumAt: 2,
      pseudo: false,
    });
    expect(track(ct, ts)).toEqual({ state: 'new', entry: -1, dir: 0, untracked: true });
    const ra = ip6(v6(1), v6(2), {
      proto: 58,
      bytes: Uint8Array.of(134, 0, 0, 0, 64, 0, 0, 0, ...new Uint8Array(8)),
      csumAt: 2,
      pseudo: true,
    });
    expect(track(ct, ra).untracked).toBe(true);
    expect(ctStats(ct).entries).toBe(0);
  });
});

describe('conntrack: ICMP errors', () => {
  it('an error quoting a tracked packet is related, in the direction it travels', () => {
    const ct = ctCreate();
    const sent = udp4(A, R, 5000, 53);
    const v = track(ct, sent);
    const [, r] = ctStep(ct, info(ip4(R, A, errorL4(4, 3, 3, sent))), 1);
    expect(r).toEqual({ state: 'related', entry: v.entry, dir: 1 });
    // From a router on the way (another source), quoting only 8 bytes.
    const [, r2] = ctStep(ct, info(ip4(B, A, errorL4(4, 11, 0, sent.subarray(0, 28)))), 1);
    expect(r2.state).toBe('related');
    // About the reply direction: travels in the original direction.
    track(ct, udp4(R, A, 53, 5000));
    const back = udp4(R, A, 53, 5000);
    expect(ctStep(ct, info(ip4(A, R, errorL4(4, 3, 3, back))), 2)[1]).toMatchObject({
      state: 'related',
      dir: 0,
    });
    expect(ctDeadline(ct)).toBe(2 + 120_000 - 2);
  });

  it.each([
    ['no flow', () => udp4(A, R, 1, 2), R, A, 'icmp-error-no-flow'],
    ['a destination other than the quoted source', () => udp4(A, R, 5000, 53), R, B, 'icmp-error-mismatch'],
  ] as const)('is invalid for %s', (_n, quoted, src, dst, reason) => {
    const ct = ctCreate();
    track(ct, udp4(A, R, 5000, 53));
    const [, r] = ctStep(ct, info(ip4(src as Ipv4Addr, dst as Ipv4Addr, errorL4(4, 3, 3, quoted()))), 1);
    expect(r).toMatchObject({ state: 'invalid', reason });
  });

  it('checks a quoted TCP sequence number against the sender window', () => {
    const c = new Conv(ctCreate());
    c.open();
    const inside = tcp4(A, R, {
      sport: 40000,
      dport: 80,
      seq: ISN_A + 1,
      ack: ISN_B + 1,
      flags: ACK,
      payload: 100,
    });
    expect(ctStep(c.ct, info(ip4(B, A, errorL4(4, 3, 4, inside.subarray(0, 28)))), 0)[1].state).toBe(
      'related',
    );
    const blind = tcp4(A, R, { sport: 40000, dport: 80, seq: ISN_A + 1e9, ack: ISN_B + 1, flags: ACK });
    expect(ctStep(c.ct, info(ip4(B, A, errorL4(4, 3, 4, blind.subarray(0, 28)))), 0)[1].reason).toBe(
      'icmp-error-out-of-window',
    );
  });

  it('an error without a quote is invalid', () => {
    const ct = ctCreate();
    expect(ctStep(ct, info(ip4(R, A, errorL4(4, 3, 3, new Uint8Array(4)))), 0)[1].reason).toBe(
      'icmp-error-unquoted',
    );
  });
});

describe('conntrack: IPv6', () => {
  it('tracks TCP, ICMPv6 echo and relates ICMPv6 errors', () => {
    const ct = ctCreate();
    const syn = ip6(v6(1), v6(2), tcpL4({ sport: 1000, dport: 443, seq: 1, flags: SYN }));
    const e = track(ct, syn).entry;
    expect(
      track(ct, ip6(v6(2), v6(1), tcpL4({ sport: 443, dport: 1000, seq: 9, ack: 2, flags: SYN | ACK }))),
    ).toEqual({
      state: 'established',
      entry: e,
      dir: 1,
    });
    expect(ctEntry(ct, e)?.version).toBe(6);
    const ping = track(ct, ip6(v6(1), v6(3), echoL4(6, true, 5)));
    expect(track(ct, ip6(v6(3), v6(1), echoL4(6, false, 5))).entry).toBe(ping.entry);
    const err = ip6(v6(9), v6(1), errorL4(6, 3, 0, syn));
    expect(ctStep(ct, info(err), 0)[1]).toEqual({ state: 'related', entry: e, dir: 1 });
    expect(ctStats(ct).bytes).toBe(2 * CT_ENTRY_BYTES_V6);
    ctRemove(ct, e, 0);
    ctRemove(ct, ping.entry, 0);
    expect(ctStats(ct).bytes).toBe(0);
    // The pool slot is reused.
    track(ct, ip6(v6(7), v6(8), udpL4(1, 2)));
    expect(ctEntry(ct, ctEntries(ct)[0]!)?.original.src).toEqual(v6(7));
  });
});

describe('conntrack: bounds', () => {
  const flood = (ct: Conntrack, n: number, now = 0, from = 0) => {
    const out: number[] = [];
    for (let i = from; i < from + n; i++) out.push(track(ct, udp4(A, R, 1024 + i, 53), now).entry);
    return out;
  };

  it('evicts the oldest unassured entry when full, never an assured one', () => {
    const ct = ctCreate({ maxEntries: 4 });
    const [first, second] = flood(ct, 2, 0);
    track(ct, udp4(R, A, 53, 1024), 1);
    expect(ctEntry(ct, first!)?.assured).toBe(true);
    flood(ct, 2, 2, 2);
    expect(ctStats(ct).entries).toBe(4);
    const v = track(ct, udp4(A, R, 9999, 53), 3);
    expect(v.entry).toBeGreaterThanOrEqual(0);
    expect(ctStats(ct).entries).toBe(4);
    expect(ctStats(ct).counters.evicted).toBe(1);
    expect(ctEntry(ct, first!)?.assured).toBe(true);
    // The second flow (the oldest unassured) went; its slot now holds the new flow.
    const ports = ctEntries(ct).map((e) => ctEntry(ct, e)!.original.srcPort);
    expect(ports.sort()).toEqual([1024, 1026, 1027, 9999]);
    expect(ctEntry(ct, second!)?.original.srcPort).toBe(9999);
  });

  it('refuses a new flow when every entry is assured, and counts it', () => {
    const ct = ctCreate({ maxEntries: 2 });
    for (const p of [1, 2]) {
      track(ct, udp4(A, R, p, 53));
      track(ct, udp4(R, A, 53, p));
    }
    const i = info(udp4(A, R, 3, 53));
    expect(ctConfirm(ct, i, 1)[1]).toEqual({ ok: false, reason: 'table-full' });
    expect(ctStats(ct).counters.refused).toBe(1);
  });

  it('expired entries make room before any eviction', () => {
    const ct = ctCreate({ maxEntries: 2 });
    flood(ct, 2, 0);
    track(ct, udp4(A, R, 5000, 53), 30_000);
    expect(ctStats(ct).counters).toMatchObject({ evicted: 0, expired: 2 });
  });

  it('keeps within maxBytes, IPv6 entries counting their addresses', () => {
    const ct = ctCreate({ maxBytes: 3 * CT_ENTRY_BYTES_V6 });
    for (let i = 0; i < 10; i++) track(ct, ip6(v6(1), v6(2), udpL4(100 + i, 53)));
    expect(ctStats(ct).entries).toBe(3);
    expect(ctStats(ct).bytes).toBeLessThanOrEqual(3 * CT_ENTRY_BYTES_V6);
    expect(ctStats(ct).counters.evicted).toBe(7);
  });

  it('grows its arrays past the initial capacity and finds every flow again', () => {
    const ct = ctCreate({ maxEntries: 5000 });
    const entries = flood(ct, 3000);
    for (let i = 0; i < 3000; i += 97)
      expect(ctStep(ct, info(udp4(R, A, 53, 1024 + i)), 1)[1]).toMatchObject({ entry: entries[i], dir: 1 });
  });

  it('rejects a configuration without room', () => {
    expect(() => ctCreate({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => ctCreate({ maxBytes: 10 })).toThrow(RangeError);
    expect(() => ctCreate({ timeouts: { icmp: 0 } })).toThrow(RangeError);
  });
});

describe('conntrack: snapshots', () => {
  it('a clone is independent and replays to the same verdicts', () => {
    const cfg: CtConfig = { maxEntries: 8 };
    const ct = ctCreate(cfg);
    const c = new Conv(ct);
    c.open();
    const snap = ctClone(ct);
    const more = [
      tcp4(A, R, { sport: 40000, dport: 80, seq: ISN_A + 1, ack: ISN_B + 1, flags: ACK, payload: 10 }),
      tcp4(R, A, { sport: 80, dport: 40000, seq: ISN_B + 1e8, flags: RST }),
      udp4(B, R, 1, 2),
      tcp4(A, R, { sport: 40000, dport: 80, seq: ISN_A + 11, ack: ISN_B + 1, flags: FIN | ACK }),
    ];
    const run = (t: Conntrack) => more.map((p, i) => track(t, p, i));
    const first = run(ct);
    expect(ctStats(snap).entries).toBe(1);
    expect(ctEntry(snap, 0)?.state).toBe('established');
    expect(run(snap)).toEqual(first);
    expect(ctStats(snap)).toEqual(ctStats(ct));
  });
});
