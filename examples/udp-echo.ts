/**
 * A UDP echo server (RFC 862) on one Oasis host and a client on another, in one process, written as
 * with `node:dgram`: the client sends three datagrams and prints the answers.
 *
 *   npx tsx examples/udp-echo.ts
 */
import { createSocket, memoryPair, parseIpv4Cidr, RealScheduler, Stack } from 'oasis-net';

const scheduler = new RealScheduler();
const [wireA, wireB] = memoryPair(scheduler);
const client = new Stack({ scheduler });
const server = new Stack({ scheduler });
client.addInterface({ link: wireA, ipv4: [parseIpv4Cidr('10.0.0.1/24')!] });
server.addInterface({ link: wireB, ipv4: [parseIpv4Cidr('10.0.0.2/24')!] });

// The echo server: every datagram goes back to where it came from.
const echo = createSocket(server, 'udp4', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
await new Promise<void>((resolve) => echo.bind(7, resolve));

// The client: its first send binds it to an ephemeral port. UDP does not retransmit, but on this
// lossless wire every datagram arrives (the first ones wait in the ARP queue while 10.0.0.2 is
// resolved).
const socket = createSocket(client, 'udp4');
const words = ['one', 'two', 'three'];
const replies = new Promise<void>((resolve) => {
  let left = words.length;
  socket.on('message', (msg, rinfo) => {
    console.log(`${rinfo.address}:${rinfo.port} answered ${msg.toString()}`);
    if (--left === 0) resolve();
  });
});
for (const word of words)
  socket.send(word, 7, '10.0.0.2', (err: Error | null) => {
    if (err) throw err;
  });
await replies;

socket.close();
echo.close();
await Promise.all([client.close(), server.close()]);
