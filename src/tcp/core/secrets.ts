/**
 * Values the core derives from its secret (docs/TCP-NOTES.md §1 "Inject everything impure"): the secret is
 * data in the state, so a given state and input trace always give the same numbers.
 *
 * - RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs timer.
 * - RFC 6056 §3.3.4 (algorithm 4, "Double-Hash Port Selection"): port = min + (F(...) + table[G(...)])
 *   mod num_ephemeral, with `table[G]` incremented at each try, so ports of one destination are
 *   sequential (no quick reuse) while other destinations cannot be predicted from them.
 * - RFC 7323 §5.4: a per-connection offset for TSval, fixed per 4-tuple so that timestamps stay
 *   monotonic across incarnations (which RFC 6191 TIME-WAIT reuse relies on).
 *
 * Each use puts a different tag byte first, so one key serves them all independently.
 */
import { ipv4ToString, ipv6ToString } from '../../addr.js';
import { type Seq, toSeq } from '../seq.js';
import { type SipKey, sipHash32 } from './siphash.js';
import type { FlowKey, IpAddr } from './types.js';

const TAG_ISN = 1;
const TAG_PORT_OFFSET = 2;
const TAG_PORT_INDEX = 3;
const TAG_TS_OFFSET = 4;
const TAG_COOKIE = 5;

export function isV6(a: IpAddr): a is IpAddr & Uint8Array {
  return typeof a !== 'number';
}

/** Canonical text of an address (a Map key and a readable flow name). */
export function addrKey(a: IpAddr): string {
  return isV6(a) ? ipv6ToString(a) : ipv4ToString(a);
}

export function addrEqual(a: IpAddr, b: IpAddr): boolean {
  if (!isV6(a) || !isV6(b)) return a === b;
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Segments of one flow come in runs: the last key is remembered, so a run formats no address and
// hands back the very same string (its hash is then computed once for every Map it indexes).
let lastLocal: IpAddr = 0 as IpAddr;
let lastRemote: IpAddr = 0 as IpAddr;
let lastPorts = -1;
let lastKey = '';

export function flowKey(local: IpAddr, localPort: number, remote: IpAddr, remotePort: number): FlowKey {
  const ports = localPort * 65536 + remotePort;
  if (ports === lastPorts && addrEqual(local, lastLocal) && addrEqual(remote, lastRemote)) return lastKey;
  lastKey = `${addrKey(local)} ${localPort} ${addrKey(remote)} ${remotePort}`;
  // IPv6 addresses may be views of a frame that is reused: keep copies.
  lastLocal = isV6(local) ? (Uint8Array.from(local) as IpAddr) : local;
  lastRemote = isV6(remote) ? (Uint8Array.from(remote) as IpAddr) : remote;
  lastPorts = ports;
  return lastKey;
}

function addrBytes(a: IpAddr): Uint8Array {
  if (isV6(a)) return a;
  return Uint8Array.of(a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255);
}

/** tag | local | remote | localPort | remotePort, ports omitted when `null`. */
function message(tag: number, local: IpAddr, remote: IpAddr, ports: readonly number[]): Uint8Array {
  const l = addrBytes(local);
  const r = addrBytes(remote);
  const m = new Uint8Array(1 + l.length + r.length + 2 * ports.length);
  m[0] = tag;
  m.set(l, 1);
  m.set(r, 1 + l.length);
  let p = 1 + l.length + r.length;
  for (const port of ports) {
    m[p] = port >>> 8;
    m[p + 1] = port & 255;
    p += 2;
  }
  return m;
}

/** RFC 6528 §3 ISN: the 4 µs clock plus a keyed hash of the 4-tuple. */
export function initialSeq(
  key: SipKey,
  now: number,
  local: IpAddr,
  localPort: number,
  remote: IpAddr,
  remotePort: number,
): Seq {
  const m = Math.floor(now * 250) % 0x1_0000_0000;
  const f = sipHash32(key, message(TAG_ISN, local, remote, [localPort, remotePort]));
  return toSeq(m + f);
}

/** RFC 7323 §5.4 timestamp offset of a 4-tuple. */
export function tsOffset(
  key: SipKey,
  local: IpAddr,
  localPort: number,
  remote: IpAddr,
  remotePort: number,
): number {
  return sipHash32(key, message(TAG_TS_OFFSET, local, remote, [localPort, remotePort]));
}

/** RFC 6056 algorithm 4: F (the offset) and G (the table index) of a destination. */
export function portHashes(
  key: SipKey,
  local: IpAddr,
  remote: IpAddr,
  remotePort: number,
  tableLen: number,
): { offset: number; index: number } {
  const offset = sipHash32(key, message(TAG_PORT_OFFSET, local, remote, [remotePort]));
  const index = sipHash32(key, message(TAG_PORT_INDEX, local, remote, [remotePort])) % tableLen;
  return { offset, index };
}

/** The keyed hash of a SYN cookie (RFC 4987 §3.6): 4-tuple, the peer's ISN and a time counter. */
export function cookieHash(
  key: SipKey,
  local: IpAddr,
  localPort: number,
  remote: IpAddr,
  remotePort: number,
  peerIsn: Seq,
  counter: number,
): number {
  return sipHash32(
    key,
    message(TAG_COOKIE, local, remote, [
      localPort,
      remotePort,
      peerIsn >>> 16,
      peerIsn & 0xffff,
      counter & 0xffff,
    ]),
  );
}
