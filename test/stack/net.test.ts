/**
 * Oasis TCP sockets side by side with node:net. Each scenario is written once against the shapes the
 * two share (createServer, connect, Duplex sockets) and run twice: on node:net over 127.0.0.1, and on
 * two Oasis stacks in a simulated network on virtual time. The events each socket emits, their order
 * and the errors' fields (code, errno, syscall, address, port, message, key order) must be the same;
 * only addresses and port numbers differ, and are replaced by HOST and PORT before comparing.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { twoHosts } from '../../src/testing/index.js';

/** What the scenarios use of a socket: node:net's Socket and Oasis's TcpSocket both have it. */
interface SocketLike extends Duplex {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly remoteFamily?: string | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly connecting: boolean;
  readonly pending: boolean;
  readonly readyState: string;
  address(): object;
  setNoDelay(noDelay?: boolean): unknown;
  setKeepAlive(enable?: boolean, initialDelay?: number): unknown;
  setTimeout(ms: number, cb?: () => void): unknown;
  resetAndDestroy(): unknown;
}

interface ServerLike {
  listen(port?: number, host?: string, cb?: () => void): unknown;
  address(): { address: string; family: string; port: number } | string | null;
  close(cb?: (err?: Error) => void): unknown;
  readonly listening: boolean;
  on(event: 'connection', fn: (s: SocketLike) => void): unknown;
  on(event: 'listening', fn: () => void): unknown;
  on(event: 'error', fn: (e: Error) => void): unknown;
  on(event: 'close', fn: () => void): unknown;
}

interface ConnectOpts {
  readonly port: number;
  readonly host: string;
  readonly allowHalfOpen?: boolean;
}

/** One implementation of the API, and how to wait and schedule on its clock. */
interface Side {
  readonly name: string;
  /** The address the server listens on and the client connects to. */
  readonly host: string;
  createServer(
    opts: { allowHalfOpen?: boolean; pauseOnConnect?: boolean },
    onConnection?: (s: SocketLike) => void,
  ): ServerLike;
  connect(opts: ConnectOpts, onConnect?: () => void): SocketLike;
  /** Waits for `p`, moving the side's clock. */
  run<T>(p: Promise<T>): Promise<T>;
  /** Calls `fn` after `ms` on the side's clock. */
  later(ms: number, fn: () => void): void;
  done(): Promise<void>;
}

function nodeSide(): Side {
  const servers: net.Server[] = [];
  return {
    name: 'node:net',
    host: '127.0.0.1',
    createServer: (opts, cb) => {
      const s = net.createServer(opts, cb as (s: net.Socket) => void);
      servers.push(s);
      return s as unknown as ServerLike;
    },
    connect: (opts, cb) => net.connect(opts, cb) as unknown as SocketLike,
    run: (p) => p,
    later: (ms, fn) => setTimeout(fn, ms),
    done: async () => {
      for (const s of servers) if (s.listening) s.close();
    },
  };
}

function oasisSide(): Side {
  const { net: sim, a, b } = twoHosts({ delay: 0.5 });
  return {
    name: 'oasis',
    host: '10.0.0.2',
    createServer: (opts, cb) =>
      b.tcp.createServer(opts, cb as (s: TcpSocket) => void) as unknown as ServerLike,
    connect: (opts, cb) => a.tcp.connect(opts, cb) as unknown as SocketLike,
    run: (p) => sim.settle(p),
    later: (ms, fn) => {
      sim.scheduler.at(sim.scheduler.now() + ms, fn);
    },
    done: () => sim.close(),
  };
}

/** An error as comparable data: addresses and ports replaced, every field Node sets, in its order. */
function errorShape(e: unknown, host: string, port: number | undefined): Record<string, unknown> {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  const hide = (s: string) => {
    let out = s.split(host).join('HOST');
    if (port !== undefined) out = out.split(`:${port}`).join(':PORT');
    return out;
  };
  return {
    message: hide(err.message),
    keys: Object.keys(err),
    code: err.code,
    errno: err.errno,
    syscall: err.syscall,
    address: err.address === undefined ? undefined : hide(err.address),
    port: err.port === undefined ? undefined : err.port === port ? 'PORT' : err.port,
    isError: err instanceof Error,
  };
}

