/**
 * Pushing one blob: HEAD first (the repository may have it), a cross-repository mount when the
 * caller knows another repository of the registry has it, then an upload session: one PUT for
 * small blobs, POST + one streamed PATCH + PUT for large ones, and PATCH chunks with Content-Range
 * when asked to (or when the registry or a proxy answers 413 to a large body, then with smaller
 * and smaller chunks). A chunk that fails for a temporary reason is resumed where the registry
 * says the session stands (GET on the session: its `Range`), reading the blob again from `open()`
 * and skipping what the registry has, as regctl does. Otherwise a failed attempt is abandoned and
 * a new session starts. What is sent is checked against the
 * descriptor on the way, so a wrong source fails here rather than at the registry.
 */
import { PassThrough, pipeline as pipelineCb, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, GantryError, InvalidContentError, throwIfAborted } from '../../errors.js';
import { parseDigest, verifiesItself as selfVerifies, VerifyingStream } from '../../oci/digest.js';
import { readBounded } from '../../oci/stream.js';
import type { Descriptor } from '../../oci/types.js';
import { isTemporary } from '../errors.js';
import { blobSize } from './blobs.js';
import { CountingStream, counted } from './counting.js';
import { appendQuery, type Endpoints, locationOf } from './endpoint.js';
import { type PushBlobOptions, type PushBlobResult, pullScope, pushScope, type Repo } from './types.js';

/** Blobs up to this size go in one PUT; larger ones stream in a PATCH. */
export const SMALL_BLOB_SIZE = 1024 * 1024;
/** The first chunk size tried after a 413 to a whole body. */
export const FALLBACK_CHUNK_SIZE = 4 * 1024 * 1024;
/**
 * Below this, halving chunks after 413s stops: the limit is not about body size. Low, because
 * each step costs only a refused request, and some proxies cap bodies at a few KiB.
 */
export const MIN_FALLBACK_CHUNK_SIZE = 4 * 1024;
/** Upload sessions tried per blob when attempts fail for temporary reasons. */
export const MAX_UPLOAD_ATTEMPTS = 3;
/** Resumes of a chunked upload in a row without a chunk getting through. */
export const MAX_CHUNK_RESUMES = 5;
const RETRY_BACKOFF_MS = 250;

const OCTET = 'application/octet-stream';

export type BlobOpener = () => Readable | Promise<Readable>;

interface Session {
  readonly url: URL;
  /** OCI-Chunk-Min-Length: the smallest chunk (but the last) the registry accepts. */
  readonly minChunk: number;
}

function uploadsPath(repository: string): string {
  return `/v2/${repository}/blobs/uploads/`;
}

function noLocation(repo: Repo): GantryError {
  return new GantryError('UPLOAD_NO_LOCATION', `${repo.registry} started an upload without a Location header`, {
    phase: 'push',
    suggestion: 'the registry (or a proxy in front of it) does not follow the distribution spec',
  });
}

async function startSession(
  ep: Endpoints,
  repo: Repo,
  desc: Descriptor,
  mountFrom: string | undefined,
  signal: AbortSignal | undefined,
): Promise<Session | 'mounted'> {
  const query = mountFrom !== undefined ? { mount: desc.digest, from: mountFrom } : {};
  const scopes = [pushScope(repo.repository), ...(mountFrom !== undefined ? [pullScope(mountFrom)] : [])];
  const res = await ep.expect(
    repo.registry,
    {
      method: 'POST',
      url: await ep.url(repo.registry, uploadsPath(repo.repository), query),
      headers: { 'content-length': '0' },
      body: Buffer.alloc(0),
      bodyLength: 0,
      scopes,
      signal,
    },
    mountFrom !== undefined ? [201, 202] : [202],
    { repository: repo.repository, what: `blob ${desc.digest}` },
  );
  await res.discard().catch(() => {});
  if (res.status === 201) return 'mounted';
  const url = locationOf(res);
  if (url === undefined) throw noLocation(repo);
  const min = Number(res.headers['oci-chunk-min-length']);
  return { url, minChunk: Number.isSafeInteger(min) && min > 0 ? min : 0 };
}

/** Hands out consecutive pieces of exactly `n` bytes of one stream, for chunked uploads. */
class ChunkReader {
  readonly #it: AsyncIterator<Buffer>;
  #leftover: Buffer | undefined;

