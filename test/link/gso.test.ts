/**
 * The software segmenter (src/link/gso.ts), held to its definition: a stream sent as super-frames
 * and cut here is byte for byte the stream sent in MSS segments (headers, sequence numbers,
 * Identification, flags, checksums). The MSS segments are built independently with the wire
 * modules' emitters (full checksums), the super-frame the way the stack builds it (one header, the
 * pseudo-header sum in the checksum field, NEEDS_CSUM).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Ipv4Addr, Ipv6Addr, Mac } from '../../src/addr.js';
import type { PseudoHeader } from '../../src/checksum/index.js';
import { emitEthernet, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../../src/ethernet/wire.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipproto.js';
import { emitIpv4 } from '../../src/ipv4/wire.js';
import { emitIpv6 } from '../../src/ipv6/wire.js';
import { finishPartialChecksum, frameLayout, segmentFrame, gsoHeader } from '../../src/link/gso.js';
import {
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_UDP_L4,
  type VnetHdr,
} from '../../src/link/vnet.js';
import { cutSegment, type SegmentOut } from '../../src/tcp/core/index.js';
import type { Seq } from '../../src/tcp/seq.js';
import {
  emitTcp,
  parseTcp,
  type TcpOptions,
  type TcpRepr,
  tcpFlags,
  tcpHeaderLen,
} from '../../src/tcp/wire.js';
import { emitUdp, parseUdp } from '../../src/udp/wire.js';
import { mutated, propOptions } from '../support/props.js';

const SRC_MAC = 0x02_00_00_00_00_01 as Mac;
const DST_MAC = 0x02_00_00_00_00_02 as Mac;
const V4_SRC = 0x0a_00_00_01 as Ipv4Addr;
const V4_DST = 0x0a_00_00_02 as Ipv4Addr;
const V6_SRC = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) as Ipv6Addr;
const V6_DST = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]) as Ipv6Addr;

interface Flow {
  readonly version: 4 | 6;
  readonly ident: number;
  readonly ttl: number;
  readonly ecn: number;
}

function ph(version: 4 | 6): PseudoHeader {
  return version === 4 ? { version: 4, src: V4_SRC, dst: V4_DST } : { version: 6, src: V6_SRC, dst: V6_DST };
}

/**
 * One frame: Ethernet, IP (Identification `ident`), a transport segment written by `writeL4` into
 * a buffer holding `payload` after `l4HeaderLen` bytes.
 */
function frame(
  flow: Flow,
  ident: number,
  protocol: number,
  l4HeaderLen: number,
  payload: Uint8Array,
  writeL4: (buf: Uint8Array) => void,
): Uint8Array {
  const ipHl = flow.version === 4 ? 20 : 40;
  const out = new Uint8Array(14 + ipHl + l4HeaderLen + payload.length);
  emitEthernet(
    {
      dst: DST_MAC,
      src: SRC_MAC,
      vlans: [],
      ethertype: flow.version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6,
    },
    out,
  );
  const ip = out.subarray(14);
  const l4 = ip.subarray(ipHl);
  l4.set(payload, l4HeaderLen);
  writeL4(l4);
  if (flow.version === 4) {
    emitIpv4(
      {
        src: V4_SRC,
        dst: V4_DST,
        protocol,
        ttl: flow.ttl,
        dscp: 0,
        ecn: flow.ecn,
        ident,
        dontFragment: true,
        moreFragments: false,
        fragOffset: 0,
        options: new Uint8Array(0),
      },
      ip,
    );
  } else {
    emitIpv6(
      {
        trafficClass: flow.ecn,
        flowLabel: 0,
        nextHeader: protocol,
        hopLimit: flow.ttl,
        src: V6_SRC,
        dst: V6_DST,
      },
      ip,
    );
  }
  return out;
}

interface Stream {
  readonly flow: Flow;
  readonly mss: number;
  readonly repr: TcpRepr;
  /** The segments' payloads: all `mss` long but the last. */
  readonly data: Uint8Array;
  readonly psh: boolean;
  readonly fin: boolean;
  readonly cwr: boolean;
}

