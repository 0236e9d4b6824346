import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Ipv6Addr,
  ipv6Equal,
  ipv6Key,
  ipv6MulticastMac,
  isIpv6Multicast,
  type Mac,
  parseIpv6Addr,
  solicitedNode,
} from '../../src/addr.js';
import { parseEthernet } from '../../src/ethernet/wire.js';
import {
  emitIcmpv6,
  type Icmpv6Repr,
  icmpv6HeaderLen,
  type NdpOption,
  parseIcmpv6,
} from '../../src/ipv6/icmp.js';
import {
  ALL_NODES,
  ALL_ROUTERS,
  addressState,
  curHopLimit,
  defaultRouter,
  INFINITE_LIFETIME,
  initialNdp,
  isOurAddress,
  isSolicitedNode,
  linkMtu,
  lookup,
  type NdpAddress,
  type NdpConfig,
  type NdpCounterName,
  type NdpEvent,
  type NdpOutput,
  type NdpState,
  type NeighbourEntry,
  type NeighbourState,
  ndpConfig,
  ndpDeadline,
  ndpStep,
  neighbour,
  neighbourKey,
  onLink,
  sendableMac,
  sourceAddress,
} from '../../src/ipv6/ndp.js';
import { parseIpv6 } from '../../src/ipv6/wire.js';
import { parsePcap } from '../../src/link/pcap.js';
import { propOptions } from '../support/props.js';
import { type NdpCommand, ndpConfigArb, ndpScriptArb, OUR_LL, OUR_MAC, packetsFor } from './ndp-arb.js';

// ---- hosts and messages ----

const addr = (s: string): Ipv6Addr => parseIpv6Addr(s)!;

interface Host {
  readonly ip: Ipv6Addr;
  readonly mac: Mac;
}

const US: Host = { ip: OUR_LL, mac: OUR_MAC };
const STATIC = addr('2001:db8:9::1');
const ROUTER: Host = { ip: addr('fe80::1'), mac: 0x02_00_00_00_01_01 as Mac };
const ROUTER2: Host = { ip: addr('fe80::2'), mac: 0x02_00_00_00_01_02 as Mac };
const PEER: Host = { ip: addr('fe80::c'), mac: 0x02_00_00_00_00_0c as Mac };
const MOVED = 0x02_00_00_00_00_2c as Mac;
const OTHER: Host = { ip: addr('fe80::d'), mac: 0x02_00_00_00_00_0d as Mac };
const GPEER: Host = { ip: addr('2001:db8:1::c'), mac: 0x02_00_00_00_00_1c as Mac };
const PREFIX = addr('2001:db8:1::');
const SLAAC = addr('2001:db8:1::ff:fe00:a');
const UNSPEC = addr('::');

const sllao = (mac: Mac): NdpOption => ({ kind: 'source-link-addr', mac });
const tllao = (mac: Mac): NdpOption => ({ kind: 'target-link-addr', mac });
const ns = (target: Ipv6Addr, ...options: NdpOption[]): Icmpv6Repr => ({
  kind: 'neighbor-solicitation',
  target,
  options,
});
const na = (
  target: Ipv6Addr,
  flags: { r?: boolean; s?: boolean; o?: boolean },
  ...options: NdpOption[]
): Icmpv6Repr => ({
  kind: 'neighbor-advertisement',
  router: flags.r ?? false,
  solicited: flags.s ?? false,
  override: flags.o ?? false,
  target,
  options,
});
type RaFields = Omit<Extract<Icmpv6Repr, { kind: 'router-advertisement' }>, 'kind' | 'options'>;
const ra = (fields: Partial<RaFields>, ...options: NdpOption[]): Icmpv6Repr => ({
  kind: 'router-advertisement',
  curHopLimit: 0,
  managed: false,
  other: false,
  routerLifetime: 1800,
  reachableTime: 0,
  retransTimer: 0,
  ...fields,
  options,
});
const pio = (
  prefix: Ipv6Addr,
  o: { len?: number; onLink?: boolean; autonomous?: boolean; valid?: number; preferred?: number } = {},
): NdpOption => ({
  kind: 'prefix-info',
  prefixLen: o.len ?? 64,
  onLink: o.onLink ?? true,
  autonomous: o.autonomous ?? true,
  validLifetime: o.valid ?? 86_400,
  preferredLifetime: o.preferred ?? 14_400,
  prefix,
});

const sent = (dst: Ipv6Addr, src: Ipv6Addr, dstMac: Mac, message: Icmpv6Repr): NdpOutput => ({
  kind: 'send',
  dst,
  src,
  dstMac,
  hopLimit: 255,
  message,
});
const multicast = (dst: Ipv6Addr, src: Ipv6Addr, message: Icmpv6Repr): NdpOutput =>
  sent(dst, src, ipv6MulticastMac(dst), message);
/** RFC 4862 §5.4.2: DAD solicitation. */
const dadNs = (a: Ipv6Addr): NdpOutput => multicast(solicitedNode(a), UNSPEC, ns(a));
/** RFC 4861 §7.2.2: resolution. */
const resolutionNs = (target: Ipv6Addr, src: Ipv6Addr = US.ip): NdpOutput =>
  multicast(solicitedNode(target), src, ns(target, sllao(US.mac)));
/** RFC 4861 §7.3.3: NUD probe to the cached address. */
const probeNs = (to: Host, src: Ipv6Addr = US.ip): NdpOutput =>
  sent(to.ip, src, to.mac, ns(to.ip, sllao(US.mac)));
const rs = (): NdpOutput =>
  multicast(ALL_ROUTERS, US.ip, { kind: 'router-solicitation', options: [sllao(US.mac)] });
const transmit = (mac: Mac, packet: Uint8Array): NdpOutput => ({ kind: 'transmit', mac, packet });
const address = (a: Ipv6Addr, state: string, prefixLen = 64): NdpOutput =>
  ({ kind: 'address', address: a, prefixLen, state }) as NdpOutput;

let packetId = 0;
/** A 40-byte IPv6 header (RFC 8200 §3) with a unique flow label, so packets compare distinct. */
function ipPacket(src: Ipv6Addr, dst: Ipv6Addr, size = 40): Uint8Array {
  const p = new Uint8Array(Math.max(size, 40));
  p[0] = 0x60;
  p[2] = (++packetId >> 8) & 0xff;
  p[3] = packetId & 0xff;
  p.set(src, 8);
  p.set(dst, 24);
  return p;
}

// ---- the script harness (Go x/net quic style: wantFrame / advanceToTimer / wantIdle) ----

const frozen = new WeakSet<object>();
/** Freezes a state deeply; Maps get throwing mutators. Typed arrays are bytes, not state. */
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
function step(state: NdpState, event: NdpEvent): [NdpState, readonly NdpOutput[]] {
  deepFreeze(state);
  return ndpStep(state, event);
}

type Overrides = Partial<Omit<NdpConfig, 'mac'>>;
/** No DAD and no RS: the addresses are usable at `start`, nothing else is sent. */
const QUIET: Overrides = { dupAddrDetectTransmits: 0, maxRtrSolicitations: 0 };

class Script {
  state: NdpState;
  now = 0;
  private pending: NdpOutput[] = [];

  constructor(overrides: Overrides = {}, seed = 1) {
    this.state = initialNdp(ndpConfig(US.mac, overrides), 0, seed);
  }

  private run(event: NdpEvent): this {
    const [s, out] = step(this.state, event);
    this.state = s;
    this.pending.push(...out);
    return this;
  }

  start(): this {
    return this.run({ kind: 'start', now: this.now });
  }
  /** `start` and forget its outputs. */
  up(): this {
    return this.start().drain();
  }
  /** A message from `from`; by default NS go to the target's solicited-node group, RA to all-nodes, NA to us. */
  recv(from: Host, message: Icmpv6Repr, o: { dst?: Ipv6Addr; hopLimit?: number; src?: Ipv6Addr } = {}): this {
    const dst =
      o.dst ??
      (message.kind === 'neighbor-solicitation'
        ? solicitedNode(message.target)
        : message.kind === 'router-advertisement'
          ? ALL_NODES
          : US.ip);
    return this.run({
      kind: 'received',
      now: this.now,
      src: o.src ?? from.ip,
      dst,
      hopLimit: o.hopLimit ?? 255,
      srcMac: from.mac,
      message,
    });
  }
  send(nextHop: Ipv6Addr, packet: Uint8Array): this {
    return this.run({ kind: 'resolve', now: this.now, nextHop, packet });
  }
  confirm(neighbour: Ipv6Addr): this {
    return this.run({ kind: 'confirm-reachability', now: this.now, neighbour });
  }
  /** Advances the clock by `ms` and ticks. */
  advance(ms: number): this {
    this.now += ms;
    return this.run({ kind: 'tick', now: this.now });
  }
  advanceTo(t: number): this {
    return this.advance(t - this.now);
  }
  advanceToDeadline(): this {
    const d = ndpDeadline(this.state);
    expect(d, 'a deadline is armed').not.toBeNull();
    return this.advanceTo(d!);
  }
  expectSent(why: string, ...expected: NdpOutput[]): this {
    expect(this.pending.splice(0, Math.max(expected.length, 1)), why).toEqual(expected);
    return this;
  }
  expectIdle(why: string): this {
    expect(this.pending, why).toEqual([]);
    return this;
  }
  drain(): this {
    this.pending = [];
    return this;
  }
  take(): NdpOutput[] {
    return this.pending.splice(0);
  }
  entry(a: Ipv6Addr): NeighbourEntry | undefined {
    return neighbour(this.state, a);
  }
  stateOf(a: Ipv6Addr): NeighbourState | undefined {
    return this.entry(a)?.state;
  }
  counter(name: NdpCounterName): number {
    return this.state.counters[name];
  }
  address(a: Ipv6Addr): NdpAddress | undefined {
    return this.state.addresses.find((x) => ipv6Equal(x.address, a));
  }
}

