/**
 * The router with offloads: TCP super-frames and partial checksums from a link with vnet headers,
 * judged by their segments, forwarded whole to a link that takes them, cut in software elsewhere,
 * and translated by NAT with a partial checksum kept right.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Ipv4Addr,
  type Ipv6Addr,
  type Mac,
  parseIpv4Addr,
  parseIpv6Addr,
  readMac,
  writeIpv4,
  writeMac,
} from '../../src/addr.js';
import { setU16, setU32, u16, u32 } from '../../src/bytes.js';
import { finish, fold, pseudoHeaderSum, sum16 } from '../../src/checksum/index.js';
import { VirtualScheduler } from '../../src/clock.js';
import { finishPartialChecksum, gsoSegmentIpLen, segmentFrame } from '../../src/link/gso.js';
import { type FrameHandler, type Link, type LinkCounters, newCounters } from '../../src/link/link.js';
import {
  emptyVnetHdr,
  type MutableVnetHdr,
  type Offloads,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  type VnetHdr,
} from '../../src/link/vnet.js';
import { partialChecksumAt, Router, translateKeepingPartial } from '../../src/router/driver.js';
import { applyTranslation, type Translation } from '../../src/router/nat.js';
import { propOptions } from '../support/props.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;
const ip6 = (s: string): Ipv6Addr => parseIpv6Addr(s)!;
const HOST_A_MAC = 0x02aa00000001 as Mac;
const HOST_B_MAC = 0x02bb00000002 as Mac;
const ALL_OFFLOADS: Offloads = { csum: true, tso4: true, tso6: true, tsoEcn: true, uso4: false, uso6: false };

/**
 * A link standing in for a TAP: frames are delivered with a vnet header (`rxVnet`), sends are
 * recorded, ARP requests are answered as `hostMac`; with `offloads` it also takes super-frames whole.
 */
class FakeOffloadLink implements Link {
  readonly counters: LinkCounters = newCounters();
  readonly rxVnet: MutableVnetHdr = emptyVnetHdr();
  /** Frames sent plainly (copies), and those sent with metadata (the frame itself and a copy of h). */
  readonly sent: Uint8Array[] = [];
  readonly sentOffloaded: { frame: Uint8Array; h: VnetHdr }[] = [];
  private handler: FrameHandler | undefined;
  private readonly arpReplies: Uint8Array[] = [];

  constructor(
    readonly name: string,
    readonly mtu: number,
    readonly offloads: Offloads | undefined,
    private readonly hostMac: Mac,
  ) {}

  send(frame: Uint8Array): void {
    if (u16(frame, 12) === 0x0806 && u16(frame, 20) === 1) {
      const r = new Uint8Array(42);
      r.set(frame.subarray(0, 42));
      writeMac(r, 0, readMac(frame, 6));
      writeMac(r, 6, this.hostMac);
      setU16(r, 20, 2);
      writeMac(r, 22, this.hostMac);
      r.set(frame.subarray(38, 42), 28);
      r.set(frame.subarray(22, 32), 32);
      this.arpReplies.push(r);
      return;
    }
    this.sent.push(frame.slice());
  }

