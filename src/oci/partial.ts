/**
 * Derives the lazy Image, ImageIndex and Layer of ./image.ts from a small core: a BlobSource and
 * the raw bytes of a manifest or index. The raw bytes are kept exactly as given (their sha256 is
 * the digest); configs and child manifests are read on first use, layers only when a caller
 * opens them. Also: picking one platform out of an index.
 */
import { pipeline as pipelineCb, type Readable } from 'node:stream';
import { GantryError, type IoOptions, throwIfAborted } from '../errors.js';
import { decompressByMagic } from './compression.js';
import { digestOf, VerifyingStream } from './digest.js';
import type { BlobSource, Image, ImageIndex, Layer } from './image.js';
import { parseImageConfig, parseIndex, parseManifest } from './parse.js';
import { formatPlatform, platformMatches, samePlatform } from './platform.js';
import { bindAbort, readBounded } from './stream.js';
import {
  type Descriptor,
  type Digest,
  type ImageConfig,
  type Index,
  type Manifest,
  MediaType,
  type Platform,
} from './types.js';

/** Reads a small blob (manifest, config) through `source`, which verifies digest and size. */
export async function readSmallBlob(source: BlobSource, desc: Descriptor, options: IoOptions = {}): Promise<Buffer> {
  throwIfAborted(options.signal);
  const stream = await source.openBlob(desc, options);
  return readBounded(stream, undefined, { signal: options.signal, what: `blob ${desc.digest}` });
}

class DescriptorLayer implements Layer {
  readonly #source: BlobSource;
  readonly #desc: Descriptor;
  readonly #diffID: Digest;

  constructor(source: BlobSource, desc: Descriptor, diffID: Digest) {
    this.#source = source;
    this.#desc = desc;
    this.#diffID = diffID;
  }

  async digest(): Promise<Digest> {
    return this.#desc.digest;
  }
  async diffID(): Promise<Digest> {
    return this.#diffID;
  }
  async size(): Promise<number> {
    return this.#desc.size;
  }
  async mediaType(): Promise<string> {
    return this.#desc.mediaType;
  }
  compressed(options: IoOptions = {}): Promise<Readable> {
    return this.#source.openBlob(this.#desc, options);
  }
  async uncompressed(options: IoOptions = {}): Promise<Readable> {
    const raw = await this.compressed(options);
    const tar = await decompressByMagic(raw, options);
    const verify = new VerifyingStream(this.#diffID, undefined, `layer ${this.#desc.digest} (diffID)`);
    return bindAbort(
      pipelineCb(tar, verify, () => {}),
      options.signal,
    );
  }
}

/** A Layer that opens its blob through `source` (verified) and whose tar is checked against `diffID`. */
export function layerFromDescriptor(source: BlobSource, desc: Descriptor, diffID: Digest): Layer {
  return new DescriptorLayer(source, desc, diffID);
}

class PartialImage implements Image {
  readonly #source: BlobSource;
  readonly #raw: Buffer;
  readonly #manifest: Manifest;
  readonly #digest: Digest;
  readonly #mediaType: string;
  #config: Promise<{ raw: Buffer; parsed: ImageConfig }> | undefined;

  constructor(source: BlobSource, raw: Buffer, desc: Descriptor | undefined) {
    this.#source = source;
    this.#raw = raw;
    this.#manifest = parseManifest(raw, desc && { mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
    this.#digest = desc?.digest ?? digestOf(raw);
    this.#mediaType = this.#manifest.mediaType ?? desc?.mediaType ?? MediaType.OciManifest;
  }

  async mediaType(): Promise<string> {
    return this.#mediaType;
  }
  async rawManifest(): Promise<Buffer> {
    return Buffer.from(this.#raw);
  }
  async manifest(): Promise<Manifest> {
    return this.#manifest;
  }
  async digest(): Promise<Digest> {
    return this.#digest;
  }
  async size(): Promise<number> {
    return this.#raw.byteLength;
  }

  #loadConfig(options: IoOptions): Promise<{ raw: Buffer; parsed: ImageConfig }> {
    if (this.#config === undefined) {
      const desc = this.#manifest.config;
      const p = readSmallBlob(this.#source, desc, options).then((raw) => ({
        raw,
        parsed: parseImageConfig(raw, { digest: desc.digest, size: desc.size }),
      }));
      // A failed read (an abort, a network error) is not cached: the next call tries again.
      p.catch(() => {
        if (this.#config === p) this.#config = undefined;
      });
      this.#config = p;
    }
    return this.#config;
  }

