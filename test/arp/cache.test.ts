import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  IPV4_ANY,
  IPV4_BROADCAST,
  type Ipv4Addr,
  ipv4,
  ipv4MulticastMac,
  isIpv4Multicast,
  MAC_BROADCAST,
  MAC_ZERO,
  type Mac,
  writeIpv4,
} from '../../src/addr.js';
import {
  type ArpConfig,
  type ArpEntry,
  type ArpEvent,
  type ArpOutput,
  type ArpState,
  arpConfig,
  arpDeadline,
  arpStep,
  initialArp,
  lookup,
  sendableMac,
} from '../../src/arp/cache.js';
import type { ArpRepr } from '../../src/arp/wire.js';
import { propOptions } from '../support/props.js';
import { type ArpCommand, arpConfigArb, arpScriptArb, packetsFor } from './cache-arb.js';

// ---- the script harness (Go x/net quic style: wantFrame / advanceToTimer / wantIdle) ----

interface Host {
  readonly mac: Mac;
  readonly ip: Ipv4Addr;
}

const US: Host = { mac: 0x02_00_00_00_00_01 as Mac, ip: ipv4(10, 0, 0, 1) };
const US2 = ipv4(192, 168, 1, 1);
const PEER: Host = { mac: 0x02_00_00_00_00_02 as Mac, ip: ipv4(10, 0, 0, 2) };
const PEER_MOVED: Host = { mac: 0x02_00_00_00_00_22 as Mac, ip: PEER.ip };
const OTHER: Host = { mac: 0x02_00_00_00_00_03 as Mac, ip: ipv4(10, 0, 0, 3) };
const THIRD: Host = { mac: 0x02_00_00_00_00_04 as Mac, ip: ipv4(10, 0, 0, 4) };
const INTRUDER: Host = { mac: 0x02_00_00_00_00_66 as Mac, ip: US.ip };

const request = (from: Host, targetIp: Ipv4Addr): ArpRepr => ({
  operation: 'request',
  senderMac: from.mac,
  senderIp: from.ip,
  targetMac: MAC_ZERO,
  targetIp,
});
const reply = (from: Host, to: Host): ArpRepr => ({
  operation: 'reply',
  senderMac: from.mac,
  senderIp: from.ip,
  targetMac: to.mac,
  targetIp: to.ip,
});
/** RFC 5227 §2.3. */
const announcement = (from: Host): ArpRepr => request(from, from.ip);

const broadcastArp = (repr: ArpRepr): ArpOutput => ({ kind: 'send-arp', repr, dstMac: MAC_BROADCAST });
const unicastArp = (repr: ArpRepr, dstMac: Mac): ArpOutput => ({ kind: 'send-arp', repr, dstMac });
const transmit = (mac: Mac, packet: Uint8Array): ArpOutput => ({ kind: 'transmit', mac, packet });

let packetId = 0;
/** A 20-byte IPv4 header (RFC 791 §3.1) with a unique identification, so packets compare distinct. */
function ipPacket(src: Ipv4Addr, dst: Ipv4Addr, size = 20): Uint8Array {
  const p = new Uint8Array(Math.max(size, 20));
  p[0] = 0x45;
  p[4] = (++packetId >> 8) & 0xff;
  p[5] = packetId & 0xff;
  writeIpv4(p, 12, src);
  writeIpv4(p, 16, dst);
  return p;
}

const frozen = new WeakSet<object>();
/** Freezes a state deeply; Maps get throwing mutators. Packets (typed arrays) are owned bytes, not state. */
function deepFreeze(x: unknown): void {
  if (x === null || typeof x !== 'object' || frozen.has(x)) return;
  frozen.add(x);
  if (ArrayBuffer.isView(x)) return;
  if (x instanceof Map) {
    for (const [k, v] of x) {
      deepFreeze(k);
      deepFreeze(v);
    }
    for (const m of ['set', 'delete', 'clear']) {
      Object.defineProperty(x, m, {
        value: () => {
          throw new TypeError(`${m} on a frozen Map`);
        },
      });
    }
  }
  Object.freeze(x);
  for (const v of Object.values(x)) deepFreeze(v);
}