  sendOffloaded(frame: Uint8Array, h: VnetHdr): boolean {
    const o = this.offloads;
    if (o === undefined) return false;
    if (h.gsoType === VNET_GSO_TCPV4 && !o.tso4) return false;
    this.sentOffloaded.push({ frame, h: { ...h } });
    return true;
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  /** Delivers `frame` as if read with vnet header `h`. */
  deliver(frame: Uint8Array, h: VnetHdr = emptyVnetHdr()): void {
    Object.assign(this.rxVnet, h);
    this.handler?.(frame);
    Object.assign(this.rxVnet, emptyVnetHdr());
  }

  answerArp(): void {
    for (const r of this.arpReplies.splice(0)) this.handler?.(r);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A payload of `n` bytes from `seed`. */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

interface SuperOpts {
  readonly version?: 4 | 6;
  readonly src: Ipv4Addr | Ipv6Addr;
  readonly dst: Ipv4Addr | Ipv6Addr;
  readonly dstMac: Mac;
  readonly payload: Uint8Array;
  /** 0: no GSO (a frame with a partial checksum only). */
  readonly gsoSize: number;
  readonly df?: boolean;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly seq?: number;
}

/**
 * A TCP frame as Linux hands it to a TAP with offloads: the checksum field holds the folded
 * pseudo-header sum over the whole segment's length (NEEDS_CSUM), with a 12-byte timestamp option.
 */
function superFrame(o: SuperOpts): { frame: Uint8Array; h: VnetHdr } {
  const v6 = o.version === 6;
  const l3 = 14;
  const ipLen = v6 ? 40 : 20;
  const l4 = l3 + ipLen;
  const tcpLen = 32;
  const frame = new Uint8Array(l4 + tcpLen + o.payload.length);
  writeMac(frame, 0, o.dstMac);
  writeMac(frame, 6, HOST_A_MAC);
  setU16(frame, 12, v6 ? 0x86dd : 0x0800);
  if (v6) {
    frame[l3] = 0x60;
    setU16(frame, l3 + 4, tcpLen + o.payload.length);
    frame[l3 + 6] = 6;
    frame[l3 + 7] = 64;
    frame.set(o.src as Ipv6Addr, l3 + 8);
    frame.set(o.dst as Ipv6Addr, l3 + 24);
  } else {
    frame[l3] = 0x45;
    setU16(frame, l3 + 2, ipLen + tcpLen + o.payload.length);
    setU16(frame, l3 + 4, 0x1234);
    setU16(frame, l3 + 6, o.df === false ? 0 : 0x4000);
    frame[l3 + 8] = 64;
    frame[l3 + 9] = 6;
    writeIpv4(frame, l3 + 12, o.src as Ipv4Addr);
    writeIpv4(frame, l3 + 16, o.dst as Ipv4Addr);
    setU16(frame, l3 + 10, finish(sum16(frame.subarray(l3, l4))));
  }
  setU16(frame, l4, o.srcPort ?? 40000);
  setU16(frame, l4 + 2, o.dstPort ?? 5201);
  setU32(frame, l4 + 4, o.seq ?? 1000);
  setU32(frame, l4 + 8, 77);
  frame[l4 + 12] = (tcpLen / 4) << 4;
  frame[l4 + 13] = 0x18; // ACK | PSH
  setU16(frame, l4 + 14, 500);
  // NOP, NOP, timestamps.
  frame.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], l4 + 20);
  frame.set(o.payload, l4 + tcpLen);
  const ph = v6
    ? { version: 6 as const, src: o.src as Ipv6Addr, dst: o.dst as Ipv6Addr }
    : { version: 4 as const, src: o.src as Ipv4Addr, dst: o.dst as Ipv4Addr };
  setU16(frame, l4 + 16, fold(pseudoHeaderSum(ph, 6, tcpLen + o.payload.length)));
  const h: VnetHdr = {
    flags: VNET_F_NEEDS_CSUM,
    gsoType: o.gsoSize === 0 ? VNET_GSO_NONE : v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4,
    hdrLen: l4 - 0 + tcpLen,
    gsoSize: o.gsoSize,
    csumStart: l4,
    csumOffset: 16,
  };
  return { frame, h };
}

/** Whether the TCP checksum of a wire frame (IPv4 or IPv6, no extension headers) verifies. */
function tcpChecksumOk(frame: Uint8Array): boolean {
  const v6 = u16(frame, 12) === 0x86dd;
  const l4 = v6 ? 54 : 14 + (frame[14]! & 0x0f) * 4;
  const end = v6 ? 54 + u16(frame, 18) : 14 + u16(frame, 16);
  const ph = v6
    ? { version: 6 as const, src: frame.subarray(22, 38), dst: frame.subarray(38, 54) }
    : { version: 4 as const, src: u32(frame, 26), dst: u32(frame, 30) };
  return finish(sum16(frame.subarray(l4, end), pseudoHeaderSum(ph, 6, end - l4))) === 0;
}

function line(
  opts: { egressMtu?: number; egressOffloads?: Offloads; masquerade?: boolean; clampMss?: boolean } = {},
) {
  const scheduler = new VirtualScheduler();
  const a = new FakeOffloadLink('a', 1500, ALL_OFFLOADS, HOST_A_MAC);
  const b = new FakeOffloadLink('b', opts.egressMtu ?? 1500, opts.egressOffloads, HOST_B_MAC);
  const router = new Router({ scheduler, seed: 3, clampMss: opts.clampMss ?? false });
  const ra = router.addInterface({
    link: a,
    mtu: 1500,
    ipv4: [{ address: ip('10.1.0.1'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:1::1'), prefixLen: 64 }],
    ndpRouter: { advertise: false },
  });
  const rb = router.addInterface({
    link: b,
    mtu: opts.egressMtu ?? 1500,
    ipv4: [{ address: ip('10.2.0.1'), prefixLen: 24 }],
    ipv6: [{ address: ip6('2001:db8:2::1'), prefixLen: 64 }],
    ndpRouter: { advertise: false },
  });
  if (opts.masquerade === true)
    expect(
      router.filterWith({ masquerade: [{ inside: 'a', outside: 'b' }], secret: new Uint8Array(16).fill(7) }),
    ).toBeUndefined();
  /** Sends a small frame to B and answers the router's ARP, so B's entry is resolved and used. */
  const warmUp = (): void => {
    const small = () =>
      superFrame({
        src: ip('10.1.0.2'),
        dst: ip('10.2.0.2'),
        dstMac: ra.mac,
        payload: pattern(10, 1),
        gsoSize: 0,
        srcPort: 40001,
      }).frame;
    const valid = { ...emptyVnetHdr(), flags: VNET_F_DATA_VALID };
    a.deliver(small(), valid);
    b.answerArp();
    // The first use of a fresh entry goes through the ARP core (which marks it used); then it is sendable.
    a.deliver(small(), valid);
    a.deliver(small(), valid);
    expect(b.sent.length).toBe(3);
    b.sent.length = 0;
    b.sentOffloaded.length = 0;
  };
  return { scheduler, a, b, router, ra, rb, warmUp };
}

describe('gsoSegmentIpLen', () => {
  it('is the headers plus one gso_size, at most the packet', () => {
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: 0 as Mac,
      payload: pattern(10_000, 2),
      gsoSize: 1448,
    });
    expect(gsoSegmentIpLen(frame.subarray(14), h)).toBe(20 + 32 + 1448);
    expect(gsoSegmentIpLen(frame.subarray(14), { ...h, gsoSize: 20_000 })).toBe(frame.length - 14);
    expect(gsoSegmentIpLen(frame.subarray(14), { ...h, gsoType: VNET_GSO_NONE })).toBe(frame.length - 14);
  });
});

describe('a TCP super-frame through the router', () => {
  const payload = pattern(20_000, 5);

  it('is lent whole with its vnet header to an egress that takes it: outer headers only, no copy', () => {
    const { a, b, router, ra, rb, warmUp } = line({ egressOffloads: ALL_OFFLOADS });
    warmUp();
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: ra.mac,
      payload,
      gsoSize: 1448,
    });
    const before = frame.slice();
    const copied = router.copiedPayloadBytes;
    a.deliver(frame, h);
    expect(b.sent).toHaveLength(0);
    expect(b.sentOffloaded).toHaveLength(1);
    const out = b.sentOffloaded[0]!;
    // The received bytes themselves, rewritten in place.
    expect(out.frame.buffer).toBe(frame.buffer);
    expect(out.h).toEqual(h);
    expect(readMac(out.frame, 0)).toBe(HOST_B_MAC);
    expect(readMac(out.frame, 6)).toBe(rb.mac);
    expect(out.frame[22]).toBe(63);
    expect(finish(sum16(out.frame.subarray(14, 34)))).toBe(0);
    // The partial checksum and everything after the IP header are untouched.
    expect(out.frame.subarray(34)).toEqual(before.subarray(34));
    expect(router.offload.gsoWhole).toBe(1);
    expect(router.copiedPayloadBytes).toBe(copied);
  });

  it('is cut in software for an egress without offloads: MTU-sized segments with full checksums', () => {
    const { a, b, router, ra, warmUp } = line();
    warmUp();
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: ra.mac,
      payload,
      gsoSize: 1448,
    });
    a.deliver(frame, h);
    expect(b.sentOffloaded).toHaveLength(0);
    expect(b.sent).toHaveLength(Math.ceil(payload.length / 1448));
    let seq = 1000;
    const got: Uint8Array[] = [];
    for (const seg of b.sent) {
      expect(seg.length).toBeLessThanOrEqual(1514);
      expect(seg[22]).toBe(63);
      expect(finish(sum16(seg.subarray(14, 34)))).toBe(0);
      expect(tcpChecksumOk(seg)).toBe(true);
      expect(u32(seg, 38)).toBe(seq);
      seq += seg.length - 66;
      got.push(seg.subarray(66));
    }
    expect(Buffer.concat(got)).toEqual(Buffer.from(payload));
    expect(router.offload.gsoSegmented).toBe(1);
    expect(router.offload.segmentsMade).toBe(b.sent.length);
  });

  it('is judged by its segments: fits a 1500 egress, too big for 1280 with DF (Fragmentation Needed)', () => {
    const { a, b, router, ra, warmUp } = line({ egressMtu: 1280, egressOffloads: ALL_OFFLOADS });
    warmUp();
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: ra.mac,
      payload,
      gsoSize: 1448,
    });
    a.deliver(frame, h);
    expect(b.sent).toHaveLength(0);
    expect(b.sentOffloaded).toHaveLength(0);
    expect(router.stack.counters.get('router/too-big')).toBe(1);
    a.answerArp();
    // ICMP Destination Unreachable code 4 with the next-hop MTU, back to A.
    const icmp = a.sent.find((f) => u16(f, 12) === 0x0800 && f[23] === 1);
    expect(icmp).toBeDefined();
    expect(icmp![34]).toBe(3);
    expect(icmp![35]).toBe(4);
    expect(u16(icmp!, 40)).toBe(1280);
  });

  it('a segment that fits a smaller egress MTU passes whole (gso_size 1200 towards 1280)', () => {
    const { a, b, ra, warmUp } = line({ egressMtu: 1280, egressOffloads: ALL_OFFLOADS });
    warmUp();
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: ra.mac,
      payload,
      gsoSize: 1200,
    });
    a.deliver(frame, h);
    expect(b.sentOffloaded).toHaveLength(1);
  });

  it('without DF: segmented, then each segment fragmented to the egress MTU', () => {
    const { a, b, router, ra, warmUp } = line({ egressMtu: 1000 });
    warmUp();
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: ra.mac,
      payload: payload.subarray(0, 4344),
      gsoSize: 1448,
      df: false,
    });
    a.deliver(frame, h);
    expect(router.offload.gsoSegmented).toBe(1);
    expect(b.sent.length).toBe(6);
    let data = 0;
    for (const f of b.sent) {
      expect(f.length).toBeLessThanOrEqual(1014);
      expect(f[22]).toBe(63);
      data += u16(f, 16) - 20;
    }
    expect(data).toBe(3 * (32 + 1448));
  });

  it('IPv6: Packet Too Big when the segments exceed the egress MTU', () => {
    const small = line({ egressMtu: 1280, egressOffloads: ALL_OFFLOADS });
    const opts = {
      version: 6 as const,
      src: ip6('2001:db8:1::2'),
      dst: ip6('2001:db8:2::2'),
      dstMac: small.ra.mac,
      payload,
      gsoSize: 1428,
    };
    const { frame, h } = superFrame(opts);
    small.a.deliver(frame, h);
    expect(small.router.stack.counters.get('router/too-big')).toBe(1);
    expect(small.b.sentOffloaded).toHaveLength(0);
  });
});

