// The Python front end's packaging paths (issue 10, item 3): `--wheel` installs a wheel of the
// project itself, built by its own backend from the base, into /opt/venv as its own layer; and
// `--venv` relocates the packed venv's console scripts, whose shebangs name the host path. On the
// Python base (test/harness/python.ts) behind a loopback registry and a docker.io mirror, one
// store for the file so the base is unpacked once.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runInSandbox } from '../../../src/engine/executor/index.js';
import { withImageRoot } from '../../harness/image-root.js';
import { type PythonWorld, pythonBaseImage, pythonWorld } from '../../harness/python.js';
import { makeWheel } from '../../harness/wheels.js';
import { gantry, repoRoot, tool } from '../helpers.js';

let world: PythonWorld;
let tmp: string;
let env: NodeJS.ProcessEnv;
let store: string;

before(async () => {
  world = await pythonWorld('gantry-python-wheel-');
  ({ tmp, env } = world);
  store = await world.seed(join(tmp, 'store'));
});

after(async () => {
  await world?.stop();
});

interface Config {
  config: { Entrypoint: string[]; Cmd?: string[]; Env: string[]; User: string; WorkingDir: string };
  rootfs: { diff_ids: string[] };
  history: { created_by?: string; empty_layer?: boolean }[];
}

async function configOf(name: string): Promise<Config> {
  return JSON.parse(await tool('skopeo', ['inspect', '--config', `oci:${store}:${name}`])) as Config;
}

/** Runs `args` in the unpacked image `rootfs` as the image would; its output lines and exit code. */
async function runIn(rootfs: string, cfg: Config, args: readonly string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const r = await runInSandbox({
    rootfs,
    args,
    env: cfg.config.Env,
    cwd: '/',
    user: cfg.config.User,
    onOutput: (line) => lines.push(line),
  });
  return { code: r.exitCode, lines };
}

function steps(stderr: string): { type: string; id: string; name?: string; cached?: boolean }[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; id: string; name?: string; cached?: boolean });
}

test('--wheel: the console-script example is built by its own backend from the base and installed into /opt/venv as one layer; its script runs; an unchanged rebuild reuses it', async () => {
  const cli = join(repoRoot, 'examples', 'python-cli');
  const plan = await gantry(['build', cli, '--wheel', '--dry-run'], { env });
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /project wheel: pip wheel .*python-cli -> installed into \/opt\/venv \(4 files/);
  assert.match(plan.stdout, /entrypoint: \["\/opt\/venv\/bin\/hello-cli"\]/);

  const build = () => gantry(['build', cli, '--wheel', '-t', 'cli:wheel', '--progress', 'json'], { store, env });
  const first = await build();
  assert.equal(first.code, 0, first.stderr);
  const cfg = await configOf('docker.io/library/cli:wheel');
  assert.deepEqual(cfg.config.Entrypoint, ['/opt/venv/bin/hello-cli']);
  assert.ok(!cfg.config.Env.some((e) => e.startsWith('PYTHONPATH=')), 'the sources are not on the path');
  assert.ok(cfg.config.Env.includes('VIRTUAL_ENV=/opt/venv'));
  assert.match(cfg.history.at(-1)?.created_by ?? '', /pip wheel .* # gantry python --wheel \(setuptools/);
  const fixture = await pythonBaseImage();
  const base = JSON.parse(
    await tool('skopeo', ['inspect', '--config', `oci:${fixture.layoutDir}:${fixture.tag}`]),
  ) as Config;
  assert.equal(
    cfg.rootfs.diff_ids.length,
    base.rootfs.diff_ids.length + 1,
    'the base and the wheel layer, no app layer',
  );

  await withImageRoot(store, 'docker.io/library/cli:wheel', async (out) => {
    const site = join(out, 'opt', 'venv', 'lib', 'python3.11', 'site-packages');
    assert.match(await readFile(join(site, 'hello_cli-0.1.0.dist-info', 'METADATA'), 'utf8'), /^Name: hello-cli$/m);
    assert.match(await readFile(join(site, 'hello_cli-0.1.0.dist-info', 'INSTALLER'), 'utf8'), /pip/);
    assert.equal(
      (await readFile(join(out, 'opt', 'venv', 'bin', 'hello-cli'), 'utf8')).split('\n')[0],
      '#!/opt/venv/bin/python',
    );
    assert.ok(!existsSync(join(out, 'app')), 'no copy of the sources in /app');
    const ran = await runIn(out, cfg, [...cfg.config.Entrypoint, ...(cfg.config.Cmd ?? [])]);
    assert.equal(ran.code, 0, ran.lines.join('\n'));
    assert.deepEqual(ran.lines, ['hello, world']);
  });

  const again = await build();
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout, first.stdout, 'same source, same digest');
  const events = steps(again.stderr);
  const wheel = events.find((e) => e.type === 'start' && e.name?.startsWith('pip wheel the project'));
  assert.ok(wheel, again.stderr);
  assert.ok(
    events.some((e) => e.type === 'done' && e.id === wheel.id && e.cached === true),
    'the wheel step is cached',
  );
});

