// Parallel gzip: the CRC-32 combine step, the gzip framing (gzip -t, gzip -dc, Node's gunzip),
// byte-identical output whatever the worker count and input chunking, the dictionary carried
// across blocks, backpressure bounds, abort leaving no worker busy, and a pool that neither
// keeps an idle process alive nor lets a busy one exit early.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { crc32, crc32Combine, crc32Portable, nativeCrc32 } from '../../src/layer/gzip/crc32.js';
import {
  createParallelGzip,
  DeflatePool,
  GZIP_BLOCK_SIZE,
  sharedDeflatePool,
  type TarInput,
  writeLayer,
} from '../../src/layer/index.js';
import { OciLayout, writeToLayout } from '../../src/oci/layout.js';
import { newImage } from '../../src/oci/mutate.js';
import { layerFromDescriptor } from '../../src/oci/partial.js';
import { parsePlatform } from '../../src/oci/platform.js';
import { MediaType } from '../../src/oci/types.js';
import { collector, run, sha256, tempDir } from './helpers.js';

const MiB = 1024 * 1024;

/** Mixed content: random runs, text, zeros, and repeats that reach back across block boundaries. */
function mixedData(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed;
  const next = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x;
  };
  const words = Buffer.from('layer tar gzip block window dictionary worker digest diffID manifest ');
  for (let at = 0; at < size; ) {
    const kind = next() % 4;
    const n = Math.min(size - at, 1 + (next() % 50_000));
    if (kind === 0) for (let i = 0; i < n; i++) out[at + i] = next() & 0xff;
    else if (kind === 1) for (let i = 0; i < n; i++) out[at + i] = words[(at + i) % words.length] as number;
    else if (kind === 2) out.fill(0, at, at + n);
    else if (at > 20_000) {
      const from = at - 1 - (next() % 20_000);
      out.copy(out, at, from, from + n);
    }
    at += n;
  }
  return out;
}

