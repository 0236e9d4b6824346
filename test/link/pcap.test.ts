/**
 * The pcap reader (pcap-parser), the in-memory parser and the buffered writer, checked against each
 * other, against tshark's reading of the golden captures (test/golden/expected/*.json, made by
 * scripts/golden-expect.mjs) and, when it is installed, against tshark itself.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  LINKTYPE_ETHERNET,
  PCAP_MAX_SNAPLEN,
  type PcapFile,
  PcapWriter,
  parsePcap,
  readPcapFile,
} from '../../src/link/pcap.js';
import { mutated, propOptions } from '../support/props.js';

const GOLDEN = resolve(import.meta.dirname, '../golden');
const GOLDEN_FILES = readdirSync(GOLDEN).filter((f) => f.endsWith('.pcap'));
const HAS_TSHARK = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;

interface ExpectedFile {
  readonly linkType: number;
  readonly frameCount: number;
  readonly frames: readonly {
    readonly number: number;
    readonly timestampMicros: number;
    readonly length: number;
    readonly capturedLength: number;
  }[];
}

interface Rec {
  readonly ts: number;
  readonly bytes: Uint8Array;
  readonly orig?: number;
}

/** Builds a classic pcap by hand, in either byte order and timestamp precision. */
function encodePcap(
  records: readonly Rec[],
  o: { little?: boolean; nanos?: boolean; snaplen?: number; linkType?: number; major?: number } = {},
): Uint8Array {
  const little = o.little ?? true;
  const len = 24 + records.reduce((n, r) => n + 16 + r.bytes.length, 0);
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  v.setUint32(0, o.nanos ? 0xa1b23c4d : 0xa1b2c3d4, little);
  v.setUint16(4, o.major ?? 2, little);
  v.setUint16(6, 4, little);
  v.setUint32(16, o.snaplen ?? 65535, little);
  v.setUint32(20, o.linkType ?? 1, little);
  let off = 24;
  for (const r of records) {
    const sec = Math.floor(r.ts / 1e6);
    const frac = r.ts - sec * 1e6;
    v.setUint32(off, sec, little);
    v.setUint32(off + 4, o.nanos ? frac * 1000 + 999 : frac, little);
    v.setUint32(off + 8, r.bytes.length, little);
    v.setUint32(off + 12, r.orig ?? r.bytes.length, little);
    out.set(r.bytes, off + 16);
    off += 16 + r.bytes.length;
  }
  return out;
}

function plain(f: PcapFile): unknown {
  return {
    linkType: f.linkType,
    snaplen: f.snaplen,
    frames: f.frames.map((r) => ({
      timestampMicros: r.timestampMicros,
      bytes: Array.from(r.bytes),
      originalLength: r.originalLength,
    })),
  };
}

function parsed(bytes: Uint8Array): PcapFile {
  const r = parsePcap(bytes);
  if (!r.ok) throw new Error(`${r.error.severity} ${r.error.kind}`);
  return r.value;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'oasis-pcap-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.each(GOLDEN_FILES)('golden %s', (name) => {
  const path = join(GOLDEN, name);
  const expected = JSON.parse(
    readFileSync(join(GOLDEN, 'expected', name.replace(/\.pcap$/, '.json')), 'utf8'),
  ) as ExpectedFile;

  it('reads the same frames with pcap-parser and with parsePcap', async () => {
    const viaParser = await readPcapFile(path);
    const viaSync = parsed(readFileSync(path));
    expect(viaParser.frames.length).toBeGreaterThan(0);
    expect(plain(viaParser)).toEqual(plain(viaSync));
  });

  it("agrees with tshark's frame count, times and lengths", () => {
    const f = parsed(readFileSync(path));
    expect(f.linkType).toBe(LINKTYPE_ETHERNET);
    expect(f.linkType).toBe(expected.linkType);
    expect(f.frames.length).toBe(expected.frameCount);
    expect(f.frames.map((r) => [r.timestampMicros, r.originalLength, r.bytes.length])).toEqual(
      expected.frames.map((e) => [e.timestampMicros, e.length, e.capturedLength]),
    );
  });
});

