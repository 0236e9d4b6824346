/**
 * Slow readers on the application side (issue 14): Node's own `http` server, fed with Oasis's
 * sockets as the library documents (`createServer(stack, (s) => httpServer.emit('connection', s))`),
 * against a peer stack whose clients ask for 1 MB each and never read it (their 4 KB receive windows
 * close), or read a small answer and then sit idle on the keep-alive connection. Two stacks on
 * virtual time: `a` holds the clients, `b` the server.
 *
 * What holds the bytes of a response that cannot leave, and which switch bounds it:
 * - the TCP send queues (core accounting, `stack.tcp.sendMemory`): a connection holds at most
 *   `sndBuf`; all of them together at most `tcpMemory` (+ one `sndBuf` for the write that crosses
 *   it), past which each connection keeps `PRESSURE_FLOOR` (16 KB) and writers wait, as with
 *   Linux's tcp_mem; `maxConnections` bounds how many connections there are, and so the floors' sum
 *   (test/stack/hardening.test.ts shows that switch on its own);
 * - the sockets' writable side (Node's `Writable` buffer, `socket.writableLength`): what the app
 *   wrote past what the send queue took. `write()` returns false from the socket's high-water mark
 *   (64 KB; Node 20's net.Socket: 16 KB) on and 'drain' follows once the queue took it, so an app
 *   that respects backpressure (`stream.pipeline`) holds at most a high-water mark and a chunk per
 *   socket. An app that ignores `write()`'s answer buffers its whole response in the stream: that
 *   memory is the app's, as with `net.Socket` on Linux (where it also waits in Node's buffer, past
 *   the kernel's send buffer);
 * - the receive side: a flood of pipelined requests whose answers are not read makes Node pause
 *   the socket; Oasis then stops pulling from the receive queue, and the window closes;
 * - the connections' lifetime: `httpServer.keepAliveTimeout` (5 s by default) closes idle keep-alive
 *   connections and `httpServer.timeout` (off by default) slow readers in the middle of a response,
 *   both through `socket.setTimeout`, which runs on the stack's scheduler (virtual time here);
 *   `headersTimeout`/`requestTimeout` close requests never finished, but only once the HTTP server
 *   has seen 'listening' (Node starts their checks then: emit it, as src/api/sockets.ts says).
 *
 * Byte accounting is deterministic and asserted; heap figures are printed, not asserted (the
 * benchmark reports memory and CPU: bench/hardening.ts).
 */
import { createServer as createHttpServer, request, type Server } from 'node:http';
import { Readable, pipeline } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { connect, createServer } from '../../src/api/sockets.js';
import { RealScheduler } from '../../src/link/real-clock.js';
import type { Stack } from '../../src/stack/stack.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { PRESSURE_FLOOR } from '../../src/tcp/core/draft.js';
import { TCP_DEFAULTS } from '../../src/tcp/core/types.js';
import { twoHosts } from '../../src/testing/index.js';

/** The response to `/big`: 1 MB in a pattern, so a reordered or cut body shows. */
const BODY = Buffer.alloc(1 << 20);
for (let i = 0; i < BODY.length; i++) BODY[i] = (i * 7919) >>> 3;
/** The size of the app's writes: through a pipeline, and from the naive app. */
const PIECE = 16 * 1024;
const NAIVE_PIECE = 64 * 1024;
const SND_BUF = TCP_DEFAULTS.sndBuf;
const TCP_MEMORY = 4 * 1024 * 1024;
/** Room for a response's status line and headers in the socket's buffer. */
const HEADERS = 1024;

type App = 'naive' | 'pipeline';

/** Node's http server on b:80, and what it did. */
interface Web {
  readonly http: Server;
  /** The server's sockets still open. */
  readonly sockets: Set<TcpSocket>;
  /** `/big` responses begun and finished (handed whole to the socket). */
  started: number;
  finished: number;
  /** `res.write()` calls that answered false (backpressure reported). */
  refused: number;
  /** 'drain' events on responses. */
  drains: number;
}