/** A script with `peer` in the given Neighbour Cache state (RFC 4861 §7.3.2). */
function withEntry(state: NeighbourState, peer: Host = PEER, overrides: Overrides = {}): Script {
  const t = new Script({ ...QUIET, ...overrides }).up();
  switch (state) {
    case 'incomplete':
      t.send(peer.ip, ipPacket(US.ip, peer.ip));
      break;
    case 'reachable':
      t.send(peer.ip, ipPacket(US.ip, peer.ip)).recv(
        peer,
        na(peer.ip, { s: true, o: true }, tllao(peer.mac)),
      );
      break;
    case 'stale':
      t.recv(peer, ns(US.ip, sllao(peer.mac)));
      break;
    case 'delay':
      t.recv(peer, ns(US.ip, sllao(peer.mac))).send(peer.ip, ipPacket(US.ip, peer.ip));
      break;
    case 'probe':
      t.recv(peer, ns(US.ip, sllao(peer.mac)))
        .send(peer.ip, ipPacket(US.ip, peer.ip))
        .advance(t.state.config.delayFirstProbeTime);
      break;
  }
  expect(t.stateOf(peer.ip), `set up ${state}`).toBe(state);
  return t.drain();
}

// ---- start, DAD ----

describe('start: the link-local and static addresses (RFC 4862 §5.3, §5.4.2)', () => {
  it('joins all-nodes and each solicited-node group, and adds every address as tentative', () => {
    const t = new Script({ staticAddresses: [{ address: STATIC, prefixLen: 64 }] }).start();
    t.expectSent(
      'fe80::EUI-64 and the static address, tentative',
      { kind: 'join', group: ALL_NODES },
      { kind: 'join', group: solicitedNode(US.ip) },
      address(US.ip, 'tentative'),
      { kind: 'join', group: solicitedNode(STATIC) },
      address(STATIC, 'tentative'),
    );
    t.expectIdle('nothing before the random delay');
    expect(isOurAddress(t.state, US.ip), 'a tentative address is not ours yet').toBe(false);
    expect(addressState(t.state, US.ip)).toBe('tentative');
  });

  it('sends each DAD solicitation after a random delay below MAX_RTR_SOLICITATION_DELAY', () => {
    const t = new Script({ staticAddresses: [{ address: STATIC, prefixLen: 64 }] }).up();
    const dues = t.state.addresses.map((a) => a.dad!.due);
    for (const due of dues) expect(due >= 0 && due < 1000, 'in [0, 1000)').toBe(true);
    expect(ndpDeadline(t.state)).toBe(Math.min(...dues));
    const order = [...t.state.addresses].sort((a, b) => a.dad!.due - b.dad!.due).map((a) => a.address);
    t.advanceToDeadline().expectSent('from ::, to the solicited-node group, no option', dadNs(order[0]!));
    t.advanceTo(Math.max(...dues)).expectSent('the other address', dadNs(order[1]!));
  });

  it('makes the address preferred RetransTimer after the last solicitation, then sends the first RS at once', () => {
    const t = new Script().up();
    t.advanceToDeadline().expectSent('DAD', dadNs(US.ip));
    const nsAt = t.now;
    t.advance(999).expectIdle('RetransTimer not over');
    expect(ndpDeadline(t.state)).toBe(nsAt + 1000);
    t.advanceToDeadline().expectSent(
      'unique: preferred; RFC 4861 §6.3.7 no second random delay before the RS',
      address(US.ip, 'preferred'),
      rs(),
    );
    expect(isOurAddress(t.state, US.ip)).toBe(true);
    expect(t.counter('dad-succeeded')).toBe(1);
  });

  it('sends DupAddrDetectTransmits solicitations RetransTimer apart', () => {
    const t = new Script({ dupAddrDetectTransmits: 3, retransTimer: 500, maxRtrSolicitations: 0 }).up();
    t.advanceToDeadline().expectSent('first', dadNs(US.ip));
    t.advance(500).expectSent('second', dadNs(US.ip));
    t.advance(500).expectSent('third', dadNs(US.ip));
    t.advance(500).expectSent('done', address(US.ip, 'preferred'));
    expect(ndpDeadline(t.state)).toBeNull();
  });

  it('with DAD off makes the addresses preferred at once and delays the first RS randomly', () => {
    const t = new Script({ dupAddrDetectTransmits: 0 }).start();
    t.expectSent(
      'preferred at once',
      { kind: 'join', group: ALL_NODES },
      { kind: 'join', group: solicitedNode(US.ip) },
      address(US.ip, 'preferred'),
    );
    const due = t.state.rs!.due;
    expect(due).toBeLessThan(1000);
    t.advanceTo(due).expectSent('RFC 4861 §6.3.7 random delay, then the RS', rs());
  });

  it('joins a solicited-node group shared by two addresses once and leaves it once', () => {
    const a = addr('2001:db8:9::ff:fe00:a'); // same low 24 bits as the link-local address
    const t = new Script({
      staticAddresses: [{ address: a, prefixLen: 64 }],
      maxRtrSolicitations: 0,
    }).start();
    const joins = t.take().filter((o) => o.kind === 'join');
    expect(joins).toEqual([
      { kind: 'join', group: ALL_NODES },
      { kind: 'join', group: solicitedNode(US.ip) },
    ]);
    // Another node already uses the static address: the group stays for the link-local one.
    t.recv(OTHER, ns(a), { src: UNSPEC });
    expect(t.take().filter((o) => o.kind === 'leave')).toEqual([]);
  });

  it('starts once', () => {
    const t = new Script().up();
    const before = t.state;
    t.start().expectIdle('a second start is ignored');
    expect(t.state).toBe(before);
  });

  it('spreads the delays by seed, and replays them for the same seed', () => {
    const due = (seed: number) => new Script({}, seed).up().state.addresses[0]!.dad!.due;
    expect(due(7)).toBe(due(7));
    expect(new Set([1, 2, 3, 4, 5, 6].map(due)).size).toBeGreaterThan(1);
  });
});

describe('DAD conflicts (RFC 4862 §5.4.3-§5.4.5)', () => {
  const STATIC_CONFIG: Overrides = {
    staticAddresses: [{ address: STATIC, prefixLen: 64 }],
    maxRtrSolicitations: 0,
  };

  it('a solicitation from :: for our tentative address is another node doing DAD: duplicated', () => {
    const t = new Script(STATIC_CONFIG).up();
    t.advanceToDeadline().drain();
    t.recv(OTHER, ns(STATIC), { src: UNSPEC });
    t.expectSent(
      'never answered; marked duplicated and logged',
      { kind: 'leave', group: solicitedNode(STATIC) },
      address(STATIC, 'duplicated'),
      { kind: 'dad-failed', address: STATIC, mac: OTHER.mac, disabled: false },
    );
    expect(addressState(t.state, STATIC)).toBe('duplicated');
    expect(isOurAddress(t.state, STATIC)).toBe(false);
    expect(t.state.addresses.find((a) => a.address === STATIC)?.dad ?? null).toBeNull();
  });

  it('a solicitation received before ours went out (during the random delay) is a conflict too', () => {
    const t = new Script(STATIC_CONFIG).up();
    t.recv(OTHER, ns(STATIC), { src: UNSPEC });
    expect(addressState(t.state, STATIC)).toBe('duplicated');
  });

  it('an advertisement for our tentative address: duplicated', () => {
    const t = new Script(STATIC_CONFIG).up();
    t.recv(OTHER, na(STATIC, { o: true }, tllao(OTHER.mac)), { src: STATIC, dst: ALL_NODES });
    expect(t.take()).toContainEqual({ kind: 'dad-failed', address: STATIC, mac: OTHER.mac, disabled: false });
  });

  it('a solicitation from a unicast source for a tentative address is resolution: ignored, not answered', () => {
    const t = new Script(STATIC_CONFIG).up();
    t.recv(PEER, ns(STATIC, sllao(PEER.mac))).expectIdle('RFC 4862 §5.4.3 "silently ignored"');
    expect(addressState(t.state, STATIC)).toBe('tentative');
    expect(t.counter('ns-tentative-ignored')).toBe(1);
  });

  it('our own solicitation looped back is not a conflict', () => {
    const t = new Script(STATIC_CONFIG).up();
    t.recv(US, ns(STATIC), { src: UNSPEC }).expectIdle('looped');
    expect(addressState(t.state, STATIC)).toBe('tentative');
    expect(t.counter('looped')).toBe(1);
  });

  it('a duplicated link-local address disables IP on the interface', () => {
    const t = new Script().up();
    t.recv(OTHER, ns(US.ip), { src: UNSPEC });
    expect(t.take()).toContainEqual({ kind: 'dad-failed', address: US.ip, mac: OTHER.mac, disabled: true });
    expect(t.state.disabled).toBe(true);
    expect(ndpDeadline(t.state), 'no RS, no DAD').toBeNull();
    const p = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).expectSent('nothing goes out', {
      kind: 'dropped',
      reason: 'interface-disabled',
      addr: PEER.ip,
      bytes: 40,
      packet: p,
    });
    t.recv(ROUTER, ra({}, sllao(ROUTER.mac))).expectIdle('received messages are dropped');
    expect(t.counter('ignored-disabled')).toBe(1);
  });
});