/** Records the events of a socket, in order, as short strings. */
function record(s: SocketLike, trace: string[]): void {
  s.on('connect', () => trace.push('connect'));
  s.on('ready', () => trace.push('ready'));
  s.on('data', (c: Buffer) => trace.push(`data:${c.toString()}`));
  s.on('end', () => trace.push('end'));
  s.on('finish', () => trace.push('finish'));
  s.on('close', (hadError: boolean) => trace.push(`close:${hadError}`));
  s.on('error', (e: NodeJS.ErrnoException) => trace.push(`error:${e.code}:${e.syscall}`));
}

const closed = (s: SocketLike) => new Promise<void>((resolve) => s.once('close', () => resolve()));
const listening = (s: ServerLike) => new Promise<void>((resolve) => s.on('listening', resolve));

async function portOf(server: ServerLike): Promise<number> {
  await listening(server);
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  return a.port;
}

/** Runs `scenario` on both sides and returns both results. */
async function sideBySide<T>(scenario: (side: Side) => Promise<T>): Promise<{ node: T; oasis: T }> {
  const n = nodeSide();
  const o = oasisSide();
  try {
    return { node: await scenario(n), oasis: await scenario(o) };
  } finally {
    await n.done();
    await o.done();
  }
}

describe('TCP sockets, side by side with node:net', () => {
  it('a request and both ends closing: the same events in the same order on each socket', async () => {
    const r = await sideBySide(async (side) => {
      const client: string[] = [];
      const server: string[] = [];
      let serverClosed: Promise<void> | undefined;
      const srv = side.createServer({}, (s) => {
        record(s, server);
        serverClosed = closed(s);
      });
      srv.listen(0, side.host);
      const port = await side.run(portOf(srv));
      const c = side.connect({ port, host: side.host });
      record(c, client);
      c.end('hi');
      await side.run(closed(c));
      await side.run(serverClosed!);
      return { client, server };
    });
    expect(r.node.client).toEqual(['connect', 'ready', 'finish', 'end', 'close:false']);
    expect(r.oasis).toEqual(r.node);
  });

  it('the fields of a connecting, connected and closed socket', async () => {
    const r = await sideBySide(async (side) => {
      const srv = side.createServer({}, (s) => s.end());
      srv.listen(0, side.host);
      const port = await side.run(portOf(srv));
      const c = side.connect({ port, host: side.host });
      const before = {
        connecting: c.connecting,
        pending: c.pending,
        readyState: c.readyState,
        remoteAddress: c.remoteAddress,
        localPort: c.localPort,
        address: c.address(),
      };
      await side.run(new Promise((resolve) => c.once('connect', resolve)));
      const local = c.address() as { address: string; family: string; port: number };
      const after = {
        connecting: c.connecting,
        pending: c.pending,
        readyState: c.readyState,
        remoteAddress: c.remoteAddress === side.host,
        remotePort: c.remotePort === port,
        remoteFamily: c.remoteFamily,
        localAddress: typeof c.localAddress,
        localPort: typeof c.localPort === 'number' && c.localPort > 0,
        address: Object.keys(local),
        addressMatches: local.address === c.localAddress && local.port === c.localPort,
        family: local.family,
        setNoDelay: c.setNoDelay(true) === c,
        setKeepAlive: c.setKeepAlive(true, 5000) === c,
        setTimeout: c.setTimeout(0) === c,
      };
      c.resume();
      await side.run(closed(c));
      const end = { readyState: c.readyState, connecting: c.connecting };
      return { before, after, end };
    });
    expect(r.node.before).toEqual({
      connecting: true,
      pending: true,
      readyState: 'opening',
      remoteAddress: undefined,
      localPort: undefined,
      address: {},
    });
    expect(r.oasis).toEqual(r.node);
  });

  it('ECONNREFUSED on a RST to the SYN: an error event, then close with hadError', async () => {
    const r = await sideBySide(async (side) => {
      // A port nobody listens on: take one from a server and close it again.
      const srv = side.createServer({});
      srv.listen(0, side.host);
      const port = await side.run(portOf(srv));
      srv.close();
      const trace: string[] = [];
      let error: unknown;
      const c = side.connect({ port, host: side.host });
      record(c, trace);
      c.on('error', (e) => {
        error = e;
      });
      await side.run(closed(c));
      return { trace, error: errorShape(error, side.host, port), remote: c.remoteAddress };
    });
    expect(r.node.error).toMatchObject({
      code: 'ECONNREFUSED',
      syscall: 'connect',
      address: 'HOST',
      port: 'PORT',
    });
    expect(r.oasis).toEqual(r.node);
  });

  it('EADDRINUSE from listen is an error event, not a throw, and the server is not listening', async () => {
    const r = await sideBySide(async (side) => {
      const first = side.createServer({});
      first.listen(0, side.host);
      const port = await side.run(portOf(first));
      const second = side.createServer({});
      const events: string[] = [];
      second.on('listening', () => events.push('listening'));
      let error: unknown;
      const got = new Promise<void>((resolve) =>
        second.on('error', (e) => {
          error = e;
          resolve();
        }),
      );
      let threw = false;
      try {
        second.listen(port, side.host);
      } catch {
        threw = true;
      }
      await side.run(got);
      first.close();
      return { threw, events, listening: second.listening, error: errorShape(error, side.host, port) };
    });
    expect(r.node.error).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen' });
    expect(r.oasis).toEqual(r.node);
  });

  it('listen(0) picks a free port that address() reports at once; callback and listening both fire', async () => {
    const r = await sideBySide(async (side) => {
      const srv = side.createServer({});
      const order: string[] = [];
      srv.on('listening', () => order.push('event'));
      srv.listen(0, side.host, () => order.push('callback'));
      // With a host, Node looks it up first: nothing is bound yet.
      const withHost = { address: srv.address(), listening: srv.listening };
      await side.run(listening(srv));
      const a = srv.address() as { address: string; family: string; port: number };
      const bound = { address: a.address === side.host, family: a.family, port: a.port > 0 };
      // Without one it binds at once, on every address.
      const wildcard = side.createServer({});
      wildcard.listen(0);
      const w = wildcard.address() as { address: string; family: string; port: number };
      const anyAddress = {
        address: w.address,
        family: w.family,
        port: w.port > 0,
        listening: wildcard.listening,
      };
      srv.close();
      wildcard.close();
      return { withHost, bound, order, listening: srv.listening, anyAddress };
    });
    expect(r.node.withHost).toEqual({ address: null, listening: false });
    expect(r.node.anyAddress).toEqual({ address: '::', family: 'IPv6', port: true, listening: true });
    expect(r.oasis).toEqual(r.node);
  });

  it('destroy() emits no end and closes without error; the peer sees a FIN (end), not a reset', async () => {
    const r = await sideBySide(async (side) => {
      const client: string[] = [];
      const server: string[] = [];
      let serverClosed: (() => void) | undefined;
      const srv = side.createServer({}, (s) => {
        record(s, server);
        s.on('close', () => serverClosed?.());
      });
      const serverDone = new Promise<void>((resolve) => {
        serverClosed = resolve;
      });
      srv.listen(0, side.host);
      const port = await side.run(portOf(srv));
      const c = side.connect({ port, host: side.host }, () => c.destroy());
      record(c, client);
      await side.run(closed(c));
      await side.run(serverDone);
      return { client, server };
    });
    expect(r.node.client).toEqual(['connect', 'ready', 'close:false']);
    expect(r.oasis).toEqual(r.node);
  });

  it('ECONNRESET when the peer resets: a read error, close with hadError', async () => {
    const r = await sideBySide(async (side) => {
      const trace: string[] = [];
      let error: unknown;
      const srv = side.createServer({}, (s) => s.once('data', () => s.resetAndDestroy()));
      srv.listen(0, side.host);
      const port = await side.run(portOf(srv));
      const c = side.connect({ port, host: side.host }, () => c.write('x'));
      record(c, trace);
      c.on('error', (e) => {
        error = e;
      });
      await side.run(closed(c));
      return { trace, error: errorShape(error, side.host, port) };
    });
    expect(r.node.error).toMatchObject({ code: 'ECONNRESET', syscall: 'read' });
    expect(r.oasis).toEqual(r.node);
  });

  it('data then a reset: the data is read first, then ECONNRESET', async () => {
    const r = await sideBySide(async (side) => {
      const trace: string[] = [];
      // The server never reads the request (pauseOnConnect): it answers, and its close then resets
      // (RFC 9293 SHLD-3, as Linux does with unread data).
      const srv = side.createServer({ pauseOnConnect: true }, (s) => {
        side.later(20, () => s.write('payload'));
        side.later(40, () => s.destroy());
      });
      srv.listen(0, side.host);
      const port = await side.run(portOf(srv));
      const c = side.connect({ port, host: side.host }, () => c.write('request'));
      record(c, trace);
      await side.run(closed(c));
      return trace;
    });
    expect(r.node).toEqual(['connect', 'ready', 'data:payload', 'error:ECONNRESET:read', 'close:true']);
    expect(r.oasis).toEqual(r.node);
  });

  it('Oasis: a reset right behind the data still delivers the data first (as a kernel socket)', async () => {
    const side = oasisSide();
    const trace: string[] = [];
    const srv = side.createServer({ pauseOnConnect: true }, (s) =>
      side.later(20, () => {
        s.write('payload');
        s.destroy();
      }),
    );
    srv.listen(0, side.host);
    const port = await side.run(portOf(srv));
    const c = side.connect({ port, host: side.host }, () => c.write('request'));
    record(c, trace);
    await side.run(closed(c));
    await side.done();
    expect(trace).toEqual(['connect', 'ready', 'data:payload', 'error:ECONNRESET:read', 'close:true']);
  });

  it('EPIPE writing to a half-closed connection the peer then reset', async () => {
    const r = await sideBySide(async (side) => {
      const trace: string[] = [];
      let error: unknown;
      const srv = side.createServer({}, (s) => s.destroy());
      srv.listen(0, side.host);
      const port = await side.run(portOf(srv));
      const c = side.connect({ port, host: side.host, allowHalfOpen: true });
      record(c, trace);
      c.on('error', (e) => {
        error = e;
      });
      // After the peer's FIN: write every 10 ms; the first reaches a closed socket, which resets.
      c.on('end', () => {
        const tick = () => {
          if (c.destroyed) return;
          c.write('x', (e) => trace.push(e ? `write:${(e as NodeJS.ErrnoException).code}` : 'write:ok'));
          side.later(10, tick);
        };
        tick();
      });
      await side.run(closed(c));
      return { trace, error: errorShape(error, side.host, port) };
    });
    expect(r.node.trace).toEqual([
      'connect',
      'ready',
      'end',
      'write:ok',
      'write:EPIPE',
      'error:EPIPE:write',
      'close:true',
    ]);
    expect(r.oasis).toEqual(r.node);
  });

  it('a connection to a name: ENOTFOUND from getaddrinfo (Oasis has no resolver; .invalid never resolves)', async () => {
    const r = await sideBySide(async (side) => {
      let error: unknown;
      const trace: string[] = [];
      const c = side.connect({ port: 80, host: 'oasis.invalid' });
      record(c, trace);
      c.on('error', (e) => {
        error = e;
      });
      await side.run(closed(c));
      return { trace, error: errorShape(error, 'oasis.invalid', 80) };
    });
    expect(r.node.error).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo' });
    expect(r.oasis).toEqual(r.node);
  });

  it('server.close(): stops listening at once; close waits for the open connection', async () => {
    const r = await sideBySide(async (side) => {
      const events: string[] = [];
      let accepted: SocketLike | undefined;
      const srv = side.createServer({}, (s) => {
        accepted = s;
        s.resume();
      });
      srv.listen(0, side.host);
      const port = await side.run(portOf(srv));
      const c = side.connect({ port, host: side.host });
      await side.run(new Promise((resolve) => c.once('connect', resolve)));
      await side.run(new Promise<void>((resolve) => side.later(5, resolve)));
      const serverClosed = new Promise<void>((resolve) =>
        srv.close(() => {
          events.push('server-close');
          resolve();
        }),
      );
      events.push(`listening:${srv.listening}`);
      await side.run(new Promise<void>((resolve) => side.later(20, resolve)));
      events.push('client-end');
      c.end();
      c.resume();
      accepted?.on('close', () => events.push('accepted-close'));
      await side.run(serverClosed);
      return events;
    });
    // Node counts the connection out when it is destroyed, before the socket's own 'close'.
    expect(r.node).toEqual(['listening:false', 'client-end', 'server-close', 'accepted-close']);
    expect(r.oasis).toEqual(r.node);
  });

  it('throws on a bad port, as node:net does (a programmer error, not a network one)', () => {
    const { a } = twoHosts();
    const codes = (f: () => unknown) => {
      try {
        f();
        return 'no throw';
      } catch (e) {
        return (e as NodeJS.ErrnoException).code;
      }
    };
    expect(codes(() => a.tcp.connect({ port: 70_000, host: '10.0.0.2' }))).toBe(
      codes(() => net.connect({ port: 70_000, host: '127.0.0.1' })),
    );
    expect(codes(() => a.tcp.createServer().listen(-1))).toBe(codes(() => net.createServer().listen(-1)));
  });
});
