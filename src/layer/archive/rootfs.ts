/**
 * The root filesystem of an image, as a directory or as one tar. The directory form extracts the
 * layers in order (whiteouts applied by extraction). The tar form is a merge of the layer tars
 * that never touches the disk: a first pass over the headers decides which entry of which layer
 * is visible in the final filesystem, a second pass streams exactly those, layer by layer, so
 * owners, modes, mtimes and device nodes are kept even when not running as root. Both forms apply
 * the same path rules: what extraction refuses (`..`, absolute names, hardlinks out of the tree)
 * the tar refuses too, and names under symlinks are written where they resolve (confine.ts).
 */
import { posix } from 'node:path';
import { type IoOptions, throwIfAborted } from '../../errors.js';
import type { Image, Layer } from '../../oci/image.js';
import { extractLayer } from '../extract.js';
import { readTar } from '../tar/reader.js';
import type { TarEntry, TarInput } from '../tar/types.js';
import { tarStream } from '../tar/writer.js';
import { ConfinedTree, safeParts } from './confine.js';
import { type ArchiveDest, writeDirectoryOutput, writeFileOutput } from './output.js';

export interface RootfsOptions extends IoOptions {
  readonly format: 'dir' | 'tar';
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';

export interface HeaderInfo {
  readonly path: string;
  readonly type: TarEntry['type'];
  readonly linkname?: string;
}

/** How one entry of one layer appears in the merged tar. */
export interface Emit {
  /** Path to write it at (differs from the entry's own only for a rescued hardlink target). */
  readonly path: string;
  /** New hardlink target, when the original target is not in the output under its own name. */
  readonly linkname?: string;
}

function parentsOf(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) out.push(path.slice(0, i));
  return out;
}

async function headersOf(layer: Layer, options: IoOptions): Promise<HeaderInfo[]> {
  const out: HeaderInfo[] = [];
  for await (const { entry } of readTar(await layer.uncompressed(options), options)) {
    throwIfAborted(options.signal);
    // Refused before anything is written, as extraction refuses it.
    safeParts(entry.path);
    if (entry.type === 'hardlink') safeParts(entry.linkname ?? '', 'hardlink target');
    out.push({
      path: entry.path,
      type: entry.type,
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
    });
  }
  return out;
}

/**
 * For each layer, which entries (by position in its tar) are visible in the final filesystem.
 * Layers are judged from the top down: an entry is hidden by the same path in a higher layer, by
 * a whiteout or opaque marker in a higher layer, or by a higher non-directory at a parent path.
 * A layer's own whiteouts only hide lower layers (image-spec layer.md).
 */
export function planMerge(layers: readonly (readonly HeaderInfo[])[]): Map<number, Emit>[] {
  const seen = new Set<string>();
  const deleted = new Set<string>();
  const opaque = new Set<string>();
  const dirs = new Set<string>();
  const plans: Map<number, Emit>[] = layers.map(() => new Map());

  const hidden = (path: string): boolean =>
    seen.has(path) ||
    deleted.has(path) ||
    parentsOf(path).some((p) => deleted.has(p) || opaque.has(p) || (seen.has(p) && !dirs.has(p)));

  for (let i = layers.length - 1; i >= 0; i--) {
    const entries = layers[i] ?? [];
    const plan = plans[i] as Map<number, Emit>;
    const last = new Map<string, number>();
    for (const [j, e] of entries.entries()) last.set(e.path, j);
    const layerSeen: HeaderInfo[] = [];
    const layerDeleted: string[] = [];
    const layerOpaque: string[] = [];
    for (const [j, e] of entries.entries()) {
      if (e.path === '' || e.path === '.') continue;
      const base = posix.basename(e.path);
      const dir = posix.dirname(e.path);
      const parent = dir === '.' ? '' : `${dir}/`;
      if (base === OPAQUE_MARKER) layerOpaque.push(dir === '.' ? '' : dir);
      else if (base.startsWith(WHITEOUT_PREFIX)) layerDeleted.push(parent + base.slice(WHITEOUT_PREFIX.length));
      else if (last.get(e.path) === j && !hidden(e.path)) {
        plan.set(j, { path: e.path });
        layerSeen.push(e);
      }
    }
    for (const e of layerSeen) {
      seen.add(e.path);
      if (e.type === 'directory') dirs.add(e.path);
    }
    for (const p of layerDeleted) deleted.add(p);
    for (const p of layerOpaque) {
      // An opaque root hides every lower entry.
      if (p === '') for (const e of layers.slice(0, i).flat()) deleted.add(e.path.split('/')[0] as string);
      else opaque.add(p);
    }
    rescueHardlinks(entries, plan);
  }
  return plans;
}

