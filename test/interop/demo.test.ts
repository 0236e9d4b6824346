/**
 * `oasis demo` (the README's main command): the whole tour passes against the kernel and leaves no
 * namespace, TAP or process behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { canTap } from '../support/netns.js';
import { OASIS_BIN } from '../support/oasis.js';

function leftovers(): string[] {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  return [...ns.split('\n'), ...links.split('\n')].filter((l) => /oasis-demo-|oademo/.test(l));
}

describe.skipIf(!canTap)('oasis demo', () => {
  it('runs the tour against the kernel, every step ok, and cleans up', async () => {
    const child = spawn(process.execPath, [OASIS_BIN, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((ok) => child.on('close', ok));
    expect(code, out).toBe(0);
    const summary = out.slice(out.indexOf('Summary'));
    for (const step of ['ARP', 'fragments', 'NDP', 'HTTP', 'iperf3', 'iperf3 -R']) {
      expect(summary).toMatch(new RegExp(`ok +${step.replace(/[-]/g, '\\-')} `));
    }
    expect(summary).not.toContain('FAILED');
    expect(leftovers()).toEqual([]);
  }, 120_000);
});
