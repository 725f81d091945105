// OCI image layouts: write an image, read it back, and let umoci and skopeo read what we wrote;
// atomic, verified blob writes; corrupt blobs; digests that try to escape the blobs directory.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { writeOciArchive } from '../../src/layer/archive/oci-archive.js';
import { digestOf } from '../../src/oci/digest.js';
import type { Image } from '../../src/oci/image.js';
import { OciLayout, writeToLayout } from '../../src/oci/layout.js';
import { newImage, newIndex } from '../../src/oci/mutate.js';
import { layerFromDescriptor } from '../../src/oci/partial.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { blobFileOf, readBounded } from '../../src/oci/stream.js';
import { type Descriptor, MediaType } from '../../src/oci/types.js';
import { hasTool, makeTarLayer, runTool, tempDir } from './fixtures.js';

const code = (e: unknown) => (GantryError.is(e) ? e.code : String(e));

async function makeImage(
  layout: OciLayout,
  platform: string,
  mediaType: 'oci' | 'docker' = 'oci',
): Promise<{ image: Image; tars: Buffer[] }> {
  const files: Record<string, string>[] = [
    { 'etc/os-release': `ID=gantry-${platform}\n` },
    { 'usr/bin/hello': '#!/bin/sh\necho hi\n' },
  ];
  const tars: Buffer[] = [];
  const layers = [];
  for (const f of files) {
    const { tar, gz } = makeTarLayer(f);
    const { digest, size } = await layout.writeBlobBytes(gz);
    tars.push(tar);
    layers.push({
      layer: layerFromDescriptor(layout, { mediaType: MediaType.OciLayerGzip, digest, size }, digestOf(tar)),
    });
  }
  const image = await newImage({
    platform: parsePlatform(platform),
    layers,
    mediaType,
    config: (c) => ({ ...c, config: { Cmd: ['/usr/bin/hello'], Env: ['PATH=/usr/bin'] } }),
  });
  return { image, tars };
}

async function tag(layout: OciLayout, desc: Descriptor, name: string): Promise<void> {
  const index = await layout.readIndex();
  await layout.writeIndex({
    ...index,
    manifests: [...index.manifests, { ...desc, annotations: { 'org.opencontainers.image.ref.name': name } }],
  });
}

test('init creates a layout that open accepts; init again keeps index.json', async () => {
  const { dir, cleanup } = tempDir('init');
  try {
    const layout = await OciLayout.init(dir);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    assert.deepEqual((await layout.readIndex()).manifests, []);
    const blob = await layout.writeBlobBytes(Buffer.from('{}'));
    await tag(layout, { mediaType: MediaType.OciManifest, ...blob }, 'x');
    const again = await OciLayout.init(dir);
    assert.equal((await again.readIndex()).manifests.length, 1);
    assert.equal((await OciLayout.open(dir)).dir, dir);
  } finally {
    cleanup();
  }
});

test('init of a complete layout writes nothing (a no-change build); one missing index.json or blobs/ is completed', async () => {
  const { dir, cleanup } = tempDir('init-again');
  try {
    await OciLayout.init(dir);
    const old = new Date(1_000_000_000_000);
    for (const f of ['.', 'oci-layout', 'index.json']) utimesSync(join(dir, f), old, old);
    await OciLayout.init(dir);
    for (const f of ['.', 'oci-layout', 'index.json'])
      assert.equal(statSync(join(dir, f)).mtimeMs, old.getTime(), `${f} untouched`);
    rmSync(join(dir, 'index.json'));
    rmSync(join(dir, 'blobs'), { recursive: true });
    const layout = await OciLayout.init(dir);
    assert.deepEqual((await layout.readIndex()).manifests, []);
    assert.ok(statSync(join(dir, 'blobs', 'sha256')).isDirectory());
  } finally {
    cleanup();
  }
});

test('open refuses a directory that is not a layout', async () => {
  const { dir, cleanup } = tempDir('notlayout');
  try {
    await assert.rejects(OciLayout.open(dir), (e) => code(e) === 'NOT_AN_OCI_LAYOUT');
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await assert.rejects(OciLayout.open(dir), (e) => code(e) === 'NOT_AN_OCI_LAYOUT');
    writeFileSync(join(dir, 'oci-layout'), 'not json');
    await assert.rejects(OciLayout.open(dir), (e) => code(e) === 'NOT_AN_OCI_LAYOUT');
  } finally {
    cleanup();
  }
});

