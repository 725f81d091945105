/**
 * Turns a CopyPlan into layer entries: one walk over every source at once, in byte order of the
 * path in the image (as src/layer's walker orders a tree), where a later source wins a path two
 * sources write, directories from several sources merge, and the directories COPY creates for
 * the destination come first. Owners become root, the sources' own (COPY --from) or `--chown`;
 * modes are kept or set by `--chmod`, mtimes are normalized. A directory that already exists in
 * the stage keeps its owner and mode: only what the copy creates and the files it copies take
 * the copy's owner (BuildKit's rule; an application user must not come to own /etc). File bodies
 * open lazily, one at a time.
 */
import type { Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import type { TarEntry, TarEntryType, TarInput } from '../../layer/tar/types.js';
import { deviceNumbers, entryTypeOf, fileOpener, sourceDateEpoch } from '../../layer/walk.js';
import { readXattrPaths, readXattrTree, type XattrMap } from '../../layer/xattr.js';
import { ByteKeyHeap } from '../../util/heap.js';
import { DEVICE_MARK_PATTERN, deviceMarkOf } from '../snapshot/changes.js';
import { type ChmodFunction, parseChmod } from './chmod.js';
import type { CopyPlan } from './sources.js';
import {
  holdsVisible,
  joinRel,
  type Listing,
  listDir,
  type SourceFilter,
  unreadable,
  visibility,
} from './visibility.js';

/** Metadata of a directory that already exists in the stage (its mtime: the copy's, unless given). */
export interface ExistingDirectory {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtime?: number;
}

export interface CopyEntriesOptions extends IoOptions {
  /** `--chown`, already resolved to numbers; default 0:0 (or the sources' owners with `keepOwners`). */
  readonly chown?: { readonly uid: number; readonly gid: number };
  /**
   * Without `chown`, copied entries keep the owners they have on disk (COPY --from: a stage's or
   * an image's files keep theirs, whatever USER is); directories the copy creates stay 0:0.
   */
  readonly keepOwners?: boolean;
  /** `--chmod`: octal as a number, or the flag's text (octal or symbolic). */
  readonly chmod?: number | string;
  /** Seconds since the epoch for every entry; default SOURCE_DATE_EPOCH, else 0. */
  readonly mtime?: number;
  /** Keep the sources' mtimes instead (directories COPY creates still get `mtime`). */
  readonly keepMtimes?: boolean;
  /**
   * Metadata of a directory the stage already has at an image path ('/usr/local'), for the
   * directories the copy passes through; those not known are created 0755 with the copy's owner.
   */
  readonly existing?: (imagePath: string) => ExistingDirectory | undefined;
  /**
   * The sources are a stage's or an image's root (COPY --from): an empty regular file with the
   * device placeholder mark (see snapshot/changes.ts) is the device it stands for, and is written
   * as that device, as BuildKit copies a device node from a stage.
   */
  readonly devicePlaceholders?: boolean;
}

/**
 * The owner of a file of a stage as the image sees it. Without root, extraction cannot chown, so
 * what belongs to the invoking user was root's (the user namespace's mapping); as root, the
 * owner on disk is the image's.
 */
export function imageOwner(stat: { readonly uid: number; readonly gid: number }): { uid: number; gid: number } {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  if (uid === 0) return { uid: stat.uid, gid: stat.gid };
  return { uid: stat.uid === uid ? 0 : stat.uid, gid: stat.gid === gid ? 0 : stat.gid };
}

/** One entry of the walk with where its content comes from; the checksum reads the same walk. */
export interface PlannedEntry {
  readonly entry: TarEntry;
  /** Absolute path of a file's content on disk. */
  readonly abs?: string;
  readonly stat?: Stats;
}

interface Expansion extends Listing {
  readonly order: number;
  readonly filter: SourceFilter;
}

interface Node {
  readonly key: Buffer;
  readonly path: string;
  /** Index of the plan entry it comes from; -1 for directories the copy creates. */
  readonly order: number;
  readonly stat?: Stats;
  readonly abs?: string;
  /** Directories whose children go below this node. */
  readonly expand: readonly Expansion[];
  /** Hidden itself but walked for re-included paths: emitted only if one is there. */
  readonly conditional: boolean;
}

function tarPath(imagePath: string): string {
  return posix.normalize(imagePath).replace(/^\/+/, '').replace(/\/+$/, '');
}

function conflict(path: string): GantryError {
  return new GantryError('COPY_CONFLICT', `COPY writes both a directory and a non-directory at /${path}`, {
    phase: 'build',
    suggestion: 'copy the conflicting sources to different destinations',
  });
}

async function statOf(abs: string, contextPath: string): Promise<Stats> {
  try {
    return await lstat(abs);
  } catch (err) {
    throw unreadable(contextPath, err);
  }
}

/**
 * The walk behind copyEntries and checksumSources: every entry the copy writes, in byte order of
 * its path, with owners and modes applied.
 */
export async function* planEntries(plan: CopyPlan, options: CopyEntriesOptions = {}): AsyncGenerator<PlannedEntry> {
  const { signal } = options;
  throwIfAborted(signal);
  const owner = { uid: options.chown?.uid ?? 0, gid: options.chown?.gid ?? 0 };
  const ownerOf = (stat: Stats): { uid: number; gid: number } =>
    options.chown === undefined && options.keepOwners ? imageOwner(stat) : owner;
  const chmod: ChmodFunction | undefined = options.chmod === undefined ? undefined : parseChmod(options.chmod);
  const mtime = options.mtime ?? sourceDateEpoch() ?? 0;
  const frontier = new ByteKeyHeap<Node>();
  const node = (path: string, order: number, rest: Partial<Node> = {}): Node => ({
    key: Buffer.from(path, 'utf8'),
    path,
    order,
    expand: [],
    conditional: false,
    ...rest,
  });

  const created = new Set<string>();
  const createParents = (path: string): void => {
    const parts = path === '' ? [] : path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (created.has(p)) continue;
      created.add(p);
      frontier.push(node(p, -1));
    }
  };

  for (const [order, e] of plan.entries.entries()) {
    const path = tarPath(e.target);
    createParents(path);
    const listing: Expansion = {
      abs: e.source,
      contextPath: e.sourcePath,
      excludePath: e.excludePath,
      order,
      filter: e.filter ?? plan.filter,
    };
    switch (e.kind) {
      case 'contents':
        frontier.push(node(path, -1, { expand: [listing] }));
        break;
      case 'tree':
        frontier.push(
          node(path, order, { stat: await statOf(e.source, e.sourcePath), abs: e.source, expand: [listing] }),
        );
        break;
      case 'parent':
      case 'item':
        frontier.push(node(path, order, { stat: await statOf(e.source, e.sourcePath), abs: e.source }));
        break;
    }
  }

  const expandInto = async (listing: Expansion, parentPath: string): Promise<void> => {
    for (const dirent of await listDir(listing)) {
      throwIfAborted(signal);
      const child: Expansion = {
        abs: join(listing.abs, dirent.name),
        contextPath: joinRel(listing.contextPath, dirent.name),
        excludePath: joinRel(listing.excludePath, dirent.name),
        order: listing.order,
        filter: listing.filter,
      };
      const v = visibility(listing.filter, child.contextPath, child.excludePath, dirent.isDirectory());
      if (v === 'hidden') continue;
      const stat = await statOf(child.abs, child.contextPath);
      if (entryTypeOf(stat) === undefined) continue; // sockets cannot be archived
      const isDir = stat.isDirectory();
      frontier.push(
        node(joinRel(parentPath, dirent.name), listing.order, {
          stat,
          abs: child.abs,
          expand: isDir ? [child] : [],
          conditional: v === 'walk',
        }),
      );
    }
  };

  const marks = options.devicePlaceholders ? await placeholderMarks(plan, options) : undefined;
  const firstPath = new Map<string, string>();
  for (let top = frontier.pop(); top; top = frontier.pop()) {
    throwIfAborted(signal);
    const group: Node[] = [top];
    while (frontier.peek()?.path === top.path) group.push(frontier.pop() as Node);
    const real = group.filter((n) => n.order >= 0);
    const dirs = real.filter((n) => n.stat?.isDirectory());
    const isDir = dirs.length === real.length;
    if (!isDir && (dirs.length > 0 || real.length < group.length)) throw conflict(top.path);
    const winner = real.reduce<Node | undefined>(
      (best, n) => (best === undefined || n.order > best.order ? n : best),
      undefined,
    );

    if (isDir) {
      const expansions = group.flatMap((n) => n.expand);
      if (group.every((n) => n.conditional)) {
        let any = false;
        for (const x of expansions) if (!any && (await holdsVisible(x.filter, x))) any = true;
        if (!any) continue;
      }
      if (top.path !== '') {
        let entry: TarEntry;
        if (winner?.stat !== undefined) {
          const mode = winner.stat.mode & 0o7777;
          entry = {
            path: top.path,
            type: 'directory',
            mode: chmod ? chmod(mode, true) : mode,
            ...ownerOf(winner.stat),
            mtime: options.keepMtimes ? Math.floor(winner.stat.mtimeMs / 1000) : mtime,
            size: 0,
          };
        } else {
          const existing = options.existing?.(`/${top.path}`);
          entry = {
            path: top.path,
            type: 'directory',
            mode: existing?.mode ?? 0o755,
            uid: existing?.uid ?? owner.uid,
            gid: existing?.gid ?? owner.gid,
            mtime: existing?.mtime ?? mtime,
            size: 0,
          };
        }
        yield { entry };
      }
      for (const x of expansions) await expandInto(x, top.path);
      continue;
    }

    const n = winner as Node;
    const stat = n.stat as Stats;
    const type = entryTypeOf(stat) as TarEntryType;
    const base: TarEntry = {
      path: n.path,
      type,
      mode: type === 'symlink' ? 0o777 : chmod ? chmod(stat.mode & 0o7777, false) : stat.mode & 0o7777,
      ...ownerOf(stat),
      mtime: options.keepMtimes ? Math.floor(stat.mtimeMs / 1000) : mtime,
      size: 0,
    };
    const device = type === 'file' && stat.size === 0 ? deviceMarkOf(marks?.get(n.abs as string)) : undefined;
    if (device) {
      yield { entry: { ...base, type: device.type, devmajor: device.major, devminor: device.minor } };
      continue;
    }
    if (type === 'file' && stat.nlink > 1) {
      const id = `${stat.dev}:${stat.ino}`;
      const first = firstPath.get(id);
      if (first !== undefined) {
        yield { entry: { ...base, type: 'hardlink', linkname: first } };
        continue;
      }
      firstPath.set(id, n.path);
    }
    switch (type) {
      case 'file':
        yield { entry: { ...base, size: stat.size }, abs: n.abs as string, stat };
        break;
      case 'symlink':
        yield { entry: { ...base, linkname: await readlink(n.abs as string) } };
        break;
      case 'char':
      case 'block':
        yield { entry: { ...base, ...deviceNumbers(stat.rdev) } };
        break;
      default:
        yield { entry: base };
    }
  }
}

