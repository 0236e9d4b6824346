/**
 * IPv6 fragments through the firewall: src/router/frag6.ts (pure) and the driver's use of it
 * (Router.filterWith): datagrams judged whole, their original fragments forwarded unchanged, RFC 7112
 * first fragments and RFC 5722 overlaps dropped, the reassembly bounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Ipv6Addr, parseIpv6Addr } from '../../src/addr.js';
import { createSocket } from '../../src/api/sockets.js';
import { setU16, setU32, u16, u32 } from '../../src/bytes.js';
import { VirtualScheduler } from '../../src/clock.js';
import { ETHERTYPE_IPV6 } from '../../src/ethernet/wire.js';
import { memoryPair } from '../../src/link/memory.js';
import { Router } from '../../src/router/driver.js';
import { parseFirewallConfig } from '../../src/router/firewall-config.js';
import {
  firstFragmentComplete,
  fragment6Of,
  needsReassembly,
  wholeDatagram6,
} from '../../src/router/frag6.js';
import { packetInfo } from '../../src/router/packet-info.js';
import { Stack } from '../../src/stack/stack.js';
import { runFor, settle } from '../../src/testing/time.js';
import { propOptions } from '../support/props.js';

const ip6 = (s: string): Ipv6Addr => parseIpv6Addr(s)!;
const SECRET = new Uint8Array(16).fill(9);
const A = ip6('2001:db8:1::2');
const B = ip6('2001:db8:2::2');

/** An IPv6 packet: fixed header, then `chain` (already encoded extension headers) and `upper`. */
function packet6(nextHeader: number, rest: Uint8Array, src = A, dst = B): Uint8Array {
  const p = new Uint8Array(40 + rest.length);
  p[0] = 0x60;
  setU16(p, 4, rest.length);
  p[6] = nextHeader;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  p.set(rest, 40);
  return p;
}