/** Splits `data` into chunks of pseudo-random sizes from 1 byte to ~200 KiB. */
function chunked(data: Buffer, seed: number): Buffer[] {
  const chunks: Buffer[] = [];
  let x = seed;
  for (let at = 0; at < data.length; ) {
    x = (x * 1664525 + 1013904223) >>> 0;
    const n = Math.min(data.length - at, x % 3 === 0 ? 1 + (x % 7) : 1 + (x % 200_000));
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

async function gzipWith(chunks: readonly Buffer[], options: Parameters<typeof createParallelGzip>[0]): Promise<Buffer> {
  const out = collector();
  await pipeline(Readable.from(chunks, { objectMode: false }), createParallelGzip(options), out.sink);
  return out.bytes();
}

function withPool(t: { after: (fn: () => Promise<void>) => void }, size: number): DeflatePool {
  const pool = new DeflatePool(size);
  t.after(() => pool.close());
  return pool;
}

test('crc32Combine gives the CRC of the concatenation', () => {
  const data = mixedData(3 * MiB + 17, 7);
  for (const split of [0, 1, 4096, MiB, MiB + 1, data.length - 1, data.length]) {
    const a = data.subarray(0, split);
    const b = data.subarray(split);
    assert.equal(crc32Combine(crc32(a), crc32(b), b.length), crc32(data), `split at ${split}`);
  }
  assert.equal(crc32Combine(0, 0, 0), 0);
});

test('the portable CRC-32 agrees with zlib (the fallback for Node before 20.15)', () => {
  const data = mixedData(100_000, 3);
  // The check value of CRC-32 ("123456789") from the catalogue of parametrised CRCs.
  assert.equal(crc32Portable(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32Portable(data), crc32(data));
  assert.equal(crc32Portable(data.subarray(500), crc32Portable(data.subarray(0, 500))), crc32(data));
  if (nativeCrc32()) assert.equal(crc32(data), (zlib as unknown as { crc32: (d: Buffer) => number }).crc32(data));
});

test('parallel gzip round-trips through gzip -t, gzip -dc and Node gunzip at block edges', async (t) => {
  const dir = tempDir(t);
  const pool = withPool(t, 3);
  const sizes = [0, 1, 100, GZIP_BLOCK_SIZE - 1, GZIP_BLOCK_SIZE, GZIP_BLOCK_SIZE + 1, 3 * GZIP_BLOCK_SIZE + 12_345];
  for (const size of sizes) {
    const data = mixedData(size, size + 1);
    const gz = await gzipWith(chunked(data, size), { pool });
    assert.ok(zlib.gunzipSync(gz).equals(data), `gunzip of ${size} bytes`);
    const file = join(dir, `${size}.gz`);
    writeFileSync(file, gz);
    const check = run('gzip', ['-t', file]);
    assert.equal(check.status, 0, `gzip -t of ${size} bytes: ${check.stderr}`);
    assert.equal(sha256(run('gzip', ['-dc', file]).stdout), sha256(data), `gzip -dc of ${size} bytes`);
  }
});

test('the header is fixed (mtime 0, OS unknown) and the trailer holds CRC-32 and ISIZE', async (t) => {
  const pool = withPool(t, 1);
  const data = mixedData(GZIP_BLOCK_SIZE + 5, 9);
  const cases: ReadonlyArray<[number | undefined, number]> = [
    [undefined, 0],
    [1, 4],
    [6, 0],
    [9, 2],
  ];
  for (const [level, xfl] of cases) {
    const gz = await gzipWith([data], level === undefined ? { pool } : { pool, level });
    assert.deepEqual([...gz.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255], `header at level ${level}`);
    assert.equal(gz.readUInt32LE(gz.length - 8), crc32(data));
    assert.equal(gz.readUInt32LE(gz.length - 4), data.length);
  }
});

test('the same input gives the same bytes with 1 or 4 workers and any chunking', async (t) => {
  const one = withPool(t, 1);
  const four = withPool(t, 4);
  const data = mixedData(6 * GZIP_BLOCK_SIZE + 777, 42);
  const reference = await gzipWith([data], { pool: one });
  for (const [pool, seed] of [
    [four, 1],
    [four, 2],
    [one, 3],
  ] as const) {
    const again = await gzipWith(chunked(data, seed), { pool });
    assert.ok(again.equals(reference), `pool of ${pool.size}, chunking ${seed}`);
  }
  // Levels change the bytes; the format stays the same.
  const fast = await gzipWith([data], { pool: four, level: 1 });
  assert.ok(!fast.equals(reference));
  assert.ok(zlib.gunzipSync(fast).equals(data));
});

test('each block is primed with the previous 32 KiB, so repeats across a block edge stay small', async (t) => {
  const pool = withPool(t, 2);
  // 20 KiB of noise repeated: without a dictionary every block would pay for the noise again.
  const noise = randomBytes(20 * 1024);
  const data = Buffer.alloc(4 * GZIP_BLOCK_SIZE);
  for (let at = 0; at < data.length; at += noise.length) noise.copy(data, at);
  const gz = await gzipWith([data], { pool });
  assert.ok(zlib.gunzipSync(gz).equals(data));
  // Without a dictionary each of the 4 blocks starts cold and holds the noise literally (80 KiB+).
  assert.ok(gz.length < 3 * noise.length, `${gz.length} bytes: later blocks did not see the dictionary`);
});

test('an invalid level is a usage error', () => {
  for (const level of [10, -2, 1.5]) {
    assert.throws(() => createParallelGzip({ level }), { code: 'INVALID_COMPRESSION_LEVEL', phase: 'usage' });
  }
  assert.throws(() => new DeflatePool(0), { code: 'INVALID_POOL_SIZE' });
});

test('a slow consumer holds back the input: at most two blocks per worker plus the output buffer', async (t) => {
  const pool = withPool(t, 2);
  const block = randomBytes(GZIP_BLOCK_SIZE);
  let produced = 0;
  let consumed = 0;
  let maxAhead = 0;
  const source = new Readable({
    read() {
      if (produced >= 40 * GZIP_BLOCK_SIZE) {
        this.push(null);
        return;
      }
      produced += block.length;
      this.push(block);
    },
  });
  const gz = createParallelGzip({ pool, level: 1 });
  // Counts uncompressed bytes consumed by following the gzip output through a gunzip.
  const gunzip = zlib.createGunzip();
  const sink = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      consumed += chunk.length;
      maxAhead = Math.max(maxAhead, produced - consumed);
      setImmediate(callback);
    },
  });
  await pipeline(source, gz, gunzip, sink);
  assert.equal(consumed, 40 * GZIP_BLOCK_SIZE);
  // Readable, transform and gunzip buffers are small; the rest is blocks in flight and buffered output.
  const bound = (2 * pool.size + 4) * GZIP_BLOCK_SIZE;
  t.diagnostic(`input ran at most ${(maxAhead / MiB).toFixed(1)} MiB ahead`);
  assert.ok(maxAhead <= bound, `input ran ${(maxAhead / MiB).toFixed(1)} MiB ahead of the consumer`);
});

