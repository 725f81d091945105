/**
 * Small stream helpers the OCI model needs: turning an AbortSignal into our AbortedError (on a
 * promise or on a stream handed to a caller), and reading a small blob (a manifest, a config)
 * into memory with a hard limit so a hostile source cannot make us buffer a layer.
 */
import type { Readable } from 'node:stream';
import { AbortedError, GantryError, type IoOptions, throwIfAborted } from '../errors.js';

/** Manifests, indexes and configs larger than this are refused (registries cap manifests at 4 MiB). */
export const MAX_SMALL_BLOB = 32 * 1024 * 1024;

/** Rethrows `err`, as AbortedError when it came from `signal` firing. */
export function rethrowAborted(err: unknown, signal: AbortSignal | undefined): never {
  if (signal?.aborted && !GantryError.is(err)) throw new AbortedError({ cause: signal.reason });
  throw err;
}

/**
 * Destroys `stream` with AbortedError when `signal` fires, so a stream returned to a caller honours
 * the signal it was opened with. The listener goes away when the stream closes.
 */
export function bindAbort<T extends Readable>(stream: T, signal: AbortSignal | undefined): T {
  if (signal === undefined) return stream;
  if (signal.aborted) {
    stream.destroy(new AbortedError({ cause: signal.reason }));
    return stream;
  }
  const onAbort = () => stream.destroy(new AbortedError({ cause: signal.reason }));
  signal.addEventListener('abort', onAbort, { once: true });
  stream.once('close', () => signal.removeEventListener('abort', onAbort));
  return stream;
}

/** Reads `stream` to the end into one Buffer; fails with BLOB_TOO_LARGE past `limit` bytes. */
export async function readBounded(
  stream: Readable,
  limit: number = MAX_SMALL_BLOB,
  options: IoOptions & { what?: string } = {},
): Promise<Buffer> {
  throwIfAborted(options.signal);
  bindAbort(stream, options.signal);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buf: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += buf.byteLength;
      if (size > limit) {
        throw new GantryError('BLOB_TOO_LARGE', `${options.what ?? 'blob'} is larger than ${limit} bytes`, {
          phase: 'io',
          suggestion: 'this is not a manifest or config; check the digest and media type it was read as',
        });
      }
      chunks.push(buf);
    }
  } catch (err) {
    stream.destroy();
    rethrowAborted(err, options.signal);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Takes a stream's bytes piece by piece. A piece is valid only during the call (its memory is
 * reused for the next read), so a sink hashes it, writes it out or copies it; or the sink returns
 * a promise and holds the piece until it settles (a socket write): the source reads nothing more
 * meanwhile. A rejected promise ends the source with that error.
 */
export type ChunkSink = (chunk: Uint8Array) => void | Promise<void>;

/** A Readable that can also hand its bytes to a ChunkSink, without a stream or a copy per piece. */
export interface SinkSource {
  /** Resolves when every byte went to `sink`; rejects with the source's failure or what `sink` threw. */
  drainTo(sink: ChunkSink): Promise<void>;
}

export function drainsTo(stream: unknown): stream is Readable & SinkSource {
  return typeof (stream as Partial<SinkSource> | null)?.drainTo === 'function';
}

const BLOB_FILE = Symbol('gantry.blobFile');

/**
 * Marks `stream` as the content of the blob file at `path`, which this process wrote and hashed
 * itself: a copier that writes the blob to a file may copy that file instead (no byte read or
 * hashed again: "verification never hashes a byte twice"). The stream stays usable as it is.
 */
export function markBlobFile<T extends Readable>(stream: T, path: string): T {
  (stream as unknown as { [BLOB_FILE]?: string })[BLOB_FILE] = path;
  return stream;
}

/** The file behind a stream marked by markBlobFile, if any. */
export function blobFileOf(stream: Readable): string | undefined {
  return (stream as unknown as { [BLOB_FILE]?: string })[BLOB_FILE];
}
