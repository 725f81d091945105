// loadArchive: archives written by skopeo and by us load into a layout with config digest and
// diffIDs intact; tampered or hostile archives are refused with one clear error and leave the
// target exactly as it was.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { GantryError } from '../../src/errors.js';
import { type LoadedItem, loadArchive, writeDockerArchive, writeOciArchive } from '../../src/layer/archive/index.js';
import { createDigester } from '../../src/oci/digest.js';
import type { Image } from '../../src/oci/image.js';
import { OciLayout } from '../../src/oci/layout.js';
import { newIndex } from '../../src/oci/mutate.js';
import type { Manifest } from '../../src/oci/types.js';
import { ARM64, listTree, run, Workspace } from './fixtures.js';

let ws: Workspace;
let image: Image;
let sourceLayout: string;
let n = 0;

before(async () => {
  ws = await Workspace.create();
  image = await ws.image();
  sourceLayout = ws.path('source-layout');
  await writeOciArchive([{ item: image, names: ['docker.io/library/hello:dev'] }], sourceLayout, { tar: false });
});
after(async () => ws.dispose());

async function freshTarget(): Promise<OciLayout> {
  return OciLayout.init(ws.path(`target-${n++}`));
}

/** The loaded image's config digest and diffIDs, with every layer read through its diffID check. */
async function roundTrip(target: OciLayout, item: LoadedItem): Promise<{ config: string; diffIDs: string[] }> {
  const loaded = await target.image(item.descriptor);
  const diffIDs: string[] = [];
  for (const layer of await loaded.layers()) {
    const digester = createDigester();
    for await (const chunk of await layer.uncompressed()) digester.update(chunk as Buffer);
    assert.equal(digester.digest(), await layer.diffID());
    diffIDs.push(digester.digest());
  }
  return { config: await loaded.configName(), diffIDs };
}

async function expected(): Promise<{ config: string; diffIDs: string[] }> {
  return { config: await image.configName(), diffIDs: [...(await image.configFile()).rootfs.diff_ids] };
}

