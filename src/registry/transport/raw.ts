/**
 * Blob GETs over plain HTTP without node:http: one connection per request (`Connection: close`),
 * read into one fixed buffer per connection (net's `onread`), the head parsed here, the body
 * framed by Content-Length, chunked encoding or the end of the connection.
 *
 * Why: node:http allocates a buffer for every socket read and its parser copies every body chunk
 * into another one; for a 40 MiB layer that is ~1,300 allocations and copies, page faults and GC
 * on the one thread that also hashes. A consumer that takes the body through `drainTo` gets each
 * piece straight from the read buffer, synchronously (hash it, write it to a file, done), so a
 * pull moves bytes socket -> hash -> page cache with no allocation per chunk (measured on a 5-blob,
 * 193 MiB pull from a loopback registry: 0.87 -> 0.35 s CPU for the transfers, RSS 85 -> 51 MiB).
 * A consumer that reads it as a stream gets copies, as from node:http.
 *
 * Used only where node:http would have made a direct plain-HTTP connection (no proxy, no TLS):
 * everything else, and every other request, goes through node:http (http.ts).
 */
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { AbortedError } from '../../errors.js';
import type { ChunkSink } from '../../oci/stream.js';
import { TransportError } from '../errors.js';
import { flatHeaders } from './body.js';

/** Bytes read from the socket at once (one buffer per connection, reused for every read). */
const READ_BUFFER = 256 * 1024;
/** A response head larger than this is refused (node:http's default limit is 16 KiB). */
const MAX_HEAD = 64 * 1024;

export interface RawHead {
  readonly status: number;
  readonly statusText: string;
  /** Lower-cased names, repeated headers joined (see body.ts flatHeaders). */
  readonly headers: Readonly<Record<string, string>>;
  /** Every value of a header. */
  all(name: string): readonly string[];
}

export interface RawExchangeOptions {
  readonly headers: Readonly<Record<string, string>>;
  readonly connectTimeoutMs: number;
  /** No byte for this long (head or body) while the consumer wants more: fail. 0: never. */
  readonly idleTimeoutMs: number;
  readonly signal?: AbortSignal;
  /** Maps a socket failure to the transport's error (`connected`: after the connection was made). */
  readonly mapError: (err: unknown, connected: boolean) => Error;
  readonly idleError: (ms: number) => Error;
  readonly connectTimeoutError: (ms: number) => Error;
}

type Framing =
  | { kind: 'length'; remaining: number }
  | { kind: 'chunked'; state: 'size' | 'data' | 'data-end' | 'trailer'; line: string; remaining: number }
  | { kind: 'close' };

function protocolError(url: URL, detail: string): TransportError {
  return new TransportError(
    'PROTOCOL_ERROR',
    'protocol',
    url.host,
    `${url.host} sent a malformed response: ${detail}`,
    {
      suggestion: 'the registry or something in front of it speaks broken HTTP; check what listens there',
    },
  );
}

function requestHead(url: URL, headers: Readonly<Record<string, string>>): string {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'host' || name === 'connection') continue;
    // node:http's own checks: a CR or LF would let a value inject headers.
    validateHeaderName(name);
    validateHeaderValue(name, value);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}connection: close\r\n\r\n`;
}

function parseHead(url: URL, text: string): RawHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw protocolError(url, `bad status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const rawHeaders: string[] = [];
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw protocolError(url, `bad header line ${JSON.stringify(line.slice(0, 80))}`);
    rawHeaders.push(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), statusText: m[2] ?? '', ...flatHeaders(rawHeaders) };
}

function framingOf(url: URL, head: RawHead): Framing {
  if (head.status === 204 || head.status === 304) return { kind: 'length', remaining: 0 };
  const te = head.headers['transfer-encoding'];
  if (te !== undefined) {
    if (te.trim().toLowerCase() !== 'chunked') throw protocolError(url, `unsupported transfer-encoding ${te}`);
    return { kind: 'chunked', state: 'size', line: '', remaining: 0 };
  }
  const cl = head.headers['content-length'];
  if (cl !== undefined) {
    const n = Number(cl);
    if (!/^\d+$/.test(cl.trim()) || !Number.isSafeInteger(n)) throw protocolError(url, `bad content-length ${cl}`);
    return { kind: 'length', remaining: n };
  }
  return { kind: 'close' };
}

/**
 * The body of a raw exchange. Until a consumer chooses, the socket is paused (bytes wait in the
 * kernel); `drainTo` hands pieces of the read buffer to a sink, reading it as a stream copies them.
 */
export class RawBody extends Readable {
  readonly #socket: Socket;
  readonly #url: URL;
  readonly #framing: Framing;
  readonly #fail: (err: unknown) => void;
  #mode: 'idle' | 'stream' | 'sink' = 'idle';
  #pending: Buffer[] = [];
  #sink: ChunkSink | undefined;
  #complete = false;
  #drained: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  /** Pieces a sink still holds (see ChunkSink). */
  #holds = 0;
  /** A failure before the consumer chose how to read: reported when it does. */
  #failure: Error | undefined;

