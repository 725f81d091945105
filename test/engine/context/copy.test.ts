// copyEntries: the layer entries of a COPY, in byte order, with the destination's parents created,
// owners root:root or --chown, modes kept or --chmod, later sources winning, hardlinks kept;
// and a round trip through writeLayer and GNU tar.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createWriteStream, linkSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  copyEntries,
  createMatcher,
  mergePlans,
  parseChmod,
  planCopy,
  type ResolveOptions,
  resolveSources,
} from '../../../src/engine/context/index.js';
import { GantryError } from '../../../src/errors.js';
import { writeLayer } from '../../../src/layer/index.js';
import { bodyText, collect, tempDir, writeTree } from './helpers.js';

async function entriesOf(
  root: string,
  sources: readonly string[],
  dest: string,
  options: Parameters<typeof copyEntries>[1] = { mtime: 0 },
  resolve: ResolveOptions = {},
) {
  return collect(copyEntries(planCopy(await resolveSources(root, sources, resolve), dest), options));
}

test('entries come in byte order of the image path, parents created 0755 root:root', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'src/a-b': null, 'src/a/x': null, 'src/a.c': null, 'src/B': null, 'src/é': null });
  const entries = await entriesOf(root, ['src'], '/usr/local/app');
  const paths = entries.map((e) => e.entry.path);
  assert.deepEqual(
    paths,
    [...paths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
  );
  assert.deepEqual(paths, [
    'usr',
    'usr/local',
    'usr/local/app',
    'usr/local/app/B',
    'usr/local/app/a',
    'usr/local/app/a-b',
    'usr/local/app/a.c',
    'usr/local/app/a/x',
    'usr/local/app/é',
  ]);
  for (const p of ['usr', 'usr/local', 'usr/local/app']) {
    assert.deepEqual(entries.find((e) => e.entry.path === p)?.entry, {
      path: p,
      type: 'directory',
      mode: 0o755,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: 0,
    });
  }
});

test('modes are kept, owners become root, mtimes the given epoch', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'd/tool': { mode: 0o4750 }, 'd/plain': { mode: 0o600 }, 'd/sub/': { mode: 0o711 } });
  const entries = await entriesOf(root, ['d'], '/x', { mtime: 1_700_000_000 });
  const byPath = new Map(entries.map((e) => [e.entry.path, e.entry]));
  assert.equal(byPath.get('x/tool')?.mode, 0o4750);
  assert.equal(byPath.get('x/plain')?.mode, 0o600);
  assert.equal(byPath.get('x/sub')?.mode, 0o711);
  for (const e of byPath.values()) {
    assert.equal(e.uid, 0);
    assert.equal(e.gid, 0);
    assert.equal(e.mtime, 1_700_000_000);
  }
  assert.equal(byPath.get('x/plain')?.size, 'd/plain'.length);
  assert.equal(await bodyText(entries.find((e) => e.entry.path === 'x/plain') ?? assert.fail()), 'd/plain');
  const kept = await entriesOf(root, ['d/plain'], '/y', { keepMtimes: true });
  assert.equal(kept.at(-1)?.entry.mtime, Math.floor(lstatSync(join(root, 'd/plain')).mtimeMs / 1000));
});

test('--chown sets every owner, including the directories the copy creates', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'f.txt': null });
  const entries = await entriesOf(root, ['f.txt'], '/home/app/f.txt', { mtime: 0, chown: { uid: 1000, gid: 1001 } });
  assert.deepEqual(
    entries.map((e) => [e.entry.path, e.entry.uid, e.entry.gid]),
    [
      ['home', 1000, 1001],
      ['home/app', 1000, 1001],
      ['home/app/f.txt', 1000, 1001],
    ],
  );
});

test('existing directories of the stage keep their metadata where the copy passes through', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'f.txt': null });
  const existing = (p: string) => (p === '/tmp' ? { mode: 0o1777, uid: 0, gid: 0, mtime: 42 } : undefined);
  const entries = await entriesOf(root, ['f.txt'], '/tmp/new/', { mtime: 7, existing, chown: { uid: 5, gid: 5 } });
  assert.deepEqual(entries[0]?.entry, {
    path: 'tmp',
    type: 'directory',
    mode: 0o1777,
    uid: 0,
    gid: 0,
    mtime: 42,
    size: 0,
  });
  assert.deepEqual(entries[1]?.entry, {
    path: 'tmp/new',
    type: 'directory',
    mode: 0o755,
    uid: 5,
    gid: 5,
    mtime: 7,
    size: 0,
  });
});

test('--chmod: octal replaces the bits of files and directories, symbolic edits them', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'd/run': { mode: 0o755 }, 'd/data': { mode: 0o600 }, 'd/sub/': { mode: 0o700 } });
  const octal = await entriesOf(root, ['d'], '/o', { mtime: 0, chmod: '640' });
  assert.deepEqual(
    octal.map((e) => [e.entry.path, e.entry.mode]),
    [
      ['o', 0o755],
      ['o/data', 0o640],
      ['o/run', 0o640],
      ['o/sub', 0o640],
    ],
  );
  const symbolic = await entriesOf(root, ['d'], '/s', { mtime: 0, chmod: 'u=rwX,go=rX' });
  assert.deepEqual(
    symbolic.map((e) => [e.entry.path, e.entry.mode]),
    [
      ['s', 0o755],
      ['s/data', 0o644],
      ['s/run', 0o755],
      ['s/sub', 0o755],
    ],
  );
  const table: readonly (readonly [string, number, boolean, number])[] = [
    ['+x', 0o644, false, 0o755],
    ['a-w', 0o664, false, 0o444],
    ['g=u', 0o740, false, 0o770],
    ['o=', 0o757, false, 0o750],
    ['u+s,g+s', 0o755, false, 0o6755],
    ['+t', 0o777, true, 0o1777],
    ['go-rwx', 0o777, false, 0o700],
    ['0755', 0o600, false, 0o755],
    ['+X', 0o600, true, 0o711],
    ['a+X', 0o600, false, 0o600],
    ['a+X', 0o610, false, 0o711],
  ];
  for (const [spec, from, isDir, expected] of table) {
    assert.equal(parseChmod(spec)(from, isDir), expected, `${spec} on ${from.toString(8)}`);
  }
  for (const bad of ['', '999', 'u+q', 'rwx', 'X', '0o755', 'u=rw;o=r']) {
    assert.throws(
      () => parseChmod(bad),
      (err: unknown) => GantryError.is(err) && err.code === 'INVALID_CHMOD',
      bad,
    );
  }
});