/** A tar input of `size` bytes whose body stream calls `onRead` with the bytes read so far. */
function bigInput(size: number, onRead: (bytes: number) => void): TarInput[] {
  const piece = mixedData(256 * 1024, 5);
  let sent = 0;
  const body = new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(piece.length, size - sent);
      sent += n;
      onRead(sent);
      this.push(piece.subarray(0, n));
    },
  });
  return [{ entry: { path: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size }, body: () => body }];
}

test('aborting mid-layer rejects with ABORTED, leaves no worker busy, and the next layer works', async (t) => {
  const controller = new AbortController();
  const inputs = bigInput(64 * MiB, (bytes) => {
    if (bytes >= 10 * MiB) controller.abort();
  });
  await assert.rejects(writeLayer(inputs, collector().sink, { signal: controller.signal }), { code: 'ABORTED' });
  const pool = sharedDeflatePool();
  assert.equal(pool.busy, 0);
  assert.equal(pool.queued, 0);

  const dir = tempDir(t);
  const blob = join(dir, 'next.tar.gz');
  const info = await writeLayer(
    bigInput(5 * MiB, () => {}),
    createWriteStream(blob),
  );
  assert.equal(run('gzip', ['-t', blob]).status, 0);
  assert.equal(info.diffID, `sha256:${sha256(run('gzip', ['-dc', blob]).stdout)}`);
  assert.equal(pool.busy, 0);
});

test('a block in shared memory is read in place and handed back; the same bytes as a transferred one', async (t) => {
  const pool = withPool(t, 1);
  const data = Buffer.concat([randomBytes(96 * 1024), Buffer.from('shared or transferred '.repeat(40000))]);
  const shared = new SharedArrayBuffer(data.length);
  Buffer.from(shared).set(data);
  const request = (buffer: ArrayBuffer | SharedArrayBuffer) => ({
    buffer,
    dataOffset: 32 * 1024,
    dictionaryLength: 32 * 1024,
    length: data.length - 32 * 1024,
    level: 6,
    last: false,
  });
  const transferred = new Uint8Array(data).buffer;
  const a = await pool.run(request(transferred));
  const b = await pool.run(request(shared));
  assert.equal(transferred.byteLength, 0, 'an ArrayBuffer is transferred (detached here)');
  assert.ok(Buffer.from(shared).equals(data), 'shared memory is read in place, not changed');
  // What comes back is the same memory (a new handle on it), free for the next block.
  assert.ok(b.buffer instanceof SharedArrayBuffer && b.buffer.byteLength === shared.byteLength);
  new Uint8Array(b.buffer)[0] = (data[0] as number) ^ 0xff;
  assert.equal(new Uint8Array(shared)[0], (data[0] as number) ^ 0xff, 'the same memory comes back');
  assert.ok(a.output.equals(b.output));
  assert.equal(a.crc, b.crc);
  assert.equal(b.crc, zlib.crc32(data.subarray(32 * 1024)));
});

