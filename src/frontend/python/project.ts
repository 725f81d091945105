/**
 * What a Python project says about itself: name, version, dependencies, scripts and the Python
 * it wants, from pyproject.toml (PEP 621 `[project]`, Poetry's `[tool.poetry]`), requirements
 * files, and lock files (uv.lock, poetry.lock, pdm.lock, Pipfile.lock: when one is there, its
 * pinned set is what gets installed). Pure reading: nothing here runs Python.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { GantryError } from '../../errors.js';
import { normalizeName, type RequirementSet, readRequirements } from './requirements.js';

export interface PythonProject {
  readonly name?: string;
  readonly version?: string;
  readonly requiresPython?: string;
  /** `.python-version`, when present. */
  readonly pinnedPython?: string;
  /** Console scripts: name -> `module:function`. */
  readonly scripts: Readonly<Record<string, string>>;
  /** The dependency lines pip installs (pins from a lock file, else requirements, else pyproject). */
  readonly dependencies: readonly string[];
  readonly constraints: readonly string[];
  /** Normalized names of the declared dependencies (for gunicorn-or-not and the like). */
  readonly dependencyNames: ReadonlySet<string>;
  /** Where the dependencies came from (`uv.lock`, `requirements.txt`, `pyproject.toml [project]`). */
  readonly dependencySource?: string;
  /** Files whose content decides the dependency layer, context-relative. */
  readonly dependencyFiles: readonly string[];
  /** Index settings found in a requirements file. */
  readonly index: Pick<RequirementSet, 'extraIndexUrls' | 'findLinks' | 'noIndex'> & { readonly indexUrl?: string };
  /** `src/` layout: the importable code is under src/. */
  readonly srcLayout: boolean;
  /**
   * When the project is a package pip can build a wheel of (a pyproject `[build-system]` or
   * `[project]` table, setup.py or setup.cfg): its PEP 517 backend (setuptools' legacy one when
   * pyproject names none, as pip does) and the backend's requirements.
   */
  readonly buildSystem?: { readonly backend: string; readonly requires: readonly string[]; readonly from: string };
}

function invalid(file: string, message: string, suggestion: string): GantryError {
  return new GantryError('PYPROJECT_INVALID', `${file}: ${message}`, { phase: 'config', suggestion });
}

