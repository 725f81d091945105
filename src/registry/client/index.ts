/** The registry client's public surface. */
export { MAX_RESUMES, type OpenBlobOptions } from './blobs.js';
export { RegistryClient } from './client.js';
export type { ListOptions } from './listing.js';
export {
  type FetchedManifest,
  type GetManifestOptions,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_SIZE,
  type PutManifestResult,
} from './manifests.js';
export { isReferrersTag, type ReferrersOptions, referrerDescriptor, referrersTag } from './referrers.js';
export {
  type ClientOptions,
  DEFAULT_CONCURRENCY,
  formatRepo,
  type PushBlobOptions,
  type PushBlobResult,
  type Repo,
} from './types.js';
export { type BlobOpener, MAX_UPLOAD_ATTEMPTS, SMALL_BLOB_SIZE } from './upload.js';
