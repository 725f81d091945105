// exportRootfs: the merged filesystem of an image, as a directory and as a tar read by GNU tar.
// Whiteouts and opaque directories hide what they should, owners/modes/mtimes survive in the tar,
// and the merge plan handles the corner cases (hardlinks to replaced files, files over dirs).
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { GantryError } from '../../src/errors.js';
import { exportRootfs } from '../../src/layer/archive/index.js';
import { type HeaderInfo, planMerge } from '../../src/layer/archive/rootfs.js';
import type { Image } from '../../src/oci/image.js';
import { newImage } from '../../src/oci/mutate.js';
import { AMD64, abortingImage, dir, file, hardlink, listTree, run, sameBytes, Workspace } from './fixtures.js';

let ws: Workspace;
let image: Image;

before(async () => {
  ws = await Workspace.create();
  image = await ws.image();
});
after(async () => ws.dispose());

test('a directory export applies whiteouts and opaque directories', async () => {
  const dest = ws.path('rootfs-dir');
  await exportRootfs(image, dest, { format: 'dir' });
  assert.deepEqual(await listTree(dest), [
    'bin',
    'bin/link',
    'bin/tool',
    'bin/tool-again',
    'etc',
    'etc/keep.txt',
    'etc/new.txt',
    'opq',
    'opq/fresh.txt',
  ]);
  assert.equal(await readFile(join(dest, 'etc/new.txt'), 'utf8'), 'new on amd64\n');
  assert.equal(await readlink(join(dest, 'bin/link')), 'tool');
  assert.equal((await lstat(join(dest, 'bin/tool'))).mode & 0o777, 0o755);
});

test('a directory export fills an empty directory but never a non-empty one', async () => {
  const empty = ws.path('empty-dest');
  await mkdir(empty);
  await exportRootfs(image, empty, { format: 'dir' });
  assert.ok((await readdir(empty)).includes('etc'));

  const full = ws.path('full-dest');
  await mkdir(full);
  await writeFile(join(full, 'mine'), 'x');
  await assert.rejects(
    exportRootfs(image, full, { format: 'dir' }),
    (err: unknown) => GantryError.is(err) && err.code === 'OUTPUT_EXISTS',
  );
  assert.deepEqual(await readdir(full), ['mine']);
});

test('a tar export lists the merged entries with owners, modes and mtimes in GNU tar', async () => {
  const dest = ws.path('rootfs.tar');
  await exportRootfs(image, dest, { format: 'tar' });
  const lines = run('tar', ['--numeric-owner', '--full-time', '-tvf', dest]).trim().split('\n');
  const names = lines.map((l) => l.split(/\s+/).slice(5).join(' '));
  assert.deepEqual(names, [
    'bin/',
    'bin/tool',
    'bin/tool-again link to bin/tool',
    'bin/link -> tool',
    'etc/keep.txt',
    'etc/',
    'etc/new.txt',
    'opq/',
    'opq/fresh.txt',
  ]);
  const tool = lines.find((l) => l.endsWith(' bin/tool')) ?? assert.fail('no bin/tool');
  assert.match(tool, /^-rwxr-xr-x 1000\/1000 +20 2023-11-14 22:13:20 bin\/tool$/);
  // GNU tar extracts it to the same tree as the directory export.
  const out = ws.path('rootfs-from-tar');
  await mkdir(out);
  run('tar', ['-xf', dest, '-C', out]);
  const viaDir = ws.path('rootfs-dir-for-tar');
  await exportRootfs(image, viaDir, { format: 'dir' });
  assert.deepEqual(await listTree(out), await listTree(viaDir));
});

test('a tar export is byte-identical when repeated', async () => {
  const a = ws.path('same-a.rootfs.tar');
  const b = ws.path('same-b.rootfs.tar');
  await exportRootfs(image, a, { format: 'tar' });
  await exportRootfs(await ws.image(), b, { format: 'tar' });
  assert.ok(await sameBytes(a, b));
});

