/**
 * Reading images and registries without moving images: a summary of an image, its raw manifest,
 * its config, its digest; the tags of a repository, the repositories of a registry; deleting a
 * manifest. An image is named by any location (registry reference, `oci:`, `store:`...).
 */

import { describeLocation, type ImageLocation, type OpenedImage, openImage } from '../engine/source.js';
import { GantryError } from '../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { formatPlatform } from '../oci/platform.js';
import type { ImageConfig } from '../oci/types.js';
import { familiarName, formatReference, type Reference } from '../reference/index.js';
import { isReferrersTag } from '../registry/client/index.js';
import { type CommonOptions, type Session, sessionOf } from './session.js';
import { candidateLocations, candidateReferences, firstAnswer, writableReference } from './short-names.js';
import { locationsFor, type PlatformOption, pickPlatform, platformOf } from './transfer.js';

function usage(message: string, suggestion: string): GantryError {
  return new GantryError('USAGE', message, { phase: 'usage', suggestion });
}

/** The summary `gantry inspect` prints. */
export interface ImageInspection {
  readonly Name: string;
  readonly Digest: string;
  readonly MediaType: string;
  /** An index: its manifests. */
  readonly Manifests?: readonly {
    readonly Digest: string;
    readonly MediaType: string;
    readonly Size: number;
    readonly Platform?: string;
  }[];
  /** An image: its platform, creation time, runtime config, layers and config digest. */
  readonly Platform?: string;
  readonly Created?: string;
  readonly Config?: NonNullable<ImageConfig['config']>;
  readonly Layers?: readonly { readonly Digest: string; readonly MediaType: string; readonly Size: number }[];
  readonly ConfigDigest?: string;
}

/**
 * For a registry name that failed to open: an error saying the local store has that name, with
 * the explicit form that reads it there (`store:NAME`), or undefined when it does not.
 */
async function onlyInStore(
  locs: readonly ImageLocation[],
  session: Session,
  err: unknown,
  signal: AbortSignal | undefined,
): Promise<GantryError | undefined> {
  const first = locs[0];
  if (signal?.aborted || first?.kind !== 'registry' || locs.some((l) => l.kind !== 'registry')) return undefined;
  const name = formatReference(first.ref);
  const store = await session.store();
  const found = await store.resolve(name, signal ? { signal } : {}).then(
    () => true,
    () => false,
  );
  if (!found) return undefined;
  return new GantryError(
    'IMAGE_ONLY_IN_STORE',
    `${name} is in the local store but could not be read from ${locs.map((l) => (l.kind === 'registry' ? l.ref.registry : '')).join(', ')}: ${err instanceof Error ? err.message : String(err)}`,
    {
      phase: 'resolve',
      suggestion: `registry commands read registries; to read the local store write store:${familiarName(first.ref)}`,
      cause: err,
    },
  );
}

async function withImage<T>(
  image: string | ImageLocation,
  options: CommonOptions,
  fn: (src: OpenedImage) => Promise<T>,
): Promise<T> {
  const session = sessionOf(options);
  const locs = await candidateLocations(image, session);
  const lc = await locationsFor(session, options.progress, ...locs);
  const src = await firstAnswer(
    typeof image === 'string' ? image : describeLocation(image),
    locs,
    (l) => (l.kind === 'registry' ? l.ref.registry : describeLocation(l)),
    (l) => openImage(l, lc, options.signal ? { signal: options.signal } : {}),
    options.signal,
  ).catch(async (err: unknown) => {
    throw (await onlyInStore(locs, session, err, options.signal)) ?? err;
  });
  try {
    return await fn(src);
  } finally {
    await src.close();
  }
}

async function narrowed(
  item: Image | ImageIndex,
  options: CommonOptions & PlatformOption,
  alwaysPick: boolean,
): Promise<Image | ImageIndex> {
  const platform = platformOf(options.platform);
  if (!platform && !alwaysPick) return item;
  return pickPlatform(item, platform, false, options.signal);
}

/** A summary of an image (or index): digest, media type, platform, config, layers. */
export function inspect(
  image: string | ImageLocation,
  options: CommonOptions & PlatformOption = {},
): Promise<ImageInspection> {
  return withImage(image, options, async (src) => {
    const o = options.signal ? { signal: options.signal } : {};
    const item = await narrowed(src.item, options, false);
    const head = {
      Name: src.name ?? (typeof image === 'string' ? image : ''),
      Digest: await item.digest(o),
      MediaType: await item.mediaType(o),
    };
    if (isImageIndex(item)) {
      const index = await item.indexManifest(o);
      return {
        ...head,
        Manifests: index.manifests.map((d) => ({
          Digest: d.digest,
          MediaType: d.mediaType,
          Size: d.size,
          ...(d.platform ? { Platform: formatPlatform(d.platform) } : {}),
        })),
      };
    }
    const manifest = await item.manifest(o);
    const config = await item.configFile(o);
    return {
      ...head,
      Platform: formatPlatform({
        os: config.os,
        architecture: config.architecture,
        ...(config.variant ? { variant: config.variant } : {}),
      }),
      ...(config.created !== undefined ? { Created: config.created } : {}),
      Config: config.config ?? {},
      Layers: manifest.layers.map((l) => ({ Digest: l.digest, MediaType: l.mediaType, Size: l.size })),
      ConfigDigest: manifest.config.digest,
    };
  });
}

/** The manifest (or index) bytes as stored. */
export function rawManifest(
  image: string | ImageLocation,
  options: CommonOptions & PlatformOption = {},
): Promise<Buffer> {
  return withImage(image, options, async (src) => {
    const item = await narrowed(src.item, options, false);
    return item.rawManifest(options.signal ? { signal: options.signal } : {});
  });
}

