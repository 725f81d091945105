/**
 * `index create` and `index append`: a multi-platform index assembled from images already in a
 * registry, as `crane index append` does. Each manifest's platform is read from its config; an
 * index given as a manifest contributes its children (with the platforms its descriptors say).
 * The push moves no layer: children are found in the target repository or mounted into it from
 * theirs (same registry), and only the child manifests and the index are written.
 */
import { type IoOptions, throwIfAborted } from '../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { isManifestMediaType } from '../oci/parse.js';
import { normalizePlatform } from '../oci/platform.js';
import { type Descriptor, type Digest, type Index, MediaType, type Platform } from '../oci/types.js';
import type { Reference } from '../reference/index.js';
import { EditedIndex, io, openRemote, type Pushed, pushTo, targetOf, usage } from './edit.js';
import { callerReference } from './input.js';
import { type CommonOptions, sessionOf } from './session.js';

export interface IndexCreateOptions extends CommonOptions {
  /** The images (registry references) to list; an index contributes its children. */
  readonly manifests: readonly string[];
  /** Index media type (default: Docker's manifest list when every child is a Docker manifest, else OCI). */
  readonly mediaType?: 'oci' | 'docker';
}

export interface IndexAppendOptions extends CommonOptions {
  /** The images to add; an index contributes its children. */
  readonly manifests: readonly string[];
  /** Where to push (a tag of the base's repository or a full reference); default the base itself. */
  readonly tag?: string;
}

interface Entry {
  readonly descriptor: Descriptor;
  readonly item: Image;
}

async function platformOfConfig(image: Image, o: IoOptions): Promise<Platform | undefined> {
  try {
    const c = await image.configFile(o);
    if (!c.os || !c.architecture) return undefined;
    return normalizePlatform({
      os: c.os,
      architecture: c.architecture,
      ...(c.variant ? { variant: c.variant } : {}),
      ...(c['os.version'] ? { 'os.version': c['os.version'] } : {}),
    });
  } catch (err) {
    if (o.signal?.aborted) throw err;
    return undefined; // an artifact whose config is not an image config: listed without a platform
  }
}

async function entriesOf(reference: string, options: CommonOptions): Promise<Entry[]> {
  const o = io(options);
  const { item } = await openRemote(reference, options);
  if (!isImageIndex(item)) {
    const platform = await platformOfConfig(item, o);
    const descriptor: Descriptor = {
      mediaType: await item.mediaType(o),
      digest: await item.digest(o),
      size: await item.size(o),
      ...(platform ? { platform } : {}),
    };
    return [{ descriptor, item }];
  }
  const out: Entry[] = [];
  for (const child of (await item.indexManifest(o)).manifests) {
    throwIfAborted(o.signal);
    if (!isManifestMediaType(child.mediaType)) continue;
    out.push({ descriptor: child, item: await item.image(child.digest, o) });
  }
  return out;
}

async function collect(
  manifests: readonly string[],
  have: readonly Descriptor[],
  options: CommonOptions,
): Promise<{ descriptors: Descriptor[]; items: Map<Digest, Image> }> {
  if (manifests.length === 0) throw usage('no manifest to put in the index', 'give -m REF (once per image)');
  const seen = new Set(have.map((d) => d.digest));
  const descriptors: Descriptor[] = [];
  const items = new Map<Digest, Image>();
  for (const m of manifests) {
    for (const entry of await entriesOf(m, options)) {
      if (seen.has(entry.descriptor.digest)) continue;
      seen.add(entry.descriptor.digest);
      descriptors.push(entry.descriptor);
      items.set(entry.descriptor.digest, entry.item);
    }
  }
  return { descriptors, items };
}

/** Makes an index of `options.manifests` and pushes it as `target`. */
export async function indexCreate(target: string | Reference, options: IndexCreateOptions): Promise<Pushed> {
  const ref = callerReference(target);
  const { descriptors, items } = await collect(options.manifests, [], options);
  const docker =
    options.mediaType === 'docker' ||
    (options.mediaType === undefined && descriptors.every((d) => d.mediaType === MediaType.DockerManifest));
  const index: Index = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifestList : MediaType.OciIndex,
    manifests: descriptors,
  };
  const client = await sessionOf(options).client(options.progress);
  return pushTo(client, ref, new EditedIndex(index, undefined, items), options);
}

/** Adds `options.manifests` to the index `base` and pushes the result (default: as `base`). */
export async function indexAppend(base: string | Reference, options: IndexAppendOptions): Promise<Pushed> {
  const { client, ref, item } = await openRemote(typeof base === 'string' ? base : base, options);
  if (!isImageIndex(item)) {
    throw usage(
      `${typeof base === 'string' ? base : ref.repository} is not an index`,
      'give an index as --base, or use gantry index create',
    );
  }
  const doc = await (item as ImageIndex).indexManifest(io(options));
  const { descriptors, items } = await collect(options.manifests, doc.manifests, options);
  const index: Index = { ...doc, manifests: [...doc.manifests, ...descriptors] };
  const target =
    options.tag !== undefined && options.tag !== ''
      ? targetOf(ref, options.tag)
      : ref.tag !== undefined
        ? { registry: ref.registry, repository: ref.repository, tag: ref.tag }
        : { registry: ref.registry, repository: ref.repository };
  return pushTo(client, target, new EditedIndex(index, item, items), options);
}