// ---- Neighbor Solicitation processing ----

describe('Neighbor Solicitations (RFC 4861 §7.1.1, §7.2.3, §7.2.4)', () => {
  it('answers a multicast solicitation with a solicited advertisement to the source, and learns it STALE', () => {
    const t = new Script(QUIET).up();
    t.recv(PEER, ns(US.ip, sllao(PEER.mac)));
    t.expectSent(
      'S=1, O=1 (TLLAO included), R=0 (a host), from the target, to the SLLAO address',
      sent(PEER.ip, US.ip, PEER.mac, na(US.ip, { s: true, o: true }, tllao(US.mac))),
    );
    expect(t.entry(PEER.ip)).toMatchObject({ state: 'stale', mac: PEER.mac, isRouter: false });
  });

  it('answers a unicast solicitation without SLLAO to the frame source, learning nothing', () => {
    const t = new Script(QUIET).up();
    t.recv(PEER, ns(US.ip), { dst: US.ip });
    t.expectSent(
      'unicast answer',
      sent(PEER.ip, US.ip, PEER.mac, na(US.ip, { s: true, o: true }, tllao(US.mac))),
    );
    expect(t.entry(PEER.ip), '§7.2: no option, no entry').toBeUndefined();
  });

  it('answers a solicitation from :: (another node checking our address) to all-nodes with S=0', () => {
    const t = new Script(QUIET).up();
    t.recv(OTHER, ns(US.ip), { src: UNSPEC });
    t.expectSent('defends the address', multicast(ALL_NODES, US.ip, na(US.ip, { o: true }, tllao(US.mac))));
    expect(t.state.neighbours.size, '"MUST NOT create or update the Neighbor Cache"').toBe(0);
    expect(addressState(t.state, US.ip)).toBe('preferred');
  });

  it('updates an entry whose link-layer address changed: STALE, IsRouter untouched', () => {
    const t = withEntry('reachable');
    t.recv(PEER, na(PEER.ip, { r: true, s: true }), { dst: US.ip }).drain();
    expect(t.entry(PEER.ip)?.isRouter).toBe(true);
    t.recv({ ip: PEER.ip, mac: MOVED }, ns(US.ip, sllao(MOVED))).drain();
    expect(t.entry(PEER.ip)).toMatchObject({ state: 'stale', mac: MOVED, isRouter: true });
  });

  it.each<[string, Partial<{ src: Ipv6Addr; dst: Ipv6Addr; hopLimit: number }>, Icmpv6Repr, NdpCounterName]>([
    ['a hop limit below 255', { hopLimit: 254 }, ns(US.ip, sllao(PEER.mac)), 'bad-hop-limit'],
    ['a multicast target', {}, ns(ALL_NODES, sllao(PEER.mac)), 'bad-target'],
    ['a multicast source', { src: ALL_NODES }, ns(US.ip), 'bad-source'],
    [
      'from :: not to a solicited-node group',
      { src: UNSPEC, dst: ALL_NODES },
      ns(US.ip),
      'ns-dad-bad-destination',
    ],
    ['from :: with a SLLAO', { src: UNSPEC }, ns(US.ip, sllao(PEER.mac)), 'ns-dad-with-sllao'],
    ['for an address not ours', {}, ns(OTHER.ip, sllao(PEER.mac)), 'ns-not-for-us'],
    [
      'our own address as its source (another station)',
      { src: US.ip },
      ns(US.ip, sllao(PEER.mac)),
      'source-is-ours',
    ],
  ])('discards a solicitation with %s', (_name, o, message, counter) => {
    const t = new Script(QUIET).up();
    const before = t.state;
    t.recv(PEER, message, o).expectIdle('silently discarded');
    expect(t.counter(counter)).toBe(1);
    expect(t.state.neighbours).toBe(before.neighbours);
  });
});

// ---- address resolution and NUD, one describe per state ----

describe('no entry: a packet to send (RFC 4861 §7.2.2)', () => {
  it('creates an INCOMPLETE entry, queues the packet and multicasts a solicitation from its source', () => {
    const t = new Script({ ...QUIET, staticAddresses: [{ address: STATIC, prefixLen: 64 }] }).up();
    const p = ipPacket(STATIC, GPEER.ip);
    t.send(GPEER.ip, p).expectSent(
      '"the prompting packet\'s source address"',
      resolutionNs(GPEER.ip, STATIC),
    );
    expect(t.entry(GPEER.ip)).toMatchObject({ state: 'incomplete', solicits: 1 });
    expect(ndpDeadline(t.state)).toBe(1000);
  });

  it('solicits from the link-local address for a link-local target when the source is not ours', () => {
    const t = new Script(QUIET).up();
    t.send(PEER.ip, ipPacket(addr('2001:db8::99'), PEER.ip)).expectSent('link-local', resolutionNs(PEER.ip));
  });

  it('solicits from :: without SLLAO when no address is assigned yet', () => {
    const t = new Script({ maxRtrSolicitations: 0 }).up();
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip)).expectSent(
      'still tentative',
      multicast(solicitedNode(PEER.ip), UNSPEC, ns(PEER.ip)),
    );
  });

  it('maps multicast next hops without resolution (RFC 2464 §7)', () => {
    const t = new Script(QUIET).up();
    const p = ipPacket(US.ip, ALL_NODES);
    t.send(ALL_NODES, p).expectSent('33:33:00:00:00:01', transmit(0x3333_0000_0001 as Mac, p));
    expect(t.state.neighbours.size).toBe(0);
  });

  it.each([
    ['::', UNSPEC],
    ['::1', addr('::1')],
    ['our own address', US.ip],
  ])('drops a packet for %s', (_name, a) => {
    const t = new Script(QUIET).up();
    const p = ipPacket(US.ip, a);
    t.send(a, p).expectSent('never resolved', {
      kind: 'dropped',
      reason: 'invalid-address',
      addr: a,
      bytes: 40,
      packet: p,
    });
  });
});

describe('INCOMPLETE', () => {
  it('retransmits every RetransTimer; after MAX_MULTICAST_SOLICIT reports the queued packets unreachable', () => {
    const t = new Script(QUIET).up();
    const p1 = ipPacket(US.ip, PEER.ip);
    const p2 = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p1).expectSent('first', resolutionNs(PEER.ip));
    t.send(PEER.ip, p2).expectIdle(
      '"rate-limited to at most one solicitation per neighbor every RetransTimer"',
    );
    t.advance(999).expectIdle('not yet');
    t.advance(1).expectSent('second', resolutionNs(PEER.ip));
    t.advance(1000).expectSent('third', resolutionNs(PEER.ip));
    t.advance(1000).expectSent('address resolution has failed', {
      kind: 'unreachable',
      addr: PEER.ip,
      packets: [p1, p2],
    });
    expect(t.entry(PEER.ip), '"the entry SHOULD be deleted"').toBeUndefined();
    expect(t.state.pendingBytes).toBe(0);
    expect(t.counter('unreachable')).toBe(2);
    expect(ndpDeadline(t.state)).toBeNull();
  });

  it('NA with S=1 and a TLLAO: REACHABLE, queued packets out in order', () => {
    const t = withEntry('incomplete');
    const queued = t.entry(PEER.ip);
    const p2 = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p2);
    t.recv(PEER, na(PEER.ip, { s: true }, tllao(PEER.mac)));
    const first = queued?.state === 'incomplete' ? queued.queue[0]!.packet : undefined;
    t.expectSent('the queue, oldest first', transmit(PEER.mac, first!), transmit(PEER.mac, p2));
    expect(t.entry(PEER.ip)).toMatchObject({ state: 'reachable', mac: PEER.mac });
    expect(t.state.pendingBytes).toBe(0);
  });

  it('upper-layer confirmation does nothing to an INCOMPLETE entry (§7.3.3)', () => {
    const t = withEntry('incomplete');
    const before = t.state;
    t.confirm(PEER.ip).expectIdle('no link-layer address yet');
    expect(t.state).toBe(before);
  });

  it('bounds the queue per neighbour: the oldest packet goes first (§7.2.2)', () => {
    const t = new Script({ ...QUIET, pendingPerNeighbour: 2 }).up();
    const [p1, p2, p3] = [1, 2, 3].map(() => ipPacket(US.ip, PEER.ip));
    t.send(PEER.ip, p1!).send(PEER.ip, p2!).drain();
    t.send(PEER.ip, p3!).expectSent('"the new arrival SHOULD replace the oldest entry"', {
      kind: 'dropped',
      reason: 'queue-full',
      addr: PEER.ip,
      bytes: 40,
      packet: p1!,
    });
  });

  it('bounds the bytes per neighbour and in all, counting the buffer a view pins', () => {
    const t = new Script({ ...QUIET, pendingBytesPerNeighbour: 100, maxPendingTotalBytes: 150 }).up();
    const big = new Uint8Array(200).subarray(0, 40);
    t.send(PEER.ip, big).drain();
    expect(t.counter('too-big')).toBe(1);
    const a = ipPacket(US.ip, PEER.ip, 80);
    const b = ipPacket(US.ip, OTHER.ip, 80);
    t.send(PEER.ip, a).send(OTHER.ip, b);
    expect(t.take().filter((o) => o.kind === 'dropped')).toEqual([
      { kind: 'dropped', reason: 'pending-budget', addr: PEER.ip, bytes: 80, packet: a },
    ]);
    expect(t.state.pendingBytes).toBe(80);
  });
});

