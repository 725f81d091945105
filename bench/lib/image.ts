/**
 * The bench's multi-layer image: one gzip layer per generated directory tree, written with
 * gantry's layer and OCI code into an OCI layout under `.cache/bench/`. Like the data trees it
 * is reused while its recipes are unchanged; the marker is written last, so an interrupted
 * build is redone rather than trusted.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError, type IoOptions } from '../../src/errors.js';
import { REF_NAME_ANNOTATION } from '../../src/layer/archive/names.js';
import { writeLayer } from '../../src/layer/layer.js';
import { walkDirectory } from '../../src/layer/walk.js';
import { OciLayout, writeToLayout } from '../../src/oci/layout.js';
import { newImage } from '../../src/oci/mutate.js';
import { layerFromDescriptor } from '../../src/oci/partial.js';
import { type Descriptor, type Index, MediaType, type Platform } from '../../src/oci/types.js';
import { writeFileAtomic } from '../../src/util/fs.js';
import { type DatasetInfo, ensureTree, type TreeRecipe } from './data.js';

/** Bump when the way the image is assembled changes for the same recipes. */
const IMAGE_VERSION = 1;
const EPOCH = '1970-01-01T00:00:00Z';

export interface LayeredImage {
  /** An OCI image layout whose index.json names the image `tag`. */
  readonly layoutDir: string;
  readonly tag: string;
  readonly manifest: Descriptor;
  /** The config and the layers, in manifest order after the config. */
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  /** Bytes of manifest, config and layers: what a full copy of the image moves. */
  readonly bytes: number;
  /** Bytes of the directory trees the layers were made from. */
  readonly treeBytes: number;
  readonly reused: boolean;
  readonly seconds: number;
}

function badImage(message: string): GantryError {
  return new GantryError('BENCH_BAD_IMAGE', message, {
    phase: 'io',
    suggestion: 'delete .cache/bench/image-* and run the bench again to rebuild it',
  });
}

async function describeLayout(
  layoutDir: string,
  tag: string,
  trees: readonly DatasetInfo[],
  reused: boolean,
  started: number,
): Promise<LayeredImage> {
  const layout = await OciLayout.open(layoutDir);
  const entry = (await layout.readIndex()).manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (!entry) throw badImage(`${layoutDir}/index.json does not name ${tag}`);
  const manifest = JSON.parse((await layout.readBlob(entry)).toString('utf8')) as {
    config?: Descriptor;
    layers?: Descriptor[];
  };
  if (!manifest.config || !manifest.layers) throw badImage(`the manifest of ${tag} in ${layoutDir} is not an image`);
  const blobs = [manifest.config, ...manifest.layers];
  return {
    layoutDir,
    tag,
    manifest: { mediaType: entry.mediaType, digest: entry.digest, size: entry.size },
    config: manifest.config,
    layers: manifest.layers,
    bytes: entry.size + blobs.reduce((n, d) => n + d.size, 0),
    treeBytes: trees.reduce((n, t) => n + t.bytes, 0),
    reused,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * An image of `recipes.length` layers at `path` (an OCI layout), named `tag`: layer i holds the
 * tree of recipe i under `/layer-i`, so the layers do not shadow each other.
 */
export async function ensureLayeredImage(
  path: string,
  tag: string,
  recipes: readonly TreeRecipe[],
  platform: Platform,
  options: IoOptions = {},
): Promise<LayeredImage> {
  const started = performance.now();
  const trees: DatasetInfo[] = [];
  for (const [i, recipe] of recipes.entries()) trees.push(await ensureTree(`${path}-data/layer-${i}`, recipe, options));
  const marker = `${path}.recipe.json`;
  const key = JSON.stringify({ image: IMAGE_VERSION, tag, platform, recipes });
  if ((await readFile(marker, 'utf8').catch(() => undefined)) === key) {
    return describeLayout(path, tag, trees, true, started);
  }
  await rm(marker, { force: true });
  await rm(path, { recursive: true, force: true });
  const layout = await OciLayout.init(path);
  const layers = [];
  for (const [i, tree] of trees.entries()) {
    const file = join(path, `layer-${i}.tar.gz`);
    const info = await writeLayer(
      walkDirectory(tree.path, { prefix: `layer-${i}`, keepModes: true, mtime: 0, signal: options.signal }),
      createWriteStream(file),
      { compression: 'gzip', signal: options.signal },
    );
    const desc: Descriptor = { mediaType: info.mediaType, digest: info.digest, size: info.size };
    await layout.writeBlob(createReadStream(file), desc, options);
    await rm(file);
    layers.push({
      layer: layerFromDescriptor(layout, desc, info.diffID),
      history: { created: EPOCH, created_by: `gantry bench: generated tree ${i}` },
    });
  }
  const image = await newImage({ platform, created: EPOCH, layers }, options);
  const desc = await writeToLayout(layout, image, options);
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [{ ...desc, annotations: { [REF_NAME_ANNOTATION]: tag } }],
  };
  await layout.writeIndex(index, options);
  await rmdir(layout.tempDir).catch(() => {});
  await writeFileAtomic(marker, key, options);
  return describeLayout(path, tag, trees, false, started);
}
