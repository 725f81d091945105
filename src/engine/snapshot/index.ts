/**
 * Snapshots for build steps: extracted layers cached by diffID, an overlayfs snapshotter whose
 * upper directory becomes the step's layer, and a walk-and-compare snapshotter for where overlay
 * cannot be mounted. The engine picks with `overlayAvailable()`.
 */
export { LAYER_XATTR_PATTERN, OPAQUE_MARKER, WHITEOUT_PREFIX } from './changes.js';
export {
  type ExtractLayerOptions,
  LayerCache,
  type LayerCacheOptions,
  toOverlayWhiteouts,
  type WhiteoutForm,
} from './layer-cache.js';
export { type MergeResult, mergeLowers } from './merge.js';
export { MAX_OVERLAY_LOWERS, OverlaySnapshotter, overlayAvailable } from './overlay.js';
export type { CommitOptions, Snapshot, Snapshotter, SnapshotterOptions } from './types.js';
export { WalkSnapshotter } from './walk.js';