/**
 * A visible hardlink whose target (earlier in the same layer) is hidden would point at nothing, or
 * at a different file: the target's content is written under the first such link's path instead,
 * and the other links point there.
 */
function rescueHardlinks(entries: readonly HeaderInfo[], plan: Map<number, Emit>): void {
  const rescued = new Map<string, string>();
  const byPath = new Map<string, number>();
  for (const [j, e] of entries.entries()) {
    if (e.type !== 'hardlink' || e.linkname === undefined) {
      byPath.set(e.path, j);
      continue;
    }
    if (!plan.has(j)) continue;
    const moved = rescued.get(e.linkname);
    if (moved !== undefined) {
      plan.set(j, { path: e.path, linkname: moved });
      continue;
    }
    const target = byPath.get(e.linkname);
    if (target === undefined || plan.has(target)) continue;
    rescued.set(e.linkname, e.path);
    plan.set(target, { path: e.path });
    plan.delete(j);
  }
}

async function* mergedEntries(
  layers: readonly Layer[],
  plans: Map<number, Emit>[],
  options: IoOptions,
): AsyncGenerator<TarInput> {
  const tree = new ConfinedTree();
  for (const [i, layer] of layers.entries()) {
    const plan = plans[i] as Map<number, Emit>;
    let j = 0;
    for await (const { entry, body } of readTar(await layer.uncompressed(options), options)) {
      const emit = plan.get(j++);
      if (emit === undefined) continue;
      const out = tree.place({
        ...entry,
        path: emit.path,
        ...(emit.linkname === undefined ? {} : { linkname: emit.linkname }),
      });
      if (out === undefined) continue;
      yield entry.type === 'file' ? { entry: out, body: () => body } : { entry: out };
    }
  }
}

/**
 * The root filesystem of `image` as tar entries (a first pass reads every layer's headers, a
 * second streams the visible entries), under the same path rules as the tar form of exportRootfs:
 * for a caller that writes them somewhere else (stdout, a new layer).
 */
export async function* rootfsEntries(image: Image, options: IoOptions = {}): AsyncGenerator<TarInput> {
  const io: IoOptions = { signal: options.signal };
  const layers = await image.layers(io);
  const headers: HeaderInfo[][] = [];
  for (const layer of layers) headers.push(await headersOf(layer, io));
  yield* mergedEntries(layers, planMerge(headers), io);
}

/**
 * The root filesystem of `image`: layers applied in order with whiteouts, as a directory
 * (`format: 'dir'`; `dest` must not exist or be empty) or one tar (`format: 'tar'`; owners, modes
 * and mtimes kept, entries in layer order). Atomic: built under a temp name beside `dest`.
 */
export async function exportRootfs(image: Image, dest: ArchiveDest, options: RootfsOptions): Promise<void> {
  throwIfAborted(options.signal);
  const io: IoOptions = { signal: options.signal };
  const layers = await image.layers(io);
  if (options.format === 'dir') {
    const root = process.getuid?.() === 0;
    await writeDirectoryOutput(
      dest,
      async (dir) => {
        for (const layer of layers) {
          await extractLayer(await layer.uncompressed(io), dir, { ...io, whiteouts: 'apply', devices: root });
        }
      },
      io,
    );
    return;
  }
  await writeFileOutput(dest, tarStream(rootfsEntries(image, io), io), io);
}