function fragHeader(next: number, offset: number, more: boolean, ident: number): Uint8Array {
  const h = new Uint8Array(8);
  h[0] = next;
  setU16(h, 2, offset | (more ? 1 : 0));
  setU32(h, 4, ident);
  return h;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A UDP header (checksum left 0: the router does not judge it) and `len` bytes after it. */
function udp(dport: number, len: number): Uint8Array {
  const u = new Uint8Array(8 + len);
  setU16(u, 0, 40000);
  setU16(u, 2, dport);
  setU16(u, 4, 8 + len);
  for (let i = 8; i < u.length; i++) u[i] = i & 0xff;
  return u;
}

describe('frag6: the pure helpers', () => {
  it('finds a Fragment header directly after the fixed header and behind a hop-by-hop header', () => {
    const direct = packet6(44, concat(fragHeader(17, 1448, true, 0xabcdef01), udp(53, 8)));
    expect(fragment6Of(direct)).toEqual({
      at: 40,
      nextHeader: 17,
      fragOffset: 1448,
      more: true,
      ident: 0xabcdef01,
    });
    const hbh = new Uint8Array(8);
    hbh[0] = 44;
    const behind = packet6(0, concat(hbh, fragHeader(58, 0, false, 7), new Uint8Array(8)));
    const f = fragment6Of(behind)!;
    expect(f).toMatchObject({ at: 48, nextHeader: 58, fragOffset: 0, more: false });
    expect(needsReassembly(f)).toBe(false);
    expect(fragment6Of(packet6(17, udp(53, 8)))).toBeUndefined();
    // A chain running past the payload length is no Fragment header.
    expect(fragment6Of(packet6(0, new Uint8Array(4)))).toBeUndefined();
  });

  it.each([
    ['UDP header whole', concat(fragHeader(17, 0, true, 1), udp(53, 0)), true],
    ['UDP header cut at 6 bytes', concat(fragHeader(17, 0, true, 1), udp(53, 0).subarray(0, 6)), false],
    [
      'TCP header without its options',
      (() => {
        const t = new Uint8Array(24);
        t[12] = 0x80; // Data Offset 8 words: 32 bytes, only 24 here
        return concat(fragHeader(6, 0, true, 1), t);
      })(),
      false,
    ],
    [
      'TCP header with its options',
      (() => {
        const t = new Uint8Array(32);
        t[12] = 0x80;
        return concat(fragHeader(6, 0, true, 1), t);
      })(),
      true,
    ],
    [
      'destination options past the fragment',
      (() => {
        const d = new Uint8Array(16);
        d[0] = 17;
        d[1] = 1; // 16 bytes
        return concat(fragHeader(60, 0, true, 1), d.subarray(0, 12));
      })(),
      false,
    ],
    ['ICMPv6 header', concat(fragHeader(58, 0, true, 1), new Uint8Array(4)), true],
    ['a second Fragment header', concat(fragHeader(44, 0, true, 1), fragHeader(17, 0, true, 2)), false],
    ['No Next Header', concat(fragHeader(59, 0, true, 1)), true],
  ])('RFC 7112 §5, first fragment: %s', (_, rest, complete) => {
    const p = packet6(44, rest);
    expect(firstFragmentComplete(p, fragment6Of(p)!)).toBe(complete);
  });

  it('builds the whole packet with an atomic Fragment header that packetInfo reads', () => {
    const first = packet6(44, concat(fragHeader(17, 0, true, 5), udp(53, 3000).subarray(0, 1232)));
    const header = first.subarray(0, 48);
    const data = udp(53, 3000);
    const whole = wholeDatagram6(header, data, (n) => new Uint8Array(n))!;
    expect(whole.length).toBe(48 + 3008);
    expect(u16(whole, 4)).toBe(8 + 3008);
    expect(u16(whole, 42)).toBe(0);
    expect(u32(whole, 44)).toBe(5);
    expect(packetInfo(whole)).toMatchObject({ version: 6, protocol: 17, dstPort: 53, length: 48 + 3008 });
    // Past the 16-bit payload length: refused.
    expect(wholeDatagram6(header, new Uint8Array(65_535), (n) => new Uint8Array(n))).toBeUndefined();
  });

  it('never throws and never points past the packet, on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const f = fragment6Of(bytes);
        if (f === undefined) return true;
        firstFragmentComplete(bytes, f);
        return f.at + 8 <= bytes.length && f.fragOffset % 8 === 0;
      }),
      propOptions(500),
    );
  });
});

/** A (2001:db8:1::2) — router — B (2001:db8:2::2), IPv6 only, the firewall's forward policy drop. */
async function line(rules: unknown[]) {
  const scheduler = new VirtualScheduler();
  const [aEnd, inEnd] = memoryPair(scheduler, { mtu: 1500, delay: 0.05, names: ['a', 'in'] });
  const [outEnd, bEnd] = memoryPair(scheduler, { mtu: 1500, delay: 0.05, names: ['out', 'b'] });
  const a = new Stack({ scheduler, seed: 1 });
  const b = new Stack({ scheduler, seed: 2 });
  const router = new Router({ scheduler, seed: 3 });
  router.addInterface({ link: inEnd, ipv6: [{ address: ip6('2001:db8:1::1'), prefixLen: 64 }] });
  router.addInterface({ link: outEnd, ipv6: [{ address: ip6('2001:db8:2::1'), prefixLen: 64 }] });
  const config = parseFirewallConfig({ policy: { forward: 'drop' }, forward: rules });
  if (!config.ok) throw new Error(config.error);
  expect(router.filterWith({ firewall: config.value, secret: SECRET })).toBeUndefined();
  a.addInterface({ link: aEnd, ipv6: [{ address: A, prefixLen: 64 }], gateway6: ip6('2001:db8:1::1') });
  b.addInterface({ link: bEnd, ipv6: [{ address: B, prefixLen: 64 }], gateway6: ip6('2001:db8:2::1') });
  /** IPv6 packets as A sent them and as B received them (copies). */
  const sent: Uint8Array[] = [];
  const got: Uint8Array[] = [];
  const v6 = (frame: Uint8Array) => u16(frame, 12) === ETHERTYPE_IPV6;
  aEnd.capture = (frame, dir) => {
    if (dir === 'out' && v6(frame)) sent.push(frame.slice(14));
  };
  bEnd.capture = (frame, dir) => {
    if (dir === 'in' && v6(frame)) got.push(frame.slice(14));
  };
  // Duplicate address detection first (RFC 4862 §5.4): addresses are tentative until it is over.
  await runFor(scheduler, 3000);
  return { scheduler, a, b, router, sent, got, inIface: router.interfaces[0]! };
}

