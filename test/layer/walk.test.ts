// walkDirectory: byte order of paths, normalization of owners/modes/mtimes, prefix, filter,
// hardlinks, special files.
import assert from 'node:assert/strict';
import {
  appendFileSync,
  chmodSync,
  linkSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { type TarInput, tarStream, type WalkOptions, walkDirectory } from '../../src/layer/index.js';
import { tarChunks } from '../../src/layer/tar/writer.js';
import { SMALL_FILE } from '../../src/layer/walk.js';
import { readAll, sh, tempDir } from './helpers.js';

async function walk(root: string, options?: WalkOptions): Promise<TarInput[]> {
  const out: TarInput[] = [];
  for await (const input of walkDirectory(root, options)) out.push(input);
  return out;
}

/** The tar of tarChunks, whose chunks are only lent: each is copied before the next is asked for. */
async function lentTar(inputs: TarInput[]): Promise<Buffer> {
  const copies: Buffer[] = [];
  for await (const chunk of tarChunks(inputs)) copies.push(Buffer.from(chunk));
  return Buffer.concat(copies);
}

function paths(inputs: TarInput[]): string[] {
  return inputs.map((i) => i.entry.path);
}

test('entries come in byte order of the full path, parents before children', async (t) => {
  const root = tempDir(t);
  for (const d of ['a', 'a/b', 'a-b', 'a.b', 'B', 'é']) mkdirSync(join(root, d), { recursive: true });
  for (const f of ['a/b/z', 'a/0', 'a-b/x', 'ab', 'a.b/y', 'é/f', 'Z', '\u{1F600}', '\uFFFD'])
    writeFileSync(join(root, f), f);
  const got = paths(await walk(root));
  const expected = [...got].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  assert.deepEqual(got, expected);
  // UTF-8 byte order puts U+FFFD (ef bf bd) before U+1F600 (f0 9f 98 80); UTF-16 order would not.
  assert.ok(got.indexOf('\uFFFD') < got.indexOf('\u{1F600}'));
  assert.deepEqual(got.slice(0, 7), ['B', 'Z', 'a', 'a-b', 'a-b/x', 'a.b', 'a.b/y']);
  assert.ok(got.indexOf('a') < got.indexOf('a/b') && got.indexOf('a/b') < got.indexOf('a/b/z'));
});

test('defaults normalize owners, modes and mtimes', async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'd'));
  chmodSync(join(root, 'd'), 0o700);
  writeFileSync(join(root, 'd/plain'), 'x');
  chmodSync(join(root, 'd/plain'), 0o600);
  writeFileSync(join(root, 'd/tool'), 'x');
  chmodSync(join(root, 'd/tool'), 0o4710);
  symlinkSync('plain', join(root, 'd/link'));
  const saved = process.env.SOURCE_DATE_EPOCH;
  delete process.env.SOURCE_DATE_EPOCH;
  try {
    const byPath = new Map((await walk(root)).map((i) => [i.entry.path, i.entry]));
    assert.deepEqual(byPath.get('d'), { path: 'd', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
    assert.equal(byPath.get('d/plain')?.mode, 0o644);
    assert.equal(byPath.get('d/tool')?.mode, 0o755);
    assert.equal(byPath.get('d/link')?.mode, 0o777);
    assert.equal(byPath.get('d/link')?.linkname, 'plain');
    assert.equal(byPath.get('d/plain')?.size, 1);
    for (const e of byPath.values()) assert.equal(e.uname, undefined);
  } finally {
    if (saved !== undefined) process.env.SOURCE_DATE_EPOCH = saved;
  }
});

test('keepModes, keepMtimes, keepOwners and owner are honoured', async (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'f'), 'x');
  sh(`chown 123:456 '${join(root, 'f')}'`);
  chmodSync(join(root, 'f'), 0o4711);
  utimesSync(join(root, 'f'), 1_234_567_890, 1_234_567_890.7);
  const [kept] = await walk(root, { keepModes: true, keepMtimes: true, keepOwners: true });
  assert.equal(kept?.entry.mode, 0o4711);
  assert.equal(kept?.entry.mtime, 1_234_567_890);
  assert.equal(kept?.entry.uid, 123);
  assert.equal(kept?.entry.gid, 456);
  const [chowned] = await walk(root, { keepOwners: true, owner: { uid: 1000, gid: 1001 }, mtime: 42 });
  assert.equal(chowned?.entry.uid, 1000);
  assert.equal(chowned?.entry.gid, 1001);
  assert.equal(chowned?.entry.mtime, 42);
});

test('SOURCE_DATE_EPOCH sets the default mtime, and a bad value is a config error', async (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'f'), 'x');
  const saved = process.env.SOURCE_DATE_EPOCH;
  try {
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    assert.equal((await walk(root))[0]?.entry.mtime, 1_700_000_000);
    assert.equal((await walk(root, { mtime: 5 }))[0]?.entry.mtime, 5, 'an explicit mtime wins');
    process.env.SOURCE_DATE_EPOCH = 'yesterday';
    await assert.rejects(walk(root), { code: 'INVALID_SOURCE_DATE_EPOCH' });
  } finally {
    if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = saved;
  }
});

