/**
 * Path resolution confined to a root directory, as BuildKit resolves COPY sources in the build
 * context (containerd's fs.RootPath): symlinks are followed as if the root were '/', so an
 * absolute target or a `..` chain lands inside the root and never reads outside it.
 */
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError } from '../../errors.js';

const MAX_LINKS = 255;

export interface RootedPath {
  /** The resolved path relative to the root ('/'-separated, '' for the root itself). */
  readonly path: string;
  /** Root-relative paths of the symlinks followed on the way, in order. */
  readonly links: readonly string[];
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Resolves `rel` under `root`. Intermediate symlinks are always followed; the last component
 * only when `followLast`. A missing component ends the walk: the rest is joined lexically (still
 * clamped at the root) and the caller's lstat reports it missing.
 */
export async function resolveInRoot(root: string, rel: string, followLast: boolean): Promise<RootedPath> {
  let resolved: string[] = [];
  let pending = components(rel);
  const links: string[] = [];
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, name];
    if (pending.length === 0 && !followLast) {
      resolved = candidate;
      break;
    }
    let isLink = false;
    try {
      isLink = (await lstat(join(root, ...candidate))).isSymbolicLink();
    } catch (err) {
      if (!isMissing(err)) throw err;
      resolved = candidate;
      for (const rest of pending) {
        if (rest === '..') resolved.pop();
        else resolved.push(rest);
      }
      break;
    }
    if (!isLink) {
      resolved = candidate;
      continue;
    }
    links.push(candidate.join('/'));
    if (links.length > MAX_LINKS) {
      throw new GantryError('SYMLINK_LOOP', `too many levels of symbolic links resolving ${JSON.stringify(rel)}`, {
        phase: 'build',
        suggestion: 'break the symlink cycle in the build context',
      });
    }
    const target = await readlink(join(root, ...candidate));
    if (target.startsWith('/')) resolved = [];
    pending = [...components(target), ...pending];
  }
  return { path: resolved.join('/'), links };
}
