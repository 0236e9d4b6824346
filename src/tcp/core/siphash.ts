/**
 * SipHash-2-4 (Aumasson & Bernstein, 2012) with a 128-bit key, on 32-bit halves so that it needs
 * neither BigInt nor a Node API. It is the keyed pseudo-random function F of RFC 6528 §3 (initial
 * sequence numbers), RFC 6056 §3.3.4 (ephemeral ports), RFC 7323 §5.4 (timestamp offsets) and
 * RFC 4987 SYN cookies: the same secret and inputs always give the same output, so the TCP core
 * stays deterministic while off-path attackers cannot predict it (Linux uses SipHash here too).
 *
 * Pure: no clock, no randomness; the key is data.
 */

/** A 128-bit key as four little-endian 32-bit words (k0 = key bytes 0..3). */
export type SipKey = readonly [number, number, number, number];

/** A key from 16 bytes (the RFC 6528 secret). Throws on another length: a configuration bug. */
export function sipKey(bytes: Uint8Array): SipKey {
  if (bytes.length !== 16) throw new RangeError('sipKey: the secret must be 16 bytes');
  const w = (i: number): number =>
    (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0;
  return [w(0), w(4), w(8), w(12)];
}

// State: four 64-bit words v0..v3 as (hi, lo) pairs in a scratch array (module-local, reset on
// every call, so the function stays pure from the caller's point of view).
const v = new Uint32Array(8); // v0h v0l v1h v1l v2h v2l v3h v3l

function add(a: number, b: number): void {
  // v[a] += v[b] (64-bit)
  const lo = v[a + 1]! + v[b + 1]!;
  v[a] = v[a]! + v[b]! + (lo > 0xffff_ffff ? 1 : 0);
  v[a + 1] = lo;
}

function rotl(a: number, n: number): void {
  const hi = v[a]!;
  const lo = v[a + 1]!;
  if (n === 32) {
    v[a] = lo;
    v[a + 1] = hi;
  } else if (n < 32) {
    v[a] = (hi << n) | (lo >>> (32 - n));
    v[a + 1] = (lo << n) | (hi >>> (32 - n));
  } else {
    const m = n - 32;
    v[a] = (lo << m) | (hi >>> (32 - m));
    v[a + 1] = (hi << m) | (lo >>> (32 - m));
  }
}

function xor(a: number, b: number): void {
  v[a] = v[a]! ^ v[b]!;
  v[a + 1] = v[a + 1]! ^ v[b + 1]!;
}

const V0 = 0;
const V1 = 2;
const V2 = 4;
const V3 = 6;

function round(): void {
  add(V0, V1);
  rotl(V1, 13);
  xor(V1, V0);
  rotl(V0, 32);
  add(V2, V3);
  rotl(V3, 16);
  xor(V3, V2);
  add(V0, V3);
  rotl(V3, 21);
  xor(V3, V0);
  add(V2, V1);
  rotl(V1, 17);
  xor(V1, V2);
  rotl(V2, 32);
}

function absorb(hi: number, lo: number, rounds: number): void {
  v[V3] = v[V3]! ^ hi;
  v[V3 + 1] = v[V3 + 1]! ^ lo;
  for (let i = 0; i < rounds; i++) round();
  v[V0] = v[V0]! ^ hi;
  v[V0 + 1] = v[V0 + 1]! ^ lo;
}

/** SipHash-2-4 of `msg` under `key`: the 64-bit result as [hi, lo] unsigned 32-bit words. */
export function sipHash24(key: SipKey, msg: Uint8Array): [number, number] {
  const [k0, k1, k2, k3] = key;
  // k0 (64-bit LE) = k1:k0 as hi:lo, k1 (64-bit) = k3:k2.
  v[V0] = k1 ^ 0x736f6d65;
  v[V0 + 1] = k0 ^ 0x70736575;
  v[V1] = k3 ^ 0x646f7261;
  v[V1 + 1] = k2 ^ 0x6e646f6d;
  v[V2] = k1 ^ 0x6c796765;
  v[V2 + 1] = k0 ^ 0x6e657261;
  v[V3] = k3 ^ 0x74656462;
  v[V3 + 1] = k2 ^ 0x79746573;
  const n = msg.length;
  const full = n - (n % 8);
  for (let i = 0; i < full; i += 8) {
    const lo = (msg[i]! | (msg[i + 1]! << 8) | (msg[i + 2]! << 16) | (msg[i + 3]! << 24)) >>> 0;
    const hi = (msg[i + 4]! | (msg[i + 5]! << 8) | (msg[i + 6]! << 16) | (msg[i + 7]! << 24)) >>> 0;
    absorb(hi, lo, 2);
  }
  // Last block: remaining bytes, and the length mod 256 in the top byte.
  let lo = 0;
  let hi = (n & 0xff) << 24;
  for (let i = full; i < n; i++) {
    const sh = (i - full) * 8;
    if (sh < 32) lo |= msg[i]! << sh;
    else hi |= msg[i]! << (sh - 32);
  }
  absorb(hi >>> 0, lo >>> 0, 2);
  v[V2 + 1] = v[V2 + 1]! ^ 0xff;
  for (let i = 0; i < 4; i++) round();
  const rh = (v[V0]! ^ v[V1]! ^ v[V2]! ^ v[V3]!) >>> 0;
  const rl = (v[V0 + 1]! ^ v[V1 + 1]! ^ v[V2 + 1]! ^ v[V3 + 1]!) >>> 0;
  return [rh, rl];
}

/** The low 32 bits of SipHash-2-4: what RFC 6528's F and RFC 6056's F/G need. */
export function sipHash32(key: SipKey, msg: Uint8Array): number {
  return sipHash24(key, msg)[1];
}
