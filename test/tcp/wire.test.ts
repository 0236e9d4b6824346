import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIpv4Addr } from '../../src/addr.js';
import { fromHex, toHex, u16 } from '../../src/bytes.js';
import { type PseudoHeader, pseudoHeaderSum, sumNaive } from '../../src/checksum/index.js';
import { type Seq, toSeq } from '../../src/tcp/seq.js';
import {
  emitTcp,
  parseTcp,
  type SackBlock,
  TCP_HEADER_LEN,
  type TcpOptions,
  TcpPacket,
  type TcpRepr,
  tcpFlagBits,
  tcpFlags,
  tcpFlagsFromBits,
  tcpHeaderLen,
  tcpOptionsLen,
} from '../../src/tcp/wire.js';
import { mutated, propOptions } from '../support/props.js';
import { pseudoHeaderArb, pseudoHeaderBytes } from '../udp/arb.js';
import { sackBlockArb, seqArb, tcpFlagsArb, tcpSegmentArb } from './arb.js';
import { IPPROTO_TCP } from '../../src/ipproto.js';

// Golden segments captured from Linux 6.18 (default sysctls: timestamps, SACK, window scaling on)
// between two private network namespaces joined by a veth pair, with tx checksum, TSO, GSO and GRO
// off (ethtool -K ... tx off tso off gso off gro off), tcpdump -w on the listener's side; TCP bytes
// cut from the IPv4 payload, tcpdump reporting "cksum ... (correct)" for each.
// Connection 1: `printf 'hello oasis\n' | nc -N 10.77.0.2 5001` against `nc -l -p 5001 -N`.
const A = parseIpv4Addr('10.77.0.1')!;
const B = parseIpv4Addr('10.77.0.2')!;
const AB: PseudoHeader = { version: 4, src: A, dst: B };
const BA: PseudoHeader = { version: 4, src: B, dst: A };
/** Connection 1, frame 1: SYN with MSS, SACK-permitted + timestamps, NOP, window scale. */
const SYN = fromHex(
  'c6a41389 b11a1487 00000000 a002faf0 eaf10000 020405b4 0402080a d1bddbf0 00000000 0103030a',
);
/** Connection 1, frame 2: the SYN-ACK. */
const SYN_ACK = fromHex(
  '1389c6a4 d4fe914f b11a1488 a012fe88 a3000000 020405b4 0402080a bd1f20da d1bddbf0 0103030a',
);
/** Connection 1, frame 4: 12 data bytes with NOP NOP timestamps, PSH. */
const DATA = fromHex(
  'c6a41389 b11a1488 d4fe9150 8018003f 363e0000 0101080a d1bddbf0 bd1f20da 68656c6c6f206f617369730a',
);
/** Connection 1, frame 6: the client's FIN. */
const FIN = fromHex('c6a41389 b11a1494 d4fe9150 8011003f d00c0000 0101080a d1bddbf0 bd1f20da');
/** `nc -z 10.77.0.2 5002` with nothing listening: the RST-ACK Linux answers the SYN with. */
const RST = fromHex('138ad578 00000000 0f2e6a24 50140000 38df0000');
/**
 * 300 kB sent with nc to port 5005 while an nftables netdev-ingress rule on the receiver dropped
 * 1 data segment in 6 (`numgen random mod 6 == 0 drop`): an ACK from the receiver carrying
 * timestamps and three SACK blocks (Data Offset 15, the full 60 bytes).
 */
const SACK = fromHex(
  '138d9104 07363dae e6a3a228 f0100015 da8d0000 0101080a 34630add 19bc760c 0101051a' +
    'e6a3c418 e6a3d1e0 e6a3b8c8 e6a3be70 e6a3a7d0 e6a3b320',
);

const s = toSeq;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function check(bytes: Uint8Array): TcpPacket {
  const r = TcpPacket.check(bytes);
  if (!r.ok) throw new Error(r.error.kind);
  return r.value;
}

