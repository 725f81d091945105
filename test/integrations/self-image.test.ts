// gantry's own image (issue 12 item 6): the repository builds itself with its Node.js front end
// (package.json, "gantry" in it: build output dist/src) on the Node base fixture, reached as
// docker.io's node:20-slim through a registries.toml mirror as in the other Node tests. The
// context is a clean copy of the repository (its tracked files) plus the host's compiled dist/src
// (`--build-on host`, so the test does not compile TypeScript a second time); the production
// dependencies are installed by npm in the sandbox, once: the store of the first run (blobs and
// cache records, ~110 MB) is kept in the fixtures dir under a key of package.json, the lockfile and
// the base, and later runs start from a copy of it (hard links: blobs and records are immutable,
// replaced only by rename), so their install step is a cache hit (its key is computed as always:
// a changed lockfile misses and installs). The image then runs in gantry's sandbox as a Job's pod
// would run it, from the store (test/harness/image-root.ts; the fixture's layers are extracted
// once per machine into a layer cache in the fixtures dir, not ~400 MB per run as `-o type=local`
// wrote them): `gantry --version`, and `gantry build` of a small directory to an OCI layout that
// tar reads back.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';
import { runInSandbox } from '../../src/engine/executor/index.js';
import { rawConfig, repoRoot, tool, withTempDir } from '../frontend/helpers.js';
import { HOST_CA, nodeBuild, nodeWorld } from '../frontend/node-helpers.js';
import { fixturesDir } from '../harness/fixtures.js';
import { withImageRoot } from '../harness/image-root.js';
import { nodeBaseImage } from '../harness/node-base.js';

const exec = promisify(execFile);

interface JobSpec {
  readonly template: { readonly spec: { readonly containers: { readonly image: string; readonly args: string[] }[] } };
}

