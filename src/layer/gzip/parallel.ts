/**
 * Parallel, deterministic gzip (pigz's layout). The input is cut into fixed blocks; each block is
 * deflated in a worker, primed with the 32 KiB before it as a dictionary and ended with a sync
 * flush (the last with a finish), and the blocks are written in order between a fixed header
 * and the trailer. Block boundaries depend only on the input's bytes, never on the core count
 * or on how the input was chunked, so the same tar gives the same blob on any machine.
 */
import { setMaxListeners } from 'node:events';
import { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import { AbortedError, GantryError } from '../../errors.js';
import { crc32Combine } from './crc32.js';
import { type DeflatePool, type DeflateResult, sharedDeflatePool } from './pool.js';

/** Uncompressed bytes per block: part of the output format, so a constant. */
export const GZIP_BLOCK_SIZE = 1024 * 1024;

/** deflate's window: a block can refer back this far, so this much of its past is its dictionary. */
const WINDOW = 32 * 1024;

/** OS byte 255 ("unknown"), as Go's compress/gzip writes: the blob must not say where it was made. */
const OS_UNKNOWN = 255;

export interface ParallelGzipOptions {
  /** zlib level, -1 (the default, 6) to 9. */
  readonly level?: number;
  /** Workers to use; the process-wide pool when unset. */
  readonly pool?: DeflatePool;
}

function gzipHeader(level: number): Buffer {
  // XFL says "slowest" for 9 and "fastest" for 0-1, as zlib writes it; mtime 0, no name.
  const xfl = level === 9 ? 2 : level >= 0 && level < 2 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, OS_UNKNOWN]);
}

function gzipTrailer(crc: number, size: number): Buffer {
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc, 0);
  trailer.writeUInt32LE(size % 2 ** 32, 4);
  return trailer;
}

/** Bytes of a block buffer: the dictionary window, then room for one block. */
const BLOCK_BUFFER_SIZE = WINDOW + GZIP_BLOCK_SIZE;

type Outcome = { readonly ok: true; readonly result: DeflateResult } | { readonly ok: false; readonly error: unknown };

interface Pending {
  readonly length: number;
  outcome: Outcome | undefined;
}

type Callback = (error?: Error | null) => void;

/**
 * A Duplex rather than a Transform: Transform parks the write callback on its own terms when the
 * output is full, which can strand it while the blocks it waits for are already written out.
 */
class ParallelGzip extends Duplex {
  readonly #pool: DeflatePool;
  readonly #level: number;
  readonly #maxInFlight: number;
  readonly #cancel = new AbortController();
  /** Blocks handed to the pool, oldest first; written out in this order. */
  readonly #pending: Pending[] = [];
  /**
   * Block buffers back from the workers. Reusing them keeps a layer to a handful of buffers
   * instead of one per megabyte left for the garbage collectors of two threads.
   */
  readonly #spare: SharedArrayBuffer[] = [];
  #block: Buffer = this.#newBlock();
  #dictionaryLength = 0;
  #fill = 0;
  #outstanding = 0;
  #headerWritten = false;
  #crc = 0;
  #size = 0;
  /** The write callback held back while too many blocks are in flight or the output is full. */
  #resume: Callback | undefined;
  /** A feed() waiting for room, the same way. */
  #fed: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #finish: Callback | undefined;
  /** Set when push() said the output buffer is full; cleared when the consumer calls _read. */
  #outputFull = false;
  #onSettled: (() => void) | undefined;

  constructor(pool: DeflatePool, level: number) {
    super({ readableHighWaterMark: GZIP_BLOCK_SIZE });
    this.#pool = pool;
    this.#level = level;
    // Two blocks per worker keep every worker fed while the main thread writes out the previous one.
    this.#maxInFlight = 2 * pool.size;
    // One abort listener per queued block: more than ten is expected with many workers.
    setMaxListeners(0, this.#cancel.signal);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    this.#take(chunk);
    this.#resume = callback;
    this.#maybeResume();
  }

  /**
   * The writable side without a stream's queue: copies `chunk` into the blocks before it returns
   * (so the caller may reuse its buffer at once), then says whether to wait: a promise that
   * settles when more may be fed, or undefined. Rejects once the stream is destroyed. Not to be
   * mixed with write(); end() after the last chunk.
   */
  feed(chunk: Buffer): Promise<void> | undefined {
    if (this.destroyed) return Promise.reject(this.errored ?? new AbortedError({ phase: 'layer' }));
    this.#take(chunk);
    if (this.#pending.length < this.#maxInFlight && !this.#outputFull) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.#fed = { resolve, reject };
    });
  }

