// writeLayer and decompressStream: digests checked against sha256sum and gzip, determinism
// across touched trees and SOURCE_DATE_EPOCH, zstd frames read back by the zstd CLI, bounded memory.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  ftruncateSync,
  mkdirSync,
  openSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  createParallelGzip,
  decompressStream,
  defaultDeflateWorkers,
  GZIP_BLOCK_SIZE,
  readTar,
  sharedDeflatePool,
  type TarInput,
  tarStream,
  walkDirectory,
  writeLayer,
  ZSTD_FRAME_SIZE,
} from '../../src/layer/index.js';
import { MediaType } from '../../src/oci/types.js';
import { bufferStream, collector, readAll, run, sha256, tempDir } from './helpers.js';

function makeTree(root: string): void {
  mkdirSync(join(root, 'src/lib'), { recursive: true });
  writeFileSync(join(root, 'src/lib/a.js'), 'export const a = 1;\n');
  writeFileSync(join(root, 'src/main.js'), 'import { a } from "./lib/a.js";\n'.repeat(100));
  writeFileSync(join(root, 'README'), 'hello');
}

test('gzip layer: digest and diffID match sha256sum and gzip -dc | sha256sum', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  makeTree(tree);
  const blob = join(dir, 'layer.tar.gz');
  const info = await writeLayer(walkDirectory(tree, { mtime: 0 }), createWriteStream(blob));
  assert.equal(info.mediaType, MediaType.OciLayerGzip);
  const sum = run('sha256sum', [blob]).stdout.toString().split(' ')[0];
  assert.equal(info.digest, `sha256:${sum}`);
  const tar = run('gzip', ['-dc', blob]).stdout;
  assert.equal(info.diffID, `sha256:${sha256(tar)}`);
  assert.equal(info.uncompressedSize, tar.length);
  assert.equal(info.size, statSync(blob).size);
  const listing = run('tar', ['-tzf', blob]).stdout.toString().trim().split('\n');
  assert.deepEqual(listing, ['README', 'src/', 'src/lib/', 'src/lib/a.js', 'src/main.js']);
});

test('uncompressed layer: digest equals diffID and the media type is the plain tar one', async (t) => {
  const dir = tempDir(t);
  makeTree(dir);
  const out = collector();
  const info = await writeLayer(walkDirectory(dir), out.sink, { compression: 'none' });
  assert.equal(info.digest, info.diffID);
  assert.equal(info.mediaType, MediaType.OciLayer);
  assert.equal(info.digest, `sha256:${sha256(out.bytes())}`);
  assert.equal(info.size, out.bytes().length);
});

test('two walks of the same tree with touched mtimes give byte-identical layers', async (t) => {
  const dir = tempDir(t);
  makeTree(dir);
  const first = collector();
  const a = await writeLayer(walkDirectory(dir, { mtime: 1_700_000_000 }), first.sink);
  utimesSync(join(dir, 'README'), 5, 5);
  utimesSync(join(dir, 'src'), 999_999, 999_999);
  const second = collector();
  const b = await writeLayer(walkDirectory(dir, { mtime: 1_700_000_000 }), second.sink);
  assert.ok(first.bytes().equals(second.bytes()));
  assert.deepEqual(a, b);
});

test('SOURCE_DATE_EPOCH changes the digest and diffID of an otherwise identical layer', async (t) => {
  const dir = tempDir(t);
  makeTree(dir);
  const saved = process.env.SOURCE_DATE_EPOCH;
  try {
    process.env.SOURCE_DATE_EPOCH = '1000';
    const a = await writeLayer(walkDirectory(dir), collector().sink);
    const again = await writeLayer(walkDirectory(dir), collector().sink);
    process.env.SOURCE_DATE_EPOCH = '2000';
    const b = await writeLayer(walkDirectory(dir), collector().sink);
    assert.deepEqual(a, again);
    assert.notEqual(a.diffID, b.diffID);
    assert.notEqual(a.digest, b.digest);
  } finally {
    if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = saved;
  }
});