  constructor(socket: Socket, url: URL, framing: Framing, fail: (err: unknown) => void) {
    super({ highWaterMark: 64 * 1024 });
    this.#socket = socket;
    this.#url = url;
    this.#framing = framing;
    this.#fail = fail;
    if (framing.kind === 'length' && framing.remaining === 0) this.#finish();
  }

  /** True once every byte of the body has arrived. */
  get complete(): boolean {
    return this.#complete;
  }

  /** True while the consumer does not want more (the idle timeout does not count that time). */
  get waiting(): boolean {
    return this.#mode === 'idle' || (this.#mode === 'stream' && this.readableLength >= this.readableHighWaterMark);
  }

  /**
   * Hands every remaining piece of the body to `sink`, synchronously as it is read: a piece is
   * valid only during the call. Resolves at the end of the body; rejects with the connection's
   * failure, or with what `sink` throws (the connection is then closed).
   */
  drainTo(sink: ChunkSink): Promise<void> {
    if (this.#mode !== 'idle') throw new Error('the body is already being read');
    this.#mode = 'sink';
    this.#sink = sink;
    // Failures reach the caller through the promise; the 'error' event must not go unheard.
    this.on('error', () => {});
    return new Promise<void>((resolve, reject) => {
      if (this.#failure) this.destroy(this.#failure);
      if (this.destroyed) {
        reject(this.errored ?? new AbortedError());
        return;
      }
      this.#drained = { resolve, reject };
      const pending = this.#pending;
      this.#pending = [];
      try {
        for (const piece of pending) this.#deliver(piece);
      } catch {
        return; // #deliver destroyed the body with the sink's error
      }
      if (this.#complete) this.#settle();
      else if (!this.destroyed && this.#holds === 0) this.#socket.resume();
    });
  }

  override _read(): void {
    if (this.#mode === 'sink') return;
    if (this.#failure) {
      this.destroy(this.#failure);
      return;
    }
    if (this.#mode === 'idle') {
      this.#mode = 'stream';
      const pending = this.#pending;
      this.#pending = [];
      for (const piece of pending) this.push(piece);
      if (this.#complete) {
        this.push(null);
        return;
      }
    }
    this.#socket.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#socket.destroy();
    const drained = this.#drained;
    this.#drained = undefined;
    if (drained) {
      if (err) drained.reject(err);
      else if (this.#complete) drained.resolve();
      else drained.reject(new AbortedError());
    }
    callback(err);
  }

  /**
   * Fails the body with the connection's error: at once while it is being read, else when the
   * consumer comes (its 'error' event would have nobody to hear it before).
   */
  fail(err: Error): void {
    if (this.destroyed || this.#complete) return;
    if (this.#mode !== 'idle' || this.listenerCount('error') > 0) this.destroy(err);
    else {
      this.#failure ??= err;
      this.#socket.destroy();
    }
  }

  /** Called with what the socket read after the head (`bytes` is reused after the call). */
  feed(bytes: Uint8Array): void {
    if (this.#complete || this.destroyed) return;
    const f = this.#framing;
    try {
      if (f.kind === 'close') this.#deliver(bytes);
      else if (f.kind === 'length') {
        if (bytes.byteLength > f.remaining) throw protocolError(this.#url, 'more body bytes than its content-length');
        f.remaining -= bytes.byteLength;
        this.#deliver(bytes);
        if (f.remaining === 0) this.#finish();
      } else this.#chunked(f, bytes);
    } catch (err) {
      // A sink that threw has destroyed the body with its own error already.
      if (!this.destroyed) this.#fail(err);
    }
  }

  /** The socket ended: the end of a close-delimited body, else a cut. */
  ended(): void {
    if (this.#complete || this.destroyed) return;
    if (this.#framing.kind === 'close') this.#finish();
    else this.#fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  }

  #chunked(f: Extract<Framing, { kind: 'chunked' }>, bytes: Uint8Array): void {
    let i = 0;
    while (i < bytes.byteLength && !this.#complete) {
      if (f.state === 'data') {
        const n = Math.min(f.remaining, bytes.byteLength - i);
        this.#deliver(bytes.subarray(i, i + n));
        f.remaining -= n;
        i += n;
        if (f.remaining === 0) f.state = 'data-end';
        continue;
      }
      // size, data-end and trailer are lines: gather up to the next LF.
      const lf = bytes.indexOf(10, i);
      const end = lf < 0 ? bytes.byteLength : lf;
      f.line += Buffer.from(bytes.buffer, bytes.byteOffset + i, end - i).toString('latin1');
      if (f.line.length > 4096) throw protocolError(this.#url, 'chunk line too long');
      i = end;
      if (lf < 0) break;
      i++;
      const line = f.line.replace(/\r$/, '');
      f.line = '';
      if (f.state === 'data-end') {
        if (line !== '') throw protocolError(this.#url, 'chunk not followed by CRLF');
        f.state = 'size';
      } else if (f.state === 'size') {
        const size = /^([0-9a-fA-F]{1,12})(?:;.*)?$/.exec(line.trim());
        if (!size) throw protocolError(this.#url, `bad chunk size ${JSON.stringify(line.slice(0, 40))}`);
        f.remaining = Number.parseInt(size[1] as string, 16);
        f.state = f.remaining === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.#finish();
      }
    }
  }

  #deliver(piece: Uint8Array): void {
    if (piece.byteLength === 0) return;
    if (this.#mode === 'sink') {
      let held: void | Promise<void>;
      try {
        held = (this.#sink as ChunkSink)(piece);
      } catch (err) {
        this.destroy(err as Error);
        throw err;
      }
      if (held) this.#hold(held);
    } else if (this.#mode === 'stream') {
      if (!this.push(Buffer.from(piece))) this.#socket.pause();
    } else {
      this.#pending.push(Buffer.from(piece));
      this.#socket.pause();
    }
  }

  /** The sink holds a piece of the read buffer until `held` settles: no read may overwrite it. */
  #hold(held: Promise<void>): void {
    this.#holds++;
    this.#socket.pause();
    held.then(
      () => {
        if (--this.#holds === 0 && !this.#complete && !this.destroyed) this.#socket.resume();
      },
      (err: unknown) => this.destroy(err as Error),
    );
  }

  #finish(): void {
    this.#complete = true;
    this.#socket.destroy();
    if (this.#mode === 'stream') this.push(null);
    else if (this.#mode === 'sink') this.#settle();
  }

  #settle(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.resolve();
    // The Readable side is done too (nothing will be pushed): close it so 'close' listeners run.
    this.destroy();
  }
}

export interface RawResponse extends RawHead {
  readonly body: RawBody;
}

/**
 * Sends a GET to `url` (plain http) on a new connection and resolves with the response head; the
 * body follows in `body`. The connection is closed at the end of the body or on destroy.
 */
export function rawGet(url: URL, options: RawExchangeOptions): Promise<RawResponse> {
  const head = requestHead(url, options.headers);
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(new AbortedError({ cause: signal.reason }));
  return new Promise<RawResponse>((resolve, reject) => {
    let connected = false;
    let body: RawBody | undefined;
    let headBytes: Buffer[] = [];
    let headSize = 0;
    let last = Date.now();
    let idleTimer: NodeJS.Timeout | undefined;
    let connectTimer: NodeJS.Timeout | undefined;
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER);

    const cleanup = (): void => {
      clearTimeout(idleTimer);
      clearTimeout(connectTimer);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (err: unknown): void => {
      cleanup();
      const mapped =
        err instanceof AbortedError || err instanceof TransportError ? err : options.mapError(err, connected);
      socket.destroy();
      if (body) body.fail(mapped as Error);
      else reject(mapped);
    };
    const onAbort = (): void => fail(new AbortedError({ cause: signal?.reason }));
    const armIdle = (): void => {
      const ms = options.idleTimeoutMs;
      if (ms <= 0) return;
      idleTimer = setTimeout(() => {
        const quiet = Date.now() - last;
        if (body?.complete || body?.destroyed) return;
        if (body?.waiting) last = Date.now();
        else if (quiet >= ms) {
          fail(options.idleError(ms));
          return;
        }
        armIdle();
      }, ms);
      idleTimer.unref?.();
    };

    const onHead = (bytes: Uint8Array): void => {
      headBytes.push(Buffer.from(bytes));
      headSize += bytes.byteLength;
      const all = Buffer.concat(headBytes, headSize);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        if (headSize > MAX_HEAD) fail(protocolError(url, `response head over ${MAX_HEAD} bytes`));
        else headBytes = [all];
        return;
      }
      const parsed = parseHead(url, all.subarray(0, end).toString('latin1'));
      const rest = all.subarray(end + 4);
      if (parsed.status >= 100 && parsed.status < 200) {
        // An interim answer (100 Continue, 103 Early Hints): the real head follows.
        headBytes = [];
        headSize = 0;
        if (rest.byteLength > 0) onHead(rest);
        return;
      }
      body = new RawBody(socket, url, framingOf(url, parsed), fail);
      body.once('close', cleanup);
      resolve({ ...parsed, body });
      if (rest.byteLength > 0) body.feed(rest);
      if (!body.complete && !body.destroyed && body.waiting) socket.pause();
    };

    const socket = connect({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      onread: {
        buffer: readBuffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          last = Date.now();
          const bytes = buf.subarray(0, n);
          try {
            if (body) body.feed(bytes);
            else onHead(bytes);
          } catch (err) {
            fail(err);
          }
          return true;
        },
      },
    });
    socket.setNoDelay(true);
    connectTimer = setTimeout(
      () => fail(options.connectTimeoutError(options.connectTimeoutMs)),
      options.connectTimeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      last = Date.now();
      armIdle();
    });
    socket.on('error', fail);
    socket.on('end', () => {
      if (body) body.ended();
      else fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    });
    socket.on('close', () => {
      if (body) body.ended();
      else if (connected) fail(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    });
    socket.write(head);
  });
}
