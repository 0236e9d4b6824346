/**
 * Reads a capture (classic pcap or pcapng, as tcpdump, tshark and dumpcap write them) with the
 * library and prints one tcpdump-like line per frame, as `oasis pcap FILE` does.
 *
 *   npx tsx examples/read-capture.ts test/golden/tcp.pcap
 */
import { formatFrame, LINKTYPE_ETHERNET, readCaptureFile } from 'oasis-net';

const path = process.argv[2];
if (path === undefined) {
  console.error('usage: read-capture.ts FILE');
  process.exit(2);
}
// Rejects only when the file cannot be read; what is wrong inside it is a value.
const r = await readCaptureFile(path);
if (!r.ok) {
  console.error(`${path}: not a capture (${r.error.kind} at byte ${r.error.offset})`);
  process.exit(1);
}
const { frames, error } = r.value;
const start = frames[0]?.timestampMicros ?? 0;
for (const frame of frames) {
  // Seconds since the first frame (a pcapng simple packet block has no time), then the frame as
  // tcpdump would show it: formatFrame never throws, a malformed frame is printed with the reason.
  const t = frame.timestampMicros === undefined ? '-' : ((frame.timestampMicros - start) / 1e6).toFixed(6);
  const text =
    frame.linkType === LINKTYPE_ETHERNET ? formatFrame(frame.bytes) : `link type ${frame.linkType}`;
  console.log(`${t} ${text}`);
}
// A damaged or cut file: every frame before the damage was printed; say where it is.
if (error !== undefined) console.error(`${path}: ${error.kind} at byte ${error.offset}`);
