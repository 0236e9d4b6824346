/**
 * TCP between two whole stacks over memory links in virtual time, through the Node-stream sockets.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Ipv4Addr, parseIpv4Addr, parseIpv6Addr } from '../../src/addr.js';
import { VirtualScheduler } from '../../src/clock.js';
import { impair } from '../../src/link/impair.js';
import { memoryPair } from '../../src/link/memory.js';
import { Stack } from '../../src/stack/stack.js';
import type { TcpSocket } from '../../src/stack/tcp.js';

const ip = (s: string): Ipv4Addr => parseIpv4Addr(s)!;

function twoHosts(impairments: { loss?: number; duplicate?: number; reorder?: number; seed?: number } = {}) {
  const scheduler = new VirtualScheduler();
  const [la, lb] = memoryPair(scheduler, { mtu: 1500, delay: 0.5 });
  const a = new Stack({ scheduler, seed: 11 });
  const b = new Stack({ scheduler, seed: 12 });
  const { loss = 0, duplicate = 0, reorder = 0, seed = 1 } = impairments;
  const linkA =
    loss + duplicate + reorder > 0 ? impair(la, scheduler, { loss, duplicate, reorder, seed }) : la;
  a.addInterface({
    link: linkA,
    ipv4: [{ address: ip('10.0.0.1'), prefixLen: 24 }],
    ipv6: [{ address: parseIpv6Addr('2001:db8::1')!, prefixLen: 64 }],
  });
  b.addInterface({
    link: lb,
    ipv4: [{ address: ip('10.0.0.2'), prefixLen: 24 }],
    ipv6: [{ address: parseIpv6Addr('2001:db8::2')!, prefixLen: 64 }],
  });
  scheduler.runUntil(3000);
  return { scheduler, a, b };
}

/** Runs virtual time and the microtask queue until `p` settles. */
async function settle<T>(scheduler: VirtualScheduler, p: Promise<T>, limitMs = 600_000): Promise<T> {
  let done = false;
  const out = p.finally(() => {
    done = true;
  });
  const end = scheduler.now() + limitMs;
  while (!done && scheduler.now() < end) {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    if (!done) scheduler.step();
  }
  return out;
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
    const { scheduler, a, b } = twoHosts();
    b.tcp.createServer((s) => s.pipe(s)).listen(7);
    const client = a.tcp.connect({ host, port: 7 });
    const data = pattern(300_000, 1);
    const got = collect(client);
    client.end(data);
    const echoed = await settle(scheduler, got);
    expect(echoed.length).toBe(data.length);
    expect(echoed.equals(data)).toBe(true);
  });

  it.each([1, 2, 3])('moves 1 MB intact through loss, duplication and reordering (seed %i)', async (seed) => {
    const { scheduler, a, b } = twoHosts({ loss: 0.02, duplicate: 0.01, reorder: 0.1, seed });
    const received = new Promise<Buffer>((resolve, reject) => {
      b.tcp.createServer((s) => collect(s).then(resolve, reject)).listen(9);
    });
    const data = pattern(1_000_000, seed);
    const client = a.tcp.connect({ host: '10.0.0.2', port: 9 });
    client.end(data);
    const got = await settle(scheduler, received);
    expect(createHash('sha256').update(got).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
  });

  it('keeps the stream in order when a data handler reads again from inside the data event', async () => {
    // Node's HTTP server does this: it drains the tick queue inside its 'data' handler, whose
    // maybeReadMore reads again while the socket may still be pushing the chunks of one read (many
    // chunks once a retransmission fills a hole in front of out-of-order data).
    const { scheduler, a, b } = twoHosts({ loss: 0.03, reorder: 0.5, seed: 1 });
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
    const got = await settle(scheduler, received);
    expect(got.length).toBe(data.length);
    expect(got.equals(data)).toBe(true);
  });

  it('refuses a connection to a closed port with RST', async () => {
    const { scheduler, a } = twoHosts();
    const client = a.tcp.connect({ host: '10.0.0.2', port: 4444 });
    const err = await settle(
      scheduler,
      new Promise<NodeJS.ErrnoException>((resolve) => client.on('error', resolve)),
    );
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('leaves no connection behind after both sides close and 2·MSL passes', async () => {
    const { scheduler, a, b } = twoHosts();
    b.tcp.createServer((s) => s.pipe(s)).listen(7);
    const client = a.tcp.connect({ host: '10.0.0.2', port: 7 });
    const got = collect(client);
    client.end('bye');
    expect((await settle(scheduler, got)).toString()).toBe('bye');
    scheduler.runUntil(scheduler.now() + 120_000);
    expect(a.tcp.connectionStates()).toEqual({});
    expect(b.tcp.connectionStates()).toEqual({});
  });
});
