// extractLayer: full round trips (walk -> tar -> readTar -> extract), OCI whiteouts and opaque
// directories across layers, replacement rules, symlinked parents inside the root, metadata.
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type ExtractOptions,
  extractLayer,
  type TarEntry,
  type TarInput,
  tarStream,
  walkDirectory,
  writeLayer,
} from '../../src/layer/index.js';
import { bufferStream, collector, sh, snapshot, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;

function dir(path: string, over: Partial<TarEntry> = {}): TarInput {
  return { entry: { path, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1_000_000, size: 0, ...over } };
}
function file(path: string, content = path, over: Partial<TarEntry> = {}): TarInput {
  const body = Buffer.from(content);
  return {
    entry: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_000_000, size: body.length, ...over },
    body,
  };
}
function link(path: string, type: 'symlink' | 'hardlink', linkname: string): TarInput {
  return { entry: { path, type, mode: 0o777, uid: 0, gid: 0, mtime: 1_000_000, size: 0, linkname } };
}

async function extract(inputs: TarInput[], root: string, options?: ExtractOptions) {
  return extractLayer(tarStream(inputs), root, options);
}

function buildSourceTree(src: string): void {
  mkdirSync(join(src, 'empty'), { recursive: true });
  mkdirSync(join(src, 'bin'));
  writeFileSync(join(src, 'bin/tool'), '#!/bin/sh\necho hi\n');
  chmodSync(join(src, 'bin/tool'), 0o4755);
  mkdirSync(join(src, 'tmp'));
  chmodSync(join(src, 'tmp'), 0o1777);
  writeFileSync(join(src, 'data.bin'), Buffer.alloc(200_000, 7));
  writeFileSync(join(src, 'private'), 'secret');
  chmodSync(join(src, 'private'), 0o600);
  symlinkSync('bin/tool', join(src, 'tool-link'));
  lutimesSync(join(src, 'tool-link'), 1_400_000_000, 1_400_000_000);
  symlinkSync('/absolute/elsewhere', join(src, 'dangling'));
  linkSync(join(src, 'data.bin'), join(src, 'data-hardlink'));
  let deep = src;
  for (let i = 0; i < 4; i++) {
    deep = join(deep, `${'n'.repeat(90)}${i}`);
    mkdirSync(deep);
  }
  writeFileSync(join(deep, `${'f'.repeat(200)}.txt`), 'deep');
  mkdirSync(join(src, 'ünïcødé ☃'));
  writeFileSync(join(src, 'ünïcødé ☃', '日本語.txt'), 'utf8');
  sh(`mkfifo '${join(src, 'pipe')}'`);
  utimesSync(join(src, 'bin'), 1_500_000_000, 1_500_000_000);
}

test('walk -> tar -> extract reproduces the tree: types, modes, sizes, content, links, hardlinks, mtimes', async (t) => {
  const base = tempDir(t);
  const src = join(base, 'src');
  const dst = join(base, 'dst');
  mkdirSync(src);
  buildSourceTree(src);
  const layer = collector();
  await writeLayer(walkDirectory(src, { keepModes: true, keepMtimes: true }), layer.sink, { compression: 'none' });
  const stats = await extractLayer(bufferStream(layer.bytes()), dst, { devices: true });
  const before = snapshot(src, { mtimes: true });
  const after = snapshot(dst, { mtimes: true });
  assert.deepEqual(after, before);
  assert.equal(stats.entries, Object.keys(before).length);
  assert.equal(stats.bytes, 200_000 + 18 + 6 + 4 + 4);
  assert.equal(lstatSync(join(dst, 'data.bin')).ino, lstatSync(join(dst, 'data-hardlink')).ino);
  assert.equal(statSync(join(dst, 'bin/tool')).mode & 0o7777, 0o4755);
  assert.equal(statSync(join(dst, 'tmp')).mode & 0o7777, 0o1777);
  assert.equal(statSync(join(dst, 'bin')).mtimeMs, 1_500_000_000_000, 'directory mtime survives writing its children');
});

test('a later layer whiteouts files and directories of a lower layer', async (t) => {
  const root = tempDir(t);
  await extract([dir('a'), file('a/keep'), file('a/gone'), dir('a/sub'), file('a/sub/x'), file('top')], root);
  await extract([dir('a'), file('a/.wh.gone', ''), file('a/.wh.sub', ''), file('.wh.top', ''), file('a/new')], root);
  assert.deepEqual(Object.keys(snapshot(root)).sort(), ['a', 'a/keep', 'a/new']);
});

test('an opaque directory hides every lower child but keeps what its own layer wrote', async (t) => {
  const root = tempDir(t);
  await extract([dir('d'), file('d/old1'), dir('d/sub'), file('d/sub/old2'), dir('other'), file('other/stay')], root);
  // Entries of the same layer come before and after the marker: both must survive.
  await extract(
    [dir('d'), file('d/-early'), dir('d/sub'), file('d/sub/new2'), file('d/.wh..wh..opq', ''), file('d/z-late')],
    root,
  );
  assert.deepEqual(Object.keys(snapshot(root)).sort(), [
    'd',
    'd/-early',
    'd/sub',
    'd/sub/new2',
    'd/z-late',
    'other',
    'other/stay',
  ]);
  assert.ok(!existsSync(join(root, 'd/.wh..wh..opq')), 'markers are never written');
});

