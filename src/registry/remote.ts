/**
 * Lazy images on a registry. A remote image is its manifest (fetched and verified up front) over
 * the repository as a BlobSource: the config is read on first use and layers only when opened.
 * Children of a remote index are fetched as manifests (not as blobs: not every registry serves
 * manifests from the blob endpoint). Remote images and layers say which repository they live in
 * (`source`), so a push to the same registry can mount instead of moving bytes.
 */
import { Readable } from 'node:stream';
import { GantryError, type IoOptions } from '../errors.js';
import type { BlobSource, Image, ImageIndex, Layer } from '../oci/image.js';
import { isIndexMediaType } from '../oci/parse.js';
import { imageFromManifest, indexFromManifest } from '../oci/partial.js';
import { readBounded } from '../oci/stream.js';
import type { Descriptor, Digest, ImageConfig, Index, Manifest } from '../oci/types.js';
import type { Reference } from '../reference/index.js';
import type { RegistryClient } from './client/client.js';
import type { Repo } from './client/types.js';

/**
 * Where the manifests and configs of remote images may be kept (the store): read from it first,
 * kept in it when fetched. Layers never go through it.
 */
export interface ManifestKeeper {
  /** The bytes of a kept blob (verified against `digest`), or undefined when it is not kept. */
  read(digest: Digest, o?: IoOptions): Promise<Buffer | undefined>;
  keep(bytes: Buffer, o?: IoOptions): Promise<void>;
}

/** The image's blobs with its config read from (and kept in) `keeper`. */
function keptConfig(remote: BlobSource, keeper: ManifestKeeper, config: () => Promise<Digest>): BlobSource {
  return {
    async openBlob(desc, o) {
      if (desc.digest !== (await config())) return remote.openBlob(desc, o);
      const kept = await keeper.read(desc.digest, o);
      if (kept !== undefined) return Readable.from([kept]);
      const bytes = await readBounded(await remote.openBlob(desc, o), undefined, {
        ...(o?.signal ? { signal: o.signal } : {}),
        what: `blob ${desc.digest}`,
      });
      await keeper.keep(bytes, o);
      return Readable.from([bytes]);
    },
  };
}

/** A layer that lives in a registry repository. */
export interface RemoteLayer extends Layer {
  readonly source: Repo;
}

class SourcedLayer implements RemoteLayer {
  readonly source: Repo;
  readonly #inner: Layer;

  constructor(inner: Layer, source: Repo) {
    this.#inner = inner;
    this.source = source;
  }
  digest(o?: IoOptions): Promise<Digest> {
    return this.#inner.digest(o);
  }
  diffID(o?: IoOptions): Promise<Digest> {
    return this.#inner.diffID(o);
  }
  size(o?: IoOptions): Promise<number> {
    return this.#inner.size(o);
  }
  mediaType(o?: IoOptions): Promise<string> {
    return this.#inner.mediaType(o);
  }
  compressed(o?: IoOptions): Promise<Readable> {
    return this.#inner.compressed(o);
  }
  uncompressed(o?: IoOptions): Promise<Readable> {
    return this.#inner.uncompressed(o);
  }
}

/** A single-platform image in a registry repository. */
export class RemoteImage implements Image {
  readonly source: Repo;
  readonly #blobs: BlobSource;
  readonly #inner: Image;