describe('parsePcap', () => {
  const records: Rec[] = [
    { ts: 1_700_000_000_123_456, bytes: Uint8Array.from([1, 2, 3, 4, 5]) },
    { ts: 1_700_000_001_000_000, bytes: new Uint8Array(0) },
    { ts: 1_700_000_001_999_999, bytes: Uint8Array.from([9, 8, 7]), orig: 1514 },
  ];
  const want = {
    linkType: 1,
    snaplen: 65535,
    frames: records.map((r) => ({
      timestampMicros: r.ts,
      bytes: Array.from(r.bytes),
      originalLength: r.orig ?? r.bytes.length,
    })),
  };

  it.each([
    ['little-endian, microseconds', { little: true, nanos: false }],
    ['big-endian, microseconds', { little: false, nanos: false }],
    ['little-endian, nanoseconds', { little: true, nanos: true }],
    ['big-endian, nanoseconds', { little: false, nanos: true }],
  ])('reads %s', (_name, o) => {
    expect(plain(parsed(encodePcap(records, o)))).toEqual(want);
  });

  it('returns views into the input, not copies', () => {
    const bytes = encodePcap(records);
    const f = parsed(bytes);
    expect(f.frames[0]!.bytes.buffer).toBe(bytes.buffer);
    expect(f.frames[0]!.bytes.byteOffset).toBe(24 + 16);
  });

  it('keeps the link type without the FCS flag bits', () => {
    expect(parsed(encodePcap([], { linkType: 0x1000_0001 })).linkType).toBe(1);
  });

  const valid = encodePcap(records);
  const bigRecord = encodePcap([{ ts: 0, bytes: new Uint8Array(4) }]);
  new DataView(bigRecord.buffer).setUint32(24 + 8, PCAP_MAX_SNAPLEN + 1, true);
  const pcapng = Uint8Array.from([0x0a, 0x0d, 0x0d, 0x0a, ...new Uint8Array(24)]);
  it.each([
    ['empty', new Uint8Array(0), 'truncated-header', 'malformed'],
    ['23 bytes', valid.subarray(0, 23), 'truncated-header', 'malformed'],
    [
      'a bad magic',
      Uint8Array.from([0xde, 0xad, 0xbe, 0xef, ...valid.subarray(4, 24)]),
      'bad-magic',
      'malformed',
    ],
    ['pcapng', pcapng, 'pcapng', 'unsupported'],
    ['version 1', encodePcap([], { major: 1 }), 'version', 'unsupported'],
    ['a cut record header', valid.subarray(0, 24 + 15), 'truncated-record-header', 'malformed'],
    ['a cut record', valid.subarray(0, valid.length - 1), 'truncated-record', 'malformed'],
    ['a record over 256 KiB', bigRecord, 'record-too-large', 'malformed'],
  ] as const)('rejects %s', (_name, bytes, kind, severity) => {
    expect(parsePcap(bytes)).toEqual({ ok: false, error: { layer: 'pcap', kind, severity } });
  });

  const recordArb = fc.record({
    ts: fc.integer({ min: 0, max: 2 ** 32 * 1e6 - 1 }),
    bytes: fc.uint8Array({ maxLength: 100 }),
  });
  const fileArb = fc
    .tuple(fc.array(recordArb, { maxLength: 5 }), fc.boolean(), fc.boolean())
    .map(([rs, little, nanos]) => encodePcap(rs, { little, nanos }));

  it('round-trips any records in any byte order and precision', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 5 }), fc.boolean(), fc.boolean(), (rs, little, nanos) => {
        const f = parsed(encodePcap(rs, { little, nanos }));
        expect(f.frames.map((r) => [r.timestampMicros, Array.from(r.bytes)])).toEqual(
          rs.map((r) => [r.ts, Array.from(r.bytes)]),
        );
      }),
      propOptions(),
    );
  });

  it('never throws, and returns a pcap error on failure', () => {
    fc.assert(
      fc.property(mutated(fileArb), (bytes) => {
        const r = parsePcap(bytes);
        if (!r.ok) expect(r.error.layer).toBe('pcap');
      }),
      propOptions(500),
    );
  });
});

