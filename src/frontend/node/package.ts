/**
 * What a Node.js project says about itself: package.json (read and checked for the fields this
 * front end uses), the package manager (the `packageManager` field, else the lockfile), and the
 * Node.js major version it wants (engines.node, .nvmrc, .node-version).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GantryError } from '../../errors.js';

/** Node.js major of the default base when the project names none (the current LTS line gantry runs on). */
export const DEFAULT_NODE_MAJOR = 20;

export type Dependencies = Readonly<Record<string, string>>;

/** The package.json fields this front end reads; everything else is kept as it is. */
export interface PackageJson {
  readonly name?: string;
  readonly version?: string;
  readonly type?: string;
  readonly main?: string;
  readonly bin?: string | Readonly<Record<string, string>>;
  readonly exports?: unknown;
  readonly scripts?: Readonly<Record<string, string>>;
  readonly dependencies?: Dependencies;
  readonly devDependencies?: Dependencies;
  readonly optionalDependencies?: Dependencies;
  readonly peerDependencies?: Dependencies;
  readonly engines?: Readonly<Record<string, string>>;
  readonly packageManager?: string;
  readonly workspaces?: readonly string[] | { readonly packages?: readonly string[] };
  readonly files?: readonly string[];
  readonly [key: string]: unknown;
}

function invalid(file: string, message: string, suggestion: string): GantryError {
  return new GantryError('NODE_PACKAGE_JSON_INVALID', `${file}: ${message}`, { phase: 'config', suggestion });
}

const STRING_MAPS = [
  'scripts',
  'dependencies',
  'devDependencies',
  'optionalDependencies',
  'peerDependencies',
  'engines',
] as const;

/** Reads and checks `dir/package.json`. */
export async function readPackageJson(dir: string): Promise<PackageJson> {
  const file = join(dir, 'package.json');
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new GantryError('NODE_PACKAGE_JSON_NOT_FOUND', `cannot read ${file}: ${err.code ?? err.message}`, {
      phase: 'config',
      suggestion: 'build the directory that holds package.json, or pick another --frontend',
    });
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw invalid(file, `not valid JSON (${(err as Error).message})`, 'fix the JSON syntax');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw invalid(file, 'the top level is not an object', 'package.json holds one JSON object');
  const pkg = parsed as Record<string, unknown>;
  for (const key of ['name', 'version', 'main', 'type', 'packageManager'] as const) {
    if (pkg[key] !== undefined && typeof pkg[key] !== 'string')
      throw invalid(file, `"${key}" is not a string`, `give "${key}" as a string`);
  }
  for (const key of STRING_MAPS) {
    const v = pkg[key];
    if (v === undefined) continue;
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))
      throw invalid(file, `"${key}" is not an object of strings`, `give "${key}" as {"name": "value", ...}`);
  }
  const bin = pkg.bin;
  if (bin !== undefined && typeof bin !== 'string' && (typeof bin !== 'object' || bin === null || Array.isArray(bin)))
    throw invalid(
      file,
      '"bin" is neither a path nor an object of paths',
      'give "bin" as "cli.js" or {"name": "cli.js"}',
    );
  const files = pkg.files;
  if (files !== undefined && (!Array.isArray(files) || files.some((f) => typeof f !== 'string')))
    throw invalid(file, '"files" is not an array of strings', 'give "files" as ["dist", "lib/*.js"]');
  const ws = pkg.workspaces;
  const wsList = Array.isArray(ws) ? ws : (ws as { packages?: unknown } | undefined)?.packages;
  if (ws !== undefined && (!Array.isArray(wsList) || wsList.some((w) => typeof w !== 'string')))
    throw invalid(file, '"workspaces" is not an array of paths', 'give "workspaces" as ["packages/*"]');
  return pkg as PackageJson;
}

export type PackageManagerName = 'npm' | 'pnpm' | 'yarn';

export interface PackageManager {
  readonly name: PackageManagerName;
  /** From `packageManager` (`pnpm@9.12.0`), when the project pins one. */
  readonly version?: string;
  /** Yarn 1 (classic) or 2+ (berry); undefined for npm and pnpm. */
  readonly flavor?: 'classic' | 'berry';
  /** The lockfile, relative to the project root; undefined when there is none. */
  readonly lockfile?: string;
  /** Why this package manager, for `-v` and `--dry-run`. */
  readonly why: string;
}

const LOCKFILES: readonly { file: string; name: PackageManagerName }[] = [
  { file: 'package-lock.json', name: 'npm' },
  { file: 'npm-shrinkwrap.json', name: 'npm' },
  { file: 'pnpm-lock.yaml', name: 'pnpm' },
  { file: 'yarn.lock', name: 'yarn' },
];

