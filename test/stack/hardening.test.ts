/**
 * Resource exhaustion (issue 14), each defence with its switch: the attack succeeds with the switch off
 * and fails with it on. Two stacks on virtual time: `a` is the attacker, `b` the victim.
 * Timings and memory on a real TAP are the benchmark's (bench/hardening.ts), not asserted here.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/command.js';
import { parseUpArgs } from '../../src/cli/up.js';
import { PRESSURE_FLOOR } from '../../src/tcp/core/draft.js';
import type { Stack } from '../../src/stack/stack.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { twoHosts } from '../../src/testing/index.js';

const SND_BUF = 64 * 1024;
const CHUNK = Buffer.alloc(16 * 1024, 0x5a);

/** A server that writes forever to every client, waiting for 'drain' as Node's http does. */
function floodServer(b: Stack, port: number, written: Map<TcpSocket, number>): void {
  b.tcp
    .createServer((s) => {
      written.set(s, 0);
      s.on('error', () => {});
      const pump = () => {
        for (;;) {
          written.set(s, (written.get(s) ?? 0) + CHUNK.length);
          if (!s.write(CHUNK)) return void s.once('drain', pump);
        }
      };
      pump();
    })
    .listen(port);
}

/** `n` clients that connect to b:80 and never read (paused from the start). */
function nonReaders(a: Stack, n: number): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (let i = 0; i < n; i++) {
    const s = a.tcp.connect({ host: '10.0.0.2', port: 80 });
    s.on('error', () => {});
    s.pause();
    out.push(s);
  }
  return out;
}

/** 20 non-reading peers (4 KB receive buffers) against a server writing without end. */
function pinning(tcpMemory: number) {
  const net = twoHosts({
    delay: 0.5,
    a: { seed: 1, tcp: { rcvBuf: 4096 } },
    b: { seed: 2, tcp: { sndBuf: SND_BUF, tcpMemory } },
  });
  const written = new Map<TcpSocket, number>();
  floodServer(net.b, 80, written);
  const peers = nonReaders(net.a, 20);
  return { ...net, written, peers };
}

describe('send-side pinning: a global send-memory limit (tcpMemory)', () => {
  it('off: 20 non-reading peers pin sndBuf each', async () => {
    const { net, b } = pinning(0);
    await net.runFor(5_000);
    expect(b.tcp.connectionStates().Established).toBe(20);
    // Every connection's queue is full (but for the few KB each peer took): 20 send buffers pinned.
    expect(b.tcp.sendMemory).toBeGreaterThan(20 * (SND_BUF - 8 * 1024));
    expect(b.tcp.counters['send-memory-pressure']).toBe(0);
  });

  it('on: queued bytes stay near the limit and writers wait for drain instead', async () => {
    const limit = 4 * SND_BUF;
    const { net, b, written } = pinning(limit);
    await net.runFor(5_000);
    expect(b.tcp.connectionStates().Established).toBe(20);
    // Below the limit a write may overshoot by one sndBuf; past it each connection keeps 16 KB.
    expect(b.tcp.sendMemory).toBeLessThanOrEqual(limit + SND_BUF + 20 * 16 * 1024);
    expect(b.tcp.sendMemory).toBeLessThan((20 * SND_BUF) / 2);
    expect(b.tcp.counters['send-memory-pressure']).toBeGreaterThan(0);
    // The writers are held by backpressure (write() false, no 'drain'), not buffered in the streams.
    for (const n of written.values()) expect(n).toBeLessThanOrEqual(SND_BUF + 4 * 64 * 1024);
  });

  it('on: a reading client is still served while the limit holds', async () => {
    const limit = 4 * SND_BUF;
    const { net, a, b } = pinning(limit);
    await net.runFor(2_000);
    const data = Buffer.alloc(1_000_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) >>> 3;
    b.tcp.createServer((s) => s.end(data)).listen(81);
    const got = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const c = a.tcp.connect({ host: '10.0.0.2', port: 81 });
      c.on('data', (x: Buffer) => chunks.push(x));
      c.on('end', () => resolve(Buffer.concat(chunks)));
      c.on('error', reject);
    });
    const body = await net.settle(got);
    const sha = (x: Buffer) => createHash('sha256').update(x).digest('hex');
    expect(sha(body)).toBe(sha(data));
    expect(b.tcp.sendMemory).toBeLessThanOrEqual(limit + SND_BUF + 21 * 16 * 1024);
  });

  it('zero-window peers cost no work per tick: persist probes back off', async () => {
    const { net, b } = pinning(4 * SND_BUF);
    await net.runFor(10_000);
    const count = (name: string) => b.tcp.counters[name] ?? 0;
    const before = count('segments-out');
    const probesBefore = count('persist-probe');
    // Ten minutes of closed windows: probes double their interval up to rtoMax (120 s), so each peer
    // costs a handful of segments, not one per tick.
    await net.runFor(600_000);
    const probes = count('persist-probe') - probesBefore;
    expect(probes).toBeGreaterThan(0);
    expect(probes).toBeLessThanOrEqual(20 * 8);
    expect(count('segments-out') - before).toBeLessThanOrEqual(20 * 8 * 2);
    expect(b.tcp.connectionStates().Established).toBe(20);
  });
});

