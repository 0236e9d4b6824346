/**
 * `oasis replay` (run through `main`, as bin/oasis.js does): a trace of a real exchange replays (its
 * secret, drawn from the operating system, comes from the trace); a changed output is a mismatch,
 * exit 1; input that is not a trace, exit 2, with one line saying why.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Ipv4Addr, parseIpv4Addr } from '../../src/addr.js';
import { main } from '../../src/cli/main.js';
import { VirtualScheduler } from '../../src/clock.js';
import { memoryPair } from '../../src/link/memory.js';
import { Stack } from '../../src/stack/stack.js';
import { runUntil, settle } from '../../src/testing/time.js';
import { decodeTraceLine } from '../../src/tcp/core/trace.js';

const tmp = mkdtempSync(join(tmpdir(), 'oasis-replay-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let stdout: string[] = [];
let stderr: string[] = [];
beforeEach(() => {
  stdout = [];
  stderr = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void stdout.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void stderr.push(a.join(' ')));
});
afterEach(() => vi.restoreAllMocks());

const ip = (s: string) => parseIpv4Addr(s) as Ipv4Addr;

/** The trace lines of a client without seed (so with a secret from the OS) echoing 100 kB. */
async function recordTrace(): Promise<string[]> {
  const scheduler = new VirtualScheduler();
  const [la, lb] = memoryPair(scheduler, { delay: 1 });
  const a = new Stack({ scheduler });
  const b = new Stack({ scheduler, seed: 2 });
  a.addInterface({ link: la, ipv4: [{ address: ip('10.0.0.1'), prefixLen: 24 }], ipv6Enabled: false });
  b.addInterface({ link: lb, ipv4: [{ address: ip('10.0.0.2'), prefixLen: 24 }], ipv6Enabled: false });
  const lines: string[] = [];
  a.tcp.trace = (line) => lines.push(line);
  b.tcp.createServer((s) => s.pipe(s)).listen(7);
  let echoed = 0;
  const c = a.tcp.connect({ host: '10.0.0.2', port: 7 });
  c.on('data', (d: Buffer) => {
    echoed += d.length;
    if (echoed === 100_000) c.end();
  });
  c.write(Buffer.alloc(100_000, 0x61));
  const closed = new Promise<void>((resolve) => c.on('close', () => resolve()));
  await runUntil(scheduler, () => echoed === 100_000, { limitMs: 10_000 });
  await settle(scheduler, closed, { limitMs: 10_000 });
  expect(echoed).toBe(100_000);
  return lines;
}

const trace = await recordTrace();

function file(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

describe('oasis replay', () => {
  it('replays a trace step by step: exit 0', async () => {
    expect(trace.length).toBeGreaterThan(20);
    const start = decodeTraceLine(trace[0]!);
    expect(start.kind === 'start' && start.config.secret.length).toBe(16);
    const code = await main(['replay', file('good.trace', `${trace.join('\n')}\n`)]);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    expect(stdout).toEqual([`${trace.length - 1} steps replayed: every output identical`]);
  });

  it('a step whose recorded outputs differ: exit 1, the step shown', async () => {
    const k = trace.findIndex((l, i) => i > 3 && (JSON.parse(l).outputs as string[]).length > 0);
    const step = JSON.parse(trace[k]!);
    step.outputs[0] = `${step.outputs[0]} (changed)`;
    const lines = [...trace];
    lines[k] = JSON.stringify(step);
    const code = await main(['replay', file('changed.trace', lines.join('\n'))]);
    expect(code).toBe(1);
    expect(stdout[0]).toBe(`step ${k}: outputs differ`);
    expect(stdout.join('\n')).toContain('(changed)');
    expect(stderr).toEqual([]);
  });

  it('a trace with another secret is a real mismatch (the core does not do what was recorded)', async () => {
    const start = JSON.parse(trace[0]!);
    start.config.secret = { $hex: '00'.repeat(16) };
    const code = await main([
      'replay',
      file('secret.trace', [JSON.stringify(start), ...trace.slice(1)].join('\n')),
    ]);
    expect(code).toBe(1);
    expect(stdout[0]).toMatch(/^step \d+: outputs differ$/);
  });

  it.each([
    ['a missing file', () => join(tmp, 'missing.trace'), /^oasis replay: .*missing\.trace: ENOENT/],
    [
      'a file that is not JSON lines',
      () => file('text.trace', 'hello\n'),
      /^oasis replay: .*:1: not a trace line: /,
    ],
    [
      'an empty file',
      () => file('empty.trace', ''),
      /not a TCP trace: it does not begin with the core's start line/,
    ],
    [
      'steps without a start line',
      () => file('nostart.trace', trace.slice(1).join('\n')),
      /does not begin with/,
    ],
    [
      'a start line the core refuses (a 1-byte secret)',
      () =>
        file(
          'bad.trace',
          `${JSON.stringify({ kind: 'start', now: 0, config: { secret: { $hex: '00' } } })}\n`,
        ),
      /^oasis replay: .*bad\.trace: cannot be replayed: /,
    ],
  ])('%s: exit 2 and one line', async (_n, make, message) => {
    const code = await main(['replay', make()]);
    expect(code).toBe(2);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(message);
    expect(stdout).toEqual([]);
  });

  it('no file or two: a usage error, exit 2', async () => {
    expect(await main(['replay'])).toBe(2);
    expect(await main(['replay', 'a', 'b'])).toBe(2);
  });

  it('documents its exit codes', async () => {
    expect(await main(['replay', '--help'])).toBe(0);
    expect(stdout.join('\n')).toMatch(
      /0 +every step reproduced[\s\S]*1 +a step's outputs differ[\s\S]*2 +usage error/,
    );
  });
});
