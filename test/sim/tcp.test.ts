/**
 * TCP between two whole stacks over memory links in virtual time, through the Node-stream sockets.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { twoHosts as sim } from '../../src/testing/index.js';

/**
 * 10.0.0.1 and 2001:db8::1 against 10.0.0.2 and 2001:db8::2 on a 0.5 ms wire, impairments at a's
 * interface both ways (seed 1 by default); the clock runs to 3 s so that DAD is over.
 */
function twoHosts(impairments: { loss?: number; duplicate?: number; reorder?: number; seed?: number } = {}) {
  const { loss = 0, duplicate = 0, reorder = 0, seed = 1 } = impairments;
  const impaired = loss + duplicate + reorder > 0;
  return sim({
    mtu: 1500,
    delay: 0.5,
    ipv6: true,
    a: { seed: 11, ...(impaired ? { impair: { loss, duplicate, reorder, seed } } : {}) },
    b: { seed: 12 },
  });
}

function collect(socket: TcpSocket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('TCP between two stacks', () => {
  it.each(['10.0.0.2', '2001:db8::2'])('echoes a stream to %s with half-close', async (host) => {
    const { net, a, b } = twoHosts();
    b.tcp.createServer((s) => s.pipe(s)).listen(7);
    const client = a.tcp.connect({ host, port: 7 });
    const data = pattern(300_000, 1);
    const got = collect(client);
    client.end(data);
    const echoed = await net.settle(got);
    expect(echoed.length).toBe(data.length);
    expect(echoed.equals(data)).toBe(true);
  });

  it.each([1, 2, 3])('moves 1 MB intact through loss, duplication and reordering (seed %i)', async (seed) => {
    const { net, a, b } = twoHosts({ loss: 0.02, duplicate: 0.01, reorder: 0.1, seed });
    const received = new Promise<Buffer>((resolve, reject) => {
      b.tcp.createServer((s) => collect(s).then(resolve, reject)).listen(9);
    });
    const data = pattern(1_000_000, seed);
    const client = a.tcp.connect({ host: '10.0.0.2', port: 9 });
    client.end(data);
    const got = await net.settle(received);
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
  });

  it('keeps the stream in order when a data handler reads again from inside the data event', async () => {
    // Node's HTTP server does this: it drains the tick queue inside its 'data' handler, whose
    // maybeReadMore reads again while the socket may still be pushing the chunks of one read (many
    // chunks once a retransmission fills a hole in front of out-of-order data).
    const { net, a, b } = twoHosts({ loss: 0.03, reorder: 0.5, seed: 1 });
    const received = new Promise<Buffer>((resolve, reject) => {
      b.tcp
        .createServer((s) => {
          const chunks: Buffer[] = [];
          s.on('data', (c: Buffer) => {
            chunks.push(c);
            s.read(0);
          });
          s.on('end', () => resolve(Buffer.concat(chunks)));
          s.on('error', reject);
        })
        .listen(9);
    });
    const data = pattern(2_000_000, 4);
    const client = a.tcp.connect({ host: '10.0.0.2', port: 9 });
    client.end(data);
    const got = await net.settle(received);
    expect(got.length).toBe(data.length);
    expect(got.equals(data)).toBe(true);
  });

  it('refuses a connection to a closed port with RST', async () => {
    const { net, a } = twoHosts();
    const client = a.tcp.connect({ host: '10.0.0.2', port: 4444 });
    const err = await net.settle(
      new Promise<NodeJS.ErrnoException>((resolve) => client.on('error', resolve)),
    );
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('leaves no connection behind after both sides close and 2·MSL passes', async () => {
    const { net, a, b } = twoHosts();
    b.tcp.createServer((s) => s.pipe(s)).listen(7);
    const client = a.tcp.connect({ host: '10.0.0.2', port: 7 });
    const got = collect(client);
    client.end('bye');
    expect((await net.settle(got)).toString()).toBe('bye');
    net.scheduler.advance(120_000);
    expect(a.tcp.connectionStates()).toEqual({});
    expect(b.tcp.connectionStates()).toEqual({});
  });
});
