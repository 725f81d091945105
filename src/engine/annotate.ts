/**
 * `--annotation` as BuildKit takes it: `[TYPE[,TYPE...]][[PLATFORM]]:KEY=VALUE`, TYPE one of
 * `manifest` (the default), `index`, `manifest-descriptor` (the image's entry in the index) and
 * `index-descriptor` (the index's entry in an OCI layout's index.json). Annotating an image makes
 * a new one (new manifest bytes, same config and layers); an index is rebuilt over its annotated
 * children.
 */
import { GantryError, type IoOptions } from '../errors.js';
import { digestOf } from '../oci/digest.js';
import { type Image, type ImageIndex, isImageIndex, type Layer } from '../oci/image.js';
import { formatPlatform, parsePlatform } from '../oci/platform.js';
import type { Descriptor, Digest, ImageConfig, Index, Manifest } from '../oci/types.js';

export type AnnotationLevel = 'manifest' | 'index' | 'manifest-descriptor' | 'index-descriptor';

export interface Annotation {
  readonly levels: readonly AnnotationLevel[];
  /** Only images of this platform (`os/arch[/variant]`). */
  readonly platform?: string;
  readonly key: string;
  readonly value: string;
}

const LEVELS = new Set<string>(['manifest', 'index', 'manifest-descriptor', 'index-descriptor']);

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

/** Parses one `--annotation` value. */
export function parseAnnotation(text: string): Annotation {
  const eq = text.indexOf('=');
  if (eq <= 0) throw usage(`--annotation ${text} is not KEY=VALUE`, 'write [TYPE[PLATFORM]:]KEY=VALUE');
  const head = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const m = /^([a-z-]+(?:,[a-z-]+)*)?(?:\[([^\]]+)\])?:(.+)$/.exec(head);
  if (m && (m[1] !== undefined || m[2] !== undefined)) {
    const levels = m[1]?.split(',') ?? ['manifest'];
    if (levels.every((l) => LEVELS.has(l))) {
      const platform = m[2] === undefined ? undefined : formatPlatform(parsePlatform(m[2]));
      return { levels: levels as AnnotationLevel[], ...(platform ? { platform } : {}), key: m[3] as string, value };
    }
    if (m[2] !== undefined) {
      throw usage(
        `--annotation ${text}: unknown type ${m[1]}`,
        'use manifest, index, manifest-descriptor or index-descriptor',
      );
    }
  }
  return { levels: ['manifest'], key: head, value };
}

function pick(annotations: readonly Annotation[], level: AnnotationLevel, platform?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of annotations) {
    if (!a.levels.includes(level)) continue;
    if (a.platform !== undefined && a.platform !== platform) continue;
    out[a.key] = a.value;
  }
  return out;
}

/** An image with more annotations on its manifest: new manifest bytes, same config and layers. */
class AnnotatedImage implements Image {
  readonly #inner: Image;
  readonly #raw: Buffer;
  readonly #manifest: Manifest;

  constructor(inner: Image, manifest: Manifest) {
    this.#inner = inner;
    this.#manifest = manifest;
    this.#raw = Buffer.from(JSON.stringify(manifest));
  }
  mediaType(o?: IoOptions): Promise<string> {
    return this.#inner.mediaType(o);
  }
  async rawManifest(): Promise<Buffer> {
    return Buffer.from(this.#raw);
  }
  async manifest(): Promise<Manifest> {
    return this.#manifest;
  }
  async digest(): Promise<Digest> {
    return digestOf(this.#raw);
  }
  async size(): Promise<number> {
    return this.#raw.byteLength;
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
  layers(o?: IoOptions): Promise<Layer[]> {
    return this.#inner.layers(o);
  }
  layerByDigest(digest: Digest, o?: IoOptions): Promise<Layer> {
    return this.#inner.layerByDigest(digest, o);
  }
}

class AnnotatedIndex implements ImageIndex {
  readonly #raw: Buffer;
  readonly #index: Index;
  readonly #mediaType: string;
  readonly #images: ReadonlyMap<Digest, Image>;

  constructor(index: Index, mediaType: string, images: ReadonlyMap<Digest, Image>) {
    this.#index = index;
    this.#raw = Buffer.from(JSON.stringify(index));
    this.#mediaType = mediaType;
    this.#images = images;
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
    return digestOf(this.#raw);
  }
  async size(): Promise<number> {
    return this.#raw.byteLength;
  }
  async image(digest: Digest): Promise<Image> {
    const image = this.#images.get(digest);
    if (!image) {
      throw new GantryError('MANIFEST_NOT_FOUND', `index has no image ${digest}`, {
        phase: 'resolve',
        suggestion: 'list the manifests of the index',
      });
    }
    return image;
  }
  async imageIndex(digest: Digest): Promise<ImageIndex> {
    throw new GantryError('MANIFEST_NOT_FOUND', `index has no child index ${digest}`, {
      phase: 'resolve',
      suggestion: 'a built index holds images only',
    });
  }
}

async function annotateImage(image: Image, annotations: Record<string, string>, o: IoOptions): Promise<Image> {
  if (Object.keys(annotations).length === 0) return image;
  const manifest = await image.manifest(o);
  return new AnnotatedImage(image, { ...manifest, annotations: { ...(manifest.annotations ?? {}), ...annotations } });
}

async function platformOf(image: Image, o: IoOptions): Promise<string> {
  const c = await image.configFile(o);
  return formatPlatform({ os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) });
}

/**
 * Applies the manifest, index and manifest-descriptor annotations to what a build made. Index
 * annotations need an index: a single-platform image refuses them, as BuildKit does.
 */
export async function annotate(
  item: Image | ImageIndex,
  annotations: readonly Annotation[],
  o: IoOptions = {},
): Promise<Image | ImageIndex> {
  if (annotations.length === 0) return item;
  if (!isImageIndex(item)) {
    if (annotations.some((a) => a.levels.includes('index') || a.levels.includes('manifest-descriptor'))) {
      throw usage(
        'index annotations are not supported for a single-platform image',
        'build several platforms (--platform a,b), or annotate the manifest',
      );
    }
    return annotateImage(item, pick(annotations, 'manifest', await platformOf(item, o)), o);
  }
  const index = await item.indexManifest(o);
  const images = new Map<Digest, Image>();
  const manifests: Descriptor[] = [];
  for (const child of index.manifests) {
    const image = await item.image(child.digest, o);
    const platform = child.platform ? formatPlatform(child.platform) : await platformOf(image, o);
    const annotated = await annotateImage(image, pick(annotations, 'manifest', platform), o);
    const digest = await annotated.digest(o);
    images.set(digest, annotated);
    const extra = pick(annotations, 'manifest-descriptor', platform);
    manifests.push({
      ...child,
      digest,
      size: await annotated.size(o),
      ...(Object.keys(extra).length > 0 ? { annotations: { ...(child.annotations ?? {}), ...extra } } : {}),
    });
  }
  const top = pick(annotations, 'index');
  const next: Index = {
    ...index,
    manifests,
    ...(Object.keys(top).length > 0 ? { annotations: { ...(index.annotations ?? {}), ...top } } : {}),
  };
  return new AnnotatedIndex(next, await item.mediaType(o), images);
}

/** The index-descriptor annotations: for the entry of an OCI layout output's index.json. */
export function descriptorAnnotations(annotations: readonly Annotation[]): Record<string, string> {
  return pick(annotations, 'index-descriptor');
}
