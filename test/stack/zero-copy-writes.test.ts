/**
 * `setZeroCopyWrites` (src/stack/tcp.ts): chunks written are queued without a copy (the core's `send`
 * with `shared`), so the same block written again and again — iperf3's sender — still arrives intact
 * and in order, through loss and reordering that make TCP read it again for retransmissions.
 */
import { describe, expect, it } from 'vitest';
import { twoHosts } from '../../src/testing/index.js';

describe('zero-copy writes', () => {
  it.each([
    ['a clean link', {}],
    ['3 % loss and reordering', { loss: 0.03, reorder: 0.05, reorderDelay: 4, seed: 7 }],
  ])('deliver a block written 40 times intact over %s', async (_name, impair) => {
    const { net, a, b } = twoHosts({ seed: 31, a: { seed: 31, impair } });
    const block = new Uint8Array(48 * 1024);
    for (let i = 0; i < block.length; i++) block[i] = (i * 13 + (i >> 8)) & 0xff;
    const times = 40;
    const got: Buffer[] = [];
    const done = new Promise<void>((resolve) => {
      b.tcp
        .createServer((s) => {
          s.on('data', (d: Buffer) => got.push(d));
          s.on('end', () => resolve());
        })
        .listen(80);
    });
    const c = a.tcp.connect({ host: '10.0.0.2', port: 80 }).setZeroCopyWrites();
    let written = 0;
    const pump = () => {
      while (written < times) {
        written++;
        if (!c.write(block)) return;
      }
      c.end();
    };
    c.on('drain', pump);
    pump();
    await net.settle(done);
    const all = Buffer.concat(got);
    expect(all.length).toBe(block.length * times);
    for (let k = 0; k < times; k++) {
      expect(Buffer.compare(all.subarray(k * block.length, (k + 1) * block.length), block)).toBe(0);
    }
    // Through loss the block was read again for retransmissions.
    if ('loss' in impair) expect(c.stats?.retransmits ?? 0).toBeGreaterThan(0);
    await net.close();
  });
});
