/**
 * zstd layers on any Node.js: the tar is cut into fixed blocks and each block becomes one zstd
 * frame, compressed by zstd's own C code built to WebAssembly (@bokuweb/zstd-wasm, no install
 * script). Concatenated frames are one valid zstd stream (RFC 8878 3.1), which every decoder
 * (zstd, containerd, skopeo, umoci) reads as the concatenated data. The output depends only on
 * the tar's bytes, the level and the pinned encoder, never on the Node version (Node's own zlib
 * zstd, where there is one, is not used to write: its output would change the digest with it).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { GantryError } from '../errors.js';

/** Uncompressed bytes per frame: part of the output format, so a constant. */
export const ZSTD_FRAME_SIZE = 4 * 1024 * 1024;

/** zstd's default level, as the zstd CLI, containerd and buildx use it. */
export const ZSTD_DEFAULT_LEVEL = 3;

export const ZSTD_MAX_LEVEL = 22;

interface ZstdWasm {
  compress(data: Uint8Array, level: number): Uint8Array;
}

let loading: Promise<ZstdWasm> | undefined;

/** Loads and instantiates the encoder once per process, on first use (commands without zstd never load it). */
function loadEncoder(): Promise<ZstdWasm> {
  loading ??= (async () => {
    const wasm = (await import('@bokuweb/zstd-wasm')) as unknown as ZstdWasm & { init(): Promise<void> };
    await wasm.init();
    return wasm;
  })();
  return loading;
}

export function checkZstdLevel(level: number): number {
  if (!Number.isInteger(level) || level < 1 || level > ZSTD_MAX_LEVEL) {
    throw new GantryError('INVALID_COMPRESSION_LEVEL', `zstd level ${level} is out of range`, {
      phase: 'usage',
      suggestion: `use a zstd level from 1 (fastest) to ${ZSTD_MAX_LEVEL} (smallest); 3 is the default`,
    });
  }
  return level;
}

class ZstdFrames extends Transform {
  readonly #level: number;
  readonly #block = Buffer.allocUnsafeSlow(ZSTD_FRAME_SIZE);
  #fill = 0;
  #frames = 0;
  #encoder: ZstdWasm | undefined;

  constructor(level: number) {
    super({ readableHighWaterMark: ZSTD_FRAME_SIZE });
    this.#level = level;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#ready().then(
      (encoder) => {
        try {
          for (let offset = 0; offset < chunk.length; ) {
            const n = Math.min(ZSTD_FRAME_SIZE - this.#fill, chunk.length - offset);
            chunk.copy(this.#block, this.#fill, offset, offset + n);
            this.#fill += n;
            offset += n;
            if (this.#fill === ZSTD_FRAME_SIZE) this.#frame(encoder);
          }
          callback();
        } catch (err) {
          callback(err as Error);
        }
      },
      (err: unknown) => callback(err as Error),
    );
  }

  override _flush(callback: TransformCallback): void {
    this.#ready().then(
      (encoder) => {
        try {
          // An empty tar still gets one (empty) frame: a zero-byte blob is not a zstd stream.
          if (this.#fill > 0 || this.#frames === 0) this.#frame(encoder);
          callback();
        } catch (err) {
          callback(err as Error);
        }
      },
      (err: unknown) => callback(err as Error),
    );
  }

  async #ready(): Promise<ZstdWasm> {
    this.#encoder ??= await loadEncoder();
    return this.#encoder;
  }

  #frame(encoder: ZstdWasm): void {
    const frame = encoder.compress(this.#block.subarray(0, this.#fill), this.#level);
    this.#fill = 0;
    this.#frames++;
    this.push(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
  }
}

/** A Transform from bytes to a zstd stream of fixed-size frames, byte-identical on any machine. */
export function createZstdCompressor(options: { readonly level?: number } = {}): Transform {
  return new ZstdFrames(checkZstdLevel(options.level ?? ZSTD_DEFAULT_LEVEL));
}
