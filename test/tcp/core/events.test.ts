/**
 * Arbitrary event sequences against one core (a random, possibly malicious peer and a random user):
 * the core never throws, the docs/TCP-NOTES.md §6 invariants hold after every step, a step never changes the
 * state it was given, and replaying the same events gives the same outputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  tcpConfig,
  tcpConnection,
  tcpConnections,
  type TcpEvent,
  tcpInit,
  type TcpOutput,
  type TcpStack,
  tcpStep,
  ropeCopy,
} from '../../../src/tcp/core/index.js';
import { seqAdd, toSeq } from '../../../src/tcp/seq.js';
import { tcpFlags, type TcpOptions } from '../../../src/tcp/wire.js';
import { propOptions } from '../../support/props.js';
import { LOCAL, REMOTE, SECRET } from './harness.js';
import { checkStep } from './invariants.js';

type Cmd =
  | {
      kind: 'seg';
      port: number;
      flags: number;
      seqOff: number;
      ackOff: number;
      absolute: boolean;
      window: number;
      len: number;
      options: TcpOptions;
    }
  | { kind: 'tick'; dt: number }
  /** An ICMP error quoting SND.UNA + `seqOff` (RFC 5927: only in-flight numbers count). */
  | { kind: 'icmp'; port: number; seqOff: number; error: 'EHOSTUNREACH' | 'ECONNREFUSED' }
  /** A well-behaved peer move, so that runs reach every state. */
  | { kind: 'peer'; op: 'syn' | 'synack' | 'ack' | 'data' | 'fin'; port: number; len: number; window: number }
  | {
      kind: 'user';
      op: 'send' | 'recv' | 'shutdown' | 'close' | 'abort' | 'connect' | 'noDelay';
      n: number;
      port: number;
    };

const PORTS = [80, 81, 1234];

const optionsArb: fc.Arbitrary<TcpOptions> = fc.record(
  {
    mss: fc.constantFrom(0, 1, 64, 536, 1460, 65_535),
    windowScale: fc.constantFrom(0, 3, 14, 15, 255),
    sackPermitted: fc.constant(true as const),
    timestamps: fc.record({
      tsVal: fc.constantFrom(0, 1, 5000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff),
      tsEcr: fc.constantFrom(0, 1, 5000),
    }),
    sack: fc.array(
      fc.record({
        left: fc.integer({ min: -5000, max: 70_000 }),
        right: fc.integer({ min: -5000, max: 70_000 }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  },
  { requiredKeys: [] },
) as unknown as fc.Arbitrary<TcpOptions>;

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('seg' as const),
      port: fc.constantFrom(...PORTS),
      flags: fc.oneof(
        fc.constantFrom(0x02, 0x12, 0x10, 0x11, 0x04, 0x14, 0x18, 0x00),
        fc.integer({ min: 0, max: 255 }),
      ),
      seqOff: fc.oneof(
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: -70_000, max: 70_000 }),
        fc.constant(0x8000_0000),
      ),
      ackOff: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -70_000, max: 70_000 })),
      absolute: fc.boolean(),
      window: fc.constantFrom(0, 1, 100, 1460, 65_535),
      len: fc.constantFrom(0, 0, 1, 10, 1000, 3000),
      options: optionsArb,
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('peer' as const),
      op: fc.constantFrom('syn', 'synack', 'ack', 'ack', 'data', 'data', 'fin'),
      port: fc.constantFrom(80, 80, 81, 1234),
      len: fc.constantFrom(1, 100, 1460, 5000),
      window: fc.constantFrom(0, 1000, 65_535, 65_535),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('tick' as const),
      dt: fc.constantFrom(0, 1, 40, 200, 1000, 60_000, 7_200_000),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('icmp' as const),
      port: fc.constantFrom(80, 81, 1234),
      seqOff: fc.oneof(fc.integer({ min: -2, max: 2 }), fc.integer({ min: -70_000, max: 70_000 })),
      error: fc.constantFrom('EHOSTUNREACH' as const, 'ECONNREFUSED' as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('user' as const),
      op: fc.constantFrom(
        'send',
        'send',
        'recv',
        'recv',
        'shutdown',
        'shutdown',
        'close',
        'abort',
        'connect',
        'noDelay',
      ),
      n: fc.integer({ min: 0, max: 100_000 }),
      port: fc.constantFrom(80, 80, 81, 1234),
    }),
  },
);

const configArb = fc.record({
  sack: fc.boolean(),
  timestamps: fc.boolean(),
  windowScaling: fc.boolean(),
  rcvBuf: fc.constantFrom(1000, 65_536),
  sndBuf: fc.constantFrom(1000, 65_536),
  maxOooRanges: fc.constantFrom(1, 4),
  congestion: fc.constantFrom('newreno' as const, 'cubic' as const, 'bbr' as const),
  keepaliveDefault: fc.boolean(),
});

/** Everything observable about a state, to detect mutation. */
function fingerprint(s: TcpStack): string {
  return (
    JSON.stringify(
      tcpConnections(s).map((t) => ({
        ...t,
        sndq: ropeCopy(t.sndq).join(','),
        rcvq: ropeCopy(t.rcvq).join(','),
        ooo: t.ooo.ranges.map((r) => [r.start, r.end, ropeCopy(r.data).join(',')]),
      })),
    ) +
    JSON.stringify([...s.listeners]) +
    JSON.stringify([...s.counterValues]) +
    String(s.heap?.at)
  );
}

