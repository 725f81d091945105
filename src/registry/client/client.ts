/**
 * RegistryClient: the registry API of the OCI distribution spec over gantry's transport stack.
 * One client serves any number of registries (one transport per host, made on first use). The
 * methods here are thin: each kind of exchange lives in its own file of this directory.
 */
import type { Readable } from 'node:stream';
import type { IoOptions } from '../../errors.js';
import type { BlobSource } from '../../oci/image.js';
import type { Descriptor, Digest } from '../../oci/types.js';
import type { Reference } from '../../reference/index.js';
import { noProgress, type ProgressSink } from '../../util/progress.js';
import { blobSize, type OpenBlobOptions, openBlob } from './blobs.js';
import { Endpoints } from './endpoint.js';
import { type ListOptions, listCatalog, listTags } from './listing.js';
import {
  deleteManifest,
  type FetchedManifest,
  type GetManifestOptions,
  getManifest,
  headManifest,
  type PutManifestResult,
  putManifest,
} from './manifests.js';
import { addToReferrersTag, listReferrers, type ReferrersOptions } from './referrers.js';
import {
  type BlobLocationCache,
  type ClientOptions,
  DEFAULT_CONCURRENCY,
  type PushBlobOptions,
  type PushBlobResult,
  type Repo,
} from './types.js';
import { type BlobOpener, pushBlob } from './upload.js';

export type { BlobLocationCache, ClientOptions, PushBlobOptions, PushBlobResult, Repo } from './types.js';

export class RegistryClient {
  readonly #ep: Endpoints;
  readonly concurrency: number;
  readonly progress: ProgressSink;
  readonly chunkSize: number | undefined;
  readonly blobLocations: BlobLocationCache | undefined;

  constructor(options: ClientOptions) {
    this.#ep = new Endpoints(options.transport);
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_CONCURRENCY));
    this.progress = options.progress ?? noProgress;
    this.chunkSize = options.chunkSize;
    this.blobLocations = options.blobLocations;
  }

  /** GET /v2/: reachable, and (through the transport) authenticated. */
  async ping(registry: string, o: IoOptions = {}): Promise<void> {
    const res = await this.#ep.expect(
      registry,
      { method: 'GET', url: await this.#ep.url(registry, '/v2/'), signal: o.signal },
      [200],
      { what: 'the API version check (/v2/)' },
    );
    await res.discard().catch(() => {});
  }

  /** The manifest or index a reference names, verified against its digest, with its descriptor. */
  getManifest(ref: Reference, o: GetManifestOptions = {}): Promise<FetchedManifest> {
    return getManifest(this.#ep, ref, o);
  }

  /** The descriptor of a manifest when it exists (HEAD), undefined when it does not. */
  headManifest(ref: Reference, o: IoOptions = {}): Promise<Descriptor | undefined> {
    return headManifest(this.#ep, ref, o);
  }

  /** PUT a manifest or index under a tag or its digest, with `mediaType` as Content-Type. */
  async putManifest(
    repo: Repo,
    tagOrDigest: string,
    bytes: Buffer,
    mediaType: string,
    o: IoOptions = {},
  ): Promise<Descriptor> {
    return (await putManifest(this.#ep, repo, tagOrDigest, bytes, mediaType, o)).descriptor;
  }

  /** Like putManifest, and says whether the registry processed the manifest's `subject` (OCI-Subject). */
  putManifestDetailed(
    repo: Repo,
    tagOrDigest: string,
    bytes: Buffer,
    mediaType: string,
    o: IoOptions = {},
  ): Promise<PutManifestResult> {
    return putManifest(this.#ep, repo, tagOrDigest, bytes, mediaType, o);
  }

  /** DELETE a manifest (a tag is resolved to its digest first). */
  async deleteManifest(ref: Reference, o: IoOptions = {}): Promise<void> {
    await deleteManifest(this.#ep, ref, o);
  }

  /** HEAD a blob: its size, or undefined when the repository does not have it. */
  blobSize(repo: Repo, digest: Digest, o: IoOptions = {}): Promise<number | undefined> {
    return blobSize(this.#ep, repo, digest, o);
  }

  /** A blob as a verified stream that resumes after dropped connections. */
  openBlob(
    repo: Repo,
    desc: { readonly digest: Digest; readonly size?: number },
    o: OpenBlobOptions = {},
  ): Promise<Readable> {
    return openBlob(this.#ep, repo, desc, o);
  }

  /** Pushes a blob unless the repository has it; mounts it from `mountFrom` when given. */
  pushBlob(repo: Repo, desc: Descriptor, open: BlobOpener, o: PushBlobOptions = {}): Promise<PushBlobResult> {
    return pushBlob(this.#ep, repo, desc, open, {
      ...o,
      ...(this.chunkSize !== undefined ? { chunkSize: this.chunkSize } : {}),
    });
  }

  /** Every tag of a repository, following pagination. */
  tags(repo: Repo, o: ListOptions = {}): Promise<string[]> {
    return listTags(this.#ep, repo, o);
  }

  /** Every repository of a registry (`/v2/_catalog`), following pagination. */
  catalog(registry: string, o: ListOptions = {}): Promise<string[]> {
    return listCatalog(this.#ep, registry, o);
  }

  /** Descriptors of the manifests whose subject is `subject` (referrers API, or the tag schema). */
  referrers(repo: Repo, subject: Digest, o: ReferrersOptions = {}): Promise<Descriptor[]> {
    return listReferrers(this.#ep, repo, subject, o);
  }

  /** The repository as a BlobSource, for the lazy images of src/oci/partial.ts. */
  blobSource(repo: Repo): BlobSource {
    return { openBlob: (desc, o) => this.openBlob(repo, desc, o) };
  }

  /** Adds `entry` (or several) to the referrers tag index of `subject`, for registries without the referrers API. */
  addToReferrersTag(
    repo: Repo,
    subject: Digest,
    entry: Descriptor | readonly Descriptor[],
    o: IoOptions = {},
  ): Promise<void> {
    return addToReferrersTag(this.#ep, repo, subject, entry, o);
  }
}
