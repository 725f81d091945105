/**
 * The overlayfs snapshotter: a step runs on an overlay mount whose lowers are extracted layers
 * (see LayerCache) and whose upper directory collects everything it changes; committing reads
 * only the upper directory, so a snapshot costs what changed, not the size of the image.
 *
 * Mount options pin the upper directory to plain content: redirect_dir=off (a renamed lower
 * directory is copied, not recorded as a redirect xattr), metacopy=off (a chmod copies data up,
 * so no file in the upper lacks its content), index=off and xino=off (no extra bookkeeping).
 *
 * The lowerdir option shares one page with the rest of the options, so lowers are not named by
 * their (long) paths: each gets a short symlink `l/<n>` inside the snapshot directory and mount
 * runs there, as Docker's overlay2 driver does. Overlay stacks at most 500 lowers; the bottom ones
 * beyond that are merged into one directory first.
 */
import { lstat, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import type { TarInput } from '../../layer/tar/types.js';
import { xattrAccess } from '../../layer/xattr.js';
import { ownerTag } from '../../store/cleanup.js';
import { lstatOrUndefined, mkdirp } from '../../util/fs.js';
import {
  type Before,
  type Change,
  DEVICE_MARK,
  deviceMarkOf,
  isOverlayWhiteout,
  layerEntries,
  settleChanges,
} from './changes.js';
import { mergeLowers } from './merge.js';
import { mountOverlay, readXattrTree, unmount } from './tools.js';
import type { CommitOptions, Snapshot, Snapshotter, SnapshotterOptions } from './types.js';

/** The kernel's OVL_MAX_STACK. */
export const MAX_OVERLAY_LOWERS = 500;
const MOUNT_OPTIONS = 'redirect_dir=off,metacopy=off,index=off,xino=off';
/** Overlay's own markers, what layers carry (LAYER_XATTR_PATTERN) and device placeholder marks. */
const UPPER_XATTR_PATTERN = `^(trusted\\.overlay\\.(opaque|whiteout)|security\\.capability|${DEVICE_MARK.replaceAll('.', '\\.')})$`;

export class OverlaySnapshotter implements Snapshotter {
  readonly kind = 'overlay' as const;
  readonly #dir: string;

  constructor(options: SnapshotterOptions = {}) {
    this.#dir = resolve(options.dir ?? tmpdir());
  }

  async prepare(lowers: readonly string[], options: IoOptions = {}): Promise<Snapshot> {
    throwIfAborted(options.signal);
    await mkdirp(this.#dir);
    // mkdtemp makes it 0700: the step root (image files with their setuid bits) is private. Named
    // with its owner, so the next command of a killed build unmounts and removes it.
    const dir = await mkdtemp(join(this.#dir, `overlay-${ownerTag()}-`));
    try {
      for (const d of ['l', 'upper', 'work', 'merged']) await mkdir(join(dir, d));
      let stack = lowers.map((l) => resolve(l));
      if (stack.length > MAX_OVERLAY_LOWERS) {
        const cut = stack.length - MAX_OVERLAY_LOWERS + 1;
        const base = join(dir, 'base');
        await mergeLowers(stack.slice(0, cut), base, options);
        stack = [base, ...stack.slice(cut)];
      }
      if (stack.length === 0) {
        // Overlay needs a lower; scratch is an empty one.
        const empty = join(dir, 'empty');
        await mkdir(empty, { mode: 0o755 });
        stack = [empty];
      }
      for (const [i, lower] of stack.entries()) await symlink(lower, join(dir, 'l', i.toString(36)));
      const order = stack.map((_, i) => `l/${i.toString(36)}`).reverse(); // overlay lists the top first
      await mountOverlay(
        `lowerdir=${order.join(':')},upperdir=upper,workdir=work,${MOUNT_OPTIONS}`,
        'merged',
        dir,
        options,
      );
      return new OverlaySnapshot(dir, stack);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
}

class OverlaySnapshot implements Snapshot {
  readonly root: string;
  readonly upper: string;
  readonly #dir: string;
  /** Top first, as overlay searches them. */
  readonly #lowers: readonly string[];
  #released = false;

  constructor(dir: string, lowers: readonly string[]) {
    this.#dir = dir;
    this.root = join(dir, 'merged');
    this.upper = join(dir, 'upper');
    this.#lowers = [...lowers].reverse();
  }

  /** What the lowers show at `rel`, looked up as overlay does: top first, stopping at a whiteout. */
  async #before(rel: string): Promise<Before | undefined> {
    const parts = rel.split('/');
    for (const lower of this.#lowers) {
      let at = lower;
      for (const [i, part] of parts.entries()) {
        at = join(at, part);
        const st = await lstatOrUndefined(at, { notDirIsMissing: true });
        if (st === undefined) break; // not in this lower: look further down
        if (isOverlayWhiteout(st)) return undefined;
        if (i === parts.length - 1) {
          return { directory: st.isDirectory(), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
        }
        // A non-directory parent in a higher lower hides everything below it.
        if (!st.isDirectory()) return undefined;
      }
    }
    return undefined;
  }

  async #changes(options: CommitOptions): Promise<Change[]> {
    if (this.#released) {
      throw new GantryError('SNAPSHOT_RELEASED', 'the snapshot was already released', {
        phase: 'build',
        suggestion: 'commit a snapshot before releasing it',
      });
    }
    const xattrs = await readXattrTree(this.upper, UPPER_XATTR_PATTERN, options);
    const raw: Change[] = [];
    const visit = async (dir: string, rel: string): Promise<void> => {
      throwIfAborted(options.signal);
      for (const name of await readdir(dir)) {
        const abs = join(dir, name);
        const r = rel === '' ? name : `${rel}/${name}`;
        const stat = await lstat(abs);
        const attrs = xattrs.get(abs);
        if (isOverlayWhiteout(stat) || (stat.isFile() && attrs?.['trusted.overlay.whiteout'])) {
          raw.push({ kind: 'delete', rel: r });
          continue;
        }
        const opaque = stat.isDirectory() && attrs?.['trusted.overlay.opaque']?.toString() === 'y';
        const kept = attrs?.['security.capability'];
        // A placeholder copied up (a step changed its owner or mode) is still the device.
        const device = stat.isFile() ? deviceMarkOf(attrs) : undefined;
        raw.push({
          kind: 'add',
          rel: r,
          abs,
          stat,
          opaque,
          ...(kept ? { xattrs: { 'security.capability': kept } } : {}),
          ...(device ? { device } : {}),
        });
        if (stat.isDirectory()) await visit(abs, r);
      }
    };
    await visit(this.upper, '');
    return settleChanges(raw, {
      root: this.upper,
      ignore: options.ignore,
      signal: options.signal,
      before: (rel) => this.#before(rel),
    });
  }

  async *commit(options: CommitOptions = {}): AsyncIterable<TarInput> {
    yield* await layerEntries(await this.#changes(options), options.sourceDateEpoch);
  }

  async isEmpty(options: CommitOptions = {}): Promise<boolean> {
    return (await this.#changes(options)).length === 0;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await unmount(this.root);
    await rm(this.#dir, { recursive: true, force: true });
  }
}

const availability = new Map<string, Promise<boolean>>();

/**
 * True when an overlay can be mounted with an upper directory under `dir` (default: the OS temp
 * dir) and its opaque markers can be read (src/layer/xattr.ts: attr, else GNU tar). Tries a real mount once per
 * directory and process; never throws.
 */
export function overlayAvailable(options: SnapshotterOptions = {}): Promise<boolean> {
  const dir = resolve(options.dir ?? tmpdir());
  let p = availability.get(dir);
  if (!p) {
    p = probe(dir);
    availability.set(dir, p);
  }
  return p;
}

async function probe(dir: string): Promise<boolean> {
  let snap: Snapshot | undefined;
  let lower: string | undefined;
  try {
    if ((await xattrAccess()).method === 'none') return false;
    await mkdirp(dir);
    lower = await mkdtemp(join(dir, `overlay-probe-${ownerTag()}-`));
    await writeFile(join(lower, 'probe'), 'lower');
    snap = await new OverlaySnapshotter({ dir }).prepare([lower]);
    // A write copies the file up: the upper directory works, not just the mount.
    await writeFile(join(snap.root, 'probe'), 'upper');
    return (await lstat(join(snap.upper, 'probe'))).isFile();
  } catch {
    return false;
  } finally {
    await snap?.release().catch(() => {});
    if (lower) await rm(lower, { recursive: true, force: true });
  }
}