/** Steps a frozen state: any write to the input throws. */
function step(state: ArpState, event: ArpEvent): [ArpState, readonly ArpOutput[]] {
  deepFreeze(state);
  return arpStep(state, event);
}

class Script {
  state: ArpState;
  now = 0;
  private pending: ArpOutput[] = [];

  constructor(overrides: Partial<ArpConfig> = {}, addresses: readonly Ipv4Addr[] = [US.ip]) {
    this.state = initialArp(arpConfig(US.mac, addresses, overrides), 0);
  }

  private run(event: ArpEvent): this {
    const [s, out] = step(this.state, event);
    this.state = s;
    this.pending.push(...out);
    return this;
  }

  start(): this {
    return this.run({ kind: 'start', now: this.now });
  }
  recv(repr: ArpRepr): this {
    return this.run({ kind: 'received', now: this.now, repr });
  }
  send(ip: Ipv4Addr, packet: Uint8Array): this {
    return this.run({ kind: 'resolve', now: this.now, ip, packet });
  }
  /** Advances the clock by `ms` and ticks. */
  advance(ms: number): this {
    this.now += ms;
    return this.run({ kind: 'tick', now: this.now });
  }
  advanceToDeadline(): this {
    const d = arpDeadline(this.state);
    expect(d, 'a deadline is armed').not.toBeNull();
    this.now = d!;
    return this.run({ kind: 'tick', now: this.now });
  }
  expectSent(why: string, ...expected: ArpOutput[]): this {
    expect(this.pending.splice(0, Math.max(expected.length, 1)), why).toEqual(expected);
    return this;
  }
  expectIdle(why: string): this {
    expect(this.pending, why).toEqual([]);
    return this;
  }
  entry(ip: Ipv4Addr): ArpEntry | undefined {
    return this.state.entries.get(ip);
  }
  counter(name: keyof ArpState['counters']): number {
    return this.state.counters[name];
  }
}

// ---- scenarios ----

describe('RFC 5227 §2.3 announcements', () => {
  it('announces every address ANNOUNCE_NUM times, ANNOUNCE_INTERVAL apart', () => {
    const us2: Host = { mac: US.mac, ip: US2 };
    const t = new Script({}, [US.ip, US2]).start();
    t.expectSent(
      'first announcement of each address',
      broadcastArp(announcement(US)),
      broadcastArp(announcement(us2)),
    );
    expect(arpDeadline(t.state)).toBe(2000);
    t.advance(1999).expectIdle('not before ANNOUNCE_INTERVAL');
    t.advanceToDeadline().expectSent(
      'second and last announcement',
      broadcastArp(announcement(US)),
      broadcastArp(announcement(us2)),
    );
    expect(arpDeadline(t.state)).toBeNull();
    expect(t.counter('announcement-sent')).toBe(4);
  });

  it('sends nothing without addresses', () => {
    new Script({}, []).start().expectIdle('no address to announce');
  });
});

