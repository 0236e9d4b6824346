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
import { parseIpv4Addr } from '../../src/addr.js';
import { memoryPair } from '../../src/link/memory.js';
import { RealScheduler } from '../../src/link/real-clock.js';
import { Stack } from '../../src/stack/stack.js';

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
    const [la, lb] = memoryPair(scheduler, { mtu: 1500 });
    a = new Stack({ scheduler, seed: 21 });
    b = new Stack({ scheduler, seed: 22 });
    a.addInterface({
      link: la,
      ipv4: [{ address: parseIpv4Addr('10.0.0.1')!, prefixLen: 24 }],
      ipv6Enabled: false,
    });
    b.addInterface({
      link: lb,
      ipv4: [{ address: parseIpv4Addr('10.0.0.2')!, prefixLen: 24 }],
      ipv6Enabled: false,
    });
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
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
