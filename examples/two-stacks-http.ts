/**
 * Two Oasis hosts in one process, joined by an in-process wire, and Node's own HTTP server and
 * client talking over them: no root, no TAP, nothing sent to a real network.
 *
 *   npx tsx examples/two-stacks-http.ts
 */
import { request } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, memoryPair, parseIpv4Cidr, RealScheduler, Stack } from 'oasis-net';

// One scheduler (the wall clock and Node's timers) for both hosts and the wire between them.
const scheduler = new RealScheduler();
const [wireA, wireB] = memoryPair(scheduler, { mtu: 1500 });
const client = new Stack({ scheduler });
const server = new Stack({ scheduler });
client.addInterface({ link: wireA, ipv4: [parseIpv4Cidr('10.0.0.1/24')!] });
server.addInterface({ link: wireB, ipv4: [parseIpv4Cidr('10.0.0.2/24')!] });

// Node's HTTP server, fed with the Oasis server's TCP connections.
const web = createHttpServer((req, res) => res.end(`hello from Oasis, you asked for ${req.url}\n`));
createServer(server, (socket) => web.emit('connection', socket)).listen(80, () => web.emit('listening'));

// Node's HTTP client, whose connection is an Oasis socket of the other host (the first request
// also resolves 10.0.0.2 with ARP over the wire).
const body = await new Promise<string>((resolve, reject) => {
  const req = request(
    {
      host: '10.0.0.2',
      path: '/index.html',
      createConnection: () => connect(client, { host: '10.0.0.2', port: 80 }),
    },
    (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    },
  );
  req.on('error', reject);
  req.end();
});
process.stdout.write(body);

// Closing the stacks stops their timers and links, so the process can exit.
await Promise.all([client.close(), server.close()]);
