/**
 * An HTTP server on a Linux TAP device: Oasis is the host at the other end of the TAP, and the
 * kernel (curl, a browser) reaches it like any machine on the link. Needs root (or CAP_NET_ADMIN)
 * and /dev/net/tun.
 *
 *   sudo npx tsx examples/http-on-tap.ts oasis0 10.99.0.2/24
 *   # then, in another shell, give the kernel's side of the TAP an address and bring it up:
 *   sudo ip addr add 10.99.0.1/24 dev oasis0 && sudo ip link set oasis0 up
 *   curl http://10.99.0.2/hello
 *
 * Ctrl-C closes the stack, which deletes the TAP (it was not persistent).
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, parseIpv4Cidr, RealScheduler, Stack, TapLink } from 'oasis-net';

const [tap = 'oasis0', cidr = '10.99.0.2/24'] = process.argv.slice(2);
const address = parseIpv4Cidr(cidr);
if (address === undefined) throw new Error(`not an IPv4 address/prefix: ${cidr}`);

// No seed, so the stack draws its TCP secret (ISNs, ports) from the operating system.
const stack = new Stack({ scheduler: new RealScheduler() });
// Creates the TAP (or attaches to an existing one of that name); throws EPERM without root.
stack.addInterface({ link: TapLink.open(tap), ipv4: [address] });

const web = createHttpServer((req, res) => res.end(`hello from Oasis, you asked for ${req.url}\n`));
// 'listening' starts Node's checks behind headersTimeout/requestTimeout (clients that never finish a request).
createServer(stack, (socket) => web.emit('connection', socket)).listen(80, () => {
  web.emit('listening');
  console.log(`listening on http://${cidr.split('/')[0]}/ through ${tap}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    void stack.close().then(() => process.exit(0));
  });
