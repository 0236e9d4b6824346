/**
 * Oasis TCP sockets are close enough to net.Socket for Node's TLS on both ends: `tls.connect({socket})`
 * as the client and a `TLSSocket` server wrapped around an accepted socket, over two stacks on a
 * memory link (real time: TLS does its own asynchronous work).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createSecureContext, TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealScheduler } from '../../src/link/real-clock.js';
import type { Stack } from '../../src/stack/stack.js';
import { type SimNetwork, twoHosts } from '../../src/testing/index.js';

const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasOpenssl)('TLS over Oasis TCP sockets', () => {
  let dir: string;
  let key: Buffer;
  let cert: Buffer;
  const scheduler = new RealScheduler();
  let net: SimNetwork<RealScheduler> | undefined;
  let a: Stack;
  let b: Stack;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'oasis-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=oasis.test',
        '-addext',
        'subjectAltName=DNS:oasis.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    key = readFileSync(join(dir, 'key.pem'));
    cert = readFileSync(join(dir, 'cert.pem'));
    // Real time: TLS does its own asynchronous work, which virtual time would not wait for.
    ({ net, a, b } = twoHosts({
      scheduler,
      mtu: 1500,
      ipv6Enabled: false,
      a: { seed: 21 },
      b: { seed: 22 },
    }));
  });

  afterAll(async () => {
    await net?.close();
    scheduler.cancelAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('completes a handshake and echoes 1 MB through TLS both ways', async () => {
    const secureContext = createSecureContext({ key, cert });
    b.tcp
      .createServer((socket) => {
        const tls = new TLSSocket(socket as never, { isServer: true, secureContext });
        tls.pipe(tls);
      })
      .listen(443);
    const raw = a.tcp.connect({ host: '10.0.0.2', port: 443 });
    const client = connect({ socket: raw as never, servername: 'oasis.test', ca: cert });
    const data = Buffer.alloc(1_000_000, 0x5a);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let got = 0;
      client.on('secureConnect', () => client.write(data));
      client.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (got >= data.length) resolve(Buffer.concat(chunks));
      });
      client.on('error', reject);
    });
    expect(client.authorized).toBe(true);
    expect(echoed.equals(data)).toBe(true);
    client.destroy();
  }, 30_000);
});