describe('RFC 826 packet reception', () => {
  it('answers a request for our address and learns the requester', () => {
    const t = new Script().recv(request(PEER, US.ip));
    t.expectSent('unicast reply with the fields swapped', unicastArp(reply(US, PEER), PEER.mac));
    expect(lookup(t.state, PEER.ip)).toBe(PEER.mac);
    expect(t.counter('learned')).toBe(1);
  });

  it('neither learns nor answers a request for someone else from a stranger', () => {
    const t = new Script();
    const before = t.state;
    t.recv(request(PEER, OTHER.ip)).expectIdle('not for us');
    expect(t.state, 'nothing changed, the very same state').toBe(before);
  });

  it('updates a known sender from any packet (Merge_flag), without answering', () => {
    const t = new Script()
      .recv(request(PEER, US.ip))
      .expectSent('reply', unicastArp(reply(US, PEER), PEER.mac));
    t.recv(request(PEER_MOVED, OTHER.ip)).expectIdle('not for us');
    expect(lookup(t.state, PEER.ip), 'new hardware address merged').toBe(PEER_MOVED.mac);
    expect(t.counter('refreshed')).toBe(1);
  });

  it('learns from an unsolicited reply addressed to us', () => {
    const t = new Script().recv(reply(PEER, US)).expectIdle('no answer to a reply');
    expect(lookup(t.state, PEER.ip)).toBe(PEER.mac);
  });

  it('answers an RFC 5227 probe (sender IP 0) without learning it', () => {
    const prober: Host = { mac: OTHER.mac, ip: IPV4_ANY };
    const t = new Script().recv(request(prober, US.ip));
    t.expectSent('reply to the prober', unicastArp(reply(US, prober), prober.mac));
    expect(t.state.entries.size).toBe(0);
  });

  it.each([
    ['our own packet looped back', request(US, US.ip), 'looped'],
    ['a broadcast sender MAC', request({ mac: MAC_BROADCAST, ip: PEER.ip }, US.ip), 'bad-sender-mac'],
    ['a zero sender MAC', request({ mac: MAC_ZERO, ip: PEER.ip }, US.ip), 'bad-sender-mac'],
    [
      'a multicast sender MAC',
      request({ mac: 0x01_00_5e_00_00_01 as Mac, ip: PEER.ip }, US.ip),
      'bad-sender-mac',
    ],
    ['a broadcast sender IP', request({ mac: PEER.mac, ip: IPV4_BROADCAST }, US.ip), 'bad-sender-ip'],
    ['a multicast sender IP', request({ mac: PEER.mac, ip: ipv4(224, 0, 0, 1) }, US.ip), 'bad-sender-ip'],
  ] as const)('ignores %s', (_name, repr, counter) => {
    const t = new Script().recv(repr).expectIdle('ignored');
    expect(t.state.entries.size).toBe(0);
    expect(t.counter(counter)).toBe(1);
  });
});

describe('resolution', () => {
  it('queues, asks by broadcast, and sends the queue in order once answered', () => {
    const t = new Script();
    const p1 = ipPacket(US.ip, PEER.ip);
    const p2 = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p1).expectSent('broadcast request', broadcastArp(request(US, PEER.ip)));
    t.send(PEER.ip, p2).expectIdle('one request in flight covers the second packet');
    expect(t.state.pendingBytes).toBe(40);
    t.recv(reply(PEER, US)).expectSent(
      'queued packets, in order',
      transmit(PEER.mac, p1),
      transmit(PEER.mac, p2),
    );
    expect(t.state.pendingBytes).toBe(0);
    const p3 = ipPacket(US.ip, PEER.ip);
    const [, out] = arpStep(t.state, { kind: 'resolve', now: t.now, ip: PEER.ip, packet: p3 });
    expect(out).toEqual([transmit(PEER.mac, p3)]);
    expect((out[0] as { packet: Uint8Array }).packet, 'ownership: the same bytes, not a copy').toBe(p3);
  });

  it('asks with the source address of the packet when it is ours', () => {
    const t = new Script({}, [US.ip, US2]);
    const far: Host = { mac: OTHER.mac, ip: ipv4(192, 168, 1, 9) };
    t.send(far.ip, ipPacket(US2, far.ip));
    t.expectSent('sender IP from the packet', broadcastArp(request({ mac: US.mac, ip: US2 }, far.ip)));
    t.send(THIRD.ip, ipPacket(ipv4(1, 2, 3, 4), THIRD.ip));
    t.expectSent('foreign source: the first address', broadcastArp(request(US, THIRD.ip)));
  });

  it('retries once per retryInterval, then reports the queue unreachable (RFC 1122 §2.3.2.1)', () => {
    const t = new Script({ maxRetries: 3, failedTtl: 3000 });
    const p = ipPacket(US.ip, PEER.ip);
    const q = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).expectSent('request 1', broadcastArp(request(US, PEER.ip)));
    t.advance(999).expectIdle('no retry before retryInterval');
    t.send(PEER.ip, q).expectIdle('no extra request for a new packet either');
    for (const n of [2, 3, 4]) {
      t.advanceToDeadline().expectSent(`request ${n}`, broadcastArp(request(US, PEER.ip)));
    }
    expect(t.now).toBe(3000);
    t.advanceToDeadline().expectSent('given up after 1 + maxRetries requests', {
      kind: 'unreachable',
      ip: PEER.ip,
      packets: [p, q],
    });
    expect(t.now).toBe(4000);
    expect(t.entry(PEER.ip)?.state).toBe('failed');
    expect(t.counter('request-sent')).toBe(4);
    expect(t.counter('unreachable')).toBe(2);
    expect(t.state.pendingBytes).toBe(0);
  });

  it('hands back the very packets as unreachable and answers from the failed entry without asking', () => {
    const t = new Script({ maxRetries: 0, failedTtl: 3000 });
    const p = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).expectSent('request', broadcastArp(request(US, PEER.ip)));
    t.advanceToDeadline().expectSent('give up after one request', {
      kind: 'unreachable',
      ip: PEER.ip,
      packets: [p],
    });
    const q = ipPacket(US.ip, PEER.ip);
    t.advance(1000)
      .send(PEER.ip, q)
      .expectSent('negative cache: at once', {
        kind: 'unreachable',
        ip: PEER.ip,
        packets: [q],
      });
    t.advanceToDeadline().expectIdle('failed entry forgotten silently');
    expect(t.now).toBe(4000);
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip)).expectSent('asks again', broadcastArp(request(US, PEER.ip)));
  });

  it('a failed entry comes back when the neighbour speaks', () => {
    const t = new Script({ maxRetries: 0 });
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip)).advanceToDeadline();
    t.expectSent('request', broadcastArp(request(US, PEER.ip)));
    t.expectSent('unreachable', {
      kind: 'unreachable',
      ip: PEER.ip,
      packets: [expect.any(Uint8Array)],
    } as ArpOutput);
    t.recv(request(PEER, OTHER.ip)).expectIdle('merge only');
    expect(lookup(t.state, PEER.ip)).toBe(PEER.mac);
  });

  it('maps limited broadcast and multicast without ARP (RFC 1112 §6.4)', () => {
    const t = new Script();
    const b = ipPacket(US.ip, IPV4_BROADCAST);
    const m = ipPacket(US.ip, ipv4(224, 0, 0, 251));
    t.send(IPV4_BROADCAST, b).expectSent('broadcast', transmit(MAC_BROADCAST, b));
    t.send(ipv4(224, 0, 0, 251), m).expectSent('multicast', transmit(0x01_00_5e_00_00_fb as Mac, m));
    expect(ipv4MulticastMac(ipv4(239, 255, 255, 250))).toBe(0x01_00_5e_7f_ff_fa);
  });

  it.each([
    ['0.0.0.0', IPV4_ANY],
    ['our own address', US.ip],
  ])('never resolves %s', (_name, ip) => {
    const p = ipPacket(US.ip, ip);
    new Script()
      .send(ip, p)
      .expectSent('dropped', { kind: 'dropped', reason: 'invalid-address', ip, bytes: 20, packet: p });
  });
});

