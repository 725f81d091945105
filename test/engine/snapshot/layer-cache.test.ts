// Pins the extracted-layer cache: a layer is extracted once per diffID however many builds and
// caches ask for it, its OCI whiteouts are stored as overlay whiteouts (so cached layers stack
// directly as overlay lowers), and stacking cached layers (overlay, walk, either whiteout form)
// gives the same tree as extracting the layers one over the other. Also pins lowers beyond what
// one mount option or overlay's stacking limit can hold.
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import {
  LayerCache,
  MAX_OVERLAY_LOWERS,
  OverlaySnapshotter,
  overlayAvailable,
  WalkSnapshotter,
} from '../../../src/engine/snapshot/index.js';
import { extractLayer } from '../../../src/layer/extract.js';
import type { TarInput } from '../../../src/layer/tar/types.js';
import type { Layer } from '../../../src/oci/image.js';
import { OciLayout } from '../../../src/oci/layout.js';
import { layerFromDescriptor } from '../../../src/oci/partial.js';
import { busyboxImage, busyboxRootfs } from '../../harness/fixtures.js';
import { run } from '../../harness/run.js';
import { collect, countingLayer, describeTree, layerOf, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;

function dir(path: string, mode = 0o755): TarInput {
  return { entry: { path, type: 'directory', mode, uid: 0, gid: 0, mtime: 1_000, size: 0 } };
}
function file(path: string, text: string, mode = 0o644): TarInput {
  const body = Buffer.from(text);
  return { entry: { path, type: 'file', mode, uid: 0, gid: 0, mtime: 1_000, size: body.length }, body };
}

async function busyboxLayer(): Promise<Layer> {
  const img = await busyboxImage();
  const layout = await OciLayout.open(img.layoutDir);
  const [top] = (await layout.readIndex()).manifests;
  assert.ok(top);
  const amd64 = img.manifests.find((m) => m.platform === 'linux/amd64');
  assert.ok(amd64);
  const image = await (await layout.imageIndex(top)).image(amd64.digest);
  const [layer] = await image.layers();
  assert.ok(layer);
  return layer;
}

describe('LayerCache', () => {
  let overlay = false;
  before(async () => {
    overlay = await overlayAvailable();
  });

  test('extracts a layer once, shared by concurrent callers and by another cache on the same dir', async (t) => {
    const scratch = await tempDir(t);
    const { layer, reads } = countingLayer(await busyboxLayer());
    const cacheDir = join(scratch, 'cache');
    const cache = new LayerCache(cacheDir);
    const [a, b] = await Promise.all([cache.ensureExtracted(layer), cache.ensureExtracted(layer)]);
    const c = await cache.ensureExtracted(layer);
    const d = await new LayerCache(cacheDir).ensureExtracted(layer); // as another process would
    assert.equal(reads(), 1, 'one extraction');
    assert.deepEqual([b, c, d], [a, a, a]);
    assert.equal(a, cache.pathFor(await layer.diffID()));
    assert.ok(cache.has(await layer.diffID()));
    assert.deepEqual(await describeTree(a), await describeTree(await busyboxRootfs('amd64')));
    // Nothing but finished layers is left beside it.
    assert.deepEqual(await readdir(join(a, '..')), [a.slice(a.lastIndexOf('/') + 1)]);

    await cache.remove(await layer.diffID());
    assert.equal(cache.has(await layer.diffID()), false);
    await cache.ensureExtracted(layer);
    assert.equal(reads(), 2, 'extracted again after remove');
  });

  test('a layer whose tar does not match its diffID leaves nothing in the cache', async (t) => {
    const scratch = await tempDir(t);
    const good = await layerOf(scratch, 'good', [file('a', 'one')]);
    const other = await layerOf(scratch, 'other', [file('a', 'two')]);
    // other's blob under good's diffID: what a corrupt or lying manifest looks like.
    const layout = await OciLayout.open(join(scratch, 'layout'));
    const desc = { mediaType: await other.mediaType(), digest: await other.digest(), size: await other.size() };
    const liar = layerFromDescriptor(layout, desc, await good.diffID());
    const cache = new LayerCache(join(scratch, 'cache'));
    await assert.rejects(cache.ensureExtracted(liar), { code: 'DIGEST_MISMATCH' });
    assert.equal(cache.has(await good.diffID()), false);
    assert.deepEqual(await readdir(join(cache.pathFor(await good.diffID()), '..')), []);
  });

  test('OCI whiteouts are stored as overlay whiteouts, and cached layers stack like extracted ones', async (t) => {
    if (!isRoot) return t.skip('overlay whiteouts need root (mknod, trusted xattrs)');
    const scratch = await tempDir(t);
    const base = await layerOf(scratch, 'base', [
      dir('a'),
      file('a/x', 'x'),
      file('a/y', 'y'),
      dir('b'),
      file('b/keep', 'keep'),
      file('b/z', 'z'),
      file('f', 'f'),
      dir('g'),
      file('g/inner', 'inner'),
    ]);
    const top = await layerOf(scratch, 'top', [
      file('.wh.f', ''),
      dir('a'),
      file('a/.wh..wh..opq', ''),
      file('a/new', 'new'),
      dir('b', 0o700),
      file('b/.wh.z', ''),
      file('g', 'g is a file now'),
    ]);
    const expected = join(scratch, 'expected');
    for (const layer of [base, top]) await extractLayer(await layer.uncompressed(), expected);

    const cache = new LayerCache(join(scratch, 'cache'), { form: 'overlay' });
    const lowers = [await cache.ensureExtracted(base), await cache.ensureExtracted(top)];
    const stored = await describeTree(lowers[1] as string);
    assert.equal(stored.f?.type, 'char');
    assert.equal(stored.f?.rdev, 0);
    assert.equal(stored['b/z']?.type, 'char');
    assert.ok(!Object.keys(stored).some((p) => p.split('/').pop()?.startsWith('.wh.')), 'no .wh. files left');
    const attrs = await run('getfattr', [
      '-h',
      '--only-values',
      '-n',
      'trusted.overlay.opaque',
      join(lowers[1] as string, 'a'),
    ]);
    assert.equal(attrs.stdout, 'y');
    // The mtime extraction gave b survives turning its whiteout into a device.
    assert.equal(Math.floor((await lstat(join(lowers[1] as string, 'b'))).mtimeMs / 1000), 1_000);

    const want = await describeTree(expected);
    const walk = await new WalkSnapshotter({ dir: scratch }).prepare(lowers);
    try {
      assert.deepEqual(await describeTree(walk.root), want, 'walk merges overlay-form lowers');
    } finally {
      await walk.release();
    }
    const ociCache = new LayerCache(join(scratch, 'cache'), { form: 'oci' });
    const ociLowers = [await ociCache.ensureExtracted(base), await ociCache.ensureExtracted(top)];
    assert.notEqual(ociLowers[1], lowers[1], 'the forms are kept apart');
    assert.equal(await readFile(join(ociLowers[1] as string, '.wh.f'), 'utf8'), '');
    const walkOci = await new WalkSnapshotter({ dir: scratch }).prepare(ociLowers);
    try {
      assert.deepEqual(await describeTree(walkOci.root), want, 'walk merges OCI-form lowers');
    } finally {
      await walkOci.release();
    }
    if (!overlay) return;
    const snap = await new OverlaySnapshotter({ dir: scratch }).prepare(lowers);
    try {
      assert.deepEqual(await describeTree(snap.root), want, 'overlay stacks cached layers');
    } finally {
      await snap.release();
    }
  });
});

describe('many lowers', () => {
  for (const kind of ['overlay', 'walk'] as const) {
    test(`${kind}: ${MAX_OVERLAY_LOWERS + 5} lowers with long paths stack in order`, async (t) => {
      if (kind === 'overlay' && !(await overlayAvailable())) return t.skip('overlayfs cannot be mounted here');
      const scratch = await tempDir(t);
      // Each path alone is ~200 bytes: named in full, a few of them would fill the one-page option.
      const deep = join(scratch, 'x'.repeat(100), 'y'.repeat(100));
      const count = MAX_OVERLAY_LOWERS + 5;
      const lowers: string[] = [];
      for (let i = 0; i < count; i++) {
        const lower = join(deep, `layer-${i}`);
        await mkdir(lower, { recursive: true });
        await writeFile(join(lower, `only-${i}`), String(i));
        await writeFile(join(lower, 'top'), String(i));
        lowers.push(lower);
      }
      const snapshotter =
        kind === 'overlay' ? new OverlaySnapshotter({ dir: scratch }) : new WalkSnapshotter({ dir: scratch });
      const snap = await snapshotter.prepare(lowers);
      try {
        assert.equal(await readFile(join(snap.root, 'top'), 'utf8'), String(count - 1), 'the last lower is on top');
        const names = await readdir(snap.root);
        assert.equal(names.length, count + 1);
        assert.equal(await readFile(join(snap.root, 'only-0'), 'utf8'), '0');
        assert.equal(await snap.isEmpty(), true);
      } finally {
        await snap.release();
      }
    });
  }

  test('overlay: scratch (no lowers) is an empty root', async (t) => {
    if (!(await overlayAvailable())) return t.skip('overlayfs cannot be mounted here');
    const scratch = await tempDir(t);
    const snap = await new OverlaySnapshotter({ dir: scratch }).prepare([]);
    try {
      assert.deepEqual(await readdir(snap.root), []);
      await writeFile(join(snap.root, 'hello'), 'hi');
      assert.deepEqual(
        (await collect(snap.commit())).map((i) => i.entry.path),
        ['hello'],
      );
    } finally {
      await snap.release();
    }
  });
});
