/**
 * Flattens extracted layer directories (bottom first) into one real directory, applying each
 * one's whiteouts to what is below it, as overlayfs would show them merged. Understands both forms
 * a LayerCache stores: overlay (character devices 0/0, `trusted.overlay.opaque=y`) and OCI
 * (`.wh.NAME` files, `.wh..wh..opq`). Used by the walk snapshotter for its root and by the
 * overlay snapshotter to fold lowers beyond the kernel's stacking limit into one.
 *
 * Files are copied with copy_file_range/FICLONE (a reflink where the filesystem has them), never
 * hardlinked to the cache: a step that appends to a file in place (`echo >> /etc/profile`) would
 * otherwise change the shared extracted layer under every other build.
 */
import { constants, type Stats } from 'node:fs';
import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type IoOptions, throwIfAborted } from '../../errors.js';
import { lstatOrUndefined, mkdirp } from '../../util/fs.js';
import { DEVICE_MARK, isOverlayWhiteout, OPAQUE_MARKER, WHITEOUT_PREFIX } from './changes.js';
import { type DeviceNode, makeNodes, readXattrTree, setXattr, writeXattrs, type XattrMap } from './tools.js';

/**
 * xattrs overlay marks lowers with (opaque directories and, kernel ≥ 6.7, xattr whiteouts), and
 * the mark of a device placeholder, which a merged copy must keep.
 */
export const OVERLAY_MARK_PATTERN = `^(trusted\\.overlay\\.(opaque|whiteout)|${DEVICE_MARK.replaceAll('.', '\\.')})$`;
/** The marks, and what layers carry (LAYER_XATTR_PATTERN), which the merged copy keeps. */
const LOWER_XATTR_PATTERN = `^(trusted\\.overlay\\.(opaque|whiteout)|security\\.capability|${DEVICE_MARK.replaceAll('.', '\\.')})$`;
const KEPT_XATTRS = ['security.capability'];

/** Extracted layers never change, so their xattrs are read once per process. */
const lowerXattrs = new Map<string, Promise<XattrMap>>();

async function readLowerXattrs(lower: string, signal: AbortSignal | undefined): Promise<XattrMap> {
  const st = await lstat(lower);
  const key = `${lower}\0${st.ino}\0${st.birthtimeMs}`;
  let p = lowerXattrs.get(key);
  if (!p) {
    p = readXattrTree(lower, LOWER_XATTR_PATTERN, { signal });
    p.catch(() => lowerXattrs.delete(key));
    lowerXattrs.set(key, p);
  }
  return p;
}

export interface MergeResult {
  /** For every regular file in the result: the lower file it was copied from. */
  readonly sources: Map<string, string>;
}

function typeOf(stat: Stats): DeviceNode['type'] | undefined {
  if (stat.isCharacterDevice()) return 'char';
  if (stat.isBlockDevice()) return 'block';
  if (stat.isFIFO()) return 'fifo';
  return undefined;
}

function deviceNumbers(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  return {
    major: Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn)),
    minor: Number((r & 0xffn) | ((r >> 12n) & ~0xffn)),
  };
}

class Merge {
  readonly #into: string;
  readonly #signal: AbortSignal | undefined;
  readonly sources = new Map<string, string>();
  #marks: XattrMap = new Map();
  /** What #keep collected for the current lower, set once its files are in place. */
  #kept: XattrMap = new Map();
  /** First copy of each multiply linked inode of the current lower, to link the others to. */
  #linked = new Map<string, string>();
  readonly #owners = process.getuid?.() === 0;

  constructor(into: string, signal: AbortSignal | undefined) {
    this.#into = into;
    this.#signal = signal;
  }

