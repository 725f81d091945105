/**
 * Reading zstd blobs on any Node.js: Node's own zlib zstd where the runtime has it (22.15+,
 * 23.8+), else fzstd, a streaming decoder in plain JavaScript (no install script). Either reads
 * every zstd stream (one frame or many, from any encoder); a truncated or corrupt stream is an
 * error, never a short tar.
 */
import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import type { Decompress } from 'fzstd';
import { GantryError } from '../errors.js';

/** fzstd is loaded on the first zstd blob, not by every command that may read one. */
let fzstd: typeof import('fzstd') | undefined;
function loadFzstd(): typeof import('fzstd') {
  fzstd ??= createRequire(import.meta.url)('fzstd') as typeof import('fzstd');
  return fzstd;
}

type Factory = () => Transform;

function nativeFactory(): Factory | undefined {
  const f = (zlib as unknown as { createZstdDecompress?: Factory }).createZstdDecompress;
  return typeof f === 'function' ? f.bind(zlib) : undefined;
}

function corrupt(cause: unknown): GantryError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new GantryError('ZSTD_CORRUPT', `the zstd stream is corrupt or truncated (${detail})`, {
    phase: 'layer',
    suggestion: 'the blob is damaged: fetch or build it again',
    cause,
  });
}

class ZstdDecoder extends Transform {
  readonly #decoder: Decompress;

  constructor() {
    super();
    this.#decoder = new (loadFzstd().Decompress)((chunk) => {
      // Each block fzstd hands over is a fresh array (its window is a separate buffer).
      if (chunk.length > 0) this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#decoder.push(chunk, false);
    } catch (err) {
      callback(corrupt(err));
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#decoder.push(new Uint8Array(0), true);
    } catch (err) {
      callback(corrupt(err));
      return;
    }
    callback();
  }
}

/** A Transform from a zstd stream to its bytes. */
export function createZstdDecompressor(): Transform {
  const native = nativeFactory();
  return native ? native() : new ZstdDecoder();
}
