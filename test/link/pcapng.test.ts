/**
 * The capture reader (link/pcap.ts `CaptureReader`, `parseCapture`; link/pcapng.ts blocks): against
 * tshark's reading of captures written by dumpcap, tshark, tcpdump and editcap and of a crafted
 * two-section file (test/golden/pcapng/expected.json, made by make.sh there); on blocks built here
 * in both byte orders; cut at every byte; fed in chunks of any size; and fuzzed.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type CaptureError,
  type CaptureFrame,
  CaptureReader,
  type PcapFile,
  parseCapture,
  parsePcap,
  readCaptureFile,
  readPcapFile,
} from '../../src/link/pcap.js';
import { PCAPNG_MAX_BLOCK, timestampMicros } from '../../src/link/pcapng.js';
import { mutated, propOptions } from '../support/props.js';

const GOLDEN = resolve(import.meta.dirname, '../golden');
const NG = join(GOLDEN, 'pcapng');

interface ExpectedFrame {
  readonly number: number;
  readonly section: number;
  readonly interface: number;
  readonly time: string;
  readonly length: number;
  readonly capturedLength: number;
  readonly linkType?: number;
  readonly record?: 'custom';
}
const expected: { files: Record<string, { format: string; frames: ExpectedFrame[] }> } = JSON.parse(
  readFileSync(join(NG, 'expected.json'), 'utf8'),
);

const tmp = mkdtempSync(join(tmpdir(), 'oasis-pcapng-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function bytesOf(path: string): Uint8Array {
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function read(bytes: Uint8Array): {
  frames: CaptureFrame[];
  error: CaptureError | undefined;
  format?: string;
} {
  const r = parseCapture(bytes);
  if (!r.ok) return { frames: [], error: r.error };
  return { frames: [...r.value.frames], error: r.value.error, format: r.value.format };
}

/** tshark's `1795595947.572468789` as microseconds since the epoch, rounded down. */
function micros(time: string): number | undefined {
  if (time === '') return undefined;
  const [sec, frac = ''] = time.split('.');
  return Number(sec) * 1_000_000 + Number(frac.padEnd(6, '0').slice(0, 6));
}

/** What a test compares of a frame. */
function plain(f: CaptureFrame) {
  return {
    section: f.section,
    interfaceId: f.interfaceId,
    timestampMicros: f.timestampMicros,
    originalLength: f.originalLength,
    linkType: f.linkType,
    bytes: Array.from(f.bytes),
  };
}

// ---------------------------------------------------------------------------------------------------
// Golden captures.

describe.each(Object.entries(expected.files))('golden %s', (name, want) => {
  const bytes = bytesOf(join(NG, name));
  const frames = want.frames.filter((f) => f.record === undefined);

  it('reads every frame as tshark does: section, interface, time, lengths, link type', () => {
    const { frames: got, error, format } = read(bytes);
    expect(error).toBeUndefined();
    expect(format).toBe(want.format);
    expect(got.length).toBe(frames.length);
    expect(got.length).toBeGreaterThan(0);
    got.forEach((f, i) => {
      const e = frames[i]!;
      expect({
        section: f.section + 1,
        interface: f.interfaceId,
        time: f.timestampMicros,
        length: f.originalLength,
        captured: f.bytes.length,
        linkType: f.linkType,
      }).toEqual({
        section: e.section,
        interface: e.interface,
        time: micros(e.time),
        length: e.length,
        captured: e.capturedLength,
        linkType: e.linkType,
      });
    });
  });

  it('gives the same frames whatever the chunks the bytes come in', () => {
    const whole = read(bytes).frames.map(plain);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }), (sizes) => {
        const reader = new CaptureReader();
        const got: ReturnType<typeof plain>[] = [];
        let off = 0;
        for (let i = 0; off < bytes.length; i++) {
          const n = sizes[i % sizes.length]!;
          // A fresh copy per chunk, overwritten after the push: frames must not outlive their call.
          const chunk = bytes.slice(off, off + n);
          expect(reader.push(chunk, (f) => void got.push(plain(f)))).toBeUndefined();
          chunk.fill(0xee);
          off += n;
        }
        expect(reader.end()).toBeUndefined();
        expect(got).toEqual(whole);
      }),
      propOptions(20),
    );
  });
});