describe('REACHABLE', () => {
  it('sends at once; after ReachableTime becomes STALE', () => {
    const t = withEntry('reachable');
    const p = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).expectSent(
      '"no special action takes place as packets are sent"',
      transmit(PEER.mac, p),
    );
    const e = t.entry(PEER.ip);
    const reachable = t.state.reachableTime;
    expect(e?.state === 'reachable' && e.expires).toBe(t.now + reachable);
    expect(reachable).toBeGreaterThanOrEqual(15_000);
    expect(reachable).toBeLessThan(45_000);
    t.advanceToDeadline().expectIdle('a silent change');
    expect(t.stateOf(PEER.ip)).toBe('stale');
  });

  it('a packet after ReachableTime but before the tick goes out and starts DELAY (§7.3.3 note)', () => {
    const t = withEntry('reachable');
    t.now = ndpDeadline(t.state)! + 10;
    const p = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).expectSent('sent', transmit(PEER.mac, p));
    expect(t.stateOf(PEER.ip)).toBe('delay');
  });

  it('upper-layer confirmation extends it (§7.3.1)', () => {
    const t = withEntry('reachable');
    t.advance(10_000).confirm(PEER.ip);
    const e = t.entry(PEER.ip);
    expect(e?.state === 'reachable' && e.expires).toBe(t.now + t.state.reachableTime);
  });
});

describe('STALE', () => {
  it('the first packet goes out and starts DELAY (DELAY_FIRST_PROBE_TIME)', () => {
    const t = withEntry('stale');
    expect(ndpDeadline(t.state), 'no timer while STALE').toBeNull();
    const p = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).expectSent('sent to the cached address', transmit(PEER.mac, p));
    expect(t.entry(PEER.ip)).toMatchObject({ state: 'delay', probeAt: t.now + 5000 });
  });

  it('upper-layer confirmation makes it REACHABLE', () => {
    const t = withEntry('stale').confirm(PEER.ip);
    expect(t.stateOf(PEER.ip)).toBe('reachable');
  });
});

describe('DELAY', () => {
  it('probes with a unicast solicitation after DELAY_FIRST_PROBE_TIME', () => {
    const t = withEntry('delay');
    t.advance(4999).expectIdle('giving upper layers a chance');
    t.advance(1).expectSent('"Send unicast NS probe"', probeNs(PEER));
    expect(t.entry(PEER.ip)).toMatchObject({ state: 'probe', probes: 1 });
  });

  it('confirmation before the timer: REACHABLE, no probe', () => {
    const t = withEntry('delay').confirm(PEER.ip);
    expect(t.stateOf(PEER.ip)).toBe('reachable');
    t.advance(5000).expectIdle('no probe');
  });

  it('keeps sending while waiting', () => {
    const t = withEntry('delay');
    const p = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).expectSent('sent', transmit(PEER.mac, p));
    expect(t.stateOf(PEER.ip)).toBe('delay');
  });
});

describe('PROBE', () => {
  it('retransmits every RetransTimer; after MAX_UNICAST_SOLICIT the entry is deleted', () => {
    const t = withEntry('probe');
    t.advance(1000).expectSent('second probe', probeNs(PEER));
    t.advance(1000).expectSent('third probe', probeNs(PEER));
    t.advance(1000).expectIdle('"retransmissions cease"');
    expect(t.entry(PEER.ip), '"the entry SHOULD be deleted"').toBeUndefined();
    expect(t.counter('probe-failed')).toBe(1);
  });

  it('a solicited advertisement answers the probe: REACHABLE', () => {
    const t = withEntry('probe').recv(PEER, na(PEER.ip, { s: true }));
    expect(t.stateOf(PEER.ip), '§7.2.5 II: no TLLAO needed for a unicast probe').toBe('reachable');
  });

  it('keeps sending to the cached address while probing (§7.3.3)', () => {
    const t = withEntry('probe');
    const p = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).expectSent('sent', transmit(PEER.mac, p));
  });
});

describe('RFC 4861 Appendix C: Neighbor Advertisements, row by row', () => {
  type Lla = 'none' | 'same' | 'different';
  type Row = [
    from: NeighbourState | '!INCOMPLETE',
    s: 0 | 1,
    o: 0 | 1,
    lla: Lla,
    to: NeighbourState | 'unchanged',
    mac: 'old' | 'new',
  ];
  const rows: Row[] = [
    ['incomplete', 0, 0, 'different', 'stale', 'new'],
    ['incomplete', 0, 1, 'different', 'stale', 'new'],
    ['incomplete', 1, 0, 'different', 'reachable', 'new'],
    ['incomplete', 1, 1, 'different', 'reachable', 'new'],
    // §7.2.5: "no Target Link-Layer Address option ... SHOULD silently discard" (README).
    ['incomplete', 1, 1, 'none', 'unchanged', 'old'],
    ['!INCOMPLETE', 1, 0, 'same', 'reachable', 'old'],
    // §7.2.5 II: without the option a solicited NA confirms (unicast probes may omit it, §7.2.4).
    ['!INCOMPLETE', 1, 0, 'none', 'reachable', 'old'],
    ['!INCOMPLETE', 0, 1, 'none', 'unchanged', 'old'],
    ['reachable', 1, 0, 'different', 'stale', 'old'],
    ['stale', 1, 0, 'different', 'unchanged', 'old'],
    ['delay', 1, 0, 'different', 'unchanged', 'old'],
    ['probe', 1, 0, 'different', 'unchanged', 'old'],
    ['!INCOMPLETE', 1, 1, 'different', 'reachable', 'new'],
    ['!INCOMPLETE', 1, 1, 'same', 'reachable', 'old'],
    ['!INCOMPLETE', 0, 0, 'same', 'unchanged', 'old'],
    // §7.2.5 I.a: REACHABLE with a different address and O=0 goes STALE whatever S (README).
    ['reachable', 0, 0, 'different', 'stale', 'old'],
    ['stale', 0, 0, 'different', 'unchanged', 'old'],
    ['!INCOMPLETE', 0, 1, 'same', 'unchanged', 'old'],
    ['!INCOMPLETE', 0, 1, 'different', 'stale', 'new'],
  ];
  const expand = (rs: Row[]) =>
    rs.flatMap(([from, ...rest]) =>
      (from === '!INCOMPLETE' ? (['reachable', 'stale', 'delay', 'probe'] as const) : [from]).map(
        (f) => [f, ...rest] as const,
      ),
    );

  it.each(expand(rows))('%s, S=%i, O=%i, %s link-layer address -> %s', (from, s, o, lla, to, macAfter) => {
    const t = withEntry(from);
    const options = lla === 'none' ? [] : [tllao(lla === 'same' ? PEER.mac : MOVED)];
    t.recv(PEER, na(PEER.ip, { s: s === 1, o: o === 1 }, ...options)).drain();
    const e = t.entry(PEER.ip)!;
    expect(e.state).toBe(to === 'unchanged' ? from : to);
    if (e.state !== 'incomplete') expect(e.mac).toBe(macAfter === 'new' ? MOVED : PEER.mac);
  });

  it('an advertisement for an address without an entry is discarded (§7.2.5)', () => {
    const t = new Script(QUIET).up();
    t.recv(PEER, na(PEER.ip, { s: true, o: true }, tllao(PEER.mac))).expectIdle('no entry created');
    expect(t.state.neighbours.size).toBe(0);
    expect(t.counter('na-no-entry')).toBe(1);
  });

  it.each<[string, Partial<{ dst: Ipv6Addr; hopLimit: number }>, Icmpv6Repr, NdpCounterName]>([
    ['a hop limit below 255', { hopLimit: 64 }, na(PEER.ip, { s: true }, tllao(PEER.mac)), 'bad-hop-limit'],
    ['a multicast target', {}, na(ALL_NODES, { s: true }, tllao(PEER.mac)), 'bad-target'],
    [
      'S=1 to a multicast destination',
      { dst: ALL_NODES },
      na(PEER.ip, { s: true }, tllao(PEER.mac)),
      'na-solicited-multicast',
    ],
  ])('discards an advertisement with %s (§7.1.2)', (_name, o, message, counter) => {
    const t = withEntry('incomplete');
    t.recv(PEER, message, o).expectIdle('discarded');
    expect(t.stateOf(PEER.ip)).toBe('incomplete');
    expect(t.counter(counter)).toBe(1);
  });

  it('an advertisement for an assigned address of ours is reported as a conflict', () => {
    const t = new Script(QUIET).up();
    t.recv(OTHER, na(US.ip, { o: true }, tllao(OTHER.mac)), { dst: ALL_NODES });
    t.expectSent('RFC 4862 §5.4.4: beyond its scope; logged', {
      kind: 'conflict',
      address: US.ip,
      mac: OTHER.mac,
    });
    expect(addressState(t.state, US.ip)).toBe('preferred');
  });

  it('R=0 from a default router removes it from the list (§7.2.5)', () => {
    const t = new Script(QUIET)
      .up()
      .recv(ROUTER, ra({}, sllao(ROUTER.mac)))
      .drain();
    expect(defaultRouter(t.state)).toEqual(ROUTER.ip);
    t.recv(ROUTER, na(ROUTER.ip, { r: false, o: true }, tllao(ROUTER.mac)), { dst: ALL_NODES });
    t.expectSent('no longer a router', { kind: 'router', router: ROUTER.ip, state: 'removed' });
    expect(defaultRouter(t.state)).toBeUndefined();
    expect(t.entry(ROUTER.ip)?.isRouter).toBe(false);
  });
});

