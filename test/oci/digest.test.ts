// Digests: known vectors, parsing (and what it refuses), the verifying stream on good, flipped,
// short and long input, and hashing a stream.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import {
  createDigester,
  digestOf,
  digestStream,
  isDigest,
  parseDigest,
  VerifyingStream,
} from '../../src/oci/digest.js';

const EMPTY256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABC256 = 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const EMPTY512 =
  'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';
const ABC512 =
  'sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f';

function code(err: unknown): string {
  return GantryError.is(err) ? err.code : `not a GantryError: ${String(err)}`;
}

test('digestOf matches the FIPS 180 vectors for "" and "abc"', () => {
  assert.equal(digestOf(''), EMPTY256);
  assert.equal(digestOf('abc'), ABC256);
  assert.equal(digestOf(new Uint8Array([0x61, 0x62, 0x63])), ABC256);
  assert.equal(digestOf('', 'sha512'), EMPTY512);
  assert.equal(digestOf('abc', 'sha512'), ABC512);
});

test('createDigester hashes incrementally and counts bytes', () => {
  const d = createDigester();
  d.update(Buffer.from('a'));
  d.update(Buffer.from('bc'));
  assert.equal(d.size, 3);
  assert.equal(d.digest(), ABC256);
  assert.equal(d.digest(), ABC256, 'digest() is stable when called twice');
  const d512 = createDigester('sha512');
  d512.update(Buffer.from('abc'));
  assert.equal(d512.digest(), ABC512);
});

test('parseDigest accepts sha256/sha512 and splits them', () => {
  assert.deepEqual(parseDigest(ABC256), { algorithm: 'sha256', hex: ABC256.slice(7) });
  assert.deepEqual(parseDigest(ABC512), { algorithm: 'sha512', hex: ABC512.slice(7) });
  assert.equal(isDigest(EMPTY256), true);
});

test('parseDigest refuses malformed digests, including path traversal', () => {
  const bad = [
    '',
    'sha256:',
    'sha256:../../x',
    `sha256:${'a'.repeat(63)}`,
    `sha256:${'a'.repeat(65)}`,
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'g'.repeat(64)}`,
    `sha512:${'a'.repeat(64)}`,
    `md5:${'a'.repeat(32)}`,
    `sha256/${'a'.repeat(64)}`,
    ` ${ABC256}`,
    `${ABC256}\n`,
  ];
  for (const value of bad) {
    assert.throws(
      () => parseDigest(value),
      (e) => code(e) === 'INVALID_DIGEST',
      value,
    );
    assert.equal(isDigest(value), false, value);
  }
});

async function run(chunks: string[], expected: string, size?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), new VerifyingStream(expected, size), async (src) => {
    for await (const c of src) out.push(c as Buffer);
  });
  return Buffer.concat(out);
}

test('VerifyingStream passes good data through unchanged', async () => {
  assert.equal((await run(['a', 'b', 'c'], ABC256, 3)).toString(), 'abc');
  assert.equal((await run(['abc'], ABC256)).toString(), 'abc', 'size is optional');
  assert.equal((await run([], EMPTY256, 0)).length, 0);
  assert.equal((await run(['abc'], ABC512, 3)).toString(), 'abc');
});

test('VerifyingStream fails on a flipped byte with DIGEST_MISMATCH', async () => {
  await assert.rejects(run(['abd'], ABC256, 3), (e) => code(e) === 'DIGEST_MISMATCH');
  await assert.rejects(run(['abd'], ABC256), (e) => code(e) === 'DIGEST_MISMATCH');
});

test('VerifyingStream fails on a short stream with SIZE_MISMATCH', async () => {
  await assert.rejects(run(['ab'], ABC256, 3), (e) => code(e) === 'SIZE_MISMATCH');
});

test('VerifyingStream fails on a long stream as soon as the size is passed', async () => {
  let pulled = 0;
  async function* endless() {
    for (;;) {
      pulled++;
      yield Buffer.from('abc');
    }
  }
  await assert.rejects(
    pipeline(endless(), new VerifyingStream(ABC256, 3), async (src) => {
      for await (const _ of src);
    }),
    (e) => code(e) === 'SIZE_MISMATCH',
  );
  assert.ok(pulled < 100, `stopped early, pulled ${pulled} chunks`);
});

test('VerifyingStream refuses an invalid expected digest up front', () => {
  assert.throws(
    () => new VerifyingStream('sha256:../../etc/passwd'),
    (e) => code(e) === 'INVALID_DIGEST',
  );
  assert.throws(
    () => new VerifyingStream(ABC256, -1),
    (e) => code(e) === 'INVALID_SIZE',
  );
});

test('digestStream hashes a stream and honours an aborted signal', async () => {
  assert.deepEqual(await digestStream(Readable.from([Buffer.from('ab'), Buffer.from('c')])), {
    digest: ABC256,
    size: 3,
  });
  assert.deepEqual(await digestStream(Readable.from([Buffer.from('abc')]), { algorithm: 'sha512' }), {
    digest: ABC512,
    size: 3,
  });
  const ac = new AbortController();
  async function* slow() {
    yield Buffer.from('a');
    ac.abort();
    yield Buffer.from('b');
  }
  await assert.rejects(digestStream(Readable.from(slow()), { signal: ac.signal }), (e) => code(e) === 'ABORTED');
});
