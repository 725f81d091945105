/**
 * Where an image comes from and goes to, in the transport syntax skopeo users know:
 * a registry reference (`ghcr.io/org/app:1`, `docker://...`), `oci:DIR[:TAG]`,
 * `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME]` and `store:NAME`.
 * Sources open lazily; archive sources are unpacked into a temp dir removed by `close()`.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GantryError, type IoOptions } from '../errors.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { OciLayout, writeToLayout } from '../oci/layout.js';
import { isIndexMediaType } from '../oci/parse.js';
import type { Descriptor } from '../oci/types.js';
import { formatReference, parseReference, type Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import { pushImage } from '../registry/ops/push.js';
import { type ManifestKeeper, remoteImage } from '../registry/remote.js';
import { ownerTag } from '../store/cleanup.js';
import { normalizeName, REF_NAME_ANNOTATION, type Store } from '../store/store.js';

/**
 * The archive readers and writers (tar, gzip, extraction: some 20 modules), loaded only by the
 * commands that meet an archive, so a registry-to-registry copy or a pull starts without them.
 */
function archives(): Promise<typeof import('../layer/archive/index.js')> {
  return import('../layer/archive/index.js');
}

export type ImageLocation =
  | { readonly kind: 'registry'; readonly ref: Reference }
  | { readonly kind: 'oci'; readonly path: string; readonly tag?: string }
  | { readonly kind: 'oci-archive'; readonly path: string; readonly tag?: string }
  | { readonly kind: 'docker-archive'; readonly path: string; readonly name?: string }
  | { readonly kind: 'store'; readonly name: string };

/** Splits `PATH[:TAG]`: the part after the last colon is a tag when it has no slash. */
function pathAndTag(rest: string): { path: string; tag?: string } {
  const at = rest.lastIndexOf(':');
  if (at > 0 && !rest.slice(at + 1).includes('/')) {
    const tag = rest.slice(at + 1);
    return tag === '' ? { path: rest.slice(0, at) } : { path: rest.slice(0, at), tag };
  }
  return { path: rest };
}

