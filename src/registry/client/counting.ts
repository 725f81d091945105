/** Counting the bytes of an upload as they go by, for progress events. */
import { pipeline as pipelineCb, Readable, Transform, type TransformCallback } from 'node:stream';
import { type ChunkSink, drainsTo, type SinkSource } from '../../oci/stream.js';

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

/**
 * A source that can drain (a registry blob read over plain HTTP, see transport/raw.ts), counted:
 * drainTo drains the source itself with the counting in the sink, so the upload takes each piece
 * from the download's read buffer (no copy, no stream between them). Read as a stream, it is the
 * source's stream, counted.
 */
class CountingDrain extends Readable implements SinkSource {
  readonly #source: Readable & SinkSource;
  readonly #report: ((bytes: number) => void) | undefined;
  #bytes = 0;
  #reading = false;

  constructor(source: Readable & SinkSource, report: ((bytes: number) => void) | undefined) {
    super({ highWaterMark: COUNTING_HIGH_WATER_MARK });
    this.#source = source;
    this.#report = report;
    source.on('error', (err) => this.destroy(err));
  }

  drainTo(sink: ChunkSink): Promise<void> {
    // Failures reach the caller through the promise; the 'error' event must not go unheard.
    this.on('error', () => {});
    return this.#source.drainTo((piece) => {
      this.#bytes += piece.byteLength;
      this.#report?.(this.#bytes);
      return sink(piece);
    });
  }

  override _read(): void {
    if (!this.#reading) {
      this.#reading = true;
      this.#source.on('data', (chunk: Buffer) => {
        this.#bytes += chunk.byteLength;
        this.#report?.(this.#bytes);
        if (!this.push(chunk)) this.#source.pause();
      });
      this.#source.once('end', () => this.push(null));
    }
    this.#source.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#source.destroy();
    callback(err);
  }
}

/**
 * `source` with its bytes counted into `report`; `onError` hears a failure of the source (as
 * stream.pipeline's callback would).
 */
export function counted(
  source: Readable,
  report: ((bytes: number) => void) | undefined,
  onError: (err: Error | null) => void,
): Readable {
  if (!drainsTo(source)) return pipelineCb(source, new CountingStream(report), onError);
  const out = new CountingDrain(source, report);
  out.once('error', (err) => onError(err));
  return out;
}