/** A 20-byte header (ports 1 -> 2, ACK) with the given option bytes and a matching Data Offset. */
function withOptions(optionsHex: string, payloadHex = ''): Uint8Array {
  const opts = fromHex(optionsHex);
  if (opts.length % 4 !== 0) throw new Error('options must fill whole words');
  const b = new Uint8Array(TCP_HEADER_LEN + opts.length + fromHex(payloadHex).length);
  b.set(fromHex('00010002 00000001 00000002 0010ffff 00000000'));
  b[12] = ((TCP_HEADER_LEN + opts.length) / 4) << 4;
  b.set(opts, TCP_HEADER_LEN);
  b.set(fromHex(payloadHex), TCP_HEADER_LEN + opts.length);
  return b;
}

/** Emits `repr` + `payload` into a buffer pre-filled with 0xa5, payload placed first. */
function emitted(
  repr: TcpRepr,
  payload: Uint8Array,
  ph: PseudoHeader,
  checksum?: 'fill' | 'offload',
): Uint8Array {
  const headerLen = tcpHeaderLen(repr);
  const buf = new Uint8Array(headerLen + payload.length).fill(0xa5);
  buf.set(payload, headerLen);
  expect(emitTcp(repr, buf, ph, checksum === undefined ? undefined : { checksum })).toBe(headerLen);
  return buf;
}

/** Naive reference: the segment's checksum verifies over pseudo-header, header and data. */
function referenceOk(bytes: Uint8Array, ph: PseudoHeader): boolean {
  const all = new Uint8Array([...pseudoHeaderBytes(ph, IPPROTO_TCP, bytes.length), ...bytes]);
  return sumNaive(all) === 0xffff;
}