test('closing a pool rejects what it holds, and a closed pool takes no more blocks', async () => {
  const pool = new DeflatePool(1);
  const data = Buffer.alloc(GZIP_BLOCK_SIZE + 32 * 1024);
  const request = () => ({
    buffer: new Uint8Array(data).buffer,
    dataOffset: 32 * 1024,
    dictionaryLength: 0,
    length: GZIP_BLOCK_SIZE,
    level: 9,
    last: true,
  });
  const running = pool.run(request());
  const queued = pool.run(request());
  assert.equal(pool.busy, 1);
  assert.equal(pool.queued, 1);
  const settled = Promise.allSettled([running, queued]);
  await pool.close();
  const [a, b] = await settled;
  assert.equal(b?.status, 'rejected');
  // The running block either finished before terminate or was lost with the worker.
  if (a?.status === 'rejected') assert.equal((a.reason as { code?: string }).code, 'GZIP_WORKER_FAILED');
  await assert.rejects(pool.run(request()), { code: 'POOL_CLOSED' });
  assert.equal(pool.workers, 0);
});

test('an idle pool lets the process exit, and a busy one keeps it alive until the last block', () => {
  const index = fileURLToPath(new URL('../../src/layer/index.js', import.meta.url));
  // Nothing but the workers is pending while the blocks compress: an unref'd busy worker
  // would let the process exit with the pipeline unsettled (exit code 13, no "done").
  const script = `
    import { Readable, Writable } from 'node:stream';
    import { pipeline } from 'node:stream/promises';
    import { createParallelGzip } from ${JSON.stringify(index)};
    let size = 0;
    const data = Buffer.alloc(8 * 1024 * 1024, 7);
    await pipeline(Readable.from([data]), createParallelGzip({ level: 9 }), new Writable({
      write(chunk, _e, cb) { size += chunk.length; cb(); },
    }));
    console.log('done', size > 0);
  `;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(res.stderr, '');
  assert.equal(res.stdout.trim(), 'done true');
  assert.equal(res.status, 0);
});

