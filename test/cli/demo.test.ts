/**
 * `oasis demo --in-process` (the tour between two Oasis hosts, then the router leg: left — an Oasis
 * router — right; no root needed): the real CLI, built, runs every step to ok, prints the summary
 * and exits 0 by itself — nothing left running.
 */
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { whyInProcess } from '../../src/cli/demo.js';
import { OASIS_BIN, OASIS_BUILT } from '../support/oasis.js';

const STEPS = [
  'ARP',
  'fragments',
  'NDP',
  'HTTP',
  'iperf3',
  'iperf3 -R',
  'traceroute',
  'routed ping',
  'routed ping6',
  'routed TCP',
  'masqueraded fetch',
  'router',
];
/** The tour takes about 8 s; past this it is hung, or something keeps the process alive after it. */
const EXIT_DEADLINE_MS = 25_000;

const literal = (s: string) => s.replace(/[-]/g, '\\-');

describe('oasis demo --in-process', () => {
  it('is built (npm run build) so that the CLI tests run the current code', () => {
    expect(OASIS_BUILT, 'dist/ is missing: run npm run build').toBe(true);
  });

  it.runIf(OASIS_BUILT)(
    'runs every step to ok, prints the summary and exits 0 by itself',
    async () => {
      const child = spawn(process.execPath, [OASIS_BIN, 'demo', '--in-process'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d.toString();
      });
      // Killed only if it overstays: then the exit code is null and the test says why.
      const deadline = setTimeout(() => child.kill('SIGKILL'), EXIT_DEADLINE_MS);
      const code = await new Promise<number | null>((ok) => child.on('close', ok));
      clearTimeout(deadline);
      expect(code, `did not exit with 0 within ${EXIT_DEADLINE_MS} ms:\n${out}`).toBe(0);
      expect(out).toMatch(/^In-process tour, because --in-process was given/);
      for (const step of STEPS) {
        expect(out, step).toMatch(new RegExp(`\\n== ${literal(step)}: [^\\n]*\\n(   [^\\n]*\\n)*   ok: `));
      }
      expect(out).toContain("alice's ARP cache: 10.201.0.2 at ");
      expect(out).toContain('neighbor advertisement, tgt is fd00:201::2');
      expect(out).toContain('SHA-256 verified against x-sha256');
      // The router leg: the traceroute names the router at hop 1 and right at hop 2, the pings
      // come back one hop shorter, right's IPv6 address is its own by SLAAC.
      expect(out).toMatch(/\n {4}1 {2}10\.202\.1\.1 {2}\d+\.\d{3} ms/);
      expect(out).toMatch(/\n {4}2 {2}10\.202\.2\.2 {2}\d+\.\d{3} ms/);
      expect(out).toMatch(/\n {3}right configured fd00:202:2:0:[0-9a-f:]+\/64 by SLAAC from the router's/);
      expect(out).toMatch(/ok: 3\/3 replies from 10\.202\.2\.2, ttl 63 /);
      expect(out).toMatch(/ok: 3\/3 replies from fd00:202:2:0:[0-9a-f:]+, hop limit 63;/);
      expect(out).toMatch(
        /ok: 20000000 bytes left -> right in [\d.]+ s: [\d.]+ Gbit\/s through the router, SHA-256 verified/,
      );
      expect(out).toMatch(/ok: forwarded [1-9]\d* frames \(router\/forwarded\)/);
      // The masqueraded fetch: right, with no route back to left, saw the router's right address.
      expect(out).toContain('left: connect 10.202.2.2:8080 -> hello from right; you came from 10.202.2.1');
      const summary = out.slice(out.indexOf('\nSummary'));
      expect(summary).toMatch(/^\nSummary \(in process, Oasis to Oasis: --in-process was given\)\n/);
      for (const step of STEPS) expect(summary).toMatch(new RegExp(`\\n  ok +${literal(step)} `));
      expect(out).not.toContain('FAILED');
    },
    EXIT_DEADLINE_MS + 5_000,
  );

  it.runIf(OASIS_BUILT)('documents --in-process and rejects unknown options', () => {
    const help = spawnSync(process.execPath, [OASIS_BIN, 'demo', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--in-process');
    const bad = spawnSync(process.execPath, [OASIS_BIN, 'demo', '--bogus'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('Usage: oasis demo');
  });
});

describe('whyInProcess', () => {
  it.each([
    [true, 0, true, '--in-process was given'],
    [false, 1000, true, 'this process is not root (uid 1000)'],
    [false, 0, false, '/dev/net/tun is missing'],
    [false, 1000, false, 'this process is not root (uid 1000) and /dev/net/tun is missing'],
    [false, undefined, true, 'this process is not root (uid unknown)'],
    [false, 0, true, undefined],
  ])('forced=%s uid=%s tun=%s: %s', (forced, uid, tun, reason) => {
    expect(whyInProcess(forced, uid, tun)).toBe(reason);
  });
});
