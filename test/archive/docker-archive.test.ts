// writeDockerArchive: skopeo reads the archive with the same config and RepoTags, every layer file
// is the uncompressed tar named by its diffID, indexes are refused, and output is deterministic.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { writeDockerArchive } from '../../src/layer/archive/index.js';
import type { Image } from '../../src/oci/image.js';
import { newIndex } from '../../src/oci/mutate.js';
import type { Manifest } from '../../src/oci/types.js';
import { ARM64, abortingImage, run, sameBytes, sha256File, Workspace } from './fixtures.js';

let ws: Workspace;
let image: Image;

before(async () => {
  ws = await Workspace.create();
  image = await ws.image();
});
after(async () => ws.dispose());

interface DockerManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

test('skopeo reads a docker-archive with the same config digest and the RepoTags', async () => {
  const dest = ws.path('hello.docker.tar');
  await writeDockerArchive([{ image, names: ['docker.io/library/hello:dev', 'ghcr.io/acme/hello:1.0'] }], dest);
  const manifest = JSON.parse(run('skopeo', ['inspect', '--raw', `docker-archive:${dest}`])) as Manifest;
  assert.equal(manifest.config.digest, await image.configName());
  const config = run('skopeo', ['inspect', '--config', '--raw', `docker-archive:${dest}`]);
  assert.equal(config, (await image.rawConfigFile()).toString('utf8'));
  // skopeo finds an image of a docker-archive by RepoTag.
  const byTag = JSON.parse(
    run('skopeo', ['inspect', '--raw', `docker-archive:${dest}:ghcr.io/acme/hello:1.0`]),
  ) as Manifest;
  assert.equal(byTag.config.digest, await image.configName());

  const items = JSON.parse(run('tar', ['-xOf', dest, 'manifest.json'])) as DockerManifestItem[];
  assert.equal(items.length, 1);
  assert.deepEqual(items[0]?.RepoTags, ['hello:dev', 'ghcr.io/acme/hello:1.0']);
  const repositories = JSON.parse(run('tar', ['-xOf', dest, 'repositories'])) as Record<string, Record<string, string>>;
  assert.deepEqual(Object.keys(repositories).sort(), ['ghcr.io/acme/hello', 'hello']);
  assert.deepEqual(Object.keys(repositories.hello ?? {}), ['dev']);
});

test('each layer file is the uncompressed tar whose sha256 is the diffID', async () => {
  const dest = ws.path('layers.docker.tar');
  await writeDockerArchive([{ image, names: ['hello:dev'] }], dest);
  const out = ws.path('layers-unpacked');
  await mkdir(out);
  run('tar', ['-xf', dest, '-C', out]);
  const [item] = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as DockerManifestItem[];
  assert.ok(item);
  const diffIDs = (await image.configFile()).rootfs.diff_ids;
  assert.equal(item.Layers.length, diffIDs.length);
  for (const [i, layer] of item.Layers.entries()) {
    assert.equal(await sha256File(join(out, layer)), diffIDs[i]);
    assert.match(run('tar', ['-tf', join(out, layer)]), /etc\//);
  }
  assert.equal(await sha256File(join(out, item.Config)), await image.configName());
});

test('skopeo copies a docker-archive into an OCI layout', async () => {
  const dest = ws.path('copy.docker.tar');
  await writeDockerArchive([{ image, names: ['hello:dev'] }], dest);
  const layout = ws.path('copied-layout');
  run('skopeo', ['copy', `docker-archive:${dest}`, `oci:${layout}:x`]);
  const inspected = JSON.parse(run('skopeo', ['inspect', '--config', '--raw', `oci:${layout}:x`])) as {
    rootfs: { diff_ids: string[] };
  };
  assert.deepEqual(inspected.rootfs.diff_ids, (await image.configFile()).rootfs.diff_ids);
});

test('two images share one manifest entry per config and one file per layer', async () => {
  const dest = ws.path('two.docker.tar');
  const arm = await ws.image(ARM64);
  await writeDockerArchive(
    [
      { image, names: ['hello:a'] },
      { image: arm, names: ['hello:arm'] },
      { image, names: ['hello:b'] },
    ],
    dest,
  );
  const items = JSON.parse(run('tar', ['-xOf', dest, 'manifest.json'])) as DockerManifestItem[];
  assert.deepEqual(
    items.map((i) => i.RepoTags),
    [['hello:a', 'hello:b'], ['hello:arm']],
  );
  const files = run('tar', ['-tf', dest]).trim().split('\n');
  // The base layer is the same in both images: stored once.
  assert.equal(files.filter((f) => f.startsWith('blobs/sha256/') && !f.endsWith('/')).length, 2 + 3);
});

test('an index is refused with a hint to pick a platform', async () => {
  const index = await newIndex([{ image }, { image: await ws.image(ARM64) }]);
  const out = ws.path('refused');
  await mkdir(out);
  await assert.rejects(
    writeDockerArchive([{ image: index as unknown as Image, names: ['hello:dev'] }], join(out, 'x.tar')),
    (err: unknown) =>
      GantryError.is(err) && err.code === 'DOCKER_ARCHIVE_NEEDS_PLATFORM' && /--platform/.test(err.suggestion ?? ''),
  );
  assert.deepEqual(await readdir(out), []);
});

test('the same image gives a byte-identical docker-archive', async () => {
  const a = ws.path('same-a.docker.tar');
  const b = ws.path('same-b.docker.tar');
  await writeDockerArchive([{ image, names: ['hello:dev'] }], a);
  await writeDockerArchive([{ image: await ws.image(), names: ['hello:dev'] }], b);
  assert.ok(await sameBytes(a, b));
});

test('an abort while a layer is written leaves nothing in the destination directory', async () => {
  const out = ws.path('abort-out');
  await mkdir(out);
  const controller = new AbortController();
  await assert.rejects(
    writeDockerArchive([{ image: abortingImage(image, controller), names: ['hello:dev'] }], join(out, 'x.tar'), {
      signal: controller.signal,
    }),
    (err: unknown) => GantryError.is(err) && err.code === 'ABORTED',
  );
  assert.deepEqual(await readdir(out), []);
});

// Only where a Docker daemon answers (CI machines with Docker); skipped elsewhere.
const dockerUp = spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;
test('docker load accepts the archive and tags the image', { skip: !dockerUp && 'no Docker daemon' }, async () => {
  const dest = ws.path('load.docker.tar');
  const tag = `gantry-archive-test:${process.pid}`;
  await writeDockerArchive([{ image, names: [tag] }], dest);
  run('docker', ['load', '-i', dest]);
  try {
    const layers = JSON.parse(
      run('docker', ['image', 'inspect', '--format', '{{json .RootFS.Layers}}', tag]),
    ) as string[];
    assert.deepEqual(layers, (await image.configFile()).rootfs.diff_ids);
  } finally {
    spawnSync('docker', ['image', 'rm', tag], { stdio: 'ignore' });
  }
});
