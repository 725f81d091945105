/**
 * `rebase`: swaps the base layers of a remote image, as `crane rebase` does. The image's first
 * layers must be exactly the old base's layers (same digests, same order), else it is refused;
 * they are replaced by the new base's layers, and the history and diff_ids follow. Only the
 * manifest and config are written: the new base's layers are mounted from its repository (or
 * found in the target) and the image's own layers stay where they are; nothing is downloaded.
 * An index is rebased platform by platform, each against the same platform of the bases.
 */
import { GantryError, type IoOptions, throwIfAborted } from '../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { isManifestMediaType } from '../oci/parse.js';
import { resolvePlatform } from '../oci/partial.js';
import { formatPlatform } from '../oci/platform.js';
import { type Descriptor, type Digest, MediaType, type Platform } from '../oci/types.js';
import { formatReference } from '../reference/index.js';
import {
  EditedImage,
  EditedIndex,
  io,
  isDockerManifest,
  type OpenedRemote,
  openRemote,
  type Pushed,
  pushTo,
  rawConfigObject,
  targetOf,
  usage,
} from './edit.js';
import { callerReference } from './input.js';
import type { CommonOptions } from './session.js';

export interface RebaseOptions extends CommonOptions {
  /**
   * The base the image was built on (a registry reference); default, as crane: the image's
   * `org.opencontainers.image.base.name` at its `base.digest` annotation.
   */
  readonly oldBase?: string;
  /** The base to put under it instead; default: `base.name` as it is now (a newer base under the same tag). */
  readonly newBase?: string;
  /** Where to push: a tag of the same repository or a full reference (default: by digest, same repository). */
  readonly tag?: string;
}

type Json = Record<string, unknown>;

const BASE_NAME = 'org.opencontainers.image.base.name';
const BASE_DIGEST = 'org.opencontainers.image.base.digest';

/** A layer media type relabelled to the manifest family it is listed in (the bytes are the same). */
function inFamily(desc: Descriptor, manifestType: string): Descriptor {
  const docker = isDockerManifest(manifestType);
  if (docker && desc.mediaType === MediaType.OciLayerGzip) return { ...desc, mediaType: MediaType.DockerLayerGzip };
  if (!docker && desc.mediaType === MediaType.DockerLayerGzip) return { ...desc, mediaType: MediaType.OciLayerGzip };
  return desc;
}

async function platformOfImage(image: Image, o: IoOptions): Promise<Platform> {
  const c = await image.configFile(o);
  return { os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) };
}

async function basefor(base: Image | ImageIndex, platform: Platform, o: IoOptions): Promise<Image> {
  return isImageIndex(base) ? resolvePlatform(base, platform, o) : base;
}

async function rebaseImage(
  original: Image,
  oldBase: OpenedRemote,
  newBase: OpenedRemote,
  o: IoOptions,
): Promise<Image> {
  const platform = await platformOfImage(original, o);
  const oldImage = await basefor(oldBase.item, platform, o);
  const newImage = await basefor(newBase.item, platform, o);
  const manifest = await original.manifest(o);
  const oldLayers = (await oldImage.manifest(o)).layers;
  const mine = manifest.layers;
  const differs = oldLayers.findIndex((d, i) => mine[i]?.digest !== d.digest);
  if (oldLayers.length > mine.length || differs >= 0) {
    const at = differs >= 0 ? differs : mine.length;
    throw new GantryError(
      'REBASE_MISMATCH',
      `${formatPlatform(platform)} image ${await original.digest(o)} is not based on ${formatReference(oldBase.ref)}: ` +
        `its layer ${at + 1} is ${mine[at]?.digest ?? 'missing'}, the old base's is ${oldLayers[at]?.digest}`,
      { phase: 'resolve', suggestion: 'give as --old-base the image it was built FROM (same digest, same platform)' },
    );
  }
  const config = await rawConfigObject(original, o);
  const oldConfig = await rawConfigObject(oldImage, o);
  const newConfig = await rawConfigObject(newImage, o);
  const diffIds = (c: Json) => ((c.rootfs as { diff_ids?: Digest[] } | undefined)?.diff_ids ?? []) as Digest[];
  const history = (c: Json) => (c.history as Json[] | undefined) ?? [];
  const n = oldLayers.length;
  const rebasedConfig: Json = {
    ...config,
    rootfs: { type: 'layers', diff_ids: [...diffIds(newConfig), ...diffIds(config).slice(n)] },
    history: [...history(newConfig), ...history(config).slice(history(oldConfig).length)],
  };
  const manifestType = manifest.mediaType ?? MediaType.OciManifest;
  const newLayers = (await newImage.manifest(o)).layers.map((d) => inFamily(d, manifestType));
  const rebased = {
    ...manifest,
    layers: [...newLayers, ...mine.slice(n)],
    annotations: {
      ...(manifest.annotations ?? {}),
      [BASE_NAME]: formatReference(newBase.ref),
      [BASE_DIGEST]: await newImage.digest(o),
    },
  };
  const layers = [...(await newImage.layers(o)), ...(await original.layers(o)).slice(n)];
  return new EditedImage(rebased, rebasedConfig, layers);
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

/** The bases to use: the options', else those the image's base annotations name. */
async function basesOf(
  orig: OpenedRemote,
  options: RebaseOptions,
  o: IoOptions,
): Promise<{ oldBase: string; newBase: string }> {
  if (options.oldBase !== undefined && options.newBase !== undefined) {
    return { oldBase: options.oldBase, newBase: options.newBase };
  }
  const annotations = isImageIndex(orig.item)
    ? (await orig.item.indexManifest(o)).annotations
    : (await orig.item.manifest(o)).annotations;
  const name = annotations?.[BASE_NAME];
  const digest = annotations?.[BASE_DIGEST];
  if (name === undefined || (options.oldBase === undefined && digest === undefined)) {
    throw usage(
      `${formatReference(orig.ref)} does not say which base it was built on (no ${BASE_NAME} and ${BASE_DIGEST} annotations)`,
      'give --old-base and --new-base',
    );
  }
  const named = callerReference(name);
  const oldBase =
    options.oldBase ??
    formatReference({ registry: named.registry, repository: named.repository, digest: digest as string });
  return { oldBase, newBase: options.newBase ?? name };
}

/** Rebases a remote image (every platform of an index) from `oldBase` onto `newBase` and pushes it. */
export async function rebase(original: string, options: RebaseOptions): Promise<Pushed> {
  const o = io(options);
  const orig = await openRemote(original, options);
  const bases = await basesOf(orig, options, o);
  const oldBase = await openRemote(bases.oldBase, options);
  const newBase = await openRemote(bases.newBase, options);
  const target = targetOf(orig.ref, options.tag);
  if (!isImageIndex(orig.item)) {
    return pushTo(orig.client, target, await rebaseImage(orig.item, oldBase, newBase, o), options);
  }
  const doc = await orig.item.indexManifest(o);
  const manifests: Descriptor[] = [];
  const extra = new Map<Digest, Image>();
  for (const child of doc.manifests) {
    throwIfAborted(o.signal);
    if (isAttestation(child)) continue;
    if (!isManifestMediaType(child.mediaType)) {
      manifests.push(child);
      continue;
    }
    const rebased = await rebaseImage(await orig.item.image(child.digest, o), oldBase, newBase, o);
    const digest = await rebased.digest();
    extra.set(digest, rebased);
    manifests.push({ ...child, mediaType: await rebased.mediaType(), digest, size: await rebased.size() });
  }
  return pushTo(orig.client, target, new EditedIndex({ ...doc, manifests }, orig.item, extra), options);
}
