// The Python front end on a distroless-style base (issue 10, item 2: "Distroless and shell-less
// bases work"): a base with Debian's /usr/bin/python3.11 and its standard library but no shell,
// no pip and no python3 on PATH (test/harness/python.ts shelllessPythonImage, as
// gcr.io/distroless/python3-debian12) in a loopback registry. gantry looks into it, installs the
// dependencies in the tools image python:3.11-slim (the Python fixture, through the docker.io
// mirror) and copies only /opt/venv onto it, pointed at the base's interpreter; the app runs in
// the sandbox and answers over HTTP. One registry and one store for the file.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runInSandbox } from '../../../src/engine/executor/index.js';
import { seedLayerCache, withImageRoot } from '../../harness/image-root.js';
import { httpGet, type PythonWorld, pythonWorld, shelllessPythonImage } from '../../harness/python.js';
import { freePort } from '../../harness/run.js';
import { makeWheel } from '../../harness/wheels.js';
import { gantry, repoRoot, tool } from '../helpers.js';

let world: PythonWorld;
let base: string;
let store: string;
let wheels: string;

before(async () => {
  world = await pythonWorld('gantry-python-distroless-', { noIndex: true });
  store = join(world.tmp, 'store');
  const shellless = await shelllessPythonImage();
  // The tools image's and the base's layers, extracted once per machine: this file is about what is built on them.
  await world.seed(store);
  await seedLayerCache(store, shellless.layoutDir, shellless.tag);
  base = `${world.registry.host}/distroless/python3-debian12:latest`;
  const pushed = await gantry(['copy', `oci:${shellless.layoutDir}:${shellless.tag}`, base], { env: world.env });
  assert.equal(pushed.code, 0, pushed.stderr);
  wheels = join(world.tmp, 'wheels');
  await mkdir(wheels);
  await makeWheel(wheels, 'gantry-greeting', '1.0', 'gantry_greeting', 'def greet():\n    return "hi from a wheel"\n', {
    greet: 'gantry_greeting:greet',
  });
});

after(async () => {
  await world?.stop();
});

interface Config {
  config: { Entrypoint: string[]; Cmd?: string[]; Env: string[]; User: string; WorkingDir: string };
  history: { created_by?: string }[];
}

async function configOf(name: string): Promise<{ cfg: Config; raw: string }> {
  const raw = await tool('skopeo', ['inspect', '--config', `oci:${store}:${name}`]);
  return { cfg: JSON.parse(raw) as Config, raw };
}

function events(stderr: string): { type: string; id: string; name?: string; cached?: boolean }[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; id: string; name?: string; cached?: boolean });
}

/** What a shell-less, pip-less image must not hold, and what the venv must name. */
async function assertShellless(root: string): Promise<void> {
  for (const never of ['bin/sh', 'usr/bin/sh', 'bin/bash', 'usr/bin/python3', 'usr/lib/python3/dist-packages/pip'])
    assert.equal(existsSync(join(root, never)), false, `${never} is in the image`);
  const venvLib = join(root, 'opt', 'venv', 'lib', 'python3.11', 'site-packages');
  assert.ok(!(await readdir(venvLib)).some((n) => n === 'pip' || n.startsWith('pip-')), 'no pip in the venv');
  const cfg = await readFile(join(root, 'opt', 'venv', 'pyvenv.cfg'), 'utf8');
  assert.match(cfg, /^home = \/usr\/bin$/m);
  assert.match(cfg, /^include-system-site-packages = true$/m);
  assert.doesNotMatch(cfg, /\/usr\/bin\/python3(?!\.11)/, 'pyvenv.cfg names the base interpreter only');
  // bin/python -> python3 -> (the interpreter): the one link out of the venv names the base's.
  let link = 'python';
  for (let i = 0; i < 4 && !link.startsWith('/'); i++) link = await readlink(join(root, 'opt', 'venv', 'bin', link));
  assert.equal(link, '/usr/bin/python3.11');
}

const APP = `import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from gantry_greeting import greet


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (greet() + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
`;

