/**
 * Root filesystems for build steps: a stage's layers extracted once into the layer cache (shared
 * by every build and process, keyed by diffID) and stacked by the snapshotter the machine allows
 * (overlayfs, else walk-and-compare). Nothing here reads a layer until a step needs the files.
 */
import { join } from 'node:path';
import type { IoOptions } from '../../errors.js';
import type { Layer } from '../../oci/image.js';
import type { Store } from '../../store/store.js';
import type { LayerCache, Snapshot, Snapshotter } from '../snapshot/index.js';

/**
 * The snapshotters and the layer cache (extraction, overlay mounts, tar reading: a few chunks of
 * the bundle), loaded when a step first needs files: a build whose steps are all cached never does.
 */
function snapshots(): Promise<typeof import('../snapshot/index.js')> {
  return import('../snapshot/index.js');
}

export class Filesystems {
  readonly #cacheDir: string;
  #cache: Promise<LayerCache> | undefined;
  readonly #workDir: string;
  #snapshotter: Promise<Snapshotter> | undefined;
  readonly #forced: 'overlay' | 'walk' | undefined;

  constructor(store: Store, options: { snapshotter?: 'overlay' | 'walk' } = {}) {
    this.#cacheDir = join(store.dir, 'cache', 'layers');
    this.#workDir = join(store.dir, 'cache', 'snapshots');
    this.#forced = options.snapshotter;
  }

  snapshotter(): Promise<Snapshotter> {
    this.#snapshotter ??= (async () => {
      const { OverlaySnapshotter, overlayAvailable, WalkSnapshotter } = await snapshots();
      const overlay =
        this.#forced === 'walk'
          ? false
          : this.#forced === 'overlay' || (await overlayAvailable({ dir: this.#workDir }));
      return overlay ? new OverlaySnapshotter({ dir: this.#workDir }) : new WalkSnapshotter({ dir: this.#workDir });
    })();
    return this.#snapshotter;
  }

  /** True when overlayfs could not be mounted and the walk snapshotter was chosen for it (not asked for). */
  async fellBack(): Promise<boolean> {
    if (this.#forced !== undefined) return false;
    const snapshotter = await this.snapshotter();
    return snapshotter instanceof (await snapshots()).WalkSnapshotter;
  }

  /** A writable root with `layers` (bottom first) below it. Release it when done. */
  async prepare(layers: readonly Layer[], options: IoOptions = {}): Promise<Snapshot> {
    this.#cache ??= snapshots().then(({ LayerCache }) => new LayerCache(this.#cacheDir));
    const cache = await this.#cache;
    const lowers: string[] = [];
    // In order, one at a time: extraction is disk-bound and the cache dedupes concurrent callers.
    // Each layer knows the ones below it: a hardlink to a lower file is copied up, as overlay does.
    for (const layer of layers) lowers.push(await cache.ensureExtracted(layer, { ...options, lowers: [...lowers] }));
    return (await this.snapshotter()).prepare(lowers, options);
  }

  /** Runs `fn` with a root of `layers`, always releasing it. */
  async with<T>(layers: readonly Layer[], fn: (snapshot: Snapshot) => Promise<T>, options: IoOptions = {}): Promise<T> {
    const snapshot = await this.prepare(layers, options);
    try {
      return await fn(snapshot);
    } finally {
      await snapshot.release();
    }
  }
}