describe('RFC 1122 §2.3.2.2 pending queue bounds', () => {
  it('keeps the latest packets: the oldest are dropped first', () => {
    const t = new Script({ pendingPerNeighbour: 2 });
    const [p1, p2, p3] = [1, 2, 3].map(() => ipPacket(US.ip, PEER.ip));
    t.send(PEER.ip, p1!)
      .send(PEER.ip, p2!)
      .expectSent('request', broadcastArp(request(US, PEER.ip)));
    t.send(PEER.ip, p3!).expectSent('oldest dropped', {
      kind: 'dropped',
      reason: 'queue-full',
      ip: PEER.ip,
      bytes: 20,
      packet: p1!,
    });
    t.recv(reply(PEER, US)).expectSent('the latest two', transmit(PEER.mac, p2!), transmit(PEER.mac, p3!));
    expect(t.counter('queue-full')).toBe(1);
  });

  it('bounds bytes per neighbour and drops a packet larger than the bound', () => {
    const t = new Script({ pendingBytesPerNeighbour: 100 });
    const big = ipPacket(US.ip, PEER.ip, 101);
    t.send(PEER.ip, big).expectSent(
      'request still sent, packet dropped',
      broadcastArp(request(US, PEER.ip)),
      { kind: 'dropped', reason: 'too-big', ip: PEER.ip, bytes: 101, packet: big },
    );
    const a = ipPacket(US.ip, PEER.ip, 60);
    const b = ipPacket(US.ip, PEER.ip, 60);
    t.send(PEER.ip, a).send(PEER.ip, b);
    t.expectSent('60 + 60 > 100', {
      kind: 'dropped',
      reason: 'queue-full',
      ip: PEER.ip,
      bytes: 60,
      packet: a,
    });
    expect(t.state.pendingBytes).toBe(60);
  });

  it('accounts a view at the size of the buffer it pins', () => {
    const t = new Script();
    const view = new Uint8Array(1500).subarray(0, 40);
    t.send(PEER.ip, view);
    expect(t.state.pendingBytes).toBe(1500);
  });

  it('bounds bytes over all neighbours, dropping the globally oldest packet', () => {
    const t = new Script({ maxPendingTotalBytes: 100 });
    const a = ipPacket(US.ip, PEER.ip, 40);
    const b = ipPacket(US.ip, OTHER.ip, 40);
    const c = ipPacket(US.ip, OTHER.ip, 40);
    t.send(PEER.ip, a).send(OTHER.ip, b);
    t.expectSent('two requests', broadcastArp(request(US, PEER.ip)), broadcastArp(request(US, OTHER.ip)));
    t.send(OTHER.ip, c).expectSent('the oldest, for another neighbour', {
      kind: 'dropped',
      reason: 'pending-budget',
      ip: PEER.ip,
      bytes: 40,
      packet: a,
    });
    expect(t.state.pendingBytes).toBe(80);
  });
});

