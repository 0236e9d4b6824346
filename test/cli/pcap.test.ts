/**
 * `oasis pcap`: run through `main` (as bin/oasis.js does) on the golden captures of Linux traffic,
 * each line checked against what tshark read in the same frame (test/golden/expected/*.json); on
 * damaged and foreign files; and, when tshark is installed, against tshark live, on the golden
 * captures and on a capture of random frames with some checksums broken on purpose.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Ipv4Addr, Ipv6Addr, Mac } from '../../src/addr.js';
import type { PseudoHeader } from '../../src/checksum/index.js';
import { main } from '../../src/cli/main.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, emitEthernet } from '../../src/ethernet/wire.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../../src/ipproto.js';
import { emitIcmpv4 } from '../../src/ipv4/icmp.js';
import { emitIpv4 } from '../../src/ipv4/wire.js';
import { emitIcmpv6, icmpv6HeaderLen } from '../../src/ipv6/icmp.js';
import { emitIpv6 } from '../../src/ipv6/wire.js';
import { PcapWriter, parsePcap } from '../../src/link/pcap.js';
import { emitTcp, tcpHeaderLen } from '../../src/tcp/wire.js';
import { emitUdp } from '../../src/udp/wire.js';
import { icmpv4ReprArb } from '../ipv4/arb.js';
import { icmpv6ReprArb } from '../ipv6/arb.js';
import { tcpReprArb } from '../tcp/arb.js';
import { udpReprArb } from '../udp/arb.js';
import { OASIS_BIN, OASIS_BUILT } from '../support/oasis.js';

const GOLDEN = resolve(import.meta.dirname, '../golden');
const NG = join(GOLDEN, 'pcapng');
const goldenFiles = readdirSync(GOLDEN)
  .filter((f) => f.endsWith('.pcap'))
  .map((f) => join(GOLDEN, f));
const tmp = mkdtempSync(join(tmpdir(), 'oasis-pcap-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function hasTool(name: string): boolean {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let stdout: string[] = [];
let stderr: string[] = [];
beforeEach(() => {
  stdout = [];
  stderr = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void stdout.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void stderr.push(a.join(' ')));
});
afterEach(() => vi.restoreAllMocks());

/** Runs `oasis pcap ...args`; returns the exit code and the printed lines. */
async function oasisPcap(...args: string[]): Promise<{ code: number; lines: string[]; errors: string }> {
  const code = await main(['pcap', ...args]);
  return {
    code,
    lines: stdout
      .join('\n')
      .split('\n')
      .filter((l) => l !== ''),
    errors: stderr.join('\n'),
  };
}

/** `  12  3.000123  summary` -> its parts. */
function split(line: string): { number: number; time: string; summary: string } {
  const m = /^ *(\d+) {2}(-?\d+\.\d{6}) {2}(.*)$/.exec(line);
  if (!m) throw new Error(`not a frame line: ${line}`);
  return { number: Number(m[1]), time: m[2]!, summary: m[3]! };
}

/** Microseconds as `oasis pcap` prints them, `-` in front of a negative difference. */
function seconds(micros: number): string {
  const abs = Math.abs(micros);
  const s = `${Math.floor(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, '0')}`;
  return micros < 0 ? `-${s}` : s;
}

// ---------------------------------------------------------------------------------------------------
// Golden captures against tshark's recorded reading.

interface Expected {
  readonly frameCount: number;
  readonly frames: readonly ExpectedFrame[];
}
interface ExpectedFrame {
  readonly number: number;
  readonly timestampMicros: number;
  readonly eth: { src: string; dst: string };
  readonly arp?: { opcode: number; senderIp: string; targetIp: string };
  readonly ipv4?: { src: string; dst: string; mf: boolean; fragmentOffset: number; checksumStatus: string };
  readonly ipv6?: {
    src: string;
    dst: string;
    extensions: { type: string; offset?: number; more?: boolean }[];
  };
  readonly icmpv4?: { type: number; checksumStatus: string; id?: number; seq?: number };
  readonly icmpv6?: { type: number; checksumStatus: string; id?: number; seq?: number; target?: string };
  readonly udp?: { srcPort: number; dstPort: number; payloadLength: number; checksumStatus: string };
  readonly tcp?: {
    srcPort: number;
    dstPort: number;
    flags: number;
    payloadLength: number;
    checksumStatus: string;
  };
  readonly malformed: boolean;
}

