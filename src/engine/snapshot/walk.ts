/**
 * The walk-and-compare snapshotter, for where overlayfs cannot be mounted (an unprivileged
 * container, a filesystem overlay cannot use as upper). prepare merges the lowers into a real
 * directory and records what every path was; commit walks the directory again and emits what
 * differs. A path changed when its type, inode, mtime, size, mode, owner or link target moved;
 * when only its ctime moved (something touched the inode and put the mtime back), the content is
 * compared with the lower file it was copied from. A directory whose inode (or birth time) changed, or that
 * replaced a non-directory, was removed and made again: it becomes opaque, as overlay makes it.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import type { TarInput } from '../../layer/tar/types.js';
import { ownerTag } from '../../store/cleanup.js';
import { mkdirp } from '../../util/fs.js';
import { type Change, DEVICE_MARK, deviceMarkOf, layerEntries, settleChanges } from './changes.js';
import { mergeLowers } from './merge.js';
import { readXattrPaths } from './tools.js';
import type { CommitOptions, Snapshot, Snapshotter, SnapshotterOptions } from './types.js';

interface Recorded {
  readonly ino: number;
  /** Inode numbers are reused at once (rmdir + mkdir often gets the same one); birth times are not. */
  readonly birthtimeMs: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly size: number;
  /** Type and permission bits. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** The lower file a regular file was copied from, for content comparison. */
  readonly source?: string;
}

const S_IFMT = constants.S_IFMT;
/** What layers carry (LAYER_XATTR_PATTERN) and the marks of device placeholders. */
const WALK_XATTR_PATTERN = `^(security\\.capability|${DEVICE_MARK.replaceAll('.', '\\.')})$`;
const CHUNK = 64 * 1024;

function parentOf(rel: string): string {
  const at = rel.lastIndexOf('/');
  return at < 0 ? '' : rel.slice(0, at);
}

/** Byte-for-byte equality of two files, read a chunk at a time. */
async function sameContent(a: string, b: string, signal: AbortSignal | undefined): Promise<boolean> {
  const fa = await open(a, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const fb = await open(b, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const ba = Buffer.alloc(CHUNK);
      const bb = Buffer.alloc(CHUNK);
      for (;;) {
        throwIfAborted(signal);
        const [ra, rb] = await Promise.all([fa.read(ba, 0, CHUNK), fb.read(bb, 0, CHUNK)]);
        if (ra.bytesRead !== rb.bytesRead) return false;
        if (ra.bytesRead === 0) return true;
        if (!ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead))) return false;
      }
    } finally {
      await fb.close();
    }
  } finally {
    await fa.close();
  }
}

function sameXattrs(a: Record<string, Buffer> | undefined, b: Record<string, Buffer> | undefined): boolean {
  const names = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  for (const n of names) {
    const x = a?.[n];
    const y = b?.[n];
    if (!x || !y || !x.equals(y)) return false;
  }
  return true;
}

export class WalkSnapshotter implements Snapshotter {
  readonly kind = 'walk' as const;
  readonly #dir: string;

  constructor(options: SnapshotterOptions = {}) {
    this.#dir = resolve(options.dir ?? tmpdir());
  }

