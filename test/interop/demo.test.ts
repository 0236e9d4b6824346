/**
 * `oasis demo` (the README's main command): the whole tour passes against the kernel — the host tour,
 * then the router leg, two namespaces through `oasis router` — and leaves no namespace, TAP or
 * process behind.
 */
import { execFileSync, spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { canTap } from '../support/netns.js';
import { OASIS_BIN } from '../support/oasis.js';

const literal = (s: string) => s.replace(/[-]/g, '\\-');

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
    const started = performance.now();
    const code = await new Promise<number | null>((ok) => child.on('close', ok));
    const seconds = (performance.now() - started) / 1000;
    expect(code, out).toBe(0);
    const summary = out.slice(out.indexOf('\nSummary\n'), out.indexOf('\nRouter leg: '));
    for (const step of ['ARP', 'fragments', 'NDP', 'HTTP', 'iperf3', 'iperf3 -R']) {
      expect(summary).toMatch(new RegExp(`ok +${literal(step)} `));
    }
    const routed = out.slice(out.indexOf('\nSummary (router leg: two kernels through oasis router)\n'));
    for (const step of [
      'router up',
      'traceroute',
      'routed ping',
      'routed ping6',
      'routed iperf3',
      'masqueraded fetch',
      'router',
    ]) {
      expect(routed).toMatch(new RegExp(`\\n  ok +${literal(step)} `));
    }
    expect(out).not.toContain('FAILED');
    // traceroute -n in left: the Oasis router answers hop 1 from its left address, right is hop 2.
    expect(out).toMatch(/\n {4}1 {2}10\.202\.1\.1 {2}[\d.]+ ms/);
    expect(out).toMatch(/\n {4}2 {2}10\.202\.2\.2 {2}[\d.]+ ms/);
    // Right's kernel took its IPv6 address from the router's advertisement, and left reached it.
    expect(out).toMatch(/right's kernel configured fd00:202:2:0:[0-9a-f:]+\/64 by SLAAC/);
    expect(out).toMatch(/ok: 3\/3 replies from fd00:202:2:0:[0-9a-f:]+, hop limit 63/);
    expect(routed).toMatch(/ok +routed iperf3 +[\d.]+ Gbit\/s left -> right/);
    // The counters the router printed on SIGINT: what it forwarded is at least the iperf3 stream.
    const forwarded = Number(/forwarded (\d+) frames \(router\/forwarded\)/.exec(routed)?.[1]);
    expect(forwarded).toBeGreaterThan(10_000);
    expect(routed).toMatch(/copiedPayloadBytes \d+/);
    // The masqueraded fetch: right, with no route back to left, saw the router's right address,
    // and the router translated the packets of that flow.
    expect(out).toMatch(/right: ip route get 10\.202\.1\.2: .*unreachable/i);
    expect(out).toMatch(
      /left: GET http:\/\/10\.202\.2\.2:8080\/ -> hello from right; you came from 10\.202\.2\.1\n/,
    );
    expect(Number(/NAT translated (\d+) packets/.exec(routed)?.[1])).toBeGreaterThan(4);
    expect(leftovers()).toEqual([]);
    console.log(`oasis demo (kernel tour and router leg): ${seconds.toFixed(1)} s`);
  }, 120_000);
});
