import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sum16, sumNaive, useSimdChecksum, WasmChecksum } from '../../src/checksum/index.js';
import { propOptions } from '../support/props.js';
import { makeBytes } from './arb.js';

describe('WasmChecksum', () => {
  it('exposes a ring of the requested size over its memory, at address 0', () => {
    const w = new WasmChecksum({ ringBytes: 100_000 });
    expect(w.bytes.length).toBe(100_000);
    expect(w.bytes.byteOffset).toBe(0);
    expect(w.bytes.buffer).toBe(w.memory.buffer);
    // The memory never grows, so the view stays attached after any use.
    w.sumCopy(new Uint8Array(200_000));
    expect(w.bytes.buffer).toBe(w.memory.buffer);
    expect(w.bytes.length).toBe(100_000);
  });

  it('defaults to a 1 MiB ring', () => {
    expect(new WasmChecksum().bytes.length).toBe(1 << 20);
  });

  it('sums in place the bytes a caller wrote into the ring', () => {
    const w = new WasmChecksum({ ringBytes: 4096 });
    const frame = makeBytes({ offset: 0, length: 1514, fill: 'random', seed: 42 });
    w.bytes.set(frame, 100);
    const tcp = frame.subarray(34);
    expect(w.sumInPlace(134, tcp.length)).toBe(sumNaive(tcp));
    expect(w.sumInPlace(134, tcp.length, 0x1234)).toBe(sumNaive(tcp, 0x1234));
    // The last byte of the ring is in range; an empty range at the end too.
    expect(w.sumInPlace(4095, 1)).toBe(sumNaive(w.bytes.subarray(4095)));
    expect(w.sumInPlace(4096, 0)).toBe(0);
  });

  it('sums a view of its own memory without copying it over the scratch area', () => {
    const w = new WasmChecksum({ ringBytes: 4096 });
    const b = makeBytes({ offset: 0, length: 3000, fill: 'random', seed: 9 });
    w.bytes.set(b, 5);
    const view = w.bytes.subarray(5, 3005);
    expect(w.sumCopy(view)).toBe(sumNaive(b));
  });

  it('instances do not share memory', () => {
    const a = new WasmChecksum({ ringBytes: 64 });
    const b = new WasmChecksum({ ringBytes: 64 });
    a.bytes.fill(1);
    expect(b.bytes.every((x) => x === 0)).toBe(true);
    expect(a.sumInPlace(0, 64)).not.toBe(b.sumInPlace(0, 64));
  });

  it.each([
    ['a negative offset', -1, 4],
    ['a negative length', 0, -1],
    ['a fractional offset', 0.5, 4],
    ['a range past the ring', 4000, 97],
    ['an offset past the ring', 4097, 0],
    ['NaN', Number.NaN, 1],
  ])('throws a RangeError on %s', (_name, offset, length) => {
    const w = new WasmChecksum({ ringBytes: 4096 });
    expect(() => w.sumInPlace(offset, length)).toThrow(RangeError);
  });

  it.each([[-1], [0.5], [2 ** 31]])('rejects ringBytes %d', (ringBytes) => {
    expect(() => new WasmChecksum({ ringBytes })).toThrow(RangeError);
  });

  it('once registered, sum16 uses it (in place for views of its memory, copied in for long ranges elsewhere), with the same results', () => {
    const w = new WasmChecksum({ ringBytes: 70_000 });
    const calls = { inPlace: 0, copy: 0 };
    useSimdChecksum({
      buffer: w.buffer,
      sumInPlace: (offset, length, initial) => {
        calls.inPlace++;
        return w.sumInPlace(offset, length, initial);
      },
      sumCopy: (b, initial) => {
        calls.copy++;
        return w.sumCopy(b, initial);
      },
    });
    try {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 4000 }),
          fc.integer({ min: 0, max: 65_000 }),
          fc.integer({ min: 0, max: 0xffff }),
          fc.integer(),
          (offset, length, initial, seed) => {
            const b = makeBytes({ offset: 0, length, fill: 'random', seed });
            w.bytes.set(b, offset);
            const view = w.bytes.subarray(offset, offset + length);
            expect(sum16(view, initial)).toBe(sumNaive(b, initial));
            const elsewhere = new Uint8Array(length + 1).subarray(1);
            elsewhere.set(b);
            expect(sum16(elsewhere, initial)).toBe(sumNaive(b, initial));
          },
        ),
        propOptions(),
      );
      expect(calls.inPlace).toBeGreaterThan(0);
      expect(calls.copy).toBeGreaterThan(0);
    } finally {
      useSimdChecksum(undefined);
    }
  });
});