function* pieces(size = PIECE): Generator<Buffer> {
  for (let off = 0; off < BODY.length; off += size) yield BODY.subarray(off, off + size);
}

/**
 * `/big` answers BODY, written as a naive app does (every piece at once, `write()`'s answer ignored)
 * or through `stream.pipeline` (which waits for 'drain'); `/small` answers "ok".
 * The naive app writes views of one buffer: the test's process does not really hold N MB, but
 * `writableLength` counts what an app that makes its bytes would hold.
 */
function webServer(b: Stack, app: App): Web {
  const web: Web = {
    http: createHttpServer((req, res) => {
      if (req.url === '/small') return void res.end('ok\n');
      web.started++;
      res.on('finish', () => web.finished++);
      res.on('drain', () => web.drains++);
      res.writeHead(200, { 'content-length': BODY.length });
      if (app === 'naive') {
        for (const piece of pieces(NAIVE_PIECE)) if (!res.write(piece)) web.refused++;
        res.end();
        return;
      }
      const source = Readable.from(pieces(), { objectMode: false, highWaterMark: PIECE });
      pipeline(source, res, () => {});
    }),
    sockets: new Set(),
    started: 0,
    finished: 0,
    refused: 0,
    drains: 0,
  };
  createServer(b, (s) => {
    web.sockets.add(s);
    s.on('close', () => web.sockets.delete(s));
    web.http.emit('connection', s);
  }).listen(80);
  return web;
}

/** Bytes held in the writable side of the server's sockets (Node's `Writable` buffers). */
function writableBytes(web: Web): { total: number; max: number } {
  let total = 0;
  let max = 0;
  for (const s of web.sockets) {
    total += s.writableLength;
    max = Math.max(max, s.writableLength);
  }
  return { total, max };
}

/** `n` clients on `a` that ask for `/big` on keep-alive connections and never read. */
function slowReaders(a: Stack, n: number): void {
  for (let i = 0; i < n; i++) {
    const s = connect(a, { host: '10.0.0.2', port: 80 });
    s.on('error', () => {});
    s.pause();
    s.write('GET /big HTTP/1.1\r\nHost: oasis\r\n\r\n');
  }
}

/** `n` clients that ask for `/small`, read the answer and stay connected; returns their progress. */
function idleClients(a: Stack, n: number, port = 80): { answered: number; closed: number } {
  const progress = { answered: 0, closed: 0 };
  for (let i = 0; i < n; i++) {
    const s = connect(a, { host: '10.0.0.2', port });
    s.on('error', () => {});
    let text = '';
    s.setEncoding('latin1').on('data', (d: string) => {
      text += d;
      if (text.endsWith('\r\n\r\nok\n')) progress.answered++;
    });
    s.on('close', () => progress.closed++);
    s.write('GET /small HTTP/1.1\r\nHost: oasis\r\n\r\n');
  }
  return progress;
}