describe('RFC 4861 Appendix C: NS, RS, RA, Redirect with a link-layer address', () => {
  it('no entry: created STALE (NS: not a router; RA: a router)', () => {
    const t = new Script(QUIET)
      .up()
      .recv(PEER, ns(US.ip, sllao(PEER.mac)))
      .recv(ROUTER, ra({}, sllao(ROUTER.mac)));
    expect(t.entry(PEER.ip)).toMatchObject({ state: 'stale', isRouter: false });
    expect(t.entry(ROUTER.ip)).toMatchObject({ state: 'stale', isRouter: true, mac: ROUTER.mac });
  });

  it('INCOMPLETE: address recorded, STALE, queued packets sent', () => {
    const t = new Script(QUIET).up();
    const p = ipPacket(US.ip, PEER.ip);
    t.send(PEER.ip, p).drain();
    t.recv(PEER, ns(US.ip, sllao(PEER.mac)));
    expect(t.take()[0]).toEqual(transmit(PEER.mac, p));
    expect(t.stateOf(PEER.ip)).toBe('stale');
  });

  it('INCOMPLETE, NS without a link-layer address: unchanged', () => {
    const t = withEntry('incomplete').recv(PEER, ns(US.ip), { dst: US.ip });
    expect(t.stateOf(PEER.ip)).toBe('incomplete');
  });

  it.each([
    'reachable',
    'delay',
    'probe',
  ] as const)('%s, same address: unchanged; different: STALE', (from) => {
    const t = withEntry(from)
      .recv(PEER, ns(US.ip, sllao(PEER.mac)))
      .drain();
    expect(t.stateOf(PEER.ip)).toBe(from);
    t.recv({ ip: PEER.ip, mac: MOVED }, ns(US.ip, sllao(MOVED))).drain();
    expect(t.entry(PEER.ip)).toMatchObject({ state: 'stale', mac: MOVED });
  });

  it('Router Solicitations and Redirects are discarded by a host (§6.1.1, README)', () => {
    const t = new Script(QUIET).up();
    t.recv(PEER, { kind: 'router-solicitation', options: [sllao(PEER.mac)] }, { dst: ALL_ROUTERS });
    t.recv(ROUTER, { kind: 'redirect', target: PEER.ip, destination: GPEER.ip, options: [tllao(PEER.mac)] });
    t.expectIdle('nothing');
    expect(t.state.neighbours.size).toBe(0);
    expect([t.counter('rs-ignored'), t.counter('redirect-ignored')]).toEqual([1, 1]);
  });
});

describe('neighbour cache bounds (§5.3)', () => {
  it('evicts the least recently confirmed STALE host first, routers last', () => {
    const t = new Script({ ...QUIET, maxNeighbours: 2 }).up();
    t.recv(ROUTER, ra({}, sllao(ROUTER.mac)));
    t.advance(10).recv(PEER, ns(US.ip, sllao(PEER.mac)));
    t.advance(10)
      .recv(OTHER, ns(US.ip, sllao(OTHER.mac)))
      .drain();
    expect(t.entry(PEER.ip), 'the host went').toBeUndefined();
    expect(t.entry(ROUTER.ip)).toBeDefined();
    expect(t.counter('evicted')).toBe(1);
  });

  it('never evicts an entry being resolved: the packet is dropped as table-full', () => {
    const t = new Script({ ...QUIET, maxNeighbours: 1 }).up();
    t.send(PEER.ip, ipPacket(US.ip, PEER.ip)).drain();
    const p = ipPacket(US.ip, OTHER.ip);
    t.send(OTHER.ip, p).expectSent('no room', {
      kind: 'dropped',
      reason: 'table-full',
      addr: OTHER.ip,
      bytes: 40,
      packet: p,
    });
  });

  it('never evicts an entry solicited less than RetransTimer ago (the rate limit would break)', () => {
    const t = withEntry('reachable', PEER, { maxNeighbours: 1 });
    t.send(OTHER.ip, ipPacket(US.ip, OTHER.ip));
    expect(t.counter('table-full')).toBe(1);
    t.advance(1000).send(OTHER.ip, ipPacket(US.ip, OTHER.ip));
    expect(t.counter('evicted')).toBe(1);
  });
});

// ---- routers, prefixes, SLAAC ----

describe('Router Solicitations (RFC 4861 §6.3.7)', () => {
  it('sends MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL apart, then stops', () => {
    const t = new Script({ dupAddrDetectTransmits: 0 }).up();
    t.advanceToDeadline().expectSent('first', rs());
    t.advance(3999).expectIdle('interval');
    t.advance(1).expectSent('second', rs());
    t.advance(4000).expectSent('third', rs());
    expect(ndpDeadline(t.state)).toBeNull();
    expect(t.counter('rs-sent')).toBe(3);
  });

  it('desists after a valid RA with a non-zero router lifetime', () => {
    const t = new Script({ dupAddrDetectTransmits: 0 }).up();
    t.advanceToDeadline().expectSent('first', rs());
    t.recv(ROUTER, ra({ routerLifetime: 0 })).drain();
    expect(t.state.rs, 'a lifetime 0 RA does not stop it').not.toBeNull();
    t.recv(ROUTER, ra({ routerLifetime: 600 })).drain();
    expect(t.state.rs).toBeNull();
    t.advance(10_000).expectIdle('no more solicitations');
  });

  it('sends one solicitation if an RA came before the first', () => {
    const t = new Script({ dupAddrDetectTransmits: 0 }).up();
    t.recv(ROUTER, ra({}, sllao(ROUTER.mac))).drain();
    t.advanceToDeadline().expectSent('"at least one solicitation"', rs());
    expect(t.state.rs).toBeNull();
  });
});

describe('Router Advertisements (RFC 4861 §6.1.2, §6.3.4, §6.3.5)', () => {
  it('adds the router with its lifetime, then times it out', () => {
    const t = new Script(QUIET).up();
    t.recv(ROUTER, ra({ routerLifetime: 30 }, sllao(ROUTER.mac)));
    t.expectSent('added', { kind: 'router', router: ROUTER.ip, state: 'added' });
    expect(t.state.routers).toEqual([{ addr: ROUTER.ip, expires: 30_000 }]);
    t.advance(20_000)
      .recv(ROUTER, ra({ routerLifetime: 30 }))
      .expectIdle('refreshed');
    expect(t.state.routers[0]!.expires).toBe(50_000);
    t.advanceTo(50_000).expectSent('expired', { kind: 'router', router: ROUTER.ip, state: 'removed' });
  });

  it('a zero router lifetime times the router out at once', () => {
    const t = new Script(QUIET).up().recv(ROUTER, ra({})).drain();
    t.recv(ROUTER, ra({ routerLifetime: 0 })).expectSent('removed', {
      kind: 'router',
      router: ROUTER.ip,
      state: 'removed',
    });
  });

  it('copies Cur Hop Limit, Reachable Time and Retrans Timer when specified (non-zero)', () => {
    const t = new Script(QUIET).up();
    t.recv(ROUTER, ra({ curHopLimit: 32, reachableTime: 10_000, retransTimer: 2000 }));
    expect([curHopLimit(t.state), t.state.baseReachableTime, t.state.retransTimer]).toEqual([
      32, 10_000, 2000,
    ]);
    expect(t.state.reachableTime).toBeGreaterThanOrEqual(5000);
    expect(t.state.reachableTime).toBeLessThan(15_000);
    const drawn = t.state.reachableTime;
    t.recv(ROUTER, ra({ curHopLimit: 0, reachableTime: 0, retransTimer: 0 }));
    expect(
      [curHopLimit(t.state), t.state.baseReachableTime, t.state.reachableTime, t.state.retransTimer],
      '"MUST NOT interpret the unspecified value as meaning change back to the default"',
    ).toEqual([32, 10_000, drawn, 2000]);
  });

  it('takes an MTU between 1280 and the link maximum', () => {
    const t = new Script(QUIET).up();
    t.recv(ROUTER, ra({}, { kind: 'mtu', mtu: 1400 })).take();
    expect(linkMtu(t.state)).toBe(1400);
    for (const mtu of [1279, 1501]) t.recv(ROUTER, ra({}, { kind: 'mtu', mtu }));
    expect(linkMtu(t.state)).toBe(1400);
    expect(t.counter('mtu-ignored')).toBe(2);
  });

  it('without SLLAO marks an existing entry as a router and creates none', () => {
    const t = withEntry('stale', ROUTER).recv(ROUTER, ra({})).drain();
    expect(t.entry(ROUTER.ip)?.isRouter).toBe(true);
    const u = new Script(QUIET).up().recv(ROUTER, ra({}));
    expect(u.entry(ROUTER.ip)).toBeUndefined();
  });

  it.each<[string, Partial<{ src: Ipv6Addr; hopLimit: number }>, Overrides, NdpCounterName]>([
    ['a global source', { src: GPEER.ip }, {}, 'ra-bad-source'],
    ['a hop limit below 255', { hopLimit: 1 }, {}, 'bad-hop-limit'],
    ['acceptRa off', {}, { acceptRa: false }, 'ra-ignored'],
    ['our own link-local source (another station)', { src: US.ip }, {}, 'source-is-ours'],
  ])('discards an RA with %s', (_name, o, overrides, counter) => {
    const t = new Script({ ...QUIET, ...overrides }).up();
    t.recv(ROUTER, ra({}, sllao(ROUTER.mac), pio(PREFIX)), o).expectIdle('discarded');
    expect(t.state.routers).toEqual([]);
    expect(t.counter(counter)).toBe(1);
  });

  it('ignores RAs before start (no link-local address to build on)', () => {
    const t = new Script(QUIET).recv(ROUTER, ra({}, sllao(ROUTER.mac), pio(PREFIX))).expectIdle('ignored');
    expect(t.counter('ra-ignored')).toBe(1);
  });

  it('keeps at most maxRouters, and the ones it has', () => {
    const t = new Script({ ...QUIET, maxRouters: 2 }).up();
    t.recv(ROUTER, ra({})).recv(ROUTER2, ra({})).recv(OTHER, ra({}));
    expect(t.state.routers.map((r) => r.addr)).toEqual([ROUTER.ip, ROUTER2.ip]);
    expect(t.counter('router-list-full')).toBe(1);
  });
});

