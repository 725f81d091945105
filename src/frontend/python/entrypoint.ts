/**
 * The command a Python image runs, chosen in order: the configuration (or --entrypoint/--cmd);
 * a console script of `[project.scripts]`; a package's `__main__.py` (`python -m pkg`); a web
 * framework found in the source (what is imported and instantiated, not file names): FastAPI
 * under uvicorn, Flask under gunicorn when it is a dependency (else `flask run`), Django's
 * manage.py with gunicorn when it is a dependency (else runserver); else app.py or main.py.
 * Always exec form, so signals reach the app and shell-less bases work.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { GantryError } from '../../errors.js';
import type { PythonProject } from './project.js';

export interface EntrypointChoice {
  readonly entrypoint: readonly string[];
  readonly ports: readonly string[];
  readonly why: string;
  readonly framework?: 'fastapi' | 'flask' | 'django';
  /** The console script chosen, by name (an installed wheel puts it in the venv's bin/). */
  readonly script?: string;
}

const MAX_FILES = 400;
const MAX_BYTES = 512 * 1024;
const SKIP_DIRS = new Set(['.git', '.venv', 'venv', '__pycache__', 'node_modules', 'dist', 'build', 'tests', 'test']);

/** Context-relative .py files at the top, in packages one or two levels down, and under src/. */
async function pythonFiles(context: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string, depth: number): Promise<void> => {
    if (out.length >= MAX_FILES) return;
    const entries = await readdir(join(context, rel), { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isFile() && e.name.endsWith('.py')) out.push(p);
      else if (e.isDirectory() && depth < 3 && !SKIP_DIRS.has(e.name) && !e.name.startsWith('.')) {
        if (existsSync(join(context, p, 'pyvenv.cfg'))) continue;
        await walk(p, depth + 1);
      }
    }
  };
  await walk('', 0);
  return out.slice(0, MAX_FILES);
}

/** `pkg/app.py` -> `pkg.app`, `src/pkg/app.py` -> `pkg.app` in a src layout. */
function moduleOf(rel: string, srcLayout: boolean): string {
  const noSrc = srcLayout && rel.startsWith('src/') ? rel.slice(4) : rel;
  return noSrc
    .replace(/\.py$/, '')
    .replace(/\/__init__$/, '')
    .split('/')
    .join('.');
}

interface Found {
  readonly module: string;
  readonly variable: string;
  readonly file: string;
}

/** The first module that imports `framework` and assigns `NAME = Class(...)`. */
function findApp(
  sources: ReadonlyMap<string, string>,
  framework: string,
  cls: string,
  srcLayout: boolean,
): Found | undefined {
  const imports = new RegExp(`^\\s*(?:from\\s+${framework}(?:\\.\\w+)*\\s+import\\b|import\\s+${framework}\\b)`, 'm');
  const assign = new RegExp(`^([A-Za-z_]\\w*)\\s*(?::[^=]+)?=\\s*(?:${framework}\\.)?${cls}\\s*\\(`, 'm');
  for (const [file, body] of sources) {
    if (!imports.test(body)) continue;
    const m = assign.exec(body);
    if (m) return { module: moduleOf(file, srcLayout), variable: m[1] as string, file };
  }
  return undefined;
}

async function readSources(context: string, files: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of files) {
    const st = await stat(join(context, f)).catch(() => undefined);
    if (!st || st.size > MAX_BYTES) continue;
    out.set(f, await readFile(join(context, f), 'utf8').catch(() => ''));
  }
  return out;
}

/** A console script `module:function` run without installing the project (it is on PYTHONPATH). */
export function scriptCommand(target: string): string[] {
  const [mod, attr] = target.split(':').map((s) => s.trim());
  if (!mod || !attr || !/^[\w.]+$/.test(mod) || !/^[\w.]+$/.test(attr)) {
    throw new GantryError(
      'PYPROJECT_INVALID',
      `console script target ${JSON.stringify(target)} is not module:function`,
      {
        phase: 'config',
        suggestion: 'write it as "package.module:function"',
      },
    );
  }
  const [first, ...rest] = attr.split('.');
  return ['python3', '-c', `import sys; from ${mod} import ${first}; sys.exit(${[first, ...rest].join('.')}())`];
}