test('an image written to a layout reads back identically', async () => {
  const { dir, cleanup } = tempDir('roundtrip');
  try {
    const layout = await OciLayout.init(dir);
    const { image, tars } = await makeImage(layout, 'linux/amd64');
    const desc = await writeToLayout(layout, image);
    assert.deepEqual(desc, {
      mediaType: MediaType.OciManifest,
      digest: await image.digest(),
      size: await image.size(),
    });
    assert.ok(await layout.hasBlob(await image.configName()));
    const back = await layout.image(desc);
    assert.deepEqual(await back.rawManifest(), await image.rawManifest());
    assert.deepEqual(await back.rawConfigFile(), await image.rawConfigFile());
    const layers = await back.layers();
    for (const [i, layer] of layers.entries()) {
      assert.deepEqual(await readBounded(await layer.uncompressed()), tars[i]);
    }
    // Writing again finds every blob present and rewrites none of them.
    const inode = statSync(layout.blobPath(desc.digest)).ino;
    assert.deepEqual(await writeToLayout(layout, image), desc);
    assert.equal(statSync(layout.blobPath(desc.digest)).ino, inode);
    await assert.rejects(layout.imageIndex(desc), (e) => code(e) === 'WRONG_MEDIA_TYPE');
  } finally {
    cleanup();
  }
});

test('umoci and skopeo read the images we write', { skip: !hasTool('umoci') || !hasTool('skopeo') }, async () => {
  const { dir, cleanup } = tempDir('tools');
  const out = tempDir('tools-out');
  try {
    const layout = await OciLayout.init(dir);
    const { image } = await makeImage(layout, 'linux/amd64');
    await tag(layout, await writeToLayout(layout, image), 'v1');

    const stat = runTool('umoci', ['stat', '--json', '--image', `${dir}:v1`]);
    const history = (JSON.parse(stat) as { history: unknown[] }).history;
    assert.equal(history.length, 2);

    const inspect = JSON.parse(runTool('skopeo', ['inspect', `oci:${dir}:v1`])) as Record<string, unknown>;
    assert.equal(inspect.Digest, await image.digest());
    assert.equal(inspect.Architecture, 'amd64');
    assert.deepEqual(
      inspect.Layers,
      (await image.manifest()).layers.map((l) => l.digest),
    );
    assert.deepEqual(inspect.Env, ['PATH=/usr/bin']);
    const config = JSON.parse(runTool('skopeo', ['inspect', '--config', `oci:${dir}:v1`])) as Record<string, unknown>;
    assert.deepEqual(config, JSON.parse((await image.rawConfigFile()).toString()));

    // umoci unpacks the layers and finds the files, which checks every diff_id.
    const bundle = join(out.dir, 'bundle');
    runTool('umoci', ['raw', 'unpack', '--rootless', '--image', `${dir}:v1`, bundle]);
    assert.equal(readFileSync(join(bundle, 'etc/os-release'), 'utf8'), 'ID=gantry-linux/amd64\n');

    // A two-platform index, through skopeo. (Docker-typed manifests cannot be checked this way:
    // skopeo's oci: transport only looks at OCI media types in index.json.)
    const { image: arm } = await makeImage(layout, 'linux/arm64/v8');
    const index = await newIndex([{ image }, { image: arm }]);
    await tag(layout, await writeToLayout(layout, index), 'multi');
    const raw = JSON.parse(runTool('skopeo', ['inspect', '--raw', `oci:${dir}:multi`])) as { manifests: unknown[] };
    assert.equal(raw.manifests.length, 2);
    const armInspect = JSON.parse(
      runTool('skopeo', ['inspect', '--override-arch', 'arm64', '--override-os', 'linux', `oci:${dir}:multi`]),
    ) as Record<string, unknown>;
    // skopeo reports the index digest; the layers show which image it picked.
    assert.equal(armInspect.Digest, await index.digest());
    assert.equal(armInspect.Architecture, 'arm64');
    assert.deepEqual(
      armInspect.Layers,
      (await arm.manifest()).layers.map((l) => l.digest),
    );
    // And skopeo copies out of our layout and verifies every blob on the way.
    runTool('skopeo', ['copy', '--all', `oci:${dir}:multi`, `oci:${join(out.dir, 'copy')}:m`]);
    assert.equal(
      JSON.parse(readFileSync(join(out.dir, 'copy', 'index.json'), 'utf8')).manifests[0].digest,
      await index.digest(),
    );
  } finally {
    cleanup();
    out.cleanup();
  }
});