function toEvent(s: TcpStack, now: number, c: Cmd): TcpEvent {
  const key = (port: number) => `10.0.0.1 ${port} 10.0.0.2 40000`;
  switch (c.kind) {
    case 'tick':
      return { kind: 'tick', now: now + c.dt };
    case 'icmp': {
      const t = tcpConnection(s, key(c.port));
      return {
        kind: 'icmp-error',
        now,
        local: LOCAL,
        localPort: c.port,
        remote: REMOTE,
        remotePort: 40_000,
        seq: seqAdd(t?.sndUna ?? toSeq(0), c.seqOff),
        error: c.error,
      };
    }
    case 'peer': {
      const t = tcpConnection(s, key(c.port));
      const seq = c.op === 'syn' || c.op === 'synack' || t === undefined ? toSeq(1000) : t.rcvNxt;
      const ack = c.op === 'synack' ? seqAdd(t?.iss ?? toSeq(0), 1) : (t?.sndMax ?? toSeq(0));
      const flags =
        c.op === 'syn'
          ? 0x02
          : c.op === 'synack'
            ? 0x12
            : c.op === 'fin'
              ? 0x11
              : c.op === 'data'
                ? 0x18
                : 0x10;
      const ts = t?.tsOk ? { timestamps: { tsVal: Math.floor(now) + 1, tsEcr: 0 } } : {};
      const synOpts: TcpOptions =
        c.op === 'syn' || c.op === 'synack'
          ? { mss: 1000, windowScale: 2, sackPermitted: true, timestamps: { tsVal: 1, tsEcr: 0 } }
          : ts;
      return {
        kind: 'segment',
        now,
        src: REMOTE,
        dst: LOCAL,
        repr: {
          srcPort: 40_000,
          dstPort: c.port,
          seq,
          ack,
          flags: tcpFlagsFromByte(flags),
          window: c.window,
          urgentPointer: 0,
          options: synOpts,
        },
        payload: new Uint8Array(c.op === 'data' ? c.len : 0).fill(0x77),
      };
    }
    case 'seg': {
      const t = tcpConnection(s, key(c.port));
      const seqBase = c.absolute || t === undefined ? 1000 : t.rcvNxt;
      const ackBase = c.absolute || t === undefined ? 5000 : t.sndUna;
      const o = c.options;
      const options: TcpOptions =
        o.sack === undefined || t === undefined
          ? o
          : {
              ...o,
              sack: o.sack.map((b) => ({ left: seqAdd(t.sndUna, b.left), right: seqAdd(t.sndUna, b.right) })),
            };
      return {
        kind: 'segment',
        now,
        src: REMOTE,
        dst: LOCAL,
        repr: {
          srcPort: 40_000,
          dstPort: c.port,
          seq: seqAdd(toSeq(seqBase), c.seqOff),
          ack: seqAdd(toSeq(ackBase), c.ackOff),
          flags: tcpFlagsFromByte(c.flags),
          window: c.window,
          urgentPointer: 0,
          options,
        },
        payload: new Uint8Array(c.len).fill(0x5a),
      };
    }
    case 'user': {
      const flow = key(c.port);
      switch (c.op) {
        case 'send':
          return { kind: 'send', now, flow, data: new Uint8Array(c.n % 5000).fill(0x33) };
        case 'recv':
          return { kind: 'recv', now, flow, max: c.n };
        case 'connect':
          return {
            kind: 'connect',
            now,
            params: { local: LOCAL, remote: REMOTE, remotePort: 40_000, localPort: c.port },
          };
        case 'noDelay':
          return { kind: 'set-options', now, flow, options: { noDelay: c.n % 2 === 0 } };
        default:
          return { kind: c.op, now, flow };
      }
    }
  }
}

function tcpFlagsFromByte(b: number) {
  return tcpFlags({
    fin: (b & 1) !== 0,
    syn: (b & 2) !== 0,
    rst: (b & 4) !== 0,
    psh: (b & 8) !== 0,
    ack: (b & 16) !== 0,
    urg: (b & 32) !== 0,
    ece: (b & 64) !== 0,
    cwr: (b & 128) !== 0,
  });
}

function run(
  config: Parameters<typeof tcpConfig>[1],
  cmds: readonly Cmd[],
): { outputs: TcpOutput[][]; violations: string[] } {
  let s = tcpInit(tcpConfig(SECRET, config), 0);
  s = tcpStep(s, { kind: 'listen', now: 0, port: 80, backlog: 2 }).state;
  s = tcpStep(s, { kind: 'listen', now: 0, port: 81 }).state;
  let now = 0;
  const outputs: TcpOutput[][] = [];
  const violations: string[] = [];
  for (const c of cmds) {
    const e = toEvent(s, now, c);
    now = e.now;
    const before = fingerprint(s);
    const r = tcpStep(s, e);
    if (fingerprint(s) !== before) violations.push(`step ${e.kind} changed its input state`);
    violations.push(...checkStep(s, r.state, r.outputs));
    outputs.push([...r.outputs]);
    s = r.state;
    for (const t of tcpConnections(s)) SEEN.add(t.state);
  }
  return { outputs, violations };
}

const SEEN = new Set<string>();

describe('arbitrary events', () => {
  it('never throw, keep the invariants, never mutate the input, and replay identically', () => {
    fc.assert(
      fc.property(configArb, fc.boolean(), fc.array(cmdArb, { maxLength: 100 }), (config, warm, rest) => {
        // Half the runs start from an established connection on port 80, to explore the later states.
        const open: Cmd[] = [
          { kind: 'peer', op: 'syn', port: 80, len: 0, window: 65_535 },
          { kind: 'peer', op: 'ack', port: 80, len: 0, window: 65_535 },
        ];
        const cmds = warm ? [...open, ...rest] : rest;
        const a = run(config, cmds);
        expect(a.violations).toEqual([]);
        const b = run(config, cmds);
        expect(b.outputs).toEqual(a.outputs);
      }),
      propOptions(300),
    );
    if (process.env.SHOW_SEEN) console.log([...SEEN]);
  });
});
