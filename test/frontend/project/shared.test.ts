// The pieces every project front end shares (src/frontend/project/): detection, the one config
// schema and its error messages, the base choice order, the image config merge, the source
// epoch, the app-layer file filter and the plan printer.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { GantryError } from '../../../src/errors.js';
import {
  chooseBase,
  countFiles,
  DEFAULT_USER,
  detectProject,
  formatPlan,
  loadProjectConfig,
  parseFrontEnd,
  projectFiles,
  projectImageConfig,
  sourceEpoch,
  validateProjectConfig,
} from '../../../src/frontend/project/index.js';
import { walkDirectory } from '../../../src/layer/walk.js';
import type { ImageConfig } from '../../../src/oci/types.js';

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-project-'));
  for (const [rel, body] of Object.entries(files)) {
    await mkdir(dirname(join(dir, rel)), { recursive: true });
    await writeFile(join(dir, rel), body);
  }
  return dir;
}

function configError(fn: () => unknown, pattern: RegExp, suggestion?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(GantryError.is(err));
    assert.equal(err.code, 'PROJECT_CONFIG_INVALID');
    assert.match(err.message, pattern);
    if (suggestion) assert.match(err.suggestion ?? '', suggestion);
    return true;
  });
}

test('detection: a Dockerfile wins, then the project kinds the build has, then a plain directory', async () => {
  const py = await tree({ 'requirements.txt': 'flask\n', 'app.py': '' });
  const both = await tree({ 'requirements.txt': '', Dockerfile: 'FROM scratch\n' });
  const node = await tree({ 'package.json': '{}' });
  try {
    const d = detectProject(py, { kinds: ['python', 'node'] });
    assert.equal(d.frontend, 'python');
    assert.deepEqual(d.markers, ['requirements.txt']);
    assert.match(d.why, /requirements\.txt makes it a Python project/);
    assert.equal(detectProject(py, { kinds: [] }).frontend, 'dir', 'a kind the build lacks is never detected');
    assert.equal(detectProject(both, { kinds: ['python'] }).frontend, 'dockerfile');
    assert.equal(detectProject(both, { kinds: ['python'], frontend: 'python' }).frontend, 'python');
    assert.equal(detectProject(node, { kinds: ['python', 'node'] }).frontend, 'node');
    assert.equal(detectProject(node, { kinds: ['python'] }).frontend, 'dir');
    assert.equal(parseFrontEnd('directory'), 'dir');
    assert.throws(() => parseFrontEnd('ruby'), /invalid --frontend "ruby"/);
  } finally {
    for (const d of [py, both, node]) await rm(d, { recursive: true, force: true });
  }
});

test('config: one schema, camelCase out, errors naming the file, the key and what is allowed', () => {
  const c = validateProjectConfig(
    {
      tags: ['a:1'],
      ports: [8000, '53/udp'],
      env: { A: 'b' },
      'index-url': 'http://i/simple',
      'extra-index-url': ['http://j/simple'],
      'find-links': ['wheels'],
      'no-deps': true,
      python: { version: '3.12' },
      entrypoint: ['python', '-m', 'app'],
    },
    'gantry.toml',
  );
  assert.deepEqual(c.ports, ['8000', '53/udp']);
  assert.equal(c.indexUrl, 'http://i/simple');
  assert.deepEqual(c.extraIndexUrls, ['http://j/simple']);
  assert.deepEqual(c.findLinks, ['wheels']);
  assert.equal(c.noDeps, true);
  assert.equal(c.python?.version, '3.12');
  configError(
    () => validateProjectConfig({ prots: [1] }, 'gantry.toml'),
    /^gantry\.toml: unknown key "prots"/,
    /allowed keys: tags, base, platforms, env, ports/,
  );
  configError(
    () => validateProjectConfig({ python: { verison: '3' } }, 'pyproject.toml [tool.gantry]'),
    /^pyproject\.toml \[tool\.gantry\]: unknown key "python\.verison"/,
    /allowed keys: version$/,
  );
  configError(
    () => validateProjectConfig({ entrypoint: 'python app.py' }, 'gantry.toml'),
    /key "entrypoint"/,
    /exec form; gantry never runs it through \/bin\/sh -c/,
  );
  configError(() => validateProjectConfig({ ports: [70000] }, 'gantry.toml'), /key "ports\.0"/, /1-65535/);
  configError(() => validateProjectConfig({ env: { A: 1 } }, 'gantry.toml'), /key "env\.A"/);
  configError(() => validateProjectConfig({ workdir: 'app' }, 'gantry.toml'), /key "workdir"/, /absolute path/);
});