/** The image config (of this machine's platform, or `platform`, for an index). */
export function imageConfig(
  image: string | ImageLocation,
  options: CommonOptions & PlatformOption = {},
): Promise<ImageConfig> {
  return withImage(image, options, async (src) => {
    const item = await narrowed(src.item, options, isImageIndex(src.item));
    if (isImageIndex(item)) throw usage('an index has no config', 'pick a platform with --platform');
    return item.configFile(options.signal ? { signal: options.signal } : {});
  });
}

/** The digest of an image's manifest (or index); for a registry image a HEAD request is enough. */
export async function digest(
  image: string | ImageLocation,
  options: CommonOptions & PlatformOption = {},
): Promise<string> {
  const session = sessionOf(options);
  const locs = await candidateLocations(image, session);
  if (locs.every((l) => l.kind === 'registry') && options.platform === undefined) {
    const client = await session.client(options.progress);
    return firstAnswer(
      typeof image === 'string' ? image : describeLocation(image),
      locs.flatMap((l) => (l.kind === 'registry' ? [l.ref] : [])),
      (ref) => ref.registry,
      async (ref) => {
        const desc = await client.headManifest(ref, options.signal ? { signal: options.signal } : {});
        if (!desc) throw usage(`${formatReference(ref)} not found`, 'check the name and tag');
        return desc.digest;
      },
      options.signal,
    );
  }
  return withImage(image, { ...options, session }, async (src) => {
    const item = await narrowed(src.item, options, false);
    return item.digest(options.signal ? { signal: options.signal } : {});
  });
}

function checkRepository(input: string | Reference, ref: Reference): Reference {
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw usage(
      `${typeof input === 'string' ? input : formatReference(ref)} names an image, not a repository`,
      'give the repository without :TAG or @DIGEST',
    );
  }
  return ref;
}

export interface TagsOptions extends CommonOptions {
  /** Also the referrers-fallback and cosign tags (`sha256-<hex>[.sig]`), left out by default. */
  readonly all?: boolean;
}

/** Every tag of a repository (`REGISTRY/REPO`), all pages; not the `sha256-<hex>` artifact tags unless `all`. */
export async function tags(repository: string | Reference, options: TagsOptions = {}): Promise<string[]> {
  const session = sessionOf(options);
  const refs = (await candidateReferences(repository, session, { defaultTag: '' })).map((r) =>
    checkRepository(repository, r),
  );
  const client = await session.client(options.progress);
  const all = await firstAnswer(
    typeof repository === 'string' ? repository : formatReference(repository),
    refs,
    (ref) => ref.registry,
    (ref) =>
      client.tags(
        { registry: ref.registry, repository: ref.repository },
        options.signal ? { signal: options.signal } : {},
      ),
    options.signal,
  );
  return options.all ? all : all.filter((t) => !isReferrersTag(t));
}

/** Every repository of a registry (`HOST[:PORT]`), all pages. */
export async function catalog(registry: string, options: CommonOptions = {}): Promise<string[]> {
  const client = await sessionOf(options).client(options.progress);
  return client.catalog(registry, options.signal ? { signal: options.signal } : {});
}

export interface DeleteOptions extends CommonOptions {
  /**
   * Delete a manifest named by a tag even when other tags of the repository name it too (they go
   * with it). Without it such a delete is refused, naming those tags, as `regctl manifest delete`
   * refuses without --force-tag-dereference (crane delete would remove them silently).
   */
  readonly forceTagDereference?: boolean;
}

/** The other tags of `ref`'s repository that name the manifest `digest` (none when tags cannot be listed). */
async function tagsSharing(
  client: Awaited<ReturnType<ReturnType<typeof sessionOf>['client']>>,
  ref: Reference,
  digest: string,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const o = signal ? { signal } : {};
  const all = await client.tags({ registry: ref.registry, repository: ref.repository }, o).catch(() => [] as string[]);
  const shared: string[] = [];
  for (const tag of all) {
    if (tag === ref.tag) continue;
    const desc = await client.headManifest({ ...ref, tag }, o).catch(() => undefined);
    if (desc?.digest === digest) shared.push(tag);
  }
  return shared.sort();
}

/**
 * Deletes a manifest from a registry (a tag is resolved to its digest first, and refused when
 * other tags share that manifest unless `forceTagDereference`); returns the reference.
 */
export async function deleteImage(reference: string | Reference, options: DeleteOptions = {}): Promise<string> {
  const session = sessionOf(options);
  const ref = await writableReference(reference, session, 'delete');
  const client = await session.client(options.progress);
  if (ref.tag !== undefined && ref.digest === undefined && options.forceTagDereference !== true) {
    const desc = await client.headManifest(ref, options.signal ? { signal: options.signal } : {});
    const shared = desc ? await tagsSharing(client, ref, desc.digest, options.signal) : [];
    if (desc && shared.length > 0) {
      throw new GantryError(
        'DELETE_SHARED_MANIFEST',
        `${formatReference(ref)} is manifest ${desc.digest}, which tag${shared.length > 1 ? 's' : ''} ${shared.join(', ')} of ${ref.repository} also name${shared.length > 1 ? '' : 's'}: deleting it deletes them too`,
        {
          phase: 'usage',
          suggestion: 'add --force-tag-dereference to delete the manifest with every tag naming it (as regctl does)',
        },
      );
    }
  }
  await client.deleteManifest(ref, options.signal ? { signal: options.signal } : {});
  return formatReference(ref);
}
