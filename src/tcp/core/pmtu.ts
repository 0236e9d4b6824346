/**
 * Path MTU: acting on Fragmentation Needed / Packet Too Big (RFC 1191, RFC 8201) and detecting black
 * holes that drop big segments without a word (RFC 4821).
 *
 * - The message reaches a connection only after icmp.ts checked that it quotes a sequence number in
 *   flight (RFC 5927 §4.1). It can only lower the MSS (RFC 1191 §6.1: "never increase ... in response
 *   to a Datagram Too Big message"), and never below a floor: Linux's tcp_min_snd_mss, 48 bytes, so
 *   a forged MTU of 68 cannot make every segment mostly header (RFC 5927 §7 "attacks against PMTUD");
 *   over IPv6 never below the minimum link MTU, 1280 (RFC 8201 §4: "MUST NOT reduce ... below the
 *   IPv6 minimum link MTU").
 * - Every full-sized segment in flight was too big for the hop that answered, so it is lost: the
 *   sender goes back to SND.UNA and sends the flight again at the new size (as Linux's
 *   tcp_simple_retransmit), without reducing cwnd, since the loss says nothing about congestion.
 * - Black holes (RFC 4821 §3 "ICMP black holes"): when a full-sized segment times out twice in a row,
 *   the MSS drops to the search base (RFC 4821 §7.2 search_low): an MTU of 1024 bytes over IPv4
 *   ("a value of 1024 bytes is probably safe enough"), 1280 over IPv6 (the minimum every IPv6 link
 *   carries, RFC 8200 §5). Like Linux's tcp_mtu_probing=1, once a black hole is seen; probing upwards
 *   again (RFC 4821 §7.3-7.6) is not implemented.
 */
import { seqDiff } from '../seq.js';
import type { Draft } from './draft.js';
import { isV6 } from './secrets.js';
import { isSynchronized, type MutTcb } from './types.js';

/** Linux's tcp_min_snd_mss: no segment is made smaller than this by any MTU we are told. */
export const MIN_SND_MSS = 48;
/** RFC 8200 §5: every IPv6 link carries 1280-byte packets. */
export const IPV6_MIN_MTU = 1280;
/** RFC 791: every IPv4 module forwards 68-byte datagrams. */
export const IPV4_MIN_MTU = 68;
/** RFC 4821 §7.2 search_low for IPv4 (IPv6 uses its minimum MTU). */
export const IPV4_SEARCH_BASE_MTU = 1024;
/**
 * Consecutive timeouts of a full-sized segment taken as a black hole: three, as Linux probes only once
 * tcp_retries1 (3) timeouts have passed. With two, random loss alone (3 % in bench/loss.ts) now and
 * then lost a segment and its first retransmission, and the connection ran at MSS 984 for good.
 */
export const BLACKHOLE_RTOS = 3;

/**
 * RFC 1191 §7 table of MTU plateaus: a router that predates RFC 1191 sends Fragmentation Needed with
 * a next-hop MTU of 0, and the sender guesses the next plateau below the datagram it sent (§5).
 */
const PLATEAUS = [65_535, 32_000, 17_914, 8_166, 4_352, 2_002, 1_492, 1_006, 508, 296, IPV4_MIN_MTU];

/**
 * The path MTU an ICMP message announces: `mtu` as received, `quotedLen` the total length of the
 * datagram it quotes. An IPv4 MTU of 0 or not below the quoted datagram (RFC 1191 §5: an old router,
 * or a bogus value) becomes the plateau below it; IPv6 values are raised to 1280 (RFC 8201 §4).
 */
export function announcedMtu(v6: boolean, mtu: number, quotedLen: number): number {
  if (v6) return Math.max(IPV6_MIN_MTU, mtu);
  if (mtu >= IPV4_MIN_MTU && (quotedLen === 0 || mtu < quotedLen)) return mtu;
  for (const p of PLATEAUS) if (p < quotedLen) return p;
  return IPV4_MIN_MTU;
}

/**
 * Eff.snd.MSS for an MTU (RFC 9293 §3.7.1: MTU less the fixed IP and TCP headers), floored at
 * `minSndMss` (TcpConfig.minSndMss, the same floor as a SYN's MSS option).
 */
export function mssForMtu(v6: boolean, mtu: number, minSndMss = MIN_SND_MSS): number {
  const ipHeader = v6 ? 40 : 20;
  const floorMtu = v6 ? IPV6_MIN_MTU : IPV4_MIN_MTU;
  return Math.max(minSndMss, Math.max(floorMtu, Math.floor(mtu)) - ipHeader - 20);
}

/** The MSS a black hole leaves (RFC 4821 §7.2 search base, see the module comment). */
export function searchBaseMss(v6: boolean): number {
  return mssForMtu(v6, v6 ? IPV6_MIN_MTU : IPV4_SEARCH_BASE_MTU);
}

/**
 * The path to the peer carries at most `mtu` bytes (a validated ICMP message, or the driver's cache
 * for a new connection): lower the MSS if that makes it smaller, and send the flight again at the new
 * size. True if the MSS changed.
 */
export function pathMtuLowered(d: Draft, t: MutTcb, mtu: number): boolean {
  const mss = mssForMtu(isV6(t.local), mtu, d.config.minSndMss);
  if (!(mss < t.mss)) {
    d.count('pmtu-ignored');
    return false;
  }
  d.count('pmtu-lowered');
  t.mss = mss;
  resendFlight(d, t);
  return true;
}

/**
 * Called when the retransmission timer expired for the `count`th time in a row (timers.ts, after it
 * went back to SND.UNA): after BLACKHOLE_RTOS of them, if the segment being resent is bigger than the
 * search base allows, the path is taken for a black hole and the MSS drops to the base.
 */
export function blackHoleCheck(d: Draft, t: MutTcb, count: number): void {
  if (count < BLACKHOLE_RTOS) return;
  const base = searchBaseMss(isV6(t.local));
  if (t.mss <= base) return;
  // Only a segment the base would cut is evidence: a small one timing out is plain loss.
  if (Math.min(seqDiff(t.sndMax, t.sndUna), t.mss) <= base) return;
  d.count('pmtu-blackhole');
  t.mss = base;
}

/** Go back to SND.UNA: everything full-sized in flight was dropped by the narrow hop. */
function resendFlight(d: Draft, t: MutTcb): void {
  if (!isSynchronized(t.state) || t.sndUna === t.sndMax) return;
  t.sndNxt = t.sndUna;
  // The SACK scoreboard and loss recovery describe segments of the old size; start over (RFC 2018 §8
  // allows forgetting SACK information). No fast retransmit for duplicate ACKs of the old flight.
  t.recovery = null;
  t.dupAcks = 0;
  t.scoreboard = [];
  t.lastRecover = t.sndMax;
  // F-RTO's verdict would stop this go-back-N (as Linux, none while the MTU changes; recovery.ts).
  t.frto = null;
  // Karn (RFC 6298 §3): what is sent again cannot be timed.
  t.rttSeq = null;
  t.rexmt = { mode: 'data', at: d.now + t.rtt.rto, count: 0, backoff: 0 };
}
