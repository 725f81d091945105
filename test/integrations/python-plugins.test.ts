// The Python toolchain integrations (issue 10 item 9): the Hatch `image` build target and
// `gantry` build hook (integrations/python/hatch) and the Poetry `build-image` command
// (integrations/python/poetry), run for real by Debian's hatchling and poetry (python3-hatchling,
// python3-poetry, installed by scripts/setup-test-deps.mjs) on small example projects. The plugins
// are built with hatchling's own PEP 517 hook and unpacked into one site directory on PYTHONPATH
// (a pure-Python wheel install is an unzip), so each tool finds them through its entry points as
// it would after `pip install`. They call the real gantry CLI; the base is the busybox fixture in
// the store, so no Python base or registry is needed to check that the image was built.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gantryBin, repoRoot, run, tool } from '../cli/helpers.js';
import { busyboxStore, writeTree } from '../frontend/helpers.js';

const PYTHON = '/usr/bin/python3';
const plugins = join(repoRoot, 'integrations', 'python');
let tmp: string;
let store: string;
let env: NodeJS.ProcessEnv;

// Builds each plugin's wheel with hatchling's build_wheel and unzips it into SITE.
const INSTALL = `
import os, sys, tempfile, zipfile
from hatchling.build import build_wheel
site = sys.argv[1]
for src in sys.argv[2:]:
    out = tempfile.mkdtemp()
    os.chdir(src)
    name = build_wheel(out)
    zipfile.ZipFile(os.path.join(out, name)).extractall(site)
`;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'gantry-pyplugins-'));
  store = await busyboxStore(tmp);
  const site = join(tmp, 'site');
  await tool(PYTHON, ['-c', INSTALL, site, join(plugins, 'hatch'), join(plugins, 'poetry')]);
  const home = join(tmp, 'home');
  await mkdir(home);
  env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    PYTHONPATH: site,
    PYTHONDONTWRITEBYTECODE: '1',
    PIP_CONFIG_FILE: '/dev/null',
    GANTRY: `${process.execPath} ${gantryBin}`,
    GANTRY_STORE: store,
  };
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function exec(cmd: string, args: readonly string[], cwd: string) {
  return run('env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), cmd, ...args], { cwd });
}

interface Config {
  config: { Entrypoint?: string[]; WorkingDir?: string };
}

const MAIN = 'print("hello")\n';

test('hatch: `hatchling build -t image` writes an OCI archive; the wheel hook builds an OCI layout', async () => {
  const project = join(tmp, 'hello-hatch');
  await writeTree(project, {
    'pyproject.toml': [
      '[build-system]',
      'requires = ["hatchling", "hatch-gantry"]',
      'build-backend = "hatchling.build"',
      '',
      '[project]',
      'name = "hello-hatch"',
      'version = "1.2.0"',
      '',
      '[tool.gantry]',
      'base = "busybox:1"',
      '',
      '[tool.hatch.build.targets.wheel.hooks.gantry]',
      'outputs = ["type=oci,dest=dist/image,tar=false"]',
      '',
    ].join('\n'),
    'hello_hatch/__init__.py': '',
    'hello_hatch/__main__.py': MAIN,
  });
  const target = await exec(PYTHON, ['-m', 'hatchling', 'build', '-t', 'image'], project);
  assert.equal(target.code, 0, target.stderr + target.stdout);
  assert.match(target.stdout, /^gantry build \S*hello-hatch -t hello-hatch:1\.2\.0 -o type=oci,dest=\S*-image\.tar$/m);
  const archive = join(project, 'dist', 'hello_hatch-1.2.0-image.tar');
  const cfg = JSON.parse(await tool('skopeo', ['inspect', '--config', `oci-archive:${archive}`])) as Config;
  assert.deepEqual(cfg.config.Entrypoint, ['python3', '-m', 'hello_hatch']);

  const wheel = await exec(PYTHON, ['-m', 'hatchling', 'build', '-t', 'wheel'], project);
  assert.equal(wheel.code, 0, wheel.stderr + wheel.stdout);
  await readFile(join(project, 'dist', 'hello_hatch-1.2.0-py2.py3-none-any.whl'));
  const layout = JSON.parse(await tool('skopeo', ['inspect', '--config', `oci:${join(project, 'dist', 'image')}`]));
  assert.deepEqual((layout as Config).config.Entrypoint, ['python3', '-m', 'hello_hatch']);
});

test('poetry: `poetry build-image` takes tags from [tool.gantry] and builds; a gantry failure fails the command', async () => {
  const project = join(tmp, 'hello-poetry');
  const pyproject = [
    '[tool.poetry]',
    'name = "hello-poetry"',
    'version = "0.3.0"',
    'description = "a poetry project"',
    'authors = ["Gantry Tests <tests@example.invalid>"]',
    'packages = [{ include = "hello_poetry" }]',
    '',
    '[tool.poetry.dependencies]',
    'python = "^3.9"',
    '',
    '[tool.gantry]',
    'base = "busybox:1"',
    'tags = ["hello-poetry:from-config"]',
    '',
    '[build-system]',
    'requires = ["poetry-core"]',
    'build-backend = "poetry.core.masonry.api"',
    '',
  ].join('\n');
  await writeTree(project, {
    'pyproject.toml': pyproject,
    'hello_poetry/__init__.py': '',
    'hello_poetry/__main__.py': MAIN,
  });
  const r = await exec('/usr/bin/poetry', ['build-image', '--no-interaction'], project);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /^gantry build \S*hello-poetry -t hello-poetry:from-config -o type=oci,dest=\S*-image\.tar$/m);
  const archive = join(project, 'dist', 'hello-poetry-0.3.0-image.tar');
  const cfg = JSON.parse(await tool('skopeo', ['inspect', '--config', `oci-archive:${archive}`])) as Config;
  assert.deepEqual(cfg.config.Entrypoint, ['python3', '-m', 'hello_poetry']);
  assert.equal(cfg.config.WorkingDir, '/app');

  await writeFile(join(project, 'pyproject.toml'), pyproject.replace('base = "busybox:1"', 'bsae = "busybox:1"'));
  const bad = await exec('/usr/bin/poetry', ['build-image', '--no-interaction'], project);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unknown key "bsae"/);
  assert.match(bad.stderr + bad.stdout, /gantry build failed \(exit 1\)/);
});

test('the two plugins ship the same command builder (each package installs alone)', async () => {
  const read = (p: string) => readFile(join(plugins, p, 'src', `${p}_gantry`, 'command.py'), 'utf8');
  assert.equal(await read('poetry'), await read('hatch'));
});
