/**
 * Every program in examples/ runs, as a user would run it (`node --import tsx examples/X.ts`), and
 * prints what it says it prints, so that none rots. The examples import 'oasis-net', which Node
 * resolves through the package's own `exports` map to dist/: they exercise the built public API
 * (`npm test` builds first; run `npm run build` before running this file alone). The type check
 * (`tsc -p examples/tsconfig.json`) checks them against dist's declarations the same way.
 *
 * examples/http-on-tap.ts needs root and /dev/net/tun: it runs inside a namespace this test makes,
 * and curl fetches a page from it there; without root it is skipped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatFrame } from '../src/format.js';
import { parsePcap, readPcapFile } from '../src/link/pcap.js';
import { useLab } from './support/lab.js';
import { canTap, collect, type RunResult } from './support/netns.js';

const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'examples');

/** Runs an example with tsx's loader in this process's Node, to completion. */
function runExample(file: string, args: readonly string[] = [], timeoutMs = 30_000): Promise<RunResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(EXAMPLES, file), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child, timeoutMs);
}

function expectSuccess(r: RunResult): void {
  expect(r.stderr, 'nothing on stderr').toBe('');
  expect(r.code, 'exit code').toBe(0);
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/index.js')))
    throw new Error("dist/index.js is missing: the examples import 'oasis-net' from dist (npm run build)");
});

describe('examples', () => {
  it('type-check against the package as published (dist declarations, through the exports map)', async () => {
    const tsc = spawn(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(EXAMPLES, 'tsconfig.json')],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const r = await collect(tsc, 60_000);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);

  it('two-stacks-http.ts: Node http between two in-process stacks', async () => {
    const r = await runExample('two-stacks-http.ts');
    expectSuccess(r);
    expect(r.stdout).toBe('200 hello from Oasis, you asked for /index.html\n');
  });

  it('udp-echo.ts: three datagrams echoed', async () => {
    const r = await runExample('udp-echo.ts');
    expectSuccess(r);
    expect(r.stdout.trim().split('\n').sort()).toEqual([
      '10.0.0.2:7 answered one',
      '10.0.0.2:7 answered three',
      '10.0.0.2:7 answered two',
    ]);
  });

  it('read-capture.ts: one formatFrame line per frame of a capture', async () => {
    const file = join(ROOT, 'test/golden/tcp.pcap');
    const capture = await readPcapFile(file);
    expect(capture.frames.length).toBeGreaterThan(3);
    const r = await runExample('read-capture.ts', [file]);
    expectSuccess(r);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(capture.frames.length);
    const start = capture.frames[0]!.timestampMicros;
    lines.forEach((line, i) => {
      const frame = capture.frames[i]!;
      expect(line).toBe(`${((frame.timestampMicros - start) / 1e6).toFixed(6)} ${formatFrame(frame.bytes)}`);
    });
  });

  it('read-capture.ts: a capture cut in the middle of a frame: the frames before it, then where', async () => {
    const whole = readFileSync(join(ROOT, 'test/golden/udp.pcap'));
    const capture = parsePcap(whole);
    if (!capture.ok) throw new Error('test/golden/udp.pcap does not parse');
    const cut = join(mkdtempSync(join(tmpdir(), 'oasis-examples-')), 'cut.pcap');
    try {
      writeFileSync(cut, whole.subarray(0, whole.length - 3));
      const r = await runExample('read-capture.ts', [cut]);
      expect(r.code).toBe(0);
      expect(r.stdout.trimEnd().split('\n')).toHaveLength(capture.value.frames.length - 1);
      expect(r.stderr).toMatch(/^.*cut\.pcap: .* at byte \d+\n$/);
    } finally {
      rmSync(dirname(cut), { recursive: true, force: true });
    }
  });

  it('read-capture.ts: a usage line and exit 2 without a file', async () => {
    const r = await runExample('read-capture.ts');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage');
  });

  it('property-test.ts: the property holds for 30 drawn networks, from a given seed', async () => {
    const r = await runExample('property-test.ts', ['20261207']);
    expectSuccess(r);
    expect(r.stdout).toBe('ok: 30 networks and inputs from seed 20261207\n');
  });

  describe.skipIf(!canTap)('http-on-tap.ts (root: in a namespace of its own)', () => {
    const lab = useLab();

    it('serves a page that curl fetches through the TAP', async () => {
      const ns = lab.namespace();
      const subnet = lab.subnet();
      // Made by the example inside the namespace, and deleted with it.
      const tap = lab.tapName();
      const child: ChildProcess = ns.spawn(process.execPath, [
        '--import',
        'tsx',
        join(EXAMPLES, 'http-on-tap.ts'),
        tap,
        subnet.cidr4(2),
      ]);
      const exited = collect(child, 30_000);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const deadline = performance.now() + 20_000;
      while (!out.includes('listening') && child.exitCode === null && performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain(`listening on http://${subnet.ip4(2)}/ through ${tap}`);
      // The kernel's side of the TAP, as the example's comment tells a user to do.
      ns.run('ip', 'addr', 'add', subnet.cidr4(1), 'dev', tap);
      ns.run('ip', 'link', 'set', tap, 'up');
      const curl = await ns.exec(
        'curl',
        ['-sS', '--max-time', '10', `http://${subnet.ip4(2)}/hello`],
        15_000,
      );
      expect(curl.stderr).toBe('');
      expect(curl.stdout).toBe('hello from Oasis, you asked for /hello\n');
      child.kill('SIGTERM');
      const r = await exited;
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }, 60_000);
  });
});
