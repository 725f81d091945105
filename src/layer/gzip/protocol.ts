/**
 * The messages between the deflate pool (main thread) and its workers: one request per block,
 * one reply per request. Buffers travel as transferred ArrayBuffers, so no block is copied twice.
 */

/**
 * A block's buffer: an ArrayBuffer is transferred to the worker and back; a SharedArrayBuffer
 * (what the gzip stream uses) is shared, and left alone by its owner until the reply. Shared
 * memory is not counted as the receiving thread's external memory, so blocks going back and
 * forth set off no garbage collections (an ArrayBuffer's ~2 MiB per block did, dozens a layer).
 */
export type BlockBuffer = ArrayBuffer | SharedArrayBuffer;

/** One block to compress as raw deflate. */
export interface DeflateRequest {
  /** Holds the dictionary, then the data. */
  readonly buffer: BlockBuffer;
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
      readonly buffer: BlockBuffer;
      /** CRC-32 of the block's data. */
      readonly crc: number;
    }
  | { readonly ok: false; readonly message: string; readonly buffer: BlockBuffer };

/** What postMessage transfers of a block buffer: an ArrayBuffer moves, shared memory is shared. */
export function transferable(buffer: BlockBuffer): ArrayBuffer[] {
  return buffer instanceof ArrayBuffer ? [buffer] : [];
}