describe('RFC 1122 §2.3.2.1 cache validation', () => {
  it('forgets an unused entry after entryTtl', () => {
    const t = new Script({ entryTtl: 60_000 }).recv(reply(PEER, US));
    expect(arpDeadline(t.state)).toBe(60_000);
    t.advance(59_999);
    expect(lookup(t.state, PEER.ip)).toBe(PEER.mac);
    t.advanceToDeadline().expectIdle('silently');
    expect(lookup(t.state, PEER.ip)).toBeUndefined();
    expect(t.counter('expired')).toBe(1);
  });

  it('restarts the timeout when the neighbour is heard from, whoever it talks to', () => {
    const t = new Script({ entryTtl: 60_000 }).recv(reply(PEER, US));
    t.advance(50_000).recv(request(PEER, OTHER.ip)).expectIdle('merge');
    expect(arpDeadline(t.state)).toBe(110_000);
  });

  it('re-validates a used entry by unicast polls while traffic keeps flowing', () => {
    const t = new Script({ entryTtl: 60_000 }).recv(reply(PEER, US));
    const p = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).expectSent('resolved: sent at once', transmit(PEER.mac, p));
    t.advanceToDeadline().expectSent(
      'unicast poll',
      unicastArp({ ...request(US, PEER.ip), targetMac: PEER.mac }, PEER.mac),
    );
    expect(t.entry(PEER.ip)?.state).toBe('probe');
    const q = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, q).expectSent('still sent during the poll', transmit(PEER.mac, q));
    t.advance(500).recv(reply(PEER, US)).expectIdle('confirmed');
    expect(t.entry(PEER.ip)?.state).toBe('reachable');
    expect(arpDeadline(t.state)).toBe(t.now + 60_000);
  });

  it('drops an entry whose unicast polls go unanswered', () => {
    const t = new Script({ entryTtl: 60_000, maxRetries: 1 }).recv(reply(PEER, US));
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip)).expectSent('sent', transmit(PEER.mac, expect.any(Uint8Array)));
    const poll = unicastArp({ ...request(US, PEER.ip), targetMac: PEER.mac }, PEER.mac);
    t.advanceToDeadline().expectSent('poll 1', poll);
    t.advanceToDeadline().expectSent('poll 2', poll);
    t.advanceToDeadline().expectIdle('given up');
    expect(t.entry(PEER.ip)).toBeUndefined();
    expect(t.counter('probe-failed')).toBe(1);
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip)).expectSent(
      'broadcast again',
      broadcastArp(request(US, PEER.ip)),
    );
  });
});

