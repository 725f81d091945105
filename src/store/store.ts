/**
 * The local content store: one OCI image layout on disk (blobs + index.json) that holds pulled
 * blobs, built layers and named images, readable by skopeo (`oci:DIR:NAME`) and umoci. Names live
 * in index.json as `org.opencontainers.image.ref.name` annotations holding the full normalized
 * reference. Blob writes are atomic and content-addressed, so concurrent writers cannot clash;
 * index.json is only changed under an inter-process lock. Writers hold a lease so that a
 * concurrent `prune` never deletes blobs that are written but not yet named.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GantryError, type IoOptions } from '../errors.js';
import { REF_NAME_ANNOTATION } from '../layer/archive/names.js';
import type { LayerInfo } from '../layer/layer.js';
import type { TarInput } from '../layer/tar/types.js';
import { isDigest } from '../oci/digest.js';
import type { Image, ImageIndex, Layer } from '../oci/image.js';
import { OciLayout, writeToLayout } from '../oci/layout.js';
import {
  isIndexMediaType,
  isManifestMediaType,
  parseImageConfig,
  parseIndex,
  parseManifest,
  sniffManifestKind,
} from '../oci/parse.js';
import { layerFromDescriptor } from '../oci/partial.js';
import { formatPlatform } from '../oci/platform.js';
import type { Descriptor, Digest, Index } from '../oci/types.js';
import { MediaType } from '../oci/types.js';
import { formatReference, parseReference } from '../reference/index.js';
import { du, mkdirp } from '../util/fs.js';
import { BuildCache } from './cache.js';
import { sweepDeadLeftovers } from './cleanup.js';
import { currentLease, type Lease, liveLeases, withLease } from './leases.js';
import { type LockOptions, withFileLock } from './lock.js';

export { REF_NAME_ANNOTATION };

export interface StoreOptions {
  /** The store directory; default `$GANTRY_STORE`, else `$XDG_DATA_HOME/gantry/store`. */
  readonly dir?: string;
}

export interface StoreEntry {
  /** Full normalized reference, e.g. `docker.io/library/hello:dev`; absent for an unnamed image. */
  readonly name?: string;
  readonly descriptor: Descriptor;
}

/** One image with all its names. */
export interface StoreEntryGroup {
  readonly descriptor: Descriptor;
  readonly names: readonly string[];
}

export interface ImageSummary {
  readonly name?: string;
  readonly digest: Digest;
  readonly mediaType: string;
  /** Bytes of every blob the image references (manifests, configs, layers), counted once. */
  readonly size: number;
  readonly platforms: readonly string[];
  readonly created?: string;
}

export interface PruneResult {
  readonly blobs: number;
  readonly bytes: number;
}

/** The store's default directory under the XDG data directory. */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GANTRY_STORE) return env.GANTRY_STORE;
  const data = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(data, 'gantry', 'store');
}

/** Normalizes a user-given image name to the full form the store keys on. */
export function normalizeName(name: string): string {
  return formatReference(parseReference(name));
}

export class Store {
  readonly dir: string;
  readonly layout: OciLayout;

  private constructor(dir: string, layout: OciLayout) {
    this.dir = dir;
    this.layout = layout;
    // Blobs the layout's writers find and reuse are held by the running operation's lease.
    layout.setRetainer(async (digests, options) => {
      await currentLease(dir)?.hold(digests, options);
    });
  }

  static async open(options: StoreOptions = {}): Promise<Store> {
    const dir = options.dir ?? defaultStoreDir();
    const layout = await OciLayout.init(dir);
    return new Store(dir, layout);
  }