test('distroless-style base (no shell, no pip, no python3 on PATH): the dependencies are installed in the tools image python:3.11-slim, only /opt/venv is copied, pointed at /usr/bin/python3.11; exec-form entrypoint; the app answers over HTTP', {
  timeout: 900_000,
}, async () => {
  const app = join(world.tmp, 'app');
  await mkdir(app);
  await writeFile(join(app, 'requirements.txt'), 'gantry-greeting==1.0\n');
  await writeFile(join(app, 'app.py'), APP);
  const args = ['build', app, '--from', base, '--find-links', wheels];

  const plan = await gantry([...args, '--dry-run', '-v'], { env: world.env });
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(
    plan.stdout,
    /install: in the base, or in python:3\.11-slim if the base has no pip -- the build looks into/,
  );
  assert.match(
    plan.stdout,
    /1\. dependencies: .*; installed in the base, or in python:3\.11-slim if the base has no pip\)/,
  );

  const r = await gantry([...args, '-t', 'app:1', '--progress', 'json'], { store, env: world.env });
  assert.equal(r.code, 0, r.stderr);
  const install = events(r.stderr).find((e) => e.type === 'start' && e.name?.startsWith('pip install'));
  assert.match(install?.name ?? '', /in the tools image python:3\.11-slim \(the base has no pip; Python 3\.11\)$/);
  const { cfg, raw } = await configOf('docker.io/library/app:1');
  assert.deepEqual(cfg.config.Entrypoint, ['python3', 'app.py'], 'python3 is /opt/venv/bin/python3 on PATH');
  assert.equal(cfg.config.User, '65532:65532');
  assert.ok(cfg.config.Env.some((e) => e.startsWith('PATH=/opt/venv/bin:')));
  assert.doesNotMatch(raw, /\/bin\/sh/, 'no shell anywhere in the config');
  assert.match(cfg.history.at(-2)?.created_by ?? '', /\(in the tools image python:3\.11-slim\)$/);

  await withImageRoot(store, 'docker.io/library/app:1', async (root) => {
    await assertShellless(root);
    assert.ok(existsSync(join(root, 'opt/venv/lib/python3.11/site-packages/gantry_greeting-1.0.dist-info')));
    assert.equal(
      (await readFile(join(root, 'opt', 'venv', 'bin', 'greet'), 'utf8')).split('\n')[0],
      '#!/opt/venv/bin/python',
      'the console script runs without a shell',
    );
    const port = await freePort();
    const ac = new AbortController();
    const lines: string[] = [];
    const running = runInSandbox({
      rootfs: root,
      args: cfg.config.Entrypoint,
      env: [...cfg.config.Env, `PORT=${port}`],
      cwd: cfg.config.WorkingDir,
      user: cfg.config.User,
      network: 'host',
      signal: ac.signal,
      onOutput: (l) => lines.push(l),
    }).catch(() => undefined);
    try {
      let body: string | undefined;
      for (let i = 0; i < 150 && body === undefined; i++) {
        body = await httpGet(port).catch(async () => {
          await new Promise((res) => setTimeout(res, 200));
          return undefined;
        });
      }
      assert.equal(body, 'hi from a wheel\n', lines.join('\n'));
    } finally {
      ac.abort();
      await running;
    }
  });

  // Without a venv, python3 is not on the base's PATH: the entrypoint names its interpreter.
  const bare = await gantry([...args, '--no-deps', '-t', 'app:bare'], { store, env: world.env });
  assert.equal(bare.code, 0, bare.stderr);
  assert.deepEqual((await configOf('docker.io/library/app:bare')).cfg.config.Entrypoint, [
    '/usr/bin/python3.11',
    'app.py',
  ]);
});

test('--wheel on the distroless-style base: the project wheel is built and installed in the tools image, its console script runs on the base', {
  timeout: 600_000,
}, async () => {
  const cli = join(repoRoot, 'examples', 'python-cli');
  const r = await gantry(['build', cli, '--wheel', '--from', base, '-t', 'cli:dl', '--progress', 'json'], {
    store,
    env: world.env,
  });
  assert.equal(r.code, 0, r.stderr);
  const wheel = events(r.stderr).find((e) => e.type === 'start' && e.name?.startsWith('pip wheel the project'));
  assert.match(wheel?.name ?? '', /in the tools image python:3\.11-slim$/);
  const { cfg } = await configOf('docker.io/library/cli:dl');
  assert.deepEqual(cfg.config.Entrypoint, ['/opt/venv/bin/hello-cli']);
  await withImageRoot(store, 'docker.io/library/cli:dl', async (root) => {
    await assertShellless(root);
    const lines: string[] = [];
    const ran = await runInSandbox({
      rootfs: root,
      args: [...cfg.config.Entrypoint, ...(cfg.config.Cmd ?? [])],
      env: cfg.config.Env,
      cwd: '/',
      user: cfg.config.User,
      onOutput: (l) => lines.push(l),
    });
    assert.equal(ran.exitCode, 0, lines.join('\n'));
    assert.deepEqual(lines, ['hello, world']);
  });
});
