// The tar writer and reader against each other and against GNU tar: long and non-ASCII names,
// xattrs, size checks, backpressure, draining of unread bodies, and archives GNU tar wrote.
import assert from 'node:assert/strict';
import { createReadStream, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { readTar, type TarEntry, type TarInput, tarStream } from '../../src/layer/index.js';
import { bufferStream, readAll, run, tempDir } from './helpers.js';

function entry(path: string, over: Partial<TarEntry> = {}): TarEntry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, size: 0, ...over };
}

function file(path: string, content: string, over: Partial<TarEntry> = {}): TarInput {
  const body = Buffer.from(content);
  return { entry: entry(path, { size: body.length, ...over }), body };
}

const longDir = 'd'.repeat(130);
const sample: TarInput[] = [
  { entry: entry('dir', { type: 'directory', mode: 0o755 }) },
  file('dir/hello.txt', 'hello\n', { uid: 1000, gid: 1000, uname: 'alice', gname: 'staff' }),
  { entry: entry('dir/link', { type: 'symlink', mode: 0o777, linkname: 'hello.txt' }) },
  { entry: entry('dir/hard', { type: 'hardlink', linkname: 'dir/hello.txt' }) },
  file(`${longDir}/${'f'.repeat(99)}`, 'split into prefix and name'),
  file('p'.repeat(300), 'needs a PAX path'),
  file('héllo wörld/日本語.txt', 'unicode'),
  { entry: entry('long-link', { type: 'symlink', mode: 0o777, linkname: 't/'.repeat(120) }) },
  file('setuid', '#!/bin/sh\n', { mode: 0o4755 }),
  file('xattr', '', {
    xattrs: { 'user.mime': Buffer.from('text/plain'), 'security.capability': Buffer.from([1, 0, 0, 2]) },
  }),
  { entry: entry('fifo', { type: 'fifo' }) },
  { entry: entry('null', { type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }) },
  file('big-uid', 'x', { uid: 3_000_000, gid: 0o7777777 + 1 }),
];

async function readBack(tar: Readable): Promise<{ entry: TarEntry; content: string }[]> {
  const out: { entry: TarEntry; content: string }[] = [];
  for await (const { entry: e, body } of readTar(tar))
    out.push({ entry: e, content: (await readAll(body)).toString() });
  return out;
}

test('entries written by tarStream read back identically with readTar', async () => {
  const back = await readBack(tarStream(sample));
  assert.equal(back.length, sample.length);
  sample.forEach((input, i) => {
    const got = back[i]!;
    assert.deepEqual(got.entry, input.entry, `entry ${input.entry.path}`);
    assert.equal(got.content, input.body ? input.body.toString() : '');
  });
});

test('the archive is a multiple of 512 bytes and ends with two zero blocks', async () => {
  const bytes = await readAll(tarStream(sample));
  assert.equal(bytes.length % 512, 0);
  assert.ok(bytes.subarray(bytes.length - 1024).equals(Buffer.alloc(1024)));
});

test('the same entries give the same bytes', async () => {
  const a = await readAll(tarStream(sample));
  const b = await readAll(tarStream(sample));
  assert.ok(a.equals(b));
  assert.ok(!a.includes(Buffer.from('atime=')) && !a.includes(Buffer.from('ctime=')));
});

