/**
 * Project configuration, one schema for every project front end: `gantry.toml` at the context
 * root, or `[tool.gantry]` in pyproject.toml (Python), or `"gantry"` in package.json (Node.js).
 * TOML is read with smol-toml, the schema is checked with valibot, and an error names the file,
 * the key and what is allowed. Keys are kebab-case in every file; the result is camelCase.
 * CLI flags win over these values (the front end applies that order).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as Valibot from 'valibot';
import { GantryError } from '../../errors.js';
import type { ProjectKind } from './detect.js';

/**
 * valibot and smol-toml (their CommonJS builds, one file each) load on the first project that has
 * a configuration to read: most builds have none, and at start-up they cost ~40 ms of CPU.
 */
const requireHere = createRequire(import.meta.url);
let valibot: typeof Valibot | undefined;
let smolToml: typeof import('smol-toml') | undefined;
const parseToml = (body: string) => {
  smolToml ??= requireHere('smol-toml') as typeof import('smol-toml');
  return smolToml.parse(body);
};

/** The schema, as the files spell it. */
function makeSchema(v: typeof Valibot) {
  const text = v.pipe(v.string(), v.minLength(1));
  const textList = v.array(text);
  const port = v.union([v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), text]);
  const runtime = v.strictObject({ version: v.optional(text) });
  return v.strictObject({
    tags: v.optional(textList),
    base: v.optional(text),
    platforms: v.optional(textList),
    env: v.optional(v.record(v.string(), v.string())),
    ports: v.optional(v.array(port)),
    labels: v.optional(v.record(v.string(), v.string())),
    user: v.optional(text),
    workdir: v.optional(v.pipe(text, v.startsWith('/', 'an absolute path'))),
    entrypoint: v.optional(v.pipe(textList, v.minLength(1, 'a non-empty array of strings'))),
    cmd: v.optional(textList),
    include: v.optional(textList),
    exclude: v.optional(textList),
    'index-url': v.optional(text),
    'extra-index-url': v.optional(textList),
    'find-links': v.optional(textList),
    'no-deps': v.optional(v.boolean()),
    wheel: v.optional(v.boolean()),
    python: v.optional(runtime),
    node: v.optional(runtime),
    workspace: v.optional(text),
    'build-on': v.optional(v.picklist(['container', 'host'])),
    'build-output': v.optional(text),
  });
}

let schema: ReturnType<typeof makeSchema> | undefined;
/** The project configuration's valibot schema (valibot loaded on first use). */
export function projectConfigSchema(): ReturnType<typeof makeSchema> {
  valibot ??= requireHere('valibot') as typeof Valibot;
  schema ??= makeSchema(valibot);
  return schema;
}

/** What a project says about its image; every key optional. */
export interface ProjectConfig {
  readonly tags?: readonly string[];
  readonly base?: string;
  readonly platforms?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** `PORT[/PROTO]` strings. */
  readonly ports?: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly user?: string;
  readonly workdir?: string;
  /** Exec form only: gantry never wraps a command in `/bin/sh -c`. */
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** Extra files or directories (context-relative) added to the app layer. */
  readonly include?: readonly string[];
  /** More .dockerignore-style patterns left out of the app layer. */
  readonly exclude?: readonly string[];
  readonly indexUrl?: string;
  readonly extraIndexUrls?: readonly string[];
  /** Context-relative (or absolute) directories of wheels or packages. */
  readonly findLinks?: readonly string[];
  readonly noDeps?: boolean;
  /** Python: install a wheel of the project instead of copying its files. */
  readonly wheel?: boolean;
  /** The runtime version wanted (`3.12`, `20`), per language. */
  readonly python?: { readonly version?: string };
  readonly node?: { readonly version?: string };
  /** Node.js: the workspace package to build (a name or a directory). */
  readonly workspace?: string;
  /** Node.js: where the build script runs (a build stage on the base, or the host's output). */
  readonly buildOn?: 'container' | 'host';
  /** Node.js: the directory the build script writes (default tsconfig's outDir, else dist). */
  readonly buildOutput?: string;
}

export interface LoadedConfig {
  readonly config: ProjectConfig;
  /** Where it came from (`gantry.toml`, `pyproject.toml [tool.gantry]`, ...); undefined when none. */
  readonly source?: string;
}

type Raw = Valibot.InferOutput<ReturnType<typeof makeSchema>>;

function configError(where: string, message: string, suggestion: string): GantryError {
  return new GantryError('PROJECT_CONFIG_INVALID', `${where}: ${message}`, { phase: 'config', suggestion });
}