  constructor(stream: Readable) {
    this.#it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  async #next(): Promise<Buffer | undefined> {
    const left = this.#leftover;
    if (left !== undefined) {
      this.#leftover = undefined;
      return left;
    }
    const r = await this.#it.next();
    return r.done ? undefined : r.value;
  }

  take(n: number, what: string): Readable {
    const gen = async function* (this: ChunkReader): AsyncGenerator<Buffer> {
      let left = n;
      while (left > 0) {
        let buf = await this.#next();
        if (buf === undefined) {
          throw new InvalidContentError('SIZE_MISMATCH', `${what} ended before its descriptor's size`, {
            phase: 'push',
            suggestion: 'the source of the blob is truncated; rebuild or re-pull it',
          });
        }
        if (buf.byteLength > left) {
          this.#leftover = buf.subarray(left);
          buf = buf.subarray(0, left);
        }
        left -= buf.byteLength;
        yield buf;
      }
    };
    return Readable.from(gen.call(this), { objectMode: false });
  }

  /** Reads on to the end, so a verifying source reports a wrong digest or a longer blob. */
  async end(what: string): Promise<void> {
    const more = await this.#next();
    if (more !== undefined && more.byteLength > 0) {
      throw new InvalidContentError('SIZE_MISMATCH', `${what} is longer than its descriptor's size`, {
        phase: 'push',
        suggestion: 'the source of the blob does not match its descriptor; rebuild or re-pull it',
      });
    }
  }

  /** Reads and drops `n` bytes (the part of the blob the registry already has). */
  async skip(n: number, what: string): Promise<void> {
    if (n <= 0) return;
    for await (const _ of this.take(n, what)) {
      // dropped
    }
  }

  close(): void {
    void this.#it.return?.().catch(() => {});
  }
}

/**
 * A request body factory over a stream that can be read once (a PATCH body). The transport never
 * opens a stream body twice (a reset after body bytes is reported as temporary instead); should
 * anything call it again, the attempt is reported as interrupted, temporary, and the upload starts
 * over in a new session.
 */
function once(stream: Readable, what: string): () => Readable {
  let used = false;
  return () => {
    if (used) {
      throw Object.assign(
        new GantryError('UPLOAD_INTERRUPTED', `the upload of ${what} was interrupted`, {
          phase: 'push',
          suggestion: 'the connection dropped during the upload; retry the push',
        }),
        { temporary: true },
      );
    }
    used = true;
    return stream;
  };
}

interface Attempt {
  readonly ep: Endpoints;
  readonly repo: Repo;
  readonly desc: Descriptor;
  readonly session: Session;
  readonly signal: AbortSignal | undefined;
}

/** Closes the session with PUT ?digest=, with the whole blob as body or none (it was PATCHed). */
async function finish(a: Attempt, url: URL, body: Buffer = Buffer.alloc(0)): Promise<void> {
  const res = await a.ep.expect(
    a.repo.registry,
    {
      method: 'PUT',
      url: appendQuery(url, 'digest', a.desc.digest),
      headers: { 'content-type': OCTET },
      body,
      bodyLength: body.byteLength,
      scopes: [pushScope(a.repo.repository)],
      signal: a.signal,
    },
    [200, 201, 204],
    { repository: a.repo.repository, what: `blob ${a.desc.digest}` },
  );
  await res.discard().catch(() => {});
}

async function patch(
  a: Attempt,
  url: URL,
  body: Readable,
  length: number,
  range: { start: number; end: number } | undefined,
): Promise<URL> {
  const headers: Record<string, string> = { 'content-type': OCTET };
  if (range) headers['content-range'] = `${range.start}-${range.end}`;
  const res = await a.ep.expect(
    a.repo.registry,
    {
      method: 'PATCH',
      url,
      headers,
      body: once(body, `blob ${a.desc.digest}`),
      bodyLength: length,
      scopes: [pushScope(a.repo.repository)],
      signal: a.signal,
    },
    [202, 204],
    { repository: a.repo.repository, what: `blob ${a.desc.digest}` },
  );
  await res.discard().catch(() => {});
  return locationOf(res) ?? url;
}

/**
 * Where the registry's upload session stands: GET on it answers 204 with `Range: 0-<last byte>`
 * and the URL to go on with. Undefined when the answer does not say.
 */