describe('default router selection (RFC 4861 §6.3.6)', () => {
  it('prefers a router whose entry is not INCOMPLETE', () => {
    const t = new Script(QUIET)
      .up()
      .recv(ROUTER, ra({}))
      .recv(ROUTER2, ra({}, sllao(ROUTER2.mac)));
    expect(defaultRouter(t.state), 'ROUTER has no entry, ROUTER2 is STALE').toEqual(ROUTER2.ip);
  });

  it('cycles: a router whose resolution fails goes to the end of the list', () => {
    const t = new Script(QUIET).up().recv(ROUTER, ra({})).recv(ROUTER2, ra({}));
    expect(defaultRouter(t.state)).toEqual(ROUTER.ip);
    t.send(ROUTER.ip, ipPacket(US.ip, GPEER.ip)).advance(1000).advance(1000).advance(1000).drain();
    expect(t.entry(ROUTER.ip)).toBeUndefined();
    expect(defaultRouter(t.state)).toEqual(ROUTER2.ip);
  });
});

describe('on-link prefixes (RFC 4861 §6.3.4, §6.3.5)', () => {
  it('adds an on-link prefix with its valid lifetime and times it out', () => {
    const t = new Script({ ...QUIET, slaac: false }).up();
    expect(onLink(t.state, GPEER.ip)).toBe(false);
    t.recv(ROUTER, ra({ routerLifetime: 0 }, pio(PREFIX, { valid: 60 })));
    t.expectSent('added', { kind: 'prefix', prefix: PREFIX, prefixLen: 64, state: 'added' });
    expect(onLink(t.state, GPEER.ip)).toBe(true);
    t.advance(60_000).expectSent('expired', {
      kind: 'prefix',
      prefix: PREFIX,
      prefixLen: 64,
      state: 'removed',
    });
    expect(onLink(t.state, GPEER.ip)).toBe(false);
  });

  it('a zero valid lifetime removes it at once; L=0 says nothing; link-local prefixes are ignored', () => {
    const t = new Script({ ...QUIET, slaac: false })
      .up()
      .recv(ROUTER, ra({}, pio(PREFIX)))
      .drain();
    t.recv(ROUTER, ra({}, pio(PREFIX, { onLink: false, valid: 0 }))).expectIdle('"MUST NOT be interpreted"');
    t.recv(ROUTER, ra({}, pio(PREFIX, { valid: 0 }))).expectSent('removed', {
      kind: 'prefix',
      prefix: PREFIX,
      prefixLen: 64,
      state: 'removed',
    });
    t.recv(ROUTER, ra({}, pio(addr('fe80::'), { valid: 60 }))).expectIdle('link-local');
    expect(t.counter('pio-ignored')).toBe(1);
  });

  it('static address prefixes and link-local and multicast addresses are on-link', () => {
    const t = new Script({ ...QUIET, staticAddresses: [{ address: STATIC, prefixLen: 64 }] }).up();
    expect([addr('2001:db8:9::77'), PEER.ip, ALL_NODES].map((a) => onLink(t.state, a))).toEqual([
      true,
      true,
      true,
    ]);
    expect(sourceAddress(t.state, addr('2001:db8:9::77'))).toEqual(STATIC);
    expect(sourceAddress(t.state, PEER.ip)).toEqual(US.ip);
  });
});

describe('SLAAC (RFC 4862 §5.5.3, §5.5.4)', () => {
  /** Up with the link-local address preferred and the RS done. */
  const host = (overrides: Overrides = {}) => {
    const t = new Script({ maxRtrSolicitations: 0, ...overrides }).up();
    while (addressState(t.state, US.ip) === 'tentative') t.advanceToDeadline();
    return t.drain();
  };

  it('forms prefix + EUI-64, tentative; DAD after a random delay for a multicast RA', () => {
    const t = host();
    t.recv(ROUTER, ra({}, pio(PREFIX)));
    t.expectSent(
      'the prefix, then the address (its solicited-node group is the link-local one: no join)',
      { kind: 'router', router: ROUTER.ip, state: 'added' },
      { kind: 'prefix', prefix: PREFIX, prefixLen: 64, state: 'added' },
      address(SLAAC, 'tentative'),
    );
    expect(t.address(SLAAC)).toMatchObject({ origin: 'slaac', preferredUntil: t.now + 14_400_000 });
    t.advanceToDeadline().expectSent('DAD', dadNs(SLAAC));
    t.advance(1000).expectSent('preferred', address(SLAAC, 'preferred'));
    expect(isOurAddress(t.state, SLAAC)).toBe(true);
    expect(sourceAddress(t.state, GPEER.ip)).toEqual(SLAAC);
  });

  it('runs DAD at once for a unicast RA', () => {
    const t = host();
    t.recv(ROUTER, ra({ routerLifetime: 0 }, pio(PREFIX, { onLink: false })), { dst: US.ip });
    t.expectSent('no delay', address(SLAAC, 'tentative'), dadNs(SLAAC));
  });

  it.each<[string, NdpOption]>([
    ['A=0', pio(PREFIX, { autonomous: false })],
    ['the link-local prefix', pio(addr('fe80::'), { onLink: false })],
    ['preferred lifetime > valid lifetime', pio(PREFIX, { valid: 100, preferred: 200 })],
    ['a /48 (48 + 64 != 128)', pio(PREFIX, { len: 48, onLink: false })],
    ['valid lifetime 0', pio(PREFIX, { valid: 0, preferred: 0, onLink: false })],
  ])('forms nothing from %s', (_name, option) => {
    const t = host();
    t.recv(ROUTER, ra({ routerLifetime: 0 }, option));
    expect(t.state.addresses.filter((a) => a.origin === 'slaac')).toEqual([]);
  });

  it('deprecates at the preferred lifetime and removes at the valid lifetime', () => {
    const t = host({ dupAddrDetectTransmits: 0 });
    t.recv(
      ROUTER,
      ra({ routerLifetime: 0 }, pio(PREFIX, { onLink: false, valid: 100, preferred: 40 })),
    ).drain();
    t.advance(40_000).expectSent('deprecated', address(SLAAC, 'deprecated'));
    expect(isOurAddress(t.state, SLAAC), 'still valid').toBe(true);
    t.advance(60_000).expectSent(
      'invalid (the group stays: the link-local address shares it)',
      address(SLAAC, 'removed'),
    );
    expect(addressState(t.state, SLAAC)).toBeUndefined();
  });

  const H = 3600;
  it.each<[string, number, number, number]>([
    // [case, remaining lifetime s, received valid lifetime s, resulting lifetime s]
    ['1. received > 2 hours', 10 * H, 3 * H, 3 * H],
    ['1. received > remaining', 1 * H, 1.5 * H, 1.5 * H],
    ['1. infinity', 10 * H, INFINITE_LIFETIME, Number.POSITIVE_INFINITY],
    ['2. remaining <= 2 hours: ignored', 1.5 * H, 600, 1.5 * H],
    ['2. remaining <= 2 hours, zero: ignored', 2 * H, 0, 2 * H],
    ['3. otherwise: 2 hours', 10 * H, 600, 2 * H],
    ['3. zero: 2 hours', 10 * H, 0, 2 * H],
  ])('two-hour rule, case %s', (_name, remaining, received, expected) => {
    const t = host({ dupAddrDetectTransmits: 0 });
    t.recv(
      ROUTER,
      ra({ routerLifetime: 0 }, pio(PREFIX, { onLink: false, valid: remaining, preferred: 0 })),
    ).drain();
    t.recv(
      ROUTER,
      ra({ routerLifetime: 0 }, pio(PREFIX, { onLink: false, valid: received, preferred: 0 })),
    ).drain();
    expect(t.address(SLAAC)!.validUntil).toBe(t.now + expected * 1000);
  });

  it('always resets the preferred lifetime: a deprecated address becomes preferred again', () => {
    const t = host({ dupAddrDetectTransmits: 0 });
    t.recv(
      ROUTER,
      ra({ routerLifetime: 0 }, pio(PREFIX, { onLink: false, valid: 3 * H, preferred: 0 })),
    ).drain();
    expect(addressState(t.state, SLAAC)).toBe('deprecated');
    t.recv(ROUTER, ra({ routerLifetime: 0 }, pio(PREFIX, { onLink: false, valid: 600, preferred: 300 })));
    t.expectSent('preferred again', address(SLAAC, 'preferred'));
    expect(t.address(SLAAC)).toMatchObject({
      preferredUntil: t.now + 300_000,
      validUntil: t.now + 2 * H * 1000,
    });
  });

  it('is off with slaac false, and bounded by maxAutoconfAddresses', () => {
    expect(host({ slaac: false }).recv(ROUTER, ra({}, pio(PREFIX))).state.addresses).toHaveLength(1);
    const t = host({ maxAutoconfAddresses: 1 });
    t.recv(ROUTER, ra({}, pio(PREFIX), pio(addr('2001:db8:2::'))));
    expect(t.state.addresses.map((a) => a.origin)).toEqual(['link-local', 'slaac']);
    expect(t.counter('slaac-list-full')).toBe(1);
  });

  it('a duplicated SLAAC address is never assigned', () => {
    const t = host();
    t.recv(ROUTER, ra({}, pio(PREFIX))).drain();
    t.recv(OTHER, ns(SLAAC), { src: UNSPEC });
    expect(addressState(t.state, SLAAC)).toBe('duplicated');
    expect(t.state.disabled).toBe(false);
    t.recv(ROUTER, ra({}, pio(PREFIX))).drain();
    expect(addressState(t.state, SLAAC), 'not formed again').toBe('duplicated');
  });
});

