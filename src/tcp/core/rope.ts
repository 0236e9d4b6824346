/**
 * A persistent byte queue for TCP's send and receive buffers: append at the back (copying the bytes
 * in, because the core must not retain views of buffers it does not own, docs/ARCHITECTURE.md "Zero-copy
 * and ownership"), drop from the front, read any range as views without copying.
 *
 * Bytes are copied into blocks (growing with the rope up to ROPE_BLOCK_SIZE, or the exact size of a
 * bigger append), or kept as they are where the caller promises never to write them again
 * (`ropeAppendShared`). A block's bytes below its `fill` mark are never written again, so views handed
 * out stay valid forever; the one exception is a receive queue's spare block that `ropeTakeInto`
 * emptied by copying out, of which no view was handed out. A version of
 * the rope may write into the spare room of its last block, or push onto the shared entry array, only
 * when it is the frontier (nothing was written after it); otherwise it copies first. Every version
 * therefore behaves as an immutable value (old versions read the same bytes as before, until a
 * ropeTakeInto on a newer one), while the
 * common linear use (each version replaced by the next) appends in amortised O(1).
 */

import { Slabs } from '../../bytes.js';

export const ROPE_BLOCK_SIZE = 16 * 1024;

/**
 * Small blocks come from shared slabs (bytes.ts `Slabs`): a receive queue drained after every segment
 * would otherwise allocate a buffer per segment. A queue holding unread bytes pins at most one slab
 * more than its bytes.
 */
const smallBlocks = new Slabs(64 * 1024, 4 * 1024);

/**
 * Receive-queue appends of 32–64 KiB (a GSO super-frame's payload, docs/TAP.md) get a whole block of
 * this size (at most twice their bytes), taken from `spareBlocks` when one is there. `ropeTakeInto`
 * gives back the blocks it empties: a receiver that copies out then allocates nothing per
 * super-frame. Without it every such block was a fresh ArrayBuffer, and ~1 GB/s of those kept V8
 * collecting for external-memory pressure (bench/PROFILE.md). Send queues keep exact blocks: nothing
 * gives theirs back, and a full-size block would double what a pinned queue holds.
 */
const SPARE_BLOCK_BYTES = 64 * 1024;
/** Spare blocks kept (2 MiB); more are left to the GC. */
const MAX_SPARE_BLOCKS = 32;
const spareBlocks: ArrayBuffer[] = [];

interface Block {
  readonly bytes: Uint8Array;
  /** Bytes written so far: the frontier. Only ever grows. */
  fill: number;
  /** `bytes` starts a SPARE_BLOCK_BYTES buffer that this block alone uses: it may be given back. */
  readonly spare: boolean;
}

/** A block for `n` bytes; a spare one (of exactly `n`: nothing is appended to it later) if asked and in range. */
function newBlock(n: number, spare: boolean): Block {
  if (spare && n >= SPARE_BLOCK_BYTES / 2 && n <= SPARE_BLOCK_BYTES) {
    const buffer = spareBlocks.pop() ?? new ArrayBuffer(SPARE_BLOCK_BYTES);
    return { bytes: new Uint8Array(buffer, 0, n), fill: 0, spare: true };
  }
  return { bytes: smallBlocks.take(n), fill: 0, spare: false };
}

interface Entry {
  readonly block: Block;
  /** Valid bytes of the block when it is not the last entry of a rope (the last uses `tailLen`). */
  readonly len: number;
}

export interface Rope {
  /** Shared with other versions: only entries in [start, end) belong to this one. */
  readonly entries: readonly Entry[];
  readonly start: number;
  readonly end: number;
  /** Bytes of entries[start] already dropped. */
  readonly headOff: number;
  /** Valid bytes of entries[end - 1]. */
  readonly tailLen: number;
  readonly length: number;
}

export const EMPTY_ROPE: Rope = { entries: [], start: 0, end: 0, headOff: 0, tailLen: 0, length: 0 };

function entryLen(r: Rope, i: number): number {
  return i === r.end - 1 ? r.tailLen : r.entries[i]!.len;
}

