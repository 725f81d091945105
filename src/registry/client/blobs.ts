/**
 * Reading blobs from a registry: HEAD for size and existence, and GET as one continuous stream
 * that is verified against the blob's digest and size. When the connection drops in the middle of
 * the body, the stream carries on from the last byte received with `Range: bytes=N-` (a server
 * that ignores Range and answers 200 has its first N bytes skipped), a few times at most; the
 * consumer never sees the seam, and never an unverified end.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { ContentCheck, markSelfVerifying, parseDigest, type SelfVerifying } from '../../oci/digest.js';
import { bindAbort, type ChunkSink, drainsTo, type SinkSource } from '../../oci/stream.js';
import type { Digest } from '../../oci/types.js';
import type { HttpResponse } from '../transport/types.js';
import type { Endpoints } from './endpoint.js';
import { pullScope, type Repo } from './types.js';

/** How many times one blob read resumes after a dropped connection. */
export const MAX_RESUMES = 5;
const RESUME_BACKOFF_MS = 100;

function blobPath(repository: string, digest: Digest): string {
  parseDigest(digest);
  return `/v2/${repository}/blobs/${digest}`;
}

/** HEAD: the blob's size, or undefined when the repository does not have it. */
export async function blobSize(
  ep: Endpoints,
  repo: Repo,
  digest: Digest,
  options: IoOptions & { scopes?: readonly string[] } = {},
): Promise<number | undefined> {
  throwIfAborted(options.signal);
  const res = await ep.send(repo.registry, {
    method: 'HEAD',
    url: await ep.url(repo.registry, blobPath(repo.repository, digest)),
    scopes: options.scopes ?? [pullScope(repo.repository)],
    signal: options.signal,
  });
  await res.discard().catch(() => {});
  if (res.status === 404) return undefined;
  if (res.status !== 200)
    throw await ep.error(repo.registry, res, { repository: repo.repository, what: `blob ${digest}` });
  const size = Number(res.headers['content-length']);
  return Number.isSafeInteger(size) && size >= 0 ? size : 0;
}

function contentRangeStart(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /^\s*bytes\s+(\d+)-\d+\/(\d+|\*)\s*$/i.exec(value);
  return m ? Number(m[1]) : undefined;
}

function droppedEarly(digest: Digest, got: number, total: number): GantryError {
  return new GantryError('CONNECTION_DROPPED', `blob ${digest}: connection closed after ${got} of ${total} bytes`, {
    phase: 'pull',
    suggestion: 'the network or registry keeps dropping the download; retry later',
  });
}

interface ResumeState {
  readonly ep: Endpoints;
  readonly repo: Repo;
  readonly digest: Digest;
  readonly url: URL;
  readonly total: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((bytes: number) => void) | undefined;
}

async function fetchFrom(state: ResumeState, offset: number): Promise<HttpResponse> {
  const { ep, repo, digest } = state;
  return ep.expect(
    repo.registry,
    {
      method: 'GET',
      url: state.url,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [pullScope(repo.repository)],
      bulk: true,
      signal: state.signal,
    },
    offset > 0 ? [200, 206] : [200],
    { repository: repo.repository, what: `blob ${digest}` },
  );
}

/**
 * The body bytes of `first`, then of as many Range requests as it takes to get them all, checked
 * on the way (unless the caller checks them itself): the response's chunks are hashed and handed
 * on as they arrive, with no other stream or promise per chunk between the socket and the reader.
 * The response is paused while the reader does not take more (backpressure), and the body starts
 * flowing at once, so bytes that arrive before a dropped connection are kept and a resume asks
 * only for the rest. A body read by the transport itself (raw.ts: plain HTTP) waits for the reader
 * instead, who may take it through `drainTo`: each piece straight from the socket's read buffer,
 * checked, then handed to the sink (pull writes it to the file), with no copy or stream per piece.
 */
class BlobBody extends Readable implements SelfVerifying, SinkSource {
  readonly #state: ResumeState;
  readonly #check: ContentCheck | undefined;
  #res: HttpResponse | undefined;
  #offset = 0;
  #skip = 0;
  #resumes = 0;
  /** 'idle' until the reader chooses (only for a body that waits for it, see #attach). */
  #mode: 'idle' | 'stream' | 'sink' = 'idle';
  #sink: ChunkSink | undefined;
  #sinkError: unknown;
  #drained: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  /** Every byte arrived and checked (pushed to the stream's buffer, whoever reads it). */
  #ended = false;

