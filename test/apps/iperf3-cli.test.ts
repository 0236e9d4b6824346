import { describe, expect, it } from 'vitest';
import { parseIpv4Addr } from '../../src/addr.js';
import { UsageError } from '../../src/cli/command.js';
import { parseIperf3Args, parseUnit } from '../../src/cli/iperf3.js';

const HOST = '--tap t0 --ip 10.0.0.2/24 --host-ip 10.0.0.1/24';

describe('oasis iperf3 arguments', () => {
  it('parses iperf3 flags and the host flags of oasis up', () => {
    const { test, up } = parseIperf3Args(
      `-c 10.0.0.1 -p 5202 -R -P 4 -u -b 200M -t 3 -l 1400 --json ${HOST} --mtu 9000 --seed 5`.split(' '),
    );
    expect(test).toEqual({
      host: '10.0.0.1',
      port: 5202,
      reverse: true,
      parallel: 4,
      udp: true,
      bandwidth: 200_000_000,
      time: 3,
      len: 1400,
      json: true,
    });
    expect(up).toMatchObject({ tap: 't0', mtu: 9000, seed: 5, hostIp: '10.0.0.1/24' });
    expect(up.noOffload).toBeUndefined();
    // The TAP without vnet headers, as for oasis up (this flag was once parsed and dropped).
    expect(parseIperf3Args(`-c 10.0.0.1 ${HOST} --no-offload`.split(' ')).up.noOffload).toBe(true);
    expect(up.ipv4).toEqual([{ address: parseIpv4Addr('10.0.0.2'), prefixLen: 24 }]);
  });

  it('has iperf3 defaults', () => {
    const { test } = parseIperf3Args(`-c 10.0.0.1 ${HOST}`.split(' '));
    expect(test).toEqual({
      host: '10.0.0.1',
      port: 5201,
      reverse: false,
      parallel: 1,
      udp: false,
      time: 10,
      json: false,
    });
  });

  it('reads rates in powers of 1000 and lengths in powers of 1024 (unit_atof_rate, unit_atoi)', () => {
    expect(parseUnit('200M', 1000)).toBe(200e6);
    expect(parseUnit('1.5g', 1000)).toBe(1.5e9);
    expect(parseUnit('128K', 1024)).toBe(131072);
    expect(parseUnit('64', 1024)).toBe(64);
    expect(parseUnit('12x', 1000)).toBeUndefined();
    expect(parseUnit('', 1000)).toBeUndefined();
    expect(parseIperf3Args(`-c 10.0.0.1 -l 128K ${HOST}`.split(' ')).test.len).toBe(131072);
  });

  it.each([
    [`${HOST}`, '-c HOST is required'],
    [`-c example.org ${HOST}`, 'not an IP address'],
    [`-c 10.0.0.1 -P 0 ${HOST}`, '-P'],
    [`-c 10.0.0.1 -P 129 ${HOST}`, '-P'],
    [`-c 10.0.0.1 -t 0 ${HOST}`, '-t'],
    [`-c 10.0.0.1 -b fast ${HOST}`, '-b: not a rate'],
    [`-c 10.0.0.1 -u -l 70000 ${HOST}`, '-l'],
    [`-c 10.0.0.1 -u -l 8 ${HOST}`, '-l'],
    ['-c 10.0.0.1 --ip 10.0.0.2/24', '--tap is required'],
  ])('rejects %s', (args, message) => {
    expect(() => parseIperf3Args(args.split(' '))).toThrow(UsageError);
    expect(() => parseIperf3Args(args.split(' '))).toThrow(message);
  });

  it('rejects flags of neither iperf3 nor the host', () => {
    expect(() => parseIperf3Args(`-c 10.0.0.1 --echo 7 ${HOST}`.split(' '))).toThrow(/Unknown option/);
  });
});