export async function chooseEntrypoint(context: string, project: PythonProject): Promise<EntrypointChoice> {
  const scripts = Object.entries(project.scripts).sort(([a], [b]) => (a < b ? -1 : 1));
  if (scripts.length > 0) {
    const own = project.name ? scripts.find(([n]) => n === project.name) : undefined;
    const [name, target] = own ?? (scripts[0] as [string, string]);
    return {
      entrypoint: scriptCommand(target),
      script: name,
      ports: [],
      why: `console script ${name} = "${target}" in pyproject.toml`,
    };
  }
  const files = await pythonFiles(context);
  const mains = files.filter((f) => f.endsWith('/__main__.py') && f.split('/').length <= (project.srcLayout ? 3 : 2));
  const main = mains[0];
  if (main) {
    const pkg = moduleOf(posix.dirname(main), project.srcLayout);
    return { entrypoint: ['python3', '-m', pkg], ports: [], why: `${main}: the package runs with python -m ${pkg}` };
  }
  const sources = await readSources(context, files);
  const gunicorn = project.dependencyNames.has('gunicorn');
  const fastapi = findApp(sources, 'fastapi', 'FastAPI', project.srcLayout);
  if (fastapi) {
    return {
      framework: 'fastapi',
      entrypoint: [
        'python3',
        '-m',
        'uvicorn',
        `${fastapi.module}:${fastapi.variable}`,
        '--host',
        '0.0.0.0',
        '--port',
        '8000',
      ],
      ports: ['8000/tcp'],
      why: `${fastapi.file} imports fastapi and makes ${fastapi.variable} = FastAPI(): uvicorn on port 8000`,
    };
  }
  const flask = findApp(sources, 'flask', 'Flask', project.srcLayout);
  if (flask) {
    const target = `${flask.module}:${flask.variable}`;
    return {
      framework: 'flask',
      entrypoint: gunicorn
        ? ['python3', '-m', 'gunicorn', '--bind', '0.0.0.0:5000', target]
        : ['python3', '-m', 'flask', '--app', target, 'run', '--host', '0.0.0.0', '--port', '5000'],
      ports: ['5000/tcp'],
      why: `${flask.file} imports flask and makes ${flask.variable} = Flask(): ${gunicorn ? 'gunicorn (a dependency)' : 'flask run'} on port 5000`,
    };
  }
  if (sources.has('manage.py') && /django/.test(sources.get('manage.py') ?? '')) {
    const wsgi = files.find((f) => /^[^/]+\/wsgi\.py$/.test(f) && /get_wsgi_application/.test(sources.get(f) ?? ''));
    if (wsgi && gunicorn) {
      const mod = moduleOf(wsgi, false);
      return {
        framework: 'django',
        entrypoint: ['python3', '-m', 'gunicorn', '--bind', '0.0.0.0:8000', mod],
        ports: ['8000/tcp'],
        why: `manage.py runs django and ${wsgi} has the WSGI application: gunicorn (a dependency) on port 8000`,
      };
    }
    return {
      framework: 'django',
      entrypoint: ['python3', 'manage.py', 'runserver', '0.0.0.0:8000'],
      ports: ['8000/tcp'],
      why: 'manage.py runs django: runserver on port 8000',
    };
  }
  for (const f of ['app.py', 'main.py']) {
    if (sources.has(f)) return { entrypoint: ['python3', f], ports: [], why: `${f} at the top of the project` };
  }
  throw new GantryError('NO_ENTRYPOINT', 'cannot tell how to start this Python project', {
    phase: 'config',
    suggestion:
      'add [project.scripts], a package __main__.py, app.py or main.py, or set entrypoint = [...] in [tool.gantry]',
  });
}
