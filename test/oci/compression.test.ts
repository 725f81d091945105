// Decompression by magic bytes: gzip, zstd (from another encoder too), plain tar, and inputs
// shorter than the magic itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { decompressByMagic, detectCompression } from '../../src/oci/compression.js';
import { readBounded } from '../../src/oci/stream.js';
import { hasTool, makeTarLayer } from './fixtures.js';

async function roundTrip(data: Buffer, chunkSize = 1): Promise<Buffer> {
  // Tiny chunks make the magic arrive in pieces, which the peek must put back together.
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunkSize) chunks.push(data.subarray(i, i + chunkSize));
  return readBounded(await decompressByMagic(Readable.from(chunks)));
}

test('detectCompression reads the magic bytes', () => {
  assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0])), 'gzip');
  assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd');
  assert.equal(detectCompression(Buffer.from('ustar')), 'none');
  assert.equal(detectCompression(Buffer.from([0x1f])), 'none');
});

test('decompressByMagic inflates gzip and passes a plain tar through', async () => {
  const { tar, gz } = makeTarLayer({ 'etc/hello': 'hello world\n' });
  assert.deepEqual(await roundTrip(gz), tar);
  assert.deepEqual(await roundTrip(gz, 4096), tar);
  assert.deepEqual(await roundTrip(tar, 3), tar);
});

test('decompressByMagic handles input shorter than the magic, and empty input', async () => {
  assert.deepEqual(await roundTrip(Buffer.from('ab')), Buffer.from('ab'));
  assert.deepEqual(await roundTrip(Buffer.alloc(0)), Buffer.alloc(0));
});

test('decompressByMagic passes source errors to the reader', async () => {
  const { gz } = makeTarLayer({ a: 'a' });
  const source = new Readable({ read() {} });
  source.push(gz.subarray(0, 10));
  const out = await decompressByMagic(source);
  source.destroy(new Error('boom'));
  await assert.rejects(readBounded(out), /boom/);
});

test('decompressByMagic reads a zstd stream written by the zstd CLI (checksummed, size unknown)', {
  skip: !hasTool('zstd'),
}, async () => {
  const { tar } = makeTarLayer({ 'z/file': 'zstd body\n'.repeat(5000) });
  // From a pipe: the frame header has no content size, and --check adds a checksum.
  const zst = execFileSync('zstd', ['-q', '-c', '--check'], { input: tar });
  assert.deepEqual(await roundTrip(zst, 1), tar);
  assert.deepEqual(await roundTrip(zst, 1024), tar);
  // Two frames back to back are one stream (as gantry writes its blocks).
  assert.deepEqual(await roundTrip(Buffer.concat([zst, zst]), 4096), Buffer.concat([tar, tar]));
  await assert.rejects(
    roundTrip(zst.subarray(0, zst.length - 10), 512),
    (e) => GantryError.is(e) && e.code === 'ZSTD_CORRUPT',
  );
});