export function parseImageLocation(value: string): ImageLocation {
  const m = /^(oci|oci-archive|docker-archive|store|docker):(.*)$/.exec(value);
  if (!m) return { kind: 'registry', ref: parseReference(value) };
  const [, transport, rest = ''] = m;
  if (rest === '') {
    throw new GantryError('INVALID_LOCATION', `${transport}: needs a path or name`, {
      phase: 'usage',
      suggestion: `write ${transport}:PATH, e.g. ${transport === 'store' ? 'store:app:1' : `${transport}:./image`}`,
    });
  }
  switch (transport) {
    case 'docker':
      return { kind: 'registry', ref: parseReference(rest.replace(/^\/\//, '')) };
    case 'store':
      return { kind: 'store', name: rest };
    case 'docker-archive': {
      const { path, tag } = pathAndTag(rest);
      // NAME may itself hold a colon (`app:1`): take the first colon after the path instead.
      const first = rest.indexOf(':');
      if (tag !== undefined && first > 0 && first < rest.length - 1) {
        return { kind: 'docker-archive', path: rest.slice(0, first), name: rest.slice(first + 1) };
      }
      return { kind: 'docker-archive', path };
    }
    default: {
      const { path, tag } = pathAndTag(rest);
      return { kind: transport as 'oci' | 'oci-archive', path, ...(tag === undefined ? {} : { tag }) };
    }
  }
}

export function describeLocation(loc: ImageLocation): string {
  switch (loc.kind) {
    case 'registry':
      return formatReference(loc.ref);
    case 'store':
      return `store:${loc.name}`;
    case 'docker-archive':
      return `docker-archive:${loc.path}${loc.name ? `:${loc.name}` : ''}`;
    default:
      return `${loc.kind}:${loc.path}${loc.tag ? `:${loc.tag}` : ''}`;
  }
}

export interface OpenedImage {
  readonly item: Image | ImageIndex;
  readonly descriptor: Descriptor;
  /** The name the source knows it by, when it has one. */
  readonly name?: string;
  close(): Promise<void>;
}

export interface LocationContext {
  store(): Promise<Store>;
  client(): Promise<RegistryClient>;
  /** Mirrors to try, in order, before a registry for pulls (registries.toml). */
  mirrors?(registry: string): readonly string[];
}

function notFound(what: string, where: string, suggestion: string): GantryError {
  return new GantryError('IMAGE_NOT_FOUND', `${what} not found in ${where}`, { phase: 'resolve', suggestion });
}

async function descriptorOf(item: Image | ImageIndex, options: IoOptions): Promise<Descriptor> {
  return {
    mediaType: await item.mediaType(options),
    digest: await item.digest(options),
    size: await item.size(options),
  };
}

function open(layout: OciLayout, desc: Descriptor, options: IoOptions): Promise<Image | ImageIndex> {
  return isIndexMediaType(desc.mediaType) ? layout.imageIndex(desc, options) : layout.image(desc, options);
}

async function fromLayout(
  layout: OciLayout,
  tag: string | undefined,
  where: string,
  options: IoOptions,
): Promise<{ item: Image | ImageIndex; descriptor: Descriptor }> {
  const { manifests } = await layout.readIndex(options);
  let desc: Descriptor | undefined;
  if (tag === undefined) {
    // Artifacts beside an image (its SBOM, provenance, signatures) are not images to pick from.
    const images = manifests.filter((d) => d.artifactType === undefined);
    if (images.length !== 1) {
      throw new GantryError('AMBIGUOUS_IMAGE', `${where} holds ${images.length} images`, {
        phase: 'resolve',
        suggestion: 'name one with :TAG after the path',
      });
    }
    desc = images[0];
  } else {
    desc =
      manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === tag) ??
      manifests.find((d) => d.annotations?.['io.containerd.image.name'] === tag) ??
      manifests.find((d) => d.digest === tag);
  }
  if (!desc)
    throw notFound(`image ${tag ?? ''}`.trim(), where, 'list the names with `skopeo inspect` or pick another tag');
  return { item: await open(layout, desc, options), descriptor: desc };
}

/**
 * Opens a registry image, trying the mirrors in order first: a mirror that fails or lacks the
 * image is passed over, and the upstream answers last. Blobs then come from where the manifest did.
 * With a keeper, the manifests and config read are kept in it.
 */
export async function openRemote(
  client: RegistryClient,
  ref: Reference,
  mirrors: readonly string[],
  options: IoOptions,
  keeper?: ManifestKeeper,
): Promise<Image | ImageIndex> {
  for (const mirror of mirrors) {
    try {
      return await remoteImage(client, { ...ref, registry: mirror }, options, keeper);
    } catch (err) {
      if (options.signal?.aborted) throw err;
    }
  }
  return remoteImage(client, ref, options, keeper);
}

/** Opens an image wherever it lives. Call `close()` when done with it. */
export async function openImage(
  loc: ImageLocation,
  ctx: LocationContext,
  options: IoOptions = {},
): Promise<OpenedImage> {
  const nothing = async () => {};
  switch (loc.kind) {
    case 'registry': {
      const client = await ctx.client();
      const item = await openRemote(client, loc.ref, ctx.mirrors?.(loc.ref.registry) ?? [], options);
      return { item, descriptor: await descriptorOf(item, options), name: formatReference(loc.ref), close: nothing };
    }
    case 'store': {
      const store = await ctx.store();
      const entry = await store.resolve(loc.name, options);
      const item = await store.openDescriptor(entry.descriptor, options);
      return { item, descriptor: entry.descriptor, ...(entry.name ? { name: entry.name } : {}), close: nothing };
    }
    case 'oci': {
      const layout = await OciLayout.open(loc.path);
      return { ...(await fromLayout(layout, loc.tag, `oci:${loc.path}`, options)), close: nothing };
    }
    case 'oci-archive':
    case 'docker-archive': {
      const st = await stat(loc.path).catch(() => undefined);
      if (!st?.isFile()) {
        throw new GantryError('ARCHIVE_NOT_FOUND', `${loc.kind}:${loc.path} is not a file`, {
          phase: 'resolve',
          suggestion: 'check the path of the archive',
        });
      }
      const tmp = await mkdtemp(join(tmpdir(), `gantry-src-${ownerTag()}-`));
      const close = () => rm(tmp, { recursive: true, force: true });
      try {
        if (loc.kind === 'oci-archive') {
          // An OCI archive is a layout in a tar: unpack it safely, then read it as a layout.
          const { extractLayer } = await import('../layer/extract.js');
          await extractLayer(createReadStream(loc.path), tmp, {
            whiteouts: 'keep',
            owners: false,
            signal: options.signal,
          });
          const layout = await OciLayout.open(tmp);
          return { ...(await fromLayout(layout, loc.tag, `oci-archive:${loc.path}`, options)), close };
        }
        const layout = await OciLayout.init(tmp);
        const { loadArchive } = await archives();
        const loaded = await loadArchive(loc.path, layout, options);
        const wanted = loc.name === undefined ? undefined : normalizeName(loc.name);
        const hit = wanted === undefined ? loaded[0] : loaded.find((l) => l.names.includes(wanted));
        if (!hit || (wanted === undefined && loaded.length > 1)) {
          throw notFound(
            `image ${loc.name ?? ''}`.trim(),
            `docker-archive:${loc.path}`,
            'name one with :NAME after the path',
          );
        }
        const name = hit.names[0];
        return {
          item: await open(layout, hit.descriptor, options),
          descriptor: hit.descriptor,
          ...(name ? { name } : {}),
          close,
        };
      } catch (err) {
        await close();
        throw err;
      }
    }
  }
}

/** Writes an image to a destination; returns the descriptor written. */
export async function writeImage(
  item: Image | ImageIndex,
  loc: ImageLocation,
  ctx: LocationContext,
  options: IoOptions = {},
): Promise<Descriptor> {
  switch (loc.kind) {
    case 'registry':
      return pushImage(await ctx.client(), loc.ref, item, options);
    case 'store': {
      const store = await ctx.store();
      return store.put(item, [loc.name], options);
    }
    case 'oci': {
      const layout = await OciLayout.init(loc.path);
      const desc = await writeToLayout(layout, item, options);
      const { annotations: _a, ...bare } = desc;
      const index = await layout.readIndex(options);
      const kept = index.manifests.filter((d) =>
        loc.tag === undefined ? d.digest !== desc.digest : d.annotations?.[REF_NAME_ANNOTATION] !== loc.tag,
      );
      kept.push(loc.tag === undefined ? bare : { ...bare, annotations: { [REF_NAME_ANNOTATION]: loc.tag } });
      await layout.writeIndex({ ...index, manifests: kept }, options);
      return desc;
    }
    case 'oci-archive': {
      const { writeOciArchive } = await archives();
      await writeOciArchive([{ item, names: [], ...(loc.tag ? { refName: loc.tag } : {}) }], loc.path, options);
      return descriptorOf(item, options);
    }
    case 'docker-archive': {
      if (isImageIndex(item)) {
        throw new GantryError(
          'DOCKER_ARCHIVE_NEEDS_PLATFORM',
          'a docker-archive holds one platform, and this is a multi-platform index',
          {
            phase: 'export',
            suggestion: 'pick one with --platform',
          },
        );
      }
      const { writeDockerArchive } = await archives();
      await writeDockerArchive([{ image: item, names: loc.name ? [normalizeName(loc.name)] : [] }], loc.path, options);
      return descriptorOf(item, options);
    }
  }
}