const options: fc.Arbitrary<TcpOptions> = fc.oneof(
  fc.constant({}),
  fc.record({ timestamps: fc.record({ tsVal: fc.nat(), tsEcr: fc.nat() }) }),
  fc.record({
    timestamps: fc.record({ tsVal: fc.nat(), tsEcr: fc.nat() }),
    sack: fc.array(
      fc.record({
        left: fc.nat().map((n) => (n >>> 0) as Seq),
        right: fc.nat().map((n) => (n >>> 0) as Seq),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  }),
);

const stream: fc.Arbitrary<Stream> = fc
  .record({
    version: fc.constantFrom(4 as const, 6 as const),
    ident: fc.integer({ min: 0, max: 0xffff }),
    ttl: fc.integer({ min: 1, max: 255 }),
    ecn: fc.integer({ min: 0, max: 3 }),
    mss: fc.integer({ min: 1, max: 300 }),
    full: fc.integer({ min: 1, max: 12 }),
    last: fc.integer({ min: 1, max: 300 }),
    seq: fc.nat().map((n) => (n * 7919) >>> 0),
    ack: fc.nat(),
    window: fc.integer({ min: 0, max: 0xffff }),
    ports: fc.tuple(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xffff })),
    psh: fc.boolean(),
    fin: fc.boolean(),
    ece: fc.boolean(),
    cwr: fc.boolean(),
    options,
    fill: fc.integer({ min: 0, max: 255 }),
  })
  .map((s) => {
    const lastLen = Math.min(s.last, s.mss);
    const data = new Uint8Array(s.full * s.mss + lastLen);
    // Bytes that differ per position, so a segment cut in the wrong place shows.
    for (let i = 0; i < data.length; i++) data[i] = (s.fill + i * 31 + (i >> 8)) & 0xff;
    const repr: TcpRepr = {
      srcPort: s.ports[0],
      dstPort: s.ports[1],
      seq: s.seq as Seq,
      ack: (s.ack >>> 0) as Seq,
      flags: tcpFlags({ ack: true, ece: s.ece }),
      window: s.window,
      urgentPointer: 0,
      options: s.options,
    };
    return {
      flow: { version: s.version, ident: s.ident, ttl: s.ttl, ecn: s.ecn },
      mss: s.mss,
      repr,
      data,
      psh: s.psh,
      fin: s.fin,
      cwr: s.cwr,
    };
  });

/** The stream as the core emits it without TSO: MSS segments, PSH and FIN on the last, CWR on the first. */
function mssSegments(s: Stream): { repr: TcpRepr; payload: Uint8Array }[] {
  const out: { repr: TcpRepr; payload: Uint8Array }[] = [];
  const n = Math.ceil(s.data.length / s.mss);
  for (let i = 0; i < n; i++) {
    const payload = s.data.subarray(i * s.mss, Math.min(s.data.length, (i + 1) * s.mss));
    const last = i === n - 1;
    const flags = { ...s.repr.flags, psh: s.psh && last, fin: s.fin && last, cwr: s.cwr && i === 0 };
    out.push({ repr: { ...s.repr, seq: ((s.repr.seq + i * s.mss) >>> 0) as Seq, flags }, payload });
  }
  return out;
}

/** The header of the stream's TSO output: the first segment's, with the stream's PSH and FIN. */
function tsoRepr(s: Stream): TcpRepr {
  const first = mssSegments(s)[0]!.repr;
  return { ...first, flags: { ...first.flags, psh: s.psh, fin: s.fin } };
}

function mssFrames(s: Stream): Uint8Array[] {
  return mssSegments(s).map((seg, i) =>
    frame(s.flow, (s.flow.ident + i) & 0xffff, IPPROTO_TCP, tcpHeaderLen(seg.repr), seg.payload, (buf) =>
      emitTcp(seg.repr, buf, ph(s.flow.version)),
    ),
  );
}

/** The stream as one super-frame, built as the stack builds it (src/stack/tcp.ts `transmit`). */
function superFrame(s: Stream): { frame: Uint8Array; vnet: VnetHdr } {
  const repr = tsoRepr(s);
  const hl = tcpHeaderLen(repr);
  const f = frame(s.flow, s.flow.ident, IPPROTO_TCP, hl, s.data, (buf) =>
    emitTcp(repr, buf, ph(s.flow.version), { checksum: 'offload' }),
  );
  const l4 = 14 + (s.flow.version === 4 ? 20 : 40);
  return { frame: f, vnet: gsoHeader(s.flow.version, IPPROTO_TCP, l4, l4 + hl, s.mss, s.cwr) };
}

describe('segmentFrame (TCP)', () => {
  it('cuts a super-frame into exactly the MSS segments of the same stream', () => {
    fc.assert(
      fc.property(stream, (s) => {
        const want = mssFrames(s);
        // The reference segments are themselves valid: their checksums verify.
        for (const w of want) {
          const ipHl = s.flow.version === 4 ? 20 : 40;
          expect(parseTcp(w.subarray(14 + ipHl), ph(s.flow.version)).ok).toBe(true);
        }
        const { frame: sf, vnet } = superFrame(s);
        const got: Uint8Array[] = [];
        const r = segmentFrame(sf, vnet, (seg) => got.push(seg));
        expect(r).toEqual({ ok: true, value: want.length });
        expect(got).toEqual(want);
      }),
      propOptions(),
    );
  });

  it("the core's TSO output cut by cutSegment is the same MSS segments, whatever its chunks", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 6 }), (s, cuts) => {
        // The payload in views cut at arbitrary places, as the send queue's rope gives it.
        const at = [...new Set(cuts.map((c) => c % (s.data.length + 1)))].sort((x, y) => x - y);
        const payload = [...at, s.data.length]
          .map((end, i) => s.data.subarray(i === 0 ? 0 : at[i - 1]!, end))
          .filter((c) => c.length > 0);
        const tso: SegmentOut = {
          kind: 'segment',
          src: V4_SRC,
          dst: V4_DST,
          repr: tsoRepr(s),
          payload,
          payloadLen: s.data.length,
          segmentSize: s.mss,
        };
        const got = cutSegment(tso).map((o) => ({
          repr: o.repr,
          payload: Uint8Array.from(Buffer.concat(o.payload)),
          payloadLen: o.payloadLen,
          segmentSize: o.segmentSize,
        }));
        const want = mssSegments(s).map((w) => ({
          repr: w.repr,
          payload: Uint8Array.from(w.payload),
          payloadLen: w.payload.length,
          segmentSize: undefined,
        }));
        expect(got).toEqual(want);
      }),
      propOptions(),
    );
  });
});

