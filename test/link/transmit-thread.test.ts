/**
 * WriteThread against a plain file (no root needed): frames pushed come out in order, whole, and a
 * stop writes what was pushed before the thread ends, also when the thread has not even started by
 * the time stop() gives up waiting (the caller then keeps the fd until `exited`).
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WriteThread } from '../../src/link/transmit-thread.js';

function frame(seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  new DataView(f.buffer).setUint32(0, seq);
  for (let i = 4; i < len; i++) f[i] = (seq * 7 + i) & 0xff;
  return f;
}

describe('WriteThread', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const file = () => {
    const dir = mkdtempSync(join(tmpdir(), 'oasis-write-thread-'));
    dirs.push(dir);
    const path = join(dir, 'out');
    return { path, fd: openSync(path, 'w') };
  };

  it('writes what was pushed, in order, across more frames than its ring holds', async () => {
    const { path, fd } = file();
    // 2 KiB slots, 4096 of them: 10,000 frames go round the ring, the pushes waiting for room.
    const w = new WriteThread(fd, 1514);
    const frames = Array.from({ length: 10_000 }, (_, i) => frame(i, 60 + ((i * 131) % 1455)));
    for (const [i, f] of frames.entries()) {
      expect(w.push(f)).toBe(true);
      if (i % 100 === 99) w.kick();
    }
    expect(w.push(new Uint8Array(4096))).toBe(false);
    expect(w.stop()).toBe(true);
    await w.exited;
    closeSync(fd);
    expect(Buffer.compare(readFileSync(path), Buffer.concat(frames))).toBe(0);
    expect(w.takeErrors()).toBe(0);
  });

  it('a stop that gives up before the thread has started still has everything written by exit', async () => {
    const { path, fd } = file();
    const w = new WriteThread(fd, 1514);
    const frames = Array.from({ length: 50 }, (_, i) => frame(i, 1000));
    for (const f of frames) w.push(f);
    // No kick, and no time for the worker to start: stop() returns at once, the fd stays open.
    expect(w.stop(0)).toBe(false);
    await w.exited;
    closeSync(fd);
    expect(Buffer.compare(readFileSync(path), Buffer.concat(frames))).toBe(0);
  });
});