describe('golden pcapng cut at every byte', () => {
  const bytes = bytesOf(join(NG, 'crafted.pcapng'));
  // Block boundaries and which frames end at or before each, read from the file's own blocks.
  const ends: number[] = [];
  const frameEnds: number[] = [];
  {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let little = false;
    for (let off = 0; off < bytes.length; ) {
      const type = v.getUint32(off, little);
      if (type === 0x0a0d0d0a) little = v.getUint32(off + 8, true) === 0x1a2b3c4d;
      const len = v.getUint32(off + 4, little);
      off += len;
      ends.push(off);
      if ([2, 3, 6].includes(v.getUint32(off - len, little))) frameEnds.push(off);
    }
  }

  it('keeps every frame before the cut and names the offset of the block it cuts', () => {
    const whole = read(bytes).frames.map(plain);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { frames, error } = read(bytes.subarray(0, cut));
      const complete = frameEnds.filter((e) => e <= cut).length;
      expect(frames.map(plain)).toEqual(whole.slice(0, complete));
      const boundary = cut === bytes.length || ends.includes(cut);
      // Fewer than 4 bytes do not even say which format the file is in.
      if (cut < 4) expect(error).toMatchObject({ kind: 'truncated-header', offset: 0 });
      else if (boundary) expect(error).toBeUndefined();
      else {
        const start = [0, ...ends].filter((e) => e < cut).at(-1);
        expect(error).toMatchObject({ layer: 'pcap', kind: 'truncated-block', offset: start });
      }
    }
  });
});

describe('golden classic pcaps', () => {
  const files = readdirSync(GOLDEN).filter((f) => f.endsWith('.pcap'));
  it.each(files)('%s: the same frames as parsePcap, Ethernet, interface 0', (name) => {
    const bytes = bytesOf(join(GOLDEN, name));
    const classic = parsePcap(bytes);
    if (!classic.ok) throw new Error(classic.error.kind);
    const { frames, error, format } = read(bytes);
    expect(error).toBeUndefined();
    expect(format).toBe('pcap');
    expect(frames.map((f) => [f.timestampMicros, f.originalLength, Array.from(f.bytes), f.linkType])).toEqual(
      (classic.value as PcapFile).frames.map((f) => [
        f.timestampMicros,
        f.originalLength,
        Array.from(f.bytes),
        1,
      ]),
    );
  });

  it('keeps every complete record of a pcap cut mid-record, and says where the cut record starts', () => {
    const bytes = bytesOf(join(GOLDEN, 'icmp.pcap'));
    const { frames, error } = read(bytes.subarray(0, 3000));
    // 24-byte header, then 98-byte echo frames (16 + 98 each) and a 1514-byte fragment.
    expect(frames.length).toBe(5);
    const consumed = 24 + frames.reduce((n, f) => n + 16 + f.bytes.length, 0);
    expect(error).toEqual({
      layer: 'pcap',
      kind: 'truncated-record',
      severity: 'malformed',
      offset: consumed,
    });
    expect(read(bytes.subarray(0, consumed + 7)).error).toMatchObject({
      kind: 'truncated-record-header',
      offset: consumed,
    });
  });
});

// ---------------------------------------------------------------------------------------------------
// Blocks built here.

type Order = 'be' | 'le';

/** Writes pcapng blocks in one byte order. */
class Ng {
  private readonly parts: number[] = [];
  constructor(private readonly order: Order) {}

