/**
 * Oasis UDP sockets side by side with node:dgram: each scenario runs on node:dgram over 127.0.0.1 and
 * on two Oasis stacks in simulation, and the events, callbacks and errors (addresses and ports
 * replaced by HOST and PORT) must be the same.
 */
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import type { UdpSocket } from '../../src/stack/udp.js';
import { twoHosts } from '../../src/testing/index.js';

type Sock = dgram.Socket | UdpSocket;

interface Side {
  /** The address of the host sockets bind to (the "server") and send to. */
  readonly host: string;
  /** A socket on the server host / on the client host. */
  server(): Sock;
  client(): Sock;
  run<T>(p: Promise<T>): Promise<T>;
}

function nodeSide(): Side {
  return {
    host: '127.0.0.1',
    server: () => dgram.createSocket('udp4'),
    client: () => dgram.createSocket('udp4'),
    run: (p) => p,
  };
}

function oasisSide(): Side {
  const { net, a, b } = twoHosts({ delay: 0.5 });
  return {
    host: '10.0.0.2',
    server: () => b.udp.createSocket('udp4'),
    client: () => a.udp.createSocket('udp4'),
    run: (p) => net.settle(p),
  };
}

async function sideBySide<T>(scenario: (side: Side) => Promise<T>): Promise<{ node: T; oasis: T }> {
  return { node: await scenario(nodeSide()), oasis: await scenario(oasisSide()) };
}

function shape(e: unknown, host: string, port: number): Record<string, unknown> | undefined {
  if (e === null || e === undefined) return undefined;
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  const hide = (s: string) => s.split(host).join('HOST').split(`:${port}`).join(':PORT');
  return {
    message: hide(err.message),
    keys: Object.keys(err),
    code: err.code,
    errno: err.errno,
    syscall: err.syscall,
    ...(err.address === undefined ? {} : { address: hide(err.address) }),
    ...(err.port === undefined ? {} : { port: err.port === port ? 'PORT' : err.port }),
  };
}

const once = (s: Sock, event: string) =>
  new Promise<unknown[]>((resolve) => s.once(event as 'close', (...a: unknown[]) => resolve(a)));

async function boundPort(side: Side, s: Sock): Promise<number> {
  await side.run(once(s, 'listening'));
  return s.address().port;
}

