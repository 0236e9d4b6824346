/**
 * Neighbour cache exhaustion (issue 14, RFC 6583): a scan of thousands of addresses on the connected
 * prefix keeps the ARP table within its bound and a resolved neighbour in use keeps working — its
 * packets go out at once, never queued behind a new resolution nor dropped as `table-full`.
 */
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, ipv4, type Mac } from '../../src/addr.js';
import { type ArpOutput, type ArpState, arpConfig, arpStep, initialArp } from '../../src/arp/cache.js';
import type { ArpRepr } from '../../src/arp/wire.js';

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