test('zstd layer: deterministic frames that the zstd CLI reads back, and a round trip', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  makeTree(tree);
  // Over two frames' worth, so the blob is several frames and the last one is partial.
  writeFileSync(join(tree, 'big.txt'), Buffer.alloc(2 * ZSTD_FRAME_SIZE + 12345, 'zstd frames, one per block\n'));
  const first = join(dir, 'a.tar.zst');
  const info = await writeLayer(walkDirectory(tree, { mtime: 0 }), createWriteStream(first), { compression: 'zstd' });
  assert.equal(info.mediaType, MediaType.OciLayerZstd);
  assert.equal(info.size, statSync(first).size);
  assert.ok(info.size < info.uncompressedSize / 100, `compressed ${info.size} of ${info.uncompressedSize}`);
  const sum = run('sha256sum', [first]).stdout.toString().split(' ')[0];
  assert.equal(info.digest, `sha256:${sum}`);
  const tar = run('zstd', ['-dc', first]).stdout;
  assert.equal(info.diffID, `sha256:${sha256(tar)}`);
  assert.equal(info.uncompressedSize, tar.length);
  const again = collector();
  const second = await writeLayer(walkDirectory(tree, { mtime: 0 }), again.sink, { compression: 'zstd' });
  assert.equal(second.digest, info.digest);
  // Read back with gantry's own decoder, in the odd chunk sizes a socket gives.
  const blob = again.bytes();
  const chunks: Buffer[] = [];
  for (let i = 0; i < blob.length; i += 65_521) chunks.push(blob.subarray(i, i + 65_521));
  assert.ok((await readAll(await decompressStream(bufferStream(...chunks)))).equals(tar));
  // A level changes the bytes, not the tar; an out-of-range level is a usage error before any work.
  const fast = await writeLayer(walkDirectory(tree, { mtime: 0 }), collector().sink, { compression: 'zstd', level: 1 });
  assert.notEqual(fast.digest, info.digest);
  assert.equal(fast.diffID, info.diffID);
  await assert.rejects(writeLayer([], collector().sink, { compression: 'zstd', level: 23 }), {
    code: 'INVALID_COMPRESSION_LEVEL',
  });
});

test('zstd layer: an empty layer is one empty frame, and a truncated blob is an error, not a short tar', async () => {
  const out = collector();
  const info = await writeLayer([], out.sink, { compression: 'zstd' });
  assert.equal(run('zstd', ['-dc'], out.bytes()).stdout.length, info.uncompressedSize);
  const inputs: TarInput[] = [
    { entry: { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3 }, body: Buffer.from('abc') },
  ];
  const small = collector();
  await writeLayer(inputs, small.sink, { compression: 'zstd' });
  const blob = small.bytes();
  await assert.rejects(readAll(await decompressStream(bufferStream(blob.subarray(0, blob.length - 3)))), {
    code: 'ZSTD_CORRUPT',
  });
});

test('decompressStream sniffs gzip and plain tar', async (t) => {
  const dir = tempDir(t);
  makeTree(dir);
  const plain = collector();
  await writeLayer(walkDirectory(dir), plain.sink, { compression: 'none' });
  const tar = plain.bytes();
  assert.ok((await readAll(await decompressStream(bufferStream(gzipSync(tar))))).equals(tar));
  assert.ok((await readAll(await decompressStream(bufferStream(tar)))).equals(tar));
  assert.equal((await readAll(await decompressStream(bufferStream(Buffer.alloc(0))))).length, 0);
  // Magic split across tiny chunks is still recognised.
  const gz = gzipSync(tar);
  const { Readable } = await import('node:stream');
  const trickle = Readable.from([gz.subarray(0, 1), gz.subarray(1, 3), gz.subarray(3)], { objectMode: false });
  const names: string[] = [];
  for await (const { entry } of readTar(await decompressStream(trickle))) names.push(entry.path);
  assert.deepEqual(names, ['README', 'src', 'src/lib', 'src/lib/a.js', 'src/main.js']);
});