const FLAG_LETTERS: readonly [number, string][] = [
  [0x01, 'F'],
  [0x02, 'S'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, '.'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];

/** The fields tshark saw, each one where our line must show it. */
function expectAsTshark(summary: string, f: ExpectedFrame): void {
  expect(summary).not.toMatch(/malformed|unsupported|bad .* cksum|\?/);
  if (f.arp) {
    expect(summary).toContain(`${f.eth.src} > ${f.eth.dst}, ARP, `);
    expect(summary).toContain(f.arp.opcode === 1 ? `who-has ${f.arp.targetIp}` : `Reply ${f.arp.senderIp}`);
    return;
  }
  let fragment = false;
  if (f.ipv4) {
    expect(summary).toMatch(new RegExp(`^IP ${esc(f.ipv4.src)}(\\.\\d+)? > ${esc(f.ipv4.dst)}(\\.\\d+)?: `));
    fragment = f.ipv4.mf || f.ipv4.fragmentOffset > 0;
    if (fragment) expect(summary).toContain(`@${f.ipv4.fragmentOffset}${f.ipv4.mf ? '+' : ''})`);
  }
  if (f.ipv6) {
    expect(summary).toMatch(new RegExp(`^IP6 ${esc(f.ipv6.src)}(\\.\\d+)? > ${esc(f.ipv6.dst)}(\\.\\d+)?: `));
    const frag = f.ipv6.extensions.find((x) => x.type === 'fragment' && (x.offset !== 0 || x.more));
    fragment = frag !== undefined;
    if (frag) expect(summary).toContain(`frag (${frag.offset}|`);
  }
  if (fragment) return;
  if (f.icmpv4) {
    expect(summary).toContain(': ICMP ');
    if (f.icmpv4.id !== undefined) expect(summary).toContain(`id ${f.icmpv4.id}, seq ${f.icmpv4.seq}`);
  } else if (f.icmpv6) {
    expect(summary).toMatch(/: (HBH |DSTOPT |srcrt \(.*\) |frag \(0\|\d+\) )*ICMP6, /);
    if (f.icmpv6.id !== undefined) expect(summary).toContain(`id ${f.icmpv6.id}, seq ${f.icmpv6.seq}`);
    if (f.icmpv6.target !== undefined) expect(summary).toContain(f.icmpv6.target);
  } else if (f.udp) {
    expect(summary).toMatch(
      new RegExp(`\\.${f.udp.srcPort} > .*\\.${f.udp.dstPort}: UDP, length ${f.udp.payloadLength}$`),
    );
  } else if (f.tcp) {
    const flags = FLAG_LETTERS.map(([bit, l]) => (f.tcp!.flags & bit ? l : '')).join('') || 'none';
    expect(summary).toMatch(
      new RegExp(`\\.${f.tcp.srcPort} > .*\\.${f.tcp.dstPort}: Flags \\[${esc(flags)}\\], `),
    );
    expect(summary).toMatch(new RegExp(`, length ${f.tcp.payloadLength}$`));
  } else {
    throw new Error(`frame ${f.number}: nothing to compare`);
  }
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.skipIf(goldenFiles.length === 0)('oasis pcap on the golden captures', () => {
  it.each(
    goldenFiles.map((f) => [f.split('/').pop()!, f]),
  )('%s: one line per frame, as tshark reads it', async (_n, file) => {
    const expected: Expected = JSON.parse(
      readFileSync(join(GOLDEN, 'expected', _n.replace(/\.pcap$/, '.json')), 'utf8'),
    );
    const { code, lines, errors } = await oasisPcap(file);
    expect(errors).toBe('');
    expect(code).toBe(0);
    expect(lines.length).toBe(expected.frameCount);
    const t0 = expected.frames[0]!.timestampMicros;
    lines.forEach((line, i) => {
      const f = expected.frames[i]!;
      const { number, time, summary } = split(line);
      expect(number).toBe(f.number);
      expect(time).toBe(seconds(f.timestampMicros - t0));
      expect(f.malformed).toBe(false);
      expectAsTshark(summary, f);
    });
  });

  it('--hex dumps every frame byte for byte, laid out as tcpdump -XX', async () => {
    const file = join(GOLDEN, 'arp.pcap');
    const pcap = parsePcap(readFileSync(file));
    if (!pcap.ok) throw new Error(pcap.error.kind);
    const { code, lines } = await oasisPcap('--hex', file);
    expect(code).toBe(0);
    // Frame lines, each followed by its dump rows: "\t0x0010:  0800 0604 ...  ascii".
    const dumps: number[][] = [];
    for (const line of lines) {
      if (!line.startsWith('\t')) {
        dumps.push([]);
        continue;
      }
      const m = /^\t0x([0-9a-f]{4}): {2}([0-9a-f ]{39}) {2}(.{1,16})$/.exec(line);
      if (!m) throw new Error(`not a dump row: ${JSON.stringify(line)}`);
      expect(Number.parseInt(m[1]!, 16)).toBe(dumps.at(-1)!.length);
      dumps.at(-1)!.push(
        ...m[2]!
          .replace(/ /g, '')
          .match(/../g)!
          .map((h) => Number.parseInt(h, 16)),
      );
    }
    expect(dumps.map((d) => Uint8Array.from(d))).toEqual(
      pcap.value.frames.map((f) => Uint8Array.from(f.bytes)),
    );
  });

  it.skipIf(!hasTool('tcpdump'))('--hex rows are the rows tcpdump -XX prints', async () => {
    const file = join(GOLDEN, 'icmp-errors.pcap');
    const { lines } = await oasisPcap('--hex', file);
    const ours = lines.filter((l) => l.startsWith('\t'));
    const theirs = execFileSync('tcpdump', ['-nn', '-XX', '-r', file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .filter((l) => l.startsWith('\t'));
    expect(ours).toEqual(theirs);
  });
});

/** Where the last record (pcap) or block (little-endian pcapng) of a file starts. */
function lastRecordStart(b: Uint8Array): number {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const pcapng = v.getUint32(0) === 0x0a0d0d0a;
  let last = 0;
  for (let off = pcapng ? 0 : 24; off < b.length; ) {
    last = off;
    off += pcapng ? v.getUint32(off + 4, true) : 16 + v.getUint32(off + 8, true);
  }
  return last;
}

// ---------------------------------------------------------------------------------------------------
// pcapng and Linux cooked captures (test/golden/pcapng: dumpcap, tshark, tcpdump -i any, editcap,
// crafted), against tshark's reading in expected.json.

interface NgFrame {
  readonly number: number;
  readonly time: string;
  readonly record?: string;
  readonly linkType?: number;
  readonly ipSrc?: string;
  readonly ipDst?: string;
  readonly ipv6Src?: string;
  readonly ipv6Dst?: string;
  readonly arpOpcode?: number;
  readonly sllPacketType?: number;
  readonly sllIfindex?: number;
  readonly length: number;
  readonly capturedLength: number;
}
const ngExpected: { files: Record<string, { frames: NgFrame[] }> } = JSON.parse(
  readFileSync(join(NG, 'expected.json'), 'utf8'),
);

/** tshark's `1795595947.572468789` as microseconds, rounded down. */
function tsharkMicros(time: string): number {
  const [sec, frac = ''] = time.split('.');
  return Number(sec) * 1_000_000 + Number(frac.padEnd(6, '0').slice(0, 6));
}

describe('oasis pcap on pcapng and Linux cooked captures', () => {
  it.each(Object.keys(ngExpected.files))('%s: one line per frame, as tshark reads it', async (name) => {
    const frames = ngExpected.files[name]!.frames.filter((f) => f.record === undefined);
    const { code, lines, errors } = await oasisPcap(join(NG, name));
    expect(errors).toBe('');
    expect(code).toBe(0);
    expect(lines.length).toBe(frames.length);
    const t0 = frames.find((f) => f.time !== '')!.time;
    lines.forEach((line, i) => {
      const f = frames[i]!;
      const { number, time, summary } = splitNg(line);
      expect(number).toBe(i + 1);
      expect(time).toBe(f.time === '' ? '-' : seconds(tsharkMicros(f.time) - tsharkMicros(t0)));
      if (f.capturedLength < f.length) {
        // Cut by the snapshot length: said so (the IP layer reads as truncated, as in tcpdump).
        expect(summary).toContain(`[captured ${f.capturedLength} of ${f.length} bytes]`);
        return;
      }
      expect(summary).not.toMatch(/malformed|unsupported|bad .* cksum|not supported/);
      let rest = summary;
      if (f.linkType === 276) {
        const dir = ['In', 'B', 'M', 'P', 'Out'][f.sllPacketType!]!;
        expect(rest.startsWith(`ifindex ${f.sllIfindex} ${dir} `)).toBe(true);
        rest = rest.slice(`ifindex ${f.sllIfindex} ${dir} `.length);
      }
      if (f.ipSrc !== undefined)
        expect(rest).toMatch(new RegExp(`^IP ${esc(f.ipSrc)}(\\.\\d+)? > ${esc(f.ipDst!)}(\\.\\d+)?: `));
      else if (f.ipv6Src !== undefined)
        expect(rest).toMatch(new RegExp(`^IP6 ${esc(f.ipv6Src)}(\\.\\d+)? > ${esc(f.ipv6Dst!)}(\\.\\d+)?: `));
      else if (f.arpOpcode !== undefined)
        expect(rest).toMatch(f.arpOpcode === 1 ? /ARP, Request who-has/ : /ARP, Reply/);
      else throw new Error(`${name} frame ${f.number}: nothing to compare`);
      // Cooked frames show no MACs, as tcpdump prints them.
      if (f.linkType !== 1) expect(rest).not.toMatch(/^[0-9a-f]{2}:/);
    });
  });

  it('--hex dumps the frames of a pcapng capture', async () => {
    const { lines } = await oasisPcap('--hex', join(NG, 'crafted.pcapng'));
    expect(lines.filter((l) => !l.startsWith('\t')).length).toBe(
      ngExpected.files['crafted.pcapng']!.frames.filter((f) => f.record === undefined).length,
    );
    expect(lines.filter((l) => l.startsWith('\t0x0000:')).length).toBeGreaterThan(0);
  });
});

/** `  12  3.000123  summary`, the time being `-` for a frame without one. */
function splitNg(line: string): { number: number; time: string; summary: string } {
  const m = /^ *(\d+) {2}(-|-?\d+\.\d{6}) {2}(.*)$/.exec(line);
  if (!m) throw new Error(`not a frame line: ${line}`);
  return { number: Number(m[1]), time: m[2]!, summary: m[3]! };
}

// ---------------------------------------------------------------------------------------------------
// Files that are not what they should be.

describe('oasis pcap on damaged and foreign files', () => {
  const golden = goldenFiles.find((f) => f.endsWith('icmp-errors.pcap')) ?? goldenFiles[0];

  it('refuses a file that is not a capture, with one clear line and exit code 1', async () => {
    const file = join(tmp, 'notes.txt');
    writeFileSync(file, 'these are not packets\n'.repeat(4));
    const { code, lines, errors } = await oasisPcap(file);
    expect(code).toBe(1);
    expect(lines).toEqual([]);
    expect(errors).toBe(`oasis pcap: ${file}: not a pcap or pcapng capture (unknown magic number)`);
  });

  it('refuses a file shorter than the pcap header', async () => {
    const file = join(tmp, 'short.pcap');
    writeFileSync(file, Uint8Array.of(0xd4, 0xc3, 0xb2, 0xa1));
    const { code, errors } = await oasisPcap(file);
    expect(code).toBe(1);
    expect(errors).toContain('shorter than the 24-byte file header');
  });

  it('refuses a pcapng file whose section header is damaged, naming what is wrong', async () => {
    const file = join(tmp, 'capture.pcapng');
    writeFileSync(file, Uint8Array.from([0x0a, 0x0d, 0x0d, 0x0a, ...new Array(28).fill(0)]));
    const { code, lines, errors } = await oasisPcap(file);
    expect(code).toBe(1);
    expect(lines).toEqual([]);
    expect(errors).toBe(
      `oasis pcap: ${file}: damaged at offset 0 (malformed pcapng-byte-order); 0 frames before it printed`,
    );
  });

  it.each([
    ['pcap', golden!],
    ['pcapng', join(NG, 'udp.pcapng')],
  ])('prints every complete frame of a %s cut in the middle of a record, then says where', async (_f, path) => {
    const bytes = readFileSync(path);
    const whole = await oasisPcap(path);
    const file = join(tmp, `cut-${_f}`);
    writeFileSync(file, bytes.subarray(0, bytes.length - 5));
    stdout = [];
    stderr = [];
    const { code, lines, errors } = await oasisPcap(file);
    expect(code).toBe(1);
    // As tcpdump: every frame before the cut one, exactly as from the whole file, then one warning.
    expect(lines).toEqual(whole.lines.slice(0, -1));
    const offset = lastRecordStart(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    expect(errors).toBe(
      `oasis pcap: ${file}: cut short: the capture ends in the middle of a record at offset ${offset} ` +
        `(${_f === 'pcap' ? 'truncated-record' : 'truncated-block'}); ${lines.length} frames before it printed`,
    );
  });

  it('reports a missing file', async () => {
    const { code, errors } = await oasisPcap(join(tmp, 'missing.pcap'));
    expect(code).toBe(1);
    expect(errors).toContain('ENOENT');
  });

  it('wants exactly one file and a positive count (usage error, exit code 2)', async () => {
    expect((await oasisPcap()).code).toBe(2);
    expect((await oasisPcap('a.pcap', 'b.pcap')).code).toBe(2);
    expect((await oasisPcap('--nope', 'a.pcap')).code).toBe(2);
    expect((await oasisPcap('-c', '0', 'a.pcap')).code).toBe(2);
    expect((await oasisPcap('-c', 'x', 'a.pcap')).code).toBe(2);
  });

  it('-c N stops after N frames', async () => {
    const all = await oasisPcap(golden!);
    stdout = [];
    const { code, lines } = await oasisPcap('-c', '3', golden!);
    expect(code).toBe(0);
    expect(lines).toEqual(all.lines.slice(0, 3));
    stdout = [];
    const more = await oasisPcap('-c', '100000', golden!);
    expect(more.lines).toEqual(all.lines);
  });

  it.skipIf(!OASIS_BUILT)('reads standard input (-), as a pipe from a live capture', () => {
    const file = join(NG, 'dumpcap-2if.pcapng');
    const viaFile = spawnSync(process.execPath, [OASIS_BIN, 'pcap', file], { encoding: 'utf8' });
    const viaStdin = spawnSync(process.execPath, [OASIS_BIN, 'pcap', '-c', '5', '-'], {
      encoding: 'utf8',
      input: readFileSync(file),
    });
    expect(viaStdin.status).toBe(0);
    expect(viaStdin.stdout.trim().split('\n')).toEqual(viaFile.stdout.trim().split('\n').slice(0, 5));
    const cut = spawnSync(process.execPath, [OASIS_BIN, 'pcap', '-'], {
      encoding: 'utf8',
      input: readFileSync(file).subarray(0, 700),
    });
    expect(cut.status).toBe(1);
    expect(cut.stderr).toMatch(
      /^oasis pcap: standard input: cut short: .* at offset \d+ \(truncated-block\)/,
    );
  });

  it.skipIf(!OASIS_BUILT)('stops quietly when the reader of its output goes away (| head)', () => {
    const file = join(tmp, 'many.pcap');
    const w = PcapWriter.open(file);
    const frame = readFileSync(golden!).subarray(24 + 16, 24 + 16 + 60);
    for (let i = 0; i < 50_000; i++) w.write(frame, 1_700_000_000_000_000 + i);
    w.close();
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${OASIS_BIN}" pcap "${file}" | head -2`], {
      encoding: 'utf8',
    });
    expect(r.stdout.split('\n').filter((l) => /^\d+ {2}/.test(l))).toHaveLength(2);
    expect(r.stderr).toBe('');
  });

  it('prints every frame of a capture whose frames were damaged, saying what is wrong with each', async () => {
    const pcap = parsePcap(readFileSync(golden!));
    if (!pcap.ok) throw new Error(pcap.error.kind);
    const file = join(tmp, 'damaged.pcap');
    const w = PcapWriter.open(file);
    const frames = pcap.value.frames.map((f) => f.bytes);
    const rnd = fc.sample(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 })), {
      numRuns: frames.length,
      seed: 42,
    });
    frames.forEach((frame, i) => {
      const [at, cut, x] = rnd[i]!;
      const b = frame.slice();
      b[14 + (at % (b.length - 14))]! ^= x;
      w.write(i % 4 === 3 ? b.subarray(0, cut % b.length) : b, 1_700_000_000_000_000 + i);
    });
    w.close();
    const { code, lines } = await oasisPcap(file);
    expect(code).toBe(0);
    expect(lines.length).toBe(frames.length);
    // Every damaged byte past the Ethernet header changes something the line shows or checks.
    const flagged = lines.filter((l) => /malformed|unsupported|bad .* cksum|\?|\[captured/.test(l));
    expect(flagged.length).toBeGreaterThan(frames.length / 2);
  });

  it('lists frames of another link type without decoding them', async () => {
    const file = join(tmp, 'raw-ip.pcap');
    const w = PcapWriter.open(file);
    w.write(Uint8Array.of(0x45, 0, 0, 20), 1_000_000);
    w.write(new Uint8Array(40), 2_500_000);
    w.close();
    const bytes = readFileSync(file);
    bytes.writeUInt32LE(101, 20); // LINKTYPE_RAW: IP packets without a link header
    writeFileSync(file, bytes);
    const { code, lines } = await oasisPcap(file);
    expect(code).toBe(0);
    expect(lines).toEqual([
      '1  0.000000  link type 101 not supported, length 4',
      '2  1.500000  link type 101 not supported, length 40',
    ]);
  });

  it('says when the snapshot length cut a frame', async () => {
    const pcap = parsePcap(readFileSync(golden!));
    if (!pcap.ok) throw new Error(pcap.error.kind);
    const file = join(tmp, 'snap.pcap');
    const w = PcapWriter.open(file, { snaplen: 54 });
    for (const f of pcap.value.frames) w.write(f.bytes, 0);
    w.close();
    const { lines } = await oasisPcap(file);
    const long = pcap.value.frames.findIndex((f) => f.bytes.length > 54);
    expect(lines[long]).toContain(`[captured 54 of ${pcap.value.frames[long]!.bytes.length} bytes]`);
  });
});

// ---------------------------------------------------------------------------------------------------
// Live against tshark.

const TSHARK_FIELDS = [
  'frame.number',
  'ip.src',
  'ip.dst',
  'ipv6.src',
  'ipv6.dst',
  'ip.flags.mf',
  'ip.frag_offset',
  'ipv6.fraghdr.offset',
  'ipv6.fraghdr.more',
  'udp.srcport',
  'udp.dstport',
  'udp.length',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.flags',
  'tcp.len',
  'icmp.type',
  'icmpv6.type',
  'arp.opcode',
  'ip.checksum.status',
  'udp.checksum.status',
  'tcp.checksum.status',
  'icmp.checksum.status',
  'icmpv6.checksum.status',
] as const;
type Row = Record<(typeof TSHARK_FIELDS)[number], string>;

/** tshark's first reading of each field (outer headers before the packet an ICMP error quotes). */
function tshark(file: string): Row[] {
  const prefs = ['tcp.check_checksum:TRUE', 'udp.check_checksum:TRUE', 'ip.check_checksum:TRUE'];
  const out = execFileSync(
    'tshark',
    [
      '-r',
      file,
      ...prefs.flatMap((p) => ['-o', p]),
      '-o',
      'ip.defragment:FALSE',
      '-o',
      'ipv6.defragment:FALSE',
      '-T',
      'fields',
      '-E',
      'occurrence=f',
      ...TSHARK_FIELDS.flatMap((f) => ['-e', f]),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 },
  );
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const v = l.split('\t');
      return Object.fromEntries(TSHARK_FIELDS.map((k, i) => [k, v[i] ?? ''])) as Row;
    });
}