describe('TcpPacket on golden segments', () => {
  it('reads every field of a Linux SYN', () => {
    const p = check(SYN);
    expect(p.srcPort).toBe(50852);
    expect(p.dstPort).toBe(5001);
    expect(p.seq).toBe(2971276423);
    expect(p.ack).toBe(0);
    expect(p.dataOffset).toBe(10);
    expect(p.headerLen).toBe(40);
    expect(p.flagBits).toBe(0x02);
    expect(p.flags).toEqual(tcpFlags({ syn: true }));
    expect(p.window).toBe(64240);
    expect(p.checksum).toBe(0xeaf1);
    expect(p.urgentPointer).toBe(0);
    expect(p.options).toEqual({
      mss: 1460,
      sackPermitted: true,
      timestamps: { tsVal: 3518880752, tsEcr: 0 },
      windowScale: 10,
    });
    expect(toHex(p.optionBytes)).toBe('020405b40402080ad1bddbf0000000000103030a');
    expect(p.payload.length).toBe(0);
    expect(p.verifyChecksum(AB)).toBe(true);
    // (Swapping source and destination would verify too: the ones'-complement sum is commutative.)
    expect(p.verifyChecksum({ ...AB, dst: A })).toBe(false);
  });

  it('reads a SYN-ACK', () => {
    const r = parseTcp(SYN_ACK, BA);
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.repr).toEqual({
      srcPort: 5001,
      dstPort: 50852,
      seq: 3573453135,
      ack: 2971276424,
      flags: tcpFlags({ syn: true, ack: true }),
      window: 65160,
      urgentPointer: 0,
      options: {
        mss: 1460,
        sackPermitted: true,
        timestamps: { tsVal: 3172933850, tsEcr: 3518880752 },
        windowScale: 10,
      },
    });
  });

  it('reads a data segment with timestamps, its payload aliasing the bytes', () => {
    const p = check(DATA);
    expect(p.headerLen).toBe(32);
    expect(p.flags).toEqual(tcpFlags({ psh: true, ack: true }));
    expect(p.seq).toBe(2971276424);
    expect(p.ack).toBe(3573453136);
    expect(p.window).toBe(63);
    expect(p.options).toEqual({ timestamps: { tsVal: 3518880752, tsEcr: 3172933850 } });
    expect(text(p.payload)).toBe('hello oasis\n');
    expect(p.payload.buffer).toBe(DATA.buffer);
    expect(p.payload.byteOffset).toBe(DATA.byteOffset + 32);
    expect(p.verifyChecksum(AB)).toBe(true);
  });

  it('reads a FIN', () => {
    const p = check(FIN);
    expect(p.flags).toEqual(tcpFlags({ fin: true, ack: true }));
    expect(p.seq).toBe(2971276436);
    expect(p.verifyChecksum(AB)).toBe(true);
  });

  it('reads a RST with no options', () => {
    const p = check(RST);
    expect([p.srcPort, p.dstPort, p.seq, p.ack]).toEqual([5002, 54648, 0, 254700068]);
    expect(p.dataOffset).toBe(5);
    expect(p.flagBits).toBe(0x14);
    expect(p.flags).toEqual(tcpFlags({ rst: true, ack: true }));
    expect(p.window).toBe(0);
    expect(p.options).toEqual({});
    expect(p.optionBytes.length).toBe(0);
    expect(p.verifyChecksum(BA)).toBe(true);
  });

  it('reads three SACK blocks in the order sent', () => {
    const p = check(SACK);
    expect(p.headerLen).toBe(60);
    expect(p.ack).toBe(3869483560);
    expect(p.window).toBe(21);
    expect(p.options).toEqual({
      timestamps: { tsVal: 878906077, tsEcr: 431781388 },
      sack: [
        { left: 3869492248, right: 3869495776 },
        { left: 3869489352, right: 3869490800 },
        { left: 3869485008, right: 3869487904 },
      ],
    });
    expect(p.verifyChecksum(BA)).toBe(true);
  });

  it('emits every golden segment byte for byte from its repr (Linux option layout)', () => {
    for (const [golden, ph] of [
      [SYN, AB],
      [SYN_ACK, BA],
      [DATA, AB],
      [FIN, AB],
      [RST, BA],
      [SACK, BA],
    ] as const) {
      const r = parseTcp(golden, ph);
      if (!r.ok) throw new Error(r.error.kind);
      expect(toHex(emitted(r.value.repr, r.value.payload, ph))).toBe(toHex(golden));
    }
  });

  it('emits a SYN written out by hand over a buffer pre-filled with 0xa5', () => {
    const repr: TcpRepr = {
      srcPort: 50852,
      dstPort: 5001,
      seq: s(2971276423),
      ack: s(0),
      flags: tcpFlags({ syn: true }),
      window: 64240,
      urgentPointer: 0,
      options: {
        mss: 1460,
        windowScale: 10,
        sackPermitted: true,
        timestamps: { tsVal: 3518880752, tsEcr: 0 },
      },
    };
    expect(tcpHeaderLen(repr)).toBe(40);
    expect(toHex(emitted(repr, new Uint8Array(0), AB))).toBe(toHex(SYN));
  });

  it('offload writes the uncomplemented pseudo-header sum; finishing it gives the filled checksum', () => {
    const r = parseTcp(DATA, AB);
    if (!r.ok) throw new Error(r.error.kind);
    const buf = emitted(r.value.repr, r.value.payload, AB, 'offload');
    expect(u16(buf, 16)).toBe(pseudoHeaderSum(AB, IPPROTO_TCP, DATA.length));
    // The device (skb_checksum_help): sum from csum_start, the field included, complement, store.
    const finished = ~sumNaive(buf) & 0xffff;
    expect(finished).toBe(u16(DATA, 16));
  });

  it('throws on a buffer smaller than the header (programmer error)', () => {
    const r = parseTcp(SYN, AB);
    if (!r.ok) throw new Error(r.error.kind);
    expect(() => emitTcp(r.value.repr, new Uint8Array(39), AB)).toThrow(RangeError);
  });

  it('ignores a bad checksum when told to', () => {
    const bad = DATA.slice();
    bad[40] = bad[40]! ^ 0x20;
    expect(parseTcp(bad, AB, { checksum: 'ignore' }).ok).toBe(true);
  });
});