/** The repository's tracked files as they are in the working tree: what a checkout holds. */
async function cleanCopy(dest: string): Promise<void> {
  const { stdout } = await exec('git', ['ls-files', '-z', '--cached'], { cwd: repoRoot, maxBuffer: 64 << 20 });
  for (const rel of stdout.split('\0')) {
    if (rel === '') continue;
    await mkdir(dirname(join(dest, rel)), { recursive: true });
    // A file deleted in the working tree but still in the index is not part of the checkout.
    await cp(join(repoRoot, rel), join(dest, rel), { verbatimSymlinks: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

/** Bump when what the store fixture holds changes. */
const STORE_RECIPE = 1;
/** The parts of a store a later build reuses: content and cache records (unpacked layers are rebuilt). */
const STORE_PARTS = ['blobs', 'index.json', 'oci-layout', join('cache', 'records')];

async function storeFixturePath(): Promise<string> {
  const base = await nodeBaseImage();
  const hash = createHash('sha256').update(`self-image-store=${STORE_RECIPE}\n${base.digest}\n`);
  for (const f of ['package.json', 'package-lock.json']) hash.update(await readFile(join(repoRoot, f)));
  return join(fixturesDir(), `self-image-store-${hash.digest('hex').slice(0, 16)}`);
}

/** Hard links where it can (the same filesystem), else a copy. */
async function copyStore(from: string, to: string): Promise<void> {
  for (const part of STORE_PARTS) {
    await mkdir(dirname(join(to, part)), { recursive: true });
    const linked = await exec('cp', ['-al', join(from, part), join(to, part)]).then(
      () => true,
      () => false,
    );
    if (!linked) {
      await rm(join(to, part), { recursive: true, force: true });
      await cp(join(from, part), join(to, part), { recursive: true });
    }
  }
}

/** Keeps a store as the fixture (built beside its place and renamed; a concurrent writer's copy wins). */
async function keepStore(store: string, final: string): Promise<void> {
  if (existsSync(final)) return;
  await mkdir(dirname(final), { recursive: true });
  const tmp = await mkdtemp(join(dirname(final), `.tmp-self-image-${process.pid}-`));
  try {
    await copyStore(store, join(tmp, 'store'));
    await rename(join(tmp, 'store'), final).catch((err: NodeJS.ErrnoException) => {
      if (!(err.code === 'ENOTEMPTY' || err.code === 'EEXIST')) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function inImage(
  rootfs: string,
  cfg: Awaited<ReturnType<typeof rawConfig>>,
  args: readonly string[],
): Promise<{ exitCode: number; output: string }> {
  const c = cfg.config;
  const lines: string[] = [];
  const r = await runInSandbox({
    rootfs,
    args: [...(c.Entrypoint ?? []), ...args],
    env: [...(c.Env ?? [])],
    cwd: c.WorkingDir ?? '/',
    ...(c.User ? { user: c.User } : {}),
    network: 'none',
    onOutput: (line) => lines.push(line),
  });
  return { exitCode: r.exitCode, output: lines.join('\n') };
}

test('gantry builds its own image with the Node.js front end, and the gantry in it builds an image', {
  timeout: 600_000,
}, async (t) => {
  const started = Date.now();
  const phase = (what: string) => t.diagnostic(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const world = await nodeWorld();
  try {
    await withTempDir(async (tmp) => {
      const env = await world.env(tmp);
      const src = join(tmp, 'src');
      await cleanCopy(src);
      await cp(join(repoRoot, 'dist', 'src'), join(src, 'dist', 'src'), { recursive: true });
      const store = join(tmp, 'store');
      const fixture = await storeFixturePath();
      const warm = existsSync(fixture);
      if (warm) await copyStore(fixture, store);
      phase(`context and ${warm ? 'warm' : 'cold'} store ready`);
      const r = await nodeBuild(['--build-on', 'host', '--ca-cert', HOST_CA, '-t', 'gantry:self', src], {
        store,
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.steps.some((s) => s.name.startsWith('build:')),
        false,
        'the build stage ran with --build-on host',
      );
      phase('image built');
      if (!warm) await keepStore(store, fixture);
      const cfg = await rawConfig(store, 'gantry:self');
      assert.deepEqual(cfg.config.Entrypoint, ['node', 'bin/gantry.js']);
      assert.equal(cfg.config.User, 'root', 'root, so that RUN steps work in an unprivileged pod');
      assert.equal(cfg.config.WorkingDir, '/app');
      assert.deepEqual(cfg.config.ExposedPorts ?? {}, {}, 'a command-line tool exposes no port');
      // The image's root from the store; the fixture's layers come from the machine's layer cache.
      const sharedLayers = {
        dir: join(fixturesDir(), 'layer-cache'),
        shared: (digest: string) => existsSync(join(fixture, 'blobs', ...digest.split(':'))),
      };
      await withImageRoot(
        store,
        'gantry:self',
        async (rootfs) => {
          // What ships: the compiled library and CLI and the production dependencies; no sources, tests or dev tools.
          const app = join(rootfs, 'app');
          const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as { version: string };
          await readFile(join(app, 'dist', 'src', 'cli', 'main.js'));
          await readFile(join(app, 'node_modules', '@kubernetes', 'client-node', 'package.json'));
          // (typescript does ship: valibot names it as an optional peer, which npm installs without --omit=optional.)
          for (const absent of ['src', 'test', 'dist/test', 'node_modules/@biomejs/biome', 'node_modules/fast-check'])
            assert.equal(existsSync(join(app, absent)), false, `${absent} shipped`);

          const version = await inImage(rootfs, cfg, ['--version']);
          phase('gantry --version ran in the image');
          assert.equal(version.exitCode, 0, version.output);
          assert.equal(version.output.trim(), `gantry ${pkg.version}`);

          // A real build inside the image, as the node user, with a store of its own: a directory
          // image written to an OCI layout.
          const ctx = join(rootfs, 'tmp', 'ctx');
          await mkdir(ctx, { recursive: true });
          await writeFile(join(ctx, 'hello.txt'), 'built by the gantry image\n');
          const built = await inImage(rootfs, cfg, [
            'build',
            '/tmp/ctx',
            '--frontend',
            'dir',
            '--progress=plain',
            '-o',
            'type=oci,dest=/tmp/out,tar=false',
          ]);
          assert.equal(built.exitCode, 0, built.output);
          phase('gantry build ran in the image');
          const out = join(rootfs, 'tmp', 'out');
          // Read back with standard tools: the layout's one manifest, its one layer unpacked by tar.
          const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as {
            manifests: { digest: string }[];
          };
          assert.equal(index.manifests.length, 1);
          const blob = (digest: string) => join(out, 'blobs', ...digest.split(':'));
          const manifest = JSON.parse(
            await readFile(blob((index.manifests[0] as { digest: string }).digest), 'utf8'),
          ) as {
            layers: { digest: string }[];
          };
          assert.equal(manifest.layers.length, 1);
          const unpacked = join(tmp, 'unpacked');
          await mkdir(unpacked);
          await tool('tar', ['-xzf', blob((manifest.layers[0] as { digest: string }).digest), '-C', unpacked]);
          assert.equal(await readFile(join(unpacked, 'hello.txt'), 'utf8'), 'built by the gantry image\n');
        },
        { sharedLayers },
      );
    });
  } finally {
    await world.stop();
  }
});

test('the deploy/kubernetes manifests and the driver name the image the README gives (ghcr.io/gantry-build/gantry:VERSION)', async () => {
  const { DEFAULT_DRIVER_IMAGE_REPO } = await import('../../src/integrations/kubernetes/driver.js');
  const { readdir } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const name = `${DEFAULT_DRIVER_IMAGE_REPO}:${pkg.version}`;
  assert.ok((await readFile(join(repoRoot, 'README.md'), 'utf8')).includes(`${DEFAULT_DRIVER_IMAGE_REPO}:VERSION`));
  const dir = join(repoRoot, 'deploy', 'kubernetes');
  const kinds: string[] = [];
  let jobs = 0;
  for (const f of await readdir(dir)) {
    // Each file is valid YAML with Kubernetes objects; every container of a Job runs the image.
    for (const doc of loadAll(await readFile(join(dir, f), 'utf8')) as { kind?: string; spec?: JobSpec }[]) {
      kinds.push(doc.kind ?? '');
      for (const c of doc.kind === 'Job' ? (doc.spec?.template.spec.containers ?? []) : []) {
        assert.equal(c.image, name, f);
        assert.ok(c.args.includes('build'), `${f}: the container runs gantry build`);
        jobs += 1;
      }
    }
  }
  for (const kind of ['Job', 'ServiceAccount', 'Role', 'RoleBinding'])
    assert.ok(kinds.includes(kind), `deploy/kubernetes has a ${kind}: ${kinds.join(', ')}`);
  assert.ok(jobs >= 2, 'the Job manifests name an image');
});
