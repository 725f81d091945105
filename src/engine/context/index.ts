/**
 * The build context as COPY and ADD see it: `.dockerignore` matching, source resolution with
 * Docker's wildcard and destination rules, the layer entries of a copy, and the content checksum
 * of what a copy reads for its cache key.
 */
export { type ChecksumOptions, checksumSources, FileHashCache, type FileHashCacheOptions } from './checksum.js';
export { type ChmodFunction, parseChmod } from './chmod.js';
export {
  type CopyEntriesOptions,
  copyEntries,
  type ExistingDirectory,
  imageOwner,
  type PlannedEntry,
  planEntries,
} from './copy.js';
export { type PlacedCopy, placeInRoot } from './destination.js';
export { contextPath, createMatcher, type IgnoreMatcher, loadIgnore, parseIgnoreFile } from './ignore.js';
export { cleanPath, containsWildcards, matchGlob } from './pattern.js';
export {
  type CopyPlan,
  type CopyPlanEntry,
  type CopyPlanEntryKind,
  mergePlans,
  type PlanOptions,
  planCopy,
  type ResolvedSource,
  type ResolveOptions,
  resolveSources,
  type SourceType,
} from './sources.js';
export type { SourceFilter } from './visibility.js';