  get #lockPath(): string {
    return join(this.dir, 'index.json.lock');
  }

  get #ingestDir(): string {
    return join(this.dir, 'ingest');
  }

  get #leaseDir(): string {
    return join(this.dir, 'leases');
  }

  /**
   * Runs `fn` with a lease: `prune` keeps every blob written since the lease began and every blob
   * the operation holds (what the layout's writers reuse is held for them; others call `hold`).
   */
  async lease<T>(fn: (lease: Lease) => Promise<T>): Promise<T> {
    return withLease(this.dir, this.#leaseDir, this.#lockPath, fn);
  }

  /** Holds `digests` for the running lease (a no-op outside one): a prune from now on keeps them. */
  async hold(digests: readonly Digest[], options: IoOptions = {}): Promise<void> {
    await currentLease(this.dir)?.hold(digests, options);
  }

  /**
   * Runs `fn` under the store's lock, after removing what dead gantry processes left (temp files,
   * partial blobs, their leases).
   */
  async #locked<T>(fn: () => Promise<T>, options: LockOptions): Promise<T> {
    return withFileLock(
      this.#lockPath,
      async () => {
        await sweepDeadLeftovers(this.dir);
        return fn();
      },
      options,
    );
  }

  /** Removes what dead gantry processes left in the store; returns the paths removed. */
  async sweep(options: IoOptions = {}): Promise<readonly string[]> {
    return withFileLock(this.#lockPath, async () => (await sweepDeadLeftovers(this.dir)).removed, options);
  }

  /** Every entry of index.json, in order. */
  async entries(options: IoOptions = {}): Promise<StoreEntry[]> {
    const index = await this.layout.readIndex(options);
    return index.manifests.map((descriptor) => {
      const name = descriptor.annotations?.[REF_NAME_ANNOTATION];
      return name === undefined ? { descriptor } : { name, descriptor };
    });
  }

  async #updateIndex(edit: (manifests: Descriptor[]) => Descriptor[], options: IoOptions): Promise<void> {
    await this.#locked(async () => {
      const index = await this.layout.readIndex(options);
      const next: Index = { ...index, schemaVersion: 2, manifests: edit([...index.manifests]) };
      await this.layout.writeIndex(next, options);
    }, options);
  }

  /**
   * Names `descriptor` with each of `names` (moving a name that pointed elsewhere). With no names
   * the image is kept as an unnamed entry, found by its digest.
   */
  async tag(descriptor: Descriptor, names: readonly string[], options: IoOptions = {}): Promise<void> {
    const full = names.map(normalizeName);
    const { annotations: _drop, ...bare } = descriptor;
    await this.#updateIndex((manifests) => {
      if (full.length === 0) {
        return manifests.some((d) => d.digest === descriptor.digest) ? manifests : [...manifests, bare];
      }
      const kept = manifests.filter((d) => {
        const name = d.annotations?.[REF_NAME_ANNOTATION];
        // A named image no longer needs its unnamed entry; a moved name leaves its old image.
        return name === undefined ? d.digest !== descriptor.digest : !full.includes(name);
      });
      for (const name of full) kept.push({ ...bare, annotations: { [REF_NAME_ANNOTATION]: name } });
      return kept;
    }, options);
  }

  /** Writes every blob of `item` and names it. Returns its descriptor. */
  async put(item: Image | ImageIndex, names: readonly string[], options: IoOptions = {}): Promise<Descriptor> {
    return this.lease(async () => {
      const descriptor = await writeToLayout(this.layout, item, options);
      await this.tag(descriptor, names, options);
      return descriptor;
    });
  }

  /**
   * Finds an image by name (`hello:dev`), full digest, or a digest prefix of at least 12 hex
   * characters (as docker accepts image IDs).
   */
  async resolve(nameOrDigest: string, options: IoOptions = {}): Promise<StoreEntry> {
    const entries = await this.entries(options);
    const input = nameOrDigest.trim();
    const hexPrefix = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(input)?.[1];
    if (isDigest(input) || hexPrefix) {
      const matches = entries.filter((e) =>
        isDigest(input) ? e.descriptor.digest === input : e.descriptor.digest.startsWith(`sha256:${hexPrefix}`),
      );
      const digests = new Set(matches.map((m) => m.descriptor.digest));
      if (digests.size > 1) {
        throw new GantryError('AMBIGUOUS_IMAGE', `${input} matches ${digests.size} images in the store`, {
          phase: 'store',
          suggestion: 'give more digest characters',
        });
      }
      const first = matches[0];
      if (first) return first;
      // Not named, but its manifest may still be in the store (a child of an index, say).
      if (isDigest(input) && (await this.layout.hasBlob(input))) {
        const descriptor = descriptorFromBytes(input, await this.layout.readBlob({ digest: input }, options));
        if (descriptor) return { descriptor };
      }
    } else {
      const full = normalizeName(input);
      const found = entries.find((e) => e.name === full);
      if (found) return found;
    }
    throw new GantryError(
      'IMAGE_NOT_FOUND',
      `image ${JSON.stringify(nameOrDigest)} is not in the store (${this.dir})`,
      {
        phase: 'store',
        suggestion: 'run `gantry images` to see what the store holds, or build or load the image first',
      },
    );
  }

  /** Opens an entry lazily as an image or an index. */
  async openDescriptor(descriptor: Descriptor, options: IoOptions = {}): Promise<Image | ImageIndex> {
    if (isIndexMediaType(descriptor.mediaType)) return this.layout.imageIndex(descriptor, options);
    if (isManifestMediaType(descriptor.mediaType)) return this.layout.image(descriptor, options);
    throw new GantryError(
      'UNSUPPORTED_MEDIA_TYPE',
      `store entry ${descriptor.digest} has media type ${descriptor.mediaType}`,
      {
        phase: 'store',
        suggestion: 'only images and image indexes can be used here',
      },
    );
  }

  /** Removes a name (or every entry of a digest). Blobs stay until `prune`. */
  async remove(nameOrDigest: string, options: IoOptions = {}): Promise<StoreEntry[]> {
    const target = await this.resolve(nameOrDigest, options);
    const byDigest =
      target.name === undefined || isDigest(nameOrDigest) || /^(?:sha256:)?[a-f0-9]{12,64}$/.test(nameOrDigest);
    const removed: StoreEntry[] = [];
    await this.#updateIndex(
      (manifests) =>
        manifests.filter((d) => {
          const name = d.annotations?.[REF_NAME_ANNOTATION];
          const hit = byDigest ? d.digest === target.descriptor.digest : name === target.name;
          if (hit) removed.push(name === undefined ? { descriptor: d } : { name, descriptor: d });
          return !hit;
        }),
      options,
    );
    return removed;
  }

  /**
   * Imports an OCI layout directory, OCI archive or docker-archive. `names` (with `-t`) name the
   * image when the input holds exactly one; otherwise the names recorded in the input are used.
   */
  async load(source: string, options: IoOptions & { names?: readonly string[] } = {}): Promise<StoreEntryGroup[]> {
    const extra = (options.names ?? []).map(normalizeName);
    return this.lease(async () => {
      // The archive readers load with the first archive: commands that never meet one start without them.
      const { loadArchive } = await import('../layer/archive/index.js');
      const loaded = await loadArchive(source, this.layout, options);
      if (extra.length > 0 && loaded.length !== 1) {
        throw new GantryError(
          'LOAD_AMBIGUOUS_NAME',
          `${source} holds ${loaded.length} images, so -t cannot say which to name`,
          {
            phase: 'import',
            suggestion: 'load without -t; the names recorded in the archive are used',
          },
        );
      }
      const out: StoreEntryGroup[] = [];
      for (const item of loaded) {
        const names = extra.length > 0 ? extra : item.names.map(normalizeName);
        await this.tag(item.descriptor, names, options);
        out.push({ descriptor: item.descriptor, names });
      }
      return out;
    });
  }

  /** Summaries of every entry, for `gantry images`. */
  async list(options: IoOptions = {}): Promise<ImageSummary[]> {
    const out: ImageSummary[] = [];
    for (const entry of await this.entries(options)) {
      const seen = new Map<Digest, number>();
      const platforms: string[] = [];
      let created: string | undefined;
      const visit = async (desc: Descriptor): Promise<void> => {
        if (seen.has(desc.digest)) return;
        seen.set(desc.digest, desc.size);
        if (!(await this.layout.hasBlob(desc.digest))) return;
        if (isIndexMediaType(desc.mediaType)) {
          const index = parseIndex(await this.layout.readBlob(desc, options));
          for (const child of index.manifests) await visit(child);
        } else if (isManifestMediaType(desc.mediaType)) {
          const manifest = parseManifest(await this.layout.readBlob(desc, options));
          seen.set(manifest.config.digest, manifest.config.size);
          for (const layer of manifest.layers) seen.set(layer.digest, layer.size);
          if (
            manifest.config.mediaType === MediaType.OciConfig ||
            manifest.config.mediaType === MediaType.DockerConfig
          ) {
            const config = parseImageConfig(await this.layout.readBlob(manifest.config, options));
            platforms.push(
              formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant }),
            );
            if (config.created && (!created || config.created > created)) created = config.created;
          }
        }
      };
      await visit(entry.descriptor);
      let size = 0;
      for (const n of seen.values()) size += n;
      out.push({
        ...(entry.name === undefined ? {} : { name: entry.name }),
        digest: entry.descriptor.digest,
        mediaType: entry.descriptor.mediaType,
        size,
        platforms,
        ...(created === undefined ? {} : { created }),
      });
    }
    return out;
  }

  /**
   * Writes a layer made of `entries` straight into the store (one pass: the temp file is renamed
   * to its digest) and returns it as a lazy Layer backed by the store.
   */
  async writeLayer(
    entries: Iterable<TarInput> | AsyncIterable<TarInput>,
    options: IoOptions & { compression?: 'gzip' | 'zstd' | 'none' } = {},
  ): Promise<{ info: LayerInfo; layer: Layer }> {
    await mkdirp(this.#ingestDir);
    const tmp = join(this.#ingestDir, `${process.pid}-${randomBytes(6).toString('hex')}`);
    // Opened up front so that the cleanup below cannot run before a lazily opened file exists.
    const fh = await open(tmp, 'wx', 0o644);
    try {
      const { writeLayer } = await import('../layer/layer.js');
      const info = await writeLayer(entries, fh.createWriteStream(), options);
      const target = this.layout.blobPath(info.digest);
      await mkdirp(join(target, '..'));
      await rename(tmp, target);
      this.layout.noteWritten(info.digest);
      const descriptor: Descriptor = { mediaType: info.mediaType, digest: info.digest, size: info.size };
      return { info, layer: layerFromDescriptor(this.layout, descriptor, info.diffID) };
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** Opens a blob of the store, verified. */
  openBlob(desc: { digest: Digest; size?: number }, options: IoOptions = {}): Promise<Readable> {
    return this.layout.openBlob(desc, options);
  }

  /**
   * Deletes every blob no entry reaches (and stray temp files of dead processes). Blobs newer than
   * the oldest live lease are kept: another process may be about to name them.
   */
  async prune(options: IoOptions = {}): Promise<PruneResult> {
    return this.#locked(async () => {
      const keep = new Set<Digest>();
      const mark = async (desc: Descriptor): Promise<void> => {
        if (keep.has(desc.digest)) return;
        keep.add(desc.digest);
        if (!(await this.layout.hasBlob(desc.digest))) return;
        if (isIndexMediaType(desc.mediaType)) {
          for (const child of parseIndex(await this.layout.readBlob(desc, options)).manifests) await mark(child);
        } else if (isManifestMediaType(desc.mediaType)) {
          const manifest = parseManifest(await this.layout.readBlob(desc, options));
          keep.add(manifest.config.digest);
          for (const layer of manifest.layers) keep.add(layer.digest);
        }
      };
      for (const entry of await this.entries(options)) await mark(entry.descriptor);
      // The build cache keeps its layers until it is cleared.
      for (const digest of await new BuildCache(this).referencedBlobs()) keep.add(digest);
      const { since, held } = await liveLeases(this.#leaseDir);
      for (const digest of held) keep.add(digest);
      let blobs = 0;
      let bytes = 0;
      const blobRoot = join(this.dir, 'blobs');
      for (const algorithm of await readdir(blobRoot).catch(() => [] as string[])) {
        if (algorithm.startsWith('.')) continue;
        for (const hex of await readdir(join(blobRoot, algorithm)).catch(() => [] as string[])) {
          const digest = `${algorithm}:${hex}`;
          if (keep.has(digest) || !isDigest(digest)) continue;
          const path = join(blobRoot, algorithm, hex);
          const st = await stat(path).catch(() => undefined);
          if (!st || (since !== undefined && st.mtimeMs >= since)) continue;
          await rm(path, { force: true });
          blobs += 1;
          bytes += st.size;
        }
      }
      return { blobs, bytes };
    }, options);
  }

  /**
   * Drops the build cache: step records, extracted layers and leftover snapshots (unmounting
   * any a crashed build left mounted). Refused while another gantry process holds a lease.
   * Layer blobs it kept alive are freed by the next `prune`.
   */
  async clearBuildCache(options: IoOptions = {}): Promise<{ bytes: number }> {
    return this.#locked(async () => {
      if ((await liveLeases(this.#leaseDir)).since !== undefined) {
        throw new GantryError('STORE_BUSY', 'another gantry command is using the store', {
          phase: 'store',
          suggestion: 'wait for running builds to finish, then prune the build cache',
        });
      }
      const cache = join(this.dir, 'cache');
      const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
      for (const line of mounts.split('\n')) {
        const target = line.split(' ')[1]?.replace(/\\040/g, ' ');
        if (target?.startsWith(`${cache}/`)) await umount(target);
      }
      const bytes = await du(cache);
      await rm(cache, { recursive: true, force: true });
      return { bytes };
    }, options);
  }
}

async function umount(target: string): Promise<void> {
  await new Promise<void>((resolveDone) => {
    execFile('umount', ['-l', target], () => resolveDone());
  });
}

function descriptorFromBytes(digest: Digest, bytes: Buffer): Descriptor | undefined {
  try {
    const { mediaType } = sniffManifestKind(bytes);
    return { mediaType, digest, size: bytes.length };
  } catch {
    return undefined; // a blob that is not a manifest cannot be used as an image
  }
}
