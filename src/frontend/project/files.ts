/**
 * The files of a project directory that go into an image: the one answer every front end that
 * packs a directory without a Dockerfile shares (the directory build, the Python and Node front
 * ends). Rules, in order, later lines winning as in one .dockerignore: `.dockerignore`, then
 * `.gantryignore`, then the caller's `exclude` patterns (dockerignore syntax, `!` re-includes).
 * On top of them, what is never packed whatever they say depends on the kind of build:
 * - `project` (the Python and Node front ends, the default): VCS directories, virtual
 *   environments (also any directory holding a pyvenv.cfg), caches, `.env` files, build
 *   outputs, and the caller's `neverPacked` (node_modules for Node.js);
 * - `directory` (a plain directory build): the ignore files themselves, and `.git` at any depth
 *   unless `includeVcs` is set (no pattern re-includes it: VCS data is never meant for an image,
 *   and buildx leaves it out of Git contexts too).
 */
import { existsSync, lstatSync, type Stats } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createMatcher, type IgnoreMatcher, parseIgnoreFile } from '../../engine/context/index.js';
import { GantryError, type IoOptions, throwIfAborted } from '../../errors.js';
import { walkDirectory } from '../../layer/walk.js';

/** The ignore files a project directory may have, read in this order. */
export const IGNORE_FILES: readonly string[] = ['.dockerignore', '.gantryignore'];

/** Version-control directories a directory build leaves out unless asked for. */
export const VCS_DIRS: readonly string[] = ['.git'];

/** Never packed by a project front end, whatever the ignore files say. */
export const NEVER_PACKED: readonly string[] = [
  '.git',
  '.hg',
  '.svn',
  '**/__pycache__',
  '**/*.pyc',
  '.venv',
  'venv',
  '.env',
  '.env.*',
  '**/.env',
  'dist',
  '.tox',
  '.nox',
  '.mypy_cache',
  '.pytest_cache',
  '.ruff_cache',
  '.DS_Store',
];

export type FileFilter = (relPath: string, stat: Stats) => boolean;

export interface ProjectFilesOptions extends IoOptions {
  /** `project` (default) or `directory`: what is never packed (see the module comment). */
  readonly kind?: 'project' | 'directory';
  /** Extra patterns after the ignore files (`--exclude`, a configuration's `exclude`). */
  readonly exclude?: readonly string[];
  /** `project`: more paths never packed (node_modules for Node.js). */
  readonly neverPacked?: readonly string[];
  /** `project`: entries of NEVER_PACKED to pack after all (Node.js ships a committed `dist`). */
  readonly packed?: readonly string[];
  /** `directory`: keep `.git` directories (`--include-vcs`). */
  readonly includeVcs?: boolean;
}

export interface ProjectFiles {
  /** The directory, absolute. */
  readonly root: string;
  /** The ignore files that were read, relative to root (`.dockerignore`, `.gantryignore`). */
  readonly ignoreFiles: readonly string[];
  /** The patterns in effect, in order (ignore files, then `exclude`). */
  readonly patterns: readonly string[];
  /**
   * For walkDirectory: false leaves a path (and a directory's subtree) out. An excluded
   * directory below which a `!` pattern may re-include something is walked into.
   */
  readonly filter: FileFilter;
  /**
   * Every entry kept (files, directories, symlinks...), '/'-separated and relative to root,
   * sorted; an excluded directory is kept only when something below it is (as Docker sends
   * only the parents of re-included files).
   */
  list(): Promise<readonly string[]>;
}

async function readIgnore(path: string, options: IoOptions): Promise<string | undefined> {
  try {
    return await readFile(path, { encoding: 'utf8', ...(options.signal ? { signal: options.signal } : {}) });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if ((err as Error).name === 'AbortError') throw err;
    throw new GantryError('IGNORE_FILE_UNREADABLE', `cannot read ${path}: ${(err as Error).message}`, {
      phase: 'build',
      suggestion: 'make the ignore file readable or remove it',
      cause: err,
    });
  }
}

