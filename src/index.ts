/** gantry's public API: the library facade the CLI stands on. */

export type { ConfigOptions } from './engine/config.js';
export { applyConfig } from './engine/config.js';
export type { OutputSpec } from './engine/output.js';
export { parseOutput, writeOutput } from './engine/output.js';
export * from './errors.js';
export type { BuildResult, DirectoryBuildOptions } from './frontend/directory.js';
export { buildDirectory } from './frontend/directory.js';
export * from './layer/archive/index.js';
export {
  decompressStream,
  type ExtractOptions,
  type ExtractStats,
  extractLayer,
  type LayerInfo,
  readTar,
  sourceDateEpoch,
  type TarEntry,
  type TarEntryType,
  type TarInput,
  tarStream,
  type WalkOptions,
  type WriteLayerOptions,
  walkDirectory,
  writeLayer,
} from './layer/index.js';
export * from './oci/index.js';
export * from './reference/index.js';
export type { ImageSummary, PruneResult, StoreEntry, StoreEntryGroup, StoreOptions } from './store/store.js';
export { defaultStoreDir, normalizeName, REF_NAME_ANNOTATION, Store } from './store/store.js';
export type { ProgressEvent, ProgressSink } from './util/progress.js';
