/**
 * Extracted layers, kept by diffID and shared by every build and every gantry process that uses
 * the same directory (the engine passes `<store>/cache/layers`). A layer is extracted once, into
 * a temp dir beside its final place, and renamed into place: the rename is the commit point, so a
 * directory that exists is complete, and two processes racing on one layer both end up with the
 * same finished copy. Extracted layers are read-only lowers: nothing may write into them.
 *
 * Whiteouts are stored in the form overlayfs reads in a lowerdir, so a cached layer can be
 * stacked directly: a removed path becomes a character device 0/0 and an opaque directory gets
 * `trusted.overlay.opaque=y`. Both need root (CAP_MKNOD, CAP_SYS_ADMIN); without it the cache
 * keeps OCI whiteout files (`.wh.NAME`, `.wh..wh..opq`) instead, which only the walk snapshotter
 * reads. The two forms live in separate subdirectories and are never mixed.
 */
import { type Dirent, existsSync, type Stats } from 'node:fs';
import { chmod, lstat, lutimes, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { explainSystemError, GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { extractLayer } from '../../layer/extract.js';
import { parseDigest } from '../../oci/digest.js';
import type { Layer } from '../../oci/image.js';
import type { Digest } from '../../oci/types.js';
import { ensurePrivateDir, lstatOrUndefined, mkdirp } from '../../util/fs.js';
import { DEVICE_MARK, encodeDeviceMark, isOverlayWhiteout, OPAQUE_MARKER, WHITEOUT_PREFIX } from './changes.js';
import { makeNodes, setXattr, whiteoutNodes } from './tools.js';

export type WhiteoutForm = 'overlay' | 'oci';

export interface ExtractLayerOptions extends IoOptions {
  /**
   * The extracted layers below this one (bottom first). A hardlink to a file that only a lower
   * layer has is then extracted as overlayfs would apply it: the file is copied up into this
   * layer's directory and linked there. Without them such a layer cannot be extracted.
   */
  readonly lowers?: readonly string[];
}

export interface LayerCacheOptions {
  /** Default: 'overlay' when running as root, else 'oci'. */
  readonly form?: WhiteoutForm;
}

/** One extraction per path in this process; other processes are handled by the rename. */
const inflight = new Map<string, Promise<string>>();

export class LayerCache {
  readonly dir: string;
  readonly form: WhiteoutForm;

  constructor(dir: string, options: LayerCacheOptions = {}) {
    this.dir = dir;
    this.form = options.form ?? (process.getuid?.() === 0 ? 'overlay' : 'oci');
  }

  /** Where the layer with this diffID is (or would be) extracted. */
  pathFor(diffID: Digest): string {
    const { algorithm, hex } = parseDigest(diffID);
    return join(this.dir, this.form, algorithm, hex);
  }

  has(diffID: Digest): boolean {
    return existsSync(this.pathFor(diffID));
  }

  /** The extracted directory of `layer`, extracting it first unless a build already did. */
  async ensureExtracted(layer: Layer, options: ExtractLayerOptions = {}): Promise<string> {
    throwIfAborted(options.signal);
    // Extracted layers keep the image's owners and modes (setuid files too): private to root.
    // The form directory is ours (never the caller's `dir`, which may be shared, like /tmp).
    await ensurePrivateDir(join(this.dir, this.form));
    const final = this.pathFor(await layer.diffID(options));
    if (existsSync(final)) return final;
    let p = inflight.get(final);
    if (!p) {
      p = this.#extract(layer, final, options).finally(() => inflight.delete(final));
      inflight.set(final, p);
    }
    return p;
  }

  /** Removes one extracted layer; a build still using it as a mounted lower keeps its view. */
  async remove(diffID: Digest): Promise<void> {
    const final = this.pathFor(diffID);
    if (!existsSync(final)) return;
    // Renamed away first so that nobody picks up a half-removed tree.
    const doomed = `${final}.rm-${process.pid}-${Date.now()}`;
    try {
      await rename(final, doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await rm(doomed, { recursive: true, force: true });
  }

  async #extract(layer: Layer, final: string, options: ExtractLayerOptions): Promise<string> {
    const parent = join(final, '..');
    await mkdirp(parent);
    const tmp = await mkdtemp(join(parent, `.tmp-${process.pid}-`));
    try {
      const tar = await layer.uncompressed(options);
      // Device nodes become marked placeholders: never usable devices on the host.
      const { devices } = await extractLayer(tar, tmp, {
        signal: options.signal,
        whiteouts: 'keep',
        devices: 'placeholder',
        ...(options.lowers ? { lowerFile: (rel: string) => fileInLowers(options.lowers ?? [], rel) } : {}),
      });
      const byMark = new Map<string, string[]>();
      for (const d of devices) {
        const mark = encodeDeviceMark(d);
        byMark.set(mark, [...(byMark.get(mark) ?? []), join(tmp, d.path)]);
      }
      for (const [mark, paths] of byMark) await setXattr(paths, DEVICE_MARK, mark, options);
      if (this.form === 'overlay') await toOverlayWhiteouts(tmp, options);
      await chmod(tmp, 0o755);
      try {
        await rename(tmp, final);
      } catch (err) {
        // Another process finished the same layer first; its copy is as good as ours.
        const code = (err as NodeJS.ErrnoException).code;
        if (!((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(final))) throw err;
      }
      return final;
    } catch (err) {
      if (GantryError.is(err)) throw err;
      const system = explainSystemError(err);
      if (system)
        throw new GantryError(system.code, `cannot extract layer: ${system.message}`, {
          phase: 'layer',
          suggestion: system.suggestion,
          cause: err,
        });
      throw new GantryError('LAYER_CACHE_FAILED', `cannot extract layer into ${final}: ${(err as Error).message}`, {
        phase: 'layer',
        suggestion: 'check free space and permissions of the layer cache directory',
        cause: err,
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}

/**
 * The host path of the regular file that `lowers` (bottom first, either whiteout form) show at
 * `rel`, looked up top first as overlay does: a whiteout or a non-directory parent in a higher
 * layer hides it, and so does an OCI opaque marker. (An overlay-form opaque directory is marked
 * by an xattr this lookup does not read; a hardlink into one is an error as before.)
 */
async function fileInLowers(lowers: readonly string[], rel: string): Promise<string | undefined> {
  const parts = rel.split('/');
  for (const lower of [...lowers].reverse()) {
    for (const [i, name] of parts.entries()) {
      const dir = join(lower, ...parts.slice(0, i));
      if (existsSync(join(dir, `${WHITEOUT_PREFIX}${name}`))) return undefined;
      const st = await lstatOrUndefined(join(dir, name), { notDirIsMissing: true });
      if (st === undefined) {
        if (existsSync(join(dir, OPAQUE_MARKER))) return undefined;
        break; // not in this layer: look further down
      }
      if (isOverlayWhiteout(st)) return undefined;
      if (i === parts.length - 1) return st.isFile() ? join(dir, name) : undefined;
      if (!st.isDirectory()) return undefined;
    }
  }
  return undefined;
}

/**
 * Rewrites the OCI whiteout files of a freshly extracted layer into overlay whiteouts, keeping
 * the directory mtimes extraction set (removing and creating entries would move them).
 */
export async function toOverlayWhiteouts(root: string, options: IoOptions = {}): Promise<void> {
  const whiteouts: string[] = [];
  const opaque: string[] = [];
  const restore = new Map<string, Stats>();
  const visit = async (dir: string): Promise<void> => {
    throwIfAborted(options.signal);
    const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
    const names = new Set(entries.map((e) => e.name));
    const marks = entries.filter((e) => e.name.startsWith(WHITEOUT_PREFIX));
    if (marks.length > 0) {
      const before = await lstat(dir);
      for (const e of marks) {
        await rm(join(dir, e.name), { recursive: true, force: true });
        if (e.name === OPAQUE_MARKER) opaque.push(dir);
        else if (e.name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`))
          continue; // other AUFS metadata
        else {
          const hidden = e.name.slice(WHITEOUT_PREFIX.length);
          // An entry this same layer wrote already hides whatever is below it.
          if (hidden !== '' && hidden !== '.' && hidden !== '..' && !names.has(hidden))
            whiteouts.push(join(dir, hidden));
        }
      }
      restore.set(dir, before);
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith(WHITEOUT_PREFIX)) await visit(join(dir, e.name));
  };
  await visit(root);
  await makeNodes(whiteoutNodes(whiteouts), options);
  await setXattr(opaque, 'trusted.overlay.opaque', 'y', options);
  for (const [dir, st] of restore) await lutimes(dir, st.atime, st.mtime);
}