/** Addresses, ports, flags, lengths and every checksum verdict as tshark gives them. */
function expectAsTsharkLive(summary: string, r: Row): void {
  if (r['arp.opcode'] !== '') {
    expect(summary).toContain(r['arp.opcode'] === '1' ? 'ARP, Request' : 'ARP, Reply');
    return;
  }
  const [prefix, src, dst] =
    r['ip.src'] !== '' ? ['IP', r['ip.src'], r['ip.dst']] : ['IP6', r['ipv6.src'], r['ipv6.dst']];
  expect(summary).toMatch(new RegExp(`^${prefix} ${esc(src)}(\\.\\d+)? > ${esc(dst)}(\\.\\d+)?: `));
  expect(summary.includes('[bad ip cksum]')).toBe(r['ip.checksum.status'] === '0');
  const v6frag =
    r['ipv6.fraghdr.offset'] !== '' && (r['ipv6.fraghdr.offset'] !== '0' || r['ipv6.fraghdr.more'] === '1');
  if (r['ip.flags.mf'] === '1' || (r['ip.frag_offset'] !== '' && r['ip.frag_offset'] !== '0') || v6frag) {
    expect(summary).toMatch(/\(frag \d+:\d+@\d+\+?\)|frag \(\d+\|\d+\)/);
    return;
  }
  if (r['icmp.type'] !== '') {
    expect(summary).toContain(': ICMP ');
    expect(summary.includes('[bad icmp cksum]')).toBe(r['icmp.checksum.status'] === '0');
  } else if (r['icmpv6.type'] !== '') {
    expect(summary).toMatch(/: (HBH |DSTOPT |srcrt \(.*\) |frag \(0\|\d+\) )*ICMP6, /);
    expect(summary.includes('[bad icmp6 cksum]')).toBe(r['icmpv6.checksum.status'] === '0');
  } else if (r['udp.srcport'] !== '') {
    expect(summary).toMatch(
      new RegExp(
        `\\.${r['udp.srcport']} > .*\\.${r['udp.dstport']}: UDP, length ${Number(r['udp.length']) - 8}`,
      ),
    );
    expect(summary.includes('[bad udp cksum]')).toBe(r['udp.checksum.status'] === '0');
  } else if (r['tcp.srcport'] !== '') {
    const bits = Number.parseInt(r['tcp.flags'], 16);
    const flags = FLAG_LETTERS.map(([bit, l]) => (bits & bit ? l : '')).join('') || 'none';
    expect(summary).toMatch(
      new RegExp(`\\.${r['tcp.srcport']} > .*\\.${r['tcp.dstport']}: Flags \\[${esc(flags)}\\], `),
    );
    expect(summary).toMatch(new RegExp(`, length ${r['tcp.len']}( \\[bad [a-z]+ cksum\\])*$`));
    expect(summary.includes('[bad tcp cksum]')).toBe(r['tcp.checksum.status'] === '0');
  }
}

