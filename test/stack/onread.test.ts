/**
 * `onread` (src/stack/tcp.ts, Node's net.connect option; `setOnread` for a server's sockets): the
 * bytes arrive in order and intact through the buffer, pausing by the callback holds them back, the
 * stream still ends, and the receive queue's blocks are reused (rope.ts `ropeTakeInto`) without
 * changing what another connection reads.
 */
import { describe, expect, it } from 'vitest';
import { twoHosts } from '../../src/testing/index.js';

function bytesOf(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 11)) & 0xff;
  return b;
}

describe('onread', () => {
  it.each([1500, 65_000])('delivers the stream through one buffer (MTU %i), and ends', async (mtu) => {
    const { net, a, b } = twoHosts({ seed: 21, mtu });
    const sent = bytesOf(600_000, 1);
    b.tcp.createServer((s) => s.end(sent)).listen(80);
    const buffer = new Uint8Array(100_000);
    const chunks: Buffer[] = [];
    let dataEvents = 0;
    const socket = a.tcp.connect({
      host: '10.0.0.2',
      port: 80,
      onread: {
        buffer,
        callback: (n, buf) => {
          expect(buf).toBe(buffer);
          chunks.push(Buffer.from(buf.subarray(0, n)));
          return undefined;
        },
      },
    });
    socket.on('data', () => dataEvents++);
    const ended = new Promise<void>((resolve) => socket.on('end', resolve));
    await net.settle(ended);
    expect(Buffer.concat(chunks).equals(sent)).toBe(true);
    expect(dataEvents).toBe(0);
    expect(socket.bytesRead).toBe(sent.length);
    await net.close();
  });

  // 400 kB: the window closes while paused; 30 kB: the FIN comes while paused, and the core's queue
  // (forgotten at the close) is kept in the stream until the resume.
  it.each([
    400_000, 30_000,
  ])('holds %i bytes back while the callback has paused the socket, then goes on', async (size) => {
    const { net, a, b } = twoHosts({ seed: 22, mtu: 65_000 });
    const sent = bytesOf(size, 2);
    b.tcp.createServer((s) => s.end(sent)).listen(80);
    let pausedAt = -1;
    const chunks: Buffer[] = [];
    const socket = a.tcp.connect({
      host: '10.0.0.2',
      port: 80,
      onread: {
        buffer: () => new Uint8Array(10_000),
        callback: (n, buf) => {
          chunks.push(Buffer.from(buf.subarray(0, n)));
          if (pausedAt < 0) {
            pausedAt = Buffer.concat(chunks).length;
            return false;
          }
          return undefined;
        },
      },
    });
    const ended = new Promise<void>((resolve) => socket.on('end', resolve));
    net.scheduler.advance(2_000);
    await net.settle(Promise.resolve());
    expect(socket.isPaused()).toBe(true);
    expect(Buffer.concat(chunks).length).toBe(pausedAt);
    // Our FIN too: with the peer's already in (30 kB), the connection closes and the core forgets it.
    socket.end();
    net.scheduler.advance(2_000);
    await net.settle(Promise.resolve());
    expect(Buffer.concat(chunks).length).toBe(pausedAt);
    socket.resume();
    await net.settle(ended);
    expect(Buffer.concat(chunks).equals(sent)).toBe(true);
    await net.close();
  });

  it("a server's socket switches after a header read with 'data' events, other connections intact", async () => {
    const { net, a, b } = twoHosts({ seed: 23, mtu: 65_000 });
    const header = Buffer.from('HEADER-16-BYTES!');
    const bodies = [bytesOf(500_000, 3), bytesOf(500_000, 4)];
    const done: ((b: Buffer) => void)[] = [];
    const results = bodies.map((_) => new Promise<Buffer>((resolve) => done.push(resolve)));
    let accepted = 0;
    b.tcp
      .createServer((s) => {
        // One connection reads with 'data' events throughout, the other switches to onread.
        const i = accepted++;
        const got: Buffer[] = [];
        s.on('end', () => done[i]!(Buffer.concat(got)));
        if (i === 1) {
          s.on('data', (d: Buffer) => got.push(d));
          return;
        }
        const onHeader = (d: Buffer) => {
          got.push(d);
          if (Buffer.concat(got).length < header.length) return;
          s.off('data', onHeader);
          s.pause();
          s.setOnread({
            buffer: new Uint8Array(64 * 1024),
            callback: (n, buf) => {
              got.push(Buffer.from(buf.subarray(0, n)));
              return undefined;
            },
          });
          s.resume();
        };
        s.on('data', onHeader);
      })
      .listen(80);
    for (const body of bodies) {
      const c = a.tcp.connect({ host: '10.0.0.2', port: 80 });
      c.end(Buffer.concat([header, body]));
    }
    await net.settle(Promise.all(results));
    const got = await Promise.all(results);
    for (let i = 0; i < 2; i++) expect(got[i]!.equals(Buffer.concat([header, bodies[i]!]))).toBe(true);
    await net.close();
  });
});