  private u16(n: number): number[] {
    return this.order === 'be' ? [n >> 8, n & 255] : [n & 255, n >> 8];
  }
  private u32(n: number): number[] {
    const b = [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
    return this.order === 'be' ? b : b.reverse();
  }
  private pad(b: number[]): number[] {
    return [...b, ...new Array((4 - (b.length % 4)) % 4).fill(0)];
  }
  opt(code: number, value: number[]): number[] {
    return [...this.u16(code), ...this.u16(value.length), ...this.pad(value)];
  }
  i64(n: bigint): number[] {
    const b: number[] = [];
    for (let i = 7; i >= 0; i--) b.push(Number((BigInt.asUintN(64, n) >> BigInt(i * 8)) & 255n));
    return this.order === 'be' ? b : b.reverse();
  }
  block(type: number, body: number[]): this {
    const b = this.pad(body);
    const total = 12 + b.length;
    this.parts.push(...this.u32(type), ...this.u32(total), ...b, ...this.u32(total));
    return this;
  }
  shb(major = 1): this {
    return this.block(0x0a0d0d0a, [
      ...this.u32(0x1a2b3c4d),
      ...this.u16(major),
      ...this.u16(0),
      ...this.i64(-1n),
    ]);
  }
  idb(linkType: number, snaplen: number, opts: number[] = []): this {
    const end = opts.length > 0 ? this.opt(0, []) : [];
    return this.block(1, [...this.u16(linkType), ...this.u16(0), ...this.u32(snaplen), ...opts, ...end]);
  }
  epb(iface: number, ts: bigint, data: number[], orig = data.length): this {
    const hi = Number(ts >> 32n);
    const lo = Number(ts & 0xffff_ffffn);
    return this.block(6, [
      ...this.u32(iface),
      ...this.u32(hi),
      ...this.u32(lo),
      ...this.u32(data.length),
      ...this.u32(orig),
      ...data,
    ]);
  }
  spb(data: number[], orig = data.length): this {
    return this.block(3, [...this.u32(orig), ...data]);
  }
  pb(iface: number, ts: bigint, data: number[]): this {
    return this.block(2, [
      ...this.u16(iface),
      ...this.u16(0),
      ...this.u32(Number(ts >> 32n)),
      ...this.u32(Number(ts & 0xffff_ffffn)),
      ...this.u32(data.length),
      ...this.u32(data.length),
      ...data,
    ]);
  }
  /** A block header claiming `length` bytes, then up to 56 bytes of zeros: a damaged block. */
  header(type: number, length: number): this {
    const filler = new Array(Math.max(8, Math.min(length, 64) - 8)).fill(0);
    this.parts.push(...this.u32(type), ...this.u32(length), ...filler);
    return this;
  }
  get bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => Array.from(p)));

