/**
 * UDP ephemeral ports come from the secret when there is one (RFC 6056 §3.3.1): two stacks with the
 * same seed and their own OS secrets pick different ports, while a seed alone replays exactly.
 */
import { describe, expect, it } from 'vitest';
import { VirtualScheduler } from '../../src/clock.js';
import { osSecret, Stack } from '../../src/stack/stack.js';

function ports(opts: { seed: number; secret?: Uint8Array }): number[] {
  const stack = new Stack({ scheduler: new VirtualScheduler(), ...opts });
  return [0, 1, 2].map(() => stack.udp.bind(0).port);
}

describe('UDP ephemeral ports', () => {
  it('differ between stacks with the same seed and their own secrets', () => {
    expect(ports({ seed: 7, secret: osSecret() })).not.toEqual(ports({ seed: 7, secret: osSecret() }));
  });

  it('replay from a seed alone', () => {
    expect(ports({ seed: 7 })).toEqual(ports({ seed: 7 }));
  });
});
