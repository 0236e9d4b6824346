/**
 * The demo's narration, shared by the kernel and in-process tours: step lines, the summary table and
 * the exit code, and the timeout that keeps a stuck step from hanging a tour.
 */
import { describe, expect, it } from 'vitest';
import { Tour, withTimeout } from '../../../src/cli/demo/tour.js';

function tourWithOutput(): { tour: Tour; lines: string[] } {
  const lines: string[] = [];
  return { tour: new Tour((line) => lines.push(line)), lines };
}

describe('Tour', () => {
  it('announces a step, prints its detail and notes, and exits 0 when every step passed', async () => {
    const { tour, lines } = tourWithOutput();
    expect(
      await tour.step('ARP', 'resolve and ping', async () => {
        tour.note('who-has 10.0.0.2');
        return '3/3 replies';
      }),
    ).toBe(true);
    await tour.step('HTTP', 'GET', async () => '20 MB');
    expect(tour.summary()).toBe(0);
    expect(lines).toEqual([
      '\n== ARP: resolve and ping',
      '   who-has 10.0.0.2',
      '   ok: 3/3 replies',
      '\n== HTTP: GET',
      '   ok: 20 MB',
      '\nSummary',
      '  ok     ARP        3/3 replies',
      '  ok     HTTP       20 MB',
    ]);
  });

  it('fails a step that throws, with the first line of the error, and exits 1', async () => {
    const { tour, lines } = tourWithOutput();
    await tour.step('ARP', 'resolve', async () => 'ok');
    expect(
      await tour.step('NDP', 'ping6', async () => {
        throw new Error('2/3 replies\nstack trace');
      }),
    ).toBe(false);
    await tour.step('HTTP', 'GET', () => Promise.reject('not an Error'));
    expect(tour.summary('Summary (in process)')).toBe(1);
    expect(lines).toContain('   FAILED: 2/3 replies');
    expect(lines).toContain('   FAILED: not an Error');
    expect(lines.slice(-4)).toEqual([
      '\nSummary (in process)',
      '  ok     ARP        ok',
      '  FAILED NDP        2/3 replies',
      '  FAILED HTTP       not an Error',
    ]);
    expect(tour.results.map((r) => r.ok)).toEqual([true, false, false]);
  });

  it('fails a step that outlasts its timeout', async () => {
    const { tour, lines } = tourWithOutput();
    expect(await tour.step('iperf3', 'hangs', () => new Promise<string>(() => {}), 20)).toBe(false);
    expect(lines.at(-1)).toBe('   FAILED: no result after 0.02 s');
  });

  it('exits 1 with no step at all', () => {
    expect(tourWithOutput().tour.summary()).toBe(1);
  });
});

describe('withTimeout', () => {
  it('passes a result or an error through before the deadline', async () => {
    await expect(withTimeout(Promise.resolve(7), 1000)).resolves.toBe(7);
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000)).rejects.toThrow('boom');
  });

  it('rejects at the deadline, and a late rejection of the promise goes unreported', async () => {
    const late = new Promise<number>((_, reject) => setTimeout(() => reject(new Error('late')), 40));
    await expect(withTimeout(late, 10)).rejects.toThrow('no result after 0.01 s');
    await new Promise((r) => setTimeout(r, 60));
  });
});
