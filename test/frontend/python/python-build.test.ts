// The Python front end end to end (issue 10), on a real Python base (Debian's python3, pip and
// the frameworks, test/harness/python.ts) served by a loopback registry as library/python:3.11-slim
// and reached through a registries.toml mirror of docker.io, as a user's default base would be.
// Wheels are made locally (test/harness/wheels.ts): there is no PyPI here. One registry, one base
// and one store for the whole file (the base is pulled and extracted once; the base fixture is
// cached across runs); the images run from that store (test/harness/image-root.ts), not from an
// `-o type=local` copy of their ~300 MB of files (the local exporter has its tests in test/cli).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runInSandbox } from '../../../src/engine/executor/index.js';
import { withImageRoot } from '../../harness/image-root.js';
import { httpGet, type PythonWorld, pythonWorld } from '../../harness/python.js';
import { freePort } from '../../harness/run.js';
import { makeWheel, startSimpleIndex } from '../../harness/wheels.js';
import { gantry, repoRoot, tool } from '../helpers.js';

let world: PythonWorld;
let tmp: string;
let env: NodeJS.ProcessEnv;
let wheels: string;
/** The store every example and project is built into (a test that needs an empty one says so). */
let store: string;

before(async () => {
  // No PIP_* settings from the machine: every index setting in these builds is the test's own.
  world = await pythonWorld('gantry-python-');
  ({ tmp, env } = world);
  // The base's layers from the machine's layer cache; store-b below stays empty (a fresh store's digest).
  store = await world.seed(join(tmp, 'store'));
  wheels = join(tmp, 'wheels');
  await mkdir(wheels);
  await makeWheel(wheels, 'gantry-greeting', '1.0', 'gantry_greeting', 'def greet():\n    return "hi from a wheel"\n');
});

after(async () => {
  await world?.stop();
});

interface Config {
  config: {
    Entrypoint: string[];
    Env: string[];
    User: string;
    ExposedPorts?: Record<string, object>;
    WorkingDir: string;
  };
  rootfs: { diff_ids: string[] };
  history: { created_by?: string }[];
}

