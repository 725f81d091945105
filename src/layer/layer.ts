/**
 * Layer blobs: one pass from tar entries to a compressed blob, measuring the diffID (digest of
 * the tar) and the digest and size of the blob on the way, and the reverse: opening a blob of
 * any supported compression as a tar stream by sniffing its magic bytes.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Duplex, Readable, Writable } from 'node:stream';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { AbortedError, GantryError, type IoOptions } from '../errors.js';
import { type Digest, MediaType } from '../oci/types.js';
import { createZstdDecompressor } from '../oci/zstd.js';
import { createParallelGzip, type ParallelGzipStream } from './gzip/parallel.js';
import type { TarInput } from './tar/types.js';
import { tarChunks, tarStream } from './tar/writer.js';
import { createZstdCompressor } from './zstd.js';

export type Compression = 'gzip' | 'zstd' | 'none';

export interface LayerInfo {
  /** Digest of the blob as written to the sink. */
  readonly digest: Digest;
  /** Digest of the uncompressed tar. */
  readonly diffID: Digest;
  /** Bytes written to the sink. */
  readonly size: number;
  /** Bytes of the uncompressed tar. */
  readonly uncompressedSize: number;
  /** OCI layer media type for the compression. */
  readonly mediaType: string;
}

export interface WriteLayerOptions extends IoOptions {
  readonly compression?: Compression;
  /** Compression level (gzip 1-9, zstd 1-22); the library default when unset. */
  readonly level?: number;
}

/** True: zstd layers are written and read on every Node.js (see ./zstd.ts and oci/zstd.ts). */
export function zstdAvailable(): boolean {
  return true;
}

/** Passes bytes through while hashing and counting them. */
class Measure extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count(chunk);
    callback(null, chunk);
  }

  /** Hashes and counts `chunk` without passing it on. */
  count(chunk: Buffer): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  digest(): Digest {
    return `sha256:${this.#hash.digest('hex')}`;
  }
}

function compressor(compression: 'gzip' | 'zstd', level: number | undefined): Duplex | ParallelGzipStream {
  if (compression === 'gzip') {
    // On every core, in blocks fixed by the tar's bytes alone: the same tar gives the same blob.
    return createParallelGzip(level === undefined ? {} : { level });
  }
  return createZstdCompressor(level === undefined ? {} : { level });
}

const MEDIA_TYPES: Readonly<Record<Compression, string>> = {
  none: MediaType.OciLayer,
  gzip: MediaType.OciLayerGzip,
  zstd: MediaType.OciLayerZstd,
};

/**
 * One pass: tar -> diffID hash -> compress -> digest hash + byte count -> sink. Never buffers a
 * whole layer. The sink is ended when the layer is complete.
 */
export async function writeLayer(
  entries: Iterable<TarInput> | AsyncIterable<TarInput>,
  sink: Writable,
  options: WriteLayerOptions = {},
): Promise<LayerInfo> {
  const compression = options.compression ?? 'gzip';
  if (!(compression in MEDIA_TYPES)) {
    throw new GantryError('INVALID_COMPRESSION', `unknown layer compression ${JSON.stringify(compression)}`, {
      phase: 'usage',
      suggestion: 'use gzip, zstd or none',
    });
  }
  const pack = compression === 'none' ? undefined : compressor(compression, options.level);
  const { signal } = options;
  const raw = new Measure();
  const blob = pack ? new Measure() : raw;
  try {
    if (pack && feedable(pack)) await feedGzip(entries, raw, pack, pipeline(pack, blob, sink, { signal }), signal);
    else if (pack) await pipeline(tarStream(entries, { signal }), raw, pack, blob, sink, { signal });
    else await pipeline(tarStream(entries, { signal }), raw, sink, { signal });
  } catch (err) {
    // Node 20's pipeline can settle before every stream of a failed chain has closed; the gzip
    // stream closes once its blocks in the workers are back, and then none are busy for us.
    if (pack) await closed(pack);
    if (signal?.aborted) throw new AbortedError({ phase: 'layer', cause: err });
    throw err;
  }
  const diffID = raw.digest();
  return {
    digest: pack ? blob.digest() : diffID,
    diffID,
    size: blob.bytes,
    uncompressedSize: raw.bytes,
    mediaType: MEDIA_TYPES[compression],
  };
}

function feedable(pack: Duplex): pack is ParallelGzipStream {
  return typeof (pack as Partial<ParallelGzipStream>).feed === 'function';
}

/**
 * The tar into the parallel gzip stream without a stream between them: each chunk is hashed and
 * copied into a gzip block before the next is read, so the tar writer can read every file into
 * one buffer (tarChunks). `out` is the pipeline from the gzip stream to the sink.
 */
async function feedGzip(
  entries: Iterable<TarInput> | AsyncIterable<TarInput>,
  raw: Measure,
  pack: ParallelGzipStream,
  out: Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  // A failure downstream destroys the gzip stream, which ends the feeding; its error is the one to report.
  const outcome = out.then(
    () => undefined,
    (error: unknown) => error ?? new Error('the layer output failed'),
  );
  try {
    for await (const chunk of tarChunks(entries, { signal })) {
      raw.count(chunk);
      const room = pack.feed(chunk);
      if (room) await room;
    }
    pack.end();
  } catch (err) {
    pack.destroy(err instanceof Error ? err : new Error(String(err)));
    throw (await outcome) ?? err;
  }
  const failed = await outcome;
  if (failed !== undefined) throw failed;
}

/** Destroys `stream` if it is not already, and resolves once it has closed. */
function closed(stream: Duplex): Promise<void> {
  if (stream.closed) return Promise.resolve();
  const done = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  if (!stream.destroyed) stream.destroy();
  return done;
}

/** Reads until `n` bytes are buffered (or the stream ends), then puts them back. */
async function peek(source: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < n) {
    const chunk = source.read() as Buffer | string | null;
    if (chunk !== null) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      chunks.push(buf);
      length += buf.length;
      continue;
    }
    if (source.readableEnded || source.destroyed) break;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        source.off('readable', onReadable);
        source.off('error', onError);
        source.off('close', onClose);
        source.off('end', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onReadable = () => done();
      const onError = (err: Error) => done(err);
      const onClose = () => done();
      source.once('readable', onReadable);
      source.once('error', onError);
      source.once('close', onClose);
      source.once('end', onClose);
    });
    if (source.errored) throw source.errored;
    if (source.readableEnded && source.readableLength === 0) break;
  }
  const head = Buffer.concat(chunks);
  if (head.length > 0) source.unshift(head);
  return head;
}

function piped(source: Readable, transform: Transform): Readable {
  // Errors on either side reach the consumer of `transform`, which is all the caller holds.
  pipeline(source, transform).catch(() => {});
  return transform;
}

/** Decompresses by sniffing magic bytes (gzip, zstd, or plain tar). */
export async function decompressStream(source: Readable): Promise<Readable> {
  const head = await peek(source, 4);
  if (head[0] === 0x1f && head[1] === 0x8b) return piped(source, zlib.createGunzip());
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    return piped(source, createZstdDecompressor());
  }
  return source;
}