/** Random UDP, TCP, ICMP and ICMPv6 frames between documentation addresses; half with one checksum broken. */
function randomCapture(file: string, count: number, seed: number): void {
  const v4addr = fc.integer({ min: 1, max: 0xffff }).map((n) => ((0xc6336400 + n) >>> 0) as Ipv4Addr); // 198.51.x.x
  const v6addr = fc
    .tuple(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xffff }))
    .map(([a, b]) => {
      const x = new Uint8Array(16);
      x.set([0x20, 0x01, 0x0d, 0xb8, a >> 8, a & 255], 0);
      x.set([b >> 8, b & 255], 14);
      return x as Ipv6Addr;
    });
  const data = fc.uint8Array({ maxLength: 120 });
  const frameArb = fc.tuple(
    fc.constantFrom(4, 6),
    fc.oneof(
      fc.tuple(fc.constant('udp' as const), udpReprArb, data),
      fc.tuple(fc.constant('tcp' as const), tcpReprArb, data),
      fc.tuple(fc.constant('icmp' as const), fc.oneof(icmpv4ReprArb, icmpv6ReprArb), data),
    ),
    v4addr,
    v4addr,
    v6addr,
    v6addr,
    fc.constantFrom('none', 'none', 'ip', 'upper', 'data'),
  );
  const w = PcapWriter.open(file);
  for (const [version, [kind, repr, payload], s4, d4, s6, d6, breakWhat] of fc.sample(frameArb, {
    numRuns: count,
    seed,
  })) {
    const ph: PseudoHeader =
      version === 4 ? { version: 4, src: s4, dst: d4 } : { version: 6, src: s6, dst: d6 };
    let upper: Uint8Array;
    let protocol: number;
    let cksumAt: number;
    if (kind === 'udp') {
      upper = new Uint8Array(8 + payload.length);
      upper.set(payload, 8);
      emitUdp(repr, upper, ph);
      [protocol, cksumAt] = [IPPROTO_UDP, 6];
    } else if (kind === 'tcp') {
      const hl = tcpHeaderLen(repr);
      upper = new Uint8Array(hl + payload.length);
      upper.set(payload, hl);
      emitTcp(repr, upper, ph);
      [protocol, cksumAt] = [IPPROTO_TCP, 16];
    } else if ('type' in repr) {
      if (version !== 4) continue;
      upper = new Uint8Array(8 + payload.length);
      upper.set(payload, 8);
      emitIcmpv4(repr, upper);
      [protocol, cksumAt] = [IPPROTO_ICMP, 2];
    } else {
      if (ph.version !== 6) continue;
      // ND messages carry options, not data (trailing bytes would be read as options).
      const body =
        repr.kind.startsWith('router') || repr.kind.startsWith('neighbor') || repr.kind === 'redirect'
          ? new Uint8Array(0)
          : payload;
      upper = new Uint8Array(icmpv6HeaderLen(repr) + body.length);
      upper.set(body, icmpv6HeaderLen(repr));
      emitIcmpv6(repr, upper, ph);
      [protocol, cksumAt] = [IPPROTO_ICMPV6, 2];
    }
    if (breakWhat === 'upper') upper[cksumAt]! ^= 0x5a;
    if (breakWhat === 'data' && upper.length > cksumAt + 2) upper[upper.length - 1]! ^= 0x01;
    const ipLen = (version === 4 ? 20 : 40) + upper.length;
    const frame = new Uint8Array(14 + ipLen);
    frame.set(upper, 14 + ipLen - upper.length);
    const ip = frame.subarray(14);
    if (ph.version === 4) {
      emitIpv4(
        {
          src: ph.src as Ipv4Addr,
          dst: ph.dst as Ipv4Addr,
          protocol,
          ttl: 64,
          dscp: 0,
          ecn: 0,
          ident: 1,
          dontFragment: true,
          moreFragments: false,
          fragOffset: 0,
          options: new Uint8Array(0),
        },
        ip,
      );
      if (breakWhat === 'ip') ip[10]! ^= 0x5a;
    } else {
      emitIpv6(
        {
          trafficClass: 0,
          flowLabel: 0,
          nextHeader: protocol,
          hopLimit: 64,
          src: ph.src as Ipv6Addr,
          dst: ph.dst as Ipv6Addr,
        },
        ip,
      );
    }
    emitEthernet(
      {
        dst: 0x0200_0000_000b as Mac,
        src: 0x0200_0000_000a as Mac,
        vlans: [],
        ethertype: version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6,
      },
      frame,
    );
    w.write(frame, 1_700_000_000_000_000);
  }
  w.close();
}

