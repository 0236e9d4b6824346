/**
 * `oasis replay FILE`: feeds a TCP trace (written by `oasis up --tcp-trace FILE`) back through the
 * pure core and checks that every step gives the outputs recorded in the trace. The core starts
 * from the trace's own start line, secret included, so a trace replays whatever secret the stack
 * drew from the operating system.
 *
 * Exit codes tell a real difference from a file that is not a trace: 0 every step reproduced, 1 a
 * step's outputs differ (the core does not do what it did), 2 usage, or input that cannot be read
 * as a trace (missing file, a line that is not trace JSON, no start line, an event the core rejects).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeTraceLine, type ReplayResult, replayTrace, type TraceLine } from '../tcp/core/trace.js';
import { type Command, UsageError } from './command.js';

const USAGE = `Usage: oasis replay FILE

Replays a TCP trace (oasis up --tcp-trace FILE) through the pure TCP core and checks that every
step reproduces the recorded outputs.

Exit codes:
  0  every step reproduced its recorded outputs
  1  a step's outputs differ from the recording (printed: the step, recorded and replayed)
  2  usage error, or FILE cannot be read as a trace (missing, not trace lines, no start line)`;

/** Exit code for a real mismatch. */
export const REPLAY_MISMATCH = 1;
/** Exit code for input that cannot be replayed at all (and for usage errors). */
export const REPLAY_UNREADABLE = 2;

export async function runReplay(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const file = positionals[0];
  if (file === undefined || positionals.length > 1) throw new UsageError('give one trace file');
  const unreadable = (why: string): number => {
    console.error(`oasis replay: ${why}`);
    return REPLAY_UNREADABLE;
  };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return unreadable(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const lines: TraceLine[] = [];
  let n = 0;
  for (const raw of text.split('\n')) {
    n++;
    if (raw.trim() === '') continue;
    const line = decodeTraceLine(raw);
    if (line.kind === 'error') return unreadable(`${file}:${n}: not a trace line: ${line.message}`);
    lines.push(line);
  }
  if (lines[0]?.kind !== 'start')
    return unreadable(`${file}: not a TCP trace: it does not begin with the core's start line`);
  let r: ReplayResult;
  try {
    r = replayTrace(lines);
  } catch (e) {
    // A line that decodes as JSON but not as what the core takes (a missing field, a bad secret).
    return unreadable(`${file}: cannot be replayed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (r.mismatch) {
    console.log(`step ${r.mismatch.step}: outputs differ`);
    console.log(`  recorded: ${r.mismatch.expected.join('\n            ')}`);
    console.log(`  replayed: ${r.mismatch.actual.join('\n            ')}`);
    return REPLAY_MISMATCH;
  }
  console.log(`${r.steps} steps replayed: every output identical`);
  return 0;
}

export const replayCommand: Command = {
  summary: 'replay a TCP trace through the pure core and compare the outputs',
  usage: USAGE,
  run: runReplay,
};