  constructor(state: ResumeState, first: HttpResponse, check: ContentCheck | undefined) {
    super({ highWaterMark: 64 * 1024 });
    this.#state = state;
    this.#check = check;
    if (check) markSelfVerifying(this);
    this.#attach(first);
  }

  get expected(): Digest {
    return this.#state.digest;
  }

  get expectedSize(): number | undefined {
    return this.#check?.expectedSize;
  }

  get bytesSeen(): number {
    return this.#offset;
  }

  #attach(res: HttpResponse): void {
    this.#res = res;
    if (this.#mode === 'sink' && drainsTo(res.body)) {
      // Failures come through the promise; the body's 'error' event must not go unheard.
      res.body.on('error', () => {});
      res.body.drainTo(this.#onData).then(
        () => {
          if (this.#res === res) this.#onEnd();
        },
        (err: unknown) => {
          if (this.#res !== res) return;
          if (this.#sinkError !== undefined) this.destroy(this.#sinkError as Error);
          else this.#onError(err);
        },
      );
      return;
    }
    res.body.once('error', this.#onError);
    // A body that waits for its reader (raw.ts) stays paused until one comes; any other flows now.
    if (this.#mode === 'idle' && drainsTo(res.body)) return;
    res.body.on('data', this.#onData);
    res.body.once('end', this.#onEnd);
  }

  /**
   * Hands the blob's bytes to `sink` (checked first, resumed across dropped connections as for a
   * reader), each piece valid only during the call. Only before the stream is read.
   */
  drainTo(sink: ChunkSink): Promise<void> {
    if (this.#mode !== 'idle') return Promise.reject(new Error('the blob is already being read'));
    this.#mode = 'sink';
    // Failures reach the caller through the promise; the 'error' event must not go unheard.
    this.on('error', () => {});
    this.#sink = (piece) => {
      let held: void | Promise<void>;
      try {
        held = sink(piece);
      } catch (err) {
        this.#sinkError = err;
        throw err;
      }
      return held?.catch((err: unknown) => {
        this.#sinkError = err;
        throw err;
      });
    };
    return new Promise<void>((resolve, reject) => {
      this.#drained = { resolve, reject };
      if (this.destroyed) {
        reject(this.errored ?? new AbortedError());
        return;
      }
      const res = this.#res;
      if (res !== undefined && drainsTo(res.body)) {
        res.body.off('error', this.#onError);
        this.#attach(res);
        return;
      }
      // Already flowing into this stream (or all in it): what it holds goes to the sink first;
      // without a response, a resume is on its way and attaches in sink mode.
      try {
        for (let chunk = this.read() as Buffer | null; chunk !== null; chunk = this.read() as Buffer | null) {
          // These pieces are this stream's own: a sink holding one needs no pause, but its failure
          // ends the read (and must not go unhandled).
          this.#sink?.(chunk)?.then(undefined, (err: unknown) => this.destroy(err as Error));
        }
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      if (this.#ended) {
        this.#drained = undefined;
        resolve();
        this.destroy();
      } else res?.body.resume(); // paused if this stream's buffer was full
    });
  }

  #detach(): void {
    const res = this.#res;
    if (res === undefined) return;
    this.#res = undefined;
    res.body.off('data', this.#onData);
    res.body.off('end', this.#onEnd);
    res.body.off('error', this.#onError);
    res.body.on('error', () => {});
    res.body.destroy();
  }

  readonly #onData = (chunk: Uint8Array | string): void | Promise<void> => {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.#skip > 0) {
      if (buf.byteLength <= this.#skip) {
        this.#skip -= buf.byteLength;
        return;
      }
      buf = buf.subarray(this.#skip);
      this.#skip = 0;
    }
    this.#offset += buf.byteLength;
    const wrong = this.#check?.update(buf);
    if (wrong) {
      this.destroy(wrong);
      return;
    }
    this.#state.onProgress?.(this.#offset);
    if (this.#sink) {
      const held = this.#sink(buf);
      const body = this.#res?.body;
      // A body that drains into us (raw.ts) waits for what the sink holds itself; one that emits
      // 'data' is paused until then.
      if (held && body && !drainsTo(body)) {
        body.pause();
        held.then(
          () => body.resume(),
          (err: unknown) => this.destroy(err as Error),
        );
      }
      return held;
    }
    if (!this.push(buf)) this.#res?.body.pause();
  };

  readonly #onEnd = (): void => {
    if (this.destroyed) return;
    const { total } = this.#state;
    // A clean end short of the size the descriptor promised is a drop too (a proxy that closes).
    if (total !== undefined && this.#offset < total) {
      this.#resume(droppedEarly(this.#state.digest, this.#offset, total));
      return;
    }
    this.#detach();
    const wrong = this.#check?.finish();
    if (wrong) this.destroy(wrong);
    else if (this.#drained) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained.resolve();
      this.destroy();
    } else {
      this.#ended = true;
      this.push(null);
    }
  };

  readonly #onError = (err: unknown): void => {
    const { signal } = this.#state;
    if (signal?.aborted) {
      this.destroy(new AbortedError({ cause: signal.reason }));
      return;
    }
    this.#resume(err);
  };

  /** Asks for the rest after `failure` (a dropped connection), or fails with it after MAX_RESUMES. */
  #resume(failure: unknown): void {
    this.#detach();
    if (this.#resumes >= MAX_RESUMES) {
      this.destroy(failure as Error);
      return;
    }
    this.#resumes++;
    this.#skip = 0;
    const state = this.#state;
    const offset = this.#offset;
    void (async () => {
      await sleep(RESUME_BACKOFF_MS * this.#resumes, undefined, state.signal ? { signal: state.signal } : {}).catch(
        () => {
          throw new AbortedError({ cause: state.signal?.reason });
        },
      );
      const res = await fetchFrom(state, offset);
      if (this.destroyed) {
        res.body.destroy();
        return;
      }
      if (res.status === 206) {
        const start = contentRangeStart(res.headers['content-range']);
        if (start !== offset) {
          res.body.destroy();
          throw new GantryError(
            'RANGE_INVALID',
            `blob ${state.digest}: asked for bytes from ${offset}, got a range starting at ${start ?? 'an unknown offset'}`,
            { phase: 'pull', suggestion: 'the registry answers Range requests wrongly; retry the pull' },
          );
        }
      } else {
        // The server ignored Range and sent the whole blob again: drop what we already have.
        this.#skip = offset;
      }
      this.#attach(res);
      if (this.readableLength >= this.readableHighWaterMark) res.body.pause();
    })().catch((err: unknown) => {
      this.destroy(err as Error);
    });
  }

  override _read(): void {
    const res = this.#res;
    // Read as a stream: a body that waited for its reader starts flowing (with copies).
    if (this.#mode === 'idle' && res && drainsTo(res.body)) {
      this.#mode = 'stream';
      res.body.on('data', this.#onData);
      res.body.once('end', this.#onEnd);
    }
    res?.body.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#detach();
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.reject(err ?? new AbortedError());
    callback(err);
  }
}

export interface OpenBlobOptions extends IoOptions {
  /**
   * The caller streams the blob into something that checks `desc.digest` and `desc.size` itself
   * (OciLayout.writeBlob with the expected digest), so the stream is not hashed here as well.
   * Only for such callers: the stream alone is then unverified.
   */
  readonly callerVerifies?: boolean;
  /** Called with the bytes delivered so far (counted across resumes, never restarting). */
  readonly onProgress?: (bytes: number) => void;
}

/**
 * Opens a blob: the request is made now (so a missing blob fails here), the body streams, verified
 * against `desc.digest` and `desc.size`, and resumes after dropped connections.
 */
export async function openBlob(
  ep: Endpoints,
  repo: Repo,
  desc: { readonly digest: Digest; readonly size?: number },
  options: OpenBlobOptions = {},
): Promise<Readable> {
  throwIfAborted(options.signal);
  const url = await ep.url(repo.registry, blobPath(repo.repository, desc.digest));
  const provisional: ResumeState = {
    ep,
    repo,
    digest: desc.digest,
    url,
    total: desc.size,
    signal: options.signal,
    onProgress: options.onProgress,
  };
  const first = await fetchFrom(provisional, 0);
  const length = Number(first.headers['content-length']);
  const total = desc.size ?? (Number.isSafeInteger(length) && length >= 0 ? length : undefined);
  const state: ResumeState = { ...provisional, total };
  const check =
    options.callerVerifies === true && desc.size !== undefined
      ? undefined
      : new ContentCheck(desc.digest, desc.size, `blob ${desc.digest}`);
  return bindAbort(new BlobBody(state, first, check), options.signal);
}
