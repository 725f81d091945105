/** A pass-through stream that reports how many bytes went by, for progress events. */
import { Transform, type TransformCallback } from 'node:stream';

export class CountingStream extends Transform {
  #bytes = 0;
  readonly #report: ((bytes: number) => void) | undefined;

  constructor(report: ((bytes: number) => void) | undefined) {
    super();
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
