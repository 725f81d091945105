/**
 * Pulling from a registry into an OCI image layout (the store is one): the reference is resolved
 * (an index to one platform, or kept whole with `allPlatforms`), blobs stream into the layout
 * verified against their digests, at most `client.concurrency` at once, skipped when present
 * (but held for the operation: see the store's leases); manifests are written after everything
 * they refer to and checked whole, so a manifest in the layout always has its blobs, and pulling
 * an image whose blobs went missing fetches them again. The layout's index.json is left alone:
 * the caller names what was pulled.
 */
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../../oci/image.js';
import type { OciLayout } from '../../oci/layout.js';
import { isIndexMediaType, isManifestMediaType } from '../../oci/parse.js';
import { resolvePlatform } from '../../oci/partial.js';
import { hostPlatform } from '../../oci/platform.js';
import type { Descriptor, Platform } from '../../oci/types.js';
import type { Reference } from '../../reference/index.js';
import { limiter } from '../../util/limiter.js';
import type { RegistryClient } from '../client/client.js';
import { formatRepo, type Repo } from '../client/types.js';
import { bytesStream } from '../client/upload.js';
import { RemoteImage, RemoteIndex, remoteImage, remoteSource } from '../remote.js';
import { BlobProgress, shortDigest, TaskGroup } from './common.js';

export interface PullOptions extends IoOptions {
  /** The platform to pick out of an index; default the host's. */
  readonly platform?: Platform;
  /** Keep an index whole and pull every child. */
  readonly allPlatforms?: boolean;
}

class Puller {
  readonly #client: RegistryClient;
  readonly #layout: OciLayout;
  readonly #o: IoOptions;
  readonly #limit: <T>(task: () => Promise<T>) => Promise<T>;
  readonly #group: TaskGroup;
  readonly #blobs = new Map<string, Promise<void>>();

  constructor(client: RegistryClient, layout: OciLayout, o: IoOptions) {
    this.#client = client;
    this.#layout = layout;
    this.#group = new TaskGroup(o);
    this.#o = this.#group.options;
    this.#limit = limiter(client.concurrency);
  }

