/**
 * The client side of the in-process tour's steps, on an Oasis stack: repeated pings with their
 * round-trip times, an HTTP GET with Node's own client over an Oasis socket, and waiting for an
 * iperf3 server to finish a test.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import type { Iperf3Server, ServerTestReport } from '../../apps/iperf3/server.js';
import type { Stack } from '../../stack/stack.js';

/** What `stack.ipv4.ping` and `stack.ipv6.ping` answer. */
export type Ping = (opts: {
  size: number;
  timeoutMs: number;
}) => Promise<{ readonly rttMs: number; readonly bytes: number } | undefined>;

/**
 * `count` echo requests of `size` bytes, one after the other, each waiting at most `timeoutMs`.
 * Resolves with the round-trip times (ms) once every one was answered with `size` bytes; rejects
 * otherwise.
 */
export async function pings(count: number, size: number, ping: Ping, timeoutMs = 2000): Promise<number[]> {
  const rtts: number[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await ping({ size, timeoutMs });
    if (reply === undefined) continue;
    if (reply.bytes !== size) throw new Error(`a reply of ${reply.bytes} bytes to ${size}`);
    rtts.push(reply.rttMs);
  }
  if (rtts.length < count) throw new Error(`${rtts.length}/${count} replies of ${size} bytes`);
  return rtts;
}

/** `rtt min/avg/max a/b/c ms`, as ping prints it. */
export function rttText(rtts: readonly number[]): string {
  const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
  const f = (x: number) => x.toFixed(2);
  return `rtt min/avg/max ${f(Math.min(...rtts))}/${f(avg)}/${f(Math.max(...rtts))} ms`;
}

export interface HttpGetResult {
  readonly bytes: number;
  /** SHA-256 of the body we received. */
  readonly sha256: string;
  /** The server's `x-sha256` header, if any. */
  readonly header: string | undefined;
}

/**
 * GETs `path` from `host` port 80 with Node's http client, its connection an Oasis socket of
 * `stack`; the body is hashed as it arrives, not kept.
 */
export function httpGet(stack: Stack, host: string, path: string): Promise<HttpGetResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port: 80, path, createConnection: () => stack.tcp.connect({ host, port: 80 }) },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`HTTP ${res.statusCode}`));
        }
        const hash = createHash('sha256');
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          hash.update(chunk);
        });
        res.on('end', () => {
          const header = res.headers['x-sha256'];
          resolve({
            bytes,
            sha256: hash.digest('hex'),
            header: typeof header === 'string' ? header : undefined,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The server's report of its next test: the next test must find the server idle. */
export function nextServerTest(server: Iperf3Server): Promise<ServerTestReport> {
  return new Promise((resolve, reject) => {
    const done = (r: ServerTestReport) => {
      server.off('test-error', failed);
      resolve(r);
    };
    const failed = (e: Error) => {
      server.off('test-done', done);
      reject(e);
    };
    server.once('test-done', done);
    server.once('test-error', failed);
  });
}
