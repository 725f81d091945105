/**
 * Picks the few files an SBOM needs out of an image without extracting it: each layer's tar is
 * streamed once, bottom to top, and only the bodies of wanted paths are read (into memory, each
 * capped). Whiteouts, opaque directories and later entries at the same path are applied as
 * extraction would apply them, so what is returned is what the final filesystem holds.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { GantryError, type IoOptions, throwIfAborted } from '../errors.js';
import { readTar } from '../layer/tar/reader.js';
import type { Image } from '../oci/image.js';
import { writeFileAtomic } from '../util/fs.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
/** A package database bigger than this is refused rather than held in memory. */
export const MAX_SBOM_FILE = 64 * 1024 * 1024;

export interface PickedFile {
  readonly path: string;
  readonly data: Buffer;
  /** Index of the layer (0 = bottom) that holds the visible copy. */
  readonly layer: number;
}

async function readBody(body: AsyncIterable<unknown>, size: number, path: string): Promise<Buffer> {
  if (size > MAX_SBOM_FILE) {
    throw new GantryError(
      'SBOM_FILE_TOO_LARGE',
      `${path} in the image is ${size} bytes, over the SBOM reader's limit`,
      {
        phase: 'supply',
        suggestion: `an SBOM source file is read whole; files over ${MAX_SBOM_FILE} bytes are refused`,
      },
    );
  }
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Where the picking state after a stack of layers is kept between runs: `<dir>/<key>.json`, the key
 * a hash of `version` (what `want` picks) and the stack's diffIDs (its chain). The state after a
 * base image's layers is what every image built on it starts from, so its layers are read once
 * per store, not on every push. Whiteouts make a layer's findings depend on what is below it,
 * hence states of whole stacks rather than of single layers.
 */
export interface PickCache {
  readonly dir: string;
  /** Changes whenever `want` picks other files. */
  readonly version: string;
  /**
   * Stack depths whose state is kept: the base image's. Only those: a state per pushed image would
   * grow the store by a package database per image for little gain.
   */
  readonly checkpoints?: readonly number[];
}

interface SavedState {
  readonly files: readonly { path: string; data: string; layer: number }[];
  readonly holders: readonly string[];
}

/**
 * What the bottom `depth` layers hold, known without reading them (e.g. from the base image's own
 * SBOM): the picking starts from these files, and the layers above override or hide them as usual.
 */
export interface PickSeed {
  readonly depth: number;
  readonly files: readonly PickedFile[];
}

export interface PickOptions extends IoOptions {
  readonly cache?: PickCache;
  /** Told how many layers were read (the rest came from the cache). */
  readonly onRead?: (read: number, total: number) => void;
  readonly seed?: PickSeed;
  /**
   * Whether layer `index` may be read (e.g. it is in the store). A layer that may not is skipped:
   * what it holds is unknown, and it is listed in the result's `unread`.
   */
  readonly readable?: (index: number) => Promise<boolean>;
  /**
   * For a regular file at `path` whose content is not wanted whole: a reader that keeps only what
   * matters of it (e.g. an executable's Go build info), or undefined. A file it returns nothing for
   * is not picked.
   */
  readonly extract?: (path: string) => ((body: AsyncIterable<unknown>) => Promise<Buffer | undefined>) | undefined;
}

export interface PickResult {
  readonly files: PickedFile[];
  /** Layers skipped because `readable` said no (their contents are unknown). */
  readonly unread: readonly number[];
}

function chainKeys(version: string, diffIDs: readonly string[]): string[] {
  const out: string[] = [];
  let chain = createHash('sha256').update(`gantry-pick\u0000${version}`).digest('hex');
  for (const d of diffIDs) {
    chain = createHash('sha256').update(`${chain}\u0000${d}`).digest('hex');
    out.push(chain);
  }
  return out;
}

async function loadState(dir: string, key: string): Promise<SavedState | undefined> {
  try {
    const s = JSON.parse(await readFile(join(dir, `${key}.json`), 'utf8')) as SavedState;
    return Array.isArray(s.files) && Array.isArray(s.holders) ? s : undefined;
  } catch {
    return undefined; // absent or torn: read the layers
  }
}

/** Every file of the final filesystem of `image` whose path `want` accepts, with its content. */
export async function pickFiles(
  image: Image,
  want: (path: string) => boolean,
  options: PickOptions = {},
): Promise<PickedFile[]> {
  return (await pick(image, want, options)).files;
}

/** `pickFiles`, also saying which layers were skipped as unreadable. */
export async function pick(
  image: Image,
  want: (path: string) => boolean,
  options: PickOptions = {},
): Promise<PickResult> {
  const files = new Map<string, PickedFile>();
  // Directories holding a picked file: only those need a scan when something hides them.
  const holders = new Set<string>();
  const layers = await image.layers(options);
  const cache = options.cache;
  const keys = cache ? chainKeys(cache.version, (await image.configFile(options)).rootfs.diff_ids) : [];
  let start = 0;
  if (cache && keys.length === layers.length) {
    for (let depth = layers.length; depth > 0 && start === 0; depth--) {
      const saved = await loadState(cache.dir, keys[depth - 1] as string);
      if (!saved) continue;
      for (const f of saved.files)
        files.set(f.path, { path: f.path, data: Buffer.from(f.data, 'base64'), layer: f.layer });
      for (const h of saved.holders) holders.add(h);
      start = depth;
    }
  }
  const addHolders = (dir: string) => {
    for (let d = dir; d !== '' && !holders.has(d); d = posix.dirname(d) === '.' ? '' : posix.dirname(d)) holders.add(d);
  };
  const seed = options.seed;
  let seeded = false;
  if (seed && start < seed.depth) {
    seeded = true;
    files.clear();
    holders.clear();
    for (const f of seed.files) {
      files.set(f.path, f);
      addHolders(posix.dirname(f.path) === '.' ? '' : posix.dirname(f.path));
    }
    start = seed.depth;
  }
  const unread: number[] = [];
  const save = async (depth: number) => {
    // A state made from a seed or over a skipped layer is not what the layers hold: never kept.
    if (!cache || keys.length !== layers.length || depth <= start || seeded || unread.length > 0) return;
    const state: SavedState = {
      files: [...files.values()].map((f) => ({ path: f.path, data: f.data.toString('base64'), layer: f.layer })),
      holders: [...holders],
    };
    // A cache that cannot be written costs the next run a read, nothing else.
    await writeFileAtomic(join(cache.dir, `${keys[depth - 1]}.json`), JSON.stringify(state), options).catch(() => {});
  };
  const hideUnder = (dir: string, below: number) => {
    if (dir !== '' && !holders.has(dir)) return;
    const prefix = dir === '' ? '' : `${dir}/`;
    for (const [p, f] of files) if (p.startsWith(prefix) && f.layer < below) files.delete(p);
  };
  for (const [index, layer] of layers.entries()) {
    if (index < start) continue;
    if (cache?.checkpoints?.includes(index)) await save(index);
    throwIfAborted(options.signal);
    if (options.readable && !(await options.readable(index))) {
      unread.push(index);
      continue;
    }
    for await (const { entry, body } of readTar(await layer.uncompressed(options), options)) {
      const path = posix.normalize(entry.path).replace(/^(\.\/|\/)+/, '');
      const name = posix.basename(path);
      const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      if (name === OPAQUE) {
        hideUnder(dir, index);
        continue;
      }
      if (name.startsWith(WHITEOUT)) {
        const gone = dir === '' ? name.slice(WHITEOUT.length) : `${dir}/${name.slice(WHITEOUT.length)}`;
        const f = files.get(gone);
        if (f && f.layer < index) files.delete(gone);
        hideUnder(gone, index);
        continue;
      }
      if (entry.type !== 'directory') hideUnder(path, index + 1);
      const extract = entry.type === 'file' ? options.extract?.(path) : undefined;
      if (extract) {
        const kept = await extract(body);
        if (kept === undefined) files.delete(path);
        else {
          files.set(path, { path, data: kept, layer: index });
          addHolders(dir);
        }
        continue;
      }
      if (!want(path)) {
        files.delete(path);
        continue;
      }
      if (entry.type === 'file') {
        files.set(path, { path, data: await readBody(body, entry.size, path), layer: index });
      } else if (entry.type === 'hardlink' && entry.linkname !== undefined) {
        const target = files.get(posix.normalize(entry.linkname).replace(/^(\.\/|\/)+/, ''));
        if (!target) {
          files.delete(path);
          continue;
        }
        files.set(path, { path, data: target.data, layer: index });
      } else {
        files.delete(path);
        continue;
      }
      addHolders(dir);
    }
  }
  if (cache?.checkpoints?.includes(layers.length)) await save(layers.length);
  options.onRead?.(layers.length - start - unread.length, layers.length);
  return { files: [...files.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), unread };
}

/** Whether the cache holds the picking state after the bottom `depth` layers of a stack. */
export async function hasPickState(
  dir: string,
  version: string,
  diffIDs: readonly string[],
  depth: number,
): Promise<boolean> {
  const key = chainKeys(version, diffIDs.slice(0, depth))[depth - 1];
  return key !== undefined && (await loadState(dir, key)) !== undefined;
}