describe('TCP flags', () => {
  it('maps every bit to its flag', () => {
    const names = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'] as const;
    names.forEach((name, bit) => {
      expect(tcpFlagsFromBits(1 << bit)).toEqual(tcpFlags({ [name]: true }));
      expect(tcpFlagBits(tcpFlags({ [name]: true }))).toBe(1 << bit);
    });
    for (let b = 0; b < 256; b++) expect(tcpFlagBits(tcpFlagsFromBits(b))).toBe(b);
  });

  it('ignores the reserved bits on input and writes them as zero', () => {
    const p = check(withOptions(''));
    const reserved = withOptions('');
    reserved[12] = reserved[12]! | 0x0f;
    expect(check(reserved).flags).toEqual(p.flags);
    const out = emitted(check(reserved).repr(), new Uint8Array(0), AB);
    expect(out[12]).toBe(0x50);
  });
});

describe('TCP options on input', () => {
  it.each([
    ['EOL ends the list: a window scale after it is padding', '00030307', {}],
    ['NOPs are skipped', '01010101', {}],
    ['unaligned options', '03030702 0405b400', { windowScale: 7, mss: 1460 }],
    ['an unknown kind is skipped by its length', 'fd041234 020405b4', { mss: 1460 }],
    ['an unknown kind of length 2', '1e020101', {}],
    ['a repeated option: the last wins', '020405b4 02040218', { mss: 536 }],
    ['a window scale above 14 is kept as received', '0103030f', { windowScale: 15 }],
    ['a window scale of 255 is kept as received', '010303ff', { windowScale: 255 }],
    ['MSS outside a SYN is reported', '020405b4', { mss: 1460 }],
    ['SACK-permitted alone, Linux layout', '01010402', { sackPermitted: true }],
    [
      'timestamps without SACK-permitted',
      '0101080a 00000001 00000002',
      { timestamps: { tsVal: 1, tsEcr: 2 } },
    ],
    ['one SACK block', '0101050a 00000010 00000020', { sack: [{ left: 0x10, right: 0x20 }] }],
    [
      'four SACK blocks (36 bytes)',
      `01010522 ${'fffffff0 00000010 '.repeat(4)}`,
      { sack: Array(4).fill({ left: 0xffff_fff0, right: 0x10 }) },
    ],
    ['non-zero bytes after EOL', '0002ffff', {}],
  ])('%s', (_name, optionsHex, expected) => {
    const r = parseTcp(withOptions(optionsHex), AB, { checksum: 'ignore' });
    if (!r.ok) throw new Error(r.error.kind);
    expect(r.value.repr.options).toEqual(expected);
  });

  const short = RST.subarray(0, 19);
  const offset = (words: number, len: number) => {
    const b = new Uint8Array(len);
    b.set(RST.subarray(0, Math.min(len, 20)));
    b[12] = (words << 4) | (b[12]! & 0x0f);
    return b;
  };
  const badSum = DATA.slice();
  badSum[43] = badSum[43]! ^ 0x01;
  it.each([
    ['empty', new Uint8Array(0), 'truncated'],
    ['19 bytes', short, 'truncated'],
    ['Data Offset 0 (words, not bytes)', offset(0, 20), 'data-offset-too-small'],
    ['Data Offset 4', offset(4, 40), 'data-offset-too-small'],
    ['Data Offset 6 over 20 bytes', offset(6, 20), 'header-exceeds-buffer'],
    ['Data Offset 15 over 59 bytes', offset(15, 59), 'header-exceeds-buffer'],
    ['a kind without its length byte', withOptions('01010102'), 'option-length-missing'],
    ['an option length of 0', withOptions('02000000'), 'option-length-too-small'],
    ['an option length of 1 (unknown kind)', withOptions('fe010000'), 'option-length-too-small'],
    ['an option running past the header', withOptions('020805b4'), 'option-overruns-header'],
    ['an unknown option running past the header', withOptions('0101fe03'), 'option-overruns-header'],
    ['an option running into the payload', withOptions('0101fe06', 'aabb'), 'option-overruns-header'],
    ['MSS of length 3', withOptions('02030500'), 'bad-mss-length'],
    ['MSS of length 6', withOptions('020605b40000 0000'), 'bad-mss-length'],
    ['window scale of length 4', withOptions('03040700'), 'bad-window-scale-length'],
    ['window scale of length 2', withOptions('03020101'), 'bad-window-scale-length'],
    ['SACK-permitted of length 3', withOptions('04030000'), 'bad-sack-permitted-length'],
    ['SACK with no block', withOptions('05020101'), 'bad-sack-length'],
    ['SACK of length 11', withOptions('050b0000 00000000 00000000'), 'bad-sack-length'],
    ['SACK of length 14', withOptions('050e0000 00000000 00000000 00000000'), 'bad-sack-length'],
    ['timestamps of length 12', withOptions('080c0000 00000000 00000000'), 'bad-timestamps-length'],
    ['timestamps of length 8', withOptions('08080000 00000000'), 'bad-timestamps-length'],
    ['a flipped data bit', badSum, 'bad-checksum'],
  ])('rejects %s', (_name, bytes, kind) => {
    const r = parseTcp(bytes, AB, { checksum: kind === 'bad-checksum' ? 'verify' : 'ignore' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toEqual({ layer: 'tcp', kind, severity: 'malformed' });
  });

  it('rejects the right bytes under the wrong pseudo-header', () => {
    const others: PseudoHeader[] = [
      { ...AB, src: A + 1 },
      { ...AB, dst: A },
      { version: 6, src: new Uint8Array(16), dst: new Uint8Array(16) },
    ];
    for (const ph of others) {
      const r = parseTcp(SYN, ph);
      expect(r.ok ? undefined : r.error).toEqual({
        layer: 'tcp',
        kind: 'bad-checksum',
        severity: 'malformed',
      });
    }
  });
});

const block = (left: number, right: number): SackBlock => ({ left: s(left), right: s(right) });

describe('TCP options on output', () => {
  it.each([
    ['nothing', {}, ''],
    ['MSS', { mss: 1460 }, '020405b4'],
    ['SACK-permitted', { sackPermitted: true }, '01010402'],
    ['window scale', { windowScale: 7 }, '01030307'],
    ['timestamps', { timestamps: { tsVal: 1, tsEcr: 2 } }, '0101080a 00000001 00000002'],
    [
      'SACK-permitted riding with timestamps',
      { sackPermitted: true, timestamps: { tsVal: 1, tsEcr: 2 } },
      '0402080a 00000001 00000002',
    ],
    [
      'a SYN without timestamps',
      { mss: 1460, sackPermitted: true, windowScale: 7 },
      '020405b4 01010402 01030307',
    ],
    ['SACK blocks', { sack: [block(1, 2), block(3, 4)] }, '01010512 00000001 00000002 00000003 00000004'],
    [
      'timestamps then SACK: 40 bytes, the most that fits',
      { timestamps: { tsVal: 1, tsEcr: 2 }, sack: [block(1, 2), block(3, 4), block(5, 6)] },
      '0101080a 00000001 00000002 0101051a 00000001 00000002 00000003 00000004 00000005 00000006',
    ],
  ] as [string, TcpOptions, string][])('lays out %s', (_name, options, expectedHex) => {
    const expected = toHex(fromHex(expectedHex));
    expect(tcpOptionsLen(options)).toBe(expected.length / 2);
    const repr: TcpRepr = { ...check(withOptions('')).repr(), options };
    const out = emitted(repr, fromHex('aa'), AB);
    expect(toHex(out.subarray(TCP_HEADER_LEN, tcpHeaderLen(repr)))).toBe(expected);
    expect(out[12]! >>> 4).toBe(5 + expected.length / 8);
    expect(out[out.length - 1]).toBe(0xaa);
  });

  it.each([
    ['no SACK block', { sack: [] }],
    ['5 SACK blocks', { sack: Array(5).fill(block(1, 2)) }],
    [
      'timestamps and 4 SACK blocks (48 bytes)',
      { timestamps: { tsVal: 0, tsEcr: 0 }, sack: Array(4).fill(block(1, 2)) },
    ],
    [
      'MSS, window scale and 4 SACK blocks (44 bytes)',
      { mss: 1, windowScale: 1, sack: Array(4).fill(block(1, 2)) },
    ],
  ] as [string, TcpOptions][])('throws on %s (programmer error)', (_name, options) => {
    expect(() => tcpOptionsLen(options)).toThrow(RangeError);
    const repr: TcpRepr = { ...check(withOptions('')).repr(), options };
    expect(() => emitTcp(repr, new Uint8Array(80), AB)).toThrow(RangeError);
  });

  it('round trips every combination of options, each with as many SACK blocks as fit', () => {
    const base = check(withOptions('')).repr();
    const all = {
      mss: 536,
      windowScale: 14,
      sackPermitted: true,
      timestamps: { tsVal: 0xffff_ffff, tsEcr: 0x8000_0000 },
    } as const;
    const keys = Object.keys(all) as (keyof typeof all)[];
    let combos = 0;
    for (let mask = 0; mask < 1 << keys.length; mask++) {
      const chosen: Record<string, unknown> = {};
      keys.forEach((k, i) => {
        if (mask & (1 << i)) chosen[k] = all[k];
      });
      const without = chosen as TcpOptions;
      for (let blocks = 0; blocks <= 4; blocks++) {
        const options: TcpOptions =
          blocks === 0
            ? without
            : { ...without, sack: Array.from({ length: blocks }, (_, i) => block(0xffff_fff0 + i, i)) };
        if (tcpOptionsLen(without) + 4 + 8 * blocks > 40 && blocks > 0) continue;
        const repr = { ...base, options };
        const bytes = emitted(repr, new Uint8Array(0), AB);
        expect(bytes.length % 4).toBe(0);
        const r = parseTcp(bytes, AB);
        expect(r.ok && r.value.repr).toEqual(repr);
        combos++;
      }
    }
    // 16 sets without SACK, plus 1..4 blocks where they fit.
    expect(combos).toBe(62);
  });
});

/** Option bytes built from well-formed, malformed and random pieces, padded to whole words (<= 40). */
const optionTokenArb = fc.oneof(
  fc.constant([0]),
  fc.constant([1]),
  fc.integer({ min: 0, max: 0xffff }).map((v) => [2, 4, v >> 8, v & 0xff]),
  fc.integer({ min: 0, max: 255 }).map((v) => [3, 3, v]),
  fc.constant([4, 2]),
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 8, maxLength: 8 }).map((v) => [8, 10, ...v]),
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 8, maxLength: 32 }).map((v) => {
    const n = v.length >> 3;
    return [5, 2 + 8 * n, ...v.slice(0, 8 * n)];
  }),
  fc
    .tuple(fc.integer({ min: 2, max: 255 }), fc.integer({ min: 0, max: 12 }))
    .map(([kind, len]) => [kind, len, ...Array(Math.max(0, len - 2)).fill(7)]),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }),
);
const optionBytesArb = fc.array(optionTokenArb, { maxLength: 8 }).map((tokens) => {
  const flat = tokens.flat().slice(0, 40);
  const padded = new Uint8Array(Math.ceil(flat.length / 4) * 4);
  padded.set(flat);
  return padded;
});