  #blob(source: Repo, desc: Descriptor, kind: 'layer' | 'config'): Promise<void> {
    let p = this.#blobs.get(desc.digest);
    if (p === undefined) {
      p = this.#limit(() => this.#pullBlob(source, desc, kind));
      this.#blobs.set(desc.digest, p);
    }
    return p;
  }

  async #pullBlob(source: Repo, desc: Descriptor, kind: 'layer' | 'config'): Promise<void> {
    const o = this.#o;
    throwIfAborted(o.signal);
    const progress = new BlobProgress(
      this.#client.progress,
      `pull ${formatRepo(source)}@${desc.digest}`,
      `pull ${kind} ${shortDigest(desc.digest)}`,
      desc.size,
    );
    try {
      // Held by the image's retain() before this check, so a concurrent prune keeps it.
      if (await this.#layout.hasBlob(desc.digest)) {
        progress.done('exists', true);
        return;
      }
      // The body checks digest and size as it arrives, and writeBlob, seeing a stream that checks
      // itself against this very descriptor, does not hash it again: one hash per blob, no extra
      // stream between the socket and the file.
      const stream = await this.#client.openBlob(source, desc, { ...o, onProgress: (n) => progress.bytes(n) });
      // An abort (--timeout, a sibling's failure) may destroy the stream while writeBlob still
      // prepares its temp file: the error stays on the stream for writeBlob's pipeline to report
      // rather than escape as an uncaught 'error' event.
      stream.on('error', () => {});
      await this.#layout.writeBlob(stream, { digest: desc.digest, size: desc.size }, o);
      progress.done('pulled');
      this.#client.blobLocations?.record(source, desc.digest);
    } catch (err) {
      progress.error(err);
      throw err;
    }
  }

  async #manifestBytes(raw: Buffer, desc: Descriptor): Promise<void> {
    await this.#layout.writeBlob(bytesStream(raw), { digest: desc.digest, size: desc.size }, this.#o);
  }

  /** Fails unless every blob in `blobs` is in the layout: a pull reports success only when whole. */
  async #verifyPresent(owner: Descriptor, blobs: readonly Descriptor[]): Promise<void> {
    for (const d of blobs) {
      if (await this.#layout.hasBlob(d.digest)) continue;
      throw new GantryError('BLOB_NOT_FOUND', `${owner.digest} names blob ${d.digest}, which is not in the store`, {
        phase: 'pull',
        suggestion: 'something removed it while the pull ran; pull again',
      });
    }
  }

  /**
   * Every blob of the image, whether present or not: each is held for the operation first (so a
   * concurrent prune keeps what is reused), missing ones are fetched (a store that lost a blob is
   * repaired by pulling again), and the manifest goes in last, once all are there.
   */
  async image(image: Image): Promise<Descriptor> {
    const o = this.#o;
    const desc: Descriptor = {
      mediaType: await image.mediaType(o),
      digest: await image.digest(o),
      size: await image.size(o),
    };
    const manifest = await image.manifest(o);
    const blobs = [...manifest.layers, manifest.config];
    await this.#layout.retain([desc.digest, ...blobs.map((d) => d.digest)], o);
    const source = remoteSource(image);
    if (source === undefined) {
      // Only a registry image can fill in what is missing.
      await this.#verifyPresent(desc, blobs).catch(() => {
        throw new GantryError('NOT_REMOTE', `image ${desc.digest} is not a registry image`, {
          phase: 'pull',
          suggestion: 'this is a bug in gantry: pull takes images from remoteImage',
        });
      });
      await this.#manifestBytes(await image.rawManifest(o), desc);
      return desc;
    }
    await this.#group.all([
      ...manifest.layers.map((d) => this.#blob(source, d, 'layer')),
      this.#blob(source, manifest.config, 'config'),
    ]);
    await this.#verifyPresent(desc, blobs);
    await this.#manifestBytes(await image.rawManifest(o), desc);
    return desc;
  }

  /** A child of `index`: read from the layout when its manifest is there, else from the registry. */
  async #child(index: ImageIndex, source: Repo, child: Descriptor): Promise<Image | ImageIndex> {
    const o = this.#o;
    const isIndex = isIndexMediaType(child.mediaType);
    if (await this.#layout.reuse(child.digest, o)) {
      const bytes = await this.#layout.readBlob(child, o);
      return isIndex
        ? new RemoteIndex(this.#client, source, bytes, child)
        : new RemoteImage(this.#client, source, bytes, child);
    }
    return isIndex ? index.imageIndex(child.digest, o) : index.image(child.digest, o);
  }

  async index(index: ImageIndex): Promise<Descriptor> {
    const o = this.#o;
    const desc: Descriptor = {
      mediaType: await index.mediaType(o),
      digest: await index.digest(o),
      size: await index.size(o),
    };
    await this.#layout.retain([desc.digest], o);
    const source = remoteSource(index);
    const children = (await index.indexManifest(o)).manifests;
    await this.#group.all(
      children.map(async (child) => {
        if (!isIndexMediaType(child.mediaType) && !isManifestMediaType(child.mediaType)) {
          throw new GantryError(
            'UNSUPPORTED_MEDIA_TYPE',
            `index ${desc.digest} has a child of unsupported media type ${child.mediaType}`,
            { phase: 'pull', suggestion: 'only image manifests and indexes can be pulled' },
          );
        }
        const item =
          source === undefined
            ? await (isIndexMediaType(child.mediaType)
                ? index.imageIndex(child.digest, o)
                : index.image(child.digest, o))
            : await this.#child(index, source, child);
        if (isImageIndex(item)) await this.index(item);
        else await this.image(item);
      }),
    );
    await this.#verifyPresent(desc, children);
    await this.#manifestBytes(await index.rawManifest(o), desc);
    return desc;
  }
}

/**
 * Pulls what `ref` names into `layout` and returns the descriptor of what was pulled: the image
 * for `platform` (default: the host's) out of an index, or the whole index with `allPlatforms`.
 */
export async function pullToLayout(
  client: RegistryClient,
  ref: Reference,
  layout: OciLayout,
  o: PullOptions = {},
): Promise<Descriptor> {
  throwIfAborted(o.signal);
  const item = await remoteImage(client, ref, o);
  const puller = new Puller(client, layout, o);
  try {
    if (item instanceof RemoteIndex) {
      if (o.allPlatforms) return await puller.index(item);
      return await puller.image(await resolvePlatform(item, o.platform ?? hostPlatform(), o));
    }
    return await puller.image(item);
  } finally {
    await client.blobLocations?.flush().catch(() => {});
  }
}

/** Pulls an image or index already resolved (e.g. by remoteImage) into `layout`. */
export async function pullItemToLayout(
  client: RegistryClient,
  item: RemoteImage | RemoteIndex | Image | ImageIndex,
  layout: OciLayout,
  o: IoOptions = {},
): Promise<Descriptor> {
  const puller = new Puller(client, layout, o);
  try {
    return await (isImageIndex(item) ? puller.index(item) : puller.image(item));
  } finally {
    await client.blobLocations?.flush().catch(() => {});
  }
}