describe('a partial checksum through the router', () => {
  it('is finished in place for an egress without offloads', () => {
    const { a, b, router, ra, warmUp } = line();
    warmUp();
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: ra.mac,
      payload: pattern(500, 9),
      gsoSize: 0,
    });
    a.deliver(frame, h);
    expect(b.sent).toHaveLength(1);
    expect(tcpChecksumOk(b.sent[0]!)).toBe(true);
    expect(router.offload.csumFinished).toBe(1);
  });

  it('keeps its header to an egress with offloads', () => {
    const { a, b, router, ra, warmUp } = line({ egressOffloads: ALL_OFFLOADS });
    warmUp();
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: ra.mac,
      payload: pattern(500, 9),
      gsoSize: 0,
    });
    const field = u16(frame, 50);
    a.deliver(frame, h);
    expect(b.sentOffloaded).toHaveLength(1);
    expect(b.sentOffloaded[0]!.h).toEqual(h);
    expect(u16(b.sentOffloaded[0]!.frame, 50)).toBe(field);
    expect(router.offload.csumPartialWhole).toBe(1);
  });

  it('MSS clamping of a SYN leaves a partial checksum field alone (finishing it covers the new MSS)', () => {
    const { a, b, ra, warmUp } = line({ egressOffloads: ALL_OFFLOADS, egressMtu: 1280, clampMss: true });
    warmUp();
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: ra.mac,
      payload: new Uint8Array(0),
      gsoSize: 0,
    });
    frame[47] = 0x02;
    // MSS 1460, then NOPs in place of the timestamps.
    frame.set([2, 4, 0x05, 0xb4, 1, 1, 1, 1, 1, 1, 1, 1], 54);
    const field = u16(frame, 50);
    a.deliver(frame, h);
    expect(b.sentOffloaded).toHaveLength(1);
    const out = b.sentOffloaded[0]!.frame;
    expect(u16(out, 56)).toBe(1280 - 40);
    expect(u16(out, 50)).toBe(field);
    const wire = out.slice();
    finishPartialChecksum(wire, 34, 16);
    expect(tcpChecksumOk(wire)).toBe(true);
  });

  it('with masquerade: the source translated, the partial sum moved by the address change only', () => {
    const { a, b, ra, rb } = line({ egressOffloads: ALL_OFFLOADS, masquerade: true });
    const tcp = (
      from: 'a' | 'b',
      flags: number,
      seq: number,
      ack: number,
      payload: Uint8Array,
      gsoSize = 0,
      dstPort = 5201,
    ) => {
      const f = superFrame({
        src: from === 'a' ? ip('10.1.0.2') : ip('10.2.0.2'),
        dst: from === 'a' ? ip('10.2.0.2') : ip('10.2.0.1'),
        dstMac: from === 'a' ? ra.mac : rb.mac,
        payload,
        gsoSize,
        seq,
        srcPort: from === 'a' ? 40000 : 5201,
        dstPort: from === 'a' ? 5201 : dstPort,
      });
      f.frame[47] = flags;
      setU32(f.frame, 42, ack);
      setU16(f.frame, 48, 65535);
      return f;
    };
    // The handshake through the masquerade (conntrack judges a packet outside a flow invalid).
    const syn = tcp('a', 0x02, 999, 0, new Uint8Array(0));
    a.deliver(syn.frame, syn.h);
    b.answerArp();
    expect(b.sent).toHaveLength(1);
    const port = u16(b.sent[0]!, 34);
    expect(tcpChecksumOk(b.sent[0]!)).toBe(true);
    const synAck = tcp('b', 0x12, 5000, 1000, new Uint8Array(0), 0, port);
    b.deliver(synAck.frame, synAck.h);
    a.answerArp();
    const ack = tcp('a', 0x10, 1000, 5001, new Uint8Array(0));
    a.deliver(ack.frame, ack.h);
    b.sentOffloaded.length = 0;
    const { frame, h } = tcp('a', 0x18, 1000, 5001, pattern(30_000, 3), 1448);
    a.deliver(frame, h);
    expect(b.sentOffloaded).toHaveLength(1);
    const out = b.sentOffloaded[0]!.frame;
    expect(u32(out, 26)).toBe(ip('10.2.0.1'));
    expect(u16(out, 34)).toBe(port);
    const l4len = out.length - 34;
    expect(u16(out, 50)).toBe(
      fold(pseudoHeaderSum({ version: 4, src: u32(out, 26), dst: u32(out, 30) }, 6, l4len)),
    );
    // Cut as the kernel would: every segment's checksum verifies over the new address and port.
    let n = 0;
    segmentFrame(out, h, (seg) => {
      n++;
      expect(tcpChecksumOk(seg)).toBe(true);
    });
    expect(n).toBe(Math.ceil(30_000 / 1448));
    const wire = out.slice();
    finishPartialChecksum(wire, 34, 16);
    expect(tcpChecksumOk(wire)).toBe(true);
  });
});

