/**
 * The messages between the deflate pool (main thread) and its workers: one request per block,
 * one reply per request. Buffers travel as transferred ArrayBuffers, so no block is copied twice.
 */

/** One block to compress as raw deflate. */
export interface DeflateRequest {
  /** Holds the dictionary, then the data; transferred to the worker. */
  readonly buffer: ArrayBuffer;
  /** Where the data starts; the dictionary is the `dictionaryLength` bytes just before it. */
  readonly dataOffset: number;
  readonly dictionaryLength: number;
  readonly length: number;
  /** zlib level, -1 (default) to 9. */
  readonly level: number;
  /** The last block ends the deflate stream (Z_FINISH); the others end on a byte boundary. */
  readonly last: boolean;
}

export type DeflateReply =
  | {
      readonly ok: true;
      /** Holds the raw deflate bytes from offset 0; may be larger than they are. */
      readonly output: ArrayBuffer;
      readonly outputLength: number;
      /** The request's buffer, handed back so the next block can reuse it. */
      readonly buffer: ArrayBuffer;
      /** CRC-32 of the block's data. */
      readonly crc: number;
    }
  | { readonly ok: false; readonly message: string; readonly buffer: ArrayBuffer };