describe('receive-side pinning: the same limit on bytes received and not read (tcpMemory)', () => {
  const RCV_BUF = 64 * 1024;
  const FIRST = 10;
  const LATER = 20;

  /** Clients that write without end to b:80, whose application never reads; more once b is full. */
  async function unread(tcpMemory: number) {
    const net = twoHosts({
      delay: 0.5,
      a: { seed: 1 },
      b: { seed: 2, tcp: { rcvBuf: RCV_BUF, tcpMemory } },
    });
    net.b.tcp.createServer((s) => s.on('error', () => {}).pause()).listen(80);
    const writers = (n: number) => {
      for (let i = 0; i < n; i++) {
        const s = net.a.tcp.connect({ host: '10.0.0.2', port: 80 });
        s.on('error', () => {});
        const pump = () => {
          while (s.write(CHUNK));
          s.once('drain', pump);
        };
        s.on('connect', pump);
      }
    };
    writers(FIRST);
    await net.net.runFor(2_000);
    const filled = net.b.tcp.receiveMemory;
    writers(LATER);
    await net.net.runFor(3_000);
    return { b: net.b, filled };
  }

  it('off: every connection fills its receive buffer', async () => {
    const { b, filled } = await unread(0);
    expect(filled).toBeGreaterThan(FIRST * (RCV_BUF - 8 * 1024));
    expect(b.tcp.receiveMemory).toBeGreaterThan((FIRST + LATER) * (RCV_BUF - 8 * 1024));
    expect(b.tcp.counters['receive-memory-pressure']).toBe(0);
  });

  it('on: past the limit, new connections are offered the 16 KB floor, not rcvBuf', async () => {
    const limit = 4 * RCV_BUF;
    const { b, filled } = await unread(limit);
    // The first windows were offered before the limit was reached, and are kept (RFC 9293 §3.8.6.2.2).
    expect(filled).toBeGreaterThanOrEqual(limit);
    expect(b.tcp.receiveMemory).toBeLessThanOrEqual(filled + LATER * PRESSURE_FLOOR);
    expect(b.tcp.counters['receive-memory-pressure']).toBeGreaterThan(0);
    expect(b.tcp.connectionStates().Established).toBe(FIRST + LATER);
  });
});

describe('connection floods: a per-stack connection limit (maxConnections)', () => {
  /** `n` handshakes from the attacker, held open. */
  async function flood(maxConnections: number, n: number) {
    const net = twoHosts({ delay: 0.5, a: { seed: 1 }, b: { seed: 2, tcp: { maxConnections } } });
    // The server reads (and so sees each FIN and closes its side), as a server of idle clients does.
    net.b.tcp.createServer((s) => s.on('error', () => {}).resume()).listen(80);
    const peers = nonReaders(net.a, n);
    await net.net.runFor(3_000);
    return { ...net, peers };
  }

  it('off: every handshake of the flood becomes a connection', async () => {
    const { b } = await flood(65_536, 300);
    expect(b.tcp.connectionStates().Established).toBe(300);
    expect(b.tcp.counters['too-many-connections']).toBe(0);
  });

  it('on: connections stop at the limit; SYNs past it are ignored and counted, not reset', async () => {
    const { a, b } = await flood(100, 300);
    expect(b.tcp.connectionStates().Established).toBe(100);
    expect(b.tcp.counters['too-many-connections']).toBeGreaterThanOrEqual(200);
    // Ignored, not refused: the peers past the limit are still trying (SYN-SENT), as when Linux's
    // accept queue overflows, so a flood that ends leaves them a chance to get in.
    expect(b.tcp.counters['rst-sent']).toBe(0);
    expect(a.tcp.connectionStates().SynSent).toBe(200);
  });

  it('on: a connection freed under the limit lets a waiting peer in on its SYN retry', async () => {
    const { net, a, b, peers } = await flood(100, 101);
    expect(b.tcp.connectionStates().Established).toBe(100);
    const established = peers.filter((p) => !p.pending);
    established[0]!.destroy();
    // The waiting peer retransmits its SYN (1 s, 2 s, 4 s after the first) and is let in.
    await net.runFor(10_000);
    expect(b.tcp.connectionStates().Established).toBe(100);
    expect(a.tcp.connectionStates().SynSent ?? 0).toBe(0);
  });
});

describe('the switches on `oasis up`', () => {
  const base = ['--tap', 'oasis0', '--ip', '10.0.0.2/24'];

  it('takes --tcp-memory with a k/M/G suffix (0: no limit) and --max-connections', () => {
    const o = parseUpArgs([...base, '--tcp-memory', '16M', '--max-connections', '10000']);
    expect(o.tcpMemory).toBe(16 * 1024 * 1024);
    expect(o.maxConnections).toBe(10_000);
    expect(parseUpArgs([...base, '--tcp-memory', '0']).tcpMemory).toBe(0);
    expect(parseUpArgs([...base, '--tcp-memory', '512k']).tcpMemory).toBe(512 * 1024);
    expect(parseUpArgs(base).tcpMemory).toBeUndefined();
  });

  it.each([
    ['--tcp-memory', '-1'],
    ['--tcp-memory', '16MB'],
    ['--max-connections', '0'],
    ['--max-connections', '1.5'],
  ])('refuses %s %s', (flag, value) => {
    expect(() => parseUpArgs([...base, `${flag}=${value}`])).toThrow(UsageError);
  });
});
