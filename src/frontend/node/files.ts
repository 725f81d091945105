/**
 * Which of a Node.js project's files ship: the shared project rules (never .git, .env*, what
 * `.dockerignore` / `.gantryignore` and the configuration's `exclude` leave out), plus what a Node
 * project never ships (the host's node_modules, .npmrc credentials, tests), narrowed to the
 * `files` field of package.json when it has one (plus package.json, README, LICENSE, as
 * `npm pack` does). The build output travels in its own layer, so the app layer leaves it out;
 * a committed `dist` of a project without a build script ships like any other source.
 */
import type { Stats } from 'node:fs';
import { createMatcher } from '../../engine/context/index.js';
import type { IoOptions } from '../../errors.js';
import { type FileFilter, projectFiles } from '../project/files.js';

/** Never in a Node.js image, whatever the ignore files say: host installs and credentials. */
export const NODE_NEVER_PACKED: readonly string[] = [
  '**/node_modules',
  '.npmrc',
  '**/.npmrc',
  '.yarnrc',
  '.yarnrc.yml',
  '.yarn/cache',
  '.yarn/install-state.gz',
  '.pnpm-store',
  '**/.env',
  '**/.env.*',
  '.dockerignore',
  '.gantryignore',
];

/** Tests and their by-products: left out of the app layer (the build stage keeps them). */
export const NODE_TESTS: readonly string[] = [
  'test',
  'tests',
  '**/__tests__',
  '**/*.test.js',
  '**/*.test.mjs',
  '**/*.test.cjs',
  '**/*.test.ts',
  '**/*.spec.js',
  '**/*.spec.mjs',
  '**/*.spec.ts',
  'coverage',
  '.nyc_output',
];

/** Always shipped with a `files` list, as `npm pack` does. */
const ALWAYS = ['package.json', 'README*', 'LICENSE*', 'LICENCE*'];

export interface NodeFilesOptions extends IoOptions {
  /** package.json's `files`, if any (plus the configuration's `include`). */
  readonly files?: readonly string[];
  /** Directories that travel in another layer (the build output), root-relative. */
  readonly outputs?: readonly string[];
  /** The configuration's `exclude` patterns. */
  readonly exclude?: readonly string[];
  /** Keep tests (the build stage's copy of the sources). */
  readonly tests?: boolean;
}

/** The filter (walkDirectory's) for a Node.js package directory `root`. */
export async function nodeFiles(root: string, options: NodeFilesOptions = {}): Promise<FileFilter> {
  const shared = await projectFiles(root, {
    neverPacked: [...NODE_NEVER_PACKED, ...(options.tests ? [] : NODE_TESTS)],
    // A committed dist/ (a package without a build script) is the app; a build's output is left
    // out below through `outputs`, since it travels in its own layer.
    packed: ['dist'],
    ...(options.exclude ? { exclude: options.exclude } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const outputs = createMatcher((options.outputs ?? []).map((o) => o.replace(/^\.\//, '')));
  const files = options.files;
  const include =
    files === undefined ? undefined : createMatcher([...ALWAYS, ...files.map((f) => f.replace(/^\.?\//, ''))]);
  return (rel: string, st: Stats): boolean => {
    if (outputs.matches(rel) || !shared.filter(rel, st)) return false;
    if (include === undefined || include.matches(rel)) return true;
    // A directory on the way to an included path: walk into it.
    return st.isDirectory() && include.patterns.some((p) => p.startsWith(`${rel}/`) || p.startsWith('**'));
  };
}
