/**
 * The client's vocabulary: which repository a request is about, the options a RegistryClient is
 * made with, what a blob push ended as, and the token scopes of docker's token spec that each
 * kind of request asks for.
 */
import type { IoOptions } from '../../errors.js';
import type { Digest } from '../../oci/types.js';
import type { ProgressSink } from '../../util/progress.js';
import type { TransportOptions } from '../transport/stack.js';

/** A repository on a registry: `{ registry: 'ghcr.io', repository: 'owner/app' }`. */
export interface Repo {
  readonly registry: string;
  readonly repository: string;
}

export interface ClientOptions {
  readonly transport: TransportOptions;
  /** Blobs moved at once by push, pull and copy; default 4. */
  readonly concurrency?: number;
  /** Where push, pull and copy report per-blob progress. */
  readonly progress?: ProgressSink;
  /** Upload every blob in chunks of this many bytes (the registry's OCI-Chunk-Min-Length wins when larger). */
  readonly chunkSize?: number;
  /** Where blobs were last seen, so a push can mount a blob another repository of its registry holds. */
  readonly blobLocations?: BlobLocationCache;
}

/**
 * Repositories known to hold a blob (as containers/image's blob info cache): recorded when a blob
 * is pushed, found, mounted or pulled, asked before an upload. Only a hint: a mount the registry
 * refuses becomes an upload.
 */
export interface BlobLocationCache {
  /** Repositories of `registry` that held `digest`, most recently seen first. */
  candidates(registry: string, digest: Digest): Promise<readonly string[]>;
  /** `digest` is in `repo` now. */
  record(repo: Repo, digest: Digest): void;
  /** Keeps what was recorded (best effort; a failure loses only hints). */
  flush(): Promise<void>;
}

/** How a blob came to be in the repository. */
export type PushBlobResult = 'exists' | 'mounted' | 'uploaded';

export interface PushBlobOptions extends IoOptions {
  /** A repository of the same registry that has the blob: mount it from there instead of uploading. */
  readonly mountFrom?: string;
  /** Called with the number of bytes sent so far of the current attempt (it restarts at 0 on a retry). */
  readonly onProgress?: (bytes: number) => void;
}

export const DEFAULT_CONCURRENCY = 6;

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

export const CATALOG_SCOPE = 'registry:catalog:*';

export function formatRepo(repo: Repo): string {
  return `${repo.registry}/${repo.repository}`;
}
