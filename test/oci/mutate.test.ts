// Making images and indexes (mutate.ts) and reading them back lazily (partial.ts): diff_ids,
// history, digests, media type families, laziness of the base, and platform resolution.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import type { Layer } from '../../src/oci/image.js';
import { OciLayout, writeToLayout } from '../../src/oci/layout.js';
import { defaultCreated, newImage, newIndex } from '../../src/oci/mutate.js';
import { imageFromManifest, indexFromManifest, layerFromDescriptor, resolvePlatform } from '../../src/oci/partial.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { readBounded } from '../../src/oci/stream.js';
import { MediaType } from '../../src/oci/types.js';
import { makeTarLayer, tempDir } from './fixtures.js';

async function addLayer(layout: OciLayout, files: Record<string, string>): Promise<{ layer: Layer; tar: Buffer }> {
  const { tar, gz } = makeTarLayer(files);
  const { digest, size } = await layout.writeBlobBytes(gz);
  return {
    layer: layerFromDescriptor(layout, { mediaType: MediaType.OciLayerGzip, digest, size }, digestOf(tar)),
    tar,
  };
}

const code = (e: unknown) => (GantryError.is(e) ? e.code : String(e));

test('an image made from two layers has correct diff_ids, history, digests and layers', async () => {
  const { dir, cleanup } = tempDir('mutate');
  try {
    const layout = await OciLayout.init(dir);
    const one = await addLayer(layout, { 'a.txt': 'one\n' });
    const two = await addLayer(layout, { 'b/b.txt': 'two\n' });
    const image = await newImage({
      platform: parsePlatform('linux/arm64'),
      layers: [{ layer: one.layer, history: { created_by: 'COPY a.txt /' } }, { layer: two.layer }],
      history: [{ created_by: 'ENV X=1' }],
      config: (c) => ({ ...c, config: { ...c.config, Env: ['X=1'] } }),
      created: '2024-01-02T03:04:05Z',
      annotations: { 'org.opencontainers.image.title': 't' },
    });

    const raw = await image.rawManifest();
    assert.equal(await image.digest(), digestOf(raw), 'digest is the sha256 of the raw manifest');
    assert.equal(await image.size(), raw.length);
    assert.equal(await image.mediaType(), MediaType.OciManifest);
    assert.ok(!raw.toString().includes('\n') && !raw.toString().includes(': '), 'no whitespace');

    const manifest = await image.manifest();
    const rawConfig = await image.rawConfigFile();
    assert.equal(manifest.config.digest, digestOf(rawConfig));
    assert.equal(manifest.config.size, rawConfig.length);
    assert.equal(manifest.config.mediaType, MediaType.OciConfig);
    assert.equal(await image.configName(), manifest.config.digest);
    assert.deepEqual(
      manifest.layers.map((l) => l.digest),
      [digestOf(makeTarLayer({ 'a.txt': 'one\n' }).gz), digestOf(makeTarLayer({ 'b/b.txt': 'two\n' }).gz)],
    );
    assert.deepEqual(manifest.annotations, { 'org.opencontainers.image.title': 't' });

    const config = await image.configFile();
    assert.equal(Object.keys(JSON.parse(rawConfig.toString()))[0], 'created', 'created comes first');
    assert.equal(config.created, '2024-01-02T03:04:05Z');
    assert.equal(config.architecture, 'arm64');
    assert.equal(config.os, 'linux');
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [digestOf(one.tar), digestOf(two.tar)] });
    assert.deepEqual(config.history, [
      { created: '2024-01-02T03:04:05Z', created_by: 'COPY a.txt /' },
      { created: '2024-01-02T03:04:05Z' },
      { created: '2024-01-02T03:04:05Z', created_by: 'ENV X=1', empty_layer: true },
    ]);
    assert.deepEqual(config.config?.Env, ['X=1']);

    const layers = await image.layers();
    assert.equal(layers.length, 2);
    assert.deepEqual(await readBounded(await layers[1]!.uncompressed()), two.tar);
    assert.equal(await (await image.layerByDigest(manifest.layers[0]!.digest)).diffID(), digestOf(one.tar));
    await assert.rejects(image.layerByDigest(digestOf('nope')), (e) => code(e) === 'LAYER_NOT_FOUND');

    // Same inputs, same bytes: serialization is deterministic.
    const again = await newImage({
      platform: parsePlatform('linux/arm64'),
      layers: [{ layer: one.layer, history: { created_by: 'COPY a.txt /' } }, { layer: two.layer }],
      history: [{ created_by: 'ENV X=1' }],
      config: (c) => ({ ...c, config: { ...c.config, Env: ['X=1'] } }),
      created: '2024-01-02T03:04:05Z',
      annotations: { 'org.opencontainers.image.title': 't' },
    });
    assert.equal(await again.digest(), await image.digest());
  } finally {
    cleanup();
  }
});

