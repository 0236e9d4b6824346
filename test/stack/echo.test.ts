/**
 * The stack's echo client (`EchoRequests`, behind `ipv4.ping` and `ipv6.ping`): replies matched by
 * identifier and sequence number, round-trip times on the scheduler's clock, timeouts, and the bound
 * on requests in flight.
 */
import { describe, expect, it } from 'vitest';
import { VirtualScheduler } from '../../src/clock.js';
import { EchoRequests } from '../../src/stack/echo.js';

function client() {
  const scheduler = new VirtualScheduler();
  const echoes = new EchoRequests<number>(scheduler, 0x1234);
  const sent: number[] = [];
  const request = (timeoutMs = 1000) => echoes.request(timeoutMs, (seq) => sent.push(seq));
  return { scheduler, echoes, sent, request };
}

describe('EchoRequests', () => {
  it('numbers requests in order and settles each with the rtt of its own reply', async () => {
    const { scheduler, echoes, sent, request } = client();
    const first = request();
    scheduler.advance(5);
    const second = request();
    expect(sent).toEqual([0, 1]);
    scheduler.advance(3);
    echoes.answer(0x1234, 1, (rtt) => rtt);
    echoes.answer(0x1234, 0, (rtt) => rtt);
    expect(await first).toBe(8);
    expect(await second).toBe(3);
  });

  it('ignores replies with another identifier, an unknown sequence number, or answered twice', async () => {
    const { scheduler, echoes, request } = client();
    const p = request();
    echoes.answer(0x4321, 0, () => 1);
    echoes.answer(0x1234, 7, () => 2);
    scheduler.advance(2);
    echoes.answer(0x1234, 0, () => 3);
    echoes.answer(0x1234, 0, () => 4);
    expect(await p).toBe(3);
    expect(scheduler.pending).toBe(0);
  });

  it('resolves undefined at the timeout, and a late reply changes nothing', async () => {
    const { scheduler, echoes, request } = client();
    const p = request(500);
    scheduler.advance(499);
    let settled = false;
    void p.then(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(false);
    scheduler.advance(1);
    expect(await p).toBeUndefined();
    echoes.answer(0x1234, 0, () => 1);
    expect(scheduler.pending).toBe(0);
  });

  it('holds at most 1024 requests in flight: beyond, a request resolves undefined at once, unsent', async () => {
    const { scheduler, echoes, sent, request } = client();
    for (let i = 0; i < 1024; i++) void request();
    expect(await request()).toBeUndefined();
    expect(sent).toHaveLength(1024);
    echoes.answer(0x1234, 0, () => 1);
    void request();
    expect(sent.at(-1)).toBe(1024);
    scheduler.advance(1000);
    expect(scheduler.pending).toBe(0);
  });

  it('wraps the sequence number after 0xffff', () => {
    const { scheduler, sent, request } = client();
    for (let i = 0; i < 0x10001; i++) {
      void request(1);
      if (i % 1000 === 999) scheduler.advance(1);
    }
    expect(sent.slice(-2)).toEqual([0xffff, 0]);
  });
});
