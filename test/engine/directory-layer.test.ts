// The directory layer step: each file is read once per build. A cold build (nothing hashed yet)
// writes the layer straight away and keys it with the digests taken on the way; a rebuild with
// nothing changed reads no file; a touched file is hashed again (and still a hit); a changed file
// runs the step. The key is the same whichever way it was computed.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileHashCache } from '../../src/engine/context/index.js';
import { type DirectoryLayerSpec, directoryLayerStep, filesFilter } from '../../src/engine/directory-layer.js';
import { Solver } from '../../src/engine/solver/solver.js';
import { Store } from '../../src/store/store.js';

async function tree(root: string): Promise<void> {
  await mkdir(join(root, 'src', 'deep'), { recursive: true });
  await writeFile(join(root, 'a.txt'), 'alpha\n');
  await writeFile(join(root, 'src', 'main.js'), 'console.log(1)\n');
  await writeFile(join(root, 'src', 'deep', 'big.bin'), Buffer.alloc(300_000, 3));
  await writeFile(join(root, 'empty'), '');
  await symlink('a.txt', join(root, 'link'));
}

interface Reads {
  hash: string[];
  layer: string[];
}

async function run(
  store: Store,
  cacheDir: string,
  root: string,
  extra: Partial<DirectoryLayerSpec> = {},
): Promise<{ key: string; digest: string | undefined; cached: boolean; reads: Reads }> {
  // No racy window: the test's files are seconds old, and the point here is what is remembered.
  const hashes = await FileHashCache.open(cacheDir, { racyWindowMs: 0 });
  const reads: Reads = { hash: [], layer: [] };
  const r = await directoryLayerStep(new Solver({ store }), {
    root,
    prefix: 'app',
    parent: 'test',
    inputs: ['app'],
    name: 'COPY . /app',
    hashes,
    onFileRead: (abs, purpose) => reads[purpose].push(abs.slice(root.length + 1)),
    ...extra,
  });
  await hashes.save();
  return { key: r.key, digest: r.descriptor?.digest, cached: r.cached, reads };
}

test('a directory layer reads each file once: cold writes and keys in one pass, warm reads nothing, touched hashes only itself', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-dirlayer-'));
  try {
    const root = join(dir, 'ctx');
    await tree(root);
    const store = await Store.open({ dir: join(dir, 'store') });
    const cacheDir = join(dir, 'hashes');

    const cold = await run(store, cacheDir, root);
    assert.equal(cold.cached, false);
    assert.deepEqual(cold.reads.hash, [], 'a cold build hashes nothing before writing');
    assert.deepEqual(cold.reads.layer.sort(), ['a.txt', 'empty', 'src/deep/big.bin', 'src/main.js']);

    const warm = await run(store, cacheDir, root);
    assert.deepEqual(warm, { key: cold.key, digest: cold.digest, cached: true, reads: { hash: [], layer: [] } });

    await writeFile(join(root, 'src', 'main.js'), 'console.log(1)\n'); // same bytes, new mtime and ctime
    const touched = await run(store, cacheDir, root);
    assert.deepEqual(touched, {
      key: cold.key,
      digest: cold.digest,
      cached: true,
      reads: { hash: ['src/main.js'], layer: [] },
    });

    await writeFile(join(root, 'a.txt'), 'beta\n');
    const changed = await run(store, cacheDir, root);
    assert.equal(changed.cached, false);
    assert.notEqual(changed.key, cold.key);
    assert.deepEqual(changed.reads.hash, ['a.txt']);
    assert.equal(changed.reads.layer.length, 4);

    // The warm build found the cold one's record, so a key computed up front equals the one
    // computed while writing; in another store (digests remembered, no record) the key is known
    // before the write, which makes the same blob.
    const other = await Store.open({ dir: join(dir, 'store2') });
    const again = await run(other, cacheDir, root);
    assert.deepEqual(
      { ...again, reads: { hash: again.reads.hash, layer: again.reads.layer.length } },
      { key: changed.key, digest: changed.digest, cached: false, reads: { hash: [], layer: 4 } },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a file list picks those paths (a directory with its subtree) and their parents, nothing else', async () => {
  const keep = filesFilter(['src/deep', 'a.txt']);
  assert.deepEqual(
    ['a.txt', 'src', 'src/deep', 'src/deep/big.bin', 'src/main.js', 'empty', 'link', 'srcx'].filter(keep),
    ['a.txt', 'src', 'src/deep', 'src/deep/big.bin'],
  );
  const dir = await mkdtemp(join(tmpdir(), 'gantry-dirlayer-'));
  try {
    const root = join(dir, 'ctx');
    await tree(root);
    const store = await Store.open({ dir: join(dir, 'store') });
    const some = await run(store, join(dir, 'h'), root, { files: ['src/main.js'] });
    assert.deepEqual(some.reads.layer, ['src/main.js']);
    const all = await run(store, join(dir, 'h'), root);
    assert.notEqual(all.key, some.key);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