test('a hardlink whose target a later layer replaces keeps the old content', async () => {
  const lower = await ws.layer([dir('d'), file('d/a', 'old\n'), hardlink('d/b', 'd/a'), hardlink('d/c', 'd/a')]);
  const upper = await ws.layer([dir('d'), file('d/a', 'new!\n')]);
  const img = await newImage({ platform: AMD64, layers: [{ layer: lower }, { layer: upper }] });
  const dest = ws.path('hardlink.tar');
  await exportRootfs(img, dest, { format: 'tar' });
  const out = ws.path('hardlink-out');
  await mkdir(out);
  run('tar', ['-xf', dest, '-C', out]);
  assert.equal(await readFile(join(out, 'd/a'), 'utf8'), 'new!\n');
  assert.equal(await readFile(join(out, 'd/b'), 'utf8'), 'old\n');
  assert.equal(await readFile(join(out, 'd/c'), 'utf8'), 'old\n');
  assert.equal((await lstat(join(out, 'd/b'))).ino, (await lstat(join(out, 'd/c'))).ino);
});

test('an aborted tar export leaves nothing behind', async () => {
  const out = ws.path('abort-out');
  await mkdir(out);
  const controller = new AbortController();
  await assert.rejects(
    exportRootfs(abortingImage(image, controller), join(out, 'rootfs.tar'), {
      format: 'tar',
      signal: controller.signal,
    }),
    (err: unknown) => GantryError.is(err) && err.code === 'ABORTED',
  );
  const again = new AbortController();
  await assert.rejects(
    exportRootfs(abortingImage(image, again), join(out, 'rootfs'), { format: 'dir', signal: again.signal }),
    (err: unknown) => GantryError.is(err) && err.code === 'ABORTED',
  );
  assert.deepEqual(await readdir(out), []);
});

function h(path: string, type: HeaderInfo['type'] = 'file', linkname?: string): HeaderInfo {
  return linkname === undefined ? { path, type } : { path, type, linkname };
}

/** The visible paths of each layer after planning, for table checks. */
function visible(layers: HeaderInfo[][]): string[][] {
  return planMerge(layers).map((plan, i) =>
    [...plan.entries()]
      .sort(([a], [b]) => a - b)
      .map(([j, emit]) => {
        const original = layers[i]?.[j]?.path;
        const moved = emit.path === original ? '' : ` (from ${original})`;
        return `${emit.path}${emit.linkname === undefined ? '' : ` => ${emit.linkname}`}${moved}`;
      }),
  );
}

test('merge plan: the corner cases of overlay semantics', () => {
  const cases: { name: string; layers: HeaderInfo[][]; want: string[][] }[] = [
    {
      name: 'a file replacing a directory hides the whole lower subtree',
      layers: [[h('a', 'directory'), h('a/x'), h('a/y/z')], [h('a')]],
      want: [[], ['a']],
    },
    {
      name: 'a directory over a directory merges; the upper entry wins for the directory itself',
      layers: [
        [h('a', 'directory'), h('a/x')],
        [h('a', 'directory'), h('a/y')],
      ],
      want: [['a/x'], ['a', 'a/y']],
    },
    {
      name: 'a whiteout hides a lower subtree but not the same layer',
      layers: [
        [h('a', 'directory'), h('a/x'), h('b')],
        [h('.wh.a'), h('a', 'directory'), h('a/new')],
      ],
      want: [['b'], ['a', 'a/new']],
    },
    {
      name: 'an opaque directory hides lower children only',
      layers: [
        [h('d', 'directory'), h('d/old'), h('e')],
        [h('d', 'directory'), h('d/.wh..wh..opq'), h('d/new')],
      ],
      want: [['e'], ['d', 'd/new']],
    },
    {
      name: 'a later entry for the same path in one layer wins',
      layers: [[h('f'), h('f')]],
      want: [['f']],
    },
    {
      name: 'a hidden hardlink target is written under the first link, other links follow it',
      layers: [[h('t'), h('l1', 'hardlink', 't'), h('l2', 'hardlink', 't')], [h('t')]],
      want: [['l1 (from t)', 'l2 => l1'], ['t']],
    },
    {
      name: 'a whiteout three layers up still applies',
      layers: [[h('x')], [h('y')], [h('.wh.x')]],
      want: [[], ['y'], []],
    },
  ];
  for (const c of cases) assert.deepEqual(visible(c.layers), c.want, c.name);
});