describe('readPcapFile', () => {
  it.each([
    ['little-endian', true],
    ['big-endian', false],
  ])('reads a %s microsecond file like parsePcap', async (name, little) => {
    const bytes = encodePcap(
      [
        { ts: 1_600_000_000_000_001, bytes: Uint8Array.from([1, 2, 3]), orig: 60 },
        { ts: 1_600_000_000_500_000, bytes: new Uint8Array(1514).fill(0x5a) },
      ],
      { little },
    );
    const path = join(dir, `micros-${name}.pcap`);
    writeFileSync(path, bytes);
    expect(plain(await readPcapFile(path))).toEqual(plain(parsed(bytes)));
  });

  it('falls back to parsePcap for the nanosecond magic pcap-parser does not know', async () => {
    const bytes = encodePcap([{ ts: 5_000_001, bytes: Uint8Array.from([1, 2]) }], {
      nanos: true,
      little: false,
    });
    const path = join(dir, 'nanos.pcap');
    writeFileSync(path, bytes);
    expect(plain(await readPcapFile(path))).toEqual(plain(parsed(bytes)));
  });

  it.each([
    ['an empty file', new Uint8Array(0), /truncated-header/],
    [
      'a cut record',
      encodePcap([{ ts: 0, bytes: new Uint8Array(60) }]).subarray(0, 24 + 16 + 30),
      /truncated-record/,
    ],
    ['a bad magic', new Uint8Array(40).fill(7), /bad-magic/],
  ])('rejects %s', async (name, bytes, message) => {
    const path = join(dir, `bad-${name.replace(/ /g, '-')}.pcap`);
    writeFileSync(path, bytes);
    await expect(readPcapFile(path)).rejects.toThrow(message);
  });

  it('rejects a missing file', async () => {
    await expect(readPcapFile(join(dir, 'missing.pcap'))).rejects.toThrow();
  });
});

