/**
 * The part both snapshotters share once they know what changed: drop ephemeral paths, prune
 * directories that only changed because something under them came and went, add the parents of
 * every change, sort by path bytes, and turn the result into layer entries (whiteouts, opaque
 * markers, hardlinks by inode, mtimes clamped to SOURCE_DATE_EPOCH).
 *
 * Pruning is what makes a step that leaves the tree as it found it (a temp file created and
 * removed, a mount point for resolv.conf) give an empty diff and so no layer: a directory stays
 * in the diff only when it is new, replaced (opaque), changed owner or mode, or has a change
 * under it. An mtime that moved on its own is not a change worth a layer.
 */
import type { Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import type { TarEntry, TarInput } from '../../layer/tar/types.js';
import { fileOpener, sourceDateEpoch } from '../../layer/walk.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
/** The only extended attribute carried into layers, as Docker and containerd do. */
export const LAYER_XATTR_PATTERN = '^security\\.capability$';

/**
 * The attribute that marks a device placeholder: a char or block device from an image is never
 * made on the host (it would be usable by whoever reaches the store); the layer cache extracts it
 * as an empty regular file with this mark ('c 1 3'), and a commit writes it back as the device
 * entry. Only root may set `trusted.*`, so as root a step or a layer cannot forge one; without
 * root the `user.*` name is used, and a forged mark only makes a device entry in a layer.
 */
export const DEVICE_MARK = process.getuid?.() === 0 ? 'trusted.gantry.device' : 'user.gantry.device';
export const DEVICE_MARK_PATTERN = `^${DEVICE_MARK.replaceAll('.', '\\.')}$`;

export interface DeviceMark {
  readonly type: 'char' | 'block';
  readonly major: number;
  readonly minor: number;
}

export function encodeDeviceMark(mark: DeviceMark): string {
  return `${mark.type === 'char' ? 'c' : 'b'} ${mark.major} ${mark.minor}`;
}

/** The device a placeholder's attributes stand for, if they carry a well-formed mark. */
export function deviceMarkOf(attrs: Readonly<Record<string, Buffer>> | undefined): DeviceMark | undefined {
  const m = /^([cb]) ([0-9]{1,10}) ([0-9]{1,10})$/.exec(attrs?.[DEVICE_MARK]?.toString('latin1') ?? '');
  if (!m) return undefined;
  return { type: m[1] === 'c' ? 'char' : 'block', major: Number(m[2]), minor: Number(m[3]) };
}

/** Attributes without the device mark (it is bookkeeping, never layer content). */
function withoutMark(attrs: Readonly<Record<string, Buffer>> | undefined): Record<string, Buffer> | undefined {
  if (attrs === undefined) return undefined;
  const { [DEVICE_MARK]: _mark, ...rest } = attrs;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

export type Change =
  | {
      readonly kind: 'add';
      readonly rel: string;
      readonly abs: string;
      readonly stat: Stats;
      /** A directory that replaced whatever the lowers had at its path. */
      readonly opaque: boolean;
      readonly xattrs?: Readonly<Record<string, Buffer>>;
      /** A regular file that is a device placeholder: the layer gets the device entry. */
      readonly device?: DeviceMark;
    }
  | { readonly kind: 'delete'; readonly rel: string };

/** What the lowers held at a path, as far as pruning needs to know. */
export interface Before {
  readonly directory: boolean;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface SettleContext extends IoOptions {
  /** The tree the `add` changes live in; missing parents are read from here. */
  readonly root: string;
  readonly ignore?: readonly string[];
  before(rel: string): Promise<Before | undefined> | Before | undefined;
  readonly xattrs?: ReadonlyMap<string, Readonly<Record<string, Buffer>>>;
}

function parentOf(rel: string): string {
  const at = rel.lastIndexOf('/');
  return at < 0 ? '' : rel.slice(0, at);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

function normalizeIgnore(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const parts = p.split('/').filter((x) => x !== '' && x !== '.');
    if (parts.length > 0 && !parts.includes('..')) out.push(parts.join('/'));
  }
  return out;
}

function ignored(rel: string, ignore: readonly string[]): boolean {
  return ignore.some((p) => rel === p || rel.startsWith(`${p}/`));
}

function byPathBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Filters, prunes and completes a raw change list; the result is sorted by path bytes. */
export async function settleChanges(raw: readonly Change[], ctx: SettleContext): Promise<Change[]> {
  const ignore = normalizeIgnore(ctx.ignore ?? []);
  const changes = raw.filter((c) => !ignored(c.rel, ignore)).sort((a, b) => byPathBytes(a.rel, b.rel));

  // Children sort after their parents, so walking backwards settles every child first.
  const needed = new Set<string>();
  const kept: Change[] = [];
  for (let i = changes.length - 1; i >= 0; i--) {
    throwIfAborted(ctx.signal);
    const c = changes[i] as Change;
    if (c.kind === 'add' && c.stat.isDirectory() && !c.opaque && !needed.has(c.rel)) {
      const before = await ctx.before(c.rel);
      if (
        before?.directory &&
        before.mode === (c.stat.mode & 0o7777) &&
        before.uid === c.stat.uid &&
        before.gid === c.stat.gid
      ) {
        continue;
      }
    }
    kept.push(c);
    for (let p = parentOf(c.rel); p !== '' && !needed.has(p); p = parentOf(p)) needed.add(p);
  }

  const present = new Set(kept.map((c) => c.rel));
  for (const dir of needed) {
    if (present.has(dir)) continue;
    const abs = join(ctx.root, dir);
    const stat = await lstat(abs);
    if (!stat.isDirectory()) {
      throw new GantryError('SNAPSHOT_CHANGED_UNDERFOOT', `${dir} stopped being a directory while committing`, {
        phase: 'build',
        suggestion: 'make sure no process still writes into the step root when it is committed',
      });
    }
    kept.push({ kind: 'add', rel: dir, abs, stat, opaque: false, xattrs: ctx.xattrs?.get(abs) });
  }
  return kept.sort((a, b) => byPathBytes(a.rel, b.rel));
}

function deviceNumbers(rdev: number): { devmajor: number; devminor: number } {
  // Linux dev_t layout (glibc gnu_dev_major / gnu_dev_minor).
  const r = BigInt(rdev);
  const major = ((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn);
  const minor = (r & 0xffn) | ((r >> 12n) & ~0xffn);
  return { devmajor: Number(major), devminor: Number(minor) };
}

/** True for an overlay whiteout: a character device 0/0. */
export function isOverlayWhiteout(stat: Stats): boolean {
  return stat.isCharacterDevice() && stat.rdev === 0;
}

/**
 * Layer entries for settled changes, sorted by path bytes. The first path (in that order) of a
 * multiply linked inode carries the content; the others become hardlinks to it.
 */
export async function layerEntries(changes: readonly Change[], clamp = sourceDateEpoch()): Promise<TarInput[]> {
  const time = (stat: Stats): number => {
    const t = Math.floor(stat.mtimeMs / 1000);
    return clamp === undefined ? t : Math.min(t, clamp);
  };
  const dirTimes = new Map<string, number>();
  for (const c of changes) if (c.kind === 'add' && c.stat.isDirectory()) dirTimes.set(c.rel, time(c.stat));
  // A whiteout has no stat of its own in every snapshotter; it takes its directory's time.
  const markerTime = (dir: string): number => dirTimes.get(dir) ?? clamp ?? 0;

  const out: TarInput[] = [];
  for (const c of changes) {
    if (c.kind === 'delete') {
      const dir = parentOf(c.rel);
      const path = dir === '' ? `${WHITEOUT_PREFIX}${c.rel}` : `${dir}/${WHITEOUT_PREFIX}${baseOf(c.rel)}`;
      out.push({ entry: { path, type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: markerTime(dir), size: 0 } });
      continue;
    }
    const { stat } = c;
    const xattrs = withoutMark(c.xattrs);
    const base: TarEntry = {
      path: c.rel,
      type: 'file',
      mode: stat.mode & 0o7777,
      uid: stat.uid,
      gid: stat.gid,
      mtime: time(stat),
      size: 0,
      ...(xattrs ? { xattrs } : {}),
    };
    if (stat.isDirectory()) {
      out.push({ entry: { ...base, type: 'directory' } });
      if (c.opaque) {
        out.push({
          entry: {
            path: `${c.rel}/${OPAQUE_MARKER}`,
            type: 'file',
            mode: 0o600,
            uid: 0,
            gid: 0,
            mtime: time(stat),
            size: 0,
          },
        });
      }
    } else if (stat.isFile() && c.device) {
      const { type, major, minor } = c.device;
      out.push({ entry: { ...base, type, devmajor: major, devminor: minor } });
    } else if (stat.isFile()) {
      out.push({ entry: { ...base, size: stat.size }, body: fileOpener(c.abs, stat.size) });
    } else if (stat.isSymbolicLink()) {
      out.push({ entry: { ...base, type: 'symlink', linkname: await readlink(c.abs) } });
    } else if (stat.isCharacterDevice() || stat.isBlockDevice()) {
      out.push({ entry: { ...base, type: stat.isCharacterDevice() ? 'char' : 'block', ...deviceNumbers(stat.rdev) } });
    } else if (stat.isFIFO()) {
      out.push({ entry: { ...base, type: 'fifo' } });
    }
    // Sockets cannot be archived and are left out, as tar does.
  }
  out.sort((a, b) => byPathBytes(a.entry.path, b.entry.path));

  const firstPath = new Map<string, string>();
  const byPath = new Map(changes.map((c) => [c.rel, c]));
  return out.map((input) => {
    const c = byPath.get(input.entry.path);
    if (c?.kind !== 'add' || !c.stat.isFile() || c.stat.nlink < 2) return input;
    const id = `${c.stat.dev}:${c.stat.ino}`;
    const first = firstPath.get(id);
    if (first === undefined) {
      firstPath.set(id, c.rel);
      return input;
    }
    return { entry: { ...input.entry, type: 'hardlink', size: 0, linkname: first } };
  });
}