describe('table bound', () => {
  it('evicts the least recently confirmed entry when full', () => {
    const t = new Script({ maxEntries: 2 });
    t.recv(reply(PEER, US)).advance(10).recv(reply(OTHER, US)).advance(10).recv(reply(PEER, US));
    t.advance(2000).recv(reply(THIRD, US)).expectIdle('replies need no answer');
    expect([...t.state.entries.keys()].sort()).toEqual([PEER.ip, THIRD.ip].sort());
    expect(t.counter('evicted')).toBe(1);
  });

  it('never evicts pending resolutions: the new packet is refused instead', () => {
    const t = new Script({ maxEntries: 1 });
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip)).expectSent('request', broadcastArp(request(US, PEER.ip)));
    const p = ipPacket(US.ip, OTHER.ip);
    t.send(OTHER.ip, p).expectSent('table full', {
      kind: 'dropped',
      reason: 'table-full',
      ip: OTHER.ip,
      bytes: 20,
      packet: p,
    });
    t.recv(request(OTHER, US.ip)).expectSent('still answered', unicastArp(reply(US, OTHER), OTHER.mac));
    expect(t.counter('learn-refused')).toBe(1);
  });

  it('does not evict an entry requested less than retryInterval ago (the flood limit survives eviction)', () => {
    const t = new Script({ maxEntries: 1 });
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip)).expectSent('request', broadcastArp(request(US, PEER.ip)));
    t.advance(100)
      .recv(reply(PEER, US))
      .expectSent('flushed', transmit(PEER.mac, expect.any(Uint8Array)));
    t.recv(request(OTHER, US.ip)).expectSent('answered', unicastArp(reply(US, OTHER), OTHER.mac));
    expect(t.counter('learn-refused'), 'PEER was asked for 100 ms ago').toBe(1);
    t.advance(900)
      .recv(request(OTHER, US.ip))
      .expectSent('answered', unicastArp(reply(US, OTHER), OTHER.mac));
    expect(lookup(t.state, OTHER.ip), 'now PEER may go').toBe(OTHER.mac);
  });
});

describe('RFC 5227 §2.4 conflicts', () => {
  it('reports a conflict, defends once per DEFEND_INTERVAL, and never learns our own address', () => {
    const t = new Script({ defendInterval: 10_000 });
    t.recv(request(INTRUDER, OTHER.ip)).expectSent('defence and report', broadcastArp(announcement(US)), {
      kind: 'conflict',
      ip: US.ip,
      mac: INTRUDER.mac,
      defended: true,
    });
    t.advance(5000).recv(announcement(INTRUDER)).expectSent('report only: within DEFEND_INTERVAL', {
      kind: 'conflict',
      ip: US.ip,
      mac: INTRUDER.mac,
      defended: false,
    });
    t.advance(5000)
      .recv(reply(INTRUDER, PEER))
      .expectSent('DEFEND_INTERVAL after the last defence', broadcastArp(announcement(US)), {
        kind: 'conflict',
        ip: US.ip,
        mac: INTRUDER.mac,
        defended: true,
      });
    expect(t.state.entries.size).toBe(0);
    expect(t.counter('conflict')).toBe(3);
    expect(t.counter('defended')).toBe(2);
  });
});

describe('deadline', () => {
  it('ticking before the deadline returns the very same state', () => {
    const t = new Script().start().recv(reply(PEER, US));
    const d = arpDeadline(t.state)!;
    for (const now of [0, 1, d - 1]) {
      const [s, out] = step(t.state, { kind: 'tick', now });
      expect(s).toBe(t.state);
      expect(out).toEqual([]);
    }
  });

  it('a sent packet to a resolved neighbour leaves the state alone after the first', () => {
    const t = new Script().recv(reply(PEER, US));
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip));
    const s = t.state;
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip));
    expect(t.state, 'fast path: no copy').toBe(s);
  });

  it('rejects a config that would defeat the flood limit', () => {
    expect(() => initialArp(arpConfig(US.mac, [US.ip], { entryTtl: 10, retryInterval: 1000 }), 0)).toThrow(
      RangeError,
    );
    expect(() => initialArp(arpConfig(US.mac, [US.ip], { maxEntries: 0 }), 0)).toThrow(RangeError);
  });
});

// ---- properties ----

/** A cheap assertion for the per-step checks (thousands per property run; `expect` is slow there). */
function check(ok: boolean, what: string, detail?: unknown): void {
  if (!ok) throw new Error(detail === undefined ? what : `${what}: ${JSON.stringify(detail)}`);
}

