import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pseudoRandomChunks, sha256OfBytes } from '../../src/apps/http.js';

function reference(n: number): string {
  return createHash('sha256')
    .update(Buffer.concat([...pseudoRandomChunks(n)]))
    .digest('hex');
}

describe('/bytes/N', () => {
  it('yields exactly N bytes in chunks of at most 64 KiB, the same for the same N', () => {
    for (const n of [0, 1, 65_535, 65_536, 65_537, 200_000]) {
      const chunks = [...pseudoRandomChunks(n)];
      expect(chunks.reduce((sum, c) => sum + c.length, 0)).toBe(n);
      expect(chunks.every((c) => c.length <= 65_536)).toBe(true);
      expect(Buffer.concat(chunks).equals(Buffer.concat([...pseudoRandomChunks(n)]))).toBe(true);
    }
  });

  it('refills one scratch buffer with the same bytes when given one (hashing 100 MB makes no garbage)', () => {
    const scratch = Buffer.alloc(16 * 1024);
    for (const n of [1, 16_384, 16_385, 70_000]) {
      const copies: Buffer[] = [];
      for (const c of pseudoRandomChunks(n, scratch)) {
        expect(c.buffer).toBe(scratch.buffer);
        copies.push(Buffer.from(c));
      }
      expect(Buffer.concat(copies).equals(Buffer.concat([...pseudoRandomChunks(n)]))).toBe(true);
    }
    expect(sha256OfBytes(70_000)).toBe(reference(70_000));
  });

  it('announces the SHA-256 of the bytes it sends, also when the digest is remembered or was evicted', () => {
    const sizes = Array.from({ length: 12 }, (_, i) => 1_000 + 977 * i);
    for (const n of [...sizes, ...sizes, sizes[0]!]) expect(sha256OfBytes(n)).toBe(reference(n));
    expect(sha256OfBytes(5_000)).not.toBe(sha256OfBytes(5_001));
  });
});
