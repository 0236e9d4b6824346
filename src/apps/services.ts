/**
 * Small classic services on Oasis sockets: echo (RFC 862), discard (RFC 863) and chargen (RFC 864),
 * over TCP and, for echo and discard, UDP.
 */
import type { Stack } from '../stack/stack.js';
import type { TcpSocket } from '../stack/tcp.js';

// Handlers shared by every connection (`this` is the socket): an idle connection then holds no
// closures of its own, only the stream's listener slots.
function ignore(): void {}
function endSocket(this: TcpSocket): void {
  this.end();
}
function destroySocket(this: TcpSocket): void {
  this.destroy();
}

export function echoService(stack: Stack, port: number): void {
  stack.tcp.createServer((s) => s.pipe(s).on('error', destroySocket)).listen(port);
  const udp = stack.udp.bind(port);
  udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
}

export function discardService(stack: Stack, port: number): void {
  stack.tcp
    .createServer((s) => {
      s.on('data', ignore);
      s.on('end', endSocket);
      s.on('error', destroySocket);
    })
    .listen(port);
  stack.udp.bind(port);
}

/** RFC 864: lines of 72 printable ASCII characters, each line starting one character later. */
export function chargenLine(n: number): Buffer {
  const line = Buffer.alloc(74);
  for (let i = 0; i < 72; i++) line[i] = 32 + ((n + i) % 95);
  line[72] = 13;
  line[73] = 10;
  return line;
}

export function chargenService(stack: Stack, port: number): void {
  // One period of the pattern (95 lines), sent again and again as one block.
  const block = Buffer.concat(Array.from({ length: 95 }, (_, n) => chargenLine(n)));
  stack.tcp
    .createServer((s: TcpSocket) => {
      let open = true;
      const pump = () => {
        while (open && s.write(block)) {}
      };
      s.on('drain', pump);
      s.on('data', () => {});
      s.on('end', () => {
        open = false;
        s.end();
      });
      s.on('error', () => {
        open = false;
        s.destroy();
      });
      s.on('close', () => {
        open = false;
      });
      pump();
    })
    .listen(port);
}