describe('PcapWriter', () => {
  it('writes the libpcap global header (LE, 2.4, snaplen, Ethernet)', () => {
    const path = join(dir, 'header.pcap');
    const w = PcapWriter.open(path, { snaplen: 1600 });
    w.close();
    expect(Array.from(readFileSync(path))).toEqual([
      0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x06, 0, 0, 1, 0, 0, 0,
    ]);
  });

  it('writes frames both readers read back, through buffer flushes and oversized records', async () => {
    const golden = parsed(readFileSync(join(GOLDEN, 'icmp.pcap'))).frames;
    const path = join(dir, 'copy.pcap');
    // A 2000-byte buffer: most records force a flush, and the 1514-byte frames fill it alone.
    const w = PcapWriter.open(path, { bufferSize: 2000 });
    for (const r of golden) w.write(r.bytes, r.timestampMicros);
    const huge = new Uint8Array(5000).map((_, i) => i);
    w.write(huge, 1_800_000_000_000_001);
    expect(w.framesWritten).toBe(golden.length + 1);
    w.close();
    w.close(); // a second close is harmless

    const want = {
      linkType: 1,
      snaplen: PCAP_MAX_SNAPLEN,
      frames: [
        ...golden.map((r) => ({
          timestampMicros: r.timestampMicros,
          bytes: Array.from(r.bytes),
          originalLength: r.bytes.length,
        })),
        { timestampMicros: 1_800_000_000_000_001, bytes: Array.from(huge), originalLength: 5000 },
      ],
    };
    expect(plain(parsed(readFileSync(path)))).toEqual(want);
    expect(plain(await readPcapFile(path))).toEqual(want);
  });

  it('cuts frames to the snapshot length and keeps the original length', () => {
    const path = join(dir, 'snap.pcap');
    const w = PcapWriter.open(path, { snaplen: 64 });
    w.write(new Uint8Array(100).fill(1), 1);
    w.write(new Uint8Array(10).fill(2), 2);
    w.close();
    const f = parsed(readFileSync(path));
    expect(f.snaplen).toBe(64);
    expect(f.frames.map((r) => [r.bytes.length, r.originalLength, r.timestampMicros])).toEqual([
      [64, 100, 1],
      [10, 10, 2],
    ]);
  });

  it('round-trips arbitrary frames whatever the buffer size', () => {
    let n = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 2 ** 32 * 1e6 - 1 })),
          {
            maxLength: 20,
          },
        ),
        fc.integer({ min: 40, max: 600 }),
        (frames, bufferSize) => {
          const path = join(dir, `prop-${n++}.pcap`);
          const w = PcapWriter.open(path, { bufferSize });
          for (const [bytes, ts] of frames) w.write(bytes, ts);
          w.close();
          const f = parsed(readFileSync(path));
          rmSync(path);
          expect(f.frames.map((r) => [Array.from(r.bytes), r.timestampMicros])).toEqual(
            frames.map(([b, ts]) => [Array.from(b), ts]),
          );
        },
      ),
      propOptions(50),
    );
  });

  it('writes out what it holds every flushIntervalMs, so a reader of the file sees a live capture', () => {
    vi.useFakeTimers();
    try {
      const path = join(dir, 'live.pcap');
      const w = PcapWriter.open(path, { flushIntervalMs: 1000 });
      w.write(new Uint8Array(60).fill(1), 1_000_000);
      expect(readFileSync(path).length).toBe(0);
      vi.advanceTimersByTime(1000);
      expect(parsed(readFileSync(path)).frames.map((f) => f.bytes.length)).toEqual([60]);
      w.write(new Uint8Array(70).fill(2), 2_000_000);
      vi.advanceTimersByTime(999);
      expect(parsed(readFileSync(path)).frames.length).toBe(1);
      vi.advanceTimersByTime(1);
      expect(parsed(readFileSync(path)).frames.map((f) => f.bytes.length)).toEqual([60, 70]);
      expect(vi.getTimerCount()).toBe(1);
      w.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('throws on programmer errors', () => {
    expect(() => PcapWriter.open(join(dir, 'x.pcap'), { flushIntervalMs: 0 })).toThrow(RangeError);
    expect(() => PcapWriter.open(join(dir, 'x.pcap'), { snaplen: 0 })).toThrow(RangeError);
    expect(() => PcapWriter.open(join(dir, 'x.pcap'), { bufferSize: 8 })).toThrow(RangeError);
    const w = PcapWriter.open(join(dir, 'x.pcap'));
    expect(() => w.write(new Uint8Array(1), -1)).toThrow(RangeError);
    expect(() => w.write(new Uint8Array(1), 2 ** 32 * 1e6)).toThrow(RangeError);
    w.close();
    expect(() => w.write(new Uint8Array(1), 0)).toThrow(/after close/);
  });

  it.skipIf(!HAS_TSHARK)('writes a file tshark opens, with every frame intact', () => {
    const golden = parsed(readFileSync(join(GOLDEN, 'tcp.pcap'))).frames;
    const path = join(dir, 'tshark.pcap');
    const w = PcapWriter.open(path, { bufferSize: 4096 });
    for (const r of golden) w.write(r.bytes, r.timestampMicros);
    w.close();
    const out = execFileSync(
      'tshark',
      ['-r', path, '-T', 'fields', '-e', 'frame.len', '-e', 'frame.time_epoch'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    const rows = out
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    expect(rows.length).toBe(golden.length);
    expect(rows.map(([len]) => Number(len))).toEqual(golden.map((r) => r.bytes.length));
    const [sec, frac] = rows[0]![1]!.split('.');
    expect(Number(sec) * 1e6 + Number(frac!.slice(0, 6))).toBe(golden[0]!.timestampMicros);
    const malformed = execFileSync(
      'tshark',
      ['-r', path, '-Y', '_ws.malformed || _ws.expert.severity >= 0x800000'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    expect(malformed).toBe('');
  });
});