// ---- the same exchange as Linux (test/golden/icmp6.pcap, README there) ----

interface Captured {
  readonly srcMac: Mac;
  readonly dstMac: Mac;
  readonly src: Ipv6Addr;
  readonly dst: Ipv6Addr;
  readonly hopLimit: number;
  readonly icmp: Uint8Array;
  readonly repr: Icmpv6Repr;
}

const CAPTURE = (() => {
  const file = parsePcap(new Uint8Array(readFileSync(new URL('../golden/icmp6.pcap', import.meta.url))));
  if (!file.ok) throw new Error(file.error.kind);
  return file.value.frames;
})();

/** Frame `n` (1-based, as in the README table): an ICMPv6 message right after the fixed header. */
function frame(n: number): Captured {
  const eth = parseEthernet(CAPTURE[n - 1]!.bytes);
  if (!eth.ok) throw new Error(eth.error.kind);
  const ip = parseIpv6(eth.value.payload);
  if (!ip.ok || ip.value.repr.nextHeader !== 58) throw new Error(`frame ${n} is not ICMPv6`);
  const { src, dst, hopLimit } = ip.value.repr;
  const icmp = ip.value.payload;
  const m = parseIcmpv6(icmp, { version: 6, src, dst });
  if (!m.ok) throw new Error(m.error.kind);
  return {
    srcMac: eth.value.repr.src,
    dstMac: eth.value.repr.dst,
    src,
    dst,
    hopLimit,
    icmp,
    repr: m.value.repr,
  };
}

function received(c: Captured, now: number): NdpEvent {
  return {
    kind: 'received',
    now,
    src: c.src,
    dst: c.dst,
    hopLimit: c.hopLimit,
    srcMac: c.srcMac,
    message: c.repr,
  };
}

/** The ICMPv6 bytes of a `send` output. */
function wire(o: NdpOutput): Uint8Array {
  if (o.kind !== 'send') throw new Error(o.kind);
  const buf = new Uint8Array(icmpv6HeaderLen(o.message));
  emitIcmpv6(o.message, buf, { version: 6, src: o.src, dst: o.dst });
  return buf;
}

/** Linux's DAD solicitations carry a nonce (RFC 7527, option 14); ours do not. */
function withoutNonce(r: Icmpv6Repr): Icmpv6Repr {
  return r.kind === 'neighbor-solicitation'
    ? { ...r, options: r.options.filter((o) => !(o.kind === 'unknown' && o.type === 14)) }
    : r;
}

describe('against Linux 6.18 (test/golden/icmp6.pcap)', () => {
  const A = frame(10).srcMac; // 02:00:00:00:00:0a, host A
  const B = frame(11).srcMac; // 02:00:00:00:00:0b, router B

  it('as host A: DAD, RS, SLAAC from the RA, resolution of B, router gone', () => {
    const t = new Script({}, 3);
    expect(t.state.config.mac).toBe(A);
    t.start().drain().advanceToDeadline();
    const [dad] = t.take();
    const f5 = frame(5);
    expect(dad).toMatchObject({ dst: f5.dst, src: f5.src, dstMac: f5.dstMac, hopLimit: f5.hopLimit });
    expect(dad?.kind === 'send' && dad.message).toEqual(withoutNonce(f5.repr));

    t.advanceToDeadline();
    const [, rsOut] = t.take();
    const f10 = frame(10);
    expect(rsOut).toMatchObject({ dst: f10.dst, src: f10.src, dstMac: f10.dstMac });
    expect(wire(rsOut!), 'the RS byte for byte').toEqual(f10.icmp);

    const [s, out] = step(t.state, received(frame(11), t.now));
    t.state = s;
    const f12 = frame(12);
    expect(out.filter((o) => o.kind === 'send').map((o) => o.kind === 'send' && o.message)).toEqual([
      withoutNonce(f12.repr),
    ]);
    expect(defaultRouter(t.state)).toEqual(frame(11).src);
    expect(t.state.rs, 'desisted').toBeNull();
    expect(onLink(t.state, addr('2001:db8:1::2'))).toBe(true);
    t.advance(1000).drain();
    expect(addressState(t.state, addr('2001:db8:1::ff:fe00:a')), 'the address Linux formed').toBe(
      'preferred',
    );

    const f16 = frame(16);
    const packet = ipPacket(f16.src, addr('2001:db8:1::2'));
    t.send(addr('2001:db8:1::2'), packet);
    const [nsOut] = t.take();
    expect(nsOut).toMatchObject({ dst: f16.dst, src: f16.src, dstMac: f16.dstMac });
    expect(wire(nsOut!), 'the NS byte for byte').toEqual(f16.icmp);

    const [s2, out2] = step(t.state, received(frame(17), t.now + 1));
    expect(out2).toEqual([transmit(B, packet)]);
    expect(neighbour(s2, addr('2001:db8:1::2'))).toMatchObject({ state: 'reachable', isRouter: true });

    const [s3, out3] = step(s2, received(frame(28), t.now + 2));
    expect(out3).toEqual([{ kind: 'router', router: frame(28).src, state: 'removed' }]);
    expect(defaultRouter(s3)).toBeUndefined();
  });

  it("as B: answers A's solicitation like Linux, but as a host (R=0)", () => {
    const s0 = initialNdp(
      ndpConfig(B, { ...QUIET, staticAddresses: [{ address: addr('2001:db8:1::2'), prefixLen: 64 }] }),
      0,
      1,
    );
    const [s1] = ndpStep(s0, { kind: 'start', now: 0 });
    const [, ignored] = ndpStep(s1, received(frame(5), 1));
    expect(ignored, "A's DAD is for an address not ours").toEqual([]);
    const [s2, out] = ndpStep(s1, received(frame(16), 2));
    const f17 = frame(17);
    expect(out).toEqual([sent(f17.dst, f17.src, f17.dstMac, { ...f17.repr, router: false } as Icmpv6Repr)]);
    expect(lookup(s2, frame(16).src)).toBe(A);
  });
});

// ---- properties ----

function check(ok: boolean, what: string, detail?: unknown): void {
  if (!ok) throw new Error(detail === undefined ? what : `${what}: ${JSON.stringify(detail)}`);
}

interface Tracked {
  readonly key: string;
  readonly index: number;
  reported: number;
}

function due(s: NdpState): number | null {
  let t = s.rs?.due ?? Number.POSITIVE_INFINITY;
  for (const a of s.addresses) {
    if (a.dad !== null) t = Math.min(t, a.dad.due);
    if (a.state === 'preferred') t = Math.min(t, a.preferredUntil);
    t = Math.min(t, a.validUntil);
  }
  for (const r of s.routers) t = Math.min(t, r.expires);
  for (const p of s.prefixes) t = Math.min(t, p.expires);
  for (const e of s.neighbours.values()) {
    const when =
      e.state === 'incomplete'
        ? e.nextSolicit
        : e.state === 'reachable'
          ? e.expires
          : e.state === 'delay'
            ? e.probeAt
            : e.state === 'probe'
              ? e.nextProbe
              : Number.POSITIVE_INFINITY;
    t = Math.min(t, when);
  }
  return t === Number.POSITIVE_INFINITY ? null : t;
}

function checkBounds(s: NdpState): void {
  const c = s.config;
  check(s.neighbours.size <= c.maxNeighbours, 'neighbours within maxNeighbours');
  let pending = 0;
  for (const [key, e] of s.neighbours) {
    check(key === neighbourKey(e.addr), 'keyed by its address');
    const text = ipv6Key(e.addr);
    check(
      !isIpv6Multicast(e.addr) && text !== '::' && text !== '::1',
      'never an entry for a special address',
      text,
    );
    if (e.state !== 'incomplete') continue;
    check(e.queue.length <= c.pendingPerNeighbour, 'packets per neighbour within bound');
    check(e.queueBytes === e.queue.reduce((n, q) => n + q.bytes, 0), 'queueBytes is the sum of the queue');
    check(e.queueBytes <= c.pendingBytesPerNeighbour, 'bytes per neighbour within bound');
    pending += e.queueBytes;
  }
  check(s.pendingBytes === pending, 'pendingBytes is the sum of the queues');
  const incomplete = [...s.neighbours.values()].filter((e) => e.state === 'incomplete').length;
  check(s.incomplete === incomplete, 'incomplete counts the INCOMPLETE entries', [s.incomplete, incomplete]);
  check(incomplete <= c.maxIncomplete, 'INCOMPLETE entries within maxIncomplete');
  check(s.pendingBytes <= c.maxPendingTotalBytes, 'pending bytes within the global bound');
  check(s.routers.length <= c.maxRouters, 'routers within bound');
  check(s.prefixes.length <= c.maxPrefixes, 'prefixes within bound');
  check(
    s.addresses.filter((a) => a.origin === 'slaac').length <= c.maxAutoconfAddresses,
    'SLAAC addresses within bound',
  );
  check(new Set(s.addresses.map((a) => ipv6Key(a.address))).size === s.addresses.length, 'addresses unique');
  check(ndpDeadline(s) === due(s), 'deadline is the earliest due time', [ndpDeadline(s), due(s)]);
  check(s.linkMtu >= 1280 && s.linkMtu <= c.mtu, 'LinkMTU within bounds');
}

