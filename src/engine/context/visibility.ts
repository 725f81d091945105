/**
 * What of the context a COPY can see: a path hidden by `.dockerignore` or by `--exclude` is not
 * there, except that an excluded directory holding a re-included path (an exception pattern) is
 * still there, as the parent of that path. Docker sends the context this way; we decide it per
 * path as we walk.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError } from '../../errors.js';
import type { IgnoreMatcher } from './ignore.js';

export interface SourceFilter {
  /** `.dockerignore`, matched against context-relative paths. */
  readonly ignore: IgnoreMatcher | undefined;
  /** `--exclude`, matched against paths relative to the source being copied. */
  readonly exclude: IgnoreMatcher | undefined;
}

/** A directory whose children are being looked at, with the paths its children are matched by. */
export interface Listing {
  readonly abs: string;
  /** Context-relative path of the directory ('' for the root). */
  readonly contextPath: string;
  /** The path `--exclude` sees for the directory ('' for a copy's source root). */
  readonly excludePath: string;
}

/** 'walk': hidden itself, but a directory that may hold visible paths; it exists only if one does. */
export type Visibility = 'visible' | 'hidden' | 'walk';

export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

export function visibility(
  filter: SourceFilter,
  contextPath: string,
  excludePath: string | undefined,
  isDir: boolean,
): Visibility {
  const ignored = filter.ignore?.matches(contextPath) ?? false;
  const excluded = excludePath !== undefined && (filter.exclude?.matches(excludePath) ?? false);
  if (!ignored && !excluded) return 'visible';
  if (!isDir) return 'hidden';
  const maybeIgnored = !ignored || (filter.ignore?.mayMatchBelow(contextPath) ?? false);
  const maybeExcluded = !excluded || (filter.exclude?.mayMatchBelow(excludePath as string) ?? false);
  return maybeIgnored && maybeExcluded ? 'walk' : 'hidden';
}

export function unreadable(path: string, err: unknown): GantryError {
  return new GantryError(
    'COPY_SOURCE_UNREADABLE',
    `cannot read ${JSON.stringify(path === '' ? '.' : path)} in the build context: ${(err as Error).message}`,
    {
      phase: 'build',
      suggestion: 'make the file readable by the user running gantry, or exclude it in .dockerignore',
      cause: err,
    },
  );
}

export async function listDir(listing: Listing): Promise<Dirent[]> {
  try {
    return await readdir(listing.abs, { withFileTypes: true });
  } catch (err) {
    throw unreadable(listing.contextPath, err);
  }
}

/** Whether a hidden-but-walkable directory holds anything visible (so the directory itself exists). */
export async function holdsVisible(filter: SourceFilter, listing: Listing): Promise<boolean> {
  for (const dirent of await listDir(listing)) {
    const child: Listing = {
      abs: join(listing.abs, dirent.name),
      contextPath: joinRel(listing.contextPath, dirent.name),
      excludePath: joinRel(listing.excludePath, dirent.name),
    };
    const v = visibility(filter, child.contextPath, child.excludePath, dirent.isDirectory());
    if (v === 'visible') return true;
    if (v === 'walk' && (await holdsVisible(filter, child))) return true;
  }
  return false;
}
