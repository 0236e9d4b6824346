/**
 * `oasis router --config FILE.json` reloads its firewall rules on SIGHUP without losing tracked flows:
 * a ping running across the reload keeps its replies (its flow is established), while a new ping
 * after a reload that drops new flows gets none; the counters name the new rule.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canTap, NetNs, uniqueIfName, waitFor } from '../support/netns.js';
import { startRouter } from '../support/topology.js';

const made: NetNs[] = [];
const dir = mkdtempSync(join(tmpdir(), 'oasis-reload-'));

afterAll(() => {
  for (const ns of made) ns.delete();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!canTap)('oasis router reloading its firewall on SIGHUP', () => {
  it('applies the new rules and keeps the flows it tracks', async () => {
    const r = NetNs.create();
    const a = NetNs.create();
    const b = NetNs.create();
    made.push(r, a, b);
    const tapA = uniqueIfName();
    const tapB = uniqueIfName();
    const file = join(dir, 'router.json');
    const write = (firewall: object) =>
      writeFileSync(
        file,
        JSON.stringify({
          if: [
            `${tapA},ip=10.69.1.1/24,netns=${a.name},host-ip=10.69.1.2/24`,
            `${tapB},ip=10.69.2.1/24,netns=${b.name},host-ip=10.69.2.2/24`,
          ],
          firewall,
        }),
      );
    write({ forward: [] });
    const router = await startRouter(r, ['--config', file]);
    try {
      a.run('ip', 'route', 'add', 'default', 'via', '10.69.1.1');
      b.run('ip', 'route', 'add', 'default', 'via', '10.69.2.1');
      // A ping that spans the reload: 12 echoes, 0.25 s apart.
      const long = spawn('ip', [
        'netns',
        'exec',
        a.name,
        'ping',
        '-c',
        '12',
        '-i',
        '0.25',
        '-W',
        '1',
        '10.69.2.2',
      ]);
      let out = '';
      long.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const done = new Promise<void>((res) => long.on('close', () => res()));
      await waitFor('the first replies', () => /icmp_seq=2 /.test(out), 5000);
      write({
        policy: { forward: 'drop' },
        forward: [{ protocol: 'icmp', 'icmp-type': 'echo-request', state: 'new', verdict: 'drop' }],
      });
      router.child.kill('SIGHUP');
      await waitFor('the reload', () => /reloaded the firewall rules/.test(router.output().stderr), 5000);
      await done;
      expect(out).toMatch(/12 received/);
      // A new flow is dropped by the new rules.
      // ping exits non-zero when no reply came.
      let answered = true;
      try {
        a.run('ping', '-c', '2', '-i', '0.3', '-W', '1', '10.69.2.2');
      } catch {
        answered = false;
      }
      expect(answered).toBe(false);
    } finally {
      const { code, stats } = await router.stop();
      expect(code).toBe(0);
      expect(JSON.stringify(stats)).toContain('icmp type 8');
    }
  }, 60_000);
});