/** Ticking before the deadline changes nothing; ticking at it changes something. */
function checkDeadline(s: NdpState, now: number): void {
  const d = ndpDeadline(s);
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

/** Every `send` is a valid ND message on the wire: it re-parses, hop limit 255, §7.1 rules hold. */
function checkSend(o: Extract<NdpOutput, { kind: 'send' }>, assigned: (a: Uint8Array) => boolean): void {
  check(o.hopLimit === 255, 'hop limit 255');
  const bytes = wire(o);
  const parsed = parseIcmpv6(bytes, { version: 6, src: o.src, dst: o.dst });
  check(
    parsed.ok && JSON.stringify(parsed.value.repr) === JSON.stringify(o.message),
    're-parses',
    o.message.kind,
  );
  const unspecified = ipv6Key(o.src) === '::';
  check(unspecified || assigned(o.src), 'sent from :: or an assigned address of ours', ipv6Key(o.src));
  if (isIpv6Multicast(o.dst))
    check(o.dstMac === ipv6MulticastMac(o.dst), 'multicast MAC for a multicast destination');
  const m = o.message;
  if (m.kind === 'neighbor-solicitation') {
    check(!isIpv6Multicast(m.target), 'target not multicast');
    if (unspecified) {
      check(isSolicitedNode(o.dst), 'NS from :: goes to a solicited-node group');
      check(m.options.length === 0, 'NS from :: has no SLLAO');
    }
  }
  if (m.kind === 'neighbor-advertisement') {
    check(!(m.solicited && isIpv6Multicast(o.dst)), 'S=0 when multicast');
    check(assigned(m.target), 'advertises an assigned address');
  }
  check(m.kind !== 'router-advertisement' && m.kind !== 'redirect', 'a host sends no RA or Redirect');
}

interface Run {
  readonly outputs: (readonly NdpOutput[])[];
  readonly states: NdpState[];
}

function runScript(
  config: NdpConfig,
  seed: number,
  script: readonly NdpCommand[],
  packets: readonly Uint8Array[],
  checked = true,
): Run {
  let state = initialNdp(config, 0, seed);
  let now = 0;
  let next = 0;
  let minRetrans = config.retransTimer;
  let rsCount = 0;
  let lastRs = Number.NEGATIVE_INFINITY;
  const tracked = new Map<Uint8Array, Tracked>();
  const lastTransmitted = new Map<string, number>();
  const lastNs = new Map<string, number>();
  const groups = new Map<string, number>();
  const run: Run = { outputs: [], states: [] };

  const report = (packet: Uint8Array, key: string): Tracked => {
    const t = tracked.get(packet);
    check(t !== undefined, 'a reported packet was handed in');
    check(t!.reported === 0, 'a packet is reported exactly once', t!.index);
    check(t!.key === key, 'reported for its own next hop', t!.index);
    t!.reported++;
    return t!;
  };

  const apply = (event: NdpEvent): void => {
    const prev = state;
    const [s, out] = checked ? step(state, event) : ndpStep(state, event);
    state = s;
    run.outputs.push(out);
    run.states.push(s);
    if (!checked) return;
    minRetrans = Math.min(minRetrans, s.retransTimer);
    const assigned = (a: Uint8Array) => isOurAddress(prev, a) || isOurAddress(s, a);
    const lastEvent = new Map<string, string>();
    for (const o of out) {
      switch (o.kind) {
        case 'transmit': {
          const t = [...tracked.entries()].find(([p]) => p === o.packet)?.[1];
          const key = t?.key ?? '?';
          report(o.packet, key);
          const hop = parseIpv6Addr(key)!;
          const mac = isIpv6Multicast(hop) ? ipv6MulticastMac(hop) : lookup(s, hop);
          check(o.mac === mac, 'sent to the address the cache holds', key);
          check(t!.index > (lastTransmitted.get(key) ?? -1), 'in order per neighbour', t!.index);
          lastTransmitted.set(key, t!.index);
          break;
        }
        case 'dropped':
          report(o.packet, ipv6Key(o.addr));
          break;
        case 'unreachable':
          for (const p of o.packets) report(p, ipv6Key(o.addr));
          break;
        case 'send': {
          checkSend(o, assigned);
          const m = o.message;
          if (m.kind === 'neighbor-solicitation') {
            // DAD probes our own tentative address; resolution and NUD probe a neighbour (maybe
            // the owner of an address we found duplicated).
            const dad =
              addressState(prev, m.target) === 'tentative' || addressState(s, m.target) === 'tentative';
            const k = `${dad ? 'dad' : 'nud'} ${ipv6Key(m.target)}`;
            const last = lastNs.get(k);
            check(
              last === undefined || event.now - last >= minRetrans,
              'one NS per neighbour per RetransTimer',
              {
                k,
                last,
                now: event.now,
              },
            );
            lastNs.set(k, event.now);
          }
          if (m.kind === 'router-solicitation') {
            rsCount++;
            check(rsCount <= config.maxRtrSolicitations, 'at most MAX_RTR_SOLICITATIONS');
            check(event.now - lastRs >= config.rtrSolicitationInterval, 'RTR_SOLICITATION_INTERVAL apart');
            lastRs = event.now;
          }
          break;
        }
        case 'address':
          lastEvent.set(ipv6Key(o.address), o.state);
          // A new address (maybe one just expired, formed again) starts a new DAD run.
          if (o.state === 'tentative') lastNs.delete(`dad ${ipv6Key(o.address)}`);
          break;
        case 'join':
        case 'leave': {
          const k = ipv6Key(o.group);
          const n = (groups.get(k) ?? 0) + (o.kind === 'join' ? 1 : -1);
          check(n === 0 || n === 1, 'joins and leaves alternate per group', k);
          groups.set(k, n);
          break;
        }
        default:
          break;
      }
    }
    for (const [k, ev] of lastEvent) {
      const a = s.addresses.find((x) => ipv6Key(x.address) === k);
      check(ev === 'removed' ? a === undefined : a?.state === ev, 'address outputs follow the state', {
        k,
        ev,
      });
    }
    // The receive filter holds exactly the groups of our live addresses (and all-nodes once started).
    const wanted = new Set(
      s.addresses.filter((a) => a.state !== 'duplicated').map((a) => ipv6Key(solicitedNode(a.address))),
    );
    if (s.started) wanted.add(ipv6Key(ALL_NODES));
    for (const [k, n] of groups)
      check((n === 1) === wanted.has(k), 'group membership follows the addresses', k);
    checkBounds(s);
    checkDeadline(s, now);
  };

  for (const cmd of script) {
    switch (cmd.kind) {
      case 'start':
        apply({ kind: 'start', now });
        break;
      case 'received':
        apply({ kind: 'received', now, ...cmd.received });
        break;
      case 'resolve': {
        const packet = packets[next]!;
        tracked.set(packet, { key: ipv6Key(cmd.nextHop), index: next++, reported: 0 });
        const before = state;
        const fast = sendableMac(state, cmd.nextHop, now);
        apply({ kind: 'resolve', now, nextHop: cmd.nextHop, packet });
        // The driver's fast path must agree with the step whenever it answers (about 200 times a run).
        if (checked && fast !== undefined) {
          const out = run.outputs.at(-1) ?? [];
          check(state === before, 'sendableMac: the step leaves the state alone');
          check(
            out.length === 1 && out[0]!.kind === 'transmit' && out[0]!.mac === fast,
            'sendableMac: one transmit to its MAC',
          );
        }
        break;
      }
      case 'confirm':
        apply({ kind: 'confirm-reachability', now, neighbour: cmd.neighbour });
        break;
      case 'wait':
        now += cmd.ms;
        apply({ kind: 'tick', now });
        break;
      case 'sleep':
        now += cmd.ms;
        break;
      case 'deadline': {
        const d = ndpDeadline(state);
        if (d === null) break;
        now = Math.max(now, d);
        apply({ kind: 'tick', now });
        break;
      }
    }
  }
  if (checked) {
    // Conservation: every packet handed in was reported once, or is still queued once.
    const queued = [...state.neighbours.values()].flatMap((e) => (e.state === 'incomplete' ? e.queue : []));
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
    v instanceof Uint8Array
      ? ids.has(v)
        ? `packet#${ids.get(v)}`
        : Array.from(v).join('.')
      : v instanceof Map
        ? [...v.entries()]
        : v === Number.POSITIVE_INFINITY
          ? 'inf'
          : v,
  );
}

describe('NDP properties', () => {
  it('random scripts keep every bound, the rate limits, packet conservation and valid messages, without mutating input', () => {
    fc.assert(
      fc.property(ndpConfigArb, fc.integer(), ndpScriptArb, (config, seed, script) => {
        runScript(config, seed, script, packetsFor(script));
      }),
      propOptions(),
    );
  });

  it('is deterministic for a seed: the same script gives the same outputs, deadlines and states', () => {
    fc.assert(
      fc.property(ndpConfigArb, fc.integer(), ndpScriptArb, (config, seed, script) => {
        const packets = packetsFor(script);
        const a = fingerprint(runScript(config, seed, script, packets, false), packets);
        const b = fingerprint(runScript(config, seed, script, packets, false), packets);
        check(a === b, 'same outputs and states', a.length);
      }),
      propOptions(),
    );
  });
});
