/**
 * The first builder: a directory becomes one layer on top of a base image (`scratch` or an image
 * in the store), placed at the working directory (or `/`). The layer is a step for the solver,
 * keyed by what the walk would write (names, types, modes, link targets, content digests), so a
 * rebuild of the same tree is a cache hit; it is written once and shared by every requested
 * platform; base layers are never read.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { absoluteWorkdir, applyConfig, type ConfigOptions } from '../engine/config.js';
import { FileHashCache } from '../engine/context/index.js';
import { type ContentTransform, directoryLayerStep } from '../engine/directory-layer.js';
import { Solver, type StepResult } from '../engine/solver/solver.js';
import type { LayerFormat } from '../engine/solver/steps.js';
import { GantryError, type IoOptions } from '../errors.js';
import type { WalkOptions } from '../layer/walk.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { newImage, newIndex } from '../oci/mutate.js';
import { resolvePlatform } from '../oci/partial.js';
import { formatPlatform, hostPlatform, platformMatches } from '../oci/platform.js';
import type { Digest, Platform } from '../oci/types.js';
import type { Store } from '../store/store.js';
import type { ProgressSink } from '../util/progress.js';
import { projectFiles } from './project/files.js';

export interface DirectoryBuildOptions extends IoOptions, ConfigOptions {
  /** The directory whose contents become the layer. */
  readonly context: string;
  /** `scratch` (default), or a name or digest in the store. */
  readonly from?: string;
  /** Platforms to build; default: the base's platform if it has one, else the host's. */
  readonly platforms?: readonly Platform[];
  readonly store: Store;
  readonly mediaType?: 'oci' | 'docker';
  readonly progress?: ProgressSink;
  /** Patterns to leave out after .dockerignore and .gantryignore (`--exclude`). */
  readonly exclude?: readonly string[];
  /** Run every step again (`--no-cache`). */
  readonly noCache?: boolean;
  /** Pack `.git` directories too (`--include-vcs`). */
  readonly includeVcs?: boolean;
  /** How the layer is compressed; gzip at its default level when unset. */
  readonly layerFormat?: LayerFormat;
}

export interface BuildResult {
  /** An image, or an index when more than one platform was built. */
  readonly item: Image | ImageIndex;
  readonly platforms: readonly Platform[];
  /** The directory's layer (from the cache when the tree is unchanged). */
  readonly layer: {
    readonly digest: Digest;
    readonly diffID: Digest;
    readonly size: number;
    readonly mediaType: string;
  };
}

async function basesFor(options: DirectoryBuildOptions): Promise<{ platform: Platform; base?: Image }[]> {
  const from = options.from ?? 'scratch';
  if (from === 'scratch') {
    return (options.platforms ?? [hostPlatform()]).map((platform) => ({ platform }));
  }
  const entry = await options.store.resolve(from, options);
  const base = await options.store.openDescriptor(entry.descriptor, options);
  if (isImageIndex(base)) {
    const wanted = options.platforms ?? [hostPlatform()];
    const out: { platform: Platform; base: Image }[] = [];
    for (const platform of wanted) out.push({ platform, base: await resolvePlatform(base, platform, options) });
    return out;
  }
  const cfg = await base.configFile(options);
  const own: Platform = {
    os: cfg.os,
    architecture: cfg.architecture,
    ...(cfg.variant ? { variant: cfg.variant } : {}),
  };
  for (const p of options.platforms ?? []) {
    if (!platformMatches(p, own)) {
      throw new GantryError(
        'BASE_PLATFORM_MISMATCH',
        `base image ${from} is ${formatPlatform(own)}, not ${formatPlatform(p)}`,
        { phase: 'build', suggestion: `use a base image for ${formatPlatform(p)}, or a multi-platform one` },
      );
    }
  }
  return [{ platform: own, base }];
}

