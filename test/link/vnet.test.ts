/**
 * The virtio-net header (src/link/vnet.ts): golden bytes, round trips, rejections, and a parser that
 * never throws. Golden bytes: the header Linux 6.x wrote in front of a TCP super-frame read from a
 * TAP with IFF_VNET_HDR and TUN_F_TSO4 (tun_put_user → virtio_net_hdr_from_skb), little-endian:
 * NEEDS_CSUM, GSO TCPv4, hdr_len 66 (14 + 20 + 32), gso_size 1448, csum_start 34, csum_offset 16.
 */
import fc from 'fast-check';
import { describe, expect, it, test } from 'vitest';
import { fromHex } from '../../src/bytes.js';
import {
  checksumTrusted,
  emitVnetHdr,
  emptyVnetHdr,
  gsoBuffer,
  gsoTagOf,
  offloadsOf,
  parseVnetHdr,
  readVnetHdr,
  recycleGsoBuffer,
  rxVnetOf,
  tagGso,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
  VNET_GSO_UDP_L4,
  VNET_HDR_LEN,
  type VnetHdr,
} from '../../src/link/vnet.js';
import { propOptions } from '../support/props.js';

const GOLDEN = fromHex('0101' + '4200' + 'a805' + '2200' + '1000');

describe('parseVnetHdr', () => {
  it('reads every field of a TCPv4 super-frame header', () => {
    const r = parseVnetHdr(GOLDEN);
    expect(r).toEqual({
      ok: true,
      value: { flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 },
    });
  });

  it('emits the same bytes, over a buffer pre-filled with 0xa5, leaving what follows alone', () => {
    const buf = new Uint8Array(12).fill(0xa5);
    emitVnetHdr({ flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 }, buf);
    expect(buf.subarray(0, VNET_HDR_LEN)).toEqual(GOLDEN);
    expect([buf[10], buf[11]]).toEqual([0xa5, 0xa5]);
  });

  test.each([
    ['too short', fromHex('010142a80522001000'), 'malformed', 'vnet-short'],
    ['an unknown flag bit', fromHex('040000000000000000 00'.replace(' ', '')), 'unsupported', 'vnet-flags'],
    ['UFO (deprecated)', fromHex('0003000000050000 0000'.replace(' ', '')), 'unsupported', 'vnet-gso-type'],
    [
      'an unknown GSO type',
      fromHex('0009000000050000 0000'.replace(' ', '')),
      'unsupported',
      'vnet-gso-type',
    ],
    [
      'GSO without a segment size',
      fromHex('0101420000002200 1000'.replace(' ', '')),
      'malformed',
      'vnet-no-gso-size',
    ],
  ])('rejects %s', (_why, bytes, severity, kind) => {
    const r = parseVnetHdr(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer: 'ethernet', kind, severity });
  });

  it('accepts the ECN bit on TCP types, and USO', () => {
    for (const t of [VNET_GSO_TCPV4 | VNET_GSO_ECN, VNET_GSO_TCPV6 | VNET_GSO_ECN, VNET_GSO_UDP_L4]) {
      const b = GOLDEN.slice();
      b[1] = t;
      expect(parseVnetHdr(b).ok).toBe(true);
    }
  });

  it('round-trips every header it accepts, and never throws on any bytes', () => {
    const hdr = fc.record({
      flags: fc.constantFrom(0, VNET_F_NEEDS_CSUM, VNET_F_DATA_VALID),
      gsoType: fc.constantFrom(
        VNET_GSO_NONE,
        VNET_GSO_TCPV4,
        VNET_GSO_TCPV6,
        VNET_GSO_UDP_L4,
        VNET_GSO_TCPV4 | 0x80,
      ),
      hdrLen: fc.integer({ min: 0, max: 0xffff }),
      gsoSize: fc.integer({ min: 1, max: 0xffff }),
      csumStart: fc.integer({ min: 0, max: 0xffff }),
      csumOffset: fc.integer({ min: 0, max: 0xffff }),
    });
    fc.assert(
      fc.property(hdr, (h: VnetHdr) => {
        const b = new Uint8Array(VNET_HDR_LEN);
        emitVnetHdr(h, b);
        expect(parseVnetHdr(b)).toEqual({ ok: true, value: h });
      }),
      propOptions(),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (b) => {
        const r = parseVnetHdr(b);
        const into = emptyVnetHdr();
        // readVnetHdr, the TAP's per-frame reader, agrees with the parser.
        expect(readVnetHdr(b, into)).toBe(r.ok);
        if (r.ok) expect(into).toEqual(r.value);
      }),
      propOptions(),
    );
  });

  it('refuses to emit into a buffer too small (a bug, so it throws)', () => {
    expect(() => emitVnetHdr(emptyVnetHdr(), new Uint8Array(9))).toThrow(RangeError);
  });
});