async function sessionStatus(a: Attempt, url: URL): Promise<{ url: URL; offset: number } | undefined> {
  const res = await a.ep.expect(
    a.repo.registry,
    { method: 'GET', url, scopes: [pushScope(a.repo.repository)], signal: a.signal },
    [204],
    { repository: a.repo.repository, what: `blob ${a.desc.digest}` },
  );
  await res.discard().catch(() => {});
  const range = /^\s*(?:bytes=)?0-(\d+)\s*$/.exec(res.headers.range ?? '');
  if (range === null) return undefined;
  // distribution says 0-0 for an empty session as for one byte: take it as empty (a one-byte
  // chunk sent twice is refused, and the upload then starts over).
  const last = Number(range[1]);
  return { url: locationOf(res) ?? url, offset: last === 0 ? 0 : last + 1 };
}

async function uploadChunked(
  a: Attempt,
  first: Readable,
  chunkSize: number,
  reopen: () => Promise<Readable>,
): Promise<void> {
  const what = `blob ${a.desc.digest}`;
  let reader = new ChunkReader(first);
  let url = a.session.url;
  let start = 0;
  let resumes = 0;
  try {
    for (;;) {
      try {
        while (start < a.desc.size) {
          throwIfAborted(a.signal);
          const n = Math.min(chunkSize, a.desc.size - start);
          url = await patch(a, url, reader.take(n, what), n, { start, end: start + n - 1 });
          start += n;
          resumes = 0;
        }
        await reader.end(what);
        await finish(a, url);
        return;
      } catch (err) {
        if (a.signal?.aborted || isSourceFault(err) || !isTemporary(err) || ++resumes > MAX_CHUNK_RESUMES) throw err;
        await sleep(RETRY_BACKOFF_MS * resumes, undefined, a.signal ? { signal: a.signal } : {}).catch(() => {
          throw new AbortedError({ cause: a.signal?.reason });
        });
        const status = await sessionStatus(a, url);
        if (status === undefined || status.offset > a.desc.size) throw err;
        reader.close();
        reader = new ChunkReader(await reopen());
        await reader.skip(status.offset, what);
        url = status.url;
        start = status.offset;
      }
    }
  } finally {
    reader.close();
  }
}

function isTooLarge(err: unknown): boolean {
  return GantryError.is(err) && (err as GantryError & { status?: unknown }).status === 413;
}

function isAuthFailure(err: unknown): boolean {
  const status = GantryError.is(err) ? (err as GantryError & { status?: unknown }).status : undefined;
  return status === 401 || status === 403;
}

function isSourceFault(err: unknown): boolean {
  return GantryError.is(err) && (err.code === 'DIGEST_MISMATCH' || err.code === 'SIZE_MISMATCH');
}

/** The chunk size to try after a 413, or undefined when chunks are already as small as we go. */
function shrink(current: number | undefined, bodySize: number, minChunk: number): number | undefined {
  const floor = Math.max(MIN_FALLBACK_CHUNK_SIZE, minChunk);
  const next =
    current === undefined ? Math.min(FALLBACK_CHUNK_SIZE, Math.floor(bodySize / 2)) : Math.floor(current / 2);
  const size = Math.max(next, floor);
  if (current !== undefined && size >= current) return undefined;
  if (current === undefined && size >= bodySize) return undefined;
  return size;
}

async function cancel(ep: Endpoints, repo: Repo, url: URL): Promise<void> {
  try {
    const res = await ep.send(repo.registry, { method: 'DELETE', url, scopes: [pushScope(repo.repository)] });
    await res.discard();
  } catch {
    // Best effort: the registry times abandoned uploads out anyway.
  }
}

/**
 * True when `stream` fails unless it yields exactly `desc`'s bytes: a VerifyingStream for the same
 * digest and size (what `openBlob` of the registry client and of an OCI layout return).
 */
export function verifiesItself(stream: Readable, desc: Descriptor): boolean {
  return selfVerifies(stream, desc.digest, desc.size);
}

/**
 * Pushes one blob. `open` is called once per upload attempt and must give the blob from its first
 * byte each time. Returns how the blob got there.
 */
