import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { fromHex, toHex, u16 } from '../../src/bytes.js';
import { type PseudoHeader, pseudoHeaderSum, sumNaive } from '../../src/checksum/index.js';
import { emitUdp, parseUdp, UDP_HEADER_LEN, UdpPacket, udpHeaderLen } from '../../src/udp/wire.js';
import { mutated, propOptions } from '../support/props.js';
import { pseudoHeaderArb, pseudoHeaderBytes, udpDatagramArb } from './arb.js';
import { IPPROTO_UDP } from '../../src/ipproto.js';

// Golden datagrams captured from Linux 6.18 in a private veth netns pair with tx checksum offload off
// (ethtool -K ... tx off), `printf 'udp over ipv4\n' | nc -u -q 0 10.77.0.2 5003` and the same over
// IPv6 to fd77::2 port 5004; tcpdump -w, UDP bytes cut from the IP payload. tcpdump: "[udp sum ok]".
const PH4: PseudoHeader = { version: 4, src: parseIpv4Addr('10.77.0.1')!, dst: parseIpv4Addr('10.77.0.2')! };
const UDP4 = fromHex('8dbe 138b 0016 ca84 756470206f76657220697076340a');
const PH6: PseudoHeader = { version: 6, src: parseIpv6Addr('fd77::1')!, dst: parseIpv6Addr('fd77::2')! };
// Odd length (15 data bytes): the last byte is summed padded with a zero.
const UDP6 = fromHex('e29e 138c 0017 8334 756470206f7665722069707636210a');

/** Naive reference for "this datagram's checksum passes" (zero rule included). */
function referenceOk(bytes: Uint8Array, ph: PseudoHeader): boolean {
  if (bytes.length < 8) return false;
  const len = u16(bytes, 4);
  if (len < 8 || len > bytes.length) return false;
  if (u16(bytes, 6) === 0) return ph.version === 4;
  const all = new Uint8Array([...pseudoHeaderBytes(ph, IPPROTO_UDP, len), ...bytes.subarray(0, len)]);
  return sumNaive(all) === 0xffff;
}

describe('UdpPacket', () => {
  it('reads every field of a golden IPv4 datagram', () => {
    const r = UdpPacket.check(UDP4);
    if (!r.ok) throw new Error(r.error.kind);
    const p = r.value;
    expect(p.srcPort).toBe(36286);
    expect(p.dstPort).toBe(5003);
    expect(p.length).toBe(22);
    expect(p.checksum).toBe(0xca84);
    expect(new TextDecoder().decode(p.payload)).toBe('udp over ipv4\n');
    expect(p.payload.buffer).toBe(UDP4.buffer);
    expect(p.verifyChecksum(PH4)).toBe(true);
    expect(p.repr()).toEqual({ srcPort: 36286, dstPort: 5003 });
  });

  it('reads and verifies a golden IPv6 datagram of odd length', () => {
    const r = parseUdp(UDP6, PH6);
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.repr).toEqual({ srcPort: 58014, dstPort: 5004 });
    expect(new TextDecoder().decode(r.value.payload)).toBe('udp over ipv6!\n');
  });

  it('cuts the payload to the Length field (link padding is not data)', () => {
    const padded = new Uint8Array([...UDP4, 0, 0, 0, 0]);
    const r = parseUdp(padded, PH4);
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.payload.length).toBe(14);
  });

  it('emits the golden datagrams byte for byte over a buffer pre-filled with 0xa5', () => {
    for (const [golden, ph] of [
      [UDP4, PH4],
      [UDP6, PH6],
    ] as const) {
      const parsed = parseUdp(golden, ph);
      if (!parsed.ok) throw new Error(parsed.error.kind);
      const buf = new Uint8Array(golden.length).fill(0xa5);
      buf.set(parsed.value.payload, UDP_HEADER_LEN);
      expect(emitUdp(parsed.value.repr, buf, ph)).toBe(8);
      expect(toHex(buf)).toBe(toHex(golden));
    }
    expect(udpHeaderLen()).toBe(8);
  });

  it('accepts a zero checksum over IPv4 as "no checksum" (RFC 768)', () => {
    const noSum = UDP4.slice();
    noSum[6] = 0;
    noSum[7] = 0;
    noSum[8] = noSum[8]! ^ 0xff; // the data is not covered any more
    expect(parseUdp(noSum, PH4).ok).toBe(true);
  });

  it('sends a computed zero checksum as 0xffff, which verifies', () => {
    // Choose the first two data bytes so that the checksum comes out zero.
    const buf = new Uint8Array(UDP_HEADER_LEN + 6);
    buf.set([0, 0, 1, 2, 3, 4], UDP_HEADER_LEN);
    emitUdp({ srcPort: 1, dstPort: 2 }, buf, PH4);
    buf.set([buf[6]!, buf[7]!], UDP_HEADER_LEN);
    emitUdp({ srcPort: 1, dstPort: 2 }, buf, PH4);
    expect(u16(buf, 6)).toBe(0xffff);
    expect(parseUdp(buf, PH4).ok).toBe(true);
    expect(referenceOk(buf, PH4)).toBe(true);
  });

  it('offload writes the uncomplemented pseudo-header sum, and finishing it gives the filled checksum', () => {
    for (const [golden, ph] of [
      [UDP4, PH4],
      [UDP6, PH6],
    ] as const) {
      const buf = golden.slice();
      emitUdp({ srcPort: u16(golden, 0), dstPort: u16(golden, 2) }, buf, ph, { checksum: 'offload' });
      expect(u16(buf, 6)).toBe(pseudoHeaderSum(ph, IPPROTO_UDP, golden.length));
      // What the device does (skb_checksum_help): sum from csum_start, field included, complement.
      const finished = ~sumNaive(buf) & 0xffff || 0xffff;
      expect(finished).toBe(u16(golden, 6));
    }
  });

  it('throws on a buffer that cannot hold a datagram (programmer error)', () => {
    expect(() => emitUdp({ srcPort: 1, dstPort: 2 }, new Uint8Array(7), PH4)).toThrow(RangeError);
    expect(() => emitUdp({ srcPort: 1, dstPort: 2 }, new Uint8Array(65536), PH4)).toThrow(RangeError);
  });

  const corrupt = UDP4.slice();
  corrupt[10] = corrupt[10]! ^ 0x01;
  const zero6 = UDP6.slice();
  zero6[6] = 0;
  zero6[7] = 0;
  it.each([
    ['empty', new Uint8Array(0), PH4, 'verify', 'truncated'],
    ['7 bytes', fromHex('8dbe138b000800'), PH4, 'verify', 'truncated'],
    ['length 7', fromHex('8dbe138b00070000'), PH4, 'ignore', 'length-too-small'],
    ['length 0', fromHex('8dbe138b00000000'), PH4, 'ignore', 'length-too-small'],
    [
      'length past the buffer',
      fromHex('8dbe138b00170000 756470206f76657220697076340a'),
      PH4,
      'ignore',
      'length-exceeds-buffer',
    ],
    ['a flipped data bit', corrupt, PH4, 'verify', 'bad-checksum'],
    ['the right bytes with the wrong addresses', UDP4, { ...PH4, dst: PH4.src }, 'verify', 'bad-checksum'],
    ['a zero checksum over IPv6', zero6, PH6, 'verify', 'zero-checksum-ipv6'],
    ['a zero checksum over IPv6, checksum ignored', zero6, PH6, 'ignore', 'zero-checksum-ipv6'],
  ] as const)('rejects %s', (_name, bytes, ph, checksum, kind) => {
    const r = parseUdp(bytes, ph, { checksum });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer: 'udp', kind, severity: 'malformed' });
  });

  it('ignores a bad checksum when told to', () => {
    expect(parseUdp(corrupt, PH4, { checksum: 'ignore' }).ok).toBe(true);
  });
});