/** A layout holding one single-platform image, and the path of its layer blob. */
async function oneImageLayout(dir: string) {
  const layout = await OciLayout.init(dir);
  const { image } = await makeImage(layout, 'linux/amd64');
  const desc = await writeToLayout(layout, image);
  const layerDigest = (await image.manifest()).layers[0]!.digest;
  return { layout, image, desc, layerDigest, path: layout.blobPath(layerDigest) };
}

/** Flips one byte near the end of the file (same size, different content); returns the new bytes. */
function flipByteNearEnd(path: string): Buffer {
  const bytes = readFileSync(path);
  bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0xff;
  writeFileSync(path, bytes);
  return bytes;
}

test('a corrupted blob on disk fails with DIGEST_MISMATCH when read', async () => {
  const { dir, cleanup } = tempDir('corrupt');
  try {
    const { layout, image, desc, layerDigest, path } = await oneImageLayout(dir);
    const bytes = flipByteNearEnd(path);
    const back = await layout.image(desc);
    const layer = await back.layerByDigest(layerDigest);
    await assert.rejects((async () => readBounded(await layer.compressed()))(), (e) => code(e) === 'DIGEST_MISMATCH');
    // The config too: a flipped byte in a small blob is caught by readBlob.
    const configPath = layout.blobPath(await image.configName());
    const config = readFileSync(configPath);
    config[0] = 0x20;
    writeFileSync(configPath, config);
    // (A fresh image: `back` has already read and cached its config.)
    await assert.rejects((async () => (await layout.image(desc)).configFile())(), (e) => code(e) === 'DIGEST_MISMATCH');
    // A truncated blob.
    writeFileSync(path, bytes.subarray(0, 10));
    await assert.rejects(
      (async () => readBounded(await (await back.layerByDigest(layerDigest)).compressed()))(),
      (e) => code(e) === 'SIZE_MISMATCH',
    );
    await assert.rejects(layout.readBlob({ digest: digestOf('absent') }), (e) => code(e) === 'BLOB_NOT_FOUND');
    // Aborting a read in progress ends the stream with ABORTED.
    const ac = new AbortController();
    const configStream = await layout.openBlob({ digest: await image.configName() }, { signal: ac.signal });
    ac.abort();
    await assert.rejects(readBounded(configStream), (e) => code(e) === 'ABORTED');
    await assert.rejects(layout.openBlob({ digest: desc.digest }, { signal: ac.signal }), (e) => code(e) === 'ABORTED');
  } finally {
    cleanup();
  }
});

test('an OCI directory output copies the files of blobs this process wrote; any other blob is read and verified', async () => {
  const { dir, cleanup } = tempDir('blobfile');
  try {
    const { layout, desc, layerDigest, path } = await oneImageLayout(dir);
    // Written by this layout object: marked with its file (the stream still checks its bytes).
    const mine = await layout.openBlob({ digest: layerDigest });
    assert.equal(blobFileOf(mine), path);
    assert.equal(digestOf(await readBounded(mine)), layerDigest);
    // The same blob as another process sees it (a fresh open): not marked, so a copier reads it
    // through the verifying stream, and a file changed on disk is caught.
    const other = await OciLayout.open(dir);
    const theirs = await other.openBlob({ digest: layerDigest });
    assert.equal(blobFileOf(theirs), undefined);
    theirs.destroy();
    const bytes = flipByteNearEnd(path);
    const out = join(dir, '..', `${dir.split('/').pop()}-out`);
    const err = await writeOciArchive([{ item: await other.image(desc), names: [] }], out, { tar: false }).catch(
      (e: unknown) => e,
    );
    assert.equal(code(err), 'DIGEST_MISMATCH', String(err));
    assert.equal(existsSync(out), false, 'nothing half-written');
    // A blob this process wrote is trusted for the life of the process (hashed once, as it was
    // written): the output gets the file copied as it is, with no second read or hash.
    await writeOciArchive([{ item: await layout.image(desc), names: [] }], out, { tar: false });
    assert.deepEqual(readFileSync(join(out, 'blobs', 'sha256', layerDigest.slice(7))), bytes);
    rmSync(out, { recursive: true, force: true });
  } finally {
    cleanup();
  }
});

