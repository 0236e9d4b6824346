/**
 * The Neighbour Cache under a scan of the connected prefix (RFC 6583, issue 14): `keepInUse` never
 * evicts an entry in use for a new one, `maxIncomplete` bounds the resolutions in progress (and with
 * them the solicitations a scan provokes). Unit tests per rule, then a property over random scans
 * interleaved with live traffic to one neighbour, which must fail with the switch off.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Mac } from '../../src/addr.js';
import { type NdpConfigOptions, type NdpOutput, sendableMac } from '../../src/ipv6/ndp.js';
import { propOptions } from '../support/props.js';
import {
  addr,
  type Host,
  isSolicitation,
  NdpWithPeer,
  PEER,
  packetTo,
  solicitation,
  solicitedAdvert,
  US,
} from './ndp-peer.js';

const OTHER: Host = { ip: addr('2001:db8:1::3'), mac: 0x02_00_00_00_00_03 as Mac };

/** The `i`th address of the scanned /64 (never ours, never the peer's), and the MAC it would have. */
function scanned(i: number): Host {
  const ip = addr(`2001:db8:1::1:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
  return { ip, mac: (0x02_00_10_00_00_00 + i) as Mac };
}

const ndp = (overrides: NdpConfigOptions) => new NdpWithPeer(overrides);

const transmitted = (out: readonly NdpOutput[], mac: Mac, packet: Uint8Array): boolean =>
  out.some((o) => o.kind === 'transmit' && o.mac === mac && o.packet === packet);

describe('entries in use (keepInUse, RFC 6583 §7.1)', () => {
  it('a REACHABLE entry is marked by its first packet; only then does the fast path take it', () => {
    const t = ndp({});
    t.send(PEER.ip);
    expect(t.entry(PEER)).toMatchObject({ state: 'reachable', inUse: false });
    expect(sendableMac(t.state, PEER.ip, t.now)).toBeUndefined();
    const p = packetTo(PEER.ip);
    expect(transmitted(t.send(PEER.ip, p), PEER.mac, p)).toBe(true);
    expect(t.entry(PEER)).toMatchObject({ state: 'reachable', inUse: true });
    expect(sendableMac(t.state, PEER.ip, t.now)).toBe(PEER.mac);
  });

  it.each([
    [true, 'the idle one goes'],
    [false, 'the least recently confirmed goes, in use or not'],
  ])('keepInUse=%s: with the table full, %s', (keepInUse) => {
    const t = ndp({ maxNeighbours: 2, keepInUse }).withPeer();
    t.advance(1000);
    t.recv(OTHER, solicitation(US.ip, OTHER.mac));
    expect(t.entry(OTHER)?.state).toBe('stale');
    t.advance(1000);
    t.send(scanned(1).ip);
    expect(t.state.counters.evicted).toBe(1);
    expect(t.entry(keepInUse ? OTHER : PEER)).toBeUndefined();
    expect(t.entry(keepInUse ? PEER : OTHER)).toBeDefined();
  });

  it('an entry that goes STALE in use stays kept for a ReachableTime, then may go', () => {
    const t = ndp({ maxNeighbours: 2, reachableTime: 1000 }).withPeer();
    t.advance(1500);
    const stale = t.entry(PEER);
    expect(stale?.state).toBe('stale');
    const until = stale?.state === 'stale' ? stale.inUseUntil : null;
    expect(until).toBe(t.now + t.state.reachableTime);
    t.recv(OTHER, solicitation(US.ip, OTHER.mac));
    t.advance(until! - t.now - 1);
    // Full: the idle OTHER goes, though confirmed after the peer.
    t.send(scanned(1).ip);
    expect(t.entry(OTHER)).toBeUndefined();
    expect(t.entry(PEER)?.state).toBe('stale');
    t.advance(1);
    t.send(scanned(2).ip);
    expect(t.state.counters.evicted).toBe(2);
    expect(t.entry(PEER), 'idle for a ReachableTime: evictable again').toBeUndefined();
  });

  it('NUD of an entry in use confirms it in use; a learned one is not in use until sent to', () => {
    const t = ndp({ reachableTime: 1000, delayFirstProbeTime: 100 }).withPeer();
    t.advance(1500);
    t.send(PEER.ip);
    expect(t.entry(PEER)?.state).toBe('delay');
    t.advance(100);
    // The unicast probe was answered at once.
    expect(t.entry(PEER)).toMatchObject({ state: 'reachable', inUse: true });
    t.recv(OTHER, solicitation(US.ip, OTHER.mac));
    expect(t.entry(OTHER)).toMatchObject({ state: 'stale', inUseUntil: null });
  });

  it('an upper-layer confirmation is traffic: the entry becomes REACHABLE in use', () => {
    const t = ndp({});
    t.recv(OTHER, solicitation(US.ip, OTHER.mac));
    t.run({ kind: 'confirm-reachability', now: t.now, neighbour: OTHER.ip });
    expect(t.entry(OTHER)).toMatchObject({ state: 'reachable', inUse: true });
  });
});

describe('resolutions in progress (maxIncomplete, RFC 6583 §7.2)', () => {
  it('past the bound a new neighbour is dropped as incomplete-full, with no solicitation', () => {
    const t = ndp({ maxIncomplete: 2 });
    expect(t.send(scanned(1).ip).filter(isSolicitation)).toHaveLength(1);
    expect(t.send(scanned(2).ip).filter(isSolicitation)).toHaveLength(1);
    const p = packetTo(scanned(3).ip);
    expect(t.send(scanned(3).ip, p)).toEqual([
      { kind: 'dropped', reason: 'incomplete-full', addr: scanned(3).ip, bytes: 48, packet: p },
    ]);
    expect(t.state.incomplete).toBe(2);
    // A packet for one being resolved still queues behind it.
    t.send(scanned(1).ip);
    expect(t.state.counters['incomplete-full']).toBe(1);
    // Once those resolutions fail (3 solicitations, RetransTimer apart), there is room again.
    for (let i = 0; i < 3; i++) t.advance(1000);
    expect(t.state.incomplete).toBe(0);
    expect(t.send(scanned(3).ip).filter(isSolicitation)).toHaveLength(1);
  });

  it('a resolution answered leaves the count', () => {
    const t = ndp({ maxIncomplete: 1 });
    t.send(OTHER.ip);
    t.recv(OTHER, solicitedAdvert(OTHER.ip, OTHER.mac));
    expect(t.state.incomplete).toBe(0);
    expect(t.send(scanned(1).ip).filter(isSolicitation)).toHaveLength(1);
  });

  it('rejects a config without room for one', () => {
    expect(() => ndp({ maxIncomplete: 0 })).toThrow(RangeError);
  });
});

// ---- the property: random scans interleaved with live traffic ----

type Cmd =
  /** A packet to an address of the prefix that never answers. */
  | { readonly kind: 'scan'; readonly i: number }
  /** A host on the link solicits us (learned STALE); `reply`: we answer it with a packet. */
  | { readonly kind: 'learn'; readonly i: number; readonly reply: boolean }
  /** A scanned address answers after all (its entry becomes REACHABLE, not in use). */
  | { readonly kind: 'answer'; readonly i: number }
  /** Time passes (the peer is sent to right after, as a live flow does). */
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'peer' };

interface Setup {
  readonly maxNeighbours: number;
  readonly maxIncomplete: number;
  readonly reachableTime: number;
  readonly retransTimer: number;
  readonly delayFirstProbeTime: number;
  readonly maxMulticastSolicit: number;
  readonly maxUnicastSolicit: number;
}

const setupArb: fc.Arbitrary<Setup> = fc.record({
  maxNeighbours: fc.integer({ min: 2, max: 12 }),
  maxIncomplete: fc.integer({ min: 1, max: 14 }),
  reachableTime: fc.integer({ min: 600, max: 40_000 }),
  retransTimer: fc.integer({ min: 50, max: 1500 }),
  delayFirstProbeTime: fc.integer({ min: 0, max: 6000 }),
  maxMulticastSolicit: fc.integer({ min: 1, max: 3 }),
  maxUnicastSolicit: fc.integer({ min: 1, max: 3 }),
});

/** The live flow sends at least every 299 ms: well inside half the smallest BaseReachableTime. */
const MAX_GAP = 299;

const cmdArb = (targets: number): fc.Arbitrary<Cmd> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.nat(targets - 1).map((i) => ({ kind: 'scan' as const, i })) },
    {
      weight: 4,
      arbitrary: fc
        .record({ i: fc.nat(targets - 1), reply: fc.boolean() })
        .map((r) => ({ kind: 'learn' as const, ...r })),
    },
    { weight: 1, arbitrary: fc.nat(targets - 1).map((i) => ({ kind: 'answer' as const, i })) },
    {
      weight: 3,
      arbitrary: fc.integer({ min: 0, max: MAX_GAP }).map((ms) => ({ kind: 'wait' as const, ms })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'peer' as const }) },
  );

const scriptArb = fc.array(cmdArb(64), { minLength: 1, maxLength: 300 });

/**
 * Runs `script` and says what went wrong first, if anything: the table or the INCOMPLETE entries
 * past their bound, or the peer not resolved, or a packet to it not sent at once.
 */
function runScan(setup: Setup, keepInUse: boolean, script: readonly Cmd[]): string | undefined {
  const t = ndp({ ...setup, keepInUse }).withPeer();
  const c = t.state.config;
  const peerSend = (): string | undefined => {
    const p = packetTo(PEER.ip);
    const fast = sendableMac(t.state, PEER.ip, t.now);
    const out = t.send(PEER.ip, p);
    if (fast !== undefined && fast !== PEER.mac) return `fast path to ${fast}`;
    return transmitted(out, PEER.mac, p) ? undefined : `peer packet not sent at ${t.now}`;
  };
  for (const cmd of script) {
    let failure: string | undefined;
    switch (cmd.kind) {
      case 'scan':
        t.send(scanned(cmd.i).ip);
        break;
      case 'learn': {
        const h = scanned(cmd.i);
        t.recv(h, solicitation(US.ip, h.mac));
        if (cmd.reply) t.send(h.ip);
        break;
      }
      case 'answer': {
        const h = scanned(cmd.i);
        t.recv(h, solicitedAdvert(h.ip, h.mac));
        break;
      }
      case 'wait':
        t.advance(cmd.ms);
        failure = peerSend();
        break;
      case 'peer':
        failure = peerSend();
        break;
    }
    if (failure !== undefined) return failure;
    const s = t.state;
    if (s.neighbours.size > c.maxNeighbours) return 'table past maxNeighbours';
    const incomplete = [...s.neighbours.values()].filter((e) => e.state === 'incomplete').length;
    if (incomplete !== s.incomplete) return 'incomplete count wrong';
    if (incomplete > c.maxIncomplete) return 'INCOMPLETE entries past maxIncomplete';
    const e = t.entry(PEER);
    if (e === undefined || e.state === 'incomplete') return `peer not resolved at ${t.now}`;
  }
  return undefined;
}

describe('a scan interleaved with a live flow (property)', () => {
  it('keepInUse on: the table and INCOMPLETE entries stay bounded and the neighbour in use stays resolved', () => {
    fc.assert(
      fc.property(setupArb, scriptArb, (setup, script) => {
        expect(runScan(setup, true, script)).toBeUndefined();
      }),
      propOptions(300),
    );
  });

  it('keepInUse off: the same property fails — a scan pushes the neighbour in use out', () => {
    const r = fc.check(
      fc.property(setupArb, scriptArb, (setup, script) => runScan(setup, false, script) === undefined),
      { ...propOptions(300), numRuns: 300 },
    );
    expect(r.failed).toBe(true);
    expect(r.counterexample).not.toBeNull();
    const [setup, script] = r.counterexample as [Setup, Cmd[]];
    expect(runScan(setup, false, script)).toMatch(/peer/);
    expect(runScan(setup, true, script)).toBeUndefined();
  });
});