/** Bytes that look random to deflate (xorshift32), the same on every run. */
function noiseBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Source-like text that deflate shrinks well. */
function textBytes(size: number, seed: number): Buffer {
  const words = ['const', 'layer', 'return', 'await', 'digest', 'function', 'block', '{', '}', '(', ');', '\n  '];
  const parts: string[] = [];
  let x = seed;
  for (let n = 0; n < size; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    const word = `${words[x % words.length]}${x % 7 === 0 ? `_${x % 1000}` : ''} `;
    parts.push(word);
    n += word.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

test('incompressible segments are stored: no larger than zlib level 6, the same bytes with 1 or 3 workers, read by gzip, Node and Python', async (t) => {
  const dir = tempDir(t);
  const one = withPool(t, 1);
  const three = withPool(t, 3);
  // Text, noise across a block edge, text, a short noise run, text, noise to the end: stored
  // and deflated runs inside one block, and a stored run that ends the stream.
  const parts = [
    textBytes(300_000, 1),
    noiseBytes(2 * GZIP_BLOCK_SIZE + 12_345, 2),
    textBytes(700_000, 3),
    noiseBytes(100_000, 4),
    textBytes(50_000, 5),
    noiseBytes(GZIP_BLOCK_SIZE + 77, 6),
  ];
  const data = Buffer.concat(parts);
  const reference = await gzipWith([data], { pool: one });
  for (const [pool, seed] of [
    [three, 1],
    [one, 2],
  ] as const) {
    const again = await gzipWith(chunked(data, seed), { pool });
    assert.ok(again.equals(reference), `pool of ${pool.size}, chunking ${seed}`);
  }
  assert.ok(zlib.gunzipSync(reference).equals(data));
  const file = join(dir, 'mixed.gz');
  writeFileSync(file, reference);
  assert.equal(run('gzip', ['-t', file]).status, 0);
  assert.equal(sha256(run('gzip', ['-dc', file]).stdout), sha256(data));
  const python = run('python3', [
    '-c',
    'import gzip,hashlib,sys;print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())',
    file,
  ]);
  assert.equal(python.stdout.toString().trim(), sha256(data), python.stderr);

  // Noise alone: stored blocks of up to 64 KiB (5 bytes each) between the gzip header and
  // trailer, with a sync-flush marker where a block's last segment is followed by another.
  const noise = noiseBytes(3 * GZIP_BLOCK_SIZE, 7);
  const stored = await gzipWith([noise], { pool: three });
  const zlib6 = zlib.gzipSync(noise, { level: 6 });
  assert.ok(zlib.gunzipSync(stored).equals(noise));
  assert.ok(stored.length < zlib6.length, `stored ${stored.length} bytes, zlib level 6 ${zlib6.length}`);
  assert.ok(
    stored.length <= noise.length + 18 + 5 * Math.ceil(noise.length / 0xffff) + 3 * 5,
    `${stored.length} bytes`,
  );
  // The mix is no larger than zlib level 6 over the same blocks, each block on its own.
  let blockwise = 18;
  for (let at = 0; at < data.length; at += GZIP_BLOCK_SIZE) {
    const block = data.subarray(at, at + GZIP_BLOCK_SIZE);
    const dictionary = data.subarray(Math.max(0, at - 32 * 1024), at);
    blockwise += zlib.deflateRawSync(block, {
      level: 6,
      finishFlush: at + GZIP_BLOCK_SIZE >= data.length ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      ...(at > 0 ? { dictionary } : {}),
    }).length;
  }
  assert.ok(reference.length <= blockwise, `mixed ${reference.length} bytes, zlib level 6 per block ${blockwise}`);
  // Level 0 is zlib's own stored format, untouched; text is deflated as before.
  assert.ok(zlib.gunzipSync(await gzipWith([data], { pool: one, level: 0 })).equals(data));
});

test('a layer with stored segments unpacks byte for byte through umoci (Go readers)', async (t) => {
  const dir = tempDir(t);
  const files: Array<[string, Buffer]> = [
    ['a/readme.txt', textBytes(200_000, 8)],
    ['a/blob.bin', noiseBytes(GZIP_BLOCK_SIZE + 300_000, 9)],
    ['a/z.txt', textBytes(90_000, 10)],
  ];
  const inputs: TarInput[] = files.map(([path, body]) => ({
    entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: body.length },
    body: () => Readable.from([body]),
  }));
  const layout = await OciLayout.init(join(dir, 'layout'));
  const out = collector();
  const info = await writeLayer(inputs, out.sink);
  const blob = out.bytes();
  const { digest, size } = await layout.writeBlobBytes(blob);
  assert.equal(digest, info.digest);
  const image = await newImage({
    platform: parsePlatform('linux/amd64'),
    layers: [{ layer: layerFromDescriptor(layout, { mediaType: MediaType.OciLayerGzip, digest, size }, info.diffID) }],
  });
  const desc = await writeToLayout(layout, image);
  const index = await layout.readIndex();
  await layout.writeIndex({
    ...index,
    manifests: [...index.manifests, { ...desc, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
  });
  // umoci checks the diffID while it unpacks.
  const bundle = join(dir, 'bundle');
  const unpack = run('umoci', ['raw', 'unpack', '--rootless', '--image', `${join(dir, 'layout')}:v1`, bundle]);
  assert.equal(unpack.status, 0, unpack.stderr);
  for (const [path, body] of files) assert.ok(readFileSync(join(bundle, path)).equals(body), path);
});