interface Tracked {
  readonly ip: Ipv4Addr;
  readonly index: number;
  reported: number;
}

function expectedMac(state: ArpState, ip: Ipv4Addr): Mac | undefined {
  if (ip === IPV4_BROADCAST) return MAC_BROADCAST;
  if (isIpv4Multicast(ip)) return ipv4MulticastMac(ip);
  return lookup(state, ip);
}

function due(e: ArpEntry): number {
  switch (e.state) {
    case 'incomplete':
      return e.nextRequest;
    case 'reachable':
      return e.expires;
    case 'probe':
      return e.nextProbe;
    case 'failed':
      return e.until;
  }
}

function checkBounds(s: ArpState): void {
  const c = s.config;
  check(s.entries.size <= c.maxEntries, 'entries within maxEntries');
  let pending = 0;
  let earliest = s.announce?.due ?? Number.POSITIVE_INFINITY;
  for (const [ip, e] of s.entries) {
    const special =
      c.addresses.includes(ip) || ip === IPV4_ANY || ip === IPV4_BROADCAST || isIpv4Multicast(ip);
    check(!special, 'never an entry for our own or a special address', ip);
    earliest = Math.min(earliest, due(e));
    if (e.state !== 'incomplete') continue;
    check(e.queue.length <= c.pendingPerNeighbour, 'packets per neighbour within bound');
    check(e.queueBytes === e.queue.reduce((n, q) => n + q.bytes, 0), 'queueBytes is the sum of the queue');
    check(e.queueBytes <= c.pendingBytesPerNeighbour, 'bytes per neighbour within bound');
    pending += e.queueBytes;
  }
  check(s.pendingBytes === pending, 'pendingBytes is the sum of the queues');
  check(s.pendingBytes <= c.maxPendingTotalBytes, 'pending bytes within the global bound');
  const d = arpDeadline(s);
  check(
    d === (earliest === Number.POSITIVE_INFINITY ? null : earliest),
    'deadline is the earliest due time',
    d,
  );
  for (const ip of s.defendedAt.keys()) check(c.addresses.includes(ip), 'defends only our addresses');
}

/** Ticking before the deadline changes nothing; ticking at it changes something. */
function checkDeadline(s: ArpState, now: number): void {
  const d = arpDeadline(s);
  const before = d === null ? [now + 1e9] : d > now ? [now, d - 1e-3] : [];
  for (const t of before) {
    const [same, out] = step(s, { kind: 'tick', now: t });
    check(same === s && out.length === 0, 'a tick before the deadline changes nothing', { t, d });
  }
  if (d !== null) {
    const [changed] = step(s, { kind: 'tick', now: Math.max(now, d) });
    check(changed !== s, 'a tick at the deadline does something', d);
  }
}

interface Run {
  readonly outputs: (readonly ArpOutput[])[];
  readonly states: ArpState[];
}

