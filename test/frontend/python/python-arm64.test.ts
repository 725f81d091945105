// The Python front end for two platforms (issue 10, item 7): `--platform linux/amd64,linux/arm64`
// on a Flask app that needs a C extension makes an index; each image's dependency layer is
// installed by that platform's own pip from one --find-links directory holding the extension's
// wheel for both architectures (test/harness/cext-wheels.ts: amd64 built on the host, arm64 built
// under qemu), so pip picks the native wheel per platform, the arm64 one under qemu-user; the
// arm64 image then runs under qemu and answers with what the C code computed. python:3.11-slim
// is an index of the Python base and the arm64 tools fixture (test/harness/arm64.ts) in a
// loopback registry, reached through a docker.io mirror as a user's default base would be.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runInSandbox } from '../../../src/engine/executor/index.js';
import type { Platform } from '../../../src/oci/types.js';
import { arm64ToolsImage } from '../../harness/arm64.js';
import { type CExtensionWheels, cExtensionWheels } from '../../harness/cext-wheels.js';
import { withImageRoot } from '../../harness/image-root.js';
import { httpGet, type PythonWorld, pythonBaseImage, pythonWorld } from '../../harness/python.js';
import { freePort } from '../../harness/run.js';
import { gantry, tool } from '../helpers.js';

let world: PythonWorld;
let tmp: string;
let env: NodeJS.ProcessEnv;
let wheels: CExtensionWheels;

before(async () => {
  // python:3.11-slim is this file's own index of two platforms, not the pushed amd64 base.
  world = await pythonWorld('gantry-python-arm64-', { push: false, noIndex: true });
  ({ tmp, env } = world);
  const ref = `${world.registry.host}/library/python:3.11-slim`;
  const parts: string[] = [];
  for (const [image, arch] of [
    [await pythonBaseImage(), 'amd64'],
    [await arm64ToolsImage(), 'arm64'],
  ] as const) {
    const r = await gantry(['copy', `oci:${image.layoutDir}:${image.tag}`, `${ref}-${arch}`], { env });
    assert.equal(r.code, 0, r.stderr);
    parts.push('-m', `${ref}-${arch}`);
  }
  const index = await gantry(['--plain-http', 'index', 'create', '-t', ref, ...parts], { env });
  assert.equal(index.code, 0, index.stderr);
  wheels = await cExtensionWheels();
});

after(async () => {
  await world?.stop();
});

const APP = `import platform

import fastmath
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return f"{fastmath.triple(14)} {fastmath.arch()} {platform.machine()}\\n"
`;

interface Config {
  config: { Entrypoint: string[]; Env: string[]; User: string; WorkingDir: string };
}

/** Runs the image's entrypoint (port 5000 swapped for a free one) in the sandbox, for `platform`, and asks it over HTTP. */
async function answer(rootfs: string, cfg: Config, platform: Platform): Promise<string> {
  const free = String(await freePort());
  const args = cfg.config.Entrypoint.map((a) => (a === '5000' ? free : a));
  const ac = new AbortController();
  const lines: string[] = [];
  let exited = false;
  const running = runInSandbox({
    rootfs,
    args,
    env: cfg.config.Env,
    cwd: cfg.config.WorkingDir,
    user: cfg.config.User,
    network: 'host',
    platform,
    signal: ac.signal,
    onOutput: (line) => lines.push(line),
  })
    .catch(() => undefined)
    .finally(() => {
      exited = true;
    });
  try {
    // Flask under qemu-user takes seconds to start on a loaded machine: wait for the answer or the exit.
    for (let i = 0; i < 900 && !exited; i++) {
      try {
        return await httpGet(Number(free), 5000);
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`no answer from ${args.join(' ')}: ${lines.join('\n')}`);
  } finally {
    ac.abort();
    await running;
  }
}

test('--platform linux/amd64,linux/arm64: an index; each dependency layer has the C-extension wheel of its architecture from --find-links (arm64 installed under qemu); the arm64 image answers under qemu', {
  timeout: 1_800_000,
}, async () => {
  const app = join(tmp, 'app');
  await mkdir(app);
  await writeFile(join(app, 'requirements.txt'), 'fastmath==1.0\n');
  await writeFile(join(app, 'app.py'), APP);
  const store = join(tmp, 'store');
  const r = await gantry(
    [
      'build',
      app,
      '--platform',
      'linux/amd64,linux/arm64',
      '--find-links',
      wheels.dir,
      '-t',
      'cext:1',
      '--progress',
      'json',
    ],
    { store, env },
  );
  assert.equal(r.code, 0, r.stderr);
  const events = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { type: string; id: string; name?: string; cached?: boolean });
  const installs = events.filter((e) => e.type === 'start' && e.name?.startsWith('pip install'));
  assert.deepEqual(
    installs.map((e) => /\((linux\/\w+)\)$/.exec(e.name ?? '')?.[1]).sort(),
    ['linux/amd64', 'linux/arm64'],
    'one install per platform',
  );
  for (const s of installs)
    assert.ok(
      events.some((e) => e.type === 'done' && e.id === s.id && e.cached !== true),
      `${s.name} ran`,
    );

  const index = JSON.parse(await tool('skopeo', ['inspect', '--raw', `oci:${store}:docker.io/library/cext:1`])) as {
    manifests: { digest: string; platform: { architecture: string } }[];
  };
  const byArch = new Map(index.manifests.map((m) => [m.platform.architecture, m.digest]));
  assert.deepEqual([...byArch.keys()].sort(), ['amd64', 'arm64']);

  const site = 'opt/venv/lib/python3.11/site-packages';
  await withImageRoot(store, byArch.get('amd64') as string, async (root) => {
    assert.ok(existsSync(join(root, site, 'fastmath.cpython-311-x86_64-linux-gnu.so')), 'the amd64 wheel is installed');
  });
  const blob = async (digest: string) =>
    JSON.parse(await readFile(join(store, 'blobs', 'sha256', digest.replace('sha256:', '')), 'utf8'));
  const armManifest = (await blob(byArch.get('arm64') as string)) as { config: { digest: string } };
  const armCfg = (await blob(armManifest.config.digest)) as Config & { architecture: string };
  assert.equal(armCfg.architecture, 'arm64');
  await withImageRoot(store, byArch.get('arm64') as string, async (root) => {
    assert.ok(
      existsSync(join(root, site, 'fastmath.cpython-311-aarch64-linux-gnu.so')),
      'the arm64 wheel is installed',
    );
    assert.match(
      await readFile(join(root, site, 'fastmath-1.0.dist-info', 'WHEEL'), 'utf8'),
      /^Tag: cp311-cp311-linux_aarch64$/m,
    );
    assert.equal(await answer(root, armCfg, { os: 'linux', architecture: 'arm64' }), '42 aarch64 aarch64\n');
  });
});