test('a whiteout does not hide a path written by its own layer', async (t) => {
  const root = tempDir(t);
  await extract([file('same'), file('.wh.same', '')], root);
  assert.equal(readFileSync(join(root, 'same'), 'utf8'), 'same');
});

test("whiteouts: 'keep' writes the markers as files", async (t) => {
  const root = tempDir(t);
  await extract([file('x'), file('.wh.x', ''), dir('d'), file('d/.wh..wh..opq', '')], root, { whiteouts: 'keep' });
  assert.deepEqual(Object.keys(snapshot(root)).sort(), ['.wh.x', 'd', 'd/.wh..wh..opq', 'x']);
});

test('later entries replace earlier ones: dir over file, file over dir, symlink over file, dir over symlink', async (t) => {
  const base = tempDir(t);
  const root = join(base, 'root');
  const elsewhere = join(base, 'elsewhere');
  mkdirSync(elsewhere);
  await extract([file('f2d'), dir('d2f'), file('d2f/child'), file('f2l'), link('l2d', 'symlink', elsewhere)], root);
  await extract(
    [
      dir('f2d'),
      file('f2d/in'),
      file('d2f', 'now a file'),
      link('f2l', 'symlink', 'target'),
      dir('l2d'),
      file('l2d/in'),
    ],
    root,
  );
  assert.ok(lstatSync(join(root, 'f2d')).isDirectory());
  assert.equal(readFileSync(join(root, 'd2f'), 'utf8'), 'now a file');
  assert.equal(readlinkSync(join(root, 'f2l')), 'target');
  assert.ok(lstatSync(join(root, 'l2d')).isDirectory(), 'the symlink was replaced, not followed');
  assert.deepEqual(snapshot(elsewhere), {});
});

test('a file replacing a lower hardlinked file leaves the other link intact', async (t) => {
  const root = tempDir(t);
  await extract([file('a', 'original'), link('b', 'hardlink', 'a')], root);
  await extract([file('b', 'replaced')], root);
  assert.equal(readFileSync(join(root, 'a'), 'utf8'), 'original');
  assert.equal(readFileSync(join(root, 'b'), 'utf8'), 'replaced');
});

test('paths under symlinked parents resolve inside the root (merged /usr, absolute /var/run -> /run)', async (t) => {
  const root = tempDir(t);
  await extract(
    [
      dir('usr'),
      dir('usr/lib'),
      link('lib', 'symlink', 'usr/lib'),
      dir('run'),
      dir('var'),
      link('var/run', 'symlink', '/run'),
    ],
    root,
  );
  await extract(
    [file('lib/libx.so', 'elf'), file('var/run/app.pid', '1'), link('lib/alias.so', 'hardlink', 'usr/lib/libx.so')],
    root,
  );
  assert.equal(readFileSync(join(root, 'usr/lib/libx.so'), 'utf8'), 'elf');
  assert.equal(readFileSync(join(root, 'run/app.pid'), 'utf8'), '1');
  assert.equal(lstatSync(join(root, 'usr/lib/alias.so')).ino, lstatSync(join(root, 'usr/lib/libx.so')).ino);
  assert.ok(lstatSync(join(root, 'lib')).isSymbolicLink());
});

test('missing parents are created with mode 0755', async (t) => {
  const root = tempDir(t);
  const old = process.umask(0o077);
  try {
    await extract([file('x/y/z')], root);
  } finally {
    process.umask(old);
  }
  assert.equal(statSync(join(root, 'x')).mode & 0o7777, 0o755);
  assert.equal(statSync(join(root, 'x/y')).mode & 0o7777, 0o755);
});

test('owners are applied when asked (root only) and left alone otherwise', {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const root = tempDir(t);
  await extract(
    [
      dir('d', { uid: 1234, gid: 5678 }),
      file('d/f', 'x', { uid: 42, gid: 43, mode: 0o2755 }),
      link('d/l', 'symlink', 'f'),
    ],
    root,
    { owners: true },
  );
  assert.equal(statSync(join(root, 'd')).uid, 1234);
  assert.equal(statSync(join(root, 'd/f')).gid, 43);
  assert.equal(statSync(join(root, 'd/f')).mode & 0o7777, 0o2755, 'setgid survives the chown');
  const other = tempDir(t);
  await extract([file('f', 'x', { uid: 42, gid: 43 })], other, { owners: false });
  assert.equal(statSync(join(other, 'f')).uid, 0);
});

test('fifo and char device entries are created when devices are allowed', {
  skip: !isRoot && 'needs root',
}, async (t) => {
  const root = tempDir(t);
  await extract(
    [
      { entry: { path: 'p', type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtime: 0, size: 0 } },
      {
        entry: { path: 'null', type: 'char', mode: 0o666, uid: 0, gid: 0, mtime: 0, size: 0, devmajor: 1, devminor: 3 },
      },
    ],
    root,
    { devices: true },
  );
  assert.ok(lstatSync(join(root, 'p')).isFIFO());
  const st = lstatSync(join(root, 'null'));
  assert.ok(st.isCharacterDevice());
  assert.equal(st.rdev, (1 << 8) | 3);
});

test('a hardlink to a missing target is a clear error', async (t) => {
  const root = tempDir(t);
  await assert.rejects(extract([link('h', 'hardlink', 'nope')], root), { code: 'EXTRACT_LINK_TARGET_MISSING' });
});

test('an aborted extraction stops with ABORTED', async (t) => {
  const root = tempDir(t);
  await assert.rejects(extract([file('a')], root, { signal: AbortSignal.abort() }), { code: 'ABORTED' });
});
