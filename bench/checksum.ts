/**
 * Internet checksum benchmark (docs/CHECKSUM.md): the byte-pair reference, the TypeScript fast path and the
 * WebAssembly SIMD variant with and without the copy into WASM memory, over a range that starts at byte
 * 34 of a frame (where a TCP header sits after Ethernet and a 20-byte IPv4 header).
 *
 * Writes bench/results/checksum.json: `{variant, bytes, gbps, nsPerCall, gbpsBest}` rows, where `gbps`
 * is gigabytes (10^9 bytes) per second, the unit of docs/CHECKSUM.md's figures; `gbps` and `nsPerCall` come
 * from the median sample, `gbpsBest` from the fastest.
 * `OASIS_BENCH_TIME` sets the seconds spent per case (default 2).
 */
import b from 'benny';
import { sum16, sumNaive, WasmChecksum } from '../src/checksum/index.js';
import { writeResults } from './summary.js';

export const SIZES = [40, 1500, 9000, 65536] as const;
const AT = 34;
/** Seconds benchmark.js may spend on each case. */
const MAX_TIME = Number(process.env.OASIS_BENCH_TIME ?? '2');

export interface ChecksumResult {
  readonly variant: string;
  readonly bytes: number;
  readonly gbps: number;
  readonly nsPerCall: number;
  /** From the fastest sample: what the machine does when the neighbours leave it alone. */
  readonly gbpsBest: number;
}

/** Deterministic filler so every run sums the same bytes. */
function fill(buf: Uint8Array, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
}

// Results feed this so the JIT cannot drop the calls as dead code.
let sink = 0;

export async function run(): Promise<ChecksumResult[]> {
  const wasm = new WasmChecksum();
  const rows: ChecksumResult[] = [];
  for (const size of SIZES) {
    const frame = new Uint8Array(AT + size);
    fill(frame, size);
    const data = frame.subarray(AT);
    wasm.bytes.set(frame, 0);
    const expected = sumNaive(data);
    const variants: Record<string, () => number> = {
      naive: () => sumNaive(data),
      ts: () => sum16(data),
      'wasm-copy': () => wasm.sumCopy(data),
      'wasm-in-place': () => wasm.sumInPlace(AT, size),
    };
    for (const [name, f] of Object.entries(variants)) {
      if (f() !== expected) throw new Error(`${name} disagrees with the reference at ${size} bytes`);
    }
    const summary = await b.suite(
      `checksum ${size} B`,
      ...Object.entries(variants).map(([name, f]) =>
        b.add(
          name,
          () => {
            sink ^= f();
          },
          { maxTime: MAX_TIME },
        ),
      ),
      b.cycle(),
    );
    for (const r of summary.results) {
      // The median sample, not benny's mean: on a shared 2-vCPU machine the mean follows the neighbours.
      const ns = r.details.median * 1e9;
      const best = r.details.min * 1e9;
      rows.push({
        variant: r.name,
        bytes: size,
        gbps: round(size / ns),
        nsPerCall: round(ns),
        gbpsBest: round(size / best),
      });
    }
  }
  if (sink === -1) console.log(sink);
  printTable(rows);
  writeResults('checksum', rows);
  return rows;
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}

function printTable(rows: readonly ChecksumResult[]): void {
  const variants = [...new Set(rows.map((r) => r.variant))];
  const head = ['variant', ...SIZES.map((s) => `${s} B`)];
  const body = variants.map((v) => [
    v,
    ...SIZES.map((s) => {
      const r = rows.find((x) => x.variant === v && x.bytes === s);
      return r === undefined ? '-' : `${r.gbps} GB/s ${r.nsPerCall} ns (best ${r.gbpsBest})`;
    }),
  ]);
  const widths = head.map((_, i) => Math.max(...[head, ...body].map((row) => row[i]!.length)));
  for (const row of [head, ...body]) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}
