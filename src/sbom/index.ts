/**
 * The SBOM of an image, from the image itself: the package databases its final filesystem holds
 * (read from the layer streams, nothing extracted), the distribution, and the base image the final
 * stage started from. One function, `imageSbom`, for every front end: it looks at the built image,
 * never at how it was built.
 */
import type { IoOptions } from '../errors.js';
import type { Image } from '../oci/image.js';
import { formatPlatform } from '../oci/platform.js';
import type { Descriptor } from '../oci/types.js';
import { type BaseSeed, baseSeed } from './base.js';
import { type Catalog, catalog, wantedForSbom } from './catalog.js';
import { cycloneDx } from './cyclonedx.js';
import { hasPickState, type PickedFile, pick } from './files.js';
import { extractBuildInfo, isGoCandidate } from './golang.js';
import { SBOM_MEDIA_TYPES, type SbomFormat } from './media-types.js';
import { spdx } from './spdx.js';
import type { SbomSubject } from './subject.js';

export type { Catalog, ImagePackage, OsRelease, PackageHash } from './catalog.js';
export { SBOM_MEDIA_TYPES, type SbomFormat } from './media-types.js';
export type { SbomSubject } from './subject.js';

/** A base image the build used, by the name it was asked for. */
export interface SbomBase {
  readonly name: string;
  readonly image: Image;
}

export interface SbomOptions extends IoOptions {
  /** Default cyclonedx (CycloneDX 1.6 JSON). */
  readonly format?: SbomFormat;
  /** The image's name, for the document's subject. */
  readonly name?: string;
  /** Images the build started from: the one whose layers begin the image's is named as its base. */
  readonly bases?: readonly SbomBase[];
  /** The document's time; default the image's `created`, else the epoch (same image, same SBOM). */
  readonly created?: string;
  readonly toolVersion?: string;
  /**
   * A directory (in the store) keeping what the layers of an image stack hold for the SBOM: the
   * base's layers are then read once per store, not on every build on it.
   */
  readonly cacheDir?: string;
  /** Told how many of the image's layers were read (the others came from `cacheDir`). */
  readonly onRead?: (read: number, total: number) => void;
  /**
   * Whether a layer may be read (e.g. it is in the store): a layer that may not is never
   * downloaded. The base's packages then come from `baseSbom`, else the document says the base's
   * contents are unknown (CycloneDX compositions). Default: every layer is read.
   */
  readonly readable?: (layer: Descriptor) => Promise<boolean>;
  /** The base image's own CycloneDX SBOM, when it has one (asked only when its layers may not be read). */
  readonly baseSbom?: (base: {
    name: string;
    digest: string;
  }) => Promise<{ digest: string; bytes: Buffer } | undefined>;
}

export interface Sbom {
  readonly format: SbomFormat;
  readonly mediaType: string;
  readonly bytes: Buffer;
  readonly subject: SbomSubject;
  readonly catalog: Catalog;
}

/** What an image's catalog was made from, when not all of its layers were read. */
interface CatalogSource {
  readonly catalog: Catalog;
  readonly unread: readonly number[];
  readonly seed?: BaseSeed;
}

/** What `wantedForSbom` picks: a new value when it picks other files (cached states are then unused). */
const PICK_VERSION = 'sbom-2';

/** The packages of `image` (what the SBOM lists), without writing a document. */
export async function imageCatalog(
  image: Image,
  options: IoOptions & Pick<SbomOptions, 'cacheDir' | 'onRead'> & { checkpoints?: readonly number[] } = {},
): Promise<Catalog> {
  return (await catalogOf(image, options)).catalog;
}