describe('segmentFrame (UDP, USO) and partial checksums', () => {
  it('cuts a USO super-frame into datagrams of gso_size bytes, each with its own length and checksum', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4 as const, 6 as const),
        fc.integer({ min: 1, max: 200 }),
        fc.uint8Array({ minLength: 1, maxLength: 1500 }),
        fc.integer({ min: 0, max: 0xffff }),
        (version, size, data, ident) => {
          const flow: Flow = { version, ident, ttl: 64, ecn: 0 };
          const sf = frame(flow, ident, IPPROTO_UDP, 8, data, (buf) =>
            emitUdp({ srcPort: 53, dstPort: 9999 }, buf, ph(version), { checksum: 'offload' }),
          );
          const l4 = 14 + (version === 4 ? 20 : 40);
          const vnet: VnetHdr = {
            flags: VNET_F_NEEDS_CSUM,
            gsoType: VNET_GSO_UDP_L4,
            hdrLen: l4 + 8,
            gsoSize: size,
            csumStart: l4,
            csumOffset: 6,
          };
          const got: Uint8Array[] = [];
          expect(segmentFrame(sf, vnet, (seg) => got.push(seg)).ok).toBe(true);
          const want: Uint8Array[] = [];
          for (let off = 0, i = 0; off < data.length; off += size, i++) {
            const part = data.subarray(off, Math.min(data.length, off + size));
            want.push(
              frame(flow, (ident + i) & 0xffff, IPPROTO_UDP, 8, part, (buf) =>
                emitUdp({ srcPort: 53, dstPort: 9999 }, buf, ph(version)),
              ),
            );
          }
          expect(got).toEqual(want);
          for (const g of got) expect(parseUdp(g.subarray(l4), ph(version)).ok).toBe(true);
        },
      ),
      propOptions(100),
    );
  });

  it('finishes a NEEDS_CSUM checksum of a frame without GSO, and copies a DATA_VALID one as it is', () => {
    const flow: Flow = { version: 4, ident: 7, ttl: 64, ecn: 0 };
    const repr: TcpRepr = {
      srcPort: 80,
      dstPort: 40000,
      seq: 1 as Seq,
      ack: 2 as Seq,
      flags: tcpFlags({ ack: true, psh: true }),
      window: 512,
      urgentPointer: 0,
      options: {},
    };
    const data = Uint8Array.from({ length: 333 }, (_, i) => i);
    const full = frame(flow, 7, IPPROTO_TCP, 20, data, (b) => emitTcp(repr, b, ph(4)));
    const partial = frame(flow, 7, IPPROTO_TCP, 20, data, (b) =>
      emitTcp(repr, b, ph(4), { checksum: 'offload' }),
    );
    expect(partial).not.toEqual(full);
    const hdr = {
      flags: VNET_F_NEEDS_CSUM,
      gsoType: VNET_GSO_NONE,
      hdrLen: 0,
      gsoSize: 0,
      csumStart: 34,
      csumOffset: 16,
    };
    const got: Uint8Array[] = [];
    segmentFrame(partial, hdr, (s) => got.push(s));
    expect(got).toEqual([full]);
    got.length = 0;
    segmentFrame(full, { ...hdr, flags: VNET_F_DATA_VALID }, (s) => got.push(s));
    expect(got).toEqual([full]);
    const inPlace = partial.slice();
    expect(finishPartialChecksum(inPlace, 34, 16)).toBe(true);
    expect(inPlace).toEqual(full);
    expect(finishPartialChecksum(inPlace, 34, inPlace.length)).toBe(false);
  });

  it('never throws on any bytes with any header, and refuses a header that does not fit the frame', () => {
    const vnet = fc.record({
      flags: fc.constantFrom(0, 1, 2),
      gsoType: fc.constantFrom(0, 1, 4, 5, 0x81),
      hdrLen: fc.nat(0xffff),
      gsoSize: fc.nat(0xffff),
      csumStart: fc.nat(200),
      csumOffset: fc.nat(40),
    });
    const valid = stream.map((s) => superFrame(s).frame);
    fc.assert(
      fc.property(mutated(valid), vnet, (bytes, h) => {
        let n = 0;
        const r = segmentFrame(bytes, h, () => n++);
        if (r.ok) expect(n).toBe(r.value);
        frameLayout(bytes);
      }),
      propOptions(),
    );
    const v6 = superFrame({
      flow: { version: 6, ident: 0, ttl: 64, ecn: 0 },
      mss: 10,
      repr: {
        srcPort: 1,
        dstPort: 2,
        seq: 0 as Seq,
        ack: 0 as Seq,
        flags: tcpFlags({ ack: true }),
        window: 1,
        urgentPointer: 0,
        options: {},
      },
      data: new Uint8Array(25),
      psh: false,
      fin: false,
      cwr: false,
    });
    // A TCPv4 header on an IPv6 frame.
    const r = segmentFrame(v6.frame, { ...v6.vnet, gsoType: VNET_GSO_TCPV4 }, () => undefined);
    expect(r.ok).toBe(false);
  });
});