test('a docker-archive written by skopeo loads with its config digest, diffIDs and name', async () => {
  const archive = ws.path('skopeo.docker.tar');
  run('skopeo', ['copy', `oci:${sourceLayout}:dev`, `docker-archive:${archive}:hello:dev`]);
  const target = await freshTarget();
  const items = await loadArchive(archive, target);
  assert.equal(items.length, 1);
  const [item] = items as [LoadedItem];
  assert.deepEqual(item.names, ['docker.io/library/hello:dev']);
  assert.equal(item.descriptor.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.deepEqual(await roundTrip(target, item), await expected());
  // The new manifest has gzip layers and is readable by skopeo from the target layout.
  await target.writeIndex({
    schemaVersion: 2,
    manifests: [{ ...item.descriptor, annotations: { 'org.opencontainers.image.ref.name': 'x' } }],
  });
  const raw = JSON.parse(run('skopeo', ['inspect', '--raw', `oci:${target.dir}:x`])) as Manifest;
  assert.deepEqual(
    raw.layers.map((l) => l.mediaType),
    raw.layers.map(() => 'application/vnd.oci.image.layer.v1.tar+gzip'),
  );
  run('skopeo', ['copy', `oci:${target.dir}:x`, `oci:${ws.path(`recopy-${n++}`)}:y`]);
});

test('docker-archive layers named through the legacy <id>/layer.tar symlinks load', async () => {
  const archive = ws.path('legacy.docker.tar');
  run('skopeo', ['copy', `oci:${sourceLayout}:dev`, `docker-archive:${archive}:hello:dev`]);
  const unpacked = ws.path('legacy-unpacked');
  await mkdir(unpacked);
  run('tar', ['-xf', archive, '-C', unpacked]);
  const links = run('tar', ['-tvf', archive])
    .split('\n')
    .filter((line) => line.startsWith('l'))
    .map((line) => /(\S+\/layer\.tar) -> \.\.\/(\S+)$/.exec(line) ?? assert.fail(`odd line ${line}`));
  const [item] = JSON.parse(await readFile(join(unpacked, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
  assert.ok(item && links.length === item.Layers.length);
  item.Layers = item.Layers.map((file) => links.find((m) => m[2] === file)?.[1] ?? assert.fail(`no link to ${file}`));
  await writeFile(join(unpacked, 'manifest.json'), JSON.stringify([item]));
  const relinked = ws.path('relinked.docker.tar');
  run('tar', ['-cf', relinked, '-C', unpacked, '.']);
  const target = await freshTarget();
  const [loaded] = await loadArchive(relinked, target);
  assert.ok(loaded);
  assert.deepEqual(await roundTrip(target, loaded), await expected());
});

test('an oci-archive written by skopeo loads with the same manifest digest', async () => {
  const archive = ws.path('skopeo.oci.tar');
  run('skopeo', ['copy', `oci:${sourceLayout}:dev`, `oci-archive:${archive}:dev`]);
  const target = await freshTarget();
  const items = await loadArchive(archive, target);
  assert.equal(items.length, 1);
  const [item] = items as [LoadedItem];
  assert.equal(item.descriptor.digest, await image.digest());
  // skopeo writes only the tag into ref.name: not a name.
  assert.deepEqual(item.names, []);
  assert.deepEqual(await roundTrip(target, item), await expected());
});

test('our own archives and layout directories load with their names', async () => {
  const index = await newIndex([{ image }, { image: await ws.image(ARM64) }]);
  const oci = ws.path('own.oci.tar');
  await writeOciArchive(
    [
      { item: image, names: ['hello:dev', 'ghcr.io/acme/hello:1'] },
      { item: index, names: ['hello:multi'] },
    ],
    oci,
  );
  const target = await freshTarget();
  const items = await loadArchive(oci, target);
  assert.deepEqual(
    items.map((i) => [i.descriptor.digest, i.names]),
    [
      [await image.digest(), ['docker.io/library/hello:dev', 'ghcr.io/acme/hello:1']],
      [await index.digest(), ['docker.io/library/hello:multi']],
    ],
  );
  const loadedIndex = await target.imageIndex(items[1]?.descriptor ?? assert.fail('no index'));
  assert.equal((await loadedIndex.indexManifest()).manifests.length, 2);

  const docker = ws.path('own.docker.tar');
  await writeDockerArchive([{ image, names: ['hello:dev'] }], docker);
  const target2 = await freshTarget();
  const [fromDocker] = await loadArchive(docker, target2);
  assert.ok(fromDocker);
  assert.deepEqual(fromDocker.names, ['docker.io/library/hello:dev']);
  assert.deepEqual(await roundTrip(target2, fromDocker), await expected());

  const target3 = await freshTarget();
  const [fromDir] = await loadArchive(sourceLayout, target3);
  assert.deepEqual(fromDir?.names, ['docker.io/library/hello:dev']);
  assert.equal(fromDir?.descriptor.digest, await image.digest());
});

test('a gzip-compressed docker-archive loads; loading twice gives the same manifest', async () => {
  const plain = ws.path('gz-src.docker.tar');
  await writeDockerArchive([{ image, names: ['hello:dev'] }], plain);
  const gz = ws.path('compressed.docker.tar.gz');
  await writeFile(gz, gzipSync(await readFile(plain)));
  const target = await freshTarget();
  const [a] = await loadArchive(gz, target);
  const [b] = await loadArchive(plain, target);
  assert.ok(a && b);
  assert.equal(a.descriptor.digest, b.descriptor.digest);
  assert.deepEqual(await roundTrip(target, a), await expected());
});

test('a flipped byte in a blob is refused with DIGEST_MISMATCH and leaves the target as it was', async () => {
  const archive = ws.path('tamper.oci.tar');
  await writeOciArchive([{ item: image, names: ['hello:dev'] }], archive);
  const unpacked = ws.path('tamper-unpacked');
  await mkdir(unpacked);
  run('tar', ['-xf', archive, '-C', unpacked]);
  const layerDigest = (await image.manifest()).layers[1]?.digest ?? assert.fail('no layer');
  const blob = join(unpacked, 'blobs', 'sha256', layerDigest.slice('sha256:'.length));
  const bytes = await readFile(blob);
  const middle = Math.floor(bytes.length / 2);
  bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
  await writeFile(blob, bytes);
  const tampered = ws.path('tampered.oci.tar');
  run('tar', ['-cf', tampered, '-C', unpacked, '.']);

  const target = await freshTarget();
  const before = await listTree(target.dir);
  await assert.rejects(
    loadArchive(tampered, target),
    (err: unknown) => GantryError.is(err) && err.code === 'DIGEST_MISMATCH' && err.message.includes(layerDigest),
  );
  assert.deepEqual(await listTree(target.dir), before);
});

test('a docker-archive whose manifest.json names ../../etc/x is refused', async () => {
  const dir = ws.path('escape');
  await mkdir(dir);
  const config = await image.rawConfigFile();
  await writeFile(join(dir, 'config.json'), config);
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', RepoTags: ['evil:1'], Layers: ['../../etc/x', '../../etc/y'] }]),
  );
  const archive = ws.path('escape.tar');
  run('tar', ['-cf', archive, '-C', dir, 'manifest.json', 'config.json']);
  const target = await freshTarget();
  const before = await listTree(target.dir);
  await assert.rejects(
    loadArchive(archive, target),
    (err: unknown) => GantryError.is(err) && err.code === 'UNSAFE_PATH' && err.message.includes('../../etc/x'),
  );
  assert.deepEqual(await listTree(target.dir), before);
});

test('a symlink in a docker-archive that climbs out of it is refused', async () => {
  const dir = ws.path('symlink-escape');
  await mkdir(dir);
  await writeFile(join(dir, 'config.json'), await image.rawConfigFile());
  await writeFile(
    join(dir, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', RepoTags: [], Layers: ['l/a.tar', 'l/b.tar'] }]),
  );
  run('ln', ['-s', '../../../etc', join(dir, 'l')]);
  const archive = ws.path('symlink-escape.tar');
  run('tar', ['-cf', archive, '-C', dir, 'manifest.json', 'config.json', 'l']);
  const target = await freshTarget();
  await assert.rejects(
    loadArchive(archive, target),
    (err: unknown) => GantryError.is(err) && err.code === 'UNSAFE_PATH',
  );
});

test('a file that is no archive gives NOT_AN_IMAGE_ARCHIVE', async () => {
  const junk = ws.path('junk.bin');
  await writeFile(junk, 'this is not a tar file at all, just some text that goes on'.repeat(40));
  const target = await freshTarget();
  const before = await listTree(target.dir);
  await assert.rejects(
    loadArchive(junk, target),
    (err: unknown) => GantryError.is(err) && err.code === 'NOT_AN_IMAGE_ARCHIVE',
  );
  const emptyTar = ws.path('other.tar');
  await writeFile(join(ws.dir, 'hello.txt'), 'hi');
  run('tar', ['-cf', emptyTar, '-C', ws.dir, 'hello.txt']);
  await assert.rejects(
    loadArchive(emptyTar, target),
    (err: unknown) => GantryError.is(err) && err.code === 'NOT_AN_IMAGE_ARCHIVE',
  );
  assert.deepEqual(await listTree(target.dir), before);
});