async function catalogOf(
  image: Image,
  options: IoOptions &
    Pick<SbomOptions, 'cacheDir' | 'onRead'> & {
      checkpoints?: readonly number[];
      readable?: (index: number) => Promise<boolean>;
      seed?: BaseSeed & { depth: number };
    },
): Promise<CatalogSource> {
  const picked = await pick(image, wantedForSbom, {
    extract: (path) => (isGoCandidate(path) ? extractBuildInfo : undefined),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onRead ? { onRead: options.onRead } : {}),
    ...(options.readable ? { readable: options.readable } : {}),
    ...(options.seed ? { seed: options.seed } : {}),
    ...(options.cacheDir !== undefined
      ? { cache: { dir: options.cacheDir, version: PICK_VERSION, checkpoints: options.checkpoints ?? [] } }
      : {}),
  });
  const seed = options.seed;
  if (!seed) return { catalog: catalog(picked.files), unread: picked.unread };
  // The base's packages whose database no layer above replaced or removed, with what the layers hold.
  const kept = picked.files.filter((f) => seed.packages.has(f));
  const own = catalog(picked.files.filter((f: PickedFile) => !seed.packages.has(f)));
  const key = (p: Catalog['packages'][number]) => `${p.ecosystem}\u0000${p.name}\u0000${p.version}\u0000${p.foundIn}`;
  const packages = [...own.packages, ...kept.flatMap((f) => seed.packages.get(f) ?? [])];
  packages.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return { catalog: { ...(own.os ? { os: own.os } : {}), packages }, unread: picked.unread, seed };
}

async function baseOf(image: Image, bases: readonly SbomBase[], options: IoOptions) {
  const own = (await image.configFile(options)).rootfs.diff_ids;
  let best: { name: string; digest: string; depth: number } | undefined;
  // The deepest base whose layers begin the image's: its depth is where the pick state is kept.
  for (const b of bases) {
    const ids = (await b.image.configFile(options)).rootfs.diff_ids;
    if (ids.length === 0 || ids.length > own.length || !ids.every((d, i) => own[i] === d)) continue;
    if (best === undefined || ids.length > best.depth)
      best = { name: b.name, digest: await b.image.digest(options), depth: ids.length };
  }
  return best;
}

/** The SBOM of `image` as a CycloneDX 1.6 or SPDX 2.3 JSON document. */
export async function imageSbom(image: Image, options: SbomOptions = {}): Promise<Sbom> {
  const format = options.format ?? 'cyclonedx';
  const config = await image.configFile(options);
  const base = await baseOf(image, options.bases ?? [], options);
  const subject: SbomSubject = {
    ...(options.name !== undefined ? { name: options.name } : {}),
    digest: await image.digest(options),
    ...(config.os && config.architecture
      ? {
          platform: formatPlatform({
            os: config.os,
            architecture: config.architecture,
            ...(config.variant ? { variant: config.variant } : {}),
          }),
        }
      : {}),
    ...(base ? { base: { name: base.name, digest: base.digest } } : {}),
    created: options.created ?? config.created ?? '1970-01-01T00:00:00Z',
    ...(options.toolVersion ? { toolVersion: options.toolVersion } : {}),
  };
  const layers = (await image.manifest(options)).layers;
  const readable = options.readable;
  const may = readable ? (i: number) => readable(layers[i] as Descriptor) : undefined;
  let seed: (BaseSeed & { depth: number; digest: string }) | undefined;
  if (base && may && options.baseSbom) {
    let baseUnreadable = false;
    for (let i = 0; i < base.depth && !baseUnreadable; i++) baseUnreadable = !(await may(i));
    const cached =
      options.cacheDir !== undefined &&
      (await hasPickState(options.cacheDir, PICK_VERSION, config.rootfs.diff_ids, base.depth));
    if (baseUnreadable && !cached) {
      const doc = await options.baseSbom({ name: base.name, digest: base.digest });
      const parsed = doc ? baseSeed(doc.bytes, base.depth) : undefined;
      if (doc && parsed) seed = { ...parsed, depth: base.depth, digest: doc.digest };
    }
  }
  const source = await catalogOf(image, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onRead ? { onRead: options.onRead } : {}),
    ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
    ...(base ? { checkpoints: [base.depth] } : {}),
    ...(may ? { readable: may } : {}),
    ...(seed ? { seed } : {}),
  });
  const unread = source.unread;
  const described: SbomSubject = {
    ...subject,
    ...(subject.base && seed ? { base: { ...subject.base, sbom: seed.digest } } : {}),
    ...(unread.length > 0
      ? {
          incomplete: {
            base: base !== undefined && unread.some((i) => i < base.depth),
            layers: unread.filter((i) => !base || i >= base.depth).map((i) => (layers[i] as Descriptor).digest),
          },
        }
      : {}),
  };
  const cat = source.catalog;
  const text = format === 'spdx' ? spdx(described, cat) : `${await cycloneDx(described, cat)}\n`;
  return {
    format,
    mediaType: SBOM_MEDIA_TYPES[format],
    bytes: Buffer.from(text),
    subject: described,
    catalog: cat,
  };
}
