/**
 * Making new images and indexes in memory: append layers and history to a base (or scratch),
 * edit the config, and serialize manifest and config deterministically. Manifest and config JSON
 * are small and held as bytes; layers stay lazy (a base image's layers are never read here).
 */
import { GantryError, type IoOptions, throwIfAborted } from '../errors.js';
import type { Image, ImageIndex, Layer } from './image.js';
import { descriptorOf, isIndexMediaType, parseImageConfig, parseIndex, parseManifest } from './parse.js';
import { normalizePlatform } from './platform.js';
import {
  type Descriptor,
  type Digest,
  type History,
  type ImageConfig,
  type Index,
  type Manifest,
  MediaType,
  type Platform,
} from './types.js';

export interface AddedLayer {
  readonly layer: Layer;
  readonly history?: History;
}

export interface NewImageSpec {
  /** Omitted: scratch. */
  readonly base?: Image;
  /** Required when there is no base; overrides the base's platform when given. */
  readonly platform?: Platform;
  readonly layers?: readonly AddedLayer[];
  /** Edits the config after layers and history are appended. */
  readonly config?: (cfg: ImageConfig) => ImageConfig;
  /** Extra history entries (empty_layer), appended after the layers' entries. */
  readonly history?: readonly History[];
  /** Default: SOURCE_DATE_EPOCH, else 1970-01-01T00:00:00Z. */
  readonly created?: string;
  /** Default 'oci'. */
  readonly mediaType?: 'oci' | 'docker';
  readonly annotations?: Record<string, string>;
}

/** ISO 8601 without milliseconds, as Docker and BuildKit write it. */
function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The build timestamp: SOURCE_DATE_EPOCH when set (reproducible builds), else the Unix epoch. */
export function defaultCreated(env: NodeJS.ProcessEnv = process.env): string {
  const sde = env.SOURCE_DATE_EPOCH;
  if (sde === undefined || sde === '') return '1970-01-01T00:00:00Z';
  if (!/^\d{1,15}$/.test(sde)) {
    throw new GantryError('INVALID_SOURCE_DATE_EPOCH', `SOURCE_DATE_EPOCH=${JSON.stringify(sde)} is not a number`, {
      phase: 'config',
      suggestion: 'set SOURCE_DATE_EPOCH to seconds since 1970, e.g. $(git log -1 --format=%ct)',
    });
  }
  return isoSeconds(new Date(Number(sde) * 1000));
}

const TO_DOCKER: Readonly<Record<string, string>> = {
  [MediaType.OciLayerGzip]: MediaType.DockerLayerGzip,
  [MediaType.OciLayerNondistributableGzip]: MediaType.DockerForeignLayerGzip,
  [MediaType.OciLayer]: 'application/vnd.docker.image.rootfs.diff.tar',
  [MediaType.OciLayerZstd]: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
};
const TO_OCI: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(TO_DOCKER).map(([o, d]) => [d, o]));

/**
 * Layer media type in the family of the manifest: registries reject (and some tools misread) a
 * Docker manifest with OCI layers or the reverse. The blob is the same; only the label changes.
 */
function layerMediaType(mt: string, kind: 'oci' | 'docker'): string {
  return (kind === 'docker' ? TO_DOCKER[mt] : TO_OCI[mt]) ?? mt;
}

/** A layer seen under another media type label (same bytes). */
class RelabelledLayer implements Layer {
  readonly #inner: Layer;
  readonly #mediaType: string;
  constructor(inner: Layer, mediaType: string) {
    this.#inner = inner;
    this.#mediaType = mediaType;
  }
  digest(options?: IoOptions) {
    return this.#inner.digest(options);
  }
  diffID(options?: IoOptions) {
    return this.#inner.diffID(options);
  }
  size(options?: IoOptions) {
    return this.#inner.size(options);
  }
  async mediaType() {
    return this.#mediaType;
  }
  compressed(options?: IoOptions) {
    return this.#inner.compressed(options);
  }
  uncompressed(options?: IoOptions) {
    return this.#inner.uncompressed(options);
  }
}

async function relabel(layer: Layer, kind: 'oci' | 'docker', options: IoOptions): Promise<Layer> {
  const mt = await layer.mediaType(options);
  const want = layerMediaType(mt, kind);
  return want === mt ? layer : new RelabelledLayer(layer, want);
}

/** An image whose manifest and config bytes are in memory and whose layers are given. */
export class MemoryImage implements Image {
  readonly #manifestBytes: Buffer;
  readonly #manifest: Manifest;
  readonly #manifestDesc: Descriptor;
  readonly #configBytes: Buffer;
  readonly #config: ImageConfig;
  readonly #layers: readonly Layer[];