  constructor(client: RegistryClient, source: Repo, bytes: Buffer, desc: Descriptor, keeper?: ManifestKeeper) {
    this.source = source;
    this.#blobs = client.blobSource(source);
    const blobs = keeper ? keptConfig(this.#blobs, keeper, () => this.#inner.configName()) : this.#blobs;
    this.#inner = imageFromManifest(blobs, bytes, desc);
  }

  /**
   * Opens any blob of the image by descriptor (verified), through the client that fetched it:
   * a push with another client (other credentials) still reads the source as this one can.
   */
  openBlob(desc: Descriptor, o?: IoOptions): Promise<Readable> {
    return this.#blobs.openBlob(desc, o);
  }

  mediaType(o?: IoOptions): Promise<string> {
    return this.#inner.mediaType(o);
  }
  rawManifest(o?: IoOptions): Promise<Buffer> {
    return this.#inner.rawManifest(o);
  }
  manifest(o?: IoOptions): Promise<Manifest> {
    return this.#inner.manifest(o);
  }
  digest(o?: IoOptions): Promise<Digest> {
    return this.#inner.digest(o);
  }
  size(o?: IoOptions): Promise<number> {
    return this.#inner.size(o);
  }
  rawConfigFile(o?: IoOptions): Promise<Buffer> {
    return this.#inner.rawConfigFile(o);
  }
  configFile(o?: IoOptions): Promise<ImageConfig> {
    return this.#inner.configFile(o);
  }
  configName(o?: IoOptions): Promise<Digest> {
    return this.#inner.configName(o);
  }
  async layers(o?: IoOptions): Promise<Layer[]> {
    return (await this.#inner.layers(o)).map((l) => new SourcedLayer(l, this.source));
  }
  async layerByDigest(digest: Digest, o?: IoOptions): Promise<Layer> {
    return new SourcedLayer(await this.#inner.layerByDigest(digest, o), this.source);
  }
}

/** A multi-platform index in a registry repository. */
export class RemoteIndex implements ImageIndex {
  readonly source: Repo;
  readonly #client: RegistryClient;
  readonly #inner: ImageIndex;
  readonly #keeper: ManifestKeeper | undefined;

  constructor(client: RegistryClient, source: Repo, bytes: Buffer, desc: Descriptor, keeper?: ManifestKeeper) {
    this.source = source;
    this.#client = client;
    this.#keeper = keeper;
    this.#inner = indexFromManifest(client.blobSource(source), bytes, desc);
  }

  mediaType(o?: IoOptions): Promise<string> {
    return this.#inner.mediaType(o);
  }
  rawManifest(o?: IoOptions): Promise<Buffer> {
    return this.#inner.rawManifest(o);
  }
  indexManifest(o?: IoOptions): Promise<Index> {
    return this.#inner.indexManifest(o);
  }
  digest(o?: IoOptions): Promise<Digest> {
    return this.#inner.digest(o);
  }
  size(o?: IoOptions): Promise<number> {
    return this.#inner.size(o);
  }

  async #child(digest: Digest, o: IoOptions | undefined): Promise<{ bytes: Buffer; descriptor: Descriptor }> {
    const desc = (await this.#inner.indexManifest(o)).manifests.find((d) => d.digest === digest);
    if (desc === undefined) {
      throw new GantryError('MANIFEST_NOT_FOUND', `index ${await this.digest(o)} has no child ${digest}`, {
        phase: 'resolve',
        suggestion: 'list the manifests of the index; the digest belongs to another index',
      });
    }
    const kept = await this.#keeper?.read(digest, o);
    if (kept !== undefined && kept.byteLength === desc.size) {
      return { bytes: kept, descriptor: desc };
    }
    const got = await this.#client.getManifest({ ...this.source, digest }, o);
    if (got.bytes.byteLength !== desc.size) {
      throw new GantryError(
        'SIZE_MISMATCH',
        `manifest ${digest} is ${got.bytes.byteLength} bytes, its index says ${desc.size}`,
        { phase: 'pull', suggestion: 'the index is corrupt; re-push the image' },
      );
    }
    await this.#keeper?.keep(got.bytes, o);
    // The index's descriptor (platform, annotations) describes the child better than the response.
    return { bytes: got.bytes, descriptor: { ...desc, mediaType: got.descriptor.mediaType } };
  }

  async image(digest: Digest, o?: IoOptions): Promise<Image> {
    const { bytes, descriptor } = await this.#child(digest, o);
    return new RemoteImage(this.#client, this.source, bytes, descriptor, this.#keeper);
  }

  async imageIndex(digest: Digest, o?: IoOptions): Promise<ImageIndex> {
    const { bytes, descriptor } = await this.#child(digest, o);
    return new RemoteIndex(this.#client, this.source, bytes, descriptor, this.#keeper);
  }
}

/**
 * The image or index a reference names, fetched (manifest only) and verified. With a keeper, the
 * manifest is kept, and so are the config and the children's manifests when they are read.
 */
export async function remoteImage(
  client: RegistryClient,
  ref: Reference,
  o: IoOptions = {},
  keeper?: ManifestKeeper,
): Promise<RemoteImage | RemoteIndex> {
  const { bytes, descriptor } = await client.getManifest(ref, o);
  await keeper?.keep(bytes, o);
  return keptRemoteImage(client, { registry: ref.registry, repository: ref.repository }, bytes, descriptor, keeper);
}

/** A remote image or index over manifest bytes already at hand (kept earlier, verified). */
export function keptRemoteImage(
  client: RegistryClient,
  source: Repo,
  bytes: Buffer,
  descriptor: Descriptor,
  keeper?: ManifestKeeper,
): RemoteImage | RemoteIndex {
  return isIndexMediaType(descriptor.mediaType)
    ? new RemoteIndex(client, source, bytes, descriptor, keeper)
    : new RemoteImage(client, source, bytes, descriptor, keeper);
}

/** The repository a remote image, index or layer lives in; undefined for anything else. */
export function remoteSource(item: Image | ImageIndex | Layer): Repo | undefined {
  if (item instanceof RemoteImage || item instanceof RemoteIndex || item instanceof SourcedLayer) return item.source;
  const source = (item as { source?: unknown }).source;
  if (typeof source === 'object' && source !== null) {
    const { registry, repository } = source as { registry?: unknown; repository?: unknown };
    if (typeof registry === 'string' && typeof repository === 'string') return { registry, repository };
  }
  return undefined;
}
