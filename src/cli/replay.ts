/**
 * `oasis replay FILE`: feeds a TCP trace (written by `oasis up --tcp-trace FILE`) back through the
 * pure core and checks that every step gives the outputs recorded in the trace.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeTraceLine, replayTrace, type TraceLine } from '../tcp/core/trace.js';
import { type Command, UsageError } from './command.js';

const USAGE = `Usage: oasis replay FILE

Replays a TCP trace (oasis up --tcp-trace FILE) through the pure TCP core and checks that every
step reproduces the recorded outputs. Exits 0 when they all match, 1 at the first difference.`;

export async function runReplay(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new UsageError('give one trace file');
  const lines: TraceLine[] = [];
  const text = readFileSync(file, 'utf8');
  let n = 0;
  for (const raw of text.split('\n')) {
    n++;
    if (raw.trim() === '') continue;
    const line = decodeTraceLine(raw);
    if (line.kind === 'error') {
      console.error(`${file}:${n}: ${line.message}`);
      return 1;
    }
    lines.push(line);
  }
  if (lines[0]?.kind !== 'start') {
    console.error(`${file}: the trace does not begin with the core's start line`);
    return 1;
  }
  const r = replayTrace(lines);
  if (r.mismatch) {
    console.log(`step ${r.mismatch.step}: outputs differ`);
    console.log(`  recorded: ${r.mismatch.expected.join('\n            ')}`);
    console.log(`  replayed: ${r.mismatch.actual.join('\n            ')}`);
    return 1;
  }
  console.log(`${r.steps} steps replayed: every output identical`);
  return 0;
}

export const replayCommand: Command = {
  summary: 'replay a TCP trace through the pure core and compare the outputs',
  usage: USAGE,
  run: runReplay,
};
