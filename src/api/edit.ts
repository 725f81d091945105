/**
 * What the crane-style verbs (append, mutate, flatten, rebase, index) share: opening a remote
 * image by reference, an image whose manifest and config were rewritten over layers that stay
 * where they are (a base's layers keep their repository, so a push checks or mounts them and never
 * downloads them), new layer blobs staged in a private temp directory, and pushing the result.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline as pipelineCb, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GantryError, type IoOptions } from '../errors.js';
import { writeLayer } from '../layer/layer.js';
import type { TarInput } from '../layer/tar/types.js';
import { VerifyingStream } from '../oci/digest.js';
import { type BlobSource, type Image, type ImageIndex, isImageIndex, type Layer } from '../oci/image.js';
import { MemoryImage } from '../oci/mutate.js';
import { descriptorOf } from '../oci/parse.js';
import { layerFromDescriptor } from '../oci/partial.js';
import { bindAbort } from '../oci/stream.js';
import { type Descriptor, type Digest, type ImageConfig, type Index, type Manifest, MediaType } from '../oci/types.js';
import { formatReference, type Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import { pushImage } from '../registry/ops/push.js';
import { type RemoteImage, type RemoteIndex, remoteImage, remoteSource } from '../registry/remote.js';
import { step } from '../util/progress.js';
import { callerReference } from './input.js';
import { type CommonOptions, sessionOf } from './session.js';

export function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

export function io(options: { readonly signal?: AbortSignal | undefined }): IoOptions {
  return options.signal ? { signal: options.signal } : {};
}

/** What a verb that pushes returns: the reference written and the digest of what it names. */
export interface Pushed {
  /** `registry/repo:tag`, or `registry/repo` when pushed by digest only. */
  readonly reference: string;
  readonly digest: string;
  readonly descriptor: Descriptor;
}

/** A remote image or index, opened by reference (manifest only), with the client that opened it. */
export interface OpenedRemote {
  readonly client: RegistryClient;
  readonly ref: Reference;
  readonly item: RemoteImage | RemoteIndex;
}

export async function openRemote(reference: string | Reference, options: CommonOptions): Promise<OpenedRemote> {
  const ref = callerReference(reference);
  const client = await sessionOf(options).client(options.progress);
  const item = await remoteImage(client, ref, io(options));
  return { client, ref, item };
}

/**
 * Where a verb's result goes: `tag` (a full reference, or a bare tag for the source's repository,
 * as crane's `-t` takes), else the source's repository by digest only.
 */
export function targetOf(source: Reference, tag: string | undefined): Reference {
  if (tag === undefined || tag === '') return { registry: source.registry, repository: source.repository };
  if (!tag.includes('/') && !tag.includes('@') && !tag.includes(':')) {
    return callerReference(`${source.registry}/${source.repository}:${tag}`);
  }
  return callerReference(tag);
}

/** Pushes `item` to `target` with a progress step; the blobs move only when the registry lacks them. */
export async function pushTo(
  client: RegistryClient,
  target: Reference,
  item: Image | ImageIndex,
  options: CommonOptions,
): Promise<Pushed> {
  const sink = options.progress ?? (() => {});
  const descriptor = await step(sink, `push ${formatReference(target)}`, `push ${formatReference(target)}`, () =>
    pushImage(client, target, item, io(options)),
  );
  return { reference: formatReference(target), digest: descriptor.digest, descriptor };
}

export function isDockerManifest(mediaType: string): boolean {
  return mediaType === MediaType.DockerManifest;
}

/** The layer media type of the manifest family `manifestType` for a gzip layer. */
export function gzipLayerType(manifestType: string): string {
  return isDockerManifest(manifestType) ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip;
}

type Json = Record<string, unknown>;

/**
 * An image whose manifest and config are new bytes and whose layers are given (lazy: a base's
 * layers are never read). The manifest keeps every field of the one it came from (annotations,
 * subject, media types) except the config descriptor, which is recomputed from the config bytes.
 */
export class EditedImage extends MemoryImage {
  constructor(manifest: Manifest, config: ImageConfig | Json, layers: readonly Layer[]) {
    if (layers.length !== manifest.layers.length) {
      throw new GantryError(
        'LAYER_COUNT_MISMATCH',
        `an edited image lists ${manifest.layers.length} layers but has ${layers.length}`,
        { phase: 'build', suggestion: 'this is a bug in gantry; please report it' },
      );
    }
    const configBytes = Buffer.from(JSON.stringify(config));
    const edited = { ...manifest, config: descriptorOf(configBytes, manifest.config.mediaType) };
    super(Buffer.from(JSON.stringify(edited)), manifest.mediaType ?? MediaType.OciManifest, configBytes, layers);
  }
}

/** The raw config of `image` as a JSON object (every field kept, unknown ones included). */
export async function rawConfigObject(image: Image, options: IoOptions): Promise<Json> {
  return JSON.parse((await image.rawConfigFile(options)).toString('utf8')) as Json;
}

/**
 * New layer blobs, written to files in a private temp directory and served from there (verified
 * on every read). `close()` removes them.
 */
