/**
 * A finding of the live fuzzer (live.test.ts, in-window class), reduced: two forged segments leave
 * two Oasis stacks in an endless ACK loop.
 *
 * 1. Into a: a pure ACK "from b" at a's RCV.NXT with a TSval far ahead. a takes it (RFC 7323 §4.3)
 *    and TS.Recent jumps: b's real timestamps now fail PAWS at a.
 * 2. Into b: two bytes "from a" at b's RCV.NXT. b takes them: b's RCV.NXT is now 2 past a's SND.NXT.
 *
 * b's ACK fails PAWS at a, which answers with an ACK (RFC 7323 §5.3 R1); that ACK's sequence number
 * is below b's window, so b answers with an ACK (RFC 9293 §3.10.7.4), which fails PAWS at a... Each
 * answer triggers the next, forever, at the speed of the link. Linux breaks such loops by throttling
 * the ACKs it sends for unacceptable segments that carry no data (`tcp_oow_rate_limited`,
 * `tcp_invalid_ratelimit`, 500 ms); Oasis throttles them as it throttles challenge ACKs (RFC 5961 §7).
 */
import { describe, expect, it } from 'vitest';
import type { Ipv4Addr, Mac } from '../../src/addr.js';
import { IPPROTO_TCP } from '../../src/ipproto.js';
import type { Stack } from '../../src/stack/stack.js';
import { type Tcb, tcpConnections } from '../../src/tcp/core/index.js';
import { twoHosts } from '../../src/testing/index.js';
import { assemble, type Packet } from './packet.js';
import { coreOf } from './world.js';

interface Forged {
  readonly from: Stack;
  readonly to: Stack;
  readonly tcb: Tcb;
  readonly tsVal: number;
  readonly payload: Uint8Array;
}

/** A segment on `tcb`'s connection (the victim's TCB), as its peer would send it. */
function forge({ from, to, tcb, tsVal, payload }: Forged): Uint8Array {
  const l4 = new Uint8Array(32 + payload.length);
  const v = new DataView(l4.buffer);
  v.setUint16(0, tcb.remotePort);
  v.setUint16(2, tcb.localPort);
  v.setUint32(4, tcb.rcvNxt);
  v.setUint32(8, tcb.sndNxt);
  l4[12] = 8 << 4;
  l4[13] = 0x18; // PSH, ACK
  v.setUint16(14, 0xffff);
  // NOP, NOP, timestamps (RFC 7323 §3.2).
  l4.set([1, 1, 8, 10], 20);
  v.setUint32(24, tsVal);
  v.setUint32(28, tcb.tsRecent);
  l4.set(payload, 32);
  const ip = new Uint8Array(20);
  ip[0] = 0x45;
  ip[8] = 64;
  const p: Packet = {
    dstMac: to.interfaces[0]!.mac,
    srcMac: from.interfaces[0]!.mac as Mac,
    ethertype: 0x0800,
    family: 'ipv4',
    ip,
    ext: [],
    proto: IPPROTO_TCP,
    l4,
    fixLengths: true,
    fixChecksums: true,
  };
  new DataView(ip.buffer).setUint32(12, tcb.remote as Ipv4Addr);
  new DataView(ip.buffer).setUint32(16, tcb.local as Ipv4Addr);
  return assemble(p);
}

function tcbOf(h: Stack): Tcb {
  const t = tcpConnections(coreOf(h.tcp)!).find((x) => x.state === 'Established');
  if (t === undefined) throw new Error('no established connection');
  return t;
}

describe('an ACK loop between two stacks after an in-window forgery', () => {
  it('is throttled: a few ACKs a second, not one per round trip', async () => {
    const { net, a, b } = twoHosts({ seed: 14, delay: 1, ipv6Enabled: false });
    try {
      b.tcp.createServer((s) => s.on('error', () => undefined).resume()).listen(80);
      const client = a.tcp.connect({ host: '10.0.0.2', port: 80 });
      client.on('error', () => undefined);
      await net.runFor(100);
      const ta = tcbOf(a);
      a.receive(
        a.interfaces[0]!,
        forge({
          from: b,
          to: a,
          tcb: ta,
          tsVal: (ta.tsRecent + 0x4000_0000) >>> 0,
          payload: new Uint8Array(0),
        }),
      );
      const tb = tcbOf(b);
      b.receive(
        b.interfaces[0]!,
        forge({ from: a, to: b, tcb: tb, tsVal: (tb.tsRecent + 1) >>> 0, payload: Uint8Array.of(1, 2) }),
      );
      const before = (a.tcp.counters['segments-out'] ?? 0) + (b.tcp.counters['segments-out'] ?? 0);
      await net.runFor(10_000);
      const sent = (a.tcp.counters['segments-out'] ?? 0) + (b.tcp.counters['segments-out'] ?? 0) - before;
      // Unthrottled, each side answers every 2 ms round trip: about 10,000 segments in 10 s.
      expect(sent).toBeLessThan(500);
    } finally {
      await net.close();
    }
  });
});
