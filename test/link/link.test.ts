import { describe, expect, it } from 'vitest';
import {
  addLendingArea,
  keepable,
  type LendingArea,
  type Link,
  lentFrom,
  newCounters,
  removeLendingArea,
} from '../../src/link/link.js';

function counted(): Link {
  return {
    name: 'l',
    mtu: 1500,
    counters: newCounters(),
    send: () => {},
    onFrame: () => {},
    close: () => Promise.resolve(),
  };
}

describe('lending areas', () => {
  it('recognise a lent frame by buffer and start offset, and nothing else', () => {
    const mem = new Uint8Array(1000);
    const area: LendingArea = { buffer: mem.buffer, start: 100, end: 600 };
    expect(lentFrom(mem.subarray(100, 200))).toBeUndefined();
    addLendingArea(area);
    addLendingArea(area); // once only
    try {
      expect(lentFrom(mem.subarray(100, 200))).toBe(area);
      expect(lentFrom(mem.subarray(599, 600))).toBe(area);
      expect(lentFrom(mem.subarray(99, 200))).toBeUndefined();
      expect(lentFrom(mem.subarray(600, 700))).toBeUndefined();
      expect(lentFrom(new Uint8Array(mem.subarray(100, 200)))).toBeUndefined();
      expect(lentFrom(new Uint8Array(new ArrayBuffer(1000), 100, 50))).toBeUndefined();
    } finally {
      removeLendingArea(area);
    }
    expect(lentFrom(mem.subarray(100, 200))).toBeUndefined();
  });

  it('keepable copies a lent frame and counts it, and passes an owned one through', () => {
    const mem = new Uint8Array(64).fill(7);
    const area: LendingArea = { buffer: mem.buffer, start: 0, end: 64 };
    const link = counted();
    const owned = new Uint8Array(20);
    expect(keepable(link, owned)).toBe(owned);
    addLendingArea(area);
    try {
      const lent = mem.subarray(10, 30);
      const kept = keepable(link, lent);
      expect(kept).not.toBe(lent);
      expect(kept.buffer).not.toBe(mem.buffer);
      expect(kept).toEqual(lent);
      expect(link.counters).toMatchObject({ lent: 1, lentCopied: 1 });
    } finally {
      removeLendingArea(area);
    }
  });
});