const ALLOW = [
  { protocol: 'icmpv6', 'icmp-type': 'echo-request', verdict: 'accept' },
  { protocol: 'udp', dport: 5353, verdict: 'accept' },
];

/** Fragments (payload past the Fragment header) of the packets in `list`, by identification. */
function fragmentsOf(list: readonly Uint8Array[]): string[] {
  return list
    .map((p) => ({ p, f: fragment6Of(p) }))
    .filter((x) => x.f !== undefined && needsReassembly(x.f))
    .map(({ p, f }) => `${f!.ident}/${f!.fragOffset}/${f!.more}/${p.length}`);
}

describe('IPv6 fragments through the firewall', () => {
  it('ping6 of 3000 bytes with the forward policy drop and echo allowed: the original fragments go on', async () => {
    const { scheduler, a, b, router, sent, got } = await line(ALLOW);
    const reply = await settle(scheduler, a.ipv6.ping(B, { size: 3000 }));
    expect(reply?.bytes).toBe(3000);
    expect(b.counters.get('ipv6/reassembled')).toBe(1);
    // What B received is exactly what A sent, fragment by fragment (nothing cut again).
    const fromA = fragmentsOf(sent);
    expect(fromA.length).toBe(3);
    expect(fragmentsOf(got)).toEqual(fromA);
    expect(router.stack.counters.get('router/untracked')).toBe(0);
    const stats = router.filterStats() as { defrag: { v6Datagrams: number; v6PeakBytes: number } };
    expect(stats.defrag.v6Datagrams).toBe(0);
    expect(stats.defrag.v6PeakBytes).toBeGreaterThan(3000);
  });

  it('a 3000-byte UDP datagram to an allowed port passes; to another port nothing of it does', async () => {
    const { scheduler, a, b, router, got } = await line(ALLOW);
    const heard: number[] = [];
    const server = createSocket(b, 'udp6', (msg) => heard.push(msg.length));
    server.bind(5353);
    const other = createSocket(b, 'udp6', (msg) => heard.push(-msg.length));
    other.bind(9999);
    const client = createSocket(a, 'udp6');
    client.send(new Uint8Array(3000), 5353, '2001:db8:2::2');
    await runFor(scheduler, 200);
    expect(heard).toEqual([3000]);
    const before = got.length;
    client.send(new Uint8Array(3000), 9999, '2001:db8:2::2');
    await runFor(scheduler, 200);
    expect(heard).toEqual([3000]);
    expect(got.length).toBe(before);
    expect(router.stack.counters.get('router/firewall-drop')).toBe(1);
  });

  it('reassembles fragments to the router itself, judged by the input chain, for its own stack', async () => {
    const { scheduler, a, router } = await line(ALLOW);
    const reply = await settle(scheduler, a.ipv6.ping(ip6('2001:db8:1::1'), { size: 3000 }));
    expect(reply?.bytes).toBe(3000);
    // The router's stack took the reassembled packet (an atomic fragment now) as one datagram.
    expect(router.stack.counters.get('ipv6/reassembled')).toBe(0);
    expect(router.stack.counters.get('icmpv6/in-echo-request')).toBe(1);
    type Count = { packets: number; bytes: number };
    const input = (router.filterStats() as { firewall: { input: { byPolicy: Count; icmpv6: Count } } })
      .firewall.input;
    // Judged once, whole: 40 + 8 (Fragment header) + 8 (ICMPv6) + 3000 bytes.
    expect(input.byPolicy).toEqual({ packets: 1, bytes: 3056 });
  });

  it('refused when echo is not allowed: no fragment reaches B', async () => {
    const { scheduler, a, b, got } = await line([]);
    expect(await settle(scheduler, a.ipv6.ping(B, { size: 3000, timeoutMs: 500 }))).toBeUndefined();
    expect(fragmentsOf(got)).toEqual([]);
    expect(b.counters.get('ipv6/reassembled')).toBe(0);
  });

  it('drops a first fragment without the whole header chain (RFC 7112 §5), counted', async () => {
    const { scheduler, router, inIface, got } = await line(ALLOW);
    const tcp = new Uint8Array(16); // the TCP header cut after 16 of its 20 bytes
    const first = packet6(44, concat(fragHeader(6, 0, true, 77), tcp));
    router.stack.receive(inIface, frame(inIface.mac, first));
    await runFor(scheduler, 100);
    expect(router.stack.counters.get('router/fragment6-incomplete-chain')).toBe(1);
    expect(got.filter((p) => fragment6Of(p)?.ident === 77)).toEqual([]);
  });

  it('drops a datagram whose fragments overlap (RFC 5722): a port rewritten by an overlap never passes', async () => {
    const { scheduler, router, inIface, got } = await line(ALLOW);
    // UDP to the allowed port 5353, 16 bytes of it; then 24 bytes at offset 8 overlapping the first
    // (a rewrite of what the rules saw, RFC 5722 §3), then the end.
    const u = udp(5353, 40);
    const send = (offset: number, more: boolean, bytes: Uint8Array) =>
      router.stack.receive(
        inIface,
        frame(inIface.mac, packet6(44, concat(fragHeader(17, offset, more, 88), bytes))),
      );
    send(0, true, u.subarray(0, 16));
    send(8, true, u.subarray(8, 32));
    send(32, false, u.subarray(32));
    await runFor(scheduler, 100);
    expect(router.stack.counters.get('router/reassembly6-overlap')).toBe(1);
    expect(got.filter((p) => fragment6Of(p)?.ident === 88)).toEqual([]);
  });

  it('holds within the reassembly budget and forgets incomplete datagrams when they expire', async () => {
    const { scheduler, router, inIface } = await line(ALLOW);
    for (let ident = 0; ident < 300; ident++) {
      const p = packet6(44, concat(fragHeader(17, 0, true, ident), udp(5353, 1392)));
      router.stack.receive(inIface, frame(inIface.mac, p));
    }
    type Defrag = { defrag: { v6Bytes: number; v6Datagrams: number } };
    const held = (router.filterStats() as Defrag).defrag;
    expect(held.v6Datagrams).toBeLessThanOrEqual(128);
    expect(held.v6Bytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(router.stack.counters.get('router/reassembly6-evicted-entries')).toBeGreaterThan(0);
    await runFor(scheduler, 31_000);
    const after = (router.filterStats() as Defrag).defrag;
    expect(after).toMatchObject({ v6Bytes: 0, v6Datagrams: 0 });
    expect(router.stack.counters.get('router/reassembly6-expired')).toBeGreaterThan(0);
  });
});

/** A frame to `mac` around `packet` (source MAC made up). */
function frame(mac: number, packet: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + packet.length);
  for (let i = 0; i < 6; i++) f[i] = Math.floor(mac / 2 ** (8 * (5 - i))) & 0xff;
  f.set([2, 0, 0, 0, 0, 0x99], 6);
  setU16(f, 12, ETHERTYPE_IPV6);
  f.set(packet, 14);
  return f;
}
