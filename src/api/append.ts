/**
 * `append`: a new layer (from a directory, or from a tar that may be gzip or zstd compressed) on
 * top of a remote base image, pushed, as `crane append` does. The base's layers are never
 * downloaded: the push checks them in the target repository, or mounts them from the base's
 * repository on the same registry. The new layer is written by gantry's own tar writer (entries
 * of a given tar are re-encoded, and refused when their names would escape the root, as
 * extraction refuses them). With `output`, the image is written to a docker-archive file instead.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { GantryError, type IoOptions } from '../errors.js';
import { safeParts } from '../layer/archive/confine.js';
import { writeDockerArchive } from '../layer/archive/docker-archive.js';
import { readTar } from '../layer/tar/reader.js';
import type { TarInput } from '../layer/tar/types.js';
import { walkDirectory } from '../layer/walk.js';
import { decompressByMagic } from '../oci/compression.js';
import type { Image, Layer } from '../oci/image.js';
import { defaultCreated } from '../oci/mutate.js';
import { hostPlatform, normalizePlatform } from '../oci/platform.js';
import { type Descriptor, type Digest, type Manifest, MediaType, type Platform } from '../oci/types.js';
import { formatReference, type Reference } from '../reference/index.js';
import type { RegistryClient } from '../registry/client/client.js';
import {
  EditedImage,
  io,
  openRemote,
  type Pushed,
  pushTo,
  rawConfigObject,
  type StagedBlobs,
  targetOf,
  usage,
  withStaged,
} from './edit.js';
import { callerReference } from './input.js';
import { type CommonOptions, sessionOf } from './session.js';
import { pickPlatform, platformOf } from './transfer.js';

export interface AppendOptions extends CommonOptions {
  /** The base image (a registry reference); default scratch. */
  readonly base?: string;
  /** Where to push: a full reference, or a tag of the base's repository. */
  readonly tag?: string;
  /** Write a docker-archive file here instead of pushing. */
  readonly output?: string;
  /** The platform to take from a multi-platform base, or of a scratch image (default: this machine's). */
  readonly platform?: Platform | string;
}

export interface Appended {
  /** The reference pushed, or the file written. */
  readonly destination: string;
  readonly digest: string;
  /** The digests of the layers added. */
  readonly layers: readonly Digest[];
}

type Json = Record<string, unknown>;

async function* tarEntries(file: string, options: IoOptions): AsyncGenerator<TarInput> {
  const tar = await decompressByMagic(createReadStream(file), options);
  for await (const { entry, body } of readTar(tar, options)) {
    // The same rule as extraction: a layer we write never names a path outside its root.
    safeParts(entry.path);
    if (entry.type === 'hardlink') safeParts(entry.linkname ?? '', 'hardlink target');
    yield entry.type === 'file' ? { entry, body: () => body } : { entry };
  }
}

/** The entries of a directory (modes kept, owned by root) or of a tar file. */
export async function layerEntries(path: string, options: IoOptions): Promise<AsyncIterable<TarInput>> {
  const st = await stat(path).catch(() => undefined);
  if (st === undefined) {
    throw new GantryError('LAYER_SOURCE_NOT_FOUND', `${path} does not exist`, {
      phase: 'usage',
      suggestion: 'give a directory or a tar file (plain, gzip or zstd) for the new layer',
    });
  }
  if (st.isDirectory()) return walkDirectory(resolve(path), { keepModes: true, ...options });
  if (!st.isFile()) {
    throw new GantryError('LAYER_SOURCE_NOT_FOUND', `${path} is neither a directory nor a file`, {
      phase: 'usage',
      suggestion: 'give a directory or a tar file (plain, gzip or zstd) for the new layer',
    });
  }
  return tarEntries(path, options);
}

const SCRATCH_CONFIG_PLACEHOLDER: Descriptor = { mediaType: MediaType.OciConfig, digest: '', size: 0 };