export class StagedBlobs implements BlobSource {
  readonly #dir: string;
  readonly #files = new Map<Digest, string>();
  #n = 0;

  private constructor(dir: string) {
    this.#dir = dir;
  }

  static async create(): Promise<StagedBlobs> {
    return new StagedBlobs(await mkdtemp(join(tmpdir(), 'gantry-edit-')));
  }

  /** Writes `entries` as a gzip layer; returns it with the media type of `manifestType`'s family. */
  async layer(
    entries: Iterable<TarInput> | AsyncIterable<TarInput>,
    manifestType: string,
    options: IoOptions,
  ): Promise<{ layer: Layer; descriptor: Descriptor; diffID: Digest }> {
    const file = join(this.#dir, `layer-${this.#n++}`);
    const info = await writeLayer(entries, createWriteStream(file, { mode: 0o600 }), {
      ...options,
      compression: 'gzip',
    });
    this.#files.set(info.digest, file);
    const descriptor: Descriptor = { mediaType: gzipLayerType(manifestType), digest: info.digest, size: info.size };
    return { layer: layerFromDescriptor(this, descriptor, info.diffID), descriptor, diffID: info.diffID };
  }

  /**
   * A local copy of a remote layer, downloaded once (verified) for callers that read a layer
   * more than once; a layer that is already local is returned as it is.
   */
  async local(layer: Layer, options: IoOptions): Promise<Layer> {
    if (remoteSource(layer) === undefined) return layer;
    const descriptor: Descriptor = {
      mediaType: await layer.mediaType(options),
      digest: await layer.digest(options),
      size: await layer.size(options),
    };
    if (!this.#files.has(descriptor.digest)) {
      const file = join(this.#dir, `blob-${this.#n++}`);
      await pipeline(await layer.compressed(options), createWriteStream(file, { mode: 0o600 }), io(options));
      this.#files.set(descriptor.digest, file);
    }
    return layerFromDescriptor(this, descriptor, await layer.diffID(options));
  }

  async openBlob(
    desc: { readonly digest: Digest; readonly size?: number },
    options: IoOptions = {},
  ): Promise<Readable> {
    const file = this.#files.get(desc.digest);
    if (file === undefined) {
      throw new GantryError('BLOB_NOT_FOUND', `blob ${desc.digest} was not staged`, {
        phase: 'build',
        suggestion: 'this is a bug in gantry; please report it',
      });
    }
    const verify = new VerifyingStream(desc.digest, desc.size, `blob ${desc.digest}`);
    return bindAbort(
      pipelineCb(createReadStream(file), verify, () => {}),
      options.signal,
    );
  }

  close(): Promise<void> {
    return rm(this.#dir, { recursive: true, force: true });
  }
}

/** Runs `fn` with staged blobs that are removed afterwards, whatever happens. */
export async function withStaged<T>(fn: (staged: StagedBlobs) => Promise<T>): Promise<T> {
  const staged = await StagedBlobs.create();
  try {
    return await fn(staged);
  } finally {
    await staged.close();
  }
}

/**
 * An index with new bytes whose children are still those of `base` (or `extra`, for children
 * added by the caller): pushing it to the base's repository moves nothing but the index itself.
 */
export class EditedIndex implements ImageIndex {
  readonly #bytes: Buffer;
  readonly #index: Index;
  readonly #desc: Descriptor;
  readonly #base: ImageIndex | undefined;
  readonly #extra: ReadonlyMap<Digest, Image | ImageIndex>;

  constructor(index: Index, base: ImageIndex | undefined, extra: ReadonlyMap<Digest, Image | ImageIndex> = new Map()) {
    this.#index = index;
    this.#bytes = Buffer.from(JSON.stringify(index));
    this.#desc = descriptorOf(this.#bytes, index.mediaType ?? MediaType.OciIndex);
    this.#base = base;
    this.#extra = extra;
  }

  async mediaType(): Promise<string> {
    return this.#desc.mediaType;
  }
  async rawManifest(): Promise<Buffer> {
    return Buffer.from(this.#bytes);
  }
  async indexManifest(): Promise<Index> {
    return this.#index;
  }
  async digest(): Promise<Digest> {
    return this.#desc.digest;
  }
  async size(): Promise<number> {
    return this.#desc.size;
  }
  #missing(digest: Digest): GantryError {
    return new GantryError('MANIFEST_NOT_FOUND', `index ${this.#desc.digest} has no child ${digest}`, {
      phase: 'resolve',
      suggestion: 'list the manifests of the index; the digest belongs to another index',
    });
  }
  async image(digest: Digest, options: IoOptions = {}): Promise<Image> {
    const extra = this.#extra.get(digest);
    if (extra !== undefined && !isImageIndex(extra)) return extra;
    if (this.#base === undefined) throw this.#missing(digest);
    return this.#base.image(digest, options);
  }
  async imageIndex(digest: Digest, options: IoOptions = {}): Promise<ImageIndex> {
    const extra = this.#extra.get(digest);
    if (extra !== undefined && isImageIndex(extra)) return extra;
    if (this.#base === undefined) throw this.#missing(digest);
    return this.#base.imageIndex(digest, options);
  }
}
