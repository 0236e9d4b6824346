/**
 * The kernel router leg reads `traceroute -n` output to check that Oasis is hop 1: the hops it
 * finds in real output, with lost probes and unanswered hops (the leg itself runs as root in
 * test/interop/demo.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { tracerouteHops } from '../../../src/cli/demo/routed-tap.js';

describe('tracerouteHops', () => {
  it('reads hop numbers and addresses from traceroute -n, a lost probe included', () => {
    const out = [
      'traceroute to 10.202.2.2 (10.202.2.2), 5 hops max, 60 byte packets',
      ' 1  10.202.1.1  2.554 ms  0.297 ms  0.222 ms',
      ' 2  * 10.202.2.2  1.029 ms  0.248 ms',
      '',
    ].join('\n');
    expect(tracerouteHops(out)).toEqual([
      [1, '10.202.1.1'],
      [2, '10.202.2.2'],
    ]);
  });

  it('skips hops nobody answered and reads IPv6 addresses', () => {
    const out = [
      'traceroute to fd00:202:2::5 (fd00:202:2::5), 5 hops max, 80 byte packets',
      ' 1  fd00:202:1::1  0.5 ms  0.4 ms  0.3 ms',
      ' 2  * * *',
      '10  fd00:202:2::5  1.0 ms  0.9 ms  0.8 ms',
    ].join('\n');
    expect(tracerouteHops(out)).toEqual([
      [1, 'fd00:202:1::1'],
      [10, 'fd00:202:2::5'],
    ]);
  });

  it('finds nothing in an error message', () => {
    expect(tracerouteHops('connect: Network is unreachable\n')).toEqual([]);
  });
});
