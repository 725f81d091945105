/**
 * Which files of a project go into its application layer: everything but what must never be
 * packed (VCS directories, virtual environments, caches, `.env` files, build outputs), what the
 * project's `.dockerignore` and `.gantryignore` leave out (in that order, so `.gantryignore` can
 * re-include with `!`), and the configuration's `exclude` patterns.
 */
import { existsSync, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMatcher, type IgnoreMatcher, parseIgnoreFile } from '../../engine/context/index.js';
import type { IoOptions } from '../../errors.js';
import { walkDirectory } from '../../layer/walk.js';

/** Never packed, whatever the ignore files say. */
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

export interface ProjectFiles {
  /** For walkDirectory: false leaves a path (and a directory's subtree) out. */
  readonly filter: FileFilter;
  /** The ignore files that were read, context-relative. */
  readonly ignoreFiles: readonly string[];
}

async function ignoreLines(path: string, options: IoOptions): Promise<string[] | undefined> {
  const body = await readFile(path, { encoding: 'utf8', ...(options.signal ? { signal: options.signal } : {}) }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    },
  );
  return body === undefined ? undefined : parseIgnoreFile(body);
}

/**
 * The app-layer filter for `context`. `neverPacked` adds kind-specific paths (node_modules for
 * Node.js); `packed` takes entries out of NEVER_PACKED (Node.js ships a committed `dist` when no
 * build step makes it); `exclude` adds the configuration's patterns.
 */
export async function projectFiles(
  context: string,
  options: IoOptions & {
    readonly neverPacked?: readonly string[];
    readonly packed?: readonly string[];
    readonly exclude?: readonly string[];
  } = {},
): Promise<ProjectFiles> {
  const patterns: string[] = [];
  const ignoreFiles: string[] = [];
  for (const name of ['.dockerignore', '.gantryignore']) {
    const lines = await ignoreLines(join(context, name), options);
    if (lines === undefined) continue;
    ignoreFiles.push(name);
    patterns.push(...lines);
  }
  patterns.push(...(options.exclude ?? []));
  const user: IgnoreMatcher = createMatcher(patterns, ignoreFiles.length > 0 ? { file: ignoreFiles.join(', ') } : {});
  const packed = new Set(options.packed ?? []);
  const never = createMatcher([...NEVER_PACKED.filter((p) => !packed.has(p)), ...(options.neverPacked ?? [])]);
  const filter: FileFilter = (rel, st) => {
    if (never.matches(rel)) return false;
    // A virtual environment under any name.
    if (st.isDirectory() && existsSync(join(context, rel, 'pyvenv.cfg'))) return false;
    if (!user.matches(rel)) return true;
    return st.isDirectory() && user.mayMatchBelow(rel);
  };
  return { filter, ignoreFiles };
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