/** A legitimate client: Node's http client on an Oasis socket of `a`, reading as it should. */
function fetch(a: Stack, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { path, createConnection: () => connect(a, { host: '10.0.0.2', port: 80 }) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** 4 KB receive buffers for the clients: a slow reader's window closes after 4 KB. */
function hosts(tcpMemory: number) {
  return twoHosts({
    delay: 0.5,
    a: { seed: 1, tcp: { rcvBuf: 4096 } },
    b: { seed: 2, tcp: { tcpMemory } },
  });
}

// A collected heap: V8's gc() for this process only (vitest runs each file in its own fork).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * JS heap in use after a full collection. ArrayBuffers are left out: V8 frees them on a background
 * sweeper, so what earlier tests freed would still show (idle connections hold a few bytes of them).
 */
function heapBytes(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed;
}

/**
 * What the send queues may hold with `tcpMemory` on and `n` connections: the limit, the one write
 * that crossed it (a send buffer at most), and past it `PRESSURE_FLOOR` per connection.
 */
function coreBound(n: number, tcpMemory = TCP_MEMORY): number {
  return tcpMemory + SND_BUF + n * PRESSURE_FLOOR;
}

const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

describe('slow readers: N clients ask for 1 MB each and never read', () => {
  it.each([
    [0, 'off'],
    [TCP_MEMORY, 'on'],
  ])('tcpMemory %i (%s): the send queues grow with N, or stop at the limit', async (tcpMemory, _) => {
    const n = 200;
    const { net, a, b } = hosts(tcpMemory);
    const web = webServer(b, 'pipeline');
    slowReaders(a, n);
    await net.runFor(3_000);
    expect(b.tcp.connectionStates().Established).toBe(n);
    expect(web.started).toBe(n);
    const queued = b.tcp.sendMemory;
    console.log(
      `tcpMemory ${tcpMemory === 0 ? 'off' : MB(tcpMemory)}: ${n} slow readers, ${MB(queued)} queued`,
    );
    if (tcpMemory === 0) {
      // Off: every connection pins a whole send buffer (but for the 4 KB its peer took): N × sndBuf.
      expect(queued).toBeGreaterThan(n * (SND_BUF - 8 * 1024));
      expect(b.tcp.counters['send-memory-pressure'] ?? 0).toBe(0);
    } else {
      expect(queued).toBeLessThanOrEqual(coreBound(n, tcpMemory));
      expect(queued).toBeLessThan((n * SND_BUF) / 4);
      expect(b.tcp.counters['send-memory-pressure']).toBeGreaterThan(0);
    }
    await net.close();
  });

  it('naive app, 2,000 readers: the send queues stay bounded; write() says false, the app buffers anyway', async () => {
    const n = 2_000;
    const { net, a, b } = hosts(TCP_MEMORY);
    const web = webServer(b, 'naive');
    slowReaders(a, n);
    await net.runFor(3_000);
    expect(b.tcp.connectionStates().Established).toBe(n);
    expect(web.started).toBe(n);
    // The core: tcpMemory (+ the write that crossed it), then 16 KB per connection at most.
    const queued = b.tcp.sendMemory;
    expect(queued).toBeLessThanOrEqual(coreBound(n));
    // Backpressure was reported to every response (the app ignored it)...
    expect(web.refused).toBeGreaterThanOrEqual(n);
    // ...so each socket's Writable buffer holds the rest of its response: the app's memory, as
    // with net.Socket on Linux, growing with N × the response size.
    const held = writableBytes(web);
    expect(held.total).toBeGreaterThan(n * (BODY.length - SND_BUF));
    console.log(
      `naive app, ${n} slow readers: ${MB(queued)} in send queues (bound ${MB(coreBound(n))}), ` +
        `${MB(held.total)} in the sockets' Writable buffers (the app's)`,
    );
    const body = await net.settle(fetch(a, '/big'));
    expect(body.equals(BODY)).toBe(true);
    await net.close();
  });

  it('pipeline app, 2,000 readers: at most a high-water mark and a chunk per socket; drain resumes a reader', async () => {
    const n = 2_000;
    const { net, a, b } = hosts(TCP_MEMORY);
    const web = webServer(b, 'pipeline');
    slowReaders(a, n);
    await net.runFor(3_000);
    expect(b.tcp.connectionStates().Established).toBe(n);
    expect(web.started).toBe(n);
    expect(web.finished).toBe(0);
    const queued = b.tcp.sendMemory;
    expect(queued).toBeLessThanOrEqual(coreBound(n));
    const held = writableBytes(web);
    const hwm = [...web.sockets][0]!.writableHighWaterMark;
    expect(held.max).toBeLessThanOrEqual(hwm + PIECE + HEADERS);
    expect(held.total).toBeLessThanOrEqual(n * (hwm + PIECE + HEADERS));
    console.log(
      `pipeline app, ${n} slow readers: ${MB(queued)} in send queues (bound ${MB(coreBound(n))}), ` +
        `${MB(held.total)} in the sockets' Writable buffers (bound ${MB(n * (hwm + PIECE + HEADERS))})`,
    );
    // A reader is served meanwhile: 1 MB is more than a send buffer and a high-water mark, so its
    // pipeline went on only because 'drain' came.
    const drainsBefore = web.drains;
    const body = await net.settle(fetch(a, '/big'));
    expect(body.equals(BODY)).toBe(true);
    expect(web.drains).toBeGreaterThan(drainsBefore);
    expect(web.finished).toBe(1);
    await net.close();
  });
});

describe("the sockets' backpressure, as net.Socket's", () => {
  it("write() turns false at the high-water mark and 'drain' follows once the peer reads, under tcpMemory pressure", async () => {
    const { net, a, b } = hosts(TCP_MEMORY);
    // 300 slow readers of a naive app put the stack past tcpMemory first.
    webServer(b, 'naive');
    slowReaders(a, 300);
    await net.runFor(3_000);
    expect(b.tcp.sendMemory).toBeGreaterThanOrEqual(TCP_MEMORY);
    // A writer that waits for 'drain', as an app should, sending 2 MB.
    const total = 2 * BODY.length;
    const seen = { written: 0, refusedAt: [] as number[], drains: 0 };
    let server: TcpSocket | undefined;
    createServer(b, (s) => {
      server = s;
      const pump = () => {
        while (seen.written < total) {
          const ok = s.write(BODY.subarray(0, PIECE));
          seen.written += PIECE;
          if (!ok) {
            seen.refusedAt.push(s.writableLength);
            return void s.once('drain', () => {
              seen.drains++;
              pump();
            });
          }
        }
        s.end();
      };
      pump();
    }).listen(82);
    const client = connect(a, { host: '10.0.0.2', port: 82 });
    client.pause();
    await net.runFor(2_000);
    // The peer does not read: the writer stopped at the first false, holding one high-water mark.
    expect(seen.refusedAt.length).toBe(1);
    expect(seen.drains).toBe(0);
    const hwm = server!.writableHighWaterMark;
    expect(seen.refusedAt[0]).toBeGreaterThanOrEqual(hwm);
    expect(seen.refusedAt[0]).toBeLessThan(hwm + PIECE);
    expect(server!.writableLength).toBe(seen.refusedAt[0]);
    // It reads: every false is followed by a 'drain', and every byte arrives.
    let received = 0;
    const ended = new Promise<void>((resolve) => client.on('end', resolve));
    client.on('data', (d: Buffer) => {
      received += d.length;
    });
    client.resume();
    await net.settle(ended);
    expect(received).toBe(total);
    expect(seen.drains).toBe(seen.refusedAt.length);
    expect(seen.drains).toBeGreaterThan(1);
    for (const at of seen.refusedAt) expect(at).toBeLessThan(hwm + PIECE);
    await net.close();
  });
});

describe('pipelined requests from a reader that never reads', () => {
  it("Node pauses the socket behind the unsent responses; Oasis's receive window then closes", async () => {
    const { net, a, b } = hosts(TCP_MEMORY);
    const web = webServer(b, 'naive');
    // 3.4 MB of requests: more than the receive window and the client's send buffer together.
    const requests = 100_000;
    const request = 'GET /big HTTP/1.1\r\nHost: oasis\r\n\r\n';
    const c = connect(a, { host: '10.0.0.2', port: 80 });
    c.on('error', () => {});
    c.pause();
    c.write(request.repeat(requests));
    await net.runFor(5_000);
    const server = [...web.sockets][0]!;
    // Node stops reading once a response waits for 'drain' (its answer to pipelining floods), after
    // the requests of the chunk it was parsing: at most one read (64 KB; a segment's worth here, and
    // libuv's 64 KB read on Linux). The socket then pulls no more than its readable buffer, its
    // receive window closes, and the rest stays with the sender.
    expect(web.started).toBeLessThanOrEqual(Math.ceil((64 * 1024) / request.length) + 1);
    expect(web.started).toBeLessThan(requests / 10);
    expect(server.isPaused()).toBe(true);
    expect(server.bytesRead).toBeLessThanOrEqual(server.readableHighWaterMark + TCP_DEFAULTS.rcvBuf);
    // What left the client's stream: what the server read, its receive buffer (the window it
    // offered), and the client's own send buffer. The rest waits in the client's stream.
    const sent = requests * request.length;
    expect(c.bytesWritten).toBeLessThanOrEqual(server.bytesRead + TCP_DEFAULTS.rcvBuf + SND_BUF);
    expect(c.bytesWritten).toBeLessThan(sent);
    expect(b.tcp.connectionStates().Established).toBe(1);
    console.log(
      `${requests} pipelined requests (${sent} bytes): ${web.started} handled, ` +
        `${server.bytesRead} bytes read by the server, ${sent - c.bytesWritten} not taken from the client`,
    );
    await net.close();
  });
});

describe('slow readers in the middle of a response: httpServer.timeout', () => {
  it.each([
    [10_000, 'on'],
    [0, "off, Node's default"],
  ])('timeout %i (%s): the stalled sockets are destroyed and their buffers freed, or held', async (timeout) => {
    const n = 300;
    const { net, a, b } = hosts(TCP_MEMORY);
    const web = webServer(b, 'naive');
    web.http.timeout = timeout;
    slowReaders(a, n);
    await net.runFor(3_000);
    expect(web.sockets.size).toBe(n);
    expect(writableBytes(web).total).toBeGreaterThan(n * (BODY.length - SND_BUF));
    // No byte moves on a closed window, so the socket's idle timer runs out (Node refreshes it on
    // reads and writes, not on the answers to window probes, and so does Oasis).
    await net.runFor(30_000);
    if (timeout === 0) {
      expect(web.sockets.size).toBe(n);
      expect(b.tcp.connectionStates().Established).toBe(n);
      return void (await net.close());
    }
    expect(web.sockets.size).toBe(0);
    expect(writableBytes(web).total).toBe(0);
    expect(b.tcp.connectionStates().Established ?? 0).toBe(0);
    // What was queued stays within the core's bound: close() sends the FIN after it, and the peers
    // still answer the window probes. (Linux aborts such orphans once their probe backoff reaches
    // TCP_RTO_MAX, within minutes: tcp_probe_timer, tcp_orphan_retries. Oasis keeps them in
    // FIN-WAIT-1, inside tcpMemory and maxConnections.)
    expect(b.tcp.sendMemory).toBeLessThanOrEqual(coreBound(n));
    console.log(
      `httpServer.timeout ${timeout} ms: ${n} stalled sockets destroyed, ${MB(b.tcp.sendMemory)} still queued by`,
      b.tcp.connectionStates(),
    );
    await net.close();
  });
});

/** An answer to every request shaped as HTTP's, without Node's http: the cost of TCP alone. */
function plainServer(b: Stack, port: number): void {
  createServer(b, (s) => {
    s.on('error', () => {});
    s.on('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n'));
  }).listen(port);
}

describe('idle keep-alive connections: httpServer.keepAliveTimeout', () => {
  it.each([
    [5_000, "on, Node's default"],
    [0, 'off'],
  ])('keepAliveTimeout %i (%s): 1,000 idle connections closed after it, or held', async (timeout) => {
    const n = 1_000;
    const { net, a, b } = hosts(TCP_MEMORY);
    const web = webServer(b, 'pipeline');
    web.http.keepAliveTimeout = timeout;
    const clients = idleClients(a, n);
    expect(await net.runUntil(() => clients.answered === n, { limitMs: 4_000 })).toBe(true);
    expect(web.sockets.size).toBe(n);
    // A reader is served meanwhile, on a connection of its own.
    const body = await net.settle(fetch(a, '/big'));
    expect(body.equals(BODY)).toBe(true);
    // The keep-alive timer (socket.setTimeout) runs out, Node destroys the socket, Oasis sends the
    // FIN, and the client (not half-open) closes its side too.
    await net.runFor(timeout + 5_000);
    if (timeout > 0) {
      expect(web.sockets.size).toBe(0);
      expect(clients.closed).toBe(n);
      expect(b.tcp.connectionStates().Established ?? 0).toBe(0);
    } else {
      await net.runFor(60_000);
      expect(web.sockets.size).toBe(n);
      expect(clients.closed).toBe(0);
      expect(b.tcp.connectionStates().Established).toBe(n);
    }
    await net.close();
  });

  it("memory per idle connection (printed): TCP alone, and with Node's http server", async () => {
    const n = 1_200;
    const { net, a, b } = hosts(TCP_MEMORY);
    webServer(b, 'pipeline');
    plainServer(b, 81);
    /** Heap bytes per connection for the second half of `n` (one-time costs are paid by then). */
    const perConnection = async (port: number): Promise<number> => {
      const first = idleClients(a, n / 2, port);
      expect(await net.runUntil(() => first.answered === n / 2, { limitMs: 4_000 })).toBe(true);
      // The last answers' ACKs (delayed) come in: idle connections queue nothing.
      await net.runFor(1_000);
      const before = heapBytes();
      const second = idleClients(a, n / 2, port);
      expect(await net.runUntil(() => second.answered === n / 2, { limitMs: 4_000 })).toBe(true);
      await net.runFor(1_000);
      return (heapBytes() - before) / (n / 2);
    };
    const tcp = await perConnection(81);
    const http = await perConnection(80);
    const kb = (x: number) => `${(x / 1024).toFixed(1)} KB`;
    console.log(
      `an idle keep-alive connection, both ends (this process holds both): ${kb(tcp)} with TCP alone, ` +
        `${kb(http)} with Node's http server; the server's end ≈ ${kb(tcp / 2 + (http - tcp))}`,
    );
    expect(b.tcp.connectionStates().Established).toBe(2 * n);
    expect(b.tcp.sendMemory).toBe(0);
    await net.close();
  });
});

describe("requests never finished: Node's headersTimeout needs 'listening'", () => {
  // Node checks headersTimeout and requestTimeout from an interval (a real timer) that it starts on
  // the server's 'listening' event, which a server fed through emit('connection') never sees unless
  // the app emits it (src/api/sockets.ts says so). Real time, with short timeouts.
  it.each([
    [true, 'emitted: both clients get 408 and are closed'],
    [false, 'not emitted: both are held'],
  ])("'listening' %s (%s)", async (listening) => {
    const { net, a, b } = twoHosts({ scheduler: new RealScheduler() });
    const web = createHttpServer(
      { connectionsCheckingInterval: 50, headersTimeout: 200, requestTimeout: 400 },
      (_req, res) => res.end('ok\n'),
    );
    createServer(b, (s) => web.emit('connection', s)).listen(80, () => {
      if (listening) web.emit('listening');
    });
    // One client sends nothing, the other half a request (a slowloris).
    const clients = ['', 'GET / HTTP/1.1\r\nHost: oasis\r\n'].map((first) => {
      const c = connect(a, { host: '10.0.0.2', port: 80 });
      const seen = { text: '', closed: false };
      c.on('error', () => {});
      c.on('data', (d: Buffer) => {
        seen.text += d.toString('latin1');
      });
      c.on('close', () => {
        seen.closed = true;
      });
      if (first !== '') c.write(first);
      return seen;
    });
    const deadline = Date.now() + (listening ? 3_000 : 800);
    while (Date.now() < deadline && !clients.every((c) => c.closed))
      await new Promise((resolve) => setTimeout(resolve, 20));
    for (const c of clients) {
      expect(c.closed).toBe(listening);
      if (listening) expect(c.text).toMatch(/^HTTP\/1\.1 408 /);
    }
    web.close();
    await net.close();
  });
});