export interface DirectoryLayerSpec {
  /** The directory whose files become the layer. */
  readonly root: string;
  /** Where they land in the image (absolute). */
  readonly dest: string;
  /** The chain key the step builds on (`directory` for a plain directory build). */
  readonly parent: string;
  /** The name progress shows. */
  readonly name: string;
  /** False leaves a path (and, for directories, its subtree) out, as in walkDirectory. */
  readonly filter?: WalkOptions['filter'];
  /** Every entry's mtime (seconds); default SOURCE_DATE_EPOCH, else 0. */
  readonly mtime?: number;
  /**
   * The layer does not depend on the layers below it (as COPY --link): its key leaves the parent
   * out, so it is reused when they change (another platform, new dependencies).
   */
  readonly detached?: boolean;
  /** Files whose content changes on the way into the layer (see ContentTransform). */
  readonly transform?: ContentTransform;
}

/**
 * A directory as one layer step of `solver`: keyed by what the walk would write (so an unchanged
 * tree is a cache hit without writing anything), written only on a miss, each file read once per
 * build (see ../engine/directory-layer.ts). Shared by the directory builder and the project front
 * ends' application layers.
 */
export async function directoryLayer(solver: Solver, spec: DirectoryLayerSpec): Promise<StepResult> {
  const signal = solver.signal;
  const prefix = spec.dest.replace(/^\/+/, '');
  const hashes = await FileHashCache.open(join(solver.store.dir, 'cache', 'context'), signal ? { signal } : {});
  try {
    return await directoryLayerStep(solver, {
      root: spec.root,
      prefix,
      walk: {
        ...(spec.filter ? { filter: spec.filter } : {}),
        ...(spec.mtime !== undefined ? { mtime: spec.mtime } : {}),
      },
      parent: spec.parent,
      ...(spec.detached ? { detached: true } : {}),
      inputs: [prefix],
      name: spec.name,
      hashes,
      ...(spec.transform ? { transform: spec.transform } : {}),
    });
  } finally {
    await hashes.save(signal ? { signal } : {}).catch(() => {});
  }
}

export async function buildDirectory(options: DirectoryBuildOptions): Promise<BuildResult> {
  const context = resolve(options.context);
  const st = await stat(context).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new GantryError('CONTEXT_NOT_FOUND', `build context ${options.context} is not a directory`, {
      phase: 'build',
      suggestion: 'give the path of the directory to build',
    });
  }
  const solver = new Solver({
    ...(options.layerFormat ? { layerFormat: options.layerFormat } : {}),
    store: options.store,
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.noCache ? { noCache: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const from = options.from ?? 'scratch';
  const bases = await solver.source(['directory base', from], `resolve base ${from}`, () => basesFor(options));
  const dest = options.workdir === undefined ? '/' : absoluteWorkdir(options.workdir);
  // What is packed: what .dockerignore, .gantryignore and --exclude leave, without .git.
  const files = await projectFiles(context, {
    kind: 'directory',
    ...(options.exclude ? { exclude: options.exclude } : {}),
    ...(options.includeVcs ? { includeVcs: true } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const packed = new Set(await files.list());
  const step = await directoryLayer(solver, {
    root: context,
    dest,
    parent: 'directory',
    name: `COPY ${options.context} ${dest}`,
    filter: (rel) => packed.has(rel),
  });
  const { layer, descriptor, diffID } = step;
  if (!layer || !descriptor || !diffID)
    throw new GantryError('NO_LAYER', 'the directory made no layer', { phase: 'build' });
  const images: { image: Image; platform: Platform }[] = [];
  for (const { platform, base } of bases) {
    const image = await newImage(
      {
        ...(base ? { base } : { platform }),
        layers: [{ layer, history: { created_by: `COPY . ${dest} # gantry build` } }],
        config: (cfg) => applyConfig(cfg, options),
        mediaType: options.mediaType ?? 'oci',
      },
      options,
    );
    images.push({ image, platform });
  }
  const first = images[0];
  if (!first) throw new GantryError('NO_PLATFORM', 'no platform to build', { phase: 'build' });
  const item =
    images.length === 1
      ? first.image
      : await newIndex(images, { signal: options.signal, mediaType: options.mediaType ?? 'oci' });
  return {
    item,
    platforms: bases.map((b) => b.platform),
    layer: { digest: descriptor.digest, diffID, size: descriptor.size, mediaType: descriptor.mediaType },
  };
}
