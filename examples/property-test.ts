/**
 * A property test of a small protocol over Oasis sockets: a server that answers every line with the
 * line in upper case must answer any lines, over any network fast-check draws (loss, duplication,
 * reordering, corruption, delay, MTU), with exactly those lines in upper case. Each run is two hosts
 * on simulated time, so 30 runs take a few seconds.
 *
 *   npx tsx examples/property-test.ts            # a new seed each time
 *   npx tsx examples/property-test.ts SEED PATH  # replays the failure fast-check reported
 */
import fc from 'fast-check';
import { connect, createServer, type TcpSocket } from 'oasis-net';
import { twoHosts } from 'oasis-net/testing';
import { twoHostsOptions } from 'oasis-net/testing/arbitraries';

// The protocol under test: answer each line, upper-cased; end when the client ends.
function upperCaseServer(socket: TcpSocket): void {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    const lines = (pending + text).split('\n');
    pending = lines.pop()!;
    for (const line of lines) socket.write(`${line.toUpperCase()}\n`);
  });
  socket.on('end', () => socket.end());
}

function readAll(socket: TcpSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

const [seedArg, pathArg] = process.argv.slice(2);
const seed = seedArg === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(seedArg);
const lines = fc.array(fc.string({ unit: 'grapheme-ascii' }), { maxLength: 20 });

await fc.assert(
  fc.asyncProperty(twoHostsOptions(), lines, async (network, input) => {
    const { net, a, b } = twoHosts(network);
    createServer(b, upperCaseServer).listen(7);
    const socket = connect(a, { host: '10.0.0.2', port: 7 });
    socket.end(input.map((l) => `${l}\n`).join(''));
    const answer = await net.settle(readAll(socket));
    await net.close();
    return answer === input.map((l) => `${l.toUpperCase()}\n`).join('');
  }),
  { seed, numRuns: 30, ...(pathArg === undefined ? {} : { path: pathArg }) },
);
console.log(`ok: 30 networks and inputs from seed ${seed}`);
