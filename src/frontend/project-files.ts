/**
 * The files of a project directory after its ignore rules: the one answer every front end that
 * packs a directory without a Dockerfile shares (the directory build today, the Python and Node
 * front ends next). Rules, in order, later lines winning as in one .dockerignore:
 * `.dockerignore`, then `.gantryignore`, then the caller's `exclude` patterns (dockerignore
 * syntax, `!` re-includes). The ignore files themselves are never packed, and neither is a
 * `.git` at any depth unless `includeVcs` is set (no pattern re-includes it: VCS data is never
 * meant for an image, and buildx leaves it out of Git contexts too).
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createMatcher, type IgnoreMatcher, parseIgnoreFile } from '../engine/context/index.js';
import { GantryError, type IoOptions, throwIfAborted } from '../errors.js';

/** The ignore files a project directory may have, read in this order. */
export const IGNORE_FILES: readonly string[] = ['.dockerignore', '.gantryignore'];

/** Version-control directories left out unless asked for. */
export const VCS_DIRS: readonly string[] = ['.git'];

export interface ProjectFilesOptions extends IoOptions {
  /** Extra patterns after the ignore files (`--exclude`), dockerignore syntax. */
  readonly exclude?: readonly string[];
  /** Keep `.git` directories (`--include-vcs`). */
  readonly includeVcs?: boolean;
}

export interface ProjectFiles {
  /** The directory, absolute. */
  readonly root: string;
  /** Every entry kept (files, directories, symlinks...), '/'-separated and relative to root, sorted. */
  readonly paths: readonly string[];
  /** The ignore files that were read (absolute paths), for messages and `--progress`. */
  readonly ignoreFiles: readonly string[];
  /** The patterns in effect, in order (ignore files, then `exclude`). */
  readonly patterns: readonly string[];
  /** True for exactly the entries in `paths`: a filter for walkDirectory. */
  readonly includes: (relPath: string) => boolean;
}

async function readIgnore(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new GantryError('IGNORE_FILE_UNREADABLE', `cannot read ${path}: ${(err as Error).message}`, {
      phase: 'build',
      suggestion: 'make the ignore file readable or remove it',
      cause: err,
    });
  }
}

/**
 * Lists the entries of `dir` a directory build packs. A directory excluded by a pattern is
 * walked only when a later `!` pattern may re-include something below it, and is kept only
 * when something below it is (as Docker sends only the parents of re-included files).
 */
export async function projectFiles(dir: string, options: ProjectFilesOptions = {}): Promise<ProjectFiles> {
  throwIfAborted(options.signal);
  const root = resolve(dir);
  const patterns: string[] = [];
  const ignoreFiles: string[] = [];
  for (const name of IGNORE_FILES) {
    const file = join(root, name);
    const text = await readIgnore(file);
    if (text === undefined) continue;
    ignoreFiles.push(file);
    patterns.push(...parseIgnoreFile(text));
  }
  const excludes = parseIgnoreFile((options.exclude ?? []).join('\n'));
  // Check the --exclude values on their own, so an error names the flag, not an ignore file.
  createMatcher(excludes, { file: '--exclude' });
  patterns.push(...excludes);
  const matcher: IgnoreMatcher = createMatcher(patterns, { file: ignoreFiles.join(', ') || '--exclude' });

  const kept: string[] = [];
  const visit = async (abs: string, relDir: string): Promise<boolean> => {
    let any = false;
    const names = (await readdir(abs)).sort();
    for (const name of names) {
      throwIfAborted(options.signal);
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      if (relDir === '' && IGNORE_FILES.includes(name)) continue;
      if (!options.includeVcs && VCS_DIRS.includes(name)) continue;
      const st = await lstat(join(abs, name));
      const excluded = matcher.matches(rel, st.isDirectory());
      if (st.isDirectory()) {
        if (!excluded) {
          kept.push(rel);
          await visit(join(abs, name), rel);
          any = true;
        } else if (matcher.mayMatchBelow(rel)) {
          const at = kept.length;
          if (await visit(join(abs, name), rel)) {
            kept.splice(at, 0, rel);
            any = true;
          }
        }
      } else if (!excluded) {
        kept.push(rel);
        any = true;
      }
    }
    return any;
  };
  await visit(root, '');
  const set = new Set(kept);
  return {
    root,
    paths: kept.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    ignoreFiles,
    patterns: matcher.patterns,
    includes: (rel) => set.has(rel),
  };
}
