/** `oasis up --ecn off|accept|on`: the switch, its refusals, and what it sets in the TCP core. */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/command.js';
import { parseUpArgs, upTcpConfig } from '../../src/cli/up.js';
import { TCP_DEFAULTS } from '../../src/tcp/core/index.js';

describe('the --ecn switch on `oasis up`', () => {
  const base = ['--tap', 'oasis0', '--ip', '10.0.0.2/24'];

  it.each(['off', 'accept', 'on'] as const)('takes --ecn %s into the TCP configuration', (mode) => {
    const o = parseUpArgs([...base, '--ecn', mode]);
    expect(o.ecn).toBe(mode);
    expect(upTcpConfig(o).ecn).toBe(mode);
  });

  it("leaves the core's default (accept, as Linux) when absent", () => {
    const o = parseUpArgs(base);
    expect(o.ecn).toBeUndefined();
    expect(upTcpConfig(o)).not.toHaveProperty('ecn');
    expect(TCP_DEFAULTS.ecn).toBe('accept');
  });

  it.each(['', 'yes', 'ON', '1'])('refuses --ecn=%s', (value) => {
    expect(() => parseUpArgs([...base, `--ecn=${value}`])).toThrow(UsageError);
  });
});
