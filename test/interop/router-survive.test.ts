/**
 * `oasis router` outlives its neighbours: a TAP set down and up keeps forwarding, and a TAP whose
 * namespace is deleted (the kernel destroys the device) is opened again and configured again once
 * the namespace is back, with neighbours learnt anew (the new device has a new MAC).
 * Also: `--user` drops root once the TAPs are open (a device that goes away can then not be made
 * again: that needs CAP_NET_ADMIN), and `--stats-interval` prints counter lines.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { canTap, NetNs, uniqueIfName, uniqueNsName, waitFor } from '../support/netns.js';
import { startRouter } from '../support/topology.js';

const made: NetNs[] = [];
let bName: string | undefined;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function pingOk(ns: NetNs, dst: string): boolean {
  try {
    ns.run('ping', '-c', '1', '-W', '1', dst);
    return true;
  } catch {
    return false;
  }
}

afterAll(() => {
  for (const ns of made) ns.delete();
  if (bName !== undefined) execFileSync('ip', ['netns', 'del', bName], { stdio: 'ignore' });
});

describe.skipIf(!canTap)('oasis router and its neighbours coming and going', () => {
  it('keeps forwarding across down/up, and reconfigures a TAP whose namespace was deleted and made again', async () => {
    const r = NetNs.create();
    const a = NetNs.create();
    made.push(r, a);
    // B is made by hand: it is deleted and made again under the same name.
    bName = uniqueNsName();
    const b = bName;
    const addB = () => {
      ip('netns', 'add', b);
      ip('-n', b, 'link', 'set', 'lo', 'up');
    };
    addB();
    const tapA = uniqueIfName();
    const tapB = uniqueIfName();
    const router = await startRouter(r, [
      '--if',
      `${tapA},ip=10.65.1.1/24,netns=${a.name},host-ip=10.65.1.2/24`,
      '--if',
      `${tapB},ip=10.65.2.1/24,netns=${b},host-ip=10.65.2.2/24`,
      '--stats-interval',
      '0.5',
    ]);
    try {
      a.run('ip', 'route', 'add', 'default', 'via', '10.65.1.1');
      ip('-n', b, 'route', 'add', 'default', 'via', '10.65.2.1');
      expect(pingOk(a, '10.65.2.2')).toBe(true);

      ip('-n', b, 'link', 'set', tapB, 'down');
      expect(pingOk(a, '10.65.2.2')).toBe(false);
      ip('-n', b, 'link', 'set', tapB, 'up');
      ip('-n', b, 'route', 'replace', 'default', 'via', '10.65.2.1');
      await waitFor('forwarding after down/up', () => pingOk(a, '10.65.2.2'), 10_000);

      // The device dies with its namespace; the router reopens it and waits for the namespace.
      ip('netns', 'del', b);
      await new Promise((res) => setTimeout(res, 1500));
      addB();
      await waitFor(
        'the TAP back in the new namespace with its address',
        () => {
          try {
            return execFileSync('ip', ['-n', b, 'addr', 'show', tapB], { encoding: 'utf8' }).includes(
              '10.65.2.2',
            );
          } catch {
            return false;
          }
        },
        10_000,
      );
      ip('-n', b, 'route', 'replace', 'default', 'via', '10.65.2.1');
      await waitFor('forwarding to the new namespace', () => pingOk(a, '10.65.2.2'), 10_000);
      await waitFor('the log of it', () => /kernel end configured again/.test(router.output().stderr), 5_000);
    } finally {
      const { code, stats } = await router.stop();
      expect(code).toBe(0);
      expect(stats.counters['router/forwarded']).toBeGreaterThan(0);
      expect(
        router
          .output()
          .stdout.split('\n')
          .filter((l) => l.startsWith('{"counters"')).length,
      ).toBeGreaterThan(1);
    }
  }, 60_000);
});

describe.skipIf(!canTap)('oasis router --user', () => {
  it('gives up root once its TAPs are open and forwards as before', async () => {
    const r = NetNs.create();
    const a = NetNs.create();
    const b = NetNs.create();
    made.push(r, a, b);
    const router = await startRouter(r, [
      '--if',
      `${uniqueIfName()},ip=10.66.1.1/24,netns=${a.name},host-ip=10.66.1.2/24`,
      '--if',
      `${uniqueIfName()},ip=10.66.2.1/24,netns=${b.name},host-ip=10.66.2.2/24`,
      '--user',
      'nobody',
    ]);
    try {
      const user = execFileSync('ps', ['-o', 'user=', '-p', String(router.pid)], { encoding: 'utf8' }).trim();
      expect(user).toBe('nobody');
      a.run('ip', 'route', 'add', 'default', 'via', '10.66.1.1');
      b.run('ip', 'route', 'add', 'default', 'via', '10.66.2.1');
      expect(pingOk(a, '10.66.2.2')).toBe(true);
    } finally {
      expect((await router.stop()).code).toBe(0);
    }
  }, 30_000);
});
