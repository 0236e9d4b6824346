/**
 * The in-process tour's client helpers: repeated pings (every one must be answered with the size
 * asked for) and the round-trip summary; and, on two real stacks in virtual time, pings through the
 * stack's own echo client.
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4Addr } from '../../../src/addr.js';
import { pings, rttText } from '../../../src/cli/demo/clients.js';
import { twoHosts } from '../../../src/testing/index.js';

/** A ping that answers from a script: an rtt, or undefined for a lost reply; records what it was asked. */
function scripted(replies: readonly (number | undefined)[], bytes?: number) {
  const asked: { size: number; timeoutMs: number }[] = [];
  let i = 0;
  const ping = async (o: { size: number; timeoutMs: number }) => {
    asked.push(o);
    const rtt = replies[i++];
    return rtt === undefined ? undefined : { rttMs: rtt, bytes: bytes ?? o.size };
  };
  return { ping, asked };
}

describe('pings', () => {
  it('sends count requests of the given size and timeout, and returns the round-trip times', async () => {
    const { ping, asked } = scripted([1, 2, 3]);
    expect(await pings(3, 3000, ping, 500)).toEqual([1, 2, 3]);
    expect(asked).toEqual([
      { size: 3000, timeoutMs: 500 },
      { size: 3000, timeoutMs: 500 },
      { size: 3000, timeoutMs: 500 },
    ]);
  });

  it('fails when a reply is missing, after trying every request', async () => {
    const { ping, asked } = scripted([1, undefined, 3]);
    await expect(pings(3, 56, ping)).rejects.toThrow('2/3 replies of 56 bytes');
    expect(asked).toHaveLength(3);
  });

  it('fails on a reply of the wrong size', async () => {
    await expect(pings(1, 3000, scripted([1], 2999).ping)).rejects.toThrow('a reply of 2999 bytes to 3000');
  });

  it('summarises round-trip times like ping', () => {
    expect(rttText([1, 2, 6])).toBe('rtt min/avg/max 1.00/3.00/6.00 ms');
  });
});

describe('pings through two stacks (virtual time)', () => {
  /** 10.0.0.1 and 10.0.0.2, 1 ms apart. */
  const network = () => twoHosts({ mtu: 1500, delay: 1, a: { seed: 1 }, b: { seed: 2 } });

  it('measures fragmented round trips in virtual time', async () => {
    const { net, a } = network();
    const rtts = await net.settle(pings(2, 3000, (o) => a.ipv4.ping(parseIpv4Addr('10.0.0.2')!, o)));
    // 1 ms each way on the wire; the first round trip waits for ARP as well.
    expect(rtts).toHaveLength(2);
    expect(rtts[1]).toBeGreaterThanOrEqual(2);
    expect(rtts[0]).toBeGreaterThan(rtts[1]!);
  });

  it('fails after the timeout when nobody answers', async () => {
    const { net, a } = network();
    await expect(
      net.settle(pings(1, 56, (o) => a.ipv4.ping(parseIpv4Addr('10.0.0.9')!, o), 500)),
    ).rejects.toThrow('0/1 replies');
  });
});