async function yarnFlavor(root: string, version: string | undefined, lockfile: string | undefined) {
  if (version !== undefined) return Number.parseInt(version, 10) >= 2 ? 'berry' : 'classic';
  if (existsSync(join(root, '.yarnrc.yml'))) return 'berry';
  if (lockfile !== undefined && (await readFile(join(root, lockfile), 'utf8')).includes('__metadata:')) return 'berry';
  return 'classic';
}

/** The project's package manager: `packageManager` first (as corepack reads it), else its lockfile, else npm. */
export async function detectPackageManager(root: string, pkg: PackageJson): Promise<PackageManager> {
  const present = LOCKFILES.filter((l) => existsSync(join(root, l.file)));
  if (existsSync(join(root, 'bun.lockb')) || existsSync(join(root, 'bun.lock'))) {
    if (present.length === 0 && pkg.packageManager === undefined) {
      throw new GantryError(
        'NODE_PACKAGE_MANAGER_UNSUPPORTED',
        `${root} uses bun (bun.lockb), which gantry cannot install with`,
        {
          phase: 'config',
          suggestion: 'commit a package-lock.json, pnpm-lock.yaml or yarn.lock, or set "packageManager"',
        },
      );
    }
  }
  if (pkg.packageManager !== undefined) {
    const m = /^(npm|pnpm|yarn)@(\d+\.\d+\.\d+[^+\s]*)(?:\+.*)?$/.exec(pkg.packageManager);
    if (!m) {
      throw invalid(
        join(root, 'package.json'),
        `"packageManager": ${JSON.stringify(pkg.packageManager)} is not npm@X.Y.Z, pnpm@X.Y.Z or yarn@X.Y.Z`,
        'give it as corepack reads it, e.g. "pnpm@9.12.0"',
      );
    }
    const name = m[1] as PackageManagerName;
    const version = m[2] as string;
    const lockfile = present.find((l) => l.name === name)?.file;
    const flavor = name === 'yarn' ? await yarnFlavor(root, version, lockfile) : undefined;
    return {
      name,
      version,
      ...(flavor ? { flavor } : {}),
      ...(lockfile ? { lockfile } : {}),
      why: `"packageManager": "${pkg.packageManager}" in package.json`,
    };
  }
  const first = present[0];
  if (!first) return { name: 'npm', why: 'no lockfile and no "packageManager": npm (dependencies are not pinned)' };
  if (present.length > 1 && present.some((l) => l.name !== first.name)) {
    throw new GantryError(
      'NODE_LOCKFILES_CONFLICT',
      `${root} has lockfiles of more than one package manager (${present.map((l) => l.file).join(', ')})`,
      { phase: 'config', suggestion: 'remove the stale ones, or set "packageManager" in package.json' },
    );
  }
  const flavor = first.name === 'yarn' ? await yarnFlavor(root, undefined, first.file) : undefined;
  return { name: first.name, ...(flavor ? { flavor } : {}), lockfile: first.file, why: `${first.file} is there` };
}

export interface NodeVersionChoice {
  readonly major: number;
  readonly why: string;
}

/** The major a version range or version file means: the lowest major it names (`>=18` is 18, `^20.1` is 20). */
export function majorOf(spec: string): number | undefined {
  const s = spec.trim().toLowerCase();
  if (s === '' || s === 'node' || s === 'latest' || s.startsWith('lts')) return undefined;
  const m = /(\d+)/.exec(s);
  return m ? Number(m[1]) : undefined;
}

/** The Node.js major for the default base: engines.node, else .nvmrc, else .node-version, else DEFAULT_NODE_MAJOR. */
export async function nodeMajor(root: string, pkg: PackageJson): Promise<NodeVersionChoice> {
  const engines = pkg.engines?.node;
  if (engines !== undefined) {
    const major = majorOf(engines);
    // `>=18` asks for at least 18: the default line serves it when it is newer.
    if (major !== undefined) {
      const atLeast = /^\s*>=?\s*\d/.test(engines) && major < DEFAULT_NODE_MAJOR;
      return atLeast
        ? { major: DEFAULT_NODE_MAJOR, why: `engines.node "${engines}" allows ${DEFAULT_NODE_MAJOR}, the default` }
        : { major, why: `engines.node "${engines}" in package.json` };
    }
  }
  for (const file of ['.nvmrc', '.node-version']) {
    const text = await readFile(join(root, file), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const line = text.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
    const major = majorOf(line.replace(/^v/i, ''));
    if (major !== undefined) return { major, why: `${file} says ${line.trim()}` };
  }
  return { major: DEFAULT_NODE_MAJOR, why: `no engines.node, .nvmrc or .node-version: Node.js ${DEFAULT_NODE_MAJOR}` };
}

/** Every dependency name a package declares for production (what ships). */
export function productionDependencies(pkg: PackageJson): string[] {
  return [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})];
}

/** Every dependency name a package declares, development ones included. */
export function allDependencies(pkg: PackageJson): string[] {
  return [
    ...productionDependencies(pkg),
    ...Object.keys(pkg.devDependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
  ];
}
