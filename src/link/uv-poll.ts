/**
 * The event-loop machinery the fd-based links share (TapLink, PacketLink): libuv's `uv_poll_*`
 * functions, which the node binary exports for addons, called through koffi, so that readiness of
 * an fd arrives on the main thread with no thread-pool hop (docs/TAP.md "Calling libc and libuv").
 *
 * One poll callback and one close callback are registered with koffi for the whole process; they
 * find their owner by the address of the poll handle. After a callback has run, every link that
 * queued frames during it writes them (`flushAll`): the microtask queue would run only some 25 µs
 * after a callback made through koffi returns (measured). Frames queued outside a callback (from a
 * timer, from the application) are written by one microtask for every link. An exception thrown by
 * an owner would vanish into libuv, so it is rethrown from `process.nextTick`.
 */
import koffi from 'koffi';

const UV_POLL = 8; // uv_handle_type, libuv's uv.h
export const UV_READABLE = 1;
export const UV_WRITABLE = 2;

/** What a poll handle reports to. */
export interface PollOwner {
  /** libuv's poll callback: `status` < 0 is an error on the fd; `events` are UV_READABLE | UV_WRITABLE. */
  handleEvents(a: Attachment, status: number, events: number): void;
  /** libuv has let go of the handle (after `uv_close`): free it and release the fd. */
  handleClosed(a: Attachment): void;
}

/** An fd with its uv_poll handle (koffi-allocated: its address must stay put while libuv knows it). */
export interface Attachment {
  readonly link: PollOwner;
  readonly fd: number;
  readonly handle: unknown;
  readonly address: number;
}

/** The libuv calls, made on the main thread's default loop. */
export interface Uv {
  loop: unknown;
  pollSize: number;
  pollInit: (loop: unknown, handle: unknown, fd: number) => number;
  pollStart: (handle: unknown, events: number, cb: unknown) => number;
  pollStop: (handle: unknown) => number;
  close: (handle: unknown, cb: unknown) => void;
  strerror: (err: number) => string;
  /** The one registered poll and close callbacks; they find the link by the handle's address. */
  onPoll: unknown;
  onClose: unknown;
}

/** A link whose queued frames are written at the end of the current callback. */
export interface Flushable {
  flush(): void;
}

let uv: Uv | undefined;
let libcLib: koffi.IKoffiLib | undefined;
/** Attachments by the address of their poll handle, until libuv has closed the handle. */
const byHandle = new Map<number, Attachment>();
/** Links with frames queued for writing. */
const unflushed: Flushable[] = [];
/** A poll callback is running: its end writes what links queued. */
let inCallback = false;
/** The microtask that writes what was queued outside a callback is pending. */
let microtaskQueued = false;

/** libc, loaded once for every link. */
export function libcLibrary(): koffi.IKoffiLib {
  libcLib ??= koffi.load('libc.so.6');
  return libcLib;
}

let errnoNames: Map<number, string> | undefined;

/** An Error for a failed libc call, with Node's `code` (EPERM, ...) and the `errno`. */
export function systemError(what: string, errno: number): Error & { code: string; errno: number } {
  errnoNames ??= new Map(Object.entries(koffi.os.errno).map(([k, v]) => [v, k]));
  const code = errnoNames.get(errno) ?? `errno ${errno}`;
  return Object.assign(new Error(`${what}: ${code}`), { code, errno });
}