test('docker media types label manifest, config and layers in the Docker family', async () => {
  const { dir, cleanup } = tempDir('docker');
  try {
    const layout = await OciLayout.init(dir);
    const one = await addLayer(layout, { a: 'a' });
    const image = await newImage({ platform: parsePlatform('linux/amd64'), layers: [one], mediaType: 'docker' });
    const m = await image.manifest();
    assert.equal(m.mediaType, MediaType.DockerManifest);
    assert.equal(await image.mediaType(), MediaType.DockerManifest);
    assert.equal(m.config.mediaType, MediaType.DockerConfig);
    assert.equal(m.layers[0]!.mediaType, MediaType.DockerLayerGzip);
    assert.equal(await (await image.layers())[0]!.mediaType(), MediaType.DockerLayerGzip);
    // Back to OCI on top of the Docker image: base layers are relabelled too.
    const oci = await newImage({ base: image });
    assert.equal((await oci.manifest()).layers[0]!.mediaType, MediaType.OciLayerGzip);
  } finally {
    cleanup();
  }
});

test('a base image is extended without reading its layers', async () => {
  const { dir, cleanup } = tempDir('base');
  try {
    const layout = await OciLayout.init(dir);
    const one = await addLayer(layout, { 'base.txt': 'base\n' });
    const base = await newImage({
      platform: parsePlatform('linux/amd64'),
      layers: [{ layer: one.layer, history: { created_by: 'base' } }],
      config: (c) => ({ ...c, config: { Cmd: ['sh'] } }),
      created: '2020-01-01T00:00:00Z',
    });
    const desc = await writeToLayout(layout, base);
    // Remove the base layer blob: if newImage read it, this test would fail.
    await rm(layout.blobPath((await base.manifest()).layers[0]!.digest));
    const baseFromDisk = await layout.image(desc);
    const two = await addLayer(layout, { 'app.txt': 'app\n' });
    const image = await newImage({ base: baseFromDisk, layers: [two], created: '2021-01-01T00:00:00Z' });
    const config = await image.configFile();
    assert.deepEqual(config.rootfs.diff_ids, [digestOf(one.tar), digestOf(two.tar)]);
    assert.deepEqual(config.config, { Cmd: ['sh'] }, 'base config is kept');
    assert.equal(config.created, '2021-01-01T00:00:00Z');
    assert.deepEqual(
      config.history?.map((h) => h.created),
      ['2020-01-01T00:00:00Z', '2021-01-01T00:00:00Z'],
    );
    const m = await image.manifest();
    assert.deepEqual(m.layers[0], (await base.manifest()).layers[0]);
    // Reading the removed layer fails as it should (lazily, on use).
    await assert.rejects(
      (async () => readBounded(await (await image.layers())[0]!.compressed()))(),
      (e) => code(e) === 'BLOB_NOT_FOUND',
    );
  } finally {
    cleanup();
  }
});

test('scratch needs a platform; created defaults from SOURCE_DATE_EPOCH', async () => {
  await assert.rejects(newImage({}), (e) => code(e) === 'PLATFORM_REQUIRED');
  assert.equal(defaultCreated({}), '1970-01-01T00:00:00Z');
  assert.equal(defaultCreated({ SOURCE_DATE_EPOCH: '1700000000' }), '2023-11-14T22:13:20Z');
  assert.throws(
    () => defaultCreated({ SOURCE_DATE_EPOCH: 'yesterday' }),
    (e) => code(e) === 'INVALID_SOURCE_DATE_EPOCH',
  );
  const empty = await newImage({ platform: parsePlatform('linux/arm/v7') });
  const c = await empty.configFile();
  assert.equal(c.variant, 'v7');
  assert.deepEqual(c.rootfs.diff_ids, []);
  assert.deepEqual(await empty.layers(), []);
});