/**
 * `r` followed by a copy of `data`. `spare`: a receive queue read with `ropeTakeInto`, whose large
 * blocks may come from and go back to the spare pool.
 */
export function ropeAppend(r: Rope, data: Uint8Array, spare = false): Rope {
  if (data.length === 0) return r;
  let rest = data;
  let tailLen = r.tailLen;
  const tail = r.end > r.start ? r.entries[r.end - 1]!.block : null;
  // Fill the spare room of our last block if nobody wrote past us.
  if (tail !== null && tail.fill === tailLen && tailLen < tail.bytes.length) {
    const n = Math.min(tail.bytes.length - tailLen, rest.length);
    tail.bytes.set(rest.subarray(0, n), tailLen);
    tail.fill += n;
    tailLen += n;
    rest = rest.subarray(n);
  }
  if (rest.length === 0) {
    // Spelled out: a spread of this per-segment record took V8's slow path (perf).
    return {
      entries: r.entries,
      start: r.start,
      end: r.end,
      headOff: r.headOff,
      tailLen,
      length: r.length + data.length,
    };
  }
  // Blocks grow with the rope (up to ROPE_BLOCK_SIZE): a queue drained after every append (the usual
  // receive path) allocates no spare room, one that accumulates amortises its copies.
  const block = newBlock(Math.max(rest.length, Math.min(ROPE_BLOCK_SIZE, 2 * r.length)), spare);
  block.bytes.set(rest);
  block.fill = rest.length;
  return withBlock(r, tailLen, block, rest.length, data.length);
}

/**
 * `r` followed by `data` itself, without a copy: the caller promises never to write `data` again
 * (it is read until the bytes are dropped, however long that is). A block of its own, full, so no
 * later append writes into its buffer.
 */
export function ropeAppendShared(r: Rope, data: Uint8Array): Rope {
  if (data.length === 0) return r;
  return withBlock(r, r.tailLen, { bytes: data, fill: data.length, spare: false }, data.length, data.length);
}

/** `r` (its last entry now `tailLen` long) with `block` as a new last entry of `len` bytes; `added` bytes in all. */
function withBlock(r: Rope, tailLen: number, block: Block, len: number, added: number): Rope {
  let entries: Entry[];
  let start = r.start;
  let end = r.end;
  if (end === start) {
    // Empty: never extend a shared array (EMPTY_ROPE's is shared by every empty rope).
    entries = [];
    start = 0;
    end = 0;
  } else if (end === r.entries.length) {
    // Frontier of the entry array: extend it in place (no other version sees entries past `end`).
    entries = r.entries as Entry[];
  } else {
    entries = r.entries.slice(start, end);
    end -= start;
    start = 0;
  }
  if (end > start) entries[end - 1] = { block: entries[end - 1]!.block, len: tailLen };
  entries.push({ block, len });
  const headOff = r.length === 0 ? 0 : r.headOff;
  return { entries, start, end: end + 1, headOff, tailLen: len, length: r.length + added };
}

/**
 * `a` followed by `b`, sharing `b`'s blocks instead of copying its bytes: O(entries of both), whatever
 * their length. A partly dropped first block of `b` becomes a new block over exactly its live bytes, so
 * no version ever writes into it; the result may append into `b`'s last block only while it is the
 * frontier there, like any version.
 */
export function ropeConcat(a: Rope, b: Rope): Rope {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const entries: Entry[] = [];
  for (let i = a.start; i < a.end; i++) entries.push({ block: a.entries[i]!.block, len: entryLen(a, i) });
  let tailLen = b.tailLen;
  for (let i = b.start; i < b.end; i++) {
    const block = b.entries[i]!.block;
    const len = entryLen(b, i);
    if (i === b.start && b.headOff > 0) {
      const bytes = block.bytes.subarray(b.headOff, len);
      entries.push({ block: { bytes, fill: bytes.length, spare: false }, len: bytes.length });
      if (i === b.end - 1) tailLen = bytes.length;
    } else {
      entries.push({ block, len });
    }
  }
  return { entries, start: 0, end: entries.length, headOff: a.headOff, tailLen, length: a.length + b.length };
}

