/**
 * The local store as `gantry images`, `rmi`, `prune` and `load` see it. For everything else the
 * `Store` class itself is public.
 */
import type { ImageSummary, PruneResult, StoreEntry, StoreEntryGroup } from '../store/store.js';
import { type CommonOptions, sessionOf } from './session.js';

function io(options: CommonOptions) {
  return options.signal ? { signal: options.signal } : {};
}

/** Every image in the store: name, digest, platforms, size. */
export async function images(options: CommonOptions = {}): Promise<ImageSummary[]> {
  return (await sessionOf(options).store()).list(io(options));
}

/** Removes names (a digest removes every name of that image); returns what was removed. Blobs stay until `prune`. */
export async function rmi(targets: string | readonly string[], options: CommonOptions = {}): Promise<StoreEntry[]> {
  const store = await sessionOf(options).store();
  const removed: StoreEntry[] = [];
  for (const target of typeof targets === 'string' ? [targets] : targets) {
    removed.push(...(await store.remove(target, io(options))));
  }
  return removed;
}

export interface PruneOptions extends CommonOptions {
  /** Also drop the build cache (step records and extracted layers). */
  readonly buildCache?: boolean;
}

/** Deletes every blob no named image uses; `bytes` counts the build cache dropped too. */
export async function prune(options: PruneOptions = {}): Promise<PruneResult> {
  const store = await sessionOf(options).store();
  const cache = options.buildCache ? await store.clearBuildCache(io(options)) : { bytes: 0 };
  const { blobs, bytes } = await store.prune(io(options));
  return { blobs, bytes: bytes + cache.bytes };
}

export interface LoadOptions extends CommonOptions {
  /** Names to give the loaded image. */
  readonly tags?: readonly string[];
}

/** Imports an OCI layout directory, an OCI archive or a docker-archive tar into the store. */
export async function load(source: string, options: LoadOptions = {}): Promise<StoreEntryGroup[]> {
  const store = await sessionOf(options).store();
  return store.load(source, { ...io(options), names: options.tags ?? [] });
}