/** Runs the image's entrypoint (its port swapped for a free one) in the sandbox and asks it over HTTP. */
async function answer(rootfs: string, cfg: Config, port: string): Promise<string> {
  const free = String(await freePort());
  const args = cfg.config.Entrypoint.map((a) => a.replace(port, free));
  const ac = new AbortController();
  const running = runInSandbox({
    rootfs,
    args,
    env: cfg.config.Env,
    cwd: cfg.config.WorkingDir,
    user: cfg.config.User,
    network: 'host',
    signal: ac.signal,
  }).catch(() => undefined);
  try {
    for (let i = 0; i < 150; i++) {
      try {
        return await httpGet(Number(free));
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`no answer from ${args.join(' ')}`);
  } finally {
    ac.abort();
    await running;
  }
}

/** Runs the image `name` of the shared store as `answer` does, from the store (no copy of its files). */
function run(name: string, cfg: Config, port: string): Promise<string> {
  return withImageRoot(store, name, (rootfs) => answer(rootfs, cfg, port));
}

async function configOf(store: string, name: string): Promise<Config> {
  return JSON.parse(await tool('skopeo', ['inspect', '--config', `oci:${store}:${name}`])) as Config;
}

async function layersOf(store: string, name: string): Promise<string[]> {
  const m = JSON.parse(await tool('skopeo', ['inspect', '--raw', `oci:${store}:${name}`])) as {
    layers: { digest: string }[];
  };
  return m.layers.map((l) => l.digest);
}

test('flask example: python:3.11-slim through the docker.io mirror, builds, runs as non-root, answers', async () => {
  const r = await gantry(['build', join(repoRoot, 'examples', 'python-flask'), '-t', 'flask:1'], { store, env });
  assert.equal(r.code, 0, r.stderr);
  const cfg = await configOf(store, 'docker.io/library/flask:1');
  assert.deepEqual(cfg.config.Entrypoint, [
    'python3',
    '-m',
    'flask',
    '--app',
    'app:app',
    'run',
    '--host',
    '0.0.0.0',
    '--port',
    '5000',
  ]);
  assert.equal(cfg.config.User, '65532:65532');
  assert.deepEqual(Object.keys(cfg.config.ExposedPorts ?? {}), ['5000/tcp']);
  assert.ok(cfg.config.Env.includes('PYTHONUNBUFFERED=1'));
  assert.ok(cfg.config.Env.some((e) => e.startsWith('PATH=/opt/venv/bin:')));
  assert.match(await run('docker.io/library/flask:1', cfg, '5000'), /hello from flask/);
});

test('django example: manage.py and hello/wsgi.py, gunicorn (a requirement) on 8000, answers', async () => {
  const r = await gantry(['build', join(repoRoot, 'examples', 'python-django'), '-t', 'dj:1'], { store, env });
  assert.equal(r.code, 0, r.stderr);
  const cfg = await configOf(store, 'docker.io/library/dj:1');
  assert.deepEqual(cfg.config.Entrypoint, ['python3', '-m', 'gunicorn', '--bind', '0.0.0.0:8000', 'hello.wsgi']);
  assert.deepEqual(Object.keys(cfg.config.ExposedPorts ?? {}), ['8000/tcp']);
  assert.match(await run('docker.io/library/dj:1', cfg, '8000'), /hello from django/);
});

// Debian's fastapi 0.92 declares a starlette older than the one Debian ships, so pip (without
// PyPI) cannot resolve it here: --no-deps builds on the base's own fastapi and uvicorn.
test('fastapi example with --no-deps: the base packages, uvicorn on 8000, answers', async () => {
  const r = await gantry(['build', join(repoRoot, 'examples', 'python-fastapi'), '--no-deps', '-t', 'api:1'], {
    store,
    env,
  });
  assert.equal(r.code, 0, r.stderr);
  const cfg = await configOf(store, 'docker.io/library/api:1');
  assert.deepEqual(cfg.config.Entrypoint, [
    'python3',
    '-m',
    'uvicorn',
    'main:api',
    '--host',
    '0.0.0.0',
    '--port',
    '8000',
  ]);
  assert.match(await run('docker.io/library/api:1', cfg, '8000'), /hello from fastapi/);
});

test('console-script example: src layout, no dependency layer, runs its script with the configured cmd', async () => {
  const r = await gantry(['build', join(repoRoot, 'examples', 'python-cli'), '-t', 'cli:1'], { store, env });
  assert.equal(r.code, 0, r.stderr);
  const cfg = (await configOf(store, 'docker.io/library/cli:1')) as Config & { config: { Cmd: string[] } };
  assert.deepEqual(cfg.config.Cmd, ['world']);
  assert.equal(cfg.rootfs.diff_ids.length, 2, 'the base and the app layer');
  const lines: string[] = [];
  const result = await withImageRoot(store, 'docker.io/library/cli:1', (rootfs) =>
    runInSandbox({
      rootfs,
      args: [...cfg.config.Entrypoint, ...cfg.config.Cmd],
      env: cfg.config.Env,
      cwd: cfg.config.WorkingDir,
      user: cfg.config.User,
      onOutput: (line) => lines.push(line),
    }),
  );
  assert.equal(result.exitCode, 0, lines.join('\n'));
  assert.deepEqual(lines, ['hello, world']);
});

async function wheelProject(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'requirements.txt'), 'gantry-greeting==1.0\nflask\n');
  await writeFile(
    join(dir, 'app.py'),
    'from flask import Flask\nfrom gantry_greeting import greet\n\napp = Flask(__name__)\n\n\n@app.get("/")\ndef index():\n    return greet()\n',
  );
}