describe('NAT on a partial checksum', () => {
  const translation = fc.record({
    src: fc.integer({ min: 1, max: 0xfffffffe }).map((x) => x as Ipv4Addr),
    dst: fc.integer({ min: 1, max: 0xfffffffe }).map((x) => x as Ipv4Addr),
    srcPort: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 65535 })),
    dstPort: fc.oneof(fc.constant(-1), fc.integer({ min: 1, max: 65535 })),
  });
  const frameArb = fc.record({
    src: fc.integer({ min: 1, max: 0xfffffffe }).map((x) => x as Ipv4Addr),
    dst: fc.integer({ min: 1, max: 0xfffffffe }).map((x) => x as Ipv4Addr),
    srcPort: fc.integer({ min: 1, max: 65535 }),
    dstPort: fc.integer({ min: 1, max: 65535 }),
    len: fc.integer({ min: 1, max: 9000 }),
    gsoSize: fc.integer({ min: 500, max: 1460 }),
    seed: fc.nat(),
  });
  const toTranslation = (t: {
    src: Ipv4Addr;
    dst: Ipv4Addr;
    srcPort: number;
    dstPort: number;
  }): Translation => ({
    ...t,
    icmpId: -1,
  });

  it('translating then segmenting equals segmenting then translating', () => {
    fc.assert(
      fc.property(frameArb, translation, (f, t) => {
        const { frame, h } = superFrame({ ...f, dstMac: 0 as Mac, payload: pattern(f.len, f.seed) });
        const segmentsAfter: Uint8Array[] = [];
        segmentFrame(frame, h, (s) => {
          applyTranslation(s.subarray(14), toTranslation(t));
          segmentsAfter.push(s);
        });
        const at = partialChecksumAt(frame.subarray(14), 14, h);
        expect(at).toBe(36);
        translateKeepingPartial(frame.subarray(14), toTranslation(t), at!);
        // The field is the pseudo-header sum of the new addresses, as the sender would have written.
        const sum = fold(
          pseudoHeaderSum({ version: 4, src: u32(frame, 26), dst: u32(frame, 30) }, 6, frame.length - 34),
        );
        expect(u16(frame, 50)).toBe(sum);
        const segmentsBefore: Uint8Array[] = [];
        segmentFrame(frame, h, (s) => segmentsBefore.push(s));
        expect(segmentsBefore).toEqual(segmentsAfter);
        for (const s of segmentsBefore) expect(tcpChecksumOk(s)).toBe(true);
      }),
      propOptions(100),
    );
  });

  it('translating then finishing equals finishing then translating (no GSO)', () => {
    fc.assert(
      fc.property(frameArb, translation, (f, t) => {
        const { frame, h } = superFrame({
          ...f,
          dstMac: 0 as Mac,
          payload: pattern(f.len % 1400, f.seed),
          gsoSize: 0,
        });
        const other = frame.slice();
        finishPartialChecksum(other, h.csumStart, h.csumOffset);
        applyTranslation(other.subarray(14), toTranslation(t));
        translateKeepingPartial(
          frame.subarray(14),
          toTranslation(t),
          partialChecksumAt(frame.subarray(14), 14, h)!,
        );
        finishPartialChecksum(frame, h.csumStart, h.csumOffset);
        // Equal as checksums: ones' complement has two zeros, and both verify.
        expect(tcpChecksumOk(frame)).toBe(true);
        expect(tcpChecksumOk(other)).toBe(true);
        expect(frame.subarray(0, 50)).toEqual(other.subarray(0, 50));
        expect(frame.subarray(52)).toEqual(other.subarray(52));
      }),
      propOptions(100),
    );
  });

  it('a partial checksum elsewhere than the transport field is refused (undefined)', () => {
    const { frame, h } = superFrame({
      src: ip('10.1.0.2'),
      dst: ip('10.2.0.2'),
      dstMac: 0 as Mac,
      payload: pattern(10, 1),
      gsoSize: 0,
    });
    expect(partialChecksumAt(frame.subarray(14), 14, { ...h, csumOffset: 6 })).toBeUndefined();
    expect(partialChecksumAt(frame.subarray(14), 14, { ...h, flags: VNET_F_DATA_VALID })).toBe(-1);
  });
});
