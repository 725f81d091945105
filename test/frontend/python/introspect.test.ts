// Reading a Python project without running Python (issue 10, item 1 and 4): requirements files
// (-r, -c, markers, hashes, index options), pyproject.toml (PEP 621, Poetry), lock files (the
// pinned set wins), the Python version, and the entrypoint rules in their order.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import {
  allows,
  chooseEntrypoint,
  poetrySpecifier,
  pythonVersion,
  readPythonProject,
  readRequirements,
} from '../../../src/frontend/python/index.js';

async function withTree(files: Record<string, string>, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-py-'));
  try {
    for (const [rel, body] of Object.entries(files)) {
      await mkdir(dirname(join(dir, rel)), { recursive: true });
      await writeFile(join(dir, rel), body);
    }
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('requirements: -r and -c followed, markers and hashes kept, index options lifted out, -e refused', async () => {
  await withTree(
    {
      'requirements.txt': [
        '# web',
        '-r base.txt',
        '-c constraints.txt',
        '--index-url https://pypi.example/simple',
        '--extra-index-url=https://extra.example/simple',
        '-f ./wheels',
        'requests>=2 ; python_version >= "3.8"  # http',
        'attrs==23.1.0 \\',
        '    --hash=sha256:aaaa',
      ].join('\n'),
      'base.txt': 'Flask_Login==0.6\n',
      'constraints.txt': 'urllib3<2\n',
    },
    async (dir) => {
      const set = await readRequirements(join(dir, 'requirements.txt'), dir);
      assert.deepEqual(
        set.requirements.map((r) => r.line),
        ['Flask_Login==0.6', 'requests>=2 ; python_version >= "3.8"', 'attrs==23.1.0      --hash=sha256:aaaa'],
      );
      assert.deepEqual(
        set.requirements.map((r) => r.name),
        ['flask-login', 'requests', 'attrs'],
      );
      assert.equal(set.requirements[0]?.source, 'base.txt:1');
      assert.deepEqual(
        set.constraints.map((r) => r.line),
        ['urllib3<2'],
      );
      assert.equal(set.indexUrl, 'https://pypi.example/simple');
      assert.deepEqual(set.extraIndexUrls, ['https://extra.example/simple']);
      assert.deepEqual(set.findLinks, ['wheels']);
      assert.deepEqual(set.files, ['requirements.txt', 'base.txt', 'constraints.txt']);
    },
  );
  await withTree({ 'requirements.txt': '-e .\n' }, async (dir) => {
    await assert.rejects(readRequirements(join(dir, 'requirements.txt'), dir), /requirements\.txt:1: editable/);
  });
  await withTree({ 'requirements.txt': '-r requirements.txt\n' }, async (dir) => {
    await assert.rejects(readRequirements(join(dir, 'requirements.txt'), dir), /includes itself/);
  });
});

test('pyproject: PEP 621 and Poetry tables; a lock file pins what is installed', async () => {
  await withTree(
    {
      'pyproject.toml': [
        '[project]',
        'name = "svc"',
        'version = "1.2.3"',
        'requires-python = ">=3.10,<3.13"',
        'dependencies = ["fastapi>=0.100", "uvicorn[standard]"]',
        '[project.scripts]',
        'svc = "svc.cli:main"',
      ].join('\n'),
      'src/svc/__init__.py': '',
    },
    async (dir) => {
      const p = await readPythonProject(dir);
      assert.equal(p.name, 'svc');
      assert.equal(p.version, '1.2.3');
      assert.equal(p.requiresPython, '>=3.10,<3.13');
      assert.deepEqual(p.dependencies, ['fastapi>=0.100', 'uvicorn[standard]']);
      assert.equal(p.dependencySource, 'pyproject.toml [project]');
      assert.ok(p.srcLayout);
      assert.deepEqual(p.scripts, { svc: 'svc.cli:main' });
    },
  );
  await withTree(
    {
      'pyproject.toml': [
        '[tool.poetry]',
        'name = "po"',
        'version = "0.1.0"',
        '[tool.poetry.dependencies]',
        'python = "^3.11"',
        'requests = "^2.31"',
        'rich = { version = "~13.7", extras = ["jupyter"] }',
        'maybe = { version = "*", optional = true }',
      ].join('\n'),
    },
    async (dir) => {
      const p = await readPythonProject(dir);
      assert.equal(p.name, 'po');
      assert.equal(p.requiresPython, '>=3.11,<4.0');
      assert.deepEqual(p.dependencies, ['requests>=2.31,<3.0', 'rich[jupyter]>=13.7,<13.8']);
    },
  );
  for (const [file, body, pins] of [
    [
      'uv.lock',
      'version = 1\n[[package]]\nname = "app"\nversion = "0.1"\nsource = { editable = "." }\n[[package]]\nname = "idna"\nversion = "3.6"\nsource = { registry = "https://pypi.org/simple" }\n',
      ['idna==3.6'],
    ],
    [
      'poetry.lock',
      '[[package]]\nname = "idna"\nversion = "3.6"\ncategory = "main"\n[[package]]\nname = "pytest"\nversion = "8.0"\ncategory = "dev"\n',
      ['idna==3.6'],
    ],
    ['pdm.lock', '[[package]]\nname = "idna"\nversion = "3.6"\ngroups = ["default"]\n', ['idna==3.6']],
    [
      'Pipfile.lock',
      JSON.stringify({ default: { idna: { version: '==3.6' } }, develop: { pytest: { version: '==8' } } }),
      ['idna==3.6'],
    ],
  ] as const) {
    await withTree({ 'requirements.txt': 'idna\n', [file]: body }, async (dir) => {
      const p = await readPythonProject(dir);
      assert.deepEqual(p.dependencies, pins, file);
      assert.equal(p.dependencySource, file);
    });
  }
});

test('python version: config, then .python-version, then what requires-python allows (3.11 preferred)', () => {
  assert.equal(poetrySpecifier('^0.2.1'), '>=0.2.1,<0.3');
  assert.ok(allows('>=3.9', '3.11'));
  assert.ok(!allows('<3.11', '3.11'));
  assert.ok(allows('~=3.12', '3.13'));
  assert.ok(allows('==3.12.*', '3.12'));
  assert.equal(pythonVersion({ configured: '3.12.1', pinned: '3.10' }).value, '3.12');
  assert.equal(pythonVersion({ pinned: '3.10.4', requiresPython: '>=3.8' }).value, '3.10');
  assert.equal(pythonVersion({ requiresPython: '>=3.8' }).value, '3.11');
  assert.equal(pythonVersion({ requiresPython: '>=3.12' }).value, '3.13');
  assert.equal(pythonVersion({ requiresPython: '<3.11,>=3.8' }).value, '3.10');
  assert.throws(() => pythonVersion({ requiresPython: '>=4' }), /allows none/);
});

test('entrypoint: scripts, then __main__, then frameworks from imports (not names), then app.py', async () => {
  const empty = {
    scripts: {},
    dependencies: [],
    constraints: [],
    dependencyNames: new Set<string>(),
    dependencyFiles: [],
    index: { extraIndexUrls: [], findLinks: [], noIndex: false },
    srcLayout: false,
  };
  await withTree({ 'cli.py': '', 'app.py': 'from flask import Flask\napp = Flask(__name__)\n' }, async (dir) => {
    const e = await chooseEntrypoint(dir, { ...empty, name: 'x', scripts: { x: 'cli:main' } });
    assert.deepEqual(e.entrypoint, ['python3', '-c', 'import sys; from cli import main; sys.exit(main())']);
  });
  await withTree(
    { 'tool/__init__.py': '', 'tool/__main__.py': '', 'app.py': 'from flask import Flask\napp = Flask(__name__)\n' },
    async (dir) => {
      assert.deepEqual((await chooseEntrypoint(dir, empty)).entrypoint, ['python3', '-m', 'tool']);
    },
  );
  await withTree({ 'web/server.py': 'import flask\n\nsite = flask.Flask(__name__)\n' }, async (dir) => {
    const plain = await chooseEntrypoint(dir, empty);
    assert.deepEqual(plain.entrypoint, [
      'python3',
      '-m',
      'flask',
      '--app',
      'web.server:site',
      'run',
      '--host',
      '0.0.0.0',
      '--port',
      '5000',
    ]);
    assert.deepEqual(plain.ports, ['5000/tcp']);
    const g = await chooseEntrypoint(dir, { ...empty, dependencyNames: new Set(['gunicorn']) });
    assert.deepEqual(g.entrypoint, ['python3', '-m', 'gunicorn', '--bind', '0.0.0.0:5000', 'web.server:site']);
  });
  // Named fastapi.py but never imports it: not a FastAPI app. main.py is the fallback.
  await withTree({ 'fastapi_notes.py': 'app = FastAPI()\n', 'main.py': 'print(1)\n' }, async (dir) => {
    assert.deepEqual((await chooseEntrypoint(dir, empty)).entrypoint, ['python3', 'main.py']);
  });
  await withTree(
    {
      'manage.py': 'import django\nfrom django.core.management import execute_from_command_line\n',
      'site1/wsgi.py': 'from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n',
    },
    async (dir) => {
      assert.deepEqual((await chooseEntrypoint(dir, empty)).entrypoint, [
        'python3',
        'manage.py',
        'runserver',
        '0.0.0.0:8000',
      ]);
      const g = await chooseEntrypoint(dir, { ...empty, dependencyNames: new Set(['gunicorn']) });
      assert.deepEqual(g.entrypoint, ['python3', '-m', 'gunicorn', '--bind', '0.0.0.0:8000', 'site1.wsgi']);
    },
  );
  await withTree({ 'lib.py': '' }, async (dir) => {
    await assert.rejects(chooseEntrypoint(dir, empty), /cannot tell how to start/);
  });
});
