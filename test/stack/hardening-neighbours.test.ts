/**
 * Neighbour cache exhaustion (issue 14, RFC 6583): a scan of thousands of addresses on the connected
 * prefix keeps the ARP and NDP tables within their bounds and a resolved neighbour in use keeps
 * working — its packets go out at once, never queued behind a new resolution nor dropped as
 * `table-full`. NDP also bounds the resolutions in progress, and with them the solicitations.
 */
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, ipv4, type Mac } from '../../src/addr.js';
import { type ArpOutput, type ArpState, arpConfig, arpStep, initialArp } from '../../src/arp/cache.js';
import type { ArpRepr } from '../../src/arp/wire.js';
import { neighbour } from '../../src/ipv6/ndp.js';
import { addr, NdpWithPeer, PEER as PEER6, solicitation, US as US6 } from '../ipv6/ndp-peer.js';

const US = { mac: 0x02_00_00_00_00_01 as Mac, ip: ipv4(10, 0, 0, 1) };
const PEER = { mac: 0x02_00_00_00_00_02 as Mac, ip: ipv4(10, 0, 0, 2) };

const packet = () => new Uint8Array(40);

class Arp {
  state: ArpState;
  now = 0;
  out: ArpOutput[] = [];
  constructor(maxEntries: number, keepInUse: boolean) {
    this.state = initialArp(arpConfig(US.mac, [US.ip], { maxEntries, keepInUse }), 0);
  }
  private run(e: Parameters<typeof arpStep>[1]): readonly ArpOutput[] {
    const [s, out] = arpStep(this.state, e);
    this.state = s;
    return out;
  }
  recv(repr: ArpRepr): readonly ArpOutput[] {
    return this.run({ kind: 'received', now: this.now, repr });
  }
  send(ip: Ipv4Addr): readonly ArpOutput[] {
    return this.run({ kind: 'resolve', now: this.now, ip, packet: packet() });
  }
  advance(ms: number): void {
    this.now += ms;
    this.run({ kind: 'tick', now: this.now });
  }
}

/**
 * The peer resolved, then a scan of `n` addresses while the peer is sent to every 10 ms (but for an
 * idle spell in the middle, during which it refreshes our entry itself).
 */
function scan(n: number, maxEntries: number, keepInUse: boolean) {
  const arp = new Arp(maxEntries, keepInUse);
  arp.send(PEER.ip);
  arp.recv({
    operation: 'reply',
    senderMac: PEER.mac,
    senderIp: PEER.ip,
    targetMac: US.mac,
    targetIp: US.ip,
  });
  let peerDelayed = 0;
  for (let i = 0; i < n; i++) {
    arp.advance(1);
    const ip = ipv4(10, 0, 16 + (i >> 8), i & 0xff);
    const mac = (0x02_00_00_10_00_00 + i) as Mac;
    if (i % 2 === 0) {
      // A scanner on the link asks for us and pings: learned, answered (the entry is used).
      arp.recv({ operation: 'request', senderMac: mac, senderIp: ip, targetMac: 0 as Mac, targetIp: US.ip });
      arp.send(ip);
    } else {
      // A packet from a spoofed source on the prefix: our answer needs a resolution that never ends.
      arp.send(ip);
    }
    if (i === 1500) {
      // Idle for a while, the peer refreshes its own cache with a request for us (Linux does, unicast):
      // it stays in use.
      arp.recv({
        operation: 'request',
        senderMac: PEER.mac,
        senderIp: PEER.ip,
        targetMac: US.mac,
        targetIp: US.ip,
      });
    }
    if (i % 10 === 0 && (i < 1000 || i >= 3000)) {
      const out = arp.send(PEER.ip);
      if (!out.some((o) => o.kind === 'transmit' && o.mac === PEER.mac)) peerDelayed++;
    }
    expect(arp.state.entries.size).toBeLessThanOrEqual(maxEntries);
  }
  return { arp, peerDelayed };
}

describe('ARP under a scan of the connected prefix', () => {
  it('keepInUse off: the scan pushes the neighbour in use out, and its packets wait or drop', () => {
    const { arp, peerDelayed } = scan(5_000, 256, false);
    expect(arp.state.entries.size).toBeLessThanOrEqual(256);
    expect(peerDelayed).toBeGreaterThan(100);
  });

  it('keepInUse on: stays within its bound and keeps the neighbour in use resolved', () => {
    const { arp, peerDelayed } = scan(5_000, 256, true);
    expect(arp.state.entries.size).toBeLessThanOrEqual(256);
    expect(arp.state.counters['table-full'] ?? 0).toBeGreaterThan(0);
    expect(peerDelayed).toBe(0);
    expect(arp.state.entries.get(PEER.ip)?.state).toBe('reachable');
  });
});

