/**
 * The demo HTTP service: Node's own `http` server running on Oasis sockets.
 * - `GET /` a status page with the stack's counters;
 * - `GET /bytes/N` N pseudo-random bytes, their SHA-256 in the `x-sha256` header;
 * - `POST /sha256` answers the SHA-256 of the request body.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Stack } from '../stack/stack.js';

const MAX_BYTES = 1 << 30;
// 16 KB, the socket's high-water mark: a response waiting for a peer that does not read holds one
// chunk beside the socket's buffer (bench/hardening.ts: hundreds of such peers).
const CHUNK = 16 * 1024;

/**
 * Deterministic bytes for /bytes/N: a xorshift32 stream seeded by N, filled a chunk at a time. With
 * `scratch`, every chunk is that one buffer refilled, valid until the next is asked for: hashing
 * 100 MB then makes no garbage (a fresh chunk each would leave the malloc heap tens of MB larger
 * than what is live, bench/hardening.ts).
 */
export function* pseudoRandomChunks(n: number, scratch?: Buffer): Generator<Buffer> {
  let x = (n ^ 0x9e3779b9) >>> 0 || 1;
  for (let left = n; left > 0; left -= CHUNK) {
    const len = Math.min(CHUNK, left);
    const chunk = scratch === undefined ? Buffer.allocUnsafe(len) : scratch.subarray(0, len);
    for (let i = 0; i < len; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      chunk[i] = x & 0xff;
    }
    yield chunk;
  }
}

/**
 * Hashing /bytes/N costs ~3 ms per MB before the first byte is sent, so many clients asking for the
 * same large N (the 300 never-reading peers) would otherwise redo it each time and hold the
 * event loop for minutes; the last few digests are kept (the stream depends on N alone).
 */
const digests = new Map<number, string>();
const DIGESTS_KEPT = 8;

export function sha256OfBytes(n: number): string {
  const known = digests.get(n);
  if (known !== undefined) return known;
  const h = createHash('sha256');
  for (const c of pseudoRandomChunks(n, Buffer.allocUnsafe(CHUNK))) h.update(c);
  const digest = h.digest('hex');
  if (digests.size >= DIGESTS_KEPT) digests.delete(digests.keys().next().value as number);
  digests.set(n, digest);
  return digest;
}

function status(stack: Stack, res: ServerResponse): void {
  const body = JSON.stringify(
    {
      interfaces: stack.interfaces.map((i) => ({
        name: i.name,
        mtu: i.mtu,
        link: i.link.counters,
        neighbours: { arp: i.arp.entries.size, ndp: i.ndp.neighbours.size },
      })),
      tcp: {
        connections: stack.tcp.connectionStates(),
        sendMemory: stack.tcp.sendMemory,
        receiveMemory: stack.tcp.receiveMemory,
        counters: stack.tcp.counters,
      },
      counters: stack.counters.snapshot(),
      // Where the process's memory is (V8 heap, Buffers outside it), for the hardening benchmark.
      memory: process.memoryUsage(),
      log: stack.log.recent().slice(-20),
    },
    null,
    2,
  );
  res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
}

function bytes(n: number, res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': n,
    'x-sha256': sha256OfBytes(n),
  });
  const chunks = pseudoRandomChunks(n);
  const pump = () => {
    for (;;) {
      // A client gone (reset, destroyed) takes no more: do not make its next chunk (hundreds of
      // non-reading peers leaving at once would each allocate one, bench/hardening.ts).
      if (res.destroyed) return;
      const next = chunks.next();
      if (next.done) return void res.end();
      if (!res.write(next.value)) return void res.once('drain', pump);
    }
  };
  pump();
}

function sha256(req: IncomingMessage, res: ServerResponse): void {
  const h = createHash('sha256');
  let length = 0;
  req.on('data', (c: Buffer) => {
    length += c.length;
    h.update(c);
  });
  req.on('end', () =>
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`${h.digest('hex')}  ${length}\n`),
  );
}

export function httpService(stack: Stack, port: number): void {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://oasis');
    const m = /^\/bytes\/(\d+)$/.exec(url.pathname);
    if (req.method === 'GET' && url.pathname === '/') return status(stack, res);
    if (req.method === 'GET' && m && Number(m[1]) <= MAX_BYTES) return bytes(Number(m[1]), res);
    if (req.method === 'POST' && url.pathname === '/sha256') return sha256(req, res);
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  // 'listening' starts Node's headersTimeout/requestTimeout checks: without it a client that never
  // finishes a request would hold its connection for good (test/api/http-slow-readers.test.ts).
  stack.tcp
    .createServer((socket) => server.emit('connection', socket))
    .listen(port, () => server.emit('listening'));
}