export function loadUv(): Uv {
  if (uv !== undefined) return uv;
  // The running node binary itself: it exports libuv for native addons.
  const self = koffi.load(null as unknown as string);
  // The handle as a number, not a `void *`: koffi would wrap a pointer in a new External object for
  // every call, and the lookup by it would need a BigInt.
  const pollCb = koffi.proto('void oasis_uv_poll_cb(uintptr_t handle, int status, int events)');
  const closeCb = koffi.proto('void oasis_uv_close_cb(uintptr_t handle)');
  let api: Omit<Uv, 'onPoll' | 'onClose'>;
  try {
    api = {
      loop: self.func('void *uv_default_loop()')(),
      pollSize: Number(self.func('size_t uv_handle_size(int type)')(UV_POLL)),
      pollInit: self.func('int uv_poll_init(void *loop, void *handle, int fd)'),
      pollStart: self.func('int uv_poll_start(void *handle, int events, oasis_uv_poll_cb *cb)'),
      pollStop: self.func('int uv_poll_stop(void *handle)'),
      close: self.func('void uv_close(void *handle, oasis_uv_close_cb *cb)'),
      strerror: self.func('const char *uv_strerror(int err)'),
    };
  } catch (e) {
    throw new Error(`TapLink: this node binary does not export libuv's poll functions (${String(e)})`);
  }
  uv = {
    ...api,
    onPoll: koffi.register(
      (handle: number, status: number, events: number) =>
        guarded(handle, (a) => a.link.handleEvents(a, status, events)),
      koffi.pointer(pollCb),
    ),
    onClose: koffi.register(
      (handle: number) => guarded(handle, (a) => a.link.handleClosed(a)),
      koffi.pointer(closeCb),
    ),
  };
  return uv;
}

/**
 * A poll handle for `fd` (not started yet); throws with `what` in the message when libuv refuses,
 * leaving nothing allocated (the fd is the caller's to close).
 */
export function newPollHandle(fd: number, what: string): unknown {
  const u = loadUv();
  const handle = koffi.alloc('uint8_t', u.pollSize);
  const r = u.pollInit(u.loop, handle, fd);
  if (r < 0) {
    koffi.free(handle);
    throw new Error(`${what}: uv_poll_init: ${u.strerror(r)}`);
  }
  return handle;
}

/** Registers `fd` and its poll handle for `owner`: the poll callbacks find it from now on. */
export function attachPoll(owner: PollOwner, fd: number, handle: unknown): Attachment {
  const a: Attachment = { link: owner, fd, handle, address: Number(koffi.address(handle)) };
  byHandle.set(a.address, a);
  return a;
}

/**
 * (Re)starts polling `a`: readable always, writable too while `writable` (a write hit EAGAIN, a
 * transmit ring is full). `who` names the link in the error libuv's refusal throws.
 */
export function startPoll(a: Attachment, writable: boolean, who: string): void {
  const u = loadUv();
  const r = u.pollStart(a.handle, UV_READABLE | (writable ? UV_WRITABLE : 0), u.onPoll);
  if (r < 0) throw new Error(`${who}: uv_poll_start: ${u.strerror(r)}`);
}

/** Stops polling `a` and has libuv close its handle; the owner's handleClosed follows. */
export function stopPoll(a: Attachment): void {
  const u = loadUv();
  u.pollStop(a.handle);
  u.close(a.handle, u.onClose);
}

/** Forgets a handle libuv has closed and frees its memory. */
export function freePollHandle(a: Attachment): void {
  byHandle.delete(a.address);
  koffi.free(a.handle);
}

/**
 * Queues `link` to be flushed at the end of the current callback, or from a microtask when no
 * callback is running (see the module comment). One microtask, not one per link and burst: Node's
 * `queueMicrotask` makes an AsyncResource per call.
 */
export function markUnflushed(link: Flushable): void {
  unflushed.push(link);
  if (inCallback || microtaskQueued) return;
  microtaskQueued = true;
  queueMicrotask(flushFromMicrotask);
}

function flushFromMicrotask(): void {
  microtaskQueued = false;
  flushAll();
}

export function flushAll(): void {
  while (unflushed.length > 0) unflushed.pop()!.flush();
}

/**
 * Runs a libuv callback for the attachment of `handle`, then writes what it queued on any link (a
 * router forwards to other interfaces). An exception would vanish into libuv, so it is rethrown
 * from a tick.
 */
function guarded(handle: number, fn: (a: Attachment) => void): void {
  const a = byHandle.get(handle);
  if (a === undefined) return;
  inCallback = true;
  try {
    fn(a);
  } catch (e) {
    rethrowLater(e);
  } finally {
    inCallback = false;
  }
  // Also after a throw: what the callback queued before it would otherwise wait for the next one.
  try {
    flushAll();
  } catch (e) {
    rethrowLater(e);
  }
}

function rethrowLater(e: unknown): void {
  process.nextTick(() => {
    throw e;
  });
}