test('where two sources write one path the later wins; a directory and a file there is an error', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'one/same.txt': 'first', 'two/same.txt': 'second', 'clash/same.txt/': null });
  const entries = await entriesOf(root, ['one', 'two'], '/m/');
  assert.deepEqual(
    entries.map((e) => e.entry.path),
    ['m', 'm/same.txt'],
  );
  assert.equal(await bodyText(entries[1] ?? assert.fail()), 'second');
  await assert.rejects(
    entriesOf(root, ['one', 'clash'], '/m/'),
    (err: unknown) => GantryError.is(err) && err.code === 'COPY_CONFLICT' && err.message.includes('/m/same.txt'),
  );
});

test('hardlinked files stay hardlinks within a copy', async (t) => {
  const root = tempDir(t);
  writeTree(root, { 'h/a': 'shared' });
  linkSync(join(root, 'h/a'), join(root, 'h/b'));
  const entries = await entriesOf(root, ['h'], '/h');
  assert.deepEqual(
    entries.map((e) => [e.entry.path, e.entry.type, e.entry.linkname]),
    [
      ['h', 'directory', undefined],
      ['h/a', 'file', undefined],
      ['h/b', 'hardlink', 'h/a'],
    ],
  );
});

test('special files: fifos are copied, sockets skipped', async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'd'));
  const made = spawnSync('mkfifo', [join(root, 'd/pipe')]);
  if (made.status !== 0) t.skip('mkfifo unavailable');
  const entries = await entriesOf(root, ['d'], '/d');
  assert.deepEqual(
    entries.map((e) => [e.entry.path, e.entry.type]),
    [
      ['d', 'directory'],
      ['d/pipe', 'fifo'],
    ],
  );
});

test('round trip: the entries written with writeLayer and unpacked by GNU tar give the tree', async (t) => {
  const root = tempDir(t);
  writeTree(root, {
    'app/main.js': 'console.log(1)',
    'app/lib/util.js': 'export {}',
    'app/run.sh': { mode: 0o755 },
    'app/link': '-> main.js',
    'ignored.txt': null,
  });
  const out = tempDir(t);
  const layer = join(out, 'layer.tar');
  const entries = copyEntries(planCopy(await resolveSources(root, ['app', 'ignored.txt']), '/srv/'), { mtime: 0 });
  const info = await writeLayer(entries, createWriteStream(layer), { compression: 'none' });
  assert.match(info.diffID, /^sha256:/);
  const dest = join(out, 'rootfs');
  mkdirSync(dest);
  const tar = spawnSync('tar', ['-xf', layer, '-C', dest]);
  assert.equal(tar.status, 0, tar.stderr?.toString());
  assert.equal(readFileSync(join(dest, 'srv/main.js'), 'utf8'), 'console.log(1)');
  assert.equal(readFileSync(join(dest, 'srv/lib/util.js'), 'utf8'), 'export {}');
  assert.equal(readFileSync(join(dest, 'srv/ignored.txt'), 'utf8'), 'ignored.txt');
  assert.equal(lstatSync(join(dest, 'srv/run.sh')).mode & 0o7777, 0o755);
  assert.ok(lstatSync(join(dest, 'srv/link')).isSymbolicLink());
  const listing = spawnSync('tar', ['-tf', layer]).stdout.toString().trim().split('\n');
  assert.deepEqual(listing, [
    'srv/',
    'srv/ignored.txt',
    'srv/lib/',
    'srv/lib/util.js',
    'srv/link',
    'srv/main.js',
    'srv/run.sh',
  ]);
});

test('mergePlans: plans from several roots become one sorted stream, each keeping its own ignore rules', async (t) => {
  const context = tempDir(t);
  const heredocs = tempDir(t);
  writeTree(context, { 'b.txt': 'context b', 'z.log': null, 'a.txt': 'context a' });
  writeTree(heredocs, { 'a.txt': 'heredoc a', 'c.log': 'kept' });
  const ignore = createMatcher(['*.log']);
  const fromContext = planCopy(await resolveSources(context, ['*'], { ignore }), '/app/');
  const fromHeredocs = planCopy(await resolveSources(heredocs, ['a.txt', 'c.log']), '/app/');
  const entries = await collect(copyEntries(mergePlans([fromContext, fromHeredocs]), { mtime: 0 }));
  assert.deepEqual(
    entries.map((e) => e.entry.path),
    ['app', 'app/a.txt', 'app/b.txt', 'app/c.log'],
  );
  assert.equal(await bodyText(entries[1] ?? assert.fail()), 'heredoc a');
});
