/**
 * Scenario-test harness for the pure TCP core, after Go x/net/quic's tests: the test plays the peer,
 * feeds segments with `recv`, and checks what the core sends with `expectSent(why, ...)`,
 * `expectIdle(why)`, `advanceToDeadline()`, `expectState(why, ...)`.
 */
import { expect } from 'vitest';
import { type Ipv4Addr, ipv4 } from '../../../src/addr.js';
import {
  type FlowKey,
  type SegmentOut,
  type SoftError,
  type Tcb,
  type TcpConfig,
  tcpConfig,
  tcpConnection,
  type TcpCounterName,
  tcpCounters,
  tcpDeadline,
  type TcpEvent,
  tcpInit,
  type TcpNotification,
  type TcpReply,
  type TcpStack,
  type TcpState,
  tcpStep,
  concatChunks,
} from '../../../src/tcp/core/index.js';
import { type Seq, seqAdd, toSeq } from '../../../src/tcp/seq.js';
import { type TcpFlags, type TcpOptions, type TcpRepr, tcpFlags } from '../../../src/tcp/wire.js';

export const LOCAL: Ipv4Addr = ipv4(10, 0, 0, 1);
export const REMOTE: Ipv4Addr = ipv4(10, 0, 0, 2);
export const LOCAL_PORT = 80;
export const REMOTE_PORT = 40_000;
export const SECRET = Uint8Array.from({ length: 16 }, (_, i) => i * 7 + 1);

export type FlagName = keyof TcpFlags;

/** A segment as the test writes it: flags as a string ("SYN,ACK"), numbers for the rest. */
export interface SegSpec {
  readonly flags?: string;
  readonly seq?: number;
  readonly ack?: number;
  readonly window?: number;
  readonly options?: TcpOptions;
  readonly data?: Uint8Array | string;
  readonly srcPort?: number;
  readonly dstPort?: number;
}

export function flagsOf(s: string | undefined): TcpFlags {
  const set: Partial<TcpFlags> = {};
  for (const f of (s ?? '').split(',').filter((x) => x !== '')) {
    (set as Record<string, boolean>)[f.trim().toLowerCase()] = true;
  }
  return tcpFlags(set);
}

export function flagsText(f: TcpFlags): string {
  const names: FlagName[] = ['syn', 'fin', 'rst', 'psh', 'ack', 'urg', 'ece', 'cwr'];
  return names
    .filter((n) => f[n])
    .map((n) => n.toUpperCase())
    .join(',');
}

export function bytesOf(d: Uint8Array | string | undefined): Uint8Array {
  if (d === undefined) return new Uint8Array(0);
  return typeof d === 'string' ? new TextEncoder().encode(d) : d;
}

/** What an emitted segment must look like; absent fields are not checked. */
export interface SegMatch {
  readonly flags?: string;
  readonly seq?: number;
  readonly ack?: number;
  readonly window?: number;
  readonly len?: number;
  readonly data?: string;
  readonly options?: Partial<Record<keyof TcpOptions, unknown>>;
}

export class Endpoint {
  state: TcpStack;
  now = 0;
  readonly sent: SegmentOut[] = [];
  readonly notes: TcpNotification[] = [];
  flow: FlowKey | null = null;
  lastReply: TcpReply = { kind: 'none' };

  constructor(overrides: Partial<Omit<TcpConfig, 'secret'>> = {}) {
    this.state = tcpInit(tcpConfig(SECRET, overrides), 0);
  }

  step(e: TcpEvent): TcpReply {
    const r = tcpStep(this.state, e);
    this.state = r.state;
    for (const o of r.outputs) {
      if (o.kind === 'segment') this.sent.push(o);
      else this.notes.push(o);
    }
    this.lastReply = r.reply;
    return r.reply;
  }

  /** The peer sends us a segment. */
  recv(spec: SegSpec): void {
    const repr: TcpRepr = {
      srcPort: spec.srcPort ?? REMOTE_PORT,
      dstPort: spec.dstPort ?? LOCAL_PORT,
      seq: toSeq(spec.seq ?? 0),
      ack: toSeq(spec.ack ?? 0),
      flags: flagsOf(spec.flags),
      window: spec.window ?? 65_535,
      urgentPointer: 0,
      options: spec.options ?? {},
    };
    this.step({ kind: 'segment', now: this.now, src: REMOTE, dst: LOCAL, repr, payload: bytesOf(spec.data) });
  }

  /** An ICMP error quoting our segment with sequence number `seq` (RFC 1122 §4.2.3.9). */
  icmpError(seq: number, error: SoftError = 'EHOSTUNREACH', remotePort = REMOTE_PORT): void {
    this.step({
      kind: 'icmp-error',
      now: this.now,
      local: LOCAL,
      localPort: LOCAL_PORT,
      remote: REMOTE,
      remotePort,
      seq: toSeq(seq),
      error,
    });
  }

  listen(port = LOCAL_PORT, backlog?: number): void {
    this.step({ kind: 'listen', now: this.now, port, ...(backlog === undefined ? {} : { backlog }) });
  }

  connect(localPort = LOCAL_PORT): FlowKey {
    const r = this.step({
      kind: 'connect',
      now: this.now,
      params: { local: LOCAL, remote: REMOTE, remotePort: REMOTE_PORT, localPort },
    });
    if (r.kind !== 'connected') throw new Error(`connect failed: ${JSON.stringify(r)}`);
    this.flow = r.flow;
    return r.flow;
  }

