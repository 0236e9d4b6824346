/**
 * The iperf3 protocol pieces: control bytes, cookie, parameter and results JSON, the UDP datagram
 * header, loss and jitter arithmetic, and iperf3's number formatting.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/bytes.js';
import {
  ACCESS_DENIED,
  COOKIE_SIZE,
  cookieText,
  defaultParams,
  emitUdpHeader,
  frameJson,
  jsonLength,
  lostPercent,
  makeCookie,
  paramsJson,
  parseParams,
  parseResults,
  parseUdpHeader,
  resultsJson,
  SERVER_ERROR,
  signed64,
  stateByte,
  stateOf,
  streamId,
  type TestParams,
  type TestResults,
  UDP_CONNECT_MSG,
  UDP_CONNECT_REPLY,
  UDP_RECV_START,
  udpReceive,
} from '../../src/apps/iperf3/protocol.js';
import {
  formatBitrate,
  formatBytes,
  formatG,
  formatLine,
  header,
  intervalLines,
  sampleJson,
  sumSamples,
} from '../../src/apps/iperf3/results.js';
import { Random } from '../../src/random.js';
import { propOptions } from '../support/props.js';

describe('control states', () => {
  it('sends negative states as one signed byte', () => {
    expect(stateByte(ACCESS_DENIED)).toBe(0xff);
    expect(stateByte(SERVER_ERROR)).toBe(0xfe);
    expect(stateOf(0xff)).toBe(-1);
    expect(stateOf(0xfe)).toBe(-2);
    expect(stateOf(9)).toBe(9);
    expect(stateByte(16)).toBe(16);
  });

  it('makes 36-character cookies of [a-z2-7] ending in NUL', () => {
    const r = new Random(7);
    const c = makeCookie(() => r.next());
    expect(c).toHaveLength(COOKIE_SIZE);
    expect(c[36]).toBe(0);
    expect(cookieText(c)).toMatch(/^[a-z2-7]{36}$/);
    const r2 = new Random(7);
    expect(makeCookie(() => r2.next())).toEqual(c);
  });

  it('numbers streams 1, 3, 4, 5, ... (2 is skipped, iperf_add_stream)', () => {
    expect([0, 1, 2, 3, 7].map(streamId)).toEqual([1, 3, 4, 5, 9]);
  });

  it('frames JSON with a 4-byte big-endian length and no NUL', () => {
    const b = frameJson('{"a":1}');
    expect(toHex(b)).toBe('000000077b2261223a317d');
    expect(jsonLength(b)).toBe(7);
    expect(jsonLength(new Uint8Array(2))).toBe(0);
  });

  it('has the UDP connect bytes "9876" and reply "6789"', () => {
    expect(new TextDecoder().decode(UDP_CONNECT_MSG)).toBe('9876');
    expect(new TextDecoder().decode(UDP_CONNECT_REPLY)).toBe('6789');
  });
});

// The parameter JSON a real 3.12 client sent (docs/IPERF3.md §1.5, seen through a logging proxy).
const TRACE_TCP =
  '{"tcp":true,"omit":0,"time":1,"num":0,"blockcount":0,"parallel":2,"reverse":true,"len":131072,"pacing_timer":1000,"client_version":"3.12"}';
const TRACE_UDP =
  '{"udp":true,"omit":0,"time":1,"num":0,"blockcount":0,"parallel":1,"len":32768,"bandwidth":50000000,"pacing_timer":1000,"client_version":"3.12"}';

describe('parameters', () => {
  it('writes the JSON a 3.12 client writes, byte for byte', () => {
    const tcp: TestParams = {
      ...defaultParams('tcp'),
      time: 1,
      parallel: 2,
      reverse: true,
      clientVersion: '3.12',
    };
    expect(paramsJson(tcp)).toBe(TRACE_TCP);
    const udp: TestParams = {
      ...defaultParams('udp'),
      time: 1,
      len: 32768,
      bandwidth: 50_000_000,
      clientVersion: '3.12',
    };
    expect(paramsJson(udp)).toBe(TRACE_UDP);
  });

  it('reads the JSON of a 3.12 client', () => {
    expect(parseParams(TRACE_TCP)).toEqual({
      ok: true,
      value: {
        protocol: 'tcp',
        omit: 0,
        time: 1,
        num: 0,
        blockcount: 0,
        parallel: 2,
        reverse: true,
        bidirectional: false,
        len: 131072,
        bandwidth: 0,
        pacingTimer: 1000,
        udpCounters64bit: false,
        clientVersion: '3.12',
      },
    });
    const udp = parseParams(TRACE_UDP);
    expect(udp.ok && udp.value).toMatchObject({
      protocol: 'udp',
      len: 32768,
      bandwidth: 50_000_000,
      reverse: false,
    });
  });

  it('fills defaults for missing keys and ignores unknown ones', () => {
    const r = parseParams('{"udp":true,"title":"x","get_server_output":1}');
    expect(r.ok && r.value).toMatchObject({ time: 10, parallel: 1, len: 1460, bandwidth: 0 });
  });

  it.each([
    ['not json', 'bad-json'],
    ['[1,2]', 'bad-json'],
    ['{"time":1}', 'no-protocol'],
    ['{"tcp":1}', 'no-protocol'],
    ['{"sctp":true}', 'sctp-unsupported'],
    ['{"tcp":true,"parallel":0}', 'bad-parallel'],
    ['{"tcp":true,"parallel":129}', 'bad-parallel'],
    ['{"tcp":true,"parallel":"2"}', 'bad-parallel'],
    ['{"tcp":true,"time":-1}', 'bad-time'],
    ['{"tcp":true,"time":86401}', 'bad-time'],
    ['{"tcp":true,"omit":601}', 'bad-omit'],
    ['{"tcp":true,"len":0}', 'bad-len'],
    ['{"udp":true,"len":8}', 'bad-len'],
    ['{"udp":true,"len":65508}', 'bad-len'],
    ['{"tcp":true,"num":-5}', 'bad-end-condition'],
    ['{"tcp":true,"bandwidth":-1}', 'bad-bandwidth'],
    ['{"tcp":true,"bidirectional":true}', 'bidirectional-unsupported'],
    ['LONG', 'params-too-long'],
  ])('rejects %s', (given, kind) => {
    // LONG: parameters over MAX_PARAMS_JSON (8192) bytes.
    const text = given === 'LONG' ? `{"tcp":true,"title":"${'x'.repeat(8200)}"}` : given;
    const r = parseParams(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.kind).toBe(kind);
  });

  const paramsArb: fc.Arbitrary<TestParams> = fc
    .record({
      protocol: fc.constantFrom('tcp' as const, 'udp' as const),
      omit: fc.integer({ min: 0, max: 600 }),
      time: fc.integer({ min: 0, max: 86400 }),
      num: fc.nat(),
      blockcount: fc.nat(),
      parallel: fc.integer({ min: 1, max: 128 }),
      reverse: fc.boolean(),
      len: fc.integer({ min: 16, max: 65507 }),
      bandwidth: fc.nat(),
      pacingTimer: fc.integer({ min: 1, max: 1_000_000 }),
      udpCounters64bit: fc.boolean(),
      clientVersion: fc.constantFrom('3.12', '3.18'),
    })
    .map((p) => ({ ...p, bidirectional: false }));

  it('parses what it writes', () => {
    fc.assert(
      fc.property(paramsArb, (p) => {
        expect(parseParams(paramsJson(p))).toEqual({ ok: true, value: p });
      }),
      propOptions(),
    );
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (t) => {
        parseParams(t);
        parseResults(t);
      }),
      propOptions(),
    );
  });
});

describe('results', () => {
  // The reply of a real 3.12 server that a 3.12 client accepted (docs/IPERF3.md §1.9).
  const TRACE =
    '{"cpu_util_total":44.88,"cpu_util_user":1.76,"cpu_util_system":43.12,"sender_has_retransmits":-1,"congestion_used":"cubic","streams":[{"id":1,"bytes":2798387200,"retransmits":-1,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":1.000687}]}';

  it('reads a 3.12 server reply', () => {
    expect(parseResults(TRACE)).toEqual({
      ok: true,
      value: {
        cpuUtilTotal: 44.88,
        cpuUtilUser: 1.76,
        cpuUtilSystem: 43.12,
        senderHasRetransmits: -1,
        congestionUsed: 'cubic',
        streams: [
          {
            id: 1,
            bytes: 2798387200,
            retransmits: -1,
            jitter: 0,
            errors: 0,
            packets: 0,
            startTime: 0,
            endTime: 1.000687,
          },
        ],
      },
    });
  });

  it('reads uint64 -1 (18446744073709551615, as a receiving 3.12 server writes it) as -1', () => {
    const text =
      '{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"sender_has_retransmits":18446744073709551615,"streams":[{"id":1,"bytes":5,"retransmits":18446744073709551615,"jitter":0,"errors":0,"packets":0}]}';
    const r = parseResults(text);
    expect(r.ok && r.value.senderHasRetransmits).toBe(-1);
    expect(r.ok && r.value.streams[0]!.retransmits).toBe(-1);
    expect(signed64(2 ** 63)).toBe(-1);
    expect(signed64(2 ** 53)).toBe(2 ** 53);
  });

  it('writes what it reads', () => {
    const r: TestResults = {
      cpuUtilTotal: 3.5,
      cpuUtilUser: 1,
      cpuUtilSystem: 2.5,
      senderHasRetransmits: 1,
      streams: [
        {
          id: 1,
          bytes: 100,
          retransmits: 2,
          jitter: 0.0001,
          errors: 3,
          packets: 9,
          startTime: 0,
          endTime: 2,
        },
        { id: 3, bytes: 7, retransmits: 0, jitter: 0, errors: 0, packets: 0 },
      ],
    };
    expect(parseResults(resultsJson(r))).toEqual({ ok: true, value: r });
    expect(resultsJson(r)).toMatch(/^\{"cpu_util_total":3\.5,"cpu_util_user":1,"cpu_util_system":2\.5,/);
  });

  it.each([
    ['nope', 'bad-json'],
    ['{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"streams":[]}', 'missing-field'],
    [
      '{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"sender_has_retransmits":0}',
      'missing-field',
    ],
    [
      '{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"sender_has_retransmits":0,"streams":[{"id":1}]}',
      'bad-stream',
    ],
    [
      '{"cpu_util_total":1,"cpu_util_user":0,"cpu_util_system":1,"sender_has_retransmits":0,"streams":[7]}',
      'bad-stream',
    ],
  ])('rejects %s', (text, kind) => {
    expect(parseResults(text)).toEqual({ ok: false, error: kind });
  });
});

describe('UDP datagram header', () => {
  // The first data datagram of `iperf3 -c 127.0.0.1 -u -b 1M -l 64` (3.12, Linux 6.18, tcpdump -x),
  // first 16 bytes: sec (CLOCK_MONOTONIC, 4616 s of uptime), usec, seq 1, then payload.
  const GOLDEN = fromHex('00001208 0005d91b 00000001 91a5c7e1');

  it('reads the header of a 3.12 datagram', () => {
    expect(parseUdpHeader(GOLDEN, false)).toEqual({ ok: true, value: { sec: 4616, usec: 383259, seq: 1 } });
  });

  it('writes it byte for byte over a dirty buffer', () => {
    const buf = new Uint8Array(16).fill(0xa5);
    expect(emitUdpHeader({ sec: 4616, usec: 383259, seq: 1 }, buf, false)).toBe(12);
    expect(toHex(buf)).toBe('000012080005d91b00000001a5a5a5a5');
    expect(emitUdpHeader({ sec: 1, usec: 2, seq: 2 ** 40 + 3 }, buf, true)).toBe(16);
    expect(toHex(buf)).toBe('00000001000000020000010000000003');
    expect(() => emitUdpHeader({ sec: 0, usec: 0, seq: 0 }, new Uint8Array(11), false)).toThrow(RangeError);
  });

  it('rejects datagrams too short for the header', () => {
    expect(parseUdpHeader(new Uint8Array(11), false)).toEqual({ ok: false, error: 'datagram-too-short' });
    expect(parseUdpHeader(new Uint8Array(15), true)).toEqual({ ok: false, error: 'datagram-too-short' });
  });

  it('parses what it writes (32- and 64-bit counters)', () => {
    fc.assert(
      fc.property(
        fc.record({
          sec: fc.nat({ max: 0xffffffff }),
          usec: fc.nat({ max: 999_999 }),
          seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        }),
        fc.boolean(),
        (h, wide) => {
          const header = wide ? h : { ...h, seq: h.seq % 2 ** 32 };
          const buf = new Uint8Array(wide ? 16 : 12);
          emitUdpHeader(header, buf, wide);
          expect(parseUdpHeader(buf, wide)).toEqual({ ok: true, value: header });
        },
      ),
      propOptions(),
    );
  });
});

describe('UDP loss and jitter (iperf_udp_recv, RFC 1889 §6.3.1)', () => {
  const feed = (seqs: number[], transit = () => 0.01) => {
    let s = UDP_RECV_START;
    seqs.forEach((seq, i) => {
      s = udpReceive(s, seq, i, i + transit());
    });
    return s;
  };

  it('counts nothing lost for an ordered sequence', () => {
    const s = feed([1, 2, 3, 4]);
    expect(s).toMatchObject({ highestSeq: 4, lost: 0, outOfOrder: 0, received: 4 });
    expect(s.jitter).toBeCloseTo(0, 12);
  });

  it('counts gaps as lost and late arrivals as out of order, taking the loss back', () => {
    const gap = feed([1, 2, 5]);
    expect(gap).toMatchObject({ highestSeq: 5, lost: 2, outOfOrder: 0 });
    const late = udpReceive(gap, 4, 0, 0.01);
    expect(late).toMatchObject({ highestSeq: 5, lost: 1, outOfOrder: 1 });
    const later = udpReceive(late, 3, 0, 0.01);
    expect(later).toMatchObject({ lost: 0, outOfOrder: 2 });
    // A duplicate of an old one does not drive the loss below zero.
    expect(udpReceive(later, 1, 0, 0.01)).toMatchObject({ lost: 0, outOfOrder: 3 });
    // Loss percentage against the highest sequence seen.
    expect(lostPercent(gap.lost, gap.highestSeq)).toBe(40);
    expect(lostPercent(0, 0)).toBe(0);
  });

  it('computes J += (|D| - J) / 16 in seconds, the first datagram only setting the transit', () => {
    let s = udpReceive(UDP_RECV_START, 1, 100, 100.01);
    expect(s.jitter).toBe(0);
    expect(s.prevTransit).toBeCloseTo(0.01, 12);
    s = udpReceive(s, 2, 101, 101.012); // D = 0.002
    expect(s.jitter).toBeCloseTo(0.002 / 16, 12);
    s = udpReceive(s, 3, 102, 102.01); // D = 0.002 again
    expect(s.jitter).toBeCloseTo(0.002 / 16 + (0.002 - 0.002 / 16) / 16, 12);
  });

  it('ignores a constant clock offset between sender and receiver', () => {
    const s = feed([1, 2, 3, 4, 5], () => 1234.5);
    expect(s.jitter).toBe(0);
  });
});

describe('formatting like iperf3 (units.c, iperf_locale.c)', () => {
  it.each([
    [0, '0.00 Bytes'],
    [1000, '1000 Bytes'],
    [1023, '1023 Bytes'],
    [1024, '1.00 KBytes'],
    [1277952, '1.22 MBytes'],
    [2411724694, '2.25 GBytes'],
    [337192, ' 329 KBytes'],
    [75.2 * 1024 * 1024, '75.2 MBytes'],
  ])('formatBytes(%d) = %s', (n, s) => {
    expect(formatBytes(n)).toBe(s);
  });

  it.each([
    [19293142074, '19.3 Gbits/sec'],
    [10222327.9, '10.2 Mbits/sec'],
    [1e8, ' 100 Mbits/sec'],
    [999.4, ' 999 bits/sec'],
    [0, '0.00 bits/sec'],
  ])('formatBitrate(%d) = %s', (n, s) => {
    expect(formatBitrate(n)).toBe(s);
  });

  it.each([
    [0, '0'],
    [0.5, '0.5'],
    [1.1363636, '1.1'],
    [12.345, '12'],
    [100, '1e+02'],
    [0.017, '0.017'],
    [0.00012, '0.00012'],
    [0.000012, '1.2e-05'],
  ])('%%.2g of %d is %s', (x, s) => {
    expect(formatG(x, 2)).toBe(s);
  });

  it('prints the lines of a 3.12 run', () => {
    // From `iperf3 -s` (3.12) receiving `iperf3 -c -u -b 10M -t 1`: its summary line.
    const udp = {
      socket: 5,
      start: 0,
      end: 1.000126,
      bytes: 1277952,
      sender: false,
      packets: 39,
      lost: 0,
      jitter: 4e-6,
    };
    expect(formatLine('udp-recv', udp, 'receiver', 5)).toBe(
      '[  5]   0.00-1.00   sec  1.22 MBytes  10.2 Mbits/sec  0.004 ms  0/39 (0%)  receiver',
    );
    expect(formatLine('udp-send', { ...udp, sender: true }, '', 5)).toBe(
      '[  5]   0.00-1.00   sec  1.22 MBytes  10.2 Mbits/sec  39  ',
    );
    const tcp = { socket: 5, start: 1, end: 2, bytes: 1.1 * 1024 ** 3, sender: true, retransmits: 4 };
    expect(formatLine('tcp-retr', tcp, 'sender', 5)).toBe(
      '[  5]   1.00-2.00   sec  1.10 GBytes  9.45 Gbits/sec    4             sender',
    );
    expect(formatLine('tcp', tcp, '', 'SUM')).toBe(
      '[SUM]   1.00-2.00   sec  1.10 GBytes  9.45 Gbits/sec                  ',
    );
    expect(header('udp-recv')).toBe(
      '[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams',
    );
    expect(header('tcp-retr')).toBe('[ ID] Interval           Transfer     Bitrate         Retr');
  });

  it('sums streams, adds [SUM] lines for several, and writes iperf3 JSON keys', () => {
    const a = {
      socket: 5,
      start: 0,
      end: 1,
      bytes: 1000,
      sender: false,
      packets: 10,
      lost: 1,
      jitter: 0.001,
    };
    const b = {
      socket: 6,
      start: 0,
      end: 1,
      bytes: 3000,
      sender: false,
      packets: 30,
      lost: 2,
      jitter: 0.003,
    };
    const sum = sumSamples([a, b]);
    expect(sum).toMatchObject({ bytes: 4000, packets: 40, lost: 3, jitter: 0.002, end: 1 });
    const lines = intervalLines('udp-recv', { streams: [a, b], sum });
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^\[SUM\] .* 3\/40 \(7\.5%\)/);
    expect(sampleJson(a, true)).toEqual({
      socket: 5,
      start: 0,
      end: 1,
      seconds: 1,
      bytes: 1000,
      bits_per_second: 8000,
      jitter_ms: 1,
      lost_packets: 1,
      packets: 10,
      lost_percent: 10,
      sender: false,
    });
    expect(sampleJson({ ...sum, socket: 0 }, false)).not.toHaveProperty('socket');
  });
});