/** Runs a script; with `checked`, checks every invariant after every step. */
function runScript(
  config: ArpConfig,
  script: readonly ArpCommand[],
  packets: readonly Uint8Array[],
  checked = true,
): Run {
  let state = initialArp(config, 0);
  let now = 0;
  let next = 0;
  const tracked = new Map<Uint8Array, Tracked>();
  const lastTransmitted = new Map<Ipv4Addr, number>();
  const lastRequest = new Map<Ipv4Addr, number>();
  const run: Run = { outputs: [], states: [] };

  const report = (packet: Uint8Array, ip: Ipv4Addr): Tracked => {
    const t = tracked.get(packet);
    check(t !== undefined, 'a reported packet was handed in');
    check(t!.reported === 0, 'a packet is reported exactly once', t!.index);
    check(t!.ip === ip, 'reported for its own next hop', t!.index);
    t!.reported++;
    return t!;
  };

  const apply = (event: ArpEvent): void => {
    const [s, out] = checked ? step(state, event) : arpStep(state, event);
    state = s;
    run.outputs.push(out);
    run.states.push(s);
    if (!checked) return;
    for (const o of out) {
      switch (o.kind) {
        case 'transmit': {
          const ip = tracked.get(o.packet)?.ip ?? IPV4_ANY;
          const t = report(o.packet, ip);
          check(o.mac === expectedMac(s, ip), 'sent to the address the cache holds', t.index);
          check(t.index > (lastTransmitted.get(ip) ?? -1), 'in order per neighbour', t.index);
          lastTransmitted.set(ip, t.index);
          break;
        }
        case 'dropped':
          report(o.packet, o.ip);
          break;
        case 'unreachable':
          for (const p of o.packets) report(p, o.ip);
          break;
        case 'send-arp': {
          const r = o.repr;
          check(r.senderMac === config.ourMac, 'sent with our MAC');
          if (r.operation === 'request' && r.senderIp !== r.targetIp) {
            const last = lastRequest.get(r.targetIp);
            check(
              last === undefined || event.now - last >= config.retryInterval,
              'one request per neighbour per retryInterval',
              { last, now: event.now },
            );
            lastRequest.set(r.targetIp, event.now);
            check(o.dstMac === MAC_BROADCAST || o.dstMac === r.targetMac, 'broadcast, or a unicast poll');
          }
          break;
        }
        case 'conflict':
          check(config.addresses.includes(o.ip), 'conflicts only on our addresses');
          break;
      }
    }
    checkBounds(state);
    checkDeadline(state, now);
  };

  for (const cmd of script) {
    switch (cmd.kind) {
      case 'start':
        apply({ kind: 'start', now });
        break;
      case 'received':
        apply({ kind: 'received', now, repr: cmd.repr });
        break;
      case 'resolve': {
        const packet = packets[next]!;
        tracked.set(packet, { ip: cmd.ip, index: next++, reported: 0 });
        const before = state;
        const fast = sendableMac(state, cmd.ip);
        apply({ kind: 'resolve', now, ip: cmd.ip, packet });
        // The driver's fast path must agree with the step whenever it answers (about 200 times a run).
        if (checked && fast !== undefined) {
          check(state === before, 'sendableMac: the step leaves the state alone');
          check(run.outputs.at(-1)?.length === 1, 'sendableMac: the step only transmits');
          check(expectedMac(state, cmd.ip) === fast, 'sendableMac: to the same MAC');
        }
        break;
      }
      case 'wait':
        now += cmd.ms;
        apply({ kind: 'tick', now });
        break;
      case 'sleep':
        now += cmd.ms;
        break;
      case 'deadline': {
        const d = arpDeadline(state);
        if (d === null) break;
        now = Math.max(now, d);
        apply({ kind: 'tick', now });
        break;
      }
    }
  }
  if (checked) {
    // Conservation: every packet handed in was reported once, or is still queued once.
    const queued = [...state.entries.values()].flatMap((e) => (e.state === 'incomplete' ? e.queue : []));
    const stillQueued = new Set(queued.map((q) => q.packet));
    check(stillQueued.size === queued.length, 'a packet is queued once');
    for (const [packet, t] of tracked) {
      check(t.reported + (stillQueued.has(packet) ? 1 : 0) === 1, 'every packet accounted for once', t.index);
    }
  }
  return run;
}

/** Every output and state as text: packets by their index (identity matters), Maps as entry lists. */
function fingerprint(run: Run, packets: readonly Uint8Array[]): string {
  const ids = new Map(packets.map((p, i) => [p, i]));
  return JSON.stringify(run, (_key, v: unknown) =>
    v instanceof Uint8Array ? `packet#${ids.get(v) ?? '?'}` : v instanceof Map ? [...v.entries()] : v,
  );
}

describe('ARP cache properties', () => {
  it('random scripts respect every bound, the flood limit and packet conservation, without mutating input', () => {
    fc.assert(
      fc.property(arpConfigArb, arpScriptArb, (config, script) => {
        runScript(config, script, packetsFor(script));
      }),
      propOptions(),
    );
  });

  it('is deterministic: the same script gives the same outputs and states', () => {
    fc.assert(
      fc.property(arpConfigArb, arpScriptArb, (config, script) => {
        const packets = packetsFor(script);
        const a = runScript(config, script, packets, false);
        const b = runScript(config, script, packets, false);
        const fa = fingerprint(a, packets);
        const fb = fingerprint(b, packets);
        check(fa === fb, 'same outputs and states', fa.length);
      }),
      propOptions(),
    );
  });
});