describe.skipIf(!hasTool('tshark'))('oasis pcap against tshark, live', () => {
  const ngFiles = Object.keys(ngExpected.files).filter((n) => n !== 'crafted.pcapng');
  it.each([
    ...goldenFiles.map((f) => [f.split('/').pop()!, f]),
    ...ngFiles.map((n) => [n, join(NG, n)]),
  ])('%s', async (_n, file) => {
    const rows = tshark(file);
    const { lines } = await oasisPcap(file);
    expect(lines.length).toBe(rows.length);
    // SLL2 lines start with the interface and direction, as tcpdump's do.
    for (const [i, line] of lines.entries())
      expectAsTsharkLive(split(line).summary.replace(/^ifindex \d+ \S+ /, ''), rows[i]!);
  });

  it('random frames, a third with a broken checksum: same addresses, ports, flags, lengths and verdicts', async () => {
    const file = join(tmp, 'random.pcap');
    randomCapture(file, 400, 7);
    const rows = tshark(file);
    const { lines } = await oasisPcap(file);
    expect(lines.length).toBe(rows.length);
    for (const [i, line] of lines.entries()) expectAsTsharkLive(split(line).summary, rows[i]!);
    const bad = lines.filter((l) => l.includes(' cksum]')).length;
    expect(bad).toBeGreaterThan(lines.length / 5);
  }, 60_000);
});
