/**
 * Properties of connection tracking: a model TCP conversation (two endpoints that respect each other's
 * windows, with loss after the tracker, retransmissions, window changes and scaling) is accepted
 * packet by packet, while injected out-of-window resets and data are invalid and change nothing; the
 * table stays within its bounds and evicts only unassured entries; a snapshot replays identically;
 * the index behaves as a multimap.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Ipv4Addr } from '../../src/addr.js';
import { Random } from '../../src/random.js';
import {
  type Conntrack,
  type CtVerdict,
  ctClone,
  ctConfirm,
  ctCreate,
  ctEntries,
  ctEntry,
  ctStats,
  ctStep,
  ctTick,
  IntIndex,
} from '../../src/router/conntrack.js';
import { propOptions } from '../support/props.js';
import { A, ACK, FIN, info, R, RST, SYN, tcp4, udp4 } from './conntrack-packets.js';

function track(ct: Conntrack, p: Uint8Array, now: number): CtVerdict {
  const i = info(p);
  const [, v] = ctStep(ct, i, now);
  if (v.state === 'new' && v.entry < 0 && v.untracked !== true) {
    const [, c] = ctConfirm(ct, i, now);
    if (c.ok) return { ...v, entry: c.entry };
  }
  return v;
}

/** One endpoint; sequence numbers relative to its own ISN (the SYN is 0), acks relative to the peer's. */
interface Side {
  readonly isn: number;
  readonly addr: Ipv4Addr;
  readonly port: number;
  /** Window shift applied to this side's windows (0 unless both SYNs carried the option). */
  shift: number;
  sndUna: number;
  sndNxt: number;
  rcvNxt: number;
  /** The right edge this side knows (from delivered ACKs): it never sends beyond. */
  edge: number;
  /** What the tracker saw: the highest right edge the peer advertised, the largest window it sent, the highest end this side sent. */
  seenEdge: number;
  seenMaxWin: number;
  seenEnd: number;
}

class Model {
  readonly s: [Side, Side];
  now = 0;
  readonly wins = [2000, 2000];
  constructor(
    readonly ct: Conntrack,
    readonly rnd: Random,
  ) {
    const mk = (addr: Ipv4Addr, port: number): Side => ({
      isn: rnd.next(),
      addr,
      port,
      shift: 0,
      sndUna: 1,
      sndNxt: 1,
      rcvNxt: 0,
      edge: 1,
      seenEdge: 0,
      seenMaxWin: 0,
      seenEnd: 0,
    });
    this.s = [mk(A, 40000 + rnd.int(1000)), mk(R, 80)];
  }

  packet(from: 0 | 1, seqRel: number, len: number, flags: number, win: number, wscale?: number): Uint8Array {
    const me = this.s[from];
    const peer = this.s[from ^ 1]!;
    return tcp4(me.addr, peer.addr, {
      sport: me.port,
      dport: peer.port,
      seq: (me.isn + seqRel) >>> 0,
      ack: (flags & ACK) !== 0 ? (peer.isn + me.rcvNxt) >>> 0 : 0,
      flags,
      window: win,
      payload: len,
      ...(wscale === undefined ? {} : { wscale }),
    });
  }

  /** Sends a legitimate segment: the tracker must accept it; then it may be lost on the way. */
  send(
    from: 0 | 1,
    seqRel: number,
    len: number,
    flags: number,
    win: number,
    deliver: boolean,
    wscale?: number,
  ): void {
    const me = this.s[from];
    const peer = this.s[from ^ 1]!;
    const v = track(this.ct, this.packet(from, seqRel, len, flags, win, wscale), this.now);
    expect(v.state, `segment from ${from} seq ${seqRel} len ${len} flags ${flags}`).not.toBe('invalid');
    const syn = (flags & SYN) !== 0;
    const fin = (flags & FIN) !== 0;
    const scaled = syn ? win : win * 2 ** me.shift;
    const end = seqRel + len + (syn ? 1 : 0) + (fin ? 1 : 0);
    me.seenEnd = Math.max(me.seenEnd, end);
    me.seenMaxWin = Math.max(me.seenMaxWin, scaled);
    if ((flags & ACK) !== 0)
      peer.seenEdge = Math.max(peer.seenEdge, me.rcvNxt + scaled + (scaled === 0 ? 1 : 0));
    if (!deliver) return;
    if (seqRel <= peer.rcvNxt && peer.rcvNxt < end) peer.rcvNxt = end;
    if ((flags & ACK) !== 0) {
      peer.sndUna = Math.max(peer.sndUna, me.rcvNxt);
      peer.edge = Math.max(peer.edge, me.rcvNxt + scaled);
    }
  }