test('--wheel is refused for a project that is no package, for a base without its build backend (named, with what to do), and with --venv', async () => {
  const plain = join(tmp, 'plain');
  await mkdir(plain);
  await writeFile(join(plain, 'requirements.txt'), 'flask\n');
  await writeFile(join(plain, 'app.py'), 'print("hi")\n');
  const notPackage = await gantry(['build', plain, '--wheel', '--dry-run'], { env });
  assert.equal(notPackage.code, 1, notPackage.stderr);
  assert.match(notPackage.stderr, /--wheel: .*plain is not a Python package/);
  assert.match(notPackage.stderr, /pyproject\.toml with \[build-system\] or \[project\], setup\.py or setup\.cfg/);

  const withVenv = await gantry(['build', plain, '--wheel', '--venv', tmp, '--dry-run'], { env });
  assert.equal(withVenv.code, 2, withVenv.stderr);
  assert.match(withVenv.stderr, /--wheel and --venv contradict each other/);

  // hatchling is not in the base (Debian's python3-pip brings setuptools and wheel only).
  const hatch = join(tmp, 'hatch-project');
  await mkdir(join(hatch, 'hatch_demo'), { recursive: true });
  await writeFile(
    join(hatch, 'pyproject.toml'),
    '[build-system]\nrequires = ["hatchling>=1.12"]\nbuild-backend = "hatchling.build"\n\n[project]\nname = "hatch-demo"\nversion = "1.0"\n',
  );
  await writeFile(join(hatch, 'hatch_demo', '__init__.py'), '');
  await writeFile(join(hatch, 'hatch_demo', '__main__.py'), 'print("demo")\n');
  const missing = await gantry(['build', hatch, '--wheel', '-t', 'hatch:1'], { store, env });
  assert.notEqual(missing.code, 0, missing.stderr);
  assert.match(
    missing.stderr,
    /--wheel: the base image has no build backend hatchling\.build \(pyproject\.toml \[build-system\] needs hatchling>=1\.12\) for linux\/amd64/,
  );
  assert.match(missing.stderr, /use a base with hatchling>=1\.12 installed .*or build without --wheel/);
  const listed = await gantry(['images'], { store, env });
  assert.doesNotMatch(listed.stdout, /hatch/, 'no image is named after a failed build');
});

test('--venv: console scripts and activate scripts that name the host venv are rewritten to /opt/venv; the script runs in the image; the host venv is untouched', async () => {
  const wheels = join(tmp, 'wheels');
  await mkdir(wheels);
  const whl = await makeWheel(
    wheels,
    'greeter',
    '1.0',
    'greeter',
    'def main():\n    print("greetings from the venv")\n',
    {
      greet: 'greeter:main',
    },
  );
  const venv = join(tmp, 'host-venv');
  execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', '--system-site-packages', venv]);
  // The host's own pip writes the console script, with its host shebang, as a user's venv has it.
  execFileSync(
    join(venv, 'bin', 'python'),
    ['-m', 'pip', 'install', '--no-index', '--no-deps', '--no-compile', '--disable-pip-version-check', whl],
    {
      env: { ...process.env, PIP_CONFIG_FILE: '/dev/null' },
    },
  );
  const script = join(venv, 'bin', 'greet');
  const hostScript = await readFile(script, 'utf8');
  assert.equal(hostScript.split('\n')[0], `#!${venv}/bin/python`, 'pip wrote the host path (the case to fix)');

  const project = join(tmp, 'venv-project');
  await mkdir(project);
  await writeFile(join(project, 'requirements.txt'), '# the packed venv has them\n');
  await writeFile(join(project, 'main.py'), 'from greeter import main\nmain()\n');
  const r = await gantry(['build', project, '--venv', venv, '-t', 'venv:1'], { store, env });
  assert.equal(r.code, 0, r.stderr);
  const cfg = await configOf('docker.io/library/venv:1');
  await withImageRoot(store, 'docker.io/library/venv:1', async (out) => {
    const packed = await readFile(join(out, 'opt', 'venv', 'bin', 'greet'), 'utf8');
    assert.equal(packed, hostScript.replace(`#!${venv}/bin/python`, '#!/opt/venv/bin/python'));
    assert.match(await readFile(join(out, 'opt', 'venv', 'bin', 'activate'), 'utf8'), /^VIRTUAL_ENV="?\/opt\/venv"?$/m);
    const grep = spawnSync('grep', ['-rlF', venv, join(out, 'opt', 'venv', 'bin')], { encoding: 'utf8' });
    assert.equal(grep.status, 1, `no file in bin/ names the host venv: ${grep.stdout}`);
    const ran = await runIn(out, cfg, ['/opt/venv/bin/greet']);
    assert.equal(ran.code, 0, ran.lines.join('\n'));
    assert.deepEqual(ran.lines, ['greetings from the venv']);
  });
  assert.equal(await readFile(script, 'utf8'), hostScript, 'the host venv is not changed');
});
