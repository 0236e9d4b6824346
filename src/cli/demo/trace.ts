/**
 * A traceroute from an Oasis stack, for the in-process router leg: UDP probes to ports 33434 and up
 * with TTL 1, 2, ... (what Linux `traceroute` sends by default), one at a time, and the ICMP errors
 * they draw, read off the stack's link as they arrive: Time Exceeded from each router on the way
 * (RFC 792; RFC 1812 §5.3.1 makes a router send it when the TTL runs out), Port Unreachable from
 * the destination, where nobody listens on those ports (RFC 1122 §4.1.3.1). The stack itself only
 * counts ICMP errors about its datagrams, so the answers are matched here, by the quoted probe.
 */
import { type Ipv4Addr, ipv4ToString, readIpv4 } from '../../addr.js';
import { u16 } from '../../bytes.js';
import { ETHERTYPE_IPV4, EthernetFrame } from '../../ethernet/wire.js';
import { IPPROTO_ICMP, IPPROTO_UDP } from '../../ipproto.js';
import { parseIcmpv4, TIME_EXCEEDED_TTL, UNREACH_PORT } from '../../ipv4/icmp.js';
import { Ipv4Packet } from '../../ipv4/wire.js';
import type { CaptureHook } from '../../link/link.js';
import type { Stack } from '../../stack/stack.js';
import { emitUdp, UDP_HEADER_LEN } from '../../udp/wire.js';

/** traceroute's first destination port (one more for every probe). */
export const TRACE_FIRST_PORT = 33434;
/** Data bytes of a probe: with the headers, the 60-byte packets Linux traceroute sends. */
const PROBE_DATA = 32;

export interface Hop {
  readonly ttl: number;
  /** Who answered this hop's probes (the first answer's source), or undefined if nobody did. */
  readonly from: Ipv4Addr | undefined;
  /** Each probe's round-trip time in ms, undefined for a probe without an answer. */
  readonly rtts: readonly (number | undefined)[];
  /** The destination answered (Port Unreachable): the trace ends at this hop. */
  readonly reached: boolean;
}

export interface TraceOptions {
  /** Gives up after this TTL (default 8). */
  readonly maxHops?: number;
  /** Probes per hop (default 3). */
  readonly probes?: number;
  /** How long each probe waits for its answer, ms (default 1000). */
  readonly timeoutMs?: number;
}

/** What an ICMP error says about one of our probes. */
export interface ProbeAnswer {
  /** The probe's destination port: which probe it was. */
  readonly port: number;
  readonly from: Ipv4Addr;
  /** Port Unreachable (the destination) rather than Time Exceeded (a router on the way). */
  readonly reached: boolean;
}

/**
 * Reads an Ethernet frame as an answer to one of our UDP probes: an ICMP Time Exceeded (TTL) or
 * Port Unreachable to `self`, quoting a UDP datagram to `dst`. Anything else is undefined; never
 * throws, whatever the bytes.
 */
export function probeAnswer(frame: Uint8Array, self: Ipv4Addr, dst: Ipv4Addr): ProbeAnswer | undefined {
  const eth = EthernetFrame.check(frame);
  if (!eth.ok || eth.value.ethertype !== ETHERTYPE_IPV4) return undefined;
  const ip = Ipv4Packet.check(eth.value.payload);
  if (!ip.ok || ip.value.protocol !== IPPROTO_ICMP || ip.value.dst !== self) return undefined;
  const icmp = parseIcmpv4(ip.value.payload);
  if (!icmp.ok) return undefined;
  const { repr, payload: quote } = icmp.value;
  const reached = repr.type === 'dest-unreachable' && repr.code === UNREACH_PORT;
  if (!reached && !(repr.type === 'time-exceeded' && repr.code === TIME_EXCEEDED_TTL)) return undefined;
  // RFC 792: the error quotes the datagram's IP header and at least its first 8 data bytes, which
  // hold the whole UDP header; only the ports are needed here.
  if (quote.length < 20 || quote[0]! >> 4 !== 4) return undefined;
  const headerLen = (quote[0]! & 0x0f) * 4;
  if (headerLen < 20 || quote.length < headerLen + 4) return undefined;
  if (quote[9] !== IPPROTO_UDP || readIpv4(quote, 12) !== self || readIpv4(quote, 16) !== dst)
    return undefined;
  return { port: u16(quote, headerLen + 2), from: ip.value.src, reached };
}

