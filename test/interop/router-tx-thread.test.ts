/**
 * `oasis router --no-offload` with `tx-thread=on` on every TAP (docs/TAP.md "The transmit thread"),
 * between Linux namespaces (test/support/topology.ts): 10 MB each way between A and B, SHA-256
 * checked, and a 3,000-byte ping from A to C (MTU 1280) in fragments the router makes; on SIGINT
 * the router reports the flushes its TAPs' threads wrote and no write that failed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { canTap } from '../support/netns.js';
import { createOasisTopology, ping, tcpTransfer } from '../support/topology.js';

it.skipIf(!canTap)(
  'carries TCP both ways and fragments through TAPs written by their transmit threads',
  async () => {
    const topo = await createOasisTopology({
      wantSlaac: false,
      extraArgs: ['--no-offload'],
      ifOptions: ['tx-thread=on'],
    });
    const dir = mkdtempSync(join(tmpdir(), 'oasis-tx-thread-'));
    try {
      const { a, b, c } = topo.hosts;
      const file = join(dir, 'data');
      const bytes = randomBytes(10_000_000);
      writeFileSync(file, bytes);
      const sha = createHash('sha256').update(bytes).digest('hex');
      expect(await tcpTransfer(a.ns, b.ns, b.ip, 5001, file)).toMatchObject({ sha, length: bytes.length });
      expect(await tcpTransfer(b.ns, a.ns, a.ip, 5002, file)).toMatchObject({ sha, length: bytes.length });
      const p = await ping(a.ns, c.ip, ['-c', '3', '-i', '0.2', '-s', '3000', '-W', '2']);
      expect(p.received, p.output).toBe(3);
      const { code, stats } = await topo.router!.stop();
      expect(code).toBe(0);
      const s = stats as unknown as {
        txThread?: Record<string, { flushes: number; bytes: number }>;
        interfaces: Record<string, { drops: Record<string, number> }>;
      };
      // The bulk went through the threads of A's and B's TAPs; every frame they took was written.
      for (const dev of [topo.routerDevs.a, topo.routerDevs.b]) {
        expect(s.txThread?.[dev]?.flushes ?? 0).toBeGreaterThan(0);
        expect(s.txThread?.[dev]?.bytes ?? 0).toBeGreaterThan(bytes.length);
        expect(s.interfaces[dev]?.drops['io-error']).toBe(0);
      }
    } finally {
      topo.delete();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