test('writeBlob verifies, cleans up its temp file on mismatch, and does not rewrite blobs', async () => {
  const { dir, cleanup } = tempDir('write');
  try {
    const layout = await OciLayout.init(dir);
    const data = Buffer.from('hello blob');
    const digest = digestOf(data);
    await assert.rejects(
      layout.writeBlob(Readable.from([Buffer.from('hello blob!')]), { digest }),
      (e) => code(e) === 'DIGEST_MISMATCH',
    );
    await assert.rejects(
      layout.writeBlob(Readable.from([data]), { digest, size: 3 }),
      (e) => code(e) === 'SIZE_MISMATCH',
    );
    assert.equal(await layout.hasBlob(digest), false);
    assert.deepEqual(readdirSync(layout.tempDir), [], 'no temp file is left behind');

    assert.deepEqual(await layout.writeBlob(Readable.from([data])), { digest, size: data.length });
    assert.deepEqual(await layout.readBlob({ digest, size: data.length }), data);
    const inode = statSync(layout.blobPath(digest)).ino;
    // Present: the source is not read at all (it would fail if it were).
    const failing = new Readable({
      read() {
        this.destroy(new Error('read a present blob'));
      },
    });
    assert.deepEqual(await layout.writeBlob(failing, { digest, size: data.length }), { digest, size: data.length });
    assert.deepEqual(await layout.writeBlobBytes(data), { digest, size: data.length });
    assert.equal(statSync(layout.blobPath(digest)).ino, inode);

    // An aborted write leaves nothing behind.
    const ac = new AbortController();
    async function* slow() {
      yield Buffer.from('part');
      ac.abort();
      yield Buffer.from('rest');
    }
    await assert.rejects(
      layout.writeBlob(Readable.from(slow()), {}, { signal: ac.signal }),
      (e) => code(e) === 'ABORTED',
    );
    assert.deepEqual(readdirSync(layout.tempDir), []);
  } finally {
    cleanup();
  }
});

test('crafted digests cannot reach outside blobs/ (path traversal)', async () => {
  const { dir, cleanup } = tempDir('traversal');
  try {
    const layout = await OciLayout.init(join(dir, 'layout'));
    await mkdir(join(dir, 'x'), { recursive: true });
    await writeFile(join(dir, 'secret'), 'secret');
    const evil = [
      'sha256:../../x',
      'sha256:../../../secret',
      'sha256/../../secret',
      '../secret',
      `sha256:${'a'.repeat(63)}/`,
    ];
    for (const digest of evil) {
      assert.throws(
        () => layout.blobPath(digest),
        (e) => code(e) === 'INVALID_DIGEST',
        digest,
      );
      await assert.rejects(layout.hasBlob(digest), (e) => code(e) === 'INVALID_DIGEST', digest);
      await assert.rejects(layout.openBlob({ digest }), (e) => code(e) === 'INVALID_DIGEST', digest);
      await assert.rejects(
        layout.writeBlob(Readable.from([Buffer.from('pwned')]), { digest }),
        (e) => code(e) === 'INVALID_DIGEST',
        digest,
      );
    }
    assert.equal(readFileSync(join(dir, 'secret'), 'utf8'), 'secret');
    assert.equal(existsSync(join(dir, 'x', 'pwned')), false);
    assert.deepEqual(readdirSync(join(dir, 'x')), []);
    // A manifest naming a crafted digest is refused before any path is built.
    const evilManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: 'sha256:../../../secret', size: 6 },
        layers: [],
      }),
    );
    const blob = await layout.writeBlobBytes(evilManifest);
    await assert.rejects(
      layout.image({ mediaType: MediaType.OciManifest, ...blob }),
      (e) => code(e) === 'INVALID_MANIFEST',
    );
  } finally {
    cleanup();
  }
});
