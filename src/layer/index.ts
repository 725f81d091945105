/** The layer module: deterministic tar, layer blobs (digest and diffID in one pass), walking and safe extraction. */
export {
  type DevicePlaceholder,
  type ExtractOptions,
  type ExtractStats,
  extractLayer,
  memberParts,
} from './extract.js';
export { createParallelGzip, GZIP_BLOCK_SIZE, type ParallelGzipOptions } from './gzip/parallel.js';
export { DeflatePool, type DeflateResult, defaultDeflateWorkers, sharedDeflatePool } from './gzip/pool.js';
export {
  type Compression,
  decompressStream,
  type LayerInfo,
  type WriteLayerOptions,
  writeLayer,
  zstdAvailable,
} from './layer.js';
export {
  BLOCK_SIZE,
  type DecodedHeader,
  decodeHeader,
  type EncodedHeader,
  encodeHeader,
  type HeaderFields,
  type HeaderFormat,
} from './tar/header.js';
export { decodePax, encodePax, type PaxRecord } from './tar/pax.js';
export { EntryAssembler, readTar } from './tar/reader.js';
export type { TarEntry, TarEntryType, TarInput } from './tar/types.js';
export { tarStream } from './tar/writer.js';
export { sourceDateEpoch, type WalkOptions, walkDirectory } from './walk.js';
export { checkZstdLevel, createZstdCompressor, ZSTD_DEFAULT_LEVEL, ZSTD_FRAME_SIZE, ZSTD_MAX_LEVEL } from './zstd.js';