describe('udp properties', () => {
  it('parse(emit(r)) equals r, over IPv4 and IPv6', () => {
    fc.assert(
      fc.property(udpDatagramArb, ({ repr, payload, ph, bytes }) => {
        expect(u16(bytes, 6)).not.toBe(0);
        const r = parseUdp(bytes, ph);
        expect(r.ok && r.value.repr).toEqual(repr);
        expect(r.ok && toHex(r.value.payload)).toBe(toHex(payload));
        expect(referenceOk(bytes, ph)).toBe(true);
      }),
      propOptions(),
    );
  });

  it('parse is total on arbitrary and mutated bytes, and agrees with the naive reference', () => {
    fc.assert(
      fc.property(mutated(udpDatagramArb.map((d) => d.bytes)), pseudoHeaderArb, (bytes, ph) => {
        const ignored = parseUdp(bytes, ph, { checksum: 'ignore' });
        if (ignored.ok) expect(ignored.value.payload.length).toBeLessThanOrEqual(bytes.length - 8);
        const verified = parseUdp(bytes, ph);
        expect(verified.ok).toBe(referenceOk(bytes, ph));
      }),
      propOptions(500),
    );
  });

  it('verification agrees with the naive reference on edited datagrams', () => {
    const edits = fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 2 });
    fc.assert(
      fc.property(udpDatagramArb, edits, ({ ph, bytes }, changes) => {
        const edited = bytes.slice();
        for (const [at, v] of changes) edited[at % edited.length] = v;
        expect(parseUdp(edited, ph).ok).toBe(referenceOk(edited, ph));
      }),
      propOptions(500),
    );
  });

  it('checksum verification fails on any single flipped bit in header or payload', () => {
    const arb = udpDatagramArb.chain((d) =>
      fc.tuple(fc.constant(d), fc.nat({ max: d.bytes.length * 8 - 1 })),
    );
    fc.assert(
      fc.property(arb, ([{ ph, bytes }, bit]) => {
        const flipped = bytes.slice();
        flipped[bit >>> 3] = flipped[bit >>> 3]! ^ (0x80 >>> (bit & 7));
        const r = parseUdp(flipped, ph);
        const at = bit >>> 3;
        if (at === 4 || at === 5) {
          // A shorter Length covers less data: whether that verifies is up to the arithmetic.
          expect(r.ok).toBe(referenceOk(flipped, ph));
        } else if (ph.version === 4 && u16(flipped, 6) === 0) {
          expect(r.ok).toBe(true); // flipped into "no checksum"
        } else {
          expect(r.ok).toBe(false);
        }
      }),
      propOptions(500),
    );
  });
});