  async prepare(lowers: readonly string[], options: IoOptions = {}): Promise<Snapshot> {
    throwIfAborted(options.signal);
    await mkdirp(this.#dir);
    // mkdtemp makes it 0700: the step root (image files with their setuid bits) is private.
    const dir = await mkdtemp(join(this.#dir, `walk-${ownerTag()}-`));
    try {
      const root = join(dir, 'rootfs');
      const { sources } = await mergeLowers(
        lowers.map((l) => resolve(l)),
        root,
        options,
      );
      const index = new Map<string, Recorded>();
      const rootStat = await lstat(root);
      const visit = async (abs: string, rel: string): Promise<void> => {
        throwIfAborted(options.signal);
        for (const name of await readdir(abs)) {
          const childAbs = join(abs, name);
          const childRel = rel === '' ? name : `${rel}/${name}`;
          const st = await lstat(childAbs);
          const source = st.isFile() ? sources.get(childRel) : undefined;
          index.set(childRel, {
            ino: st.ino,
            birthtimeMs: st.birthtimeMs,
            mtimeMs: st.mtimeMs,
            ctimeMs: st.ctimeMs,
            size: st.size,
            mode: st.mode,
            uid: st.uid,
            gid: st.gid,
            ...(source ? { source } : {}),
          });
          if (st.isDirectory()) await visit(childAbs, childRel);
        }
      };
      await visit(root, '');
      return new WalkSnapshot(dir, root, rootStat.dev, index);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }
}

class WalkSnapshot implements Snapshot {
  readonly root: string;
  readonly upper: string;
  readonly #dir: string;
  readonly #dev: number;
  readonly #index: ReadonlyMap<string, Recorded>;
  #released = false;

  constructor(dir: string, root: string, dev: number, index: ReadonlyMap<string, Recorded>) {
    this.#dir = dir;
    this.root = root;
    this.upper = root;
    this.#dev = dev;
    this.#index = index;
  }

  async #changed(old: Recorded, st: Stats, abs: string, signal: AbortSignal | undefined): Promise<boolean> {
    if (
      old.ino !== st.ino ||
      old.birthtimeMs !== st.birthtimeMs ||
      old.mtimeMs !== st.mtimeMs ||
      old.size !== st.size ||
      old.mode !== st.mode ||
      old.uid !== st.uid ||
      old.gid !== st.gid
    ) {
      return true;
    }
    if (old.ctimeMs === st.ctimeMs) return false;
    // Everything we look at is as it was, yet the inode was touched: only the content can tell.
    if (!st.isFile()) return false;
    if (old.source === undefined || !(await sameContent(abs, old.source, signal))) return true;
    // `setcap` moves only the ctime: the capability tells.
    const xattrs = await readXattrPaths([abs, old.source], WALK_XATTR_PATTERN, { signal });
    return !sameXattrs(xattrs.get(abs), xattrs.get(old.source));
  }

  async #changes(options: CommitOptions): Promise<Change[]> {
    if (this.#released) {
      throw new GantryError('SNAPSHOT_RELEASED', 'the snapshot was already released', {
        phase: 'build',
        suggestion: 'commit a snapshot before releasing it',
      });
    }
    const { signal } = options;
    const raw: Change[] = [];
    const seen = new Set<string>();
    /** Directories walked as the same directory they were: only under these can something be deleted. */
    const sameDirs = new Set<string>(['']);
    const visit = async (abs: string, rel: string, fresh: boolean): Promise<void> => {
      throwIfAborted(signal);
      for (const name of await readdir(abs)) {
        const childAbs = join(abs, name);
        const childRel = rel === '' ? name : `${rel}/${name}`;
        const st = await lstat(childAbs);
        seen.add(childRel);
        // Something mounted into the root (a leftover /proc) is not part of the snapshot.
        if (st.dev !== this.#dev) continue;
        const old = fresh ? undefined : this.#index.get(childRel);
        if (st.isDirectory()) {
          const replaced =
            old !== undefined &&
            ((old.mode & S_IFMT) !== (st.mode & S_IFMT) || old.ino !== st.ino || old.birthtimeMs !== st.birthtimeMs);
          const isNew = fresh || old === undefined || replaced;
          if (isNew || (await this.#changed(old, st, childAbs, signal))) {
            raw.push({ kind: 'add', rel: childRel, abs: childAbs, stat: st, opaque: replaced });
          }
          if (!isNew) sameDirs.add(childRel);
          await visit(childAbs, childRel, isNew);
          continue;
        }
        if (
          old === undefined ||
          (old.mode & S_IFMT) !== (st.mode & S_IFMT) ||
          (await this.#changed(old, st, childAbs, signal))
        ) {
          raw.push({ kind: 'add', rel: childRel, abs: childAbs, stat: st, opaque: false });
        }
      }
    };
    await visit(this.root, '', false);
    for (const rel of this.#index.keys()) {
      if (!seen.has(rel) && sameDirs.has(parentOf(rel))) raw.push({ kind: 'delete', rel });
    }
    const addPaths = raw.flatMap((c) => (c.kind === 'add' && !c.stat.isSymbolicLink() ? [c.abs] : []));
    const xattrs = await readXattrPaths(addPaths, WALK_XATTR_PATTERN, { signal });
    const withXattrs = raw.map((c): Change => {
      const attrs = c.kind === 'add' ? xattrs.get(c.abs) : undefined;
      if (!attrs || c.kind !== 'add') return c;
      const device = c.stat.isFile() ? deviceMarkOf(attrs) : undefined;
      return { ...c, xattrs: attrs, ...(device ? { device } : {}) };
    });
    return settleChanges(withXattrs, {
      root: this.root,
      ignore: options.ignore,
      signal,
      before: (rel) => {
        const old = this.#index.get(rel);
        return (
          old && {
            directory: (old.mode & S_IFMT) === constants.S_IFDIR,
            mode: old.mode & 0o7777,
            uid: old.uid,
            gid: old.gid,
          }
        );
      },
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
    await rm(this.#dir, { recursive: true, force: true });
  }
}