describe('offload metadata on links and frames', () => {
  it('finds a super-frame tag by its buffer, through any view of it', () => {
    const buf = new Uint8Array(100);
    const h: VnetHdr = { flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 };
    tagGso(buf.buffer, h);
    expect(gsoTagOf(buf.subarray(10))).toBe(h);
    expect(gsoTagOf(new Uint8Array(buf.buffer, 24, 50))).toBe(h);
    expect(gsoTagOf(new Uint8Array(100))).toBeUndefined();
  });

  it('trusts a checksum only with NEEDS_CSUM or DATA_VALID from a link that has offloads', () => {
    const rx = { ...emptyVnetHdr(), flags: VNET_F_DATA_VALID };
    const off = { csum: true, tso4: true, tso6: true, tsoEcn: true, uso4: false, uso6: false };
    expect(checksumTrusted(rxVnetOf({ offloads: off, rxVnet: rx }))).toBe(true);
    expect(checksumTrusted(rxVnetOf({ offloads: off, rxVnet: { ...rx, flags: VNET_F_NEEDS_CSUM } }))).toBe(
      true,
    );
    expect(checksumTrusted(rxVnetOf({ offloads: off, rxVnet: { ...rx, flags: 0 } }))).toBe(false);
    // A link without offloads (memory, --no-offload) never vouches, whatever it carries.
    expect(checksumTrusted(rxVnetOf({ offloads: undefined, rxVnet: rx }))).toBe(false);
    expect(checksumTrusted(rxVnetOf({}))).toBe(false);
    expect(offloadsOf({ offloads: off })).toBe(off);
    expect(offloadsOf({})).toBeUndefined();
  });
});

describe('super-frame buffers given back by the TAP that wrote them', () => {
  const H = { flags: 1, gsoType: 1, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 };

  it('are reused for the next super-frame, once each, and only when the stack made them', () => {
    const a = gsoBuffer(30_000);
    tagGso(a, H);
    const frame = new Uint8Array(a, 10, 30_000);
    recycleGsoBuffer(frame);
    // Given back twice (a bug elsewhere): kept once, or two frames would share it.
    recycleGsoBuffer(frame);
    expect(gsoTagOf(frame)).toBeUndefined();
    expect(gsoBuffer(40_000)).toBe(a);
    expect(gsoBuffer(40_000)).not.toBe(a);
    // Not tagged (never a super-frame of the stack's), or of another size: left alone.
    const untagged = gsoBuffer(1000);
    recycleGsoBuffer(new Uint8Array(untagged));
    const other = new ArrayBuffer(2000);
    tagGso(other, H);
    recycleGsoBuffer(new Uint8Array(other));
    const next = gsoBuffer(1000);
    expect(next).not.toBe(untagged);
    expect(next).not.toBe(other);
  });

  it('a super-frame larger than the spare buffers gets one of its own', () => {
    expect(gsoBuffer(70_000).byteLength).toBe(70_000);
  });
});