  #take(chunk: Buffer): void {
    for (let offset = 0; offset < chunk.length; ) {
      const n = Math.min(GZIP_BLOCK_SIZE - this.#fill, chunk.length - offset);
      chunk.copy(this.#block, WINDOW + this.#fill, offset, offset + n);
      this.#fill += n;
      offset += n;
      if (this.#fill === GZIP_BLOCK_SIZE) this.#submit(false);
    }
  }

  override _final(callback: Callback): void {
    // Always a last block, even an empty one: it carries the end-of-stream marker.
    this.#submit(true);
    this.#finish = callback;
    this.#drain();
  }

  override _read(): void {
    this.#outputFull = false;
    this.#maybeResume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#cancel.abort();
    // A feed() waiting for room learns that the stream is gone.
    this.#fed?.reject(error ?? new AbortedError({ phase: 'layer' }));
    this.#fed = undefined;
    this.#resume = undefined;
    this.#finish = undefined;
    // Wait for blocks already in workers, so an aborted layer leaves no worker busy for it.
    if (this.#outstanding === 0) callback(error);
    else this.#onSettled = () => callback(error);
  }

  /** A block buffer in shared memory, which the workers read in place (see protocol.ts). */
  #newBlock(): Buffer {
    return Buffer.from(this.#spare.pop() ?? new SharedArrayBuffer(BLOCK_BUFFER_SIZE));
  }

  #submit(last: boolean): void {
    const block = this.#block;
    const pending: Pending = { length: this.#fill, outcome: undefined };
    const request = {
      buffer: block.buffer as SharedArrayBuffer,
      dataOffset: WINDOW,
      dictionaryLength: this.#dictionaryLength,
      length: this.#fill,
      level: this.#level,
      last,
    };
    if (!last) {
      // The next block's dictionary is this block's tail; copy it before the buffer is transferred.
      this.#block = this.#newBlock();
      block.copy(this.#block, 0, BLOCK_BUFFER_SIZE - WINDOW, BLOCK_BUFFER_SIZE);
      this.#dictionaryLength = WINDOW;
      this.#fill = 0;
    }
    this.#pending.push(pending);
    this.#outstanding++;
    const settle = (outcome: Outcome) => {
      pending.outcome = outcome;
      this.#outstanding--;
      if (this.#outstanding === 0 && this.#onSettled) this.#onSettled();
      this.#drain();
    };
    this.#pool.run(request, { signal: this.#cancel.signal }).then(
      (result) => {
        if (!last && result.buffer instanceof SharedArrayBuffer) this.#spare.push(result.buffer);
        settle({ ok: true, result });
      },
      (error: unknown) => settle({ ok: false, error }),
    );
  }

  /** Writes out finished blocks in order; ends the stream once the last one is out. */
  #drain(): void {
    if (this.destroyed) return;
    for (let head = this.#pending[0]; head?.outcome; head = this.#pending[0]) {
      this.#pending.shift();
      if (!head.outcome.ok) {
        const { error } = head.outcome;
        this.destroy(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      const { output, crc } = head.outcome.result;
      if (!this.#headerWritten) {
        this.push(gzipHeader(this.#level));
        this.#headerWritten = true;
      }
      this.#crc = crc32Combine(this.#crc, crc, head.length);
      this.#size += head.length;
      if (!this.push(output)) this.#outputFull = true;
    }
    if (this.#finish && this.#pending.length === 0) {
      const finish = this.#finish;
      this.#finish = undefined;
      this.push(gzipTrailer(this.#crc, this.#size));
      this.push(null);
      finish();
      return;
    }
    this.#maybeResume();
  }

  /**
   * Takes more input only while fewer than two blocks per worker are in flight and the output
   * buffer has room: memory stays bounded whatever the speed of either side.
   */
  #maybeResume(): void {
    if (!this.#resume && !this.#fed) return;
    if (this.#pending.length >= this.#maxInFlight || this.#outputFull) return;
    const resume = this.#resume;
    const fed = this.#fed;
    this.#resume = undefined;
    this.#fed = undefined;
    resume?.();
    fed?.resolve();
  }
}

/** The parallel gzip stream, with feed() for a writer that lends its chunks. */
export interface ParallelGzipStream extends Duplex {
  feed(chunk: Buffer): Promise<void> | undefined;
}

/** A Transform from bytes to a gzip stream, compressed on every core, byte-identical on any machine. */
export function createParallelGzip(options: ParallelGzipOptions = {}): ParallelGzipStream {
  const level = options.level ?? zlib.constants.Z_DEFAULT_COMPRESSION;
  if (!Number.isInteger(level) || level < -1 || level > 9) {
    throw new GantryError('INVALID_COMPRESSION_LEVEL', `gzip level ${level} is out of range`, {
      phase: 'usage',
      suggestion: 'use a gzip level from 1 (fastest) to 9 (smallest), or 0 to store',
    });
  }
  return new ParallelGzip(options.pool ?? sharedDeflatePool(), level);
}
