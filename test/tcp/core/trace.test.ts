/**
 * Replay: a trace recorded from a whole-stack TCP run replays through the pure core with identical
 * outputs, and a tampered trace is caught.
 */
import { describe, expect, it } from 'vitest';
import { decodeTraceLine, replayTrace, type TraceLine } from '../../../src/tcp/core/trace.js';
import { twoHosts } from '../../../src/testing/index.js';

async function recordTrace(): Promise<string[]> {
  const { net, a, b } = twoHosts({
    mtu: 1500,
    delay: 0.2,
    ipv6Enabled: false,
    a: { seed: 3 },
    b: { seed: 4 },
  });
  const lines: string[] = [];
  b.tcp.trace = (line) => lines.push(line);
  b.tcp.createServer((s) => s.pipe(s)).listen(7);
  const client = a.tcp.connect({ host: '10.0.0.2', port: 7 });
  let got = 0;
  client.on('data', (c: Buffer) => {
    got += c.length;
  });
  const ended = new Promise<void>((resolve) => client.on('end', () => resolve()));
  client.end(Buffer.alloc(200_000, 7));
  await net.settle(ended);
  net.scheduler.advance(120_000);
  expect(got).toBe(200_000);
  return lines;
}

describe('TCP trace replay', () => {
  it('reproduces every output of a recorded run', async () => {
    const lines = (await recordTrace()).map((l) => decodeTraceLine(l) as TraceLine);
    expect(lines[0]?.kind).toBe('start');
    const r = replayTrace(lines);
    expect(r.mismatch).toBeUndefined();
    expect(r.steps).toBe(lines.length - 1);
    expect(r.steps).toBeGreaterThan(50);
  });

  it('catches a trace whose recorded outputs were changed', async () => {
    const lines = (await recordTrace()).map((l) => decodeTraceLine(l) as TraceLine);
    const i = lines.findIndex((l) => l.kind === 'step' && l.outputs.length > 1);
    const step = lines[i] as Extract<TraceLine, { kind: 'step' }>;
    lines[i] = { ...step, outputs: [...step.outputs.slice(1), step.outputs[0]!] };
    expect(replayTrace(lines).mismatch?.step).toBe(i);
  });
});