describe.each(['be', 'le'] as const)('pcapng blocks, %s', (order) => {
  const ng = () => new Ng(order);

  it('reads enhanced, simple and obsolete packet blocks on several interfaces', () => {
    const f = ng()
      .shb()
      .idb(1, 0)
      .idb(113, 64, ng().opt(9, [3]))
      .epb(0, 1_700_000_000_123_456n, [1, 2, 3])
      .epb(1, 1_700_000_000_123n, [4, 5, 6, 7, 8], 100)
      .spb([9, 10, 11, 12, 13])
      .pb(1, 5n, [14]).bytes;
    const { frames, error } = read(f);
    expect(error).toBeUndefined();
    expect(frames.map(plain)).toEqual([
      {
        section: 0,
        interfaceId: 0,
        timestampMicros: 1_700_000_000_123_456,
        originalLength: 3,
        linkType: 1,
        bytes: [1, 2, 3],
      },
      {
        section: 0,
        interfaceId: 1,
        timestampMicros: 1_700_000_000_123_000,
        originalLength: 100,
        linkType: 113,
        bytes: [4, 5, 6, 7, 8],
      },
      {
        section: 0,
        interfaceId: 0,
        timestampMicros: undefined,
        originalLength: 5,
        linkType: 1,
        bytes: [9, 10, 11, 12, 13],
      },
      { section: 0, interfaceId: 1, timestampMicros: 5000, originalLength: 1, linkType: 113, bytes: [14] },
    ]);
  });

  it('cuts a simple packet block to the snaplen of interface 0 and to its original length', () => {
    const f = ng().shb().idb(1, 3).spb([1, 2, 3, 4, 5], 5).bytes;
    expect(read(f).frames.map((x) => Array.from(x.bytes))).toEqual([[1, 2, 3]]);
    const g = ng().shb().idb(1, 0).spb([1, 2, 3, 4], 2).bytes;
    expect(read(g).frames.map((x) => [Array.from(x.bytes), x.originalLength])).toEqual([[[1, 2], 2]]);
  });

  it.each([
    ['milliseconds', [3], 1_700_000_000_123n, 1_700_000_000_123_000],
    ['nanoseconds', [9], 1_700_000_000_123_456_789n, 1_700_000_000_123_456],
    ['picoseconds', [12], 123_456_789_000n, 123_456],
    ['seconds', [0], 1_700_000_000n, 1_700_000_000_000_000],
    ['2^-20 s', [0x94], 1_700_000_000n << 20n, 1_700_000_000_000_000],
    ['2^-1 s', [0x81], 3n, 1_500_000],
  ])('if_tsresol in %s', (_n, resol, ts, want) => {
    const f = ng().shb().idb(1, 0, ng().opt(9, resol)).epb(0, ts, [0]).bytes;
    expect(read(f).frames[0]?.timestampMicros).toBe(want);
  });

  it('adds if_tsoffset seconds (negative too)', () => {
    const n = ng();
    const f = n
      .shb()
      .idb(1, 0, n.opt(14, n.i64(-100n)))
      .epb(0, 1_000_000_000n, [0]).bytes;
    expect(read(f).frames[0]?.timestampMicros).toBe(1_000_000_000 - 100_000_000);
  });

  it('skips blocks it does not read: name resolution, statistics, secrets, custom, local use', () => {
    const f = ng()
      .shb()
      .idb(1, 0)
      .block(4, [0, 0, 0, 0])
      .block(5, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
      .block(0x0a, [0, 0, 0, 1, 0, 0, 0, 0])
      .block(0xbad, [0, 0, 0x7e, 0xd9, 1, 2])
      .block(0x4000_0bad, [0, 0, 0x7e, 0xd9])
      .block(0x8000_0001, [])
      .epb(0, 1n, [42]).bytes;
    const { frames, error } = read(f);
    expect(error).toBeUndefined();
    expect(frames.map((x) => Array.from(x.bytes))).toEqual([[42]]);
  });

  it('starts each section afresh: interfaces and byte order belong to their section', () => {
    const other: Order = order === 'be' ? 'le' : 'be';
    const first = ng().shb().idb(1, 0).idb(276, 0).epb(1, 1n, [1]).bytes;
    const second = new Ng(other).shb().idb(113, 0).epb(0, 2n, [2]).bytes;
    const { frames, error } = read(cat(first, second));
    expect(error).toBeUndefined();
    expect(frames.map((x) => [x.section, x.interfaceId, x.linkType, x.timestampMicros])).toEqual([
      [0, 1, 276, 1],
      [1, 0, 113, 2],
    ]);
    // Interface 1 of the first section does not exist in the second.
    const stale = new Ng(other).shb().idb(113, 0).epb(1, 3n, [3]).bytes;
    expect(read(cat(first, stale))).toMatchObject({
      frames: [{ section: 0 }],
      error: { kind: 'pcapng-unknown-interface', offset: first.length + 28 + 20 },
    });
  });

  const sane = () => ng().shb().idb(1, 0);
  const shbLen = 28;
  const idbLen = 20;
  it.each([
    [
      'a packet on an interface never described',
      () => sane().epb(1, 0n, [1]).bytes,
      'pcapng-unknown-interface',
      shbLen + idbLen,
    ],
    [
      'a simple packet before any interface',
      () => ng().shb().spb([1]).bytes,
      'pcapng-unknown-interface',
      shbLen,
    ],
    [
      'a block length not a multiple of 4',
      () => sane().header(6, 22).bytes,
      'pcapng-block-length',
      shbLen + idbLen,
    ],
    [
      'a block shorter than 12 bytes',
      () => sane().header(6, 8).bytes,
      'pcapng-block-length',
      shbLen + idbLen,
    ],
    [
      'a block over the limit',
      () => sane().header(6, PCAPNG_MAX_BLOCK + 4).bytes,
      'pcapng-block-too-large',
      shbLen + idbLen,
    ],
    [
      'a trailer length that differs',
      () => corruptTrailer(sane().epb(0, 0n, [1]).bytes),
      'pcapng-trailer-length',
      shbLen + idbLen,
    ],
    [
      'a captured length beyond the block',
      () => capLen(sane().epb(0, 0n, [1, 2, 3, 4]).bytes, 9),
      'pcapng-captured-length',
      shbLen + idbLen,
    ],
    ['a major version 2', () => ng().shb(2).bytes, 'pcapng-version', 0],
    [
      'a section header with an unknown byte-order magic',
      () => badMagic(ng().shb().bytes),
      'pcapng-byte-order',
      0,
    ],
  ])('stops at %s, with the offset of the block', (_n, make, kind, offset) => {
    const { frames, error } = read(make());
    expect(frames).toEqual([]);
    expect(error?.kind).toBe(kind);
    expect(error?.offset).toBe(offset);
  });

  /** Changes the trailer length of the last block. */
  function corruptTrailer(b: Uint8Array): Uint8Array {
    const out = b.slice();
    out[out.length - (order === 'be' ? 1 : 4)]! ^= 4;
    return out;
  }
  function capLen(b: Uint8Array, n: number): Uint8Array {
    const out = b.slice();
    new DataView(out.buffer).setUint32(shbLen + idbLen + 20, n, order === 'le');
    return out;
  }
  function badMagic(b: Uint8Array): Uint8Array {
    const out = b.slice();
    out[8] = 0x55;
    return out;
  }
});

describe('the first bytes', () => {
  it.each([
    ['nothing', new Uint8Array(0), 'truncated-header'],
    ['three bytes', Uint8Array.of(0x0a, 0x0d, 0x0d), 'truncated-header'],
    ['text', new TextEncoder().encode('hello, this is not a capture'), 'bad-magic'],
    ['a pcapng block before any section header', new Ng('le').idb(1, 0).bytes, 'bad-magic'],
    [
      'a pcap of version 1',
      Uint8Array.of(0xd4, 0xc3, 0xb2, 0xa1, 1, 0, 4, 0, ...new Array(16).fill(0)),
      'version',
    ],
  ])('refuses %s', (_n, bytes, kind) => {
    const r = parseCapture(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ layer: 'pcap', kind, offset: 0 });
  });

  it('waits for more bytes when a section header is cut', () => {
    const bytes = new Ng('be').shb().idb(1, 0).epb(0, 1n, [1]).bytes;
    const reader = new CaptureReader();
    const got: number[] = [];
    for (const b of bytes)
      expect(reader.push(Uint8Array.of(b), (f) => void got.push(f.bytes[0]!))).toBeUndefined();
    expect(reader.end()).toBeUndefined();
    expect(got).toEqual([1]);
    expect(reader.format).toBe('pcapng');
  });

  it('stops when the handler says so, and reads no further', () => {
    const bytes = new Ng('le').shb().idb(1, 0).epb(0, 1n, [1]).epb(0, 2n, [2]).epb(0, 3n, [3]).bytes;
    const reader = new CaptureReader();
    const got: number[] = [];
    reader.push(bytes, (f) => {
      got.push(f.bytes[0]!);
      return got.length < 2;
    });
    expect(got).toEqual([1, 2]);
    expect(reader.end()).toBeUndefined();
  });
});