/**
 * Traces the path from `stack` to `dst`: `probes` probes per TTL, each answered or timed out before
 * the next, until the destination answers or `maxHops`. Times are on the stack's clock.
 */
export async function traceroute4(stack: Stack, dst: Ipv4Addr, opts: TraceOptions = {}): Promise<Hop[]> {
  const maxHops = opts.maxHops ?? 8;
  const probes = opts.probes ?? 3;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const route = stack.ipv4.route(dst);
  if (route === undefined) throw new Error(`no route to ${ipv4ToString(dst)}`);
  // RFC 6056 §2.1: a source port from the dynamic range.
  const srcPort = 49152 + stack.random.int(16384);
  const waiting = new Map<number, (a: ProbeAnswer) => void>();
  const link = route.iface.link;
  const previous = link.capture;
  const watch: CaptureHook = (frame, direction) => {
    previous?.(frame, direction);
    if (direction !== 'in' || waiting.size === 0) return;
    const answer = probeAnswer(frame, route.src, dst);
    if (answer !== undefined) waiting.get(answer.port)?.(answer);
  };
  link.capture = watch;

  /** Sends one probe; resolves with its answer and round-trip time, or undefined at the timeout. */
  const probe = (ttl: number, port: number) =>
    new Promise<{ answer: ProbeAnswer; rtt: number } | undefined>((resolve) => {
      const sent = stack.now();
      const timer = stack.scheduler.at(sent + timeoutMs, () => {
        waiting.delete(port);
        resolve(undefined);
      });
      waiting.set(port, (answer) => {
        waiting.delete(port);
        stack.scheduler.cancel(timer);
        resolve({ answer, rtt: stack.now() - sent });
      });
      const len = UDP_HEADER_LEN + PROBE_DATA;
      stack.ipv4.send(
        route,
        IPPROTO_UDP,
        len,
        (buf) => {
          buf.fill(0x40, UDP_HEADER_LEN);
          emitUdp({ srcPort, dstPort: port }, buf, { version: 4, src: route.src, dst });
        },
        { ttl },
      );
      stack.rearm();
    });

  const hops: Hop[] = [];
  let port = TRACE_FIRST_PORT;
  try {
    for (let ttl = 1; ttl <= maxHops; ttl++) {
      const rtts: (number | undefined)[] = [];
      let from: Ipv4Addr | undefined;
      let reached = false;
      for (let i = 0; i < probes; i++) {
        const r = await probe(ttl, port++);
        rtts.push(r?.rtt);
        if (r === undefined) continue;
        from ??= r.answer.from;
        reached ||= r.answer.reached;
      }
      hops.push({ ttl, from, rtts, reached });
      if (reached) break;
    }
  } finally {
    // Put back the hook we found, unless someone replaced ours meanwhile.
    if (link.capture === watch) link.capture = previous;
  }
  return hops;
}

/** One hop as `traceroute -n` prints it: ` 1  10.202.1.1  0.214 ms  0.120 ms  0.118 ms`. */
export function formatHop(hop: Hop): string {
  const times = hop.rtts.map((t) => (t === undefined ? '*' : `${t.toFixed(3)} ms`));
  const who = hop.from === undefined ? '' : `${ipv4ToString(hop.from)}  `;
  return `${String(hop.ttl).padStart(2)}  ${who}${times.join('  ')}`;
}
