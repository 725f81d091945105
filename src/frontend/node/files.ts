/**
 * Which of the project's files ship: the `files` field of package.json when it has one (plus
 * package.json, README, LICENSE, as npm packs them), else everything; never `.git`, `.env*`,
 * credentials (.npmrc), tests, the host's node_modules or what `.dockerignore` / `.gantryignore`
 * exclude. The build output directory travels in its own layer, so the app layer leaves it out.
 */
import type { Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMatcher, type IgnoreMatcher, parseIgnoreFile } from '../../engine/context/index.js';

/** Never in an image: VCS data, secrets, host installs, tests, caches. */
const NEVER: readonly string[] = [
  '.git',
  '.hg',
  '.svn',
  '**/node_modules',
  '.env',
  '.env.*',
  '**/.env',
  '**/.env.*',
  '.npmrc',
  '**/.npmrc',
  '.yarnrc',
  '.yarnrc.yml',
  '.yarn/cache',
  '.pnpm-store',
  '.dockerignore',
  '.gantryignore',
  'coverage',
  '.nyc_output',
  'test',
  'tests',
  '**/__tests__',
  '**/*.test.js',
  '**/*.test.ts',
  '**/*.test.mjs',
  '**/*.spec.js',
  '**/*.spec.ts',
  '**/*.spec.mjs',
];

/** Always shipped with a `files` list, as `npm pack` does. */
const ALWAYS = ['package.json', 'README*', 'LICENSE*', 'LICENCE*'];

/** The project's own ignore rules: `.gantryignore` and `.dockerignore` together. */
export async function projectIgnore(root: string): Promise<{ matcher: IgnoreMatcher; files: string[] }> {
  const patterns: string[] = [];
  const files: string[] = [];
  for (const name of ['.dockerignore', '.gantryignore']) {
    const text = await readFile(join(root, name), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    patterns.push(...parseIgnoreFile(text));
    files.push(name);
  }
  return { matcher: createMatcher(patterns, files.length > 0 ? { file: files.join(' + ') } : {}), files };
}

export interface AppFilesRule {
  readonly filter: (relPath: string, st: Stats) => boolean;
  /** Names the rule in the layer's cache key. */
  readonly id: string;
}

/**
 * The filter for the app layer of the package in `root`. `exclude` adds directories that
 * travel in another layer (the build output); `files` is package.json's `files`, if any.
 */
export function appFilesRule(
  ignore: IgnoreMatcher,
  files: readonly string[] | undefined,
  exclude: readonly string[],
  options: { tests?: boolean } = {},
): AppFilesRule {
  const never = createMatcher(options.tests ? NEVER.filter((p) => !/test|spec/.test(p)) : NEVER);
  const excluded = createMatcher(exclude.map((e) => e.replace(/^\.\//, '')));
  const include =
    files === undefined ? undefined : createMatcher([...ALWAYS, ...files.map((f) => f.replace(/^\.?\//, ''))]);
  const filter = (relPath: string, st: Stats): boolean => {
    if (never.matches(relPath) || excluded.matches(relPath)) return false;
    if (ignore.matches(relPath) && !(st.isDirectory() && ignore.mayMatchBelow(relPath))) return false;
    if (include !== undefined && !include.matches(relPath)) {
      // A directory on the way to an included file: walk into it.
      return st.isDirectory() && include.patterns.some((p) => p.startsWith(`${relPath}/`) || p.startsWith('**'));
    }
    return true;
  };
  const id = JSON.stringify({
    v: 1,
    ignore: ignore.patterns,
    files: files ?? null,
    exclude,
    tests: options.tests ?? false,
  });
  return { filter, id };
}
