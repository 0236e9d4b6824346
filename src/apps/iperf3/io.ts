/**
 * Exact-length reads over a socket (iperf3's `Nread`): the control connection is a byte stream in
 * which one-byte states and length-prefixed JSON may share a segment or be split across several.
 */
import type { Duplex } from 'node:stream';

export class ConnectionClosed extends Error {
  constructor(readonly reason?: Error) {
    super(reason ? `connection closed: ${reason.message}` : 'connection closed');
  }
}

export class ByteReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private ended: ConnectionClosed | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.serve();
  };
  private readonly onEnd = (): void => this.finish(new ConnectionClosed());
  private readonly onError = (e: Error): void => this.finish(new ConnectionClosed(e));
  /** Settles when the peer ends or the socket fails (never rejects). */
  readonly closed: Promise<ConnectionClosed>;
  private markClosed!: (e: ConnectionClosed) => void;

  constructor(private readonly socket: Duplex) {
    this.closed = new Promise((resolve) => {
      this.markClosed = resolve;
    });
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Bytes buffered and not yet read. */
  get buffered(): number {
    return this.size;
  }

  /** Exactly `n` bytes; rejects with ConnectionClosed if the stream ends first. One read at a time. */
  read(n: number): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new Error('ByteReader: a read is already pending'));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.serve();
    });
  }

  /** Stops reading: pauses the socket and hands back what was buffered (the caller resumes it). */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return rest;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return out;
  }

  private serve(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.size >= w.n) {
      this.waiter = undefined;
      w.resolve(this.take(w.n));
    } else if (this.ended) {
      this.waiter = undefined;
      w.reject(this.ended);
    }
  }

  private finish(e: ConnectionClosed): void {
    if (this.ended) return;
    this.ended = e;
    this.markClosed(e);
    this.serve();
  }
}