describe('timestampMicros', () => {
  it('matches exact arithmetic for every base-10 resolution and offsets', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 0, max: 19 }),
        fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n }),
        (units, exp, offset) => {
          const want = (units * 1_000_000n) / 10n ** BigInt(exp) + offset * 1_000_000n;
          const got = timestampMicros(
            { linkType: 1, snaplen: 0, tsBase: 10, tsExponent: exp, tsOffset: offset },
            units,
          );
          expect(got).toBe(Number(want));
        },
      ),
      propOptions(),
    );
  });
});

describe('robustness', () => {
  const golden = Object.keys(expected.files).map((n) => bytesOf(join(NG, n)));
  const fileArb = fc.constantFrom(...golden, new Ng('be').shb().idb(1, 0).epb(0, 1n, [1, 2]).spb([3]).bytes);

  it('never throws on damaged files, and errors are pcap errors with an offset inside the file', () => {
    fc.assert(
      fc.property(mutated(fileArb), fc.integer({ min: 1, max: 4096 }), (bytes, chunk) => {
        const whole = parseCapture(bytes);
        if (!whole.ok) {
          expect(whole.error.layer).toBe('pcap');
          return;
        }
        const error = whole.value.error;
        if (error !== undefined) {
          expect(error.layer).toBe('pcap');
          expect(error.offset).toBeGreaterThanOrEqual(0);
          expect(error.offset).toBeLessThan(bytes.length);
        }
        // In chunks: the same frames and the same verdict.
        const reader = new CaptureReader();
        const frames: number[][] = [];
        let e: CaptureError | undefined;
        for (let off = 0; off < bytes.length && e === undefined; off += chunk)
          e = reader.push(bytes.slice(off, off + chunk), (f) => void frames.push(Array.from(f.bytes)));
        e ??= reader.end();
        expect(frames).toEqual(whole.value.frames.map((f) => Array.from(f.bytes)));
        expect(e).toEqual(error);
      }),
      propOptions(300),
    );
  });
});