describe('UDP sockets, side by side with node:dgram', () => {
  it('bind: listening then the callback; address(); a message with its rinfo; close(cb)', async () => {
    const r = await sideBySide(async (side) => {
      const events: string[] = [];
      const server = side.server();
      let unbound = '';
      try {
        server.address();
      } catch (e) {
        unbound = `${(e as NodeJS.ErrnoException).code} ${(e as Error).message}`;
      }
      server.on('listening', () => events.push('listening'));
      server.bind(0, side.host, () => events.push('bind-callback'));
      const port = await boundPort(side, server);
      const a = server.address();
      const message = once(server, 'message');
      const client = side.client();
      const sent = new Promise<string>((resolve) =>
        client.send('hello', port, side.host, (err, bytes) => resolve(`${err} ${bytes}`)),
      );
      const [sendResult, [msg, rinfo]] = await side.run(Promise.all([sent, message]));
      const ri = rinfo as dgram.RemoteInfo;
      server.close(() => events.push('close-callback'));
      server.on('close', () => events.push('close'));
      await side.run(once(server, 'close'));
      client.close();
      return {
        unbound,
        events,
        address: { address: a.address === side.host, family: a.family, port: a.port === port },
        sendResult,
        msg: String(msg),
        rinfo: { keys: Object.keys(ri), family: ri.family, size: ri.size, port: ri.port > 0 },
      };
    });
    expect(r.node.events).toEqual(['listening', 'bind-callback', 'close-callback', 'close']);
    expect(r.node.sendResult).toBe('null 5');
    expect(r.oasis).toEqual(r.node);
  });

  it('EADDRINUSE from bind is an error event, not a throw', async () => {
    const r = await sideBySide(async (side) => {
      const first = side.server();
      first.bind(0, side.host);
      const port = await boundPort(side, first);
      const second = side.server();
      let threw = false;
      const error = once(second, 'error');
      try {
        second.bind(port, side.host);
      } catch {
        threw = true;
      }
      const [e] = await side.run(error);
      first.close();
      return { threw, error: shape(e, side.host, port) };
    });
    expect(r.node.error).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind', errno: -98 });
    expect(r.oasis).toEqual(r.node);
  });

  it('EMSGSIZE in the send callback for a datagram past 65507 bytes; nothing at all without a callback', async () => {
    const r = await sideBySide(async (side) => {
      const s = side.client();
      const events: string[] = [];
      s.on('error', (e) => events.push(`error:${(e as NodeJS.ErrnoException).code}`));
      s.on('listening', () => events.push('listening'));
      s.send(new Uint8Array(70_000), 9, side.host);
      const [e, bytes] = await side.run(
        new Promise<unknown[]>((resolve) =>
          s.send(new Uint8Array(65_508), 9, side.host, (...a: unknown[]) => resolve(a)),
        ),
      );
      const [, fits] = await side.run(
        new Promise<unknown[]>((resolve) =>
          s.send(new Uint8Array(1000), 9, side.host, (...a: unknown[]) => resolve(a)),
        ),
      );
      s.close();
      return { events, error: shape(e, side.host, 9), bytes, fits };
    });
    expect(r.node.error).toMatchObject({ code: 'EMSGSIZE', syscall: 'send', errno: -90 });
    expect(r.node.events).toEqual(['listening']);
    expect(r.oasis).toEqual(r.node);
  });

  it('connect: send without an address, remoteAddress(), replies heard, and the errors Node throws', async () => {
    const r = await sideBySide(async (side) => {
      const server = side.server();
      server.on('message', (m, ri) =>
        server.send(Buffer.concat([Buffer.from('re:'), m]), ri.port, ri.address),
      );
      server.bind(0, side.host);
      const port = await boundPort(side, server);
      const c = side.client();
      const events: string[] = [];
      c.on('listening', () => events.push('listening'));
      c.on('connect', () => events.push('connect'));
      const codes: string[] = [];
      const code = (f: () => unknown) => {
        try {
          f();
          codes.push('none');
        } catch (e) {
          codes.push(String((e as NodeJS.ErrnoException).code));
        }
      };
      code(() => c.remoteAddress());
      await side.run(new Promise<void>((resolve) => c.connect(port, side.host, resolve)));
      const remote = c.remoteAddress();
      code(() => c.send('x', port, side.host));
      code(() => c.send('x', port, side.host, () => {}));
      code(() => c.connect(port, side.host));
      const reply = once(c, 'message');
      c.send('hi');
      const [m] = await side.run(reply);
      c.disconnect();
      code(() => c.remoteAddress());
      c.close();
      code(() => c.close());
      code(() => c.send('x', port, side.host));
      server.close();
      return {
        events,
        remote: { address: remote.address === side.host, port: remote.port === port, family: remote.family },
        reply: String(m),
        codes,
      };
    });
    expect(r.node.codes).toEqual([
      'ERR_SOCKET_DGRAM_NOT_CONNECTED',
      // Node's quirk: on a connected socket send(msg, port, address) reads them as (offset, length),
      // and sends to the peer; with a callback after them it throws.
      'none',
      'ERR_SOCKET_DGRAM_IS_CONNECTED',
      'ERR_SOCKET_DGRAM_IS_CONNECTED',
      'ERR_SOCKET_DGRAM_NOT_CONNECTED',
      'ERR_SOCKET_DGRAM_NOT_RUNNING',
      'ERR_SOCKET_DGRAM_NOT_RUNNING',
    ]);
    expect(r.oasis).toEqual(r.node);
  });

  it('a connected socket hears only its peer', async () => {
    const { net, a, b } = twoHosts();
    const peer = b.udp.createSocket('udp4');
    const other = b.udp.createSocket('udp4');
    peer.bind(7000);
    other.bind(7001);
    const c = a.udp.createSocket('udp4');
    c.bind(6000);
    await net.settle(new Promise<void>((resolve) => c.connect(7000, '10.0.0.2', resolve)));
    const got: string[] = [];
    c.on('message', (m) => got.push(String(m)));
    other.send('from another port', 6000, '10.0.0.1');
    peer.send('from the peer', 6000, '10.0.0.1');
    await net.runFor(10);
    expect(got).toEqual(['from the peer']);
    expect(a.counters.get('udp/not-from-peer')).toBe(1);
  });

  it('the older stack.udp.bind: bound at once, dual-stack, EADDRINUSE thrown, failed sends only counted', () => {
    const { a } = twoHosts();
    const s = a.udp.bind(5000);
    expect(s.address()).toEqual({ address: '::', family: 'IPv6', port: 5000 });
    expect(() => a.udp.bind(5000)).toThrow(expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind' }));
    expect(() => s.send('x', 9, '10.9.9.9')).not.toThrow();
    expect(a.counters.get('udp/no-route')).toBe(1);
  });
});