export async function pushBlob(
  ep: Endpoints,
  repo: Repo,
  desc: Descriptor,
  open: BlobOpener,
  options: PushBlobOptions & { chunkSize?: number } = {},
): Promise<PushBlobResult> {
  const { signal } = options;
  throwIfAborted(signal);
  parseDigest(desc.digest);
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new InvalidContentError('INVALID_SIZE', `blob ${desc.digest} has an invalid size ${desc.size}`, {
      phase: 'push',
      suggestion: 'the descriptor is malformed; rebuild the image',
    });
  }
  const scopes = [pushScope(repo.repository)];
  if ((await blobSize(ep, repo, desc.digest, { signal, scopes })) !== undefined) return 'exists';
  let mountFrom =
    options.mountFrom !== undefined && options.mountFrom !== repo.repository ? options.mountFrom : undefined;
  const what = `blob ${desc.digest}`;
  let chunkSize = options.chunkSize;
  let attempts = 0;
  for (;;) {
    throwIfAborted(signal);
    attempts++;
    let session: Session | undefined;
    let source: Readable | undefined;
    let sourceError: unknown;
    // Without a mount to try, the source is opened while the session starts (for a copy, the
    // source registry's GET overlaps the destination's POST); with one, only once it is needed.
    // Until the upload reads it, a failure of the waiting source (an abort from a sibling's
    // failure) stays on the stream for the pipeline to report instead of going uncaught.
    const opening =
      mountFrom === undefined
        ? Promise.resolve()
            .then(open)
            .then((raw) => raw.on('error', () => {}))
        : undefined;
    opening?.catch(() => {});
    try {
      const started = await startSession(ep, repo, desc, mountFrom, signal);
      if (started === 'mounted') return 'mounted';
      session = started;
      const a: Attempt = { ep, repo, desc, session, signal };
      const onError = (err: NodeJS.ErrnoException | null): void => {
        if (err) sourceError ??= err;
      };
      // A source that checks itself against this very descriptor (a registry or layout blob read)
      // is not hashed a second time: that would double the CPU of a copy and check nothing more.
      const wrap = (raw: Readable): Readable =>
        verifiesItself(raw, desc)
          ? counted(raw, options.onProgress, onError)
          : pipelineCb(
              raw,
              new CountingStream(options.onProgress),
              new VerifyingStream(desc.digest, desc.size, what),
              onError,
            );
      source = wrap(await (opening ?? open()));
      if (chunkSize !== undefined) {
        // A resumed chunked upload reads the blob again from its first byte (verified whole).
        const reopen = async (): Promise<Readable> => {
          source?.destroy();
          source = wrap(await open());
          return source;
        };
        await uploadChunked(a, source, Math.max(chunkSize, session.minChunk, 1), reopen);
      } else if (desc.size <= SMALL_BLOB_SIZE) {
        // Small enough to hold: the transport may then resend the PUT as it is (it retries PUTs).
        const bytes = await readBounded(source, SMALL_BLOB_SIZE + 1, { what, ...(signal ? { signal } : {}) });
        await finish(a, session.url, bytes);
      } else {
        const next = await patch(a, session.url, source, desc.size, undefined);
        await finish(a, next);
      }
      return 'uploaded';
    } catch (caught) {
      source?.destroy();
      opening?.then(
        (raw) => raw.destroy(),
        () => {},
      );
      if (session !== undefined) await cancel(ep, repo, session.url);
      if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
      // A wrong source explains whatever the request then failed with.
      const err = isSourceFault(sourceError) ? sourceError : caught;
      if (isSourceFault(err)) throw err;
      if (session === undefined && mountFrom !== undefined && isAuthFailure(err)) {
        // Pushing here does not imply reading the source repository: upload instead of mounting.
        mountFrom = undefined;
        attempts--;
        continue;
      }
      if (isTooLarge(err)) {
        const next = shrink(chunkSize, desc.size, session?.minChunk ?? 0);
        if (next === undefined) throw err;
        chunkSize = next;
        continue;
      }
      if (attempts < MAX_UPLOAD_ATTEMPTS && (isTemporary(err) || !GantryError.is(err))) {
        await sleep(RETRY_BACKOFF_MS * 2 ** (attempts - 1), undefined, signal ? { signal } : {}).catch(() => {
          throw new AbortedError({ cause: signal?.reason });
        });
        continue;
      }
      throw err;
    }
  }
}

/** A stream over bytes already in memory (configs, manifests). */
export function bytesStream(bytes: Buffer): Readable {
  return new PassThrough().end(bytes);
}
