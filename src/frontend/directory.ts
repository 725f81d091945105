/**
 * The first builder: a directory becomes one layer on top of a base image (`scratch` or an image
 * in the store), placed at the working directory (or `/`). The layer is written once, straight
 * into the store, and shared by every requested platform; base layers are never read.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { absoluteWorkdir, applyConfig, type ConfigOptions } from '../engine/config.js';
import { GantryError, type IoOptions } from '../errors.js';
import type { LayerInfo } from '../layer/layer.js';
import { walkDirectory } from '../layer/walk.js';
import { type Image, type ImageIndex, isImageIndex } from '../oci/image.js';
import { newImage, newIndex } from '../oci/mutate.js';
import { resolvePlatform } from '../oci/partial.js';
import { formatPlatform, hostPlatform, platformMatches } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';
import type { Store } from '../store/store.js';
import { noProgress, type ProgressSink, step } from '../util/progress.js';

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
}

export interface BuildResult {
  /** An image, or an index when more than one platform was built. */
  readonly item: Image | ImageIndex;
  readonly platforms: readonly Platform[];
  readonly layer: LayerInfo;
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

export async function buildDirectory(options: DirectoryBuildOptions): Promise<BuildResult> {
  const progress = options.progress ?? noProgress;
  const context = resolve(options.context);
  const st = await stat(context).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new GantryError('CONTEXT_NOT_FOUND', `build context ${options.context} is not a directory`, {
      phase: 'build',
      suggestion: 'give the path of the directory to build',
    });
  }
  const bases = await step(progress, 'resolve', `resolve base ${options.from ?? 'scratch'}`, () => basesFor(options));
  const dest = options.workdir === undefined ? '/' : absoluteWorkdir(options.workdir);
  const prefix = dest.replace(/^\/+/, '');
  const { info, layer } = await step(
    progress,
    'layer',
    `COPY ${options.context} ${dest}`,
    () =>
      options.store.writeLayer(walkDirectory(context, { ...(prefix ? { prefix } : {}), signal: options.signal }), {
        signal: options.signal,
      }),
    (r) => `${r.info.digest} ${r.info.size} bytes`,
  );
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
  return { item, platforms: bases.map((b) => b.platform), layer: info };
}