async function text(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

function toml(file: string, body: string): Record<string, unknown> {
  try {
    return parseToml(body) as Record<string, unknown>;
  } catch (err) {
    throw invalid(file, `not valid TOML: ${(err as Error).message.split('\n')[0]}`, 'fix the TOML syntax');
  }
}

function table(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** A Poetry version constraint as a PEP 440 specifier (`^1.2` -> `>=1.2,<2.0`). */
export function poetrySpecifier(c: string): string {
  const parts = c
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const out: string[] = [];
  for (const p of parts) {
    if (p === '*' || p === '') continue;
    const caret = /^\^(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(p);
    const tilde = /^~(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(p);
    if (caret) {
      const [maj, min, pat] = [Number(caret[1]), caret[2], caret[3]];
      const lower = [caret[1], min ?? '0', pat].filter((x) => x !== undefined).join('.');
      const upper =
        maj > 0
          ? `${maj + 1}.0`
          : min !== undefined && Number(min) > 0
            ? `0.${Number(min) + 1}`
            : `0.0.${Number(pat ?? 0) + 1}`;
      out.push(`>=${lower}`, `<${upper}`);
    } else if (tilde) {
      const lower = [tilde[1], tilde[2] ?? '0', tilde[3]].filter((x) => x !== undefined).join('.');
      const upper = tilde[2] !== undefined ? `${tilde[1]}.${Number(tilde[2]) + 1}` : `${Number(tilde[1]) + 1}.0`;
      out.push(`>=${lower}`, `<${upper}`);
    } else if (/^\d/.test(p)) out.push(`==${p}`);
    else out.push(p);
  }
  return out.join(',');
}

function poetryDependencies(deps: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [name, spec] of Object.entries(deps)) {
    if (normalizeName(name) === 'python') continue;
    if (typeof spec === 'string') out.push(`${name}${poetrySpecifier(spec)}`);
    else {
      const t = table(spec);
      if (!t || t.optional === true) continue;
      const extras = strings(t.extras);
      const marker = typeof t.markers === 'string' ? `; ${t.markers}` : '';
      out.push(
        `${name}${extras.length > 0 ? `[${extras.join(',')}]` : ''}${typeof t.version === 'string' ? poetrySpecifier(t.version) : ''}${marker}`,
      );
    }
  }
  return out;
}

/** The pinned set of a lock file: `name==version` lines (the default group only). */
async function lockPins(context: string): Promise<{ file: string; pins: string[] } | undefined> {
  const uv = await text(join(context, 'uv.lock'));
  if (uv !== undefined) {
    const doc = toml('uv.lock', uv);
    const pkgs = (Array.isArray(doc.package) ? doc.package : []).map(table).filter((p) => p !== undefined);
    const pins: string[] = [];
    for (const p of pkgs) {
      const source = table(p.source);
      // The project itself (editable/virtual source) is not a dependency to install from an index.
      if (source && (source.editable !== undefined || source.virtual !== undefined)) continue;
      if (typeof p.name === 'string' && typeof p.version === 'string') pins.push(`${p.name}==${p.version}`);
    }
    return { file: 'uv.lock', pins };
  }
  const poetry = await text(join(context, 'poetry.lock'));
  if (poetry !== undefined) {
    const doc = toml('poetry.lock', poetry);
    const pins: string[] = [];
    for (const p of (Array.isArray(doc.package) ? doc.package : []).map(table)) {
      if (!p || typeof p.name !== 'string' || typeof p.version !== 'string') continue;
      // Poetry 1.x marks dev packages with category = "dev"; 2.x lists groups.
      if (p.category === 'dev' || (Array.isArray(p.groups) && !strings(p.groups).includes('main'))) continue;
      pins.push(`${p.name}==${p.version}`);
    }
    return { file: 'poetry.lock', pins };
  }
  const pdm = await text(join(context, 'pdm.lock'));
  if (pdm !== undefined) {
    const doc = toml('pdm.lock', pdm);
    const pins: string[] = [];
    for (const p of (Array.isArray(doc.package) ? doc.package : []).map(table)) {
      if (!p || typeof p.name !== 'string' || typeof p.version !== 'string') continue;
      if (Array.isArray(p.groups) && !strings(p.groups).includes('default')) continue;
      pins.push(`${p.name}==${p.version}`);
    }
    return { file: 'pdm.lock', pins };
  }
  const pipfile = await text(join(context, 'Pipfile.lock'));
  if (pipfile !== undefined) {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(pipfile) as Record<string, unknown>;
    } catch (err) {
      throw invalid('Pipfile.lock', `not valid JSON: ${(err as Error).message}`, 'regenerate it with pipenv lock');
    }
    const pins: string[] = [];
    for (const [name, v] of Object.entries(table(doc.default) ?? {})) {
      const version = table(v)?.version;
      const markers = table(v)?.markers;
      if (typeof version === 'string')
        pins.push(`${name}${version}${typeof markers === 'string' ? `; ${markers}` : ''}`);
    }
    return { file: 'Pipfile.lock', pins };
  }
  return undefined;
}

/** Reads the project at `context`. */
export async function readPythonProject(context: string): Promise<PythonProject> {
  const body = await text(join(context, 'pyproject.toml'));
  const doc = body === undefined ? {} : toml('pyproject.toml', body);
  const project = table(doc.project);
  const poetry = table(table(doc.tool)?.poetry);
  const poetryDeps = table(poetry?.dependencies) ?? {};
  const name = (project?.name ?? poetry?.name) as string | undefined;
  const version = (project?.version ?? poetry?.version) as string | undefined;
  const requiresPython =
    typeof project?.['requires-python'] === 'string'
      ? (project['requires-python'] as string)
      : typeof poetryDeps.python === 'string'
        ? poetrySpecifier(poetryDeps.python)
        : undefined;
  const scripts: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...(table(poetry?.scripts) ?? {}), ...(table(project?.scripts) ?? {}) }))
    if (typeof v === 'string') scripts[k] = v;
  const pinned = (await text(join(context, '.python-version')))?.split('\n')[0]?.trim();

  let dependencies: string[] = [];
  let constraints: string[] = [];
  let dependencySource: string | undefined;
  const dependencyFiles: string[] = [];
  let index: PythonProject['index'] = { extraIndexUrls: [], findLinks: [], noIndex: false };
  const declared = [...strings(project?.dependencies), ...poetryDependencies(poetryDeps)];
  const lock = await lockPins(context);
  if (lock) {
    dependencies = lock.pins;
    dependencySource = lock.file;
    dependencyFiles.push(lock.file);
  } else if (existsSync(join(context, 'requirements.txt'))) {
    const set = await readRequirements(join(context, 'requirements.txt'), context);
    dependencies = set.requirements.map((r) => r.line);
    constraints = set.constraints.map((r) => r.line);
    dependencySource = 'requirements.txt';
    dependencyFiles.push(...set.files);
    index = {
      ...(set.indexUrl !== undefined ? { indexUrl: set.indexUrl } : {}),
      extraIndexUrls: set.extraIndexUrls,
      findLinks: set.findLinks,
      noIndex: set.noIndex,
    };
  } else if (declared.length > 0) {
    dependencies = declared;
    dependencySource = project?.dependencies ? 'pyproject.toml [project]' : 'pyproject.toml [tool.poetry]';
    dependencyFiles.push('pyproject.toml');
  }
  const buildSystem = await buildSystemOf(context, doc);
  const names = new Set<string>();
  for (const line of [...declared, ...dependencies]) {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(line);
    if (m) names.add(normalizeName(m[1] as string));
  }
  return {
    ...(name !== undefined ? { name } : {}),
    ...(version !== undefined ? { version } : {}),
    ...(requiresPython !== undefined ? { requiresPython } : {}),
    ...(pinned ? { pinnedPython: pinned } : {}),
    scripts,
    dependencies,
    constraints,
    dependencyNames: names,
    ...(dependencySource !== undefined ? { dependencySource } : {}),
    dependencyFiles,
    index,
    srcLayout: existsSync(join(context, 'src')) && !existsSync(join(context, 'src', '__init__.py')),
    ...(buildSystem ? { buildSystem } : {}),
  };
}

/** PEP 517/518: the backend pip would call for this project, or undefined when it is no package. */
async function buildSystemOf(
  context: string,
  doc: Record<string, unknown>,
): Promise<PythonProject['buildSystem'] | undefined> {
  const declared = table(doc['build-system']);
  const legacy = 'setuptools.build_meta:__legacy__';
  if (declared) {
    const backend = declared['build-backend'];
    if (backend !== undefined && (typeof backend !== 'string' || !/^[\w.]+(:[\w.]+)?$/.test(backend)))
      throw invalid(
        'pyproject.toml',
        '[build-system] build-backend is not module or module:object',
        'write it as "pkg.module" or "pkg.module:object"',
      );
    return {
      backend: typeof backend === 'string' ? backend : legacy,
      requires: strings(declared.requires),
      from: 'pyproject.toml [build-system]',
    };
  }
  const setup = ['setup.py', 'setup.cfg'].find((f) => existsSync(join(context, f)));
  if (setup) return { backend: legacy, requires: ['setuptools', 'wheel'], from: setup };
  if (table(doc.project))
    return { backend: legacy, requires: ['setuptools', 'wheel'], from: 'pyproject.toml [project]' };
  return undefined;
}