test('dependency layer: installed from --find-links, reused across an app change; same digest on two stores', async () => {
  const project = join(tmp, 'wheel-app');
  await wheelProject(project);
  const build = (store: string, extra: string[] = []) =>
    gantry(['build', project, '-t', 'w:1', '--find-links', wheels, '--progress', 'json', ...extra], {
      store,
      env: { ...env, PIP_NO_INDEX: '1' },
    });
  const a = store;
  const first = await build(a);
  assert.equal(first.code, 0, first.stderr);
  const layers1 = await layersOf(a, 'docker.io/library/w:1');
  const cfg = await configOf(a, 'docker.io/library/w:1');
  const answered = await withImageRoot(a, 'docker.io/library/w:1', async (rootfs) => {
    const dist = execFileSync('find', [join(rootfs, 'opt', 'venv'), '-name', 'gantry_greeting-1.0.dist-info']);
    assert.match(
      dist.toString(),
      /site-packages\/gantry_greeting-1\.0\.dist-info/,
      'the installed dist-info is in the image (for the SBOM)',
    );
    return answer(rootfs, cfg, '5000');
  });
  assert.match(answered, /hi from a wheel/);

  // Same source on a second, empty store: the same digest (pip's layer included).
  const b = join(tmp, 'store-b');
  const second = await build(b);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, first.stdout, 'same source, same digest on two stores');

  // An app-code change: the dependency step is a cache hit, only the app layer is new.
  await writeFile(join(project, 'app.py'), `${await readFile(join(project, 'app.py'), 'utf8')}# changed\n`);
  const third = await build(a);
  assert.equal(third.code, 0, third.stderr);
  const events = third.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; name?: string; id: string; cached?: boolean });
  const pip = events.find((e) => e.type === 'start' && e.name?.startsWith('pip install'));
  assert.ok(pip, third.stderr);
  assert.ok(
    events.some((e) => e.type === 'done' && e.id === pip.id && e.cached === true),
    'the dependency step is cached',
  );
  const layers3 = await layersOf(a, 'docker.io/library/w:1');
  assert.equal(layers3.length, layers1.length);
  assert.deepEqual(layers3.slice(0, -1), layers1.slice(0, -1), 'base and dependency layers unchanged');
  assert.notEqual(layers3.at(-1), layers1.at(-1), 'the app layer changed');

  // --no-cache runs the dependency step again (as buildx's does every step); pip writes the same
  // files, so the image is the same.
  const fourth = await build(a, ['--no-cache']);
  assert.equal(fourth.code, 0, fourth.stderr);
  const again = fourth.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; name?: string; id: string; cached?: boolean });
  const pip4 = again.find((e) => e.type === 'start' && e.name?.startsWith('pip install'));
  assert.ok(pip4, fourth.stderr);
  assert.ok(
    again.some((e) => e.type === 'done' && e.id === pip4.id && e.cached !== true),
    'with --no-cache the dependency step ran',
  );
  assert.equal(fourth.stdout, third.stdout, 'the same image');
});

test('--venv packs an existing venv at /opt/venv (nothing installed) and it runs; a venv for another Python or architecture is refused', async () => {
  const project = join(tmp, 'venv-app');
  await wheelProject(project);
  const venv = join(tmp, 'host-venv');
  execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', '--system-site-packages', venv]);
  const site = join(venv, 'lib', 'python3.11', 'site-packages');
  execFileSync('/usr/bin/python3', [
    '-c',
    'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])',
    join(wheels, 'gantry_greeting-1.0-py3-none-any.whl'),
    site,
  ]);
  const r = await gantry(['build', project, '--venv', venv, '-t', 'v:1', '--progress', 'json'], { store, env });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /pip install/, 'nothing is installed');
  const cfg = await configOf(store, 'docker.io/library/v:1');
  assert.ok(cfg.history.some((h) => h.created_by?.includes('--venv')));
  assert.match(await run('docker.io/library/v:1', cfg, '5000'), /hi from a wheel/);

  // An arm64 extension module in the venv: refused for linux/amd64, before any work.
  const elf = Buffer.alloc(64);
  elf.write('\x7fELF', 0, 'latin1');
  elf[4] = 2; // 64-bit
  elf[5] = 1; // little-endian
  elf.writeUInt16LE(0xb7, 18); // EM_AARCH64
  await writeFile(join(site, '_fast.cpython-311-aarch64-linux-gnu.so'), elf);
  const arm = await gantry(['build', project, '--venv', venv, '--platform', 'linux/amd64', '--dry-run'], {
    store,
    env,
  });
  assert.equal(arm.code, 1, arm.stderr);
  assert.match(
    arm.stderr,
    /--venv .* holds arm64 binaries \(lib\/python3\.11\/site-packages\/_fast\..*\.so\), the target is linux\/amd64/,
  );
  await rm(join(site, '_fast.cpython-311-aarch64-linux-gnu.so'));
  await writeFile(join(venv, 'pyvenv.cfg'), 'home = /usr/bin\nversion = 3.12.1\n');
  const py = await gantry(['build', project, '--venv', venv, '--dry-run'], { store, env });
  assert.notEqual(py.code, 0);
  assert.match(py.stderr, /is Python 3\.12\.1, the image runs Python 3\.11/);
});

