/**
 * Sockets shaped like `node:net` and `node:dgram`, over an Oasis stack: the same calls with the stack
 * as the first argument. The stack's TCP and UDP layers (`stack.tcp`, `stack.udp`) make and hold
 * the sockets and give them Node's behaviour (events, errors with `code` and `errno`); these
 * functions only pass the arguments on, so the two spellings always behave alike.
 *
 * @module
 */
import type { Stack } from '../stack/stack.js';
import type { TcpConnectOptions, TcpServer, TcpServerOptions, TcpSocket } from '../stack/tcp.js';
import type { RemoteInfo, UdpSocket, UdpSocketOptions, UdpSocketType } from '../stack/udp.js';

/**
 * Like `net.createServer`: a server whose `'connection'` events carry {@link TcpSocket}s (Node
 * `Duplex` streams). `listen(port)` it (`listen(0)` picks a free port, `server.address()` says
 * which); errors, `EADDRINUSE` included, arrive as `'error'` events. Node's HTTP server runs on it
 * through `httpServer.emit('connection', socket)`. Emit `'listening'` on the HTTP server too: Node
 * starts the checks behind its `headersTimeout` and `requestTimeout` on that event, and without them
 * a client that never finishes a request holds its connection for good. `keepAliveTimeout` and
 * `timeout` work either way (they are the socket's `setTimeout`, on the stack's clock).
 *
 * ```ts
 * import http from 'node:http';
 * import { createServer } from 'oasis-net';
 *
 * const server = createServer(stack, (socket) => socket.pipe(socket)); // an echo server
 * server.listen(7);
 *
 * const web = http.createServer((req, res) => res.end('hello\n'));
 * createServer(stack, (socket) => web.emit('connection', socket)).listen(80, () => web.emit('listening'));
 * ```
 */
export function createServer(stack: Stack, onConnection?: (socket: TcpSocket) => void): TcpServer;
export function createServer(
  stack: Stack,
  options: TcpServerOptions,
  onConnection?: (socket: TcpSocket) => void,
): TcpServer;
export function createServer(stack: Stack, ...args: unknown[]): TcpServer {
  return (stack.tcp.createServer as (...a: unknown[]) => TcpServer).apply(stack.tcp, args);
}

/**
 * Like `net.connect`: opens a TCP connection from `stack` and returns its socket at once; the socket
 * emits `'connect'` when the handshake is done (`onConnect` is called then) and `'error'` if it
 * fails (`ECONNREFUSED`, `ETIMEDOUT`, `EHOSTUNREACH`...). The host is an IPv4 or IPv6 address: Oasis
 * has no name resolver.
 *
 * ```ts
 * const socket = connect(stack, { host: '10.0.0.2', port: 80 }, () => socket.end('GET / HTTP/1.0\r\n\r\n'));
 * ```
 */
export function connect(stack: Stack, options: TcpConnectOptions, onConnect?: () => void): TcpSocket;
export function connect(stack: Stack, port: number, host?: string, onConnect?: () => void): TcpSocket;
export function connect(stack: Stack, port: number, onConnect?: () => void): TcpSocket;
export function connect(stack: Stack, ...args: unknown[]): TcpSocket {
  return (stack.tcp.connect as (...a: unknown[]) => TcpSocket).apply(stack.tcp, args);
}

/**
 * Like `dgram.createSocket`: an unbound UDP socket of `stack`. `bind(port, address, cb)` it (or just
 * `send`, which binds an ephemeral port), `send(msg, port, address, cb)` calls back with the error
 * (`EMSGSIZE`, `ENETUNREACH`...) or the bytes sent, and `'message'` events bring datagrams with
 * their sender. A `'udp6'` socket on a wildcard address hears IPv4 too, as on Linux.
 *
 * ```ts
 * const echo = createSocket(stack, 'udp4', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
 * echo.bind(7);
 * ```
 */
export function createSocket(
  stack: Stack,
  type: UdpSocketType | UdpSocketOptions,
  onMessage?: (msg: Buffer, rinfo: RemoteInfo) => void,
): UdpSocket {
  return stack.udp.createSocket(type, onMessage);
}
