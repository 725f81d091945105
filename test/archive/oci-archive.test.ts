// writeOciArchive: the archive and layout directory are read by skopeo and umoci, name images the
// way buildx does, are byte-identical when written twice, and vanish completely on abort.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { writeOciArchive } from '../../src/layer/archive/index.js';
import type { Image } from '../../src/oci/image.js';
import { newIndex } from '../../src/oci/mutate.js';
import type { Index } from '../../src/oci/types.js';
import { ARM64, abortingImage, listTree, run, sameBytes, Workspace } from './fixtures.js';

let ws: Workspace;
let image: Image;

before(async () => {
  ws = await Workspace.create();
  image = await ws.image();
});
after(async () => ws.dispose());

test('an oci-archive is read by skopeo with the same manifest digest', async () => {
  const dest = ws.path('hello.oci.tar');
  await writeOciArchive([{ item: image, names: ['docker.io/library/hello:dev'] }], dest);
  const inspected = JSON.parse(run('skopeo', ['inspect', `oci-archive:${dest}`])) as {
    Digest: string;
    Layers: string[];
  };
  assert.equal(inspected.Digest, await image.digest());
  assert.deepEqual(
    inspected.Layers,
    (await image.manifest()).layers.map((l) => l.digest),
  );
  // By the tag in org.opencontainers.image.ref.name, as `oci-archive:FILE:dev` resolves it.
  const byTag = JSON.parse(run('skopeo', ['inspect', `oci-archive:${dest}:dev`])) as { Digest: string };
  assert.equal(byTag.Digest, await image.digest());
});

test('index.json names items as buildx does; an unnamed item has no annotations', async () => {
  const other = await ws.image(ARM64);
  const dest = ws.path('named.oci.tar');
  await writeOciArchive(
    [
      { item: image, names: ['docker.io/library/hello:dev', 'ghcr.io/acme/hello:1.0'] },
      { item: other, names: [] },
    ],
    dest,
  );
  const index = JSON.parse(run('tar', ['-xOf', dest, 'index.json'])) as Index;
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  assert.deepEqual(
    index.manifests.map((m) => [m.digest, m.annotations]),
    [
      [
        await image.digest(),
        { 'io.containerd.image.name': 'docker.io/library/hello:dev', 'org.opencontainers.image.ref.name': 'dev' },
      ],
      [
        await image.digest(),
        { 'io.containerd.image.name': 'ghcr.io/acme/hello:1.0', 'org.opencontainers.image.ref.name': '1.0' },
      ],
      [await other.digest(), undefined],
    ],
  );
  assert.equal(run('tar', ['-xOf', dest, 'oci-layout']), '{"imageLayoutVersion":"1.0.0"}');
});

test('a layout directory is read by umoci and skopeo', async () => {
  const dest = ws.path('layout-dir');
  await writeOciArchive([{ item: image, names: ['hello:dev'] }], dest, { tar: false });
  assert.deepEqual(run('umoci', ['ls', '--layout', dest]).trim().split('\n'), ['dev']);
  const stat = JSON.parse(run('umoci', ['stat', '--json', '--image', `${dest}:dev`])) as { history: unknown[] };
  assert.ok(Array.isArray(stat.history));
  const inspected = JSON.parse(run('skopeo', ['inspect', `oci:${dest}:dev`])) as { Digest: string };
  assert.equal(inspected.Digest, await image.digest());
});

test('a multi-platform index is archived with all its images', async () => {
  const index = await newIndex([{ image }, { image: await ws.image(ARM64) }]);
  const dest = ws.path('multi.oci.tar');
  await writeOciArchive([{ item: index, names: ['hello:multi'] }], dest);
  const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci-archive:${dest}`])) as Index;
  assert.equal(raw.manifests.length, 2);
  const copy = ws.path('multi-copy');
  run('skopeo', ['copy', '--all', `oci-archive:${dest}`, `oci:${copy}:x`]);
  const arm = JSON.parse(run('skopeo', ['inspect', '--override-arch', 'arm64', `oci:${copy}:x`])) as {
    Architecture: string;
  };
  assert.equal(arm.Architecture, 'arm64');
});

test('the same items give byte-identical archives', async () => {
  const a = ws.path('same-a.tar');
  const b = ws.path('same-b.tar');
  await writeOciArchive([{ item: image, names: ['hello:dev'] }], a);
  await writeOciArchive([{ item: await ws.image(), names: ['hello:dev'] }], b);
  assert.ok(await sameBytes(a, b));
});

test('an abort in the middle of a layer leaves no archive and no temp file', async () => {
  const out = ws.path('abort-out');
  await mkdir(out);
  const controller = new AbortController();
  await assert.rejects(
    writeOciArchive([{ item: abortingImage(image, controller), names: [] }], join(out, 'x.tar'), {
      signal: controller.signal,
    }),
    (err: unknown) => GantryError.is(err) && err.code === 'ABORTED',
  );
  assert.ok(controller.signal.aborted);
  assert.deepEqual(await readdir(out), []);

  const again = new AbortController();
  await assert.rejects(
    writeOciArchive([{ item: abortingImage(image, again), names: [] }], join(out, 'dir'), {
      signal: again.signal,
      tar: false,
    }),
    (err: unknown) => GantryError.is(err) && err.code === 'ABORTED',
  );
  assert.deepEqual(await listTree(out), []);
});

test('a layout directory never replaces a non-empty directory', async () => {
  const dest = ws.path('occupied');
  await mkdir(dest);
  await writeFile(join(dest, 'precious'), 'keep me');
  await assert.rejects(
    writeOciArchive([{ item: image, names: [] }], dest, { tar: false }),
    (err: unknown) => GantryError.is(err) && err.code === 'OUTPUT_EXISTS',
  );
  assert.equal(await readFile(join(dest, 'precious'), 'utf8'), 'keep me');
  assert.deepEqual(await readdir(ws.dir).then((names) => names.filter((n) => n.startsWith('.occupied'))), []);
});