test('GNU tar lists our archive: names, types, owners, sizes and link targets', (t) => {
  const dir = tempDir(t);
  const tarPath = join(dir, 'sample.tar');
  return (async () => {
    writeFileSync(tarPath, await readAll(tarStream(sample)));
    const res = run('tar', ['--numeric-owner', '-tvf', tarPath]);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stderr, '');
    const lines = res.stdout.toString().trim().split('\n');
    assert.equal(lines.length, sample.length);
    assert.match(lines[0]!, /^drwxr-xr-x 0\/0 +0 .* dir\/$/);
    assert.match(lines[1]!, /^-rw-r--r-- 1000\/1000 +6 .* dir\/hello\.txt$/);
    assert.match(lines[2]!, / dir\/link -> hello\.txt$/);
    assert.match(lines[3]!, /^h.* dir\/hard link to dir\/hello\.txt$/);
    assert.ok(lines[4]!.endsWith(` ${longDir}/${'f'.repeat(99)}`));
    assert.ok(lines[5]!.endsWith(` ${'p'.repeat(300)}`));
    assert.ok(lines[6]!.endsWith(' héllo wörld/日本語.txt'));
    assert.ok(lines[7]!.endsWith(` long-link -> ${'t/'.repeat(120)}`));
    assert.match(lines[8]!, /^-rwsr-xr-x /);
    assert.match(lines[10]!, /^p/);
    assert.match(lines[11]!, /^crw-rw-rw- 0\/0 +1,3 /);
    assert.match(lines[12]!, /^-rw-r--r-- 3000000\/2097152 /);
    const xattrs = run('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', tarPath, 'xattr']);
    assert.match(xattrs.stdout.toString(), /user\.mime/);
  })();
});

