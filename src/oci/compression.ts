/**
 * Decompression by magic bytes, for reading a layer's tar whatever its media type says: gzip
 * (1f 8b), zstd (28 b5 2f fd) or a plain tar. Media types lie often
 * enough in the wild (Docker media types on zstd blobs, uncompressed tars labelled gzip) that
 * the bytes decide, as containerd and go-containerregistry do.
 */
import { PassThrough, pipeline as pipelineCb, type Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { AbortedError, type IoOptions, throwIfAborted } from '../errors.js';
import { bindAbort } from './stream.js';
import { createZstdDecompressor } from './zstd.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** The longest magic we look at. */
export const MAGIC_LENGTH = 4;

export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** True: zstd layers are read on every Node.js (Node's zlib zstd where it has one, else fzstd). */
export function zstdAvailable(): boolean {
  return true;
}

/** A decompressing Transform for `kind`, or undefined for 'none'. */
export function createDecompressor(kind: Compression): Transform | undefined {
  if (kind === 'gzip') return zlib.createGunzip();
  if (kind === 'zstd') return createZstdDecompressor();
  return undefined;
}

/**
 * Reads the first `n` bytes of `source` without consuming them: they are pushed back with
 * `unshift`, or, if the source already ended, a fresh stream of them is returned in its place.
 */
function peek(
  source: Readable,
  n: number,
  signal: AbortSignal | undefined,
): Promise<{ head: Buffer; stream: Readable }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    const cleanup = () => {
      settled = true;
      source.off('readable', onReadable);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const finish = (ended: boolean) => {
      cleanup();
      const head = Buffer.concat(chunks, length);
      if (ended) {
        resolve({ head, stream: pushBack(head) });
        return;
      }
      if (head.length > 0) source.unshift(head);
      resolve({ head, stream: source });
    };
    const onReadable = () => {
      if (settled) return;
      for (let chunk = source.read() as Buffer | null; chunk !== null; chunk = source.read() as Buffer | null) {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= n) {
          finish(false);
          return;
        }
      }
    };
    const onEnd = () => finish(true);
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      if (!settled) onError(new Error('stream closed before its first bytes could be read'));
    };
    const onAbort = () => {
      cleanup();
      source.destroy();
      reject(new AbortedError({ cause: signal?.reason }));
    };
    source.on('readable', onReadable);
    source.once('end', onEnd);
    source.once('error', onError);
    source.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function pushBack(head: Buffer): Readable {
  return new PassThrough().end(head);
}

/**
 * The decompressed bytes of `source`, whatever compression its magic bytes show. Errors of the
 * source (a digest mismatch, say) reach the returned stream; destroying it destroys the source.
 */
export async function decompressByMagic(source: Readable, options: IoOptions = {}): Promise<Readable> {
  throwIfAborted(options.signal);
  const { head, stream } = await peek(source, MAGIC_LENGTH, options.signal);
  let decompressor: Transform | undefined;
  try {
    decompressor = createDecompressor(detectCompression(head));
  } catch (err) {
    stream.destroy();
    throw err;
  }
  if (decompressor === undefined) return bindAbort(stream, options.signal);
  const out = pipelineCb(stream, decompressor, () => {});
  return bindAbort(out, options.signal);
}