  handshake(wa: number | undefined, wb: number | undefined): void {
    const [a, b] = this.s;
    this.send(0, 0, 0, SYN, 1 + this.rnd.int(65535), true, wa);
    b.rcvNxt = 1;
    this.send(1, 0, 0, SYN | ACK, 1 + this.rnd.int(65535), true, wb);
    a.rcvNxt = 1;
    if (wa !== undefined && wb !== undefined) {
      a.shift = wa;
      b.shift = wb;
    }
    this.send(0, 1, 0, ACK, this.window(0), true);
  }

  /** The window a side advertises: it changes now and then (to zero, small ones that fill up, large ones). */
  window(from: 0 | 1): number {
    if (this.rnd.chance(0.15)) {
      const r = this.rnd.float();
      this.wins[from] = r < 0.1 ? 0 : r < 0.6 ? 1 + this.rnd.int(3000) : 1 + this.rnd.int(65535);
    }
    return this.wins[from]!;
  }

  /** Distances past a boundary: often the boundary itself, sometimes near, sometimes far. */
  beyond(): number {
    const r = this.rnd.float();
    return r < 0.3 ? 0 : r < 0.6 ? this.rnd.int(100) : this.rnd.int(1 << 29);
  }

  /** One random legitimate segment from a random side. */
  randomSegment(): void {
    const from = this.rnd.int(2) as 0 | 1;
    const me = this.s[from];
    const deliver = this.rnd.chance(0.8);
    const usable = me.edge - me.sndNxt;
    const r = this.rnd.float();
    if (r < 0.55 && usable > 0) {
      // Often exactly up to the right edge: the boundary of check I.
      const len = this.rnd.chance(0.3) && usable <= 1460 ? usable : 1 + this.rnd.int(Math.min(usable, 1460));
      this.send(from, me.sndNxt, len, ACK, this.window(from), deliver);
      me.sndNxt += len;
    } else if (r < 0.75 && me.sndNxt > me.sndUna) {
      const seq = me.sndUna + this.rnd.int(me.sndNxt - me.sndUna);
      const len = 1 + this.rnd.int(Math.min(me.sndNxt - seq, 1460));
      this.send(from, seq, len, ACK, this.window(from), deliver);
    } else {
      this.send(from, me.sndNxt, 0, ACK, this.window(from), deliver);
    }
    this.now += this.rnd.int(50);
  }

  /** An out-of-window segment from `from`: a reset or data past the right edge, or data older than a window. */
  inject(from: 0 | 1, entry: number): void {
    const me = this.s[from];
    const peer = this.s[from ^ 1]!;
    const before = ctEntry(this.ct, entry);
    const k = this.beyond();
    let p: Uint8Array;
    const kind = this.rnd.int(3);
    if (kind < 2) {
      // Starts past the highest right edge the peer ever advertised (check I).
      p = this.packet(
        from,
        me.seenEdge + 1 + k,
        kind === 0 ? 0 : 1 + this.rnd.int(100),
        kind === 0 ? RST : ACK,
        100,
      );
    } else {
      // Ends more than the peer's largest window before the highest byte sent (check II).
      const len = 1 + this.rnd.int(100);
      p = this.packet(from, me.seenEnd - peer.seenMaxWin - len - 1 - k, len, ACK, 100);
    }
    const v = track(this.ct, p, this.now);
    expect(v, `injected kind ${kind}`).toMatchObject({ state: 'invalid', reason: 'tcp-out-of-window' });
    expect(ctEntry(this.ct, entry)).toEqual(before);
  }

  close(): void {
    const [a, b] = this.s;
    // First every byte reaches the peer (retransmitted from what it has), as TCP would before its FIN is acknowledged.
    for (const from of [0, 1] as const) {
      const me = this.s[from];
      const peer = this.s[from ^ 1]!;
      while (peer.rcvNxt < me.sndNxt)
        this.send(from, peer.rcvNxt, Math.min(1460, me.sndNxt - peer.rcvNxt), ACK, this.window(from), true);
    }
    const finA = a.sndNxt;
    this.send(0, finA, 0, FIN | ACK, this.window(0), true);
    a.sndNxt++;
    const finB = b.sndNxt;
    this.send(1, finB, 0, FIN | ACK, this.window(1), true);
    b.sndNxt++;
    this.send(0, a.sndNxt, 0, ACK, this.window(0), true);
    this.send(1, b.sndNxt, 0, ACK, this.window(1), true);
  }
}

describe('conntrack properties: TCP windows', () => {
  it('accepts every in-window segment of a conversation and refuses injected out-of-window ones', () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
        fc.integer({ min: 10, max: 120 }),
        (seed, wa, wb, steps) => {
          const ct = ctCreate();
          const m = new Model(ct, new Random(seed));
          m.handshake(wa, wb);
          const entry = ctEntries(ct)[0]!;
          expect(ctEntry(ct, entry)?.state).toBe('established');
          for (let i = 0; i < steps; i++) {
            if (m.rnd.chance(0.1)) m.inject(m.rnd.int(2) as 0 | 1, entry);
            else m.randomSegment();
          }
          m.close();
          expect(ctEntry(ct, entry)?.state).toBe('time-wait');
        },
      ),
      propOptions(150),
    );
  });
});