/** Blocks a rope's bytes lie in (its per-entry overhead). */
export function ropeChunks(r: Rope): number {
  return r.end - r.start;
}

/** The same bytes copied into one block: O(length), to bound the blocks of a rope built by many concatenations. */
export function ropeFlatten(r: Rope): Rope {
  if (r.end - r.start <= 1) return r;
  const bytes = smallBlocks.take(r.length);
  setChunks(bytes, ropeRead(r, 0, r.length));
  const block: Block = { bytes, fill: r.length, spare: false };
  return {
    entries: [{ block, len: r.length }],
    start: 0,
    end: 1,
    headOff: 0,
    tailLen: r.length,
    length: r.length,
  };
}

/** `r` without its first `n` bytes (all of them if `n` is larger). */
export function ropeDrop(r: Rope, n: number): Rope {
  if (n <= 0) return r;
  if (n >= r.length) return EMPTY_ROPE;
  let i = r.start;
  let off = r.headOff + n;
  while (off >= entryLen(r, i)) {
    off -= entryLen(r, i);
    i++;
  }
  const length = r.length - n;
  // Release the dead prefix [0, i) of a long-lived shared array once it outweighs the live entries
  // (the whole prefix: what earlier drops left there counts too, or a busy connection keeps every
  // block it ever queued).
  if (i > 64 && i > r.end - i) {
    const entries = r.entries.slice(i, r.end);
    return { entries, start: 0, end: entries.length, headOff: off, tailLen: r.tailLen, length };
  }
  return { entries: r.entries, start: i, end: r.end, headOff: off, tailLen: r.tailLen, length };
}

/**
 * Copies the first `n` bytes of `r` (clamped) into `into` and returns `r` without them: ropeRead and
 * ropeDrop for a reader that keeps no view. The spare blocks those bytes emptied are reused by later
 * appends, so no earlier version of `r` may be read afterwards (the caller keeps only the newest).
 */
export function ropeTakeInto(r: Rope, n: number, into: Uint8Array): Rope {
  const take = Math.min(n, r.length, into.length);
  setChunks(into, ropeRead(r, 0, take));
  // Entries wholly inside the bytes taken (a spare block is exactly full: nothing is appended to it).
  let left = r.headOff + take;
  for (let i = r.start; i < r.end; i++) {
    const len = entryLen(r, i);
    if (left < len) break;
    left -= len;
    const block = r.entries[i]!.block;
    if (block.spare && spareBlocks.length < MAX_SPARE_BLOCKS)
      spareBlocks.push(block.bytes.buffer as ArrayBuffer);
  }
  return ropeDrop(r, take);
}

/** Views of the bytes [offset, offset + len) (clamped to the rope), in order, without copying. */
export function ropeRead(r: Rope, offset: number, len: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = r.headOff + Math.max(0, offset);
  let want = Math.min(len, r.length - Math.max(0, offset));
  for (let i = r.start; i < r.end && want > 0; i++) {
    const l = entryLen(r, i);
    if (skip >= l) {
      skip -= l;
      continue;
    }
    const n = Math.min(l - skip, want);
    out.push(r.entries[i]!.block.bytes.subarray(skip, skip + n));
    want -= n;
    skip = 0;
  }
  return out;
}

/** One fresh buffer with the bytes [offset, offset + len): for tests and API edges only. */
export function ropeCopy(r: Rope, offset = 0, len = r.length): Uint8Array {
  return concatChunks(ropeRead(r, offset, len));
}

export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  setChunks(out, chunks);
  return out;
}

/** Copies `chunks` one after the other into `into` from `at`; returns where they end. */
export function setChunks(into: Uint8Array, chunks: readonly Uint8Array[], at = 0): number {
  let p = at;
  for (const c of chunks) {
    into.set(c, p);
    p += c.length;
  }
  return p;
}