test('index credentials (URL user info, netrc secret) and the CA secret never land in a layer or the config', async () => {
  const index = await startSimpleIndex(wheels, { user: 'ci', password: 'hunter2-url-secret' });
  const netrcIndex = await startSimpleIndex(wheels, { user: 'bot', password: 'netrc-secret-77' });
  try {
    const project = join(tmp, 'cred-app');
    await wheelProject(project);
    const r = await gantry(['build', project, '-t', 'c:1', '--index-url', index.url], { store, env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      index.requests.some((q) => q.endsWith(' true')),
      'pip used the index with the credentials',
    );

    const netrc = join(tmp, 'netrc');
    await writeFile(netrc, `machine 127.0.0.1 login bot password netrc-secret-77\n`);
    const ca = join(tmp, 'ca.pem');
    await writeFile(ca, await readFile('/etc/ssl/certs/ca-certificates.crt'));
    const project2 = join(tmp, 'cred-app-2');
    await wheelProject(project2);
    await writeFile(join(project2, 'requirements.txt'), 'gantry-greeting\nflask\n');
    const r2 = await gantry(
      [
        'build',
        project2,
        '-t',
        'c:2',
        '--index-url',
        netrcIndex.plainUrl,
        '--secret',
        `id=netrc,src=${netrc}`,
        '--secret',
        `id=ca,src=${ca}`,
      ],
      { store, env },
    );
    assert.equal(r2.code, 0, r2.stderr);
    assert.ok(
      netrcIndex.requests.some((q) => q.endsWith(' true')),
      'pip authenticated with the netrc secret',
    );
    for (const name of ['docker.io/library/c:1', 'docker.io/library/c:2']) {
      const config = await tool('skopeo', ['inspect', '--config', `oci:${store}:${name}`]);
      for (const secret of ['hunter2-url-secret', 'netrc-secret-77'])
        assert.ok(!config.includes(secret), `${secret} is not in the config or history of ${name}`);
      const layers = await layersOf(store, name);
      for (const digest of layers.slice(1)) {
        const blob = join(store, 'blobs', 'sha256', digest.replace('sha256:', ''));
        const text = execFileSync('sh', ['-c', `zcat '${blob}' | strings`], {
          maxBuffer: 256 * 1024 * 1024,
        }).toString();
        assert.ok(!text.includes('hunter2-url-secret'), `the URL password is not in layer ${digest}`);
        assert.ok(!text.includes('netrc-secret-77'), `the netrc password is not in layer ${digest}`);
        assert.ok(!text.includes('BEGIN CERTIFICATE'), `the CA is not in layer ${digest}`);
      }
    }
  } finally {
    await index.stop();
    await netrcIndex.stop();
  }
});

test('--dry-run prints the plan without building; bad config names file and key (exit non-zero)', async () => {
  const r = await gantry(['build', join(repoRoot, 'examples', 'python-fastapi'), '--dry-run', '-v'], { store, env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^base: {7}python:3\.11-slim {2}\(the default for python 3\.11 \(requires-python >=3\.9 allows it\)\)$/m,
  );
  assert.match(r.stdout, /main\.py imports fastapi and makes api = FastAPI\(\)/);
  assert.match(r.stdout, /2\. application: .* \(3 files, /);
  const cli = await gantry(['build', join(repoRoot, 'examples', 'python-cli'), '--dry-run'], { store, env });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(
    cli.stdout,
    /^entrypoint: \["python3","-c","import sys; from hello_cli\.main import run; sys\.exit\(run\(\)\)"\]/m,
  );
  assert.match(cli.stdout, /^cmd: {8}\["world"\]$/m);
  assert.match(cli.stdout, /PYTHONPATH=\/app\/src:\/app/);
  assert.doesNotMatch(cli.stdout, /dependencies:/);
  const bad = join(tmp, 'bad-config');
  await cp(join(repoRoot, 'examples', 'python-flask'), bad, { recursive: true });
  await writeFile(join(bad, 'gantry.toml'), 'ports = ["http"]\nentrypont = ["x"]\n');
  const e = await gantry(['build', bad, '--dry-run'], { store, env });
  assert.notEqual(e.code, 0);
  assert.match(e.stderr, /gantry\.toml: unknown key "entrypont".*allowed keys: tags, base/s);
});