  async rawConfigFile(options: IoOptions = {}): Promise<Buffer> {
    return Buffer.from((await this.#loadConfig(options)).raw);
  }
  async configFile(options: IoOptions = {}): Promise<ImageConfig> {
    return (await this.#loadConfig(options)).parsed;
  }
  async configName(): Promise<Digest> {
    return this.#manifest.config.digest;
  }

  async layers(options: IoOptions = {}): Promise<Layer[]> {
    const config = await this.configFile(options);
    const diffIDs = config.rootfs.diff_ids;
    const descs = this.#manifest.layers;
    if (diffIDs.length !== descs.length) {
      throw new GantryError(
        'LAYER_COUNT_MISMATCH',
        `image ${this.#digest} has ${descs.length} layers but its config lists ${diffIDs.length} diff_ids`,
        { phase: 'parse', suggestion: 'the image is malformed; rebuild or re-push it' },
      );
    }
    return descs.map((d, i) => new DescriptorLayer(this.#source, d, diffIDs[i] as Digest));
  }

  async layerByDigest(digest: Digest, options: IoOptions = {}): Promise<Layer> {
    const layers = await this.layers(options);
    for (const layer of layers) if ((await layer.digest()) === digest) return layer;
    throw new GantryError('LAYER_NOT_FOUND', `image ${this.#digest} has no layer ${digest}`, {
      phase: 'resolve',
      suggestion: 'list the layers of the image with its manifest; the digest belongs to another image',
    });
  }
}

/** An Image over `manifestBytes` (kept byte for byte); throws at once if they are not a valid manifest. */
export function imageFromManifest(source: BlobSource, manifestBytes: Buffer, desc?: Descriptor): Image {
  return new PartialImage(source, manifestBytes, desc);
}

class PartialIndex implements ImageIndex {
  readonly #source: BlobSource;
  readonly #raw: Buffer;
  readonly #index: Index;
  readonly #digest: Digest;
  readonly #mediaType: string;

  constructor(source: BlobSource, raw: Buffer, desc: Descriptor | undefined) {
    this.#source = source;
    this.#raw = raw;
    this.#index = parseIndex(raw, desc && { mediaType: desc.mediaType, digest: desc.digest, size: desc.size });
    this.#digest = desc?.digest ?? digestOf(raw);
    this.#mediaType = this.#index.mediaType ?? desc?.mediaType ?? MediaType.OciIndex;
  }

  async mediaType(): Promise<string> {
    return this.#mediaType;
  }
  async rawManifest(): Promise<Buffer> {
    return Buffer.from(this.#raw);
  }
  async indexManifest(): Promise<Index> {
    return this.#index;
  }
  async digest(): Promise<Digest> {
    return this.#digest;
  }
  async size(): Promise<number> {
    return this.#raw.byteLength;
  }

  #child(digest: Digest): Descriptor {
    const desc = this.#index.manifests.find((d) => d.digest === digest);
    if (desc === undefined) {
      throw new GantryError('MANIFEST_NOT_FOUND', `index ${this.#digest} has no child ${digest}`, {
        phase: 'resolve',
        suggestion: 'list the manifests of the index; the digest belongs to another index',
      });
    }
    return desc;
  }

  async image(digest: Digest, options: IoOptions = {}): Promise<Image> {
    const desc = this.#child(digest);
    return imageFromManifest(this.#source, await readSmallBlob(this.#source, desc, options), desc);
  }

  async imageIndex(digest: Digest, options: IoOptions = {}): Promise<ImageIndex> {
    const desc = this.#child(digest);
    return indexFromManifest(this.#source, await readSmallBlob(this.#source, desc, options), desc);
  }
}

/** An ImageIndex over `indexBytes` (kept byte for byte); throws at once if they are not a valid index. */
export function indexFromManifest(source: BlobSource, indexBytes: Buffer, desc?: Descriptor): ImageIndex {
  return new PartialIndex(source, indexBytes, desc);
}

const MAX_INDEX_DEPTH = 4;

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

async function findPlatform(
  index: ImageIndex,
  want: Platform,
  options: IoOptions,
  depth: number,
  seen: string[],
): Promise<Image | undefined> {
  const manifests = (await index.indexManifest(options)).manifests.filter((d) => !isAttestation(d));
  const images = manifests.filter(
    (d) => d.mediaType !== MediaType.OciIndex && d.mediaType !== MediaType.DockerManifestList,
  );
  for (const d of images) if (d.platform) seen.push(formatPlatform(d.platform));
  // An exact match beats a compatible one (linux/arm64 and linux/arm64/v8 both match linux/arm64).
  const pick =
    images.find((d) => d.platform !== undefined && samePlatform(want, d.platform)) ??
    images.find((d) => d.platform !== undefined && platformMatches(want, d.platform));
  if (pick !== undefined) return index.image(pick.digest, options);
  if (depth >= MAX_INDEX_DEPTH) return undefined;
  for (const d of manifests) {
    if (d.mediaType !== MediaType.OciIndex && d.mediaType !== MediaType.DockerManifestList) continue;
    if (d.platform !== undefined && !platformMatches(want, d.platform)) continue;
    const found = await findPlatform(await index.imageIndex(d.digest, options), want, options, depth + 1, seen);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Resolves one platform out of an index (GantryError 'PLATFORM_NOT_FOUND' listing what is available). */
export async function resolvePlatform(index: ImageIndex, want: Platform, options: IoOptions = {}): Promise<Image> {
  throwIfAborted(options.signal);
  const seen: string[] = [];
  const found = await findPlatform(index, want, options, 0, seen);
  if (found !== undefined) return found;
  const available = seen.length > 0 ? [...new Set(seen)].join(', ') : 'none';
  throw new GantryError(
    'PLATFORM_NOT_FOUND',
    `no ${formatPlatform(want)} image in index ${await index.digest(options)} (available: ${available})`,
    { phase: 'resolve', suggestion: 'pick one of the available platforms with --platform' },
  );
}