// ---- NDP ----

/** Our interface's NDP core (2001:db8:1::1) with the live peer ::2 answering; see test/ipv6/ndp-peer.ts. */
function ndpWithPeer(keepInUse: boolean): NdpWithPeer {
  return new NdpWithPeer(
    {
      maxNeighbours: 256,
      maxIncomplete: 64,
      // Short, so the peer goes through STALE, DELAY and PROBE several times during the scan.
      reachableTime: 4_000,
      keepInUse,
    },
    7,
  );
}

/**
 * The peer resolved, then a scan of `n` addresses of the /64, 2 ms apart, while the peer is sent to
 * every 20 ms (but for an idle second in the middle, during which it solicits us itself). Half the
 * scanned addresses solicit us and get a packet back (DELAY, then PROBE: entries in use that cannot
 * be evicted), half are spoofed sources whose answer needs a resolution that never ends.
 */
function scan6(n: number, keepInUse: boolean) {
  const ndp = ndpWithPeer(keepInUse);
  const c = ndp.state.config;
  ndp.send(PEER6.ip);
  let peerDelayed = 0;
  let peerStates = new Set<string>();
  // Multicast solicitations (resolutions) sent, by time, for the rate over any RetransTimer.
  const solicits: number[] = [];
  let maxPerWindow = 0;
  let fullest = 0;
  for (let i = 0; i < n; i++) {
    ndp.advance(2);
    const before = ndp.state.counters['ns-sent'];
    const ip = addr(`2001:db8:1::1:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
    if (i % 2 === 0) {
      ndp.recv(
        { ip, mac: (0x02_00_00_10_00_00 + i) as Mac },
        solicitation(US6.ip, (0x02_00_00_10_00_00 + i) as Mac),
      );
      ndp.send(ip);
    } else {
      ndp.send(ip);
    }
    if (i === 750) ndp.recv(PEER6, solicitation(US6.ip, PEER6.mac));
    if (i % 10 === 0 && (i < 500 || i >= 1000)) {
      const out = ndp.send(PEER6.ip);
      if (!out.some((o) => o.kind === 'transmit' && o.mac === PEER6.mac)) peerDelayed++;
    }
    const sent = ndp.state.counters['ns-sent'] - before;
    for (let k = 0; k < sent; k++) solicits.push(ndp.now);
    while (solicits.length > 0 && solicits[0]! <= ndp.now - ndp.state.retransTimer) solicits.shift();
    maxPerWindow = Math.max(maxPerWindow, solicits.length);
    peerStates = peerStates.add(neighbour(ndp.state, PEER6.ip)?.state ?? 'none');
    fullest = Math.max(fullest, ndp.state.neighbours.size);
    expect(ndp.state.neighbours.size).toBeLessThanOrEqual(c.maxNeighbours);
    expect(ndp.state.incomplete).toBeLessThanOrEqual(c.maxIncomplete);
  }
  return { ndp, peerDelayed, maxPerWindow, peerStates, fullest };
}

describe('NDP under a scan of the connected /64', () => {
  it('keepInUse off: the scan pushes the neighbour in use out, and its packets wait or drop', () => {
    const { ndp, peerDelayed } = scan6(5_000, false);
    expect(ndp.state.neighbours.size).toBeLessThanOrEqual(256);
    expect(ndp.state.counters.evicted).toBeGreaterThan(0);
    expect(peerDelayed).toBeGreaterThan(100);
  });

  it('keepInUse on: bounded, solicitations rate-limited, and the neighbour in use stays resolved', () => {
    const { ndp, peerDelayed, maxPerWindow, peerStates, fullest } = scan6(5_000, true);
    const c = ndp.state.counters;
    // The table filled up: scanners were refused rather than the peer evicted.
    expect(fullest).toBe(256);
    expect(c['learn-refused']).toBeGreaterThan(0);
    expect(c['incomplete-full']).toBeGreaterThan(0);
    // One multicast solicitation per INCOMPLETE entry per RetransTimer at most (RFC 4861 §7.3.3).
    expect(maxPerWindow).toBeGreaterThan(0);
    expect(maxPerWindow).toBeLessThanOrEqual(64);
    expect(peerDelayed).toBe(0);
    // The peer went through NUD meanwhile and was never pushed out.
    expect([...peerStates].sort()).toEqual(['delay', 'reachable', 'stale']);
    expect(neighbour(ndp.state, PEER6.ip)?.state).not.toBe('incomplete');
  });
});