describe('conntrack properties: bounds and eviction', () => {
  type Ev = { kind: 'udp' | 'reply' | 'syn' | 'tick'; port: number; dt: number };
  const events = fc.array(
    fc.record({
      kind: fc.constantFrom<Ev['kind']>('udp', 'udp', 'reply', 'syn', 'tick'),
      port: fc.integer({ min: 1, max: 40 }),
      dt: fc.integer({ min: 0, max: 20_000 }),
    }),
    { maxLength: 200 },
  );

  it('never exceeds maxEntries or maxBytes, and evicts assured entries never', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 2, max: 12 }),
        events,
        (maxEntries, k, evs) => {
          const maxBytes = 103 * k + 50;
          const ct = ctCreate({ maxEntries, maxBytes });
          let now = 0;
          for (const ev of evs) {
            now += ev.dt;
            const assuredBefore = ctEntries(ct)
              .map((e) => ctEntry(ct, e)!)
              .filter((x) => x.assured);
            const p =
              ev.kind === 'udp'
                ? udp4(A, R, ev.port, 53)
                : ev.kind === 'reply'
                  ? udp4(R, A, 53, ev.port)
                  : tcp4(A, R, { sport: ev.port, dport: 80, seq: ev.port, flags: SYN });
            if (ev.kind === 'tick') ctTick(ct, now);
            else {
              const i = info(p);
              const [, v] = ctStep(ct, i, now);
              if (v.state === 'new' && v.entry < 0) {
                const [, c] = ctConfirm(ct, i, now);
                // Refused only when no unassured entry was left to evict.
                if (!c.ok) expect(ctEntries(ct).every((e) => ctEntry(ct, e)!.assured)).toBe(true);
              }
            }
            const s = ctStats(ct);
            expect(s.entries).toBeLessThanOrEqual(maxEntries);
            expect(s.bytes).toBeLessThanOrEqual(maxBytes);
            expect(ctEntries(ct)).toHaveLength(s.entries);
            // An assured entry goes only by timing out, never by eviction.
            const live = new Set(ctEntries(ct).map((e) => JSON.stringify(ctEntry(ct, e)!.original)));
            for (const x of assuredBefore)
              if (!live.has(JSON.stringify(x.original))) expect(x.expires).toBeLessThanOrEqual(now);
            expect(s.counters.evicted).toBeLessThanOrEqual(s.counters.created);
          }
        },
      ),
      propOptions(200),
    );
  });

  it('replays identically from a snapshot', () => {
    fc.assert(
      fc.property(events, fc.nat(), (evs, cut) => {
        const ct = ctCreate({ maxEntries: 6 });
        const run = (t: Conntrack, from: number, start: number) => {
          const out: unknown[] = [];
          let now = start;
          for (const ev of evs.slice(from)) {
            now += ev.dt;
            if (ev.kind === 'tick') out.push(ctTick(t, now) && ctStats(t).entries);
            else
              out.push(
                track(t, ev.kind === 'reply' ? udp4(R, A, 53, ev.port) : udp4(A, R, ev.port, 53), now),
              );
          }
          return out;
        };
        const at = evs.length === 0 ? 0 : cut % evs.length;
        let start = 0;
        for (const ev of evs.slice(0, at)) {
          start += ev.dt;
          track(ct, udp4(A, R, ev.port, 53), start);
        }
        const snap = ctClone(ct);
        const first = run(ct, at, start);
        expect(run(snap, at, start)).toEqual(first);
        expect(ctStats(snap)).toEqual(ctStats(ct));
      }),
      propOptions(100),
    );
  });
});

describe('IntIndex', () => {
  it('behaves as a multimap of values by hash', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 })), { maxLength: 400 }),
        (ops) => {
          const hash = (v: number) => (v * 7) % 13;
          const idx = new IntIndex(hash);
          const model = new Set<number>();
          for (const [add, v] of ops) {
            if (add && !model.has(v)) {
              idx.insert(v, hash(v));
              model.add(v);
            } else if (!add) expect(idx.remove(v, hash(v))).toBe(model.delete(v));
          }
          expect(idx.size).toBe(model.size);
          const found = [...idx.slots].filter((v) => v >= 0).sort((x, y) => x - y);
          expect(found).toEqual([...model].sort((x, y) => x - y));
          // Every value is reachable from its hash without crossing an empty slot.
          for (const v of model) {
            let i = hash(v) & idx.mask;
            while (idx.slots[i] !== v) {
              expect(idx.slots[i]).toBeGreaterThanOrEqual(0);
              i = (i + 1) & idx.mask;
            }
          }
        },
      ),
      propOptions(),
    );
  });
});
