/**
 * The blobs an image or index consists of, gathered once and deduplicated by digest, with a way
 * to open each one when it is written. Manifests and configs are small and kept as bytes; layers
 * stay lazy and are only opened when their turn comes in the output stream.
 */
import type { Readable } from 'node:stream';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { parseDigest } from '../../oci/digest.js';
import { type Image, type ImageIndex, isImageIndex } from '../../oci/image.js';
import { isIndexMediaType, isManifestMediaType } from '../../oci/parse.js';
import type { Descriptor, Digest } from '../../oci/types.js';

export interface BlobToWrite {
  readonly digest: Digest;
  readonly size: number;
  /** Bytes for small blobs, an opener for layers. */
  readonly body: Buffer | (() => Promise<Readable>);
}

/** The descriptor that names `item` from an index. */
export async function describe(item: Image | ImageIndex, options: IoOptions = {}): Promise<Descriptor> {
  const [mediaType, digest, size] = await Promise.all([
    item.mediaType(options),
    item.digest(options),
    item.size(options),
  ]);
  return { mediaType, digest, size };
}

/** Collects the blobs of images and indexes, each digest once. */
export class BlobSet {
  readonly #blobs = new Map<Digest, BlobToWrite>();

  #add(blob: BlobToWrite): void {
    parseDigest(blob.digest); // a digest names a path in the output: it must be well formed
    if (!this.#blobs.has(blob.digest)) this.#blobs.set(blob.digest, blob);
  }

  async addImage(image: Image, options: IoOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const raw = await image.rawManifest(options);
    const digest = await image.digest(options);
    if (this.#blobs.has(digest)) return;
    const config = await image.rawConfigFile(options);
    this.#add({ digest: await image.configName(options), size: config.byteLength, body: config });
    for (const layer of await image.layers(options)) {
      const [layerDigest, size] = await Promise.all([layer.digest(options), layer.size(options)]);
      this.#add({ digest: layerDigest, size, body: () => layer.compressed(options) });
    }
    // Last, so that the early return above only fires for a fully collected image.
    this.#add({ digest, size: raw.byteLength, body: raw });
  }

  async addIndex(index: ImageIndex, options: IoOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const digest = await index.digest(options);
    if (this.#blobs.has(digest)) return;
    const raw = await index.rawManifest(options);
    for (const child of (await index.indexManifest(options)).manifests) {
      if (isIndexMediaType(child.mediaType))
        await this.addIndex(await index.imageIndex(child.digest, options), options);
      else if (isManifestMediaType(child.mediaType))
        await this.addImage(await index.image(child.digest, options), options);
      else {
        throw new GantryError(
          'UNSUPPORTED_MEDIA_TYPE',
          `index ${digest} lists ${child.digest} of media type ${child.mediaType}, which cannot be exported`,
          { phase: 'export', suggestion: 'export the images of the index one by one' },
        );
      }
    }
    this.#add({ digest, size: raw.byteLength, body: raw });
  }

  async add(item: Image | ImageIndex, options: IoOptions = {}): Promise<void> {
    if (isImageIndex(item)) await this.addIndex(item, options);
    else await this.addImage(item, options);
  }

  /** Every blob, in digest order so that the output does not depend on collection order. */
  sorted(): BlobToWrite[] {
    return [...this.#blobs.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  }
}
