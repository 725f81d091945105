/**
 * The client's vocabulary: which repository a request is about, the options a RegistryClient is
 * made with, what a blob push ended as, and the token scopes of docker's token spec that each
 * kind of request asks for.
 */
import type { IoOptions } from '../../errors.js';
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
}

/** How a blob came to be in the repository. */
export type PushBlobResult = 'exists' | 'mounted' | 'uploaded';

export interface PushBlobOptions extends IoOptions {
  /** A repository of the same registry that has the blob: mount it from there instead of uploading. */
  readonly mountFrom?: string;
  /** Called with the number of bytes sent so far of the current attempt (it restarts at 0 on a retry). */
  readonly onProgress?: (bytes: number) => void;
}

export const DEFAULT_CONCURRENCY = 4;

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