/** The device placeholder marks under the plan's sources, by absolute path (one read per source). */
async function placeholderMarks(plan: CopyPlan, options: IoOptions): Promise<XattrMap> {
  const marks: XattrMap = new Map();
  const files: string[] = [];
  for (const e of plan.entries) {
    if (e.kind === 'contents' || e.kind === 'tree') {
      for (const [path, attrs] of await readXattrTree(e.source, DEVICE_MARK_PATTERN, options)) marks.set(path, attrs);
    } else files.push(e.source);
  }
  for (const [path, attrs] of await readXattrPaths(files, DEVICE_MARK_PATTERN, options)) marks.set(path, attrs);
  return marks;
}

/**
 * The layer entries of a COPY: sorted by path, the destination's missing parents created (0755,
 * owned by the copy's owner as BuildKit creates them) and existing ones as they are (`existing`),
 * owners root:root, the sources' (`keepOwners`) or `chown`, source modes kept unless `chmod`,
 * mtimes `mtime`. Feed them to src/layer's writeLayer.
 */
export async function* copyEntries(plan: CopyPlan, options: CopyEntriesOptions = {}): AsyncGenerator<TarInput> {
  for await (const planned of planEntries(plan, options)) {
    yield planned.abs === undefined
      ? { entry: planned.entry }
      : { entry: planned.entry, body: fileOpener(planned.abs, planned.entry.size) };
  }
}
