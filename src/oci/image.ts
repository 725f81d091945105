/**
 * Lazy image model. An implementer writes a small core (a manifest and a way to open blobs);
 * helpers in ./partial.ts derive the rest. Nothing is fetched or read until asked for, and every
 * stream returned here is verified against its digest while it is read.
 */
import type { Readable } from 'node:stream';
import type { IoOptions } from '../errors.js';
import type { Digest, ImageConfig, Index, Manifest } from './types.js';

/** A layer: compressed bytes named by `digest`, uncompressed tar named by `diffID`. */
export interface Layer {
  /** Digest of the compressed blob. */
  digest(options?: IoOptions): Promise<Digest>;
  /** Digest of the uncompressed tar. */
  diffID(options?: IoOptions): Promise<Digest>;
  /** Size of the compressed blob in bytes. */
  size(options?: IoOptions): Promise<number>;
  mediaType(options?: IoOptions): Promise<string>;
  /** The blob as stored or sent (verified against `digest`). */
  compressed(options?: IoOptions): Promise<Readable>;
  /** The tar stream (verified against `diffID`). */
  uncompressed(options?: IoOptions): Promise<Readable>;
}

/** A single-platform image. */
export interface Image {
  mediaType(options?: IoOptions): Promise<string>;
  rawManifest(options?: IoOptions): Promise<Buffer>;
  manifest(options?: IoOptions): Promise<Manifest>;
  digest(options?: IoOptions): Promise<Digest>;
  size(options?: IoOptions): Promise<number>;
  rawConfigFile(options?: IoOptions): Promise<Buffer>;
  configFile(options?: IoOptions): Promise<ImageConfig>;
  configName(options?: IoOptions): Promise<Digest>;
  layers(options?: IoOptions): Promise<Layer[]>;
  layerByDigest(digest: Digest, options?: IoOptions): Promise<Layer>;
}

/** A multi-platform index (OCI index or Docker manifest list). */
export interface ImageIndex {
  mediaType(options?: IoOptions): Promise<string>;
  rawManifest(options?: IoOptions): Promise<Buffer>;
  indexManifest(options?: IoOptions): Promise<Index>;
  digest(options?: IoOptions): Promise<Digest>;
  size(options?: IoOptions): Promise<number>;
  image(digest: Digest, options?: IoOptions): Promise<Image>;
  imageIndex(digest: Digest, options?: IoOptions): Promise<ImageIndex>;
}

/**
 * Whether `item` is an index rather than a single-platform image: the one guard for it (an index
 * has `indexManifest`). Media types are told apart by isIndexMediaType/isManifestMediaType.
 */
export function isImageIndex(item: Image | ImageIndex): item is ImageIndex {
  return typeof (item as Partial<ImageIndex>).indexManifest === 'function';
}

/** Something that can open a blob by descriptor: a store, an OCI layout, a registry, a tarball. */
export interface BlobSource {
  /** Opens the blob; the stream is verified against `desc.digest` and `desc.size`. */
  openBlob(desc: { readonly digest: Digest; readonly size?: number }, options?: IoOptions): Promise<Readable>;
}

/** Either kind of thing a reference can name. */
export type ImageOrIndex =
  | { readonly kind: 'image'; readonly image: Image }
  | { readonly kind: 'index'; readonly index: ImageIndex };