function scratch(platform: Platform): { manifest: Manifest; config: Json; layers: Layer[] } {
  const p = normalizePlatform(platform);
  return {
    manifest: { schemaVersion: 2, mediaType: MediaType.OciManifest, config: SCRATCH_CONFIG_PLACEHOLDER, layers: [] },
    config: {
      created: defaultCreated(),
      architecture: p.architecture,
      os: p.os,
      ...(p.variant ? { variant: p.variant } : {}),
      config: {},
      rootfs: { type: 'layers', diff_ids: [] },
    },
    layers: [],
  };
}

async function baseImage(
  options: AppendOptions,
): Promise<{ client?: RegistryClient; ref?: Reference; image?: Image; platform: Platform | undefined }> {
  const platform = platformOf(options.platform);
  if (options.base === undefined || options.base === '') return { platform };
  const { client, ref, item } = await openRemote(options.base, options);
  const image = (await pickPlatform(item, platform ?? hostPlatform(), false, options.signal)) as Image;
  return { client, ref, image, platform };
}

/** Appends a layer per path (a directory or a tar) to `base` and pushes (or writes) the image. */
export async function append(paths: readonly string[], options: AppendOptions = {}): Promise<Appended> {
  if (paths.length === 0) throw usage('append needs a layer', 'give --new_layer DIR_OR_TAR');
  if ((options.tag === undefined || options.tag === '') && (options.output === undefined || options.output === '')) {
    throw usage('append needs somewhere to put the image', 'give -t REF to push it, or -o FILE for a tarball');
  }
  const o = io(options);
  const base = await baseImage(options);
  const start = base.image
    ? {
        manifest: await base.image.manifest(o),
        config: await rawConfigObject(base.image, o),
        layers: await base.image.layers(o),
      }
    : scratch(base.platform ?? hostPlatform());
  const manifestType = start.manifest.mediaType ?? MediaType.OciManifest;
  return withStaged(async (staged: StagedBlobs) => {
    const created = defaultCreated();
    const added: { layer: Layer; descriptor: Descriptor; diffID: Digest }[] = [];
    for (const path of paths) added.push(await staged.layer(await layerEntries(path, o), manifestType, o));
    const rootfs = (start.config.rootfs as { diff_ids?: string[] } | undefined) ?? {};
    const history = [...((start.config.history as Json[] | undefined) ?? [])];
    for (const path of paths) history.push({ created, created_by: `gantry append ${path}`, comment: 'gantry append' });
    const config: Json = {
      ...start.config,
      rootfs: { type: 'layers', diff_ids: [...(rootfs.diff_ids ?? []), ...added.map((a) => a.diffID)] },
      history,
    };
    const manifest: Manifest = {
      ...start.manifest,
      layers: [...start.manifest.layers, ...added.map((a) => a.descriptor)],
    };
    const image = new EditedImage(manifest, config, [...start.layers, ...added.map((a) => a.layer)]);
    const layers = added.map((a) => a.descriptor.digest);
    if (options.output !== undefined && options.output !== '') {
      const name = options.tag ? formatReference(targetFor(base.ref, options.tag)) : undefined;
      // A docker-archive holds every layer: the base's are downloaded once, into the staging dir.
      const local = await Promise.all(start.layers.map((l) => staged.local(l, o)));
      const whole = new EditedImage(manifest, config, [...local, ...added.map((a) => a.layer)]);
      await writeDockerArchive([{ image: whole, names: name ? [name] : [] }], options.output, o);
      return { destination: options.output, digest: await image.digest(), layers };
    }
    const target = targetFor(base.ref, options.tag as string);
    const client = base.client ?? (await sessionOf(options).client(options.progress));
    const pushed: Pushed = await pushTo(client, target, image, options);
    return { destination: pushed.reference, digest: pushed.digest, layers };
  });
}

function targetFor(base: Reference | undefined, tag: string): Reference {
  if (base !== undefined) return targetOf(base, tag);
  return callerReference(tag);
}