test('a corrupt gzip stream surfaces as an error to the reader', async () => {
  const gz = gzipSync(Buffer.alloc(4096, 1));
  gz[20] = (gz[20] as number) ^ 0xff;
  await assert.rejects(readAll(await decompressStream(bufferStream(gz))));
});

test('an aborted writeLayer stops with ABORTED', async (t) => {
  const dir = tempDir(t);
  makeTree(dir);
  await assert.rejects(writeLayer(walkDirectory(dir), collector().sink, { signal: AbortSignal.abort() }), {
    code: 'ABORTED',
  });
});

test('writeLayer of a 300 MB file does not grow RSS by more than 64 MB', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  // A sparse file: cheap on disk, but every byte still flows through tar, hash and gzip.
  const fd = openSync(join(tree, 'big.bin'), 'w');
  ftruncateSync(fd, 300 * 1024 * 1024);
  closeSync(fd);
  let written = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      cb();
    },
  });
  // Start every gzip worker first: a worker costs about 10 MB of RSS once per process (up to
  // 8 of them), which is not memory a layer holds. Two blocks per worker fill the pool.
  const warmup = Buffer.alloc((2 * defaultDeflateWorkers() + 1) * GZIP_BLOCK_SIZE);
  const warm = [
    { entry: { path: 'w', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: warmup.length }, body: warmup },
  ] as const;
  await writeLayer(warm, collector().sink, { level: 1 });
  assert.equal(sharedDeflatePool().workers, defaultDeflateWorkers());
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  try {
    const info = await writeLayer(walkDirectory(tree), sink, { compression: 'gzip', level: 1 });
    assert.equal(info.size, written);
    assert.ok(info.uncompressedSize > 300 * 1024 * 1024);
  } finally {
    clearInterval(timer);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  const growth = (peak - before) / (1024 * 1024);
  t.diagnostic(`RSS growth ${growth.toFixed(1)} MB`);
  assert.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MB`);
});

test('a layer file on disk reads back through decompressStream and readTar', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  makeTree(tree);
  const blob = join(dir, 'l.tgz');
  await writeLayer(walkDirectory(tree), createWriteStream(blob));
  const contents = new Map<string, string>();
  for await (const { entry, body } of readTar(await decompressStream(createReadStream(blob)))) {
    contents.set(entry.path, (await readAll(body)).toString());
  }
  assert.equal(contents.get('README'), 'hello');
});

test('a gzip layer read through one lent buffer is the blob of the stream path, and a failing sink is the error reported', async (t) => {
  const dir = tempDir(t);
  const tree = join(dir, 'tree');
  mkdirSync(tree);
  // Small files (one read each) and large ones (several reads), all through the same buffer: a
  // chunk overwritten before it was hashed and copied into a gzip block changes the blob.
  const random = randomBytes(3 * 1024 * 1024 + 5);
  for (let i = 0; i < 40; i++) writeFileSync(join(tree, `s${i}`), random.subarray(i * 7919, i * 7919 + 1000 * i));
  writeFileSync(join(tree, 'large-1'), random);
  writeFileSync(join(tree, 'large-2'), Buffer.concat([random.subarray(1000), Buffer.from('x'.repeat(1 << 20))]));
  const lent = collector();
  const info = await writeLayer(walkDirectory(tree), lent.sink);
  const streamed = collector();
  await pipeline(tarStream(walkDirectory(tree)), createParallelGzip(), streamed.sink);
  assert.ok(lent.bytes().equals(streamed.bytes()), 'the same blob both ways');
  assert.equal(info.digest, `sha256:${sha256(lent.bytes())}`);
  assert.equal(info.diffID, `sha256:${sha256(gunzipSync(lent.bytes()))}`);

  let writes = 0;
  const failing = new Writable({
    write(_chunk: Buffer, _enc, cb) {
      cb(++writes === 2 ? new Error('the disk is full') : null);
    },
  });
  await assert.rejects(writeLayer(walkDirectory(tree), failing), /the disk is full/);
  assert.equal(sharedDeflatePool().busy, 0);
  assert.equal(sharedDeflatePool().queued, 0);
});
