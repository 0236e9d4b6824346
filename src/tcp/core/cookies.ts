/**
 * SYN cookies (RFC 4987 §3.6): past a listener's backlog the SYN is answered statelessly, its state
 * encoded in our ISS, and rebuilt from the ACK that completes the handshake.
 *
 * ISS = t (5 bits: 64-second slot, mod 32) | MSS index (3 bits) | 24-bit keyed hash of the 4-tuple, the
 * peer's ISN and t (SipHash under the stack secret, secrets.ts). A cookie is valid for the current and
 * the previous slot, and only while the listener has sent cookies recently (so a blind attacker cannot
 * complete handshakes with guessed cookies at other times).
 *
 * With timestamps, the window scale (4 bits, 15 = none) and SACK-permitted (1 bit) ride in the low 5
 * bits of our TSval and come back in TSecr (as Linux does); the TSval is moved back, never forward, so
 * the peer's PAWS never sees our clock go backwards. Without timestamps those options are lost: the
 * connection runs without window scaling and SACK (the known cost of cookies).
 */
import { type Seq, seqAdd } from '../seq.js';
import { cookieHash } from './secrets.js';
import type { SipKey } from './siphash.js';
import type { IpAddr } from './types.js';

/** MSS values a cookie can carry. */
export const COOKIE_MSS = [536, 1000, 1220, 1300, 1400, 1440, 1460, 8960] as const;
const SLOT_MS = 64_000;

function slotOf(now: number): number {
  return Math.floor(now / SLOT_MS) & 31;
}

export interface CookieTuple {
  readonly local: IpAddr;
  readonly localPort: number;
  readonly remote: IpAddr;
  readonly remotePort: number;
}

/** The ISS for a SYN (the peer's ISN `irs`) that offered `peerMss` (or none). */
export function cookieIss(key: SipKey, now: number, t: CookieTuple, irs: Seq, peerMss: number): Seq {
  let idx = 0;
  for (let i = 0; i < COOKIE_MSS.length; i++) if (COOKIE_MSS[i]! <= peerMss) idx = i;
  const slot = slotOf(now);
  const h = cookieHash(key, t.local, t.localPort, t.remote, t.remotePort, irs, slot) & 0xff_ffff;
  return (((slot << 27) | (idx << 24) | h) >>> 0) as Seq;
}

/** The MSS of a valid cookie (`ack - 1` is our ISS, `seq - 1` the peer's), or null. */
export function cookieCheck(key: SipKey, now: number, t: CookieTuple, ack: Seq, seq: Seq): number | null {
  const iss = seqAdd(ack, -1);
  const irs = seqAdd(seq, -1);
  const slot = iss >>> 27;
  const cur = slotOf(now);
  if (slot !== cur && slot !== ((cur + 31) & 31)) return null;
  const h = cookieHash(key, t.local, t.localPort, t.remote, t.remotePort, irs, slot) & 0xff_ffff;
  if ((iss & 0xff_ffff) !== h) return null;
  return COOKIE_MSS[(iss >>> 24) & 7]!;
}

/** TSval carrying the window scale (15 = none) and SACK-permitted, never later than `tsNow`. */
export function cookieTsVal(tsNow: number, wscale: number | null, sack: boolean): number {
  const bits = ((wscale ?? 15) & 15) | (sack ? 16 : 0);
  let v = ((tsNow & ~31) | bits) >>> 0;
  if (((v - tsNow) | 0) > 0) v = (v - 32) >>> 0;
  return v;
}

/** Options recovered from the TSecr of the completing ACK. */
export function cookieTsOptions(tsEcr: number): { wscale: number | null; sack: boolean } {
  const ws = tsEcr & 15;
  return { wscale: ws === 15 ? null : ws, sack: (tsEcr & 16) !== 0 };
}