test('config files: gantry.toml, [tool.gantry] with arrays of tables around it, package.json, not two at once', async () => {
  const py = await tree({
    'pyproject.toml': [
      '[project]',
      'name = "x"',
      '[[tool.other.items]]',
      'a = { b = 1 }',
      '[tool.gantry]',
      'ports = [8000]',
      'env = { MODE = "prod" }',
    ].join('\n'),
  });
  const both = await tree({ 'pyproject.toml': '[tool.gantry]\nuser = "1"\n', 'gantry.toml': 'user = "2"\n' });
  const bad = await tree({ 'gantry.toml': 'ports = [\n' });
  const node = await tree({ 'package.json': JSON.stringify({ name: 'x', gantry: { ports: [3000] } }) });
  try {
    const loaded = await loadProjectConfig(py, 'python');
    assert.equal(loaded.source, 'pyproject.toml [tool.gantry]');
    assert.deepEqual(loaded.config.ports, ['8000']);
    assert.deepEqual(loaded.config.env, { MODE: 'prod' });
    await assert.rejects(loadProjectConfig(both, 'python'), /configured both here and in pyproject\.toml/);
    await assert.rejects(loadProjectConfig(bad, 'python'), /^GantryError: gantry\.toml(:\d+)?: not valid TOML/);
    const n = await loadProjectConfig(node, 'node');
    assert.equal(n.source, 'package.json "gantry"');
    assert.deepEqual(n.config.ports, ['3000']);
  } finally {
    for (const d of [py, both, bad, node]) await rm(d, { recursive: true, force: true });
  }
});

test('base: --from, then $GANTRY_PYTHON_BASE, then the config, then python:X.Y-slim', () => {
  const version = { value: '3.11', why: 'requires-python' };
  const config = { base: 'cfg/python:3', source: 'gantry.toml' };
  const env = { GANTRY_PYTHON_BASE: 'env/python:3' };
  assert.equal(chooseBase({ kind: 'python', version, flag: 'flag/py', config, env }).ref, 'flag/py');
  assert.equal(chooseBase({ kind: 'python', version, config, env }).ref, 'env/python:3');
  assert.equal(chooseBase({ kind: 'python', version, config, env: {} }).why, 'base in gantry.toml');
  const d = chooseBase({ kind: 'python', version, env: {} });
  assert.equal(d.ref, 'python:3.11-slim');
  assert.match(d.why, /requires-python/);
  assert.equal(chooseBase({ kind: 'node', version: { value: '20', why: 'default' }, env: {} }).ref, 'node:20-slim');
});

test('image config: base Env kept with user values winning, labels and ports added, exec form, created', () => {
  const base: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
    config: {
      Env: ['PATH=/usr/local/bin:/usr/bin', 'LANG=C.UTF-8', 'MODE=dev'],
      Labels: { base: '1' },
      ExposedPorts: { '9000/tcp': {} },
      Cmd: ['python3'],
    },
  };
  const out = projectImageConfig(base, {
    env: { MODE: 'prod', PYTHONUNBUFFERED: '1' },
    workdir: '/app',
    user: DEFAULT_USER,
    labels: { app: 'x' },
    ports: ['8000'],
    entrypoint: ['python', '-m', 'app'],
    created: '2024-01-01T00:00:00Z',
  });
  assert.deepEqual(out.config?.Env, [
    'PATH=/usr/local/bin:/usr/bin',
    'LANG=C.UTF-8',
    'MODE=prod',
    'PYTHONUNBUFFERED=1',
  ]);
  assert.deepEqual(out.config?.Labels, { base: '1', app: 'x' });
  assert.deepEqual(Object.keys(out.config?.ExposedPorts ?? {}), ['9000/tcp', '8000/tcp']);
  assert.deepEqual(out.config?.Entrypoint, ['python', '-m', 'app']);
  assert.equal(out.config?.Cmd, undefined, "the base's Cmd does not trail the new entrypoint");
  assert.equal(out.config?.User, '65532:65532');
  assert.equal(out.config?.WorkingDir, '/app');
  assert.equal(out.created, '2024-01-01T00:00:00Z');
});