const OPTION_ERRORS = new Set([
  'option-length-missing',
  'option-length-too-small',
  'option-overruns-header',
  'bad-mss-length',
  'bad-window-scale-length',
  'bad-sack-permitted-length',
  'bad-sack-length',
  'bad-timestamps-length',
]);

describe('tcp properties', () => {
  it('parse(emit(r)) equals r, over IPv4 and IPv6, with every option combination', () => {
    fc.assert(
      fc.property(tcpSegmentArb, ({ repr, payload, ph, bytes }) => {
        const r = parseTcp(bytes, ph);
        expect(r.ok && r.value.repr).toEqual(repr);
        expect(r.ok && toHex(r.value.payload)).toBe(toHex(payload));
        expect(bytes.length - payload.length).toBe(tcpHeaderLen(repr));
        expect(referenceOk(bytes, ph)).toBe(true);
      }),
      propOptions(),
    );
  });

  it('flags round trip through their byte', () => {
    fc.assert(
      fc.property(tcpFlagsArb, (f) => {
        expect(tcpFlagsFromBits(tcpFlagBits(f))).toEqual(f);
      }),
      propOptions(),
    );
  });

  it('parse is total on arbitrary and mutated bytes', () => {
    fc.assert(
      fc.property(mutated(tcpSegmentArb.map((seg) => seg.bytes)), pseudoHeaderArb, (bytes, ph) => {
        const r = parseTcp(bytes, ph, { checksum: 'ignore' });
        if (r.ok) {
          const headerLen = bytes.length - r.value.payload.length;
          expect(headerLen).toBeGreaterThanOrEqual(20);
          expect(headerLen).toBeLessThanOrEqual(60);
          const n = r.value.repr.options.sack?.length;
          if (n !== undefined) expect(n >= 1 && n <= 4).toBe(true);
        } else {
          expect(r.error.layer).toBe('tcp');
        }
        expect(parseTcp(bytes, ph).ok).toBe(r.ok && referenceOk(bytes, ph));
      }),
      propOptions(500),
    );
  });

  it('any option bytes: an error of a known kind, or options that re-emit canonically', () => {
    fc.assert(
      fc.property(optionBytesArb, (opts) => {
        const bytes = withOptions(toHex(opts));
        const r = parseTcp(bytes, AB, { checksum: 'ignore' });
        if (!r.ok) {
          expect(OPTION_ERRORS.has(r.error.kind)).toBe(true);
          return;
        }
        const options = r.value.repr.options;
        let fits = true;
        try {
          tcpOptionsLen(options);
        } catch {
          fits = false;
        }
        if (!fits) {
          // A sender that packs options without NOPs fits more than Linux's aligned layout: only
          // SACK blocks can push that layout past 40 bytes.
          expect(options.sack).toBeDefined();
          return;
        }
        const again = parseTcp(emitted(r.value.repr, new Uint8Array(0), AB), AB);
        expect(again.ok && again.value.repr).toEqual(r.value.repr);
      }),
      propOptions(1000),
    );
  });

  it('checksum verification fails on any single flipped bit in header or payload', () => {
    const arb = tcpSegmentArb.chain((seg) =>
      fc.tuple(fc.constant(seg), fc.nat({ max: seg.bytes.length * 8 - 1 })),
    );
    fc.assert(
      fc.property(arb, ([{ ph, bytes }, bit]) => {
        const flipped = bytes.slice();
        flipped[bit >>> 3] = flipped[bit >>> 3]! ^ (0x80 >>> (bit & 7));
        expect(parseTcp(flipped, ph).ok).toBe(false);
      }),
      propOptions(500),
    );
  });

  it('verification agrees with the naive reference on edited segments', () => {
    const edits = fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 2 });
    fc.assert(
      fc.property(tcpSegmentArb, edits, ({ ph, bytes }, changes) => {
        const edited = bytes.slice();
        for (const [at, v] of changes) edited[at % edited.length] = v;
        const structural = TcpPacket.check(edited).ok;
        expect(parseTcp(edited, ph).ok).toBe(structural && referenceOk(edited, ph));
      }),
      propOptions(500),
    );
  });

  it('SACK blocks keep sequence numbers at the wrap points', () => {
    fc.assert(
      fc.property(fc.array(sackBlockArb, { minLength: 1, maxLength: 4 }), seqArb, (sack, seq: Seq) => {
        const repr: TcpRepr = { ...check(withOptions('')).repr(), seq, options: { sack } };
        const r = parseTcp(emitted(repr, new Uint8Array(0), AB), AB);
        expect(r.ok && r.value.repr).toEqual(repr);
      }),
      propOptions(),
    );
  });
});