describe('readPcapFile on pcapng', () => {
  it('reads a pcapng file of one link type as a PcapFile', async () => {
    const path = join(NG, 'dumpcap-2if.pcapng');
    const f = await readPcapFile(path);
    expect(f.linkType).toBe(1);
    expect(f.frames.map((r) => [r.timestampMicros, r.originalLength, Array.from(r.bytes)])).toEqual(
      read(bytesOf(path)).frames.map((r) => [r.timestampMicros, r.originalLength, Array.from(r.bytes)]),
    );
  });

  it('refuses one of several link types, and a cut one with the offset', async () => {
    const several = join(tmp, 'several.pcapng');
    writeFileSync(several, new Ng('le').shb().idb(1, 0).idb(113, 0).epb(0, 1n, [1]).epb(1, 2n, [2]).bytes);
    await expect(readPcapFile(several)).rejects.toThrow(/pcapng-several-link-types/);
    const cut = join(tmp, 'cut-for-pcap.pcapng');
    const bytes = bytesOf(join(NG, 'tshark.pcapng'));
    writeFileSync(cut, bytes.subarray(0, bytes.length - 3));
    await expect(readPcapFile(cut)).rejects.toThrow(/truncated-block at offset \d+/);
  });
});

describe('readCaptureFile', () => {
  it('reads a pcapng file as parseCapture does', async () => {
    const path = join(NG, 'dumpcap-2if.pcapng');
    const r = await readCaptureFile(path);
    expect(r.ok && r.value.frames.map(plain)).toEqual(read(bytesOf(path)).frames.map(plain));
  });

  it('gives a truncated file as frames and an error, and rejects only a missing file', async () => {
    const bytes = bytesOf(join(NG, 'udp.pcapng'));
    const path = join(tmp, 'cut.pcapng');
    writeFileSync(path, bytes.subarray(0, bytes.length - 10));
    const r = await readCaptureFile(path);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.value.frames.length).toBe(expected.files['udp.pcapng']!.frames.length - 1);
      expect(r.value.error?.kind).toBe('truncated-block');
    }
    await expect(readCaptureFile(join(tmp, 'missing.pcapng'))).rejects.toThrow(/ENOENT/);
  });
});
