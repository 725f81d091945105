/**
 * The one chroot-style path resolver: a path inside a root directory, resolved the way the kernel
 * would resolve it after chroot(root), with the semantics of containerd's fs.RootPath. Symlinks
 * are followed; an absolute target restarts at the root and `..` stops at the root, so nothing
 * ever resolves outside it. COPY (sources in the context, destinations in a stage), RUN bind
 * mounts, WORKDIR, the executor's host-side setup and layer extraction all resolve through here,
 * with one symlink limit and one error code.
 *
 * A component that does not exist is kept as written and the walk goes on lexically (a `..`
 * after it removes it again), so the caller can create what is missing or report it missing.
 */
import type { Stats } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError, type Phase } from '../errors.js';

/** containerd's fs.RootPath limit: more symlinks than this on one path is a loop. */
export const MAX_SYMLINKS = 255;

export interface RootPathOptions {
  /** Follow a symlink in the final component (default true); false resolves only its parents. */
  readonly followLast?: boolean;
  /** The phase a symlink loop is reported in (default 'build'). */
  readonly phase?: Phase;
  /**
   * Root-relative paths the caller knows are real directories (not symlinks), so they are not
   * looked up again; extraction keeps this cache across the entries of a layer.
   */
  readonly knownDirs?: ReadonlySet<string>;
}

export interface RootedPath {
  /** The resolved path relative to the root: '/'-separated, no `.` or `..`, '' for the root. */
  readonly path: string;
  /** Root-relative paths of the symlinks followed on the way, in order. */
  readonly links: readonly string[];
}

/** A path that names more symlinks than MAX_SYMLINKS (a loop, in practice). */
export class SymlinkLoopError extends GantryError {
  readonly path: string;
  constructor(path: string, phase: Phase) {
    super('SYMLINK_LOOP', `too many levels of symbolic links resolving ${JSON.stringify(path)}`, {
      phase,
      suggestion: 'break the symlink cycle (a link that points back at itself or its parent)',
    });
    this.name = 'SymlinkLoopError';
    this.path = path;
  }
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

async function lstatMissing(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Below a missing component or a file: nothing there, and certainly no symlink to follow.
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Resolves `path` (absolute or relative: both mean from the root) inside `root`. */
export async function rootPath(root: string, path: string, options: RootPathOptions = {}): Promise<RootedPath> {
  const followLast = options.followLast ?? true;
  const resolved: string[] = [];
  const links: string[] = [];
  let pending = components(path);
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === '..') {
      resolved.pop(); // at the root, `..` is the root
      continue;
    }
    resolved.push(name);
    if (pending.length === 0 && !followLast) break;
    const rel = resolved.join('/');
    if (options.knownDirs?.has(rel)) continue;
    const st = await lstatMissing(join(root, rel));
    if (!st?.isSymbolicLink()) continue;
    links.push(rel);
    if (links.length > MAX_SYMLINKS) throw new SymlinkLoopError(path, options.phase ?? 'build');
    const target = await readlink(join(root, rel));
    resolved.pop();
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...components(target), ...pending];
  }
  return { path: resolved.join('/'), links };
}

/**
 * The canonical absolute in-root path (`/a/b`, `/` for the root) that `path` names: what the
 * executor binds onto, and what a step running in the root would open.
 */
export async function resolveInRoot(root: string, path: string, options: RootPathOptions = {}): Promise<string> {
  return `/${(await rootPath(root, path, options)).path}`;
}

/** The host path of an in-root path returned by resolveInRoot or rootPath. */
export function hostPath(root: string, inRoot: string): string {
  return join(root, inRoot);
}
