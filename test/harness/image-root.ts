/**
 * Test harness: an image of a store as a root filesystem to run or read, without unpacking it.
 * The layers are stacked as a build's RUN step stacks them: extracted once per diffID into a
 * layer cache (the store's own, shared with the builds that already extracted them), under a
 * writable overlay, or the walk snapshotter where overlayfs cannot be mounted. Running an
 * image's entrypoint this way costs its new layers only, where `-o type=local` writes every file
 * of every layer again (hundreds of MB for a Python or Node.js base).
 */
import { mkdir, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LayerCache, OverlaySnapshotter, overlayAvailable, WalkSnapshotter } from '../../src/engine/snapshot/index.js';
import { REF_NAME_ANNOTATION } from '../../src/layer/archive/names.js';
import { isImageIndex } from '../../src/oci/image.js';
import { OciLayout } from '../../src/oci/layout.js';
import { resolvePlatform } from '../../src/oci/partial.js';
import type { Digest } from '../../src/oci/types.js';
import { Store } from '../../src/store/store.js';
import { ensurePrivateDir } from '../../src/util/fs.js';
import { fixturesDir } from './fixtures.js';

export interface ImageRootOptions {
  /**
   * A layer cache kept across runs (in the fixtures dir) for the layers `shared` picks, by their
   * compressed digest: the layers of a cached fixture, so they are extracted once per machine
   * rather than once per run. Extracted layers are read-only lowers keyed by diffID and put in
   * place by rename, so concurrent runs share them safely. Other layers go to the store's cache.
   */
  readonly sharedLayers?: { readonly dir: string; readonly shared: (digest: Digest) => boolean };
  /** For a name that is an index: the architecture of the image to take from it (linux). */
  readonly architecture?: string;
}

/**
 * Runs `fn` with the root filesystem of the image `name` (or digest) in the store at `storeDir`;
 * what `fn` writes there goes to a scratch upper directory, dropped when it returns.
 */
export async function withImageRoot<T>(
  storeDir: string,
  name: string,
  fn: (root: string) => Promise<T>,
  options: ImageRootOptions = {},
): Promise<T> {
  const store = await Store.open({ dir: storeDir });
  const top = await store.openDescriptor((await store.resolve(name)).descriptor);
  const item =
    isImageIndex(top) && options.architecture
      ? await resolvePlatform(top, { os: 'linux', architecture: options.architecture })
      : top;
  if (isImageIndex(item)) throw new Error(`${name} is an index: name one of its images by digest`);
  const own = new LayerCache(join(store.dir, 'cache', 'layers'));
  const shared = options.sharedLayers ? new LayerCache(options.sharedLayers.dir) : undefined;
  const lowers: string[] = [];
  // Bottom first, each layer knowing the ones below it (a hardlink to a lower file is copied up).
  for (const layer of await item.layers()) {
    const cache = shared && options.sharedLayers?.shared(await layer.digest()) ? shared : own;
    lowers.push(await cache.ensureExtracted(layer, { lowers: [...lowers] }));
  }
  const work = join(store.dir, 'cache', 'snapshots');
  const snapshotter = (await overlayAvailable({ dir: work }))
    ? new OverlaySnapshotter({ dir: work })
    : new WalkSnapshotter({ dir: work });
  const snapshot = await snapshotter.prepare(lowers);
  try {
    return await fn(snapshot.root);
  } finally {
    await snapshot.release();
  }
}

/**
 * Readies a store for builds on an image of a cached fixture layout (`tag` in `layoutDir`): its
 * layers, extracted once per machine into <fixtures>/layer-cache, are linked into the store's
 * layer cache (`<store>/cache/layers`), so build steps stack them instead of extracting them again
 * in every new store. For tests about what is built on a base, not about extracting it (the layer
 * cache and snapshot tests pin that). Returns `storeDir`.
 */
export async function seedLayerCache(storeDir: string, layoutDir: string, tag: string): Promise<string> {
  const layout = await OciLayout.open(layoutDir);
  const desc = (await layout.readIndex()).manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (!desc) throw new Error(`no image ${tag} in ${layoutDir}`);
  const shared = new LayerCache(join(fixturesDir(), 'layer-cache'));
  const own = new LayerCache(join(storeDir, 'cache', 'layers'), { form: shared.form });
  const lowers: string[] = [];
  for (const layer of await (await layout.image(desc)).layers()) {
    const path = await shared.ensureExtracted(layer, { lowers: [...lowers] });
    lowers.push(path);
    const link = own.pathFor(await layer.diffID());
    await ensurePrivateDir(dirname(dirname(link)));
    await mkdir(dirname(link), { recursive: true, mode: 0o700 });
    await symlink(path, link).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  return storeDir;
}