test('a prefix places the tree under it and emits its parents', async (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'f'), 'x');
  const inputs = await walk(root, { prefix: '/usr/src/app/', mtime: 7 });
  assert.deepEqual(paths(inputs), ['usr', 'usr/src', 'usr/src/app', 'usr/src/app/f']);
  assert.ok(inputs.slice(0, 3).every((i) => i.entry.type === 'directory' && i.entry.mode === 0o755));
  await assert.rejects(walk(root, { prefix: '../x' }), { code: 'INVALID_PREFIX' });
});

test('a filter excludes paths, and a rejected directory excludes its subtree', async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'node_modules/pkg'), { recursive: true });
  writeFileSync(join(root, 'node_modules/pkg/index.js'), '');
  writeFileSync(join(root, 'keep.js'), '');
  writeFileSync(join(root, 'skip.log'), '');
  const seen: string[] = [];
  const inputs = await walk(root, {
    filter: (rel, stat) => {
      seen.push(rel);
      assert.equal(typeof stat.isDirectory, 'function');
      return rel !== 'node_modules' && !rel.endsWith('.log');
    },
  });
  assert.deepEqual(paths(inputs), ['keep.js']);
  assert.ok(!seen.includes('node_modules/pkg'), 'the subtree of an excluded directory is not visited');
});

test('second and later paths of one inode become hardlinks to the first', async (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'b'), 'shared');
  linkSync(join(root, 'b'), join(root, 'a'));
  linkSync(join(root, 'b'), join(root, 'c'));
  const inputs = await walk(root);
  assert.deepEqual(
    inputs.map((i) => [i.entry.path, i.entry.type, i.entry.linkname, i.entry.size]),
    [
      ['a', 'file', undefined, 6],
      ['b', 'hardlink', 'a', 0],
      ['c', 'hardlink', 'a', 0],
    ],
  );
  const body = inputs[0]?.body;
  assert.equal(typeof body, 'function');
  if (typeof body === 'function') assert.equal((await readAll(await body())).toString(), 'shared');
});

test('fifos are entries without content and sockets are skipped', async (t) => {
  const root = tempDir(t);
  sh(`mkfifo '${join(root, 'pipe')}'`);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve));
  t.after(() => server.close());
  const inputs = await walk(root);
  assert.deepEqual(
    inputs.map((i) => [i.entry.path, i.entry.type, i.body]),
    [['pipe', 'fifo', undefined]],
  );
});

test('walking something that is not a directory is an error', async (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'f'), '');
  await assert.rejects(walk(join(root, 'f')), { code: 'NOT_A_DIRECTORY' });
});

test('xattrs are read with getfattr when asked', async (t) => {
  const root = tempDir(t);
  writeFileSync(join(root, 'f'), '');
  const hasTools = sh('command -v getfattr setfattr || true').trim() !== '';
  if (!hasTools) {
    await assert.rejects(walk(root, { xattrs: true }), { code: 'XATTRS_UNAVAILABLE' });
    t.diagnostic('getfattr/setfattr not installed: only the missing-tool error was checked');
    return;
  }
  sh(`setfattr -n user.note -v hello '${join(root, 'f')}'`);
  const [input] = await walk(root, { xattrs: true });
  assert.equal(input?.entry.xattrs?.['user.note']?.toString(), 'hello');
  const [plain] = await walk(root);
  assert.equal(plain?.entry.xattrs, undefined);
});

test('a file that grows, shrinks or becomes a symlink between the walk and its read is refused, small or large', async (t) => {
  const root = tempDir(t);
  // Small files are read whole in one synchronous read, large ones streamed: both ways are pinned,
  // each through its own buffers (tarStream) and through the writer's one lent buffer (tarChunks).
  for (const [name, size] of [
    ['small', 300],
    ['large', SMALL_FILE + 64 * 1024],
  ] as const) {
    for (const change of ['grow', 'shrink', 'symlink'] as const) {
      const file = join(root, `${name}-${change}`);
      writeFileSync(file, Buffer.alloc(size, 7));
      const inputs = await walk(root, { filter: (rel) => rel === `${name}-${change}` });
      assert.equal(inputs.length, 1);
      if (change === 'grow') appendFileSync(file, 'more');
      else if (change === 'shrink') writeFileSync(file, Buffer.alloc(size - 10, 7));
      else {
        rmSync(file);
        writeFileSync(`${file}.target`, Buffer.alloc(size, 7));
        symlinkSync(`${file}.target`, file);
      }
      const refused = change === 'symlink' ? { code: 'ELOOP' } : { code: 'TAR_SIZE_MISMATCH' };
      await assert.rejects(readAll(tarStream(inputs)), refused, `${name} ${change}`);
      await assert.rejects(lentTar(inputs), refused, `${name} ${change} (lent buffer)`);
    }
  }
  // Unchanged, both come out whole.
  writeFileSync(join(root, 'ok-small'), 'x'.repeat(300));
  writeFileSync(join(root, 'ok-large'), Buffer.alloc(SMALL_FILE + 64 * 1024, 1));
  const ok = await walk(root, { filter: (rel) => rel.startsWith('ok-') });
  const tar = await readAll(tarStream(ok));
  assert.ok(tar.includes(Buffer.from('x'.repeat(300))));
  assert.equal(tar.length, 512 + 512 + 512 + SMALL_FILE + 64 * 1024 + 1024);
  assert.ok((await lentTar(ok)).equals(tar), 'the lent buffer gives the same tar');
});