  constructor(manifestBytes: Buffer, mediaType: string, configBytes: Buffer, layers: readonly Layer[]) {
    this.#manifestBytes = manifestBytes;
    this.#manifestDesc = descriptorOf(manifestBytes, mediaType);
    this.#manifest = parseManifest(manifestBytes);
    this.#configBytes = configBytes;
    this.#config = parseImageConfig(configBytes);
    this.#layers = layers;
  }

  async mediaType(): Promise<string> {
    return this.#manifestDesc.mediaType;
  }
  async rawManifest(): Promise<Buffer> {
    return Buffer.from(this.#manifestBytes);
  }
  async manifest(): Promise<Manifest> {
    return this.#manifest;
  }
  async digest(): Promise<Digest> {
    return this.#manifestDesc.digest;
  }
  async size(): Promise<number> {
    return this.#manifestDesc.size;
  }
  async rawConfigFile(): Promise<Buffer> {
    return Buffer.from(this.#configBytes);
  }
  async configFile(): Promise<ImageConfig> {
    return this.#config;
  }
  async configName(): Promise<Digest> {
    return this.#manifest.config.digest;
  }
  async layers(): Promise<Layer[]> {
    return [...this.#layers];
  }
  async layerByDigest(digest: Digest, options: IoOptions = {}): Promise<Layer> {
    for (const layer of this.#layers) if ((await layer.digest(options)) === digest) return layer;
    throw new GantryError('LAYER_NOT_FOUND', `image ${this.#manifestDesc.digest} has no layer ${digest}`, {
      phase: 'resolve',
      suggestion: 'list the layers of the image with its manifest; the digest belongs to another image',
    });
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function platformFields(p: Platform): Partial<Mutable<ImageConfig>> {
  const n = normalizePlatform(p);
  const out: Partial<Mutable<ImageConfig>> = { architecture: n.architecture, os: n.os };
  if (n.variant !== undefined) out.variant = n.variant;
  if (n['os.version'] !== undefined) out['os.version'] = n['os.version'];
  if (n['os.features'] !== undefined) out['os.features'] = n['os.features'];
  return out;
}

/** Makes a new image: base (or scratch) + layers + history + config edit, serialized deterministically. */
export async function newImage(spec: NewImageSpec, options: IoOptions = {}): Promise<Image> {
  throwIfAborted(options.signal);
  const kind = spec.mediaType ?? 'oci';
  const created = spec.created ?? defaultCreated();

  let cfg: Mutable<ImageConfig>;
  let baseLayerDescs: readonly Descriptor[] = [];
  let baseLayers: readonly Layer[] = [];
  if (spec.base !== undefined) {
    const baseConfig = await spec.base.configFile(options);
    baseLayerDescs = (await spec.base.manifest(options)).layers;
    baseLayers = await spec.base.layers(options);
    // Copy the base config keeping its key order; drop `variant` etc. only if a new platform says so.
    cfg = { ...baseConfig };
    if (spec.platform !== undefined) {
      delete cfg.variant;
      delete cfg['os.version'];
      delete cfg['os.features'];
      Object.assign(cfg, platformFields(spec.platform));
    }
  } else {
    if (spec.platform === undefined) {
      throw new GantryError('PLATFORM_REQUIRED', 'an image from scratch needs a platform', {
        phase: 'usage',
        suggestion: 'pass a platform (e.g. linux/amd64) when the image has no base',
      });
    }
    cfg = {
      ...platformFields(spec.platform),
      config: {},
      rootfs: { type: 'layers', diff_ids: [] },
    } as Mutable<ImageConfig>;
  }

  const added = spec.layers ?? [];
  const addedLayers: Layer[] = [];
  const addedDescs: Descriptor[] = [];
  const addedDiffIDs: Digest[] = [];
  for (const { layer } of added) {
    throwIfAborted(options.signal);
    const l = await relabel(layer, kind, options);
    addedLayers.push(l);
    addedDiffIDs.push(await l.diffID(options));
    addedDescs.push({
      mediaType: await l.mediaType(options),
      digest: await l.digest(options),
      size: await l.size(options),
    });
  }

  const history: History[] = [...(cfg.history ?? [])];
  for (const { history: h } of added) history.push({ created, ...h, empty_layer: undefined });
  for (const h of spec.history ?? []) history.push({ created, ...h, empty_layer: true });
  // `created` goes first in the config, as Docker and BuildKit write it.
  const { created: _old, ...rest } = cfg;
  cfg = {
    created,
    ...rest,
    rootfs: { type: 'layers', diff_ids: [...(cfg.rootfs?.diff_ids ?? []), ...addedDiffIDs] },
    history: history.map((h) => JSON.parse(JSON.stringify(h)) as History),
  };
  if (cfg.history?.length === 0) delete cfg.history;
  const finalConfig = spec.config ? spec.config(cfg) : cfg;

  const configBytes = Buffer.from(JSON.stringify(finalConfig));
  const configDesc = descriptorOf(configBytes, kind === 'docker' ? MediaType.DockerConfig : MediaType.OciConfig);
  const baseRelabelled = await Promise.all(baseLayers.map((l) => relabel(l, kind, options)));
  const layerDescs = [
    ...baseLayerDescs.map((d) => ({ ...d, mediaType: layerMediaType(d.mediaType, kind) })),
    ...addedDescs,
  ];
  const manifestMediaType = kind === 'docker' ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: manifestMediaType,
    config: configDesc,
    layers: layerDescs,
    ...(spec.annotations && Object.keys(spec.annotations).length > 0 ? { annotations: { ...spec.annotations } } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return new MemoryImage(manifestBytes, manifestMediaType, configBytes, [...baseRelabelled, ...addedLayers]);
}

/** An index whose bytes are in memory and whose children are the given images. */
class MemoryIndex implements ImageIndex {
  readonly #bytes: Buffer;
  readonly #index: Index;
  readonly #desc: Descriptor;
  readonly #images: ReadonlyMap<Digest, Image>;

  constructor(bytes: Buffer, mediaType: string, images: ReadonlyMap<Digest, Image>) {
    this.#bytes = bytes;
    this.#index = parseIndex(bytes);
    this.#desc = descriptorOf(bytes, mediaType);
    this.#images = images;
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
  async image(digest: Digest): Promise<Image> {
    const image = this.#images.get(digest);
    if (image === undefined) {
      throw new GantryError('MANIFEST_NOT_FOUND', `index ${this.#desc.digest} has no image ${digest}`, {
        phase: 'resolve',
        suggestion: 'list the manifests of the index; the digest belongs to another index',
      });
    }
    return image;
  }
  async imageIndex(digest: Digest): Promise<ImageIndex> {
    throw new GantryError('MANIFEST_NOT_FOUND', `index ${this.#desc.digest} has no child index ${digest}`, {
      phase: 'resolve',
      suggestion: 'indexes made by newIndex hold images only',
    });
  }
}

/**
 * Makes an index over `images`. Each entry's platform is the one given, else the one in the
 * image's config. Duplicate images (same digest) are listed once.
 */
export async function newIndex(
  images: readonly { image: Image; platform?: Platform }[],
  options: IoOptions & { mediaType?: 'oci' | 'docker'; annotations?: Record<string, string> } = {},
): Promise<ImageIndex> {
  throwIfAborted(options.signal);
  const kind = options.mediaType ?? 'oci';
  const children = new Map<Digest, Image>();
  const manifests: Descriptor[] = [];
  for (const { image, platform } of images) {
    const digest = await image.digest(options);
    if (children.has(digest)) continue;
    const mediaType = await image.mediaType(options);
    if (isIndexMediaType(mediaType)) {
      throw new GantryError('INVALID_INDEX', `newIndex takes images, got an index (${digest})`, {
        phase: 'usage',
        suggestion: 'pass single-platform images',
      });
    }
    let p = platform;
    if (p === undefined) {
      const c = await image.configFile(options);
      if (c.architecture && c.os) {
        p = {
          architecture: c.architecture,
          os: c.os,
          ...(c.variant ? { variant: c.variant } : {}),
          ...(c['os.version'] ? { 'os.version': c['os.version'] } : {}),
          ...(c['os.features'] ? { 'os.features': c['os.features'] } : {}),
        };
      }
    }
    children.set(digest, image);
    manifests.push({
      mediaType,
      digest,
      size: await image.size(options),
      ...(p ? { platform: normalizePlatform(p) } : {}),
    });
  }
  const mediaType = kind === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex;
  const index: Index = {
    schemaVersion: 2,
    mediaType,
    manifests,
    ...(options.annotations && Object.keys(options.annotations).length > 0
      ? { annotations: { ...options.annotations } }
      : {}),
  };
  const bytes = Buffer.from(JSON.stringify(index));
  return new MemoryIndex(bytes, mediaType, children);
}