/** The keys a strict table at `path` allows (for "unknown key" errors). */
function keysAt(path: readonly (string | number)[]): string[] {
  // biome-ignore lint/suspicious/noExplicitAny: walking valibot's schema tree by key
  let schema: any = projectConfigSchema();
  for (const key of path) {
    while (schema?.wrapped) schema = schema.wrapped;
    schema = schema?.entries?.[key];
  }
  while (schema?.wrapped) schema = schema.wrapped;
  return schema?.entries ? Object.keys(schema.entries) : [];
}

const EXPECTED: Readonly<Record<string, string>> = {
  tags: 'an array of image names',
  platforms: 'an array of platforms such as "linux/amd64"',
  env: 'a table of string values',
  labels: 'a table of string values',
  ports: 'an array of port numbers (1-65535) or "PORT/PROTO" strings',
  entrypoint: 'a non-empty array of strings (exec form; gantry never runs it through /bin/sh -c)',
  cmd: 'an array of strings (exec form)',
  include: 'an array of paths',
  exclude: 'an array of patterns',
  'extra-index-url': 'an array of URLs',
  'find-links': 'an array of directories or URLs',
  'no-deps': 'true or false',
  wheel: 'true or false',
  workdir: 'an absolute path',
  'build-on': '"container" or "host"',
};

/** Checks `value` against the schema; `where` names the file (and table) in errors. */
export function validateProjectConfig(value: unknown, where: string): ProjectConfig {
  const v = valibot ?? (requireHere('valibot') as typeof Valibot);
  const result = v.safeParse(projectConfigSchema(), value);
  if (!result.success) {
    const issue = result.issues[0];
    const path = (issue.path ?? []).map((p) => p.key as string | number);
    const key = path.map(String).join('.');
    if (issue.type === 'strict_object' && issue.expected === 'never') {
      const allowed = keysAt(path.slice(0, -1));
      throw configError(where, `unknown key ${JSON.stringify(key)}`, `allowed keys: ${allowed.join(', ')}`);
    }
    const top = String(path[0] ?? '');
    const expected =
      path.length === 1 || (path.length === 2 && typeof path[1] === 'number') ? EXPECTED[top] : undefined;
    throw configError(
      where,
      `${key === '' ? 'the table' : `key ${JSON.stringify(key)}`}: ${issue.message}`,
      expected ? `${key} must be ${expected}` : `fix ${key || 'the table'} in ${where}`,
    );
  }
  return camel(result.output);
}

function camel(raw: Raw): ProjectConfig {
  const out: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (k === 'ports') out.ports = (value as (number | string)[]).map(String);
    else if (k === 'extra-index-url') out.extraIndexUrls = value;
    else out[k.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())] = value;
  }
  return out as ProjectConfig;
}

async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

function tomlOf(file: string, body: string): Record<string, unknown> {
  try {
    return parseToml(body) as Record<string, unknown>;
  } catch (err) {
    const line = (err as { line?: number }).line;
    throw configError(
      `${file}${line ? `:${line}` : ''}`,
      `not valid TOML: ${(err as Error).message.split('\n')[0]}`,
      'fix the TOML syntax',
    );
  }
}

/**
 * The configuration of the project at `context`: `gantry.toml` when present, else the kind's own
 * place (`[tool.gantry]` in pyproject.toml, `"gantry"` in package.json). Both present is an error:
 * one of them would be silently ignored.
 */
export async function loadProjectConfig(context: string, kind: ProjectKind): Promise<LoadedConfig> {
  const own = await readText(join(context, 'gantry.toml'));
  let embedded: { value: unknown; where: string } | undefined;
  if (kind === 'python') {
    const body = await readText(join(context, 'pyproject.toml'));
    const tool = body === undefined ? undefined : (tomlOf('pyproject.toml', body).tool as Record<string, unknown>);
    if (tool?.gantry !== undefined) embedded = { value: tool.gantry, where: 'pyproject.toml [tool.gantry]' };
  } else {
    const body = await readText(join(context, 'package.json'));
    if (body !== undefined) {
      let pkg: Record<string, unknown>;
      try {
        pkg = JSON.parse(body) as Record<string, unknown>;
      } catch (err) {
        throw configError('package.json', `not valid JSON: ${(err as Error).message}`, 'fix the JSON syntax');
      }
      if (pkg.gantry !== undefined) embedded = { value: pkg.gantry, where: 'package.json "gantry"' };
    }
  }
  if (own !== undefined && embedded) {
    throw configError(
      'gantry.toml',
      `the project is configured both here and in ${embedded.where}`,
      'keep one of them',
    );
  }
  if (own !== undefined)
    return { config: validateProjectConfig(tomlOf('gantry.toml', own), 'gantry.toml'), source: 'gantry.toml' };
  if (embedded) return { config: validateProjectConfig(embedded.value, embedded.where), source: embedded.where };
  return { config: {} };
}