/** The files of `dir` a build packs, by its ignore files, `exclude` and the kind's fixed rules. */
export async function projectFiles(dir: string, options: ProjectFilesOptions = {}): Promise<ProjectFiles> {
  throwIfAborted(options.signal);
  const root = resolve(dir);
  const kind = options.kind ?? 'project';
  const patterns: string[] = [];
  const ignoreFiles: string[] = [];
  for (const name of IGNORE_FILES) {
    const text = await readIgnore(join(root, name), options);
    if (text === undefined) continue;
    ignoreFiles.push(name);
    patterns.push(...parseIgnoreFile(text));
  }
  const excludes = parseIgnoreFile((options.exclude ?? []).join('\n'));
  // Check the exclude patterns on their own, so an error names them, not an ignore file.
  createMatcher(excludes, { file: '--exclude' });
  patterns.push(...excludes);
  const user: IgnoreMatcher = createMatcher(patterns, {
    file: ignoreFiles.map((f) => join(root, f)).join(', ') || '--exclude',
  });
  const packed = new Set(options.packed ?? []);
  const never =
    kind === 'project'
      ? createMatcher([...NEVER_PACKED.filter((p) => !packed.has(p)), ...(options.neverPacked ?? [])])
      : undefined;
  /** Left out whatever the patterns say. */
  const fixed = (rel: string, st: Stats): boolean => {
    if (kind === 'directory') {
      const name = rel.slice(rel.lastIndexOf('/') + 1);
      return (!rel.includes('/') && IGNORE_FILES.includes(rel)) || (!options.includeVcs && VCS_DIRS.includes(name));
    }
    // A virtual environment under any name.
    return never?.matches(rel) === true || (st.isDirectory() && existsSync(join(root, rel, 'pyvenv.cfg')));
  };
  const filter: FileFilter = (rel, st) => {
    if (fixed(rel, st)) return false;
    if (!user.matches(rel, st.isDirectory())) return true;
    return st.isDirectory() && user.mayMatchBelow(rel);
  };
  const list = async (): Promise<readonly string[]> => {
    const kept: string[] = [];
    const visit = async (abs: string, relDir: string): Promise<boolean> => {
      let any = false;
      for (const name of (await readdir(abs)).sort()) {
        throwIfAborted(options.signal);
        const rel = relDir === '' ? name : `${relDir}/${name}`;
        // Synchronous, as in walkDirectory: a cached lstat costs less than its thread-pool round trip.
        const st = lstatSync(join(abs, name));
        if (!filter(rel, st)) continue;
        if (!st.isDirectory()) {
          kept.push(rel);
          any = true;
        } else if (!user.matches(rel, true)) {
          kept.push(rel);
          await visit(join(abs, name), rel);
          any = true;
        } else {
          // Excluded, but a `!` pattern may re-include something below: kept only if it does.
          const at = kept.length;
          if (await visit(join(abs, name), rel)) {
            kept.splice(at, 0, rel);
            any = true;
          }
        }
      }
      return any;
    };
    await visit(root, '');
    // UTF-8 byte order; each path encoded once, not twice per comparison.
    return kept
      .map((rel) => ({ rel, key: Buffer.from(rel) }))
      .sort((a, b) => Buffer.compare(a.key, b.key))
      .map((k) => k.rel);
  };
  return { root, ignoreFiles, patterns: user.patterns, filter, list };
}

/** Files (regular files and links) and bytes the filter lets through, for `--dry-run`. */
export async function countFiles(
  root: string,
  filter: FileFilter,
  options: IoOptions = {},
): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for await (const { entry } of walkDirectory(root, {
    filter,
    ...(options.signal ? { signal: options.signal } : {}),
  })) {
    if (entry.type === 'directory') continue;
    files++;
    bytes += entry.size;
  }
  return { files, bytes };
}