  async apply(lower: string): Promise<void> {
    this.#marks = await readLowerXattrs(lower, this.#signal);
    this.#kept = new Map();
    this.#linked = new Map();
    const rootStat = await lstat(lower);
    const placeholders = new Map<string, string[]>();
    this.#placeholders = placeholders;
    await this.#dir(lower, this.#into, '');
    await this.#meta(this.#into, rootStat);
    // After #meta: chown clears security.capability.
    await writeXattrs(this.#kept, { signal: this.#signal, skipMissing: true });
    for (const [value, paths] of placeholders) await setXattr(paths, DEVICE_MARK, value, { signal: this.#signal });
  }

  /** Carries the xattrs layers keep (a file's capabilities) from `src` to its copy. */
  #keep(src: string, dst: string): void {
    const attrs = this.#marks.get(src);
    const kept = attrs && Object.entries(attrs).filter(([name]) => KEPT_XATTRS.includes(name));
    if (kept && kept.length > 0) this.#kept.set(dst, Object.fromEntries(kept));
  }

  /** Copies of device placeholders in the current lower, by mark value, to mark again. */
  #placeholders = new Map<string, string[]>();

  #isOpaque(abs: string, names: readonly string[]): boolean {
    return this.#marks.get(abs)?.['trusted.overlay.opaque']?.toString() === 'y' || names.includes(OPAQUE_MARKER);
  }

  async #meta(dst: string, st: Stats): Promise<void> {
    if (this.#owners) await lchown(dst, st.uid, st.gid);
    // chmod after chown: chown clears setuid/setgid. A symlink's mode means nothing on Linux.
    if (!st.isSymbolicLink()) await chmod(dst, st.mode & 0o7777);
    await lutimes(dst, st.atime, st.mtime);
  }

  async #remove(dst: string): Promise<void> {
    await rm(dst, { recursive: true, force: true });
  }

  async #dir(srcDir: string, dstDir: string, rel: string): Promise<void> {
    throwIfAborted(this.#signal);
    const names = (await readdir(srcDir)).sort();
    const entries: { name: string; src: string; st: Stats }[] = [];
    // Whiteouts first: in a single layer, an entry beside its own whiteout wins.
    for (const name of names) {
      const src = join(srcDir, name);
      const st = await lstat(src);
      let hidden: string | undefined;
      if (name === OPAQUE_MARKER || name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) continue;
      if (name.startsWith(WHITEOUT_PREFIX)) hidden = name.slice(WHITEOUT_PREFIX.length);
      else if (isOverlayWhiteout(st) || (st.isFile() && this.#marks.get(src)?.['trusted.overlay.whiteout'])) {
        hidden = name;
      }
      if (hidden !== undefined) {
        if (hidden !== '' && hidden !== '.' && hidden !== '..') await this.#remove(join(dstDir, hidden));
        continue;
      }
      entries.push({ name, src, st });
    }
    const nodes: { dst: string; st: Stats }[] = [];
    for (const { name, src, st } of entries) {
      const dst = join(dstDir, name);
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const existing = await lstatOrUndefined(dst);
      if (st.isDirectory()) {
        const replace = !existing?.isDirectory() || this.#isOpaque(src, await readdir(src));
        if (existing && replace) await this.#remove(dst);
        if (replace) await mkdir(dst);
        await this.#dir(src, dst, childRel);
        await this.#meta(dst, st);
        continue;
      }
      if (existing) await this.#remove(dst);
      this.sources.delete(childRel);
      if (st.isFile()) {
        const id = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? this.#linked.get(id) : undefined;
        if (first !== undefined) {
          await link(first, dst);
        } else {
          await copyFile(src, dst, constants.COPYFILE_FICLONE);
          if (st.nlink > 1) this.#linked.set(id, dst);
          await this.#meta(dst, st);
          this.#keep(src, dst);
          const mark = this.#marks.get(src)?.[DEVICE_MARK];
          if (mark) {
            const paths = this.#placeholders.get(mark.toString('latin1')) ?? [];
            paths.push(dst);
            this.#placeholders.set(mark.toString('latin1'), paths);
          }
        }
        this.sources.set(childRel, src);
      } else if (st.isSymbolicLink()) {
        await symlink(await readlink(src), dst);
        await this.#meta(dst, st);
      } else if (typeOf(st)) {
        nodes.push({ dst, st });
      }
      // Sockets are not layer content.
    }
    if (nodes.length > 0) {
      await makeNodes(
        nodes.map(({ dst, st }) => ({
          path: dst,
          type: typeOf(st) as DeviceNode['type'],
          mode: st.mode,
          ...deviceNumbers(st.rdev),
        })),
        { signal: this.#signal },
      );
      for (const { dst, st } of nodes) await this.#meta(dst, st);
    }
  }
}

/** Merges `lowers` (bottom first) into `into`, which is created if missing. */
export async function mergeLowers(
  lowers: readonly string[],
  into: string,
  options: IoOptions = {},
): Promise<MergeResult> {
  await mkdirp(into);
  await chmod(into, 0o755);
  const merge = new Merge(into, options.signal);
  for (const lower of lowers) await merge.apply(lower);
  return { sources: merge.sources };
}
