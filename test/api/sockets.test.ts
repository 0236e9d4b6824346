/**
 * src/api/sockets.ts: `createServer`, `connect` and `createSocket` with the stack first, in every
 * shape their signatures offer, pass their arguments on to the stack's layers: an echo over TCP
 * and over UDP between two simulated hosts, the callbacks called, the options taken into account.
 */
import { describe, expect, it } from 'vitest';
import { connect, createServer, createSocket } from '../../src/api/sockets.js';
import type { TcpSocket } from '../../src/stack/tcp.js';
import { twoHosts } from '../../src/testing/index.js';

function readAll(socket: TcpSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString();
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('createServer and connect', () => {
  it('(stack, onConnection) and (stack, options, onConnect): an echo, the connect callback called', async () => {
    const { net, a, b } = twoHosts({ seed: 11 });
    const server = createServer(b, (s) => s.pipe(s)).listen(7);
    let connected = false;
    const socket = connect(a, { host: '10.0.0.2', port: 7 }, () => {
      connected = true;
    });
    socket.end('echo me');
    expect(await net.settle(readAll(socket))).toBe('echo me');
    expect(connected).toBe(true);
    expect(socket.remotePort).toBe(7);
    expect(server.address()?.port).toBe(7);
    await net.close();
  });

  it('(stack, port, host, onConnect), as net.connect(port, host)', async () => {
    const { net, a, b } = twoHosts({ seed: 12 });
    createServer(b, (s) => s.end('hello')).listen(80);
    let connected = false;
    const socket = connect(a, 80, '10.0.0.2', () => {
      connected = true;
    });
    expect(await net.settle(readAll(socket))).toBe('hello');
    expect(connected).toBe(true);
    expect(socket.remoteAddress).toBe('10.0.0.2');
    await net.close();
  });

  it('(stack, options, onConnection): the server options reach its sockets', async () => {
    const { net, a, b } = twoHosts({ seed: 13 });
    const accepted: TcpSocket[] = [];
    createServer(b, { allowHalfOpen: true }, (s) => {
      accepted.push(s);
      // Half-open: the client's FIN ends only the readable side, so this still goes out after it.
      s.on('end', () => s.end('after your end'));
      s.resume();
    }).listen(9);
    const socket = connect(a, { host: '10.0.0.2', port: 9, allowHalfOpen: true });
    socket.end();
    expect(await net.settle(readAll(socket))).toBe('after your end');
    expect(accepted.map((s) => s.allowHalfOpen)).toEqual([true]);
    await net.close();
  });

  it('listen errors are events: a second server on the same port gets EADDRINUSE', async () => {
    const { net, b } = twoHosts({ seed: 14 });
    createServer(b).listen(7);
    const error = new Promise<NodeJS.ErrnoException>((resolve) =>
      createServer(b).listen(7).on('error', resolve),
    );
    expect((await net.settle(error)).code).toBe('EADDRINUSE');
    await net.close();
  });
});

describe('createSocket', () => {
  it.each(['udp4', { type: 'udp4' }] as const)('(stack, %o, onMessage): a datagram echoed', async (type) => {
    const { net, a, b } = twoHosts({ seed: 15 });
    const echo = createSocket(b, type, (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
    echo.bind(7);
    const client = createSocket(a, 'udp4');
    const reply = new Promise<string>((resolve) =>
      client.on('message', (msg, rinfo) => resolve(`${rinfo.address}:${rinfo.port} ${msg.toString()}`)),
    );
    client.send('ping', 7, '10.0.0.2');
    expect(await net.settle(reply)).toBe('10.0.0.2:7 ping');
    expect(echo.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 7 });
    await net.close();
  });
});