test('newIndex lists images with platforms; resolvePlatform picks one or lists what exists', async () => {
  const { dir, cleanup } = tempDir('index');
  try {
    const layout = await OciLayout.init(dir);
    const a = await addLayer(layout, { arch: 'amd64' });
    const b = await addLayer(layout, { arch: 'arm64' });
    const amd = await newImage({ platform: parsePlatform('linux/amd64'), layers: [a] });
    const arm = await newImage({ platform: parsePlatform('linux/arm64/v8'), layers: [b] });
    const index = await newIndex([{ image: amd }, { image: arm }, { image: amd }]);
    const im = await index.indexManifest();
    assert.equal(im.mediaType, MediaType.OciIndex);
    assert.equal(im.manifests.length, 2, 'duplicates are listed once');
    assert.deepEqual(im.manifests[1]!.platform, { architecture: 'arm64', os: 'linux', variant: 'v8' });
    assert.equal(await index.digest(), digestOf(await index.rawManifest()));

    assert.equal(await (await resolvePlatform(index, parsePlatform('linux/arm64'))).digest(), await arm.digest());
    assert.equal(await (await resolvePlatform(index, parsePlatform('linux/x86_64'))).digest(), await amd.digest());
    await assert.rejects(resolvePlatform(index, parsePlatform('linux/s390x')), (e) => {
      assert.equal(code(e), 'PLATFORM_NOT_FOUND');
      assert.match((e as Error).message, /linux\/s390x.*available: linux\/amd64, linux\/arm64\/v8/);
      return true;
    });

    // The same through partial.ts over a layout: the index and its images read back from disk.
    const desc = await writeToLayout(layout, index);
    assert.equal(desc.digest, await index.digest());
    const onDisk = indexFromManifest(layout, await layout.readBlob(desc), desc);
    const picked = await resolvePlatform(onDisk, parsePlatform('linux/arm64/v8'));
    assert.equal(await picked.digest(), await arm.digest());
    assert.deepEqual(await picked.configFile(), await arm.configFile());
    await assert.rejects(onDisk.image(digestOf('x')), (e) => code(e) === 'MANIFEST_NOT_FOUND');

    const docker = await newIndex([{ image: amd, platform: parsePlatform('linux/amd64') }], { mediaType: 'docker' });
    assert.equal(await docker.mediaType(), MediaType.DockerManifestList);
  } finally {
    cleanup();
  }
});

test('imageFromManifest keeps the raw bytes and checks them against the descriptor', async () => {
  const { dir, cleanup } = tempDir('partial');
  try {
    const layout = await OciLayout.init(dir);
    const one = await addLayer(layout, { f: 'f' });
    const made = await newImage({ platform: parsePlatform('linux/amd64'), layers: [one] });
    await writeToLayout(layout, made);
    // Pretty-printed bytes are a different manifest with a different digest: nothing re-serializes.
    const pretty = Buffer.from(JSON.stringify(await made.manifest(), null, 2));
    const image = imageFromManifest(layout, pretty);
    assert.equal(await image.digest(), digestOf(pretty));
    assert.deepEqual(await image.rawManifest(), pretty);
    assert.equal(await image.mediaType(), MediaType.OciManifest);
    assert.deepEqual(await readBounded(await (await image.layers())[0]!.uncompressed()), one.tar);
    const madeDigest = await made.digest();
    assert.throws(
      () =>
        imageFromManifest(layout, pretty, {
          mediaType: MediaType.OciManifest,
          digest: madeDigest,
          size: pretty.length,
        }),
      (e) => code(e) === 'DIGEST_MISMATCH',
    );
    // A layer whose tar does not match its diffID fails when read.
    const { digest, size } = await layout.writeBlobBytes(makeTarLayer({ g: 'g' }).gz);
    const liar = layerFromDescriptor(layout, { mediaType: MediaType.OciLayerGzip, digest, size }, digestOf(one.tar));
    await assert.rejects((async () => readBounded(await liar.uncompressed()))(), (e) => code(e) === 'DIGEST_MISMATCH');
  } finally {
    cleanup();
  }
});