function gnuTree(t: { after: (fn: () => void) => void }): { src: string; dir: string } {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  const deep = join(src, 'a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60), 'd'.repeat(60));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, `${'e'.repeat(120)}.txt`), 'deep content');
  writeFileSync(join(src, 'ünï.txt'), 'unicode');
  symlinkSync(
    join('a'.repeat(60), 'b'.repeat(60), 'c'.repeat(60), 'd'.repeat(60), `${'e'.repeat(120)}.txt`),
    join(src, 'longlink'),
  );
  return { src, dir };
}

for (const format of ['pax', 'gnu'] as const) {
  test(`a tar written by GNU tar --format=${format} with long names is read correctly`, async (t) => {
    const { src, dir } = gnuTree(t);
    const tarPath = join(dir, `${format}.tar`);
    const res = run('tar', [`--format=${format}`, '--sort=name', '-C', src, '-cf', tarPath, '.']);
    assert.equal(res.status, 0, res.stderr);
    const back = await readBack(createReadStream(tarPath));
    const byPath = new Map(back.map((b) => [b.entry.path, b]));
    const longFile = `${'a'.repeat(60)}/${'b'.repeat(60)}/${'c'.repeat(60)}/${'d'.repeat(60)}/${'e'.repeat(120)}.txt`;
    assert.equal(byPath.get('.')?.entry.type, 'directory');
    assert.equal(byPath.get('a'.repeat(60))?.entry.type, 'directory');
    assert.equal(byPath.get(longFile)?.content, 'deep content');
    assert.equal(byPath.get(longFile)?.entry.type, 'file');
    assert.equal(byPath.get('ünï.txt')?.content, 'unicode');
    assert.equal(byPath.get('longlink')?.entry.type, 'symlink');
    assert.equal(byPath.get('longlink')?.entry.linkname, longFile);
    assert.ok(![...byPath.keys()].some((p) => p.includes('PaxHeaders') || p.includes('LongLink')));
  });
}

test('a body shorter than entry.size is an error, not a corrupt archive', async () => {
  const short: TarInput = { entry: entry('f', { size: 10 }), body: () => bufferStream(Buffer.from('12345')) };
  await assert.rejects(readAll(tarStream([short])), { code: 'TAR_SIZE_MISMATCH' });
  const long: TarInput = { entry: entry('f', { size: 2 }), body: () => bufferStream(Buffer.from('12345')) };
  await assert.rejects(readAll(tarStream([long])), { code: 'TAR_SIZE_MISMATCH' });
  await assert.rejects(readAll(tarStream([{ entry: entry('f', { size: 2 }), body: Buffer.from('1') }])), {
    code: 'TAR_SIZE_MISMATCH',
  });
});

test('invalid entries are refused', async () => {
  await assert.rejects(readAll(tarStream([{ entry: entry('d/', { type: 'directory' }) }])), { code: 'TAR_BAD_ENTRY' });
  await assert.rejects(readAll(tarStream([{ entry: entry('', {}) }])), { code: 'TAR_BAD_ENTRY' });
  await assert.rejects(readAll(tarStream([{ entry: entry('l', { type: 'symlink' }) }])), { code: 'TAR_BAD_ENTRY' });
});

test('the writer opens the next body only when the consumer has read the previous one', async () => {
  const opened: string[] = [];
  const size = 1024 * 1024;
  const inputs: TarInput[] = ['one', 'two', 'three'].map((name) => ({
    entry: entry(name, { size }),
    body: () => {
      opened.push(name);
      return bufferStream(Buffer.alloc(size, name));
    },
  }));
  const tar = tarStream(inputs);
  // Read only the first header and a little content, then pause.
  await new Promise<void>((resolve) => tar.once('readable', () => resolve()));
  tar.read(1024);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(opened, ['one'], 'later bodies are not opened while the consumer is paused');
  const all = await readAll(tar);
  assert.ok(all.length > 3 * size);
  assert.deepEqual(opened, ['one', 'two', 'three']);
});

test('unread bodies are drained when the next entry is requested', async () => {
  const inputs = [file('a', 'A'.repeat(100_000)), file('b', 'B'.repeat(3)), file('c', 'C')];
  const seen: string[] = [];
  let last = '';
  for await (const { entry: e, body } of readTar(tarStream(inputs))) {
    seen.push(e.path);
    if (e.path === 'c') last = (await readAll(body)).toString();
  }
  assert.deepEqual(seen, ['a', 'b', 'c']);
  assert.equal(last, 'C');
});

test('a truncated archive is an error', async () => {
  const bytes = await readAll(tarStream([file('a', 'x'.repeat(5000))]));
  const cut = bytes.subarray(0, 2048);
  await assert.rejects(
    (async () => {
      for await (const { body } of readTar(bufferStream(cut))) await readAll(body);
    })(),
    { code: 'TAR_TRUNCATED' },
  );
});

test('an archive without end blocks still reads (some writers omit them)', async () => {
  const bytes = await readAll(tarStream([file('a', 'abc')]));
  const back = await readBack(bufferStream(bytes.subarray(0, bytes.length - 1024)));
  assert.deepEqual(
    back.map((b) => b.content),
    ['abc'],
  );
});

test('reading stops at the end-of-archive blocks and consumes trailing padding', async () => {
  const bytes = Buffer.concat([await readAll(tarStream([file('a', 'abc')])), Buffer.alloc(10240 - 2048)]);
  const source = bufferStream(bytes);
  const back = await readBack(source);
  assert.equal(back.length, 1);
  assert.ok(source.readableEnded, 'the source was read to its end');
});

test('an aborted read stops with ABORTED', async () => {
  const controller = new AbortController();
  const tar = tarStream([file('a', 'x'), file('b', 'y')]);
  await assert.rejects(
    (async () => {
      for await (const _ of readTar(tar, { signal: controller.signal })) controller.abort();
    })(),
    { code: 'ABORTED' },
  );
  await assert.rejects(readAll(tarStream([file('a', 'x')], { signal: AbortSignal.abort() })), { code: 'ABORTED' });
});

test('Readable bodies may be async factories and async iterables of entries are accepted', async () => {
  async function* gen(): AsyncGenerator<TarInput> {
    yield { entry: entry('a', { size: 3 }), body: async () => Readable.from([Buffer.from('a'), Buffer.from('bc')]) };
  }
  const back = await readBack(tarStream(gen()));
  assert.equal(back[0]?.content, 'abc');
});

test('a source yielding plain Uint8Array chunks (as web streams do) is read correctly', async () => {
  const bytes = await readAll(tarStream([file('a', 'hi'), file('b', 'there')]));
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 100) chunks.push(new Uint8Array(bytes.subarray(i, i + 100)));
  const back = await readBack(Readable.from(chunks));
  assert.deepEqual(
    back.map((b) => [b.entry.path, b.content]),
    [
      ['a', 'hi'],
      ['b', 'there'],
    ],
  );
});
