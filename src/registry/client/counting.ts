/** A pass-through stream that reports how many bytes went by, for progress events. */
import { Transform, type TransformCallback } from 'node:stream';

const COUNTING_HIGH_WATER_MARK = 256 * 1024;

export class CountingStream extends Transform {
  #bytes = 0;
  readonly #report: ((bytes: number) => void) | undefined;

  constructor(report: ((bytes: number) => void) | undefined) {
    // Socket chunks are 64 KiB: with the default 16 KiB mark every chunk would fill the buffer and
    // pause the source until 'drain', once per chunk.
    super({ highWaterMark: COUNTING_HIGH_WATER_MARK });
    this.#report = report;
  }

  get bytes(): number {
    return this.#bytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.byteLength;
    this.#report?.(this.#bytes);
    callback(null, chunk);
  }
}