test('source epoch: SOURCE_DATE_EPOCH, else the last commit time, else 1970', async () => {
  const dir = await tree({ 'a.py': '' });
  try {
    assert.equal((await sourceEpoch(dir, { SOURCE_DATE_EPOCH: '1700000000' })).created, '2023-11-14T22:13:20Z');
    const none = await sourceEpoch(dir, {});
    assert.equal(none.seconds, 0);
    assert.match(none.why, /fixed epoch/);
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', dir, ...args], {
        env: { ...process.env, GIT_COMMITTER_DATE: '1600000000 +0000', GIT_AUTHOR_DATE: '1600000000 +0000' },
      });
    git('init', '-q');
    git('add', '.');
    git('-c', 'user.name=t', '-c', 'user.email=t@e', 'commit', '-qm', 'x');
    const fromGit = await sourceEpoch(dir, {});
    assert.equal(fromGit.seconds, 1600000000);
    assert.match(fromGit.why, /git commit/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('app files: never .git, venvs, __pycache__, .env or dist; .dockerignore then .gantryignore apply', async () => {
  const dir = await tree({
    'app.py': 'print(1)\n',
    'pkg/__init__.py': '',
    'pkg/__pycache__/x.cpython-311.pyc': 'x',
    '.git/HEAD': 'ref',
    '.venv/pyvenv.cfg': 'home = /usr/bin\n',
    'myenv/pyvenv.cfg': 'home = /usr/bin\n',
    'myenv/lib/x.py': '',
    '.env': 'SECRET=1\n',
    'config/.env': 'SECRET=2\n',
    'dist/x.whl': 'w',
    'docs/a.md': 'a',
    'docs/keep.md': 'k',
    'notes.txt': 'n',
    '.dockerignore': 'docs\nnotes.txt\n',
    '.gantryignore': '!docs/keep.md\n',
  });
  try {
    const { filter, ignoreFiles } = await projectFiles(dir, { exclude: ['**/*.md'] });
    assert.deepEqual(ignoreFiles, ['.dockerignore', '.gantryignore']);
    const paths: string[] = [];
    for await (const { entry } of walkDirectory(dir, { filter })) if (entry.type === 'file') paths.push(entry.path);
    assert.deepEqual(paths.sort(), ['.dockerignore', '.gantryignore', 'app.py', 'pkg/__init__.py']);
    const again = await projectFiles(dir);
    const kept: string[] = [];
    for await (const { entry } of walkDirectory(dir, { filter: again.filter }))
      if (entry.type === 'file') kept.push(entry.path);
    assert.ok(kept.includes('docs/keep.md'), '.gantryignore re-includes what .dockerignore left out');
    assert.ok(!kept.includes('docs/a.md'));
    const counted = await countFiles(dir, again.filter);
    assert.equal(counted.files, kept.length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('plan printer: base, layers with counts and sizes, entrypoint, ports, user; -v gives every reason', () => {
  const plan = {
    frontend: 'python',
    base: 'python:3.11-slim',
    platforms: ['linux/amd64'],
    layers: [
      { name: 'dependencies', why: 'requirements.txt' },
      { name: 'application', files: 3, bytes: 2048, why: 'the project files' },
    ],
    entrypoint: ['flask', '--app', 'app', 'run'],
    ports: ['5000/tcp'],
    user: DEFAULT_USER,
    workdir: '/app',
    env: { PYTHONUNBUFFERED: '1' },
    decisions: [
      { topic: 'base', value: 'python:3.11-slim', why: 'the default for python 3.11' },
      { topic: 'entrypoint', value: 'flask', why: 'app.py imports flask' },
    ],
  };
  const text = formatPlan(plan);
  assert.match(text, /^base: {7}python:3\.11-slim {2}\(the default for python 3\.11\)$/m);
  assert.match(text, /2\. application \(3 files, 2\.0 KiB\)/);
  assert.match(text, /^entrypoint: \["flask","--app","app","run"\] {2}\(app\.py imports flask\)$/m);
  assert.doesNotMatch(text, /decisions:/);
  assert.match(formatPlan(plan, { verbose: true }), /decisions:\n {2}base: python:3\.11-slim -- the default/);
});
