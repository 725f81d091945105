// Fuzz target: the tar reader. Random bytes, and valid archives (gantry's writer over random
// entries) with random bytes changed, cut or appended, delivered in random chunk sizes. The reader
// must yield entries or throw a GantryError; never another exception, never a hang.
import { Readable } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { readTar, type TarInput, tarStream } from '../../src/layer/index.js';
import { FUZZ_TIMEOUT_MS, fuzz } from './harness.js';

async function readAllOf(bytes: Uint8Array, chunk: number): Promise<void> {
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += chunk) yield Buffer.from(bytes.subarray(i, i + chunk));
    })(),
  );
  for await (const { body } of readTar(source)) {
    for await (const _ of body) {
      // read every body byte
    }
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const entryArb: fc.Arbitrary<TarInput> = fc
  .record({
    path: fc.oneof(
      fc.stringMatching(/^[a-z]{1,8}(\/[a-z]{1,8}){0,3}$/),
      fc.string({ minLength: 1, maxLength: 300 }).filter((s) => !s.includes('\0')),
    ),
    type: fc.constantFrom('file', 'directory', 'symlink', 'hardlink'),
    body: fc.uint8Array({ maxLength: 2048 }),
    link: fc.string({ minLength: 1, maxLength: 200 }).filter((s) => !s.includes('\0')),
  })
  .map(({ path, type, body, link }) => {
    const base = { path, mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 };
    if (type === 'file') return { entry: { ...base, type, size: body.length }, body: Buffer.from(body) };
    if (type === 'directory') return { entry: { ...base, type, size: 0 } };
    return { entry: { ...base, type, size: 0, linkname: link } };
  });

const mutation = fc.record({
  at: fc.nat(),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
});

test('fuzz: the tar reader on random bytes', { timeout: FUZZ_TIMEOUT_MS }, async (t) => {
  await fuzz(t, fc.tuple(fc.uint8Array({ maxLength: 4096 }), fc.integer({ min: 1, max: 1024 })), ([bytes, chunk]) =>
    readAllOf(bytes, chunk),
  );
});

test('fuzz: the tar reader on mutated valid archives', { timeout: FUZZ_TIMEOUT_MS }, async (t) => {
  await fuzz(
    t,
    fc.tuple(
      fc.array(entryArb, { minLength: 1, maxLength: 6 }),
      fc.array(mutation, { maxLength: 4 }),
      fc.integer({ min: 1, max: 700 }),
    ),
    async ([entries, mutations, chunk]) => {
      let tar: Buffer;
      try {
        tar = await collect(tarStream(entries));
      } catch {
        return; // the writer refused the entries: nothing to read
      }
      for (const m of mutations) {
        const at = m.at % Math.max(1, tar.length);
        tar = Buffer.concat([tar.subarray(0, at), Buffer.from(m.bytes), tar.subarray(at + m.bytes.length)]);
        if (m.cut !== undefined) tar = tar.subarray(0, m.cut % (tar.length + 1));
      }
      await readAllOf(tar, chunk);
    },
  );
});