  get key(): FlowKey {
    return this.flow ?? `10.0.0.1 ${LOCAL_PORT} 10.0.0.2 ${REMOTE_PORT}`;
  }

  get tcb(): Tcb | undefined {
    return tcpConnection(this.state, this.key);
  }

  send(data: Uint8Array | string): number {
    const r = this.step({ kind: 'send', now: this.now, flow: this.key, data: bytesOf(data) });
    return r.kind === 'sent' ? r.accepted : -1;
  }

  read(max?: number): { data: string; eof: boolean } {
    const r = this.step({
      kind: 'recv',
      now: this.now,
      flow: this.key,
      ...(max === undefined ? {} : { max }),
    });
    if (r.kind !== 'data') throw new Error(`recv failed: ${JSON.stringify(r)}`);
    return { data: new TextDecoder().decode(concatChunks(r.data)), eof: r.eof };
  }

  shutdown(): TcpReply {
    return this.step({ kind: 'shutdown', now: this.now, flow: this.key });
  }

  close(): TcpReply {
    return this.step({ kind: 'close', now: this.now, flow: this.key });
  }

  abort(): TcpReply {
    return this.step({ kind: 'abort', now: this.now, flow: this.key });
  }

  tick(): void {
    this.step({ kind: 'tick', now: this.now });
  }

  advance(ms: number): void {
    this.now += ms;
    this.tick();
  }

  deadline(): number | null {
    return tcpDeadline(this.state);
  }

  /** Moves time to the next deadline and fires it; fails if nothing is scheduled. */
  advanceToDeadline(): number {
    const d = this.deadline();
    if (d === null) throw new Error('advanceToDeadline: no deadline');
    this.now = Math.max(this.now, d);
    this.tick();
    return d;
  }

  /** Takes the next emitted segment and checks it. */
  expectSent(why: string, m: SegMatch): SegmentOut {
    const seg = this.sent.shift();
    if (seg === undefined) throw new Error(`${why}: expected a segment, none was sent`);
    const r = seg.repr;
    const got: Record<string, unknown> = {};
    const want: Record<string, unknown> = {};
    if (m.flags !== undefined) {
      got.flags = flagsText(r.flags);
      want.flags = flagsText(flagsOf(m.flags));
    }
    if (m.seq !== undefined) {
      got.seq = r.seq;
      want.seq = toSeq(m.seq);
    }
    if (m.ack !== undefined) {
      got.ack = r.ack;
      want.ack = toSeq(m.ack);
    }
    if (m.window !== undefined) {
      got.window = r.window;
      want.window = m.window;
    }
    if (m.len !== undefined) {
      got.len = seg.payloadLen;
      want.len = m.len;
    }
    if (m.data !== undefined) {
      got.data = new TextDecoder().decode(concatChunks(seg.payload));
      want.data = m.data;
    }
    if (m.options !== undefined) {
      for (const k of Object.keys(m.options) as (keyof TcpOptions)[]) {
        got[`opt.${k}`] = r.options[k];
        want[`opt.${k}`] = m.options[k];
      }
    }
    expect(got, why).toEqual(want);
    return seg;
  }

  expectIdle(why: string): void {
    expect(
      this.sent.map(
        (s) => `${flagsText(s.repr.flags)} seq=${s.repr.seq} ack=${s.repr.ack} len=${s.payloadLen}`,
      ),
      why,
    ).toEqual([]);
  }

  expectState(why: string, state: TcpState | 'none'): void {
    expect(this.tcb?.state ?? 'none', why).toBe(state);
  }

  /** Takes every notification so far and checks their kinds (and reasons for `closed`). */
  expectNotes(why: string, kinds: string[]): void {
    const got = this.notes.splice(0).map((n) => (n.kind === 'closed' ? `closed:${n.reason}` : n.kind));
    expect(got, why).toEqual(kinds);
  }

  counter(name: TcpCounterName): number {
    return tcpCounters(this.state)[name];
  }
}

/** Peer options in a SYN: everything Linux offers. */
export const PEER_SYN_OPTIONS: TcpOptions = {
  mss: 1460,
  sackPermitted: true,
  timestamps: { tsVal: 5000, tsEcr: 0 },
  windowScale: 7,
};

/** A passive connection brought to ESTABLISHED; the peer's ISS is `peerIss`. Options off unless given. */
export function establishedPassive(
  peerIss: number,
  overrides: Partial<Omit<TcpConfig, 'secret'>> = {},
  synOptions: TcpOptions = { mss: 1460 },
  window = 65_535,
): { ep: Endpoint; iss: Seq; irs: Seq } {
  const ep = new Endpoint(overrides);
  ep.listen();
  ep.recv({ flags: 'SYN', seq: peerIss, options: synOptions, window });
  const synAck = ep.expectSent('SYN-ACK', { flags: 'SYN,ACK', ack: peerIss + 1 });
  const iss = synAck.repr.seq;
  const ts = synOptions.timestamps;
  ep.recv({
    flags: 'ACK',
    seq: peerIss + 1,
    ack: seqAdd(iss, 1),
    window,
    ...(ts === undefined
      ? {}
      : {
          options: { timestamps: { tsVal: ts.tsVal + 1, tsEcr: synAck.repr.options.timestamps?.tsVal ?? 0 } },
        }),
  });
  ep.expectState('handshake done', 'Established');
  ep.expectNotes('established', ['established']);
  return { ep, iss, irs: toSeq(peerIss) };
}

export function s(n: number): Seq {
  return toSeq(n);
}
